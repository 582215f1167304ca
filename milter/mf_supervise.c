/*
 * mf_supervise.c - the daemon's side of the outbox worker.
 *
 * Before the privilege drop it prepares what the worker needs (the token
 * key; mf_daemon.c hands it and the store files to UserID) and checks
 * that the plugins load as UserID. Afterwards a supervisor thread starts the worker program
 * (dvmilter-worker, worker/wk_main.c), waits for it, restarts it with
 * backoff when it dies, wakes it with SIGUSR2 when a message is indexed,
 * and stops it with SIGTERM when the daemon stops. The supervisor's state
 * is part of the daemon's top-level state, dvd.sup.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mf_int.h"
#include "plugin.h"
#include "retry.h"
#include "safepath.h"
#include "status.h"

/* The daemon's log destination, for the worker: see worker/wk_main.c. */
#define WORKER_LOG_ENV	"DVMILTER_WORKER_LOG"
#define WORKER_NAME	"dvmilter-worker"

/* --- before the privilege drop --------------------------------------------- */

int
mf_worker_prepare(const struct conf *c, struct token_key *key,
    const char **error_r)
{
	char keypath[1100];

	conf_token_key_path(c, keypath, sizeof(keypath));
	return token_key_load(keypath, c->token_key_file == NULL, key,
	    error_r) != 0 ? -1 : 0;
}

int
mf_worker_check_plugins(const struct conf *c, const char **error_r)
{
	char msg[600];
	int fd[2], status = 0;
	ssize_t n, got = 0;
	pid_t pid;

	if (c->userid == NULL || getuid() != 0 || c->plugins == NULL ||
	    c->plugins[0] == NULL)
		return 0;
	if (pipe(fd) != 0) {
		*error_r = dv_error_set("pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		*error_r = dv_error_set("fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		struct plugin_set *ps;
		const char *err;

		close(fd[0]);
		if (mf_drop_privileges(c, &err) != 0 ||
		    plugin_set_load(c, NULL, &ps, &err) != 0) {
			(void)!write(fd[1], err, strlen(err));
			_exit(1);
		}
		plugin_set_free(ps);
		_exit(0);
	}
	close(fd[1]);
	while (got < (ssize_t)sizeof(msg) - 1 &&
	    ((n = read(fd[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0 ||
	    (n < 0 && errno == EINTR)))
		if (n > 0)
			got += n;
	msg[got] = '\0';
	close(fd[0]);
	while ((n = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		*error_r = dv_error_set("waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got == 0 && WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "the check was killed by signal %d",
		    WTERMSIG(status));
	*error_r = dv_error_set("as UserID %s, which the outbox worker runs "
	    "as: %s", c->userid, got > 0 || WIFSIGNALED(status) ? msg :
	    "the plugins could not be loaded");
	return -1;
}
/* --- the supervisor --------------------------------------------------------- */

extern char **environ;

/*
 * The worker's pid, for mf_worker_kick() and mf_worker_stop(), under the
 * lock that mf_worker_stop() sets `stopping` under: either the stop sees
 * the new worker and ends it, or we see the stop and end it here.
 */
static void
publish(pid_t pid)
{
	bool stopping;

	pthread_mutex_lock(&dvd.sup.lock);
	atomic_store(&dvd.sup.pid, pid);
	stopping = atomic_load(&dvd.sup.stopping);
	pthread_mutex_unlock(&dvd.sup.lock);
	if (stopping && pid > 0)
		kill(pid, SIGTERM);
}

static pid_t
spawn(void)
{
	char *argv[] = { dvd.sup.exe, (char *)"-c",
	    (char *)dvd.conf_path, NULL };
	char logvar[64], **envp;
	struct conf *c = mf_conf_acquire();
	size_t n = 0, k = 0;
	pid_t pid, parent;

	/* Built before fork(): the child of a threaded process must not
	 * allocate. */
	if (c->syslog)
		snprintf(logvar, sizeof(logvar), WORKER_LOG_ENV "=syslog:%d",
		    c->syslog_facility);
	else
		snprintf(logvar, sizeof(logvar), WORKER_LOG_ENV "=stderr");
	conf_unref(c);
	while (environ[n] != NULL)
		n++;
	if ((envp = calloc(n + 2, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], WORKER_LOG_ENV "=",
		    sizeof(WORKER_LOG_ENV)) != 0)
			envp[k++] = environ[i];
	envp[k] = logvar;
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/*
		 * If the daemon dies, so does its worker: never two. A daemon
		 * that died before the prctl() is no longer our parent (a
		 * daemon that is PID 1, in a container, still is).
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		execve(dvd.sup.exe, argv, envp);
		_exit(127);
	}
	free(envp);
	if (pid > 0)
		publish(pid);
	return pid;
}

/* Wait for the worker @pid to end; false if the daemon is stopping. */
static bool
reap(pid_t pid)
{
	siginfo_t si;
	int status = 0;

	/* Waited for without reaping, and forgotten before it is reaped:
	 * its pid is never signalled after another process may have it. */
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 &&
	    errno == EINTR)
		;
	publish(0);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (atomic_load(&dvd.sup.stopping))
		return false;
	if (WIFSIGNALED(status))
		log_error("outbox worker %d killed by signal %d", (int)pid,
		    WTERMSIG(status));
	else
		log_error("outbox worker %d exited with status %d", (int)pid,
		    WEXITSTATUS(status));
	return true;
}

/* Sleep @secs, or until mf_worker_stop() says to stop. */
static void
restart_wait(unsigned secs)
{
	pthread_mutex_lock(&dvd.sup.lock);
	if (!atomic_load(&dvd.sup.stopping)) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += secs;
		pthread_cond_timedwait(&dvd.sup.cond, &dvd.sup.lock, &until);
	}
	pthread_mutex_unlock(&dvd.sup.lock);
}

static void *
supervise(void *arg)
{
	/* A worker that ran a while restarts at once; a crash loop backs
	 * off (retry.h). */
	const struct retry_policy restart = RETRY_RESTART_POLICY;
	struct retry_breaker b = { 0 };

	(void)arg;
	while (!atomic_load(&dvd.sup.stopping)) {
		time_t started = time(NULL);
		pid_t pid = spawn();
		unsigned delay;

		if (pid < 0)
			log_error("cannot start the outbox worker: %s",
			    strerror(errno));
		else if (!reap(pid))
			break;
		if (time(NULL) - started > RETRY_RESTART_HEALTHY)
			retry_breaker_close(&b);
		delay = retry_breaker_trip(&b, &restart, (int64_t)time(NULL));
		log_notice("restarting the outbox worker in %u s", delay);
		restart_wait(delay);
	}
	return NULL;
}

/*
 * The worker program: beside our own executable (a build tree), else in
 * DV_LIBEXECDIR (an installed daemon: $sbindir/dvmilter and
 * $libexecdir/dvmilter-worker). Root starts it, so it must be a file
 * nobody else can change (core/safepath.h); one that is not is an error,
 * not a reason to try the other place. @out gets the resolved path.
 */
static int
worker_path(char out[PATH_MAX], const char **error_r)
{
	char self[PATH_MAX], cand[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *why;
	int len = -1;

	if (n <= 0) {
		*error_r = dv_error_set("cannot find my own executable: %s",
		    strerror(errno));
		return -1;
	}
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		len = snprintf(cand, sizeof(cand), "%.*s/" WORKER_NAME,
		    (int)(slash - self), self);
	if (len <= 0 || (size_t)len >= sizeof(cand) || access(cand, X_OK) != 0)
		len = snprintf(cand, sizeof(cand), "%s/" WORKER_NAME,
		    DV_LIBEXECDIR);
	if (len <= 0 || (size_t)len >= sizeof(cand) || access(cand, X_OK) != 0) {
		*error_r = dv_error_set("cannot run the outbox worker %s/"
		    WORKER_NAME ": %s", DV_LIBEXECDIR, strerror(errno));
		return -1;
	}
	if (safepath_check(cand, out, &why) != 0) {
		*error_r = dv_error_set("will not run the outbox worker %s: %s",
		    cand, why);
		return -1;
	}
	return 0;
}

int
mf_worker_start(const char **error_r)
{
	int rc;

	if (worker_path(dvd.sup.exe, error_r) != 0)
		return -1;
	if ((rc = pthread_create(&dvd.sup.thread, NULL, supervise, NULL)) != 0) {
		*error_r = dv_error_set("cannot start the worker supervisor: "
		    "%s", strerror(rc));
		dvd.sup.exe[0] = '\0';
		return -1;
	}
	return 0;
}

void
mf_worker_kick(void)
{
	pid_t pid = atomic_load(&dvd.sup.pid);

	if (pid > 0)
		kill(pid, SIGUSR2);
}

void
mf_worker_stop(void)
{
	pid_t pid;

	if (dvd.sup.exe[0] == '\0')
		return;
	pthread_mutex_lock(&dvd.sup.lock);
	atomic_store(&dvd.sup.stopping, true);
	pthread_cond_signal(&dvd.sup.cond);
	pid = atomic_load(&dvd.sup.pid);
	pthread_mutex_unlock(&dvd.sup.lock);
	if (pid > 0)
		kill(pid, SIGTERM);
	pthread_join(dvd.sup.thread, NULL);
}

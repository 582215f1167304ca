/*
 * mf_worker.c - the outbox worker process and its supervisor.
 *
 * The worker ("dvmilter -W") is a separate process so that a plugin that
 * crashes or hangs never takes the milter down: it loads the plugins,
 * makes due deliveries one at a time (core/deliver.c) and sleeps until
 * the next is due, a second at most, or until the daemon's SIGUSR2 says
 * that a new message was committed. The supervisor, a thread of the
 * daemon, starts it, restarts it with backoff when it dies, and stops it
 * with SIGTERM when the daemon stops. Outbox state is all in LMDB, so a
 * restarted worker resumes where the last one stopped.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "mf_int.h"
#include "msg.h"
#include "plugin.h"
#include "queue.h"
#include "status.h"
#include "token.h"

#define WORKER_NICE	10	/* the worker's nice value */
/* After a batch that was not full, the worker waits this long for more. */
#define WORKER_PAUSE_MS	20

/* --- the worker process ----------------------------------------------------- */

/* The daemon's log destination: "syslog:FACILITY" or "stderr". */
#define WORKER_LOG_ENV	"DVMILTER_WORKER_LOG"

static void
early_log(void)
{
	const char *v = getenv(WORKER_LOG_ENV);
	char *end;
	long fac;

	if (v != NULL && strncmp(v, "syslog:", 7) == 0 &&
	    (fac = strtol(v + 7, &end, 10)) >= 0 && *end == '\0')
		log_open("dvmilter-worker", true, (int)fac);
	else
		log_open("dvmilter-worker", false, 0);
	unsetenv(WORKER_LOG_ENV);
}

/*
 * Retention: one pass over the outbox. The scan runs in a read
 * transaction, so the milter's commits never wait for it; only the
 * entries found are rewritten, in a write transaction, and @pos moves
 * on only once that has committed. Returns the time of the next pass:
 * at once while the round has more to look at, else in a minute (or
 * half the retention, if shorter). Once an hour a round starts from the
 * first entry, for dead entries retried and done since.
 */
#define PRUNE_BATCH	256

static int64_t
prune_pass(struct store *st, int64_t retention, int64_t now,
    struct queue_prune_pos *pos, int64_t *full_round_at)
{
	struct queue_prune_pos np = *pos;
	uint64_t ids[PRUNE_BATCH];
	struct store_txn *t;
	const char *err = "";
	size_t n = 0, pruned = 0;
	bool more = false;
	int64_t pause = retention / 2 < 60 ? retention / 2 : 60;
	int rc;

	if ((rc = store_txn_begin(st, false, &t, &err)) == 0) {
		rc = queue_prune_scan(t, now - retention, PRUNE_BATCH, &np, ids,
		    &n, &more, &err);
		store_txn_abort(t);
	}
	if (rc == 0 && n > 0 &&
	    (rc = store_txn_begin(st, true, &t, &err)) == 0) {
		if ((rc = queue_prune_ids(t, ids, n, now - retention, now,
		    &pruned, &err)) == 0)
			rc = store_txn_commit(t, &err);
		else
			store_txn_abort(t);
	}
	if (rc != 0) {
		log_error("outbox: retention: %s", err);
		return now + 60;
	}
	*pos = np;
	if (pruned > 0)
		log_info("outbox: removed the text of %zu message%s done and "
		    "received more than %lld s ago (OutboxRetention)", pruned,
		    pruned == 1 ? "" : "s", (long long)retention);
	if (more)
		return now;
	if (now >= *full_round_at) {
		*pos = (struct queue_prune_pos){ 0 };
		*full_round_at = now + 3600;
	}
	return now + (pause > 0 ? pause : 1);
}

int
mf_worker_main(const char *conf_path)
{
	struct deliver_opts opts = { .policy = QUEUE_POLICY_DEFAULT };
	struct token_key key;
	char keypath[1100];
	struct store_opts so = { 0 };
	struct queue_prune_pos prune_pos = { 0 };
	int64_t next_prune = 0, full_round_at = 0;
	struct plugin_set *ps;
	struct conf *c;
	struct store *st;
	const char *err;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The SMTP path comes first: when the CPU is short the worker
	 * yields to the MTA and the milter, and catches up when it is not.
	 */
	/*
	 * Until it has read the configuration, the worker logs where the
	 * daemon logs (WORKER_LOG_ENV): a detached daemon's stderr is
	 * /dev/null, and a configuration edited since the daemon read it
	 * must still be reported.
	 */
	early_log();
	if (setpriority(PRIO_PROCESS, 0, WORKER_NICE) != 0)
		log_warn("setpriority: %s", strerror(errno));

	if (conf_load(conf_path, &c, &err) != 0) {
		log_error("cannot start: %s", err);
		return 1;
	}
	log_open("dvmilter-worker", c->syslog, c->syslog_facility);
	log_set_level(c->log_level);
	msg_init();
	so.mapsize = c->database_mapsize;
	so.nometasync = true;
	if (store_open(c->database, &so, &st, &err) != 0)
		fatal("%s", err);
	if ((opts.kv = pluginkv_new(st)) == NULL)
		fatal("out of memory");
	if (store_reader_open(st, &opts.reader, &err) != 0)
		fatal("%s", err);
	if (plugin_set_load(c, pluginkv_ops(), opts.kv, &ps, &err) != 0)
		fatal("%s", err);
	conf_token_key_path(c, keypath, sizeof(keypath));
	if (token_key_load(keypath, false, &key, &err) != 0)
		fatal("%s", err);
	opts.key = &key;
	opts.token_prefix = c->token_prefix;
	opts.smart_matching = c->smart_matching;
	log_notice("worker started: %zu plugin%s", plugin_set_count(ps),
	    plugin_set_count(ps) == 1 ? "" : "s");

	for (;;) {
		int64_t now = (int64_t)time(NULL), next = 0;
		struct timespec ts = { 1, 0 };
		siginfo_t si;
		int did = 0, sig;

		if (deliver_next(st, ps, &opts, now, &did, &next, &err) != 0) {
			log_error("outbox: %s", err);
			did = 0;
		}
		if (did == 0 && c->outbox_retention > 0 && now >= next_prune) {
			next_prune = prune_pass(st, c->outbox_retention, now,
			    &prune_pos, &full_round_at);
			if (next_prune == now)
				ts.tv_sec = 0;	/* more to look at */
		}
		if (did == DELIVER_BATCH)
			ts.tv_sec = 0;		/* more are due: look now */
		else if (did > 0) {
			/*
			 * Let more messages arrive, so that the next batch
			 * shares one commit: fewer syncs competing with the
			 * milter's, for WORKER_PAUSE_MS more latency at most.
			 */
			struct timespec pause = { 0, WORKER_PAUSE_MS * 1000000L };

			nanosleep(&pause, NULL);
			ts.tv_sec = 0;
		}
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			break;
		/* SIGUSR2: a new message; SIGUSR1: ignored here. */
	}
	log_notice("worker stopping");
	plugin_set_free(ps);
	pluginkv_free(opts.kv);
	store_reader_close(opts.reader);
	store_close(st);
	conf_unref(c);
	return 0;
}

/* --- before the privilege drop --------------------------------------------- */

int
mf_worker_prepare(const struct conf *c, struct token_key *key,
    const char **error_r)
{
	static const char *const files[] = { "", "/data.mdb", "/lock.mdb",
	    "/outbox.log" };
	char keypath[1100], path[1100];
	struct passwd *pw;
	char user[80];
	const char *colon;

	conf_token_key_path(c, keypath, sizeof(keypath));
	if (token_key_load(keypath, c->token_key_file == NULL, key,
	    error_r) != 0)
		return -1;
	if (c->userid == NULL || getuid() != 0)
		return 0;
	colon = strchr(c->userid, ':');
	snprintf(user, sizeof(user), "%.*s", colon ? (int)(colon - c->userid) :
	    (int)strlen(c->userid), c->userid);
	if ((pw = getpwnam(user)) == NULL) {
		*error_r = dv_error_set("UserID: no such user \"%s\"", user);
		return -1;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", c->database, files[i]);
		/* The outbox log is made at the first start. */
		if (chown(path, pw->pw_uid, (gid_t)-1) != 0 &&
		    !(errno == ENOENT && i == 3)) {
			*error_r = dv_error_set("chown %s to %s: %s", path, user,
			    strerror(errno));
			return -1;
		}
	}
	if (c->token_key_file == NULL &&
	    chown(keypath, pw->pw_uid, (gid_t)-1) != 0) {
		*error_r = dv_error_set("chown %s to %s: %s", keypath, user,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
mf_worker_check_plugins(const struct conf *c, const char **error_r)
{
	static char msg[600];
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
		    plugin_set_load(c, NULL, NULL, &ps, &err) != 0) {
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

static struct {
	pthread_t thread;
	atomic_int pid;
	atomic_bool stopping;
	char exe[1024];
	pthread_mutex_t lock;
	pthread_cond_t cond;
} sup = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

extern char **environ;

static pid_t
spawn(void)
{
	char *argv[] = { sup.exe, (char *)"-W", (char *)"-c",
	    (char *)dvd.conf_path, NULL };
	char logvar[64], **envp;
	struct conf *c = mf_conf_acquire();
	size_t n = 0, k = 0;
	pid_t pid;

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
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* If the daemon dies, so does its worker: never two. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(0);
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		execve(sup.exe, argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

static void *
supervise(void *arg)
{
	unsigned delay = 0;

	while (!atomic_load(&sup.stopping)) {
		time_t started = time(NULL);
		pid_t pid = spawn();
		int status;

		if (pid < 0) {
			log_error("cannot start the outbox worker: %s",
			    strerror(errno));
		} else {
			atomic_store(&sup.pid, pid);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			atomic_store(&sup.pid, 0);
			if (atomic_load(&sup.stopping))
				break;
			if (WIFSIGNALED(status))
				log_error("outbox worker %d killed by signal %d",
				    (int)pid, WTERMSIG(status));
			else
				log_error("outbox worker %d exited with status %d",
				    (int)pid, WEXITSTATUS(status));
		}
		/* A worker that ran a while restarts at once; a crash loop
		 * backs off up to a minute. */
		delay = time(NULL) - started > 60 || delay == 0 ? 1 :
		    (delay * 2 > 60 ? 60 : delay * 2);
		log_notice("restarting the outbox worker in %u s", delay);
		pthread_mutex_lock(&sup.lock);
		if (!atomic_load(&sup.stopping)) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += delay;
			pthread_cond_timedwait(&sup.cond, &sup.lock, &until);
		}
		pthread_mutex_unlock(&sup.lock);
	}
	return NULL;
}

int
mf_worker_start(const char **error_r)
{
	ssize_t n = readlink("/proc/self/exe", sup.exe, sizeof(sup.exe) - 1);
	int rc;

	if (n <= 0) {
		*error_r = dv_error_set("cannot find my own executable: %s",
		    strerror(errno));
		return -1;
	}
	sup.exe[n] = '\0';
	if ((rc = pthread_create(&sup.thread, NULL, supervise, NULL)) != 0) {
		*error_r = dv_error_set("cannot start the worker supervisor: "
		    "%s", strerror(rc));
		return -1;
	}
	return 0;
}

void
mf_worker_kick(void)
{
	pid_t pid = atomic_load(&sup.pid);

	if (pid > 0)
		kill(pid, SIGUSR2);
}

void
mf_worker_stop(void)
{
	pid_t pid;

	if (sup.exe[0] == '\0')
		return;
	atomic_store(&sup.stopping, true);
	pthread_mutex_lock(&sup.lock);
	pthread_cond_signal(&sup.cond);
	pthread_mutex_unlock(&sup.lock);
	if ((pid = atomic_load(&sup.pid)) > 0)
		kill(pid, SIGTERM);
	pthread_join(sup.thread, NULL);
}

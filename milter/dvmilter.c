/*
 * dvmilter.c - the daemon's entry point: options, start-up order, and
 * shutdown.
 *
 * Start-up order matters and is fixed here: read the config, detach,
 * close the store directory to UserID and open the store (LMDB must not
 * cross a fork), prepare and open the socket, write the PID file, load
 * the key, block SIGUSR1 for every thread, open the outbox (its log made
 * by root), hand the store files to UserID, drop privileges, start the
 * worker, and only then hand control to libmilter. The parent of a detaching daemon waits until
 * the child is listening, so a failed start is a non-zero exit status.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "mf_int.h"
#include "plugin.h"
#include "status.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: dvmilter [-f] [-c FILE]    run the filter\n"
	    "       dvmilter -n [-c FILE]      check the configuration\n"
	    "       dvmilter -V                print the version\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground\n", CONF_DEFAULT_PATH);
}

static void
print_version(void)
{
	unsigned ma = 0, mi = 0, pl = 0;

	smfi_version(&ma, &mi, &pl);
	printf("dvmilter %s\n", PACKAGE_VERSION);
	printf("  libmilter %u.%u.%u, %s\n", ma, mi, pl,
	    mdb_version(NULL, NULL, NULL));
	printf("  store schema %d, plugins in %s\n", STORE_SCHEMA_VERSION,
	    DV_PLUGINDIR);
}

/*
 * Fork; the parent waits for one byte on a pipe (the child is ready) or
 * for EOF (it failed and has logged why) and exits accordingly.
 */
static int
daemonize(void)
{
	int pfd[2], fd;
	pid_t pid;
	char c;

	if (pipe(pfd) != 0)
		fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		ssize_t n;

		close(pfd[1]);
		do
			n = read(pfd[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		fprintf(stderr, "dvmilter: start-up failed; see the log\n");
		_exit(1);
	}
	close(pfd[0]);
	if (setsid() < 0)
		fatal("setsid: %s", strerror(errno));
	if (chdir("/") != 0)
		fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (dvd.conf->syslog)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return pfd[1];
}

/*
 * Root writes the PID file, maybe in a directory others can write: never
 * through a symbolic link, and never into a file with another name too
 * (a hard link), which truncating would clobber.
 */
static void
write_pidfile(const char *path)
{
	struct stat sb;
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0644);
	if (fd < 0 && errno == ELOOP)
		fatal("PidFile %s is a symbolic link; dvmilter never follows "
		    "one there: remove it (and see who made it)", path);
	if (fd < 0 || fstat(fd, &sb) != 0)
		fatal("PidFile %s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1)
		fatal("PidFile %s is not a regular file with one link; "
		    "remove it (and see who made it)", path);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n ||
	    close(fd) != 0)
		fatal("PidFile %s: %s", path, strerror(errno));
}

/*
 * Options; returns -1 to go on, else the exit status. SIGUSR1 is blocked
 * first: a reload signal during a slow start-up must not kill us by its
 * default action; the reload thread takes it once we run.
 */
static int
parse_options(int argc, char **argv, const char **path_r, bool *check_r)
{
	sigset_t set;
	int ch;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);	/* the worker's; never ours */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while ((ch = getopt(argc, argv, "c:fnVh")) != -1) {
		switch (ch) {
		case 'c': *path_r = optarg; break;
		case 'f': dvd.foreground = true; break;
		case 'n': *check_r = true; break;
		case 'V': print_version(); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/*
 * Every plugin must load and accept its keys, here and as UserID, or the
 * configuration is bad. With @list, say what was loaded.
 */
static int
check_plugins(bool list, const char **error_r)
{
	struct plugin_set *ps;
	char listing[2048] = "";
	size_t used = 0;

	if (plugin_set_load(dvd.conf, NULL, &ps, error_r) != 0)
		return -1;
	for (size_t i = 0; i < plugin_set_count(ps); i++) {
		int n = snprintf(listing + used, sizeof(listing) - used,
		    "plugin %s %s loaded from %s\n",
		    plugin_name(plugin_set_get(ps, i)),
		    plugin_desc(plugin_set_get(ps, i))->version,
		    dvd.conf->plugin_dir);

		if (n > 0 && (size_t)n < sizeof(listing) - used)
			used += (size_t)n;
	}
	/* Unloaded first: a child that inherits a loaded plugin would not
	 * have to open its file as UserID. */
	plugin_set_free(ps);
	if (mf_worker_check_plugins(dvd.conf, error_r) != 0)
		return -1;
	if (list)
		fputs(listing, stdout);
	return 0;
}

/*
 * Open the store: after the fork, since LMDB must not cross one, and
 * after its directory is closed to UserID and checked (mf_daemon.c).
 */
static void
open_store(void)
{
	struct store_opts sopts = { 0 };
	const char *err;

	if (mf_store_secure(dvd.conf, &err) != 0)
		fatal("%s", err);

	sopts.mapsize = dvd.conf->database_mapsize;
	sopts.create = true;
	/*
	 * The outbox writer, the daemon's only writer, syncs the meta page
	 * itself before the MTA may answer, outside the write lock; its
	 * index commits need no sync of their own (core/outbox/ob_int.h).
	 */
	sopts.nometasync = true;
	if (store_open(dvd.conf->database, &sopts, &dvd.store, &err) != 0)
		fatal("%s", err);
}

/* Prepare and open the socket, with no more than SocketMode allows. */
static void
open_socket(void)
{
	const char *err;

	if (mf_socket_prepare(dvd.conf, &err) != 0)
		fatal("%s", err);
	if (smfi_setconn(dvd.conf->socket_milter) != MI_SUCCESS)
		fatal("Socket %s: rejected by libmilter", dvd.conf->socket);
	if (smfi_register(mf_description) != MI_SUCCESS)
		fatal("smfi_register failed");
	umask(0777 & ~dvd.conf->socket_mode);
	if (smfi_opensocket(false) != MI_SUCCESS)
		fatal("cannot listen on %s (in use, or a bad address?)",
		    dvd.conf->socket);
	umask(022);
	if (mf_socket_finish(dvd.conf, &err) != 0)
		fatal("%s", err);
}

/*
 * Threads: a small stack for each, SIGUSR1 for the reload thread only,
 * HUP/TERM/INT for libmilter's signal thread only.
 */
static void
start_threads(void)
{
	pthread_attr_t ta;
	sigset_t set;

	/*
	 * libmilter starts a thread per connection with default attributes,
	 * and glibc's default stack is RLIMIT_STACK, usually 8 MB. Its cache
	 * of freed stacks (40 MB) then holds five, so with more connections
	 * than that open, each thread's end unmaps its stack and each new
	 * one maps another, every unmap a TLB shootdown on every CPU. The
	 * callbacks need a small fraction of MF_THREAD_STACK.
	 */
	if (pthread_attr_init(&ta) != 0 ||
	    pthread_attr_setstacksize(&ta, MF_THREAD_STACK) != 0 ||
	    pthread_setattr_default_np(&ta) != 0)
		log_warn("cannot set the threads' stack size; using the default");
	pthread_attr_destroy(&ta);
	/* Every other thread must block all four, or the kernel may deliver
	 * SIGTERM to a thread that would die of it. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    mf_reload_thread_start() != 0)
		fatal("cannot start the reload thread");
}

/*
 * With plugins configured, tracked mail goes to the outbox. It is opened
 * before the privilege drop, so that root makes its log in the store
 * directory, which UserID cannot write; the worker starts after it.
 */
static void
open_outbox(void)
{
	const struct outbox_opts o = { .plugins = dvd.conf->plugins,
	    .flags = OUTBOX_WRITER, .indexed = mf_worker_kick };
	const char *err;

	if (dvd.conf->plugins == NULL || dvd.conf->plugins[0] == NULL)
		return;
	if (outbox_open(dvd.store, &o, &dvd.ob, &err) != 0 ||
	    mf_caserate_start(&err) != 0)
		fatal("%s", err);
}

/* Become UserID, with a word when that is root. */
static void
drop_privileges(void)
{
	struct mf_ids ids;
	const char *err;

	if (mf_store_hand_over(dvd.conf, &err) != 0 ||
	    mf_drop_privileges(dvd.conf, &err) != 0)
		fatal("%s", err);
	if (geteuid() == 0 && mf_userid(dvd.conf, &ids, &err) == 0 &&
	    ids.uid == 0)
		log_warn("running as root (UserID %s): the processes that "
		    "parse mail from the Internet have every privilege; set "
		    "UserID to an unprivileged account such as \"%s\"",
		    dvd.conf->userid, CONF_DEFAULT_USER);
}

/*
 * After smfi_main(): the outbox's last messages, the worker, the socket
 * and the PID file. smfi_stop() does not wait for connection threads, so
 * the store and the config stay open: a thread may still be finishing a
 * callback. Every message the MTA was told is stored is durable; an
 * index commit that was not is redone at the next start.
 */
static void
shut_down(void)
{
	log_notice("dvmilter stopping");
	if (dvd.ob != NULL) {
		struct outbox_stats s;

		/* The worker's last round is to see every message. */
		outbox_flush(dvd.ob);
		outbox_stats(dvd.ob, &s);
		log_notice("outbox: %llu messages stored in %llu commits, "
		    "indexed in %llu; storing took %.2f ms per message",
		    (unsigned long long)s.messages,
		    (unsigned long long)s.commits,
		    (unsigned long long)s.index_commits, s.messages > 0 ?
		    (double)s.store_us / (double)s.messages / 1000.0 : 0.0);
	}
	mf_worker_stop();
	if (dvd.boot->socket_path != NULL)
		unlink(dvd.boot->socket_path);
	if (dvd.boot->pidfile != NULL)
		unlink(dvd.boot->pidfile);
}

int
main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH, *err;
	char *abs_path;
	bool check = false;
	int ready = -1, rc;

	if ((rc = parse_options(argc, argv, &path, &check)) >= 0)
		return rc;
	/* The worker is started later, after a chdir("/"). */
	if (path[0] != '/' && (abs_path = realpath(path, NULL)) != NULL)
		path = abs_path;
	dvd.conf_path = path;
	if (conf_load(path, &dvd.conf, &err) != 0 ||
	    mf_check_names(dvd.conf, &err) != 0 ||
	    check_plugins(check, &err) != 0) {
		fprintf(stderr, "dvmilter: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n", path);
		return 0;
	}
	dvd.boot = conf_ref(dvd.conf);
	log_open("dvmilter", dvd.conf->syslog, dvd.conf->syslog_facility);
	log_set_level(dvd.conf->log_level);
	signal(SIGPIPE, SIG_IGN);
	if (!dvd.foreground)
		ready = daemonize();
	open_store();
	open_socket();
	if (dvd.conf->pidfile != NULL)
		write_pidfile(dvd.conf->pidfile);
	if (dvd.conf->plugins != NULL && dvd.conf->plugins[0] != NULL &&
	    mf_worker_prepare(dvd.conf, &dvd.token_key, &err) != 0)
		fatal("%s", err);
	start_threads();
	open_outbox();
	drop_privileges();
	if (dvd.ob != NULL && mf_worker_start(&err) != 0)
		fatal("%s", err);
	log_notice("dvmilter %s listening on %s, store %s", PACKAGE_VERSION,
	    dvd.conf->socket, dvd.conf->database);
	if (ready >= 0) {
		if (write(ready, "R", 1) != 1)
			log_warn("could not tell the parent we are ready");
		close(ready);
	}
	rc = smfi_main();
	shut_down();
	return rc == MI_SUCCESS ? 0 : 1;
}

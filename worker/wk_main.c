/*
 * wk_main.c - dvmilter-worker, the outbox worker process.
 *
 * A separate program, so that a plugin that crashes or hangs never takes
 * the milter down: it loads the plugins, makes due deliveries a batch at
 * a time (core/deliver.c) and sleeps until the next is due, a second at
 * most, or until the daemon's SIGUSR2 says that a new message was
 * committed. The daemon's supervisor (milter/mf_supervise.c) starts it,
 * restarts it with backoff when it dies, and stops it with SIGTERM.
 * Outbox state is all in LMDB, so a restarted worker resumes where the
 * last one stopped. Nothing here knows libmilter.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "msg.h"
#include "plugin.h"
#include "status.h"
#include "token.h"
#include "wk_int.h"

#define WORKER_NICE	10	/* the worker's nice value */
/* After a batch that was not full, the worker waits this long for more. */
#define WORKER_PAUSE_MS	20

/* The daemon's log destination: "syslog:FACILITY" or "stderr". */
#define WORKER_LOG_ENV	"DVMILTER_WORKER_LOG"

/* What the worker holds open while it runs. */
struct worker {
	struct conf *conf;
	struct store *store;
	struct plugin_set *plugins;
	struct token_key key;
	struct deliver_opts opts;
	struct wk_prune prune;
	int64_t next_prune;
	/* deliver_recover() succeeded: until then no batch may overwrite
	 * the last worker's in-flight mark (its crash would go uncounted). */
	bool recovered;
	bool recover_failed;		/* logged once until it succeeds */
	sigset_t stop_set;		/* the signals it waits on */
};

/*
 * Until it has read the configuration, the worker logs where the daemon
 * logs (WORKER_LOG_ENV): a detached daemon's stderr is /dev/null, and a
 * configuration edited since the daemon read it must still be reported.
 */
static void
early_log(void)
{
	const char *v = getenv(WORKER_LOG_ENV);
	char *end;
	long fac;

	errno = 0;
	if (v != NULL && strncmp(v, "syslog:", 7) == 0 &&
	    (fac = strtol(v + 7, &end, 10)) >= 0 && errno == 0 &&
	    end != v + 7 && *end == '\0')
		log_open("dvmilter-worker", true, (int)fac);
	else
		log_open("dvmilter-worker", false, 0);
	unsetenv(WORKER_LOG_ENV);
}

/* Signals are taken with sigtimedwait() only. */
static void
wk_signals(struct worker *w)
{
	sigemptyset(&w->stop_set);
	sigaddset(&w->stop_set, SIGTERM);
	sigaddset(&w->stop_set, SIGINT);
	sigaddset(&w->stop_set, SIGHUP);
	sigaddset(&w->stop_set, SIGUSR1);
	sigaddset(&w->stop_set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &w->stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Configuration, store, plugins and token key; fatal() on failure. */
static int
wk_open(struct worker *w, const char *conf_path)
{
	struct store_opts so = { 0 };
	struct plugin_host_opts ho = { 0 };
	char keypath[1100];
	const char *err;
	struct conf *c;

	if (conf_load(conf_path, &w->conf, &err) != 0) {
		log_error("cannot start: %s", err);
		return -1;
	}
	c = w->conf;
	log_open("dvmilter-worker", c->syslog, c->syslog_facility);
	log_set_level(c->log_level);
	msg_init();
	so.mapsize = c->database_mapsize;
	so.nometasync = true;
	if (store_open(c->database, &so, &w->store, &err) != 0)
		fatal("%s", err);
	w->opts.policy = (struct retry_policy){
		.base_delay = (unsigned)c->retry_base_delay,
		.max_delay = (unsigned)c->retry_max_delay,
		.max_attempts = c->retry_max_attempts,
		.hold_first = (unsigned)c->plugin_hold_first,
		.hold_max = (unsigned)c->plugin_hold_max,
	};
	if (outbox_open(w->store, &(const struct outbox_opts){
	    .plugins = c->plugins }, &w->opts.outbox, &err) != 0)
		fatal("%s", err);
	if ((w->opts.kv = pluginkv_new(w->store)) == NULL)
		fatal("out of memory");
	if (store_reader_open(w->store, &w->opts.reader, &err) != 0)
		fatal("%s", err);
	ho.mode = DVP_MODE_WORKER;
	ho.store = w->store;
	ho.kv = w->opts.kv;
	if (plugin_set_load(c, &ho, &w->plugins, &err) != 0)
		fatal("%s", err);
	conf_token_key_path(c, keypath, sizeof(keypath));
	if (token_key_load(keypath, false, &w->key, &err) != 0)
		fatal("%s", err);
	w->opts.key = &w->key;
	w->opts.token_prefix = c->token_prefix;
	w->opts.smart_matching = c->smart_matching;
	w->opts.join_policy = c->case_join;
	w->opts.parse = (struct msg_opts){
		.max_parts = c->max_message_parts,
		.max_depth = c->max_message_depth,
		.max_attachments = c->max_attachments,
		.max_attachment_bytes = c->max_attachment_bytes,
		.max_decoded = c->max_decoded_bytes,
	};
	w->opts.crash_limit = c->delivery_crash_limit;
	log_notice("worker started: %zu plugin%s",
	    plugin_set_count(w->plugins),
	    plugin_set_count(w->plugins) == 1 ? "" : "s");
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define WK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WK_ASAN 1
#endif
#endif

/* The worker's data segment now (VmData), in bytes; 0 if unknown. */
static size_t
vm_data(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmData:", 7) == 0) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(line + 7, &end, 10);
			if (errno == 0 && end != line + 7)
				kb = (size_t)v;
			break;
		}
	fclose(fp);
	return kb * 1024;
}

/*
 * WorkerMemoryLimit: RLIMIT_DATA at the worker's data once open (VmData:
 * its heap, stacks, the libraries' writable data) plus the limit, so
 * that a message that needs more fails its allocations, not the machine.
 * Since Linux 4.7 RLIMIT_DATA counts private writable and anonymous
 * mappings, malloc's included, and not the store's shared read-only
 * file map: the daemon may grow that map (DatabaseMapSize and a reload)
 * and the worker remap it. RLIMIT_AS counted the map, so LMDB's remap
 * failed after unmapping the old one and the worker read unmapped
 * memory. GLib aborts when it cannot allocate: the crash counting of
 * deliver_recover() then deals with the message.
 */
static void
wk_memory_limit(size_t limit)
{
	struct rlimit rl;
	size_t base;

	if (limit == 0)
		return;
#ifdef WK_ASAN
	/* Not the sanitizer's name: the tests take that for its report. */
	log_notice("WorkerMemoryLimit ignored: this build's address "
	    "sanitizer reserves more memory than any limit allows");
	return;
#endif
	if ((base = vm_data()) == 0) {
		log_warn("WorkerMemoryLimit not applied: /proc/self/status "
		    "has no VmData");
		return;
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)(base + limit);
	if (setrlimit(RLIMIT_DATA, &rl) != 0)
		log_warn("WorkerMemoryLimit not applied: setrlimit: %s",
		    strerror(errno));
	else
		log_info("worker data limited to %zu MB (%zu MB at start + "
		    "WorkerMemoryLimit)", (base + limit) >> 20, base >> 20);
}

/*
 * Look at what the last worker left marked in flight (deliver_recover());
 * true once done. Retried each round while it fails (a full store): a
 * batch started before would write over the mark, and the death of the
 * last worker would never count against what killed it.
 */
static bool
wk_recover(struct worker *w, int64_t now)
{
	const char *err;
	size_t n;

	if (w->recovered)
		return true;
	if (deliver_recover(w->store, &w->opts, now, &n, &err) != 0) {
		if (!w->recover_failed)
			log_error("outbox: %s; no delivery until the last "
			    "worker's deliveries are checked (retried every "
			    "second)", err);
		w->recover_failed = true;
		return false;
	}
	if (w->recover_failed)
		log_notice("outbox: the last worker's deliveries checked; "
		    "delivering again");
	w->recovered = true;
	return true;
}

/*
 * One round: deliver what is due, prune when idle, then wait. Returns
 * false when a stop signal came.
 */
static bool
wk_round(struct worker *w)
{
	int64_t now = (int64_t)time(NULL), next = 0;
	struct timespec ts = { 1, 0 };
	const char *err;
	siginfo_t si;
	int did = 0, sig;

	if (!wk_recover(w, now))
		did = 0;
	else if (deliver_next(w->store, w->plugins, &w->opts, now, &did,
	    &next, &err) != 0) {
		log_error("outbox: %s", err);
		did = 0;
	}
	if (did == 0 && w->conf->outbox_retention > 0 &&
	    now >= w->next_prune) {
		w->next_prune = wk_prune_pass(w->store, w->opts.outbox,
		    w->conf->outbox_retention, now, &w->prune);
		if (w->next_prune == now)
			ts.tv_sec = 0;	/* more to look at */
	}
	if (did == DELIVER_BATCH)
		ts.tv_sec = 0;		/* more are due: look now */
	else if (did > 0) {
		/*
		 * Let more messages arrive, so that the next batch shares one
		 * commit: fewer syncs competing with the milter's, for
		 * WORKER_PAUSE_MS more latency at most.
		 */
		struct timespec pause = { 0, WORKER_PAUSE_MS * 1000000L };

		nanosleep(&pause, NULL);
		ts.tv_sec = 0;
	}
	sig = sigtimedwait(&w->stop_set, &si, &ts);
	/* SIGUSR2: a new message; SIGUSR1: ignored here. */
	return !(sig == SIGTERM || sig == SIGINT || sig == SIGHUP);
}

static void
wk_close(struct worker *w)
{
	log_notice("worker stopping");
	plugin_set_free(w->plugins);
	pluginkv_free(w->opts.kv);
	outbox_close(w->opts.outbox);
	store_reader_close(w->opts.reader);
	store_close(w->store);
	conf_unref(w->conf);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: dvmilter-worker -c FILE\n"
	    "The outbox worker of dvmilter; the daemon starts it.\n");
}

int
main(int argc, char **argv)
{
	struct worker w = { 0 };
	const char *path = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "c:hV")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'V': printf("dvmilter-worker %s\n", PACKAGE_VERSION);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	wk_signals(&w);
	early_log();
	/* When the CPU is short the worker yields to the MTA and the
	 * milter, and catches up when it is not. */
	if (setpriority(PRIO_PROCESS, 0, WORKER_NICE) != 0)
		log_warn("setpriority: %s", strerror(errno));
	if (wk_open(&w, path) != 0)
		return 1;
	wk_memory_limit(w.conf->worker_memory_limit);
	while (wk_round(&w))
		;
	wk_close(&w);
	return 0;
}

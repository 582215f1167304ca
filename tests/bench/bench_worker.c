/*
 * bench_worker.c - what the outbox worker spends on one tracked message.
 *
 * In a new store it queues N messages (default 2,000) the way the milter
 * does, each a 2 KB message from its own customer to support@, a queue
 * with a case rule, with the decision a tracking dvmilter stores; then it
 * delivers them all to the local plugin with deliver_next(), as the
 * worker does, so that each one becomes a contact, a case and an email
 * activity. Prints the time per message of the delivery part, wall
 * clock and CPU (user and system).
 *
 * Run under callgrind for instruction counts, which do not depend on
 * what else the machine is doing (docs/BENCHMARKS.md):
 *   valgrind --tool=callgrind --collect-atstart=no \
 *       --toggle-collect=deliver_next bench_worker -n 500 DIR
 *
 * usage: bench_worker [-n MESSAGES] PLUGINDIR NEWSTOREDIR
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "deliver.h"
#include "plugin.h"
#include "pluginkv.h"
#include "outbox.h"
#include "store.h"
#include "token.h"

#define SIZE	2048

static const char decision[] = "{\"direction\":\"incoming\",\"mailboxes\":"
    "[{\"address\":\"support@example.com\",\"type\":\"queue\","
    "\"role\":\"recipient\"}]}";
static const char caserule[] = "{\"queue\":\"support@example.com\","
    "\"create_contact\":true,\"reopen_days\":7,\"auto_reply\":false}";

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "bench_worker: %s: %s\n", what, err);
	exit(1);
}

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A message like smtp-source's: four headers, "La De Da" lines. */
static size_t
make_message(char *buf, size_t n, unsigned i, char *from, size_t fromsz,
    char *mid, size_t midsz)
{
	size_t len;

	snprintf(from, fromsz, "customer%u@ext.example", i);
	snprintf(mid, midsz, "%08x.%04x@bench.example", i, i & 0xffffu);
	len = (size_t)snprintf(buf, n, "From: <%s>\r\n"
	    "To: <support@example.com>\r\n"
	    "Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n"
	    "Message-Id: <%s>\r\nSubject: test %u\r\n\r\n", from, mid, i);
	while (len + 10 <= SIZE) {
		memcpy(buf + len, "La De Da\r\n", 10);
		len += 10;
	}
	buf[len] = '\0';
	return len;
}

static void
fill(struct store *st, struct outbox *ob, unsigned count)
{
	static const char *const rcpts[] = { "support@example.com" };
	char raw[SIZE + 256], from[64], mid[64];
	struct store_txn *t = NULL;
	const char *err;
	uint64_t id;

	for (unsigned i = 0; i < count; i++) {
		struct outbox_item it = {
			.received = (int64_t)time(NULL), .queue_id = "BENCH",
			.envelope_from = from, .rcpts = rcpts, .nrcpts = 1,
			.message_id = mid, .decision = decision, .raw = raw,
		};

		it.raw_len = make_message(raw, sizeof(raw), i, from,
		    sizeof(from), mid, sizeof(mid));
		if (t == NULL && store_txn_begin(st, true, &t, &err) != 0)
			die("begin", err);
		if (outbox_put(ob, t, &it, &id, &err) != 0)
			die("outbox_put", err);
		if ((i + 1) % 100 == 0 || i + 1 == count) {
			if (store_txn_commit(t, &err) != 0)
				die("commit", err);
			t = NULL;
		}
	}
}

int
main(int argc, char **argv)
{
	static const unsigned char keybytes[32] = { 1, 2, 3 };
	static char local[] = "local";
	char *const plugins[] = { local, NULL };
	struct store_opts so = { .mapsize = (size_t)1 << 30, .create = true,
	    .nometasync = true };
	struct deliver_opts o = { .policy = RETRY_POLICY_DEFAULT,
	    .token_prefix = "CRM:" };
	struct token_key key;
	struct plugin_set *ps;
	struct store_txn *t;
	struct rusage r0, r1;
	struct conf *c;
	struct store *st;
	const char *err;
	char text[1200];
	unsigned count = 2000, done = 0;
	double w0, w1, cpu;
	int ch, did;
	int64_t next;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n' || (count = (unsigned)strtoul(optarg, NULL, 10)) == 0) {
			fprintf(stderr, "usage: bench_worker [-n MESSAGES] "
			    "PLUGINDIR NEWSTOREDIR\n");
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: bench_worker [-n MESSAGES] PLUGINDIR "
		    "NEWSTOREDIR\n");
		return 2;
	}
	memcpy(key.k, keybytes, sizeof(keybytes));
	key.len = sizeof(keybytes);
	o.key = &key;
	snprintf(text, sizeof(text), "PluginDir %s\nPlugins local\n"
	    "LogLevel notice\n", argv[optind]);
	if (conf_parse_string("bench.conf", text, &c, &err) != 0)
		die("config", err);
	if (store_open(argv[optind + 1], &so, &st, &err) != 0)
		die(argv[optind + 1], err);
	if (outbox_open(st, &(const struct outbox_opts){ .plugins = plugins },
	    &o.outbox, &err) != 0)
		die("outbox", err);
	o.kv = pluginkv_new(st);
	if (o.kv == NULL || store_reader_open(st, &o.reader, &err) != 0)
		die("setup", o.kv == NULL ? "out of memory" : err);
	if (plugin_set_load(c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = st,
	    .kv = o.kv }, &ps, &err) != 0)
		die("plugins", err);
	if (store_txn_begin(st, true, &t, &err) != 0 ||
	    pluginkv_txn_put(t, "local", "caserule/support@example.com",
	    caserule, strlen(caserule), &err) != 0 ||
	    store_txn_commit(t, &err) != 0)
		die("case rule", err);
	fill(st, o.outbox, count);

	getrusage(RUSAGE_SELF, &r0);
	w0 = now_s(CLOCK_MONOTONIC);
	do {
		if (deliver_next(st, ps, &o, (int64_t)time(NULL) + 1, &did,
		    &next, &err) != 0)
			die("deliver", err);
		done += (unsigned)did;
	} while (did > 0);
	w1 = now_s(CLOCK_MONOTONIC);
	getrusage(RUSAGE_SELF, &r1);
	cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
	    (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	    (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	    (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("%u messages delivered to local: %.1f us wall, %.1f us CPU "
	    "per message\n", done, (w1 - w0) * 1e6 / done, cpu * 1e6 / done);
	store_reader_close(o.reader);
	plugin_set_free(ps);
	pluginkv_free(o.kv);
	outbox_close(o.outbox);
	store_close(st);
	conf_unref(c);
	return done == count ? 0 : 1;
}

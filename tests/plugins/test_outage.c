/*
 * test_outage.c - a plugin's endpoint down for ten minutes, then back:
 * every delivery arrives exactly once. The webhook plugin posts to a
 * loopback HTTP server (httpd.c), which counts what arrives by
 * Idempotency-Key; the worker's step, deliver_next(), runs on a
 * simulated clock: the time is its parameter (the retry policy reads no
 * clock, core/retry.h), so ten minutes of backoff and circuit breaker
 * take milliseconds, with the real plugin, store and network.
 *
 * Each test prints its counts as TAP comments.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "deliver.h"
#include "httpd.h"
#include "outbox.h"
#include "plugin.h"
#include "pluginkv.h"

#define NMSG		40	/* more than one batch (DELIVER_BATCH) */
#define T0		((int64_t)1800000000)
#define OUTAGE		600	/* seconds */
#define MAX_KEYS	64

/* What the server saw, per Idempotency-Key. */
struct seen {
	char key[MAX_KEYS][80];
	unsigned ok[MAX_KEYS];		/* answered 2xx */
	unsigned failed[MAX_KEYS];	/* answered otherwise */
	size_t nkeys;
	unsigned requests;
};

struct fx {
	char *dir;
	struct httpd h;
	bool running;		/* h is up */
	int port;
	struct seen seen;
	struct conf *c;
	struct store *st;
	struct deliver_opts o;
	struct plugin_set *ps;
	uint64_t id[NMSG];
};

/* httpd's on_request, with its lock held. */
static void
count(void *arg, const struct httpd_request *r, int status)
{
	struct seen *s = arg;
	const char *p = strcasestr(r->headers, "\nIdempotency-Key:");
	char key[80] = "";
	size_t i;

	s->requests++;
	if (p == NULL && strncasecmp(r->headers, "Idempotency-Key:", 16) == 0)
		p = r->headers - 1;
	if (p != NULL)
		sscanf(p + 17, " %79[^\r\n]", key);
	for (i = 0; i < s->nkeys && strcmp(s->key[i], key) != 0; i++)
		;
	if (i == s->nkeys) {
		if (s->nkeys == MAX_KEYS)
			return;
		snprintf(s->key[s->nkeys++], sizeof(s->key[0]), "%s", key);
	}
	if (status >= 200 && status < 300)
		s->ok[i]++;
	else
		s->failed[i]++;
}

static void
server_up(struct fx *f, int status)
{
	assert_int_equal(httpd_start_port(&f->h, f->port), 0);
	f->running = true;
	f->port = f->h.port;
	httpd_respond(&f->h, status, NULL, "{\"activity_id\":\"a\"}", 0);
	pthread_mutex_lock(&f->h.lock);
	f->h.arg = &f->seen;
	f->h.on_request = count;
	pthread_mutex_unlock(&f->h.lock);
}

static int
setup(void **state)
{
	struct store_opts so = { .mapsize = 64 << 20, .create = true };
	static char p_webhook[] = "webhook";
	char *const plugins[] = { p_webhook, NULL };
	const char *top = getenv("top_builddir"), *err;
	struct fx *f = calloc(1, sizeof(*f));
	char text[4096];
	FILE *fp;

	if (f == NULL || (f->dir = scratch_dir()) == NULL)
		return -1;
	/* Where the endpoint listens, and will listen again. */
	server_up(f, 200);
	snprintf(text, sizeof(text), "%s/secret", f->dir);
	if ((fp = fopen(text, "w")) == NULL)
		return -1;
	fputs("outage-test-secret-0123456789\n", fp);
	fclose(fp);
	chmod(text, 0600);
	snprintf(text, sizeof(text), "PluginDir %s/plugins/webhook/.libs\n"
	    "Plugins webhook\nWebhook.URL http://127.0.0.1:%d/hook\n"
	    "Webhook.AllowInsecure yes\n"
	    "Webhook.SecretFile %s/secret\nWebhook.Timeout 2\n",
	    top != NULL ? top : ".", f->port, f->dir);
	if (conf_parse_string("outage.conf", text, &f->c, &err) != 0)
		fail_msg("%s", err);
	snprintf(text, sizeof(text), "%s/db", f->dir);
	if (store_open(text, &so, &f->st, &err) != 0 ||
	    outbox_open(f->st, &(const struct outbox_opts){
	    .plugins = plugins }, &f->o.outbox, &err) != 0)
		fail_msg("%s", err);
	f->o.policy = (struct retry_policy)RETRY_POLICY_DEFAULT;
	if ((f->o.kv = pluginkv_new(f->st)) == NULL ||
	    plugin_set_load(f->c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = f->st, .kv = f->o.kv },
	    &f->ps, &err) != 0)
		fail_msg("%s", f->o.kv == NULL ? "out of memory" : err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	plugin_set_free(f->ps);
	pluginkv_free(f->o.kv);
	outbox_close(f->o.outbox);
	store_close(f->st);
	conf_unref(f->c);
	if (f->running)
		httpd_stop(&f->h);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void
queue_all(struct fx *f)
{
	static const char *const rcpts[] = { "support@example.com" };
	struct store_txn *t;
	const char *err;

	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	for (int i = 0; i < NMSG; i++) {
		char raw[300], mid[64];
		struct outbox_item it = { .received = T0, .queue_id = "OUT",
		    .envelope_from = "ann@ext.example", .rcpts = rcpts,
		    .nrcpts = 1, .message_id = mid,
		    .decision = "{\"mailboxes\":[]}", .raw = raw };

		snprintf(mid, sizeof(mid), "outage-%d@ext.example", i);
		it.raw_len = (size_t)snprintf(raw, sizeof(raw), "From: "
		    "<ann@ext.example>\r\nMessage-ID: <%s>\r\nSubject: "
		    "outage %d\r\n\r\nbody\r\n", mid, i);
		assert_int_equal(outbox_put(f->o.outbox, t, &it, &f->id[i],
		    &err), 0);
	}
	assert_int_equal(store_txn_commit(t, &err), 0);
}

/* How many deliveries are done; the most attempts any one took. */
static int
done_count(struct fx *f, unsigned *max_attempts_r)
{
	struct store_txn *t;
	const char *err;
	int done = 0;

	*max_attempts_r = 0;
	assert_int_equal(store_txn_begin(f->st, false, &t, &err), 0);
	for (int i = 0; i < NMSG; i++) {
		struct outbox_delivery d;
		size_t n = 0;

		assert_int_equal(outbox_deliveries(f->o.outbox, t, f->id[i],
		    &d, 1, &n, &err), 0);
		assert_int_equal(n, 1);
		if (d.state == OUTBOX_DONE)
			done++;
		if (d.attempts > *max_attempts_r)
			*max_attempts_r = d.attempts;
	}
	store_txn_abort(t);
	return done;
}

/*
 * Run the worker's step on the simulated clock from T0 until every
 * delivery is done (or two simulated days pass): the endpoint is down
 * (@refuse: nothing listens; else it answers 503) until T0 + OUTAGE,
 * then up. Returns the simulated time when the last one was done.
 */
static int64_t
run(struct fx *f, bool refuse, unsigned *down_requests_r,
    unsigned *steps_r)
{
	int64_t now = T0, next;
	bool up = false;
	unsigned max_attempts;
	const char *err;
	int did;

	if (refuse) {
		httpd_stop(&f->h);
		f->running = false;
	} else
		httpd_respond(&f->h, 503, NULL, "{}", 0);
	*steps_r = 0;
	while (now < T0 + 2 * 86400) {
		if (!up && now >= T0 + OUTAGE) {
			pthread_mutex_lock(&f->h.lock);
			*down_requests_r = f->seen.requests;
			pthread_mutex_unlock(&f->h.lock);
			if (refuse)
				server_up(f, 200);
			else
				httpd_respond(&f->h, 200, NULL,
				    "{\"activity_id\":\"a\"}", 0);
			up = true;
		}
		assert_int_equal(deliver_next(f->st, f->ps, &f->o, now, &did,
		    &next, &err), 0);
		(*steps_r)++;
		if (did > 0)
			continue;
		if (next == 0)
			break;		/* nothing pending: all done */
		now = next > now ? next : now + 1;
		if (!up && now > T0 + OUTAGE)
			now = T0 + OUTAGE;
	}
	assert_int_equal(done_count(f, &max_attempts), NMSG);
	return now;
}

static void
check_once(struct fx *f, const char *what, int64_t end, unsigned down,
    unsigned steps)
{
	unsigned twice = 0, missing = 0, ok = 0, max_attempts;

	(void)done_count(f, &max_attempts);
	pthread_mutex_lock(&f->h.lock);
	for (size_t i = 0; i < f->seen.nkeys; i++) {
		ok += f->seen.ok[i];
		if (f->seen.ok[i] > 1)
			twice++;
		if (f->seen.ok[i] == 0)
			missing++;
	}
	missing += NMSG - (unsigned)f->seen.nkeys;
	printf("# counts (%s): deliveries=%d arrived_2xx=%u keys=%zu "
	    "doubled=%u missing=%u requests_during_outage=%u "
	    "requests_total=%u max_attempts=%u simulated_seconds=%lld "
	    "worker_steps=%u\n", what, NMSG, ok, f->seen.nkeys, twice,
	    missing, down, f->seen.requests, max_attempts,
	    (long long)(end - T0), steps);
	pthread_mutex_unlock(&f->h.lock);
	assert_int_equal(f->seen.nkeys, NMSG);
	assert_int_equal(ok, NMSG);
	assert_int_equal(twice, 0);
	assert_int_equal(missing, 0);
	/* Nothing went dead: the outage used few attempts. */
	assert_true(max_attempts < RETRY_MAX_ATTEMPTS);
	assert_true(end >= T0 + OUTAGE);
}

/*
 * Nothing listens for ten minutes (connections refused): the breaker
 * holds the plugin, so few attempts are made, and none is spent on the
 * held deliveries; once it listens again every delivery arrives once.
 */
static void
endpoint_refusing_for_ten_minutes_then_every_delivery_arrives_once(
    void **state)
{
	struct fx *f = *state;
	unsigned down = 0, steps;
	int64_t end;

	queue_all(f);
	end = run(f, true, &down, &steps);
	check_once(f, "refused", end, down, steps);
	assert_int_equal(down, 0);	/* nothing could arrive */
}

/*
 * The endpoint answers 503 for ten minutes: each delivery backs off on
 * its own (the server accepts connections, so its health is good); once
 * it answers 2xx every delivery arrives once, none twice.
 */
static void
endpoint_failing_for_ten_minutes_then_every_delivery_arrives_once(
    void **state)
{
	struct fx *f = *state;
	unsigned down = 0, steps;
	int64_t end;

	queue_all(f);
	end = run(f, false, &down, &steps);
	check_once(f, "503", end, down, steps);
	assert_true(down > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    endpoint_refusing_for_ten_minutes_then_every_delivery_arrives_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    endpoint_failing_for_ten_minutes_then_every_delivery_arrives_once,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

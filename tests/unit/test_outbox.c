/*
 * test_outbox.c - the outbox through its one door, outbox.h: what the
 * writer holds and what the store holds look alike to a caller, with no
 * gap between them, and an entry goes from submitted to done or dead.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "outbox.h"
#include "status.h"
#include "testutil.h"

/* The content digest the milter would give (any 64 digits). */
#define DIG "5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa"

static char p_local[] = "local", p_webhook[] = "webhook";
static char *const plugins[] = { p_local, p_webhook, NULL };
static const struct retry_policy pol = RETRY_POLICY_DEFAULT;

struct fx {
	char *dir;
	struct store *st;
	struct outbox *ob;		/* opened as the daemon does */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts so = { .mapsize = 16 << 20, .create = true,
	    .nometasync = true };
	const struct outbox_opts o = { .plugins = plugins,
	    .flags = OUTBOX_WRITER };
	char path[300];
	const char *err;

	if (f == NULL || (f->dir = scratch_dir()) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/db", f->dir);
	if (store_open(path, &so, &f->st, &err) != 0 ||
	    outbox_open(f->st, &o, &f->ob, &err) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	outbox_close(f->ob);
	store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static uint64_t
submit(struct outbox *ob, const char *mid, const char *rcpt)
{
	const char *one[] = { rcpt };
	struct outbox_item it = { .received = 1000, .raw = "Subject: x\r\n\r\n",
	    .raw_len = 14, .message_id = mid, .rcpts = one, .nrcpts = 1,
	    .digest = DIG };
	char err[256];
	uint64_t id;

	assert_int_equal(outbox_submit(ob, &it, false, &id, err, sizeof(err)),
	    0);
	return id;
}

static struct store_txn *
begin(struct fx *f, bool write)
{
	struct store_txn *t;
	const char *err;

	assert_int_equal(store_txn_begin(f->st, write, &t, &err), 0);
	return t;
}

/* Logged and not indexed, or indexed: one call finds it either way. */
static void
find_sees_the_writer_and_the_index_alike(void **state)
{
	struct fx *f = *state;
	struct outbox_stats s;
	struct store_txn *t;
	const char *err;
	uint64_t id = submit(f->ob, "one@x", "a@example.com"), found = 0;

	outbox_stats(f->ob, &s);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.logged, 1);		/* only in the log so far */
	t = begin(f, false);
	assert_false(outbox_exists(f->ob, t, id));
	assert_int_equal(outbox_find(f->ob, t, "one@x", &found, &err), 0);
	assert_int_equal(found, id);
	store_txn_abort(t);
	outbox_flush(f->ob);
	t = begin(f, false);
	assert_true(outbox_exists(f->ob, t, id));
	found = 0;
	assert_int_equal(outbox_find(f->ob, t, "one@x", &found, &err), 0);
	assert_int_equal(found, id);
	assert_int_equal(outbox_find(f->ob, t, "ONE@x", &found, &err),
	    DV_ENOTFOUND);
	store_txn_abort(t);
}

/*
 * The gap: a transaction that began before the writer indexed an entry
 * (here, before it was even submitted), asked after the writer indexed
 * it and let it go, finds it.
 */
static void
find_has_no_gap_between_the_writer_and_the_index(void **state)
{
	struct fx *f = *state;
	struct store_reader *r;
	struct store_txn *t, *w;
	const char *err;
	uint64_t id, found = 0;

	assert_int_equal(store_reader_open(f->st, &r, &err), 0);
	assert_int_equal(store_reader_txn(r, &t, &err), 0);
	id = submit(f->ob, "gap@x", "a@example.com");
	outbox_flush(f->ob);			/* indexed after t began */
	assert_int_equal(outbox_find(f->ob, t, "gap@x", &found, &err), 0);
	assert_int_equal(found, id);
	assert_false(outbox_exists(f->ob, t, id));	/* t's snapshot */
	store_txn_abort(t);
	/* A write transaction is the newest snapshot: the index has it. */
	w = begin(f, true);
	found = 0;
	assert_int_equal(outbox_find(f->ob, w, "gap@x", &found, &err), 0);
	assert_int_equal(found, id);
	store_txn_abort(w);
	store_reader_close(r);
}

/* A second outbox on the store (dvmilterctl's) reads the daemon's log. */
static void
logged_counts_what_only_the_log_holds(void **state)
{
	struct fx *f = *state;
	struct outbox *other;
	const char *err;
	size_t n = 99;

	assert_int_equal(outbox_open(f->st, NULL, &other, &err), 0);
	assert_int_equal(outbox_logged(other, &n, &err), 0);
	assert_int_equal(n, 0);
	(void)submit(f->ob, "l1@x", "a@example.com");
	(void)submit(f->ob, "l2@x", "a@example.com");
	assert_int_equal(outbox_logged(f->ob, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(outbox_logged(other, &n, &err), 0);
	assert_int_equal(n, 2);
	outbox_flush(f->ob);
	assert_int_equal(outbox_logged(f->ob, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(outbox_logged(other, &n, &err), 0);
	assert_int_equal(n, 0);
	outbox_close(other);
}

/* Without OUTBOX_WRITER a submission goes straight into the store. */
static void
a_reader_outbox_submits_straight(void **state)
{
	struct fx *f = *state;
	struct outbox *other;
	struct outbox_msg *m;
	struct store_txn *t;
	const char *err;
	uint64_t a, b, found;

	assert_int_equal(outbox_open(f->st, &(const struct outbox_opts){
	    .plugins = plugins }, &other, &err), 0);
	a = submit(other, "tool@x", "a@example.com");
	b = submit(other, "tool@x", "b@example.com");	/* the same again */
	assert_int_equal(b, a);
	t = begin(f, false);
	assert_int_equal(outbox_find(other, t, "tool@x", &found, &err), 0);
	assert_int_equal(found, a);
	assert_int_equal(outbox_get(other, t, a, OUTBOX_TEXT, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);
	assert_int_equal(m->raw_len, 14);
	assert_memory_equal(m->raw, "Subject: x\r\n\r\n", 14);
	outbox_msg_free(m);
	assert_int_equal(outbox_get(other, t, a, 0, &m, &err), 0);
	assert_null(m->raw);
	assert_int_equal(m->raw_len, 14);
	outbox_msg_free(m);
	store_txn_abort(t);
	outbox_close(other);
}

struct walked {
	uint64_t ids[8];
	size_t nd[8], n;
};

static int
walk_one(void *arg, uint64_t id, const struct outbox_delivery *d, size_t nd)
{
	struct walked *w = arg;

	(void)d;
	if (w->n < 8) {
		w->ids[w->n] = id;
		w->nd[w->n++] = nd;
	}
	return 0;
}

/* Due, recorded, dead, retried, done, dropped: the worker's path. */
static void
an_entry_goes_from_due_to_done(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d[4], after;
	struct walked wk = { .n = 0 };
	struct store_txn *t;
	const char *err;
	uint64_t id = submit(f->ob, "life@x", "a@example.com");
	int64_t next;
	size_t n;

	outbox_flush(f->ob);
	t = begin(f, true);
	assert_int_equal(outbox_due(f->ob, t, 1000, 4, d, &n, &next, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(outbox_record(f->ob, t, &(struct outbox_attempt){
	    .id = id, .plugin = "local", .gen = d[0].gen,
	    .result = OUTBOX_TRANSIENT, .error = "down", .now = 1000,
	    .policy = &pol, .jitter = 1.0 }, &after, &err), 0);
	assert_int_equal(after.state, OUTBOX_PENDING);
	assert_int_equal(after.next_at, 1000 + RETRY_BASE_DELAY);
	assert_int_equal(outbox_record(f->ob, t, &(struct outbox_attempt){
	    .id = id, .plugin = "webhook", .result = OUTBOX_PERMANENT,
	    .error = "HTTP 400", .now = 1000, .policy = &pol }, &after,
	    &err), 0);
	assert_int_equal(after.state, OUTBOX_DEAD);
	assert_int_equal(outbox_due(f->ob, t, 1000, 4, d, &n, &next, &err),
	    DV_ENOTFOUND);
	assert_int_equal(next, 1000 + RETRY_BASE_DELAY);
	assert_int_equal(outbox_retry(f->ob, t, id, "webhook", 1001, &err), 0);
	assert_int_equal(outbox_deliveries(f->ob, t, id, d, 4, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d[1].plugin, "webhook");
	assert_int_equal(d[1].state, OUTBOX_PENDING);
	assert_int_equal(d[1].attempts, 0);
	assert_int_equal(outbox_walk(f->ob, t, walk_one, &wk, &err), 0);
	assert_int_equal(wk.n, 1);
	assert_int_equal(wk.ids[0], id);
	assert_int_equal(wk.nd[0], 2);
	assert_int_equal(outbox_drop(f->ob, t, id, &err), 0);
	assert_int_equal(outbox_drop(f->ob, t, id, &err), DV_ENOTFOUND);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_string_equal(outbox_state_name(OUTBOX_DEAD), "dead");
}

/* The delivery of @id to @plugin as the store has it now. */
static struct outbox_delivery
delivery_of(struct fx *f, uint64_t id, const char *plugin)
{
	struct outbox_delivery d[2];
	struct store_txn *t = begin(f, false);
	const char *err;
	size_t n;

	assert_int_equal(outbox_deliveries(f->ob, t, id, d, 2, &n, &err), 0);
	store_txn_abort(t);
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].plugin, plugin) == 0)
			return d[i];
	fail_msg("no delivery of %llu to %s", (unsigned long long)id, plugin);
	return d[0];
}

/* A new worker looks at what the last one left marked: how many found. */
static size_t
next_worker_looks(struct fx *f, struct outbox_delivery *after)
{
	const struct outbox_crash c = { .now = 2000, .policy = &pol,
	    .limit = 3 };
	struct store_txn *t = begin(f, true);
	const char *err;
	size_t got;

	assert_int_equal(outbox_crashed(f->ob, t, &c, after, 8, &got, &err),
	    0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	return got;
}

/* A worker marks @n deliveries started and dies; the next one looks. */
static size_t
die_during(struct fx *f, const struct outbox_delivery *d, size_t n,
    struct outbox_delivery *after)
{
	struct store_txn *t = begin(f, true);
	const char *err;

	assert_int_equal(outbox_started(f->ob, t, d, n, 2000, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	return next_worker_looks(f, after);
}

/*
 * A worker that dies during a batch leaves its mark: the deliveries of
 * a batch become suspects (none blamed, attempts unchanged); one that
 * kills the worker when made alone is blamed, a failed attempt each
 * time, and dead at the crash limit; one recorded normally clears the
 * mark, and the next worker finds nothing.
 */
static void
a_delivery_that_kills_the_worker_is_found_and_dead_lettered(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery due[8], after[8], d;
	struct store_txn *t;
	const char *err;
	size_t n;

	(void)submit(f->ob, "c1@x", "a@example.com");
	(void)submit(f->ob, "c2@x", "a@example.com");
	outbox_flush(f->ob);
	t = begin(f, false);
	assert_int_equal(outbox_due(f->ob, t, 5000, 8, due, &n, NULL, &err),
	    0);
	store_txn_abort(t);
	assert_int_equal(n, 4);			/* two entries, two plugins */

	assert_int_equal(die_during(f, due, 4, after), 4);
	for (size_t i = 0; i < 4; i++) {
		d = delivery_of(f, due[i].id, due[i].plugin);
		assert_true(d.suspect);
		assert_int_equal(d.attempts, 0);
		assert_int_equal(d.crashes, 0);
	}
	/* Alone, the first kills it three times: dead, with the reason. */
	for (unsigned k = 1; k <= 3; k++) {
		assert_int_equal(die_during(f, &due[0], 1, after), 1);
		d = delivery_of(f, due[0].id, due[0].plugin);
		assert_false(d.suspect);
		assert_int_equal(d.crashes, k);
		assert_int_equal(d.attempts, k);
		assert_int_equal(d.state, k < 3 ? OUTBOX_PENDING : OUTBOX_DEAD);
	}
	assert_string_equal(d.last_error,
	    "the worker died 3 times delivering it");
	/* The next, made alone, succeeds: recorded, the mark cleared. */
	t = begin(f, true);
	assert_int_equal(outbox_started(f->ob, t, &due[1], 1, 2000, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	t = begin(f, true);
	assert_int_equal(outbox_record(f->ob, t, &(const struct outbox_attempt){
	    .id = due[1].id, .plugin = due[1].plugin, .gen = due[1].gen,
	    .result = OUTBOX_OK, .now = 2001, .policy = &pol }, &d, &err), 0);
	assert_int_equal(outbox_started(f->ob, t, NULL, 0, 2001, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	d = delivery_of(f, due[1].id, due[1].plugin);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_false(d.suspect);
	t = begin(f, true);
	assert_int_equal(outbox_crashed(f->ob, t, &(const struct outbox_crash){
	    .now = 2002, .policy = &pol, .limit = 3 }, after, 8, &n, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_int_equal(n, 0);
	/* dvmilterctl outbox retry starts the dead one afresh. */
	t = begin(f, true);
	assert_int_equal(outbox_retry(f->ob, t, due[0].id, due[0].plugin, 2003,
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	d = delivery_of(f, due[0].id, due[0].plugin);
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.crashes, 0);
}

/* Submit one message and index it: its id; its deliveries in @due. */
static uint64_t
submit_one_due(struct fx *f, const char *mid, struct outbox_delivery *due)
{
	struct store_txn *t;
	const char *err;
	uint64_t id = submit(f->ob, mid, "a@example.com");
	size_t n;

	outbox_flush(f->ob);
	t = begin(f, false);
	assert_int_equal(outbox_due(f->ob, t, 5000, 8, due, &n, NULL, &err), 0);
	store_txn_abort(t);
	assert_int_equal(n, 2);
	return id;
}

/*
 * A poison message sent again (same bytes, another recipient): the copy
 * folds into its entry and re-arms the other plugin, but the delivery
 * dead-lettered for killing the worker stays dead with its crashes and
 * reason; only the operator's retry starts it afresh.
 */
static void
a_copy_never_revives_a_delivery_that_killed_the_worker(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery due[8], after[8], d;
	struct store_txn *t;
	const char *err;
	uint64_t id;

	id = submit_one_due(f, "p@x", due);
	assert_string_equal(due[0].plugin, "local");
	for (unsigned k = 1; k <= 3; k++)
		assert_int_equal(die_during(f, &due[0], 1, after), 1);
	d = delivery_of(f, id, "local");
	assert_int_equal(d.state, OUTBOX_DEAD);

	for (unsigned k = 0; k < 3; k++) {
		char rcpt[32];

		snprintf(rcpt, sizeof(rcpt), "r%u@example.com", k);
		assert_int_equal(submit(f->ob, "p@x", rcpt), id);
		outbox_flush(f->ob);
		d = delivery_of(f, id, "local");
		assert_int_equal(d.state, OUTBOX_DEAD);
		assert_int_equal(d.crashes, 3);
		assert_int_equal(d.gen, due[0].gen);
		assert_string_equal(d.last_error,
		    "the worker died 3 times delivering it");
	}
	/* The other plugin gets the fuller entry. */
	d = delivery_of(f, id, "webhook");
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_true(d.gen > due[1].gen);
	t = begin(f, true);
	assert_int_equal(outbox_retry(f->ob, t, id, "local", 2003, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	d = delivery_of(f, id, "local");
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.crashes, 0);
}

/*
 * A copy folded while a delivery is in flight re-arms it (gen bumped)
 * but keeps its crashes, and the worker's death is still blamed on it:
 * copies cannot hide a poison message's crashes.
 */
static void
a_crash_counts_though_a_copy_folded_during_the_delivery(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery due[8], after[8], d;
	struct store_txn *t;
	const char *err;
	uint64_t id;

	id = submit_one_due(f, "q@x", due);
	assert_int_equal(die_during(f, &due[0], 1, after), 1);
	d = delivery_of(f, id, due[0].plugin);
	assert_int_equal(d.crashes, 1);

	for (unsigned k = 2; k <= 3; k++) {
		char rcpt[32];

		/* In flight alone, a copy with a new recipient folds. */
		t = begin(f, true);
		assert_int_equal(outbox_started(f->ob, t, &d, 1, 2000, &err),
		    0);
		assert_int_equal(store_txn_commit(t, &err), 0);
		snprintf(rcpt, sizeof(rcpt), "r%u@example.com", k);
		assert_int_equal(submit(f->ob, "q@x", rcpt), id);
		outbox_flush(f->ob);
		after[0] = delivery_of(f, id, d.plugin);
		assert_true(after[0].gen > d.gen);
		assert_int_equal(after[0].crashes, k - 1);
		assert_int_equal(after[0].attempts, 0);
		/* The worker dies: the crash is the delivery's. */
		assert_int_equal(next_worker_looks(f, after), 1);
		d = delivery_of(f, id, d.plugin);
		assert_int_equal(d.crashes, k);
	}
	assert_int_equal(d.state, OUTBOX_DEAD);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(find_sees_the_writer_and_the_index_alike),
		T(find_has_no_gap_between_the_writer_and_the_index),
		T(logged_counts_what_only_the_log_holds),
		T(a_reader_outbox_submits_straight),
		T(an_entry_goes_from_due_to_done),
		T(a_delivery_that_kills_the_worker_is_found_and_dead_lettered),
		T(a_copy_never_revives_a_delivery_that_killed_the_worker),
		T(a_crash_counts_though_a_copy_folded_during_the_delivery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

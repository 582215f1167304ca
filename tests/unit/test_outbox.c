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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_queue.c - the durable outbox on real LMDB files. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "deliver.h"
#include "outbox/ob_int.h"
#include "status.h"
#include "store_int.h"
#include "testutil.h"

struct fx {
	char *dir;
	char path[300];
	struct store *st;
};

static char p_local[] = "local", p_webhook[] = "webhook";
static char *const two_plugins[] = { p_local, p_webhook, NULL };
static const char *const rcpts[] = { "support@example.com", "alice@example.com" };
static const char raw[] = "Subject: hi\r\n\r\nbody\0with a NUL\r\n";
/* The content digest of raw, as the milter would give it (any 64 digits). */
#define DIG "5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa"
#define DIG2 "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
static const struct retry_policy pol = RETRY_POLICY_DEFAULT;

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts o = { .mapsize = 64 << 20, .create = true };
	const char *err;

	if (f == NULL || (f->dir = scratch_dir()) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	if (store_open(f->path, &o, &f->st, &err) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static struct store_txn *
begin(struct fx *f, bool write)
{
	struct store_txn *t;
	const char *err;

	assert_int_equal(store_txn_begin(f->st, write, &t, &err), 0);
	return t;
}

static void
commit(struct store_txn *t)
{
	const char *err;

	assert_int_equal(store_txn_commit(t, &err), 0);
}

static uint64_t
put(struct fx *f, const char *mid, int64_t received)
{
	struct outbox_item it = {
		.direction = 0, .received = received, .queue_id = "4XyZ",
		.envelope_from = "ann@ext.example", .rcpts = rcpts, .nrcpts = 2,
		.message_id = mid, .decision = "{\"mailboxes\":[]}",
		.raw = raw, .raw_len = sizeof(raw) - 1, .digest = DIG,
	};
	struct store_txn *t = begin(f, true);
	const char *err;
	uint64_t id;

	assert_int_equal(ob_table_put(t, &it, NULL, two_plugins, &id, &err), 0);
	commit(t);
	return id;
}

static void
put_then_get_round_trips(void **state)
{
	struct fx *f = *state;
	uint64_t id = put(f, "m1@ext.example", 1000), id2;
	struct store_txn *t = begin(f, false);
	struct outbox_msg *m;
	const char *err;

	assert_int_equal(ob_table_get(t, id, &m, &err), 0);
	assert_int_equal(m->raw_len, sizeof(raw) - 1);
	assert_memory_equal(m->raw, raw, sizeof(raw) - 1);
	assert_string_equal(m->envelope_from, "ann@ext.example");
	assert_int_equal(m->nrcpts, 2);
	assert_string_equal(m->rcpts[1], "alice@example.com");
	assert_string_equal(m->message_id, "m1@ext.example");
	assert_string_equal(m->decision, "{\"mailboxes\":[]}");
	assert_int_equal(m->received, 1000);
	outbox_msg_free(m);
	assert_int_equal(ob_table_find_message_id(t, "m1@ext.example", &id2, &err),
	    0);
	assert_int_equal(id2, id);
	assert_int_equal(ob_table_find_message_id(t, "M1@ext.example", &id2, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_get(t, id + 100, &m, &err), DV_ENOTFOUND);
	/* The envelope alone: no copy of the message. */
	assert_int_equal(ob_table_get_envelope(t, id, &m, &err), 0);
	assert_null(m->raw);
	assert_int_equal(m->raw_len, sizeof(raw) - 1);
	assert_string_equal(m->message_id, "m1@ext.example");
	assert_string_equal(m->rcpts[1], "alice@example.com");
	outbox_msg_free(m);
	assert_int_equal(ob_table_get_envelope(t, id + 100, &m, &err),
	    DV_ENOTFOUND);
	assert_true(ob_table_exists(t, id));
	assert_false(ob_table_exists(t, id + 100));
	{
		struct outbox_delivery d[4];
		size_t nd;

		assert_int_equal(ob_table_deliveries(t, id, d, 4, &nd, &err), 0);
		assert_int_equal(nd, 2);
		assert_string_equal(d[0].plugin, "local");
		assert_string_equal(d[1].plugin, "webhook");
		assert_int_equal(d[1].state, OUTBOX_PENDING);
		assert_int_equal(ob_table_deliveries(t, id, d, 1, &nd, &err), 0);
		assert_int_equal(nd, 1);
		assert_int_equal(ob_table_deliveries(t, id + 100, d, 4, &nd, &err),
		    0);
		assert_int_equal(nd, 0);
	}
	store_txn_abort(t);
	assert_true(put(f, NULL, 1000) > id);
}

static void
deliveries_fall_due_in_time_order(void **state)
{
	struct fx *f = *state;
	uint64_t a = put(f, "a@x", 2000), b = put(f, "b@x", 1000);
	struct store_txn *t = begin(f, false);
	struct outbox_delivery d;
	int64_t next;
	const char *err;

	assert_int_equal(ob_table_next_due(t, 999, &d, &next, &err), DV_ENOTFOUND);
	assert_int_equal(next, 1000);
	assert_int_equal(ob_table_next_due(t, 5000, &d, &next, &err), 0);
	assert_int_equal(d.id, b);	/* the older one first */
	assert_string_equal(d.plugin, "local");
	assert_int_equal(d.state, OUTBOX_PENDING);
	store_txn_abort(t);
	(void)a;
}

static void
success_marks_done_with_ids(void **state)
{
	struct fx *f = *state;
	uint64_t id = put(f, "m@x", 1000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	const char *err;

	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = 0, .result = OUTBOX_OK,
	    .activity_id = "act-1", .case_id = "CAS-01001", .retry_after = 0,
	    .now = 1001, .policy = &pol, .jitter = 0.5 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_int_equal(d.attempts, 1);
	commit(t);
	t = begin(f, false);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err), 0);
	assert_string_equal(d.activity_id, "act-1");
	assert_string_equal(d.case_id, "CAS-01001");
	/* Only webhook is still due. */
	assert_int_equal(ob_table_next_due(t, 5000, &d, NULL, &err), 0);
	assert_string_equal(d.plugin, "webhook");
	store_txn_abort(t);
}

static void
transient_failure_backs_off(void **state)
{
	struct fx *f = *state;
	uint64_t id = put(f, "m@x", 1000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	int64_t next;
	const char *err;

	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = 0, .result = OUTBOX_TRANSIENT,
	    .error = "down", .retry_after = 0, .now = 1000, .policy = &pol,
	    .jitter = 1.0 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.next_at, 1000 + 30);
	assert_string_equal(d.last_error, "down");
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "webhook", .gen = 0, .result = OUTBOX_TRANSIENT,
	    .error = "429", .retry_after = 600, .now = 1000, .policy = &pol,
	    .jitter = 0.0 }, &d, &err), 0);
	assert_int_equal(d.next_at, 1600);	/* Retry-After wins */
	commit(t);
	t = begin(f, false);
	assert_int_equal(ob_table_next_due(t, 1029, &d, &next, &err), DV_ENOTFOUND);
	assert_int_equal(next, 1030);
	assert_int_equal(ob_table_next_due(t, 1030, &d, NULL, &err), 0);
	assert_string_equal(d.plugin, "local");
	store_txn_abort(t);
}

static void
backoff_doubles_with_jitter_and_cap(void **state)
{
	assert_int_equal(retry_backoff(&pol, 1, 1.0), 30);
	assert_int_equal(retry_backoff(&pol, 1, 0.0), 15);
	assert_int_equal(retry_backoff(&pol, 2, 1.0), 60);
	assert_int_equal(retry_backoff(&pol, 4, 1.0), 240);
	assert_int_equal(retry_backoff(&pol, 30, 1.0), 3600);
	assert_int_equal(retry_backoff(&pol, 30, 0.0), 1800);
	for (double j = 0; j < 1; j += 0.1) {
		int64_t v = retry_backoff(&pol, 3, j);
		assert_true(v >= 60 && v <= 120);
	}
}

static void
permanent_or_exhausted_goes_dead_and_retry_revives(void **state)
{
	struct fx *f = *state;
	struct retry_policy few = { .base_delay = 10, .max_delay = 100,
	    .max_attempts = 2 };
	uint64_t id = put(f, "m@x", 1000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	const char *err;

	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = 0, .result = OUTBOX_PERMANENT,
	    .error = "HTTP 400", .retry_after = 0, .now = 1000, .policy = &few,
	    .jitter = 0.5 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DEAD);
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "webhook", .gen = 0, .result = OUTBOX_TRANSIENT,
	    .error = "x", .retry_after = 0, .now = 1000, .policy = &few,
	    .jitter = 0.5 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "webhook", .gen = 0, .result = OUTBOX_TRANSIENT,
	    .error = "x", .retry_after = 0, .now = 1100, .policy = &few,
	    .jitter = 0.5 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DEAD);
	assert_non_null(strstr(d.last_error, "gave up after 2 attempts"));
	assert_int_equal(ob_table_next_due(t, 99999, &d, NULL, &err), DV_ENOTFOUND);

	assert_int_equal(ob_table_retry(t, id, "local", 2000, &err), 0);
	assert_int_equal(ob_table_next_due(t, 2000, &d, NULL, &err), 0);
	assert_string_equal(d.plugin, "local");
	assert_int_equal(d.attempts, 0);
	assert_int_equal(ob_table_retry(t, id, NULL, 2000, &err), 0);
	commit(t);
}

static int
count_cb(void *arg, uint64_t id, const struct outbox_delivery *d, size_t nd)
{
	size_t *n = arg;

	n[0]++;
	n[1] += nd;
	return 0;
}

static void
drop_removes_everything(void **state)
{
	struct fx *f = *state;
	uint64_t id = put(f, "gone@x", 1000), keep = put(f, "keep@x", 1000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	size_t n[2] = { 0, 0 };
	uint64_t found;
	const char *err;

	assert_int_equal(ob_table_drop(t, id, &err), 0);
	assert_int_equal(ob_table_drop(t, id, &err), DV_ENOTFOUND);
	assert_int_equal(ob_table_find_message_id(t, "gone@x", &found, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_foreach(t, count_cb, n, &err), 0);
	assert_int_equal(n[0], 1);
	assert_int_equal(n[1], 2);
	assert_int_equal(ob_table_next_due(t, 5000, &d, NULL, &err), 0);
	assert_int_equal(d.id, keep);
	commit(t);
}

static void
state_survives_reopening_the_store(void **state)
{
	struct fx *f = *state;
	uint64_t id = put(f, "m@x", 1000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	const char *err;

	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = 0, .result = OUTBOX_OK,
	    .activity_id = "a", .case_id = "", .retry_after = 0, .now = 1000,
	    .policy = &pol, .jitter = 0.5 }, NULL, &err), 0);
	commit(t);
	store_close(f->st);		/* as a crash or restart would */
	assert_int_equal(store_open(f->path, NULL, &f->st, &err), 0);
	t = begin(f, false);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_int_equal(ob_table_next_due(t, 5000, &d, NULL, &err), 0);
	assert_string_equal(d.plugin, "webhook");
	store_txn_abort(t);
	/* Ids keep growing after a restart. */
	assert_true(put(f, NULL, 1000) > id);
}

static void
uncommitted_put_leaves_no_trace(void **state)
{
	struct fx *f = *state;
	struct outbox_item it = { .received = 1, .raw = raw, .raw_len = 4,
	    .message_id = "ghost@x" };
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	uint64_t id;
	const char *err;

	assert_int_equal(ob_table_put(t, &it, NULL, two_plugins, &id, &err), 0);
	store_txn_abort(t);		/* the milter tempfails instead */
	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, "ghost@x", &id, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_next_due(t, 5000, &d, NULL, &err), DV_ENOTFOUND);
	store_txn_abort(t);
}

static void
long_message_id_is_indexed_by_digest(void **state)
{
	struct fx *f = *state;
	char mid[1000];
	uint64_t id, found;
	struct store_txn *t;
	const char *err;

	memset(mid, 'x', sizeof(mid) - 1);
	mid[sizeof(mid) - 1] = '\0';
	id = put(f, mid, 5);
	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, mid, &found, &err), 0);
	assert_int_equal(found, id);
	store_txn_abort(t);
}

static void
missing_fields_and_8bit_envelope_round_trip(void **state)
{
	struct fx *f = *state;
	static const char *const bad_rcpts[] = { "j\xf6rg@example.com" };
	struct outbox_item it = { .received = 7, .raw = "x", .raw_len = 1,
	    .envelope_from = "ren\xe9@ext.example", .rcpts = bad_rcpts,
	    .nrcpts = 1 };		/* no queue id, Message-ID, decision */
	struct store_txn *t = begin(f, true);
	struct outbox_msg *m;
	uint64_t id;
	const char *err;

	assert_int_equal(ob_table_put(t, &it, NULL, two_plugins, &id, &err), 0);
	commit(t);
	t = begin(f, true);
	assert_int_equal(ob_table_get(t, id, &m, &err), 0);
	assert_null(m->queue_id);
	assert_null(m->message_id);
	assert_null(m->decision);
	assert_string_equal(m->envelope_from, "ren\xef\xbf\xbd@ext.example");
	assert_string_equal(m->rcpts[0], "j\xef\xbf\xbdrg@example.com");
	outbox_msg_free(m);
	assert_int_equal(ob_table_drop(t, id, &err), 0);
	commit(t);
}

static void
orphan_due_entry_does_not_block_the_queue(void **state)
{
	struct fx *f = *state;
	uint64_t a = put(f, "a@x", 1000), b = put(f, "b@x", 2000);
	struct store_txn *t = begin(f, true);
	struct outbox_delivery d;
	unsigned char kb[8 + 5];
	MDB_val k = { sizeof(kb), kb };
	const char *err;

	/* Lose the delivery records of a, as a damaged store might. */
	for (int i = 7, v = (int)a; i >= 0; i--, v >>= 8)
		kb[i] = (unsigned char)(v & 0xff);
	memcpy(kb + 8, "local", 5);
	assert_int_equal(mdb_del(t->txn, f->st->qdel, &k, NULL), 0);
	assert_int_equal(ob_table_next_due(t, 5000, &d, NULL, &err), 0);
	assert_true(d.id == a || d.id == b);
	assert_string_equal(d.plugin, d.id == a ? "webhook" : "local");
	commit(t);
}

static void record(struct fx *f, uint64_t id, const char *plugin,
    enum outbox_result o);

/* Put @it in a transaction of its own; its id. */
static uint64_t
put_item(struct fx *f, const struct outbox_item *it)
{
	struct store_txn *t = begin(f, true);
	const char *err;
	uint64_t id;

	assert_int_equal(ob_table_put(t, it, NULL, two_plugins, &id, &err), 0);
	commit(t);
	return id;
}

/* Entry @id as stored; freed by the caller. */
static struct outbox_msg *
get_msg(struct fx *f, uint64_t id)
{
	struct store_txn *t = begin(f, false);
	struct outbox_msg *m;
	const char *err;

	assert_int_equal(ob_table_get(t, id, &m, &err), 0);
	store_txn_abort(t);
	return m;
}

static uint64_t
find_mid(struct fx *f, const char *mid)
{
	struct store_txn *t = begin(f, false);
	const char *err;
	uint64_t id = 0;

	assert_int_equal(ob_table_find_message_id(t, mid, &id, &err), 0);
	store_txn_abort(t);
	return id;
}

/*
 * The attack: a 5-byte mail to bob@ reuses the Message-ID of a case
 * mail to support@. It becomes an entry of its own that names the
 * first; the first keeps its content, recipients and done deliveries;
 * the Message-ID still finds the first; each message's copies fold into
 * its own entry.
 */
static void
a_different_message_reusing_a_message_id_is_an_entry_of_its_own(void **state)
{
	static const char case_raw[] = "Subject: printer\r\n\r\nbroken\r\n";
	static const char *const sup[] = { "support@example.com" };
	static const char *const bob[] = { "bob@example.com" };
	static const char *const carol[] = { "carol@example.com" };
	static const char *const alice[] = { "alice@example.com" };
	struct fx *f = *state;
	struct outbox_item a = { .received = 1000, .raw = case_raw,
	    .raw_len = sizeof(case_raw) - 1, .message_id = "case@ext.example",
	    .digest = DIG, .rcpts = sup, .nrcpts = 1,
	    .decision = "{\"mailboxes\":[{\"address\":\"support@example.com\"}]}" };
	struct outbox_item b = { .received = 2000, .raw = "hello",
	    .raw_len = 5, .message_id = "case@ext.example", .digest = DIG2,
	    .rcpts = bob, .nrcpts = 1,
	    .decision = "{\"mailboxes\":[{\"address\":\"bob@example.com\"}]}" };
	struct outbox_delivery d;
	struct outbox_msg *m;
	struct store_txn *t;
	uint64_t ia, ib, id;
	const char *err;

	ia = put_item(f, &a);
	record(f, ia, "local", OUTBOX_OK);
	ib = put_item(f, &b);
	assert_true(ib != ia);
	m = get_msg(f, ib);
	assert_int_equal(m->collided_with, ia);
	assert_string_equal(m->digest, DIG2);
	assert_int_equal(m->raw_len, 5);
	assert_memory_equal(m->raw, "hello", 5);
	assert_null(strstr(m->decision, "support@"));
	outbox_msg_free(m);
	/* The first: its content, recipients, mailboxes and outcome. */
	m = get_msg(f, ia);
	assert_int_equal(m->collided_with, 0);
	assert_string_equal(m->digest, DIG);
	assert_int_equal(m->nrcpts, 1);
	assert_string_equal(m->rcpts[0], "support@example.com");
	assert_null(strstr(m->decision, "bob@"));
	assert_memory_equal(m->raw, case_raw, sizeof(case_raw) - 1);
	outbox_msg_free(m);
	t = begin(f, false);
	assert_int_equal(ob_table_delivery_get(t, ia, "local", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DONE);
	store_txn_abort(t);
	/* Replies find the first. */
	assert_int_equal(find_mid(f, "case@ext.example"), ia);

	/* A copy of the second (another transaction) folds into it... */
	b.rcpts = carol;
	assert_int_equal(put_item(f, &b), ib);
	m = get_msg(f, ib);
	assert_int_equal(m->nrcpts, 2);
	outbox_msg_free(m);
	/* ...and one of the first into the first. */
	a.rcpts = alice;
	assert_int_equal(put_item(f, &a), ia);
	assert_int_equal(find_mid(f, "case@ext.example"), ia);

	/* Dropping the second leaves the first where it is; a copy of the
	 * second then makes a new entry, colliding again. */
	t = begin(f, true);
	assert_int_equal(ob_table_drop(t, ib, &err), 0);
	commit(t);
	assert_int_equal(find_mid(f, "case@ext.example"), ia);
	id = put_item(f, &b);
	assert_true(id != ia && id != ib);
	m = get_msg(f, id);
	assert_int_equal(m->collided_with, ia);
	outbox_msg_free(m);
}

/*
 * An entry stored before content digests has none: a new message with
 * its Message-ID never folds into it (it may be another message) and
 * does not take the Message-ID from it; nor do two without a digest.
 */
static void
an_entry_without_a_digest_never_folds(void **state)
{
	struct fx *f = *state;
	struct outbox_item old = { .received = 1000, .raw = raw,
	    .raw_len = sizeof(raw) - 1, .message_id = "old@ext.example",
	    .rcpts = rcpts, .nrcpts = 1 };
	struct outbox_item now = old;
	struct outbox_msg *m;
	uint64_t io, in, again;

	now.digest = DIG;
	io = put_item(f, &old);
	m = get_msg(f, io);
	assert_null(m->digest);
	outbox_msg_free(m);
	in = put_item(f, &now);
	assert_true(in != io);
	m = get_msg(f, in);
	assert_int_equal(m->collided_with, io);
	outbox_msg_free(m);
	assert_int_equal(find_mid(f, "old@ext.example"), io);
	again = put_item(f, &old);
	assert_true(again != io && again != in);
	/* The new one's own copies still fold. */
	assert_int_equal(put_item(f, &now), in);
}

/*
 * A damaged Message-ID index record names nothing: a message with that
 * Message-ID is stored as new (not refused for ever), and the record is
 * written again.
 */
static void
a_damaged_message_id_record_does_not_refuse_the_message(void **state)
{
	struct fx *f = *state;
	struct outbox_item it = { .received = 1000, .raw = raw,
	    .raw_len = sizeof(raw) - 1, .message_id = "bad@x", .digest = DIG,
	    .rcpts = rcpts, .nrcpts = 1 };
	MDB_val k = { 5, (void *)"bad@x" }, v = { 3, (void *)"bad" };
	struct store_txn *t = begin(f, true);
	uint64_t id;

	assert_int_equal(mdb_put(t->txn, f->st->qmsgid, &k, &v, 0), 0);
	commit(t);
	id = put_item(f, &it);
	assert_int_equal(find_mid(f, "bad@x"), id);
	assert_int_equal(put_item(f, &it), id);		/* and copies fold */
}

static void
same_message_again_is_folded_into_one_entry(void **state)
{
	struct fx *f = *state;
	static const char *const r1[] = { "support@example.com" };
	static const char *const r2[] = { "alice@example.com" };
	struct outbox_item a = { .received = 1000, .raw = raw,
	    .raw_len = sizeof(raw) - 1, .message_id = "dup@ext.example",
	    .digest = DIG,
	    .rcpts = r1, .nrcpts = 1, .decision = "{\"direction\":\"incoming\","
	    "\"mailboxes\":[{\"address\":\"support@example.com\"}]}" };
	struct outbox_item b = a;
	struct store_txn *t;
	struct outbox_delivery d;
	struct outbox_msg *m;
	uint64_t id1, id2;
	const char *err;

	b.rcpts = r2;
	b.received = 2000;
	b.decision = "{\"direction\":\"incoming\",\"mailboxes\":"
	    "[{\"address\":\"alice@example.com\"}]}";
	t = begin(f, true);
	assert_int_equal(ob_table_put(t, &a, NULL, two_plugins, &id1, &err), 0);
	assert_int_equal(ob_table_record(t,
	    &(struct outbox_attempt){ .id = id1, .plugin = "local", .gen = 0,
	    .result = OUTBOX_OK, .activity_id = "act", .case_id = "",
	    .retry_after = 0, .now = 1001, .policy = &pol, .jitter = 0.5 },
	    NULL, &err), 0);
	assert_int_equal(ob_table_put(t, &b, NULL, two_plugins, &id2, &err), 0);
	assert_int_equal(id2, id1);
	assert_int_equal(ob_table_get(t, id1, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);
	assert_non_null(strstr(m->decision, "support@example.com"));
	assert_non_null(strstr(m->decision, "alice@example.com"));
	assert_int_equal(m->raw_len, sizeof(raw) - 1);
	assert_memory_equal(m->raw, raw, sizeof(raw) - 1);
	outbox_msg_free(m);
	/* The plugin that had it gets it again, now with both mailboxes. */
	assert_int_equal(ob_table_delivery_get(t, id1, "local", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.next_at, 2000);
	/* A third copy changes nothing more. */
	assert_int_equal(ob_table_put(t, &b, NULL, two_plugins, &id2, &err), 0);
	assert_int_equal(ob_table_get(t, id1, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);
	outbox_msg_free(m);
	commit(t);
}

static void
merge_during_a_delivery_is_not_lost(void **state)
{
	struct fx *f = *state;
	struct outbox_item a = { .received = 1000, .raw = raw,
	    .raw_len = sizeof(raw) - 1, .message_id = "race@ext.example",
	    .digest = DIG,
	    .decision = "{\"mailboxes\":[{\"address\":\"a@example.com\"}]}" };
	struct outbox_item b = a;
	struct store_txn *t;
	struct outbox_delivery d;
	uint64_t id, id2, taken;
	const char *err;

	b.decision = "{\"mailboxes\":[{\"address\":\"b@example.com\"}]}";
	b.received = 1001;
	t = begin(f, true);
	assert_int_equal(ob_table_put(t, &a, NULL, two_plugins, &id, &err), 0);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err), 0);
	taken = d.gen;			/* the worker takes it... */
	assert_int_equal(ob_table_put(t, &b, NULL, two_plugins, &id2, &err), 0);
	assert_int_equal(id2, id);	/* ...a copy is merged meanwhile... */
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = taken, .result = OUTBOX_OK,
	    .activity_id = "act", .case_id = "", .retry_after = 0, .now = 1002,
	    .policy = &pol, .jitter = 0.5 }, &d, &err), 0);
	/* ...so the outcome of the older attempt does not close it. */
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(ob_table_next_due(t, 1001, &d, NULL, &err), 0);
	assert_int_equal(d.id, id);
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = "local", .gen = d.gen, .result = OUTBOX_OK,
	    .activity_id = "act", .case_id = "", .retry_after = 0, .now = 1003,
	    .policy = &pol, .jitter = 0.5 }, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DONE);
	commit(t);
}

/* The delivery of @id to @plugin as stored. */
static struct outbox_delivery
stored_delivery(struct fx *f, uint64_t id, const char *plugin)
{
	struct store_txn *t = begin(f, false);
	struct outbox_delivery d;
	const char *err;

	assert_int_equal(ob_table_delivery_get(t, id, plugin, &d, &err), 0);
	store_txn_abort(t);
	return d;
}

/*
 * A copy that brings nothing new (a client retrying) re-arms nothing:
 * done stays done, dead stays dead, nothing is delivered again. One
 * with a new mailbox re-arms every delivery, a permanent failure
 * included: the plugin judges the fuller entry.
 */
static void
a_copy_rearms_only_when_it_brings_a_mailbox_or_recipient(void **state)
{
	struct fx *f = *state;
	static const char *const r1[] = { "support@example.com" };
	struct outbox_item a = { .received = 1000, .raw = raw,
	    .raw_len = sizeof(raw) - 1, .message_id = "again@ext.example",
	    .digest = DIG, .rcpts = r1, .nrcpts = 1,
	    .decision = "{\"mailboxes\":[{\"address\":\"support@example.com\"}]}" };
	struct outbox_item b = a;
	struct outbox_delivery l0, w0, l, w;
	uint64_t id;

	id = put_item(f, &a);
	record(f, id, "local", OUTBOX_OK);
	record(f, id, "webhook", OUTBOX_PERMANENT);
	l0 = stored_delivery(f, id, "local");
	w0 = stored_delivery(f, id, "webhook");
	a.received = 1500;
	assert_int_equal(put_item(f, &a), id);
	l = stored_delivery(f, id, "local");
	w = stored_delivery(f, id, "webhook");
	assert_int_equal(l.state, OUTBOX_DONE);
	assert_int_equal(l.gen, l0.gen);
	assert_int_equal(w.state, OUTBOX_DEAD);
	assert_int_equal(w.gen, w0.gen);
	assert_int_equal(w.attempts, 1);

	b.received = 2000;
	b.decision = "{\"mailboxes\":[{\"address\":\"alice@example.com\"}]}";
	assert_int_equal(put_item(f, &b), id);
	l = stored_delivery(f, id, "local");
	w = stored_delivery(f, id, "webhook");
	assert_int_equal(l.state, OUTBOX_PENDING);
	assert_int_equal(l.next_at, 2000);
	assert_int_equal(w.state, OUTBOX_PENDING);
	assert_int_equal(w.attempts, 0);
	assert_true(w.gen > w0.gen);
}

/* Record @outcome for @plugin of @id (gen 0: never re-armed). */
static void
record(struct fx *f, uint64_t id, const char *plugin, enum outbox_result o)
{
	struct store_txn *t = begin(f, true);
	const char *err;

	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = id,
	    .plugin = plugin, .gen = 0, .result = o, .error = o ? "no" : NULL,
	    .activity_id = o ? NULL : "act-1", .retry_after = 0, .now = 1000,
	    .policy = &pol, .jitter = 0.5 }, NULL, &err), 0);
	commit(t);
}

static size_t
prune(struct fx *f, int64_t before, size_t max, struct outbox_prune_pos *pos,
    bool *more)
{
	struct store_txn *t = begin(f, false);
	uint64_t ids[16];
	const char *err;
	size_t n, pruned;

	assert_true(max <= 16);
	assert_int_equal(ob_table_prune_scan(t, before, max, pos, ids, &n, more,
	    &err), 0);
	store_txn_abort(t);
	t = begin(f, true);
	assert_int_equal(ob_table_prune_ids(t, ids, n, before, 9000, &pruned,
	    &err), 0);
	commit(t);
	return pruned;
}

static void
retention_removes_the_text_of_old_done_entries_only(void **state)
{
	struct fx *f = *state;
	uint64_t a = put(f, "a@x", 1000), b = put(f, "b@x", 1000),
	    p = put(f, "p@x", 1200), c = put(f, "c@x", 1500),
	    d = put(f, "d@x", 5000), id;
	struct outbox_prune_pos pos = { 0 };
	struct outbox_delivery del;
	struct store_txn *t;
	struct outbox_msg *m;
	const char *err;
	size_t total = 0;
	bool more;

	for (uint64_t i = a; i <= d; i++) {
		if (i != p)	/* p stays pending */
			record(f, i, "local", OUTBOX_OK);
		record(f, i, "webhook", i == b ? OUTBOX_PERMANENT : OUTBOX_OK);
	}
	/* At most one entry per pass: a, then b (dead) and p (pending),
	 * kept, then c; d is too new and ends the round. */
	do
		total += prune(f, 2000, 1, &pos, &more);
	while (more);
	assert_int_equal(total, 2);
	assert_int_equal(pos.next, p);	/* the next round: first pending */

	t = begin(f, false);
	assert_int_equal(ob_table_get(t, a, &m, &err), 0);
	assert_int_equal(m->raw_len, 0);
	assert_int_equal(m->pruned, 9000);
	assert_string_equal(m->message_id, "a@x");
	assert_string_equal(m->rcpts[0], "support@example.com");
	outbox_msg_free(m);
	assert_int_equal(ob_table_delivery_get(t, a, "local", &del, &err), 0);
	assert_int_equal(del.state, OUTBOX_DONE);
	assert_string_equal(del.activity_id, "act-1");
	assert_int_equal(ob_table_find_message_id(t, "a@x", &id, &err), 0);
	assert_int_equal(id, a);
	for (uint64_t i = b; i <= d; i += i == b ? p - b : d - p) {
		/* b, p and d: whole */
		assert_int_equal(ob_table_get(t, i, &m, &err), 0);
		assert_int_equal(m->raw_len, sizeof(raw) - 1);
		assert_int_equal(m->pruned, 0);
		outbox_msg_free(m);
	}
	assert_int_equal(ob_table_get(t, c, &m, &err), 0);
	assert_int_equal(m->raw_len, 0);
	outbox_msg_free(m);
	store_txn_abort(t);

	/* Nothing more to do in the next round, until p is done. */
	assert_int_equal(prune(f, 2000, 16, &pos, &more), 0);
	assert_false(more);
	assert_int_equal(pos.next, p);
	record(f, p, "local", OUTBOX_OK);
	assert_int_equal(prune(f, 2000, 16, &pos, &more), 1);
	assert_int_equal(pos.next, d);	/* nothing pending before d now */

	/* What a scan found is checked again when it is applied. */
	id = put(f, "late@x", 5000);
	record(f, id, "local", OUTBOX_OK);
	record(f, id, "webhook", OUTBOX_OK);
	{
		struct outbox_prune_pos from0 = { 0 };
		uint64_t ids[16];
		size_t n, pruned;

		t = begin(f, false);
		assert_int_equal(ob_table_prune_scan(t, 6000, 16, &from0, ids, &n,
		    &more, &err), 0);
		store_txn_abort(t);
		assert_int_equal(n, 2);		/* d and late@x */
		t = begin(f, true);
		assert_int_equal(ob_table_drop(t, id, &err), 0);	/* meanwhile */
		assert_int_equal(ob_table_prune_ids(t, ids, n, 6000, 9000, &pruned,
		    &err), 0);
		assert_int_equal(pruned, 1);	/* d; the dropped one is left */
		commit(t);
	}

	/* A copy of a pruned message gets an entry of its own. */
	id = put(f, "a@x", 6000);
	assert_true(id > d);
	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, "a@x", &id, &err), 0);
	assert_true(id > d);
	assert_int_equal(ob_table_get(t, a, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);		/* not merged into */
	outbox_msg_free(m);
	store_txn_abort(t);
}

static void
retention_lets_the_store_reuse_the_space(void **state)
{
	static char big[1 << 20];
	struct fx *f = *state;
	struct outbox_prune_pos pos = { 0 };
	char datafile[400];
	struct stat sb;
	off_t before_prune = 0;
	bool more;

	(void)state;
	memset(big, 'x', sizeof(big));
	snprintf(datafile, sizeof(datafile), "%s/data.mdb", f->path);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 8; i++) {
			struct outbox_item it = { .received = 1000 + round,
			    .raw = big, .raw_len = sizeof(big) };
			struct store_txn *t = begin(f, true);
			const char *err;
			uint64_t id;

			assert_int_equal(ob_table_put(t, &it, NULL, NULL, &id,
			    &err), 0);
			commit(t);
		}
		assert_int_equal(stat(datafile, &sb), 0);
		if (round == 0) {
			before_prune = sb.st_size;
			/* No plugins: done at once; all eight go. */
			assert_int_equal(prune(f, 1001, 16, &pos, &more), 8);
		}
	}
	/* The second eight megabytes went where the first were. */
	print_message("# data.mdb: %lld bytes, then %lld\n",
	    (long long)before_prune, (long long)sb.st_size);
	assert_true(sb.st_size < before_prune + before_prune / 4);
}

/* What the outbox writer does: the message first, its index later. */
static uint64_t
put_deferred(struct fx *f, const char *mid, const char *rcpt, uint64_t into)
{
	const char *one[] = { rcpt };
	char dec[200];
	struct outbox_item it = {
		.received = 1000, .envelope_from = "ann@ext.example",
		.rcpts = one, .nrcpts = 1, .message_id = mid,
		.decision = dec, .raw = raw, .raw_len = sizeof(raw) - 1,
		.digest = DIG,
	};
	const struct ob_put how = { .defer_index = true, .merge_into = into };
	struct store_txn *t = begin(f, true);
	const char *err;
	uint64_t id;

	snprintf(dec, sizeof(dec), "{\"mailboxes\":[{\"address\":\"%s\"}]}",
	    rcpt);
	assert_int_equal(ob_table_put(t, &it, &how, two_plugins, &id, &err), 0);
	commit(t);
	return id;
}


static size_t
index_pending(struct fx *f, size_t max, bool *more)
{
	struct store_txn *t = begin(f, true);
	const char *err;
	size_t n;

	assert_int_equal(ob_table_index_pending(t, two_plugins, NULL, 0, max, &n,
	    more, &err), 0);
	commit(t);
	return n;
}

/*
 * A Message-ID with bytes that are not UTF-8 has one key, whether it is
 * given as received or as the record keeps it (U+FFFD), indexed at once
 * or later with a hint, and dropping the entry removes it.
 */
static void
an_8bit_message_id_has_one_key(void **state)
{
	struct fx *f = *state;
	struct ob_index_hint h;
	struct store_txn *t;
	const char *err;
	uint64_t a, b, found;
	size_t n;
	bool more;

	a = put(f, "caf\xe9@x", 1000);
	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, "caf\xe9@x", &found, &err),
	    0);
	assert_int_equal(found, a);
	assert_int_equal(ob_table_find_message_id(t, "caf\xef\xbf\xbd@x",
	    &found, &err), 0);
	store_txn_abort(t);

	(void)index_pending(f, 10, &more);		/* the mark */
	b = put_deferred(f, "th\xe9@x", "support@example.com", 0);
	h = (struct ob_index_hint){ b, "th\xe9@x", 1000, NULL };
	t = begin(f, true);
	assert_int_equal(ob_table_index_pending(t, two_plugins, &h, 1, 10, &n,
	    &more, &err), 0);
	assert_int_equal(ob_table_drop(t, b, &err), 0);
	assert_int_equal(ob_table_find_message_id(t, "th\xe9@x", &found, &err),
	    DV_ENOTFOUND);
	commit(t);
}

static void
deferred_entries_are_indexed_later_in_order(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d[4], due[4];
	struct store_txn *t;
	const char *err;
	uint64_t a, b, c, found;
	size_t nd;
	bool more;

	/* A store without a mark gets one at its last id: put() indexed. */
	a = put(f, "a@x", 1000);
	assert_int_equal(index_pending(f, 10, &more), 0);
	b = put_deferred(f, "b@x", "support@example.com", 0);
	c = put_deferred(f, NULL, "alice@example.com", 0);
	t = begin(f, false);
	assert_true(ob_table_exists(t, b));
	assert_int_equal(ob_table_find_message_id(t, "b@x", &found, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_deliveries(t, b, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 0);
	/* The worker sees only a's deliveries. */
	assert_int_equal(ob_table_due_batch(t, 2000, 4, due, &nd, NULL, &err), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(due[0].id, a);
	store_txn_abort(t);

	/* One at a time: b, then c. */
	assert_int_equal(index_pending(f, 1, &more), 1);
	assert_true(more);
	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, "b@x", &found, &err), 0);
	assert_int_equal(found, b);
	assert_int_equal(ob_table_deliveries(t, c, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 0);
	store_txn_abort(t);
	assert_int_equal(index_pending(f, 10, &more), 1);
	assert_false(more);
	assert_int_equal(index_pending(f, 10, &more), 0);

	t = begin(f, false);
	assert_int_equal(ob_table_deliveries(t, c, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(d[0].state, OUTBOX_PENDING);
	assert_int_equal(d[0].next_at, 1000);
	assert_int_equal(ob_table_due_batch(t, 2000, 4, due, &nd, NULL, &err), 0);
	assert_int_equal(nd, 4);	/* a's two, then b's */
	store_txn_abort(t);
}

static void
indexing_again_keeps_the_deliveries_there(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d;
	struct store_txn *t;
	const char *err;
	uint64_t b;
	bool more;

	(void)index_pending(f, 10, &more);		/* the mark */
	b = put_deferred(f, "b@x", "support@example.com", 0);
	assert_int_equal(index_pending(f, 10, &more), 1);
	t = begin(f, true);
	assert_int_equal(ob_table_record(t, &(struct outbox_attempt){ .id = b,
	    .plugin = "local", .gen = 0, .result = OUTBOX_OK,
	    .activity_id = "A1", .retry_after = 0, .now = 1001, .policy = &pol,
	    .jitter = 0.5 }, NULL, &err), 0);
	/* A crash after this commit, before the mark moved: redone. */
	{
		static char key[] = "queue/indexed";
		MDB_val k = { sizeof(key) - 1, key };
		unsigned char z[8] = { 0 };
		MDB_val v = { 8, z };

		z[7] = (unsigned char)(b - 1);
		assert_int_equal(mdb_put(t->txn, f->st->meta, &k, &v, 0), 0);
	}
	commit(t);
	assert_int_equal(index_pending(f, 10, &more), 1);
	t = begin(f, false);
	assert_int_equal(ob_table_delivery_get(t, b, "local", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_string_equal(d.activity_id, "A1");
	assert_int_equal(ob_table_delivery_get(t, b, "webhook", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	store_txn_abort(t);
}

static void
a_copy_is_folded_into_an_entry_not_indexed_yet(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d[4];
	struct store_txn *t;
	struct outbox_msg *m;
	const char *err;
	uint64_t b, b2, gone;
	size_t nd;
	bool more;

	(void)index_pending(f, 10, &more);
	b = put_deferred(f, "b@x", "support@example.com", 0);
	b2 = put_deferred(f, "b@x", "alice@example.com", b);
	assert_int_equal(b2, b);
	/* Folding creates no deliveries: indexing does, for the union. */
	t = begin(f, false);
	assert_int_equal(ob_table_deliveries(t, b, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 0);
	assert_int_equal(ob_table_get_envelope(t, b, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);
	assert_non_null(strstr(m->decision, "support@example.com"));
	assert_non_null(strstr(m->decision, "alice@example.com"));
	outbox_msg_free(m);
	store_txn_abort(t);
	assert_int_equal(index_pending(f, 10, &more), 1);
	t = begin(f, false);
	assert_int_equal(ob_table_deliveries(t, b, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 2);
	store_txn_abort(t);

	/* An entry dropped meanwhile: the copy gets an entry of its own. */
	gone = put_deferred(f, "c@x", "support@example.com", 0);
	t = begin(f, true);
	assert_int_equal(ob_table_drop(t, gone, &err), 0);
	commit(t);
	b2 = put_deferred(f, "c@x", "alice@example.com", gone);
	assert_true(b2 > gone);
	assert_int_equal(index_pending(f, 10, &more), 1);
}

static void
retention_leaves_entries_not_indexed_yet_alone(void **state)
{
	struct fx *f = *state;
	struct outbox_prune_pos pos = { 0 };
	struct store_txn *t;
	const char *err;
	uint64_t ids[4];
	size_t n;
	bool more;

	(void)index_pending(f, 10, &more);
	(void)put_deferred(f, "b@x", "support@example.com", 0);
	t = begin(f, false);
	assert_int_equal(ob_table_prune_scan(t, 5000, 4, &pos, ids, &n, &more,
	    &err), 0);
	assert_int_equal(n, 0);
	store_txn_abort(t);
}

/* Overwrite entry @id's record with bytes that are not one. */
static void
corrupt_record(struct fx *f, struct store_txn *t, uint64_t id)
{
	unsigned char kb[8];
	static char junk[] = "\x09not a record";
	MDB_val k = { 8, kb }, v = { sizeof(junk) - 1, junk };

	for (int i = 0; i < 8; i++)
		kb[i] = (unsigned char)(id >> (56 - 8 * i));
	assert_int_equal(mdb_put(t->txn, f->st->qmsg, &k, &v, 0), 0);
}

static void
a_corrupt_entry_is_indexed_due_at_once(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d;
	struct store_txn *t;
	const char *err;
	uint64_t bad, good;
	bool more;

	(void)index_pending(f, 10, &more);
	bad = put_deferred(f, "bad@x", "support@example.com", 0);
	good = put_deferred(f, "good@x", "support@example.com", 0);
	t = begin(f, true);
	corrupt_record(f, t, bad);
	commit(t);
	/* It does not hold up the entry after it. */
	assert_int_equal(index_pending(f, 10, &more), 2);
	t = begin(f, false);
	assert_int_equal(ob_table_delivery_get(t, bad, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 0);
	assert_int_equal(ob_table_delivery_get(t, good, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 1000);
	store_txn_abort(t);
}

/*
 * The writer's hints stand in for the records: a hinted entry is indexed
 * with the hint's Message-ID and time, even where its record cannot be
 * read; an entry without one is read as before.
 */
static void
hints_spare_reading_the_entries(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d;
	struct ob_index_hint h[2];
	struct store_txn *t;
	const char *err;
	uint64_t a, b, c, found;
	size_t n;
	bool more;

	(void)index_pending(f, 10, &more);		/* the mark */
	a = put_deferred(f, "a@x", "support@example.com", 0);
	b = put_deferred(f, "b@x", "support@example.com", 0);
	c = put_deferred(f, "c@x", "support@example.com", 0);
	/* b's record is unreadable; its hint is all indexing needs. */
	t = begin(f, true);
	corrupt_record(f, t, b);
	h[0] = (struct ob_index_hint){ b, "b-hinted@x", 1234, NULL };
	h[1] = (struct ob_index_hint){ c, NULL, 1500, NULL };
	assert_int_equal(ob_table_index_pending(t, two_plugins, h, 2, 10, &n,
	    &more, &err), 0);
	assert_int_equal(n, 3);
	commit(t);

	t = begin(f, false);
	assert_int_equal(ob_table_find_message_id(t, "a@x", &found, &err), 0);
	assert_int_equal(found, a);
	assert_int_equal(ob_table_find_message_id(t, "b-hinted@x", &found, &err),
	    0);
	assert_int_equal(found, b);
	assert_int_equal(ob_table_find_message_id(t, "b@x", &found, &err),
	    DV_ENOTFOUND);
	/* c's hint says it has no Message-ID: none is indexed. */
	assert_int_equal(ob_table_find_message_id(t, "c@x", &found, &err),
	    DV_ENOTFOUND);
	assert_int_equal(ob_table_delivery_get(t, a, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 1000);
	assert_int_equal(ob_table_delivery_get(t, b, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 1234);
	assert_int_equal(ob_table_delivery_get(t, c, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 1500);
	store_txn_abort(t);
}

/* Fill @d[i] as the due index would have it. */
static void
due_at(struct outbox_delivery *d, int64_t at, uint64_t id, const char *plugin)
{
	memset(d, 0, sizeof(*d));
	d->next_at = at;
	d->id = id;
	snprintf(d->plugin, sizeof(d->plugin), "%s", plugin);
}

/*
 * One entry's deliveries due at one time go in the order Plugins lists
 * the plugins, not by name; a full batch leaves a run it may have cut
 * for the next one.
 */
static void
deliveries_go_in_the_order_plugins_lists_them(void **state)
{
	static const char *const names[] = { "webhook", "local", NULL };
	static const char *const one[] = { "local", NULL };
	struct outbox_delivery d[4];

	(void)state;
	due_at(&d[0], 10, 1, "local");
	due_at(&d[1], 10, 1, "webhook");
	due_at(&d[2], 10, 2, "local");		/* a retry: alone at 10 */
	due_at(&d[3], 11, 3, "local");
	assert_int_equal(deliver_order(names, d, 4, 32), 4);
	assert_string_equal(d[0].plugin, "webhook");
	assert_int_equal(d[0].id, 1);
	assert_string_equal(d[1].plugin, "local");
	assert_int_equal(d[2].id, 2);
	assert_int_equal(d[3].id, 3);

	/* A full batch: entry 3's run may go on; it waits, whole. */
	due_at(&d[0], 10, 1, "local");
	due_at(&d[1], 10, 1, "webhook");
	due_at(&d[2], 12, 2, "other");		/* not listed: last */
	due_at(&d[3], 12, 3, "local");
	assert_int_equal(deliver_order(names, d, 4, 4), 3);
	assert_string_equal(d[0].plugin, "webhook");
	assert_string_equal(d[1].plugin, "local");
	/* With one delivery per listed plugin a run is whole: no cut. */
	due_at(&d[3], 12, 3, "webhook");
	due_at(&d[2], 12, 3, "local");
	assert_int_equal(deliver_order(names, d, 4, 4), 4);
	assert_string_equal(d[2].plugin, "webhook");
	/* Nor with one plugin, the usual case. */
	assert_int_equal(deliver_order(one, d, 4, 4), 4);

	/* A run that is the whole batch is made all the same. */
	due_at(&d[0], 12, 3, "other");
	due_at(&d[1], 12, 3, "webhook");
	assert_int_equal(deliver_order(names, d, 2, 2), 2);
	assert_string_equal(d[0].plugin, "webhook");
	assert_string_equal(d[1].plugin, "other");
}

/*
 * The writer indexed an entry after the caller's snapshot began, and
 * meanwhile another process grew the store past this process's map: the
 * fresh lookup cannot be made now, and says so instead of a miss.
 */
static void
fresh_lookup_past_our_map_is_a_failure_not_a_miss(void **state)
{
	struct store_opts small = { .mapsize = 1 << 20, .create = true };
	struct fx big = { .dir = scratch_dir() };
	struct store_txn *t;
	const char *err = NULL;
	uint64_t id;
	pid_t pid;
	int status;

	(void)state;
	snprintf(big.path, sizeof(big.path), "%s/db", big.dir);
	assert_int_equal(store_open(big.path, &small, &big.st, &err), 0);
	t = begin(&big, false);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Another process, with a larger map, puts a 2 MB message. */
		struct store_opts o = { .mapsize = 64 << 20 };
		struct outbox_item it = { .received = 1, .queue_id = "4XyZ",
		    .envelope_from = "ann@ext.example", .rcpts = rcpts,
		    .nrcpts = 2, .decision = "{\"mailboxes\":[]}",
		    .raw_len = 2 << 20 };
		struct store *other;
		struct store_txn *w;
		char *body = calloc(1, it.raw_len);

		it.raw = body;
		if (body == NULL || store_open(big.path, &o, &other, &err) != 0 ||
		    store_txn_begin(other, true, &w, &err) != 0 ||
		    ob_table_put(w, &it, NULL, two_plugins, &id, &err) != 0 ||
		    store_txn_commit(w, &err) != 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(ob_table_find_fresh(t, "m1@ext.example", &id, &err),
	    DV_ESTORE);
	assert_non_null(strstr(err, "the store grew"));
	store_txn_abort(t);
	/* With no transaction left, the next one adopts the map. */
	t = begin(&big, false);
	assert_int_equal(ob_table_find_fresh(t, "m1@ext.example", &id, &err),
	    DV_ENOTFOUND);
	store_txn_abort(t);
	store_close(big.st);
	rm_tree(big.dir);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    deferred_entries_are_indexed_later_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    indexing_again_keeps_the_deliveries_there, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_copy_is_folded_into_an_entry_not_indexed_yet, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    retention_leaves_entries_not_indexed_yet_alone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    a_corrupt_entry_is_indexed_due_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    hints_spare_reading_the_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    an_8bit_message_id_has_one_key, setup, teardown),
		T(put_then_get_round_trips),
		T(deliveries_fall_due_in_time_order),
		T(success_marks_done_with_ids),
		T(transient_failure_backs_off),
		cmocka_unit_test(backoff_doubles_with_jitter_and_cap),
		cmocka_unit_test(deliveries_go_in_the_order_plugins_lists_them),
		cmocka_unit_test(fresh_lookup_past_our_map_is_a_failure_not_a_miss),
		T(permanent_or_exhausted_goes_dead_and_retry_revives),
		T(drop_removes_everything),
		T(state_survives_reopening_the_store),
		T(uncommitted_put_leaves_no_trace),
		T(long_message_id_is_indexed_by_digest),
		T(missing_fields_and_8bit_envelope_round_trip),
		T(orphan_due_entry_does_not_block_the_queue),
		T(same_message_again_is_folded_into_one_entry),
		T(a_copy_rearms_only_when_it_brings_a_mailbox_or_recipient),
		T(merge_during_a_delivery_is_not_lost),
		T(a_different_message_reusing_a_message_id_is_an_entry_of_its_own),
		T(an_entry_without_a_digest_never_folds),
		T(a_damaged_message_id_record_does_not_refuse_the_message),
		T(retention_removes_the_text_of_old_done_entries_only),
		T(retention_lets_the_store_reuse_the_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

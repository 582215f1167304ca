/*
 * test_qlog.c - the outbox log (ob_log.c) and its payloads (ob_item.c): what
 * is appended is read back in order, once, across laps of the ring; a
 * torn or damaged record ends reading, and nothing after it ever passes
 * for a record; a log of another store is set aside.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "le.h"
#include "outbox/ob_int.h"
#include "status.h"
#include "store.h"
#include "testutil.h"

#define RING OB_LOG_RING_MIN

/* What replay saw: each payload's first byte and length, and its LSN. */
struct seen {
	int n;
	unsigned char first[4096];
	size_t len[4096];
	uint64_t lsn[4096];
};

static int
note(const struct ob_log_rec *rec, uint64_t lsn, void *arg)
{
	struct seen *s = arg;
	const unsigned char *p = rec->data;

	/* Every byte of a payload made by payload() is the same. */
	for (size_t i = 1; i < rec->len; i++)
		assert_int_equal(p[i], p[0]);
	s->first[s->n] = rec->len > 0 ? p[0] : 0;
	s->len[s->n] = rec->len;
	s->lsn[s->n++] = lsn;
	return 0;
}

static struct ob_log_rec
payload(unsigned char c, size_t len)
{
	unsigned char *p = malloc(len > 0 ? len : 1);

	memset(p, c, len);
	return (struct ob_log_rec){ p, len };
}

static struct ob_log *
open_log(const char *path, uint64_t ident, uint64_t start, struct seen *s)
{
	struct ob_log *q;
	const char *err;

	memset(s, 0, sizeof(*s));
	assert_int_equal(ob_log_open(path, RING, ident, start, note, s, &q,
	    &err), 0);
	return q;
}

static uint64_t
append1(struct ob_log *q, unsigned char c, size_t len)
{
	struct ob_log_rec r = payload(c, len);
	const char *err;
	uint64_t lsn;

	assert_int_equal(ob_log_append(q, &r, 1, &lsn, &err), 0);
	free((void *)r.data);
	return lsn;
}

static void
records_come_back_in_order_from_where_asked(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct ob_log_rec r[3];
	struct seen s;
	struct ob_log *q;
	const char *err;
	uint64_t lsns[3], ident, end;

	(void)state;
	snprintf(path, sizeof(path), "%s/outbox.log", dir);
	q = open_log(path, 0, 0, &s);
	assert_int_equal(s.n, 0);
	ident = ob_log_ident(q);
	assert_true(ident != 0);
	r[0] = payload('a', 10);
	r[1] = payload('b', 0);
	r[2] = payload('c', 3000);
	assert_true(ob_log_room(q, ob_log_end(q), r, 3));
	assert_int_equal(ob_log_append(q, r, 3, lsns, &err), 0);
	end = ob_log_end(q);
	ob_log_close(q);

	q = open_log(path, ident, lsns[0], &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.first[0], 'a');
	assert_int_equal(s.len[1], 0);
	assert_int_equal(s.len[2], 3000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s.lsn[i], lsns[i]);
	/* Reading on starts beyond anything written before. */
	assert_true(ob_log_end(q) > end);
	ob_log_close(q);

	q = open_log(path, ident, lsns[2], &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.first[0], 'c');
	ob_log_close(q);
	for (int i = 0; i < 3; i++)
		free((void *)r[i].data);
	rm_tree(dir);
}

static void
laps_of_the_ring_keep_what_is_still_needed(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct seen s;
	struct ob_log *q;
	struct ob_log_rec big = payload('z', 100000);
	uint64_t keep, lsn = 0, ident;
	unsigned char c = 'A';

	(void)state;
	snprintf(path, sizeof(path), "%s/outbox.log", dir);
	q = open_log(path, 0, 0, &s);
	ident = ob_log_ident(q);
	keep = ob_log_end(q);
	/* Three laps, each record needed until four more follow it. */
	for (int i = 0; i < 30; i++) {
		static uint64_t hist[64];

		if (i >= 4)
			keep = hist[(i - 4) % 64];
		if (!ob_log_room(q, keep, &big, 1))
			fail_msg("no room at record %d", i);
		lsn = append1(q, (unsigned char)(c + i % 26), 100000);
		hist[i % 64] = lsn;
		if (i == 29) {
			ob_log_close(q);
			q = open_log(path, ident, keep, &s);
			assert_int_equal(s.n, 5);
			for (int k = 0; k < 5; k++)
				assert_int_equal(s.first[k],
				    c + (i - 4 + k) % 26);
		}
	}
	/* The ring holds ten of these: an eleventh past keep does not fit. */
	keep = ob_log_end(q);
	for (int i = 0; i < 10; i++)
		if (ob_log_room(q, keep, &big, 1))
			append1(q, 'x', 100000);
	assert_false(ob_log_room(q, keep, &big, 1));
	ob_log_close(q);
	free((void *)big.data);
	rm_tree(dir);
}

/* Flip one byte of the file at @off. */
static void
damage(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void
a_torn_record_ends_reading_and_what_followed_never_returns(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct seen s;
	struct ob_log *q;
	uint64_t a, b, ident;

	(void)state;
	snprintf(path, sizeof(path), "%s/outbox.log", dir);
	q = open_log(path, 0, 0, &s);
	ident = ob_log_ident(q);
	a = append1(q, 'a', 500);
	b = append1(q, 'b', 500);
	(void)append1(q, 'c', 500);	/* durable, but after the torn one */
	ob_log_close(q);
	damage(path, (off_t)(OB_LOG_HEADER + b % RING + OB_LOG_HEAD + 100));

	q = open_log(path, ident, a, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.first[0], 'a');
	/* The next record goes past a jump, over the torn one's place. */
	(void)append1(q, 'd', 500);
	ob_log_close(q);
	q = open_log(path, ident, a, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.first[0], 'a');
	assert_int_equal(s.first[1], 'd');
	ob_log_close(q);
	rm_tree(dir);
}

static void
a_log_of_another_store_is_set_aside(void **state)
{
	char *dir = scratch_dir(), path[300], aside[340];
	struct seen s;
	struct ob_log *q;
	struct stat sb;
	uint64_t ident;

	(void)state;
	snprintf(path, sizeof(path), "%s/outbox.log", dir);
	q = open_log(path, 0, 0, &s);
	ident = ob_log_ident(q);
	(void)append1(q, 'a', 10);
	ob_log_close(q);
	/* A store that has no log yet (0), or another one. */
	q = open_log(path, 0, 0, &s);
	assert_int_equal(s.n, 0);
	assert_true(ob_log_ident(q) != ident);
	ob_log_close(q);
	snprintf(aside, sizeof(aside), "%s.%016llx", path,
	    (unsigned long long)ident);
	assert_int_equal(stat(aside, &sb), 0);
	rm_tree(dir);
}

static void
a_damaged_header_is_an_error_that_names_the_file(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct seen s;
	struct ob_log *q;
	const char *err;
	uint64_t ident;

	(void)state;
	snprintf(path, sizeof(path), "%s/outbox.log", dir);
	q = open_log(path, 0, 0, &s);
	ident = ob_log_ident(q);
	ob_log_close(q);
	damage(path, 20);
	assert_int_equal(ob_log_open(path, RING, ident, 0, note, &s, &q, &err),
	    DV_ECORRUPT);
	assert_non_null(strstr(err, path));
	assert_int_equal(ob_log_open(path, RING + 1, ident, 0, note, &s, &q,
	    &err), DV_EINVAL);
	rm_tree(dir);
}

static void
an_item_survives_encoding(void **state)
{
	const char *rcpts[] = { "a@example.com", "b@example.com" };
	struct outbox_item it = { .direction = 1, .received = 1234567890123,
	    .queue_id = "4Xyz", .envelope_from = NULL, .rcpts = rcpts,
	    .nrcpts = 2, .message_id = "m@x", .decision = "{\"a\":1}",
	    .raw = "Subject: x\r\n\r\nbody\r\n", .raw_len = 20,
	    .truncated = true };
	const struct ob_put how = { .id = 77, .merge_into = 5 };
	size_t len = ob_item_size(&it);
	unsigned char *buf = malloc(len);
	struct ob_logged q;

	(void)state;
	assert_int_equal(ob_item_encode(&it, &how, buf, len), 0);
	assert_int_equal(ob_item_decode(buf, len, &q), 0);
	assert_int_equal(q.it.direction, 1);
	assert_int_equal(q.it.received, 1234567890123);
	assert_string_equal(q.it.queue_id, "4Xyz");
	assert_null(q.it.envelope_from);
	assert_int_equal(q.it.nrcpts, 2);
	assert_string_equal(q.it.rcpts[1], "b@example.com");
	assert_string_equal(q.it.message_id, "m@x");
	assert_string_equal(q.it.decision, "{\"a\":1}");
	assert_int_equal(q.it.raw_len, 20);
	assert_memory_equal(q.it.raw, it.raw, 20);
	assert_true(q.it.truncated);
	assert_int_equal(q.how.id, 77);
	assert_int_equal(q.how.merge_into, 5);
	ob_item_clear(&q);
	/* Cut short anywhere, or a string's NUL lost: an error. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(ob_item_decode(buf, cut, &q), DV_ECORRUPT);
	buf[8 + 8 + 8 + 4 + 4 + 4 + 4] = 'X';	/* queue_id's NUL */
	assert_int_equal(ob_item_decode(buf, len, &q), DV_ECORRUPT);
	free(buf);
}

/* An item's digest and collision come back; a string's NUL is kept. */
static void
a_digest_and_a_collision_survive_encoding(void **state)
{
	static const char dig[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct outbox_item it = { .received = 1, .message_id = "m@x",
	    .raw = "hi", .raw_len = 2, .digest = dig };
	const struct ob_put how = { .id = 9, .collided_with = 4 };
	size_t len = ob_item_size(&it);
	unsigned char *buf = malloc(len);
	struct ob_logged q;

	(void)state;
	assert_int_equal(ob_item_encode(&it, &how, buf, len), 0);
	assert_int_equal(ob_item_decode(buf, len, &q), 0);
	assert_string_equal(q.it.digest, dig);
	assert_int_equal(q.how.collided_with, 4);
	assert_true(q.how.checked);
	assert_false(q.it.truncated);
	assert_memory_equal(q.it.raw, "hi", 2);
	ob_item_clear(&q);
	it.digest = NULL;		/* none: still checked */
	len = ob_item_size(&it);
	assert_int_equal(ob_item_encode(&it, &how, buf, len), 0);
	assert_int_equal(ob_item_decode(buf, len, &q), 0);
	assert_null(q.it.digest);
	assert_true(q.how.checked);
	ob_item_clear(&q);
	free(buf);
}

static unsigned char *
legacy_str(unsigned char *p, const char *s)
{
	if (s == NULL)
		return le_put(p, 0xffffffffu, 4);
	p = le_put(p, strlen(s), 4);
	memcpy(p, s, strlen(s) + 1);
	return p + strlen(s) + 1;
}

/*
 * A payload as the dvmilter before content digests logged it: flags 0
 * or 1 (truncated), no digest, no collision; its length.
 */
static size_t
legacy_payload(unsigned char buf[256], uint64_t id, uint64_t merge_into,
    const char *mid, const char *rcpt, const char *body)
{
	unsigned char *p = buf;

	p = le_put(p, id, 8);
	p = le_put(p, merge_into, 8);
	p = le_put(p, 1700000000, 8);		/* received */
	p = le_put(p, 0, 4);			/* direction */
	p = le_put(p, 1, 4);			/* truncated */
	p = legacy_str(p, "4Old");
	p = legacy_str(p, "ann@ext.example");
	p = legacy_str(p, mid);
	p = legacy_str(p, NULL);
	p = le_put(p, 1, 4);
	p = legacy_str(p, rcpt);
	p = le_put(p, strlen(body), 8);
	memcpy(p, body, strlen(body));
	return (size_t)(p - buf) + strlen(body);
}

/*
 * A record as the dvmilter before content digests logged it is read:
 * no digest, not checked, so the store step decides with the index,
 * and it never folds.
 */
static void
a_record_of_an_earlier_dvmilter_is_read_without_a_digest(void **state)
{
	unsigned char buf[256];
	size_t len = legacy_payload(buf, 12, 3, "old@x",
	    "support@example.com", "body");
	struct ob_logged q;

	(void)state;
	assert_int_equal(ob_item_decode(buf, len, &q), 0);
	assert_int_equal(q.how.id, 12);
	assert_int_equal(q.how.merge_into, 3);
	assert_true(q.it.truncated);
	assert_string_equal(q.it.message_id, "old@x");
	assert_null(q.it.digest);
	assert_false(q.how.checked);
	assert_int_equal(q.how.collided_with, 0);
	assert_string_equal(q.it.rcpts[0], "support@example.com");
	assert_memory_equal(q.it.raw, "body", 4);
	ob_item_clear(&q);
}

/*
 * An upgrade with messages still in the log: the earlier dvmilter's
 * records are stored at start under the ids it answered with. One whose
 * Message-ID an indexed entry has is not folded into it (no digest: it
 * may be another message) but recorded as colliding with it; a fold
 * that dvmilter logged between two of its records (merge_into) stands.
 */
static void
an_earlier_dvmilters_log_is_stored_at_start_without_folding(void **state)
{
	char *dir = scratch_dir(), path[300], logp[400];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	static char p_local[] = "local";
	char *const plugins[] = { p_local, NULL };
	struct outbox_item old = { .received = 1, .raw = "x", .raw_len = 1,
	    .message_id = "old@x" };
	unsigned char buf[3][256];
	struct ob_log_rec recs[3];
	uint64_t lsns[3], f, found;
	struct outbox_msg *m;
	struct store *st;
	struct store_txn *t;
	struct ob_writer *w;
	struct ob_log *q;
	struct seen s;
	const char *err;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	snprintf(logp, sizeof(logp), "%s/outbox.log", path);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	/* A store a writer used: it has an index mark. */
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(ob_table_index_pending(t, plugins, NULL, 0, 10, NULL,
	    NULL, &err), 0);
	assert_int_equal(ob_table_put(t, &old, NULL, plugins, &f, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	recs[0] = (struct ob_log_rec){ buf[0], legacy_payload(buf[0], f + 1,
	    0, "old@x", "bob@example.com", "another") };
	recs[1] = (struct ob_log_rec){ buf[1], legacy_payload(buf[1], f + 2,
	    0, "new@x", "support@example.com", "new") };
	recs[2] = (struct ob_log_rec){ buf[2], legacy_payload(buf[2], f + 3,
	    f + 2, "new@x", "alice@example.com", "new") };
	q = open_log(logp, 0, 0, &s);
	assert_int_equal(ob_log_append(q, recs, 3, lsns, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(ob_table_log_state_put(t, ob_log_ident(q), lsns[0],
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	ob_log_close(q);

	assert_int_equal(ob_writer_start(st, logp, plugins, NULL, &w, &err),
	    0);
	ob_writer_stop(w);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_get_envelope(t, f + 1, &m, &err), 0);
	assert_int_equal(m->collided_with, f);
	assert_null(m->digest);
	assert_string_equal(m->rcpts[0], "bob@example.com");
	outbox_msg_free(m);
	assert_int_equal(ob_table_get_envelope(t, f, &m, &err), 0);
	assert_int_equal(m->nrcpts, 0);		/* not folded into */
	outbox_msg_free(m);
	assert_int_equal(ob_table_get_envelope(t, f + 2, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);		/* the fold logged */
	assert_int_equal(m->collided_with, 0);
	outbox_msg_free(m);
	assert_false(ob_table_exists(t, f + 3));
	assert_int_equal(ob_table_find_message_id(t, "old@x", &found, &err), 0);
	assert_int_equal(found, f);
	assert_int_equal(ob_table_find_message_id(t, "new@x", &found, &err), 0);
	assert_int_equal(found, f + 2);
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

/* The standard check value, whole and in two steps. */
static void
crc32c_gives_the_standard_check_value(void **state)
{
	assert_int_equal(ob_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(ob_crc32c(ob_crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283u);
	assert_int_equal(ob_crc32c(0, "", 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_gives_the_standard_check_value),
		cmocka_unit_test(records_come_back_in_order_from_where_asked),
		cmocka_unit_test(laps_of_the_ring_keep_what_is_still_needed),
		cmocka_unit_test(
		    a_torn_record_ends_reading_and_what_followed_never_returns),
		cmocka_unit_test(a_log_of_another_store_is_set_aside),
		cmocka_unit_test(a_damaged_header_is_an_error_that_names_the_file),
		cmocka_unit_test(an_item_survives_encoding),
		cmocka_unit_test(a_digest_and_a_collision_survive_encoding),
		cmocka_unit_test(
		    a_record_of_an_earlier_dvmilter_is_read_without_a_digest),
		cmocka_unit_test(
		    an_earlier_dvmilters_log_is_stored_at_start_without_folding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

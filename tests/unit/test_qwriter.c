/* test_qwriter.c - group commit: concurrent submitters, failure isolation. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "outbox/ob_int.h"
#include "status.h"
#include "testutil.h"

#define THREADS 8
#define PER_THREAD 100

/* The content digest the milter would give (any 64 digits). */
#define DIG "5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa5e1f00aa"

static char p_local[] = "local";
static char *const plugins[] = { p_local, NULL };

struct worker {
	struct ob_writer *w;
	int n;
	uint64_t ids[PER_THREAD];
	char mids[PER_THREAD][64];
	int failures;
};

/* The outbox log in store directory @db (one at a time). */
static const char *
log_at(const char *db)
{
	static char p[400];

	snprintf(p, sizeof(p), "%s/outbox.log", db);
	return p;
}

static void *
submit_many(void *arg)
{
	struct worker *wk = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct outbox_item it = { .received = 1, .raw = "x", .raw_len = 1 };
		char err[256];

		snprintf(wk->mids[i], sizeof(wk->mids[i]), "t%d-m%d@x", wk->n, i);
		it.message_id = wk->mids[i];
		if (ob_writer_submit(wk->w, &it, false, &wk->ids[i], err, sizeof(err)) != 0)
			wk->failures++;
	}
	return NULL;
}

static void
concurrent_submitters_all_land_with_their_own_ids(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 64 << 20, .create = true };
	struct worker wk[THREADS];
	pthread_t th[THREADS];
	struct store *st;
	struct store_txn *t;
	struct ob_writer *w;
	uint64_t msgs, commits, icommits, us, found;
	const char *err;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w, &err), 0);
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){ .w = w, .n = i };
		pthread_create(&th[i], NULL, submit_many, &wk[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ob_writer_stats(w, &msgs, &commits, &icommits, &us);
	ob_writer_stop(w);
	print_message("# %llu messages in %llu commits\n",
	    (unsigned long long)msgs, (unsigned long long)commits);
	assert_int_equal(msgs, THREADS * PER_THREAD);
	assert_true(commits <= msgs);

	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(wk[i].failures, 0);
		for (int j = 0; j < PER_THREAD; j++) {
			assert_int_equal(ob_table_find_message_id(t, wk[i].mids[j],
			    &found, &err), 0);
			assert_int_equal(found, wk[i].ids[j]);
		}
	}
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

struct big_arg {
	struct ob_writer *w;
	int rc;
	char err[256];
};

static void *
submit_big(void *arg)
{
	struct big_arg *b = arg;
	static char huge[3 << 20];
	struct outbox_item it = { .received = 1, .raw = huge,
	    .raw_len = sizeof(huge), .message_id = "huge@x" };
	uint64_t id;

	b->rc = ob_writer_submit(b->w, &it, false, &id, b->err, sizeof(b->err));
	return NULL;
}

static void
a_message_that_cannot_be_stored_fails_alone(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 2 << 20, .create = true };
	struct worker wk = { .n = 0 };
	struct big_arg big;
	pthread_t a, b;
	struct store *st;
	const char *err;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &wk.w, &err), 0);
	big.w = wk.w;
	pthread_create(&a, NULL, submit_big, &big);
	pthread_create(&b, NULL, submit_many, &wk);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ob_writer_stop(wk.w);
	assert_int_equal(big.rc, DV_EFULL);
	assert_non_null(strstr(big.err, "DatabaseMapSize"));
	assert_int_equal(wk.failures, 0);
	store_close(st);
	rm_tree(dir);
}

static void
an_expected_message_that_never_comes_does_not_hold_commits(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	struct outbox_item it = { .received = 1, .raw = "x", .raw_len = 1 };
	struct ob_writer *w;
	struct store *st;
	const char *err;
	char ebuf[256];
	uint64_t id, msgs, commits, icommits, us;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w, &err), 0);
	/* Two being received; one is abandoned, one submitted. */
	ob_writer_expect(w, +1);
	ob_writer_expect(w, +1);
	assert_int_equal(ob_writer_submit(w, &it, true, &id, ebuf, sizeof(ebuf)),
	    0);
	ob_writer_expect(w, -1);
	/* Nothing is expected now: the next one goes at once. */
	assert_int_equal(ob_writer_submit(w, &it, false, &id, ebuf,
	    sizeof(ebuf)), 0);
	ob_writer_expect(w, -1);		/* more -1 than +1 is harmless */
	assert_int_equal(ob_writer_submit(w, &it, false, &id, ebuf,
	    sizeof(ebuf)), 0);
	ob_writer_stats(w, &msgs, &commits, &icommits, &us);
	assert_int_equal(msgs, 3);
	assert_int_equal(commits, 3);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

static void
stop_with_nothing_pending_returns(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 2 << 20, .create = true };
	struct store *st;
	struct ob_writer *w;
	const char *err;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), NULL, NULL, &w, &err), 0);
	ob_writer_stop(w);
	ob_writer_stop(NULL);
	store_close(st);
	rm_tree(dir);
}

/* Three messages of 10 MB waiting together: no two share a commit. */
struct ten_mb_arg {
	struct ob_writer *w;
	char mid[32];
	int rc;
};

static void *
submit_ten_mb(void *arg)
{
	struct ten_mb_arg *a = arg;
	static const char ten_mb[10 << 20];
	struct outbox_item it = { .received = 1, .raw = ten_mb,
	    .raw_len = sizeof(ten_mb), .message_id = a->mid };
	char err[256];
	uint64_t id;

	a->rc = ob_writer_submit(a->w, &it, false, &id, err, sizeof(err));
	return NULL;
}

static void
a_batch_is_bounded_in_bytes(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 128 << 20, .create = true };
	struct ten_mb_arg a[3];
	pthread_t th[3];
	struct store *st;
	struct store_txn *t;
	struct ob_writer *w;
	uint64_t msgs, commits, icommits, us;
	const char *err;
	int waited = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w, &err), 0);
	/* Hold the write lock: the writer blocks on its first batch. */
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	for (int i = 0; i < 3; i++) {
		a[i] = (struct ten_mb_arg){ .w = w };
		snprintf(a[i].mid, sizeof(a[i].mid), "big%d@x", i);
		pthread_create(&th[i], NULL, submit_ten_mb, &a[i]);
	}
	/* One taken (alone, whichever came first), two left waiting. */
	while (ob_writer_waiting(w) != 2 && waited++ < 1000) {
		struct timespec ms10 = { 0, 10 * 1000 * 1000 };

		nanosleep(&ms10, NULL);
	}
	assert_int_equal(ob_writer_waiting(w), 2);
	store_txn_abort(t);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].rc, 0);
	}
	ob_writer_stats(w, &msgs, &commits, &icommits, &us);
	ob_writer_stop(w);
	assert_int_equal(msgs, 3);
	assert_int_equal(commits, 3);
	store_close(st);
	rm_tree(dir);
}

static atomic_int indexed_calls;

static void
count_indexed(void)
{
	atomic_fetch_add(&indexed_calls, 1);
}

static struct ob_writer *
start(struct store **st, char **dir, char *const *pl)
{
	char path[300];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	struct ob_writer *w;
	const char *err;

	*dir = scratch_dir();
	snprintf(path, sizeof(path), "%s/db", *dir);
	assert_int_equal(store_open(path, &o, st, &err), 0);
	assert_int_equal(ob_writer_start(*st, log_at(path), pl, count_indexed, &w,
	    &err), 0);
	return w;
}

static uint64_t
submit(struct ob_writer *w, const char *mid, const char *rcpt)
{
	const char *one[] = { rcpt };
	struct outbox_item it = { .received = 1, .raw = "x", .raw_len = 1,
	    .message_id = mid, .rcpts = one, .nrcpts = 1, .digest = DIG };
	char err[256];
	uint64_t id;

	assert_int_equal(ob_writer_submit(w, &it, false, &id, err, sizeof(err)),
	    0);
	return id;
}

/* Where correlation looks: the writer's entries, then the index. */
static bool
find(struct ob_writer *w, struct store *st, const char *mid, uint64_t *id)
{
	struct store_txn *t;
	const char *err;
	bool hit;

	if (ob_writer_find_message_id(w, mid, id, NULL))
		return true;
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	hit = ob_table_find_message_id(t, mid, id, &err) == 0;
	store_txn_abort(t);
	return hit;
}

static void
entries_are_indexed_soon_and_found_meanwhile(void **state)
{
	struct store *st;
	struct store_txn *t;
	struct outbox_delivery d;
	char *dir;
	struct ob_writer *w = start(&st, &dir, plugins);
	const char *err;
	uint64_t id, found = 0;
	int calls = atomic_load(&indexed_calls), waited = 0;

	(void)state;
	id = submit(w, "soon@x", "support@example.com");
	assert_true(find(w, st, "soon@x", &found));
	assert_int_equal(found, id);
	/* Indexed within OB_INDEX_IDLE_US of quiet, and the worker told. */
	while (atomic_load(&indexed_calls) == calls && waited++ < 500) {
		struct timespec ms10 = { 0, 10 * 1000 * 1000 };

		nanosleep(&ms10, NULL);
	}
	assert_int_equal(ob_writer_pending(w), 0);
	assert_false(ob_writer_find_message_id(w, "soon@x", &found, NULL));
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_find_message_id(t, "soon@x", &found, &err), 0);
	assert_int_equal(found, id);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	store_txn_abort(t);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

static void
a_copy_in_another_commit_joins_the_entry(void **state)
{
	struct store *st;
	struct store_txn *t;
	struct outbox_msg *m;
	struct outbox_delivery d[4];
	char *dir;
	struct ob_writer *w = start(&st, &dir, plugins);
	const char *err;
	uint64_t a, b, c;
	size_t nd;

	(void)state;
	a = submit(w, "copy@x", "support@example.com");
	b = submit(w, "copy@x", "alice@example.com");
	assert_int_equal(b, a);
	ob_writer_flush(w);
	assert_int_equal(ob_writer_pending(w), 0);
	/* Once indexed, a third copy still joins it (through the index). */
	c = submit(w, "copy@x", "bob@example.com");
	assert_int_equal(c, a);
	ob_writer_stop(w);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_get_envelope(t, a, &m, &err), 0);
	assert_int_equal(m->nrcpts, 3);
	outbox_msg_free(m);
	assert_int_equal(ob_table_deliveries(t, a, d, 4, &nd, &err), 0);
	assert_int_equal(nd, 1);
	assert_false(ob_table_exists(t, a + 1));
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

/* submit() with a content digest and text of its own. */
static uint64_t
submit_as(struct ob_writer *w, const char *mid, const char *digest,
    const char *rcpt, const char *text)
{
	const char *one[] = { rcpt };
	struct outbox_item it = { .received = 1, .raw = text,
	    .raw_len = strlen(text), .message_id = mid, .rcpts = one,
	    .nrcpts = 1, .digest = digest, .queue_id = "4QID" };
	char err[256];
	uint64_t id;

	assert_int_equal(ob_writer_submit(w, &it, false, &id, err, sizeof(err)),
	    0);
	return id;
}

#define DIG_B "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define DIG_C "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"

/* Entry @id's envelope, through a read transaction of its own. */
static struct outbox_msg *
envelope(struct store *st, uint64_t id)
{
	struct store_txn *t;
	struct outbox_msg *m;
	const char *err;

	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_get_envelope(t, id, &m, &err), 0);
	store_txn_abort(t);
	return m;
}

/*
 * In the writer as in the index: a different message reusing a logged
 * entry's Message-ID is a new entry naming it; correlation goes on
 * finding the first, logged or indexed; each message's copies fold into
 * its own entry.
 */
static void
a_reused_message_id_is_a_new_entry_and_never_found(void **state)
{
	struct store *st;
	struct outbox_msg *m;
	char *dir;
	struct ob_writer *w = start(&st, &dir, plugins);
	uint64_t a, b, c, found;

	(void)state;
	a = submit_as(w, "case@x", DIG, "support@example.com", "case text");
	b = submit_as(w, "case@x", DIG_B, "bob@example.com", "hello");
	assert_true(b != a);
	assert_true(ob_writer_find_message_id(w, "case@x", &found, NULL));
	assert_int_equal(found, a);
	assert_int_equal(submit_as(w, "case@x", DIG_B, "carol@example.com",
	    "hello"), b);
	assert_int_equal(submit_as(w, "case@x", DIG, "alice@example.com",
	    "case text"), a);
	ob_writer_flush(w);
	assert_int_equal(ob_writer_pending(w), 0);
	assert_true(find(w, st, "case@x", &found));
	assert_int_equal(found, a);
	m = envelope(st, a);
	assert_int_equal(m->nrcpts, 2);
	assert_int_equal(m->collided_with, 0);
	outbox_msg_free(m);
	m = envelope(st, b);
	assert_int_equal(m->nrcpts, 2);
	assert_string_equal(m->rcpts[0], "bob@example.com");
	assert_int_equal(m->collided_with, a);
	outbox_msg_free(m);

	/* Against the index: a third message, logged, is not found. */
	c = submit_as(w, "case@x", DIG_C, "dave@example.com", "other");
	assert_true(c != a && c != b);
	assert_int_equal(ob_writer_pending(w), 1);
	assert_true(find(w, st, "case@x", &found));
	assert_int_equal(found, a);
	assert_int_equal(submit_as(w, "case@x", DIG_B, "erin@example.com",
	    "hello"), b);
	ob_writer_stop(w);
	m = envelope(st, c);
	assert_int_equal(m->collided_with, a);
	outbox_msg_free(m);
	m = envelope(st, b);
	assert_int_equal(m->nrcpts, 3);
	outbox_msg_free(m);
	store_close(st);
	rm_tree(dir);
}

/*
 * A writer over the store at @path, in a child process, that submits
 * what @fill does (its ids into @ids, @n of them) and dies before it
 * stores them: a crash. The ids come back in @ids.
 */
static void
crashed_writer(const char *path, void (*fill)(struct ob_writer *w,
    uint64_t *ids), uint64_t *ids, size_t n)
{
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	struct store *st;
	struct ob_writer *w;
	const char *err;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (store_open(path, &o, &st, &err) != 0 ||
		    ob_writer_start(st, log_at(path), plugins, NULL, &w,
		    &err) != 0)
			_exit(2);
		fill(w, ids);
		/* Some of it must still be only in the log. */
		if (ob_writer_pending(w) == 0)
			_exit(3);
		if (write(fds[1], ids, n * sizeof(*ids)) !=
		    (ssize_t)(n * sizeof(*ids)))
			_exit(4);
		_exit(0);		/* no ob_writer_stop(): a crash */
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], ids, n * sizeof(*ids)),
	    (ssize_t)(n * sizeof(*ids)));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
submit_collision(struct ob_writer *w, uint64_t *ids)
{
	ids[0] = submit_as(w, "crash@x", DIG, "support@example.com", "case");
	ids[1] = submit_as(w, "crash@x", DIG_B, "bob@example.com", "hi");
	ids[2] = submit_as(w, "crash@x", DIG_B, "carol@example.com", "hi");
}

/* After a crash, the log's records keep their collisions and folds. */
static void
a_collision_survives_a_crash(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	uint64_t ids[3], found;
	struct outbox_msg *m;
	struct store *st;
	struct ob_writer *w;
	const char *err;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	crashed_writer(path, submit_collision, ids, 3);
	assert_true(ids[1] != ids[0]);
	assert_int_equal(ids[2], ids[1]);

	assert_int_equal(store_open(path, &o, &st, &err), 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w,
	    &err), 0);
	assert_true(find(w, st, "crash@x", &found));
	assert_int_equal(found, ids[0]);
	ob_writer_stop(w);
	m = envelope(st, ids[1]);
	assert_int_equal(m->collided_with, ids[0]);
	assert_int_equal(m->nrcpts, 2);
	outbox_msg_free(m);
	m = envelope(st, ids[0]);
	assert_int_equal(m->nrcpts, 1);
	assert_int_equal(m->collided_with, 0);
	outbox_msg_free(m);
	store_close(st);
	rm_tree(dir);
}

static void
what_a_crash_left_unindexed_is_indexed_at_start(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	struct outbox_item it = { .received = 7, .raw = "x", .raw_len = 1,
	    .message_id = "left@x" };
	const struct ob_put how = { .defer_index = true };
	struct outbox_delivery d;
	struct store *st;
	struct store_txn *t;
	struct ob_writer *w;
	const char *err;
	uint64_t id, found;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &o, &st, &err), 0);
	/* A writer's commit, and then the process died. */
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(ob_table_index_pending(t, plugins, NULL, 0, 10, &n, NULL, &err),
	    0);
	assert_int_equal(ob_table_put(t, &it, &how, plugins, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);

	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w, &err), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_find_message_id(t, "left@x", &found, &err), 0);
	assert_int_equal(found, id);
	assert_int_equal(ob_table_delivery_get(t, id, "local", &d, &err), 0);
	assert_int_equal(d.next_at, 7);
	store_txn_abort(t);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

static void
after_a_restart_a_copy_of_an_old_entry_is_not_new(void **state)
{
	struct store *st;
	struct store_txn *t;
	struct outbox_msg *m;
	char *dir, path[300];
	struct ob_writer *w = start(&st, &dir, plugins);
	const char *err;
	uint64_t a, b;
	int calls;

	(void)state;
	a = submit(w, "old@x", "support@example.com");
	ob_writer_stop(w);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins,
	    count_indexed, &w, &err), 0);
	calls = atomic_load(&indexed_calls);
	b = submit(w, "old@x", "alice@example.com");
	assert_int_equal(b, a);
	/* Folded through the index once stored; the worker told. */
	ob_writer_flush(w);
	assert_int_equal(ob_writer_pending(w), 0);
	assert_true(atomic_load(&indexed_calls) > calls);
	ob_writer_stop(w);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_get_envelope(t, a, &m, &err), 0);
	assert_int_equal(m->nrcpts, 2);
	outbox_msg_free(m);
	assert_false(ob_table_exists(t, a + 1));
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

static void
a_logged_message_reaches_the_store_later(void **state)
{
	struct store *st;
	struct store_txn *t;
	char *dir;
	struct ob_writer *w = start(&st, &dir, plugins);
	const char *err;
	uint64_t id, found;

	(void)state;
	id = submit(w, "later@x", "support@example.com");
	/* Durable in the log, known to the writer, not in LMDB yet. */
	assert_int_equal(ob_writer_pending(w), 1);
	assert_true(ob_writer_find_message_id(w, "later@x", &found, NULL));
	assert_int_equal(found, id);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_false(ob_table_exists(t, id));
	store_txn_abort(t);
	ob_writer_flush(w);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_true(ob_table_exists(t, id));
	store_txn_abort(t);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

/* Another program takes a reserved id first: the message gets another. */
static void
a_taken_id_does_not_cost_the_message(void **state)
{
	struct outbox_item other = { .received = 1, .raw = "y", .raw_len = 1,
	    .message_id = "other@x" };
	struct ob_put how = { 0 };
	struct store *st;
	struct store_txn *t;
	char *dir;
	struct ob_writer *w = start(&st, &dir, plugins);
	const char *err;
	uint64_t id, got, found;

	(void)state;
	/* Holding the write lock keeps the writer from storing it. */
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	id = submit(w, "reserved@x", "support@example.com");
	how.id = id;
	assert_int_equal(ob_table_put(t, &other, &how, plugins, &got, &err), 0);
	assert_int_equal(got, id);
	assert_int_equal(store_txn_commit(t, &err), 0);
	ob_writer_flush(w);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_find_message_id(t, "reserved@x", &found, &err),
	    0);
	assert_true(found > id);
	assert_int_equal(ob_table_find_message_id(t, "other@x", &found, &err), 0);
	assert_int_equal(found, id);
	store_txn_abort(t);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

/*
 * A process that logs messages and dies before it stores them: what it
 * answered for is in the store after the next start, once, under the
 * ids it gave, copies folded, and no id is given twice.
 */
#define CRASH_MSGS 20

static int
count_rec(const struct ob_log_rec *rec, uint64_t lsn, void *arg)
{
	(void)rec;
	(void)lsn;
	(*(size_t *)arg)++;
	return 0;
}

static void
submit_crash_msgs(struct ob_writer *w, uint64_t *ids)
{
	char mid[32];

	for (int i = 0; i < CRASH_MSGS; i++) {
		/* Every fifth a copy of the one before. */
		snprintf(mid, sizeof(mid), "crash%d@x", i % 5 == 4 ? i - 1 : i);
		ids[i] = submit(w, mid, i % 5 == 4 ? "alice@example.com" :
		    "support@example.com");
	}
}

static void
logged_messages_survive_a_crash(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	uint64_t ids[CRASH_MSGS], found, next, ident, applied;
	size_t logged = 0;
	struct outbox_delivery d;
	struct outbox_msg *m;
	struct store *st;
	struct store_txn *t;
	struct ob_writer *w;
	const char *err;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	crashed_writer(path, submit_crash_msgs, ids, CRASH_MSGS);

	assert_int_equal(store_open(path, &o, &st, &err), 0);
	/* What dvmilterctl queue logged sees before the restart. */
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_log_state(t, &ident, &applied, &err), 0);
	store_txn_abort(t);
	assert_int_equal(ob_log_peek(log_at(path), ident, applied, count_rec,
	    &logged, &err), 0);
	assert_true(logged > 0);
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w,
	    &err), 0);
	assert_int_equal(ob_writer_pending(w), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	for (int i = 0; i < CRASH_MSGS; i++) {
		char mid[32];

		snprintf(mid, sizeof(mid), "crash%d@x",
		    i % 5 == 4 ? i - 1 : i);
		assert_int_equal(ob_table_find_message_id(t, mid, &found, &err),
		    0);
		assert_int_equal(found, ids[i]);
		assert_int_equal(ob_table_delivery_get(t, found, "local", &d,
		    &err), 0);
		assert_int_equal(ob_table_get_envelope(t, found, &m, &err), 0);
		assert_int_equal(m->nrcpts, i % 5 == 3 || i % 5 == 4 ? 2 : 1);
		outbox_msg_free(m);
	}
	store_txn_abort(t);
	next = submit(w, "after@x", "support@example.com");
	for (int i = 0; i < CRASH_MSGS; i++)
		assert_true(next > ids[i]);
	ob_writer_stop(w);
	/* A clean stop leaves the log with nothing to store again. */
	assert_int_equal(ob_writer_start(st, log_at(path), plugins, NULL, &w,
	    &err), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(ob_table_get_envelope(t, next, &m, &err), 0);
	assert_int_equal(m->nrcpts, 1);
	outbox_msg_free(m);
	store_txn_abort(t);
	ob_writer_stop(w);
	store_close(st);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entries_are_indexed_soon_and_found_meanwhile),
		cmocka_unit_test(a_copy_in_another_commit_joins_the_entry),
		cmocka_unit_test(
		    a_reused_message_id_is_a_new_entry_and_never_found),
		cmocka_unit_test(a_collision_survives_a_crash),
		cmocka_unit_test(what_a_crash_left_unindexed_is_indexed_at_start),
		cmocka_unit_test(
		    after_a_restart_a_copy_of_an_old_entry_is_not_new),
		cmocka_unit_test(a_logged_message_reaches_the_store_later),
		cmocka_unit_test(logged_messages_survive_a_crash),
		cmocka_unit_test(a_taken_id_does_not_cost_the_message),
		cmocka_unit_test(concurrent_submitters_all_land_with_their_own_ids),
		cmocka_unit_test(a_message_that_cannot_be_stored_fails_alone),
		cmocka_unit_test(a_batch_is_bounded_in_bytes),
		cmocka_unit_test(stop_with_nothing_pending_returns),
		cmocka_unit_test(
		    an_expected_message_that_never_comes_does_not_hold_commits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

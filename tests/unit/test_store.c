/* test_store.c - the LMDB store, on real LMDB files in a scratch dir. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "status.h"
#include "store.h"
#include "testutil.h"

struct fixture {
	char *dir;
	char path[256];
	struct store *st;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o = { .mapsize = 64 << 20, .create = true };
	const char *err;

	if (f == NULL || (f->dir = scratch_dir()) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	if (store_open(f->path, &o, &f->st, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void
put_mailbox(struct store *st, const char *addr, int approval, int mode,
    int want)
{
	struct store_txn *t;
	struct mbox mb;
	const char *err;

	mbox_init(&mb, addr, MBOX_USER);
	mb.pol.approval = (uint8_t)approval;
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(store_mailbox_put(t, &mb, mode, &err), want);
	if (want == 0)
		assert_int_equal(store_txn_commit(t, &err), 0);
	else
		store_txn_abort(t);
}

static void
put_get_remove(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct mbox mb;
	const char *err;

	put_mailbox(f->st, "a@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_CREATE, 0);
	put_mailbox(f->st, "a@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_CREATE, DV_EEXIST);
	put_mailbox(f->st, "b@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_UPDATE, DV_ENOTFOUND);
	put_mailbox(f->st, "a@example.com", MBOX_APPROVAL_REJECTED,
	    STORE_PUT_UPDATE, 0);

	assert_int_equal(store_txn_begin(f->st, false, &t, &err), 0);
	assert_int_equal(store_mailbox_get(t, "a@example.com", &mb, &err), 0);
	assert_int_equal(mb.pol.approval, MBOX_APPROVAL_REJECTED);
	assert_int_equal(store_mailbox_get(t, "zz@example.com", &mb, &err),
	    DV_ENOTFOUND);
	assert_non_null(strstr(err, "zz@example.com"));
	store_txn_abort(t);

	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	assert_int_equal(store_mailbox_remove(t, "a@example.com", &err), 0);
	assert_int_equal(store_mailbox_remove(t, "a@example.com", &err),
	    DV_ENOTFOUND);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

static void
reader_sees_each_commit_without_reopening(void **state)
{
	struct fixture *f = *state;
	struct store_reader *r;
	struct mbox_policy p;
	const char *err;

	assert_int_equal(store_reader_open(f->st, &r, &err), 0);
	assert_int_equal(store_lookup_policy(r, "c@example.com", &p, &err),
	    DV_ENOTFOUND);
	put_mailbox(f->st, "c@example.com", MBOX_APPROVAL_PENDING,
	    STORE_PUT_CREATE, 0);
	assert_int_equal(store_lookup_policy(r, "c@example.com", &p, &err), 0);
	assert_int_equal(p.approval, MBOX_APPROVAL_PENDING);
	put_mailbox(f->st, "c@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_UPDATE, 0);
	assert_int_equal(store_lookup_policy(r, "c@example.com", &p, &err), 0);
	assert_int_equal(p.approval, MBOX_APPROVAL_APPROVED);
	store_reader_close(r);
}

static void
other_process_writes_are_seen_by_reader(void **state)
{
	struct fixture *f = *state;
	struct store_reader *r;
	struct mbox_policy p;
	const char *err;
	pid_t pid;
	int status;

	/* As dvmilterctl and the daemon: two processes, one store. */
	assert_int_equal(store_reader_open(f->st, &r, &err), 0);
	assert_int_equal(store_lookup_policy(r, "d@example.com", &p, &err),
	    DV_ENOTFOUND);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		struct store_txn *t;
		struct mbox mb;

		/* A fresh environment; the parent's is never touched here. */
		if (store_open(f->path, NULL, &st, &err) != 0 ||
		    store_txn_begin(st, true, &t, &err) != 0)
			_exit(1);
		mbox_init(&mb, "d@example.com", MBOX_USER);
		mb.pol.approval = MBOX_APPROVAL_APPROVED;
		if (store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err) != 0 ||
		    store_txn_commit(t, &err) != 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(store_lookup_policy(r, "d@example.com", &p, &err), 0);
	assert_int_equal(p.approval, MBOX_APPROVAL_APPROVED);
	store_reader_close(r);
}

static void
map_grown_by_another_process_is_adopted(void **state)
{
	struct store_opts small = { .mapsize = 1 << 20, .create = true };
	char *dir = scratch_dir(), path[300];
	struct store *st;
	struct store_reader *r;
	struct store_txn *t;
	struct mbox_policy p;
	const char *err;
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &small, &st, &err), 0);
	assert_int_equal(store_reader_open(st, &r, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* dvmilterctl run with a larger DatabaseMapSize. */
		struct store_opts big = { .mapsize = 64 << 20 };
		struct store *o;
		struct store_txn *w;
		struct mbox mb;

		if (store_open(path, &big, &o, &err) != 0 ||
		    store_txn_begin(o, true, &w, &err) != 0)
			_exit(1);
		for (int i = 0; i < 30000; i++) {
			char a[64];

			snprintf(a, sizeof(a), "grow%05d@example.com", i);
			mbox_init(&mb, a, MBOX_USER);
			mb.pol.approval = MBOX_APPROVAL_APPROVED;
			if (store_mailbox_put(w, &mb, STORE_PUT_UPSERT, &err) != 0)
				_exit(2);
		}
		_exit(store_txn_commit(w, &err) == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Without adopting the new size every lookup would now fail. */
	assert_int_equal(store_lookup_policy(r, "grow29999@example.com", &p,
	    &err), 0);
	assert_int_equal(p.approval, MBOX_APPROVAL_APPROVED);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	store_txn_abort(t);
	store_reader_close(r);
	store_close(st);
	rm_tree(dir);
}

static int
count_cb(void *arg, const struct mbox *mb)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
stop_cb(void *arg, const struct mbox *mb)
{
	return 42;
}

static void
foreach_and_count(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	const char *err;
	size_t n = 0, c = 0;
	char addr[64];

	for (int i = 0; i < 500; i++) {
		snprintf(addr, sizeof(addr), "user%03d@example.com", i);
		put_mailbox(f->st, addr, MBOX_APPROVAL_PENDING, STORE_PUT_CREATE,
		    0);
	}
	assert_int_equal(store_txn_begin(f->st, false, &t, &err), 0);
	assert_int_equal(store_mailbox_foreach(t, count_cb, &n, &err), 0);
	assert_int_equal(n, 500);
	assert_int_equal(store_mailbox_count(t, &c, &err), 0);
	assert_int_equal(c, 500);
	assert_int_equal(store_mailbox_foreach(t, stop_cb, NULL, &err), 42);
	store_txn_abort(t);
}

static void
profile_reference_integrity(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct profile p;
	struct mbox mb;
	const char *err;

	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	mbox_init(&mb, "e@example.com", MBOX_USER);
	snprintf(mb.profile, sizeof(mb.profile), "missing");
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err),
	    DV_ENOTFOUND);
	assert_non_null(strstr(err, "no such profile: missing"));

	profile_init(&p, "missing");
	assert_int_equal(store_profile_put(t, &p, STORE_PUT_CREATE, &err), 0);
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err), 0);
	assert_int_equal(store_profile_remove(t, "missing", &err), DV_EINUSE);
	assert_non_null(strstr(err, "used by 1 mailbox"));
	assert_int_equal(store_mailbox_remove(t, "e@example.com", &err), 0);
	assert_int_equal(store_profile_remove(t, "missing", &err), 0);
	assert_int_equal(store_profile_get(t, "missing", &p, &err),
	    DV_ENOTFOUND);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

static void
newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	static char schema[] = "schema";
	MDB_val k = { 6, schema }, v;
	unsigned char nine[4] = { 9, 0, 0, 0 };
	struct store *st;
	const char *err;

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	assert_int_equal(mdb_env_open(env, f->path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	v.mv_size = 4;
	v.mv_data = nine;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(store_open(f->path, NULL, &st, &err), DV_ESCHEMA);
	assert_non_null(strstr(err, "schema 9 is newer"));
}

static void
missing_directory_is_an_error_unless_create(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_opts o = { .create = true, .mapsize = 1 << 20 };
	char p[300];
	const char *err;

	snprintf(p, sizeof(p), "%s/nope", f->dir);
	assert_int_equal(store_open(p, NULL, &st, &err), ENOENT);
	assert_non_null(strstr(err, p));
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	store_close(st);
	snprintf(p, sizeof(p), "%s/db/data.mdb", f->dir);
	assert_int_equal(store_open(p, NULL, &st, &err), ENOTDIR);
}

static void
full_map_reported_as_full(void **state)
{
	struct store *st;
	struct store_txn *t;
	struct store_opts o = { .create = true, .mapsize = 1 << 20 };
	struct mbox mb;
	char *dir = scratch_dir(), p[300];
	const char *err;
	int rc = 0;

	snprintf(p, sizeof(p), "%s/small", dir);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	for (int i = 0; i < 100000 && rc == 0; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "filler%06d@example.com", i);
		mbox_init(&mb, addr, MBOX_USER);
		rc = store_mailbox_put(t, &mb, STORE_PUT_UPSERT, &err);
	}
	assert_int_equal(rc, DV_EFULL);
	assert_non_null(strstr(err, "DatabaseMapSize"));
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

/* Fill @st with mailboxes in one transaction: the status of its end. */
static int
fill(struct store *st, const char *prefix, int n)
{
	struct store_txn *t;
	struct mbox mb;
	const char *err;
	int rc;

	if ((rc = store_txn_begin(st, true, &t, &err)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "%s%06d@example.com", prefix, i);
		mbox_init(&mb, addr, MBOX_USER);
		rc = store_mailbox_put(t, &mb, STORE_PUT_UPSERT, &err);
	}
	if (rc != 0) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t, &err);
}

static void
full_map_grown_takes_the_writes(void **state)
{
	struct store_opts o = { .create = true, .mapsize = 1 << 20 };
	char *dir = scratch_dir(), p[300];
	struct store *st;
	const char *err;
	size_t was, now;
	int rc;

	snprintf(p, sizeof(p), "%s/db", dir);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	assert_int_equal(fill(st, "full", 60000), DV_EFULL);
	assert_int_equal(store_grow(st, 8 << 20, &was, &now, &err), 0);
	assert_int_equal(was, 1 << 20);
	assert_int_equal(now, 8 << 20);
	assert_int_equal(fill(st, "full", 60000), 0);
	/* A map never shrinks under its process. */
	assert_int_equal(store_grow(st, 2 << 20, &was, &now, &err), 0);
	assert_int_equal(was, 8 << 20);
	assert_int_equal(now, 8 << 20);
	store_close(st);
	/*
	 * Reopened with the old setting, the map is just what the data
	 * takes (LMDB's minimum); a write that finds it full takes the
	 * size the store's meta page records, 8 MiB, as no commit has
	 * recorded a smaller one since.
	 */
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	if ((rc = fill(st, "again", 1000)) == DV_EFULL)
		rc = fill(st, "again", 1000);
	assert_int_equal(rc, 0);
	store_close(st);
	rm_tree(dir);
}

static void
full_map_takes_the_size_another_process_grew(void **state)
{
	struct store_opts o = { .create = true, .mapsize = 1 << 20 };
	char *dir = scratch_dir(), p[300];
	struct store *st;
	const char *err;
	pid_t pid;
	int status;

	snprintf(p, sizeof(p), "%s/db", dir);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The daemon, reloaded with a larger DatabaseMapSize: its
		 * next commit records the size, and stays within 1 MiB. */
		struct store *d;
		size_t was, now;

		if (store_open(p, &o, &d, &err) != 0 ||
		    store_grow(d, 64 << 20, &was, &now, &err) != 0 ||
		    fill(d, "daemon", 10) != 0)
			_exit(1);
		store_close(d);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* LMDB does not say MDB_MAP_RESIZED: the data fit our map. */
	assert_int_equal(fill(st, "worker", 60000), DV_EFULL);
	assert_int_equal(fill(st, "worker", 60000), 0);
	store_close(st);
	rm_tree(dir);
}

static void
nometasync_commits_are_kept_after_store_sync(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .create = true, .mapsize = 4 << 20,
	    .nometasync = true };
	struct store *st;
	struct store_txn *t;
	struct mbox mb;
	char p[300];
	const char *err;

	snprintf(p, sizeof(p), "%s/lazy", f->dir);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	put_mailbox(st, "a@example.com", 1, STORE_PUT_CREATE, 0);
	assert_int_equal(store_sync(st, &err), 0);
	store_close(st);
	assert_int_equal(store_open(p, NULL, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(store_mailbox_get(t, "a@example.com", &mb, &err), 0);
	store_txn_abort(t);
	store_close(st);
}

static void
preallocation_keeps_zeroed_space_past_the_data(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .create = true, .mapsize = 16 << 20 };
	struct store *st;
	struct store_txn *t;
	struct mbox mb;
	struct stat sb;
	char p[300], data[320];
	const char *err;
	off_t first;

	snprintf(p, sizeof(p), "%s/pre", f->dir);
	snprintf(data, sizeof(data), "%s/data.mdb", p);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	put_mailbox(st, "a@example.com", 1, STORE_PUT_CREATE, 0);
	assert_int_equal(stat(data, &sb), 0);
	assert_true(sb.st_size < (1 << 20));
	assert_int_equal(store_preallocate(st, 1 << 20, 2 << 20, &err), 0);
	assert_int_equal(stat(data, &sb), 0);
	first = sb.st_size;
	assert_true(first >= (3 << 20));
	assert_true(sb.st_blocks * 512 >= first);	/* allocated, not sparse */
	/* Enough left: nothing more. */
	assert_int_equal(store_preallocate(st, 1 << 20, 2 << 20, &err), 0);
	assert_int_equal(stat(data, &sb), 0);
	assert_int_equal(sb.st_size, first);
	/* Never past the map. */
	assert_int_equal(store_preallocate(st, 64 << 20, 64 << 20, &err), 0);
	assert_int_equal(stat(data, &sb), 0);
	assert_int_equal(sb.st_size, 16 << 20);
	/* The store goes on over the zeros, and reopens. */
	put_mailbox(st, "b@example.com", 1, STORE_PUT_CREATE, 0);
	store_close(st);
	assert_int_equal(store_open(p, &o, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(store_mailbox_get(t, "a@example.com", &mb, &err), 0);
	assert_int_equal(store_mailbox_get(t, "b@example.com", &mb, &err), 0);
	store_txn_abort(t);
	store_close(st);
}

/*
 * A backup is the store as of its last commit, made while a writer holds
 * the write lock (no deadlock: the copy takes none), and it opens as a
 * store of its own.
 */
static void
backup_is_the_last_commit_and_takes_no_write_lock(void **state)
{
	struct fixture *f = *state;
	struct store_txn *w, *t;
	struct store *copy;
	struct mbox mb;
	char dir[300], file[320];
	const char *err;
	int fd;

	put_mailbox(f->st, "one@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_CREATE, 0);
	put_mailbox(f->st, "two@example.com", MBOX_APPROVAL_APPROVED,
	    STORE_PUT_CREATE, 0);
	mbox_init(&mb, "three@example.com", MBOX_USER);
	assert_int_equal(store_txn_begin(f->st, true, &w, &err), 0);
	assert_int_equal(store_mailbox_put(w, &mb, STORE_PUT_CREATE, &err), 0);

	snprintf(dir, sizeof(dir), "%s/copy", f->dir);
	assert_int_equal(mkdir(dir, 0750), 0);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(store_backup(f->st, fd, &err), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_txn_commit(w, &err), 0);

	assert_int_equal(store_open(dir, NULL, &copy, &err), 0);
	assert_int_equal(store_txn_begin(copy, false, &t, &err), 0);
	assert_int_equal(store_mailbox_get(t, "one@example.com", &mb, &err), 0);
	assert_int_equal(store_mailbox_get(t, "two@example.com", &mb, &err), 0);
	assert_int_equal(store_mailbox_get(t, "three@example.com", &mb, &err),
	    DV_ENOTFOUND);
	store_txn_abort(t);
	assert_string_equal(store_instance(copy), store_instance(f->st));
	store_close(copy);

	/* A descriptor it cannot write names the store. */
	fd = open(file, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_not_equal(store_backup(f->st, fd, &err), 0);
	assert_non_null(strstr(err, "backup"));
	assert_non_null(strstr(err, f->path));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_get_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    nometasync_commits_are_kept_after_store_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    preallocation_keeps_zeroed_space_past_the_data, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    reader_sees_each_commit_without_reopening, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    other_process_writes_are_seen_by_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(foreach_and_count, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(profile_reference_integrity,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(newer_schema_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    missing_directory_is_an_error_unless_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    backup_is_the_last_commit_and_takes_no_write_lock, setup,
		    teardown),
		cmocka_unit_test(full_map_reported_as_full),
		cmocka_unit_test(map_grown_by_another_process_is_adopted),
		cmocka_unit_test(full_map_grown_takes_the_writes),
		cmocka_unit_test(full_map_takes_the_size_another_process_grew),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * store.c - mailbox and profile store on LMDB.
 *
 * Owns the environment, the schema check and the record tables. It knows
 * the encodings only through mbox.h and nothing about SMTP or policy.
 * It opens the environment with MDB_NOTLS so that a read transaction is a
 * plain handle that can be reset and renewed cheaply on any thread.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/rand.h>

#include "caps.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "store_int.h"

struct store_reader {
	struct store *store;
	MDB_txn *txn;
};

static const char SCHEMA_KEY[] = "schema";
static const char INSTANCE_KEY[] = "instance";

/* Map an LMDB return code to ours, with text naming what failed. */
int
store_mdb_fail(int rc, const char *what, const char **error_r)
{
	if (rc == MDB_NOTFOUND)
		return DV_ENOTFOUND;
	if (rc == MDB_MAP_FULL) {
		*error_r = dv_error_set("%s: the store is full; raise "
		    "DatabaseMapSize and reload dvmilter (SIGUSR1)", what);
		return DV_EFULL;
	}
	*error_r = dv_error_set("%s: %s", what, mdb_strerror(rc));
	return rc > 0 ? rc : DV_ESTORE;
}

static const struct {
	const char *name;
	size_t off;
} store_tables[] = {
	{ "meta", offsetof(struct store, meta) },
	{ "mailbox", offsetof(struct store, mailbox) },
	{ "profile", offsetof(struct store, profile) },
	{ "qmsg", offsetof(struct store, qmsg) },
	{ "qdel", offsetof(struct store, qdel) },
	{ "qdue", offsetof(struct store, qdue) },
	{ "qmsgid", offsetof(struct store, qmsgid) },
	{ "plugkv", offsetof(struct store, plugkv) },
	{ "rule", offsetof(struct store, rule) },
	{ "qsmart", offsetof(struct store, qsmart) },
	{ "qsmartid", offsetof(struct store, qsmartid) },
	{ "known", offsetof(struct store, known) },
};
#define NTABLES	(sizeof(store_tables) / sizeof(store_tables[0]))

static int
check_schema(struct store *st, const MDB_val *v, const char **error_r)
{
	const unsigned char *p = v->mv_data;
	uint32_t ver;

	if (v->mv_size != 4) {
		*error_r = dv_error_set("%s: schema record is corrupt", st->path);
		return DV_ECORRUPT;
	}
	ver = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
	if (ver > STORE_SCHEMA_VERSION) {
		*error_r = dv_error_set("%s: store schema %u is newer than this "
		    "dvmilter supports (%u); upgrade dvmilter", st->path, ver,
		    STORE_SCHEMA_VERSION);
		return DV_ESCHEMA;
	}
	return 0;
}

/* The store's identity into st->instance; MDB_NOTFOUND if it has none. */
static int
instance_get(struct store *st, MDB_txn *txn)
{
	static const char hex[] = "0123456789abcdef";
	MDB_val k = { sizeof(INSTANCE_KEY) - 1, (void *)INSTANCE_KEY }, v;
	const unsigned char *p;
	int rc;

	if ((rc = mdb_get(txn, st->meta, &k, &v)) != 0)
		return rc;
	if (v.mv_size != STORE_INSTANCE_LEN / 2)
		return MDB_NOTFOUND;	/* made again, as if absent */
	p = v.mv_data;
	for (size_t i = 0; i < v.mv_size; i++) {
		st->instance[2 * i] = hex[p[i] >> 4];
		st->instance[2 * i + 1] = hex[p[i] & 15];
	}
	st->instance[STORE_INSTANCE_LEN] = '\0';
	return 0;
}

/* Give the store an identity if it has none (a new or older store). */
static int
instance_init(struct store *st, MDB_txn *txn, const char **error_r)
{
	MDB_val k = { sizeof(INSTANCE_KEY) - 1, (void *)INSTANCE_KEY }, v;
	unsigned char id[STORE_INSTANCE_LEN / 2];
	int rc;

	if ((rc = instance_get(st, txn)) != MDB_NOTFOUND)
		return rc == 0 ? 0 : store_mdb_fail(rc, st->path, error_r);
	if (RAND_bytes(id, sizeof(id)) != 1) {
		*error_r = dv_error_set("%s: no random bytes for the store's "
		    "identity", st->path);
		return DV_ESTORE;
	}
	v.mv_size = sizeof(id);
	v.mv_data = id;
	if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0 ||
	    (rc = instance_get(st, txn)) != 0)
		return store_mdb_fail(rc, st->path, error_r);
	return 0;
}

/*
 * The common case, an initialised store, needs only a read transaction:
 * opening the store must not wait behind a long import holding LMDB's
 * writer lock. Returns DV_ENOTFOUND when something must be created.
 */
static int
store_open_tables_ro(struct store *st, const char **error_r)
{
	MDB_txn *txn;
	MDB_val k = { sizeof(SCHEMA_KEY) - 1, (void *)SCHEMA_KEY }, v;
	int rc;

	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return store_mdb_fail(rc, st->path, error_r);
	for (size_t i = 0; i < NTABLES; i++) {
		rc = mdb_dbi_open(txn, store_tables[i].name, 0,
		    (MDB_dbi *)((char *)st + store_tables[i].off));
		if (rc != 0)
			goto out;
	}
	if ((rc = mdb_get(txn, st->meta, &k, &v)) == 0 &&
	    (rc = check_schema(st, &v, error_r)) == 0 &&
	    (rc = instance_get(st, txn)) == 0) {
		/* Handles opened in a committed read txn stay valid. */
		return mdb_txn_commit(txn) == 0 ? 0 : DV_ENOTFOUND;
	}
out:
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND || rc == DV_ENOTFOUND)
		return DV_ENOTFOUND;
	if (rc >= DV_ENOTFOUND && rc <= DV_ELAST)
		return rc;		/* ours, with its text set */
	return store_mdb_fail(rc, st->path, error_r);
}

static int
store_init_schema(struct store *st, const char **error_r)
{
	MDB_txn *txn = NULL;
	MDB_val k = { sizeof(SCHEMA_KEY) - 1, (void *)SCHEMA_KEY }, v;
	unsigned char enc[4];
	int rc;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		return store_mdb_fail(rc, st->path, error_r);
	/* Creates the tables a store of an older dvmilter lacks, too. */
	for (size_t i = 0; i < NTABLES; i++) {
		rc = mdb_dbi_open(txn, store_tables[i].name, MDB_CREATE,
		    (MDB_dbi *)((char *)st + store_tables[i].off));
		if (rc != 0) {
			rc = store_mdb_fail(rc, st->path, error_r);
			goto out;
		}
	}
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0) {
		if ((rc = check_schema(st, &v, error_r)) != 0)
			goto out;
	} else if (rc == MDB_NOTFOUND) {
		for (int i = 0; i < 4; i++)
			enc[i] = (unsigned char)(STORE_SCHEMA_VERSION >> (8 * i));
		v.mv_size = sizeof(enc);
		v.mv_data = enc;
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
			rc = store_mdb_fail(rc, st->path, error_r);
			goto out;
		}
	} else {
		rc = store_mdb_fail(rc, st->path, error_r);
		goto out;
	}
	/* Older schemas are migrated here when there are any. */
	if ((rc = instance_init(st, txn, error_r)) != 0)
		goto out;

	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		rc = store_mdb_fail(rc, st->path, error_r);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/*
 * LMDB opens (and may create) data.mdb and lock.mdb by name, following
 * symbolic links; dvmilterctl and the daemon open them as root. Refuse a
 * link (or anything but a regular file with one name) there. The daemon
 * has made the directory root's before this (milter/mf_daemon.c), so what
 * is checked stays so.
 */
static int
check_files(const char *dir, const char **error_r)
{
	static const char *const names[] = { "data.mdb", "lock.mdb" };
	char p[DV_PATH_MAX + 16];
	struct stat sb;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (lstat(p, &sb) != 0) {
			if (errno == ENOENT)
				continue;
			*error_r = dv_error_set("store %s: %s", p,
			    strerror(errno));
			return errno;
		}
		if (S_ISLNK(sb.st_mode) || !S_ISREG(sb.st_mode) ||
		    sb.st_nlink != 1) {
			*error_r = dv_error_set("store %s is %s; dvmilter "
			    "never opens one there: remove it (and see who "
			    "made it)", p, S_ISLNK(sb.st_mode) ?
			    "a symbolic link" : "not a regular file with "
			    "one link");
			return DV_EINVAL;
		}
	}
	return 0;
}

int
store_open(const char *path, const struct store_opts *opts,
    struct store **store_r, const char **error_r)
{
	struct store_opts def = { 0 };
	struct store *st;
	struct stat sb;
	int rc, dead;

	if (opts == NULL)
		opts = &def;
	*store_r = NULL;
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT || !opts->create) {
			rc = errno;
			*error_r = dv_error_set("store %s: %s", path,
			    strerror(rc));
			return rc;
		}
		if (mkdir(path, 0750) != 0) {
			rc = errno;
			*error_r = dv_error_set("store %s: cannot create: %s",
			    path, strerror(rc));
			return rc;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		*error_r = dv_error_set("store %s: not a directory", path);
		return ENOTDIR;
	}

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(path)) == NULL) {
		free(st);
		*error_r = dv_error_set("store %s: out of memory", path);
		return ENOMEM;
	}
	pthread_rwlock_init(&st->maplock, NULL);
	if ((rc = mdb_env_create(&st->env)) != 0) {
		rc = store_mdb_fail(rc, path, error_r);
		goto fail;
	}
	mdb_env_set_mapsize(st->env,
	    opts->mapsize ? opts->mapsize : STORE_DEFAULT_MAPSIZE);
	mdb_env_set_maxreaders(st->env,
	    opts->maxreaders ? opts->maxreaders : 4096);
	mdb_env_set_maxdbs(st->env, 32);
	if ((rc = check_files(path, error_r)) != 0)
		goto fail;
	rc = mdb_env_open(st->env, path, MDB_NOTLS |
	    (opts->nometasync ? MDB_NOMETASYNC : 0), 0660);
	if (rc != 0) {
		*error_r = dv_error_set("store %s: %s", path, mdb_strerror(rc));
		rc = rc > 0 ? rc : DV_ESTORE;
		goto fail;
	}
	/* Slots left by crashed dvmilterctl runs would pin old pages. */
	mdb_reader_check(st->env, &dead);
	rc = store_open_tables_ro(st, error_r);
	if (rc == DV_ENOTFOUND)
		rc = store_init_schema(st, error_r);
	if (rc != 0)
		goto fail;
	*store_r = st;
	return 0;
fail:
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st->path);
	free(st);
	return rc;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->maplock);
	free(st->path);
	free(st);
}

/*
 * With the map lock held for writing: take the size the store's meta
 * page records, the size of the process that committed last, if it is
 * larger than ours (a map never shrinks under its process).
 */
static void
adopt_locked(struct store *st)
{
	MDB_envinfo before, after;

	mdb_env_info(st->env, &before);
	mdb_env_set_mapsize(st->env, 0);
	mdb_env_info(st->env, &after);
	if (after.me_mapsize < before.me_mapsize)
		mdb_env_set_mapsize(st->env, before.me_mapsize);
}

/*
 * After a write transaction that failed (a full map shows at the put
 * that needed a page, or at the commit): our map may be full while
 * another process (the daemon after a reload, dvmilterctl) has grown
 * the store's, which LMDB reports only once the data outgrows our map.
 * Take its size for the next transaction. Only when no other
 * transaction of this process is active, and without waiting: a thread
 * that holds one and waited here would wait for ever. A write
 * transaction ends in an abort only on failure (store_preallocate()'s
 * holds the lock and says so), so this is rare.
 */
static void
adopt_after_failure(struct store *st)
{
	if (pthread_rwlock_trywrlock(&st->maplock) == 0) {
		adopt_locked(st);
		pthread_rwlock_unlock(&st->maplock);
	}
}

/*
 * Another process grew the map past ours (MDB_MAP_RESIZED): adopt its
 * size. Called without the read lock; takes the write lock so that no
 * transaction of this process is active.
 */
static void
adopt_map_size(struct store *st)
{
	pthread_rwlock_wrlock(&st->maplock);
	adopt_locked(st);
	pthread_rwlock_unlock(&st->maplock);
}

int
store_grow(struct store *st, size_t size, size_t *old_r, size_t *new_r,
    const char **error_r)
{
	MDB_envinfo info;
	int rc = 0;

	pthread_rwlock_wrlock(&st->maplock);
	mdb_env_info(st->env, &info);
	*old_r = *new_r = info.me_mapsize;
	if (size > info.me_mapsize) {
		/*
		 * LMDB unmaps the old map before it maps the new one, and a
		 * failed mapping leaves it with none: make sure first that
		 * the address space is there.
		 */
		void *probe = mmap(NULL, size, PROT_NONE, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (probe == MAP_FAILED) {
			rc = errno;
			*error_r = dv_error_set("store %s: cannot map %zu "
			    "bytes: %s", st->path, size, strerror(rc));
		} else {
			munmap(probe, size);
			if ((rc = mdb_env_set_mapsize(st->env, size)) != 0)
				fatal("store %s: the map of %zu bytes is gone: "
				    "%s", st->path, size, mdb_strerror(rc));
			*new_r = size;
		}
	}
	pthread_rwlock_unlock(&st->maplock);
	return rc;
}

const char *
store_path(const struct store *st)
{
	return st->path;
}

const char *
store_instance(const struct store *st)
{
	return st->instance;
}

static int
txn_begin(struct store *st, unsigned flags, struct store_txn **txn_r,
    const char **error_r)
{
	struct store_txn *t;
	int rc;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	pthread_rwlock_rdlock(&st->maplock);
	rc = mdb_txn_begin(st->env, NULL, flags, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		pthread_rwlock_unlock(&st->maplock);
		adopt_map_size(st);
		pthread_rwlock_rdlock(&st->maplock);
		rc = mdb_txn_begin(st->env, NULL, flags, &t->txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&st->maplock);
		free(t);
		return store_mdb_fail(rc, st->path, error_r);
	}
	t->store = st;
	t->write = (flags & MDB_RDONLY) == 0;
	*txn_r = t;
	return 0;
}

int
store_txn_begin(struct store *st, bool write, struct store_txn **txn_r,
    const char **error_r)
{
	return txn_begin(st, write ? 0 : MDB_RDONLY, txn_r, error_r);
}

int
store_sync(struct store *st, const char **error_r)
{
	int rc = mdb_env_sync(st->env, 1);

	return rc != 0 ? store_mdb_fail(rc, st->path, error_r) : 0;
}

int
store_backup(struct store *st, int fd, const char **error_r)
{
	int rc;

	pthread_rwlock_rdlock(&st->maplock);	/* no store_grow() meanwhile */
	rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&st->maplock);
	if (rc == 0)
		return 0;
	*error_r = dv_error_set("store %s: backup: %s", st->path,
	    mdb_strerror(rc));
	return rc > 0 ? rc : DV_ESTORE;
}

static void txn_end(struct store_txn *t, bool failed);

int
store_preallocate(struct store *st, size_t low, size_t chunk,
    const char **error_r)
{
	static const char zeros[64 * 1024];
	struct store_txn *t;
	MDB_envinfo info;
	MDB_stat ms;
	struct stat sb;
	mdb_filehandle_t fd;
	off_t used, start, end;
	int rc;

	/* The write lock: no commit may write past the last page now. */
	if ((rc = store_txn_begin(st, true, &t, error_r)) != 0)
		return rc;
	if (mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0 ||
	    mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0) {
		txn_end(t, false);
		*error_r = dv_error_set("%s: cannot read the store's size",
		    st->path);
		return DV_ESTORE;
	}
	used = (off_t)(info.me_last_pgno + 1) * (off_t)ms.ms_psize;
	start = sb.st_size > used ? sb.st_size : used;
	start -= start % (off_t)ms.ms_psize;
	end = used + (off_t)low + (off_t)chunk;
	if (end > (off_t)info.me_mapsize)
		end = (off_t)info.me_mapsize;
	if (sb.st_size >= used + (off_t)low || start >= end) {
		txn_end(t, false);
		return 0;
	}
	rc = 0;
	for (off_t o = start; rc == 0 && o < end; ) {
		size_t n = end - o < (off_t)sizeof(zeros) ? (size_t)(end - o) :
		    sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, o);

		if (w > 0)
			o += w;
		else if (w < 0 && errno != EINTR)
			rc = errno;
		else if (w == 0)
			rc = EIO;
	}
	if (rc == 0 && fdatasync(fd) != 0)
		rc = errno;
	txn_end(t, false);
	if (rc != 0) {
		*error_r = dv_error_set("%s: preallocating: %s", st->path,
		    strerror(rc));
		return DV_ESTORE;
	}
	return 0;
}

/* Renew a reader's transaction, holding the map lock for reading. */
static int
reader_renew(struct store_reader *r, const char **error_r)
{
	int rc;

	pthread_rwlock_rdlock(&r->store->maplock);
	rc = mdb_txn_renew(r->txn);
	if (rc == MDB_MAP_RESIZED) {
		pthread_rwlock_unlock(&r->store->maplock);
		adopt_map_size(r->store);
		pthread_rwlock_rdlock(&r->store->maplock);
		rc = mdb_txn_renew(r->txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&r->store->maplock);
		return store_mdb_fail(rc, r->store->path, error_r);
	}
	return 0;
}

int
store_reader_txn(struct store_reader *r, struct store_txn **txn_r,
    const char **error_r)
{
	struct store_txn *t;
	int rc;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	if ((rc = reader_renew(r, error_r)) != 0) {
		free(t);
		return rc;
	}
	t->store = r->store;
	t->txn = r->txn;
	t->borrowed = true;
	*txn_r = t;
	return 0;
}

int
store_txn_commit(struct store_txn *t, const char **error_r)
{
	int rc;
	struct store *st = t->store;

	if (t->borrowed) {		/* read-only: nothing to commit */
		store_txn_abort(t);
		return 0;
	}
	rc = mdb_txn_commit(t->txn);

	pthread_rwlock_unlock(&st->maplock);
	free(t);
	if (rc == MDB_MAP_FULL)
		adopt_after_failure(st);
	return rc != 0 ? store_mdb_fail(rc, st->path, error_r) : 0;
}

/* End @t unused; after a failed write, see adopt_after_failure(). */
static void
txn_end(struct store_txn *t, bool failed)
{
	struct store *st;

	if (t == NULL)
		return;
	st = t->store;
	failed = failed && t->write;
	if (t->borrowed)
		mdb_txn_reset(t->txn);	/* the reader keeps its slot */
	else
		mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&st->maplock);
	free(t);
	if (failed)
		adopt_after_failure(st);
}

void
store_txn_abort(struct store_txn *t)
{
	txn_end(t, true);
}

static MDB_val
key_of(const char *s)
{
	MDB_val k = { strlen(s), (void *)s };
	return k;
}

/* Shared body of the put functions: mode checks, then mdb_put. */
static int
put_record(struct store_txn *t, MDB_dbi dbi, const char *key,
    const unsigned char *data, size_t len, int mode, const char *what,
    const char **error_r)
{
	MDB_val k = key_of(key), v;
	int rc;

	if (k.mv_size == 0 || k.mv_size > 511) {
		*error_r = dv_error_set("%s: invalid key length", what);
		return DV_EINVAL;
	}
	if (mode != STORE_PUT_UPSERT) {
		rc = mdb_get(t->txn, dbi, &k, &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_mdb_fail(rc, what, error_r);
		if (mode == STORE_PUT_CREATE && rc == 0) {
			*error_r = dv_error_set("%s %s already exists", what, key);
			return DV_EEXIST;
		}
		if (mode == STORE_PUT_UPDATE && rc == MDB_NOTFOUND) {
			*error_r = dv_error_set("no such %s: %s", what, key);
			return DV_ENOTFOUND;
		}
	}
	v.mv_size = len;
	v.mv_data = (void *)data;
	if ((rc = mdb_put(t->txn, dbi, &k, &v, 0)) != 0)
		return store_mdb_fail(rc, what, error_r);
	return 0;
}

static int
del_record(struct store_txn *t, MDB_dbi dbi, const char *key,
    const char *what, const char **error_r)
{
	MDB_val k = key_of(key);
	int rc = mdb_del(t->txn, dbi, &k, NULL);

	if (rc == MDB_NOTFOUND) {
		*error_r = dv_error_set("no such %s: %s", what, key);
		return DV_ENOTFOUND;
	}
	return rc != 0 ? store_mdb_fail(rc, what, error_r) : 0;
}

/* Copy a key out of LMDB memory into a C string. */
static int
key_copy(const MDB_val *k, char *dst, size_t dstsz)
{
	if (k->mv_size >= dstsz || memchr(k->mv_data, '\0', k->mv_size))
		return DV_ECORRUPT;
	memcpy(dst, k->mv_data, k->mv_size);
	dst[k->mv_size] = '\0';
	return 0;
}

int
store_mailbox_get(struct store_txn *t, const char *addr, struct mbox *mb,
    const char **error_r)
{
	MDB_val k = key_of(addr), v;
	int rc = mdb_get(t->txn, t->store->mailbox, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*error_r = dv_error_set("no such mailbox: %s", addr);
		return DV_ENOTFOUND;
	}
	if (rc != 0)
		return store_mdb_fail(rc, "mailbox", error_r);
	if ((rc = mbox_decode(v.mv_data, v.mv_size, addr, mb)) != 0)
		*error_r = dv_error_set("mailbox %s: stored record is corrupt",
		    addr);
	return rc;
}

int
store_mailbox_put(struct store_txn *t, const struct mbox *mb, int mode,
    const char **error_r)
{
	unsigned char buf[DV_RECORD_MAX];
	size_t len;
	int rc;

	if (mb->profile[0] != '\0') {
		MDB_val k = key_of(mb->profile), v;

		rc = mdb_get(t->txn, t->store->profile, &k, &v);
		if (rc == MDB_NOTFOUND) {
			*error_r = dv_error_set("no such profile: %s",
			    mb->profile);
			return DV_ENOTFOUND;
		}
		if (rc != 0)
			return store_mdb_fail(rc, "profile", error_r);
	}
	if ((rc = mbox_encode(mb, buf, sizeof(buf), &len)) != 0) {
		*error_r = dv_error_set("mailbox %s: record too large",
		    mb->address);
		return rc;
	}
	return put_record(t, t->store->mailbox, mb->address, buf, len, mode,
	    "mailbox", error_r);
}

int
store_mailbox_remove(struct store_txn *t, const char *addr,
    const char **error_r)
{
	return del_record(t, t->store->mailbox, addr, "mailbox", error_r);
}

int
store_mailbox_foreach(struct store_txn *t,
    int (*fn)(void *arg, const struct mbox *mb), void *arg,
    const char **error_r)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mbox *mb;
	char addr[DV_ADDR_MAX + 1];
	int rc, op = MDB_FIRST;

	if ((mb = malloc(sizeof(*mb))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	if ((rc = mdb_cursor_open(t->txn, t->store->mailbox, &cur)) != 0) {
		free(mb);
		return store_mdb_fail(rc, "mailbox", error_r);
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (key_copy(&k, addr, sizeof(addr)) != 0 ||
		    mbox_decode(v.mv_data, v.mv_size, addr, mb) != 0) {
			*error_r = dv_error_set("mailbox %.*s: stored record "
			    "is corrupt", (int)(k.mv_size > 320 ? 320 :
			    k.mv_size), (const char *)k.mv_data);
			rc = DV_ECORRUPT;
			goto out;
		}
		if ((rc = fn(arg, mb)) != 0)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_mdb_fail(rc, "mailbox", error_r);
out:
	mdb_cursor_close(cur);
	free(mb);
	return rc;
}

int
store_mailbox_count(struct store_txn *t, size_t *count_r,
    const char **error_r)
{
	MDB_stat ms;
	int rc = mdb_stat(t->txn, t->store->mailbox, &ms);

	if (rc != 0)
		return store_mdb_fail(rc, "mailbox", error_r);
	*count_r = ms.ms_entries;
	return 0;
}

int
store_profile_get(struct store_txn *t, const char *name, struct profile *p,
    const char **error_r)
{
	MDB_val k = key_of(name), v;
	int rc = mdb_get(t->txn, t->store->profile, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*error_r = dv_error_set("no such profile: %s", name);
		return DV_ENOTFOUND;
	}
	if (rc != 0)
		return store_mdb_fail(rc, "profile", error_r);
	if ((rc = profile_decode(v.mv_data, v.mv_size, name, p)) != 0)
		*error_r = dv_error_set("profile %s: stored record is corrupt",
		    name);
	return rc;
}

int
store_profile_put(struct store_txn *t, const struct profile *p, int mode,
    const char **error_r)
{
	unsigned char buf[DV_RECORD_MAX];
	size_t len;
	int rc;

	if ((rc = profile_encode(p, buf, sizeof(buf), &len)) != 0) {
		*error_r = dv_error_set("profile %s: record too large", p->name);
		return rc;
	}
	return put_record(t, t->store->profile, p->name, buf, len, mode,
	    "profile", error_r);
}

struct profile_use {
	const char *name;
	size_t count;
	char first[DV_ADDR_MAX + 1];
};

static int
profile_use_cb(void *arg, const struct mbox *mb)
{
	struct profile_use *u = arg;

	if (strcmp(mb->profile, u->name) == 0 && u->count++ == 0)
		snprintf(u->first, sizeof(u->first), "%s", mb->address);
	return 0;
}

int
store_profile_remove(struct store_txn *t, const char *name,
    const char **error_r)
{
	struct profile_use u = { name, 0, "" };
	int rc;

	if ((rc = store_mailbox_foreach(t, profile_use_cb, &u, error_r)) != 0)
		return rc;
	if (u.count > 0) {
		*error_r = dv_error_set("profile %s is used by %zu mailbox%s "
		    "(%s%s)", name, u.count, u.count == 1 ? "" : "es",
		    u.first, u.count > 1 ? ", ..." : "");
		return DV_EINUSE;
	}
	return del_record(t, t->store->profile, name, "profile", error_r);
}

int
store_profile_foreach(struct store_txn *t,
    int (*fn)(void *arg, const struct profile *p), void *arg,
    const char **error_r)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct profile *p;
	char name[DV_NAME_MAX + 1];
	int rc, op = MDB_FIRST;

	if ((p = malloc(sizeof(*p))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	if ((rc = mdb_cursor_open(t->txn, t->store->profile, &cur)) != 0) {
		free(p);
		return store_mdb_fail(rc, "profile", error_r);
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (key_copy(&k, name, sizeof(name)) != 0 ||
		    profile_decode(v.mv_data, v.mv_size, name, p) != 0) {
			*error_r = dv_error_set("a stored profile record is "
			    "corrupt");
			rc = DV_ECORRUPT;
			goto out;
		}
		if ((rc = fn(arg, p)) != 0)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_mdb_fail(rc, "profile", error_r);
out:
	mdb_cursor_close(cur);
	free(p);
	return rc;
}

int
store_reader_open(struct store *st, struct store_reader **reader_r,
    const char **error_r)
{
	struct store_reader *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	pthread_rwlock_rdlock(&st->maplock);
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
	if (rc == MDB_MAP_RESIZED) {
		pthread_rwlock_unlock(&st->maplock);
		adopt_map_size(st);
		pthread_rwlock_rdlock(&st->maplock);
		rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&st->maplock);
		free(r);
		return store_mdb_fail(rc, st->path, error_r);
	}
	mdb_txn_reset(r->txn);
	pthread_rwlock_unlock(&st->maplock);
	r->store = st;
	*reader_r = r;
	return 0;
}

void
store_reader_close(struct store_reader *r)
{
	if (r == NULL)
		return;
	mdb_txn_abort(r->txn);
	free(r);
}

int
store_lookup_policy(struct store_reader *r, const char *addr,
    struct mbox_policy *pol, const char **error_r)
{
	MDB_val k = key_of(addr), v;
	int rc;

	if ((rc = reader_renew(r, error_r)) != 0)
		return rc;
	rc = mdb_get(r->txn, r->store->mailbox, &k, &v);
	if (rc == 0) {
		if ((rc = mbox_decode_policy(v.mv_data, v.mv_size, pol)) != 0)
			*error_r = dv_error_set("mailbox %s: stored record is "
			    "corrupt", addr);
	} else if (rc == MDB_NOTFOUND)
		rc = DV_ENOTFOUND;
	else
		rc = store_mdb_fail(rc, "mailbox", error_r);
	mdb_txn_reset(r->txn);
	pthread_rwlock_unlock(&r->store->maplock);
	return rc;
}

int
store_meta_u64(struct store_txn *t, const char *key, uint64_t *value_r,
    bool *have_r, const char **error_r)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	const unsigned char *p;
	int rc = mdb_get(t->txn, t->store->meta, &k, &v);

	*value_r = 0;
	*have_r = false;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_fail(rc, key, error_r);
	if (v.mv_size != 8) {
		*error_r = dv_error_set("store record %s is corrupt", key);
		return DV_ECORRUPT;
	}
	p = v.mv_data;
	for (int i = 0; i < 8; i++)
		*value_r = (*value_r << 8) | p[i];
	*have_r = true;
	return 0;
}

int
store_meta_u64_put(struct store_txn *t, const char *key, uint64_t value,
    const char **error_r)
{
	unsigned char enc[8];
	MDB_val k = { strlen(key), (void *)key }, v = { 8, enc };
	int rc;

	for (int i = 7; i >= 0; i--) {
		enc[i] = (unsigned char)(value & 0xff);
		value >>= 8;
	}
	if ((rc = mdb_put(t->txn, t->store->meta, &k, &v, 0)) != 0)
		return store_mdb_fail(rc, key, error_r);
	return 0;
}

/* Counter @name's value (0 if none) and its meta key (80 bytes). */
static int
counter_get(struct store_txn *t, const char *name, char *key, uint64_t *n,
    const char **error_r)
{
	int len = snprintf(key, 80, "counter/%s", name);
	bool have;

	if (len < 0 || len >= 80) {
		*error_r = dv_error_set("counter name too long");
		return DV_EINVAL;
	}
	return store_meta_u64(t, key, n, &have, error_r);
}

int
store_counter_raise(struct store_txn *t, const char *name, uint64_t value,
    const char **error_r)
{
	char key[80];
	uint64_t n;
	int rc;

	if ((rc = counter_get(t, name, key, &n, error_r)) != 0 || n >= value)
		return rc;
	return store_meta_u64_put(t, key, value, error_r);
}

int
store_counter_next(struct store_txn *t, const char *name, uint64_t *value_r,
    const char **error_r)
{
	char key[80];
	uint64_t n;
	int rc;

	if ((rc = counter_get(t, name, key, &n, error_r)) != 0 ||
	    (rc = store_meta_u64_put(t, key, n + 1, error_r)) != 0)
		return rc;
	*value_r = n + 1;
	return 0;
}

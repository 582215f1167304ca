/*
 * pluginkv.c - buffered, transactional key/value storage for plugins,
 * and the writes to the known-senders index that go with it.
 *
 * The buffer is a small list: a plugin makes a handful of writes per
 * delivery. Each buffered key starts with a byte naming its table
 * (KV_PLUGKV or KV_KNOWN), so that a plugin's records and its index
 * entries commit in one transaction. Counters are plain keys holding a
 * decimal number. It does not decide when to commit; its callers do
 * (core/deliver.c for deliveries, core/plugin.c for the other calls).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "hash.h"
#include "pluginkv.h"
#include "status.h"
#include "store_int.h"

#define KV_KEY_MAX	400	/* LMDB's key limit is 511 */
#define KV_VALUE_MAX	(1u << 20)

/* The first byte of a buffered key: its table. */
#define KV_PLUGKV	'k'
#define KV_KNOWN	'i'

struct kv_entry {
	char *key;		/* table byte + "plugin\0key", klen bytes */
	size_t klen;
	void *val;		/* NULL when deleted */
	size_t vlen;
	struct kv_entry *next;
	struct kv_entry *hnext;	/* in its hash bucket */
};

/* A committed value a plugin read: checked again when its writes land. */
struct kv_read {
	char *key;
	size_t klen;
	bool existed;
	size_t vlen;
	uint64_t hash;		/* FNV-1a of the value */
	struct kv_read *next;
};

/* How to undo one buffered write, back to the last savepoint. */
struct kv_undo {
	struct kv_entry *e;
	bool created;		/* the write made the entry */
	void *old_val;		/* else its value before (NULL: deleted) */
	size_t old_len;
	struct kv_undo *next;
};

struct pluginkv {
	struct store *st;
	struct store_reader *reader;	/* for reads; NULL: a txn each */
	struct kv_entry *head;
	/* The entries by key, so that a call that buffers many writes (a
	 * plugin rebuilding its known-senders index at init) stays linear;
	 * NULL until the first entry, or if it could not be allocated. */
	struct kv_entry **buckets;
	size_t nbuckets, nentries;
	struct kv_read *reads;
	struct kv_undo *undo;	/* newest first */
	void *readbuf;		/* the last committed value handed out */
};

/* --- the buffered entries, by key --------------------------------------------- */

static size_t
bucket_of(const struct pluginkv *kv, const char *k, size_t kl)
{
	return (size_t)(dv_fnv1a(k, kl) & (kv->nbuckets - 1));
}

static struct kv_entry *
find(struct pluginkv *kv, const char *k, size_t kl)
{
	struct kv_entry *e = kv->buckets != NULL ?
	    kv->buckets[bucket_of(kv, k, kl)] : kv->head;

	for (; e != NULL; e = kv->buckets != NULL ? e->hnext : e->next)
		if (e->klen == kl && memcmp(e->key, k, kl) == 0)
			return e;
	return NULL;
}

/*
 * Put @e, new at the head of the list, into the hash, growing it to keep
 * chains short. Without memory for a larger table the old one stays;
 * without any, find() walks the list.
 */
static void
hash_add(struct pluginkv *kv, struct kv_entry *e)
{
	kv->nentries++;
	if (kv->nentries > kv->nbuckets) {
		size_t n = kv->nbuckets > 0 ? kv->nbuckets * 2 : 64;
		struct kv_entry **b = calloc(n, sizeof(*b));

		if (b != NULL) {
			free(kv->buckets);
			kv->buckets = b;
			kv->nbuckets = n;
			for (struct kv_entry *x = kv->head; x != NULL;
			    x = x->next) {
				size_t i = bucket_of(kv, x->key, x->klen);

				x->hnext = b[i];
				b[i] = x;
			}
			return;
		}
		if (kv->buckets == NULL)
			return;
	}
	e->hnext = kv->buckets[bucket_of(kv, e->key, e->klen)];
	kv->buckets[bucket_of(kv, e->key, e->klen)] = e;
}

static void
hash_remove(struct pluginkv *kv, struct kv_entry *e)
{
	struct kv_entry **pp;

	kv->nentries--;
	if (kv->buckets == NULL)
		return;
	for (pp = &kv->buckets[bucket_of(kv, e->key, e->klen)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
}

static void
hash_clear(struct pluginkv *kv)
{
	free(kv->buckets);
	kv->buckets = NULL;
	kv->nbuckets = kv->nentries = 0;
}

/* Remember what a read saw; a failure only weakens the check. */
static void
note_read(struct pluginkv *kv, const char *k, size_t kl, const MDB_val *v)
{
	struct kv_read *r;

	for (r = kv->reads; r != NULL; r = r->next)
		if (r->klen == kl && memcmp(r->key, k, kl) == 0)
			return;		/* the first read is the one to check */
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->key = malloc(kl)) == NULL) {
		free(r);
		return;
	}
	memcpy(r->key, k, kl);
	r->klen = kl;
	r->existed = v != NULL;
	r->vlen = v != NULL ? v->mv_size : 0;
	r->hash = v != NULL ? dv_fnv1a(v->mv_data, v->mv_size) : 0;
	r->next = kv->reads;
	kv->reads = r;
}

struct pluginkv *
pluginkv_new(struct store *st)
{
	struct pluginkv *kv = calloc(1, sizeof(*kv));
	const char *err;

	if (kv != NULL) {
		kv->st = st;
		/* Without one, reads still work, a little slower. */
		if (store_reader_open(st, &kv->reader, &err) != 0)
			kv->reader = NULL;
	}
	return kv;
}

void
pluginkv_savepoint(struct pluginkv *kv)
{
	while (kv->undo != NULL) {
		struct kv_undo *u = kv->undo;

		kv->undo = u->next;
		free(u->old_val);
		free(u);
	}
}

void
pluginkv_rollback(struct pluginkv *kv)
{
	while (kv->undo != NULL) {
		struct kv_undo *u = kv->undo;
		struct kv_entry **pp;

		kv->undo = u->next;
		if (u->created) {
			hash_remove(kv, u->e);
			for (pp = &kv->head; *pp != NULL; pp = &(*pp)->next)
				if (*pp == u->e) {
					*pp = u->e->next;
					break;
				}
			free(u->e->key);
			free(u->e->val);
			free(u->e);
		} else {
			free(u->e->val);
			u->e->val = u->old_val;
			u->e->vlen = u->old_len;
		}
		free(u);
	}
}

void
pluginkv_discard(struct pluginkv *kv)
{
	pluginkv_savepoint(kv);
	while (kv->reads != NULL) {
		struct kv_read *r = kv->reads;

		kv->reads = r->next;
		free(r->key);
		free(r);
	}
	while (kv->head != NULL) {
		struct kv_entry *e = kv->head;

		kv->head = e->next;
		free(e->key);
		free(e->val);
		free(e);
	}
	hash_clear(kv);
}

void
pluginkv_free(struct pluginkv *kv)
{
	if (kv == NULL)
		return;
	pluginkv_discard(kv);
	store_reader_close(kv->reader);
	free(kv->readbuf);
	free(kv);
}

/*
 * The LMDB key "plugin\0key" into @out, of at most KV_KEY_MAX bytes. An
 * empty key is the known index's mark that a plugin's index is complete.
 */
static int
make_key(int table, const char *plugin, const char *key, char *out,
    size_t *len_r)
{
	size_t pl = strlen(plugin), kl = strlen(key);

	if ((kl == 0 && table != KV_KNOWN) || pl + 1 + kl > KV_KEY_MAX)
		return -1;
	memcpy(out, plugin, pl);
	out[pl] = '\0';
	memcpy(out + pl + 1, key, kl);
	*len_r = pl + 1 + kl;
	return 0;
}

/* The same with the table byte in front, as the buffer keeps keys. */
static int
make_bkey(int table, const char *plugin, const char *key, char *out,
    size_t *len_r)
{
	out[0] = (char)table;
	if (make_key(table, plugin, key, out + 1, len_r) != 0)
		return -1;
	++*len_r;
	return 0;
}

static MDB_dbi
table_dbi(const struct store *st, char table)
{
	return table == KV_KNOWN ? st->known : st->plugkv;
}


static int
kv_lookup(struct pluginkv *kv, int table, const char *plugin, const char *key,
    const void **val, size_t *len)
{
	struct store_txn *t;
	struct kv_entry *e;
	char k[KV_KEY_MAX + 1];
	size_t kl;
	MDB_val mk, mv;
	const char *err;
	int rc;

	if (make_bkey(table, plugin, key, k, &kl) != 0)
		return DVP_KV_INVALID;
	if ((e = find(kv, k, kl)) != NULL) {
		if (e->val == NULL)
			return DVP_KV_NOTFOUND;
		if (val != NULL) {
			*val = e->val;
			*len = e->vlen;
		}
		return 0;
	}
	if ((kv->reader != NULL ? store_reader_txn(kv->reader, &t, &err) :
	    store_txn_begin(kv->st, false, &t, &err)) != 0)
		return DVP_KV_ERROR;
	mk.mv_size = kl - 1;
	mk.mv_data = k + 1;
	rc = mdb_get(t->txn, table_dbi(kv->st, (char)table), &mk, &mv);
	if (rc == 0 || rc == MDB_NOTFOUND)
		note_read(kv, k, kl, rc == 0 ? &mv : NULL);
	/* Without @val only whether it exists: the value a kv_get() handed
	 * out stays valid (the known-senders lookups). */
	if (rc == 0 && val != NULL) {
		free(kv->readbuf);
		if ((kv->readbuf = malloc(mv.mv_size + 1)) == NULL)
			rc = ENOMEM;
		else {
			memcpy(kv->readbuf, mv.mv_data, mv.mv_size);
			((char *)kv->readbuf)[mv.mv_size] = '\0';
			*val = kv->readbuf;
			*len = mv.mv_size;
		}
	}
	store_txn_abort(t);
	if (rc == MDB_NOTFOUND)
		return DVP_KV_NOTFOUND;
	return rc == 0 ? 0 : DVP_KV_ERROR;
}

static int
kv_get(void *arg, const char *plugin, const char *key, const void **val,
    size_t *len)
{
	return kv_lookup(arg, KV_PLUGKV, plugin, key, val, len);
}

static int
kv_set(struct pluginkv *kv, int table, const char *plugin, const char *key,
    const void *val, size_t len, bool del)
{
	struct kv_entry *e;
	struct kv_undo *u;
	char k[KV_KEY_MAX + 1];
	size_t kl;
	void *copy = NULL;

	if (make_bkey(table, plugin, key, k, &kl) != 0 || len > KV_VALUE_MAX)
		return DVP_KV_INVALID;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return DVP_KV_ERROR;
	/* NUL-terminated, as a committed value handed out is. */
	if (!del && (copy = malloc(len + 1)) == NULL) {
		free(u);
		return DVP_KV_ERROR;
	}
	if (!del) {
		if (len > 0)
			memcpy(copy, val, len);
		((char *)copy)[len] = '\0';
	}
	if ((e = find(kv, k, kl)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL ||
		    (e->key = malloc(kl)) == NULL) {
			free(e);
			free(copy);
			free(u);
			return DVP_KV_ERROR;
		}
		memcpy(e->key, k, kl);
		e->klen = kl;
		e->next = kv->head;
		kv->head = e;
		hash_add(kv, e);
		u->created = true;
	} else {
		u->old_val = e->val;	/* kept for a rollback */
		u->old_len = e->vlen;
		e->val = NULL;
	}
	u->e = e;
	u->next = kv->undo;
	kv->undo = u;
	free(e->val);
	e->val = copy;
	e->vlen = del ? 0 : len;
	return 0;
}

static int
kv_put(void *arg, const char *plugin, const char *key, const void *val,
    size_t len)
{
	return kv_set(arg, KV_PLUGKV, plugin, key, val, len, false);
}

static int
kv_del(void *arg, const char *plugin, const char *key)
{
	return kv_set(arg, KV_PLUGKV, plugin, key, NULL, 0, true);
}

static int
kv_next(void *arg, const char *plugin, const char *counter, uint64_t *value)
{
	char key[KV_KEY_MAX], num[24];
	const void *v;
	size_t len;
	uint64_t n = 0;
	int rc;

	if (snprintf(key, sizeof(key), "counter/%s", counter) >=
	    (int)sizeof(key))
		return DVP_KV_INVALID;
	rc = kv_get(arg, plugin, key, &v, &len);
	if (rc == 0) {
		char *end;

		if (len == 0 || len >= sizeof(num))
			return DVP_KV_ERROR;
		memcpy(num, v, len);
		num[len] = '\0';
		errno = 0;
		n = strtoull(num, &end, 10);
		if (errno != 0 || *end != '\0' || n == UINT64_MAX)
			return DVP_KV_ERROR;
	} else if (rc != DVP_KV_NOTFOUND)
		return rc;
	n++;
	snprintf(num, sizeof(num), "%" PRIu64, n);
	if ((rc = kv_put(arg, plugin, key, num, strlen(num))) != 0)
		return rc;
	*value = n;
	return 0;
}

/*
 * Write at once, in a commit of its own, synced (the store is opened
 * with nometasync). A read of the key earlier in the delivery now counts
 * as having seen this value, or the delivery's own commit would take the
 * write for someone else's.
 */
static int
kv_put_now(void *arg, const char *plugin, const char *key, const void *val,
    size_t len)
{
	struct pluginkv *kv = arg;
	struct store_txn *t;
	const char *err;
	char k[KV_KEY_MAX + 1];
	size_t kl;

	if (make_bkey(KV_PLUGKV, plugin, key, k, &kl) != 0 ||
	    len > KV_VALUE_MAX)
		return DVP_KV_INVALID;
	if (store_txn_begin(kv->st, true, &t, &err) != 0)
		return DVP_KV_ERROR;
	if (pluginkv_txn_put(t, plugin, key, val, len, &err) != 0) {
		store_txn_abort(t);
		return DVP_KV_ERROR;
	}
	if (store_txn_commit(t, &err) != 0 || store_sync(kv->st, &err) != 0)
		return DVP_KV_ERROR;
	for (struct kv_read *r = kv->reads; r != NULL; r = r->next)
		if (r->klen == kl && memcmp(r->key, k, kl) == 0) {
			r->existed = true;
			r->vlen = len;
			r->hash = dv_fnv1a(val, len);
		}
	return 0;
}

static int
known_get(void *arg, const char *plugin, const char *addr)
{
	return kv_lookup(arg, KV_KNOWN, plugin, addr, NULL, NULL);
}

static int
known_put(void *arg, const char *plugin, const char *addr)
{
	return kv_set(arg, KV_KNOWN, plugin, addr, "", 0, false);
}

static int
known_del(void *arg, const char *plugin, const char *addr)
{
	return kv_set(arg, KV_KNOWN, plugin, addr, NULL, 0, true);
}

/* Committed records only, in one read transaction. */
static int
kv_foreach(void *arg, const char *plugin, const char *prefix,
    int (*fn)(void *fnarg, const char *key, const void *val, size_t len),
    void *fnarg)
{
	struct pluginkv *kv = arg;
	struct store_txn *t;
	const char *err;
	int rc;

	if (store_txn_begin(kv->st, false, &t, &err) != 0)
		return DVP_KV_ERROR;
	rc = pluginkv_txn_foreach(t, plugin, prefix, fn, fnarg, &err);
	store_txn_abort(t);
	if (rc == DV_EINVAL)
		return DVP_KV_INVALID;
	return rc == 0 || rc > 0 ? rc : DVP_KV_ERROR;
}

static const struct plugin_kv_ops ops = {
	.get = kv_get,
	.put = kv_put,
	.del = kv_del,
	.next = kv_next,
	.put_now = kv_put_now,
	.known_get = known_get,
	.known_put = known_put,
	.known_del = known_del,
	.foreach = kv_foreach,
};

const struct plugin_kv_ops *
pluginkv_ops(void)
{
	return &ops;
}

int
pluginkv_apply(struct pluginkv *kv, struct store_txn *t, const char **error_r)
{
	int rc = 0;

	/* Someone else (dvmilterctl) changed what the plugin decided on. */
	for (struct kv_read *r = kv->reads; r != NULL && rc == 0; r = r->next) {
		MDB_val mk = { r->klen - 1, r->key + 1 }, mv;
		bool same;

		rc = mdb_get(t->txn, table_dbi(t->store, r->key[0]), &mk, &mv);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			rc = store_mdb_fail(rc, "plugin store", error_r);
			break;
		}
		same = rc == 0 ? r->existed && mv.mv_size == r->vlen &&
		    dv_fnv1a(mv.mv_data, mv.mv_size) == r->hash : !r->existed;
		rc = 0;
		if (!same) {
			*error_r = dv_error_set("a record the plugin read "
			    "was changed by another writer meanwhile");
			rc = DV_EINUSE;
		}
	}
	for (struct kv_entry *e = kv->head; e != NULL && rc == 0; e = e->next) {
		MDB_val mk = { e->klen - 1, e->key + 1 }, mv = { e->vlen, e->val };
		MDB_dbi dbi = table_dbi(t->store, e->key[0]);

		if (e->val != NULL)
			rc = mdb_put(t->txn, dbi, &mk, &mv, 0);
		else if ((rc = mdb_del(t->txn, dbi, &mk, NULL)) == MDB_NOTFOUND)
			rc = 0;
		if (rc != 0)
			rc = store_mdb_fail(rc, "plugin store", error_r);
	}
	pluginkv_discard(kv);
	return rc;
}

int
pluginkv_commit(struct pluginkv *kv, const char **error_r)
{
	struct store_txn *t;
	int rc;

	/* Nothing to write: no write transaction (a read-only store). */
	if (kv->head == NULL) {
		pluginkv_discard(kv);
		return 0;
	}
	if ((rc = store_txn_begin(kv->st, true, &t, error_r)) != 0) {
		pluginkv_discard(kv);
		return rc;
	}
	if ((rc = pluginkv_apply(kv, t, error_r)) != 0) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t, error_r);
}

/* --- direct access for dvmilterctl ------------------------------------------ */

int
pluginkv_txn_get(struct store_txn *t, const char *plugin, const char *key,
    const void **val, size_t *len, const char **error_r)
{
	char k[KV_KEY_MAX];
	size_t kl;
	MDB_val mk, mv;
	int rc;

	if (make_key(KV_PLUGKV, plugin, key, k, &kl) != 0) {
		*error_r = dv_error_set("invalid key %s", key);
		return DV_EINVAL;
	}
	mk.mv_size = kl;
	mk.mv_data = k;
	if ((rc = mdb_get(t->txn, t->store->plugkv, &mk, &mv)) != 0)
		return store_mdb_fail(rc, "plugin store", error_r);
	*val = mv.mv_data;
	*len = mv.mv_size;
	return 0;
}

int
pluginkv_txn_put(struct store_txn *t, const char *plugin, const char *key,
    const void *val, size_t len, const char **error_r)
{
	char k[KV_KEY_MAX];
	size_t kl;
	MDB_val mk, mv = { len, (void *)val };
	int rc;

	if (make_key(KV_PLUGKV, plugin, key, k, &kl) != 0 || len > KV_VALUE_MAX) {
		*error_r = dv_error_set("invalid key or value for %s", key);
		return DV_EINVAL;
	}
	mk.mv_size = kl;
	mk.mv_data = k;
	if ((rc = mdb_put(t->txn, t->store->plugkv, &mk, &mv, 0)) != 0)
		return store_mdb_fail(rc, "plugin store", error_r);
	return 0;
}

int
pluginkv_txn_del(struct store_txn *t, const char *plugin, const char *key,
    const char **error_r)
{
	char k[KV_KEY_MAX];
	size_t kl;
	MDB_val mk;
	int rc;

	if (make_key(KV_PLUGKV, plugin, key, k, &kl) != 0) {
		*error_r = dv_error_set("invalid key %s", key);
		return DV_EINVAL;
	}
	mk.mv_size = kl;
	mk.mv_data = k;
	if ((rc = mdb_del(t->txn, t->store->plugkv, &mk, NULL)) != 0)
		return store_mdb_fail(rc, "plugin store", error_r);
	return 0;
}

int
pluginkv_txn_foreach(struct store_txn *t, const char *plugin,
    const char *prefix, int (*fn)(void *arg, const char *key,
    const void *val, size_t len), void *arg, const char **error_r)
{
	char k[KV_KEY_MAX], key[KV_KEY_MAX + 1];
	size_t pl = strlen(plugin), kl;
	MDB_cursor *c;
	MDB_val mk, mv;
	int rc, op = MDB_SET_RANGE;

	if (pl + 1 + strlen(prefix) > KV_KEY_MAX) {
		*error_r = dv_error_set("invalid prefix %s", prefix);
		return DV_EINVAL;
	}
	memcpy(k, plugin, pl);
	k[pl] = '\0';
	memcpy(k + pl + 1, prefix, strlen(prefix));
	kl = pl + 1 + strlen(prefix);
	if ((rc = mdb_cursor_open(t->txn, t->store->plugkv, &c)) != 0)
		return store_mdb_fail(rc, "plugin store", error_r);
	mk.mv_size = kl;
	mk.mv_data = k;
	while ((rc = mdb_cursor_get(c, &mk, &mv, op)) == 0) {
		op = MDB_NEXT;
		if (mk.mv_size < kl || memcmp(mk.mv_data, k, kl) != 0 ||
		    mk.mv_size - pl - 1 > KV_KEY_MAX)
			break;
		memcpy(key, (char *)mk.mv_data + pl + 1, mk.mv_size - pl - 1);
		key[mk.mv_size - pl - 1] = '\0';
		if ((rc = fn(arg, key, mv.mv_data, mv.mv_size)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	return rc;
}

/*
 * store_int.h - the store's private interface for sibling core modules
 * (core/outbox/ob_table.c) that keep their own tables in the same LMDB
 * environment and must write them in the same transactions. Nothing outside core/
 * includes this.
 */
#ifndef DV_STORE_INT_H
#define DV_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

struct store {
	MDB_env *env;
	MDB_dbi meta, mailbox, profile;
	/* The outbox (core/outbox/ob_table.c). */
	MDB_dbi qmsg;		/* id (8 bytes BE) -> message record */
	MDB_dbi qdel;		/* id + plugin -> delivery state */
	MDB_dbi qdue;		/* due time (8 BE) + id + plugin -> "" */
	MDB_dbi qmsgid;		/* Message-ID -> id */
	MDB_dbi plugkv;		/* plugin + '\0' + key -> plugin's value */
	MDB_dbi rule;		/* mailbox -> its folder rules (rules.c) */
	MDB_dbi qsmart;		/* subject hash + id -> participants (smart.c) */
	MDB_dbi qsmartid;	/* id -> subject hash */
	MDB_dbi known;		/* plugin + '\0' + address -> "" (known.c) */
	char *path;
	char instance[STORE_INSTANCE_LEN + 1];	/* store_instance() */
	/*
	 * Held for reading by every transaction of this process, for
	 * writing only to adopt a map that another process (dvmilterctl
	 * with a larger DatabaseMapSize) grew: mdb_env_set_mapsize() needs
	 * no transaction to be active.
	 */
	pthread_rwlock_t maplock;
};

struct store_txn {
	struct store *store;
	MDB_txn *txn;
	bool write;
	bool borrowed;		/* a store_reader's: reset, not abort */
};

/**
 * store_mdb_fail - turn an LMDB return code into a project status with
 * text naming @what (MDB_NOTFOUND becomes DV_ENOTFOUND, silently).
 */
int store_mdb_fail(int rc, const char *what, const char **error_r);

/**
 * store_meta_u64 - an 8-byte big-endian number in the meta table under
 * @key: 0 with *have_r false if absent, DV_ECORRUPT if not 8 bytes.
 */
int store_meta_u64(struct store_txn *t, const char *key, uint64_t *value_r,
    bool *have_r, const char **error_r);

/** store_meta_u64_put - write one (see store_meta_u64()). */
int store_meta_u64_put(struct store_txn *t, const char *key, uint64_t value,
    const char **error_r);

/**
 * store_counter_raise - move counter @name up to @value, if it is lower,
 * so that store_counter_next() never returns @value or less.
 */
int store_counter_raise(struct store_txn *t, const char *name,
    uint64_t value, const char **error_r);

/**
 * store_counter_next - the next value (from 1) of a named counter in the
 * meta table (key "counter/NAME", see store_meta_u64()), within @t.
 */
int store_counter_next(struct store_txn *t, const char *name,
    uint64_t *value_r, const char **error_r);

#endif

/*
 * pluginkv.h - the key/value store the host gives each plugin, and the
 * plugin's entries in the known-senders index.
 *
 * During one deliver() call a plugin's writes are only buffered; reads
 * see them, and the store's committed values otherwise. When the plugin
 * reports success the buffer is applied in the same LMDB transaction
 * that records the delivery as done; any other outcome discards it. So a
 * plugin's records and "this delivery is done" commit together or not
 * at all, and a retried delivery starts from what was committed. The
 * plugin's other calls (init, health, commands) get a buffer of their
 * own that core/plugin.c commits with pluginkv_commit() after the call.
 * Keys live in the store's plugkv table as "plugin\0key", index entries
 * in its known table as "plugin\0address" (core/known.h).
 *
 * The functions of pluginkv_ops() return 0, DVP_KV_NOTFOUND,
 * DVP_KV_INVALID (a bad key or value) or DVP_KV_ERROR.
 */
#ifndef DV_PLUGINKV_H
#define DV_PLUGINKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dvmilter_plugin.h"
#include "store.h"

struct pluginkv;

/*
 * The functions behind a plugin's kv_* and known_* services; @arg is a
 * struct pluginkv, @plugin the plugin's name.
 */
struct plugin_kv_ops {
	int (*get)(void *arg, const char *plugin, const char *key,
	    const void **val, size_t *len);
	int (*put)(void *arg, const char *plugin, const char *key,
	    const void *val, size_t len);
	int (*del)(void *arg, const char *plugin, const char *key);
	int (*next)(void *arg, const char *plugin, const char *counter,
	    uint64_t *value);
	int (*put_now)(void *arg, const char *plugin, const char *key,
	    const void *val, size_t len);
	/* One (normalised) address of @plugin's known-senders index; ""
	 * is the mark that the plugin's index is complete. */
	int (*known_get)(void *arg, const char *plugin, const char *addr);
	int (*known_put)(void *arg, const char *plugin, const char *addr);
	int (*known_del)(void *arg, const char *plugin, const char *addr);
	/* Committed records of @plugin whose key starts with @prefix. */
	int (*foreach)(void *arg, const char *plugin, const char *prefix,
	    int (*fn)(void *fnarg, const char *key, const void *val,
	    size_t len), void *fnarg);
};

/** pluginkv_new - a buffer over @st; NULL on ENOMEM. */
struct pluginkv *pluginkv_new(struct store *st);

/** pluginkv_free - NULL is a no-op. */
void pluginkv_free(struct pluginkv *kv);

/** pluginkv_ops - the functions a plugin's services call with a buffer. */
const struct plugin_kv_ops *pluginkv_ops(void);

/**
 * pluginkv_savepoint - keep what is buffered so far; a later
 * pluginkv_rollback() undoes only the writes made after this. The worker
 * takes one before each delivery of a batch, and rolls back the writes
 * of a delivery that failed, so that the others commit together.
 */
void pluginkv_savepoint(struct pluginkv *kv);

/** pluginkv_rollback - undo the writes buffered since the savepoint. */
void pluginkv_rollback(struct pluginkv *kv);

/** pluginkv_discard - forget everything buffered. */
void pluginkv_discard(struct pluginkv *kv);

/**
 * pluginkv_apply - write everything buffered in @t, then empty the
 * buffer. @t must be a write transaction on the same store. Every
 * committed value the plugin read during the delivery must still be as
 * it read it; if another writer (dvmilterctl resolving a case) changed
 * one, nothing is written and DV_EINUSE is returned, so the delivery is
 * made again on the new state instead of overwriting it.
 * @return 0, DV_EINUSE, DV_EFULL or DV_ESTORE.
 */
int pluginkv_apply(struct pluginkv *kv, struct store_txn *t,
    const char **error_r);

/**
 * pluginkv_commit - apply what is buffered (pluginkv_apply()) in a
 * write transaction of its own and commit it; with nothing buffered,
 * forget the reads and open no transaction.
 * @return 0, DV_EINUSE, DV_EFULL or DV_ESTORE; the buffer is empty after.
 */
int pluginkv_commit(struct pluginkv *kv, const char **error_r);

/*
 * Direct access to a plugin's committed records within a caller's
 * transaction (tests; kv_put_now and foreach use them). A value
 * returned by get is valid until the transaction ends.
 * @return 0, DV_ENOTFOUND, DV_EINVAL, DV_EFULL or DV_ESTORE.
 */
int pluginkv_txn_get(struct store_txn *t, const char *plugin, const char *key,
    const void **val, size_t *len, const char **error_r);
int pluginkv_txn_put(struct store_txn *t, const char *plugin, const char *key,
    const void *val, size_t len, const char **error_r);
int pluginkv_txn_del(struct store_txn *t, const char *plugin, const char *key,
    const char **error_r);

/**
 * pluginkv_txn_foreach - call @fn for each key of @plugin that starts
 * with @prefix, in key order, with the key without the plugin's name.
 * A non-zero return stops the walk and is returned.
 */
int pluginkv_txn_foreach(struct store_txn *t, const char *plugin,
    const char *prefix, int (*fn)(void *arg, const char *key,
    const void *val, size_t len), void *arg, const char **error_r);

#endif

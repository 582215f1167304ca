/*
 * pluginkv.h - the key/value store the host gives each plugin.
 *
 * During one deliver() call a plugin's writes are only buffered; reads
 * see them, and the store's committed values otherwise. When the plugin
 * reports success the buffer is applied in the same LMDB transaction
 * that records the delivery as done; any other outcome discards it. So a
 * plugin's records and "this delivery is done" commit together or not
 * at all, and a retried delivery starts from what was committed.
 * Keys live in the store's plugkv table as "plugin\0key".
 */
#ifndef DV_PLUGINKV_H
#define DV_PLUGINKV_H

#include "plugin.h"
#include "store.h"
#include <stdbool.h>

struct pluginkv;

/** pluginkv_new - a buffer over @st; NULL on ENOMEM. */
struct pluginkv *pluginkv_new(struct store *st);

/** pluginkv_free - NULL is a no-op. */
void pluginkv_free(struct pluginkv *kv);

/** pluginkv_ops - the functions to pass to plugin_set_load() with @kv. */
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

/*
 * Direct access to a plugin's committed records within a caller's
 * transaction, for dvmilterctl's views of the local plugin. A value
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

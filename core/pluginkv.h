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

/** pluginkv_discard - forget everything buffered. */
void pluginkv_discard(struct pluginkv *kv);

/**
 * pluginkv_apply - write everything buffered in @t, then empty the
 * buffer. @t must be a write transaction on the same store.
 * @return 0, DV_EFULL or DV_ESTORE.
 */
int pluginkv_apply(struct pluginkv *kv, struct store_txn *t,
    const char **error_r);

/**
 * pluginkv_committed - whether @plugin has committed a value for @key
 * (for the host's own use, such as "is this sender a known contact").
 * @return 0 and *exists, or DV_ESTORE.
 */
int pluginkv_committed(struct store *st, const char *plugin, const char *key,
    bool *exists);

#endif

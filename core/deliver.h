/*
 * deliver.h - one step of the outbox worker: take the next due delivery,
 * hand the message to its plugin, record the outcome.
 *
 * The plugin is called with no LMDB transaction open, so a slow CRM
 * never holds up the milter's end-of-message commits; the outcome is
 * recorded in a write transaction afterwards. If the process dies in
 * between, the delivery is still pending and is made again: plugins are
 * idempotent per message id (the webhook sends it as Idempotency-Key).
 */
#ifndef DV_DELIVER_H
#define DV_DELIVER_H

#include <stdint.h>

#include "plugin.h"
#include "queue.h"
#include "store.h"

/**
 * deliver_next - make at most one due delivery.
 * @param[in]  now     the current Unix time.
 * @param[out] did_r   1 if a delivery was attempted, 0 if none was due.
 * @param[out] next_r  when nothing was due: the next due time, or 0.
 * @return 0, or a store error (logged by the caller).
 */
int deliver_next(struct store *st, struct plugin_set *ps,
    const struct queue_policy *pol, int64_t now, int *did_r,
    int64_t *next_r, const char **error_r);

#endif

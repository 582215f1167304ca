/*
 * wk_int.h - private interface of the outbox worker (worker/wk_*.c).
 *
 * The worker is its own program, dvmilter-worker, which the daemon's
 * supervisor starts as "dvmilter-worker -c FILE". It never includes
 * libmilter: it reads the outbox from the store and hands each message
 * to the plugins.
 */
#ifndef DV_WK_INT_H
#define DV_WK_INT_H

#include <stdint.h>

#include "outbox.h"
#include "store.h"

/* Where a retention round has got to, and when the next full one is. */
struct wk_prune {
	struct outbox_prune_pos pos;
	int64_t full_round_at;
};

/**
 * wk_prune_pass - one retention pass over the outbox (OutboxRetention
 * @retention seconds): drop the text of entries done and received more
 * than @retention seconds before @now. The scan runs in a read
 * transaction, so the milter's commits never wait for it; only the
 * entries found are rewritten, in a write transaction, and the position
 * in @p moves on only once that has committed. Errors are logged.
 * @return the time of the next pass: @now while the round has more to
 *         look at, else in a minute (or half the retention, if shorter).
 */
int64_t wk_prune_pass(struct store *st, struct outbox *ob, int64_t retention,
    int64_t now, struct wk_prune *p);

#endif

/*
 * wk_prune.c - OutboxRetention: the worker drops the text of entries that
 * are done and old, a batch at a time, when it has nothing to deliver.
 *
 * It does not remove entries (their index records keep correlating
 * replies) and never touches an entry that still has a delivery to make.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "wk_int.h"

#define PRUNE_BATCH	256

int64_t
wk_prune_pass(struct store *st, struct outbox *ob, int64_t retention,
    int64_t now, struct wk_prune *p)
{
	struct outbox_prune_pos np = p->pos;
	uint64_t ids[PRUNE_BATCH];
	struct store_txn *t;
	const char *err = "";
	size_t n = 0, pruned = 0;
	bool more = false;
	int64_t pause = retention / 2 < 60 ? retention / 2 : 60;
	int rc;

	if ((rc = store_txn_begin(st, false, &t, &err)) == 0) {
		rc = outbox_prune_scan(ob, t, now - retention, PRUNE_BATCH, &np,
		    ids, &n, &more, &err);
		store_txn_abort(t);
	}
	if (rc == 0 && n > 0 &&
	    (rc = store_txn_begin(st, true, &t, &err)) == 0) {
		if ((rc = outbox_prune(ob, t, ids, n, now - retention, now,
		    &pruned, &err)) == 0)
			rc = store_txn_commit(t, &err);
		else
			store_txn_abort(t);
	}
	if (rc != 0) {
		log_error("outbox: retention: %s", err);
		return now + 60;
	}
	p->pos = np;
	if (pruned > 0)
		log_info("outbox: removed the text of %zu message%s done and "
		    "received more than %lld s ago (OutboxRetention)", pruned,
		    pruned == 1 ? "" : "s", (long long)retention);
	if (more)
		return now;
	/* Once an hour a round starts from the first entry, for dead
	 * entries retried and done since. */
	if (now >= p->full_round_at) {
		p->pos = (struct outbox_prune_pos){ 0 };
		p->full_round_at = now + 3600;
	}
	return now + (pause > 0 ? pause : 1);
}

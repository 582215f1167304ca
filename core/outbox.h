/*
 * queue.h - the durable outbox: tracked messages waiting for plugins.
 *
 * At end of message the milter commits one queue entry (the raw message,
 * its envelope and the tracking decision) in the same LMDB environment
 * as the mailboxes, before it answers the MTA. A worker then hands the
 * entry to each configured plugin, off the SMTP path, and records each
 * plugin's outcome: done (with the ids it created), a retry later
 * (exponential backoff with jitter, or the plugin's Retry-After), or dead
 * (a permanent error, or too many attempts). Every step is one LMDB
 * transaction, so a crash at any point loses nothing and a restart
 * resumes where it stopped.
 *
 * All functions work inside a caller's struct store_txn, so state that
 * belongs together (a plugin's own records, once the host provides its
 * key/value store, and its delivery state) can commit together.
 */
#ifndef DV_QUEUE_H
#define DV_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retry.h"
#include "store.h"

enum outbox_state {
	OUTBOX_PENDING = 0,	/* waiting for its next attempt */
	OUTBOX_DONE = 1,		/* the plugin recorded it */
	OUTBOX_DEAD = 2		/* given up; see last_error */
};

/* What the milter commits at end of message. */
struct outbox_item {
	int direction;			/* 0 incoming, 1 outgoing */
	int64_t received;		/* Unix time */
	const char *queue_id;		/* the MTA's, or NULL */
	const char *envelope_from;
	const char *const *rcpts;
	size_t nrcpts;
	const char *message_id;		/* without <>, or NULL */
	const char *decision;		/* JSON text of the tracking decision */
	const void *raw;		/* the message as received, or NULL: */
	size_t raw_len;
	/* ... when raw is NULL, raw_fill writes raw_len bytes into the
	 * reserved record (a spooled message goes straight from its file
	 * into LMDB); returns 0 or an errno. */
	int (*raw_fill)(void *arg, void *dst);
	void *raw_arg;
	bool truncated;
	/*
	 * For the outbox writer, which takes the index records off the
	 * SMTP path (see ob_table_index_pending()):
	 * defer_index: write only the message record; the entry has no
	 *   deliveries and is not in the Message-ID index until indexed.
	 * merge_into: an entry stored with defer_index and not indexed yet
	 *   that has this message's Message-ID (the caller keeps track of
	 *   those, as the index cannot tell): fold into it, or 0.
	 */
	bool defer_index;
	uint64_t merge_into;
	/*
	 * id: 0, or the id for a new entry (the outbox writer reserves ids
	 * before the entry reaches LMDB; the store's counter is moved past
	 * it). Unused when the message is folded into an entry.
	 */
	uint64_t id;
};

/* A queued message as read back. Strings point into the struct. */
struct outbox_msg {
	uint64_t id;
	int direction;
	int64_t received;
	char *queue_id, *envelope_from, *message_id, *decision;
	char **rcpts;
	size_t nrcpts;
	bool truncated;
	int64_t pruned;		/* when its text was removed, or 0 */
	unsigned char *raw;	/* empty once pruned */
	size_t raw_len;
};

/* One plugin's delivery state for one message. */
struct outbox_delivery {
	uint64_t id;
	char plugin[65];
	int state;			/* enum outbox_state */
	unsigned attempts;
	int64_t next_at;		/* Unix time of the next attempt */
	int64_t updated;
	char last_error[256];
	char activity_id[80];
	char case_id[80];
	uint64_t gen;			/* bumped each time it is re-armed */
};

/**
 * ob_table_put - add a message with one pending delivery per plugin, due at
 * item->received. A message whose Message-ID is already queued (the same
 * message, received again in another transaction) is folded into that
 * entry instead: its mailboxes and recipients are added to the entry's,
 * and every plugin is due to get the entry again; *id_r is then the
 * existing id. With it->merge_into, the message is folded into that
 * entry (not indexed yet) instead, unless it is gone. With
 * it->defer_index, a new entry gets neither its deliveries nor its
 * Message-ID index record: ob_table_index_pending() writes them later.
 * With it->id, a new entry gets that id (DV_EEXIST if it is taken).
 * @param[in]  plugins  NULL-terminated plugin names (may be empty).
 * @param[out] id_r     the message's id, unique for the store's life.
 * @return 0, DV_EEXIST, DV_EFULL, DV_ETOOBIG or DV_ESTORE.
 */
int ob_table_put(struct store_txn *t, const struct outbox_item *it,
    char *const *plugins, uint64_t *id_r, const char **error_r);

/**
 * ob_table_index_pending - index the entries stored with defer_index: for
 * each entry after the index mark (a counter in the store, which only
 * this moves), in id order, its Message-ID goes into the index and each
 * plugin gets a pending delivery due at its reception; then the mark
 * moves past it. Indexing is idempotent: an entry that has its
 * deliveries already (stored without defer_index) keeps them. A store
 * without a mark (older than this, or new) gets one at its last id, as
 * every entry there is indexed. The outbox writer calls it in a commit
 * of its own shortly after the commits that answered the MTA, and once
 * at start, so that a crash between the two loses nothing. An entry
 * whose record cannot be read is indexed all the same, due at once, so
 * that the worker dead-letters it where `queue list` shows it, instead
 * of it holding up every entry after it.
 * What indexing needs of an entry, its Message-ID and reception time, is
 * read from its record, a JSON parse, unless @hints has it: the writer
 * that stored the entry remembers both, and spares the parse.
 * @param[in]  hints    entries' index fields, in ascending id order; an
 *                      entry without one is read. NULL if none.
 * @param[in]  max      index at most this many entries.
 * @param[out] n_r      entries indexed (if not NULL).
 * @param[out] more_r   true if @max stopped it (if not NULL).
 * @return 0, DV_EFULL, DV_ECORRUPT or DV_ESTORE.
 */
struct ob_index_hint {
	uint64_t id;
	const char *message_id;		/* outbox_item's, or NULL */
	int64_t received;
};

int ob_table_index_pending(struct store_txn *t, char *const *plugins,
    const struct ob_index_hint *hints, size_t nhints, size_t max,
    size_t *n_r, bool *more_r, const char **error_r);

/**
 * ob_table_log_state - how far the outbox writer's log (qlog.h) is stored
 * here: the identity of the log this store belongs with (0 if none yet)
 * and the LSN before which every record of it is in the store.
 */
int ob_table_log_state(struct store_txn *t, uint64_t *ident_r,
    uint64_t *applied_r, const char **error_r);

/** ob_table_log_state_put - record both (see ob_table_log_state()). */
int ob_table_log_state_put(struct store_txn *t, uint64_t ident,
    uint64_t applied, const char **error_r);

/** ob_table_last_id - the last id given to an entry, or 0. */
int ob_table_last_id(struct store_txn *t, uint64_t *id_r, const char **error_r);

/**
 * ob_table_get - read a message back.
 * @param[out] msg_r  freed with outbox_msg_free().
 * @return 0, DV_ENOTFOUND, DV_ECORRUPT or DV_ESTORE.
 */
int ob_table_get(struct store_txn *t, uint64_t id, struct outbox_msg **msg_r,
    const char **error_r);

/**
 * ob_table_get_envelope - ob_table_get() without the message: raw is NULL and
 * raw_len the size stored, so listing a large outbox reads no message.
 */
int ob_table_get_envelope(struct store_txn *t, uint64_t id,
    struct outbox_msg **msg_r, const char **error_r);

/** ob_table_exists - whether entry @id is in the outbox (reads no message). */
bool ob_table_exists(struct store_txn *t, uint64_t id);

/** outbox_msg_free - NULL is a no-op. */
void outbox_msg_free(struct outbox_msg *m);

/**
 * ob_table_next_due - the pending delivery with the earliest next_at,
 * if that is at or before @now. In a write transaction, index entries
 * whose delivery is missing or corrupt are removed on the way.
 * @return 0 with *d_r filled; DV_ENOTFOUND if nothing is due (then
 *         *next_r, if not NULL, is the next due time, or 0 if none).
 */
int ob_table_next_due(struct store_txn *t, int64_t now,
    struct outbox_delivery *d_r, int64_t *next_r, const char **error_r);

/**
 * ob_table_due_batch - up to @max pending deliveries due at or before @now,
 * earliest first, into @d; like ob_table_next_due() otherwise (including
 * the cleaning of broken index entries in a write transaction; in a
 * read transaction such an entry gives DV_ECORRUPT, to be taken again in
 * a write transaction).
 * @return 0 with *n_r > 0, or DV_ENOTFOUND (then *next_r as there).
 */
int ob_table_due_batch(struct store_txn *t, int64_t now, size_t max,
    struct outbox_delivery *d, size_t *n_r, int64_t *next_r,
    const char **error_r);

/**
 * ob_table_delivery_get - one plugin's state for one message.
 * @return 0 or DV_ENOTFOUND.
 */
int ob_table_delivery_get(struct store_txn *t, uint64_t id, const char *plugin,
    struct outbox_delivery *d_r, const char **error_r);

/**
 * ob_table_deliveries - the deliveries of entry @id, in plugin-name order,
 * at most @max of them into @d.
 * @return 0 (with *n_r 0 for an entry without deliveries, or none),
 *         DV_ECORRUPT or DV_ESTORE.
 */
int ob_table_deliveries(struct store_txn *t, uint64_t id, struct outbox_delivery *d,
    size_t max, size_t *n_r, const char **error_r);

enum outbox_result {
	OUTBOX_OK = 0,		/* as DVP_OK */
	OUTBOX_TRANSIENT = 1,	/* as DVP_TRANSIENT */
	OUTBOX_PERMANENT = 2,	/* as DVP_PERMANENT */
	OUTBOX_HELD = 3		/* not attempted: due again after
				   retry_after, attempts unchanged */
};

/**
 * ob_table_record - record the outcome of one attempt, or, with
 * OUTBOX_HELD, that the delivery was not attempted (the plugin's back end
 * is down): it stays pending, due again after @retry_after (at least
 * 1 s), its attempts unchanged, with @error as its last error.
 * @param[in] retry_after  for OUTBOX_TRANSIENT: seconds the plugin asked
 *                         for, or 0 for the policy's backoff.
 * @param[in] jitter       a random value in [0, 1) for the backoff.
 * @param[in] gen          the delivery's gen when the attempt began. If
 *                         it was re-armed since (a copy of the message
 *                         was merged in), the outcome is not recorded:
 *                         the delivery stays due, to be made again with
 *                         the fuller message.
 * @param[out] d_r         the new state, if not NULL.
 */
int ob_table_record(struct store_txn *t, uint64_t id, const char *plugin,
    uint64_t gen, enum outbox_result outcome, const char *error,
    const char *activity_id, const char *case_id, int64_t retry_after,
    int64_t now, const struct retry_policy *pol, double jitter,
    struct outbox_delivery *d_r, const char **error_r);

/**
 * ob_table_retry - make every dead or pending delivery of @id (or of one
 * @plugin, if not NULL) due at @now again, with its attempts reset.
 * @return 0 or DV_ENOTFOUND.
 */
int ob_table_retry(struct store_txn *t, uint64_t id, const char *plugin,
    int64_t now, const char **error_r);

/**
 * ob_table_drop - delete a message and all its delivery state.
 * @return 0 or DV_ENOTFOUND.
 */
int ob_table_drop(struct store_txn *t, uint64_t id, const char **error_r);

/* Where ob_table_prune_scan() goes on; all zero starts at the first entry. */
struct outbox_prune_pos {
	uint64_t next;		/* the first id the next pass looks at */
	uint64_t low;		/* the first entry of this round still pending */
	bool low_set;
};

/**
 * ob_table_prune_scan - retention, step one: find entries received before
 * @before whose deliveries are all done and that still have their
 * message text, for ob_table_prune_ids(). Read-only: use a read
 * transaction, so that the milter's commits do not wait for the scan.
 *
 * Retention removes the raw message, by far the largest part of an
 * entry, and keeps the rest: envelope, decision, deliveries (with the
 * activity and case ids) and the Message-ID in the index, so replies
 * still correlate and `queue show` still tells what became of it; LMDB
 * reuses the pages. A pruned entry is never merged into (a later copy
 * of the message gets an entry of its own) nor delivered again.
 *
 * One scan finds at most @max entries (into @ids, room for @max) and
 * looks at no more than 64 times as many (one without text is skipped
 * without parsing it), from @pos->next on, and moves @pos on. A round
 * ends at the first entry received at or after @before (ids grow with
 * time) or at the end; the next round starts at the first entry of this
 * one that had a pending delivery, or where this one stopped. Entries
 * before that are not looked at again: a dead entry that is retried and
 * done later is pruned only in a round started from 0 (zero @pos), which
 * the worker does hourly. Update @pos from a copy once the prune has
 * committed.
 * @param[out] more_r  true if the scan stopped at a limit (more to do
 *                     in this round).
 * @return 0, or DV_ESTORE.
 */
int ob_table_prune_scan(struct store_txn *t, int64_t before, size_t max,
    struct outbox_prune_pos *pos, uint64_t *ids, size_t *n_r, bool *more_r,
    const char **error_r);

/**
 * ob_table_prune_ids - retention, step two, in a write transaction: remove
 * the text of the entries @ids found by ob_table_prune_scan(), each checked
 * again (one dropped or re-armed since is left alone), marking each
 * "pruned" at @now.
 * @param[out] pruned_r  entries pruned.
 * @return 0, DV_EFULL, DV_ESTORE or ENOMEM.
 */
int ob_table_prune_ids(struct store_txn *t, const uint64_t *ids, size_t n,
    int64_t before, int64_t now, size_t *pruned_r, const char **error_r);

/**
 * ob_table_foreach - call @fn for every message in id order, with all its
 * deliveries. A non-zero return stops the walk and is returned.
 */
int ob_table_foreach(struct store_txn *t,
    int (*fn)(void *arg, uint64_t id, const struct outbox_delivery *d,
    size_t nd), void *arg, const char **error_r);

/**
 * ob_table_find_message_id - the id of the queued message with this
 * Message-ID (compared case-sensitively, as RFC 5322 says).
 * @return 0 or DV_ENOTFOUND.
 */
int ob_table_find_message_id(struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r);

/** outbox_state_name - "pending", "done" or "dead". */
const char *outbox_state_name(int state);

#endif

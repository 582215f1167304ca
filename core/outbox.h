/*
 * outbox.h - the durable outbox: tracked messages waiting for plugins.
 *
 * At end of message the milter submits the message (the raw text, its
 * envelope and the tracking decision) to the outbox, which has it on
 * disk before the milter answers the MTA. A worker then hands each entry
 * to each configured plugin, off the SMTP path, and records each
 * plugin's outcome: done (with the ids it created), a retry later (the
 * policy of core/retry.h), or dead (a permanent error, or too many
 * attempts). A crash at any point loses nothing, and a restart resumes
 * where it stopped.
 *
 * This header is the outbox's only door. Behind it (core/outbox/) a
 * write-ahead log (outbox.log in the store's directory), a writer thread
 * that commits many messages with one sync, the log's record format, and
 * the LMDB tables of the store's environment. Which of these holds an
 * entry at a given moment is not the caller's concern: outbox_find()
 * sees them all.
 *
 * A struct outbox is opened over an open store, in one of two roles:
 *   - the writer (OUTBOX_WRITER): the daemon, the only process that
 *     submits; it owns the log and a writer thread. One per store.
 *   - a reader (no flags): the worker, dvmilterctl, tools and tests. It
 *     reads and updates entries (deliveries, retention, retry, drop) and
 *     may put entries straight into the store.
 * Functions that take a struct store_txn work inside the caller's
 * transaction, so that what belongs together (a plugin's own records
 * and its delivery's state) commits together; they never commit it.
 *
 * Threads: outbox_submit(), outbox_expect(), outbox_find() and
 * outbox_stats() may be called from any thread at once; the rest as the
 * store's transactions allow. Status codes are those of status.h: 0, a
 * DV_E* code or an errno, with the reason in *error_r (valid until the
 * thread's next error, see dv_error_set()).
 */
#ifndef DV_OUTBOX_H
#define DV_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retry.h"
#include "store.h"

struct outbox;

/* The state of one plugin's delivery of one entry. */
enum outbox_state {
	OUTBOX_PENDING = 0,	/* waiting for its next attempt */
	OUTBOX_DONE = 1,	/* the plugin recorded it */
	OUTBOX_DEAD = 2		/* given up; see last_error */
};

/* What the milter submits at end of message. */
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
	 * into the outbox); returns 0 or an errno. */
	int (*raw_fill)(void *arg, void *dst);
	void *raw_arg;
	bool truncated;
	/* The content digest (core/mdigest.h), 64 hexadecimal digits, or
	 * NULL. Two items fold into one entry only when both have one and
	 * their message_id and digest are equal: an entry without one (from
	 * a dvmilter before digests) never folds with a new message. */
	const char *digest;
};

/* An entry as read back. The strings are owned by the struct. */
struct outbox_msg {
	uint64_t id;
	int direction;
	int64_t received;
	char *queue_id, *envelope_from, *message_id, *decision;
	char **rcpts;
	size_t nrcpts;
	bool truncated;
	int64_t pruned;		/* when its text was removed, or 0 */
	unsigned char *raw;	/* NULL without OUTBOX_TEXT; "" if pruned */
	size_t raw_len;		/* the size stored, with or without it */
	char *digest;		/* the content digest, or NULL (older entry) */
	/* The earlier entry that has this entry's Message-ID for a
	 * different message (this one reused it), or 0. */
	uint64_t collided_with;
};

/* One plugin's delivery state for one entry. */
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
	unsigned crashes;		/* workers that died making it alone */
	bool suspect;			/* in a batch during which the worker
					   died: made alone next time */
};

/* --- lifecycle -------------------------------------------------------- */

#define OUTBOX_WRITER	0x1u	/* outbox_opts.flags: the daemon's */

struct outbox_opts {
	/* The plugins each entry is delivered to, NULL-terminated (may be
	 * empty or NULL); copied. */
	char *const *plugins;
	/* The log; NULL for OUTBOX_LOG_NAME in the store's directory. */
	const char *log_path;
	unsigned flags;			/* OUTBOX_WRITER, or 0 */
	/* OUTBOX_WRITER: called from the writer thread after entries were
	 * indexed, when the worker has new work; or NULL. */
	void (*indexed)(void);
};

#define OUTBOX_LOG_NAME	"outbox.log"

/**
 * outbox_open - open the outbox of @st.
 *
 * With OUTBOX_WRITER, open the log (made if missing), store in @st what
 * it holds beyond what @st has, index what an earlier run left
 * unindexed, and start the writer thread: a crash of the daemon loses no
 * message it answered for. Without it, only remember the options.
 * @param[in]  st     the store, open until outbox_close(). The writer
 *                    wants it opened with nometasync (it syncs itself).
 * @param[in]  opts   the options; NULL for none (a reader, no plugins).
 * @param[out] ob_r   the outbox, closed with outbox_close().
 * @return 0, or an errno or DV_ status with *error_r set: DV_ECORRUPT
 *         or DV_ESCHEMA for a damaged or newer log, DV_ESTORE, ENOMEM.
 */
int outbox_open(struct store *st, const struct outbox_opts *opts,
    struct outbox **ob_r, const char **error_r);

/**
 * outbox_close - the writer finishes what was submitted, stores and
 * indexes it durably and stops; then free @ob. Submissions must have
 * returned. NULL is a no-op. The store stays open.
 */
void outbox_close(struct outbox *ob);

/* --- the daemon: submitting ------------------------------------------- */

/**
 * outbox_submit - store one message durably; blocks until it is (one
 * sync shared with the messages submitted meanwhile). A message whose
 * Message-ID (or dedup key) and content digest are those of an entry,
 * the same message received again, is folded into that entry: its
 * mailboxes and recipients join the entry's and, if it brought one the
 * entry lacked, every plugin is due to get it again (attempts reset,
 * crashes kept), except a delivery dead-lettered after it had killed the
 * worker, which stays dead. A different message that reuses an entry's Message-ID
 * becomes an entry of its own that records the earlier one
 * (outbox_msg.collided_with), with a warning in the log; outbox_find()
 * goes on finding the earlier one.
 * An outbox opened without OUTBOX_WRITER stores it straight, in a write
 * transaction of its own (for tools and tests).
 * @param[in]  it               the message; read during the call only.
 * @param[in]  it_was_expected  announced with outbox_expect(+1); its
 *                              submission ends that.
 * @param[out] id_r  the entry's id, unique for the store's life (the
 *                   existing entry's if folded).
 * @param[out] err   on failure, why, copied into the caller's @errsz
 *                   bytes (another thread wrote it).
 * @return 0; otherwise the message is not stored (tempfail it): DV_EFULL
 *         (the store's map is full), DV_EINUSE (closing), DV_ESTORE (the
 *         disk failed: nothing more is taken until a restart), ENOMEM.
 */
int outbox_submit(struct outbox *ob, const struct outbox_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz);

/**
 * outbox_expect - a message that will be submitted is being received
 * (@delta +1), or was abandoned without a submission (-1). While more
 * are expected than are waiting, the writer holds a commit back for up
 * to 2 ms so that they share it. No-op without OUTBOX_WRITER.
 */
void outbox_expect(struct outbox *ob, int delta);

/**
 * outbox_flush - have every message submitted so far stored, indexed
 * and durable now, and wait for it (a failure is logged): for a daemon
 * that stops, so that the worker's last round sees every message.
 * No-op without OUTBOX_WRITER.
 */
void outbox_flush(struct outbox *ob);

/* What the writer did so far. */
struct outbox_stats {
	uint64_t messages;	/* submitted and stored */
	uint64_t commits;	/* the syncs that answered submissions */
	uint64_t index_commits;	/* the commits that moved log to LMDB */
	/* The sum over messages of the time from submission to durable
	 * (microseconds): what the outbox adds to each end of data. */
	uint64_t store_us;
	size_t logged;		/* messages only in the log right now */
};

/** outbox_stats - fill @s (all zero without OUTBOX_WRITER). */
void outbox_stats(struct outbox *ob, struct outbox_stats *s);

/* --- reading ------------------------------------------------------------ */

/**
 * outbox_find - the entry with Message-ID (or dedup key) @message_id,
 * compared case-sensitively as RFC 5322 says. When several entries have
 * it (a later, different message reused it), the first one: a reused
 * Message-ID never takes over the conversation of the message that had
 * it first. One the writer holds and
 * has not indexed yet, or one in the index as @t sees it. There is no
 * gap between the two: an entry the writer indexed after @t began is
 * found too, in a snapshot newer than @t's. So a reply is correlated
 * with a message the outbox answered for a moment before, whenever the
 * caller's transaction began.
 * @param[in] t  any transaction of the store.
 * @return 0 with *id_r set, DV_ENOTFOUND, DV_ECORRUPT or DV_ESTORE.
 *         Only DV_ENOTFOUND is a miss: DV_ESTORE may mean the entry
 *         could not be looked for (the store grew past this process's
 *         map while @t was open), and the caller tries again later.
 */
int outbox_find(struct outbox *ob, struct store_txn *t,
    const char *message_id, uint64_t *id_r, const char **error_r);

/** outbox_exists - whether entry @id is in the store (reads no text). */
bool outbox_exists(struct outbox *ob, struct store_txn *t, uint64_t id);

#define OUTBOX_TEXT	0x1u	/* outbox_get(): with the message text */

/**
 * outbox_get - read entry @id back: its envelope, and with OUTBOX_TEXT
 * its text (else raw is NULL and raw_len the size stored, so listing a
 * large outbox reads no message).
 * @param[out] msg_r  freed with outbox_msg_free().
 * @return 0, DV_ENOTFOUND, DV_ECORRUPT, DV_ESTORE or ENOMEM.
 */
int outbox_get(struct outbox *ob, struct store_txn *t, uint64_t id,
    unsigned flags, struct outbox_msg **msg_r, const char **error_r);

/** outbox_msg_free - free what outbox_get() gave; NULL is a no-op. */
void outbox_msg_free(struct outbox_msg *m);

/**
 * outbox_deliveries - the deliveries of entry @id, in plugin-name order,
 * at most @max of them into @d. An entry has none until it is indexed
 * (a moment after it was submitted).
 * @return 0 (with *n_r 0 for an entry without deliveries, or none),
 *         DV_ECORRUPT or DV_ESTORE.
 */
int outbox_deliveries(struct outbox *ob, struct store_txn *t, uint64_t id,
    struct outbox_delivery *d, size_t max, size_t *n_r,
    const char **error_r);

/**
 * outbox_walk - call @fn for every entry in id order, with its
 * deliveries (the first 16; @d is valid during the call). A non-zero
 * return of @fn stops the walk and is returned.
 * @return 0, @fn's status, DV_ECORRUPT, DV_ESTORE or ENOMEM.
 */
int outbox_walk(struct outbox *ob, struct store_txn *t,
    int (*fn)(void *arg, uint64_t id, const struct outbox_delivery *d,
    size_t nd), void *arg, const char **error_r);

/**
 * outbox_logged - how many messages the log holds that the store does
 * not have yet: the writer moves them within a fraction of a second
 * while the daemon runs, or at its next start after a crash. Another
 * process than the daemon reads the log file without writing it (and
 * may stop before a record being written at that moment).
 * @return 0, or an errno or DV_ status (a damaged log).
 */
int outbox_logged(struct outbox *ob, size_t *n_r, const char **error_r);

/** outbox_state_name - "pending", "done" or "dead". */
const char *outbox_state_name(int state);

/* --- the worker: delivering --------------------------------------------- */

/**
 * outbox_due - up to @max pending deliveries due at or before @now,
 * soonest first, into @d. A due-index record whose delivery is missing
 * or damaged is removed on the way in a write transaction; in a read
 * transaction it gives DV_ECORRUPT, to be taken again in a write one.
 * @param[out] n_r     deliveries put into @d.
 * @param[out] next_r  when nothing is due: the next due time, or 0 if
 *                     nothing is pending (if not NULL).
 * @return 0 with *n_r > 0, DV_ENOTFOUND if nothing is due, DV_ECORRUPT
 *         or DV_ESTORE.
 */
int outbox_due(struct outbox *ob, struct store_txn *t, int64_t now,
    size_t max, struct outbox_delivery *d, size_t *n_r, int64_t *next_r,
    const char **error_r);

/* How an attempt went: the plugin's status, or that it was not made. */
enum outbox_result {
	OUTBOX_OK = 0,		/* as DVP_OK */
	OUTBOX_TRANSIENT = 1,	/* as DVP_TRANSIENT */
	OUTBOX_PERMANENT = 2,	/* as DVP_PERMANENT */
	OUTBOX_HELD = 3		/* not attempted: due again after
				   retry_after, attempts unchanged */
};

/* One attempt of one delivery, for outbox_record(). */
struct outbox_attempt {
	uint64_t id;			/* the entry */
	const char *plugin;
	/* The delivery's gen when the attempt began. If it was re-armed
	 * since (a copy of the message was folded in), the outcome is not
	 * recorded: the delivery stays due, to be made again with the
	 * fuller message. */
	uint64_t gen;
	enum outbox_result result;
	const char *error;		/* why it failed, or NULL */
	const char *activity_id;	/* OUTBOX_OK: what the plugin made, */
	const char *case_id;		/* ... or NULL */
	/* OUTBOX_TRANSIENT: seconds the plugin asked for, or 0 for the
	 * policy's backoff; OUTBOX_HELD: until the hold ends (at least
	 * 1 s). */
	int64_t retry_after;
	int64_t now;			/* Unix time of the outcome */
	const struct retry_policy *policy;	/* for OUTBOX_TRANSIENT */
	double jitter;			/* in [0, 1): retry_jitter() */
};

/**
 * outbox_record - record the outcome of attempt @a: done with its ids,
 * pending again after the delay retry_next() decides, dead (a permanent
 * error, or the policy's attempts used up), or with OUTBOX_HELD still
 * pending, its attempts unchanged, @a->error its last error.
 * @param[in]  t    a write transaction.
 * @param[out] d_r  the delivery's new state, if not NULL.
 * @return 0, DV_ENOTFOUND (no such delivery), DV_ECORRUPT, DV_EFULL or
 *         DV_ESTORE.
 */
int outbox_record(struct outbox *ob, struct store_txn *t,
    const struct outbox_attempt *a, struct outbox_delivery *d_r,
    const char **error_r);

/**
 * outbox_started - before a worker calls any plugin for a batch, mark
 * the @n deliveries @d it is about to make as started, in the write
 * transaction @t, which the caller commits before the first call; with
 * @n 0, clear the mark (in the transaction that records the batch's
 * outcomes). A mark that survives tells the next worker that the last
 * one died during that batch: see outbox_crashed().
 * @return 0, ENOMEM, DV_EFULL or DV_ESTORE.
 */
int outbox_started(struct outbox *ob, struct store_txn *t,
    const struct outbox_delivery *d, size_t n, int64_t now,
    const char **error_r);

/* What outbox_crashed() does with the deliveries a dead worker left. */
struct outbox_crash {
	int64_t now;
	const struct retry_policy *policy;	/* the backoff, max_attempts */
	unsigned limit;			/* DeliveryCrashLimit */
	double jitter;			/* retry_jitter() */
};

/**
 * outbox_crashed - when a worker starts, in a write transaction: the
 * deliveries the last worker marked started (outbox_started()) and did
 * not record, so it died making them. One delivery made alone is the
 * one that killed it: that counts as a failed attempt and a crash, and
 * it is due again at once (the supervisor's restart backoff paces a
 * crash loop; dead once the attempts reach the policy's max_attempts);
 * at @c->limit crashes it is dead with
 * "the worker died N times delivering it". Of several, none can be
 * blamed: each becomes a suspect, which the worker makes alone (and so
 * finds the one). A delivery recorded since is left alone; one re-armed
 * since by a copy (gen changed) is blamed all the same: the copy did
 * not change what the worker was making. The mark is removed.
 * @param[out] d_r  the deliveries' new states (room for @max).
 * @param[out] n_r  how many; 0 if no worker died.
 * @return 0, DV_EFULL or DV_ESTORE.
 */
int outbox_crashed(struct outbox *ob, struct store_txn *t,
    const struct outbox_crash *c, struct outbox_delivery *d_r, size_t max,
    size_t *n_r, const char **error_r);

/* --- operators and retention ---------------------------------------- */

/**
 * outbox_retry - make every dead or pending delivery of entry @id (or
 * of one @plugin, if not NULL) due at @now, with its attempts reset.
 * @param[in] t  a write transaction.
 * @return 0, DV_ENOTFOUND (nothing to retry), DV_ECORRUPT or DV_ESTORE.
 */
int outbox_retry(struct outbox *ob, struct store_txn *t, uint64_t id,
    const char *plugin, int64_t now, const char **error_r);

/**
 * outbox_drop - delete entry @id with all its delivery state.
 * @param[in] t  a write transaction.
 * @return 0, DV_ENOTFOUND, DV_ECORRUPT or DV_ESTORE.
 */
int outbox_drop(struct outbox *ob, struct store_txn *t, uint64_t id,
    const char **error_r);

/* Where outbox_prune_scan() goes on; all zero starts at the first entry. */
struct outbox_prune_pos {
	uint64_t next;		/* the first id the next pass looks at */
	uint64_t low;		/* the first entry of this round still pending */
	bool low_set;
};

/**
 * outbox_prune_scan - retention, step one: find entries received before
 * @before whose deliveries are all done and that still have their text,
 * for outbox_prune(). Use a read transaction, so that the daemon's
 * commits do not wait for the scan.
 *
 * Retention removes the raw message, by far the largest part of an
 * entry, and keeps the rest: envelope, decision, deliveries (with the
 * activity and case ids) and the Message-ID in the index, so replies
 * still correlate and `outbox show` still tells what became of it; LMDB
 * reuses the pages. A pruned entry is never merged into (a later copy
 * of the message gets an entry of its own) nor delivered again.
 *
 * One scan finds at most @max entries (into @ids, room for @max) and
 * looks at no more than 64 times as many, from @pos->next on, and moves
 * @pos on. A round ends at the first entry received at or after @before
 * (ids grow with time) or at the end; the next round starts at the first
 * entry of this one that had a pending delivery, or where this one
 * stopped. Entries before that are not looked at again: a dead entry
 * that is retried and done later is pruned only in a round started from
 * 0 (zero @pos). Update @pos from a copy once the prune has committed.
 * @param[out] more_r  true if the scan stopped at a limit (more to do
 *                     in this round).
 * @return 0, or DV_ESTORE.
 */
int outbox_prune_scan(struct outbox *ob, struct store_txn *t,
    int64_t before, size_t max, struct outbox_prune_pos *pos, uint64_t *ids,
    size_t *n_r, bool *more_r, const char **error_r);

/**
 * outbox_prune - retention, step two, in a write transaction: remove
 * the text of the entries @ids that outbox_prune_scan() found, each
 * checked again (one dropped or re-armed since is left alone), marking
 * each pruned at @now.
 * @param[out] pruned_r  entries pruned.
 * @return 0, DV_EFULL, DV_ESTORE or ENOMEM.
 */
int outbox_prune(struct outbox *ob, struct store_txn *t, const uint64_t *ids,
    size_t n, int64_t before, int64_t now, size_t *pruned_r,
    const char **error_r);

/* --- tools ------------------------------------------------------------- */

/**
 * outbox_put - store @it straight in the write transaction @t, indexed
 * and due at once for every plugin (folded into the entry holding the
 * same message, as outbox_submit() does): for tools and tests that fill an
 * outbox in their own transactions. The daemon submits instead.
 * @param[out] id_r  the entry's id.
 * @return 0, DV_EFULL, DV_ESTORE or ENOMEM.
 */
int outbox_put(struct outbox *ob, struct store_txn *t,
    const struct outbox_item *it, uint64_t *id_r, const char **error_r);

#endif /* DV_OUTBOX_H */

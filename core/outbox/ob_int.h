/*
 * qwriter.h - group commit for the outbox, through a write-ahead log.
 *
 * Every milter thread that finishes a tracked message must have it on
 * disk before it answers the MTA. The writer thread takes every
 * submission waiting at that moment and appends them to the outbox log
 * (qlog.h) in one write and one fdatasync, so the sync is shared by all
 * messages that arrived during the previous one, and it costs one
 * sequential write into blocks that exist already instead of an LMDB
 * commit's scattered pages and two syncs.
 *
 * The same thread moves what the log holds into LMDB a little later,
 * for many messages at once, in one transaction of its own: each
 * message record, its Message-ID in the index and a pending delivery
 * per plugin, and how far the log is stored (ob_table_log_state()), which
 * the worker sees once it commits. Until then the writer knows the
 * entries itself: a copy of one that arrives in another transaction is
 * folded into it, and ob_writer_find_message_id() finds it for reply
 * correlation. If the process or the system dies in between, the next
 * start stores what the log holds beyond that point, before the milter
 * takes mail. Ids are the writer's to give: it reserves each one when
 * it logs the message, so that the answer to the MTA (and the tracking
 * token an outgoing message gets) names the entry it will be.
 *
 * A message too large for the log (OB_LOG_MAX), or one that finds the
 * log full because LMDB cannot take its records (a full map), goes
 * straight into LMDB instead, with whatever the log holds before it, in
 * a commit that syncs before the MTA is answered, as all messages did
 * before the log. A commit holds at most OB_BATCH_BYTES of messages
 * (but always at least one), because LMDB keeps a transaction's new
 * pages in memory until it commits. A submission that cannot be stored
 * fails alone: the batch is then retried one message at a time.
 *
 * The store is opened with nometasync (the daemon does): LMDB's commits
 * then sync only their pages, and the writer syncs the meta page
 * (store_sync()) before the log space those commits freed is written
 * again, and at a stop. The writer also keeps zeroed space ahead of the
 * store's data (store_preallocate()).
 */
#ifndef DV_QWRITER_H
#define DV_QWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "outbox.h"
#include "store.h"

struct ob_writer;

/**
 * ob_writer_start - open the outbox log at @log_path (made if missing),
 * store in @store what it holds beyond what the store has and index
 * what an earlier run left unindexed, then start the writer thread.
 * @param[in] plugins  NULL-terminated plugin names each message is queued
 *                     for; copied.
 * @param[in] indexed  called (from the writer thread) after entries were
 *                     indexed, when the worker has new work; or NULL.
 * @return 0, or an errno or DV_ status.
 */
int ob_writer_start(struct store *store, const char *log_path,
    char *const *plugins, void (*indexed)(void), struct ob_writer **w_r,
    const char **error_r);

/**
 * ob_writer_find_message_id - the entry with Message-ID (or dedup key)
 * @mid among those logged but not in the store yet.
 * @return true with *id_r set, or false (then look in the index).
 */
bool ob_writer_find_message_id(struct ob_writer *w, const char *mid,
    uint64_t *id_r);

/**
 * ob_writer_submit - store one message durably; blocks until its
 * transaction has committed (or failed). Safe from any thread.
 * @param[in]  it_was_expected  announced with ob_writer_expect(+1); its
 *                              submission ends that.
 * @param[out] id_r     the queue id.
 * @param[out] err      on failure, why (copied into the caller's buffer).
 * @return 0, or non-zero when the message is not stored (tempfail).
 */
int ob_writer_submit(struct ob_writer *w, const struct outbox_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz);

/**
 * ob_writer_flush - have everything logged so far stored and indexed now,
 * and durable, and wait
 * for it (a failure is logged). For a daemon that stops, so that the
 * worker's last round sees every message. Not concurrently with
 * ob_writer_stop().
 */
void ob_writer_flush(struct ob_writer *w);

/**
 * ob_writer_stop - finish what was submitted, index it, stop the thread,
 * free. NULL is a no-op.
 */
void ob_writer_stop(struct ob_writer *w);

/**
 * ob_writer_expect - a message that will be submitted is being received
 * (@delta +1), or has been abandoned without a submission (-1). While more are
 * expected than are waiting, the writer holds a commit back for up to
 * OB_DELAY_US so that they share it.
 */
void ob_writer_expect(struct ob_writer *w, int delta);

#define OB_DELAY_US	2000
#define OB_BATCH_BYTES	((size_t)16 << 20)
/*
 * Storing what the log holds: once the oldest record is OB_INDEX_IDLE_US
 * old and no submission waits, or OB_INDEX_MAX_US old, or OB_INDEX_BATCH
 * are waiting, or half the log is taken, whatever comes first; after a
 * failure, a second later.
 */
#define OB_INDEX_IDLE_US	20000
#define OB_INDEX_MAX_US		100000
#define OB_INDEX_BATCH		256
/* The log's ring, and the largest message it takes. */
#define OB_LOG_RING		((size_t)8 << 20)
#define OB_LOG_MAX		((size_t)512 << 10)
/* Zeroed space kept ahead of the data (store_preallocate()). */
#define OB_PREALLOC_LOW		((size_t)2 << 20)
#define OB_PREALLOC_CHUNK	((size_t)2 << 20)

/** ob_writer_waiting - submissions not yet taken into a commit (for tests). */
size_t ob_writer_waiting(struct ob_writer *w);

/** ob_writer_pending - messages logged but not stored yet (for tests). */
size_t ob_writer_pending(struct ob_writer *w);

/**
 * ob_writer_stats - so far: messages, the commits that answered the MTA,
 * the index commits, and the sum over messages of the time from
 * submission to durable (microseconds): what the outbox adds to each
 * message's end of data.
 */
void ob_writer_stats(struct ob_writer *w, uint64_t *messages, uint64_t *commits,
    uint64_t *index_commits, uint64_t *store_us);

#endif

/*
 * qwriter.h - group commit for the outbox.
 *
 * Every milter thread that finishes a tracked message must have it on
 * disk before it answers the MTA, and LMDB allows one writer at a time,
 * each commit costing an fsync. The writer thread takes every submission
 * waiting at that moment and commits them in one transaction, so the
 * fsync cost is shared by all messages that arrived during the previous
 * one. A batch holds at most QW_BATCH_BYTES of messages (but always at
 * least one message), because LMDB keeps a transaction's new pages in
 * memory until it commits. A submission that cannot be stored fails
 * alone: the batch is then retried one message at a time.
 *
 * The commit that answers the MTA writes only the message record (and
 * the id counter). The index records that make an entry visible to the
 * worker and to correlation (its Message-ID in the index, a pending
 * delivery per plugin) are written by the same thread a little later,
 * for many messages at once, in a commit of their own
 * (queue_index_pending()). That halves the pages
 * the SMTP path writes and syncs, and the random index page each
 * Message-ID dirties. Until then the writer knows the entries itself:
 * a copy of one that arrives in another transaction is folded into it,
 * and qwriter_find_message_id() finds it for reply correlation. If the
 * process dies in between, queue_index_pending() at the next start
 * indexes what was left. The writer also keeps zeroed space ahead of
 * the store's data (store_preallocate()).
 *
 * The store may be opened with nometasync (the daemon does): then a
 * commit syncs only its pages, and the writer makes the meta page
 * durable with store_sync() before it wakes the submitters, outside the
 * write lock, so the worker's commits need not wait for that sync; the
 * index commits, which nothing waits for, get no sync of their own
 * beyond LMDB's data sync, as the next store_sync() covers them.
 */
#ifndef DV_QWRITER_H
#define DV_QWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
#include "store.h"

struct qwriter;

/**
 * qwriter_start - index what an earlier run left unindexed, then start
 * the writer thread for @store.
 * @param[in] plugins  NULL-terminated plugin names each message is queued
 *                     for; copied.
 * @param[in] indexed  called (from the writer thread) after entries were
 *                     indexed, when the worker has new work; or NULL.
 * @return 0, or an errno or DV_ status.
 */
int qwriter_start(struct store *store, char *const *plugins,
    void (*indexed)(void), struct qwriter **w_r, const char **error_r);

/**
 * qwriter_find_message_id - the entry with Message-ID (or dedup key)
 * @mid among those stored but not indexed yet.
 * @return true with *id_r set, or false (then look in the index).
 */
bool qwriter_find_message_id(struct qwriter *w, const char *mid,
    uint64_t *id_r);

/**
 * qwriter_submit - store one message durably; blocks until its
 * transaction has committed (or failed). Safe from any thread.
 * @param[in]  it_was_expected  announced with qwriter_expect(+1); its
 *                              submission ends that.
 * @param[out] id_r     the queue id.
 * @param[out] err      on failure, why (copied into the caller's buffer).
 * @return 0, or non-zero when the message is not stored (tempfail).
 */
int qwriter_submit(struct qwriter *w, const struct queue_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz);

/**
 * qwriter_flush - have everything stored so far indexed now, and wait
 * for it (a failure is logged). For a daemon that stops, so that the
 * worker's last round sees every message. Not concurrently with
 * qwriter_stop().
 */
void qwriter_flush(struct qwriter *w);

/**
 * qwriter_stop - finish what was submitted, index it, stop the thread,
 * free. NULL is a no-op.
 */
void qwriter_stop(struct qwriter *w);

/**
 * qwriter_expect - a message that will be submitted is being received
 * (@delta +1), or has been abandoned without a submission (-1). While more are
 * expected than are waiting, the writer holds a commit back for up to
 * QW_DELAY_US so that they share it.
 */
void qwriter_expect(struct qwriter *w, int delta);

#define QW_DELAY_US	2000
#define QW_BATCH_BYTES	((size_t)16 << 20)
/*
 * Indexing: once the oldest unindexed entry is QW_INDEX_IDLE_US old and
 * no submission waits, or QW_INDEX_MAX_US old, or QW_INDEX_BATCH are
 * waiting, whatever comes first. Past QW_PENDING_MAX unindexed entries
 * (indexing keeps failing), messages are indexed in their own commit.
 */
#define QW_INDEX_IDLE_US	20000
#define QW_INDEX_MAX_US		100000
#define QW_INDEX_BATCH		256
#define QW_PENDING_MAX		4096
/* Zeroed space kept ahead of the data (store_preallocate()). */
#define QW_PREALLOC_LOW		((size_t)2 << 20)
#define QW_PREALLOC_CHUNK	((size_t)2 << 20)

/** qwriter_waiting - submissions not yet taken into a commit (for tests). */
size_t qwriter_waiting(struct qwriter *w);

/** qwriter_pending - entries stored but not indexed yet (for tests). */
size_t qwriter_pending(struct qwriter *w);

/**
 * qwriter_stats - so far: messages, the commits that answered the MTA,
 * the index commits, and the sum over messages of the time from
 * submission to durable (microseconds): what the outbox adds to each
 * message's end of data.
 */
void qwriter_stats(struct qwriter *w, uint64_t *messages, uint64_t *commits,
    uint64_t *index_commits, uint64_t *store_us);

#endif

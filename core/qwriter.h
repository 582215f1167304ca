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
 */
#ifndef DV_QWRITER_H
#define DV_QWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
#include "store.h"

struct qwriter;

/**
 * qwriter_start - start the writer thread for @store.
 * @param[in] plugins  NULL-terminated plugin names each message is queued
 *                     for; copied.
 * @return 0, or an errno.
 */
int qwriter_start(struct store *store, char *const *plugins,
    struct qwriter **w_r, const char **error_r);

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
 * qwriter_stop - finish what was submitted, stop the thread, free.
 * NULL is a no-op.
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

/** qwriter_waiting - submissions not yet taken into a commit (for tests). */
size_t qwriter_waiting(struct qwriter *w);

/** qwriter_stats - messages and commits so far (for the benchmark). */
void qwriter_stats(struct qwriter *w, uint64_t *messages, uint64_t *commits);

#endif

/*
 * ob_int.h - the outbox's insides, behind outbox.h.
 *
 * Four layers, each a file:
 *   ob_table.c   the LMDB tables of the store's environment
 *   ob_log.c     the write-ahead log, outbox.log
 *   ob_item.c    an item as bytes: the log's record payload
 *   ob_writer.c  the writer thread: group commit through the log
 * and outbox.c, the handle that outbox.h declares, over them. Only
 * these files and the outbox's own unit tests include this header.
 */
#ifndef DV_OB_INT_H
#define DV_OB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "retry.h"
#include "store.h"

/* ======================================================================
 * ob_table.c - the tables.
 *
 * Layout (all in the store's environment; ids are 8-byte big-endian so
 * LMDB's byte order is numeric order):
 *   qmsg    id -> version byte, 4-byte length, JSON envelope, raw message
 *   qdel    id + plugin -> JSON delivery state
 *   qdue    next_at (8) + id (8) + plugin -> ""   (pending ones only)
 *   qmsgid  Message-ID (or its SHA-256 if too long for a key) -> id of
 *           the first entry with it (what correlation finds); and the
 *           same, a NUL and the content digest -> the entry holding
 *           that message (what a copy folds into)
 * and, in the store's meta table, the index mark (queue/indexed), the
 * id counter (counter/queue) and the log's state (queue/log-ident,
 * queue/log-applied). Every function works inside the caller's
 * transaction.
 */

/* What the writer adds to an item: where it goes (ob_table_put()). */
struct ob_put {
	/* 0, or the id for a new entry (the writer reserves ids before the
	 * entry reaches LMDB; the store's counter is moved past it).
	 * Unused when the message is folded into an entry. */
	uint64_t id;
	/* An entry stored with defer_index and not indexed yet that has
	 * this message's Message-ID (the writer keeps track of those, as
	 * the index cannot tell): fold into it; or 0. */
	uint64_t merge_into;
	/* Write only the message record: the entry has no deliveries and
	 * is not in the Message-ID index until ob_table_index_pending(). */
	bool defer_index;
	/* A new entry: the earlier entry whose Message-ID this different
	 * message reuses, or 0 (recorded in the entry). With @checked
	 * false, ob_table_put() asks the index itself. */
	uint64_t collided_with;
	bool checked;
};

/**
 * ob_table_put - add a message with one pending delivery per plugin, due at
 * item->received. A message whose Message-ID and content digest are
 * those of an entry (the same message, received again in another
 * transaction) is folded into that entry instead: its mailboxes and
 * recipients are added to the entry's, and every plugin is due to get
 * the entry again; *id_r is then the existing id. An item or entry
 * without a digest never folds (ob_table_match()). With @how->merge_into, the message is folded into that
 * entry (not indexed yet) instead, unless it is gone. With
 * @how->defer_index, a new entry gets neither its deliveries nor its
 * Message-ID index record: ob_table_index_pending() writes them later.
 * With @how->id, a new entry gets that id (DV_EEXIST if it is taken).
 * @param[in]  how      see struct ob_put; NULL for none of it.
 * @param[in]  plugins  NULL-terminated plugin names (may be empty).
 * @param[out] id_r     the message's id, unique for the store's life.
 * @return 0, DV_EEXIST, DV_EFULL, DV_ETOOBIG or DV_ESTORE.
 */
int ob_table_put(struct store_txn *t, const struct outbox_item *it,
    const struct ob_put *how, char *const *plugins, uint64_t *id_r,
    const char **error_r);

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
 * that the worker dead-letters it where `outbox list` shows it, instead
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
	const char *digest;		/* outbox_item's, or NULL */
};

int ob_table_index_pending(struct store_txn *t, char *const *plugins,
    const struct ob_index_hint *hints, size_t nhints, size_t max,
    size_t *n_r, bool *more_r, const char **error_r);

/**
 * ob_table_log_state - how far the outbox writer's log (ob_log.c) is stored
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
int ob_table_deliveries(struct store_txn *t, uint64_t id,
    struct outbox_delivery *d, size_t max, size_t *n_r, const char **error_r);

/**
 * ob_table_record - outbox_record(): record the outcome of attempt @a
 * (see struct outbox_attempt).
 * @param[out] d_r  the new state, if not NULL.
 */
int ob_table_record(struct store_txn *t, const struct outbox_attempt *a,
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

/**
 * ob_table_prune_scan - retention, step one: find entries received before
 * @before whose deliveries are all done and that still have their
 * message text, for ob_table_prune_ids(). Read-only: use a read
 * transaction, so that the milter's commits do not wait for the scan.
 *
 * Retention removes the raw message, by far the largest part of an
 * entry, and keeps the rest: envelope, decision, deliveries (with the
 * activity and case ids) and the Message-ID in the index, so replies
 * still correlate and `outbox show` still tells what became of it; LMDB
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
 * ob_table_find_message_id - the id of the entry with this
 * Message-ID (compared case-sensitively, as RFC 5322 says): the first
 * one stored with it, when a later different message reused it.
 * @return 0 or DV_ENOTFOUND.
 */
int ob_table_find_message_id(struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r);

/**
 * ob_table_match - what the index says of a message with Message-ID
 * @mid and content digest @digest (NULL: none) that is not in it yet:
 * *copy_r, the entry holding the same message, which it folds into (0
 * if none, always without a digest); *first_r, the entry correlation
 * finds by @mid (0 if none). A message with no copy but a first entry
 * is a different message reusing that entry's Message-ID. A damaged
 * index record counts as none.
 * @return 0, or DV_ESTORE (or another store status: the message cannot
 *         be placed now; tempfail it).
 */
int ob_table_match(struct store_txn *t, const char *mid, const char *digest,
    uint64_t *copy_r, uint64_t *first_r, const char **error_r);

/**
 * ob_table_find_fresh - ob_table_find_message_id() in a read snapshot
 * newer than @t's, begun under the map lock @t holds (outbox_find()).
 */
int ob_table_find_fresh(struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r);

/**
 * ob_txn_id - the LMDB id of @t's snapshot: a read transaction sees
 * every commit whose write transaction had an id up to it; a write
 * transaction's is the id its commit will have.
 */
uint64_t ob_txn_id(const struct store_txn *t);

/* ======================================================================
 * ob_log.c - the write-ahead log: a preallocated ring file of
 * checksummed records.
 *
 * The outbox writer must have a tracked message on disk before the MTA
 * may answer 250. An LMDB commit does that with several scattered page
 * writes and two syncs; appending the message to this log takes one
 * sequential write into blocks that already exist and one fdatasync.
 * The writer moves the logged records into LMDB a little later, many
 * at once, and records in the same LMDB transaction how far it got (the
 * applied position), so that after a crash it applies again exactly
 * what LMDB does not have yet. See ob_writer.c.
 *
 * The file: a header page (magic, format version, ring size and a random
 * identity, which the store records, so that a log never replays into
 * a store it does not belong to), then the ring. Every record in the
 * ring is framed: a 24-byte head (magic, payload length, the record's
 * position in the endless stream of the log, called its LSN, a type and
 * a CRC-32C over all of it and the payload), then the payload padded to
 * 8 bytes. A record never wraps: one that does not fit before the end
 * of the ring is preceded by a skip record (or by a gap too small for a
 * head) and goes to the ring's start. Reading stops at the first head
 * whose magic, LSN or checksum is wrong: a torn write at the end, or
 * what an earlier lap left. The file is written with zeros in full when
 * it is made, so that appending never allocates blocks, and fdatasync
 * has no file-system metadata to commit.
 *
 * The log knows nothing of what the payloads mean. One thread uses it.
 */

struct ob_log;

/* A payload to append, or one read back. */
struct ob_log_rec {
	const void *data;
	size_t len;
};

#define OB_LOG_HEAD	24
#define OB_LOG_HEADER	4096		/* the header page */
#define OB_LOG_RING_MIN	((size_t)1 << 20)

/** ob_log_framed - bytes a payload of @len takes in the ring. */
static inline size_t
ob_log_framed(size_t len)
{
	return OB_LOG_HEAD + ((len + 7) & ~(size_t)7);
}

/**
 * ob_crc32c - CRC-32C (Castagnoli) of @len bytes at @data, continuing
 * @crc (0 to start): what frames the log's records and header.
 */
uint32_t ob_crc32c(uint32_t crc, const void *data, size_t len);

/**
 * ob_log_open - open the log at @path, or make it with a ring of @ring
 * bytes (a multiple of 4096, at least OB_LOG_RING_MIN; an existing log
 * keeps its own size), and read its records from @start on.
 * @param[in]  ident    the identity the store recorded for its log, or 0
 *                      (the store has none yet: the log must be new or
 *                      hold nothing from @start on).
 * @param[in]  replay   called with each record's payload in log order,
 *                      then its LSN; a non-zero return stops the open
 *                      with that status. The payload is valid only
 *                      during the call.
 * @param[out] q_r      the log, positioned after the last record read.
 * @return 0; DV_EMISMATCH when the log belongs to another store (its
 *         identity is not @ident) and holds records; or an errno or DV_
 *         status with *error_r set.
 */
int ob_log_open(const char *path, size_t ring, uint64_t ident, uint64_t start,
    int (*replay)(const struct ob_log_rec *rec, uint64_t lsn, void *arg),
    void *arg, struct ob_log **q_r, const char **error_r);

/**
 * ob_log_peek - read the records of the log at @path from @start on, as
 * ob_log_open() does, without writing anything: for another process than
 * the one that appends (whose newest write it may see torn, and stop
 * before). A log that is missing or not @ident's holds nothing for it.
 * @return 0, or an errno or DV_ status with *error_r set.
 */
int ob_log_peek(const char *path, uint64_t ident, uint64_t start,
    int (*replay)(const struct ob_log_rec *rec, uint64_t lsn, void *arg),
    void *arg, const char **error_r);

/** ob_log_ident - the log's identity (for the store to record). */
uint64_t ob_log_ident(const struct ob_log *q);

/** ob_log_end - the LSN after the last record appended (or read). */
uint64_t ob_log_end(const struct ob_log *q);

/** ob_log_ring - the size of the ring in bytes. */
size_t ob_log_ring(const struct ob_log *q);

/**
 * ob_log_room - whether @n payloads appended now would fit without
 * overwriting anything from LSN @keep on (the oldest record still
 * needed), the wrap at the ring's end included.
 */
bool ob_log_room(const struct ob_log *q, uint64_t keep,
    const struct ob_log_rec *recs, size_t n);

/**
 * ob_log_append - append @n payloads and make them durable (fdatasync)
 * before returning. The caller has checked ob_log_room() against the
 * oldest LSN it still needs.
 * @param[out] lsns  each record's LSN (n of them), or NULL.
 * @return 0, or an errno with *error_r set. After a failure nothing
 *         more may be appended: what is durable is not known.
 */
int ob_log_append(struct ob_log *q, const struct ob_log_rec *recs, size_t n,
    uint64_t *lsns, const char **error_r);

/** ob_log_close - close; NULL is a no-op. */
void ob_log_close(struct ob_log *q);

/* ======================================================================
 * ob_item.c - an outbox_item as bytes: the payload of a log record.
 *
 * The outbox writer logs each message it accepts (ob_log.c) with the id it
 * reserved for it and the unindexed entry it folds into, if any, and
 * later stores it in LMDB with ob_table_put(). This is the form in between:
 * little-endian numbers, strings with their length and a NUL (so that a
 * decoded item points into the payload), then the message itself.
 */

/*
 * A decoded payload. it's strings and raw point into the payload.
 * Records written before content digests have no digest, and how's
 * checked false.
 */
struct ob_logged {
	struct outbox_item it;
	struct ob_put how;	/* id, merge_into, collided_with, checked */
	const char **rcpts;	/* it.rcpts; freed by ob_item_clear() */
};

/**
 * ob_item_size - the payload's length for @it; 0 if a field is too long
 * to encode (over 4 GB).
 */
size_t ob_item_size(const struct outbox_item *it);

/**
 * ob_item_encode - write @it, with @how->id, @how->merge_into and
 * @how->collided_with (checked), into
 * @dst, of ob_item_size(it) bytes; the message comes from it->raw or
 * it->raw_fill.
 * @return 0, or the errno of raw_fill.
 */
int ob_item_encode(const struct outbox_item *it, const struct ob_put *how,
    unsigned char *dst, size_t len);

/**
 * ob_item_decode - the item in a payload of @len bytes at @data, which
 * must outlive it. Strings and the message are not copied.
 * @return 0, DV_ECORRUPT (a field does not fit or a string lacks its
 *         NUL) or ENOMEM.
 */
int ob_item_decode(const void *data, size_t len, struct ob_logged *q);

/** ob_item_clear - free what ob_item_decode() allocated. */
void ob_item_clear(struct ob_logged *q);

/* ======================================================================
 * ob_writer.c - group commit for the outbox, through the log.
 *
 * Every milter thread that finishes a tracked message must have it on
 * disk before it answers the MTA. The writer thread takes every
 * submission waiting at that moment and appends them to the outbox log
 * (ob_log.c) in one write and one fdatasync, so the sync is shared by all
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

struct ob_writer;

/**
 * ob_writer_start - open the outbox log at @log_path (made if missing),
 * store in @store what it holds beyond what the store has and index
 * what an earlier run left unindexed, then start the writer thread.
 * @param[in] plugins  NULL-terminated plugin names each message is
 *                     delivered to; copied.
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
 * @param[out] indexed_r  if not NULL, on a miss: ob_txn_id() of the
 *                        last commit that indexed entries the writer
 *                        held (an entry not held now is in the index of
 *                        every snapshot from that one on), or 0.
 * @return true with *id_r set, or false (then look in the index).
 */
bool ob_writer_find_message_id(struct ob_writer *w, const char *mid,
    uint64_t *id_r, uint64_t *indexed_r);

/**
 * ob_writer_submit - store one message durably; blocks until its
 * transaction has committed (or failed). Safe from any thread.
 * @param[in]  it_was_expected  announced with ob_writer_expect(+1); its
 *                              submission ends that.
 * @param[out] id_r     the entry's id.
 * @param[out] err      on failure, why (copied into the caller's buffer).
 * @return 0, or non-zero when the message is not stored (tempfail).
 */
int ob_writer_submit(struct ob_writer *w, const struct outbox_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz);

/**
 * ob_writer_flush - have everything logged so far stored and indexed
 * now, and durable, and wait for it (a failure is logged). For a
 * daemon that stops, so that the worker's last round sees every
 * message. Not concurrently with ob_writer_stop().
 */
void ob_writer_flush(struct ob_writer *w);

/**
 * ob_writer_stop - finish what was submitted, index it, stop the thread,
 * free. NULL is a no-op.
 */
void ob_writer_stop(struct ob_writer *w);

/**
 * ob_writer_expect - a message that will be submitted is being received
 * (@delta +1), or has been abandoned without a submission (-1). While
 * more are expected than are waiting, the writer holds a commit back for up to
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

/** ob_writer_waiting - submissions not taken into a commit (tests). */
size_t ob_writer_waiting(struct ob_writer *w);

/** ob_writer_pending - messages logged but not stored yet (for tests). */
size_t ob_writer_pending(struct ob_writer *w);

/**
 * ob_writer_stats - so far: messages, the commits that answered the MTA,
 * the index commits, and the sum over messages of the time from
 * submission to durable (microseconds): what the outbox adds to each
 * message's end of data.
 */
void ob_writer_stats(struct ob_writer *w, uint64_t *messages,
    uint64_t *commits, uint64_t *index_commits, uint64_t *store_us);

#endif /* DV_OB_INT_H */

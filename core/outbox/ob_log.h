/*
 * qlog.h - the outbox's write-ahead log: a preallocated ring file of
 * checksummed records.
 *
 * The outbox writer must have a tracked message on disk before the MTA
 * may answer 250. An LMDB commit does that with several scattered page
 * writes and two syncs; appending the message to this log takes one
 * sequential write into blocks that already exist and one fdatasync.
 * The writer moves the logged records into LMDB a little later, many
 * at once, and records in the same LMDB transaction how far it got (the
 * applied position), so that after a crash it applies again exactly
 * what LMDB does not have yet. See qwriter.h.
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
#ifndef DV_QLOG_H
#define DV_QLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* DV_QLOG_H */

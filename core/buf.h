/*
 * buf.h - one bounded, growable byte buffer (after curl's dynbuf).
 *
 * Every buffer has a hard cap chosen at init; an append that would pass it
 * fails with DV_ETOOBIG and frees the buffer, so a caller cannot keep
 * growing a buffer that has already failed. The contents are always
 * NUL-terminated. Caps used across the project are named in caps.h.
 */
#ifndef DV_BUF_H
#define DV_BUF_H

#include <stddef.h>

struct dbuf {
	char *p;	/* contents, NUL-terminated; NULL while empty */
	size_t len;	/* bytes used, excluding the NUL */
	size_t alloc;	/* bytes allocated */
	size_t cap;	/* maximum len */
};

/**
 * dbuf_init - prepare an empty buffer.
 * @param[out] b    the buffer.
 * @param[in]  cap  largest length the buffer may reach (> 0).
 */
void dbuf_init(struct dbuf *b, size_t cap);

/**
 * dbuf_add - append bytes.
 * @return 0; DV_ETOOBIG past the cap or ENOMEM. On failure the buffer is
 *         freed and left empty.
 */
int dbuf_add(struct dbuf *b, const void *data, size_t n)
	__attribute__((warn_unused_result));

/** dbuf_addstr - append a NUL-terminated string; as dbuf_add(). */
int dbuf_addstr(struct dbuf *b, const char *s)
	__attribute__((warn_unused_result));

/** dbuf_addf - append printf-formatted text; as dbuf_add(). */
int dbuf_addf(struct dbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));

/** dbuf_str - the contents, "" when empty; valid until the next change. */
const char *dbuf_str(const struct dbuf *b);

/** dbuf_reset - empty the buffer, keeping its memory and cap. */
void dbuf_reset(struct dbuf *b);

/**
 * dbuf_take - hand the contents to the caller, who frees them.
 * @param[out] len_r  if not NULL, the length.
 * @return a malloc'd NUL-terminated string (an empty one for an empty
 *         buffer), or NULL on ENOMEM. The buffer is left empty.
 */
char *dbuf_take(struct dbuf *b, size_t *len_r);

/** dbuf_free - release the memory; the buffer is left empty. */
void dbuf_free(struct dbuf *b);

#endif

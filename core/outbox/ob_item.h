/*
 * qitem.h - a queue_item as bytes: the payload of an outbox log record.
 *
 * The outbox writer logs each message it accepts (qlog.h) with the id it
 * reserved for it and the unindexed entry it folds into, if any, and
 * later stores it in LMDB with queue_put(). This is the form in between:
 * little-endian numbers, strings with their length and a NUL (so that a
 * decoded item points into the payload), then the message itself.
 */
#ifndef DV_QITEM_H
#define DV_QITEM_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"

/* A decoded payload. it's strings and raw point into the payload. */
struct qitem {
	struct queue_item it;		/* it.id and it.merge_into set */
	const char **rcpts;		/* it.rcpts; freed by qitem_clear() */
};

/**
 * qitem_size - the payload's length for @it; 0 if a field is too long
 * to encode (over 4 GB).
 */
size_t qitem_size(const struct queue_item *it);

/**
 * qitem_encode - write @it (with it->id and it->merge_into) into @dst,
 * of qitem_size(it) bytes; the message comes from it->raw or
 * it->raw_fill.
 * @return 0, or the errno of raw_fill.
 */
int qitem_encode(const struct queue_item *it, unsigned char *dst,
    size_t len);

/**
 * qitem_decode - the item in a payload of @len bytes at @data, which
 * must outlive it. Strings and the message are not copied.
 * @return 0, DV_ECORRUPT (a field does not fit or a string lacks its
 *         NUL) or ENOMEM.
 */
int qitem_decode(const void *data, size_t len, struct qitem *q);

/** qitem_clear - free what qitem_decode() allocated. */
void qitem_clear(struct qitem *q);

#endif /* DV_QITEM_H */

/*
 * qitem.h - a outbox_item as bytes: the payload of an outbox log record.
 *
 * The outbox writer logs each message it accepts (qlog.h) with the id it
 * reserved for it and the unindexed entry it folds into, if any, and
 * later stores it in LMDB with ob_table_put(). This is the form in between:
 * little-endian numbers, strings with their length and a NUL (so that a
 * decoded item points into the payload), then the message itself.
 */
#ifndef DV_QITEM_H
#define DV_QITEM_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"

/* A decoded payload. it's strings and raw point into the payload. */
struct ob_logged {
	struct outbox_item it;		/* it.id and it.merge_into set */
	const char **rcpts;		/* it.rcpts; freed by ob_item_clear() */
};

/**
 * ob_item_size - the payload's length for @it; 0 if a field is too long
 * to encode (over 4 GB).
 */
size_t ob_item_size(const struct outbox_item *it);

/**
 * ob_item_encode - write @it (with it->id and it->merge_into) into @dst,
 * of ob_item_size(it) bytes; the message comes from it->raw or
 * it->raw_fill.
 * @return 0, or the errno of raw_fill.
 */
int ob_item_encode(const struct outbox_item *it, unsigned char *dst,
    size_t len);

/**
 * ob_item_decode - the item in a payload of @len bytes at @data, which
 * must outlive it. Strings and the message are not copied.
 * @return 0, DV_ECORRUPT (a field does not fit or a string lacks its
 *         NUL) or ENOMEM.
 */
int ob_item_decode(const void *data, size_t len, struct ob_logged *q);

/** ob_item_clear - free what ob_item_decode() allocated. */
void ob_item_clear(struct ob_logged *q);

#endif /* DV_QITEM_H */

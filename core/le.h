/*
 * le.h - little-endian numbers in byte buffers, for the outbox log's
 * heads (outbox/ob_log.c) and payloads (outbox/ob_item.c).
 */
#ifndef DV_LE_H
#define DV_LE_H

#include <stdint.h>

/** le_put - write the low @n bytes of @v at @p; returns @p + @n. */
static inline unsigned char *
le_put(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + n;
}

/** le_get - the @n-byte number at @p. */
static inline uint64_t
le_get(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#endif /* DV_LE_H */

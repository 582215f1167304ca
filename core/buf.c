/*
 * buf.c - bounded byte buffer.
 *
 * Growth doubles up to the cap. Nothing here knows about text encodings;
 * the NUL terminator is a convenience for callers that hold text.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "status.h"

void
dbuf_init(struct dbuf *b, size_t cap)
{
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void
dbuf_free(struct dbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
}

void
dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static int
dbuf_grow(struct dbuf *b, size_t need)
{
	size_t n;
	char *p;

	if (need > b->cap) {
		dbuf_free(b);
		return DV_ETOOBIG;
	}
	if (need + 1 <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 64;
	while (n < need + 1)
		n *= 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	p = realloc(b->p, n);
	if (p == NULL) {
		dbuf_free(b);
		return ENOMEM;
	}
	b->p = p;
	b->alloc = n;
	return 0;
}

int
dbuf_add(struct dbuf *b, const void *data, size_t n)
{
	int rc;

	if (n > b->cap - b->len) {
		dbuf_free(b);
		return DV_ETOOBIG;
	}
	if ((rc = dbuf_grow(b, b->len + n)) != 0)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
dbuf_addstr(struct dbuf *b, const char *s)
{
	return dbuf_add(b, s, strlen(s));
}

int
dbuf_addf(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		dbuf_free(b);
		return DV_EINVAL;
	}
	if ((size_t)n > b->cap - b->len) {
		dbuf_free(b);
		return DV_ETOOBIG;
	}
	if ((rc = dbuf_grow(b, b->len + (size_t)n)) != 0)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		dbuf_free(b);
		return DV_EINVAL;
	}
	b->len += (size_t)n;
	return 0;
}

const char *
dbuf_str(const struct dbuf *b)
{
	return b->p != NULL ? b->p : "";
}

char *
dbuf_take(struct dbuf *b, size_t *len_r)
{
	char *p = b->p;

	if (p == NULL)
		p = calloc(1, 1);
	if (len_r != NULL)
		*len_r = p != NULL ? b->len : 0;
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

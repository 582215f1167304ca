/*
 * ob_item.c - an outbox_item as bytes: a log record's payload (see
 * ob_int.h). It knows neither the log nor LMDB.
 *
 * Layout: id u64, merge_into u64, received i64, direction u32, flags
 * u32, four strings (queue_id, envelope_from, message_id, decision),
 * with flag 2 a string (digest) and collided_with u64, nrcpts u32 and
 * as many strings, raw_len u64 and the message. A string is u32 length
 * (0xffffffff for NULL) and its bytes and a NUL. Flags: 1 truncated, 2
 * the digest and the collision follow (every record written since
 * content digests; an earlier dvmilter wrote 0 or 1 there, and its
 * records are read as having no digest, collision not checked).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "ob_int.h"
#include "status.h"

#define NULLSTR 0xffffffffu
#define F_TRUNCATED	0x1u
#define F_DIGEST	0x2u

static size_t
str_size(const char *s)
{
	return 4 + (s != NULL ? strlen(s) + 1 : 0);
}

size_t
ob_item_size(const struct outbox_item *it)
{
	const char *s[5] = { it->queue_id, it->envelope_from, it->message_id,
	    it->decision, it->digest };
	size_t n = 8 + 8 + 8 + 4 + 4 + 8 + 4 + 8;

	for (int i = 0; i < 5; i++) {
		if (s[i] != NULL && strlen(s[i]) >= NULLSTR)
			return 0;
		n += str_size(s[i]);
	}
	if (it->nrcpts >= NULLSTR)
		return 0;
	for (size_t i = 0; i < it->nrcpts; i++) {
		if (strlen(it->rcpts[i]) >= NULLSTR)
			return 0;
		n += str_size(it->rcpts[i]);
	}
	return n + it->raw_len;
}

static unsigned char *
put_str(unsigned char *p, const char *s)
{
	size_t n;

	if (s == NULL)
		return le_put(p, NULLSTR, 4);
	n = strlen(s);
	p = le_put(p, n, 4);
	memcpy(p, s, n + 1);
	return p + n + 1;
}

int
ob_item_encode(const struct outbox_item *it, const struct ob_put *how,
    unsigned char *dst, size_t len)
{
	unsigned char *p = dst;

	p = le_put(p, how->id, 8);
	p = le_put(p, how->merge_into, 8);
	p = le_put(p, (uint64_t)it->received, 8);
	p = le_put(p, (uint32_t)it->direction, 4);
	p = le_put(p, F_DIGEST | (it->truncated ? F_TRUNCATED : 0), 4);
	p = put_str(p, it->queue_id);
	p = put_str(p, it->envelope_from);
	p = put_str(p, it->message_id);
	p = put_str(p, it->decision);
	p = put_str(p, it->digest);
	p = le_put(p, how->collided_with, 8);
	p = le_put(p, it->nrcpts, 4);
	for (size_t i = 0; i < it->nrcpts; i++)
		p = put_str(p, it->rcpts[i]);
	p = le_put(p, it->raw_len, 8);
	if ((size_t)(p - dst) + it->raw_len != len)
		return EINVAL;
	if (it->raw_len == 0)
		return 0;
	if (it->raw_fill != NULL)
		return it->raw_fill(it->raw_arg, p);
	memcpy(p, it->raw, it->raw_len);
	return 0;
}

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t
get(struct rd *r, int bytes)
{
	uint64_t v;

	if (r->bad || r->end - r->p < bytes) {
		r->bad = true;
		return 0;
	}
	v = le_get(r->p, bytes);
	r->p += bytes;
	return v;
}

static const char *
get_str(struct rd *r)
{
	uint64_t n = get(r, 4);
	const char *s;

	if (r->bad || n == NULLSTR)
		return NULL;
	if ((uint64_t)(r->end - r->p) < n + 1 || r->p[n] != '\0' ||
	    memchr(r->p, '\0', n) != NULL) {
		r->bad = true;
		return NULL;
	}
	s = (const char *)r->p;
	r->p += n + 1;
	return s;
}

int
ob_item_decode(const void *data, size_t len, struct ob_logged *q)
{
	struct rd r = { data, (const unsigned char *)data + len, false };
	struct outbox_item *it = &q->it;
	uint64_t n, flags;

	memset(q, 0, sizeof(*q));
	q->how.id = get(&r, 8);
	q->how.merge_into = get(&r, 8);
	it->received = (int64_t)get(&r, 8);
	it->direction = (int)get(&r, 4);
	flags = get(&r, 4);
	it->truncated = (flags & F_TRUNCATED) != 0;
	it->queue_id = get_str(&r);
	it->envelope_from = get_str(&r);
	it->message_id = get_str(&r);
	it->decision = get_str(&r);
	if ((flags & F_DIGEST) != 0) {
		it->digest = get_str(&r);
		q->how.collided_with = get(&r, 8);
		q->how.checked = true;
	}
	n = get(&r, 4);
	/* Each recipient takes at least five bytes. */
	if (r.bad || n > (uint64_t)(r.end - r.p) / 5)
		return DV_ECORRUPT;
	if (n > 0 && (q->rcpts = calloc(n, sizeof(char *))) == NULL)
		return ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		if ((q->rcpts[i] = get_str(&r)) == NULL)
			r.bad = true;
	it->rcpts = q->rcpts;
	it->nrcpts = n;
	it->raw_len = get(&r, 8);
	if (r.bad || it->raw_len !=
	    (uint64_t)(r.end - r.p)) {
		ob_item_clear(q);
		return DV_ECORRUPT;
	}
	it->raw = r.p;
	return 0;
}

void
ob_item_clear(struct ob_logged *q)
{
	free(q->rcpts);
	q->rcpts = NULL;
	q->it.rcpts = NULL;
}

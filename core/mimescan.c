/*
 * mimescan.c - where a raw message passes its MIME caps (mimescan.h).
 *
 * A line-by-line state machine over the raw bytes: a header block (one
 * part), then a body that is an attached message (a header block one
 * level down), a multipart (its boundary pushed; lines until a boundary
 * start parts one level down) or a leaf (lines until a boundary). A
 * boundary line, as GMime's parser takes it, is "--" and a boundary of
 * an enclosing multipart, optionally followed by "--" (the end), then
 * only white space. Content-Type values are parsed with GMime's own
 * parser, so that both see the same boundary. It copies nothing but the
 * boundaries, into a fixed stack, and never builds a tree.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "mimescan.h"

#define BOUNDARY_MAX	256	/* a longer one is left unknown */
#define CTYPE_MAX	8192	/* of a Content-Type value, unfolded */

enum kind { K_LEAF, K_MULTIPART, K_MESSAGE };

struct frame {
	char b[BOUNDARY_MAX];
	size_t blen;		/* 0: unknown */
	unsigned depth;		/* of the multipart */
	bool digest;		/* multipart/digest: parts default to messages */
};

struct scan {
	const char *raw, *end;
	struct frame st[MIMESCAN_DEPTH_MAX + 2];
	size_t nst;
	size_t parts, headers, header_bytes, stray, max_parts, max_stray;
	unsigned max_depth;
	struct mimescan_result *r;
};

/* One line: [p, e) without its end of line; the next starts at next. */
struct line {
	const char *p, *e, *next;
};

static bool
line_get(const struct scan *s, const char *at, struct line *l)
{
	const char *nl;

	if (at >= s->end)
		return false;
	nl = memchr(at, '\n', (size_t)(s->end - at));
	l->p = at;
	l->next = nl != NULL ? nl + 1 : s->end;
	l->e = nl != NULL ? nl : s->end;
	while (l->e > l->p && l->e[-1] == '\r')
		l->e--;
	return true;
}

/*
 * Which frame a boundary line closes or opens a part of, innermost
 * first: its index, with *end_r for "--b--"; -1 if it is none.
 */
static long
boundary_of(const struct scan *s, const struct line *l, bool *end_r)
{
	const char *e = l->e;
	size_t n;

	if (e - l->p < 2 || l->p[0] != '-' || l->p[1] != '-')
		return -1;
	while (e > l->p + 2 && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - l->p) - 2;
	for (size_t i = s->nst; i-- > 0;) {
		const struct frame *f = &s->st[i];

		if (f->blen == 0 || n < f->blen ||
		    memcmp(l->p + 2, f->b, f->blen) != 0)
			continue;
		if (n == f->blen) {
			*end_r = false;
			return (long)i;
		}
		if (n == f->blen + 2 && memcmp(l->p + 2 + f->blen, "--", 2) == 0) {
			*end_r = true;
			return (long)i;
		}
	}
	return -1;
}

/* Stop at @at for @why; the bytes before it are what GMime gets. */
static void
cut(struct scan *s, const char *at, enum mimescan_cut why)
{
	s->r->len = (size_t)(at - s->raw);
	s->r->cut = why;
	while (s->r->nlong > 0 &&
	    s->r->longf[s->r->nlong - 1].at >= s->r->len)
		s->r->nlong--;
}

/*
 * The field from @field passes MIMESCAN_FIELD_MAX with line @l: GMime
 * gets its lines before @l, or, if @l is its first, the start of @l
 * (then @l is shortened to it). Returns the field's record, or NULL if
 * there are too many already (the scan cut at the field).
 */
static struct mimescan_long *
too_long(struct scan *s, const char *field, struct line *l)
{
	struct mimescan_long *f;

	if (s->r->nlong == MIMESCAN_LONG_MAX) {
		cut(s, field, MIMESCAN_HEADERS);
		return NULL;
	}
	f = &s->r->longf[s->r->nlong++];
	f->at = (size_t)(field - s->raw);
	f->len = (size_t)(l->next - field);
	f->part = s->parts;
	if (l->p > field) {
		f->keep = (size_t)(l->p - field);
	} else {
		if ((size_t)(l->e - l->p) >= MIMESCAN_FIELD_MAX)
			l->e = l->p + MIMESCAN_FIELD_MAX - 1;
		f->keep = (size_t)(l->e - l->p);
	}
	return f;
}

/*
 * The backstop: a line that could open a part for a parser that saw the
 * structure otherwise ("--" and anything, or a Content-Type in a body,
 * which could make a message) but opens none here. Past max_stray of
 * them the scan cuts; true if it did.
 */
static bool
stray(struct scan *s, const struct line *l)
{
	static const char ct[] = "content-type";

	if (!((l->e - l->p >= 2 && l->p[0] == '-' && l->p[1] == '-') ||
	    (l->e - l->p >= (long)sizeof(ct) - 1 &&
	    strncasecmp(l->p, ct, sizeof(ct) - 1) == 0)))
		return false;
	if (++s->stray <= s->max_stray)
		return false;
	cut(s, l->p, MIMESCAN_LINES);
	return true;
}

/*
 * A header line @l (not the empty one) of the field from *@field (then
 * from @l, if @l starts one). GMime turns header bytes into objects (an
 * address, a parameter, a msg-id each): they are counted, and a field
 * over MIMESCAN_FIELD_MAX shortened (*@lf its record, its later folds
 * left out). Returns 1 to go on with @l, 0 to leave it out, or -1 if
 * the scan cut.
 */
static int
field_line(struct scan *s, const char **field, struct line *l,
    struct mimescan_long **lf)
{
	if (*l->p == ' ' || *l->p == '\t') {
		if (*lf != NULL) {
			(*lf)->len += (size_t)(l->next - l->p);
			return 0;
		}
	} else {
		*field = l->p;
		*lf = NULL;
	}
	if ((size_t)(l->next - *field) > MIMESCAN_FIELD_MAX) {
		if ((*lf = too_long(s, *field, l)) == NULL)
			return -1;
		if (l->p > *field)
			return 0;
	}
	s->header_bytes += *lf != NULL ? (*lf)->keep + 1 :
	    (size_t)(l->next - l->p);
	if (s->header_bytes > MIMESCAN_HEADER_BYTES_MAX) {
		cut(s, *field, MIMESCAN_HEADERS);
		return -1;
	}
	return 1;
}

/* A Content-Type value: what kind of part, and its boundary. */
static enum kind
content_type(const char *v, size_t n, struct frame *f)
{
	char buf[CTYPE_MAX];
	GMimeContentType *ct;
	enum kind k = K_LEAF;
	const char *b;

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if ((ct = g_mime_content_type_parse(NULL, buf)) == NULL)
		return K_LEAF;
	if (g_mime_content_type_is_type(ct, "multipart", "*")) {
		k = K_MULTIPART;
		f->digest = g_mime_content_type_is_type(ct, "multipart",
		    "digest");
		b = g_mime_content_type_get_parameter(ct, "boundary");
		f->blen = b != NULL && strlen(b) < sizeof(f->b) ?
		    strlen(b) : 0;
		if (f->blen > 0)
			memcpy(f->b, b, f->blen);
	} else if (g_mime_content_type_is_type(ct, "message", "rfc822") ||
	    g_mime_content_type_is_type(ct, "message", "news") ||
	    g_mime_content_type_is_type(ct, "message", "global"))
		k = K_MESSAGE;
	g_object_unref(ct);
	return k;
}

static bool
is_content_type(const struct line *l)
{
	static const char name[] = "content-type";
	const char *p = l->p + sizeof(name) - 1;

	if (l->e - l->p < (long)sizeof(name) ||
	    strncasecmp(l->p, name, sizeof(name) - 1) != 0)
		return false;
	while (p < l->e && (*p == ' ' || *p == '\t'))
		p++;
	return p < l->e && *p == ':';
}

/*
 * A header block from @at: its kind (*@k_r) and, for a multipart, its
 * boundary (@f). Returns where the body starts (after the empty line),
 * or NULL if the scan cut. A boundary line inside the headers ends them
 * (*@bl_r then points at it, and it is returned): the line is the first
 * of the part's content, as GMime reads it.
 */
static const char *
headers(struct scan *s, const char *at, bool digest, enum kind *k_r,
    struct frame *f, const char **bl_r)
{
	struct line l;
	char ct[CTYPE_MAX];
	const char *field = at;		/* where the current field starts */
	struct mimescan_long *lf = NULL;	/* its folds left out */
	size_t ctn = 0;
	bool in_ct = false, end;
	int fl;

	*k_r = digest ? K_MESSAGE : K_LEAF;
	*bl_r = NULL;
	while (line_get(s, at, &l)) {
		if (l.e == l.p) {
			at = l.next;		/* the empty line */
			break;
		}
		if (s->nst > 0 && boundary_of(s, &l, &end) >= 0) {
			*bl_r = l.p;
			break;
		}
		if ((fl = field_line(s, &field, &l, &lf)) <= 0) {
			if (fl < 0)
				return NULL;
			at = l.next;		/* a fold left out */
			continue;
		}
		if (*l.p == ' ' || *l.p == '\t') {
			if (in_ct && ctn + (size_t)(l.e - l.p) < sizeof(ct)) {
				memcpy(ct + ctn, l.p, (size_t)(l.e - l.p));
				ctn += (size_t)(l.e - l.p);
			}
			at = l.next;
			continue;
		}
		/* GMime keeps even a line that is no header, as one. */
		if (++s->headers > MIMESCAN_HEADERS_MAX) {
			cut(s, l.p, MIMESCAN_HEADERS);
			return NULL;
		}
		if (memchr(l.p, ':', (size_t)(l.e - l.p)) == NULL) {
			/* Not a header; GMime reads on for more. */
			if (stray(s, &l))
				return NULL;
			in_ct = false;
			at = l.next;
			continue;
		}
		if (in_ct)
			*k_r = content_type(ct, ctn, f);
		in_ct = is_content_type(&l);
		if (in_ct) {
			const char *v = (const char *)memchr(l.p, ':',
			    (size_t)(l.e - l.p)) + 1;

			ctn = (size_t)(l.e - v) < sizeof(ct) ?
			    (size_t)(l.e - v) : sizeof(ct) - 1;
			memcpy(ct, v, ctn);
		}
		at = l.next;
	}
	if (in_ct)
		*k_r = content_type(ct, ctn, f);
	return *bl_r != NULL ? *bl_r : at;
}

/*
 * Lines of a body until a boundary of an enclosing multipart: returns
 * that line (with *@fi_r its frame, *@end_r whether it ends it), or
 * NULL at the end of the message or a cut.
 */
static const char *
body(struct scan *s, const char *at, long *fi_r, bool *end_r)
{
	struct line l;

	while (line_get(s, at, &l)) {
		if (l.e - l.p >= 2 && l.p[0] == '-' && l.p[1] == '-' &&
		    (*fi_r = boundary_of(s, &l, end_r)) >= 0)
			return l.p;
		if (stray(s, &l))
			return NULL;
		at = l.next;
	}
	return NULL;
}

/* LONG: one state machine; split, its states would need a shared frame. */
static void
run(struct scan *s)
{
	const char *at = s->raw, *bl, *opened = s->raw;
	unsigned depth = 0;
	bool digest = false;
	struct line l;

	for (;;) {
		struct frame f = { .blen = 0 };
		enum kind k;
		long fi;
		bool end;

		/* A part starts at @at, @depth levels down; the line that
		 * opened it (its boundary, or its own start) at @opened. */
		if (s->parts + 1 > s->max_parts) {
			cut(s, opened, MIMESCAN_PARTS);
			return;
		}
		if (depth > s->max_depth) {
			cut(s, opened, MIMESCAN_DEPTH);
			return;
		}
		s->parts++;
		if (depth > s->r->depth)
			s->r->depth = depth;
		if ((at = headers(s, at, digest, &k, &f, &bl)) == NULL)
			return;
		/*
		 * A boundary line that ends the headers does not undo them,
		 * as GMime reads it: the part is still what its Content-Type
		 * says, and the line is the first of its content.
		 */
		if (k == K_MESSAGE) {
			depth++;
			digest = false;
			opened = at;
			continue;
		}
		if (k == K_MULTIPART && s->nst < MIMESCAN_DEPTH_MAX + 2) {
			f.depth = depth;
			s->st[s->nst++] = f;
		}
		/* Lines until a boundary; an end goes on in the parent. */
		for (;;) {
			if (bl != NULL) {
				at = bl;
				bl = NULL;
				if (!line_get(s, at, &l) ||
				    (fi = boundary_of(s, &l, &end)) < 0)
					return;
			} else if ((at = body(s, at, &fi, &end)) == NULL)
				return;
			line_get(s, at, &l);
			s->nst = (size_t)fi + 1;
			if (!end)
				break;
			s->nst--;
			at = l.next;
		}
		depth = s->st[fi].depth + 1;
		digest = s->st[fi].digest;
		opened = at;
		at = l.next;
	}
}

void
mimescan(const char *raw, size_t len, size_t max_parts, unsigned max_depth,
    struct mimescan_result *r)
{
	struct scan s = { .raw = raw, .end = raw + len, .r = r };

	memset(r, 0, sizeof(*r));
	r->len = len;
	s.max_parts = max_parts > 0 ? max_parts : 1;
	s.max_depth = max_depth < MIMESCAN_DEPTH_MAX ? max_depth :
	    MIMESCAN_DEPTH_MAX;
	s.max_stray = 8 * s.max_parts + 64;
	run(&s);
	r->parts = s.parts;
}

size_t
mimescan_apply(const char *raw, const struct mimescan_result *r, char *out)
{
	size_t from = 0, o = 0;

	for (size_t i = 0; i < r->nlong; i++) {
		const struct mimescan_long *f = &r->longf[i];
		size_t to = f->at + f->keep;

		memcpy(out + o, raw + from, to - from);
		o += to - from;
		if (f->keep == 0 || raw[to - 1] != '\n')
			out[o++] = '\n';
		from = f->at + f->len;
	}
	if (r->len > from) {
		memcpy(out + o, raw + from, r->len - from);
		o += r->len - from;
	}
	return o;
}

const char *
mimescan_cut_name(enum mimescan_cut c)
{
	switch (c) {
	case MIMESCAN_PARTS: return "too many MIME parts";
	case MIMESCAN_DEPTH: return "MIME parts nested too deep";
	case MIMESCAN_HEADERS: return "header fields too many or too long";
	case MIMESCAN_LINES: return "too many boundary-like lines";
	case MIMESCAN_WHOLE: break;
	}
	return "within the caps";
}

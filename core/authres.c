/*
 * authres.c - Authentication-Results parsing and the verdict (see
 * authres.h).
 *
 * The parser is a cursor over the bytes with one output buffer: every
 * token is copied out (lower-cased where the RFC's grammar is
 * case-insensitive, quotes removed) and NUL-terminated, so the output is
 * at most twice the input. Comments are skipped with a depth counter,
 * not recursion. Property values are read leniently (any printable run
 * up to white space, ';' or a comment), as real verifiers write
 * header.b=AbC+/9= and smtp.mailfrom=a@b that RFC 2045 tokens exclude;
 * the structure around them is strict. It does not interpret results:
 * that is authres_verdict()'s, below.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "authres.h"
#include "status.h"

struct cur {
	const char *s;
	size_t len, pos;
	char *out;			/* the store */
	size_t used;
	const char *err;		/* what is wrong, or NULL */
	int rc;
};

static bool
at_end(const struct cur *c)
{
	return c->pos >= c->len;
}

static int
peek(const struct cur *c)
{
	return at_end(c) ? -1 : (unsigned char)c->s[c->pos];
}

static bool
fail(struct cur *c, int rc, const char *what)
{
	if (c->err == NULL) {
		c->err = what;
		c->rc = rc;
	}
	return false;
}

/* RFC 2045 tspecials, plus space: what ends a token. */
static bool
tspecial(int ch)
{
	return ch <= ' ' || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?=", ch);
}

/* Folding white space and comments; true if any was there. */
static bool
skip_cfws(struct cur *c)
{
	size_t start = c->pos;

	while (!at_end(c) && c->err == NULL) {
		int ch = peek(c);
		unsigned depth = 0;

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->pos++;
			continue;
		}
		if (ch != '(')
			break;
		do {
			ch = peek(c);
			c->pos++;
			if (ch < 0)
				return fail(c, DV_EINVAL, "unterminated comment");
			if (ch == '\\') {
				if (at_end(c))
					return fail(c, DV_EINVAL, "unterminated "
					    "comment");
				c->pos++;
			} else if (ch == '(' && ++depth > AUTHRES_MAX_DEPTH)
				return fail(c, DV_ETOOBIG, "comments nested too "
				    "deep");
			else if (ch == ')')
				depth--;
			else if (ch == '\0')
				return fail(c, DV_EINVAL, "NUL in a comment");
		} while (depth > 0);
	}
	return c->pos > start;
}

static char *
out_begin(struct cur *c)
{
	return c->out + c->used;
}

static void
out_put(struct cur *c, int ch)
{
	c->out[c->used++] = (char)ch;
}

static const char *
out_end(struct cur *c, char *start)
{
	out_put(c, '\0');
	return start;
}

static bool
alnum(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z');
}

/* Keyword (RFC 5321 Ldh-str, and '_' as some verifiers write), lower. */
static const char *
keyword(struct cur *c, const char *what)
{
	char *start = out_begin(c);
	int ch = peek(c);

	if (!alnum(ch) && ch != '_') {
		fail(c, DV_EINVAL, what);
		return NULL;
	}
	while (alnum(ch = peek(c)) || ch == '-' || ch == '_') {
		out_put(c, ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
		c->pos++;
	}
	return out_end(c, start);
}

/* A quoted-string's content, appended to the store. */
static bool
quoted(struct cur *c)
{
	int ch;

	c->pos++;			/* the opening quote */
	while ((ch = peek(c)) != '"') {
		if (ch < 0)
			return fail(c, DV_EINVAL, "unterminated quoted string");
		if (ch == '\0')
			return fail(c, DV_EINVAL, "NUL in a quoted string");
		if (ch == '\\') {
			c->pos++;
			if ((ch = peek(c)) < 0 || ch == '\0')
				return fail(c, DV_EINVAL, "unterminated quoted "
				    "string");
		}
		out_put(c, ch);
		c->pos++;
	}
	c->pos++;
	return true;
}

static bool
lenient_char(int ch)
{
	return ch > ' ' && ch != 0x7f && ch != ';' && ch != '(' && ch != ')' &&
	    ch != '"';
}

/*
 * A value: a quoted-string or a token; @lenient also takes a property
 * value's printable run, and a quoted local part before "@domain".
 */
static const char *
value(struct cur *c, bool lenient, const char *what)
{
	char *start = out_begin(c);
	int ch = peek(c);

	if (ch == '"') {
		if (!quoted(c))
			return NULL;
		if (!lenient || peek(c) != '@')
			return out_end(c, start);
	}
	while ((ch = peek(c)) >= 0 && (lenient ? lenient_char(ch) :
	    !tspecial(ch))) {
		out_put(c, ch);
		c->pos++;
	}
	if (out_begin(c) == start) {
		fail(c, DV_EINVAL, what);
		return NULL;
	}
	return out_end(c, start);
}

static bool
expect(struct cur *c, int ch, const char *what)
{
	skip_cfws(c);
	if (c->err != NULL)
		return false;
	if (peek(c) != ch)
		return fail(c, DV_EINVAL, what);
	c->pos++;
	skip_cfws(c);
	return c->err == NULL;
}

/* 1*DIGIT, at most 9 of them. */
static bool
number(struct cur *c, unsigned *n, const char *what)
{
	unsigned v = 0, digits = 0;
	int ch;

	while ((ch = peek(c)) >= '0' && ch <= '9') {
		if (++digits > 9)
			return fail(c, DV_EINVAL, what);
		v = v * 10 + (unsigned)(ch - '0');
		c->pos++;
	}
	if (digits == 0)
		return fail(c, DV_EINVAL, what);
	*n = v;
	return true;
}

/* The propspecs and reasonspec after "method=result". */
static bool
props(struct cur *c, struct authres_result *r)
{
	for (;;) {
		bool space = skip_cfws(c);
		const char *k;

		if (c->err != NULL)
			return false;
		if (at_end(c) || peek(c) == ';')
			return true;
		if (!space)
			return fail(c, DV_EINVAL, "expected white space before "
			    "a property");
		if ((k = keyword(c, "expected a property")) == NULL)
			return false;
		skip_cfws(c);
		if (strcmp(k, "reason") == 0 && peek(c) == '=') {
			if (r->reason != NULL)
				return fail(c, DV_EINVAL, "a second reason");
			if (!expect(c, '=', "expected '=' after reason") ||
			    (r->reason = value(c, true, "expected the reason"))
			    == NULL)
				return false;
			continue;
		}
		if (r->nprops == AUTHRES_MAX_PROPS)
			return fail(c, DV_ETOOBIG, "too many properties");
		r->props[r->nprops].ptype = k;
		if (!expect(c, '.', "expected ptype.property=value") ||
		    (r->props[r->nprops].property = keyword(c, "expected a "
		    "property name")) == NULL ||
		    !expect(c, '=', "expected '=' after the property") ||
		    (r->props[r->nprops].value = value(c, true, "expected the "
		    "property's value")) == NULL)
			return false;
		r->nprops++;
	}
}

/* One resinfo after its ';': "method[/version]=result props". */
static bool
resinfo(struct cur *c, struct authres *ar, const char *method)
{
	struct authres_result *r;

	if (ar->nresults == AUTHRES_MAX_RESULTS)
		return fail(c, DV_ETOOBIG, "too many results");
	r = &ar->results[ar->nresults];
	memset(r, 0, sizeof(*r));
	r->method = method;
	skip_cfws(c);
	if (peek(c) == '/' && (!expect(c, '/', "expected '/'") ||
	    !number(c, &r->method_version, "expected the method's version")))
		return false;
	if (!expect(c, '=', "expected '=' after the method") ||
	    (r->result = keyword(c, "expected the result")) == NULL ||
	    !props(c, r))
		return false;
	ar->nresults++;
	return true;
}

/* authserv-id [CFWS version] ( "; none" / 1*resinfo ) [";"] */
static bool
payload(struct cur *c, struct authres *ar)
{
	skip_cfws(c);
	if ((ar->authserv_id = value(c, false, "expected the authserv-id"))
	    == NULL)
		return false;
	ar->version = 1;
	if (skip_cfws(c) && peek(c) >= '0' && peek(c) <= '9') {
		if (!number(c, &ar->version, "bad version"))
			return false;
		skip_cfws(c);
	}
	while (c->err == NULL && !at_end(c)) {
		const char *k;

		if (ar->none)
			return fail(c, DV_EINVAL, "text after \"none\"");
		if (!expect(c, ';', "expected ';'"))
			return false;
		if (at_end(c) && ar->nresults > 0)
			break;		/* a trailing ';' */
		if ((k = keyword(c, "expected a method")) == NULL)
			return false;
		skip_cfws(c);
		if (strcmp(k, "none") == 0 && peek(c) != '=' &&
		    peek(c) != '/' && ar->nresults == 0)
			ar->none = true;
		else if (!resinfo(c, ar, k))
			return false;
	}
	if (c->err == NULL && !ar->none && ar->nresults == 0)
		return fail(c, DV_EINVAL, "no result and no \"none\"");
	return c->err == NULL;
}

int
authres_parse(const char *s, size_t len, struct authres *ar,
    const char **error_r)
{
	struct cur c = { .s = s, .len = len };

	memset(ar, 0, sizeof(*ar));
	if (len > AUTHRES_MAX_LEN) {
		*error_r = dv_error_set("Authentication-Results: %zu bytes, "
		    "more than %u", len, AUTHRES_MAX_LEN);
		return DV_ETOOBIG;
	}
	if ((c.out = malloc(2 * len + 2)) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	if (!payload(&c, ar)) {
		free(c.out);
		memset(ar, 0, sizeof(*ar));
		*error_r = dv_error_set("Authentication-Results: %s at byte "
		    "%zu", c.err, c.pos);
		return c.rc;
	}
	ar->store = c.out;
	return 0;
}

void
authres_free(struct authres *ar)
{
	free(ar->store);
	ar->store = NULL;
}

/* --- the verdict ---------------------------------------------------------- */

const char *
authres_dmarc_name(enum authres_dmarc d)
{
	switch (d) {
	case AUTHRES_DMARC_PASS: return "pass";
	case AUTHRES_DMARC_FAIL: return "fail";
	default: return "none";
	}
}

/* The organisational domain of @d (lower case): libpsl's registrable
 * domain, or @d itself when it is a public suffix or has no dot. */
static const char *
org_domain(const char *d)
{
	const psl_ctx_t *psl = psl_builtin();
	const char *r = psl != NULL ? psl_registrable_domain(psl, d) : NULL;

	return r != NULL ? r : d;
}

bool
authres_aligned(const char *a, const char *b)
{
	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	return strcasecmp(a, b) == 0 ||
	    strcasecmp(org_domain(a), org_domain(b)) == 0;
}

static bool
trusted_id(char *const *trusted, const char *id)
{
	for (size_t i = 0; trusted != NULL && trusted[i] != NULL; i++)
		if (strcasecmp(trusted[i], id) == 0)
			return true;
	return false;
}

static const char *
prop(const struct authres_result *r, const char *ptype, const char *property)
{
	for (size_t i = 0; i < r->nprops; i++)
		if (strcmp(r->props[i].ptype, ptype) == 0 &&
		    strcmp(r->props[i].property, property) == 0)
			return r->props[i].value;
	return NULL;
}

/* What one trusted header says; *@has_dmarc and *@has_dkim if it
 * reports the method at all (for the message's From domain). */
static void
read_header(const struct authres *ar, const char *from_domain,
    enum authres_dmarc *dmarc, bool *has_dmarc, bool *dkim, bool *has_dkim)
{
	for (size_t i = 0; i < ar->nresults; i++) {
		const struct authres_result *r = &ar->results[i];

		if (strcmp(r->method, "dmarc") == 0) {
			const char *hf = prop(r, "header", "from");

			if (hf != NULL && (from_domain == NULL ||
			    strcasecmp(hf, from_domain) != 0))
				continue;	/* about another From */
			if (strcmp(r->result, "fail") == 0)
				*dmarc = AUTHRES_DMARC_FAIL;
			else if (!*has_dmarc && strcmp(r->result, "pass") == 0)
				*dmarc = AUTHRES_DMARC_PASS;
			*has_dmarc = true;
		} else if (strcmp(r->method, "dkim") == 0) {
			const char *d = prop(r, "header", "d");

			if (d == NULL)
				d = prop(r, "header", "i");
			if (d != NULL && strchr(d, '@') != NULL)
				d = strchr(d, '@') + 1;
			*has_dkim = true;
			if (strcmp(r->result, "pass") == 0 &&
			    authres_aligned(d, from_domain))
				*dkim = true;
		}
	}
}

void
authres_verdict(const char *const *values, size_t n, char *const *trusted,
    const char *from_domain, struct authres_verdict *v)
{
	bool got_dmarc = false, got_dkim = false, fail_seen = false;

	memset(v, 0, sizeof(*v));
	if (from_domain != NULL && *from_domain == '\0')
		from_domain = NULL;
	for (size_t i = 0; i < n && i < AUTHRES_MAX_HEADERS; i++) {
		enum authres_dmarc dmarc = AUTHRES_DMARC_NONE;
		bool has_dmarc = false, dkim = false, has_dkim = false;
		struct authres ar;
		const char *err;

		if (values[i] == NULL)
			continue;
		if (authres_parse(values[i], strlen(values[i]), &ar,
		    &err) != 0) {
			v->malformed++;
			continue;
		}
		if (!trusted_id(trusted, ar.authserv_id)) {
			v->ignored++;
			authres_free(&ar);
			continue;
		}
		v->trusted++;
		read_header(&ar, from_domain, &dmarc, &has_dmarc, &dkim,
		    &has_dkim);
		fail_seen = fail_seen || dmarc == AUTHRES_DMARC_FAIL;
		if ((has_dmarc && !got_dmarc) || (has_dkim && !got_dkim)) {
			if (v->authserv_id[0] == '\0')
				snprintf(v->authserv_id,
				    sizeof(v->authserv_id), "%s",
				    ar.authserv_id);
		}
		if (has_dmarc && !got_dmarc) {
			v->dmarc = dmarc;
			got_dmarc = true;
		}
		if (has_dkim && !got_dkim) {
			v->dkim_aligned = dkim;
			got_dkim = true;
		}
		authres_free(&ar);
	}
	if (fail_seen)
		v->dmarc = AUTHRES_DMARC_FAIL;
}

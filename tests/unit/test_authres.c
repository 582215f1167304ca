/* test_authres.c - Authentication-Results parsing (RFC 8601) and the
 * sender-authenticity verdict of the trusted headers. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authres.h"
#include "status.h"

/* --- well-formed values --------------------------------------------------- */

struct good {
	const char *in;
	const char *id;
	unsigned version;
	bool none;
	size_t nresults;
	/* "method/result/reason|-/ptype.property=value,...", first result */
	const char *first;
};

static const struct good goods[] = {
	{ "example.org; none", "example.org", 1, true, 0, NULL },
	{ "example.org 1; none", "example.org", 1, true, 0, NULL },
	{ "  example.org  ;  none  ", "example.org", 1, true, 0, NULL },
	{ "example.com; spf=pass smtp.mailfrom=example.net", "example.com", 1,
	  false, 1, "spf/pass/-/smtp.mailfrom=example.net" },
	/* RFC 8601 appendix B examples */
	{ "example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; "
	  "spf=pass smtp.mailfrom=example.net", "example.com", 1, false, 2,
	  "auth/pass/-/smtp.auth=sender@example.net" },
	{ "example.com; sender-id=pass header.from=example.com",
	  "example.com", 1, false, 1,
	  "sender-id/pass/-/header.from=example.com" },
	{ "example.com; sender-id=fail header.from=example.com; "
	  "dkim=pass (good signature) header.d=example.com", "example.com", 1,
	  false, 2, "sender-id/fail/-/header.from=example.com" },
	{ "mail-router.example.net; dkim=pass (good signature) "
	  "header.d=newyork.example.com header.b=oINEO8hg; "
	  "dkim=fail (bad signature) header.d=newyork.example.com "
	  "header.b=EToRSuvU", "mail-router.example.net", 1, false, 2,
	  "dkim/pass/-/header.d=newyork.example.com,header.b=oINEO8hg" },
	/* what OpenDMARC and OpenDKIM write */
	{ "mx.example.org; dmarc=pass (p=none dis=none) header.from=example.com",
	  "mx.example.org", 1, false, 1,
	  "dmarc/pass/-/header.from=example.com" },
	{ "mx.example.org;\r\n\tdkim=pass (2048-bit key; unprotected) "
	  "header.d=example.com header.i=@example.com header.b=\"AbC+/9=x\"",
	  "mx.example.org", 1, false, 1,
	  "dkim/pass/-/header.d=example.com,header.i=@example.com,"
	  "header.b=AbC+/9=x" },
	{ "mx.example.org; dkim=pass header.b=AbC+/9=", "mx.example.org", 1,
	  false, 1, "dkim/pass/-/header.b=AbC+/9=" },
	/* reason, quoted and not; method version; case folding */
	{ "MX.Example.ORG; DKIM/1=Pass reason=\"all good\" Header.D=Ex.COM",
	  "MX.Example.ORG", 1, false, 1, "dkim/pass/all good/header.d=Ex.COM" },
	{ "x; dmarc=fail reason=policy header.from=a.example", "x", 1, false,
	  1, "dmarc/fail/policy/header.from=a.example" },
	{ "x; spf = pass smtp . mailfrom = a@b.example", "x", 1, false, 1,
	  "spf/pass/-/smtp.mailfrom=a@b.example" },
	/* comments everywhere, nested, with quoted-pairs */
	{ "(c)x(c) 1 (c);(c) dkim (c) = (c) pass (a (b (c) \\) d) e) "
	  "header.d(c)=(c)ex.com(c)", "x", 1, false, 1,
	  "dkim/pass/-/header.d=ex.com" },
	{ "\"quoted id\"; none", "quoted id", 1, true, 0, NULL },
	{ "x; dkim=pass header.d=\"ex\\\"ample.com\"", "x", 1, false, 1,
	  "dkim/pass/-/header.d=ex\"ample.com" },
	{ "x; spf=pass smtp.mailfrom=\"a b\"@ex.com", "x", 1, false, 1,
	  "spf/pass/-/smtp.mailfrom=a b@ex.com" },
	/* a trailing ';', as some verifiers write */
	{ "x; dkim=pass header.d=ex.com;", "x", 1, false, 1,
	  "dkim/pass/-/header.d=ex.com" },
	{ "x 2; arc=none", "x", 2, false, 1, "arc/none/-/" },
	{ "x; dmarc=none", "x", 1, false, 1, "dmarc/none/-/" },
	{ "x; iprev=pass policy.iprev=192.0.2.200", "x", 1, false, 1,
	  "iprev/pass/-/policy.iprev=192.0.2.200" },
};

/* "method/result/reason|-/props" of the first result. */
static void
describe(const struct authres *ar, char *out, size_t outsz)
{
	const struct authres_result *r = &ar->results[0];
	size_t used;

	used = (size_t)snprintf(out, outsz, "%s/%s/%s/", r->method, r->result,
	    r->reason != NULL ? r->reason : "-");
	for (size_t i = 0; i < r->nprops && used < outsz; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%s%s.%s=%s",
		    i > 0 ? "," : "", r->props[i].ptype, r->props[i].property,
		    r->props[i].value);
}

static void
well_formed_values_parse_with_every_part(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct authres ar;
		const char *err = NULL;
		char got[512];
		int rc = authres_parse(g->in, strlen(g->in), &ar, &err);

		if (rc != 0)
			fail_msg("case %zu \"%s\": %s", i, g->in, err);
		assert_string_equal(ar.authserv_id, g->id);
		assert_int_equal(ar.version, g->version);
		assert_int_equal(ar.none, g->none);
		assert_int_equal(ar.nresults, g->nresults);
		if (g->first != NULL) {
			describe(&ar, got, sizeof(got));
			if (strcmp(got, g->first) != 0)
				fail_msg("case %zu \"%s\": got %s, want %s", i,
				    g->in, got, g->first);
		}
		authres_free(&ar);
		authres_free(&ar);	/* idempotent */
	}
}

/* --- malformed and hostile values ----------------------------------------- */

struct bad {
	const char *in;
	int rc;
	const char *why;	/* a part of the error text */
};

static const struct bad bads[] = {
	{ "", DV_EINVAL, "authserv-id" },
	{ "   ", DV_EINVAL, "authserv-id" },
	{ "(only a comment)", DV_EINVAL, "authserv-id" },
	{ "example.org", DV_EINVAL, "no result" },
	{ "example.org;", DV_EINVAL, "method" },
	{ "example.org; ", DV_EINVAL, "method" },
	{ ";dkim=pass", DV_EINVAL, "authserv-id" },
	{ "x; none; dkim=pass", DV_EINVAL, "after \"none\"" },
	{ "x; dkim=pass; none", DV_EINVAL, "'='" },
	{ "x; dkim", DV_EINVAL, "'='" },
	{ "x; dkim=", DV_EINVAL, "result" },
	{ "x; dkim=(c)", DV_EINVAL, "result" },
	{ "x; =pass", DV_EINVAL, "method" },
	{ "x; -dkim=pass", DV_EINVAL, "method" },
	{ "x; dkim=pass header", DV_EINVAL, "ptype.property" },
	{ "x; dkim=pass header.", DV_EINVAL, "property name" },
	{ "x; dkim=pass header.d", DV_EINVAL, "'='" },
	{ "x; dkim=pass header.d=", DV_EINVAL, "value" },
	{ "x; dkim=pass header.d=;", DV_EINVAL, "value" },
	{ "x; dkim=passheader.d=x", DV_EINVAL, "white space" },
	{ "x; dkim=pass\"q\" header.d=x", DV_EINVAL, "white space" },
	{ "x; dkim=pass reason=a reason=b", DV_EINVAL, "second reason" },
	{ "x; dkim=pass reason=", DV_EINVAL, "reason" },
	{ "x; dkim/=pass", DV_EINVAL, "version" },
	{ "x; dkim/1234567890=pass", DV_EINVAL, "version" },
	{ "x 1234567890; none", DV_EINVAL, "version" },
	{ "x; dkim=pass (unterminated", DV_EINVAL, "unterminated comment" },
	{ "x; dkim=pass (a (b) c", DV_EINVAL, "unterminated comment" },
	{ "x; dkim=pass (trailing \\", DV_EINVAL, "unterminated comment" },
	{ "\"unterminated; none", DV_EINVAL, "unterminated quoted" },
	{ "x; dkim=pass header.d=\"ab", DV_EINVAL, "unterminated quoted" },
	{ "x; dkim=pass header.d=\"ab\\", DV_EINVAL, "unterminated quoted" },
	{ "x; dkim=pass )", DV_EINVAL, "property" },
	{ "x y; none", DV_EINVAL, "';'" },
	{ "x@y; none", DV_EINVAL, "';'" },
	{ "x; dkim=pass; spf", DV_EINVAL, "'='" },
	{ "x; d\xc3\xa9kim=pass", DV_EINVAL, "'='" },
	{ "x;; dkim=pass", DV_EINVAL, "method" },
};

static void
malformed_values_are_refused_with_the_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct authres ar;
		const char *err = NULL;
		int rc = authres_parse(b->in, strlen(b->in), &ar, &err);

		if (rc != b->rc)
			fail_msg("case %zu \"%s\": rc %d, want %d (%s)", i,
			    b->in, rc, b->rc, rc == 0 ? "parsed" : err);
		if (strstr(err, b->why) == NULL)
			fail_msg("case %zu \"%s\": error \"%s\" lacks \"%s\"",
			    i, b->in, err, b->why);
		assert_null(ar.store);
		authres_free(&ar);
	}
}

static void
nul_bytes_and_bytes_past_len_are_handled(void **state)
{
	static const char with_nul[] = "x; dkim=pass header.d=a\0b";
	static const char in_comment[] = "x; dkim=pass (a\0b) header.d=a";
	struct authres ar;
	const char *err;

	(void)state;
	/* A NUL ends a property value; what follows is not a property. */
	assert_int_equal(authres_parse(with_nul, sizeof(with_nul) - 1, &ar,
	    &err), DV_EINVAL);
	assert_int_equal(authres_parse(in_comment, sizeof(in_comment) - 1,
	    &ar, &err), DV_EINVAL);
	assert_non_null(strstr(err, "NUL"));
	/* Only len bytes are read: "x; none" of a longer buffer. */
	assert_int_equal(authres_parse("x; nonesense", 7, &ar, &err), 0);
	assert_true(ar.none);
	authres_free(&ar);
}

static char *
repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t len = strlen(head) + strlen(unit) * n + strlen(tail) + 1;
	char *s = malloc(len), *p;

	assert_non_null(s);
	p = s + snprintf(s, len, "%s", head);
	for (size_t i = 0; i < n; i++)
		p += snprintf(p, len - (size_t)(p - s), "%s", unit);
	snprintf(p, len - (size_t)(p - s), "%s", tail);
	return s;
}

struct cap {
	const char *head, *unit, *tail;
	size_t ok, over;	/* units that parse; units that are refused */
	const char *why;
};

static const struct cap caps[] = {
	{ "x; dkim=pass ", "(", 0, AUTHRES_MAX_DEPTH, AUTHRES_MAX_DEPTH + 1,
	  "nested too deep" },
	{ "x", "; dkim=pass", "", AUTHRES_MAX_RESULTS, AUTHRES_MAX_RESULTS + 1,
	  "too many results" },
	{ "x; dkim=pass", " a.b=c", "", AUTHRES_MAX_PROPS,
	  AUTHRES_MAX_PROPS + 1, "too many properties" },
};

/* A unit repeated @n times, closed where it needs closing. */
static char *
cap_input(const struct cap *c, size_t n)
{
	if (c->unit[0] == '(') {
		char *open = repeat(c->head, "(", n, ""), *s;

		s = repeat(open, ")", n, "");
		free(open);
		return s;
	}
	return repeat(c->head, c->unit, n, c->tail);
}

static void
caps_on_nesting_results_and_properties_hold(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		const struct cap *c = &caps[i];
		char *ok = cap_input(c, c->ok), *over = cap_input(c, c->over);
		struct authres ar;
		const char *err = "";

		if (authres_parse(ok, strlen(ok), &ar, &err) != 0)
			fail_msg("cap %zu at its limit: %s", i, err);
		authres_free(&ar);
		assert_int_equal(authres_parse(over, strlen(over), &ar, &err),
		    DV_ETOOBIG);
		assert_non_null(strstr(err, c->why));
		free(ok);
		free(over);
	}
}

static void
overlong_and_deeply_nested_input_is_bounded(void **state)
{
	char *big = malloc(AUTHRES_MAX_LEN + 2), *deep;
	struct authres ar;
	const char *err;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', AUTHRES_MAX_LEN + 1);
	big[AUTHRES_MAX_LEN + 1] = '\0';
	assert_int_equal(authres_parse(big, AUTHRES_MAX_LEN + 1, &ar, &err),
	    DV_ETOOBIG);
	/* At the limit: parsed, and refused only for its syntax. */
	assert_int_equal(authres_parse(big, AUTHRES_MAX_LEN, &ar, &err),
	    DV_EINVAL);
	free(big);
	/* A million open parentheses: no recursion, refused at the cap. */
	deep = repeat("x; dkim=pass ", "(", 8000, "");
	assert_int_equal(authres_parse(deep, strlen(deep), &ar, &err),
	    DV_ETOOBIG);
	free(deep);
}

/* Every prefix of every good value: parses or fails, never crashes. */
static void
every_truncation_of_a_good_value_is_safe(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		size_t len = strlen(goods[i].in);

		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n ? n : 1);
			struct authres ar;
			const char *err;

			assert_non_null(copy);
			memcpy(copy, goods[i].in, n);
			if (authres_parse(copy, n, &ar, &err) == 0) {
				assert_non_null(ar.authserv_id);
				authres_free(&ar);
			}
			free(copy);
		}
	}
}

/* --- the verdict ---------------------------------------------------------- */

struct vcase {
	const char *name;
	const char *hdr[4];
	const char *from_domain;
	enum authres_dmarc dmarc;
	bool dkim_aligned;
	const char *id;
	unsigned trusted, ignored, malformed;
};

static const struct vcase vcases[] = {
	{ "no headers", { NULL }, "example.com", AUTHRES_DMARC_NONE, false, "",
	  0, 0, 0 },
	{ "trusted dmarc pass", { "mx.test; dmarc=pass header.from=example.com" },
	  "example.com", AUTHRES_DMARC_PASS, false, "mx.test", 1, 0, 0 },
	{ "trusted id compared without case",
	  { "MX.Test; dmarc=pass header.from=Example.COM" }, "example.com",
	  AUTHRES_DMARC_PASS, false, "MX.Test", 1, 0, 0 },
	{ "trusted dmarc fail", { "mx.test; dmarc=fail header.from=example.com" },
	  "example.com", AUTHRES_DMARC_FAIL, false, "mx.test", 1, 0, 0 },
	{ "untrusted id is ignored",
	  { "evil.test; dmarc=pass header.from=example.com" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "", 0, 1, 0 },
	{ "dmarc about another From is ignored",
	  { "mx.test; dmarc=pass header.from=other.example" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "", 1, 0, 0 },
	{ "temperror is none", { "mx.test; dmarc=temperror" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "mx.test", 1, 0, 0 },
	{ "topmost trusted dmarc wins over a pass below",
	  { "mx.test; dmarc=none header.from=example.com",
	    "mx.test; dmarc=pass header.from=example.com" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "mx.test", 2, 0, 0 },
	{ "a trusted fail anywhere wins",
	  { "mx.test; dmarc=pass header.from=example.com",
	    "mx.test; dmarc=fail header.from=example.com" }, "example.com",
	  AUTHRES_DMARC_FAIL, false, "mx.test", 2, 0, 0 },
	{ "dkim pass aligned by organisational domain",
	  { "mx.test; dkim=pass header.d=mail.example.co.uk" },
	  "news.example.co.uk", AUTHRES_DMARC_NONE, true, "mx.test", 1, 0, 0 },
	{ "dkim pass across a public suffix is not aligned",
	  { "mx.test; dkim=pass header.d=other.co.uk" }, "example.co.uk",
	  AUTHRES_DMARC_NONE, false, "mx.test", 1, 0, 0 },
	{ "dkim pass of another domain is not aligned",
	  { "mx.test; dkim=pass header.d=attacker.example" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "mx.test", 1, 0, 0 },
	{ "dkim fail is not aligned",
	  { "mx.test; dkim=fail header.d=example.com" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "mx.test", 1, 0, 0 },
	{ "dkim identity i= aligns",
	  { "mx.test; dkim=pass header.i=@sub.example.com" }, "example.com",
	  AUTHRES_DMARC_NONE, true, "mx.test", 1, 0, 0 },
	{ "no From domain: nothing aligns",
	  { "mx.test; dkim=pass header.d=example.com" }, NULL,
	  AUTHRES_DMARC_NONE, false, "mx.test", 1, 0, 0 },
	{ "malformed trusted header is ignored whole",
	  { "mx.test; dmarc=pass header.from=example.com (",
	    "evil.test; dkim=pass header.d=example.com" }, "example.com",
	  AUTHRES_DMARC_NONE, false, "", 0, 1, 1 },
	{ "second of two: untrusted above trusted",
	  { "evil.test; dmarc=pass header.from=example.com",
	    "mx.test; dmarc=fail header.from=example.com" }, "example.com",
	  AUTHRES_DMARC_FAIL, false, "mx.test", 1, 1, 0 },
};

static void
verdict_believes_only_trusted_ids_by_the_rule(void **state)
{
	char id1[] = "mx.test", id2[] = "other.test";
	char *trusted[] = { id1, id2, NULL };

	(void)state;
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *c = &vcases[i];
		struct authres_verdict v;
		size_t n = 0;

		while (n < 4 && c->hdr[n] != NULL)
			n++;
		authres_verdict(c->hdr, n, trusted, c->from_domain, &v);
		if (v.dmarc != c->dmarc || v.dkim_aligned != c->dkim_aligned ||
		    strcmp(v.authserv_id, c->id) != 0 ||
		    v.trusted != c->trusted || v.ignored != c->ignored ||
		    v.malformed != c->malformed)
			fail_msg("%s: dmarc=%s dkim=%d id=\"%s\" %u/%u/%u",
			    c->name, authres_dmarc_name(v.dmarc),
			    v.dkim_aligned, v.authserv_id, v.trusted,
			    v.ignored, v.malformed);
	}
}

static void
no_trusted_ids_trusts_nothing(void **state)
{
	const char *h[] = { "mx.test; dmarc=pass header.from=example.com" };
	struct authres_verdict v;

	(void)state;
	authres_verdict(h, 1, NULL, "example.com", &v);
	assert_int_equal(v.dmarc, AUTHRES_DMARC_NONE);
	assert_int_equal(v.ignored, 1);
	assert_string_equal(authres_dmarc_name(AUTHRES_DMARC_FAIL), "fail");
	assert_true(authres_aligned("a.example.com", "example.com"));
	assert_false(authres_aligned("example.com", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(well_formed_values_parse_with_every_part),
		cmocka_unit_test(malformed_values_are_refused_with_the_reason),
		cmocka_unit_test(nul_bytes_and_bytes_past_len_are_handled),
		cmocka_unit_test(caps_on_nesting_results_and_properties_hold),
		cmocka_unit_test(overlong_and_deeply_nested_input_is_bounded),
		cmocka_unit_test(every_truncation_of_a_good_value_is_safe),
		cmocka_unit_test(verdict_believes_only_trusted_ids_by_the_rule),
		cmocka_unit_test(no_trusted_ids_trusts_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

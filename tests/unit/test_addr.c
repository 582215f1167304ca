/* test_addr.c - address normalisation, table-driven. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "caps.h"
#include "status.h"

struct norm_case {
	const char *in;
	const char *seps;
	int rc;
	const char *want;	/* normal form, or a substring of the error */
};

static const struct norm_case cases[] = {
	{ "alice@example.com", "+", 0, "alice@example.com" },
	{ "<Alice@Example.COM>", "+", 0, "alice@example.com" },
	{ "  <bob@EXAMPLE.com>  ", "+", 0, "bob@example.com" },
	{ "support+acme@example.com", "+", 0, "support@example.com" },
	{ "support-acme@example.com", "+-", 0, "support@example.com" },
	{ "support+acme@example.com", "", 0, "support+acme@example.com" },
	{ "support+acme@example.com", NULL, 0, "support+acme@example.com" },
	{ "+leading@example.com", "+", 0, "+leading@example.com" },
	{ "a+b+c@example.com", "+", 0, "a@example.com" },
	{ "user@example.com.", "+", 0, "user@example.com" },
	{ "user@bücher.example", "+", 0, "user@xn--bcher-kva.example" },
	{ "user@BÜCHER.example", "+", 0, "user@xn--bcher-kva.example" },
	{ "user@xn--bcher-kva.example", "+", 0, "user@xn--bcher-kva.example" },
	{ "jörg@example.com", "+", 0, "jörg@example.com" },
	{ "<@relay.example,@other.example:carol@example.com>", "+", 0,
	    "carol@example.com" },
	{ "\"dave\"@example.com", "+", 0, "dave@example.com" },
	{ "\"john doe\"@example.com", "+", 0, "\"john doe\"@example.com" },
	{ "\"a@b\"@example.com", "+", 0, "\"a@b\"@example.com" },
	{ "\"f\\oo\"@example.com", "+", 0, "foo@example.com" },
	{ "\"a\\\"b\"@example.com", "+", 0, "\"a\\\"b\"@example.com" },
	{ "\"sp\\ ace\"@example.com", "+", 0, "\"sp ace\"@example.com" },
	{ "user@[192.0.2.1]", "+", 0, "user@[192.0.2.1]" },
	{ "first.last@sub.example.org", "+", 0, "first.last@sub.example.org" },
	{ "<>", "+", DV_EEMPTY, "null" },
	{ "", "+", DV_EEMPTY, "null" },
	{ "nodomain", "+", DV_EINVAL, "no domain" },
	{ "user@", "+", DV_EINVAL, "empty domain" },
	{ "@example.com", "+", DV_EINVAL, "source route" },
	{ "bad@@example.com", "+", DV_EINVAL, "not allowed" },
	{ "sp ace@example.com", "+", DV_EINVAL, "not allowed" },
	{ "user@exa mple.com", "+", DV_EINVAL, "not allowed" },
	{ "user@-example.com", "+", DV_EINVAL, "starts with '-'" },
	{ "user@example..com", "+", DV_EINVAL, "label" },
	{ "user@example.com>", "+", DV_EINVAL, "not allowed" },
	{ "<user@example.com", "+", DV_EINVAL, "unbalanced" },
	{ "\"open@example.com", "+", DV_EINVAL, "" },
	{ "ctl\001@example.com", "+", DV_EINVAL, "control" },
	{ "bad\xff@example.com", "+", DV_EINVAL, "UTF-8" },
	{ "user@[192.0.2.1", "+", DV_EINVAL, "literal" },
	{ "user@xn--.example", "+", DV_EINVAL, "" },
	{ "@relay.example:@example.com", "+", DV_EINVAL, "empty local part" },
	{ "\"\"@example.com", "+", DV_EINVAL, "empty local part" },
	{ "\"ab\"c@example.com", "+", DV_EINVAL, "unterminated quoted" },
	{ "\"a\tb\"@example.com", "+", DV_EINVAL, "control" },
	{ "de\x7fl@example.com", "+", DV_EINVAL, "control" },
	{ "\"a\\\\b\"@example.com", "+", 0, "\"a\\\\b\"@example.com" },
	{ "\"\\F\\OO\"@example.com", "+", 0, "foo@example.com" },
	{ "\"J\xc3\xb6rg Doe\"@example.com", "+", 0, "\"j\xc3\xb6rg doe\"@example.com" },
	{ "J\xc3\x96RG@example.com", "+", 0, "j\xc3\x96rg@example.com" },
	{ "\"a+b c\"@example.com", "+", 0, "\"a+b c\"@example.com" },
	{ "\"a+b\"@example.com", "+", 0, "a@example.com" },
};

static void
normalize_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct norm_case *c = &cases[i];
		char out[DV_ADDR_MAX + 1];
		const char *err = NULL;
		int rc = addr_normalize(c->in, c->seps, out, sizeof(out), &err);

		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d, want %d (%s)", i,
			    c->in, rc, c->rc, rc ? err : out);
		if (rc == 0 && strcmp(out, c->want) != 0)
			fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i,
			    c->in, out, c->want);
		if (rc != 0 && strstr(err, c->want) == NULL)
			fail_msg("case %zu \"%s\": error \"%s\" lacks \"%s\"", i,
			    c->in, err, c->want);
	}
}

static void
overlong_local_part_rejected(void **state)
{
	char in[200], out[DV_ADDR_MAX + 1];
	const char *err;

	memset(in, 'a', 65);
	memcpy(in + 65, "@example.com", 13);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err),
	    DV_ETOOBIG);
	in[64] = '@';		/* exactly 64 is fine */
	memcpy(in + 65, "example.com", 12);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err), 0);
}

static void
overlong_local_part_rejected_before_unquoting(void **state)
{
	char in[200], out[DV_ADDR_MAX + 1];
	const char *err;

	/* 64 bytes inside quotes are fine, 65 are not. */
	in[0] = '"';
	memset(in + 1, 'a', 64);
	memcpy(in + 65, "\"@example.com", 14);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err), 0);
	in[65] = 'a';
	memcpy(in + 66, "\"@example.com", 14);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err),
	    DV_ETOOBIG);
	assert_non_null(strstr(err, "local part longer than 64 bytes"));

	/* Unquoted, 67 bytes fail before the characters are looked at. */
	memset(in, 'a', 67);
	memcpy(in + 67, "@example.com", 13);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err),
	    DV_ETOOBIG);
	assert_non_null(strstr(err, "local part longer than 64 bytes"));
}

/* "\\x" is x: an escape must not let through a byte that x could not be. */
static void
escaped_bytes_meet_the_same_checks(void **state)
{
	static const struct norm_case esc[] = {
		{ "\"\\\x01\"@example.com", "+", DV_EINVAL, "control" },
		{ "\"a\\\x7f\"@example.com", "+", DV_EINVAL, "control" },
		{ "\"\\\xff\"@example.com", "+", DV_EINVAL, "UTF-8" },
		{ "\"\\\xc3\"@example.com", "+", DV_EINVAL, "UTF-8" },
		{ "\"j\\\xc3\xb6rg\"@example.com", "+", 0, "j\xc3\xb6rg@example.com" },
		{ "\"j\\\xc3\xb6rg doe\"@example.com", "+", 0,
		    "\"j\xc3\xb6rg doe\"@example.com" },
	};

	for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		char out[DV_ADDR_MAX + 1];
		const char *err = NULL;
		int rc = addr_normalize(esc[i].in, esc[i].seps, out, sizeof(out),
		    &err);

		if (rc != esc[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, esc[i].rc,
			    rc ? err : out);
		if (rc == 0 && strcmp(out, esc[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out,
			    esc[i].want);
		if (rc != 0 && strstr(err, esc[i].want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err,
			    esc[i].want);
	}
}

static void
overlong_domain_rejected(void **state)
{
	char in[400], out[DV_ADDR_MAX + 1];
	const char *err;
	size_t n = 0;

	n += (size_t)snprintf(in, sizeof(in), "u@");
	while (n < 300) {
		memcpy(in + n, "abcdefghi.", 10);
		n += 10;
	}
	memcpy(in + n, "com", 4);
	assert_int_not_equal(addr_normalize(in, "+", out, sizeof(out), &err), 0);
}

static void
overlong_label_rejected(void **state)
{
	char in[120], out[DV_ADDR_MAX + 1];
	const char *err;

	memcpy(in, "u@", 2);
	memset(in + 2, 'a', 64);
	memcpy(in + 66, ".com", 5);
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err),
	    DV_EINVAL);
}

static void
overlong_input_rejected_before_parsing(void **state)
{
	char in[DV_ADDR_INPUT_MAX + 10], out[DV_ADDR_MAX + 1];
	const char *err;

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	in[10] = '@';
	assert_int_equal(addr_normalize(in, "+", out, sizeof(out), &err),
	    DV_ETOOBIG);
}

static void
small_output_buffer_is_an_error_not_overflow(void **state)
{
	char out[8];
	const char *err;

	assert_int_equal(addr_normalize("alice@example.com", "+", out,
	    sizeof(out), &err), DV_ETOOBIG);
}

/* The local part alone, with or without the quotes it needs, overflows. */
static void
local_part_larger_than_output_is_an_error(void **state)
{
	static const struct { const char *in; size_t outsz; } small[] = {
		{ "abcd@x.example", 4 },
		{ "\"a b\"@x.example", 5 },
	};

	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		char buf[32];
		const char *err = "";

		memset(buf, '#', sizeof(buf));
		if (addr_normalize(small[i].in, "+", buf, small[i].outsz,
		    &err) != DV_ETOOBIG)
			fail_msg("case %zu: not DV_ETOOBIG", i);
		assert_string_equal(err, "address too long");
		for (size_t k = small[i].outsz; k < sizeof(buf); k++)
			if (buf[k] != '#')
				fail_msg("case %zu: wrote byte %zu", i, k);
	}
}

static void
subaddress_detail_extracted(void **state)
{
	char out[64];

	assert_int_equal(addr_subaddress("<Support+Acme@x.example>", "+", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "acme");
	assert_int_equal(addr_subaddress("support@x.example", "+", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(addr_subaddress("support+acme@x.example", "", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(addr_subaddress("s+averyveryverylongdetail@x", "+",
	    out, 4), DV_ETOOBIG);
}

static void
domain_of_normalised_address(void **state)
{
	assert_string_equal(addr_domain("a@example.com"), "example.com");
	assert_string_equal(addr_domain("\"a@b\"@example.com"), "example.com");
	assert_null(addr_domain("nodomain"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalize_table),
		cmocka_unit_test(overlong_local_part_rejected),
		cmocka_unit_test(overlong_local_part_rejected_before_unquoting),
		cmocka_unit_test(escaped_bytes_meet_the_same_checks),
		cmocka_unit_test(overlong_domain_rejected),
		cmocka_unit_test(overlong_label_rejected),
		cmocka_unit_test(overlong_input_rejected_before_parsing),
		cmocka_unit_test(small_output_buffer_is_an_error_not_overflow),
		cmocka_unit_test(local_part_larger_than_output_is_an_error),
		cmocka_unit_test(subaddress_detail_extracted),
		cmocka_unit_test(domain_of_normalised_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

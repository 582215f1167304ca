/* test_csv.c - the RFC 4180 reader. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "caps.h"
#include "csv.h"
#include "status.h"

/* Read all records of @fp into a "|"-joined, ";"-separated string. */
static int
read_stream(FILE *fp, char *out, size_t outsz, const char **error_r,
    unsigned *lines)
{
	struct csv_reader *r;
	char **f;
	size_t n, o = 0;
	unsigned line;
	int rc, rec = 0;

	assert_non_null(fp);
	assert_int_equal(csv_open(fp, &r), 0);
	out[0] = '\0';
	while ((rc = csv_next(r, &f, &n, &line, error_r)) == 0) {
		if (lines != NULL)
			lines[rec] = line;
		rec++;
		for (size_t i = 0; i < n; i++)
			o += (size_t)snprintf(out + o, outsz - o, "%s%s",
			    i ? "|" : "", f[i]);
		o += (size_t)snprintf(out + o, outsz - o, ";");
	}
	csv_close(r);
	fclose(fp);
	return rc;
}

/* read_stream() over the @len bytes of @text. */
static int
read_all(const char *text, size_t len, char *out, size_t outsz,
    const char **error_r, unsigned *lines)
{
	return read_stream(fmemopen((void *)text, len, "r"), out, outsz,
	    error_r, lines);
}

struct csv_case {
	const char *in;
	const char *want;
};

static const struct csv_case good[] = {
	{ "a,b,c\n1,2,3\n", "a|b|c;1|2|3;" },
	{ "a,b\r\n1,2\r\n", "a|b;1|2;" },
	{ "a,b\n1,2", "a|b;1|2;" },			/* no final newline */
	{ "a,,c\n", "a||c;" },
	{ "\"x,y\",z\n", "x,y|z;" },
	{ "\"say \"\"hi\"\"\",2\n", "say \"hi\"|2;" },
	{ "\"two\nlines\",b\n", "two\nlines|b;" },
	{ "a\n\n\nb\n", "a;b;" },			/* blank lines */
	{ "\xef\xbb\xbf" "address\nx@y\n", "address;x@y;" },	/* BOM */
	{ "\"\",b\n", "|b;" },
	{ "a,b,\n", "a|b|;" },
	{ "", "" },
	{ "\"a\"\r\nb\r\n", "a;b;" },		/* CRLF after a closing quote */
	{ "a,\"b\"", "a|b;" },			/* closing quote at EOF */
	{ "\"x\r\ny\",z\r\n", "x\r\ny|z;" },	/* CRLF inside quotes is data */
	{ "a\rb,c\n", "a\rb|c;" },		/* a bare CR is data */
	{ "a\r\n\r\n\r\nb\r\n", "a;b;" },	/* blank CRLF lines */
	{ "\"\"\n", ";" },			/* one empty field, not blank */
	{ ",\n", "|;" },
	{ "\"\"\"x\"\"\"\n", "\"x\";" },		/* doubled quotes at both ends */
};

static void
good_inputs(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char out[256];
		const char *err = NULL;
		int rc = read_all(good[i].in, strlen(good[i].in), out,
		    sizeof(out), &err, NULL);

		if (rc != DV_ENOTFOUND)
			fail_msg("case %zu: rc %d (%s)", i, rc, err ? err : "");
		if (strcmp(out, good[i].want) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, out,
			    good[i].want);
	}
}

static void
record_line_numbers_count_embedded_newlines(void **state)
{
	const char *in = "h1,h2\n\"a\nb\",c\nd,e\n\nf,g\n";
	unsigned lines[8];
	char out[128];
	const char *err;

	assert_int_equal(read_all(in, strlen(in), out, sizeof(out), &err,
	    lines), DV_ENOTFOUND);
	assert_int_equal(lines[0], 1);
	assert_int_equal(lines[1], 2);
	assert_int_equal(lines[2], 4);
	assert_int_equal(lines[3], 6);
}

struct bad_case {
	const char *in;
	size_t len;
	int rc;
	const char *msg;
};

static void
bad_inputs_name_the_line(void **state)
{
	static const struct bad_case bad[] = {
		{ "a,b\n\"open,c\n", 0, DV_EINVAL, "line 2: quoted field is not closed" },
		{ "a,b\nx\"y,c\n", 0, DV_EINVAL, "line 2: field 1: quote inside" },
		{ "a,b\n\"x\"y,c\n", 0, DV_EINVAL, "line 2: field 1: text after" },
		{ "a,b\nx,y\0z\n", 10, DV_EINVAL, "line 2: NUL byte in field 2" },
		{ "\xef\xbb" "x\n", 0, DV_EINVAL, "byte order mark" },
		{ "\xef" "x\n", 0, DV_EINVAL, "line 1: broken byte order mark" },
		{ "a\n\"x\0y\"\n", 8, DV_EINVAL, "line 2: NUL byte in field 1" },
		{ "\"x\"\ry\n", 0, DV_EINVAL, "line 1: field 1: text after" },
		{ "a,b\nc,\"x\n\"y,d\n", 0, DV_EINVAL,
		    "line 2: field 2: text after" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[256];
		const char *err = "";
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		int rc = read_all(bad[i].in, len, out, sizeof(out), &err, NULL);

		if (rc != bad[i].rc)
			fail_msg("case %zu: rc %d want %d", i, rc, bad[i].rc);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    bad[i].msg);
	}
}

static void
oversized_field_and_too_many_fields(void **state)
{
	static char big[8000];
	char out[16384];
	const char *err = "";

	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	assert_int_equal(read_all(big, sizeof(big) - 1, out, sizeof(out), &err,
	    NULL), DV_ETOOBIG);
	assert_non_null(strstr(err, "longer than"));

	memset(big, ',', 100);
	big[100] = '\n';
	assert_int_equal(read_all(big, 101, out, sizeof(out), &err, NULL),
	    DV_ETOOBIG);
	assert_non_null(strstr(err, "more than"));
}

static void
oversized_quoted_field(void **state)
{
	static char big[DV_CSV_FIELD_MAX + 8];
	char out[16];
	const char *err = "";

	/* The byte past the cap is ordinary quoted text... */
	big[0] = '"';
	memset(big + 1, 'x', DV_CSV_FIELD_MAX + 1);
	assert_int_equal(read_all(big, DV_CSV_FIELD_MAX + 2, out, sizeof(out),
	    &err, NULL), DV_ETOOBIG);
	assert_non_null(strstr(err, "line 1: field 1 is longer than"));

	/* ...or a doubled quote. */
	memcpy(big + 1 + DV_CSV_FIELD_MAX, "\"\"\"", 3);
	err = "";
	assert_int_equal(read_all(big, DV_CSV_FIELD_MAX + 4, out, sizeof(out),
	    &err, NULL), DV_ETOOBIG);
	assert_non_null(strstr(err, "line 1: field 1 is longer than"));
}

static void
sixty_four_fields_fit_sixty_five_do_not(void **state)
{
	char in[CSV_MAX_FIELDS + 2], out[256];
	const char *err = "";

	memset(in, ',', CSV_MAX_FIELDS - 1);
	in[CSV_MAX_FIELDS - 1] = '\n';
	assert_int_equal(read_all(in, CSV_MAX_FIELDS, out, sizeof(out), &err,
	    NULL), DV_ENOTFOUND);
	/* 63 separators and the record's ';' */
	assert_int_equal(strlen(out), CSV_MAX_FIELDS);

	memset(in, ',', CSV_MAX_FIELDS);
	in[CSV_MAX_FIELDS] = '\n';
	assert_int_equal(read_all(in, CSV_MAX_FIELDS + 1, out, sizeof(out),
	    &err, NULL), DV_ETOOBIG);
	assert_non_null(strstr(err, "line 1: more than 64 fields"));
}

/* A stream that yields its text and then fails, like a file on a dead NFS server. */
struct failing_stream {
	const char *text;
	size_t len, pos;
};

static ssize_t
failing_read(void *cookie, char *buf, size_t size)
{
	struct failing_stream *fs = cookie;
	size_t n = fs->len - fs->pos;

	if (n == 0) {
		errno = ESTALE;
		return -1;
	}
	if (n > size)
		n = size;
	memcpy(buf, fs->text + fs->pos, n);
	fs->pos += n;
	return (ssize_t)n;
}

static void
read_error_is_the_errno_not_end_of_input(void **state)
{
	static const struct csv_case cases[] = {
		{ "", "" },				/* at the byte order mark */
		{ "a,b\nc,d", "a|b;" },			/* in an unquoted field */
		{ "a,b\nc,\"d", "a|b;" },		/* in a quoted field */
		{ "a,b\n\"c\"", "a|b;" },		/* after a closing quote */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct failing_stream fs = { cases[i].in, strlen(cases[i].in), 0 };
		cookie_io_functions_t io = { .read = failing_read };
		char out[64];
		const char *err = NULL;
		int rc = read_stream(fopencookie(&fs, "r", io), out, sizeof(out),
		    &err, NULL);

		if (rc != ESTALE)
			fail_msg("case %zu: rc %d, want ESTALE", i, rc);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, out,
			    cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_inputs),
		cmocka_unit_test(record_line_numbers_count_embedded_newlines),
		cmocka_unit_test(bad_inputs_name_the_line),
		cmocka_unit_test(oversized_field_and_too_many_fields),
		cmocka_unit_test(oversized_quoted_field),
		cmocka_unit_test(sixty_four_fields_fit_sixty_five_do_not),
		cmocka_unit_test(read_error_is_the_errno_not_end_of_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mimescan.c - the pre-scan that bounds what GMime is given: where
 * it cuts, and that GMime never sees more parts than the cap, whatever
 * the structure (digests, parts without headers, boundaries it cannot
 * place, header floods).
 */
#include "config.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "mimescan.h"
#include "msg.h"

/* How many parts GMime builds from @raw's first @len bytes. */
static size_t
gmime_parts(const char *raw, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(raw, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	size_t n = 1;			/* the message */
	GMimePartIter *it;

	if (m == NULL) {
		g_object_unref(p);
		g_object_unref(st);
		return 0;
	}
	it = g_mime_part_iter_new(GMIME_OBJECT(m));
	if (g_mime_part_iter_is_valid(it))
		do
			n++;
		while (g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	g_object_unref(m);
	g_object_unref(p);
	g_object_unref(st);
	return n;
}

static const struct {
	const char *name, *raw;
	size_t max_parts;
	unsigned max_depth;
	enum mimescan_cut cut;
	const char *cut_at;	/* the cut is at the first occurrence */
	size_t parts;
} cases[] = {
	{ "a plain message is whole", "Subject: x\r\n\r\nhello\r\n", 10, 5,
	  MIMESCAN_WHOLE, NULL, 1 },
	{ "parts over the cap are cut at the boundary that opens the next",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n"
	  "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\n",
	  3, 5, MIMESCAN_PARTS, "--b\r\n\r\nthree", 3 },
	{ "empty parts without headers count",
	  "Content-Type: multipart/mixed; boundary=\"q q\"\n\n--q q\n--q q\n"
	  "--q q\n--q q\n--q q--\n", 3, 5, MIMESCAN_PARTS, "--q q\n--q q\n--q q--", 3 },
	{ "the end boundary closes the part; the epilogue is no part",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n1\r\n"
	  "--b--\r\n--b\r\n--b\r\n", 10, 5, MIMESCAN_WHOLE, NULL, 2 },
	{ "an outer boundary closes an inner multipart",
	  "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
	  "Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\n"
	  "a\r\n--o\r\n\r\nb\r\n--o--\r\n", 10, 5, MIMESCAN_WHOLE, NULL, 4 },
	{ "nested messages are cut below the depth cap",
	  "Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822"
	  "\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: deep\r\n\r\nx\r\n",
	  10, 2, MIMESCAN_DEPTH, "Subject: deep", 3 },
	{ "a digest's parts are messages by default",
	  "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
	  "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--d--\r\n",
	  10, 2, MIMESCAN_DEPTH, "Subject: in", 3 },
	{ "a folded Content-Type is unfolded",
	  "Content-Type: multipart/mixed;\r\n boundary=f\r\n\r\n--f\r\n\r\n1\r\n"
	  "--f\r\n\r\n2\r\n--f--\r\n", 2, 5, MIMESCAN_PARTS, "--f\r\n\r\n2", 2 },
	{ "boundary-like lines it cannot place are a bounded backstop",
	  "Subject: x\r\n\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n"
	  "--a\r\n--a\r\n--a\r\n--a\r\n--a\r\n", 1, 5, MIMESCAN_LINES, NULL, 1 },
};

static void
cuts_where_a_cap_is_passed(void **state)
{
	(void)state;
	msg_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *raw = cases[i].raw;
		struct mimescan_result r;
		size_t want;

		mimescan(raw, strlen(raw), cases[i].max_parts,
		    cases[i].max_depth, &r);
		want = cases[i].cut_at != NULL ?
		    (size_t)(strstr(raw, cases[i].cut_at) - raw) : strlen(raw);
		if (r.cut != cases[i].cut ||
		    (cases[i].cut != MIMESCAN_LINES && r.len != want) ||
		    r.parts != cases[i].parts)
			fail_msg("%s: cut %d at %zu with %zu parts; want %d at "
			    "%zu with %zu", cases[i].name, (int)r.cut, r.len,
			    r.parts, (int)cases[i].cut, want, cases[i].parts);
		if (gmime_parts(raw, r.len) > cases[i].max_parts + 1)
			fail_msg("%s: GMime sees %zu parts", cases[i].name,
			    gmime_parts(raw, r.len));
	}
}

/*
 * A header flood: 100,000 header fields in one message, or as many
 * lines that are no header, which GMime keeps as headers all the same.
 */
static void
a_header_flood_is_cut(void **state)
{
	static const char *const lines[] = { "X-H: v\r\n", "bogus\r\n" };
	size_t n = 100000;
	char *raw = malloc(n * 8 + 16);
	struct mimescan_result r;

	(void)state;
	assert_non_null(raw);
	for (size_t k = 0; k < 2; k++) {
		size_t len = 0, ll = strlen(lines[k]);

		for (size_t i = 0; i < n; i++, len += ll)
			memcpy(raw + len, lines[k], ll);
		memcpy(raw + len, "\r\nbody\r\n", 8);
		len += 8;
		mimescan(raw, len, 1000, 20, &r);
		assert_int_equal(r.cut, MIMESCAN_HEADERS);
		assert_int_equal(r.len, (size_t)MIMESCAN_HEADERS_MAX * ll);
	}
	free(raw);
}

/* What GMime is given of @raw: *@out_r, mimescan_apply()'d, to free. */
static size_t
applied(const char *raw, const struct mimescan_result *r, char **out_r)
{
	size_t n;

	*out_r = malloc(r->len + r->nlong + 1);
	assert_non_null(*out_r);
	n = mimescan_apply(raw, r, *out_r);
	assert_true(n <= r->len + r->nlong);
	(*out_r)[n] = '\0';
	return n;
}

/* The header @name of the message GMime parses from @raw, or NULL. */
static char *
gmime_header(const char *raw, size_t len, const char *name)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(raw, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	const char *v = m != NULL ? g_mime_object_get_header(GMIME_OBJECT(m),
	    name) : NULL;
	char *c = v != NULL ? strdup(v) : NULL;

	if (m != NULL)
		g_object_unref(m);
	g_object_unref(p);
	g_object_unref(st);
	return c;
}

/* A To field of @size bytes or more: folded, or on one line. */
static size_t
long_to(char *raw, size_t cap, size_t size, bool folded)
{
	size_t len = (size_t)snprintf(raw, cap, "To: a@example.com");

	while (len < size)
		len += (size_t)snprintf(raw + len, cap - len, folded ?
		    ",\r\n b@example.com" : ", b@example.com");
	len += (size_t)snprintf(raw + len, cap - len, "\r\n");
	return len;
}

/*
 * One To field of 300 KB (GMime would make 20,000 addresses of it),
 * folded or on one line, first or later: GMime gets it shortened to
 * the cap, and every other field and the body.
 */
static void
a_long_field_costs_only_itself(void **state)
{
	size_t cap = 1 << 20;
	char *raw = malloc(cap), *out, *v;

	(void)state;
	assert_non_null(raw);
	msg_init();
	for (int first = 0; first < 2; first++)
		for (int folded = 0; folded < 2; folded++) {
			struct mimescan_result r;
			size_t len = 0, at, to, n;

			if (!first)
				len += (size_t)snprintf(raw, cap, "Subject: x\r\n");
			at = len;
			len += long_to(raw + len, cap - len, 300 * 1024, folded);
			to = len - at;
			len += (size_t)snprintf(raw + len, cap - len,
			    "%sSubject: y\r\nContent-Type: multipart/mixed; "
			    "boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b--\r\n",
			    first ? "" : "X-After: 1\r\n");
			mimescan(raw, len, 1000, 20, &r);
			assert_int_equal(r.cut, MIMESCAN_WHOLE);
			assert_int_equal(r.len, len);
			assert_int_equal(r.parts, 2);
			assert_int_equal(r.nlong, 1);
			assert_int_equal(r.longf[0].at, at);
			assert_int_equal(r.longf[0].len, to);
			assert_int_equal(r.longf[0].part, 1);
			/* Folded, its lines that fit; else its first line's
			 * start and an end of line: the cap in all. */
			assert_true(r.longf[0].keep <= MIMESCAN_FIELD_MAX);
			assert_true(r.longf[0].keep > MIMESCAN_FIELD_MAX - 32);
			n = applied(raw, &r, &out);
			assert_int_equal(n, len - to + r.longf[0].keep +
			    (folded ? 0 : 1));
			assert_memory_equal(out + at, raw + at,
			    r.longf[0].keep);
			assert_non_null(strstr(out, "Subject: y\r\nContent-Type: "
			    "multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n"
			    "body\r\n--b--\r\n"));
			v = gmime_header(out, n, "To");
			assert_non_null(v);
			assert_true(strlen(v) > 200 * 1024);
			assert_true(strlen(v) < MIMESCAN_FIELD_MAX);
			free(v);
			assert_int_equal(gmime_parts(out, n), 2);
			free(out);
		}
	free(raw);
}

/*
 * A part's header field: the part is kept, and so are the parts after
 * it. Past MIMESCAN_LONG_MAX such fields, and past 1 MiB of header
 * bytes in all (counting what GMime gets of the long ones), the scan
 * still cuts.
 */
static void
long_fields_in_parts_and_their_caps(void **state)
{
	size_t cap = 12 << 20, len, at, n;
	char *raw = malloc(cap), *out;
	struct mimescan_result r;

	(void)state;
	assert_non_null(raw);
	msg_init();
	len = (size_t)snprintf(raw, cap, "Subject: x\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n");
	at = len;
	len += long_to(raw + len, cap - len, 300 * 1024, true);
	len += (size_t)snprintf(raw + len, cap - len, "Content-Type: "
	    "text/plain\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_WHOLE);
	assert_int_equal(r.nlong, 1);
	assert_int_equal(r.longf[0].at, at);
	assert_int_equal(r.longf[0].part, 3);
	n = applied(raw, &r, &out);
	assert_int_equal(gmime_parts(out, n), 4);
	assert_non_null(strstr(out, "Content-Type: text/plain\r\n\r\ntwo"));
	free(out);

	/* Fields of 300 KB, each of a line, kept to 256 KiB: the header
	 * byte cap cuts at the fifth. */
	len = 0;
	for (int i = 0; i < 6; i++)
		len += long_to(raw + len, cap - len, 300 * 1024, false);
	len += (size_t)snprintf(raw + len, cap - len, "\r\nbody\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_HEADERS);
	assert_int_equal(r.nlong, 4);
	assert_int_equal(r.len, r.longf[3].at + r.longf[3].len);
	assert_true(applied(raw, &r, &out) <= MIMESCAN_HEADER_BYTES_MAX);
	free(out);

	/* Fields of 300 KB whose first line is short: GMime gets little
	 * of each, and the scan cuts at the 17th. */
	len = 0;
	for (int i = 0; i < MIMESCAN_LONG_MAX + 2; i++) {
		len += (size_t)snprintf(raw + len, cap - len, "X-%d: v\r\n ",
		    i);
		memset(raw + len, 'x', 300 * 1024);
		len += 300 * 1024;
		len += (size_t)snprintf(raw + len, cap - len, "\r\n");
	}
	len += (size_t)snprintf(raw + len, cap - len, "\r\nbody\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_HEADERS);
	assert_int_equal(r.nlong, MIMESCAN_LONG_MAX);
	assert_int_equal(r.len, r.longf[MIMESCAN_LONG_MAX - 1].at +
	    r.longf[MIMESCAN_LONG_MAX - 1].len);
	assert_int_equal(r.longf[0].keep, strlen("X-0: v\r\n"));
	assert_int_equal(applied(raw, &r, &out), 10 * strlen("X-0: v\r\n") +
	    6 * strlen("X-10: v\r\n"));
	free(out);
	free(raw);
}

/* 1.2 MB of header fields in all: cut at the field that passes the cap. */
static void
long_header_blocks_are_cut(void **state)
{
	size_t cap = 2 << 20, len = 0;
	char *raw = malloc(cap);
	struct mimescan_result r;

	(void)state;
	assert_non_null(raw);
	for (int i = 0; len < (12 << 20) / 10; i++)
		len += (size_t)snprintf(raw + len, cap - len, "X-%d: %0200d\r\n",
		    i, 0);
	len += (size_t)snprintf(raw + len, cap - len, "\r\nbody\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_HEADERS);
	assert_int_equal(r.nlong, 0);
	assert_true(r.len <= MIMESCAN_HEADER_BYTES_MAX);
	assert_true(r.len > MIMESCAN_HEADER_BYTES_MAX - 300);
	free(raw);
}

/* The pieces random messages are made of. */
static const char *const pieces[] = {
	"--a\r\n", "--b\r\n", "--a--\r\n", "\r\n", "x\r\n",
	"Content-Type: multipart/mixed; boundary=a\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n",
	"Content-Type: message/rfc822\r\n",
	"Content-Type: multipart/digest; boundary=a\r\n", " folded\r\n",
	"--a \t\r\n", "--b--\r\n", "bogus\r\n", "\n", "--a\n",
	"Content-Type: multipart/alternative; boundary=\"b\"\r\n",
	"content-type : message/news\r\n", "--a--x\r\n",
};

/* Whatever the structure, GMime never sees more than the cap: random
 * mixes of boundaries, headers and nesting. */
static void
gmime_never_sees_more_parts_than_the_cap(void **state)
{
	const char *env = getenv("MIMESCAN_ROUNDS");
	int rounds = env != NULL ? (int)strtol(env, NULL, 10) : 3000;
	char raw[4096];
	unsigned seed = 12;
	size_t over = 0, worst = 0;

	(void)state;
	msg_init();
	for (int round = 0; round < rounds; round++) {
		size_t len = 0, g;
		struct mimescan_result r;

		len += (size_t)snprintf(raw, sizeof(raw), "Content-Type: "
		    "multipart/mixed; boundary=a\r\n\r\n");
		while (len < sizeof(raw) - 64) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			p = pieces[(seed >> 16) % (sizeof(pieces) /
			    sizeof(pieces[0]))];
			memcpy(raw + len, p, strlen(p));
			len += strlen(p);
		}
		mimescan(raw, len, 20, 5, &r);
		g = gmime_parts(raw, r.len);
		over += g > 21;
		if (g > worst)
			worst = g;
		if (g > 21 && getenv("MIMESCAN_DUMP") != NULL) {
			FILE *fp = fopen(getenv("MIMESCAN_DUMP"), "wb");

			if (fp != NULL) {
				fwrite(raw, 1, len, fp);
				fclose(fp);
			}
		}
		/* The bound the backstop guarantees, whatever happens. */
		if (g > 21 + 8 * 20 + 64)
			fail_msg("round %d: GMime sees %zu parts of %zu bytes, "
			    "the scan %zu", round, g, r.len, r.parts);
	}
	/* And the scan and GMime agree but for rare corner cases (random
	 * mixes of bogus lines, duplicate Content-Types and boundaries that
	 * no mail program writes: about 1 in 100). */
	printf("# %zu of %d random messages gave GMime more than the cap of "
	    "20 parts (at most %zu)\n", over, rounds, worst);
	assert_true(over * 50 <= (size_t)rounds);
}

/*
 * The random messages again, with an over-long field (one line, folded,
 * a Content-Type, a run of folds) put between two random pieces: what
 * GMime is given stays within the message's size and the part bound,
 * and the fields recorded lie in order before the cut.
 */
static void
long_fields_in_random_messages_stay_bounded(void **state)
{
	static const char *const longs[] = { "X-L: ", "To: a@b,\r\n ",
		"Content-Type: multipart/mixed; boundary=b; x=", " " };
	size_t cap = 400 * 1024, big = 300 * 1024;
	char *raw = malloc(cap), *out;
	unsigned seed = 7;
	size_t shortened = 0;

	(void)state;
	assert_non_null(raw);
	msg_init();
	for (int round = 0; round < 200; round++) {
		size_t len, n, pos, g;
		struct mimescan_result r;
		const char *lp;

		len = (size_t)snprintf(raw, cap, "Content-Type: "
		    "multipart/mixed; boundary=a\r\n");
		seed = seed * 1103515245u + 12345u;
		pos = (seed >> 16) % 40;
		for (size_t i = 0; i < 80; i++) {
			seed = seed * 1103515245u + 12345u;
			lp = pieces[(seed >> 16) % (sizeof(pieces) /
			    sizeof(pieces[0]))];
			memcpy(raw + len, lp, strlen(lp));
			len += strlen(lp);
			if (i != pos)
				continue;
			lp = longs[round % 4];
			memcpy(raw + len, lp, strlen(lp));
			len += strlen(lp);
			memset(raw + len, round % 8 ? 'y' : ' ', big);
			len += big;
			memcpy(raw + len, "\r\n", 2);
			len += 2;
		}
		mimescan(raw, len, 20, 5, &r);
		assert_true(r.len <= len);
		shortened += r.nlong;
		for (size_t i = 0; i < r.nlong; i++) {
			assert_true(r.longf[i].len > MIMESCAN_FIELD_MAX);
			assert_true(r.longf[i].keep <= MIMESCAN_FIELD_MAX);
			assert_true(r.longf[i].at + r.longf[i].len <= r.len);
			assert_true(i == 0 || r.longf[i].at >=
			    r.longf[i - 1].at + r.longf[i - 1].len);
		}
		n = applied(raw, &r, &out);
		g = gmime_parts(out, n);
		free(out);
		if (g > 21 + 8 * 20 + 64)
			fail_msg("round %d: GMime sees %zu parts", round, g);
	}
	/* Not all in bodies: header fields were shortened too. */
	printf("# %zu of 200 long fields were header fields\n", shortened);
	assert_true(shortened >= 20);
	free(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cuts_where_a_cap_is_passed),
		cmocka_unit_test(a_header_flood_is_cut),
		cmocka_unit_test(a_long_field_costs_only_itself),
		cmocka_unit_test(long_fields_in_parts_and_their_caps),
		cmocka_unit_test(long_header_blocks_are_cut),
		cmocka_unit_test(gmime_never_sees_more_parts_than_the_cap),
		cmocka_unit_test(long_fields_in_random_messages_stay_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

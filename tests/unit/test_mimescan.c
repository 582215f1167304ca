/*
 * test_mimescan.c - the pre-scan that bounds what GMime is given: where
 * it cuts, and that GMime never sees more parts than the cap, whatever
 * the structure (digests, parts without headers, boundaries it cannot
 * place, header floods).
 */
#include "config.h"

#include <setjmp.h>
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

/*
 * One To field of 300 KB (GMime would make 20,000 addresses of it), or
 * 1.2 MB of header fields in all: cut at the field that passes the cap.
 */
static void
long_header_fields_are_cut(void **state)
{
	size_t cap = 2 << 20, len;
	char *raw = malloc(cap);
	struct mimescan_result r;

	(void)state;
	assert_non_null(raw);
	len = (size_t)snprintf(raw, cap, "Subject: x\r\nTo: a@example.com");
	while (len < 300 * 1024)
		len += (size_t)snprintf(raw + len, cap - len,
		    ",\r\n b@example.com");
	len += (size_t)snprintf(raw + len, cap - len, "\r\n\r\nbody\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_HEADERS);
	assert_int_equal(r.len, strlen("Subject: x\r\n"));

	len = 0;
	for (int i = 0; len < (12 << 20) / 10; i++)
		len += (size_t)snprintf(raw + len, cap - len, "X-%d: %0200d\r\n",
		    i, 0);
	len += (size_t)snprintf(raw + len, cap - len, "\r\nbody\r\n");
	mimescan(raw, len, 1000, 20, &r);
	assert_int_equal(r.cut, MIMESCAN_HEADERS);
	assert_true(r.len <= MIMESCAN_HEADER_BYTES_MAX);
	assert_true(r.len > MIMESCAN_HEADER_BYTES_MAX - 300);
	free(raw);
}

/* Whatever the structure, GMime never sees more than the cap: random
 * mixes of boundaries, headers and nesting. */
static void
gmime_never_sees_more_parts_than_the_cap(void **state)
{
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cuts_where_a_cap_is_passed),
		cmocka_unit_test(a_header_flood_is_cut),
		cmocka_unit_test(long_header_fields_are_cut),
		cmocka_unit_test(gmime_never_sees_more_parts_than_the_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

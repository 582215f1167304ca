/*
 * test_msg.c - the message model: golden files (every .eml in
 * tests/data/mime against the .json beside it) and the caps.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	if (buf != NULL) {
		buf[n] = '\0';
		*len_r = (size_t)n;
	}
	return buf;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
golden_corpus(void **state)
{
	const char *top = getenv("top_srcdir");
	char dir[1024], **names = NULL;
	size_t n = 0, failed = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/data/mime", top ? top : ".");
	d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".eml") == 0) {
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	if (n < 40)
		fail_msg("only %zu messages in %s; the corpus needs 40", n, dir);
	for (size_t i = 0; i < n; i++) {
		char path[1400], jpath[1400], *raw, *got_s, *want_s;
		size_t len = 0;
		struct msg *m;
		const char *err;
		json_t *got, *want;
		json_error_t jerr;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(jpath, sizeof(jpath), "%.*s.json",
		    (int)(strlen(path) - 4), path);
		raw = slurp(path, &len);
		assert_non_null(raw);
		assert_int_equal(msg_parse(raw, len, NULL, &m, &err), 0);
		got = msg_to_json(m);
		assert_non_null(got);
		want = json_load_file(jpath, 0, &jerr);
		if (want == NULL)
			fail_msg("%s: %s", jpath, jerr.text);
		if (!json_equal(got, want)) {
			failed++;
			got_s = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
			want_s = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
			print_message("MISMATCH %s\n--- want\n%s\n--- got\n%s\n",
			    names[i], want_s, got_s);
			free(got_s);
			free(want_s);
		}
		json_decref(got);
		json_decref(want);
		msg_free(m);
		free(raw);
		free(names[i]);
	}
	free(names);
	if (failed > 0)
		fail_msg("%zu of %zu messages did not match", failed, n);
}

static const char simple[] =
    "From: Ann <ann@example.com>\r\n"
    "To: support@example.com\r\n"
    "Subject: Help\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Body text\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=a.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n";

static void
size_cap_drops_attachments_and_marks_truncated(void **state)
{
	struct msg *m;
	const char *err;
	struct msg_opts o = { .max_size = 200 };

	assert_int_equal(msg_parse(simple, sizeof(simple) - 1, NULL, &m, &err),
	    0);
	assert_int_equal(m->natt, 1);
	assert_int_equal(m->att[0].size, 9);
	assert_false(m->truncated);
	msg_free(m);

	assert_int_equal(msg_parse(simple, sizeof(simple) - 1, &o, &m, &err), 0);
	assert_true(m->truncated);
	assert_int_equal(m->natt, 0);
	assert_string_equal(m->subject, "Help");
	assert_string_equal(m->message_id, "m1@example.com");
	assert_true(m->nproblems > 0);
	msg_free(m);
}

static void
parse_from_a_file_matches_memory(void **state)
{
	char path[] = "/tmp/dvmilter-msg.XXXXXX";
	int fd = mkstemp(path);
	struct msg *a, *b;
	const char *err;
	json_t *ja, *jb;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, simple, sizeof(simple) - 1),
	    (ssize_t)(sizeof(simple) - 1));
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(msg_parse_fd(fd, NULL, &a, &err), 0);
	close(fd);
	unlink(path);
	assert_int_equal(msg_parse(simple, sizeof(simple) - 1, NULL, &b, &err),
	    0);
	ja = msg_to_json(a);
	jb = msg_to_json(b);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	msg_free(a);
	msg_free(b);
}

static void
garbage_and_empty_input_never_fail(void **state)
{
	unsigned char junk[8192];
	struct msg *m;
	const char *err;

	assert_int_equal(msg_parse("", 0, NULL, &m, &err), 0);
	assert_string_equal(m->subject, "");
	assert_string_equal(m->text, "");
	assert_null(m->message_id);
	msg_free(m);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)((i * 2654435761u) >> 13);
	assert_int_equal(msg_parse(junk, sizeof(junk), NULL, &m, &err), 0);
	msg_free(m);
}

static void
header_cap_and_lookup(void **state)
{
	static char big[64 * 1024];
	size_t len = 0;
	struct msg *m;
	const char *err;
	struct msg_opts o = { .max_headers = 10 };

	for (int i = 0; i < 50; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "X-H%d: v%d\r\n", i, i);
	len += (size_t)snprintf(big + len, sizeof(big) - len, "\r\nbody\r\n");
	assert_int_equal(msg_parse(big, len, &o, &m, &err), 0);
	assert_int_equal(m->nheaders, 10);
	assert_string_equal(msg_header_get(m, "x-h3"), "v3");
	assert_null(msg_header_get(m, "X-H40"));
	msg_free(m);
}

/*
 * Parsing must not keep a copy of the message: a worker parses every
 * tracked message, and a leaked copy of each made it grow by the size
 * of every message it ever delivered. (Under ASan mallinfo2() reports
 * nothing, so this only bites in the plain build; LeakSanitizer did not
 * see that leak, which GLib kept reachable.)
 */
static void
parsing_keeps_no_copy_of_the_message(void **state)
{
	size_t len = 1 << 20, before, after;
	char *raw = malloc(len + 1);
	struct msg *m;
	const char *err;

	(void)state;
	assert_non_null(raw);
	snprintf(raw, len, "Subject: big\r\n\r\n");
	memset(raw + strlen(raw), 'x', len - strlen(raw));
	raw[len] = '\0';
	assert_int_equal(msg_parse(raw, len, NULL, &m, &err), 0);
	msg_free(m);
	before = mallinfo2().uordblks;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(msg_parse(raw, len, NULL, &m, &err), 0);
		msg_free(m);
	}
	after = mallinfo2().uordblks;
	assert_true(after < before + len);
	free(raw);
}


/* A multipart/mixed message: one text part, then @n empty parts. */
static char *
many_parts(size_t n, size_t *len_r)
{
	static const char head[] = "From: a@example.com\r\n"
	    "Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n"
	    "\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n";
	size_t len = sizeof(head) - 1 + n * 7 + 8;
	char *raw = malloc(len + 1), *p;

	assert_non_null(raw);
	memcpy(raw, head, sizeof(head) - 1);
	p = raw + sizeof(head) - 1;
	for (size_t i = 0; i < n; i++, p += 7)
		memcpy(p, "--b\r\n\r\n", 7);
	memcpy(p, "--b--\r\n", 8);
	raw[len] = '\0';
	*len_r = len;
	return raw;
}

/*
 * The attack of issue 12: 100,000 empty parts. GMime is given only the
 * first MaxMessageParts; the text and what fits are kept, and the note
 * says what was left out.
 */
static void
parts_cap_bounds_what_gmime_sees(void **state)
{
	size_t len;
	char *raw = many_parts(100000, &len);
	struct msg_opts o = { .max_parts = 50, .max_attachments = 10 };
	struct msg *m;
	const char *err;

	(void)state;
	assert_int_equal(msg_parse(raw, len, &o, &m, &err), 0);
	assert_string_equal(m->text, "hello");
	assert_int_equal(m->natt, 10);
	assert_non_null(m->omitted);
	assert_non_null(strstr(m->omitted, "too many MIME parts"));
	assert_non_null(strstr(m->omitted, "38 attachments over the caps"));
	msg_free(m);
	/* Within the cap: nothing is left out. */
	free(raw);
	raw = many_parts(8, &len);
	assert_int_equal(msg_parse(raw, len, &o, &m, &err), 0);
	assert_null(m->omitted);
	assert_int_equal(m->natt, 8);
	msg_free(m);
	free(raw);
}

/* A To field of about @size bytes, folded: "To: a0@example.com,\r\n ...". */
static size_t
long_to(char *raw, size_t cap, size_t size)
{
	size_t len = (size_t)snprintf(raw, cap, "To: a0@example.com");

	for (int i = 1; len < size; i++)
		len += (size_t)snprintf(raw + len, cap - len,
		    ",\r\n a%d@example.com", i);
	len += (size_t)snprintf(raw + len, cap - len, "\r\n");
	return len;
}

/*
 * A To field of 300 KB (an announcement to 15,000 addresses, or a huge
 * field put first to blank the activity) costs only itself: first, or
 * later, or in a part's headers, GMime gets it shortened to 256 KiB and
 * the rest of the message, and the note says which field was cut.
 */
static void
an_over_long_field_costs_only_itself(void **state)
{
	static const char *const where[] = { "first", "later", "part" };
	size_t cap = 1 << 20;
	char *raw = malloc(cap);

	(void)state;
	assert_non_null(raw);
	for (size_t w = 0; w < 3; w++) {
		struct msg *m;
		const char *err;
		char note[128];
		size_t len = 0, to;

		if (w == 0)
			len += to = long_to(raw, cap, 300 * 1024);
		len += (size_t)snprintf(raw + len, cap - len,
		    "From: Sender <s@example.com>\r\n");
		if (w == 1)
			len += to = long_to(raw + len, cap - len, 300 * 1024);
		len += (size_t)snprintf(raw + len, cap - len, "Subject: hello"
		    "\r\nMessage-ID: <id@example.com>\r\nContent-Type: "
		    "multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		    "Content-Type: text/plain\r\n\r\nthe text\r\n--b\r\n");
		if (w == 2)
			len += to = long_to(raw + len, cap - len, 300 * 1024);
		len += (size_t)snprintf(raw + len, cap - len, "Content-Type: "
		    "application/octet-stream; name=f.bin\r\n\r\nabc\r\n"
		    "--b--\r\n");
		assert_int_equal(msg_parse(raw, len, NULL, &m, &err), 0);
		assert_string_equal(m->subject, "hello");
		assert_int_equal(m->nfrom, 1);
		assert_string_equal(m->from[0].address, "s@example.com");
		assert_string_equal(m->message_id, "id@example.com");
		assert_string_equal(m->text, "the text");
		assert_int_equal(m->natt, 1);
		assert_string_equal(m->att[0].filename, "f.bin");
		if (w < 2) {
			/* The addresses that fit are kept. */
			assert_true(m->nto > 10000);
			assert_string_equal(m->to[0].address, "a0@example.com");
		}
		snprintf(note, sizeof(note), "the \"To\" header field%s of "
		    "%zu bytes was cut to ", w == 2 ? " of a MIME part" : "",
		    to);
		if (m->omitted == NULL || strstr(m->omitted, note) == NULL ||
		    strstr(m->omitted, "bytes were parsed") != NULL)
			fail_msg("%s: omitted \"%s\"", where[w],
			    m->omitted != NULL ? m->omitted : "(none)");
		msg_free(m);
	}
	free(raw);
}

/* message/rfc822 inside message/rfc822, 10,000 levels. */
static void
depth_cap_cuts_nested_messages(void **state)
{
	static const char lvl[] = "Subject: level\r\n"
	    "Content-Type: message/rfc822\r\n\r\n";
	size_t n = 10000, len = 0;
	char *raw = malloc(n * (sizeof(lvl) - 1) + 64);
	struct msg_opts o = { .max_depth = 5 };
	struct msg *m;
	const char *err;

	(void)state;
	assert_non_null(raw);
	for (size_t i = 0; i < n; i++, len += sizeof(lvl) - 1)
		memcpy(raw + len, lvl, sizeof(lvl) - 1);
	len += (size_t)snprintf(raw + len, 64, "Subject: in\r\n\r\nx\r\n");
	assert_int_equal(msg_parse(raw, len, &o, &m, &err), 0);
	assert_string_equal(m->subject, "level");
	assert_int_equal(m->natt, 1);		/* the attached message */
	assert_true(m->att[0].size < 6 * sizeof(lvl));
	assert_non_null(m->omitted);
	assert_non_null(strstr(m->omitted, "nested too deep"));
	msg_free(m);
	free(raw);
}

/* A multipart message with @n attachments of @size bytes each. */
static char *
with_attachments(size_t n, size_t size, size_t *len_r)
{
	size_t cap = 512 + n * (size + 128), len;
	char *raw = malloc(cap);

	assert_non_null(raw);
	len = (size_t)snprintf(raw, cap, "Subject: a\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n");
	for (size_t i = 0; i < n; i++) {
		len += (size_t)snprintf(raw + len, cap - len, "--b\r\n"
		    "Content-Type: application/octet-stream; name=f%zu\r\n"
		    "\r\n", i);
		memset(raw + len, 'a', size);
		len += size;
		len += (size_t)snprintf(raw + len, cap - len, "\r\n");
	}
	len += (size_t)snprintf(raw + len, cap - len, "--b--\r\n");
	*len_r = len;
	return raw;
}

static void
attachment_and_decoding_caps_keep_what_fits(void **state)
{
	static const struct {
		struct msg_opts o;
		size_t natt;
		const char *note;
	} cases[] = {
		{ { .max_attachments = 3 }, 3, "2 attachments over the caps" },
		{ { .max_attachment_bytes = 2500 }, 2,
		  "3 attachments over the caps" },
		{ { .max_decoded = 2500 }, 2, "3 parts over the cap of 2500 "
		  "decoded bytes" },
		{ { .max_attachments = 5 }, 5, NULL },
	};
	size_t len;
	char *raw = with_attachments(5, 1000, &len);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg *m;
		const char *err;

		assert_int_equal(msg_parse(raw, len, &cases[i].o, &m, &err), 0);
		assert_string_equal(m->text, "text");
		assert_int_equal(m->natt, cases[i].natt);
		if (cases[i].note == NULL)
			assert_null(m->omitted);
		else if (m->omitted == NULL ||
		    strstr(m->omitted, cases[i].note) == NULL)
			fail_msg("case %zu: note \"%s\"", i, m->omitted ?
			    m->omitted : "(none)");
		msg_free(m);
	}
	free(raw);
}

/*
 * libxml2's tree of a pathological page costs 40 to 70 times its size:
 * the HTML it is given is cut at 1 MiB, and the note says so.
 */
static void
html_is_cut_before_libxml2_sees_it(void **state)
{
	static const char head[] = "Subject: h\r\nContent-Type: text/html"
	    "\r\n\r\n<html><body>";
	size_t n = 400000, len = sizeof(head) - 1;
	char *raw = malloc(len + n * 8 + 1);
	struct msg *m;
	const char *err;

	(void)state;
	assert_non_null(raw);
	memcpy(raw, head, len);
	for (size_t i = 0; i < n; i++, len += 8)
		memcpy(raw + len, "<i>x</i>", 8);
	assert_int_equal(msg_parse(raw, len, NULL, &m, &err), 0);
	assert_int_equal(m->text_source, MSG_TEXT_HTML);
	assert_true(strlen(m->text) <= (1u << 20) / 8 + 1);
	assert_true(strlen(m->text) > (1u << 20) / 8 - 16);
	assert_non_null(m->omitted);
	assert_non_null(strstr(m->omitted, "the HTML text was cut at"));
	msg_free(m);
	free(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_corpus),
		cmocka_unit_test(size_cap_drops_attachments_and_marks_truncated),
		cmocka_unit_test(parse_from_a_file_matches_memory),
		cmocka_unit_test(garbage_and_empty_input_never_fail),
		cmocka_unit_test(header_cap_and_lookup),
		cmocka_unit_test(parsing_keeps_no_copy_of_the_message),
		cmocka_unit_test(parts_cap_bounds_what_gmime_sees),
		cmocka_unit_test(an_over_long_field_costs_only_itself),
		cmocka_unit_test(depth_cap_cuts_nested_messages),
		cmocka_unit_test(attachment_and_decoding_caps_keep_what_fits),
		cmocka_unit_test(html_is_cut_before_libxml2_sees_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mdigest.c - the content digest: equal for two copies of one
 * message (trace headers, refolding, case of names, chunking), different
 * when the content differs (a table of messages).
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

#include "mdigest.h"

/* A header block as "Name: value\n" lines (a tab or space starts a
 * folded line that goes on the value), an empty line, and the body. */
static void
digest_of(const char *msg, size_t chunk, char hex[MDIGEST_HEX])
{
	struct mdigest *d;
	char name[128], value[1024];
	const char *p = msg, *body;

	assert_int_equal(mdigest_new(&d), 0);
	while (*p != '\n') {
		const char *colon = strchr(p, ':'), *end = p;
		size_t vl = 0;

		assert_non_null(colon);
		snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
		end = colon + 1;
		do {		/* the value with its folded lines */
			const char *nl = strchr(end, '\n');

			memcpy(value + vl, end, (size_t)(nl - end));
			vl += (size_t)(nl - end);
			end = nl + 1;
			if (*end == ' ' || *end == '\t')
				value[vl++] = '\n';
		} while (*end == ' ' || *end == '\t');
		value[vl] = '\0';
		mdigest_header(d, name, value);
		p = end;
	}
	mdigest_eoh(d);
	body = p + 1;
	for (size_t off = 0, n = strlen(body); off < n; off += chunk)
		mdigest_body(d, body + off, n - off < chunk ? n - off : chunk);
	assert_int_equal(mdigest_final(d, hex), 0);
	mdigest_free(d);
	assert_int_equal(strlen(hex), 64);
}

#define CASE_MAIL \
	"From: Ann <ann@ext.example>\nTo: support@example.com\n" \
	"Subject: Printer broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n" \
	"Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n" \
	"Content-Type: text/plain; charset=utf-8\n\n" \
	"The printer on floor 2 is broken.\r\nAnn\r\n"

static const struct {
	const char *name, *msg;
	bool same;		/* as CASE_MAIL */
} TABLE[] = {
	{ "itself", CASE_MAIL, true },
	{ "trace headers added by relays and the MTA",
	  "Return-Path: <ann@ext.example>\n"
	  "Received: from mx2.example (mx2 [192.0.2.7]) by mail.example\n"
	  "Authentication-Results: mail.example; dkim=pass\n"
	  "DKIM-Signature: v=1; a=rsa-sha256; d=ext.example; b=AAAA\n"
	  "ARC-Seal: i=1; cv=none\nX-Spam-Score: 1.2\n"
	  "Delivered-To: support@example.com\n"
	  "Resent-From: relay@example\nBcc: hidden@example.com\n" CASE_MAIL,
	  true },
	{ "a header folded again, a name in other case",
	  "from: Ann\n\t<ann@ext.example>\nTo:   support@example.com  \n"
	  "Subject: Printer\n broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n"
	  "Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain;\n charset=utf-8\n\n"
	  "The printer on floor 2 is broken.\r\nAnn\r\n", true },
	{ "another body, same headers",
	  "From: Ann <ann@ext.example>\nTo: support@example.com\n"
	  "Subject: Printer broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n"
	  "Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=utf-8\n\nhi\r\n", false },
	{ "another recipient in To",
	  "From: Ann <ann@ext.example>\nTo: bob@example.com\n"
	  "Subject: Printer broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n"
	  "Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=utf-8\n\n"
	  "The printer on floor 2 is broken.\r\nAnn\r\n", false },
	{ "another Content-Type: the body reads otherwise",
	  "From: Ann <ann@ext.example>\nTo: support@example.com\n"
	  "Subject: Printer broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n"
	  "Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n"
	  "Content-Type: text/html; charset=utf-8\n\n"
	  "The printer on floor 2 is broken.\r\nAnn\r\n", false },
	{ "a header moved into the body",
	  "From: Ann <ann@ext.example>\nTo: support@example.com\n"
	  "Subject: Printer broken\nDate: Tue, 8 Dec 2026 03:00:00 +0000\n"
	  "Message-ID: <case-1@ext.example>\nMIME-Version: 1.0\n\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "The printer on floor 2 is broken.\r\nAnn\r\n", false },
	{ "the 5-byte mail of the attack",
	  "From: Mallory <m@evil.example>\nTo: bob@example.com\n"
	  "Message-ID: <case-1@ext.example>\n\nhello", false },
};

static void
copies_digest_alike_and_other_content_differs(void **state)
{
	char ref[MDIGEST_HEX], hex[MDIGEST_HEX];

	(void)state;
	digest_of(CASE_MAIL, 4096, ref);
	for (size_t i = 0; i < sizeof(TABLE) / sizeof(TABLE[0]); i++) {
		digest_of(TABLE[i].msg, 4096, hex);
		print_message("# %s: %s\n", TABLE[i].name,
		    TABLE[i].same ? "same" : "different");
		if (TABLE[i].same)
			assert_string_equal(hex, ref);
		else
			assert_string_not_equal(hex, ref);
	}
}

static void
the_body_in_chunks_digests_as_in_one(void **state)
{
	char one[MDIGEST_HEX], bytes[MDIGEST_HEX], sevens[MDIGEST_HEX];

	(void)state;
	digest_of(CASE_MAIL, 1 << 20, one);
	digest_of(CASE_MAIL, 1, bytes);
	digest_of(CASE_MAIL, 7, sevens);
	assert_string_equal(bytes, one);
	assert_string_equal(sevens, one);
}

static void
the_origin_headers_are_covered_and_trace_headers_not(void **state)
{
	static const char *const covered[] = { "From", "sender", "Reply-To",
	    "TO", "Cc", "Date", "Subject", "Message-Id", "In-Reply-To",
	    "References", "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", "content-disposition" };
	static const char *const left_out[] = { "Received", "Return-Path",
	    "Authentication-Results", "DKIM-Signature", "ARC-Seal",
	    "X-Spam-Status", "X-Original-To", "Delivered-To", "Bcc",
	    "Resent-Date", "Received-SPF", "List-Id", "Content" };

	(void)state;
	for (size_t i = 0; i < sizeof(covered) / sizeof(covered[0]); i++)
		assert_true(mdigest_covers(covered[i]));
	for (size_t i = 0; i < sizeof(left_out) / sizeof(left_out[0]); i++)
		assert_false(mdigest_covers(left_out[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copies_digest_alike_and_other_content_differs),
		cmocka_unit_test(the_body_in_chunks_digests_as_in_one),
		cmocka_unit_test(
		    the_origin_headers_are_covered_and_trace_headers_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_ackpolicy.c - the local plugin's acknowledgement policy as
 * tables: every RFC 3834 and common-practice suppression (senders and
 * headers), the rate-limit key without a subaddress, and the subject of
 * a hostile sender cut, cleaned and encoded.
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

#include "ackpolicy.h"
#include "msg.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A message from @from with the raw header block @headers. */
static const char *
judge(const char *from, const char *headers, char *buf, size_t bufsz)
{
	struct dvp_message m = { .size = sizeof(m), .id = "0000000000000001",
	    .envelope_from = from, .headers = headers };

	return ack_suppressed(&m, buf, bufsz);
}

static void
system_and_null_senders_get_no_acknowledgement(void **state)
{
	static const struct { const char *from, *why; } cases[] = {
		{ "", "not sent: null sender" },
		{ NULL, "not sent: null sender" },
		{ "<>", "not sent: null sender" },
		{ "MAILER-DAEMON@mx.example", "(MAILER-DAEMON)" },
		{ "mailer-daemon+x@mx.example", "(mailer-daemon)" },
		{ "postmaster@example.org", "(postmaster)" },
		{ "Postmaster@example.org", "(Postmaster)" },
		{ "owner-users@lists.example", "(owner-users)" },
		{ "users-request@lists.example", "(users-request)" },
		{ "users-owner@lists.example", "(users-owner)" },
		{ "users-bounces@lists.example", "(users-bounces)" },
		{ "LISTSERV@lists.example", "(LISTSERV)" },
		{ "majordomo@lists.example", "(majordomo)" },
		{ "noreply@shop.example", "(noreply)" },
		{ "no-reply@shop.example", "(no-reply)" },
		{ "donotreply@shop.example", "(donotreply)" },
		{ "do-not-reply@shop.example", "(do-not-reply)" },
		/* People whose names only look alike. */
		{ "owner@example.org", NULL },
		{ "request@example.org", NULL },
		{ "postmasters@example.org", NULL },
		{ "mary-owner-smith@example.org", NULL },
		{ "ann@example.org", NULL },
		{ "ann+owner-x@example.org", NULL },
	};
	char buf[200];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *why = judge(cases[i].from, "Subject: hi\r\n", buf,
		    sizeof(buf));

		if (cases[i].why == NULL ? why != NULL : why == NULL ||
		    strstr(why, cases[i].why) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].from ?
			    cases[i].from : "(null)", why ? why : "(none)",
			    cases[i].why ? cases[i].why : "(none)");
	}
}

static void
list_auto_and_bulk_headers_get_no_acknowledgement(void **state)
{
	static const struct { const char *headers, *why; } cases[] = {
		{ "List-Id: <users.lists.example>\r\n",
		    "not sent: mailing list mail (List-Id)" },
		{ "List-Unsubscribe: <mailto:u@lists.example>\r\n",
		    "not sent: mailing list mail (List-Unsubscribe)" },
		{ "List-Post: <mailto:users@lists.example>\r\n",
		    "not sent: mailing list mail (List-Post)" },
		{ "list-help: <mailto:h@lists.example>\r\n",
		    "not sent: mailing list mail (list-help)" },
		{ "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
		    "not sent: mailing list mail (List-Unsubscribe-Post)" },
		{ "List-Archive: <https://lists.example/>\r\n",
		    "not sent: mailing list mail (List-Archive)" },
		{ "List-Owner: <mailto:o@lists.example>\r\n",
		    "not sent: mailing list mail (List-Owner)" },
		{ "List-Subscribe: <mailto:s@lists.example>\r\n",
		    "not sent: mailing list mail (List-Subscribe)" },
		{ "Precedence: bulk\r\n", "not sent: Precedence bulk" },
		{ "Precedence: LIST\r\n", "not sent: Precedence LIST" },
		{ "Precedence:junk\r\n", "not sent: Precedence junk" },
		{ "Precedence: first-class\r\n", NULL },
		{ "Auto-Submitted: auto-replied\r\n",
		    "not sent: the message is Auto-Submitted" },
		{ "Auto-Submitted: auto-generated\r\n",
		    "not sent: the message is Auto-Submitted" },
		{ "Auto-Submitted: auto-notified; owner-email=x@y\r\n",
		    "not sent: the message is Auto-Submitted" },
		{ "Auto-Submitted: nonsense\r\n",
		    "not sent: the message is Auto-Submitted" },
		{ "Auto-Submitted: no\r\n", NULL },
		{ "Auto-Submitted: No (a person wrote this)\r\n", NULL },
		{ "X-Auto-Response-Suppress: All\r\n",
		    "not sent: X-Auto-Response-Suppress All" },
		{ "X-Auto-Response-Suppress: DR, OOF\r\n",
		    "not sent: X-Auto-Response-Suppress OOF" },
		{ "X-Auto-Response-Suppress: RN,NRN,AutoReply\r\n",
		    "not sent: X-Auto-Response-Suppress AutoReply" },
		{ "X-Auto-Response-Suppress: DR, RN, NRN\r\n", NULL },
		{ "X-Autoreply: yes\r\n",
		    "not sent: the message is an automatic reply (X-Autoreply)" },
		{ "X-Autorespond: Thanks\r\n",
		    "not sent: the message is an automatic reply "
		    "(X-Autorespond)" },
		/* Folded, among others, LF-only. */
		{ "Subject: hi\r\nX-Auto-Response-Suppress: DR,\r\n\tOOF\r\n",
		    "not sent: X-Auto-Response-Suppress OOF" },
		{ "Subject: hi\nPrecedence:\n bulk\n",
		    "not sent: Precedence bulk" },
		/* A name inside a value, or in the body, is not a header. */
		{ "Subject: List-Id: x\r\nX-Note: Precedence: bulk\r\n", NULL },
		{ "Subject: hi\r\n\r\nList-Id: <in the body>\r\n", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};
	char buf[200];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *why = judge("ann@ext.example", cases[i].headers, buf,
		    sizeof(buf));

		if (cases[i].why == NULL ? why != NULL : why == NULL ||
		    strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
			    why ? why : "(none)",
			    cases[i].why ? cases[i].why : "(none)");
	}
}

/* The host's parsed fields count too, with or without the block. */
static void
parsed_fields_suppress_as_the_headers_do(void **state)
{
	struct dvp_message m = { .size = sizeof(m), .id = "1",
	    .envelope_from = "ann@ext.example" };
	char buf[200];

	(void)state;
	m.list_id = "<x.example>";
	assert_string_equal(ack_suppressed(&m, buf, sizeof(buf)),
	    "not sent: mailing list mail (List-Id)");
	m.list_id = NULL;
	m.precedence = "bulk";
	assert_string_equal(ack_suppressed(&m, buf, sizeof(buf)),
	    "not sent: Precedence bulk");
	m.precedence = NULL;
	m.auto_submitted = "auto-replied";
	assert_string_equal(ack_suppressed(&m, buf, sizeof(buf)),
	    "not sent: the message is Auto-Submitted");
	m.auto_submitted = "no";
	assert_null(ack_suppressed(&m, buf, sizeof(buf)));
}

static void
rate_keys_drop_the_subaddress(void **state)
{
	static const struct { const char *in, *key; } cases[] = {
		{ "victim+1@Target.Example", "victim@target.example" },
		{ "victim+2+x@target.example", "victim@target.example" },
		{ "VICTIM@target.example", "victim@target.example" },
		{ "+tag@target.example", "+tag@target.example" },
		{ "a+b@c+d.example", "a@c+d.example" },
		{ "nodomain", NULL },
		{ "@target.example", NULL },
	};
	char key[400];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int rc = ack_rate_key(cases[i].in, key, sizeof(key));

		if (cases[i].key == NULL) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(key, cases[i].key);
	}
	assert_int_equal(ack_rate_key("abcdef@x.example", key, 8), -1);
}

/* The subject's title, decoded again as a mail reader would. */
static char *
title_of(const char *subject)
{
	const char *p = strstr(subject, "] Received: ");
	char *raw, *dec, *tok;

	assert_non_null(p);
	raw = strdup(p + 12);
	assert_non_null(raw);
	if ((tok = strstr(raw, " CRM:")) != NULL)
		*tok = '\0';
	dec = msg_header_decode(raw);
	free(raw);
	assert_non_null(dec);
	return dec;
}

/* Every line of a header value but the first starts with a fold. */
static void
assert_one_header(const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p == 0x7f ||
		    ((unsigned char)*p < 0x20 && *p != '\r' && *p != '\n'))
			fail_msg("control character 0x%02x in %s", *p, v);
		if (*p == '\r' && strncmp(p, "\r\n ", 3) != 0)
			fail_msg("a CR that is not a fold in %s", v);
		if (*p == '\n' && (p == v || p[-1] != '\r'))
			fail_msg("a bare LF in %s", v);
	}
}

static void
the_subject_keeps_a_cut_clean_title(void **state)
{
	static const struct { const char *title, *want; } cases[] = {
		{ "Printer on fire", "Printer on fire" },
		{ "", "(no subject)" },
		{ NULL, "(no subject)" },
		{ " \t\r\n ", "(no subject)" },
		/* Header injection: CR/LF and controls are a space. */
		{ "Hi\r\nBcc: all@example.com\r\n\r\nbody",
		    "Hi Bcc: all@example.com body" },
		{ "a\x01\x1b[31mred\x7f", "a [31mred" },
		/* C1, bidi overrides, line separators. */
		{ "x\xc2\x85y\xe2\x80\xaez\xe2\x80\xa8w\xe2\x81\xa6v",
		    "x y z w v" },
		/* 60 characters kept, "..." says it was cut. */
		{ "0123456789012345678901234567890123456789012345678901234567"
		  "89-and the rest of a very long advertisement",
		  "0123456789012345678901234567890123456789012345678901234567"
		  "89..." },
		/* Characters, not bytes: 61 e-acutes become 60. */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9..." },
		/* An encoded word in the title stays text, not markup. */
		{ "=?UTF-8?B?SGVsbG8=?=", "=?UTF-8?B?SGVsbG8=?=" },
		/* Malformed UTF-8 is "?". */
		{ "bad \xff\xfe byte", "bad ?? byte" },
	};

	(void)state;
	msg_init();
	for (size_t i = 0; i < N(cases); i++) {
		char *s = ack_subject("CAS-01001", cases[i].title,
		    "CRM:1-ABCDEFGH"), *t;

		assert_non_null(s);
		assert_int_equal(strncmp(s, "[CAS-01001] Received: ", 22), 0);
		assert_non_null(strstr(s, " CRM:1-ABCDEFGH"));
		assert_one_header(s);
		t = title_of(s);
		if (strcmp(t, cases[i].want) != 0)
			fail_msg("case %zu: title \"%s\", want \"%s\" (subject "
			    "%s)", i, t, cases[i].want, s);
		free(t);
		free(s);
	}
}

/*
 * A hostile subject as a whole: 10 KB of mixed scripts, controls and a
 * fake encoded word. What goes out is one header of bounded length.
 */
static void
a_hostile_subject_makes_one_short_header(void **state)
{
	char title[10240], *s, *t;
	size_t n = 0;

	(void)state;
	msg_init();
	while (n + 16 < sizeof(title)) {
		memcpy(title + n, "\xd0\x96\r\n=?x?Q?\x1b\xe2\x80\xae", 14);
		n += 14;
	}
	title[n] = '\0';
	s = ack_subject("CAS-01001", title, NULL);
	assert_non_null(s);
	assert_one_header(s);
	assert_true(strlen(s) < 400);
	t = title_of(s);
	assert_true(strlen(t) <= 60 * 4 + 3);
	assert_null(strchr(t, '\r'));
	assert_null(strchr(t, '\n'));
	assert_null(strchr(t, '\x1b'));
	assert_null(strstr(t, "\xe2\x80\xae"));
	assert_non_null(strstr(t, "..."));
	free(t);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    system_and_null_senders_get_no_acknowledgement),
		cmocka_unit_test(
		    list_auto_and_bulk_headers_get_no_acknowledgement),
		cmocka_unit_test(parsed_fields_suppress_as_the_headers_do),
		cmocka_unit_test(rate_keys_drop_the_subaddress),
		cmocka_unit_test(the_subject_keeps_a_cut_clean_title),
		cmocka_unit_test(a_hostile_subject_makes_one_short_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

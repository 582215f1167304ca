/* test_corr.c - correlation: one order, one forged-token rule (a table). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corr.h"
#include "token.h"

static const struct token_key KEY = { "corr-test-key-0123456789abcdef", 30 };

/* The outbox of the table: Message-IDs of entries 1..4, entry 7 by id. */
static const struct { const char *msgid; uint64_t id; } OUTBOX[] = {
	{ "first@crm.example", 1 }, { "second@crm.example", 2 },
	{ "third@crm.example", 3 }, { "self@crm.example", 4 },
};

static int
find(void *arg, const char *msgid, uint64_t *id_r)
{
	int *calls = arg;

	(*calls)++;
	for (size_t i = 0; i < sizeof(OUTBOX) / sizeof(OUTBOX[0]); i++)
		if (strcmp(OUTBOX[i].msgid, msgid) == 0) {
			*id_r = OUTBOX[i].id;
			return 0;
		}
	return -1;
}

static bool
exists(void *arg, uint64_t id)
{
	return (id >= 1 && id <= 4) || id == 7;
}

/* "@T(n)" in a subject stands for the valid token of entry n, "@F(n)"
 * for a forged one (the right number, a wrong tag). */
static void
expand(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	while (*in != '\0' && o + TOKEN_MAX + 1 < outsz) {
		if (in[0] == '@' && (in[1] == 'T' || in[1] == 'F') &&
		    in[2] == '(') {
			char tok[TOKEN_MAX];
			unsigned long n = strtoul(in + 3, NULL, 10);

			assert_int_equal(token_make(&KEY, "CRM:", n, tok,
			    sizeof(tok)), 0);
			if (in[1] == 'F') {
				size_t l = strlen(tok);

				tok[l - 1] = tok[l - 1] == 'A' ? 'B' : 'A';
			}
			o += (size_t)snprintf(out + o, outsz - o, "%s", tok);
			in = strchr(in, ')') + 1;
		} else
			out[o++] = *in++;
	}
	out[o] = '\0';
}

struct row {
	const char *name;
	const char *irt;
	const char *refs[4];
	const char *subject;
	uint64_t self;
	uint64_t want_id;
	enum corr_how want_how;
	bool want_forged;
};

static const struct row ROWS[] = {
	{ "nothing to go on", NULL, { NULL }, "Hello", 0, 0, CORR_NONE, false },
	{ "in-reply-to names a tracked message", "second@crm.example",
	  { NULL }, NULL, 0, 2, CORR_IN_REPLY_TO, false },
	{ "in-reply-to comes before references", "first@crm.example",
	  { "third@crm.example", NULL }, NULL, 0, 1, CORR_IN_REPLY_TO, false },
	{ "references newest first: the nearest tracked ancestor",
	  "unknown@elsewhere", { "first@crm.example", "second@crm.example",
	  "x@elsewhere", NULL }, NULL, 0, 2, CORR_IN_REPLY_TO, false },
	{ "references before the token", NULL,
	  { "third@crm.example", NULL }, "Re: @T(1)", 0, 3, CORR_IN_REPLY_TO,
	  false },
	{ "a message never answers itself", "self@crm.example",
	  { "self@crm.example", "first@crm.example", NULL }, NULL, 4, 1,
	  CORR_IN_REPLY_TO, false },
	{ "a valid token alone", NULL, { NULL }, "Re: help @T(2)", 0, 2,
	  CORR_TOKEN, false },
	{ "a token of an entry that exists but has no Message-ID", NULL,
	  { NULL }, "@T(7)", 0, 7, CORR_TOKEN, false },
	{ "a token of an entry that is gone", NULL, { NULL }, "@T(9)", 0, 0,
	  CORR_NONE, false },
	{ "a forged token correlates with nothing and is reported", NULL,
	  { NULL }, "Hijack @F(1)", 0, 0, CORR_NONE, true },
	{ "a bogus token after a valid one does not hide it", NULL,
	  { NULL }, "Re: @T(3) and @F(1)", 0, 3, CORR_TOKEN, true },
	{ "a forged token before a valid one is passed over", NULL,
	  { NULL }, "@F(2) Re: @T(1)", 0, 1, CORR_TOKEN, true },
	{ "the last valid token wins", NULL, { NULL }, "@T(1) Re: @T(2)", 0,
	  2, CORR_TOKEN, false },
	{ "a forged token is reported even when in-reply-to matched",
	  "first@crm.example", { NULL }, "Re: @F(2)", 0, 1, CORR_IN_REPLY_TO,
	  true },
	{ "a token of the message itself is not a correlation", NULL,
	  { NULL }, "@T(4)", 4, 0, CORR_NONE, false },
};

static void
the_table(void **state)
{
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct row *r = &ROWS[i];
		char subject[512];
		size_t nrefs = 0;
		int calls = 0;
		struct corr_source src = { find, exists, &calls };
		struct corr_result res;
		struct corr_msg m = { .in_reply_to = r->irt,
		    .references = r->refs, .self = r->self };

		while (nrefs < 4 && r->refs[nrefs] != NULL)
			nrefs++;
		m.nreferences = nrefs;
		if (r->subject != NULL) {
			expand(r->subject, subject, sizeof(subject));
			m.subject = subject;
		}
		corr_find(&m, &src, &KEY, "CRM:", &res);
		if (res.id != r->want_id || res.how != r->want_how ||
		    res.forged != r->want_forged)
			fail_msg("%s: got id %llu how %s forged %d", r->name,
			    (unsigned long long)res.id, corr_how_name(res.how),
			    res.forged);
	}
}

static void
without_a_key_tokens_are_not_read(void **state)
{
	char subject[200];
	int calls = 0;
	struct corr_source src = { find, exists, &calls };
	struct corr_result res;
	struct corr_msg m = { 0 };

	expand("Re: @T(2)", subject, sizeof(subject));
	m.subject = subject;
	corr_find(&m, &src, NULL, "CRM:", &res);
	assert_int_equal(res.how, CORR_NONE);
	assert_false(res.forged);
}

static void
lookups_stop_at_the_first_match(void **state)
{
	static const char *refs[] = { "a@x", "b@x", "second@crm.example" };
	int calls = 0;
	struct corr_source src = { find, exists, &calls };
	struct corr_result res;
	struct corr_msg m = { .references = refs, .nreferences = 3 };

	corr_find(&m, &src, &KEY, "CRM:", &res);
	assert_int_equal(res.id, 2);
	assert_int_equal(calls, 1);	/* the newest reference matched */
}

/*
 * A different message that reused the Message-ID of entry 1 (it is
 * entry 9) names that Message-ID in In-Reply-To and References: it does
 * not join entry 1's conversation through its own Message-ID; a real
 * reference after it still counts.
 */
static void
a_reused_message_id_of_its_own_does_not_correlate(void **state)
{
	static const char *self_only[] = { "first@crm.example" };
	static const char *both[] = { "second@crm.example",
	    "first@crm.example" };
	int calls = 0;
	struct corr_source src = { find, exists, &calls };
	struct corr_result res;
	struct corr_msg m = { .in_reply_to = "first@crm.example",
	    .references = self_only, .nreferences = 1, .self = 9,
	    .message_id = "first@crm.example" };

	(void)state;
	corr_find(&m, &src, &KEY, "CRM:", &res);
	assert_int_equal(res.how, CORR_NONE);
	assert_int_equal(calls, 0);
	/* Itself (newest) passed over, then a real reference counts. */
	m.references = both;
	m.nreferences = 2;
	corr_find(&m, &src, &KEY, "CRM:", &res);
	assert_int_equal(res.how, CORR_IN_REPLY_TO);
	assert_int_equal(res.id, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_table),
		cmocka_unit_test(without_a_key_tokens_are_not_read),
		cmocka_unit_test(lookups_stop_at_the_first_match),
		cmocka_unit_test(
		    a_reused_message_id_of_its_own_does_not_correlate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_track.c - the tracking decision without an MTA: a table of
 * transactions and mailboxes against a real LMDB store holding
 * mailboxes, folder rules and a plugin's contact.
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

#include "mbox.h"
#include "known.h"
#include "rules.h"
#include "status.h"
#include "store.h"
#include "store_int.h"
#include "testutil.h"
#include "track.h"

#define S(x)	((char *)(uintptr_t)(x))

static const struct token_key KEY = { "track-test-key-0123456789abcdef", 31 };
static char *const PLUGINS[] = { S("local"), NULL };

struct fixture {
	char *dir;
	struct store *st;
	struct store_txn *t;
	char tok1[TOKEN_MAX];		/* valid token of entry 1 */
	int lookups;			/* Message-ID lookups made */
};

/* The outbox: entry 1 is <tracked@crm.example>; entries 1 and 2 exist. */
static int
find(void *arg, const char *msgid, uint64_t *id_r)
{
	struct fixture *f = arg;

	f->lookups++;
	if (strcmp(msgid, "tracked@crm.example") != 0)
		return -1;
	*id_r = 1;
	return 0;
}

static bool
exists(void *arg, uint64_t id)
{
	return id == 1 || id == 2;
}

static void
put_rules(struct store_txn *t, const char *mailbox, struct rule *v, size_t n)
{
	struct rule_list l = { v, n };
	const char *err;

	assert_int_equal(rules_put(t, mailbox, &l, &err), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rule skip_spam[] = {
		{ .header_name = S("X-Spam-Flag"), .header_value = S("YES"),
		  .action = RULE_SKIP },
		{ .sender = S("acme.com"), .action = RULE_TRACK,
		  .folder = S("Acme"), .regarding_type = S("account"),
		  .regarding_id = S("42") },
		{ .subaddress = S("billing"), .action = RULE_TRACK,
		  .folder = S("Billing") },
	};
	struct rule quiet[] = {
		{ .subject = S("newsletter"), .action = RULE_SKIP },
	};
	struct store_txn *t;
	const char *err;
	struct mbox mb;
	char path[300];

	assert_non_null(f);
	f->dir = scratch_dir();
	snprintf(path, sizeof(path), "%s/db", f->dir);
	assert_int_equal(store_open(path, &(struct store_opts){ .create =
	    true }, &f->st, &err), 0);
	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	mbox_init(&mb, "colleague@example.com", MBOX_USER);
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err), 0);
	put_rules(t, "support@example.com", skip_spam, 3);
	put_rules(t, "all@example.com", quiet, 1);
	/* The local plugin knows the customer (its known-senders index). */
	assert_int_equal(known_txn_put(t, "local", "customer@client.example",
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_int_equal(store_txn_begin(f->st, false, &f->t, &err), 0);
	assert_int_equal(token_make(&KEY, "CRM:", 1, f->tok1,
	    sizeof(f->tok1)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_txn_abort(f->t);
	store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* One row: a message, one mailbox (its filter), the verdict. */
struct row {
	const char *name;
	struct track_msg m;
	const char *mailbox;
	const char *sub;
	int filter;
	bool sender;
	bool want_keep;
	const char *want_reason;
	const char *want_folder;
};

static const char *RCPT[] = { "support@example.com" };

#define MSG(...) { .rcpts = RCPT, .nrcpts = 1, __VA_ARGS__ }

static const char *const AR_FAIL[] = {
	"mx.test; dmarc=fail header.from=client.example" };
static const char *const AR_FAIL_EX[] = {
	"mx.test; dmarc=fail (p=reject) header.from=example.com" };
static const char *const AR_UNTRUSTED[] = {
	"evil.test; dmarc=fail header.from=client.example" };
static const char *const AR_PASS[] = {
	"mx.test; dmarc=pass header.from=client.example" };
static char TRUSTED_ID[] = "mx.test";
static char *const TRUSTED[] = { TRUSTED_ID, NULL };

static const struct row ROWS[] = {
	{ "filter all takes new mail", MSG(.env_from = "x@y.example"),
	  "user@example.com", "", MBOX_FILTER_ALL, false, true, "filter all",
	  NULL },
	{ "filter none takes nothing", MSG(.in_reply_to =
	  "<tracked@crm.example>"), "user@example.com", "", MBOX_FILTER_NONE,
	  false, false, "filter none", NULL },
	{ "responses: In-Reply-To of tracked mail",
	  MSG(.in_reply_to = "<tracked@crm.example>"), "user@example.com", "",
	  MBOX_FILTER_RESPONSES, false, true, "a response to tracked mail",
	  NULL },
	{ "responses: tracked mail in References, oldest of several",
	  MSG(.references = "<tracked@crm.example> (comment) <b@x> <c@x>"),
	  "user@example.com", "", MBOX_FILTER_RESPONSES, false, true,
	  "a response to tracked mail", NULL },
	{ "responses: new mail is not one", MSG(.subject = "Hello"),
	  "user@example.com", "", MBOX_FILTER_RESPONSES, false, false,
	  "not a response to tracked mail", NULL },
	{ "known senders: a colleague with a mailbox",
	  MSG(.env_from = "Colleague@Example.com"), "user@example.com", "",
	  MBOX_FILTER_KNOWN, false, true, "known sender", NULL },
	{ "known senders: a plugin's contact, by From:",
	  MSG(.env_from = "bounce-123@lists.example",
	  .from = "Customer <customer@CLIENT.example>"), "user@example.com",
	  "", MBOX_FILTER_KNOWN, false, true, "known sender", NULL },
	{ "known senders: a stranger", MSG(.env_from = "who@else.example",
	  .from = "who@else.example"), "user@example.com", "",
	  MBOX_FILTER_KNOWN, false, false, "unknown sender", NULL },
	{ "known senders: a contact whose From fails trusted DMARC",
	  MSG(.env_from = "customer@client.example",
	  .from = "customer@client.example", .authres = AR_FAIL,
	  .nauthres = 1), "user@example.com", "", MBOX_FILTER_KNOWN, false,
	  false, "unknown sender: trusted dmarc=fail", NULL },
	{ "known senders: a colleague whose From fails trusted DMARC",
	  MSG(.env_from = "colleague@example.com",
	  .from = "colleague@example.com", .authres = AR_FAIL_EX,
	  .nauthres = 1), "user@example.com", "", MBOX_FILTER_KNOWN, false,
	  false, "unknown sender: trusted dmarc=fail", NULL },
	{ "known senders: a dmarc=fail from an untrusted id is ignored",
	  MSG(.env_from = "customer@client.example",
	  .from = "customer@client.example", .authres = AR_UNTRUSTED,
	  .nauthres = 1), "user@example.com", "", MBOX_FILTER_KNOWN, false,
	  true, "known sender", NULL },
	{ "known senders: a contact whose From passes DMARC",
	  MSG(.env_from = "customer@client.example",
	  .from = "customer@client.example", .authres = AR_PASS,
	  .nauthres = 1), "user@example.com", "", MBOX_FILTER_KNOWN, false,
	  true, "known sender", NULL },
	{ "a rule comes before the filter: skip on filter all",
	  MSG(.headers = "Subject: x\nX-Spam-Flag: YES\n"),
	  "support@example.com", "", MBOX_FILTER_ALL, false, false,
	  "rule 1: do not track", NULL },
	{ "a rule comes before the filter: track on filter none",
	  MSG(.env_from = "bob@acme.com"), "support@example.com", "",
	  MBOX_FILTER_NONE, false, true, "rule 2", "Acme" },
	{ "a rule skips even a response",
	  MSG(.in_reply_to = "<tracked@crm.example>",
	  .subject = "=?UTF-8?Q?Monthly_Newsletter?="), "all@example.com", "",
	  MBOX_FILTER_RESPONSES, false, false, "rule 1: do not track", NULL },
	{ "a subaddress rule", MSG(.env_from = "x@y.example"),
	  "support@example.com", "billing", MBOX_FILTER_NONE, false, true,
	  "rule 3", "Billing" },
	{ "no rule matches: the filter decides",
	  MSG(.env_from = "x@y.example", .headers = "X-Spam-Flag: NO\n"),
	  "support@example.com", "other", MBOX_FILTER_ALL, false, true,
	  "filter all", NULL },
	{ "the sender of outgoing mail: no rules, no filter",
	  MSG(.headers = "X-Spam-Flag: YES\n"), "support@example.com", "",
	  MBOX_FILTER_NONE, true, true, "outgoing", NULL },
};

static void
the_table(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .txn = f->t, .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .subaddress_seps = "+",
	    .plugins = PLUGINS, .trusted_ids = TRUSTED };

	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct row *r = &ROWS[i];
		struct track_facts facts = TRACK_FACTS_INIT;
		struct track_party p = { .filter = (uint8_t)r->filter,
		    .sender = r->sender, .type = MBOX_USER };

		snprintf(p.addr, sizeof(p.addr), "%s", r->mailbox);
		snprintf(p.sub, sizeof(p.sub), "%s", r->sub);
		assert_int_equal(track_decide(&r->m, &env, &p, 1, &facts), 0);
		if (p.keep != r->want_keep ||
		    strcmp(p.reason, r->want_reason) != 0 ||
		    (r->want_folder == NULL) != (p.folder == NULL) ||
		    (p.folder != NULL && strcmp(p.folder, r->want_folder) != 0))
			fail_msg("%s: got keep %d reason \"%s\" folder %s",
			    r->name, p.keep, p.reason,
			    p.folder ? p.folder : "(none)");
		track_party_clear(&p);
	}
}

/* Subjects as they come: a token inside an RFC 2047 encoded word. */
static void
a_token_in_an_encoded_word_makes_a_response(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .txn = f->t, .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .plugins = PLUGINS };
	struct track_party p = { .addr = "user@example.com",
	    .filter = MBOX_FILTER_RESPONSES };
	struct track_facts facts = TRACK_FACTS_INIT;
	char subject[200];
	struct track_msg m = { .subject = subject };

	/* "Re: <token>" in a Q-encoded word, split over two words. */
	snprintf(subject, sizeof(subject), "=?UTF-8?Q?R=C3=A9ponse_?= "
	    "=?UTF-8?Q?%s?=", f->tok1);
	assert_int_equal(track_decide(&m, &env, &p, 1, &facts), 0);
	assert_true(p.keep);
	assert_int_equal(facts.corr.how, CORR_TOKEN);
	assert_int_equal(facts.corr.id, 1);
}

static void
a_forged_token_is_no_response_and_is_reported(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .txn = f->t, .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .plugins = PLUGINS };
	struct track_party p = { .addr = "user@example.com",
	    .filter = MBOX_FILTER_RESPONSES };
	struct track_facts facts = TRACK_FACTS_INIT;
	char subject[200];
	struct track_msg m = { .subject = subject };

	snprintf(subject, sizeof(subject), "Hijack CRM:2-AAAAAAAA");
	assert_int_equal(track_decide(&m, &env, &p, 1, &facts), 0);
	assert_false(p.keep);
	assert_true(facts.corr.forged);
	/* A valid token with a bogus one after it still correlates. */
	snprintf(subject, sizeof(subject), "Re: %s CRM:2-AAAAAAAA", f->tok1);
	facts = (struct track_facts)TRACK_FACTS_INIT;
	assert_int_equal(track_decide(&m, &env, &p, 1, &facts), 0);
	assert_true(p.keep);
	assert_true(facts.corr.forged);
	assert_int_equal(facts.corr.id, 1);
}

static void
correlation_runs_once_for_many_mailboxes(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .txn = f->t, .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .plugins = PLUGINS };
	struct track_party p[3] = {
		{ .addr = "a@example.com", .filter = MBOX_FILTER_RESPONSES },
		{ .addr = "b@example.com", .filter = MBOX_FILTER_RESPONSES },
		{ .addr = "c@example.com", .filter = MBOX_FILTER_ALL },
	};
	struct track_facts facts = TRACK_FACTS_INIT;
	struct track_msg m = { .in_reply_to = "<nope@x>" };

	f->lookups = 0;
	assert_int_equal(track_decide(&m, &env, p, 3, &facts), 0);
	assert_false(p[0].keep);
	assert_false(p[1].keep);
	assert_true(p[2].keep);
	assert_int_equal(f->lookups, 1);
	assert_int_equal(track_correlate(&m, &env, &facts), 0);
	assert_int_equal(f->lookups, 1);
}

static void
without_a_store_rules_and_lookups_decide_nothing(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .txn = NULL, .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .plugins = PLUGINS };
	struct track_party p[3] = {
		{ .addr = "support@example.com", .filter = MBOX_FILTER_ALL },
		{ .addr = "r@example.com", .filter = MBOX_FILTER_RESPONSES },
		{ .addr = "k@example.com", .filter = MBOX_FILTER_KNOWN },
	};
	struct track_facts facts = TRACK_FACTS_INIT;
	struct track_msg m = { .in_reply_to = "<tracked@crm.example>",
	    .env_from = "colleague@example.com",
	    .headers = "X-Spam-Flag: YES\n" };

	assert_int_equal(track_decide(&m, &env, p, 3, &facts), 0);
	assert_true(p[0].keep);		/* the spam rule was not read */
	assert_false(p[1].keep);
	assert_false(p[2].keep);
}

/*
 * Rules that cannot be read are an error the caller tempfails on, never
 * "no rules": a "do not track" rule must not be skipped.
 */
static void
unreadable_rules_fail_the_decision(void **state)
{
	struct fixture *f = *state;
	struct corr_source src = { find, exists, f };
	struct track_env env = { .outbox = &src, .key = &KEY,
	    .token_prefix = "CRM:", .plugins = PLUGINS };
	struct track_party p[2] = {
		{ .addr = "broken@example.com", .filter = MBOX_FILTER_ALL },
		{ .addr = "user@example.com", .filter = MBOX_FILTER_ALL },
	};
	struct track_facts facts = TRACK_FACTS_INIT;
	struct track_msg m = { .env_from = "x@y.example" };
	struct store_txn *t;
	const char *err;
	MDB_val k = { strlen("broken@example.com"),
	    (void *)(uintptr_t)"broken@example.com" };
	MDB_val v = { 5, (void *)(uintptr_t)"{[}!x" };

	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	assert_int_equal(mdb_put(t->txn, t->store->rule, &k, &v, 0), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_int_equal(store_txn_begin(f->st, false, &env.txn, &err), 0);
	assert_int_not_equal(track_decide(&m, &env, p, 2, &facts), 0);
	assert_false(p[0].keep);
	assert_false(p[1].keep);
	assert_non_null(facts.error);
	assert_non_null(strstr(facts.error, "broken@example.com"));
	store_txn_abort(env.txn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_table),
		cmocka_unit_test(a_token_in_an_encoded_word_makes_a_response),
		cmocka_unit_test(a_forged_token_is_no_response_and_is_reported),
		cmocka_unit_test(correlation_runs_once_for_many_mailboxes),
		cmocka_unit_test(
		    without_a_store_rules_and_lookups_decide_nothing),
		cmocka_unit_test(unreadable_rules_fail_the_decision),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_policy.c - RCPT and MAIL decisions against a real LMDB store. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "policy.h"
#include "status.h"
#include "testutil.h"

struct fixture {
	char *dir;
	struct store *st;
	struct store_reader *r;
};

struct seed {
	const char *addr;
	int type, approval, in, out;
	bool enabled;
};

static const struct seed seeds[] = {
	{ "alice@example.com", MBOX_USER, MBOX_APPROVAL_APPROVED,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, true },
	{ "support@example.com", MBOX_QUEUE, MBOX_APPROVAL_PENDING,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, true },
	{ "sales@example.com", MBOX_QUEUE, MBOX_APPROVAL_REJECTED,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, true },
	{ "outlook@example.com", MBOX_USER, MBOX_APPROVAL_PENDING,
	    MBOX_METHOD_NONE, MBOX_METHOD_OUTLOOK, true },
	{ "off@example.com", MBOX_USER, MBOX_APPROVAL_PENDING,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, false },
	{ "carol@xn--bcher-kva.example", MBOX_USER, MBOX_APPROVAL_PENDING,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, true },
	{ "empty@example.com", MBOX_USER, MBOX_APPROVAL_EMPTY,
	    MBOX_METHOD_SSS, MBOX_METHOD_SSS, true },
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o = { .mapsize = 16 << 20, .create = true };
	struct store_txn *t;
	char path[300];
	const char *err;

	if (f == NULL || (f->dir = scratch_dir()) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/db", f->dir);
	if (store_open(path, &o, &f->st, &err) != 0 ||
	    store_txn_begin(f->st, true, &t, &err) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct mbox mb;

		mbox_init(&mb, seeds[i].addr, seeds[i].type);
		mb.pol.approval = (uint8_t)seeds[i].approval;
		mb.pol.method[MBOX_DIR_INCOMING] = (uint8_t)seeds[i].in;
		mb.pol.method[MBOX_DIR_OUTGOING] = (uint8_t)seeds[i].out;
		mb.pol.enabled = seeds[i].enabled;
		if (store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err) != 0)
			return -1;
	}
	if (store_txn_commit(t, &err) != 0 ||
	    store_reader_open(f->st, &f->r, &err) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_reader_close(f->r);
	store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static struct conf *
conf_of(const char *text)
{
	struct conf *c;
	const char *err;

	if (conf_parse_string("t.conf", text, &c, &err) != 0)
		fail_msg("%s", err);
	return c;
}

struct rcpt_case {
	const char *name;
	const char *rcpt;
	enum verdict verdict;
	const char *reason;
	const char *reply;	/* "code xcode text" or NULL */
};

static const struct rcpt_case rcpt_default[] = {
	{ "rcpt_approved_mailbox_continues", "<alice@example.com>",
	    VERDICT_CONTINUE, "approved", NULL },
	{ "rcpt_pending_mailbox_rejected_550", "<support@example.com>",
	    VERDICT_REJECT, "approval-pending",
	    "550 5.7.1 <support@example.com>: mailbox is not approved" },
	{ "rcpt_rejected_mailbox_rejected_550", "<Sales@Example.com>",
	    VERDICT_REJECT, "approval-rejected",
	    "550 5.7.1 <Sales@Example.com>: mailbox is not approved" },
	{ "rcpt_empty_approval_counts_as_unapproved", "<empty@example.com>",
	    VERDICT_REJECT, "approval-empty", NULL },
	{ "rcpt_subaddress_uses_base_mailbox", "<support+acme@example.com>",
	    VERDICT_REJECT, "approval-pending", NULL },
	{ "rcpt_idn_ulabel_finds_alabel_mailbox", "<carol@BÜCHER.example>",
	    VERDICT_REJECT, "approval-pending", NULL },
	{ "rcpt_unknown_address_continues", "<nobody@example.com>",
	    VERDICT_CONTINUE, "no-mailbox", NULL },
	{ "rcpt_incoming_none_not_enforced", "<outlook@example.com>",
	    VERDICT_CONTINUE, "incoming-none", NULL },
	{ "rcpt_disabled_mailbox_not_enforced", "<off@example.com>",
	    VERDICT_CONTINUE, "disabled", NULL },
	{ "rcpt_malformed_rejected_553", "<bad@@example.com>",
	    VERDICT_REJECT, "malformed-address",
	    "553 5.1.3 <bad@@example.com>: malformed address" },
	{ "rcpt_null_address_is_malformed", "<>", VERDICT_REJECT,
	    "malformed-address", NULL },
};

static void
check_rcpt(const struct conf *c, struct store_reader *r,
    const struct rcpt_case *k)
{
	struct decision d;
	char reply[700];

	policy_rcpt(c, r, k->rcpt, 1, &d);
	if (d.verdict != k->verdict || strcmp(d.reason, k->reason) != 0)
		fail_msg("%s: got %s/%s, want %s/%s", k->name,
		    policy_verdict_name(d.verdict), d.reason,
		    policy_verdict_name(k->verdict), k->reason);
	if (k->reply != NULL) {
		snprintf(reply, sizeof(reply), "%s %s %s", d.code, d.xcode,
		    d.text);
		if (strcmp(reply, k->reply) != 0)
			fail_msg("%s: reply \"%s\", want \"%s\"", k->name, reply,
			    k->reply);
	}
}

static void
rcpt_decisions_with_defaults(void **state)
{
	struct fixture *f = *state;
	struct conf *c = conf_of("");

	for (size_t i = 0; i < sizeof(rcpt_default) / sizeof(rcpt_default[0]);
	    i++)
		check_rcpt(c, f->r, &rcpt_default[i]);
	conf_unref(c);
}

static void
rcpt_policies_configurable(void **state)
{
	static const struct rcpt_case cases[] = {
		{ "rcpt_unapproved_tempfail_policy", "<support@example.com>",
		    VERDICT_TEMPFAIL, "approval-pending",
		    "451 4.7.1 support@example.com awaits approval" },
		{ "rcpt_unknown_in_listed_domain_rejected",
		    "<ghost@example.com>", VERDICT_REJECT, "unknown-mailbox",
		    "550 5.1.1 <ghost@example.com>: no such mailbox" },
		{ "rcpt_unknown_in_other_domain_continues",
		    "<ghost@elsewhere.example>", VERDICT_CONTINUE, "no-mailbox",
		    NULL },
		{ "rcpt_malformed_accept_policy", "<bad@@x>", VERDICT_CONTINUE,
		    "malformed-address", NULL },
		{ "rcpt_subaddress_off_makes_plus_unknown",
		    "<support+acme@example.com>", VERDICT_REJECT,
		    "unknown-mailbox", NULL },
	};
	struct fixture *f = *state;
	struct conf *c = conf_of(
	    "UnapprovedRecipientAction tempfail\n"
	    "UnapprovedRecipientReply 451 4.7.1 %a awaits approval\n"
	    "UnknownRecipientAction reject\n"
	    "UnknownRecipientDomains example.com\n"
	    "MalformedAddressAction accept\n"
	    "SubaddressSeparator none\n");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_rcpt(c, f->r, &cases[i]);
	conf_unref(c);

	c = conf_of("UnapprovedRecipientAction accept\n");
	{
		const struct rcpt_case k = { "rcpt_unapproved_accept_policy",
		    "<support@example.com>", VERDICT_CONTINUE,
		    "approval-pending", NULL };
		check_rcpt(c, f->r, &k);
	}
	conf_unref(c);
}

static void
rcpt_beyond_limit_tempfailed_452(void **state)
{
	struct fixture *f = *state;
	struct conf *c = conf_of("MaxRecipients 3\n");
	struct decision d;

	policy_rcpt(c, f->r, "<alice@example.com>", 3, &d);
	assert_int_equal(d.verdict, VERDICT_CONTINUE);
	policy_rcpt(c, f->r, "<alice@example.com>", 4, &d);
	assert_int_equal(d.verdict, VERDICT_TEMPFAIL);
	assert_string_equal(d.code, "452");
	assert_string_equal(d.xcode, "4.5.3");
	conf_unref(c);
}

static void
rcpt_overlong_address_rejected_not_crashed(void **state)
{
	struct fixture *f = *state;
	struct conf *c = conf_of("");
	struct decision d;
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1000] = '@';
	policy_rcpt(c, f->r, big, 1, &d);
	assert_int_equal(d.verdict, VERDICT_REJECT);
	assert_string_equal(d.reason, "malformed-address");
	assert_true(strlen(d.text) <= DV_REPLY_TEXT_MAX);
	conf_unref(c);
}

static int corrupt_record(const char *dir, const char *key);

static void
rcpt_store_error_tempfails_451(void **state)
{
	struct fixture *f = *state;
	struct conf *c = conf_of("");
	struct store_txn *t;
	struct decision d;
	const char *err;
	struct mbox mb;

	assert_int_equal(store_txn_begin(f->st, true, &t, &err), 0);
	mbox_init(&mb, "broken@example.com", MBOX_USER);
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	/* Damage it behind the store's back, as a disk or a bug might. */
	assert_int_equal(corrupt_record(f->dir, "broken@example.com"), 0);
	policy_rcpt(c, f->r, "<broken@example.com>", 1, &d);
	assert_int_equal(d.verdict, VERDICT_TEMPFAIL);
	assert_string_equal(d.reason, "store-error");
	assert_string_equal(d.code, "451");
	assert_string_equal(d.xcode, "4.3.0");
	assert_non_null(d.detail);
	conf_unref(c);
}

/*
 * Overwrite one mailbox record with bytes that do not decode. Done in a
 * child process with its own raw LMDB environment: one process must not
 * open the same environment twice.
 */
static int
corrupt_record(const char *dir, const char *key)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		static char junk[] = "\1\2\3";
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k = { strlen(key), (void *)key }, v = { 3, junk };
		char path[300];

		snprintf(path, sizeof(path), "%s/db", dir);
		if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 32) ||
		    mdb_env_set_mapsize(env, 16 << 20) ||
		    mdb_env_open(env, path, MDB_NOTLS, 0600) ||
		    mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, "mailbox", 0, &dbi) ||
		    mdb_put(txn, dbi, &k, &v, 0) || mdb_txn_commit(txn))
			_exit(1);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

struct from_case {
	const char *name;
	const char *from;
	bool outbound;
	enum verdict verdict;
	const char *reason;
};

static void
sender_decisions(void **state)
{
	static const struct from_case cases[] = {
		{ "from_inbound_never_looked_up", "<support@example.com>", false,
		    VERDICT_CONTINUE, "inbound" },
		{ "from_unapproved_sss_sender_rejected", "<support@example.com>",
		    true, VERDICT_REJECT, "approval-pending" },
		{ "from_rejected_sss_sender_rejected", "<sales@example.com>",
		    true, VERDICT_REJECT, "approval-rejected" },
		{ "from_approved_sender_continues", "<alice@example.com>", true,
		    VERDICT_CONTINUE, "approved" },
		{ "from_outlook_sender_not_enforced", "<outlook@example.com>",
		    true, VERDICT_CONTINUE, "outgoing-not-synced" },
		{ "from_disabled_sender_not_enforced", "<off@example.com>", true,
		    VERDICT_CONTINUE, "disabled" },
		{ "from_unknown_sender_continues", "<x@example.com>", true,
		    VERDICT_CONTINUE, "no-mailbox" },
		{ "from_null_sender_continues", "<>", true, VERDICT_CONTINUE,
		    "null-sender" },
		{ "from_unparsable_sender_continues", "<a b@c>", true,
		    VERDICT_CONTINUE, "unparsable-sender" },
	};
	struct fixture *f = *state;
	struct conf *c = conf_of("");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decision d;

		policy_sender(c, f->r, cases[i].from, cases[i].outbound, &d);
		if (d.verdict != cases[i].verdict ||
		    strcmp(d.reason, cases[i].reason) != 0)
			fail_msg("%s: got %s/%s", cases[i].name,
			    policy_verdict_name(d.verdict), d.reason);
	}
	{
		struct decision d;

		policy_sender(c, f->r, "<support@example.com>", true, &d);
		assert_string_equal(d.code, "550");
		assert_string_equal(d.text, "<support@example.com>: sender "
		    "mailbox is not approved for outgoing mail");
	}
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rcpt_decisions_with_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(rcpt_policies_configurable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(rcpt_beyond_limit_tempfailed_452,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    rcpt_overlong_address_rejected_not_crashed, setup, teardown),
		cmocka_unit_test_setup_teardown(rcpt_store_error_tempfails_451,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(sender_decisions, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

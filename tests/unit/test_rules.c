/* test_rules.c - folder-tracking rules: checks, matching, the record. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "rules.h"
#include "status.h"
#include "store.h"
#include "testutil.h"

/* The rule strings are never written to. */
#define S(x)	((char *)(uintptr_t)(x))

static const char *
hdr(void *arg, const char *name)
{
	const char *const *kv = arg;

	for (; kv[0] != NULL; kv += 2)
		if (strcasecmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static const char *headers[] = { "X-Customer", "ACME Corp", "Subject",
    "Invoice 42 overdue", NULL, NULL };
static const char *rcpts[] = { "support+acme@example.com",
    "alice@example.com" };

static struct rule_input
input(void)
{
	struct rule_input in = {
		.subaddress = S("acme"), .sender = S("bob@mail.acme.com"),
		.from = "Bob@Acme.COM", .rcpts = rcpts, .nrcpts = 2,
		.subject = S("Invoice 42 overdue"), .header = hdr,
		.header_arg = headers,
	};
	return in;
}

static int
match_one(struct rule r)
{
	struct rule_list l = { &r, 1 };
	struct rule_input in = input();
	const char *err;

	if (r.action == RULE_TRACK && r.folder == NULL)
		r.folder = S("F");
	assert_int_equal(rule_check(&r, &err), 0);
	return rules_match(&l, &in);
}

static void
each_condition_matches_and_misses(void **state)
{
	(void)state;
	assert_int_equal(match_one((struct rule){ .subaddress = S("ACME") }), 0);
	assert_int_equal(match_one((struct rule){ .subaddress = S("beta") }), -1);
	/* Sender: a domain glob, against the envelope or the From: domain. */
	assert_int_equal(match_one((struct rule){ .sender = S("*.acme.com") }), 0);
	assert_int_equal(match_one((struct rule){ .sender = S("acme.com") }), 0);
	assert_int_equal(match_one((struct rule){ .sender = S("evil.com") }), -1);
	assert_int_equal(match_one((struct rule){ .sender = S("bob@*") }), 0);
	assert_int_equal(match_one((struct rule){ .sender = S("carol@*") }), -1);
	assert_int_equal(match_one((struct rule){
	    .recipient = S("alice@*") }), 0);
	assert_int_equal(match_one((struct rule){
	    .recipient = S("sales@*") }), -1);
	assert_int_equal(match_one((struct rule){ .header_name = S("x-customer"),
	    .header_value = S("acme*") }), 0);
	assert_int_equal(match_one((struct rule){ .header_name = S("X-Customer"),
	    .header_value = S("Beta*") }), -1);
	assert_int_equal(match_one((struct rule){ .header_name = S("X-Missing"),
	    .header_value = S("*") }), -1);
	assert_int_equal(match_one((struct rule){ .subject = S("INVOICE") }), 0);
	assert_int_equal(match_one((struct rule){ .subject = S("refund") }), -1);
}

static void
all_conditions_must_hold(void **state)
{
	(void)state;
	assert_int_equal(match_one((struct rule){ .subaddress = S("acme"),
	    .subject = S("invoice") }), 0);
	assert_int_equal(match_one((struct rule){ .subaddress = S("acme"),
	    .subject = S("refund") }), -1);
}

static void
first_match_wins(void **state)
{
	struct rule v[3] = {
		{ .subject = S("refund"), .folder = S("Refunds") },
		{ .sender = S("acme.com"), .action = RULE_SKIP },
		{ .subaddress = S("acme"), .folder = S("ACME") },
	};
	struct rule_list l = { v, 3 };
	struct rule_input in = input();

	(void)state;
	assert_int_equal(rules_match(&l, &in), 1);
	in.sender = S("x@other.org");
	in.from = NULL;
	assert_int_equal(rules_match(&l, &in), 2);
	in.subaddress = NULL;
	assert_int_equal(rules_match(&l, &in), -1);
}

static void
bad_rules_are_refused(void **state)
{
	const char *err;
	struct rule r;

	(void)state;
	r = (struct rule){ .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	assert_non_null(strstr(err, "at least one condition"));
	r = (struct rule){ .subject = S("x") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	assert_non_null(strstr(err, "needs a folder"));
	r = (struct rule){ .subject = S("x"), .action = RULE_SKIP, .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	r = (struct rule){ .subject = S("x"), .folder = S("F"),
	    .regarding_type = S("account") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	r = (struct rule){ .header_name = S("X-A"), .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	r = (struct rule){ .subject = S("a\nb"), .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	r = (struct rule){ .subject = S("\xff"), .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
	r = (struct rule){ .subject = S(""), .folder = S("F") };
	assert_int_equal(rule_check(&r, &err), DV_EINVAL);
}

static int
count_cb(void *arg, const char *mailbox, const struct rule_list *l)
{
	(void)mailbox;
	*(size_t *)arg += l->n;
	return 0;
}

static void
the_record_round_trips_in_lmdb(void **state)
{
	char *dir = scratch_dir();
	struct store *st;
	struct store_txn *t;
	const char *err;
	struct rule v[2] = {
		{ .subaddress = S("acme"), .folder = S("ACME"),
		  .regarding_type = S("account"), .regarding_id = S("ACME") },
		{ .header_name = S("List-Id"), .header_value = S("*"),
		  .action = RULE_SKIP },
	};
	struct rule_list l = { v, 2 }, back;
	size_t total = 0;

	(void)state;
	assert_int_equal(store_open(dir, NULL, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(rules_put(t, "support@example.com", &l, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);

	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(rules_get(t, "support@example.com", &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[0].folder, "ACME");
	assert_string_equal(back.v[0].regarding_id, "ACME");
	assert_int_equal(back.v[1].action, RULE_SKIP);
	assert_null(back.v[1].folder);
	rules_free(&back);
	assert_int_equal(rules_get(t, "none@example.com", &back, &err), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(rules_foreach(t, count_cb, &total, &err), 0);
	assert_int_equal(total, 2);
	store_txn_abort(t);

	/* An empty list deletes the record. */
	l.n = 0;
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(rules_put(t, "support@example.com", &l, &err), 0);
	assert_int_equal(rules_get(t, "support@example.com", &back, &err), 0);
	assert_int_equal(back.n, 0);
	store_txn_abort(t);
	store_close(st);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_condition_matches_and_misses),
		cmocka_unit_test(all_conditions_must_hold),
		cmocka_unit_test(first_match_wins),
		cmocka_unit_test(bad_rules_are_refused),
		cmocka_unit_test(the_record_round_trips_in_lmdb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

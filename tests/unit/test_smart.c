/* test_smart.c - smart matching: subject normalisation, keys, index. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "smart.h"
#include "status.h"
#include "store.h"
#include "testutil.h"

static void
norm_is(const char *in, const char *want)
{
	char out[256];

	smart_normalize(in, "CRM:", out, sizeof(out));
	assert_string_equal(out, want);
}

static void
subjects_are_normalised(void **state)
{
	(void)state;
	norm_is("Printer on fire", "printer on fire");
	norm_is("RE: Printer on fire", "printer on fire");
	norm_is("Re: FW: AW:  Printer   on\tfire ", "printer on fire");
	norm_is("RE : Printer on fire", "printer on fire");
	norm_is("Printer on fire CRM:1042-K7Q2M9TX", "printer on fire");
	norm_is("Re: CRM:7-ABCDEFGH Printer on fire", "printer on fire");
	/* Not a token: kept. */
	norm_is("Printer CRM:on fire", "printer crm:on fire");
	norm_is("Re:", "");
	norm_is("", "");
	norm_is("a b c d e f g h i j k l m n o p q r s t u v w",
	    "a b c d e f g h i j k l m n o p q r s t");
}

static struct msg *
parse(const char *raw)
{
	struct msg *m;
	const char *err;

	assert_int_equal(msg_parse(raw, strlen(raw), NULL, &m, &err), 0);
	return m;
}

static void
the_index_matches_subject_and_two_participants(void **state)
{
	char *dir = scratch_dir();
	struct store *st;
	struct store_txn *t;
	struct smart_key a, b, c, e;
	struct msg *ma, *mb, *mc, *me;
	const char *err;
	uint64_t id = 0;

	(void)state;
	ma = parse("From: Ann <ann@ext.example>\r\nTo: support@example.com\r\n"
	    "Subject: Broken widget\r\n\r\nhi\r\n");
	mb = parse("From: ANN@ext.example\r\nTo: Support <support@example.com>"
	    "\r\nCc: x@y.example\r\nSubject: RE: broken  widget\r\n\r\nhi\r\n");
	mc = parse("From: mallory@evil.example\r\nTo: support@example.com\r\n"
	    "Subject: Re: Broken widget\r\n\r\nhi\r\n");
	me = parse("From: ann@ext.example\r\nTo: support@example.com\r\n"
	    "Subject: Re:\r\n\r\nhi\r\n");
	smart_key_of(ma, "CRM:", &a);
	smart_key_of(mb, "CRM:", &b);
	smart_key_of(mc, "CRM:", &c);
	smart_key_of(me, "CRM:", &e);
	assert_int_equal(a.subject, b.subject);
	assert_int_equal(a.nparts, 2);
	assert_int_equal(b.nparts, 3);
	assert_int_equal(e.subject, 0);

	assert_int_equal(store_open(dir, NULL, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(smart_index(t, 5, &a, &err), 0);
	assert_int_equal(smart_index(t, 5, &a, &err), 0);	/* again */
	assert_int_equal(smart_index(t, 9, &e, &err), 0);	/* not kept */
	assert_int_equal(smart_find(t, &b, 6, &id, &err), 0);
	assert_int_equal(id, 5);
	/* One shared participant is not enough. */
	assert_int_equal(smart_find(t, &c, 7, &id, &err), DV_ENOTFOUND);
	/* Never itself. */
	assert_int_equal(smart_find(t, &a, 5, &id, &err), DV_ENOTFOUND);
	/* The newest match wins. */
	assert_int_equal(smart_index(t, 8, &b, &err), 0);
	assert_int_equal(smart_find(t, &a, 10, &id, &err), 0);
	assert_int_equal(id, 8);
	assert_int_equal(smart_forget(t, 8, &err), 0);
	assert_int_equal(smart_find(t, &a, 10, &id, &err), 0);
	assert_int_equal(id, 5);
	assert_int_equal(smart_forget(t, 5, &err), 0);
	assert_int_equal(smart_find(t, &b, 10, &id, &err), DV_ENOTFOUND);
	store_txn_abort(t);
	store_close(st);
	msg_free(ma);
	msg_free(mb);
	msg_free(mc);
	msg_free(me);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subjects_are_normalised),
		cmocka_unit_test(the_index_matches_subject_and_two_participants),
	};

	msg_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

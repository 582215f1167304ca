/* test_mbox.c - record defaults, names and the versioned encoding. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "caps.h"
#include "mbox.h"
#include "status.h"

static void
new_mailbox_defaults_match_dataverse(void **state)
{
	struct mbox mb;

	mbox_init(&mb, "a@example.com", MBOX_QUEUE);
	assert_int_equal(mb.pol.approval, MBOX_APPROVAL_PENDING);
	assert_int_equal(mb.pol.approval, 2);	/* emailrouteraccessapproval */
	assert_int_equal(mb.pol.method[MBOX_DIR_INCOMING], 2);	/* SSS */
	assert_int_equal(mb.pol.method[MBOX_DIR_OUTGOING], 2);
	assert_true(mb.pol.enabled);
	assert_int_equal(mb.pol.type, MBOX_QUEUE);
	for (int d = 0; d < MBOX_DIR_COUNT; d++)
		assert_int_equal(mb.test[d].status, MBOX_TEST_NOT_RUN);
}

static void
act_method_maps_to_its_own_numbering(void **state)
{
	assert_int_equal(mbox_method_to_dataverse(MBOX_DIR_ACT,
	    MBOX_METHOD_OUTLOOK), 0);
	assert_int_equal(mbox_method_to_dataverse(MBOX_DIR_ACT,
	    MBOX_METHOD_SSS), 1);
	assert_int_equal(mbox_method_to_dataverse(MBOX_DIR_ACT,
	    MBOX_METHOD_NONE), 2);
	assert_int_equal(mbox_method_to_dataverse(MBOX_DIR_INCOMING,
	    MBOX_METHOD_SSS), 2);
	assert_int_equal(mbox_method_to_dataverse(MBOX_DIR_OUTGOING,
	    MBOX_METHOD_NONE), 0);
}

static void
names_round_trip(void **state)
{
	for (int v = 0; v <= 2; v++) {
		assert_int_equal(mbox_method_parse(mbox_method_name(v)), v);
		assert_int_equal(mbox_test_parse(mbox_test_name(v)), v);
	}
	for (int v = 0; v <= 3; v++)
		assert_int_equal(mbox_approval_parse(mbox_approval_name(v)), v);
	for (int v = 0; v <= 4; v++)
		assert_int_equal(profile_server_parse(profile_server_name(v)), v);
	assert_int_equal(mbox_method_parse("Server-Side-Sync"), MBOX_METHOD_SSS);
	assert_int_equal(mbox_method_parse("exchange"), -1);
	assert_int_equal(mbox_approval_parse("maybe"), -1);
	assert_int_equal(profile_auth_parse("oauth"), PROFILE_AUTH_OAUTH);
	assert_int_equal(profile_auth_parse("oauth"), 4);
	assert_string_equal(mbox_type_name(MBOX_QUEUE), "queue");
}

static void
mailbox_round_trip(void **state)
{
	struct mbox a, b;
	unsigned char buf[DV_RECORD_MAX];
	size_t len;

	mbox_init(&a, "support@example.com", MBOX_QUEUE);
	snprintf(a.owner, sizeof(a.owner), "Support Team ü");
	snprintf(a.profile, sizeof(a.profile), "Exchange Online");
	a.pol.approval = MBOX_APPROVAL_REJECTED;
	a.pol.method[MBOX_DIR_ACT] = MBOX_METHOD_OUTLOOK;
	a.pol.enabled = false;
	a.pol.filter = MBOX_FILTER_NONE;
	a.test[MBOX_DIR_OUTGOING].status = MBOX_TEST_FAILURE;
	a.test[MBOX_DIR_OUTGOING].when = 1795000000;
	snprintf(a.test[MBOX_DIR_OUTGOING].message,
	    sizeof(a.test[0].message), "auth failed");
	assert_int_equal(mbox_encode(&a, buf, sizeof(buf), &len), 0);
	assert_int_equal(mbox_decode(buf, len, a.address, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void
policy_decoder_reads_only_fixed_header(void **state)
{
	struct mbox a;
	struct mbox_policy p;
	unsigned char buf[DV_RECORD_MAX];
	size_t len;

	mbox_init(&a, "x@y", MBOX_USER);
	a.pol.approval = MBOX_APPROVAL_APPROVED;
	assert_int_equal(mbox_encode(&a, buf, sizeof(buf), &len), 0);
	assert_int_equal(mbox_decode_policy(buf, 16, &p), 0);
	assert_int_equal(p.approval, MBOX_APPROVAL_APPROVED);
	assert_true(p.enabled);
}

static void
filter_defaults_by_type_and_old_records_read_as_default(void **state)
{
	struct mbox_policy q = { .type = MBOX_QUEUE }, u = { .type = MBOX_USER };
	unsigned char rec[16] = { 1, 16, MBOX_USER, 2, 2, 0, 1, 1 };
	struct mbox_policy p;

	assert_int_equal(mbox_filter_effective(&q), MBOX_FILTER_ALL);
	assert_int_equal(mbox_filter_effective(&u), MBOX_FILTER_RESPONSES);
	u.filter = MBOX_FILTER_NONE;
	assert_int_equal(mbox_filter_effective(&u), MBOX_FILTER_NONE);
	/* A record written before filters existed (byte 8 zero). */
	assert_int_equal(mbox_decode_policy(rec, sizeof(rec), &p), 0);
	assert_int_equal(p.filter, MBOX_FILTER_DEFAULT);
	rec[8] = 4;			/* not a filter value */
	assert_int_equal(mbox_decode_policy(rec, sizeof(rec), &p), DV_ECORRUPT);
	assert_int_equal(mbox_filter_parse("known-senders"), MBOX_FILTER_KNOWN);
	assert_int_equal(mbox_filter_parse("some"), -1);
}

static void
newer_writer_fields_are_skipped(void **state)
{
	/* A v2 writer: fixed header grown to 20 bytes, an unknown tag 99. */
	unsigned char rec[64] = {
		2, 20, MBOX_QUEUE, 2, 1, 0, MBOX_APPROVAL_APPROVED, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd,
		99, 3, 0, 'n', 'e', 'w',
		1, 5, 0, 'O', 'w', 'n', 'e', 'r',
	};
	struct mbox mb;

	assert_int_equal(mbox_decode(rec, 34, "q@x", &mb), 0);
	assert_int_equal(mb.pol.type, MBOX_QUEUE);
	assert_int_equal(mb.pol.method[MBOX_DIR_OUTGOING], MBOX_METHOD_OUTLOOK);
	assert_int_equal(mb.pol.approval, MBOX_APPROVAL_APPROVED);
	assert_string_equal(mb.owner, "Owner");
}

static void
corrupt_records_rejected(void **state)
{
	struct mbox mb;
	struct mbox_policy p;
	unsigned char ok[DV_RECORD_MAX];
	size_t len;
	unsigned char c[64];

	mbox_init(&mb, "x@y", MBOX_USER);
	snprintf(mb.owner, sizeof(mb.owner), "Owner");
	assert_int_equal(mbox_encode(&mb, ok, sizeof(ok), &len), 0);

	assert_int_equal(mbox_decode_policy(ok, 4, &p), DV_ECORRUPT);
	memcpy(c, ok, len);
	c[0] = 0;				/* version 0 */
	assert_int_equal(mbox_decode(c, len, "x@y", &mb), DV_ECORRUPT);
	memcpy(c, ok, len);
	c[1] = 200;				/* header past the end */
	assert_int_equal(mbox_decode(c, len, "x@y", &mb), DV_ECORRUPT);
	memcpy(c, ok, len);
	c[6] = 9;				/* approval out of range */
	assert_int_equal(mbox_decode(c, len, "x@y", &mb), DV_ECORRUPT);
	memcpy(c, ok, len);
	c[17] = 200;				/* tag length past the end */
	assert_int_equal(mbox_decode(c, len, "x@y", &mb), DV_ECORRUPT);
	assert_int_equal(mbox_decode(ok, len - 1, "x@y", &mb), DV_ECORRUPT);
}

static void
encode_into_small_buffer_fails_cleanly(void **state)
{
	struct mbox mb;
	unsigned char buf[20];
	size_t len;

	mbox_init(&mb, "x@y", MBOX_USER);
	snprintf(mb.owner, sizeof(mb.owner), "A rather long owner name");
	assert_int_equal(mbox_encode(&mb, buf, sizeof(buf), &len), DV_ETOOBIG);
}

static void
profile_round_trip(void **state)
{
	struct profile a, b;
	unsigned char buf[DV_RECORD_MAX];
	size_t len;

	profile_init(&a, "Exchange Online");
	a.server_type = PROFILE_EXCHANGE_ONLINE_HYBRID;
	a.tls = PROFILE_TLS_IMPLICIT;
	a.auth = PROFILE_AUTH_OAUTH;
	snprintf(a.smtp_url, sizeof(a.smtp_url), "smtps://smtp.example:465");
	snprintf(a.username, sizeof(a.username), "crm@example.com");
	snprintf(a.secret_file, sizeof(a.secret_file), "/etc/dvmilter/secret");
	assert_int_equal(profile_encode(&a, buf, sizeof(buf), &len), 0);
	assert_int_equal(profile_decode(buf, len, a.name, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	buf[4] = 77;				/* unknown auth */
	assert_int_equal(profile_decode(buf, len, a.name, &b), DV_ECORRUPT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_mailbox_defaults_match_dataverse),
		cmocka_unit_test(act_method_maps_to_its_own_numbering),
		cmocka_unit_test(names_round_trip),
		cmocka_unit_test(mailbox_round_trip),
		cmocka_unit_test(policy_decoder_reads_only_fixed_header),
		cmocka_unit_test(newer_writer_fields_are_skipped),
		cmocka_unit_test(
		    filter_defaults_by_type_and_old_records_read_as_default),
		cmocka_unit_test(corrupt_records_rejected),
		cmocka_unit_test(encode_into_small_buffer_fails_cleanly),
		cmocka_unit_test(profile_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_cidr.c - network lists for InternalHosts. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cidr.h"
#include "status.h"

struct match_case {
	const char *list;
	const char *addr;
	bool match;
};

static const struct match_case matches[] = {
	{ "127.0.0.1", "127.0.0.1", true },
	{ "127.0.0.1", "127.0.0.2", false },
	{ "127.0.0.0/8", "127.255.1.2", true },
	{ "10.0.0.0/8, 192.168.1.0/24", "192.168.1.77", true },
	{ "10.0.0.0/8, 192.168.1.0/24", "192.168.2.1", false },
	{ "192.168.1.0/25", "192.168.1.127", true },
	{ "192.168.1.0/25", "192.168.1.128", false },
	{ "192.168.1.77/24", "192.168.1.1", true },	/* host bits ignored */
	{ "0.0.0.0/0", "203.0.113.9", true },
	{ "::1", "::1", true },
	{ "[::1]", "::1", true },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::1", false },
	{ "2001:db8::/33", "2001:db8:8000::1", false },
	{ "127.0.0.1", "::ffff:127.0.0.1", true },	/* v4-mapped */
	{ "::1", "127.0.0.1", false },
	{ "127.0.0.1 ::1\t10.1.0.0/16", "10.1.2.3", true },
	{ "", "127.0.0.1", false },
};

static void
match_table(void **state)
{
	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		struct cidr_list l = { 0 };
		const char *err;

		if (cidr_list_parse(matches[i].list, &l, &err) != 0)
			fail_msg("case %zu: parse \"%s\": %s", i,
			    matches[i].list, err);
		if (cidr_list_match_text(&l, matches[i].addr) != matches[i].match)
			fail_msg("case %zu: %s in \"%s\" should be %s", i,
			    matches[i].addr, matches[i].list,
			    matches[i].match ? "true" : "false");
		cidr_list_free(&l);
	}
}

static void
sockaddr_match(void **state)
{
	struct cidr_list l = { 0 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	const char *err;

	assert_int_equal(cidr_list_parse("192.0.2.0/24, 2001:db8::/32", &l,
	    &err), 0);
	inet_pton(AF_INET, "192.0.2.5", &s4.sin_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "198.51.100.5", &s4.sin_addr);
	assert_false(cidr_list_match(&l, (struct sockaddr *)&s4));
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&s6));
	assert_false(cidr_list_match(&l, NULL));
	cidr_list_free(&l);
}

static void
bad_networks_rejected_with_the_entry_named(void **state)
{
	static const char *bad[] = {
		"300.1.1.1", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1",
		"10.0.0.0/8x", "example.com", "[::1", "1.2.3.4/8/8",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cidr_list l = { 0 };
		const char *err = NULL;

		if (cidr_list_parse(bad[i], &l, &err) != DV_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(strstr(err, "network"));
		assert_int_equal(l.n, 0);
	}
}

static void
failed_parse_keeps_old_list(void **state)
{
	struct cidr_list l = { 0 };
	const char *err;

	assert_int_equal(cidr_list_parse("10.0.0.0/8", &l, &err), 0);
	assert_int_equal(cidr_list_parse("10.0.0.0/8, bogus", &l, &err),
	    DV_EINVAL);
	assert_int_equal(l.n, 1);
	assert_true(cidr_list_match_text(&l, "10.9.9.9"));
	cidr_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(match_table),
		cmocka_unit_test(sockaddr_match),
		cmocka_unit_test(bad_networks_rejected_with_the_entry_named),
		cmocka_unit_test(failed_parse_keeps_old_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

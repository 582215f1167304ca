/* test_buf.c - the bounded buffer. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "status.h"

static void
append_and_take(void **state)
{
	struct dbuf b;
	size_t len;
	char *s;

	dbuf_init(&b, 100);
	assert_string_equal(dbuf_str(&b), "");
	assert_int_equal(dbuf_addstr(&b, "hello"), 0);
	assert_int_equal(dbuf_add(&b, ", ", 2), 0);
	assert_int_equal(dbuf_addf(&b, "%s %d", "world", 42), 0);
	assert_string_equal(dbuf_str(&b), "hello, world 42");
	s = dbuf_take(&b, &len);
	assert_string_equal(s, "hello, world 42");
	assert_int_equal(len, 15);
	assert_string_equal(dbuf_str(&b), "");
	assert_int_equal(b.len, 0);
	free(s);
}

static void
cap_is_enforced_and_buffer_freed(void **state)
{
	struct dbuf b;

	dbuf_init(&b, 8);
	assert_int_equal(dbuf_addstr(&b, "12345678"), 0);
	assert_int_equal(dbuf_addstr(&b, "9"), DV_ETOOBIG);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(dbuf_addf(&b, "%s", "123456789"), DV_ETOOBIG);
	assert_null(b.p);
}

static void
growth_keeps_contents(void **state)
{
	struct dbuf b;
	char want[5000];

	dbuf_init(&b, sizeof(want));
	for (size_t i = 0; i < sizeof(want) - 1; i++) {
		want[i] = (char)('a' + i % 26);
		assert_int_equal(dbuf_add(&b, &want[i], 1), 0);
	}
	want[sizeof(want) - 1] = '\0';
	assert_string_equal(dbuf_str(&b), want);
	dbuf_reset(&b);
	assert_string_equal(dbuf_str(&b), "");
	dbuf_free(&b);
}

static void
take_of_empty_buffer_is_empty_string(void **state)
{
	struct dbuf b;
	char *s;

	dbuf_init(&b, 10);
	s = dbuf_take(&b, NULL);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void
binary_data_kept(void **state)
{
	struct dbuf b;
	const char bin[] = { 'a', '\0', 'b' };

	dbuf_init(&b, 10);
	assert_int_equal(dbuf_add(&b, bin, 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, bin, 3);
	dbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_and_take),
		cmocka_unit_test(cap_is_enforced_and_buffer_freed),
		cmocka_unit_test(growth_keeps_contents),
		cmocka_unit_test(take_of_empty_buffer_is_empty_string),
		cmocka_unit_test(binary_data_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

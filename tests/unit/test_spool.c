/* test_spool.c - bounded message content: memory, spill, cap. */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spool.h"
#include "testutil.h"

static size_t
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void
small_content_stays_in_memory(void **state)
{
	char *dir = scratch_dir(), out[32];
	struct spool s;

	spool_init(&s, 1024, 4096, dir);
	assert_int_equal(spool_add(&s, "hello ", 6), 0);
	assert_int_equal(spool_add(&s, "world", 5), 0);
	assert_false(spool_spilled(&s));
	assert_false(spool_truncated(&s));
	assert_int_equal(s.len, 11);
	assert_int_equal(spool_copy(&s, out), 0);
	assert_memory_equal(out, "hello world", 11);
	spool_free(&s);
	rm_tree(dir);
}

static void
large_content_spills_to_an_unnamed_file(void **state)
{
	char *dir = scratch_dir(), chunk[1000], *out;
	struct spool s;

	spool_init(&s, 4096, 1 << 20, dir);
	for (int i = 0; i < 100; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		assert_int_equal(spool_add(&s, chunk, sizeof(chunk)), 0);
	}
	assert_true(spool_spilled(&s));
	assert_null(s.mem);
	assert_int_equal(s.len, 100000);
	assert_int_equal(entries(dir), 0);	/* no name left in the directory */
	out = malloc(s.len);
	assert_int_equal(spool_copy(&s, out), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(out[i * 1000 + 999], 'a' + i % 26);
	free(out);
	spool_reset(&s);
	assert_false(spool_spilled(&s));
	assert_int_equal(s.len, 0);
	assert_int_equal(spool_add(&s, "x", 1), 0);
	assert_false(spool_spilled(&s));
	spool_free(&s);
	rm_tree(dir);
}

static void
content_past_the_cap_is_counted_not_kept(void **state)
{
	char *dir = scratch_dir(), buf[300];
	struct spool s;

	spool_init(&s, 100, 250, dir);
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(spool_add(&s, buf, 200), 0);
	assert_int_equal(spool_add(&s, buf, 200), 0);
	assert_int_equal(s.len, 250);
	assert_int_equal(s.seen, 400);
	assert_true(spool_truncated(&s));
	spool_free(&s);
	rm_tree(dir);
}

static void
unwritable_spill_directory_is_an_error(void **state)
{
	struct spool s;
	char buf[200] = { 0 };

	spool_init(&s, 100, 1000, "/nonexistent/dvmilter");
	assert_int_equal(spool_add(&s, buf, 50), 0);
	assert_int_not_equal(spool_add(&s, buf, 100), 0);
	spool_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_content_stays_in_memory),
		cmocka_unit_test(large_content_spills_to_an_unnamed_file),
		cmocka_unit_test(content_past_the_cap_is_counted_not_kept),
		cmocka_unit_test(unwritable_spill_directory_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

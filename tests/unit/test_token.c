/* test_token.c - signed tracking tokens: round trip, forgery, keys. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "status.h"
#include "testutil.h"
#include "token.h"

static const struct token_key K1 = { "0123456789abcdef0123456789abcdef", 32 };
static const struct token_key K2 = { "fedcba9876543210fedcba9876543210", 32 };

static void
round_trip_in_a_subject(void **state)
{
	char tok[TOKEN_MAX], subj[200];
	uint64_t id = 0;

	assert_int_equal(token_make(&K1, "CRM:", 1042, tok, sizeof(tok)), 0);
	assert_int_equal(strncmp(tok, "CRM:1042-", 9), 0);
	assert_int_equal(strlen(tok), 17);
	snprintf(subj, sizeof(subj), "RE: Printer on fire %s", tok);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), 0);
	assert_int_equal(id, 1042);
	/* Mail clients may lower-case it. */
	for (char *c = subj; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), 0);
}

static void
altered_or_forged_tokens_are_refused(void **state)
{
	char tok[TOKEN_MAX], subj[200];
	uint64_t id = 0;

	assert_int_equal(token_make(&K1, "CRM:", 1042, tok, sizeof(tok)), 0);
	/* Someone else's case number with our tag. */
	snprintf(subj, sizeof(subj), "Hi CRM:1043%s", tok + 8);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), DV_EINVAL);
	/* The right number with a changed tag. */
	snprintf(subj, sizeof(subj), "Hi %s", tok);
	subj[strlen(subj) - 1] = subj[strlen(subj) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), DV_EINVAL);
	/* A token made under another key. */
	assert_int_equal(token_make(&K2, "CRM:", 1042, tok, sizeof(tok)), 0);
	snprintf(subj, sizeof(subj), "Hi %s", tok);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), DV_EINVAL);
}

static void
no_token_and_lookalikes(void **state)
{
	uint64_t id;
	static const char *none[] = {
		"Printer on fire", "CRM:", "CRM:12", "CRM:12-ABC",
		"CRM:0012-ABCDEFGH", "CRM:-ABCDEFGH", "CRM:12-ABCDEFGHI9",
		"CRM:12-ABCDEFG!", "",
	};

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		if (token_find(&K1, "CRM:", none[i], &id, NULL) != DV_ENOTFOUND)
			fail_msg("\"%s\" was taken for a token", none[i]);
}

static void
last_token_wins_and_prefix_is_configurable(void **state)
{
	char a[TOKEN_MAX], b[TOKEN_MAX], subj[200];
	uint64_t id;

	token_make(&K1, "CRM:", 1, a, sizeof(a));
	token_make(&K1, "CRM:", 2, b, sizeof(b));
	snprintf(subj, sizeof(subj), "%s RE: %s", a, b);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), 0);
	assert_int_equal(id, 2);
	token_make(&K1, "Ticket#", 77, a, sizeof(a));
	snprintf(subj, sizeof(subj), "Re: [%s] help", a);
	assert_int_equal(token_find(&K1, "Ticket#", subj, &id, NULL), 0);
	assert_int_equal(id, 77);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, NULL), DV_ENOTFOUND);
	assert_int_equal(token_make(&K1, "A-prefix-far-too-long:", 1, a,
	    sizeof(a)), DV_EINVAL);
}

/* A bogus token appended after a valid one must not hide it. */
/* Found by tests/fuzz/fuzz_token.c: token_find() checked no prefix
 * length, and tag_of() copied prefix and id into a 64-byte buffer. */
static void
overlong_prefix_finds_nothing_and_overflows_nothing(void **state)
{
	char prefix[70], subj[200];
	uint64_t id = 0;
	bool forged = true;

	memset(prefix, 'P', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	snprintf(subj, sizeof(subj), "Re: %s12345678901234567890-ABCDEFGH",
	    prefix);
	assert_int_equal(token_find(&K1, prefix, subj, &id, &forged),
	    DV_ENOTFOUND);
	assert_false(forged);
	memset(prefix + TOKEN_PREFIX_MAX + 1, 0, 1);
	assert_int_equal(token_make(&K1, prefix, 1, subj, sizeof(subj)),
	    DV_EINVAL);
}

static void
forged_token_after_a_valid_one_is_passed_over_and_reported(void **state)
{
	char a[TOKEN_MAX], subj[200];
	uint64_t id = 0;
	bool forged = false;

	token_make(&K1, "CRM:", 41, a, sizeof(a));
	snprintf(subj, sizeof(subj), "Re: %s Re: CRM:99-AAAAAAAA", a);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, &forged), 0);
	assert_int_equal(id, 41);
	assert_true(forged);
	snprintf(subj, sizeof(subj), "Re: %s", a);
	assert_int_equal(token_find(&K1, "CRM:", subj, &id, &forged), 0);
	assert_false(forged);
	assert_int_equal(token_find(&K1, "CRM:", "CRM:99-AAAAAAAA", &id,
	    &forged), DV_EINVAL);
	assert_true(forged);
	assert_int_equal(token_find(&K1, "CRM:", NULL, &id, &forged),
	    DV_ENOTFOUND);
	assert_false(forged);
}

static void
key_file_created_once_with_mode_0600(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct token_key a, b;
	struct stat sb;
	const char *err;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/token.key", dir);
	assert_int_equal(token_key_load(path, false, &a, &err), ENOENT);
	assert_int_equal(token_key_load(path, true, &a, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(a.len, 32);
	assert_int_equal(token_key_load(path, true, &b, &err), 0);
	assert_memory_equal(a.k, b.k, 32);	/* not regenerated */
	chmod(path, 0644);
	assert_int_equal(token_key_load(path, true, &b, &err), DV_EINVAL);
	assert_non_null(strstr(err, "chmod 600"));
	snprintf(path, sizeof(path), "%s/short.key", dir);
	fp = fopen(path, "w");
	fputs("short", fp);
	fclose(fp);
	chmod(path, 0600);
	assert_int_equal(token_key_load(path, false, &b, &err), DV_EINVAL);
	assert_non_null(strstr(err, "at least 16 bytes"));
	rm_tree(dir);
}

/*
 * A new key is made whole under a temporary name and linked into place:
 * no temporary file is left, a stale one (a crash) is no obstacle, the
 * file holds the 32 bytes loaded, and a symbolic link is never followed.
 */
static void
key_file_made_atomically_and_never_through_a_link(void **state)
{
	char *dir = scratch_dir(), path[300], tmp[320], link[300], victim[300];
	unsigned char disk[64];
	struct token_key a, b;
	struct stat sb;
	const char *err;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/token.key", dir);
	snprintf(tmp, sizeof(tmp), "%s/.token.key.new", dir);
	assert_non_null(fp = fopen(tmp, "w"));	/* a crash's leftover */
	fputs("half", fp);
	fclose(fp);
	assert_int_equal(token_key_load(path, true, &a, &err), 0);
	assert_int_equal(lstat(tmp, &sb), -1);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_nlink, 1);
	assert_int_equal(sb.st_size, 32);
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fread(disk, 1, sizeof(disk), fp), 32);
	fclose(fp);
	assert_memory_equal(disk, a.k, 32);

	/* A link at the key's name: refused, its target untouched. */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	assert_non_null(fp = fopen(victim, "w"));
	fputs("0123456789abcdef0123456789abcdef", fp);
	fclose(fp);
	chmod(victim, 0600);
	snprintf(link, sizeof(link), "%s/link.key", dir);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(token_key_load(link, true, &b, &err), ELOOP);
	assert_non_null(strstr(err, "a symbolic link, which is never "
	    "followed"));
	/* A dangling one is not created through either. */
	assert_int_equal(unlink(victim), 0);
	assert_int_equal(token_key_load(link, true, &b, &err), ELOOP);
	assert_int_equal(lstat(victim, &sb), -1);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_in_a_subject),
		cmocka_unit_test(
		    forged_token_after_a_valid_one_is_passed_over_and_reported),
		cmocka_unit_test(altered_or_forged_tokens_are_refused),
		cmocka_unit_test(no_token_and_lookalikes),
		cmocka_unit_test(
		    overlong_prefix_finds_nothing_and_overflows_nothing),
		cmocka_unit_test(last_token_wins_and_prefix_is_configurable),
		cmocka_unit_test(key_file_created_once_with_mode_0600),
		cmocka_unit_test(
		    key_file_made_atomically_and_never_through_a_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

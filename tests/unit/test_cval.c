/* test_cval.c - typed configuration values, table-driven. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "caps.h"
#include "cval.h"
#include "status.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define YEARS_100 ((int64_t)100 * 365 * 86400)

/* A case either succeeds with @want or fails with text holding @msg. */
struct num_case {
	const char *s;
	uint64_t min, max;
	int rc;
	uint64_t want;
	const char *msg;
};

static void
check_msg(const char *what, const char *s, const char *err, const char *msg)
{
	if (strstr(err, msg) == NULL)
		fail_msg("%s \"%s\": \"%s\" lacks \"%s\"", what, s, err, msg);
}

static void
run_num_cases(const char *what, const struct num_case *cases, size_t n,
    int (*fn)(const char *, uint64_t, uint64_t, uint64_t *, const char **))
{
	for (size_t i = 0; i < n; i++) {
		uint64_t out = 12345;
		const char *err = "";
		int rc = fn(cases[i].s, cases[i].min, cases[i].max, &out, &err);

		if (rc != cases[i].rc)
			fail_msg("%s \"%s\": rc %d, want %d (%s)", what,
			    cases[i].s, rc, cases[i].rc, err);
		if (rc == 0 && out != cases[i].want)
			fail_msg("%s \"%s\": got %ju, want %ju", what,
			    cases[i].s, (uintmax_t)out,
			    (uintmax_t)cases[i].want);
		if (rc != 0) {
			check_msg(what, cases[i].s, err, cases[i].msg);
			assert_int_equal(out, 12345);	/* untouched */
		}
	}
}

static void
bool_accepts_the_usual_words(void **state)
{
	static const struct { const char *s; int rc; bool want; } cases[] = {
		{ "yes", 0, true }, { "YES", 0, true }, { "true", 0, true },
		{ "On", 0, true }, { "1", 0, true }, { "no", 0, false },
		{ "False", 0, false }, { "off", 0, false }, { "0", 0, false },
		{ "maybe", DV_EINVAL, false }, { "", DV_EINVAL, false },
		{ "yes ", DV_EINVAL, false }, { "2", DV_EINVAL, false },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		bool out = !cases[i].want;
		const char *err = "";

		assert_int_equal(cval_bool(cases[i].s, &out, &err),
		    cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(out, cases[i].want);
		else
			check_msg("bool", cases[i].s, err, "is not yes or no");
	}
}

static void
uint_checks_digits_overflow_and_range(void **state)
{
	static const struct num_case cases[] = {
		{ "0", 0, 10, 0, 0, NULL },
		{ "1", 1, 65535, 0, 1, NULL },
		{ "65535", 1, 65535, 0, 65535, NULL },
		{ "007", 0, 10, 0, 7, NULL },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX, NULL },
		{ "70000", 1, 65535, DV_EINVAL, 0,
		    "70000 is out of range 1..65535" },
		{ "0", 1, 65535, DV_EINVAL, 0, "0 is out of range 1..65535" },
		{ "abc", 0, 10, DV_EINVAL, 0, "\"abc\" is not a number" },
		{ "", 0, 10, DV_EINVAL, 0, "\"\" is not a number" },
		{ "-1", 0, 10, DV_EINVAL, 0, "\"-1\" is not a number" },
		{ "+1", 0, 10, DV_EINVAL, 0, "\"+1\" is not a number" },
		{ " 1", 0, 10, DV_EINVAL, 0, "is not a number" },
		{ "12abc", 0, 100, DV_EINVAL, 0, "\"12abc\" is not a number" },
		{ "1 ", 0, 10, DV_EINVAL, 0, "is not a number" },
		{ "0x10", 0, 100, DV_EINVAL, 0, "is not a number" },
		{ "1.5", 0, 10, DV_EINVAL, 0, "is not a number" },
		{ "99999999999999999999", 0, UINT64_MAX, DV_EINVAL, 0,
		    "\"99999999999999999999\" is not a number" },
	};

	(void)state;
	run_num_cases("uint", cases, N(cases), cval_uint);
}

static void
octal_reads_modes(void **state)
{
	static const struct num_case cases[] = {
		{ "0660", 0, 0777, 0, 0660, NULL },
		{ "600", 0, 0777, 0, 0600, NULL },
		{ "0", 0, 0777, 0, 0, NULL },
		{ "0999", 0, 0777, DV_EINVAL, 0, "is not an octal number" },
		{ "1777", 0, 0777, DV_EINVAL, 0, "1777 is out of range 0..0777" },
		{ "rw", 0, 0777, DV_EINVAL, 0, "is not an octal number" },
		{ "-1", 0, 0777, DV_EINVAL, 0, "is not an octal number" },
	};

	(void)state;
	run_num_cases("octal", cases, N(cases), cval_octal);
}

static void
size_takes_each_suffix_and_checks_range(void **state)
{
	static const struct num_case cases[] = {
		{ "4096", 0, UINT64_MAX, 0, 4096, NULL },
		{ "0", 0, UINT64_MAX, 0, 0, NULL },
		{ "64K", 0, UINT64_MAX, 0, 65536, NULL },
		{ "64k", 0, UINT64_MAX, 0, 65536, NULL },
		{ "512M", 0, UINT64_MAX, 0, (uint64_t)512 << 20, NULL },
		{ "512m", 0, UINT64_MAX, 0, (uint64_t)512 << 20, NULL },
		{ "4G", 0, UINT64_MAX, 0, (uint64_t)4 << 30, NULL },
		{ "4g", 0, UINT64_MAX, 0, (uint64_t)4 << 30, NULL },
		{ "2T", 0, UINT64_MAX, 0, (uint64_t)2 << 40, NULL },
		{ "2t", 0, UINT64_MAX, 0, (uint64_t)2 << 40, NULL },
		{ "4K", 4096, 4096, 0, 4096, NULL },
		{ "4095", 4096, UINT64_MAX, DV_EINVAL, 0,
		    "4095 is below the minimum of 4096 bytes" },
		{ "1K", 1 << 20, UINT64_MAX, DV_EINVAL, 0,
		    "1K is below the minimum of 1048576 bytes" },
		{ "2K", 0, 1024, DV_EINVAL, 0,
		    "2K is above the maximum of 1024 bytes" },
		{ "12x", 0, UINT64_MAX, DV_EINVAL, 0,
		    "\"12x\" is not a size like 4G" },
		{ "12Q", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "K", 0, UINT64_MAX, DV_EINVAL, 0, "\"K\" is not a size" },
		{ "", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "-4G", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "4 G", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "4GB", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "lots", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "99999999999999999999", 0, UINT64_MAX, DV_EINVAL, 0,
		    "is not a size" },
		{ "16777216T", 0, UINT64_MAX, DV_EINVAL, 0, "is not a size" },
		{ "123456789012345678901234567890123G", 0, UINT64_MAX,
		    DV_EINVAL, 0, "is not a size" },
	};

	(void)state;
	run_num_cases("size", cases, N(cases), cval_size);
}

static void
duration_takes_each_suffix_and_checks_range(void **state)
{
	static const struct {
		const char *s;
		int64_t min, max;
		int rc;
		int64_t want;
		const char *msg;
	} cases[] = {
		{ "0", 0, YEARS_100, 0, 0, NULL },
		{ "90", 0, YEARS_100, 0, 90, NULL },
		{ "90s", 0, YEARS_100, 0, 90, NULL },
		{ "30m", 0, YEARS_100, 0, 1800, NULL },
		{ "12h", 0, YEARS_100, 0, 43200, NULL },
		{ "12H", 0, YEARS_100, 0, 43200, NULL },
		{ "7d", 0, YEARS_100, 0, 604800, NULL },
		{ "7D", 0, YEARS_100, 0, 604800, NULL },
		{ "2w", 0, YEARS_100, 0, 1209600, NULL },
		{ "5", -10, 10, 0, 5, NULL },
		{ "1h", 3600, 3600, 0, 3600, NULL },
		{ "40000w", 0, YEARS_100, DV_EINVAL, 0,
		    "40000w is out of range: at least 0 seconds, at most "
		    "100 years" },
		{ "59m", 3600, 86400, DV_EINVAL, 0,
		    "at least 1 hour, at most 1 day" },
		{ "7x", 0, YEARS_100, DV_EINVAL, 0,
		    "\"7x\" is not a duration like 7d, 12h or 0" },
		{ "d", 0, YEARS_100, DV_EINVAL, 0, "is not a duration" },
		{ "", 0, YEARS_100, DV_EINVAL, 0, "is not a duration" },
		{ "-1d", 0, YEARS_100, DV_EINVAL, 0, "is not a duration" },
		{ "-5", -10, 10, DV_EINVAL, 0, "is not a duration" },
		{ "1d2h", 0, YEARS_100, DV_EINVAL, 0, "is not a duration" },
		{ "7 d", 0, YEARS_100, DV_EINVAL, 0, "is not a duration" },
		{ "99999999999999999999", 0, INT64_MAX, DV_EINVAL, 0,
		    "is not a duration" },
		{ "99999999999999999w", 0, INT64_MAX, DV_EINVAL, 0,
		    "is not a duration" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int64_t out = 12345;
		const char *err = "";
		int rc = cval_duration(cases[i].s, cases[i].min, cases[i].max,
		    &out, &err);

		if (rc != cases[i].rc)
			fail_msg("duration \"%s\": rc %d, want %d (%s)",
			    cases[i].s, rc, cases[i].rc, err);
		if (rc == 0)
			assert_int_equal(out, cases[i].want);
		else {
			check_msg("duration", cases[i].s, err, cases[i].msg);
			assert_int_equal(out, 12345);
		}
	}
}

static void
url_needs_http_scheme_and_host(void **state)
{
	static const struct {
		const char *s;
		bool https_only;
		int rc;
		const char *msg;
	} cases[] = {
		{ "http://example.com", false, 0, NULL },
		{ "https://example.com/hook?x=1#f", false, 0, NULL },
		{ "HTTPS://Example.COM/", true, 0, NULL },
		{ "http://127.0.0.1:8080/hook", false, 0, NULL },
		{ "http://[::1]:9/", false, 0, NULL },
		{ "http://[2001:db8::1]/x", false, 0, NULL },
		{ "https://user:pw@example.com/", true, 0, NULL },
		{ "http://example.com", true, DV_EINVAL,
		    "\"http://example.com\" is not https://" },
		{ "ftp://example.com", false, DV_EINVAL,
		    "\"ftp://example.com\" is not an http(s):// URL" },
		{ "ftp://example.com", true, DV_EINVAL,
		    "is not an https:// URL" },
		{ "example.com/hook", false, DV_EINVAL, "is not an http(s)" },
		{ "", false, DV_EINVAL, "is not an http(s)" },
		{ "http://", false, DV_EINVAL, "\"http://\" has no host" },
		{ "http:///path", false, DV_EINVAL, "has no host" },
		{ "https://:443/", false, DV_EINVAL, "has no host" },
		{ "http://user@/", false, DV_EINVAL, "has no host" },
		{ "http://[]/", false, DV_EINVAL, "bad [address]" },
		{ "http://[::1/", false, DV_EINVAL, "bad [address]" },
		{ "http://[::1]x/", false, DV_EINVAL, "bad port" },
		{ "http://host:0/", false, DV_EINVAL, "bad port" },
		{ "http://host:70000/", false, DV_EINVAL, "bad port" },
		{ "http://host:/", false, DV_EINVAL, "bad port" },
		{ "http://host:8o/", false, DV_EINVAL, "bad port" },
		{ "http://exa mple.com/", false, DV_EINVAL,
		    "space or control character at byte 11" },
		{ " http://example.com/", false, DV_EINVAL, "space" },
		{ "http://example.com/\r\nX-Evil: 1", false, DV_EINVAL,
		    "control character" },
		{ "http://example.com/\t", false, DV_EINVAL, "control" },
		{ "http://example.com/\x7f", false, DV_EINVAL, "control" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const char *err = "";
		int rc = cval_url(cases[i].s, cases[i].https_only, &err);

		if (rc != cases[i].rc)
			fail_msg("url \"%s\": rc %d, want %d (%s)", cases[i].s,
			    rc, cases[i].rc, err);
		if (rc != 0)
			check_msg("url", cases[i].s, err, cases[i].msg);
	}
}

static void
url_longer_than_cap_refused(void **state)
{
	static char url[DV_URL_MAX + 2];
	const char *err = "";

	(void)state;
	memset(url, 'a', sizeof(url) - 1);
	memcpy(url, "http://x/", 9);
	url[sizeof(url) - 1] = '\0';
	assert_int_equal(cval_url(url, false, &err), DV_EINVAL);
	check_msg("url", "long", err, "is longer than");
	url[DV_URL_MAX] = '\0';
	assert_int_equal(cval_url(url, false, &err), 0);
}

static void
abs_path_must_start_with_slash_and_fit(void **state)
{
	static char longpath[DV_PATH_MAX + 2];
	const char *err = "";

	(void)state;
	assert_int_equal(cval_abs_path("/var/lib/dvmilter", &err), 0);
	assert_int_equal(cval_abs_path("/", &err), 0);
	assert_int_equal(cval_abs_path("x.pid", &err), DV_EINVAL);
	check_msg("path", "x.pid", err, "\"x.pid\" is not an absolute path");
	assert_int_equal(cval_abs_path("", &err), DV_EINVAL);
	assert_int_equal(cval_abs_path("./x", &err), DV_EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	assert_int_equal(cval_abs_path(longpath, &err), DV_EINVAL);
	check_msg("path", "long", err, "is longer than 1024 bytes");
	longpath[DV_PATH_MAX] = '\0';
	assert_int_equal(cval_abs_path(longpath, &err), 0);
}

static void
secret_file_checks_type_and_mode(void **state)
{
	static const struct {
		mode_t mode;
		int rc;
		const char *msg;
	} modes[] = {
		{ 0600, 0, NULL },
		{ 0400, 0, NULL },
		{ 0700, 0, NULL },
		{ 0644, DV_EINVAL, "mode 0644 lets others read a secret; "
		    "chmod 600 it" },
		{ 0640, 0, NULL },	/* root:dvmilter 0640, for UserID */
		{ 0660, DV_EINVAL, "mode 0660 lets its group change a secret; "
		  "chmod 640 it" },
		{ 0620, DV_EINVAL, "mode 0620 lets its group change" },
		{ 0602, DV_EINVAL, "mode 0602 lets others change" },
		{ 0604, DV_EINVAL, "mode 0604 lets others read" },
	};
	char *dir = scratch_dir(), path[300], link[300], msg[400];
	const char *err = "";
	FILE *fp;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("0123456789abcdef\n", fp);
	fclose(fp);
	for (size_t i = 0; i < N(modes); i++) {
		assert_int_equal(chmod(path, modes[i].mode), 0);
		err = "";
		if (cval_secret_file(path, geteuid(), &err) != modes[i].rc)
			fail_msg("mode %04o: want rc %d (%s)",
			    (unsigned)modes[i].mode, modes[i].rc, err);
		if (modes[i].rc != 0) {
			snprintf(msg, sizeof(msg), "%s: %s", path, modes[i].msg);
			check_msg("secret", path, err, msg);
		}
	}

	/* A link, even ours to a good file, is refused: what it points to
	 * could change between the check and the read. */
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(cval_secret_file(link, geteuid(), &err), DV_EINVAL);
	check_msg("secret", link, err, "is a symbolic link; a secret is never "
	    "read through one");

	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(cval_secret_file(path, geteuid(), &err), ENOENT);
	check_msg("secret", path, err, "absent: No such file");

	assert_int_equal(cval_secret_file(dir, geteuid(), &err), DV_EINVAL);
	check_msg("secret", dir, err, "is not a regular file");

	assert_int_equal(cval_secret_file("secret", geteuid(), &err),
	    DV_EINVAL);
	check_msg("secret", "secret", err, "not an absolute path");
	rm_tree(dir);
}

/* Owned by root or by UserID, no one else: needs root to chown. */
static void
secret_file_owned_by_root_or_userid_only(void **state)
{
	char *dir = scratch_dir(), path[300], want[400];
	const char *err = "";
	FILE *fp;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("0123456789abcdef\n", fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(cval_secret_file(path, 4242, &err), 0);	/* root */
	assert_int_equal(chown(path, 4242, 0), 0);
	assert_int_equal(cval_secret_file(path, 4242, &err), 0);	/* UserID */
	assert_int_equal(cval_secret_file(path, 4343, &err), DV_EINVAL);
	snprintf(want, sizeof(want), "%s: owned by uid 4242; a secret must be "
	    "owned by root or by UserID (uid 4343): chown it", path);
	check_msg("secret", "owner", err, want);
	rm_tree(dir);
}

/* The content comes from the descriptor checked; size limits hold. */
static void
secret_read_reads_what_it_checked(void **state)
{
	char *dir = scratch_dir(), path[300], link[300], buf[16];
	const char *err = "";
	size_t len = 99;
	FILE *fp;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("0123456789abcdef", fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(cval_secret_read(path, geteuid(), buf, sizeof(buf),
	    &len, &err), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	assert_int_equal(cval_secret_read(path, geteuid(), buf, 15, &len,
	    &err), DV_EINVAL);
	check_msg("secret", "long", err, "longer than 15 bytes");
	assert_int_equal(len, 0);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(cval_secret_read(path, geteuid(), buf, sizeof(buf),
	    &len, &err), DV_EINVAL);
	check_msg("secret", "mode", err, "lets others read");
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(cval_secret_read(link, geteuid(), buf, sizeof(buf),
	    &len, &err), DV_EINVAL);
	check_msg("secret", "link", err, "is a symbolic link");
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bool_accepts_the_usual_words),
		cmocka_unit_test(uint_checks_digits_overflow_and_range),
		cmocka_unit_test(octal_reads_modes),
		cmocka_unit_test(size_takes_each_suffix_and_checks_range),
		cmocka_unit_test(duration_takes_each_suffix_and_checks_range),
		cmocka_unit_test(url_needs_http_scheme_and_host),
		cmocka_unit_test(url_longer_than_cap_refused),
		cmocka_unit_test(abs_path_must_start_with_slash_and_fit),
		cmocka_unit_test(secret_file_owned_by_root_or_userid_only),
		cmocka_unit_test(secret_read_reads_what_it_checked),
		cmocka_unit_test(secret_file_checks_type_and_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

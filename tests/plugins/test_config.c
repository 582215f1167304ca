/*
 * test_config.c - plugins' configuration through the host's typed
 * getters (core/cval.c's parsers): the real local and webhook plugins,
 * through the real loader, refuse a bad value with the same words for
 * the same kind of value, naming file, line and key; an overflowing
 * number is refused, not clamped or wrapped.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "plugin.h"
#include "status.h"

/*
 * Load plugin @plugin (local or webhook) with "@key @value" as line 5 of
 * its configuration; the reason init gave after "Name.Key: " into @why,
 * or "" if it loaded.
 */
static void
load_with(const char *plugin, const char *key, const char *value, char *why,
    size_t whysz)
{
	const char *top = getenv("top_builddir"), *err, *p;
	char *dir = scratch_dir(), text[4096], secret[600], want[200];
	struct plugin_set *ps = NULL;
	struct conf *c;
	FILE *fp;

	snprintf(secret, sizeof(secret), "%s/secret", dir);
	assert_non_null(fp = fopen(secret, "w"));
	fputs("0123456789abcdef-config-test\n", fp);
	fclose(fp);
	chmod(secret, 0600);
	snprintf(text, sizeof(text), "PluginDir %s/plugins/%s/.libs\n"
	    "Plugins %s\nWebhook.URL https://127.0.0.1:9/\n"
	    "Webhook.SecretFile %s\n%s %s\n", top ? top : ".", plugin, plugin,
	    secret, key, value);
	if (strcmp(plugin, "local") == 0)	/* keep the line numbers */
		snprintf(text, sizeof(text), "PluginDir %s/plugins/local/.libs\n"
		    "Plugins local\nLocal.AutoReplyFrom a@example.com\n"
		    "Local.AutoReplyWindow 60\n%s %s\n", top ? top : ".", key, value);
	assert_int_equal(conf_parse_string("t.conf", text, &c, &err), 0);
	why[0] = '\0';
	if (plugin_set_load(c, NULL, &ps, &err) != 0) {
		snprintf(want, sizeof(want), "init failed: t.conf:5: %s: ", key);
		p = strstr(err, want);
		if (p == NULL)
			fail_msg("%s %s: %s", key, value, err);
		snprintf(why, whysz, "%s", p + strlen(want));
	}
	plugin_set_free(ps);
	conf_unref(c);
	rm_tree(dir);
}

struct kind_case {
	const char *value;
	const char *why;	/* NULL: accepted */
};

/* Each value, for two plugins' keys of one kind: the same verdict. */
static void
check_alike(const char *key1, const char *key2,
    const struct kind_case *cases, size_t n)
{
	char why1[600], why2[600];

	for (size_t i = 0; i < n; i++) {
		load_with(strncmp(key1, "Local.", 6) == 0 ? "local" : "webhook",
		    key1, cases[i].value, why1, sizeof(why1));
		load_with(strncmp(key2, "Local.", 6) == 0 ? "local" : "webhook",
		    key2, cases[i].value, why2, sizeof(why2));
		if (strcmp(why1, why2) != 0)
			fail_msg("\"%s\": %s says \"%s\", %s says \"%s\"",
			    cases[i].value, key1, why1, key2, why2);
		if (cases[i].why == NULL ? why1[0] != '\0' :
		    strcmp(why1, cases[i].why) != 0)
			fail_msg("\"%s\" for %s: \"%s\", want \"%s\"",
			    cases[i].value, key1, why1,
			    cases[i].why ? cases[i].why : "(accepted)");
	}
}

static void
durations_are_refused_alike_by_every_plugin(void **state)
{
	static const struct kind_case cases[] = {
		{ "10", NULL },
		{ "2m", NULL },
		{ "99999999999999999999", "\"99999999999999999999\" is not a "
		    "duration like 7d, 12h or 0" },
		{ "18446744073709551616s", "\"18446744073709551616s\" is not a "
		    "duration like 7d, 12h or 0" },
		{ "-5", "\"-5\" is not a duration like 7d, 12h or 0" },
		{ "10x", "\"10x\" is not a duration like 7d, 12h or 0" },
		{ "0x10", "\"0x10\" is not a duration like 7d, 12h or 0" },
	};

	(void)state;
	check_alike("Local.SMTPTimeout", "Webhook.Timeout", cases,
	    sizeof(cases) / sizeof(cases[0]));
}

/* One out-of-range value: refused alike, with the limits named. */
static void
ranges_are_refused_alike_and_name_the_limits(void **state)
{
	char a[600], b[600];

	(void)state;
	load_with("local", "Local.SMTPTimeout", "601", a, sizeof(a));
	load_with("webhook", "Webhook.Timeout", "601", b, sizeof(b));
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "601 is out of range"));
	load_with("local", "Local.SMTPTimeout", "0", a, sizeof(a));
	load_with("webhook", "Webhook.Timeout", "0", b, sizeof(b));
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "0 is out of range"));
}

/* strtol() without errno once let these through as LONG_MAX. */
static void
numbers_refuse_overflow_sign_and_junk(void **state)
{
	static const struct kind_case cases[] = {
		{ "1000", NULL },
		{ "99999999999999999999", "\"99999999999999999999\" is not a "
		    "number" },
		{ "9223372036854775808", "9223372036854775808 is out of range "
		    "1..1000" },
		{ "-1", "\"-1\" is not a number" },
		{ "+3", "\"+3\" is not a number" },
		{ "3.0", "\"3.0\" is not a number" },
		{ "1001", "1001 is out of range 1..1000" },
		{ "0", "0 is out of range 1..1000" },
	};
	char why[600];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_with("local", "Local.AutoReplyLimit", cases[i].value, why,
		    sizeof(why));
		if (cases[i].why == NULL ? why[0] != '\0' :
		    strcmp(why, cases[i].why) != 0)
			fail_msg("\"%s\": \"%s\"", cases[i].value, why);
	}
}

static void
urls_and_booleans_and_secret_files(void **state)
{
	char why[600];

	(void)state;
	load_with("local", "Local.SubmissionURL", "http://mail.example", why,
	    sizeof(why));
	assert_string_equal(why, "\"http://mail.example\" is not a URL of "
	    "scheme smtp,smtps");
	load_with("local", "Local.SubmissionURL", "smtp://", why, sizeof(why));
	assert_string_equal(why, "\"smtp://\" has no host");
	load_with("local", "Local.SubmissionURL", "smtps://h:99999", why,
	    sizeof(why));
	assert_string_equal(why, "\"smtps://h:99999\" has a bad port "
	    "(1..65535)");
	load_with("local", "Local.SubmissionURL", "SMTP://h:587", why,
	    sizeof(why));
	assert_string_equal(why, "");
	load_with("webhook", "Webhook.IncludeAttachments", "maybe", why,
	    sizeof(why));
	assert_string_equal(why, "\"maybe\" is not yes or no");
	load_with("webhook", "Webhook.IncludeAttachments", "on", why,
	    sizeof(why));
	assert_string_equal(why, "");
	load_with("webhook", "Webhook.CAFile", "/etc/ssl/certs/x.pem", why,
	    sizeof(why));
	assert_string_equal(why, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(durations_are_refused_alike_by_every_plugin),
		cmocka_unit_test(ranges_are_refused_alike_and_name_the_limits),
		cmocka_unit_test(numbers_refuse_overflow_sign_and_junk),
		cmocka_unit_test(urls_and_booleans_and_secret_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_conf.c - the config parser, every error path, table-driven. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "conf.h"
#include "log.h"
#include "status.h"
#include "testutil.h"

static void
defaults_are_safe(void **state)
{
	struct conf *c;
	const char *err;

	assert_int_equal(conf_parse_string("empty.conf", "", &c, &err), 0);
	assert_string_equal(c->socket, "local:/run/dvmilter/dvmilter.sock");
	assert_string_equal(c->socket_milter, "local:/run/dvmilter/dvmilter.sock");
	assert_string_equal(c->database, "/var/lib/dvmilter");
	assert_int_equal(c->socket_mode, 0660);
	assert_true(c->syslog);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_string_equal(c->subaddress_seps, "+");
	assert_int_equal(c->max_recipients, 1000);
	assert_int_equal(c->max_message_size, (size_t)25 << 20);
	assert_int_equal(c->message_memory_limit, (size_t)1 << 20);
	assert_int_equal(c->outbox_retention, 7 * 86400);
	assert_string_equal(c->spool_dir, "/var/tmp");
	/* No Authentication-Results header is believed until configured. */
	assert_null(c->trusted_authserv_ids);
	assert_int_equal(c->case_join, CONF_JOIN_PARTICIPANT);
	assert_int_equal(c->unapproved_rcpt.action, CONF_REJECT);
	assert_string_equal(c->unapproved_rcpt.reply.code, "550");
	assert_string_equal(c->unapproved_rcpt.reply.xcode, "5.7.1");
	assert_string_equal(c->unapproved_rcpt.reply.text,
	    "<%a>: mailbox is not approved");
	assert_int_equal(c->unknown_rcpt.action, CONF_ACCEPT);
	assert_int_equal(c->store_error.action, CONF_TEMPFAIL);
	assert_string_equal(c->store_error.reply.code, "451");
	assert_string_equal(c->store_error.reply.xcode, "4.3.0");
	assert_true(cidr_list_match_text(&c->internal_hosts, "127.0.0.1"));
	assert_true(cidr_list_match_text(&c->internal_hosts, "::1"));
	assert_false(cidr_list_match_text(&c->internal_hosts, "192.0.2.1"));
	assert_string_equal(c->userid, "dvmilter");	/* never root by default */
	conf_unref(c);
}

static void
full_config_parsed(void **state)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "socket   inet:8891@127.0.0.1   # trailing comment\n"
	    "SocketMode 0600\n"
	    "SocketGroup postfix\n"
	    "Database /var/lib/dvtest\n"
	    "DatabaseMapSize 512M\n"
	    "UserID dvmilter:dvmilter\n"
	    "PidFile /run/dvmilter.pid\n"
	    "Syslog no\n"
	    "SyslogFacility local3\n"
	    "LogLevel debug\n"
	    "InternalHosts 10.0.0.0/8, [2001:db8::1]\n"
	    "SubaddressSeparator +-\n"
	    "MaxRecipients 50\n"
	    "UnapprovedRecipientAction tempfail\n"
	    "UnapprovedRecipientReply \"450 4.7.1 <%a> waits for approval # not a comment\"\n"
	    "UnapprovedSenderAction accept\n"
	    "UnknownRecipientAction reject\n"
	    "UnknownRecipientDomains example.com, Bücher.example\n"
	    "MalformedAddressAction accept\n"
	    "StoreErrorAction reject\n"
	    "StoreErrorReply 554 5.3.0 store down for %a, 100%% sure\r\n";
	struct conf *c;
	const char *err;

	if (conf_parse_string("full.conf", text, &c, &err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->socket, "inet:8891@127.0.0.1");
	assert_int_equal(c->socket_kind, CONF_SOCK_INET);
	assert_null(c->socket_path);
	assert_int_equal(c->socket_mode, 0600);
	assert_string_equal(c->socket_group, "postfix");
	assert_int_equal(c->database_mapsize, (size_t)512 << 20);
	assert_string_equal(c->userid, "dvmilter:dvmilter");
	assert_false(c->syslog);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_true(cidr_list_match_text(&c->internal_hosts, "10.2.3.4"));
	assert_false(cidr_list_match_text(&c->internal_hosts, "127.0.0.1"));
	assert_string_equal(c->subaddress_seps, "+-");
	assert_int_equal(c->max_recipients, 50);
	assert_int_equal(c->unapproved_rcpt.action, CONF_TEMPFAIL);
	assert_string_equal(c->unapproved_rcpt.reply.text,
	    "<%a> waits for approval # not a comment");
	assert_int_equal(c->unapproved_sender.action, CONF_ACCEPT);
	assert_true(conf_domain_listed(c->unknown_rcpt_domains, "example.com"));
	assert_true(conf_domain_listed(c->unknown_rcpt_domains,
	    "xn--bcher-kva.example"));
	assert_false(conf_domain_listed(c->unknown_rcpt_domains, "other.example"));
	assert_int_equal(c->malformed.action, CONF_ACCEPT);
	assert_int_equal(c->store_error.action, CONF_REJECT);
	conf_unref(c);
}

struct sock_case {
	const char *value;
	const char *milter;
	int kind;
};

static void
socket_forms(void **state)
{
	static const struct sock_case cases[] = {
		{ "inet:8891", "inet:8891", CONF_SOCK_INET },
		{ "inet:8891@localhost", "inet:8891@localhost", CONF_SOCK_INET },
		{ "inet:8891@[127.0.0.1]", "inet:8891@127.0.0.1", CONF_SOCK_INET },
		{ "inet6:8891@[::1]", "inet6:8891@::1", CONF_SOCK_INET6 },
		{ "local:/run/x.sock", "local:/run/x.sock", CONF_SOCK_UNIX },
		{ "unix:/run/x.sock", "local:/run/x.sock", CONF_SOCK_UNIX },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[200];
		struct conf *c;
		const char *err;

		snprintf(text, sizeof(text), "Socket %s\n", cases[i].value);
		if (conf_parse_string("s.conf", text, &c, &err) != 0)
			fail_msg("%s: %s", cases[i].value, err);
		assert_string_equal(c->socket_milter, cases[i].milter);
		assert_int_equal(c->socket_kind, cases[i].kind);
		conf_unref(c);
	}
}

struct err_case {
	const char *text;
	const char *msg;	/* the whole message must contain this */
};

static const struct err_case errors[] = {
	{ "Sokcet local:/x\n", "e.conf:1: unknown key \"Sokcet\" (did you mean \"Socket\"?)" },
	{ "# c\nFrobnicate yes\n", "e.conf:2: unknown key \"Frobnicate\"" },
	{ "Socket\n", "e.conf:1: Socket needs a value" },
	{ "Syslog no\nSyslog yes\n", "e.conf:2: Syslog is set twice" },
	{ "Socket tcp:25\n", "e.conf:1: Socket: socket \"tcp:25\": expected" },
	{ "Socket inet:0@127.0.0.1\n", "bad port \"0\"" },
	{ "Socket inet:70000\n", "bad port \"70000\"" },
	{ "Socket inet:@host\n", "expected inet:PORT@HOST" },
	{ "Socket inet:25@[::1\n", "unbalanced brackets" },
	{ "Socket inet:25@a b\n", "bad host" },
	{ "Socket local:relative.sock\n", "not an absolute path" },
	{ "Socket local:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n", "socket path is longer" },
	{ "SocketMode 999\n", "not an octal mode" },
	{ "SocketMode rw\n", "not an octal mode" },
	{ "SocketGroup a/b\n", "not a valid name" },
	{ "Database var/lib\n", "not an absolute path" },
	{ "DatabaseMapSize 12Q\n", "not a size" },
	{ "DatabaseMapSize 1K\n", "below the minimum" },
	{ "MaxMessageSize 10\n", "below the minimum of 4096 bytes" },
	{ "OutboxRetention 7x\n", "\"7x\" is not a duration like 7d" },
	{ "OutboxRetention d\n", "is not a duration" },
	{ "OutboxRetention -1d\n", "is not a duration" },
	{ "OutboxRetention 40000w\n", "at most 100 years" },
	{ "MessageMemoryLimit lots\n", "not a size" },
	{ "SpoolDirectory tmp\n", "not an absolute path" },
	{ "TrackingTokenPrefix ThisPrefixIsFarTooLong:\n", "1 to 20 characters" },
	{ "TrackingTokenKeyFile key\n", "not an absolute path" },
	{ "TrustedAuthservIDs mx.example;evil\n", "bad authserv-id" },
	{ "TrustedAuthservIDs mx.example, MX.Example\n", "listed twice" },
	{ "CaseJoinPolicy anyone\n", "unknown case join policy \"anyone\"" },
	{ "DatabaseMapSize -4G\n", "not a size" },
	{ "UserID :grp\n", "not user or user:group" },
	{ "UserID a:b:c\n", "not user or user:group" },
	{ "PidFile x.pid\n", "not an absolute path" },
	{ "Syslog maybe\n", "\"maybe\" is not yes or no" },
	{ "SyslogFacility kern\n", "unknown syslog facility" },
	{ "LogLevel chatty\n", "unknown log level \"chatty\"" },
	{ "InternalHosts 10.0.0.0/99\n", "e.conf:1: InternalHosts: bad network" },
	{ "SubaddressSeparator @\n", "cannot be a subaddress separator" },
	{ "SubaddressSeparator +-_=.~+-_=.~+-_=.~\n", "separator characters" },
	{ "MaxRecipients 0\n", "out of range" },
	{ "MaxRecipients lots\n", "not a number" },
	{ "MaxRecipients 12abc\n", "not a number" },
	{ "UnapprovedRecipientAction bounce\n", "unknown action \"bounce\"" },
	{ "UnapprovedRecipientReply 250 2.0.0 fine\n", "4xx or 5xx" },
	{ "UnapprovedRecipientReply 550 text only\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 4.7.1 wrong class\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 5.7.1\n", "no text" },
	{ "UnapprovedRecipientReply 550 5.+7.1 signed\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 5.-1.1 signed\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 5.1234.1 long\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 5.7. short\n", "enhanced status code" },
	{ "UnapprovedRecipientReply 550 5.7.1 %s here\n", "may use only %a" },
	{ "UnapprovedRecipientReply \"550 5.7.1 open\n", "unterminated quoted value" },
	{ "UnapprovedRecipientAction tempfail\n", "UnapprovedRecipientAction is tempfail but UnapprovedRecipientReply has code 550" },
	{ "StoreErrorAction reject\n", "StoreErrorAction is reject but StoreErrorReply has code 451" },
	{ "UnknownRecipientAction reject\n", "needs UnknownRecipientDomains" },
	{ "UnknownRecipientDomains exa$mple\n", "bad domain" },
	{ "UnknownRecipientDomains bad..example\n", "bad domain \"bad..example\"" },
	{ "Plugins webhook, Webhook\n", "plugin \"Webhook\" is listed twice" },
	{ "Plugins web/hook\n", "bad plugin name" },
	{ "Syslog no\x01\n", "e.conf:1: control character (0x01)" },
};

static void
every_error_names_file_line_and_problem(void **state)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct conf *c = NULL;
		const char *err = "";
		int rc = conf_parse_string("e.conf", errors[i].text, &c, &err);

		if (rc == 0) {
			conf_unref(c);
			fail_msg("case %zu accepted: %s", i, errors[i].text);
		}
		assert_int_equal(rc, DV_ECONF);
		if (strstr(err, errors[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    errors[i].msg);
		if (strncmp(err, "e.conf:", 7) != 0)
			fail_msg("case %zu: \"%s\" does not name the file", i, err);
	}
}

static void
overlong_line_rejected(void **state)
{
	static char text[5000];
	struct conf *c;
	const char *err;

	memcpy(text, "Database /", 10);
	memset(text + 10, 'a', sizeof(text) - 12);
	text[sizeof(text) - 2] = '\n';
	assert_int_equal(conf_parse_string("e.conf", text, &c, &err), DV_ECONF);
	assert_non_null(strstr(err, "e.conf:1: line is longer"));
}

static void
garbage_file_rejected(void **state)
{
	char *dir = scratch_dir(), path[300];
	unsigned char junk[4096];
	struct conf *c;
	const char *err;
	FILE *fp;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)((i * 7919 + 13) & 0xff);
	snprintf(path, sizeof(path), "%s/garbage.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	assert_int_equal(conf_load(path, &c, &err), DV_ECONF);
	assert_non_null(strstr(err, path));

	/* Printable garbage: an unknown key on line 1. */
	fp = fopen(path, "w");
	fputs("lorem ipsum dolor sit amet\n", fp);
	fclose(fp);
	assert_int_equal(conf_load(path, &c, &err), DV_ECONF);
	assert_non_null(strstr(err, ":1: unknown key \"lorem\""));

	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	assert_int_equal(conf_load(path, &c, &err), ENOENT);
	assert_non_null(strstr(err, "absent.conf"));
	rm_tree(dir);
}

static void
reply_format_substitutes_and_sanitises(void **state)
{
	struct conf_reply r = { "550", "5.7.1", (char *)"<%a>: 100%% no" };
	char out[64];

	conf_reply_format(&r, "<bob@example.com>", out, sizeof(out));
	assert_string_equal(out, "<bob@example.com>: 100% no");
	conf_reply_format(&r, "e\r\nvil@x", out, sizeof(out));
	assert_string_equal(out, "<evil@x>: 100% no");
	conf_reply_format(&r, "a-very-long-address@example.com", out, 12);
	assert_int_equal(strlen(out), 11);
}

static void
retention_durations_parse(void **state)
{
	static const struct { const char *v; int64_t secs; } ok[] = {
		{ "0", 0 }, { "90", 90 }, { "90s", 90 }, { "30m", 1800 },
		{ "12h", 43200 }, { "7d", 604800 }, { "7D", 604800 },
		{ "2w", 1209600 },
	};
	char text[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct conf *c;
		const char *err;

		snprintf(text, sizeof(text), "OutboxRetention %s\n", ok[i].v);
		assert_int_equal(conf_parse_string("r.conf", text, &c, &err), 0);
		assert_int_equal(c->outbox_retention, ok[i].secs);
		conf_unref(c);
	}
}

static void
restart_keys_listed(void **state)
{
	struct conf *a, *b;
	char out[128];
	const char *err;

	assert_int_equal(conf_parse_string("a", "Socket inet:1@127.0.0.1\n"
	    "LogLevel info\n", &a, &err), 0);
	assert_int_equal(conf_parse_string("b", "Socket inet:2@127.0.0.1\n"
	    "LogLevel debug\nPidFile /run/x.pid\n", &b, &err), 0);
	conf_restart_keys(a, b, out, sizeof(out));
	assert_string_equal(out, "Socket, PidFile");
	conf_restart_keys(a, a, out, sizeof(out));
	assert_string_equal(out, "");
	conf_unref(a);
	conf_unref(b);
}

static void
refcount_keeps_snapshot_alive(void **state)
{
	struct conf *c, *ref;
	const char *err;

	assert_int_equal(conf_parse_string("r", "LogLevel debug\n", &c, &err), 0);
	ref = conf_ref(c);
	conf_unref(c);
	assert_int_equal(ref->log_level, LOG_LVL_DEBUG);	/* still alive */
	conf_unref(ref);
}

/* The keys as conf_keys_describe() prints them, at most KEYS_MAX. */
#define KEYS_MAX	80
struct key_list {
	char name[KEYS_MAX][32];
	bool restart[KEYS_MAX];
	size_t n;
};

static void
described_keys(struct key_list *kl)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	assert_non_null(fp);
	conf_keys_describe(fp);
	assert_int_equal(fclose(fp), 0);
	kl->n = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char when[16];

		assert_true(kl->n < KEYS_MAX);
		assert_int_equal(sscanf(line, "%31s %15s", kl->name[kl->n],
		    when), 2);
		if (strcmp(when, "restart") != 0 && strcmp(when, "reload") != 0)
			fail_msg("bad line \"%s\"", line);
		kl->restart[kl->n++] = strcmp(when, "restart") == 0;
	}
	free(text);
}

static int
key_index(const struct key_list *kl, const char *name)
{
	for (size_t i = 0; i < kl->n; i++)
		if (strcmp(kl->name[i], name) == 0)
			return (int)i;
	return -1;
}

static void
keys_described_once_each_with_limits_and_default(void **state)
{
	struct key_list kl;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	described_keys(&kl);
	assert_int_equal(kl.n, 49);
	for (size_t i = 0; i < kl.n; i++)
		for (size_t j = i + 1; j < kl.n; j++)
			if (strcasecmp(kl.name[i], kl.name[j]) == 0)
				fail_msg("%s is in the table twice", kl.name[i]);
	fp = open_memstream(&text, &len);
	conf_keys_describe(fp);
	fclose(fp);
	assert_non_null(strstr(text, "number 1..100000"));
	assert_non_null(strstr(text, "\"1000\""));
	assert_non_null(strstr(text, "mode 0..0777"));
	assert_non_null(strstr(text, "accept|reject|tempfail"));
	assert_non_null(strstr(text, "list|none"));
	assert_non_null(strstr(text, "\"7d\""));
	free(text);
}

/*
 * dvmilter.conf(5) must name as restart-only exactly the keys the table
 * marks so: the entries of KEYS READ ONLY AT START-UP and the keys its
 * opening paragraphs name in bold. The entries of KEYS APPLIED ON RELOAD
 * must all be reloadable, and every key must have an entry somewhere.
 */
static void
man_page_restart_keys_match_table(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[1024], line[1024], section[128] = "", word[64];
	bool in_man[KEYS_MAX] = { false }, entry[KEYS_MAX] = { false };
	bool intro = false, after_tp = false;
	struct key_list kl;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/man/dvmilter.conf.5",
	    top != NULL ? top : "../..");
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	described_keys(&kl);
	while (fgets(line, sizeof(line), fp) != NULL) {
		bool start = strcmp(section, "KEYS READ ONLY AT START-UP") == 0;
		bool reload = strcmp(section, "KEYS APPLIED ON RELOAD") == 0;
		int k = -1;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			snprintf(section, sizeof(section), "%.100s", line + 4);
			intro = true;
			continue;
		}
		if (strcmp(line, ".TP") == 0 || strcmp(line, ".TQ") == 0) {
			intro = false;
			after_tp = true;
			continue;
		}
		if ((strncmp(line, ".B ", 3) == 0 || strncmp(line, ".BR ", 4) == 0
		    || strncmp(line, ".BI ", 4) == 0) &&
		    sscanf(strchr(line, ' ') + 1, "%63[A-Za-z]", word) == 1)
			k = key_index(&kl, word);
		if (k >= 0 && after_tp)
			entry[k] = true;
		if (k >= 0 && start && (intro || after_tp))
			in_man[k] = true;
		if (k >= 0 && reload && after_tp && kl.restart[k])
			fail_msg("%s is under KEYS APPLIED ON RELOAD but only a "
			    "restart applies it", word);
		after_tp = false;
	}
	fclose(fp);
	for (size_t i = 0; i < kl.n; i++) {
		if (in_man[i] != kl.restart[i])
			fail_msg("%s: the table says %s, dvmilter.conf(5) says "
			    "%s", kl.name[i], kl.restart[i] ? "restart" :
			    "reload", in_man[i] ? "restart" : "reload");
		if (!entry[i])
			fail_msg("%s has no entry in dvmilter.conf(5)",
			    kl.name[i]);
	}
}

/* Changing any restart-only key is reported, and by its name alone. */
static void
every_restart_key_change_reported(void **state)
{
	static const struct { const char *line, *key; } cases[] = {
		{ "Socket inet:1@127.0.0.1", "Socket" },
		{ "SocketMode 0600", "SocketMode" },
		{ "SocketGroup mail", "SocketGroup" },
		{ "Database /tmp/dv", "Database" },
		{ "UserID nobody", "UserID" },
		{ "PidFile /run/x.pid", "PidFile" },
		{ "PluginDir /tmp", "PluginDir" },
		{ "Plugins none", "Plugins" },
		{ "TrackingTokenPrefix X:", "TrackingTokenPrefix" },
		{ "TrackingTokenKeyFile /tmp/k", "TrackingTokenKeyFile" },
		{ "OutboxRetention 1d", "OutboxRetention" },
		{ "RetryBaseDelay 1m", "RetryBaseDelay" },
		{ "RetryMaxDelay 2h", "RetryMaxDelay" },
		{ "RetryMaxAttempts 5", "RetryMaxAttempts" },
		{ "MaxMessageParts 10", "MaxMessageParts" },
		{ "MaxMessageDepth 5", "MaxMessageDepth" },
		{ "MaxAttachments 5", "MaxAttachments" },
		{ "MaxAttachmentBytes 1M", "MaxAttachmentBytes" },
		{ "MaxDecodedBytes 1M", "MaxDecodedBytes" },
		{ "DeliveryCrashLimit 5", "DeliveryCrashLimit" },
		{ "WorkerMemoryLimit 0", "WorkerMemoryLimit" },
		{ "PluginHoldFirst 1m", "PluginHoldFirst" },
		{ "PluginHoldMax 1h", "PluginHoldMax" },
		{ "LogLevel debug", "" },
		{ "MaxRecipients 5", "" },
		{ "Syslog no", "" },
		{ "MaxMessageSize 1M", "" },
		{ "UnapprovedRecipientReply 550 5.7.1 other text", "" },
		{ "InternalHosts none", "" },
		{ "SmartMatching yes", "" },
	};
	struct key_list kl;
	struct conf *a, *b;
	const char *err;
	char text[128], out[256];
	size_t nrestart = 0, ncases = 0;

	(void)state;
	described_keys(&kl);
	assert_int_equal(conf_parse_string("a", "", &a, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s\n", cases[i].line);
		if (conf_parse_string("b", text, &b, &err) != 0)
			fail_msg("%s: %s", cases[i].line, err);
		conf_restart_keys(a, b, out, sizeof(out));
		if (strcmp(out, cases[i].key) != 0)
			fail_msg("%s: reported \"%s\"", cases[i].line, out);
		conf_restart_keys(b, b, out, sizeof(out));
		assert_string_equal(out, "");
		conf_unref(b);
		ncases += cases[i].key[0] != '\0';
	}
	for (size_t i = 0; i < kl.n; i++)
		nrestart += kl.restart[i];
	assert_int_equal(ncases, nrestart);	/* a case for every one */
	conf_unref(a);
}

/* Values the typed setters refuse: file, line, key and value named. */
static void
typed_errors_name_key_and_value(void **state)
{
	static const struct err_case cases[] = {
		{ "MaxMessageSize 12x\n",
		    "e.conf:1: MaxMessageSize: \"12x\" is not a size" },
		{ "\nMaxRecipients 100001\n",
		    "e.conf:2: MaxRecipients: 100001 is out of range 1..100000" },
		{ "MaxRecipients 99999999999999999999\n",
		    "MaxRecipients: \"99999999999999999999\" is not a number" },
		{ "MaxRecipients -1\n", "MaxRecipients: \"-1\" is not a number" },
		{ "SyslogFacility kern\n", "e.conf:1: SyslogFacility: unknown "
		    "syslog facility \"kern\" (mail, daemon, user, local0" },
		{ "StoreErrorAction drop\n", "e.conf:1: StoreErrorAction: "
		    "unknown action \"drop\" (accept, reject, tempfail)" },
		{ "SmartMatching perhaps\n",
		    "SmartMatching: \"perhaps\" is not yes or no" },
		{ "OutboxRetention 5215w\n", "OutboxRetention: 5215w is out of "
		    "range: at least 0 seconds, at most 100 years" },
		{ "SocketMode 1000\n",
		    "SocketMode: \"1000\" is not an octal mode like 0660" },
		{ "PluginDir lib\n",
		    "PluginDir: \"lib\" is not an absolute path" },
		{ "Plugins none\nLocal.SubmissionURL smtp://x\n",
		    "e.conf:2: local.SubmissionURL is for plugin \"local\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf *c = NULL;
		const char *err = "";
		int rc = conf_parse_string("e.conf", cases[i].text, &c, &err);

		if (rc == 0) {
			conf_unref(c);
			fail_msg("accepted: %s", cases[i].text);
		}
		assert_int_equal(rc, DV_ECONF);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("\"%s\" lacks \"%s\"", err, cases[i].msg);
	}
}

/* CaseRateLimit: two numbers (0 = off), "none", the default 10 60. */
static void
case_rate_limit_parses_two_numbers_or_none(void **state)
{
	static const struct {
		const char *value;
		int rc;
		unsigned sender, queue;
		const char *error;
	} cases[] = {
		{ NULL, 0, 10, 60, NULL },
		{ "5 30", 0, 5, 30, NULL },
		{ "  0\t100000 ", 0, 0, 100000, NULL },
		{ "none", 0, 0, 0, NULL },
		{ "NONE", 0, 0, 0, NULL },
		{ "5", DV_ECONF, 0, 0, "expected two numbers" },
		{ "5 6 7", DV_ECONF, 0, 0, "expected two numbers" },
		{ "5 -1", DV_ECONF, 0, 0, "\"-1\"" },
		{ "100001 1", DV_ECONF, 0, 0, "100001" },
		{ "0000000000000000000000010 1", DV_ECONF, 0, 0,
		    "expected two numbers" },
		{ "5/h 60", DV_ECONF, 0, 0, "5/h" },
	};
	char text[200];
	const char *err;
	struct conf *c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		snprintf(text, sizeof(text), "%s%s\n", cases[i].value ?
		    "CaseRateLimit " : "", cases[i].value ? cases[i].value : "");
		rc = conf_parse_string("r.conf", text, &c, &err);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": %d (%s)", text, rc,
			    rc ? err : "accepted");
		if (rc != 0) {
			if (strstr(err, cases[i].error) == NULL ||
			    strstr(err, "CaseRateLimit") == NULL)
				fail_msg("\"%s\": %s", text, err);
			continue;
		}
		assert_int_equal(c->case_rate_sender, cases[i].sender);
		assert_int_equal(c->case_rate_queue, cases[i].queue);
		conf_unref(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_safe),
		cmocka_unit_test(full_config_parsed),
		cmocka_unit_test(socket_forms),
		cmocka_unit_test(every_error_names_file_line_and_problem),
		cmocka_unit_test(overlong_line_rejected),
		cmocka_unit_test(garbage_file_rejected),
		cmocka_unit_test(reply_format_substitutes_and_sanitises),
		cmocka_unit_test(restart_keys_listed),
		cmocka_unit_test(retention_durations_parse),
		cmocka_unit_test(refcount_keeps_snapshot_alive),
		cmocka_unit_test(keys_described_once_each_with_limits_and_default),
		cmocka_unit_test(man_page_restart_keys_match_table),
		cmocka_unit_test(every_restart_key_change_reported),
		cmocka_unit_test(typed_errors_name_key_and_value),
		cmocka_unit_test(case_rate_limit_parses_two_numbers_or_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

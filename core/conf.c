/*
 * conf.c - configuration parser.
 *
 * A table maps each key to a setter; setters validate their value fully,
 * so that a loaded struct conf is always usable and "dvmilter -n" catches
 * every mistake the daemon would trip over later. This module does not
 * open sockets, resolve names or touch the store.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <syslog.h>

#include "addr.h"
#include "buf.h"
#include "conf.h"
#include "caps.h"
#include "cval.h"
#include "log.h"
#include "status.h"

#define CONF_FILE_MAX	(1024 * 1024)

struct conf_key {
	const char *name;
	int (*set)(struct conf *c, const char *value, const char **error_r);
	bool restart;		/* only a restart applies a change */
};

/* --- value helpers ------------------------------------------------------ */

static int
set_str(char **dst, const char *v, const char **error_r)
{
	char *p = strdup(v);

	if (p == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	free(*dst);
	*dst = p;
	return 0;
}

static int
set_size(size_t *dst, const char *v, uint64_t min, const char **error_r)
{
	uint64_t n;
	int rc = cval_size(v, min, SIZE_MAX, &n, error_r);

	if (rc == 0)
		*dst = (size_t)n;
	return rc;
}

/* --- setters ------------------------------------------------------------ */

static int
set_socket(struct conf *c, const char *v, const char **error_r)
{
	struct sockaddr_un sun;
	char milter[600];
	const char *rest, *at;
	char host[300];
	uint64_t port;
	int n, rc;

	if (strncasecmp(v, "local:", 6) == 0 || strncasecmp(v, "unix:", 5) == 0) {
		rest = strchr(v, ':') + 1;
		if ((rc = cval_abs_path(rest, error_r)) != 0)
			return rc;
		if (strlen(rest) >= sizeof(sun.sun_path)) {
			*error_r = dv_error_set("socket path is longer than "
			    "%zu bytes", sizeof(sun.sun_path) - 1);
			return DV_EINVAL;
		}
		c->socket_kind = CONF_SOCK_UNIX;
		n = snprintf(milter, sizeof(milter), "local:%s", rest);
		if ((rc = set_str(&c->socket_path, rest, error_r)) != 0)
			return rc;
	} else if (strncasecmp(v, "inet:", 5) == 0 ||
	    strncasecmp(v, "inet6:", 6) == 0) {
		bool six = strncasecmp(v, "inet6:", 6) == 0;
		char portbuf[16];
		size_t plen;

		rest = v + (six ? 6 : 5);
		at = strchr(rest, '@');
		plen = at != NULL ? (size_t)(at - rest) : strlen(rest);
		if (plen == 0 || plen >= sizeof(portbuf)) {
			*error_r = dv_error_set("socket \"%s\": expected "
			    "%s:PORT@HOST", v, six ? "inet6" : "inet");
			return DV_EINVAL;
		}
		memcpy(portbuf, rest, plen);
		portbuf[plen] = '\0';
		if (cval_uint(portbuf, 1, 65535, &port, error_r) != 0) {
			*error_r = dv_error_set("socket \"%s\": bad port \"%s\"",
			    v, portbuf);
			return DV_EINVAL;
		}
		host[0] = '\0';
		if (at != NULL) {
			const char *h = at + 1;
			size_t hl = strlen(h);

			if (hl > 0 && h[0] == '[') {
				if (hl < 3 || h[hl - 1] != ']') {
					*error_r = dv_error_set("socket \"%s\": "
					    "unbalanced brackets", v);
					return DV_EINVAL;
				}
				h++;
				hl -= 2;
			}
			if (hl == 0 || hl >= sizeof(host) ||
			    strcspn(h, " \t[]@") < hl) {
				*error_r = dv_error_set("socket \"%s\": bad "
				    "host", v);
				return DV_EINVAL;
			}
			memcpy(host, h, hl);
			host[hl] = '\0';
		}
		c->socket_kind = six ? CONF_SOCK_INET6 : CONF_SOCK_INET;
		n = snprintf(milter, sizeof(milter), "%s:%u%s%s",
		    six ? "inet6" : "inet", (unsigned)port, host[0] ? "@" : "", host);
		free(c->socket_path);
		c->socket_path = NULL;
	} else {
		*error_r = dv_error_set("socket \"%s\": expected inet:PORT@HOST, "
		    "inet6:PORT@[ADDR], local:/path or unix:/path", v);
		return DV_EINVAL;
	}
	if (n < 0 || (size_t)n >= sizeof(milter)) {
		*error_r = dv_error_set("socket \"%s\" is too long", v);
		return DV_EINVAL;
	}
	if ((rc = set_str(&c->socket_milter, milter, error_r)) != 0)
		return rc;
	return set_str(&c->socket, v, error_r);
}

static int
set_socket_mode(struct conf *c, const char *v, const char **error_r)
{
	uint64_t m;

	if (cval_octal(v, 0, 0777, &m, error_r) != 0) {
		*error_r = dv_error_set("\"%s\" is not an octal mode like 0660",
		    v);
		return DV_EINVAL;
	}
	c->socket_mode = (mode_t)m;
	return 0;
}

static int
set_name(char **dst, const char *v, const char **error_r)
{
	if (strlen(v) > 64 || strcspn(v, " \t:/") != strlen(v)) {
		*error_r = dv_error_set("\"%s\" is not a valid name", v);
		return DV_EINVAL;
	}
	return set_str(dst, v, error_r);
}

static int
set_socket_group(struct conf *c, const char *v, const char **error_r)
{
	return set_name(&c->socket_group, v, error_r);
}

static int
set_database(struct conf *c, const char *v, const char **error_r)
{
	int rc = cval_abs_path(v, error_r);

	return rc != 0 ? rc : set_str(&c->database, v, error_r);
}

static int
set_mapsize(struct conf *c, const char *v, const char **error_r)
{
	return set_size(&c->database_mapsize, v, (size_t)1 << 20, error_r);
}

static int
set_mem_limit(struct conf *c, const char *v, const char **error_r)
{
	return set_size(&c->message_memory_limit, v, 4096, error_r);
}

static int
set_max_size(struct conf *c, const char *v, const char **error_r)
{
	return set_size(&c->max_message_size, v, 4096, error_r);
}

static int
set_spool_dir(struct conf *c, const char *v, const char **error_r)
{
	int rc = cval_abs_path(v, error_r);

	return rc != 0 ? rc : set_str(&c->spool_dir, v, error_r);
}

static int
set_userid(struct conf *c, const char *v, const char **error_r)
{
	const char *colon = strchr(v, ':');

	if (v[0] == '\0' || v[0] == ':' || strlen(v) > 130 ||
	    strcspn(v, " \t/") != strlen(v) ||
	    (colon != NULL && (colon[1] == '\0' || strchr(colon + 1, ':')))) {
		*error_r = dv_error_set("\"%s\" is not user or user:group", v);
		return DV_EINVAL;
	}
	return set_str(&c->userid, v, error_r);
}

static int
set_pidfile(struct conf *c, const char *v, const char **error_r)
{
	int rc = cval_abs_path(v, error_r);

	return rc != 0 ? rc : set_str(&c->pidfile, v, error_r);
}

static int
set_syslog(struct conf *c, const char *v, const char **error_r)
{
	return cval_bool(v, &c->syslog, error_r);
}

static int
set_token_in_subject(struct conf *c, const char *v, const char **error_r)
{
	return cval_bool(v, &c->token_in_subject, error_r);
}

static int
set_outbox_retention(struct conf *c, const char *v, const char **error_r)
{
	/* A century: past that, a typo rather than a retention policy. */
	return cval_duration(v, 0, (int64_t)100 * 365 * 86400,
	    &c->outbox_retention, error_r);
}

static int
set_smart_matching(struct conf *c, const char *v, const char **error_r)
{
	return cval_bool(v, &c->smart_matching, error_r);
}

static int
set_facility(struct conf *c, const char *v, const char **error_r)
{
	static const struct { const char *n; int f; } fac[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
		{ "user", LOG_USER }, { "local0", LOG_LOCAL0 },
		{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
		{ "local7", LOG_LOCAL7 },
	};

	for (size_t i = 0; i < sizeof(fac) / sizeof(fac[0]); i++)
		if (strcasecmp(v, fac[i].n) == 0) {
			c->syslog_facility = fac[i].f;
			return 0;
		}
	*error_r = dv_error_set("unknown syslog facility \"%s\" (mail, "
	    "daemon, user, local0..local7)", v);
	return DV_EINVAL;
}

static int
set_loglevel(struct conf *c, const char *v, const char **error_r)
{
	int l = log_level_parse(v);

	if (l < 0) {
		*error_r = dv_error_set("unknown log level \"%s\" (error, "
		    "warning, notice, info, debug)", v);
		return DV_EINVAL;
	}
	c->log_level = l;
	return 0;
}

static int
set_internal(struct conf *c, const char *v, const char **error_r)
{
	if (strcasecmp(v, "none") == 0) {
		cidr_list_free(&c->internal_hosts);
		return 0;
	}
	return cidr_list_parse(v, &c->internal_hosts, error_r);
}

static int
set_subaddr(struct conf *c, const char *v, const char **error_r)
{
	size_t len = strlen(v);

	if (strcasecmp(v, "none") == 0) {
		c->subaddress_seps[0] = '\0';
		return 0;
	}
	if (len == 0 || len >= sizeof(c->subaddress_seps)) {
		*error_r = dv_error_set("expected up to %zu separator "
		    "characters or \"none\"", sizeof(c->subaddress_seps) - 1);
		return DV_EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (strchr("+-_=.#~", v[i]) == NULL) {
			*error_r = dv_error_set("'%c' cannot be a subaddress "
			    "separator (use some of + - _ = . # ~)", v[i]);
			return DV_EINVAL;
		}
	memcpy(c->subaddress_seps, v, len + 1);
	return 0;
}

static int
set_max_rcpt(struct conf *c, const char *v, const char **error_r)
{
	uint64_t n;
	int rc = cval_uint(v, 1, 100000, &n, error_r);

	if (rc == 0)
		c->max_recipients = (unsigned)n;
	return rc;
}

static int
parse_action(const char *v, bool allow_accept, enum conf_action *out,
    const char **error_r)
{
	if (strcasecmp(v, "reject") == 0)
		*out = CONF_REJECT;
	else if (strcasecmp(v, "tempfail") == 0)
		*out = CONF_TEMPFAIL;
	else if (allow_accept && strcasecmp(v, "accept") == 0)
		*out = CONF_ACCEPT;
	else {
		*error_r = dv_error_set("unknown action \"%s\" (accept, reject, "
		    "tempfail)", v);
		return DV_EINVAL;
	}
	return 0;
}

/* "550 5.7.1 text": three-digit code, enhanced code, text. */
static int
parse_reply(const char *v, struct conf_reply *r, const char **error_r)
{
	const char *p = v, *x;
	size_t xl;
	int rc;

	if (!(p[0] >= '4' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && p[3] == ' ')) {
		*error_r = dv_error_set("reply must start with a 4xx or 5xx "
		    "code: \"%s\"", v);
		return DV_EINVAL;
	}
	x = p + 4;
	xl = strcspn(x, " ");
	{
		/* class "." 1-3 digits "." 1-3 digits, as libmilter checks */
		size_t i = 2, d1 = 0, d2 = 0;

		while (i < xl && x[i] >= '0' && x[i] <= '9') {
			i++;
			d1++;
		}
		if (i < xl && x[i] == '.')
			i++;
		else
			d1 = 0;
		while (i < xl && x[i] >= '0' && x[i] <= '9') {
			i++;
			d2++;
		}
		if (xl >= sizeof(r->xcode) || x[0] != p[0] || x[1] != '.' ||
		    d1 < 1 || d1 > 3 || d2 < 1 || d2 > 3 || i != xl) {
			*error_r = dv_error_set("reply needs an enhanced status "
			    "code of the same class after the code (like "
			    "\"550 5.7.1 ...\"): \"%s\"", v);
			return DV_EINVAL;
		}
	}
	if (x[xl] != ' ' || x[xl + 1] == '\0') {
		*error_r = dv_error_set("reply has no text: \"%s\"", v);
		return DV_EINVAL;
	}
	for (const char *t = x + xl + 1; *t != '\0'; t++) {
		if ((unsigned char)*t < 0x20 || *t == 0x7f) {
			*error_r = dv_error_set("reply text has a control "
			    "character");
			return DV_EINVAL;
		}
		if (*t == '%') {
			if (t[1] == 'a' || t[1] == '%') {
				t++;
				continue;
			}
			*error_r = dv_error_set("reply text may use only %%a "
			    "and %%%%: \"%s\"", v);
			return DV_EINVAL;
		}
	}
	if (strlen(x + xl + 1) > DV_REPLY_TEXT_MAX / 2) {
		*error_r = dv_error_set("reply text is longer than %d bytes",
		    DV_REPLY_TEXT_MAX / 2);
		return DV_EINVAL;
	}
	memcpy(r->code, p, 3);
	r->code[3] = '\0';
	memcpy(r->xcode, x, xl);
	r->xcode[xl] = '\0';
	if ((rc = set_str(&r->text, x + xl + 1, error_r)) != 0)
		return rc;
	return 0;
}

#define RULE_SETTERS(fn, field, allow_accept)				\
static int								\
fn##_action(struct conf *c, const char *v, const char **error_r)	\
{									\
	return parse_action(v, allow_accept, &c->field.action, error_r);\
}									\
static int								\
fn##_reply(struct conf *c, const char *v, const char **error_r)		\
{									\
	return parse_reply(v, &c->field.reply, error_r);		\
}

RULE_SETTERS(set_unapproved_rcpt, unapproved_rcpt, true)
RULE_SETTERS(set_unapproved_sender, unapproved_sender, true)
RULE_SETTERS(set_unknown_rcpt, unknown_rcpt, true)
RULE_SETTERS(set_malformed, malformed, true)
RULE_SETTERS(set_store_error, store_error, true)

static void
free_list(char **l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/*
 * Parse a list separated by commas and/or white space into a new
 * NULL-terminated list; @item checks one entry and makes the string to
 * keep (it sees the entries kept so far, to refuse repeats).
 */
static int
parse_list(const char *v,
    int (*item)(const char *p, size_t len, char *const *sofar, char **out,
    const char **error_r), char ***list_r, const char **error_r)
{
	char **list = NULL, **nl;
	size_t n = 0;
	const char *p = v;

	while (*p != '\0') {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if ((nl = realloc(list, (n + 2) * sizeof(*list))) == NULL)
			goto oom;
		list = nl;
		list[n] = NULL;
		if (item(p, len, list, &list[n], error_r) != 0)
			goto fail;
		if (list[n] == NULL)
			goto oom;
		list[++n] = NULL;
		p += len;
	}
	*list_r = list;
	return 0;
oom:
	*error_r = dv_error_set("out of memory");
fail:
	free_list(list);
	return DV_EINVAL;
}

static int
domain_item(const char *p, size_t len, char *const *sofar, char **out,
    const char **error_r)
{
	char tok[DV_DOMAIN_MAX + 8], addr[DV_ADDR_MAX + 1];

	if (len > DV_DOMAIN_MAX) {
		*error_r = dv_error_set("domain \"%.40s...\" is too long", p);
		return -1;
	}
	/* Normalise through the address code: one IDN path. */
	snprintf(tok, sizeof(tok), "x@%.*s", (int)len, p);
	if (addr_normalize(tok, NULL, addr, sizeof(addr), error_r) != 0) {
		*error_r = dv_error_set("bad domain \"%.*s\": %s", (int)len, p,
		    *error_r);
		return -1;
	}
	*out = strdup(addr + 2);
	return 0;
}

static int
set_unknown_domains(struct conf *c, const char *v, const char **error_r)
{
	char **list;
	int rc = parse_list(v, domain_item, &list, error_r);

	if (rc != 0)
		return rc;
	free_list(c->unknown_rcpt_domains);
	c->unknown_rcpt_domains = list;
	return 0;
}

static int
plugin_item(const char *p, size_t len, char *const *sofar, char **out,
    const char **error_r)
{
	if (len > 64) {
		*error_r = dv_error_set("plugin name \"%.20s...\" is too long",
		    p);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '_' || p[i] == '-')) {
			*error_r = dv_error_set("bad plugin name \"%.*s\" "
			    "(letters, digits, - and _)", (int)len, p);
			return -1;
		}
	for (size_t i = 0; sofar[i] != NULL; i++)
		if (strncasecmp(sofar[i], p, len) == 0 && sofar[i][len] == '\0') {
			*error_r = dv_error_set("plugin \"%.*s\" is listed "
			    "twice", (int)len, p);
			return -1;
		}
	if ((*out = strndup(p, len)) != NULL)
		for (char *q = *out; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	return 0;
}

static int
set_plugins(struct conf *c, const char *v, const char **error_r)
{
	char **list = NULL;
	int rc = 0;

	/* "none": no plugins, so no tracking at all. */
	if (strcasecmp(v, "none") != 0 &&
	    (rc = parse_list(v, plugin_item, &list, error_r)) != 0)
		return rc;
	free_list(c->plugins);
	c->plugins = list;
	return 0;
}

static int
set_plugin_dir(struct conf *c, const char *v, const char **error_r)
{
	int rc = cval_abs_path(v, error_r);

	return rc != 0 ? rc : set_str(&c->plugin_dir, v, error_r);
}

static int
set_token_prefix(struct conf *c, const char *v, const char **error_r)
{
	size_t n = strlen(v);

	if (n == 0 || n > 20 || strcspn(v, " \t\"") != n) {
		*error_r = dv_error_set("\"%s\" is not 1 to 20 characters "
		    "without spaces", v);
		return DV_EINVAL;
	}
	return set_str(&c->token_prefix, v, error_r);
}

static int
set_token_key(struct conf *c, const char *v, const char **error_r)
{
	int rc = cval_abs_path(v, error_r);

	return rc != 0 ? rc : set_str(&c->token_key_file, v, error_r);
}

static const struct conf_key conf_keys[] = {
	{ "Socket", set_socket, true },
	{ "SocketMode", set_socket_mode, true },
	{ "SocketGroup", set_socket_group, true },
	{ "Database", set_database, true },
	{ "DatabaseMapSize", set_mapsize, true },
	{ "UserID", set_userid, true },
	{ "PidFile", set_pidfile, true },
	{ "Syslog", set_syslog, false },
	{ "SyslogFacility", set_facility, false },
	{ "LogLevel", set_loglevel, false },
	{ "InternalHosts", set_internal, false },
	{ "SubaddressSeparator", set_subaddr, false },
	{ "MaxRecipients", set_max_rcpt, false },
	{ "UnapprovedRecipientAction", set_unapproved_rcpt_action, false },
	{ "UnapprovedRecipientReply", set_unapproved_rcpt_reply, false },
	{ "UnapprovedSenderAction", set_unapproved_sender_action, false },
	{ "UnapprovedSenderReply", set_unapproved_sender_reply, false },
	{ "UnknownRecipientAction", set_unknown_rcpt_action, false },
	{ "UnknownRecipientReply", set_unknown_rcpt_reply, false },
	{ "UnknownRecipientDomains", set_unknown_domains, false },
	{ "MalformedAddressAction", set_malformed_action, false },
	{ "MalformedAddressReply", set_malformed_reply, false },
	{ "StoreErrorAction", set_store_error_action, false },
	{ "StoreErrorReply", set_store_error_reply, false },
	{ "Plugins", set_plugins, true },
	{ "PluginDir", set_plugin_dir, true },
	{ "MessageMemoryLimit", set_mem_limit, false },
	{ "MaxMessageSize", set_max_size, false },
	{ "SpoolDirectory", set_spool_dir, false },
	{ "TrackingTokenPrefix", set_token_prefix, true },
	{ "TrackingTokenKeyFile", set_token_key, true },
	{ "TrackingTokenInSubject", set_token_in_subject, false },
	{ "SmartMatching", set_smart_matching, false },
	{ "OutboxRetention", set_outbox_retention, true },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* --- defaults, lifetime --------------------------------------------------- */

static void
conf_free(struct conf *c)
{
	free(c->path);
	free(c->socket);
	free(c->socket_milter);
	free(c->socket_path);
	free(c->socket_group);
	free(c->database);
	free(c->userid);
	free(c->pidfile);
	cidr_list_free(&c->internal_hosts);
	free(c->unapproved_rcpt.reply.text);
	free(c->unapproved_sender.reply.text);
	free(c->unknown_rcpt.reply.text);
	free(c->malformed.reply.text);
	free(c->store_error.reply.text);
	free_list(c->unknown_rcpt_domains);
	free_list(c->plugins);
	free(c->plugin_dir);
	free(c->spool_dir);
	free(c->token_prefix);
	free(c->token_key_file);
	for (size_t i = 0; i < c->nplugin_keys; i++) {
		free(c->plugin_keys[i].plugin);
		free(c->plugin_keys[i].key);
		free(c->plugin_keys[i].value);
	}
	free(c->plugin_keys);
	free(c);
}

static int
conf_set_defaults(struct conf *c, const char **error_r)
{
	static const struct { const char *key, *value; } defs[] = {
		{ "Socket", "local:/run/dvmilter/dvmilter.sock" },
		{ "Database", "/var/lib/dvmilter" },
		{ "InternalHosts", "127.0.0.1, ::1" },
		{ "UnapprovedRecipientReply",
		    "550 5.7.1 <%a>: mailbox is not approved" },
		{ "UnapprovedSenderReply",
		    "550 5.7.1 <%a>: sender mailbox is not approved for "
		    "outgoing mail" },
		{ "UnknownRecipientReply", "550 5.1.1 <%a>: no such mailbox" },
		{ "MalformedAddressReply", "553 5.1.3 <%a>: malformed address" },
		{ "StoreErrorReply",
		    "451 4.3.0 <%a>: mailbox lookup failed, try again later" },
		{ "PluginDir", DV_PLUGINDIR },
		{ "Plugins", "local" },
		{ "SpoolDirectory", "/var/tmp" },
		{ "TrackingTokenPrefix", "CRM:" },
	};
	int rc;

	atomic_init(&c->refs, 1);
	c->socket_mode = 0660;
	c->database_mapsize = 0;
	c->syslog = true;
	c->token_in_subject = true;
	c->syslog_facility = LOG_MAIL;
	c->log_level = LOG_LVL_INFO;
	memcpy(c->subaddress_seps, "+", 2);
	c->max_recipients = 1000;
	c->message_memory_limit = (size_t)1 << 20;
	c->max_message_size = (size_t)25 << 20;
	c->outbox_retention = 7 * 86400;
	c->unapproved_rcpt.action = CONF_REJECT;
	c->unapproved_sender.action = CONF_REJECT;
	c->unknown_rcpt.action = CONF_ACCEPT;
	c->malformed.action = CONF_REJECT;
	c->store_error.action = CONF_TEMPFAIL;
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		for (size_t k = 0; k < NKEYS; k++)
			if (strcmp(conf_keys[k].name, defs[i].key) == 0 &&
			    (rc = conf_keys[k].set(c, defs[i].value,
			    error_r)) != 0)
				return rc;
	return 0;
}

int
conf_defaults(struct conf **conf_r)
{
	const char *err;
	struct conf *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return ENOMEM;
	if (conf_set_defaults(c, &err) != 0) {
		conf_free(c);
		return ENOMEM;
	}
	*conf_r = c;
	return 0;
}

struct conf *
conf_ref(struct conf *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		conf_free(c);
}

/* --- parsing ------------------------------------------------------------ */

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[40], cur[40];

	if (la >= 39 || lb >= 39)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ?
			    0 : 1;
			size_t m = prev[j] + 1;
			if (cur[j - 1] + 1 < m)
				m = cur[j - 1] + 1;
			if (prev[j - 1] + cost < m)
				m = prev[j - 1] + cost;
			cur[j] = m;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

static const struct conf_key *
find_key(const char *name, const char **suggest_r)
{
	size_t best = 3;

	*suggest_r = NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t d;

		if (strcasecmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
		if ((d = edit_distance(conf_keys[i].name, name)) < best) {
			best = d;
			*suggest_r = conf_keys[i].name;
		}
	}
	return NULL;
}

/* Record "Plugin.Key value"; checked against Plugins in conf_validate. */
static int
add_plugin_key(struct conf *c, const char *key, const char *value,
    unsigned line, const char **error_r)
{
	const char *dot = strchr(key, '.');
	struct conf_plugin_key *nk, *k;

	if (dot == key || dot[1] == '\0' || strchr(dot + 1, '.') != NULL) {
		*error_r = dv_error_set("\"%s\" is not a Plugin.Key name", key);
		return DV_EINVAL;
	}
	if (value[0] == '\0') {
		*error_r = dv_error_set("%s needs a value", key);
		return DV_EINVAL;
	}
	for (size_t i = 0; i < c->nplugin_keys; i++)
		if (strncasecmp(c->plugin_keys[i].plugin, key,
		    (size_t)(dot - key)) == 0 &&
		    c->plugin_keys[i].plugin[dot - key] == '\0' &&
		    strcasecmp(c->plugin_keys[i].key, dot + 1) == 0) {
			*error_r = dv_error_set("%s is set twice", key);
			return DV_EINVAL;
		}
	nk = realloc(c->plugin_keys, (c->nplugin_keys + 1) * sizeof(*nk));
	if (nk == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	c->plugin_keys = nk;
	k = &nk[c->nplugin_keys];
	k->plugin = strndup(key, (size_t)(dot - key));
	k->key = strdup(dot + 1);
	k->value = strdup(value);
	k->line = line;
	if (k->plugin == NULL || k->key == NULL || k->value == NULL) {
		free(k->plugin);
		free(k->key);
		free(k->value);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	for (char *q = k->plugin; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	c->nplugin_keys++;
	return 0;
}

/* Split one line into key and value in place; both may come back "". */
static int
split_line(char *line, char **key_r, char **value_r, const char **error_r)
{
	char *p = line, *end;
	bool quoted = false;

	/* Cut the comment: a '#' outside double quotes. */
	for (end = p; *end != '\0'; end++) {
		if (*end == '"')
			quoted = !quoted;
		else if (*end == '#' && !quoted) {
			*end = '\0';
			break;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	*key_r = p;
	p += strcspn(p, " \t");
	if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
	}
	/* A value in double quotes keeps its spaces and '#'. */
	if (p[0] == '"') {
		size_t vl = strlen(p);

		if (vl < 2 || p[vl - 1] != '"') {
			*error_r = dv_error_set("unterminated quoted value");
			return DV_EINVAL;
		}
		p[vl - 1] = '\0';
		p++;
	}
	*value_r = p;
	return 0;
}

static int
conf_validate(const struct conf *c, const char **error_r)
{
	const struct { const char *key; const struct conf_rule *r; } rules[] = {
		{ "UnapprovedRecipient", &c->unapproved_rcpt },
		{ "UnapprovedSender", &c->unapproved_sender },
		{ "UnknownRecipient", &c->unknown_rcpt },
		{ "MalformedAddress", &c->malformed },
		{ "StoreError", &c->store_error },
	};

	/* libmilter drops a reply whose class contradicts the verdict. */
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char want = rules[i].r->action == CONF_REJECT ? '5' :
		    rules[i].r->action == CONF_TEMPFAIL ? '4' : 0;

		if (want != 0 && rules[i].r->reply.code[0] != want) {
			*error_r = dv_error_set("%sAction is %s but "
			    "%sReply has code %s; use a %cxx code",
			    rules[i].key, conf_action_name(rules[i].r->action),
			    rules[i].key, rules[i].r->reply.code, want);
			return DV_EINVAL;
		}
	}
	if (c->unknown_rcpt.action != CONF_ACCEPT &&
	    c->unknown_rcpt_domains == NULL) {
		*error_r = dv_error_set("UnknownRecipientAction %s needs "
		    "UnknownRecipientDomains", conf_action_name(
		    c->unknown_rcpt.action));
		return DV_EINVAL;
	}
	return 0;
}

int
conf_parse_string(const char *name, const char *text, struct conf **conf_r,
    const char **error_r)
{
	bool seen[NKEYS] = { false };
	struct conf *c;
	const char *p = text, *err;
	unsigned lineno = 0;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*error_r = dv_error_set("%s: out of memory", name);
		return ENOMEM;
	}
	if ((rc = conf_set_defaults(c, &err)) != 0 ||
	    (rc = set_str(&c->path, name, &err)) != 0) {
		*error_r = dv_error_set("%s: %s", name, err);
		goto fail;
	}
	while (*p != '\0') {
		char line[DV_CONF_LINE_MAX + 1], *key, *value;
		const char *suggest;
		const struct conf_key *k;
		size_t len = strcspn(p, "\n");

		lineno++;
		if (len > DV_CONF_LINE_MAX) {
			*error_r = dv_error_set("%s:%u: line is longer than %d "
			    "bytes", name, lineno, DV_CONF_LINE_MAX);
			rc = DV_ECONF;
			goto fail;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (p[len] == '\n');
		for (size_t i = 0; i < len; i++)
			if (((unsigned char)line[i] < 0x20 && line[i] != '\t' &&
			    line[i] != '\r') || line[i] == 0x7f) {
				*error_r = dv_error_set("%s:%u: control character "
				    "(0x%02x) in line", name, lineno,
				    (unsigned char)line[i]);
				rc = DV_ECONF;
				goto fail;
			}
		if (split_line(line, &key, &value, &err) != 0) {
			*error_r = dv_error_set("%s:%u: %s", name, lineno, err);
			rc = DV_ECONF;
			goto fail;
		}
		if (key[0] == '\0')
			continue;
		if (strchr(key, '.') != NULL) {
			if ((rc = add_plugin_key(c, key, value, lineno,
			    &err)) != 0) {
				*error_r = dv_error_set("%s:%u: %s", name, lineno,
				    err);
				rc = rc == ENOMEM ? ENOMEM : DV_ECONF;
				goto fail;
			}
			continue;
		}
		if ((k = find_key(key, &suggest)) == NULL) {
			if (suggest != NULL)
				*error_r = dv_error_set("%s:%u: unknown key \"%s\""
				    " (did you mean \"%s\"?)", name, lineno, key,
				    suggest);
			else
				*error_r = dv_error_set("%s:%u: unknown key "
				    "\"%s\"", name, lineno, key);
			rc = DV_ECONF;
			goto fail;
		}
		if (seen[k - conf_keys]) {
			*error_r = dv_error_set("%s:%u: %s is set twice", name,
			    lineno, k->name);
			rc = DV_ECONF;
			goto fail;
		}
		seen[k - conf_keys] = true;
		if (value[0] == '\0') {
			*error_r = dv_error_set("%s:%u: %s needs a value", name,
			    lineno, k->name);
			rc = DV_ECONF;
			goto fail;
		}
		if ((rc = k->set(c, value, &err)) != 0) {
			*error_r = dv_error_set("%s:%u: %s: %s", name, lineno,
			    k->name, err);
			rc = rc == ENOMEM ? ENOMEM : DV_ECONF;
			goto fail;
		}
	}
	for (size_t i = 0; i < c->nplugin_keys; i++) {
		const struct conf_plugin_key *k = &c->plugin_keys[i];
		bool listed = false;

		for (size_t j = 0; c->plugins != NULL && c->plugins[j]; j++)
			if (strcmp(c->plugins[j], k->plugin) == 0)
				listed = true;
		if (!listed) {
			*error_r = dv_error_set("%s:%u: %s.%s is for plugin "
			    "\"%s\", which Plugins does not list", name,
			    k->line, k->plugin, k->key, k->plugin);
			rc = DV_ECONF;
			goto fail;
		}
	}
	if ((rc = conf_validate(c, &err)) != 0) {
		*error_r = dv_error_set("%s: %s", name, err);
		rc = DV_ECONF;
		goto fail;
	}
	*conf_r = c;
	return 0;
fail:
	conf_free(c);
	return rc;
}

int
conf_load(const char *path, struct conf **conf_r, const char **error_r)
{
	struct dbuf b;
	char chunk[8192];
	FILE *fp;
	size_t n;
	int rc;

	if ((fp = fopen(path, "r")) == NULL) {
		rc = errno;
		*error_r = dv_error_set("%s: %s", path, strerror(rc));
		return rc;
	}
	dbuf_init(&b, CONF_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (memchr(chunk, '\0', n) != NULL) {
			*error_r = dv_error_set("%s: contains NUL bytes; not a "
			    "text file", path);
			rc = DV_ECONF;
			goto out;
		}
		if ((rc = dbuf_add(&b, chunk, n)) != 0) {
			*error_r = dv_error_set("%s: larger than %d bytes", path,
			    CONF_FILE_MAX);
			rc = DV_ECONF;
			goto out;
		}
	}
	if (ferror(fp)) {
		rc = errno ? errno : EIO;
		*error_r = dv_error_set("%s: read error: %s", path,
		    strerror(rc));
		goto out;
	}
	rc = conf_parse_string(path, dbuf_str(&b), conf_r, error_r);
out:
	dbuf_free(&b);
	fclose(fp);
	return rc;
}

/* --- helpers for users of a snapshot ------------------------------------ */

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
lists_eq(char *const *a, char *const *b)
{
	size_t i = 0;

	if (a == NULL || b == NULL)
		return a == b;
	for (; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == b[i];
}

void
conf_restart_keys(const struct conf *a, const struct conf *b, char *out,
    size_t outsz)
{
	const struct { const char *key; bool same; } keys[] = {
		{ "Socket", str_eq(a->socket, b->socket) },
		{ "SocketMode", a->socket_mode == b->socket_mode },
		{ "SocketGroup", str_eq(a->socket_group, b->socket_group) },
		{ "Database", str_eq(a->database, b->database) },
		{ "DatabaseMapSize", a->database_mapsize == b->database_mapsize },
		{ "UserID", str_eq(a->userid, b->userid) },
		{ "PidFile", str_eq(a->pidfile, b->pidfile) },
		{ "PluginDir", str_eq(a->plugin_dir, b->plugin_dir) },
		{ "Plugins", lists_eq(a->plugins, b->plugins) },
		{ "TrackingTokenPrefix", str_eq(a->token_prefix, b->token_prefix) },
		{ "TrackingTokenKeyFile", str_eq(a->token_key_file,
		    b->token_key_file) },
		{ "OutboxRetention", a->outbox_retention ==
		    b->outbox_retention },
	};
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int n;

		if (keys[i].same)
			continue;
		n = snprintf(out + used, outsz - used, "%s%s",
		    used ? ", " : "", keys[i].key);
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
}

void
conf_reply_format(const struct conf_reply *r, const char *addr, char *out,
    size_t outsz)
{
	size_t o = 0;

	for (const char *t = r->text; *t != '\0' && o + 1 < outsz; t++) {
		if (t[0] == '%' && t[1] == '%') {
			out[o++] = '%';
			t++;
		} else if (t[0] == '%' && t[1] == 'a') {
			for (const char *a = addr; *a != '\0' && o + 1 < outsz;
			    a++) {
				unsigned char ch = (unsigned char)*a;

				/* Keep the reply one clean line. */
				if (ch < 0x20 || ch == 0x7f || ch == '<' ||
				    ch == '>')
					continue;
				out[o++] = *a;
			}
			t++;
		} else
			out[o++] = *t;
	}
	out[o] = '\0';
}

const char *
conf_action_name(enum conf_action a)
{
	switch (a) {
	case CONF_ACCEPT:	return "accept";
	case CONF_REJECT:	return "reject";
	case CONF_TEMPFAIL:	return "tempfail";
	}
	return "?";
}

const char *
conf_plugin_value(const struct conf *c, const char *plugin, const char *key)
{
	for (size_t i = 0; i < c->nplugin_keys; i++)
		if (strcasecmp(c->plugin_keys[i].plugin, plugin) == 0 &&
		    strcasecmp(c->plugin_keys[i].key, key) == 0)
			return c->plugin_keys[i].value;
	return NULL;
}

void
conf_token_key_path(const struct conf *c, char *out, size_t outsz)
{
	if (c->token_key_file != NULL)
		snprintf(out, outsz, "%s", c->token_key_file);
	else
		snprintf(out, outsz, "%s/token.key", c->database);
}

bool
conf_domain_listed(char *const *list, const char *domain)
{
	if (list == NULL || domain == NULL)
		return false;
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], domain) == 0)
			return true;
	return false;
}

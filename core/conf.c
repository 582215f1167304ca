/*
 * conf.c - configuration parser.
 *
 * One table, conf_keys[], says for each key its type, where in struct
 * conf it is stored, its limits, its default and whether only a restart
 * applies it, in the manner of nginx's ngx_command_t. Generic setters
 * built on cval.h handle the typed keys; the few keys with a syntax of
 * their own (Socket, reply templates, InternalHosts...) have a custom
 * setter. Every value is validated fully, so that a loaded struct conf
 * is always usable and "dvmilter -n" catches every mistake the daemon
 * would trip over later. This module does not open sockets, resolve
 * names, read key files or touch the store.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
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

/* How a key's value is parsed and stored at conf_key.off. */
enum conf_type {
	CONF_T_STRING,		/* char *; .check validates it first */
	CONF_T_PATH,		/* char *; an absolute path */
	CONF_T_BOOL,		/* bool */
	CONF_T_UINT,		/* unsigned; decimal in .min...max */
	CONF_T_MODE,		/* mode_t; octal in .min...max */
	CONF_T_SIZE,		/* size_t; bytes, K/M/G/T, in .min...max */
	CONF_T_DURATION,	/* int64_t; seconds, s/m/h/d/w, .min...max */
	CONF_T_ENUM,		/* int; one of .names */
	CONF_T_LIST,		/* char **, NULL-terminated; .item checks */
	CONF_T_CUSTOM		/* .set does everything; never restart-only */
};

#define CONF_RESTART	0x1	/* only a restart applies a change */
#define CONF_NONE	0x2	/* LIST: "none" is the empty list */

struct conf_name {
	const char *name;
	int value;
};

struct conf_key {
	const char *name;
	enum conf_type type;
	unsigned flags;			/* CONF_RESTART, CONF_NONE */
	size_t off;			/* offsetof(struct conf, field) */
	const char *def;		/* default as written; NULL: zero */
	uint64_t min, max;		/* UINT, MODE, SIZE, DURATION */
	const struct conf_name *names;	/* ENUM; NULL-terminated */
	const char *what;		/* ENUM: "unknown <what> \"x\"" */
	/* STRING: check @v before it is stored; may set derived fields. */
	int (*check)(struct conf *c, const char *v, const char **error_r);
	/* LIST: check one entry and make the copy to keep. */
	int (*item)(const char *p, size_t len, char *const *sofar,
	    char **out, const char **error_r);
	/* CUSTOM: parse @v into @c. */
	int (*set)(struct conf *c, const struct conf_key *k, const char *v,
	    const char **error_r);
};

#define OFF(field)	offsetof(struct conf, field)
#define FIELD(c, k, type) ((type *)(void *)((char *)(c) + (k)->off))
#define CFIELD(c, k, type) \
	((type const *)(const void *)((const char *)(c) + (k)->off))

/* A century: past that, a duration is a typo, not a policy. */
#define CENTURY		((uint64_t)100 * 365 * 86400)
/* The longest wait of the retry policy. */
#define WEEK		((uint64_t)7 * 86400)

/* ENUM stores through an int *. */
_Static_assert(sizeof(enum conf_action) == sizeof(int),
    "enum conf_action is stored as an int");

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

/* --- keys with a syntax of their own ---------------------------------- */

/* local:/path or unix:/path; @milter gets what smfi_setconn() wants. */
static int
socket_unix(struct conf *c, const char *v, char *milter, size_t msz,
    const char **error_r)
{
	struct sockaddr_un sun;
	const char *rest = strchr(v, ':') + 1;
	int n, rc;

	if ((rc = cval_abs_path(rest, error_r)) != 0)
		return rc;
	if (strlen(rest) >= sizeof(sun.sun_path)) {
		*error_r = dv_error_set("socket path is longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
		return DV_EINVAL;
	}
	n = snprintf(milter, msz, "local:%s", rest);
	if (n < 0 || (size_t)n >= msz) {
		*error_r = dv_error_set("socket \"%s\" is too long", v);
		return DV_EINVAL;
	}
	c->socket_kind = CONF_SOCK_UNIX;
	return set_str(&c->socket_path, rest, error_r);
}

/* The HOST of inet:PORT@HOST, without brackets, into @host. */
static int
socket_host(const char *v, const char *h, char *host, size_t hsz,
    const char **error_r)
{
	size_t hl = strlen(h);

	if (hl > 0 && h[0] == '[') {
		if (hl < 3 || h[hl - 1] != ']') {
			*error_r = dv_error_set("socket \"%s\": unbalanced "
			    "brackets", v);
			return DV_EINVAL;
		}
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hsz || strcspn(h, " \t[]@") < hl) {
		*error_r = dv_error_set("socket \"%s\": bad host", v);
		return DV_EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

/* inet:PORT[@HOST] or inet6:PORT[@[ADDR]]. */
static int
socket_inet(struct conf *c, const char *v, bool six, char *milter,
    size_t msz, const char **error_r)
{
	const char *rest = v + (six ? 6 : 5), *at = strchr(rest, '@');
	size_t plen = at != NULL ? (size_t)(at - rest) : strlen(rest);
	char portbuf[16], host[300] = "";
	uint64_t port;
	int n;

	if (plen == 0 || plen >= sizeof(portbuf)) {
		*error_r = dv_error_set("socket \"%s\": expected %s:PORT@HOST",
		    v, six ? "inet6" : "inet");
		return DV_EINVAL;
	}
	memcpy(portbuf, rest, plen);
	portbuf[plen] = '\0';
	if (cval_uint(portbuf, 1, 65535, &port, error_r) != 0) {
		*error_r = dv_error_set("socket \"%s\": bad port \"%s\"", v,
		    portbuf);
		return DV_EINVAL;
	}
	if (at != NULL && socket_host(v, at + 1, host, sizeof(host),
	    error_r) != 0)
		return DV_EINVAL;
	n = snprintf(milter, msz, "%s:%u%s%s", six ? "inet6" : "inet",
	    (unsigned)port, host[0] ? "@" : "", host);
	if (n < 0 || (size_t)n >= msz) {
		*error_r = dv_error_set("socket \"%s\" is too long", v);
		return DV_EINVAL;
	}
	c->socket_kind = six ? CONF_SOCK_INET6 : CONF_SOCK_INET;
	free(c->socket_path);
	c->socket_path = NULL;
	return 0;
}

/* Socket: derive socket_kind, socket_milter and socket_path. */
static int
check_socket(struct conf *c, const char *v, const char **error_r)
{
	char milter[600];
	int rc;

	if (strncasecmp(v, "local:", 6) == 0 ||
	    strncasecmp(v, "unix:", 5) == 0)
		rc = socket_unix(c, v, milter, sizeof(milter), error_r);
	else if (strncasecmp(v, "inet:", 5) == 0)
		rc = socket_inet(c, v, false, milter, sizeof(milter), error_r);
	else if (strncasecmp(v, "inet6:", 6) == 0)
		rc = socket_inet(c, v, true, milter, sizeof(milter), error_r);
	else {
		*error_r = dv_error_set("socket \"%s\": expected "
		    "inet:PORT@HOST, inet6:PORT@[ADDR], local:/path or "
		    "unix:/path", v);
		return DV_EINVAL;
	}
	return rc != 0 ? rc : set_str(&c->socket_milter, milter, error_r);
}

/* SocketGroup: a group name, looked up at start-up. */
static int
check_name(struct conf *c, const char *v, const char **error_r)
{
	(void)c;
	if (strlen(v) > 64 || strcspn(v, " \t:/") != strlen(v)) {
		*error_r = dv_error_set("\"%s\" is not a valid name", v);
		return DV_EINVAL;
	}
	return 0;
}

static int
check_userid(struct conf *c, const char *v, const char **error_r)
{
	const char *colon = strchr(v, ':');

	(void)c;
	if (v[0] == '\0' || v[0] == ':' || strlen(v) > 130 ||
	    strcspn(v, " \t/") != strlen(v) ||
	    (colon != NULL && (colon[1] == '\0' || strchr(colon + 1, ':')))) {
		*error_r = dv_error_set("\"%s\" is not user or user:group", v);
		return DV_EINVAL;
	}
	return 0;
}

static int
check_token_prefix(struct conf *c, const char *v, const char **error_r)
{
	size_t n = strlen(v);

	(void)c;
	if (n == 0 || n > 20 || strcspn(v, " \t\"") != n) {
		*error_r = dv_error_set("\"%s\" is not 1 to 20 characters "
		    "without spaces", v);
		return DV_EINVAL;
	}
	return 0;
}

/* LogLevel: the names belong to log.c. */
static int
set_loglevel(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	int l = log_level_parse(v);

	if (l < 0) {
		*error_r = dv_error_set("unknown log level \"%s\" (error, "
		    "warning, notice, info, debug)", v);
		return DV_EINVAL;
	}
	*FIELD(c, k, int) = l;
	return 0;
}

static int
set_internal(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	struct cidr_list *l = FIELD(c, k, struct cidr_list);

	if (strcasecmp(v, "none") == 0) {
		cidr_list_free(l);
		return 0;
	}
	return cidr_list_parse(v, l, error_r);
}

static int
set_subaddr(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	char *seps = FIELD(c, k, char);
	size_t len = strlen(v);

	if (strcasecmp(v, "none") == 0) {
		seps[0] = '\0';
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
	memcpy(seps, v, len + 1);
	return 0;
}

/*
 * CaseRateLimit: "SENDER QUEUE", new cases per sender per hour and per
 * queue mailbox per minute, 0 turning one off; "none" is "0 0".
 */
static int
set_caserate(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	char num[2][24];
	uint64_t n[2];
	const char *p = v;

	(void)k;
	if (strcasecmp(v, "none") == 0) {
		c->case_rate_sender = c->case_rate_queue = 0;
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (len == 0 || len >= sizeof(num[i]))
			goto usage;
		memcpy(num[i], p, len);
		num[i][len] = '\0';
		p += len;
	}
	if (p[strspn(p, " \t")] != '\0')
		goto usage;
	for (int i = 0; i < 2; i++)
		if (cval_uint(num[i], 0, 100000, &n[i], error_r) != 0)
			return DV_EINVAL;
	c->case_rate_sender = (unsigned)n[0];
	c->case_rate_queue = (unsigned)n[1];
	return 0;
usage:
	*error_r = dv_error_set("expected two numbers, new cases per sender "
	    "per hour and per queue mailbox per minute (\"10 60\"), or "
	    "\"none\"");
	return DV_EINVAL;
}

/* class "." 1-3 digits "." 1-3 digits (@xl bytes), as libmilter checks */
static bool
xcode_ok(const char *x, size_t xl, char class)
{
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
	return xl < sizeof(((struct conf_reply *)0)->xcode) && x[0] == class &&
	    x[1] == '.' && d1 >= 1 && d1 <= 3 && d2 >= 1 && d2 <= 3 && i == xl;
}

/* The text of a reply: printable, only %a and %% escapes, bounded. */
static int
reply_text_ok(const char *v, const char *text, const char **error_r)
{
	for (const char *t = text; *t != '\0'; t++) {
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
	if (strlen(text) > DV_REPLY_TEXT_MAX / 2) {
		*error_r = dv_error_set("reply text is longer than %d bytes",
		    DV_REPLY_TEXT_MAX / 2);
		return DV_EINVAL;
	}
	return 0;
}

/* "550 5.7.1 text": three-digit code, enhanced code, text. */
static int
set_reply(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	struct conf_reply *r = FIELD(c, k, struct conf_reply);
	const char *x = v + 4;
	size_t xl;
	int rc;

	if (!(v[0] >= '4' && v[0] <= '5' && v[1] >= '0' && v[1] <= '9' &&
	    v[2] >= '0' && v[2] <= '9' && v[3] == ' ')) {
		*error_r = dv_error_set("reply must start with a 4xx or 5xx "
		    "code: \"%s\"", v);
		return DV_EINVAL;
	}
	xl = strcspn(x, " ");
	if (!xcode_ok(x, xl, v[0])) {
		*error_r = dv_error_set("reply needs an enhanced status code "
		    "of the same class after the code (like \"550 5.7.1 "
		    "...\"): \"%s\"", v);
		return DV_EINVAL;
	}
	if (x[xl] != ' ' || x[xl + 1] == '\0') {
		*error_r = dv_error_set("reply has no text: \"%s\"", v);
		return DV_EINVAL;
	}
	if ((rc = reply_text_ok(v, x + xl + 1, error_r)) != 0)
		return rc;
	if ((rc = set_str(&r->text, x + xl + 1, error_r)) != 0)
		return rc;
	memcpy(r->code, v, 3);
	r->code[3] = '\0';
	memcpy(r->xcode, x, xl);
	r->xcode[xl] = '\0';
	return 0;
}

static int
domain_item(const char *p, size_t len, char *const *sofar, char **out,
    const char **error_r)
{
	char tok[DV_DOMAIN_MAX + 8], addr[DV_ADDR_MAX + 1];

	(void)sofar;
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

/* An authserv-id (RFC 8601: a token, in practice a host name). */
static int
authserv_item(const char *p, size_t len, char *const *sofar, char **out,
    const char **error_r)
{
	if (len > 255) {
		*error_r = dv_error_set("authserv-id \"%.20s...\" is too long",
		    p);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", p[i]) != NULL) {
			*error_r = dv_error_set("bad authserv-id \"%.*s\" (a "
			    "host name, as the verifier writes it)", (int)len,
			    p);
			return -1;
		}
	for (size_t i = 0; sofar[i] != NULL; i++)
		if (strncasecmp(sofar[i], p, len) == 0 && sofar[i][len] == '\0') {
			*error_r = dv_error_set("authserv-id \"%.*s\" is listed "
			    "twice", (int)len, p);
			return -1;
		}
	if ((*out = strndup(p, len)) != NULL)
		for (char *q = *out; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	return 0;
}

/* --- the keys ---------------------------------------------------------- */

static const struct conf_name facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { NULL, 0 }
};

static const struct conf_name join_policies[] = {
	{ "any", CONF_JOIN_ANY }, { "participant", CONF_JOIN_PARTICIPANT },
	{ "authenticated", CONF_JOIN_AUTHENTICATED }, { NULL, 0 }
};

static const struct conf_name actions[] = {
	{ "accept", CONF_ACCEPT }, { "reject", CONF_REJECT },
	{ "tempfail", CONF_TEMPFAIL }, { NULL, 0 }
};

/* A rule is two keys: KeyAction and KeyReply. */
#define RULE_KEYS(NAME, RULE, ACTION, REPLY)				\
	{ .name = NAME "Action", .type = CONF_T_ENUM,			\
	  .off = OFF(RULE.action), .def = ACTION, .names = actions,	\
	  .what = "action" },						\
	{ .name = NAME "Reply", .type = CONF_T_CUSTOM,			\
	  .off = OFF(RULE.reply), .def = REPLY, .set = set_reply }

/*
 * Every key. Defaults are written as in the file and go through the
 * same setters; a key without one starts as zero or NULL. The order is
 * the order conf_restart_keys() names changed keys in.
 */
static const struct conf_key conf_keys[] = {
	{ .name = "Socket", .type = CONF_T_STRING, .flags = CONF_RESTART,
	  .off = OFF(socket), .def = "local:/run/dvmilter/dvmilter.sock",
	  .check = check_socket },
	{ .name = "SocketMode", .type = CONF_T_MODE, .flags = CONF_RESTART,
	  .off = OFF(socket_mode), .def = "0660", .min = 0, .max = 0777 },
	{ .name = "SocketGroup", .type = CONF_T_STRING, .flags = CONF_RESTART,
	  .off = OFF(socket_group), .check = check_name },
	{ .name = "Database", .type = CONF_T_PATH, .flags = CONF_RESTART,
	  .off = OFF(database), .def = "/var/lib/dvmilter" },
	{ .name = "DatabaseMapSize", .type = CONF_T_SIZE,
	  .off = OFF(database_mapsize),
	  .min = (uint64_t)1 << 20, .max = SIZE_MAX },
	{ .name = "UserID", .type = CONF_T_STRING, .flags = CONF_RESTART,
	  .off = OFF(userid), .def = CONF_DEFAULT_USER,
	  .check = check_userid },
	{ .name = "PidFile", .type = CONF_T_PATH, .flags = CONF_RESTART,
	  .off = OFF(pidfile) },
	{ .name = "Syslog", .type = CONF_T_BOOL, .off = OFF(syslog),
	  .def = "yes" },
	{ .name = "SyslogFacility", .type = CONF_T_ENUM,
	  .off = OFF(syslog_facility), .def = "mail", .names = facilities,
	  .what = "syslog facility" },
	{ .name = "LogLevel", .type = CONF_T_CUSTOM, .off = OFF(log_level),
	  .def = "info", .set = set_loglevel },
	{ .name = "InternalHosts", .type = CONF_T_CUSTOM,
	  .off = OFF(internal_hosts), .def = "127.0.0.1, ::1",
	  .set = set_internal },
	{ .name = "SubaddressSeparator", .type = CONF_T_CUSTOM,
	  .off = OFF(subaddress_seps), .def = "+", .set = set_subaddr },
	{ .name = "MaxRecipients", .type = CONF_T_UINT,
	  .off = OFF(max_recipients), .def = "1000", .min = 1,
	  .max = 100000 },
	RULE_KEYS("UnapprovedRecipient", unapproved_rcpt, "reject",
	    "550 5.7.1 <%a>: mailbox is not approved"),
	RULE_KEYS("UnapprovedSender", unapproved_sender, "reject",
	    "550 5.7.1 <%a>: sender mailbox is not approved for outgoing "
	    "mail"),
	RULE_KEYS("UnknownRecipient", unknown_rcpt, "accept",
	    "550 5.1.1 <%a>: no such mailbox"),
	{ .name = "UnknownRecipientDomains", .type = CONF_T_LIST,
	  .off = OFF(unknown_rcpt_domains), .item = domain_item },
	RULE_KEYS("MalformedAddress", malformed, "reject",
	    "553 5.1.3 <%a>: malformed address"),
	RULE_KEYS("StoreError", store_error, "tempfail",
	    "451 4.3.0 <%a>: mailbox lookup failed, try again later"),
	{ .name = "PluginDir", .type = CONF_T_PATH, .flags = CONF_RESTART,
	  .off = OFF(plugin_dir), .def = DV_PLUGINDIR },
	{ .name = "Plugins", .type = CONF_T_LIST,
	  .flags = CONF_RESTART | CONF_NONE, .off = OFF(plugins),
	  .def = "local", .item = plugin_item },
	{ .name = "MessageMemoryLimit", .type = CONF_T_SIZE,
	  .off = OFF(message_memory_limit), .def = "1M", .min = 4096,
	  .max = SIZE_MAX },
	{ .name = "MaxMessageSize", .type = CONF_T_SIZE,
	  .off = OFF(max_message_size), .def = "25M", .min = 4096,
	  .max = SIZE_MAX },
	{ .name = "MaxMessageParts", .type = CONF_T_UINT,
	  .flags = CONF_RESTART,
	  .off = OFF(max_message_parts), .def = "1000", .min = 1,
	  .max = 1000000 },
	{ .name = "MaxMessageDepth", .type = CONF_T_UINT,
	  .flags = CONF_RESTART,
	  .off = OFF(max_message_depth), .def = "20", .min = 1, .max = 100 },
	{ .name = "MaxAttachments", .type = CONF_T_UINT,
	  .flags = CONF_RESTART,
	  .off = OFF(max_attachments), .def = "100", .min = 1,
	  .max = 100000 },
	{ .name = "MaxAttachmentBytes", .type = CONF_T_SIZE,
	  .flags = CONF_RESTART,
	  .off = OFF(max_attachment_bytes), .def = "32M", .min = 1,
	  .max = SIZE_MAX },
	{ .name = "MaxDecodedBytes", .type = CONF_T_SIZE,
	  .flags = CONF_RESTART,
	  .off = OFF(max_decoded_bytes), .def = "64M", .min = 4096,
	  .max = SIZE_MAX },
	{ .name = "SpoolDirectory", .type = CONF_T_PATH,
	  .off = OFF(spool_dir), .def = "/var/tmp" },
	{ .name = "TrackingTokenPrefix", .type = CONF_T_STRING,
	  .flags = CONF_RESTART, .off = OFF(token_prefix), .def = "CRM:",
	  .check = check_token_prefix },
	{ .name = "TrackingTokenKeyFile", .type = CONF_T_PATH,
	  .flags = CONF_RESTART, .off = OFF(token_key_file) },
	{ .name = "TrackingTokenInSubject", .type = CONF_T_BOOL,
	  .off = OFF(token_in_subject), .def = "yes" },
	{ .name = "SmartMatching", .type = CONF_T_BOOL,
	  .off = OFF(smart_matching), .def = "no" },
	{ .name = "CaseRateLimit", .type = CONF_T_CUSTOM,
	  .off = OFF(case_rate_sender), .def = "10 60", .set = set_caserate },
	{ .name = "TrustedAuthservIDs", .type = CONF_T_LIST,
	  .flags = CONF_NONE, .off = OFF(trusted_authserv_ids),
	  .item = authserv_item },
	{ .name = "CaseJoinPolicy", .type = CONF_T_ENUM,
	  .off = OFF(case_join), .def = "participant",
	  .names = join_policies, .what = "case join policy" },
	{ .name = "OutboxRetention", .type = CONF_T_DURATION,
	  .flags = CONF_RESTART, .off = OFF(outbox_retention), .def = "7d",
	  .min = 0, .max = CENTURY },
	{ .name = "RetryBaseDelay", .type = CONF_T_DURATION,
	  .flags = CONF_RESTART, .off = OFF(retry_base_delay), .def = "30s",
	  .min = 1, .max = WEEK },
	{ .name = "RetryMaxDelay", .type = CONF_T_DURATION,
	  .flags = CONF_RESTART, .off = OFF(retry_max_delay), .def = "1h",
	  .min = 1, .max = WEEK },
	{ .name = "RetryMaxAttempts", .type = CONF_T_UINT,
	  .flags = CONF_RESTART, .off = OFF(retry_max_attempts), .def = "25",
	  .min = 1, .max = 1000 },
	{ .name = "DeliveryCrashLimit", .type = CONF_T_UINT,
	  .flags = CONF_RESTART, .off = OFF(delivery_crash_limit),
	  .def = "3", .min = 1, .max = 1000 },
	{ .name = "WorkerMemoryLimit", .type = CONF_T_SIZE,
	  .flags = CONF_RESTART, .off = OFF(worker_memory_limit),
	  .def = "1G", .min = 0, .max = SIZE_MAX },
	{ .name = "PluginHoldFirst", .type = CONF_T_DURATION,
	  .flags = CONF_RESTART, .off = OFF(plugin_hold_first), .def = "30s",
	  .min = 1, .max = WEEK },
	{ .name = "PluginHoldMax", .type = CONF_T_DURATION,
	  .flags = CONF_RESTART, .off = OFF(plugin_hold_max), .def = "10m",
	  .min = 1, .max = WEEK },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* --- generic setters --------------------------------------------------- */

static int
set_enum(int *dst, const struct conf_key *k, const char *v,
    const char **error_r)
{
	char list[200] = "";
	size_t used = 0;

	for (const struct conf_name *n = k->names; n->name != NULL; n++) {
		if (strcasecmp(v, n->name) == 0) {
			*dst = n->value;
			return 0;
		}
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", used ? ", " : "", n->name);
		if (used >= sizeof(list))
			used = sizeof(list) - 1;
	}
	*error_r = dv_error_set("unknown %s \"%s\" (%s)", k->what, v, list);
	return DV_EINVAL;
}

static int
set_list(char ***dst, const struct conf_key *k, const char *v,
    const char **error_r)
{
	char **list = NULL;
	int rc;

	if (!((k->flags & CONF_NONE) && strcasecmp(v, "none") == 0) &&
	    (rc = parse_list(v, k->item, &list, error_r)) != 0)
		return rc;
	free_list(*dst);
	*dst = list;
	return 0;
}

/* Numbers: parse as 64 bits, then store in the field's own type. */
static int
set_number(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	uint64_t u;
	int rc;

	switch (k->type) {
	case CONF_T_UINT:
		if ((rc = cval_uint(v, k->min, k->max, &u, error_r)) == 0)
			*FIELD(c, k, unsigned) = (unsigned)u;
		return rc;
	case CONF_T_MODE:
		if (cval_octal(v, k->min, k->max, &u, error_r) != 0) {
			*error_r = dv_error_set("\"%s\" is not an octal mode "
			    "like 0660", v);
			return DV_EINVAL;
		}
		*FIELD(c, k, mode_t) = (mode_t)u;
		return 0;
	case CONF_T_SIZE:
		if ((rc = cval_size(v, k->min, k->max, &u, error_r)) == 0)
			*FIELD(c, k, size_t) = (size_t)u;
		return rc;
	case CONF_T_DURATION:
		return cval_duration(v, (int64_t)k->min, (int64_t)k->max,
		    FIELD(c, k, int64_t), error_r);
	default:
		*error_r = dv_error_set("%s is not a number key", k->name);
		return DV_EINVAL;
	}
}

/* set_value - parse @v as key @k wants and store it in @c. */
static int
set_value(struct conf *c, const struct conf_key *k, const char *v,
    const char **error_r)
{
	int rc;

	switch (k->type) {
	case CONF_T_STRING:
		if (k->check != NULL && (rc = k->check(c, v, error_r)) != 0)
			return rc;
		return set_str(FIELD(c, k, char *), v, error_r);
	case CONF_T_PATH:
		if ((rc = cval_abs_path(v, error_r)) != 0)
			return rc;
		return set_str(FIELD(c, k, char *), v, error_r);
	case CONF_T_BOOL:
		return cval_bool(v, FIELD(c, k, bool), error_r);
	case CONF_T_UINT:
	case CONF_T_MODE:
	case CONF_T_SIZE:
	case CONF_T_DURATION:
		return set_number(c, k, v, error_r);
	case CONF_T_ENUM:
		return set_enum(FIELD(c, k, int), k, v, error_r);
	case CONF_T_LIST:
		return set_list(FIELD(c, k, char **), k, v, error_r);
	case CONF_T_CUSTOM:
		return k->set(c, k, v, error_r);
	}
	*error_r = dv_error_set("%s: unknown key type", k->name);
	return DV_EINVAL;
}

/* --- defaults, lifetime ------------------------------------------------ */

/* Free what the keys' setters allocated, then what derives from them. */
static void
conf_free(struct conf *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->type == CONF_T_STRING || k->type == CONF_T_PATH)
			free(*FIELD(c, k, char *));
		else if (k->type == CONF_T_LIST)
			free_list(*FIELD(c, k, char **));
		else if (k->set == set_reply)
			free(FIELD(c, k, struct conf_reply)->text);
	}
	free(c->path);
	free(c->socket_milter);
	free(c->socket_path);
	cidr_list_free(&c->internal_hosts);
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
	int rc;

	atomic_init(&c->refs, 1);
	for (size_t k = 0; k < NKEYS; k++)
		if (conf_keys[k].def != NULL && (rc = set_value(c,
		    &conf_keys[k], conf_keys[k].def, error_r)) != 0)
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
	if (c->retry_max_delay < c->retry_base_delay ||
	    c->plugin_hold_max < c->plugin_hold_first) {
		bool delay = c->retry_max_delay < c->retry_base_delay;

		*error_r = dv_error_set("%s is shorter than %s", delay ?
		    "RetryMaxDelay" : "PluginHoldMax", delay ?
		    "RetryBaseDelay" : "PluginHoldFirst");
		return DV_EINVAL;
	}
	return 0;
}

/* One parse in progress, shared by its steps. */
struct conf_parse {
	const char *name;		/* the file, for messages */
	struct conf *c;
	unsigned lineno;
	bool seen[NKEYS];
};

/*
 * Wrap @err as "name:line: err". ENOMEM stays ENOMEM; anything else the
 * file is to blame for becomes DV_ECONF.
 */
static int
line_error(const struct conf_parse *p, int rc, const char *err,
    const char **error_r)
{
	*error_r = dv_error_set("%s:%u: %s", p->name, p->lineno, err);
	return rc == ENOMEM ? ENOMEM : DV_ECONF;
}

/* Copy the next line of *@text into @line and move *@text past it. */
static int
next_line(struct conf_parse *p, const char **text, char *line,
    const char **error_r)
{
	size_t len = strcspn(*text, "\n");

	p->lineno++;
	if (len > DV_CONF_LINE_MAX) {
		*error_r = dv_error_set("%s:%u: line is longer than %d bytes",
		    p->name, p->lineno, DV_CONF_LINE_MAX);
		return DV_ECONF;
	}
	memcpy(line, *text, len);
	line[len] = '\0';
	*text += len + ((*text)[len] == '\n');
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t' &&
		    line[i] != '\r') || line[i] == 0x7f) {
			*error_r = dv_error_set("%s:%u: control character "
			    "(0x%02x) in line", p->name, p->lineno,
			    (unsigned char)line[i]);
			return DV_ECONF;
		}
	return 0;
}

/* A known key: once only, with a value the key accepts. */
static int
apply_key(struct conf_parse *p, const char *key, const char *value,
    const char **error_r)
{
	const struct conf_key *k;
	const char *suggest, *err;
	int rc;

	if ((k = find_key(key, &suggest)) == NULL) {
		if (suggest != NULL)
			*error_r = dv_error_set("%s:%u: unknown key \"%s\" "
			    "(did you mean \"%s\"?)", p->name, p->lineno,
			    key, suggest);
		else
			*error_r = dv_error_set("%s:%u: unknown key \"%s\"",
			    p->name, p->lineno, key);
		return DV_ECONF;
	}
	if (p->seen[k - conf_keys]) {
		*error_r = dv_error_set("%s:%u: %s is set twice", p->name,
		    p->lineno, k->name);
		return DV_ECONF;
	}
	p->seen[k - conf_keys] = true;
	if (value[0] == '\0') {
		*error_r = dv_error_set("%s:%u: %s needs a value", p->name,
		    p->lineno, k->name);
		return DV_ECONF;
	}
	if ((rc = set_value(p->c, k, value, &err)) != 0) {
		*error_r = dv_error_set("%s:%u: %s: %s", p->name, p->lineno,
		    k->name, err);
		return rc == ENOMEM ? ENOMEM : DV_ECONF;
	}
	return 0;
}

/* One line: a comment, a blank, a plugin's key or one of ours. */
static int
apply_line(struct conf_parse *p, char *line, const char **error_r)
{
	char *key, *value;
	const char *err;
	int rc;

	if (split_line(line, &key, &value, &err) != 0)
		return line_error(p, DV_EINVAL, err, error_r);
	if (key[0] == '\0')
		return 0;
	if (strchr(key, '.') != NULL) {
		if ((rc = add_plugin_key(p->c, key, value, p->lineno,
		    &err)) != 0)
			return line_error(p, rc, err, error_r);
		return 0;
	}
	return apply_key(p, key, value, error_r);
}

/* Each "Plugin.Key" line must be for a plugin that Plugins lists. */
static int
check_plugin_keys(const struct conf_parse *p, const char **error_r)
{
	const struct conf *c = p->c;

	for (size_t i = 0; i < c->nplugin_keys; i++) {
		const struct conf_plugin_key *k = &c->plugin_keys[i];
		bool listed = false;

		for (size_t j = 0; c->plugins != NULL && c->plugins[j]; j++)
			if (strcmp(c->plugins[j], k->plugin) == 0)
				listed = true;
		if (!listed) {
			*error_r = dv_error_set("%s:%u: %s.%s is for plugin "
			    "\"%s\", which Plugins does not list", p->name,
			    k->line, k->plugin, k->key, k->plugin);
			return DV_ECONF;
		}
	}
	return 0;
}

int
conf_parse_string(const char *name, const char *text, struct conf **conf_r,
    const char **error_r)
{
	struct conf_parse p = { .name = name };
	char line[DV_CONF_LINE_MAX + 1];
	const char *err;
	int rc;

	if ((p.c = calloc(1, sizeof(*p.c))) == NULL) {
		*error_r = dv_error_set("%s: out of memory", name);
		return ENOMEM;
	}
	if ((rc = conf_set_defaults(p.c, &err)) != 0 ||
	    (rc = set_str(&p.c->path, name, &err)) != 0) {
		*error_r = dv_error_set("%s: %s", name, err);
		goto fail;
	}
	while (*text != '\0')
		if ((rc = next_line(&p, &text, line, error_r)) != 0 ||
		    (rc = apply_line(&p, line, error_r)) != 0)
			goto fail;
	if ((rc = check_plugin_keys(&p, error_r)) != 0)
		goto fail;
	if ((rc = conf_validate(p.c, &err)) != 0) {
		*error_r = dv_error_set("%s: %s", name, err);
		rc = DV_ECONF;
		goto fail;
	}
	*conf_r = p.c;
	return 0;
fail:
	conf_free(p.c);
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

/* Does key @k have the same value in @a and @b? */
static bool
key_same(const struct conf_key *k, const struct conf *a, const struct conf *b)
{
	switch (k->type) {
	case CONF_T_STRING:
	case CONF_T_PATH:
		return str_eq(*CFIELD(a, k, char *), *CFIELD(b, k, char *));
	case CONF_T_BOOL:
		return *CFIELD(a, k, bool) == *CFIELD(b, k, bool);
	case CONF_T_UINT:
		return *CFIELD(a, k, unsigned) == *CFIELD(b, k, unsigned);
	case CONF_T_MODE:
		return *CFIELD(a, k, mode_t) == *CFIELD(b, k, mode_t);
	case CONF_T_SIZE:
		return *CFIELD(a, k, size_t) == *CFIELD(b, k, size_t);
	case CONF_T_DURATION:
		return *CFIELD(a, k, int64_t) == *CFIELD(b, k, int64_t);
	case CONF_T_ENUM:
		return *CFIELD(a, k, int) == *CFIELD(b, k, int);
	case CONF_T_LIST:
		return lists_eq(*CFIELD(a, k, char **),
		    *CFIELD(b, k, char **));
	case CONF_T_CUSTOM:
		break;
	}
	/* Custom fields have no generic comparison: never CONF_RESTART. */
	return true;
}

void
conf_restart_keys(const struct conf *a, const struct conf *b, char *out,
    size_t outsz)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NKEYS; i++) {
		int n;

		if (!(conf_keys[i].flags & CONF_RESTART) ||
		    key_same(&conf_keys[i], a, b))
			continue;
		n = snprintf(out + used, outsz - used, "%s%s",
		    used ? ", " : "", conf_keys[i].name);
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
}

/* "size 4096..", "number 1..100000", "accept|reject|tempfail". */
static void
describe_type(const struct conf_key *k, char *out, size_t outsz)
{
	static const char *const types[] = {
		[CONF_T_STRING] = "text", [CONF_T_PATH] = "path",
		[CONF_T_BOOL] = "yes|no", [CONF_T_UINT] = "number",
		[CONF_T_MODE] = "mode", [CONF_T_SIZE] = "size",
		[CONF_T_DURATION] = "duration", [CONF_T_ENUM] = "",
		[CONF_T_LIST] = "list", [CONF_T_CUSTOM] = "custom",
	};
	size_t used;

	used = (size_t)snprintf(out, outsz, "%s", types[k->type]);
	if (k->type == CONF_T_MODE)
		snprintf(out + used, outsz - used, " %#" PRIo64 "..%#" PRIo64,
		    k->min, k->max);
	else if (k->type == CONF_T_UINT || k->type == CONF_T_DURATION ||
	    (k->type == CONF_T_SIZE && k->max != SIZE_MAX))
		snprintf(out + used, outsz - used, " %" PRIu64 "..%" PRIu64
		    "%s", k->min, k->max, k->type == CONF_T_DURATION ?
		    "s" : "");
	else if (k->type == CONF_T_SIZE)
		snprintf(out + used, outsz - used, " %" PRIu64 "..", k->min);
	else if (k->type == CONF_T_LIST && (k->flags & CONF_NONE))
		snprintf(out + used, outsz - used, "|none");
	for (const struct conf_name *n = k->names;
	    n != NULL && n->name != NULL; n++) {
		if (used >= outsz - 1)
			break;
		used += (size_t)snprintf(out + used, outsz - used, "%s%s",
		    n == k->names ? "" : "|", n->name);
	}
}

void
conf_keys_describe(FILE *fp)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		char type[200];

		describe_type(k, type, sizeof(type));
		fprintf(fp, "%-25s %-7s %-24s %s%s%s\n", k->name,
		    k->flags & CONF_RESTART ? "restart" : "reload", type,
		    k->def != NULL ? "\"" : "", k->def != NULL ? k->def : "-",
		    k->def != NULL ? "\"" : "");
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

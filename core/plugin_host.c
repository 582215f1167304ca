/*
 * plugin_host.c - the services a plugin calls: the struct dvp_host the
 * loader hands to init().
 *
 * Each service acts for the plugin whose struct plugin is its context,
 * and what a key/value write means depends on the call the plugin is in
 * (p->scope, set by core/plugin.c around every call): buffered for the
 * worker's batch in deliver(), buffered for a commit right after the
 * call in the others, refused outside any call and without a store. It
 * does not call the plugin.
 */
#include "config.h"

#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <stdlib.h>

#include "addr.h"
#include "caps.h"
#include "cval.h"
#include "log.h"
#include "mbox.h"
#include "plugin_int.h"
#include "status.h"

/* mailbox_get()'s answer: the records, and the ABI's view of them. */
struct plugin_mailbox {
	struct mbox rec;
	struct profile prof;
	struct dvp_profile dp;
	struct dvp_mailbox view;
};

static void
host_log(void *ctx, int level, const char *fmt, ...)
{
	struct plugin *p = ctx;
	char line[1024];
	va_list ap;

	if (level < DVP_LOG_ERROR || level > DVP_LOG_DEBUG)
		level = DVP_LOG_ERROR;
	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(level, "plugin %s: %s", p->name, line);
}

static const char *
host_config(void *ctx, const char *key)
{
	struct plugin *p = ctx;

	return conf_plugin_value(p->conf, p->name, key);
}

/* --- typed configuration --------------------------------------------------- */

/* The value of the plugin's key @key and its line, or NULL. */
static const char *
key_value(const struct plugin *p, const char *key, unsigned *line_r)
{
	for (size_t i = 0; i < p->conf->nplugin_keys; i++) {
		const struct conf_plugin_key *k = &p->conf->plugin_keys[i];

		if (strcasecmp(k->plugin, p->name) == 0 &&
		    strcasecmp(k->key, key) == 0) {
			*line_r = k->line;
			return k->value;
		}
	}
	return NULL;
}

/* "FILE:LINE: Name.KEY: why", as dvmilter.conf's own keys complain. */
static int
config_fail(const struct plugin *p, const char *key, unsigned line,
    const char *why, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s:%u: %c%s.%s: %s", p->conf->path, line,
	    toupper((unsigned char)p->name[0]), p->name + 1, key, why);
	return DVP_KV_INVALID;
}

static int
host_config_bool(void *ctx, const char *key, int def, int *out, char *err,
    size_t errsz)
{
	struct plugin *p = ctx;
	const char *v, *why;
	unsigned line;
	bool b;

	*out = def;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_OK;
	if (cval_bool(v, &b, &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	*out = b;
	return DVP_KV_OK;
}

/* A number key, parsed by @parse (cval_uint or cval_size). */
static int
config_u64(struct plugin *p, const char *key, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errsz,
    int (*parse)(const char *, uint64_t, uint64_t, uint64_t *,
    const char **))
{
	const char *v, *why;
	unsigned line;

	*out = def;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_OK;
	if (parse(v, min, max, out, &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	return DVP_KV_OK;
}

static int
host_config_uint(void *ctx, const char *key, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errsz)
{
	return config_u64(ctx, key, def, min, max, out, err, errsz, cval_uint);
}

static int
host_config_size(void *ctx, const char *key, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errsz)
{
	return config_u64(ctx, key, def, min, max, out, err, errsz, cval_size);
}

static int
host_config_duration(void *ctx, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out, char *err, size_t errsz)
{
	struct plugin *p = ctx;
	const char *v, *why;
	unsigned line;

	*out = def;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_OK;
	if (cval_duration(v, min, max, out, &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	return DVP_KV_OK;
}

/* Whether @scheme (of @len bytes) is one of the comma-separated @list. */
static bool
scheme_listed(const char *list, const char *scheme, size_t len)
{
	while (*list != '\0') {
		size_t n = strcspn(list, ",");

		if (n == len && strncasecmp(list, scheme, len) == 0)
			return true;
		list += n + (list[n] == ',');
	}
	return false;
}

/*
 * A URL of one of @schemes. cval_url() checks http(s) URLs; one of
 * another scheme (smtp) has the rest checked as if it were https, and
 * the message quotes it as written.
 */
static int
check_url(const char *v, const char *schemes, char *buf, size_t bufsz,
    const char **why)
{
	const char *sep = strstr(v, "://");
	size_t sl = sep != NULL ? (size_t)(sep - v) : 0;
	char as_https[DV_URL_MAX + 16], *at;

	if (sep == NULL || sl == 0 || !scheme_listed(schemes, v, sl)) {
		snprintf(buf, bufsz, "\"%.200s\" is not a URL of scheme %s", v,
		    schemes);
		*why = buf;
		return DV_EINVAL;
	}
	if ((sl == 4 || sl == 5) && strncasecmp(v, "http", 4) == 0)
		return cval_url(v, !scheme_listed(schemes, "http", 4), why);
	snprintf(as_https, sizeof(as_https), "https%s", sep);
	if (cval_url(as_https, false, why) == 0)
		return 0;
	/* The URL as written into the message. */
	if ((at = strstr(*why, as_https)) != NULL)
		snprintf(buf, bufsz, "%.*s%s%s", (int)(at - *why), *why, v,
		    at + strlen(as_https));
	else
		snprintf(buf, bufsz, "%s", *why);
	*why = buf;
	return DV_EINVAL;
}

static int
host_config_url(void *ctx, const char *key, const char *schemes,
    const char **out, char *err, size_t errsz)
{
	struct plugin *p = ctx;
	const char *v, *why;
	char buf[2 * DV_URL_MAX + 200];
	unsigned line;

	*out = NULL;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_OK;
	if (check_url(v, schemes, buf, sizeof(buf), &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	*out = v;
	return DVP_KV_OK;
}

/*
 * The uid besides root that may own a secret: UserID's. A process that is
 * not root is the worker's user (or runs as itself, and reads its own).
 * As root ("dvmilter -n"), UserID's files pass too: the worker reads them.
 */
static uid_t
secret_user(const struct plugin *p)
{
	const char *u = p->conf->userid != NULL ? p->conf->userid :
	    CONF_DEFAULT_USER;
	struct passwd *pw;
	char user[80];

	if (geteuid() != 0)
		return geteuid();
	snprintf(user, sizeof(user), "%.*s", (int)strcspn(u, ":"), u);
	return (pw = getpwnam(user)) != NULL ? pw->pw_uid : 0;
}

static int
host_config_secret_file(void *ctx, const char *key, const char **out,
    char *err, size_t errsz)
{
	struct plugin *p = ctx;
	const char *v, *why;
	unsigned line;

	*out = NULL;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_OK;
	if (cval_secret_file(v, secret_user(p), &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	*out = v;
	return DVP_KV_OK;
}

static int
host_config_secret(void *ctx, const char *key, void *buf, size_t bufsz,
    size_t *len, char *err, size_t errsz)
{
	struct plugin *p = ctx;
	const char *v, *why;
	unsigned line;

	*len = 0;
	if ((v = key_value(p, key, &line)) == NULL)
		return DVP_KV_NOTFOUND;
	if (cval_secret_read(v, secret_user(p), buf, bufsz, len, &why) != 0)
		return config_fail(p, key, line, why, err, errsz);
	return DVP_KV_OK;
}

static int
host_secret_file_check(void *ctx, const char *path, char *err, size_t errsz)
{
	const char *why;

	if (path == NULL || cval_secret_file(path, secret_user(ctx),
	    &why) != 0) {
		snprintf(err, errsz, "%s", path == NULL ? "no file" : why);
		return DVP_KV_INVALID;
	}
	return DVP_KV_OK;
}

/* --- key/value ---------------------------------------------------------------- */

/* The buffer the running call writes to, or NULL: DVP_KV_UNAVAILABLE. */
static struct pluginkv *
kv_of(const struct plugin *p)
{
	if (p->ops == NULL)
		return NULL;
	switch (p->scope) {
	case PLUGIN_SCOPE_DELIVER: return p->dkv;
	case PLUGIN_SCOPE_CALL: return p->ckv;
	default: return NULL;
	}
}

static int
host_kv_get(void *ctx, const char *key, const void **val, size_t *len)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->get(kv, p->name, key, val, len);
}

static int
host_kv_put(void *ctx, const char *key, const void *val, size_t len)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->put(kv, p->name, key, val, len);
}

static int
host_kv_del(void *ctx, const char *key)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->del(kv, p->name, key);
}

static int
host_kv_next(void *ctx, const char *counter, uint64_t *value)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->next(kv, p->name, counter, value);
}

static int
host_kv_put_now(void *ctx, const char *key, const void *val, size_t len)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->put_now(kv, p->name, key, val, len);
}

static int
host_kv_foreach(void *ctx, const char *prefix,
    int (*fn)(void *arg, const char *key, const void *val, size_t len),
    void *arg)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	return kv == NULL ? DVP_KV_UNAVAILABLE :
	    p->ops->foreach(kv, p->name, prefix, fn, arg);
}

static int
host_kv_commit(void *ctx)
{
	struct plugin *p = ctx;
	const char *err;
	int rc;

	if (p->scope != PLUGIN_SCOPE_CALL || kv_of(p) == NULL)
		return DVP_KV_UNAVAILABLE;
	rc = pluginkv_commit(p->ckv, &err);
	if (rc == 0)
		return DVP_KV_OK;
	if (rc == DV_EINUSE)
		return DVP_KV_CONFLICT;
	log_error("plugin %s: its records could not be stored: %s", p->name,
	    err);
	return DVP_KV_ERROR;
}

/* --- the known-senders index --------------------------------------------------- */

/*
 * The buffer for an index service, and @address as the SMTP path looks
 * it up (core/known.h) in @norm; else the status to return.
 */
static int
known_prep(struct plugin *p, const char *address, char *norm, size_t normsz,
    struct pluginkv **kv_r)
{
	const char *err;

	if ((*kv_r = kv_of(p)) == NULL ||
	    !(p->desc->caps & DVP_CAP_KNOWN_SENDERS))
		return DVP_KV_UNAVAILABLE;
	if (address == NULL ||
	    addr_normalize(address, NULL, norm, normsz, &err) != 0)
		return DVP_KV_INVALID;
	return DVP_KV_OK;
}

static int
host_known_put(void *ctx, const char *address)
{
	struct plugin *p = ctx;
	struct pluginkv *kv;
	char norm[DV_ADDR_MAX + 1];
	int rc;

	if ((rc = known_prep(p, address, norm, sizeof(norm), &kv)) != 0)
		return rc;
	return p->ops->known_put(kv, p->name, norm);
}

static int
host_known_del(void *ctx, const char *address)
{
	struct plugin *p = ctx;
	struct pluginkv *kv;
	char norm[DV_ADDR_MAX + 1];
	int rc;

	if ((rc = known_prep(p, address, norm, sizeof(norm), &kv)) != 0)
		return rc;
	return p->ops->known_del(kv, p->name, norm);
}

static int
host_known_has(void *ctx, const char *address)
{
	struct plugin *p = ctx;
	struct pluginkv *kv;
	char norm[DV_ADDR_MAX + 1];
	int rc;

	if ((rc = known_prep(p, address, norm, sizeof(norm), &kv)) != 0)
		return rc == DVP_KV_INVALID ? DVP_KV_NOTFOUND : rc;
	return p->ops->known_get(kv, p->name, norm);
}

static int
host_known_complete(void *ctx)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	if (kv == NULL || !(p->desc->caps & DVP_CAP_KNOWN_SENDERS))
		return DVP_KV_UNAVAILABLE;
	return p->ops->known_get(kv, p->name, "");
}

static int
host_known_set_complete(void *ctx)
{
	struct plugin *p = ctx;
	struct pluginkv *kv = kv_of(p);

	if (kv == NULL || !(p->desc->caps & DVP_CAP_KNOWN_SENDERS))
		return DVP_KV_UNAVAILABLE;
	return p->ops->known_put(kv, p->name, "");
}

/* --- commands ------------------------------------------------------------------ */

static void
cmd_vmessage(struct plugin *p, const char *suffix, const char *fmt,
    va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (p->mode != DVP_MODE_ADMIN) {
		log_error("plugin %s: %s", p->name, line);
		return;
	}
	fprintf(stderr, "%s: %s\n%s", p->progname, line, suffix);
}

static int
host_cmd_error(void *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cmd_vmessage(ctx, "", fmt, ap);
	va_end(ap);
	return DVP_CMD_FAIL;
}

static int
host_cmd_usage(void *ctx, const char *fmt, ...)
{
	struct plugin *p = ctx;
	char suffix[100];
	va_list ap;

	snprintf(suffix, sizeof(suffix), "Try '%s help'.\n", p->progname);
	va_start(ap, fmt);
	cmd_vmessage(p, suffix, fmt, ap);
	va_end(ap);
	return DVP_CMD_USAGE;
}

static int
host_mailbox_address(void *ctx, const char *given, char *out, size_t outsz,
    char *err, size_t errsz)
{
	struct plugin *p = ctx;
	const char *why;

	if (addr_mailbox(given, p->conf->subaddress_seps, out, outsz,
	    &why) != 0) {
		snprintf(err, errsz, "%s", why);
		return DVP_KV_INVALID;
	}
	return DVP_KV_OK;
}

void
plugin_profile_view(const struct profile *p, struct dvp_profile *out)
{
	*out = (struct dvp_profile) { .size = sizeof(*out),
	    .name = p->name, .server_type = p->server_type, .tls = p->tls,
	    .auth = p->auth,
	    .smtp_url = p->smtp_url[0] ? p->smtp_url : NULL,
	    .username = p->username[0] ? p->username : NULL,
	    .secret_file = p->secret_file[0] ? p->secret_file : NULL };
}

static void
mailbox_view(struct plugin_mailbox *m)
{
	plugin_profile_view(&m->prof, &m->dp);
	m->view = (struct dvp_mailbox) {
		.address = m->rec.address,
		.type = m->rec.pol.type == MBOX_QUEUE ? DVP_MAILBOX_QUEUE :
		    DVP_MAILBOX_USER,
		.owner = m->rec.owner[0] ? m->rec.owner : NULL,
		.profile = m->rec.profile[0] ? &m->dp : NULL,
	};
}

static int
host_mailbox_get(void *ctx, const char *address,
    const struct dvp_mailbox **mb_r, char *err, size_t errsz)
{
	struct plugin *p = ctx;
	struct store_txn *t;
	const char *why;
	int rc;

	if (p->store == NULL || p->scope == PLUGIN_SCOPE_NONE) {
		snprintf(err, errsz, "no store");
		return DVP_KV_UNAVAILABLE;
	}
	if (p->mb == NULL && (p->mb = calloc(1, sizeof(*p->mb))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return DVP_KV_ERROR;
	}
	if ((rc = store_txn_begin(p->store, false, &t, &why)) == 0) {
		rc = store_mailbox_get(t, address, &p->mb->rec, &why);
		if (rc == 0 && p->mb->rec.profile[0] != '\0')
			rc = store_profile_get(t, p->mb->rec.profile,
			    &p->mb->prof, &why);
		store_txn_abort(t);
	}
	if (rc != 0) {
		snprintf(err, errsz, "%s", why);
		return rc == DV_ENOTFOUND ? DVP_KV_NOTFOUND : DVP_KV_ERROR;
	}
	mailbox_view(p->mb);
	*mb_r = &p->mb->view;
	return DVP_KV_OK;
}

/* --- holds ----------------------------------------------------------------- */

/* The named hold of @p; with @make, a free slot for it. NULL if none. */
static struct retry_breaker *
named_hold(struct plugin *p, const char *name, bool make)
{
	struct plugin_named_hold *free_slot = NULL;

	if (name == NULL || *name == '\0' ||
	    strlen(name) >= sizeof(p->holds[0].name))
		return NULL;
	for (size_t i = 0; i < DVP_HOLDS_MAX; i++) {
		if (strcmp(p->holds[i].name, name) == 0)
			return &p->holds[i].b;
		if (free_slot == NULL && p->holds[i].name[0] == '\0')
			free_slot = &p->holds[i];
	}
	if (!make || free_slot == NULL)
		return NULL;
	snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
	free_slot->b = (struct retry_breaker){ 0 };
	return &free_slot->b;
}

static unsigned
host_hold_check(void *ctx, const char *name)
{
	struct retry_breaker *b = named_hold(ctx, name, false);
	int64_t now = (int64_t)time(NULL);

	return b != NULL && retry_breaker_held(b, now) ?
	    (unsigned)(b->until - now) : 0;
}

static unsigned
host_hold_trip(void *ctx, const char *name)
{
	struct plugin *p = ctx;
	struct retry_breaker *b = named_hold(p, name, true);
	struct retry_policy pol = RETRY_POLICY_DEFAULT;

	if (b == NULL)
		return 0;
	if (p->conf != NULL) {
		pol.hold_first = (unsigned)p->conf->plugin_hold_first;
		pol.hold_max = (unsigned)p->conf->plugin_hold_max;
	}
	return retry_breaker_trip(b, &pol, (int64_t)time(NULL));
}

static void
host_hold_release(void *ctx, const char *name)
{
	struct retry_breaker *b = named_hold(ctx, name, false);

	if (b != NULL)
		(void)retry_breaker_close(b);
}

void
plugin_host_cleanup(struct plugin *p)
{
	free(p->mb);
	p->mb = NULL;
}

void
plugin_host_setup(struct plugin *p)
{
	p->host = (struct dvp_host) {
		.size = sizeof(struct dvp_host),
		.abi_major = DVP_ABI_MAJOR,
		.abi_minor = DVP_ABI_MINOR,
		.ctx = p,
		.mode = p->mode,
		.log = host_log,
		.config = host_config,
		.config_bool = host_config_bool,
		.config_uint = host_config_uint,
		.config_size = host_config_size,
		.config_duration = host_config_duration,
		.config_url = host_config_url,
		.config_secret_file = host_config_secret_file,
		.secret_file_check = host_secret_file_check,
		.kv_get = host_kv_get,
		.kv_put = host_kv_put,
		.kv_del = host_kv_del,
		.kv_next = host_kv_next,
		.kv_put_now = host_kv_put_now,
		.kv_foreach = host_kv_foreach,
		.kv_commit = host_kv_commit,
		.known_put = host_known_put,
		.known_del = host_known_del,
		.known_has = host_known_has,
		.known_complete = host_known_complete,
		.known_set_complete = host_known_set_complete,
		.cmd_error = host_cmd_error,
		.cmd_usage = host_cmd_usage,
		.mailbox_address = host_mailbox_address,
		.mailbox_get = host_mailbox_get,
		.hold_check = host_hold_check,
		.hold_trip = host_hold_trip,
		.hold_release = host_hold_release,
		.config_secret = host_config_secret,
		.store_instance = p->store != NULL ?
		    store_instance(p->store) : NULL,
	};
}

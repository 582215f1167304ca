/*
 * plugin.c - plugin loader and host services.
 *
 * Loading checks, in order: a safe name, a regular file that is not
 * writable by group or others and is owned by root or by us (the daemon
 * often starts as root: a plugin anyone could replace would run as
 * root), dlopen(RTLD_NOW | RTLD_LOCAL) so unresolved symbols fail now,
 * the one entry symbol, the ABI major version and descriptor size, the
 * name, the plugin's config keys, and finally init(). It does not call
 * deliver or health itself; the worker does.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "status.h"

struct plugin {
	char *name;
	char path[1100];
	void *handle;
	const struct dvp_plugin *desc;
	void *state;
	struct dvp_host host;
	const struct conf *conf;
	const struct plugin_kv_ops *kv;
	void *kv_arg;
	int64_t held_until;	/* plugin_hold() */
	unsigned held_for;
	char held_why[200];
};

struct plugin_set {
	struct plugin **v;
	size_t n;
};

/* --- host services ---------------------------------------------------------- */

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

static int
host_kv_get(void *ctx, const char *key, const void **val, size_t *len)
{
	struct plugin *p = ctx;

	if (p->kv == NULL)
		return -1;
	return p->kv->get(p->kv_arg, p->name, key, val, len);
}

static int
host_kv_put(void *ctx, const char *key, const void *val, size_t len)
{
	struct plugin *p = ctx;

	if (p->kv == NULL)
		return -1;
	return p->kv->put(p->kv_arg, p->name, key, val, len);
}

static int
host_kv_del(void *ctx, const char *key)
{
	struct plugin *p = ctx;

	if (p->kv == NULL)
		return -1;
	return p->kv->del(p->kv_arg, p->name, key);
}

static int
host_kv_next(void *ctx, const char *counter, uint64_t *value)
{
	struct plugin *p = ctx;

	if (p->kv == NULL)
		return -1;
	return p->kv->next(p->kv_arg, p->name, counter, value);
}

static int
host_kv_put_now(void *ctx, const char *key, const void *val, size_t len)
{
	struct plugin *p = ctx;

	if (p->kv == NULL || p->kv->put_now == NULL)
		return -1;
	return p->kv->put_now(p->kv_arg, p->name, key, val, len);
}

/* --- loading ------------------------------------------------------------------- */

static void
plugin_free(struct plugin *p)
{
	if (p == NULL)
		return;
	if (p->desc != NULL && p->desc->shutdown != NULL && p->state != NULL)
		p->desc->shutdown(p->state);
	if (p->handle != NULL)
		dlclose(p->handle);
	free(p->name);
	free(p);
}

static int
check_file(const char *path, const char **why)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		*why = dv_error_set("%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		*why = dv_error_set("not a regular file");
		return -1;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		*why = dv_error_set("writable by group or others (mode %04o); "
		    "refusing to load it", (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		*why = dv_error_set("owned by uid %u, neither root nor us; "
		    "refusing to load it", (unsigned)sb.st_uid);
		return -1;
	}
	return 0;
}

static int
check_keys(const struct conf *c, const struct plugin *p, const char **why)
{
	for (size_t i = 0; i < c->nplugin_keys; i++) {
		const struct conf_plugin_key *k = &c->plugin_keys[i];
		bool known = false;

		if (strcmp(k->plugin, p->name) != 0)
			continue;
		for (const char *const *ck = p->desc->config_keys;
		    ck != NULL && *ck != NULL; ck++)
			if (strcasecmp(*ck, k->key) == 0)
				known = true;
		if (!known) {
			*why = dv_error_set("%s:%u: unknown key \"%s.%s\"",
			    c->path, k->line, k->plugin, k->key);
			return -1;
		}
	}
	return 0;
}

static int
plugin_load_one(const struct conf *c, const char *name,
    const struct plugin_kv_ops *kv, void *kv_arg, struct plugin **p_r,
    const char **error_r)
{
	struct plugin *p;
	dvp_entry_fn entry;
	const char *why = NULL;
	char err[512] = "";
	int n;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(name)) == NULL) {
		free(p);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	n = snprintf(p->path, sizeof(p->path), "%s/%s.so", c->plugin_dir, name);
	if (n < 0 || (size_t)n >= sizeof(p->path)) {
		why = "path too long";
		goto fail;
	}
	if (check_file(p->path, &why) != 0)
		goto fail;
	if ((p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dv_error_set("dlopen: %s", dlerror());
		goto fail;
	}
	*(void **)&entry = dlsym(p->handle, DVP_ENTRY_SYMBOL);
	if (entry == NULL) {
		why = dv_error_set("no %s symbol; not a dvmilter plugin",
		    DVP_ENTRY_SYMBOL);
		goto fail;
	}
	if ((p->desc = entry(DVP_ABI_MAJOR, DVP_ABI_MINOR)) == NULL) {
		why = dv_error_set("it does not support plugin ABI %d.%d",
		    DVP_ABI_MAJOR, DVP_ABI_MINOR);
		goto fail;
	}
	if (p->desc->abi_major != DVP_ABI_MAJOR) {
		why = dv_error_set("built for plugin ABI %u.%u, this dvmilter "
		    "has %d.%d", p->desc->abi_major, p->desc->abi_minor,
		    DVP_ABI_MAJOR, DVP_ABI_MINOR);
		p->desc = NULL;
		goto fail;
	}
	if (p->desc->size < sizeof(struct dvp_plugin) ||
	    p->desc->init == NULL || p->desc->deliver == NULL ||
	    p->desc->shutdown == NULL || p->desc->health == NULL) {
		why = dv_error_set("its descriptor is incomplete");
		p->desc = NULL;
		goto fail;
	}
	if (p->desc->name == NULL || strcmp(p->desc->name, name) != 0) {
		why = dv_error_set("it calls itself \"%s\"",
		    p->desc->name ? p->desc->name : "(null)");
		p->desc = NULL;
		goto fail;
	}
	if (check_keys(c, p, &why) != 0)
		goto fail;
	p->conf = c;
	p->kv = kv;
	p->kv_arg = kv_arg;
	p->host = (struct dvp_host) {
		.size = sizeof(struct dvp_host),
		.abi_major = DVP_ABI_MAJOR,
		.abi_minor = DVP_ABI_MINOR,
		.ctx = p,
		.log = host_log,
		.config = host_config,
		.kv_get = host_kv_get,
		.kv_put = host_kv_put,
		.kv_del = host_kv_del,
		.kv_next = host_kv_next,
		.kv_put_now = host_kv_put_now,
	};
	if (p->desc->init(&p->host, &p->state, err, sizeof(err)) != DVP_OK) {
		p->state = NULL;
		why = dv_error_set("init failed: %s", err[0] ? err :
		    "no reason given");
		goto fail;
	}
	*p_r = p;
	return 0;
fail:
	*error_r = dv_error_set("plugin %s (%s): %s", name, p->path, why);
	plugin_free(p);
	return DV_ECONF;
}

int
plugin_set_load(const struct conf *c, const struct plugin_kv_ops *kv,
    void *kv_arg, struct plugin_set **set_r, const char **error_r)
{
	struct plugin_set *set = calloc(1, sizeof(*set));
	size_t n = 0;
	int rc;

	if (set == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	while (c->plugins != NULL && c->plugins[n] != NULL)
		n++;
	if (n > 0 && (set->v = calloc(n, sizeof(*set->v))) == NULL) {
		free(set);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rc = plugin_load_one(c, c->plugins[i], kv, kv_arg, &set->v[i],
		    error_r);
		if (rc != 0) {
			plugin_set_free(set);
			return rc;
		}
		set->n++;
	}
	*set_r = set;
	return 0;
}

void
plugin_set_free(struct plugin_set *set)
{
	if (set == NULL)
		return;
	while (set->n > 0)
		plugin_free(set->v[--set->n]);
	free(set->v);
	free(set);
}

size_t
plugin_set_count(const struct plugin_set *set)
{
	return set->n;
}

struct plugin *
plugin_set_get(const struct plugin_set *set, size_t i)
{
	return i < set->n ? set->v[i] : NULL;
}

const char *
plugin_name(const struct plugin *p)
{
	return p->name;
}

const struct dvp_plugin *
plugin_desc(const struct plugin *p)
{
	return p->desc;
}

int64_t
plugin_held_until(const struct plugin *p, unsigned *held_for_r,
    const char **why_r)
{
	if (held_for_r != NULL)
		*held_for_r = p->held_for;
	if (why_r != NULL)
		*why_r = p->held_why;
	return p->held_until;
}

void
plugin_hold(struct plugin *p, int64_t until, unsigned held_for,
    const char *why)
{
	p->held_until = until;
	p->held_for = held_for;
	snprintf(p->held_why, sizeof(p->held_why), "%s", why ? why : "");
}

int
plugin_health(struct plugin *p, char *msg, size_t msgsz)
{
	int rc;

	msg[0] = '\0';
	rc = p->desc->health(p->state, msg, msgsz);
	msg[msgsz - 1] = '\0';
	return rc >= DVP_OK && rc <= DVP_PERMANENT ? rc : DVP_PERMANENT;
}

void
plugin_deliver(struct plugin *p, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	memset(r, 0, sizeof(*r));
	p->desc->deliver(p->state, m, d, r);
	r->activity_id[sizeof(r->activity_id) - 1] = '\0';
	r->case_id[sizeof(r->case_id) - 1] = '\0';
	r->error[sizeof(r->error) - 1] = '\0';
	if (r->retry_after < 0 || r->retry_after > 86400)
		r->retry_after = r->retry_after < 0 ? 0 : 86400;
	if (r->status < DVP_OK || r->status > DVP_PERMANENT) {
		snprintf(r->error, sizeof(r->error), "plugin returned status %d",
		    r->status);
		r->status = DVP_PERMANENT;
	}
}

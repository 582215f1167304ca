/*
 * plugin.c - plugin loader, and the calls into a plugin.
 *
 * Loading checks, in order: a safe name, a regular file that is not
 * writable by group or others and is owned by root or by us (the daemon
 * and dvmilterctl often start as root: a plugin anyone could replace
 * would run as root), dlopen(RTLD_NOW | RTLD_LOCAL) so unresolved
 * symbols fail now, the one entry symbol, the ABI major version (naming
 * both versions when they differ) and descriptor size, the name, the
 * plugin's config keys, and finally init(), whose key/value writes it
 * commits. Every call marks its scope so that the host services
 * (core/plugin_host.c) know what a write means. It decides nothing about
 * when to deliver; the worker does.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin_int.h"
#include "safepath.h"
#include "status.h"

struct plugin_set {
	struct plugin **v;
	size_t n;
	struct pluginkv *ckv;		/* the buffer of calls but deliver */
};

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
	plugin_host_cleanup(p);
	free(p->name);
	free(p);
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

/*
 * What a refused plugin was built for: the host may call the entry with
 * other versions (dvmilter_plugin.h), and the first fields of every
 * major version's descriptor are the same.
 */
static void
refused_version(dvp_entry_fn entry, char *out, size_t outsz)
{
	const struct dvp_plugin *d;

	snprintf(out, outsz, "another plugin ABI");
	for (uint32_t major = 1; major <= DVP_ABI_MAJOR + 8; major++) {
		if (major == DVP_ABI_MAJOR)
			continue;
		if ((d = entry(major, UINT32_MAX)) != NULL) {
			snprintf(out, outsz, "plugin ABI %u.%u", d->abi_major,
			    d->abi_minor);
			return;
		}
	}
}

/* dlopen() and the descriptor's version, size and name. */
static int
open_plugin(struct plugin *p, const char *real, const char *name,
    const char **why)
{
	dvp_entry_fn entry;
	const struct dvp_plugin *d;
	char built[64];

	if ((p->handle = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		*why = dv_error_set("dlopen: %s", dlerror());
		return -1;
	}
	*(void **)&entry = dlsym(p->handle, DVP_ENTRY_SYMBOL);
	if (entry == NULL) {
		*why = dv_error_set("no %s symbol; not a dvmilter plugin",
		    DVP_ENTRY_SYMBOL);
		return -1;
	}
	d = entry(DVP_ABI_MAJOR, DVP_ABI_MINOR);
	if (d == NULL || d->abi_major != DVP_ABI_MAJOR) {
		if (d != NULL)
			snprintf(built, sizeof(built), "plugin ABI %u.%u",
			    d->abi_major, d->abi_minor);
		else
			refused_version(entry, built, sizeof(built));
		*why = dv_error_set("built for %s, this dvmilter has plugin "
		    "ABI %d.%d; rebuild it against this dvmilter's "
		    "dvmilter_plugin.h", built, DVP_ABI_MAJOR, DVP_ABI_MINOR);
		return -1;
	}
	if (d->size < DVP_PLUGIN_SIZE_2_0 || d->init == NULL ||
	    d->deliver == NULL || d->shutdown == NULL || d->health == NULL) {
		*why = dv_error_set("its descriptor is incomplete");
		return -1;
	}
	if (d->name == NULL || strcmp(d->name, name) != 0) {
		*why = dv_error_set("it calls itself \"%s\"",
		    d->name ? d->name : "(null)");
		return -1;
	}
	p->desc = d;
	return 0;
}

static bool
listed(const char *const *names, const char *name)
{
	for (; names != NULL && *names != NULL; names++)
		if (strcmp(*names, name) == 0)
			return true;
	return false;
}

/*
 * Its commands: complete, none of the program's own, none that a plugin
 * loaded before it offers.
 */
static int
check_commands(const struct plugin_set *set, const struct plugin *p,
    const char *const *reserved, const char **why)
{
	struct plugin *other;

	for (const struct dvp_command *cmd = p->desc->commands;
	    cmd != NULL && cmd->name != NULL; cmd++) {
		if (cmd->run == NULL || cmd->usage == NULL ||
		    cmd->name[0] == '\0') {
			*why = dv_error_set("its command \"%s\" is incomplete",
			    cmd->name);
			return -1;
		}
		if (listed(reserved, cmd->name)) {
			*why = dv_error_set("its command \"%s\" is one of "
			    "dvmilterctl's own", cmd->name);
			return -1;
		}
		if (plugin_set_command(set, cmd->name, &other) != NULL) {
			*why = dv_error_set("its command \"%s\" is plugin %s's "
			    "already", cmd->name, other->name);
			return -1;
		}
	}
	return 0;
}

/* init(), and the commit of what it wrote. */
static int
init_plugin(struct plugin *p, const char **why)
{
	char err[512] = "";
	const char *cerr;
	int rc;

	plugin_host_setup(p);
	p->scope = PLUGIN_SCOPE_CALL;
	rc = p->desc->init(&p->host, &p->state, err, sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (rc != DVP_OK) {
		p->state = NULL;
		(void)plugin_call_end(p, false, &cerr);
		*why = dv_error_set("init failed: %s", err[0] ? err :
		    "no reason given");
		return -1;
	}
	if (plugin_call_end(p, true, &cerr) != 0) {
		*why = dv_error_set("init's records could not be stored: %s",
		    cerr);
		return -1;
	}
	return 0;
}

static int
plugin_load_one(const struct conf *c, const char *name,
    const struct plugin_host_opts *o, const struct plugin_set *set,
    struct plugin **p_r, const char **error_r)
{
	char real[PATH_MAX];
	struct plugin *p;
	const char *why = NULL;
	int n;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(name)) == NULL) {
		free(p);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	p->conf = c;
	p->mode = o != NULL ? o->mode : DVP_MODE_CHECK;
	p->progname = o != NULL && o->progname != NULL ? o->progname :
	    "dvmilterctl";
	if (o != NULL && o->store != NULL) {
		p->store = o->store;
		p->ops = pluginkv_ops();
		p->dkv = o->kv;
		p->ckv = set->ckv;
	}
	n = snprintf(p->path, sizeof(p->path), "%s/%s.so", c->plugin_dir, name);
	if (n < 0 || (size_t)n >= sizeof(p->path))
		why = "path too long";
	else if (safepath_check(p->path, real, &why) == 0 &&
	    open_plugin(p, real, name, &why) == 0 && check_keys(c, p, &why) == 0 &&
	    check_commands(set, p, o != NULL ? o->reserved_commands : NULL,
	    &why) == 0 && init_plugin(p, &why) == 0) {
		*p_r = p;
		return 0;
	}
	*error_r = dv_error_set("plugin %s (%s): %s", name, p->path, why);
	plugin_free(p);
	return DV_ECONF;
}

int
plugin_set_load(const struct conf *c, const struct plugin_host_opts *o,
    struct plugin_set **set_r, const char **error_r)
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
	if ((n > 0 && (set->v = calloc(n, sizeof(*set->v))) == NULL) ||
	    (o != NULL && o->store != NULL &&
	    (set->ckv = pluginkv_new(o->store)) == NULL)) {
		plugin_set_free(set);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rc = plugin_load_one(c, c->plugins[i], o, set, &set->v[i],
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
	pluginkv_free(set->ckv);
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
plugin_call_end(struct plugin *p, bool commit, const char **error_r)
{
	p->scope = PLUGIN_SCOPE_NONE;
	if (p->ckv == NULL)
		return 0;
	if (!commit) {
		pluginkv_discard(p->ckv);
		return 0;
	}
	return pluginkv_commit(p->ckv, error_r);
}

int
plugin_health(struct plugin *p, char *msg, size_t msgsz)
{
	const char *err;
	int rc;

	msg[0] = '\0';
	p->scope = PLUGIN_SCOPE_CALL;
	rc = p->desc->health(p->state, msg, msgsz);
	if (plugin_call_end(p, true, &err) != 0)
		log_error("plugin %s: what its health check wrote could not be "
		    "stored: %s", p->name, err);
	msg[msgsz - 1] = '\0';
	return rc >= DVP_OK && rc <= DVP_PERMANENT ? rc : DVP_PERMANENT;
}

const struct dvp_command *
plugin_set_command(const struct plugin_set *set, const char *name,
    struct plugin **p_r)
{
	for (size_t i = 0; i < set->n; i++)
		for (const struct dvp_command *cmd = set->v[i]->desc->commands;
		    cmd != NULL && cmd->name != NULL; cmd++)
			if (strcmp(cmd->name, name) == 0) {
				*p_r = set->v[i];
				return cmd;
			}
	return NULL;
}

int
plugin_command(struct plugin *p, const struct dvp_command *cmd, int argc,
    char **argv)
{
	const char *err;
	int rc;

	p->scope = PLUGIN_SCOPE_CALL;
	rc = cmd->run(p->state, argc, argv);
	if (rc < DVP_CMD_OK || rc > DVP_CMD_USAGE)
		rc = DVP_CMD_FAIL;
	if (plugin_call_end(p, rc == DVP_CMD_OK, &err) != 0) {
		fprintf(stderr, "%s: %s\n", p->progname, err);
		rc = DVP_CMD_FAIL;
	}
	return rc;
}

void
plugin_deliver(struct plugin *p, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	p->scope = PLUGIN_SCOPE_DELIVER;
	p->desc->deliver(p->state, m, d, r);
	p->scope = PLUGIN_SCOPE_NONE;
	r->activity_id[sizeof(r->activity_id) - 1] = '\0';
	r->case_id[sizeof(r->case_id) - 1] = '\0';
	r->error[sizeof(r->error) - 1] = '\0';
	if (r->retry_after < 0 || r->retry_after > 86400)
		r->retry_after = r->retry_after < 0 ? 0 : 86400;
	if (r->pause_all < 0 || r->status != DVP_TRANSIENT)
		r->pause_all = 0;
	else if (r->pause_all > 86400)
		r->pause_all = 86400;
	if (r->status < DVP_OK || r->status > DVP_PERMANENT) {
		snprintf(r->error, sizeof(r->error), "plugin returned status %d",
		    r->status);
		r->status = DVP_PERMANENT;
	}
}

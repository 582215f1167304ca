/*
 * plugin_int.h - private interface of the plugin module: core/plugin.c
 * (loading, calls) and core/plugin_host.c (the services a plugin calls).
 */
#ifndef DV_PLUGIN_INT_H
#define DV_PLUGIN_INT_H

#include <stdint.h>

#include "plugin.h"
#include "retry.h"
#include "pluginkv.h"

/* Which call of the plugin is running: what its kv writes mean. */
enum plugin_scope {
	PLUGIN_SCOPE_NONE = 0,		/* none: no kv at all */
	PLUGIN_SCOPE_CALL = 1,		/* init, health, a command */
	PLUGIN_SCOPE_DELIVER = 2	/* deliver */
};

struct plugin {
	char *name;
	char path[1100];
	void *handle;
	const struct dvp_plugin *desc;
	void *state;
	struct dvp_host host;
	const struct conf *conf;
	int mode;			/* enum dvp_mode */
	const struct plugin_kv_ops *ops;	/* NULL: no store */
	struct pluginkv *dkv;		/* deliver()'s buffer, or NULL */
	struct pluginkv *ckv;		/* the other calls', or NULL */
	int scope;			/* enum plugin_scope */
	struct store *store;		/* or NULL */
	const char *progname;		/* for a command's messages */
	struct plugin_mailbox *mb;	/* mailbox_get()'s answer, or NULL */
	int64_t held_until;		/* plugin_hold() */
	unsigned held_for;
	char held_why[200];
	struct plugin_named_hold {	/* the plugin's own: hold_trip() */
		char name[32];		/* "" if unused */
		struct retry_breaker b;
	} holds[DVP_HOLDS_MAX];
};

/** plugin_host_setup - fill in p->host for @p (name, conf, mode set). */
void plugin_host_setup(struct plugin *p);

/** plugin_host_cleanup - free what the services kept for @p. */
void plugin_host_cleanup(struct plugin *p);

/**
 * plugin_call_end - end a call begun by setting p->scope to
 * PLUGIN_SCOPE_CALL: commit its buffered writes if @commit, else drop
 * them.
 * @return 0, or the pluginkv_commit() status with *error_r set.
 */
int plugin_call_end(struct plugin *p, bool commit, const char **error_r);

#endif

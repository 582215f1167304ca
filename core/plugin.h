/*
 * plugin.h - loading dvmilter plugins (plugins/dvmilter_plugin.h) and
 * calling them.
 *
 * A plugin set is the ordered list of the Plugins key, each loaded from
 * PluginDir/NAME.so, checked against the ABI, and initialised with its
 * own "Name.*" keys. Loading is all-or-nothing: any failure names the
 * file and the reason, and nothing stays loaded. Every call into a
 * plugin goes through this module, which gives the plugin's key/value
 * writes the meaning the ABI promises for that call.
 */
#ifndef DV_PLUGIN_H
#define DV_PLUGIN_H

#include <stddef.h>

#include "conf.h"
#include "dvmilter_plugin.h"
#include "store.h"

struct plugin;
struct plugin_set;
struct pluginkv;

/* Who loads the set, with what. */
struct plugin_host_opts {
	int mode;		/* enum dvp_mode */
	struct store *store;	/* the store (WORKER, ADMIN), or NULL */
	struct pluginkv *kv;	/* WORKER: the buffer deliver() writes to,
				   which core/deliver.c commits; or NULL */
	const char *progname;	/* ADMIN: names the program in a command's
				   messages; NULL: "dvmilterctl" */
	const char *const *reserved_commands;	/* the program's own
				   commands, which no plugin may offer;
				   NULL-terminated, or NULL */
};

/**
 * plugin_set_load - load and initialise every plugin the config lists.
 * @param[in]  c        the config (Plugins, PluginDir, "Name.*" keys);
 *                      it must outlive the set.
 * @param[in]  o        mode, store and delivery buffer; NULL for
 *                      DVP_MODE_CHECK (only checking the configuration:
 *                      no store). The store must outlive the set.
 * @param[out] set_r    the loaded set (possibly empty).
 * @param[out] error_r  "plugin webhook (/usr/lib/dvmilter/webhook.so):
 *                      reason" on failure.
 * @return 0, or DV_ECONF.
 */
int plugin_set_load(const struct conf *c, const struct plugin_host_opts *o,
    struct plugin_set **set_r, const char **error_r);

/** plugin_set_free - shut every plugin down (in reverse order), unload. */
void plugin_set_free(struct plugin_set *set);

/** plugin_set_count - how many plugins the set holds. */
size_t plugin_set_count(const struct plugin_set *set);

/** plugin_set_get - the i-th plugin, in configured order. */
struct plugin *plugin_set_get(const struct plugin_set *set, size_t i);

/** plugin_name - the plugin's name. */
const char *plugin_name(const struct plugin *p);

/** plugin_desc - the plugin's descriptor. */
const struct dvp_plugin *plugin_desc(const struct plugin *p);

/**
 * plugin_held_until - until when the worker holds the plugin's
 * deliveries back (Unix time; 0 or past: not held); in *held_for_r the
 * length of the last hold in seconds, 0 once it delivered again, and in
 * *why_r what its health check said (each if not NULL). plugin_hold()
 * sets them; nothing else does.
 */
int64_t plugin_held_until(const struct plugin *p, unsigned *held_for_r,
    const char **why_r);
void plugin_hold(struct plugin *p, int64_t until, unsigned held_for,
    const char *why);

/**
 * plugin_health - ask the plugin whether it can deliver now, and commit
 * its key/value writes of the call whatever it answers.
 * @return a dvp_status; @msg holds the reason when not DVP_OK.
 */
int plugin_health(struct plugin *p, char *msg, size_t msgsz);

/**
 * plugin_command - the command @name of the set's plugins, and in *p_r
 * the plugin that offers it.
 * @return the command, or NULL if no plugin offers one of that name.
 */
const struct dvp_command *plugin_set_command(const struct plugin_set *set,
    const char *name, struct plugin **p_r);

/**
 * plugin_command - run the command @cmd of @p with @argc/@argv, and
 * commit its key/value writes if it succeeded. A failure to commit is
 * reported on stderr and fails the command.
 * @return a dvp_cmd_status (an out-of-range one becomes DVP_CMD_FAIL).
 */
int plugin_command(struct plugin *p, const struct dvp_command *cmd,
    int argc, char **argv);

/**
 * plugin_profile_view - the ABI's view of email server profile @p, whose
 * strings it points to: valid while @p is.
 */
void plugin_profile_view(const struct profile *p, struct dvp_profile *out);

/**
 * plugin_deliver - hand one message to the plugin; its key/value writes
 * go to the set's delivery buffer (plugin_host_opts.kv), which the
 * caller commits or rolls back. A plugin that returns an out-of-range
 * status is treated as DVP_PERMANENT; retry_after and pause_all come
 * back within 0..86400, pause_all 0 unless DVP_TRANSIENT.
 */
void plugin_deliver(struct plugin *p, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r);

#endif

/*
 * ctl_plugin.c - dvmilterctl's commands that plugins answer.
 *
 * A command that is not one of dvmilterctl's own is looked up among the
 * configured plugins (the local plugin's case, activity, contact and
 * caserule, for instance) and handed over whole: the plugin parses its
 * arguments, reads and writes its own records, and prints its output.
 * The plugins are loaded with the loader's checks (core/plugin.c), which
 * matter here as much as in the daemon: dvmilterctl often runs as root.
 * Nothing here knows what any plugin keeps or how.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl_int.h"
#include "plugin.h"
#include "status.h"

int
ctl_plugin_command(struct ctl *ctl, int argc, char **argv)
{
	struct plugin_host_opts o = {
		.mode = DVP_MODE_ADMIN,
		.progname = "dvmilterctl",
		.reserved_commands = ctl_builtin_commands,
	};
	const struct dvp_command *cmd;
	struct plugin *p;
	const char *err;

	if ((o.store = ctl_store(ctl)) == NULL)
		return CTL_FAIL;
	if (plugin_set_load(ctl->conf, &o, &ctl->plugins, &err) != 0)
		return ctl_fail("\"%s\" is not one of dvmilterctl's own "
		    "commands, and the plugins that may provide it could not "
		    "be loaded: %s", argv[0], err);
	if ((cmd = plugin_set_command(ctl->plugins, argv[0], &p)) == NULL)
		return ctl_usage_error("unknown command \"%s\"", argv[0]);
	return plugin_command(p, cmd, argc, argv);
}

void
ctl_plugin_usage(const char *conf_path, FILE *fp)
{
	struct plugin_host_opts o = {
		.mode = DVP_MODE_CHECK,
		.reserved_commands = ctl_builtin_commands,
	};
	struct plugin_set *ps;
	struct conf *c;
	const char *err;

	/* Without a configuration whose plugins load, only our own. */
	if (conf_load(conf_path, &c, &err) != 0)
		return;
	if (plugin_set_load(c, &o, &ps, &err) == 0) {
		for (size_t i = 0; i < plugin_set_count(ps); i++) {
			const struct dvp_command *cmd =
			    plugin_desc(plugin_set_get(ps, i))->commands;

			for (; cmd != NULL && cmd->name != NULL; cmd++)
				fputs(cmd->usage, fp);
		}
		plugin_set_free(ps);
	}
	conf_unref(c);
}

/*
 * ctl_main.c - dvmilterctl: option parsing, dispatch and the helpers
 * every command shares (store access, tables, JSON, errors).
 *
 * dvmilterctl talks to the store directly. LMDB serialises writers and
 * the daemon's next read transaction sees each commit, so it is safe to
 * run while the daemon runs and needs no reload.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"
#include "plugin.h"
#include "status.h"

void
ctl_vmessage(const char *suffix, const char *fmt, va_list ap)
{
	fputs("dvmilterctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(suffix, stderr);
}

int
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("\n", fmt, ap);
	va_end(ap);
	return CTL_FAIL;
}

int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("\nTry 'dvmilterctl help'.\n", fmt, ap);
	va_end(ap);
	return CTL_USAGE;
}

int
ctl_dispatch(struct ctl *ctl, const char *what,
    const struct ctl_command *cmds, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage_error("%s needs a subcommand", what);
	for (; cmds->name != NULL; cmds++)
		if (strcmp(argv[1], cmds->name) == 0)
			return cmds->run(ctl, argc - 1, argv + 1);
	return ctl_usage_error("unknown %s subcommand \"%s\"", what, argv[1]);
}

struct store *
ctl_store(struct ctl *ctl)
{
	struct store_opts o = { 0 };
	const char *err;

	if (ctl->store != NULL)
		return ctl->store;
	o.mapsize = ctl->conf->database_mapsize;
	o.create = true;
	if (store_open(ctl->conf->database, &o, &ctl->store, &err) != 0) {
		ctl_fail("%s", err);
		return NULL;
	}
	return ctl->store;
}

struct outbox *
ctl_outbox_open(struct ctl *ctl)
{
	struct store *st = ctl_store(ctl);
	const struct outbox_opts o = { .plugins = ctl->conf->plugins };
	const char *err;

	if (ctl->outbox != NULL || st == NULL)
		return ctl->outbox;
	if (outbox_open(st, &o, &ctl->outbox, &err) != 0) {
		ctl_fail("%s", err);
		return NULL;
	}
	return ctl->outbox;
}

int
ctl_txn(struct ctl *ctl, bool write, struct store_txn **txn_r)
{
	struct store *st = ctl_store(ctl);
	const char *err;

	if (st == NULL)
		return CTL_FAIL;
	if (store_txn_begin(st, write, txn_r, &err) != 0)
		return ctl_fail("%s", err);
	return CTL_OK;
}

int
ctl_commit(struct store_txn *txn)
{
	const char *err;

	if (store_txn_commit(txn, &err) != 0)
		return ctl_fail("%s", err);
	return CTL_OK;
}

int
ctl_print_json(json_t *doc)
{
	char *s;

	if (doc == NULL)
		return ctl_fail("out of memory");
	s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (s == NULL)
		return ctl_fail("out of memory");
	puts(s);
	free(s);
	return CTL_OK;
}

void
ctl_time(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outsz, "-");
}

/* --- tables --------------------------------------------------------------- */

struct ctl_table {
	size_t ncols, nrows, alloc;
	size_t *width;
	char **cells;		/* nrows * ncols, row 0 = headers */
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->width = calloc(ncols, sizeof(size_t))) == NULL) {
		free(t);
		return NULL;
	}
	t->ncols = ncols;
	if (ctl_table_row(t, headers) != 0) {
		ctl_table_free(t);
		return NULL;
	}
	return t;
}

int
ctl_table_row(struct ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->alloc) {
		size_t na = t->alloc ? t->alloc * 2 : 64;
		char **nc = realloc(t->cells, na * t->ncols * sizeof(char *));

		if (nc == NULL)
			return ENOMEM;
		t->cells = nc;
		t->alloc = na;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = cells[i] != NULL && cells[i][0] ? cells[i] : "-";
		size_t w = 0;

		if ((t->cells[t->nrows * t->ncols + i] = strdup(s)) == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return ENOMEM;
		}
		/* Width in characters, not bytes, for UTF-8 owners. */
		for (const char *p = s; *p; p++)
			if (((unsigned char)*p & 0xc0) != 0x80)
				w++;
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return 0;
}

void
ctl_table_print(struct ctl_table *t, FILE *fp)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t w = 0;

			fputs(s, fp);
			if (i + 1 == t->ncols)
				break;
			for (const char *p = s; *p; p++)
				if (((unsigned char)*p & 0xc0) != 0x80)
					w++;
			for (; w < t->width[i] + 2; w++)
				fputc(' ', fp);
		}
		fputc('\n', fp);
	}
}

void
ctl_table_free(struct ctl_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* --- commands --------------------------------------------------------------- */

/* The help: our commands, then the plugins' of @conf_path, then reload. */
static void
usage(FILE *fp, const char *conf_path)
{
	fputs(
"usage: dvmilterctl [-c FILE] COMMAND ...\n"
"\n"
"  mailbox add ADDRESS [--queue|--user] [--owner NAME] [--incoming M]\n"
"                      [--outgoing M] [--act M] [--profile NAME] [--filter F]\n"
"  mailbox approve|reject|remove ADDRESS\n"
"  mailbox set ADDRESS [--incoming M] [--outgoing M] [--act M]\n"
"                      [--profile NAME | --no-profile] [--owner NAME]\n"
"                      [--queue|--user] [--approval A] [--filter F]\n"
"                      [--enabled yes|no] [--incoming-status S]\n"
"                      [--outgoing-status S] [--act-status S]\n"
"                      [--status-message TEXT]\n"
"  mailbox list [--json]\n"
"  mailbox show ADDRESS [--json]\n"
"  mailbox import FILE.csv\n"
"  profile add|set NAME [--server-type T] [--smtp-url URL] [--tls MODE]\n"
"                       [--auth A] [--username U] [--secret-file PATH]\n"
"  profile list [--json]\n"
"  profile show NAME [--json]\n"
"  profile remove NAME\n"
"  rule add MAILBOX CONDITION... (--folder F [--regarding TYPE:ID] |\n"
"                  --no-track) [--position N]\n"
"      CONDITION: --subaddress S, --sender GLOB, --recipient GLOB,\n"
"                 --header 'NAME: GLOB', --subject TEXT (all must hold)\n"
"  rule list [MAILBOX] [--json]\n"
"  rule remove MAILBOX N\n"
"  rule move MAILBOX N TO\n"
"  outbox list [--state pending|done|dead] [--json]\n"
"  outbox show ID [--json]\n"
"  outbox logged [--json]\n"
"  outbox retry ID [--plugin NAME]\n"
"  outbox drop ID\n", fp);
	ctl_plugin_usage(conf_path, fp);
	fputs(
"  reload        ask the running daemon (PidFile) to reload its config\n"
"  backup [--force] FILE\n"
"                a compacted copy of the store, safe while mail flows\n"
"\n"
"  M is server-side-sync, outlook or none; S is not-run, success or failure;\n"
"  A is pending, approved, rejected or empty; F is all, responses,\n"
"  known-senders, none or default (queues: all, users: responses).\n"
"  queue is another name for outbox.\n"
"  -c FILE  configuration file (default " CONF_DEFAULT_PATH ")\n"
"  -h       this help; -V the version\n"
"Exit status: 0 done, 1 the request failed, 2 usage error.\n", fp);
}

static int
ctl_reload(struct ctl *ctl, int argc, char **argv)
{
	char buf[32], *end;
	FILE *fp;
	long pid;

	if (argc != 1)
		return ctl_usage_error("reload takes no arguments");
	if (ctl->conf->pidfile == NULL)
		return ctl_fail("%s sets no PidFile; send SIGUSR1 to dvmilter "
		    "yourself", ctl->conf_path);
	if ((fp = fopen(ctl->conf->pidfile, "r")) == NULL)
		return ctl_fail("%s: %s (is dvmilter running?)",
		    ctl->conf->pidfile, strerror(errno));
	if (fgets(buf, sizeof(buf), fp) == NULL) {
		fclose(fp);
		return ctl_fail("%s: empty", ctl->conf->pidfile);
	}
	fclose(fp);
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    pid <= 1)
		return ctl_fail("%s: no process id in it", ctl->conf->pidfile);
	if (kill((pid_t)pid, SIGUSR1) != 0)
		return ctl_fail("cannot signal dvmilter (pid %ld): %s", pid,
		    strerror(errno));
	printf("reload requested (pid %ld); the daemon's log says whether the "
	    "new configuration was accepted\n", pid);
	return CTL_OK;
}

/* Our own commands; any other is a plugin's (ctl_plugin.c). */
static const struct ctl_command commands[] = {
	{ "mailbox", ctl_mailbox },
	{ "profile", ctl_profile },
	{ "rule", ctl_rule },
	{ "outbox", ctl_outbox },
	{ "queue", ctl_outbox },		/* its old name */
	{ "reload", ctl_reload },
	{ "backup", ctl_backup },
	{ NULL, NULL }
};

const char *const ctl_builtin_commands[] = {
	"mailbox", "profile", "rule", "outbox", "queue", "reload", "backup",
	"help",
	NULL
};

int
main(int argc, char **argv)
{
	struct ctl ctl = { .conf_path = CONF_DEFAULT_PATH };
	struct ctl_streams saved;
	const struct ctl_command *cmd;
	const char *err;
	int ch, rc;

	/* Stop at the first non-option: the rest belongs to the command. */
	while ((ch = getopt(argc, argv, "+c:hV")) != -1) {
		switch (ch) {
		case 'c': ctl.conf_path = optarg; break;
		case 'h': usage(stdout, ctl.conf_path); return CTL_OK;
		case 'V': printf("dvmilterctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		default: usage(stderr, ctl.conf_path); return CTL_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr, ctl.conf_path);
		return CTL_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout, ctl.conf_path);
		return CTL_OK;
	}
	for (cmd = commands; cmd->name != NULL; cmd++)
		if (strcmp(argv[0], cmd->name) == 0)
			break;
	/* Mail's text reaches root's terminal through no other way. */
	if (ctl_text_guard(ctl_wants_json(argc, argv), &saved) != 0)
		return ctl_fail("out of memory");
	if (conf_load(ctl.conf_path, &ctl.conf, &err) != 0)
		rc = cmd->name != NULL ? ctl_fail("%s", err) :
		    ctl_fail("\"%s\" is not one of dvmilterctl's own commands, "
		    "and a plugin's needs the configuration: %s", argv[0], err);
	else
		rc = cmd->name != NULL ? cmd->run(&ctl, argc, argv) :
		    ctl_plugin_command(&ctl, argc, argv);
	/* The plugins read the store through it: unloaded first. */
	plugin_set_free(ctl.plugins);
	outbox_close(ctl.outbox);
	store_close(ctl.store);
	conf_unref(ctl.conf);
	if (ctl_text_end(&saved) != 0)
		rc = ctl_fail("writing output: %s", strerror(errno));
	return rc;
}

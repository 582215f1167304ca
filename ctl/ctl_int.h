/*
 * ctl_int.h - private interface of dvmilterctl (ctl/ctl_*.c).
 *
 * Commands return an exit status: CTL_OK, CTL_FAIL (a bad request, with
 * one line on stderr) or CTL_USAGE. They run against the store named by
 * the configuration file, in one transaction each.
 */
#ifndef DV_CTL_INT_H
#define DV_CTL_INT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "conf.h"
#include "outbox.h"
#include "store.h"

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

struct plugin_set;

struct ctl {
	const char *conf_path;
	struct conf *conf;
	struct store *store;	/* opened on first use */
	struct outbox *outbox;	/* the store's, opened on first use */
	struct plugin_set *plugins;	/* loaded for a plugin's command */
};

#include <stdarg.h>

/** ctl_vmessage - print "dvmilterctl: " + message + @suffix to stderr. */
void ctl_vmessage(const char *suffix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/** ctl_fail - print "dvmilterctl: message" to stderr; returns CTL_FAIL. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** ctl_usage_error - print a usage complaint; returns CTL_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A subcommand: argv[0] is its name. */
struct ctl_command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/**
 * ctl_dispatch - run the subcommand argv[1] of command @what from the
 * NULL-terminated table @cmds; a usage error if there is none.
 */
int ctl_dispatch(struct ctl *ctl, const char *what,
    const struct ctl_command *cmds, int argc, char **argv);

/** ctl_store - open the store on first use; NULL after printing why. */
struct store *ctl_store(struct ctl *ctl);

/**
 * ctl_outbox_open - open the store's outbox on first use (not as its writer:
 * the daemon is); NULL after printing why.
 */
struct outbox *ctl_outbox_open(struct ctl *ctl);

/**
 * ctl_txn - begin a transaction on the store.
 * @return CTL_OK, or CTL_FAIL after printing why.
 */
int ctl_txn(struct ctl *ctl, bool write, struct store_txn **txn_r);

/** ctl_commit - commit; CTL_OK or CTL_FAIL after printing why. */
int ctl_commit(struct store_txn *txn);

/** ctl_print_json - print one JSON document and release it. */
int ctl_print_json(json_t *doc);

/* ctl_text.c */

/**
 * ctl_wants_json - whether a command's arguments (@argv[0] the command)
 * ask for JSON (--json, or a prefix of it that getopt_long() takes).
 */
bool ctl_wants_json(int argc, char **argv);

/* The standard streams that ctl_text_guard() replaced. */
struct ctl_streams {
	FILE *out, *err;
};

/**
 * ctl_text_guard - replace stdout and stderr by streams on the same
 * descriptors that escape what a terminal would obey: in text, C0
 * controls but newline and tab, DEL and C1 controls (raw or UTF-8) as
 * \xNN; with @json (stdout only), DEL as \u007f, which jansson leaves
 * raw. Call once, before any output that may carry mail's text.
 * @param[out] saved  the streams replaced, for ctl_text_end().
 * @return 0, or -1 (out of memory: the standard streams stay).
 */
int ctl_text_guard(bool json, struct ctl_streams *saved);

/**
 * ctl_text_end - flush and close the guarding streams and put @saved
 * back.
 * @return 0, or -1 with errno if the output could not be written.
 */
int ctl_text_end(const struct ctl_streams *saved);

/*
 * An aligned text table: add the header and rows, then print.
 */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
int ctl_table_row(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t, FILE *fp);
void ctl_table_free(struct ctl_table *t);

/** ctl_time - format a Unix time as "2026-11-28 10:00:00 UTC". */
void ctl_time(long long t, char *out, size_t outsz);

/**
 * ctl_mailbox_address - normalise a mailbox address given on the command
 * line into @out; a subaddress is refused.
 * @return CTL_OK, or CTL_FAIL after printing why.
 */
int ctl_mailbox_address(const struct ctl *ctl, const char *in, char *out,
    size_t outsz);

int ctl_mailbox(struct ctl *ctl, int argc, char **argv);
int ctl_rule(struct ctl *ctl, int argc, char **argv);
int ctl_profile(struct ctl *ctl, int argc, char **argv);
int ctl_outbox(struct ctl *ctl, int argc, char **argv);

/** ctl_backup - "backup [--force] FILE" (ctl_backup.c). */
int ctl_backup(struct ctl *ctl, int argc, char **argv);

/* The names of dvmilterctl's own commands, NULL-terminated. */
extern const char *const ctl_builtin_commands[];

/**
 * ctl_plugin_command - run argv[0], a command that is not dvmilterctl's
 * own: load the configured plugins (DVP_MODE_ADMIN, on the store) into
 * ctl->plugins and hand it to the one that offers it.
 * @return the command's exit status; CTL_FAIL if the plugins do not
 *         load; CTL_USAGE if none offers it.
 */
int ctl_plugin_command(struct ctl *ctl, int argc, char **argv);

/**
 * ctl_plugin_usage - print the help lines of the commands that the
 * plugins configured in @conf_path offer; nothing if they do not load.
 */
void ctl_plugin_usage(const char *conf_path, FILE *fp);

#endif

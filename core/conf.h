/*
 * conf.h - dvmilter.conf: parsing, validation and immutable snapshots.
 *
 * The file is opendkim-style: one "Key value" per line, '#' starts a
 * comment, keys are case-insensitive, unknown and repeated keys are
 * errors. A parsed struct conf is never changed; a reload builds a new
 * one and swaps it in, and holders of the old one keep it alive with
 * conf_ref()/conf_unref() until their transaction ends.
 */
#ifndef DV_CONF_H
#define DV_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "cidr.h"

#ifndef DV_PLUGINDIR
#define DV_PLUGINDIR "/usr/lib/dvmilter"
#endif
#ifndef DV_SYSCONFDIR
#define DV_SYSCONFDIR "/etc"
#endif
#define CONF_DEFAULT_PATH DV_SYSCONFDIR "/dvmilter/dvmilter.conf"
/* UserID when the file names none: a system account, never root. */
#define CONF_DEFAULT_USER "dvmilter"

/* What to do with a recipient or sender that a rule applies to. */
enum conf_action {
	CONF_ACCEPT = 0,	/* let it through untouched */
	CONF_REJECT = 1,	/* 5xx */
	CONF_TEMPFAIL = 2	/* 4xx */
};

/* An SMTP reply template: "550 5.7.1 <%a>: text". */
struct conf_reply {
	char code[4];		/* "550" */
	char xcode[16];		/* "5.7.1" */
	char *text;		/* may hold %a (the address) and %% */
};

struct conf_rule {
	enum conf_action action;
	struct conf_reply reply;
};

/* CaseJoinPolicy: who may add mail to an existing case. The values of
 * DVP_JOIN_* in the plugin header. */
enum conf_join {
	CONF_JOIN_ANY = 0,		/* whatever names the case */
	CONF_JOIN_PARTICIPANT = 1,	/* a participant, or token + pass */
	CONF_JOIN_AUTHENTICATED = 2	/* as participant, always with a pass */
};

enum conf_socket_kind {
	CONF_SOCK_INET = 0,
	CONF_SOCK_INET6 = 1,
	CONF_SOCK_UNIX = 2
};

/* A "Plugin.Key value" line, kept for the plugin to read. */
struct conf_plugin_key {
	char *plugin;		/* lower-case plugin name */
	char *key;		/* the part after the dot, as written */
	char *value;
	unsigned line;
};

struct conf {
	atomic_int refs;
	char *path;			/* the file it came from */

	/* Fixed at start-up (see conf_restart_keys()). */
	char *socket;			/* as written */
	char *socket_milter;		/* as libmilter's smfi_setconn() wants */
	enum conf_socket_kind socket_kind;
	char *socket_path;		/* unix sockets only */
	mode_t socket_mode;
	char *socket_group;		/* NULL: leave as is */
	char *database;
	size_t database_mapsize;
	char *userid;			/* "user" or "user:group" */
	char *pidfile;			/* NULL: none */

	/* Reloadable. */
	bool syslog;
	int syslog_facility;
	int log_level;
	struct cidr_list internal_hosts;
	char subaddress_seps[16];	/* "" disables subaddress handling */
	unsigned max_recipients;
	struct conf_rule unapproved_rcpt;
	struct conf_rule unapproved_sender;
	struct conf_rule unknown_rcpt;
	char **unknown_rcpt_domains;	/* NULL-terminated, A-label form */
	struct conf_rule malformed;
	struct conf_rule store_error;

	/* Tracked messages' content. */
	size_t message_memory_limit;	/* spill to SpoolDirectory past this */
	size_t max_message_size;	/* keep no more; track it truncated */
	/* What parsing one message for the plugins may cost (msg.h). */
	unsigned max_message_parts;	/* MaxMessageParts, 1000 */
	unsigned max_message_depth;	/* MaxMessageDepth, 20 */
	unsigned max_attachments;	/* MaxAttachments, 100 */
	size_t max_attachment_bytes;	/* MaxAttachmentBytes, 32M */
	size_t max_decoded_bytes;	/* MaxDecodedBytes, 64M */
	char *spool_dir;
	char *token_prefix;		/* TrackingTokenPrefix, "CRM:" */
	bool token_in_subject;		/* TrackingTokenInSubject, yes */
	bool smart_matching;		/* SmartMatching, no */
	unsigned case_rate_sender;	/* CaseRateLimit: per sender per hour */
	unsigned case_rate_queue;	/* CaseRateLimit: per queue per minute */
	char **trusted_authserv_ids;	/* TrustedAuthservIDs, lower-case;
					   NULL: trust none */
	int case_join;			/* CaseJoinPolicy, enum conf_join */
	int64_t outbox_retention;	/* OutboxRetention (s), 7d; 0 keeps */
	char *token_key_file;		/* NULL: Database/token.key */

	/* Plugins; restart to change. */
	char **plugins;			/* NULL-terminated, lower-case */
	char *plugin_dir;		/* default DV_PLUGINDIR */
	struct conf_plugin_key *plugin_keys;
	size_t nplugin_keys;

	/* The retry policy (retry.h), for the outbox worker; restart. */
	int64_t retry_base_delay;	/* RetryBaseDelay (s), 30s */
	int64_t retry_max_delay;	/* RetryMaxDelay (s), 1h */
	unsigned retry_max_attempts;	/* RetryMaxAttempts, 25 */
	unsigned delivery_crash_limit;	/* DeliveryCrashLimit, 3 */
	size_t worker_memory_limit;	/* WorkerMemoryLimit, 1G; 0: none */
	int64_t plugin_hold_first;	/* PluginHoldFirst (s), 30s */
	int64_t plugin_hold_max;	/* PluginHoldMax (s), 10m */
};

/**
 * conf_load - read and validate a configuration file.
 * @param[in]  path     the file.
 * @param[out] conf_r   a new snapshot with one reference.
 * @param[out] error_r  "path:line: message" on failure.
 * @return 0, DV_ECONF for a bad file, or an errno if it cannot be read.
 */
int conf_load(const char *path, struct conf **conf_r, const char **error_r);

/**
 * conf_parse_string - as conf_load() for text in memory; @name is used
 * in error messages in place of a path.
 */
int conf_parse_string(const char *name, const char *text,
    struct conf **conf_r, const char **error_r);

/** conf_defaults - a snapshot holding only the defaults. */
int conf_defaults(struct conf **conf_r);

/** conf_ref - take one more reference; returns @c. */
struct conf *conf_ref(struct conf *c);

/** conf_unref - drop a reference; the last one frees. NULL is a no-op. */
void conf_unref(struct conf *c);

/**
 * conf_restart_keys - which keys differ between @a and @b that only a
 * restart applies (those marked restart in conf_keys_describe()), in
 * the order of the table.
 * @param[out] out  receives "Socket, UserID" or "" (NUL-terminated).
 */
void conf_restart_keys(const struct conf *a, const struct conf *b, char *out,
    size_t outsz);

/**
 * conf_keys_describe - print the table of keys to @fp, one line each:
 * name, "restart" (only a restart applies a change) or "reload", the
 * type with its limits or accepted words, and the default as written
 * ("-" for none). For people and for the test that keeps
 * dvmilter.conf(5) in step with the table; not a stable format.
 * @param[in] fp  an open stream; errors are left in its error flag.
 */
void conf_keys_describe(FILE *fp);

/**
 * conf_reply_format - expand a reply template for one address.
 * %a becomes @addr with characters unsafe in an SMTP reply removed;
 * %% becomes %. The result is cut at @outsz - 1 bytes.
 */
void conf_reply_format(const struct conf_reply *r, const char *addr,
    char *out, size_t outsz);

/** conf_action_name - "accept", "reject" or "tempfail". */
const char *conf_action_name(enum conf_action a);

/**
 * conf_plugin_value - the value of "Plugin.Key" (both case-insensitive),
 * or NULL. Valid as long as the snapshot.
 */
const char *conf_plugin_value(const struct conf *c, const char *plugin,
    const char *key);

/**
 * conf_token_key_path - TrackingTokenKeyFile, or "token.key" in the
 * Database directory when it is not set.
 */
void conf_token_key_path(const struct conf *c, char *out, size_t outsz);

/** conf_domain_listed - true if @domain (A-label form) is in the list. */
bool conf_domain_listed(char *const *list, const char *domain);

#endif

/*
 * dvmilter_plugin.h - the dvmilter plugin ABI, version 2.
 *
 * This is the only header a plugin includes, and a plugin links against
 * nothing from dvmilter: every service it needs comes through the
 * struct dvp_host table the host passes to init(). docs/PLUGINS.md walks
 * through writing one; this header is the contract.
 *
 * LOADING. A plugin is a shared object NAME.so in dvmilter's PluginDir.
 * It exports exactly one symbol, dvmilter_plugin_entry() (declared
 * below), which returns the plugin's descriptor. The host refuses a file
 * that group or others may write or that is owned by neither root nor
 * the host's user, a descriptor of another major version or smaller
 * than the host's struct dvp_plugin, one without init, health, deliver
 * or shutdown, one whose name is not NAME, a "Name.*" key that is not
 * in its config_keys, and a command that dvmilterctl or another plugin
 * already has. Loading is all or nothing. Three programs load plugins,
 * each in its own mode (enum dvp_mode, in host->mode):
 *   - dvmilter at start-up and with -n, as root and again as UserID,
 *     only to check the configuration (DVP_MODE_CHECK): init, then
 *     shutdown; there is no store;
 *   - the outbox worker, as UserID (DVP_MODE_WORKER): init, then
 *     deliver and health for as long as it runs, then shutdown;
 *   - dvmilterctl, as whoever runs it, often root (DVP_MODE_ADMIN):
 *     init, the one command it was asked for, shutdown.
 * The SMTP path never calls a plugin. deliver() runs in the worker with
 * no store transaction open and may wait on a network; init, health and
 * commands should not wait long.
 *
 * VERSIONING. DVP_ABI_MAJOR changes when anything changes incompatibly;
 * the host then refuses plugins of any other major version, and names
 * both versions and the file. DVP_ABI_MINOR changes when something is
 * appended: fields at the end of the structs that start with their own
 * size (dvp_host, dvp_plugin, dvp_message, dvp_decision, dvp_result), and
 * new capability flags and return codes. A plugin built against a later
 * minor version than its host's checks a field's presence with
 * DVP_HAS() before it uses it; a field it writes (in dvp_result) it
 * writes only if DVP_HAS() says the host has it. The element structs of
 * arrays (dvp_address, dvp_attachment, dvp_command) are fixed for a
 * major version; dvp_mailbox grows too, so a plugin reaches mailbox i
 * with DVP_MAILBOX(decision, i), never decision->mailboxes[i], and reads
 * a dvp_mailbox field added in minor version N (from DVP_MAILBOX() or
 * mailbox_get()) only when host->abi_minor >= N. A host accepts a
 * descriptor of at least DVP_PLUGIN_SIZE_2_0 bytes, the size of struct
 * dvp_plugin in version 2.0; it reads the fields of later minor versions
 * only from a descriptor whose size holds them. The first
 * three fields of struct dvp_plugin (size, abi_major, abi_minor) keep
 * their place in every major version, so that a host can say which
 * version a plugin it refuses was built for.
 *
 * THREADS. The host calls a plugin from one thread at a time (the
 * worker has one thread), so a plugin needs no locks for its own state,
 * and the host's services may be called only from within a call the
 * host made (init, health, deliver, a command), on that thread.
 *
 * MEMORY. The struct dvp_host passed to init stays valid until shutdown
 * returns, so a plugin may keep the pointer. Everything else the host
 * passes in (message, decision, strings, attachment data, argv) is valid
 * for the duration of the call only; a plugin copies what it keeps. A
 * value the host hands back (kv_get, config) is valid as its function
 * says. The plugin owns its state: init allocates it, shutdown frees it.
 * The descriptor and the strings it points to belong to the plugin and
 * must stay valid while it is loaded. A plugin keeps no mutable state
 * outside its state pointer: two hosts may load it in one process.
 */
#ifndef DVMILTER_PLUGIN_H
#define DVMILTER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DVP_ABI_MAJOR	2
#define DVP_ABI_MINOR	1
#define DVP_ENTRY_SYMBOL "dvmilter_plugin_entry"

/**
 * DVP_HAS - whether the struct @p points to (of type @type, starting
 * with its size) has @field: the other side was built with it.
 */
#define DVP_HAS(type, p, field) \
	((p)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Log levels, as syslog(3) priorities. */
enum dvp_log_level {
	DVP_LOG_ERROR = 3,
	DVP_LOG_WARNING = 4,
	DVP_LOG_NOTICE = 5,
	DVP_LOG_INFO = 6,
	DVP_LOG_DEBUG = 7
};

/* Outcome of a delivery, a health check or init. Never renumbered. */
enum dvp_status {
	DVP_OK = 0,		/* done */
	DVP_TRANSIENT = 1,	/* failed; the host retries later */
	DVP_PERMANENT = 2	/* failed; retrying cannot help */
};

/* Which program loaded the plugin, in host->mode; see LOADING above. */
enum dvp_mode {
	DVP_MODE_CHECK = 0,	/* dvmilter checks the configuration */
	DVP_MODE_WORKER = 1,	/* the outbox worker delivers */
	DVP_MODE_ADMIN = 2	/* dvmilterctl runs a command */
};

/*
 * What the host's kv_* and known_* services return. Never renumbered.
 */
enum dvp_kv_status {
	DVP_KV_OK = 0,
	DVP_KV_NOTFOUND = 1,	/* no such key (or address) */
	DVP_KV_UNAVAILABLE = 2,	/* no store here: DVP_MODE_CHECK, a call
				   from outside a host call, or a service
				   not offered in this call */
	DVP_KV_INVALID = 3,	/* a key, value or address the host refuses */
	DVP_KV_ERROR = 4,	/* the store failed */
	DVP_KV_CONFLICT = 5	/* kv_commit: a record this call read was
				   changed by another writer meanwhile; the
				   buffered writes are dropped */
};

/* What a command returns: dvmilterctl's exit status. Never renumbered. */
enum dvp_cmd_status {
	DVP_CMD_OK = 0,		/* done */
	DVP_CMD_FAIL = 1,	/* the request failed: one line on stderr */
	DVP_CMD_USAGE = 2	/* the command line is wrong */
};

struct dvp_mailbox;

/* Capability flags in struct dvp_plugin.caps. */
#define DVP_CAP_ACTIVITY	0x01	/* creates email activities */
#define DVP_CAP_CASE		0x02	/* creates and updates cases */
#define DVP_CAP_NEEDS_BODY	0x04	/* wants text and attachments */
#define DVP_CAP_KNOWN_SENDERS	0x08	/* keeps its known-senders index */

/*
 * Services of the host. Every function takes host->ctx first.
 *
 * Services that return an int return an enum dvp_kv_status, but for
 * the commands' cmd_error and cmd_usage.
 *
 * THE KEY/VALUE STORE. Each plugin has a key/value space of its own in
 * the host's store (LMDB), which no other plugin sees. Keys are strings
 * of 1 to 400 bytes with the plugin's name, values up to 1 MiB of any
 * bytes. What a write means depends on the call it is made in; each
 * call is one transaction:
 *   - deliver(): writes are buffered; they commit together with the
 *     host's record that this delivery is done, in the worker's commit
 *     of its batch, and only if deliver() reports DVP_OK; otherwise they
 *     are dropped. So a retried delivery starts from what was committed.
 *   - init(), health() and a command: writes are buffered too; they
 *     commit right after the call returns: after init only if it
 *     returned DVP_OK, after health whatever it returned (a token it
 *     fetched stays good), after a command only if it returned
 *     DVP_CMD_OK. kv_commit() commits them earlier, for instance before
 *     a command prints that it did something.
 *   - in DVP_MODE_CHECK there is no store: every kv_* and known_*
 *     service returns DVP_KV_UNAVAILABLE. Plugins must start without.
 * In every call reads see the call's own buffered writes, and the
 * committed values otherwise. When the buffered writes commit, every
 * committed value the call read (kv_get, known_has) must still be as it
 * read it: if another writer (dvmilterctl, the worker) changed one
 * meanwhile, nothing is written (a delivery is then made again, soon; a
 * command fails; kv_commit returns DVP_KV_CONFLICT).
 *
 * THE KNOWN-SENDERS INDEX. A mailbox whose filter is "known senders"
 * tracks mail only from a sender someone knows: a colleague with a
 * mailbox, or an address a plugin knows (a contact, a lead). The SMTP
 * path answers that from an index in the host's store, never from a
 * network, and a plugin with DVP_CAP_KNOWN_SENDERS keeps its own part of
 * it with known_put() and known_del(): whenever it records or forgets an
 * address, in the same call, so that the index commits with the records
 * (in deliver(): with the delivery). The host normalises each address as
 * the SMTP path does (lower case, the domain in A-labels, nothing
 * stripped) and refuses one it cannot (DVP_KV_INVALID: the SMTP path
 * could never look it up). The host may drop a plugin's index (a store
 * of an older version has none; a new format would drop it), so at init
 * in DVP_MODE_WORKER a plugin asks known_complete(): if it says
 * DVP_KV_NOTFOUND, the plugin puts every address it knows and then calls
 * known_set_complete(), all in init, so that the rebuilt index commits
 * at once when init returns DVP_OK.
 */
struct dvp_host {
	size_t size;		/* sizeof(struct dvp_host) in the host */
	uint32_t abi_major, abi_minor;
	void *ctx;
	int mode;		/* enum dvp_mode */

	/** log - one line, with the plugin's name added by the host. */
	void (*log)(void *ctx, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/**
	 * config - the value of the plugin's own key "Name.KEY" from the
	 * host's configuration (KEY given without the prefix, in any
	 * case), or NULL. Valid until shutdown. The host has refused any
	 * "Name.*" key not in the plugin's config_keys before init.
	 */
	const char *(*config)(void *ctx, const char *key);

	/*
	 * Typed configuration: the value of "Name.KEY" checked by the
	 * parsers dvmilter.conf's own keys go through, so that every plugin
	 * takes the same syntax and refuses a bad value with the same
	 * words. Each stores the value, or @def when the key is not set, in
	 * *out and returns DVP_KV_OK; or writes "FILE:LINE: Name.KEY: why"
	 * to @err and returns DVP_KV_INVALID, and init returns
	 * DVP_PERMANENT with that @err. Numbers are decimal digits only (no
	 * sign, no spaces, nothing after; one that overflows 64 bits is
	 * "not a number"), within [@min, @max].
	 */
	/** config_bool - yes/true/on/1 or no/false/off/0, any case. */
	int (*config_bool)(void *ctx, const char *key, int def, int *out,
	    char *err, size_t errsz);
	/** config_uint - a number. */
	int (*config_uint)(void *ctx, const char *key, uint64_t def,
	    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errsz);
	/** config_size - bytes: a number with K, M, G or T (x 1024^n). */
	int (*config_size)(void *ctx, const char *key, uint64_t def,
	    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errsz);
	/** config_duration - seconds: a number with s, m, h, d or w. */
	int (*config_duration)(void *ctx, const char *key, int64_t def,
	    int64_t min, int64_t max, int64_t *out, char *err, size_t errsz);
	/**
	 * config_url - a URL with a host (and optional user@ and :port,
	 * 1..65535), no spaces or control characters, at most 2084 bytes,
	 * of one of the comma-separated @schemes ("https", "http,https",
	 * "smtp,smtps"); *out is the value (valid until shutdown), or NULL
	 * when the key is not set.
	 */
	int (*config_url)(void *ctx, const char *key, const char *schemes,
	    const char **out, char *err, size_t errsz);
	/**
	 * config_secret_file - the path of a file fit to hold a secret
	 * (secret_file_check()); *out is the value (valid until shutdown),
	 * or NULL when the key is not set. The plugin reads the file;
	 * config_secret() (2.1) reads it for the plugin, race-free.
	 */
	int (*config_secret_file)(void *ctx, const char *key,
	    const char **out, char *err, size_t errsz);
	/**
	 * secret_file_check - whether @path is fit to hold a secret (a
	 * profile's secret_file, say): absolute, a regular file (not a
	 * symbolic link) owned by root or by UserID, that others may
	 * neither read nor write and its group may not write (group read
	 * is how root hands one to UserID). A plugin that reads the file
	 * after this check should rather use config_secret() (2.1), which
	 * reads what it checked.
	 * @return DVP_KV_OK, or DVP_KV_INVALID with why, naming the path,
	 *         in @err.
	 */
	int (*secret_file_check)(void *ctx, const char *path, char *err,
	    size_t errsz);

	/**
	 * kv_get - the value of @key into *val and *len. The value is
	 * NUL-terminated after its *len bytes, and valid until the next
	 * kv_* call.
	 * @return DVP_KV_OK, DVP_KV_NOTFOUND, or another dvp_kv_status.
	 */
	int (*kv_get)(void *ctx, const char *key, const void **val,
	    size_t *len);
	/** kv_put - set @key to @len bytes at @val (copied). */
	int (*kv_put)(void *ctx, const char *key, const void *val, size_t len);
	/** kv_del - delete @key; deleting an absent key is not an error. */
	int (*kv_del)(void *ctx, const char *key);
	/**
	 * kv_next - the next number of a named counter, from 1, into
	 * *value; buffered like kv_put (a failed delivery does not use a
	 * number up). The counter is the key "counter/NAME".
	 */
	int (*kv_next)(void *ctx, const char *counter, uint64_t *value);
	/**
	 * kv_put_now - write @key at once, in a commit of its own that is
	 * on disk when it returns, whatever becomes of the call. For what
	 * must not happen twice when a delivery is made again after a
	 * crash, such as mail sent: write the mark, then act; at worst the
	 * act is lost, never repeated. The call's reads of @key count the
	 * new value as what they saw.
	 */
	int (*kv_put_now)(void *ctx, const char *key, const void *val,
	    size_t len);
	/**
	 * kv_foreach - call @fn for each committed key that starts with
	 * @prefix ("" for all), in byte order, with the key (without any
	 * prefix of the host's) and value, valid during that call of @fn
	 * only. It does not see the call's buffered writes, and its reads
	 * do not count for the conflict check: kv_get what you decide on.
	 * @fn returns 0 to go on; anything else stops the walk and is
	 * returned.
	 */
	int (*kv_foreach)(void *ctx, const char *prefix,
	    int (*fn)(void *arg, const char *key, const void *val, size_t len),
	    void *arg);
	/**
	 * kv_commit - commit this call's buffered writes now (init, health,
	 * commands; DVP_KV_UNAVAILABLE in deliver, whose writes commit with
	 * the delivery).
	 * @return DVP_KV_OK, DVP_KV_CONFLICT (nothing written) or
	 *         DVP_KV_ERROR.
	 */
	int (*kv_commit)(void *ctx);

	/**
	 * known_put, known_del - add @address to, or remove it from, the
	 * plugin's part of the known-senders index, buffered like kv_put.
	 * Only for a plugin with DVP_CAP_KNOWN_SENDERS (else
	 * DVP_KV_UNAVAILABLE).
	 * @return DVP_KV_OK, DVP_KV_INVALID for an address the host cannot
	 *         normalise, or another dvp_kv_status.
	 */
	int (*known_put)(void *ctx, const char *address);
	int (*known_del)(void *ctx, const char *address);
	/** known_has - DVP_KV_OK if the plugin's index has @address. */
	int (*known_has)(void *ctx, const char *address);
	/**
	 * known_complete - DVP_KV_OK if the plugin's index is complete
	 * (known_set_complete() was committed since the host last dropped
	 * it), DVP_KV_NOTFOUND if the plugin must rebuild it.
	 */
	int (*known_complete)(void *ctx);
	int (*known_set_complete)(void *ctx);

	/*
	 * For commands (DVP_MODE_ADMIN). A command writes its results to
	 * standard output itself, and its errors through these two, so that
	 * every command of dvmilterctl complains alike; in other modes they
	 * log the message instead.
	 */
	/**
	 * cmd_error - print "dvmilterctl: MESSAGE\n" on standard error.
	 * @return DVP_CMD_FAIL, to return from the command.
	 */
	int (*cmd_error)(void *ctx, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	/**
	 * cmd_usage - as cmd_error, followed by a line pointing to
	 * "dvmilterctl help".
	 * @return DVP_CMD_USAGE.
	 */
	int (*cmd_usage)(void *ctx, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	/**
	 * mailbox_address - a mailbox address given on the command line,
	 * normalised as dvmilterctl's own commands do (lower case, the
	 * domain in A-labels), into @out (DV_ADDR_MAX + 1 = 321 bytes are
	 * always enough); a subaddress is refused.
	 * @return DVP_KV_OK, or DVP_KV_INVALID with the reason, naming the
	 *         address, in @err.
	 */
	int (*mailbox_address)(void *ctx, const char *given, char *out,
	    size_t outsz, char *err, size_t errsz);
	/**
	 * mailbox_get - the mailbox record of the normalised @address into
	 * *mb_r, valid until the next mailbox_get or the end of the call
	 * (folder and regarding are NULL: those belong to one message).
	 * @return DVP_KV_OK, DVP_KV_NOTFOUND ("no such mailbox: ADDRESS" in
	 *         @err), or another dvp_kv_status with the reason in @err.
	 */
	int (*mailbox_get)(void *ctx, const char *address,
	    const struct dvp_mailbox **mb_r, char *err, size_t errsz);

	/*
	 * Holds: circuit breakers of the plugin's own, by name, for a
	 * service a delivery uses besides its back end (the local plugin's
	 * SMTP submission of acknowledgements), on the host's retry policy,
	 * so that every wait in dvmilter follows one policy: held for
	 * PluginHoldFirst after a failure, twice as long after each further
	 * one, at most PluginHoldMax, released by a success. They live in
	 * the process (a restarted worker starts with none held); a plugin
	 * has DVP_HOLDS_MAX names at most (further names are never held).
	 */
	/** hold_check - 0 if @name may be tried now, else the seconds it
	 *  is held for still. */
	unsigned (*hold_check)(void *ctx, const char *name);
	/** hold_trip - @name failed just now: hold it. Returns the hold in
	 *  seconds (0 if no more names can be held). */
	unsigned (*hold_trip)(void *ctx, const char *name);
	/** hold_release - @name worked: release it, and the next failure
	 *  holds it for PluginHoldFirst again. */
	void (*hold_release)(void *ctx, const char *name);

	/**
	 * config_secret - (2.1) the secret in the file that the plugin's key
	 * KEY names, read into @buf (not NUL-terminated, *len bytes) from
	 * the descriptor the file was checked on (secret_file_check()'s
	 * rules; opened once, never through a symbolic link), so that no
	 * other file can be swapped in between. A file longer than @bufsz
	 * is refused.
	 * @return DVP_KV_OK; DVP_KV_NOTFOUND if the key is absent; or
	 *         DVP_KV_INVALID with "FILE:LINE: Name.KEY: why" in @err.
	 */
	int (*config_secret)(void *ctx, const char *key, void *buf,
	    size_t bufsz, size_t *len, char *err, size_t errsz);
	/**
	 * store_instance - (2.1) the store's identity: hex digits made at
	 * random when the store was created, so that with an outbox entry
	 * id it names a message uniquely across stores made again (the
	 * webhook's Idempotency-Key). NULL where the host has no store
	 * (DVP_MODE_CHECK).
	 */
	const char *store_instance;
};

/* The names of holds a plugin may use (hold_trip()); at most 31 bytes. */
#define DVP_HOLDS_MAX	8

struct dvp_address {
	const char *name;	/* display name, or NULL */
	const char *address;
};

struct dvp_attachment {
	const char *filename;	/* or NULL */
	const char *content_type;
	size_t size;
	const char *sha256;	/* hex */
	const unsigned char *data;	/* size bytes */
};

enum dvp_direction {
	DVP_INCOMING = 0,
	DVP_OUTGOING = 1
};

/* One tracked message, as parsed by the host. */
struct dvp_message {
	size_t size;		/* sizeof(struct dvp_message) in the host */
	const char *id;		/* the host's id, 16 lower-case hex digits:
				   unique, stable across retries; use it as
				   the idempotency key */
	int direction;		/* enum dvp_direction */
	int64_t received;	/* Unix time the MTA handed it over */
	const char *queue_id;	/* the MTA's queue id */
	const char *envelope_from;
	const char *const *envelope_rcpts;
	size_t nrcpts;
	const char *message_id;	/* without <>, or NULL */
	const char *in_reply_to;
	const char *const *references;
	size_t nreferences;
	const char *subject;
	int64_t date;		/* 0 if none */
	const struct dvp_address *from, *to, *cc;
	size_t nfrom, nto, ncc;
	const char *auto_submitted, *precedence, *list_id;	/* or NULL */
	const char *text;
	const struct dvp_attachment *attachments;
	size_t nattachments;
	int truncated;		/* over the size cap: no attachments */
	const char *headers;	/* the raw header block */
	/*
	 * (2.1) What the host's parsing caps left out of this view (MIME
	 * parts past MaxMessageParts or MaxMessageDepth, attachments past
	 * MaxAttachments or MaxAttachmentBytes, parts past MaxDecodedBytes),
	 * as one line of text for people, or NULL when nothing was. Check
	 * DVP_HAS(struct dvp_message, m, omitted) first.
	 */
	const char *omitted;
};

enum dvp_correlation {
	DVP_CORR_NONE = 0,
	DVP_CORR_IN_REPLY_TO = 1,
	DVP_CORR_TRACKING_TOKEN = 2,
	DVP_CORR_SMART_MATCH = 3
};

/* Sender authenticity (2.1): what the trusted Authentication-Results
 * headers said of DMARC for the message's From domain. */
enum dvp_dmarc {
	DVP_DMARC_NONE = 0,	/* no trusted result, or neither pass nor fail */
	DVP_DMARC_PASS = 1,
	DVP_DMARC_FAIL = 2
};

/*
 * Who may add mail to an existing case (2.1), dvmilter's CaseJoinPolicy;
 * a plugin that keeps cases applies it to incoming mail that names a
 * case (by correlation: In-Reply-To, References, token or smart match):
 *   DVP_JOIN_ANY: it joins, as in 2.0;
 *   DVP_JOIN_PARTICIPANT: it joins when its From address is a
 *     participant of the case (the customer, or an address on one of its
 *     activities, never one of the site's own mailboxes: a mailbox of
 *     the decision or one mailbox_get() finds) and auth_dmarc is not
 *     DVP_DMARC_FAIL; or when its
 *     subject carries a valid token of the case (token_id) and it is
 *     authenticated (auth_dmarc DVP_DMARC_PASS, or auth_dkim_aligned);
 *   DVP_JOIN_AUTHENTICATED: as PARTICIPANT, but always authenticated.
 * Mail that may not join becomes a new case linked to the one it named,
 * and its activity says why. Outgoing mail (sent by a mailbox of ours
 * through the MTA) always joins.
 */
enum dvp_join_policy {
	DVP_JOIN_ANY = 0,
	DVP_JOIN_PARTICIPANT = 1,
	DVP_JOIN_AUTHENTICATED = 2
};

enum dvp_mailbox_type {
	DVP_MAILBOX_USER = 0,
	DVP_MAILBOX_QUEUE = 1
};

/* Dataverse's emailserverprofile.servertype values. */
enum dvp_server_type {
	DVP_SERVER_EXCHANGE = 0,
	DVP_SERVER_OTHER = 1,			/* POP3/SMTP */
	DVP_SERVER_EXCHANGE_HYBRID = 2,
	DVP_SERVER_EXCHANGE_ONLINE_HYBRID = 3,
	DVP_SERVER_IMAP_SMTP = 4
};

enum dvp_tls {
	DVP_TLS_NONE = 0,
	DVP_TLS_STARTTLS = 1,
	DVP_TLS_IMPLICIT = 2
};

/* Dataverse's emailserverprofile.authenticationprotocol values. */
enum dvp_auth {
	DVP_AUTH_AUTO = 0,
	DVP_AUTH_NEGOTIATE = 1,
	DVP_AUTH_NTLM = 2,
	DVP_AUTH_BASIC = 3,
	DVP_AUTH_OAUTH = 4,
	DVP_AUTH_NONE = 100		/* dvmilter's own: none at all */
};

/*
 * The email server profile a mailbox references ("dvmilterctl profile";
 * Dataverse's emailserverprofile): how mail for the mailbox is sent and
 * as whom. Its secret stays in a file the administrator names; the
 * plugin reads it itself, after secret_file_check().
 */
struct dvp_profile {
	size_t size;		/* sizeof(struct dvp_profile) in the host */
	const char *name;
	int server_type;	/* enum dvp_server_type */
	int tls;		/* enum dvp_tls */
	int auth;		/* enum dvp_auth */
	const char *smtp_url;	/* smtp[s]://host:port, or NULL */
	const char *username;	/* or NULL */
	const char *secret_file;	/* absolute path, or NULL */
};

/*
 * One tracked mailbox. An element of an array that may grow within a
 * major version: reach it with DVP_MAILBOX(). The record fields (owner,
 * profile) are read when the message is delivered, not when it came.
 */
struct dvp_mailbox {
	const char *address;	/* normalised */
	int type;		/* enum dvp_mailbox_type */
	const char *folder;	/* or NULL for the inbox */
	const char *regarding_type;	/* "account"... or NULL */
	const char *regarding_id;
	const char *owner;	/* the owner's name, or NULL */
	const struct dvp_profile *profile;	/* or NULL: none (or the
				   mailbox was removed meanwhile) */
};

/* What the host decided about the message as a whole. */
struct dvp_decision {
	size_t size;		/* sizeof(struct dvp_decision) in the host */
	const struct dvp_mailbox *mailboxes;	/* see DVP_MAILBOX() */
	size_t nmailboxes;
	size_t mailbox_size;	/* sizeof(struct dvp_mailbox) in the host */
	int correlation;	/* enum dvp_correlation */
	const char *correlated_id;	/* host id of the earlier message */
	const char *tracking_token;	/* the token of the conversation: of
					   the correlated message, or of
					   this one when there is none */
	const char *message_token;	/* the token of this message itself;
					   in a subject it correlates to it */
	/*
	 * (2.1) The host id of an earlier message whose Message-ID this
	 * one reuses with other content, or NULL. The host keeps both as
	 * messages of their own (never folded into one), and In-Reply-To
	 * and References find the earlier one. Check with
	 * DVP_HAS(struct dvp_decision, d, collided_with).
	 */
	const char *collided_with;
	/* (2.1) Sender authenticity, from the Authentication-Results
	 * headers whose authserv-id is in TrustedAuthservIDs, read at end
	 * of message; check with DVP_HAS(struct dvp_decision, d, field). */
	int auth_dmarc;		/* (2.1) enum dvp_dmarc */
	int auth_dkim_aligned;	/* (2.1) 1: a trusted dkim=pass whose d= is
				   aligned (relaxed) with the From domain */
	const char *auth_id;	/* (2.1) the trusted authserv-id believed,
				   or NULL */
	int join_policy;	/* (2.1) enum dvp_join_policy */
	const char *token_id;	/* (2.1) host id of the earlier message that
				   a valid tracking token in the subject
				   names, or NULL (even when correlation
				   went by In-Reply-To) */
};

/** DVP_MAILBOX - the @i-th mailbox of decision @d. */
#define DVP_MAILBOX(d, i) ((const struct dvp_mailbox *)(const void *) \
	((const char *)(d)->mailboxes + (size_t)(i) * (d)->mailbox_size))

/* What deliver() reports back; the host zeroes it and sets size first. */
struct dvp_result {
	size_t size;		/* sizeof(struct dvp_result) in the host */
	int status;		/* enum dvp_status */
	char activity_id[80];	/* the created or found activity */
	char case_id[80];	/* the case it is linked to, or "" */
	char error[256];	/* for the log and the dead-letter list */
	int64_t retry_after;	/* seconds, for DVP_TRANSIENT; 0: host's choice */
	/*
	 * With DVP_TRANSIENT: the back end asked for a pause of this many
	 * seconds (an HTTP 429 or 503 with Retry-After), for all of this
	 * plugin's deliveries, not only this one. The worker then holds
	 * every delivery to the plugin back for that long (at most a day)
	 * without asking health(), and makes this one again after it at
	 * the earliest. 0: no pause. Other plugins are not held.
	 */
	int64_t pause_all;
};

/*
 * A command of dvmilterctl that the plugin answers: "dvmilterctl NAME
 * ARGS..." runs it, with the plugin loaded in DVP_MODE_ADMIN. dvmilterctl
 * loads the configured plugins (with the loader's checks, although it
 * often runs as root) only for a command that is not one of its own, and
 * runs the first plugin's command of that name; two plugins may not
 * offer one name, nor use one of dvmilterctl's. Its key/value writes
 * commit when it returns DVP_CMD_OK (or at kv_commit()).
 */
struct dvp_command {
	const char *name;	/* the word after "dvmilterctl": "case" */
	const char *usage;	/* its lines in "dvmilterctl help", each
				   "  case list ...\n" */
	/**
	 * run - do it; @argv[0] is the name, @argv[argc] is NULL, and
	 * @argv may be reordered (getopt). Options are parsed by the
	 * command (getopt_long with optind = 0 first).
	 * @return a dvp_cmd_status.
	 */
	int (*run)(void *state, int argc, char **argv);
};

struct dvp_plugin {
	/* These three keep their place in every major version. */
	size_t size;		/* sizeof(struct dvp_plugin) in the plugin */
	uint32_t abi_major, abi_minor;	/* DVP_ABI_MAJOR, DVP_ABI_MINOR */

	const char *name;	/* equals the file name without ".so" */
	const char *version;
	uint32_t caps;		/* DVP_CAP_* */
	/*
	 * The configuration keys the plugin reads, without the "Name."
	 * prefix, NULL-terminated; the host rejects any other "Name.*" key
	 * so that a typo is a configuration error, not a silent default.
	 */
	const char *const *config_keys;

	/**
	 * init - check the plugin's configuration and allocate its state,
	 * once, right after loading, in every mode. In DVP_MODE_CHECK it
	 * must not act on the world (no network, no files written): it
	 * only says whether the configuration is good. @host stays valid
	 * until shutdown. Its kv writes commit only if it returns DVP_OK.
	 * @param[out] state_r  the plugin's state, passed to every call.
	 * @return DVP_OK, or DVP_PERMANENT with a reason in @err (which
	 *         makes the host's configuration invalid).
	 */
	int (*init)(const struct dvp_host *host, void **state_r, char *err,
	    size_t errsz);

	/**
	 * health - can the plugin deliver right now? The worker calls it
	 * after a delivery failed for now (DVP_TRANSIENT, without
	 * pause_all, see dvp_result), not while the plugin is held back: if it
	 * fails too, the back end is down, and the worker holds all the
	 * plugin's deliveries back, 30 s the first time and twice as long
	 * each time after (up to 10 min), until a delivery succeeds. It
	 * should be cheap (a connect, not a request).
	 * @return DVP_OK, or another status with a reason in @msg.
	 */
	int (*health)(void *state, char *msg, size_t msgsz);

	/**
	 * deliver - record one message. Must be idempotent per msg->id: the
	 * host may call again for a message after a crash, and calls again
	 * when a copy of the message for more mailboxes was merged in; a
	 * plugin that sees an id again brings what it recorded up to date.
	 */
	void (*deliver)(void *state, const struct dvp_message *msg,
	    const struct dvp_decision *decision, struct dvp_result *result);

	/** shutdown - free the state; NULL state is allowed. */
	void (*shutdown)(void *state);

	/* dvmilterctl commands, up to one with name NULL; or NULL. */
	const struct dvp_command *commands;

	void *reserved[8];	/* for functions of later minor versions */
};

/* The size of struct dvp_plugin in ABI 2.0: the least a host accepts.
 * Fields of later minor versions come after reserved[]. */
#define DVP_PLUGIN_SIZE_2_0 \
	(offsetof(struct dvp_plugin, reserved) + 8 * sizeof(void *))

/**
 * dvmilter_plugin_entry - the one symbol a plugin exports (the host
 * looks up DVP_ENTRY_SYMBOL), called once after loading with the host's
 * ABI version. It returns the plugin's descriptor, a static object that
 * outlives the call, or NULL if the plugin cannot work with a host of
 * that version (a different major version, or an older minor one than
 * it needs). It must do nothing else: the host may call it to learn a
 * refused plugin's version.
 */
const struct dvp_plugin *dvmilter_plugin_entry(uint32_t host_abi_major,
    uint32_t host_abi_minor) __attribute__((visibility("default")));

/** The type of dvmilter_plugin_entry(). */
typedef const struct dvp_plugin *(*dvp_entry_fn)(uint32_t host_abi_major,
    uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif

/*
 * dvmilter_plugin.h - the dvmilter plugin ABI.
 *
 * This is the only header a plugin includes, and a plugin links against
 * nothing from dvmilter: every service it needs comes through the
 * struct dvp_host table the host passes in.
 *
 * A plugin is a shared object installed in dvmilter's plugin directory as
 * NAME.so. It exports exactly one symbol, DVP_ENTRY_SYMBOL, a function
 * of type dvp_entry_fn. The host calls it with its own ABI version; the
 * plugin returns its descriptor, or NULL if it cannot work with that
 * host (a different major version). The host then refuses a descriptor
 * whose major version differs or whose size is smaller than the host
 * expects.
 *
 * Compatibility rules: within one major version, fields are only ever
 * appended to the structs that start with their own size (dvp_host,
 * dvp_message, dvp_decision, dvp_plugin), so either side can tell which
 * fields the other knows. The element structs passed in arrays
 * (dvp_address, dvp_attachment, dvp_mailbox) and dvp_result are fixed
 * for the life of a major version. A minor version bump announces
 * additions.
 *
 * Threads: the host calls a plugin from one thread at a time.
 * Memory: the struct dvp_host passed to init stays valid until shutdown,
 * so a plugin may keep the pointer. Everything else the host passes in is
 * valid for the duration of the call only; a plugin copies what it keeps.
 * The plugin owns its own state and frees it in shutdown.
 */
#ifndef DVMILTER_PLUGIN_H
#define DVMILTER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DVP_ABI_MAJOR	1
#define DVP_ABI_MINOR	2
#define DVP_ENTRY_SYMBOL "dvmilter_plugin_entry"

/* Log levels, as syslog(3) priorities. */
enum dvp_log_level {
	DVP_LOG_ERROR = 3,
	DVP_LOG_WARNING = 4,
	DVP_LOG_NOTICE = 5,
	DVP_LOG_INFO = 6,
	DVP_LOG_DEBUG = 7
};

/* Outcome of a delivery or a health check. Never renumbered. */
enum dvp_status {
	DVP_OK = 0,		/* done */
	DVP_TRANSIENT = 1,	/* failed; the host retries later */
	DVP_PERMANENT = 2	/* failed; retrying cannot help */
};

/* Capability flags in struct dvp_plugin.caps. */
#define DVP_CAP_ACTIVITY	0x01	/* creates email activities */
#define DVP_CAP_CASE		0x02	/* creates and updates cases */
#define DVP_CAP_NEEDS_BODY	0x04	/* wants text and attachments */

/*
 * Services of the host. Every function takes host->ctx first.
 */
struct dvp_host {
	size_t size;		/* sizeof(struct dvp_host) in the host */
	uint32_t abi_major, abi_minor;
	void *ctx;

	/** log - one line, with the plugin's name added by the host. */
	void (*log)(void *ctx, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/**
	 * config - the value of the plugin's own key "Name.KEY" from the
	 * host's configuration (KEY given without the prefix), or NULL.
	 * Valid until shutdown.
	 */
	const char *(*config)(void *ctx, const char *key);

	/*
	 * A key/value store private to the plugin, inside the host's store,
	 * valid only during deliver(). Writes are buffered and commit
	 * together with the host's record that the delivery is done, and
	 * only if deliver() reports DVP_OK; reads see the buffered writes.
	 * Keys are at most 400 bytes with the plugin's name, values 1 MiB.
	 * Return 0, DVP_KV_NOTFOUND, or another non-zero value for a
	 * failure. A value returned by kv_get is valid until the next kv
	 * call.
	 */
	int (*kv_get)(void *ctx, const char *key, const void **val,
	    size_t *len);
	int (*kv_put)(void *ctx, const char *key, const void *val, size_t len);
	int (*kv_del)(void *ctx, const char *key);
	/** kv_next - the next number of a named counter, from 1. */
	int (*kv_next)(void *ctx, const char *counter, uint64_t *value);

	/*
	 * Since minor version 2 (check size first):
	 * kv_put_now - write @key at once, in a commit of its own that is
	 * on disk when it returns, whatever becomes of the delivery. For
	 * what must not happen twice when a delivery is made again after a
	 * crash, such as mail sent: write the mark, then act; at worst the
	 * act is lost, never repeated. The delivery's reads of @key count
	 * the new value as what they saw. Returns 0 or non-zero.
	 */
	int (*kv_put_now)(void *ctx, const char *key, const void *val,
	    size_t len);
};

#define DVP_KV_NOTFOUND	1

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
	const char *id;		/* the host's id: unique, stable across
				   retries; use it as the idempotency key */
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
};

enum dvp_correlation {
	DVP_CORR_NONE = 0,
	DVP_CORR_IN_REPLY_TO = 1,
	DVP_CORR_TRACKING_TOKEN = 2,
	DVP_CORR_SMART_MATCH = 3
};

enum dvp_mailbox_type {
	DVP_MAILBOX_USER = 0,
	DVP_MAILBOX_QUEUE = 1
};

/* The decision for one tracked mailbox. */
struct dvp_mailbox {
	const char *address;	/* normalised */
	int type;		/* enum dvp_mailbox_type */
	const char *folder;	/* or NULL for the inbox */
	const char *regarding_type;	/* "account"... or NULL */
	const char *regarding_id;
};

/* What the host decided about the message as a whole. */
struct dvp_decision {
	size_t size;		/* sizeof(struct dvp_decision) in the host */
	const struct dvp_mailbox *mailboxes;
	size_t nmailboxes;
	int correlation;	/* enum dvp_correlation */
	const char *correlated_id;	/* host id of the earlier message */
	const char *tracking_token;	/* the token of the conversation: of
					   the correlated message, or of
					   this one when there is none */
	/* Since 1.1 (check size): */
	const char *message_token;	/* the token of this message itself;
					   in a subject it correlates to it */
};

/* What deliver() reports back; the host zeroes it first. */
struct dvp_result {
	int status;		/* enum dvp_status */
	char activity_id[80];	/* the created or found activity */
	char case_id[80];	/* the case it is linked to, or "" */
	char error[256];	/* for the log and the dead-letter list */
	int64_t retry_after;	/* seconds, for DVP_TRANSIENT; 0: host's choice */
};

struct dvp_plugin {
	size_t size;		/* sizeof(struct dvp_plugin) in the plugin */
	uint32_t abi_major, abi_minor;
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
	 * init - read the plugin's config and allocate its state.
	 * @return DVP_OK, or DVP_PERMANENT with a reason in @err
	 *         (which makes the host's configuration invalid).
	 */
	int (*init)(const struct dvp_host *host, void **state_r, char *err,
	    size_t errsz);

	/**
	 * health - can the plugin deliver right now?
	 * @return DVP_OK, or another status with a reason in @msg.
	 */
	int (*health)(void *state, char *msg, size_t msgsz);

	/**
	 * deliver - record one message. Must be idempotent per msg->id: the
	 * host may call again for a message after a crash.
	 */
	void (*deliver)(void *state, const struct dvp_message *msg,
	    const struct dvp_decision *decision, struct dvp_result *result);

	/** shutdown - free the state; NULL state is allowed. */
	void (*shutdown)(void *state);

	void *reserved[8];	/* for functions of later minor versions */
};

/** The type of the one exported function. */
typedef const struct dvp_plugin *(*dvp_entry_fn)(uint32_t host_abi_major,
    uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif

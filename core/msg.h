/*
 * msg.h - the message model: what tracking needs from one message, parsed
 * from its raw RFC 5322 form.
 *
 * Parsing never fails because a message is malformed: whatever can be
 * decoded is returned, and what could not is listed in msg->problems for
 * the log. Only a resource failure (or a call before msg_init()) is an
 * error. All strings are UTF-8 and owned by the struct msg.
 */
#ifndef DV_MSG_H
#define DV_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct msg_addr {
	char *name;		/* decoded display name, or NULL */
	char *address;		/* addr-spec as written */
};

struct msg_header {
	char *name;		/* as written */
	char *value;		/* unfolded, RFC 2047 decoded */
};

struct msg_attachment {
	char *filename;		/* decoded, or NULL */
	char *content_type;	/* lower-case "type/subtype" */
	size_t size;		/* decoded size in bytes */
	char sha256[65];	/* hex digest of the decoded content */
	unsigned char *data;	/* decoded content (size bytes) */
};

enum msg_text_source {
	MSG_TEXT_NONE = 0,
	MSG_TEXT_PLAIN = 1,
	MSG_TEXT_HTML = 2
};

struct msg {
	char *message_id;	/* without <>, or NULL */
	char *in_reply_to;	/* first msg-id, without <>, or NULL */
	char **references;	/* msg-ids in order, without <> */
	size_t nreferences;
	char *subject;		/* decoded, trimmed; "" if none */
	int64_t date;		/* Unix time; 0 if absent or unparsable */
	bool has_date;
	struct msg_addr *from, *to, *cc, *reply_to;
	size_t nfrom, nto, ncc, nreply_to;
	char *auto_submitted;	/* keyword, lower-case, or NULL */
	char *precedence;	/* lower-case, or NULL */
	char *list_id;		/* or NULL */
	struct msg_header *headers;	/* every top-level header, in order */
	size_t nheaders;
	char *text;		/* body text; "" if none */
	enum msg_text_source text_source;
	struct msg_attachment *att;
	size_t natt;
	bool truncated;		/* over the size cap: no attachments */
	/* What a cap of msg_opts left out, for the activity and the log
	 * ("MIME parts after the 1000th were not parsed; ..."), or NULL
	 * when nothing was. */
	char *omitted;
	char **problems;	/* what could not be decoded, for the log */
	size_t nproblems;
};

struct msg_opts {
	size_t max_size;	/* 0: no cap. Larger messages are parsed up
				   to the cap, without attachments, and
				   marked truncated. */
	size_t max_headers;	/* 0: 1000 */
	/*
	 * The caps that bound what one message costs (0: the default in
	 * brackets). GMime is given only the bytes before the first part
	 * past max_parts or nested deeper than max_depth (mimescan.h); the
	 * rest of the message is left out. A header field over 256 KiB is
	 * shortened, the rest kept. Attachments past max_attachments,
	 * or past max_attachment_bytes in all, are not kept, and no part is
	 * decoded once max_decoded bytes were (text and attachments; a part
	 * counts its encoded size before it is decoded). What was left out
	 * is said in msg->omitted.
	 */
	size_t max_parts;		/* [MSG_MAX_PARTS] */
	unsigned max_depth;		/* [MSG_MAX_DEPTH] */
	size_t max_attachments;		/* [MSG_MAX_ATTACHMENTS] */
	size_t max_attachment_bytes;	/* [MSG_MAX_ATTACHMENT_BYTES] */
	size_t max_decoded;		/* [MSG_MAX_DECODED] */
};

#define MSG_MAX_PARTS		1000
#define MSG_MAX_DEPTH		20
#define MSG_MAX_ATTACHMENTS	100
#define MSG_MAX_ATTACHMENT_BYTES	((size_t)32 << 20)
#define MSG_MAX_DECODED		((size_t)64 << 20)

/**
 * msg_init - initialise the MIME library once per process, before any
 * thread parses. Safe to call more than once.
 */
void msg_init(void);

/**
 * msg_parse - parse a message held in memory.
 * @param[in]  raw, len  the message as received (headers and body).
 * @param[in]  opts      caps; NULL for the defaults (and no size cap).
 * @param[out] msg_r     the model, freed with msg_free().
 * @param[out] error_r   on failure, why.
 * @return 0, or ENOMEM.
 */
int msg_parse(const void *raw, size_t len, const struct msg_opts *opts,
    struct msg **msg_r, const char **error_r);

/**
 * msg_parse_fd - as msg_parse() for a message in a file (a spilled body);
 * the file is read from its current offset and not closed.
 * @return 0, ENOMEM, or an errno for a read error.
 */
int msg_parse_fd(int fd, const struct msg_opts *opts, struct msg **msg_r,
    const char **error_r);

/** msg_free - free a model; NULL is a no-op. */
void msg_free(struct msg *m);

/**
 * msg_header_get - the first top-level header named @name
 * (case-insensitive), decoded; NULL if absent. Valid as long as @m.
 */
const char *msg_header_get(const struct msg *m, const char *name);

/**
 * msg_header_decode - RFC 2047-decode one header value to valid UTF-8.
 * @return a malloc'd string, or NULL on ENOMEM.
 */
char *msg_header_decode(const char *raw);

/**
 * msg_ids_parse - the msg-ids of an In-Reply-To or References header
 * value @raw (NULL: none), in the order written, without their angle
 * brackets: the parser msg_parse() uses, for callers that have only the
 * header. Free the list with msg_ids_free().
 * @param[out] ids_r  a malloc'd array of malloc'd strings; NULL if none.
 * @param[out] n_r    how many.
 * @return 0, or ENOMEM (and no list).
 */
int msg_ids_parse(const char *raw, char ***ids_r, size_t *n_r);

/** msg_ids_free - free a list from msg_ids_parse(); NULL is a no-op. */
void msg_ids_free(char **ids, size_t n);

/**
 * msg_to_json - the model as JSON, the form the golden tests compare:
 * every field but headers, problems and attachment data.
 * @return a new reference, or NULL on ENOMEM.
 */
json_t *msg_to_json(const struct msg *m);

#endif

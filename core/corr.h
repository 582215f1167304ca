/*
 * corr.h - correlation: which earlier outbox message a message answers.
 *
 * One rule, used both at end of message (the "responses" tracking filter
 * and the tracking token of outgoing mail) and by the worker (what the
 * plugins are told):
 *   1. In-Reply-To, against the Message-IDs of outbox messages;
 *   2. then References, newest first (the nearest tracked ancestor);
 *   3. then the last valid tracking token in the subject that names an
 *      outbox message. Tokens whose tag does not match are forged or
 *      altered: they are passed over (one appended after a valid token
 *      does not hide it) and reported in corr_result.forged, for the
 *      caller to log once.
 * A message never correlates with itself, nor through its own
 * Message-ID: a different message that reused the Message-ID of an
 * earlier one (the outbox keeps both, and the Message-ID names the
 * earlier) must not join that one's conversation by naming it in its
 * own In-Reply-To or References. Smart matching (core/smart.h)
 * is the worker's further step and is not part of this rule.
 */
#ifndef DV_CORR_H
#define DV_CORR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

/* How a message was correlated; the values of DVP_CORR_* in the
 * plugin header. */
enum corr_how {
	CORR_NONE = 0,
	CORR_IN_REPLY_TO = 1,	/* In-Reply-To or References */
	CORR_TOKEN = 2		/* the tracking token in the subject */
};

/* Where the outbox messages are looked up; the caller's snapshot. */
struct corr_source {
	/** The entry with Message-ID @msgid (without <>): 0 and *id_r, or
	 *  non-zero when there is none or it cannot be read. */
	int (*find_message_id)(void *arg, const char *msgid, uint64_t *id_r);
	/** Whether outbox entry @id exists. */
	bool (*exists)(void *arg, uint64_t id);
	void *arg;
};

/* What correlation looks at; nothing is owned. */
struct corr_msg {
	const char *in_reply_to;	/* its first msg-id, no <>; or NULL */
	const char *const *references;	/* msg-ids in header order, no <> */
	size_t nreferences;
	const char *subject;		/* decoded; or NULL */
	uint64_t self;			/* its own outbox id, or 0 */
	const char *message_id;		/* its own, no <>; or NULL */
};

struct corr_result {
	uint64_t id;			/* the entry it answers, or 0 */
	enum corr_how how;
	bool forged;			/* the subject holds a forged token */
};

/**
 * corr_find - correlate @m by the rule above.
 * @param[in] key     the tracking token key; NULL: tokens are not used.
 * @param[in] prefix  the token prefix (TokenPrefix).
 * @param[out] r      always set; r->how is CORR_NONE when nothing matched.
 */
void corr_find(const struct corr_msg *m, const struct corr_source *src,
    const struct token_key *key, const char *prefix, struct corr_result *r);

/** corr_how_name - "in-reply-to", "tracking-token" or "none". */
const char *corr_how_name(enum corr_how how);

#endif

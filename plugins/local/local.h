/*
 * local.h - the local plugin's private interface.
 *
 * The local plugin is dvmilter's embedded CRM: it keeps contacts, email
 * activities and cases as JSON records in its key/value store inside
 * dvmilter's LMDB store, so tracking works with nothing else installed.
 * Its dvmilterctl commands (case, activity, contact, caserule; admin.c)
 * read and change the same records; the record layout is documented in
 * dvmilterctl(8).
 *
 * Keys (lstore.h names the prefixes; checksrc.sh reads this list and
 * checks that no code outside plugins/ names one):
 *   activity/<message id>   an email activity (the host's 16-hex id)
 *   case/<case id>          a case
 *   casenum/<CAS-01001>     the id of the case with that number
 *   contact/<address>       a contact, by address (lstore_address_key())
 *   caserule/<queue>        the case rule of a queue mailbox
 *   autoreply/<address>     the auto-reply rate limit of one sender,
 *                           without its +subaddress; autoreply/@<domain>
 *                           that of a domain, autoreply/@@ that of all
 *   autoreplied/<id>        what became of message id's acknowledgement:
 *                           sending, sent, pending, or why not
 *                           (kv_put_now)
 *   autoreplyq/<id>         an acknowledgement to try again: the message,
 *                           its recipient, case, tries and next try
 *                           (kv_put_now; autoreply.c)
 *   counter/case            the last case number (the host's kv_next)
 * and in the host's known-senders index, the address of every contact.
 */
#ifndef DV_LOCAL_H
#define DV_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dvmilter_plugin.h"

struct local {
	const struct dvp_host *h;
	const char *submission_url;	/* NULL: no auto-replies */
	const char *reply_from;		/* NULL: the queue's address */
	long reply_limit;		/* per sender per window */
	long reply_window;		/* seconds */
	long smtp_timeout;		/* seconds */
	long reply_domain_limit;	/* per domain per window; 0: none */
	long reply_global_limit;	/* all replies per window; 0: none */
	bool allow_plain;		/* smtp:// without STARTTLS */
	long tries;			/* attempts of one reply, at most */
	long retry_delay;		/* seconds before the first retry */
};

/*
 * After a failed submission, replies are not tried while the host holds
 * this name (PluginHoldFirst, doubling up to PluginHoldMax), so that an
 * unreachable server does not hold up every delivery.
 */
#define SMTP_HOLD	"smtp"

/* The dvmilterctl commands of admin.c: case, activity, contact, caserule. */
extern const struct dvp_command local_commands[];

/* The verdict on one auto-reply. */
struct autoreply {
	bool sent;
	char why[200];		/* what happened, for the case and the log */
};

/**
 * autoreply_send - acknowledge a new case to the sender of @m by SMTP
 * to SubmissionURL, unless RFC 3834 says not to answer (null sender,
 * Auto-Submitted, Precedence bulk/list/junk, a List-Id, a message from
 * the queue itself) or the sender had AutoReplyLimit replies within
 * AutoReplyWindow. The reply's subject carries the case number and
 * @token, its envelope sender is null and it is Auto-Submitted, so it
 * is never answered in turn. A failure to submit is reported in @out;
 * the case stands regardless. It is sent at most once per message: a
 * mark (autoreplied/ID) is on disk before it goes, so a delivery made
 * again after a crash does not send it again.
 */
void autoreply_send(struct local *l, const struct dvp_message *m,
    const char *queue, const char *number, const char *title,
    const char *token, int64_t now, struct autoreply *out);

/**
 * autoreply_config - read the acknowledgement's keys: AutoReplyDomainLimit
 * (50), AutoReplyGlobalLimit (500), SubmissionAllowPlain (no),
 * AutoReplyTries (5), AutoReplyRetryDelay (60 s).
 * @return 0, or -1 with the reason in @err.
 */
int autoreply_config(struct local *l, char *err, size_t errsz);

/**
 * autoreply_retry - try again at most @max acknowledgements whose try
 * failed for now and whose next try is due at @now (worker mode only,
 * and not while the submission server is held). Each goes at most once:
 * only one whose mark is still "pending" is tried, the mark set to
 * "sending" on disk first. Its case's auto_reply is updated with the
 * call's writes.
 */
void autoreply_retry(struct local *l, int64_t now, unsigned max);

/* join.c: may incoming mail join the case it names (CaseJoinPolicy)? */
struct join {
	const char *policy;	/* "any", "participant", "authenticated" */
	bool joined;
	char reason[300];	/* why, for the activity and the log */
};

/**
 * join_allowed - whether message @m, from @sender (as
 * lstore_address_key() has it), may join case @kase (id @case_id) under
 * the host's join policy and sender-authenticity verdict (@d, 2.1; a
 * 2.0 host's decision means policy "any"); the why in @out. It may add
 * the participants list to @kase (to be stored with it).
 */
bool join_allowed(const struct dvp_host *h, const struct dvp_message *m,
    const struct dvp_decision *d, const char *sender, json_t *kase,
    const char *case_id, struct join *out);
/** join_add_participants - add @act's From, To and Cc to @kase's list. */
void join_add_participants(const struct dvp_host *h, json_t *kase,
    const json_t *act);
/** join_json - the activity's "join" record: policy, case, joined, why. */
json_t *join_json(const struct join *j, const char *case_id, json_t *kase);
/** join_auth_json - the activity's "authentication" record, or null. */
json_t *join_auth_json(const struct dvp_decision *d);
/** join_dmarc_failed - a trusted dmarc=fail: never acknowledged. */
bool join_dmarc_failed(const struct dvp_decision *d);

#endif

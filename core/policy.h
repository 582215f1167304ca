/*
 * policy.h - the SMTP-time decisions: may this recipient or this sender
 * pass, and if not, with which reply.
 *
 * This is the seam between the store and the milter glue: it takes an
 * address and a config snapshot, reads the store, and returns a value.
 * It never calls libmilter; the glue turns a decision into smfi_* calls.
 */
#ifndef DV_POLICY_H
#define DV_POLICY_H

#include <stdbool.h>

#include "conf.h"
#include "caps.h"
#include "mbox.h"
#include "store.h"

enum verdict {
	VERDICT_CONTINUE = 0,	/* let the address pass, keep filtering */
	VERDICT_REJECT = 1,	/* permanent failure for this address */
	VERDICT_TEMPFAIL = 2	/* temporary failure for this address */
};

struct decision {
	enum verdict verdict;
	const char *reason;	/* static word for the log: "approved"... */
	bool found;		/* a mailbox record exists */
	struct mbox_policy pol;	/* valid when found */
	char addr[DV_ADDR_MAX + 1];	/* normalised, "" if malformed */
	char code[4];		/* reply, when verdict != CONTINUE */
	char xcode[16];
	char text[DV_REPLY_TEXT_MAX + 1];
	const char *detail;	/* extra log text (an error), or NULL */
};

/**
 * policy_rcpt - decide one RCPT TO.
 * @param[in]  c      the config snapshot.
 * @param[in]  r      a store reader owned by the calling thread.
 * @param[in]  raw    the address as the MTA sent it ("<a@b>").
 * @param[in]  nrcpt  1 for the first recipient of the transaction, ...
 * @param[out] d      the decision; never fails.
 */
void policy_rcpt(const struct conf *c, struct store_reader *r,
    const char *raw, unsigned nrcpt, struct decision *d);

/**
 * policy_sender - decide one MAIL FROM.
 * @param[in] outbound  the client authenticated or is in InternalHosts;
 *                      only then is the sender looked up at all.
 * Other parameters as for policy_rcpt().
 */
void policy_sender(const struct conf *c, struct store_reader *r,
    const char *raw, bool outbound, struct decision *d);

/** policy_verdict_name - "continue", "reject" or "tempfail". */
const char *policy_verdict_name(enum verdict v);

#endif

/*
 * track.h - the tracking decision: for each mailbox a message would be
 * tracked for, whether it takes the message, with Dataverse's semantics.
 *
 * Outgoing mail is tracked for its sender's mailbox as it is. For each
 * recipient mailbox, its folder-tracking rules are tried in order and the
 * first that matches decides (track into its folder, regarding its
 * record, or do not track); when none matches, the mailbox's tracking
 * filter decides: all messages, responses to tracked mail (core/corr.h),
 * messages from known senders (a colleague with a mailbox, or an address
 * a plugin knows: core/known.h), or none.
 *
 * The caller describes the transaction in plain data and gives a read
 * transaction; this module neither logs nor knows libmilter, so it is
 * tested with tables and no MTA. Applying the result (keeping the
 * mailboxes, logging each decision, tempfailing a message whose decision
 * could not read the store) is the caller's.
 */
#ifndef DV_TRACK_H
#define DV_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "authres.h"
#include "corr.h"
#include "store.h"
#include "token.h"

/* The transaction, as the MTA gave it; nothing is owned. */
struct track_msg {
	const char *env_from;		/* envelope sender, no <>; or NULL */
	const char *const *rcpts;	/* accepted recipients, no <> */
	size_t nrcpts;
	const char *from;		/* raw From: value, or NULL */
	const char *subject;		/* raw Subject: value, or NULL */
	const char *in_reply_to;	/* raw In-Reply-To: value, or NULL */
	const char *references;		/* raw References: value, or NULL */
	/* The headers the rules may test, "Name: value\n" each, unfolded,
	 * in order; or NULL. */
	const char *headers;
	/* The Authentication-Results values, top to bottom. */
	const char *const *authres;
	size_t nauthres;
};

/* One mailbox the message would be tracked for, and its verdict. */
struct track_party {
	/* In. */
	char addr[DV_ADDR_MAX + 1];	/* the mailbox, normalised */
	char sub[DV_ADDR_MAX + 1];	/* the recipient's subaddress, or "" */
	uint8_t type;			/* enum mbox_type */
	uint8_t filter;			/* effective enum mbox_filter */
	bool sender;			/* the sender (outgoing), not a recipient */
	/* Out, from track_decide(). */
	bool keep;			/* the mailbox takes the message */
	const char *reason;		/* why: "filter all", "rule 2", ... */
	char reason_buf[48];		/* storage for rule reasons */
	/* Set by a folder rule; owned, freed by track_party_clear(). */
	char *folder, *regarding_type, *regarding_id;
};

/* Where the decision looks things up. */
struct track_env {
	struct store_txn *txn;		/* a read snapshot; NULL: no store */
	const struct corr_source *outbox; /* Message-ID lookups, with txn */
	const struct token_key *key;	/* NULL: no tracking tokens */
	const char *token_prefix;
	const char *subaddress_seps;	/* SubaddressSeparators */
	char *const *plugins;		/* Plugins, for known senders */
	char *const *trusted_ids;	/* TrustedAuthservIDs; NULL: none */
};

/* What the decision found on the way, for the caller to reuse. */
struct track_facts {
	bool correlated_done;		/* corr is filled in */
	struct corr_result corr;
	int known;			/* -1: not asked; else 0 or 1 */
	const char *error;		/* why track_decide() failed, or NULL */
	bool auth_done;			/* auth is filled in */
	struct authres_verdict auth;	/* what trusted A-R headers say */
};

/* Facts before a decision: nothing asked yet. */
#define TRACK_FACTS_INIT { false, { 0, CORR_NONE, false }, -1, NULL, \
	false, { AUTHRES_DMARC_NONE, false, "", 0, 0, 0 } }

/**
 * track_decide - decide for each of the @n parties whether it takes @m:
 * sets keep, reason and, for a rule that tracks, folder and regarding.
 * Correlation and the known-senders lookup run at most once, and only
 * when a filter needs them; what they found is left in @facts.
 * Without a store (env->txn NULL) rules are not applied, a responses
 * filter sees no response and a known-senders filter no known sender.
 * A mailbox's rules that cannot be read are an error, not "no rules": a
 * "do not track" rule must never be skipped.
 * @return 0; ENOMEM; or the store's error (DV_ECORRUPT, DV_ESTORE, ...)
 *         with facts->error saying which mailbox and why (valid until the
 *         thread's next error). On an error, the parties decided so far
 *         keep their verdict and the rest are not kept; the caller
 *         tempfails the message.
 */
int track_decide(const struct track_msg *m, const struct track_env *env,
    struct track_party *p, size_t n, struct track_facts *facts);

/**
 * track_correlate - correlate @m (core/corr.h), once: a second call
 * returns what the first found (facts->corr).
 * @return 0, or ENOMEM.
 */
int track_correlate(const struct track_msg *m, const struct track_env *env,
    struct track_facts *facts);

/**
 * track_authenticate - the sender-authenticity verdict of @m (core/
 * authres.h): its Authentication-Results headers with an id in
 * env->trusted_ids, for the domain of its From address; once, like
 * track_correlate(). A trusted dmarc=fail makes a sender unknown to
 * the known-senders filter, whatever the index says.
 */
void track_authenticate(const struct track_msg *m,
    const struct track_env *env, struct track_facts *facts);

/** track_party_clear - free what track_decide() set on @p. */
void track_party_clear(struct track_party *p);

#endif

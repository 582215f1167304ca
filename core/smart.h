/*
 * smart.h - smart matching: correlating a reply that has neither
 * In-Reply-To/References to a tracked message nor a tracking token, by
 * its subject and its participants, as Dataverse's smart matching does.
 *
 * The subject is normalised: leading "Word:" prefixes (Re:, Fw:, AW:,
 * "RE :"...) are removed, as are tracking tokens; the rest is folded to
 * lower case and its first 20 words are hashed. The participants are
 * the From, To and Cc addresses, each hashed once. Two messages match
 * when their subject hashes are equal and they share at least two
 * participants. Off by default (SmartMatching): a subject and two
 * addresses are weak evidence, and a mismatch files mail on the wrong
 * case.
 *
 * The worker indexes each message it delivers in the store's "qsmart"
 * table (subject hash + outbox id -> participant hashes) and "qsmartid"
 * (outbox id -> subject hash, to remove it with the entry).
 */
#ifndef DV_SMART_H
#define DV_SMART_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "store.h"

#define SMART_PARTS_MAX	64	/* participants kept per message */
#define SMART_MIN_SHARED 2

struct smart_key {
	uint64_t subject;		/* 0: the subject is too generic */
	uint64_t parts[SMART_PARTS_MAX];	/* sorted, unique */
	size_t nparts;
};

/**
 * smart_normalize - the normalised subject of @subject into @out (for
 * tests and logs): prefixes and @token_prefix tokens removed, lower
 * case, single spaces, at most 20 words.
 */
void smart_normalize(const char *subject, const char *token_prefix,
    char *out, size_t outsz);

/** smart_key_of - the matching key of a parsed message. */
void smart_key_of(const struct msg *m, const char *token_prefix,
    struct smart_key *k);

/**
 * smart_index - record message @id under its key (replacing any earlier
 * record of it). A key with subject 0 is not recorded.
 * @return 0, DV_EFULL or DV_ESTORE.
 */
int smart_index(struct store_txn *t, uint64_t id, const struct smart_key *k,
    const char **error_r);

/**
 * smart_find - the most recent indexed message other than @self that
 * matches @k.
 * @return 0 with *id_r, DV_ENOTFOUND, or DV_ESTORE.
 */
int smart_find(struct store_txn *t, const struct smart_key *k, uint64_t self,
    uint64_t *id_r, const char **error_r);

/** smart_forget - remove message @id from the index; 0 or DV_ESTORE. */
int smart_forget(struct store_txn *t, uint64_t id, const char **error_r);

#endif

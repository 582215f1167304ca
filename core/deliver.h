/*
 * deliver.h - one step of the outbox worker: take the next due delivery,
 * hand the message to its plugin, record the outcome.
 *
 * The plugin is called with no LMDB transaction open, so a slow CRM
 * never holds up the milter's end-of-message commits; the outcome is
 * recorded in a write transaction afterwards. If the process dies in
 * between, the delivery is still pending and is made again: plugins are
 * idempotent per message id (the webhook sends it as Idempotency-Key).
 */
#ifndef DV_DELIVER_H
#define DV_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "plugin.h"
#include "pluginkv.h"
#include "retry.h"
#include "outbox.h"
#include "store.h"
#include "token.h"

struct deliver_opts {
	struct outbox *outbox;		/* the entries to deliver */
	struct retry_policy policy;	/* RetryBaseDelay... PluginHoldMax */
	const struct token_key *key;	/* NULL: no tracking tokens */
	const char *token_prefix;
	struct pluginkv *kv;		/* the plugins' store, or NULL */
	bool smart_matching;		/* SmartMatching: index and match */
	int join_policy;		/* CaseJoinPolicy, enum conf_join */
	struct store_reader *reader;	/* for the worker's reads, or NULL */
};

/* Deliveries made per step, recorded in one transaction. */
#define DELIVER_BATCH	32
/* A batch of more message bytes than this returns its memory after. */
#define DELIVER_TRIM_BYTES	(4u << 20)

/**
 * deliver_next - make up to DELIVER_BATCH due deliveries, earliest
 * first, one message's in the order Plugins lists the plugins, one after
 * the other, then record all their outcomes, and the
 * plugins' writes of those that succeeded, in one write transaction: one
 * commit (and one sync) for the batch, not one per delivery. A crash
 * before that commit makes the whole batch again; plugins are idempotent
 * per message id. The decision passed to
 * the plugin carries the correlation: core/corr.h's rule (In-Reply-To,
 * then References newest first, then the last valid tracking token in
 * the subject; a forged token was logged at end of message), then, with
 * smart_matching, subject and
 * participants (core/smart.h); and the tracking token of the
 * conversation. With smart_matching the message is also indexed for
 * later ones.
 * @param[in]  now     the current Unix time.
 * @param[out] did_r   how many deliveries were attempted, 0 if none
 *                     was due.
 * @param[out] next_r  when nothing was due: the next due time, or 0.
 * @return 0, or a store error (logged by the caller).
 */
/* Plugins that deliver_order() tells apart; the rest come after them. */
#define DELIVER_MAX_PLUGINS	32

/**
 * deliver_order - put @n due deliveries, in due-index order (time, then
 * entry, then plugin name), into the order in which deliver_next() makes
 * them: one entry's deliveries due at one time in the order of @names
 * (Plugins; names not in it last). When @n is @max (a full batch) and
 * the last entry's run of deliveries may go on past it (it has fewer
 * than @names lists), that run is left for the next batch, whole, unless
 * it is all there is. With one plugin nothing is ever left.
 * @return how many of the reordered deliveries to make now.
 */
size_t deliver_order(const char *const *names, struct outbox_delivery *d,
    size_t n, size_t max);

int deliver_next(struct store *st, struct plugin_set *ps,
    const struct deliver_opts *opts, int64_t now, int *did_r,
    int64_t *next_r, const char **error_r);

#endif

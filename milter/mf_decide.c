/*
 * mf_decide.c - the glue around the tracking decision at end of message.
 *
 * The decision itself is core's (core/track.c). This file gathers what it
 * needs from the connection (the envelope, a few headers, a read
 * snapshot of the store), gives it the outbox's Message-ID lookups, and
 * applies the result: one log line per mailbox with the queue id, and
 * only the mailboxes that take the message kept.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "mf_int.h"
#include "msg.h"
#include "status.h"

/*
 * The outbox as correlation sees it, in the snapshot @t: outbox_find()
 * also sees the entries the writer holds but has not indexed yet, with
 * no gap between the two, so a reply never misses its entry.
 */
struct mf_outbox_view {
	struct store_txn *t;
	char failed[256];	/* a lookup that failed for now, or "" */
};

static int
view_find(void *arg, const char *msgid, uint64_t *id_r)
{
	struct mf_outbox_view *v = arg;
	const char *err;
	int rc = outbox_find(dvd.ob, v->t, msgid, id_r, &err);

	/*
	 * Correlation takes any failure for a miss: remember one that may
	 * pass (a store that grew under the lookup, no memory). A corrupt
	 * index record stays a miss: it would refuse the mail for ever.
	 */
	if ((rc == DV_ESTORE || rc > 0) && v->failed[0] == '\0')
		snprintf(v->failed, sizeof(v->failed), "%s", err);
	return rc;
}

static bool
view_exists(void *arg, uint64_t id)
{
	struct mf_outbox_view *v = arg;

	return outbox_exists(dvd.ob, v->t, id);
}

/*
 * A read snapshot on the connection's own reader slot: no lock shared
 * with the other threads and processes, as store_txn_begin() takes.
 */
static int
conn_txn(struct mf_conn *cc, struct store_txn **t, const char **error_r)
{
	return cc->reader != NULL ? store_reader_txn(cc->reader, t, error_r) :
	    store_txn_begin(dvd.store, false, t, error_r);
}

static void
log_party(const char *qid, const struct track_party *p)
{
	log_info("%s: track mailbox=%s filter=%s tracked=%s folder=%s "
	    "regarding=%s%s%s reason=%s", qid, p->addr,
	    p->sender ? "all" : mbox_filter_name(p->filter),
	    p->keep ? "yes" : "no", p->folder ? p->folder : "-",
	    p->regarding_type ? p->regarding_type : "-",
	    p->regarding_type ? ":" : "",
	    p->regarding_id ? p->regarding_id : "", p->reason);
}

/* What the Authentication-Results headers said, when there were any. */
static void
log_auth(const char *qid, const struct authres_verdict *v)
{
	if (v->trusted + v->ignored + v->malformed == 0)
		return;
	log_info("%s: authentication dmarc=%s dkim=%s authserv-id=%s "
	    "trusted=%u ignored=%u malformed=%u", qid,
	    authres_dmarc_name(v->dmarc), v->dkim_aligned ? "aligned-pass" :
	    "none", v->authserv_id[0] != '\0' ? v->authserv_id : "-",
	    v->trusted, v->ignored, v->malformed);
}

/*
 * Whether the envelope sender of @cc was the sender or a recipient of
 * tracked entry @id (addresses compared normalised, subaddress dropped).
 * CaseRateLimit (mf_caserate.c) counts a reply from anyone else as a
 * would-be new case: the join policy may turn it into one. Only the
 * plugin knows a case's participants; this is the part of the
 * conversation the store has at end of message. An entry the writer has
 * not stored yet, or one that cannot be read, has no parties.
 */
static bool
sender_took_part(const struct mf_conn *cc, struct store_txn *t, uint64_t id)
{
	char me[DV_ADDR_MAX + 1], a[DV_ADDR_MAX + 1];
	const char *seps = cc->conf->subaddress_seps, *err;
	struct outbox_msg *q = NULL;
	bool took = false;
	struct mbox mb;

	/* One of our own mailboxes is a party of every case, and incoming
	 * mail can only forge it (plugins/local/join.c agrees). */
	if (cc->env_from == NULL || addr_normalize(cc->env_from, seps, me,
	    sizeof(me), &err) != 0 ||
	    store_mailbox_get(t, me, &mb, &err) == 0 ||
	    outbox_get(dvd.ob, t, id, 0, &q, &err) != 0)
		return false;
	if (q->envelope_from != NULL && addr_normalize(q->envelope_from, seps,
	    a, sizeof(a), &err) == 0)
		took = strcmp(a, me) == 0;
	for (size_t i = 0; !took && i < q->nrcpts; i++)
		took = addr_normalize(q->rcpts[i], seps, a, sizeof(a),
		    &err) == 0 && strcmp(a, me) == 0;
	outbox_msg_free(q);
	return took;
}

int
mf_decide(struct mf_conn *cc, const char *qid)
{
	struct track_msg m = {
		.env_from = cc->env_from,
		.rcpts = (const char *const *)cc->rcpts,
		.nrcpts = cc->nrcpts,
		.from = cc->from,
		.subject = cc->subject,
		.in_reply_to = cc->in_reply_to,
		.references = cc->references,
		.headers = dbuf_str(&cc->headers),
		.authres = (const char *const *)cc->authres,
		.nauthres = cc->nauthres,
	};
	struct mf_outbox_view view = { NULL, "" };
	struct corr_source src = { view_find, view_exists, &view };
	struct track_env env = {
		.outbox = &src,
		.key = dvd.ob != NULL ? &dvd.token_key : NULL,
		.token_prefix = cc->conf->token_prefix,
		.subaddress_seps = cc->conf->subaddress_seps,
		.plugins = cc->conf->plugins,
		.trusted_ids = cc->conf->trusted_authserv_ids,
	};
	const char *err;
	size_t kept = 0;
	int rc;

	/* Without the store a "do not track" rule could be skipped: the
	 * sender is asked to try again instead. */
	if (conn_txn(cc, &env.txn, &err) != 0) {
		log_error("%s: tempfailing: the tracking decision cannot read "
		    "the store: %s", qid, err);
		return -1;
	}
	view.t = env.txn;
	cc->facts = (struct track_facts)TRACK_FACTS_INIT;
	track_authenticate(&m, &env, &cc->facts);
	log_auth(qid, &cc->facts.auth);
	if ((rc = track_decide(&m, &env, cc->tracked, cc->ntracked,
	    &cc->facts)) != 0) {
		log_error("%s: tempfailing: the tracking decision failed: %s",
		    qid, rc == ENOMEM ? "out of memory" : cc->facts.error);
		store_txn_abort(env.txn);
		return -1;
	}
	for (size_t i = 0; i < cc->ntracked; i++) {
		log_party(qid, &cc->tracked[i]);
		if (cc->tracked[i].keep)
			cc->tracked[kept++] = cc->tracked[i];
		else
			track_party_clear(&cc->tracked[i]);
	}
	cc->ntracked = kept;
	/* What it answers, for its token; a forged token is logged once. */
	if (kept > 0 && track_correlate(&m, &env, &cc->facts) == 0 &&
	    cc->facts.corr.forged)
		log_notice("%s: invalid tracking token in subject ignored", qid);
	cc->reply_from_party = kept > 0 && cc->facts.corr.how != CORR_NONE &&
	    cc->conf->case_join != CONF_JOIN_ANY &&
	    sender_took_part(cc, env.txn, cc->facts.corr.id);
	store_txn_abort(env.txn);
	/* A reply must not become a new conversation for a read error. */
	if (view.failed[0] != '\0') {
		log_error("%s: tempfailing: the message it answers could not "
		    "be looked up: %s", qid, view.failed);
		return -1;
	}
	return 0;
}

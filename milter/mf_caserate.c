/*
 * mf_caserate.c - CaseRateLimit at end of message: the glue that asks
 * core/caserate.c whether a would-be new case may come in.
 *
 * A would-be new case is an incoming tracked message that a queue
 * mailbox takes and that correlates with no earlier tracked message
 * (mf_decide() has run the correlation by then), or a reply that the
 * join policy may turn into a new linked case (reply_may_open_case()). Such a message over a
 * limit is refused with 451 4.7.1 before the MTA is told anything else;
 * nothing is stored. It reads no store, makes no network call and does
 * not wait: one mutex, a few table slots.
 */
#include "config.h"

#include <stdio.h>
#include <time.h>

#include "caserate.h"
#include "log.h"
#include "mf_int.h"
#include "status.h"

int
mf_caserate_start(const char **error_r)
{
	int rc = caserate_new(CASERATE_SENDER_SLOTS, CASERATE_QUEUE_SLOTS,
	    &dvd.caserate);

	if (rc != 0)
		*error_r = dv_error_set("cannot set up CaseRateLimit: %s",
		    dv_strerror(rc));
	return rc;
}

/*
 * Whether a reply (it correlates with a tracked message) may still become
 * a new case. Under CaseJoinPolicy participant or authenticated the
 * plugin turns a reply that may not join its case into a new, linked
 * one, and only it knows a case's participants; so a reply counts unless
 * it will surely join: under participant, one whose sender was a party
 * to the message it answers (mf_decide.c's reply_from_party) and that
 * does not fail DMARC; under authenticated, one that also carries a
 * trusted DMARC or aligned DKIM pass. Without this, one Message-ID
 * would let anyone open linked cases without limit. (Being a known
 * sender is no proof: each linked case makes its sender a contact.)
 */
static bool
reply_may_open_case(const struct mf_conn *cc)
{
	const struct track_facts *f = &cc->facts;
	bool pass = f->auth_done && (f->auth.dmarc == AUTHRES_DMARC_PASS ||
	    f->auth.dkim_aligned);
	bool fail = f->auth_done && f->auth.dmarc == AUTHRES_DMARC_FAIL;

	switch (cc->conf->case_join) {
	case CONF_JOIN_ANY:
		return false;
	case CONF_JOIN_AUTHENTICATED:
		return !(cc->reply_from_party && pass);
	default:
		return !cc->reply_from_party || fail;
	}
}

/*
 * Whether the message is a would-be new case (one that correlates with
 * nothing, or a reply that may not join, above); its queues into @q.
 */
static size_t
new_case_queues(const struct mf_conn *cc, const char **q, size_t max)
{
	size_t n = 0;

	if (cc->facts.correlated_done && cc->facts.corr.how != CORR_NONE &&
	    !reply_may_open_case(cc))
		return 0;
	for (size_t i = 0; i < cc->ntracked; i++) {
		if (cc->tracked[i].sender)
			return 0;		/* outgoing */
		if (cc->tracked[i].type == MBOX_QUEUE && n < max)
			q[n++] = cc->tracked[i].addr;
	}
	return n;
}

int
mf_caserate_check(struct mf_conn *cc, const char *qid)
{
	const struct caserate_limits lim = { cc->conf->case_rate_sender,
	    cc->conf->case_rate_queue };
	char key[CASERATE_KEY_MAX + 1];
	const char *q[16];
	struct caserate_result r;
	struct timespec ts;
	size_t nq;

	if (dvd.caserate == NULL || (lim.per_sender == 0 &&
	    lim.per_queue == 0) || (nq = new_case_queues(cc, q, 16)) == 0)
		return 0;
	caserate_sender_key(cc->env_from, key);
	/* A clock that does not jump with the wall clock. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	caserate_admit(dvd.caserate, &lim, key, q, nq, (int64_t)ts.tv_sec + 1,
	    &r);
	if (r.verdict == CASERATE_OK)
		return 0;
	if (r.verdict == CASERATE_SENDER)
		log_notice("%s: case rate limit: refused with 451 4.7.1: a new "
		    "case from %s for %s, but the sender had %u within the "
		    "hour (CaseRateLimit %u %u); its window ends in %lld s",
		    qid, key, q[0], r.count, lim.per_sender, lim.per_queue,
		    (long long)r.retry_in);
	else
		log_notice("%s: case rate limit: refused with 451 4.7.1: a new "
		    "case from %s for %s, but the queue had %u within the "
		    "minute (CaseRateLimit %u %u); its window ends in %lld s",
		    qid, key, q[r.queue], r.count, lim.per_sender,
		    lim.per_queue, (long long)r.retry_in);
	return r.verdict == CASERATE_SENDER ? 1 : 2;
}

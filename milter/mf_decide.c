/*
 * mf_decide.c - the tracking decision per mailbox, at end of message.
 *
 * For each mailbox the message would be tracked for, with Dataverse's
 * semantics: the mailbox's folder-tracking rules are tried in order and
 * the first that matches decides (track into its folder, regarding its
 * record, or do not track); when none matches, the mailbox's tracking
 * filter decides (all, responses to tracked mail, known senders, none).
 * Every decision is logged on one line with the queue id. Outgoing mail
 * is tracked for its sender's mailbox without either.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "mf_int.h"
#include "msg.h"
#include "known.h"
#include "rules.h"

/*
 * The next <msg-id> in *@p, copied without its brackets, or NULL when
 * there is none left (or no memory); *@p moves past it.
 */
static char *
next_msgid(const char **p)
{
	const char *b, *e;

	if (*p == NULL || (b = strchr(*p, '<')) == NULL ||
	    (e = strchr(b, '>')) == NULL)
		return NULL;
	*p = e + 1;
	return strndup(b + 1, (size_t)(e - b - 1));
}

/*
 * The first <msg-id> in @ids that names a message in the outbox, or 0.
 * outbox_find() sees the entries its writer has not indexed yet too.
 */
static uint64_t
answers_tracked(struct store_txn *t, const char *ids)
{
	const char *err;
	uint64_t id = 0;
	char *one;

	while ((one = next_msgid(&ids)) != NULL) {
		bool hit = outbox_find(dvd.ob, t, one, &id, &err) == 0;

		free(one);
		if (hit)
			return id;
	}
	return 0;
}

/*
 * A read transaction on the connection's own reader slot: no lock shared
 * with the other threads and processes, as store_txn_begin() takes.
 */
static int
conn_txn(struct mf_conn *cc, struct store_txn **t, const char **error_r)
{
	return cc->reader != NULL ? store_reader_txn(cc->reader, t, error_r) :
	    store_txn_begin(dvd.store, false, t, error_r);
}

static uint64_t
correlated_in(struct mf_conn *cc, struct store_txn *t)
{
	uint64_t id = 0;

	if ((id = answers_tracked(t, cc->in_reply_to)) == 0)
		id = answers_tracked(t, cc->references);
	if (id == 0 && cc->subject != NULL) {
		char *subj = msg_header_decode(cc->subject);
		uint64_t tok;

		if (subj != NULL && token_find(&dvd.token_key,
		    cc->conf->token_prefix, subj, &tok) == 0 &&
		    outbox_exists(dvd.ob, t, tok))
			id = tok;
		free(subj);
	}
	return id;
}

uint64_t
mf_decide_correlated(struct mf_conn *cc)
{
	struct store_txn *t;
	const char *err;
	uint64_t id;

	if (conn_txn(cc, &t, &err) != 0)
		return 0;
	id = correlated_in(cc, t);
	store_txn_abort(t);
	return id;
}

static bool from_address(const char *raw, const char *seps, char *out,
    size_t outsz);

/*
 * The sender is a colleague (a mailbox) or a contact a plugin knows.
 * Plugins key contacts by the address as written (the local plugin: the
 * From: address in lower case, its domain in A-labels), so besides the normalised envelope
 * sender the envelope and From: addresses are tried with their
 * subaddress kept.
 */
static bool
known_sender(struct mf_conn *cc, struct store_txn *t)
{
	char cand[3][DV_ADDR_MAX + 1];
	struct mbox mb;
	const char *err;
	size_t n = 0;

	if (cc->env_from != NULL && addr_normalize(cc->env_from,
	    cc->conf->subaddress_seps, cand[n], sizeof(cand[0]), &err) == 0) {
		if (t != NULL && store_mailbox_get(t, cand[n], &mb, &err) == 0)
			return true;
		n++;
	}
	if (cc->env_from != NULL && addr_normalize(cc->env_from, NULL,
	    cand[n], sizeof(cand[0]), &err) == 0)
		n++;
	if (from_address(cc->from, NULL, cand[n], sizeof(cand[0])))
		n++;
	for (size_t c = 0; t != NULL && c < n; c++) {
		bool dup = false;

		for (size_t d = 0; d < c; d++)
			dup = dup || strcmp(cand[c], cand[d]) == 0;
		if (dup)
			continue;
		if (known_sender_has(t, cc->conf->plugins, cand[c]))
			return true;
	}
	return false;
}

/* --- what the rules look at ------------------------------------------------ */

struct rule_ctx {
	struct mf_conn *cc;
	char *decoded;		/* the last header value handed out */
};

/* The decoded value of the first kept header @name. */
static const char *
header_value(void *arg, const char *name)
{
	struct rule_ctx *rc = arg;
	const char *p = dbuf_str(&rc->cc->headers);
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');

		if (eol == NULL)
			break;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			char *raw = strndup(p + n + 2, (size_t)(eol - p - n - 2));

			free(rc->decoded);
			rc->decoded = raw != NULL ? msg_header_decode(raw) : NULL;
			free(raw);
			return rc->decoded;
		}
		p = eol + 1;
	}
	return NULL;
}

/* The address in a From: header ("Name <a@b>" or "a@b"), normalised. */
static bool
from_address(const char *raw, const char *seps, char *out, size_t outsz)
{
	const char *lt, *gt, *err;
	char *a;
	bool ok;

	if (raw == NULL)
		return false;
	if ((lt = strrchr(raw, '<')) != NULL && (gt = strchr(lt, '>')) != NULL)
		a = strndup(lt + 1, (size_t)(gt - lt - 1));
	else
		a = strdup(raw + strspn(raw, " \t"));
	if (a == NULL)
		return false;
	a[strcspn(a, " \t\r\n")] = '\0';
	ok = addr_normalize(a, seps, out, outsz, &err) == 0;
	free(a);
	return ok;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/*
 * The rules of one mailbox: 1 if a rule decided (*keep and the folder
 * set, *why the reason), 0 if none matched.
 */
static int
try_rules(struct store_txn *t, struct mf_tracked *m,
    const struct rule_input *in, bool *keep, char *why, size_t whysz)
{
	struct rule_list l;
	const char *err;
	int i;

	if (t == NULL || rules_get(t, m->addr, &l, &err) != 0) {
		if (t != NULL)
			log_warn("mailbox %s: folder rules ignored: %s",
			    m->addr, err);
		return 0;
	}
	if ((i = rules_match(&l, in)) < 0) {
		rules_free(&l);
		return 0;
	}
	if (l.v[i].action == RULE_SKIP) {
		*keep = false;
		snprintf(why, whysz, "rule %d: do not track", i + 1);
	} else {
		*keep = true;
		m->folder = dup_or_null(l.v[i].folder);
		m->regarding_type = dup_or_null(l.v[i].regarding_type);
		m->regarding_id = dup_or_null(l.v[i].regarding_id);
		snprintf(why, whysz, "rule %d", i + 1);
	}
	rules_free(&l);
	return 1;
}

static bool
filter_keeps(struct mf_conn *cc, struct store_txn *t,
    const struct mf_tracked *m, int *response, int *known, const char **why)
{
	switch (m->filter) {
	case MBOX_FILTER_NONE:
		*why = "filter none";
		return false;
	case MBOX_FILTER_RESPONSES:
		if (*response < 0)
			*response = t != NULL && correlated_in(cc, t) != 0;
		*why = *response ? "a response to tracked mail" :
		    "not a response to tracked mail";
		return *response;
	case MBOX_FILTER_KNOWN:
		if (*known < 0)
			*known = known_sender(cc, t);
		*why = *known ? "known sender" : "unknown sender";
		return *known;
	default:
		*why = "filter all";
		return true;
	}
}

void
mf_decide(struct mf_conn *cc, const char *qid)
{
	struct rule_ctx rctx = { cc, NULL };
	struct rule_input in = { 0 };
	struct store_txn *t = NULL;
	char sender[DV_ADDR_MAX + 1], from[DV_ADDR_MAX + 1];
	int response = -1, known = -1;	/* computed on first need */
	const char *err;
	char *subject = NULL;
	size_t kept = 0;

	if (conn_txn(cc, &t, &err) != 0) {
		log_warn("%s: folder rules and filters without the store: %s",
		    qid, err);
		t = NULL;
	}
	if (cc->env_from != NULL && addr_normalize(cc->env_from, NULL, sender,
	    sizeof(sender), &err) == 0)
		in.sender = sender;
	if (from_address(cc->from, NULL, from, sizeof(from)))
		in.from = from;
	in.rcpts = (const char *const *)cc->rcpts;
	in.nrcpts = cc->nrcpts;
	if (cc->subject != NULL)
		in.subject = subject = msg_header_decode(cc->subject);
	in.header = header_value;
	in.header_arg = &rctx;

	for (size_t i = 0; i < cc->ntracked; i++) {
		struct mf_tracked *m = &cc->tracked[i];
		const char *why = "outgoing", *filter = "all";
		char rule_why[64];
		bool keep = true;

		in.subaddress = m->sub[0] ? m->sub : NULL;
		if (!m->sender) {
			filter = mbox_filter_name(m->filter);
			if (try_rules(t, m, &in, &keep, rule_why,
			    sizeof(rule_why)))
				why = rule_why;
			else
				keep = filter_keeps(cc, t, m, &response,
				    &known, &why);
		}
		log_info("%s: track mailbox=%s filter=%s tracked=%s folder=%s "
		    "regarding=%s%s%s reason=%s", qid, m->addr, filter,
		    keep ? "yes" : "no", m->folder ? m->folder : "-",
		    m->regarding_type ? m->regarding_type : "-",
		    m->regarding_type ? ":" : "",
		    m->regarding_id ? m->regarding_id : "", why);
		if (keep)
			cc->tracked[kept++] = *m;
		else {
			free(m->folder);
			free(m->regarding_type);
			free(m->regarding_id);
		}
	}
	cc->ntracked = kept;
	if (t != NULL)
		store_txn_abort(t);
	free(subject);
	free(rctx.decoded);
}

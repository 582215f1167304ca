/*
 * track.c - the tracking decision (see track.h).
 *
 * It reads the mailbox's folder rules, the outbox's Message-ID index
 * (through struct corr_source) and the known-senders index, all within
 * the caller's read transaction. It writes nothing and never waits on a
 * network: it runs on the SMTP path.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "known.h"
#include "mbox.h"
#include "msg.h"
#include "rules.h"
#include "status.h"
#include "store.h"
#include "track.h"

/* What the rules look at, built once per message. */
struct track_view {
	const struct track_msg *m;
	char sender[DV_ADDR_MAX + 1], from[DV_ADDR_MAX + 1];
	char *subject;			/* decoded, or NULL */
	char *decoded;			/* the last header value handed out */
	struct rule_input in;
};

/* The address in a From: value ("Name <a@b>" or "a@b"), normalised. */
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

/* The decoded value of the first header @name in the headers block. */
static const char *
header_value(void *arg, const char *name)
{
	struct track_view *v = arg;
	const char *p = v->m->headers;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');

		if (eol == NULL)
			break;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *val = p + n + 1 + (p[n + 1] == ' ');
			char *raw = strndup(val, (size_t)(eol - val));

			free(v->decoded);
			v->decoded = raw != NULL ? msg_header_decode(raw) : NULL;
			free(raw);
			return v->decoded;
		}
		p = eol + 1;
	}
	return NULL;
}

static void
view_init(struct track_view *v, const struct track_msg *m)
{
	const char *err;

	memset(v, 0, sizeof(*v));
	v->m = m;
	if (m->env_from != NULL && addr_normalize(m->env_from, NULL, v->sender,
	    sizeof(v->sender), &err) == 0)
		v->in.sender = v->sender;
	if (from_address(m->from, NULL, v->from, sizeof(v->from)))
		v->in.from = v->from;
	v->in.rcpts = m->rcpts;
	v->in.nrcpts = m->nrcpts;
	if (m->subject != NULL)
		v->in.subject = v->subject = msg_header_decode(m->subject);
	v->in.header = header_value;
	v->in.header_arg = v;
}

static void
view_free(struct track_view *v)
{
	free(v->subject);
	free(v->decoded);
}

int
track_correlate(const struct track_msg *m, const struct track_env *env,
    struct track_facts *facts)
{
	struct corr_msg cm = { 0 };
	char **irt = NULL, **refs = NULL, *subject = NULL;
	size_t nirt = 0, nrefs = 0;
	int rc = 0;

	if (facts->correlated_done)
		return 0;
	if (msg_ids_parse(m->in_reply_to, &irt, &nirt) != 0 ||
	    msg_ids_parse(m->references, &refs, &nrefs) != 0 ||
	    (m->subject != NULL &&
	    (subject = msg_header_decode(m->subject)) == NULL)) {
		rc = ENOMEM;
		goto out;
	}
	cm.in_reply_to = nirt > 0 ? irt[0] : NULL;
	cm.references = (const char *const *)refs;
	cm.nreferences = nrefs;
	cm.subject = subject;
	if (env->txn != NULL && env->outbox != NULL)
		corr_find(&cm, env->outbox, env->key, env->token_prefix,
		    &facts->corr);
	else
		facts->corr = (struct corr_result){ 0, CORR_NONE, false };
	facts->correlated_done = true;
out:
	msg_ids_free(irt, nirt);
	msg_ids_free(refs, nrefs);
	free(subject);
	return rc;
}

void
track_authenticate(const struct track_msg *m, const struct track_env *env,
    struct track_facts *facts)
{
	char from[DV_ADDR_MAX + 1];
	const char *at = NULL;

	if (facts->auth_done)
		return;
	if (from_address(m->from, NULL, from, sizeof(from)))
		at = strrchr(from, '@');
	authres_verdict(m->authres, m->nauthres, env->trusted_ids,
	    at != NULL ? at + 1 : NULL, &facts->auth);
	facts->auth_done = true;
}

/*
 * The sender is a colleague (a mailbox) or an address a plugin knows.
 * Plugins know addresses as written (the local plugin: the From: address
 * in lower case, its domain in A-labels), so besides the normalised
 * envelope sender the envelope and From: addresses are tried with their
 * subaddress kept.
 */
static bool
known_sender(const struct track_msg *m, const struct track_env *env)
{
	char cand[3][DV_ADDR_MAX + 1];
	struct mbox mb;
	const char *err;
	size_t n = 0;

	if (env->txn == NULL)
		return false;
	if (m->env_from != NULL && addr_normalize(m->env_from,
	    env->subaddress_seps, cand[n], sizeof(cand[0]), &err) == 0) {
		if (store_mailbox_get(env->txn, cand[n], &mb, &err) == 0)
			return true;
		n++;
	}
	if (m->env_from != NULL && addr_normalize(m->env_from, NULL,
	    cand[n], sizeof(cand[0]), &err) == 0)
		n++;
	if (from_address(m->from, NULL, cand[n], sizeof(cand[0])))
		n++;
	for (size_t c = 0; c < n; c++) {
		bool dup = false;

		for (size_t d = 0; d < c; d++)
			dup = dup || strcmp(cand[c], cand[d]) == 0;
		if (!dup && known_sender_has(env->txn, env->plugins, cand[c]))
			return true;
	}
	return false;
}

static char *
dup_or_null(const char *s, bool *oom)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		*oom = true;
	return d;
}

/*
 * The rules of one mailbox: 1 if a rule decided (keep, reason and the
 * folder set), 0 if none matched, -1 with *@rc set (ENOMEM, or the
 * store's error with facts->error) if they could not be applied.
 */
static int
try_rules(const struct track_env *env, struct track_party *p,
    const struct rule_input *in, struct track_facts *facts, int *rc)
{
	struct rule_list l;
	const char *err;
	bool oom = false;
	int i;

	if (env->txn == NULL)
		return 0;
	if ((*rc = rules_get(env->txn, p->addr, &l, &err)) != 0) {
		facts->error = dv_error_set("mailbox %s: its folder rules "
		    "cannot be read: %s", p->addr, err);
		return -1;
	}
	if ((i = rules_match(&l, in)) < 0) {
		rules_free(&l);
		return 0;
	}
	p->keep = l.v[i].action != RULE_SKIP;
	snprintf(p->reason_buf, sizeof(p->reason_buf), "rule %d%s", i + 1,
	    p->keep ? "" : ": do not track");
	p->reason = p->reason_buf;
	if (p->keep) {
		p->folder = dup_or_null(l.v[i].folder, &oom);
		p->regarding_type = dup_or_null(l.v[i].regarding_type, &oom);
		p->regarding_id = dup_or_null(l.v[i].regarding_id, &oom);
	}
	rules_free(&l);
	if (oom) {
		*rc = ENOMEM;
		return -1;
	}
	return 1;
}

/* The tracking filter of one mailbox, for mail no rule decided. */
static int
filter_decides(const struct track_msg *m, const struct track_env *env,
    struct track_party *p, struct track_facts *facts)
{
	switch (p->filter) {
	case MBOX_FILTER_NONE:
		p->keep = false;
		p->reason = "filter none";
		return 0;
	case MBOX_FILTER_RESPONSES:
		if (track_correlate(m, env, facts) != 0)
			return ENOMEM;
		p->keep = facts->corr.how != CORR_NONE;
		p->reason = p->keep ? "a response to tracked mail" :
		    "not a response to tracked mail";
		return 0;
	case MBOX_FILTER_KNOWN:
		/* A From that fails DMARC is not the one it names. */
		track_authenticate(m, env, facts);
		if (facts->known < 0)
			facts->known = facts->auth.dmarc == AUTHRES_DMARC_FAIL ?
			    0 : known_sender(m, env);
		p->keep = facts->known == 1;
		p->reason = p->keep ? "known sender" :
		    facts->auth.dmarc == AUTHRES_DMARC_FAIL ?
		    "unknown sender: trusted dmarc=fail" : "unknown sender";
		return 0;
	default:
		p->keep = true;
		p->reason = "filter all";
		return 0;
	}
}

int
track_decide(const struct track_msg *m, const struct track_env *env,
    struct track_party *p, size_t n, struct track_facts *facts)
{
	struct track_view v;
	int rc = 0;

	view_init(&v, m);
	if (m->subject != NULL && v.subject == NULL)
		rc = ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r;

		p[i].keep = false;
		p[i].reason = "not decided: the decision failed";
		if (rc != 0)
			continue;
		if (p[i].sender) {
			p[i].keep = true;
			p[i].reason = "outgoing";
			continue;
		}
		v.in.subaddress = p[i].sub[0] != '\0' ? p[i].sub : NULL;
		if ((r = try_rules(env, &p[i], &v.in, facts, &rc)) == 0)
			rc = filter_decides(m, env, &p[i], facts);
		else if (r < 0) {
			track_party_clear(&p[i]);
			p[i].keep = false;
			p[i].reason = rc == ENOMEM ? "out of memory" :
			    "its rules cannot be read";
		}
	}
	view_free(&v);
	return rc;
}

void
track_party_clear(struct track_party *p)
{
	free(p->folder);
	free(p->regarding_type);
	free(p->regarding_id);
	p->folder = p->regarding_type = p->regarding_id = NULL;
}

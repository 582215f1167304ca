/*
 * join.c - the local plugin's case join policy: whether incoming mail
 * that names an existing case (by In-Reply-To, References, tracking
 * token or smart match) may join it, by the rule of CaseJoinPolicy that
 * the host passes in the decision (dvmilter_plugin.h, enum
 * dvp_join_policy), and the participants of a case that rule needs.
 *
 * A case keeps its participants in its record ("participants": the
 * customer and the From, To and Cc addresses of its activities, as
 * lstore_address_key() writes them), added to as activities join. A case
 * recorded before there was such a list gets it from its activities the
 * first time it is asked. It decides only; local.c routes the message.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "local.h"
#include "lstore.h"

#define PARTICIPANTS_MAX	500	/* addresses kept per case */

static const char *
policy_name(int p)
{
	switch (p) {
	case DVP_JOIN_PARTICIPANT: return "participant";
	case DVP_JOIN_AUTHENTICATED: return "authenticated";
	default: return "any";
	}
}

static const char *
dmarc_name(int d)
{
	switch (d) {
	case DVP_DMARC_PASS: return "pass";
	case DVP_DMARC_FAIL: return "fail";
	default: return "none";
	}
}

static bool
has_auth(const struct dvp_decision *d)
{
	return DVP_HAS(struct dvp_decision, d, token_id);
}

json_t *
join_auth_json(const struct dvp_decision *d)
{
	if (!has_auth(d))
		return json_null();
	return json_pack("{s:s, s:b, s:o}", "dmarc", dmarc_name(d->auth_dmarc),
	    "dkim_aligned", d->auth_dkim_aligned != 0, "authserv_id",
	    d->auth_id != NULL ? json_string(d->auth_id) : json_null());
}

bool
join_dmarc_failed(const struct dvp_decision *d)
{
	return has_auth(d) && d->auth_dmarc == DVP_DMARC_FAIL;
}

static void
add_address(json_t *set, const char *a)
{
	char key[400];
	size_t i;
	json_t *v;

	if (a == NULL || *a == '\0' || json_array_size(set) >= PARTICIPANTS_MAX)
		return;
	snprintf(key, sizeof(key), "%s", a);
	lstore_address_key(key, sizeof(key));
	json_array_foreach(set, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
			return;
	json_array_append_new(set, json_string(key));
}

static void
add_activity(json_t *set, const json_t *act)
{
	size_t i;
	json_t *v;

	add_address(set, json_string_value(json_object_get(act, "from")));
	json_array_foreach(json_object_get(act, "to"), i, v)
		add_address(set, json_string_value(v));
	json_array_foreach(json_object_get(act, "cc"), i, v)
		add_address(set, json_string_value(v));
}

/* The case's participants, made from its activities if it has none. */
static json_t *
participants(const struct dvp_host *h, json_t *kase)
{
	json_t *set = json_object_get(kase, "participants"), *v;
	size_t i;

	if (json_is_array(set))
		return set;
	if ((set = json_array()) == NULL)
		return NULL;
	add_address(set, json_string_value(json_object_get(kase, "customer")));
	json_array_foreach(json_object_get(kase, "activities"), i, v) {
		bool missing;
		json_t *a = json_string_value(v) == NULL ? NULL :
		    lstore_get_id(h, LS_ACTIVITY, json_string_value(v),
		    &missing);

		add_activity(set, a);
		json_decref(a);
	}
	json_object_set_new(kase, "participants", set);
	return set;
}

void
join_add_participants(const struct dvp_host *h, json_t *kase,
    const json_t *act)
{
	json_t *set = participants(h, kase);

	if (set != NULL)
		add_activity(set, act);
}

static bool
is_participant(const struct dvp_host *h, json_t *kase, const char *sender)
{
	json_t *set = participants(h, kase), *v;
	size_t i;

	json_array_foreach(set, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), sender) == 0)
			return true;
	return false;
}

/*
 * Whether @sender is one of this organisation's own mailboxes. Incoming
 * mail that claims to be from one is a forgery or a loop: our own mail
 * reaches the milter as outgoing (InternalHosts, SMTP AUTH). Such a
 * sender is never taken for a participant, although our mailboxes are
 * on every case (the queue a customer wrote to is in each To).
 */
static bool
ours(const struct dvp_host *h, const struct dvp_decision *d,
    const char *sender)
{
	const struct dvp_mailbox *mb;
	char norm[400], err[200];

	if (h->mailbox_address(h->ctx, sender, norm, sizeof(norm), err,
	    sizeof(err)) != DVP_KV_OK)
		return false;
	for (size_t i = 0; i < d->nmailboxes; i++)
		if (strcmp(DVP_MAILBOX(d, i)->address, norm) == 0)
			return true;
	return h->mailbox_get(h->ctx, norm, &mb, err, sizeof(err)) ==
	    DVP_KV_OK;
}

/* A valid token in the subject that names a message of this case. */
static bool
token_of_case(const struct dvp_host *h, const struct dvp_decision *d,
    const char *case_id)
{
	const char *c;
	bool missing, same;
	json_t *a;

	if (d->token_id == NULL)
		return false;
	a = lstore_get_id(h, LS_ACTIVITY, d->token_id, &missing);
	c = json_string_value(json_object_get(a, "case"));
	same = c != NULL && strcmp(c, case_id) == 0;
	json_decref(a);
	return same;
}

bool
join_allowed(const struct dvp_host *h, const struct dvp_message *m,
    const struct dvp_decision *d, const char *sender, json_t *kase,
    const char *case_id, struct join *out)
{
	const char *number = json_string_value(json_object_get(kase, "number"));
	bool member, token, authed;
	int policy = has_auth(d) ? d->join_policy : DVP_JOIN_ANY;

	out->policy = policy_name(policy);
	out->joined = true;
	if (m->direction == DVP_OUTGOING) {
		snprintf(out->reason, sizeof(out->reason), "outgoing mail");
		return true;
	}
	if (policy == DVP_JOIN_ANY) {
		snprintf(out->reason, sizeof(out->reason), "policy any");
		return true;
	}
	member = !ours(h, d, sender) && is_participant(h, kase, sender);
	token = token_of_case(h, d, case_id);
	authed = d->auth_dmarc == DVP_DMARC_PASS || d->auth_dkim_aligned;
	if (d->auth_dmarc == DVP_DMARC_FAIL) {
		out->joined = false;
		snprintf(out->reason, sizeof(out->reason), "the sender %s "
		    "fails DMARC (trusted dmarc=fail)", sender);
	} else if (member && (authed || policy == DVP_JOIN_PARTICIPANT)) {
		snprintf(out->reason, sizeof(out->reason), "the sender %s is a "
		    "participant of %s%s", sender, number ? number : case_id,
		    authed ? ", authenticated" : "");
	} else if (token && authed) {
		snprintf(out->reason, sizeof(out->reason), "a valid tracking "
		    "token of %s and an authenticated sender (%s)",
		    number ? number : case_id, d->auth_dmarc == DVP_DMARC_PASS ?
		    "dmarc=pass" : "aligned dkim=pass");
	} else {
		out->joined = false;
		snprintf(out->reason, sizeof(out->reason), "the sender %s is %s"
		    "%s", sender, member ? "a participant of " :
		    "not a participant of ", number ? number : case_id);
		if (!authed) {
			size_t n = strlen(out->reason);

			snprintf(out->reason + n, sizeof(out->reason) - n,
			    " and is not authenticated%s", policy ==
			    DVP_JOIN_AUTHENTICATED ? " (policy authenticated)" :
			    token ? "" : " with a valid token");
		} else
			snprintf(out->reason + strlen(out->reason),
			    sizeof(out->reason) - strlen(out->reason),
			    " and has no valid token of it");
	}
	return out->joined;
}

json_t *
join_json(const struct join *j, const char *case_id, json_t *kase)
{
	return json_pack("{s:s, s:s, s:O?, s:b, s:s}", "policy", j->policy,
	    "case", case_id, "case_number", json_object_get(kase, "number"),
	    "joined", j->joined, "reason", j->reason);
}

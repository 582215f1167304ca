/*
 * policy.c - SMTP-time decisions from mailbox records.
 *
 * The rules mirror Dataverse: mail flows for a mailbox only when an
 * administrator has approved it (emailrouteraccessapproval = Approved).
 * A mailbox that dvmilter does not process for a direction (method
 * "none", or the record disabled) is not enforced in that direction.
 * Everything here is a local LMDB read; nothing blocks.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "policy.h"
#include "status.h"

static enum verdict
verdict_of(enum conf_action a)
{
	switch (a) {
	case CONF_REJECT:	return VERDICT_REJECT;
	case CONF_TEMPFAIL:	return VERDICT_TEMPFAIL;
	case CONF_ACCEPT:	break;
	}
	return VERDICT_CONTINUE;
}

/* Apply a configured rule: set verdict and, unless accepting, the reply. */
static void
apply_rule(struct decision *d, const struct conf_rule *rule,
    const char *raw, const char *reason)
{
	d->verdict = verdict_of(rule->action);
	d->reason = reason;
	if (d->verdict == VERDICT_CONTINUE)
		return;
	memcpy(d->code, rule->reply.code, sizeof(d->code));
	memcpy(d->xcode, rule->reply.xcode, sizeof(d->xcode));
	conf_reply_format(&rule->reply, raw, d->text, sizeof(d->text));
}

static const char *
unapproved_reason(const struct mbox_policy *pol)
{
	switch (pol->approval) {
	case MBOX_APPROVAL_REJECTED:	return "approval-rejected";
	case MBOX_APPROVAL_EMPTY:	return "approval-empty";
	}
	return "approval-pending";
}

static void
decision_init(struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = VERDICT_CONTINUE;
}

/* Normalise and look up; returns 1 if the caller should go on. */
static int
lookup(const struct conf *c, struct store_reader *r, const char *raw,
    struct decision *d)
{
	const char *err = NULL;
	int rc;

	rc = addr_normalize(raw, c->subaddress_seps, d->addr, sizeof(d->addr),
	    &err);
	if (rc != 0) {
		d->addr[0] = '\0';
		d->detail = err;
		return rc;
	}
	rc = store_lookup_policy(r, d->addr, &d->pol, &err);
	if (rc == 0)
		d->found = true;
	else if (rc != DV_ENOTFOUND)
		d->detail = err;
	return rc;
}

void
policy_rcpt(const struct conf *c, struct store_reader *r, const char *raw,
    unsigned nrcpt, struct decision *d)
{
	int rc;

	decision_init(d);
	if (nrcpt > c->max_recipients) {
		d->verdict = VERDICT_TEMPFAIL;
		d->reason = "too-many-recipients";
		memcpy(d->code, "452", 4);
		memcpy(d->xcode, "4.5.3", 6);
		snprintf(d->text, sizeof(d->text), "too many recipients "
		    "(limit %u)", c->max_recipients);
		return;
	}
	rc = lookup(c, r, raw, d);
	if (rc == DV_EINVAL || rc == DV_ETOOBIG || rc == DV_EEMPTY) {
		apply_rule(d, &c->malformed, raw, "malformed-address");
		return;
	}
	if (rc == DV_ENOTFOUND) {
		if (c->unknown_rcpt.action != CONF_ACCEPT &&
		    conf_domain_listed(c->unknown_rcpt_domains,
		    addr_domain(d->addr)))
			apply_rule(d, &c->unknown_rcpt, raw, "unknown-mailbox");
		else
			d->reason = "no-mailbox";
		return;
	}
	if (rc != 0) {
		apply_rule(d, &c->store_error, raw, "store-error");
		return;
	}
	if (!d->pol.enabled) {
		d->reason = "disabled";
		return;
	}
	if (d->pol.method[MBOX_DIR_INCOMING] == MBOX_METHOD_NONE) {
		d->reason = "incoming-none";
		return;
	}
	if (mbox_is_approved(&d->pol)) {
		d->reason = "approved";
		return;
	}
	apply_rule(d, &c->unapproved_rcpt, raw, unapproved_reason(&d->pol));
}

void
policy_sender(const struct conf *c, struct store_reader *r, const char *raw,
    bool outbound, struct decision *d)
{
	int rc;

	decision_init(d);
	if (!outbound) {
		d->reason = "inbound";
		return;
	}
	rc = lookup(c, r, raw, d);
	if (rc == DV_EEMPTY) {
		d->reason = "null-sender";
		return;
	}
	if (rc == DV_EINVAL || rc == DV_ETOOBIG) {
		/* The MTA vetted the sender; an odd one is not ours to judge. */
		d->reason = "unparsable-sender";
		return;
	}
	if (rc == DV_ENOTFOUND) {
		d->reason = "no-mailbox";
		return;
	}
	if (rc != 0) {
		apply_rule(d, &c->store_error, raw, "store-error");
		return;
	}
	if (!d->pol.enabled) {
		d->reason = "disabled";
		return;
	}
	if (d->pol.method[MBOX_DIR_OUTGOING] != MBOX_METHOD_SSS) {
		d->reason = "outgoing-not-synced";
		return;
	}
	if (mbox_is_approved(&d->pol)) {
		d->reason = "approved";
		return;
	}
	apply_rule(d, &c->unapproved_sender, raw, unapproved_reason(&d->pol));
}

const char *
policy_verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_CONTINUE:	return "continue";
	case VERDICT_REJECT:	return "reject";
	case VERDICT_TEMPFAIL:	return "tempfail";
	}
	return "?";
}

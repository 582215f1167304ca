/*
 * local.c - the local plugin: email activities, contacts and cases in
 * dvmilter's own store.
 *
 * One delivery records one email activity, keyed by the host's message
 * id, so a delivery made again (after a crash, or after a copy of the
 * message reached another mailbox and was merged in) updates the same
 * activity. Case routing follows Dataverse's automatic record creation,
 * with one case rule per queue mailbox (dvmilterctl caserule):
 *   - incoming mail to a queue with a rule that correlates with no case
 *     creates a case (number CAS-01001 up), customer = the sender, and
 *     a contact for an unknown sender if the rule says so;
 *   - mail that correlates with an active case is attached to it;
 *   - mail that correlates with a resolved case reopens it when it was
 *     resolved fewer than the rule's reopen-days ago; otherwise a new
 *     case is created, linked to the old one (a cancelled case is never
 *     reopened). Without a rule, such mail is only attached;
 *   - a new case may be acknowledged by mail (autoreply.c).
 * All records of one delivery commit together with the host's "done"
 * record, or not at all.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "local.h"
#include "lstore.h"

#define TEXT_MAX	(256 * 1024)	/* activity text kept, bytes */
#define TITLE_MAX	200		/* Dataverse's incident title */
#define HEADERS_MAX	(64 * 1024)	/* header block kept, bytes */

static const char *const config_keys[] = {
	"SubmissionURL", "AutoReplyFrom", "AutoReplyLimit", "AutoReplyWindow",
	"SMTPTimeout", "AutoReplyDomainLimit", "AutoReplyGlobalLimit",
	"SubmissionAllowPlain", "AutoReplyTries", "AutoReplyRetryDelay", NULL
};

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Valid UTF-8 copy of at most @max bytes, cut at a character boundary. */
static json_t *
jtext(const char *s, size_t max, bool *cut)
{
	size_t n;
	json_t *j;

	if (s == NULL)
		return json_null();
	n = strlen(s);
	if (cut != NULL)
		*cut = n > max;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	j = json_stringn(s, n);
	return j != NULL ? j : json_string("");
}

/*
 * A new record id in the form Dataverse gives its record ids, a GUID:
 * version 7 (RFC 9562), the Unix time in milliseconds and 74 random bits,
 * so that ids made one after the other sort together and a new case's
 * "case/<id>" key lands on the store's last leaf page, not on a random
 * one that the commit must copy and write.
 */
static int
new_guid(char out[37])
{
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static json_t *
addr_array(const struct dvp_address *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++)
		if (a[i].address != NULL)
			json_array_append_new(arr, json_string(a[i].address));
	return arr;
}

static const char *
correlation_name(int c)
{
	switch (c) {
	case DVP_CORR_IN_REPLY_TO: return "in-reply-to";
	case DVP_CORR_TRACKING_TOKEN: return "tracking-token";
	case DVP_CORR_SMART_MATCH: return "smart-match";
	default: return "none";
	}
}

/* --- one delivery -------------------------------------------------------------- */

struct job {
	struct local *l;
	const struct dvp_message *m;
	const struct dvp_decision *d;
	int64_t now;
	char customer[400];		/* the sender, as lstore_address_key()
					   has it */
	const char *customer_name;
	json_t *act;			/* the activity being written */
	json_t *kase;			/* its case, or NULL */
	char case_id[40];
	bool new_case;
	struct dvp_result *r;
};

static void __attribute__((format(printf, 3, 4)))
fail(struct job *j, int status, const char *fmt, ...)
{
	va_list ap;

	j->r->status = status;
	va_start(ap, fmt);
	vsnprintf(j->r->error, sizeof(j->r->error), fmt, ap);
	va_end(ap);
}

static const char *
message_token(const struct dvp_decision *d)
{
	return d->message_token != NULL ? d->message_token :
	    d->tracking_token;
}

/* The case rule of the first queue mailbox that has one, or NULL. */
static json_t *
find_rule(struct job *j, const char **queue_r)
{
	bool missing;

	if (j->m->direction != DVP_INCOMING)
		return NULL;
	for (size_t i = 0; i < j->d->nmailboxes; i++) {
		const struct dvp_mailbox *b = DVP_MAILBOX(j->d, i);
		json_t *rule;

		if (b->type != DVP_MAILBOX_QUEUE)
			continue;
		if ((rule = lstore_get_id(j->l->h, LS_CASERULE, b->address,
		    &missing)) != NULL) {
			*queue_r = b->address;
			return rule;
		}
	}
	return NULL;
}

/*
 * A contact's address goes into the known-senders index with it. An
 * address the host cannot normalise is one the SMTP path could never
 * look up: the contact stands without.
 */
static int
index_contact(struct local *l, const char *addr)
{
	int rc = l->h->known_put(l->h->ctx, addr);

	if (rc == DVP_KV_INVALID) {
		l->h->log(l->h->ctx, DVP_LOG_INFO, "contact %s is not a "
		    "known sender: not an address the milter looks up", addr);
		return 0;
	}
	return rc == DVP_KV_OK ? 0 : -1;
}

static int
ensure_contact(struct job *j)
{
	char id[37];
	bool missing;
	json_t *c;

	if ((c = lstore_get_id(j->l->h, LS_CONTACT, j->customer,
	    &missing)) != NULL) {
		json_decref(c);
		return 0;
	}
	if (!missing || new_guid(id) != 0)
		return -1;
	c = json_pack("{s:s, s:s, s:o, s:I, s:s}", "id", id, "email",
	    j->customer, "name", jstr(j->customer_name), "created",
	    (json_int_t)j->now, "source", "case rule");
	if (c == NULL || lstore_put_id(j->l->h, LS_CONTACT, j->customer,
	    c) != 0 ||
	    index_contact(j->l, j->customer) != 0) {
		json_decref(c);
		return -1;
	}
	j->l->h->log(j->l->h->ctx, DVP_LOG_INFO, "contact %s created for %s",
	    id, j->customer);
	json_decref(c);
	return 0;
}

static int
create_case(struct job *j, const char *queue, const char *parent)
{
	const char *subj = j->m->subject;
	char number[32], key[LS_KEY_MAX + 1];
	uint64_t n;
	bool cut;

	if (j->l->h->kv_next(j->l->h->ctx, LS_COUNTER_CASE, &n) != 0 ||
	    new_guid(j->case_id) != 0)
		return -1;
	snprintf(number, sizeof(number), "CAS-%05llu",
	    (unsigned long long)(1000 + n));
	j->kase = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, "
	    "s:[], s:I, s:I, s:n, s:o, s:s, s:n}",
	    "id", j->case_id, "number", number,
	    "title", jtext(subj != NULL && *subj != '\0' ? subj :
	    "(no subject)", TITLE_MAX, &cut),
	    "status", "active", "queue", queue, "customer", j->customer,
	    "customer_name", jstr(j->customer_name),
	    "tracking_token", jstr(message_token(j->d)),
	    "activities", "created", (json_int_t)j->now,
	    "modified", (json_int_t)j->now, "resolved_at",
	    "parent_case", jstr(parent), "origin", "email", "auto_reply");
	if (j->kase == NULL)
		return -1;
	if (lstore_key(key, LS_CASENUM, number) != 0 ||
	    j->l->h->kv_put(j->l->h->ctx, key, j->case_id,
	    strlen(j->case_id)) != 0)
		return -1;
	j->new_case = true;
	return 0;
}

static json_t *
load_case(struct job *j, const char *id)
{
	bool missing;

	return lstore_get_id(j->l->h, LS_CASE, id, &missing);
}

/* The case a new case was split from lists it, for "case show". */
static int
link_child(struct job *j, json_t *parent, const char *parent_id)
{
	json_t *l = json_object_get(parent, "linked_cases");

	if (!json_is_array(l)) {
		l = json_array();
		json_object_set_new(parent, "linked_cases", l);
	}
	json_array_append_new(l, json_string(j->case_id));
	return lstore_put_id(j->l->h, LS_CASE, parent_id, parent);
}

/*
 * Mail that names case @c (@corr_case) by correlation: it joins it if
 * the join policy lets it (join.c), reopening it within the rule's
 * reopen days; otherwise, under a rule, it makes a new case linked to
 * it. The activity's "join" record says which and why. Takes @c.
 */
static int
named_case(struct job *j, json_t *rule, const char *queue,
    const char *corr_case, json_t *c)
{
	const char *st = json_string_value(json_object_get(c, "status"));
	json_int_t resolved = json_integer_value(json_object_get(c,
	    "resolved_at"));
	json_int_t days = json_integer_value(json_object_get(rule,
	    "reopen_days"));
	struct join jn;
	bool attach = true;
	int rc = 0;

	if (!join_allowed(j->l->h, j->m, j->d, j->customer, c, corr_case,
	    &jn)) {
		attach = false;
		j->l->h->log(j->l->h->ctx, DVP_LOG_NOTICE, "message %s "
		    "may not join case %s: %s", j->m->id,
		    json_string_value(json_object_get(c, "number")),
		    jn.reason);
		if (rule != NULL)
			rc = create_case(j, queue, corr_case);
	} else if (st != NULL && strcmp(st, "active") == 0) {
		/* the conversation goes on */
	} else if (rule == NULL) {
		/* attached; there is no rule to act on it */
	} else if (st != NULL && strcmp(st, "resolved") == 0 &&
	    days > 0 && j->now - resolved < days * 86400) {
		json_object_set_new(c, "status", json_string("active"));
		json_object_set_new(c, "resolved_at", json_null());
		json_object_set_new(c, "reopened_at",
		    json_integer(j->now));
		j->l->h->log(j->l->h->ctx, DVP_LOG_INFO, "case %s "
		    "reopened by message %s",
		    json_string_value(json_object_get(c, "number")),
		    j->m->id);
	} else {
		attach = false;
		rc = create_case(j, queue, corr_case);
	}
	json_object_set_new(j->act, "join", join_json(&jn, corr_case, c));
	if (attach) {
		j->kase = c;
		snprintf(j->case_id, sizeof(j->case_id), "%s", corr_case);
	} else {
		if (rc == 0 && j->new_case)
			rc = link_child(j, c, corr_case);
		json_decref(c);
	}
	return rc;
}

/*
 * Find or make the case: the one the activity already has (a delivery
 * made again), the one the correlated activity belongs to, or a new one
 * under the queue's rule.
 */
static int
route(struct job *j, json_t *old_act)
{
	const char *cid = json_string_value(json_object_get(old_act, "case"));
	const char *queue = NULL, *corr_case = NULL;
	json_t *rule, *corr = NULL, *c;
	bool missing;
	int rc = 0;

	rule = find_rule(j, &queue);
	if (rule != NULL && json_is_true(json_object_get(rule,
	    "create_contact")) && j->customer[0] != '\0' &&
	    ensure_contact(j) != 0) {
		json_decref(rule);
		return -1;
	}
	if (cid == NULL && j->d->correlated_id != NULL) {
		corr = lstore_get_id(j->l->h, LS_ACTIVITY,
		    j->d->correlated_id, &missing);
		corr_case = json_string_value(json_object_get(corr, "case"));
	}
	if (cid != NULL) {
		/* A delivery made again keeps the first one's verdict. */
		if (json_object_get(old_act, "join") != NULL)
			json_object_set(j->act, "join",
			    json_object_get(old_act, "join"));
		snprintf(j->case_id, sizeof(j->case_id), "%s", cid);
		if ((j->kase = load_case(j, cid)) == NULL)
			rc = -1;
	} else if (corr_case != NULL && (c = load_case(j, corr_case)) != NULL) {
		rc = named_case(j, rule, queue, corr_case, c);
	} else if (rule != NULL) {
		rc = create_case(j, queue, NULL);
	}
	json_decref(corr);
	if (rc == 0 && j->new_case && json_is_true(json_object_get(rule,
	    "auto_reply"))) {
		struct autoreply ar = { .sent = false };

		/* A forged From is not acknowledged: that is backscatter. */
		if (join_dmarc_failed(j->d))
			snprintf(ar.why, sizeof(ar.why), "not sent: the sender "
			    "fails DMARC (trusted dmarc=fail)");
		else
			autoreply_send(j->l, j->m, queue,
			    json_string_value(json_object_get(j->kase,
			    "number")), json_string_value(json_object_get(
			    j->kase, "title")), json_string_value(
			    json_object_get(j->kase, "tracking_token")),
			    j->now, &ar);
		json_object_set_new(j->kase, "auto_reply", json_string(ar.why));
	}
	json_decref(rule);
	return rc;
}

static json_t *
build_activity(struct job *j)
{
	const struct dvp_message *m = j->m;
	const struct dvp_decision *d = j->d;
	const char *folder = NULL, *rtype = NULL, *rid = NULL;
	json_t *a, *mbs = json_array(), *att = json_array();
	bool cut = false;

	for (size_t i = 0; i < d->nmailboxes; i++) {
		const struct dvp_mailbox *b = DVP_MAILBOX(d, i);

		json_array_append_new(mbs, json_string(b->address));
		if (folder == NULL)
			folder = b->folder;
		if (rtype == NULL && b->regarding_type != NULL) {
			rtype = b->regarding_type;
			rid = b->regarding_id;
		}
	}
	for (size_t i = 0; i < m->nattachments; i++) {
		const struct dvp_attachment *x = &m->attachments[i];

		json_array_append_new(att, json_pack("{s:o, s:s, s:I, s:s}",
		    "filename", jstr(x->filename), "content_type",
		    x->content_type ? x->content_type : "application/octet-stream",
		    "size", (json_int_t)x->size, "sha256",
		    x->sha256 ? x->sha256 : ""));
	}
	a = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:s, s:o, s:o, s:I, s:I, s:o, s:o}",
	    "id", m->id,
	    "direction", m->direction == DVP_OUTGOING ? "outgoing" : "incoming",
	    "subject", jtext(m->subject, 4096, NULL),
	    "from", m->nfrom > 0 ? jstr(m->from[0].address) :
	    jstr(m->envelope_from),
	    "to", addr_array(m->to, m->nto), "cc", addr_array(m->cc, m->ncc),
	    "message_id", jstr(m->message_id),
	    "in_reply_to", jstr(m->in_reply_to),
	    "mailboxes", mbs, "folder", jstr(folder),
	    "regarding", rtype != NULL ? json_pack("{s:s, s:s}", "type", rtype,
	    "id", rid) : json_null(),
	    "correlated_activity", jstr(d->correlated_id),
	    "correlation", correlation_name(d->correlation),
	    "text", jtext(m->text, TEXT_MAX, &cut),
	    "attachments", att,
	    "received", (json_int_t)m->received,
	    "date", (json_int_t)m->date,
	    "tracking_token", jstr(message_token(d)),
	    "queue_id", jstr(m->queue_id));
	if (a != NULL) {
		/* A different message that reused the Message-ID of an
		 * earlier one (its activity): both stay, each its own. */
		json_object_set_new(a, "collided_with",
		    jstr(DVP_HAS(struct dvp_decision, d, collided_with) ?
		    d->collided_with : NULL));
		json_object_set_new(a, "text_truncated", json_boolean(cut));
		json_object_set_new(a, "truncated", json_boolean(m->truncated));
		/* Dataverse's internetmessageheaders. */
		json_object_set_new(a, "headers",
		    jtext(m->headers, HEADERS_MAX, NULL));
	}
	return a;
}

static void
link_case(struct job *j)
{
	json_t *acts = json_object_get(j->kase, "activities");
	json_t *reg = json_object_get(j->act, "regarding");
	size_t i;
	json_t *v;

	json_array_foreach(acts, i, v)
		if (strcmp(json_string_value(v) ? json_string_value(v) : "",
		    j->m->id) == 0)
			break;
	if (i == json_array_size(acts))
		json_array_append_new(acts, json_string(j->m->id));
	json_object_set_new(j->kase, "modified", json_integer(j->now));
	join_add_participants(j->l->h, j->kase, j->act);
	json_object_set_new(j->act, "case", json_string(j->case_id));
	/* In Dataverse a case's email is regarding the case. */
	if (json_is_null(reg))
		json_object_set_new(j->act, "regarding", json_pack("{s:s, s:s}",
		    "type", "incident", "id", j->case_id));
}

static void
local_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	struct job j = { .l = state, .m = m, .d = d, .r = r,
	    .now = (int64_t)time(NULL) };
	json_t *old;
	bool missing;

	/* The plugin runs only in host calls: acknowledgements due for
	 * another try go now, a few at a time. */
	autoreply_retry(j.l, j.now, 2);

	if (m->nfrom > 0 && m->from[0].address != NULL) {
		snprintf(j.customer, sizeof(j.customer), "%s",
		    m->from[0].address);
		j.customer_name = m->from[0].name;
	} else if (m->envelope_from != NULL)
		snprintf(j.customer, sizeof(j.customer), "%s", m->envelope_from);
	lstore_address_key(j.customer, sizeof(j.customer));

	old = lstore_get_id(j.l->h, LS_ACTIVITY, m->id, &missing);
	if (old == NULL && !missing) {
		fail(&j, DVP_TRANSIENT, "cannot read %s%s", LS_ACTIVITY, m->id);
		return;
	}
	if ((j.act = build_activity(&j)) == NULL) {
		json_decref(old);
		fail(&j, DVP_TRANSIENT, "out of memory");
		return;
	}
	json_object_set_new(j.act, "case", json_null());
	json_object_set_new(j.act, "authentication", join_auth_json(d));
	json_object_set_new(j.act, "created", old != NULL ?
	    json_incref(json_object_get(old, "created")) :
	    json_integer(j.now));
	json_object_set_new(j.act, "modified", json_integer(j.now));
	if (route(&j, old) != 0) {
		fail(&j, DVP_TRANSIENT, "cannot route message %s to a case",
		    m->id);
		goto out;
	}
	if (j.kase != NULL) {
		link_case(&j);
		if (lstore_put_id(j.l->h, LS_CASE, j.case_id, j.kase) != 0) {
			fail(&j, DVP_TRANSIENT, "cannot store case %s",
			    j.case_id);
			goto out;
		}
		snprintf(r->case_id, sizeof(r->case_id), "%s", j.case_id);
	}
	if (lstore_put_id(j.l->h, LS_ACTIVITY, m->id, j.act) != 0) {
		fail(&j, DVP_TRANSIENT, "cannot store activity %s", m->id);
		goto out;
	}
	snprintf(r->activity_id, sizeof(r->activity_id), "%s", m->id);
	if (j.new_case)
		j.l->h->log(j.l->h->ctx, DVP_LOG_INFO, "case %s created for %s "
		    "from message %s",
		    json_string_value(json_object_get(j.kase, "number")),
		    j.customer, m->id);
	r->status = DVP_OK;
out:
	json_decref(old);
	json_decref(j.act);
	json_decref(j.kase);
}

/* --- life cycle ------------------------------------------------------------------ */

/* Its keys, through the host's typed getters: parsed as dvmilter's own. */
static int
local_config(struct local *l, char *err, size_t errsz)
{
	const struct dvp_host *h = l->h;
	uint64_t limit;
	int64_t window, timeout;

	if (h->config_url(h->ctx, "SubmissionURL", "smtp,smtps",
	    &l->submission_url, err, errsz) != DVP_KV_OK ||
	    h->config_uint(h->ctx, "AutoReplyLimit", 3, 1, 1000, &limit, err,
	    errsz) != DVP_KV_OK ||
	    h->config_duration(h->ctx, "AutoReplyWindow", 3600, 1, 86400 * 30,
	    &window, err, errsz) != DVP_KV_OK ||
	    h->config_duration(h->ctx, "SMTPTimeout", 30, 1, 600, &timeout,
	    err, errsz) != DVP_KV_OK)
		return -1;
	if (autoreply_config(l, err, errsz) != 0)
		return -1;
	l->reply_from = h->config(h->ctx, "AutoReplyFrom");
	l->reply_limit = (long)limit;
	l->reply_window = (long)window;
	l->smtp_timeout = (long)timeout;
	return 0;
}

static int
index_one(void *arg, const char *key, const void *val, size_t len)
{
	struct local *l = arg;

	(void)val;
	(void)len;
	return index_contact(l, key + strlen(LS_CONTACT)) == 0 ? 0 : -1;
}

/*
 * The known-senders index from the contacts, when the host has none for
 * this plugin: a store of a version before ABI 2, or one whose index the
 * host dropped. It commits with init, at once.
 */
static int
rebuild_index(struct local *l, char *err, size_t errsz)
{
	const struct dvp_host *h = l->h;
	int rc;

	if (h->mode != DVP_MODE_WORKER ||
	    (rc = h->known_complete(h->ctx)) == DVP_KV_OK)
		return 0;
	if (rc != DVP_KV_NOTFOUND ||
	    h->kv_foreach(h->ctx, LS_CONTACT, index_one, l) != 0 ||
	    h->known_set_complete(h->ctx) != DVP_KV_OK) {
		snprintf(err, errsz, "cannot rebuild the known-senders index "
		    "from the contacts");
		return -1;
	}
	h->log(h->ctx, DVP_LOG_NOTICE, "known-senders index rebuilt from "
	    "the contacts");
	return 0;
}

static int
local_init(const struct dvp_host *h, void **state_r, char *err, size_t errsz)
{
	struct local *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		snprintf(err, errsz, "out of memory");
		return DVP_PERMANENT;
	}
	l->h = h;
	if (local_config(l, err, errsz) != 0 ||
	    rebuild_index(l, err, errsz) != 0) {
		free(l);
		return DVP_PERMANENT;
	}
	if (l->submission_url != NULL &&
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errsz, "libcurl did not initialise");
		free(l);
		return DVP_PERMANENT;
	}
	*state_r = l;
	return DVP_OK;
}

static int
local_health(void *state, char *msg, size_t msgsz)
{
	autoreply_retry(state, (int64_t)time(NULL), 8);
	snprintf(msg, msgsz, "ok");
	return DVP_OK;
}

static void
local_shutdown(void *state)
{
	struct local *l = state;

	if (l != NULL && l->submission_url != NULL)
		curl_global_cleanup();
	free(l);
}

static const struct dvp_plugin descriptor = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "local",
	.version = PACKAGE_VERSION,
	.caps = DVP_CAP_ACTIVITY | DVP_CAP_CASE | DVP_CAP_NEEDS_BODY |
	    DVP_CAP_KNOWN_SENDERS,
	.config_keys = config_keys,
	.init = local_init,
	.health = local_health,
	.deliver = local_deliver,
	.shutdown = local_shutdown,
	.commands = local_commands,
};

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	(void)minor;
	return major == DVP_ABI_MAJOR ? &descriptor : NULL;
}

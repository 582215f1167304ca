/*
 * deliver.c - from an outbox entry to a plugin call and back.
 *
 * Turns a queued message into the plugin ABI's view (the parsed message
 * from core/msg and the stored decision) and records the result with
 * core/retry's policy. It decides nothing about tracking.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <malloc.h>

#include "authres.h"
#include "conf.h"
#include "corr.h"
#include "deliver.h"
#include "log.h"
#include "msg.h"
#include "smart.h"
#include "status.h"

/* A read transaction, on the worker's own reader slot if it has one. */
static int
read_txn(struct store *st, const struct deliver_opts *o,
    struct store_txn **t, const char **error_r)
{
	return o->reader != NULL ? store_reader_txn(o->reader, t, error_r) :
	    store_txn_begin(st, false, t, error_r);
}

static struct plugin *
find_plugin(struct plugin_set *ps, const char *name)
{
	for (size_t i = 0; i < plugin_set_count(ps); i++)
		if (strcmp(plugin_name(plugin_set_get(ps, i)), name) == 0)
			return plugin_set_get(ps, i);
	return NULL;
}

/* Where @name is in @names; one past its end if absent. */
static size_t
name_rank(const char *const *names, const char *name)
{
	size_t i;

	for (i = 0; names != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			break;
	return i;
}

/* One message's deliveries due at one time: a run in the due index. */
static bool
same_run(const struct outbox_delivery *a, const struct outbox_delivery *b)
{
	return a->id == b->id && a->next_at == b->next_at;
}

size_t
deliver_order(const char *const *names, struct outbox_delivery *d, size_t n,
    size_t max)
{
	size_t start = n;

	for (size_t i = 1; i < n; i++) {
		struct outbox_delivery x = d[i];
		size_t j = i, r = name_rank(names, x.plugin);

		while (j > 0 && same_run(&d[j - 1], &x) &&
		    name_rank(names, d[j - 1].plugin) > r) {
			d[j] = d[j - 1];
			j--;
		}
		d[j] = x;
	}
	if (n == max) {
		size_t nnames = 0;

		while (names != NULL && names[nnames] != NULL)
			nnames++;
		start = n - 1;
		while (start > 0 && same_run(&d[start - 1], &d[n - 1]))
			start--;
		/* Whole already (one per plugin), or all there is. */
		if (n - start >= nnames || start == 0)
			start = n;
	}
	return start;
}

/* A truncated message is tracked without its attachments. */
static void
drop_attachments(struct msg *m)
{
	for (size_t i = 0; i < m->natt; i++) {
		free(m->att[i].filename);
		free(m->att[i].content_type);
		free(m->att[i].data);
	}
	free(m->att);
	m->att = NULL;
	m->natt = 0;
	m->truncated = true;
}

/* A mailbox's record and its email server profile, for the view. */
struct view_record {
	struct mbox mb;
	struct profile prof;
	struct dvp_profile dp;
};

/* The ABI's arrays, pointing into the parsed message. */
struct view {
	struct dvp_message m;
	struct dvp_decision d;
	char corr_id[24], collided_id[24], token_id[24];
	char token[TOKEN_MAX], own_token[TOKEN_MAX];
	struct dvp_address *from, *to, *cc;
	struct dvp_attachment *att;
	struct dvp_mailbox *mbs;
	struct view_record *recs;	/* the mailboxes' records */
	json_t *dec;
	char *headers;
	char id[24];
};

static struct dvp_address *
addrs(const struct msg_addr *a, size_t n)
{
	struct dvp_address *v = calloc(n + 1, sizeof(*v));

	for (size_t i = 0; v != NULL && i < n; i++) {
		v[i].name = a[i].name;
		v[i].address = a[i].address;
	}
	return v;
}

_Static_assert((int)DVP_JOIN_ANY == (int)CONF_JOIN_ANY &&
    (int)DVP_JOIN_PARTICIPANT == (int)CONF_JOIN_PARTICIPANT &&
    (int)DVP_JOIN_AUTHENTICATED == (int)CONF_JOIN_AUTHENTICATED,
    "CaseJoinPolicy values are the ABI's");
_Static_assert((int)DVP_DMARC_PASS == (int)AUTHRES_DMARC_PASS &&
    (int)DVP_DMARC_FAIL == (int)AUTHRES_DMARC_FAIL,
    "DMARC values are the ABI's");

/* The sender-authenticity verdict the milter stored with the message:
 * an entry of an older version has none, which reads as "none". */
static void
view_auth(struct view *v)
{
	json_t *a = json_object_get(v->dec, "auth");
	const char *dmarc = json_string_value(json_object_get(a, "dmarc"));

	v->d.auth_dmarc = dmarc == NULL ? DVP_DMARC_NONE :
	    strcmp(dmarc, "pass") == 0 ? DVP_DMARC_PASS :
	    strcmp(dmarc, "fail") == 0 ? DVP_DMARC_FAIL : DVP_DMARC_NONE;
	v->d.auth_dkim_aligned = json_is_true(json_object_get(a,
	    "dkim_aligned"));
	v->d.auth_id = json_string_value(json_object_get(a, "authserv_id"));
}

static int
view_build(struct view *v, const struct outbox_msg *q, const struct msg *m)
{
	json_t *mbs;

	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "%016llx", (unsigned long long)q->id);
	v->from = addrs(m->from, m->nfrom);
	v->to = addrs(m->to, m->nto);
	v->cc = addrs(m->cc, m->ncc);
	v->att = calloc(m->natt + 1, sizeof(*v->att));
	if (v->from == NULL || v->to == NULL || v->cc == NULL || v->att == NULL)
		return ENOMEM;
	for (size_t i = 0; i < m->natt; i++) {
		v->att[i].filename = m->att[i].filename;
		v->att[i].content_type = m->att[i].content_type;
		v->att[i].size = m->att[i].size;
		v->att[i].sha256 = m->att[i].sha256;
		v->att[i].data = m->att[i].data;
	}
	v->m = (struct dvp_message) {
		.size = sizeof(struct dvp_message), .id = v->id,
		.direction = q->direction, .received = q->received,
		.queue_id = q->queue_id, .envelope_from = q->envelope_from,
		.envelope_rcpts = (const char *const *)q->rcpts,
		.nrcpts = q->nrcpts, .message_id = m->message_id,
		.in_reply_to = m->in_reply_to,
		.references = (const char *const *)m->references,
		.nreferences = m->nreferences, .subject = m->subject,
		.date = m->has_date ? m->date : 0,
		.from = v->from, .to = v->to, .cc = v->cc,
		.nfrom = m->nfrom, .nto = m->nto, .ncc = m->ncc,
		.auto_submitted = m->auto_submitted,
		.precedence = m->precedence, .list_id = m->list_id,
		.text = m->text, .attachments = v->att,
		.nattachments = m->natt, .truncated = q->truncated,
	};
	/* The raw header block, up to the empty line. */
	if (q->raw != NULL) {
		const char *r = (const char *)q->raw, *end;
		size_t n = q->raw_len;

		end = memmem(r, n, "\r\n\r\n", 4);
		if (end != NULL)
			n = (size_t)(end - r) + 2;
		else if ((end = memmem(r, n, "\n\n", 2)) != NULL)
			n = (size_t)(end - r) + 1;
		v->headers = strndup(r, n);
		v->m.headers = v->headers;
	}
	v->d.size = sizeof(struct dvp_decision);
	v->d.mailbox_size = sizeof(struct dvp_mailbox);
	v->d.correlation = DVP_CORR_NONE;
	v->dec = q->decision ? json_loads(q->decision, 0, NULL) : NULL;
	mbs = json_object_get(v->dec, "mailboxes");
	v->mbs = calloc(json_array_size(mbs) + 1, sizeof(*v->mbs));
	if (v->mbs == NULL)
		return ENOMEM;
	for (size_t i = 0; i < json_array_size(mbs); i++) {
		json_t *b = json_array_get(mbs, i);
		const char *addr = json_string_value(json_object_get(b,
		    "address"));
		const char *type = json_string_value(json_object_get(b, "type"));

		if (addr == NULL)
			continue;
		v->mbs[v->d.nmailboxes].address = addr;
		v->mbs[v->d.nmailboxes].folder = json_string_value(
		    json_object_get(b, "folder"));
		v->mbs[v->d.nmailboxes].regarding_type = json_string_value(
		    json_object_get(b, "regarding_type"));
		v->mbs[v->d.nmailboxes].regarding_id = json_string_value(
		    json_object_get(b, "regarding_id"));
		v->mbs[v->d.nmailboxes].type = type != NULL &&
		    strcmp(type, "queue") == 0 ? DVP_MAILBOX_QUEUE :
		    DVP_MAILBOX_USER;
		v->d.nmailboxes++;
	}
	v->d.mailboxes = v->mbs;
	return 0;
}

/* The outbox as correlation sees it from the worker: one snapshot. */
struct corr_view {
	struct outbox *ob;
	struct store_txn *t;
};

static int
txn_find(void *arg, const char *msgid, uint64_t *id_r)
{
	const struct corr_view *cv = arg;
	const char *err;

	return outbox_find(cv->ob, cv->t, msgid, id_r, &err);
}

static bool
txn_exists(void *arg, uint64_t id)
{
	const struct corr_view *cv = arg;

	return outbox_exists(cv->ob, cv->t, id);
}

/*
 * Correlate with an earlier outbox message (core/corr.h), then, with
 * smart_matching, by subject and participants. A forged token was
 * logged at end of message, with the MTA's queue id. Also the entry
 * whose Message-ID this one reused for other content (collided_with).
 */
static void
correlate(struct store *st, const struct deliver_opts *o,
    const struct outbox_msg *q, const struct msg *m, struct view *v)
{
	struct corr_msg cm = {
		.in_reply_to = m->in_reply_to,
		.references = (const char *const *)m->references,
		.nreferences = m->nreferences,
		.subject = m->subject,
		.self = q->id,
		.message_id = m->message_id,
	};
	struct corr_result r;
	struct corr_view cv = { o->outbox, NULL };
	struct corr_source src = { txn_find, txn_exists, &cv };
	struct store_txn *t;
	const char *err;
	uint64_t id = 0, root = q->id;
	int how = DVP_CORR_NONE;

	/* Not a correlation: the entry whose Message-ID this one reused. */
	if (q->collided_with != 0) {
		snprintf(v->collided_id, sizeof(v->collided_id), "%016llx",
		    (unsigned long long)q->collided_with);
		v->d.collided_with = v->collided_id;
	}
	if (read_txn(st, o, &t, &err) != 0) {
		log_warn("outbox %llu: no correlation: %s",
		    (unsigned long long)q->id, err);
		return;
	}
	cv.t = t;
	corr_find(&cm, &src, o->key, o->token_prefix, &r);
	/* The join policy asks for a valid token even when In-Reply-To
	 * matched first. */
	if (o->key != NULL && token_find(o->key, o->token_prefix, m->subject,
	    &id, NULL) == 0 && id != q->id && txn_exists(&cv, id)) {
		snprintf(v->token_id, sizeof(v->token_id), "%016llx",
		    (unsigned long long)id);
		v->d.token_id = v->token_id;
	}
	id = 0;
	if (r.how != CORR_NONE) {
		id = r.id;
		how = r.how == CORR_TOKEN ? DVP_CORR_TRACKING_TOKEN :
		    DVP_CORR_IN_REPLY_TO;
	} else if (o->smart_matching) {
		struct smart_key k;

		smart_key_of(m, o->token_prefix, &k);
		if (smart_find(t, &k, q->id, &id, &err) == 0)
			how = DVP_CORR_SMART_MATCH;
	}
	store_txn_abort(t);
	if (how != DVP_CORR_NONE) {
		snprintf(v->corr_id, sizeof(v->corr_id), "%016llx",
		    (unsigned long long)id);
		v->d.correlated_id = v->corr_id;
		v->d.correlation = how;
		root = id;
	}
	if (o->key != NULL &&
	    token_make(o->key, o->token_prefix, root, v->token,
	    sizeof(v->token)) == 0)
		v->d.tracking_token = v->token;
	/* Without a correlation both are the message's own: one HMAC. */
	if (o->key != NULL && root == q->id && v->d.tracking_token != NULL) {
		snprintf(v->own_token, sizeof(v->own_token), "%s", v->token);
		v->d.message_token = v->own_token;
	} else if (o->key != NULL &&
	    token_make(o->key, o->token_prefix, q->id, v->own_token,
	    sizeof(v->own_token)) == 0)
		v->d.message_token = v->own_token;
}

/*
 * The owner and email server profile of each mailbox, as the store has
 * them now (dvp_mailbox.profile). Without them a plugin that needs one
 * fails the delivery itself.
 */
static void
view_records(struct store *st, const struct deliver_opts *o, struct view *v)
{
	struct store_txn *t;
	const char *err;

	if (v->d.nmailboxes == 0 ||
	    (v->recs = calloc(v->d.nmailboxes, sizeof(*v->recs))) == NULL)
		return;
	if (read_txn(st, o, &t, &err) != 0) {
		log_warn("outbox %s: no mailbox records: %s", v->id, err);
		return;
	}
	for (size_t i = 0; i < v->d.nmailboxes; i++) {
		struct view_record *r = &v->recs[i];

		if (store_mailbox_get(t, v->mbs[i].address, &r->mb, &err) != 0)
			continue;
		v->mbs[i].owner = r->mb.owner[0] ? r->mb.owner : NULL;
		if (r->mb.profile[0] == '\0' ||
		    store_profile_get(t, r->mb.profile, &r->prof, &err) != 0)
			continue;
		plugin_profile_view(&r->prof, &r->dp);
		v->mbs[i].profile = &r->dp;
	}
	store_txn_abort(t);
}

static void
view_free(struct view *v)
{
	free(v->recs);
	free(v->from);
	free(v->to);
	free(v->cc);
	free(v->att);
	free(v->mbs);
	free(v->headers);
	json_decref(v->dec);
}

/* One delivery of a batch. */
struct attempt {
	struct outbox_delivery d;
	uint64_t gen;			/* d.gen when it was taken */
	bool called;			/* the plugin was called */
	bool held;			/* not attempted: see hold() */
	struct dvp_result r;
	bool indexed;			/* parsed: key is for the smart index */
	struct smart_key key;
};

/*
 * Read, parse and hand one message to its plugin @p (NULL: no longer
 * configured), with no transaction open. Returns the size of the
 * message.
 */
static size_t
attempt_one(struct store *st, struct plugin *p,
    const struct deliver_opts *o, struct attempt *a)
{
	struct dvp_result *r = &a->r;
	struct outbox_msg *q = NULL;
	struct store_txn *t;
	struct msg *m = NULL;
	struct view v;
	const char *err;
	size_t size;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = read_txn(st, o, &t, &err)) == 0) {
		rc = outbox_get(o->outbox, t, a->d.id, OUTBOX_TEXT, &q, &err);
		store_txn_abort(t);
	}
	if (rc != 0) {
		/* Dead-letter a corrupt entry, or it blocks the queue. */
		r->status = rc == DV_ECORRUPT || rc == DV_ENOTFOUND ?
		    DVP_PERMANENT : DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "%s", err);
		if (r->status == DVP_PERMANENT)
			log_error("outbox %llu: %s; giving up on it",
			    (unsigned long long)a->d.id, r->error);
		return 0;
	}
	size = q->raw_len;
	if (p == NULL) {
		r->status = DVP_PERMANENT;
		snprintf(r->error, sizeof(r->error), "plugin %s is not "
		    "configured any more", a->d.plugin);
	} else if (q->pruned != 0) {
		/* outbox_prune() takes only finished entries; be safe. */
		r->status = DVP_PERMANENT;
		snprintf(r->error, sizeof(r->error), "the message text was "
		    "removed after OutboxRetention");
	} else if (msg_parse(q->raw, q->raw_len, NULL, &m, &err) != 0) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "%s", err);
	} else {
		if (q->truncated)
			drop_attachments(m);
		if (o->smart_matching) {
			smart_key_of(m, o->token_prefix, &a->key);
			a->indexed = true;
		}
		if (view_build(&v, q, m) != 0) {
			r->status = DVP_TRANSIENT;
			snprintf(r->error, sizeof(r->error), "out of memory");
		} else {
			for (size_t i = 0; i < m->nproblems; i++)
				log_info("outbox %llu: %s",
				    (unsigned long long)q->id,
				    m->problems[i]);
			correlate(st, o, q, m, &v);
			view_auth(&v);
			v.d.join_policy = o->join_policy;
			view_records(st, o, &v);
			/* Only this delivery's writes go if it fails. */
			if (o->kv != NULL)
				pluginkv_savepoint(o->kv);
			plugin_deliver(p, &v.m, &v.d, r);
			a->called = true;
			if (o->kv != NULL && r->status != DVP_OK)
				pluginkv_rollback(o->kv);
		}
		view_free(&v);
	}
	/* A batch holds one message at a time, however large. */
	msg_free(m);
	outbox_msg_free(q);
	return size;
}

/*
 * A plugin's circuit breaker (retry.h). The plugin host keeps its state
 * (plugin_hold()); the policy decides how long it holds.
 */
static struct retry_breaker
breaker_of(const struct plugin *p)
{
	struct retry_breaker b;

	b.until = plugin_held_until(p, &b.held_for, NULL);
	return b;
}

static bool
held(const struct plugin *p, int64_t now)
{
	struct retry_breaker b = breaker_of(p);

	return retry_breaker_held(&b, now);
}

/*
 * A delivery to @p failed for now. If the plugin's health check fails
 * too, its back end is down: its breaker holds its deliveries back
 * instead of spending their attempts (PluginHoldFirst, doubling while it
 * stays down, at most PluginHoldMax).
 */
static void
check_health(struct plugin *p, const struct retry_policy *pol, int64_t now,
    int64_t t0)
{
	struct retry_breaker b = breaker_of(p);
	char msg[200];
	unsigned secs;

	if (retry_breaker_held(&b, now) ||
	    plugin_health(p, msg, sizeof(msg)) == DVP_OK)
		return;
	if (msg[0] == '\0')
		snprintf(msg, sizeof(msg), "health check failed");
	/* From now, not from the batch's start: failures can be slow. */
	secs = retry_breaker_trip(&b, pol, now + ((int64_t)time(NULL) - t0));
	plugin_hold(p, b.until, b.held_for, msg);
	log_warn("plugin %s is down (%s): holding its deliveries back for "
	    "%u s", plugin_name(p), msg, secs);
}

/*
 * A delivery to @p failed for now. The back end asked for a pause of all
 * the plugin's deliveries (HTTP 429 with Retry-After): its breaker holds
 * them for that long (retry_hold_for()), and this one at least as long;
 * otherwise ask its health.
 */
static void
failed_for_now(struct plugin *p, const struct retry_policy *pol,
    struct dvp_result *r, int64_t now, int64_t t0)
{
	struct retry_breaker b = breaker_of(p);
	unsigned secs = (unsigned)r->pause_all;

	if (secs == 0) {
		check_health(p, pol, now, t0);
		return;
	}
	if (r->retry_after < r->pause_all)
		r->retry_after = r->pause_all;
	retry_hold_for(&b, now + ((int64_t)time(NULL) - t0), secs);
	plugin_hold(p, b.until, b.held_for, r->error);
	log_warn("plugin %s asks for a pause (%s): holding its deliveries "
	    "back for %u s", plugin_name(p), r->error, secs);
}

/* A delivery to @p succeeded: its breaker closes. */
static void
release(struct plugin *p)
{
	struct retry_breaker b = breaker_of(p);

	if (!retry_breaker_close(&b))
		return;
	plugin_hold(p, b.until, b.held_for, NULL);
	log_notice("plugin %s delivers again", plugin_name(p));
}

/* Deliveries to a held plugin are recorded as not attempted. */
static void
hold(struct attempt *a, struct plugin *p, int64_t now)
{
	const char *why;

	a->held = true;
	a->r.status = DVP_TRANSIENT;
	a->r.retry_after = plugin_held_until(p, NULL, &why) - now;
	snprintf(a->r.error, sizeof(a->r.error), "not attempted: plugin %s "
	    "is held back: %s", plugin_name(p), why);
}

static void
log_outcome(const struct attempt *a, const struct outbox_delivery *d,
    int64_t now)
{
	if (a->held)
		log_debug("outbox %llu: %s held back, due again in %lld s",
		    (unsigned long long)d->id, d->plugin,
		    (long long)(d->next_at - now));
	else if (d->gen != a->gen)
		log_info("outbox %llu: a copy was merged while %s had it; "
		    "delivering again", (unsigned long long)d->id, d->plugin);
	else if (d->state == OUTBOX_DONE)
		log_info("outbox %llu: delivered to %s: activity=%s case=%s",
		    (unsigned long long)d->id, d->plugin,
		    d->activity_id[0] ? d->activity_id : "-",
		    d->case_id[0] ? d->case_id : "-");
	else if (d->state == OUTBOX_PENDING)
		log_warn("outbox %llu: %s failed (attempt %u), retrying in %lld "
		    "s: %s", (unsigned long long)d->id, d->plugin, d->attempts,
		    (long long)(d->next_at - now), a->r.error);
	else
		log_error("outbox %llu: %s gave up: %s",
		    (unsigned long long)d->id, d->plugin, d->last_error);
}

/* Record every outcome of a batch, and the plugins' writes, at once. */
static int
record_batch(struct store *st, const struct deliver_opts *o,
    struct attempt *a, size_t n, int64_t now, const char **error_r)
{
	struct outbox_delivery after[DELIVER_BATCH];
	struct store_txn *t;
	int rc;

	if ((rc = store_txn_begin(st, true, &t, error_r)) != 0) {
		if (o->kv != NULL)
			pluginkv_discard(o->kv);
		return rc;
	}
	rc = o->kv != NULL ? pluginkv_apply(o->kv, t, error_r) : 0;
	if (rc == DV_EINUSE) {
		/* Made again, soon, on the records as they are now. */
		for (size_t i = 0; i < n; i++)
			if (a[i].r.status == DVP_OK) {
				memset(&a[i].r, 0, sizeof(a[i].r));
				a[i].r.status = DVP_TRANSIENT;
				a[i].r.retry_after = 1;
				snprintf(a[i].r.error, sizeof(a[i].r.error),
				    "%s", *error_r);
			}
		rc = 0;
	}
	/* Later messages may match these by subject and participants. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (a[i].indexed)
			rc = smart_index(t, a[i].d.id, &a[i].key, error_r);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct outbox_attempt at = {
			.id = a[i].d.id, .plugin = a[i].d.plugin,
			.gen = a[i].gen, .result = a[i].held ? OUTBOX_HELD :
			    (enum outbox_result)a[i].r.status,
			.error = a[i].r.error,
			.activity_id = a[i].r.activity_id,
			.case_id = a[i].r.case_id,
			.retry_after = a[i].r.retry_after, .now = now,
			.policy = &o->policy, .jitter = retry_jitter(),
		};

		rc = outbox_record(o->outbox, t, &at, &after[i], error_r);
	}
	if (rc == 0)
		rc = store_txn_commit(t, error_r);
	else
		store_txn_abort(t);
	for (size_t i = 0; rc == 0 && i < n; i++)
		log_outcome(&a[i], &after[i], now);
	return rc;
}

int
deliver_next(struct store *st, struct plugin_set *ps,
    const struct deliver_opts *o, int64_t now, int *did_r,
    int64_t *next_r, const char **error_r)
{
	struct outbox_delivery due[DELIVER_BATCH];
	struct attempt a[DELIVER_BATCH];
	struct store_txn *t;
	size_t n = 0, bytes = 0;
	int64_t t0 = (int64_t)time(NULL);
	int rc;

	*did_r = 0;
	*next_r = 0;
	/*
	 * A read transaction, so as not to queue behind the milter's
	 * commits; a write one only to clear a broken index entry.
	 */
	for (int write = 0; write < 2; write++) {
		if ((rc = write ? store_txn_begin(st, true, &t, error_r) :
		    read_txn(st, o, &t, error_r)) != 0)
			return rc;
		rc = outbox_due(o->outbox, t, now, DELIVER_BATCH, due, &n,
		    next_r, error_r);
		if (rc == DV_ECORRUPT && !write) {
			store_txn_abort(t);
			continue;
		}
		if (rc != 0 && rc != DV_ENOTFOUND) {
			store_txn_abort(t);
			return rc;
		}
		if (write) {
			int crc = store_txn_commit(t, error_r);

			if (crc != 0)
				return crc;
		} else
			store_txn_abort(t);
		break;
	}
	if (rc == DV_ENOTFOUND)
		return 0;
	{
		const char *names[DELIVER_MAX_PLUGINS + 1];
		size_t np = plugin_set_count(ps);

		if (np > DELIVER_MAX_PLUGINS)
			np = DELIVER_MAX_PLUGINS;
		for (size_t i = 0; i < np; i++)
			names[i] = plugin_name(plugin_set_get(ps, i));
		names[np] = NULL;
		n = deliver_order(names, due, n, DELIVER_BATCH);
	}
	if (o->kv != NULL)
		pluginkv_discard(o->kv);
	for (size_t i = 0; i < n; i++) {
		struct plugin *p = find_plugin(ps, due[i].plugin);

		memset(&a[i], 0, sizeof(a[i]));
		a[i].d = due[i];
		a[i].gen = due[i].gen;
		if (p != NULL && held(p, now)) {
			hold(&a[i], p, now);
			continue;
		}
		bytes += attempt_one(st, p, o, &a[i]);
		if (a[i].called && a[i].r.status == DVP_TRANSIENT)
			failed_for_now(p, &o->policy, &a[i].r, now, t0);
		else if (a[i].called && a[i].r.status == DVP_OK)
			release(p);
	}
	*did_r = (int)n;
	rc = record_batch(st, o, a, n, now, error_r);
	/* After large messages give the memory back: the worker would
	 * otherwise keep the peak of its largest batch for good. */
	if (bytes > DELIVER_TRIM_BYTES)
		malloc_trim(0);
	return rc;
}

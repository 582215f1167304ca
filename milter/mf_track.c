/*
 * mf_track.c - collecting a tracked message and committing it to the
 * outbox at end of message.
 *
 * A message is tracked when an approved mailbox whose incoming method is
 * server-side sync is one of its recipients, or, for outgoing mail, when
 * the sender's mailbox is approved with outgoing server-side sync. Only
 * then does the milter keep the content (struct spool: memory, then an
 * unnamed file, up to MaxMessageSize), and at end of message it commits
 * it to the outbox through the group-commit writer before it answers.
 * If that commit fails the message is tempfailed, so nothing is lost.
 * Plugins run later, in the worker, never here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "addr.h"
#include "log.h"
#include "mf_int.h"
#include "msg.h"
#include "pluginkv.h"

static char macro_qid[] = "i";

/* An envelope address as stored: without the angle brackets. */
static char *
bare(const char *raw)
{
	size_t n = strlen(raw);

	if (n >= 2 && raw[0] == '<' && raw[n - 1] == '>')
		return strndup(raw + 1, n - 2);
	return strdup(raw);
}

void
mf_track_reset(struct mf_conn *cc)
{
	free(cc->env_from);
	cc->env_from = NULL;
	for (size_t i = 0; i < cc->nrcpts; i++)
		free(cc->rcpts[i]);
	free(cc->rcpts);
	cc->rcpts = NULL;
	cc->nrcpts = 0;
	free(cc->tracked);
	cc->tracked = NULL;
	cc->ntracked = 0;
	free(cc->message_id);
	cc->message_id = NULL;
	free(cc->in_reply_to);
	free(cc->references);
	free(cc->subject);
	cc->in_reply_to = cc->references = cc->subject = NULL;
	if (cc->collecting)
		spool_reset(&cc->spool);
	cc->collecting = false;
	cc->spool_err = 0;
}

static bool
synced_and_approved(const struct decision *d, enum mbox_dir dir)
{
	return d->found && d->pol.enabled && mbox_is_approved(&d->pol) &&
	    d->pol.method[dir] == MBOX_METHOD_SSS;
}

static void
add_tracked(struct mf_conn *cc, const struct decision *d, bool sender)
{
	struct mf_tracked *n;

	for (size_t i = 0; i < cc->ntracked; i++)
		if (strcmp(cc->tracked[i].addr, d->addr) == 0)
			return;		/* support+a@ and support+b@ */
	if ((n = realloc(cc->tracked, (cc->ntracked + 1) * sizeof(*n))) == NULL)
		return;
	cc->tracked = n;
	snprintf(n[cc->ntracked].addr, sizeof(n[0].addr), "%s", d->addr);
	n[cc->ntracked].type = d->pol.type;
	n[cc->ntracked].filter = (uint8_t)mbox_filter_effective(&d->pol);
	n[cc->ntracked].sender = sender;
	cc->ntracked++;
}

void
mf_track_sender(struct mf_conn *cc, const char *raw, const struct decision *d)
{
	free(cc->env_from);
	cc->env_from = bare(raw);
	if (dvd.qw != NULL && cc->outbound &&
	    synced_and_approved(d, MBOX_DIR_OUTGOING))
		add_tracked(cc, d, true);
}

void
mf_track_rcpt(struct mf_conn *cc, const char *raw, const struct decision *d)
{
	char **n;

	if (dvd.qw == NULL || d->verdict != VERDICT_CONTINUE)
		return;
	if ((n = realloc(cc->rcpts, (cc->nrcpts + 1) * sizeof(*n))) != NULL) {
		cc->rcpts = n;
		if ((n[cc->nrcpts] = bare(raw)) != NULL)
			cc->nrcpts++;
	}
	if (synced_and_approved(d, MBOX_DIR_INCOMING))
		add_tracked(cc, d, false);
}

bool
mf_track_begin(struct mf_conn *cc)
{
	if (dvd.qw == NULL || cc->ntracked == 0)
		return false;
	spool_init(&cc->spool, cc->conf->message_memory_limit,
	    cc->conf->max_message_size, cc->conf->spool_dir);
	cc->collecting = true;
	return true;
}

static void
collect(struct mf_conn *cc, const void *p, size_t n)
{
	int rc;

	if (!cc->collecting || cc->spool_err != 0)
		return;
	if ((rc = spool_add(&cc->spool, p, n)) != 0)
		cc->spool_err = rc;
}

sfsistat
mf_track_header(SMFICTX *ctx, char *name, char *value)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc == NULL || !cc->collecting)
		return SMFIS_NOREPLY;
	if (cc->message_id == NULL && strcasecmp(name, "Message-ID") == 0) {
		const char *v = value + strspn(value, " \t<");
		size_t n = strcspn(v, "> \t\r\n");

		if (n > 0)
			cc->message_id = strndup(v, n);
	}
	/* What the tracking filter needs, capped: a header can be huge. */
	if (strlen(value) < 8192) {
		char **keep = strcasecmp(name, "In-Reply-To") == 0 ?
		    &cc->in_reply_to : strcasecmp(name, "References") == 0 ?
		    &cc->references : strcasecmp(name, "Subject") == 0 ?
		    &cc->subject : NULL;

		if (keep != NULL && *keep == NULL)
			*keep = strdup(value);
	}
	collect(cc, name, strlen(name));
	collect(cc, ": ", 2);
	collect(cc, value, strlen(value));
	collect(cc, "\r\n", 2);
	return SMFIS_NOREPLY;
}

sfsistat
mf_track_eoh(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		collect(cc, "\r\n", 2);
	return SMFIS_NOREPLY;
}

sfsistat
mf_track_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		collect(cc, chunk, len);
	return SMFIS_NOREPLY;
}

static int
fill_from_spool(void *arg, void *dst)
{
	return spool_copy(arg, dst);
}

/* The decision record stored with the message (JSON). */
static char *
decision_json(const struct mf_conn *cc, bool outgoing)
{
	json_t *mbs = json_array(), *doc;
	char *s;

	for (size_t i = 0; mbs != NULL && i < cc->ntracked; i++)
		json_array_append_new(mbs, json_pack("{s:s, s:s, s:s}",
		    "address", cc->tracked[i].addr,
		    "type", mbox_type_name(cc->tracked[i].type),
		    "role", cc->tracked[i].sender ? "sender" : "recipient"));
	doc = json_pack("{s:s, s:o}", "direction",
	    outgoing ? "outgoing" : "incoming", "mailboxes", mbs);
	if (doc == NULL)
		return NULL;
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* Does any <msg-id> in @ids name a message already in the outbox? */
static bool
answers_tracked(struct store_txn *t, const char *ids)
{
	const char *p = ids, *e;
	const char *err;
	uint64_t id;

	while (p != NULL && (p = strchr(p, '<')) != NULL &&
	    (e = strchr(p, '>')) != NULL) {
		char *one = strndup(p + 1, (size_t)(e - p - 1));
		bool hit = one != NULL &&
		    queue_find_message_id(t, one, &id, &err) == 0;

		free(one);
		if (hit)
			return true;
		p = e + 1;
	}
	return false;
}

/* A response to tracked mail: by its references or a valid token. */
static bool
is_response(const struct mf_conn *cc)
{
	struct store_txn *t;
	const char *err;
	bool yes = false;
	uint64_t id;

	if (store_txn_begin(dvd.store, false, &t, &err) != 0)
		return false;
	yes = answers_tracked(t, cc->in_reply_to) ||
	    answers_tracked(t, cc->references);
	if (!yes && cc->subject != NULL) {
		char *subj = msg_header_decode(cc->subject);
		struct queue_msg *x;

		if (subj != NULL && token_find(&dvd.token_key,
		    cc->conf->token_prefix, subj, &id) == 0 &&
		    queue_get(t, id, &x, &err) == 0) {
			queue_msg_free(x);
			yes = true;
		}
		free(subj);
	}
	store_txn_abort(t);
	return yes;
}

/* The sender is a colleague (a mailbox) or a contact a plugin knows. */
static bool
known_sender(struct mf_conn *cc)
{
	char addr[DV_ADDR_MAX + 1], key[DV_ADDR_MAX + 16];
	struct mbox_policy pol;
	const char *err;
	bool exists = false;

	if (cc->env_from == NULL || addr_normalize(cc->env_from,
	    cc->conf->subaddress_seps, addr, sizeof(addr), &err) != 0)
		return false;
	if (store_lookup_policy(cc->reader, addr, &pol, &err) == 0)
		return true;
	snprintf(key, sizeof(key), "contact/%s", addr);
	for (size_t i = 0; cc->conf->plugins && cc->conf->plugins[i]; i++)
		if (pluginkv_committed(dvd.store, cc->conf->plugins[i], key,
		    &exists) == 0 && exists)
			return true;
	return false;
}

/*
 * Apply each recipient mailbox's filter (Dataverse's filtering method);
 * drop those that do not take this message and log every decision.
 */
static void
apply_filters(struct mf_conn *cc, const char *qid)
{
	int response = -1, known = -1;	/* computed on first need */
	size_t kept = 0;

	for (size_t i = 0; i < cc->ntracked; i++) {
		struct mf_tracked *m = &cc->tracked[i];
		const char *why = "filter all";
		bool keep = true;

		if (!m->sender) {
			switch (m->filter) {
			case MBOX_FILTER_NONE:
				keep = false;
				why = "filter none";
				break;
			case MBOX_FILTER_RESPONSES:
				if (response < 0)
					response = is_response(cc);
				keep = response;
				why = keep ? "a response to tracked mail" :
				    "not a response to tracked mail";
				break;
			case MBOX_FILTER_KNOWN:
				if (known < 0)
					known = known_sender(cc);
				keep = known;
				why = keep ? "known sender" : "unknown sender";
				break;
			}
		} else
			why = "outgoing";
		log_info("%s: track mailbox=%s filter=%s tracked=%s reason=%s",
		    qid, m->addr, mbox_filter_name(m->sender ?
		    MBOX_FILTER_ALL : m->filter), keep ? "yes" : "no", why);
		if (keep)
			cc->tracked[kept++] = *m;
	}
	cc->ntracked = kept;
}

sfsistat
mf_track_eom(SMFICTX *ctx, struct mf_conn *cc)
{
	static char code[] = "451", xcode[] = "4.3.0";
	static char text[] = "message could not be stored for tracking, "
	    "try again later";
	const char *qid = smfi_getsymval(ctx, macro_qid), *mta_qid;
	struct queue_item it = { 0 };
	bool outgoing = false;
	char err[256] = "", *dec;
	uint64_t id;
	int rc;

	mta_qid = qid != NULL && *qid != '\0' ? qid : NULL;
	if (mta_qid == NULL)
		qid = "NOQUEUE";
	apply_filters(cc, qid);
	if (cc->ntracked == 0)
		return SMFIS_CONTINUE;		/* no mailbox takes it */
	for (size_t i = 0; i < cc->ntracked; i++)
		if (cc->tracked[i].sender)
			outgoing = true;
	if (cc->spool_err != 0) {
		snprintf(err, sizeof(err), "spooling the content: %s",
		    strerror(cc->spool_err));
		rc = cc->spool_err;
		goto fail;
	}
	if ((dec = decision_json(cc, outgoing)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		rc = 1;
		goto fail;
	}
	it.direction = outgoing ? 1 : 0;
	it.received = (int64_t)time(NULL);
	it.queue_id = mta_qid;
	it.envelope_from = cc->env_from;
	it.rcpts = (const char *const *)cc->rcpts;
	it.nrcpts = cc->nrcpts;
	it.message_id = cc->message_id;
	it.decision = dec;
	it.raw_len = cc->spool.len;
	it.raw_fill = fill_from_spool;
	it.raw_arg = &cc->spool;
	it.truncated = spool_truncated(&cc->spool);
	rc = qwriter_submit(dvd.qw, &it, &id, err, sizeof(err));
	free(dec);
	if (rc != 0)
		goto fail;
	mf_worker_kick();
	log_info("%s: tracked as outbox entry %llu: direction=%s mailboxes=%zu "
	    "size=%zu%s", qid, (unsigned long long)id,
	    outgoing ? "outgoing" : "incoming", cc->ntracked, cc->spool.len,
	    it.truncated ? " truncated" : "");
	return SMFIS_CONTINUE;
fail:
	log_error("%s: tempfailing: the message could not be stored for "
	    "tracking: %s", qid, err);
	smfi_setreply(ctx, code, xcode, text);
	return SMFIS_TEMPFAIL;
}

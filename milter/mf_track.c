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
#include "mdigest.h"
#include "mf_int.h"
#include "msg.h"

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
	for (size_t i = 0; i < cc->ntracked; i++)
		track_party_clear(&cc->tracked[i]);
	free(cc->tracked);
	cc->tracked = NULL;
	cc->ntracked = 0;
	free(cc->message_id);
	cc->message_id = NULL;
	free(cc->in_reply_to);
	free(cc->references);
	free(cc->subject);
	cc->subjects = 0;
	free(cc->from);
	cc->in_reply_to = cc->references = cc->subject = cc->from = NULL;
	for (size_t i = 0; i < cc->nauthres; i++)
		free(cc->authres[i]);
	cc->nauthres = 0;
	dbuf_free(&cc->headers);
	if (cc->collecting)
		spool_reset(&cc->spool);
	if (cc->expected)
		outbox_expect(dvd.ob, -1);
	cc->expected = false;
	mdigest_free(cc->digest);
	cc->digest = NULL;
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
add_tracked(struct mf_conn *cc, const char *raw, const struct decision *d,
    bool sender)
{
	struct track_party *n;
	char sub[DV_ADDR_MAX + 1] = "";

	for (size_t i = 0; i < cc->ntracked; i++)
		if (strcmp(cc->tracked[i].addr, d->addr) == 0)
			return;		/* support+a@ and support+b@ */
	if ((n = realloc(cc->tracked, (cc->ntracked + 1) * sizeof(*n))) == NULL)
		return;
	cc->tracked = n;
	if (!sender)
		(void)addr_subaddress(raw, cc->conf->subaddress_seps, sub,
		    sizeof(sub));
	memset(&n[cc->ntracked], 0, sizeof(n[0]));
	snprintf(n[cc->ntracked].addr, sizeof(n[0].addr), "%s", d->addr);
	snprintf(n[cc->ntracked].sub, sizeof(n[0].sub), "%s", sub);
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
	if (dvd.ob != NULL && cc->outbound &&
	    synced_and_approved(d, MBOX_DIR_OUTGOING))
		add_tracked(cc, raw, d, true);
}

void
mf_track_rcpt(struct mf_conn *cc, const char *raw, const struct decision *d)
{
	char **n;

	if (dvd.ob == NULL || d->verdict != VERDICT_CONTINUE)
		return;
	if ((n = realloc(cc->rcpts, (cc->nrcpts + 1) * sizeof(*n))) != NULL) {
		cc->rcpts = n;
		if ((n[cc->nrcpts] = bare(raw)) != NULL)
			cc->nrcpts++;
	}
	if (synced_and_approved(d, MBOX_DIR_INCOMING))
		add_tracked(cc, raw, d, false);
}

bool
mf_track_begin(struct mf_conn *cc)
{
	if (dvd.ob == NULL || cc->ntracked == 0)
		return false;
	spool_init(&cc->spool, cc->conf->message_memory_limit,
	    cc->conf->max_message_size, cc->conf->spool_dir);
	/* For header conditions of folder rules. */
	dbuf_init(&cc->headers, 64 * 1024);
	/* Without it the message cannot be stored: end of message
	 * tempfails it (a copy could not be told from another message). */
	(void)mdigest_new(&cc->digest);
	cc->collecting = true;
	cc->expected = true;
	outbox_expect(dvd.ob, +1);
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

/*
 * Keep one header for the folder rules, unfolded, as "Name: value\n".
 * Past the cap later headers are not seen by rules; nothing else fails.
 */
static void
keep_header(struct dbuf *b, const char *name, const char *value)
{
	size_t start = b->len;
	int rc;

	rc = dbuf_addf(b, "%s: %s\n", name, value);
	if (rc != 0) {
		b->len = start;
		if (b->p != NULL)
			b->p[start] = '\0';
		return;
	}
	for (size_t i = start; i + 1 < b->len; i++)
		if (b->p[i] == '\r' || b->p[i] == '\n')
			b->p[i] = ' ';
}

void
mf_track_header(struct mf_conn *cc, const char *name, const char *value)
{
	if (!cc->collecting)
		return;
	if (cc->message_id == NULL && strcasecmp(name, "Message-ID") == 0) {
		const char *v = value + strspn(value, " \t<");
		size_t n = strcspn(v, "> \t\r\n");

		if (n > 0)
			cc->message_id = strndup(v, n);
	}
	/* Only the first Subject counts: the token goes into that one. */
	if (strcasecmp(name, "Subject") == 0)
		cc->subjects++;
	/* What the tracking filter needs, capped: a header can be huge. */
	if (strlen(value) < 8192) {
		char **keep = strcasecmp(name, "In-Reply-To") == 0 ?
		    &cc->in_reply_to : strcasecmp(name, "References") == 0 ?
		    &cc->references : strcasecmp(name, "Subject") == 0 ?
		    &cc->subject : strcasecmp(name, "From") == 0 ?
		    &cc->from : NULL;

		/* A later Subject must not stand in for a first one that was
		 * too long to keep. */
		if (keep == &cc->subject && cc->subjects > 1)
			keep = NULL;
		if (keep != NULL && *keep == NULL)
			*keep = strdup(value);
		/* Every one, top to bottom: core decides which to believe. */
		if (strcasecmp(name, "Authentication-Results") == 0 &&
		    cc->nauthres < AUTHRES_MAX_HEADERS &&
		    (cc->authres[cc->nauthres] = strdup(value)) != NULL)
			cc->nauthres++;
		keep_header(&cc->headers, name, value);
	}
	mdigest_header(cc->digest, name, value);
	collect(cc, name, strlen(name));
	collect(cc, ": ", 2);
	collect(cc, value, strlen(value));
	collect(cc, "\r\n", 2);
}

void
mf_track_eoh(struct mf_conn *cc)
{
	if (cc->collecting)
		mdigest_eoh(cc->digest);
	collect(cc, "\r\n", 2);
}

void
mf_track_body(struct mf_conn *cc, const unsigned char *chunk, size_t len)
{
	if (cc->collecting)
		mdigest_body(cc->digest, chunk, len);
	collect(cc, chunk, len);
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

	for (size_t i = 0; mbs != NULL && i < cc->ntracked; i++) {
		const struct track_party *m = &cc->tracked[i];

		json_array_append_new(mbs, json_pack("{s:s, s:s, s:s, s:s*, "
		    "s:s*, s:s*}", "address", m->addr,
		    "type", mbox_type_name(m->type),
		    "role", m->sender ? "sender" : "recipient",
		    "folder", m->folder, "regarding_type", m->regarding_type,
		    "regarding_id", m->regarding_id));
	}
	doc = json_pack("{s:s, s:o, s:{s:s, s:b, s:s?}}", "direction",
	    outgoing ? "outgoing" : "incoming", "mailboxes", mbs,
	    "auth", "dmarc", authres_dmarc_name(cc->facts.auth.dmarc),
	    "dkim_aligned", cc->facts.auth.dkim_aligned, "authserv_id",
	    cc->facts.auth.authserv_id[0] != '\0' ?
	    cc->facts.auth.authserv_id : NULL);
	if (doc == NULL)
		return NULL;
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/*
 * Outgoing tracked mail carries the conversation's tracking token in its
 * subject, so that a reply that keeps only the subject still correlates:
 * the token of the tracked message this one answers, or its own. None
 * if the subject has a valid one already.
 */
static void
token_for(struct mf_conn *cc, uint64_t id, char *tok, size_t toksz)
{
	char *subj = NULL;
	uint64_t found;
	bool has;

	tok[0] = '\0';
	/* A subject too long to keep is not rewritten, nor a second one
	 * added beside it. */
	if (cc->subjects > 0 && cc->subject == NULL)
		return;
	subj = cc->subject != NULL ? msg_header_decode(cc->subject) : NULL;
	has = subj != NULL && token_find(&dvd.token_key,
	    cc->conf->token_prefix, subj, &found, NULL) == 0;
	free(subj);
	if (has)
		return;
	if (cc->facts.correlated_done && cc->facts.corr.how != CORR_NONE)
		id = cc->facts.corr.id;
	if (token_make(&dvd.token_key, cc->conf->token_prefix, id, tok,
	    toksz) != 0)
		tok[0] = '\0';
}

/*
 * The message's content digest (@hex) and the key it has in the outbox's
 * Message-ID index (@key): its Message-ID, or, without one, "digest
 * sha256:HEX", which cannot be a Message-ID (those are kept without
 * spaces). The outbox folds two transactions into one entry only when
 * both match. Returns 0, or non-zero when the digest is missing.
 */
static int
dedup_key(struct mf_conn *cc, char hex[MDIGEST_HEX], char *key, size_t keysz)
{
	key[0] = '\0';
	if (cc->digest == NULL || mdigest_final(cc->digest, hex) != 0)
		return -1;
	if (cc->message_id != NULL)
		snprintf(key, keysz, "%s", cc->message_id);
	else
		snprintf(key, keysz, "digest sha256:%s", hex);
	return 0;
}

void
mf_track_eom(struct mf_conn *cc, const char *mta_qid, struct mf_eom *out)
{
	const char *qid = mta_qid != NULL ? mta_qid : "NOQUEUE";
	struct outbox_item it = { 0 };
	bool outgoing = false;
	char err[256] = "", *dec, key[1024], hex[MDIGEST_HEX];
	uint64_t id;
	int rc;

	out->tempfail = false;
	out->rate_limited = 0;
	out->token[0] = '\0';
	if (mf_decide(cc, qid) != 0) {
		out->tempfail = true;
		return;
	}
	if (cc->ntracked == 0)
		return;				/* no mailbox takes it */
	if ((out->rate_limited = mf_caserate_check(cc, qid)) != 0)
		return;				/* nothing is stored */
	for (size_t i = 0; i < cc->ntracked; i++)
		if (cc->tracked[i].sender)
			outgoing = true;
	if (cc->spool_err != 0) {
		snprintf(err, sizeof(err), "spooling the content: %s",
		    strerror(cc->spool_err));
		goto fail;
	}
	if (dedup_key(cc, hex, key, sizeof(key)) != 0) {
		snprintf(err, sizeof(err), "no content digest (out of memory)");
		goto fail;
	}
	if ((dec = decision_json(cc, outgoing)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	it.direction = outgoing ? 1 : 0;
	it.received = (int64_t)time(NULL);
	it.queue_id = mta_qid;
	it.envelope_from = cc->env_from;
	it.rcpts = (const char *const *)cc->rcpts;
	it.nrcpts = cc->nrcpts;
	it.message_id = key[0] != '\0' ? key : NULL;
	it.digest = hex;
	it.decision = dec;
	it.raw_len = cc->spool.len;
	it.raw_fill = fill_from_spool;
	it.raw_arg = &cc->spool;
	it.truncated = spool_truncated(&cc->spool);
	rc = outbox_submit(dvd.ob, &it, cc->expected, &id, err, sizeof(err));
	cc->expected = false;
	free(dec);
	if (rc != 0)
		goto fail;
	/* The writer wakes the worker once the entry is indexed. */
	if (outgoing && cc->conf->token_in_subject)
		token_for(cc, id, out->token, sizeof(out->token));
	log_info("%s: tracked as outbox entry %llu: direction=%s mailboxes=%zu "
	    "size=%zu%s", qid, (unsigned long long)id,
	    outgoing ? "outgoing" : "incoming", cc->ntracked, cc->spool.len,
	    it.truncated ? " truncated" : "");
	return;
fail:
	log_error("%s: tempfailing: the message could not be stored for "
	    "tracking: %s", qid, err);
	out->tempfail = true;
}

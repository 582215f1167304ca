/*
 * autoreply.c - the acknowledgement of a new case, by SMTP through
 * libcurl.
 *
 * RFC 3834 rules: never answer a null sender, a system sender, an
 * Auto-Submitted message, bulk or list mail (ackpolicy.c says which);
 * send from the null envelope sender with Auto-Submitted: auto-replied;
 * answer the envelope sender (the Return-Path), not From. On top, rate
 * limits per sender (without its subaddress), per domain and for all
 * replies keep two auto-responders, or a forged sender, from flooding
 * anyone; the subject echoes no more than a cut case title.
 *
 * At most once: a mark on disk before each attempt. A try that fails
 * for now is kept (autoreplyq/ID) and tried again with a doubling delay
 * by autoreply_retry(), which the plugin runs in its deliver() and
 * health() calls, until Local.AutoReplyTries; smtp:// needs STARTTLS.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <stddef.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "ackpolicy.h"
#include "local.h"
#include "lstore.h"

struct upload {
	const char *p;
	size_t left;
};

static size_t
read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static char *
compose(struct local *l, const struct dvp_message *m, const char *from,
    const char *to, const char *number, const char *title,
    const char *token, int64_t now, size_t *len_r)
{
	const char *dom = strrchr(from, '@');
	char date[64], *buf = NULL, *subj = ack_subject(number, title, token);
	time_t tt = (time_t)now;
	struct tm tm;
	FILE *fp;

	(void)l;
	if (subj == NULL || (fp = open_memstream(&buf, len_r)) == NULL) {
		free(subj);
		return NULL;
	}
	gmtime_r(&tt, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(fp, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n", from, to,
	    subj);
	fprintf(fp, "Date: %s\r\nMessage-ID: <ack.%s.%s@%s>\r\n", date,
	    m->id, number, dom != NULL ? dom + 1 : "localhost");
	if (m->message_id != NULL && !has_ctl(m->message_id))
		fprintf(fp, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n",
		    m->message_id, m->message_id);
	fprintf(fp, "Auto-Submitted: auto-replied\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Thank you for your message. It has been logged as case %s.\r\n"
	    "\r\n"
	    "Please keep %s in the subject when you write about it,\r\n"
	    "so that your mail reaches the same case.\r\n"
	    "\r\n"
	    "This is an automatic reply.\r\n", number, token ? token : number);
	free(subj);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Why RFC 3834 or common practice forbids answering (ackpolicy.c), or
 * the sender is the queue or no usable address; NULL if none does.
 * @buf is for a reason made up here.
 */
static const char *
forbidden(const struct dvp_message *m, const char *queue, char *buf,
    size_t bufsz)
{
	const char *why;

	if ((why = ack_suppressed(m, buf, bufsz)) != NULL)
		return why;
	if (strcasecmp(m->envelope_from, queue) == 0)
		return "not sent: the sender is the queue";
	if (has_ctl(m->envelope_from) || strchr(m->envelope_from, '@') == NULL)
		return "not sent: the sender address is not usable";
	return NULL;
}

/* --- configuration ---------------------------------------------------- */

int
autoreply_config(struct local *l, char *err, size_t errsz)
{
	const struct dvp_host *h = l->h;
	uint64_t dom, all, tries;
	int64_t delay;
	int plain;

	if (h->config_uint(h->ctx, "AutoReplyDomainLimit", 50, 0, 100000,
	    &dom, err, errsz) != DVP_KV_OK ||
	    h->config_uint(h->ctx, "AutoReplyGlobalLimit", 500, 0, 1000000,
	    &all, err, errsz) != DVP_KV_OK ||
	    h->config_bool(h->ctx, "SubmissionAllowPlain", 0, &plain, err,
	    errsz) != DVP_KV_OK ||
	    h->config_uint(h->ctx, "AutoReplyTries", 5, 1, 20, &tries, err,
	    errsz) != DVP_KV_OK ||
	    h->config_duration(h->ctx, "AutoReplyRetryDelay", 60, 1, 3600,
	    &delay, err, errsz) != DVP_KV_OK)
		return -1;
	l->reply_domain_limit = (long)dom;
	l->reply_global_limit = (long)all;
	l->allow_plain = plain != 0;
	l->tries = (long)tries;
	l->retry_delay = (long)delay;
	return 0;
}

/* --- rate limits ------------------------------------------------------- */

/* One counter: autoreply/ADDRESS, autoreply/@DOMAIN, or the one of all
 * replies (LS_AUTOREPLY_ALL). */
struct counter {
	const char *what;		/* for the reason */
	long limit;			/* 0: none */
	char key[LS_KEY_MAX + 1];
	json_int_t since, count;
};

static int
counter_read(struct local *l, struct counter *c, int64_t now)
{
	bool missing;
	json_t *o = lstore_get(l->h, c->key, &missing);

	if (o == NULL && !missing)
		return -1;
	c->since = json_integer_value(json_object_get(o, "since"));
	c->count = json_integer_value(json_object_get(o, "count"));
	json_decref(o);
	if (now - c->since >= l->reply_window) {
		c->since = now;
		c->count = 0;
	}
	return 0;
}

/*
 * Count one reply to @to against the limits of the address (without its
 * subaddress), of its domain and of all replies, or against none when
 * one of them is reached: then *why says which. @return 0 or -1 (store).
 */
static int
rate_ok(struct local *l, const char *to, int64_t now, const char **why)
{
	struct counter c[3] = {
		{ "the sender", l->reply_limit, "", 0, 0 },
		{ "the sender's domain", l->reply_domain_limit, "", 0, 0 },
		{ "all senders", l->reply_global_limit, "", 0, 0 },
	};
	char addr[LS_KEY_MAX + 1];
	const char *at;

	*why = NULL;
	if (ack_rate_key(to, addr, sizeof(addr)) != 0)
		snprintf(addr, sizeof(addr), "%.*s", LS_KEY_MAX - 20, to);
	lstore_address_key(addr, sizeof(addr));
	at = strrchr(addr, '@');
	if (lstore_key(c[0].key, LS_AUTOREPLY, addr) != 0 ||
	    lstore_key(c[1].key, LS_AUTOREPLY, at != NULL ? at : "@") != 0 ||
	    lstore_key(c[2].key, LS_AUTOREPLY_ALL, "") != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (c[i].limit == 0)
			continue;
		if (counter_read(l, &c[i], now) != 0)
			return -1;
		if (c[i].count >= c[i].limit && *why == NULL)
			*why = c[i].what;
	}
	if (*why != NULL)
		return 0;
	for (int i = 0; i < 3; i++) {
		json_t *o;
		int rc;

		if (c[i].limit == 0)
			continue;
		o = json_pack("{s:I, s:I}", "since", c[i].since, "count",
		    c[i].count + 1);
		rc = o != NULL ? lstore_put(l->h, c[i].key, o) : -1;
		json_decref(o);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* --- at most once ------------------------------------------------------ */

/*
 * An acknowledgement goes at most once per message, even when a crash
 * makes its delivery again: a mark, autoreplied/ID, is on disk before
 * each attempt ("sending") and says how it went after ("sent", "pending:
 * ..." while a retry is due, or "not sent: ..."). Only a "pending" mark
 * is ever tried again; "sending" found later means the worker stopped
 * mid-attempt, and that one is never tried again.
 */
static int
mark_put(struct local *l, const char *id, const char *what)
{
	char key[LS_KEY_MAX + 1];

	if (lstore_key(key, LS_AUTOREPLIED, id) != 0)
		return -1;
	return l->h->kv_put_now(l->h->ctx, key, what, strlen(what));
}

/*
 * What an earlier delivery of @id did, into @out: 1 if it had got as far
 * as submitting (do nothing more), 0 if it had not, -1 if that cannot be
 * read (then do not send either).
 */
static int
mark_get(struct local *l, const char *id, struct autoreply *out)
{
	char key[LS_KEY_MAX + 1];
	const void *v;
	size_t len;
	int rc;

	(void)lstore_key(key, LS_AUTOREPLIED, id);
	if ((rc = l->h->kv_get(l->h->ctx, key, &v, &len)) == DVP_KV_NOTFOUND)
		return 0;
	if (rc != 0) {
		snprintf(out->why, sizeof(out->why), "not sent: the store "
		    "cannot say whether it was sent before");
		return -1;
	}
	if (len == 7 && memcmp(v, "sending", 7) == 0)
		snprintf(out->why, sizeof(out->why), "unknown: the worker "
		    "stopped while it was being sent");
	else
		snprintf(out->why, sizeof(out->why), "%.*s",
		    (int)(len < sizeof(out->why) ? len : sizeof(out->why) - 1),
		    (const char *)v);
	out->sent = strncmp(out->why, "sent", 4) == 0;
	return 1;
}

/*
 * Whether the reply may go: not sent before, a server to send it to,
 * RFC 3834 and the rate limits. If not, @out says why.
 */
static bool
may_send(struct local *l, const struct dvp_message *m, const char *queue,
    const char *number, int64_t now, struct autoreply *out)
{
	const struct dvp_host *h = l->h;
	const char *why;
	int rc;

	/* Made again after a crash: once is enough, whatever it did. */
	if ((rc = mark_get(l, m->id, out)) != 0) {
		h->log(h->ctx, rc > 0 ? DVP_LOG_INFO : DVP_LOG_WARNING,
		    "case %s: auto-reply not sent again (%s)", number, out->why);
		return false;
	}
	if (l->submission_url == NULL) {
		snprintf(out->why, sizeof(out->why), "not sent: no "
		    "Local.SubmissionURL");
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply wanted but "
		    "Local.SubmissionURL is not set", number);
		return false;
	}
	if ((why = forbidden(m, queue, out->why, sizeof(out->why))) != NULL) {
		if (why != out->why)
			snprintf(out->why, sizeof(out->why), "%s", why);
		h->log(h->ctx, DVP_LOG_INFO, "case %s: auto-reply %s", number,
		    out->why);
		return false;
	}
	if (rate_ok(l, m->envelope_from, now, &why) != 0 || why != NULL) {
		if (why != NULL)
			snprintf(out->why, sizeof(out->why), "not sent: rate "
			    "limit for %s", why);
		else
			snprintf(out->why, sizeof(out->why), "not sent: store "
			    "error");
		h->log(h->ctx, DVP_LOG_NOTICE, "case %s: auto-reply to %s %s",
		    number, m->envelope_from, out->why + 10);
		return false;
	}
	return true;
}

/* --- submission -------------------------------------------------------- */

/* How one attempt went. */
enum attempt {
	ATTEMPT_SENT,
	ATTEMPT_REFUSED,		/* a 5xx: trying again will not help */
	ATTEMPT_FAILED,			/* for now: try again later */
	ATTEMPT_UNKNOWN			/* all sent, no final reply: the
					 * server may have queued it */
};

/*
 * One SMTP transaction: @len bytes of @msg to @to, from the null sender.
 * smtp:// must be upgraded by STARTTLS (a stripped STARTTLS fails the
 * attempt) unless Local.SubmissionAllowPlain says otherwise; smtps:// is
 * TLS from the start. Certificates are verified (libcurl's default).
 */
static enum attempt
submit(struct local *l, const char *to, const char *msg, size_t len,
    char *err, size_t errsz)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt;
	struct upload up = { msg, len };
	curl_off_t sent = 0;
	long code = 0;
	CURLcode cc;
	CURL *c;

	if ((c = curl_easy_init()) == NULL ||
	    (rcpt = curl_slist_append(NULL, to)) == NULL) {
		curl_easy_cleanup(c);
		snprintf(err, errsz, "out of memory");
		return ATTEMPT_FAILED;
	}
	curl_easy_setopt(c, CURLOPT_URL, l->submission_url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<>");
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, l->smtp_timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, l->smtp_timeout < 10 ?
	    l->smtp_timeout : 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (strncmp(l->submission_url, "smtp://", 7) == 0)
		curl_easy_setopt(c, CURLOPT_USE_SSL, l->allow_plain ?
		    (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	cc = curl_easy_perform(c);
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &sent);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	if (cc == CURLE_OK)
		return ATTEMPT_SENT;
	if (cc == CURLE_USE_SSL_FAILED)
		snprintf(err, errsz, "the server does not offer STARTTLS "
		    "(Local.SubmissionAllowPlain is off)");
	else
		snprintf(err, errsz, "%s", errbuf[0] ? errbuf :
		    curl_easy_strerror(cc));
	/* A refusal of this one message says nothing of the next. */
	if (code < 400 && cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR &&
	    cc != CURLE_LOGIN_DENIED && cc != CURLE_WRITE_ERROR &&
	    cc != CURLE_UPLOAD_FAILED && cc != CURLE_QUOTE_ERROR &&
	    cc != CURLE_FTP_WEIRD_SERVER_REPLY)
		(void)l->h->hold_trip(l->h->ctx, SMTP_HOLD);
	/* The last reply is DATA's 354 and the whole message went out:
	 * the final dot may have reached the server, which may have
	 * queued it; sending it again could send it twice. (Dot-stuffing
	 * only adds bytes, so all sent is at least @len.) */
	if (code == 354 && sent >= 0 && (uint64_t)sent >= len)
		return ATTEMPT_UNKNOWN;
	return code >= 500 && code < 600 ? ATTEMPT_REFUSED : ATTEMPT_FAILED;
}

/* --- retries ----------------------------------------------------------- */

/* The wait after @tries failed tries: the delay, doubled, at most 1 h. */
static int64_t
backoff(const struct local *l, long tries)
{
	int64_t d = l->retry_delay;

	for (long i = 1; i < tries && d < 3600; i++)
		d *= 2;
	return d < 3600 ? d : 3600;
}

/*
 * Keep a failed acknowledgement for another try: autoreplyq/ID holds
 * the message as composed, its recipient, its case and the tries so
 * far; written at once, like the mark, so that the count survives a
 * delivery that fails.
 */
static int
pending_put(struct local *l, const char *id, const char *to,
    const char *msg, const char *number, long tries, int64_t next)
{
	char key[LS_KEY_MAX + 1], *s;
	json_t *o;
	int rc = -1;

	if (lstore_key(key, LS_AUTOREPLYQ, id) != 0)
		return -1;
	o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "to", to, "msg", msg,
	    "case", number, "tries", (json_int_t)tries, "next",
	    (json_int_t)next);
	if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
		rc = l->h->kv_put_now(l->h->ctx, key, s, strlen(s));
		free(s);
	}
	json_decref(o);
	return rc;
}

/*
 * After a failed try (@tries so far), either keep it pending or give up;
 * the mark and @out->why say which.
 */
static void
failed_try(struct local *l, const char *id, const char *to, const char *msg,
    const char *number, long tries, int64_t now, const char *err,
    struct autoreply *out)
{
	const struct dvp_host *h = l->h;
	int64_t wait = backoff(l, tries);

	if (tries < l->tries &&
	    pending_put(l, id, to, msg, number, tries, now + wait) == 0) {
		snprintf(out->why, sizeof(out->why), "pending: try %ld of %ld "
		    "failed (%.100s); next in %lld s", tries, l->tries, err,
		    (long long)wait);
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply to %s "
		    "failed, trying again in %lld s: %s", number, to,
		    (long long)wait, err);
	} else {
		if (tries > 1)
			snprintf(out->why, sizeof(out->why), "not sent: gave "
			    "up after %ld tries: %.120s", tries, err);
		else
			snprintf(out->why, sizeof(out->why), "not sent: %.150s",
			    err);
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply to %s "
		    "given up after %ld tries: %s", number, to, tries, err);
	}
	/* Failing this leaves "sending": not tried again either way. */
	(void)mark_put(l, id, out->why);
}

/*
 * One attempt, the mark on disk first. @tries counts this one.
 * @return what it did, also in the mark and in @out.
 */
static void
attempt(struct local *l, const char *id, const char *to, const char *msg,
    const char *number, long tries, int64_t now, struct autoreply *out)
{
	const struct dvp_host *h = l->h;
	char err[CURL_ERROR_SIZE + 80];

	if (mark_put(l, id, "sending") != 0) {
		snprintf(out->why, sizeof(out->why), "not sent: it could not "
		    "be recorded first");
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply %s",
		    number, out->why + 10);
		return;
	}
	switch (submit(l, to, msg, strlen(msg), err, sizeof(err))) {
	case ATTEMPT_SENT:
		h->hold_release(h->ctx, SMTP_HOLD);
		out->sent = true;
		if (tries > 1)
			snprintf(out->why, sizeof(out->why), "sent (try %ld)",
			    tries);
		else
			snprintf(out->why, sizeof(out->why), "sent");
		h->log(h->ctx, DVP_LOG_INFO, "case %s: auto-reply sent to %s%s",
		    number, to, tries > 1 ? " on a later try" : "");
		(void)mark_put(l, id, out->why);
		return;
	case ATTEMPT_REFUSED:
		snprintf(out->why, sizeof(out->why), "not sent: %.150s", err);
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply to %s "
		    "refused: %s", number, to, err);
		(void)mark_put(l, id, out->why);
		return;
	case ATTEMPT_FAILED:
		failed_try(l, id, to, msg, number, tries, now, err, out);
		return;
	case ATTEMPT_UNKNOWN:
		/* At most once: final, like a crash while it was sent. */
		snprintf(out->why, sizeof(out->why), "unknown: the server did "
		    "not answer after the message was sent (%.120s)", err);
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply to %s "
		    "%s; not sent again", number, to, out->why + 9);
		(void)mark_put(l, id, out->why);
		return;
	}
}

void
autoreply_send(struct local *l, const struct dvp_message *m,
    const char *queue, const char *number, const char *title,
    const char *token, int64_t now, struct autoreply *out)
{
	const struct dvp_host *h = l->h;
	const char *from = l->reply_from ? l->reply_from : queue;
	char *msg;
	unsigned held;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!may_send(l, m, queue, number, now, out))
		return;
	if ((msg = compose(l, m, from, m->envelope_from, number, title, token,
	    now, &len)) == NULL) {
		snprintf(out->why, sizeof(out->why), "not sent: out of memory");
		return;
	}
	/* The server failed a moment ago: not now, but not lost either. */
	if ((held = h->hold_check(h->ctx, SMTP_HOLD)) > 0 &&
	    pending_put(l, m->id, m->envelope_from, msg, number, 0,
	    now + held) == 0) {
		snprintf(out->why, sizeof(out->why), "pending: the submission "
		    "server failed; not tried for %u s more", held);
		if (mark_put(l, m->id, out->why) != 0)
			snprintf(out->why, sizeof(out->why), "not sent: it "
			    "could not be recorded first");
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply %s",
		    number, out->why);
	} else
		attempt(l, m->id, m->envelope_from, msg, number, 1, now, out);
	free(msg);
}

/* The outcome of a retry into its case's auto_reply, with the batch. */
static void
note_on_case(struct local *l, const char *number, const char *why)
{
	char key[LS_KEY_MAX + 1], id[64];
	const void *v;
	size_t len;
	bool missing;
	json_t *c;

	if (lstore_key(key, LS_CASENUM, number) != 0 ||
	    l->h->kv_get(l->h->ctx, key, &v, &len) != DVP_KV_OK ||
	    len >= sizeof(id))
		return;
	memcpy(id, v, len);
	id[len] = '\0';
	if ((c = lstore_get_id(l->h, LS_CASE, id, &missing)) == NULL)
		return;
	json_object_set_new(c, "auto_reply", json_string(why));
	(void)lstore_put_id(l->h, LS_CASE, id, c);
	json_decref(c);
}

/* Retry the pending acknowledgement of message @id, if it is due. */
static void
retry_one(struct local *l, const char *id, int64_t now)
{
	char qkey[LS_KEY_MAX + 1];
	struct autoreply out;
	const char *to, *msg, *number;
	json_t *rec;
	int rc;

	memset(&out, 0, sizeof(out));
	if (lstore_key(qkey, LS_AUTOREPLYQ, id) != 0)
		return;
	if ((rc = lstore_read(l->h, qkey, &rec)) == LS_CORRUPT) {
		l->h->log(l->h->ctx, DVP_LOG_WARNING, "%s is corrupt: dropped; "
		    "its acknowledgement is not tried again", qkey);
		(void)l->h->kv_del(l->h->ctx, qkey);
		return;
	}
	if (rc != 0)
		return;
	to = json_string_value(json_object_get(rec, "to"));
	msg = json_string_value(json_object_get(rec, "msg"));
	number = json_string_value(json_object_get(rec, "case"));
	/* Only a pending mark is tried again; any other is final, and
	 * without one a delivery made again decides. */
	if ((rc = mark_get(l, id, &out)) < 0) {
		json_decref(rec);
		return;
	}
	if (rc == 0 || strncmp(out.why, "pending", 7) != 0 || to == NULL ||
	    msg == NULL || number == NULL) {
		(void)l->h->kv_del(l->h->ctx, qkey);
		json_decref(rec);
		return;
	}
	if (json_integer_value(json_object_get(rec, "next")) <= now) {
		memset(&out, 0, sizeof(out));
		attempt(l, id, to, msg, number, (long)json_integer_value(
		    json_object_get(rec, "tries")) + 1, now, &out);
		if (strncmp(out.why, "pending", 7) != 0)
			(void)l->h->kv_del(l->h->ctx, qkey);
		note_on_case(l, number, out.why);
	}
	json_decref(rec);
}

struct due {
	int64_t now;
	size_t n;
	char ids[8][40];
};

static int
collect_due(void *arg, const char *key, const void *val, size_t len)
{
	struct due *d = arg;
	json_t *o = json_loadb(val, len, 0, NULL);
	const char *id = key + strlen(LS_AUTOREPLYQ);

	/* A record that does not parse is judged (and dropped) by its mark. */
	if ((o == NULL || json_integer_value(json_object_get(o, "next")) <=
	    d->now) && strlen(id) < sizeof(d->ids[0]))
		snprintf(d->ids[d->n++], sizeof(d->ids[0]), "%s", id);
	json_decref(o);
	return d->n < sizeof(d->ids) / sizeof(d->ids[0]) ? 0 : 1;
}

void
autoreply_retry(struct local *l, int64_t now, unsigned max)
{
	const struct dvp_host *h = l->h;
	struct due d = { .now = now };

	if (l->submission_url == NULL || h->mode != DVP_MODE_WORKER ||
	    h->hold_check(h->ctx, SMTP_HOLD) > 0)
		return;
	(void)h->kv_foreach(h->ctx, LS_AUTOREPLYQ, collect_due, &d);
	for (size_t i = 0; i < d.n && i < max; i++) {
		if (h->hold_check(h->ctx, SMTP_HOLD) > 0)
			break;
		retry_one(l, d.ids[i], now);
	}
}

/*
 * autoreply.c - the acknowledgement of a new case, by SMTP through
 * libcurl.
 *
 * RFC 3834 rules: never answer a null sender, an Auto-Submitted message,
 * bulk or list mail; send from the null envelope sender with
 * Auto-Submitted: auto-replied; answer the envelope sender (the
 * Return-Path), not From. On top, a per-sender rate limit keeps two
 * auto-responders (or a forged sender) from flooding anyone.
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

static bool
ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * Append @text to a header as RFC 2047 encoded words of at most 75
 * characters each, split at UTF-8 character boundaries and folded.
 */
static int
add_encoded(FILE *fp, const char *text)
{
	size_t n = strlen(text), off = 0;
	unsigned char out[64];

	while (off < n) {
		size_t take = n - off > 42 ? 42 : n - off;

		while (take > 0 && off + take < n &&
		    ((unsigned char)text[off + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			return -1;
		EVP_EncodeBlock(out, (const unsigned char *)text + off,
		    (int)take);
		fprintf(fp, "%s=?UTF-8?B?%s?=", off ? "\r\n " : "", out);
		off += take;
	}
	return 0;
}

/* Control characters in a subject would break the header. */
static char *
clean_title(const char *title)
{
	char *t = strdup(title != NULL ? title : "");

	for (char *c = t; c != NULL && *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	return t;
}

static char *
compose(struct local *l, const struct dvp_message *m, const char *from,
    const char *to, const char *number, const char *title,
    const char *token, int64_t now, size_t *len_r)
{
	const char *dom = strrchr(from, '@');
	char date[64], *buf = NULL, *t = clean_title(title);
	time_t tt = (time_t)now;
	struct tm tm;
	FILE *fp;

	(void)l;
	if (t == NULL || (fp = open_memstream(&buf, len_r)) == NULL) {
		free(t);
		return NULL;
	}
	gmtime_r(&tt, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(fp, "From: <%s>\r\nTo: <%s>\r\nSubject: [%s] Received: ",
	    from, to, number);
	if (ascii(t))
		fputs(t, fp);
	else
		add_encoded(fp, t);
	fprintf(fp, "%s%s\r\n", token ? " " : "", token ? token : "");
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
	free(t);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Why RFC 3834 forbids answering, or NULL; @buf is for a made-up one. */
static const char *
forbidden(const struct dvp_message *m, const char *queue, char *buf,
    size_t bufsz)
{
	if (m->envelope_from == NULL || m->envelope_from[0] == '\0')
		return "not sent: null sender";
	if (m->auto_submitted != NULL) {
		const char *v = m->auto_submitted + strspn(m->auto_submitted,
		    " \t");

		if (strncasecmp(v, "no", 2) != 0 || isalnum((unsigned char)v[2]))
			return "not sent: the message is Auto-Submitted";
	}
	if (m->precedence != NULL) {
		const char *v = m->precedence + strspn(m->precedence, " \t");

		if (strncasecmp(v, "bulk", 4) == 0 ||
		    strncasecmp(v, "list", 4) == 0 ||
		    strncasecmp(v, "junk", 4) == 0) {
			snprintf(buf, bufsz, "not sent: Precedence %.20s", v);
			return buf;
		}
	}
	if (m->list_id != NULL)
		return "not sent: mailing list mail";
	if (strcasecmp(m->envelope_from, queue) == 0)
		return "not sent: the sender is the queue";
	if (has_ctl(m->envelope_from) || strchr(m->envelope_from, '@') == NULL)
		return "not sent: the sender address is not usable";
	return NULL;
}

/* Count one reply to @to; false if the limit is reached. */
static bool
rate_ok(struct local *l, const char *to, int64_t now, bool *store_err)
{
	char key[LS_KEY_MAX + 1];
	bool missing;
	json_t *o;
	json_int_t since, count;
	int rc;

	*store_err = false;
	(void)lstore_key(key, LS_AUTOREPLY, to);
	for (char *c = key; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	o = lstore_get(l->h, key, &missing);
	if (o == NULL && !missing) {
		*store_err = true;
		return false;
	}
	since = json_integer_value(json_object_get(o, "since"));
	count = json_integer_value(json_object_get(o, "count"));
	json_decref(o);
	if (now - since >= l->reply_window) {
		since = now;
		count = 0;
	}
	if (count >= l->reply_limit)
		return false;
	o = json_pack("{s:I, s:I}", "since", since, "count", count + 1);
	rc = o != NULL ? lstore_put(l->h, key, o) : -1;
	json_decref(o);
	if (rc != 0)
		*store_err = true;
	return rc == 0;
}

/*
 * An acknowledgement goes at most once per message, even when a crash
 * makes its delivery again: a mark, autoreplied/ID, is on disk before it
 * is submitted ("sending") and says how it went after ("sent", or why
 * not).
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
	out->sent = strcmp(out->why, "sent") == 0;
	return 1;
}

/*
 * Whether the reply may go: not sent before, a server to send it to,
 * RFC 3834 and the rate limit. If not, @out says why.
 */
static bool
may_send(struct local *l, const struct dvp_message *m, const char *queue,
    const char *number, int64_t now, struct autoreply *out)
{
	const struct dvp_host *h = l->h;
	const char *why;
	bool store_err;
	unsigned held;
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
	if ((held = h->hold_check(h->ctx, SMTP_HOLD)) > 0) {
		snprintf(out->why, sizeof(out->why), "not sent: the "
		    "submission server failed; not tried for %u s more", held);
		h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply %s",
		    number, out->why);
		return false;
	}
	if ((why = forbidden(m, queue, out->why, sizeof(out->why))) != NULL) {
		if (why != out->why)
			snprintf(out->why, sizeof(out->why), "%s", why);
		h->log(h->ctx, DVP_LOG_INFO, "case %s: auto-reply %s", number,
		    out->why);
		return false;
	}
	if (!rate_ok(l, m->envelope_from, now, &store_err)) {
		snprintf(out->why, sizeof(out->why), store_err ?
		    "not sent: store error" : "not sent: rate limit for the "
		    "sender");
		h->log(h->ctx, DVP_LOG_NOTICE, "case %s: auto-reply to %s %s",
		    number, m->envelope_from, out->why + 10);
		return false;
	}
	return true;
}

/* One SMTP transaction: @len bytes of @msg to @to, from the null sender. */
static CURLcode
submit(struct local *l, CURL *c, const char *to, const char *msg,
    size_t len, char errbuf[CURL_ERROR_SIZE])
{
	struct curl_slist *rcpt = curl_slist_append(NULL, to);
	struct upload up = { msg, len };
	CURLcode cc;

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
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	cc = curl_easy_perform(c);
	curl_slist_free_all(rcpt);
	return cc;
}

/* What became of a submission, in @out and the log. */
static void
outcome(struct local *l, const struct dvp_message *m, const char *number,
    CURLcode cc, const char *errbuf, int64_t now, struct autoreply *out)
{
	const struct dvp_host *h = l->h;

	if (cc == CURLE_OK) {
		h->hold_release(h->ctx, SMTP_HOLD);
		out->sent = true;
		snprintf(out->why, sizeof(out->why), "sent");
		h->log(h->ctx, DVP_LOG_INFO, "case %s: auto-reply sent to %s",
		    number, m->envelope_from);
		return;
	}
	snprintf(out->why, sizeof(out->why), "not sent: %s",
	    errbuf[0] ? errbuf : curl_easy_strerror(cc));
	/* A refusal of this one message says nothing of the next. */
	if (cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR &&
	    cc != CURLE_LOGIN_DENIED && cc != CURLE_WRITE_ERROR &&
	    cc != CURLE_UPLOAD_FAILED && cc != CURLE_QUOTE_ERROR &&
	    cc != CURLE_FTP_WEIRD_SERVER_REPLY)
		(void)l->h->hold_trip(l->h->ctx, SMTP_HOLD);
	h->log(h->ctx, DVP_LOG_WARNING, "case %s: auto-reply to %s failed: %s",
	    number, m->envelope_from, out->why + 10);
}

void
autoreply_send(struct local *l, const struct dvp_message *m,
    const char *queue, const char *number, const char *title,
    const char *token, int64_t now, struct autoreply *out)
{
	const char *from = l->reply_from ? l->reply_from : queue;
	char errbuf[CURL_ERROR_SIZE] = "", *msg;
	size_t len;
	CURL *c;

	memset(out, 0, sizeof(*out));
	if (!may_send(l, m, queue, number, now, out))
		return;
	if ((msg = compose(l, m, from, m->envelope_from, number, title, token,
	    now, &len)) == NULL || (c = curl_easy_init()) == NULL) {
		free(msg);
		snprintf(out->why, sizeof(out->why), "not sent: out of memory");
		return;
	}
	if (mark_put(l, m->id, "sending") != 0) {
		snprintf(out->why, sizeof(out->why), "not sent: it could not "
		    "be recorded first");
		l->h->log(l->h->ctx, DVP_LOG_WARNING, "case %s: auto-reply %s",
		    number, out->why + 10);
	} else {
		outcome(l, m, number, submit(l, c, m->envelope_from, msg, len,
		    errbuf), errbuf, now, out);
		/* Failing this leaves "sending": not sent again either way. */
		(void)mark_put(l, m->id, out->why);
	}
	curl_easy_cleanup(c);
	free(msg);
}

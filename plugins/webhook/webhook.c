/*
 * webhook.c - the webhook plugin: POST each tracked message as JSON to a
 * URL, signed with HMAC-SHA256 so the receiver can trust it.
 *
 * Request: Content-Type application/json; X-Dvmilter-Id carries the
 * host's message id, and Idempotency-Key the store's identity, "-", and
 * that id, which no store made again repeats (a retry repeats both);
 * X-Dvmilter-Timestamp is Unix time; X-Dvmilter-Signature is
 * "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body).
 *
 * Response: 2xx is success, and a JSON body may name "activity_id" and
 * "case_id". 408, 425, 429 and 5xx, and every network failure, are
 * transient (Retry-After is honoured); any other status is permanent.
 * A 429 or 503 with Retry-After is the receiver throttling all of them:
 * the plugin asks the host to pause all its deliveries (pause_all).
 *
 * Keys: Webhook.URL (required), Webhook.SecretFile (required),
 * Webhook.Timeout (seconds, default 10), Webhook.CAFile,
 * Webhook.IncludeAttachments (yes/no, default no: metadata only),
 * Webhook.AllowInsecure (yes/no, default no: the URL must be https://).
 *
 * It includes only dvmilter_plugin.h from dvmilter.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dvmilter_plugin.h"

#define WH_SECRET_MIN	16
#define WH_SECRET_MAX	1024
#define WH_RESPONSE_MAX	(64 * 1024)

struct webhook {
	const struct dvp_host *host;
	char *url;
	char *cafile;
	unsigned char secret[WH_SECRET_MAX];
	size_t secret_len;
	long timeout;
	bool attachments;
	bool insecure;		/* Webhook.AllowInsecure: http:// allowed */
	/* "STORE-INSTANCE-" or "": the entry id alone repeats in a store
	 * made again, so the Idempotency-Key starts with the store's. */
	char idem[80];
	CURL *curl;
};

struct response {
	char *p;
	size_t len;
	bool overflow;
};

static const char *const webhook_keys[] = {
	"URL", "SecretFile", "Timeout", "CAFile", "IncludeAttachments",
	"AllowInsecure", NULL
};

static void
errf(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/*
 * The secret: read by the host from the descriptor it checked the file
 * on (a 2.0 host only checks it, and the plugin reads it after).
 */
static int
read_secret(struct webhook *w, const char *path, char *err, size_t errsz)
{
	const struct dvp_host *h = w->host;
	size_t n;

	if (DVP_HAS(struct dvp_host, h, config_secret) && h->config_secret != NULL) {
		if (h->config_secret(h->ctx, "SecretFile", w->secret,
		    sizeof(w->secret), &n, err, errsz) != DVP_KV_OK)
			return -1;
	} else {
		FILE *fp = fopen(path, "r");

		if (fp == NULL) {
			errf(err, errsz, "Webhook.SecretFile %s: %s", path,
			    strerror(errno));
			return -1;
		}
		n = fread(w->secret, 1, sizeof(w->secret), fp);
		fclose(fp);
	}
	while (n > 0 && (w->secret[n - 1] == '\n' || w->secret[n - 1] == '\r'))
		n--;
	if (n < WH_SECRET_MIN || n >= sizeof(w->secret)) {
		errf(err, errsz, "Webhook.SecretFile %s must hold %d to %d "
		    "bytes", path, WH_SECRET_MIN, WH_SECRET_MAX - 1);
		return -1;
	}
	w->secret_len = n;
	return 0;
}

static void webhook_shutdown(void *state);
/* Its keys, through the host's typed getters: parsed as dvmilter's own. */
static int
webhook_config(struct webhook *w, const struct dvp_host *host,
    const char **url_r, const char **secret_r, char *err, size_t errsz)
{
	int64_t timeout;
	int att, insecure;

	if (host->config_bool(host->ctx, "AllowInsecure", 0, &insecure, err,
	    errsz) != DVP_KV_OK ||
	    host->config_url(host->ctx, "URL", "http,https", url_r, err,
	    errsz) != DVP_KV_OK ||
	    host->config_secret_file(host->ctx, "SecretFile", secret_r, err,
	    errsz) != DVP_KV_OK ||
	    host->config_duration(host->ctx, "Timeout", 10, 1, 600, &timeout,
	    err, errsz) != DVP_KV_OK ||
	    host->config_bool(host->ctx, "IncludeAttachments", 0, &att, err,
	    errsz) != DVP_KV_OK)
		return -1;
	/* Mail and its signature in clear, on a network anyone may read. */
	if (!insecure && strncasecmp(*url_r, "https://", 8) != 0) {
		errf(err, errsz, "Webhook.URL %s is not https://: the mail it "
		    "posts would cross the network in clear; use https://, or "
		    "set Webhook.AllowInsecure yes (a trusted network only)",
		    *url_r);
		return -1;
	}
	w->insecure = insecure != 0;
	w->timeout = (long)timeout;
	w->attachments = att != 0;
	return 0;
}

static int
webhook_init(const struct dvp_host *host, void **state_r, char *err,
    size_t errsz)
{
	struct webhook *w;
	const char *url, *secret, *ca;

	if (host->config(host->ctx, "URL") == NULL ||
	    host->config(host->ctx, "SecretFile") == NULL) {
		errf(err, errsz, "Webhook.URL and Webhook.SecretFile are "
		    "required");
		return DVP_PERMANENT;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		errf(err, errsz, "out of memory");
		return DVP_PERMANENT;
	}
	w->host = host;
	if (webhook_config(w, host, &url, &secret, err, errsz) != 0 ||
	    read_secret(w, secret, err, errsz) != 0)
		goto fail;
	w->url = strdup(url);
	if (DVP_HAS(struct dvp_host, host, store_instance) &&
	    host->store_instance != NULL)
		snprintf(w->idem, sizeof(w->idem), "%s-",
		    host->store_instance);
	ca = host->config(host->ctx, "CAFile");
	if (ca != NULL)
		w->cafile = strdup(ca);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (w->curl = curl_easy_init()) == NULL || w->url == NULL ||
	    (ca != NULL && w->cafile == NULL)) {
		errf(err, errsz, "cannot initialise libcurl");
		goto fail;
	}
	*state_r = w;
	return DVP_OK;
fail:
	webhook_shutdown(w);
	return DVP_PERMANENT;
}

static void
webhook_shutdown(void *state)
{
	struct webhook *w = state;

	if (w == NULL)
		return;
	if (w->curl != NULL) {
		curl_easy_cleanup(w->curl);
		curl_global_cleanup();
	}
	free(w->url);
	free(w->cafile);
	memset(w->secret, 0, sizeof(w->secret));
	free(w);
}

/* Common transfer options, on a reset handle. */
static void
setup(struct webhook *w)
{
	curl_easy_reset(w->curl);
	curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT, w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR,
	    w->insecure ? "http,https" : "https");
	curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "dvmilter-webhook/1");
	if (w->cafile != NULL)
		curl_easy_setopt(w->curl, CURLOPT_CAINFO, w->cafile);
}

static int
webhook_health(void *state, char *msg, size_t msgsz)
{
	struct webhook *w = state;
	CURLcode cc;

	setup(w);
	curl_easy_setopt(w->curl, CURLOPT_CONNECT_ONLY, 1L);
	/* Close the probe connection; nothing will ever be sent on it. */
	curl_easy_setopt(w->curl, CURLOPT_FORBID_REUSE, 1L);
	cc = curl_easy_perform(w->curl);
	if (cc != CURLE_OK) {
		errf(msg, msgsz, "%s: %s", w->url, curl_easy_strerror(cc));
		return DVP_TRANSIENT;
	}
	return DVP_OK;
}

/* --- the request body ---------------------------------------------------- */

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
jtime(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *
jaddrs(const struct dvp_address *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:o, s:o}",
		    "name", jstr(a[i].name), "address", jstr(a[i].address)));
	return arr;
}

static json_t *
jbase64(const unsigned char *data, size_t len)
{
	size_t out = 4 * ((len + 2) / 3) + 1;
	char *b = malloc(out);
	json_t *j;

	if (b == NULL)
		return json_null();
	EVP_EncodeBlock((unsigned char *)b, data, (int)len);
	j = json_string(b);
	free(b);
	return j;
}

static const char *
corr_name(int c)
{
	switch (c) {
	case DVP_CORR_IN_REPLY_TO:	return "in-reply-to";
	case DVP_CORR_TRACKING_TOKEN:	return "tracking-token";
	case DVP_CORR_SMART_MATCH:	return "smart-match";
	}
	return "none";
}

/* The members from fields of ABI 2.1, where the host has them. */
static void
add_2_1(json_t *doc, const struct dvp_message *m,
    const struct dvp_decision *d)
{
	/* The earlier message whose Message-ID this one reused, or null. */
	json_object_set_new(doc, "collided_with", jstr(DVP_HAS(struct
	    dvp_decision, d, collided_with) ? d->collided_with : NULL));
	/* What a parsing cap left out, or null. */
	json_object_set_new(doc, "omitted", jstr(DVP_HAS(struct dvp_message,
	    m, omitted) ? m->omitted : NULL));
	/* The trusted Authentication-Results verdict (TrustedAuthservIDs). */
	if (DVP_HAS(struct dvp_decision, d, auth_id))
		json_object_set_new(doc, "authentication", json_pack(
		    "{s:s, s:b, s:o}", "dmarc",
		    d->auth_dmarc == DVP_DMARC_PASS ? "pass" :
		    d->auth_dmarc == DVP_DMARC_FAIL ? "fail" : "none",
		    "dkim_aligned", d->auth_dkim_aligned != 0,
		    "authserv_id", jstr(d->auth_id)));
}

static char *
build_body(const struct webhook *w, const struct dvp_message *m,
    const struct dvp_decision *d)
{
	json_t *rcpts = json_array(), *refs = json_array(), *atts = json_array();
	json_t *mbs = json_array(), *doc;
	char *s;

	for (size_t i = 0; i < m->nrcpts; i++)
		json_array_append_new(rcpts, json_string(m->envelope_rcpts[i]));
	for (size_t i = 0; i < m->nreferences; i++)
		json_array_append_new(refs, json_string(m->references[i]));
	for (size_t i = 0; i < m->nattachments; i++) {
		const struct dvp_attachment *a = &m->attachments[i];
		json_t *o = json_pack("{s:o, s:s, s:I, s:s}",
		    "filename", jstr(a->filename), "content_type",
		    a->content_type, "size", (json_int_t)a->size,
		    "sha256", a->sha256);

		if (o != NULL && w->attachments)
			json_object_set_new(o, "content_base64",
			    jbase64(a->data, a->size));
		json_array_append_new(atts, o);
	}
	for (size_t i = 0; i < d->nmailboxes; i++) {
		const struct dvp_mailbox *b = DVP_MAILBOX(d, i);

		json_array_append_new(mbs, json_pack("{s:s, s:s, s:o, s:o}",
		    "address", b->address,
		    "type", b->type == DVP_MAILBOX_QUEUE ? "queue" : "user",
		    "folder", jstr(b->folder),
		    "regarding", b->regarding_type != NULL ?
		    json_pack("{s:s, s:o}", "type", b->regarding_type, "id",
		    jstr(b->regarding_id)) : json_null()));
	}
	doc = json_pack("{s:s, s:s, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:o, "
	    "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, "
	    "s:s, s:o, s:o}",
	    "id", m->id,
	    "direction", m->direction == DVP_OUTGOING ? "outgoing" : "incoming",
	    "received", jtime(m->received),
	    "queue_id", jstr(m->queue_id),
	    "envelope", "from", jstr(m->envelope_from), "rcpts", rcpts,
	    "message_id", jstr(m->message_id),
	    "in_reply_to", jstr(m->in_reply_to),
	    "references", refs,
	    "subject", jstr(m->subject),
	    "date", jtime(m->date),
	    "from", jaddrs(m->from, m->nfrom),
	    "to", jaddrs(m->to, m->nto),
	    "cc", jaddrs(m->cc, m->ncc),
	    "auto_submitted", jstr(m->auto_submitted),
	    "precedence", jstr(m->precedence),
	    "list_id", jstr(m->list_id),
	    "text", jstr(m->text),
	    "attachments", atts,
	    "truncated", m->truncated != 0,
	    "mailboxes", mbs,
	    "correlation", corr_name(d->correlation),
	    "correlated_id", jstr(d->correlated_id),
	    "tracking_token", jstr(d->tracking_token));
	if (doc == NULL)
		return NULL;
	add_2_1(doc, m, d);
	/* ESCAPE_SLASH: "<\/script>", for a receiver that puts it in a page. */
	s = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_ESCAPE_SLASH);
	json_decref(doc);
	return s;
}

/* --- the request ---------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;
	char *p;

	if (r->len + n > WH_RESPONSE_MAX) {
		r->overflow = true;
		return n;	/* keep reading, stop keeping */
	}
	if ((p = realloc(r->p, r->len + n + 1)) == NULL)
		return 0;
	r->p = p;
	memcpy(p + r->len, data, n);
	r->len += n;
	p[r->len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	long *retry = arg;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char buf[32];
		size_t l = n - 12 < sizeof(buf) - 1 ? n - 12 : sizeof(buf) - 1;
		char *end;
		long v;

		memcpy(buf, data + 12, l);
		buf[l] = '\0';
		errno = 0;
		v = strtol(buf, &end, 10);
		if (errno == 0 && end != buf && v >= 0 && v <= 86400)
			*retry = v;
	}
	return n;
}

static void
sign(const struct webhook *w, const char *stamp, const char *body,
    char out[72])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t sl = strlen(stamp), bl = strlen(body);
	unsigned char *msg = malloc(sl + 1 + bl);

	/* HMAC over "timestamp.body": a replayed body needs its stamp. */
	out[0] = '\0';
	if (msg == NULL)
		return;
	memcpy(msg, stamp, sl);
	msg[sl] = '.';
	memcpy(msg + sl + 1, body, bl);
	if (HMAC(EVP_sha256(), w->secret, (int)w->secret_len, msg,
	    sl + 1 + bl, md, &mdlen) == NULL)
		mdlen = 0;
	free(msg);
	if (mdlen == 0)
		return;
	memcpy(out, "v1=", 4);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

static void
take_ids(const struct response *resp, struct dvp_result *r)
{
	json_t *doc, *v;

	if (resp->p == NULL || resp->overflow)
		return;
	if ((doc = json_loads(resp->p, 0, NULL)) == NULL)
		return;
	if ((v = json_object_get(doc, "activity_id")) != NULL &&
	    json_is_string(v))
		snprintf(r->activity_id, sizeof(r->activity_id), "%s",
		    json_string_value(v));
	if ((v = json_object_get(doc, "case_id")) != NULL && json_is_string(v))
		snprintf(r->case_id, sizeof(r->case_id), "%s",
		    json_string_value(v));
	json_decref(doc);
}

static void
webhook_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	struct webhook *w = state;
	struct response resp = { 0 };
	struct curl_slist *hdrs = NULL;
	char stamp[24], sig[72], line[300];
	long status = 0, retry = 0;
	char *body;
	CURLcode cc;

	if ((body = build_body(w, m, d)) == NULL) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "out of memory building "
		    "the request");
		return;
	}
	snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
	sign(w, stamp, body, sig);
	if (sig[0] == '\0') {
		free(body);
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "could not sign the "
		    "request");
		return;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	snprintf(line, sizeof(line), "Idempotency-Key: %s%s", w->idem, m->id);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Dvmilter-Id: %s", m->id);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Dvmilter-Timestamp: %s", stamp);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Dvmilter-Signature: %s", sig);
	hdrs = curl_slist_append(hdrs, line);
	hdrs = curl_slist_append(hdrs, "Expect:");

	setup(w);
	curl_easy_setopt(w->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(w->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(w->curl, CURLOPT_HEADERDATA, &retry);
	cc = curl_easy_perform(w->curl);
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	free(body);

	if (cc != CURLE_OK) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "%s: %s", w->url,
		    curl_easy_strerror(cc));
	} else if (status >= 200 && status <= 299) {
		r->status = DVP_OK;
		take_ids(&resp, r);
	} else {
		bool transient = status == 408 || status == 425 ||
		    status == 429 || status >= 500;
		size_t i = 0;
		char snippet[120] = "";

		for (; resp.p != NULL && i < resp.len && i < sizeof(snippet) - 1;
		    i++)
			snippet[i] = isprint((unsigned char)resp.p[i]) ?
			    resp.p[i] : ' ';
		snippet[i] = '\0';
		r->status = transient ? DVP_TRANSIENT : DVP_PERMANENT;
		r->retry_after = transient ? retry : 0;
		/* Throttled: the receiver means every request, not this one. */
		if ((status == 429 || status == 503) && retry > 0)
			r->pause_all = retry;
		snprintf(r->error, sizeof(r->error), "%s answered HTTP %ld%s%s",
		    w->url, status, snippet[0] ? ": " : "", snippet);
	}
	free(resp.p);
}

static const struct dvp_plugin webhook_plugin = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "webhook",
	.version = "1.0",
	.caps = DVP_CAP_ACTIVITY | DVP_CAP_NEEDS_BODY,
	.config_keys = webhook_keys,
	.init = webhook_init,
	.health = webhook_health,
	.deliver = webhook_deliver,
	.shutdown = webhook_shutdown,
};

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	(void)minor;
	return major == DVP_ABI_MAJOR ? &webhook_plugin : NULL;
}

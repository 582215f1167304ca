/*
 * test_webhook.c - the webhook plugin, loaded through the real plugin
 * loader, against a real HTTP server on 127.0.0.1; and, through the real
 * worker step, a server that throttles it pausing all its deliveries.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "deliver.h"
#include "httpd.h"
#include "plugin.h"
#include "pluginkv.h"
#include "status.h"
#include "store.h"

static const char SECRET[] = "0123456789abcdef-test-secret";

struct fx {
	char *dir;
	struct httpd h;
	struct conf *conf;
	struct plugin_set *set;
	const struct plugin_host_opts *opts;	/* NULL: DVP_MODE_CHECK */
};

static const char *
plugin_dir(void)
{
	static char d[1024];
	const char *b = getenv("top_builddir");

	snprintf(d, sizeof(d), "%s/plugins/webhook/.libs", b ? b : ".");
	return d;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

/* Load the plugin with extra config lines; returns the loader's status. */
static int
load(struct fx *f, const char *extra, const char **err)
{
	char text[4096], secret[600];

	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	/* The test server speaks plain HTTP on 127.0.0.1. */
	snprintf(text, sizeof(text),
	    "PluginDir %s\nPlugins webhook\n"
	    "Webhook.URL http://127.0.0.1:%d/hook\n"
	    "Webhook.SecretFile %s\nWebhook.Timeout 2\n%s"
	    "Webhook.AllowInsecure yes\n",
	    plugin_dir(), f->h.port, secret, extra ? extra : "");
	if (conf_parse_string("wh.conf", text, &f->conf, err) != 0)
		return DV_ECONF;
	return plugin_set_load(f->conf, f->opts, &f->set, err);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[600];

	if (f == NULL || (f->dir = scratch_dir()) == NULL ||
	    httpd_start(&f->h) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/secret", f->dir);
	write_file(path, SECRET, 0600);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	plugin_set_free(f->set);
	conf_unref(f->conf);
	httpd_stop(&f->h);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static const char *const rcpts[] = { "support@example.com" };
static const struct dvp_address from[] = { { "Ann Customer", "ann@ext.example" } };
static const struct dvp_address to[] = { { NULL, "support@example.com" } };
static const unsigned char pdf[] = "%PDF-1.4\n";
static const struct dvp_attachment att[] = {
	{ "a.pdf", "application/pdf", 9,
	    "b1f6fcbdd1b9b1d3bcb53a1bd3c9ab0f5cfc07ab8e2d1d0a1c1aa4bb2f1b2f3d",
	    pdf },
};
static const struct dvp_mailbox mbs[] = {
	{ .address = "support@example.com", .type = DVP_MAILBOX_QUEUE,
	    .folder = "acme", .regarding_type = "account",
	    .regarding_id = "ACME" },
};

static void
sample(struct dvp_message *m, struct dvp_decision *d)
{
	memset(m, 0, sizeof(*m));
	memset(d, 0, sizeof(*d));
	m->size = sizeof(*m);
	m->id = "0000000000000042";
	m->direction = DVP_INCOMING;
	m->received = 1795000000;
	m->queue_id = "4XyZ";
	m->envelope_from = "ann@ext.example";
	m->envelope_rcpts = rcpts;
	m->nrcpts = 1;
	m->message_id = "m1@ext.example";
	m->subject = "Printer on fire";
	m->from = from;
	m->nfrom = 1;
	m->to = to;
	m->nto = 1;
	m->text = "It is on fire.";
	m->attachments = att;
	m->nattachments = 1;
	d->size = sizeof(*d);
	d->mailboxes = mbs;
	d->nmailboxes = 1;
	d->mailbox_size = sizeof(mbs[0]);
	d->correlation = DVP_CORR_NONE;
}

static void
deliver(struct fx *f, struct dvp_result *r)
{
	struct dvp_message m;
	struct dvp_decision d;

	sample(&m, &d);
	plugin_deliver(plugin_set_get(f->set, 0), &m, &d, r);
}

static void
delivery_posts_signed_json_and_returns_ids(void **state)
{
	struct fx *f = *state;
	struct dvp_result r;
	const char *err;
	char stamp[64], sig[128], idem[64], want[80];
	unsigned char md[64];
	unsigned int mdlen;
	json_t *body;
	char *msg;

	assert_int_equal(load(f, NULL, &err), 0);
	httpd_respond(&f->h, 201, NULL,
	    "{\"activity_id\":\"act-7\",\"case_id\":\"CAS-01001\"}", 0);
	deliver(f, &r);
	assert_int_equal(r.status, DVP_OK);
	assert_string_equal(r.activity_id, "act-7");
	assert_string_equal(r.case_id, "CAS-01001");

	assert_string_equal(f->h.last.method, "POST");
	assert_string_equal(f->h.last.path, "/hook");
	assert_non_null(httpd_header(&f->h, "Idempotency-Key", idem,
	    sizeof(idem)));
	assert_string_equal(idem, "0000000000000042");
	assert_non_null(httpd_header(&f->h, "X-Dvmilter-Timestamp", stamp,
	    sizeof(stamp)));
	assert_non_null(httpd_header(&f->h, "X-Dvmilter-Signature", sig,
	    sizeof(sig)));
	/* The receiver's check: HMAC-SHA256(secret, stamp "." body). */
	assert_true(asprintf(&msg, "%s.%s", stamp, f->h.last.body) > 0);
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (unsigned char *)msg, strlen(msg), md, &mdlen);
	free(msg);
	memcpy(want, "v1=", 4);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 3 + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(sig, want);

	body = json_loads(f->h.last.body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "id")),
	    "0000000000000042");
	assert_string_equal(json_string_value(json_object_get(body, "subject")),
	    "Printer on fire");
	assert_string_equal(json_string_value(json_object_get(body,
	    "direction")), "incoming");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(body, "mailboxes"), 0), "folder")), "acme");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(body, "mailboxes"), 0), "regarding"),
	    "id")), "ACME");
	assert_null(json_object_get(json_array_get(json_object_get(body,
	    "attachments"), 0), "content_base64"));
	json_decref(body);
}

/* A message that reused an earlier one's Message-ID says which (2.1). */
static void
a_collision_is_sent_as_collided_with(void **state)
{
	struct fx *f = *state;
	struct dvp_message m;
	struct dvp_decision d;
	struct dvp_result r;
	const char *err;
	json_t *body;

	assert_int_equal(load(f, NULL, &err), 0);
	httpd_respond(&f->h, 201, NULL, "{}", 0);
	sample(&m, &d);
	deliver(f, &r);
	body = json_loads(f->h.last.body, 0, NULL);
	assert_non_null(body);
	assert_true(json_is_null(json_object_get(body, "collided_with")));
	json_decref(body);
	d.collided_with = "0000000000000017";
	plugin_deliver(plugin_set_get(f->set, 0), &m, &d, &r);
	assert_int_equal(r.status, DVP_OK);
	body = json_loads(f->h.last.body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body,
	    "collided_with")), "0000000000000017");
	json_decref(body);
}

/*
 * Header values are data: quotes, backslashes, a forged JSON member,
 * CR LF, controls, markup and invalid UTF-8 come back from the payload
 * as the strings they were, and add no member of their own. The
 * authentication verdict and what a cap left out are sent too.
 */
static void
hostile_header_values_stay_json_strings(void **state)
{
	struct fx *f = *state;
	static const char subj[] = "x\", \"admin\": true, \"y\": \"\\\r\n"
	    "Bcc: all@example.com\x01\x1b[2J</script><script>alert(1)</script>";
	static const struct dvp_address evil[] = {
		{ "\"}]}, {\"name\": \"Mallory", "m\"@evil.example" } };
	struct dvp_message m;
	struct dvp_decision d;
	struct dvp_result r;
	const char *err;
	json_t *body;

	assert_int_equal(load(f, NULL, &err), 0);
	httpd_respond(&f->h, 201, NULL, "{\"activity_id\":\"a\"}", 0);
	sample(&m, &d);
	m.subject = subj;
	m.message_id = "id\"}{@evil.example";
	m.from = evil;
	m.omitted = "parts past MaxMessageParts (1000)";
	d.auth_dmarc = DVP_DMARC_FAIL;
	d.auth_id = "mx.example.com";
	plugin_deliver(plugin_set_get(f->set, 0), &m, &d, &r);
	assert_int_equal(r.status, DVP_OK);
	body = json_loads(f->h.last.body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body,
	    "subject")), subj);
	assert_null(json_object_get(body, "admin"));
	assert_string_equal(json_string_value(json_object_get(body,
	    "message_id")), "id\"}{@evil.example");
	assert_int_equal(json_array_size(json_object_get(body, "from")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(body, "from"), 0), "name")), evil[0].name);
	assert_null(strchr(f->h.last.body, '\x1b'));	/* escaped: \u001b */
	assert_null(strstr(f->h.last.body, "</script>"));	/* <\/script> */
	assert_string_equal(json_string_value(json_object_get(body,
	    "omitted")), "parts past MaxMessageParts (1000)");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    body, "authentication"), "dmarc")), "fail");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    body, "authentication"), "authserv_id")), "mx.example.com");
	json_decref(body);
}

static void
tampered_body_fails_the_signature(void **state)
{
	struct fx *f = *state;
	struct dvp_result r;
	const char *err;
	char stamp[64], sig[128], want[80];
	unsigned char md[64];
	unsigned int mdlen;
	char *msg;

	assert_int_equal(load(f, NULL, &err), 0);
	deliver(f, &r);
	httpd_header(&f->h, "X-Dvmilter-Timestamp", stamp, sizeof(stamp));
	httpd_header(&f->h, "X-Dvmilter-Signature", sig, sizeof(sig));
	f->h.last.body[10] ^= 1;
	assert_true(asprintf(&msg, "%s.%s", stamp, f->h.last.body) > 0);
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (unsigned char *)msg, strlen(msg), md, &mdlen);
	free(msg);
	memcpy(want, "v1=", 4);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 3 + 2 * i, 3, "%02x", md[i]);
	assert_string_not_equal(sig, want);
}

static void
attachments_included_on_request(void **state)
{
	struct fx *f = *state;
	struct dvp_result r;
	const char *err;
	json_t *body;

	assert_int_equal(load(f, "Webhook.IncludeAttachments yes\n", &err), 0);
	deliver(f, &r);
	assert_int_equal(r.status, DVP_OK);
	body = json_loads(f->h.last.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(body, "attachments"), 0), "content_base64")),
	    "JVBERi0xLjQK");
	json_decref(body);
}

struct status_case {
	int http;
	const char *headers;
	int want;
	long retry;
	long pause;		/* for all its deliveries */
};

static void
http_statuses_map_to_transient_or_permanent(void **state)
{
	static const struct status_case cases[] = {
		{ 200, NULL, DVP_OK, 0, 0 },
		{ 204, NULL, DVP_OK, 0, 0 },
		{ 500, NULL, DVP_TRANSIENT, 0, 0 },
		{ 500, "Retry-After: 30\r\n", DVP_TRANSIENT, 30, 0 },
		{ 503, "Retry-After: 120\r\n", DVP_TRANSIENT, 120, 120 },
		{ 503, NULL, DVP_TRANSIENT, 0, 0 },
		{ 429, "Retry-After: 7\r\n", DVP_TRANSIENT, 7, 7 },
		{ 429, NULL, DVP_TRANSIENT, 0, 0 },
		{ 408, NULL, DVP_TRANSIENT, 0, 0 },
		{ 400, NULL, DVP_PERMANENT, 0, 0 },
		{ 401, NULL, DVP_PERMANENT, 0, 0 },
		{ 404, NULL, DVP_PERMANENT, 0, 0 },
		{ 301, "Location: http://127.0.0.1:1/\r\n", DVP_PERMANENT, 0, 0 },
	};
	struct fx *f = *state;
	const char *err;

	assert_int_equal(load(f, NULL, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dvp_result r;

		httpd_respond(&f->h, cases[i].http, cases[i].headers,
		    "{\"error\":\"x\"}", 0);
		deliver(f, &r);
		if (r.status != cases[i].want || r.retry_after != cases[i].retry ||
		    r.pause_all != cases[i].pause)
			fail_msg("HTTP %d: status %d retry %lld pause %lld (%s)",
			    cases[i].http, r.status, (long long)r.retry_after,
			    (long long)r.pause_all, r.error);
		if (r.status != DVP_OK && strstr(r.error, "answered HTTP") == NULL)
			fail_msg("HTTP %d: error \"%s\"", cases[i].http, r.error);
	}
}

static void
refused_connection_is_transient(void **state)
{
	struct fx *f = *state;
	struct dvp_result r;
	char msg[256];
	const char *err;

	assert_int_equal(load(f, NULL, &err), 0);
	assert_int_equal(plugin_health(plugin_set_get(f->set, 0), msg,
	    sizeof(msg)), DVP_OK);
	httpd_stop(&f->h);		/* nobody listens any more */
	f->h.fd = -1;
	deliver(f, &r);
	assert_int_equal(r.status, DVP_TRANSIENT);
	assert_non_null(strstr(r.error, "127.0.0.1"));
	assert_int_equal(plugin_health(plugin_set_get(f->set, 0), msg,
	    sizeof(msg)), DVP_TRANSIENT);
	assert_true(strlen(msg) > 0);
	httpd_start(&f->h);		/* for teardown */
}

static void
slow_server_times_out_transient(void **state)
{
	struct fx *f = *state;
	struct dvp_result r;
	const char *err;

	assert_int_equal(load(f, "", &err), 0);
	httpd_respond(&f->h, 200, NULL, "{}", 3500);
	deliver(f, &r);
	assert_int_equal(r.status, DVP_TRANSIENT);
	assert_non_null(strstr(r.error, "imeout"));
}

/* A delivery of @id to @plugin as it stands. */
static struct outbox_delivery
delivery(struct outbox *ob, struct store *st, uint64_t id, const char *plugin)
{
	struct outbox_delivery d[4];
	struct store_txn *t;
	const char *err;
	size_t n = 0;

	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(outbox_deliveries(ob, t, id, d, 4, &n, &err), 0);
	store_txn_abort(t);
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].plugin, plugin) == 0)
			return d[i];
	fail_msg("entry %llu has no delivery to %s", (unsigned long long)id,
	    plugin);
	return d[0];
}

/* A worker's store and plugins: webhook, then the kvtest plugin. */
struct wfx {
	struct store *st;
	struct conf *c;
	struct deliver_opts o;
	struct plugin_set *ps;
};

static void
wfx_open(struct fx *f, struct wfx *w)
{
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	const char *top = getenv("top_builddir"), *err;
	char cmd[4096], text[4096];

	static char p_webhook[] = "webhook", p_kvtest[] = "kvtest";
	char *const both[] = { p_webhook, p_kvtest, NULL };

	memset(w, 0, sizeof(*w));
	/* One PluginDir for both, with safe modes. */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/pl && cp %s/webhook.so "
	    "%s/tests/plugins/.libs/kvtest.so %s/pl/ && chmod 755 %s/pl/*.so",
	    f->dir, plugin_dir(), top ? top : ".", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(text, sizeof(text), "PluginDir %s/pl\nPlugins webhook kvtest\n"
	    "Webhook.URL http://127.0.0.1:%d/hook\n"
	    "Webhook.SecretFile %s/secret\nWebhook.Timeout 2\n"
	    "Webhook.AllowInsecure yes\n", f->dir, f->h.port, f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &w->c, &err), 0);
	snprintf(text, sizeof(text), "%s/db", f->dir);
	assert_int_equal(store_open(text, &so, &w->st, &err), 0);
	assert_int_equal(outbox_open(w->st, &(const struct outbox_opts){
	    .plugins = both }, &w->o.outbox, &err), 0);
	w->o.policy = (struct retry_policy)RETRY_POLICY_DEFAULT;
	w->o.kv = pluginkv_new(w->st);
	if (plugin_set_load(w->c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = w->st, .kv = w->o.kv },
	    &w->ps, &err) != 0)
		fail_msg("%s", err);
}

static void
wfx_close(struct wfx *w)
{
	plugin_set_free(w->ps);
	pluginkv_free(w->o.kv);
	outbox_close(w->o.outbox);
	store_close(w->st);
	conf_unref(w->c);
}

static uint64_t
queue_for_both(struct wfx *w, const char *subject)
{
	struct outbox_item it = { .received = 1000 };
	struct store_txn *t;
	const char *err;
	char raw[200];
	uint64_t id;

	snprintf(raw, sizeof(raw), "Subject: %s\r\n\r\nbody\r\n", subject);
	it.raw = raw;
	it.raw_len = strlen(raw);
	assert_int_equal(store_txn_begin(w->st, true, &t, &err), 0);
	assert_int_equal(outbox_put(w->o.outbox, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	return id;
}

static int
wstep(struct wfx *w, int64_t now)
{
	const char *err;
	int64_t next;
	int did;

	assert_int_equal(deliver_next(w->st, w->ps, &w->o, now, &did, &next,
	    &err), 0);
	return did;
}

/*
 * A 429 with Retry-After holds back every delivery to the webhook for
 * that long, unattempted and with their attempts unspent, and no other
 * plugin's; after the pause they all go.
 */
static void
retry_after_pauses_all_the_plugins_deliveries_and_only_its(void **state)
{
	struct fx *f = *state;
	struct outbox_delivery d;
	struct wfx w;
	uint64_t id[3];

	wfx_open(f, &w);
	httpd_respond(&f->h, 429, "Retry-After: 120\r\n", "{}", 0);
	for (int i = 0; i < 3; i++)
		id[i] = queue_for_both(&w, "throttled");
	assert_int_equal(wstep(&w, 2000), 6);
	assert_int_equal(f->h.requests, 1);	/* one asked, one answer */
	d = delivery(w.o.outbox, w.st, id[0], "webhook");
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.attempts, 1);
	assert_true(d.next_at >= 2120);
	for (int i = 1; i < 3; i++) {
		d = delivery(w.o.outbox, w.st, id[i], "webhook");
		assert_int_equal(d.attempts, 0);
		assert_true(d.next_at >= 2120 && d.next_at <= 2122);
		assert_non_null(strstr(d.last_error, "held back"));
		assert_non_null(strstr(d.last_error, "answered HTTP 429"));
	}
	for (int i = 0; i < 3; i++)		/* the other plugin went on */
		assert_int_equal(delivery(w.o.outbox, w.st, id[i],
		    "kvtest").state, OUTBOX_DONE);
	assert_int_equal(wstep(&w, 2060), 0);	/* still paused */
	assert_int_equal(f->h.requests, 1);

	httpd_respond(&f->h, 200, NULL, "{}", 0);
	for (int64_t now = 2122; now < 9000; now += 60)
		while (wstep(&w, now) > 0)
			;
	for (int i = 0; i < 3; i++) {
		d = delivery(w.o.outbox, w.st, id[i], "webhook");
		assert_int_equal(d.state, OUTBOX_DONE);
		assert_int_equal(d.attempts, i == 0 ? 2 : 1);
	}
	wfx_close(&w);
}

struct cfg_case {
	const char *extra;
	const char *msg;
};

static void
bad_configuration_names_plugin_and_reason(void **state)
{
	struct fx *f = *state;
	char text[2048], path[700];
	const char *err;

	/* Missing required keys. */
	snprintf(text, sizeof(text), "PluginDir %s\nPlugins webhook\n",
	    plugin_dir());
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "plugin webhook ("));
	assert_non_null(strstr(err, "webhook.so): init failed: Webhook.URL and "
	    "Webhook.SecretFile are required"));
	conf_unref(f->conf);
	f->conf = NULL;

	/* A typo in a key is an error with file and line. */
	assert_int_equal(load(f, "Webhook.Timout 5\n", &err), DV_ECONF);
	assert_non_null(strstr(err, "wh.conf:6: unknown key \"webhook.Timout\""));
	conf_unref(f->conf);
	f->conf = NULL;

	/* Bad values. */
	assert_int_equal(load(f, "Webhook.IncludeAttachments maybe\n", &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "init failed: wh.conf:6: "
	    "Webhook.IncludeAttachments: \"maybe\" is not yes or no"));
	conf_unref(f->conf);
	f->conf = NULL;

	/* A world-readable secret is refused. */
	snprintf(path, sizeof(path), "%s/secret", f->dir);
	chmod(path, 0644);
	assert_int_equal(load(f, NULL, &err), DV_ECONF);
	assert_non_null(strstr(err, "Webhook.SecretFile: "));
	assert_non_null(strstr(err, "mode 0644 lets others read a secret"));
	chmod(path, 0600);
	conf_unref(f->conf);
	f->conf = NULL;

	/* A key for a plugin that is not listed. */
	snprintf(text, sizeof(text), "Plugins webhook\nLocal.Thing 1\n");
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "wh.conf:2: local.Thing is for plugin \"local\", which Plugins does not list"));
	f->conf = NULL;
}

static void
loader_refuses_unsafe_or_missing_files(void **state)
{
	struct fx *f = *state;
	char text[2048], cmd[2048];
	const char *err;

	snprintf(text, sizeof(text), "PluginDir %s\nPlugins nosuch\n", f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "plugin nosuch ("));
	assert_non_null(strstr(err, "/nosuch.so): No such file"));
	conf_unref(f->conf);
	f->conf = NULL;

	/* A copy anyone may overwrite is not loaded. */
	snprintf(cmd, sizeof(cmd), "cp %s/webhook.so %s/webhook.so && "
	    "chmod 666 %s/webhook.so", plugin_dir(), f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(text, sizeof(text), "PluginDir %s\nPlugins webhook\n", f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "writable by group or others"));
	conf_unref(f->conf);
	f->conf = NULL;

	/* A shared object that is not a dvmilter plugin. */
	snprintf(cmd, sizeof(cmd), "cp \"$(ldd /bin/sh | awk '/libc.so/ {print "
	    "$3}')\" %s/libc.so && chmod 644 %s/libc.so", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(text, sizeof(text), "PluginDir %s\nPlugins libc\n", f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "not a dvmilter plugin"));
}

/* Without Webhook.AllowInsecure the URL must be https://. */
static void
plain_http_refused_unless_allow_insecure(void **state)
{
	struct fx *f = *state;
	char text[2048];
	const char *err;

	snprintf(text, sizeof(text), "PluginDir %s\nPlugins webhook\n"
	    "Webhook.URL http://127.0.0.1:%d/hook\nWebhook.SecretFile "
	    "%s/secret\n", plugin_dir(), f->h.port, f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err),
	    DV_ECONF);
	assert_non_null(strstr(err, "init failed: Webhook.URL http://127.0.0.1"));
	assert_non_null(strstr(err, "is not https://"));
	assert_non_null(strstr(err, "set Webhook.AllowInsecure yes"));
	conf_unref(f->conf);
	f->conf = NULL;
	/* https:// needs nothing more (init does not connect). */
	snprintf(text, sizeof(text), "PluginDir %s\nPlugins webhook\n"
	    "Webhook.URL https://127.0.0.1:%d/hook\nWebhook.SecretFile "
	    "%s/secret\n", plugin_dir(), f->h.port, f->dir);
	assert_int_equal(conf_parse_string("wh.conf", text, &f->conf, &err), 0);
	assert_int_equal(plugin_set_load(f->conf, NULL, &f->set, &err), 0);
}

/* The Idempotency-Key of one entry id differs between two stores, as
 * between a store and the one made again after it was removed. */
static void
idempotency_key_unique_across_stores(void **state)
{
	struct fx *f = *state;
	struct store_opts so = { .create = true };
	struct store *st[2];
	char path[2][700], idem[2][128], want[160];
	struct dvp_result r;
	const char *err;

	for (int i = 0; i < 2; i++) {
		struct plugin_host_opts o = { .mode = DVP_MODE_WORKER };

		snprintf(path[i], sizeof(path[i]), "%s/db%d", f->dir, i);
		assert_int_equal(store_open(path[i], &so, &st[i], &err), 0);
		assert_int_equal(strlen(store_instance(st[i])),
		    STORE_INSTANCE_LEN);
		o.store = st[i];
		f->opts = &o;
		assert_int_equal(load(f, NULL, &err), 0);
		httpd_respond(&f->h, 201, NULL, "{}", 0);
		deliver(f, &r);
		assert_int_equal(r.status, DVP_OK);
		assert_non_null(httpd_header(&f->h, "Idempotency-Key", idem[i],
		    sizeof(idem[i])));
		snprintf(want, sizeof(want), "%s-0000000000000042",
		    store_instance(st[i]));
		assert_string_equal(idem[i], want);
		plugin_set_free(f->set);
		f->set = NULL;
		conf_unref(f->conf);
		f->conf = NULL;
		f->opts = NULL;
	}
	assert_string_not_equal(idem[0], idem[1]);
	/* The identity is kept: the same store, opened again, has it. */
	snprintf(want, sizeof(want), "%s", store_instance(st[0]));
	store_close(st[0]);
	assert_int_equal(store_open(path[0], &so, &st[0], &err), 0);
	assert_string_equal(store_instance(st[0]), want);
	store_close(st[0]);
	store_close(st[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    delivery_posts_signed_json_and_returns_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    plain_http_refused_unless_allow_insecure, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    idempotency_key_unique_across_stores, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    hostile_header_values_stay_json_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered_body_fails_the_signature,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_collision_is_sent_as_collided_with, setup, teardown),
		cmocka_unit_test_setup_teardown(attachments_included_on_request,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    http_statuses_map_to_transient_or_permanent, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connection_is_transient,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(slow_server_times_out_transient,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    bad_configuration_names_plugin_and_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    loader_refuses_unsafe_or_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    retry_after_pauses_all_the_plugins_deliveries_and_only_its,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

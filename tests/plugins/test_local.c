/*
 * test_local.c - the local plugin through the real worker step
 * (deliver_next, with correlation and tracking tokens), the real loader,
 * a real LMDB store and a real SMTP conversation with a sink on
 * 127.0.0.1: cases are created, replies attach by In-Reply-To or token,
 * forged tokens do not, resolved cases reopen or spawn linked cases, and
 * the auto-reply follows RFC 3834 and its rate limit. Contacts are
 * known senders, also in a store made before the known-senders index.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include <lmdb.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "deliver.h"
#include "mdigest.h"
#include "known.h"
#include "pluginkv.h"
#include "smtpsink.h"
#include "status.h"
#include "store_int.h"

static char p_local[] = "local";
static char *const plugins[] = { p_local, NULL };
static const struct token_key KEY = { "local-test-key-0123456789abcdef", 31 };
static const struct token_key OTHER = { "someone-elses-key-0123456789abc", 31 };

#define QUEUE_DEC "{\"direction\":\"incoming\",\"mailboxes\":[{\"address\":" \
	"\"support@example.com\",\"type\":\"queue\",\"role\":\"recipient\"}]}"
#define BOTH_DEC "{\"direction\":\"incoming\",\"mailboxes\":[{\"address\":" \
	"\"support@example.com\",\"type\":\"queue\",\"role\":\"recipient\"}," \
	"{\"address\":\"alice@example.com\",\"type\":\"user\",\"role\":" \
	"\"recipient\"}]}"

struct fx {
	char *dir;
	struct store *st;
	struct conf *c;
	struct plugin_set *ps;
	struct deliver_opts o;
	struct smtpsink sink;
};

static struct fx F;

static void
set_json(const char *key, const char *json)
{
	struct store_txn *t;
	const char *err;

	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(pluginkv_txn_put(t, "local", key, json, strlen(json),
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

static json_t *
get_json(const char *key)
{
	struct store_txn *t;
	const char *err;
	const void *v;
	size_t len;
	json_t *o = NULL;

	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	if (pluginkv_txn_get(t, "local", key, &v, &len, &err) == 0)
		o = json_loadb(v, len, 0, NULL);
	store_txn_abort(t);
	return o;
}

/* Whether @key has a value at all, JSON or not. */
static bool
exists(const char *key)
{
	struct store_txn *t;
	const char *err;
	const void *v;
	size_t len;
	bool found;

	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	found = pluginkv_txn_get(t, "local", key, &v, &len, &err) == 0;
	store_txn_abort(t);
	return found;
}

static int
setup(void **state, const char *extra, int port)
{
	char path[300], text[2000];
	struct store_opts so = { .mapsize = 32 << 20, .create = true };
	const char *top = getenv("top_builddir"), *err;

	(void)state;
	memset(&F, 0, sizeof(F));
	assert_int_equal(smtpsink_start(&F.sink), 0);
	F.dir = scratch_dir();
	snprintf(path, sizeof(path), "%s/db", F.dir);
	assert_int_equal(store_open(path, &so, &F.st, &err), 0);
	assert_int_equal(outbox_open(F.st, &(const struct outbox_opts){
	    .plugins = plugins }, &F.o.outbox, &err), 0);
	snprintf(text, sizeof(text), "PluginDir %s/plugins/local/.libs\n"
	    "Plugins local\nLocal.SubmissionURL smtp://127.0.0.1:%d\n%s",
	    top ? top : ".", port ? port : F.sink.port, extra);
	assert_int_equal(conf_parse_string("local.conf", text, &F.c, &err), 0);
	F.o.policy = (struct retry_policy)RETRY_POLICY_DEFAULT;
	F.o.key = &KEY;
	F.o.token_prefix = "CRM:";
	F.o.kv = pluginkv_new(F.st);
	if (plugin_set_load(F.c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = F.st,
	    .kv = F.o.kv }, &F.ps, &err) != 0)
		fail_msg("%s", err);
	set_json("caserule/support@example.com", "{\"queue\":"
	    "\"support@example.com\",\"create_contact\":true,"
	    "\"reopen_days\":7,\"auto_reply\":true}");
	return 0;
}

/* The sink speaks plain SMTP: STARTTLS is not required here. */
#define PLAIN "Local.SubmissionAllowPlain yes\n"

static int
setup_default(void **state)
{
	return setup(state, PLAIN "Local.AutoReplyLimit 2\n"
	    "Local.AutoReplyRetryDelay 1s\n", 0);
}

/* Port 1: nothing listens there, so every connection is refused. */
static int
setup_dead_smtp(void **state)
{
	return setup(state, PLAIN, 1);
}

/* The defaults: smtp:// must be upgraded by STARTTLS. */
static int
setup_tls_required(void **state)
{
	return setup(state, "Local.AutoReplyTries 1\n", 0);
}

/* A short SMTPTimeout, for a server that says nothing. */
static int
setup_short_timeout(void **state)
{
	return setup(state, PLAIN "Local.SMTPTimeout 2s\n"
	    "Local.AutoReplyRetryDelay 1s\n", 0);
}

static int
setup_two_tries(void **state)
{
	return setup(state, PLAIN "Local.AutoReplyTries 2\n"
	    "Local.AutoReplyRetryDelay 1s\n", 0);
}

/* Limits per address, per domain and in all, each in its own test. */
static int
setup_domain_limit(void **state)
{
	return setup(state, PLAIN "Local.AutoReplyLimit 1\n"
	    "Local.AutoReplyDomainLimit 2\nLocal.AutoReplyGlobalLimit 0\n", 0);
}

static int
setup_global_limit(void **state)
{
	return setup(state, PLAIN "Local.AutoReplyGlobalLimit 3\n", 0);
}

static int
teardown(void **state)
{
	(void)state;
	plugin_set_free(F.ps);
	pluginkv_free(F.o.kv);
	outbox_close(F.o.outbox);
	conf_unref(F.c);
	store_close(F.st);
	smtpsink_stop(&F.sink);
	rm_tree(F.dir);
	return 0;
}

/* A content digest of @raw, as the milter gives one (the text whole). */
static const char *
digest_of(const char *raw, char hex[MDIGEST_HEX])
{
	struct mdigest *d;

	assert_int_equal(mdigest_new(&d), 0);
	mdigest_body(d, raw, strlen(raw));
	assert_int_equal(mdigest_final(d, hex), 0);
	mdigest_free(d);
	return hex;
}

/* Queue one message and run the worker until nothing is due. */
static uint64_t
track(const char *from, const char *msgid, const char *subject,
    const char *extra_headers, const char *decision)
{
	char raw[4000], hex[MDIGEST_HEX];
	struct outbox_item it = { .received = (int64_t)time(NULL) };
	struct store_txn *t;
	const char *err;
	uint64_t id;
	int64_t next;
	int did;

	snprintf(raw, sizeof(raw), "From: Customer <%s>\r\n"
	    "To: support@example.com\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
	    "%s\r\nPlease help.\r\n", from, subject, msgid,
	    extra_headers ? extra_headers : "");
	it.raw = raw;
	it.raw_len = strlen(raw);
	it.envelope_from = from;
	it.message_id = msgid;
	it.digest = digest_of(raw, hex);
	it.decision = decision ? decision : QUEUE_DEC;
	it.direction = strstr(it.decision, "\"outgoing\"") != NULL;
	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(outbox_put(F.o.outbox, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	do {
		assert_int_equal(deliver_next(F.st, F.ps, &F.o,
		    (int64_t)time(NULL) + 1, &did, &next, &err), 0);
	} while (did);
	return id;
}

static json_t *
activity(uint64_t id)
{
	char key[64];

	snprintf(key, sizeof(key), "activity/%016llx", (unsigned long long)id);
	return get_json(key);
}

static const char *
jget(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "(null)";
}

/* The case of an activity, by its id. */
static json_t *
case_of(uint64_t id)
{
	json_t *a = activity(id), *c;
	char key[80];

	assert_non_null(a);
	snprintf(key, sizeof(key), "case/%s", jget(a, "case"));
	json_decref(a);
	c = get_json(key);
	assert_non_null(c);
	return c;
}

static void
a_new_mail_creates_a_case_and_one_acknowledgement(void **state)
{
	json_t *a, *c, *ct;
	uint64_t id;

	(void)state;
	id = track("ann@ext.example", "a1@ext.example", "Printer on fire",
	    NULL, NULL);
	a = activity(id);
	assert_non_null(a);
	assert_string_equal(jget(a, "direction"), "incoming");
	assert_string_equal(jget(a, "correlation"), "none");
	assert_string_equal(jget(a, "from"), "ann@ext.example");
	assert_string_equal(jget(a, "message_id"), "a1@ext.example");
	assert_string_equal(json_string_value(json_array_get(json_object_get(a,
	    "mailboxes"), 0)), "support@example.com");
	assert_string_equal(jget(json_object_get(a, "regarding"), "type"),
	    "incident");
	assert_non_null(strstr(jget(a, "headers"),
	    "Message-ID: <a1@ext.example>\r\n"));
	assert_null(strstr(jget(a, "headers"), "Please help"));
	c = case_of(id);
	assert_string_equal(jget(c, "number"), "CAS-01001");
	assert_string_equal(jget(c, "status"), "active");
	assert_string_equal(jget(c, "title"), "Printer on fire");
	assert_string_equal(jget(c, "queue"), "support@example.com");
	assert_string_equal(jget(c, "customer"), "ann@ext.example");
	assert_string_equal(jget(c, "auto_reply"), "sent");
	assert_int_equal(strncmp(jget(c, "tracking_token"), "CRM:", 4), 0);
	assert_int_equal(json_array_size(json_object_get(c, "activities")), 1);
	ct = get_json("contact/ann@ext.example");
	assert_non_null(ct);
	assert_string_equal(jget(ct, "name"), "Customer");

	assert_int_equal(smtpsink_count(&F.sink), 1);
	assert_string_equal(F.sink.msgs[0].mail_from, "<>");
	assert_string_equal(F.sink.msgs[0].rcpt, "<ann@ext.example>");
	assert_non_null(strstr(F.sink.msgs[0].data, "Subject: [CAS-01001] "
	    "Received: Printer on fire CRM:"));
	assert_non_null(strstr(F.sink.msgs[0].data, jget(c, "tracking_token")));
	assert_non_null(strstr(F.sink.msgs[0].data,
	    "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(F.sink.msgs[0].data,
	    "In-Reply-To: <a1@ext.example>\r\n"));
	json_decref(a);
	json_decref(c);
	json_decref(ct);
}

static void
replies_attach_by_in_reply_to_and_by_token_but_not_forged(void **state)
{
	char subj[200], forged[64];
	json_t *c, *c2, *a;
	uint64_t first, r1, r2, r3;

	(void)state;
	first = track("ann@ext.example", "b1@ext.example", "Broken", NULL,
	    NULL);
	c = case_of(first);
	r1 = track("ann@ext.example", "b2@ext.example", "Re: Broken",
	    "In-Reply-To: <b1@ext.example>\r\n", NULL);
	c2 = case_of(r1);
	assert_string_equal(jget(c2, "id"), jget(c, "id"));
	a = activity(r1);
	assert_string_equal(jget(a, "correlation"), "in-reply-to");
	json_decref(a);
	json_decref(c2);

	snprintf(subj, sizeof(subj), "Still broken %s",
	    jget(c, "tracking_token"));
	r2 = track("ann@ext.example", "b3@ext.example", subj, NULL, NULL);
	c2 = case_of(r2);
	assert_string_equal(jget(c2, "id"), jget(c, "id"));
	assert_int_equal(json_array_size(json_object_get(c2, "activities")), 3);
	a = activity(r2);
	assert_string_equal(jget(a, "correlation"), "tracking-token");
	json_decref(a);
	json_decref(c2);
	/* Replies are never acknowledged. */
	assert_int_equal(smtpsink_count(&F.sink), 1);

	/* The same case number under someone else's key. */
	assert_int_equal(token_make(&OTHER, "CRM:", first, forged,
	    sizeof(forged)), 0);
	snprintf(subj, sizeof(subj), "Give me %s", forged);
	r3 = track("mallory@evil.example", "b4@evil.example", subj, NULL,
	    NULL);
	c2 = case_of(r3);
	assert_string_not_equal(jget(c2, "id"), jget(c, "id"));
	assert_string_equal(jget(c2, "number"), "CAS-01002");
	a = activity(r3);
	assert_string_equal(jget(a, "correlation"), "none");
	json_decref(a);
	json_decref(c2);
	json_decref(c);
}

static void
auto_submitted_and_list_mail_get_no_reply(void **state)
{
	json_t *c;
	uint64_t id;

	(void)state;
	id = track("robot@ext.example", "c1@ext.example", "Out of office",
	    "Auto-Submitted: auto-replied\r\n", NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"),
	    "not sent: the message is Auto-Submitted");
	json_decref(c);
	id = track("list@ext.example", "c2@ext.example", "Newsletter",
	    "Precedence: bulk\r\n", NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"), "not sent: Precedence bulk");
	json_decref(c);
	id = track("list@ext.example", "c3@ext.example", "Digest",
	    "List-Id: <news.ext.example>\r\n", NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"),
	    "not sent: mailing list mail (List-Id)");
	json_decref(c);
	id = track("human@ext.example", "c4@ext.example", "Explicitly not",
	    "Auto-Submitted: no\r\n", NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"), "sent");
	json_decref(c);
	assert_int_equal(smtpsink_count(&F.sink), 1);
}

static void
auto_replies_are_rate_limited_per_sender(void **state)
{
	char mid[64];
	json_t *c;
	uint64_t id = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(mid, sizeof(mid), "d%d@ext.example", i);
		id = track("chatty@ext.example", mid, "Another thing", NULL,
		    NULL);
	}
	c = case_of(id);
	assert_string_equal(jget(c, "number"), "CAS-01003");
	assert_string_equal(jget(c, "auto_reply"),
	    "not sent: rate limit for the sender");
	/* A subaddress is the same sender. */
	id = track("chatty+4@ext.example", "d4@ext.example", "More", NULL,
	    NULL);
	json_decref(c);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"),
	    "not sent: rate limit for the sender");
	json_decref(c);
	assert_int_equal(smtpsink_count(&F.sink), 2);	/* AutoReplyLimit 2 */
}

static void
resolved_cases_reopen_within_the_window_else_a_linked_case(void **state)
{
	char key[80], rec[2000];
	json_t *c, *c2;
	uint64_t first, id;
	char *s;

	(void)state;
	first = track("ann@ext.example", "e1@ext.example", "Lost parcel", NULL,
	    NULL);
	c = case_of(first);
	/* Resolved an hour ago: a reply reopens it. */
	json_object_set_new(c, "status", json_string("resolved"));
	json_object_set_new(c, "resolved_at", json_integer(time(NULL) - 3600));
	snprintf(key, sizeof(key), "case/%s", jget(c, "id"));
	s = json_dumps(c, JSON_COMPACT);
	snprintf(rec, sizeof(rec), "%s", s);
	free(s);
	set_json(key, rec);
	id = track("ann@ext.example", "e2@ext.example", "Re: Lost parcel",
	    "In-Reply-To: <e1@ext.example>\r\n", NULL);
	c2 = case_of(id);
	assert_string_equal(jget(c2, "id"), jget(c, "id"));
	assert_string_equal(jget(c2, "status"), "active");
	json_decref(c2);

	/* Resolved thirty days ago: a new case linked to the old one. */
	json_object_set_new(c, "status", json_string("resolved"));
	json_object_set_new(c, "resolved_at",
	    json_integer(time(NULL) - 30 * 86400));
	s = json_dumps(c, JSON_COMPACT);
	snprintf(rec, sizeof(rec), "%s", s);
	free(s);
	set_json(key, rec);
	id = track("ann@ext.example", "e3@ext.example", "Re: Lost parcel",
	    "In-Reply-To: <e1@ext.example>\r\n", NULL);
	c2 = case_of(id);
	assert_string_not_equal(jget(c2, "id"), jget(c, "id"));
	assert_string_equal(jget(c2, "parent_case"), jget(c, "id"));
	assert_string_equal(jget(c2, "status"), "active");
	json_decref(c2);
	json_decref(c);
}

static void
one_message_for_two_mailboxes_is_one_activity(void **state)
{
	json_t *a, *c;
	uint64_t id, again;

	(void)state;
	id = track("ann@ext.example", "f1@ext.example", "For both", NULL,
	    NULL);
	/* The same message again, in another transaction, for alice too. */
	again = track("ann@ext.example", "f1@ext.example", "For both", NULL,
	    BOTH_DEC);
	assert_int_equal(again, id);
	a = activity(id);
	assert_int_equal(json_array_size(json_object_get(a, "mailboxes")), 2);
	c = case_of(id);
	assert_string_equal(jget(c, "number"), "CAS-01001");
	assert_int_equal(json_array_size(json_object_get(c, "activities")), 1);
	assert_null(get_json("casenum/CAS-01002"));
	assert_int_equal(smtpsink_count(&F.sink), 1);
	json_decref(a);
	json_decref(c);
}

/*
 * The attack of issue 12: a short mail to bob@ reuses the Message-ID of
 * a case mail to support@. It is an activity of its own that names the
 * first; the first activity and its case are as they were.
 */
static void
a_reused_message_id_is_an_activity_of_its_own(void **state)
{
	static const char bob_dec[] = "{\"direction\":\"incoming\","
	    "\"mailboxes\":[{\"address\":\"bob@example.com\",\"type\":"
	    "\"user\",\"role\":\"recipient\"}]}";
	json_t *a1, *before, *a2, *c;
	char want[32];
	uint64_t id1, id2;

	(void)state;
	id1 = track("ann@ext.example", "r1@ext.example", "Printer on fire",
	    NULL, NULL);
	before = activity(id1);
	assert_non_null(before);
	assert_true(json_is_null(json_object_get(before, "collided_with")));
	id2 = track("mallory@evil.example", "r1@ext.example", "hi", NULL,
	    bob_dec);
	assert_true(id2 != id1);
	a2 = activity(id2);
	assert_non_null(a2);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)id1);
	assert_string_equal(jget(a2, "collided_with"), want);
	assert_string_equal(jget(a2, "from"), "mallory@evil.example");
	assert_string_equal(json_string_value(json_array_get(json_object_get(a2,
	    "mailboxes"), 0)), "bob@example.com");
	assert_int_equal(json_array_size(json_object_get(a2, "mailboxes")), 1);
	a1 = activity(id1);
	assert_true(json_equal(a1, before));
	c = case_of(id1);
	assert_int_equal(json_array_size(json_object_get(c, "activities")), 1);
	json_decref(a1);
	json_decref(a2);
	json_decref(before);
	json_decref(c);
}

static void
set_reject(int on)
{
	pthread_mutex_lock(&F.sink.lock);
	F.sink.reject = on;
	pthread_mutex_unlock(&F.sink.lock);
}

/* The worker's health call, which also runs the plugin's retries. */
static void
health(void)
{
	char msg[200];

	assert_int_equal(plugin_health(plugin_set_get(F.ps, 0), msg,
	    sizeof(msg)), DVP_OK);
}

static void
wait_retry_delay(void)
{
	struct timespec t = { 1, 200000000 };

	nanosleep(&t, NULL);
}

/*
 * A 451 from the server: the case stands, the acknowledgement is
 * pending, and goes, once, at the next call after its delay: a
 * delivery of another message, or a health check.
 */
static void
a_refused_acknowledgement_is_retried_later_and_sent_once(void **state)
{
	time_t t0, t1;
	json_t *c;
	uint64_t id;
	int to_ann = 0;

	(void)state;
	set_reject(1);
	t0 = time(NULL);
	id = track("ann@ext.example", "g1@ext.example", "Help", NULL, NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "status"), "active");
	assert_non_null(strstr(jget(c, "auto_reply"), "pending: try 1 of 5 "
	    "failed"));
	json_decref(c);
	set_reject(0);
	/* Not due yet: another delivery does not send it. The plugin's
	 * clock is time(NULL), and the retry is due a second of it after
	 * the failure: only while time(NULL) still reads what it read
	 * before the failure is it surely not due (on a loaded machine
	 * the second may pass meanwhile). */
	(void)track("bob@ext.example", "g2@ext.example", "Other", NULL, NULL);
	t1 = time(NULL);
	if (t1 == t0)
		assert_int_equal(smtpsink_count(&F.sink), 1);	/* bob's */
	else
		print_message("# slow machine: the retry was due at bob's "
		    "delivery already\n");
	wait_retry_delay();
	(void)track("cy@ext.example", "g3@ext.example", "Third", NULL, NULL);
	/* bob's, ann's and cy's, ann's exactly once. */
	assert_int_equal(smtpsink_count(&F.sink), 3);
	for (size_t i = 0; i < 3; i++)
		to_ann += strcmp(F.sink.msgs[i].rcpt, "<ann@ext.example>") == 0;
	assert_int_equal(to_ann, 1);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"), "sent (try 2)");
	json_decref(c);
	assert_null(get_json("autoreplyq/0000000000000001"));
	health();
	wait_retry_delay();
	health();
	assert_int_equal(smtpsink_count(&F.sink), 3);
}

static void
set_mute(int mode)
{
	pthread_mutex_lock(&F.sink.lock);
	F.sink.mute = mode;
	pthread_mutex_unlock(&F.sink.lock);
}

/*
 * The server took the whole message and its final dot, then gave no
 * final reply (@mode: it closed, or it said nothing until the time-out).
 * It may have queued it: the outcome is a final "unknown", never
 * "pending", and it is not sent again.
 */
#define UNANSWERED "unknown: the server did not answer after the message " \
	"was sent ("

static void
unanswered_dot(int mode)
{
	json_t *c;
	uint64_t id;

	set_mute(mode);
	id = track("ann@ext.example", "u1@ext.example", "Help", NULL, NULL);
	set_mute(0);
	assert_int_equal(smtpsink_count(&F.sink), 1);
	c = case_of(id);
	assert_string_equal(jget(c, "status"), "active");
	if (strncmp(jget(c, "auto_reply"), UNANSWERED,
	    strlen(UNANSWERED)) != 0)
		fail_msg("auto_reply is \"%s\"", jget(c, "auto_reply"));
	json_decref(c);
	assert_null(get_json("autoreplyq/0000000000000001"));
	wait_retry_delay();
	health();
	wait_retry_delay();
	health();
	assert_int_equal(smtpsink_count(&F.sink), 1);
}

static void
an_acknowledgement_whose_dot_got_no_reply_is_not_sent_again(void **state)
{
	(void)state;
	unanswered_dot(SMTPSINK_MUTE_CLOSE);
}

static void
an_acknowledgement_whose_dot_timed_out_is_not_sent_again(void **state)
{
	(void)state;
	unanswered_dot(SMTPSINK_MUTE_SILENT);
}

/* A bounded number of tries, then a final "not sent" and a log line. */
static void
a_failing_acknowledgement_is_given_up_after_its_tries(void **state)
{
	json_t *c;
	uint64_t id;

	(void)state;
	set_reject(1);
	id = track("ann@ext.example", "t1@ext.example", "Help", NULL, NULL);
	wait_retry_delay();
	health();
	wait_retry_delay();
	health();
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"), "not sent: gave up after "
	    "2 tries: MAIL failed: 451");
	json_decref(c);
	assert_null(get_json("autoreplyq/0000000000000001"));
	set_reject(0);
	wait_retry_delay();
	health();
	assert_int_equal(smtpsink_count(&F.sink), 0);
}

static void
mail_to_a_queue_without_a_rule_and_outgoing_mail_make_no_case(void **state)
{
	const char *out = "{\"direction\":\"outgoing\",\"mailboxes\":[{"
	    "\"address\":\"support@example.com\",\"type\":\"queue\",\"role\":"
	    "\"sender\"}]}";
	json_t *a;
	uint64_t id;

	(void)state;
	id = track("support@example.com", "h1@example.com", "Newsletter",
	    NULL, out);
	a = activity(id);
	assert_string_equal(jget(a, "direction"), "outgoing");
	assert_true(json_is_null(json_object_get(a, "case")));
	json_decref(a);
	set_json("caserule/support@example.com", "{\"queue\":"
	    "\"support@example.com\",\"create_contact\":false,"
	    "\"reopen_days\":7,\"auto_reply\":false}");
	id = track("zed@ext.example", "h2@ext.example", "Hello", NULL, NULL);
	a = activity(id);
	assert_false(json_is_null(json_object_get(a, "case")));
	assert_null(get_json("contact/zed@ext.example"));
	json_decref(a);
}

static void
smart_matching_attaches_a_reply_without_headers_or_token(void **state)
{
	json_t *a, *c, *c2;
	uint64_t first, reply, other;

	(void)state;
	F.o.smart_matching = true;
	first = track("ann@ext.example", "s1@ext.example", "Broken widget",
	    NULL, NULL);
	c = case_of(first);
	reply = track("ann@ext.example", "s2@ext.example", "RE: Broken widget",
	    NULL, NULL);
	a = activity(reply);
	assert_string_equal(jget(a, "correlation"), "smart-match");
	json_decref(a);
	c2 = case_of(reply);
	assert_string_equal(jget(c2, "id"), jget(c, "id"));
	json_decref(c2);
	/* Same subject, but only support@ in common: a case of its own. */
	other = track("mallory@evil.example", "s3@evil.example",
	    "Re: Broken widget", NULL, NULL);
	a = activity(other);
	assert_string_equal(jget(a, "correlation"), "none");
	json_decref(a);
	c2 = case_of(other);
	assert_string_not_equal(jget(c2, "id"), jget(c, "id"));
	json_decref(c2);
	json_decref(c);
}

static void
an_unreachable_server_is_not_tried_for_every_case(void **state)
{
	json_t *c;
	uint64_t id;

	(void)state;
	id = track("ann@ext.example", "u1@ext.example", "First", NULL, NULL);
	c = case_of(id);
	assert_non_null(strstr(jget(c, "auto_reply"), "pending: try 1 of 5"));
	assert_null(strstr(jget(c, "auto_reply"), "not tried for"));
	json_decref(c);
	id = track("bob@ext.example", "u2@ext.example", "Second", NULL, NULL);
	c = case_of(id);
	assert_non_null(strstr(jget(c, "auto_reply"),
	    "the submission server failed; not tried for "));
	json_decref(c);
}

/*
 * An IDN sender is one contact whichever form its domain is written in,
 * keyed with the A-labels the milter looks up for known senders.
 */
static void
an_idn_sender_is_one_contact(void **state)
{
	json_t *c1, *c2, *ct;
	uint64_t a, b;

	(void)state;
	a = track("kunde@B\xc3\xbc" "cher.example", "idn1@ext.example",
	    "Drucker brennt", NULL, NULL);
	b = track("Kunde@xn--bcher-kva.example", "idn2@ext.example",
	    "Noch ein Drucker", NULL, NULL);
	c1 = case_of(a);
	c2 = case_of(b);
	assert_string_equal(jget(c1, "customer"), "kunde@xn--bcher-kva.example");
	assert_string_equal(jget(c2, "customer"), "kunde@xn--bcher-kva.example");
	ct = get_json("contact/kunde@xn--bcher-kva.example");
	assert_non_null(ct);
	assert_null(get_json("contact/kunde@b\xc3\xbc" "cher.example"));
	json_decref(c1);
	json_decref(c2);
	json_decref(ct);
}

/*
 * Deliver message @id (a new case with an acknowledgement due) straight
 * to the plugin, as the worker does; with @crash, what it buffered is
 * then lost, as when the worker dies before its batch commits.
 */
static void
deliver_raw(const char *id, bool crash)
{
	static const struct dvp_mailbox mb = {
	    .address = "support@example.com", .type = DVP_MAILBOX_QUEUE };
	static const struct dvp_address from = { "Ann", "ann@ext.example" };
	struct dvp_message m = {
		.size = sizeof(m), .id = id,
		.direction = DVP_INCOMING, .received = (int64_t)time(NULL),
		.envelope_from = "ann@ext.example",
		.message_id = "crash1@ext.example", .subject = "Printer on fire",
		.from = &from, .nfrom = 1, .text = "Please help.",
		.headers = "Subject: Printer on fire\r\n",
	};
	struct dvp_decision d = { .size = sizeof(d), .mailboxes = &mb,
	    .nmailboxes = 1, .mailbox_size = sizeof(mb),
	    .tracking_token = "CRM:0A1-ABCDEFGH",
	    .message_token = "CRM:0A1-ABCDEFGH" };
	struct dvp_result r;
	struct store_txn *t;
	const char *err;

	pluginkv_discard(F.o.kv);
	memset(&r, 0, sizeof(r));
	plugin_deliver(plugin_set_get(F.ps, 0), &m, &d, &r);
	assert_int_equal(r.status, DVP_OK);
	if (crash) {
		pluginkv_discard(F.o.kv);
		return;
	}
	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(pluginkv_apply(F.o.kv, t, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

/*
 * A crash after the acknowledgement went and before the batch that made
 * the case committed: the delivery is made again, on a store without the
 * case, and the customer gets no second acknowledgement.
 */
static void
an_acknowledgement_is_not_sent_again_after_a_crash(void **state)
{
	json_t *c;

	(void)state;
	deliver_raw("00000000000000a1", true);
	assert_int_equal(smtpsink_count(&F.sink), 1);
	assert_null(get_json("activity/00000000000000a1"));
	deliver_raw("00000000000000a1", false);
	assert_int_equal(smtpsink_count(&F.sink), 1);
	c = case_of(0xa1);
	assert_string_equal(jget(c, "auto_reply"), "sent");
	json_decref(c);
}

/*
 * One that failed is retried by its pending record, not by the delivery
 * made again after a crash; one a crash interrupted while it was being
 * submitted is never tried again: at most once. What the case says is
 * what became of it.
 */
static void
a_failed_acknowledgement_is_retried_once_an_interrupted_one_never(
    void **state)
{
	time_t t0, t1;
	json_t *c;

	(void)state;
	set_reject(1);
	t0 = time(NULL);
	deliver_raw("00000000000000b1", true);
	set_reject(0);
	deliver_raw("00000000000000b1", false);
	t1 = time(NULL);
	/* Not due yet, unless a loaded machine took its delay already. */
	if (t1 == t0) {
		assert_int_equal(smtpsink_count(&F.sink), 0);
		c = case_of(0xb1);
		assert_int_equal(strncmp(jget(c, "auto_reply"), "pending: ",
		    9), 0);
		json_decref(c);
	} else
		print_message("# slow machine: the retry came due already\n");
	wait_retry_delay();
	health();
	assert_int_equal(smtpsink_count(&F.sink), 1);
	c = case_of(0xb1);
	assert_string_equal(jget(c, "auto_reply"), "sent (try 2)");
	json_decref(c);
	health();
	deliver_raw("00000000000000b1", false);
	assert_int_equal(smtpsink_count(&F.sink), 1);

	/* The worker died between "sending" and the outcome, of a first
	 * try and of a retry. */
	set_json("autoreplied/00000000000000c1", "sending");
	deliver_raw("00000000000000c1", false);
	assert_int_equal(smtpsink_count(&F.sink), 1);
	c = case_of(0xc1);
	assert_int_equal(strncmp(jget(c, "auto_reply"), "unknown: ", 9), 0);
	json_decref(c);
	set_json("autoreplied/00000000000000d1", "sending");
	set_json("autoreplyq/00000000000000d1", "{\"to\":\"x@ext.example\","
	    "\"msg\":\"Subject: x\\r\\n\\r\\nx\\r\\n\",\"case\":"
	    "\"CAS-09999\",\"tries\":1,\"next\":0}");
	/* And a record that does not parse is dropped, not tried. */
	set_json("autoreplied/00000000000000e1", "pending: try 1 of 5");
	set_json("autoreplyq/00000000000000e1", "not json");
	assert_true(exists("autoreplyq/00000000000000e1"));
	health();
	assert_int_equal(smtpsink_count(&F.sink), 1);
	assert_null(get_json("autoreplyq/00000000000000d1"));
	assert_false(exists("autoreplyq/00000000000000e1"));
}

/* Under the defaults a server that does not offer STARTTLS gets nothing. */
static void
smtp_without_starttls_fails_under_the_default(void **state)
{
	json_t *c;
	uint64_t id;

	(void)state;
	id = track("ann@ext.example", "tls1@ext.example", "Help", NULL, NULL);
	c = case_of(id);
	assert_string_equal(jget(c, "auto_reply"), "not sent: the server does "
	    "not offer STARTTLS "
	    "(Local.SubmissionAllowPlain is off)");
	json_decref(c);
	assert_int_equal(smtpsink_count(&F.sink), 0);
}

/* victim+N@ share the address's allowance, then its domain's. */
static void
acknowledgements_are_capped_per_address_and_per_domain(void **state)
{
	static const char *const want[] = { "sent",
	    "not sent: rate limit for the sender", "sent",
	    "not sent: rate limit for the sender's domain", "sent" };
	static const char *const from[] = { "victim+1@target.example",
	    "Victim+2@Target.Example", "other@target.example",
	    "third@target.example", "someone@elsewhere.example" };
	char mid[32];
	json_t *c;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		snprintf(mid, sizeof(mid), "v%zu@x.example", i);
		c = case_of(track(from[i], mid, "Hi", NULL, NULL));
		if (strcmp(jget(c, "auto_reply"), want[i]) != 0)
			fail_msg("%s: %s, want %s", from[i],
			    jget(c, "auto_reply"), want[i]);
		json_decref(c);
	}
	assert_int_equal(smtpsink_count(&F.sink), 3);
}

static void
acknowledgements_are_capped_in_all(void **state)
{
	char from[64], mid[32];
	json_t *c = NULL;

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(from, sizeof(from), "c%d@d%d.example", i, i);
		snprintf(mid, sizeof(mid), "w%d@x.example", i);
		json_decref(c);
		c = case_of(track(from, mid, "Hi", NULL, NULL));
	}
	assert_string_equal(jget(c, "auto_reply"),
	    "not sent: rate limit for all senders");
	json_decref(c);
	assert_int_equal(smtpsink_count(&F.sink), 3);
}

/* Whether the milter's known-senders lookup finds @addr. */
static bool
known(const char *addr)
{
	struct store_txn *t;
	const char *err;
	bool k;

	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	k = known_sender_has(t, plugins, addr);
	store_txn_abort(t);
	return k;
}

/* A contact the case rule makes is in the index, committed with it. */
static void
a_contact_made_by_a_case_rule_is_a_known_sender(void **state)
{
	(void)state;
	assert_false(known("ann@ext.example"));
	(void)track("Ann@Ext.Example", "k1@ext.example", "Hello", NULL, NULL);
	assert_true(known("ann@ext.example"));
	(void)track("kunde@B\xc3\xbc" "cher.example", "k2@ext.example", "Hallo",
	    NULL, NULL);
	assert_true(known("kunde@xn--bcher-kva.example"));
	assert_false(known("stranger@ext.example"));
}

/* Its index entry goes only with the contact: not for a failed delivery. */
static void
a_failed_delivery_leaves_no_index_entry(void **state)
{
	(void)state;
	set_json("caserule/support@example.com", "{\"queue\":"
	    "\"support@example.com\",\"create_contact\":true,"
	    "\"reopen_days\":7,\"auto_reply\":false}");
	/* A corrupt activity record makes the delivery fail for now. */
	set_json("activity/0000000000000001", "not json");
	(void)track("eve@ext.example", "z1@ext.example", "Hi", NULL, NULL);
	assert_null(get_json("contact/eve@ext.example"));
	assert_false(known("eve@ext.example"));
}

/*
 * A store of dvmilter 0.1 (plugin ABI 1) has contacts but no index:
 * the first worker to load the plugin rebuilds it from them, once.
 */
static void
an_old_store_gets_its_index_rebuilt_at_init(void **state)
{
	struct store_opts so = { .mapsize = 32 << 20, .create = true };
	struct store_txn *t;
	const char *err;
	char path[300];
	json_t *c;

	(void)state;
	plugin_set_free(F.ps);
	F.ps = NULL;
	/* What the old version left: contacts, and no "known" table. */
	set_json("contact/old@ext.example", "{\"id\":\"x\",\"email\":"
	    "\"old@ext.example\"}");
	set_json("contact/kunde@xn--bcher-kva.example", "{\"id\":\"y\"}");
	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(mdb_drop(t->txn, F.st->known, 1), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	pluginkv_free(F.o.kv);
	outbox_close(F.o.outbox);
	store_close(F.st);
	snprintf(path, sizeof(path), "%s/db", F.dir);
	assert_int_equal(store_open(path, &so, &F.st, &err), 0);
	assert_int_equal(outbox_open(F.st, &(const struct outbox_opts){
	    .plugins = plugins }, &F.o.outbox, &err), 0);
	assert_false(known("old@ext.example"));

	F.o.kv = pluginkv_new(F.st);
	if (plugin_set_load(F.c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = F.st,
	    .kv = F.o.kv }, &F.ps, &err) != 0)
		fail_msg("%s", err);
	assert_true(known("old@ext.example"));
	assert_true(known("kunde@xn--bcher-kva.example"));

	/* Complete now: a contact added behind its back is not indexed. */
	set_json("contact/late@ext.example", "{\"id\":\"z\"}");
	plugin_set_free(F.ps);
	if (plugin_set_load(F.c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = F.st,
	    .kv = F.o.kv }, &F.ps, &err) != 0)
		fail_msg("%s", err);
	assert_false(known("late@ext.example"));
	assert_true(known("old@ext.example"));
	/* And it still works: a new case for an old contact. */
	c = case_of(track("old@ext.example", "o1@ext.example", "Again", NULL,
	    NULL));
	assert_string_equal(jget(c, "customer"), "old@ext.example");
	json_decref(c);
}

/* Record ids are version 7 GUIDs: made one after the other, they sort. */
static void
case_ids_are_time_ordered_guids(void **state)
{
	struct timespec ms = { 0, 2000000 };
	json_t *c1, *c2;
	const char *a, *b;
	uint64_t x, y;

	(void)state;
	x = track("first@ext.example", "order1@ext.example", "One", NULL,
	    NULL);
	nanosleep(&ms, NULL);
	y = track("second@ext.example", "order2@ext.example", "Two", NULL,
	    NULL);
	c1 = case_of(x);
	c2 = case_of(y);
	a = jget(c1, "id");
	b = jget(c2, "id");
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[14], '7');		/* the version */
	assert_non_null(strchr("89ab", a[19]));	/* the variant */
	assert_true(strcmp(a, b) < 0);
	json_decref(c1);
	json_decref(c2);
}

/* --- CaseJoinPolicy ------------------------------------------------------- */

/* A decision for support@ with a sender-authenticity verdict. */
#define AUTH_DEC(DMARC, DKIM) "{\"direction\":\"incoming\",\"mailboxes\":" \
	"[{\"address\":\"support@example.com\",\"type\":\"queue\",\"role\":" \
	"\"recipient\"}],\"auth\":{\"dmarc\":\"" DMARC "\",\"dkim_aligned\":" \
	DKIM ",\"authserv_id\":\"mx.test\"}}"

/* The number of the case @id's activity is on, and its join record. */
static void
expect_join(uint64_t id, const char *number, bool joined, const char *why)
{
	json_t *a = activity(id), *c = case_of(id);
	json_t *jn = json_object_get(a, "join");

	if (strcmp(jget(c, "number"), number) != 0 ||
	    json_is_true(json_object_get(jn, "joined")) != joined ||
	    strstr(jget(jn, "reason"), why) == NULL)
		fail_msg("message %llu: on %s, join %s: %s", (unsigned long long)
		    id, jget(c, "number"), json_is_true(json_object_get(jn,
		    "joined")) ? "yes" : "no", jget(jn, "reason"));
	json_decref(a);
	json_decref(c);
}

static void
participant_policy_joins_participants_and_links_strangers(void **state)
{
	char subj[200];
	json_t *c, *c2, *a;
	uint64_t first, id;

	(void)state;
	F.o.join_policy = CONF_JOIN_PARTICIPANT;
	first = track("ann@ext.example", "j1@ext.example", "Broken", NULL,
	    NULL);
	c = case_of(first);
	/* Someone who saw the Message-ID: a new case, linked. */
	id = track("mallory@evil.example", "j2@evil.example", "Re: Broken",
	    "In-Reply-To: <j1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01002", false, "mallory@evil.example is not a "
	    "participant of CAS-01001 and is not authenticated with a valid "
	    "token");
	c2 = case_of(id);
	assert_string_equal(jget(c2, "parent_case"), jget(c, "id"));
	json_decref(c);
	c = case_of(first);
	assert_string_equal(json_string_value(json_array_get(json_object_get(c,
	    "linked_cases"), 0)), jget(c2, "id"));
	assert_int_equal(json_array_size(json_object_get(c, "activities")), 1);
	json_decref(c2);
	/* The customer, a participant: joins. */
	id = track("Ann@EXT.example", "j3@ext.example", "Re: Broken",
	    "In-Reply-To: <j1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01001", true, "is a participant of CAS-01001");
	a = activity(id);
	assert_string_equal(jget(json_object_get(a, "authentication"),
	    "dmarc"), "none");
	json_decref(a);
	/* The customer's address failing DMARC: a new case, not answered. */
	id = track("ann@ext.example", "j4@ext.example", "Re: Broken",
	    "In-Reply-To: <j1@ext.example>\r\n", AUTH_DEC("fail", "false"));
	expect_join(id, "CAS-01003", false, "fails DMARC");
	c2 = case_of(id);
	assert_string_equal(jget(c2, "auto_reply"),
	    "not sent: the sender fails DMARC (trusted dmarc=fail)");
	json_decref(c2);
	/* A stranger with the case's token: only when authenticated. */
	snprintf(subj, sizeof(subj), "Re: Broken %s",
	    jget(c, "tracking_token"));
	id = track("bob@partner.example", "j5@partner.example", subj, NULL,
	    NULL);
	expect_join(id, "CAS-01004", false, "not authenticated");
	id = track("bob@partner.example", "j6@partner.example", subj, NULL,
	    AUTH_DEC("pass", "false"));
	expect_join(id, "CAS-01001", true, "a valid tracking token of "
	    "CAS-01001 and an authenticated sender (dmarc=pass)");
	id = track("carol@partner.example", "j7@partner.example", subj,
	    "In-Reply-To: <j1@ext.example>\r\n", AUTH_DEC("none", "true"));
	expect_join(id, "CAS-01001", true, "aligned dkim=pass");
	/* Having joined, bob is a participant: no token needed now. */
	id = track("bob@partner.example", "j8@partner.example", "Re: Broken",
	    "In-Reply-To: <j1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01001", true, "is a participant");
	/* The queue's own address, forged: it is in the To of every case,
	 * but incoming mail from one of our mailboxes is nobody's. */
	id = track("support@example.com", "j9@evil.example", "Re: Broken",
	    "In-Reply-To: <j1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01005", false, "support@example.com is not a "
	    "participant of CAS-01001");
	json_decref(c);
}

/* A case stored before participants were kept: its activities say. */
static void
participants_of_an_older_case_come_from_its_activities(void **state)
{
	char key[80], *rec;
	json_t *c;
	uint64_t first, id;

	(void)state;
	F.o.join_policy = CONF_JOIN_PARTICIPANT;
	first = track("ann@ext.example", "p1@ext.example", "Broken",
	    "Cc: Dave <dave@partner.example>\r\n", NULL);
	c = case_of(first);
	assert_int_equal(json_array_size(json_object_get(c, "participants")),
	    3);
	json_object_del(c, "participants");
	snprintf(key, sizeof(key), "case/%s", jget(c, "id"));
	rec = json_dumps(c, JSON_COMPACT);
	set_json(key, rec);
	free(rec);
	id = track("dave@partner.example", "p2@partner.example", "Re: Broken",
	    "In-Reply-To: <p1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01001", true, "dave@partner.example is a "
	    "participant");
	json_decref(c);
}

static void
authenticated_policy_wants_a_pass_and_any_lets_everyone_in(void **state)
{
	uint64_t id;

	(void)state;
	F.o.join_policy = CONF_JOIN_AUTHENTICATED;
	(void)track("ann@ext.example", "k1@ext.example", "Broken", NULL, NULL);
	id = track("ann@ext.example", "k2@ext.example", "Re: Broken",
	    "In-Reply-To: <k1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01002", false, "is a participant of CAS-01001 "
	    "and is not authenticated (policy authenticated)");
	id = track("ann@ext.example", "k3@ext.example", "Re: Broken",
	    "In-Reply-To: <k1@ext.example>\r\n", AUTH_DEC("pass", "false"));
	expect_join(id, "CAS-01001", true, "participant of CAS-01001, "
	    "authenticated");
	F.o.join_policy = CONF_JOIN_ANY;
	id = track("mallory@evil.example", "k4@evil.example", "Re: Broken",
	    "In-Reply-To: <k1@ext.example>\r\n", NULL);
	expect_join(id, "CAS-01001", true, "policy any");
}

/* Queue @raw as one message, run the worker until nothing is due, and
 * return its delivery. */
static uint64_t
track_raw(const char *raw, size_t len, const char *msgid,
    struct outbox_delivery *d)
{
	struct outbox_item it = { .received = (int64_t)time(NULL),
	    .raw = raw, .raw_len = len, .envelope_from = "poison@ext.example",
	    .message_id = msgid, .decision = QUEUE_DEC };
	struct store_txn *t;
	const char *err;
	uint64_t id;
	int64_t next;
	size_t n;
	int did;

	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(outbox_put(F.o.outbox, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	do {
		assert_int_equal(deliver_next(F.st, F.ps, &F.o,
		    (int64_t)time(NULL) + 1, &did, &next, &err), 0);
	} while (did);
	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	assert_int_equal(outbox_deliveries(F.o.outbox, t, id, d, 1, &n, &err),
	    0);
	store_txn_abort(t);
	assert_int_equal(n, 1);
	return id;
}

/* The attack of issue 12: a message of @n empty MIME parts. */
static char *
empty_parts(size_t n, const char *msgid, size_t *len_r)
{
	size_t cap = 512 + n * 7, len;
	char *raw = malloc(cap);

	assert_non_null(raw);
	len = (size_t)snprintf(raw, cap, "From: poison@ext.example\r\n"
	    "Subject: parts\r\nMessage-ID: <%s>\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhello\r\n",
	    msgid);
	for (size_t i = 0; i < n; i++, len += 7)
		memcpy(raw + len, "--b\r\n\r\n", 7);
	len += (size_t)snprintf(raw + len, cap - len, "--b--\r\n");
	*len_r = len;
	return raw;
}

/*
 * A message over the parse caps is an activity at the first attempt,
 * with what fits and a note of what was left out; one whose activity
 * would pass the store's 1 MiB value limit (here: caps raised so that
 * 20,000 attachments reach the plugin) is cut to fit, and says so.
 */
static void
a_poison_message_becomes_an_activity_that_fits_the_store(void **state)
{
	struct outbox_delivery d;
	size_t len;
	char *raw = empty_parts(100000, "poison1@ext.example", &len);
	uint64_t id;
	json_t *a;

	(void)state;
	id = track_raw(raw, len, "poison1@ext.example", &d);
	free(raw);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_int_equal(d.attempts, 1);
	a = activity(id);
	assert_non_null(a);
	assert_string_equal(jget(a, "text"), "hello");
	assert_non_null(strstr(jget(a, "omitted"), "too many MIME parts"));
	assert_int_equal(json_array_size(json_object_get(a, "attachments")),
	    MSG_MAX_ATTACHMENTS);
	json_decref(a);

	F.o.parse = (struct msg_opts){ .max_parts = 30000,
	    .max_attachments = 30000 };
	raw = empty_parts(20000, "poison2@ext.example", &len);
	id = track_raw(raw, len, "poison2@ext.example", &d);
	free(raw);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_int_equal(d.attempts, 1);
	a = activity(id);
	assert_non_null(a);
	assert_non_null(strstr(jget(a, "omitted"), "attachments are listed, "
	    "to fit the store"));
	assert_true(json_array_size(json_object_get(a, "attachments")) <
	    20000);
	assert_true(json_array_size(json_object_get(a, "attachments")) > 0);
	json_decref(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    participant_policy_joins_participants_and_links_strangers,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    authenticated_policy_wants_a_pass_and_any_lets_everyone_in,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    participants_of_an_older_case_come_from_its_activities,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_contact_made_by_a_case_rule_is_a_known_sender,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_failed_delivery_leaves_no_index_entry,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    an_old_store_gets_its_index_rebuilt_at_init,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(case_ids_are_time_ordered_guids,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_poison_message_becomes_an_activity_that_fits_the_store,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    an_acknowledgement_is_not_sent_again_after_a_crash,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_failed_acknowledgement_is_retried_once_an_interrupted_one_never,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_failing_acknowledgement_is_given_up_after_its_tries,
		    setup_two_tries, teardown),
		cmocka_unit_test_setup_teardown(
		    smtp_without_starttls_fails_under_the_default,
		    setup_tls_required, teardown),
		cmocka_unit_test_setup_teardown(
		    acknowledgements_are_capped_per_address_and_per_domain,
		    setup_domain_limit, teardown),
		cmocka_unit_test_setup_teardown(
		    acknowledgements_are_capped_in_all,
		    setup_global_limit, teardown),
		cmocka_unit_test_setup_teardown(an_idn_sender_is_one_contact,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_new_mail_creates_a_case_and_one_acknowledgement,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    replies_attach_by_in_reply_to_and_by_token_but_not_forged,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    auto_submitted_and_list_mail_get_no_reply,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    auto_replies_are_rate_limited_per_sender,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    resolved_cases_reopen_within_the_window_else_a_linked_case,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    one_message_for_two_mailboxes_is_one_activity,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_reused_message_id_is_an_activity_of_its_own,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    a_refused_acknowledgement_is_retried_later_and_sent_once,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    an_acknowledgement_whose_dot_got_no_reply_is_not_sent_again,
		    setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(
		    an_acknowledgement_whose_dot_timed_out_is_not_sent_again,
		    setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(
		    mail_to_a_queue_without_a_rule_and_outgoing_mail_make_no_case,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    smart_matching_attaches_a_reply_without_headers_or_token,
		    setup_default, teardown),
		cmocka_unit_test_setup_teardown(
		    an_unreachable_server_is_not_tried_for_every_case,
		    setup_dead_smtp, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

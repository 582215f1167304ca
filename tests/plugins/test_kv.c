/*
 * test_kv.c - the plugins' key/value store through the real worker step
 * (deliver_next), the real loader and a real LMDB store: a plugin's
 * writes commit with a successful delivery and vanish with a failed one;
 * init's commit when it succeeds, health's always; there is no store
 * when the plugins are only checked. And the loader refuses a plugin
 * built for another major version of the ABI, naming both versions.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "deliver.h"
#include "plugin_int.h"
#include "pluginkv.h"
#include "status.h"

static char p_kvtest[] = "kvtest";
static char *const plugins[] = { p_kvtest, NULL };

static uint64_t
queue_one(struct store *st, const char *subject)
{
	char raw[200];
	struct outbox_item it = { .received = 1000 };
	struct outbox *ob;
	struct store_txn *t;
	const char *err;
	uint64_t id;

	snprintf(raw, sizeof(raw), "Subject: %s\r\n\r\nbody\r\n", subject);
	it.raw = raw;
	it.raw_len = strlen(raw);
	assert_int_equal(outbox_open(st, &(const struct outbox_opts){
	    .plugins = plugins }, &ob, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(outbox_put(ob, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	outbox_close(ob);
	return id;
}

/* kvtest's delivery of entry @id: the only plugin's. */
static int
kv_delivery(struct outbox *ob, struct store_txn *t, uint64_t id,
    struct outbox_delivery *d, const char **err)
{
	size_t n = 0;
	int rc = outbox_deliveries(ob, t, id, d, 1, &n, err);

	if (rc == 0 && (n != 1 || strcmp(d->plugin, "kvtest") != 0))
		rc = DV_ENOTFOUND;
	return rc;
}

/* A committed value, read through a fresh buffer (no pending writes). */
static char *
committed(struct store *st, const char *key)
{
	struct pluginkv *kv = pluginkv_new(st);
	const void *v;
	size_t len;
	char *out = NULL;

	if (pluginkv_ops()->get(kv, "kvtest", key, &v, &len) == 0)
		out = strndup(v, len);
	pluginkv_free(kv);
	return out;
}

/* A store and the kvtest plugin loaded over it, as the worker has them. */
struct kvfx {
	char *dir;
	struct store *st;
	struct conf *c;
	struct deliver_opts o;
	struct plugin_set *ps;
};

static void
kvfx_open(struct kvfx *f)
{
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	const char *top = getenv("top_builddir"), *err;
	char path[300], text[1200];

	memset(f, 0, sizeof(*f));
	f->o.policy = (struct retry_policy)RETRY_POLICY_DEFAULT;
	f->dir = scratch_dir();
	snprintf(path, sizeof(path), "%s/db", f->dir);
	assert_int_equal(store_open(path, &so, &f->st, &err), 0);
	assert_int_equal(outbox_open(f->st, &(const struct outbox_opts){
	    .plugins = plugins }, &f->o.outbox, &err), 0);
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins kvtest\n", top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &f->c, &err), 0);
	f->o.kv = pluginkv_new(f->st);
	if (plugin_set_load(f->c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = f->st,
	    .kv = f->o.kv }, &f->ps, &err) != 0)
		fail_msg("%s", err);
}

/* One worker step at @now; how many deliveries it made. */
static int
step(struct kvfx *f, int64_t now)
{
	const char *err;
	int64_t next;
	int did;

	assert_int_equal(deliver_next(f->st, f->ps, &f->o, now, &did, &next,
	    &err), 0);
	return did;
}

static void
kvfx_close(struct kvfx *f)
{
	plugin_set_free(f->ps);
	pluginkv_free(f->o.kv);
	outbox_close(f->o.outbox);
	conf_unref(f->c);
	store_close(f->st);
	rm_tree(f->dir);
}

static void
plugin_writes_commit_only_with_success(void **state)
{
	struct kvfx fx;
	struct store_txn *t;
	struct outbox_delivery d;
	const char *err;
	char path[300], *v;
	uint64_t a, f, b;

	(void)state;
	kvfx_open(&fx);

	a = queue_one(fx.st, "first");
	f = queue_one(fx.st, "please fail");
	b = queue_one(fx.st, "second");
	/* One batch: the failed delivery's writes are undone alone. */
	assert_int_equal(step(&fx, 2000), 3);
	assert_int_equal(step(&fx, 2000), 0);

	assert_int_equal(store_txn_begin(fx.st, false, &t, &err), 0);
	assert_int_equal(kv_delivery(fx.o.outbox, t, a, &d, &err), 0);
	assert_string_equal(d.activity_id, "kv-1");
	assert_int_equal(kv_delivery(fx.o.outbox, t, b, &d, &err), 0);
	assert_string_equal(d.activity_id, "kv-2");	/* fail's number was not kept */
	assert_int_equal(kv_delivery(fx.o.outbox, t, f, &d, &err), 0);
	assert_int_equal(d.state, OUTBOX_PENDING);
	store_txn_abort(t);

	snprintf(path, sizeof(path), "seen/%016llx", (unsigned long long)a);
	assert_non_null(v = committed(fx.st, path));
	assert_string_equal(v, "first");
	free(v);
	snprintf(path, sizeof(path), "seen/%016llx", (unsigned long long)f);
	assert_null(committed(fx.st, path));
	assert_null(committed(fx.st, "poison"));
	assert_non_null(v = committed(fx.st, "counter/msgs"));
	assert_string_equal(v, "2");
	free(v);
	kvfx_close(&fx);
}

static void
keys_are_private_to_each_plugin(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	struct pluginkv *kv;
	struct store_txn *t;
	struct store *st;
	const void *v;
	size_t len;
	const char *err;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &so, &st, &err), 0);
	kv = pluginkv_new(st);
	assert_int_equal(pluginkv_ops()->put(kv, "one", "k", "1", 1), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(pluginkv_apply(kv, t, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_int_equal(pluginkv_ops()->get(kv, "one", "k", &v, &len), 0);
	assert_int_equal(pluginkv_ops()->get(kv, "two", "k", &v, &len),
	    DVP_KV_NOTFOUND);
	assert_int_equal(pluginkv_ops()->del(kv, "one", "k"), 0);
	assert_int_equal(pluginkv_ops()->get(kv, "one", "k", &v, &len),
	    DVP_KV_NOTFOUND);		/* the buffered delete is seen */
	pluginkv_discard(kv);
	assert_int_equal(pluginkv_ops()->get(kv, "one", "k", &v, &len), 0);
	pluginkv_free(kv);
	store_close(st);
	rm_tree(dir);
}

static void
a_record_changed_by_another_writer_is_not_overwritten(void **state)
{
	char *dir = scratch_dir(), path[300];
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	struct pluginkv *kv;
	struct store_txn *t;
	struct store *st;
	const void *v;
	size_t len;
	const char *err;

	(void)state;
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &so, &st, &err), 0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(pluginkv_txn_put(t, "one", "case/1", "active", 6,
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);

	/* The plugin reads the case and decides on it ... */
	kv = pluginkv_new(st);
	assert_int_equal(pluginkv_ops()->get(kv, "one", "case/1", &v, &len), 0);
	assert_int_equal(pluginkv_ops()->get(kv, "one", "absent", &v, &len),
	    DVP_KV_NOTFOUND);
	assert_int_equal(pluginkv_ops()->put(kv, "one", "case/1", "active+1",
	    8), 0);
	/* ... while dvmilterctl resolves it. */
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(pluginkv_txn_put(t, "one", "case/1", "resolved", 8,
	    &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);

	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(pluginkv_apply(kv, t, &err), DV_EINUSE);
	assert_int_equal(pluginkv_txn_get(t, "one", "case/1", &v, &len, &err),
	    0);
	assert_int_equal(len, 8);
	assert_memory_equal(v, "resolved", 8);
	store_txn_abort(t);

	/* Made again on the new state, it lands. */
	assert_int_equal(pluginkv_ops()->get(kv, "one", "case/1", &v, &len), 0);
	assert_int_equal(pluginkv_ops()->put(kv, "one", "case/1", "again", 5),
	    0);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(pluginkv_apply(kv, t, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	pluginkv_free(kv);
	store_close(st);
	rm_tree(dir);
}

/* The delivery of @id to kvtest as it stands. */
static struct outbox_delivery
delivery(struct store *st, uint64_t id)
{
	struct outbox_delivery d;
	struct outbox *ob;
	struct store_txn *t;
	const char *err;

	assert_int_equal(outbox_open(st, NULL, &ob, &err), 0);
	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(kv_delivery(ob, t, id, &d, &err), 0);
	store_txn_abort(t);
	outbox_close(ob);
	return d;
}

/*
 * A failed delivery whose plugin's health check fails too holds the
 * plugin's deliveries back: they are not attempted and keep their
 * attempts, for 30 s, then twice as long while it stays down; the first
 * delivery that succeeds ends it.
 */
static void
a_plugin_that_is_down_is_held_back(void **state)
{
	struct kvfx fx;
	struct outbox_delivery d;
	uint64_t x, y, z;
	int64_t hold_end;

	(void)state;
	setenv("KVTEST_DOWN", "1", 1);		/* the back end is down */
	kvfx_open(&fx);
	x = queue_one(fx.st, "x");
	y = queue_one(fx.st, "y");
	z = queue_one(fx.st, "z");
	assert_int_equal(step(&fx, 2000), 3);
	d = delivery(fx.st, x);
	assert_int_equal(d.attempts, 1);
	assert_string_equal(d.last_error, "back end down");
	d = delivery(fx.st, y);
	assert_int_equal(d.state, OUTBOX_PENDING);
	assert_int_equal(d.attempts, 0);
	/* A hold runs from when the failing batch ended: the seconds the
	 * batch itself took (on a loaded machine, one or two) count. */
	assert_in_range(d.next_at, 2000 + RETRY_HOLD_FIRST,
	    2000 + RETRY_HOLD_FIRST + 2);
	hold_end = d.next_at;
	assert_non_null(strstr(d.last_error, "held back"));
	/* Held until then. */
	assert_int_equal(step(&fx, 2001), 0);

	/*
	 * Still down when the hold ends: one attempt (x's, if its backoff
	 * has run out by then, else y's), then twice as long.
	 */
	(void)step(&fx, hold_end);
	assert_int_equal(delivery(fx.st, x).attempts + delivery(fx.st, y).attempts,
	    2);
	d = delivery(fx.st, z);
	assert_int_equal(d.attempts, 0);
	assert_in_range(d.next_at, hold_end + 2 * RETRY_HOLD_FIRST,
	    hold_end + 2 * RETRY_HOLD_FIRST + 2);

	/* Back: everything goes, each attempted as often as it was. */
	unsetenv("KVTEST_DOWN");
	for (int64_t now = d.next_at; now < 9000;
	    now += 60)
		while (step(&fx, now) > 0)
			;
	assert_int_equal(delivery(fx.st, x).state, OUTBOX_DONE);
	assert_int_equal(delivery(fx.st, y).state, OUTBOX_DONE);
	d = delivery(fx.st, z);
	assert_int_equal(d.state, OUTBOX_DONE);
	assert_int_equal(d.attempts, 1);
	kvfx_close(&fx);
}

/* A failed assertion must not leave the back end down for the rest. */
static int
back_end_up(void **state)
{
	(void)state;
	unsetenv("KVTEST_DOWN");
	unsetenv("KVTEST_INIT_FAIL");
	return 0;
}

/* init's writes commit when it returns; health's whatever it says. */
static void
init_and_health_writes_commit_after_the_call(void **state)
{
	struct kvfx fx;
	char *v;

	(void)state;
	kvfx_open(&fx);
	assert_non_null(v = committed(fx.st, "counter/inits"));
	assert_string_equal(v, "1");
	free(v);
	assert_null(committed(fx.st, "counter/healths"));
	setenv("KVTEST_DOWN", "1", 1);
	(void)queue_one(fx.st, "x");
	assert_int_equal(step(&fx, 2000), 1);	/* fails, asks health() */
	assert_non_null(v = committed(fx.st, "counter/healths"));
	assert_string_equal(v, "1");		/* though it said "down" */
	free(v);
	unsetenv("KVTEST_DOWN");
	kvfx_close(&fx);
}

static void
a_failed_init_leaves_no_writes(void **state)
{
	struct kvfx fx;
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	const char *top = getenv("top_builddir"), *err;
	char path[300], text[1200];
	struct pluginkv *kv;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.dir = scratch_dir();
	snprintf(path, sizeof(path), "%s/db", fx.dir);
	assert_int_equal(store_open(path, &so, &fx.st, &err), 0);
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins kvtest\n", top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &fx.c, &err), 0);
	kv = pluginkv_new(fx.st);
	setenv("KVTEST_INIT_FAIL", "1", 1);
	assert_int_equal(plugin_set_load(fx.c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_WORKER, .store = fx.st,
	    .kv = kv }, &fx.ps, &err), DV_ECONF);
	unsetenv("KVTEST_INIT_FAIL");
	assert_non_null(strstr(err, "init failed: failing on request"));
	assert_null(committed(fx.st, "poison"));
	assert_null(committed(fx.st, "counter/inits"));
	pluginkv_free(kv);
	conf_unref(fx.c);
	store_close(fx.st);
	rm_tree(fx.dir);
}

/* Loaded only to check the configuration: kv says "unavailable". */
static void
a_configuration_check_has_no_store(void **state)
{
	const char *top = getenv("top_builddir"), *err;
	struct plugin_set *ps;
	struct conf *c;
	char text[1200];

	(void)state;
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins kvtest\n", top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &c, &err), 0);
	if (plugin_set_load(c, NULL, &ps, &err) != 0)
		fail_msg("%s", err);
	plugin_set_free(ps);
	conf_unref(c);
}

/*
 * Each mailbox comes with its owner and email server profile, as the
 * store has them when the message is delivered.
 */
static void
a_mailbox_comes_with_its_server_profile(void **state)
{
	static const char dec[] = "{\"direction\":\"incoming\",\"mailboxes\":"
	    "[{\"address\":\"alice@example.com\",\"type\":\"user\"},"
	    "{\"address\":\"bob@example.com\",\"type\":\"user\"},"
	    "{\"address\":\"gone@example.com\",\"type\":\"user\"}]}";
	struct outbox_item it = { .received = 1000, .decision = dec };
	struct store_txn *t;
	struct profile p;
	struct mbox mb;
	struct kvfx fx;
	const char *err;
	char key[200], *v;
	uint64_t id;

	(void)state;
	kvfx_open(&fx);
	profile_init(&p, "Exchange Online");
	p.server_type = PROFILE_EXCHANGE_ONLINE_HYBRID;
	p.tls = PROFILE_TLS_IMPLICIT;
	p.auth = PROFILE_AUTH_OAUTH;
	snprintf(p.smtp_url, sizeof(p.smtp_url), "smtps://smtp.example:465");
	snprintf(p.username, sizeof(p.username), "crm@example.com");
	snprintf(p.secret_file, sizeof(p.secret_file), "/etc/dvmilter/eo");
	assert_int_equal(store_txn_begin(fx.st, true, &t, &err), 0);
	assert_int_equal(store_profile_put(t, &p, STORE_PUT_CREATE, &err), 0);
	mbox_init(&mb, "alice@example.com", MBOX_USER);
	snprintf(mb.owner, sizeof(mb.owner), "Alice");
	snprintf(mb.profile, sizeof(mb.profile), "Exchange Online");
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err), 0);
	mbox_init(&mb, "bob@example.com", MBOX_USER);
	assert_int_equal(store_mailbox_put(t, &mb, STORE_PUT_CREATE, &err), 0);
	it.raw = "Subject: hi\r\n\r\nbody\r\n";
	it.raw_len = strlen(it.raw);
	assert_int_equal(outbox_put(fx.o.outbox, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_int_equal(step(&fx, 2000), 1);

	snprintf(key, sizeof(key), "mbox/%016llx/alice@example.com",
	    (unsigned long long)id);
	assert_non_null(v = committed(fx.st, key));
	assert_string_equal(v, "Alice|Exchange Online|3|2|4|"
	    "smtps://smtp.example:465|crm@example.com|/etc/dvmilter/eo");
	free(v);
	snprintf(key, sizeof(key), "mbox/%016llx/bob@example.com",
	    (unsigned long long)id);
	assert_non_null(v = committed(fx.st, key));
	assert_string_equal(v, "-|-");		/* no owner, no profile */
	free(v);
	snprintf(key, sizeof(key), "mbox/%016llx/gone@example.com",
	    (unsigned long long)id);
	assert_non_null(v = committed(fx.st, key));
	assert_string_equal(v, "-|-");		/* no record at all */
	free(v);
	kvfx_close(&fx);
}

/*
 * A plugin's own holds follow the host's policy: PluginHoldFirst,
 * doubling up to PluginHoldMax, released by a success; a ninth name is
 * never held.
 */
static void
a_plugins_holds_follow_the_retry_policy(void **state)
{
	const char *top = getenv("top_builddir"), *err;
	const struct dvp_host *h;
	struct plugin_set *ps;
	struct conf *c;
	char text[1200], name[16];

	(void)state;
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins kvtest\nPluginHoldFirst 5s\nPluginHoldMax 12s\n",
	    top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &c, &err), 0);
	assert_int_equal(plugin_set_load(c, NULL, &ps, &err), 0);
	h = &plugin_set_get(ps, 0)->host;
	assert_int_equal(h->hold_check(h->ctx, "smtp"), 0);
	assert_int_equal(h->hold_trip(h->ctx, "smtp"), 5);
	assert_in_range(h->hold_check(h->ctx, "smtp"), 4, 5);
	assert_int_equal(h->hold_check(h->ctx, "other"), 0);
	assert_int_equal(h->hold_trip(h->ctx, "smtp"), 10);
	assert_int_equal(h->hold_trip(h->ctx, "smtp"), 12);
	h->hold_release(h->ctx, "smtp");
	assert_int_equal(h->hold_check(h->ctx, "smtp"), 0);
	assert_int_equal(h->hold_trip(h->ctx, "smtp"), 5);
	for (int i = 1; i < DVP_HOLDS_MAX; i++) {
		snprintf(name, sizeof(name), "name%d", i);
		assert_int_equal(h->hold_trip(h->ctx, name), 5);
	}
	assert_int_equal(h->hold_trip(h->ctx, "one-too-many"), 0);
	assert_int_equal(h->hold_check(h->ctx, "one-too-many"), 0);
	plugin_set_free(ps);
	conf_unref(c);
}

/*
 * The header's promise: a value kv_get() handed out stays valid until the
 * next kv_* call, so a known-senders lookup in between must not free it
 * (under ASan a use after free fails this test).
 */
static void
a_known_lookup_keeps_the_last_kv_get_value(void **state)
{
	const struct plugin_kv_ops *ops = pluginkv_ops();
	struct pluginkv *kv;
	struct kvfx fx;
	const char *err;
	const void *v;
	size_t len;

	(void)state;
	kvfx_open(&fx);
	kv = pluginkv_new(fx.st);
	assert_int_equal(ops->put(kv, "kvtest", "k", "value-one", 9), 0);
	assert_int_equal(ops->known_put(kv, "kvtest", "a@example.com"), 0);
	assert_int_equal(pluginkv_commit(kv, &err), 0);
	assert_int_equal(ops->get(kv, "kvtest", "k", &v, &len), 0);
	assert_int_equal(ops->known_get(kv, "kvtest", "a@example.com"), 0);
	assert_int_equal(ops->known_get(kv, "kvtest", ""), DVP_KV_NOTFOUND);
	assert_int_equal(len, 9);
	assert_memory_equal(v, "value-one", 9);
	pluginkv_free(kv);
	kvfx_close(&fx);
}

/*
 * Many buffered writes in one call (an index rebuilt at init): every one
 * is found again, a rollback removes only the later ones, and the commit
 * writes what is left.
 */
static void
many_buffered_writes_are_found_rolled_back_and_committed(void **state)
{
	const struct plugin_kv_ops *ops = pluginkv_ops();
	struct pluginkv *kv;
	struct kvfx fx;
	const char *err;
	const void *v;
	char key[32], *c;
	size_t len;

	(void)state;
	kvfx_open(&fx);
	kv = pluginkv_new(fx.st);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ops->put(kv, "kvtest", key, key,
		    strlen(key)), 0);
	}
	pluginkv_savepoint(kv);
	for (int i = 2500; i < 7000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ops->put(kv, "kvtest", key, "new", 3), 0);
	}
	assert_int_equal(ops->get(kv, "kvtest", "k6999", &v, &len), 0);
	pluginkv_rollback(kv);
	for (int i = 0; i < 7000; i += 7) {
		snprintf(key, sizeof(key), "k%d", i);
		if (i < 5000) {
			assert_int_equal(ops->get(kv, "kvtest", key, &v, &len),
			    0);
			assert_memory_equal(v, key, len);
		} else
			assert_int_equal(ops->get(kv, "kvtest", key, &v, &len),
			    DVP_KV_NOTFOUND);
	}
	assert_int_equal(ops->put(kv, "kvtest", "k6000", "again", 5), 0);
	assert_int_equal(pluginkv_commit(kv, &err), 0);
	pluginkv_free(kv);
	assert_non_null(c = committed(fx.st, "k4999"));
	assert_string_equal(c, "k4999");
	free(c);
	assert_non_null(c = committed(fx.st, "k6000"));
	assert_string_equal(c, "again");
	free(c);
	assert_null(committed(fx.st, "k5000"));
	kvfx_close(&fx);
}

/* A real plugin built against ABI 1's header. */
static void
a_plugin_built_for_abi_1_is_refused_naming_file_and_versions(void **state)
{
	const char *top = getenv("top_builddir"), *err;
	struct plugin_set *ps = NULL;
	struct conf *c;
	char text[1200], want[1200];

	(void)state;
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins oldabi\n", top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &c, &err), 0);
	assert_int_equal(plugin_set_load(c, NULL, &ps, &err), DV_ECONF);
	assert_null(ps);
	snprintf(want, sizeof(want), "plugin oldabi (%s/tests/plugins/.libs/"
	    "oldabi.so): built for plugin ABI 1.2, this dvmilter has plugin "
	    "ABI %d.%d", top ? top : ".", DVP_ABI_MAJOR, DVP_ABI_MINOR);
	if (strstr(err, want) == NULL)
		fail_msg("got: %s", err);
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plugin_writes_commit_only_with_success),
		cmocka_unit_test_teardown(a_plugin_that_is_down_is_held_back,
		    back_end_up),
		cmocka_unit_test(keys_are_private_to_each_plugin),
		cmocka_unit_test(
		    a_record_changed_by_another_writer_is_not_overwritten),
		cmocka_unit_test_teardown(
		    init_and_health_writes_commit_after_the_call, back_end_up),
		cmocka_unit_test_teardown(a_failed_init_leaves_no_writes,
		    back_end_up),
		cmocka_unit_test(a_configuration_check_has_no_store),
		cmocka_unit_test(a_mailbox_comes_with_its_server_profile),
		cmocka_unit_test(a_plugins_holds_follow_the_retry_policy),
		cmocka_unit_test(a_known_lookup_keeps_the_last_kv_get_value),
		cmocka_unit_test(
		    many_buffered_writes_are_found_rolled_back_and_committed),
		cmocka_unit_test(
		    a_plugin_built_for_abi_1_is_refused_naming_file_and_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_kv.c - the plugins' key/value store through the real worker step
 * (deliver_next), the real loader and a real LMDB store: a plugin's
 * writes commit with a successful delivery and vanish with a failed one.
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
#include "pluginkv.h"
#include "status.h"

static char p_kvtest[] = "kvtest";
static char *const plugins[] = { p_kvtest, NULL };

static uint64_t
queue_one(struct store *st, const char *subject)
{
	char raw[200];
	struct queue_item it = { .received = 1000 };
	struct store_txn *t;
	const char *err;
	uint64_t id;

	snprintf(raw, sizeof(raw), "Subject: %s\r\n\r\nbody\r\n", subject);
	it.raw = raw;
	it.raw_len = strlen(raw);
	assert_int_equal(store_txn_begin(st, true, &t, &err), 0);
	assert_int_equal(queue_put(t, &it, plugins, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	return id;
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

static void
plugin_writes_commit_only_with_success(void **state)
{
	char *dir = scratch_dir(), path[300], text[1200], *v;
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	struct deliver_opts o = { .policy = QUEUE_POLICY_DEFAULT };
	const char *top = getenv("top_builddir"), *err;
	struct plugin_set *ps;
	struct store_txn *t;
	struct queue_delivery d;
	struct conf *c;
	struct store *st;
	uint64_t a, f, b;
	int64_t next;
	int did;

	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &so, &st, &err), 0);
	snprintf(text, sizeof(text), "PluginDir %s/tests/plugins/.libs\n"
	    "Plugins kvtest\n", top ? top : ".");
	assert_int_equal(conf_parse_string("kv.conf", text, &c, &err), 0);
	o.kv = pluginkv_new(st);
	if (plugin_set_load(c, pluginkv_ops(), o.kv, &ps, &err) != 0)
		fail_msg("%s", err);

	a = queue_one(st, "first");
	f = queue_one(st, "please fail");
	b = queue_one(st, "second");
	/* One batch: the failed delivery's writes are undone alone. */
	assert_int_equal(deliver_next(st, ps, &o, 2000, &did, &next, &err), 0);
	assert_int_equal(did, 3);
	assert_int_equal(deliver_next(st, ps, &o, 2000, &did, &next, &err), 0);
	assert_int_equal(did, 0);

	assert_int_equal(store_txn_begin(st, false, &t, &err), 0);
	assert_int_equal(queue_delivery_get(t, a, "kvtest", &d, &err), 0);
	assert_string_equal(d.activity_id, "kv-1");
	assert_int_equal(queue_delivery_get(t, b, "kvtest", &d, &err), 0);
	assert_string_equal(d.activity_id, "kv-2");	/* fail's number was not kept */
	assert_int_equal(queue_delivery_get(t, f, "kvtest", &d, &err), 0);
	assert_int_equal(d.state, QUEUE_PENDING);
	store_txn_abort(t);

	snprintf(path, sizeof(path), "seen/%016llx", (unsigned long long)a);
	assert_non_null(v = committed(st, path));
	assert_string_equal(v, "first");
	free(v);
	snprintf(path, sizeof(path), "seen/%016llx", (unsigned long long)f);
	assert_null(committed(st, path));
	assert_null(committed(st, "poison"));
	assert_non_null(v = committed(st, "counter/msgs"));
	assert_string_equal(v, "2");
	free(v);

	plugin_set_free(ps);
	pluginkv_free(o.kv);
	conf_unref(c);
	store_close(st);
	rm_tree(dir);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plugin_writes_commit_only_with_success),
		cmocka_unit_test(keys_are_private_to_each_plugin),
		cmocka_unit_test(
		    a_record_changed_by_another_writer_is_not_overwritten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

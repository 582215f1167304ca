/*
 * test_example.c - the example plugin (contrib/example-plugin/example.c,
 * written from the public header alone) through the real loader, the
 * real worker step and a real store: its typed keys, kv in init and
 * health, deliveries that fill the known-senders index, a rebuilt index,
 * its dvmilterctl command, and a pause its "throttled" back end asks for.
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
#include <lmdb.h>

#include "../unit/testutil.h"
#include "conf.h"
#include "deliver.h"
#include "known.h"
#include "pluginkv.h"
#include "status.h"
#include "store_int.h"

static char p_example[] = "example";
static char *const plugins[] = { p_example, NULL };

struct efx {
	char *dir;
	char pause[300];		/* Example.PauseFile */
	struct store *st;
	struct conf *c;
	struct deliver_opts o;
	struct plugin_set *ps;
};

static struct efx F;

static int
load(int mode, const char **err)
{
	return plugin_set_load(F.c, &(struct plugin_host_opts){
	    .mode = mode, .store = F.st, .kv = F.o.kv }, &F.ps, err);
}

static int
setup(void **state)
{
	struct store_opts so = { .mapsize = 16 << 20, .create = true };
	const char *top = getenv("top_builddir"), *err;
	char path[400], text[2000];

	(void)state;
	memset(&F, 0, sizeof(F));
	F.dir = scratch_dir();
	snprintf(F.pause, sizeof(F.pause), "%s/throttled", F.dir);
	snprintf(path, sizeof(path), "%s/db", F.dir);
	assert_int_equal(store_open(path, &so, &F.st, &err), 0);
	assert_int_equal(outbox_open(F.st, &(const struct outbox_opts){
	    .plugins = plugins }, &F.o.outbox, &err), 0);
	snprintf(text, sizeof(text), "PluginDir %s/contrib/example-plugin/"
	    ".libs\nPlugins example\nExample.PauseFile %s\n"
	    "Example.PauseFor 2m\nExample.MaxSubject 5\n", top ? top : ".",
	    F.pause);
	assert_int_equal(conf_parse_string("ex.conf", text, &F.c, &err), 0);
	F.o.policy = (struct retry_policy)RETRY_POLICY_DEFAULT;
	F.o.kv = pluginkv_new(F.st);
	if (load(DVP_MODE_WORKER, &err) != 0)
		fail_msg("%s", err);
	return 0;
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
	rm_tree(F.dir);
	return 0;
}

static uint64_t
queue_from(const char *from, const char *subject)
{
	char raw[400];
	struct outbox_item it = { .received = 1000 };
	struct store_txn *t;
	const char *err;
	uint64_t id;

	snprintf(raw, sizeof(raw), "From: <%s>\r\nSubject: %s\r\n\r\nbody\r\n",
	    from, subject);
	it.raw = raw;
	it.raw_len = strlen(raw);
	it.envelope_from = from;
	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(outbox_put(F.o.outbox, t, &it, &id, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	return id;
}

static int
step(int64_t now)
{
	const char *err;
	int64_t next;
	int did;

	assert_int_equal(deliver_next(F.st, F.ps, &F.o, now, &did, &next,
	    &err), 0);
	return did;
}

/* A committed value of the plugin, or NULL. */
static char *
value(const char *key)
{
	struct store_txn *t;
	const void *v;
	size_t len;
	const char *err;
	char *out = NULL;

	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	if (pluginkv_txn_get(t, "example", key, &v, &len, &err) == 0)
		out = strndup(v, len);
	store_txn_abort(t);
	return out;
}

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

static struct outbox_delivery
delivery(uint64_t id)
{
	struct outbox_delivery d;
	struct store_txn *t;
	const char *err;
	size_t n = 0;

	assert_int_equal(store_txn_begin(F.st, false, &t, &err), 0);
	assert_int_equal(outbox_deliveries(F.o.outbox, t, id, &d, 1, &n,
	    &err), 0);
	store_txn_abort(t);
	assert_int_equal(n, 1);
	return d;
}

static void
a_delivery_records_the_message_and_makes_its_sender_known(void **state)
{
	struct outbox_delivery d;
	char key[40], *v;
	uint64_t id;

	(void)state;
	assert_false(known("ann@ext.example"));
	id = queue_from("Ann@Ext.Example", "Hello there");
	assert_int_equal(step(2000), 1);
	d = delivery(id);
	assert_int_equal(d.state, OUTBOX_DONE);
	snprintf(key, sizeof(key), "ex-%016llx", (unsigned long long)id);
	assert_string_equal(d.activity_id, key);
	snprintf(key, sizeof(key), "msg/%016llx", (unsigned long long)id);
	assert_non_null(v = value(key));
	assert_string_equal(v, "Hello");	/* Example.MaxSubject 5 */
	free(v);
	assert_true(known("ann@ext.example"));
	assert_false(known("bob@ext.example"));
}

/* init counts its starts in the store; a check has no store. */
static void
init_keeps_a_counter_and_a_check_needs_no_store(void **state)
{
	const char *err;
	char *v;

	(void)state;
	assert_non_null(v = value("counter/starts"));
	assert_string_equal(v, "1");
	free(v);
	plugin_set_free(F.ps);
	assert_int_equal(load(DVP_MODE_WORKER, &err), 0);
	assert_non_null(v = value("counter/starts"));
	assert_string_equal(v, "2");
	free(v);
	plugin_set_free(F.ps);
	F.ps = NULL;
	if (plugin_set_load(F.c, NULL, &F.ps, &err) != 0)
		fail_msg("%s", err);
}

/* Its index, dropped by the host, comes back from its own records. */
static void
a_lost_index_is_rebuilt_from_the_senders(void **state)
{
	struct store_txn *t;
	const char *err;

	(void)state;
	(void)queue_from("carl@ext.example", "Hi");
	assert_int_equal(step(2000), 1);
	plugin_set_free(F.ps);
	F.ps = NULL;
	assert_true(known("carl@ext.example"));
	/* The host drops its index (a new format, say). */
	assert_int_equal(store_txn_begin(F.st, true, &t, &err), 0);
	assert_int_equal(mdb_drop(t->txn, F.st->known, 0), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
	assert_false(known("carl@ext.example"));
	assert_int_equal(load(DVP_MODE_WORKER, &err), 0);
	assert_true(known("carl@ext.example"));
}

/*
 * "Throttled": the first delivery asks for a pause, the others are held
 * back unattempted, health() is not asked; when the pause is over and
 * the back end is back, all go.
 */
static void
a_throttled_back_end_pauses_all_deliveries(void **state)
{
	struct outbox_delivery d;
	uint64_t id[3];
	FILE *fp;
	char *v;

	(void)state;
	assert_non_null(fp = fopen(F.pause, "w"));
	fclose(fp);
	for (int i = 0; i < 3; i++)
		id[i] = queue_from("dora@ext.example", "Busy?");
	assert_int_equal(step(2000), 3);
	assert_int_equal(delivery(id[0]).attempts, 1);
	for (int i = 1; i < 3; i++) {
		d = delivery(id[i]);
		assert_int_equal(d.attempts, 0);
		assert_true(d.next_at >= 2120 && d.next_at <= 2122);
	}
	assert_null(v = value("counter/health-checks"));
	assert_int_equal(step(2100), 0);
	remove(F.pause);
	for (int64_t now = 2122; now < 9000; now += 60)
		while (step(now) > 0)
			;
	for (int i = 0; i < 3; i++)
		assert_int_equal(delivery(id[i]).state, OUTBOX_DONE);
	assert_non_null(v = value("sender/dora@ext.example"));
	assert_string_equal(v, "3");
	free(v);
}

/* Its command, run as dvmilterctl runs it: writes commit on success. */
static void
its_command_is_run_with_the_store(void **state)
{
	const struct dvp_command *cmd;
	struct plugin *p;
	const char *err;
	char a0[] = "example", a1[] = "add", a2[] = "Eve@Ext.Example";
	char b1[] = "frobnicate";
	char *add[] = { a0, a1, a2, NULL }, *bad[] = { a0, b1, NULL };

	(void)state;
	plugin_set_free(F.ps);
	F.ps = NULL;
	assert_int_equal(plugin_set_load(F.c, &(struct plugin_host_opts){
	    .mode = DVP_MODE_ADMIN, .store = F.st }, &F.ps, &err), 0);
	assert_non_null(cmd = plugin_set_command(F.ps, "example", &p));
	assert_null(plugin_set_command(F.ps, "case", &p));
	assert_int_equal(plugin_command(p, cmd, 3, add), DVP_CMD_OK);
	assert_true(known("eve@ext.example"));
	assert_int_equal(plugin_command(p, cmd, 2, bad), DVP_CMD_USAGE);
}

/* Its keys go through the host's typed getters. */
static void
its_keys_are_checked_by_the_host(void **state)
{
	const char *top = getenv("top_builddir"), *err;
	struct plugin_set *ps = NULL;
	struct conf *c;
	char text[2000];

	(void)state;
	snprintf(text, sizeof(text), "PluginDir %s/contrib/example-plugin/"
	    ".libs\nPlugins example\nExample.MaxSubject 99999999999999999999\n",
	    top ? top : ".");
	assert_int_equal(conf_parse_string("ex.conf", text, &c, &err), 0);
	assert_int_equal(plugin_set_load(c, NULL, &ps, &err), DV_ECONF);
	assert_non_null(strstr(err, "init failed: ex.conf:3: "
	    "Example.MaxSubject: \"99999999999999999999\" is not a number"));
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    a_delivery_records_the_message_and_makes_its_sender_known,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    init_keeps_a_counter_and_a_check_needs_no_store,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_lost_index_is_rebuilt_from_the_senders, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_throttled_back_end_pauses_all_deliveries, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    its_command_is_run_with_the_store, setup, teardown),
		cmocka_unit_test(its_keys_are_checked_by_the_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

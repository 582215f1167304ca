/*
 * kvtest.c - a plugin for the host's key/value store tests: it numbers
 * each message it records with a counter and remembers its subject; a
 * subject containing "fail" makes it write a "poison" key and then fail,
 * which must leave no trace. With KVTEST_DOWN in the environment its
 * back end is "down": every delivery fails for now, and so does health().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvmilter_plugin.h"

static const struct dvp_host *kvhost;
static const char *const no_keys[] = { NULL };

static int
kvt_init(const struct dvp_host *host, void **state_r, char *err, size_t errsz)
{
	kvhost = host;
	*state_r = (void *)&kvhost;
	return DVP_OK;
}

static int
kvt_health(void *state, char *msg, size_t msgsz)
{
	if (getenv("KVTEST_DOWN") != NULL) {
		snprintf(msg, msgsz, "down on request");
		return DVP_TRANSIENT;
	}
	return DVP_OK;
}

static void
kvt_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	char key[100];
	uint64_t n;

	if (getenv("KVTEST_DOWN") != NULL) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "back end down");
		return;
	}
	if (kvhost->kv_next(kvhost->ctx, "msgs", &n) != 0) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "kv_next failed");
		return;
	}
	snprintf(key, sizeof(key), "seen/%s", m->id);
	kvhost->kv_put(kvhost->ctx, key, m->subject, strlen(m->subject));
	if (strstr(m->subject, "fail") != NULL) {
		kvhost->kv_put(kvhost->ctx, "poison", "x", 1);
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "asked to fail");
		return;
	}
	r->status = DVP_OK;
	snprintf(r->activity_id, sizeof(r->activity_id), "kv-%llu",
	    (unsigned long long)n);
}

static void
kvt_shutdown(void *state)
{
}

static const struct dvp_plugin kvtest = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "kvtest",
	.version = "1",
	.config_keys = no_keys,
	.init = kvt_init,
	.health = kvt_health,
	.deliver = kvt_deliver,
	.shutdown = kvt_shutdown,
};

const struct dvp_plugin *dvmilter_plugin_entry(uint32_t major, uint32_t minor);

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	return major == DVP_ABI_MAJOR ? &kvtest : NULL;
}

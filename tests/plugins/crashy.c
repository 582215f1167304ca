/*
 * crashy.c - a plugin for the poison-message tests: it kills the worker
 * (abort()) when it is handed a message whose Message-ID contains
 * "poison", and records every other message (activity "crashy-ID"),
 * counting its deliveries of each under "count/ID" so that a test can
 * tell a message delivered once from one delivered twice.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvmilter_plugin.h"

static const char *const no_keys[] = { NULL };

static int
crashy_init(const struct dvp_host *host, void **state_r, char *err,
    size_t errsz)
{
	(void)err;
	(void)errsz;
	*state_r = (void *)(uintptr_t)host;
	return DVP_OK;
}

static void
crashy_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	const struct dvp_host *h = state;
	char key[64];
	uint64_t n;

	(void)d;
	if (m->message_id != NULL && strstr(m->message_id, "poison") != NULL)
		abort();
	snprintf(key, sizeof(key), "count/%s", m->id);
	if (h->kv_next(h->ctx, key, &n) != DVP_KV_OK) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "kv_next failed");
		return;
	}
	r->status = DVP_OK;
	snprintf(r->activity_id, sizeof(r->activity_id), "crashy-%s", m->id);
}

static int
crashy_health(void *state, char *msg, size_t msgsz)
{
	(void)state;
	(void)msg;
	(void)msgsz;
	return DVP_OK;
}

static void
crashy_shutdown(void *state)
{
	(void)state;
}

static const struct dvp_plugin crashy = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "crashy",
	.version = "1",
	.config_keys = no_keys,
	.init = crashy_init,
	.health = crashy_health,
	.deliver = crashy_deliver,
	.shutdown = crashy_shutdown,
};

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	(void)minor;
	return major == DVP_ABI_MAJOR ? &crashy : NULL;
}

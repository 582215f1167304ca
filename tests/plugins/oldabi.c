/*
 * oldabi.c - a plugin built for plugin ABI 1.2, against a copy of that
 * version's header (tests/plugins/abi1/), as the local plugin of
 * dvmilter 0.1 was: the loader must refuse it and say so.
 */
#include "config.h"

#include <stdint.h>

#include "dvmilter_plugin.h"

#if DVP_ABI_MAJOR != 1
#error "oldabi.c must be built against tests/plugins/abi1/dvmilter_plugin.h"
#endif

static const char *const no_keys[] = { NULL };

static int
old_init(const struct dvp_host *host, void **state_r, char *err,
    size_t errsz)
{
	(void)host;
	(void)err;
	(void)errsz;
	*state_r = NULL;
	return DVP_OK;
}

static int
old_health(void *state, char *msg, size_t msgsz)
{
	(void)state;
	(void)msg;
	(void)msgsz;
	return DVP_OK;
}

static void
old_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	(void)state;
	(void)m;
	(void)d;
	r->status = DVP_OK;
}

static void
old_shutdown(void *state)
{
	(void)state;
}

static const struct dvp_plugin oldabi = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "oldabi",
	.version = "1",
	.config_keys = no_keys,
	.init = old_init,
	.health = old_health,
	.deliver = old_deliver,
	.shutdown = old_shutdown,
};

const struct dvp_plugin *dvmilter_plugin_entry(uint32_t major,
    uint32_t minor);

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	(void)minor;
	return major == DVP_ABI_MAJOR ? &oldabi : NULL;
}

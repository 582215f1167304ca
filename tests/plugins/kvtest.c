/*
 * kvtest.c - a plugin for the host's key/value store tests: it numbers
 * each message it records with a counter and remembers its subject; a
 * subject containing "fail" makes it write a "poison" key and then fail,
 * which must leave no trace. With KVTEST_DOWN in the environment its
 * back end is "down": every delivery fails for now, and so does health().
 * Its init and health() count their calls in the store (counters
 * "inits" and "healths"), and init checks that there is no store in
 * DVP_MODE_CHECK; with KVTEST_INIT_FAIL it writes "poison" and fails.
 * It records what it was told of each mailbox under "mbox/ID/ADDRESS":
 * owner and email server profile.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvmilter_plugin.h"

struct kvt {
	const struct dvp_host *h;
};

static const char *const no_keys[] = { NULL };

static int
kvt_init(const struct dvp_host *host, void **state_r, char *err, size_t errsz)
{
	struct kvt *k;
	uint64_t n;
	int rc;

	if (host->mode == DVP_MODE_CHECK) {
		rc = host->kv_put(host->ctx, "check", "x", 1);
		if (rc != DVP_KV_UNAVAILABLE) {
			snprintf(err, errsz, "kv_put without a store: %d", rc);
			return DVP_PERMANENT;
		}
	} else if (host->kv_next(host->ctx, "inits", &n) != DVP_KV_OK) {
		snprintf(err, errsz, "kv_next in init failed");
		return DVP_PERMANENT;
	}
	if (getenv("KVTEST_INIT_FAIL") != NULL) {
		host->kv_put(host->ctx, "poison", "x", 1);
		snprintf(err, errsz, "failing on request");
		return DVP_PERMANENT;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return DVP_PERMANENT;
	}
	k->h = host;
	*state_r = k;
	return DVP_OK;
}

static int
kvt_health(void *state, char *msg, size_t msgsz)
{
	struct kvt *k = state;
	uint64_t n;

	(void)k->h->kv_next(k->h->ctx, "healths", &n);
	if (getenv("KVTEST_DOWN") != NULL) {
		snprintf(msg, msgsz, "down on request");
		return DVP_TRANSIENT;
	}
	return DVP_OK;
}

/* "owner|profile|type|tls|auth|url|user|secret", or "owner|-". */
static void
note_mailboxes(const struct dvp_host *h, const struct dvp_message *m,
    const struct dvp_decision *d)
{
	char key[200], val[2000];

	for (size_t i = 0; i < d->nmailboxes; i++) {
		const struct dvp_mailbox *b = DVP_MAILBOX(d, i);
		const struct dvp_profile *p = b->profile;

		snprintf(key, sizeof(key), "mbox/%s/%s", m->id, b->address);
		if (p == NULL)
			snprintf(val, sizeof(val), "%s|-",
			    b->owner ? b->owner : "-");
		else
			snprintf(val, sizeof(val), "%s|%s|%d|%d|%d|%s|%s|%s",
			    b->owner ? b->owner : "-", p->name, p->server_type,
			    p->tls, p->auth, p->smtp_url ? p->smtp_url : "-",
			    p->username ? p->username : "-",
			    p->secret_file ? p->secret_file : "-");
		h->kv_put(h->ctx, key, val, strlen(val));
	}
}

static void
kvt_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	struct kvt *k = state;
	const struct dvp_host *h = k->h;
	char key[100];
	uint64_t n;

	if (getenv("KVTEST_DOWN") != NULL) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "back end down");
		return;
	}
	if (h->kv_next(h->ctx, "msgs", &n) != 0) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "kv_next failed");
		return;
	}
	snprintf(key, sizeof(key), "seen/%s", m->id);
	h->kv_put(h->ctx, key, m->subject, strlen(m->subject));
	note_mailboxes(h, m, d);
	if (strstr(m->subject, "fail") != NULL) {
		h->kv_put(h->ctx, "poison", "x", 1);
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
	free(state);
}

static const struct dvp_plugin kvtest = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "kvtest",
	.version = "2",
	.config_keys = no_keys,
	.init = kvt_init,
	.health = kvt_health,
	.deliver = kvt_deliver,
	.shutdown = kvt_shutdown,
};

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t major, uint32_t minor)
{
	(void)minor;
	return major == DVP_ABI_MAJOR ? &kvtest : NULL;
}

/*
 * example.c - an example dvmilter plugin, written from
 * dvmilter_plugin.h and docs/PLUGINS.md alone.
 *
 * It keeps a guest book: for each tracked message, the subject under
 * "msg/ID", and for each sender how many messages came from them under
 * "sender/ADDRESS", which also makes the sender a known sender (the
 * "known senders" tracking filter). "dvmilterctl example ..." lists and
 * changes the book. To show the pause a throttled back end asks for,
 * its back end is "throttled" while the file Example.PauseFile exists.
 *
 * Keys (all optional):
 *   Example.MaxSubject  bytes of a subject kept, 1..998 (default 78)
 *   Example.PauseFile   while this file exists, ask for a pause
 *   Example.PauseFor    how long a pause, a duration (default 1m)
 *   Example.Verbose     log each message (yes/no, default no)
 *
 * Build (outside dvmilter's tree):
 *   cc -shared -fPIC -I/usr/include -o example.so example.c
 * and install example.so, mode 0644 owned by root, in PluginDir.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dvmilter_plugin.h"

/* Everything the plugin keeps: no other mutable state. */
struct example {
	const struct dvp_host *h;
	uint64_t max_subject;
	const char *pause_file;		/* the host's string, or NULL */
	int64_t pause_for;
	int verbose;
};

static const char *const example_keys[] = {
	"MaxSubject", "PauseFile", "PauseFor", "Verbose", NULL
};

/* --- the guest book --------------------------------------------------- */

/* The sender's address in lower case, or "" if it has none. */
static void
sender_of(const struct dvp_message *m, char *out, size_t outsz)
{
	const char *a = m->nfrom > 0 && m->from[0].address != NULL ?
	    m->from[0].address : m->envelope_from;

	snprintf(out, outsz, "%s", a != NULL ? a : "");
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* One more message from @addr: its count, and the known-senders index. */
static int
count_sender(const struct dvp_host *h, const char *addr)
{
	char key[400], num[24];
	const void *v;
	size_t len;
	unsigned long n = 0;
	int rc;

	snprintf(key, sizeof(key), "sender/%s", addr);
	if ((rc = h->kv_get(h->ctx, key, &v, &len)) == DVP_KV_OK) {
		char *end;

		errno = 0;
		n = strtoul(v, &end, 10);	/* the host NUL-terminates */
		if (errno != 0 || end == v || *end != '\0')
			return DVP_KV_ERROR;	/* not one of ours */
	} else if (rc != DVP_KV_NOTFOUND)
		return rc;
	snprintf(num, sizeof(num), "%lu", n + 1);
	if ((rc = h->kv_put(h->ctx, key, num, strlen(num))) != DVP_KV_OK)
		return rc;
	/* An address the host cannot normalise is one nobody looks up. */
	rc = h->known_put(h->ctx, addr);
	return rc == DVP_KV_INVALID ? DVP_KV_OK : rc;
}

/* --- calls -------------------------------------------------------------- */

static int
add_to_index(void *arg, const char *key, const void *val, size_t len)
{
	const struct dvp_host *h = arg;
	int rc;

	(void)val;
	(void)len;
	rc = h->known_put(h->ctx, key + strlen("sender/"));
	return rc == DVP_KV_OK || rc == DVP_KV_INVALID ? 0 : rc;
}

/* The host has no index for us (a new or older store): rebuild it. */
static int
rebuild_index(const struct dvp_host *h)
{
	if (h->kv_foreach(h->ctx, "sender/", add_to_index, (void *)h) != 0 ||
	    h->known_set_complete(h->ctx) != DVP_KV_OK)
		return -1;
	h->log(h->ctx, DVP_LOG_NOTICE, "known-senders index rebuilt");
	return 0;
}

static int
example_init(const struct dvp_host *h, void **state_r, char *err,
    size_t errsz)
{
	struct example *e;
	uint64_t starts;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return DVP_PERMANENT;
	}
	e->h = h;
	e->pause_file = h->config(h->ctx, "PauseFile");
	if (h->config_uint(h->ctx, "MaxSubject", 78, 1, 998, &e->max_subject,
	    err, errsz) != DVP_KV_OK ||
	    h->config_duration(h->ctx, "PauseFor", 60, 1, 86400, &e->pause_for,
	    err, errsz) != DVP_KV_OK ||
	    h->config_bool(h->ctx, "Verbose", 0, &e->verbose, err,
	    errsz) != DVP_KV_OK)
		goto fail;
	/* Only the worker keeps the index; a check has no store at all. */
	if (h->mode == DVP_MODE_WORKER) {
		if (h->kv_next(h->ctx, "starts", &starts) != DVP_KV_OK ||
		    (h->known_complete(h->ctx) == DVP_KV_NOTFOUND &&
		    rebuild_index(h) != 0)) {
			snprintf(err, errsz, "its store cannot be read");
			goto fail;
		}
	}
	*state_r = e;
	return DVP_OK;
fail:
	free(e);
	return DVP_PERMANENT;
}

static int
throttled(const struct example *e)
{
	return e->pause_file != NULL && access(e->pause_file, F_OK) == 0;
}

static int
example_health(void *state, char *msg, size_t msgsz)
{
	struct example *e = state;
	uint64_t n;

	(void)e->h->kv_next(e->h->ctx, "health-checks", &n);
	if (throttled(e)) {
		snprintf(msg, msgsz, "throttled (%s exists)", e->pause_file);
		return DVP_TRANSIENT;
	}
	return DVP_OK;
}

static void
example_deliver(void *state, const struct dvp_message *m,
    const struct dvp_decision *d, struct dvp_result *r)
{
	struct example *e = state;
	const struct dvp_host *h = e->h;
	const char *subj = m->subject != NULL ? m->subject : "";
	char key[400], sender[330];
	size_t len = strlen(subj);

	if (throttled(e)) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "the back end is throttled");
		r->retry_after = e->pause_for;
		/* A field of 2.0: a later host has it too; check anyway. */
		if (DVP_HAS(struct dvp_result, r, pause_all))
			r->pause_all = e->pause_for;
		return;
	}
	if (len > e->max_subject)
		len = (size_t)e->max_subject;
	snprintf(key, sizeof(key), "msg/%s", m->id);
	sender_of(m, sender, sizeof(sender));
	if (h->kv_put(h->ctx, key, subj, len) != DVP_KV_OK ||
	    (sender[0] != '\0' && count_sender(h, sender) != DVP_KV_OK)) {
		r->status = DVP_TRANSIENT;
		snprintf(r->error, sizeof(r->error), "cannot store message %s",
		    m->id);
		return;
	}
	if (e->verbose)
		h->log(h->ctx, DVP_LOG_INFO, "message %s from %s for %zu "
		    "mailbox(es)", m->id, sender, d->nmailboxes);
	r->status = DVP_OK;
	snprintf(r->activity_id, sizeof(r->activity_id), "ex-%s", m->id);
}

static void
example_shutdown(void *state)
{
	free(state);
}

/* --- dvmilterctl example ... ---------------------------------------------- */

static int
print_one(void *arg, const char *key, const void *val, size_t len)
{
	(void)arg;
	printf("%s  %.*s\n", key + strlen("msg/"), (int)len,
	    (const char *)val);
	return 0;
}

/* "example known|add|forget ADDRESS" */
static int
about_sender(const struct dvp_host *h, const char *what, const char *given)
{
	char addr[330], key[400], err[400];
	int rc;

	if (h->mailbox_address(h->ctx, given, addr, sizeof(addr), err,
	    sizeof(err)) != DVP_KV_OK)
		return h->cmd_error(h->ctx, "%s", err);
	snprintf(key, sizeof(key), "sender/%s", addr);
	if (strcmp(what, "known") == 0) {
		if (h->known_has(h->ctx, addr) != DVP_KV_OK)
			return h->cmd_error(h->ctx, "%s is not a known sender",
			    addr);
		printf("%s is a known sender\n", addr);
		return DVP_CMD_OK;
	}
	if (strcmp(what, "add") == 0)
		rc = count_sender(h, addr);
	else if ((rc = h->kv_del(h->ctx, key)) == DVP_KV_OK)
		rc = h->known_del(h->ctx, addr);
	if (rc != DVP_KV_OK)
		return h->cmd_error(h->ctx, "cannot change %s", addr);
	/* Durable before we say so. */
	if (h->kv_commit(h->ctx) != DVP_KV_OK)
		return h->cmd_error(h->ctx, "cannot store %s", addr);
	printf("%s %s\n", strcmp(what, "add") == 0 ? "added" : "forgot", addr);
	return DVP_CMD_OK;
}

static int
example_command(void *state, int argc, char **argv)
{
	struct example *e = state;
	const struct dvp_host *h = e->h;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return h->kv_foreach(h->ctx, "msg/", print_one, NULL) == 0 ?
		    DVP_CMD_OK : h->cmd_error(h->ctx, "cannot read the book");
	if (argc == 3 && (strcmp(argv[1], "known") == 0 ||
	    strcmp(argv[1], "add") == 0 || strcmp(argv[1], "forget") == 0))
		return about_sender(h, argv[1], argv[2]);
	return h->cmd_usage(h->ctx, "example takes list, or known, add or "
	    "forget with an address");
}

static const struct dvp_command example_commands[] = {
	{ "example", "  example list\n"
	    "  example known|add|forget ADDRESS\n", example_command },
	{ NULL, NULL, NULL }
};

static const struct dvp_plugin example_plugin = {
	.size = sizeof(struct dvp_plugin),
	.abi_major = DVP_ABI_MAJOR,
	.abi_minor = DVP_ABI_MINOR,
	.name = "example",
	.version = "1.0",
	.caps = DVP_CAP_ACTIVITY | DVP_CAP_KNOWN_SENDERS,
	.config_keys = example_keys,
	.init = example_init,
	.health = example_health,
	.deliver = example_deliver,
	.shutdown = example_shutdown,
	.commands = example_commands,
};

const struct dvp_plugin *
dvmilter_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor)
{
	(void)host_abi_minor;	/* 2.0 is all it needs */
	return host_abi_major == DVP_ABI_MAJOR ? &example_plugin : NULL;
}

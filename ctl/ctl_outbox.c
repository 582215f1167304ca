/*
 * ctl_outbox.c - "dvmilterctl outbox ..." (or by its old name, "queue"):
 * the outbox as an operator sees it: what waits, what failed and why,
 * and the two remedies (retry now, or drop). It never delivers anything
 * itself; the worker does.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_int.h"
#include "outbox.h"
#include "status.h"

static int
parse_id(const char *s, uint64_t *id)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return ctl_fail("\"%s\" is not an outbox entry id", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return ctl_fail("\"%s\" is not an outbox entry id", s);
	*id = v;
	return CTL_OK;
}

/* Parse "[--json] [ID]" style arguments. */
static int
args(int argc, char **argv, bool want_id, bool allow_json, bool *json,
    uint64_t *id, const char **plugin, const char **state)
{
	int npos = 0;

	*json = false;
	if (plugin != NULL)
		*plugin = NULL;
	if (state != NULL)
		*state = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && allow_json)
			*json = true;
		else if (strcmp(argv[i], "--state") == 0 && state != NULL) {
			if (i + 1 >= argc || (strcmp(argv[i + 1], "pending") != 0 &&
			    strcmp(argv[i + 1], "done") != 0 &&
			    strcmp(argv[i + 1], "dead") != 0))
				return ctl_usage_error("outbox %s: --state needs "
				    "pending, done or dead", argv[0]);
			*state = argv[++i];
		}
		else if (strcmp(argv[i], "--plugin") == 0 && plugin != NULL) {
			if (i + 1 >= argc)
				return ctl_usage_error("outbox %s: --plugin needs "
				    "a NAME", argv[0]);
			*plugin = argv[++i];
		}
		else if (argv[i][0] == '-')
			return ctl_usage_error("outbox %s: unknown option %s",
			    argv[0], argv[i]);
		else if (want_id && npos++ == 0) {
			int rc = parse_id(argv[i], id);
			if (rc != CTL_OK)
				return rc;
		} else
			return ctl_usage_error("outbox %s: unexpected \"%s\"",
			    argv[0], argv[i]);
	}
	if (want_id && npos == 0)
		return ctl_usage_error("outbox %s takes an entry ID", argv[0]);
	return CTL_OK;
}

static json_t *
delivery_json(const struct outbox_delivery *d)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}",
	    "plugin", d->plugin, "state", outbox_state_name(d->state),
	    "attempts", (json_int_t)d->attempts,
	    "next_attempt", (json_int_t)(d->state == OUTBOX_PENDING ?
	    d->next_at : 0),
	    "updated", (json_int_t)d->updated,
	    "error", d->last_error[0] ? json_string(d->last_error) : json_null(),
	    "activity_id", d->activity_id[0] ? json_string(d->activity_id) :
	    json_null(),
	    "case_id", d->case_id[0] ? json_string(d->case_id) : json_null());
}

/*
 * The state of a message as a whole: dead beats pending beats done. One
 * without deliveries is not indexed yet (the daemon's outbox writer
 * gives it its deliveries within OB_INDEX_MAX_US, or when it starts
 * again): pending.
 */
static const char *
overall(const struct outbox_delivery *d, size_t nd)
{
	bool pending = nd == 0;

	for (size_t i = 0; i < nd; i++) {
		if (d[i].state == OUTBOX_DEAD)
			return "dead";
		if (d[i].state == OUTBOX_PENDING)
			pending = true;
	}
	return pending ? "pending" : "done";
}

struct list_ctx {
	struct outbox *ob;
	struct store_txn *t;
	const char *state;		/* --state, or NULL for all */
	char err[512];
	bool json;
	json_t *arr;
	struct ctl_table *tab;
};

static int
list_cb(void *arg, uint64_t id, const struct outbox_delivery *d, size_t nd)
{
	struct list_ctx *lc = arg;
	struct outbox_msg *m;
	const char *err;
	char idbuf[24], when[40], plugins[200] = "";
	size_t used = 0;
	int rc;

	if (lc->state != NULL && strcmp(overall(d, nd), lc->state) != 0)
		return 0;
	if ((rc = outbox_get(lc->ob, lc->t, id, 0, &m, &err)) != 0) {
		snprintf(lc->err, sizeof(lc->err), "%s", err);
		return rc == DV_ENOTFOUND ? 0 : rc;
	}
	if (lc->json) {
		json_t *ds = json_array();

		for (size_t i = 0; i < nd; i++)
			json_array_append_new(ds, delivery_json(&d[i]));
		json_array_append_new(lc->arr, json_pack("{s:I, s:s, s:s, "
		    "s:I, s:o, s:o, s:o, s:I, s:o, s:o}",
		    "id", (json_int_t)id, "state", overall(d, nd),
		    "direction", m->direction ? "outgoing" : "incoming",
		    "received", (json_int_t)m->received,
		    "queue_id", m->queue_id ? json_string(m->queue_id) :
		    json_null(),
		    "from", m->envelope_from ? json_string(m->envelope_from) :
		    json_null(),
		    "message_id", m->message_id ? json_string(m->message_id) :
		    json_null(),
		    "size", (json_int_t)m->raw_len, "deliveries", ds,
		    "pruned", m->pruned ? json_integer(m->pruned) :
		    json_null()));
	} else {
		const char *cells[6];

		for (size_t i = 0; i < nd; i++) {
			int n = snprintf(plugins + used, sizeof(plugins) - used,
			    "%s%s:%s", i ? " " : "", d[i].plugin,
			    outbox_state_name(d[i].state));
			if (n > 0 && (size_t)n < sizeof(plugins) - used)
				used += (size_t)n;
		}
		snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
		ctl_time(m->received, when, sizeof(when));
		cells[0] = idbuf;
		cells[1] = overall(d, nd);
		cells[2] = when;
		cells[3] = m->envelope_from;
		cells[4] = m->message_id;
		cells[5] = plugins;
		rc = ctl_table_row(lc->tab, cells);
	}
	outbox_msg_free(m);
	return rc;
}

/*
 * outbox logged: how many messages the daemon's outbox log holds that the
 * store does not have yet (it moves them within a fraction of a second,
 * or at its next start after a crash).
 */
static int
cmd_logged(struct ctl *ctl, int argc, char **argv)
{
	struct outbox *ob;
	const char *err;
	size_t n = 0;
	bool json;
	int rc;

	if ((rc = args(argc, argv, false, true, &json, NULL, NULL, NULL)) !=
	    CTL_OK)
		return rc;
	if ((ob = ctl_outbox_open(ctl)) == NULL)
		return CTL_FAIL;
	if (outbox_logged(ob, &n, &err) != 0)
		return ctl_fail("%s", err);
	if (json)
		return ctl_print_json(json_pack("{s:I}", "logged",
		    (json_int_t)n));
	printf("%zu\n", n);
	return CTL_OK;
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID", "STATE", "RECEIVED", "FROM", "MESSAGE-ID", "DELIVERIES"
	};
	struct list_ctx lc = { 0 };
	const char *err = "out of memory";
	uint64_t id;
	int rc;

	if ((rc = args(argc, argv, false, true, &lc.json, &id, NULL,
	    &lc.state)) != CTL_OK)
		return rc;
	if ((lc.ob = ctl_outbox_open(ctl)) == NULL)
		return CTL_FAIL;
	if ((rc = ctl_txn(ctl, false, &lc.t)) != CTL_OK)
		return rc;
	if (lc.json)
		lc.arr = json_array();
	else
		lc.tab = ctl_table_new(6, headers);
	rc = (lc.arr == NULL && lc.tab == NULL) ? ENOMEM :
	    outbox_walk(lc.ob, lc.t, list_cb, &lc, &err);
	store_txn_abort(lc.t);
	if (rc != 0) {
		json_decref(lc.arr);
		ctl_table_free(lc.tab);
		return ctl_fail("%s", lc.err[0] ? lc.err :
		    rc == ENOMEM ? "out of memory" : err);
	}
	if (lc.json)
		return ctl_print_json(lc.arr);
	ctl_table_print(lc.tab, stdout);
	ctl_table_free(lc.tab);
	return CTL_OK;
}

struct show_ctx {
	uint64_t id;
	struct outbox_delivery d[16];
	size_t nd;
};

/* The stored decision as JSON; as a string if it does not parse. */
static json_t *
decision_json(const char *text)
{
	json_t *j;

	if (text == NULL)
		return json_null();
	j = json_loads(text, 0, NULL);
	return j != NULL ? j : json_string(text);
}

static int
show_json(const struct outbox_msg *m, const struct show_ctx *sc)
{
	json_t *ds = json_array(), *rc_arr = json_array();

	for (size_t i = 0; i < sc->nd; i++)
		json_array_append_new(ds, delivery_json(&sc->d[i]));
	for (size_t i = 0; i < m->nrcpts; i++)
		json_array_append_new(rc_arr, json_string(m->rcpts[i]));
	return ctl_print_json(json_pack("{s:I, s:s, s:s, s:I, s:o, s:o, "
	    "s:o, s:o, s:I, s:b, s:o, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)m->id, "state", overall(sc->d, sc->nd),
	    "direction", m->direction ? "outgoing" : "incoming",
	    "received", (json_int_t)m->received,
	    "queue_id", m->queue_id ? json_string(m->queue_id) : json_null(),
	    "from", m->envelope_from ? json_string(m->envelope_from) :
	    json_null(),
	    "rcpts", rc_arr,
	    "message_id", m->message_id ? json_string(m->message_id) :
	    json_null(),
	    "size", (json_int_t)m->raw_len, "truncated", m->truncated,
	    "decision", decision_json(m->decision),
	    "deliveries", ds,
	    "pruned", m->pruned ? json_integer(m->pruned) : json_null(),
	    "digest", m->digest ? json_string(m->digest) : json_null(),
	    "collided_with", m->collided_with ?
	    json_integer((json_int_t)m->collided_with) : json_null()));
}

static void
show_delivery(const struct outbox_delivery *d)
{
	char when[40];

	printf("delivery:    %s %s, %u attempt%s", d->plugin,
	    outbox_state_name(d->state), d->attempts,
	    d->attempts == 1 ? "" : "s");
	if (d->state == OUTBOX_PENDING) {
		ctl_time(d->next_at, when, sizeof(when));
		printf(", next at %s", when);
	}
	if (d->activity_id[0])
		printf(", activity %s", d->activity_id);
	if (d->case_id[0])
		printf(", case %s", d->case_id);
	if (d->last_error[0])
		printf(": %s", d->last_error);
	putchar('\n');
}

static void
show_text(const struct outbox_msg *m, const struct show_ctx *sc)
{
	char when[40];

	ctl_time(m->received, when, sizeof(when));
	printf("id:          %" PRIu64 "\n", m->id);
	printf("state:       %s\n", overall(sc->d, sc->nd));
	printf("direction:   %s\n", m->direction ? "outgoing" : "incoming");
	printf("received:    %s\n", when);
	printf("queue_id:    %s\n", m->queue_id ? m->queue_id : "-");
	printf("from:        %s\n", m->envelope_from ? m->envelope_from : "-");
	for (size_t i = 0; i < m->nrcpts; i++)
		printf("rcpt:        %s\n", m->rcpts[i]);
	printf("message_id:  %s\n", m->message_id ? m->message_id : "-");
	if (m->collided_with != 0)
		printf("collided:    another message reused the Message-ID of "
		    "entry %" PRIu64 "\n", m->collided_with);
	if (m->pruned) {
		ctl_time(m->pruned, when, sizeof(when));
		printf("size:        0 (the message text was removed at %s, "
		    "OutboxRetention)\n", when);
	} else
		printf("size:        %zu%s\n", m->raw_len,
		    m->truncated ? " (truncated)" : "");
	if (sc->nd == 0)
		printf("delivery:    none yet (the daemon has not indexed it: "
		    "it does within 0.1 s while it runs, or when it starts)\n");
	for (size_t i = 0; i < sc->nd; i++)
		show_delivery(&sc->d[i]);
}

static int
cmd_show(struct ctl *ctl, int argc, char **argv)
{
	struct show_ctx sc = { 0 };
	struct outbox *ob;
	struct store_txn *t;
	struct outbox_msg *m;
	const char *err;
	bool json;
	int rc;

	if ((rc = args(argc, argv, true, true, &json, &sc.id, NULL, NULL)) !=
	    CTL_OK)
		return rc;
	if ((ob = ctl_outbox_open(ctl)) == NULL)
		return CTL_FAIL;
	if ((rc = ctl_txn(ctl, false, &t)) != CTL_OK)
		return rc;
	if ((rc = outbox_get(ob, t, sc.id, 0, &m, &err)) != 0) {
		store_txn_abort(t);
		return ctl_fail("%s", err);
	}
	rc = outbox_deliveries(ob, t, sc.id, sc.d, 16, &sc.nd, &err);
	store_txn_abort(t);
	if (rc != 0) {
		outbox_msg_free(m);
		return ctl_fail("%s", err);
	}
	if (json)
		rc = show_json(m, &sc);
	else {
		show_text(m, &sc);
		rc = CTL_OK;
	}
	outbox_msg_free(m);
	return rc;
}

static int
cmd_retry(struct ctl *ctl, int argc, char **argv)
{
	struct outbox *ob;
	struct store_txn *t;
	const char *err, *plugin;
	uint64_t id;
	bool json;
	int rc;

	if ((rc = args(argc, argv, true, false, &json, &id, &plugin, NULL)) != CTL_OK)
		return rc;
	if ((ob = ctl_outbox_open(ctl)) == NULL)
		return CTL_FAIL;
	if ((rc = ctl_txn(ctl, true, &t)) != CTL_OK)
		return rc;
	if (outbox_retry(ob, t, id, plugin, (int64_t)time(NULL), &err) != 0) {
		store_txn_abort(t);
		return ctl_fail("%s", err);
	}
	if ((rc = ctl_commit(t)) != CTL_OK)
		return rc;
	printf("queued %" PRIu64 " for another attempt now\n", id);
	return CTL_OK;
}

static int
cmd_drop(struct ctl *ctl, int argc, char **argv)
{
	struct outbox *ob;
	struct store_txn *t;
	const char *err;
	uint64_t id;
	bool json;
	int rc;

	if ((rc = args(argc, argv, true, false, &json, &id, NULL, NULL)) != CTL_OK)
		return rc;
	if ((ob = ctl_outbox_open(ctl)) == NULL)
		return CTL_FAIL;
	if ((rc = ctl_txn(ctl, true, &t)) != CTL_OK)
		return rc;
	if (outbox_drop(ob, t, id, &err) != 0) {
		store_txn_abort(t);
		return ctl_fail("%s", err);
	}
	if ((rc = ctl_commit(t)) != CTL_OK)
		return rc;
	printf("dropped %" PRIu64 "\n", id);
	return CTL_OK;
}

/* argv[0] is "outbox", or "queue", its old name. */
int
ctl_outbox(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "list", cmd_list },
		{ "logged", cmd_logged },
		{ "show", cmd_show },
		{ "retry", cmd_retry },
		{ "drop", cmd_drop },
		{ NULL, NULL }
	};

	return ctl_dispatch(ctl, argv[0], cmds, argc, argv);
}

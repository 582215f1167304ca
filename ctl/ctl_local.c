/*
 * ctl_local.c - dvmilterctl case, activity, contact and caserule: views
 * of the local plugin's records and the case rules it follows.
 *
 * The records are the plugin's JSON values in the store's plugin table
 * (see plugins/local/local.h for the keys). dvmilterctl changes them in
 * its own transactions; the worker notices a record it read having
 * changed under it and makes that delivery again (core/pluginkv.c), so
 * a case resolved here is never silently reopened by a stale write.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "ctl_int.h"
#include "pluginkv.h"
#include "status.h"

#define LOCAL	"local"

enum {
	OPT_JSON = 256, OPT_STATUS, OPT_CASE, OPT_CREATE_CONTACT,
	OPT_REOPEN_DAYS, OPT_AUTO_REPLY
};

static const struct option local_longopts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "case", required_argument, NULL, OPT_CASE },
	{ "create-contact", required_argument, NULL, OPT_CREATE_CONTACT },
	{ "reopen-days", required_argument, NULL, OPT_REOPEN_DAYS },
	{ "auto-reply", required_argument, NULL, OPT_AUTO_REPLY },
	{ NULL, 0, NULL, 0 }
};

struct lopts {
	bool json;
	const char *status, *kase;
	int create_contact, auto_reply;	/* -1 unset */
	long reopen_days;		/* -1 unset */
	char *pos[2];
	int npos;
};

/* Bits of struct lopts a subcommand takes. */
enum { L_JSON = 1, L_STATUS = 2, L_CASE = 4, L_RULE = 8 };

static int
yesno(const char *opt, const char *v, int *out)
{
	if (strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0)
		*out = 0;
	else
		return ctl_usage_error("%s takes yes or no, not \"%s\"", opt, v);
	return CTL_OK;
}

static int
lparse(const char *what, int argc, char **argv, unsigned allowed, int npos,
    struct lopts *o)
{
	int ch, rc = CTL_OK;
	unsigned need;
	char *end;

	memset(o, 0, sizeof(*o));
	o->create_contact = o->auto_reply = -1;
	o->reopen_days = -1;
	optind = 0;
	opterr = 0;
	while (rc == CTL_OK &&
	    (ch = getopt_long(argc, argv, ":", local_longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON: need = L_JSON; o->json = true; break;
		case OPT_STATUS: need = L_STATUS; o->status = optarg; break;
		case OPT_CASE: need = L_CASE; o->kase = optarg; break;
		case OPT_CREATE_CONTACT:
			need = L_RULE;
			rc = yesno("--create-contact", optarg,
			    &o->create_contact);
			break;
		case OPT_AUTO_REPLY:
			need = L_RULE;
			rc = yesno("--auto-reply", optarg, &o->auto_reply);
			break;
		case OPT_REOPEN_DAYS:
			need = L_RULE;
			errno = 0;
			o->reopen_days = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    o->reopen_days < 0 || o->reopen_days > 3650)
				rc = ctl_usage_error("--reopen-days takes 0 to "
				    "3650, not \"%s\"", optarg);
			break;
		case ':':
			return ctl_usage_error("%s: %s needs a value", what,
			    argv[optind - 1]);
		default:
			return ctl_usage_error("%s: unknown option %s", what,
			    argv[optind - 1]);
		}
		if (rc == CTL_OK && !(allowed & need))
			rc = ctl_usage_error("%s does not take %s", what,
			    argv[optind - 1]);
	}
	if (rc != CTL_OK)
		return rc;
	for (int i = optind; i < argc; i++) {
		if (o->npos == npos)
			return ctl_usage_error("%s takes %d argument%s", what,
			    npos, npos == 1 ? "" : "s");
		o->pos[o->npos++] = argv[i];
	}
	if (o->npos != npos)
		return ctl_usage_error("%s takes %d argument%s", what, npos,
		    npos == 1 ? "" : "s");
	if (o->status != NULL && strcmp(o->status, "active") != 0 &&
	    strcmp(o->status, "resolved") != 0 &&
	    strcmp(o->status, "cancelled") != 0)
		return ctl_usage_error("--status takes active, resolved or "
		    "cancelled, not \"%s\"", o->status);
	return CTL_OK;
}

/* --- records ----------------------------------------------------------------- */

static json_t *
get_json(struct store_txn *t, const char *key, int *rc_r)
{
	const void *v;
	size_t len;
	const char *err;
	json_t *o;

	*rc_r = pluginkv_txn_get(t, LOCAL, key, &v, &len, &err);
	if (*rc_r != 0) {
		if (*rc_r != DV_ENOTFOUND)
			ctl_fail("%s", err);
		return NULL;
	}
	if ((o = json_loadb(v, len, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		*rc_r = DV_ECORRUPT;
		ctl_fail("the record %s is corrupt", key);
		return NULL;
	}
	return o;
}

static int
put_json(struct store_txn *t, const char *key, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	const char *err;
	int rc;

	if (s == NULL)
		return ctl_fail("out of memory");
	rc = pluginkv_txn_put(t, LOCAL, key, s, strlen(s), &err);
	free(s);
	return rc == 0 ? CTL_OK : ctl_fail("%s", err);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* A case by its id or its number (CAS-01001). */
static json_t *
find_case(struct store_txn *t, const char *ref)
{
	char key[200];
	const void *v;
	size_t len;
	const char *err;
	json_t *c;
	int rc;

	if (strlen(ref) > 100)
		return ctl_fail("no such case: %s", ref), NULL;
	snprintf(key, sizeof(key), "casenum/%s", ref);
	/* Numbers are upper case; "cas-01001" is the same case. */
	for (char *p = key + 8; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (pluginkv_txn_get(t, LOCAL, key, &v, &len, &err) == 0 && len < 64) {
		snprintf(key, sizeof(key), "case/%.*s", (int)len,
		    (const char *)v);
	} else
		snprintf(key, sizeof(key), "case/%s", ref);
	c = get_json(t, key, &rc);
	if (c == NULL && rc == DV_ENOTFOUND)
		ctl_fail("no such case: %s", ref);
	return c;
}

/* --- case ------------------------------------------------------------------ */

struct collect {
	json_t *arr;
	const char *status, *kase;
	bool drop_text;
};

static int
collect_cb(void *arg, const char *key, const void *val, size_t len)
{
	struct collect *c = arg;
	json_t *o = json_loadb(val, len, 0, NULL);

	(void)key;
	if (!json_is_object(o)) {
		json_decref(o);
		return 0;		/* shown by "show" as corrupt */
	}
	if ((c->status != NULL && strcmp(str(o, "status"), c->status) != 0) ||
	    (c->kase != NULL && strcmp(str(o, "case"), c->kase) != 0)) {
		json_decref(o);
		return 0;
	}
	if (c->drop_text)
		json_object_del(o, "text");
	return json_array_append_new(c->arr, o) == 0 ? 0 : ENOMEM;
}

static int
by_number(const void *a, const void *b)
{
	return strcmp(str(*(json_t *const *)a, "number"),
	    str(*(json_t *const *)b, "number"));
}

static int
walk(struct ctl *ctl, const char *prefix, struct collect *c)
{
	struct store_txn *t;
	const char *err;
	int rc;

	if ((c->arr = json_array()) == NULL)
		return ctl_fail("out of memory");
	if ((rc = ctl_txn(ctl, false, &t)) != CTL_OK) {
		json_decref(c->arr);
		return rc;
	}
	rc = pluginkv_txn_foreach(t, LOCAL, prefix, collect_cb, c, &err);
	store_txn_abort(t);
	if (rc != 0) {
		json_decref(c->arr);
		return ctl_fail("%s", rc == ENOMEM ? "out of memory" : err);
	}
	return CTL_OK;
}

/* One table row of one record; @buf is scratch for a formatted cell. */
typedef void row_fn(json_t *rec, const char **cells, char *buf,
    size_t bufsz);

/* Print @arr (consumed) as JSON or as a table of @ncols columns. */
static int
print_records(json_t *arr, bool json, size_t ncols, const char *const *hdr,
    row_fn *row)
{
	struct ctl_table *tb;
	json_t *rec;
	size_t i;

	if (json)
		return ctl_print_json(arr);
	if ((tb = ctl_table_new(ncols, hdr)) == NULL) {
		json_decref(arr);
		return ctl_fail("out of memory");
	}
	json_array_foreach(arr, i, rec) {
		const char *cells[8];
		char buf[64];

		row(rec, cells, buf, sizeof(buf));
		ctl_table_row(tb, cells);
	}
	ctl_table_print(tb, stdout);
	ctl_table_free(tb);
	json_decref(arr);
	return CTL_OK;
}

static void
when_cell(json_t *rec, const char *key, char *buf, size_t bufsz)
{
	ctl_time(json_integer_value(json_object_get(rec, key)), buf, bufsz);
}

static void
case_row(json_t *k, const char **cells, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%zu",
	    json_array_size(json_object_get(k, "activities")));
	cells[0] = str(k, "number");
	cells[1] = str(k, "status");
	cells[2] = str(k, "queue");
	cells[3] = str(k, "customer");
	cells[4] = buf;
	cells[5] = str(k, "title");
}

static int
case_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const hdr[] = { "NUMBER", "STATUS", "QUEUE",
	    "CUSTOMER", "ACTIVITIES", "TITLE" };
	struct collect c = { 0 };
	struct lopts o;
	size_t n;
	json_t **v;
	int rc;

	if ((rc = lparse("case list", argc, argv, L_JSON | L_STATUS, 0,
	    &o)) != CTL_OK)
		return rc;
	c.status = o.status;
	if ((rc = walk(ctl, "case/", &c)) != CTL_OK)
		return rc;
	/* Ids are random: list in number order. */
	n = json_array_size(c.arr);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		json_decref(c.arr);
		return ctl_fail("out of memory");
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(c.arr, i));
	qsort(v, n, sizeof(*v), by_number);
	json_array_clear(c.arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(c.arr, v[i]);
	free(v);
	return print_records(c.arr, o.json, 6, hdr, case_row);
}

static int
case_show(struct ctl *ctl, int argc, char **argv)
{
	struct store_txn *t;
	struct lopts o;
	char when[64], key[80];
	json_t *c, *v;
	size_t i;
	int rc;

	if ((rc = lparse("case show", argc, argv, L_JSON, 1, &o)) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, false, &t)) != CTL_OK)
		return rc;
	if ((c = find_case(t, o.pos[0])) == NULL) {
		store_txn_abort(t);
		return CTL_FAIL;
	}
	if (o.json) {
		store_txn_abort(t);
		return ctl_print_json(c);
	}
	printf("number:         %s\nid:             %s\ntitle:          %s\n"
	    "status:         %s\nqueue:          %s\ncustomer:       %s\n"
	    "tracking token: %s\nauto-reply:     %s\nparent case:    %s\n",
	    str(c, "number"), str(c, "id"), str(c, "title"), str(c, "status"),
	    str(c, "queue"), str(c, "customer"), str(c, "tracking_token"),
	    str(c, "auto_reply"), str(c, "parent_case"));
	ctl_time(json_integer_value(json_object_get(c, "created")), when,
	    sizeof(when));
	printf("created:        %s\n", when);
	ctl_time(json_integer_value(json_object_get(c, "resolved_at")), when,
	    sizeof(when));
	printf("resolved:       %s\nactivities:\n", when);
	json_array_foreach(json_object_get(c, "activities"), i, v) {
		json_t *a;
		int arc;

		snprintf(key, sizeof(key), "activity/%s",
		    json_string_value(v) ? json_string_value(v) : "");
		a = get_json(t, key, &arc);
		printf("  %s  %-8s  %-14s  %s\n", json_string_value(v) ?
		    json_string_value(v) : "-", str(a, "direction"),
		    str(a, "correlation"), str(a, "subject"));
		json_decref(a);
	}
	store_txn_abort(t);
	json_decref(c);
	return CTL_OK;
}

/* resolve, reopen, cancel: one status change. */
static int
case_status(struct ctl *ctl, int argc, char **argv, const char *to)
{
	struct store_txn *t;
	struct lopts o;
	char what[32], key[80];
	const char *from;
	json_t *c;
	int rc;

	snprintf(what, sizeof(what), "case %s", argv[0]);
	if ((rc = lparse(what, argc, argv, 0, 1, &o)) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, true, &t)) != CTL_OK)
		return rc;
	if ((c = find_case(t, o.pos[0])) == NULL) {
		store_txn_abort(t);
		return CTL_FAIL;
	}
	from = str(c, "status");
	if (strcmp(from, to) == 0 ||
	    (strcmp(to, "active") != 0 && strcmp(from, "active") != 0)) {
		rc = ctl_fail("case %s is %s", str(c, "number"), from);
		goto out;
	}
	json_object_set_new(c, "status", json_string(to));
	json_object_set_new(c, "modified", json_integer(time(NULL)));
	json_object_set_new(c, "resolved_at", strcmp(to, "resolved") == 0 ?
	    json_integer(time(NULL)) : json_null());
	if (strcmp(to, "active") == 0)
		json_object_set_new(c, "reopened_at", json_integer(time(NULL)));
	snprintf(key, sizeof(key), "case/%s", str(c, "id"));
	if ((rc = put_json(t, key, c)) == CTL_OK) {
		rc = ctl_commit(t);
		t = NULL;
		if (rc == CTL_OK)
			printf("case %s is %s\n", str(c, "number"), to);
	}
out:
	if (t != NULL)
		store_txn_abort(t);
	json_decref(c);
	return rc;
}

static int
case_resolve(struct ctl *ctl, int argc, char **argv)
{
	return case_status(ctl, argc, argv, "resolved");
}

static int
case_reopen(struct ctl *ctl, int argc, char **argv)
{
	return case_status(ctl, argc, argv, "active");
}

static int
case_cancel(struct ctl *ctl, int argc, char **argv)
{
	return case_status(ctl, argc, argv, "cancelled");
}

int
ctl_case(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "list", case_list }, { "show", case_show },
		{ "resolve", case_resolve }, { "reopen", case_reopen },
		{ "cancel", case_cancel }, { NULL, NULL }
	};

	return ctl_dispatch(ctl, "case", cmds, argc, argv);
}

/* --- activity ----------------------------------------------------------------- */

static void
activity_row(json_t *a, const char **cells, char *buf, size_t bufsz)
{
	when_cell(a, "received", buf, bufsz);
	cells[0] = str(a, "id");
	cells[1] = str(a, "direction");
	cells[2] = buf;
	cells[3] = str(a, "from");
	cells[4] = str(a, "correlation");
	cells[5] = str(a, "case");
	cells[6] = str(a, "subject");
}

static int
activity_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const hdr[] = { "ID", "DIRECTION", "RECEIVED",
	    "FROM", "CORRELATION", "CASE", "SUBJECT" };
	struct collect c = { .drop_text = true };
	struct store_txn *t = NULL;
	struct lopts o;
	json_t *k = NULL;
	int rc;

	if ((rc = lparse("activity list", argc, argv, L_JSON | L_CASE, 0,
	    &o)) != CTL_OK)
		return rc;
	if (o.kase != NULL) {
		/* By id or number; the records hold the id. */
		if ((rc = ctl_txn(ctl, false, &t)) != CTL_OK)
			return rc;
		k = find_case(t, o.kase);
		store_txn_abort(t);
		if (k == NULL)
			return CTL_FAIL;
		c.kase = str(k, "id");
	}
	rc = walk(ctl, "activity/", &c);
	if (rc != CTL_OK) {
		json_decref(k);
		return rc;
	}
	json_decref(k);
	c.kase = NULL;
	return print_records(c.arr, o.json, 7, hdr, activity_row);
}

static int
activity_show(struct ctl *ctl, int argc, char **argv)
{
	struct store_txn *t;
	struct lopts o;
	char key[200], when[64];
	json_t *a;
	int rc;

	if ((rc = lparse("activity show", argc, argv, L_JSON, 1, &o)) != CTL_OK)
		return rc;
	if (strlen(o.pos[0]) > 100)
		return ctl_fail("no such activity: %s", o.pos[0]);
	if ((rc = ctl_txn(ctl, false, &t)) != CTL_OK)
		return rc;
	snprintf(key, sizeof(key), "activity/%s", o.pos[0]);
	a = get_json(t, key, &rc);
	store_txn_abort(t);
	if (a == NULL)
		return rc == DV_ENOTFOUND ? ctl_fail("no such activity: %s",
		    o.pos[0]) : CTL_FAIL;
	if (o.json)
		return ctl_print_json(a);
	ctl_time(json_integer_value(json_object_get(a, "received")), when,
	    sizeof(when));
	printf("id:          %s\ndirection:   %s\nreceived:    %s\n"
	    "from:        %s\nsubject:     %s\nmessage-id:  %s\n"
	    "folder:      %s\ncorrelation: %s\ncase:        %s\n\n%s\n",
	    str(a, "id"), str(a, "direction"), when, str(a, "from"),
	    str(a, "subject"), str(a, "message_id"), str(a, "folder"),
	    str(a, "correlation"), str(a, "case"), str(a, "text"));
	json_decref(a);
	return CTL_OK;
}

int
ctl_activity(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "list", activity_list }, { "show", activity_show },
		{ NULL, NULL }
	};

	return ctl_dispatch(ctl, "activity", cmds, argc, argv);
}

/* --- contact ------------------------------------------------------------------- */

static void
contact_row(json_t *k, const char **cells, char *buf, size_t bufsz)
{
	when_cell(k, "created", buf, bufsz);
	cells[0] = str(k, "email");
	cells[1] = str(k, "name");
	cells[2] = buf;
	cells[3] = str(k, "id");
}

static int
contact_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const hdr[] = { "EMAIL", "NAME", "CREATED", "ID" };
	struct collect c = { 0 };
	struct lopts o;
	int rc;

	if ((rc = lparse("contact list", argc, argv, L_JSON, 0, &o)) != CTL_OK)
		return rc;
	if ((rc = walk(ctl, "contact/", &c)) != CTL_OK)
		return rc;
	return print_records(c.arr, o.json, 4, hdr, contact_row);
}

int
ctl_contact(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "list", contact_list }, { NULL, NULL }
	};

	return ctl_dispatch(ctl, "contact", cmds, argc, argv);
}

/* --- caserule ------------------------------------------------------------------ */

static int
rule_set(struct ctl *ctl, int argc, char **argv)
{
	char addr[DV_ADDR_MAX + 1], key[DV_ADDR_MAX + 16];
	struct store_txn *t;
	struct lopts o;
	struct mbox mb;
	const char *err;
	json_t *r;
	int rc;

	if ((rc = lparse("caserule set", argc, argv, L_RULE, 1, &o)) != CTL_OK)
		return rc;
	if ((rc = ctl_mailbox_address(ctl, o.pos[0], addr, sizeof(addr))) !=
	    CTL_OK || (rc = ctl_txn(ctl, true, &t)) != CTL_OK)
		return rc;
	if (store_mailbox_get(t, addr, &mb, &err) != 0) {
		store_txn_abort(t);
		return ctl_fail("%s", err);
	}
	if (mb.pol.type != MBOX_QUEUE) {
		store_txn_abort(t);
		return ctl_fail("%s is a user mailbox; case rules belong to "
		    "queues (mailbox set %s --queue)", addr, addr);
	}
	snprintf(key, sizeof(key), "caserule/%s", addr);
	r = get_json(t, key, &rc);
	if (r == NULL && rc != DV_ENOTFOUND) {
		store_txn_abort(t);
		return CTL_FAIL;
	}
	if (r == NULL)		/* Defaults of a new rule. */
		r = json_pack("{s:s, s:b, s:i, s:b}", "queue", addr,
		    "create_contact", 1, "reopen_days", 7, "auto_reply", 0);
	if (o.create_contact >= 0)
		json_object_set_new(r, "create_contact",
		    json_boolean(o.create_contact));
	if (o.auto_reply >= 0)
		json_object_set_new(r, "auto_reply",
		    json_boolean(o.auto_reply));
	if (o.reopen_days >= 0)
		json_object_set_new(r, "reopen_days",
		    json_integer(o.reopen_days));
	if ((rc = put_json(t, key, r)) != CTL_OK)
		store_txn_abort(t);
	else if ((rc = ctl_commit(t)) == CTL_OK)
		printf("case rule of %s: create-contact %s, reopen-days %lld, "
		    "auto-reply %s\n", addr,
		    json_is_true(json_object_get(r, "create_contact")) ?
		    "yes" : "no",
		    (long long)json_integer_value(json_object_get(r,
		    "reopen_days")),
		    json_is_true(json_object_get(r, "auto_reply")) ?
		    "yes" : "no");
	json_decref(r);
	return rc;
}

static void
rule_row(json_t *r, const char **cells, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%lld",
	    (long long)json_integer_value(json_object_get(r, "reopen_days")));
	cells[0] = str(r, "queue");
	cells[1] = json_is_true(json_object_get(r, "create_contact")) ?
	    "yes" : "no";
	cells[2] = buf;
	cells[3] = json_is_true(json_object_get(r, "auto_reply")) ? "yes" : "no";
}

static int
rule_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const hdr[] = { "QUEUE", "CREATE-CONTACT",
	    "REOPEN-DAYS", "AUTO-REPLY" };
	struct collect c = { 0 };
	struct lopts o;
	int rc;

	if ((rc = lparse("caserule list", argc, argv, L_JSON, 0, &o)) != CTL_OK)
		return rc;
	if ((rc = walk(ctl, "caserule/", &c)) != CTL_OK)
		return rc;
	return print_records(c.arr, o.json, 4, hdr, rule_row);
}

static int
rule_remove(struct ctl *ctl, int argc, char **argv)
{
	char addr[DV_ADDR_MAX + 1], key[DV_ADDR_MAX + 16];
	struct store_txn *t;
	struct lopts o;
	const char *err;
	int rc;

	if ((rc = lparse("caserule remove", argc, argv, 0, 1, &o)) != CTL_OK)
		return rc;
	if ((rc = ctl_mailbox_address(ctl, o.pos[0], addr, sizeof(addr))) !=
	    CTL_OK || (rc = ctl_txn(ctl, true, &t)) != CTL_OK)
		return rc;
	snprintf(key, sizeof(key), "caserule/%s", addr);
	if ((rc = pluginkv_txn_del(t, LOCAL, key, &err)) != 0) {
		store_txn_abort(t);
		return rc == DV_ENOTFOUND ? ctl_fail("%s has no case rule",
		    addr) : ctl_fail("%s", err);
	}
	if ((rc = ctl_commit(t)) == CTL_OK)
		printf("removed the case rule of %s\n", addr);
	return rc;
}

int
ctl_caserule(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "set", rule_set }, { "list", rule_list },
		{ "remove", rule_remove }, { NULL, NULL }
	};

	return ctl_dispatch(ctl, "caserule", cmds, argc, argv);
}

/*
 * admin.c - the local plugin's dvmilterctl commands: case, activity,
 * contact and caserule, views of its records and the case rules it
 * follows.
 *
 * dvmilterctl hands these over (dvmilter_plugin.h, struct dvp_command)
 * and prints what they print. They read and change the records through
 * the host's key/value services (lstore.c), whose writes commit when
 * the command succeeds; the worker notices a record it read having
 * changed under it and makes that delivery again, so a case resolved
 * here is never silently reopened by a stale write. The record layout
 * is documented in dvmilterctl(8). Output and messages are dvmilterctl's
 * own: a text table, or JSON with --json.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "local.h"
#include "lstore.h"

#define ADDR_MAX	320	/* the host's normalised address */

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

/* A subcommand: argv[0] is its name. */
struct subcommand {
	const char *name;
	int (*run)(const struct dvp_host *h, int argc, char **argv);
};

static int
dispatch(const struct dvp_host *h, const char *what,
    const struct subcommand *cmds, int argc, char **argv)
{
	if (argc < 2)
		return h->cmd_usage(h->ctx, "%s needs a subcommand", what);
	for (; cmds->name != NULL; cmds++)
		if (strcmp(argv[1], cmds->name) == 0)
			return cmds->run(h, argc - 1, argv + 1);
	return h->cmd_usage(h->ctx, "unknown %s subcommand \"%s\"", what,
	    argv[1]);
}

/* --- options --------------------------------------------------------------------- */

static int
yesno(const struct dvp_host *h, const char *opt, const char *v, int *out)
{
	if (strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0)
		*out = 0;
	else
		return h->cmd_usage(h->ctx, "%s takes yes or no, not \"%s\"",
		    opt, v);
	return DVP_CMD_OK;
}

/* One option @ch into @o; *need_r is the L_* bit it needs. */
static int
lopt(const struct dvp_host *h, int ch, struct lopts *o, unsigned *need_r)
{
	char *end;

	switch (ch) {
	case OPT_JSON: *need_r = L_JSON; o->json = true; break;
	case OPT_STATUS: *need_r = L_STATUS; o->status = optarg; break;
	case OPT_CASE: *need_r = L_CASE; o->kase = optarg; break;
	case OPT_CREATE_CONTACT:
		*need_r = L_RULE;
		return yesno(h, "--create-contact", optarg, &o->create_contact);
	case OPT_AUTO_REPLY:
		*need_r = L_RULE;
		return yesno(h, "--auto-reply", optarg, &o->auto_reply);
	case OPT_REOPEN_DAYS:
		*need_r = L_RULE;
		errno = 0;
		o->reopen_days = strtol(optarg, &end, 10);
		if (errno != 0 || end == optarg || *end != '\0' ||
		    o->reopen_days < 0 || o->reopen_days > 3650)
			return h->cmd_usage(h->ctx, "--reopen-days takes 0 to "
			    "3650, not \"%s\"", optarg);
		break;
	}
	return DVP_CMD_OK;
}

/* The positional arguments, exactly @npos of them, and --status. */
static int
lpos(const struct dvp_host *h, const char *what, int argc, char **argv,
    int npos, struct lopts *o)
{
	for (int i = optind; i < argc; i++) {
		if (o->npos == npos)
			return h->cmd_usage(h->ctx, "%s takes %d argument%s",
			    what, npos, npos == 1 ? "" : "s");
		o->pos[o->npos++] = argv[i];
	}
	if (o->npos != npos)
		return h->cmd_usage(h->ctx, "%s takes %d argument%s", what,
		    npos, npos == 1 ? "" : "s");
	if (o->status != NULL && strcmp(o->status, "active") != 0 &&
	    strcmp(o->status, "resolved") != 0 &&
	    strcmp(o->status, "cancelled") != 0)
		return h->cmd_usage(h->ctx, "--status takes active, resolved or "
		    "cancelled, not \"%s\"", o->status);
	return DVP_CMD_OK;
}

static int
lparse(const struct dvp_host *h, const char *what, int argc, char **argv,
    unsigned allowed, int npos, struct lopts *o)
{
	int ch, rc = DVP_CMD_OK;
	unsigned need = 0;

	memset(o, 0, sizeof(*o));
	o->create_contact = o->auto_reply = -1;
	o->reopen_days = -1;
	optind = 0;
	opterr = 0;
	while (rc == DVP_CMD_OK &&
	    (ch = getopt_long(argc, argv, ":", local_longopts, NULL)) != -1) {
		if (ch == ':')
			return h->cmd_usage(h->ctx, "%s: %s needs a value",
			    what, argv[optind - 1]);
		if (ch < OPT_JSON)
			return h->cmd_usage(h->ctx, "%s: unknown option %s",
			    what, argv[optind - 1]);
		rc = lopt(h, ch, o, &need);
		if (rc == DVP_CMD_OK && !(allowed & need))
			rc = h->cmd_usage(h->ctx, "%s does not take %s", what,
			    argv[optind - 1]);
	}
	return rc != DVP_CMD_OK ? rc : lpos(h, what, argc, argv, npos, o);
}

/* --- output ------------------------------------------------------------------------- */

static void
fmt_time(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outsz, "-");
}

/* Print one JSON document as dvmilterctl does, and release it. */
static int
print_json(const struct dvp_host *h, json_t *doc)
{
	char *s;

	if (doc == NULL)
		return h->cmd_error(h->ctx, "out of memory");
	s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (s == NULL)
		return h->cmd_error(h->ctx, "out of memory");
	puts(s);
	free(s);
	return DVP_CMD_OK;
}

/* Width in characters, not bytes, for UTF-8 names. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * An aligned text table of @nrows rows (row 0: the headers) of @ncols
 * cells each, "-" for an empty one; two spaces between columns.
 */
static void
print_table(const char *const *cells, size_t nrows, size_t ncols)
{
	size_t w[8] = { 0 };

	for (size_t r = 0; r < nrows; r++)
		for (size_t i = 0; i < ncols && i < 8; i++)
			if (width(cells[r * ncols + i]) > w[i])
				w[i] = width(cells[r * ncols + i]);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t i = 0; i < ncols; i++) {
			const char *s = cells[r * ncols + i];

			fputs(s, stdout);
			if (i + 1 == ncols)
				break;
			for (size_t n = width(s); n < w[i] + 2; n++)
				putchar(' ');
		}
		putchar('\n');
	}
}

/* --- records ------------------------------------------------------------------------ */

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/*
 * The record at @key, or NULL with *rc_r: DVP_KV_NOTFOUND silently, or
 * another status after saying why.
 */
static json_t *
get_json(const struct dvp_host *h, const char *key, int *rc_r)
{
	json_t *o;

	*rc_r = lstore_read(h, key, &o);
	if (*rc_r == LS_CORRUPT)
		h->cmd_error(h->ctx, "the record %s is corrupt", key);
	else if (*rc_r != 0 && *rc_r != DVP_KV_NOTFOUND)
		h->cmd_error(h->ctx, "cannot read the record %s", key);
	return o;
}

static int
put_json(const struct dvp_host *h, const char *key, json_t *o)
{
	if (lstore_put(h, key, o) != 0)
		return h->cmd_error(h->ctx, "cannot store the record %s", key);
	return DVP_CMD_OK;
}

/* Make this command's writes durable before it says they are done. */
static int
commit(const struct dvp_host *h, const char *what)
{
	int rc = h->kv_commit(h->ctx);

	if (rc == DVP_KV_CONFLICT)
		return h->cmd_error(h->ctx, "%s changed meanwhile; try again",
		    what);
	if (rc != DVP_KV_OK)
		return h->cmd_error(h->ctx, "cannot store %s", what);
	return DVP_CMD_OK;
}

/* A case by its id or its number (CAS-01001). */
static json_t *
find_case(const struct dvp_host *h, const char *ref)
{
	char key[LS_KEY_MAX + 1];
	const void *v;
	size_t len;
	json_t *c;
	int rc;

	if (strlen(ref) > 100)
		return h->cmd_error(h->ctx, "no such case: %s", ref), NULL;
	(void)lstore_key(key, LS_CASENUM, ref);
	/* Numbers are upper case; "cas-01001" is the same case. */
	for (char *p = key + strlen(LS_CASENUM); *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (h->kv_get(h->ctx, key, &v, &len) == DVP_KV_OK && len < 64) {
		snprintf(key, sizeof(key), "%s%.*s", LS_CASE, (int)len,
		    (const char *)v);
	} else
		(void)lstore_key(key, LS_CASE, ref);
	c = get_json(h, key, &rc);
	if (c == NULL && rc == DVP_KV_NOTFOUND)
		h->cmd_error(h->ctx, "no such case: %s", ref);
	return c;
}

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

/* Every record under @prefix that @c keeps, into c->arr. */
static int
walk(const struct dvp_host *h, const char *prefix, struct collect *c)
{
	int rc;

	if ((c->arr = json_array()) == NULL)
		return h->cmd_error(h->ctx, "out of memory");
	rc = h->kv_foreach(h->ctx, prefix, collect_cb, c);
	if (rc != 0) {
		json_decref(c->arr);
		return h->cmd_error(h->ctx, "%s", rc == ENOMEM ?
		    "out of memory" : "cannot read the store");
	}
	return DVP_CMD_OK;
}

/* One table row of one record; @buf is scratch for a formatted cell. */
typedef void row_fn(json_t *rec, const char **cells, char *buf,
    size_t bufsz);

/* Print @arr (consumed) as JSON or as a table of @ncols columns. */
static int
print_records(const struct dvp_host *h, json_t *arr, bool json,
    size_t ncols, const char *const *hdr, row_fn *row)
{
	size_t n = json_array_size(arr), i;
	const char **cells;
	char (*bufs)[64];
	json_t *rec;

	if (json)
		return print_json(h, arr);
	cells = calloc((n + 1) * ncols, sizeof(*cells));
	bufs = calloc(n + 1, sizeof(*bufs));
	if (cells == NULL || bufs == NULL) {
		free(cells);
		free(bufs);
		json_decref(arr);
		return h->cmd_error(h->ctx, "out of memory");
	}
	memcpy(cells, hdr, ncols * sizeof(*cells));
	json_array_foreach(arr, i, rec) {
		row(rec, cells + (i + 1) * ncols, bufs[i], sizeof(bufs[i]));
		for (size_t k = 0; k < ncols; k++)
			if (cells[(i + 1) * ncols + k][0] == '\0')
				cells[(i + 1) * ncols + k] = "-";
	}
	print_table(cells, n + 1, ncols);
	free(cells);
	free(bufs);
	json_decref(arr);
	return DVP_CMD_OK;
}

static void
when_cell(json_t *rec, const char *key, char *buf, size_t bufsz)
{
	fmt_time(json_integer_value(json_object_get(rec, key)), buf, bufsz);
}

/* --- case ----------------------------------------------------------------------------- */

static int
by_number(const void *a, const void *b)
{
	return strcmp(str(*(json_t *const *)a, "number"),
	    str(*(json_t *const *)b, "number"));
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
case_list(const struct dvp_host *h, int argc, char **argv)
{
	static const char *const hdr[] = { "NUMBER", "STATUS", "QUEUE",
	    "CUSTOMER", "ACTIVITIES", "TITLE" };
	struct collect c = { 0 };
	struct lopts o;
	size_t n;
	json_t **v;
	int rc;

	if ((rc = lparse(h, "case list", argc, argv, L_JSON | L_STATUS, 0,
	    &o)) != DVP_CMD_OK)
		return rc;
	c.status = o.status;
	if ((rc = walk(h, LS_CASE, &c)) != DVP_CMD_OK)
		return rc;
	/* Ids are random: list in number order. */
	n = json_array_size(c.arr);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		json_decref(c.arr);
		return h->cmd_error(h->ctx, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(c.arr, i));
	qsort(v, n, sizeof(*v), by_number);
	json_array_clear(c.arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(c.arr, v[i]);
	free(v);
	return print_records(h, c.arr, o.json, 6, hdr, case_row);
}

/* The cases split from this one (CaseJoinPolicy), by number. */
static void
linked_print(const struct dvp_host *h, json_t *c)
{
	char key[LS_KEY_MAX + 1];
	json_t *v, *k;
	size_t i;
	int rc;

	printf("linked cases:  ");
	json_array_foreach(json_object_get(c, "linked_cases"), i, v) {
		(void)lstore_key(key, LS_CASE, json_string_value(v) ?
		    json_string_value(v) : "");
		k = get_json(h, key, &rc);
		printf(" %s", k != NULL ? str(k, "number") :
		    json_string_value(v) != NULL ? json_string_value(v) : "-");
		json_decref(k);
	}
	printf("%s\n", json_array_size(json_object_get(c, "linked_cases")) ?
	    "" : " -");
}

/* The human form of "case show": the case, then a line per activity. */
static void
case_print(const struct dvp_host *h, json_t *c)
{
	char when[64], key[LS_KEY_MAX + 1];
	json_t *v;
	size_t i;

	printf("number:         %s\nid:             %s\ntitle:          %s\n"
	    "status:         %s\nqueue:          %s\ncustomer:       %s\n"
	    "tracking token: %s\nauto-reply:     %s\nparent case:    %s\n",
	    str(c, "number"), str(c, "id"), str(c, "title"), str(c, "status"),
	    str(c, "queue"), str(c, "customer"), str(c, "tracking_token"),
	    str(c, "auto_reply"), str(c, "parent_case"));
	fmt_time(json_integer_value(json_object_get(c, "created")), when,
	    sizeof(when));
	printf("created:        %s\n", when);
	fmt_time(json_integer_value(json_object_get(c, "resolved_at")), when,
	    sizeof(when));
	printf("resolved:       %s\n", when);
	linked_print(h, c);
	printf("activities:\n");
	json_array_foreach(json_object_get(c, "activities"), i, v) {
		const char *id = json_string_value(v);
		json_t *a;
		int arc;

		(void)lstore_key(key, LS_ACTIVITY, id != NULL ? id : "");
		a = get_json(h, key, &arc);
		printf("  %s  %-8s  %-14s  %s\n", id != NULL ? id : "-",
		    str(a, "direction"), str(a, "correlation"),
		    str(a, "subject"));
		json_decref(a);
	}
}

static int
case_show(const struct dvp_host *h, int argc, char **argv)
{
	struct lopts o;
	json_t *c;
	int rc;

	if ((rc = lparse(h, "case show", argc, argv, L_JSON, 1, &o)) !=
	    DVP_CMD_OK)
		return rc;
	if ((c = find_case(h, o.pos[0])) == NULL)
		return DVP_CMD_FAIL;
	if (o.json)
		return print_json(h, c);
	case_print(h, c);
	json_decref(c);
	return DVP_CMD_OK;
}

/* resolve, reopen, cancel: one status change. */
static int
case_status(const struct dvp_host *h, int argc, char **argv, const char *to)
{
	char what[32], key[LS_KEY_MAX + 1];
	struct lopts o;
	const char *from;
	json_t *c;
	int rc;

	snprintf(what, sizeof(what), "case %s", argv[0]);
	if ((rc = lparse(h, what, argc, argv, 0, 1, &o)) != DVP_CMD_OK)
		return rc;
	if ((c = find_case(h, o.pos[0])) == NULL)
		return DVP_CMD_FAIL;
	from = str(c, "status");
	if (strcmp(from, to) == 0 ||
	    (strcmp(to, "active") != 0 && strcmp(from, "active") != 0)) {
		rc = h->cmd_error(h->ctx, "case %s is %s", str(c, "number"),
		    from);
		json_decref(c);
		return rc;
	}
	json_object_set_new(c, "status", json_string(to));
	json_object_set_new(c, "modified", json_integer(time(NULL)));
	json_object_set_new(c, "resolved_at", strcmp(to, "resolved") == 0 ?
	    json_integer(time(NULL)) : json_null());
	if (strcmp(to, "active") == 0)
		json_object_set_new(c, "reopened_at", json_integer(time(NULL)));
	(void)lstore_key(key, LS_CASE, str(c, "id"));
	snprintf(what, sizeof(what), "case %s", str(c, "number"));
	if ((rc = put_json(h, key, c)) == DVP_CMD_OK &&
	    (rc = commit(h, what)) == DVP_CMD_OK)
		printf("case %s is %s\n", str(c, "number"), to);
	json_decref(c);
	return rc;
}

static int
case_resolve(const struct dvp_host *h, int argc, char **argv)
{
	return case_status(h, argc, argv, "resolved");
}

static int
case_reopen(const struct dvp_host *h, int argc, char **argv)
{
	return case_status(h, argc, argv, "active");
}

static int
case_cancel(const struct dvp_host *h, int argc, char **argv)
{
	return case_status(h, argc, argv, "cancelled");
}

static int
cmd_case(void *state, int argc, char **argv)
{
	static const struct subcommand cmds[] = {
		{ "list", case_list }, { "show", case_show },
		{ "resolve", case_resolve }, { "reopen", case_reopen },
		{ "cancel", case_cancel }, { NULL, NULL }
	};
	const struct local *l = state;

	return dispatch(l->h, "case", cmds, argc, argv);
}

/* --- activity ---------------------------------------------------------------------- */

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
activity_list(const struct dvp_host *h, int argc, char **argv)
{
	static const char *const hdr[] = { "ID", "DIRECTION", "RECEIVED",
	    "FROM", "CORRELATION", "CASE", "SUBJECT" };
	struct collect c = { .drop_text = true };
	struct lopts o;
	json_t *k = NULL;
	int rc;

	if ((rc = lparse(h, "activity list", argc, argv, L_JSON | L_CASE, 0,
	    &o)) != DVP_CMD_OK)
		return rc;
	if (o.kase != NULL) {
		/* By id or number; the records hold the id. */
		if ((k = find_case(h, o.kase)) == NULL)
			return DVP_CMD_FAIL;
		c.kase = str(k, "id");
	}
	rc = walk(h, LS_ACTIVITY, &c);
	json_decref(k);
	if (rc != DVP_CMD_OK)
		return rc;
	return print_records(h, c.arr, o.json, 7, hdr, activity_row);
}

/* The sender-authenticity verdict and the join decision it led to. */
static void
auth_print(json_t *a)
{
	json_t *v = json_object_get(a, "authentication");
	json_t *jn = json_object_get(a, "join");

	if (json_is_object(v))
		printf("auth:        dmarc=%s dkim=%s authserv-id=%s\n",
		    str(v, "dmarc"), json_is_true(json_object_get(v,
		    "dkim_aligned")) ? "aligned-pass" : "none",
		    str(v, "authserv_id"));
	if (json_is_object(jn))
		printf("case join:   %s %s (policy %s): %s\n",
		    json_is_true(json_object_get(jn, "joined")) ? "joined" :
		    "refused", str(jn, "case_number"), str(jn, "policy"),
		    str(jn, "reason"));
}

static int
activity_show(const struct dvp_host *h, int argc, char **argv)
{
	char key[LS_KEY_MAX + 1], when[64];
	struct lopts o;
	json_t *a;
	int rc;

	if ((rc = lparse(h, "activity show", argc, argv, L_JSON, 1, &o)) !=
	    DVP_CMD_OK)
		return rc;
	if (strlen(o.pos[0]) > 100)
		return h->cmd_error(h->ctx, "no such activity: %s", o.pos[0]);
	(void)lstore_key(key, LS_ACTIVITY, o.pos[0]);
	if ((a = get_json(h, key, &rc)) == NULL)
		return rc == DVP_KV_NOTFOUND ? h->cmd_error(h->ctx,
		    "no such activity: %s", o.pos[0]) : DVP_CMD_FAIL;
	if (o.json)
		return print_json(h, a);
	fmt_time(json_integer_value(json_object_get(a, "received")), when,
	    sizeof(when));
	printf("id:          %s\ndirection:   %s\nreceived:    %s\n"
	    "from:        %s\nsubject:     %s\nmessage-id:  %s\n",
	    str(a, "id"), str(a, "direction"), when, str(a, "from"),
	    str(a, "subject"), str(a, "message_id"));
	/* Only when it happened: a Message-ID reused by another message. */
	if (json_string_value(json_object_get(a, "collided_with")) != NULL)
		printf("collided:    Message-ID first used by activity %s\n",
		    str(a, "collided_with"));
	printf("folder:      %s\ncorrelation: %s\ncase:        %s\n",
	    str(a, "folder"), str(a, "correlation"), str(a, "case"));
	auth_print(a);
	printf("\n%s\n", str(a, "text"));
	json_decref(a);
	return DVP_CMD_OK;
}

static int
cmd_activity(void *state, int argc, char **argv)
{
	static const struct subcommand cmds[] = {
		{ "list", activity_list }, { "show", activity_show },
		{ NULL, NULL }
	};
	const struct local *l = state;

	return dispatch(l->h, "activity", cmds, argc, argv);
}

/* --- contact --------------------------------------------------------------------------- */

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
contact_list(const struct dvp_host *h, int argc, char **argv)
{
	static const char *const hdr[] = { "EMAIL", "NAME", "CREATED", "ID" };
	struct collect c = { 0 };
	struct lopts o;
	int rc;

	if ((rc = lparse(h, "contact list", argc, argv, L_JSON, 0, &o)) !=
	    DVP_CMD_OK)
		return rc;
	if ((rc = walk(h, LS_CONTACT, &c)) != DVP_CMD_OK)
		return rc;
	return print_records(h, c.arr, o.json, 4, hdr, contact_row);
}

static int
cmd_contact(void *state, int argc, char **argv)
{
	static const struct subcommand cmds[] = {
		{ "list", contact_list }, { NULL, NULL }
	};
	const struct local *l = state;

	return dispatch(l->h, "contact", cmds, argc, argv);
}

/* --- caserule ---------------------------------------------------------------------------- */

/* The queue mailbox @given names, normalised into @addr. */
static int
rule_queue(const struct dvp_host *h, const char *given,
    char addr[ADDR_MAX + 1])
{
	const struct dvp_mailbox *mb;
	char err[600];

	if (h->mailbox_address(h->ctx, given, addr, ADDR_MAX + 1, err,
	    sizeof(err)) != DVP_KV_OK ||
	    h->mailbox_get(h->ctx, addr, &mb, err, sizeof(err)) != DVP_KV_OK)
		return h->cmd_error(h->ctx, "%s", err);
	if (mb->type != DVP_MAILBOX_QUEUE)
		return h->cmd_error(h->ctx, "%s is a user mailbox; case rules "
		    "belong to queues (mailbox set %s --queue)", addr, addr);
	return DVP_CMD_OK;
}

static void
rule_apply(json_t *r, const struct lopts *o)
{
	if (o->create_contact >= 0)
		json_object_set_new(r, "create_contact",
		    json_boolean(o->create_contact));
	if (o->auto_reply >= 0)
		json_object_set_new(r, "auto_reply",
		    json_boolean(o->auto_reply));
	if (o->reopen_days >= 0)
		json_object_set_new(r, "reopen_days",
		    json_integer(o->reopen_days));
}

static int
rule_set(const struct dvp_host *h, int argc, char **argv)
{
	char addr[ADDR_MAX + 1], key[LS_KEY_MAX + 1], what[400];
	struct lopts o;
	json_t *r;
	int rc;

	if ((rc = lparse(h, "caserule set", argc, argv, L_RULE, 1, &o)) !=
	    DVP_CMD_OK || (rc = rule_queue(h, o.pos[0], addr)) != DVP_CMD_OK)
		return rc;
	(void)lstore_key(key, LS_CASERULE, addr);
	r = get_json(h, key, &rc);
	if (r == NULL && rc != DVP_KV_NOTFOUND)
		return DVP_CMD_FAIL;
	if (r == NULL)		/* Defaults of a new rule. */
		r = json_pack("{s:s, s:b, s:i, s:b}", "queue", addr,
		    "create_contact", 1, "reopen_days", 7, "auto_reply", 0);
	rule_apply(r, &o);
	snprintf(what, sizeof(what), "the case rule of %s", addr);
	if ((rc = put_json(h, key, r)) == DVP_CMD_OK &&
	    (rc = commit(h, what)) == DVP_CMD_OK)
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
rule_list(const struct dvp_host *h, int argc, char **argv)
{
	static const char *const hdr[] = { "QUEUE", "CREATE-CONTACT",
	    "REOPEN-DAYS", "AUTO-REPLY" };
	struct collect c = { 0 };
	struct lopts o;
	int rc;

	if ((rc = lparse(h, "caserule list", argc, argv, L_JSON, 0, &o)) !=
	    DVP_CMD_OK)
		return rc;
	if ((rc = walk(h, LS_CASERULE, &c)) != DVP_CMD_OK)
		return rc;
	return print_records(h, c.arr, o.json, 4, hdr, rule_row);
}

static int
rule_remove(const struct dvp_host *h, int argc, char **argv)
{
	char addr[ADDR_MAX + 1], key[LS_KEY_MAX + 1], err[600], what[400];
	struct lopts o;
	const void *v;
	size_t len;
	int rc;

	if ((rc = lparse(h, "caserule remove", argc, argv, 0, 1, &o)) !=
	    DVP_CMD_OK)
		return rc;
	if (h->mailbox_address(h->ctx, o.pos[0], addr, sizeof(addr), err,
	    sizeof(err)) != DVP_KV_OK)
		return h->cmd_error(h->ctx, "%s", err);
	(void)lstore_key(key, LS_CASERULE, addr);
	if ((rc = h->kv_get(h->ctx, key, &v, &len)) == DVP_KV_NOTFOUND)
		return h->cmd_error(h->ctx, "%s has no case rule", addr);
	snprintf(what, sizeof(what), "the case rule of %s", addr);
	if (rc != DVP_KV_OK || h->kv_del(h->ctx, key) != DVP_KV_OK)
		return h->cmd_error(h->ctx, "cannot remove %s", what);
	if ((rc = commit(h, what)) == DVP_CMD_OK)
		printf("removed the case rule of %s\n", addr);
	return rc;
}

static int
cmd_caserule(void *state, int argc, char **argv)
{
	static const struct subcommand cmds[] = {
		{ "set", rule_set }, { "list", rule_list },
		{ "remove", rule_remove }, { NULL, NULL }
	};
	const struct local *l = state;

	return dispatch(l->h, "caserule", cmds, argc, argv);
}

const struct dvp_command local_commands[] = {
	{ "caserule", "  caserule set QUEUE [--create-contact yes|no] "
	    "[--reopen-days N]\n"
	    "                     [--auto-reply yes|no]\n"
	    "  caserule list [--json]\n"
	    "  caserule remove QUEUE\n", cmd_caserule },
	{ "case", "  case list [--status active|resolved|cancelled] [--json]\n"
	    "  case show ID|NUMBER [--json]\n"
	    "  case resolve|reopen|cancel ID|NUMBER\n", cmd_case },
	{ "activity", "  activity list [--case ID|NUMBER] [--json]\n"
	    "  activity show ID [--json]\n", cmd_activity },
	{ "contact", "  contact list [--json]\n", cmd_contact },
	{ NULL, NULL, NULL }
};

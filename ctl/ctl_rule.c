/*
 * ctl_rule.c - dvmilterctl rule: a mailbox's folder-tracking rules.
 *
 * Rules are numbered from 1 in the order they are tried. Each command is
 * one transaction, so the daemon sees a change whole at its next message.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ctl_int.h"
#include "rules.h"
#include "status.h"

enum {
	OPT_SUBADDRESS = 256, OPT_SENDER, OPT_RECIPIENT, OPT_HEADER,
	OPT_SUBJECT, OPT_FOLDER, OPT_REGARDING, OPT_NOTRACK, OPT_POSITION,
	OPT_JSON
};

static const struct option rule_longopts[] = {
	{ "subaddress", required_argument, NULL, OPT_SUBADDRESS },
	{ "sender", required_argument, NULL, OPT_SENDER },
	{ "recipient", required_argument, NULL, OPT_RECIPIENT },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "subject", required_argument, NULL, OPT_SUBJECT },
	{ "folder", required_argument, NULL, OPT_FOLDER },
	{ "regarding", required_argument, NULL, OPT_REGARDING },
	{ "no-track", no_argument, NULL, OPT_NOTRACK },
	{ "position", required_argument, NULL, OPT_POSITION },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 }
};

struct rule_opts {
	struct rule r;
	bool notrack, json, any_rule_opt;
	long position;		/* 0: append */
	char *pos[4];
	int npos;
};

static int
set_once(char **dst, const char *v, const char *name)
{
	if (*dst != NULL)
		return ctl_usage_error("rule: %s given twice", name);
	if ((*dst = strdup(v)) == NULL)
		return ctl_fail("out of memory");
	return CTL_OK;
}

/* "Name: pattern" */
static int
set_header(struct rule *r, const char *v)
{
	const char *colon = strchr(v, ':');
	const char *val;

	if (colon == NULL || colon == v)
		return ctl_usage_error("rule: --header takes \"NAME: GLOB\", "
		    "not \"%s\"", v);
	val = colon + 1 + strspn(colon + 1, " \t");
	if (r->header_name != NULL)
		return ctl_usage_error("rule: --header given twice");
	if ((r->header_name = strndup(v, (size_t)(colon - v))) == NULL ||
	    (r->header_value = strdup(*val ? val : "*")) == NULL)
		return ctl_fail("out of memory");
	return CTL_OK;
}

static int
set_regarding(struct rule *r, const char *v)
{
	const char *colon = strchr(v, ':');

	if (colon == NULL || colon == v || colon[1] == '\0')
		return ctl_usage_error("rule: --regarding takes TYPE:ID, for "
		    "example account:ACME, not \"%s\"", v);
	if ((r->regarding_type = strndup(v, (size_t)(colon - v))) == NULL ||
	    (r->regarding_id = strdup(colon + 1)) == NULL)
		return ctl_fail("out of memory");
	return CTL_OK;
}

static int
number(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *out < 1 ||
	    *out > RULES_MAX)
		return ctl_usage_error("rule: \"%s\" is not a rule number "
		    "(1 to %d)", s, RULES_MAX);
	return CTL_OK;
}

static int
rule_parse(int argc, char **argv, struct rule_opts *o)
{
	const char *sub = argv[0];
	int ch, rc = CTL_OK;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while (rc == CTL_OK &&
	    (ch = getopt_long(argc, argv, ":", rule_longopts, NULL)) != -1) {
		if (ch != OPT_JSON)
			o->any_rule_opt = true;
		switch (ch) {
		case OPT_SUBADDRESS:
			rc = set_once(&o->r.subaddress, optarg, "--subaddress");
			break;
		case OPT_SENDER:
			rc = set_once(&o->r.sender, optarg, "--sender");
			break;
		case OPT_RECIPIENT:
			rc = set_once(&o->r.recipient, optarg, "--recipient");
			break;
		case OPT_HEADER:
			rc = set_header(&o->r, optarg);
			break;
		case OPT_SUBJECT:
			rc = set_once(&o->r.subject, optarg, "--subject");
			break;
		case OPT_FOLDER:
			rc = set_once(&o->r.folder, optarg, "--folder");
			break;
		case OPT_REGARDING:
			rc = set_regarding(&o->r, optarg);
			break;
		case OPT_NOTRACK:
			o->notrack = true;
			break;
		case OPT_POSITION:
			rc = number(optarg, &o->position);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case ':':
			rc = ctl_usage_error("rule %s: %s needs a value", sub,
			    argv[optind - 1]);
			break;
		default:
			rc = ctl_usage_error("rule %s: unknown option %s", sub,
			    argv[optind - 1]);
			break;
		}
	}
	for (int i = optind; rc == CTL_OK && i < argc; i++) {
		if (o->npos == 4)
			rc = ctl_usage_error("rule %s: too many arguments", sub);
		else
			o->pos[o->npos++] = argv[i];
	}
	o->r.action = o->notrack ? RULE_SKIP : RULE_TRACK;
	return rc;
}

/* Read the rules of an existing mailbox for changing. */
static int
begin_change(struct ctl *ctl, const char *in, char *addr, size_t addrsz,
    struct store_txn **txn, struct rule_list *l)
{
	struct mbox mb;
	const char *err;
	int rc;

	if ((rc = ctl_mailbox_address(ctl, in, addr, addrsz)) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, true, txn)) != CTL_OK)
		return rc;
	if (store_mailbox_get(*txn, addr, &mb, &err) != 0 ||
	    rules_get(*txn, addr, l, &err) != 0) {
		store_txn_abort(*txn);
		return ctl_fail("%s", err);
	}
	return CTL_OK;
}

static int
finish_change(struct store_txn *txn, const char *addr, struct rule_list *l)
{
	const char *err;

	if (rules_put(txn, addr, l, &err) != 0) {
		store_txn_abort(txn);
		rules_free(l);
		return ctl_fail("%s", err);
	}
	rules_free(l);
	return ctl_commit(txn);
}

static int
cmd_add(struct ctl *ctl, int argc, char **argv)
{
	struct rule_opts o;
	struct rule_list l;
	struct store_txn *txn;
	struct rule *n;
	char addr[DV_ADDR_MAX + 1];
	const char *err;
	size_t at;
	int rc;

	if ((rc = rule_parse(argc, argv, &o)) != CTL_OK)
		goto out;
	if (o.npos != 1 || o.json) {
		rc = ctl_usage_error("rule add takes one MAILBOX and the rule");
		goto out;
	}
	if (o.notrack == (o.r.folder != NULL)) {
		rc = ctl_usage_error("rule add needs --folder F or --no-track");
		goto out;
	}
	if (rule_check(&o.r, &err) != 0) {
		rc = ctl_fail("%s", err);
		goto out;
	}
	if ((rc = begin_change(ctl, o.pos[0], addr, sizeof(addr), &txn,
	    &l)) != CTL_OK)
		goto out;
	at = o.position > 0 ? (size_t)o.position - 1 : l.n;
	if (at > l.n || l.n >= RULES_MAX) {
		store_txn_abort(txn);
		if (l.n >= RULES_MAX)
			rc = ctl_fail("%s already has %d rules", addr,
			    RULES_MAX);
		else
			rc = ctl_fail("%s has no rule %ld", addr, o.position);
		rules_free(&l);
		goto out;
	}
	if ((n = realloc(l.v, (l.n + 1) * sizeof(*n))) == NULL) {
		store_txn_abort(txn);
		rules_free(&l);
		rc = ctl_fail("out of memory");
		goto out;
	}
	l.v = n;
	memmove(&l.v[at + 1], &l.v[at], (l.n - at) * sizeof(*n));
	l.v[at] = o.r;
	memset(&o.r, 0, sizeof(o.r));
	l.n++;
	if ((rc = finish_change(txn, addr, &l)) == CTL_OK)
		printf("added rule %zu to %s\n", at + 1, addr);
out:
	rule_free(&o.r);
	return rc;
}

static int
cmd_remove(struct ctl *ctl, int argc, char **argv)
{
	struct rule_opts o;
	struct rule_list l;
	struct store_txn *txn;
	char addr[DV_ADDR_MAX + 1];
	long nr;
	int rc;

	if ((rc = rule_parse(argc, argv, &o)) != CTL_OK)
		goto out;
	if (o.npos != 2 || o.any_rule_opt || o.json) {
		rc = ctl_usage_error("rule remove takes MAILBOX N");
		goto out;
	}
	if ((rc = number(o.pos[1], &nr)) != CTL_OK ||
	    (rc = begin_change(ctl, o.pos[0], addr, sizeof(addr), &txn,
	    &l)) != CTL_OK)
		goto out;
	if ((size_t)nr > l.n) {
		store_txn_abort(txn);
		rules_free(&l);
		rc = ctl_fail("%s has no rule %ld", addr, nr);
		goto out;
	}
	rule_free(&l.v[nr - 1]);
	memmove(&l.v[nr - 1], &l.v[nr], (l.n - (size_t)nr) * sizeof(*l.v));
	l.n--;
	if ((rc = finish_change(txn, addr, &l)) == CTL_OK)
		printf("removed rule %ld from %s\n", nr, addr);
out:
	rule_free(&o.r);
	return rc;
}

static int
cmd_move(struct ctl *ctl, int argc, char **argv)
{
	struct rule_opts o;
	struct rule_list l;
	struct store_txn *txn;
	struct rule r;
	char addr[DV_ADDR_MAX + 1];
	long from, to;
	int rc;

	if ((rc = rule_parse(argc, argv, &o)) != CTL_OK)
		goto out;
	if (o.npos != 3 || o.any_rule_opt || o.json) {
		rc = ctl_usage_error("rule move takes MAILBOX N TO");
		goto out;
	}
	if ((rc = number(o.pos[1], &from)) != CTL_OK ||
	    (rc = number(o.pos[2], &to)) != CTL_OK ||
	    (rc = begin_change(ctl, o.pos[0], addr, sizeof(addr), &txn,
	    &l)) != CTL_OK)
		goto out;
	if ((size_t)from > l.n || (size_t)to > l.n) {
		store_txn_abort(txn);
		rules_free(&l);
		rc = ctl_fail("%s has %zu rule%s", addr, l.n,
		    l.n == 1 ? "" : "s");
		goto out;
	}
	r = l.v[from - 1];
	if (from < to)
		memmove(&l.v[from - 1], &l.v[from],
		    (size_t)(to - from) * sizeof(r));
	else
		memmove(&l.v[to], &l.v[to - 1], (size_t)(from - to) * sizeof(r));
	l.v[to - 1] = r;
	if ((rc = finish_change(txn, addr, &l)) == CTL_OK)
		printf("moved rule %ld of %s to %ld\n", from, addr, to);
out:
	rule_free(&o.r);
	return rc;
}

static json_t *
rule_json(const char *mailbox, size_t nr, const struct rule *r)
{
	json_t *o = json_pack("{s:s, s:I, s:s}", "mailbox", mailbox,
	    "position", (json_int_t)nr, "action",
	    r->action == RULE_SKIP ? "do-not-track" : "track");
	json_t *m = json_object();

#define SET(obj, key, val) json_object_set_new(obj, key, (val) != NULL ? \
	json_string(val) : json_null())
	SET(m, "subaddress", r->subaddress);
	SET(m, "sender", r->sender);
	SET(m, "recipient", r->recipient);
	json_object_set_new(m, "header", r->header_name == NULL ? json_null() :
	    json_pack("{s:s, s:s}", "name", r->header_name, "value",
	    r->header_value));
	SET(m, "subject", r->subject);
	json_object_set_new(o, "match", m);
	SET(o, "folder", r->folder);
#undef SET
	json_object_set_new(o, "regarding", r->regarding_type == NULL ?
	    json_null() : json_pack("{s:s, s:s}", "type", r->regarding_type,
	    "id", r->regarding_id));
	return o;
}

struct list_state {
	json_t *arr;
	struct ctl_table *t;
};

static int
list_cb(void *arg, const char *mailbox, const struct rule_list *l)
{
	struct list_state *ls = arg;

	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = &l->v[i];
		char nr[24], match[1200], action[600];
		const char *cells[4] = { mailbox, nr, match, action };

		if (ls->arr != NULL) {
			if (json_array_append_new(ls->arr,
			    rule_json(mailbox, i + 1, r)) != 0)
				return ENOMEM;
			continue;
		}
		snprintf(nr, sizeof(nr), "%zu", i + 1);
		rule_describe(r, match, sizeof(match));
		if (r->action == RULE_SKIP)
			snprintf(action, sizeof(action), "do not track");
		else if (r->regarding_type != NULL)
			snprintf(action, sizeof(action), "folder %s regarding "
			    "%s:%s", r->folder, r->regarding_type,
			    r->regarding_id);
		else
			snprintf(action, sizeof(action), "folder %s", r->folder);
		if (ctl_table_row(ls->t, cells) != 0)
			return ENOMEM;
	}
	return 0;
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = { "MAILBOX", "#", "MATCH",
	    "ACTION" };
	struct list_state ls = { NULL, NULL };
	struct rule_opts o;
	struct store_txn *txn;
	char addr[DV_ADDR_MAX + 1];
	const char *err = "out of memory";
	int rc;

	if ((rc = rule_parse(argc, argv, &o)) != CTL_OK || o.npos > 1 ||
	    o.any_rule_opt) {
		rule_free(&o.r);
		return rc != CTL_OK ? rc :
		    ctl_usage_error("rule list takes [MAILBOX] [--json]");
	}
	if (o.npos == 1 && (rc = ctl_mailbox_address(ctl, o.pos[0], addr,
	    sizeof(addr))) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, false, &txn)) != CTL_OK)
		return rc;
	if (o.json)
		ls.arr = json_array();
	else
		ls.t = ctl_table_new(4, headers);
	if (ls.arr == NULL && ls.t == NULL)
		rc = ENOMEM;
	else if (o.npos == 1) {
		struct rule_list l;

		if ((rc = rules_get(txn, addr, &l, &err)) == 0) {
			rc = list_cb(&ls, addr, &l);
			rules_free(&l);
		}
	} else
		rc = rules_foreach(txn, list_cb, &ls, &err);
	store_txn_abort(txn);
	if (rc != 0) {
		json_decref(ls.arr);
		ctl_table_free(ls.t);
		return ctl_fail("%s", rc == ENOMEM ? "out of memory" : err);
	}
	if (o.json)
		return ctl_print_json(ls.arr);
	ctl_table_print(ls.t, stdout);
	ctl_table_free(ls.t);
	return CTL_OK;
}

int
ctl_rule(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "add", cmd_add },
		{ "list", cmd_list },
		{ "remove", cmd_remove },
		{ "move", cmd_move },
		{ NULL, NULL }
	};

	return ctl_dispatch(ctl, "rule", cmds, argc, argv);
}

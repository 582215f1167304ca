/*
 * ctl_mailbox.c - "dvmilterctl mailbox ...": add, approve, reject,
 * remove, set, list, show and import.
 *
 * Every command is one store transaction, so an import either lands
 * whole or not at all. Addresses go through the same normalisation as
 * the milter's RCPT lookups (addr.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "csv.h"
#include "ctl_int.h"
#include "hash.h"
#include "rules.h"
#include "caps.h"
#include "status.h"
#include "utf8.h"

/* Which options a subcommand accepts. */
enum {
	O_TYPE = 1 << 0, O_OWNER = 1 << 1, O_METHODS = 1 << 2,
	O_PROFILE = 1 << 3, O_NOPROFILE = 1 << 4, O_ENABLED = 1 << 5,
	O_STATUS = 1 << 6, O_JSON = 1 << 7, O_APPROVAL = 1 << 8,
	O_FILTER = 1 << 9
};

struct mb_opts {
	int type;			/* -1: not given */
	const char *owner;
	int method[MBOX_DIR_COUNT];
	const char *profile;
	bool no_profile;
	int enabled;
	int approval;
	int filter;
	int status[MBOX_DIR_COUNT];
	const char *status_msg;
	bool json;
	char **pos;			/* positional arguments */
	int npos;
};

enum {
	OPT_QUEUE = 256, OPT_USER, OPT_OWNER, OPT_INCOMING, OPT_OUTGOING,
	OPT_ACT, OPT_PROFILE, OPT_NOPROFILE, OPT_ENABLED, OPT_IN_STATUS,
	OPT_OUT_STATUS, OPT_ACT_STATUS, OPT_STATUS_MSG, OPT_JSON, OPT_APPROVAL,
	OPT_FILTER
};

static const struct option mb_longopts[] = {
	{ "queue", no_argument, NULL, OPT_QUEUE },
	{ "user", no_argument, NULL, OPT_USER },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "outgoing", required_argument, NULL, OPT_OUTGOING },
	{ "act", required_argument, NULL, OPT_ACT },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "no-profile", no_argument, NULL, OPT_NOPROFILE },
	{ "enabled", required_argument, NULL, OPT_ENABLED },
	{ "incoming-status", required_argument, NULL, OPT_IN_STATUS },
	{ "outgoing-status", required_argument, NULL, OPT_OUT_STATUS },
	{ "act-status", required_argument, NULL, OPT_ACT_STATUS },
	{ "status-message", required_argument, NULL, OPT_STATUS_MSG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "approval", required_argument, NULL, OPT_APPROVAL },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ NULL, 0, NULL, 0 }
};

static int
parse_yesno(const char *s)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		return 1;
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0)
		return 0;
	return -1;
}

/* Valid UTF-8 without control characters, at most max bytes. */
static bool
text_ok(const char *s, size_t max)
{
	if (strlen(s) > max || !utf8_valid(s, strlen(s)))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* The O_* bit a subcommand must allow for option @ch; 0 if it is none. */
static unsigned
opt_need(int ch)
{
	switch (ch) {
	case OPT_QUEUE: case OPT_USER: return O_TYPE;
	case OPT_OWNER: return O_OWNER;
	case OPT_INCOMING: case OPT_OUTGOING: case OPT_ACT: return O_METHODS;
	case OPT_PROFILE: return O_PROFILE;
	case OPT_NOPROFILE: return O_NOPROFILE;
	case OPT_ENABLED: return O_ENABLED;
	case OPT_IN_STATUS: case OPT_OUT_STATUS: case OPT_ACT_STATUS:
	case OPT_STATUS_MSG: return O_STATUS;
	case OPT_JSON: return O_JSON;
	case OPT_APPROVAL: return O_APPROVAL;
	case OPT_FILTER: return O_FILTER;
	default: return 0;
	}
}

/* Check the value of option @ch and record it in @o. */
static int
mb_opt_set(struct mb_opts *o, int ch, const char *arg)
{
	int v;

	switch (ch) {
	case OPT_QUEUE: o->type = MBOX_QUEUE; break;
	case OPT_USER: o->type = MBOX_USER; break;
	case OPT_OWNER:
		if (!text_ok(arg, DV_OWNER_MAX))
			return ctl_fail("owner must be UTF-8 text of at most "
			    "%d bytes without control characters",
			    DV_OWNER_MAX);
		o->owner = arg;
		break;
	case OPT_INCOMING: case OPT_OUTGOING: case OPT_ACT:
		if ((v = mbox_method_parse(arg)) < 0)
			return ctl_fail("unknown method \"%s\" (use "
			    "server-side-sync, outlook or none)", arg);
		o->method[ch - OPT_INCOMING] = v;
		break;
	case OPT_PROFILE:
		if (arg[0] == '\0' || !text_ok(arg, DV_NAME_MAX))
			return ctl_fail("bad profile name \"%s\"", arg);
		o->profile = arg;
		break;
	case OPT_NOPROFILE: o->no_profile = true; break;
	case OPT_ENABLED:
		if ((o->enabled = parse_yesno(arg)) < 0)
			return ctl_fail("--enabled takes yes or no, not "
			    "\"%s\"", arg);
		break;
	case OPT_IN_STATUS: case OPT_OUT_STATUS: case OPT_ACT_STATUS:
		if ((v = mbox_test_parse(arg)) < 0)
			return ctl_fail("unknown status \"%s\" (use "
			    "not-run, success or failure)", arg);
		o->status[ch - OPT_IN_STATUS] = v;
		break;
	case OPT_STATUS_MSG:
		if (!text_ok(arg, DV_STATUSMSG_MAX))
			return ctl_fail("status message must be at most "
			    "%d bytes without control characters",
			    DV_STATUSMSG_MAX);
		o->status_msg = arg;
		break;
	case OPT_JSON: o->json = true; break;
	case OPT_FILTER:
		if ((o->filter = mbox_filter_parse(arg)) < 0)
			return ctl_fail("unknown filter \"%s\" (use all, "
			    "responses, known-senders, none or default)", arg);
		break;
	case OPT_APPROVAL:
		if ((o->approval = mbox_approval_parse(arg)) < 0)
			return ctl_fail("unknown approval \"%s\" (use "
			    "pending, approved, rejected or empty)", arg);
		break;
	}
	return CTL_OK;
}

/*
 * Parse the options of "mailbox @argv[0]", refusing any the subcommand
 * does not take (@allowed: O_* bits), so that a misplaced option is a
 * usage error rather than silently ignored.
 */
static int
mb_parse(int argc, char **argv, unsigned allowed, struct mb_opts *o)
{
	const char *sub = argv[0];
	unsigned need;
	int ch, rc;

	memset(o, 0, sizeof(*o));
	o->type = -1;
	o->enabled = -1;
	o->approval = -1;
	o->filter = -1;
	for (int i = 0; i < MBOX_DIR_COUNT; i++)
		o->method[i] = o->status[i] = -1;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", mb_longopts, NULL)) != -1) {
		if (ch == ':')
			return ctl_usage_error("mailbox %s: %s needs a value",
			    sub, argv[optind - 1]);
		if ((need = opt_need(ch)) == 0)
			return ctl_usage_error("mailbox %s: unknown option %s",
			    sub, argv[optind - 1]);
		if (!(allowed & need))
			return ctl_usage_error("mailbox %s does not take %s", sub,
			    argv[optind - 1]);
		if ((rc = mb_opt_set(o, ch, optarg)) != CTL_OK)
			return rc;
	}
	if (o->profile != NULL && o->no_profile)
		return ctl_usage_error("--profile and --no-profile conflict");
	o->pos = argv + optind;
	o->npos = argc - optind;
	return CTL_OK;
}

/*
 * Normalise an address for storage. A subaddress is refused rather than
 * silently stored as its base mailbox.
 */
int
ctl_mailbox_address(const struct ctl *ctl, const char *in, char *out, size_t outsz)
{
	const char *err;

	if (addr_mailbox(in, ctl->conf->subaddress_seps, out, outsz, &err) != 0)
		return ctl_fail("%s", err);
	return CTL_OK;
}

static json_t *
mb_json(const struct mbox *mb)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, "
	    "s:s, s:s, s:b, s:s}",
	    "address", mb->address,
	    "type", mbox_type_name(mb->pol.type),
	    "owner", mb->owner,
	    "incoming", mbox_method_name(mb->pol.method[MBOX_DIR_INCOMING]),
	    "outgoing", mbox_method_name(mb->pol.method[MBOX_DIR_OUTGOING]),
	    "act", mbox_method_name(mb->pol.method[MBOX_DIR_ACT]),
	    "profile", mb->profile[0] ? json_string(mb->profile) : json_null(),
	    "approval", mbox_approval_name(mb->pol.approval),
	    "incoming_status", mbox_test_name(mb->test[MBOX_DIR_INCOMING].status),
	    "outgoing_status", mbox_test_name(mb->test[MBOX_DIR_OUTGOING].status),
	    "act_status", mbox_test_name(mb->test[MBOX_DIR_ACT].status),
	    "enabled", mb->pol.enabled,
	    "filter", mbox_filter_name(mbox_filter_effective(&mb->pol)));
}

/* Apply the options that change a record. */
static void
mb_apply(struct mbox *mb, const struct mb_opts *o)
{
	int64_t now = (int64_t)time(NULL);

	if (o->type >= 0)
		mb->pol.type = (uint8_t)o->type;
	if (o->owner != NULL)
		snprintf(mb->owner, sizeof(mb->owner), "%s", o->owner);
	for (int d = 0; d < MBOX_DIR_COUNT; d++) {
		if (o->method[d] >= 0)
			mb->pol.method[d] = (uint8_t)o->method[d];
		if (o->status[d] >= 0) {
			mb->test[d].status = (uint8_t)o->status[d];
			mb->test[d].when = o->status[d] == MBOX_TEST_NOT_RUN ?
			    0 : now;
			snprintf(mb->test[d].message, sizeof(mb->test[d].message),
			    "%s", o->status_msg ? o->status_msg : "");
		}
	}
	if (o->profile != NULL)
		snprintf(mb->profile, sizeof(mb->profile), "%s", o->profile);
	if (o->no_profile)
		mb->profile[0] = '\0';
	if (o->enabled >= 0)
		mb->pol.enabled = o->enabled != 0;
	if (o->approval >= 0)
		mb->pol.approval = (uint8_t)o->approval;
	if (o->filter >= 0)
		mb->pol.filter = (uint8_t)o->filter;
}

static int
mb_write(struct ctl *ctl, const struct mbox *mb, int mode)
{
	struct store_txn *txn;
	const char *err;
	int rc;

	if ((rc = ctl_txn(ctl, true, &txn)) != CTL_OK)
		return rc;
	if (store_mailbox_put(txn, mb, mode, &err) != 0) {
		store_txn_abort(txn);
		return ctl_fail("%s", err);
	}
	return ctl_commit(txn);
}

static int
cmd_add(struct ctl *ctl, int argc, char **argv)
{
	struct mb_opts o;
	struct mbox mb;
	char addr[DV_ADDR_MAX + 1];
	int rc;

	if ((rc = mb_parse(argc, argv, O_TYPE | O_OWNER | O_METHODS | O_PROFILE |
	    O_FILTER, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox add takes one ADDRESS");
	if ((rc = ctl_mailbox_address(ctl, o.pos[0], addr, sizeof(addr))) != CTL_OK)
		return rc;
	mbox_init(&mb, addr, o.type >= 0 ? o.type : MBOX_USER);
	mb_apply(&mb, &o);
	if ((rc = mb_write(ctl, &mb, STORE_PUT_CREATE)) != CTL_OK)
		return rc;
	printf("added %s %s (approval pending)\n", mbox_type_name(mb.pol.type),
	    addr);
	return CTL_OK;
}

/* Read-modify-write of one mailbox in one transaction. */
static int
mb_update(struct ctl *ctl, const char *in, const struct mb_opts *o,
    int approval, struct mbox *out)
{
	struct store_txn *txn;
	const char *err;
	char addr[DV_ADDR_MAX + 1];
	int rc;

	if ((rc = ctl_mailbox_address(ctl, in, addr, sizeof(addr))) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, true, &txn)) != CTL_OK)
		return rc;
	if (store_mailbox_get(txn, addr, out, &err) != 0)
		goto fail;
	if (o != NULL)
		mb_apply(out, o);
	if (approval >= 0)
		out->pol.approval = (uint8_t)approval;
	if (store_mailbox_put(txn, out, STORE_PUT_UPDATE, &err) != 0)
		goto fail;
	return ctl_commit(txn);
fail:
	store_txn_abort(txn);
	return ctl_fail("%s", err);
}

static int
cmd_approval(struct ctl *ctl, int argc, char **argv, int approval)
{
	struct mb_opts o;
	struct mbox mb;
	int rc;

	if ((rc = mb_parse(argc, argv, 0, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox %s takes one ADDRESS", argv[0]);
	if ((rc = mb_update(ctl, o.pos[0], NULL, approval, &mb)) != CTL_OK)
		return rc;
	printf("%s %s\n", mbox_approval_name(approval), mb.address);
	return CTL_OK;
}

static int
cmd_set(struct ctl *ctl, int argc, char **argv)
{
	struct mb_opts o;
	struct mbox mb;
	int rc;

	if ((rc = mb_parse(argc, argv, O_OWNER | O_METHODS | O_PROFILE |
	    O_NOPROFILE | O_ENABLED | O_STATUS | O_TYPE | O_APPROVAL |
	    O_FILTER, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox set takes one ADDRESS");
	if (o.status_msg != NULL && o.status[0] < 0 && o.status[1] < 0 &&
	    o.status[2] < 0)
		return ctl_usage_error("--status-message goes with a --*-status");
	if ((rc = mb_update(ctl, o.pos[0], &o, -1, &mb)) != CTL_OK)
		return rc;
	printf("updated %s\n", mb.address);
	return CTL_OK;
}

static int
cmd_remove(struct ctl *ctl, int argc, char **argv)
{
	struct rule_list no_rules = { NULL, 0 };
	struct mb_opts o;
	struct store_txn *txn;
	char addr[DV_ADDR_MAX + 1];
	const char *err;
	int rc;

	if ((rc = mb_parse(argc, argv, 0, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox remove takes one ADDRESS");
	if ((rc = ctl_mailbox_address(ctl, o.pos[0], addr, sizeof(addr))) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, true, &txn)) != CTL_OK)
		return rc;
	/* Its folder rules go with it. */
	if (store_mailbox_remove(txn, addr, &err) != 0 ||
	    rules_put(txn, addr, &no_rules, &err) != 0) {
		store_txn_abort(txn);
		return ctl_fail("%s", err);
	}
	if ((rc = ctl_commit(txn)) != CTL_OK)
		return rc;
	printf("removed %s\n", addr);
	return CTL_OK;
}

static const char *const list_headers[] = {
	"ADDRESS", "TYPE", "APPROVAL", "INCOMING", "OUTGOING", "ACT",
	"PROFILE", "ENABLED", "OWNER"
};
#define LIST_COLS (sizeof(list_headers) / sizeof(list_headers[0]))

static int
list_row_cb(void *arg, const struct mbox *mb)
{
	const char *cells[LIST_COLS] = {
		mb->address, mbox_type_name(mb->pol.type),
		mbox_approval_name(mb->pol.approval),
		mbox_method_name(mb->pol.method[MBOX_DIR_INCOMING]),
		mbox_method_name(mb->pol.method[MBOX_DIR_OUTGOING]),
		mbox_method_name(mb->pol.method[MBOX_DIR_ACT]),
		mb->profile, mb->pol.enabled ? "yes" : "no", mb->owner
	};

	return ctl_table_row(arg, cells);
}

struct json_stream {
	size_t n;
};

static int
list_json_cb(void *arg, const struct mbox *mb)
{
	struct json_stream *js = arg;
	json_t *o = mb_json(mb);
	char *s;

	if (o == NULL)
		return ENOMEM;
	s = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		return ENOMEM;
	/* Indent the object one level inside the array. */
	fputs(js->n++ ? ",\n  " : "\n  ", stdout);
	for (const char *p = s; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			fputs("  ", stdout);
	}
	free(s);
	return 0;
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct mb_opts o;
	struct store_txn *txn;
	struct ctl_table *t = NULL;
	struct json_stream js = { 0 };
	const char *err = "out of memory";
	int rc;

	if ((rc = mb_parse(argc, argv, O_JSON, &o)) != CTL_OK)
		return rc;
	if (o.npos != 0)
		return ctl_usage_error("mailbox list takes no ADDRESS");
	if ((rc = ctl_txn(ctl, false, &txn)) != CTL_OK)
		return rc;
	if (o.json) {
		fputs("[", stdout);
		rc = store_mailbox_foreach(txn, list_json_cb, &js, &err);
		fputs(js.n ? "\n]\n" : "]\n", stdout);
	} else {
		if ((t = ctl_table_new(LIST_COLS, list_headers)) == NULL)
			rc = ENOMEM;
		else
			rc = store_mailbox_foreach(txn, list_row_cb, t, &err);
		if (rc == 0)
			ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	store_txn_abort(txn);
	if (rc != 0)
		return ctl_fail("%s", rc == ENOMEM ? "out of memory" : err);
	return CTL_OK;
}

static int
cmd_show(struct ctl *ctl, int argc, char **argv)
{
	struct mb_opts o;
	struct store_txn *txn;
	struct mbox mb;
	char addr[DV_ADDR_MAX + 1], when[64];
	const char *err;
	int rc;

	if ((rc = mb_parse(argc, argv, O_JSON, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox show takes one ADDRESS");
	if ((rc = ctl_mailbox_address(ctl, o.pos[0], addr, sizeof(addr))) != CTL_OK)
		return rc;
	if ((rc = ctl_txn(ctl, false, &txn)) != CTL_OK)
		return rc;
	rc = store_mailbox_get(txn, addr, &mb, &err);
	store_txn_abort(txn);
	if (rc != 0)
		return ctl_fail("%s", err);
	if (o.json)
		return ctl_print_json(mb_json(&mb));
	printf("address:          %s\n", mb.address);
	printf("type:             %s\n", mbox_type_name(mb.pol.type));
	printf("owner:            %s\n", mb.owner[0] ? mb.owner : "-");
	printf("approval:         %s\n", mbox_approval_name(mb.pol.approval));
	printf("enabled:          %s\n", mb.pol.enabled ? "yes" : "no");
	printf("profile:          %s\n", mb.profile[0] ? mb.profile : "-");
	printf("filter:           %s%s\n",
	    mbox_filter_name(mbox_filter_effective(&mb.pol)),
	    mb.pol.filter == MBOX_FILTER_DEFAULT ? " (default)" : "");
	for (int d = 0; d < MBOX_DIR_COUNT; d++)
		printf("%s:%*s%s\n", mbox_dir_name(d),
		    (int)(17 - strlen(mbox_dir_name(d))), "",
		    mbox_method_name(mb.pol.method[d]));
	for (int d = 0; d < MBOX_DIR_COUNT; d++) {
		const struct mbox_testresult *t = &mb.test[d];

		ctl_time(t->when, when, sizeof(when));
		printf("%s_status:%*s%s", mbox_dir_name(d),
		    (int)(10 - strlen(mbox_dir_name(d))), "",
		    mbox_test_name(t->status));
		if (t->when != 0)
			printf(" at %s", when);
		if (t->message[0] != '\0')
			printf(": %s", t->message);
		putchar('\n');
	}
	return CTL_OK;
}

/* --- import ----------------------------------------------------------------- */

enum col {
	COL_ADDRESS, COL_TYPE, COL_OWNER, COL_INCOMING, COL_OUTGOING, COL_ACT,
	COL_PROFILE, COL_APPROVAL, COL_IN_STATUS, COL_OUT_STATUS,
	COL_ACT_STATUS, COL_ENABLED, COL_FILTER, COL_COUNT
};

static const char *const col_names[COL_COUNT] = {
	"address", "type", "owner", "incoming", "outgoing", "act", "profile",
	"approval", "incoming_status", "outgoing_status", "act_status",
	"enabled", "filter"
};

/* An open-addressing set of addresses, to catch repeats in one file. */
struct addr_set {
	char **key;
	unsigned *line;
	size_t cap, n;
};

static void
set_free(struct addr_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->key[i]);
	free(s->key);
	free(s->line);
	memset(s, 0, sizeof(*s));
}

/* Returns 0 if added, the earlier line if present, -1 on ENOMEM. */
static long
set_add(struct addr_set *s, const char *addr, unsigned line)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct addr_set ns = { 0 };

		ns.cap = s->cap ? s->cap * 2 : 1024;
		ns.key = calloc(ns.cap, sizeof(char *));
		ns.line = calloc(ns.cap, sizeof(unsigned));
		if (ns.key == NULL || ns.line == NULL) {
			free(ns.key);
			free(ns.line);
			return -1;
		}
		for (size_t k = 0; k < s->cap; k++) {
			if (s->key[k] == NULL)
				continue;
			i = dv_fnv1a(s->key[k], strlen(s->key[k])) & (ns.cap - 1);
			while (ns.key[i] != NULL)
				i = (i + 1) & (ns.cap - 1);
			ns.key[i] = s->key[k];
			ns.line[i] = s->line[k];
		}
		ns.n = s->n;
		free(s->key);
		free(s->line);
		*s = ns;
	}
	i = dv_fnv1a(addr, strlen(addr)) & (s->cap - 1);
	while (s->key[i] != NULL) {
		if (strcmp(s->key[i], addr) == 0)
			return (long)s->line[i];
		i = (i + 1) & (s->cap - 1);
	}
	if ((s->key[i] = strdup(addr)) == NULL)
		return -1;
	s->line[i] = line;
	s->n++;
	return 0;
}

/* An import error: one line, saying that nothing landed. */
static int __attribute__((format(printf, 1, 2)))
import_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("; nothing was imported\n", fmt, ap);
	va_end(ap);
	return CTL_FAIL;
}

/* Apply one CSV cell to a record; on error print file:line: column. */
static int
import_cell(const char *file, unsigned line, enum col c, const char *v,
    struct mbox *mb)
{
	int x = 0;

	switch (c) {
	case COL_ADDRESS:
		return CTL_OK;
	case COL_TYPE:
		x = mbox_type_parse(v);
		if (x >= 0)
			mb->pol.type = (uint8_t)x;
		break;
	case COL_OWNER:
		if (!text_ok(v, DV_OWNER_MAX))
			return import_fail("%s:%u: column owner: not UTF-8, longer "
			    "than %d bytes or has control characters (save the "
			    "CSV as UTF-8)", file, line, DV_OWNER_MAX);
		snprintf(mb->owner, sizeof(mb->owner), "%s", v);
		return CTL_OK;
	case COL_INCOMING: case COL_OUTGOING: case COL_ACT:
		x = mbox_method_parse(v);
		if (x >= 0)
			mb->pol.method[c - COL_INCOMING] = (uint8_t)x;
		break;
	case COL_PROFILE:
		if (!text_ok(v, DV_NAME_MAX))
			return import_fail("%s:%u: column profile: bad name", file,
			    line);
		snprintf(mb->profile, sizeof(mb->profile), "%s", v);
		return CTL_OK;
	case COL_APPROVAL:
		x = mbox_approval_parse(v);
		if (x >= 0)
			mb->pol.approval = (uint8_t)x;
		break;
	case COL_IN_STATUS: case COL_OUT_STATUS: case COL_ACT_STATUS:
		x = mbox_test_parse(v);
		if (x >= 0)
			mb->test[c - COL_IN_STATUS].status = (uint8_t)x;
		break;
	case COL_ENABLED:
		x = parse_yesno(v);
		if (x >= 0)
			mb->pol.enabled = x != 0;
		break;
	case COL_FILTER:
		x = mbox_filter_parse(v);
		if (x >= 0)
			mb->pol.filter = (uint8_t)x;
		break;
	case COL_COUNT:
		break;
	}
	if (x < 0)
		return import_fail("%s:%u: column %s: invalid value \"%s\"", file,
		    line, col_names[c], v);
	return CTL_OK;
}

/* One import in progress, on cmd_import()'s stack. */
struct import {
	struct ctl *ctl;
	const char *file;
	struct store_txn *txn;
	struct addr_set seen;		/* addresses so far, with their lines */
	int colmap[CSV_MAX_FIELDS];	/* enum col of each field */
	size_t ncols;
	size_t created, updated;
};

/* The column named @name, in any case; COL_COUNT if there is none. */
static enum col
col_lookup(const char *name)
{
	size_t c;

	for (c = 0; c < COL_COUNT; c++)
		if (strcasecmp(name, col_names[c]) == 0)
			break;
	return (enum col)c;
}

/*
 * Read the header row into @im's column map. The header is required so
 * that a file can give any subset of columns in any order.
 */
static int
import_header(struct import *im, struct csv_reader *csv)
{
	bool have[COL_COUNT] = { false };
	char **f;
	size_t nf;
	unsigned line;
	const char *err;
	int rc;

	rc = csv_next(csv, &f, &nf, &line, &err);
	if (rc == DV_ENOTFOUND)
		return import_fail("%s: empty file; the first line must name "
		    "the columns", im->file);
	if (rc != 0)
		return import_fail("%s: %s", im->file,
		    rc > 0 ? strerror(rc) : err);
	for (size_t i = 0; i < nf; i++) {
		enum col c = col_lookup(f[i]);

		if (c == COL_COUNT)
			return import_fail("%s:%u: unknown column \"%s\"",
			    im->file, line, f[i]);
		if (have[c])
			return import_fail("%s:%u: column \"%s\" appears twice",
			    im->file, line, col_names[c]);
		have[c] = true;
		im->colmap[i] = (int)c;
	}
	if (!have[COL_ADDRESS])
		return import_fail("%s:%u: no \"address\" column", im->file,
		    line);
	im->ncols = nf;
	return CTL_OK;
}

/*
 * Normalise the address cell of a row into @addr. As with "mailbox add",
 * a subaddress is refused rather than stored as its base mailbox.
 */
static int
import_address(const struct import *im, unsigned line, char **f,
    char *addr, size_t addrsz)
{
	const char *a = NULL, *err;
	char plain[DV_ADDR_MAX + 1];

	for (size_t i = 0; i < im->ncols; i++)
		if (im->colmap[i] == COL_ADDRESS)
			a = f[i];
	if (addr_normalize(a, im->ctl->conf->subaddress_seps, addr, addrsz,
	    &err) != 0)
		return import_fail("%s:%u: column address: invalid address "
		    "\"%s\": %s", im->file, line, a, err);
	if (addr_normalize(a, NULL, plain, sizeof(plain), &err) == 0 &&
	    strcmp(plain, addr) != 0)
		return import_fail("%s:%u: column address: %s is a subaddress "
		    "of %s", im->file, line, a, addr);
	return CTL_OK;
}

/* Check one data row and write it over the mailbox, or a new one. */
static int
import_row(struct import *im, unsigned line, char **f, size_t nf)
{
	char addr[DV_ADDR_MAX + 1];
	struct mbox mb;
	const char *err;
	bool exists;
	long prev;
	int rc;

	if (nf != im->ncols)
		return import_fail("%s:%u: %zu fields, but the header names %zu",
		    im->file, line, nf, im->ncols);
	if ((rc = import_address(im, line, f, addr, sizeof(addr))) != CTL_OK)
		return rc;
	if ((prev = set_add(&im->seen, addr, line)) != 0)
		return prev < 0 ? import_fail("out of memory") :
		    import_fail("%s:%u: column address: %s repeats line %ld",
		    im->file, line, addr, prev);
	rc = store_mailbox_get(im->txn, addr, &mb, &err);
	exists = rc == 0;
	if (rc == DV_ENOTFOUND)
		mbox_init(&mb, addr, MBOX_USER);
	else if (rc != 0)
		return import_fail("%s", err);
	for (size_t i = 0; i < nf; i++) {
		if (f[i][0] == '\0')
			continue;	/* empty cell: default or keep */
		if ((rc = import_cell(im->file, line, im->colmap[i], f[i],
		    &mb)) != CTL_OK)
			return rc;
	}
	if (store_mailbox_put(im->txn, &mb, STORE_PUT_UPSERT, &err) != 0)
		return import_fail("%s:%u: %s", im->file, line, err);
	if (exists)
		im->updated++;
	else
		im->created++;
	return CTL_OK;
}

/* Import every data row; any error leaves the transaction to be aborted. */
static int
import_rows(struct import *im, struct csv_reader *csv)
{
	char **f;
	size_t nf;
	unsigned line;
	const char *err;
	int rc;

	while ((rc = csv_next(csv, &f, &nf, &line, &err)) == 0)
		if ((rc = import_row(im, line, f, nf)) != CTL_OK)
			return rc;
	if (rc != DV_ENOTFOUND)
		return import_fail("%s: %s", im->file,
		    rc > 0 ? strerror(rc) : err);
	return CTL_OK;
}

/*
 * All rows go in one write transaction, committed only after the last
 * one, so that a bad row anywhere leaves the store as it was.
 */
static int
cmd_import(struct ctl *ctl, int argc, char **argv)
{
	struct import im = { .ctl = ctl };
	struct csv_reader *csv = NULL;
	struct mb_opts o;
	FILE *fp;
	int rc;

	if ((rc = mb_parse(argc, argv, 0, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("mailbox import takes one FILE.csv");
	im.file = o.pos[0];
	if ((fp = fopen(im.file, "r")) == NULL)
		return import_fail("%s: %s", im.file, strerror(errno));
	if (csv_open(fp, &csv) != 0) {
		rc = import_fail("out of memory");
		goto out;
	}
	if ((rc = import_header(&im, csv)) != CTL_OK)
		goto out;
	if ((rc = ctl_txn(ctl, true, &im.txn)) != CTL_OK)
		goto out;
	if ((rc = import_rows(&im, csv)) != CTL_OK)
		goto out;
	rc = ctl_commit(im.txn);
	im.txn = NULL;
	if (rc == CTL_OK)
		printf("imported %zu mailboxes from %s (%zu added, %zu "
		    "updated)\n", im.created + im.updated, im.file, im.created,
		    im.updated);
out:
	store_txn_abort(im.txn);
	set_free(&im.seen);
	csv_close(csv);
	fclose(fp);
	return rc;
}

static int
cmd_approve(struct ctl *ctl, int argc, char **argv)
{
	return cmd_approval(ctl, argc, argv, MBOX_APPROVAL_APPROVED);
}

static int
cmd_reject(struct ctl *ctl, int argc, char **argv)
{
	return cmd_approval(ctl, argc, argv, MBOX_APPROVAL_REJECTED);
}

int
ctl_mailbox(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "add", cmd_add },
		{ "approve", cmd_approve },
		{ "reject", cmd_reject },
		{ "remove", cmd_remove },
		{ "set", cmd_set },
		{ "list", cmd_list },
		{ "show", cmd_show },
		{ "import", cmd_import },
		{ NULL, NULL }
	};

	return ctl_dispatch(ctl, "mailbox", cmds, argc, argv);
}

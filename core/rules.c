/*
 * rules.c - folder-tracking rules: validation, matching and the record.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "rules.h"
#include "status.h"
#include "store_int.h"
#include "utf8.h"

#define RULES_RECORD_VERSION	1

void
rule_free(struct rule *r)
{
	if (r == NULL)
		return;
	free(r->subaddress);
	free(r->sender);
	free(r->recipient);
	free(r->header_name);
	free(r->header_value);
	free(r->subject);
	free(r->folder);
	free(r->regarding_type);
	free(r->regarding_id);
	memset(r, 0, sizeof(*r));
}

void
rules_free(struct rule_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		rule_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool
text_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return true;
	n = strlen(s);
	if (n == 0 || n > RULE_TEXT_MAX || !utf8_valid(s, n))
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int
rule_check(const struct rule *r, const char **error_r)
{
	const char *const fields[] = { r->subaddress, r->sender, r->recipient,
	    r->header_name, r->header_value, r->subject, r->folder,
	    r->regarding_type, r->regarding_id };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!text_ok(fields[i])) {
			*error_r = dv_error_set("rule values must be 1 to %d "
			    "bytes of UTF-8 text without control characters",
			    RULE_TEXT_MAX);
			return DV_EINVAL;
		}
	if (r->subaddress == NULL && r->sender == NULL &&
	    r->recipient == NULL && r->header_name == NULL &&
	    r->subject == NULL) {
		*error_r = dv_error_set("a rule needs at least one condition "
		    "(subaddress, sender, recipient, header or subject)");
		return DV_EINVAL;
	}
	if ((r->header_name == NULL) != (r->header_value == NULL) ||
	    (r->header_name != NULL && strpbrk(r->header_name, ": \t"))) {
		*error_r = dv_error_set("a header condition is \"Name: "
		    "pattern\"");
		return DV_EINVAL;
	}
	if (r->action == RULE_TRACK && r->folder == NULL) {
		*error_r = dv_error_set("a tracking rule needs a folder");
		return DV_EINVAL;
	}
	if (r->action == RULE_SKIP && (r->folder != NULL ||
	    r->regarding_type != NULL)) {
		*error_r = dv_error_set("a do-not-track rule has no folder and "
		    "no regarding record");
		return DV_EINVAL;
	}
	if (r->action != RULE_TRACK && r->action != RULE_SKIP) {
		*error_r = dv_error_set("unknown rule action");
		return DV_EINVAL;
	}
	if ((r->regarding_type == NULL) != (r->regarding_id == NULL)) {
		*error_r = dv_error_set("regarding is \"type:id\"");
		return DV_EINVAL;
	}
	return 0;
}

/* --- matching -------------------------------------------------------------- */

static bool
glob(const char *pat, const char *s)
{
	return s != NULL && fnmatch(pat, s, FNM_CASEFOLD) == 0;
}

static bool
sender_matches(const char *pat, const char *addr)
{
	const char *at;

	if (addr == NULL)
		return false;
	if (strchr(pat, '@') != NULL)
		return glob(pat, addr);
	at = strrchr(addr, '@');
	return at != NULL && glob(pat, at + 1);
}

static bool
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay != NULL && *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool
rule_matches(const struct rule *r, const struct rule_input *in)
{
	if (r->subaddress != NULL && (in->subaddress == NULL ||
	    strcasecmp(r->subaddress, in->subaddress) != 0))
		return false;
	if (r->sender != NULL && !sender_matches(r->sender, in->sender) &&
	    !sender_matches(r->sender, in->from))
		return false;
	if (r->recipient != NULL) {
		bool any = false;

		for (size_t i = 0; !any && i < in->nrcpts; i++)
			any = glob(r->recipient, in->rcpts[i]);
		if (!any)
			return false;
	}
	if (r->header_name != NULL && (in->header == NULL ||
	    !glob(r->header_value, in->header(in->header_arg,
	    r->header_name))))
		return false;
	if (r->subject != NULL && !contains(in->subject, r->subject))
		return false;
	return true;
}

int
rules_match(const struct rule_list *l, const struct rule_input *in)
{
	for (size_t i = 0; i < l->n; i++)
		if (rule_matches(&l->v[i], in))
			return (int)i;
	return -1;
}

void
rule_describe(const struct rule *r, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
#define PART(fmt, ...) do {						\
	int w = snprintf(out + n, outsz - n, "%s" fmt, n ? " " : "",	\
	    __VA_ARGS__);						\
	if (w > 0 && (size_t)w < outsz - n)				\
		n += (size_t)w;						\
} while (0)
	if (r->subaddress)
		PART("subaddress=%s", r->subaddress);
	if (r->sender)
		PART("sender=%s", r->sender);
	if (r->recipient)
		PART("recipient=%s", r->recipient);
	if (r->header_name)
		PART("header=\"%s: %s\"", r->header_name, r->header_value);
	if (r->subject)
		PART("subject=\"%s\"", r->subject);
#undef PART
}

/* --- the record ----------------------------------------------------------- */

static json_t *
rule_to_json(const struct rule *r)
{
	json_t *o = json_object();

#define SET(key, val) do {						\
	if ((val) != NULL)						\
		json_object_set_new(o, key, json_string(val));		\
} while (0)
	SET("subaddress", r->subaddress);
	SET("sender", r->sender);
	SET("recipient", r->recipient);
	SET("header_name", r->header_name);
	SET("header_value", r->header_value);
	SET("subject", r->subject);
	SET("folder", r->folder);
	SET("regarding_type", r->regarding_type);
	SET("regarding_id", r->regarding_id);
#undef SET
	json_object_set_new(o, "action", json_string(r->action == RULE_SKIP ?
	    "do-not-track" : "track"));
	return o;
}

static int
rule_from_json(json_t *o, struct rule *r)
{
	struct {
		const char *key;
		char **dst;
	} f[] = {
		{ "subaddress", &r->subaddress }, { "sender", &r->sender },
		{ "recipient", &r->recipient },
		{ "header_name", &r->header_name },
		{ "header_value", &r->header_value },
		{ "subject", &r->subject }, { "folder", &r->folder },
		{ "regarding_type", &r->regarding_type },
		{ "regarding_id", &r->regarding_id },
	};
	const char *action = json_string_value(json_object_get(o, "action"));
	const char *err;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o) || action == NULL)
		return DV_ECORRUPT;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		json_t *v = json_object_get(o, f[i].key);

		if (v == NULL)
			continue;
		if (!json_is_string(v) ||
		    (*f[i].dst = strdup(json_string_value(v))) == NULL)
			return DV_ECORRUPT;
	}
	r->action = strcmp(action, "do-not-track") == 0 ? RULE_SKIP :
	    strcmp(action, "track") == 0 ? RULE_TRACK : -1;
	return rule_check(r, &err) == 0 ? 0 : DV_ECORRUPT;
}

int
rules_decode(const char *mailbox, const void *p, size_t n,
    struct rule_list *l, const char **error_r)
{
	json_t *doc = json_loadb(p, n, 0, NULL), *arr;
	int rc = 0;

	l->v = NULL;
	l->n = 0;
	arr = json_object_get(doc, "rules");
	if (json_integer_value(json_object_get(doc, "v")) !=
	    RULES_RECORD_VERSION || !json_is_array(arr) ||
	    json_array_size(arr) > RULES_MAX)
		rc = DV_ECORRUPT;
	else if ((l->v = calloc(json_array_size(arr) + 1,
	    sizeof(*l->v))) == NULL)
		rc = DV_ECORRUPT;
	for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
		rc = rule_from_json(json_array_get(arr, i), &l->v[i]);
		l->n++;
	}
	json_decref(doc);
	if (rc != 0) {
		rules_free(l);
		*error_r = dv_error_set("the rules of %s are corrupt", mailbox);
	}
	return rc;
}

static int
key_for(const char *mailbox, MDB_val *k, const char **error_r)
{
	k->mv_size = strlen(mailbox);
	k->mv_data = (void *)mailbox;
	if (k->mv_size == 0 || k->mv_size > 511) {
		*error_r = dv_error_set("invalid mailbox address");
		return DV_EINVAL;
	}
	return 0;
}

int
rules_get(struct store_txn *t, const char *mailbox, struct rule_list *l,
    const char **error_r)
{
	MDB_val k, v;
	int rc;

	l->v = NULL;
	l->n = 0;
	if ((rc = key_for(mailbox, &k, error_r)) != 0)
		return rc;
	rc = mdb_get(t->txn, t->store->rule, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_fail(rc, "reading rules", error_r);
	return rules_decode(mailbox, v.mv_data, v.mv_size, l, error_r);
}

int
rules_put(struct store_txn *t, const char *mailbox,
    const struct rule_list *l, const char **error_r)
{
	json_t *arr, *doc;
	MDB_val k, v;
	char *s;
	int rc;

	if ((rc = key_for(mailbox, &k, error_r)) != 0)
		return rc;
	if (l->n > RULES_MAX) {
		*error_r = dv_error_set("a mailbox has at most %d rules",
		    RULES_MAX);
		return DV_EINVAL;
	}
	for (size_t i = 0; i < l->n; i++)
		if ((rc = rule_check(&l->v[i], error_r)) != 0)
			return rc;
	if (l->n == 0) {
		rc = mdb_del(t->txn, t->store->rule, &k, NULL);
		return rc == 0 || rc == MDB_NOTFOUND ? 0 :
		    store_mdb_fail(rc, "deleting rules", error_r);
	}
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < l->n; i++)
		json_array_append_new(arr, rule_to_json(&l->v[i]));
	doc = json_pack("{s:i, s:o}", "v", RULES_RECORD_VERSION, "rules", arr);
	s = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (s == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	v.mv_size = strlen(s);
	v.mv_data = s;
	rc = mdb_put(t->txn, t->store->rule, &k, &v, 0);
	free(s);
	return rc != 0 ? store_mdb_fail(rc, "writing rules", error_r) : 0;
}

int
rules_foreach(struct store_txn *t,
    int (*fn)(void *arg, const char *mailbox, const struct rule_list *l),
    void *arg, const char **error_r)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_FIRST;

	if ((rc = mdb_cursor_open(t->txn, t->store->rule, &c)) != 0)
		return store_mdb_fail(rc, "reading rules", error_r);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		struct rule_list l;
		char *mailbox = strndup(k.mv_data, k.mv_size);

		op = MDB_NEXT;
		if (mailbox == NULL) {
			rc = ENOMEM;
			break;
		}
		rc = rules_decode(mailbox, v.mv_data, v.mv_size, &l, error_r);
		if (rc == 0) {
			rc = fn(arg, mailbox, &l);
			rules_free(&l);
		}
		free(mailbox);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc;
}

/*
 * ob_table.c - the outbox's LMDB tables (layout in ob_int.h): entries,
 * their deliveries, the due index and the Message-ID index.
 *
 * The Message-ID index has two keys per entry: the Message-ID alone,
 * which names the first entry stored with it (correlation), and the
 * Message-ID with the content digest, which names the entry holding
 * that very message (a copy folds into it). A later, different message
 * that reuses a Message-ID gets the second key only: it never takes the
 * first from the message that had it, nor folds into it.
 *
 * Everything happens in the caller's transaction. It decides nothing
 * about what to track, never calls a plugin, and leaves when to retry
 * to core/retry.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>
#include <openssl/evp.h>

#include "ob_int.h"
#include "retry.h"
#include "smart.h"
#include "status.h"
#include "store_int.h"
#include "utf8.h"

#define QMSG_VERSION	1
#define PLUGIN_MAX	64

static void
be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* id + plugin key. */
static int
del_key(unsigned char *buf, uint64_t id, const char *plugin, MDB_val *k)
{
	size_t pl = strlen(plugin);

	if (pl == 0 || pl > PLUGIN_MAX)
		return DV_EINVAL;
	be64(buf, id);
	memcpy(buf + 8, plugin, pl);
	k->mv_size = 8 + pl;
	k->mv_data = buf;
	return 0;
}

static void
due_key(unsigned char *buf, int64_t at, uint64_t id, const char *plugin,
    MDB_val *k)
{
	size_t pl = strlen(plugin);

	be64(buf, at < 0 ? 0 : (uint64_t)at);
	be64(buf + 8, id);
	memcpy(buf + 16, plugin, pl);
	k->mv_size = 16 + pl;
	k->mv_data = buf;
}

/*
 * The key of a Message-ID in qmsgid: the Message-ID as the record keeps
 * it (jstr(): invalid UTF-8 bytes as U+FFFD, so that the record's form
 * and the form first seen give one key), or, longer than an LMDB key can
 * hold, "sha256:" and its digest. @buf has MSGID_KEY_MAX bytes.
 */
#define MSGID_KEY_MAX	401

static void
msgid_key(const char *mid, char *buf, MDB_val *k)
{
	size_t n = strlen(mid);
	char *fixed = NULL;

	if (!utf8_valid(mid, n) && (fixed = utf8_sanitize(mid)) != NULL) {
		n = strlen(fixed);
		if (n < MSGID_KEY_MAX)
			memcpy(buf, fixed, n + 1);
		else
			mid = fixed;
	}
	if (n < MSGID_KEY_MAX) {
		k->mv_size = n;
		k->mv_data = fixed != NULL ? buf : (void *)mid;
		free(fixed);
		return;
	}
	{
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int ml = 0;

		EVP_Digest(mid, n, md, &ml, EVP_sha256(), NULL);
		memcpy(buf, "sha256:", 7);
		for (unsigned i = 0; i < ml && i < 32; i++)
			snprintf(buf + 7 + 2 * i, 3, "%02x", md[i]);
		k->mv_size = 7 + 64;
		k->mv_data = buf;
	}
	free(fixed);
}

/*
 * The key of a message in qmsgid: msgid_key() of its Message-ID, a NUL
 * (which no Message-ID key has) and its digest. @buf has COPY_KEY_MAX
 * bytes; @digest is 64 hexadecimal digits.
 */
#define COPY_KEY_MAX	(MSGID_KEY_MAX + 1 + 64)

static void
copy_key(const char *mid, const char *digest, char *buf, MDB_val *k)
{
	size_t dl = strnlen(digest, 64);

	msgid_key(mid, buf, k);
	if (k->mv_data != buf)
		memcpy(buf, k->mv_data, k->mv_size);
	buf[k->mv_size] = '\0';
	memcpy(buf + k->mv_size + 1, digest, dl);
	k->mv_size += 1 + dl;
	k->mv_data = buf;
}

/* The id a qmsgid key names: 0 with *id_r, DV_ENOTFOUND, DV_ECORRUPT. */
static int
msgid_get(struct store_txn *t, MDB_val *k, uint64_t *id_r,
    const char **error_r)
{
	MDB_val v;
	int rc;

	if ((rc = mdb_get(t->txn, t->store->qmsgid, k, &v)) != 0) {
		if (rc == MDB_NOTFOUND)
			return DV_ENOTFOUND;
		return store_mdb_fail(rc, "outbox", error_r);
	}
	if (v.mv_size != 8) {
		*error_r = dv_error_set("outbox Message-ID index is corrupt");
		return DV_ECORRUPT;
	}
	*id_r = get_be64(v.mv_data);
	return 0;
}

static bool
has_digest(const char *digest)
{
	return digest != NULL && digest[0] != '\0';
}

/* --- delivery records ------------------------------------------------------ */

static int
del_encode(const struct outbox_delivery *d, char **out)
{
	json_t *o = json_pack("{s:i, s:I, s:I, s:I, s:s, s:s, s:s, s:I}",
	    "state", d->state, "attempts", (json_int_t)d->attempts,
	    "next_at", (json_int_t)d->next_at,
	    "updated", (json_int_t)d->updated, "error", d->last_error,
	    "activity_id", d->activity_id, "case_id", d->case_id, "gen", (json_int_t)d->gen);

	if (o == NULL)
		return ENOMEM;
	/* Only when set: the records of every other delivery stay as they
	 * were, and older code reads these (it ignores keys it does not
	 * know). */
	if (d->crashes > 0)
		json_object_set_new(o, "crashes", json_integer(d->crashes));
	if (d->suspect)
		json_object_set_new(o, "suspect", json_true());
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out != NULL ? 0 : ENOMEM;
}

static int
del_decode(const MDB_val *k, const MDB_val *v, struct outbox_delivery *d)
{
	json_t *o;
	json_error_t je;
	const char *err = "", *act = "", *cas = "";
	json_int_t attempts = 0, next = 0, upd = 0, gen = 0, crashes = 0;
	int state = 0, suspect = 0;

	memset(d, 0, sizeof(*d));
	if (k->mv_size <= 8 || k->mv_size > 8 + PLUGIN_MAX)
		return DV_ECORRUPT;
	d->id = get_be64(k->mv_data);
	memcpy(d->plugin, (const char *)k->mv_data + 8, k->mv_size - 8);
	d->plugin[k->mv_size - 8] = '\0';
	if ((o = json_loadb(v->mv_data, v->mv_size, 0, &je)) == NULL)
		return DV_ECORRUPT;
	if (json_unpack(o, "{s:i, s:I, s:I, s:I, s?s, s?s, s?s, s?I, s?I, s?b}",
	    "state", &state, "attempts", &attempts, "next_at", &next,
	    "updated", &upd, "error", &err, "activity_id", &act,
	    "case_id", &cas, "gen", &gen, "crashes", &crashes,
	    "suspect", &suspect) != 0) {
		json_decref(o);
		return DV_ECORRUPT;
	}
	d->state = state;
	d->attempts = (unsigned)attempts;
	d->next_at = next;
	d->updated = upd;
	d->gen = (uint64_t)gen;
	d->crashes = crashes > 0 ? (unsigned)crashes : 0;
	d->suspect = suspect != 0;
	snprintf(d->last_error, sizeof(d->last_error), "%s", err);
	snprintf(d->activity_id, sizeof(d->activity_id), "%s", act);
	snprintf(d->case_id, sizeof(d->case_id), "%s", cas);
	json_decref(o);
	return 0;
}

static int
del_put(struct store_txn *t, const struct outbox_delivery *d,
    const char **error_r)
{
	unsigned char kb[8 + PLUGIN_MAX];
	MDB_val k, v;
	char *enc;
	int rc;

	if (del_key(kb, d->id, d->plugin, &k) != 0) {
		*error_r = dv_error_set("bad plugin name \"%s\"", d->plugin);
		return DV_EINVAL;
	}
	if ((rc = del_encode(d, &enc)) != 0) {
		*error_r = dv_error_set("out of memory");
		return rc;
	}
	v.mv_size = strlen(enc);
	v.mv_data = enc;
	rc = mdb_put(t->txn, t->store->qdel, &k, &v, 0);
	free(enc);
	return rc != 0 ? store_mdb_fail(rc, "outbox", error_r) : 0;
}

static int
due_set(struct store_txn *t, int64_t at, uint64_t id, const char *plugin,
    bool on, const char **error_r)
{
	char empty = '\0';		/* a due record has no value */
	unsigned char kb[16 + PLUGIN_MAX];
	MDB_val k, v = { 0, &empty };
	int rc;

	due_key(kb, at, id, plugin, &k);
	rc = on ? mdb_put(t->txn, t->store->qdue, &k, &v, 0) :
	    mdb_del(t->txn, t->store->qdue, &k, NULL);
	if (rc == MDB_NOTFOUND && !on)
		rc = 0;
	return rc != 0 ? store_mdb_fail(rc, "outbox", error_r) : 0;
}

/*
 * A message record: version, 4-byte header length, JSON header, raw
 * message. qmsg_reserve() reserves one in place and writes everything
 * but the raw message, whose place it returns; qmsg_split() takes one
 * apart. Both are the only code that knows the layout.
 */
static int
qmsg_reserve(struct store_txn *t, unsigned char kb[8], const char *hdr,
    size_t rawlen, unsigned flags, unsigned char **raw_r,
    const char **error_r)
{
	size_t hl = strlen(hdr);
	MDB_val k = { 8, kb }, v = { 5 + hl + rawlen, NULL };
	unsigned char *p;
	int rc;

	if ((rc = mdb_put(t->txn, t->store->qmsg, &k, &v,
	    flags | MDB_RESERVE)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	p = v.mv_data;
	p[0] = QMSG_VERSION;
	p[1] = (unsigned char)(hl >> 24);
	p[2] = (unsigned char)(hl >> 16);
	p[3] = (unsigned char)(hl >> 8);
	p[4] = (unsigned char)hl;
	memcpy(p + 5, hdr, hl);
	*raw_r = p + 5 + hl;
	return 0;
}

static int
qmsg_split(const MDB_val *v, const char **hdr_r, size_t *hl_r,
    const unsigned char **raw_r, size_t *rawlen_r)
{
	const unsigned char *p = v->mv_data;
	size_t hl;

	if (v->mv_size < 5 || p[0] != QMSG_VERSION)
		return DV_ECORRUPT;
	hl = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
	if (hl > v->mv_size - 5)
		return DV_ECORRUPT;
	*hdr_r = (const char *)p + 5;
	*hl_r = hl;
	*raw_r = p + 5 + hl;
	*rawlen_r = v->mv_size - 5 - hl;
	return 0;
}

/* --- messages ------------------------------------------------------------------ */

/*
 * A JSON string for text from the SMTP envelope, which may carry 8-bit
 * bytes that are not UTF-8: invalid bytes become U+FFFD rather than
 * making the whole record unstorable. NULL stays NULL.
 */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *fixed;

	if (s == NULL)
		return NULL;
	if ((j = json_string(s)) != NULL)
		return j;
	if ((fixed = utf8_sanitize(s)) == NULL)
		return NULL;
	j = json_string(fixed);
	free(fixed);
	return j;
}

static int fold_one(void *arg, struct outbox_delivery *d);
static int each_delivery(struct store_txn *t, uint64_t id,
    int (*fn)(void *arg, struct outbox_delivery *d), void *arg,
    const char **error_r);

struct retry_arg {
	struct store_txn *t;
	const char *plugin;
	int64_t now;
	size_t n;
	const char **error_r;
};

/*
 * Append the elements of @add that @base lacks (compared by @key);
 * returns how many.
 */
static size_t
json_union(json_t *base, json_t *add, const char *key)
{
	size_t i, j, n = 0;
	json_t *a, *b;

	json_array_foreach(add, i, a) {
		bool have = false;
		json_t *ka = key ? json_object_get(a, key) : a;

		json_array_foreach(base, j, b)
			if (json_equal(ka, key ? json_object_get(b, key) : b))
				have = true;
		if (!have && json_array_append(base, a) == 0)
			n++;
	}
	return n;
}

/*
 * The header @hdr of an entry with a copy @it folded in: its mailboxes
 * and recipients join the entry's; *grew_r says whether the copy brought
 * one the entry lacked. NULL if out of memory.
 */
static char *
merged_header(json_t *hdr, const struct outbox_item *it, bool *grew_r)
{
	const char *old = json_string_value(json_object_get(hdr, "decision"));
	json_t *dec = json_loads(old != NULL ? old : "{}", 0, NULL);
	json_t *newdec = it->decision != NULL ?
	    json_loads(it->decision, 0, NULL) : NULL;
	char *ds = NULL, *hs = NULL;
	size_t added = 0;

	if (dec == NULL)
		dec = json_object();
	if (json_object_get(dec, "mailboxes") == NULL)
		json_object_set_new(dec, "mailboxes", json_array());
	if (newdec != NULL)
		added += json_union(json_object_get(dec, "mailboxes"),
		    json_object_get(newdec, "mailboxes"), "address");
	for (size_t i = 0; i < it->nrcpts; i++) {
		json_t *one = json_pack("[o]", jstr(it->rcpts[i]));

		added += json_union(json_object_get(hdr, "rcpts"), one, NULL);
		json_decref(one);
	}
	*grew_r = added > 0;
	if ((ds = json_dumps(dec, JSON_COMPACT)) != NULL &&
	    json_object_set_new(hdr, "decision", json_string(ds)) == 0)
		hs = json_dumps(hdr, JSON_COMPACT);
	free(ds);
	json_decref(dec);
	json_decref(newdec);
	return hs;
}

/*
 * After a copy was folded into entry @id: if it brought a mailbox or a
 * recipient (@grew), every plugin gets the fuller picture, due again
 * now (same id, so it updates rather than duplicates; see fold_one());
 * and one of @plugins without a delivery gets one.
 */
static int
merge_rearm(struct store_txn *t, uint64_t id, int64_t now, bool grew,
    char *const *plugins, const char **error_r)
{
	struct retry_arg ra = { t, NULL, now, 0, error_r };
	int rc;

	if (grew && (rc = each_delivery(t, id, fold_one, &ra, error_r)) != 0)
		return rc;
	for (size_t i = 0; plugins != NULL && plugins[i] != NULL; i++) {
		struct outbox_delivery d;

		if (ob_table_delivery_get(t, id, plugins[i], &d, error_r) == 0)
			continue;
		memset(&d, 0, sizeof(d));
		d.id = id;
		d.next_at = d.updated = now;
		snprintf(d.plugin, sizeof(d.plugin), "%s", plugins[i]);
		if ((rc = del_put(t, &d, error_r)) != 0 ||
		    (rc = due_set(t, d.next_at, id, d.plugin, true,
		    error_r)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Fold a later copy of a message into entry @id (merged_header(),
 * merge_rearm()). Returns DV_ENOTFOUND if the entry is gone (the index
 * was stale) or its text was pruned.
 */
static int
merge_copy(struct store_txn *t, uint64_t id, const struct outbox_item *it,
    char *const *plugins, const char **error_r)
{
	unsigned char kb[8], *raw = NULL, *dst;
	MDB_val k = { 8, kb }, v;
	const unsigned char *p;
	const char *hs0;
	size_t hl, rawlen;
	char *hs = NULL;
	json_t *hdr;
	bool grew = false;
	int rc;

	be64(kb, id);
	if ((rc = mdb_get(t->txn, t->store->qmsg, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? DV_ENOTFOUND :
		    store_mdb_fail(rc, "outbox", error_r);
	if (qmsg_split(&v, &hs0, &hl, &p, &rawlen) != 0 ||
	    (hdr = json_loadb(hs0, hl, 0, NULL)) == NULL) {
		*error_r = dv_error_set("queued message %llu is corrupt",
		    (unsigned long long)id);
		return DV_ECORRUPT;
	}
	/* Its text is gone: the copy becomes an entry of its own. */
	if (json_object_get(hdr, "pruned") != NULL) {
		json_decref(hdr);
		return DV_ENOTFOUND;
	}
	if ((raw = malloc(rawlen + 1)) != NULL) {
		memcpy(raw, p, rawlen);	/* v dies with the next put */
		hs = merged_header(hdr, it, &grew);
	}
	json_decref(hdr);
	if (raw == NULL || hs == NULL) {
		*error_r = dv_error_set("out of memory");
		rc = ENOMEM;
	} else if ((rc = qmsg_reserve(t, kb, hs, rawlen, 0, &dst,
	    error_r)) == 0) {
		memcpy(dst, raw, rawlen);
		rc = merge_rearm(t, id, it->received, grew, plugins, error_r);
	}
	free(raw);
	free(hs);
	return rc;
}

/*
 * The Message-ID index records of entry @id (see the preamble): the key
 * with the digest names @id; the Message-ID alone names @id if no entry
 * has it, or if the entry it names holds this same message (its text
 * was pruned, so this copy became an entry of its own). Otherwise an
 * earlier entry had the Message-ID for another message, and keeps it.
 * A damaged record is written over, as before digests.
 */
static int
index_message_id(struct store_txn *t, uint64_t id, const char *message_id,
    const char *digest, const char **error_r)
{
	unsigned char kb[8];
	char ckb[COPY_KEY_MAX], mkb[MSGID_KEY_MAX];
	MDB_val k, v = { 8, kb };
	uint64_t copy = 0, first = 0;
	int rc;

	be64(kb, id);
	if (has_digest(digest)) {
		copy_key(message_id, digest, ckb, &k);
		if ((rc = msgid_get(t, &k, &copy, error_r)) != 0 &&
		    rc != DV_ENOTFOUND && rc != DV_ECORRUPT)
			return rc;
		if ((rc = mdb_put(t->txn, t->store->qmsgid, &k, &v, 0)) != 0)
			return store_mdb_fail(rc, "outbox", error_r);
	}
	msgid_key(message_id, mkb, &k);
	if ((rc = msgid_get(t, &k, &first, error_r)) != 0 &&
	    rc != DV_ENOTFOUND && rc != DV_ECORRUPT)
		return rc;
	if (first != 0 && first != id && first != copy)
		return 0;
	if ((rc = mdb_put(t->txn, t->store->qmsgid, &k, &v, 0)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	return 0;
}

/*
 * The index records of entry @id: its Message-ID in qmsgid, and a
 * pending delivery due at @received for each plugin that has none.
 */
static int
index_entry(struct store_txn *t, uint64_t id, const char *message_id,
    const char *digest, int64_t received, char *const *plugins,
    const char **error_r)
{
	int rc;

	if (message_id != NULL && message_id[0] != '\0' &&
	    (rc = index_message_id(t, id, message_id, digest, error_r)) != 0)
		return rc;
	for (size_t i = 0; plugins != NULL && plugins[i] != NULL; i++) {
		struct outbox_delivery d;

		if (ob_table_delivery_get(t, id, plugins[i], &d, error_r) == 0)
			continue;	/* indexed already */
		memset(&d, 0, sizeof(d));
		d.id = id;
		d.state = OUTBOX_PENDING;
		d.next_at = d.updated = received;
		snprintf(d.plugin, sizeof(d.plugin), "%s", plugins[i]);
		if ((rc = del_put(t, &d, error_r)) != 0 ||
		    (rc = due_set(t, d.next_at, id, d.plugin, true,
		    error_r)) != 0)
			return rc;
	}
	return 0;
}

#define INDEX_MARK	"queue/indexed"
#define ID_COUNTER	"counter/queue"		/* store_counter_next()'s */

/* The hint for entry @id, by binary search, or NULL. */
static const struct ob_index_hint *
hint_find(const struct ob_index_hint *h, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h[mid].id == id)
			return &h[mid];
		if (h[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
ob_table_index_pending(struct store_txn *t, char *const *plugins,
    const struct ob_index_hint *hints, size_t nhints, size_t max,
    size_t *n_r, bool *more_r, const char **error_r)
{
	unsigned char kb[8];
	MDB_cursor *cur = NULL;
	MDB_val k = { 8, kb }, v;
	uint64_t mark, last = 0;
	size_t n = 0;
	bool have, more = false;
	int rc, op = MDB_SET_RANGE;

	if (n_r != NULL)
		*n_r = 0;
	if (more_r != NULL)
		*more_r = false;
	if ((rc = store_meta_u64(t, INDEX_MARK, &mark, &have, error_r)) != 0)
		return rc;
	if (!have) {
		/* Every entry of a store without a mark is indexed. */
		if ((rc = store_meta_u64(t, ID_COUNTER, &mark, &have,
		    error_r)) != 0)
			return rc;
		return store_meta_u64_put(t, INDEX_MARK, mark, error_r);
	}
	if ((rc = mdb_cursor_open(t->txn, t->store->qmsg, &cur)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	be64(kb, mark + 1);
	while ((rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) == 0) {
		const struct ob_index_hint *hint;
		const unsigned char *raw;
		const char *hs, *mid = NULL, *dig = NULL;
		size_t hl, rawlen;
		json_int_t received = 0;
		json_t *hdr = NULL;
		uint64_t id;

		op = MDB_NEXT;
		if (k.mv_size != 8)
			continue;
		if (n == max) {
			more = true;
			break;
		}
		id = get_be64(k.mv_data);
		if ((hint = hint_find(hints, nhints, id)) != NULL) {
			mid = hint->message_id;
			dig = hint->digest;
			received = hint->received;
		} else {
			/* Corrupt: due at once, for the worker to
			 * dead-letter. */
			hdr = qmsg_split(&v, &hs, &hl, &raw, &rawlen) != 0 ?
			    NULL : json_loadb(hs, hl, 0, NULL);
			if (hdr != NULL)
				(void)json_unpack(hdr, "{s?s, s?s, s?I}",
				    "message_id", &mid, "digest", &dig,
				    "received", &received);
		}
		rc = index_entry(t, id, mid, dig, received, plugins, error_r);
		json_decref(hdr);
		if (rc != 0) {
			mdb_cursor_close(cur);
			return rc;
		}
		last = id;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(rc, "outbox", error_r);
	if (n > 0 &&
	    (rc = store_meta_u64_put(t, INDEX_MARK, last, error_r)) != 0)
		return rc;
	if (n_r != NULL)
		*n_r = n;
	if (more_r != NULL)
		*more_r = more;
	return 0;
}

#define LOG_IDENT	"queue/log-ident"
#define LOG_APPLIED	"queue/log-applied"

int
ob_table_log_state(struct store_txn *t, uint64_t *ident_r, uint64_t *applied_r,
    const char **error_r)
{
	bool have;
	int rc;

	if ((rc = store_meta_u64(t, LOG_IDENT, ident_r, &have, error_r)) != 0)
		return rc;
	return store_meta_u64(t, LOG_APPLIED, applied_r, &have, error_r);
}

int
ob_table_log_state_put(struct store_txn *t, uint64_t ident, uint64_t applied,
    const char **error_r)
{
	int rc = store_meta_u64_put(t, LOG_IDENT, ident, error_r);

	return rc != 0 ? rc : store_meta_u64_put(t, LOG_APPLIED, applied,
	    error_r);
}

int
ob_table_last_id(struct store_txn *t, uint64_t *id_r, const char **error_r)
{
	bool have;

	return store_meta_u64(t, ID_COUNTER, id_r, &have, error_r);
}

/*
 * The JSON header of a new entry's record: its envelope, decision,
 * digest and the entry it collided with (@collided, 0 for none).
 */
static char *
entry_header(const struct outbox_item *it, uint64_t collided)
{
	json_t *hdr, *rcpts;
	char *hs;

	if ((rcpts = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < it->nrcpts; i++)
		if (json_array_append_new(rcpts, jstr(it->rcpts[i])) != 0) {
			json_decref(rcpts);
			return NULL;
		}
	/* s* leaves a NULL field out; "s?s" unpacking then finds no key. */
	hdr = json_pack("{s:i, s:I, s:o*, s:o*, s:o, s:o*, s:s*, s:b, s:s*}",
	    "direction", it->direction, "received", (json_int_t)it->received,
	    "queue_id", jstr(it->queue_id), "from", jstr(it->envelope_from),
	    "rcpts", rcpts, "message_id", jstr(it->message_id),
	    "decision", it->decision, "truncated", it->truncated,
	    "digest", has_digest(it->digest) ? it->digest : NULL);
	if (hdr != NULL && collided != 0 && json_object_set_new(hdr,
	    "collided_with", json_integer((json_int_t)collided)) != 0) {
		json_decref(hdr);
		hdr = NULL;
	}
	hs = hdr != NULL ? json_dumps(hdr, JSON_COMPACT) : NULL;
	json_decref(hdr);
	return hs;
}

/* Write the record of new entry @id: its header and the message. */
static int
put_record(struct store_txn *t, uint64_t id, const struct outbox_item *it,
    uint64_t collided, const char **error_r)
{
	unsigned char kb[8], *dst;
	char *hs;
	int rc;

	if ((hs = entry_header(it, collided)) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	be64(kb, id);
	/* Reserve the value and write it in place: no copy of the message. */
	rc = qmsg_reserve(t, kb, hs, it->raw_len, MDB_NOOVERWRITE, &dst,
	    error_r);
	free(hs);
	if (rc != 0 || it->raw_len == 0)
		return rc;
	if (it->raw_fill == NULL) {
		memcpy(dst, it->raw, it->raw_len);
		return 0;
	}
	if ((rc = it->raw_fill(it->raw_arg, dst)) != 0)
		*error_r = dv_error_set("reading the spooled message: %s",
		    strerror(rc));
	return rc;
}

/*
 * Fold @it into the entry it is a copy of, if there is one: 0 with *id_r
 * set when it was, DV_ENOTFOUND when it is new. Then *first_r is the
 * entry that has its Message-ID for another message (or 0); unless
 * @check is false, it is not looked up (0).
 */
static int
put_fold(struct store_txn *t, const struct outbox_item *it,
    uint64_t merge_into, bool check, char *const *plugins, uint64_t *id_r,
    uint64_t *first_r, const char **error_r)
{
	uint64_t id = 0, first = 0;
	int rc;

	*first_r = 0;

	/* A copy of an entry that is not indexed yet (the caller knows). */
	if (merge_into != 0 && (rc = merge_copy(t, merge_into, it, NULL,
	    error_r)) != DV_ENOTFOUND) {
		if (rc == 0)
			*id_r = merge_into;
		return rc;
	}
	if (it->message_id == NULL || it->message_id[0] == '\0' ||
	    (!check && !has_digest(it->digest)))
		return DV_ENOTFOUND;
	if ((rc = ob_table_match(t, it->message_id, it->digest, &id, &first,
	    error_r)) != 0)
		return rc;
	/* The same message again (another transaction): one entry. */
	if (id != 0 && (rc = merge_copy(t, id, it, plugins, error_r)) !=
	    DV_ENOTFOUND) {
		if (rc == 0)
			*id_r = id;
		return rc;
	}
	/* A copy of a pruned entry is the same message, not a collision. */
	if (check && id == 0)
		*first_r = first;
	return DV_ENOTFOUND;
}

int
ob_table_put(struct store_txn *t, const struct outbox_item *it,
    const struct ob_put *how, char *const *plugins, uint64_t *id_r,
    const char **error_r)
{
	const struct ob_put none = { 0 };
	uint64_t id, collided;
	int rc;

	if (how == NULL)
		how = &none;
	if ((rc = put_fold(t, it, how->merge_into, !how->checked, plugins,
	    id_r, &collided, error_r)) != DV_ENOTFOUND)
		return rc;
	if (how->checked)
		collided = how->collided_with;
	if (how->id != 0 && ob_table_exists(t, how->id)) {
		*error_r = dv_error_set("outbox entry %llu exists already",
		    (unsigned long long)how->id);
		return DV_EEXIST;
	}
	if (how->id != 0)
		rc = store_counter_raise(t, "queue", id = how->id, error_r);
	else
		rc = store_counter_next(t, "queue", &id, error_r);
	if (rc != 0 || (rc = put_record(t, id, it, collided, error_r)) != 0)
		return rc;
	if (!how->defer_index &&
	    (rc = index_entry(t, id, it->message_id, it->digest, it->received,
	    plugins, error_r)) != 0)
		return rc;
	*id_r = id;
	return 0;
}

void
outbox_msg_free(struct outbox_msg *m)
{
	if (m == NULL)
		return;
	free(m->queue_id);
	free(m->envelope_from);
	free(m->message_id);
	free(m->decision);
	free(m->digest);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->raw);
	free(m);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int get_entry(struct store_txn *t, uint64_t id, bool with_raw,
    struct outbox_msg **msg_r, const char **error_r);

int
ob_table_get(struct store_txn *t, uint64_t id, struct outbox_msg **msg_r,
    const char **error_r)
{
	return get_entry(t, id, true, msg_r, error_r);
}

int
ob_table_get_envelope(struct store_txn *t, uint64_t id,
    struct outbox_msg **msg_r, const char **error_r)
{
	return get_entry(t, id, false, msg_r, error_r);
}

bool
ob_table_exists(struct store_txn *t, uint64_t id)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;

	be64(kb, id);
	return mdb_get(t->txn, t->store->qmsg, &k, &v) == 0;
}

static int
get_entry(struct store_txn *t, uint64_t id, bool with_raw,
    struct outbox_msg **msg_r, const char **error_r)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	const unsigned char *p;
	struct outbox_msg *m;
	json_t *hdr, *rcpts;
	json_int_t received = 0, pruned = 0, collided = 0;
	const char *qid = NULL, *from = NULL, *mid = NULL, *dec = NULL;
	const char *dig = NULL;
	int dir = 0, trunc = 0, rc;
	const char *hs;
	size_t hl, rawlen;

	be64(kb, id);
	if ((rc = mdb_get(t->txn, t->store->qmsg, &k, &v)) != 0) {
		if (rc == MDB_NOTFOUND) {
			*error_r = dv_error_set("no queued message %llu",
			    (unsigned long long)id);
			return DV_ENOTFOUND;
		}
		return store_mdb_fail(rc, "outbox", error_r);
	}
	if (qmsg_split(&v, &hs, &hl, &p, &rawlen) != 0 ||
	    (hdr = json_loadb(hs, hl, 0, NULL)) == NULL)
		goto corrupt;
	if (json_unpack(hdr, "{s:i, s:I, s?s, s?s, s:o, s?s, s?s, s:b, s?I, "
	    "s?s, s?I}", "direction", &dir, "received", &received,
	    "queue_id", &qid, "from", &from, "rcpts", &rcpts,
	    "message_id", &mid, "decision", &dec, "truncated", &trunc,
	    "pruned", &pruned, "digest", &dig, "collided_with",
	    &collided) != 0 ||
	    !json_is_array(rcpts)) {
		json_decref(hdr);
		goto corrupt;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto oom_hdr;
	m->id = id;
	m->direction = dir;
	m->received = received;
	m->truncated = trunc != 0;
	m->pruned = pruned;
	m->queue_id = dup_or_null(qid);
	m->envelope_from = dup_or_null(from);
	m->message_id = dup_or_null(mid);
	m->decision = dup_or_null(dec);
	m->digest = dup_or_null(dig);
	m->collided_with = collided > 0 ? (uint64_t)collided : 0;
	m->nrcpts = json_array_size(rcpts);
	m->rcpts = calloc(m->nrcpts + 1, sizeof(char *));
	for (size_t i = 0; m->rcpts != NULL && i < m->nrcpts; i++)
		m->rcpts[i] = dup_or_null(json_string_value(
		    json_array_get(rcpts, i)));
	m->raw_len = rawlen;
	m->raw = with_raw ? malloc(m->raw_len + 1) : NULL;
	if ((with_raw && m->raw == NULL) || m->rcpts == NULL) {
		outbox_msg_free(m);
		goto oom_hdr;
	}
	if (with_raw) {
		memcpy(m->raw, p, m->raw_len);
		m->raw[m->raw_len] = '\0';
	}
	json_decref(hdr);
	*msg_r = m;
	return 0;
oom_hdr:
	json_decref(hdr);
	*error_r = dv_error_set("out of memory");
	return ENOMEM;
corrupt:
	*error_r = dv_error_set("queued message %llu is corrupt",
	    (unsigned long long)id);
	return DV_ECORRUPT;
}

/* --- deliveries ------------------------------------------------------------------- */

int
ob_table_delivery_get(struct store_txn *t, uint64_t id, const char *plugin,
    struct outbox_delivery *d_r, const char **error_r)
{
	unsigned char kb[8 + PLUGIN_MAX];
	MDB_val k, v;
	int rc;

	if (del_key(kb, id, plugin, &k) != 0) {
		*error_r = dv_error_set("bad plugin name");
		return DV_EINVAL;
	}
	if ((rc = mdb_get(t->txn, t->store->qdel, &k, &v)) != 0) {
		if (rc == MDB_NOTFOUND) {
			*error_r = dv_error_set("no delivery of message %llu to "
			    "%s", (unsigned long long)id, plugin);
			return DV_ENOTFOUND;
		}
		return store_mdb_fail(rc, "outbox", error_r);
	}
	if (del_decode(&k, &v, d_r) != 0) {
		*error_r = dv_error_set("delivery record of %llu is corrupt",
		    (unsigned long long)id);
		return DV_ECORRUPT;
	}
	return 0;
}

int
ob_table_next_due(struct store_txn *t, int64_t now, struct outbox_delivery *d_r,
    int64_t *next_r, const char **error_r)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char plugin[PLUGIN_MAX + 1];
	int64_t at;
	uint64_t id;
	int rc;

	if (next_r != NULL)
		*next_r = 0;
	if ((rc = mdb_cursor_open(t->txn, t->store->qdue, &cur)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return DV_ENOTFOUND;
	if (rc != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	if (k.mv_size <= 16 || k.mv_size > 16 + PLUGIN_MAX) {
		*error_r = dv_error_set("outbox due index is corrupt");
		return DV_ECORRUPT;
	}
	at = (int64_t)get_be64(k.mv_data);
	if (at > now) {
		if (next_r != NULL)
			*next_r = at;
		return DV_ENOTFOUND;
	}
	id = get_be64((const unsigned char *)k.mv_data + 8);
	memcpy(plugin, (const char *)k.mv_data + 16, k.mv_size - 16);
	plugin[k.mv_size - 16] = '\0';
	rc = ob_table_delivery_get(t, id, plugin, d_r, error_r);
	if ((rc == DV_ENOTFOUND || rc == DV_ECORRUPT) && t->write) {
		/*
		 * An index entry without a sane delivery must not block the
		 * head of the queue forever: drop it and look again.
		 */
		if ((rc = mdb_del(t->txn, t->store->qdue, &k, NULL)) != 0)
			return store_mdb_fail(rc, "outbox", error_r);
		return ob_table_next_due(t, now, d_r, next_r, error_r);
	}
	return rc;
}

int
ob_table_due_batch(struct store_txn *t, int64_t now, size_t max,
    struct outbox_delivery *d, size_t *n_r, int64_t *next_r,
    const char **error_r)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char plugin[PLUGIN_MAX + 1];
	int rc, op = MDB_FIRST;

	*n_r = 0;
	if (next_r != NULL)
		*next_r = 0;
	if ((rc = mdb_cursor_open(t->txn, t->store->qdue, &cur)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	while (*n_r < max && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		int64_t at;
		uint64_t id;

		op = MDB_NEXT;
		if (k.mv_size <= 16 || k.mv_size > 16 + PLUGIN_MAX) {
			*error_r = dv_error_set("outbox due index is corrupt");
			rc = DV_ECORRUPT;
			break;
		}
		at = (int64_t)get_be64(k.mv_data);
		if (at > now) {
			if (next_r != NULL && *n_r == 0)
				*next_r = at;
			break;
		}
		id = get_be64((const unsigned char *)k.mv_data + 8);
		memcpy(plugin, (const char *)k.mv_data + 16, k.mv_size - 16);
		plugin[k.mv_size - 16] = '\0';
		rc = ob_table_delivery_get(t, id, plugin, &d[*n_r], error_r);
		if (rc == 0) {
			(*n_r)++;
			continue;
		}
		if (rc != DV_ENOTFOUND && rc != DV_ECORRUPT)
			break;
		if (!t->write) {
			*error_r = dv_error_set("outbox due index needs "
			    "cleaning");
			rc = DV_ECORRUPT;
			break;
		}
		/* An index entry without a sane delivery must not block the
		 * head of the queue forever. */
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			rc = store_mdb_fail(rc, "outbox", error_r);
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || (rc == 0 && *n_r <= max))
		rc = 0;
	if (rc == 0 && *n_r == 0)
		return DV_ENOTFOUND;
	return rc;
}

/* The state @a leaves delivery @d in (see outbox_record()). */
static void
apply_outcome(struct outbox_delivery *d, const struct outbox_attempt *a)
{
	const char *error = a->error != NULL ? a->error : "";
	int64_t delay;

	if (a->result != OUTBOX_HELD) {
		d->attempts++;
		d->suspect = false;	/* it was made, and did not kill */
	}
	d->updated = a->now;
	snprintf(d->last_error, sizeof(d->last_error), "%s", error);
	switch (a->result) {
	case OUTBOX_HELD:
		d->state = OUTBOX_PENDING;
		d->next_at = a->now + (a->retry_after > 0 ? a->retry_after : 1);
		break;
	case OUTBOX_OK:
		d->state = OUTBOX_DONE;
		d->last_error[0] = '\0';
		snprintf(d->activity_id, sizeof(d->activity_id), "%s",
		    a->activity_id ? a->activity_id : "");
		snprintf(d->case_id, sizeof(d->case_id), "%s",
		    a->case_id ? a->case_id : "");
		break;
	case OUTBOX_TRANSIENT:
		delay = retry_next(a->policy, d->attempts, a->retry_after,
		    a->jitter);
		if (delay == RETRY_GIVE_UP) {
			d->state = OUTBOX_DEAD;
			snprintf(d->last_error, sizeof(d->last_error),
			    "gave up after %u attempts: %s", d->attempts,
			    error);
			break;
		}
		d->state = OUTBOX_PENDING;
		d->next_at = a->now + delay;
		break;
	case OUTBOX_PERMANENT:
	default:
		d->state = OUTBOX_DEAD;
		break;
	}
}

int
ob_table_record(struct store_txn *t, const struct outbox_attempt *a,
    struct outbox_delivery *d_r, const char **error_r)
{
	struct outbox_delivery d;
	int rc;

	if ((rc = ob_table_delivery_get(t, a->id, a->plugin, &d,
	    error_r)) != 0)
		return rc;
	if (d.gen != a->gen) {
		/* Re-armed during the attempt: it is due again as it is. */
		if (d_r != NULL)
			*d_r = d;
		return 0;
	}
	if (d.state == OUTBOX_PENDING &&
	    (rc = due_set(t, d.next_at, a->id, a->plugin, false,
	    error_r)) != 0)
		return rc;
	apply_outcome(&d, a);
	if ((rc = del_put(t, &d, error_r)) != 0)
		return rc;
	if (d.state == OUTBOX_PENDING &&
	    (rc = due_set(t, d.next_at, a->id, a->plugin, true,
	    error_r)) != 0)
		return rc;
	if (d_r != NULL)
		*d_r = d;
	return 0;
}

/* --- the in-flight mark: a worker that died during a batch ------------- */

#define INFLIGHT_KEY	"queue/inflight"
#define INFLIGHT_MAX	64	/* deliveries in one mark; a batch is 32 */

int
ob_table_started(struct store_txn *t, const struct outbox_delivery *d,
    size_t n, int64_t now, const char **error_r)
{
	MDB_val k = { sizeof(INFLIGHT_KEY) - 1, (void *)INFLIGHT_KEY }, v;
	json_t *o, *arr;
	char *enc;
	int rc;

	if (n == 0) {
		rc = mdb_del(t->txn, t->store->meta, &k, NULL);
		return rc != 0 && rc != MDB_NOTFOUND ?
		    store_mdb_fail(rc, "outbox", error_r) : 0;
	}
	if ((o = json_pack("{s:I, s:[]}", "started", (json_int_t)now,
	    "deliveries")) == NULL)
		goto nomem;
	arr = json_object_get(o, "deliveries");
	for (size_t i = 0; i < n && i < INFLIGHT_MAX; i++)
		if (json_array_append_new(arr, json_pack("[I, s, I]",
		    (json_int_t)d[i].id, d[i].plugin, (json_int_t)d[i].gen))
		    != 0) {
			json_decref(o);
			goto nomem;
		}
	enc = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (enc == NULL)
		goto nomem;
	v.mv_size = strlen(enc);
	v.mv_data = enc;
	rc = mdb_put(t->txn, t->store->meta, &k, &v, 0);
	free(enc);
	return rc != 0 ? store_mdb_fail(rc, "outbox", error_r) : 0;
nomem:
	*error_r = dv_error_set("out of memory");
	return ENOMEM;
}

/* The delivery that killed the worker when it was made alone. */
static void
crash_outcome(struct outbox_delivery *d, const struct outbox_crash *c)
{
	d->attempts++;
	d->crashes++;
	d->suspect = false;
	d->updated = c->now;
	if (d->crashes >= c->limit) {
		d->state = OUTBOX_DEAD;
		snprintf(d->last_error, sizeof(d->last_error), "the worker "
		    "died %u times delivering it", d->crashes);
		return;
	}
	if (retry_next(c->policy, d->attempts, 0, c->jitter) == RETRY_GIVE_UP) {
		d->state = OUTBOX_DEAD;
		snprintf(d->last_error, sizeof(d->last_error), "gave up after "
		    "%u attempts: the worker died delivering it", d->attempts);
		return;
	}
	/* Due at once: the supervisor's restart backoff paces a crash loop,
	 * and the limit ends it. */
	d->next_at = c->now;
	snprintf(d->last_error, sizeof(d->last_error), "the worker died "
	    "delivering it (%u of %u)", d->crashes, c->limit);
}

/* One delivery of a dead worker's mark: blamed, or a suspect. */
static int
crashed_one(struct store_txn *t, json_t *e, bool alone,
    const struct outbox_crash *c, struct outbox_delivery *d,
    const char **error_r)
{
	json_int_t id = 0, gen = 0;
	const char *plugin = NULL;
	int rc;

	if (json_unpack(e, "[I, s, I]", &id, &plugin, &gen) != 0)
		return DV_ENOTFOUND;
	if ((rc = ob_table_delivery_get(t, (uint64_t)id, plugin, d,
	    error_r)) != 0)
		return rc;
	/*
	 * Recorded since: not this worker's. A copy folded meanwhile (gen
	 * changed) does not change what the worker was making when it died:
	 * ignoring the crash would hide a poison message behind its copies.
	 */
	if (d->state != OUTBOX_PENDING)
		return DV_ENOTFOUND;
	if (!alone) {
		d->suspect = true;
		return del_put(t, d, error_r);
	}
	if ((rc = due_set(t, d->next_at, d->id, d->plugin, false,
	    error_r)) != 0)
		return rc;
	crash_outcome(d, c);
	if ((rc = del_put(t, d, error_r)) != 0)
		return rc;
	return d->state == OUTBOX_PENDING ? due_set(t, d->next_at, d->id,
	    d->plugin, true, error_r) : 0;
}

int
ob_table_crashed(struct store_txn *t, const struct outbox_crash *c,
    struct outbox_delivery *d_r, size_t max, size_t *n_r,
    const char **error_r)
{
	MDB_val k = { sizeof(INFLIGHT_KEY) - 1, (void *)INFLIGHT_KEY }, v;
	json_t *o, *arr;
	size_t n;
	int rc;

	*n_r = 0;
	if ((rc = mdb_get(t->txn, t->store->meta, &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	/* A damaged mark blames nothing; it is removed all the same. */
	o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
	arr = json_object_get(o, "deliveries");
	n = json_array_size(arr);
	for (size_t i = 0; i < n && *n_r < max; i++) {
		rc = crashed_one(t, json_array_get(arr, i), n == 1, c,
		    &d_r[*n_r], error_r);
		if (rc == 0)
			(*n_r)++;
		else if (rc != DV_ENOTFOUND && rc != DV_ECORRUPT)
			break;
		rc = 0;
	}
	json_decref(o);
	if (rc == 0)
		rc = ob_table_started(t, NULL, 0, c->now, error_r);
	return rc;
}

/* Visit every delivery of one message. */
static int
each_delivery(struct store_txn *t, uint64_t id,
    int (*fn)(void *arg, struct outbox_delivery *d), void *arg,
    const char **error_r)
{
	unsigned char kb[8];
	MDB_cursor *cur;
	MDB_val k = { 8, kb }, v;
	int rc, op = MDB_SET_RANGE;

	be64(kb, id);
	if ((rc = mdb_cursor_open(t->txn, t->store->qdel, &cur)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		struct outbox_delivery d;

		op = MDB_NEXT;
		if (k.mv_size <= 8 || get_be64(k.mv_data) != id)
			break;
		if (del_decode(&k, &v, &d) != 0) {
			rc = DV_ECORRUPT;
			*error_r = dv_error_set("delivery record of %llu is "
			    "corrupt", (unsigned long long)id);
			goto out;
		}
		if ((rc = fn(arg, &d)) != 0)
			goto out;
	}
	rc = rc == 0 || rc == MDB_NOTFOUND ? 0 :
	    store_mdb_fail(rc, "outbox", error_r);
out:
	mdb_cursor_close(cur);
	return rc;
}

/*
 * Make a delivery due now with fresh attempts, whatever its state. Its
 * crashes stay: only the operator forgives them (retry_one()).
 */
static int
rearm_one(void *arg, struct outbox_delivery *d)
{
	struct retry_arg *a = arg;
	int rc;

	if (d->state == OUTBOX_PENDING &&
	    (rc = due_set(a->t, d->next_at, d->id, d->plugin, false,
	    a->error_r)) != 0)
		return rc;
	d->state = OUTBOX_PENDING;
	d->attempts = 0;
	d->next_at = a->now;
	d->updated = a->now;
	d->gen++;
	a->n++;
	if ((rc = del_put(a->t, d, a->error_r)) != 0)
		return rc;
	return due_set(a->t, d->next_at, d->id, d->plugin, true, a->error_r);
}

/*
 * A copy that brought a new mailbox or recipient re-arms a delivery
 * whatever its outcome, a permanent failure included (the plugin judges
 * the entry as it is now), except one dead-lettered after it had killed
 * the worker: a poison message stays dead however often it is sent
 * again, until `dvmilterctl outbox retry`.
 */
static int
fold_one(void *arg, struct outbox_delivery *d)
{
	if (d->state == OUTBOX_DEAD && d->crashes > 0)
		return 0;
	return rearm_one(arg, d);
}

static int
retry_one(void *arg, struct outbox_delivery *d)
{
	struct retry_arg *a = arg;

	if (a->plugin != NULL && strcmp(a->plugin, d->plugin) != 0)
		return 0;
	if (d->state == OUTBOX_DONE)
		return 0;
	d->crashes = 0;		/* the operator's word: a fresh start */
	return rearm_one(arg, d);
}

int
ob_table_retry(struct store_txn *t, uint64_t id, const char *plugin, int64_t now,
    const char **error_r)
{
	struct retry_arg a = { t, plugin, now, 0, error_r };
	int rc = each_delivery(t, id, retry_one, &a, error_r);

	if (rc != 0)
		return rc;
	if (a.n == 0) {
		*error_r = dv_error_set("message %llu has nothing to retry%s%s",
		    (unsigned long long)id, plugin ? " for " : "",
		    plugin ? plugin : "");
		return DV_ENOTFOUND;
	}
	return 0;
}

struct drop_arg {
	struct store_txn *t;
	const char **error_r;
	unsigned char keys[16][8 + PLUGIN_MAX];
	size_t klen[16];
	size_t n;
};

static int
drop_collect(void *arg, struct outbox_delivery *d)
{
	struct drop_arg *a = arg;
	MDB_val k = { 0, NULL };
	int rc;

	if (d->state == OUTBOX_PENDING &&
	    (rc = due_set(a->t, d->next_at, d->id, d->plugin, false,
	    a->error_r)) != 0)
		return rc;
	if (a->n == 16)
		return 0;	/* the rest in the next round */
	if (del_key(a->keys[a->n], d->id, d->plugin, &k) != 0)
		return 0;
	a->klen[a->n++] = k.mv_size;
	return 0;
}

int
ob_table_drop(struct store_txn *t, uint64_t id, const char **error_r)
{
	struct drop_arg a = { .t = t, .error_r = error_r };
	struct outbox_msg *m;
	unsigned char kb[8];
	MDB_val k = { 8, kb };
	char mkb[COPY_KEY_MAX];
	int rc;

	if ((rc = ob_table_get_envelope(t, id, &m, error_r)) != 0)
		return rc;
	/* Delete after each walk (a cursor must not see its own deletes),
	 * 16 at a time, until none is left. */
	do {
		a.n = 0;
		if ((rc = each_delivery(t, id, drop_collect, &a, error_r)) != 0)
			goto out;
		for (size_t i = 0; i < a.n; i++) {
			MDB_val dk = { a.klen[i], a.keys[i] };

			if ((rc = mdb_del(t->txn, t->store->qdel, &dk,
			    NULL)) != 0) {
				rc = store_mdb_fail(rc, "outbox", error_r);
				goto out;
			}
		}
	} while (a.n == 16);
	/* Its keys in qmsgid, each only while it still names this entry. */
	for (int i = 0; m->message_id != NULL && i < 2; i++) {
		MDB_val mk, mv;

		if (i == 0)
			msgid_key(m->message_id, mkb, &mk);
		else if (has_digest(m->digest))
			copy_key(m->message_id, m->digest, mkb, &mk);
		else
			break;
		if (mdb_get(t->txn, t->store->qmsgid, &mk, &mv) == 0 &&
		    mv.mv_size == 8 && get_be64(mv.mv_data) == id)
			mdb_del(t->txn, t->store->qmsgid, &mk, NULL);
	}
	if ((rc = smart_forget(t, id, error_r)) != 0)
		goto out;
	be64(kb, id);
	if ((rc = mdb_del(t->txn, t->store->qmsg, &k, NULL)) != 0)
		rc = store_mdb_fail(rc, "outbox", error_r);
out:
	outbox_msg_free(m);
	return rc;
}

/* --- retention ------------------------------------------------------------ */

#define PRUNE_LOOK 64	/* entries looked at per entry that may be pruned */

struct done_arg {
	bool all_done, any_pending;
	size_t n;
};

static int
done_check(void *arg, struct outbox_delivery *d)
{
	struct done_arg *a = arg;

	a->n++;
	if (d->state != OUTBOX_DONE)
		a->all_done = false;
	if (d->state == OUTBOX_PENDING)
		a->any_pending = true;
	return 0;
}

enum prune_verdict { KEEP, KEEP_PENDING, PRUNE, TOO_NEW };

/*
 * What retention does with entry @id (record @v): PRUNE if it has text,
 * was received before @before and all its deliveries are done; TOO_NEW
 * if it was received at or after @before; KEEP_PENDING if a delivery is
 * pending; KEEP otherwise (dead, corrupt, or no text). For PRUNE, the
 * parsed header is handed to the caller in *hdr_r if that is not NULL.
 */
static int
prunable(struct store_txn *t, uint64_t id, const MDB_val *v, int64_t before,
    enum prune_verdict *verdict, json_t **hdr_r, const char **error_r)
{
	struct done_arg a = { true, false, 0 };
	const unsigned char *p;
	const char *hs;
	size_t hl, rawlen;
	json_int_t received = 0;
	json_t *hdr;
	int rc = 0;

	*verdict = KEEP;
	if (qmsg_split(v, &hs, &hl, &p, &rawlen) != 0 || rawlen == 0)
		return 0;	/* corrupt (queue show says so), or no text */
	if ((hdr = json_loadb(hs, hl, 0, NULL)) == NULL)
		return 0;
	if (json_unpack(hdr, "{s:I}", "received", &received) != 0)
		goto out;
	if (received >= before) {
		*verdict = TOO_NEW;
		goto out;
	}
	rc = each_delivery(t, id, done_check, &a, error_r);
	if (rc == DV_ECORRUPT)
		rc = 0;		/* kept; queue show tells */
	else if (rc == 0 && a.n == 0) {
		uint64_t mark;
		bool have;

		/* No deliveries: not indexed yet, or no plugins (done). */
		if ((rc = store_meta_u64(t, INDEX_MARK, &mark, &have,
		    error_r)) == 0)
			*verdict = have && id > mark ? KEEP_PENDING : PRUNE;
	} else if (rc == 0)
		*verdict = a.all_done ? PRUNE : a.any_pending ?
		    KEEP_PENDING : KEEP;
out:
	if (*verdict == PRUNE && hdr_r != NULL)
		*hdr_r = hdr;
	else
		json_decref(hdr);
	return rc;
}

int
ob_table_prune_scan(struct store_txn *t, int64_t before, size_t max,
    struct outbox_prune_pos *pos, uint64_t *ids, size_t *n_r, bool *more_r,
    const char **error_r)
{
	uint64_t id = 0, next = pos->next;
	unsigned char kb[8];
	MDB_cursor *cur;
	MDB_val k = { 8, kb }, v;
	size_t seen = 0;
	int rc, op = MDB_SET_RANGE;
	bool too_new = false;

	*n_r = 0;
	*more_r = false;
	be64(kb, next);
	if ((rc = mdb_cursor_open(t->txn, t->store->qmsg, &cur)) != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		enum prune_verdict vd;

		op = MDB_NEXT;
		if (k.mv_size != 8)
			continue;
		id = get_be64(k.mv_data);
		if (seen++ == PRUNE_LOOK * max || *n_r == max) {
			*more_r = true;
			break;
		}
		next = id + 1;
		if ((rc = prunable(t, id, &v, before, &vd, NULL,
		    error_r)) != 0)
			goto out;
		if (vd == TOO_NEW) {
			too_new = true;
			break;
		}
		if (vd == PRUNE)
			ids[(*n_r)++] = id;
		else if (vd == KEEP_PENDING && !pos->low_set)
			pos->low = id, pos->low_set = true;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = store_mdb_fail(rc, "outbox", error_r);
		goto out;
	}
	if (*more_r)
		pos->next = id;
	else {
		/* End of a round: the next starts at the first entry that
		 * was still pending, or where this one stopped. */
		pos->next = pos->low_set ? pos->low : too_new ? id : next;
		pos->low_set = false;
	}
	rc = 0;
out:
	mdb_cursor_close(cur);
	return rc;
}

int
ob_table_prune_ids(struct store_txn *t, const uint64_t *ids, size_t n,
    int64_t before, int64_t now, size_t *pruned_r, const char **error_r)
{
	*pruned_r = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char kb[8], *dst;
		MDB_val k = { 8, kb }, v;
		enum prune_verdict vd;
		json_t *hdr;
		char *hs;
		int rc;

		be64(kb, ids[i]);
		rc = mdb_get(t->txn, t->store->qmsg, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;	/* dropped since the scan */
		if (rc != 0)
			return store_mdb_fail(rc, "outbox", error_r);
		/* Again, in this transaction: a copy may have re-armed it. */
		if ((rc = prunable(t, ids[i], &v, before, &vd, &hdr,
		    error_r)) != 0)
			return rc;
		if (vd != PRUNE)
			continue;
		rc = json_object_set_new(hdr, "pruned", json_integer(now));
		hs = rc == 0 ? json_dumps(hdr, JSON_COMPACT) : NULL;
		json_decref(hdr);
		if (hs == NULL) {
			*error_r = dv_error_set("out of memory");
			return ENOMEM;
		}
		rc = qmsg_reserve(t, kb, hs, 0, 0, &dst, error_r);
		free(hs);
		if (rc != 0)
			return rc;
		(*pruned_r)++;
	}
	return 0;
}

struct collect_arg {
	struct outbox_delivery *d;
	size_t max, n;
};

static int
collect_one(void *arg, struct outbox_delivery *d)
{
	struct collect_arg *a = arg;

	if (a->n < a->max)
		a->d[a->n++] = *d;
	return 0;
}

int
ob_table_deliveries(struct store_txn *t, uint64_t id, struct outbox_delivery *d,
    size_t max, size_t *n_r, const char **error_r)
{
	struct collect_arg a = { d, max, 0 };
	int rc = each_delivery(t, id, collect_one, &a, error_r);

	*n_r = a.n;
	return rc;
}

int
ob_table_foreach(struct store_txn *t,
    int (*fn)(void *arg, uint64_t id, const struct outbox_delivery *d,
    size_t nd), void *arg, const char **error_r)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, op = MDB_FIRST;
	struct outbox_delivery *d = malloc(16 * sizeof(*d));
	size_t nd;

	if (d == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	if ((rc = mdb_cursor_open(t->txn, t->store->qmsg, &cur)) != 0) {
		free(d);
		return store_mdb_fail(rc, "outbox", error_r);
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		uint64_t id;

		op = MDB_NEXT;
		if (k.mv_size != 8)
			continue;
		id = get_be64(k.mv_data);
		if ((rc = ob_table_deliveries(t, id, d, 16, &nd, error_r)) != 0 ||
		    (rc = fn(arg, id, d, nd)) != 0)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_mdb_fail(rc, "outbox", error_r);
out:
	mdb_cursor_close(cur);
	free(d);
	return rc;
}

int
ob_table_find_message_id(struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r)
{
	MDB_val k;
	char mkb[MSGID_KEY_MAX];

	msgid_key(message_id, mkb, &k);
	return msgid_get(t, &k, id_r, error_r);
}

int
ob_table_match(struct store_txn *t, const char *mid, const char *digest,
    uint64_t *copy_r, uint64_t *first_r, const char **error_r)
{
	char ckb[COPY_KEY_MAX];
	MDB_val k;
	int rc;

	*copy_r = *first_r = 0;
	if (mid == NULL || mid[0] == '\0')
		return 0;
	/* A damaged index record names nothing: the message is new (as it
	 * was before the digest), rather than refused for ever. */
	if (has_digest(digest)) {
		copy_key(mid, digest, ckb, &k);
		rc = msgid_get(t, &k, copy_r, error_r);
		if (rc == 0)
			return 0;
		*copy_r = 0;
		if (rc != DV_ENOTFOUND && rc != DV_ECORRUPT)
			return rc;
	}
	rc = ob_table_find_message_id(t, mid, first_r, error_r);
	if (rc != 0)
		*first_r = 0;
	return rc == 0 || rc == DV_ENOTFOUND || rc == DV_ECORRUPT ? 0 : rc;
}

int
ob_table_find_fresh(struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r)
{
	struct store_txn fresh = { .store = t->store };
	int rc;

	/*
	 * Not store_txn_begin(): @t holds the store's map lock already
	 * (which keeps the map from being resized under both), and taking
	 * it twice in one thread may deadlock. MDB_NOTLS lets one thread
	 * have two read transactions.
	 */
	rc = mdb_txn_begin(t->store->env, NULL, MDB_RDONLY, &fresh.txn);
	if (rc == MDB_MAP_RESIZED) {
		/*
		 * Another process grew the store past our map, which only
		 * a thread with no transaction can adopt: not a miss (the
		 * entry may be there), a failure the caller retries later.
		 */
		*error_r = dv_error_set("outbox: the store grew while a "
		    "Message-ID was looked up; try again");
		return DV_ESTORE;
	}
	if (rc != 0)
		return store_mdb_fail(rc, "outbox", error_r);
	rc = ob_table_find_message_id(&fresh, message_id, id_r, error_r);
	mdb_txn_abort(fresh.txn);
	return rc;
}

uint64_t
ob_txn_id(const struct store_txn *t)
{
	return (uint64_t)mdb_txn_id(t->txn);
}

const char *
outbox_state_name(int state)
{
	switch (state) {
	case OUTBOX_PENDING:	return "pending";
	case OUTBOX_DONE:	return "done";
	case OUTBOX_DEAD:	return "dead";
	}
	return "?";
}

/*
 * smart.c - smart matching by subject and participants; see smart.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lmdb.h>

#include "hash.h"
#include "smart.h"
#include "status.h"
#include "store_int.h"

#define SUBJECT_WORDS	20

static void
put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* "Word:" at @p (letters or digits, an optional space, a colon). */
static size_t
prefix_len(const char *p)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]))
		n++;
	if (n == 0)
		return 0;
	if (p[n] == ' ')
		n++;
	return p[n] == ':' ? n + 1 : 0;
}

/* A tracking token at @p: prefix, digits, '-', 8 letters or digits. */
static size_t
token_len(const char *p, const char *prefix)
{
	size_t pl = strlen(prefix), n;

	if (pl == 0 || strncasecmp(p, prefix, pl) != 0)
		return 0;
	n = pl;
	if (!isdigit((unsigned char)p[n]))
		return 0;
	while (isdigit((unsigned char)p[n]))
		n++;
	if (p[n] != '-')
		return 0;
	n++;
	for (int i = 0; i < 8; i++, n++)
		if (!isalnum((unsigned char)p[n]))
			return 0;
	return n;
}

void
smart_normalize(const char *subject, const char *token_prefix, char *out,
    size_t outsz)
{
	const char *p = subject != NULL ? subject : "";
	size_t o = 0, n;
	int words = 0;
	bool space = false;

	out[0] = '\0';
	for (;;) {			/* Re: Fw: AW: "RE :" ... */
		p += strspn(p, " \t");
		if (token_prefix != NULL && (n = token_len(p, token_prefix)) > 0)
			p += n;		/* a token, not a prefix */
		else if ((n = prefix_len(p)) > 0)
			p += n;
		else
			break;
	}
	while (*p != '\0' && o + 2 < outsz) {
		if (token_prefix != NULL && (p == subject || p[-1] == ' ' ||
		    p[-1] == '\t') && (n = token_len(p, token_prefix)) > 0) {
			p += n;
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			space = o > 0;
			p++;
			continue;
		}
		if (space) {
			if (++words == SUBJECT_WORDS)
				break;
			out[o++] = ' ';
			space = false;
		}
		out[o++] = (char)tolower((unsigned char)*p++);
	}
	out[o] = '\0';
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
add_parts(struct smart_key *k, const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n && k->nparts < SMART_PARTS_MAX; i++) {
		char buf[400];
		size_t len;

		if (a[i].address == NULL)
			continue;
		len = strlen(a[i].address);
		if (len >= sizeof(buf))
			continue;
		for (size_t j = 0; j <= len; j++)
			buf[j] = (char)tolower((unsigned char)a[i].address[j]);
		k->parts[k->nparts++] = dv_fnv1a(buf, len);
	}
}

void
smart_key_of(const struct msg *m, const char *token_prefix,
    struct smart_key *k)
{
	char norm[1024];
	size_t u = 0;

	memset(k, 0, sizeof(*k));
	smart_normalize(m->subject, token_prefix, norm, sizeof(norm));
	/* An empty subject says nothing about the conversation. */
	k->subject = norm[0] != '\0' ? dv_fnv1a(norm, strlen(norm)) | 1 : 0;
	add_parts(k, m->from, m->nfrom);
	add_parts(k, m->to, m->nto);
	add_parts(k, m->cc, m->ncc);
	qsort(k->parts, k->nparts, sizeof(k->parts[0]), cmp_u64);
	for (size_t i = 0; i < k->nparts; i++)
		if (u == 0 || k->parts[i] != k->parts[u - 1])
			k->parts[u++] = k->parts[i];
	k->nparts = u;
}

int
smart_forget(struct store_txn *t, uint64_t id, const char **error_r)
{
	unsigned char ib[8], kb[16];
	MDB_val ik = { 8, ib }, iv, k = { 16, kb };
	int rc;

	put_be64(ib, id);
	rc = mdb_get(t->txn, t->store->qsmartid, &ik, &iv);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || iv.mv_size != 8)
		return store_mdb_fail(rc != 0 ? rc : MDB_CORRUPTED,
		    "smart-match index", error_r);
	memcpy(kb, iv.mv_data, 8);
	memcpy(kb + 8, ib, 8);
	if ((rc = mdb_del(t->txn, t->store->qsmart, &k, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return store_mdb_fail(rc, "smart-match index", error_r);
	if ((rc = mdb_del(t->txn, t->store->qsmartid, &ik, NULL)) != 0)
		return store_mdb_fail(rc, "smart-match index", error_r);
	return 0;
}

int
smart_index(struct store_txn *t, uint64_t id, const struct smart_key *k,
    const char **error_r)
{
	unsigned char ib[8], kb[16], pv[SMART_PARTS_MAX * 8];
	MDB_val ik = { 8, ib }, iv = { 8, kb }, key = { 16, kb }, v;
	int rc;

	if ((rc = smart_forget(t, id, error_r)) != 0 || k->subject == 0)
		return rc;
	put_be64(ib, id);
	put_be64(kb, k->subject);
	memcpy(kb + 8, ib, 8);
	for (size_t i = 0; i < k->nparts; i++)
		put_be64(pv + 8 * i, k->parts[i]);
	v.mv_size = 8 * k->nparts;
	v.mv_data = pv;
	if ((rc = mdb_put(t->txn, t->store->qsmart, &key, &v, 0)) != 0 ||
	    (rc = mdb_put(t->txn, t->store->qsmartid, &ik, &iv, 0)) != 0)
		return store_mdb_fail(rc, "smart-match index", error_r);
	return 0;
}

static size_t
shared(const struct smart_key *k, const unsigned char *v, size_t n)
{
	size_t i = 0, j = 0, same = 0;

	while (i < k->nparts && j < n) {
		uint64_t b = get_be64(v + 8 * j);

		if (k->parts[i] == b) {
			same++;
			i++;
			j++;
		} else if (k->parts[i] < b)
			i++;
		else
			j++;
	}
	return same;
}

int
smart_find(struct store_txn *t, const struct smart_key *k, uint64_t self,
    uint64_t *id_r, const char **error_r)
{
	unsigned char kb[16];
	MDB_val key = { 16, kb }, v;
	MDB_cursor *c;
	uint64_t best = 0;
	int rc, op = MDB_SET_RANGE;

	if (k->subject == 0)
		return DV_ENOTFOUND;
	put_be64(kb, k->subject);
	memset(kb + 8, 0, 8);
	if ((rc = mdb_cursor_open(t->txn, t->store->qsmart, &c)) != 0)
		return store_mdb_fail(rc, "smart-match index", error_r);
	while ((rc = mdb_cursor_get(c, &key, &v, op)) == 0) {
		uint64_t id;

		op = MDB_NEXT;
		if (key.mv_size != 16 ||
		    get_be64(key.mv_data) != k->subject)
			break;
		id = get_be64((unsigned char *)key.mv_data + 8);
		if (id != self && v.mv_size % 8 == 0 &&
		    shared(k, v.mv_data, v.mv_size / 8) >= SMART_MIN_SHARED)
			best = id;	/* ids ascend: the last is the newest */
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(rc, "smart-match index", error_r);
	if (best == 0)
		return DV_ENOTFOUND;
	*id_r = best;
	return 0;
}

/*
 * mbox.c - mailbox and profile records: defaults, names, encoding.
 *
 * Record layout (all integers little-endian):
 *
 *   byte 0     encoding version (1)
 *   byte 1     length H of the fixed header, this byte and byte 0 included
 *   bytes 2..  fixed fields (mailbox: type, incoming, outgoing, act,
 *              approval, flags; profile: server type, tls, auth)
 *   H..end     tagged fields: tag (1 byte), length (2 bytes), value
 *
 * A newer writer may lengthen the fixed header or add tags; an older
 * reader skips both. Changing the meaning of an existing byte needs a new
 * store schema version (store.c), not a new encoding version.
 *
 * This module does no I/O.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mbox.h"
#include "status.h"

#define ENC_VERSION		1
#define MBOX_FIXED_LEN		16
#define PROFILE_FIXED_LEN	8

#define MBOX_FLAG_ENABLED	0x01

enum {
	TAG_OWNER = 1,
	TAG_PROFILE = 2,
	TAG_TEST = 3,	/* + direction: 3, 4, 5 */

	TAG_SMTP_URL = 1,
	TAG_USERNAME = 2,
	TAG_SECRET_FILE = 3
};

void
mbox_init(struct mbox *mb, const char *address, enum mbox_type type)
{
	memset(mb, 0, sizeof(*mb));
	snprintf(mb->address, sizeof(mb->address), "%s", address);
	mb->pol.type = (uint8_t)type;
	mb->pol.method[MBOX_DIR_INCOMING] = MBOX_METHOD_SSS;
	mb->pol.method[MBOX_DIR_OUTGOING] = MBOX_METHOD_SSS;
	mb->pol.method[MBOX_DIR_ACT] = MBOX_METHOD_NONE;
	mb->pol.approval = MBOX_APPROVAL_PENDING;
	mb->pol.enabled = true;
}

void
profile_init(struct profile *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->server_type = PROFILE_OTHER;
	p->tls = PROFILE_TLS_STARTTLS;
	p->auth = PROFILE_AUTH_AUTO;
}

/* --- encoding ----------------------------------------------------------- */

struct enc {
	unsigned char *p;
	size_t len, cap;
	int rc;
};

static void
enc_bytes(struct enc *e, const void *data, size_t n)
{
	if (e->rc != 0)
		return;
	if (n > e->cap - e->len) {
		e->rc = DV_ETOOBIG;
		return;
	}
	memcpy(e->p + e->len, data, n);
	e->len += n;
}

static void
enc_tag(struct enc *e, unsigned tag, const void *data, size_t n)
{
	unsigned char hdr[3];

	if (n > 0xffff) {
		e->rc = DV_ETOOBIG;
		return;
	}
	hdr[0] = (unsigned char)tag;
	hdr[1] = (unsigned char)(n & 0xff);
	hdr[2] = (unsigned char)(n >> 8);
	enc_bytes(e, hdr, sizeof(hdr));
	enc_bytes(e, data, n);
}

static void
enc_str(struct enc *e, unsigned tag, const char *s)
{
	if (s[0] != '\0')
		enc_tag(e, tag, s, strlen(s));
}

int
mbox_encode(const struct mbox *mb, unsigned char *buf, size_t bufsz,
    size_t *len_r)
{
	struct enc e = { buf, 0, bufsz, 0 };
	unsigned char fixed[MBOX_FIXED_LEN] = { 0 };

	fixed[0] = ENC_VERSION;
	fixed[1] = MBOX_FIXED_LEN;
	fixed[2] = mb->pol.type;
	fixed[3] = mb->pol.method[MBOX_DIR_INCOMING];
	fixed[4] = mb->pol.method[MBOX_DIR_OUTGOING];
	fixed[5] = mb->pol.method[MBOX_DIR_ACT];
	fixed[6] = mb->pol.approval;
	fixed[7] = mb->pol.enabled ? MBOX_FLAG_ENABLED : 0;
	fixed[8] = mb->pol.filter;
	enc_bytes(&e, fixed, sizeof(fixed));
	enc_str(&e, TAG_OWNER, mb->owner);
	enc_str(&e, TAG_PROFILE, mb->profile);
	for (int d = 0; d < MBOX_DIR_COUNT; d++) {
		const struct mbox_testresult *t = &mb->test[d];
		unsigned char v[1 + 8 + DV_STATUSMSG_MAX];
		uint64_t when = (uint64_t)t->when;
		size_t mlen = strnlen(t->message, DV_STATUSMSG_MAX);

		if (t->status == MBOX_TEST_NOT_RUN && t->when == 0 &&
		    mlen == 0)
			continue;
		v[0] = t->status;
		for (int i = 0; i < 8; i++)
			v[1 + i] = (unsigned char)(when >> (8 * i));
		memcpy(v + 9, t->message, mlen);
		enc_tag(&e, TAG_TEST + (unsigned)d, v, 9 + mlen);
	}
	*len_r = e.len;
	return e.rc;
}

int
mbox_decode_policy(const void *data, size_t len, struct mbox_policy *pol)
{
	const unsigned char *p = data;

	if (len < 8 || p[0] < 1 || p[1] < 8 || p[1] > len)
		return DV_ECORRUPT;
	if (p[2] > MBOX_QUEUE || p[3] > MBOX_METHOD_SSS ||
	    p[4] > MBOX_METHOD_SSS || p[5] > MBOX_METHOD_SSS ||
	    p[6] > MBOX_APPROVAL_REJECTED)
		return DV_ECORRUPT;
	pol->type = p[2];
	pol->method[MBOX_DIR_INCOMING] = p[3];
	pol->method[MBOX_DIR_OUTGOING] = p[4];
	pol->method[MBOX_DIR_ACT] = p[5];
	pol->approval = p[6];
	pol->enabled = (p[7] & MBOX_FLAG_ENABLED) != 0;
	/* Byte 8 was reserved (zero) before filters existed: "not set". */
	pol->filter = p[1] > 8 ? p[8] : MBOX_FILTER_DEFAULT;
	if (pol->filter > MBOX_FILTER_NONE || pol->filter == 4)
		return DV_ECORRUPT;
	return 0;
}

/* Iterate the tagged fields; calls fn for each, stops on error. */
static int
dec_tags(const unsigned char *p, size_t len,
    int (*fn)(void *arg, unsigned tag, const unsigned char *v, size_t n),
    void *arg)
{
	size_t off = p[1];
	int rc;

	while (off < len) {
		size_t n;

		if (len - off < 3)
			return DV_ECORRUPT;
		n = (size_t)p[off + 1] | ((size_t)p[off + 2] << 8);
		if (n > len - off - 3)
			return DV_ECORRUPT;
		if ((rc = fn(arg, p[off], p + off + 3, n)) != 0)
			return rc;
		off += 3 + n;
	}
	return 0;
}

static int
dec_str(char *dst, size_t dstsz, const unsigned char *v, size_t n)
{
	if (n >= dstsz || memchr(v, '\0', n) != NULL)
		return DV_ECORRUPT;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int
mbox_dec_tag(void *arg, unsigned tag, const unsigned char *v, size_t n)
{
	struct mbox *mb = arg;
	struct mbox_testresult *t;
	uint64_t when = 0;

	switch (tag) {
	case TAG_OWNER:
		return dec_str(mb->owner, sizeof(mb->owner), v, n);
	case TAG_PROFILE:
		return dec_str(mb->profile, sizeof(mb->profile), v, n);
	case TAG_TEST + MBOX_DIR_INCOMING:
	case TAG_TEST + MBOX_DIR_OUTGOING:
	case TAG_TEST + MBOX_DIR_ACT:
		if (n < 9 || v[0] > MBOX_TEST_FAILURE)
			return DV_ECORRUPT;
		t = &mb->test[tag - TAG_TEST];
		t->status = v[0];
		for (int i = 7; i >= 0; i--)
			when = (when << 8) | v[1 + i];
		t->when = (int64_t)when;
		return dec_str(t->message, sizeof(t->message), v + 9, n - 9);
	}
	return 0;	/* a newer writer's field */
}

int
mbox_decode(const void *data, size_t len, const char *address,
    struct mbox *mb)
{
	int rc;

	memset(mb, 0, sizeof(*mb));
	if ((rc = mbox_decode_policy(data, len, &mb->pol)) != 0)
		return rc;
	if (strlen(address) >= sizeof(mb->address))
		return DV_ECORRUPT;
	snprintf(mb->address, sizeof(mb->address), "%s", address);
	return dec_tags(data, len, mbox_dec_tag, mb);
}

int
profile_encode(const struct profile *pr, unsigned char *buf, size_t bufsz,
    size_t *len_r)
{
	struct enc e = { buf, 0, bufsz, 0 };
	unsigned char fixed[PROFILE_FIXED_LEN] = { 0 };

	fixed[0] = ENC_VERSION;
	fixed[1] = PROFILE_FIXED_LEN;
	fixed[2] = pr->server_type;
	fixed[3] = pr->tls;
	fixed[4] = pr->auth;
	enc_bytes(&e, fixed, sizeof(fixed));
	enc_str(&e, TAG_SMTP_URL, pr->smtp_url);
	enc_str(&e, TAG_USERNAME, pr->username);
	enc_str(&e, TAG_SECRET_FILE, pr->secret_file);
	*len_r = e.len;
	return e.rc;
}

static int
profile_dec_tag(void *arg, unsigned tag, const unsigned char *v, size_t n)
{
	struct profile *pr = arg;

	switch (tag) {
	case TAG_SMTP_URL:
		return dec_str(pr->smtp_url, sizeof(pr->smtp_url), v, n);
	case TAG_USERNAME:
		return dec_str(pr->username, sizeof(pr->username), v, n);
	case TAG_SECRET_FILE:
		return dec_str(pr->secret_file, sizeof(pr->secret_file), v, n);
	}
	return 0;
}

int
profile_decode(const void *data, size_t len, const char *name,
    struct profile *pr)
{
	const unsigned char *p = data;

	memset(pr, 0, sizeof(*pr));
	if (len < 5 || p[0] < 1 || p[1] < 5 || p[1] > len)
		return DV_ECORRUPT;
	if (p[2] > PROFILE_IMAP_SMTP || p[3] > PROFILE_TLS_IMPLICIT ||
	    profile_auth_name(p[4])[0] == '?')
		return DV_ECORRUPT;
	if (strlen(name) >= sizeof(pr->name))
		return DV_ECORRUPT;
	snprintf(pr->name, sizeof(pr->name), "%s", name);
	pr->server_type = p[2];
	pr->tls = p[3];
	pr->auth = p[4];
	return dec_tags(p, len, profile_dec_tag, pr);
}

/* --- names -------------------------------------------------------------- */

struct name_map {
	int value;
	const char *name;
};

static int
map_parse(const struct name_map *m, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(m[i].name, s) == 0)
			return m[i].value;
	return -1;
}

static const char *
map_name(const struct name_map *m, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].value == v)
			return m[i].name;
	return "?";
}

#define MAP(m) (m), sizeof(m) / sizeof((m)[0])

static const struct name_map types[] = {
	{ MBOX_USER, "user" }, { MBOX_QUEUE, "queue" },
};
static const struct name_map methods[] = {
	{ MBOX_METHOD_SSS, "server-side-sync" },
	{ MBOX_METHOD_OUTLOOK, "outlook" },
	{ MBOX_METHOD_NONE, "none" },
};
static const struct name_map approvals[] = {
	{ MBOX_APPROVAL_PENDING, "pending" },
	{ MBOX_APPROVAL_APPROVED, "approved" },
	{ MBOX_APPROVAL_REJECTED, "rejected" },
	{ MBOX_APPROVAL_EMPTY, "empty" },
};
static const struct name_map tests[] = {
	{ MBOX_TEST_NOT_RUN, "not-run" },
	{ MBOX_TEST_SUCCESS, "success" },
	{ MBOX_TEST_FAILURE, "failure" },
};
static const struct name_map servers[] = {
	{ PROFILE_EXCHANGE, "exchange" },
	{ PROFILE_OTHER, "other" },
	{ PROFILE_EXCHANGE_HYBRID, "exchange-hybrid" },
	{ PROFILE_EXCHANGE_ONLINE_HYBRID, "exchange-online-hybrid" },
	{ PROFILE_IMAP_SMTP, "imap-smtp" },
};
static const struct name_map tlsmodes[] = {
	{ PROFILE_TLS_NONE, "none" },
	{ PROFILE_TLS_STARTTLS, "starttls" },
	{ PROFILE_TLS_IMPLICIT, "implicit" },
};
static const struct name_map auths[] = {
	{ PROFILE_AUTH_AUTO, "auto" },
	{ PROFILE_AUTH_NEGOTIATE, "negotiate" },
	{ PROFILE_AUTH_NTLM, "ntlm" },
	{ PROFILE_AUTH_BASIC, "basic" },
	{ PROFILE_AUTH_OAUTH, "oauth" },
	{ PROFILE_AUTH_NONE, "none" },
};
static const struct name_map filters[] = {
	{ MBOX_FILTER_ALL, "all" },
	{ MBOX_FILTER_RESPONSES, "responses" },
	{ MBOX_FILTER_KNOWN, "known-senders" },
	{ MBOX_FILTER_NONE, "none" },
	{ MBOX_FILTER_DEFAULT, "default" },
};
static const struct name_map dirs[] = {
	{ MBOX_DIR_INCOMING, "incoming" },
	{ MBOX_DIR_OUTGOING, "outgoing" },
	{ MBOX_DIR_ACT, "act" },
};

int mbox_type_parse(const char *s) { return map_parse(MAP(types), s); }
const char *mbox_type_name(int v) { return map_name(MAP(types), v); }
int mbox_method_parse(const char *s) { return map_parse(MAP(methods), s); }
const char *mbox_method_name(int v) { return map_name(MAP(methods), v); }
int mbox_approval_parse(const char *s) { return map_parse(MAP(approvals), s); }
const char *mbox_approval_name(int v) { return map_name(MAP(approvals), v); }
int mbox_test_parse(const char *s) { return map_parse(MAP(tests), s); }
int mbox_filter_parse(const char *s) { return map_parse(MAP(filters), s); }
const char *mbox_filter_name(int v) { return map_name(MAP(filters), v); }

int
mbox_filter_effective(const struct mbox_policy *p)
{
	if (p->filter != MBOX_FILTER_DEFAULT)
		return p->filter;
	return p->type == MBOX_QUEUE ? MBOX_FILTER_ALL : MBOX_FILTER_RESPONSES;
}
const char *mbox_test_name(int v) { return map_name(MAP(tests), v); }
int profile_server_parse(const char *s) { return map_parse(MAP(servers), s); }
const char *profile_server_name(int v) { return map_name(MAP(servers), v); }
int profile_tls_parse(const char *s) { return map_parse(MAP(tlsmodes), s); }
const char *profile_tls_name(int v) { return map_name(MAP(tlsmodes), v); }
int profile_auth_parse(const char *s) { return map_parse(MAP(auths), s); }
const char *profile_auth_name(int v) { return map_name(MAP(auths), v); }
const char *mbox_dir_name(int v) { return map_name(MAP(dirs), v); }

int
mbox_method_to_dataverse(enum mbox_dir dir, enum mbox_method m)
{
	if (dir != MBOX_DIR_ACT)
		return (int)m;
	switch (m) {
	case MBOX_METHOD_OUTLOOK:	return 0;
	case MBOX_METHOD_SSS:		return 1;
	case MBOX_METHOD_NONE:		return 2;
	}
	return 2;
}

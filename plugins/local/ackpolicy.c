/*
 * ackpolicy.c - the acknowledgement's suppression rules, rate-limit key
 * and subject (ackpolicy.h). Pure functions: no store, no network, no
 * clock; autoreply.c applies them.
 *
 * The forged sender of a backscatter attack chooses every header and the
 * subject, so the rules err on the side of silence, and the subject
 * echoes no more of the attacker's text than a case title needs.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ackpolicy.h"

/* --- suppression ------------------------------------------------------- */

/* Local parts that are never a person, RFC 3834 and RFC 5230 4.6. */
static const char *const system_names[] = {
	"mailer-daemon", "postmaster", "listserv", "majordomo", "noreply",
	"no-reply", "donotreply", "do-not-reply", NULL
};
static const char *const system_prefixes[] = { "owner-", NULL };
static const char *const system_suffixes[] = {
	"-request", "-owner", "-bounces", NULL
};

/* X-Auto-Response-Suppress values that mean "no automatic reply". */
static const char *const xars_values[] = { "all", "autoreply", "oof", NULL };

/* Headers that mark the message itself as an automatic reply. */
static const char *const autoreply_headers[] = {
	"X-Autoreply", "X-Autorespond", "X-Autoresponder", NULL
};

static bool
in_list(const char *const *l, const char *s, size_t n)
{
	for (; *l != NULL; l++)
		if (strlen(*l) == n && strncasecmp(*l, s, n) == 0)
			return true;
	return false;
}

/* The sender's local part, without +subaddress, is a system name. */
static const char *
system_sender(const char *from, char *buf, size_t bufsz)
{
	const char *at = strrchr(from, '@');
	size_t n = at != NULL ? (size_t)(at - from) : strlen(from);
	size_t plus = strcspn(from, "+");
	bool hit = false;

	if (plus < n)
		n = plus;
	if (n > 0 && from[0] == '<') {
		from++;
		n--;
	}
	hit = in_list(system_names, from, n);
	for (const char *const *p = system_prefixes; !hit && *p != NULL; p++)
		hit = n > strlen(*p) && strncasecmp(from, *p, strlen(*p)) == 0;
	for (const char *const *p = system_suffixes; !hit && *p != NULL; p++) {
		size_t l = strlen(*p);

		hit = n > l && strncasecmp(from + n - l, *p, l) == 0;
	}
	if (!hit)
		return NULL;
	snprintf(buf, bufsz, "not sent: the sender is a system address "
	    "(%.*s)", (int)(n > 40 ? 40 : n), from);
	return buf;
}

/* The first word of @v (up to white space, ';' or ','), its length. */
static size_t
word(const char **v)
{
	*v += strspn(*v, " \t\r\n");
	return strcspn(*v, " \t\r\n;,");
}

/* Whether one header forbids an answer; @v is its unfolded value. */
static const char *
header_forbids(const char *name, size_t nl, const char *v, char *buf,
    size_t bufsz)
{
	size_t n;

	if (nl > 5 && strncasecmp(name, "List-", 5) == 0) {
		snprintf(buf, bufsz, "not sent: mailing list mail (%.*s)",
		    (int)(nl > 40 ? 40 : nl), name);
		return buf;
	}
	if (in_list(autoreply_headers, name, nl)) {
		snprintf(buf, bufsz, "not sent: the message is an automatic "
		    "reply (%.*s)", (int)nl, name);
		return buf;
	}
	if (nl == 14 && strncasecmp(name, "Auto-Submitted", nl) == 0) {
		n = word(&v);
		if (n != 2 || strncasecmp(v, "no", 2) != 0)
			return "not sent: the message is Auto-Submitted";
	}
	if (nl == 10 && strncasecmp(name, "Precedence", nl) == 0) {
		n = word(&v);
		if ((n == 4 && (strncasecmp(v, "bulk", 4) == 0 ||
		    strncasecmp(v, "list", 4) == 0 ||
		    strncasecmp(v, "junk", 4) == 0))) {
			snprintf(buf, bufsz, "not sent: Precedence %.4s", v);
			return buf;
		}
	}
	if (nl == 24 && strncasecmp(name, "X-Auto-Response-Suppress", nl) ==
	    0) {
		while ((n = word(&v)) > 0 || *v == ',' || *v == ';') {
			if (in_list(xars_values, v, n)) {
				snprintf(buf, bufsz, "not sent: "
				    "X-Auto-Response-Suppress %.*s", (int)n, v);
				return buf;
			}
			v += n;
			v += strspn(v, ",;");
		}
	}
	return NULL;
}

/*
 * Walk the raw header block: each header unfolded (continuation lines
 * joined, at most 998 bytes kept) and judged by header_forbids().
 */
static const char *
headers_forbid(const char *h, char *buf, size_t bufsz)
{
	char val[1000];

	while (h != NULL && *h != '\0' && *h != '\r' && *h != '\n') {
		size_t nl = strcspn(h, ":\r\n"), vl = 0;
		const char *name = h, *why;

		h += nl;
		if (*h == ':')
			h++;
		for (;;) {
			size_t l = strcspn(h, "\r\n");

			if (vl + l >= sizeof(val))
				l = sizeof(val) - 1 - vl;
			memcpy(val + vl, h, l);
			vl += l;
			h += strcspn(h, "\r\n");
			h += *h == '\r' ? 1 : 0;
			h += *h == '\n' ? 1 : 0;
			if (*h != ' ' && *h != '\t')
				break;
		}
		val[vl] = '\0';
		while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
			nl--;
		if ((why = header_forbids(name, nl, val, buf, bufsz)) != NULL)
			return why;
	}
	return NULL;
}

const char *
ack_suppressed(const struct dvp_message *m, char *buf, size_t bufsz)
{
	const char *from = m->envelope_from, *why;

	if (from == NULL || from[0] == '\0' || strcmp(from, "<>") == 0)
		return "not sent: null sender";
	if ((why = system_sender(from, buf, bufsz)) != NULL)
		return why;
	/* The parsed fields too: a host may give them without the block. */
	if (m->auto_submitted != NULL && (why = header_forbids(
	    "Auto-Submitted", 14, m->auto_submitted, buf, bufsz)) != NULL)
		return why;
	if (m->precedence != NULL && (why = header_forbids("Precedence", 10,
	    m->precedence, buf, bufsz)) != NULL)
		return why;
	if (m->list_id != NULL)
		return header_forbids("List-Id", 7, m->list_id, buf, bufsz);
	return headers_forbid(m->headers, buf, bufsz);
}

/* --- the rate-limit key ------------------------------------------------ */

int
ack_rate_key(const char *addr, char *out, size_t outsz)
{
	const char *at = strrchr(addr, '@');
	size_t local, plus;
	int n;

	if (at == NULL || at == addr)
		return -1;
	local = (size_t)(at - addr);
	plus = strcspn(addr, "+");
	if (plus > 0 && plus < local)
		local = plus;
	n = snprintf(out, outsz, "%.*s%s", (int)local, addr, at);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	for (char *c = out; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

/* --- the subject ------------------------------------------------------- */

/* One UTF-8 character at @s: its code point, or -1 if malformed. */
static long
utf8_next(const unsigned char *s, size_t *len)
{
	long cp;
	size_t n;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 :
	    (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	*len = 1;
	if (n == 0)
		return -1;
	cp = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	*len = n;
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	return cp;
}

/* Characters that could break a header or hide what follows them. */
static bool
is_control(long cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
	    cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/*
 * @title cleaned and cut, into a new string: see ack_subject(). A
 * malformed byte becomes "?".
 */
static char *
clean_title(const char *title)
{
	const unsigned char *s = (const unsigned char *)(title ? title : "");
	char *out = malloc(ACK_TITLE_CHARS * 4 + 4), *o = out;
	size_t chars = 0, len;
	bool space = true;	/* drops leading white space */

	if (out == NULL)
		return NULL;
	while (*s != '\0') {
		long cp = utf8_next(s, &len);

		if (cp < 0 || is_control(cp) || cp == ' ') {
			if (cp >= 0 && !space) {
				if (chars == ACK_TITLE_CHARS)
					break;
				*o++ = ' ';
				chars++;
				space = true;
			} else if (cp < 0) {
				if (chars == ACK_TITLE_CHARS)
					break;
				*o++ = '?';
				chars++;
				space = false;
			}
			s += len;
			continue;
		}
		if (chars == ACK_TITLE_CHARS)
			break;
		memcpy(o, s, len);
		o += len;
		s += len;
		chars++;
		space = false;
	}
	while (o > out && o[-1] == ' ')
		o--;
	if (*s != '\0') {
		/* Cut: trailing white space is not what was cut. */
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	if (out[0] == '\0') {
		free(out);
		return strdup("(no subject)");
	}
	return out;
}

static bool
plain_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * @text as RFC 2047 encoded words of at most 75 characters each (42
 * bytes of text make 56 of base64), split at character boundaries and
 * folded.
 */
static int
add_encoded(FILE *fp, const char *text)
{
	size_t n = strlen(text), off = 0;
	unsigned char out[64];

	while (off < n) {
		size_t take = n - off > 42 ? 42 : n - off;

		while (take > 0 && off + take < n &&
		    ((unsigned char)text[off + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			return -1;
		EVP_EncodeBlock(out, (const unsigned char *)text + off,
		    (int)take);
		fprintf(fp, "%s=?UTF-8?B?%s?=", off ? "\r\n " : "", out);
		off += take;
	}
	return 0;
}

char *
ack_subject(const char *number, const char *title, const char *token)
{
	char *t = clean_title(title), *buf = NULL;
	size_t len;
	FILE *fp;
	int rc = 0;

	if (t == NULL || (fp = open_memstream(&buf, &len)) == NULL) {
		free(t);
		return NULL;
	}
	fprintf(fp, "[%s] Received: ", number);
	if (plain_ascii(t) && strstr(t, "=?") == NULL)
		fputs(t, fp);
	else
		rc = add_encoded(fp, t);
	if (token != NULL)
		fprintf(fp, " %s", token);
	free(t);
	if (fclose(fp) != 0 || rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * addr.c - address normalisation.
 *
 * This is syntax work only: no DNS, no lookups. It is lenient where real
 * mail is sloppy (dots in local parts) and strict where ambiguity would
 * make two keys for one mailbox (case, IDN form, quoting, subaddresses).
 * IDNA conversion is done by libidn2; hand-written Punycode and UTS #46
 * mapping would be a liability.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "addr.h"
#include "caps.h"
#include "status.h"
#include "utf8.h"

static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Strip <>, white space and a source route; returns a view into in. */
static int
addr_strip(const char *in, const char **start_r, size_t *len_r,
    const char **error_r)
{
	const char *s = in, *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (s < e && *s == '<') {
		if (e[-1] != '>') {
			*error_r = dv_error_set("unbalanced angle brackets");
			return DV_EINVAL;
		}
		s++;
		e--;
	}
	if (s < e && *s == '@') {
		/* RFC 5321 4.1.2 source route: ignored, as RFC 5321 C says. */
		const char *colon = memchr(s, ':', (size_t)(e - s));
		if (colon == NULL) {
			*error_r = dv_error_set("malformed source route");
			return DV_EINVAL;
		}
		s = colon + 1;
	}
	*start_r = s;
	*len_r = (size_t)(e - s);
	return 0;
}

/* Find the '@' that separates local part and domain, honouring quotes. */
static const char *
addr_find_at(const char *s, size_t len)
{
	bool quoted = false;
	const char *at = NULL;

	for (size_t i = 0; i < len; i++) {
		if (quoted && s[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			at = s + i;
	}
	return at;
}

/* A local part on its way to normal form. */
struct local_buf {
	char b[DV_LOCAL_MAX * 2 + 3];
	size_t n;
	bool need_quotes;	/* has a byte that only a quoted string allows */
};

/*
 * Check the raw length and take off the quotes of a quoted local part;
 * local_emit() puts them back only if the content needs them, so that
 * "dave" and dave are one key.
 */
static int
local_unquote(const char **s, size_t *len, bool *quoted_r,
    const char **error_r)
{
	*quoted_r = false;
	if (*len == 0) {
		*error_r = dv_error_set("empty local part");
		return DV_EINVAL;
	}
	/* The quotes may be the only thing that makes it longer than 64. */
	if (*len > DV_LOCAL_MAX + 2) {
		*error_r = dv_error_set("local part longer than %d bytes",
		    DV_LOCAL_MAX);
		return DV_ETOOBIG;
	}
	if ((*s)[0] == '"') {
		if (*len < 2 || (*s)[*len - 1] != '"') {
			*error_r = dv_error_set("unterminated quoted local part");
			return DV_EINVAL;
		}
		*quoted_r = true;
		(*s)++;
		*len -= 2;
	}
	return 0;
}

/*
 * Copy the @len bytes at @s (without their quotes) into @lb, validating
 * them, lower-casing ASCII letters and dropping needless escapes.
 */
static int
local_copy(const char *s, size_t len, bool quoted, struct local_buf *lb,
    const char **error_r)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool escaped = false;

		/*
		 * RFC 5321 4.1.2: "\x" is x, so x meets the checks below;
		 * an escape must not smuggle in a control byte or bad UTF-8.
		 */
		if (quoted && c == '\\' && i + 1 < len) {
			c = (unsigned char)s[++i];
			escaped = true;
		}
		if (c < 0x20 || c == 0x7f) {
			*error_r = dv_error_set("control character in local part");
			return DV_EINVAL;
		}
		if (c >= 0x80) {
			size_t k = utf8_seq((const unsigned char *)s + i, len - i);
			if (k == 0) {
				*error_r = dv_error_set("invalid UTF-8 in local part");
				return DV_EINVAL;
			}
			memcpy(lb->b + lb->n, s + i, k);
			lb->n += k;
			i += k - 1;
			continue;
		}
		if (escaped && (c == '"' || c == '\\')) {
			/* The only escapes kept, and they need the quotes. */
			lb->b[lb->n++] = '\\';
			lb->need_quotes = true;
		} else if (!is_atext(c)) {
			if (!quoted) {
				*error_r = dv_error_set("character '%c' not allowed "
				    "in an unquoted local part", c);
				return DV_EINVAL;
			}
			lb->need_quotes = true;
		}
		lb->b[lb->n++] = lower((char)c);
	}
	return 0;
}

/*
 * Where the subaddress starts in @local, or @n if there is none. A
 * separator in the first byte does not count: "+sales" is a mailbox.
 */
static size_t
subaddress_start(const char *local, size_t n, const char *seps)
{
	if (seps == NULL || *seps == '\0')
		return n;
	for (size_t i = 1; i < n; i++)
		if (strchr(seps, local[i]) != NULL)
			return i;
	return n;
}

/* Write @lb to @out, with its quotes back if it needs them. */
static int
local_emit(const struct local_buf *lb, char *out, size_t outsz,
    size_t *outlen_r, const char **error_r)
{
	size_t n = lb->n;

	if (n + (lb->need_quotes ? 2 : 0) + 1 > outsz) {
		*error_r = dv_error_set("address too long");
		return DV_ETOOBIG;
	}
	if (lb->need_quotes) {
		out[0] = '"';
		memcpy(out + 1, lb->b, n);
		out[n + 1] = '"';
		n += 2;
	} else
		memcpy(out, lb->b, n);
	*outlen_r = n;
	return 0;
}

static int
local_normalize(const char *s, size_t len, const char *seps, char *out,
    size_t outsz, size_t *outlen_r, const char **error_r)
{
	struct local_buf lb = { .n = 0 };
	bool quoted;
	int rc;

	if ((rc = local_unquote(&s, &len, &quoted, error_r)) != 0)
		return rc;
	if ((rc = local_copy(s, len, quoted, &lb, error_r)) != 0)
		return rc;
	if (lb.n == 0) {
		*error_r = dv_error_set("empty local part");
		return DV_EINVAL;
	}
	if (lb.n > DV_LOCAL_MAX) {
		*error_r = dv_error_set("local part longer than %d bytes",
		    DV_LOCAL_MAX);
		return DV_ETOOBIG;
	}
	/* A local part that keeps its quotes is taken as one literal name. */
	if (!lb.need_quotes)
		lb.n = subaddress_start(lb.b, lb.n, seps);
	return local_emit(&lb, out, outsz, outlen_r, error_r);
}

static int
domain_check_ascii(const char *d, size_t len, const char **error_r)
{
	size_t label = 0;

	if (len > 253) {
		*error_r = dv_error_set("domain longer than 253 bytes");
		return DV_ETOOBIG;
	}
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-') {
				*error_r = dv_error_set("empty or malformed "
				    "domain label");
				return DV_EINVAL;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_')) {
			*error_r = dv_error_set("character '%c' not allowed "
			    "in a domain", c);
			return DV_EINVAL;
		}
		if (label == 0 && c == '-') {
			*error_r = dv_error_set("domain label starts with '-'");
			return DV_EINVAL;
		}
		if (++label > 63) {
			*error_r = dv_error_set("domain label longer than 63 "
			    "bytes");
			return DV_EINVAL;
		}
	}
	if (label == 0) {
		*error_r = dv_error_set("empty or malformed domain label");
		return DV_EINVAL;
	}
	return 0;
}

static int
domain_normalize(const char *s, size_t len, char *out, size_t outsz,
    size_t *outlen_r, const char **error_r)
{
	char tmp[DV_DOMAIN_MAX * 4 + 1];
	bool ascii = true;
	size_t n;
	int rc;

	if (len == 0) {
		*error_r = dv_error_set("empty domain");
		return DV_EINVAL;
	}
	if (len > sizeof(tmp) - 1) {
		*error_r = dv_error_set("domain longer than %d bytes",
		    DV_DOMAIN_MAX);
		return DV_ETOOBIG;
	}
	for (n = 0; n < len; n++) {
		if ((unsigned char)s[n] >= 0x80)
			ascii = false;
		tmp[n] = lower(s[n]);
	}
	tmp[n] = '\0';
	if (n > 0 && tmp[n - 1] == '.')		/* "example.com." */
		tmp[--n] = '\0';

	if (tmp[0] == '[') {
		/* Address literal: keep it, lower-cased, if it is closed. */
		if (tmp[n - 1] != ']' || n < 3 || strpbrk(tmp + 1, "[\\") ||
		    memchr(tmp, ']', n - 1) != NULL) {
			*error_r = dv_error_set("malformed address literal");
			return DV_EINVAL;
		}
	} else if (!ascii) {
		char *alabel = NULL;

		rc = idn2_to_ascii_8z(tmp, &alabel,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK) {
			*error_r = dv_error_set("invalid internationalised "
			    "domain: %s", idn2_strerror(rc));
			return DV_EINVAL;
		}
		n = strlen(alabel);
		if (n >= sizeof(tmp)) {
			idn2_free(alabel);
			*error_r = dv_error_set("domain too long");
			return DV_ETOOBIG;
		}
		memcpy(tmp, alabel, n + 1);
		idn2_free(alabel);
		for (size_t i = 0; i < n; i++)
			tmp[i] = lower(tmp[i]);
		if ((rc = domain_check_ascii(tmp, n, error_r)) != 0)
			return rc;
	} else if ((rc = domain_check_ascii(tmp, n, error_r)) != 0)
		return rc;

	if (n + 1 > outsz) {
		*error_r = dv_error_set("address too long");
		return DV_ETOOBIG;
	}
	memcpy(out, tmp, n + 1);
	*outlen_r = n;
	return 0;
}

int
addr_normalize(const char *in, const char *seps, char *out, size_t outsz,
    const char **error_r)
{
	const char *s, *at;
	size_t len, llen, dlen;
	int rc;

	if (strlen(in) > DV_ADDR_INPUT_MAX) {
		*error_r = dv_error_set("address longer than %d bytes",
		    DV_ADDR_INPUT_MAX);
		return DV_ETOOBIG;
	}
	if ((rc = addr_strip(in, &s, &len, error_r)) != 0)
		return rc;
	if (len == 0) {
		*error_r = dv_error_set("null address");
		return DV_EEMPTY;
	}
	if ((at = addr_find_at(s, len)) == NULL) {
		*error_r = dv_error_set("no domain");
		return DV_EINVAL;
	}
	rc = local_normalize(s, (size_t)(at - s), seps, out, outsz, &llen,
	    error_r);
	if (rc != 0)
		return rc;
	if (llen + 2 > outsz) {
		*error_r = dv_error_set("address too long");
		return DV_ETOOBIG;
	}
	out[llen] = '@';
	rc = domain_normalize(at + 1, len - (size_t)(at + 1 - s),
	    out + llen + 1, outsz - llen - 1, &dlen, error_r);
	if (rc != 0)
		return rc;
	if (llen + 1 + dlen > DV_ADDR_MAX) {
		*error_r = dv_error_set("address longer than %d bytes",
		    DV_ADDR_MAX);
		return DV_ETOOBIG;
	}
	return 0;
}

int
addr_subaddress(const char *in, const char *seps, char *out, size_t outsz)
{
	const char *s, *at, *err;
	size_t len, i;

	out[0] = '\0';
	if (seps == NULL || *seps == '\0')
		return 0;
	if (addr_strip(in, &s, &len, &err) != 0 || len == 0 || *s == '"')
		return 0;
	if ((at = addr_find_at(s, len)) == NULL)
		return 0;
	for (i = 1; s + i < at; i++)
		if (strchr(seps, s[i]) != NULL)
			break;
	if (s + i >= at)
		return 0;
	i++;
	if ((size_t)(at - (s + i)) + 1 > outsz)
		return DV_ETOOBIG;
	for (len = 0; s + i < at; i++)
		out[len++] = lower(s[i]);
	out[len] = '\0';
	return 0;
}

const char *
addr_domain(const char *norm)
{
	const char *at = strrchr(norm, '@');

	return at != NULL ? at + 1 : NULL;
}

int
addr_mailbox(const char *in, const char *seps, char *out, size_t outsz,
    const char **error_r)
{
	char plain[DV_ADDR_MAX + 1];
	const char *err;
	int rc;

	rc = addr_normalize(in, seps, out, outsz, &err);
	if (rc == DV_EEMPTY) {
		*error_r = dv_error_set("invalid address \"%s\": empty", in);
		return DV_EINVAL;
	}
	if (rc != 0) {
		*error_r = dv_error_set("invalid address \"%s\": %s", in, err);
		return DV_EINVAL;
	}
	if (addr_normalize(in, NULL, plain, sizeof(plain), &err) == 0 &&
	    strcmp(plain, out) != 0) {
		*error_r = dv_error_set("%s is a subaddress of %s "
		    "(SubaddressSeparator \"%s\"); add the base mailbox", in,
		    out, seps != NULL ? seps : "");
		return DV_EINVAL;
	}
	return 0;
}

/*
 * mdigest.c - the content digest of a message (see mdigest.h for what
 * it covers and why).
 *
 * It does not decide anything: the outbox compares digests, the milter
 * feeds them. It keeps no copy of the content.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mdigest.h"
#include "status.h"

struct mdigest {
	EVP_MD_CTX *ctx;
	bool bad;		/* an update failed: the digest is unusable */
};

/* The origin headers; Content-* are matched by prefix. */
static const char *const ORIGIN[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Date", "Subject",
	"Message-ID", "In-Reply-To", "References", "MIME-Version",
};

int
mdigest_new(struct mdigest **d_r)
{
	struct mdigest *d = calloc(1, sizeof(*d));

	*d_r = NULL;
	if (d == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		mdigest_free(d);
		return ENOMEM;
	}
	*d_r = d;
	return 0;
}

bool
mdigest_covers(const char *name)
{
	if (strncasecmp(name, "Content-", 8) == 0)
		return true;
	for (size_t i = 0; i < sizeof(ORIGIN) / sizeof(ORIGIN[0]); i++)
		if (strcasecmp(name, ORIGIN[i]) == 0)
			return true;
	return false;
}

static void
update(struct mdigest *d, const void *p, size_t n)
{
	if (!d->bad && n > 0 && EVP_DigestUpdate(d->ctx, p, n) != 1)
		d->bad = true;
}

static bool
space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
mdigest_header(struct mdigest *d, const char *name, const char *value)
{
	char lower[64];
	size_t n = strlen(name), k;
	const char *p = value, *run;

	if (d == NULL || !mdigest_covers(name))
		return;
	/* Names are compared without regard to case: one form each. */
	for (size_t at = 0; at < n; at += k) {
		k = n - at < sizeof(lower) ? n - at : sizeof(lower);
		for (size_t i = 0; i < k; i++) {
			char c = name[at + i];

			lower[i] = c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
		}
		update(d, lower, k);
	}
	update(d, "", 1);
	/* Unfolded, runs of white space as one space, none at the ends:
	 * a relay that folds a line again changes nothing. */
	while (space(*p))
		p++;
	while (*p != '\0') {
		run = p;
		while (*p != '\0' && !space(*p))
			p++;
		update(d, run, (size_t)(p - run));
		while (space(*p))
			p++;
		if (*p != '\0')
			update(d, " ", 1);
	}
	update(d, "", 1);
}

void
mdigest_eoh(struct mdigest *d)
{
	/* No header name is empty: this cannot be taken for one. */
	if (d != NULL)
		update(d, "\0\0body\0", 7);
}

void
mdigest_body(struct mdigest *d, const void *p, size_t n)
{
	if (d != NULL)
		update(d, p, n);
}

int
mdigest_final(struct mdigest *d, char hex[MDIGEST_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	hex[0] = '\0';
	if (d == NULL || d->bad || EVP_DigestFinal_ex(d->ctx, md, &n) != 1 ||
	    n != 32) {
		if (d != NULL)
			d->bad = true;
		return DV_ESTORE;
	}
	d->bad = true;			/* spent */
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

void
mdigest_free(struct mdigest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

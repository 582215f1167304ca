/*
 * lstore.c - the local plugin's records in its key/value store.
 *
 * Records are compact JSON objects; a key is a prefix from lstore.h and
 * an id or address. This module reads and writes records and makes
 * keys; it does not know what a case or a contact means.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "lstore.h"

int
lstore_key(char key[LS_KEY_MAX + 1], const char *prefix, const char *id)
{
	int n = snprintf(key, LS_KEY_MAX + 1, "%s%s", prefix, id);

	if (n < 0 || n > LS_KEY_MAX) {
		key[0] = '\0';
		return -1;
	}
	return 0;
}

int
lstore_read(const struct dvp_host *h, const char *key, json_t **out)
{
	const void *v;
	size_t len;
	json_t *o;
	int rc;

	*out = NULL;
	if (key[0] == '\0')
		return DVP_KV_INVALID;
	if ((rc = h->kv_get(h->ctx, key, &v, &len)) != DVP_KV_OK)
		return rc;
	o = json_loadb(v, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return LS_CORRUPT;
	}
	*out = o;
	return 0;
}

json_t *
lstore_get(const struct dvp_host *h, const char *key, bool *missing)
{
	json_t *o;
	int rc = lstore_read(h, key, &o);

	*missing = rc == DVP_KV_NOTFOUND;
	if (rc == LS_CORRUPT)
		h->log(h->ctx, DVP_LOG_ERROR, "record %s is not a JSON object",
		    key);
	return o;
}

json_t *
lstore_get_id(const struct dvp_host *h, const char *prefix, const char *id,
    bool *missing)
{
	char key[LS_KEY_MAX + 1];

	*missing = false;
	if (lstore_key(key, prefix, id) != 0)
		return NULL;
	return lstore_get(h, key, missing);
}

int
lstore_put(const struct dvp_host *h, const char *key, json_t *o)
{
	char *s;
	int rc;

	if (key[0] == '\0' || (s = json_dumps(o, JSON_COMPACT)) == NULL)
		return -1;
	rc = h->kv_put(h->ctx, key, s, strlen(s));
	free(s);
	return rc == DVP_KV_OK ? 0 : -1;
}

int
lstore_put_id(const struct dvp_host *h, const char *prefix, const char *id,
    json_t *o)
{
	char key[LS_KEY_MAX + 1];

	if (lstore_key(key, prefix, id) != 0)
		return -1;
	return lstore_put(h, key, o);
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * The same IDNA2008 flags as the milter (core/addr.c), so that
 * kunde@bücher.example and kunde@xn--bcher-kva.example are one contact.
 */
void
lstore_address_key(char *addr, size_t size)
{
	char *at, *alabel = NULL;
	const char *p;

	lower(addr);
	if ((at = strrchr(addr, '@')) == NULL)
		return;
	if (at[1] != '\0' && addr[strlen(addr) - 1] == '.')
		addr[strlen(addr) - 1] = '\0';		/* "example.com." */
	for (p = at + 1; *p != '\0' && (unsigned char)*p < 0x80; p++)
		;
	if (*p == '\0' || idn2_to_ascii_8z(at + 1, &alabel,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
		return;
	lower(alabel);
	if ((size_t)(at + 1 - addr) + strlen(alabel) < size)
		memcpy(at + 1, alabel, strlen(alabel) + 1);
	idn2_free(alabel);
}

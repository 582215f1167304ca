/*
 * known.c - the known-senders index.
 *
 * A plugin's contacts are its records keyed "contact/ADDRESS" in its
 * key/value space. This module answers lookups; it does not write.
 */
#include "config.h"

#include <stdio.h>

#include "addr.h"
#include "known.h"
#include "pluginkv.h"

bool
known_sender_has(struct store_txn *t, char *const *plugins, const char *addr)
{
	char key[DV_ADDR_MAX + 16];
	const char *err;
	const void *v;
	size_t len;
	int n;

	n = snprintf(key, sizeof(key), "contact/%s", addr);
	if (n < 0 || (size_t)n >= sizeof(key))
		return false;
	for (size_t i = 0; plugins != NULL && plugins[i] != NULL; i++)
		if (pluginkv_txn_get(t, plugins[i], key, &v, &len, &err) == 0)
			return true;
	return false;
}

/*
 * known.c - lookups in the known-senders index.
 *
 * The index is the store's "known" table: "plugin\0address" -> "" for
 * each address a plugin knows, and "plugin\0" when the plugin's index is
 * complete. Plugins fill it through their host services (core/
 * plugin_host.c), with their records, in the same transaction
 * (core/pluginkv.c); this module only reads it, on the SMTP path, with
 * one B-tree lookup per plugin and no plugin code.
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>

#include "caps.h"
#include "known.h"
#include "store_int.h"

bool
known_sender_has(struct store_txn *t, char *const *plugins, const char *addr)
{
	char key[DV_ADDR_MAX + 80];
	size_t al = strlen(addr);
	MDB_val k, v;

	if (al == 0 || al > DV_ADDR_MAX)
		return false;
	for (size_t i = 0; plugins != NULL && plugins[i] != NULL; i++) {
		size_t pl = strlen(plugins[i]);

		if (pl + 1 + al > sizeof(key))
			continue;
		memcpy(key, plugins[i], pl);
		key[pl] = '\0';
		memcpy(key + pl + 1, addr, al);
		k.mv_size = pl + 1 + al;
		k.mv_data = key;
		if (mdb_get(t->txn, t->store->known, &k, &v) == 0)
			return true;
	}
	return false;
}

/*
 * known.c - lookups in the known-senders index.
 *
 * The index is the store's "known" table: "plugin\0address" -> "" for
 * each address a plugin knows, and "plugin\0" when the plugin's index is
 * complete. Plugins fill it through their host services (core/
 * plugin_host.c), with their records, in the same transaction
 * (core/pluginkv.c); this module reads it on the SMTP path, with one
 * B-tree lookup per plugin and no plugin code, and writes an entry for
 * tools and tests.
 */
#include "config.h"

#include <string.h>

#include <lmdb.h>

#include "caps.h"
#include "known.h"
#include "status.h"
#include "store_int.h"

/* "plugin\0addr" into @key; its length, or 0 if it does not fit. */
static size_t
index_key(const char *plugin, const char *addr, char *key, size_t keysz)
{
	size_t pl = strlen(plugin), al = strlen(addr);

	if (al == 0 || al > DV_ADDR_MAX || pl + 1 + al > keysz)
		return 0;
	memcpy(key, plugin, pl);
	key[pl] = '\0';
	memcpy(key + pl + 1, addr, al);
	return pl + 1 + al;
}

bool
known_sender_has(struct store_txn *t, char *const *plugins, const char *addr)
{
	char key[DV_ADDR_MAX + 80];
	MDB_val k, v;

	for (size_t i = 0; plugins != NULL && plugins[i] != NULL; i++) {
		k.mv_size = index_key(plugins[i], addr, key, sizeof(key));
		k.mv_data = key;
		if (k.mv_size > 0 &&
		    mdb_get(t->txn, t->store->known, &k, &v) == 0)
			return true;
	}
	return false;
}

int
known_txn_put(struct store_txn *t, const char *plugin, const char *addr,
    const char **error_r)
{
	char key[DV_ADDR_MAX + 80];
	MDB_val k, v = { 0, (void *)"" };
	int rc;

	k.mv_data = key;
	if ((k.mv_size = index_key(plugin, addr, key, sizeof(key))) == 0) {
		*error_r = dv_error_set("invalid address \"%s\"", addr);
		return DV_EINVAL;
	}
	if ((rc = mdb_put(t->txn, t->store->known, &k, &v, 0)) != 0)
		return store_mdb_fail(rc, "known-senders index", error_r);
	return 0;
}

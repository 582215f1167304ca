/*
 * known.h - the known-senders index: whether a plugin knows an address
 * (a contact, a lead, a user in the CRM), for the "known senders"
 * tracking filter.
 *
 * The SMTP path asks it with a read transaction and never waits on a
 * network: each plugin with DVP_CAP_KNOWN_SENDERS keeps its own part of
 * the index in the local store, with its records (dvmilter_plugin.h,
 * known_put). No code outside a plugin needs to know how the plugin
 * keeps its records.
 */
#ifndef DV_KNOWN_H
#define DV_KNOWN_H

#include <stdbool.h>

#include "store.h"

/**
 * known_sender_has - whether one of @plugins (a NULL-terminated list of
 * plugin names, or NULL) knows @addr, an address normalised as
 * addr_normalize() does (local part and domain in lower case, the domain
 * in A-labels), within @t: whether its part of the index has @addr.
 * @return true if known; false if not, or on a store error.
 */
bool known_sender_has(struct store_txn *t, char *const *plugins,
    const char *addr);

/**
 * known_txn_put - put @addr (normalised, as above) into @plugin's part of
 * the index within the write transaction @t, for tools and tests; a
 * plugin fills its part through its host services instead.
 * @return 0, DV_EINVAL (an empty or overlong address), DV_EFULL or
 *         DV_ESTORE.
 */
int known_txn_put(struct store_txn *t, const char *plugin, const char *addr,
    const char **error_r);

#endif

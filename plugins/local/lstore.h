/*
 * lstore.h - the local plugin's records: JSON objects in its key/value
 * store, under the keys local.h lists. local.c, autoreply.c and admin.c
 * all reach them through here; nothing outside plugins/local/ names a
 * key.
 */
#ifndef DV_LSTORE_H
#define DV_LSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "dvmilter_plugin.h"

/* Key prefixes (local.h says what each holds). */
#define LS_ACTIVITY	"activity/"
#define LS_CASE		"case/"
#define LS_CASENUM	"casenum/"
#define LS_CONTACT	"contact/"
#define LS_CASERULE	"caserule/"
#define LS_AUTOREPLY	"autoreply/"
#define LS_AUTOREPLIED	"autoreplied/"
#define LS_AUTOREPLYQ	"autoreplyq/"
#define LS_AUTOREPLY_ALL "autoreply/@@"	/* every reply's counter */
#define LS_COUNTER_CASE	"case"		/* kv_next(): "counter/case" */

#define LS_KEY_MAX	400		/* the host's limit */

/* lstore_read()'s status for a record that is not a JSON object. */
#define LS_CORRUPT	(-1)

/**
 * lstore_key - "@prefix@id" into @key.
 * @return 0, or -1 (and "" in @key) when it is longer than LS_KEY_MAX.
 */
int lstore_key(char key[LS_KEY_MAX + 1], const char *prefix, const char *id);

/**
 * lstore_read - the JSON object at @key into *out (the caller's, to
 * json_decref()).
 * @return 0, DVP_KV_NOTFOUND, LS_CORRUPT, or another dvp_kv_status.
 */
int lstore_read(const struct dvp_host *h, const char *key, json_t **out);

/**
 * lstore_get - lstore_read() for the delivery path: the object, or NULL
 * with *missing true when there is none, and NULL with *missing false on
 * a store error or a corrupt record (logged).
 */
json_t *lstore_get(const struct dvp_host *h, const char *key, bool *missing);

/** lstore_get_id - lstore_get() of "@prefix@id". */
json_t *lstore_get_id(const struct dvp_host *h, const char *prefix,
    const char *id, bool *missing);

/**
 * lstore_put - store @o (not consumed) at @key, buffered as the host
 * buffers writes in the running call.
 * @return 0 or -1.
 */
int lstore_put(const struct dvp_host *h, const char *key, json_t *o);

/** lstore_put_id - lstore_put() at "@prefix@id". */
int lstore_put_id(const struct dvp_host *h, const char *prefix,
    const char *id, json_t *o);

/**
 * lstore_address_key - turn @addr in place into the form contacts are
 * keyed by: lower case, the domain in A-labels, as the milter normalises
 * the sender it looks up (a domain that is no valid IDN stays as
 * written).
 */
void lstore_address_key(char *addr, size_t size);

#endif

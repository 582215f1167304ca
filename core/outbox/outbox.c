/*
 * outbox.c - the outbox's handle (outbox.h) over its layers (ob_int.h).
 *
 * It joins what the writer holds in memory and what the tables hold in
 * LMDB into one view, and keeps the options an outbox was opened with.
 * It does no I/O of its own: the layers do.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ob_int.h"
#include "status.h"

struct outbox {
	struct store *store;
	char **plugins;			/* NULL-terminated, owned */
	char *log_path;
	struct ob_writer *writer;	/* with OUTBOX_WRITER, else NULL */
};

static void
plugins_free(char **p)
{
	for (size_t i = 0; p != NULL && p[i] != NULL; i++)
		free(p[i]);
	free(p);
}

static char **
plugins_copy(char *const *plugins)
{
	size_t n = 0;
	char **p;

	while (plugins != NULL && plugins[n] != NULL)
		n++;
	if ((p = calloc(n + 1, sizeof(char *))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((p[i] = strdup(plugins[i])) == NULL) {
			plugins_free(p);
			return NULL;
		}
	return p;
}

static char *
log_path_of(struct store *st, const char *path)
{
	const char *dir = store_path(st);
	size_t len;
	char *p;

	if (path != NULL)
		return strdup(path);
	len = strlen(dir) + sizeof(OUTBOX_LOG_NAME) + 1;
	if ((p = malloc(len)) != NULL)
		snprintf(p, len, "%s/%s", dir, OUTBOX_LOG_NAME);
	return p;
}

int
outbox_open(struct store *st, const struct outbox_opts *opts,
    struct outbox **ob_r, const char **error_r)
{
	const struct outbox_opts none = { 0 };
	struct outbox *ob;
	int rc;

	if (opts == NULL)
		opts = &none;
	if ((ob = calloc(1, sizeof(*ob))) == NULL ||
	    (ob->plugins = plugins_copy(opts->plugins)) == NULL ||
	    (ob->log_path = log_path_of(st, opts->log_path)) == NULL) {
		outbox_close(ob);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	ob->store = st;
	if ((opts->flags & OUTBOX_WRITER) != 0 &&
	    (rc = ob_writer_start(st, ob->log_path, ob->plugins,
	    opts->indexed, &ob->writer, error_r)) != 0) {
		outbox_close(ob);
		return rc;
	}
	*ob_r = ob;
	return 0;
}

void
outbox_close(struct outbox *ob)
{
	if (ob == NULL)
		return;
	ob_writer_stop(ob->writer);
	plugins_free(ob->plugins);
	free(ob->log_path);
	free(ob);
}

int
outbox_submit(struct outbox *ob, const struct outbox_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz)
{
	struct store_txn *t;
	const char *e;
	int rc;

	if (ob->writer != NULL)
		return ob_writer_submit(ob->writer, it, it_was_expected, id_r,
		    err, errsz);
	if ((rc = store_txn_begin(ob->store, true, &t, &e)) == 0) {
		if ((rc = ob_table_put(t, it, NULL, ob->plugins, id_r,
		    &e)) == 0)
			rc = store_txn_commit(t, &e);
		else
			store_txn_abort(t);
	}
	if (rc != 0)
		snprintf(err, errsz, "%s", e);
	return rc;
}

void
outbox_expect(struct outbox *ob, int delta)
{
	if (ob->writer != NULL)
		ob_writer_expect(ob->writer, delta);
}

void
outbox_flush(struct outbox *ob)
{
	if (ob->writer != NULL)
		ob_writer_flush(ob->writer);
}

void
outbox_stats(struct outbox *ob, struct outbox_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (ob->writer == NULL)
		return;
	ob_writer_stats(ob->writer, &s->messages, &s->commits,
	    &s->index_commits, &s->store_us);
	s->logged = ob_writer_pending(ob->writer);
}

/*
 * The writer first: an entry it holds is not in the index yet. An entry
 * it no longer holds is in the index of every snapshot from the commit
 * that took it off its list on; if @t's is older, a fresh snapshot
 * looks. Both are asked in this order, so nothing falls in between.
 */
int
outbox_find(struct outbox *ob, struct store_txn *t, const char *message_id,
    uint64_t *id_r, const char **error_r)
{
	uint64_t indexed = 0;
	int rc;

	if (ob->writer != NULL && ob_writer_find_message_id(ob->writer,
	    message_id, id_r, &indexed))
		return 0;
	rc = ob_table_find_message_id(t, message_id, id_r, error_r);
	if (rc == DV_ENOTFOUND && indexed != 0 && ob_txn_id(t) < indexed)
		rc = ob_table_find_fresh(t, message_id, id_r, error_r);
	return rc;
}

bool
outbox_exists(struct outbox *ob, struct store_txn *t, uint64_t id)
{
	(void)ob;
	return ob_table_exists(t, id);
}

int
outbox_get(struct outbox *ob, struct store_txn *t, uint64_t id,
    unsigned flags, struct outbox_msg **msg_r, const char **error_r)
{
	(void)ob;
	return (flags & OUTBOX_TEXT) != 0 ?
	    ob_table_get(t, id, msg_r, error_r) :
	    ob_table_get_envelope(t, id, msg_r, error_r);
}

int
outbox_deliveries(struct outbox *ob, struct store_txn *t, uint64_t id,
    struct outbox_delivery *d, size_t max, size_t *n_r,
    const char **error_r)
{
	(void)ob;
	return ob_table_deliveries(t, id, d, max, n_r, error_r);
}

int
outbox_walk(struct outbox *ob, struct store_txn *t,
    int (*fn)(void *arg, uint64_t id, const struct outbox_delivery *d,
    size_t nd), void *arg, const char **error_r)
{
	(void)ob;
	return ob_table_foreach(t, fn, arg, error_r);
}

/* ob_log_open()'s replay for outbox_logged(): count. */
static int
count_one(const struct ob_log_rec *rec, uint64_t lsn, void *arg)
{
	(void)rec;
	(void)lsn;
	(*(size_t *)arg)++;
	return 0;
}

int
outbox_logged(struct outbox *ob, size_t *n_r, const char **error_r)
{
	struct store_txn *t;
	uint64_t ident, applied;
	int rc;

	*n_r = 0;
	if (ob->writer != NULL) {
		*n_r = ob_writer_pending(ob->writer);
		return 0;
	}
	if ((rc = store_txn_begin(ob->store, false, &t, error_r)) != 0)
		return rc;
	rc = ob_table_log_state(t, &ident, &applied, error_r);
	store_txn_abort(t);
	if (rc != 0)
		return rc;
	return ob_log_peek(ob->log_path, ident, applied, count_one, n_r,
	    error_r);
}

int
outbox_due(struct outbox *ob, struct store_txn *t, int64_t now, size_t max,
    struct outbox_delivery *d, size_t *n_r, int64_t *next_r,
    const char **error_r)
{
	(void)ob;
	return ob_table_due_batch(t, now, max, d, n_r, next_r, error_r);
}

int
outbox_record(struct outbox *ob, struct store_txn *t,
    const struct outbox_attempt *a, struct outbox_delivery *d_r,
    const char **error_r)
{
	(void)ob;
	return ob_table_record(t, a, d_r, error_r);
}

int
outbox_started(struct outbox *ob, struct store_txn *t,
    const struct outbox_delivery *d, size_t n, int64_t now,
    const char **error_r)
{
	(void)ob;
	return ob_table_started(t, d, n, now, error_r);
}

int
outbox_crashed(struct outbox *ob, struct store_txn *t,
    const struct outbox_crash *c, struct outbox_delivery *d_r, size_t max,
    size_t *n_r, const char **error_r)
{
	(void)ob;
	return ob_table_crashed(t, c, d_r, max, n_r, error_r);
}

int
outbox_retry(struct outbox *ob, struct store_txn *t, uint64_t id,
    const char *plugin, int64_t now, const char **error_r)
{
	(void)ob;
	return ob_table_retry(t, id, plugin, now, error_r);
}

int
outbox_drop(struct outbox *ob, struct store_txn *t, uint64_t id,
    const char **error_r)
{
	(void)ob;
	return ob_table_drop(t, id, error_r);
}

int
outbox_prune_scan(struct outbox *ob, struct store_txn *t, int64_t before,
    size_t max, struct outbox_prune_pos *pos, uint64_t *ids, size_t *n_r,
    bool *more_r, const char **error_r)
{
	(void)ob;
	return ob_table_prune_scan(t, before, max, pos, ids, n_r, more_r,
	    error_r);
}

int
outbox_prune(struct outbox *ob, struct store_txn *t, const uint64_t *ids,
    size_t n, int64_t before, int64_t now, size_t *pruned_r,
    const char **error_r)
{
	(void)ob;
	return ob_table_prune_ids(t, ids, n, before, now, pruned_r, error_r);
}

int
outbox_put(struct outbox *ob, struct store_txn *t,
    const struct outbox_item *it, uint64_t *id_r, const char **error_r)
{
	return ob_table_put(t, it, NULL, ob->plugins, id_r, error_r);
}

/*
 * qwriter.c - the outbox's group-commit thread.
 *
 * Submitters link a request on a list and wait on its condition; the
 * thread swaps the whole list out, writes it in one transaction and
 * wakes every request with its own result. It knows nothing of milters.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qwriter.h"
#include "status.h"

#define QW_BATCH_MAX 256

struct qw_req {
	const struct queue_item *it;
	uint64_t id;
	int rc;
	bool done;
	char err[256];
	pthread_cond_t cond;
	struct qw_req *next;
};

struct qwriter {
	struct store *store;
	char **plugins;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct qw_req *head, *tail;
	size_t queued;		/* requests in the list */
	unsigned expected;	/* messages being received (qwriter_expect) */
	bool stop;
	uint64_t messages, commits;
};

static void
plugins_free(char **p)
{
	for (size_t i = 0; p != NULL && p[i] != NULL; i++)
		free(p[i]);
	free(p);
}

/* Write @reqs in one transaction; 0 if every one is stored. */
static int
write_batch(struct qwriter *w, struct qw_req **reqs, size_t n)
{
	struct store_txn *t;
	const char *err;
	int rc;

	if ((rc = store_txn_begin(w->store, true, &t, &err)) != 0)
		goto fail_all;
	for (size_t i = 0; i < n; i++) {
		rc = queue_put(t, reqs[i]->it, w->plugins, &reqs[i]->id, &err);
		if (rc != 0) {
			store_txn_abort(t);
			goto fail_all;
		}
	}
	if ((rc = store_txn_commit(t, &err)) != 0)
		goto fail_all;
	for (size_t i = 0; i < n; i++)
		reqs[i]->rc = 0;
	return 0;
fail_all:
	for (size_t i = 0; i < n; i++) {
		reqs[i]->rc = rc;
		snprintf(reqs[i]->err, sizeof(reqs[i]->err), "%s", err);
	}
	return rc;
}

static void *
writer_main(void *arg)
{
	struct qwriter *w = arg;
	struct qw_req *batch[QW_BATCH_MAX];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		size_t n = 0, bytes;

		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->head == NULL && w->stop)
			break;
		/*
		 * Messages still arriving will want a commit of their own
		 * in a moment: wait a little for them, so that one sync
		 * serves them all (PostgreSQL's commit_delay, but only
		 * while there are messages to wait for).
		 */
		if (w->queued < w->expected && w->queued < QW_BATCH_MAX) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += QW_DELAY_US * 1000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (w->queued < w->expected &&
			    w->queued < QW_BATCH_MAX && !w->stop &&
			    pthread_cond_timedwait(&w->work, &w->lock,
			    &until) == 0)
				;
		}
		/*
		 * LMDB keeps a transaction's new pages in memory until the
		 * commit, so the batch is bounded in bytes as well: the
		 * first message always goes, more only while they fit.
		 */
		bytes = 0;
		while (w->head != NULL && n < QW_BATCH_MAX && (n == 0 ||
		    w->head->it->raw_len <= QW_BATCH_BYTES - bytes)) {
			bytes += w->head->it->raw_len < QW_BATCH_BYTES ?
			    w->head->it->raw_len : QW_BATCH_BYTES;
			batch[n++] = w->head;
			w->head = w->head->next;
			w->queued--;
		}
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);

		/* One fsync for the batch; on failure isolate the culprit. */
		if (write_batch(w, batch, n) != 0 && n > 1)
			for (size_t i = 0; i < n; i++)
				write_batch(w, &batch[i], 1);

		pthread_mutex_lock(&w->lock);
		w->messages += n;
		w->commits++;
		for (size_t i = 0; i < n; i++) {
			batch[i]->done = true;
			pthread_cond_signal(&batch[i]->cond);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int
qwriter_start(struct store *store, char *const *plugins, struct qwriter **w_r,
    const char **error_r)
{
	struct qwriter *w = calloc(1, sizeof(*w));
	size_t n = 0;
	int rc;

	if (w == NULL)
		goto oom;
	while (plugins != NULL && plugins[n] != NULL)
		n++;
	if ((w->plugins = calloc(n + 1, sizeof(char *))) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++)
		if ((w->plugins[i] = strdup(plugins[i])) == NULL)
			goto oom;
	w->store = store;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		*error_r = dv_error_set("cannot start the outbox writer: %s",
		    strerror(rc));
		plugins_free(w->plugins);
		free(w);
		return rc;
	}
	*w_r = w;
	return 0;
oom:
	if (w != NULL)
		plugins_free(w->plugins);
	free(w);
	*error_r = dv_error_set("out of memory");
	return ENOMEM;
}

int
qwriter_submit(struct qwriter *w, const struct queue_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz)
{
	struct qw_req r = { .it = it };

	pthread_cond_init(&r.cond, NULL);
	pthread_mutex_lock(&w->lock);
	if (w->stop) {
		pthread_mutex_unlock(&w->lock);
		pthread_cond_destroy(&r.cond);
		snprintf(err, errsz, "the outbox writer is stopping");
		return DV_EINUSE;
	}
	if (w->tail != NULL)
		w->tail->next = &r;
	else
		w->head = &r;
	w->tail = &r;
	w->queued++;
	if (it_was_expected && w->expected > 0)
		w->expected--;
	pthread_cond_signal(&w->work);
	while (!r.done)
		pthread_cond_wait(&r.cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&r.cond);
	if (r.rc != 0) {
		snprintf(err, errsz, "%s", r.err);
		return r.rc;
	}
	*id_r = r.id;
	return 0;
}

void
qwriter_stop(struct qwriter *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work);
	plugins_free(w->plugins);
	free(w);
}

void
qwriter_expect(struct qwriter *w, int delta)
{
	pthread_mutex_lock(&w->lock);
	if (delta > 0)
		w->expected++;
	else if (w->expected > 0)
		w->expected--;
	pthread_mutex_unlock(&w->lock);
}

size_t
qwriter_waiting(struct qwriter *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->queued;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
qwriter_stats(struct qwriter *w, uint64_t *messages, uint64_t *commits)
{
	pthread_mutex_lock(&w->lock);
	*messages = w->messages;
	*commits = w->commits;
	pthread_mutex_unlock(&w->lock);
}

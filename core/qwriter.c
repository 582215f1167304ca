/*
 * qwriter.c - the outbox's group-commit thread.
 *
 * Submitters link a request on a list and wait on its condition; the
 * thread swaps the whole list out, writes it in one transaction and
 * wakes every request with its own result. Between those commits it
 * indexes what they stored (see qwriter.h). It knows nothing of milters.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "qwriter.h"
#include "status.h"

#define QW_BATCH_MAX 256

struct qw_req {
	const struct queue_item *it;
	int64_t queued_at;		/* mono_us() */
	uint64_t id;
	int rc;
	bool done;
	char err[256];
	pthread_cond_t cond;
	struct qw_req *next;
};

/*
 * An entry stored but not indexed yet: its dedup key (NULL if it has
 * none), id and reception time, which spare indexing a parse of it.
 */
struct qw_pend {
	char *mid;
	uint64_t id;
	int64_t received;
};

struct qwriter {
	struct store *store;
	char **plugins;
	void (*indexed)(void);
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct qw_req *head, *tail;
	size_t queued;		/* requests in the list */
	unsigned expected;	/* messages being received (qwriter_expect) */
	bool stop;
	/*
	 * Unindexed entries, in id order. Only the writer thread changes
	 * the array, and always under the lock; it reads it without.
	 */
	struct qw_pend *pend;
	size_t npend, pend_cap;
	size_t nunindexed;	/* all of them, and any a crash left */
	uint64_t max_id;		/* the newest entry stored */
	int64_t pend_since;		/* when the oldest was stored */
	int64_t index_retry_at;		/* after a failed index commit */
	pthread_cond_t flushed;		/* qwriter_flush() */
	unsigned flush_req, flush_done;
	/*
	 * A sync failed: what LMDB counts as committed may not be on disk,
	 * and after a failed fdatasync Linux may have dropped the pages, so
	 * nothing more is stored until the daemon restarts (the writer
	 * thread's own).
	 */
	bool failed;
	char failed_err[200];
	uint64_t messages, commits, index_commits;
	uint64_t store_us;	/* sum of the submissions' waits */
};

static void
plugins_free(char **p)
{
	for (size_t i = 0; p != NULL && p[i] != NULL; i++)
		free(p[i]);
	free(p);
}

/* Times are microseconds of CLOCK_MONOTONIC, the clock of w->work. */
static int64_t
mono_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Wait on w->work until @at (mono_us()), a signal, or a spurious wake. */
static int
wait_until(struct qwriter *w, int64_t at)
{
	struct timespec ts = { at / 1000000, (at % 1000000) * 1000 };

	return pthread_cond_timedwait(&w->work, &w->lock, &ts);
}

static const struct qw_pend *
pend_find(const struct qw_pend *p, size_t n, const char *mid)
{
	for (size_t i = n; i > 0; i--)		/* the newest first */
		if (p[i - 1].mid != NULL && strcmp(p[i - 1].mid, mid) == 0)
			return &p[i - 1];
	return NULL;
}

/*
 * Write @reqs in one transaction and sync; 0 if every one is stored.
 * New entries
 * are indexed later unless too many are waiting for that already; those
 * this batch adds are appended to w->pend once it has committed.
 */
static int
write_batch(struct qwriter *w, struct qw_req **reqs, size_t n, bool *kick)
{
	struct qw_pend added[QW_BATCH_MAX];
	struct store_txn *t;
	const char *err;
	bool defer = w->nunindexed + n <= QW_PENDING_MAX;
	size_t nadded = 0, nnew = 0;
	uint64_t max_id = w->max_id;
	int rc;

	if (w->failed) {
		err = w->failed_err;
		rc = DV_ESTORE;
		goto fail_all;
	}
	if ((rc = store_txn_begin(w->store, true, &t, &err)) != 0)
		goto fail_all;
	for (size_t i = 0; i < n; i++) {
		struct queue_item it = *reqs[i]->it;
		const struct qw_pend *same = NULL;
		const char *mid = it.message_id;

		if (mid != NULL && mid[0] != '\0' &&
		    (same = pend_find(added, nadded, mid)) == NULL)
			same = pend_find(w->pend, w->npend, mid);
		it.merge_into = same != NULL ? same->id : 0;
		it.defer_index = defer;
		rc = queue_put(t, &it, w->plugins, &reqs[i]->id, &err);
		if (rc != 0) {
			store_txn_abort(t);
			goto fail_all;
		}
		if (reqs[i]->id <= max_id) {
			/* Folded into an earlier entry; into an indexed one
			 * (its deliveries re-armed): the worker has work. */
			if (reqs[i]->id != it.merge_into)
				*kick = true;
			continue;
		}
		max_id = reqs[i]->id;
		nnew++;
		if (!defer)
			*kick = true;	/* indexed here */
		if (defer) {
			added[nadded].mid = NULL;
			if (mid != NULL && mid[0] != '\0' &&
			    (added[nadded].mid = strdup(mid)) == NULL) {
				store_txn_abort(t);
				err = "out of memory";
				rc = ENOMEM;
				goto fail_all;
			}
			added[nadded].id = reqs[i]->id;
			added[nadded++].received = it.received;
		}
	}
	/* Room for what this batch adds, before it is durable. */
	if (w->npend + nadded > w->pend_cap) {
		size_t cap = w->pend_cap * 2 > w->npend + nadded ?
		    w->pend_cap * 2 : w->npend + nadded + 64;
		struct qw_pend *np = realloc(w->pend, cap * sizeof(*np));

		if (np == NULL) {
			store_txn_abort(t);
			err = "out of memory";
			rc = ENOMEM;
			goto fail_all;
		}
		pthread_mutex_lock(&w->lock);
		w->pend = np;
		w->pend_cap = cap;
		pthread_mutex_unlock(&w->lock);
	}
	if ((rc = store_txn_commit(t, &err)) != 0)
		goto fail_all;
	/*
	 * Durable before the MTA may answer. With a store opened with
	 * nometasync this is the meta page's sync, which LMDB would have
	 * made holding the write lock; the index commits, which nothing
	 * waits for, need none: this one covers them too.
	 */
	if ((rc = store_sync(w->store, &err)) != 0) {
		snprintf(w->failed_err, sizeof(w->failed_err), "%s; restart "
		    "dvmilter once the disk is sound", err);
		w->failed = true;
		log_error("outbox: %s: tracked mail is tempfailed from now on",
		    w->failed_err);
		err = w->failed_err;
	}
	/*
	 * Committed: the writer knows these entries now, even if the sync
	 * failed (then the messages are tempfailed, and at the restart
	 * their entries are there or not, as the disk kept them).
	 */
	pthread_mutex_lock(&w->lock);
	w->max_id = max_id;
	if (defer && nnew > 0) {
		if (w->nunindexed == 0)
			w->pend_since = mono_us();
		w->nunindexed += nnew;
		if (nadded > 0)
			memcpy(w->pend + w->npend, added,
			    nadded * sizeof(added[0]));
		w->npend += nadded;
	}
	pthread_mutex_unlock(&w->lock);
	nadded = 0;
	if (rc != 0)
		goto fail_all;
	for (size_t i = 0; i < n; i++)
		reqs[i]->rc = 0;
	return 0;
fail_all:
	for (size_t i = 0; i < nadded; i++)
		free(added[i].mid);
	for (size_t i = 0; i < n; i++) {
		reqs[i]->rc = rc;
		snprintf(reqs[i]->err, sizeof(reqs[i]->err), "%s", err);
	}
	return rc;
}

/*
 * Index until nothing is left; *total_r entries, even on failure. What
 * w->pend knows of the entries spares reading them back.
 */
static int
index_rounds(struct qwriter *w, size_t *total_r, const char **error_r)
{
	struct queue_index_hint *hints = NULL;
	struct store_txn *t;
	size_t n, nhints = 0;
	bool more = true;
	int rc = 0;

	*total_r = 0;
	/* Without memory for them, indexing just reads every entry. */
	if (w->npend > 0 &&
	    (hints = malloc(w->npend * sizeof(*hints))) != NULL) {
		for (size_t i = 0; i < w->npend; i++)
			hints[i] = (struct queue_index_hint){ w->pend[i].id,
			    w->pend[i].mid, w->pend[i].received };
		nhints = w->npend;
	}
	while (more && rc == 0) {
		if ((rc = store_txn_begin(w->store, true, &t, error_r)) != 0)
			break;
		if ((rc = queue_index_pending(t, w->plugins, hints, nhints,
		    QW_INDEX_BATCH * 4, &n, &more, error_r)) == 0)
			rc = store_txn_commit(t, error_r);
		else
			store_txn_abort(t);
		if (rc == 0) {
			*total_r += n;
			pthread_mutex_lock(&w->lock);
			w->index_commits++;
			pthread_mutex_unlock(&w->lock);
		}
	}
	free(hints);
	return rc;
}

/*
 * Index every stored entry not indexed yet, in commits that sync once
 * (the next commit that answers the MTA makes them durable; a crash
 * before that is undone at the next start), and forget them.
 */
static void
index_all(struct qwriter *w, bool sync)
{
	const char *err = "";
	size_t total;
	int rc;

	if (w->failed)
		return;
	rc = index_rounds(w, &total, &err);
	if (total > 0 && w->indexed != NULL)
		w->indexed();
	if (rc != 0) {
		/* Kept; the commits that answer the MTA go on meanwhile. */
		log_error("outbox: indexing new entries: %s; trying again in "
		    "a second", err);
		w->index_retry_at = mono_us() + 1000000;
		return;
	}
	w->index_retry_at = 0;
	/* Nothing waits for it, but a stopping daemon leaves it durable. */
	if (sync && store_sync(w->store, &err) != 0)
		log_error("outbox: %s", err);
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].mid);
	w->npend = 0;
	w->nunindexed = 0;
	pthread_mutex_unlock(&w->lock);
	if (store_preallocate(w->store, QW_PREALLOC_LOW, QW_PREALLOC_CHUNK,
	    &err) != 0)
		log_warn("outbox: %s", err);
}

/* Whether stored entries wait for their index records. */
static bool
unindexed(const struct qwriter *w)
{
	return w->nunindexed > 0;
}

/* With the lock held: whether to index now. */
static bool
index_due(const struct qwriter *w, bool idle)
{
	int64_t age;

	if (!unindexed(w))
		return false;
	if (w->flush_req != w->flush_done)
		return true;	/* asked for: now, even after a failure */
	if (w->index_retry_at != 0 && mono_us() < w->index_retry_at)
		return false;
	age = mono_us() - w->pend_since;
	return w->nunindexed >= QW_INDEX_BATCH || age >= QW_INDEX_MAX_US ||
	    (idle && age >= QW_INDEX_IDLE_US);
}

/* With the lock held: wait for work, or until indexing is due. */
static void
wait_for_work(struct qwriter *w)
{
	while (w->head == NULL && !w->stop && w->flush_req == w->flush_done &&
	    !index_due(w, true)) {
		int64_t at;

		if (!unindexed(w)) {
			pthread_cond_wait(&w->work, &w->lock);
			continue;
		}
		at = w->pend_since + QW_INDEX_IDLE_US;
		if (w->index_retry_at > at)
			at = w->index_retry_at;
		(void)wait_until(w, at);
	}
}

static void finish(struct qwriter *w, struct qw_req *r);

static void *
writer_main(void *arg)
{
	struct qwriter *w = arg;
	struct qw_req *batch[QW_BATCH_MAX];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		size_t n = 0, bytes;
		bool kick;

		wait_for_work(w);
		if (w->flush_req != w->flush_done && !unindexed(w)) {
			w->flush_done = w->flush_req;
			pthread_cond_broadcast(&w->flushed);
		}
		if (index_due(w, w->head == NULL) ||
		    (w->head == NULL && w->stop && unindexed(w))) {
			unsigned req = w->flush_req;
			bool sync = w->stop || req != w->flush_done;

			pthread_mutex_unlock(&w->lock);
			index_all(w, sync);
			pthread_mutex_lock(&w->lock);
			w->flush_done = req;	/* done, or failed: logged */
			pthread_cond_broadcast(&w->flushed);
			if (w->head == NULL && w->stop)
				break;
			continue;
		}
		if (w->head == NULL && w->stop)
			break;
		if (w->head == NULL)
			continue;
		/*
		 * Messages still arriving will want a commit of their own
		 * in a moment: wait a little for them, so that one sync
		 * serves them all (PostgreSQL's commit_delay, but only
		 * while there are messages to wait for).
		 */
		if (w->queued < w->expected && w->queued < QW_BATCH_MAX) {
			int64_t until = mono_us() + QW_DELAY_US;

			while (w->queued < w->expected &&
			    w->queued < QW_BATCH_MAX && !w->stop &&
			    wait_until(w, until) == 0)
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

		/* One commit for the batch; on failure isolate the culprit. */
		kick = false;
		if (write_batch(w, batch, n, &kick) != 0 && n > 1 &&
		    !w->failed)
			for (size_t i = 0; i < n; i++)
				write_batch(w, &batch[i], 1, &kick);
		if (kick && w->indexed != NULL)
			w->indexed();

		pthread_mutex_lock(&w->lock);
		w->messages += n;
		w->commits++;
		for (size_t i = 0; i < n; i++)
			finish(w, batch[i]);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* With the lock held: answer one submission. */
static void
finish(struct qwriter *w, struct qw_req *r)
{
	w->store_us += (uint64_t)(mono_us() - r->queued_at);
	r->done = true;
	pthread_cond_signal(&r->cond);
}

/* Index what an earlier run stored and did not index (a crash). */
static int
recover(struct qwriter *w, const char **error_r)
{
	struct store_txn *t;
	size_t total;
	int rc;

	/* Merges into entries older than this are not new ones. */
	if ((rc = store_txn_begin(w->store, false, &t, error_r)) != 0)
		return rc;
	rc = queue_last_id(t, &w->max_id, error_r);
	store_txn_abort(t);
	if (rc != 0 || (rc = index_rounds(w, &total, error_r)) != 0 ||
	    (total > 0 && (rc = store_sync(w->store, error_r)) != 0))
		return rc;
	if (total > 0)
		log_notice("outbox: indexed %zu entr%s stored before the last "
		    "stop", total, total == 1 ? "y" : "ies");
	return 0;
}

int
qwriter_start(struct store *store, char *const *plugins, void (*indexed)(void),
    struct qwriter **w_r, const char **error_r)
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
	w->indexed = indexed;
	pthread_mutex_init(&w->lock, NULL);
	{
		pthread_condattr_t ca;

		/* Its timed waits must not move with the wall clock. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->work, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&w->flushed, NULL);
	if (recover(w, error_r) != 0) {
		/* The writer tries again, every second, and says so. */
		log_error("outbox: indexing what the last run left: %s",
		    *error_r);
		w->nunindexed = 1;
		w->pend_since = mono_us();
	}
	if (store_preallocate(store, QW_PREALLOC_LOW, QW_PREALLOC_CHUNK,
	    error_r) != 0)
		log_warn("outbox: %s", *error_r);
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		*error_r = dv_error_set("cannot start the outbox writer: %s",
		    strerror(rc));
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->work);
		pthread_cond_destroy(&w->flushed);
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

	r.queued_at = mono_us();
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

bool
qwriter_find_message_id(struct qwriter *w, const char *mid, uint64_t *id_r)
{
	const struct qw_pend *p;

	pthread_mutex_lock(&w->lock);
	if ((p = pend_find(w->pend, w->npend, mid)) != NULL)
		*id_r = p->id;
	pthread_mutex_unlock(&w->lock);
	return p != NULL;
}

void
qwriter_flush(struct qwriter *w)
{
	unsigned req;

	pthread_mutex_lock(&w->lock);
	req = ++w->flush_req;
	pthread_cond_signal(&w->work);
	while ((int)(w->flush_done - req) < 0 && !w->stop)
		pthread_cond_wait(&w->flushed, &w->lock);
	pthread_mutex_unlock(&w->lock);
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
	pthread_cond_destroy(&w->flushed);
	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].mid);
	free(w->pend);
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

size_t
qwriter_pending(struct qwriter *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->nunindexed;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
qwriter_stats(struct qwriter *w, uint64_t *messages, uint64_t *commits,
    uint64_t *index_commits, uint64_t *store_us)
{
	pthread_mutex_lock(&w->lock);
	*messages = w->messages;
	*commits = w->commits;
	*index_commits = w->index_commits;
	*store_us = w->store_us;
	pthread_mutex_unlock(&w->lock);
}

/*
 * ob_writer.c - the outbox's group-commit thread (see ob_int.h).
 *
 * Submitters link a request on a list and wait on its condition; the
 * thread swaps the whole list out, appends it to the log in one write
 * and one sync, and wakes every request with its own result. Between
 * those appends it stores what the log holds in LMDB. It knows nothing
 * of milters, and nothing of the log's or the tables' formats.
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
#include "ob_int.h"
#include "status.h"

#define OB_BATCH_MAX 256

struct ob_req {
	const struct outbox_item *it;
	int64_t queued_at;		/* mono_us() */
	uint64_t id;
	uint64_t collided;		/* the entry whose Message-ID it reused */
	int rc;
	bool done;
	char err[256];
	pthread_cond_t cond;
	struct ob_req *next;
};

/*
 * A new entry logged but not stored yet: its dedup key and content
 * digest (NULL if it has none), id and reception time, which spare
 * indexing a parse of it, and the earlier entry whose Message-ID it
 * reused for another message (0 if none: correlation may find it).
 */
struct ob_pend {
	char *mid;
	uint64_t id;
	int64_t received;
	char *digest;
	uint64_t collided;
};

/* A logged payload (ob_item.c), kept until LMDB has it. */
struct ob_rec {
	unsigned char *data;
	size_t len;
};

struct ob_writer {
	struct store *store;
	struct store_reader *reader;	/* the writer thread's lookups */
	struct ob_log *log;
	char **plugins;
	void (*indexed)(void);
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct ob_req *head, *tail;
	size_t queued;		/* requests in the list */
	unsigned expected;	/* messages being received (ob_writer_expect) */
	bool stop;
	/*
	 * What the log holds beyond the store, in log order (the writer
	 * thread's own), and the new entries among it, in id order: only
	 * the writer thread changes that array, and always under the lock;
	 * it reads it without.
	 */
	struct ob_rec *recs;
	size_t nrecs, recs_cap;
	struct ob_pend *pend;
	size_t npend, pend_cap;
	bool stale;		/* the store may hold unindexed entries */
	/* ob_txn_id() of the last commit that took entries off pend. */
	uint64_t indexed_txn;
	uint64_t last_id;	/* the newest id given */
	uint64_t applied;	/* the log is in the store up to this LSN */
	uint64_t durable;	/* ... and durably so: the log may be reused */
	int64_t pend_since;		/* when the oldest record was logged */
	int64_t index_retry_at;		/* after a failed store */
	pthread_cond_t flushed;		/* ob_writer_flush() */
	unsigned flush_req, flush_done;
	/*
	 * A sync failed: what was written may not be on disk, and after a
	 * failed fdatasync Linux may have dropped the pages, so nothing
	 * more is taken until the daemon restarts (the writer thread's own).
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
wait_until(struct ob_writer *w, int64_t at)
{
	struct timespec ts = { at / 1000000, (at % 1000000) * 1000 };

	return pthread_cond_timedwait(&w->work, &w->lock, &ts);
}

/* The entry of @p holding the same message: Message-ID and digest. */
static const struct ob_pend *
pend_copy(const struct ob_pend *p, size_t n, const char *mid,
    const char *digest)
{
	if (mid == NULL || mid[0] == '\0' || digest == NULL ||
	    digest[0] == '\0')
		return NULL;
	for (size_t i = n; i > 0; i--)		/* the newest first */
		if (p[i - 1].mid != NULL && p[i - 1].digest != NULL &&
		    strcmp(p[i - 1].mid, mid) == 0 &&
		    strcmp(p[i - 1].digest, digest) == 0)
			return &p[i - 1];
	return NULL;
}

/* The first entry of @p with Message-ID @mid that reused no other's. */
static const struct ob_pend *
pend_first(const struct ob_pend *p, size_t n, const char *mid)
{
	if (mid == NULL || mid[0] == '\0')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (p[i].mid != NULL && p[i].collided == 0 &&
		    strcmp(p[i].mid, mid) == 0)
			return &p[i];
	return NULL;
}

/* Forget one new entry's strings (those it owns). */
static void
pend_free(struct ob_pend *p)
{
	free(p->mid);
	free(p->digest);
	p->mid = p->digest = NULL;
}

/* Own copies of @mid and @digest for @p; ENOMEM. */
static int
pend_own(struct ob_pend *p, const char *mid, const char *digest)
{
	p->mid = mid != NULL && mid[0] != '\0' ? strdup(mid) : NULL;
	p->digest = digest != NULL && digest[0] != '\0' ? strdup(digest) :
	    NULL;
	if ((mid != NULL && mid[0] != '\0' && p->mid == NULL) ||
	    (digest != NULL && digest[0] != '\0' && p->digest == NULL)) {
		pend_free(p);
		return ENOMEM;
	}
	return 0;
}

/*
 * Where @it goes, by the new entries @a (the older, w->pend) and @b,
 * then the index as @t sees it: how->merge_into, a new entry of @a or
 * @b with the same message; or *copy_r, an entry of the index with the
 * same message; or neither, a new entry, and then how->collided_with,
 * the entry that has its Message-ID for another message (or 0).
 */
static int
match(const struct ob_pend *a, size_t na,
    const struct ob_pend *b, size_t nb, struct store_txn *t,
    const struct outbox_item *it, struct ob_put *how, uint64_t *copy_r,
    const char **error_r)
{
	const char *mid = it->message_id;
	const struct ob_pend *same;
	uint64_t first = 0;
	int rc;

	*copy_r = 0;
	how->merge_into = how->collided_with = 0;
	how->checked = true;
	if ((same = pend_copy(b, nb, mid, it->digest)) != NULL ||
	    (same = pend_copy(a, na, mid, it->digest)) != NULL) {
		how->merge_into = same->id;
		return 0;
	}
	if ((rc = ob_table_match(t, mid, it->digest, copy_r, &first,
	    error_r)) != 0 || *copy_r != 0)
		return rc;
	/* The first of them: the one correlation finds. */
	if (first != 0)
		how->collided_with = first;
	else if ((same = pend_first(a, na, mid)) != NULL ||
	    (same = pend_first(b, nb, mid)) != NULL)
		how->collided_with = same->id;
	return 0;
}

/* Nothing more is taken: see struct ob_writer's failed. */
static void
fail_writer(struct ob_writer *w, const char *err)
{
	snprintf(w->failed_err, sizeof(w->failed_err), "%s; restart dvmilter "
	    "once the disk is sound", err);
	w->failed = true;
	log_error("outbox: %s: tracked mail is tempfailed from now on",
	    w->failed_err);
}

/* With the lock held: forget the new entries (now in the store). */
static void
pend_clear(struct ob_writer *w)
{
	for (size_t i = 0; i < w->npend; i++)
		pend_free(&w->pend[i]);
	w->npend = 0;
}

static void
recs_clear(struct ob_writer *w)
{
	for (size_t i = 0; i < w->nrecs; i++)
		free(w->recs[i].data);
	w->nrecs = 0;
}

/* Room for @n more records and new entries, before they are logged. */
static int
reserve(struct ob_writer *w, size_t n)
{
	if (w->nrecs + n > w->recs_cap) {
		size_t cap = w->recs_cap * 2 > w->nrecs + n ?
		    w->recs_cap * 2 : w->nrecs + n + 64;
		struct ob_rec *nr = realloc(w->recs, cap * sizeof(*nr));

		if (nr == NULL)
			return ENOMEM;
		w->recs = nr;
		w->recs_cap = cap;
	}
	if (w->npend + n > w->pend_cap) {
		size_t cap = w->pend_cap * 2 > w->npend + n ?
		    w->pend_cap * 2 : w->npend + n + 64;
		struct ob_pend *np = realloc(w->pend, cap * sizeof(*np));

		if (np == NULL)
			return ENOMEM;
		pthread_mutex_lock(&w->lock);
		w->pend = np;
		w->pend_cap = cap;
		pthread_mutex_unlock(&w->lock);
	}
	return 0;
}

/*
 * Put one message in @t, where @how says. A copy of a message a new
 * entry of the same transaction holds (@made, *nmade of them) is folded
 * into it: the index does not know that entry yet; a different message
 * with its Message-ID collides with it. A new entry joins @made.
 */
static int
put_one(struct ob_writer *w, struct store_txn *t, const struct outbox_item *it,
    struct ob_put how, struct ob_pend *made, size_t *nmade, uint64_t *last_id,
    uint64_t *id_r, const char **error_r)
{
	const struct ob_pend *same = NULL;
	const char *mid = it->message_id;
	int rc;

	if (how.merge_into == 0 &&
	    (same = pend_copy(made, *nmade, mid, it->digest)) != NULL)
		how.merge_into = same->id;
	else if (how.merge_into == 0 && !how.checked) {
		/* A record of an earlier dvmilter: check it now. */
		struct ob_put m = how;
		uint64_t copy;

		if ((rc = match(made, *nmade, NULL, 0, t, it, &m, &copy,
		    error_r)) != 0)
			return rc;
		how.collided_with = m.collided_with;
		how.checked = true;
	}
	how.defer_index = true;
	rc = ob_table_put(t, it, &how, w->plugins, id_r, error_r);
	while (rc == DV_EEXIST) {
		/* Another program put an entry under a reserved id. */
		log_error("outbox: %s; the message %s%s%s gets another id",
		    *error_r, mid != NULL ? "with Message-ID <" : "without a "
		    "Message-ID", mid != NULL ? mid : "", mid != NULL ? ">" :
		    "");
		how.id = ++*last_id;
		rc = ob_table_put(t, it, &how, w->plugins, id_r, error_r);
	}
	if (rc == 0 && *id_r != how.merge_into)
		made[(*nmade)++] = (struct ob_pend){ (char *)mid, *id_r,
		    it->received, (char *)it->digest, how.collided_with };
	return rc;
}

/* Put what the log holds beyond the store into @t (see put_one()). */
static int
put_logged(struct ob_writer *w, struct store_txn *t, struct ob_pend *made,
    size_t *nmade, uint64_t *last_id, const char **error_r)
{
	int rc = 0;

	for (size_t i = 0; i < w->nrecs && rc == 0; i++) {
		struct ob_logged q;
		uint64_t got;

		if ((rc = ob_item_decode(w->recs[i].data, w->recs[i].len,
		    &q)) == DV_ECORRUPT) {
			/* Checked when logged or read back: cannot be. */
			log_error("outbox: a logged message does not decode; "
			    "left out");
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = put_one(w, t, &q.it, q.how, made, nmade, last_id,
			    &got, error_r);
		else
			*error_r = dv_error_set("out of memory");
		ob_item_clear(&q);
	}
	return rc;
}

/* Put @n submissions straight into @t, each with an id of its own. */
static int
put_reqs(struct ob_writer *w, struct store_txn *t, struct ob_req **reqs,
    size_t n, struct ob_pend *made, size_t *nmade, uint64_t *last_id,
    const char **error_r)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct outbox_item *it = reqs[i]->it;
		struct ob_put how = { .id = ++*last_id };
		uint64_t copy;

		if ((rc = match(w->pend, w->npend, made, *nmade, t, it, &how,
		    &copy, error_r)) != 0)
			break;
		rc = put_one(w, t, it, how, made, nmade, last_id, &reqs[i]->id,
		    error_r);
		reqs[i]->collided = how.collided_with;
	}
	return rc;
}

/*
 * After store_logged()'s commit @txn: the store has everything up to
 * log position @end, so the writer forgets it, wakes the worker and,
 * with @sync, makes it durable.
 */
static int
logged_stored(struct ob_writer *w, uint64_t txn, uint64_t last_id,
    uint64_t end, bool woke, bool sync, const char **error_r)
{
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	w->last_id = last_id;
	w->applied = end;
	w->stale = false;
	w->index_commits++;
	if (w->npend > 0)
		w->indexed_txn = txn;
	pend_clear(w);
	pthread_mutex_unlock(&w->lock);
	recs_clear(w);
	if (woke && w->indexed != NULL)
		w->indexed();
	if (sync) {
		if ((rc = store_sync(w->store, error_r)) != 0) {
			fail_writer(w, *error_r);
			*error_r = w->failed_err;
		} else
			w->durable = end;
	}
	return rc;
}

/*
 * Store in one transaction what the log holds beyond the store, then
 * @nreqs submissions straight (each gets its id), index all of it and
 * record how far the log is stored. With @sync, make it durable. On
 * success the writer forgets the records and wakes the worker.
 */
static int
store_logged(struct ob_writer *w, struct ob_req **reqs, size_t nreqs,
    bool sync, const char **error_r)
{
	struct ob_index_hint *hints;
	struct ob_pend *made;
	struct store_txn *t = NULL;
	uint64_t last_id = w->last_id, end = ob_log_end(w->log), txn;
	size_t nmade = 0, nput = w->nrecs + nreqs;
	int rc;

	hints = malloc((w->npend + 1) * sizeof(*hints));
	made = malloc((nput + 1) * sizeof(*made));
	if (hints == NULL || made == NULL) {
		*error_r = dv_error_set("out of memory");
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->npend; i++)
		hints[i] = (struct ob_index_hint){ w->pend[i].id,
		    w->pend[i].mid, w->pend[i].received, w->pend[i].digest };
	if ((rc = store_txn_begin(w->store, true, &t, error_r)) != 0)
		goto out;
	if ((rc = put_logged(w, t, made, &nmade, &last_id, error_r)) == 0 &&
	    (rc = put_reqs(w, t, reqs, nreqs, made, &nmade, &last_id,
	    error_r)) == 0 &&
	    (rc = ob_table_index_pending(t, w->plugins, hints, w->npend,
	    SIZE_MAX, NULL, NULL, error_r)) == 0)
		rc = ob_table_log_state_put(t, ob_log_ident(w->log), end,
		    error_r);
	if (rc != 0) {
		store_txn_abort(t);
		goto out;
	}
	txn = ob_txn_id(t);
	if ((rc = store_txn_commit(t, error_r)) == 0)
		rc = logged_stored(w, txn, last_id, end, nput > 0, sync,
		    error_r);
out:
	free(hints);
	free(made);
	return rc;
}

/* Whether half the log is taken: the store's meta page is due a sync. */
static bool
log_half_full(const struct ob_writer *w)
{
	return ob_log_end(w->log) - w->durable > ob_log_ring(w->log) / 2;
}

/* A batch of submissions on its way into the log. */
struct ob_batch {
	struct ob_log_rec recs[OB_BATCH_MAX];	/* their payloads */
	size_t nrecs;
	struct ob_pend added[OB_BATCH_MAX];	/* the new entries */
	size_t nadded;
	uint64_t last_id;			/* the last id reserved */
};

static void
batch_free(struct ob_batch *b)
{
	for (size_t i = 0; i < b->nrecs; i++)
		free((void *)b->recs[i].data);
	for (size_t i = 0; i < b->nadded; i++)
		pend_free(&b->added[i]);
	b->nrecs = b->nadded = 0;
}

/*
 * Reserve an id for @it (into @how) and tell which entry it will be
 * (*id_r): a new one, which joins b->added, or the entry with its
 * Message-ID, logged (@how->merge_into) or in the index (@rt).
 */
static int
batch_id(struct ob_writer *w, struct store_txn *rt, struct ob_batch *b,
    const struct outbox_item *it, struct ob_put *how, uint64_t *id_r,
    const char **err)
{
	uint64_t copy;
	int rc;

	*how = (struct ob_put){ .id = ++b->last_id };
	*id_r = how->id;
	/* The same message again: the entry it joins. */
	if ((rc = match(w->pend, w->npend, b->added, b->nadded, rt, it,
	    how, &copy, err)) != 0)
		return rc;
	if (how->merge_into != 0 || copy != 0) {
		*id_r = how->merge_into != 0 ? how->merge_into : copy;
		return 0;
	}
	b->added[b->nadded] = (struct ob_pend){ NULL, how->id, it->received,
	    NULL, how->collided_with };
	if (pend_own(&b->added[b->nadded], it->message_id, it->digest) != 0) {
		*err = "out of memory";
		return ENOMEM;
	}
	b->nadded++;
	return 0;
}

/* Give each of @reqs its id and encode it into b->recs (@lens bytes). */
static int
batch_encode(struct ob_writer *w, struct ob_batch *b, struct ob_req **reqs,
    size_t n, const size_t *lens, const char **err)
{
	struct store_txn *rt;
	int rc;

	if ((rc = store_reader_txn(w->reader, &rt, err)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ob_put how;
		unsigned char *data = NULL;

		if ((rc = batch_id(w, rt, b, reqs[i]->it, &how, &reqs[i]->id,
		    err)) != 0)
			break;
		reqs[i]->collided = how.collided_with;
		if ((data = malloc(lens[i])) == NULL) {
			*err = "out of memory";
			rc = ENOMEM;
			break;
		}
		b->recs[b->nrecs++] = (struct ob_log_rec){ data, lens[i] };
		rc = ob_item_encode(reqs[i]->it, &how, data, lens[i]);
		if (rc != 0)
			*err = dv_error_set("reading the spooled message: %s",
			    strerror(rc));
	}
	store_txn_abort(rt);
	return rc;
}

/*
 * Room in the log for the batch: a full log must have what it holds in
 * the store, durably, first. If there is still none, *direct_r: the
 * batch goes straight into the store. DV_ESTORE if the writer failed.
 */
static int
batch_room(struct ob_writer *w, struct ob_batch *b, bool *direct_r,
    const char **err)
{
	if (ob_log_room(w->log, w->durable, b->recs, b->nrecs))
		return 0;
	if (store_logged(w, NULL, 0, true, err) == 0 &&
	    ob_log_room(w->log, w->durable, b->recs, b->nrecs))
		return 0;
	if (w->failed) {
		*err = w->failed_err;
		return DV_ESTORE;
	}
	log_warn("outbox: the log is full (%s): storing straight",
	    (*err)[0] != '\0' ? *err : "messages larger than it");
	*direct_r = true;
	return 0;
}

/* Append the batch in one write and sync; the writer keeps it. */
static int
batch_append(struct ob_writer *w, struct ob_batch *b, const char **err)
{
	int rc;

	if (reserve(w, b->nrecs) != 0) {
		*err = "out of memory";
		return ENOMEM;
	}
	if ((rc = ob_log_append(w->log, b->recs, b->nrecs, NULL, err)) != 0) {
		fail_writer(w, *err);
		*err = w->failed_err;
		return DV_ESTORE;
	}
	/* Durable: the writer keeps the records until the store has them. */
	for (size_t i = 0; i < b->nrecs; i++)
		w->recs[w->nrecs + i] = (struct ob_rec){
		    (unsigned char *)b->recs[i].data, b->recs[i].len };
	pthread_mutex_lock(&w->lock);
	if (w->nrecs == 0 && !w->stale)
		w->pend_since = mono_us();
	w->nrecs += b->nrecs;
	w->last_id = b->last_id;
	memcpy(w->pend + w->npend, b->added, b->nadded * sizeof(b->added[0]));
	w->npend += b->nadded;
	pthread_mutex_unlock(&w->lock);
	b->nrecs = b->nadded = 0;		/* the writer's now */
	return 0;
}

/*
 * Answer @reqs with @rc (and @err if it failed); returns @rc. A stored
 * message that reused another's Message-ID is logged, once it is
 * durable, with the MTA's queue id and both entries.
 */
static int
answer(struct ob_req **reqs, size_t n, int rc, const char *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct outbox_item *it = reqs[i]->it;

		reqs[i]->rc = rc;
		if (rc != 0)
			snprintf(reqs[i]->err, sizeof(reqs[i]->err), "%s", err);
		else if (reqs[i]->collided != 0)
			log_warn("%s: Message-ID <%s> is that of outbox entry "
			    "%llu, with other content: stored as outbox entry "
			    "%llu, collided_with=%llu", it->queue_id != NULL ?
			    it->queue_id : "NOQUEUE", it->message_id,
			    (unsigned long long)reqs[i]->collided,
			    (unsigned long long)reqs[i]->id,
			    (unsigned long long)reqs[i]->collided);
	}
	return rc;
}

/*
 * Log @reqs in one write and sync (or, too large for the log or with
 * the log full, store them straight); 0 if every one is durable. The
 * new entries join w->pend.
 */
static int
write_batch(struct ob_writer *w, struct ob_req **reqs, size_t n)
{
	struct ob_batch b = { .last_id = w->last_id };
	size_t lens[OB_BATCH_MAX];
	const char *err = "";
	bool direct = false;
	int rc = 0;

	if (w->failed)
		return answer(reqs, n, DV_ESTORE, w->failed_err);
	for (size_t i = 0; i < n; i++) {
		lens[i] = ob_item_size(reqs[i]->it);
		if (lens[i] == 0 || lens[i] > OB_LOG_MAX)
			direct = true;
	}
	if (!direct && (rc = batch_encode(w, &b, reqs, n, lens, &err)) == 0 &&
	    (rc = batch_room(w, &b, &direct, &err)) == 0 && !direct &&
	    (rc = batch_append(w, &b, &err)) == 0)
		return answer(reqs, n, 0, NULL);
	batch_free(&b);
	if (!direct)
		return answer(reqs, n, rc, err);
	rc = store_logged(w, reqs, n, true, &err);
	return answer(reqs, n, rc, err);
}

/*
 * Store what the log holds (and index what a failed start left), and
 * forget it; sync when asked or when half the log is taken.
 */
static void
store_all(struct ob_writer *w, bool sync)
{
	const char *err = "";

	if (w->failed)
		return;
	if (store_logged(w, NULL, 0, sync || log_half_full(w), &err) != 0) {
		if (w->failed)
			return;
		/* Kept in the log; the appends go on meanwhile. */
		log_error("outbox: storing logged messages: %s; trying again "
		    "in a second", err);
		w->index_retry_at = mono_us() + 1000000;
		return;
	}
	w->index_retry_at = 0;
	if (store_preallocate(w->store, OB_PREALLOC_LOW, OB_PREALLOC_CHUNK,
	    &err) != 0)
		log_warn("outbox: %s", err);
}

/* Whether logged messages wait for the store. */
static bool
unindexed(const struct ob_writer *w)
{
	return w->nrecs > 0 || w->stale;
}

/* With the lock held: whether to store now. */
static bool
index_due(const struct ob_writer *w, bool idle)
{
	int64_t age;

	if (!unindexed(w))
		return false;
	if (w->flush_req != w->flush_done)
		return true;	/* asked for: now, even after a failure */
	if (w->index_retry_at != 0 && mono_us() < w->index_retry_at)
		return false;
	if (log_half_full(w))
		return true;
	age = mono_us() - w->pend_since;
	return w->nrecs >= OB_INDEX_BATCH || age >= OB_INDEX_MAX_US ||
	    (idle && age >= OB_INDEX_IDLE_US);
}

/* With the lock held: wait for work, or until indexing is due. */
static void
wait_for_work(struct ob_writer *w)
{
	while (w->head == NULL && !w->stop && w->flush_req == w->flush_done &&
	    !index_due(w, true)) {
		int64_t at;

		if (!unindexed(w)) {
			pthread_cond_wait(&w->work, &w->lock);
			continue;
		}
		at = w->pend_since + OB_INDEX_IDLE_US;
		if (w->index_retry_at > at)
			at = w->index_retry_at;
		(void)wait_until(w, at);
	}
}

/*
 * With the lock held: store what the log holds now, as index_due() or
 * a flush asks; false once the writer is to stop.
 */
static bool
index_now(struct ob_writer *w)
{
	unsigned req = w->flush_req;
	bool sync = w->stop || req != w->flush_done;

	pthread_mutex_unlock(&w->lock);
	store_all(w, sync);
	pthread_mutex_lock(&w->lock);
	w->flush_done = req;	/* done, or failed: logged */
	pthread_cond_broadcast(&w->flushed);
	return !(w->head == NULL && w->stop);
}

/*
 * With the lock held: take the next batch off the list into @batch.
 * Messages still arriving will want a commit of their own in a moment:
 * wait a little for them first, so that one sync serves them all
 * (PostgreSQL's commit_delay, but only while there are messages to wait
 * for).
 */
static size_t
take_batch(struct ob_writer *w, struct ob_req **batch)
{
	size_t n = 0, bytes = 0;

	if (w->queued < w->expected && w->queued < OB_BATCH_MAX) {
		int64_t until = mono_us() + OB_DELAY_US;

		while (w->queued < w->expected &&
		    w->queued < OB_BATCH_MAX && !w->stop &&
		    wait_until(w, until) == 0)
			;
	}
	/*
	 * LMDB keeps a transaction's new pages in memory until the commit,
	 * so the batch is bounded in bytes as well: the first message
	 * always goes, more only while they fit.
	 */
	while (w->head != NULL && n < OB_BATCH_MAX && (n == 0 ||
	    w->head->it->raw_len <= OB_BATCH_BYTES - bytes)) {
		bytes += w->head->it->raw_len < OB_BATCH_BYTES ?
		    w->head->it->raw_len : OB_BATCH_BYTES;
		batch[n++] = w->head;
		w->head = w->head->next;
		w->queued--;
	}
	if (w->head == NULL)
		w->tail = NULL;
	return n;
}

static void finish(struct ob_writer *w, struct ob_req *r);

/* With the lock held: log the next batch and answer its submitters. */
static void
commit_batch(struct ob_writer *w)
{
	struct ob_req *batch[OB_BATCH_MAX];
	size_t n = take_batch(w, batch);

	pthread_mutex_unlock(&w->lock);
	/* One commit for the batch; on failure isolate the culprit. */
	if (write_batch(w, batch, n) != 0 && n > 1 && !w->failed)
		for (size_t i = 0; i < n; i++)
			write_batch(w, &batch[i], 1);
	pthread_mutex_lock(&w->lock);
	w->messages += n;
	w->commits++;
	for (size_t i = 0; i < n; i++)
		finish(w, batch[i]);
}

static void *
writer_main(void *arg)
{
	struct ob_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		wait_for_work(w);
		if (w->flush_req != w->flush_done && !unindexed(w)) {
			w->flush_done = w->flush_req;
			pthread_cond_broadcast(&w->flushed);
		}
		if (index_due(w, w->head == NULL) ||
		    (w->head == NULL && w->stop && unindexed(w))) {
			if (!index_now(w))
				break;
			continue;
		}
		if (w->head == NULL && w->stop)
			break;
		if (w->head != NULL)
			commit_batch(w);
	}
	pthread_mutex_unlock(&w->lock);
	/* Stopping: leave the store's last commit durable too. */
	if (!w->failed && w->durable != w->applied) {
		const char *err;

		if (store_sync(w->store, &err) != 0)
			log_error("outbox: %s", err);
		else
			w->durable = w->applied;
	}
	return NULL;
}

/* With the lock held: answer one submission. */
static void
finish(struct ob_writer *w, struct ob_req *r)
{
	w->store_us += (uint64_t)(mono_us() - r->queued_at);
	r->done = true;
	pthread_cond_signal(&r->cond);
}

/* Free what the writer holds (its thread has ended). */
static void
writer_free(struct ob_writer *w)
{
	pend_clear(w);
	free(w->pend);
	recs_clear(w);
	free(w->recs);
	ob_log_close(w->log);
	store_reader_close(w->reader);
	plugins_free(w->plugins);
	free(w);
}

/* ob_log_open()'s replay: keep each record the store does not have. */
static int
replay_one(const struct ob_log_rec *rec, uint64_t lsn, void *arg)
{
	struct ob_writer *w = arg;
	unsigned char *copy;

	(void)lsn;
	if (reserve(w, 1) != 0 || (copy = malloc(rec->len > 0 ? rec->len : 1)) == NULL)
		return ENOMEM;
	memcpy(copy, rec->data, rec->len);
	w->recs[w->nrecs++] = (struct ob_rec){ copy, rec->len };
	return 0;
}

/*
 * The ids and new entries of the records read back, as write_batch()
 * knew them, so that the milter finds them until they are stored.
 */
static int
replay_pend(struct ob_writer *w, const char **error_r)
{
	struct store_txn *t;
	int rc;

	if ((rc = store_txn_begin(w->store, false, &t, error_r)) != 0)
		return rc;
	for (size_t i = 0; i < w->nrecs && rc == 0; i++) {
		struct ob_logged q;
		struct ob_put how;
		uint64_t copy;

		if (ob_item_decode(w->recs[i].data, w->recs[i].len, &q) != 0)
			continue;	/* left out when stored, and said so */
		if (q.how.id > w->last_id)
			w->last_id = q.how.id;
		how = q.how;
		/* As batch_id() found it; a record of an earlier dvmilter
		 * (not checked) as ob_table_put() will. */
		if (q.how.merge_into == 0 && (rc = match(w->pend, w->npend,
		    NULL, 0, t, &q.it, &how, &copy, error_r)) == 0 &&
		    how.merge_into == 0 && copy == 0) {
			w->pend[w->npend] = (struct ob_pend){ NULL, q.how.id,
			    q.it.received, NULL, q.how.checked ?
			    q.how.collided_with : how.collided_with };
			if ((rc = pend_own(&w->pend[w->npend], q.it.message_id,
			    q.it.digest)) != 0)
				*error_r = dv_error_set("out of memory");
			else
				w->npend++;
		}
		ob_item_clear(&q);
	}
	store_txn_abort(t);
	return rc;
}

/*
 * Open the log and store what it holds beyond the store, and what an
 * earlier run stored and did not index; the store then records this
 * log as its own.
 */
static int
recover(struct ob_writer *w, const char *log_path, const char **error_r)
{
	struct store_txn *t;
	uint64_t ident, applied;
	size_t replayed;
	int rc;

	if ((rc = store_txn_begin(w->store, false, &t, error_r)) != 0)
		return rc;
	if ((rc = ob_table_last_id(t, &w->last_id, error_r)) == 0)
		rc = ob_table_log_state(t, &ident, &applied, error_r);
	store_txn_abort(t);
	if (rc != 0 || (rc = ob_log_open(log_path, OB_LOG_RING, ident, applied,
	    replay_one, w, &w->log, error_r)) != 0)
		return rc;
	if (ident != 0 && ob_log_ident(w->log) != ident)
		log_warn("outbox: the log %s is new; any message the one "
		    "before held and this store did not have is lost",
		    log_path);
	if ((rc = reserve(w, w->nrecs)) != 0) {
		*error_r = dv_error_set("out of memory");
		return rc;
	}
	if ((rc = replay_pend(w, error_r)) != 0)
		return rc;
	replayed = w->nrecs;
	w->durable = w->applied = applied;
	if (store_logged(w, NULL, 0, true, error_r) != 0) {
		/* The writer tries again, every second, and says so. */
		log_error("outbox: storing what the log holds: %s", *error_r);
		w->stale = true;
		w->pend_since = mono_us();
		return 0;
	}
	if (replayed > 0)
		log_notice("outbox: stored %zu message%s the log held from "
		    "before the last stop", replayed, replayed == 1 ? "" :
		    "s");
	return 0;
}

int
ob_writer_start(struct store *store, const char *log_path,
    char *const *plugins, void (*indexed)(void), struct ob_writer **w_r,
    const char **error_r)
{
	struct ob_writer *w = calloc(1, sizeof(*w));
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
	if ((rc = store_reader_open(store, &w->reader, error_r)) != 0 ||
	    (rc = recover(w, log_path, error_r)) != 0)
		goto fail;
	if (store_preallocate(store, OB_PREALLOC_LOW, OB_PREALLOC_CHUNK,
	    error_r) != 0)
		log_warn("outbox: %s", *error_r);
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		*error_r = dv_error_set("cannot start the outbox writer: %s",
		    strerror(rc));
		goto fail;
	}
	*w_r = w;
	return 0;
oom:
	if (w != NULL)
		plugins_free(w->plugins);
	free(w);
	*error_r = dv_error_set("out of memory");
	return ENOMEM;
fail:
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->flushed);
	writer_free(w);
	return rc;
}

int
ob_writer_submit(struct ob_writer *w, const struct outbox_item *it,
    bool it_was_expected, uint64_t *id_r, char *err, size_t errsz)
{
	struct ob_req r = { .it = it };

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
ob_writer_find_message_id(struct ob_writer *w, const char *mid,
    uint64_t *id_r, uint64_t *indexed_r)
{
	const struct ob_pend *p;

	pthread_mutex_lock(&w->lock);
	/* Not one that reused an earlier entry's Message-ID: the index has
	 * that earlier one, or this list does. */
	if ((p = pend_first(w->pend, w->npend, mid)) != NULL)
		*id_r = p->id;
	else if (indexed_r != NULL)
		*indexed_r = w->indexed_txn;
	pthread_mutex_unlock(&w->lock);
	return p != NULL;
}

void
ob_writer_flush(struct ob_writer *w)
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
ob_writer_stop(struct ob_writer *w)
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
	writer_free(w);
}

void
ob_writer_expect(struct ob_writer *w, int delta)
{
	pthread_mutex_lock(&w->lock);
	if (delta > 0)
		w->expected++;
	else if (w->expected > 0)
		w->expected--;
	pthread_mutex_unlock(&w->lock);
}

size_t
ob_writer_waiting(struct ob_writer *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->queued;
	pthread_mutex_unlock(&w->lock);
	return n;
}

size_t
ob_writer_pending(struct ob_writer *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->nrecs;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
ob_writer_stats(struct ob_writer *w, uint64_t *messages, uint64_t *commits,
    uint64_t *index_commits, uint64_t *store_us)
{
	pthread_mutex_lock(&w->lock);
	*messages = w->messages;
	*commits = w->commits;
	*index_commits = w->index_commits;
	*store_us = w->store_us;
	pthread_mutex_unlock(&w->lock);
}

/*
 * caserate.c - CaseRateLimit's counters (caserate.h says what they
 * count and why).
 *
 * Each table is an array of sets of WAYS slots. A key is stored as 16
 * bytes of SHA-256(salt, key), the salt random per process, so two keys
 * never share a counter in practice and nobody can aim keys at one set.
 * A key not in its set takes an empty slot, else one whose window has
 * ended, else the one used least recently: memory is fixed, and a flood
 * of fresh keys only ever costs the oldest entries. Losing an entry
 * gives that key a fresh allowance, which is why the per-queue limit,
 * whose keys are the site's own mailboxes, is kept in a table of its own
 * that sender keys cannot evict from.
 *
 * It does not read the clock, log, or know the configuration.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "addr.h"
#include "caserate.h"
#include "status.h"

#define WAYS		8
#define DIGEST		16

struct slot {
	unsigned char key[DIGEST];
	int64_t start;		/* the window opened; 0: an empty slot */
	int64_t used;		/* last looked up */
	unsigned count;		/* admitted in the window */
};

struct table {
	struct slot *slots;
	size_t nsets;
	int64_t window;
};

struct caserate {
	pthread_mutex_t lock;
	unsigned char salt[32];
	struct table senders, queues;
};

static int
table_init(struct table *t, size_t slots, int64_t window)
{
	if (slots < WAYS || slots % WAYS != 0)
		return DV_EINVAL;
	if ((t->slots = calloc(slots, sizeof(*t->slots))) == NULL)
		return ENOMEM;
	t->nsets = slots / WAYS;
	t->window = window;
	return 0;
}

int
caserate_new(size_t sender_slots, size_t queue_slots, struct caserate **cr_r)
{
	struct caserate *cr = calloc(1, sizeof(*cr));
	int rc;

	*cr_r = NULL;
	if (cr == NULL)
		return ENOMEM;
	if (getrandom(cr->salt, sizeof(cr->salt), 0) !=
	    (ssize_t)sizeof(cr->salt)) {
		free(cr);
		return errno != 0 ? errno : EIO;
	}
	if ((rc = table_init(&cr->senders, sender_slots,
	    CASERATE_SENDER_WINDOW)) != 0 ||
	    (rc = table_init(&cr->queues, queue_slots,
	    CASERATE_QUEUE_WINDOW)) != 0) {
		free(cr->senders.slots);
		free(cr);
		return rc;
	}
	pthread_mutex_init(&cr->lock, NULL);
	*cr_r = cr;
	return 0;
}

void
caserate_free(struct caserate *cr)
{
	if (cr == NULL)
		return;
	pthread_mutex_destroy(&cr->lock);
	free(cr->senders.slots);
	free(cr->queues.slots);
	free(cr);
}

void
caserate_sender_key(const char *env_from, char out[CASERATE_KEY_MAX + 1])
{
	const char *err;
	int rc;

	if (env_from == NULL || env_from[0] == '\0') {
		snprintf(out, CASERATE_KEY_MAX + 1, CASERATE_NULL_SENDER);
		return;
	}
	rc = addr_normalize(env_from, "+", out, CASERATE_KEY_MAX + 1, &err);
	if (rc == DV_EEMPTY)
		snprintf(out, CASERATE_KEY_MAX + 1, CASERATE_NULL_SENDER);
	else if (rc != 0)
		snprintf(out, CASERATE_KEY_MAX + 1, CASERATE_INVALID_SENDER);
}

/* The salted digest of @key; false only if OpenSSL fails. */
static bool
digest(const struct caserate *cr, const char *key, unsigned char d[DIGEST])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	bool ok;

	ok = x != NULL && EVP_DigestInit_ex(x, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(x, cr->salt, sizeof(cr->salt)) == 1 &&
	    EVP_DigestUpdate(x, key, strlen(key)) == 1 &&
	    EVP_DigestFinal_ex(x, md, &n) == 1 && n >= DIGEST;
	EVP_MD_CTX_free(x);
	if (ok)
		memcpy(d, md, DIGEST);
	return ok;
}

/*
 * The slot of @d in @t, its window restarted if it ended; a new key
 * takes the slot its set can spare best.
 */
static struct slot *
lookup(struct table *t, const unsigned char d[DIGEST], int64_t now)
{
	uint64_t h = 0;
	struct slot *set, *victim = NULL, *s = NULL;

	for (int i = 0; i < 8; i++)
		h = h << 8 | d[i];
	set = &t->slots[(h % t->nsets) * WAYS];
	for (int i = 0; i < WAYS && s == NULL; i++)
		if (set[i].start != 0 && memcmp(set[i].key, d, DIGEST) == 0)
			s = &set[i];
	for (int i = 0; i < WAYS && s == NULL; i++) {
		struct slot *c = &set[i];

		if (c->start == 0 || now - c->start >= t->window) {
			victim = c;
			break;
		}
		if (victim == NULL || c->used < victim->used)
			victim = c;
	}
	if (s == NULL) {
		s = victim;
		memcpy(s->key, d, DIGEST);
		s->start = 0;
	}
	if (s->start == 0 || now - s->start >= t->window) {
		s->start = now != 0 ? now : 1;
		s->count = 0;
	}
	s->used = now;
	return s;
}

/* Whether @s may take one more under @limit; else @res says why. */
static bool
room(const struct table *t, const struct slot *s, unsigned limit,
    int64_t now, struct caserate_result *res)
{
	if (limit == 0 || s->count < limit)
		return true;
	res->count = s->count;
	res->retry_in = s->start + t->window - now;
	return false;
}

void
caserate_admit(struct caserate *cr, const struct caserate_limits *lim,
    const char *sender, const char *const *queues, size_t nqueues,
    int64_t now, struct caserate_result *res)
{
	unsigned char d[DIGEST];
	struct slot *ss = NULL, *qs[16];
	size_t nq = nqueues < 16 ? nqueues : 16;

	memset(res, 0, sizeof(*res));
	if (lim->per_sender == 0 && lim->per_queue == 0)
		return;
	pthread_mutex_lock(&cr->lock);
	/* Bounces from everyone share "<>": no allowance of their own. */
	if (lim->per_sender > 0 && strcmp(sender, CASERATE_NULL_SENDER) != 0 &&
	    strcmp(sender, CASERATE_INVALID_SENDER) != 0 &&
	    digest(cr, sender, d)) {
		ss = lookup(&cr->senders, d, now);
		if (!room(&cr->senders, ss, lim->per_sender, now, res)) {
			res->verdict = CASERATE_SENDER;
			goto out;
		}
	}
	for (size_t i = 0; i < nq; i++) {
		qs[i] = NULL;
		if (lim->per_queue == 0 || !digest(cr, queues[i], d))
			continue;
		qs[i] = lookup(&cr->queues, d, now);
		if (!room(&cr->queues, qs[i], lim->per_queue, now, res)) {
			res->verdict = CASERATE_QUEUE;
			res->queue = i;
			goto out;
		}
	}
	if (ss != NULL)
		ss->count++;
	for (size_t i = 0; i < nq; i++)
		if (qs[i] != NULL)
			qs[i]->count++;
out:
	pthread_mutex_unlock(&cr->lock);
}

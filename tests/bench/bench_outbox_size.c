/*
 * bench_outbox_size.c - how much room a tracked message takes in the
 * outbox, with its text and after retention removed it.
 *
 * In a new store it queues N entries (default 20,000) of SIZE bytes
 * (default 2048) for one plugin, 100 per transaction, each with a
 * realistic envelope, decision and Message-ID, and records each delivery
 * done; it measures the pages in use (LMDB's last page number). Then it
 * prunes them all with outbox_prune_scan()/outbox_prune(), as the
 * worker does, and queues N more, which go into the pages the pruning
 * freed as far as LMDB can reuse them: what they add to the pages in use
 * is the steady-state growth per message with retention (what a pruned
 * entry keeps, plus freed room too fragmented for the new entries'
 * multi-page records). Prints bytes per entry for both.
 *
 * usage: bench_outbox_size [-n ENTRIES] [-s SIZE] NEWSTOREDIR
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "outbox.h"
#include "store.h"
#include "store_int.h"

static const char decision[] = "{\"direction\":\"incoming\",\"mailboxes\":"
    "[{\"address\":\"support@example.com\",\"type\":\"queue\","
    "\"role\":\"recipient\"}]}";

static size_t
pages_used(struct store *st)
{
	MDB_envinfo ei;
	MDB_stat ms;

	mdb_env_info(st->env, &ei);
	mdb_env_stat(st->env, &ms);
	return (ei.me_last_pgno + 1) * (size_t)ms.ms_psize;
}

static void
fail(const char *what, const char *err)
{
	fprintf(stderr, "bench_outbox_size: %s: %s\n", what, err);
	exit(1);
}

/* Entries @from .. @from + @n - 1, each delivered (done) at once. */
static void
fill(struct store *st, struct outbox *ob, int from, int n, const char *raw,
    size_t size)
{
	const char *rcpts[] = { "support@example.com" };
	const struct retry_policy pol = RETRY_POLICY_DEFAULT;
	struct store_txn *t;
	const char *err;
	char mid[80];

	for (int i = from; i < from + n; i += 100) {
		if (store_txn_begin(st, true, &t, &err) != 0)
			fail("begin", err);
		for (int j = i; j < i + 100 && j < from + n; j++) {
			struct outbox_item it = { .received = 1000,
			    .queue_id = "4FqZ2sK1zT", .envelope_from =
			    "customer@ext.example", .rcpts = rcpts,
			    .nrcpts = 1, .message_id = mid, .decision = decision,
			    .raw = raw, .raw_len = size };
			uint64_t id;
			struct outbox_attempt a = { .plugin = "local",
			    .result = OUTBOX_OK,
			    .activity_id = "00000000000004d2",
			    .case_id = "5f2c1d1e-1111-2222-3333-444455556666",
			    .now = 1000, .policy = &pol, .jitter = 0.5 };

			snprintf(mid, sizeof(mid), "20261128.%08d.4f2a@mail."
			    "ext.example", j);
			if (outbox_put(ob, t, &it, &id, &err) != 0)
				fail("queue", err);
			a.id = id;
			if (outbox_record(ob, t, &a, NULL, &err) != 0)
				fail("queue", err);
		}
		if (store_txn_commit(t, &err) != 0)
			fail("commit", err);
	}
}

int
main(int argc, char **argv)
{
	struct store_opts o = { .mapsize = (size_t)8 << 30, .create = true };
	static char p_local[] = "local";
	char *const plugins[] = { p_local, NULL };
	struct outbox_prune_pos pos = { 0 };
	struct outbox *ob;
	size_t size = 2048, u0, u1, u2, u3, total = 0;
	struct store *st;
	struct store_txn *t;
	const char *err;
	char *raw;
	int n = 20000, ch;
	bool more;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
		case 'n': n = atoi(optarg); break;
		case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || n <= 0 || size == 0)
		goto usage;
	if ((raw = malloc(size)) == NULL)
		fail("malloc", "out of memory");
	memset(raw, 'x', size);
	if (store_open(argv[optind], &o, &st, &err) != 0)
		fail("store", err);
	u0 = pages_used(st);
	if (outbox_open(st, &(const struct outbox_opts){ .plugins = plugins },
	    &ob, &err) != 0)
		fail("outbox", err);
	fill(st, ob, 0, n, raw, size);
	u1 = pages_used(st);
	do {
		uint64_t ids[256];
		size_t k, pruned;

		if (store_txn_begin(st, false, &t, &err) != 0 ||
		    outbox_prune_scan(ob, t, 2000, 256, &pos, ids, &k, &more,
		    &err) != 0)
			fail("scan", err);
		store_txn_abort(t);
		if (store_txn_begin(st, true, &t, &err) != 0 ||
		    outbox_prune(ob, t, ids, k, 2000, 3000, &pruned,
		    &err) != 0 || store_txn_commit(t, &err) != 0)
			fail("prune", err);
		total += pruned;
	} while (more);
	u2 = pages_used(st);
	fill(st, ob, n, n, raw, size);
	u3 = pages_used(st);
	printf("%d entries of %zu bytes, delivered: %.0f bytes each in the store\n",
	    n, size, (double)(u1 - u0) / n);
	printf("pruned %zu; then %d more grew the store by %.0f bytes each\n"
	    "  (what a pruned entry keeps, plus room LMDB could not reuse)\n",
	    total, n, (double)(u3 - u2) / n);
	outbox_close(ob);
	store_close(st);
	free(raw);
	return 0;
usage:
	fprintf(stderr, "usage: bench_outbox_size [-n ENTRIES] [-s SIZE] "
	    "NEWSTOREDIR\n");
	return 2;
}

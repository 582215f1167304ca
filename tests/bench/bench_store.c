/*
 * bench_store.c - how many RCPT decisions per second one thread makes.
 *
 * It creates (or reuses) an LMDB store of N mailboxes (default 1,000,000:
 * user0000000@bench.example ..., every tenth pending, the rest approved)
 * in one write transaction, then times policy_rcpt() - the exact code the
 * milter runs at RCPT TO: address normalisation, one LMDB read through a
 * store_reader, the decision and its reply text - on random addresses,
 * nine in ten of which have a mailbox. Each address is written into one
 * small buffer just before its decision, as the MTA's would be: a table
 * of pre-formatted addresses larger than the CPU cache would charge a
 * cache miss per decision that the milter never pays. Logging and the
 * milter protocol are not included; tests/bench/run.sh measures those
 * end to end.
 *
 * usage: bench_store [-n MAILBOXES] [-t SECONDS] STOREDIR
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "mbox.h"
#include "policy.h"
#include "status.h"
#include "store.h"

#define BATCH		100000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Write the address of mailbox number i (or, if !exists, an address with
 * no mailbox) into raw: "<user0001234@bench.example>". Cheaper than
 * snprintf by an order of magnitude, so the timing is policy_rcpt's.
 */
static void
make_raw(char *raw, size_t rawsz, unsigned long i, bool exists)
{
	static const char user[] = "<user0000000@bench.example>";
	static const char nobody[] = "<nobody0000000@bench.example>";
	const char *tmpl = exists ? user : nobody;
	size_t len = strlen(tmpl), digit0 = exists ? 5 : 7;

	if (len >= rawsz)
		abort();
	memcpy(raw, tmpl, len + 1);
	for (size_t p = digit0 + 7; p-- > digit0; i /= 10)
		raw[p] = (char)('0' + i % 10);
}

static int
parse_count(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (v[0] == '\0' || v[0] == '-' || *end != '\0' || errno != 0 ||
	    n == 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

/* Fill an empty store, or check that an existing one has n mailboxes. */
static int
fill(struct store *st, unsigned long n)
{
	struct store_txn *txn = NULL;
	struct mbox mb;
	char addr[64];
	const char *err;
	size_t have;
	double t0;

	if (store_txn_begin(st, true, &txn, &err) != 0 ||
	    store_mailbox_count(txn, &have, &err) != 0)
		goto fail;
	if (have == n) {
		store_txn_abort(txn);
		printf("store: reusing %lu mailboxes in %s\n", n, store_path(st));
		return 0;
	}
	if (have != 0) {
		store_txn_abort(txn);
		fprintf(stderr, "bench_store: %s holds %zu mailboxes, not %lu; "
		    "remove it first\n", store_path(st), have, n);
		return -1;
	}
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "user%07lu@bench.example", i);
		mbox_init(&mb, addr, MBOX_USER);
		mb.pol.approval = i % 10 == 0 ? MBOX_APPROVAL_PENDING :
		    MBOX_APPROVAL_APPROVED;
		if (store_mailbox_put(txn, &mb, STORE_PUT_UPSERT, &err) != 0)
			goto fail;
	}
	if (store_txn_commit(txn, &err) != 0) {
		txn = NULL;
		goto fail;
	}
	printf("store: created %lu mailboxes in %s in %.2f s (one write "
	    "transaction)\n", n, store_path(st), now() - t0);
	return 0;
fail:
	store_txn_abort(txn);
	fprintf(stderr, "bench_store: %s\n", err);
	return -1;
}

int
main(int argc, char **argv)
{
	struct store_opts opts = { .create = true };
	struct store *st = NULL;
	struct store_reader *rd = NULL;
	struct conf *conf = NULL;
	struct decision d;
	unsigned long n = 1000000, secs = 3, count[3] = { 0 }, total = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	char raw[64];
	const char *err;
	double t0, el;
	int ch, rc = 1;

	while ((ch = getopt(argc, argv, "n:t:")) != -1) {
		switch (ch) {
		case 'n':
			if (parse_count(optarg, 10000000, &n) != 0) {
				fprintf(stderr, "bench_store: -n takes 1.."
				    "10000000\n");
				return 2;
			}
			break;
		case 't':
			if (parse_count(optarg, 3600, &secs) != 0) {
				fprintf(stderr, "bench_store: -t takes 1..3600\n");
				return 2;
			}
			break;
		default:
			goto usage;
		}
	}
	if (optind + 1 != argc)
		goto usage;

	if (store_open(argv[optind], &opts, &st, &err) != 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	if (fill(st, n) != 0)
		goto out;
	if (conf_defaults(&conf) != 0) {
		fprintf(stderr, "bench_store: cannot build the default config\n");
		goto out;
	}
	if (store_reader_open(st, &rd, &err) != 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		goto out;
	}
	/* Warm the page cache and the reader before timing. */
	for (unsigned long i = 0; i < n; i += 7) {
		make_raw(raw, sizeof(raw), i, true);
		policy_rcpt(conf, rd, raw, 1, &d);
	}

	t0 = now();
	do {
		for (unsigned i = 0; i < BATCH; i++) {
			uint64_t r = xorshift(&seed);

			/* One address in ten has no mailbox. */
			make_raw(raw, sizeof(raw), (unsigned long)((r >> 8) % n),
			    r % 10 != 9);
			policy_rcpt(conf, rd, raw, 1, &d);
			count[d.verdict]++;
		}
		total += BATCH;
		el = now() - t0;
	} while (el < (double)secs);

	printf("decisions: %lu random RCPT decisions in %.2f s on one thread\n",
	    total, el);
	printf("verdicts: %lu continue, %lu reject, %lu tempfail\n",
	    count[VERDICT_CONTINUE], count[VERDICT_REJECT],
	    count[VERDICT_TEMPFAIL]);
	printf("rate: %.0f decisions/s (target >= 1000000: %s)\n",
	    (double)total / el, (double)total / el >= 1e6 ? "met" : "NOT met");
	rc = count[VERDICT_TEMPFAIL] == 0 ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "bench_store: store errors during the run\n");
out:
	store_reader_close(rd);
	conf_unref(conf);
	store_close(st);
	return rc;
usage:
	fprintf(stderr, "usage: bench_store [-n MAILBOXES] [-t SECONDS] "
	    "STOREDIR\n");
	return 2;
}

/*
 * test_caserate.c - CaseRateLimit's counters with an injected clock:
 * per sender per hour and per queue per minute, subaddresses share one
 * allowance, refusals count for nothing, windows end, and a spray of
 * fresh senders neither grows the table nor evicts a queue's count.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "caserate.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1000000

static void
sender_keys_drop_the_subaddress_and_lower_case(void **state)
{
	static const struct { const char *in, *key; } cases[] = {
		{ "victim+1@Example.COM", "victim@example.com" },
		{ "<Victim+2@example.com>", "victim@example.com" },
		{ "victim@example.com", "victim@example.com" },
		{ "victim+a+b@example.com", "victim@example.com" },
		/* "+" only: not SubaddressSeparator's other characters. */
		{ "mary-ann@example.com", "mary-ann@example.com" },
		{ "kunde+x@B\xc3\xbc" "cher.example",
		    "kunde@xn--bcher-kva.example" },
		{ "", "<>" },
		{ "<>", "<>" },
		{ NULL, "<>" },
		{ "not an address", "<invalid>" },
		{ "a@b@c", "<invalid>" },
	};
	char key[CASERATE_KEY_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		caserate_sender_key(cases[i].in, key);
		if (strcmp(key, cases[i].key) != 0)
			fail_msg("%s: got %s, want %s", cases[i].in
			    ? cases[i].in : "(null)", key, cases[i].key);
	}
}

/* One step of a scenario: at T0 + t, a case from @sender to @queue. */
struct step {
	int64_t t;
	const char *sender, *queue;
	enum caserate_verdict want;
};

static void
run(const struct caserate_limits *lim, const struct step *s, size_t n)
{
	struct caserate *cr;
	struct caserate_result r;

	assert_int_equal(caserate_new(64, 16, &cr), 0);
	for (size_t i = 0; i < n; i++) {
		const char *q[] = { s[i].queue };
		char key[CASERATE_KEY_MAX + 1];

		caserate_sender_key(s[i].sender, key);
		caserate_admit(cr, lim, key, q, 1, T0 + s[i].t, &r);
		if (r.verdict != s[i].want)
			fail_msg("step %zu (%s at %lld): verdict %d, want %d", i,
			    s[i].sender, (long long)s[i].t, r.verdict,
			    s[i].want);
	}
	caserate_free(cr);
}

static void
a_sender_gets_its_allowance_per_hour_whatever_its_subaddress(void **state)
{
	static const struct caserate_limits lim = { 3, 0 };
	static const struct step steps[] = {
		{ 0, "victim+1@x.example", "support@example.com", CASERATE_OK },
		{ 1, "victim+2@x.example", "support@example.com", CASERATE_OK },
		{ 2, "VICTIM@x.example", "sales@example.com", CASERATE_OK },
		{ 3, "victim+4@x.example", "support@example.com",
		    CASERATE_SENDER },
		/* Refused tries count for nothing; others are not hurt. */
		{ 4, "victim+5@x.example", "support@example.com",
		    CASERATE_SENDER },
		{ 5, "other@x.example", "support@example.com", CASERATE_OK },
		{ 3599, "victim+6@x.example", "support@example.com",
		    CASERATE_SENDER },
		/* The window opened at the first case: an hour later, anew. */
		{ 3600, "victim+7@x.example", "support@example.com",
		    CASERATE_OK },
		{ 3601, "victim@x.example", "support@example.com", CASERATE_OK },
	};

	(void)state;
	run(&lim, steps, N(steps));
}

/*
 * Bounces (the null sender) and unparsable senders share no sender
 * allowance: only the queue's limit holds them.
 */
static void
the_null_sender_has_only_the_queue_limit(void **state)
{
	static const struct caserate_limits lim = { 1, 3 };
	static const struct step steps[] = {
		{ 0, "", "support@example.com", CASERATE_OK },
		{ 1, "<>", "support@example.com", CASERATE_OK },
		{ 2, NULL, "support@example.com", CASERATE_OK },
		{ 3, "", "support@example.com", CASERATE_QUEUE },
		{ 4, "", "sales@example.com", CASERATE_OK },
		{ 5, "not an address", "sales@example.com", CASERATE_OK },
		{ 6, "a@b@c", "sales@example.com", CASERATE_OK },
		{ 7, "not an address", "sales@example.com", CASERATE_QUEUE },
		/* A minute later, more, well past the sender limit of 1. */
		{ 60, "", "support@example.com", CASERATE_OK },
		{ 61, "a@b@c", "support@example.com", CASERATE_OK },
		/* A real sender still has its limit. */
		{ 62, "x@x.example", "other@example.com", CASERATE_OK },
		{ 63, "x@x.example", "third@example.com", CASERATE_SENDER },
	};

	(void)state;
	run(&lim, steps, N(steps));
}

static void
a_queue_takes_its_limit_per_minute_from_every_sender(void **state)
{
	static const struct caserate_limits lim = { 0, 2 };
	static const struct step steps[] = {
		{ 0, "a@x.example", "support@example.com", CASERATE_OK },
		{ 1, "b@x.example", "support@example.com", CASERATE_OK },
		{ 2, "c@x.example", "support@example.com", CASERATE_QUEUE },
		{ 3, "c@x.example", "sales@example.com", CASERATE_OK },
		{ 59, "d@x.example", "support@example.com", CASERATE_QUEUE },
		{ 60, "d@x.example", "support@example.com", CASERATE_OK },
	};

	(void)state;
	run(&lim, steps, N(steps));
}

/* Over the queue's limit, the sender's allowance is not used up. */
static void
a_refusal_by_one_limit_counts_against_neither(void **state)
{
	static const struct caserate_limits lim = { 2, 1 };
	static const struct step steps[] = {
		{ 0, "a@x.example", "support@example.com", CASERATE_OK },
		{ 1, "b@x.example", "support@example.com", CASERATE_QUEUE },
		{ 2, "b@x.example", "support@example.com", CASERATE_QUEUE },
		{ 60, "b@x.example", "support@example.com", CASERATE_OK },
		{ 120, "b@x.example", "support@example.com", CASERATE_OK },
		{ 180, "b@x.example", "support@example.com", CASERATE_SENDER },
	};

	(void)state;
	run(&lim, steps, N(steps));
}

static void
zero_turns_each_limit_off(void **state)
{
	static const struct caserate_limits off = { 0, 0 };
	struct step steps[50];

	(void)state;
	for (size_t i = 0; i < N(steps); i++)
		steps[i] = (struct step){ (int64_t)i, "a@x.example",
		    "support@example.com", CASERATE_OK };
	run(&off, steps, N(steps));
}

static void
the_refusal_says_which_queue_and_how_long_to_wait(void **state)
{
	static const struct caserate_limits lim = { 0, 1 };
	const char *q[] = { "sales@example.com", "support@example.com" };
	const char *q1[] = { "support@example.com" };
	struct caserate *cr;
	struct caserate_result r;

	(void)state;
	assert_int_equal(caserate_new(64, 16, &cr), 0);
	caserate_admit(cr, &lim, "a@x.example", q1, 1, T0, &r);
	assert_int_equal(r.verdict, CASERATE_OK);
	caserate_admit(cr, &lim, "b@x.example", q, 2, T0 + 20, &r);
	assert_int_equal(r.verdict, CASERATE_QUEUE);
	assert_int_equal(r.queue, 1);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.retry_in, 40);
	/* Refused as a whole: sales@ was not counted either. */
	caserate_admit(cr, &lim, "c@x.example", q, 1, T0 + 21, &r);
	assert_int_equal(r.verdict, CASERATE_OK);
	caserate_free(cr);
}

/*
 * 100,000 fresh senders through a table of 64 slots: it stays 64 slots
 * (fixed size), and the queue's count is untouched by the spray, so the
 * per-queue limit still stops it.
 */
static void
a_spray_of_senders_is_bounded_and_stopped_by_the_queue(void **state)
{
	static const struct caserate_limits lim = { 1, 50 };
	const char *q[] = { "support@example.com" };
	struct caserate *cr;
	struct caserate_result r;
	unsigned admitted = 0;
	char addr[64], key[CASERATE_KEY_MAX + 1];

	(void)state;
	assert_int_equal(caserate_new(64, 16, &cr), 0);
	for (int i = 0; i < 100000; i++) {
		snprintf(addr, sizeof(addr), "spray%d@x.example", i);
		caserate_sender_key(addr, key);
		caserate_admit(cr, &lim, key, q, 1, T0 + i / 2000, &r);
		admitted += r.verdict == CASERATE_OK;
	}
	/* 50 a minute for 50 s of simulated time. */
	assert_int_equal(admitted, 50);
	caserate_free(cr);
}

/* A victim whose entry is still in its window keeps its count while
 * others come and go, as long as its set has older entries to evict. */
static void
eviction_takes_the_least_recently_used_first(void **state)
{
	static const struct caserate_limits lim = { 1, 0 };
	const char *q[] = { "support@example.com" };
	struct caserate *cr;
	struct caserate_result r;
	char addr[64];

	(void)state;
	/* One set of 8: every key competes with every other. */
	assert_int_equal(caserate_new(8, 8, &cr), 0);
	for (int i = 0; i < 7; i++) {
		snprintf(addr, sizeof(addr), "old%d@x.example", i);
		caserate_admit(cr, &lim, addr, q, 1, T0 + i, &r);
		assert_int_equal(r.verdict, CASERATE_OK);
	}
	caserate_admit(cr, &lim, "victim@x.example", q, 1, T0 + 10, &r);
	assert_int_equal(r.verdict, CASERATE_OK);
	/* Two newcomers take old0's and old1's slots, not the victim's. */
	caserate_admit(cr, &lim, "new0@x.example", q, 1, T0 + 11, &r);
	caserate_admit(cr, &lim, "new1@x.example", q, 1, T0 + 12, &r);
	caserate_admit(cr, &lim, "victim@x.example", q, 1, T0 + 13, &r);
	assert_int_equal(r.verdict, CASERATE_SENDER);
	caserate_admit(cr, &lim, "old0@x.example", q, 1, T0 + 14, &r);
	assert_int_equal(r.verdict, CASERATE_OK);	/* evicted: anew */
	caserate_free(cr);
}

static void
bad_table_sizes_are_refused(void **state)
{
	struct caserate *cr;

	(void)state;
	assert_int_not_equal(caserate_new(0, 8, &cr), 0);
	assert_int_not_equal(caserate_new(8, 12, &cr), 0);
	assert_null(cr);
	assert_int_equal(caserate_new(CASERATE_SENDER_SLOTS,
	    CASERATE_QUEUE_SLOTS, &cr), 0);
	caserate_free(cr);
}

/* Many threads, one queue: exactly the limit gets through. */
struct racer {
	struct caserate *cr;
	int id;
	unsigned ok;
};

static void *
race(void *arg)
{
	static const struct caserate_limits lim = { 0, 100 };
	struct racer *r = arg;
	const char *q[] = { "support@example.com" };
	struct caserate_result res;
	char addr[64];

	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "t%d-%d@x.example", r->id, i);
		caserate_admit(r->cr, &lim, addr, q, 1, T0, &res);
		r->ok += res.verdict == CASERATE_OK;
	}
	return NULL;
}

static void
concurrent_callers_never_exceed_the_limit(void **state)
{
	struct racer r[4];
	pthread_t th[4];
	struct caserate *cr;
	unsigned total = 0;

	(void)state;
	assert_int_equal(caserate_new(64, 16, &cr), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ cr, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += r[i].ok;
	}
	assert_int_equal(total, 100);
	caserate_free(cr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sender_keys_drop_the_subaddress_and_lower_case),
		cmocka_unit_test(
		    a_sender_gets_its_allowance_per_hour_whatever_its_subaddress),
		cmocka_unit_test(
		    a_queue_takes_its_limit_per_minute_from_every_sender),
		cmocka_unit_test(the_null_sender_has_only_the_queue_limit),
		cmocka_unit_test(a_refusal_by_one_limit_counts_against_neither),
		cmocka_unit_test(zero_turns_each_limit_off),
		cmocka_unit_test(
		    the_refusal_says_which_queue_and_how_long_to_wait),
		cmocka_unit_test(
		    a_spray_of_senders_is_bounded_and_stopped_by_the_queue),
		cmocka_unit_test(eviction_takes_the_least_recently_used_first),
		cmocka_unit_test(bad_table_sizes_are_refused),
		cmocka_unit_test(concurrent_callers_never_exceed_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_retry.c - the retry policy: backoff, giving up, circuit breakers. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "retry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct retry_policy def = RETRY_POLICY_DEFAULT;

static void
defaults_are_the_documented_values(void **state)
{
	(void)state;
	assert_int_equal(def.base_delay, 30);
	assert_int_equal(def.max_delay, 3600);
	assert_int_equal(def.max_attempts, 25);
	assert_int_equal(def.hold_first, 30);
	assert_int_equal(def.hold_max, 600);
}

/* With the most jitter (1.0) a delay is whole: base, doubled, capped. */
static void
backoff_doubles_from_the_base_up_to_the_cap(void **state)
{
	static const struct { unsigned attempts; int64_t delay; } cases[] = {
		{ 1, 30 }, { 2, 60 }, { 3, 120 }, { 4, 240 }, { 5, 480 },
		{ 6, 960 }, { 7, 1920 }, { 8, 3600 }, { 9, 3600 },
		{ 25, 3600 }, { 1000, 3600 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(retry_backoff(&def, cases[i].attempts, 1.0),
		    cases[i].delay);
}

/* Jitter spreads a delay over its upper half, never below a second. */
static void
jitter_stays_in_the_upper_half(void **state)
{
	static const struct { struct retry_policy pol; unsigned attempts;
	    int64_t lo, hi; } cases[] = {
		{ RETRY_POLICY_DEFAULT, 1, 15, 30 },
		{ RETRY_POLICY_DEFAULT, 3, 60, 120 },
		{ RETRY_POLICY_DEFAULT, 30, 1800, 3600 },
		{ { 1, 1, 5, 0, 0 }, 1, 1, 1 },		/* never 0 s */
		{ { 10, 100, 5, 0, 0 }, 4, 40, 80 },
		{ { 10, 100, 5, 0, 0 }, 5, 50, 100 },	/* capped */
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		assert_int_equal(retry_backoff(&cases[i].pol,
		    cases[i].attempts, 0.0), cases[i].lo);
		for (double j = 0; j < 1; j += 0.05) {
			int64_t v = retry_backoff(&cases[i].pol,
			    cases[i].attempts, j);

			assert_true(v >= cases[i].lo && v <= cases[i].hi);
		}
	}
	for (int i = 0; i < 1000; i++) {
		double j = retry_jitter();

		assert_true(j >= 0.0 && j < 1.0);
	}
}

/* The attempt that reaches max_attempts is the last: then dead. */
static void
max_attempts_gives_up_whatever_the_plugin_asked(void **state)
{
	static const struct { unsigned attempts; int64_t retry_after;
	    int64_t next; } cases[] = {
		{ 1, 0, 30 },
		{ 1, 5, 5 },		/* the plugin's Retry-After */
		{ 2, 0, 60 },
		{ 24, 0, 3600 },
		{ 24, 7200, 7200 },	/* not capped: the plugin knows */
		{ 25, 0, RETRY_GIVE_UP },
		{ 25, 5, RETRY_GIVE_UP },
		{ 26, 0, RETRY_GIVE_UP },
	};
	const struct retry_policy two = { 10, 100, 2, 0, 0 };

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(retry_next(&def, cases[i].attempts,
		    cases[i].retry_after, 1.0), cases[i].next);
	assert_int_equal(retry_next(&two, 1, 0, 1.0), 10);
	assert_int_equal(retry_next(&two, 2, 0, 1.0), RETRY_GIVE_UP);
}

/*
 * A breaker opens at hold_first, doubles while its subject stays down,
 * stops at hold_max, and a success closes it: the next trip starts over.
 */
static void
breaker_opens_doubles_caps_and_closes(void **state)
{
	static const unsigned holds[] = { 30, 60, 120, 240, 480, 600, 600 };
	struct retry_breaker b = { 0 };
	int64_t now = 1000;

	(void)state;
	assert_false(retry_breaker_held(&b, now));
	for (size_t i = 0; i < N(holds); i++) {
		assert_int_equal(retry_breaker_trip(&b, &def, now), holds[i]);
		assert_int_equal(b.until, now + holds[i]);
		assert_true(retry_breaker_held(&b, now));
		assert_true(retry_breaker_held(&b, now + holds[i] - 1));
		assert_false(retry_breaker_held(&b, now + holds[i]));
		now += holds[i];
	}
	assert_true(retry_breaker_close(&b));
	assert_false(retry_breaker_held(&b, now));
	assert_false(retry_breaker_close(&b));	/* was closed already */
	assert_int_equal(retry_breaker_trip(&b, &def, now), 30);
}

/* A pause the subject asks for holds it that long; the next trip doubles it. */
static void
forced_hold_lasts_what_was_asked(void **state)
{
	static const struct { unsigned held_before, asked, until, then;
	    } cases[] = {
		/* closed: 90 s as asked; a trip after doubles 90 */
		{ 0, 90, 1090, 180 },
		/* held 30 s already (to 1030): 90 s is longer */
		{ 30, 90, 1090, 180 },
		/* held 480 s (to 1480): 10 s shortens nothing */
		{ 480, 10, 1480, 600 },
		/* longer than hold_max: as asked; a trip caps at 600 */
		{ 0, 3600, 4600, 600 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct retry_breaker b = { 0 };

		if (cases[i].held_before != 0)
			b = (struct retry_breaker){ 1000 +
			    cases[i].held_before, cases[i].held_before };
		retry_hold_for(&b, 1000, cases[i].asked);
		assert_int_equal(b.until, cases[i].until);
		assert_true(retry_breaker_held(&b, cases[i].until - 1));
		assert_false(retry_breaker_held(&b, cases[i].until));
		assert_int_equal(retry_breaker_trip(&b, &def, 5000),
		    cases[i].then);
	}
	{
		struct retry_breaker b = { 0 };

		retry_hold_for(&b, 1000, 0);	/* no pause: nothing */
		assert_false(retry_breaker_held(&b, 1000));
		assert_false(retry_breaker_close(&b));
	}
}

/* The supervisor's restarts: 1 s, doubling to a minute; a good run resets. */
static void
worker_restarts_back_off_to_a_minute(void **state)
{
	static const unsigned delays[] = { 1, 2, 4, 8, 16, 32, 60, 60 };
	const struct retry_policy restart = RETRY_RESTART_POLICY;
	struct retry_breaker b = { 0 };

	(void)state;
	for (size_t i = 0; i < N(delays); i++)
		assert_int_equal(retry_breaker_trip(&b, &restart, 0),
		    delays[i]);
	retry_breaker_close(&b);
	assert_int_equal(retry_breaker_trip(&b, &restart, 0), 1);
}

/* dvmilter.conf's keys of the policy: defaults, values, bad values. */
static void
config_keys_set_the_policy(void **state)
{
	static const struct { const char *text; bool ok;
	    struct retry_policy want; const char *err; } cases[] = {
		{ "", true, RETRY_POLICY_DEFAULT, NULL },
		{ "RetryBaseDelay 10s\nRetryMaxDelay 2h\nRetryMaxAttempts 5\n"
		    "PluginHoldFirst 1m\nPluginHoldMax 1h\n", true,
		    { 10, 7200, 5, 60, 3600 }, NULL },
		{ "RetryBaseDelay 90\n", true,
		    { 90, 3600, 25, 30, 600 }, NULL },
		{ "RetryBaseDelay 0\n", false, { 0 }, "RetryBaseDelay" },
		{ "RetryMaxDelay 8d\n", false, { 0 }, "RetryMaxDelay" },
		{ "RetryMaxAttempts 0\n", false, { 0 }, "RetryMaxAttempts" },
		{ "PluginHoldFirst soon\n", false, { 0 }, "PluginHoldFirst" },
		{ "RetryBaseDelay 2h\n", false, { 0 },
		    "RetryMaxDelay is shorter than RetryBaseDelay" },
		{ "PluginHoldFirst 20m\n", false, { 0 },
		    "PluginHoldMax is shorter than PluginHoldFirst" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct conf *c = NULL;
		const char *err = "";
		int rc = conf_parse_string("r.conf", cases[i].text, &c, &err);

		if (!cases[i].ok) {
			assert_int_not_equal(rc, 0);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
				    cases[i].err);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(c->retry_base_delay, cases[i].want.base_delay);
		assert_int_equal(c->retry_max_delay, cases[i].want.max_delay);
		assert_int_equal(c->retry_max_attempts,
		    cases[i].want.max_attempts);
		assert_int_equal(c->plugin_hold_first, cases[i].want.hold_first);
		assert_int_equal(c->plugin_hold_max, cases[i].want.hold_max);
		conf_unref(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_documented_values),
		cmocka_unit_test(backoff_doubles_from_the_base_up_to_the_cap),
		cmocka_unit_test(jitter_stays_in_the_upper_half),
		cmocka_unit_test(
		    max_attempts_gives_up_whatever_the_plugin_asked),
		cmocka_unit_test(breaker_opens_doubles_caps_and_closes),
		cmocka_unit_test(forced_hold_lasts_what_was_asked),
		cmocka_unit_test(worker_restarts_back_off_to_a_minute),
		cmocka_unit_test(config_keys_set_the_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * retry.h - the retry policy: how long to wait after a failure, and when
 * to stop trying.
 *
 * Every such decision of dvmilter is made here, from one policy:
 *  - a delivery of an outbox entry to a plugin that failed for now is
 *    made again after an exponential backoff with jitter, or after the
 *    delay the plugin asked for, and given up (dead) after a number of
 *    attempts: retry_next();
 *  - a plugin whose back end is down is held back as a whole by a
 *    circuit breaker (struct retry_breaker): held for a first while,
 *    twice as long each time it is still down after, up to a cap, and
 *    released by the next success; a plugin may also demand a pause of
 *    its own (retry_hold_for());
 *  - the daemon's supervisor restarts a worker that died with the same
 *    breaker, on a policy of its own (RETRY_RESTART_POLICY).
 *
 * It reads no clock and keeps no state: callers pass the time and keep
 * their breakers. retry_jitter() is its only source of randomness.
 */
#ifndef DV_RETRY_H
#define DV_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* The defaults of the configuration keys (dvmilter.conf(5)). */
#define RETRY_BASE_DELAY	30	/* RetryBaseDelay */
#define RETRY_MAX_DELAY		3600	/* RetryMaxDelay */
#define RETRY_MAX_ATTEMPTS	25	/* RetryMaxAttempts */
#define RETRY_HOLD_FIRST	30	/* PluginHoldFirst */
#define RETRY_HOLD_MAX		600	/* PluginHoldMax */

struct retry_policy {
	/* One delivery: */
	unsigned base_delay;	/* seconds before the first retry */
	unsigned max_delay;	/* cap on one delay */
	unsigned max_attempts;	/* attempts made before it is dead */
	/* A breaker: */
	unsigned hold_first;	/* its first hold, in seconds */
	unsigned hold_max;	/* cap on one hold */
};

#define RETRY_POLICY_DEFAULT { RETRY_BASE_DELAY, RETRY_MAX_DELAY, \
	RETRY_MAX_ATTEMPTS, RETRY_HOLD_FIRST, RETRY_HOLD_MAX }

/*
 * The supervisor's restarts of the outbox worker: at once (a second) for
 * a worker that ran more than RETRY_RESTART_HEALTHY seconds, else a crash
 * loop backs off, doubling up to a minute.
 */
#define RETRY_RESTART_POLICY { .hold_first = 1, .hold_max = 60 }
#define RETRY_RESTART_HEALTHY	60

/**
 * retry_backoff - the policy's delay after @attempts failed attempts
 * (1 for the first): base_delay doubled for each attempt after the
 * first, capped at max_delay, then spread over its upper half by
 * @jitter, so that a burst of failures does not retry in one burst.
 * @param[in] jitter  a random value in [0, 1) (retry_jitter()).
 * @return the delay in seconds, at least 1.
 */
int64_t retry_backoff(const struct retry_policy *pol, unsigned attempts,
    double jitter);

/**
 * retry_next - what follows a delivery's failure for now, its attempts
 * (this one included) now @attempts: give up once they reach
 * max_attempts; else wait the @retry_after seconds the plugin asked for,
 * if it asked, or the backoff.
 * @param[in] retry_after  seconds the plugin asked for, or 0.
 * @param[in] jitter       a random value in [0, 1) (retry_jitter()).
 * @return the delay in seconds (at least 1), or RETRY_GIVE_UP.
 */
#define RETRY_GIVE_UP	0
int64_t retry_next(const struct retry_policy *pol, unsigned attempts,
    int64_t retry_after, double jitter);

/**
 * retry_jitter - a random value in [0, 1), from the system's random
 * generator (a weaker one if that fails). Safe from any thread.
 */
double retry_jitter(void);

/*
 * A circuit breaker: closed (until 0, held_for 0) while its subject
 * works; held until @until after a failure. The caller keeps it (for a
 * plugin, the worker; for the worker, the supervisor); all zero is a
 * closed one.
 */
struct retry_breaker {
	int64_t until;		/* held until this Unix time; 0 if closed */
	unsigned held_for;	/* the last hold, in seconds; 0 if closed */
};

/** retry_breaker_held - whether @b holds its subject back at @now. */
bool retry_breaker_held(const struct retry_breaker *b, int64_t now);

/**
 * retry_breaker_trip - its subject failed (at @now): hold it for the
 * policy's hold_first if @b was closed, else for twice its last hold, at
 * most hold_max. A breaker that is held already is held again, from
 * @now: the caller checks retry_breaker_held() first if it should not.
 * @return the hold in seconds.
 */
unsigned retry_breaker_trip(struct retry_breaker *b,
    const struct retry_policy *pol, int64_t now);

/**
 * retry_hold_for - its subject asked for a pause of @seconds (for a
 * plugin: its back end said so): hold it until @now + @seconds, unless
 * it is held longer already. A later trip doubles from this hold.
 * @seconds 0 does nothing.
 */
void retry_hold_for(struct retry_breaker *b, int64_t now, unsigned seconds);

/**
 * retry_breaker_close - its subject worked: release it, and the next
 * trip starts again at hold_first.
 * @return true if it had been tripped (held now or before), so that the
 *         caller can say that it works again.
 */
bool retry_breaker_close(struct retry_breaker *b);

#endif /* DV_RETRY_H */

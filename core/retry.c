/*
 * retry.c - the retry policy (see retry.h): backoff with jitter, the
 * attempts before a delivery is dead, and circuit breakers.
 *
 * Pure arithmetic on what the callers pass; it records nothing (the
 * outbox records a delivery's next attempt, the worker and the
 * supervisor keep their breakers).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "retry.h"

int64_t
retry_backoff(const struct retry_policy *pol, unsigned attempts,
    double jitter)
{
	double d = pol->base_delay;

	for (unsigned i = 1; i < attempts && d < pol->max_delay; i++)
		d *= 2;
	if (d > pol->max_delay)
		d = pol->max_delay;
	/* Full jitter on the upper half spreads a burst of retries. */
	d = d / 2 + d / 2 * jitter;
	return d < 1 ? 1 : (int64_t)d;
}

int64_t
retry_next(const struct retry_policy *pol, unsigned attempts,
    int64_t retry_after, double jitter)
{
	if (attempts >= pol->max_attempts)
		return RETRY_GIVE_UP;
	return retry_after > 0 ? retry_after :
	    retry_backoff(pol, attempts, jitter);
}

double
retry_jitter(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)rand();
	return (double)r / 4294967296.0;
}

bool
retry_breaker_held(const struct retry_breaker *b, int64_t now)
{
	return b->until > now;
}

unsigned
retry_breaker_trip(struct retry_breaker *b, const struct retry_policy *pol,
    int64_t now)
{
	unsigned secs;

	if (b->held_for == 0)
		secs = pol->hold_first;
	else
		secs = b->held_for >= pol->hold_max / 2 ? pol->hold_max :
		    b->held_for * 2;
	if (secs > pol->hold_max)
		secs = pol->hold_max;
	b->held_for = secs;
	b->until = now + secs;
	return secs;
}

void
retry_hold_for(struct retry_breaker *b, int64_t now, unsigned seconds)
{
	if (seconds == 0)
		return;
	if (now + seconds > b->until)
		b->until = now + seconds;
	if (seconds > b->held_for)
		b->held_for = seconds;
}

bool
retry_breaker_close(struct retry_breaker *b)
{
	bool was = b->held_for != 0 || b->until != 0;

	b->until = 0;
	b->held_for = 0;
	return was;
}

/*
 * caserate.h - CaseRateLimit: how many would-be new cases the milter
 * lets in, per sender per hour and per queue mailbox per minute.
 *
 * The milter cannot see the plugins' case rules, so "a would-be new
 * case" is defined in core terms: an incoming tracked message that a
 * queue mailbox takes and that correlates with no earlier tracked
 * message (core/corr.c). The milter asks caserate_admit() at end of
 * message, before it answers; a message over a limit is refused with a
 * temporary failure, never accepted and then dropped.
 *
 * The counters live in the daemon's memory, in two fixed-size,
 * set-associative tables (senders and queues), so an attacker who
 * sprays sender addresses cannot make them grow: a new key takes the
 * slot of its set that was used least recently. Keys are hashed with a
 * random salt, so nobody can choose addresses that land in one set.
 * Thread-safe (one mutex); no clock is read here: callers pass the time.
 */
#ifndef DV_CASERATE_H
#define DV_CASERATE_H

#include <stddef.h>
#include <stdint.h>

#include "caps.h"

/* The windows of the two limits, in seconds. */
#define CASERATE_SENDER_WINDOW	3600
#define CASERATE_QUEUE_WINDOW	60

/* The sizes of the tables; fixed, whatever the traffic. */
#define CASERATE_SENDER_SLOTS	16384
#define CASERATE_QUEUE_SLOTS	1024

/* The sender keys of the null sender and of one that does not parse. */
#define CASERATE_NULL_SENDER	"<>"
#define CASERATE_INVALID_SENDER	"<invalid>"

/* The longest key: an address (DV_ADDR_MAX) and a little more. */
#define CASERATE_KEY_MAX	(DV_ADDR_MAX + 16)

struct caserate;

/* The limits of one configuration snapshot (CaseRateLimit). */
struct caserate_limits {
	unsigned per_sender;	/* new cases per sender per hour; 0: off */
	unsigned per_queue;	/* new cases per queue per minute; 0: off */
};

/* What caserate_admit() decided. */
enum caserate_verdict {
	CASERATE_OK = 0,	/* admitted and counted */
	CASERATE_SENDER = 1,	/* the sender is over its limit */
	CASERATE_QUEUE = 2	/* a queue is over its limit */
};

struct caserate_result {
	enum caserate_verdict verdict;
	size_t queue;		/* CASERATE_QUEUE: the index in @queues */
	unsigned count;		/* what the key over its limit had */
	int64_t retry_in;	/* seconds until its window ends */
};

/**
 * caserate_new - create the tables, empty.
 * @param[in]  sender_slots  slots for senders (a multiple of 8, >= 8).
 * @param[in]  queue_slots   slots for queues (a multiple of 8, >= 8).
 * @param[out] cr_r          the new handle; caserate_free() it.
 * @return 0, DV_EINVAL for a bad size, or ENOMEM.
 */
int caserate_new(size_t sender_slots, size_t queue_slots,
    struct caserate **cr_r);

/** caserate_free - free the tables. NULL is a no-op. */
void caserate_free(struct caserate *cr);

/**
 * caserate_sender_key - the key a sender is counted under: the address
 * normalised (lower case, the domain in A-labels) without a subaddress
 * at "+" (the convention of nearly every mail system, RFC 5233, whatever
 * SubaddressSeparator says of this site's own mailboxes), so that
 * victim+1@, victim+2@ ... share one allowance. The null sender is
 * CASERATE_NULL_SENDER and any address that does not parse is
 * CASERATE_INVALID_SENDER: not a fresh allowance per spelling, and
 * caserate_admit() counts neither against a sender limit.
 * @param[in]  env_from  the envelope sender as sent, or NULL (null).
 * @param[out] out       CASERATE_KEY_MAX + 1 bytes.
 */
void caserate_sender_key(const char *env_from,
    char out[CASERATE_KEY_MAX + 1]);

/**
 * caserate_admit - count one would-be new case from @sender (a key of
 * caserate_sender_key()) for @nqueues queue mailboxes (normalised
 * addresses), if every limit allows it; else count nothing. The null
 * sender and one that does not parse have only the queue limit: they
 * are every bounce and DSN, from anyone, so one shared sender allowance
 * would refuse them all once a few came in.
 * A window opens at the first case of a key and lasts
 * CASERATE_SENDER_WINDOW or CASERATE_QUEUE_WINDOW seconds; within it at
 * most the limit is admitted. A refused message counts for nothing, so
 * its retry is judged alike.
 * @param[in]  lim  the limits; a 0 turns that one off.
 * @param[in]  queues   the queue mailboxes; only the first 16 count.
 * @param[in]  now  the time, in seconds (any monotonic origin).
 * @param[out] res  the verdict and, when refused, which key and how long
 *                  its window still runs.
 */
void caserate_admit(struct caserate *cr, const struct caserate_limits *lim,
    const char *sender, const char *const *queues, size_t nqueues,
    int64_t now, struct caserate_result *res);

#endif

/*
 * authres.h - Authentication-Results header fields (RFC 8601), and the
 * sender-authenticity verdict dvmilter draws from the trusted ones.
 *
 * authres_parse() reads one header value, as hostile input: it is
 * bounded in length, in results, in properties and in comment nesting,
 * it never recurses, and it either returns a complete parse or a clear
 * error (a header it cannot read is ignored whole, never half-believed).
 * authres_verdict() then looks only at the headers whose authserv-id is
 * in TrustedAuthservIDs and says whether DMARC passed or failed for the
 * message's From domain, and whether a DKIM signature that passed is
 * aligned with it (relaxed alignment, RFC 7489 section 3.1.1, with the
 * organisational domain from the Public Suffix List, libpsl).
 *
 * Which trusted header is believed: the MTA's verifiers (OpenDKIM,
 * OpenDMARC, the MTA itself) insert theirs above the headers the client
 * sent, so for each method the topmost trusted header that reports it
 * counts. A trusted dmarc=fail anywhere counts as a fail: a forged
 * header can make its own message less trusted, never more. Keeping
 * forged headers with a trusted id out is the MTA's task (RFC 8601
 * section 5; see dvmilter.conf(5), TrustedAuthservIDs).
 *
 * Nothing here logs, allocates beyond one buffer per parse, or knows
 * libmilter: the milter and the fuzz harness call it alike.
 */
#ifndef DV_AUTHRES_H
#define DV_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHRES_MAX_LEN		8192	/* bytes of one value parsed */
#define AUTHRES_MAX_RESULTS	32	/* resinfo per header */
#define AUTHRES_MAX_PROPS	16	/* propspec per resinfo */
#define AUTHRES_MAX_DEPTH	32	/* nested comments */
#define AUTHRES_MAX_HEADERS	32	/* headers authres_verdict() reads */
#define AUTHRES_ID_MAX		255	/* an authserv-id kept in a verdict */

/* One "ptype.property=value"; ptype and property in lower case. */
struct authres_prop {
	const char *ptype;
	const char *property;
	const char *value;		/* quotes and quoted-pairs removed */
};

/* One "method=result": method and result in lower case. */
struct authres_result {
	const char *method;
	unsigned method_version;	/* 0 when absent */
	const char *result;
	const char *reason;		/* the reason= value, or NULL */
	struct authres_prop props[AUTHRES_MAX_PROPS];
	size_t nprops;
};

/* One parsed header value. Strings point into a buffer owned by it. */
struct authres {
	const char *authserv_id;	/* as written, quotes removed */
	unsigned version;		/* 1 when absent */
	bool none;			/* "; none": no results */
	struct authres_result results[AUTHRES_MAX_RESULTS];
	size_t nresults;
	char *store;			/* owned; authres_free() */
};

/**
 * authres_parse - parse one Authentication-Results value (what follows
 * the colon; folding whitespace, CRLF included, is allowed anywhere
 * RFC 8601 allows CFWS). Any byte sequence is safe to pass, NULs
 * included; @s need not be NUL-terminated.
 * @param[in]  s, len   the value.
 * @param[out] ar       filled on success; release with authres_free().
 *                      On failure it holds nothing to free.
 * @param[out] error_r  on failure: what is wrong and at which byte.
 * @return 0; DV_ETOOBIG (longer than AUTHRES_MAX_LEN, or more results,
 *         properties or comment nesting than the caps); DV_EINVAL (not
 *         the RFC 8601 syntax); ENOMEM.
 */
int authres_parse(const char *s, size_t len, struct authres *ar,
    const char **error_r);

/** authres_free - release what authres_parse() filled in; idempotent. */
void authres_free(struct authres *ar);

/* A DMARC outcome as dvmilter uses it. */
enum authres_dmarc {
	AUTHRES_DMARC_NONE = 0,		/* no trusted result, or not pass/fail */
	AUTHRES_DMARC_PASS = 1,
	AUTHRES_DMARC_FAIL = 2
};

/* What the trusted headers say about the message. */
struct authres_verdict {
	enum authres_dmarc dmarc;
	bool dkim_aligned;		/* a trusted dkim=pass, d= aligned */
	char authserv_id[AUTHRES_ID_MAX + 1];	/* believed; "" if none */
	unsigned trusted;		/* headers with a trusted id */
	unsigned ignored;		/* headers with another id */
	unsigned malformed;		/* headers that did not parse */
};

/**
 * authres_verdict - the verdict of the headers @values (top to bottom,
 * @n of them, at most AUTHRES_MAX_HEADERS read) for a message whose From
 * address has the domain @from_domain (lower case, A-labels; NULL or ""
 * when it has none: then nothing aligns and a DMARC result names no
 * domain of it). Only headers whose authserv-id is in @trusted (a
 * NULL-terminated list compared without case, or NULL: trust none) are
 * read. A dmarc result with a header.from property names a domain; one
 * naming another domain than @from_domain is ignored.
 * @param[out] v  always set.
 */
void authres_verdict(const char *const *values, size_t n,
    char *const *trusted, const char *from_domain,
    struct authres_verdict *v);

/**
 * authres_aligned - whether @a and @b (domains, lower case) are aligned
 * in relaxed mode: the same organisational domain (registrable domain
 * by the Public Suffix List), or equal.
 */
bool authres_aligned(const char *a, const char *b);

/** authres_dmarc_name - "pass", "fail" or "none". */
const char *authres_dmarc_name(enum authres_dmarc d);

#endif

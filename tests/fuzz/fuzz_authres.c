/*
 * fuzz_authres.c - libFuzzer harness for the Authentication-Results
 * parser and verdict (core/authres.c).
 *
 * The whole input is one header value for authres_parse(), which takes
 * any bytes, NULs included. Split at its NUL bytes it is also the list
 * of header values (top to bottom) for authres_verdict(), with three
 * trusted authserv-ids and a From domain. A parse must be complete (every
 * part it reports set, within the caps) and free twice; a verdict must
 * count each header it reads exactly once. The first two values, as domains,
 * go to authres_aligned(), which must be symmetric and reflexive.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_parse(const uint8_t *data, size_t size)
{
	struct authres ar;
	const char *err = NULL;

	if (authres_parse((const char *)data, size, &ar, &err) != 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (ar.authserv_id == NULL || ar.nresults > AUTHRES_MAX_RESULTS ||
	    (ar.none && ar.nresults != 0))
		abort();
	for (size_t i = 0; i < ar.nresults; i++) {
		const struct authres_result *r = &ar.results[i];

		if (r->method == NULL || r->result == NULL ||
		    r->nprops > AUTHRES_MAX_PROPS)
			abort();
		for (size_t k = 0; k < r->nprops; k++)
			if (r->props[k].ptype == NULL ||
			    r->props[k].property == NULL ||
			    r->props[k].value == NULL)
				abort();
	}
	authres_free(&ar);
	authres_free(&ar);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id1[] = "mx.example.org", id2[] = "mx.test", id3[] = "x";
	char *const trusted[] = { id1, id2, id3, NULL };
	const char *values[AUTHRES_MAX_HEADERS + 2];
	struct authres_verdict v;
	char *copy = malloc(size + 1), *p;
	size_t n = 0;

	check_parse(data, size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < sizeof(values) / sizeof(values[0]) &&
	    p <= copy + size; p += strlen(p) + 1)
		values[n++] = p;
	authres_verdict(values, n, trusted, "example.com", &v);
	if (v.dmarc != AUTHRES_DMARC_NONE && v.dmarc != AUTHRES_DMARC_PASS &&
	    v.dmarc != AUTHRES_DMARC_FAIL)
		abort();
	/* Each header it reads is trusted, ignored or malformed. */
	if (memchr(v.authserv_id, '\0', sizeof(v.authserv_id)) == NULL ||
	    v.trusted + v.ignored + v.malformed !=
	    (n < AUTHRES_MAX_HEADERS ? n : AUTHRES_MAX_HEADERS))
		abort();
	(void)authres_dmarc_name(v.dmarc);
	if (n >= 2 && (authres_aligned(values[0], values[1]) !=
	    authres_aligned(values[1], values[0]) ||
	    (values[0][0] != '\0' && !authres_aligned(values[0], values[0]))))
		abort();
	free(copy);
	return 0;
}

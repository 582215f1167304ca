/*
 * fuzz_addr.c - libFuzzer harness for address normalisation (core/addr.c).
 *
 * The input is one raw address as an MTA might pass it. Besides memory
 * errors it checks what callers rely on: a normal form fits
 * DV_ADDR_MAX, is its own normal form (so a mailbox added by its normal
 * form is found again), and has a domain.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "caps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_normal(const char *in, const char *seps)
{
	char out[DV_ADDR_MAX + 1], again[DV_ADDR_MAX + 1];
	const char *err;

	if (addr_normalize(in, seps, out, sizeof(out), &err) != 0)
		return;
	if (strlen(out) > DV_ADDR_MAX || addr_domain(out) == NULL)
		abort();
	/* Without subaddress handling the normal form is a fixed point;
	 * with it, cutting again may cut a second detail, by design. */
	if (seps == NULL &&
	    (addr_normalize(out, seps, again, sizeof(again), &err) != 0 ||
	    strcmp(out, again) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), small[8], detail[DV_ADDR_MAX + 1];
	char out[DV_ADDR_MAX + 1];
	const char *err;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	check_normal(in, NULL);
	check_normal(in, "+-");
	(void)addr_subaddress(in, "+", detail, sizeof(detail));
	(void)addr_subaddress(in, "+-", small, sizeof(small));
	(void)addr_mailbox(in, "+", out, sizeof(out), &err);
	/* A too-small buffer is an error, never an overflow. */
	(void)addr_normalize(in, "+", small, sizeof(small), &err);
	free(in);
	return 0;
}

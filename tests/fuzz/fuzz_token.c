/*
 * fuzz_token.c - libFuzzer harness for the tracking token parser
 * (core/token.c: token_find(), with token_make()).
 *
 * The input is "PREFIX\nSUBJECT" (without a newline: the prefix "CRM:"
 * and the whole input as subject). token_find() must survive any subject and
 * prefix and, as a sender cannot forge a tag, find nothing valid in a
 * subject it did not make. Then a real token, made from the first
 * bytes of the subject as an id, is put between the subject's two
 * halves: token_find() must find it (unless a letter or digit right
 * after it makes it part of a longer word) and say which id it names.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct token_key fuzz_key = {
	.k = "fuzz-token-key-0123456789abcdef",
	.len = 32,
};

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static void
check_made(const char *prefix, const char *subject, uint64_t id)
{
	size_t half = strlen(subject) / 2, sl = strlen(subject);
	char tok[TOKEN_MAX], *s;
	uint64_t found = 0;
	bool forged;
	int rc;

	if (token_make(&fuzz_key, prefix, id, tok, sizeof(tok)) != 0)
		return;
	if ((s = malloc(sl + sizeof(tok))) == NULL)
		return;
	memcpy(s, subject, half);
	memcpy(s + half, tok, strlen(tok));
	memcpy(s + half + strlen(tok), subject + half, sl - half + 1);
	rc = token_find(&fuzz_key, prefix, s, &found, &forged);
	if (!is_alnum(subject[half]) && (rc != 0 ||
	    (found != id && strcasestr(subject + half, prefix) == NULL)))
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *subject = in, *nl;
	const char *prefix = "CRM:";
	uint64_t id = 0;
	bool forged;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if ((nl = strchr(in, '\n')) != NULL) {
		*nl = '\0';
		prefix = in;
		subject = nl + 1;
	}
	if (token_find(&fuzz_key, prefix, subject, &id, &forged) == 0)
		abort();	/* a valid tag the harness did not make */
	for (size_t i = 0; i < 8 && subject[i] != '\0'; i++)
		id = id << 8 | (unsigned char)subject[i];
	/* What TrackingTokenPrefix accepts (conf.c), for the property. */
	if (prefix[0] != '\0' && strlen(prefix) <= 20 &&
	    strcspn(prefix, " \t\"") == strlen(prefix))
		check_made(prefix, subject, id);
	free(in);
	return 0;
}

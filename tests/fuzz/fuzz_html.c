/*
 * fuzz_html.c - libFuzzer harness for HTML to text (core/html.c).
 *
 * The input is an HTML body as a message carries it, not
 * NUL-terminated. The text must be valid UTF-8 (it goes into JSON),
 * hold no NUL and no carriage return, and no longer run of blank lines
 * than one.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = html_to_text((const char *)data, size);
	size_t n;

	if (text == NULL)
		return 0;
	n = strlen(text);
	if (!utf8_valid(text, n) || strstr(text, "\n\n\n") != NULL)
		abort();
	free(text);
	return 0;
}

/*
 * fuzz_msg.c - libFuzzer harness for the message model (core/msg.c).
 *
 * The input is a raw message as the milter spools it. It is parsed
 * whole and again under caps (half its size, 5 headers) so the
 * truncation path runs too. Each model must become JSON (which needs
 * every string to be valid UTF-8, as msg.h promises), and its header
 * helpers must work on it. The input as one string also goes through
 * msg_ids_parse() and msg_header_decode(), as In-Reply-To, References
 * and Subject values do.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "msg.h"
#include "utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	msg_init();
	return 0;
}

static void
check_model(const struct msg *m)
{
	json_t *j = msg_to_json(m);
	char *s;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL)
		abort();
	free(s);
	json_decref(j);
	for (size_t i = 0; i < m->nheaders; i++)
		if (m->headers[i].name == NULL ||
		    msg_header_get(m, m->headers[i].name) == NULL ||
		    (m->headers[i].value != NULL &&
		    !utf8_valid(m->headers[i].value,
		    strlen(m->headers[i].value))))
			abort();
	for (size_t i = 0; i < m->natt; i++)
		if (m->att[i].size > 0 && m->att[i].data == NULL)
			abort();
	(void)msg_header_get(m, "X-Not-There");
}

static void
parse(const uint8_t *data, size_t size, const struct msg_opts *opts)
{
	struct msg *m = NULL;
	const char *err;

	if (msg_parse(data, size, opts, &m, &err) != 0)
		return;
	check_model(m);
	if (opts != NULL && opts->max_size > 0 && size > opts->max_size &&
	    (!m->truncated || m->natt != 0))
		abort();
	msg_free(m);
}

static void
header_helpers(const uint8_t *data, size_t size)
{
	char *raw = malloc(size + 1), *d, **ids;
	size_t n;

	if (raw == NULL)
		return;
	memcpy(raw, data, size);
	raw[size] = '\0';
	if (msg_ids_parse(raw, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (ids[i] == NULL || ids[i][0] == '\0')
				abort();
		msg_ids_free(ids, n);
	}
	if ((d = msg_header_decode(raw)) != NULL) {
		if (!utf8_valid(d, strlen(d)))
			abort();
		free(d);
	}
	free(raw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_opts caps = { .max_size = size / 2 + 1, .max_headers = 5 };

	parse(data, size, NULL);
	parse(data, size, &caps);
	header_helpers(data, size);
	return 0;
}

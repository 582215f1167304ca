/*
 * fuzz_rules.c - libFuzzer harness for the rule parser (core/rules.c).
 *
 * The input is a mailbox's rules record as the store holds it (JSON,
 * {"v":1,"rules":[...]}); the store is the only trust boundary a record
 * crosses, and a damaged one must be refused, not believed. Rules that
 * decode must pass rule_check(), describe themselves within the buffer
 * and be matched against a message, as the milter does at end of
 * message: a fixed one, and one made of each rule's own patterns.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
header_of(void *arg, const char *name)
{
	(void)name;
	return arg;
}

static void
match_all(const struct rule_list *l)
{
	const char *const rcpts[] = { "support@example.com", "bob@acme.test" };
	char prio[] = "high";
	struct rule_input in = {
		.subaddress = "acme", .sender = "alice@acme.test",
		.from = "carol@example.org", .rcpts = rcpts, .nrcpts = 2,
		.subject = "Re: [CRM:1042-K7Q2M9TX] Invoice",
		.header = header_of, .header_arg = prio,
	};
	int i = rules_match(l, &in);

	if (i < -1 || i >= (int)l->n)
		abort();
	for (size_t k = 0; k < l->n; k++) {
		const struct rule *r = &l->v[k];
		const char *self[] = { r->recipient };
		struct rule_input own = {
			.subaddress = r->subaddress, .sender = r->sender,
			.from = NULL, .rcpts = self, .nrcpts = 1,
			.subject = r->subject, .header = header_of,
			.header_arg = (void *)(uintptr_t)r->header_value,
		};

		i = rules_match(l, &own);
		if (i < -1 || i >= (int)l->n)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rule_list l;
	const char *err = NULL;
	char line[512];

	if (rules_decode("fuzz@example.com", data, size, &l, &err) != 0) {
		if (l.n != 0 || l.v != NULL || err == NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (rule_check(&l.v[i], &err) != 0)
			abort();
		rule_describe(&l.v[i], line, sizeof(line));
		if (strlen(line) >= sizeof(line))
			abort();
	}
	match_all(&l);
	rules_free(&l);
	return 0;
}

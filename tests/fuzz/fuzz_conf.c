/*
 * fuzz_conf.c - libFuzzer harness for the configuration parser
 * (core/conf.c).
 *
 * The input is a dvmilter.conf. It goes through conf_parse_string(),
 * after the two checks conf_load() makes on a file (no NUL byte, at
 * most 1 MiB). A file that parses is then used as the daemon uses one:
 * its reply templates expanded, compared with the defaults for a
 * reload, its plugin keys looked up. An error must come with a message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use_conf(const struct conf *c, const struct conf *defaults)
{
	const struct conf_rule *rules[] = {
		&c->unapproved_rcpt, &c->unapproved_sender, &c->unknown_rcpt,
		&c->malformed, &c->store_error,
	};
	char out[600], keys[1024], path[4096];

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		conf_reply_format(&rules[i]->reply, "<a%b@example.com>", out,
		    sizeof(out));
		if (strlen(out) >= sizeof(out))
			abort();
		(void)conf_action_name(rules[i]->action);
	}
	conf_restart_keys(defaults, c, keys, sizeof(keys));
	conf_restart_keys(c, c, keys, sizeof(keys));
	if (keys[0] != '\0')
		abort();	/* a snapshot differs from itself */
	conf_token_key_path(c, path, sizeof(path));
	for (size_t i = 0; i < c->nplugin_keys; i++)
		if (conf_plugin_value(c, c->plugin_keys[i].plugin,
		    c->plugin_keys[i].key) == NULL)
			abort();
	(void)conf_domain_listed(c->unknown_rcpt_domains, "example.com");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c = NULL, *defaults = NULL;
	const char *err = NULL;
	char *text;

	if (size > 1024 * 1024 || memchr(data, '\0', size) != NULL)
		return 0;	/* conf_load() refuses these */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (conf_parse_string("fuzz.conf", text, &c, &err) == 0) {
		if (conf_defaults(&defaults) == 0)
			use_conf(c, defaults);
		conf_unref(defaults);
		conf_unref(c);
	} else if (err == NULL || err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}

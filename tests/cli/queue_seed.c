/*
 * queue_seed.c - put one message into a store's outbox through the core
 * API, as the milter does at end of message, so that the queue commands
 * of dvmilterctl can be tested on real entries.
 *   queue_seed STOREDIR MESSAGE-ID PLUGIN...
 * Prints the new queue id.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "outbox.h"
#include "store.h"

int
main(int argc, char **argv)
{
	static const char *const rcpts[] = { "support@example.com" };
	static const char raw[] = "Subject: seeded\r\nMessage-ID: <x>\r\n\r\nhi\r\n";
	struct outbox_item it = {
		.received = (int64_t)time(NULL), .queue_id = "SEED1",
		.envelope_from = "ann@ext.example", .rcpts = rcpts, .nrcpts = 1,
		.decision = "{\"mailboxes\":[{\"address\":\"support@example.com\"}]}",
		.raw = raw, .raw_len = sizeof(raw) - 1,
	};
	struct store *st;
	struct outbox *ob;
	const char *err;
	char ebuf[256];
	uint64_t id;

	if (argc < 3) {
		fprintf(stderr, "usage: queue_seed STOREDIR MESSAGE-ID PLUGIN...\n");
		return 2;
	}
	it.message_id = argv[2];
	if (store_open(argv[1], NULL, &st, &err) != 0 ||
	    outbox_open(st, &(const struct outbox_opts){ .plugins = argv + 3 },
	    &ob, &err) != 0) {
		fprintf(stderr, "queue_seed: %s\n", err);
		return 1;
	}
	if (outbox_submit(ob, &it, false, &id, ebuf, sizeof(ebuf)) != 0) {
		fprintf(stderr, "queue_seed: %s\n", ebuf);
		return 1;
	}
	outbox_close(ob);
	store_close(st);
	printf("%" PRIu64 "\n", id);
	return 0;
}

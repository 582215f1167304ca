/*
 * smtpsink.h - a one-connection-at-a-time SMTP server on 127.0.0.1 for
 * plugin tests: it accepts every message and keeps its envelope and
 * content. It stops when the test calls smtpsink_stop(), and by itself
 * after two minutes (or the seconds given to smtpsink_start_for()), so
 * a failed test never leaves it behind.
 */
#ifndef DV_TEST_SMTPSINK_H
#define DV_TEST_SMTPSINK_H

#include <pthread.h>
#include <stddef.h>

#define SMTPSINK_MAX	32

struct smtpsink_msg {
	char mail_from[256];
	char rcpt[256];
	char *data;		/* without the final dot line */
};

struct smtpsink {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	int stop;
	int reject;		/* answer MAIL FROM with 451 */
	int mute;		/* after the final dot (keep the message): */
#define SMTPSINK_MUTE_CLOSE	1	/* close the connection, no reply */
#define SMTPSINK_MUTE_SILENT	2	/* say nothing until the client
					 * gives up */
	struct smtpsink_msg msgs[SMTPSINK_MAX];
	unsigned count;		/* kept in msgs[] */
	unsigned total;		/* accepted, kept or not */
	int lifetime;		/* seconds; 0: two minutes */
};

int smtpsink_start(struct smtpsink *s);
int smtpsink_start_for(struct smtpsink *s, int lifetime);
void smtpsink_stop(struct smtpsink *s);

/* smtpsink_count - how many messages were accepted so far. */
unsigned smtpsink_count(struct smtpsink *s);

#endif

/* smtpsink.c - see smtpsink.h. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtpsink.h"

#define LIFETIME	120	/* seconds */

static void
say(int c, const char *s)
{
	size_t n = strlen(s);

	if (write(c, s, n) != (ssize_t)n)
		return;
}

/* One line, CRLF stripped, into @line; 0 at EOF or after 5 s idle. */
static int
read_line(int c, char *buf, size_t *have, char *line, size_t linesz)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		struct pollfd p = { c, POLLIN, 0 };
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - buf) + 1, keep = len;

			if (keep > 1 && buf[keep - 2] == '\r')
				keep--;
			keep--;
			if (keep >= linesz)
				keep = linesz - 1;
			memcpy(line, buf, keep);
			line[keep] = '\0';
			memmove(buf, buf + len, *have - len);
			*have -= len;
			return 1;
		}
		if (*have == 8192 || poll(&p, 1, 5000) <= 0 ||
		    (n = read(c, buf + *have, 8192 - *have)) <= 0)
			return 0;
		*have += (size_t)n;
	}
}

static void
session(struct smtpsink *s, int c)
{
	char buf[8192], line[1024];
	size_t have = 0;
	struct smtpsink_msg m;
	int mute;

	memset(&m, 0, sizeof(m));
	say(c, "220 sink ESMTP\r\n");
	while (read_line(c, buf, &have, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "HELO", 4) == 0) {
			say(c, "250 sink\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (s->reject) {
				say(c, "451 4.3.0 not now\r\n");
				continue;
			}
			snprintf(m.mail_from, sizeof(m.mail_from), "%.255s",
			    line + 10);
			say(c, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			snprintf(m.rcpt, sizeof(m.rcpt), "%.255s", line + 8);
			say(c, "250 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			char *data = NULL;
			size_t len = 0;
			FILE *fp = open_memstream(&data, &len);

			say(c, "354 go on\r\n");
			while (fp != NULL &&
			    read_line(c, buf, &have, line, sizeof(line)) &&
			    strcmp(line, ".") != 0)
				fprintf(fp, "%s\r\n", line[0] == '.' ?
				    line + 1 : line);
			if (fp != NULL)
				fclose(fp);
			m.data = data;
			pthread_mutex_lock(&s->lock);
			if (s->count < SMTPSINK_MAX)
				s->msgs[s->count++] = m;
			else
				free(data);
			s->total++;
			mute = s->mute;
			pthread_mutex_unlock(&s->lock);
			memset(&m, 0, sizeof(m));
			if (mute == SMTPSINK_MUTE_CLOSE)
				return;
			/* Until the client gives up (or 5 s idle). */
			while (mute == SMTPSINK_MUTE_SILENT &&
			    read_line(c, buf, &have, line, sizeof(line)))
				;
			if (mute != 0)
				return;
			say(c, "250 queued\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(c, "221 bye\r\n");
			break;
		} else if (strcasecmp(line, "RSET") == 0 ||
		    strcasecmp(line, "NOOP") == 0) {
			say(c, "250 ok\r\n");
		} else
			say(c, "502 no\r\n");
	}
}

static void *
serve(void *arg)
{
	struct smtpsink *s = arg;
	time_t end = time(NULL) + (s->lifetime > 0 ? s->lifetime : LIFETIME);

	while (!s->stop && time(NULL) < end) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		int c;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		session(s, c);
		close(c);
	}
	return NULL;
}

int
smtpsink_start(struct smtpsink *s)
{
	return smtpsink_start_for(s, 0);
}

int
smtpsink_start_for(struct smtpsink *s, int lifetime)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->lifetime = lifetime;
	pthread_mutex_init(&s->lock, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->fd, 8) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, serve, s) == 0 ? 0 : -1;
}

void
smtpsink_stop(struct smtpsink *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
	close(s->fd);
	for (unsigned i = 0; i < s->count; i++)
		free(s->msgs[i].data);
	pthread_mutex_destroy(&s->lock);
}

unsigned
smtpsink_count(struct smtpsink *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

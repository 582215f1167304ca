/*
 * httpd.c - minimal loopback HTTP server for plugin tests.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

static void
serve(struct httpd *h, int c)
{
	char buf[65536];
	size_t len = 0;
	char *eoh = NULL, *cl;
	size_t want = 0;
	struct httpd_request r;
	char resp[4096];
	int n;

	memset(&r, 0, sizeof(r));
	while (len < sizeof(buf) - 1) {
		struct pollfd p = { c, POLLIN, 0 };
		ssize_t k;

		/* A client that goes quiet must not hang the test. */
		if (poll(&p, 1, 5000) <= 0)
			return;
		k = read(c, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			return;
		len += (size_t)k;
		buf[len] = '\0';
		if (eoh == NULL && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			want = 0;
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL &&
			    cl < eoh)
				want = strtoul(cl + 17, NULL, 10);
		}
		if (eoh != NULL && len >= (size_t)(eoh + 4 - buf) + want)
			break;
	}
	if (eoh == NULL)
		return;
	sscanf(buf, "%15s %255s", r.method, r.path);
	{
		char *first = strstr(buf, "\r\n") + 2;
		size_t hl = (size_t)(eoh + 2 - first);

		if (hl >= sizeof(r.headers))
			hl = sizeof(r.headers) - 1;
		memcpy(r.headers, first, hl);
		r.headers[hl] = '\0';
	}
	r.body_len = len - (size_t)(eoh + 4 - buf);
	r.body = malloc(r.body_len + 1);
	memcpy(r.body, eoh + 4, r.body_len);
	r.body[r.body_len] = '\0';

	pthread_mutex_lock(&h->lock);
	free(h->last.body);
	h->last = r;
	h->requests++;
	if (h->on_request != NULL)
		h->on_request(h->arg, &r, h->status);
	unsigned delay = h->delay_ms;
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d Test\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n%s\r\n%s", h->status, strlen(h->body),
	    h->extra_headers, h->body);
	pthread_mutex_unlock(&h->lock);
	if (delay > 0) {
		struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (n > 0 && write(c, resp, (size_t)n) < 0)
		return;
}

static void *
loop(void *arg)
{
	struct httpd *h = arg;

	for (;;) {
		struct pollfd p = { h->fd, POLLIN, 0 };
		int stop, c;

		pthread_mutex_lock(&h->lock);
		stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((c = accept(h->fd, NULL, NULL)) < 0)
			continue;
		serve(h, c);
		close(c);
	}
	return NULL;
}

int
httpd_start(struct httpd *h)
{
	return httpd_start_port(h, 0);
}

int
httpd_start_port(struct httpd *h, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int one = 1;

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->status = 200;
	snprintf(h->body, sizeof(h->body), "{}");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if ((h->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 ||
	    bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(h->fd, 8) != 0 ||
	    getsockname(h->fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	h->port = ntohs(sa.sin_port);
	return pthread_create(&h->thread, NULL, loop, h);
}

void
httpd_stop(struct httpd *h)
{
	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	close(h->fd);
	free(h->last.body);
	h->last.body = NULL;
}

void
httpd_respond(struct httpd *h, int status, const char *extra_headers,
    const char *body, unsigned delay_ms)
{
	pthread_mutex_lock(&h->lock);
	h->status = status;
	snprintf(h->extra_headers, sizeof(h->extra_headers), "%s",
	    extra_headers ? extra_headers : "");
	snprintf(h->body, sizeof(h->body), "%s", body ? body : "");
	h->delay_ms = delay_ms;
	pthread_mutex_unlock(&h->lock);
}

const char *
httpd_header(struct httpd *h, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *p;

	pthread_mutex_lock(&h->lock);
	for (p = h->last.headers; p != NULL && *p; ) {
		const char *e = strstr(p, "\r\n");

		if (e == NULL)
			break;
		if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':') {
			const char *v = p + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(out, outsz, "%.*s", (int)(e - v), v);
			pthread_mutex_unlock(&h->lock);
			return out;
		}
		p = e + 2;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * httpd.h - a one-connection-at-a-time HTTP/1.1 server on 127.0.0.1 for
 * plugin tests. It records each request and answers with the response
 * the test set up. It stops when the test calls httpd_stop().
 */
#ifndef DV_TEST_HTTPD_H
#define DV_TEST_HTTPD_H

#include <pthread.h>
#include <stddef.h>

struct httpd_request {
	char method[16];
	char path[256];
	char headers[8192];	/* raw header lines */
	char *body;
	size_t body_len;
};

struct httpd {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	int stop;
	/* The next response. */
	int status;
	char extra_headers[512];
	char body[2048];
	unsigned delay_ms;
	/* What was received. */
	struct httpd_request last;
	unsigned requests;
	/* Called with the lock held for every request, if set (after
	 * httpd_start()), before it is answered with @status. */
	void (*on_request)(void *arg, const struct httpd_request *r,
	    int status);
	void *arg;
};

int httpd_start(struct httpd *h);
/* httpd_start_port - httpd_start() on a given port (0: any free one),
 * e.g. to come back where a stopped server was. */
int httpd_start_port(struct httpd *h, int port);
void httpd_stop(struct httpd *h);
void httpd_respond(struct httpd *h, int status, const char *extra_headers,
    const char *body, unsigned delay_ms);

/* httpd_header - value of a header in the last request, or NULL. */
const char *httpd_header(struct httpd *h, const char *name, char *out,
    size_t outsz);

#endif

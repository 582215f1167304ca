/*
 * hookd.c - a webhook receiver for system tests, on 127.0.0.1.
 *   hookd PORTFILE REQDIR STATUS [BODY [SECONDS]]
 * Answers every request with STATUS and BODY, saves each request body
 * as REQDIR/N.json and its headers as REQDIR/N.headers, writes its port
 * to PORTFILE, and exits on SIGTERM or after SECONDS (default 300).
 * A file REQDIR/status holding "STATUS [DELAY_MS]" changes the answer
 * while it runs.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"

int
main(int argc, char **argv)
{
	struct httpd h;
	unsigned seen = 0, left;
	sigset_t set;
	FILE *fp;

	if (argc < 4) {
		fprintf(stderr, "usage: hookd PORTFILE REQDIR STATUS [BODY "
		    "[SECONDS]]\n");
		return 2;
	}
	left = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) * 10 : 3000;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (httpd_start(&h) != 0)
		return 1;
	httpd_respond(&h, (int)strtol(argv[3], NULL, 10), NULL, argc > 4 ? argv[4] : "{}", 0);
	if ((fp = fopen(argv[1], "w")) == NULL)
		return 1;
	fprintf(fp, "%d\n", h.port);
	fclose(fp);
	while (left-- > 0) {
		struct timespec ts = { 0, 100000000 };

		char sp[1100];
		FILE *sf;

		if (sigtimedwait(&set, NULL, &ts) > 0)
			break;
		snprintf(sp, sizeof(sp), "%s/status", argv[2]);
		if ((sf = fopen(sp, "r")) != NULL) {
			int st = 0;
			unsigned delay = 0;

			if (fscanf(sf, "%d %u", &st, &delay) >= 1 && st > 0)
				httpd_respond(&h, st, NULL,
				    argc > 4 ? argv[4] : "{}", delay);
			fclose(sf);
		}
		pthread_mutex_lock(&h.lock);
		while (seen < h.requests) {
			char path[1100];

			seen++;
			snprintf(path, sizeof(path), "%s/%u.json", argv[2], seen);
			if ((fp = fopen(path, "w")) != NULL) {
				fwrite(h.last.body, 1, h.last.body_len, fp);
				fclose(fp);
			}
			snprintf(path, sizeof(path), "%s/%u.headers", argv[2],
			    seen);
			if ((fp = fopen(path, "w")) != NULL) {
				fputs(h.last.headers, fp);
				fclose(fp);
			}
		}
		pthread_mutex_unlock(&h.lock);
	}
	httpd_stop(&h);
	return 0;
}

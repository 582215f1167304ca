/*
 * smtpsinkd.c - the SMTP sink (smtpsink.c) as a program, for system
 * tests that count what a plugin sends.
 *   smtpsinkd PORTFILE OUTDIR [SECONDS]
 * Writes its port to PORTFILE, each message it keeps (the first
 * SMTPSINK_MAX) as OUTDIR/N.eml with its envelope on the first two
 * lines, and the number it accepted in all to OUTDIR/count, updated
 * every 100 ms. It exits on SIGTERM or after SECONDS (default 300).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpsink.h"

static int
write_file(const char *dir, const char *name, const char *a,
    const char *b, const char *c)
{
	char path[1100], tmp[1200];
	FILE *fp;

	if (dir != NULL)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else
		snprintf(path, sizeof(path), "%s", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(fp, "%s%s%s", a, b, c);
	if (fclose(fp) != 0)
		return -1;
	return rename(tmp, path);
}

int
main(int argc, char **argv)
{
	struct smtpsink s;
	unsigned seen = 0, total = 0;
	long left;
	sigset_t set;
	char port[32], name[32], n[32];

	if (argc < 3) {
		fprintf(stderr, "usage: smtpsinkd PORTFILE OUTDIR [SECONDS]\n");
		return 2;
	}
	left = argc > 3 ? strtol(argv[3], NULL, 10) : 300;
	if (left <= 0 || left > 3600)
		left = 300;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (smtpsink_start_for(&s, (int)left) != 0)
		return 1;
	snprintf(port, sizeof(port), "%d\n", s.port);
	if (write_file(argv[2], "count", "0\n", "", "") != 0 ||
	    write_file(NULL, argv[1], port, "", "") != 0)
		return 1;
	for (left *= 10; left > 0; left--) {
		struct timespec ts = { 0, 100000000 };

		if (sigtimedwait(&set, NULL, &ts) > 0)
			break;
		pthread_mutex_lock(&s.lock);
		for (; seen < s.count; seen++) {
			const struct smtpsink_msg *m = &s.msgs[seen];
			char env[600];

			snprintf(env, sizeof(env), "%s\n%s\n", m->mail_from,
			    m->rcpt);
			snprintf(name, sizeof(name), "%u.eml", seen + 1);
			(void)write_file(argv[2], name, env, m->data ?
			    m->data : "", "");
		}
		if (total != s.total) {
			total = s.total;
			snprintf(n, sizeof(n), "%u\n", total);
			(void)write_file(argv[2], "count", n, "", "");
		}
		pthread_mutex_unlock(&s.lock);
	}
	smtpsink_stop(&s);
	return 0;
}

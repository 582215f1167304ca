/*
 * noop_milter.c - the benchmark's baseline: a milter that decides nothing.
 *
 * It negotiates exactly what dvmilter negotiates (no HELO, headers, EOH
 * or body; no reply to connect; the same macro lists) and answers every
 * envelope callback with CONTINUE and DATA with ACCEPT, so the MTA pays
 * the full milter round-trip cost per stage and nothing else. Comparing
 * Postfix with this milter against Postfix with dvmilter isolates the
 * cost of dvmilter's own work (store lookups, logging).
 *
 * With -b it is the baseline for tracked mail instead: it also takes
 * the headers, EOH and body (without replies, as dvmilter does when it
 * tracks), continues at DATA and answers at end of message, so the MTA
 * streams every message to it, as to a tracking dvmilter.
 *
 * With -h it also negotiates the header changes (SMFIF_CHGHDRS and
 * SMFIF_ADDHDRS) that a tracking dvmilter negotiates for the tracking
 * token, without using them; -a N negotiates the SMFIF_ bits N instead
 * (for experiments). tests/bench/track.sh uses -b only.
 *
 * usage: noop_milter [-b] [-h | -a N] -p SOCKETSPEC
 *        (SOCKETSPEC: local:/path or inet:PORT@HOST)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static char noop_name[] = "noop_milter";
static char macros_from[] = "i {auth_authen}";
static char macros_rcpt[] = "i";
static char macros_data[] = "i";
static int with_body;
static unsigned long actions;

static sfsistat
noop_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long skip = SMFIP_NOHELO | SMFIP_NOUNKNOWN;

	(void)f2;
	(void)f3;
	if (!with_body)
		skip |= SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY;
	*pf0 = f0 & (SMFIF_SETSYMLIST | actions);
	*pf1 = (skip | SMFIP_NR_CONN | (with_body ? SMFIP_NR_HDR |
	    SMFIP_NR_EOH | SMFIP_NR_BODY : 0)) & f1;
	*pf2 = 0;
	*pf3 = 0;
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_ENVFROM, macros_from);
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, macros_rcpt);
		smfi_setsymlist(ctx, SMFIM_DATA, macros_data);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
noop_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	(void)ctx;
	(void)hostname;
	(void)sa;
	/*
	 * NR_CONN was agreed in negotiate: libmilter always offers it and
	 * sends the CONTINUE itself to an MTA that lacks the feature.
	 */
	return SMFIS_NOREPLY;
}

static sfsistat
noop_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
noop_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
noop_data(SMFICTX *ctx)
{
	(void)ctx;
	return with_body ? SMFIS_CONTINUE : SMFIS_ACCEPT;
}

static sfsistat
noop_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return SMFIS_NOREPLY;
}

static sfsistat
noop_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_NOREPLY;
}

static sfsistat
noop_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx;
	(void)chunk;
	(void)len;
	return SMFIS_NOREPLY;
}

static sfsistat
noop_continue(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static struct smfiDesc noop_description = {
	.xxfi_name = noop_name,
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_SETSYMLIST | SMFIF_CHGHDRS | SMFIF_ADDHDRS,
	.xxfi_connect = noop_connect,
	.xxfi_helo = NULL,
	.xxfi_envfrom = noop_envfrom,
	.xxfi_envrcpt = noop_envrcpt,
	.xxfi_header = noop_header,
	.xxfi_eoh = noop_eoh,
	.xxfi_body = noop_body,
	.xxfi_eom = noop_continue,
	.xxfi_abort = noop_continue,
	.xxfi_close = noop_continue,
	.xxfi_unknown = NULL,
	.xxfi_data = noop_data,
	.xxfi_negotiate = noop_negotiate,
};

int
main(int argc, char **argv)
{
	const char *spec = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "a:bhp:")) != -1) {
		switch (ch) {
		case 'b':
			with_body = 1;
			break;
		case 'a':	/* for experiments: SMFIF_ bits */
			actions = strtoul(optarg, NULL, 0);
			break;
		case 'h':
			actions = SMFIF_CHGHDRS | SMFIF_ADDHDRS;
			break;
		case 'p':
			spec = optarg;
			break;
		default:
			fprintf(stderr, "usage: noop_milter [-b] [-h | -a N] -p SOCKETSPEC\n");
			return 2;
		}
	}
	if (spec == NULL || optind != argc) {
		fprintf(stderr, "usage: noop_milter [-b] [-h | -a N] -p SOCKETSPEC\n");
		return 2;
	}
	if (smfi_setconn((char *)spec) != MI_SUCCESS) {
		fprintf(stderr, "noop_milter: bad socket \"%s\"\n", spec);
		return 1;
	}
	if (smfi_register(noop_description) != MI_SUCCESS) {
		fprintf(stderr, "noop_milter: smfi_register failed\n");
		return 1;
	}
	/*
	 * A benchmark tool: any local user (the MTA's) may connect to a unix
	 * socket. smfi_opensocket(1) removes a stale one first.
	 */
	umask(0);
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "noop_milter: cannot listen on %s\n", spec);
		return 1;
	}
	fprintf(stderr, "noop_milter listening on %s\n", spec);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}

/*
 * mf_callbacks.c - the libmilter callbacks.
 *
 * Every libmilter callback and the smfiDesc are here, and each is thin:
 * fetch the connection context, ask core/ (through mf_track.c and
 * mf_decide.c) for a decision, and turn it into a return code and the
 * smfi_* calls it needs (a reply, the tracking token in the subject).
 * Nothing here blocks on a network: the I/O is LMDB reads through the
 * connection's store reader and, at end of message, the outbox commit.
 *
 * Per-connection state is created in connect; a command that arrives
 * without it (connect failed, or was skipped) is tempfailed rather than
 * handled without knowing the client. Per-message state is reset at MAIL
 * FROM, end of message and abort, and everything is freed in close,
 * which may run without a connect having run at all.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "mf_int.h"

#define QID_NONE "NOQUEUE"

/* libmilter's prototypes take char *, so the literals live in arrays. */
static char mf_name[] = "dvmilter";
static char macro_qid[] = "i";
static char macro_auth[] = "{auth_authen}";
static char macros_from[] = "i {auth_authen}";
static char macros_rcpt[] = "i";
static char macros_data[] = "i";

static void
conn_reset_message(struct mf_conn *cc)
{
	cc->nrcpt = 0;
	cc->outbound = false;
	cc->involved = false;
	mf_track_reset(cc);
}

static void
conn_free(struct mf_conn *cc)
{
	if (cc == NULL)
		return;
	mf_track_reset(cc);
	spool_free(&cc->spool);
	store_reader_close(cc->reader);
	conf_unref(cc->conf);
	free(cc);
}

/* A new connection context: the client, the config; no reader yet. */
static struct mf_conn *
conn_new(SMFICTX *ctx)
{
	struct mf_conn *cc = calloc(1, sizeof(*cc));

	if (cc == NULL) {
		log_error("out of memory for a connection context");
		return NULL;
	}
	cc->conf = mf_conf_acquire();
	/* No spool file yet: closing fd 0 would close a connection. */
	cc->spool.fd = -1;
	snprintf(cc->client, sizeof(cc->client), "unknown");
	if (smfi_setpriv(ctx, cc) != MI_SUCCESS) {
		conn_free(cc);
		return NULL;
	}
	return cc;
}

/*
 * The context for a SMTP command, with its store reader. NULL (the
 * caller tempfails) if connect could not set it up: making one now
 * would lose what connect knew, such as whether the client is internal.
 */
static struct mf_conn *
conn_get(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);
	const char *err;

	if (cc == NULL)
		return NULL;
	if (cc->reader == NULL &&
	    store_reader_open(dvd.store, &cc->reader, &err) != 0) {
		log_error("cannot open a store reader: %s", err);
		return NULL;
	}
	return cc;
}

static const char *
qid_of(SMFICTX *ctx)
{
	const char *q = smfi_getsymval(ctx, macro_qid);

	return q != NULL && *q != '\0' ? q : QID_NONE;
}

/* smfi_setreply() treats '%' as a format character. */
static void
escape_percent(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in != '\0' && o + 2 < outsz; in++) {
		if (*in == '%')
			out[o++] = '%';
		out[o++] = *in;
	}
	out[o] = '\0';
}

static sfsistat
apply(SMFICTX *ctx, const struct decision *d, const char *qid,
    const char *stage)
{
	char text[DV_REPLY_TEXT_MAX * 2 + 1];

	if (d->verdict == VERDICT_CONTINUE)
		return SMFIS_CONTINUE;
	escape_percent(d->text, text, sizeof(text));
	if (smfi_setreply(ctx, (char *)d->code, (char *)d->xcode, text) !=
	    MI_SUCCESS)
		log_warn("%s: %s: could not set reply \"%s %s %s\"; the MTA "
		    "will use its default", qid, stage, d->code, d->xcode,
		    d->text);
	return d->verdict == VERDICT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

static void
log_decision(const char *qid, const char *stage, const char *raw,
    const struct mf_conn *cc, const struct decision *d)
{
	char reply[DV_REPLY_TEXT_MAX + 40] = "";
	int level = d->verdict == VERDICT_CONTINUE ? LOG_LVL_INFO :
	    LOG_LVL_NOTICE;

	if (d->verdict == VERDICT_TEMPFAIL && d->detail != NULL)
		level = LOG_LVL_WARNING;
	if (!log_enabled(level))
		return;
	if (d->verdict != VERDICT_CONTINUE)
		snprintf(reply, sizeof(reply), " reply=\"%s %s %s\"", d->code,
		    d->xcode, d->text);
	log_msg(level, "%s: %s=%s mailbox=%s approval=%s reason=%s "
	    "action=%s%s client=%s%s%s", qid, stage, raw,
	    d->found ? d->addr : "-",
	    d->found ? mbox_approval_name(d->pol.approval) : "-",
	    d->reason, policy_verdict_name(d->verdict), reply, cc->client,
	    d->detail != NULL ? " error=" : "",
	    d->detail != NULL ? d->detail : "");
}

/* Setting up the connection failed (logged already): tempfail. */
static sfsistat
internal_error(SMFICTX *ctx, const char *stage)
{
	static char code[] = "451", xcode[] = "4.3.0";
	static char text[] = "temporary failure in the mail filter, try again";

	log_warn("%s: %s: no connection context; tempfailing", qid_of(ctx),
	    stage);
	smfi_setreply(ctx, code, xcode, text);
	return SMFIS_TEMPFAIL;
}

static sfsistat
mf_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	/* Stages we never look at; the MTA need not send them. Content is
	 * needed only when tracked mail goes to the outbox. */
	unsigned long skip = SMFIP_NOHELO | SMFIP_NOUNKNOWN;

	if (dvd.ob == NULL)
		skip |= SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY;
	/* Tracking adds the tracking token to outgoing subjects. */
	*pf0 = f0 & (SMFIF_SETSYMLIST | (dvd.ob != NULL ?
	    SMFIF_CHGHDRS | SMFIF_ADDHDRS : 0));
	/* Connect and content callbacks only record: no replies needed. */
	*pf1 = (skip | SMFIP_NR_CONN | SMFIP_NR_HDR | SMFIP_NR_EOH |
	    SMFIP_NR_BODY) & f1;
	*pf2 = 0;
	*pf3 = 0;
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_ENVFROM, macros_from);
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, macros_rcpt);
		smfi_setsymlist(ctx, SMFIM_DATA, macros_data);
		smfi_setsymlist(ctx, SMFIM_EOM, macros_data);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mf_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct mf_conn *cc = conn_new(ctx);

	if (cc == NULL)
		return SMFIS_NOREPLY;
	cc->internal = cidr_list_match(&cc->conf->internal_hosts, sa);
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr,
		    cc->client, sizeof(cc->client));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)(void *)sa)->sin6_addr,
		    cc->client, sizeof(cc->client));
	else
		snprintf(cc->client, sizeof(cc->client), "%s",
		    hostname != NULL ? hostname : "local");
	return SMFIS_NOREPLY;
}

static sfsistat
mf_envfrom(SMFICTX *ctx, char **argv)
{
	struct mf_conn *cc = conn_get(ctx);
	struct decision d;
	const char *auth, *qid;

	if (cc == NULL)
		return internal_error(ctx, "MAIL FROM");
	conn_reset_message(cc);
	/* A new transaction sees the config of the moment. */
	conf_unref(cc->conf);
	cc->conf = mf_conf_acquire();
	auth = smfi_getsymval(ctx, macro_auth);
	cc->outbound = (auth != NULL && *auth != '\0') || cc->internal;
	policy_sender(cc->conf, cc->reader, argv[0], cc->outbound, &d);
	if (d.found)
		cc->involved = true;
	if (d.verdict == VERDICT_CONTINUE)
		mf_track_sender(cc, argv[0], &d);
	qid = qid_of(ctx);
	if (cc->outbound)
		log_decision(qid, "from", argv[0], cc, &d);
	return apply(ctx, &d, qid, "MAIL FROM");
}

static sfsistat
mf_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mf_conn *cc = conn_get(ctx);
	struct decision d;
	const char *qid;

	if (cc == NULL)
		return internal_error(ctx, "RCPT TO");
	policy_rcpt(cc->conf, cc->reader, argv[0], ++cc->nrcpt, &d);
	if (d.found)
		cc->involved = true;
	mf_track_rcpt(cc, argv[0], &d);
	qid = qid_of(ctx);
	log_decision(qid, "rcpt", argv[0], cc, &d);
	return apply(ctx, &d, qid, "RCPT TO");
}

static sfsistat
mf_data(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	/*
	 * An untracked message needs nothing after DATA: accepting it here
	 * ends filtering for it and spares the MTA sending the content.
	 */
	if (cc != NULL && mf_track_begin(cc))
		return SMFIS_CONTINUE;
	if (cc != NULL)
		conn_reset_message(cc);
	return SMFIS_ACCEPT;
}

static sfsistat
mf_header(SMFICTX *ctx, char *name, char *value)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		mf_track_header(cc, name, value);
	return SMFIS_NOREPLY;
}

static sfsistat
mf_eoh(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		mf_track_eoh(cc);
	return SMFIS_NOREPLY;
}

static sfsistat
mf_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		mf_track_body(cc, chunk, len);
	return SMFIS_NOREPLY;
}

/* Add the tracking token to the subject of outgoing tracked mail. */
static void
add_token(SMFICTX *ctx, const struct mf_conn *cc, const char *qid,
    const char *tok)
{
	static char subject[] = "Subject";
	char *nv;
	size_t n;
	int rc;

	if (cc->subject == NULL) {
		rc = smfi_addheader(ctx, subject, (char *)tok);
	} else {
		n = strlen(cc->subject) + strlen(tok) + 2;
		if ((nv = malloc(n)) == NULL)
			return;
		snprintf(nv, n, "%s %s", cc->subject, tok);
		rc = smfi_chgheader(ctx, subject, 1, nv);
		free(nv);
	}
	if (rc == MI_SUCCESS)
		log_info("%s: tracking token %s added to the subject", qid, tok);
	else
		log_warn("%s: the MTA did not let the tracking token be added "
		    "to the subject", qid);
}

static sfsistat
mf_eom(SMFICTX *ctx)
{
	static char code[] = "451", xcode[] = "4.3.0";
	static char text[] = "message could not be stored for tracking, "
	    "try again later";
	/* CaseRateLimit (mf_caserate.c): no % in these texts. */
	static char rate_xcode[] = "4.7.1";
	static char rate_sender[] = "too many new cases from this sender, "
	    "try again later";
	static char rate_queue[] = "too many new cases for this mailbox, "
	    "try again later";
	struct mf_conn *cc = smfi_getpriv(ctx);
	const char *qid = smfi_getsymval(ctx, macro_qid);
	struct mf_eom r = { false, "", 0 };

	if (qid != NULL && *qid == '\0')
		qid = NULL;
	if (cc != NULL && cc->collecting)
		mf_track_eom(cc, qid, &r);
	if (r.token[0] != '\0')
		add_token(ctx, cc, qid != NULL ? qid : QID_NONE, r.token);
	if (cc != NULL)
		conn_reset_message(cc);
	if (r.tempfail) {
		smfi_setreply(ctx, code, xcode, text);
		return SMFIS_TEMPFAIL;
	}
	if (r.rate_limited != 0) {
		smfi_setreply(ctx, code, rate_xcode, r.rate_limited == 1 ?
		    rate_sender : rate_queue);
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mf_abort(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		conn_reset_message(cc);
	return SMFIS_CONTINUE;
}

static sfsistat
mf_close(SMFICTX *ctx)
{
	struct mf_conn *cc = smfi_getpriv(ctx);

	/* cc is NULL when the MTA closed before connect (a probe). */
	if (cc != NULL) {
		smfi_setpriv(ctx, NULL);
		conn_free(cc);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc mf_description = {
	.xxfi_name = mf_name,
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_SETSYMLIST | SMFIF_CHGHDRS | SMFIF_ADDHDRS,
	.xxfi_connect = mf_connect,
	.xxfi_helo = NULL,
	.xxfi_envfrom = mf_envfrom,
	.xxfi_envrcpt = mf_envrcpt,
	.xxfi_header = mf_header,
	.xxfi_eoh = mf_eoh,
	.xxfi_body = mf_body,
	.xxfi_eom = mf_eom,
	.xxfi_abort = mf_abort,
	.xxfi_close = mf_close,
	.xxfi_unknown = NULL,
	.xxfi_data = mf_data,
	.xxfi_negotiate = mf_negotiate,
};

/*
 * mf_int.h - private interface of the milter daemon (milter/mf_*.c).
 *
 * The daemon's only global is `dvd`, its top-level state. Everything that
 * belongs to one SMTP connection lives in a struct mf_conn hung on the
 * libmilter context with smfi_setpriv().
 */
#ifndef DV_MF_INT_H
#define DV_MF_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libmilter/mfapi.h>

#include "buf.h"
#include "conf.h"
#include "policy.h"
#include "outbox.h"
#include "spool.h"
#include "store.h"
#include "token.h"
#include "track.h"

/* The stack of every thread of the daemon, libmilter's included. */
#define MF_THREAD_STACK	((size_t)1 << 20)

/* The outbox worker's supervisor (mf_supervise.c). */
struct mf_supervisor {
	pthread_t thread;
	atomic_int pid;			/* the worker's, or 0 */
	atomic_bool stopping;
	char exe[PATH_MAX];		/* the worker program; "" if none */
	pthread_mutex_t lock;		/* with cond: the restart wait */
	pthread_cond_t cond;
};

struct dv_daemon {
	pthread_mutex_t lock;		/* guards conf */
	struct conf *conf;		/* the current snapshot */
	struct store *store;		/* opened once, never swapped */
	const char *conf_path;
	struct conf *boot;		/* snapshot the daemon started with */
	bool foreground;
	struct outbox *ob;		/* the outbox, if tracking */
	struct token_key token_key;	/* valid when ob is set */
	struct mf_supervisor sup;
	struct caserate *caserate;	/* CaseRateLimit's counters, if
					   tracking */
};

extern struct dv_daemon dvd;

struct mf_conn {
	struct conf *conf;		/* pinned for one transaction */
	struct store_reader *reader;
	bool internal;			/* client address in InternalHosts */
	char client[64];		/* client address as text, for logs */

	/* Per message; reset at MAIL FROM, end of message and abort. */
	unsigned nrcpt;
	bool outbound;			/* authenticated or internal client */
	bool involved;			/* a known mailbox is a party */
	char *env_from;			/* envelope sender as sent */
	char **rcpts;			/* accepted recipients as sent */
	size_t nrcpts;
	struct track_party *tracked;	/* mailboxes to track it for */
	size_t ntracked;
	struct track_facts facts;	/* what the decision found */
	bool reply_from_party;		/* it answers a message whose envelope
					   had its sender (mf_decide.c) */
	char *message_id;		/* from the header, without <> */
	char *in_reply_to, *references, *subject;	/* raw headers */
	unsigned subjects;		/* Subject headers seen */
	char *from;			/* raw From: header */
	char *authres[AUTHRES_MAX_HEADERS];	/* Authentication-Results */
	size_t nauthres;
	struct dbuf headers;		/* "Name: value\n"..., capped */
	struct spool spool;		/* the content, when tracked */
	bool collecting;
	bool expected;			/* announced to the outbox writer */
	int spool_err;			/* first error storing the content */
	/* The content digest (core/mdigest.h): with the Message-ID, what
	 * makes two transactions carry the same message. */
	struct mdigest *digest;
};

/* mf_callbacks.c */

/** mf_description - the filter description for smfi_register(). */
extern struct smfiDesc mf_description;

/* mf_track.c */

/* What end of message asks of the MTA (mf_callbacks.c applies it). */
struct mf_eom {
	bool tempfail;			/* the message could not be stored */
	char token[TOKEN_MAX];		/* add to the subject, or "" */
	int rate_limited;		/* mf_caserate_check(): 0, or refuse
					   with 451 4.7.1 */
};

/** mf_track_reset - forget the message being tracked (any stage). */
void mf_track_reset(struct mf_conn *cc);
/** mf_track_sender - note the sender; tracked if outgoing and synced. */
void mf_track_sender(struct mf_conn *cc, const char *raw,
    const struct decision *d);
/** mf_track_rcpt - note an accepted recipient; tracked if synced. */
void mf_track_rcpt(struct mf_conn *cc, const char *raw,
    const struct decision *d);
/** mf_track_begin - at DATA: true if the content must be collected. */
bool mf_track_begin(struct mf_conn *cc);
/** mf_track_header - keep one header of a collected message. */
void mf_track_header(struct mf_conn *cc, const char *name,
    const char *value);
/** mf_track_eoh - the end of a collected message's header. */
void mf_track_eoh(struct mf_conn *cc);
/** mf_track_body - keep one body chunk of a collected message. */
void mf_track_body(struct mf_conn *cc, const unsigned char *chunk,
    size_t len);
/**
 * mf_track_eom - decide, and commit to the outbox what a mailbox takes.
 * @param[in]  qid  the MTA's queue id, or NULL if it sent none.
 * @param[out] out  whether to tempfail, and a tracking token for the
 *                  subject of outgoing mail.
 */
void mf_track_eom(struct mf_conn *cc, const char *qid, struct mf_eom *out);

/* mf_decide.c */

/**
 * mf_decide - at end of message, apply the tracking decision (core/
 * track.h) to the mailboxes in cc->tracked: log each decision with @qid
 * and keep only the mailboxes that take the message. For a message that
 * is kept, correlation runs too (cc->facts), and a forged tracking token
 * in its subject is logged, once.
 * @return 0, or -1 (logged with @qid) when the decision could not be
 *         made (the store could not be read): the message is tempfailed,
 *         so that no "do not track" rule is ever skipped.
 */
int mf_decide(struct mf_conn *cc, const char *qid);

/* mf_caserate.c */

struct caserate;

/**
 * mf_caserate_start - set up CaseRateLimit's counters (dvd.caserate),
 * with tracking, at start-up.
 * @return 0, or a status with *error_r.
 */
int mf_caserate_start(const char **error_r);

/**
 * mf_caserate_check - at end of message, after mf_decide(): if the
 * message is a would-be new case (incoming, taken by a queue mailbox,
 * correlating with nothing), count it against CaseRateLimit.
 * @return 0 to go on; 1 (the sender) or 2 (a queue) when it is over a
 *         limit: logged with @qid, and the caller refuses it with 451
 *         4.7.1 without storing it.
 */
int mf_caserate_check(struct mf_conn *cc, const char *qid);

/* mf_supervise.c */

/**
 * mf_worker_prepare - before the privilege drop: load the tracking token
 * key, made if needed (mf_store_hand_over() then gives it to UserID).
 */
int mf_worker_prepare(const struct conf *c, struct token_key *key,
    const char **error_r);
/**
 * mf_worker_check_plugins - load and initialise the plugins as the
 * worker will: as UserID. When UserID is set and we are root, this runs
 * in a child process that drops its privileges first, so that a file a
 * plugin reads (Webhook.SecretFile, the plugin itself) that root can
 * read but UserID cannot is reported now, not by a worker that keeps
 * failing. Otherwise it does nothing (the caller has loaded them as the
 * worker's user already). Call it while the process has one thread.
 * @return 0, or -1 with *error_r.
 */
int mf_worker_check_plugins(const struct conf *c, const char **error_r);
/** mf_worker_start - start the supervisor, which starts the worker. */
int mf_worker_start(const char **error_r);
/** mf_worker_kick - tell the worker that new outbox entries are indexed. */
void mf_worker_kick(void);
/** mf_worker_stop - stop the worker and its supervisor; waits. */
void mf_worker_stop(void);

/* mf_daemon.c */

/**
 * mf_conf_acquire - a reference to the current config snapshot; release
 * it with conf_unref().
 */
struct conf *mf_conf_acquire(void);

/**
 * mf_reload - load the config file again and swap it in. A file that
 * fails to load is refused and the running config stays.
 * @return 0 if the new config is in force.
 */
int mf_reload(void);

/**
 * mf_socket_prepare - remove a stale unix socket; refuse to start when
 * another process answers on it or it is not a socket.
 * @return 0, or -1 with the reason in *error_r.
 */
int mf_socket_prepare(const struct conf *c, const char **error_r);

/**
 * mf_socket_finish - apply SocketMode and SocketGroup to a unix socket
 * after libmilter created it.
 */
int mf_socket_finish(const struct conf *c, const char **error_r);

/* UserID, resolved. */
struct mf_ids {
	uid_t uid;
	gid_t gid;		/* the group named, or the user's own */
	char user[80];
};

/**
 * mf_userid - resolve UserID (user[:group]; CONF_DEFAULT_USER when the
 * file names none) to ids.
 * @return 0, or -1 with *error_r: for a missing default account, what to
 *         do about it.
 */
int mf_userid(const struct conf *c, struct mf_ids *ids, const char **error_r);

/**
 * mf_drop_privileges - switch to UserID. A process that root did not
 * start stays who it is when UserID is the default; any other UserID
 * it cannot become is an error.
 * @return 0, or -1 with the reason in *error_r.
 */
int mf_drop_privileges(const struct conf *c, const char **error_r);

/**
 * mf_check_names - check that UserID and SocketGroup name existing
 * accounts, for "dvmilter -n" and start-up.
 */
int mf_check_names(const struct conf *c, const char **error_r);

/**
 * mf_store_secure - before the store is opened, as root: make the
 * Database directory (if missing) root's, group UserID's, writable by
 * root only, so that UserID cannot add or swap an entry; then check that
 * each file root will open there (data.mdb, lock.mdb, the outbox log,
 * token.key) is absent or a regular file with one link, never a
 * symbolic link. Then make LMDB's files if new and give them to UserID,
 * each by fchown() on a descriptor opened with O_NOFOLLOW, before LMDB
 * opens them (closing one of lock.mdb after would drop LMDB's lock).
 * Run by anyone else, only the check is made.
 * @return 0, or -1 with *error_r naming the file and what to do.
 */
int mf_store_secure(const struct conf *c, const char **error_r);

/**
 * mf_store_hand_over - after the key is made, as root: give token.key
 * (when it is in the store directory) to UserID by fchown() on a
 * descriptor opened with O_NOFOLLOW. Does nothing when not root or when
 * UserID is root.
 * @return 0, or -1 with *error_r.
 */
int mf_store_hand_over(const struct conf *c, const char **error_r);

/**
 * mf_reload_thread_start - start the thread that waits for SIGUSR1.
 * SIGUSR1 must already be blocked in every thread.
 */
int mf_reload_thread_start(void);

#endif

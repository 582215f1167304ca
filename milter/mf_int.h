/*
 * mf_int.h - private interface of the milter daemon (milter/mf_*.c).
 *
 * The daemon's only global is `dvd`, its top-level state. Everything that
 * belongs to one SMTP connection lives in a struct mf_conn hung on the
 * libmilter context with smfi_setpriv().
 */
#ifndef DV_MF_INT_H
#define DV_MF_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <libmilter/mfapi.h>

#include "conf.h"
#include "policy.h"
#include "store.h"

struct dv_daemon {
	pthread_mutex_t lock;		/* guards conf */
	struct conf *conf;		/* the current snapshot */
	struct store *store;		/* opened once, never swapped */
	const char *conf_path;
	struct conf *boot;		/* snapshot the daemon started with */
	bool foreground;
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
};

/* mf_callbacks.c */

/** mf_description - the filter description for smfi_register(). */
extern struct smfiDesc mf_description;

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

/**
 * mf_drop_privileges - switch to UserID (user[:group]) if set.
 * @return 0, or -1 with the reason in *error_r.
 */
int mf_drop_privileges(const struct conf *c, const char **error_r);

/**
 * mf_check_names - check that UserID and SocketGroup name existing
 * accounts, for "dvmilter -n" and start-up.
 */
int mf_check_names(const struct conf *c, const char **error_r);

/**
 * mf_reload_thread_start - start the thread that waits for SIGUSR1.
 * SIGUSR1 must already be blocked in every thread.
 */
int mf_reload_thread_start(void);

#endif

/*
 * store.h - the LMDB store of mailboxes and email server profiles.
 *
 * One LMDB environment (a directory holding data.mdb and lock.mdb) holds
 * named databases:
 *   meta     "schema" -> uint32 schema version
 *   mailbox  normalised address -> encoded struct mbox (mbox.h)
 *   profile  profile name -> encoded struct profile
 * Later subsystems add their own databases to the same environment.
 *
 * Any number of processes may open the store at once: the daemon reads,
 * dvmilterctl writes, and every read transaction sees the latest commit,
 * so a change is visible to the next SMTP transaction without a reload.
 *
 * Threads: a struct store may be shared by all threads. A struct
 * store_txn or struct store_reader belongs to one thread at a time.
 * Never fork() with a store open.
 */
#ifndef DV_STORE_H
#define DV_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "mbox.h"

#define STORE_SCHEMA_VERSION	1
#define STORE_DEFAULT_MAPSIZE	((size_t)4 << 30)	/* 4 GiB of address space */

struct store;
struct store_txn;
struct store_reader;

struct store_opts {
	size_t mapsize;		/* 0 for STORE_DEFAULT_MAPSIZE */
	unsigned maxreaders;	/* 0 for 4096; each daemon connection holds one */
	bool create;		/* create the directory if it is missing */
	/*
	 * Sync only the data at commit, not the meta page (MDB_NOMETASYNC):
	 * a system crash may undo this process's last commit, never corrupt
	 * the store; the next commit or store_sync() makes it durable. For
	 * the outbox worker, whose last records a restart simply makes
	 * again, and the daemon, whose outbox writer calls store_sync()
	 * before it lets the MTA answer (and outside the write lock).
	 */
	bool nometasync;
};

/**
 * store_open - open (and if new, initialise) a store.
 * @param[in]  path     the store directory.
 * @param[in]  opts     options; NULL for defaults (create = false).
 * @param[out] store_r  the handle, closed with store_close().
 * @param[out] error_r  on failure, the reason with the path in it.
 * @return 0; DV_ESCHEMA if the store was written by a newer dvmilter;
 *         DV_ESTORE or an errno (ENOENT, EACCES...) otherwise.
 */
int store_open(const char *path, const struct store_opts *opts,
    struct store **store_r, const char **error_r);

/** store_close - close a store; every txn and reader must be gone. */
void store_close(struct store *store);

/** store_path - the directory the store was opened from. */
const char *store_path(const struct store *store);

#define STORE_INSTANCE_LEN	32	/* hex digits */

/**
 * store_instance - this store's identity: 16 random bytes in hex, made
 * when the store is created (or first opened by a dvmilter that keeps
 * one) and never changed, so that a store made again has another. With
 * an outbox entry id it makes a key no other store's entry ever has
 * (the webhook's Idempotency-Key). Valid while the store is open.
 */
const char *store_instance(const struct store *store);

/**
 * store_txn_begin - start a transaction.
 * @param[in] write  true for a read-write transaction. LMDB allows one
 *                   writer at a time across all processes; this waits.
 * @return 0 or DV_ESTORE.
 */
int store_txn_begin(struct store *store, bool write, struct store_txn **txn_r,
    const char **error_r);

/**
 * store_sync - make every commit of this process durable (fdatasync):
 * with nometasync, what its last commit left unsynced, the meta page.
 * It does not take the write lock: other commits go on meanwhile.
 * @return 0 or DV_ESTORE.
 */
int store_sync(struct store *store, const char **error_r);

/**
 * store_backup - write a compacted copy of the store to @fd: LMDB's
 * copy with MDB_CP_COMPACT, made in one read transaction, so it is the
 * store as of one commit (consistent, every table in it) without free
 * pages. It takes no write lock: the daemon and the worker commit on
 * meanwhile; their later commits are not in the copy. The copy is a
 * data.mdb file, a store of its own once put in a directory. Messages
 * that only the daemon's outbox.log holds (those it accepted in the
 * last fraction of a second) are not in it: see outbox_logged().
 * @param[in] fd  a regular file open for writing, empty, at offset 0;
 *                the caller syncs and closes it.
 * @return 0, or an errno (ENOSPC...) or DV_ESTORE.
 */
int store_backup(struct store *store, int fd, const char **error_r);

/**
 * store_preallocate - keep zeroed, allocated space past the end of the
 * store's data, so that a commit overwrites blocks that exist instead
 * of growing the file: a grown file makes the file system commit its
 * journal on the sync (its size and blocks changed), an overwrite syncs
 * only the data. When less than @low bytes are left past the last page
 * in use, @chunk more bytes (never past the map size) are written with
 * zeros and synced, under the write lock (which this takes), so no
 * commit writes there meanwhile. LMDB ignores what lies past its last
 * page.
 * @return 0, or DV_ESTORE (nothing is lost: commits grow the file).
 */
int store_preallocate(struct store *store, size_t low, size_t chunk,
    const char **error_r);

/**
 * store_grow - make the store's map (DatabaseMapSize) @size bytes if it
 * is smaller; a map never shrinks. It waits until no transaction of
 * this process is active (the map lock), so the caller must hold none.
 * Other processes take the new size when they find the store grown past
 * their map (MDB_MAP_RESIZED) or their map full (store_txn_commit()).
 * @param[out] old_r, new_r  the map's size before and after.
 * @return 0, or an errno (ENOMEM: no address space for it; the map
 *         keeps its old size).
 */
int store_grow(struct store *store, size_t size, size_t *old_r,
    size_t *new_r, const char **error_r);

/**
 * store_txn_commit - commit and free the transaction.
 * @return 0; DV_EFULL when the map is full (raise DatabaseMapSize:
 *         store_grow(); a map another process grew is taken for the
 *         next transaction); DV_ESTORE otherwise. The transaction is
 *         freed either way.
 */
int store_txn_commit(struct store_txn *txn, const char **error_r);

/** store_txn_abort - discard and free the transaction; NULL is a no-op. */
void store_txn_abort(struct store_txn *txn);

/*
 * Mailboxes. @addr is always a normalised address (addr_normalize()).
 * Every function returns 0, DV_ENOTFOUND, DV_ECORRUPT, DV_EFULL or
 * DV_ESTORE and sets *error_r on failure.
 */

#define STORE_PUT_UPSERT	0
#define STORE_PUT_CREATE	1	/* DV_EEXIST if present */
#define STORE_PUT_UPDATE	2	/* DV_ENOTFOUND if absent */

/** store_mailbox_get - read one mailbox into @mb. */
int store_mailbox_get(struct store_txn *txn, const char *addr,
    struct mbox *mb, const char **error_r);

/**
 * store_mailbox_put - write one mailbox. A non-empty mb->profile must
 * name an existing profile (DV_ENOTFOUND otherwise).
 */
int store_mailbox_put(struct store_txn *txn, const struct mbox *mb,
    int mode, const char **error_r);

/** store_mailbox_remove - delete one mailbox. */
int store_mailbox_remove(struct store_txn *txn, const char *addr,
    const char **error_r);

/**
 * store_mailbox_foreach - call @fn for every mailbox in address order.
 * A non-zero return from @fn stops the walk and is returned.
 * The struct passed to @fn is valid only during the call.
 */
int store_mailbox_foreach(struct store_txn *txn,
    int (*fn)(void *arg, const struct mbox *mb), void *arg,
    const char **error_r);

/** store_mailbox_count - number of mailboxes. */
int store_mailbox_count(struct store_txn *txn, size_t *count_r,
    const char **error_r);

/* Profiles: as for mailboxes, keyed by name. */
int store_profile_get(struct store_txn *txn, const char *name,
    struct profile *p, const char **error_r);
int store_profile_put(struct store_txn *txn, const struct profile *p,
    int mode, const char **error_r);

/**
 * store_profile_remove - delete a profile; DV_EINUSE while a mailbox
 * still names it.
 */
int store_profile_remove(struct store_txn *txn, const char *name,
    const char **error_r);
int store_profile_foreach(struct store_txn *txn,
    int (*fn)(void *arg, const struct profile *p), void *arg,
    const char **error_r);

/**
 * store_reader_open - a reusable read handle for the SMTP path. Each
 * lookup through it sees the latest committed data; between lookups it
 * pins nothing, so it never holds back the writer's space reclamation.
 * @return 0 or DV_ESTORE.
 */
int store_reader_open(struct store *store, struct store_reader **reader_r,
    const char **error_r);

/** store_reader_close - free a reader; NULL is a no-op. */
void store_reader_close(struct store_reader *reader);

/**
 * store_reader_txn - a read transaction on @reader's slot, ended with
 * store_txn_abort() (or commit, which is the same for it). Unlike
 * store_txn_begin(), it takes no lock shared with other processes, so a
 * thread that reads often should keep a reader. One at a time per
 * reader, and not while store_lookup_policy() uses the same reader.
 */
int store_reader_txn(struct store_reader *reader, struct store_txn **txn_r,
    const char **error_r);

/**
 * store_lookup_policy - the hot-path lookup: the fixed fields of one
 * mailbox, with no copying of strings.
 * @return 0, DV_ENOTFOUND, DV_ECORRUPT or DV_ESTORE.
 */
int store_lookup_policy(struct store_reader *reader, const char *addr,
    struct mbox_policy *pol, const char **error_r);

#endif

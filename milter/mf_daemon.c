/*
 * mf_daemon.c - process-level duties of the daemon: the config snapshot
 * and its reload, the listening socket's hygiene, and privileges.
 *
 * Privileges: root starts the daemon, opens what needs root, and the
 * daemon then becomes UserID (by default the "dvmilter" account), as the
 * worker it starts is. The store directory stays root's (group UserID's,
 * mode 0750): UserID can neither add, rename nor remove an entry there,
 * so what root checked there stays checked. Root makes every file in it
 * (LMDB's two, the outbox log, token.key) before the switch, opens none
 * through a symbolic link, and hands LMDB's files and the key to UserID
 * by fchown() on a descriptor opened with O_NOFOLLOW.
 *
 * It does not parse configuration (core/conf.c) or talk the milter
 * protocol (libmilter, mf_callbacks.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "mf_int.h"
#include "status.h"

struct dv_daemon dvd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.sup = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	},
};

struct conf *
mf_conf_acquire(void)
{
	struct conf *c;

	pthread_mutex_lock(&dvd.lock);
	c = conf_ref(dvd.conf);
	pthread_mutex_unlock(&dvd.lock);
	return c;
}

/*
 * A larger DatabaseMapSize grows the store's map at once: the way out of
 * a full store without a restart. A smaller one waits for a restart.
 */
static void
reload_map_size(const struct conf *c)
{
	size_t want = c->database_mapsize, was, now;
	const char *err;

	if (want == 0)
		want = STORE_DEFAULT_MAPSIZE;
	if (store_grow(dvd.store, want, &was, &now, &err) != 0)
		log_error("reload: DatabaseMapSize: %s; the map stays %zu "
		    "bytes", err, was);
	else if (now != was)
		log_notice("reload: the store's map grew from %zu to %zu "
		    "bytes (DatabaseMapSize)", was, now);
	else if (want < was)
		log_warn("reload: DatabaseMapSize %zu is below the map's %zu "
		    "bytes; only a restart makes it smaller", want, was);
}

int
mf_reload(void)
{
	struct conf *nc, *old;
	char restart[256];
	const char *err;

	if (conf_load(dvd.conf_path, &nc, &err) != 0) {
		log_error("reload refused, the running configuration stays: %s",
		    err);
		return -1;
	}
	conf_restart_keys(dvd.boot, nc, restart, sizeof(restart));
	if (restart[0] != '\0')
		log_warn("reload: %s changed; only a restart applies %s",
		    restart, strchr(restart, ',') ? "them" : "it");
	pthread_mutex_lock(&dvd.lock);
	old = dvd.conf;
	dvd.conf = nc;
	pthread_mutex_unlock(&dvd.lock);
	if (nc->syslog != old->syslog ||
	    nc->syslog_facility != old->syslog_facility)
		log_open("dvmilter", nc->syslog, nc->syslog_facility);
	log_set_level(nc->log_level);
	conf_unref(old);
	reload_map_size(nc);
	log_notice("configuration reloaded from %s", dvd.conf_path);
	return 0;
}

static void *
reload_thread(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGUSR1)
			mf_reload();
	}
	return NULL;
}

int
mf_reload_thread_start(void)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, reload_thread, NULL);

	if (rc == 0)
		pthread_detach(t);
	return rc;
}

int
mf_socket_prepare(const struct conf *c, const char **error_r)
{
	struct sockaddr_un sun;
	struct stat sb;
	int fd, rc;

	if (c->socket_kind != CONF_SOCK_UNIX)
		return 0;
	if (lstat(c->socket_path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = dv_error_set("socket %s: %s", c->socket_path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		*error_r = dv_error_set("socket %s exists and is not a socket; "
		    "refusing to remove it", c->socket_path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->socket_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
		*error_r = dv_error_set("socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		*error_r = dv_error_set("socket %s is in use by another "
		    "process; is dvmilter already running?", c->socket_path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		*error_r = dv_error_set("socket %s: %s", c->socket_path,
		    strerror(errno));
		return -1;
	}
	if (unlink(c->socket_path) != 0) {
		*error_r = dv_error_set("cannot remove stale socket %s: %s",
		    c->socket_path, strerror(errno));
		return -1;
	}
	log_info("removed stale socket %s", c->socket_path);
	return 0;
}

int
mf_socket_finish(const struct conf *c, const char **error_r)
{
	struct stat sb;

	if (c->socket_kind != CONF_SOCK_UNIX)
		return 0;
	/* Its directory may be UserID's: change the socket, never what a
	 * link put in its place points to. */
	if (lstat(c->socket_path, &sb) != 0) {
		*error_r = dv_error_set("socket %s: %s", c->socket_path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		*error_r = dv_error_set("socket %s is no longer the socket "
		    "just made; refusing to change it", c->socket_path);
		return -1;
	}
	if (fchmodat(AT_FDCWD, c->socket_path, c->socket_mode,
	    AT_SYMLINK_NOFOLLOW) != 0) {
		*error_r = dv_error_set("chmod %s: %s", c->socket_path,
		    strerror(errno));
		return -1;
	}
	if (c->socket_group != NULL) {
		struct group *gr = getgrnam(c->socket_group);

		if (gr == NULL) {
			*error_r = dv_error_set("SocketGroup %s: no such group",
			    c->socket_group);
			return -1;
		}
		if (lchown(c->socket_path, (uid_t)-1, gr->gr_gid) != 0) {
			*error_r = dv_error_set("chown %s: %s", c->socket_path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Split "user[:group]" into the two names. */
static void
split_userid(const char *userid, char *user, size_t usz, char *group,
    size_t gsz)
{
	const char *colon = strchr(userid, ':');

	if (colon == NULL) {
		snprintf(user, usz, "%s", userid);
		group[0] = '\0';
	} else {
		snprintf(user, usz, "%.*s", (int)(colon - userid), userid);
		snprintf(group, gsz, "%s", colon + 1);
	}
}

int
mf_userid(const struct conf *c, struct mf_ids *ids, const char **error_r)
{
	char group[80];
	struct passwd *pw;

	split_userid(c->userid != NULL ? c->userid : CONF_DEFAULT_USER,
	    ids->user, sizeof(ids->user), group, sizeof(group));
	if ((pw = getpwnam(ids->user)) == NULL) {
		bool dflt = strcmp(ids->user, CONF_DEFAULT_USER) == 0;

		*error_r = dv_error_set("%s: UserID: no such user \"%s\"%s%s",
		    c->path, ids->user, dflt ? " (the default): create it "
		    "with 'useradd --system --no-create-home --shell "
		    "/usr/sbin/nologin " CONF_DEFAULT_USER "', or set UserID "
		    "to another unprivileged account" : "", dflt ? " (UserID "
		    "root runs everything as root, which is not advised)" : "");
		return -1;
	}
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	if (group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			*error_r = dv_error_set("%s: UserID: no such group "
			    "\"%s\"", c->path, group);
			return -1;
		}
		ids->gid = gr->gr_gid;
	}
	return 0;
}

/*
 * Whether UserID applies: a process started by root switches to it; one
 * started by anyone else stays who it is, which the default UserID
 * accepts and an explicit other one does not (mf_drop_privileges()).
 */
static bool
userid_applies(const struct conf *c)
{
	return getuid() == 0 || c->userid == NULL ||
	    strcmp(c->userid, CONF_DEFAULT_USER) != 0;
}

int
mf_check_names(const struct conf *c, const char **error_r)
{
	struct mf_ids ids;

	if (userid_applies(c) && mf_userid(c, &ids, error_r) != 0)
		return -1;
	if (c->socket_group != NULL && getgrnam(c->socket_group) == NULL) {
		*error_r = dv_error_set("%s: SocketGroup: no such group \"%s\"",
		    c->path, c->socket_group);
		return -1;
	}
	return 0;
}

int
mf_drop_privileges(const struct conf *c, const char **error_r)
{
	struct mf_ids ids;

	if (!userid_applies(c))
		return 0;
	if (mf_userid(c, &ids, error_r) != 0)
		return -1;
	if (getuid() == ids.uid && geteuid() == ids.uid)
		return 0;
	if (initgroups(ids.user, ids.gid) != 0 || setgid(ids.gid) != 0 ||
	    setuid(ids.uid) != 0) {
		*error_r = dv_error_set("cannot become %s: %s", c->userid,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = dv_error_set("privileges could be regained after "
		    "switching to %s", c->userid);
		return -1;
	}
	return 0;
}

/* --- the store directory ---------------------------------------------------- */

/*
 * The files of the store directory that root opens or hands to UserID.
 * token.key is one only where TrackingTokenKeyFile leaves it.
 */
static const char *const store_files[] = { "data.mdb", "lock.mdb",
    OUTBOX_LOG_NAME, "token.key" };
#define STORE_NFILES	(sizeof(store_files) / sizeof(store_files[0]))

/* Whether root runs us and UserID is another account: files change hands. */
static bool
hands_over(const struct conf *c, struct mf_ids *ids, const char **error_r,
    int *rc_r)
{
	*rc_r = 0;
	if (getuid() != 0)
		return false;
	if (mf_userid(c, ids, error_r) != 0) {
		*rc_r = -1;
		return false;
	}
	return ids->uid != 0;
}

/*
 * @name in @dfd must be a regular file with one link, or absent: a
 * symbolic link or a hard link there could make root open, truncate or
 * hand over a file elsewhere. @sb_r gets its status (st_nlink 0: absent).
 */
static int
check_entry(const char *dir, int dfd, const char *name, struct stat *sb_r,
    const char **error_r)
{
	if (fstatat(dfd, name, sb_r, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT) {
			memset(sb_r, 0, sizeof(*sb_r));
			return 0;
		}
		*error_r = dv_error_set("store %s/%s: %s", dir, name,
		    strerror(errno));
		return -1;
	}
	if (S_ISLNK(sb_r->st_mode)) {
		*error_r = dv_error_set("store %s/%s is a symbolic link; "
		    "dvmilter never follows one there: remove it (and see "
		    "who made it)", dir, name);
		return -1;
	}
	if (!S_ISREG(sb_r->st_mode) || sb_r->st_nlink != 1) {
		*error_r = dv_error_set("store %s/%s is not a regular file "
		    "with one link; remove it (and see who made it)", dir,
		    name);
		return -1;
	}
	return 0;
}

/* Open the store directory, made if missing. */
static int
store_dir_open(const char *dir, const char **error_r)
{
	int dfd;

	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		*error_r = dv_error_set("store %s: cannot create: %s", dir,
		    strerror(errno));
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		*error_r = dv_error_set("store %s: %s", dir, strerror(errno));
	return dfd;
}

/*
 * Give @name in @dfd to UserID by fchown() on a descriptor opened with
 * O_NOFOLLOW; with @create, make it (root's, empty) if missing. Nothing
 * else: an absent file without @create is no error.
 */
static int
hand_over(const char *dir, int dfd, const char *name, bool create,
    const struct mf_ids *ids, const char **error_r)
{
	struct stat sb;
	int fd, rc = -1;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    (create ? O_CREAT : 0), 0640);
	if (fd < 0 && errno == ENOENT && !create)
		return 0;
	if (fd < 0 || fstat(fd, &sb) != 0)
		*error_r = dv_error_set("store %s/%s: %s", dir, name,
		    errno == ELOOP ? "a symbolic link; dvmilter never follows "
		    "one there" : strerror(errno));
	else if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1)
		*error_r = dv_error_set("store %s/%s is not a regular file "
		    "with one link", dir, name);
	else if (sb.st_uid != ids->uid && fchown(fd, ids->uid, (gid_t)-1) != 0)
		*error_r = dv_error_set("store %s/%s: cannot give it to %s: %s",
		    dir, name, ids->user, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

int
mf_store_secure(const struct conf *c, const char **error_r)
{
	struct mf_ids ids;
	struct stat sb;
	size_t n = c->token_key_file == NULL ? STORE_NFILES : STORE_NFILES - 1;
	bool give;
	int dfd, rc;

	if ((dfd = store_dir_open(c->database, error_r)) < 0)
		return -1;
	give = hands_over(c, &ids, error_r, &rc);
	if (give && fstat(dfd, &sb) == 0) {
		/* Root's, UserID's group may enter, no one else may write. */
		mode_t want = (sb.st_mode & 0705) | 0750;

		if ((sb.st_uid != 0 || sb.st_gid != ids.gid) &&
		    fchown(dfd, 0, ids.gid) != 0)
			rc = -1;
		if (rc == 0 && (sb.st_mode & 07777) != want &&
		    fchmod(dfd, want) != 0)
			rc = -1;
		if (rc != 0)
			*error_r = dv_error_set("store %s: cannot make it "
			    "root's: %s", c->database, strerror(errno));
		else if (sb.st_uid != 0 || (sb.st_mode & 022) != 0)
			log_notice("store %s: was owned by uid %ju, mode %04o; "
			    "now root's, mode %04o, group %s's", c->database,
			    (uintmax_t)sb.st_uid, (unsigned)(sb.st_mode & 07777),
			    (unsigned)want, ids.user);
	}
	/* The directory is now closed to UserID: what we see stays. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (check_entry(c->database, dfd, store_files[i], &sb,
		    error_r) != 0)
			rc = -1;
	/*
	 * LMDB's files change hands now, made if new, before LMDB opens
	 * them: closing a descriptor of lock.mdb later would drop the
	 * fcntl() lock by which LMDB tells other processes we are alive.
	 */
	for (size_t i = 0; give && rc == 0 && i < 2; i++)
		rc = hand_over(c->database, dfd, store_files[i], true, &ids,
		    error_r);
	close(dfd);
	return rc;
}

int
mf_store_hand_over(const struct conf *c, const char **error_r)
{
	struct mf_ids ids;
	int dfd, rc = 0;

	if (c->token_key_file != NULL || !hands_over(c, &ids, error_r, &rc))
		return rc;
	if ((dfd = store_dir_open(c->database, error_r)) < 0)
		return -1;
	rc = hand_over(c->database, dfd, "token.key", false, &ids, error_r);
	close(dfd);
	return rc;
}

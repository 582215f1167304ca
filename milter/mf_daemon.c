/*
 * mf_daemon.c - process-level duties of the daemon: the config snapshot
 * and its reload, the listening socket's hygiene, and privileges.
 *
 * It does not parse configuration (core/conf.c) or talk the milter
 * protocol (libmilter, mf_callbacks.c).
 */
#include "config.h"

#include <errno.h>
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
	if (c->socket_kind != CONF_SOCK_UNIX)
		return 0;
	if (chmod(c->socket_path, c->socket_mode) != 0) {
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
		if (chown(c->socket_path, (uid_t)-1, gr->gr_gid) != 0) {
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
mf_check_names(const struct conf *c, const char **error_r)
{
	char user[80], group[80];

	if (c->userid != NULL) {
		split_userid(c->userid, user, sizeof(user), group,
		    sizeof(group));
		if (getpwnam(user) == NULL) {
			*error_r = dv_error_set("%s: UserID: no such user \"%s\"",
			    c->path, user);
			return -1;
		}
		if (group[0] != '\0' && getgrnam(group) == NULL) {
			*error_r = dv_error_set("%s: UserID: no such group "
			    "\"%s\"", c->path, group);
			return -1;
		}
	}
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
	char user[80], group[80];
	struct passwd *pw;
	gid_t gid;

	if (c->userid == NULL)
		return 0;
	split_userid(c->userid, user, sizeof(user), group, sizeof(group));
	if ((pw = getpwnam(user)) == NULL) {
		*error_r = dv_error_set("UserID: no such user \"%s\"", user);
		return -1;
	}
	gid = pw->pw_gid;
	if (group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			*error_r = dv_error_set("UserID: no such group \"%s\"",
			    group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;
	if (initgroups(user, gid) != 0 || setgid(gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
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

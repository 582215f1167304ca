/*
 * ctl_backup.c - dvmilterctl backup: a hot, consistent copy of the store.
 *
 * The copy is LMDB's compacting copy (store_backup()), written to a new
 * temporary file next to FILE (O_EXCL|O_NOFOLLOW, mode 0600: it holds
 * mail), synced, then put in place in one step (link(): never over an
 * existing FILE; rename() with --force) and the directory synced. So FILE
 * is either absent, the old file, or the whole new copy, never a part.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_int.h"
#include "outbox.h"
#include "store.h"

/* Where FILE goes: its directory open, and its last component. */
struct backup_dest {
	const char *file;	/* as the user named it */
	char *dir;		/* its directory */
	const char *base;	/* its name in @dir */
	int dirfd;
	char tmp[64];		/* the temporary file's name in @dir */
};

static int
dest_open(struct backup_dest *d, const char *file)
{
	const char *slash = strrchr(file, '/');

	d->file = file;
	d->dirfd = -1;
	d->tmp[0] = '\0';
	d->base = slash != NULL ? slash + 1 : file;
	if (*d->base == '\0' || strcmp(d->base, ".") == 0 ||
	    strcmp(d->base, "..") == 0)
		return ctl_fail("backup %s: not a file name", file);
	if (slash == NULL)
		d->dir = strdup(".");
	else if (slash == file)
		d->dir = strdup("/");
	else
		d->dir = strndup(file, (size_t)(slash - file));
	if (d->dir == NULL)
		return ctl_fail("out of memory");
	d->dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return ctl_fail("backup %s: directory %s: %s", file, d->dir,
		    strerror(errno));
	return CTL_OK;
}

static void
dest_close(struct backup_dest *d)
{
	if (d->tmp[0] != '\0')
		(void)unlinkat(d->dirfd, d->tmp, 0);
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->dir);
}

/* A new temporary file in the directory; its fd, or -1 after a message. */
static int
dest_tmp(struct backup_dest *d)
{
	unsigned i;
	int fd;

	for (i = 0; i < 100; i++) {
		snprintf(d->tmp, sizeof(d->tmp), ".dvmilter-backup.%ld.%u",
		    (long)getpid(), i);
		fd = openat(d->dirfd, d->tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	ctl_fail("backup %s: cannot create a temporary file in %s: %s",
	    d->file, d->dir, strerror(errno));
	d->tmp[0] = '\0';
	return -1;
}

/* Put the synced temporary file in place as FILE and sync the directory. */
static int
dest_commit(struct backup_dest *d, bool force)
{
	if (force) {
		if (renameat(d->dirfd, d->tmp, d->dirfd, d->base) != 0)
			return ctl_fail("backup %s: %s", d->file,
			    strerror(errno));
	} else {
		if (linkat(d->dirfd, d->tmp, d->dirfd, d->base, 0) != 0)
			return errno == EEXIST ? ctl_fail("backup %s: exists "
			    "(--force replaces it)", d->file) :
			    ctl_fail("backup %s: %s", d->file, strerror(errno));
		(void)unlinkat(d->dirfd, d->tmp, 0);
	}
	d->tmp[0] = '\0';
	if (fsync(d->dirfd) != 0)
		return ctl_fail("backup %s: sync of directory %s: %s", d->file,
		    d->dir, strerror(errno));
	return CTL_OK;
}

/* Copy the store into the temporary file and sync it. */
static int
backup_write(struct ctl *ctl, struct backup_dest *d, off_t *size_r)
{
	struct store *st;
	struct stat sb;
	const char *err;
	int fd, rc = CTL_FAIL;

	if ((st = ctl_store(ctl)) == NULL || (fd = dest_tmp(d)) < 0)
		return CTL_FAIL;
	if (store_backup(st, fd, &err) != 0)
		ctl_fail("backup %s: %s", d->file, err);
	else if (fsync(fd) != 0 || fstat(fd, &sb) != 0)
		ctl_fail("backup %s: %s", d->file, strerror(errno));
	else {
		*size_r = sb.st_size;
		rc = CTL_OK;
	}
	if (close(fd) != 0 && rc == CTL_OK)
		rc = ctl_fail("backup %s: %s", d->file, strerror(errno));
	return rc;
}

int
ctl_backup(struct ctl *ctl, int argc, char **argv)
{
	struct backup_dest d;
	struct outbox *ob;
	struct stat sb;
	const char *file = NULL, *err;
	bool force = false;
	size_t logged = 0;
	off_t size = 0;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (argv[i][0] == '-' || file != NULL)
			return ctl_usage_error("usage: backup [--force] FILE");
		else
			file = argv[i];
	}
	if (file == NULL)
		return ctl_usage_error("usage: backup [--force] FILE");
	if ((rc = dest_open(&d, file)) != CTL_OK) {
		dest_close(&d);
		return rc;
	}
	if (fstatat(d.dirfd, d.base, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!force || !S_ISREG(sb.st_mode)))
		rc = ctl_fail(force ? "backup %s: exists and is not a regular "
		    "file" : "backup %s: exists (--force replaces it)", file);
	else if ((rc = backup_write(ctl, &d, &size)) == CTL_OK)
		rc = dest_commit(&d, force);
	dest_close(&d);
	if (rc != CTL_OK)
		return rc;
	printf("backup %s: %lld bytes\n", file, (long long)size);
	/* What the daemon accepted a moment ago may be in its log only. */
	if ((ob = ctl_outbox_open(ctl)) != NULL &&
	    outbox_logged(ob, &logged, &err) == 0 && logged > 0)
		printf("note: %s/%s holds %zu message(s) not yet in the "
		    "store; the backup may lack them\n", store_path(ctl->store),
		    OUTBOX_LOG_NAME, logged);
	return CTL_OK;
}

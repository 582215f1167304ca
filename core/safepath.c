/*
 * safepath.c - the trust check of a file that root will load or run.
 *
 * Only stat(2) and realpath(3): it opens nothing, so the answer holds
 * for the resolved path only as long as nobody but root and us can
 * change that path, which is exactly what it checks.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safepath.h"
#include "status.h"

/*
 * May @sb be trusted not to change under us: owned by root or by us,
 * and writable by no other user (a group of gid 0 is root's own). A
 * directory others may write but whose sticky bit is set (/tmp) is
 * trusted as a parent only when root owns it: nobody else may then
 * replace an entry they do not own.
 */
static const char *
untrusted(const struct stat *sb, bool parent)
{
	bool others_write = (sb->st_mode & S_IWOTH) ||
	    ((sb->st_mode & S_IWGRP) && sb->st_gid != 0);

	if (sb->st_uid != 0 && sb->st_uid != geteuid())
		return "owned by a user that is neither root nor us";
	if (others_write && !(parent && (sb->st_mode & S_ISVTX) &&
	    sb->st_uid == 0))
		return "writable by group or others";
	return NULL;
}

/*
 * The file, then each directory above it up to the root, bottom-up: the
 * error names the first that fails.
 */
int
safepath_check(const char *path, char real[PATH_MAX], const char **error_r)
{
	char dir[PATH_MAX], *slash;
	struct stat sb;
	const char *bad;

	if (realpath(path, real) == NULL) {
		*error_r = dv_error_set("%s", strerror(errno));
		return -1;
	}
	if (stat(real, &sb) != 0) {
		*error_r = dv_error_set("%s: %s", real, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		*error_r = dv_error_set("not a regular file");
		return -1;
	}
	if ((bad = untrusted(&sb, false)) != NULL) {
		*error_r = dv_error_set("%s (uid %u, mode %04o)", bad,
		    (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", real);
	do {
		if ((slash = strrchr(dir, '/')) == NULL)
			break;
		slash[slash == dir ? 1 : 0] = '\0';
		bad = NULL;
		if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
		    (bad = untrusted(&sb, true)) != NULL) {
			*error_r = dv_error_set("its directory %s is %s", dir,
			    bad != NULL ? bad : "not a directory");
			return -1;
		}
	} while (strcmp(dir, "/") != 0);
	return 0;
}


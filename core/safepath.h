/*
 * safepath.h - is a file one that nobody but root and us can change?
 *
 * dvmilter and dvmilterctl often start as root, and root then loads
 * plugins and starts the outbox worker from files named in the
 * configuration or found beside the executable. If another user could
 * replace such a file, or a directory above it (and so swap the file
 * between a check and its use), that user would choose code that runs
 * as root. This module answers one question about a path; it opens and
 * runs nothing.
 */
#ifndef DV_SAFEPATH_H
#define DV_SAFEPATH_H

#include <limits.h>

/**
 * safepath_check - may the regular file @path be trusted?
 *
 * Resolves @path (every symbolic link followed: a link is judged where
 * it leads), then requires the file and every directory above it to be
 * owned by root or by the effective user, and writable by nobody else.
 * Write permission for a group of gid 0 counts as root's own; a
 * directory writable by all with the sticky bit (such as /tmp) is
 * trusted as a parent when root owns it, since nobody else may replace
 * an entry in it they do not own.
 * @param[in]  path     the file, NUL-terminated.
 * @param[out] real     receives the resolved path, PATH_MAX bytes: use
 *                      it, not @path, to open, load or run the file.
 * @param[out] error_r  on failure, why, naming the file or directory
 *                      that failed ("its directory /opt/x is writable
 *                      by group or others"); this thread's error buffer.
 * @return 0, or -1.
 */
int safepath_check(const char *path, char real[PATH_MAX],
    const char **error_r);

#endif

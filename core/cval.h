/*
 * cval.h - typed configuration values: the parsers shared by
 * dvmilter.conf and the plugin host.
 *
 * Each function checks one value written by an administrator and either
 * stores the result or explains, naming the value, why it was refused.
 * They never allocate: results go into caller-owned out-parameters, and
 * error text comes back through `const char **error_r`, pointed at this
 * thread's error buffer (see dv_error_set() in status.h), which stays
 * valid until the next error on the same thread. On failure the
 * out-parameter is left untouched.
 *
 * Status convention: 0 on success, DV_EINVAL for a malformed or
 * out-of-range value, a positive errno when a file cannot be examined.
 */
#ifndef DV_CVAL_H
#define DV_CVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * cval_bool - a yes/no value.
 * Accepts yes, true, on, 1 and no, false, off, 0, in any case.
 * @param[in]  s        the value, NUL-terminated.
 * @param[out] out      receives the value.
 * @param[out] error_r  on failure: "\"maybe\" is not yes or no".
 * @return 0 or DV_EINVAL.
 */
int cval_bool(const char *s, bool *out, const char **error_r);

/**
 * cval_uint - an unsigned decimal number within [@min, @max].
 * Only the digits 0-9: no sign, no leading white space, no trailing
 * text, no base prefix. Values that overflow uint64_t are "not a number".
 * @param[in]  s        the value.
 * @param[in]  min      the smallest value allowed.
 * @param[in]  max      the largest value allowed.
 * @param[out] out      receives the number.
 * @param[out] error_r  on failure: "\"abc\" is not a number" or
 *                      "70000 is out of range 1..65535".
 * @return 0 or DV_EINVAL.
 */
int cval_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r);

/**
 * cval_octal - as cval_uint(), in base 8 ("0660" or "660"); for file
 * modes. Digits 8 and 9 make the value "not an octal number".
 * @return 0 or DV_EINVAL.
 */
int cval_octal(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r);

/**
 * cval_size - a size in bytes within [@min, @max].
 * A decimal number, optionally followed by one of the binary suffixes
 * K, M, G, T (any case: 2^10, 2^20, 2^30, 2^40). "64K" is 65536.
 * @param[in]  s        the value.
 * @param[in]  min      the smallest size allowed, in bytes.
 * @param[in]  max      the largest size allowed, in bytes.
 * @param[out] out      receives the size in bytes.
 * @param[out] error_r  on failure: "\"12x\" is not a size like 4G",
 *                      "1K is below the minimum of 4096 bytes" or
 *                      "8T is above the maximum of 1099511627776 bytes".
 * @return 0 or DV_EINVAL.
 */
int cval_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r);

/**
 * cval_duration - a length of time in seconds within [@min, @max].
 * A decimal number, optionally followed by one of the suffixes s, m, h,
 * d, w (any case: seconds, minutes, hours, days, weeks). "0" is zero.
 * Durations are never negative; a negative @min counts as 0.
 * @param[in]  s        the value.
 * @param[in]  min      the shortest duration allowed, in seconds.
 * @param[in]  max      the longest duration allowed, in seconds.
 * @param[out] out      receives the duration in seconds.
 * @param[out] error_r  on failure: "\"7x\" is not a duration like 7d,
 *                      12h or 0", or "40000w is out of range: at least
 *                      0 seconds, at most 100 years".
 * @return 0 or DV_EINVAL.
 */
int cval_duration(const char *s, int64_t min, int64_t max, int64_t *out,
    const char **error_r);

/**
 * cval_url - an http:// or https:// URL with a host.
 * The scheme is case-insensitive; the host may be a name, an IPv4
 * address or an [IPv6] literal, optionally after user@ and followed by
 * :PORT (1..65535). Spaces and control characters anywhere are refused,
 * as is anything longer than DV_URL_MAX bytes. The URL is checked, not
 * resolved.
 * @param[in]  s           the value.
 * @param[in]  https_only  refuse http:// too.
 * @param[out] error_r     on failure, for example "\"ftp://x\" is not
 *                         an http:// or https:// URL", "\"http:///x\"
 *                         has no host", "\"http://x\" is not https://".
 * @return 0 or DV_EINVAL.
 */
int cval_url(const char *s, bool https_only, const char **error_r);

/**
 * cval_abs_path - an absolute path of at most DV_PATH_MAX bytes.
 * Only the form is checked; the file need not exist.
 * @param[in]  s        the value.
 * @param[out] error_r  on failure: "\"x.pid\" is not an absolute path".
 * @return 0 or DV_EINVAL.
 */
int cval_abs_path(const char *s, const char **error_r);

/**
 * cval_secret_open - open a file fit to hold a secret (a key, a
 * password) and check it on the open descriptor, so that the file
 * checked is the file read. @path must be absolute and name a regular
 * file, not a symbolic link (opened with O_NOFOLLOW), owned by root or
 * by @user (UserID's uid), that others may neither read nor write and
 * its group may not write. Group read is allowed: a root-owned secret of
 * mode 0640 whose group is UserID's is the usual way to hand it to the
 * worker.
 * @param[in]  path     the file.
 * @param[in]  user     the uid besides root that may own it.
 * @param[out] fd_r     on success, the descriptor (O_CLOEXEC), the
 *                      caller's to close; -1 otherwise.
 * @param[out] error_r  on failure, naming the path and the rule, for
 *                      example "/etc/x: mode 0644 lets others read a
 *                      secret; chmod 600 it", "/etc/x: owned by uid 7;
 *                      a secret must be owned by root or by UserID
 *                      (uid 103): chown it" or "/etc/x: No such file or
 *                      directory".
 * @return 0, DV_EINVAL for a bad path, type, link, owner or mode, or the
 *         errno of a failed open() or fstat().
 */
int cval_secret_open(const char *path, uid_t user, int *fd_r,
    const char **error_r);

/** cval_secret_file - cval_secret_open(), and close the file again. */
int cval_secret_file(const char *path, uid_t user, const char **error_r);

/**
 * cval_secret_read - cval_secret_open() and read the whole file into
 * @buf (not NUL-terminated) from that descriptor.
 * @param[out] len_r  the bytes read.
 * @return as cval_secret_open(), or DV_EINVAL for a file longer than
 *         @bufsz, or the errno of a failed read().
 */
int cval_secret_read(const char *path, uid_t user, void *buf, size_t bufsz,
    size_t *len_r, const char **error_r);

#endif

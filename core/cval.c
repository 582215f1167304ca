/*
 * cval.c - typed configuration values (booleans, numbers, sizes,
 * durations, URLs, paths, secret files).
 *
 * These parsers know the syntax of one value and nothing about the key
 * it belongs to: callers add "file:line: Key: " around the message. They
 * do not allocate, resolve host names, or open the files they check
 * (the cval_secret_*() functions open the file, to check it on its descriptor).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caps.h"
#include "cval.h"
#include "status.h"

/* Longest number with a suffix we look at; longer is junk anyway. */
#define CVAL_NUM_MAX	32

int
cval_bool(const char *s, bool *out, const char **error_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	*error_r = dv_error_set("\"%s\" is not yes or no", s);
	return DV_EINVAL;
}

/*
 * digits - @s as a number in @base: digits only, all of them, no
 * overflow. strtoull() alone would take a sign, white space and "0x".
 */
static bool
digits(const char *s, int base, uint64_t *out)
{
	unsigned long long n;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	n = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (uint64_t)n;
	return true;
}

static int
uint_in_base(const char *s, int base, uint64_t min, uint64_t max,
    uint64_t *out, const char **error_r)
{
	uint64_t n;

	if (!digits(s, base, &n)) {
		*error_r = dv_error_set("\"%s\" is not %s", s,
		    base == 8 ? "an octal number" : "a number");
		return DV_EINVAL;
	}
	if (n < min || n > max) {
		if (base == 8)
			*error_r = dv_error_set("%s is out of range "
			    "%#" PRIo64 "..%#" PRIo64, s, min, max);
		else
			*error_r = dv_error_set("%s is out of range "
			    "%" PRIu64 "..%" PRIu64, s, min, max);
		return DV_EINVAL;
	}
	*out = n;
	return 0;
}

int
cval_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r)
{
	return uint_in_base(s, 10, min, max, out, error_r);
}

int
cval_octal(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r)
{
	return uint_in_base(s, 8, min, max, out, error_r);
}

/*
 * split_unit - copy @s into @num without a trailing unit letter listed
 * in @units; *mult_r gets its multiplier (1 with no unit). False if @s
 * is empty, too long, or only a unit.
 */
static bool
split_unit(const char *s, const char *units, const uint64_t *mults,
    char num[CVAL_NUM_MAX], uint64_t *mult_r)
{
	size_t len = strlen(s);
	const char *u;

	if (len == 0 || len >= CVAL_NUM_MAX)
		return false;
	memcpy(num, s, len + 1);
	*mult_r = 1;
	if (num[len - 1] >= 'A' && num[len - 1] <= 'Z')
		num[len - 1] = (char)(num[len - 1] - 'A' + 'a');
	if ((u = strchr(units, num[len - 1])) != NULL) {
		*mult_r = mults[u - units];
		num[--len] = '\0';
	}
	return len > 0;
}

int
cval_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **error_r)
{
	static const uint64_t mults[] = {
		(uint64_t)1 << 10, (uint64_t)1 << 20, (uint64_t)1 << 30,
		(uint64_t)1 << 40,
	};
	char num[CVAL_NUM_MAX];
	uint64_t n, mult;

	if (!split_unit(s, "kmgt", mults, num, &mult) ||
	    !digits(num, 10, &n) || n > UINT64_MAX / mult) {
		*error_r = dv_error_set("\"%s\" is not a size like 4G", s);
		return DV_EINVAL;
	}
	if (n * mult < min) {
		*error_r = dv_error_set("%s is below the minimum of %" PRIu64
		    " bytes", s, min);
		return DV_EINVAL;
	}
	if (n * mult > max) {
		*error_r = dv_error_set("%s is above the maximum of %" PRIu64
		    " bytes", s, max);
		return DV_EINVAL;
	}
	*out = n * mult;
	return 0;
}

/* "100 years", "7 days", "1 second": the largest unit that divides. */
static void
format_seconds(int64_t secs, char *out, size_t outsz)
{
	static const struct { int64_t secs; const char *name; } units[] = {
		{ 365 * 86400, "year" }, { 604800, "week" }, { 86400, "day" },
		{ 3600, "hour" }, { 60, "minute" },
	};
	const char *name = "second";
	int64_t n = secs;

	for (size_t i = 0; secs != 0 && i < sizeof(units) / sizeof(units[0]);
	    i++)
		if (secs % units[i].secs == 0) {
			n = secs / units[i].secs;
			name = units[i].name;
			break;
		}
	snprintf(out, outsz, "%" PRId64 " %s%s", n, name, n == 1 ? "" : "s");
}

int
cval_duration(const char *s, int64_t min, int64_t max, int64_t *out,
    const char **error_r)
{
	static const uint64_t mults[] = { 1, 60, 3600, 86400, 604800 };
	char num[CVAL_NUM_MAX], lo[40], hi[40];
	uint64_t n, mult;

	if (!split_unit(s, "smhdw", mults, num, &mult) ||
	    !digits(num, 10, &n) || n > (uint64_t)INT64_MAX / mult) {
		*error_r = dv_error_set("\"%s\" is not a duration like 7d, "
		    "12h or 0", s);
		return DV_EINVAL;
	}
	if (min < 0)
		min = 0;
	if ((int64_t)(n * mult) < min || (int64_t)(n * mult) > max) {
		format_seconds(min, lo, sizeof(lo));
		format_seconds(max, hi, sizeof(hi));
		*error_r = dv_error_set("%s is out of range: at least %s, at "
		    "most %s", s, lo, hi);
		return DV_EINVAL;
	}
	*out = (int64_t)(n * mult);
	return 0;
}

/* The authority of a URL (after "//"): [user@]host[:port]. */
static int
check_authority(const char *url, const char *a, size_t len,
    const char **error_r)
{
	const char *at, *host, *port = NULL;
	size_t hl;
	uint64_t pn;
	char pbuf[8];

	for (at = a + len; at > a && at[-1] != '@'; at--)
		;
	host = at;
	hl = len - (size_t)(host - a);
	if (hl > 0 && host[0] == '[') {
		const char *close = memchr(host, ']', hl);

		if (close == NULL || close == host + 1) {
			*error_r = dv_error_set("\"%s\" has a bad [address]",
			    url);
			return DV_EINVAL;
		}
		if (close + 1 < host + hl) {
			if (close[1] != ':')
				goto bad_port;
			port = close + 2;
		}
	} else if ((port = memchr(host, ':', hl)) != NULL)
		port++;
	if (port != NULL)
		hl = (size_t)(port - 1 - host);
	if (hl == 0) {
		*error_r = dv_error_set("\"%s\" has no host", url);
		return DV_EINVAL;
	}
	if (port == NULL)
		return 0;
	if ((size_t)(a + len - port) >= sizeof(pbuf))
		goto bad_port;
	memcpy(pbuf, port, (size_t)(a + len - port));
	pbuf[a + len - port] = '\0';
	if (digits(pbuf, 10, &pn) && pn >= 1 && pn <= 65535)
		return 0;
bad_port:
	*error_r = dv_error_set("\"%s\" has a bad port (1..65535)", url);
	return DV_EINVAL;
}

int
cval_url(const char *s, bool https_only, const char **error_r)
{
	const char *rest;
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
			/* Do not echo the control character into a log. */
			*error_r = dv_error_set("URL has a space or control "
			    "character at byte %zu", i + 1);
			return DV_EINVAL;
		}
	if (len > DV_URL_MAX) {
		*error_r = dv_error_set("URL \"%.40s...\" is longer than %d "
		    "bytes", s, DV_URL_MAX);
		return DV_EINVAL;
	}
	if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0) {
		if (https_only) {
			*error_r = dv_error_set("\"%s\" is not https://", s);
			return DV_EINVAL;
		}
		rest = s + 7;
	} else {
		*error_r = dv_error_set("\"%s\" is not an http%s:// URL", s,
		    https_only ? "s" : "(s)");
		return DV_EINVAL;
	}
	return check_authority(s, rest, strcspn(rest, "/?#"), error_r);
}

int
cval_abs_path(const char *s, const char **error_r)
{
	if (s[0] != '/') {
		*error_r = dv_error_set("\"%s\" is not an absolute path", s);
		return DV_EINVAL;
	}
	if (strlen(s) > DV_PATH_MAX) {
		*error_r = dv_error_set("path \"%.40s...\" is longer than %d "
		    "bytes", s, DV_PATH_MAX);
		return DV_EINVAL;
	}
	return 0;
}

int
cval_secret_open(const char *path, uid_t user, int *fd_r,
    const char **error_r)
{
	struct stat sb;
	const char *who, *what;
	int fd, rc;

	*fd_r = -1;
	if ((rc = cval_abs_path(path, error_r)) != 0)
		return rc;
	/* Checked on the descriptor it is read from: nothing can be
	 * swapped in between. A link, whoever owns it, could be. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) {
		*error_r = dv_error_set("%s is a symbolic link; a secret is "
		    "never read through one: name the file itself", path);
		return DV_EINVAL;
	}
	if (fd < 0 || fstat(fd, &sb) != 0) {
		rc = errno;
		*error_r = dv_error_set("%s: %s", path, strerror(rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(sb.st_mode)) {
		*error_r = dv_error_set("%s is not a regular file", path);
		goto refused;
	}
	if (sb.st_uid != 0 && sb.st_uid != user) {
		*error_r = dv_error_set("%s: owned by uid %ju; a secret must "
		    "be owned by root or by UserID (uid %ju): chown it", path,
		    (uintmax_t)sb.st_uid, (uintmax_t)user);
		goto refused;
	}
	/* Group read is how a root-owned secret reaches UserID's group. */
	if ((sb.st_mode & (S_IWGRP | S_IROTH | S_IWOTH)) == 0) {
		*fd_r = fd;
		return 0;
	}
	if (sb.st_mode & S_IROTH) {
		who = "others";
		what = "read";
	} else {
		who = sb.st_mode & S_IWOTH ? "others" : "its group";
		what = "change";
	}
	*error_r = dv_error_set("%s: mode %04o lets %s %s a secret; chmod %s "
	    "it", path, (unsigned)(sb.st_mode & 07777), who, what,
	    (sb.st_mode & (S_IROTH | S_IWOTH)) == 0 ? "640" : "600");
refused:
	close(fd);
	return DV_EINVAL;
}

int
cval_secret_file(const char *path, uid_t user, const char **error_r)
{
	int fd, rc = cval_secret_open(path, user, &fd, error_r);

	if (rc == 0)
		close(fd);
	return rc;
}

int
cval_secret_read(const char *path, uid_t user, void *buf, size_t bufsz,
    size_t *len_r, const char **error_r)
{
	size_t got = 0;
	ssize_t n = 0;
	int fd, rc;

	*len_r = 0;
	if ((rc = cval_secret_open(path, user, &fd, error_r)) != 0)
		return rc;
	/* One byte past @bufsz tells a file too long from a full one. */
	while (got < bufsz && ((n = read(fd, (char *)buf + got, bufsz - got))
	    > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	if (n < 0) {
		rc = errno;
		*error_r = dv_error_set("%s: %s", path, strerror(rc));
	} else if (got == bufsz) {
		char extra;

		if (read(fd, &extra, 1) > 0) {
			*error_r = dv_error_set("%s: longer than %zu bytes",
			    path, bufsz);
			rc = DV_EINVAL;
		}
	}
	close(fd);
	if (rc == 0)
		*len_r = got;
	return rc;
}

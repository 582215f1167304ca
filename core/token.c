/*
 * token.c - tracking tokens: make, find, verify.
 *
 * Verification compares tags in constant time. Nothing here knows where
 * a token goes in a subject beyond "the last one wins".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "caps.h"
#include "status.h"
#include "token.h"

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";	/* Crockford */

/*
 * Make a new key at @name in directory @dfd: written and synced under a
 * temporary name, renamed into place, and the directory synced, so that
 * a crash leaves either no key or the whole key, and never loses one
 * that tokens were already made with. A key another process made first
 * wins (EEXIST is success).
 */
static int
key_create(int dfd, const char *path, const char *name, const char **error_r)
{
	unsigned char fresh[32];
	char tmp[300];
	int fd, rc = 0;

	if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
		*error_r = dv_error_set("TrackingTokenKeyFile %s: no "
		    "randomness for a new key", path);
		return DV_EINVAL;
	}
	snprintf(tmp, sizeof(tmp), ".%s.new", name);
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		rc = errno;
	else if (write(fd, fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh))
		rc = errno != 0 ? errno : EIO;
	else if (fsync(fd) != 0)
		rc = errno;
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = errno;
	OPENSSL_cleanse(fresh, sizeof(fresh));
	/* link(), not rename(): a key made meanwhile is not replaced. */
	if (rc == 0 && linkat(dfd, tmp, dfd, name, 0) != 0 && errno != EEXIST)
		rc = errno;
	(void)unlinkat(dfd, tmp, 0);
	if (rc == 0 && fsync(dfd) != 0)
		rc = errno;
	if (rc != 0)
		*error_r = dv_error_set("TrackingTokenKeyFile %s: cannot make "
		    "a new key: %s", path, strerror(rc));
	return rc;
}

/* The directory of @path, opened, and the last component in @name_r. */
static int
dir_open(const char *path, const char **name_r)
{
	const char *slash = strrchr(path, '/');
	char dir[DV_PATH_MAX + 1];

	if (slash == NULL) {
		*name_r = path;
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	*name_r = slash + 1;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
	    (int)(slash - path), path);
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
token_key_load(const char *path, bool create, struct token_key *key,
    const char **error_r)
{
	const char *name;
	struct stat sb;
	ssize_t n;
	int dfd, fd = -1, rc = 0;

	if (strlen(path) > DV_PATH_MAX || (dfd = dir_open(path, &name)) < 0) {
		rc = strlen(path) > DV_PATH_MAX ? ENAMETOOLONG : errno;
		*error_r = dv_error_set("TrackingTokenKeyFile %s: %s", path,
		    strerror(rc));
		return rc;
	}
	/* Root reads it: never through a symbolic link. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create &&
	    (rc = key_create(dfd, path, name, error_r)) == 0)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	close(dfd);
	if (rc != 0)
		return rc;
	if (fd < 0) {
		rc = errno;
		*error_r = dv_error_set("TrackingTokenKeyFile %s: %s", path,
		    rc == ELOOP ? "a symbolic link, which is never followed; "
		    "name the file itself" : strerror(rc));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		*error_r = dv_error_set("TrackingTokenKeyFile %s is not a "
		    "regular file", path);
		return DV_EINVAL;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		*error_r = dv_error_set("TrackingTokenKeyFile %s is readable "
		    "by group or others; chmod 600 it", path);
		return DV_EINVAL;
	}
	n = read(fd, key->k, sizeof(key->k));
	close(fd);
	if (n < TOKEN_KEY_MIN) {
		*error_r = dv_error_set("TrackingTokenKeyFile %s must hold at "
		    "least %d bytes", path, TOKEN_KEY_MIN);
		return DV_EINVAL;
	}
	key->len = (size_t)n;
	return 0;
}

/* The 8-character tag of PREFIX ID. */
static void
tag_of(const struct token_key *key, const char *prefix, const char *id,
    char tag[9])
{
	unsigned char md[EVP_MAX_MD_SIZE], msg[64];
	unsigned int mdlen = 0;
	size_t pl = strlen(prefix), il = strlen(id);
	uint64_t bits = 0;

	memcpy(msg, prefix, pl);
	memcpy(msg + pl, id, il);
	if (HMAC(EVP_sha256(), key->k, (int)key->len, msg, pl + il, md,
	    &mdlen) == NULL || mdlen < 5)
		memset(md, 0, 5);
	for (int i = 0; i < 5; i++)
		bits = (bits << 8) | md[i];
	for (int i = 7; i >= 0; i--) {
		tag[i] = B32[bits & 31];
		bits >>= 5;
	}
	tag[8] = '\0';
}

int
token_make(const struct token_key *key, const char *prefix, uint64_t id,
    char *out, size_t outsz)
{
	char ids[24], tag[9];
	int n;

	if (strlen(prefix) > TOKEN_PREFIX_MAX || outsz < TOKEN_MAX)
		return DV_EINVAL;
	snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
	tag_of(key, prefix, ids, tag);
	n = snprintf(out, outsz, "%s%s-%s", prefix, ids, tag);
	return n > 0 && (size_t)n < outsz ? 0 : DV_EINVAL;
}

/* Parse PREFIX DIGITS "-" 8xB32 at @p; 0 and the parts if it is one. */
static int
parse_at(const char *p, size_t pl, char *ids, size_t idsz, char tag[9])
{
	const char *d = p + pl;
	size_t n = strspn(d, "0123456789");

	if (n == 0 || n >= idsz || (n > 1 && d[0] == '0') || d[n] != '-')
		return -1;
	for (int i = 0; i < 8; i++) {
		char c = d[n + 1 + i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == '\0' || strchr(B32, c) == NULL)
			return -1;
		tag[i] = c;
	}
	tag[8] = '\0';
	/* The token must end there: "...ABCDEFGHX" is something else. */
	if ((d[n + 9] >= '0' && d[n + 9] <= '9') ||
	    (d[n + 9] >= 'a' && d[n + 9] <= 'z') ||
	    (d[n + 9] >= 'A' && d[n + 9] <= 'Z'))
		return -1;
	memcpy(ids, d, n);
	ids[n] = '\0';
	return 0;
}

int
token_find(const struct token_key *key, const char *prefix,
    const char *subject, uint64_t *id_r, bool *forged_r)
{
	size_t pl = strlen(prefix);
	char ids[24], tag[9], want[9];
	bool forged = false, valid = false;
	uint64_t id = 0;

	if (forged_r != NULL)
		*forged_r = false;
	/* tag_of() has room for the longest prefix token_make() takes. */
	if (pl == 0 || pl > TOKEN_PREFIX_MAX || subject == NULL)
		return DV_ENOTFOUND;
	/* Every token is checked: a bogus one after a valid one must not
	 * hide it, and a valid one must not hide a forgery from the log. */
	for (const char *p = subject; (p = strcasestr(p, prefix)) != NULL;
	    p++) {
		if (parse_at(p, pl, ids, sizeof(ids), tag) != 0)
			continue;
		tag_of(key, prefix, ids, want);
		if (CRYPTO_memcmp(tag, want, 8) != 0) {
			forged = true;
			continue;
		}
		valid = true;
		id = strtoull(ids, NULL, 10);
	}
	if (forged_r != NULL)
		*forged_r = forged;
	if (valid) {
		*id_r = id;
		return 0;
	}
	return forged ? DV_EINVAL : DV_ENOTFOUND;
}

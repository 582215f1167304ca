/*
 * spool.c - bounded message content, memory then file.
 *
 * The spill file is created with O_TMPFILE where the kernel offers it
 * (it has no name, so nothing is left behind after a crash) and with
 * mkstemp()+unlink() elsewhere. Nothing here parses the content.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

void
spool_init(struct spool *s, size_t mem_limit, size_t max_size,
    const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->mem_limit = mem_limit;
	s->max_size = max_size;
	s->fd = -1;
	s->dir = dir;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
spill(struct spool *s)
{
	int fd = -1, rc;

#ifdef O_TMPFILE
	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd < 0) {
		char path[1100];

		if (snprintf(path, sizeof(path), "%s/dvmilter.XXXXXX", s->dir) >=
		    (int)sizeof(path))
			return ENAMETOOLONG;
		if ((fd = mkstemp(path)) < 0)
			return errno;
		unlink(path);
	}
	if ((rc = write_all(fd, s->mem, s->len)) != 0) {
		close(fd);
		return rc;
	}
	free(s->mem);
	s->mem = NULL;
	s->mem_alloc = 0;
	s->fd = fd;
	return 0;
}

int
spool_add(struct spool *s, const void *data, size_t n)
{
	int rc;

	s->seen += n;
	if (s->len >= s->max_size)
		return 0;
	if (n > s->max_size - s->len)
		n = s->max_size - s->len;
	if (s->fd < 0 && s->len + n > s->mem_limit && (rc = spill(s)) != 0)
		return rc;
	if (s->fd >= 0) {
		if ((rc = write_all(s->fd, data, n)) != 0)
			return rc;
		s->len += n;
		return 0;
	}
	if (s->len + n > s->mem_alloc) {
		size_t na = s->mem_alloc ? s->mem_alloc : 8192;
		char *p;

		while (na < s->len + n)
			na *= 2;
		if (na > s->mem_limit)
			na = s->mem_limit;
		if ((p = realloc(s->mem, na)) == NULL)
			return ENOMEM;
		s->mem = p;
		s->mem_alloc = na;
	}
	memcpy(s->mem + s->len, data, n);
	s->len += n;
	return 0;
}

bool
spool_truncated(const struct spool *s)
{
	return s->seen > s->len;
}

bool
spool_spilled(const struct spool *s)
{
	return s->fd >= 0;
}

int
spool_copy(const struct spool *s, void *dst)
{
	size_t off = 0;

	if (s->fd < 0) {
		if (s->len > 0)
			memcpy(dst, s->mem, s->len);
		return 0;
	}
	while (off < s->len) {
		ssize_t r = pread(s->fd, (char *)dst + off, s->len - off,
		    (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			return EIO;
		off += (size_t)r;
	}
	return 0;
}

void
spool_reset(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->len = 0;
	s->seen = 0;
	/* Keep a small buffer for the next message; drop a large one. */
	if (s->mem_alloc > 65536) {
		free(s->mem);
		s->mem = NULL;
		s->mem_alloc = 0;
	}
}

void
spool_free(struct spool *s)
{
	spool_reset(s);
	free(s->mem);
	s->mem = NULL;
	s->mem_alloc = 0;
}

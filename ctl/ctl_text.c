/*
 * ctl_text.c - dvmilterctl's output guard: no byte that a terminal
 * would obey reaches it from mail.
 *
 * Subjects, Message-IDs, names and addresses come from strangers, and
 * dvmilterctl runs as root, in a terminal. Rather than trust each of the
 * many places that print one (ours and the plugins' commands) to escape
 * it, stdout and stderr are replaced, before any command runs, by
 * streams that escape on the way out: in text, a C0 control other than
 * newline and tab, DEL, a C1 control (a raw byte 0x80..0x9f that is not
 * part of a UTF-8 sequence, or U+0080..U+009F encoded in UTF-8) is
 * written as \xNN. JSON (--json) is escaped by jansson already, which
 * leaves only DEL raw: it becomes \u007f, so the output stays JSON.
 *
 * It does not change what is stored, nor the text of JSON strings.
 */
#include "config.h"	/* _GNU_SOURCE: fopencookie() */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_int.h"

struct guard {
	int fd;
	bool json;
	unsigned need;		/* UTF-8 continuation bytes still due */
	bool held_c2;		/* a 0xC2 lead, waiting for its next byte */
};

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append byte @c to @out as it may reach a terminal; returns the length. */
static size_t
put(struct guard *g, unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (g->held_c2) {
		g->held_c2 = false;
		if (c >= 0x80 && c <= 0x9f) {	/* U+0080..U+009F */
			/* In JSON its escape is the same character. */
			n = g->json ? 4 : 6;
			memcpy(out, g->json ? "\\u00" : "\\xc2\\x", n);
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
			g->need = 0;
			return n;
		}
		out[n++] = (char)0xc2;
	}
	if (c >= 0x80 && c <= 0xbf && g->need > 0) {
		g->need--;
		out[n++] = (char)c;
		return n;
	}
	g->need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 :
	    c >= 0xf0 && c <= 0xf4 ? 3 : 0;
	if (c == 0xc2) {
		g->held_c2 = true;
		return n;
	}
	if (g->json ? c == 0x7f : ((c < 0x20 && c != '\n' && c != '\t') ||
	    c == 0x7f || (c >= 0x80 && c <= 0x9f))) {
		memcpy(out + n, g->json ? "\\u00" : "\\x", g->json ? 4 : 2);
		n += g->json ? 4 : 2;
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
		return n;
	}
	out[n++] = (char)c;
	return n;
}

static ssize_t
guard_write(void *cookie, const char *buf, size_t size)
{
	struct guard *g = cookie;
	char out[8 * 256 + 8];
	size_t i = 0;

	while (i < size) {
		size_t n = 0;

		for (; i < size && n < sizeof(out) - 16; i++)
			n += put(g, (unsigned char)buf[i], out + n);
		if (write_all(g->fd, out, n) != 0)
			return -1;
	}
	return (ssize_t)size;
}

static int
guard_close(void *cookie)
{
	struct guard *g = cookie;
	int rc = 0;

	if (g->held_c2)
		rc = write_all(g->fd, "\xc2", 1);
	free(g);
	return rc;
}

/* A stream on @fd that escapes as above, or NULL. */
static FILE *
guard_open(int fd, bool json, int mode)
{
	static const cookie_io_functions_t io = {
		.write = guard_write, .close = guard_close,
	};
	struct guard *g = calloc(1, sizeof(*g));
	FILE *fp;

	if (g == NULL)
		return NULL;
	g->fd = fd;
	g->json = json;
	if ((fp = fopencookie(g, "w", io)) == NULL) {
		free(g);
		return NULL;
	}
	setvbuf(fp, NULL, mode, BUFSIZ);
	return fp;
}

bool
ctl_wants_json(int argc, char **argv)
{
	/* getopt_long() takes any unambiguous prefix: "--j" is --json. */
	for (int i = 1; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (strcmp(argv[i], "--") == 0)
			break;
		if (n >= 3 && strncmp(argv[i], "--json", n) == 0)
			return true;
	}
	return false;
}

int
ctl_text_guard(bool json, struct ctl_streams *saved)
{
	FILE *out, *err;

	fflush(stdout);
	fflush(stderr);
	if ((out = guard_open(STDOUT_FILENO, json,
	    isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF)) == NULL ||
	    (err = guard_open(STDERR_FILENO, false, _IONBF)) == NULL) {
		if (out != NULL)
			fclose(out);
		return -1;
	}
	/* glibc's stdout and stderr are variables, there to be set. */
	saved->out = stdout;
	saved->err = stderr;
	stdout = out;
	stderr = err;
	return 0;
}

int
ctl_text_end(const struct ctl_streams *saved)
{
	FILE *out = stdout, *err = stderr;
	int e = 0;

	if (fflush(out) != 0 || ferror(out))
		e = errno != 0 ? errno : EIO;
	stdout = saved->out;
	stderr = saved->err;
	if (fclose(out) != 0 && e == 0)
		e = errno;
	(void)fclose(err);
	errno = e;
	return e == 0 ? 0 : -1;
}

/*
 * status.h - the project's status codes and per-thread error text.
 *
 * Every fallible function in dvmilter returns an int: 0 is success,
 * a negative value is one of the codes below, and a positive value is an
 * errno. Codes are never renumbered; a retired code keeps its number.
 */
#ifndef DV_STATUS_H
#define DV_STATUS_H

#include <stdarg.h>

enum dv_status {
	DV_OK = 0,
	DV_ENOTFOUND = -31000,	/* no such record */
	DV_EEXIST = -30999,	/* record already exists */
	DV_EINVAL = -30998,	/* a value is malformed or out of range */
	DV_ETOOBIG = -30997,	/* a size cap would be exceeded */
	DV_ECORRUPT = -30996,	/* a stored record cannot be decoded */
	DV_ESCHEMA = -30995,	/* store schema is newer than this build */
	DV_ESTORE = -30994,	/* the LMDB store failed */
	DV_EFULL = -30993,	/* the LMDB map is full */
	DV_ECONF = -30992,	/* configuration error */
	DV_EINUSE = -30991,	/* resource is in use (socket, profile) */
	DV_EEMPTY = -30990,	/* empty value (for example the null sender) */
	DV_ELAST = -30990
};

/**
 * dv_strerror - describe a status code.
 * @param[in] code  0, a DV_E* code or a positive errno.
 * @return a static string; never NULL.
 */
const char *dv_strerror(int code);

/**
 * dv_error_set - format error text into this thread's error buffer.
 *
 * Functions that take `const char **error_r` point it at this buffer.
 * The text stays valid until the next dv_error_set() on the same thread,
 * so callers copy it if they need it longer. The arguments may point
 * into the buffer itself (wrapping an earlier message is safe).
 * @param[in] fmt  printf format.
 * @return the formatted text (truncated at 1023 bytes).
 */
const char *dv_error_set(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/** dv_error_vset - va_list form of dv_error_set(). */
const char *dv_error_vset(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

#endif

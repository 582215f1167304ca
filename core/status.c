/*
 * status.c - status code descriptions and the per-thread error buffer.
 *
 * The error buffer is thread-local so that concurrent milter threads never
 * see each other's text; it is not a channel for passing data around.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "status.h"

static _Thread_local char errbuf[1024];

const char *
dv_strerror(int code)
{
	switch (code) {
	case DV_OK:		return "success";
	case DV_ENOTFOUND:	return "not found";
	case DV_EEXIST:		return "already exists";
	case DV_EINVAL:		return "invalid value";
	case DV_ETOOBIG:	return "too large";
	case DV_ECORRUPT:	return "corrupt record";
	case DV_ESCHEMA:	return "store schema is newer than this program";
	case DV_ESTORE:		return "store failure";
	case DV_EFULL:		return "store is full";
	case DV_ECONF:		return "configuration error";
	case DV_EINUSE:		return "in use";
	case DV_EEMPTY:		return "empty value";
	}
	if (code > 0)
		return strerror(code);
	return "unknown error";
}

const char *
dv_error_vset(const char *fmt, va_list ap)
{
	char tmp[sizeof(errbuf)];

	/*
	 * Format into a copy first: callers routinely wrap an earlier
	 * message ("file:line: %s", err), and err points into errbuf.
	 */
	if (vsnprintf(tmp, sizeof(tmp), fmt, ap) < 0)
		snprintf(tmp, sizeof(tmp), "(unprintable error)");
	memcpy(errbuf, tmp, sizeof(errbuf));
	return errbuf;
}

const char *
dv_error_set(const char *fmt, ...)
{
	const char *p;
	va_list ap;

	va_start(ap, fmt);
	p = dv_error_vset(fmt, ap);
	va_end(ap);
	return p;
}

/*
 * log.c - process-wide logger.
 *
 * The logger's three settings are the only mutable file-scope state in
 * core/: syslog(3) is process-wide anyway. It never allocates, so it is
 * safe to call from any thread at any time after log_open().
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int log_level = LOG_LVL_INFO;
static atomic_bool log_syslog = false;
static const char *log_ident = "dvmilter";

static const struct {
	const char *name;
	int level;
} log_levels[] = {
	{ "error", LOG_LVL_ERROR },
	{ "warning", LOG_LVL_WARNING },
	{ "notice", LOG_LVL_NOTICE },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
};

void
log_open(const char *ident, bool use_syslog, int facility)
{
	log_ident = ident;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	else if (atomic_load(&log_syslog))
		closelog();
	atomic_store(&log_syslog, use_syslog);
}

void
log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int
log_get_level(void)
{
	return atomic_load(&log_level);
}

bool
log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcasecmp(s, log_levels[i].name) == 0)
			return log_levels[i].level;
	return -1;
}

const char *
log_level_name(int level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "unknown";
}

/*
 * "YYYY-MM-DDTHH:MM:SS" of @sec, UTC. Each thread keeps the last one it
 * made: a busy milter logs many lines a second, and gmtime_r() takes
 * glibc's time zone lock every time.
 */
static const char *
stamp_of(time_t sec)
{
	static _Thread_local time_t last = (time_t)-1;
	static _Thread_local char stamp[32];
	struct tm tm;

	if (sec != last) {
		if (gmtime_r(&sec, &tm) == NULL ||
		    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
		    &tm) == 0)
			stamp[0] = '\0';
		last = sec;
	}
	return stamp;
}

/* The whole of @buf to stderr, however write(2) splits it. */
static void
write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* nowhere to say so */
		buf += n;
		len -= (size_t)n;
	}
}

static void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[2048], out[2200];
	struct timespec ts;
	int n;

	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		return;
	if (atomic_load(&log_syslog)) {
		syslog(level, "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	/*
	 * One write(2) per line keeps concurrent threads' lines whole,
	 * without stdio's stream lock held across the system call.
	 */
	n = snprintf(out, sizeof(out), "%s.%03ldZ %s[%s]: %s\n",
	    stamp_of(ts.tv_sec), ts.tv_nsec / 1000000, log_ident,
	    log_level_name(level), line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out)) {
		n = (int)sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	write_all(out, (size_t)n);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

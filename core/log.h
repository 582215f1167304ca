/*
 * log.h - logging to syslog or standard error, with a runtime level.
 *
 * The logger is process-wide (syslog is); its level and destination are
 * set once at start-up and again on reload. Messages at a level above the
 * current one cost one atomic load and nothing else.
 */
#ifndef DV_LOG_H
#define DV_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Levels are syslog priorities, so they pass straight to syslog(3). */
enum log_level {
	LOG_LVL_ERROR = LOG_ERR,
	LOG_LVL_WARNING = LOG_WARNING,
	LOG_LVL_NOTICE = LOG_NOTICE,
	LOG_LVL_INFO = LOG_INFO,
	LOG_LVL_DEBUG = LOG_DEBUG
};

/**
 * log_open - choose the destination.
 * @param[in] ident     program name shown in each line.
 * @param[in] use_syslog true for syslog(3), false for standard error.
 * @param[in] facility  syslog facility (LOG_MAIL...), ignored for stderr.
 */
void log_open(const char *ident, bool use_syslog, int facility);

/** log_set_level - messages above @level are dropped. */
void log_set_level(int level);

/** log_get_level - the current level. */
int log_get_level(void);

/** log_enabled - true when a message at @level would be written. */
bool log_enabled(int level);

/** log_level_parse - "error".."debug" to a level; -1 if unknown. */
int log_level_parse(const char *s);

/** log_level_name - the name of a level. */
const char *log_level_name(int level);

/** log_msg - write one line at @level. */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/**
 * fatal - log at error level and exit(1). Only for start-up failures and
 * broken invariants, never for something one message can cause.
 */
_Noreturn void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif

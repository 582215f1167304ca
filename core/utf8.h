/*
 * utf8.h - UTF-8 validity, for text that must become JSON or go to a CRM.
 */
#ifndef DV_UTF8_H
#define DV_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/**
 * utf8_seq - length of the valid UTF-8 sequence at @p (at most @n
 * bytes), or 0 if it is not valid (overlongs and surrogates included).
 */
size_t utf8_seq(const unsigned char *p, size_t n);

/** utf8_valid - true if @s (@n bytes) is entirely valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

/**
 * utf8_sanitize - a copy of @s with every invalid byte replaced by
 * U+FFFD; malloc'd, NULL on ENOMEM.
 */
char *utf8_sanitize(const char *s);

#endif

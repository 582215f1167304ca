/*
 * html.h - HTML to plain text, for mail whose only body is HTML.
 */
#ifndef DV_HTML_H
#define DV_HTML_H

#include <stddef.h>

/**
 * html_to_text - render HTML as plain text with libxml2's forgiving HTML
 * parser: script, style and head content dropped, entities decoded,
 * non-breaking spaces as spaces, white space runs collapsed, <br> as a
 * line break, paragraphs (p, headings, lists, tables, blockquote, pre)
 * set off by a blank line, other blocks (div, li, tr...) on lines of
 * their own, at most one blank line in a row, each line trimmed.
 * @param[in] html  UTF-8 HTML, @len bytes (need not be NUL-terminated).
 * @return a malloc'd UTF-8 string (possibly ""), or NULL on ENOMEM.
 */
char *html_to_text(const char *html, size_t len);

#endif

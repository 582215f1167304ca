/*
 * html.c - HTML to text with libxml2.
 *
 * The tree walk emits text nodes with collapsed white space and marks
 * block boundaries (a blank line around paragraphs, a line break around
 * other blocks); a final pass trims lines and squeezes blank lines.
 * It does not try to render tables or lists faithfully: the goal is
 * readable text for an activity's description, not layout.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "html.h"
#include "utf8.h"

#define HTML_TEXT_MAX	(16u << 20)

static const char *const skip_tags[] = {
	"script", "style", "head", "title", "noscript", "template", NULL
};
/* Blocks that a reader sees as paragraphs: a blank line around them. */
static const char *const para_tags[] = {
	"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul",
	"ol", "pre", "dl", "hr", NULL
};
/* Blocks that only start a new line (Gmail and Outlook write a <div> per
 * line of text). */
static const char *const line_tags[] = {
	"div", "li", "tr", "dt", "dd", "section", "article", "header",
	"footer", "nav", "aside", "address", "form", "fieldset", "figure",
	"figcaption", "main", "body", "caption", "center", NULL
};

static bool
tag_in(const xmlChar *name, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcasecmp((const char *)name, list[i]) == 0)
			return true;
	return false;
}

struct out {
	struct dbuf b;
	bool space;	/* a collapsed space is pending */
	int err;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->err == 0)
		o->err = dbuf_add(&o->b, s, n);
}

/* End the current line and leave @n line breaks (2: a blank line), but
 * never at the very start and never more than asked. */
static void
out_break(struct out *o, size_t n)
{
	size_t have = 0;

	o->space = false;
	if (o->b.len == 0)
		return;
	while (have < o->b.len && o->b.p[o->b.len - 1 - have] == '\n')
		have++;
	for (; have < n; have++)
		out_add(o, "\n", 1);
}

static void
out_text(struct out *o, const unsigned char *t)
{
	for (; *t; t++) {
		/* U+00A0 (C2 A0) is a space to a reader. */
		if (t[0] == 0xc2 && t[1] == 0xa0) {
			o->space = true;
			t++;
			continue;
		}
		if (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' ||
		    *t == '\f') {
			o->space = true;
			continue;
		}
		if (o->space && o->b.len > 0 && o->b.p[o->b.len - 1] != '\n')
			out_add(o, " ", 1);
		o->space = false;
		out_add(o, (const char *)t, 1);
	}
}

static void
walk(struct out *o, xmlNode *n, int depth)
{
	for (; n != NULL && depth < 256; n = n->next) {
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content != NULL)
				out_text(o, n->content);
			continue;
		}
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (tag_in(n->name, skip_tags))
			continue;
		if (strcasecmp((const char *)n->name, "br") == 0) {
			o->space = false;
			out_add(o, "\n", 1);
			continue;
		}
		size_t brk = tag_in(n->name, para_tags) ? 2 :
		    tag_in(n->name, line_tags) ? 1 : 0;
		if (brk)
			out_break(o, brk);
		walk(o, n->children, depth + 1);
		if (brk)
			out_break(o, brk);
		else if (strcasecmp((const char *)n->name, "td") == 0 ||
		    strcasecmp((const char *)n->name, "th") == 0)
			o->space = true;	/* cells are words apart */
	}
}

/* Trim each line; no more than one blank line in a row; trim the ends. */
static char *
tidy(const char *s, size_t len)
{
	struct dbuf b;
	size_t blank = 1;	/* suppress leading blank lines */
	const char *p = s, *end = s + len;

	dbuf_init(&b, len + 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end, *a = p;

		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == a) {
			if (blank++ == 0 && dbuf_add(&b, "\n", 1) != 0)
				return NULL;
		} else {
			blank = 0;
			if (dbuf_add(&b, a, (size_t)(e - a)) != 0 ||
			    dbuf_add(&b, "\n", 1) != 0)
				return NULL;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	while (b.len > 0 && b.p[b.len - 1] == '\n')
		b.p[--b.len] = '\0';
	return dbuf_take(&b, NULL);
}

char *
html_to_text(const char *html, size_t len)
{
	struct out o = { .err = 0 };
	htmlDocPtr doc;
	char *r;

	dbuf_init(&o.b, HTML_TEXT_MAX);
	if (len > INT32_MAX)
		len = INT32_MAX;
	doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
	    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	    HTML_PARSE_NONET);
	if (doc != NULL) {
		walk(&o, xmlDocGetRootElement(doc), 0);
		xmlFreeDoc(doc);
	}
	if (o.err != 0 && o.b.p == NULL)
		return NULL;
	r = tidy(dbuf_str(&o.b), o.b.len);
	dbuf_free(&o.b);
	/* libxml2 passes some bytes through as they came (a "<" that starts
	 * no tag, and what follows it), and the text goes into JSON. */
	if (r != NULL && !utf8_valid(r, strlen(r))) {
		char *s = utf8_sanitize(r);

		free(r);
		r = s;
	}
	return r;
}

/*
 * csv.c - RFC 4180 reader.
 *
 * A small state machine over getc(); fields accumulate in one bounded
 * buffer per field. It knows nothing about what the columns mean.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"
#include "caps.h"
#include "status.h"

struct csv_reader {
	FILE *fp;
	unsigned line;		/* current line number */
	bool started;		/* BOM check done */
	struct dbuf f[CSV_MAX_FIELDS];
	char *ptrs[CSV_MAX_FIELDS];
};

int
csv_open(FILE *fp, struct csv_reader **reader_r)
{
	struct csv_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return ENOMEM;
	r->fp = fp;
	r->line = 1;
	for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
		dbuf_init(&r->f[i], DV_CSV_FIELD_MAX);
	*reader_r = r;
	return 0;
}

void
csv_close(struct csv_reader *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
		dbuf_free(&r->f[i]);
	free(r);
}

static int
field_add(struct csv_reader *r, size_t n, int c, unsigned start,
    const char **error_r)
{
	char ch = (char)c;

	if (c == '\0') {
		*error_r = dv_error_set("line %u: NUL byte in field %zu", start,
		    n + 1);
		return DV_EINVAL;
	}
	if (dbuf_add(&r->f[n], &ch, 1) != 0) {
		*error_r = dv_error_set("line %u: field %zu is longer than %d "
		    "bytes", start, n + 1, DV_CSV_FIELD_MAX);
		return DV_ETOOBIG;
	}
	return 0;
}

/* Where csv_next() stands in the record it is reading. */
struct rec_state {
	size_t n;		/* index of the field being filled */
	unsigned start;		/* line the record starts on, for errors */
	bool quoted;		/* inside quotes */
	bool was_quoted;	/* this field's quotes have closed */
	bool any;		/* the record has content: not a blank line */
};

/*
 * A UTF-8 byte order mark is what spreadsheet programs write first; a
 * byte 0xef that does not start one is refused rather than guessed at.
 */
static int
skip_bom(struct csv_reader *r, const char **error_r)
{
	int c = getc(r->fp);

	if (c == 0xef) {
		if (getc(r->fp) != 0xbb || getc(r->fp) != 0xbf) {
			*error_r = dv_error_set("line 1: broken byte order mark");
			return DV_EINVAL;
		}
	} else if (c != EOF)
		ungetc(c, r->fp);
	return 0;
}

/*
 * True if a LF follows, left unread so that it ends the record: CRLF is
 * one line break, while a bare CR is data.
 */
static bool
lf_follows(struct csv_reader *r)
{
	int d = getc(r->fp);

	if (d != EOF)
		ungetc(d, r->fp);
	return d == '\n';
}

/* One byte inside quotes, where only a quote is special. */
static int
quoted_byte(struct csv_reader *r, struct rec_state *st, int c,
    const char **error_r)
{
	if (c == EOF) {
		*error_r = dv_error_set("line %u: quoted field is not closed",
		    st->start);
		return DV_EINVAL;
	}
	if (c == '"') {
		int d = getc(r->fp);

		if (d != '"') {		/* not a doubled quote: the closing one */
			if (d != EOF)
				ungetc(d, r->fp);
			st->quoted = false;
			return 0;
		}
	} else if (c == '\n')
		r->line++;
	return field_add(r, st->n, c, st->start, error_r);
}

/* One byte outside quotes, other than a line break. */
static int
unquoted_byte(struct csv_reader *r, struct rec_state *st, int c,
    const char **error_r)
{
	st->any = true;
	if (c == ',') {
		if (++st->n >= CSV_MAX_FIELDS) {
			*error_r = dv_error_set("line %u: more than %d fields",
			    st->start, CSV_MAX_FIELDS);
			return DV_ETOOBIG;
		}
		st->was_quoted = false;
		return 0;
	}
	if (c == '"') {
		/* Quotes may only enclose a whole field (RFC 4180 2.5). */
		if (r->f[st->n].len != 0 || st->was_quoted) {
			*error_r = dv_error_set("line %u: field %zu: quote "
			    "inside an unquoted field", st->start, st->n + 1);
			return DV_EINVAL;
		}
		st->quoted = st->was_quoted = true;
		return 0;
	}
	if (st->was_quoted) {
		*error_r = dv_error_set("line %u: field %zu: text after a "
		    "closing quote", st->start, st->n + 1);
		return DV_EINVAL;
	}
	return field_add(r, st->n, c, st->start, error_r);
}

int
csv_next(struct csv_reader *r, char ***fields_r, size_t *n_r,
    unsigned *line_r, const char **error_r)
{
	struct rec_state st = { .n = 0 };
	int c, rc;

	if (!r->started) {
		r->started = true;
		if ((rc = skip_bom(r, error_r)) != 0)
			return rc;
	}
	for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
		dbuf_reset(&r->f[i]);
	st.start = r->line;
	for (;;) {
		c = getc(r->fp);
		if (c == EOF && ferror(r->fp))
			return errno ? errno : EIO;
		if (st.quoted)
			rc = quoted_byte(r, &st, c, error_r);
		else if (c == EOF || c == '\n') {
			if (c == '\n')
				r->line++;
			if (st.any)
				break;
			if (c == EOF)
				return DV_ENOTFOUND;
			st.start = r->line;	/* a blank line is skipped */
			continue;
		} else if (c == '\r' && lf_follows(r))
			continue;
		else
			rc = unquoted_byte(r, &st, c, error_r);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i <= st.n; i++)
		r->ptrs[i] = (char *)dbuf_str(&r->f[i]);
	*fields_r = r->ptrs;
	*n_r = st.n + 1;
	*line_r = st.start;
	return 0;
}

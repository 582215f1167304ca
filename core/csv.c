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

int
csv_next(struct csv_reader *r, char ***fields_r, size_t *n_r,
    unsigned *line_r, const char **error_r)
{
	size_t n = 0;
	bool quoted = false, was_quoted = false, any = false;
	unsigned start;
	int c, rc;

	if (!r->started) {
		r->started = true;
		c = getc(r->fp);
		if (c == 0xef) {
			if (getc(r->fp) != 0xbb || getc(r->fp) != 0xbf) {
				*error_r = dv_error_set("line 1: broken byte "
				    "order mark");
				return DV_EINVAL;
			}
		} else if (c != EOF)
			ungetc(c, r->fp);
	}
	for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
		dbuf_reset(&r->f[i]);
	start = r->line;
	for (;;) {
		c = getc(r->fp);
		if (quoted) {
			if (c == EOF) {
				if (ferror(r->fp))
					return errno ? errno : EIO;
				*error_r = dv_error_set("line %u: quoted field "
				    "is not closed", start);
				return DV_EINVAL;
			}
			if (c == '"') {
				int d = getc(r->fp);

				if (d == '"') {
					if ((rc = field_add(r, n, '"', start,
					    error_r)) != 0)
						return rc;
					continue;
				}
				if (d != EOF)
					ungetc(d, r->fp);
				quoted = false;
				continue;
			}
			if (c == '\n')
				r->line++;
			if ((rc = field_add(r, n, c, start, error_r)) != 0)
				return rc;
			continue;
		}
		if (c == EOF && ferror(r->fp))
			return errno ? errno : EIO;
		if (c == EOF || c == '\n') {
			if (c == '\n')
				r->line++;
			if (!any && r->f[0].len == 0) {
				if (c == EOF)
					return DV_ENOTFOUND;
				start = r->line;	/* blank line */
				continue;
			}
			break;
		}
		if (c == '\r') {
			int d = getc(r->fp);

			if (d == '\n') {
				ungetc(d, r->fp);
				continue;
			}
			if (d != EOF)
				ungetc(d, r->fp);
		}
		any = true;
		if (c == ',') {
			if (++n >= CSV_MAX_FIELDS) {
				*error_r = dv_error_set("line %u: more than %d "
				    "fields", start, CSV_MAX_FIELDS);
				return DV_ETOOBIG;
			}
			was_quoted = false;
			continue;
		}
		if (c == '"') {
			if (r->f[n].len != 0 || was_quoted) {
				*error_r = dv_error_set("line %u: field %zu: "
				    "quote inside an unquoted field", start,
				    n + 1);
				return DV_EINVAL;
			}
			quoted = was_quoted = true;
			continue;
		}
		if (was_quoted) {
			*error_r = dv_error_set("line %u: field %zu: text after "
			    "a closing quote", start, n + 1);
			return DV_EINVAL;
		}
		if ((rc = field_add(r, n, c, start, error_r)) != 0)
			return rc;
	}
	for (size_t i = 0; i <= n; i++)
		r->ptrs[i] = (char *)dbuf_str(&r->f[i]);
	*fields_r = r->ptrs;
	*n_r = n + 1;
	*line_r = start;
	return 0;
}

/*
 * csv.h - an RFC 4180 CSV reader for imports.
 *
 * Quoted fields may hold commas, doubled quotes and line breaks; both
 * CRLF and LF end a record; a leading UTF-8 byte order mark is skipped.
 * Every field and record is bounded (caps.h), so a hostile file costs
 * a clear error, not memory.
 */
#ifndef DV_CSV_H
#define DV_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_FIELDS 64

struct csv_reader;

/**
 * csv_open - start reading @fp (not closed by csv_close()).
 * @return 0 or ENOMEM.
 */
int csv_open(FILE *fp, struct csv_reader **reader_r);

/**
 * csv_next - read one record.
 * @param[out] fields_r  the fields, NUL-terminated strings owned by the
 *                       reader and valid until the next call.
 * @param[out] n_r       number of fields.
 * @param[out] line_r    line number where the record starts (1-based).
 * @param[out] error_r   on DV_EINVAL/DV_ETOOBIG, what is wrong.
 * @return 0; DV_ENOTFOUND at end of input; DV_EINVAL for bad quoting;
 *         DV_ETOOBIG for an oversized field or too many fields; an
 *         errno for a read error. Blank lines are skipped.
 */
int csv_next(struct csv_reader *r, char ***fields_r, size_t *n_r,
    unsigned *line_r, const char **error_r);

/** csv_close - free the reader; NULL is a no-op. */
void csv_close(struct csv_reader *r);

#endif

/*
 * fuzz_csv.c - libFuzzer harness for the CSV reader (core/csv.c).
 *
 * The input is a whole import file, read through fmemopen() as the
 * importers read a FILE. Every record must have 1 to CSV_MAX_FIELDS
 * NUL-terminated fields and line numbers that never go back; after an
 * error the reader is closed, as the importers do.
 */
#include "config.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_reader *r;
	unsigned line, last = 0;
	const char *err;
	char **fields;
	FILE *fp;
	size_t n;
	int rc;

	if (size == 0)
		return 0;	/* fmemopen() of size 0 is EINVAL */
	if ((fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (csv_open(fp, &r) != 0) {
		fclose(fp);
		return 0;
	}
	while ((rc = csv_next(r, &fields, &n, &line, &err)) == 0) {
		if (n == 0 || n > CSV_MAX_FIELDS || line < last || line == 0)
			abort();
		for (size_t i = 0; i < n; i++)
			if (strlen(fields[i]) > DV_CSV_FIELD_MAX)
				abort();
		last = line;
	}
	csv_close(r);
	fclose(fp);
	return 0;
}

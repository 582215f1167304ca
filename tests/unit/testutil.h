/*
 * testutil.h - helpers shared by the unit tests: scratch directories
 * holding real LMDB stores.
 */
#ifndef DV_TESTUTIL_H
#define DV_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under /tmp; the caller removes it with rm_tree(). */
static inline char *
scratch_dir(void)
{
	char tmpl[] = "/tmp/dvmilter-unit.XXXXXX";
	char *d = mkdtemp(tmpl);

	return d != NULL ? strdup(d) : NULL;
}

static inline void
rm_tree(char *dir)
{
	char cmd[256];

	if (dir == NULL)
		return;
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) < (int)sizeof(cmd))
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	free(dir);
}

#endif

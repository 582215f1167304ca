/*
 * replay.c - run a libFuzzer harness over saved inputs, without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_<name>.c, this main() calls the
 * harness's LLVMFuzzerTestOneInput() once per file named on the command
 * line (a directory stands for each regular file in it, in name order),
 * so `make check` replays every corpus with the normal compiler, and
 * under --enable-sanitizers with ASan and UBSan. A crash is the
 * harness's own abort(); a file that cannot be read fails the run.
 * It prints how many inputs it replayed, for the test's TAP line.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Inputs are small; a bigger file is a mistake in the corpus. */
#define REPLAY_MAX	(4 * 1024 * 1024)

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;
	int rc = 0;

	if (fp == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 ||
	    len > REPLAY_MAX || fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: cannot size, or over %d bytes\n",
		    path, REPLAY_MAX);
		rc = 1;
		goto out;
	}
	/* A copy of exactly len bytes, so ASan sees a read past the end. */
	if ((data = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(data, 1, (size_t)len, fp) != (size_t)len) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		rc = 1;
		goto out;
	}
	LLVMFuzzerTestOneInput(data, (size_t)len);
out:
	free(data);
	fclose(fp);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of @dir, in name order; adds to *n_r. */
static int
replay_dir(const char *dir, unsigned *n_r)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char **grown;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = realloc(names, cap * sizeof(*names))) ==
			    NULL) {
				rc = 1;
				break;
			}
			names = grown;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = 1;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

		if (rc == 0 && (w < 0 || (size_t)w >= sizeof(path))) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir,
			    names[i]);
			rc = 1;
		}
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(path);
			(*n_r)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *name = argc > 0 ? argv[0] : "replay";
	unsigned n = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", name);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; rc == 0 && i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &n);
		} else {
			rc = replay_file(argv[i]);
			n++;
		}
	}
	printf("%s: %u inputs replayed%s\n", name, n,
	    rc == 0 ? "" : ", then a read error");
	return rc;
}

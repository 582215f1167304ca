/*
 * spool.h - one message's content while the MTA sends it: in memory up
 * to a limit, then in an anonymous temporary file, and never more than a
 * cap (past which the rest is counted but not kept, and the message is
 * marked truncated). This bounds the daemon's memory however many large
 * messages are in flight at once.
 */
#ifndef DV_SPOOL_H
#define DV_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct spool {
	char *mem;		/* in-memory part, or NULL */
	size_t len;		/* bytes kept (memory or file) */
	size_t mem_alloc;
	size_t mem_limit;	/* spill to a file past this */
	size_t max_size;	/* keep no more than this */
	size_t seen;		/* bytes offered, kept or not */
	int fd;			/* -1 until spilled */
	const char *dir;	/* where the temporary file goes */
};

/**
 * spool_init - an empty spool.
 * @param[in] dir  directory for the spill file (not copied; must outlive
 *                 the spool).
 */
void spool_init(struct spool *s, size_t mem_limit, size_t max_size,
    const char *dir);

/**
 * spool_add - append content.
 * @return 0; an errno if the spill file cannot be created or written
 *         (the caller tempfails the message).
 */
int spool_add(struct spool *s, const void *data, size_t n);

/** spool_truncated - more was offered than max_size allowed. */
bool spool_truncated(const struct spool *s);

/** spool_spilled - the content went to a file. */
bool spool_spilled(const struct spool *s);

/**
 * spool_copy - copy the kept content (s->len bytes) into @dst.
 * @return 0, or an errno for a read error.
 */
int spool_copy(const struct spool *s, void *dst);

/** spool_reset - empty it (closing any file) for the next message. */
void spool_reset(struct spool *s);

/** spool_free - release everything. */
void spool_free(struct spool *s);

#endif

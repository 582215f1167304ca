/*
 * mimescan.h - a cheap pre-scan of a raw message that bounds what GMime
 * is given to parse.
 *
 * GMime builds the whole MIME tree of a message before anyone can look
 * at it: a 10 MB message of a million empty parts costs gigabytes. The
 * scan walks the message once, line by line, with the MIME structure
 * GMime would see (boundaries from Content-Type, message/rfc822 and the
 * digest default), and finds the first byte where a cap is passed: the
 * start of the part past MaxMessageParts, of the first part nested
 * deeper than MaxMessageDepth, of the header field past the header caps
 * (GMime makes an object of each address, parameter and msg-id: a 12 MB
 * To field cost it 330 MB), or of the line past a backstop of
 * boundary-like lines the scan could not place. The caller hands GMime
 * only the bytes before it (mimescan_apply()). One header field longer
 * than MIMESCAN_FIELD_MAX costs only itself: GMime gets it shortened,
 * and the rest of the message after it. The scan copies only the
 * boundaries of the multiparts it is inside, into a fixed stack, and
 * never reads past @len.
 */
#ifndef DV_MIMESCAN_H
#define DV_MIMESCAN_H

#include <stddef.h>

/* The deepest MaxMessageDepth accepted (the scan's boundary stack). */
#define MIMESCAN_DEPTH_MAX	100
/* Header fields, in all parts together, GMime is given at most... */
#define MIMESCAN_HEADERS_MAX	20000
/* ... and header bytes, in all, and in one field with its folds. */
#define MIMESCAN_HEADER_BYTES_MAX	((size_t)1 << 20)
#define MIMESCAN_FIELD_MAX	((size_t)256 << 10)
/* Fields over MIMESCAN_FIELD_MAX shortened, at most; past them, cut. */
#define MIMESCAN_LONG_MAX	16

enum mimescan_cut {
	MIMESCAN_WHOLE = 0,	/* within every cap */
	MIMESCAN_PARTS = 1,	/* the part after the max_parts-th */
	MIMESCAN_DEPTH = 2,	/* a part nested deeper than max_depth */
	MIMESCAN_HEADERS = 3,	/* the header field past MIMESCAN_HEADERS_MAX
				   or MIMESCAN_HEADER_BYTES_MAX, or the
				   over-long field past MIMESCAN_LONG_MAX */
	MIMESCAN_LINES = 4	/* too many "--" lines that are no boundary */
};

/*
 * A header field longer than MIMESCAN_FIELD_MAX with its folds. GMime
 * gets its first @keep bytes: its lines that fit, or, if its first line
 * alone does not, the start of that line; then an end of line if they
 * do not end in one. The folds after them are left out.
 */
struct mimescan_long {
	size_t at;		/* where the field starts in the message */
	size_t len;		/* its bytes, with its folds */
	size_t keep;		/* with the end of line, at most
				   MIMESCAN_FIELD_MAX */
	size_t part;		/* whose header it is: 1 is the message */
};

struct mimescan_result {
	size_t len;		/* bytes before the cut (all if whole) */
	size_t parts;		/* parts (header blocks) before the cut */
	unsigned depth;		/* the deepest of them; the message is 0 */
	enum mimescan_cut cut;
	/* The over-long fields before the cut, in order: they count
	 * towards the header byte cap with what GMime gets of them. */
	struct mimescan_long longf[MIMESCAN_LONG_MAX];
	size_t nlong;
};

/**
 * mimescan - scan @raw (@len bytes) and say how much of it stays within
 * @max_parts parts (each header block: the message, every body part,
 * every attached message; at least 1) and @max_depth levels of nesting
 * (at most MIMESCAN_DEPTH_MAX). Lines that could open a part for a
 * parser that read the structure otherwise (a line that starts with
 * "--" and is no boundary the scan knows, a Content-Type line in a body)
 * are counted, and more than 8 * @max_parts + 64 of them cut too: the
 * scan follows GMime 3.2's parser closely (tests/unit/test_mimescan.c
 * compares them on random messages), and where they still disagree,
 * GMime sees at most about 9 * @max_parts parts.
 * Call msg_init() first (GMime parses the Content-Type values).
 * @param[out] r  the result; the scan cannot fail.
 */
void mimescan(const char *raw, size_t len, size_t max_parts,
    unsigned max_depth, struct mimescan_result *r);

/**
 * mimescan_apply - the bytes GMime is given: the first @r->len of @raw,
 * the over-long fields of @r shortened (at most @r->len + @r->nlong
 * bytes: the caller makes room for that many in @out).
 * @return how many bytes were written to @out.
 */
size_t mimescan_apply(const char *raw, const struct mimescan_result *r,
    char *out);

/** mimescan_cut_name - what a cut means, for notes ("too many parts"). */
const char *mimescan_cut_name(enum mimescan_cut c);

#endif

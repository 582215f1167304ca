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
 * only the bytes before it. The scan copies only the boundaries of the
 * multiparts it is inside, into a fixed stack, and never reads past
 * @len.
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

enum mimescan_cut {
	MIMESCAN_WHOLE = 0,	/* within every cap */
	MIMESCAN_PARTS = 1,	/* the part after the max_parts-th */
	MIMESCAN_DEPTH = 2,	/* a part nested deeper than max_depth */
	MIMESCAN_HEADERS = 3,	/* the header field past MIMESCAN_HEADERS_MAX,
				   MIMESCAN_HEADER_BYTES_MAX or
				   MIMESCAN_FIELD_MAX */
	MIMESCAN_LINES = 4	/* too many "--" lines that are no boundary */
};

struct mimescan_result {
	size_t len;		/* bytes before the cut (all if whole) */
	size_t parts;		/* parts (header blocks) before the cut */
	unsigned depth;		/* the deepest of them; the message is 0 */
	enum mimescan_cut cut;
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

/** mimescan_cut_name - what a cut means, for notes ("too many parts"). */
const char *mimescan_cut_name(enum mimescan_cut c);

#endif

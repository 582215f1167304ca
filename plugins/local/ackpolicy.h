/*
 * ackpolicy.h - what the local plugin's acknowledgement of a new case
 * may do, as pure functions of the message (no store, no network), so
 * that they are tested with tables (tests/plugins/test_ackpolicy.c):
 *   - whether RFC 3834 or common practice forbids answering it;
 *   - the key its rate limits count it under;
 *   - how much of the sender's subject its own subject carries.
 */
#ifndef DV_ACKPOLICY_H
#define DV_ACKPOLICY_H

#include <stddef.h>

#include "dvmilter_plugin.h"

/* The characters of a case title an acknowledgement's subject keeps. */
#define ACK_TITLE_CHARS	60

/**
 * ack_suppressed - why @m must not be answered, or NULL if it may be:
 *   - the null sender;
 *   - a sender whose local part (without +subaddress, any case) is
 *     mailer-daemon, postmaster, listserv, majordomo, noreply, no-reply,
 *     donotreply or do-not-reply, starts with owner- or ends with
 *     -request, -owner or -bounces (RFC 3834 section 2, RFC 5230
 *     section 4.6);
 *   - any List-* header (RFC 2369, RFC 2919, RFC 8058);
 *   - Precedence bulk, list or junk;
 *   - Auto-Submitted with any value but "no" (RFC 3834 section 5);
 *   - X-Auto-Response-Suppress naming All, AutoReply or OOF (Microsoft's
 *     MS-OXCMAIL 2.2.3.2.14);
 *   - X-Autoreply, X-Autorespond or X-Autoresponder: itself an
 *     automatic reply.
 * Headers are read from m->headers (the raw block), and from
 * m->auto_submitted, m->precedence and m->list_id.
 * @param[out] buf  room for a reason that names a value (at least 80
 *                  bytes); the result may point into it.
 */
const char *ack_suppressed(const struct dvp_message *m, char *buf,
    size_t bufsz);

/**
 * ack_rate_key - the address rate limits count @addr under: lower case,
 * without a subaddress at the first "+" of the local part, so that
 * victim+1@ and victim+2@ are one recipient.
 * @return 0, or -1 when it does not fit @outsz or has no "@".
 */
int ack_rate_key(const char *addr, char *out, size_t outsz);

/**
 * ack_subject - the value of an acknowledgement's Subject header:
 * "[NUMBER] Received: TITLE TOKEN". TITLE is @title with every control
 * character (C0, DEL, C1, and the Unicode line, paragraph and
 * bidirectional controls) made a space, white space runs one space,
 * trimmed, and cut to ACK_TITLE_CHARS characters ("..." marks a cut);
 * "(no subject)" if nothing is left. When it is not plain ASCII, or
 * could be read as an encoded word ("=?"), it is written as RFC 2047
 * encoded words (UTF-8, base64, at most 75 characters each, folded).
 * @param[in] token  the tracking token, or NULL.
 * @return a new string (free()), or NULL when out of memory.
 */
char *ack_subject(const char *number, const char *title, const char *token);

#endif

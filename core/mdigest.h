/*
 * mdigest.h - the content digest of a message: what makes two SMTP
 * transactions carry the same message.
 *
 * The outbox folds a message into an earlier entry only when both have
 * the same Message-ID and the same content digest (core/outbox.h). The
 * digest must therefore be equal for the same message arriving twice
 * (the MTA splitting its recipients, two relays, a client retrying after
 * a 4xx) and differ when the content differs. It is a SHA-256 over:
 *
 *   - the origin headers, those the author's system writes once and
 *     every copy carries unchanged: From, Sender, Reply-To, To, Cc, Date,
 *     Subject, Message-ID, In-Reply-To, References, MIME-Version and
 *     every Content-* header, in the order they come, each as its name
 *     in lower case and its value unfolded (every run of white space one
 *     space, none at either end), each followed by a NUL;
 *   - a marker for the end of the header;
 *   - the body, byte for byte, as the MTA passes it to milters.
 *
 * It leaves out the trace and relay headers, which differ between two
 * copies of one message: Received, Return-Path, Delivered-To,
 * Authentication-Results, ARC-*, DKIM-Signature and other signatures
 * added on the way, Resent-*, Bcc (removed from some copies), X-*
 * (spam scores, relay stamps), and any other header not listed above.
 * A relay that rewrites the body or an origin header (a disclaimer
 * footer, an 8-bit body downgraded to quoted-printable) makes another
 * message, which becomes an entry of its own: nothing is lost.
 *
 * SHA-256 (OpenSSL EVP), fed as the content streams in: no copy, no
 * second pass.
 */
#ifndef DV_MDIGEST_H
#define DV_MDIGEST_H

#include <stdbool.h>
#include <stddef.h>

/* A digest as text: 64 lower-case hexadecimal digits and a NUL. */
#define MDIGEST_HEX	65

struct mdigest;

/**
 * mdigest_new - start the digest of one message.
 * @param[out] d_r  freed with mdigest_free().
 * @return 0, or ENOMEM.
 */
int mdigest_new(struct mdigest **d_r);

/** mdigest_covers - whether header @name is part of the digest. */
bool mdigest_covers(const char *name);

/**
 * mdigest_header - one header as the MTA passes it (@value may be
 * folded); a header mdigest_covers() does not name is left out.
 */
void mdigest_header(struct mdigest *d, const char *name, const char *value);

/** mdigest_eoh - the end of the header; the body follows. */
void mdigest_eoh(struct mdigest *d);

/** mdigest_body - one chunk of the body, in order. */
void mdigest_body(struct mdigest *d, const void *p, size_t n);

/**
 * mdigest_final - the digest as hexadecimal text into @hex. @d is spent:
 * only mdigest_free() may follow.
 * @return 0, or DV_ESTORE if OpenSSL failed (then @hex is "").
 */
int mdigest_final(struct mdigest *d, char hex[MDIGEST_HEX]);

/** mdigest_free - NULL is a no-op. */
void mdigest_free(struct mdigest *d);

#endif /* DV_MDIGEST_H */

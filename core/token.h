/*
 * token.h - signed tracking tokens for subjects.
 *
 * A token names an outbox message (the start of a conversation) and
 * carries a truncated HMAC-SHA256 of that name under a key only dvmilter
 * holds, so a sender cannot forge or alter one to attach mail to someone
 * else's conversation. The form is PREFIX ID "-" TAG, for example
 * "CRM:1042-K7Q2M9TX": ID in decimal, TAG 8 characters of Crockford
 * base32 (40 bits of the HMAC of PREFIX ID).
 */
#ifndef DV_TOKEN_H
#define DV_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_KEY_MIN	16
#define TOKEN_KEY_MAX	64
#define TOKEN_MAX	64	/* longest token text, with its NUL */
#define TOKEN_PREFIX_MAX	20	/* longest prefix, in bytes */

struct token_key {
	unsigned char k[TOKEN_KEY_MAX];
	size_t len;
};

/**
 * token_key_load - read the key from @path (the whole file, at least
 * TOKEN_KEY_MIN bytes, not readable by others), a regular file opened
 * with O_NOFOLLOW: a symbolic link there is refused. With @create and no
 * file, generate 32 random bytes and make the file first, mode 0600:
 * written and synced under a temporary name in the same directory,
 * linked into place (a key made meanwhile wins) and the directory
 * synced, so that a crash never leaves a partial key.
 * @return 0, or DV_EINVAL / an errno with the reason in *error_r.
 */
int token_key_load(const char *path, bool create, struct token_key *key,
    const char **error_r);

/**
 * token_make - the token for message @id.
 * @param[out] out  at least TOKEN_MAX bytes.
 * @return 0, or DV_EINVAL for a prefix longer than TOKEN_PREFIX_MAX.
 */
int token_make(const struct token_key *key, const char *prefix, uint64_t id,
    char *out, size_t outsz);

/**
 * token_find - the last valid token in @subject (decoded; NULL is no
 * subject). Tokens whose tag does not match (forged or altered) are
 * passed over, so one appended after a valid token does not hide it.
 * @param[out] id_r      the message the last valid token names.
 * @param[out] forged_r  if not NULL: whether @subject holds at least one
 *                       token whose tag does not match, valid ones or not.
 * @return 0 for a valid token; DV_EINVAL if there is none but a forged
 *         one; DV_ENOTFOUND if there is no token at all, or @prefix is
 *         empty or longer than TOKEN_PREFIX_MAX (no token has it).
 */
int token_find(const struct token_key *key, const char *prefix,
    const char *subject, uint64_t *id_r, bool *forged_r);

#endif

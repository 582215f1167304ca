/*
 * rules.h - folder-tracking rules: per mailbox, ordered, first match wins.
 *
 * Dataverse tracks mail that a user files into a tracked folder, into
 * that folder and optionally "regarding" a record. dvmilter has no
 * folders to watch, so a mailbox's rules say where mail would be filed:
 * a rule matches on the subaddress the mail was sent to (support+acme@),
 * the sender, an envelope recipient, a header or the subject, and either
 * tracks the message into a folder (regarding a record, if given) or
 * keeps it from being tracked. A rule's conditions must all hold; the
 * first matching rule decides. Without a matching rule the mailbox's
 * tracking filter decides.
 *
 * The rules of one mailbox are one record in the store's "rule" table,
 * keyed by the normalised mailbox address: versioned JSON, small and
 * read only at end of message for tracked mailboxes.
 */
#ifndef DV_RULES_H
#define DV_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define RULES_MAX		100	/* per mailbox */
#define RULE_TEXT_MAX		255	/* any one pattern or name */

enum rule_action {
	RULE_TRACK = 0,		/* track into folder, maybe regarding */
	RULE_SKIP = 1		/* do not track */
};

struct rule {
	/* Conditions; NULL means "any". */
	char *subaddress;	/* the detail, compared without case */
	char *sender;		/* glob on the address; without '@', on the
				   domain ("acme.com", "*.acme.com") */
	char *recipient;	/* glob on any envelope recipient */
	char *header_name;	/* with header_value: a glob on the */
	char *header_value;	/* decoded value of that header */
	char *subject;		/* text in the decoded subject, any case */
	/* Action. */
	int action;		/* enum rule_action */
	char *folder;		/* RULE_TRACK: the folder, never NULL */
	char *regarding_type;	/* or NULL, with regarding_id */
	char *regarding_id;
};

struct rule_list {
	struct rule *v;
	size_t n;
};

/* What a rule is matched against, for one mailbox. */
struct rule_input {
	const char *subaddress;		/* of the recipient, or NULL */
	const char *sender;		/* envelope sender, normalised */
	const char *from;		/* From: address, normalised, or NULL */
	const char *const *rcpts;	/* envelope recipients */
	size_t nrcpts;
	const char *subject;		/* decoded, or NULL */
	/* The decoded value of the first header @name, or NULL. */
	const char *(*header)(void *arg, const char *name);
	void *header_arg;
};

/**
 * rule_check - validate one rule (lengths, at least one condition, a
 * folder for RULE_TRACK, regarding as a pair).
 * @return 0, or DV_EINVAL with *error_r saying why.
 */
int rule_check(const struct rule *r, const char **error_r);

/**
 * rules_match - the index of the first rule of @l that matches @in,
 * or -1.
 */
int rules_match(const struct rule_list *l, const struct rule_input *in);

/** rule_describe - the conditions as one line: "sender=*@acme.com ...". */
void rule_describe(const struct rule *r, char *out, size_t outsz);

/**
 * rules_get - the rules of @mailbox (normalised); an empty list if it
 * has none.
 * @return 0, DV_ECORRUPT or DV_ESTORE.
 */
int rules_get(struct store_txn *t, const char *mailbox, struct rule_list *l,
    const char **error_r);

/**
 * rules_decode - parse one mailbox's record (@n bytes at @p, the form
 * rules_put() writes) into @l, every rule checked with rule_check();
 * what rules_get() does with what it reads. Free @l with rules_free().
 * @param[in]  mailbox  named in the error message.
 * @param[out] l        the rules; an empty list on failure.
 * @return 0, or DV_ECORRUPT with *error_r naming @mailbox.
 */
int rules_decode(const char *mailbox, const void *p, size_t n,
    struct rule_list *l, const char **error_r);

/**
 * rules_put - replace the rules of @mailbox; an empty list deletes the
 * record. Each rule must pass rule_check().
 * @return 0, DV_EINVAL, DV_EFULL or DV_ESTORE.
 */
int rules_put(struct store_txn *t, const char *mailbox,
    const struct rule_list *l, const char **error_r);

/**
 * rules_foreach - call @fn for every mailbox that has rules, in address
 * order; a non-zero return stops the walk and is returned.
 */
int rules_foreach(struct store_txn *t,
    int (*fn)(void *arg, const char *mailbox, const struct rule_list *l),
    void *arg, const char **error_r);

/** rule_free, rules_free - release the strings (and the array). */
void rule_free(struct rule *r);
void rules_free(struct rule_list *l);

#endif

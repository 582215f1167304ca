/*
 * mbox.h - mailbox and email server profile records, their option values
 * and their versioned binary encoding.
 *
 * The enums carry Dataverse's own option values where Dataverse has one
 * (see shared/reference/dataverse.md), so a sync can copy them across.
 * The one trap is actdeliverymethod, whose numbering differs from the
 * other two methods; mbox_method_to_dataverse() hides it.
 */
#ifndef DV_MBOX_H
#define DV_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "caps.h"

enum mbox_type {
	MBOX_USER = 0,		/* regarding a systemuser */
	MBOX_QUEUE = 1		/* regarding a queue (support@, sales@) */
};

/* incomingemaildeliverymethod / outgoingemaildeliverymethod values. */
enum mbox_method {
	MBOX_METHOD_NONE = 0,
	MBOX_METHOD_OUTLOOK = 1,
	MBOX_METHOD_SSS = 2		/* server-side synchronisation */
};

/* emailrouteraccessapproval values. */
enum mbox_approval {
	MBOX_APPROVAL_EMPTY = 0,
	MBOX_APPROVAL_APPROVED = 1,
	MBOX_APPROVAL_PENDING = 2,
	MBOX_APPROVAL_REJECTED = 3
};

/* incomingemailstatus / outgoingemailstatus / actstatus values. */
enum mbox_test {
	MBOX_TEST_NOT_RUN = 0,
	MBOX_TEST_SUCCESS = 1,
	MBOX_TEST_FAILURE = 2
};

enum mbox_dir {
	MBOX_DIR_INCOMING = 0,
	MBOX_DIR_OUTGOING = 1,
	MBOX_DIR_ACT = 2,
	MBOX_DIR_COUNT = 3
};

/*
 * Which incoming mail is tracked for a mailbox: Dataverse's
 * incomingemailfilteringmethod, stored as its value + 1 so that 0 means
 * "not set": queues then track all mail, users only responses.
 */
enum mbox_filter {
	MBOX_FILTER_DEFAULT = 0,
	MBOX_FILTER_ALL = 1,		/* 0 All email messages */
	MBOX_FILTER_RESPONSES = 2,	/* 1 Responses to tracked email */
	MBOX_FILTER_KNOWN = 3,		/* 2 From known senders */
	MBOX_FILTER_NONE = 5		/* 4 None */
};

struct mbox_testresult {
	uint8_t status;		/* enum mbox_test */
	int64_t when;		/* Unix time of the test, 0 if never */
	char message[DV_STATUSMSG_MAX + 1];
};

/*
 * The fields the SMTP path needs, decoded without copying any string.
 * This is the hot-path view of a record.
 */
struct mbox_policy {
	uint8_t type;		/* enum mbox_type */
	uint8_t method[MBOX_DIR_COUNT];	/* enum mbox_method */
	uint8_t approval;	/* enum mbox_approval */
	bool enabled;
	uint8_t filter;		/* enum mbox_filter, as stored */
};

struct mbox {
	char address[DV_ADDR_MAX + 1];	/* normalised; the store key */
	struct mbox_policy pol;
	char owner[DV_OWNER_MAX + 1];
	char profile[DV_NAME_MAX + 1];	/* "" when none */
	struct mbox_testresult test[MBOX_DIR_COUNT];
};

/* emailserverprofile.servertype values. */
enum profile_server {
	PROFILE_EXCHANGE = 0,
	PROFILE_OTHER = 1,		/* POP3/SMTP */
	PROFILE_EXCHANGE_HYBRID = 2,
	PROFILE_EXCHANGE_ONLINE_HYBRID = 3,
	PROFILE_IMAP_SMTP = 4
};

enum profile_tls {
	PROFILE_TLS_NONE = 0,
	PROFILE_TLS_STARTTLS = 1,
	PROFILE_TLS_IMPLICIT = 2
};

/* emailserverprofile.authenticationprotocol values. */
enum profile_auth {
	PROFILE_AUTH_AUTO = 0,
	PROFILE_AUTH_NEGOTIATE = 1,
	PROFILE_AUTH_NTLM = 2,
	PROFILE_AUTH_BASIC = 3,
	PROFILE_AUTH_OAUTH = 4,
	PROFILE_AUTH_NONE = 100		/* dvmilter only: no authentication */
};

struct profile {
	char name[DV_NAME_MAX + 1];	/* the store key */
	uint8_t server_type;		/* enum profile_server */
	uint8_t tls;			/* enum profile_tls */
	uint8_t auth;			/* enum profile_auth */
	char smtp_url[DV_URL_MAX + 1];	/* outgoing: smtp://host:587 */
	char username[DV_OWNER_MAX + 1];
	char secret_file[DV_PATH_MAX + 1];	/* secrets stay out of the store */
};

/** mbox_init - a new mailbox as "mailbox add" makes it. */
void mbox_init(struct mbox *mb, const char *address, enum mbox_type type);

/** profile_init - a new profile with defaults. */
void profile_init(struct profile *p, const char *name);

/**
 * mbox_encode - serialise a mailbox record.
 * @param[out] buf   at least DV_RECORD_MAX bytes.
 * @param[out] len_r encoded length.
 * @return 0, or DV_ETOOBIG.
 */
int mbox_encode(const struct mbox *mb, unsigned char *buf, size_t bufsz,
    size_t *len_r);

/**
 * mbox_decode_policy - decode only the fixed part of a record. This is
 * what the SMTP path calls; it reads nothing past the fixed header.
 * @return 0, or DV_ECORRUPT.
 */
int mbox_decode_policy(const void *data, size_t len, struct mbox_policy *pol);

/**
 * mbox_decode - decode a whole record. Unknown trailing fields written by
 * a newer version are skipped. @address is copied in, not decoded.
 * @return 0, or DV_ECORRUPT.
 */
int mbox_decode(const void *data, size_t len, const char *address,
    struct mbox *mb);

/** profile_encode / profile_decode - as for mailboxes. */
int profile_encode(const struct profile *p, unsigned char *buf, size_t bufsz,
    size_t *len_r);
int profile_decode(const void *data, size_t len, const char *name,
    struct profile *p);

/*
 * Names as the CLI, the CSV import and the JSON output spell them.
 * *_parse() returns the value or -1; *_name() returns a static string.
 */
int mbox_type_parse(const char *s);
const char *mbox_type_name(int v);
int mbox_method_parse(const char *s);
const char *mbox_method_name(int v);
int mbox_approval_parse(const char *s);
const char *mbox_approval_name(int v);
int mbox_filter_parse(const char *s);
const char *mbox_filter_name(int v);
/** mbox_filter_effective - the filter in force (the type's default if unset). */
int mbox_filter_effective(const struct mbox_policy *p);
int mbox_test_parse(const char *s);
const char *mbox_test_name(int v);
int profile_server_parse(const char *s);
const char *profile_server_name(int v);
int profile_tls_parse(const char *s);
const char *profile_tls_name(int v);
int profile_auth_parse(const char *s);
const char *profile_auth_name(int v);

/**
 * mbox_method_to_dataverse - the Dataverse option value of a method for
 * one direction (actdeliverymethod is numbered 0 Outlook, 1 SSS, 2 None).
 */
int mbox_method_to_dataverse(enum mbox_dir dir, enum mbox_method m);

/** mbox_dir_name - "incoming", "outgoing" or "act". */
const char *mbox_dir_name(int dir);

/** mbox_is_approved - true only for MBOX_APPROVAL_APPROVED. */
static inline bool
mbox_is_approved(const struct mbox_policy *p)
{
	return p->approval == MBOX_APPROVAL_APPROVED;
}

#endif

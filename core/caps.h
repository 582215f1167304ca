/*
 * caps.h - the size caps used across dvmilter, named in one place.
 */
#ifndef DV_CAPS_H
#define DV_CAPS_H

#define DV_ADDR_MAX		320	/* normalised address, bytes (RFC 5321: 64@255, plus A-label growth) */
#define DV_ADDR_INPUT_MAX	512	/* raw address as received */
#define DV_LOCAL_MAX		64	/* local part, RFC 5321 4.5.3.1.1 */
#define DV_DOMAIN_MAX		255	/* domain, RFC 5321 4.5.3.1.2 */
#define DV_OWNER_MAX		160	/* owner display name */
#define DV_NAME_MAX		100	/* profile name (Dataverse: 100) */
#define DV_URL_MAX		2084	/* profile server URL (Dataverse serverlocation) */
#define DV_PATH_MAX		1024	/* file paths in records */
#define DV_STATUSMSG_MAX	1024	/* test result message */
#define DV_REPLY_TEXT_MAX	512	/* SMTP reply text after substitution */
#define DV_CONF_LINE_MAX	4096	/* one configuration line */
#define DV_CSV_FIELD_MAX	4096	/* one CSV field */
#define DV_RECORD_MAX		8192	/* one encoded mailbox/profile record */

#endif

/*
 * addr.h - e-mail address normalisation: the key a mailbox is stored under.
 *
 * One normal form is used by the store, the CLI and the milter, so that
 * "<Support+Acme@Example.COM>" at RCPT time finds the mailbox added as
 * "support@example.com", and a domain in U-label form ("bücher.example")
 * finds the one added in A-label form ("xn--bcher-kva.example").
 */
#ifndef DV_ADDR_H
#define DV_ADDR_H

#include <stddef.h>

/**
 * addr_normalize - normalise one address.
 *
 * Accepts the forms an MTA passes: optional angle brackets, an obsolete
 * source route ("@a,@b:user@dom"), surrounding white space. Then:
 *  - the domain is lower-cased and, if it has non-ASCII labels, converted
 *    to A-labels (IDNA2008, UTS #46 non-transitional);
 *  - the local part is lower-cased (ASCII letters only), a needlessly
 *    quoted local part is unquoted;
 *  - a subaddress is removed: the local part is cut at the first of the
 *    characters in @seps, unless that leaves it empty.
 *
 * @param[in]  in       the raw address, NUL-terminated.
 * @param[in]  seps     subaddress separator characters; "" or NULL for none.
 * @param[out] out      receives the normal form, NUL-terminated.
 * @param[in]  outsz    size of @out; DV_ADDR_MAX + 1 is always enough.
 * @param[out] error_r  on failure, why (see status.h for its lifetime).
 * @return 0; DV_EEMPTY for the null address "<>"; DV_ETOOBIG for an
 *         address longer than RFC 5321 allows; DV_EINVAL if malformed.
 */
int addr_normalize(const char *in, const char *seps, char *out, size_t outsz,
    const char **error_r);

/**
 * addr_subaddress - the detail of a subaddress, if any.
 * @param[in]  in    the raw address.
 * @param[in]  seps  subaddress separator characters.
 * @param[out] out   receives the lower-cased detail ("acme" for
 *                   "support+acme@x"), or "" when there is none.
 * @return 0, or DV_ETOOBIG if @out is too small.
 */
int addr_subaddress(const char *in, const char *seps, char *out, size_t outsz);

/**
 * addr_mailbox - a mailbox address as an administrator gives it (on the
 * command line, to a plugin's command): normalised into @out like
 * addr_normalize() with @seps, and refused if it is a subaddress, which
 * would otherwise be stored as its base mailbox.
 * @param[out] error_r  "invalid address "x": why", or "x is a
 *                      subaddress of y (SubaddressSeparator "+"); add
 *                      the base mailbox".
 * @return 0 or DV_EINVAL.
 */
int addr_mailbox(const char *in, const char *seps, char *out, size_t outsz,
    const char **error_r);

/**
 * addr_domain - the domain of a normalised address.
 * @return a pointer into @norm just past the last '@', or NULL.
 */
const char *addr_domain(const char *norm);

#endif

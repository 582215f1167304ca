/*
 * cidr.h - lists of IPv4/IPv6 networks, as InternalHosts uses them.
 */
#ifndef DV_CIDR_H
#define DV_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network address, host bits cleared */
	unsigned prefix;	/* prefix length */
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/**
 * cidr_list_parse - parse "127.0.0.1, 10.0.0.0/8 [::1] 2001:db8::/32".
 * Entries are separated by commas and/or white space; an address without
 * a prefix is a host route; IPv6 addresses may be bracketed.
 * @param[out] list     replaced on success; free with cidr_list_free().
 * @param[out] error_r  names the bad entry.
 * @return 0, DV_EINVAL or ENOMEM.
 */
int cidr_list_parse(const char *text, struct cidr_list *list,
    const char **error_r);

/** cidr_list_free - release a list; it is left empty. */
void cidr_list_free(struct cidr_list *list);

/**
 * cidr_list_match - true if @sa (AF_INET or AF_INET6) is in the list.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 entries.
 */
bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa);

/** cidr_list_match_text - as cidr_list_match() for a textual address. */
bool cidr_list_match_text(const struct cidr_list *list, const char *addr);

#endif

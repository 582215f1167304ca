/*
 * cidr.c - network lists.
 *
 * Parsing is strict (inet_pton, decimal prefixes with range checks);
 * matching is a linear scan, which is right for the handful of networks
 * an InternalHosts line holds.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "status.h"

static void
mask_host_bits(struct cidr *c)
{
	unsigned bytes = c->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++) {
		unsigned bit = i * 8;

		if (bit >= c->prefix)
			c->addr[i] = 0;
		else if (c->prefix - bit < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->prefix - bit)));
	}
}

static int
cidr_parse_one(const char *tok, struct cidr *c, const char **error_r)
{
	char buf[64];
	char *slash, *host = buf, *end;
	size_t len = strlen(tok);
	long prefix;

	if (len >= sizeof(buf)) {
		*error_r = dv_error_set("network \"%.40s...\" is too long", tok);
		return DV_EINVAL;
	}
	memcpy(buf, tok, len + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (host[0] == '[') {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']') {
			*error_r = dv_error_set("bad network \"%s\"", tok);
			return DV_EINVAL;
		}
		host[hl - 1] = '\0';
		host++;
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		c->prefix = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		c->prefix = 128;
	} else {
		*error_r = dv_error_set("bad network \"%s\": not an IPv4 or "
		    "IPv6 address", tok);
		return DV_EINVAL;
	}
	if (slash != NULL) {
		errno = 0;
		prefix = strtol(slash, &end, 10);
		if (errno != 0 || end == slash || *end != '\0' || prefix < 0 ||
		    (unsigned long)prefix > c->prefix) {
			*error_r = dv_error_set("bad network \"%s\": prefix "
			    "must be 0..%u", tok, c->prefix);
			return DV_EINVAL;
		}
		c->prefix = (unsigned)prefix;
	}
	mask_host_bits(c);
	return 0;
}

int
cidr_list_parse(const char *text, struct cidr_list *list,
    const char **error_r)
{
	struct cidr_list nl = { NULL, 0 };
	const char *p = text;
	char tok[128];
	int rc;

	while (*p != '\0') {
		size_t n;
		struct cidr *v;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (n >= sizeof(tok)) {
			*error_r = dv_error_set("network \"%.40s...\" is too "
			    "long", p);
			cidr_list_free(&nl);
			return DV_EINVAL;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if ((v = realloc(nl.v, (nl.n + 1) * sizeof(*v))) == NULL) {
			cidr_list_free(&nl);
			*error_r = dv_error_set("out of memory");
			return ENOMEM;
		}
		nl.v = v;
		if ((rc = cidr_parse_one(tok, &nl.v[nl.n], error_r)) != 0) {
			cidr_list_free(&nl);
			return rc;
		}
		nl.n++;
	}
	cidr_list_free(list);
	*list = nl;
	return 0;
}

void
cidr_list_free(struct cidr_list *list)
{
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

static bool
prefix_eq(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return (a[full] & (uint8_t)(0xff << (8 - rest))) == net[full];
}

static bool
match_raw(const struct cidr_list *list, int family, const uint8_t *a)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].family == family &&
		    prefix_eq(a, list->v[i].addr, list->v[i].prefix))
			return true;
	return false;
}

bool
cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return match_raw(list, AF_INET,
		    (const uint8_t *)&s4->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    match_raw(list, AF_INET, a + 12))
			return true;
		return match_raw(list, AF_INET6, a);
	}
	return false;
}

bool
cidr_list_match_text(const struct cidr_list *list, const char *addr)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, addr, a) == 1)
		return match_raw(list, AF_INET, a);
	if (inet_pton(AF_INET6, addr, a) == 1) {
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(void *)a) &&
		    match_raw(list, AF_INET, a + 12))
			return true;
		return match_raw(list, AF_INET6, a);
	}
	return false;
}

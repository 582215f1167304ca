/*
 * hash.h - FNV-1a, 64 bits: the one non-cryptographic hash, for hash
 * tables and change detection, never for anything an attacker chooses
 * to collide with (tokens and dedup digests use SHA-256).
 */
#ifndef DV_HASH_H
#define DV_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
dv_fnv1a(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 14695981039346656037ULL;

	while (n-- > 0)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * hash.c - XXH3-128 digests of file content.
 *
 * A thin layer over libxxhash's streaming API (XXH3_128bits_reset/_update/
 * _digest): the ring delivers a file in chunks, in order, and each chunk is
 * fed as it arrives, so no file is ever held in memory whole.  The state is
 * allocated by XXH3_createState(), which knows its size and the 64-byte
 * alignment it needs; we never depend on its layout (XXH_STATIC_LINKING_ONLY
 * would tie us to one libxxhash version).
 *
 * Digests are kept in XXH128's canonical form (big-endian, high 64 bits
 * first), which is what xxh128sum prints, so hash_hex() of a file's digest
 * is byte-for-byte the first field of `xxh128sum FILE` and keys built from
 * it sort the same way everywhere.
 */
#include "hash.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct hash_state {
	XXH3_state_t *xs;
};

static void to_hash128(XXH128_hash_t h, struct hash128 *ret)
{
	XXH128_canonical_t c;

	_Static_assert(sizeof(c.digest) == sizeof(ret->b), "XXH128 canonical form is 16 bytes");
	XXH128_canonicalFromHash(&c, h);
	memcpy(ret->b, c.digest, sizeof(ret->b));
}

int hash_state_new(struct hash_state **ret)
{
	struct hash_state *st;

	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->xs = XXH3_createState();
	if (!st->xs) {
		free(st);
		return -ENOMEM;
	}
	hash_reset(st);
	*ret = st;
	return 0;
}

void hash_state_free(struct hash_state *st)
{
	if (!st)
		return;
	XXH3_freeState(st->xs);
	free(st);
}

void hash_reset(struct hash_state *st)
{
	/* Fails only for a NULL state, which hash_state_new() never returns. */
	(void)XXH3_128bits_reset(st->xs);
}

void hash_update(struct hash_state *st, const void *buf, size_t len)
{
	/* XXH3 accepts (NULL, 0); keep callers free to pass an empty chunk. */
	if (len)
		(void)XXH3_128bits_update(st->xs, buf, len);
}

void hash_digest(const struct hash_state *st, struct hash128 *ret)
{
	to_hash128(XXH3_128bits_digest(st->xs), ret);
}

void hash_buffer(const void *buf, size_t len, struct hash128 *ret)
{
	to_hash128(XXH3_128bits(len ? buf : "", len), ret);
}

void hash_file_begin(struct hash_file *hf, uint64_t size)
{
	hash_reset(hf->full);
	hf->size = size;
	hf->part_len = size < HASH_PARTIAL ? (size_t)size : HASH_PARTIAL;
	hf->tail_start = size - hf->part_len;
}

/* Copy the part of [off, off + len) that falls in [start, start + cap) to @dst. */
static void keep_range(uint8_t *dst, uint64_t start, size_t cap, const uint8_t *buf, size_t len,
		       uint64_t off)
{
	uint64_t lo = off > start ? off : start;
	uint64_t hi = off + len < start + cap ? off + len : start + cap;

	if (lo < hi)
		memcpy(dst + (lo - start), buf + (lo - off), hi - lo);
}

void hash_file_update(struct hash_file *hf, const void *buf, size_t len, uint64_t off)
{
	hash_update(hf->full, buf, len);
	keep_range(hf->head, 0, hf->part_len, buf, len, off);
	keep_range(hf->tail, hf->tail_start, hf->part_len, buf, len, off);
}

void hash_file_end(struct hash_file *hf, struct hash128 *ret_head, struct hash128 *ret_tail,
		   struct hash128 *ret_full)
{
	hash_buffer(hf->head, hf->part_len, ret_head);
	hash_buffer(hf->tail, hf->part_len, ret_tail);
	hash_digest(hf->full, ret_full);
}

void hash_hex(const struct hash128 *h, char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof(h->b); i++) {
		out[2 * i] = digits[h->b[i] >> 4];
		out[2 * i + 1] = digits[h->b[i] & 0xf];
	}
	out[32] = '\0';
}

int hash_parse_hex(const char *s, struct hash128 *ret)
{
	struct hash128 h;

	for (size_t i = 0; i < sizeof(h.b); i++) {
		int hi, lo;

		/* A NUL ends the loop here too: hex_digit('\0') < 0, so no overread. */
		hi = hex_digit(s[2 * i]);
		if (hi < 0)
			return -EINVAL;
		lo = hex_digit(s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		h.b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (s[32] != '\0')
		return -EINVAL;
	*ret = h;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * hash.h - XXH3-128 of file content: streamed whole-file hashes and the
 * cheap partial hashes (first and last 4 KiB) that prune duplicate
 * candidates before any full read.
 */
#ifndef FSINDEX_HASH_H
#define FSINDEX_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the partial hashes: the first and the last HASH_PARTIAL bytes. */
#define HASH_PARTIAL 4096

/** A 128-bit digest, stored big-endian (high half first) as xxh128sum prints it. */
struct hash128 {
	uint8_t b[16];
};

struct hash_state;

/** Allocate a streaming state.  *ret is the caller's (hash_state_free()). */
int hash_state_new(struct hash_state **ret);

/** Free @st.  Accepts NULL. */
void hash_state_free(struct hash_state *st);

/** Start a new digest. */
void hash_reset(struct hash_state *st);

/** Feed @len bytes. */
void hash_update(struct hash_state *st, const void *buf, size_t len);

/** The digest of everything fed since the last reset. */
void hash_digest(const struct hash_state *st, struct hash128 *ret);

/** One-shot digest of @len bytes. */
void hash_buffer(const void *buf, size_t len, struct hash128 *ret);

/**
 * The three digests of one file, from its content streamed in order: the
 * first HASH_PARTIAL bytes, the last HASH_PARTIAL bytes (both the whole file
 * when it is smaller) and everything.  Embed it; the caller owns @full.
 */
struct hash_file {
	struct hash_state *full;	/* from hash_state_new() */
	uint64_t size;
	uint64_t tail_start;
	size_t part_len;		/* bytes in each of head and tail */
	uint8_t head[HASH_PARTIAL];
	uint8_t tail[HASH_PARTIAL];
};

/** Start hashing a file of @size bytes (hf->full must be set). */
void hash_file_begin(struct hash_file *hf, uint64_t size);

/** Feed @len bytes found at offset @off; offsets must follow each other from 0. */
void hash_file_update(struct hash_file *hf, const void *buf, size_t len, uint64_t off);

/** The three digests of everything fed. */
void hash_file_end(struct hash_file *hf, struct hash128 *ret_head, struct hash128 *ret_tail,
		   struct hash128 *ret_full);

/** Write the 32 lowercase hex digits of @h and a NUL into @out (33 bytes). */
void hash_hex(const struct hash128 *h, char out[33]);

/** Parse 32 hex digits.  Returns 0 or -EINVAL. */
int hash_parse_hex(const char *s, struct hash128 *ret);

#endif /* FSINDEX_HASH_H */

/* SPDX-License-Identifier: MIT */
/*
 * node.h - one indexed entry, in memory and as stored in the `node` database.
 *
 * The encoded form is big-endian and versioned with the schema (store.h):
 *
 *   off  size  field
 *     0     8  parent id (0 for "/")
 *     8     8  dev (makedev(major, minor))
 *    16     8  ino
 *    24     4  mode (type and permission bits, as st_mode)
 *    28     4  nlink
 *    32     4  uid
 *    36     4  gid
 *    40     8  size
 *    48     8  mtime, seconds since the epoch (signed)
 *    56     4  mtime, nanoseconds (0..999,999,999)
 *    60     8  ctime, seconds since the epoch (signed)
 *    68     4  ctime, nanoseconds
 *    72     1  flags (NODE_F_*)
 *    73     1  hash state (NODE_HASH_*)
 *    74     2  reserved, zero
 *    76    16  XXH3-128 of the first 4 KiB
 *    92    16  XXH3-128 of the last 4 KiB
 *   108    16  XXH3-128 of the whole content
 *   124     n  name bytes (1..255; empty only for "/")
 *
 * Times keep seconds and nanoseconds apart: a single count of nanoseconds
 * in 64 bits ends in 2262, and files dated later exist.
 *
 * Hash fields are reserved from schema 1 on so hashing needs no migration.
 */
#ifndef FSINDEX_NODE_H
#define FSINDEX_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NODE_HDR_SIZE 124
#define NODE_NAME_MAX 255
#define NODE_REC_MAX (NODE_HDR_SIZE + NODE_NAME_MAX)

/** The id of "/", the top of every root's chain of directory nodes. */
#define NODE_ID_TOP 1

enum node_flags {
	/* An ancestor of a root, kept only so paths resolve: not an entry. */
	NODE_F_CHAIN = 1 << 0,
	/* Modified within the timestamp granularity of the scan's start. */
	NODE_F_RACY = 1 << 1,
	/*
	 * A directory on a filesystem that keeps directory mtimes, whose mtime
	 * and ctime were over a second older than the scan that wrote this,
	 * and whose listing then met no error: while its stat stays the same,
	 * its stored children are its entries and it need not be listed.
	 */
	NODE_F_SETTLED = 1 << 2,
};

/* The flags a `child` entry repeats (NODE_F_SETTLED is the node's alone). */
#define NODE_F_CHILD_MASK (NODE_F_CHAIN | NODE_F_RACY)

enum node_hash_state {
	NODE_HASH_NONE = 0,	/* no hash fields are valid */
	NODE_HASH_HEAD = 1,	/* head is valid */
	NODE_HASH_PARTIAL = 2,	/* head and tail are valid */
	NODE_HASH_FULL = 3,	/* head, tail and full are valid */
};

struct node {
	uint64_t id;
	uint64_t parent;
	uint64_t dev;
	uint64_t ino;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint8_t flags;
	uint8_t hash_state;
	uint8_t head[16];
	uint8_t tail[16];
	uint8_t full[16];
	uint16_t name_len;
	const char *name;	/* borrowed; not NUL-terminated */
};

/** find(1)'s %y letter for @mode: f d l p s c b, or '?' for anything else. */
char node_type_char(uint32_t mode);

/** Do the stat fields that a rescan compares (everything but names, ids, hashes) agree? */
bool node_stat_equal(const struct node *a, const struct node *b);

/**
 * Encode @n into @buf (at least NODE_HDR_SIZE + n->name_len bytes).
 * Returns the encoded length, or -EINVAL if the name is too long.
 */
int node_encode(const struct node *n, void *buf, size_t bufsz);

/**
 * Decode the record @buf of @len bytes stored under @id into *ret.  The name
 * points into @buf (borrowed).  Returns 0, or -EBADMSG if the record is
 * malformed (short, name too long, nonzero reserved bytes).
 */
int node_decode(const void *buf, size_t len, uint64_t id, struct node *ret);

#endif /* FSINDEX_NODE_H */

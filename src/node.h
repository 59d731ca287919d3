/* SPDX-License-Identifier: MIT */
/*
 * node.h - one indexed entry, in memory and as stored in the `node` database.
 *
 * Two encodings, chosen by the index's features (store.h).  The compact
 * record (STORE_FEAT_INCOMPAT_COMPACT, what this version writes) is a flags
 * byte, then variable-length integers (LEB128: 7 bits a byte, low bits
 * first, the high bit saying another byte follows; the shortest form only),
 * some of them zigzag-encoded (0, -1, 1, -2 as 0, 1, 2, 3) differences:
 *
 *   size  field
 *      1  flags (NODE_F_*, bits 0-4) | hash state << 5 (bits 5-6); bit 7 zero
 *      v  zigzag(id - parent)       a child is usually near its parent
 *      v  dev (makedev(major, minor))
 *      v  ino
 *      v  mode (type and permission bits, as st_mode)
 *      v  nlink, uid, gid           u32 each
 *      v  size
 *      v  zigzag(blocks - 8 * ceil(size / 4096))   0 for most files
 *      v  zigzag(mtime seconds since the epoch)
 *      v  mtime nanoseconds (0..999,999,999)
 *      v  zigzag(ctime seconds - mtime seconds)  usually small
 *      v  zigzag(ctime nanoseconds - mtime nanoseconds)  0 when the times agree
 *     16  XXH3-128 of the first 4 KiB     hash state HEAD and up only
 *     16  XXH3-128 of the last 4 KiB      PARTIAL and up only
 *     16  XXH3-128 of the whole content   FULL only
 *      n  name bytes, the rest of the record (1..255; empty only for "/")
 *
 * Differences wrap modulo 2^64, so every value round-trips.  A typical file
 * takes ~35 bytes plus its name, against 124 plus the name in the fixed
 * record of the first indexes (schema 1 without features), which is still
 * read (node_decode_v1()), big-endian at fixed offsets:
 *
 *   off  size  field
 *     0     8  parent id (0 for "/")
 *     8     8  dev (makedev(major, minor))
 *    16     8  ino
 *    24     4  mode
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
 *   124     n  name bytes
 * It has no block count: a record read from it has blocks
 * NODE_BLOCKS_UNKNOWN until a rescan stats the entry again.
 *
 * Times keep seconds and nanoseconds apart: a single count of nanoseconds
 * in 64 bits ends in 2262, and files dated later exist.
 *
 */
#ifndef FSINDEX_NODE_H
#define FSINDEX_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NODE_NAME_MAX 255
/* The fixed record's header (node_decode_v1()). */
#define NODE_HDR_SIZE 124
/* The longest compact record: flags, 13 varints of up to 10 bytes, hashes, name. */
#define NODE_COMPACT_MAX (1 + 13 * 10 + 48 + NODE_NAME_MAX)
/* Room for a record of either encoding. */
#define NODE_REC_MAX (NODE_COMPACT_MAX > NODE_HDR_SIZE + NODE_NAME_MAX ? NODE_COMPACT_MAX : \
		      NODE_HDR_SIZE + NODE_NAME_MAX)
/* The flags the compact record has room for (bits 0-4 of its first byte). */
#define NODE_F_ALL 0x1fu
/* st_blocks of a record from an index that did not keep it. */
#define NODE_BLOCKS_UNKNOWN UINT64_MAX

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
	uint64_t blocks;	/* st_blocks: 512-byte units allocated, or NODE_BLOCKS_UNKNOWN */
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

/**
 * Do the stat fields that a rescan compares (everything but names, ids,
 * hashes and blocks) agree?  Blocks are left out: an index that did not keep
 * them must not make every file look rewritten (and be hashed again).
 */
bool node_stat_equal(const struct node *a, const struct node *b);

/**
 * Encode @n as a compact record into @buf of @bufsz bytes (NODE_COMPACT_MAX
 * always suffice).  Returns the encoded length, or -EINVAL if the name is
 * invalid, a flag or the hash state is out of range, or @buf is too small.
 */
int node_encode(const struct node *n, void *buf, size_t bufsz);

/**
 * Decode the compact record @buf of @len bytes stored under @id into *ret.
 * The name points into @buf (borrowed).  Returns 0, or -EBADMSG if the
 * record is malformed: short, trailing bytes a name cannot hold, a varint
 * that is overlong or not in its shortest form, a value out of its field's
 * range, an invalid name.  What decodes re-encodes to the same bytes.
 */
int node_decode(const void *buf, size_t len, uint64_t id, struct node *ret);

/* The longest compact `child` value: a byte of type and flags, a varint id. */
#define NODE_CHILD_VAL_MAX 11

/**
 * Encode the compact `child` value of an entry: its type (node_type_char())
 * and flags (NODE_F_CHILD_MASK of them) in one byte, type index << 2 |
 * flags, then its id as a varint.  @buf has NODE_CHILD_VAL_MAX bytes.
 * Returns the length.
 */
size_t node_child_encode(uint64_t id, char type, uint8_t flags, void *buf);

/**
 * Decode a compact `child` value of @len bytes into *ret_id, *ret_type and
 * *ret_flags (written only on success).  Returns 0, or -EBADMSG for a
 * value node_child_encode() would not write.
 */
int node_child_decode(const void *buf, size_t len, uint64_t *ret_id, char *ret_type,
		      uint8_t *ret_flags);

/**
 * Encode @n as a fixed record of the first indexes (what older versions
 * wrote; for tests and tools).  Returns the length or -EINVAL.
 */
int node_encode_v1(const struct node *n, void *buf, size_t bufsz);

/**
 * Decode a fixed record (layout above); as node_decode(), with blocks set
 * to NODE_BLOCKS_UNKNOWN.  -EBADMSG for a short or oversized record, a bad
 * name, an unknown hash state or nonzero reserved bytes.
 */
int node_decode_v1(const void *buf, size_t len, uint64_t id, struct node *ret);

#endif /* FSINDEX_NODE_H */

/* SPDX-License-Identifier: MIT */
/*
 * node.c - the codecs for records of the node database (layouts in node.h):
 * the compact record this version writes, and the fixed one of the first
 * indexes, still read until an upgrade rewrites them.
 *
 * Neither depends on the host, and a record read back is checked field by
 * field rather than trusted: a short or oversized record, a name the walker
 * could never have produced (empty, or holding '/' or NUL), an unknown hash
 * state, a varint running past the record or longer than its shortest form,
 * a value too large for its field all make decoding fail with -EBADMSG
 * instead of handing garbage to a query.  The compact decoder accepts only
 * what node_encode() produces, byte for byte (fuzz-node checks that), and
 * node_encode() refuses what would be rejected, so the writer never stores
 * a record that would later be.
 *
 * Why varints and differences: most fields of most entries are small
 * numbers stored in 8 bytes (nlink 1, uid 1000, a size of a few KiB, a
 * ctime equal to the mtime), and the hash fields of an unhashed file are
 * 48 zero bytes.  Dropping them takes a typical record from ~137 bytes to
 * ~48, so three times as many fit a page.
 */
#include "node.h"

#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Offsets of the fields in the encoded record; see the table in node.h. */
enum {
	OFF_PARENT = 0,
	OFF_DEV = 8,
	OFF_INO = 16,
	OFF_MODE = 24,
	OFF_NLINK = 28,
	OFF_UID = 32,
	OFF_GID = 36,
	OFF_SIZE = 40,
	OFF_MTIME = 48,
	OFF_MTIME_NSEC = 56,
	OFF_CTIME = 60,
	OFF_CTIME_NSEC = 68,
	OFF_FLAGS = 72,
	OFF_HASH_STATE = 73,
	OFF_RESERVED = 74,
	OFF_HEAD = 76,
	OFF_TAIL = 92,
	OFF_FULL = 108,
	OFF_NAME = NODE_HDR_SIZE,
};

_Static_assert(OFF_FULL + 16 == NODE_HDR_SIZE, "node.h layout table and offsets disagree");

char node_type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return 'f';
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'l';
	case S_IFIFO:
		return 'p';
	case S_IFSOCK:
		return 's';
	case S_IFCHR:
		return 'c';
	case S_IFBLK:
		return 'b';
	default:
		return '?';
	}
}

bool node_stat_equal(const struct node *a, const struct node *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->mode == b->mode && a->nlink == b->nlink &&
	       a->uid == b->uid && a->gid == b->gid && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/*
 * A name as the walker produces it: 1..255 bytes without '/' or NUL; only the
 * top node "/" (parent 0) has an empty name.
 */
static bool name_valid(uint64_t parent, const char *name, size_t len)
{
	if (len > NODE_NAME_MAX)
		return false;
	if (len == 0)
		return parent == 0;
	return !memchr(name, '/', len) && !memchr(name, '\0', len);
}

int node_encode_v1(const struct node *n, void *buf, size_t bufsz)
{
	unsigned char *p = buf;
	size_t len = NODE_HDR_SIZE + (size_t)n->name_len;

	if (!name_valid(n->parent, n->name, n->name_len) || n->hash_state > NODE_HASH_FULL)
		return -EINVAL;
	if (bufsz < len)
		return -EINVAL;

	put_be64(p + OFF_PARENT, n->parent);
	put_be64(p + OFF_DEV, n->dev);
	put_be64(p + OFF_INO, n->ino);
	put_be32(p + OFF_MODE, n->mode);
	put_be32(p + OFF_NLINK, n->nlink);
	put_be32(p + OFF_UID, n->uid);
	put_be32(p + OFF_GID, n->gid);
	put_be64(p + OFF_SIZE, n->size);
	put_be64(p + OFF_MTIME, (uint64_t)n->mtime_sec);
	put_be32(p + OFF_MTIME_NSEC, n->mtime_nsec);
	put_be64(p + OFF_CTIME, (uint64_t)n->ctime_sec);
	put_be32(p + OFF_CTIME_NSEC, n->ctime_nsec);
	p[OFF_FLAGS] = n->flags;
	p[OFF_HASH_STATE] = n->hash_state;
	p[OFF_RESERVED] = 0;
	p[OFF_RESERVED + 1] = 0;
	memcpy(p + OFF_HEAD, n->head, 16);
	memcpy(p + OFF_TAIL, n->tail, 16);
	memcpy(p + OFF_FULL, n->full, 16);
	if (n->name_len)
		memcpy(p + OFF_NAME, n->name, n->name_len);
	return (int)len;
}

int node_decode_v1(const void *buf, size_t len, uint64_t id, struct node *ret)
{
	const unsigned char *p = buf;
	struct node n;

	if (len < NODE_HDR_SIZE || len > NODE_REC_MAX)
		return -EBADMSG;
	if (p[OFF_RESERVED] || p[OFF_RESERVED + 1] || p[OFF_HASH_STATE] > NODE_HASH_FULL)
		return -EBADMSG;

	n.id = id;
	n.parent = get_be64(p + OFF_PARENT);
	n.dev = get_be64(p + OFF_DEV);
	n.ino = get_be64(p + OFF_INO);
	n.mode = get_be32(p + OFF_MODE);
	n.nlink = get_be32(p + OFF_NLINK);
	n.uid = get_be32(p + OFF_UID);
	n.gid = get_be32(p + OFF_GID);
	n.size = get_be64(p + OFF_SIZE);
	n.blocks = NODE_BLOCKS_UNKNOWN;
	n.mtime_sec = (int64_t)get_be64(p + OFF_MTIME);
	n.mtime_nsec = get_be32(p + OFF_MTIME_NSEC);
	n.ctime_sec = (int64_t)get_be64(p + OFF_CTIME);
	n.ctime_nsec = get_be32(p + OFF_CTIME_NSEC);
	if (n.mtime_nsec > 999999999 || n.ctime_nsec > 999999999)
		return -EBADMSG;
	n.flags = p[OFF_FLAGS];
	n.hash_state = p[OFF_HASH_STATE];
	memcpy(n.head, p + OFF_HEAD, 16);
	memcpy(n.tail, p + OFF_TAIL, 16);
	memcpy(n.full, p + OFF_FULL, 16);
	n.name_len = (uint16_t)(len - NODE_HDR_SIZE);
	n.name = (const char *)p + OFF_NAME;
	if (!name_valid(n.parent, n.name, n.name_len))
		return -EBADMSG;

	*ret = n;
	return 0;
}

/* ---- the compact record ------------------------------------------------- */

static uint64_t zigzag(uint64_t d)
{
	return d << 1 ^ (uint64_t)((int64_t)d >> 63);
}

static uint64_t unzigzag(uint64_t z)
{
	return z >> 1 ^ -(z & 1);
}

/* What 8 * ceil(size / 4096) blocks would be: the base blocks are stored against. */
static uint64_t blocks_base(uint64_t size)
{
	return (size / 4096 + (size % 4096 != 0)) * 8;
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/*
 * Read a varint at *pp, before @end, into *ret.  False if it runs past @end,
 * has more than 64 bits, or is not in its shortest form (a last byte of 0
 * after another), which node_encode() would never write.
 */
static bool get_varint(const unsigned char **pp, const unsigned char *end, uint64_t *ret)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;

	for (unsigned shift = 0; p < end; shift += 7) {
		unsigned char b = *p++;

		if (shift == 63 && b > 1)
			return false;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift)
				return false;
			*pp = p;
			*ret = v;
			return true;
		}
		if (shift == 63)
			return false;
	}
	return false;
}

static bool get_u32(const unsigned char **pp, const unsigned char *end, uint32_t *ret)
{
	uint64_t v;

	if (!get_varint(pp, end, &v) || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static int hash_bytes(uint8_t state)
{
	return state == NODE_HASH_FULL ? 48 : state == NODE_HASH_PARTIAL ? 32 : state ? 16 : 0;
}

int node_encode(const struct node *n, void *buf, size_t bufsz)
{
	unsigned char tmp[NODE_COMPACT_MAX], *p = tmp;
	size_t len;

	if (!name_valid(n->parent, n->name, n->name_len) || n->hash_state > NODE_HASH_FULL ||
	    (n->flags & ~NODE_F_ALL) || n->mtime_nsec > 999999999 || n->ctime_nsec > 999999999)
		return -EINVAL;
	*p++ = (unsigned char)(n->flags | n->hash_state << 5);
	p = put_varint(p, zigzag(n->id - n->parent));
	p = put_varint(p, n->dev);
	p = put_varint(p, n->ino);
	p = put_varint(p, n->mode);
	p = put_varint(p, n->nlink);
	p = put_varint(p, n->uid);
	p = put_varint(p, n->gid);
	p = put_varint(p, n->size);
	p = put_varint(p, zigzag(n->blocks - blocks_base(n->size)));
	p = put_varint(p, zigzag((uint64_t)n->mtime_sec));
	p = put_varint(p, n->mtime_nsec);
	p = put_varint(p, zigzag((uint64_t)n->ctime_sec - (uint64_t)n->mtime_sec));
	p = put_varint(p, zigzag((uint64_t)n->ctime_nsec - n->mtime_nsec));
	if (n->hash_state >= NODE_HASH_HEAD)
		p = (unsigned char *)memcpy(p, n->head, 16) + 16;
	if (n->hash_state >= NODE_HASH_PARTIAL)
		p = (unsigned char *)memcpy(p, n->tail, 16) + 16;
	if (n->hash_state == NODE_HASH_FULL)
		p = (unsigned char *)memcpy(p, n->full, 16) + 16;
	if (n->name_len)
		p = (unsigned char *)memcpy(p, n->name, n->name_len) + n->name_len;
	len = (size_t)(p - tmp);
	if (bufsz < len)
		return -EINVAL;
	memcpy(buf, tmp, len);
	return (int)len;
}

/* The varint fields of a compact record, after its first byte. */
static bool decode_fields(const unsigned char **pp, const unsigned char *end, struct node *n)
{
	uint64_t v, blocks, mtime, ctime, cnsec;

	if (!get_varint(pp, end, &v))
		return false;
	n->parent = n->id - unzigzag(v);
	if (!get_varint(pp, end, &n->dev) || !get_varint(pp, end, &n->ino) ||
	    !get_u32(pp, end, &n->mode) || !get_u32(pp, end, &n->nlink) ||
	    !get_u32(pp, end, &n->uid) || !get_u32(pp, end, &n->gid) ||
	    !get_varint(pp, end, &n->size) || !get_varint(pp, end, &blocks) ||
	    !get_varint(pp, end, &mtime) || !get_u32(pp, end, &n->mtime_nsec) ||
	    !get_varint(pp, end, &ctime) || !get_varint(pp, end, &cnsec))
		return false;
	/* Both in 0..999,999,999, so the difference fits 31 bits and its zigzag 32. */
	if (cnsec > UINT32_MAX)
		return false;
	cnsec = n->mtime_nsec + unzigzag(cnsec);
	if (cnsec > 999999999)
		return false; /* negative ones wrapped past it too */
	n->ctime_nsec = (uint32_t)cnsec;
	n->blocks = blocks_base(n->size) + unzigzag(blocks);
	n->mtime_sec = (int64_t)unzigzag(mtime);
	n->ctime_sec = (int64_t)((uint64_t)n->mtime_sec + unzigzag(ctime));
	return n->mtime_nsec <= 999999999 && n->ctime_nsec <= 999999999;
}

int node_decode(const void *buf, size_t len, uint64_t id, struct node *ret)
{
	const unsigned char *p = buf, *end = p + len;
	struct node n;
	int hb;

	if (len < 1 || len > NODE_COMPACT_MAX || (p[0] & 0x80))
		return -EBADMSG;
	memset(&n, 0, sizeof(n));
	n.id = id;
	n.flags = p[0] & NODE_F_ALL;
	n.hash_state = (uint8_t)(p[0] >> 5);
	p++;
	if (!decode_fields(&p, end, &n))
		return -EBADMSG;
	hb = hash_bytes(n.hash_state);
	if (end - p < hb || end - p - hb > NODE_NAME_MAX)
		return -EBADMSG;
	if (hb >= 16)
		memcpy(n.head, p, 16);
	if (hb >= 32)
		memcpy(n.tail, p + 16, 16);
	if (hb == 48)
		memcpy(n.full, p + 32, 16);
	p += hb;
	n.name_len = (uint16_t)(end - p);
	n.name = (const char *)p;
	if (!name_valid(n.parent, n.name, n.name_len))
		return -EBADMSG;
	*ret = n;
	return 0;
}

/* ---- compact `child` values --------------------------------------------- */

static const char child_types[] = "fdlpscb?";

size_t node_child_encode(uint64_t id, char type, uint8_t flags, void *buf)
{
	const char *t = type ? strchr(child_types, type) : NULL;
	unsigned char *p = buf;

	p[0] = (unsigned char)((t ? t - child_types : 7) << 2 | (flags & NODE_F_CHILD_MASK));
	return (size_t)(put_varint(p + 1, id) - p);
}

int node_child_decode(const void *buf, size_t len, uint64_t *ret_id, char *ret_type,
		      uint8_t *ret_flags)
{
	const unsigned char *p = buf, *q = p + 1;
	uint64_t id;

	if (len < 2 || len > NODE_CHILD_VAL_MAX || (p[0] & ~(7u << 2 | NODE_F_CHILD_MASK)))
		return -EBADMSG;
	if (!get_varint(&q, p + len, &id) || q != p + len || !id)
		return -EBADMSG;
	*ret_id = id;
	*ret_type = child_types[p[0] >> 2];
	*ret_flags = p[0] & NODE_F_CHILD_MASK;
	return 0;
}

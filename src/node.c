/* SPDX-License-Identifier: MIT */
/*
 * node.c - the codec for records of the `node` database (layout in node.h).
 *
 * Every integer is big-endian at a fixed offset, so the encoding does not
 * depend on the host and a record read back is checked field by field
 * rather than trusted: a short or oversized record, a name the walker could
 * never have produced (empty, or holding '/' or NUL), an unknown hash state or
 * nonzero reserved bytes all make node_decode() fail with -EBADMSG instead of
 * handing garbage to a query.  node_encode() refuses the same things, so the
 * writer never stores a record that would later be rejected.
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

int node_encode(const struct node *n, void *buf, size_t bufsz)
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

int node_decode(const void *buf, size_t len, uint64_t id, struct node *ret)
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

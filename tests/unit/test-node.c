/* SPDX-License-Identifier: MIT */
/*
 * test-node.c - the node record codecs: round trips, the byte layouts
 * node.h documents, and rejection of malformed records, for the fixed
 * record (node_*_v1) and the compact one.
 */
#include "node.h"

#include "tap.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static struct node sample(const char *name, size_t len)
{
	struct node n = {
		.id = 42,
		.parent = 7,
		.dev = 0x0102030405060708ULL,
		.ino = 0xfffffffffffffff0ULL,
		.mode = S_IFREG | 0644,
		.nlink = 3,
		.uid = 1000,
		.gid = 0xfffffffe,
		.size = 1ULL << 40,
		.mtime_sec = -1234567890LL, /* before the epoch */
		.mtime_nsec = 123,
		.ctime_sec = 10413792000LL, /* 2300: past what 64-bit nanoseconds hold */
		.ctime_nsec = 999999999,
		.flags = NODE_F_RACY,
		.hash_state = NODE_HASH_FULL,
		.name_len = (uint16_t)len,
		.name = name,
	};

	for (int i = 0; i < 16; i++) {
		n.head[i] = (uint8_t)i;
		n.tail[i] = (uint8_t)(0xf0 | i);
		n.full[i] = (uint8_t)(0x80 + i);
	}
	return n;
}

static bool same(const struct node *a, const struct node *b)
{
	return a->id == b->id && a->parent == b->parent && node_stat_equal(a, b) &&
	       a->flags == b->flags && a->hash_state == b->hash_state &&
	       !memcmp(a->head, b->head, 16) && !memcmp(a->tail, b->tail, 16) &&
	       !memcmp(a->full, b->full, 16) && a->name_len == b->name_len &&
	       !memcmp(a->name, b->name, a->name_len);
}

static void test_round_trip(void)
{
	unsigned char buf[NODE_REC_MAX + 16];
	char name[NODE_NAME_MAX];
	struct node n, d;
	int len;

	n = sample("hello.txt", 9);
	len = node_encode_v1(&n, buf, sizeof(buf));
	ok(len == NODE_HDR_SIZE + 9, "encode returns header + name length (%d)", len);
	ok(node_decode_v1(buf, (size_t)len, 42, &d) == 0 && same(&n, &d),
	   "decode gives the node back");
	ok(d.name == (const char *)buf + NODE_HDR_SIZE, "decoded name points into the record");

	/* Layout spot checks against the table in node.h. */
	ok(get_be64(buf + 0) == 7 && get_be64(buf + 8) == n.dev && get_be32(buf + 24) == n.mode &&
		   get_be64(buf + 40) == n.size && (int64_t)get_be64(buf + 48) == n.mtime_sec &&
		   get_be32(buf + 56) == n.mtime_nsec && (int64_t)get_be64(buf + 60) == n.ctime_sec &&
		   get_be32(buf + 68) == n.ctime_nsec &&
		   buf[72] == NODE_F_RACY && buf[73] == NODE_HASH_FULL && buf[74] == 0 &&
		   buf[75] == 0 && buf[76] == 0 && buf[108] == 0x80 &&
		   !memcmp(buf + 124, "hello.txt", 9),
	   "fields are big-endian at the documented offsets");

	/* Longest name, every byte but '/' and NUL. */
	for (int i = 0, c = 1; i < NODE_NAME_MAX; i++, c = c == 0xff ? 1 : c + 1) {
		if (c == '/')
			c++;
		name[i] = (char)c;
	}
	n = sample(name, NODE_NAME_MAX);
	len = node_encode_v1(&n, buf, sizeof(buf));
	ok(len == NODE_HDR_SIZE + NODE_NAME_MAX, "255-byte name encodes to header + 255");
	ok(node_decode_v1(buf, (size_t)len, 42, &d) == 0 && same(&n, &d),
	   "255-byte name with bytes 0x01-0xff round trips");

	/* The top node: parent 0, empty name. */
	n = sample("", 0);
	n.parent = 0;
	n.id = NODE_ID_TOP;
	n.mode = S_IFDIR | 0755;
	len = node_encode_v1(&n, buf, sizeof(buf));
	ok(len == NODE_HDR_SIZE && node_decode_v1(buf, (size_t)len, NODE_ID_TOP, &d) == 0 &&
		   same(&n, &d),
	   "\"/\" (parent 0, empty name) round trips");
}

static void test_encode_rejects(void)
{
	unsigned char buf[NODE_REC_MAX + 16];
	char name[NODE_NAME_MAX + 1];
	struct node n;

	memset(name, 'a', sizeof(name));
	n = sample(name, NODE_NAME_MAX + 1);
	ok(node_encode_v1(&n, buf, sizeof(buf)) == -EINVAL, "encode: 256-byte name is -EINVAL");
	n = sample("a/b", 3);
	ok(node_encode_v1(&n, buf, sizeof(buf)) == -EINVAL, "encode: name with '/' is -EINVAL");
	n = sample("a\0b", 3);
	ok(node_encode_v1(&n, buf, sizeof(buf)) == -EINVAL, "encode: name with NUL is -EINVAL");
	n = sample("", 0);
	ok(node_encode_v1(&n, buf, sizeof(buf)) == -EINVAL,
	   "encode: empty name under a parent is -EINVAL");
	n = sample("abc", 3);
	ok(node_encode_v1(&n, buf, NODE_HDR_SIZE + 2) == -EINVAL,
	   "encode: buffer one byte short is -EINVAL");
	ok(node_encode_v1(&n, buf, NODE_HDR_SIZE + 3) == NODE_HDR_SIZE + 3,
	   "encode: exactly sized buffer is enough");
	n.hash_state = 4;
	ok(node_encode_v1(&n, buf, sizeof(buf)) == -EINVAL, "encode: unknown hash state is -EINVAL");
}

static void test_decode_rejects(void)
{
	unsigned char buf[NODE_REC_MAX + 16], bad[NODE_REC_MAX + 16];
	struct node n, d;
	int len;
	bool all;

	n = sample("file", 4);
	len = node_encode_v1(&n, buf, sizeof(buf));

	/* Every truncation, down to nothing. */
	all = true;
	for (size_t l = 0; l < NODE_HDR_SIZE; l++) {
		if (node_decode_v1(buf, l, 42, &d) != -EBADMSG)
			all = false;
	}
	ok(all, "every record shorter than the header is -EBADMSG");

	memset(bad, 'x', sizeof(bad));
	memcpy(bad, buf, NODE_HDR_SIZE);
	ok(node_decode_v1(bad, NODE_HDR_SIZE + NODE_NAME_MAX + 1, 42, &d) == -EBADMSG,
	   "a record with a 256-byte name is -EBADMSG");
	ok(node_decode_v1(bad, NODE_HDR_SIZE + NODE_NAME_MAX, 42, &d) == 0 && d.name_len == NODE_NAME_MAX,
	   "a record with a 255-byte name decodes");

	memcpy(bad, buf, (size_t)len);
	bad[74] = 1;
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "reserved byte 74 set is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	bad[75] = 0x80;
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "reserved byte 75 set is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	bad[73] = 4;
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "hash state 4 is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	put_be32(bad + 56, 1000000000);
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "mtime nanoseconds >= 1e9 is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	put_be32(bad + 68, 0xffffffff);
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "ctime nanoseconds >= 1e9 is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	bad[NODE_HDR_SIZE + 1] = '/';
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "a name with '/' is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	bad[NODE_HDR_SIZE + 3] = '\0';
	ok(node_decode_v1(bad, (size_t)len, 42, &d) == -EBADMSG, "a name with NUL is -EBADMSG");
	ok(node_decode_v1(buf, NODE_HDR_SIZE, 42, &d) == -EBADMSG,
	   "an empty name under a nonzero parent is -EBADMSG");

	/* Garbage: a deterministic stream of bytes, many lengths. */
	all = true;
	uint32_t x = 2463534242u;
	int decoded = 0;
	for (int round = 0; round < 2000; round++) {
		size_t l = (size_t)(round % (NODE_HDR_SIZE + NODE_NAME_MAX + 8));

		for (size_t i = 0; i < l; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			bad[i] = (unsigned char)x;
		}
		memset(&d, 0xa5, sizeof(d));
		int r = node_decode_v1(bad, l, 9, &d);
		if (r == 0) {
			decoded++;
			if (d.name_len != l - NODE_HDR_SIZE || d.hash_state > NODE_HASH_FULL)
				all = false;
		} else if (r != -EBADMSG) {
			all = false;
		}
	}
	ok(all, "random records decode to a valid node or -EBADMSG (%d of 2000 decoded)", decoded);
	ok(decoded == 0, "random bytes practically never pass the reserved/name checks");

	/* Output is written only on success. */
	memset(&d, 0x5a, sizeof(d));
	node_decode_v1(buf, 3, 42, &d);
	ok(d.id == 0x5a5a5a5a5a5a5a5aULL, "a failed decode leaves *ret alone");
}

static void test_type_char(void)
{
	static const struct {
		uint32_t mode;
		char c;
	} cases[] = {
		{S_IFREG | 0644, 'f'},	{S_IFDIR | 0755, 'd'},
		{S_IFLNK | 0777, 'l'},	{S_IFIFO | 0600, 'p'},
		{S_IFSOCK | 0755, 's'}, {S_IFCHR | 0666, 'c'},
		{S_IFBLK | 0660, 'b'},	{0, '?'},
		{0170000, '?'},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ok(node_type_char(cases[i].mode) == cases[i].c, "node_type_char(0%o) is '%c'",
		   cases[i].mode, cases[i].c);
}

static void test_stat_equal(void)
{
	struct node a = sample("a", 1), b = sample("other name", 10);

	b.id = 99;
	b.parent = 98;
	b.flags = 0;
	b.hash_state = NODE_HASH_NONE;
	memset(b.full, 0, 16);
	ok(node_stat_equal(&a, &b), "names, ids, flags and hashes do not count");

#define CHANGED(field, value)                                                                      \
	do {                                                                                       \
		struct node c = a;                                                                 \
		c.field = value;                                                                   \
		ok(!node_stat_equal(&a, &c) && !node_stat_equal(&c, &a),                           \
		   "a different " #field " is a change");                                          \
	} while (0)
	CHANGED(dev, a.dev + 1);
	CHANGED(ino, a.ino ^ 1);
	CHANGED(mode, S_IFREG | 0600);
	CHANGED(nlink, 1);
	CHANGED(uid, 0);
	CHANGED(gid, 1);
	CHANGED(size, a.size - 1);
	CHANGED(mtime_sec, a.mtime_sec + 1);
	CHANGED(mtime_nsec, a.mtime_nsec + 1);
	CHANGED(ctime_sec, a.ctime_sec - 1);
	CHANGED(ctime_nsec, a.ctime_nsec - 1);
#undef CHANGED
}

/* ---- the compact record ---------------------------------------------- */

/* Encode @n, decode it back, and check every field and the re-encoding. */
static bool compact_round_trip(const struct node *n, int *ret_len)
{
	unsigned char buf[NODE_COMPACT_MAX], again[NODE_COMPACT_MAX];
	struct node d;
	int len;

	len = node_encode(n, buf, sizeof(buf));
	*ret_len = len;
	if (len < 0 || node_decode(buf, (size_t)len, n->id, &d) != 0)
		return false;
	if (!same(n, &d) || d.blocks != n->blocks || d.name != (const char *)buf + len - n->name_len)
		return false;
	return node_encode(&d, again, sizeof(again)) == len && !memcmp(buf, again, (size_t)len);
}

static void test_compact(void)
{
	unsigned char buf[NODE_COMPACT_MAX], bad[NODE_COMPACT_MAX + 8];
	char name[NODE_NAME_MAX];
	struct node n, d;
	bool all;
	int len;

	n = sample("file.txt", 8);
	n.blocks = 12345;
	all = compact_round_trip(&n, &len);
	ok(all, "compact: extreme fields round-trip (%d bytes)", len);

	/* A typical file: small numbers, a block count as ext4 gives, no hash. */
	n = (struct node){.id = 100000, .parent = 99990, .dev = 0x803, .ino = 1234567,
			  .mode = S_IFREG | 0644, .nlink = 1, .uid = 1000, .gid = 1000,
			  .size = 5000, .blocks = 16, .mtime_sec = 1764800000, .mtime_nsec = 0,
			  .ctime_sec = 1764800000, .ctime_nsec = 0, .name_len = 10,
			  .name = "report.pdf"};
	all = compact_round_trip(&n, &len);
	ok(all && len == 36, "compact: a typical file takes 26 bytes + name (%d)",
	   len);
	n.hash_state = NODE_HASH_HEAD;
	memset(n.head, 0x11, 16);
	all = compact_round_trip(&n, &len);
	ok(all && len == 52, "compact: a head hash adds 16 bytes (%d)", len);
	n.hash_state = NODE_HASH_PARTIAL;
	memset(n.tail, 0x22, 16);
	all = compact_round_trip(&n, &len);
	ok(all && len == 68, "compact: head and tail add 32 (%d)", len);
	n.hash_state = NODE_HASH_FULL;
	memset(n.full, 0x33, 16);
	all = compact_round_trip(&n, &len);
	ok(all && len == 84, "compact: a full hash adds 48 (%d)", len);

	/* Wrapping differences: a parent after its child (a move), blocks far off. */
	n.parent = UINT64_MAX;
	n.blocks = NODE_BLOCKS_UNKNOWN;
	n.size = UINT64_MAX;
	n.mtime_sec = INT64_MIN;
	n.ctime_sec = INT64_MAX;
	ok(compact_round_trip(&n, &len), "compact: wrapping differences round-trip");
	n = sample("", 0);
	n.id = NODE_ID_TOP;
	n.parent = 0;
	ok(compact_round_trip(&n, &len), "compact: the top node, empty name");
	memset(name, 'x', sizeof(name));
	n = sample(name, NODE_NAME_MAX);
	ok(compact_round_trip(&n, &len), "compact: a 255-byte name");

	n = sample("a", 1);
	n.flags = 0x20;
	ok(node_encode(&n, buf, sizeof(buf)) == -EINVAL, "compact: a flag past bit 4 is -EINVAL");
	n.flags = 0;
	ok(node_encode(&n, buf, 10) == -EINVAL, "compact: a short buffer is -EINVAL");

	/* Every truncation of a record fails, except where the name is cut. */
	n = sample("abc", 3);
	len = node_encode(&n, buf, sizeof(buf));
	all = true;
	for (int l = 0; l < len - 3; l++)
		if (node_decode(buf, (size_t)l, 42, &d) != -EBADMSG)
			all = false;
	ok(all, "compact: every cut before the name is -EBADMSG");
	memcpy(bad, buf, (size_t)len);
	bad[0] |= 0x80;
	ok(node_decode(bad, (size_t)len, 42, &d) == -EBADMSG, "compact: bit 7 of byte 0 is -EBADMSG");
	/* An overlong varint: zigzag(id - parent) = 70 as 0xc6 0x00. */
	n = sample("abc", 3);
	n.hash_state = 0;
	len = node_encode(&n, buf, sizeof(buf));
	ok(buf[1] == 70, "compact: byte 1 is zigzag(id - parent)");
	bad[0] = buf[0];
	bad[1] = 0xc6;
	bad[2] = 0x00;
	memcpy(bad + 3, buf + 2, (size_t)len - 2);
	ok(node_decode(bad, (size_t)len + 1, 42, &d) == -EBADMSG,
	   "compact: a varint longer than its shortest form is -EBADMSG");
	/* nlink (the 6th varint) past 32 bits. */
	n.nlink = 1;
	len = node_encode(&n, buf, sizeof(buf));
	all = false;
	for (int i = 2; i < len; i++) {
		if (buf[i] == 1 && buf[i - 1] < 0x80) {
			/* find the nlink byte: decode with it replaced by 2^32 */
			unsigned char big[] = {0x80, 0x80, 0x80, 0x80, 0x10};

			memcpy(bad, buf, (size_t)i);
			memcpy(bad + i, big, 5);
			memcpy(bad + i + 5, buf + i + 1, (size_t)(len - i - 1));
			if (node_decode(bad, (size_t)len + 4, 42, &d) == -EBADMSG)
				all = true;
			break;
		}
	}
	ok(all, "compact: a 32-bit field holding 2^32 is -EBADMSG");

	/* Garbage decodes to a node that re-encodes to the same bytes, or fails. */
	uint32_t x = 88172645u;
	int decoded = 0;
	all = true;
	for (int round = 0; round < 20000; round++) {
		size_t l = (size_t)(round % 120);

		for (size_t i = 0; i < l; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			bad[i] = (unsigned char)x;
		}
		int r = node_decode(bad, l, 9, &d);
		if (r == 0) {
			decoded++;
			if (node_encode(&d, buf, sizeof(buf)) != (int)l || memcmp(buf, bad, l))
				all = false;
		} else if (r != -EBADMSG) {
			all = false;
		}
	}
	ok(all, "compact: random records decode and re-encode identically, or are -EBADMSG "
		"(%d of 20000 decoded)", decoded);
}

/* The compact `child` value: round trips, its size, rejections. */
static void test_child_value(void)
{
	static const char types[] = "fdlpscb?";
	unsigned char buf[NODE_CHILD_VAL_MAX + 4];
	uint64_t id;
	uint8_t flags;
	char type;
	bool all = true;
	size_t len;

	for (size_t t = 0; t < 8; t++) {
		for (uint8_t f = 0; f <= NODE_F_CHILD_MASK; f++) {
			uint64_t ids[] = {1, 127, 128, 100000, UINT64_MAX};

			for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
				len = node_child_encode(ids[i], types[t], f, buf);
				if (node_child_decode(buf, len, &id, &type, &flags) || id != ids[i] ||
				    type != types[t] || flags != f)
					all = false;
			}
		}
	}
	ok(all, "child value: every type, flags and id round-trip");
	ok(node_child_encode(100000, 'f', 0, buf) == 4, "child value: id 100,000 takes 4 bytes");
	ok(node_child_encode(UINT64_MAX, 'd', 3, buf) == NODE_CHILD_VAL_MAX,
	   "child value: the largest id takes NODE_CHILD_VAL_MAX");
	len = node_child_encode(300, 'f', 1, buf);
	ok(node_child_decode(buf, len - 1, &id, &type, &flags) == -EBADMSG,
	   "child value: cut short is -EBADMSG");
	buf[len] = 0;
	ok(node_child_decode(buf, len + 1, &id, &type, &flags) == -EBADMSG,
	   "child value: a trailing byte is -EBADMSG");
	buf[0] |= 0x20;
	ok(node_child_decode(buf, len, &id, &type, &flags) == -EBADMSG,
	   "child value: a bit past type and flags is -EBADMSG");
	buf[0] = 0;
	buf[1] = 0;
	ok(node_child_decode(buf, 2, &id, &type, &flags) == -EBADMSG, "child value: id 0 is -EBADMSG");
}

int main(void)
{
	plan_lazy();
	test_round_trip();
	test_encode_rejects();
	test_decode_rejects();
	test_type_char();
	test_stat_equal();
	test_compact();
	test_child_value();
	return done_testing();
}

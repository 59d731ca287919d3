/* SPDX-License-Identifier: MIT */
/*
 * fuzz-node.c - libFuzzer harness for the node record codecs: any bytes may
 * sit in a corrupt index, so node_decode() and node_decode_v1() must reject
 * or accept them without reading out of bounds, and whatever one accepts
 * must encode back to exactly the same bytes (neither codec has slack a
 * corrupt record could hide in).  A fixed record accepted must also convert
 * to a compact one that decodes to the same fields (the upgrade's path).
 *
 *   ./configure CC=clang --enable-fuzzing && make fuzz
 *   ./tests/fuzz/fuzz-node -max_total_time=60
 */
#include "node.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static bool same(const struct node *a, const struct node *b)
{
	return a->id == b->id && a->parent == b->parent && node_stat_equal(a, b) &&
	       a->blocks == b->blocks && a->flags == b->flags && a->hash_state == b->hash_state &&
	       !memcmp(a->head, b->head, a->hash_state >= NODE_HASH_HEAD ? 16 : 0) &&
	       !memcmp(a->tail, b->tail, a->hash_state >= NODE_HASH_PARTIAL ? 16 : 0) &&
	       !memcmp(a->full, b->full, a->hash_state == NODE_HASH_FULL ? 16 : 0) &&
	       a->name_len == b->name_len && !memcmp(a->name, b->name, a->name_len);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned char out[NODE_REC_MAX];
	unsigned char *copy;
	struct node n, m;
	int len;

	/* An exact-size heap copy, so ASan sees any read past the record. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (node_decode(copy, size, 42, &n) == 0) {
		len = node_encode(&n, out, sizeof(out));
		if (len < 0 || (size_t)len != size || memcmp(out, copy, size) != 0)
			abort();
	}
	{
		unsigned char cv[NODE_CHILD_VAL_MAX];
		uint64_t id;
		uint8_t flags;
		char type;

		if (node_child_decode(copy, size, &id, &type, &flags) == 0 &&
		    (node_child_encode(id, type, flags, cv) != size || memcmp(cv, copy, size)))
			abort();
	}
	if (node_decode_v1(copy, size, 42, &n) == 0) {
		len = node_encode_v1(&n, out, sizeof(out));
		if (len < 0 || (size_t)len != size || memcmp(out, copy, size) != 0)
			abort();
		/* Flags past bit 4 have no room in a compact record: refused, not lost. */
		len = node_encode(&n, out, sizeof(out));
		if (len < 0 ? !(n.flags & ~NODE_F_ALL) :
			      node_decode(out, (size_t)len, 42, &m) != 0 || !same(&n, &m))
			abort();
	}
	free(copy);
	return 0;
}

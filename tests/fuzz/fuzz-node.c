/* SPDX-License-Identifier: MIT */
/*
 * fuzz-node.c - libFuzzer harness for the `node` record codec: any bytes may
 * sit in a corrupt index, so node_decode() must reject or accept them without
 * reading out of bounds, and whatever it accepts must encode back to exactly
 * the same bytes (the codec has no slack a corrupt record could hide in).
 *
 *   ./configure CC=clang --enable-fuzzing && make fuzz
 *   ./tests/fuzz/fuzz-node -max_total_time=60
 */
#include "node.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned char out[NODE_REC_MAX];
	unsigned char *copy;
	struct node n;
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
	free(copy);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test-errors.c - fsi_strerror(): each of the project's own codes has its
 * message (the exact words the integration tests and users look for), the
 * codes are distinct, and every other value, -EBUSY first, reads as
 * strerror(3) has it.
 */
#include "errors.h"

#include "ring.h"
#include "store.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int code;
	const char *name;
	const char *words;	/* what the message must say */
} codes[] = {
	{ STORE_E_FOREIGN, "STORE_E_FOREIGN", "not an fsindex index (refusing to touch it)" },
	{ STORE_E_SCHEMA, "STORE_E_SCHEMA", "index has an unsupported schema version" },
	{ STORE_E_LOCKED, "STORE_E_LOCKED", "another scan is writing this index" },
	{ STORE_E_CORRUPT, "STORE_E_CORRUPT", "the index holds a corrupt record" },
	{ STORE_E_UNSAFE, "STORE_E_UNSAFE", "its directory belongs to another user" },
	{ STORE_E_READERLOCK, "STORE_E_READERLOCK", "cannot write its lock file, which every reader" },
	{ RING_E_TICK, "RING_E_TICK", "file is being written" },
};

int main(void)
{
	/* The plain errno values the project's codes must never be mistaken for. */
	static const int plain[] = { EBUSY, ENOENT, EACCES, EIO, ENOMEM, ELOOP, EAGAIN, ENOSPC };
	bool distinct = true;
	char unknown[128];

	plan_lazy();
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *m = fsi_strerror(codes[i].code);

		ok(codes[i].code < 0 && strstr(m, codes[i].words) == m, "%s: \"%s\"", codes[i].name, m);
		ok(strcmp(m, strerror(-codes[i].code)) != 0, "%s is not read as strerror(%d)",
		   codes[i].name, -codes[i].code);
		for (size_t j = 0; j < i; j++)
			distinct &= codes[i].code != codes[j].code;
		for (size_t j = 0; j < ARRAY_SIZE(plain); j++)
			distinct &= codes[i].code != -plain[j];
	}
	ok(distinct, "the %zu codes differ from each other and from -EBUSY, -ENOENT, -EIO, ...",
	   ARRAY_SIZE(codes));

	/* What the issue was about: a busy device is not another scan. */
	ok(!strcmp(fsi_strerror(-EBUSY), strerror(EBUSY)), "-EBUSY reads \"%s\"", strerror(EBUSY));
	for (size_t j = 0; j < ARRAY_SIZE(plain); j++)
		ok(!strcmp(fsi_strerror(-plain[j]), strerror(plain[j])), "-%d reads as strerror: \"%s\"",
		   plain[j], fsi_strerror(-plain[j]));
	ok(!strcmp(fsi_strerror(ENOENT), strerror(ENOENT)), "a positive errno reads the same");
	ok(!strcmp(fsi_strerror(-EUCLEAN), strerror(EUCLEAN)), "-EUCLEAN falls back to strerror");
	/* Copied: strerror(3)'s text for an unknown number lasts until its next call. */
	snprintf(unknown, sizeof(unknown), "%s", fsi_strerror(-4000));
	ok(!strcmp(unknown, strerror(4000)) && strstr(unknown, "4000"),
	   "an unknown number reads as strerror has it (\"%s\")", unknown);
	ok(!strcmp(fsi_strerror(0), strerror(0)), "0 reads as strerror(0)");
	return done_testing();
}

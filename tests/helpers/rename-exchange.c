/* SPDX-License-Identifier: MIT */
/*
 * rename-exchange.c - swap two names atomically, renameat2(RENAME_EXCHANGE),
 * which coreutils' mv(1) cannot do before 9.5 and python's os.rename cannot
 * at all (renames-live.sh).
 *
 *   rename-exchange A B
 *
 * Exit status: 0 swapped, 1 the call failed (the reason on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: rename-exchange A B\n");
		return 2;
	}
	if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) < 0) {
		fprintf(stderr, "rename-exchange: cannot swap '%s' and '%s': %s\n", argv[1],
			argv[2], strerror(errno));
		return 1;
	}
	return 0;
}

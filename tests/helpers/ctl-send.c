/* SPDX-License-Identifier: MIT */
/*
 * ctl-send.c - send one raw request line to fsindexd's control socket and
 * print the whole reply as it comes, for tests of requests the fsindex
 * command does not send (rescan) and of the permission checks.
 *
 *   ctl-send SOCKET 'rescan /some/dir'
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: ctl-send SOCKET LINE\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("ctl-send");
		return 2;
	}
	if (dprintf(fd, "%s\n", argv[2]) < 0)
		return 2;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return n < 0;
}

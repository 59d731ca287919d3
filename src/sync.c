/* SPDX-License-Identifier: MIT */
/*
 * sync.c - the client side of the control socket's `sync` (sync.h).
 *
 * control_request() waits as long as the daemon takes; here the wait is
 * bounded, by poll() on the connection, so a stopped daemon costs the
 * timeout and a dead one (the connection closes) nothing more.
 */
#include "sync.h"

#include "control.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int sync_parse_timeout(const char *arg, int *ret_ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno || end == arg || *end || !(s > 0 && s <= 86400)) {	/* NaN too */
		log_error("invalid --sync-timeout '%s' (expected seconds, > 0)", arg);
		return -EINVAL;
	}
	*ret_ms = s < 0.001 ? 1 : (int)(s * 1000 + 0.5);
	return 0;
}

/* The per-user daemon's socket if there is one, else the system daemon's. */
static char *socket_path(void)
{
	struct stat st;
	char *p = NULL;

	if (control_socket_path(true, &p) == 0 && stat(p, &st) == 0 && S_ISSOCK(st.st_mode))
		return p;
	free(p);
	return control_socket_path(false, &p) == 0 ? p : NULL;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, "sync\n", 5, MSG_NOSIGNAL) != 5) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* The reply's first line into @buf (@size): its length, -ETIMEDOUT, -EPIPE or -errno. */
static ssize_t read_answer(int fd, int timeout_ms, char *buf, size_t size)
{
	int64_t end = now_mono_ns() + (int64_t)timeout_ms * 1000000;
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_mono_ns();
		ssize_t n;
		char *nl;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* Reset: the daemon died before it accepted the connection. */
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -EPIPE;
		if (n < 0)
			return -errno;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return nl - buf;
		}
	}
	return -EMSGSIZE;
}

int sync_wait(const char *cmd, int timeout_ms)
{
	char *path = socket_path(), buf[512];
	ssize_t n;
	int fd;

	if (timeout_ms <= 0)
		timeout_ms = SYNC_DEFAULT_TIMEOUT_MS;

	if (!path) {
		log_warning("%s: --sync: out of memory: answering from the index as it is", cmd);
		return 1;
	}
	fd = connect_to(path);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		log_notice("%s: --sync: no fsindexd at '%s': answering from the index as it is",
			   cmd, path);
		free(path);
		return 1;
	}
	if (fd < 0) {
		log_warning("%s: --sync: cannot reach fsindexd at '%s' (%s): "
			    "answering from the index as it is", cmd, path, fsi_strerror(fd));
		free(path);
		return 1;
	}
	n = read_answer(fd, timeout_ms, buf, sizeof(buf));
	close(fd);
	if (n >= 0 && strcmp(buf, "OK") == 0) {
		free(path);
		return 0;
	}
	if (n == -ETIMEDOUT)
		log_warning("%s: --sync: fsindexd did not confirm within %d.%03d s: "
			    "the index may be behind", cmd, timeout_ms / 1000, timeout_ms % 1000);
	else if (n == -EPIPE)
		log_warning("%s: --sync: fsindexd closed the connection without an answer: "
			    "the index may be behind", cmd);
	else if (n >= 0)
		log_warning("%s: --sync: fsindexd: %s: the index may be behind", cmd,
			    strncmp(buf, "ERR ", 4) == 0 ? buf + 4 : buf);
	else
		log_warning("%s: --sync: %s: the index may be behind", cmd, fsi_strerror((int)n));
	free(path);
	return 1;
}

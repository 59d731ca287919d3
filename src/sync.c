/* SPDX-License-Identifier: MIT */
/*
 * sync.c - the client side of the control socket's `sync` (sync.h), and
 * of `scan` and `rescan` handed to the daemon that serves the index.
 *
 * Which daemon: the per-user one and the system one are asked for
 * `status-json`, whose db_dev and db_ino say which index each serves
 * (control_db_ident()); the one serving the index the command reads is the
 * one to ask.  One serving another index cannot sync this one: saying so is
 * better than pretending.
 *
 * control_request() waits as long as the daemon takes; here the wait is
 * bounded, by poll() on the connection, so a stopped daemon costs the
 * timeout and a dead one (the connection closes) nothing more.  A handed
 * over scan waits as long as the daemon takes: a scan does.
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
#include <sys/types.h>
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

static int connect_to(const char *path, const char *req)
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
	    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
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

/* A handed-over rescan waits for at most this many syncs of the daemon's (a minute each). */
#define SYNC_RESCAN_TRIES 60

/* The value of number field @key ("\"pid\":") in JSON @json, or -1. */
static long long json_number(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/*
 * Ask the daemon at @sock which index it serves, within @end_ns
 * (CLOCK_MONOTONIC): 1 it serves @db (or cannot tell: an older daemon),
 * 0 another one, or -errno (-ENOENT, -ECONNREFUSED: none there;
 * -ETIMEDOUT, -EPIPE, ...).  *ret_pid: its pid.
 */
static int ask(const char *sock, const char *db, int64_t end_ns, int *ret_pid)
{
	int64_t left = (end_ns - now_mono_ns()) / 1000000;
	long long dev, ino;
	size_t size = 65536;
	dev_t mdev;
	ino_t mino;
	ssize_t n;
	char *buf;
	int fd;

	if (left <= 0)
		return -ETIMEDOUT;
	fd = connect_to(sock, "status-json\n");
	if (fd < 0)
		return fd;
	buf = malloc(size);
	n = buf ? read_answer(fd, (int)left, buf, size) : -ENOMEM;
	close(fd);
	if (n >= 0 && strncmp(buf, "+ {", 3) != 0)
		n = -EPROTO;
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*ret_pid = (int)json_number(buf, "\"pid\":");
	dev = json_number(buf, "\"db_dev\":");
	ino = json_number(buf, "\"db_ino\":");
	free(buf);
	if (control_db_ident(db, &mdev, &mino) < 0)
		return 0; /* no index there: whatever it serves, not this */
	if (dev < 0 || ino < 0)
		return 1; /* cannot tell: let the daemon's answer speak */
	return (dev_t)dev == mdev && (ino_t)ino == mino;
}

int sync_find(const char *db, int timeout_ms, struct sync_peer *ret)
{
	int64_t end = now_mono_ns() + (int64_t)timeout_ms * 1000000;
	int r = -ENOENT, first = -ENOENT;

	*ret = (struct sync_peer){ .pid = -1 };
	for (int user = 1; user >= 0; user--) {
		char *sock = NULL;
		int pid = -1;

		if (control_socket_path(user, &sock) < 0)
			continue;
		r = ask(sock, db, end, &pid);
		if (r == -ENOENT || r == -ECONNREFUSED || (r == 0 && first >= 0)) {
			free(sock);
			continue;
		}
		free(ret->socket);
		*ret = (struct sync_peer){ .socket = sock, .pid = pid };
		if (r != 0)
			return r;
		first = 0; /* one that serves another index: keep looking */
	}
	if (first == 0)
		return 0;
	free(ret->socket);
	*ret = (struct sync_peer){ .pid = -1 };
	return control_socket_path(false, &ret->socket) < 0 ? -ENOMEM : -ENOENT;
}

void sync_peer_clear(struct sync_peer *p)
{
	free(p->socket);
	p->socket = NULL;
}

/* Warn why nothing was synced (@r: sync_find()'s or the sync's error). */
static void not_synced(const char *cmd, const struct sync_peer *p, const char *db, int r,
		       int timeout_ms)
{
	char *q = log_quote(db, strlen(db));

	if (r == 0)
		log_warning("%s: --sync: fsindexd (pid %d) at '%s' serves another index, not '%s': "
			    "answering from the index as it is", cmd, p->pid, p->socket, q ? q : db);
	else if (r == -ENOENT || r == -ECONNREFUSED)
		log_notice("%s: --sync: no fsindexd at '%s': answering from the index as it is",
			   cmd, p->socket ? p->socket : "?");
	else if (r == -ETIMEDOUT)
		log_warning("%s: --sync: fsindexd did not confirm within %d.%03d s: "
			    "the index may be behind", cmd, timeout_ms / 1000, timeout_ms % 1000);
	else if (r == -EPIPE)
		log_warning("%s: --sync: fsindexd closed the connection without an answer: "
			    "the index may be behind", cmd);
	else
		log_warning("%s: --sync: cannot reach fsindexd at '%s' (%s): "
			    "answering from the index as it is", cmd, p->socket ? p->socket : "?",
			    fsi_strerror(r));
	free(q);
}

int sync_wait(const char *cmd, const char *db, int timeout_ms)
{
	struct sync_peer peer;
	int64_t t0 = now_mono_ns();
	char buf[512];
	ssize_t n;
	int fd, r;

	if (timeout_ms <= 0)
		timeout_ms = SYNC_DEFAULT_TIMEOUT_MS;
	r = sync_find(db, timeout_ms, &peer);
	if (r != 1) {
		not_synced(cmd, &peer, db, r, timeout_ms);
		sync_peer_clear(&peer);
		return 1;
	}
	fd = connect_to(peer.socket, "sync\n");
	n = fd;
	if (fd >= 0) {
		n = read_answer(fd, timeout_ms - (int)((now_mono_ns() - t0) / 1000000), buf,
				sizeof(buf));
		close(fd);
	}
	if (n >= 0 && strcmp(buf, "OK") == 0) {
		sync_peer_clear(&peer);
		return 0;
	}
	if (n >= 0)
		log_warning("%s: --sync: fsindexd: %s: the index may be behind", cmd,
			    strncmp(buf, "ERR ", 4) == 0 ? buf + 4 : buf);
	else
		not_synced(cmd, &peer, db, (int)n, timeout_ms);
	sync_peer_clear(&peer);
	return 1;
}

int sync_rescan(const char *cmd, const struct sync_peer *p, const char *db, char *const *paths,
		size_t n, bool quiet)
{
	char *qdb = log_quote(db, strlen(db));
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		char *err = NULL, *q = log_quote(paths[i], strlen(paths[i]));

		r = control_request(p->socket, "rescan", paths[i], NULL, &err);
		/*
		 * Its answer comes once every job queued before it, ours too, is
		 * committed.  The daemon gives up on a sync after a minute (a
		 * watch that never answers); a long rescan needs more of them.
		 */
		for (int tries = 0; r == 0 && tries < SYNC_RESCAN_TRIES; tries++) {
			r = control_request(p->socket, "sync", paths[i], NULL, &err);
			if (r != -EPROTO || !err || !strstr(err, "timed out"))
				break;
			free(err);
			err = NULL;
		}
		if (r < 0)
			log_error("%s: fsindexd (pid %d) serves index '%s' and did not rescan '%s': %s",
				  cmd, p->pid, qdb ? qdb : db, q ? q : "?",
				  err ? err : fsi_strerror(r));
		else if (!quiet)
			log_info("%s: '%s' rescanned by fsindexd (pid %d), which serves index '%s'",
				 cmd, q ? q : "?", p->pid, qdb ? qdb : db);
		free(err);
		free(q);
	}
	free(qdb);
	return r;
}

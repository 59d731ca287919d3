/* SPDX-License-Identifier: MIT */
/*
 * control.c - the control socket's path, listening socket, request parser,
 * peer check (SO_PEERCRED and SO_PEERGROUPS) and client.  The protocol is
 * in control.h; the daemon's answers are built in daemon-control.c.
 */
#include "control.h"

#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int control_socket_path(bool user, char **ret)
{
	const char *rt;
	char *p;

	if (!user) {
		p = strdup(CONTROL_SYSTEM_PATH);
	} else {
		rt = secure_getenv("XDG_RUNTIME_DIR");
		if ((!rt || rt[0] != '/') && privs_was_setgid()) {
			/* The environment is not read: where systemd-logind puts it. */
			if (asprintf(&p, "/run/user/%u/fsindex/control", (unsigned)getuid()) < 0)
				p = NULL;
		} else if (!rt || rt[0] != '/') {
			return -ENOENT;
		} else if (asprintf(&p, "%s/fsindex/control", rt) < 0) {
			p = NULL;
		}
	}
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int control_listen(const char *path)
{
	struct sockaddr_un sa;
	char *dir, *slash;
	int fd, r;

	r = fill_addr(path, &sa);
	if (r < 0)
		return r;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			free(dir);
			return r;
		}
	}
	free(dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A socket left by a daemon that died; a live one would hold the index's lock. */
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		goto out_close;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 16) < 0) {
		r = -errno;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
}

static const struct {
	const char *name;
	enum control_verb verb;
	bool arg;	/* may take one */
} verbs[] = {
	{ "status", CONTROL_STATUS, false },
	{ "status-json", CONTROL_STATUS_JSON, false },
	{ "reload", CONTROL_RELOAD, false },
	{ "rescan", CONTROL_RESCAN, true },
	{ "sync", CONTROL_SYNC, true },
};

int control_parse(char *line, size_t len, enum control_verb *ret_verb, char **ret_arg)
{
	char *sp, *arg = NULL;
	size_t vlen;

	if (memchr(line, '\0', len))
		return -EINVAL;
	line[len] = '\0';
	sp = strchr(line, ' ');
	vlen = sp ? (size_t)(sp - line) : len;
	if (sp && sp[1])
		arg = sp + 1;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) != vlen || memcmp(verbs[i].name, line, vlen))
			continue;
		if (sp && !verbs[i].arg)
			return -EINVAL;
		if (sp)
			*sp = '\0';
		*ret_verb = verbs[i].verb;
		*ret_arg = arg;
		return 0;
	}
	return -EINVAL;
}

bool control_verb_privileged(enum control_verb verb)
{
	return verb == CONTROL_RELOAD || verb == CONTROL_RESCAN;
}

bool control_may(int fd, uid_t owner, bool group_ok, gid_t group)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t *groups;
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	if (cred.uid == 0 || cred.uid == owner)
		return true;
	if (!group_ok)
		return false;
	if (cred.gid == group)
		return true;
	/* Asked with no room, the kernel says how much it needs (ERANGE). */
	len = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
		return false;
	if (len == 0 || len > NGROUPS_MAX * sizeof(gid_t) || !(groups = malloc(len)))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
			found = groups[i] == group;
	free(groups);
	return found;
}

int control_db_ident(const char *db, dev_t *ret_dev, ino_t *ret_ino)
{
	const char *base = strrchr(db, '/');
	struct stat st;

	if (stat(db, &st) < 0)
		return -errno;
	/* ".../data.mdb" names the same index as its directory. */
	if (S_ISREG(st.st_mode) && strcmp(base ? base + 1 : db, "data.mdb") == 0) {
		char *dir = base ? strndup(db, (size_t)(base - db)) : strdup(".");
		int r = 0;

		if (!dir)
			return -ENOMEM;
		if (stat(*dir ? dir : "/", &st) < 0)
			r = -errno;
		free(dir);
		if (r < 0)
			return r;
	}
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return 0;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy the reply on @fd: body lines to @out, the final line judged. */
static int read_reply(int fd, FILE *out, char **ret_err)
{
	FILE *in = fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = -EPROTO;

	if (!in)
		return -errno;
	while ((n = getline(&line, &cap, in)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (strncmp(line, "+ ", 2) == 0) {
			if (out)
				fprintf(out, "%s\n", line + 2);
			continue;
		}
		if (strcmp(line, "OK") == 0) {
			r = 0;
		} else if (strncmp(line, "ERR ", 4) == 0 && ret_err) {
			*ret_err = strdup(line + 4);
		}
		break;
	}
	if (n < 0 && ret_err && !*ret_err)
		*ret_err = strdup("the daemon closed the connection without an answer");
	free(line);
	fclose(in);
	return r;
}

int control_request(const char *path, const char *verb, const char *arg, FILE *out,
		    char **ret_err)
{
	struct sockaddr_un sa;
	char *req;
	int fd, r, n;

	r = fill_addr(path, &sa);
	if (r < 0)
		return r;
	n = arg ? asprintf(&req, "%s %s\n", verb, arg) : asprintf(&req, "%s\n", verb);
	if (n < 0)
		return -ENOMEM;
	if (n > CONTROL_MAX_LINE) {
		free(req);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	r = send_all(fd, req, (size_t)n);
	if (r < 0) {
		close(fd);
		goto out;
	}
	r = read_reply(fd, out, ret_err);	/* closes fd */
out:
	free(req);
	return r;
}

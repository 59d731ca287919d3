/* SPDX-License-Identifier: MIT */
/*
 * test-control.c - the control socket's request parser (every verb, an
 * argument only where one is taken, NUL bytes and unknown verbs refused),
 * its paths, and a round trip through control_listen() and
 * control_request() against a one-shot server in this process, and (as
 * root) control_may() against callers of other uids and groups.
 */
#include "control.h"

#include "tap.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse(const char *s, enum control_verb *v, char *arg, size_t argsz)
{
	char buf[CONTROL_MAX_LINE + 1], *a;
	size_t n = strlen(s);
	int r;

	memcpy(buf, s, n);
	r = control_parse(buf, n, v, &a);
	if (r == 0)
		snprintf(arg, argsz, "%s", a ? a : "(none)");
	return r;
}

static void test_parse(void)
{
	enum control_verb v;
	char arg[64], nul[] = "status\0x";
	char *a;

	ok(parse("status", &v, arg, sizeof(arg)) == 0 && v == CONTROL_STATUS &&
		   !strcmp(arg, "(none)"), "status");
	ok(parse("status-json", &v, arg, sizeof(arg)) == 0 && v == CONTROL_STATUS_JSON,
	   "status-json");
	ok(parse("reload", &v, arg, sizeof(arg)) == 0 && v == CONTROL_RELOAD, "reload");
	ok(parse("rescan", &v, arg, sizeof(arg)) == 0 && v == CONTROL_RESCAN &&
		   !strcmp(arg, "(none)"), "rescan without a path");
	ok(parse("rescan /a b", &v, arg, sizeof(arg)) == 0 && v == CONTROL_RESCAN &&
		   !strcmp(arg, "/a b"), "rescan with a path that has a blank");
	ok(parse("reload now", &v, arg, sizeof(arg)) == -EINVAL, "reload takes no argument");
	ok(parse("statu", &v, arg, sizeof(arg)) == -EINVAL, "a prefix of a verb is refused");
	ok(parse("statusx", &v, arg, sizeof(arg)) == -EINVAL, "a longer word is refused");
	ok(parse("", &v, arg, sizeof(arg)) == -EINVAL, "an empty line is refused");
	ok(control_parse(nul, sizeof(nul) - 1, &v, &a) == -EINVAL, "a NUL byte is refused");
	ok(parse("sync", &v, arg, sizeof(arg)) == 0 && v == CONTROL_SYNC &&
		   !strcmp(arg, "(none)"), "sync without a path");
	ok(parse("sync /r/x", &v, arg, sizeof(arg)) == 0 && v == CONTROL_SYNC &&
		   !strcmp(arg, "/r/x"), "sync with a path");
	ok(!control_verb_privileged(CONTROL_SYNC), "sync is anyone's");
	ok(control_verb_privileged(CONTROL_RELOAD) && control_verb_privileged(CONTROL_RESCAN) &&
		   !control_verb_privileged(CONTROL_STATUS) &&
		   !control_verb_privileged(CONTROL_STATUS_JSON),
	   "reload and rescan are privileged, status is not");
}

static void test_paths(void)
{
	char *p = NULL;

	ok(control_socket_path(false, &p) == 0 && !strcmp(p, CONTROL_SYSTEM_PATH), "system path");
	free(p);
	setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
	p = NULL;
	ok(control_socket_path(true, &p) == 0 && !strcmp(p, "/run/user/42/fsindex/control"),
	   "per-user path");
	free(p);
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	ok(control_socket_path(true, &p) == -ENOENT, "a relative XDG_RUNTIME_DIR is not used");
}

/* Answer one request: echo the line as a body line, then OK or ERR. */
static void *serve_one(void *arg)
{
	int lfd = *(int *)arg, fd;
	char buf[256];
	ssize_t n;

	do
		fd = accept(lfd, NULL, NULL);
	while (fd < 0 && errno == EAGAIN && usleep(1000) == 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n - 1 : 0] = '\0';
	dprintf(fd, "+ got %s\n%s\n", buf, strncmp(buf, "bad", 3) ? "OK" : "ERR no good");
	close(fd);
	return NULL;
}

static void test_round_trip(void)
{
	char dir[] = "/tmp/test-control.XXXXXX", path[64], *out = NULL, *err = NULL;
	size_t outlen = 0;
	pthread_t t;
	FILE *f;
	int lfd, r;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/sub/control", dir);
	lfd = control_listen(path);
	ok(lfd >= 0, "control_listen() makes the directory and listens (%d)", lfd);
	f = open_memstream(&out, &outlen);
	pthread_create(&t, NULL, serve_one, &lfd);
	r = control_request(path, "rescan", "/x", f, &err);
	pthread_join(t, NULL);
	fclose(f);
	ok(r == 0 && out && !strcmp(out, "got rescan /x\n"), "a request and its body lines");
	free(out);
	pthread_create(&t, NULL, serve_one, &lfd);
	f = open_memstream(&out, &outlen);
	r = control_request(path, "bad", NULL, f, &err);
	pthread_join(t, NULL);
	fclose(f);
	ok(r == -EPROTO && err && !strcmp(err, "no good"), "ERR gives -EPROTO and its text");
	free(out);
	free(err);
	close(lfd);
	unlink(path);
	ok(control_request(path, "status", NULL, stdout, NULL) == -ENOENT, "no socket: -ENOENT");
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

/*
 * Accept a connection from a child that became uid 65534, gid @gid with
 * supplementary group @extra, and ask control_may() of it.
 */
static bool may_child(gid_t gid, gid_t extra, uid_t owner, bool group_ok, gid_t group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, fd, st;
	bool r = false;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/test-control-may.%d", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    chmod(sa.sun_path, 0666) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		if (setgroups(1, &extra) < 0 || setgid(gid) < 0 || setuid(65534) < 0 ||
		    connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(1);
		(void)!read(c, &st, 1);	/* until the parent closes */
		_exit(0);
	}
	/* A child that could not connect must not hang the test. */
	fd = poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1, 5000) == 1
		     ? accept(lfd, NULL, NULL) : -1;
	if (fd >= 0)
		r = control_may(fd, owner, group_ok, group);
	if (fd >= 0)
		close(fd);
	waitpid(pid, &st, 0);
	close(lfd);
	unlink(sa.sun_path);
	return r;
}

static void test_may(void)
{
	if (geteuid() != 0) {
		for (int i = 0; i < 5; i++)
			skip("control_may() needs root to make callers of other uids");
		return;
	}
	ok(!may_child(5000, 5001, 1000, true, 4321), "a stranger may not");
	ok(may_child(5000, 5001, 1000, true, 5001), "a member by a supplementary group may");
	ok(may_child(5000, 5001, 1000, true, 5000), "a member by the primary group may");
	ok(!may_child(5000, 5001, 1000, false, 5001), "...not when groups do not count (--user)");
	ok(may_child(5000, 5001, 65534, false, 0), "the daemon's own uid may");
}

int main(void)
{
	plan_lazy();
	test_parse();
	test_paths();
	test_round_trip();
	test_may();
	return done_testing();
}

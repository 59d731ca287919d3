/* SPDX-License-Identifier: MIT */
/*
 * test-cancel.c - signals become a stop request taken by one thread: the
 * first SIGTERM (or SIGINT, SIGHUP) sets the token, threads started after
 * see it, no system call is interrupted, and a second SIGTERM ends the
 * process as if nothing caught it - unless it comes within a tenth of a
 * second, as the same signal sent twice (timeout(1) does that).  Each case
 * runs in a child process, since the signal thread lives until exit.  Tokens
 * nest: a request reaches the tokens below, never above or beside.
 */
#include "cancel.h"

#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

/* Wait up to 5 s for @c; returns whether it was requested. */
static bool await(const struct cancel *c)
{
	for (int i = 0; i < 5000 && !cancel_requested(c); i++)
		nap();
	return cancel_requested(c);
}

static struct cancel token;

static void *reader(void *arg)
{
	int *fds = arg;
	char b;

	/* Blocked in read(2) while the signal comes: it must not see EINTR. */
	return (void *)(long)(read(fds[0], &b, 1) == 1 ? 0 : errno);
}

/*
 * The child: exit status 0 when all is as it should be, else a code.
 * @twice: signal again @gap_ms after the first was taken.
 */
static int child(int twice, int sig, int gap_ms)
{
	pthread_t t;
	int fds[2];
	void *res;

	if (cancel_on_signals(&token) < 0)
		return 10;
	if (pipe(fds) < 0 || pthread_create(&t, NULL, reader, fds) != 0)
		return 11;
	nap();
	kill(getpid(), sig);
	if (!await(&token))
		return 12;
	if (atomic_load(&token.sig) != sig)
		return 13;
	if (write(fds[1], "x", 1) != 1 || pthread_join(t, &res) != 0 || res)
		return 14; /* the read was interrupted */
	if (twice) {
		nanosleep(&(struct timespec){ .tv_sec = gap_ms / 1000,
					      .tv_nsec = gap_ms % 1000 * 1000000L }, NULL);
		kill(getpid(), sig);
		for (int i = 0; i < 200; i++)
			nap();
		return 15; /* still alive a fifth of a second after the second */
	}
	return 0;
}

static int run(int twice, int sig, int gap_ms)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(child(twice, sig, gap_ms));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

int main(void)
{
	int st;

	plan_lazy();
	st = run(0, SIGTERM, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "SIGTERM sets the token, a read in another thread is not interrupted (status %#x)", st);
	st = run(0, SIGINT, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGINT sets the token (status %#x)", st);
	st = run(1, SIGTERM, 150);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	   "a second SIGTERM ends the process by the signal (status %#x)", st);
	st = run(1, SIGINT, 150);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT,
	   "a second SIGINT ends the process by the signal (status %#x)", st);
	st = run(1, SIGTERM, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 15,
	   "the same SIGTERM sent twice at once (timeout(1) does) stops it gracefully (status %#x)",
	   st);
	st = run(1, SIGHUP, 150);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 15, "a second SIGHUP does not (status %#x)", st);

	struct cancel c = {0};

	ok(!cancel_requested(&c) && !cancel_requested(NULL), "a fresh token, and none, are not set");
	cancel_request(&c, 0);
	ok(cancel_requested(&c), "a request without a signal number sets it too");
	cancel_request(&c, SIGTERM);
	ok(atomic_load(&c.sig) == -1, "the first request's reason stays");

	struct cancel root, mid, leaf, other;

	cancel_init(&root, NULL);
	cancel_init(&mid, &root);
	cancel_init(&leaf, &mid);
	cancel_init(&other, &root);
	cancel_request(&leaf, SIGHUP);
	ok(cancel_requested(&leaf) && cancel_reason(&leaf) == SIGHUP,
	   "a request on a child token sets it, with its reason");
	ok(!cancel_requested(&mid) && !cancel_requested(&root) && !cancel_requested(&other) &&
		   cancel_reason(&root) == 0,
	   "...and travels neither up nor to a sibling");
	cancel_request(&root, SIGTERM);
	ok(cancel_requested(&mid) && cancel_requested(&other) && cancel_reason(&other) == SIGTERM,
	   "a request on the root reaches every token under it, with the root's reason");
	ok(cancel_reason(&leaf) == SIGHUP, "a token's own reason comes before its parent's");
	ok(cancel_reason(NULL) == 0, "cancel_reason(NULL) is 0");
	return done_testing();
}

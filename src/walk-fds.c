/* SPDX-License-Identifier: MIT */
/*
 * walk-fds.c - the descriptor budget of a walk (and of dups' reads).
 *
 * walk_fd_plan() sizes the workers, the reads in flight and the directory
 * cache from what RLIMIT_NOFILE leaves free when the walk starts, so a walk
 * within its plan never meets EMFILE.  What a walk does when it meets it
 * anyway is in walk.c ("Descriptors"); walk_fd_backoff() is how long it
 * waits between tries.
 */
#include "walk-priv.h"

#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* The soft RLIMIT_NOFILE is raised toward the hard one up to this (walk_fds_free()). */
#define FD_RAISE_MAX 65536
/* Descriptors walk_fds_free() looks at: the plan caps the cache at 1024 anyway. */
#define FD_COUNT_MAX 4096

int walk_fds_free(unsigned *ret_limit)
{
	struct rlimit rl;
	unsigned limit, used = 0, n;
	struct pollfd *pfds;
	const char *env;
	int r;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	/* Nothing here uses select(): take what the hard limit allows, within reason. */
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < FD_RAISE_MAX) {
		rl.rlim_cur = rl.rlim_max < FD_RAISE_MAX ? rl.rlim_max : FD_RAISE_MAX;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	limit = rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned)rl.rlim_cur;
	/*
	 * One poll(2) tells the open descriptors from the closed ones (POLLNVAL),
	 * without listing /proc/self/fd.  Past FD_COUNT_MAX the budget is capped
	 * long before the count would matter (walk_fd_plan()).
	 */
	n = limit < FD_COUNT_MAX ? limit : FD_COUNT_MAX;
	pfds = calloc(n ? n : 1, sizeof(*pfds));
	if (!pfds)
		return -ENOMEM;
	for (unsigned fd = 0; fd < n; fd++)
		pfds[fd].fd = (int)fd;
	if (poll(pfds, n, 0) < 0) {
		r = -errno;
		free(pfds);
		return r;
	}
	for (unsigned fd = 0; fd < n; fd++)
		used += !(pfds[fd].revents & POLLNVAL);
	free(pfds);
	*ret_limit = limit;
	/* Tests: plan for this many, to meet EMFILE mid-walk and adapt to it. */
	env = secure_getenv("FSINDEX_DEBUG_FDS");
	if (env && *env)
		return (int)strtoul(env, NULL, 10);
	return used < limit ? (int)(limit - used) : 0;
}

/*
 * Descriptors one io_uring worker may hold with @depth reads in flight: the
 * ring, a file per read, the directory of each read (pinned until it ends),
 * the directory being listed and one being opened in it.
 */
static unsigned uring_worker_fds(unsigned depth)
{
	return 1 + depth + depth + 2;
}

unsigned walk_fd_min(int io_mode)
{
	return io_mode == RING_URING ? uring_worker_fds(1) : WALK_MIN_FDS;
}

/*
 * Within the plan the walk never holds more than @nfree descriptors: with
 * the cache at C and P of its directories pinned, at most max(C, P + 1) are
 * open in it (an insert evicts idle ones down to C), P is at most
 * jobs * (depth + 2) and the rest of each worker's is 1 + depth (io_uring:
 * the ring and a file per read) or one file (pread), and C is what is left
 * once those are set aside.
 */
int walk_fd_plan(unsigned nfree, unsigned jobs, int io_mode, struct walk_fd_plan *ret)
{
	struct walk_fd_plan p = { .io_mode = io_mode, .depth = WALK_HASH_DEPTH };
	unsigned per, other;

	if (nfree < walk_fd_min(io_mode))
		return -EMFILE;
	if (jobs == 0)
		jobs = 1;
	if (jobs > nfree / walk_fd_min(io_mode))
		jobs = nfree / walk_fd_min(io_mode);
	per = nfree / jobs;
	if (io_mode != RING_SYNC && per < uring_worker_fds(1))
		p.io_mode = RING_SYNC; /* RING_AUTO: pread needs two a worker */
	else if (io_mode != RING_SYNC && per < uring_worker_fds(WALK_HASH_DEPTH))
		p.depth = (per - 3) / 2;
	other = p.io_mode == RING_SYNC ? jobs : jobs * (1 + p.depth);
	p.cache = nfree - other;
	if (p.cache > WALK_DEFAULT_FD_BUDGET)
		p.cache = WALK_DEFAULT_FD_BUDGET;
	p.jobs = jobs;
	*ret = p;
	return 0;
}

void walk_fd_backoff(unsigned tries)
{
	if (tries < 100)
		sched_yield();
	else
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

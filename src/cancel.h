/* SPDX-License-Identifier: MIT */
/*
 * cancel.h - a request to stop that any thread may set and read, and the one
 * place where SIGINT, SIGTERM and SIGHUP become such a request.
 *
 * Signals are blocked in every thread (the mask is set before any other
 * thread starts, and threads inherit it) and taken by one thread with
 * sigwait(), so no system call is ever interrupted (EINTR) and no handler
 * runs inside a worker; the long loops (walk, reads, actions) poll the token.
 *
 * Tokens nest: a token may name a parent, and counts as requested once it or
 * any ancestor is.  The process has one root token, set by the signal thread;
 * each job group of the pool has one whose parent is that root (task.h), so
 * a job stops when it is cancelled alone or when the process is asked to
 * stop, and code that polls a token need not know which.  A request never
 * travels up: cancelling a child leaves its parent and siblings alone.
 */
#ifndef FSINDEX_CANCEL_H
#define FSINDEX_CANCEL_H

#include <stdatomic.h>
#include <stdbool.h>

/**
 * Zero-initialise (static storage, or `= {0}`), or cancel_init() to give it
 * a parent; never reset once set.  @parent is borrowed, set before the token
 * is shared and never changed: it must outlive the token.
 */
struct cancel {
	atomic_int sig;		     /* the signal that asked to stop, or another nonzero reason */
	const struct cancel *parent; /* requested too when this is; NULL: none */
};

/** Make @c a fresh token (not requested) under @parent (may be NULL). */
void cancel_init(struct cancel *c, const struct cancel *parent);

/**
 * Has a stop been requested of @c or of one of its ancestors?  @c may be
 * NULL (never).  Any thread.
 */
static inline bool cancel_requested(const struct cancel *c)
{
	for (; c; c = c->parent) {
		if (atomic_load_explicit(&c->sig, memory_order_relaxed))
			return true;
	}
	return false;
}

/**
 * The reason given with the nearest request on @c's chain: @c's own, else
 * its parent's, and so on; 0 when none was requested.  Any thread.
 */
int cancel_reason(const struct cancel *c);

/**
 * Ask @c (and so every token under it) to stop, for reason @sig (a signal
 * number, say; 0 is recorded as -1).  The first request's reason stays.
 * Any thread.
 */
void cancel_request(struct cancel *c, int sig);

/**
 * Block SIGINT, SIGTERM and SIGHUP in the calling thread and start a thread
 * that waits for them: the first sets @c (borrowed, must live until exit);
 * a second SIGINT or SIGTERM, a tenth of a second or more later, ends the
 * process at once, the default way, for the user who does not want to wait.
 * Call it from main before any other thread exists, so that they all
 * inherit the mask.  Returns 0 or -errno.
 */
int cancel_on_signals(struct cancel *c);

#endif /* FSINDEX_CANCEL_H */

/* SPDX-License-Identifier: MIT */
/*
 * cancel.h - a request to stop that any thread may set and read, and the one
 * place where SIGINT, SIGTERM and SIGHUP become such a request.
 *
 * Signals are blocked in every thread (the mask is set before any other
 * thread starts, and threads inherit it) and taken by one thread with
 * sigwait(), so no system call is ever interrupted (EINTR) and no handler
 * runs inside a worker; the long loops (walk, reads, actions) poll the token.
 */
#ifndef FSINDEX_CANCEL_H
#define FSINDEX_CANCEL_H

#include <stdatomic.h>
#include <stdbool.h>

/** Zero-initialise (static storage, or `= {0}`); never reset once set. */
struct cancel {
	atomic_int sig; /* the signal that asked to stop, or another nonzero reason */
};

/** Has a stop been requested?  @c may be NULL (never).  Any thread. */
static inline bool cancel_requested(const struct cancel *c)
{
	return c && atomic_load_explicit(&c->sig, memory_order_relaxed);
}

/** Ask to stop, for reason @sig (nonzero: a signal number, say).  Any thread. */
void cancel_request(struct cancel *c, int sig);

/**
 * Block SIGINT, SIGTERM and SIGHUP in the calling thread and start a thread
 * that waits for them: the first sets @c (borrowed, must live until exit);
 * a second SIGINT or SIGTERM, a tenth of a second or more later, ends the
 * process at once, the default way, for the user who does not want to wait.  Call it from main before any other
 * thread exists, so that they all inherit the mask.  Returns 0 or -errno.
 */
int cancel_on_signals(struct cancel *c);

#endif /* FSINDEX_CANCEL_H */

/* SPDX-License-Identifier: MIT */
/*
 * cancel.c - stop requests, and the signal thread that makes them (see
 * cancel.h).  The thread owns nothing and is never joined: it lives until
 * the process exits.
 */
#include "cancel.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

void cancel_request(struct cancel *c, int sig)
{
	int none = 0;

	atomic_compare_exchange_strong(&c->sig, &none, sig ? sig : -1);
}

static void stop_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

static void *signal_thread(void *arg)
{
	struct cancel *c = arg;
	sigset_t set;
	int sig;

	stop_set(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (!cancel_requested(c) || sig == SIGHUP) {
			cancel_request(c, sig);
			continue;
		}
		/* Asked twice: die of it, as if nothing had caught the first. */
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
	}
	return NULL;
}

int cancel_on_signals(struct cancel *c)
{
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t set;
	int r;

	stop_set(&set);
	r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (r)
		return -r;
	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* It only waits: the smallest stack will do. */
	pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN > 65536 ? PTHREAD_STACK_MIN : 65536);
	r = pthread_create(&thread, &attr, signal_thread, c);
	pthread_attr_destroy(&attr);
	return -r;
}

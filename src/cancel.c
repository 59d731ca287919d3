/* SPDX-License-Identifier: MIT */
/*
 * cancel.c - stop requests, nested tokens, and the signal thread that makes
 * the root one's requests (see cancel.h).  The thread owns nothing and is
 * never joined: it lives until the process exits.
 */
#include "cancel.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

/*
 * A second SIGINT or SIGTERM this soon after the first is the same request
 * delivered twice, not a user's second one: timeout(1) sends its child the
 * signal it gets and then again to the whole process group.
 */
#define AGAIN_NS (100 * 1000000LL)

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cancel_init(struct cancel *c, const struct cancel *parent)
{
	atomic_init(&c->sig, 0);
	c->parent = parent;
}

int cancel_reason(const struct cancel *c)
{
	for (; c; c = c->parent) {
		int sig = atomic_load_explicit(&c->sig, memory_order_relaxed);

		if (sig)
			return sig;
	}
	return 0;
}

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
	long long first = 0;
	sigset_t set;
	int sig;

	stop_set(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (!first) {
			first = now_ns();
			cancel_request(c, sig);
			continue;
		}
		if (sig == SIGHUP || now_ns() - first < AGAIN_NS)
			continue;
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

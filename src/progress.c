/* SPDX-License-Identifier: MIT */
/*
 * progress.c - terminal progress for scans.  The walk only bumps relaxed
 * atomic counters; this thread reads them every 200 ms, so progress costs
 * the walkers nothing.
 */
#include "progress.h"

#include "walk.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int fd;
	struct walk_stats *stats;
};

static void draw(struct progress *p)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), "\r\033[K%llu dirs, %llu files, %llu errors, %llu pending",
		     (unsigned long long)atomic_load(&p->stats->dirs),
		     (unsigned long long)atomic_load(&p->stats->files),
		     (unsigned long long)atomic_load(&p->stats->errors),
		     (unsigned long long)atomic_load(&p->stats->pending));
	if (n > 0 && write(p->fd, line, (size_t)n) < 0)
		return;
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (!p->stop)
			draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	if (write(p->fd, "\r\033[K", 4) < 0)
		return NULL;
	return NULL;
}

int progress_start(int fd, struct walk_stats *stats, struct progress **ret)
{
	struct progress *p;

	*ret = NULL;
	if (!isatty(fd))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->stats = stats;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
		free(p);
		return 0;	/* no progress is no failure */
	}
	*ret = p;
	return 0;
}

void progress_stop(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

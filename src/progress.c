/* SPDX-License-Identifier: MIT */
/*
 * progress.c - terminal progress.  Workers only bump relaxed atomic
 * counters; this thread formats them every 200 ms through the caller's
 * function, so progress costs the workers nothing.
 */
#include "progress.h"

#include "walk.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int fd;
	progress_fn *fn;
	void *ctx;
};

static void draw(struct progress *p)
{
	char line[200] = "\r\033[K";
	size_t pre = strlen(line);

	p->fn(p->ctx, line + pre, sizeof(line) - pre);
	if (write(p->fd, line, strlen(line)) < 0)
		return;
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	/* A first frame at once, so even a short run shows what it is doing. */
	draw(p);
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

int progress_start(int fd, progress_fn *fn, void *ctx, struct progress **ret)
{
	struct progress *p;

	*ret = NULL;
	if (!isatty(fd))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->fn = fn;
	p->ctx = ctx;
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

static void walk_line(void *ctx, char *buf, size_t size)
{
	const struct walk_stats *s = ctx;

	snprintf(buf, size, "%llu dirs, %llu files, %llu errors, %llu pending",
		 (unsigned long long)atomic_load(&s->dirs), (unsigned long long)atomic_load(&s->files),
		 (unsigned long long)atomic_load(&s->errors),
		 (unsigned long long)atomic_load(&s->pending));
}

void progress_scan_start(void *ctx, struct walk_stats *stats)
{
	progress_start(STDERR_FILENO, walk_line, stats, ctx);
}

void progress_scan_end(void *ctx)
{
	struct progress **p = ctx;

	progress_stop(*p);
	*p = NULL;
}

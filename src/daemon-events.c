/* SPDX-License-Identifier: MIT */
/*
 * daemon-events.c - fsindexd's source of file events (daemon-events.h).
 *
 * ===== NO EVENT SOURCE YET =====
 * This is the stand-in used until src/watch.h lands: it watches nothing,
 * so every root is "periodic" (kept up to date by the start-up reconcile
 * and the reconcile interval alone).  To plug watch.h in, replace the
 * bodies below:
 *   daemon_events_new()      watch_new() with opts from the config, then
 *                            watch_add_root() for each cfg->roots[i].path
 *                            (remember which roots took: their mode)
 *   daemon_events_fd()       watch_fd()
 *   daemon_events_process()  watch_process(w, now_ns, emit, ctx), with
 *                            WATCH_SUBTREE -> DAEMON_EVENT_SUBTREE and
 *                            WATCH_OVERFLOW -> DAEMON_EVENT_OVERFLOW
 *   daemon_events_deadline() watch_next_deadline()
 *   daemon_events_mode()     "fanotify" / "inotify" / "periodic" per root
 *   daemon_events_free()     watch_free()
 * Nothing else in the daemon needs to change.
 */
#include "daemon-events.h"

#include "config.h"

#include <errno.h>
#include <stdlib.h>

struct daemon_events {
	int unused;
};

int daemon_events_new(const struct config *cfg, struct daemon_events **ret)
{
	struct daemon_events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	*ret = ev;
	return 0;
}

int daemon_events_fd(const struct daemon_events *ev)
{
	return -1;
}

int daemon_events_process(struct daemon_events *ev, int64_t now_ns, daemon_event_fn *fn,
			  void *ctx)
{
	return 0;
}

int64_t daemon_events_deadline(const struct daemon_events *ev)
{
	return INT64_MAX;
}

const char *daemon_events_mode(const struct daemon_events *ev, const char *path)
{
	return "periodic";
}

void daemon_events_free(struct daemon_events *ev)
{
	free(ev);
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon-priv.h - what daemon.c (the main loop), daemon-job.c (the job
 * thread) and daemon-control.c (control requests) share.
 *
 * Threads: the main loop owns everything but what `lock` guards; the job
 * thread runs one job at a time from `queue` and writes the root
 * statistics and `state` under `lock`.  Configurations are counted: a job
 * holds the one it started with across a reload.
 */
#ifndef FSINDEX_DAEMON_PRIV_H
#define FSINDEX_DAEMON_PRIV_H

#include "cancel.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct daemon_events;
struct engine;
struct pathmap;
struct store;

/** A configuration shared by the loop and the job running. */
struct daemon_cfg {
	struct config *cfg;
	char **real;		/* its roots' real paths, resolved once at load (NULL: the
				   root did not resolve then; reconciles try again) */
	unsigned refs;		/* under daemon.lock */
};

/** What `fsindex status` says of one root. */
struct daemon_root {
	char *path;
	int64_t last_rt;	/* CLOCK_REALTIME s of the last reconcile's start; 0: never */
	int64_t last_ns;	/* its duration */
	int last_r;		/* its result: 0 or -errno */
	uint64_t errors;	/* entries it could not read */
};

enum daemon_job_kind {
	DAEMON_JOB_RECONCILE,	/* scan_run() of every root, one at a time */
	DAEMON_JOB_RESCAN,	/* rescan_batch() of the directories in `set` */
	DAEMON_JOB_BARRIER,	/* nothing: every job queued before it is committed */
	DAEMON_JOB_RENAMES,	/* daemon-rename.c: renames in place, then as RESCAN */
	DAEMON_JOB_DROP,	/* rootdrop_run() of roots taken out of the configuration */
};

struct daemon_job {
	struct daemon_job *next;
	enum daemon_job_kind kind;
	char **paths;		/* what a job works on (free()d with it) */
	size_t npaths;
	unsigned flags;
	struct pathmap *set;	/* DAEMON_JOB_RESCAN: directory -> RESCAN_* flags, walked
				   in one job, so a directory moved between two of them
				   keeps its identity */
	uint64_t seq;		/* DAEMON_JOB_BARRIER: its number, from 1 */
	char **renames;		/* DAEMON_JOB_RENAMES: "old\0new\0" each, in order */
	size_t nrenames;
};

struct daemon_sync;

struct daemon {
	bool user;
	const char *config_path;	/* borrowed from daemon_run()'s caller or owned_config */
	char *owned_config;
	char *db;
	bool db_given;		/* --db: the file's db= is not used */
	uid_t uid;
	bool group_ok;		/* group CONTROL_GROUP exists (system daemon) */
	gid_t group;
	int64_t start_ns, start_rt;

	struct store *store;
	struct engine *engine;
	struct cancel stop;	/* SIGTERM: the engine's and every job's root token */
	struct daemon_events *events;
	int sig_fd, listen_fd, wake_fd;
	char *socket_path;	/* NULL when the socket came from systemd */
	uint64_t watchdog_usec;	/* 0: no watchdog */
	int file_delay_ms;	/* $FSINDEXD_TEST_FILE_DELAY_MS */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	struct daemon_cfg *cfg;
	struct daemon_job *queue, **queue_tail;
	struct daemon_job *open_rescan;	/* the queued rescan that new directories join */
	bool reconcile_queued, busy, stopping, thread_started;
	char state[512];		/* STATUS= text; "" until the first job */
	struct daemon_root *roots;
	size_t nroots;
	int64_t next_reconcile_ns;	/* INT64_MAX: none planned */
	uint64_t events_seen, jobs_done;
	uint64_t renames_applied, renames_rescanned;	/* daemon-rename.c */
	uint64_t barrier_seq, barrier_done;	/* the last barrier queued, and run */
	pthread_t thread;

	/* The main loop's: `sync` requests waiting (daemon-sync.c). */
	struct daemon_sync *syncs;
	uint64_t sync_cookies;
};

/* daemon.c */
/** Take a reference on the current configuration (under d->lock). */
struct daemon_cfg *daemon_cfg_get_locked(struct daemon *d);
/** Drop a reference (takes d->lock). */
void daemon_cfg_put(struct daemon *d, struct daemon_cfg *c);
/** Set STATUS= and the state `status` shows (any thread). */
void daemon_set_state(struct daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Wake the main loop (any thread). */
void daemon_wake(struct daemon *d);
/** Queue the rescans the event source has due (@all: everything pending, settled or not). */
void daemon_take_events(struct daemon *d, bool all);
/** Reload the configuration: 0, or -errno with the reason in *ret_err (caller frees). */
int daemon_reload(struct daemon *d, char **ret_err);

/* daemon-job.c */
/* Directories waiting in the queued rescan at most; past it, a reconcile. */
#define DAEMON_QUEUE_MAX 65536
/** Start the job thread.  0 or -errno. */
int daemon_jobs_start(struct daemon *d);
/** Queue a reconcile of every root, unless one is queued already.  Takes d->lock. */
void daemon_queue_reconcile(struct daemon *d);
/**
 * Queue a rescan of @path (copied) with RESCAN_* @flags: it joins the
 * rescan job still queued, unless a job other than a barrier was queued
 * behind that (then it starts a new one).  A directory is in that job
 * once (a subtree if asked once as one), and not at all below a subtree of
 * it.  0, -ENOMEM, or -ENOSPC when DAEMON_QUEUE_MAX directories wait
 * already (queue a reconcile instead).
 */
int daemon_queue_rescan(struct daemon *d, const char *path, size_t len, unsigned flags);
/**
 * Queue rescans of @paths[0..n) (taken over and free()d, also on failure)
 * one level, as daemon_queue_rescan() does, all in the same job: the
 * directories of one batch of events, so a rename between two of them is
 * a move.  0, -ENOMEM or -ENOSPC.
 */
int daemon_queue_rescans(struct daemon *d, char **paths, size_t n);
/**
 * Queue one job dropping the roots @paths[0..n) (taken over, as
 * daemon_queue_rescans()) from the index, keeping what the configuration
 * current when it runs still has.  0 or -ENOMEM.
 */
int daemon_queue_drop(struct daemon *d, char **paths, size_t n);
/** Queue a barrier job; returns its number (0: out of memory). */
uint64_t daemon_queue_barrier(struct daemon *d);
/** Stop the job thread: the running job is cancelled (d->stop), the queue dropped. */
void daemon_jobs_stop(struct daemon *d);
/** Queue @job (taken over).  Takes d->lock. */
void daemon_queue_job(struct daemon *d, struct daemon_job *job);

/* daemon-rename.c */
/**
 * Append the rename @from (@len bytes; its new path follows, as
 * DAEMON_EVENT_RENAME has it) to @v (*@n of *@cap).  0 or -ENOMEM.
 */
int daemon_rename_add(char ***v, size_t *n, size_t *cap, const char *from, size_t len);
/**
 * Queue one job applying @renames[0..nren) in order, then rescanning
 * @paths[0..n) one level, with the directories of every rename it could
 * not apply.  Takes both arrays over, also on failure.  0 or -ENOMEM.
 */
int daemon_queue_renames(struct daemon *d, char **renames, size_t nren, char **paths, size_t n);
/**
 * Run the renames of @job: each found as it was in the index and as it is
 * on disk is one record moved; the directories of the others are added to
 * job->paths.  0, -ECANCELED, or -ENOMEM (job->paths is then what it could be).
 */
int daemon_apply_renames(struct daemon *d, struct daemon_job *job);

/* daemon-control.c */
/** Serve one connection accepted on the control socket, then close @fd. */
void daemon_control_serve(struct daemon *d, int fd);

/* daemon-sync.c: the `sync` request, all on the main loop. */
/** Start serving `sync` on connection @fd (taken over) for @arg (NULL: every root). */
void daemon_sync_start(struct daemon *d, int fd, const char *arg);
/** Directory @dir was emitted by the event source with DAEMON_EVENT_* @flags. */
void daemon_sync_event(struct daemon *d, const char *dir, size_t len, unsigned flags);
/** After the events of one pass are queued: a barrier behind them for the syncs they complete. */
void daemon_sync_queue(struct daemon *d);
/** A job ended or @now_ns passed a deadline: answer what is done or too old. */
void daemon_sync_answer(struct daemon *d, int64_t now_ns);
/** The first sync's deadline (CLOCK_MONOTONIC ns), INT64_MAX for none. */
int64_t daemon_sync_deadline(const struct daemon *d);
/** Drop every waiting sync (their clients see the connection close). */
void daemon_sync_free(struct daemon *d);

#endif /* FSINDEX_DAEMON_PRIV_H */

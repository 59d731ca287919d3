/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - fsindexd's start, main loop, reload and stop.
 *
 * One thread polls everything that can happen:
 *
 *   signalfd  SIGTERM/SIGINT: STOPPING=1, cancel the job, commit, exit 0
 *             SIGHUP: RELOADING=1, re-read fsindex.conf, READY=1
 *   control   one request per connection (daemon-control.c)
 *   wake_fd   the job thread finished a job (eventfd)
 *   events    the watch module's descriptor (daemon-events.c), once it exists
 *             (and the `sync` requests waiting for them: daemon-sync.c)
 *   timeout   the watchdog (every half of WATCHDOG_USEC) and the next reconcile
 *
 * Scans never run here but on the job thread (daemon-job.c), so a long scan
 * cannot starve the watchdog: if this loop stalls, systemd notices.  The
 * index is opened with the scan lock before READY=1, so queries (which
 * need no daemon) work from then on, answered from the last commit while
 * the start-up reconcile runs.
 */
#include "daemon.h"

#include "cli.h"
#include "config.h"
#include "control.h"
#include "daemon-events.h"
#include "daemon-priv.h"
#include "engine.h"
#include "errors.h"
#include "log.h"
#include "rescan.h"
#include "ring.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SYSTEM_DB "/var/lib/fsindex"

/* ---- shared with the job thread ----------------------------------------- */

static void cfg_free(struct daemon_cfg *c)
{
	for (size_t i = 0; c->real && i < c->cfg->nroots; i++)
		free(c->real[i]);
	free(c->real);
	config_free(c->cfg);
	free(c);
}

struct daemon_cfg *daemon_cfg_get_locked(struct daemon *d)
{
	d->cfg->refs++;
	return d->cfg;
}

void daemon_cfg_put(struct daemon *d, struct daemon_cfg *c)
{
	bool last;

	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		cfg_free(c);
}

void daemon_set_state(struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	va_start(ap, fmt);
	vsnprintf(d->state, sizeof(d->state), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", d->state);
	pthread_mutex_unlock(&d->lock);
}

void daemon_wake(struct daemon *d)
{
	uint64_t one = 1;

	if (write(d->wake_fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake the main loop: %s", strerror(errno));
}

/* ---- configuration -------------------------------------------------------- */

/* The roots `status` reports: @cfg's, keeping what is known of those that stay. */
static int set_roots_locked(struct daemon *d, const struct config *cfg)
{
	struct daemon_root *nr = calloc(cfg->nroots + 1, sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nroots; i++) {
		nr[i].path = strdup(cfg->roots[i].path);
		if (!nr[i].path) {
			while (i--)
				free(nr[i].path);
			free(nr);
			return -ENOMEM;
		}
		for (size_t j = 0; j < d->nroots; j++)
			if (d->roots[j].path && strcmp(d->roots[j].path, nr[i].path) == 0) {
				free(nr[i].path);
				nr[i] = d->roots[j];
				d->roots[j].path = NULL;
			}
	}
	for (size_t j = 0; j < d->nroots; j++)
		free(d->roots[j].path);
	free(d->roots);
	d->roots = nr;
	d->nroots = cfg->nroots;
	return 0;
}

/*
 * Load d->config_path.  A missing default file is an empty configuration;
 * a missing --config file is an error.  0 or -errno, *ret_err the reason.
 */
static int load(struct daemon *d, bool explicit, struct config **ret, char **ret_err)
{
	int r = config_load(d->config_path, ret, ret_err);

	if (r == -ENOENT && !explicit) {
		free(*ret_err);
		*ret_err = NULL;
		log_notice("no configuration file '%s': no roots to index", d->config_path);
		return config_parse(d->config_path, "", 0, ret, ret_err);
	}
	return r;
}

/*
 * The real paths of @c's roots, resolved once here rather than per scan or
 * event: a root that does not resolve now (not there yet) gets NULL.
 */
static int resolve_roots(struct daemon_cfg *c)
{
	c->real = calloc(c->cfg->nroots + 1, sizeof(*c->real));
	if (!c->real)
		return -ENOMEM;
	for (size_t i = 0; i < c->cfg->nroots; i++) {
		c->real[i] = realpath(c->cfg->roots[i].path, NULL);
		if (!c->real[i] && errno == ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Make @cfg current (taking it); the old one goes when its last job ends.
 * *ret_old (may be NULL): a reference on the old one, the caller's to put.
 */
static int install_config(struct daemon *d, struct config *cfg, struct daemon_cfg **ret_old)
{
	struct daemon_cfg *c = calloc(1, sizeof(*c)), *old;
	int r;

	if (!c) {
		config_free(cfg);
		return -ENOMEM;
	}
	c->cfg = cfg;
	c->refs = 1;
	r = resolve_roots(c);
	if (r < 0) {
		cfg_free(c);
		return r;
	}
	pthread_mutex_lock(&d->lock);
	r = set_roots_locked(d, cfg);
	old = r < 0 ? c : d->cfg;
	if (r == 0)
		d->cfg = c;
	if (r == 0 && old && ret_old) {
		old->refs++;
		*ret_old = old;
	}
	pthread_mutex_unlock(&d->lock);
	daemon_cfg_put(d, old);
	return r;
}

/*
 * The roots of @old that @now does not have, by real path: their watches
 * are gone already; their entries go in a job (rootdrop.h), behind what is
 * queued.
 */
static void drop_removed(struct daemon *d, const struct daemon_cfg *old,
			 const struct daemon_cfg *now)
{
	char **gone = calloc(old->cfg->nroots + 1, sizeof(*gone));
	size_t n = 0;

	if (!gone)
		return;
	for (size_t i = 0; i < old->cfg->nroots; i++) {
		bool kept = !old->real[i];	/* never resolved: nothing of it indexed */

		for (size_t j = 0; j < now->cfg->nroots && !kept; j++)
			kept = now->real[j] && strcmp(now->real[j], old->real[i]) == 0;
		if (!kept && (gone[n] = strdup(old->real[i])))
			n++;
	}
	if (n)
		daemon_queue_drop(d, gone, n);
	else
		free(gone);
}

int daemon_reload(struct daemon *d, char **ret_err)
{
	struct daemon_cfg *old = NULL;
	struct config *cfg = NULL;
	char *err = NULL;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		   (unsigned long long)(now_mono_ns() / 1000));
	r = config_load(d->config_path, &cfg, &err);
	if (r < 0) {
		if (!err && asprintf(&err, "%s: %s", d->config_path, fsi_strerror(r)) < 0)
			err = NULL;
		log_error("reload failed, keeping the running configuration: %s",
			  err ? err : fsi_strerror(r));
	} else {
		if (cfg->db && !d->db_given && strcmp(cfg->db, d->db))
			log_notice("db = %s takes effect at the next start", cfg->db);
		r = install_config(d, cfg, &old);
		if (r == 0) {
			log_info("configuration reloaded from '%s'", d->config_path);
			/* The loop's thread owns the watch and d->cfg; cfg is d's now. */
			daemon_events_set_roots(d->events, cfg, d->cfg->real);
			if (old)
				drop_removed(d, old, d->cfg);
			daemon_queue_reconcile(d);	/* new roots are taken in at once */
		}
		daemon_cfg_put(d, old);
	}
	pthread_mutex_lock(&d->lock);
	sd_notifyf(0, "READY=1\nSTATUS=%s", d->state);
	pthread_mutex_unlock(&d->lock);
	if (ret_err)
		*ret_err = err;
	else
		free(err);
	return r;
}

/* ---- start -------------------------------------------------------------- */

/* nice and io-class of the scans; the threads made after this inherit them. */
static void set_priority(const struct config *cfg)
{
	int prio;

	if (setpriority(PRIO_PROCESS, 0, cfg->nice) < 0)
		log_warning("cannot set nice %d: %s", cfg->nice, strerror(errno));
	/* ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level); no glibc wrapper. */
	if (cfg->io_class == CONFIG_IO_IDLE)
		prio = 3 << 13;
	else
		prio = 2 << 13 | (cfg->io_level >= 0 ? cfg->io_level : (cfg->nice + 20) / 5);
	if (syscall(SYS_ioprio_set, 1, 0, prio) < 0)
		log_warning("cannot set the I/O priority: %s", strerror(errno));
}

/* The config file, the index location, the credentials callers are checked against. */
static int setup_paths(struct daemon *d, const struct daemon_opts *o, const struct config *cfg)
{
	struct group *g;

	if (o->db)
		d->db = strdup(o->db);
	else if (cfg->db)
		d->db = strdup(cfg->db);
	else if (o->user)
		d->db = cli_db_path(NULL);
	else
		d->db = strdup(DEFAULT_SYSTEM_DB);
	if (!d->db)
		return -ENOMEM;
	d->db_given = o->db != NULL;
	d->uid = geteuid();
	if (!o->user && (g = getgrnam(CONTROL_GROUP))) {
		d->group_ok = true;
		d->group = g->gr_gid;
	}
	return 0;
}

/* The control socket: systemd's (fsindexd.socket), else our own. */
static int setup_socket(struct daemon *d)
{
	int n = sd_listen_fds(1), r;

	if (n > 1) {
		log_error("expected one socket from systemd, got %d", n);
		return -EINVAL;
	}
	if (n == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_error("the socket systemd passed is not a listening AF_UNIX stream socket");
			return -EINVAL;
		}
		d->listen_fd = SD_LISTEN_FDS_START;
		/* on_connection() accepts until EAGAIN: the loop must never block there. */
		if (fcntl(d->listen_fd, F_SETFL, fcntl(d->listen_fd, F_GETFL) | O_NONBLOCK) < 0)
			return -errno;
		return 0;
	}
	if (n < 0)
		log_warning("ignoring the sockets systemd passed: %s", fsi_strerror(n));
	r = control_socket_path(d->user, &d->socket_path);
	if (r < 0) {
		log_error("no place for the control socket: %s",
			  r == -ENOENT ? "XDG_RUNTIME_DIR is not set" : fsi_strerror(r));
		return r;
	}
	r = control_listen(d->socket_path);
	if (r < 0) {
		log_error("cannot listen on '%s': %s", d->socket_path, fsi_strerror(r));
		free(d->socket_path);
		d->socket_path = NULL;
		return r;
	}
	d->listen_fd = r;
	return 0;
}

/* Signals into a signalfd, before any thread starts, so every thread has them blocked. */
static int setup_signals(struct daemon *d)
{
	sigset_t set;

	/* Dispositions survive exec: a launcher that ignored these would hide them. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	sigdelset(&set, SIGPIPE);
	d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0)
		return -errno;
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->wake_fd < 0 ? -errno : 0;
}

static int open_index(struct daemon *d, const struct config *cfg)
{
	struct engine_opts eo = {
		.jobs = cfg->workers,
		.io_mode = RING_AUTO,
		.write = true,
		.cancel = &d->stop,
	};
	struct engine_fd_shortage sh = { 0 };
	int r;

	r = cli_open_store(d->db, STORE_LOCK, &d->store);
	if (r < 0)
		return r;
	r = engine_new(d->store, &eo, &d->engine, &sh);
	if (r == -EMFILE && sh.needed)
		cli_fd_shortage("fsindexd", sh.limit, sh.used, sh.needed);
	else if (r < 0)
		log_error("cannot start the scan engine: %s", fsi_strerror(r));
	return r;
}

/* Everything up to READY=1.  Returns 0 or -errno, with the reason logged. */
static int start(struct daemon *d, const struct daemon_opts *o)
{
	struct config *cfg = NULL;
	char *err = NULL;
	const char *delay = secure_getenv("FSINDEXD_TEST_FILE_DELAY_MS");
	int r;

	if (o->config) {
		d->config_path = o->config;
	} else if ((r = config_default_path(o->user, &d->owned_config)) < 0) {
		log_error("no configuration file: %s",
			  r == -ENOENT ? "neither XDG_CONFIG_HOME nor HOME is set" : fsi_strerror(r));
		return r;
	} else {
		d->config_path = d->owned_config;
	}
	r = load(d, o->config != NULL, &cfg, &err);
	if (r < 0) {
		log_error("%s", err ? err : fsi_strerror(r));
		free(err);
		return r;
	}
	r = setup_paths(d, o, cfg);
	if (r == 0)
		r = install_config(d, cfg, NULL);	/* takes cfg */
	else
		config_free(cfg);
	if (r < 0)
		return r;
	d->file_delay_ms = delay ? atoi(delay) : 0;
	if ((r = setup_signals(d)) < 0)
		return r;
	set_priority(d->cfg->cfg);
	/* The index (and its lock) first: a second daemon must not take the socket. */
	if ((r = open_index(d, d->cfg->cfg)) < 0 || (r = setup_socket(d)) < 0)
		return r;
	if ((r = daemon_events_new(d->cfg->cfg, &d->events)) < 0)
		return r;
	return daemon_jobs_start(d);
}

/* ---- the loop ------------------------------------------------------------ */

/* The one-level directories and renames of one daemon_events_process() call: one job. */
struct batch {
	struct daemon *d;
	char **paths;
	size_t n, cap;
	char **renames;
	size_t nren, ren_cap;
	char **subtrees;	/* when there are renames: queued after them */
	size_t nsub, sub_cap;
	bool failed;
};

static void on_event(void *ctx, const char *dir, size_t len, unsigned flags)
{
	struct batch *b = ctx;
	struct daemon *d = b->d;
	char *p;

	pthread_mutex_lock(&d->lock);
	d->events_seen++;
	pthread_mutex_unlock(&d->lock);
	if (flags & DAEMON_EVENT_RENAME) {
		if (daemon_rename_add(&b->renames, &b->nren, &b->ren_cap, dir, len) < 0)
			b->failed = true;
		return;
	}
	daemon_sync_event(d, dir, len, flags);
	if (flags & DAEMON_EVENT_OVERFLOW) {
		daemon_queue_reconcile(d);
	} else if ((flags & DAEMON_EVENT_SUBTREE) && b->nren) {
		/* Renames come first; a subtree below one is to be walked where it went. */
		if (GROW(b->subtrees, b->sub_cap, b->nsub + 1) ||
		    !(b->subtrees[b->nsub] = strndup(dir, len)))
			b->failed = true;
		else
			b->nsub++;
	} else if (flags & DAEMON_EVENT_SUBTREE) {
		if (daemon_queue_rescan(d, dir, len, 0) < 0)
			daemon_queue_reconcile(d);
	} else if (GROW(b->paths, b->cap, b->n + 1) || !(p = strndup(dir, len))) {
		b->failed = true;
	} else {
		b->paths[b->n++] = p;
	}
}

/*
 * Take in what the event source has: the directories it names one level
 * in one job, so that a directory or file moved between two of them keeps
 * its identity (the walk pairs them), subtrees each a job of its own.  The
 * renames it names exactly go first in that job (daemon-rename.c).
 */
void daemon_take_events(struct daemon *d, bool all)
{
	struct batch b = { .d = d };

	if (all)
		daemon_events_flush(d->events, now_mono_ns(), on_event, &b);
	else
		daemon_events_process(d->events, now_mono_ns(), on_event, &b);
	if (b.nren) {
		if (daemon_queue_renames(d, b.renames, b.nren, b.paths, b.n) < 0)
			b.failed = true;
	} else if (b.n && daemon_queue_rescans(d, b.paths, b.n) < 0)
		b.failed = true;
	else if (!b.n)
		free(b.paths);
	for (size_t i = 0; i < b.nsub; i++) {
		if (daemon_queue_rescan(d, b.subtrees[i], strlen(b.subtrees[i]), 0) < 0)
			b.failed = true;
		free(b.subtrees[i]);
	}
	free(b.subtrees);
	/* Out of memory: what was lost is found by a reconcile. */
	if (b.failed)
		daemon_queue_reconcile(d);
	daemon_sync_queue(d);	/* behind every job these events made */
}

/* After a job: say what we do now, plan the next reconcile. */
static void job_done(struct daemon *d)
{
	uint64_t n;
	bool idle;
	size_t nroots;

	if (read(d->wake_fd, &n, sizeof(n)) < 0)
		return;
	daemon_sync_answer(d, now_mono_ns());
	pthread_mutex_lock(&d->lock);
	idle = !d->busy && !d->queue;
	nroots = d->nroots;
	pthread_mutex_unlock(&d->lock);
	if (idle)
		daemon_set_state(d, "watching %zu roots%s", nroots,
				 daemon_events_fd(d->events) < 0 ? " (periodic reconciles only)" : "");
}

/* SIGTERM/SIGINT: true (stop); SIGHUP: reload. */
static bool on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading '%s'", d->config_path);
			daemon_reload(d, NULL);
		} else {
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
			return true;
		}
	}
	return false;
}

static void on_connection(struct daemon *d)
{
	int fd;

	while ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		daemon_control_serve(d, fd);
}

/* Milliseconds until the first of @deadlines (CLOCK_MONOTONIC ns), for poll(). */
static int timeout_ms(int64_t now, const int64_t *deadlines, size_t n)
{
	int64_t first = INT64_MAX;

	for (size_t i = 0; i < n; i++)
		if (deadlines[i] < first)
			first = deadlines[i];
	if (first == INT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	return (first - now) / 1000000 + 1 > INT32_MAX ? INT32_MAX
						       : (int)((first - now) / 1000000 + 1);
}

static void loop(struct daemon *d)
{
	int64_t next_wd = INT64_MAX, dl[4], now;
	struct pollfd p[4];

	if (d->watchdog_usec)
		next_wd = now_mono_ns();
	for (;;) {
		now = now_mono_ns();
		if (now >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = now + (int64_t)d->watchdog_usec * 1000 / 2;
		}
		pthread_mutex_lock(&d->lock);
		dl[1] = d->next_reconcile_ns;
		pthread_mutex_unlock(&d->lock);
		if (now >= dl[1]) {
			daemon_queue_reconcile(d);
			continue;
		}
		dl[0] = next_wd;
		dl[2] = daemon_events_deadline(d->events);
		dl[3] = daemon_sync_deadline(d);
		if (now >= dl[3])
			daemon_sync_answer(d, now);
		p[0] = (struct pollfd){ .fd = d->sig_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = d->wake_fd, .events = POLLIN };
		p[3] = (struct pollfd){ .fd = daemon_events_fd(d->events), .events = POLLIN };
		if (poll(p, 4, timeout_ms(now, dl, 4)) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return;
		}
		if ((p[0].revents & POLLIN) && on_signal(d))
			return;
		if (p[1].revents & POLLIN)
			on_connection(d);
		if (p[2].revents & POLLIN)
			job_done(d);
		if ((p[3].revents & POLLIN) || now_mono_ns() >= dl[2])
			daemon_take_events(d, false);
	}
}

/* ---- stop ---------------------------------------------------------------- */

/* Stop the job, commit, close.  Returns 0 or the writer's error. */
static int stop(struct daemon *d)
{
	struct store_write_stats ws = { 0 };
	int r;

	daemon_jobs_stop(d);
	daemon_sync_free(d);
	daemon_events_free(d->events);
	r = engine_free(d->engine, &ws);
	if (r < 0)
		log_error("cannot commit to index '%s': %s", d->db, fsi_strerror(r));
	store_close(d->store);
	if (d->socket_path)
		unlink(d->socket_path);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	for (size_t i = 0; i < d->nroots; i++)
		free(d->roots[i].path);
	free(d->roots);
	daemon_cfg_put(d, d->cfg);
	free(d->socket_path);
	free(d->owned_config);
	free(d->db);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	return r;
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon d = {
		.user = o->user,
		.sig_fd = -1,
		.listen_fd = -1,
		.wake_fd = -1,
		.next_reconcile_ns = INT64_MAX,
	};
	int r;

	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	d.queue_tail = &d.queue;
	d.start_ns = now_mono_ns();
	d.start_rt = time(NULL);
	r = start(&d, o);
	if (r < 0) {
		sd_notifyf(0, "STATUS=failed to start: %s\nERRNO=%d", fsi_strerror(r), -r);
		stop(&d);
		return EXIT_FATAL;
	}
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
		d.watchdog_usec = 0;
	log_info("index '%s' open, %zu roots; control socket %s", d.db, d.nroots,
		 d.socket_path ? d.socket_path : "from systemd");
	/* Queries answer from the last commit as soon as the index is open. */
	sd_notify(0, "READY=1");
	/* Watches first, so that nothing the reconcile has listed goes unseen. */
	daemon_set_state(&d, "placing watches");
	daemon_events_set_roots(d.events, d.cfg->cfg, d.cfg->real);
	daemon_set_state(&d, "reconciling");
	daemon_queue_reconcile(&d);	/* start-up always reconciles */
	loop(&d);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	r = stop(&d);
	log_info("stopped");
	return r < 0 ? EXIT_FATAL : EXIT_OK;
}

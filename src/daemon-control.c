/* SPDX-License-Identifier: MIT */
/*
 * daemon-control.c - fsindexd's answers on the control socket (protocol in
 * control.h): read one request, check the caller, answer, close.
 *
 * Requests are served on the main loop, one at a time: each is short (a
 * reload parses a small file; a rescan is only queued; a sync waits for its
 * events with its connection held, off the loop: daemon-sync.c).  A caller
 * that does not send its line within CONTROL_TIMEOUT_MS is dropped, so a
 * stuck client delays the watchdog by that much at most.
 */
#include "daemon-priv.h"

#include "config.h"
#include "control.h"
#include "daemon-events.h"
#include "errors.h"
#include "log.h"
#include "output.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_TIMEOUT_MS 1000	/* a local client writes its line at once */

/* One request line into @buf (CONTROL_MAX_LINE + 1 bytes); its length or -errno. */
static ssize_t read_line(int fd, char *buf)
{
	struct timeval tv = { 0, CONTROL_TIMEOUT_MS * 1000 };
	size_t len = 0;
	ssize_t n;
	char *nl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < CONTROL_MAX_LINE) {
		n = recv(fd, buf + len, CONTROL_MAX_LINE - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl)
			return nl - buf;
	}
	return -EMSGSIZE;
}

static void iso_time(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t file_bytes(const char *db)
{
	struct stat st;
	char *p;
	uint64_t n = 0;

	if (asprintf(&p, "%s/data.mdb", db) < 0)
		return 0;
	if (stat(p, &st) == 0)
		n = (uint64_t)st.st_blocks * 512;
	free(p);
	return n;
}

/* The plain report, as "+ " lines.  Under d->lock. */
static void status_text(struct daemon *d, FILE *out, const struct store_info *si)
{
	char when[32], *q;
	int64_t now = now_mono_ns();

	fprintf(out, "+ fsindexd %s, pid %d, up %lld s\n", PACKAGE_VERSION, (int)getpid(),
		(long long)((now - d->start_ns) / 1000000000));
	fprintf(out, "+ state: %s\n", d->state);
	q = log_quote(d->db, strlen(d->db));
	fprintf(out, "+ index: %s, %llu entries, %llu bytes on disk\n", q ? q : "?",
		(unsigned long long)si->nodes, (unsigned long long)file_bytes(d->db));
	free(q);
	fprintf(out, "+ events: %llu processed; jobs: %llu done%s\n",
		(unsigned long long)d->events_seen, (unsigned long long)d->jobs_done,
		d->busy ? ", one running" : "");
	for (size_t i = 0; i < d->nroots; i++) {
		const struct daemon_root *r = &d->roots[i];

		q = log_quote(r->path, strlen(r->path));
		if (r->last_rt) {
			iso_time(r->last_rt, when, sizeof(when));
			fprintf(out, "+ root %s: %s, last reconcile %s, %.2f s, %s\n", q ? q : "?",
				daemon_events_mode(d->events, r->path), when, (double)r->last_ns / 1e9,
				r->last_r == 0 ? "ok" : r->last_r == -ECANCELED ? "interrupted"
									 : fsi_strerror(r->last_r));
		} else {
			fprintf(out, "+ root %s: %s, not reconciled yet\n", q ? q : "?",
				daemon_events_mode(d->events, r->path));
		}
		free(q);
	}
}

/* The same as one JSON object on one "+ " line.  Under d->lock. */
static void status_json(struct daemon *d, FILE *out, const struct store_info *si)
{
	char when[32];
	dev_t dev = 0;
	ino_t ino = 0;

	fprintf(out, "+ {\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%lld,\"state\":", PACKAGE_VERSION,
		(int)getpid(), (long long)((now_mono_ns() - d->start_ns) / 1000000000));
	output_json_string(out, d->state, strlen(d->state));
	fputs(",\"db\":", out);
	output_json_string(out, d->db, strlen(d->db));
	if (control_db_ident(d->db, &dev, &ino) == 0)
		fprintf(out, ",\"db_dev\":%llu,\"db_ino\":%llu", (unsigned long long)dev,
			(unsigned long long)ino);
	fprintf(out, ",\"entries\":%llu,\"disk_bytes\":%llu,\"events\":%llu,\"jobs_done\":%llu,"
		"\"busy\":%s,\"roots\":[", (unsigned long long)si->nodes,
		(unsigned long long)file_bytes(d->db), (unsigned long long)d->events_seen,
		(unsigned long long)d->jobs_done, d->busy ? "true" : "false");
	for (size_t i = 0; i < d->nroots; i++) {
		const struct daemon_root *r = &d->roots[i];

		fputs(i ? ",{\"path\":" : "{\"path\":", out);
		output_json_string(out, r->path, strlen(r->path));
		fprintf(out, ",\"mode\":\"%s\",\"last_reconcile\":", daemon_events_mode(d->events, r->path));
		if (r->last_rt) {
			iso_time(r->last_rt, when, sizeof(when));
			fprintf(out, "\"%s\",\"duration_s\":%.3f,\"result\":", when, (double)r->last_ns / 1e9);
			if (r->last_r == 0)
				fputs("\"ok\"", out);
			else
				output_json_string(out, fsi_strerror(r->last_r), strlen(fsi_strerror(r->last_r)));
			fprintf(out, ",\"errors\":%llu}", (unsigned long long)r->errors);
		} else {
			fputs("null}", out);
		}
	}
	fputs("]}\n", out);
}

/* Is @path at or below a root of the current configuration (the loop's own d->cfg)? */
static bool under_root(const struct daemon *d, const char *path)
{
	const struct daemon_cfg *c = d->cfg;

	for (size_t i = 0; i < c->cfg->nroots; i++) {
		const char *r = c->real[i];
		size_t n = r ? strlen(r) : 0;

		if (r && strncmp(path, r, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/' || n == 1))
			return true;
	}
	return false;
}

/* Answer @verb into @out (a memory stream); the final line included. */
static void answer(struct daemon *d, enum control_verb verb, const char *arg, FILE *out)
{
	struct store_info si = { 0 };
	char *err = NULL;
	int r = -EINVAL;

	switch (verb) {
	case CONTROL_STATUS:
	case CONTROL_STATUS_JSON:
		r = store_info(d->store, &si);
		if (r < 0)
			log_debug("store_info: %s", fsi_strerror(r));
		pthread_mutex_lock(&d->lock);
		(verb == CONTROL_STATUS ? status_text : status_json)(d, out, &si);
		pthread_mutex_unlock(&d->lock);
		fputs("OK\n", out);
		return;
	case CONTROL_RELOAD:
		r = daemon_reload(d, &err);
		break;
	case CONTROL_SYNC:
		break;	/* daemon_control_serve() hands it over */
	case CONTROL_RESCAN:
		if (arg && arg[0] != '/') {
			fputs("ERR rescan: the path must be absolute\n", out);
			return;
		}
		if (arg && !under_root(d, arg)) {
			fputs("ERR rescan: the path is under no root of this daemon\n", out);
			return;
		}
		if (arg)
			r = daemon_queue_rescan(d, arg, strlen(arg), 0);
		else
			daemon_queue_reconcile(d), r = 0;
		break;
	}
	if (r == 0)
		fputs("OK\n", out);
	else
		fprintf(out, "ERR %s\n", err ? err : fsi_strerror(r));
	free(err);
}

static void send_reply(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void daemon_control_serve(struct daemon *d, int fd)
{
	char line[CONTROL_MAX_LINE + 1], *arg, *reply = NULL;
	size_t rlen = 0;
	enum control_verb verb;
	ssize_t len = read_line(fd, line);
	FILE *out;
	int r;

	if (len < 0) {
		log_debug("control: dropped a request: %s", fsi_strerror((int)len));
		goto out;
	}
	r = control_parse(line, (size_t)len, &verb, &arg);
	if (r == 0 && verb == CONTROL_SYNC) {
		daemon_sync_start(d, fd, arg);	/* answered once its events are committed */
		return;
	}
	out = open_memstream(&reply, &rlen);
	if (!out)
		goto out;
	if (r < 0)
		fputs("ERR unknown request\n", out);
	else if (control_verb_privileged(verb) && !control_may(fd, d->uid, d->group_ok, d->group))
		fputs(d->group_ok ? "ERR permission denied (needs root or group " CONTROL_GROUP ")\n"
				  : "ERR permission denied (needs root or the daemon's user)\n", out);
	else
		answer(d, verb, arg, out);
	fclose(out);
	send_reply(fd, reply, rlen);
	free(reply);
out:
	close(fd);
}

/* SPDX-License-Identifier: MIT */
/*
 * nsp-probe.c - the small program the systemd container tests run inside
 * the booted container (tests/systemd/boot.sh), built on the host by
 * nspawn.sh with `cc ... -lsystemd` and copied into the container root.
 *
 *   nsp-probe fanotify DIR [filesystem|mount|inode]
 *	fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID),
 *	fanotify_mark(FAN_MARK_ADD | FAN_MARK_FILESYSTEM) on DIR's filesystem
 *	(or FAN_MARK_MOUNT on its mount, or an inode mark on DIR itself),
 *	create a file in DIR, wait (5 s at most) for its FAN_CREATE event, and
 *	open the reported directory handle with open_by_handle_at(), as the
 *	index daemon will.  Prints one line "init=ok mark=ok event=ok handle=ok"
 *	or names the failing step and its errno ("mark=EXDEV").  Exit status:
 *	0 all steps worked, 10 init failed, 11 mark failed, 12 no event,
 *	13 the handle did not open or names another directory, 1 usage/setup.
 *
 *   nsp-probe daemon [--stop-pinging-after N]
 *	A Type=notify service: sends READY=1 (sd_notify), answers every
 *	connection on the socket(s) passed by socket activation (sd_listen_fds)
 *	with "pong PID\n", pings the watchdog (WATCHDOG=1 every half of
 *	WATCHDOG_USEC) and, as a test hook, stops pinging after N pings.
 *	SIGHUP: RELOADING=1, then READY=1 again, and counts reloads (the reply
 *	becomes "pong PID reloads=N").  SIGTERM: STOPPING=1, exit 0.
 *
 *   nsp-probe connect SOCKET
 *	Connects to the AF_UNIX stream socket, prints what the server says.
 *	Exit 0 when something was read, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* ---- fanotify ---------------------------------------------------------- */

static int probe_fanotify(const char *dir, const char *how)
{
	unsigned int markflag = FAN_MARK_FILESYSTEM;
	char name[64], buf[8192] __attribute__((aligned(8)));
	struct stat want, got;
	struct pollfd pfd;
	int fan, mfd, fd, n;
	ssize_t len;

	mfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0 || fstat(mfd, &want) < 0) {
		printf("setup: open %s: %s\n", dir, errname(errno));
		return 1;
	}
	fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME |
				    FAN_REPORT_FID,
			    O_RDONLY | O_CLOEXEC);
	if (fan < 0) {
		printf("init=%s\n", errname(errno));
		return 10;
	}
	if (strcmp(how, "mount") == 0)
		markflag = FAN_MARK_MOUNT;
	else if (strcmp(how, "inode") == 0)
		markflag = FAN_MARK_INODE;
	if (fanotify_mark(fan, FAN_MARK_ADD | markflag,
			  FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CLOSE_WRITE |
				  FAN_ONDIR | (markflag == FAN_MARK_INODE ? FAN_EVENT_ON_CHILD : 0),
			  AT_FDCWD, dir) < 0) {
		printf("init=ok mark=%s\n", errname(errno));
		return 11;
	}
	snprintf(name, sizeof(name), "nsp-probe.%d", (int)getpid());
	fd = openat(mfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("init=ok mark=ok setup: create %s/%s: %s\n", dir, name, errname(errno));
		return 1;
	}
	close(fd);
	unlinkat(mfd, name, 0);

	pfd = (struct pollfd){ .fd = fan, .events = POLLIN };
	for (n = 0; n < 50; n++) {
		struct fanotify_event_metadata *ev;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		len = read(fan, buf, sizeof(buf));
		if (len <= 0)
			continue;
		for (ev = (void *)buf; FAN_EVENT_OK(ev, len); ev = FAN_EVENT_NEXT(ev, len)) {
			struct fanotify_event_info_fid *fid = (void *)(ev + 1);
			struct file_handle *fh;
			const char *evname;
			int dfd;

			if (!(ev->mask & FAN_CREATE) || ev->event_len <= sizeof(*ev) ||
			    fid->hdr.info_type != FAN_EVENT_INFO_TYPE_DFID_NAME)
				continue;
			fh = (struct file_handle *)fid->handle;
			evname = (const char *)fh->f_handle + fh->handle_bytes;
			if (strcmp(evname, name) != 0)
				continue;
			dfd = open_by_handle_at(mfd, fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0) {
				printf("init=ok mark=ok event=ok handle=%s\n", errname(errno));
				return 13;
			}
			if (fstat(dfd, &got) < 0 || got.st_ino != want.st_ino ||
			    got.st_dev != want.st_dev) {
				printf("init=ok mark=ok event=ok handle=wrong-dir\n");
				return 13;
			}
			printf("init=ok mark=ok event=ok handle=ok\n");
			return 0;
		}
	}
	printf("init=ok mark=ok event=none\n");
	return 12;
}

/* ---- a Type=notify daemon ---------------------------------------------- */

static volatile sig_atomic_t got_hup, got_term;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

static int probe_daemon(int argc, char **argv)
{
	long stop_after = -1, pings = 0, reloads = 0;
	uint64_t wd_usec = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec last = { 0 }, now;
	int nfds, i;

	if (argc == 2 && strcmp(argv[0], "--stop-pinging-after") == 0)
		stop_after = strtol(argv[1], NULL, 10);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	nfds = sd_listen_fds(0);
	if (nfds < 0)
		nfds = 0;
	for (i = 0; i < nfds; i++)
		fcntl(SD_LISTEN_FDS_START + i, F_SETFL, O_NONBLOCK);
	sd_notifyf(0, "READY=1\nSTATUS=serving %d socket(s), watchdog %llu us", nfds,
		   (unsigned long long)wd_usec);

	while (!got_term) {
		struct pollfd pfd[8];
		int n = nfds < 8 ? nfds : 8;

		for (i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = SD_LISTEN_FDS_START + i, .events = POLLIN };
		poll(pfd, n, 50);
		for (i = 0; i < n; i++) {
			char reply[64];
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			snprintf(reply, sizeof(reply), "pong %d reloads=%ld\n", (int)getpid(),
				 reloads);
			(void)!write(c, reply, strlen(reply));
			close(c);
		}
		if (got_hup) {
			got_hup = 0;
			sd_notify(0, "RELOADING=1");
			reloads++;
			sd_notify(0, "READY=1");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (wd_usec && (stop_after < 0 || pings < stop_after) &&
		    (now.tv_sec - last.tv_sec) * 1000000LL + (now.tv_nsec - last.tv_nsec) / 1000 >=
			    (long long)wd_usec / 2) {
			sd_notify(0, "WATCHDOG=1");
			pings++;
			last = now;
			if (pings == stop_after)
				sd_notify(0, "STATUS=test hook: stopped pinging the watchdog");
		}
	}
	sd_notify(0, "STOPPING=1");
	return 0;
}

/* ---- a client ---------------------------------------------------------- */

static int probe_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[256];
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "nsp-probe: connect %s: %s\n", path, strerror(errno));
		return 1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0) {
		fprintf(stderr, "nsp-probe: %s: nothing read\n", path);
		return 1;
	}
	fwrite(buf, 1, n, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "fanotify") == 0)
		return probe_fanotify(argv[2], argc == 4 ? argv[3] : "filesystem");
	if (argc >= 2 && strcmp(argv[1], "daemon") == 0)
		return probe_daemon(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "connect") == 0)
		return probe_connect(argv[2]);
	fprintf(stderr, "usage: nsp-probe fanotify DIR [filesystem|mount|inode] | daemon [--stop-pinging-after N] | "
			"connect SOCKET\n");
	return 1;
}

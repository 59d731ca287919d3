/* SPDX-License-Identifier: MIT */
/*
 * watch-fan.c - the fanotify backend: one group, FAN_REPORT_DFID_NAME |
 * FAN_REPORT_FID, a FAN_MARK_FILESYSTEM mark per filesystem.
 *
 * An event names its directory by a file handle (the DFID record; FAN_RENAME
 * has an old and a new one, and is noted as a rename when both resolve).  The handle is opened with open_by_handle_at()
 * against a descriptor kept open on the marked filesystem, and the
 * directory's path read back from /proc/self/fd/N; one read's events mostly
 * name few directories, so the last handle resolved is remembered for the
 * rest of that read.  A filesystem mark reports the whole filesystem: paths
 * outside every root are dropped by watch_note().
 *
 * Lost events: FAN_Q_OVERFLOW queues every root fanotify covers for a
 * subtree rescan.  The queue is the kernel's bounded default (16384 events,
 * no FAN_UNLIMITED_QUEUE, whose memory is the daemon's and unbounded).  A
 * handle that no longer resolves (ESTALE) names a directory since deleted:
 * its removal is an FAN_DELETE | FAN_ONDIR event in its parent, or in the
 * nearest ancestor still there, so nothing is lost by dropping it; any other
 * failure to resolve rescans the roots on that filesystem.
 *
 * A mount is taken only if a handle made there opens again (it needs
 * CAP_DAC_READ_SEARCH; unprivileged fanotify cannot mark a filesystem
 * anyway): otherwise every event would cost a rescan.
 *
 * Owned here: the group's descriptor and one directory descriptor per marked
 * filesystem.
 */
#include "log.h"
#include "util.h"
#include "watch-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define FAN_BASE_MASK                                                                              \
	(FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR)

struct fan_fs {
	fsid_t fsid;
	int mount_fd; /* a directory of the filesystem, for open_by_handle_at() */
};

struct watch_fan {
	int fd;
	bool no_rename; /* FAN_RENAME refused (kernel < 5.17): MOVED_FROM/TO */
	struct fan_fs *fs;
	size_t nfs, fs_cap;
	/* The last handle resolved in this read, and its path. */
	unsigned char last_fh[MAX_HANDLE_SZ + sizeof(struct file_handle)];
	size_t last_fh_len;
	const struct fan_fs *last_fs;
	char last_path[PATH_MAX];
	ssize_t last_path_len; /* < 0: nothing remembered */
	char buf[64 * 1024] __attribute__((aligned(8)));
};

int fan_new(struct watch *w, struct watch_fan **ret)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WATCH_TAG_FAN};
	struct watch_fan *f;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->last_path_len = -1;
	f->fd = fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID,
			      O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		r = -errno;
		free(f);
		return r;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0) {
		r = -errno;
		fan_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

static struct fan_fs *fs_find(struct watch_fan *f, const fsid_t *fsid)
{
	for (size_t i = 0; i < f->nfs; i++)
		if (memcmp(&f->fs[i].fsid, fsid, sizeof(*fsid)) == 0)
			return &f->fs[i];
	return NULL;
}

static int mark(struct watch_fan *f, const char *point)
{
	uint64_t mask = FAN_BASE_MASK | (f->no_rename ? FAN_MOVED_FROM | FAN_MOVED_TO : FAN_RENAME);

	if (fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, point) == 0)
		return 0;
	if (errno == EINVAL && !f->no_rename) {
		f->no_rename = true;
		return mark(f, point);
	}
	return -errno;
}

/*
 * Can a handle of @point be opened again through @fd?  Not without
 * CAP_DAC_READ_SEARCH (-EPERM), nor where handles cannot be made
 * (-EOPNOTSUPP): no event there could be resolved.
 */
static int probe_handles(int fd, const char *point)
{
	union {
		struct file_handle fh;
		unsigned char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h = {.fh.handle_bytes = MAX_HANDLE_SZ};
	int mount_id, back;

	if (name_to_handle_at(AT_FDCWD, point, &h.fh, &mount_id, 0) < 0)
		return -errno;
	back = open_by_handle_at(fd, &h.fh, O_PATH | O_CLOEXEC);
	if (back < 0)
		return -errno;
	close(back);
	return 0;
}

int fan_add_mount(struct watch_fan *f, const char *point)
{
	struct statfs sfs;
	int fd, r;

	if (statfs(point, &sfs) < 0)
		return -errno;
	if (fs_find(f, &sfs.f_fsid))
		return 0;
	r = GROW(f->fs, f->fs_cap, f->nfs + 1);
	if (r < 0)
		return r;
	fd = open(point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = probe_handles(fd, point);
	if (r == 0)
		r = mark(f, point);
	if (r < 0) {
		log_debug("fanotify refuses '%s': %s", point, strerror(-r));
		close(fd);
		return r;
	}
	f->fs[f->nfs++] = (struct fan_fs){.fsid = sfs.f_fsid, .mount_fd = fd};
	return 0;
}

static bool pick_fan(const struct watch_root *r)
{
	return r->fan;
}

/* The path of directory handle @fh on @fs into f->last_path; its length or -errno. */
static ssize_t resolve(struct watch_fan *f, struct fan_fs *fs, struct file_handle *fh)
{
	size_t fh_len = sizeof(*fh) + fh->handle_bytes;
	char proc[32];
	ssize_t n;
	int fd;

	if (f->last_path_len >= 0 && fs == f->last_fs && fh_len == f->last_fh_len &&
	    memcmp(fh, f->last_fh, fh_len) == 0)
		return f->last_path_len;
	fd = open_by_handle_at(fs->mount_fd, fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, f->last_path, sizeof(f->last_path));
	if (n < 0)
		n = -errno;
	else if (n == sizeof(f->last_path))
		n = -ENAMETOOLONG;
	else if (n == 0 || f->last_path[0] != '/')
		n = -ESTALE; /* not reachable from our root: nothing of ours */
	close(fd);
	if (fh_len <= sizeof(f->last_fh)) {
		memcpy(f->last_fh, fh, fh_len);
		f->last_fh_len = fh_len;
		f->last_fs = fs;
		f->last_path_len = n;
	}
	return n;
}

/*
 * One DFID record: note its directory; *ret_root is the root it lies in (-1:
 * none, or it did not resolve).  @moved_in: the record names a directory
 * that moved here, from root *@from (NULL: from who knows where); unless it
 * came from this same root, it is rescanned whole.
 */
static int on_record(struct watch *w, struct watch_fan *f, struct fanotify_event_info_fid *fid,
		     bool counts, bool moved_in, const ssize_t *from, ssize_t *ret_root)
{
	struct file_handle *fh = (struct file_handle *)fid->handle;
	struct fan_fs *fs = fs_find(f, (fsid_t *)&fid->fsid);
	const char *name = (const char *)fh->f_handle + fh->handle_bytes;
	char child[PATH_MAX];
	ssize_t n;
	int r, len;

	*ret_root = -1;
	if (!fs)
		return 0; /* a filesystem marked for a root since dropped */
	n = resolve(f, fs, fh);
	if (n == -ESTALE || n == -ENOENT)
		return 0;
	if (n < 0) {
		log_debug("fanotify: cannot resolve a directory handle: %s", strerror((int)-n));
		w->overflows++;
		watch_note_roots(w, pick_fan);
		return 0;
	}
	*ret_root = watch_root_of(w, f->last_path, (size_t)n);
	r = watch_note(w, f->last_path, (size_t)n, 0, counts);
	if (from && *from == *ret_root)
		moved_in = false;
	if (r < 0 || !moved_in || fid->hdr.info_type == FAN_EVENT_INFO_TYPE_DFID)
		return r;
	len = snprintf(child, sizeof(child), "%.*s/%s", (int)n, n > 1 ? f->last_path : "", name);
	if (len < 0 || (size_t)len >= sizeof(child))
		return watch_note(w, f->last_path, (size_t)n, WATCH_SUBTREE | WATCH_OVERFLOW,
				  false);
	return watch_note(w, child, (size_t)len, WATCH_SUBTREE, false);
}

/*
 * A FAN_RENAME event, both of whose records resolve: one watch_note_rename().
 * Returns 1 when it is not one (a record missing or not resolved: the
 * records are then taken one by one, as any event's), else 0 or -ENOMEM.
 */
static int on_rename(struct watch *w, struct watch_fan *f, const struct fanotify_event_metadata *m,
		     char *raw)
{
	struct fanotify_event_info_fid *rec[2] = {NULL, NULL};
	char old[PATH_MAX];
	const char *name[2];
	size_t off = m->metadata_len, olen = 0, nlen = 0;

	while (off + sizeof(struct fanotify_event_info_header) <= m->event_len) {
		struct fanotify_event_info_header *h = (void *)(raw + off);

		if (h->len < sizeof(*h) || off + h->len > m->event_len)
			break;
		if (h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)
			rec[0] = (void *)h;
		else if (h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
			rec[1] = (void *)h;
		off += h->len;
	}
	for (int i = 0; i < 2; i++) {
		struct file_handle *fh;
		struct fan_fs *fs;
		ssize_t n;

		if (!rec[i])
			return 1;
		fh = (struct file_handle *)rec[i]->handle;
		fs = fs_find(f, (fsid_t *)&rec[i]->fsid);
		name[i] = (const char *)fh->f_handle + fh->handle_bytes;
		n = fs ? resolve(f, fs, fh) : -ENOENT;
		if (n < 0)
			return 1;
		if (i == 0) {
			memcpy(old, f->last_path, (size_t)n);
			olen = (size_t)n;
		}
		nlen = (size_t)n;
	}
	return watch_note_rename(w, old, olen, name[0], f->last_path, nlen, name[1],
				 m->mask & FAN_ONDIR);
}

/*
 * The directory records of event @m.  A directory renamed from outside its
 * new root (FAN_RENAME: the old record comes first), or moved in on a kernel
 * without FAN_RENAME (which does not say from where), is a new subtree.
 */
static int on_event(struct watch *w, struct watch_fan *f, const struct fanotify_event_metadata *m,
		    char *raw)
{
	size_t off = m->metadata_len;
	bool counts = (m->mask & ~(uint64_t)(FAN_MODIFY | FAN_ONDIR)) != 0;
	bool dir = m->mask & FAN_ONDIR;
	ssize_t old_root = -1, root;
	int r = 0;

	w->events++;
	if (m->mask & FAN_Q_OVERFLOW) {
		w->overflows++;
		watch_note_roots(w, pick_fan);
		return 0;
	}
	if ((m->mask & FAN_RENAME) && (r = on_rename(w, f, m, raw)) <= 0)
		goto out;
	r = 0;
	while (off + sizeof(struct fanotify_event_info_header) <= m->event_len && r >= 0) {
		struct fanotify_event_info_header *h = (void *)(raw + off);
		struct fanotify_event_info_fid *fid = (void *)h;

		if (h->len < sizeof(*h) || off + h->len > m->event_len)
			break;
		switch (h->info_type) {
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			r = on_record(w, f, fid, counts, false, NULL, &old_root);
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			r = on_record(w, f, fid, counts, dir, &old_root, &root);
			break;
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
		case FAN_EVENT_INFO_TYPE_DFID:
			r = on_record(w, f, fid, counts, dir && (m->mask & FAN_MOVED_TO), NULL,
				      &root);
			break;
		default:
			break; /* the child's own FID: its directory is what we report */
		}
		off += h->len;
	}
out:
	if (m->fd >= 0)
		close(m->fd);
	return r;
}

int fan_read(struct watch *w, struct watch_fan *f)
{
	int r = 0;

	for (;;) {
		ssize_t n = read(f->fd, f->buf, sizeof(f->buf));
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? r : -errno;
		}
		if (n == 0)
			return r;
		/* Directories may be renamed between two reads. */
		f->last_path_len = -1;
		/* Events are 4-byte aligned, their metadata wants 8: copy it out. */
		while (off + FAN_EVENT_METADATA_LEN <= (size_t)n) {
			struct fanotify_event_metadata m;

			memcpy(&m, f->buf + off, sizeof(m));
			if (m.event_len < FAN_EVENT_METADATA_LEN || off + m.event_len > (size_t)n)
				break;
			if (m.vers != FANOTIFY_METADATA_VERSION)
				return -EPROTO;
			if (on_event(w, f, &m, f->buf + off) < 0)
				r = -ENOMEM;
			off += m.event_len;
		}
	}
}

void fan_keep(struct watch_fan *f, const fsid_t *keep, size_t n)
{
	uint64_t mask = FAN_BASE_MASK | (f->no_rename ? FAN_MOVED_FROM | FAN_MOVED_TO : FAN_RENAME);
	size_t i = 0;

	while (i < f->nfs) {
		struct fan_fs *fs = &f->fs[i];
		bool needed = false;

		for (size_t j = 0; j < n && !needed; j++)
			needed = memcmp(&keep[j], &fs->fsid, sizeof(fs->fsid)) == 0;
		if (needed) {
			i++;
			continue;
		}
		/* With no path, the mark goes from the filesystem of mount_fd itself. */
		if (fanotify_mark(f->fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, mask, fs->mount_fd,
				  NULL) < 0)
			log_debug("fanotify: cannot remove a filesystem mark: %s", strerror(errno));
		close(fs->mount_fd);
		*fs = f->fs[--f->nfs];
	}
	f->last_path_len = -1; /* it may have named a filesystem just dropped */
}

void fan_free(struct watch_fan *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nfs; i++)
		close(f->fs[i].mount_fd);
	free(f->fs);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

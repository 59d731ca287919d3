/* SPDX-License-Identifier: MIT */
/*
 * ident.c - the identity of a file.
 *
 * A file is "the one that was seen" while its (dev, ino), type, size and
 * mtime are what they were; a write moves the mtime, and so does anything
 * that replaces the content (a truncate, a rename over the name is another
 * inode).  The ctime moves for everything else as well (chmod, link,
 * unlink, rename of the file itself), so IDENT_EXACT adds it where nothing
 * at all may have happened: dupact's checks right before it acts, and the
 * ring's second fstat after a read.  The ring's first check and dups'
 * --verify are IDENT_CONTENT: the walker's statx may predate a chmod.
 *
 * Nothing here keeps state; the fault hook lets dupact's fault injection
 * (dupact.h) fail each system call made on its behalf in turn.
 */
#include "ident.h"

#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)

static inline int hook(ident_fault_fn *fault)
{
	return fault ? fault() : 0;
}

void ident_node_from_stat(struct node *n, const struct stat *st)
{
	memset(n, 0, sizeof(*n));
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->mode = st->st_mode;
	n->nlink = (uint32_t)st->st_nlink;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->size = (uint64_t)st->st_size;
	n->blocks = (uint64_t)st->st_blocks;
	n->mtime_sec = st->st_mtim.tv_sec;
	n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime_sec = st->st_ctim.tv_sec;
	n->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

void ident_node_from_statx(struct node *n, const struct statx *stx)
{
	memset(n, 0, sizeof(*n));
	n->dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	n->ino = stx->stx_ino;
	n->mode = stx->stx_mode;
	n->nlink = stx->stx_nlink;
	n->uid = stx->stx_uid;
	n->gid = stx->stx_gid;
	n->size = stx->stx_size;
	n->blocks = stx->stx_blocks;
	n->mtime_sec = stx->stx_mtime.tv_sec;
	n->mtime_nsec = stx->stx_mtime.tv_nsec;
	n->ctime_sec = stx->stx_ctime.tv_sec;
	n->ctime_nsec = stx->stx_ctime.tv_nsec;
}

void ident_from_node(struct ident *id, const struct node *n)
{
	id->dev = n->dev;
	id->ino = n->ino;
	id->size = n->size;
	id->mtime_sec = n->mtime_sec;
	id->mtime_nsec = n->mtime_nsec;
	id->ctime_sec = n->ctime_sec;
	id->ctime_nsec = n->ctime_nsec;
}

bool ident_same_inode(const struct ident *id, const struct stat *st)
{
	return (uint64_t)st->st_dev == id->dev && (uint64_t)st->st_ino == id->ino;
}

bool ident_same_content(const struct ident *id, const struct stat *st)
{
	return S_ISREG(st->st_mode) && ident_same_inode(id, st) &&
	       (uint64_t)st->st_size == id->size && st->st_mtim.tv_sec == id->mtime_sec &&
	       (uint64_t)st->st_mtim.tv_nsec == id->mtime_nsec;
}

bool ident_same(const struct ident *id, const struct stat *st)
{
	return ident_same_content(id, st) && st->st_ctim.tv_sec == id->ctime_sec &&
	       (uint64_t)st->st_ctim.tv_nsec == id->ctime_nsec;
}

bool ident_node_is(const struct ident *id, const struct node *n)
{
	return S_ISREG(n->mode) && n->dev == id->dev && n->ino == id->ino &&
	       n->size == id->size && n->mtime_sec == id->mtime_sec &&
	       n->mtime_nsec == id->mtime_nsec && n->ctime_sec == id->ctime_sec &&
	       n->ctime_nsec == id->ctime_nsec;
}

int ident_check_fd(const struct ident *id, int fd, enum ident_level level, struct stat *ret_st,
		   ident_fault_fn *fault)
{
	struct stat st;
	int r = hook(fault);

	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (level == IDENT_EXACT ? !ident_same(id, &st) : !ident_same_content(id, &st))
		return -ESTALE;
	if (ret_st)
		*ret_st = st;
	return 0;
}

int ident_refresh_fd(struct ident *id, int fd, ident_fault_fn *fault)
{
	struct stat st;
	int r = ident_check_fd(id, fd, IDENT_CONTENT, &st, fault);

	if (r < 0)
		return r;
	id->ctime_sec = st.st_ctim.tv_sec;
	id->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	return 0;
}

int ident_open_error(int err)
{
	if (err == -ELOOP || err == -ENXIO)
		return -ESTALE;
	return err;
}

/* openat(@dirfd, first @len bytes of @name) as a directory, O_PATH. */
static int open_piece(int dirfd, const char *name, size_t len, ident_fault_fn *fault)
{
	char buf[PATH_MAX];
	int fd, r;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, name, len);
	buf[len] = '\0';
	r = hook(fault);
	if (r < 0)
		return r;
	fd = openat(dirfd, buf, DIR_FLAGS);
	return fd < 0 ? -errno : fd;
}

int ident_open_dir(const char *dir, size_t len, ident_fault_fn *fault)
{
	const char *p = dir, *end = dir + len, *cut;
	int fd, nfd;

	if (len < PATH_MAX)
		return open_piece(AT_FDCWD, dir, len, fault);

	/* Too long for one call: walk it in pieces below PATH_MAX, cut at slashes. */
	fd = open_piece(AT_FDCWD, "/", 1, fault);
	if (fd < 0)
		return fd;
	while (p < end && *p == '/')
		p++;
	while (p < end) {
		if (end - p < PATH_MAX) {
			cut = end;
		} else {
			cut = p + PATH_MAX - 1;
			while (cut > p && *cut != '/')
				cut--;
			if (cut == p) {
				close(fd);
				return -ENAMETOOLONG;
			}
		}
		nfd = open_piece(fd, p, (size_t)(cut - p), fault);
		close(fd);
		if (nfd < 0)
			return nfd;
		fd = nfd;
		p = cut;
		while (p < end && *p == '/')
			p++;
	}
	return fd;
}

int ident_open_parent(const char *path, size_t len, const char **ret_base, ident_fault_fn *fault)
{
	const char *slash = len ? memrchr(path, '/', len) : NULL;
	int fd;

	if (!slash || path[0] != '/' || slash == path + len - 1)
		return -EINVAL;
	fd = ident_open_dir(path, slash == path ? 1 : (size_t)(slash - path), fault);
	if (fd >= 0)
		*ret_base = slash + 1;
	return fd;
}

int ident_pread_full(int fd, void *buf, size_t len, uint64_t off, ident_fault_fn *fault)
{
	size_t done = 0;

	while (done < len) {
		int r = hook(fault);
		ssize_t n;

		if (r < 0)
			return r;
		do
			n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ESTALE;
		done += (size_t)n;
	}
	return 0;
}

int ident_compare_fds(int fa, int fb, uint64_t size, void *buf_a, void *buf_b,
		      ident_fault_fn *fault)
{
	size_t len;
	int r;

	for (uint64_t off = 0; off < size; off += len) {
		len = size - off < IDENT_CMP_CHUNK ? (size_t)(size - off) : IDENT_CMP_CHUNK;
		r = ident_pread_full(fa, buf_a, len, off, fault);
		if (r < 0)
			return r;
		r = ident_pread_full(fb, buf_b, len, off, fault);
		if (r < 0)
			return r;
		if (memcmp(buf_a, buf_b, len) != 0)
			return 0;
	}
	return 1;
}

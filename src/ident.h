/* SPDX-License-Identifier: MIT */
/*
 * ident.h - the identity of a file: turning stat(2)/statx(2) results into
 * node records, telling whether a file is still the one that was seen,
 * opening the directory of a path of any length, and comparing the content
 * of two open files.  Used by the walker, the ring, dups and dupact, so that
 * "the same file" means one thing everywhere.
 */
#ifndef FSINDEX_IDENT_H
#define FSINDEX_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct stat;
struct statx;

/** What a file must still be: the tuple recorded when it was seen. */
struct ident {
	uint64_t dev, ino, size;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
};

/** How much of an identity ident_check_fd() compares. */
enum ident_level {
	IDENT_CONTENT,	/* a regular file, same (dev, ino), size and mtime */
	IDENT_EXACT,	/* ...and the same ctime: nothing at all was done to it */
};

/**
 * A fault-injection hook (dupact.h, FSINDEX_DEBUG_FAIL_AT), called before
 * each system call that can fail: 0 lets the call go ahead, a negative
 * errno makes it fail with that error instead.  NULL everywhere else.
 */
typedef int ident_fault_fn(void);

/** Fill @n (zeroed first: no id, parent, name or hashes) from @st. */
void ident_node_from_stat(struct node *n, const struct stat *st);

/** Fill @n (zeroed first) from @stx, which has at least the fields a rescan compares. */
void ident_node_from_statx(struct node *n, const struct statx *stx);

/** The identity of node @n. */
void ident_from_node(struct ident *id, const struct node *n);

/** Is @st the inode @id names (dev, ino), whatever its content? */
bool ident_same_inode(const struct ident *id, const struct stat *st);

/** Is @st still the regular file @id with the same size and mtime (IDENT_CONTENT)? */
bool ident_same_content(const struct ident *id, const struct stat *st);

/** ident_same_content(), and the ctime too (IDENT_EXACT). */
bool ident_same(const struct ident *id, const struct stat *st);

/** Is node @n (as the index holds it) the regular file @id, ctime included? */
bool ident_node_is(const struct ident *id, const struct node *n);

/**
 * fstat(2) @fd and compare it with @id at @level.  On a match, *@ret_st
 * (may be NULL) holds what fstat said.  Returns 0, -ESTALE when it does not
 * match, or -errno.
 */
int ident_check_fd(const struct ident *id, int fd, enum ident_level level, struct stat *ret_st,
		   ident_fault_fn *fault);

/**
 * Check @fd against @id at IDENT_CONTENT and adopt its ctime: for a file
 * whose ctime moved for a known reason (our own link or unlink), or to
 * learn it before a read.  Returns 0, -ESTALE, or -errno (@id unchanged).
 */
int ident_refresh_fd(struct ident *id, int fd, ident_fault_fn *fault);

/**
 * An error from opening by name a file that was seen as a regular file:
 * ELOOP (now a symlink, under O_NOFOLLOW) and ENXIO (now a socket, or a
 * device without a driver) mean it is no longer that file, -ESTALE; other
 * errors are returned as they are.
 */
int ident_open_error(int err);

/**
 * Open directory @dir (@len bytes, absolute or relative to the working
 * directory, not necessarily NUL-terminated) O_PATH|O_DIRECTORY|O_CLOEXEC,
 * resolved as openat(2) would resolve it.  A path of PATH_MAX bytes or more
 * is opened in pieces shorter than that, cut at slashes: such a path must
 * be absolute.  Returns the descriptor (the caller's) or -errno
 * (-ENAMETOOLONG for a component that does not fit).
 */
int ident_open_dir(const char *dir, size_t len, ident_fault_fn *fault);

/**
 * Open the directory holding absolute @path (@len bytes, any length) as
 * ident_open_dir() does; *@ret_base is set to the last component, inside
 * @path.  Returns the descriptor or -errno (-EINVAL for a path that is not
 * absolute or ends in '/').
 */
int ident_open_parent(const char *path, size_t len, const char **ret_base, ident_fault_fn *fault);

/**
 * Read exactly @len bytes of @fd at @off into @buf, through EINTR and short
 * reads.  Returns 0, -ESTALE when the file ends first (it shrank), or -errno.
 */
int ident_pread_full(int fd, void *buf, size_t len, uint64_t off, ident_fault_fn *fault);

/* Bytes of each buffer ident_compare_fds() is given: streamed, never a file held whole. */
#define IDENT_CMP_CHUNK ((size_t)256 << 10)

/**
 * Compare the first @size bytes of @fa and @fb, IDENT_CMP_CHUNK at a time
 * through the caller's buffers @buf_a and @buf_b (IDENT_CMP_CHUNK bytes
 * each).  Returns 1 when they are equal, 0 when they differ, -ESTALE when
 * one ends before @size, or -errno.
 */
int ident_compare_fds(int fa, int fb, uint64_t size, void *buf_a, void *buf_b,
		      ident_fault_fn *fault);

#endif /* FSINDEX_IDENT_H */

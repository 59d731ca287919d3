/* SPDX-License-Identifier: MIT */
/*
 * test-ident.c - the identity of a file: stat/statx become the same node
 * fields; a file renamed is still itself, one renamed over it is not, a
 * chmod or a rewrite with the mtime put back only fails the exact check;
 * directories deeper than PATH_MAX open in pieces (and each piece can be
 * made to fail, leaking nothing); equal and different contents compare as
 * such, a file shorter than said is -ESTALE.  The oracle is stat(2) and
 * the bytes written.
 */
#include "ident.h"

#include "node.h"
#include "ring.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256];
static int basefd;

static char *at(const char *name)
{
	static char buf[2][PATH_MAX + 256];
	static int which;
	char *p = buf[which ^= 1];

	snprintf(p, PATH_MAX + 256, "%s/%s", base, name);
	return p;
}

static void write_file(const char *name, const void *data, size_t len)
{
	int fd = openat(basefd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static struct stat lstat_of(const char *name)
{
	struct stat st;

	if (fstatat(basefd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		memset(&st, 0, sizeof(st));
	return st;
}

static struct ident ident_of(const char *name)
{
	struct stat st = lstat_of(name);
	struct node n;
	struct ident id;

	ident_node_from_stat(&n, &st);
	ident_from_node(&id, &n);
	return id;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_conversions(void)
{
	struct stat st;
	struct statx stx;
	struct node a, b;

	write_file("conv", "hello", 5);
	st = lstat_of("conv");
	if (statx(basefd, "conv", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		abort();
	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	ident_node_from_stat(&a, &st);
	ident_node_from_statx(&b, &stx);
	ok(a.dev == (uint64_t)st.st_dev && a.ino == (uint64_t)st.st_ino && a.mode == st.st_mode &&
	   a.nlink == st.st_nlink && a.uid == st.st_uid && a.gid == st.st_gid && a.size == 5 &&
	   a.mtime_sec == st.st_mtim.tv_sec && a.mtime_nsec == (uint32_t)st.st_mtim.tv_nsec &&
	   a.ctime_sec == st.st_ctim.tv_sec && a.ctime_nsec == (uint32_t)st.st_ctim.tv_nsec,
	   "ident_node_from_stat: every stat field as stat(2) says");
	ok(a.id == 0 && a.parent == 0 && a.name == NULL && a.name_len == 0 && a.flags == 0 &&
	   a.hash_state == NODE_HASH_NONE, "...and nothing else set");
	ok(node_stat_equal(&a, &b) && a.dev == b.dev && a.ino == b.ino && b.id == 0 &&
	   b.name == NULL && b.hash_state == NODE_HASH_NONE,
	   "ident_node_from_statx gives the same record (dev from major:minor)");
}

static void test_same_file(void)
{
	struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000, .tv_nsec = 5 } };
	struct ident id, dir;
	struct stat st;
	struct node n;

	write_file("f", "0123456789", 10);
	/* An old mtime; the ctime is now: wait for the clock tick to pass. */
	utimensat(basefd, "f", old, AT_SYMLINK_NOFOLLOW);
	ring_wait_tick();
	id = ident_of("f");
	st = lstat_of("f");
	ok(ident_same(&id, &st) && ident_same_content(&id, &st) && ident_same_inode(&id, &st),
	   "a file is itself: same inode, content and ctime");

	if (renameat(basefd, "f", basefd, "g") < 0)
		abort();
	st = lstat_of("g");
	ok(ident_same_inode(&id, &st) && ident_same_content(&id, &st),
	   "renamed, it is still the same file with the same content");

	write_file("other", "0123456789", 10);
	utimensat(basefd, "other", old, AT_SYMLINK_NOFOLLOW);
	if (renameat(basefd, "other", basefd, "g") < 0)
		abort();
	st = lstat_of("g");
	ok(!ident_same_inode(&id, &st) && !ident_same_content(&id, &st) && !ident_same(&id, &st),
	   "another file renamed over its name (same size, same mtime) is not it");

	write_file("f", "0123456789", 10);
	utimensat(basefd, "f", old, AT_SYMLINK_NOFOLLOW);
	ring_wait_tick();
	id = ident_of("f");
	fchmodat(basefd, "f", 0600, 0);
	st = lstat_of("f");
	ok(ident_same_content(&id, &st) && !ident_same(&id, &st),
	   "chmod: same content, but not the exact same (ctime moved)");

	id = ident_of("f");
	ring_wait_tick();
	write_file("f", "9876543210", 10);
	utimensat(basefd, "f", old, AT_SYMLINK_NOFOLLOW);
	st = lstat_of("f");
	ok(ident_same_content(&id, &st) && !ident_same(&id, &st),
	   "rewritten with its size and mtime put back: only the ctime tells");

	id = ident_of("f");
	if (truncate(at("f"), 9) < 0)
		abort();
	st = lstat_of("f");
	ok(ident_same_inode(&id, &st) && !ident_same_content(&id, &st), "truncated: not the same content");

	mkdirat(basefd, "d", 0755);
	dir = ident_of("d");
	st = lstat_of("d");
	ok(ident_same_inode(&dir, &st) && !ident_same_content(&dir, &st) && !ident_same(&dir, &st),
	   "a directory is never 'the same regular file'");

	st = lstat_of("f");
	ident_node_from_stat(&n, &st);
	ident_from_node(&id, &n);
	ok(ident_node_is(&id, &n), "ident_node_is: the node it came from");
	n.mode = S_IFDIR | 0755;
	ok(!ident_node_is(&id, &n), "...not once the node is a directory");
	n.mode = st.st_mode;
	n.ctime_nsec ^= 1;
	ok(!ident_node_is(&id, &n), "...not with another ctime");
	n.ctime_nsec ^= 1;
	n.size++;
	ok(!ident_node_is(&id, &n), "...not with another size");

	ok(ident_open_error(-ELOOP) == -ESTALE && ident_open_error(-ENXIO) == -ESTALE &&
	   ident_open_error(-EACCES) == -EACCES && ident_open_error(-ENOENT) == -ENOENT,
	   "ident_open_error: a symlink or a socket now is -ESTALE, the rest as it is");
}

static int hook_calls, hook_fail_at;

static int hook(void)
{
	return ++hook_calls == hook_fail_at ? -EIO : 0;
}

static void test_check_fd(void)
{
	struct ident id;
	struct stat st;
	int fd, r;

	write_file("c", "abc", 3);
	ring_wait_tick();
	id = ident_of("c");
	fd = openat(basefd, "c", O_RDWR | O_CLOEXEC);
	ok(ident_check_fd(&id, fd, IDENT_EXACT, &st, NULL) == 0 && st.st_size == 3,
	   "ident_check_fd: the open file matches exactly, and says what fstat said");
	fchmod(fd, 0640);
	ok(ident_check_fd(&id, fd, IDENT_EXACT, NULL, NULL) == -ESTALE &&
	   ident_check_fd(&id, fd, IDENT_CONTENT, NULL, NULL) == 0,
	   "after a chmod: -ESTALE exactly, 0 for the content");
	ok(ident_refresh_fd(&id, fd, NULL) == 0 && ident_check_fd(&id, fd, IDENT_EXACT, NULL, NULL) == 0,
	   "ident_refresh_fd adopts the new ctime");
	if (ftruncate(fd, 2) < 0)
		abort();
	id.ctime_sec = 7;
	r = ident_refresh_fd(&id, fd, NULL);
	ok(r == -ESTALE && id.ctime_sec == 7, "...but not a new size, and then leaves @id alone");
	hook_calls = 0;
	hook_fail_at = 1;
	ok(ident_check_fd(&id, fd, IDENT_CONTENT, NULL, hook) == -EIO && hook_calls == 1,
	   "the fault hook fails the fstat with its error");
	close(fd);
	ok(ident_check_fd(&id, fd, IDENT_CONTENT, NULL, NULL) == -EBADF, "a closed descriptor: -EBADF");
}

/* Make a chain of directories under base whose path is longer than 2 * PATH_MAX. */
static size_t make_deep(char *path, size_t cap, struct stat *ret_leaf)
{
	char comp[201];
	size_t len = strlen(base);
	int fd = dup(basefd), nfd;

	memset(comp, 'x', 200);
	comp[200] = '\0';
	memcpy(path, base, len + 1);
	for (int i = 0; len + 202 < cap && len < 2 * PATH_MAX + 500; i++) {
		comp[0] = (char)('a' + i % 26);
		if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
			abort();
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0)
			abort();
		close(fd);
		fd = nfd;
		path[len++] = '/';
		memcpy(path + len, comp, 200);
		len += 200;
		path[len] = '\0';
	}
	if (fstat(fd, ret_leaf) < 0)
		abort();
	nfd = openat(fd, "leaf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (nfd < 0 || write(nfd, "deep", 4) != 4)
		abort();
	close(nfd);
	close(fd);
	return len;
}

static void test_open_dir(void)
{
	static char path[3 * PATH_MAX];
	char longcomp[PATH_MAX + 10];
	const char *name = NULL;
	struct stat leaf, st;
	size_t len = make_deep(path, sizeof(path) - 8, &leaf);
	int fds0 = count_fds(), fd, calls, bad = 0;
	char buf[8] = "";

	fd = ident_open_dir(base, strlen(base), NULL);
	ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == lstat_of(".").st_ino,
	   "ident_open_dir of a short path");
	if (fd >= 0)
		close(fd);
	fd = ident_open_dir(path, len, NULL);
	ok(len > 2 * PATH_MAX && fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == leaf.st_ino &&
	   st.st_dev == leaf.st_dev, "ident_open_dir of a %zu-byte path: the deepest directory",
	   len);
	ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_PATH) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
	   "...as an O_PATH, close-on-exec descriptor");
	if (fd >= 0)
		close(fd);

	memcpy(path + len, "/leaf", 6);
	fd = ident_open_parent(path, len + 5, &name, NULL);
	ok(fd >= 0 && name == path + len + 1 && fstat(fd, &st) == 0 && st.st_ino == leaf.st_ino,
	   "ident_open_parent: the directory of a file past PATH_MAX, and its name");
	if (fd >= 0) {
		int f = openat(fd, name, O_RDONLY | O_CLOEXEC);

		ok(f >= 0 && read(f, buf, sizeof(buf)) == 4 && memcmp(buf, "deep", 4) == 0,
		   "...which opens relative to it");
		if (f >= 0)
			close(f);
		close(fd);
	}

	/* Fail each system call of the long open in turn: the error, and no descriptor left. */
	hook_calls = 0;
	hook_fail_at = 0;
	fd = ident_open_dir(path, len, hook);
	calls = hook_calls;
	if (fd >= 0)
		close(fd);
	for (int n = 1; n <= calls; n++) {
		hook_calls = 0;
		hook_fail_at = n;
		fd = ident_open_dir(path, len, hook);
		if (fd != -EIO)
			bad++;
		if (fd >= 0)
			close(fd);
	}
	/* Past 2 * PATH_MAX: "/" and at least three pieces. */
	ok(calls >= 4 && bad == 0 && count_fds() == fds0,
	   "each of its %d openat()s can be failed by the hook, leaking nothing", calls);

	fd = ident_open_parent(path, 1, &name, NULL);
	ok(fd == -EINVAL, "ident_open_parent(\"/\"): -EINVAL");
	ok(ident_open_parent("rel/x", 5, &name, NULL) == -EINVAL, "...of a relative path: -EINVAL");
	ok(ident_open_parent("/tmp/", 5, &name, NULL) == -EINVAL, "...of a path ending in '/': -EINVAL");
	fd = ident_open_parent("/x", 2, &name, NULL);
	ok(fd >= 0 && strcmp(name, "x") == 0 && fstat(fd, &st) == 0 && st.st_ino == lstat_of("/").st_ino,
	   "ident_open_parent(\"/x\"): \"/\" and \"x\"");
	if (fd >= 0)
		close(fd);

	longcomp[0] = '/';
	memset(longcomp + 1, 'y', PATH_MAX + 5);
	ok(ident_open_dir(longcomp, PATH_MAX + 6, NULL) == -ENAMETOOLONG && count_fds() == fds0,
	   "a component longer than PATH_MAX: -ENAMETOOLONG, nothing left open");
	ok(ident_open_dir(at("nonexistent"), strlen(at("nonexistent")), NULL) == -ENOENT,
	   "a directory that is not there: -ENOENT");
}

static void test_compare(void)
{
	static unsigned char a[IDENT_CMP_CHUNK * 2 + 1000], b[sizeof(a)];
	static unsigned char ba[IDENT_CMP_CHUNK], bb[IDENT_CMP_CHUNK];
	const size_t size = sizeof(a);
	int fa, fb, r;

	for (size_t i = 0; i < size; i++)
		a[i] = (unsigned char)(i * 7 + i / 251);
	memcpy(b, a, size);
	write_file("ca", a, size);
	write_file("cb", b, size);
	fa = openat(basefd, "ca", O_RDONLY | O_CLOEXEC);
	fb = openat(basefd, "cb", O_RDONLY | O_CLOEXEC);
	ok(ident_compare_fds(fa, fb, size, ba, bb, NULL) == 1,
	   "equal files of %zu bytes (three chunks): 1", size);
	ok(ident_compare_fds(fa, fb, 0, ba, bb, NULL) == 1, "nothing to compare: 1");
	close(fb);

	b[size - 1] ^= 1;
	write_file("cb", b, size);
	fb = openat(basefd, "cb", O_RDONLY | O_CLOEXEC);
	ok(ident_compare_fds(fa, fb, size, ba, bb, NULL) == 0, "the last byte differs: 0");
	ok(ident_compare_fds(fa, fb, size - 1, ba, bb, NULL) == 1, "...but not the bytes before it");
	close(fb);

	b[size - 1] ^= 1;
	b[0] ^= 0x80;
	write_file("cb", b, size);
	fb = openat(basefd, "cb", O_RDONLY | O_CLOEXEC);
	ok(ident_compare_fds(fa, fb, size, ba, bb, NULL) == 0, "the first byte differs: 0");
	close(fb);

	write_file("cb", a, size - 10);
	fb = openat(basefd, "cb", O_RDONLY | O_CLOEXEC);
	r = ident_compare_fds(fa, fb, size, ba, bb, NULL);
	ok(r == -ESTALE, "one is shorter than the size compared: -ESTALE (%d)", r);
	ok(ident_compare_fds(fb, fa, size, ba, bb, NULL) == -ESTALE, "...whichever it is");

	hook_calls = 0;
	hook_fail_at = 4;
	ok(ident_compare_fds(fa, fa, size, ba, bb, hook) == -EIO && hook_calls == 4,
	   "the fault hook fails the 4th pread with its error");
	ok(ident_pread_full(fa, ba, 100, size - 50, NULL) == -ESTALE,
	   "ident_pread_full past the end: -ESTALE");
	ok(ident_pread_full(fa, ba, 100, 1000, NULL) == 0 && memcmp(ba, a + 1000, 100) == 0,
	   "ident_pread_full reads exactly what is there");
	close(fb);
	close(fa);
	ok(ident_pread_full(fa, ba, 1, 0, NULL) == -EBADF, "a closed descriptor: -EBADF");
}

static void cleanup(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

int main(void)
{
	char dir[] = "/tmp/test-ident.XXXXXX";

	plan_lazy();
	if (!mkdtemp(dir))
		skip_all("mkdtemp: %s", strerror(errno));
	snprintf(base, sizeof(base), "%s", dir);
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0 || fchdir(basefd) < 0)
		skip_all("%s: %s", base, strerror(errno));

	test_conversions();
	test_same_file();
	test_check_fd();
	test_open_dir();
	test_compare();

	close(basefd);
	cleanup(dir);
	return done_testing();
}

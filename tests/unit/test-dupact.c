/* SPDX-License-Identifier: MIT */
/*
 * test-dupact.c - acting on duplicate groups built by hand from files made in
 * a temporary directory: link, delete and reflink replace or remove exactly
 * what they should, skip what changed or differs, keep the kept file, and an
 * action failed at each of its system calls in turn (FSINDEX_DEBUG_FAIL_AT)
 * leaves every file's content in place and no temporary name behind.
 *
 * Usage: test-dupact [--dir DIR] [--expect-reflink]
 *   --dir DIR          make the temporary directory in DIR (default $TMPDIR or /tmp)
 *   --expect-reflink   DIR's filesystem shares extents: reflink must work
 *                      (tests/integ/reflink.sh runs this on loopback btrfs and XFS)
 */
#include "dupact.h"

#include "cancel.h"
#include "dups.h"
#include "util.h"

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* More than one 256 KiB comparison chunk, and not a multiple of it. */
#define SZ ((size_t)600 * 1024 + 123)
/* Two chunks, for the fault-injection loop, which makes a fresh tree per step. */
#define FSZ ((size_t)300 * 1024 + 7)

static char base[PATH_MAX];	/* the test's temporary directory, absolute */
static bool expect_reflink;
static int ncase;

/* ---- strings freed at the end of each case ---- */

static char *strs[512];
static size_t nstrs;

__attribute__((format(printf, 1, 2))) static char *str(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (nstrs == ARRAY_SIZE(strs))
		abort();
	strs[nstrs++] = s;
	return s;
}

static void strs_free(void)
{
	while (nstrs)
		free(strs[--nstrs]);
}

/* ---- files ---- */

static unsigned char pattern(unsigned seed, size_t i)
{
	return (unsigned char)(seed * 131 + i * 7 + (i >> 10));
}

static unsigned char *content(unsigned seed, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);

	if (!b)
		abort();
	for (size_t i = 0; i < len; i++)
		b[i] = pattern(seed, i);
	return b;
}

static int write_at(int dirfd, const char *name, const unsigned char *b, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (done < len) {
		n = write(fd, b + done, len - done);
		if (n <= 0) {
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	if (expect_reflink)
		fsync(fd);	/* extents on disk, for FIEMAP */
	close(fd);
	return 0;
}

/* Write @len bytes of pattern @seed to @path; @flip >= 0 changes that byte. */
static void make_file(const char *path, unsigned seed, size_t len, long flip)
{
	unsigned char *b = content(seed, len);

	if (flip >= 0)
		b[flip] ^= 0x5a;
	if (write_at(AT_FDCWD, path, b, len) < 0) {
		diag("cannot write %s: %m", path);
		abort();
	}
	free(b);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		diag("mkdir %s: %m", path);
		abort();
	}
}

/* Does @path (relative to @dirfd) hold exactly pattern @seed of @len bytes, byte @flip changed? */
static bool has_flipped_at(int dirfd, const char *path, unsigned seed, size_t len, long flip)
{
	unsigned char buf[65536];
	size_t off = 0;
	ssize_t n;
	bool same = true;
	int fd;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (same && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (off + (size_t)i >= len ||
			    buf[i] != (unsigned char)(pattern(seed, off + (size_t)i) ^
						      ((long)(off + (size_t)i) == flip ? 0x5a : 0))) {
				same = false;
				break;
			}
		off += (size_t)n;
	}
	close(fd);
	return same && off == len;
}

static bool has_content_at(int dirfd, const char *path, unsigned seed, size_t len)
{
	return has_flipped_at(dirfd, path, seed, len, -1);
}

static bool has_content(const char *path, unsigned seed, size_t len)
{
	return has_content_at(AT_FDCWD, path, seed, len);
}

static bool same_bytes(const char *p1, const char *p2)
{
	unsigned char b1[65536], b2[65536];
	int f1 = open(p1, O_RDONLY | O_CLOEXEC), f2 = open(p2, O_RDONLY | O_CLOEXEC);
	bool same = f1 >= 0 && f2 >= 0;
	ssize_t n1, n2;

	while (same) {
		n1 = read(f1, b1, sizeof(b1));
		n2 = read(f2, b2, sizeof(b2));
		if (n1 != n2 || n1 < 0 || memcmp(b1, b2, (size_t)n1))
			same = false;
		if (n1 <= 0)
			break;
	}
	if (f1 >= 0)
		close(f1);
	if (f2 >= 0)
		close(f2);
	return same;
}

static ino_t ino_at(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 ? 0 : st.st_ino;
}

static ino_t ino_of(const char *path)
{
	return ino_at(AT_FDCWD, path);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Names in @dir that look like our temporary names. */
static int strays(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".fsindex-"))
			n++;
	closedir(d);
	return n;
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

static void set_mtime(const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		abort();
}

/* Remove @name below @dirfd, whatever its depth (paths past PATH_MAX included). */
static void rm_rf_at(int dirfd, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rm_rf_at(fd, e->d_name);
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* ---- groups ---- */

#define MAXF 8
#define MAXN 4

struct fx {
	struct dups_group g;
	struct dups_file files[MAXF];
	struct dups_name names[MAXF][MAXN];
};

/* Add a file whose names are the NULL-terminated @paths, recorded as it is now. */
static struct dups_file *add(struct fx *x, const char *const *paths)
{
	struct dups_file *f = &x->files[x->g.nfiles];
	struct stat st;

	if (lstat(paths[0], &st) < 0)
		abort();
	memset(f, 0, sizeof(*f));
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = (uint64_t)st.st_size;
	f->mtime_sec = st.st_mtim.tv_sec;
	f->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	f->ctime_sec = st.st_ctim.tv_sec;
	f->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	f->nlink = (uint32_t)st.st_nlink;
	f->uid = st.st_uid;
	f->names = x->names[x->g.nfiles];
	for (size_t i = 0; paths[i]; i++) {
		f->names[i].path = paths[i];
		f->names[i].len = strlen(paths[i]);
		f->nnames++;
	}
	x->g.files = x->files;
	x->g.size = f->size;
	x->g.nfiles++;
	return f;
}

#define ADD(x, ...) add((x), (const char *const[]){ __VA_ARGS__, NULL })

/* Record @f's tuple again as it is now (after our own actions moved its ctime). */
static void rerecord(struct dups_file *f)
{
	struct stat st;

	if (lstat(f->names[0].path, &st) < 0)
		abort();
	f->ctime_sec = st.st_ctim.tv_sec;
	f->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	f->mtime_sec = st.st_mtim.tv_sec;
	f->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
}

/* ---- what dupact reported ---- */

struct rec {
	int reports, dry, errors;
	int last_err;
	char last_what[32];
	char last_report[16];
	char last_err_path[256];
	char last_kept[256];
	int fail_report;		/* on_report returns it from the first report on */
	struct cancel *cancel;		/* on_report sets it (a signal arriving mid-run) */
};

static int on_report(void *ctx, const char *what, const char *path, size_t len,
		     const char *kept, size_t klen, bool dry_run)
{
	struct rec *r = ctx;

	r->reports++;
	r->dry += dry_run;
	snprintf(r->last_report, sizeof(r->last_report), "%s", what);
	snprintf(r->last_kept, sizeof(r->last_kept), "%.*s", (int)klen, kept);
	if (r->cancel)
		cancel_request(r->cancel, SIGINT);
	return r->fail_report;
}

static void on_error(void *ctx, const char *path, size_t len, const char *what, int err,
		     const char *kept, size_t klen)
{
	struct rec *r = ctx;

	r->errors++;
	if (getenv("TEST_DUPACT_VERBOSE"))
		diag("error: %s '%.*s': %s", what, (int)len, path, dupact_strerror(err));
	r->last_err = err;
	snprintf(r->last_what, sizeof(r->last_what), "%s", what);
	snprintf(r->last_err_path, sizeof(r->last_err_path), "%.*s", (int)len, path);
}

static int run(struct fx *x, enum dupact_kind kind, enum dupact_keep keep, bool dry,
	       struct rec *rec, struct dupact_stats *st)
{
	struct dupact_opts o = {
		.kind = kind, .keep = keep, .dry_run = dry,
		.on_report = on_report, .on_error = on_error, .ctx = rec,
	};

	memset(rec, 0, sizeof(*rec));
	memset(st, 0, sizeof(*st));
	return dupact_group(&x->g, &o, st);
}

/* run() with a cancel flag, set beforehand with @cancel_first, else by the first report. */
static int run_cancel(struct fx *x, enum dupact_kind kind, bool cancel_first, int fail_report,
		      struct rec *rec, struct dupact_stats *st)
{
	static struct cancel cancel;
	struct dupact_opts o = {
		.kind = kind, .on_report = on_report, .on_error = on_error, .ctx = rec,
		.cancel = &cancel,
	};

	memset(rec, 0, sizeof(*rec));
	memset(st, 0, sizeof(*st));
	atomic_store(&cancel.sig, cancel_first ? SIGINT : 0); /* a fresh token per run */
	rec->fail_report = fail_report;
	if (!cancel_first && !fail_report)
		rec->cancel = &cancel;
	return dupact_group(&x->g, &o, st);
}

/* A fresh directory for one case, with subdirectories a, b, c. */
static char *case_dir(const char *name)
{
	char *d = str("%s/%02d-%s", base, ++ncase, name);

	make_dir(d);
	make_dir(str("%s/a", d));
	make_dir(str("%s/b", d));
	make_dir(str("%s/c", d));
	return d;
}

/* ---- cases ---- */

static void test_choose(void)
{
	struct dups_file f[4] = {
		{ .mtime_sec = 10, .mtime_nsec = 5 },
		{ .mtime_sec = 9, .mtime_nsec = 999 },
		{ .mtime_sec = 10, .mtime_nsec = 6 },
		{ .mtime_sec = 9, .mtime_nsec = 999 },
	};
	struct dups_group g = { .files = f, .nfiles = 4 };

	ok(dupact_choose_keeper(&g, DUPACT_KEEP_FIRST) == 0, "keep=first chooses the first file");
	ok(dupact_choose_keeper(&g, DUPACT_KEEP_OLDEST) == 1, "keep=oldest: smallest mtime, ties to the earlier");
	ok(dupact_choose_keeper(&g, DUPACT_KEEP_NEWEST) == 2, "keep=newest: largest mtime, nanoseconds count");
	f[3].mtime_nsec = 998;
	ok(dupact_choose_keeper(&g, DUPACT_KEEP_OLDEST) == 3, "keep=oldest sees a 1 ns difference");
}

static void test_link(void)
{
	char *d = case_dir("link");
	char *k = str("%s/a/k", d), *x1 = str("%s/b/x", d), *x2 = str("%s/b/x2", d);
	char *y = str("%s/c/y", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t kino;

	make_file(k, 1, SZ, -1);
	make_file(x1, 1, SZ, -1);
	if (link(x1, x2) < 0)
		abort();
	make_file(y, 1, SZ, -1);
	kino = ino_of(k);
	ADD(&x, k);
	ADD(&x, x1, x2);
	ADD(&x, y);

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0, "link: group handled");
	ok(ino_of(k) == kino && has_content(k, 1, SZ), "link: kept file untouched");
	ok(ino_of(x1) == kino && ino_of(x2) == kino && ino_of(y) == kino,
	   "link: every name of the others is now the kept inode (both hard links of x too)");
	ok(same_bytes(k, x1) && same_bytes(k, y), "link: content equal (cmp)");
	ok(st.acted == 3 && st.errors == 0 && st.bytes == 2 * SZ,
	   "link: 3 names acted, 2 inodes freed (acted %llu, bytes %llu, errors %llu)",
	   (unsigned long long)st.acted, (unsigned long long)st.bytes, (unsigned long long)st.errors);
	ok(rec.reports == 3 && rec.dry == 0 && !strcmp(rec.last_report, "link") &&
	   !strcmp(rec.last_kept, k), "link: three 'link' reports naming the kept file");
	ok(strays(str("%s/b", d)) == 0 && strays(str("%s/c", d)) == 0, "link: no temporary name left");

	/* Running it again finds every name already the kept file: nothing to do, no error. */
	memset(&x, 0, sizeof(x));
	ADD(&x, k);
	ADD(&x, x1, x2);
	ADD(&x, y);
	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && st.acted == 0 &&
	   st.errors == 0 && rec.errors == 0, "link again: names already linked are left alone");
}

static void test_delete(void)
{
	char *d = case_dir("delete");
	char *k = str("%s/a/k", d), *x1 = str("%s/b/x", d), *x2 = str("%s/c/x2", d);
	char *y = str("%s/c/y", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t kino;

	make_file(k, 2, SZ, -1);
	make_file(x1, 2, SZ, -1);
	if (link(x1, x2) < 0)
		abort();
	make_file(y, 2, SZ, -1);
	kino = ino_of(k);
	ADD(&x, k);
	ADD(&x, x1, x2);
	ADD(&x, y);

	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0, "delete: group handled");
	ok(ino_of(k) == kino && has_content(k, 2, SZ), "delete: kept file untouched");
	ok(!exists(x1) && !exists(x2) && !exists(y), "delete: every name of the others removed");
	ok(st.acted == 3 && st.bytes == 2 * SZ && st.errors == 0 && rec.reports == 3 &&
	   !strcmp(rec.last_report, "delete"), "delete: 3 names, 2 files' bytes reclaimed");
}

/* A signal (the cancel flag), or a report that cannot be written, stops before the next file. */
static void test_stop(void)
{
	char *d = case_dir("stop");
	char *k = str("%s/a/k", d), *x1 = str("%s/b/x", d), *y = str("%s/c/y", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;

	make_file(k, 4, SZ, -1);
	make_file(x1, 4, SZ, -1);
	make_file(y, 4, SZ, -1);
	ADD(&x, k);
	ADD(&x, x1);
	ADD(&x, y);
	ok(run_cancel(&x, DUPACT_DELETE, true, 0, &rec, &st) == -ECANCELED,
	   "cancelled before: -ECANCELED");
	ok(exists(x1) && exists(y) && st.acted == 0 && rec.reports == 0, "... nothing done");
	ok(run_cancel(&x, DUPACT_DELETE, false, 0, &rec, &st) == -ECANCELED,
	   "cancelled by the first report: -ECANCELED");
	ok(!exists(x1) && exists(y) && st.acted == 1 && rec.reports == 1,
	   "... the file being acted on is done, the next is left");
	rerecord(&x.files[0]);
	ok(run_cancel(&x, DUPACT_DELETE, false, -ENOSPC, &rec, &st) == -ENOSPC,
	   "a report that cannot be written: its error is returned");
	ok(!exists(y) && st.acted == 1 && rec.reports == 1 && has_content(k, 4, SZ),
	   "... after the action it reports; the kept file intact");
}

/* Leftover temporary names of an interrupted --link: removed only when provably ours. */
static void test_temps(void)
{
	char *d = case_dir("temps");
	char *k = str("%s/a/k", d), *f = str("%s/b/f", d);
	char *t1 = str("%s/b/.f.fsindex-Ab12cd", d), *t2 = str("%s/b/.gone.fsindex-Zz9yX8", d);
	char *t3 = str("%s/c/.y.fsindex-000000", d), *y = str("%s/c/y", d);
	struct dupact_stats st;
	struct dups_file *kf;
	struct fx x = { 0 };
	struct rec rec;
	size_t blen;

	ok(dups_is_temp_name(".f.fsindex-Ab12cd", 17, &blen) && blen == 1, "temp name: recognised");
	ok(!dups_is_temp_name(".f.fsindex-Ab12c", 16, NULL) &&
	   !dups_is_temp_name("f.fsindex-Ab12cd", 16, NULL) &&
	   !dups_is_temp_name("..fsindex-Ab12cd", 16, NULL) &&
	   !dups_is_temp_name(".f.fsindex-Ab12c-", 17, NULL) &&
	   !dups_is_temp_name(".f.fsindex_Ab12cd", 17, NULL),
	   "temp name: near misses are not");

	make_file(k, 5, SZ, -1);
	make_file(f, 5, SZ, -1);
	make_file(y, 5, SZ, -1);
	if (link(k, t1) < 0 || link(k, t2) < 0 || link(y, t3) < 0)
		abort();
	kf = ADD(&x, k);
	kf->temps = &x.names[0][1];
	kf->temps[0] = (struct dups_name){ .path = t1, .len = strlen(t1) };
	kf->temps[1] = (struct dups_name){ .path = t2, .len = strlen(t2) };
	kf->ntemps = 2;
	ADD(&x, f);
	ADD(&x, y)->temps = &x.names[2][1];
	x.files[2].temps[0] = (struct dups_name){ .path = t3, .len = strlen(t3) };
	x.files[2].ntemps = 1;

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, true, &rec, &st) == 0 && st.removed == 2 &&
	   exists(t1) && exists(t3), "dry run: would remove two, removes nothing");
	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0, "link: group handled");
	ok(!exists(t1) && !exists(t3) && st.removed == 2, "... the two leftovers removed");
	ok(exists(t2), "... the one whose name 'gone' is not beside it is left");
	ok(st.acted == 2 && st.errors == 0 && ino_of(f) == ino_of(k) && ino_of(y) == ino_of(k),
	   "... and the others linked (the kept file's ctime moved by our unlink is expected)");
	ok(has_content(k, 5, SZ) && has_content(f, 5, SZ), "... every name intact");
}

static void test_keep_by_mtime(void)
{
	char *d = case_dir("keep-mtime");
	char *p0 = str("%s/a/f", d), *p1 = str("%s/b/f", d), *p2 = str("%s/c/f", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t i1, i2;

	make_file(p0, 3, 5000, -1);
	make_file(p1, 3, 5000, -1);
	make_file(p2, 3, 5000, -1);
	set_mtime(p0, 1500000000);
	set_mtime(p1, 1400000000);	/* oldest */
	set_mtime(p2, 1600000000);	/* newest */
	i1 = ino_of(p1);
	ADD(&x, p0);
	ADD(&x, p1);
	ADD(&x, p2);

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_OLDEST, false, &rec, &st) == 0 && st.acted == 2 &&
	   ino_of(p0) == i1 && ino_of(p1) == i1 && ino_of(p2) == i1 && !strcmp(rec.last_kept, p1),
	   "keep=oldest: both others linked to the oldest (b/f)");

	/* Again from scratch, deleting, keeping the newest. */
	d = case_dir("keep-newest");
	p0 = str("%s/a/f", d), p1 = str("%s/b/f", d), p2 = str("%s/c/f", d);
	make_file(p0, 3, 5000, -1);
	make_file(p1, 3, 5000, -1);
	make_file(p2, 3, 5000, -1);
	set_mtime(p0, 1500000000);
	set_mtime(p1, 1400000000);
	set_mtime(p2, 1600000000);
	i2 = ino_of(p2);
	memset(&x, 0, sizeof(x));
	ADD(&x, p0);
	ADD(&x, p1);
	ADD(&x, p2);
	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_NEWEST, false, &rec, &st) == 0 && st.acted == 2 &&
	   !exists(p0) && !exists(p1) && ino_of(p2) == i2 && has_content(p2, 3, 5000),
	   "keep=newest: the newest (c/f) kept, the others deleted");
}

static void test_stale(void)
{
	char *d = case_dir("stale");
	char *k = str("%s/a/k", d), *grow = str("%s/b/grow", d), *touched = str("%s/b/touched", d);
	char *good = str("%s/c/good", d), *gone = str("%s/c/gone", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t gi, ti, kino;
	int fd;

	make_file(k, 4, SZ, -1);
	make_file(grow, 4, SZ, -1);
	make_file(touched, 4, SZ, -1);
	make_file(good, 4, SZ, -1);
	make_file(gone, 4, SZ, -1);
	ADD(&x, k);
	ADD(&x, grow);
	ADD(&x, touched);
	ADD(&x, gone);
	ADD(&x, good);
	kino = ino_of(k), gi = ino_of(grow), ti = ino_of(touched);

	/* After "hashing": one grows by a byte, one gets another mtime, one vanishes. */
	fd = open(grow, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "z", 1) != 1)
		abort();
	close(fd);
	set_mtime(touched, 1234567890);
	unlink(gone);

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0, "stale: group handled");
	ok(ino_of(grow) == gi && ino_of(touched) == ti, "stale: changed files not replaced");
	ok(has_content(touched, 4, SZ), "stale: touched file keeps its content");
	ok(ino_of(good) == kino, "stale: the unchanged file was still linked");
	ok(st.acted == 1 && st.errors == 3 && rec.errors == 3 && !strcmp(rec.last_what, "cannot link"),
	   "stale: three errors reported, one name acted (errors %d)", rec.errors);

	/* Same with delete: the changed ones stay.  (Our links moved the kept file's ctime.) */
	rerecord(&x.files[0]);
	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && exists(grow) &&
	   exists(touched) && st.errors == 3 && st.acted == 0,
	   "stale: delete leaves changed files (and 'good', now the kept inode) alone");
	ok(exists(good), "stale: a name that is the kept inode is never deleted");

	/* Reasons: -ESTALE for a change, -ENOENT for a vanished name. */
	d = case_dir("stale-reasons");
	{
		char *f = str("%s/b/f", d);
		struct dups_file *rf;

		make_file(f, 4, SZ, -1);
		memset(&x, 0, sizeof(x));
		ADD(&x, k);
		rf = ADD(&x, f);
		rf->mtime_nsec ^= 1;	/* recorded tuple differs from the file's */
		ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 &&
		   rec.last_err == -ESTALE && exists(f) && !strcmp(rec.last_err_path, f),
		   "stale: a recorded tuple that differs gives -ESTALE naming the path");
		ok(!strcmp(dupact_strerror(-ESTALE), "changed since it was hashed"),
		   "dupact_strerror(-ESTALE) explains");
		rf->mtime_nsec ^= 1;
		rf->names[0].path = gone;
		rf->names[0].len = strlen(gone);
		ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 &&
		   rec.last_err == -ENOENT, "stale: a vanished name gives -ENOENT");
	}
}

static void test_keeper_changed(void)
{
	char *d = case_dir("keeper-changed");
	char *k = str("%s/a/k", d), *f1 = str("%s/b/f", d), *f2 = str("%s/c/f", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t i1;

	make_file(k, 5, SZ, -1);
	make_file(f1, 5, SZ, -1);
	if (link(f1, f2) < 0)
		abort();
	ADD(&x, k);
	ADD(&x, f1, f2);
	i1 = ino_of(f1);
	set_mtime(k, 1000000000);	/* after hashing, the file to keep changes */

	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && exists(f1) &&
	   exists(f2) && ino_of(f1) == i1, "keeper changed: nothing deleted");
	ok(rec.errors == 1 && rec.last_err == -ESTALE && !strcmp(rec.last_what, "kept file") &&
	   !strcmp(rec.last_err_path, k) && st.errors == 2 && st.acted == 0 && rec.reports == 0,
	   "keeper changed: one error on the kept file, both names counted as left");
	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && ino_of(f1) == i1 &&
	   st.errors == 2, "keeper changed: nothing linked");
}

static void test_differs(void)
{
	char *d = case_dir("differs");
	char *k = str("%s/a/k", d), *f = str("%s/b/f", d), *g = str("%s/c/g", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	ino_t fi, gi;

	make_file(k, 6, SZ, -1);
	make_file(f, 6, SZ, 300000);	/* in the second 256 KiB chunk */
	make_file(g, 6, SZ, (long)SZ - 1); /* the very last byte */
	fi = ino_of(f), gi = ino_of(g);
	/* A forged group: same size, same "hash", different bytes. */
	ADD(&x, k);
	ADD(&x, f);
	ADD(&x, g);

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && ino_of(f) == fi &&
	   ino_of(g) == gi && has_content(k, 6, SZ), "differs: link replaces nothing");
	ok(rec.errors == 2 && rec.last_err == -EBADE && st.acted == 0 && st.errors == 2,
	   "differs: -EBADE for both");
	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && exists(f) &&
	   exists(g) && rec.last_err == -EBADE, "differs: delete removes nothing");
	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, true, &rec, &st) == 0 && rec.errors == 2 &&
	   rec.reports == 0, "differs: the dry run compares too and reports the difference");
	ok(strstr(dupact_strerror(-EBADE), "differs") != NULL, "dupact_strerror(-EBADE) explains");
	ok(strays(str("%s/b", d)) == 0 && strays(str("%s/c", d)) == 0, "differs: no temporary name left");
}

static void test_dry_run(void)
{
	static const enum dupact_kind kinds[] = { DUPACT_LINK, DUPACT_DELETE, DUPACT_REFLINK };
	static const char *const names[] = { "link", "delete", "reflink" };

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		char *d = case_dir(str("dry-%s", names[i]));
		char *k = str("%s/a/k", d), *f1 = str("%s/b/f", d), *f2 = str("%s/b/f2", d);
		char *g = str("%s/c/g", d);
		struct stat sk, sf, sg, after;
		struct dupact_stats st;
		struct fx x = { 0 };
		struct rec rec;
		bool same;

		make_file(k, 7, SZ, -1);
		make_file(f1, 7, SZ, -1);
		if (link(f1, f2) < 0)
			abort();
		make_file(g, 7, SZ, -1);
		ADD(&x, k);
		ADD(&x, f1, f2);
		ADD(&x, g);
		if (lstat(k, &sk) || lstat(f1, &sf) || lstat(g, &sg))
			abort();

		ok(run(&x, kinds[i], DUPACT_KEEP_FIRST, true, &rec, &st) == 0 && rec.errors == 0,
		   "dry-run %s: no error", names[i]);
		same = lstat(k, &after) == 0 && after.st_ino == sk.st_ino &&
		       after.st_ctim.tv_sec == sk.st_ctim.tv_sec &&
		       after.st_ctim.tv_nsec == sk.st_ctim.tv_nsec && after.st_nlink == 1 &&
		       lstat(f1, &after) == 0 && after.st_ino == sf.st_ino && after.st_nlink == 2 &&
		       after.st_ctim.tv_sec == sf.st_ctim.tv_sec &&
		       after.st_ctim.tv_nsec == sf.st_ctim.tv_nsec && ino_of(f2) == sf.st_ino &&
		       lstat(g, &after) == 0 && after.st_ino == sg.st_ino &&
		       has_content(k, 7, SZ) && has_content(f1, 7, SZ) && has_content(g, 7, SZ);
		ok(same, "dry-run %s: inodes, link counts, ctimes and contents unchanged", names[i]);
		ok(rec.dry == rec.reports && rec.reports == (kinds[i] == DUPACT_REFLINK ? 2 : 3) &&
		   !strcmp(rec.last_report, names[i]) && st.bytes == 2 * SZ,
		   "dry-run %s: says what it would do (%d reports, %llu bytes)", names[i],
		   rec.reports, (unsigned long long)st.bytes);
	}
}

/* Second filesystem for -EXDEV: /dev/shm if it is one, else a tmpfs mounted as root. */
static char *other_fs(dev_t dev, char **ret_mount)
{
	struct stat st;
	char *p;

	*ret_mount = NULL;
	p = str("/dev/shm/test-dupact-XXXXXX");
	if (mkdtemp(p)) {
		if (stat(p, &st) == 0 && st.st_dev != dev)
			return p;
		rmdir(p);
	}
	if (geteuid() != 0)
		return NULL;
	p = str("%s/mnt", base);
	make_dir(p);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m") < 0) {
		diag("cannot mount a tmpfs: %m");
		return NULL;
	}
	*ret_mount = p;
	return p;
}

static void test_xdev(void)
{
	char *d = case_dir("xdev"), *other, *mnt;
	char *k = str("%s/a/k", d), *f, *g = str("%s/b/g", d);
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	struct stat sd;
	ino_t fi;

	if (stat(d, &sd) < 0)
		abort();
	other = other_fs(sd.st_dev, &mnt);
	if (!other) {
		skip("cross-filesystem link: no second filesystem (no /dev/shm, not root)");
		skip("cross-filesystem delete: no second filesystem");
		return;
	}
	f = str("%s/f", other);
	make_file(k, 8, SZ, -1);
	make_file(f, 8, SZ, -1);
	make_file(g, 8, SZ, -1);
	fi = ino_of(f);
	ADD(&x, k);
	ADD(&x, f);
	ADD(&x, g);

	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && ino_of(f) == fi &&
	   has_content(f, 8, SZ) && rec.errors == 1 && rec.last_err == -EXDEV &&
	   !strcmp(rec.last_err_path, f) && ino_of(g) == ino_of(k) && st.acted == 1,
	   "cross-filesystem link: -EXDEV for that file, no copy; the same-fs file still linked");
	/* Delete needs no common filesystem: the bytes are compared, then the name goes. */
	memset(&x, 0, sizeof(x));
	ADD(&x, k);
	ADD(&x, f);
	ok(run(&x, DUPACT_DELETE, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && !exists(f) &&
	   st.acted == 1, "cross-filesystem delete works");
	if (mnt && umount2(mnt, 0) < 0)
		umount2(mnt, MNT_DETACH);
	else
		rm_rf_at(AT_FDCWD, other);
}

/* Do @p1 and @p2 share their (first) extents?  1 yes, 0 no, -1 unknown. */
static int shares_extents(const char *p1, const char *p2)
{
	union {
		struct fiemap fm;
		char b[sizeof(struct fiemap) + 64 * sizeof(struct fiemap_extent)];
	} m[2];
	const char *p[2] = { p1, p2 };
	int shared = 1;

	for (int i = 0; i < 2; i++) {
		int fd = open(p[i], O_RDONLY | O_CLOEXEC), r;

		if (fd < 0)
			return -1;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].fm.fm_length = FIEMAP_MAX_OFFSET;
		m[i].fm.fm_flags = FIEMAP_FLAG_SYNC;
		m[i].fm.fm_extent_count = 64;
		r = ioctl(fd, FS_IOC_FIEMAP, &m[i].fm);
		close(fd);
		if (r < 0 || !m[i].fm.fm_mapped_extents)
			return -1;
	}
	if (m[0].fm.fm_mapped_extents != m[1].fm.fm_mapped_extents)
		return 0;
	for (unsigned e = 0; e < m[0].fm.fm_mapped_extents; e++)
		if (m[0].fm.fm_extents[e].fe_physical != m[1].fm.fm_extents[e].fe_physical ||
		    !(m[1].fm.fm_extents[e].fe_flags & FIEMAP_EXTENT_SHARED))
			shared = 0;
	return shared;
}

static void test_reflink(void)
{
	/* Large enough for several 16 MiB calls where reflink works. */
	size_t big = expect_reflink ? ((size_t)40 << 20) + 4096 * 3 + 17 : SZ;
	char *d = case_dir("reflink");
	char *k = str("%s/a/k", d), *f = str("%s/b/f", d), *h = str("%s/c/h", d);
	struct stat sf, sk, after;
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;

	make_file(k, 9, big, -1);
	make_file(f, 9, big, -1);
	make_file(h, 9, big, (long)big / 2);	/* differs in the middle */
	ADD(&x, k);
	ADD(&x, f);
	ADD(&x, h);
	if (lstat(f, &sf) || lstat(k, &sk))
		abort();
	if (expect_reflink)
		ok(shares_extents(k, f) == 0, "reflink: before, FIEMAP shows f and k apart");

	ok(run(&x, DUPACT_REFLINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0, "reflink: group handled");
	if (st.acted == 0 && rec.last_err == -EOPNOTSUPP) {
		ok(!expect_reflink, "reflink: 'not supported' (%s) is only right where no reflink is expected",
		   dupact_strerror(rec.last_err));
		ok(rec.errors == 2 && !strcmp(rec.last_what, "cannot reflink") &&
		   !strcmp(dupact_strerror(-EOPNOTSUPP), "reflink not supported on this filesystem"),
		   "reflink: a clear 'not supported' error for each file, no fallback");
		ok(lstat(f, &after) == 0 && after.st_ino == sf.st_ino && after.st_nlink == 1 &&
		   after.st_ctim.tv_sec == sf.st_ctim.tv_sec && after.st_ctim.tv_nsec == sf.st_ctim.tv_nsec &&
		   has_content(f, 9, big) && has_flipped_at(AT_FDCWD, h, 9, big, (long)big / 2),
		   "reflink: files unchanged");
		return;
	}
	ok(st.acted == 1 && st.bytes == big && st.errors == 1,
	   "reflink: one file deduped, %zu bytes (acted %llu, bytes %llu, last error %s)", big,
	   (unsigned long long)st.acted, (unsigned long long)st.bytes, dupact_strerror(rec.last_err));
	ok(rec.last_err == -EBADE && !strcmp(rec.last_err_path, h) &&
	   has_flipped_at(AT_FDCWD, h, 9, big, (long)big / 2),
	   "reflink: the kernel found h different (-EBADE), h unchanged");
	ok(lstat(f, &after) == 0 && after.st_ino == sf.st_ino && same_bytes(k, f) &&
	   has_content(k, 9, big) && lstat(k, &after) == 0 && after.st_ino == sk.st_ino &&
	   after.st_mtim.tv_sec == sk.st_mtim.tv_sec && after.st_mtim.tv_nsec == sk.st_mtim.tv_nsec,
	   "reflink: f keeps its inode and bytes, kept file untouched");
	if (expect_reflink) {
		int sh = shares_extents(k, f);

		ok(sh == 1, "reflink: FIEMAP shows f's extents are k's, flagged shared (%d)", sh);
	}
}

/*
 * Fault injection: fail the Nth system call for N = 1, 2, ... until the action
 * succeeds.  After every N: the kept file untouched, each other name either its
 * original file or (link) the kept one or (delete) gone, contents intact,
 * every acted name counted, no temporary name, no descriptor leaked.
 */
static void test_faults(enum dupact_kind kind, const char *kname)
{
	unsigned long n;
	int bad = 0, fds0 = count_fds();
	bool done = false;

	for (n = 1; n <= 400 && !done; n++) {
		char *d = case_dir(str("fault-%s-%lu", kname, n));
		char *k = str("%s/a/k", d), *x1 = str("%s/b/x", d), *x2 = str("%s/c/x2", d);
		char *y = str("%s/c/y", d);
		const char *others[] = { x1, x2, y };
		ino_t kino, oino[3];
		struct dupact_stats st;
		struct fx x = { 0 };
		struct rec rec;
		char num[32];
		unsigned changed = 0;
		int r;

		make_file(k, 10, FSZ, -1);
		make_file(x1, 10, FSZ, -1);
		if (link(x1, x2) < 0)
			abort();
		make_file(y, 10, FSZ, -1);
		kino = ino_of(k);
		for (int i = 0; i < 3; i++)
			oino[i] = ino_of(others[i]);
		ADD(&x, k);
		ADD(&x, x1, x2);
		ADD(&x, y);

		snprintf(num, sizeof(num), "%lu", n);
		setenv("FSINDEX_DEBUG_FAIL_AT", num, 1);
		r = run(&x, kind, DUPACT_KEEP_FIRST, false, &rec, &st);
		unsetenv("FSINDEX_DEBUG_FAIL_AT");

		if (r != 0 || ino_of(k) != kino || !has_content(k, 10, FSZ)) {
			diag("%s N=%lu: returned %d, or the kept file changed", kname, n, r);
			bad++;
		}
		for (int i = 0; i < 3; i++) {
			ino_t now = ino_of(others[i]);
			bool intact = now == oino[i] && has_content(others[i], 10, FSZ);
			bool acted = kind == DUPACT_LINK ? now == kino : (kind == DUPACT_DELETE ? now == 0 :
					(now == oino[i] && same_bytes(k, others[i])));

			if (kind == DUPACT_REFLINK) {
				if (!intact) {
					diag("%s N=%lu: %s lost its content", kname, n, others[i]);
					bad++;
				}
				continue;
			}
			if (!intact && !acted) {
				diag("%s N=%lu: %s neither intact nor %sed", kname, n, others[i], kname);
				bad++;
			}
			changed += !intact && acted;
		}
		if (kind != DUPACT_REFLINK && (changed != st.acted || st.acted + st.errors != 3)) {
			diag("%s N=%lu: %u names changed, stats say acted %llu errors %llu", kname, n,
			     changed, (unsigned long long)st.acted, (unsigned long long)st.errors);
			bad++;
		}
		if (strays(str("%s/b", d)) || strays(str("%s/c", d))) {
			diag("%s N=%lu: temporary name left behind", kname, n);
			bad++;
		}
		if (fds0 >= 0 && count_fds() != fds0) {
			diag("%s N=%lu: descriptors leaked (%d -> %d)", kname, n, fds0, count_fds());
			bad++;
			fds0 = count_fds();
		}
		if (st.errors == 0) {
			done = true;
			if (st.acted != (kind == DUPACT_REFLINK ? 2u : 3u)) {
				diag("%s N=%lu: no error but not all done", kname, n);
				bad++;
			}
		}
		rm_rf_at(AT_FDCWD, d);
		strs_free();
	}
	ok(done && bad == 0, "fault injection, %s: each of the %lu failing system calls left every file intact",
	   kname, n - 2);
	ok(n > 10, "fault injection, %s: the action makes more than a few checked calls (%lu)", kname, n - 2);
}

/* A path longer than PATH_MAX: directories are opened piecewise. */
static void test_long_path(void)
{
	char *d = case_dir("long");
	char *k = str("%s/a/k", d), comp[201], *deep;
	size_t len;
	int fd, nfd, depth = 0;
	struct dupact_stats st;
	struct fx x = { 0 };
	struct rec rec;
	unsigned char *b;

	memset(comp, 'd', 200);
	comp[200] = '\0';
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	deep = str("%s", d);
	while ((len = strlen(deep)) < PATH_MAX + 500) {
		if (mkdirat(fd, comp, 0755) < 0 || (nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			abort();
		close(fd);
		fd = nfd;
		deep = str("%s/%s", deep, comp);
		depth++;
	}
	make_file(k, 11, 10000, -1);
	b = content(11, 10000);
	if (write_at(fd, "f", b, 10000) < 0 || linkat(fd, "f", fd, "g", 0) < 0)
		abort();
	free(b);
	ADD(&x, k);
	{
		/* lstat of the long path is impossible: record from the descriptor. */
		struct dups_file *f = &x.files[1];
		struct stat s;

		if (fstatat(fd, "f", &s, 0) < 0)
			abort();
		*f = (struct dups_file){
			.dev = s.st_dev, .ino = s.st_ino, .size = 10000,
			.mtime_sec = s.st_mtim.tv_sec, .mtime_nsec = (uint32_t)s.st_mtim.tv_nsec,
			.ctime_sec = s.st_ctim.tv_sec, .ctime_nsec = (uint32_t)s.st_ctim.tv_nsec,
			.nlink = 2, .names = x.names[1], .nnames = 2,
		};
		x.names[1][0].path = str("%s/f", deep);
		x.names[1][0].len = strlen(x.names[1][0].path);
		x.names[1][1].path = str("%s/g", deep);
		x.names[1][1].len = strlen(x.names[1][1].path);
		x.g.nfiles = 2;
	}
	ok(run(&x, DUPACT_LINK, DUPACT_KEEP_FIRST, false, &rec, &st) == 0 && st.acted == 2 &&
	   st.errors == 0 && ino_at(fd, "f") == ino_of(k) && ino_at(fd, "g") == ino_of(k) &&
	   has_content_at(fd, "f", 11, 10000),
	   "long path (%zu bytes, %d levels): both names linked", x.names[1][0].len, depth);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			tmp = argv[++i];
		else if (!strcmp(argv[i], "--expect-reflink"))
			expect_reflink = true;
		else
			skip_all("usage: test-dupact [--dir DIR] [--expect-reflink]");
	}
	unsetenv("FSINDEX_DEBUG_FAIL_AT");
	unsetenv("FSINDEX_DEBUG_RAISE_AT");
	plan_lazy();
	dir = str("%s/test-dupact-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || !realpath(dir, base)) {
		printf("Bail out! cannot make a temporary directory in %s\n", tmp ? tmp : "/tmp");
		return 1;
	}
	strs_free();

	test_choose();
	if (!expect_reflink) {
		test_link();
		test_delete();
		test_stop();
		test_temps();
		test_keep_by_mtime();
		test_stale();
		test_keeper_changed();
		test_differs();
		test_dry_run();
		test_xdev();
		test_long_path();
		strs_free();
		test_faults(DUPACT_LINK, "link");
		test_faults(DUPACT_DELETE, "delete");
	}
	test_reflink();
	if (expect_reflink) {
		/* The actions on a filesystem with shared extents, and reflink interrupted. */
		test_link();
		test_delete();
		test_differs();
		strs_free();
		test_faults(DUPACT_REFLINK, "reflink");
	}
	strs_free();
	rm_rf_at(AT_FDCWD, base);
	return done_testing();
}

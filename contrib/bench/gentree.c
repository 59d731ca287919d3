/*
 * gentree — deterministic benchmark tree generator for fsindex (contrib/bench).
 *
 * Not part of fsindex; compiled on the fly by gentree.sh into the bench work
 * directory.  Everything is derived from one 64-bit seed through splitmix64,
 * so the same arguments always give the same names, sizes, contents and
 * timestamps.
 *
 * Modes:
 *   tree  ~NFILES regular files over ~NFILES/4 directories of depth 1..12.
 *         File sizes: ~3% empty, ~99.9% of the rest log-uniform in
 *         [64 B, 64 KiB], ~0.1% log-uniform in [512 KiB, 8 MiB]; all sizes are
 *         then scaled so that the total is TOTAL bytes (default 10,500 bytes
 *         per file, i.e. ~2.1 GB for 200k files).  About 4% of the files are
 *         byte-identical copies of an earlier file, ~10% have the size of an
 *         earlier file but other content, and ~1% of those share the first
 *         4 KiB with it and differ only in the last bytes (exercises the
 *         partial-hash stages of a duplicate finder).  ~0.5% symlinks.
 *         Files land in directories with a skewed distribution (a few big
 *         directories, many small or empty ones).  Content is cut out of one
 *         32 MiB block of PRNG bytes at a per-file offset, with the first 8
 *         bytes replaced by a content id, so distinct contents really differ.
 *   meta  the same shape with every file empty (no data blocks): for the
 *         1,000,000-file memory test.
 *   chain a single chain of NFILES nested directories named "d", built with
 *         mkdirat/openat (works past PATH_MAX), one small file at the bottom.
 *   wide-dirs / wide-files
 *         one directory holding NFILES empty subdirectories / empty files
 *         (same names), for the per-pending-task memory measurement.
 *
 * All mtimes are set into the past (2019..2024) so no entry is "racily
 * clean" relative to the scan that follows.
 *
 * Usage: gentree MODE DIR NFILES SEED [TOTAL_BYTES]
 * DIR must not exist yet (its parent must).  Prints a one-line summary on
 * stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 12
#define BLOCK_SIZE (32u << 20)
#define SMALL_MIN 64u
#define SMALL_MAX (64u << 10)
#define LARGE_MIN (512u << 10)
#define LARGE_MAX (8u << 20)
#define MAX_FILE (BLOCK_SIZE / 2)
#define T_MIN 1546300800LL /* 2019-01-01 */
#define T_SPAN (5LL * 365 * 86400)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0,1) */
static double rndf(void)
{
	return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gentree: %s '%s': %s\n", what, path ? path : "",
		strerror(errno));
	exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p) {
		fprintf(stderr, "gentree: out of memory\n");
		exit(1);
	}
	return p;
}

static const char *const syl[] = {
	"ka", "to", "mi", "re", "su", "no", "la", "be", "ti", "xo", "pa", "dun",
	"ver", "lib", "src", "core", "net", "img", "doc", "cfg", "tmp", "old",
	"data", "test", "util", "main", "app", "web", "log", "run",
};
static const char *const ext[] = {
	".c", ".h", ".txt", ".jpg", ".png", ".so", ".py", ".json", ".md",
	".o", ".html", ".js", ".gz", ".pdf", ".xml", ".log", "", ".rs", ".go",
	".mp3",
};
#define NSYL (sizeof(syl) / sizeof(syl[0]))
#define NEXT (sizeof(ext) / sizeof(ext[0]))

/* a pseudo-word plus a unique base-36 suffix (unique across the whole tree) */
static void mkname(char *buf, size_t len, uint64_t id, int is_file)
{
	char word[64] = "", sfx[16];
	int n = 1 + (int)rndn(3), i = 0, k = 0;

	for (i = 0; i < n; i++)
		strcat(word, syl[rndn(NSYL)]);
	do {
		sfx[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[id % 36];
		id /= 36;
	} while (id);
	sfx[k] = 0;
	snprintf(buf, len, "%s%s%s%s", word, rndn(4) ? "_" : "-", sfx,
		 is_file ? ext[rndn(NEXT)] : "");
}

struct dir {
	uint32_t parent;
	uint8_t depth;
	char *path;
};

struct file {
	uint32_t dir;
	uint64_t size;
	uint64_t off;		/* offset into the random block */
	uint64_t cid;		/* content id written in the first 8 bytes */
	uint64_t tail;		/* nonzero: overwrite the last 8 bytes with it */
	uint8_t kind;		/* 0 file, 1 symlink */
};

static unsigned char *block;

static void settime(int fd, const char *path)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = T_MIN + (time_t)rndn(T_SPAN);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)rndn(1000000000);
	if (fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW))
		die("utimens", path);
}

static void write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write", path);
		}
		p += n;
		len -= (size_t)n;
	}
}

static int gen_tree(const char *root, uint64_t nfiles, uint64_t total, int meta)
{
	uint64_t ndirs = nfiles / 4 + 1, i, sum = 0, copies = 0, samesize = 0,
		 sametail = 0, links = 0, empty = 0, bytes = 0, depthhist[MAX_DEPTH + 1] = {0};
	struct dir *d = xcalloc(ndirs, sizeof(*d));
	struct file *f = xcalloc(nfiles, sizeof(*f));
	char name[256];
	size_t plen;
	double scale;

	/* directories: parent is either a recent directory (makes depth) or
	 * any directory (makes breadth); depth capped at MAX_DEPTH. */
	d[0].path = strdup(root);
	if (mkdir(root, 0755))
		die("mkdir", root);
	for (i = 1; i < ndirs; i++) {
		uint64_t p;

		if (i < 8 || rndn(100) < 35)
			p = rndn(i);
		else
			p = i - 1 - rndn(i < 16 ? i : 16);
		if (d[p].depth >= MAX_DEPTH || (d[p].depth >= 4 && rndn(100) < 15))
			p = rndn(i < 24 ? i : 24);	/* restart near the top */
		while (d[p].depth >= MAX_DEPTH)
			p = d[p].parent;
		d[i].parent = (uint32_t)p;
		d[i].depth = (uint8_t)(d[p].depth + 1);
		mkname(name, sizeof(name), i, 0);
		plen = strlen(d[p].path) + 1 + strlen(name) + 1;
		d[i].path = xcalloc(plen, 1);
		snprintf(d[i].path, plen, "%s/%s", d[p].path, name);
		if (mkdir(d[i].path, 0755))
			die("mkdir", d[i].path);
		depthhist[d[i].depth]++;
	}

	/* files: skewed placement (u^3 piles files onto a few directories,
	 * the multiplicative hash scatters those over all depths), sizes,
	 * duplicates. */
	for (i = 0; i < nfiles; i++) {
		double u = rndf();
		uint64_t r = rndn(1000);

		f[i].dir = (uint32_t)(((uint64_t)(ndirs * (u * u * u)) * 0x9e3779b1ULL) % ndirs);
		f[i].off = rndn(BLOCK_SIZE - MAX_FILE);
		f[i].cid = i + 1;
		if (r < 5) {
			f[i].kind = 1;
			continue;
		}
		if (meta || r < 35) {
			f[i].size = 0;
		} else if (i > 0 && r < 75) {	/* exact copy */
			uint64_t s = rndn(i);

			while (s > 0 && (f[s].kind || !f[s].size))
				s--;
			f[i].size = f[s].size;
			f[i].off = f[s].off;
			f[i].cid = f[s].cid;
			f[i].tail = f[s].tail;
			copies++;
			continue;
		} else if (i > 0 && r < 175) {	/* same size, other content */
			uint64_t s = rndn(i);

			while (s > 0 && (f[s].kind || !f[s].size))
				s--;
			f[i].size = f[s].size;
			if (r < 85 && f[s].size > 8192) {
				f[i].off = f[s].off;
				f[i].cid = f[s].cid;
				f[i].tail = i + 1;
				sametail++;
			} else {
				samesize++;
			}
			continue;
		} else if (r < 176) {
			f[i].size = (uint64_t)exp(log(LARGE_MIN) + rndf() * (log(LARGE_MAX) - log(LARGE_MIN)));
		} else {
			f[i].size = (uint64_t)exp(log(SMALL_MIN) + rndf() * (log(SMALL_MAX) - log(SMALL_MIN)));
		}
	}

	/* scale all sizes to hit the requested total.  Every size goes through
	 * the same monotone function, so copies and same-size files keep the
	 * size of their source. */
	for (i = 0; i < nfiles; i++)
		sum += f[i].size;
	scale = (!meta && sum) ? (double)total / (double)sum : 0;
	if (scale > 0) {
		for (i = 0; i < nfiles; i++) {
			uint64_t s;

			if (f[i].kind || !f[i].size)
				continue;
			s = (uint64_t)((double)f[i].size * scale);
			if (s < 1)
				s = 1;
			if (s > MAX_FILE)
				s = MAX_FILE;
			f[i].size = s;
		}
	}

	block = malloc(BLOCK_SIZE);
	if (!block) {
		fprintf(stderr, "gentree: out of memory\n");
		exit(1);
	}
	for (i = 0; i < BLOCK_SIZE / 8; i++)
		((uint64_t *)block)[i] = rnd();

	for (i = 0; i < nfiles; i++) {
		char *path;
		int fd;

		mkname(name, sizeof(name), ndirs + i, 1);
		plen = strlen(d[f[i].dir].path) + 1 + strlen(name) + 1;
		path = xcalloc(plen, 1);
		snprintf(path, plen, "%s/%s", d[f[i].dir].path, name);
		if (f[i].kind == 1) {
			/* relative symlink to some file or a sibling name */
			char tgt[300];

			mkname(tgt, sizeof(tgt), ndirs + rndn(nfiles), 1);
			if (symlink(rndn(2) ? tgt : "../README", path))
				die("symlink", path);
			settime(-1, path);
			links++;
			free(path);
			continue;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create", path);
		if (f[i].size) {
			unsigned char *p = block + f[i].off;
			uint64_t save = 0, savet = 0, sz = f[i].size;

			/* stamp the content id (and tail id) in place, then undo */
			if (sz >= 8) {
				memcpy(&save, p, 8);
				memcpy(p, &f[i].cid, 8);
			}
			if (f[i].tail && sz >= 16) {
				memcpy(&savet, p + sz - 8, 8);
				memcpy(p + sz - 8, &f[i].tail, 8);
			}
			write_all(fd, p, sz, path);
			if (f[i].tail && sz >= 16)
				memcpy(p + sz - 8, &savet, 8);
			if (sz >= 8)
				memcpy(p, &save, 8);
			bytes += sz;
		} else {
			empty++;
		}
		settime(fd, path);
		close(fd);
		free(path);
	}
	/* directory mtimes last, deepest first */
	for (i = ndirs; i-- > 0;)
		settime(-1, d[i].path);

	printf("gentree: %s: %" PRIu64 " dirs, %" PRIu64 " files (%" PRIu64
	       " empty), %" PRIu64 " symlinks, %" PRIu64 " bytes; %" PRIu64
	       " exact copies, %" PRIu64 " same-size, %" PRIu64
	       " same-size+same-head; depth:", root, ndirs, nfiles - links, empty,
	       links, bytes, copies, samesize, sametail);
	for (i = 1; i <= MAX_DEPTH; i++)
		printf(" %" PRIu64, depthhist[i]);
	printf("\n");
	return 0;
}

static int gen_chain(const char *root, uint64_t depth)
{
	int fd, nfd;
	uint64_t i;

	if (mkdir(root, 0755))
		die("mkdir", root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open", root);
	for (i = 0; i < depth; i++) {
		if (mkdirat(fd, "d", 0755))
			die("mkdirat", "d");
		nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0)
			die("openat", "d");
		close(fd);
		fd = nfd;
	}
	nfd = openat(fd, "bottom.txt", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (nfd < 0)
		die("create", "bottom.txt");
	write_all(nfd, "bottom\n", 7, "bottom.txt");
	close(nfd);
	close(fd);
	printf("gentree: %s: chain of %" PRIu64 " directories\n", root, depth);
	return 0;
}

static int gen_wide(const char *root, uint64_t n, int dirs)
{
	int fd, e;
	uint64_t i;
	char name[32];

	if (mkdir(root, 0755))
		die("mkdir", root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open", root);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "e%07" PRIu64, i);
		if (dirs) {
			if (mkdirat(fd, name, 0755))
				die("mkdirat", name);
		} else {
			e = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (e < 0)
				die("create", name);
			close(e);
		}
	}
	close(fd);
	printf("gentree: %s: one directory with %" PRIu64 " empty %s\n", root, n,
	       dirs ? "subdirectories" : "files");
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n, seed, total;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: gentree tree|meta|chain|wide-dirs|wide-files DIR N SEED [TOTAL_BYTES]\n");
		return 2;
	}
	n = strtoull(argv[3], NULL, 10);
	seed = strtoull(argv[4], NULL, 10);
	total = argc > 5 ? strtoull(argv[5], NULL, 10) : n * 10500;
	rng_state = seed * 0x2545f4914f6cdd1dULL + 1;
	umask(022);
	if (!strcmp(argv[1], "tree") || !strcmp(argv[1], "meta")) {
		if (n < 1 || n > 0xffffffffULL) {
			fprintf(stderr, "gentree: N out of range\n");
			return 2;
		}
		return gen_tree(argv[2], n, total, !strcmp(argv[1], "meta"));
	}
	if (!strcmp(argv[1], "chain"))
		return gen_chain(argv[2], n);
	if (!strcmp(argv[1], "wide-dirs") || !strcmp(argv[1], "wide-files"))
		return gen_wide(argv[2], n, !strcmp(argv[1], "wide-dirs"));
	fprintf(stderr, "gentree: unknown mode '%s'\n", argv[1]);
	return 2;
}

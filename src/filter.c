/* SPDX-License-Identifier: MIT */
/*
 * filter.c - the metadata filters of `fsindex find`.
 *
 * A filter looks at what the index holds for an entry: its node (size,
 * mtime, owner, hash), its children (--empty on a directory), the other
 * files with its hash (--dup), and, for --exists only, the disk.  The caller
 * reads the node once per entry, and only when a filter needs it
 * (filter_needs_node()), so a query by name alone costs what it did.
 *
 * The checks run cheapest first: the fields of the node, then one cursor in
 * `child` or `hash`, and last a system call.
 *
 * Arguments are parsed strictly (a trailing byte is an error, not ignored)
 * and each failure has a reason the caller prints next to the argument.
 */
#include "filter.h"

#include "find.h"
#include "node.h"
#include "store.h"
#include "visible.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- parsing ------------------------------------------------------------ */

/* Decimal digits at *@p into *@ret (no sign); advances *@p.  -ERANGE past UINT64_MAX. */
static int parse_digits(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*ret = v;
	return 0;
}

int filter_parse_size(const char *s, struct filter_size *ret, const char **ret_why)
{
	static const char units[] = "kMGT";
	struct filter_size fs = { 0 };
	const char *u;
	uint64_t v;
	int r;

	if (*s == '+' || *s == '-')
		fs.cmp = *s++ == '+' ? 1 : -1;
	r = parse_digits(&s, &v);
	if (r < 0) {
		*ret_why = r == -ERANGE ? "too large" : "expected [+-]N[kMGT]";
		return -EINVAL;
	}
	if (*s) {
		u = strchr(units, *s == 'K' ? 'k' : *s);
		if (!u || s[1]) {
			*ret_why = "expected [+-]N[kMGT] (k, M, G, T: powers of 1024)";
			return -EINVAL;
		}
		for (long i = 0; i <= u - units; i++) {
			if (v > UINT64_MAX / 1024) {
				*ret_why = "too large";
				return -EINVAL;
			}
			v *= 1024;
		}
	}
	fs.bytes = v;
	*ret = fs;
	return 0;
}

/* Exactly @n digits at *@p as a number; advances *@p. */
static int fixed_digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*ret = v;
	return 0;
}

static int days_in_month(int year, int mon)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

/* "HH:MM[:SS][.frac]" at *@p into @tm and *@nsec; advances *@p. */
static int parse_clock(const char **p, struct tm *tm, uint32_t *nsec)
{
	const char *s = *p;

	if (fixed_digits(&s, 2, &tm->tm_hour) < 0 || *s++ != ':' ||
	    fixed_digits(&s, 2, &tm->tm_min) < 0)
		return -EINVAL;
	if (*s == ':') {
		s++;
		if (fixed_digits(&s, 2, &tm->tm_sec) < 0)
			return -EINVAL;
		if (*s == '.') {
			uint32_t scale = 100000000;

			if (*++s < '0' || *s > '9')
				return -EINVAL;
			for (; *s >= '0' && *s <= '9'; s++, scale /= 10) {
				if (!scale)
					return -EINVAL;
				*nsec += (uint32_t)(*s - '0') * scale;
			}
		}
	}
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 59)
		return -EINVAL;
	*p = s;
	return 0;
}

static int parse_epoch(const char *s, struct filter_time *ret, const char **ret_why)
{
	bool neg = *s == '-';
	uint64_t v;

	if (neg)
		s++;
	if (parse_digits(&s, &v) < 0 || *s || v > INT64_MAX) {
		*ret_why = "expected @SECONDS, a whole number";
		return -EINVAL;
	}
	*ret = (struct filter_time){ neg ? -(int64_t)v : (int64_t)v, 0 };
	return 0;
}

int filter_parse_date(const char *s, struct filter_time *ret, const char **ret_why)
{
	static const char *const form = "expected YYYY-MM-DD[ HH:MM[:SS[.frac]]][Z] or @SECONDS";
	struct tm tm = { 0 };
	uint32_t nsec = 0;
	bool utc = false;
	time_t t;

	if (*s == '@')
		return parse_epoch(s + 1, ret, ret_why);
	if (fixed_digits(&s, 4, &tm.tm_year) < 0 || *s++ != '-' ||
	    fixed_digits(&s, 2, &tm.tm_mon) < 0 || *s++ != '-' ||
	    fixed_digits(&s, 2, &tm.tm_mday) < 0)
		goto bad;
	if (*s == ' ' || *s == 'T') {
		s++;
		if (parse_clock(&s, &tm, &nsec) < 0)
			goto bad;
	}
	if (*s == 'Z') {
		utc = true;
		s++;
	}
	if (*s)
		goto bad;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > days_in_month(tm.tm_year, tm.tm_mon)) {
		*ret_why = "no such day";
		return -EINVAL;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	*ret = (struct filter_time){ (int64_t)t, nsec };
	return 0;
bad:
	*ret_why = form;
	return -EINVAL;
}

/* Does @s start as a date would (so a typo is reported as one, not as a missing file)? */
static bool looks_like_date(const char *s)
{
	if (*s == '@')
		return true;
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[4] == '-';
}

int filter_parse_when(const char *s, struct filter_time *ret, const char **ret_why)
{
	struct stat st;

	if (looks_like_date(s))
		return filter_parse_date(s, ret, ret_why);
	if (stat(s, &st) < 0) {
		*ret_why = "cannot stat it";
		return -errno;
	}
	*ret = (struct filter_time){ (int64_t)st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec };
	return 0;
}

int filter_parse_owner(const char *s, bool group, uint32_t *ret, const char **ret_why)
{
	const char *p = s;
	uint64_t v;

	if (group) {
		struct group *gr = *s ? getgrnam(s) : NULL;

		if (gr) {
			*ret = (uint32_t)gr->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = *s ? getpwnam(s) : NULL;

		if (pw) {
			*ret = (uint32_t)pw->pw_uid;
			return 0;
		}
	}
	/* (uid_t)-1 is "no id" to chown(2): no file has it. */
	if (parse_digits(&p, &v) < 0 || *p || v >= UINT32_MAX) {
		*ret_why = group ? "no such group" : "no such user";
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* ---- matching ----------------------------------------------------------- */

bool filter_needs_node(const struct filter *f)
{
	return f->what & (FILTER_SIZE | FILTER_NEWER | FILTER_OLDER | FILTER_USER | FILTER_GROUP |
			  FILTER_EMPTY | FILTER_DUP);
}

/* -1, 0, 1 as @n's mtime is before, at or after @t. */
static int mtime_cmp(const struct node *n, const struct filter_time *t)
{
	if (n->mtime_sec != t->sec)
		return n->mtime_sec < t->sec ? -1 : 1;
	return n->mtime_nsec < t->nsec ? -1 : n->mtime_nsec > t->nsec;
}

static bool node_passes(const struct filter *f, const struct node *n)
{
	if (f->what & FILTER_SIZE) {
		int c = n->size < f->size.bytes ? -1 : n->size > f->size.bytes;

		if (c != f->size.cmp)
			return false;
	}
	if ((f->what & FILTER_NEWER) && mtime_cmp(n, &f->newer) <= 0)
		return false;
	if ((f->what & FILTER_OLDER) && mtime_cmp(n, &f->older) >= 0)
		return false;
	if ((f->what & FILTER_USER) && n->uid != f->uid)
		return false;
	if ((f->what & FILTER_GROUP) && n->gid != f->gid)
		return false;
	return true;
}

static int any_child(void *ctx, const struct store_child *c)
{
	return 1;
}

/*
 * --empty: an empty regular file, or a directory the index holds no entry
 * in (in another's index, one the user may list: whether one they may not
 * is empty is not theirs to learn).
 */
static int is_empty(const struct filter *f, const struct find_entry *e, const struct node *n)
{
	int r;

	if (e->type == 'f')
		return n->size == 0;
	if (e->type != 'd')
		return 0;
	if (f->visible && !visible_dir(f->visible, e->path, e->len))
		return 0;
	r = store_foreach_child(e->reader, e->id, any_child, NULL);
	return r < 0 ? r : r == 0;
}

struct dup_probe {
	struct store_reader *rd;
	const struct node *self;
	struct visible *visible;
};

/*
 * In another's index, a file counts only if the user could reach and read
 * it: a duplicate they may not see would tell them what it holds.
 */
static bool readable(struct visible *v, const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);

	return !v || (slash && visible_entry(v, path, len, (size_t)(slash - path) + 1) &&
		      access(path, R_OK) == 0);
}

/* 1 when @id is another file than the probe's (not its id, nor a hard link of it). */
static int other_file(void *ctx, uint64_t id)
{
	struct dup_probe *p = ctx;
	struct node o;
	char *path;
	int r;

	if (id == p->self->id)
		return 0;
	r = store_get_node(p->rd, id, &o);
	if (r == -ENOENT)
		return 0;	/* a stale hash entry names no file */
	if (r < 0)
		return r;
	if (o.dev == p->self->dev && o.ino == p->self->ino)
		return 0;
	if (!p->visible)
		return 1;
	r = store_node_path_alloc(p->rd, id, &path);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = readable(p->visible, path, (size_t)r);
	free(path);
	return r;
}

/* --dup: a regular file with a full hash that another file in the index has too. */
static int has_dup(const struct filter *f, const struct find_entry *e, const struct node *n)
{
	struct dup_probe p = { e->reader, n, f->visible };

	if (e->type != 'f' || n->hash_state != NODE_HASH_FULL)
		return 0;
	if (f->visible && access(e->path, R_OK) != 0)
		return 0;
	return store_foreach_hash(e->reader, n->full, other_file, &p);
}

/*
 * lstat(2) of @path of any length: a path of PATH_MAX bytes or more is
 * opened a few directories at a time, as far as it needs to be.
 */
static int lstat_long(const char *path, struct stat *st)
{
	const char *p = path;
	int dfd = AT_FDCWD, r = 0;

	while (r == 0 && strlen(p) >= PATH_MAX) {
		const char *cut = memrchr(p + 1, '/', PATH_MAX - 2);
		char *dir;
		int fd;

		if (!cut) {
			r = -ENAMETOOLONG;
			break;
		}
		dir = strndup(p, (size_t)(cut - p));
		if (!dir) {
			r = -ENOMEM;
			break;
		}
		fd = openat(dfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
		free(dir);
		if (dfd != AT_FDCWD)
			close(dfd);
		dfd = fd < 0 ? AT_FDCWD : fd;
		p = cut + 1;
	}
	if (r == 0 && fstatat(dfd, p, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (dfd != AT_FDCWD)
		close(dfd);
	return r;
}

int filter_match(const struct filter *f, const struct find_entry *e, const struct node *n)
{
	struct stat st;
	int r;

	if (filter_needs_node(f) && !node_passes(f, n))
		return 0;
	if (f->what & FILTER_EMPTY) {
		r = is_empty(f, e, n);
		if (r <= 0)
			return r;
	}
	if (f->what & FILTER_DUP) {
		r = has_dup(f, e, n);
		if (r <= 0)
			return r;
	}
	/* Any failure counts as gone, as plocate -e treats it. */
	if ((f->what & FILTER_EXISTS) && lstat_long(e->path, &st) < 0)
		return 0;
	return 1;
}

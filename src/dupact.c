/* SPDX-License-Identifier: MIT */
/*
 * dupact.c - acting on a duplicate group: link, reflink or delete all but
 * the kept file.
 *
 * A group arrives as dups_run() left it: the (dev, ino, size, mtime, ctime)
 * each file had when it was hashed, and its names.  Time has passed since, so
 * nothing in it is trusted.  For each group:
 *
 *   keeper   open its first name's directory (O_PATH), lstat the name, open
 *            it, fstat the descriptor: the same inode with the recorded
 *            tuple, or the whole group is left alone.
 *   per name of every other file F
 *            lstat: F's recorded tuple, or -ESTALE
 *            link/delete, first name of F only: open F, fstat, compare every
 *            byte with the keeper through two 256 KiB buffers, fstat both
 *            again (the bytes compared were the files' bytes), or -EBADE
 *            link:    linkat(keeper, ".<name>.fsindex-XXXXXX"), check that the
 *                     new name is the keeper's inode and that F's name is
 *                     still F, renameat() over F's name (atomic: the name
 *                     always holds F or the keeper, never nothing)
 *            delete:  check the keeper's name still holds the keeper, unlinkat
 *   reflink, once per inode of F
 *            FIDEDUPERANGE from the keeper, 16 MiB at a time; the kernel
 *            compares the bytes and shares extents only where they are equal
 *
 * Two names on different devices may still be one file: an overlay shows
 * its lower layers' files under its own device (and, with xino, its own
 * inode numbers), FUSE and network filesystems can show any other
 * filesystem's files, and so deleting "the duplicate" would delete the only
 * copy.  (dev, ino) cannot tell, and nothing write-free can prove two such
 * files distinct, so a delete across devices needs both files (fstatfs of
 * the open descriptors) on a filesystem type that holds its own files, and
 * not one filesystem mounted twice (the same type and f_fsid).  Anything
 * else is refused with -ENOTUNIQ.  --link never crosses devices (-EXDEV) and
 * --reflink only shares extents, so neither can lose the last copy this way.
 *
 * A --link killed between linkat() and renameat() leaves the temporary name
 * behind, a second link to the keeper.  dups.c recognises such names (their
 * shape, and an inode with another name) and hands them over apart from the
 * real names; before acting on a group, clean_temps() removes each that is
 * still a link to its file, beside the name it was made for.
 *
 * Our own links and unlinks change the ctime of the keeper and of F, so
 * before the next name is checked the expected tuple takes the new ctime
 * from fstat() of the open descriptor, provided nothing else (size, mtime,
 * identity) moved.
 *
 * Everything is relative to directory descriptors, so a path longer than
 * PATH_MAX only costs opening its directory in pieces (ident_open_dir()).
 * What "still the same file" means, and the byte comparison, are ident.c's;
 * which filesystems hold their own files is fskind.c's.
 *
 * Fault injection (STYLE.md section 7): every system call that can fail goes
 * through fault() first; FSINDEX_DEBUG_FAIL_AT=N makes the Nth of one
 * dupact_group() call fail with EIO.  It is compiled in always: one secure_getenv()
 * per group and a counter per call are free next to the I/O.  Removing a
 * temporary name after a failure is not counted (a cleanup that may not run
 * would leave a stray name the tests rightly complain about).
 */
#include "dupact.h"

#include "cancel.h"
#include "dups.h"
#include "fskind.h"
#include "ident.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Longest range one FIDEDUPERANGE call is given: btrfs caps a call at 16 MiB (BTRFS_MAX_DEDUPE_LEN). */
#define DEDUPE_CHUNK ((uint64_t)16 << 20)
/* Temporary names tried before giving up: each is random, so a second collision means trouble. */
#define TMP_TRIES 64

#define FILE_FLAGS (O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)

/* ---- fault injection ---------------------------------------------------- */

static _Thread_local unsigned long fault_at;	/* 0: off */
static _Thread_local unsigned long fault_calls;
static unsigned long raise_at, raise_calls;	/* FSINDEX_DEBUG_RAISE_AT, over the process */
static int raise_sig;

static void raise_arm(void)
{
	static bool armed;
	const char *s;
	char *end;

	if (armed)
		return;
	armed = true;
	s = secure_getenv("FSINDEX_DEBUG_RAISE_AT");
	if (!s || !*s)
		return;
	raise_at = strtoul(s, &end, 10);
	if (*end == ':')
		raise_sig = (int)strtol(end + 1, &end, 10);
	if (*end || raise_sig <= 0 || raise_sig >= NSIG)
		raise_at = 0;
}

static void fault_arm(void)
{
	const char *s = secure_getenv("FSINDEX_DEBUG_FAIL_AT");
	char *end;

	raise_arm();
	fault_calls = 0;
	fault_at = 0;
	if (s && *s) {
		fault_at = strtoul(s, &end, 10);
		if (*end)
			fault_at = 0;
	}
}

/* Must the next system call fail?  Sets errno as the call would. */
static bool fault(void)
{
	if (unlikely(raise_at) && ++raise_calls == raise_at)
		kill(getpid(), raise_sig); /* to the process: its signal thread takes it */
	if (likely(!fault_at) || ++fault_calls != fault_at)
		return false;
	errno = EIO;
	return true;
}

/* fault() as ident.h's hook: ident.c's system calls count too. */
static int fault_hook(void)
{
	return fault() ? -EIO : 0;
}

/* The system calls, each returning what it returns or -errno. */

static int sys_openat(int dirfd, const char *name, int flags)
{
	int fd;

	if (fault())
		return -EIO;
	fd = openat(dirfd, name, flags);
	return fd < 0 ? -errno : fd;
}

static int sys_fstatat(int dirfd, const char *name, struct stat *st)
{
	if (fault())
		return -EIO;
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int sys_linkat(int odirfd, const char *oname, int ndirfd, const char *nname)
{
	if (fault())
		return -EIO;
	return linkat(odirfd, oname, ndirfd, nname, 0) < 0 ? -errno : 0;
}

static int sys_renameat(int dirfd, const char *from, const char *to)
{
	if (fault())
		return -EIO;
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

static int sys_unlinkat(int dirfd, const char *name)
{
	if (fault())
		return -EIO;
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

static int sys_dedupe(int fd, struct file_dedupe_range *req)
{
	if (fault())
		return -EIO;
	return ioctl(fd, FIDEDUPERANGE, req) < 0 ? -errno : 0;
}

/* ---- identities --------------------------------------------------------- */

/* What file @f must still be: the tuple recorded when it was hashed. */
static void ident_of(struct ident *id, const struct dups_file *f)
{
	id->dev = f->dev;
	id->ino = f->ino;
	id->size = f->size;
	id->mtime_sec = f->mtime_sec;
	id->mtime_nsec = f->mtime_nsec;
	id->ctime_sec = f->ctime_sec;
	id->ctime_nsec = f->ctime_nsec;
}

/* Check open file @fd against @id exactly (IDENT_EXACT); *@ret_nlink its links. */
static int check_fd(const struct ident *id, int fd, uint32_t *ret_nlink)
{
	struct stat st;
	int r = ident_check_fd(id, fd, IDENT_EXACT, &st, fault_hook);

	if (r == 0 && ret_nlink)
		*ret_nlink = (uint32_t)st.st_nlink;
	return r;
}

/* ---- places: a name and its directory ----------------------------------- */

struct place {
	int dirfd;		/* O_PATH descriptor of the directory */
	const char *base;	/* last component, inside the caller's path */
	size_t blen;
};

/* Open the directory of absolute @path; the base name points into @path. */
static int place_open(const char *path, size_t len, struct place *ret)
{
	const char *base;
	int fd = ident_open_parent(path, len, &base, fault_hook);

	if (fd < 0)
		return fd;
	ret->dirfd = fd;
	ret->base = base;
	ret->blen = len - (size_t)(base - path);
	return 0;
}

static void place_close(struct place *p)
{
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->dirfd = -1;
}

/* ---- one group ---------------------------------------------------------- */

struct act {
	const struct dups_group *g;
	const struct dupact_opts *o;
	struct dupact_stats *st;
	const struct dups_name *kname;	/* the keeper's first name */
	struct place kplace;
	int kfd;			/* the keeper, open read-only */
	struct ident kid;
	unsigned char *buf[2];		/* IDENT_CMP_CHUNK each */
	uint64_t rnd;			/* temporary-name generator state */
	int kfs;			/* the keeper's filesystem: 1 own files, 0 not, -1 unknown yet */
	struct statfs kst;		/* ...as fstatfs() said */
	int stop;			/* the report could not be written: act no more */
};

/* One other file and what is known about it so far. */
struct other {
	struct ident id;
	int fd;			/* open once compared */
	int state;		/* 1: not compared yet, 0: equal to the keeper, < 0: error for every name */
	uint32_t nlink;		/* links it had when compared */
};

static const char *action_name(enum dupact_kind kind)
{
	switch (kind) {
	case DUPACT_LINK:
		return "link";
	case DUPACT_REFLINK:
		return "reflink";
	case DUPACT_DELETE:
		break;
	}
	return "delete";
}

/* Record an action just done; when the record cannot be written, nothing more is done. */
static void report_what(struct act *a, const char *what, const struct dups_name *n,
			const struct dups_name *kept)
{
	int r;

	if (!a->o->on_report)
		return;
	r = a->o->on_report(a->o->ctx, what, n->path, n->len, kept->path, kept->len,
			    a->o->dry_run);
	if (r < 0 && !a->stop)
		a->stop = r;
}

static void report(struct act *a, const struct dups_name *n)
{
	report_what(a, action_name(a->o->kind), n, a->kname);
}

static void fail(struct act *a, const struct dups_name *n, int err)
{
	static const char *const what[] = {
		[DUPACT_LINK] = "cannot link",
		[DUPACT_REFLINK] = "cannot reflink",
		[DUPACT_DELETE] = "cannot delete",
	};

	a->st->errors++;
	if (a->o->on_error)
		a->o->on_error(a->o->ctx, n->path, n->len, what[a->o->kind], err, a->kname->path,
			       a->kname->len);
}

/* Must acting stop before the next file? */
static bool stopped(const struct act *a)
{
	return a->stop || cancel_requested(a->o->cancel);
}

/* ---- one file or two? ----------------------------------------------------- */

/*
 * May the keeper and F (open as @fd), on different devices, be one file?
 * 0 when they are provably two, -ENOTUNIQ when not, or -errno.
 */
static int check_distinct(struct act *a, const struct other *o, int fd)
{
	struct statfs sf;
	int r;

	if (o->id.dev == a->kid.dev)
		return 0;	/* one filesystem: (dev, ino) tells */
	if (a->kfs < 0) {
		if (fault())
			return -EIO;
		if (fstatfs(a->kfd, &a->kst) < 0)
			return -errno;
		a->kfs = fskind_holds_own_files((long)a->kst.f_type);
	}
	if (fault())
		return -EIO;
	r = fstatfs(fd, &sf);
	if (r < 0)
		return -errno;
	if (!a->kfs || !fskind_holds_own_files((long)sf.f_type))
		return -ENOTUNIQ;
	/* One filesystem mounted twice (two loop devices on one image): same type and id. */
	if (sf.f_type == a->kst.f_type &&
	    memcmp(&sf.f_fsid, &a->kst.f_fsid, sizeof(sf.f_fsid)) == 0 &&
	    (sf.f_fsid.__val[0] || sf.f_fsid.__val[1]))
		return -ENOTUNIQ;
	return 0;
}

/* Compare the keeper's bytes with @fd's: 0 when equal, -EBADE when not, or -errno. */
static int compare_fds(struct act *a, int fd)
{
	int r = ident_compare_fds(a->kfd, fd, a->g->size, a->buf[0], a->buf[1], fault_hook);

	return r == 1 ? 0 : r == 0 ? -EBADE : r;
}

/* Open F at @p (whose lstat matched) and compare its bytes with the keeper's. */
static int compare_other(struct act *a, struct other *o, const struct place *p)
{
	int fd, r;

	fd = sys_openat(p->dirfd, p->base, O_RDONLY | FILE_FLAGS);
	if (fd < 0)
		return fd;
	r = check_fd(&o->id, fd, &o->nlink);
	if (r < 0)
		goto out_close;
	r = check_distinct(a, o, fd);
	if (r < 0)
		goto out_close;
	r = compare_fds(a, fd);
	if (r < 0)
		goto out_close;
	/*
	 * Neither changed while read: the bytes compared were the files' bytes.
	 * (Our renames of links to the keeper move its ctime: that is accepted.)
	 */
	r = ident_refresh_fd(&a->kid, a->kfd, fault_hook);
	if (r < 0)
		goto out_close;
	r = check_fd(&o->id, fd, NULL);
	if (r < 0)
		goto out_close;
	o->fd = fd;
	return 0;

out_close:
	close(fd);
	return r;
}

/* ".<name>.fsindex-XXXXXX", the name cut short to stay within NAME_MAX. */
static void tmp_name(struct act *a, const struct place *p, char out[NAME_MAX + 1])
{
	static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t keep = p->blen < DUPS_TEMP_MAX_BASE ? p->blen : DUPS_TEMP_MAX_BASE;
	char *q = out;

	/* dups_is_temp_name() recognises what this makes: change both together. */
	*q++ = '.';
	memcpy(q, p->base, keep);
	q += keep;
	memcpy(q, DUPS_TEMP_TAG, sizeof(DUPS_TEMP_TAG) - 1);
	q += sizeof(DUPS_TEMP_TAG) - 1;
	for (int i = 0; i < DUPS_TEMP_RANDOM; i++) {
		/* xorshift64* (Vigna, arXiv:1402.6246): varied enough for a name retried on EEXIST */
		a->rnd ^= a->rnd >> 12;
		a->rnd ^= a->rnd << 25;
		a->rnd ^= a->rnd >> 27;
		*q++ = digits[((a->rnd * 0x2545F4914F6CDD1DULL) >> 32) % (sizeof(digits) - 1)];
	}
	*q = '\0';
}

/* Remove temporary name @tmp if it still is a link to the keeper. */
static void tmp_remove(struct act *a, const struct place *p, const char *tmp)
{
	struct stat st;

	if (fstatat(p->dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && ident_same_inode(&a->kid, &st))
		unlinkat(p->dirfd, tmp, 0);
}

/* Replace the name at @p (F, compared equal) by a hard link to the keeper. */
static int do_link(struct act *a, struct other *o, const struct place *p)
{
	char tmp[NAME_MAX + 1];
	struct stat st;
	int r = -EEXIST;

	for (int i = 0; i < TMP_TRIES && r == -EEXIST; i++) {
		tmp_name(a, p, tmp);
		r = sys_linkat(a->kplace.dirfd, a->kplace.base, p->dirfd, tmp);
	}
	if (r < 0)
		return r;

	/* The keeper's name was linked, not its descriptor: make sure it was still the keeper. */
	r = sys_fstatat(p->dirfd, tmp, &st);
	if (r < 0)
		goto out_remove;
	if (!ident_same_inode(&a->kid, &st)) {
		r = -ESTALE;
		goto out_remove;
	}
	/* Our link moved the keeper's ctime; anything else moving is a change. */
	r = ident_refresh_fd(&a->kid, a->kfd, fault_hook);
	if (r < 0)
		goto out_remove;
	/* Last look before the name is replaced: still F, unchanged. */
	r = sys_fstatat(p->dirfd, p->base, &st);
	if (r < 0)
		goto out_remove;
	if (!ident_same(&o->id, &st)) {
		r = -ESTALE;
		goto out_remove;
	}
	r = sys_renameat(p->dirfd, tmp, p->base);
	if (r < 0)
		goto out_remove;
	/* Had F become the keeper meanwhile, rename() would leave both names. */
	tmp_remove(a, p, tmp);

	return 0;

out_remove:
	tmp_remove(a, p, tmp);
	return r;
}

/* Unlink the name at @p (F, compared equal), the keeper being still in place. */
static int do_delete(struct act *a, struct other *o, const struct place *p)
{
	struct stat st;
	int r;

	r = sys_fstatat(a->kplace.dirfd, a->kplace.base, &st);
	if (r < 0)
		return r;
	if (!ident_same(&a->kid, &st))
		return -ESTALE;
	r = sys_fstatat(p->dirfd, p->base, &st);
	if (r < 0)
		return r;
	if (!ident_same(&o->id, &st))
		return -ESTALE;
	return sys_unlinkat(p->dirfd, p->base);
}

/* Link or delete name @n of @o.  Returns 1 when acted, 0 when nothing was to do, or -errno. */
static int act_name(struct act *a, struct other *o, const struct dups_name *n)
{
	struct place p = { .dirfd = -1 };
	struct stat st;
	int r;

	r = place_open(n->path, n->len, &p);
	if (r < 0)
		return r;
	r = sys_fstatat(p.dirfd, p.base, &st);
	if (r < 0)
		goto out;
	if (ident_same_inode(&a->kid, &st)) {
		r = 0;		/* already the kept file */
		goto out;
	}
	if (o->fd >= 0) {
		/* Acting on its other names moved F's ctime: expect that, nothing more. */
		r = ident_refresh_fd(&o->id, o->fd, fault_hook);
		if (r < 0)
			goto out;
	}
	if (!ident_same(&o->id, &st)) {
		r = -ESTALE;
		goto out;
	}
	if (a->o->kind == DUPACT_LINK && o->id.dev != a->kid.dev) {
		r = -EXDEV;
		goto out;
	}
	if (o->state > 0)
		o->state = compare_other(a, o, &p);
	r = o->state;
	if (r < 0)
		goto out;
	if (!a->o->dry_run) {
		r = a->o->kind == DUPACT_LINK ? do_link(a, o, &p) : do_delete(a, o, &p);
		if (r < 0)
			goto out;
	}
	report(a, n);
	r = 1;
out:
	place_close(&p);
	return r;
}

static void link_or_delete(struct act *a, const struct dups_file *f, const struct ident *id)
{
	struct other o = { .fd = -1, .state = 1, .id = *id };
	size_t acted = 0;
	int r;

	for (size_t i = 0; i < f->nnames && !a->stop; i++) {
		r = act_name(a, &o, &f->names[i]);
		if (r < 0)
			fail(a, &f->names[i], r);
		else if (r > 0)
			acted++;
	}
	a->st->acted += acted;
	/* The inode is freed once its last link goes: only when all were ours. */
	if (acted && acted == f->nnames && o.nlink <= acted)
		a->st->bytes += a->g->size;
	if (o.fd >= 0)
		close(o.fd);
}

/* Share the keeper's extents with @fd from *@off on; *@off advances as the kernel goes. */
static int dedupe(struct act *a, int fd, uint64_t *off)
{
	union {
		struct file_dedupe_range r;
		unsigned char b[sizeof(struct file_dedupe_range) +
				sizeof(struct file_dedupe_range_info)];
	} req;
	struct file_dedupe_range_info *info = &req.r.info[0];
	uint64_t len;
	int r;

	while (*off < a->g->size) {
		len = a->g->size - *off < DEDUPE_CHUNK ? a->g->size - *off : DEDUPE_CHUNK;
		memset(&req, 0, sizeof(req));
		req.r.src_offset = *off;
		req.r.src_length = len;
		req.r.dest_count = 1;
		info->dest_fd = fd;
		info->dest_offset = *off;
		r = sys_dedupe(a->kfd, &req.r);
		if (r == 0 && info->status == FILE_DEDUPE_RANGE_DIFFERS)
			r = -EBADE;
		else if (r == 0 && info->status < 0)
			r = info->status;
		else if (r == 0 && info->bytes_deduped == 0)
			r = -EIO;	/* no progress: never loop on it */
		/* No remap_file_range (ext4, tmpfs...): EINVAL, or EOPNOTSUPP, or ENOTTY from old kernels. */
		if (r == -EINVAL || r == -ENOTTY || r == -EOPNOTSUPP)
			r = -EOPNOTSUPP;
		if (r < 0)
			return r;
		*off += info->bytes_deduped;
	}
	return 0;
}

static int reflink_file(struct act *a, const struct dups_file *f, const struct ident *fid,
			uint64_t *ret_bytes)
{
	const struct dups_name *n = &f->names[0];
	struct place p = { .dirfd = -1 };
	uint64_t off = 0;
	struct ident id;
	struct stat st;
	int fd, r;

	id = *fid;
	r = place_open(n->path, n->len, &p);
	if (r < 0)
		return r;
	r = sys_fstatat(p.dirfd, p.base, &st);
	if (r < 0)
		goto out;
	if (ident_same_inode(&a->kid, &st)) {
		r = 0;
		goto out;
	}
	if (!ident_same(&id, &st)) {
		r = -ESTALE;
		goto out;
	}
	if (a->o->dry_run) {
		*ret_bytes = a->g->size;
		r = 1;
		goto out;
	}

	/*
	 * The kernel compares the bytes; still, act only on the file that was
	 * hashed.  (Should sharing extents move the keeper's ctime, that is
	 * accepted here: keeper_open() checked the recorded one.)
	 */
	r = ident_refresh_fd(&a->kid, a->kfd, fault_hook);
	if (r < 0)
		goto out;

	/*
	 * The kernel shares extents into a file opened read-only when we own it
	 * or may write it (or have CAP_SYS_ADMIN); else EPERM, and a writable
	 * descriptor is needed.  Read-only first: it cannot fail with ETXTBSY.
	 */
	fd = sys_openat(p.dirfd, p.base, O_RDONLY | FILE_FLAGS);
	for (int writable = 0;; writable = 1) {
		if (fd < 0) {
			r = fd;
			goto out;
		}
		r = check_fd(&id, fd, NULL);
		if (r == 0)
			r = dedupe(a, fd, &off);
		close(fd);
		if (r != -EPERM || writable)
			break;
		fd = sys_openat(p.dirfd, p.base, O_RDWR | FILE_FLAGS);
	}
	if (r < 0)
		goto out;
	*ret_bytes = off;
	r = 1;
out:
	place_close(&p);
	return r;
}

/*
 * Remove the leftover temporary names of @f (dups_file.temps), each only
 * while it is still a link to @f, @f still has its first name, and the name
 * the temporary one was made for is beside it (when it was not cut short).
 * A name that fails a check is not ours to remove, and is left quietly.
 */
static void clean_temps(struct act *a, const struct dups_file *f, struct ident *id)
{
	char made_for[NAME_MAX + 1];
	struct stat st;
	size_t blen;

	if (!f->nnames)
		return;
	for (size_t i = 0; i < f->ntemps && !stopped(a); i++) {
		const struct dups_name *t = &f->temps[i];
		struct place p = { .dirfd = -1 }, k = { .dirfd = -1 };

		if (place_open(t->path, t->len, &p) < 0 ||
		    !dups_is_temp_name(p.base, p.blen, &blen) ||
		    fstatat(p.dirfd, p.base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || !ident_same_inode(id, &st))
			goto next;
		if (blen < DUPS_TEMP_MAX_BASE) {
			memcpy(made_for, p.base + 1, blen);
			made_for[blen] = '\0';
			if (fstatat(p.dirfd, made_for, &st, AT_SYMLINK_NOFOLLOW) < 0)
				goto next;
		}
		if (place_open(f->names[0].path, f->names[0].len, &k) < 0 ||
		    fstatat(k.dirfd, k.base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !ident_same_inode(id, &st))
			goto next;
		if (!a->o->dry_run && unlinkat(p.dirfd, p.base, 0) < 0) {
			if (a->o->on_error)
				a->o->on_error(a->o->ctx, t->path, t->len, "cannot remove", -errno,
					       f->names[0].path, f->names[0].len);
			goto next;
		}
		a->st->removed++;
		/* Our unlink moved the file's ctime: expect that, nothing more. */
		if (!a->o->dry_run &&
		    fstatat(k.dirfd, k.base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    ident_same_content(id, &st)) {
			id->ctime_sec = st.st_ctim.tv_sec;
			id->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
		}
		report_what(a, "remove", t, &f->names[0]);
next:
		place_close(&k);
		place_close(&p);
	}
}

/* Open and check the keeper; on error the group is left as it is. */
static int keeper_open(struct act *a)
{
	struct stat st;
	int r;

	r = place_open(a->kname->path, a->kname->len, &a->kplace);
	if (r < 0)
		return r;
	r = sys_fstatat(a->kplace.dirfd, a->kplace.base, &st);
	if (r < 0)
		return r;
	if (!ident_same(&a->kid, &st))
		return -ESTALE;
	r = sys_openat(a->kplace.dirfd, a->kplace.base, O_RDONLY | FILE_FLAGS);
	if (r < 0)
		return r;
	a->kfd = r;
	return check_fd(&a->kid, a->kfd, NULL);
}

size_t dupact_choose_keeper(const struct dups_group *g, enum dupact_keep keep)
{
	size_t best = 0;

	if (keep == DUPACT_KEEP_FIRST)
		return 0;
	for (size_t i = 1; i < g->nfiles; i++) {
		const struct dups_file *f = &g->files[i], *b = &g->files[best];
		int c = f->mtime_sec != b->mtime_sec ? (f->mtime_sec < b->mtime_sec ? -1 : 1)
			: f->mtime_nsec != b->mtime_nsec ? (f->mtime_nsec < b->mtime_nsec ? -1 : 1)
			: 0;

		if ((keep == DUPACT_KEEP_OLDEST && c < 0) || (keep == DUPACT_KEEP_NEWEST && c > 0))
			best = i;
	}
	return best;
}

int dupact_group(const struct dups_group *g, const struct dupact_opts *opts,
		 struct dupact_stats *stats)
{
	struct act a = { .g = g, .o = opts, .st = stats, .kplace.dirfd = -1, .kfd = -1, .kfs = -1 };
	struct ident *ids = NULL;	/* each file's expected tuple, as our own unlinks move it */
	size_t k, left;
	int r;

	if (g->nfiles < 2)
		return 0;
	k = dupact_choose_keeper(g, opts->keep);
	if (!g->files[k].nnames)
		return -EINVAL;
	a.kname = &g->files[k].names[0];
	ids = calloc(g->nfiles, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < g->nfiles; i++)
		ident_of(&ids[i], &g->files[i]);
	a.rnd = (uint64_t)now_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)&a;
	a.rnd |= 1;	/* xorshift state must not be zero */

	if (opts->kind != DUPACT_REFLINK) {
		a.buf[0] = malloc(IDENT_CMP_CHUNK);
		a.buf[1] = malloc(IDENT_CMP_CHUNK);
		if (!a.buf[0] || !a.buf[1]) {
			r = -ENOMEM;
			goto out;
		}
	}

	fault_arm();
	for (size_t i = 0; i < g->nfiles; i++)
		clean_temps(&a, &g->files[i], &ids[i]);
	if (stopped(&a))
		goto stop;
	a.kid = ids[k];
	r = keeper_open(&a);
	if (r < 0) {
		if (r == -ENOMEM)
			goto out;
		/* Nothing can be compared with a keeper that is gone or changed. */
		for (size_t i = left = 0; i < g->nfiles; i++)
			if (i != k)
				left += opts->kind == DUPACT_REFLINK ? 1 : g->files[i].nnames;
		stats->errors += left;
		if (opts->on_error)
			opts->on_error(opts->ctx, a.kname->path, a.kname->len, "kept file", r,
				       a.kname->path, a.kname->len);
		r = 0;
		goto out;
	}
	for (size_t i = 0; i < g->nfiles; i++) {
		const struct dups_file *f = &g->files[i];
		uint64_t bytes = 0;

		if (i == k || !f->nnames)
			continue;
		if (stopped(&a))
			break;
		if (f->size != g->size) {
			/* Not a member of this group as recorded: never act on it. */
			fail(&a, &f->names[0], -ESTALE);
			continue;
		}
		if (opts->kind != DUPACT_REFLINK) {
			link_or_delete(&a, f, &ids[i]);
			continue;
		}
		r = reflink_file(&a, f, &ids[i], &bytes);
		if (r < 0) {
			fail(&a, &f->names[0], r);
		} else if (r > 0) {
			stats->acted++;
			stats->bytes += bytes;
			report(&a, &f->names[0]);
		}
	}
stop:
	r = a.stop ? a.stop : cancel_requested(opts->cancel) ? -ECANCELED : 0;
out:
	fault_at = 0;
	if (a.kfd >= 0)
		close(a.kfd);
	place_close(&a.kplace);
	free(a.buf[0]);
	free(a.buf[1]);
	free(ids);
	return r;
}

const char *dupact_strerror(int err)
{
	switch (err) {
	case -ESTALE:
		return "changed since it was hashed";
	case -EBADE:
		return "content differs from the kept file (hash collision?)";
	case -EXDEV:
		return "on another filesystem than the kept file (cross-device)";
	case -EOPNOTSUPP:
		return "reflink not supported on this filesystem";
	case -ENOTUNIQ:
		return "may be the kept file itself, seen through another filesystem (an overlay, "
		       "FUSE or network mount can show one file under two devices): not proven to be "
		       "another file, left alone";
	}
	return strerror(-err);
}

/* SPDX-License-Identifier: MIT */
/*
 * lmdbcheck.c - walk one LMDB snapshot with pread() and check that every
 * page it reaches lies inside the data file.
 *
 * Why: the store used to refuse a data file shorter than (last page + 1) x
 * page size, which refused valid files: a page that a transaction allocates
 * and frees again ("loose") is counted in the last page number but never
 * written, so ordinary rescans left files a few pages short that LMDB's own
 * tools read fine.  A file cut short for real loses pages that are still
 * reachable, and mapping them is SIGBUS.  So when (and only when) a file is
 * short, store-env.c asks this walk, which reads what a map would touch, but
 * with pread(), where a missing page is a short read.
 *
 * The format (LMDB data version 1; lmdb's mdb.c, "struct MDB_page",
 * "MDB_node", "MDB_db", "MDB_meta"), native byte order, 64-bit page numbers:
 *
 *   page   u64 pgno | u16 pad | u16 flags | u16 lower | u16 upper | u16 ptrs[]
 *          (an overflow page has u32 pages where lower and upper are)
 *   node   u16 lo | u16 hi | u16 flags | u16 ksize | key | data
 *          branch: child pgno = lo | hi << 16 | flags << 32
 *          leaf:   data size = lo | hi << 16; F_BIGDATA: data is the pgno
 *                  of an overflow run; F_SUBDATA: data is an MDB_db
 *   db     u32 pad | u16 flags | u16 depth | u64 branch, leaf, overflow,
 *          entries, root                                        (48 bytes)
 *   meta   at byte 16 of pages 0 and 1: u32 magic | u32 version | u64
 *          address | u64 mapsize | db free | db main | u64 last_pg | u64 txnid
 *
 * Branch pages are always read (they are about 1% of a tree); leaves only in
 * the free and main databases and in named databases of few leaves, where
 * overflow values live.  The leaves of the large databases are checked to
 * lie inside the file without being read, so the walk costs a small part
 * of the file, and only for a file that is short.
 */
#include "lmdbcheck.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGEHDRSZ 16
#define NODEHDRSZ 8
#define DB_SIZE 48
#define META_MAGIC 0xBEEFC0DEu
#define META_VERSION 1
#define META_FREE (PAGEHDRSZ + 24)
#define META_MAIN (META_FREE + DB_SIZE)
#define META_TXNID (META_MAIN + DB_SIZE + 8)
#define P_INVALID UINT64_MAX

#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_LEAF2 0x20

#define F_BIGDATA 0x01
#define F_SUBDATA 0x02

#define DEPTH_MAX 32	  /* LMDB's own cursor stack holds 32 levels */
#define SMALL_LEAVES 64 /* read the leaves of a database this small */

struct walk {
	int fd;
	size_t psize;
	uint64_t npages;
	uint64_t reads; /* bounded by npages: garbage cannot make us loop */
};

static uint16_t get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Read page @pgno into @buf: it must exist in full and carry its number. */
static int read_page(struct walk *w, uint64_t pgno, unsigned char *buf)
{
	ssize_t n;

	if (pgno >= w->npages || ++w->reads > w->npages)
		return -EBADMSG;
	n = pread(w->fd, buf, w->psize, (off_t)(pgno * w->psize));
	if (n < 0)
		return -errno;
	if ((size_t)n != w->psize || get64(buf) != pgno)
		return -EBADMSG;
	return 0;
}

static int walk_db(struct walk *w, const unsigned char *db, bool leaves);

/* The overflow run of a big value: @size bytes from page @pgno on. */
static int walk_overflow(struct walk *w, uint64_t pgno, uint64_t size, unsigned char *buf)
{
	uint64_t pages = (PAGEHDRSZ - 1 + size) / w->psize + 1;
	int r;

	if (pgno >= w->npages || pages > w->npages - pgno)
		return -EBADMSG;
	r = read_page(w, pgno, buf);
	if (r < 0)
		return r;
	if (!(get16(buf + 10) & P_OVERFLOW) || get32(buf + 12) < pages)
		return -EBADMSG;
	return 0;
}

/* The leaf nodes of @page: overflow runs and sub-databases. */
static int walk_leaf(struct walk *w, const unsigned char *page, unsigned n)
{
	unsigned char *buf;
	int r = 0;

	buf = malloc(w->psize);
	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < n && r == 0; i++) {
		size_t off = get16(page + PAGEHDRSZ + 2 * i), room;
		const unsigned char *node = page + off, *data;
		uint16_t flags;

		if (off < PAGEHDRSZ || off + NODEHDRSZ > w->psize) {
			r = -EBADMSG;
			break;
		}
		flags = get16(node + 4);
		room = w->psize - off - NODEHDRSZ;
		if (get16(node + 6) > room) {
			r = -EBADMSG;
			break;
		}
		data = node + NODEHDRSZ + get16(node + 6);
		room -= get16(node + 6);
		if (flags & F_BIGDATA) {
			if (room < 8)
				r = -EBADMSG;
			else
				r = walk_overflow(w, get64(data),
						  get16(node) | (uint64_t)get16(node + 2) << 16, buf);
		} else if (flags & F_SUBDATA) {
			r = room < DB_SIZE ? -EBADMSG : walk_db(w, data, false);
		}
	}
	free(buf);
	return r;
}

/* Page @pgno, @depth levels above the leaves (1: a leaf). */
static int walk_page(struct walk *w, uint64_t pgno, unsigned depth, bool leaves)
{
	unsigned char *page;
	uint16_t flags, lower, upper;
	unsigned n;
	int r;

	if (depth == 1 && !leaves)
		return pgno < w->npages ? 0 : -EBADMSG;
	page = malloc(w->psize);
	if (!page)
		return -ENOMEM;
	r = read_page(w, pgno, page);
	if (r < 0)
		goto out;
	flags = get16(page + 10);
	lower = get16(page + 12);
	upper = get16(page + 14);
	r = -EBADMSG;
	if (lower < PAGEHDRSZ || lower > upper || upper > w->psize)
		goto out;
	n = (lower - PAGEHDRSZ) / 2;
	if (depth > 1) {
		if (!(flags & P_BRANCH))
			goto out;
		r = 0;
		for (unsigned i = 0; i < n && r == 0; i++) {
			size_t off = get16(page + PAGEHDRSZ + 2 * i);
			const unsigned char *node = page + off;

			if (off < PAGEHDRSZ || off + NODEHDRSZ > w->psize) {
				r = -EBADMSG;
				break;
			}
			r = walk_page(w,
				      get16(node) | (uint64_t)get16(node + 2) << 16 |
					      (uint64_t)get16(node + 4) << 32,
				      depth - 1, leaves);
		}
	} else {
		if (!(flags & P_LEAF))
			goto out;
		r = flags & P_LEAF2 ? 0 : walk_leaf(w, page, n); /* LEAF2: keys only */
	}
out:
	free(page);
	return r;
}

/* The tree of database record @db; @leaves: read its leaves whatever its size. */
static int walk_db(struct walk *w, const unsigned char *db, bool leaves)
{
	unsigned depth = get16(db + 6);
	uint64_t root = get64(db + 40);

	if (root == P_INVALID)
		return 0;
	if (depth == 0 || depth > DEPTH_MAX)
		return -EBADMSG;
	return walk_page(w, root, depth, leaves || get64(db + 16) <= SMALL_LEAVES);
}

int lmdbcheck_snapshot(int fd, size_t psize, uint64_t txnid, uint64_t npages)
{
	struct walk w = {.fd = fd, .psize = psize, .npages = npages};
	unsigned char *meta;
	int r = -EAGAIN;

	if (psize < 512 || psize > 65536 || npages < 2)
		return -EBADMSG;
	meta = malloc(psize);
	if (!meta)
		return -ENOMEM;
	for (uint64_t m = 0; m < 2; m++) {
		int rm = read_page(&w, m, meta);

		if (rm == -EBADMSG)
			continue;
		if (rm < 0) {
			r = rm;
			break;
		}
		if (get32(meta + PAGEHDRSZ) != META_MAGIC || get32(meta + PAGEHDRSZ + 4) != META_VERSION ||
		    get64(meta + META_TXNID) != txnid)
			continue;
		r = walk_db(&w, meta + META_FREE, true);
		if (r == 0)
			r = walk_db(&w, meta + META_MAIN, true);
		break;
	}
	free(meta);
	return r;
}

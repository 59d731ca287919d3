/* SPDX-License-Identifier: MIT */
/*
 * dups-priv.h - what dups.c (the reading stages, grouping, results) and
 * dups-collect.c (gathering the candidates, sorting them into inode order,
 * folding hard links) share: the candidate records and the storage behind
 * a dups_result.
 */
#ifndef FSINDEX_DUPS_PRIV_H
#define FSINDEX_DUPS_PRIV_H

#include "dups.h"
#include "ident.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The three digests of a candidate; only files that share their size get them. */
struct digests {
	uint8_t head[16], tail[16], full[16];
};

#define NO_HASHES UINT32_MAX
#define NO_ROOT UINT32_MAX

/*
 * What a candidate needs of its node: kept small, there is one per regular
 * file (96 bytes).
 */
struct cand {
	uint64_t id;
	struct ident fid;		/* dev, ino, size, mtime, ctime as the scan saw them */
	uint32_t nlink, uid;
	uint32_t h;			/* index of its digests in struct dups_priv's h[], or NO_HASHES */
	uint32_t path_off;
	uint32_t path_len;
	uint32_t root;
	uint16_t shard;			/* whose arena holds the path */
	uint32_t next_name;		/* next hard link of the same inode, or UINT32_MAX */
	uint8_t have;			/* HAVE_* hashes known */
	bool from_index;		/* had hashes before this run */
	uint8_t dirty;			/* HAVE_* computed here, to write back */
	int err;			/* the read failed: left out */
};

enum { HAVE_HEAD = 1, HAVE_TAIL = 2, HAVE_FULL = 4 };

/* Everything a dups_result's strings and records live in (dups_result.priv). */
struct dups_priv {
	struct cand *c;
	size_t n, cap;
	char *arenas[DUPS_MAX_WORKERS];	/* each shard's paths, indexed by cand.shard */
	char *const *roots;		/* PATH arguments the relative paths hang off */
	size_t nnames;			/* names[] in use, their paths malloc'd */
	struct digests *h;		/* indexed by cand.h */
	size_t nh;
	struct dups_name *names;
	struct dups_file *files;
};

static inline struct digests *dg(const struct dups_priv *p, const struct cand *c)
{
	return &p->h[c->h];
}

/* The path of @c relative to its root (or whole, for NO_ROOT). */
static inline const char *cand_path(const struct dups_priv *p, const struct cand *c)
{
	return p->arenas[c->shard] + c->path_off;
}

/*
 * The whole path of @c in *@buf (grown as needed; the caller frees it).
 * Returns its length, or -ENOMEM.
 */
ssize_t dups_full_path(const struct dups_priv *p, const struct cand *c, char **buf, size_t *cap);

/*
 * Move every shard's candidates into @p, and the PATH arguments they hang
 * off (borrowed): one array, grown from the largest shard's so that little
 * is copied; the arenas stay where they are and belong to @p.  Returns 0,
 * or the first shard's error.
 */
int dups_merge_shards(struct dups_collector *col, struct dups_priv *p);

/*
 * Sort the candidates of @p by size, then inode, then name order, so an
 * inode's names end up together, first name first; their digests follow
 * them into that order.  Returns 0 or -ENOMEM/-EOVERFLOW.
 */
int dups_sort_inodes(struct dups_priv *p);

/*
 * Fold hard links of the sorted @p: the first name of an inode stays a
 * candidate, the others hang off it through next_name.  Also drops the same
 * node reached through two overlapping roots.  Returns the number of
 * inodes; @idx (room for p->n) receives their indices.
 */
size_t dups_fold_links(struct dups_priv *p, size_t *idx);

/*
 * Give every candidate @idx[0..n) (files sharing their size) room for its
 * digests; empty files get theirs at once.  Returns 0 or -ENOMEM/-EOVERFLOW.
 */
int dups_give_digests(struct dups_priv *p, const size_t *idx, size_t n);

#endif /* FSINDEX_DUPS_PRIV_H */

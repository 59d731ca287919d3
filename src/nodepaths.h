/* SPDX-License-Identifier: MIT */
/*
 * nodepaths.h - paths of index nodes met in no particular order (the hash
 * database's files, the name index's candidates), rebuilt from their
 * parents with each directory's path cached, all kept back to back in one
 * buffer; and the order in which find.c's traversal visits paths, so that
 * such entries come out as a full pass would print them.
 */
#ifndef FSINDEX_NODEPATHS_H
#define FSINDEX_NODEPATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct store_reader;

/** A path in nodepaths.buf: buf[off, off + len). */
struct nodepath {
	uint64_t id;		/* its node; 0: an empty slot of the cache */
	size_t off, len;
	bool covered;		/* the caller's mark, inherited by what is joined below */
};

/** One step of a path being rebuilt, from a leaf up. */
struct nodepaths_up {
	uint64_t id;
	const char *name;	/* borrowed from the reader's snapshot */
	uint16_t name_len;
};

/** Zero it, set @rd (borrowed), use, then nodepaths_destroy(). */
struct nodepaths {
	struct store_reader *rd;
	char *buf;		/* every path, back to back (moves as it grows) */
	size_t len, cap;
	struct nodepath *dirs;	/* open addressing, a power of two, at most half full */
	size_t ndirs, dirs_cap;
	struct nodepaths_up *chain;
	size_t chain_cap;
};

/** Free what @np holds (not its reader). */
void nodepaths_destroy(struct nodepaths *np);

/**
 * Append the path of @dir, a slash unless it is "/", and @name to np->buf;
 * *ret is the result (its name at ret->len - @name_len, dir's covered mark,
 * id 0).  0 or -ENOMEM.
 */
int nodepaths_join(struct nodepaths *np, const struct nodepath *dir, const char *name,
		   size_t name_len, struct nodepath *ret);

/** The cached path of directory @id, or NULL (a pointer into the cache, valid until an add). */
struct nodepath *nodepaths_find(struct nodepaths *np, uint64_t id);

/** Cache buf[@off, @off + @len) as the path of directory @id.  0 or -ENOMEM. */
int nodepaths_add(struct nodepaths *np, uint64_t id, size_t off, size_t len, bool covered);

/**
 * Is @n what its parent's entry under its name names?  Not when a rename
 * unnamed it and a killed scan never wrote the other half: then no path
 * leads to it.  1, 0 or a negative error.
 */
int nodepaths_is_named(struct nodepaths *np, const struct node *n);

/**
 * The path of directory @id, rebuilt by following parents up to "/" or to
 * one whose path is known, caching each on the way.  1 with *ret, 0 if some
 * directory on the way is not named, or a negative error (-EBADMSG for a
 * missing parent or a loop: the index is inconsistent).
 */
int nodepaths_dir(struct nodepaths *np, uint64_t id, struct nodepath *ret);

/** An entry found out of order, its path in nodepaths.buf, to be visited in order. */
struct nodepaths_hit {
	size_t off, len, name_off;
	uint64_t id;
	char type;
	uint8_t flags;
};

/**
 * qsort_r() comparison of two struct nodepaths_hit whose paths are in @buf
 * (the ctx, np->buf): the traversal's order, names in byte order within a
 * directory and a directory's subtree right after it, which is byte order of
 * whole paths with '/' before every byte a name holds.
 */
int nodepaths_hit_cmp(const void *a, const void *b, void *buf);

#endif /* FSINDEX_NODEPATHS_H */

/* SPDX-License-Identifier: MIT */
/*
 * dups.h - duplicate files: candidates by size, then the XXH3-128 of the
 * first 4 KiB, of the last 4 KiB, then of the whole content; optionally a
 * byte-for-byte comparison.  Hashes already in the index are reused while
 * the file's stat tuple is unchanged; new ones are written back.
 */
#ifndef FSINDEX_DUPS_H
#define FSINDEX_DUPS_H

#include "hash.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cancel;
struct engine;
struct store;
struct task_pool;

/** One name of a file (an inode may have several: hard links). */
struct dups_name {
	const char *path;	/* absolute, NUL-terminated; owned by the result */
	size_t len;
	unsigned root;		/* index of the PATH argument it was found under */
};

/** One file (inode) of a group. */
struct dups_file {
	uint64_t id;		/* node id of its first name */
	uint64_t dev, ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint32_t nlink;
	uint32_t uid;
	struct dups_name *names; /* sorted: PATH argument order, then bytes */
	size_t nnames;		/* hard links to this inode among the scanned trees */
	/*
	 * Names of this inode that are leftover temporary names of an
	 * interrupted --link (dups_is_temp_name()), kept out of names[]: not
	 * reported, never kept or acted on, only removed (dupact.c).  Only an
	 * inode that also has another name has any; sorted like names[].
	 */
	struct dups_name *temps;
	size_t ntemps;
};

/** A set of files with the same size and content hash (and bytes, if verified). */
struct dups_group {
	uint64_t size;
	struct hash128 hash;	/* full-content XXH3-128 */
	struct dups_file *files; /* sorted like their first names */
	size_t nfiles;		/* >= 2 */
};

/** Live counters of the reading stages, for a progress display (relaxed atomics). */
struct dups_progress {
	atomic_int stage;		/* 0 before reading, 1 head, 2 tail, 3 whole files */
	atomic_uint_fast64_t files_total; /* files to read in this stage */
	atomic_uint_fast64_t files_done;
	atomic_uint_fast64_t bytes_done; /* over all stages */
};

struct dups_opts {
	uint64_t min_size;	/* smallest file size considered (default 1) */
	bool empty;		/* consider empty files too (overrides min_size 0) */
	bool verify;		/* compare bytes before reporting */
	bool record;		/* write computed hashes back to the index */
	const struct cancel *cancel;	/* may be NULL */
	struct dups_progress *progress;	/* updated as files are read; may be NULL */
	/* A file that could not be read (path, reason); may be NULL. */
	void (*on_error)(void *ctx, const char *path, size_t len, int err);
	void *error_ctx;
};

struct dups_stats {
	uint64_t files;		/* regular files considered (distinct inodes) */
	uint64_t candidates;	/* inodes sharing their size with another */
	uint64_t head_reads;	/* partial hashes computed (not found in the index) */
	uint64_t full_reads;	/* full hashes computed */
	uint64_t bytes_read;
	uint64_t reused;	/* hashes taken from the index */
	uint64_t errors;	/* files that could not be read or changed meanwhile */
	unsigned peak_inflight;	/* most reads in flight on one worker */
	bool uring;		/* io_uring did the reading (else pread) */
};

struct dups_result {
	struct dups_group *groups; /* ordered by reclaimable bytes, most first */
	size_t ngroups;
	struct dups_stats stats;
	void *priv;		/* storage behind the strings */
};

/* Worker ids dups_collect() accepts: 0 .. DUPS_MAX_WORKERS - 1 (as -j). */
#define DUPS_MAX_WORKERS 1024

struct dups_collector;
struct node;

/**
 * Prepare to gather the regular files of a scan of @nroots roots
 * (@root_paths, borrowed; their order is the order of PATH arguments) that
 * pass @opts' size filters.  *ret is the caller's (dups_collector_free()).
 */
int dups_collector_new(char *const *root_paths, size_t nroots, const struct dups_opts *opts,
		       struct dups_collector **ret);

/** Free @col.  Accepts NULL. */
void dups_collector_free(struct dups_collector *col);

/**
 * A walk_file_fn (walk.h): record regular file @n, found in directory @dir
 * below root @root, with the hash fields the index holds for it.  Workers
 * with distinct ids may call it at the same time.
 */
void dups_collect(void *ctx, unsigned worker, const char *root, const char *dir, size_t dir_len,
		  const struct node *n);

/**
 * Find duplicates among the files @col gathered (a node seen twice, through
 * overlapping roots, counts once), reading on @engine's workers, and with
 * opts->record writing the hashes back through its writer (a job of their
 * own).  Reads go to the files as they are now, each checked against what
 * the scan saw.  *ret is filled
 * (dups_result_destroy() frees what it holds) on success.  Returns 0,
 * -ECANCELED, or a negative error.
 */
int dups_run(struct engine *engine, struct dups_collector *col, const struct dups_opts *opts,
	     struct dups_result *ret);

/** Free what @res holds.  Accepts a zeroed result. */
void dups_result_destroy(struct dups_result *res);

/*
 * The temporary name dupact.c links the kept file to before renaming it over
 * NAME: "." NAME DUPS_TEMP_TAG and DUPS_TEMP_RANDOM letters or digits, NAME
 * cut to DUPS_TEMP_MAX_BASE bytes so the whole stays within NAME_MAX.
 */
#define DUPS_TEMP_TAG ".fsindex-"
#define DUPS_TEMP_RANDOM 6
#define DUPS_TEMP_MAX_BASE (255 - 1 - (sizeof(DUPS_TEMP_TAG) - 1) - DUPS_TEMP_RANDOM)

/**
 * Is @name (@len bytes, one path component) shaped like the temporary name
 * dupact.c makes?  If so and @ret_base_len is not NULL, *@ret_base_len is the
 * length of the NAME it was made for (at @name + 1; cut short when it is
 * DUPS_TEMP_MAX_BASE).
 */
bool dups_is_temp_name(const char *name, size_t len, size_t *ret_base_len);

/** Bytes that removing all but one file of @g would free. */
static inline uint64_t dups_group_reclaimable(const struct dups_group *g)
{
	return g->size * (g->nfiles - 1);
}

#endif /* FSINDEX_DUPS_H */

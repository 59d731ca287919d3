/* SPDX-License-Identifier: MIT */
/*
 * config.h - fsindexd's configuration file (/etc/fsindex.conf, or
 * $XDG_CONFIG_HOME/fsindex/fsindex.conf in per-user mode), described in
 * fsindex.conf(5): parsed from memory or read from a file into one
 * immutable struct config that the daemon reads directly.
 */
#ifndef FSINDEX_CONFIG_H
#define FSINDEX_CONFIG_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; the parser refuses a file past any of them, so memory stays bounded. */
#define CONFIG_MAX_SIZE (1 << 20) /* bytes in a file: a hand-written file is a few KiB */
#define CONFIG_MAX_LINE 4096	  /* bytes in a line, without its newline: PATH_MAX */
#define CONFIG_MAX_ROOTS 256	  /* roots in a file */
#define CONFIG_MAX_LIST 1024	  /* entries in one list, a root's inherited ones included */
#define CONFIG_MAX_WORKERS 1024
#define CONFIG_MAX_RECONCILE (366 * 86400) /* seconds: a year; longer is "never" */

/* I/O scheduling class of scans (ioprio_set(2)). */
enum config_io_class {
	CONFIG_IO_IDLE,	       /* io-class = idle (the default) */
	CONFIG_IO_BEST_EFFORT, /* io-class = best-effort[:level] */
};

/** One root with its effective settings: its [root] section over [index]. */
struct config_root {
	char *path;	 /* absolute, no "//", no "." or ".." component, no trailing '/' */
	char **excludes; /* globs, as walk_is_excluded() takes them */
	size_t nexcludes;
	char **exclude_fs; /* globs over filesystem type names (fuse.*, nfs, tmpfs) */
	size_t nexclude_fs;
	bool xdev; /* one-filesystem */
	bool hash;
	unsigned line; /* the line that first names the root, for messages */
};

/**
 * A parsed configuration.  Every pointer reachable from it (strings and
 * arrays; the roots' lists may share strings) belongs to it and is released
 * by config_free() alone, in one go: the parser never frees a single field.
 * So a caller may overwrite a field with a pointer of its own (a command-line
 * option overriding the file: cfg->db = optarg) as long as that pointer
 * outlives the config; config_free() will not free it.
 */
struct config {
	char *db;		   /* index directory; NULL: not set, the daemon's default */
	struct config_root *roots; /* in the order the file first names them */
	size_t nroots;		   /* 0 is valid here; the daemon decides what it means */
	unsigned workers;	   /* 0: one per online CPU */
	uint32_t reconcile;	   /* seconds between full reconciling rescans; 0: never */
	int nice;		   /* -20..19 */
	enum config_io_class io_class;
	int io_level; /* best-effort level 0..7; -1: derived from nice, as the kernel does */

	/* [index]'s own values, which the roots above already include. */
	char **excludes;
	size_t nexcludes;
	char **exclude_fs;
	size_t nexclude_fs;
	bool xdev;
	bool hash;

	void *mem; /* private: the allocations config_free() releases */
};

/**
 * Parse the @len bytes at @text as the contents of file @path (used only in
 * messages).  On success *ret is the caller's (config_free()).  On error
 * returns -EINVAL and, if @ret_err is not NULL, sets *ret_err to a malloc'd
 * "PATH:LINE: reason" naming the first error (the caller frees it), or
 * returns -ENOMEM (then *ret_err is NULL).  *ret is written only on success.
 */
int config_parse(const char *path, const char *text, size_t len, struct config **ret,
		 char **ret_err);

/**
 * Read the file at @path (a regular file, symlinks followed, at most
 * CONFIG_MAX_SIZE bytes) and parse it as config_parse() does.  I/O errors
 * return -errno with "PATH: reason" in *ret_err (-ENOENT when it does not
 * exist, which a caller may treat as "no configuration").
 */
int config_load(const char *path, struct config **ret, char **ret_err);

/** Release @cfg and everything it owns.  Accepts NULL. */
void config_free(struct config *cfg);

/**
 * The default configuration file: "/etc/fsindex.conf", or with @user
 * "$XDG_CONFIG_HOME/fsindex/fsindex.conf" ($HOME/.config when
 * XDG_CONFIG_HOME is unset or not absolute, as the XDG spec says).
 * *ret is malloc'd, the caller's.  Returns 0, -ENOENT when @user and
 * neither variable is usable, or -ENOMEM.
 */
int config_default_path(bool user, char **ret);

/** The name of key @i, for i = 0, 1, ... until NULL (the man page test lists them). */
const char *config_key_name(size_t i);

#endif /* FSINDEX_CONFIG_H */

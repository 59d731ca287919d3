/* SPDX-License-Identifier: MIT */
/*
 * output.h - how results are printed: `find`'s plain lines, NUL-terminated
 * paths, find(1)-style --printf formats and JSON Lines, and `dups`'s groups
 * (fdupes-style blank-line separated, NUL-separated or JSON Lines).  Writes
 * go through stdio on a stream the caller chooses (stdout, or a memstream in
 * tests).
 *
 * JSON strings are UTF-8.  File names are bytes, so a path that is not valid
 * UTF-8 is printed with each byte that does not belong to a valid sequence
 * replaced by U+FFFD, next to the standard base64 (RFC 4648, with padding)
 * of its exact bytes, from which it can be recovered.
 *
 * Every printing function returns 0 or -errno from stdio (-EPIPE when the
 * reader went away; -EIO if stdio failed without saying why).
 */
#ifndef FSINDEX_OUTPUT_H
#define FSINDEX_OUTPUT_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct dups_group;
struct node;
struct output_format;

/**
 * Compile a --printf @format.  Directives: %p %f %h %s %y %m %U %G %i %n %D
 * %T@ %C@ %%; escapes \n \t \0 \\.  On success *ret is the caller's
 * (output_format_free()); on a bad directive or escape returns -EINVAL and a
 * malloc'd message naming it in *ret_error (if not NULL), such as
 * "invalid --printf format: unknown directive '%z'".
 */
int output_format_new(const char *format, struct output_format **ret, char **ret_error);

/** Free @fmt.  Accepts NULL. */
void output_format_free(struct output_format *fmt);

/** Does @fmt use any directive that needs the entry's stored metadata? */
bool output_format_needs_node(const struct output_format *fmt);

/**
 * Print one entry: @path (@len bytes, last component at @name_off) with
 * metadata @n (may be NULL when not needed).  Output is what find(1) 4.9
 * prints for the same directives, byte for byte: %h of "/" and of "/tmp"
 * is empty, %f of "/" is "/", and %T@ is the seconds, '.', nine digits of
 * nanoseconds and a '0' as stored, so one and a half seconds before the
 * epoch (-2 s + 500000000 ns) prints "-2.5000000000", as find does.
 */
int output_format_print(const struct output_format *fmt, FILE *out, const char *path, size_t len,
			size_t name_off, const struct node *n);

/** Print @path followed by @terminator ('\n' or '\0'). */
int output_path(FILE *out, const char *path, size_t len, char terminator);

/**
 * Is @s (@len bytes) valid UTF-8?  Strict (RFC 3629): overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid,
 * as are truncated sequences.  NUL bytes are valid.
 */
bool output_is_utf8(const char *s, size_t len);

/** Length of the base64 encoding of @len bytes, without a terminating NUL. */
static inline size_t output_base64_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

/**
 * Encode @len bytes at @src as standard base64 with '=' padding (RFC 4648
 * section 4) into @dst, which holds output_base64_len(@len) + 1 bytes; a NUL
 * is appended.  Returns the length written, without the NUL.
 */
size_t output_base64_encode(char *dst, const void *src, size_t len);

/**
 * Print @len bytes at @s as a quoted JSON string: '"' and '\\' escaped,
 * control bytes below 0x20 as \b \t \n \f \r or \u00xx, DEL and valid UTF-8
 * kept, every byte not part of a valid UTF-8 sequence as U+FFFD.
 */
int output_json_string(FILE *out, const char *s, size_t len);

/** Print the base64 of @len bytes at @s as a quoted JSON string. */
int output_json_base64(FILE *out, const void *s, size_t len);

/**
 * Print one `find --json` line (JSON Lines: an object and '\n') for entry
 * @path (@len bytes) with metadata @n (not NULL):
 *
 *   {"path":"/a/b","type":"f","size":123,"mtime":1700000000.123456789,"hash":"<32 hex>"}
 *
 * "path_b64" follows "path" when @path is not valid UTF-8.  "mtime" is the
 * exact time in seconds with nine decimals (-1.5 s prints -1.500000000).
 * "hash" is there only when @n holds a full-content hash, in hex as
 * xxh128sum prints it.
 */
int output_json_entry(FILE *out, const char *path, size_t len, const struct node *n);

/** How `dups` prints its groups. */
enum output_mode {
	OUTPUT_PLAIN,		/* one path a line, a blank line between groups */
	OUTPUT_NUL,		/* NUL after each path, another NUL after each group */
	OUTPUT_JSON,		/* one JSON object a line per group */
};

/**
 * Print duplicate group @g: for each file its first name, or with
 * @all_names every name (consecutively).  @first_group is true for the
 * first group printed: in OUTPUT_PLAIN mode every other group starts with
 * the blank line that separates it from the one before, so there is none
 * before the first group nor after the last.  OUTPUT_NUL ends each path with
 * a NUL and the group with one more.  OUTPUT_JSON prints
 *
 *   {"size":N,"hash":"<32 hex>","paths":["/a","/b"]}
 *
 * and, when some path is not valid UTF-8, "paths_b64" after "paths": an
 * array of the same length holding the base64 of those paths and null for
 * the others.
 */
int output_dups_group(FILE *out, enum output_mode mode, const struct dups_group *g, bool all_names,
		      bool first_group);

/**
 * Print the `dups --summary` line: @groups groups, @files duplicate files
 * (the sum over groups of their files less one), @reclaimable bytes.
 * OUTPUT_PLAIN and OUTPUT_NUL:
 *
 *   N groups, N duplicate files, N bytes reclaimable\n
 *
 * OUTPUT_JSON: {"summary":{"groups":N,"files":N,"reclaimable":N}}\n
 *
 * Where it goes is the caller's choice of @out.  The convention: stdout in
 * OUTPUT_PLAIN and OUTPUT_JSON modes (after the groups), but stderr in
 * OUTPUT_NUL mode, so that the NUL-separated stream on stdout holds nothing
 * but paths and stays safe to feed to `xargs -0`.
 */
int output_dups_summary(FILE *out, enum output_mode mode, uint64_t groups, uint64_t files,
			uint64_t reclaimable);

#endif /* FSINDEX_OUTPUT_H */

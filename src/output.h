/* SPDX-License-Identifier: MIT */
/*
 * output.h - how `find` prints an entry: plain lines, NUL-terminated, or a
 * find(1)-style --printf format.  Writes go through stdio on stdout.
 */
#ifndef FSINDEX_OUTPUT_H
#define FSINDEX_OUTPUT_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

struct node;
struct output_format;

/**
 * Compile a --printf @format.  Directives: %p %f %h %s %y %m %U %G %i %n %D
 * %T@ %C@ %%; escapes \n \t \0 \\.  On success *ret is the caller's
 * (output_format_free()); on a bad directive returns -EINVAL and a malloc'd
 * message in *ret_error (if not NULL).
 */
int output_format_new(const char *format, struct output_format **ret, char **ret_error);

/** Free @fmt.  Accepts NULL. */
void output_format_free(struct output_format *fmt);

/** Does @fmt use any directive that needs the entry's stored metadata? */
bool output_format_needs_node(const struct output_format *fmt);

/**
 * Print one entry: @path (@len bytes, last component at @name_off) with
 * metadata @n (may be NULL when not needed).  Returns 0 or -errno from stdio
 * (-EPIPE when the reader went away).
 */
int output_format_print(const struct output_format *fmt, FILE *out, const char *path, size_t len,
			size_t name_off, const struct node *n);

/** Print @path followed by @terminator ('\n' or '\0').  As above. */
int output_path(FILE *out, const char *path, size_t len, char terminator);

#endif /* FSINDEX_OUTPUT_H */

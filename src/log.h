/* SPDX-License-Identifier: MIT */
/*
 * log.h - the only code that writes diagnostics.  Messages go to stderr as
 * "fsindex: message"; under journald (log_init(..., true)) each line starts
 * with a "<N>" priority prefix instead (sd-daemon(3)).
 */
#ifndef FSINDEX_LOG_H
#define FSINDEX_LOG_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <syslog.h>

/** Set the program name used as prefix and whether to emit "<N>" prefixes. */
void log_init(const char *progname, bool journal);

/** Messages above @level (LOG_ERR..LOG_DEBUG) are dropped.  Default LOG_INFO. */
void log_set_max_level(int level);

/** Is @level currently printed? */
bool log_enabled(int level);

/** Print one message at @level; a trailing newline is added. */
void log_msg(int level, const char *fmt, ...) FSI_PRINTF(2, 3);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/**
 * Quote the @len bytes at @s for a diagnostic: printable ASCII is kept,
 * backslash, newline, tab and every other byte become C escapes (\\, \n, \t,
 * \xHH), so a file name can never forge a line on stderr.
 * Returns a malloc'd string the caller frees, or NULL on ENOMEM.
 */
char *log_quote(const char *s, size_t len) FSI_MALLOC(free);

#endif /* FSINDEX_LOG_H */

/* SPDX-License-Identifier: MIT */
/*
 * log.c - diagnostics on stderr.  One fprintf per message, so lines from
 * several threads never interleave within a line (stdio locks the stream).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *log_prog = "fsindex";
static bool log_journal;
static int log_max = LOG_INFO;

void log_init(const char *progname, bool journal)
{
	log_prog = progname;
	log_journal = journal;
}

void log_set_max_level(int level)
{
	log_max = level;
}

bool log_enabled(int level)
{
	return level <= log_max;
}

void log_msg(int level, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "%s: %s\n", log_prog, buf);
}

char *log_quote(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out, *p;

	/* Worst case: every byte becomes \xHH. */
	out = malloc(len * 4 + 1);
	if (!out)
		return NULL;
	p = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			*p++ = '\\';
			*p++ = '\\';
		} else if (c == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else if (c == '\t') {
			*p++ = '\\';
			*p++ = 't';
		} else if (c < 0x20 || c >= 0x7f) {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

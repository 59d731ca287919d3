/* SPDX-License-Identifier: MIT */
/*
 * tap.h - a minimal TAP producer for unit tests (Test Anything Protocol 13).
 * plan(n) first (or plan_lazy() and done_testing() at the end), then ok().
 */
#ifndef FSINDEX_TAP_H
#define FSINDEX_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run;
static int tap_failed;
static bool tap_lazy;

static inline void plan(int n)
{
	printf("1..%d\n", n);
	fflush(stdout);
}

/** Print the plan at the end, from the number of tests run. */
static inline void plan_lazy(void)
{
	tap_lazy = true;
}

/** Skip the whole file with a reason (prints "1..0 # SKIP reason"). */
__attribute__((noreturn, format(printf, 1, 2))) static inline void skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(0);
}

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

__attribute__((format(printf, 2, 3))) static inline bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2))) static inline void skip(const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	printf("ok %d # SKIP ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/** Finish: print a lazy plan and return the exit status for main(). */
static inline int done_testing(void)
{
	if (tap_lazy)
		printf("1..%d\n", tap_run);
	return tap_failed ? 1 : 0;
}

#endif /* FSINDEX_TAP_H */

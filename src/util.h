/* SPDX-License-Identifier: MIT */
/*
 * util.h - small helpers shared by every module: attributes, container_of,
 * big-endian load/store for LMDB keys, monotonic time, array growth.
 */
#ifndef FSINDEX_UTIL_H
#define FSINDEX_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
/** Mark an allocator whose result must be released with @f. */
#define FSI_MALLOC(f) __attribute__((malloc, malloc(f, 1)))
#else
#define FSI_MALLOC(f) __attribute__((malloc))
#endif

#define FSI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define FSI_NORETURN __attribute__((noreturn))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void put_be64(void *p, uint64_t v)
{
	unsigned char *b = p;

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

static inline uint64_t get_be64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

static inline void put_be32(void *p, uint32_t v)
{
	unsigned char *b = p;

	for (int i = 3; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

static inline uint32_t get_be32(const void *p)
{
	const unsigned char *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/** The value of hexadecimal digit @c (either case), or -1 (also for NUL). */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * The array @p of *@cap elements of @elem bytes, reallocated to hold at
 * least @need (> *cap): capacity doubles from 16, so n appends cost O(n)
 * copies.  Returns the new array and updates *@cap, or NULL (out of memory,
 * or need * elem would overflow) leaving @p and *@cap as they were.  Use
 * through GROW().
 */
static inline void *grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	np = reallocarray(p, ncap, elem);
	if (np)
		*cap = ncap;
	return np;
}

/**
 * Make typed array @arr (capacity @cap, a size_t lvalue) hold at least @need
 * elements.  Evaluates to 0 or -ENOMEM (then @arr and @cap are unchanged).
 */
#define GROW(arr, cap, need)                                                        \
	__extension__({                                                             \
		int grow_r_ = 0;                                                    \
		if ((need) > (cap)) {                                               \
			void *grow_p_ = grow_array((arr), &(cap), (need), sizeof(*(arr))); \
			if (grow_p_)                                                \
				(arr) = grow_p_;                                    \
			else                                                        \
				grow_r_ = -ENOMEM;                                  \
		}                                                                   \
		grow_r_;                                                            \
	})

/** Nanoseconds on CLOCK_MONOTONIC. */
static inline int64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/** Nanoseconds on CLOCK_REALTIME. */
static inline int64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* FSINDEX_UTIL_H */

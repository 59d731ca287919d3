/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c - libFuzzer harness for config.c.
 *
 * The input is the text of a configuration file.  Besides what ASan and
 * UBSan see, the harness checks:
 *   - a failure is -EINVAL with one line "fuzz.conf:..." (or -ENOMEM), and
 *     the same without an error string;
 *   - a success keeps every promise of config.h: roots absolute, normalised
 *     and distinct, lists NULL-terminated and within the limits, numbers in
 *     range;
 *   - printing the result back as a file (every root in a section of its
 *     own, lists reset and written out) and parsing that gives the same
 *     configuration, so escapes and quoting decode to what they encode.
 *
 * Build and run (CI runs it with a fixed seed and run count):
 *   ./configure CC=clang --enable-fuzzing && make fuzz
 *   ./tests/fuzz/fuzz-config -max_total_time=60 -dict=tests/fuzz/fuzz-config.dict
 * The dictionary (section and key names, escapes, path pieces) helps a
 * little: 934 coverage edges against 891 after 500,000 runs with -seed=1.
 */
#include "../../src/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static void check_path(const char *p)
{
	size_t n = strlen(p);

	CHECK(p[0] == '/');
	CHECK(n == 1 || p[n - 1] != '/');
	CHECK(!strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../"));
	CHECK(strcmp(p + n - (n >= 2 ? 2 : n), "/.") != 0);
	CHECK(n < 3 || strcmp(p + n - 3, "/..") != 0);
}

static void check_list(char **v, size_t n)
{
	CHECK(v && n <= CONFIG_MAX_LIST && v[n] == NULL);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i] && v[i][0]);
}

static void check(const struct config *cfg)
{
	CHECK(cfg->nroots <= CONFIG_MAX_ROOTS && cfg->roots);
	CHECK(cfg->workers <= CONFIG_MAX_WORKERS && cfg->reconcile <= CONFIG_MAX_RECONCILE);
	CHECK(cfg->nice >= -20 && cfg->nice <= 19);
	CHECK(cfg->io_level >= -1 && cfg->io_level <= 7);
	CHECK(cfg->io_class == CONFIG_IO_BEST_EFFORT || cfg->io_level == -1);
	if (cfg->db)
		check_path(cfg->db);
	check_list(cfg->excludes, cfg->nexcludes);
	check_list(cfg->exclude_fs, cfg->nexclude_fs);
	for (size_t i = 0; i < cfg->nroots; i++) {
		check_path(cfg->roots[i].path);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(cfg->roots[i].path, cfg->roots[j].path) != 0);
		check_list(cfg->roots[i].excludes, cfg->roots[i].nexcludes);
		check_list(cfg->roots[i].exclude_fs, cfg->roots[i].nexclude_fs);
		for (size_t j = 0; j < cfg->roots[i].nexclude_fs; j++)
			CHECK(!strchr(cfg->roots[i].exclude_fs[j], '/'));
	}
}

/* Write @s as one word: bytes that could end or change it as \xHH. */
static void word(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '"' || c == '\\' || c == ']' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void list(FILE *f, const char *key, char **v, size_t n)
{
	fprintf(f, "%s =\n", key);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s = ", key);
		word(f, v[i]);
		fputc('\n', f);
	}
}

static char *print(const struct config *cfg, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "[index]\n");
	if (cfg->db) {
		fprintf(f, "db = ");
		word(f, cfg->db);
		fputc('\n', f);
	}
	fprintf(f, "workers = %u\nreconcile = %us\nnice = %d\n", cfg->workers, cfg->reconcile,
		cfg->nice);
	if (cfg->io_class == CONFIG_IO_IDLE)
		fprintf(f, "io-class = idle\n");
	else if (cfg->io_level < 0)
		fprintf(f, "io-class = best-effort\n");
	else
		fprintf(f, "io-class = best-effort:%d\n", cfg->io_level);
	fprintf(f, "hash = %s\none-filesystem = %s\n", cfg->hash ? "yes" : "no",
		cfg->xdev ? "yes" : "no");
	list(f, "exclude", cfg->excludes, cfg->nexcludes);
	list(f, "exclude-fs", cfg->exclude_fs, cfg->nexclude_fs);
	for (size_t i = 0; i < cfg->nroots; i++) {
		const struct config_root *r = &cfg->roots[i];

		fprintf(f, "[root ");
		word(f, r->path);
		fprintf(f, "]\nhash = %d\none-filesystem = %d\n", r->hash, r->xdev);
		list(f, "exclude", r->excludes, r->nexcludes);
		list(f, "exclude-fs", r->exclude_fs, r->nexclude_fs);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	*ret_len = len;
	return text;
}

static bool same_list(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static void same(const struct config *a, const struct config *b)
{
	CHECK((!a->db && !b->db) || (a->db && b->db && strcmp(a->db, b->db) == 0));
	CHECK(a->workers == b->workers && a->reconcile == b->reconcile && a->nice == b->nice);
	CHECK(a->io_class == b->io_class && a->io_level == b->io_level);
	CHECK(a->hash == b->hash && a->xdev == b->xdev);
	CHECK(same_list(a->excludes, a->nexcludes, b->excludes, b->nexcludes));
	CHECK(same_list(a->exclude_fs, a->nexclude_fs, b->exclude_fs, b->nexclude_fs));
	CHECK(a->nroots == b->nroots);
	for (size_t i = 0; i < a->nroots; i++) {
		const struct config_root *x = &a->roots[i], *y = &b->roots[i];

		CHECK(strcmp(x->path, y->path) == 0 && x->hash == y->hash && x->xdev == y->xdev);
		CHECK(same_list(x->excludes, x->nexcludes, y->excludes, y->nexcludes));
		CHECK(same_list(x->exclude_fs, x->nexclude_fs, y->exclude_fs, y->nexclude_fs));
	}
}

/* Would every line of @text fit?  (Escaping can make a valid long line too long.) */
static bool lines_fit(const char *text, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || text[i] == '\n') {
			if (i - start > CONFIG_MAX_LINE)
				return false;
			start = i + 1;
		}
	}
	return len <= CONFIG_MAX_SIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL, *again = NULL;
	char *err = NULL, *text;
	size_t len;
	int r, r2;

	r = config_parse("fuzz.conf", (const char *)data, size, &cfg, &err);
	r2 = config_parse("fuzz.conf", (const char *)data, size, &again, NULL);
	CHECK(r == r2 || r == -ENOMEM || r2 == -ENOMEM);
	config_free(again);
	again = NULL;
	if (r < 0) {
		CHECK(!cfg);
		CHECK(r == -ENOMEM || (r == -EINVAL && err && strncmp(err, "fuzz.conf:", 10) == 0 &&
				       !strchr(err, '\n')));
		free(err);
		return 0;
	}
	CHECK(cfg && !err);
	check(cfg);

	text = print(cfg, &len);
	if (text && lines_fit(text, len)) {
		r = config_parse("printed.conf", text, len, &again, &err);
		if (r == -EINVAL) {
			fprintf(stderr, "reparse: %s\n", err);
			abort();
		}
		if (r == 0) {
			check(again);
			same(cfg, again);
		}
		free(err);
		config_free(again);
	}
	free(text);
	config_free(cfg);
	return 0;
}

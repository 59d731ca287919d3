/* SPDX-License-Identifier: MIT */
/*
 * config.c - a small reader for fsindex.conf(5), our own rather than
 * libinih's: inih has no quoting or escapes (paths are bytes and may hold
 * blanks or anything but NUL), silently accepts duplicate keys, truncates or
 * splits long lines, and would be one more dependency for a few hundred lines.
 *
 * The syntax, decided here and documented in man/fsindex.conf.5:
 *
 *   # comment            '#' or ';' as the first non-blank byte; nowhere else,
 *   ; comment            so '#' may appear in a path or glob unquoted
 *   [index]              global settings (at most once)
 *   roots = /home /srv   key = value; blanks around both trimmed
 *   [root /srv]          one root's overrides (at most once per root); naming a
 *   hash = yes           root here makes it a root even if `roots` does not
 *
 * Lines end in LF; a CR before the LF is dropped (CRLF files work), the last
 * line needs no newline.  Any other control byte (NUL included) is an error:
 * never a silent truncation, and what a value means is always visible.  A
 * value is a list of blank-separated tokens; inside a token "..." quotes
 * blanks, and \\ \" \  \t \n \xHH escape (inside quotes or not), so any
 * byte but NUL can be written; an unknown escape is an error rather than
 * kept, so a glob's "\*" cannot silently change meaning ("\\*" it is).
 *
 * Strictness, because a typo must never be silent: unknown keys and
 * sections, a key before any section, a global-only key in [root], a scalar
 * set twice in one section, a root listed twice or given two sections, and
 * anything left after a value are all errors; the first one is reported as
 * "FILE:LINE: reason" and nothing is returned.  List keys (`roots`,
 * `exclude`, `exclude-fs`) may repeat and append; an empty `exclude =` or
 * `exclude-fs =` drops what came before it, in a [root] section what the
 * root inherits from [index] too.  Roots are normalised lexically ("//" and
 * "." components and a trailing '/' go); ".." is refused, since only the
 * file system can say what it means once symlinks are involved.
 *
 * Memory: the text is at most CONFIG_MAX_SIZE bytes, a line at most
 * CONFIG_MAX_LINE, at most CONFIG_MAX_ROOTS roots and CONFIG_MAX_LIST entries
 * per list.  Everything the result holds comes from one chain of blocks
 * (struct block) hanging off cfg->mem, so config_free() is a walk down one
 * list, and a caller's own pointer stored in a field is never freed by it.
 * The lists a root inherits share the strings of [index].
 */
#include "config.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum key {
	K_ROOTS,
	K_DB,
	K_EXCLUDE,
	K_EXCLUDE_FS,
	K_ONE_FS,
	K_HASH,
	K_WORKERS,
	K_RECONCILE,
	K_NICE,
	K_IO_CLASS,
	K_COUNT
};

/* Keep in step with man/fsindex.conf.5 (test-config checks the names). */
static const struct {
	const char *name;
	bool list;     /* takes several tokens, may repeat */
	bool per_root; /* allowed in [root] sections */
} keys[K_COUNT] = {
	[K_ROOTS] = {"roots", true, false},
	[K_DB] = {"db", false, false},
	[K_EXCLUDE] = {"exclude", true, true},
	[K_EXCLUDE_FS] = {"exclude-fs", true, true},
	[K_ONE_FS] = {"one-filesystem", false, true},
	[K_HASH] = {"hash", false, true},
	[K_WORKERS] = {"workers", false, false},
	[K_RECONCILE] = {"reconcile", false, false},
	[K_NICE] = {"nice", false, false},
	[K_IO_CLASS] = {"io-class", false, false},
};

/* Defaults, documented in fsindex.conf(5). */
#define DEFAULT_RECONCILE 86400 /* a daily reconcile catches what live updates missed */
#define DEFAULT_NICE 10		/* a background scan yields the CPU to interactive work */

enum { L_EXCLUDE, L_EXCLUDE_FS, L_COUNT }; /* the per-section lists */

struct block {
	struct block *next;
	size_t size, used;
	max_align_t data[];
};

#define BLOCK_SIZE 16384

struct vec {
	char **v;
	size_t n, cap;
};

/* What one section says, before [index] and [root] are combined. */
struct sect {
	unsigned line;	       /* of its header; 0: no such section yet */
	unsigned set[K_COUNT]; /* line where each key was last given */
	struct vec list[L_COUNT];
	bool reset[L_COUNT]; /* an empty value dropped what came before */
	bool xdev, hash;
};

struct root_ent {
	char *path;
	unsigned line;	 /* first mention */
	unsigned listed; /* line of its `roots =`, 0 if none */
	struct sect s;	 /* its [root] section, if s.line */
};

struct parser {
	char *qpath; /* the file name, quoted for messages */
	unsigned line;
	char *err;
	struct block *mem;
	struct config *cfg;
	struct sect index;
	struct root_ent *roots;
	size_t nroots;
	long cur;		       /* section: -2 none yet, -1 [index], else a root index */
	char tok[CONFIG_MAX_LINE + 1]; /* a decoded token is never longer than its line */
};

/* ---- memory ------------------------------------------------------------ */

static void *mem_alloc(struct parser *p, size_t n)
{
	struct block *b = p->mem;
	void *ret;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!b || b->size - b->used < n) {
		size_t size = n > BLOCK_SIZE ? n : BLOCK_SIZE;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = p->mem;
		p->mem = b;
	}
	ret = (char *)b->data + b->used;
	b->used += n;
	return ret;
}

static char *mem_strndup(struct parser *p, const char *s, size_t len)
{
	char *d = mem_alloc(p, len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static void blocks_free(struct block *b)
{
	while (b) {
		struct block *next = b->next;

		free(b);
		b = next;
	}
}

static int vec_push(struct vec *v, char *s)
{
	if (GROW(v->v, v->cap, v->n + 1) < 0)
		return -ENOMEM;
	v->v[v->n++] = s;
	return 0;
}

static void sect_destroy(struct sect *s)
{
	for (int i = 0; i < L_COUNT; i++)
		free(s->list[i].v);
}

/* ---- messages ------------------------------------------------------------ */

/* Quote @len bytes of @s into @buf for a message, shortened past 80 bytes. */
static const char *quote(char *buf, size_t size, const char *s, size_t len)
{
	char *q = log_quote(s, len > 80 ? 80 : len);

	snprintf(buf, size, "%s%s", q ? q : "?", len > 80 ? "..." : "");
	free(q);
	return buf;
}

#define QBUF (80 * 4 + 4)

/* Record "FILE:LINE: message" (or "FILE: message" with line 0); returns -EINVAL. */
FSI_PRINTF(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if (p->line)
		n = asprintf(&p->err, "%s:%u: %s", p->qpath, p->line, msg);
	else
		n = asprintf(&p->err, "%s: %s", p->qpath, msg);
	free(msg);
	if (n < 0) {
		p->err = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

/* ---- tokens and values ---------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Decode the next token of s[*pos..n) into p->tok, stopping at an unquoted
 * blank (or @stop, unless 0).  Returns 1 and its length in *ret_len, 0 when
 * only blanks (or @stop) remain, or a negative error.
 */
static int next_token(struct parser *p, const char *s, size_t n, size_t *pos, char stop,
		      size_t *ret_len)
{
	char qb[QBUF];
	size_t i = *pos, o = 0;
	bool quoted = false;

	while (i < n && is_blank(s[i]))
		i++;
	*pos = i;
	if (i == n || (stop && s[i] == stop))
		return 0;
	while (i < n) {
		char c = s[i];

		if (!quoted && (is_blank(c) || (stop && c == stop)))
			break;
		i++;
		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (c == '\\') {
			int hi, lo;

			if (i == n)
				return fail(p, "a '\\' ends the line (write \\\\ for a backslash)");
			c = s[i++];
			switch (c) {
			case '\\':
			case '"':
			case ' ':
				break;
			case 't':
				c = '\t';
				break;
			case 'n':
				c = '\n';
				break;
			case 'x':
				hi = i < n ? hex_digit(s[i]) : -1;
				lo = i + 1 < n ? hex_digit(s[i + 1]) : -1;
				if (hi < 0 || lo < 0)
					return fail(p, "'\\x' needs two hex digits");
				i += 2;
				c = (char)(hi << 4 | lo);
				if (!c)
					return fail(p, "'\\x00': a value cannot hold a NUL byte");
				break;
			default:
				return fail(p,
					    "unknown escape '\\%s' (known: \\\\ \\\" \\<space> \\t "
					    "\\n \\xHH)",
					    quote(qb, sizeof(qb), &c, 1));
			}
		}
		p->tok[o++] = c;
	}
	if (quoted)
		return fail(p, "unterminated '\"'");
	p->tok[o] = '\0';
	*pos = i;
	*ret_len = o;
	return 1;
}

/* Normalise the absolute path in p->tok in place; a relative path or ".." is an error. */
static int normalise_path(struct parser *p, const char *what, size_t *len)
{
	char qb[QBUF], *s = p->tok;
	size_t i = 0, o = 0, n = *len;

	if (s[0] != '/')
		return fail(p, "%s: '%s' is not an absolute path", what,
			    quote(qb, sizeof(qb), s, n));
	while (i < n) {
		size_t start, clen;

		while (i < n && s[i] == '/')
			i++;
		start = i;
		while (i < n && s[i] != '/')
			i++;
		clen = i - start;
		if (clen == 0 || (clen == 1 && s[start] == '.'))
			continue;
		if (clen == 2 && s[start] == '.' && s[start + 1] == '.')
			return fail(p, "%s: '%s' has a '..' component", what,
				    quote(qb, sizeof(qb), s, n));
		s[o++] = '/';
		memmove(s + o, s + start, clen);
		o += clen;
	}
	if (o == 0)
		s[o++] = '/';
	s[o] = '\0';
	*len = o;
	return 0;
}

static bool parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return true;
		}
	}
	return false;
}

/* A decimal integer in [min, max]: an optional '-', digits, nothing else. */
static bool parse_int(const char *s, long min, long max, long *ret)
{
	bool neg = *s == '-';
	long v = 0;

	s += neg;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return false;
		v = v * 10 + (*s - '0');
	}
	v = neg ? -v : v;
	if (v < min || v > max)
		return false;
	*ret = v;
	return true;
}

/* "never", "0", seconds, or number-unit pairs such as "6h" or "1d12h"; at most a year. */
static bool parse_interval(const char *s, uint32_t *ret)
{
	uint64_t total = 0;
	bool bare = true;

	if (strcmp(s, "never") == 0) {
		*ret = 0;
		return true;
	}
	if (!*s)
		return false;
	while (*s) {
		uint64_t v = 0, mult;

		if (*s < '0' || *s > '9')
			return false;
		for (; *s >= '0' && *s <= '9'; s++) {
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > CONFIG_MAX_RECONCILE)
				return false;
		}
		switch (*s) {
		case '\0':
			if (!bare)
				return false; /* "1h30": 30 what? */
			mult = 1;
			break;
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		default:
			return false;
		}
		if (*s)
			s++;
		bare = false;
		total += v * mult;
		if (total > CONFIG_MAX_RECONCILE)
			return false;
	}
	*ret = (uint32_t)total;
	return true;
}

/* A glob for `exclude` or `exclude-fs` in p->tok. */
static int check_glob(struct parser *p, enum key k, size_t len)
{
	char qb[QBUF];
	size_t bs = 0;

	if (len == 0)
		return fail(p, "%s: empty pattern", keys[k].name);
	if (k == K_EXCLUDE_FS && memchr(p->tok, '/', len))
		return fail(p, "%s: '%s' has a '/' (it names filesystem types, such as fuse.*)",
			    keys[k].name, quote(qb, sizeof(qb), p->tok, len));
	while (bs < len && p->tok[len - 1 - bs] == '\\')
		bs++;
	if (bs % 2)
		return fail(p, "%s: '%s' ends in a lone backslash", keys[k].name,
			    quote(qb, sizeof(qb), p->tok, len));
	return 0;
}

/* ---- sections and keys ---------------------------------------------------- */

static long find_root(struct parser *p, const char *path)
{
	for (size_t i = 0; i < p->nroots; i++)
		if (strcmp(p->roots[i].path, path) == 0)
			return (long)i;
	return -1;
}

/* Add root p->tok (normalised, @len bytes); returns its index or a negative error. */
static long add_root(struct parser *p, size_t len)
{
	struct root_ent *e;
	char *path;

	if (p->nroots == CONFIG_MAX_ROOTS)
		return fail(p, "more than %d roots", CONFIG_MAX_ROOTS);
	path = mem_strndup(p, p->tok, len);
	if (!path)
		return -ENOMEM;
	if (!p->roots) {
		p->roots = calloc(CONFIG_MAX_ROOTS, sizeof(*p->roots));
		if (!p->roots)
			return -ENOMEM;
	}
	e = &p->roots[p->nroots];
	e->path = path;
	e->line = p->line;
	return (long)p->nroots++;
}

static struct sect *cur_sect(struct parser *p)
{
	return p->cur == -1 ? &p->index : &p->roots[p->cur].s;
}

static int parse_section(struct parser *p, const char *s, size_t n)
{
	char qb[QBUF];
	size_t i = 1, start, len;
	long r;

	while (i < n && is_blank(s[i]))
		i++;
	start = i;
	while (i < n && !is_blank(s[i]) && s[i] != ']')
		i++;
	if (i - start == 5 && memcmp(s + start, "index", 5) == 0) {
		if (p->index.line)
			return fail(p, "section [index] repeated (first on line %u)",
				    p->index.line);
		p->index.line = p->line;
		p->cur = -1;
	} else if (i - start == 4 && memcmp(s + start, "root", 4) == 0) {
		r = next_token(p, s, n, &i, ']', &len);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return fail(p, "[root] needs a path, as in [root /srv]");
		r = normalise_path(p, "[root]", &len);
		if (r < 0)
			return (int)r;
		r = find_root(p, p->tok);
		if (r >= 0 && p->roots[r].s.line)
			return fail(p, "section [root %s] repeated (first on line %u)",
				    quote(qb, sizeof(qb), p->tok, len), p->roots[r].s.line);
		if (r < 0)
			r = add_root(p, len);
		if (r < 0)
			return (int)r;
		p->roots[r].s.line = p->line;
		p->cur = r;
		if (next_token(p, s, n, &i, ']', &len) != 0)
			return p->err ? -EINVAL
				      : fail(p, "[root] takes one path (quote a path with blanks)");
	} else {
		return fail(p, "unknown section '[%s]' (known: [index], [root PATH])",
			    quote(qb, sizeof(qb), s + start, i - start));
	}
	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] != ']')
		return fail(p, "missing ']'");
	for (i++; i < n; i++)
		if (!is_blank(s[i]))
			return fail(p, "text after ']' (comments take a line of their own)");
	return 0;
}

static int set_list_value(struct parser *p, enum key k, size_t len)
{
	struct sect *sect = cur_sect(p);
	struct vec *v;
	char qb[QBUF], *str;
	long r;

	if (k == K_ROOTS) {
		r = normalise_path(p, "roots", &len);
		if (r < 0)
			return (int)r;
		r = find_root(p, p->tok);
		if (r >= 0 && p->roots[r].listed)
			return fail(p, "roots: '%s' is listed twice (first on line %u)",
				    quote(qb, sizeof(qb), p->tok, len), p->roots[r].listed);
		if (r < 0)
			r = add_root(p, len);
		if (r < 0)
			return (int)r;
		p->roots[r].listed = p->line;
		return 0;
	}
	r = check_glob(p, k, len);
	if (r < 0)
		return (int)r;
	v = &sect->list[k == K_EXCLUDE ? L_EXCLUDE : L_EXCLUDE_FS];
	if (v->n == CONFIG_MAX_LIST)
		return fail(p, "%s: more than %d patterns", keys[k].name, CONFIG_MAX_LIST);
	str = mem_strndup(p, p->tok, len);
	if (!str)
		return -ENOMEM;
	return vec_push(v, str);
}

static int set_scalar(struct parser *p, enum key k, size_t len)
{
	struct config *cfg = p->cfg;
	struct sect *sect = cur_sect(p);
	char qb[QBUF];
	const char *v = p->tok;
	long num;
	int r;

	switch (k) {
	case K_DB:
		r = normalise_path(p, "db", &len);
		if (r < 0)
			return r;
		cfg->db = mem_strndup(p, p->tok, len);
		return cfg->db ? 0 : -ENOMEM;
	case K_ONE_FS:
	case K_HASH:
		if (!parse_bool(v, k == K_HASH ? &sect->hash : &sect->xdev))
			return fail(p, "%s: '%s' is not yes or no", keys[k].name,
				    quote(qb, sizeof(qb), v, len));
		return 0;
	case K_WORKERS:
		if (!parse_int(v, 0, CONFIG_MAX_WORKERS, &num))
			return fail(p, "workers: '%s' is not a number from 0 (one per CPU) to %d",
				    quote(qb, sizeof(qb), v, len), CONFIG_MAX_WORKERS);
		cfg->workers = (unsigned)num;
		return 0;
	case K_RECONCILE:
		if (!parse_interval(v, &cfg->reconcile))
			return fail(p,
				    "reconcile: '%s' is not an interval such as 30m, 6h or 1d "
				    "(at most 366d; 0 or never: none)",
				    quote(qb, sizeof(qb), v, len));
		return 0;
	case K_NICE:
		if (!parse_int(v, -20, 19, &num))
			return fail(p, "nice: '%s' is not a number from -20 to 19",
				    quote(qb, sizeof(qb), v, len));
		cfg->nice = (int)num;
		return 0;
	case K_IO_CLASS:
		if (strcmp(v, "idle") == 0) {
			cfg->io_class = CONFIG_IO_IDLE;
			cfg->io_level = -1;
		} else if (strcmp(v, "best-effort") == 0) {
			cfg->io_class = CONFIG_IO_BEST_EFFORT;
			cfg->io_level = -1;
		} else if (strncmp(v, "best-effort:", 12) == 0 && v[12] >= '0' && v[12] <= '7' &&
			   !v[13]) {
			cfg->io_class = CONFIG_IO_BEST_EFFORT;
			cfg->io_level = v[12] - '0';
		} else {
			return fail(p,
				    "io-class: '%s' is not idle, best-effort or best-effort:0..7",
				    quote(qb, sizeof(qb), v, len));
		}
		return 0;
	default:
		abort(); /* lists go to set_list_value() */
	}
}

static int parse_assignment(struct parser *p, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	char qb[QBUF];
	size_t klen, pos, len;
	struct sect *sect;
	enum key k;
	int r, ntok = 0;

	if (!eq)
		return fail(p, "expected 'key = value', a [section] or a comment");
	klen = (size_t)(eq - s);
	while (klen && is_blank(s[klen - 1]))
		klen--;
	if (!klen)
		return fail(p, "missing key before '='");
	for (k = 0; k < K_COUNT; k++)
		if (strlen(keys[k].name) == klen && memcmp(keys[k].name, s, klen) == 0)
			break;
	if (k == K_COUNT)
		return fail(p, "unknown key '%s'", quote(qb, sizeof(qb), s, klen));
	if (p->cur == -2)
		return fail(p, "'%s' before any section (start with [index])", keys[k].name);
	if (p->cur >= 0 && !keys[k].per_root)
		return fail(p, "'%s' belongs in [index], not in a [root] section", keys[k].name);
	sect = cur_sect(p);
	if (!keys[k].list && sect->set[k])
		return fail(p, "'%s' is already set on line %u", keys[k].name, sect->set[k]);
	sect->set[k] = p->line;

	pos = (size_t)(eq - s) + 1;
	while ((r = next_token(p, s, n, &pos, 0, &len)) > 0) {
		if (!keys[k].list && ntok)
			return fail(p, "'%s' takes one value (quote a value with blanks)",
				    keys[k].name);
		ntok++;
		r = keys[k].list ? set_list_value(p, k, len) : set_scalar(p, k, len);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (ntok)
		return 0;
	if (k == K_EXCLUDE || k == K_EXCLUDE_FS) {
		int l = k == K_EXCLUDE ? L_EXCLUDE : L_EXCLUDE_FS;

		sect->list[l].n = 0;
		sect->reset[l] = true;
		return 0;
	}
	return fail(p, "'%s' needs a value", keys[k].name);
}

static int parse_line(struct parser *p, const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	if (!n || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return parse_section(p, s, n);
	return parse_assignment(p, s, n);
}

/* ---- the result ---------------------------------------------------------- */

/* A NULL-terminated copy of @a then @b (@a may be NULL) in the config's memory. */
static char **join(struct parser *p, const struct vec *a, const struct vec *b, size_t *ret_n)
{
	size_t na = a ? a->n : 0, n = na + b->n;
	char **v = mem_alloc(p, (n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	if (na)
		memcpy(v, a->v, na * sizeof(*v));
	if (b->n)
		memcpy(v + na, b->v, b->n * sizeof(*v));
	v[n] = NULL;
	*ret_n = n;
	return v;
}

static int finish(struct parser *p)
{
	struct config *cfg = p->cfg;
	struct sect *g = &p->index;
	char qb[QBUF];

	cfg->xdev = g->xdev;
	cfg->hash = g->hash;
	cfg->excludes = join(p, NULL, &g->list[L_EXCLUDE], &cfg->nexcludes);
	cfg->exclude_fs = join(p, NULL, &g->list[L_EXCLUDE_FS], &cfg->nexclude_fs);
	cfg->roots = mem_alloc(p, (p->nroots + 1) * sizeof(*cfg->roots));
	if (!cfg->excludes || !cfg->exclude_fs || !cfg->roots)
		return -ENOMEM;
	for (size_t i = 0; i < p->nroots; i++) {
		struct root_ent *e = &p->roots[i];
		struct config_root *cr = &cfg->roots[i];
		struct sect *s = &e->s;

		cr->path = e->path;
		cr->line = e->line;
		cr->xdev = s->set[K_ONE_FS] ? s->xdev : g->xdev;
		cr->hash = s->set[K_HASH] ? s->hash : g->hash;
		cr->excludes = join(p, s->reset[L_EXCLUDE] ? NULL : &g->list[L_EXCLUDE],
				    &s->list[L_EXCLUDE], &cr->nexcludes);
		cr->exclude_fs = join(p, s->reset[L_EXCLUDE_FS] ? NULL : &g->list[L_EXCLUDE_FS],
				      &s->list[L_EXCLUDE_FS], &cr->nexclude_fs);
		if (!cr->excludes || !cr->exclude_fs)
			return -ENOMEM;
		if (cr->nexcludes > CONFIG_MAX_LIST || cr->nexclude_fs > CONFIG_MAX_LIST) {
			p->line = s->line;
			return fail(p, "[root %s]: more than %d patterns with those of [index]",
				    quote(qb, sizeof(qb), e->path, strlen(e->path)),
				    CONFIG_MAX_LIST);
		}
	}
	memset(&cfg->roots[p->nroots], 0, sizeof(cfg->roots[0]));
	cfg->nroots = p->nroots;
	return 0;
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	int r;

	if (len > CONFIG_MAX_SIZE)
		return fail(p, "larger than %d bytes", CONFIG_MAX_SIZE);
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		p->line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE)
			return fail(p, "line longer than %d bytes", CONFIG_MAX_LINE);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == 0)
				return fail(p, "NUL byte (no value can hold one)");
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(p,
					    "control byte \\x%02x (inside a value, write \\x%02x)",
					    c, c);
		}
		r = parse_line(p, s, n);
		if (r < 0)
			return r;
	}
	return finish(p);
}

int config_parse(const char *path, const char *text, size_t len, struct config **ret,
		 char **ret_err)
{
	struct parser *p;
	int r;

	if (ret_err)
		*ret_err = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cur = -2;
	p->qpath = log_quote(path ? path : "-", strlen(path ? path : "-"));
	p->cfg = mem_alloc(p, sizeof(*p->cfg));
	if (!p->qpath || !p->cfg) {
		r = -ENOMEM;
		goto out;
	}
	memset(p->cfg, 0, sizeof(*p->cfg));
	p->cfg->reconcile = DEFAULT_RECONCILE;
	p->cfg->nice = DEFAULT_NICE;
	p->cfg->io_class = CONFIG_IO_IDLE;
	p->cfg->io_level = -1;

	r = parse_text(p, text, len);
	if (r == 0) {
		p->cfg->mem = p->mem;
		p->mem = NULL;
		*ret = p->cfg;
	}
out:
	if (r == -EINVAL && ret_err) {
		*ret_err = p->err;
		p->err = NULL;
	}
	free(p->err);
	blocks_free(p->mem);
	sect_destroy(&p->index);
	if (p->roots)
		for (size_t i = 0; i < p->nroots; i++)
			sect_destroy(&p->roots[i].s);
	free(p->roots);
	free(p->qpath);
	free(p);
	return r;
}

/* "PATH: reason" into *ret_err; returns @r. */
static int load_fail(const char *path, int r, const char *reason, char **ret_err)
{
	char *q;

	if (!ret_err)
		return r;
	q = log_quote(path, strlen(path));
	if (!q || asprintf(ret_err, "%s: %s", q, reason) < 0)
		*ret_err = NULL;
	free(q);
	return r;
}

int config_load(const char *path, struct config **ret, char **ret_err)
{
	char *buf = NULL;
	size_t got = 0;
	struct stat st;
	int fd, r;

	if (ret_err)
		*ret_err = NULL;
	/*
	 * Symlinks are followed: /etc files are often links into a package or
	 * configuration manager's tree, and only root (or, in per-user mode, the
	 * user) can plant one there.  O_NONBLOCK so a FIFO cannot hang us before
	 * the regular-file check.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return load_fail(path, r, strerror(-r), ret_err);
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		load_fail(path, r, strerror(-r), ret_err);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = load_fail(path, -EINVAL, "not a regular file", ret_err);
		goto out;
	}
	if (st.st_size > CONFIG_MAX_SIZE) {
		r = load_fail(path, -EFBIG, "larger than 1 MiB", ret_err);
		goto out;
	}
	/* One byte more than allowed, to see a file that grew past the cap. */
	buf = malloc(CONFIG_MAX_SIZE + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, CONFIG_MAX_SIZE + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			load_fail(path, r, strerror(-r), ret_err);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > CONFIG_MAX_SIZE) {
			r = load_fail(path, -EFBIG, "larger than 1 MiB", ret_err);
			goto out;
		}
	}
	r = config_parse(path, buf, got, ret, ret_err);
out:
	free(buf);
	close(fd);
	return r;
}

void config_free(struct config *cfg)
{
	if (cfg)
		blocks_free(cfg->mem); /* cfg itself lives in the first block */
}

int config_default_path(bool user, char **ret)
{
	const char *xdg = secure_getenv("XDG_CONFIG_HOME"), *home = secure_getenv("HOME");
	char *s;

	if (!user) {
		s = strdup("/etc/fsindex.conf");
	} else if (xdg && xdg[0] == '/') {
		if (asprintf(&s, "%s/fsindex/fsindex.conf", xdg) < 0)
			s = NULL;
	} else if (home && home[0] == '/') {
		if (asprintf(&s, "%s/.config/fsindex/fsindex.conf", home) < 0)
			s = NULL;
	} else {
		return -ENOENT;
	}
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

const char *config_key_name(size_t i)
{
	return i < K_COUNT ? keys[i].name : NULL;
}

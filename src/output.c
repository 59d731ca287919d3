/* SPDX-License-Identifier: MIT */
/*
 * output.c - printing entries and duplicate groups.
 *
 * A --printf format is compiled once into a list of pieces (literal bytes or
 * one directive), so printing an entry is a loop over the pieces with no
 * parsing.  The directives mirror find(1)'s -printf, including the odd
 * "%T@" form (seconds, '.', nine digits of nanoseconds, then a '0'), so
 * output can be compared byte for byte with find's.
 *
 * JSON output is written straight to the stream, never built in memory: a
 * string is copied in runs of bytes that need no escaping, broken only by
 * '"', '\\', control bytes (escaped) and bytes outside any valid UTF-8
 * sequence (each printed as U+FFFD, "\xef\xbf\xbd").  Validation is strict
 * (RFC 3629 section 4's table: no overlongs, no surrogates, nothing past
 * U+10FFFF), so whatever reaches the stream is UTF-8 that any JSON parser
 * accepts; the exact bytes travel alongside as base64 when they differ.
 */
#include "output.h"

#include "dups.h"
#include "hash.h"
#include "node.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* stdio keeps the error flag but not the cause; errno still holds it. */
static int out_status(FILE *out)
{
	if (!ferror(out))
		return 0;
	return errno > 0 ? -errno : -EIO;
}

/* ---- --printf formats ---------------------------------------------------- */

enum piece_kind { P_LIT, P_PATH, P_NAME, P_DIR, P_SIZE, P_TYPE, P_MODE, P_UID, P_GID, P_INO,
		  P_NLINK, P_DEV, P_MTIME, P_CTIME };

struct piece {
	enum piece_kind kind;
	size_t off, len;		/* literal bytes in fmt->lit */
};

struct output_format {
	struct piece *pieces;
	size_t n, cap;
	char *lit;
	size_t lit_len;
	bool needs_node;
};

void output_format_free(struct output_format *fmt)
{
	if (!fmt)
		return;
	free(fmt->pieces);
	free(fmt->lit);
	free(fmt);
}

static int add_piece(struct output_format *fmt, enum piece_kind kind, size_t off, size_t len)
{
	if (GROW(fmt->pieces, fmt->cap, fmt->n + 1) < 0)
		return -ENOMEM;
	fmt->pieces[fmt->n++] = (struct piece){ kind, off, len };
	if (kind != P_LIT && kind != P_PATH && kind != P_NAME && kind != P_DIR)
		fmt->needs_node = true;
	return 0;
}

/* Append literal byte @c, merging with a preceding literal piece. */
static int add_lit(struct output_format *fmt, char c)
{
	size_t off = fmt->lit_len;

	fmt->lit[fmt->lit_len++] = c;
	if (fmt->n && fmt->pieces[fmt->n - 1].kind == P_LIT) {
		fmt->pieces[fmt->n - 1].len++;
		return 0;
	}
	return add_piece(fmt, P_LIT, off, 1);
}

/* Report the @n bytes at @at (a directive or escape) as @what. */
static int bad(char **ret_error, const char *what, const char *at, int n)
{
	if (ret_error && asprintf(ret_error, "invalid --printf format: %s '%.*s'", what, n, at) < 0)
		*ret_error = NULL;
	return -EINVAL;
}

int output_format_new(const char *format, struct output_format **ret, char **ret_error)
{
	static const struct {
		char c;
		enum piece_kind kind;
	} simple[] = {
		{ 'p', P_PATH }, { 'f', P_NAME }, { 'h', P_DIR }, { 's', P_SIZE }, { 'y', P_TYPE },
		{ 'm', P_MODE }, { 'U', P_UID }, { 'G', P_GID }, { 'i', P_INO }, { 'n', P_NLINK },
		{ 'D', P_DEV },
	};
	struct output_format *fmt;
	int r = 0;

	fmt = calloc(1, sizeof(*fmt));
	if (!fmt)
		return -ENOMEM;
	fmt->lit = malloc(strlen(format) + 1);
	if (!fmt->lit) {
		free(fmt);
		return -ENOMEM;
	}
	for (const char *p = format; *p && r == 0; p++) {
		if (*p == '\\') {
			static const char from[] = "nt0\\", to[] = { '\n', '\t', '\0', '\\' };
			const char *e = p[1] ? strchr(from, p[1]) : NULL;

			if (!e) {
				r = bad(ret_error, "unknown escape", p, p[1] ? 2 : 1);
				break;
			}
			r = add_lit(fmt, to[e - from]);
			p++;
		} else if (*p == '%') {
			size_t i;

			if (p[1] == '%') {
				r = add_lit(fmt, '%');
				p++;
				continue;
			}
			if (p[1] == 'T' || p[1] == 'C') {
				if (p[2] != '@') {
					r = bad(ret_error, "unknown directive", p, p[2] ? 3 : 2);
					break;
				}
				r = add_piece(fmt, p[1] == 'T' ? P_MTIME : P_CTIME, 0, 0);
				p += 2;
				continue;
			}
			for (i = 0; i < ARRAY_SIZE(simple); i++)
				if (p[1] == simple[i].c)
					break;
			if (!p[1] || i == ARRAY_SIZE(simple)) {
				r = bad(ret_error, "unknown directive", p, p[1] ? 2 : 1);
				break;
			}
			r = add_piece(fmt, simple[i].kind, 0, 0);
			p++;
		} else {
			r = add_lit(fmt, *p);
		}
	}
	if (r < 0) {
		output_format_free(fmt);
		return r;
	}
	*ret = fmt;
	return 0;
}

bool output_format_needs_node(const struct output_format *fmt)
{
	return fmt->needs_node;
}

/*
 * find's %T@: it prints the stored fields as they are, so times before the
 * epoch come out as floor seconds plus a positive fraction ("-2.5000000000"
 * for -1.5 s).  Mirrored on purpose: output must match find's.
 */
static void print_find_time(FILE *out, int64_t sec, uint32_t nsec)
{
	fprintf(out, "%" PRId64 ".%09" PRIu32 "0", sec, nsec);
}

int output_format_print(const struct output_format *fmt, FILE *out, const char *path, size_t len,
			size_t name_off, const struct node *n)
{
	for (size_t i = 0; i < fmt->n; i++) {
		const struct piece *pc = &fmt->pieces[i];

		switch (pc->kind) {
		case P_LIT:
			fwrite(fmt->lit + pc->off, 1, pc->len, out);
			break;
		case P_PATH:
			fwrite(path, 1, len, out);
			break;
		case P_NAME:
			/* find prints "/" for the root's %f. */
			if (name_off >= len)
				fputc('/', out);
			else
				fwrite(path + name_off, 1, len - name_off, out);
			break;
		case P_DIR:
			/*
			 * find's %h: everything before the last '/', so ""
			 * for "/" and "/tmp"; "." for a name without one.
			 */
			if (name_off == 0)
				fputc('.', out);
			else
				fwrite(path, 1, name_off - 1, out);
			break;
		case P_TYPE:
			fputc(n ? node_type_char(n->mode) : '?', out);
			break;
		case P_SIZE:
			fprintf(out, "%" PRIu64, n->size);
			break;
		case P_MODE:
			fprintf(out, "%o", n->mode & 07777);
			break;
		case P_UID:
			fprintf(out, "%" PRIu32, n->uid);
			break;
		case P_GID:
			fprintf(out, "%" PRIu32, n->gid);
			break;
		case P_INO:
			fprintf(out, "%" PRIu64, n->ino);
			break;
		case P_NLINK:
			fprintf(out, "%" PRIu32, n->nlink);
			break;
		case P_DEV:
			fprintf(out, "%" PRIu64, n->dev);
			break;
		case P_MTIME:
			print_find_time(out, n->mtime_sec, n->mtime_nsec);
			break;
		case P_CTIME:
			print_find_time(out, n->ctime_sec, n->ctime_nsec);
			break;
		}
	}
	return out_status(out);
}

int output_path(FILE *out, const char *path, size_t len, char terminator)
{
	fwrite(path, 1, len, out);
	putc(terminator, out);
	return out_status(out);
}

/* ---- UTF-8, base64, JSON strings ----------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at @s (@len > 0 bytes left), or 0 if
 * none starts there.  RFC 3629 section 4: the second byte's range depends on
 * the first, which is what rules out overlongs (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points past U+10FFFF (F4 90..BF, F5..FF).
 */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)			/* a continuation byte, or C0/C1: overlong */
		return 0;
	if (c < 0xe0) {
		n = 2;
	} else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

bool output_is_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static const char b64_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t output_base64_encode(char *dst, const void *src, size_t len)
{
	const unsigned char *s = src;
	char *d = dst;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		*d++ = b64_digits[v >> 18];
		*d++ = b64_digits[(v >> 12) & 63];
		*d++ = b64_digits[(v >> 6) & 63];
		*d++ = b64_digits[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		*d++ = b64_digits[v >> 18];
		*d++ = b64_digits[(v >> 12) & 63];
		*d++ = i + 1 < len ? b64_digits[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	*d = '\0';
	return (size_t)(d - dst);
}

int output_json_base64(FILE *out, const void *s, size_t len)
{
	/* 48 input bytes make 64 characters: whole groups, so no padding inside. */
	const unsigned char *p = s;
	char buf[65];

	putc('"', out);
	for (size_t off = 0; off < len; off += 48) {
		size_t n = len - off < 48 ? len - off : 48;

		fwrite(buf, 1, output_base64_encode(buf, p + off, n), out);
	}
	putc('"', out);
	return out_status(out);
}

int output_json_string(FILE *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0;

	putc('"', out);
	while (i < len) {
		unsigned char c = p[i];
		size_t n;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq(p + i, len - i);
			if (n) {
				i += n;
				continue;
			}
		}
		fwrite(p + run, 1, i - run, out);
		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		default:
			if (c < 0x20) {
				char u[] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

				fwrite(u, 1, sizeof(u), out);
			} else {
				fputs("\xef\xbf\xbd", out);	/* U+FFFD */
			}
			break;
		}
		run = ++i;
	}
	fwrite(p + run, 1, len - run, out);
	putc('"', out);
	return out_status(out);
}

/* ---- find --json ---------------------------------------------------------- */

/*
 * The exact time as a JSON number: seconds with nine decimals.  Stored
 * times are floor seconds plus nanoseconds, so before the epoch the
 * fraction is counted down from the next second: (-2, 500000000) is -1.5 s.
 */
static void print_json_time(FILE *out, int64_t sec, uint32_t nsec)
{
	if (sec < 0 && nsec > 0)
		fprintf(out, "-%" PRIu64 ".%09" PRIu32, (uint64_t)-(sec + 1), 1000000000 - nsec);
	else
		fprintf(out, "%" PRId64 ".%09" PRIu32, sec, nsec);
}

static void print_json_hash(FILE *out, const struct hash128 *h)
{
	char hex[33];

	hash_hex(h, hex);
	fputs("\"", out);
	fwrite(hex, 1, 32, out);
	fputs("\"", out);
}

int output_json_entry(FILE *out, const char *path, size_t len, const struct node *n)
{
	fputs("{\"path\":", out);
	output_json_string(out, path, len);
	if (!output_is_utf8(path, len)) {
		fputs(",\"path_b64\":", out);
		output_json_base64(out, path, len);
	}
	fprintf(out, ",\"type\":\"%c\",\"size\":%" PRIu64 ",\"mtime\":", node_type_char(n->mode),
		n->size);
	print_json_time(out, n->mtime_sec, n->mtime_nsec);
	if (n->hash_state == NODE_HASH_FULL) {
		struct hash128 h;

		memcpy(h.b, n->full, sizeof(h.b));
		fputs(",\"hash\":", out);
		print_json_hash(out, &h);
	}
	fputs("}\n", out);
	return out_status(out);
}

/* ---- dups ------------------------------------------------------------------ */

/* Loop over the names of @g that are printed: each file's first, or all of them. */
#define for_each_printed_name(g, all_names, f, nm)                                          \
	for (const struct dups_file *f = (g)->files; f < (g)->files + (g)->nfiles; f++)     \
		for (const struct dups_name *nm = f->names;                                 \
		     nm < f->names + ((all_names) ? f->nnames : (f->nnames ? 1 : 0)); nm++)

static void print_dups_json(FILE *out, const struct dups_group *g, bool all_names)
{
	bool first = true, all_utf8 = true;

	fprintf(out, "{\"size\":%" PRIu64 ",\"hash\":", g->size);
	print_json_hash(out, &g->hash);
	fputs(",\"paths\":[", out);
	for_each_printed_name(g, all_names, f, nm) {
		if (!first)
			putc(',', out);
		first = false;
		output_json_string(out, nm->path, nm->len);
		if (all_utf8 && !output_is_utf8(nm->path, nm->len))
			all_utf8 = false;
	}
	putc(']', out);
	if (!all_utf8) {
		first = true;
		fputs(",\"paths_b64\":[", out);
		for_each_printed_name(g, all_names, f, nm) {
			if (!first)
				putc(',', out);
			first = false;
			if (output_is_utf8(nm->path, nm->len))
				fputs("null", out);
			else
				output_json_base64(out, nm->path, nm->len);
		}
		putc(']', out);
	}
	fputs("}\n", out);
}

int output_dups_group(FILE *out, enum output_mode mode, const struct dups_group *g, bool all_names,
		      bool first_group)
{
	switch (mode) {
	case OUTPUT_PLAIN:
		if (!first_group)
			putc('\n', out);
		for_each_printed_name(g, all_names, f, nm)
			output_path(out, nm->path, nm->len, '\n');
		break;
	case OUTPUT_NUL:
		for_each_printed_name(g, all_names, f, nm)
			output_path(out, nm->path, nm->len, '\0');
		putc('\0', out);
		break;
	case OUTPUT_JSON:
		print_dups_json(out, g, all_names);
		break;
	}
	return out_status(out);
}

int output_dups_summary(FILE *out, enum output_mode mode, uint64_t groups, uint64_t files,
			uint64_t reclaimable)
{
	if (mode == OUTPUT_JSON)
		fprintf(out,
			"{\"summary\":{\"groups\":%" PRIu64 ",\"files\":%" PRIu64
			",\"reclaimable\":%" PRIu64 "}}\n",
			groups, files, reclaimable);
	else
		fprintf(out, "%" PRIu64 " groups, %" PRIu64 " duplicate files, %" PRIu64
			" bytes reclaimable\n",
			groups, files, reclaimable);
	return out_status(out);
}

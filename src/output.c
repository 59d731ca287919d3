/* SPDX-License-Identifier: MIT */
/*
 * output.c - printing entries.
 *
 * A --printf format is compiled once into a list of pieces (literal bytes or
 * one directive), so printing an entry is a loop over the pieces with no
 * parsing.  The directives mirror find(1)'s -printf, including the odd
 * "%T@" form (seconds, '.', nine digits of nanoseconds, then a '0'), so
 * output can be compared byte for byte with find's.
 */
#include "output.h"

#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

enum piece_kind { P_LIT, P_PATH, P_NAME, P_DIR, P_SIZE, P_TYPE, P_MODE, P_UID, P_GID, P_INO,
		  P_NLINK, P_DEV, P_MTIME, P_CTIME };

struct piece {
	enum piece_kind kind;
	size_t off, len;		/* literal bytes in fmt->lit */
};

struct output_format {
	struct piece *pieces;
	size_t n;
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
	struct piece *np = realloc(fmt->pieces, (fmt->n + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	fmt->pieces = np;
	np[fmt->n++] = (struct piece){ kind, off, len };
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

static int bad(char **ret_error, const char *what, const char *at)
{
	if (ret_error && asprintf(ret_error, "invalid --printf format: %s '%.3s'", what, at) < 0)
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
				r = bad(ret_error, "unknown escape", p);
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
			if ((p[1] == 'T' || p[1] == 'C') && p[2] == '@') {
				r = add_piece(fmt, p[1] == 'T' ? P_MTIME : P_CTIME, 0, 0);
				p += 2;
				continue;
			}
			for (i = 0; i < ARRAY_SIZE(simple); i++)
				if (p[1] == simple[i].c)
					break;
			if (i == ARRAY_SIZE(simple)) {
				r = bad(ret_error, "unknown directive", p);
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

static void print_time(FILE *out, int64_t sec, uint32_t nsec)
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
			/* find's %h: "." without a slash, "" for entries of "/". */
			if (len <= 1)
				fputc('.', out);
			else
				fwrite(path, 1, name_off > 1 ? name_off - 1 : 0, out);
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
			print_time(out, n->mtime_sec, n->mtime_nsec);
			break;
		case P_CTIME:
			print_time(out, n->ctime_sec, n->ctime_nsec);
			break;
		}
	}
	return ferror(out) ? -errno : 0;
}

int output_path(FILE *out, const char *path, size_t len, char terminator)
{
	fwrite(path, 1, len, out);
	putc(terminator, out);
	return ferror(out) ? -errno : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * du.c - disk usage per directory from the index: what du(1) would count,
 * without walking the tree.
 *
 * A depth-first pass over `child` from the given path, with an explicit
 * stack of frames (a 10,000-deep chain must not recurse on the C stack).
 * Entering a directory lists its children (store_foreach_child()) and reads
 * their records in one store_get_nodes() call, which sorts the ids and so
 * reads the node pages in order; the files' sizes go straight into the
 * frame's total, the subdirectories wait in the frame to be entered one by
 * one.  Leaving a directory reports it and adds its total to its parent's,
 * so directories come out children first, as du prints them.
 *
 *   stack: [ path arg | total | subdirs a b c, next = 1 ] -> [ a | total | ... ]
 *   path:  "arg/a/x" with each frame's length, cut back when it is left
 *
 * What counts is du's: a directory's own blocks too, st_blocks * 512 (or
 * st_size with --apparent-size), and a file with more than one link once,
 * where it is met first (a table of device and inode numbers over the whole
 * du, as du keeps).  An entry from an index that did not keep block counts
 * (upgraded, not rescanned since) counts its size rounded up to 512 bytes.
 */
#include "du.h"

#include "node.h"
#include "store.h"
#include "util.h"
#include "visible.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A subdirectory waiting to be entered: its id, own size and name (in the frame's names). */
struct du_sub {
	uint64_t id, bytes;
	size_t name_off;
	uint16_t name_len;
};

struct du_frame {
	uint64_t total;
	size_t path_len;
	struct du_sub *subs;
	size_t nsubs, next;
	char *names;
};

/* (dev, ino) of the files with several links met so far: open addressing. */
struct du_link {
	uint64_t dev, ino;
	bool used;
};

struct du {
	struct store *store;
	struct store_reader *reader;
	struct du_opts opts;
	struct du_link *links;
	size_t nlinks, cap_links; /* cap: a power of two, 0 before the first */
	struct du_frame *stack;
	size_t depth, cap_stack;
	char *path;
	size_t cap_path;
	/* One directory's children while it is entered. */
	struct store_child *kids;
	size_t nkids, cap_kids;
	char *kid_names;
	size_t names_len, cap_names;
	struct node *nodes;
	struct store_node_req *reqs;
	size_t cap_nodes;
};

int du_new(struct store *store, const struct du_opts *opts, struct du **ret)
{
	struct du *du;
	int r;

	du = calloc(1, sizeof(*du));
	if (!du)
		return -ENOMEM;
	du->store = store;
	du->opts = *opts;
	r = store_reader_new(store, &du->reader);
	if (r < 0) {
		free(du);
		return r;
	}
	*ret = du;
	return 0;
}

void du_free(struct du *du)
{
	if (!du)
		return;
	store_reader_free(du->reader);
	free(du->links);
	free(du->stack);
	free(du->path);
	free(du->kids);
	free(du->kid_names);
	free(du->nodes);
	free(du->reqs);
	free(du);
}

static size_t link_slot(const struct du_link *t, size_t cap, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ dev * 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL;
	size_t i;

	for (i = (size_t)(h >> 32) & (cap - 1); t[i].used; i = (i + 1) & (cap - 1))
		if (t[i].dev == dev && t[i].ino == ino)
			break;
	return i;
}

/* Has the file (@dev, @ino) been counted?  Remembers it if not.  1, 0 or -ENOMEM. */
static int link_seen(struct du *du, uint64_t dev, uint64_t ino)
{
	size_t i;

	if (2 * (du->nlinks + 1) > du->cap_links) {
		size_t cap = du->cap_links ? 2 * du->cap_links : 256;
		struct du_link *t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t j = 0; j < du->cap_links; j++)
			if (du->links[j].used)
				t[link_slot(t, cap, du->links[j].dev, du->links[j].ino)] = du->links[j];
		free(du->links);
		du->links = t;
		du->cap_links = cap;
	}
	i = link_slot(du->links, du->cap_links, dev, ino);
	if (du->links[i].used)
		return 1;
	du->links[i] = (struct du_link){.dev = dev, .ino = ino, .used = true};
	du->nlinks++;
	return 0;
}

/*
 * What @n adds into *ret.  Returns 0, or 1 (and 0 bytes) for a directory or
 * a link to a file already counted, or -ENOMEM.
 */
static int entry_bytes(struct du *du, const struct node *n, uint64_t *ret)
{
	int r;

	/* Directories too: a PATH inside another one given before counts nothing again. */
	if (S_ISDIR(n->mode) || (n->nlink > 1 && !du->opts.count_links)) {
		r = link_seen(du, n->dev, n->ino);
		if (r != 0) {
			*ret = 0;
			return r < 0 ? r : 1;
		}
	}
	if (du->opts.apparent)
		*ret = n->size;
	else if (n->blocks == NODE_BLOCKS_UNKNOWN)
		*ret = (n->size + 511) / 512 * 512;
	else
		*ret = n->blocks * 512;
	return 0;
}

static int collect_kid(void *ctx, const struct store_child *c)
{
	struct du *du = ctx;

	if (GROW(du->kids, du->cap_kids, du->nkids + 1) < 0 ||
	    GROW(du->kid_names, du->cap_names, du->names_len + c->name_len) < 0)
		return -ENOMEM;
	du->kids[du->nkids] = *c;
	du->kids[du->nkids].name = NULL; /* borrowed: the copy is at names_len in kid_names */
	memcpy(du->kid_names + du->names_len, c->name, c->name_len);
	du->names_len += c->name_len;
	du->nkids++;
	return 0;
}

/* Free what frame @f holds. */
static void frame_clear(struct du_frame *f)
{
	free(f->subs);
	free(f->names);
	*f = (struct du_frame){0};
}

/* Read @id's children and their records into du->kids and du->nodes (nodes[i] is kids[i]'s). */
static int read_children(struct du *du, uint64_t id)
{
	int r;

	du->nkids = du->names_len = 0;
	r = store_foreach_child(du->reader, id, collect_kid, du);
	if (r < 0)
		return r;
	if (du->nkids > du->cap_nodes) {
		free(du->nodes);
		free(du->reqs);
		du->nodes = calloc(du->nkids, sizeof(*du->nodes));
		du->reqs = calloc(du->nkids, sizeof(*du->reqs));
		du->cap_nodes = du->nodes && du->reqs ? du->nkids : 0;
		if (!du->cap_nodes)
			return -ENOMEM;
	}
	for (size_t i = 0; i < du->nkids; i++)
		du->reqs[i] = (struct store_node_req){.id = du->kids[i].id, .node = &du->nodes[i]};
	r = store_get_nodes(du->reader, du->reqs, du->nkids);
	/* A child entry without its node: the index contradicts itself. */
	return r == -ENOENT ? STORE_E_CORRUPT : r;
}

/* Fill frame @f for directory @id: its files counted, its subdirectories kept. */
static int enter(struct du *du, struct du_frame *f, uint64_t id)
{
	size_t off = 0;
	int r;

	r = read_children(du, id);
	if (r < 0)
		return r;
	if (du->nkids) {
		f->subs = malloc(du->nkids * sizeof(*f->subs));
		f->names = malloc(du->names_len ? du->names_len : 1);
		if (!f->subs || !f->names)
			return -ENOMEM;
		memcpy(f->names, du->kid_names, du->names_len);
	}
	for (size_t i = 0; i < du->nkids; i++) {
		const struct node *n = &du->nodes[i];
		uint16_t len = du->kids[i].name_len;
		uint64_t bytes;

		r = entry_bytes(du, n, &bytes);
		if (r < 0)
			return r;
		if (S_ISDIR(n->mode) && r == 0)
			f->subs[f->nsubs++] = (struct du_sub){.id = n->id, .bytes = bytes,
							      .name_off = off, .name_len = len};
		else
			f->total += bytes;
		off += len;
	}
	return 0;
}

/* With opts.visible: may the user learn the names in directory @id? */
static int listable(struct du *du, uint64_t id)
{
	char *path;
	int r;

	if (!du->opts.visible)
		return 1;
	r = store_node_path_alloc(du->reader, id, &path);
	if (r < 0)
		return r;
	r = visible_dir(du->opts.visible, path, (size_t)r);
	free(path);
	return r;
}

/* Push a frame for directory @id of own size @bytes, the path already extended. */
static int push(struct du *du, uint64_t id, uint64_t bytes, size_t path_len)
{
	struct du_frame *f;
	int r;

	if (GROW(du->stack, du->cap_stack, du->depth + 1) < 0)
		return -ENOMEM;
	f = &du->stack[du->depth++];
	*f = (struct du_frame){.total = bytes, .path_len = path_len};
	r = listable(du, id);
	return r <= 0 ? r : enter(du, f, id);
}

/* Append "/" and @name to the path after @len bytes; the new length. */
static int path_append(struct du *du, size_t len, const char *name, size_t name_len,
		       size_t *ret_len)
{
	bool slash = len && du->path[len - 1] != '/';

	if (GROW(du->path, du->cap_path, len + slash + name_len + 1) < 0)
		return -ENOMEM;
	if (slash)
		du->path[len++] = '/';
	memcpy(du->path + len, name, name_len);
	len += name_len;
	du->path[len] = '\0';
	*ret_len = len;
	return 0;
}

/* Step the walk once: enter the next subdirectory of the top frame, or leave it. */
static int step(struct du *du, du_fn *fn, void *ctx, uint64_t *ret_total)
{
	struct du_frame *f = &du->stack[du->depth - 1];
	unsigned depth = (unsigned)(du->depth - 1);
	uint64_t total;
	size_t len;
	int r;

	if (f->next < f->nsubs) {
		const struct du_sub *sub = &f->subs[f->next++];

		r = path_append(du, f->path_len, f->names + sub->name_off, sub->name_len, &len);
		return r < 0 ? r : push(du, sub->id, sub->bytes, len);
	}
	du->path[f->path_len] = '\0';
	r = depth <= du->opts.max_depth ? fn(ctx, du->path, f->path_len, f->total, depth) : 0;
	total = f->total;
	frame_clear(f);
	du->depth--;
	if (du->depth)
		du->stack[du->depth - 1].total += total;
	else
		*ret_total = total;
	return r;
}

int du_path(struct du *du, const char *abs_path, const char *shown, du_fn *fn, void *ctx,
	    uint64_t *ret_total)
{
	uint64_t id, bytes, total = 0;
	struct node top;
	size_t len;
	int r;

	r = store_resolve_path(du->reader, abs_path, &id);
	if (r == 0)
		r = store_get_node(du->reader, id, &top);
	if (r == 0 && du->opts.visible &&
	    !visible_entry(du->opts.visible, abs_path, strlen(abs_path),
			   (size_t)(strrchr(abs_path, '/') - abs_path) + 1))
		r = -ENOENT;
	if (r == 0)
		r = entry_bytes(du, &top, &bytes);
	if (r == 1) {
		*ret_total = 0; /* counted before (inside an earlier PATH, or a link): du skips it */
		return 0;
	}
	if (r >= 0)
		r = path_append(du, 0, shown, strlen(shown), &len);
	if (r < 0)
		return r;
	if (!S_ISDIR(top.mode)) {
		*ret_total = bytes;
		return fn(ctx, du->path, len, bytes, 0);
	}
	r = push(du, id, bytes, len);
	while (r == 0 && du->depth)
		r = step(du, fn, ctx, &total);
	while (du->depth)
		frame_clear(&du->stack[--du->depth]);
	if (r == 0)
		*ret_total = total;
	return r;
}

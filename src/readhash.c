/* SPDX-License-Identifier: MIT */
/*
 * readhash.c - read and hash through the caller's ring, with the retries.
 *
 *   readhash_start() ─► submit ─► ring_submit() ─► chunks ─► hash_file_update()
 *                         ▲               └─► done: 0, an error ─────────► on_done
 *                         │                         RING_E_TICK ─► ring_wait_tick() ─┐
 *                         │                         EMFILE ─► on_emfile(): now ──────┤
 *                         │                               later: readhash_retry() ───┤
 *                         └──────────────────────────────────────────────────────────┘
 *
 * RING_E_TICK is retried RING_TICK_RETRIES times, then it is -ESTALE;
 * EMFILE READHASH_EMFILE_RETRIES times, or until on_emfile() says fail.
 * Every submission starts the digests afresh, so a read that is retried is
 * hashed from its first byte.  A whole-file read keeps head and tail copies
 * (hash_file_begin() with the size); a range keeps only the running digest
 * (hash_file_begin() with 0: no head or tail to cut).  Nothing is copied or
 * read on top of what the ring does.
 */
#include "readhash.h"

#include "ring.h"

#include <errno.h>

int readhash_init(struct readhash *rh)
{
	rh->ring = NULL;
	return hash_state_new(&rh->hf.full);
}

void readhash_destroy(struct readhash *rh)
{
	hash_state_free(rh->hf.full);
	rh->hf.full = NULL;
}

bool readhash_whole(const struct readhash *rh)
{
	return rh->offset == 0 && rh->length >= rh->id.size;
}

static void on_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct readhash *rh = ctx;

	hash_file_update(&rh->hf, buf, len, off);
}

static void on_read(void *ctx, int result);

/* Queue the read of @rh from its first byte.  Returns 0 or -errno (on_read not called). */
static int submit(struct readhash *rh)
{
	struct ring_read rd = {
		.dirfd = rh->dirfd,
		.name = rh->name,
		.id = rh->id,
		.uid = rh->uid,
		.offset = rh->offset,
		.length = rh->length,
		.on_data = on_data,
		.on_done = on_read,
		.ctx = rh,
	};

	hash_file_begin(&rh->hf, readhash_whole(rh) ? rh->id.size : 0);
	return ring_submit(rh->ring, &rd);
}

static void on_read(void *ctx, int result)
{
	struct readhash *rh = ctx;

	if ((result == -EMFILE || result == -ENFILE) && rh->on_emfile &&
	    rh->emfile_tries < READHASH_EMFILE_RETRIES) {
		switch (rh->on_emfile(rh, rh->emfile_tries++)) {
		case READHASH_LATER:
			return;
		case READHASH_NOW:
			result = submit(rh);
			if (result == 0)
				return;
			break;
		case READHASH_FAIL:
			break;
		}
	}
	/* Modified in the clock tick its read began in (ring.h): once more when it is over. */
	if (result == RING_E_TICK && rh->tick_tries < RING_TICK_RETRIES) {
		rh->tick_tries++;
		ring_wait_tick();
		result = submit(rh);
		if (result == 0)
			return;
	}
	if (result == RING_E_TICK)
		result = -ESTALE;	/* still being written: as if it changed while read */
	rh->on_done(rh, result);
}

void readhash_start(struct ring *ring, struct readhash *rh)
{
	int r;

	rh->ring = ring;
	rh->emfile_tries = rh->tick_tries = 0;
	r = submit(rh);
	if (r < 0)
		on_read(rh, r);
}

void readhash_retry(struct readhash *rh)
{
	int r = submit(rh);

	if (r < 0)
		on_read(rh, r);
}

void readhash_digests(struct readhash *rh, struct hash128 *ret_head, struct hash128 *ret_tail,
		      struct hash128 *ret_full)
{
	hash_file_end(&rh->hf, ret_head, ret_tail, ret_full);
}

void readhash_digest(const struct readhash *rh, struct hash128 *ret)
{
	hash_digest(rh->hf.full, ret);
}

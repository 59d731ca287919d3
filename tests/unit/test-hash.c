/* SPDX-License-Identifier: MIT */
/*
 * test-hash.c - digests equal, as strings, what xxh128sum prints; streaming
 * in any chunking gives the one-shot digest; hex round-trips.
 */
#include "hash.h"

#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint8_t rand8(void)
{
	/* xorshift64: deterministic content, different on every byte. */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

/* Run xxh128sum on @path; on success its 32-digit field is in @out. */
static bool xxh128sum(const char *path, char out[33])
{
	char cmd[512], line[256];
	FILE *p;
	bool good;

	snprintf(cmd, sizeof(cmd), "xxh128sum < '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return false;
	good = fgets(line, sizeof(line), p) && strlen(line) > 32 && line[32] == ' ';
	if (pclose(p) != 0)
		good = false;
	if (good) {
		memcpy(out, line, 32);
		out[32] = '\0';
	}
	return good;
}

static bool have_xxh128sum(void)
{
	return system("xxh128sum < /dev/null > /dev/null 2>&1") == 0;
}

/* Feed @buf in chunks whose sizes cycle through @steps. */
static void hash_chunked(struct hash_state *st, const uint8_t *buf, size_t len, const size_t *steps,
			 size_t nsteps, struct hash128 *ret)
{
	size_t off = 0, i = 0;

	hash_reset(st);
	while (off < len) {
		size_t n = steps[i++ % nsteps];

		if (n > len - off)
			n = len - off;
		hash_update(st, buf + off, n);
		off += n;
	}
	hash_digest(st, ret);
}

static void test_against_xxh128sum(const char *dir, struct hash_state *st, bool oracle)
{
	static const size_t sizes[] = {0, 1, 240, 241, 4096, 4097, (1 << 20) + 3};
	static const size_t odd[] = {1, 7, 63, 64, 65, 4095, 131072};
	static const size_t page[] = {4096};
	static const size_t chunk[] = {131072};

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		size_t len = sizes[s];
		uint8_t *buf = malloc(len + 1);
		char path[256], want[33], got[33], got2[33];
		struct hash128 h, h2;
		int fd;

		for (size_t i = 0; i < len; i++)
			buf[i] = rand8();
		snprintf(path, sizeof(path), "%s/f%zu", dir, len);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ok(fd >= 0 && write(fd, buf, len) == (ssize_t)len && close(fd) == 0,
		   "wrote %zu bytes", len);

		hash_buffer(buf, len, &h);
		hash_hex(&h, got);
		if (oracle && xxh128sum(path, want))
			ok(strcmp(got, want) == 0, "%zu bytes: hash_buffer %s = xxh128sum %s", len,
			   got, want);
		else
			skip("no xxh128sum to compare %zu bytes with", len);

		hash_chunked(st, buf, len, odd, ARRAY_SIZE(odd), &h2);
		hash_hex(&h2, got2);
		ok(memcmp(&h, &h2, sizeof(h)) == 0, "%zu bytes: odd chunks %s", len, got2);
		hash_chunked(st, buf, len, page, 1, &h2);
		ok(memcmp(&h, &h2, sizeof(h)) == 0, "%zu bytes: 4 KiB chunks", len);
		hash_chunked(st, buf, len, chunk, 1, &h2);
		ok(memcmp(&h, &h2, sizeof(h)) == 0, "%zu bytes: 128 KiB chunks", len);

		unlink(path);
		free(buf);
	}
}

static void test_known_values(void)
{
	struct hash128 h;
	char hex[33];

	/* Printed by `printf '' | xxh128sum` and `printf a | xxh128sum`. */
	hash_buffer(NULL, 0, &h);
	hash_hex(&h, hex);
	ok(strcmp(hex, "99aa06d3014798d86001c324468d497f") == 0, "empty input: %s", hex);
	hash_buffer("a", 1, &h);
	hash_hex(&h, hex);
	ok(strcmp(hex, "a96faf705af16834e6c632b61e964e1f") == 0, "\"a\": %s", hex);
	ok(h.b[0] == 0xa9 && h.b[15] == 0x1f, "bytes are stored big-endian, high half first");
}

static void test_reset(struct hash_state *st)
{
	struct hash128 a, b;

	hash_update(st, "garbage", 7);
	hash_reset(st);
	hash_update(st, "a", 1);
	hash_digest(st, &a);
	hash_buffer("a", 1, &b);
	ok(memcmp(&a, &b, sizeof(a)) == 0, "reset forgets earlier input");
	hash_digest(st, &b);
	ok(memcmp(&a, &b, sizeof(a)) == 0, "digest does not disturb the state");
	hash_update(st, "b", 1);
	hash_digest(st, &a);
	hash_buffer("ab", 2, &b);
	ok(memcmp(&a, &b, sizeof(a)) == 0, "updates continue after a digest");
}

static void test_parse(void)
{
	struct hash128 h, orig;
	char hex[33];

	for (int i = 0; i < 16; i++)
		orig.b[i] = (uint8_t)(i * 17 + 3);
	hash_hex(&orig, hex);
	ok(strlen(hex) == 32, "hex is 32 digits");
	ok(hash_parse_hex(hex, &h) == 0 && memcmp(&h, &orig, sizeof(h)) == 0, "hex round-trips");
	ok(hash_parse_hex("99AA06D3014798D86001C324468D497F", &h) == 0 && h.b[0] == 0x99 &&
		   h.b[15] == 0x7f,
	   "upper case is accepted");

	memset(&h, 0x5a, sizeof(h));
	ok(hash_parse_hex("99aa06d3014798d86001c324468d497", &h) == -EINVAL, "31 digits refused");
	ok(hash_parse_hex("99aa06d3014798d86001c324468d497f0", &h) == -EINVAL, "33 digits refused");
	ok(hash_parse_hex("99aa06d3014798d86001c324468d497g", &h) == -EINVAL, "non-hex refused");
	ok(hash_parse_hex("", &h) == -EINVAL, "empty string refused");
	ok(hash_parse_hex("99aa06d3014798d8 6001c324468d497f", &h) == -EINVAL, "space refused");
	ok(h.b[0] == 0x5a && h.b[15] == 0x5a, "*ret untouched on failure");
}

int main(void)
{
	char dir[] = "/tmp/test-hash.XXXXXX";
	struct hash_state *st;

	plan_lazy();
	if (!mkdtemp(dir))
		skip_all("mkdtemp: %s", strerror(errno));
	ok(hash_state_new(&st) == 0, "state allocated");
	hash_state_free(NULL);

	test_known_values();
	test_reset(st);
	test_parse();
	test_against_xxh128sum(dir, st, have_xxh128sum());

	hash_state_free(st);
	rmdir(dir);
	return done_testing();
}

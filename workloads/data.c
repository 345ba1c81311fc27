/*
 * data.c - the live workload's corpus (include/loom/data.h): SHA-256
 * (FIPS 180-4), loading and checking the file, the train/validation split,
 * and batches of byte tokens.
 *
 * Batches are a pure function of (data, seed, step, sequence index): the
 * offset of sequence b of step `step` comes from a loom_rng seeded with a
 * hash of the three, so any rank can draw any slice of a batch without
 * drawing the rest, and a resumed run draws the same batches.
 *
 * Not here: tokenizers beyond bytes, streaming, shuffling without
 * replacement (offsets are drawn independently, uniformly over every valid
 * start of the train split).  Thread-safety: a loaded data_set is read-only
 * and may be shared; data_default_path returns a static buffer.
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loom/data.h"
#include "loom/err.h"
#include "loom/rng.h"

/* ---- SHA-256 (FIPS 180-4 §6.2) ------------------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;	/* bytes in block */
	uint64_t total; /* message bytes so far */
};

/* §4.2.2: the first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes. */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static uint32_t be32_load(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* §6.2.2: one 512-bit block into the hash state. */
static void sha256_block(uint32_t h[8], const uint8_t *blk)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = be32_load(blk + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + sha256_k[i] + w[i];
		uint32_t s0 = ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + s0 + maj;
	}
	for (int i = 0; i < 8; i++)
		h[i] += v[i];
}

static void sha256_init(struct sha256 *s)
{
	/* §5.3.3: fractional parts of the square roots of the first 8 primes. */
	static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(s->h, h0, sizeof(h0));
	s->fill = 0;
	s->total = 0;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t n)
{
	s->total += n;
	if (s->fill) {
		size_t take = n < 64 - s->fill ? n : 64 - s->fill;

		memcpy(s->block + s->fill, p, take);
		s->fill += take, p += take, n -= take;
		if (s->fill < 64)
			return;
		sha256_block(s->h, s->block);
		s->fill = 0;
	}
	for (; n >= 64; p += 64, n -= 64)
		sha256_block(s->h, p);
	memcpy(s->block, p, n);
	s->fill = n;
}

/* §5.1.1 padding: 0x80, zeros, the message length in bits (64-bit BE). */
static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->total * 8;
	uint8_t pad[72] = { 0x80 };
	size_t npad = (s->fill < 56 ? 56 : 120) - s->fill;

	for (int i = 0; i < 8; i++)
		pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, npad + 8);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
}

void data_sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_final(&s, out);
}

void data_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t d[32];

	data_sha256(p, n, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- the default path ------------------------------------------------------ */

#define DATA_REL "shared/data/tinyshakespeare.txt"

/* The candidate DATA_REL beside the executable's ancestor `up` levels
 * above it (1 = its directory): <ancestor>/../DATA_REL.  For build/bin/loom,
 * up = 3 is the repository (build/bin/.. /..). */
static int exe_candidate(char *out, size_t cap, int up)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -1;
	exe[n] = 0;
	for (int i = 0; i < up; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash || slash == exe)
			return -1;
		*slash = 0;
	}
	snprintf(out, cap, "%s/../" DATA_REL, exe);
	return 0;
}

const char *data_default_path(void)
{
	static char path[PATH_MAX + 64];
	const char *env = getenv("LOOM_DATA");

	if (env && *env)
		return env;
	/* Nearest ancestor first, so deeper build dirs (build/x/tests/y/) work. */
	for (int up = 1; up <= 8; up++)
		if (exe_candidate(path, sizeof(path), up) == 0 && access(path, R_OK) == 0)
			return path;
	if (access("./../" DATA_REL, R_OK) == 0)
		return "./../" DATA_REL;
	if (exe_candidate(path, sizeof(path), 3) == 0)
		return path;
	return "./../" DATA_REL;
}

/* ---- loading ------------------------------------------------------------- */

/* Read the whole regular file path into *buf (*size bytes). */
static int read_whole(const char *path, uint8_t **buf, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;
	struct stat st;
	size_t got = 0;
	uint8_t *b;

	if (fd < 0)
		return loom_err_set(errno, "data: open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = loom_err_set(EINVAL, "data: %s is not a regular file", path);
		goto err_close;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		err = loom_err_set(ENOMEM, "data: %s: no memory for %lld bytes", path,
				   (long long)st.st_size);
		goto err_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = loom_err_set(n < 0 ? errno : EIO, "data: read %s: %s", path,
					   n < 0 ? strerror(errno) : "file shrank while reading");
			goto err_free_buf;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = b;
	*size = got;
	return 0;

err_free_buf:
	free(b);
err_close:
	close(fd);
	return err;
}

static int check_identity(const char *path, const uint8_t *b, size_t size,
			  const char *expect_sha256, size_t expect_size)
{
	char got[65];

	if (strlen(expect_sha256) != 64)
		return loom_err_set(EINVAL, "data: expected SHA-256 '%s' is not 64 hex digits",
				    expect_sha256);
	if (size != expect_size)
		return loom_err_set(EPROTO, "data: %s is %zu bytes, expected %zu (%s; SHA-256 "
				    "should be %s)", path, size, expect_size,
				    size < expect_size ? "truncated?" : "wrong file?", expect_sha256);
	data_sha256_hex(b, size, got);
	if (strcasecmp(got, expect_sha256) != 0)
		return loom_err_set(EPROTO, "data: %s has the expected size (%zu bytes) but "
				    "SHA-256 %s, expected %s (contents changed)", path, size, got,
				    expect_sha256);
	return 0;
}

int data_load(struct data_set *ds, const char *path, const char *expect_sha256,
	      size_t expect_size, double val_fraction)
{
	uint8_t *b = NULL;
	size_t size = 0;
	int err;

	if (!ds || !path)
		return loom_err_set(EINVAL, "data: load: %s is NULL", ds ? "path" : "data set");
	memset(ds, 0, sizeof(*ds));
	if (!(val_fraction > 0 && val_fraction <= 0.5))
		return loom_err_set(EINVAL, "data: val_fraction=%g must be in (0, 0.5]",
				    val_fraction);
	err = read_whole(path, &b, &size);
	if (err < 0)
		return err;
	if (expect_sha256)
		err = check_identity(path, b, size, expect_sha256, expect_size);
	if (err == 0 && size < 2)
		err = loom_err_set(EPROTO, "data: %s holds %zu bytes, too few to split", path,
				   size);
	if (err < 0) {
		free(b);
		return err;
	}
	ds->bytes = b;
	ds->size = size;
	ds->train_end = size - (size_t)floor((double)size * val_fraction);
	return 0;
}

void data_free(struct data_set *ds)
{
	if (!ds)
		return;
	free(ds->bytes);
	memset(ds, 0, sizeof(*ds));
}

/* ---- batches ------------------------------------------------------------- */

/* splitmix64's finalizer: a bijective 64-bit mix. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1, by rejection (no modulo bias). */
static uint64_t draw_below(struct loom_rng *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = loom_rng_u64(r);
	while (x >= limit);
	return x % n;
}

/* Start of sequence b of step `step`: one of the train_end - S valid
 * offsets o (o + S + 1 <= train_end, targets included). */
static size_t batch_offset(const struct data_set *ds, uint64_t seed, uint64_t step, int b,
			   int S)
{
	struct loom_rng r;
	uint64_t key = mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ step) ^ (uint64_t)b);

	loom_rng_init(&r, key);
	return (size_t)draw_below(&r, ds->train_end - (size_t)S);
}

static void window_copy(const uint8_t *w, int S, int32_t *tok, int32_t *tgt)
{
	for (int i = 0; i < S; i++) {
		tok[i] = w[i];
		tgt[i] = w[i + 1];
	}
}

static int ds_check(const struct data_set *ds, const char *what)
{
	if (!ds || !ds->bytes || ds->train_end > ds->size)
		return loom_err_set(EINVAL, "data: %s: data set is NULL or not loaded", what);
	return 0;
}

static int slice_check(const char *what, int first, int count, int n, const void *tok,
		       const void *tgt)
{
	if (first < 0 || count < 0 || first > n || count > n - first)
		return loom_err_set(EINVAL, "data: %s: slice [%d, %d + %d) is outside [0, %d)",
				    what, first, first, count, n);
	if (count && (!tok || !tgt))
		return loom_err_set(EINVAL, "data: %s: tok or tgt is NULL", what);
	return 0;
}

int data_batch(const struct data_set *ds, uint64_t seed, uint64_t step, int B, int S,
	       int first, int count, int32_t *tok, int32_t *tgt)
{
	int err = ds_check(ds, "batch");

	if (err < 0)
		return err;
	if (B < 1 || S < 1)
		return loom_err_set(EINVAL, "data: batch: B=%d and S=%d must be >= 1", B, S);
	if (ds->train_end < (size_t)S + 1)
		return loom_err_set(EINVAL, "data: batch: the train split (%zu bytes) is shorter "
				    "than S + 1 = %d", ds->train_end, S + 1);
	err = slice_check("batch", first, count, B, tok, tgt);
	if (err < 0)
		return err;
	for (int i = 0; i < count; i++) {
		size_t o = batch_offset(ds, seed, step, first + i, S);

		window_copy(ds->bytes + o, S, tok + (size_t)i * S, tgt + (size_t)i * S);
	}
	return 0;
}

int data_val_windows(const struct data_set *ds, int S)
{
	int err = ds_check(ds, "val_windows");
	size_t v, n;

	if (err < 0)
		return err;
	if (S < 1)
		return loom_err_set(EINVAL, "data: val_windows: S=%d must be >= 1", S);
	v = ds->size - ds->train_end;
	n = v < (size_t)S + 1 ? 0 : (v - 1) / (size_t)S;
	return n > INT_MAX ? INT_MAX : (int)n;
}

int data_val_batch(const struct data_set *ds, int S, int first, int count, int32_t *tok,
		   int32_t *tgt)
{
	int n = data_val_windows(ds, S), err;

	if (n < 0)
		return n;
	err = slice_check("val_batch", first, count, n, tok, tgt);
	if (err < 0)
		return err;
	for (int i = 0; i < count; i++) {
		const uint8_t *w = ds->bytes + ds->train_end + (size_t)(first + i) * S;

		window_copy(w, S, tok + (size_t)i * S, tgt + (size_t)i * S);
	}
	return 0;
}

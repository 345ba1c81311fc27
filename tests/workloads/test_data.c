/*
 * test_data.c - the corpus loader and batches (workloads/data.c):
 *  - SHA-256 against FIPS 180-4's example vectors ("", "abc", the 448- and
 *    896-bit messages, a million 'a') and against the system's sha256sum at
 *    every length 0..130 (each padding boundary);
 *  - the real corpus (../shared/data/tinyshakespeare.txt) loads with its
 *    size and hash; a truncated and a one-byte-changed copy in /tmp, and a
 *    missing file, are refused with a message naming the file and what
 *    differs;
 *  - batches on a synthetic corpus whose byte i is i, so a row's offset and
 *    shift can be read back from its tokens: targets are tokens + 1 byte;
 *    every offset in range and every valid offset (the last included)
 *    drawn; any slice [first, first + count) equals those rows of the full
 *    batch; the same (seed, step) repeats, another differs;
 *  - validation windows counted and cut by hand; bad arguments refused.
 * All comparisons are exact (bytes and integers).
 */
#include "lt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loom/data.h"
#include "loom/err.h"

static void check_hex(struct lt *t, const char *what, const void *p, size_t n, const char *want)
{
	char got[65];

	data_sha256_hex(p, n, got);
	LT_CHECK(t, strcmp(got, want) == 0, "%s: %s, want %s", what, got, want);
}

static void test_sha256_fips_vectors(struct lt *t)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
				   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char *million = malloc(1000000);
	uint8_t raw[32];

	check_hex(t, "empty", "", 0,
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_hex(t, "abc", "abc", 3,
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_hex(t, "448-bit", m448, strlen(m448),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_hex(t, "896-bit", m896, strlen(m896),
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	memset(million, 'a', 1000000);
	check_hex(t, "million a", million, 1000000,
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
	data_sha256("abc", 3, raw);
	LT_CHECK(t, raw[0] == 0xba && raw[31] == 0xad, "raw digest bytes %02x..%02x", raw[0],
		 raw[31]);
}

/* sha256sum of p[0..n) through a temporary file; 0 when the tool is absent. */
static int sha256sum_of(const uint8_t *p, size_t n, char out[65])
{
	char path[] = "/tmp/loom_sha_XXXXXX", cmd[128];
	int fd = mkstemp(path), ok = 0;
	FILE *f;

	if (fd < 0)
		return 0;
	if (write(fd, p, n) == (ssize_t)n) {
		snprintf(cmd, sizeof(cmd), "sha256sum %s 2>/dev/null", path);
		f = popen(cmd, "r");
		if (f) {
			ok = fscanf(f, "%64s", out) == 1 && strlen(out) == 64;
			pclose(f);
		}
	}
	close(fd);
	unlink(path);
	return ok;
}

static void test_sha256_vs_sha256sum(struct lt *t)
{
	uint8_t buf[131];
	char want[65];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)loom_rng_u32(&r);
	if (!sha256sum_of(buf, 3, want)) {
		lt_skip(t, "sha256sum not available");
		return;
	}
	for (size_t n = 0; n <= 130 && !t->failures; n++) {
		char what[32];

		LT_CHECK(t, sha256sum_of(buf, n, want), "sha256sum failed at %zu", n);
		snprintf(what, sizeof(what), "length %zu", n);
		check_hex(t, what, buf, n, want);
	}
}

/* The real corpus, or skip saying where it was looked for. */
static bool load_corpus(struct lt *t, struct data_set *ds)
{
	const char *path = data_default_path();

	if (access(path, R_OK) != 0) {
		lt_skip(t, "corpus not found at %s", path);
		return false;
	}
	int err = data_load(ds, path, DATA_TINYSHAKESPEARE_SHA256, DATA_TINYSHAKESPEARE_BYTES, 0.1);
	LT_CHECK(t, err == 0, "load %s: %d %s", path, err, loom_err_msg());
	return err == 0;
}

static void test_corpus_loads(struct lt *t)
{
	struct data_set ds;

	if (!load_corpus(t, &ds))
		return;
	LT_CHECK(t, ds.size == 1115394, "size %zu", ds.size);
	/* 10% of 1,115,394 = 111,539.4: the last 111,539 bytes validate. */
	LT_CHECK(t, ds.train_end == 1115394 - 111539, "train_end %zu", ds.train_end);
	LT_CHECK(t, memcmp(ds.bytes, "First Citizen:", 14) == 0, "starts '%.14s'", ds.bytes);
	data_free(&ds);
	LT_CHECK(t, !ds.bytes && ds.size == 0, "data_free clears the set");
	data_free(&ds); /* twice is harmless */
	data_free(NULL);
}

static void test_default_path_env(struct lt *t)
{
	setenv("LOOM_DATA", "/nowhere/corpus.txt", 1);
	LT_CHECK(t, strcmp(data_default_path(), "/nowhere/corpus.txt") == 0, "LOOM_DATA wins");
	unsetenv("LOOM_DATA");
	LT_CHECK(t, strstr(data_default_path(), "shared/data/tinyshakespeare.txt"), "'%s'",
		 data_default_path());
}

/* Write a copy of the corpus to path, cut to n bytes, byte `flip` (if
 * >= 0) changed. */
static bool write_copy(const struct data_set *ds, const char *path, size_t n, long flip)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (!f)
		return false;
	ok = fwrite(ds->bytes, 1, n, f) == n;
	if (flip >= 0) {
		fseek(f, flip, SEEK_SET);
		ok = ok && fputc(ds->bytes[flip] ^ 0x20, f) != EOF;
	}
	return fclose(f) == 0 && ok;
}

static void test_altered_corpus_refused(struct lt *t)
{
	struct data_set ds, bad;
	char path[64];
	int err;

	if (!load_corpus(t, &ds))
		return;
	snprintf(path, sizeof(path), "/tmp/loom_data_test_%d.txt", (int)getpid());

	LT_CHECK(t, write_copy(&ds, path, ds.size - 1, -1), "write %s", path);
	err = data_load(&bad, path, DATA_TINYSHAKESPEARE_SHA256, DATA_TINYSHAKESPEARE_BYTES, 0.1);
	LT_CHECK(t, err == -EPROTO && strstr(loom_err_msg(), path) &&
			    strstr(loom_err_msg(), "1115393") && strstr(loom_err_msg(), "1115394"),
		 "truncated: %d '%s'", err, loom_err_msg());
	LT_CHECK(t, !bad.bytes, "nothing handed back");

	LT_CHECK(t, write_copy(&ds, path, ds.size, 500000), "write %s", path);
	err = data_load(&bad, path, DATA_TINYSHAKESPEARE_SHA256, DATA_TINYSHAKESPEARE_BYTES, 0.1);
	LT_CHECK(t, err == -EPROTO && strstr(loom_err_msg(), path) &&
			    strstr(loom_err_msg(), "SHA-256") &&
			    strstr(loom_err_msg(), DATA_TINYSHAKESPEARE_SHA256),
		 "one byte changed: %d '%s'", err, loom_err_msg());
	/* Without a hash to check, the same file loads. */
	err = data_load(&bad, path, NULL, 0, 0.1);
	LT_CHECK(t, err == 0 && bad.size == ds.size, "unchecked load: %d", err);
	data_free(&bad);
	unlink(path);

	err = data_load(&bad, path, DATA_TINYSHAKESPEARE_SHA256, DATA_TINYSHAKESPEARE_BYTES, 0.1);
	LT_CHECK(t, err == -ENOENT && strstr(loom_err_msg(), path), "missing: %d '%s'", err,
		 loom_err_msg());
	data_free(&ds);
}

static void test_load_bad_arguments(struct lt *t)
{
	struct data_set ds;
	const char *p = "/tmp";

	LT_CHECK(t, data_load(NULL, p, NULL, 0, 0.1) == -EINVAL, "NULL set");
	LT_CHECK(t, data_load(&ds, NULL, NULL, 0, 0.1) == -EINVAL, "NULL path");
	LT_CHECK(t, data_load(&ds, p, NULL, 0, 0) == -EINVAL, "val_fraction 0");
	LT_CHECK(t, data_load(&ds, p, NULL, 0, 0.6) == -EINVAL, "val_fraction 0.6");
	LT_CHECK(t, data_load(&ds, p, NULL, 0, NAN) == -EINVAL, "val_fraction NaN");
	LT_CHECK(t, data_load(&ds, p, NULL, 0, 0.1) == -EINVAL && strstr(loom_err_msg(), "/tmp"),
		 "a directory: '%s'", loom_err_msg());
	LT_CHECK(t, data_load(&ds, "/dev/null", NULL, 0, 0.1) < 0, "not a regular file");
	LT_CHECK(t, data_load(&ds, p, "abc", 0, 0.1) < 0, "short expected hash");

	char one[64];
	snprintf(one, sizeof(one), "/tmp/loom_data_one_%d.txt", (int)getpid());
	FILE *f = fopen(one, "wb");
	LT_CHECK(t, f && fputc('x', f) != EOF && fclose(f) == 0, "write %s", one);
	LT_CHECK(t, data_load(&ds, one, NULL, 0, 0.5) == -EPROTO && strstr(loom_err_msg(), one),
		 "a 1-byte corpus cannot be split: '%s'", loom_err_msg());
	LT_CHECK(t, !ds.bytes, "nothing handed back");
	unlink(one);
}

/* Synthetic corpus: byte i is i (n <= 256), so a row's offset is its first token. */
static struct data_set synth(uint8_t *buf, size_t n, size_t train_end)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)i;
	return (struct data_set){ .bytes = buf, .size = n, .train_end = train_end };
}

static void test_batch_shift_and_range(struct lt *t)
{
	uint8_t buf[200];
	struct data_set ds = synth(buf, 200, 150);
	enum { B = 8, S = 16 };
	int32_t tok[B * S], tgt[B * S];

	for (uint64_t step = 0; step < 200; step++) {
		LT_CHECK(t, data_batch(&ds, 42, step, B, S, 0, B, tok, tgt) == 0, "%s",
			 loom_err_msg());
		for (int b = 0; b < B; b++) {
			int o = tok[b * S];

			/* Targets within the train split: o + S + 1 <= 150. */
			LT_CHECK(t, o >= 0 && o + S + 1 <= 150, "offset %d", o);
			for (int i = 0; i < S; i++) {
				LT_CHECK(t, tok[b * S + i] == o + i, "tok not consecutive");
				LT_CHECK(t, tgt[b * S + i] == o + i + 1, "tgt not shifted by one");
			}
		}
		if (t->failures)
			return;
	}
}

static void test_batch_every_offset_drawn(struct lt *t)
{
	enum { S = 16, NOFF = 4 };
	uint8_t buf[S + NOFF + 10];
	struct data_set ds = synth(buf, sizeof(buf), S + NOFF); /* offsets 0..3 valid */
	int seen[NOFF + 1] = { 0 };
	int32_t tok[4 * S], tgt[4 * S];

	for (uint64_t step = 0; step < 200; step++) {
		LT_CHECK(t, data_batch(&ds, 7, step, 4, S, 0, 4, tok, tgt) == 0, "%s",
			 loom_err_msg());
		for (int b = 0; b < 4; b++)
			seen[tok[b * S] < NOFF ? tok[b * S] : NOFF]++;
	}
	LT_CHECK(t, seen[NOFF] == 0, "%d draws past the last valid offset", seen[NOFF]);
	/* 800 uniform draws over 4 offsets: ~200 each; < 100 is > 7 sigma. */
	for (int o = 0; o < NOFF; o++)
		LT_CHECK(t, seen[o] >= 100, "offset %d drawn %d times of 800", o, seen[o]);

	/* The shortest usable split: S + 1 bytes, one offset (0). */
	ds.train_end = S + 1;
	LT_CHECK(t, data_batch(&ds, 7, 3, 4, S, 0, 4, tok, tgt) == 0 && tok[0] == 0 &&
			    tok[3 * S] == 0 && tgt[S - 1] == S,
		 "split of S + 1 bytes");
	ds.train_end = S;
	LT_CHECK(t, data_batch(&ds, 7, 3, 4, S, 0, 4, tok, tgt) == -EINVAL, "split of S bytes");
}

static void test_batch_slices_match_full(struct lt *t)
{
	uint8_t buf[256];
	struct data_set ds = synth(buf, 256, 230);
	enum { B = 6, S = 9 };
	int32_t full_tok[B * S], full_tgt[B * S], tok[B * S], tgt[B * S];

	LT_CHECK(t, data_batch(&ds, 99, 5, B, S, 0, B, full_tok, full_tgt) == 0, "full");
	for (int first = 0; first <= B; first++)
		for (int count = 0; first + count <= B; count++) {
			memset(tok, 0xff, sizeof(tok));
			LT_CHECK(t, data_batch(&ds, 99, 5, B, S, first, count, tok, tgt) == 0,
				 "slice [%d, +%d): %s", first, count, loom_err_msg());
			LT_CHECK(t, !memcmp(tok, full_tok + first * S, sizeof(int32_t) * count * S) &&
					    !memcmp(tgt, full_tgt + first * S,
						    sizeof(int32_t) * count * S),
				 "slice [%d, +%d) differs from the full batch", first, count);
			LT_CHECK(t, count == B || tok[count * S] == -1, "wrote past the slice");
		}
}

static void test_batch_determinism(struct lt *t)
{
	uint8_t buf[256];
	struct data_set ds = synth(buf, 256, 230);
	enum { B = 8, S = 4 };
	int32_t a[B * S], b[B * S], c[B * S], d[B * S], tg[B * S];

	data_batch(&ds, 1, 10, B, S, 0, B, a, tg);
	data_batch(&ds, 1, 10, B, S, 0, B, b, tg);
	data_batch(&ds, 2, 10, B, S, 0, B, c, tg);
	data_batch(&ds, 1, 11, B, S, 0, B, d, tg);
	LT_CHECK(t, !memcmp(a, b, sizeof(a)), "same seed and step repeat");
	/* 8 offsets out of 226 all equal by chance: ~(1/226)^8. */
	LT_CHECK(t, memcmp(a, c, sizeof(a)), "another seed draws another batch");
	LT_CHECK(t, memcmp(a, d, sizeof(a)), "another step draws another batch");
	/* Sequences of one batch are not all the same offset. */
	int same = 1;
	for (int i = 1; i < B; i++)
		same &= a[i * S] == a[0];
	LT_CHECK(t, !same, "all %d rows start at %d", B, a[0]);
}

static void test_batch_on_corpus(struct lt *t)
{
	struct data_set ds;
	enum { B = 4, S = 64 };
	int32_t tok[B * S], tgt[B * S];

	if (!load_corpus(t, &ds))
		return;
	LT_CHECK(t, data_batch(&ds, 1337, 0, B, S, 0, B, tok, tgt) == 0, "%s", loom_err_msg());
	for (int b = 0; b < B; b++) {
		for (int i = 0; i < S; i++)
			LT_CHECK(t, tok[b * S + i] >= 0 && tok[b * S + i] < DATA_VOCAB, "token range");
		for (int i = 0; i + 1 < S; i++)
			LT_CHECK(t, tgt[b * S + i] == tok[b * S + i + 1], "target is the next token");
		/* The row occurs in the train split at an offset with its target. */
		char row[S + 1];
		for (int i = 0; i < S; i++)
			row[i] = (char)tok[b * S + i];
		row[S] = (char)tgt[b * S + S - 1];
		LT_CHECK(t, memmem(ds.bytes, ds.train_end, row, S + 1), "row %d not in train", b);
	}
	data_free(&ds);
}

static void test_val_windows(struct lt *t)
{
	uint8_t buf[200];
	struct data_set ds = synth(buf, 200, 150); /* validation = bytes 150..199 */
	int32_t tok[3 * 16], tgt[3 * 16];

	/* 50 bytes, S = 16: windows [150,167) [166,183) [182,199); a fourth
	 * would need byte 214. */
	LT_CHECK(t, data_val_windows(&ds, 16) == 3, "got %d", data_val_windows(&ds, 16));
	LT_CHECK(t, data_val_windows(&ds, 49) == 1, "exactly one window of 50 bytes");
	LT_CHECK(t, data_val_windows(&ds, 50) == 0, "no window of 51 bytes");
	LT_CHECK(t, data_val_windows(&ds, 1) == 49, "S = 1: 49 pairs");
	LT_CHECK(t, data_val_batch(&ds, 16, 0, 3, tok, tgt) == 0, "%s", loom_err_msg());
	for (int w = 0; w < 3; w++)
		for (int i = 0; i < 16; i++) {
			LT_CHECK(t, tok[w * 16 + i] == 150 + 16 * w + i, "window %d tok %d", w, i);
			LT_CHECK(t, tgt[w * 16 + i] == 151 + 16 * w + i, "window %d tgt %d", w, i);
		}
	LT_CHECK(t, data_val_batch(&ds, 16, 2, 1, tok, tgt) == 0 && tok[0] == 182 &&
			    tgt[15] == 198,
		 "window 2 alone");
	LT_CHECK(t, data_val_batch(&ds, 16, 2, 2, tok, tgt) == -EINVAL, "past the last window");
}

static void test_batch_bad_arguments(struct lt *t)
{
	uint8_t buf[100];
	struct data_set ds = synth(buf, 100, 80), none = { 0 };
	int32_t tok[64], tgt[64];

	LT_CHECK(t, data_batch(NULL, 0, 0, 2, 8, 0, 2, tok, tgt) == -EINVAL, "NULL set");
	LT_CHECK(t, data_batch(&none, 0, 0, 2, 8, 0, 2, tok, tgt) == -EINVAL, "empty set");
	LT_CHECK(t, data_batch(&ds, 0, 0, 0, 8, 0, 0, tok, tgt) == -EINVAL, "B = 0");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 0, 0, 2, tok, tgt) == -EINVAL, "S = 0");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, -8, 0, 2, tok, tgt) == -EINVAL, "S < 0");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 8, -1, 1, tok, tgt) == -EINVAL, "first < 0");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 8, 1, 2, tok, tgt) == -EINVAL, "past B");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 8, 0, -1, tok, tgt) == -EINVAL, "count < 0");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 8, 0, 1, NULL, tgt) == -EINVAL, "NULL tok");
	LT_CHECK(t, data_batch(&ds, 0, 0, 2, 8, 2, 0, NULL, NULL) == 0, "empty slice");
	LT_CHECK(t, data_batch(&ds, 0, 0, 0x7fffffff, 8, 0x7ffffff0, 0x7fffffff, tok, tgt) ==
			    -EINVAL,
		 "first + count overflow");
	LT_CHECK(t, data_val_windows(&ds, 0) == -EINVAL, "val S = 0");
	LT_CHECK(t, data_val_windows(NULL, 8) == -EINVAL, "val NULL");
	LT_CHECK(t, data_val_batch(&ds, 8, -1, 1, tok, tgt) == -EINVAL, "val first < 0");
}

static const struct lt_case cases[] = {
	LT_CASE(test_sha256_fips_vectors),
	LT_CASE(test_sha256_vs_sha256sum),
	LT_CASE(test_corpus_loads),
	LT_CASE(test_default_path_env),
	LT_CASE(test_altered_corpus_refused),
	LT_CASE(test_load_bad_arguments),
	LT_CASE(test_batch_shift_and_range),
	LT_CASE(test_batch_every_offset_drawn),
	LT_CASE(test_batch_slices_match_full),
	LT_CASE(test_batch_determinism),
	LT_CASE(test_batch_on_corpus),
	LT_CASE(test_val_windows),
	LT_CASE(test_batch_bad_arguments),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

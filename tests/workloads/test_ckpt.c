/*
 * test_ckpt.c - checkpoint files (workloads/ckpt.c):
 *  - round trip of several blobs (empty, 255-byte name, float data);
 *  - the byte layout of a one-blob file checked against ckpt.h by hand;
 *  - atomic replacement: overwrite, abort and a failed commit leave the
 *    old file intact and no temporary file behind;
 *  - every truncation length of a small file and every single-bit flip of
 *    it refused with a message (never a crash; run under ASan);
 *  - files with a valid checksum but a malformed structure (duplicate
 *    names, name lengths 0 and 256, a NUL in a name, a data length past the
 *    end or near 2^64, a blob count too large, too small or 2^32 - 1,
 *    another version, trailing bytes) refused, each with its reason;
 *  - random structural mutations with a repaired checksum: refused or, if
 *    accepted, every blob readable in bounds;
 *  - bad arguments of every call.
 * Checks are exact: bytes compare equal or the file is refused.
 */
#include "lt.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loom/ckpt.h"
#include "loom/data.h"
#include "loom/err.h"

/* A fresh directory per case: /tmp/loom_ckpt_<pid>_<case>. */
static void case_dir(struct lt *t, char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/loom_ckpt_%d_%s", (int)getpid(), t->name);
	mkdir(dir, 0700);
}

/* Remove the files of dir and dir itself; returns how many names held ".tmp.". */
static int clean_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	int tmps = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		tmps += strstr(e->d_name, ".tmp.") != NULL;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
	return tmps;
}

/* Unlinked first: truncating a file in place makes ext4 flush it at close
 * (auto_da_alloc), which turns thousands of rewrites into seconds. */
static bool write_file(const char *path, const void *p, size_t n)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "wb");
	bool ok = f && fwrite(p, 1, n, f) == n;

	return f && fclose(f) == 0 && ok;
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 16);

	*n = f ? fread(b, 1, 1 << 16, f) : 0;
	if (f)
		fclose(f);
	return b;
}

static float weights[100];
static char long_name[256];

/* Write the small reference checkpoint to path: three blobs. */
static int write_small(const char *path)
{
	struct ckpt_writer *w = ckpt_write_begin(path);
	int err;

	if (!w)
		return -1;
	for (int i = 0; i < 100; i++)
		weights[i] = (float)i * 0.25f - 3.0f;
	memset(long_name, 'n', 255);
	err = ckpt_write_blob(w, "config", "{\"d\":64}", 8);
	if (!err)
		err = ckpt_write_blob(w, "empty", NULL, 0);
	if (!err)
		err = ckpt_write_blob(w, long_name, weights, sizeof(weights));
	if (err) {
		ckpt_write_abort(w);
		return err;
	}
	return ckpt_write_commit(w);
}

static void test_round_trip(struct lt *t)
{
	char dir[256], path[300], cfg[8];
	float back[100];
	struct ckpt_reader *r;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/model.ckpt", dir);
	LT_CHECK(t, write_small(path) == 0, "write: %s", loom_err_msg());
	r = ckpt_open(path);
	LT_CHECK(t, r, "open: %s", loom_err_msg());
	if (r) {
		LT_CHECK(t, ckpt_blob_len(r, "config") == 8, "config length");
		LT_CHECK(t, ckpt_blob_len(r, "empty") == 0, "empty length");
		LT_CHECK(t, ckpt_blob_len(r, long_name) == (long long)sizeof(weights), "weights");
		LT_CHECK(t, ckpt_read_blob(r, "config", cfg, 8) == 0 && !memcmp(cfg, "{\"d\":64}", 8),
			 "config contents");
		LT_CHECK(t, ckpt_read_blob(r, "empty", NULL, 0) == 0, "empty blob");
		LT_CHECK(t, ckpt_read_blob(r, long_name, back, sizeof(back)) == 0 &&
				    !memcmp(back, weights, sizeof(back)),
			 "weights contents");
		LT_CHECK(t, ckpt_blob_len(r, "nope") == -ENOENT, "absent blob length");
		LT_CHECK(t, ckpt_read_blob(r, "nope", cfg, 8) == -ENOENT &&
				    strstr(loom_err_msg(), "nope"),
			 "absent blob: '%s'", loom_err_msg());
		LT_CHECK(t, ckpt_read_blob(r, "config", cfg, 7) == -EPROTO &&
				    strstr(loom_err_msg(), "8") && strstr(loom_err_msg(), "7"),
			 "wrong length: '%s'", loom_err_msg());
		LT_CHECK(t, ckpt_read_blob(r, "conf", cfg, 8) == -ENOENT, "a prefix is not a name");
		ckpt_close(r);
	}
	LT_CHECK(t, clean_dir(dir) == 0, "a temporary file was left behind");
}

static void test_layout_by_hand(struct lt *t)
{
	char dir[256], path[300];
	struct ckpt_writer *w;
	uint8_t want[70] = "LOOMCKPT\x01\0\0\0\x01\0\0\0\x0e\0\0\0\0\0\0\0"
			   "\x01\0w\x03\0\0\0\0\0\0\0\x01\x02\x03";
	uint8_t *got;
	size_t n;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/one.ckpt", dir);
	w = ckpt_write_begin(path);
	LT_CHECK(t, w && ckpt_write_blob(w, "w", "\x01\x02\x03", 3) == 0 &&
			    ckpt_write_commit(w) == 0,
		 "%s", loom_err_msg());
	/* 24 header + (2 + 1 + 8 + 3 = 14) payload + 32 checksum = 70 bytes. */
	data_sha256(want, 38, want + 38);
	got = read_file(path, &n);
	LT_CHECK(t, n == 70 && !memcmp(got, want, 70), "file is %zu bytes / differs", n);
	free(got);
	clean_dir(dir);
}

static void test_atomic_replace_and_abort(struct lt *t)
{
	char dir[256], path[300];
	struct ckpt_writer *w;
	struct ckpt_reader *r;
	int v = 0;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/state.ckpt", dir);
	for (int ver = 1; ver <= 2; ver++) {
		w = ckpt_write_begin(path);
		LT_CHECK(t, w && ckpt_write_blob(w, "v", &ver, sizeof(ver)) == 0 &&
				    ckpt_write_commit(w) == 0,
			 "version %d: %s", ver, loom_err_msg());
	}
	/* Abort after writing a blob: the committed version 2 stays. */
	w = ckpt_write_begin(path);
	LT_CHECK(t, w && ckpt_write_blob(w, "v", "xxxx", 4) == 0, "begin");
	ckpt_write_abort(w);
	r = ckpt_open(path);
	LT_CHECK(t, r && ckpt_read_blob(r, "v", &v, sizeof(v)) == 0 && v == 2, "read back %d", v);
	ckpt_close(r);
	LT_CHECK(t, clean_dir(dir) == 0, "a temporary file was left behind");
}

static void test_failed_commit_cleans_up(struct lt *t)
{
	char dir[256], path[300];
	struct ckpt_writer *w;
	struct stat st;

	case_dir(t, dir, sizeof(dir));
	/* path is a non-empty directory: the rename fails. */
	snprintf(path, sizeof(path), "%s/taken", dir);
	mkdir(path, 0700);
	char inner[400];
	snprintf(inner, sizeof(inner), "%s/keep", path);
	write_file(inner, "k", 1);
	w = ckpt_write_begin(path);
	LT_CHECK(t, w, "begin: %s", loom_err_msg());
	if (w) {
		ckpt_write_blob(w, "a", "b", 1);
		LT_CHECK(t, ckpt_write_commit(w) < 0 && strstr(loom_err_msg(), "rename"), "'%s'",
			 loom_err_msg());
	}
	LT_CHECK(t, stat(inner, &st) == 0, "the directory was touched");
	unlink(inner);
	rmdir(path);
	LT_CHECK(t, clean_dir(dir) == 0, "the temporary file was left behind");

	w = ckpt_write_begin("/nonexistent_dir_loom/x.ckpt");
	LT_CHECK(t, !w && strstr(loom_err_msg(), "/nonexistent_dir_loom/x.ckpt"), "'%s'",
		 loom_err_msg());
}

static void test_writer_refuses_bad_blobs(struct lt *t)
{
	char dir[256], path[300], big[300];
	struct ckpt_writer *w;
	struct ckpt_reader *r;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/w.ckpt", dir);
	w = ckpt_write_begin(path);
	LT_CHECK(t, w, "%s", loom_err_msg());
	if (!w)
		return;
	memset(big, 'x', 256);
	big[256] = 0;
	LT_CHECK(t, ckpt_write_blob(w, "a", "1", 1) == 0, "first");
	LT_CHECK(t, ckpt_write_blob(w, "a", "2", 1) == -EEXIST, "duplicate name");
	LT_CHECK(t, ckpt_write_blob(w, "", "1", 1) == -EINVAL, "empty name");
	LT_CHECK(t, ckpt_write_blob(w, big, "1", 1) == -EINVAL, "256-byte name");
	LT_CHECK(t, ckpt_write_blob(w, "b", NULL, 5) == -EINVAL, "NULL data");
	LT_CHECK(t, ckpt_write_blob(w, NULL, "1", 1) == -EINVAL, "NULL name");
	LT_CHECK(t, ckpt_write_blob(NULL, "c", "1", 1) == -EINVAL, "NULL writer");
	/* A length no memory can hold fails before the data is touched. */
	LT_CHECK(t, ckpt_write_blob(w, "huge", "1", SIZE_MAX - 8) == -ENOMEM, "SIZE_MAX blob");
	LT_CHECK(t, ckpt_write_blob(w, "b", "2", 1) == 0, "the writer still works");
	LT_CHECK(t, ckpt_write_commit(w) == 0, "%s", loom_err_msg());
	r = ckpt_open(path);
	LT_CHECK(t, r && ckpt_blob_len(r, "a") == 1 && ckpt_blob_len(r, "b") == 1, "two blobs");
	ckpt_close(r);
	LT_CHECK(t, ckpt_write_commit(NULL) == -EINVAL, "commit NULL");
	ckpt_write_abort(NULL);
	ckpt_close(NULL);
	LT_CHECK(t, !ckpt_write_begin(NULL) && !ckpt_write_begin(""), "NULL/empty path");
	LT_CHECK(t, !ckpt_open(NULL), "open NULL");
	LT_CHECK(t, !ckpt_open(dir) && strstr(loom_err_msg(), "regular"), "open a directory: '%s'",
		 loom_err_msg());
	LT_CHECK(t, ckpt_blob_len(NULL, "a") == -EINVAL, "blob_len NULL");
	clean_dir(dir);
}

/* Opening img[0..n) written to path must fail, with a message naming it. */
static bool refused(struct lt *t, const char *path, const uint8_t *img, size_t n,
		    const char *word)
{
	struct ckpt_reader *r;

	if (!write_file(path, img, n)) {
		lt_fail(t, __FILE__, __LINE__, "cannot write %s", path);
		return false;
	}
	r = ckpt_open(path);
	if (r) {
		ckpt_close(r);
		return false;
	}
	return strstr(loom_err_msg(), path) && (!word || strstr(loom_err_msg(), word));
}

static void test_every_truncation_refused(struct lt *t)
{
	char dir[256], path[300], cut[310];
	uint8_t *img;
	size_t n;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/s.ckpt", dir);
	snprintf(cut, sizeof(cut), "%s/cut.ckpt", dir);
	LT_CHECK(t, write_small(path) == 0, "%s", loom_err_msg());
	img = read_file(path, &n);
	LT_CHECK(t, n > 600, "small file is %zu bytes", n);
	for (size_t len = 0; len < n; len++)
		LT_CHECK(t, refused(t, cut, img, len, "truncated"), "length %zu of %zu: '%s'", len,
			 n, loom_err_msg());
	free(img);
	clean_dir(dir);
}

static void test_every_bit_flip_refused(struct lt *t)
{
	char dir[256], path[300], bad[310];
	uint8_t *img;
	size_t n;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/s.ckpt", dir);
	snprintf(bad, sizeof(bad), "%s/bad.ckpt", dir);
	LT_CHECK(t, write_small(path) == 0, "%s", loom_err_msg());
	img = read_file(path, &n);
	for (size_t i = 0; i < n && t->failures < 10; i++)
		for (int bit = 0; bit < 8; bit++) {
			img[i] ^= (uint8_t)(1u << bit);
			LT_CHECK(t, refused(t, bad, img, n, NULL), "byte %zu bit %d: '%s'", i, bit,
				 loom_err_msg());
			/* Past the header (24 bytes), every flip is the checksum's to catch. */
			if (i >= 24)
				LT_CHECK(t, strstr(loom_err_msg(), "checksum mismatch"),
					 "byte %zu bit %d: '%s'", i, bit, loom_err_msg());
			img[i] ^= (uint8_t)(1u << bit);
		}
	LT_CHECK(t, !refused(t, bad, img, n, NULL), "the unflipped file opens");
	free(img);
	clean_dir(dir);
}

/* ---- structurally bad files with a valid checksum ------------------------- */

struct img {
	uint8_t b[1024];
	size_t n;
};

static void img_put(struct img *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}
static void img_le(struct img *m, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		m->b[m->n++] = (uint8_t)(v >> (8 * i));
}
static void img_blob(struct img *m, const char *name, size_t nlen, uint64_t dlen,
		     const void *data, size_t have)
{
	img_le(m, nlen, 2);
	img_put(m, name, nlen);
	img_le(m, dlen, 8);
	img_put(m, data, have);
}
static void img_header(struct img *m, uint32_t version, uint32_t count)
{
	m->n = 0;
	img_put(m, "LOOMCKPT", 8);
	img_le(m, version, 4);
	img_le(m, count, 4);
	img_le(m, 0, 8); /* payload, set by img_seal */
}
/* Payload length from the image, then the checksum. */
static void img_seal(struct img *m)
{
	uint64_t payload = m->n - 24;

	for (int i = 0; i < 8; i++)
		m->b[16 + i] = (uint8_t)(payload >> (8 * i));
	data_sha256(m->b, m->n, m->b + m->n);
	m->n += 32;
}

static void test_malformed_structure_refused(struct lt *t)
{
	char dir[256], path[300];
	struct img m;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/m.ckpt", dir);

	img_header(&m, 1, 2), img_blob(&m, "a", 1, 1, "x", 1), img_blob(&m, "b", 1, 1, "y", 1);
	img_seal(&m);
	LT_CHECK(t, !refused(t, path, m.b, m.n, NULL), "the well-formed control opens: %s",
		 loom_err_msg());

	img_header(&m, 1, 2), img_blob(&m, "a", 1, 1, "x", 1), img_blob(&m, "a", 1, 1, "y", 1);
	img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "duplicate"), "duplicate: '%s'", loom_err_msg());

	img_header(&m, 1, 1), img_blob(&m, "", 0, 1, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "name length"), "name length 0: '%s'",
		 loom_err_msg());

	char n256[256];
	memset(n256, 'q', 256);
	img_header(&m, 1, 1), img_blob(&m, n256, 256, 1, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "name length"), "name length 256: '%s'",
		 loom_err_msg());

	img_header(&m, 1, 1), img_blob(&m, "a\0b", 3, 1, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "NUL"), "NUL in a name: '%s'", loom_err_msg());

	img_header(&m, 1, 1), img_blob(&m, "a", 1, 2, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "data bytes"), "data past the end: '%s'",
		 loom_err_msg());

	/* A length near 2^64 must not wrap any bound check or reach malloc. */
	img_header(&m, 1, 1), img_blob(&m, "a", 1, UINT64_MAX - 4, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "data bytes"), "huge length: '%s'", loom_err_msg());

	img_header(&m, 1, 3), img_blob(&m, "a", 1, 1, "x", 1), img_blob(&m, "b", 1, 1, "y", 1);
	img_put(&m, "zzzzzzzzzzz", 11); /* room for a third blob header, but garbage */
	m.b[m.n - 11] = 0, m.b[m.n - 10] = 0;
	img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, NULL), "count too large: '%s'", loom_err_msg());

	img_header(&m, 1, 0xffffffffu), img_blob(&m, "a", 1, 1, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "cannot fit"), "count 2^32-1: '%s'",
		 loom_err_msg());

	img_header(&m, 1, 1), img_blob(&m, "a", 1, 1, "x", 1), img_blob(&m, "b", 1, 1, "y", 1);
	img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "after the last"), "count too small: '%s'",
		 loom_err_msg());

	img_header(&m, 2, 1), img_blob(&m, "a", 1, 1, "x", 1), img_seal(&m);
	LT_CHECK(t, refused(t, path, m.b, m.n, "version 2"), "version: '%s'", loom_err_msg());

	img_header(&m, 1, 1), img_blob(&m, "a", 1, 1, "x", 1), img_seal(&m);
	img_put(&m, "extra", 5);
	LT_CHECK(t, refused(t, path, m.b, m.n, "trailing"), "trailing bytes: '%s'",
		 loom_err_msg());

	memcpy(m.b, "LOOMCKPX", 8);
	LT_CHECK(t, refused(t, path, m.b, m.n, "magic"), "magic: '%s'", loom_err_msg());

	unlink(path);
	LT_CHECK(t, !ckpt_open(path) && strstr(loom_err_msg(), path), "missing: '%s'",
		 loom_err_msg());
	clean_dir(dir);
}

/* Random byte mutations of the blob area, checksum repaired each time: the
 * reader refuses or accepts, but every accepted blob lies inside the file. */
static void test_structural_fuzz(struct lt *t)
{
	char dir[256], path[300], name[256];
	struct img base, m;
	struct loom_rng r;
	int accepted = 0;

	case_dir(t, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f.ckpt", dir);
	loom_rng_init(&r, lt_seed(t));
	img_header(&base, 1, 3);
	img_blob(&base, "alpha", 5, 4, "AAAA", 4);
	img_blob(&base, "b", 1, 0, "", 0);
	img_blob(&base, "gamma", 5, 6, "GGGGGG", 6);
	for (int it = 0; it < 1500; it++) {
		struct ckpt_reader *rd;

		m = base;
		for (int k = 1 + (int)(loom_rng_u32(&r) % 3); k > 0; k--)
			m.b[12 + loom_rng_u32(&r) % (m.n - 12)] = (uint8_t)loom_rng_u32(&r);
		img_seal(&m);
		write_file(path, m.b, m.n);
		rd = ckpt_open(path);
		if (!rd) {
			LT_CHECK(t, *loom_err_msg(), "refused without a message");
			continue;
		}
		accepted++;
		/* Accepted: some name from the original set reads back in bounds. */
		const char *names[] = { "alpha", "b", "gamma" };
		for (int i = 0; i < 3; i++) {
			long long len = ckpt_blob_len(rd, names[i]);
			if (len >= 0 && len < 256)
				LT_CHECK(t, ckpt_read_blob(rd, names[i], name, (size_t)len) == 0, "read");
		}
		ckpt_close(rd);
	}
	LT_CHECK(t, accepted > 0 && accepted < 1500, "%d of 1500 mutations accepted", accepted);
	clean_dir(dir);
}

static const struct lt_case cases[] = {
	LT_CASE(test_round_trip),
	LT_CASE(test_layout_by_hand),
	LT_CASE(test_atomic_replace_and_abort),
	LT_CASE(test_failed_commit_cleans_up),
	LT_CASE(test_writer_refuses_bad_blobs),
	LT_CASE(test_every_truncation_refused),
	LT_CASE(test_every_bit_flip_refused),
	LT_CASE(test_malformed_structure_refused),
	LT_CASE(test_structural_fuzz),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

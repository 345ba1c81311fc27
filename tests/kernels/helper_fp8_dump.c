/*
 * helper_fp8_dump.c - runs loom/fp8.h's bulk conversions on a file of
 * float32 inputs, so the Python oracle suite (test_fp8_mldtypes.py) can
 * compare our library's own outputs with ml_dtypes.  Not a test by itself.
 *
 *   helper_fp8_dump encode IN OUT
 *       IN: n float32 (native byte order).  OUT, planes of n each, in order:
 *       e4m3 saturate, e4m3 no-saturate, e5m2 saturate, e5m2 no-saturate,
 *       ue8m0 (uint8 each), then bf16 (uint16, native byte order).
 *   helper_fp8_dump decode OUT
 *       OUT: float32 decodings of every code: e4m3 0..255, e5m2 0..255,
 *       ue8m0 0..255, bf16 0..65535.
 *
 * Exit status 0 on success, 2 with a message on stderr on any error.
 */
#include "loom/fp8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ENC_PLANES8 5 /* uint8 planes written by encode */

static int die(const char *what, const char *path)
{
	fprintf(stderr, "helper_fp8_dump: %s %s: %s\n", what, path, strerror(errno));
	return 2;
}

/* Read a whole file of float32 into *x (malloc'd); *n elements. */
static int read_f32(const char *path, float **x, size_t *n)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f)
		return die("open", path);
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto err_close;
	if (len % (long)sizeof(float)) {
		fprintf(stderr, "helper_fp8_dump: %s: size %ld is not a multiple of 4\n", path,
			len);
		fclose(f);
		return 2;
	}
	*n = (size_t)len / sizeof(float);
	*x = malloc(*n ? *n * sizeof(float) : 1);
	if (!*x)
		goto err_close;
	if (fread(*x, sizeof(float), *n, f) != *n)
		goto err_free;
	fclose(f);
	return 0;

err_free:
	free(*x);
err_close:
	fclose(f);
	return die("read", path);
}

static int write_all(FILE *f, const char *path, const void *p, size_t bytes)
{
	if (bytes && fwrite(p, 1, bytes, f) != bytes)
		return die("write", path);
	return 0;
}

static int encode(const char *in, const char *out)
{
	float *x = NULL;
	size_t n = 0;
	uint8_t *p8;
	uint16_t *b;
	FILE *f;
	int rc = read_f32(in, &x, &n);

	if (rc)
		return rc;
	p8 = malloc(N_ENC_PLANES8 * n + 1);
	b = malloc(n * sizeof(*b) + 1);
	f = fopen(out, "wb");
	if (!p8 || !b || !f) {
		rc = die("prepare", out);
		goto out;
	}
	fp8_e4m3_from_f32_n(p8 + 0 * n, x, n, true);
	fp8_e4m3_from_f32_n(p8 + 1 * n, x, n, false);
	fp8_e5m2_from_f32_n(p8 + 2 * n, x, n, true);
	fp8_e5m2_from_f32_n(p8 + 3 * n, x, n, false);
	ue8m0_from_f32_n(p8 + 4 * n, x, n);
	bf16_from_f32_n(b, x, n);
	rc = write_all(f, out, p8, N_ENC_PLANES8 * n);
	if (!rc)
		rc = write_all(f, out, b, n * sizeof(*b));
out:
	if (f && fclose(f) && !rc)
		rc = die("close", out);
	free(b);
	free(p8);
	free(x);
	return rc;
}

static int decode(const char *out)
{
	static uint8_t codes[256];
	static uint16_t patterns[65536];
	static float y[3 * 256 + 65536];
	FILE *f = fopen(out, "wb");
	int rc;

	if (!f)
		return die("open", out);
	for (unsigned i = 0; i < 256; i++)
		codes[i] = (uint8_t)i;
	for (unsigned i = 0; i < 65536; i++)
		patterns[i] = (uint16_t)i;
	fp8_e4m3_to_f32_n(y, codes, 256);
	fp8_e5m2_to_f32_n(y + 256, codes, 256);
	ue8m0_to_f32_n(y + 512, codes, 256);
	bf16_to_f32_n(y + 768, patterns, 65536);
	rc = write_all(f, out, y, sizeof(y));
	if (fclose(f) && !rc)
		rc = die("close", out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "encode"))
		return encode(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "decode"))
		return decode(argv[2]);
	fprintf(stderr, "usage: helper_fp8_dump encode IN.f32 OUT | decode OUT\n");
	return 2;
}

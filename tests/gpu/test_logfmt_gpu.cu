/*
 * test_logfmt_gpu.cu - the LogFMT kernels (logfmt_cuda.h) against
 * kernels/logfmt.c for n = 8..16.  Decode: bit for bit logfmt_decode of the
 * CPU's packed tiles.  Encode: byte for byte logfmt_encode, except for the
 * one stated allowance of logfmt_cuda.h: a tile whose header differs (by
 * at most one FP32 ulp per log2, from CUDA's double log2) must still hold
 * exactly the codes logfmt_code_from_f32 gives under the header it stored;
 * the case prints how many such tiles it saw.  Inputs are fresh random
 * numbers per case (lt_seed) over narrow and very wide ranges, with zeros,
 * -0, subnormals and partial tiles; outputs are poisoned before every
 * launch; NaN / inf inputs and corrupt headers must be reported at the
 * right index.
 *
 * Needs a CUDA device; without one the GPU cases are skipped.  The
 * argument checks run everywhere.
 */
#include "lt.h"
#include "gpu_check.h"
#include "loom/err.h"
#include "loom/logfmt.h"
#include "loom/logfmt_cuda.h"
#include "loom/rng.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static uint32_t bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	return u;
}

/* span: log2 range of magnitudes (wide spans exercise the clamp). */
static void fill(struct loom_rng *r, float *x, size_t n, double span)
{
	for (size_t i = 0; i < n; i++) {
		double p = loom_rng_uniform(r);
		x[i] = (float)(loom_rng_normal(r) * exp2(loom_rng_uniform(r) * span - span / 2));
		if (p < 0.04)
			x[i] = p < 0.02 ? 0.0f : -0.0f;
		else if (p < 0.05)
			x[i] = (float)(loom_rng_normal(r) * 1e-40);	/* subnormal */
	}
}

/* Tile i of the packed buffer: header equal -> bytes equal; else header
 * within an ulp and codes right under the stored header. */
static void check_tile(struct lt *t, const uint8_t *got, const uint8_t *want, const float *x,
		       int len, int nbits, long tile, long *n_hdr)
{
	int tb = logfmt_tile_bytes(nbits);
	struct logfmt_header hg, hw;

	logfmt_header_load(&hg, got);
	logfmt_header_load(&hw, want);
	if (bits(hg.log2_min) == bits(hw.log2_min) && bits(hg.log2_max) == bits(hw.log2_max)) {
		LT_CHECK(t, memcmp(got, want, tb) == 0, "n=%d tile %ld: codes differ", nbits, tile);
		return;
	}
	++*n_hdr;
	LT_CHECK(t, labs((long)bits(hg.log2_min) - (long)bits(hw.log2_min)) <= 1 &&
		     labs((long)bits(hg.log2_max) - (long)bits(hw.log2_max)) <= 1,
		 "n=%d tile %ld: header (%a, %a) vs (%a, %a)", nbits, tile, (double)hg.log2_min,
		 (double)hg.log2_max, (double)hw.log2_min, (double)hw.log2_max);
	uint16_t codes[LOGFMT_TILE];
	logfmt_codes_unpack(codes, got + LOGFMT_HEADER_BYTES, LOGFMT_TILE, nbits);
	for (int i = 0; i < LOGFMT_TILE; i++) {
		int want_code = i < len ? logfmt_code_from_f32(&hg, nbits, x[i]) : 0;
		LT_CHECK(t, codes[i] == want_code, "n=%d tile %ld code %d", nbits, tile, i);
	}
}

static void check_encode(struct lt *t, int rows, int h, int nbits, double span, long *n_hdr)
{
	struct loom_rng r;
	size_t n = (size_t)rows * h, nb = (size_t)logfmt_packed_bytes(rows, h, nbits);
	int hb = (h + LOGFMT_TILE - 1) / LOGFMT_TILE, tb = logfmt_tile_bytes(nbits);
	std::vector<float> x(n);
	std::vector<uint8_t> want(nb), got(nb);
	float *d_x = NULL;
	uint8_t *d_p = NULL;
	unsigned long long *d_bad = NULL, bad = 0;

	loom_rng_init(&r, lt_seed(t) ^ (uint64_t)(h * 31 + nbits));
	fill(&r, x.data(), n, span);
	LT_CHECK(t, logfmt_encode(want.data(), x.data(), rows, h, nbits) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaMalloc(&d_x, n * 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_p, nb), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_bad, 8), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_x, x.data(), n * 4, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemset(d_p, 0xff, nb), "poison") || !cuda_ok(t, cudaMemset(d_bad, 0, 8), "poison"))
		goto out;
	LT_CHECK(t, logfmt_cuda_encode(d_p, d_x, rows, h, nbits, d_bad, NULL) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaGetLastError(), "launch") || !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(got.data(), d_p, nb, cudaMemcpyDeviceToHost), "D2H") ||
	    !cuda_ok(t, cudaMemcpy(&bad, d_bad, 8, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, bad == ~0ull, "first_bad %llu on finite input", bad);
	for (int row = 0; row < rows; row++)
		for (int b = 0; b < hb; b++) {
			long tile = (long)row * hb + b;
			int len = h - b * LOGFMT_TILE < LOGFMT_TILE ? h - b * LOGFMT_TILE : LOGFMT_TILE;
			check_tile(t, &got[tile * tb], &want[tile * tb], &x[(size_t)row * h + b * LOGFMT_TILE],
				   len, nbits, tile, n_hdr);
		}
out:
	cudaFree(d_x);
	cudaFree(d_p);
	cudaFree(d_bad);
}

static void check_decode(struct lt *t, int rows, int h, int nbits, double span)
{
	struct loom_rng r;
	size_t n = (size_t)rows * h, nb = (size_t)logfmt_packed_bytes(rows, h, nbits);
	std::vector<float> x(n), want(n), got(n);
	std::vector<uint8_t> packed(nb);
	float *d_x = NULL;
	uint8_t *d_p = NULL;
	unsigned long long *d_bad = NULL, bad = 0;

	loom_rng_init(&r, lt_seed(t) ^ (uint64_t)(h * 37 + nbits));
	fill(&r, x.data(), n, span);
	LT_CHECK(t, logfmt_encode(packed.data(), x.data(), rows, h, nbits) == 0, "");
	LT_CHECK(t, logfmt_decode(want.data(), packed.data(), rows, h, nbits) == 0, "");
	if (!cuda_ok(t, cudaMalloc(&d_x, n * 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_p, nb), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_bad, 8), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_p, packed.data(), nb, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemset(d_x, 0xff, n * 4), "poison"))
		goto out;
	LT_CHECK(t, logfmt_cuda_decode(d_x, d_p, rows, h, nbits, d_bad, NULL) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaGetLastError(), "launch") || !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(got.data(), d_x, n * 4, cudaMemcpyDeviceToHost), "D2H") ||
	    !cuda_ok(t, cudaMemcpy(&bad, d_bad, 8, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, bad == ~0ull, "first_bad %llu on valid tiles", bad);
	for (size_t i = 0, nbad = 0; i < n && nbad < 5; i++)
		if (bits(got[i]) != bits(want[i]) && ++nbad)
			lt_fail(t, __FILE__, __LINE__, "n=%d h=%d x[%zu]: %a vs %a", nbits, h, i,
				(double)got[i], (double)want[i]);
out:
	cudaFree(d_x);
	cudaFree(d_p);
	cudaFree(d_bad);
}

static void test_encode_matches_reference(struct lt *t)
{
	long n_hdr = 0;

	if (!have_gpu(t))
		return;
	for (int nbits = 8; nbits <= 16; nbits++) {
		check_encode(t, 64, 7168, nbits, 8.0, &n_hdr);
		check_encode(t, 33, 200, nbits, 80.0, &n_hdr);
		check_encode(t, 5, 1, nbits, 4.0, &n_hdr);
		check_encode(t, 17, 300, nbits, 250.0, &n_hdr);	/* near FLT_MAX and 2^-125 */
	}
	printf("    logfmt encode: %ld tiles with a header one ulp off the CPU's (allowed)\n", n_hdr);
}

static void test_decode_matches_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	for (int nbits = 8; nbits <= 16; nbits++) {
		check_decode(t, 64, 7168, nbits, 8.0);
		check_decode(t, 33, 200, nbits, 80.0);
		check_decode(t, 5, 1, nbits, 4.0);
		check_decode(t, 17, 300, nbits, 250.0);
	}
}

/* NaN / inf elements and corrupt headers: reported at the smallest index. */
static void test_bad_data_reported(struct lt *t)
{
	const int rows = 4, h = 300, nbits = 10;
	size_t n = (size_t)rows * h, nb = (size_t)logfmt_packed_bytes(rows, h, nbits);
	std::vector<float> x(n, 1.5f);
	std::vector<uint8_t> packed(nb);
	float *d_x = NULL;
	uint8_t *d_p = NULL;
	unsigned long long *d_bad = NULL, bad = 0;

	if (!have_gpu(t))
		return;
	x[2 * h + 257] = INFINITY;
	x[3 * h + 5] = NAN;
	if (!cuda_ok(t, cudaMalloc(&d_x, n * 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_p, nb), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_bad, 8), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_x, x.data(), n * 4, cudaMemcpyHostToDevice), "H2D"))
		goto out;
	LT_CHECK(t, logfmt_cuda_encode(d_p, d_x, rows, h, nbits, d_bad, NULL) == 0, "");
	if (!cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(&bad, d_bad, 8, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, bad == 2ull * h + 257, "first bad element %llu", bad);
	x[2 * h + 257] = 1.0f;
	x[3 * h + 5] = 2.0f;
	LT_CHECK(t, logfmt_encode(packed.data(), x.data(), rows, h, nbits) == 0, "");
	packed[7 * logfmt_tile_bytes(nbits) + 2] = 0xc0;	/* tile 7: log2_min NaN */
	packed[7 * logfmt_tile_bytes(nbits) + 3] = 0x7f;
	packed[5 * logfmt_tile_bytes(nbits) + 7] = 0x44;	/* tile 5: log2_max >= 512 */
	if (!cuda_ok(t, cudaMemcpy(d_p, packed.data(), nb, cudaMemcpyHostToDevice), "H2D"))
		goto out;
	LT_CHECK(t, logfmt_cuda_decode(d_x, d_p, rows, h, nbits, d_bad, NULL) == 0, "");
	if (!cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(&bad, d_bad, 8, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, bad == 5, "first bad tile %llu", bad);
out:
	cudaFree(d_x);
	cudaFree(d_p);
	cudaFree(d_bad);
}

static void test_bad_args_rejected(struct lt *t)
{
	/* Checked on the host before any CUDA call: runs without a GPU. */
	uint8_t *p = (uint8_t *)16;
	float *x = (float *)16;

	LT_CHECK(t, logfmt_cuda_encode(NULL, x, 1, 128, 8, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_encode(p, NULL, 1, 128, 8, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_encode(p, x, 0, 128, 8, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_encode(p, x, 1, -5, 8, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_encode(p, x, 1, 128, 7, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_decode(x, p, 1, 128, 17, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, logfmt_cuda_decode(NULL, p, 1, 128, 8, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, strstr(loom_err_msg(), "NULL") != NULL, "%s", loom_err_msg());
}

static const struct lt_case cases[] = {
	LT_CASE(test_bad_args_rejected),
	LT_CASE(test_encode_matches_reference),
	LT_CASE(test_decode_matches_reference),
	LT_CASE(test_bad_data_reported),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

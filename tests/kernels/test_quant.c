/*
 * test_quant.c - fine-grained E4M3 quantization (kernels/quant.c) against
 * independent computations: tile amaxes recomputed here in FP64, scales
 * checked against the formulas of quant.h, and a per-element round-trip
 * bound derived below.  Also all-zero and partial tiles, NaN / inf tiles,
 * DeepGEMM's scale layout and bad input.
 *
 * Round-trip bound.  With y = fl(x / s), q = e4m3(y) (RNE, saturating) and
 * deq = fl(q * s):
 *   |y - x/s| <= 2^-24 |x/s|                                (FP32 division)
 *   |q - y|   <= 2^-4 |y|  for |y| >= 2^-6 (normal E4M3: 3 fraction bits,
 *                          half an ulp = 2^(e-4) <= 2^-4 |y|), and
 *             <= 2^-10     for |y| <  2^-6 (subnormal spacing 2^-9);
 *                          saturation costs no more: |y| <= 448 (1 + 2^-22)
 *                          because s >= amax / 448 up to one FP32 rounding;
 *   |deq - q s| <= 2^-24 |q s|                  (0 for power-of-two scales)
 * so  |x - deq| <= (2^-4 + 2^-21) |x| + 2^-10 s (1 + 2^-20)  (+ 2^-149 for
 * an FP32-subnormal product).  Rounding by truncation, a wrong scale or a
 * mis-indexed tile breaks it.
 */
#include "lt.h"

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/quant.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double round_trip_bound(double x, double s)
{
	return (0x1p-4 + 0x1p-21) * fabs(x) + 0x1p-10 * s * (1 + 0x1p-20) + 0x1p-149;
}

static bool is_pow2(float s)
{
	int e;
	return s > 0 && frexpf(s, &e) == 0.5f;
}

/* Random data whose tiles span many magnitudes, with occasional outliers. */
static void fill_random(float *x, int rows, int k, struct loom_rng *r)
{
	for (int i = 0; i < rows; i++) {
		for (int kb = 0; kb < quant_blocks(k); kb++) {
			double mag = ldexp(1.0, (int)(loom_rng_u32(r) % 41) - 20);

			for (int j = kb * QUANT_TILE; j < k && j < (kb + 1) * QUANT_TILE; j++) {
				double v = loom_rng_normal(r) * mag;

				if (loom_rng_u32(r) % 97 == 0)
					v *= 30;
				x[(size_t)i * k + j] = (float)v;
			}
		}
	}
}

/* The scale quant.h specifies for a tile of amax a (computed by the test). */
static void check_scale(struct lt *t, float s, double amax, enum quant_scale_mode mode,
			const char *where, int i, int kb)
{
	if (amax == 0) {
		LT_CHECK(t, s == 1.0f, "%s (%d,%d): zero tile scale %g", where, i, kb, s);
		return;
	}
	if (mode == QUANT_SCALE_F32 && amax / 448 >= FLT_MIN) {
		float want = (float)amax / 448.0f;
		LT_CHECK(t, s == want, "%s (%d,%d): scale %.9g, want amax/448 = %.9g", where, i,
			 kb, s, want);
		return;
	}
	/* POW2 (or a tiny tile): the smallest power of two with amax <= 448 s. */
	LT_CHECK(t, is_pow2(s) && amax <= 448.0 * s && (amax > 224.0 * s || s == 0x1p-127f),
		 "%s (%d,%d): scale %.9g not the least power of two >= amax/448 (amax %.9g)",
		 where, i, kb, s, amax);
}

/* Per-element bound, finite codes, and (POW2) no overflow before rounding. */
static void check_elems(struct lt *t, const float *x, const uint8_t *q, const float *deq,
			size_t idx, float s, enum quant_scale_mode mode)
{
	double err = fabs((double)x[idx] - deq[idx]), b = round_trip_bound(x[idx], s);

	LT_CHECK(t, (q[idx] & 0x7f) != 0x7f, "[%zu]: NaN code for x=%g", idx, x[idx]);
	/* quant.h: the code is e4m3(x / s) with a true FP32 division (not a
	 * multiply by 1/s, which rounds differently now and then). */
	LT_CHECK(t, q[idx] == fp8_e4m3_from_f32(x[idx] / s, true), "[%zu]: code %#x for x/s=%.9g",
		 idx, q[idx], x[idx] / s);
	LT_CHECK(t, err <= b, "[%zu]: x=%.9g deq=%.9g err %.3g > bound %.3g (s=%g)", idx,
		 x[idx], deq[idx], err, b, s);
	if (mode == QUANT_SCALE_POW2)
		LT_CHECK(t, fabs((double)x[idx]) / s <= 448.0, "[%zu]: |x|/s = %.9g > 448", idx,
			 fabs((double)x[idx]) / s);
}

static void act_round_trip(struct lt *t, enum quant_scale_mode mode, int m, int k)
{
	struct loom_rng r;
	int kbs = quant_blocks(k);
	float *x = malloc(sizeof(float) * m * k), *deq = malloc(sizeof(float) * m * k);
	float *s = malloc(sizeof(float) * m * kbs);
	uint8_t *q = malloc((size_t)m * k);

	loom_rng_init(&r, lt_seed(t));
	fill_random(x, m, k, &r);
	LT_CHECK(t, quant_act_1x128(q, s, x, m, k, mode) == 0, "%s", loom_err_msg());
	LT_CHECK(t, dequant_act_1x128(deq, q, s, m, k) == 0, "%s", loom_err_msg());
	for (int i = 0; i < m; i++) {
		for (int kb = 0; kb < kbs; kb++) {
			double amax = 0;
			float sc = s[(size_t)i * kbs + kb];

			for (int j = kb * QUANT_TILE; j < k && j < (kb + 1) * QUANT_TILE; j++)
				amax = fmax(amax, fabs(x[(size_t)i * k + j]));
			check_scale(t, sc, amax, mode, "act", i, kb);
			for (int j = kb * QUANT_TILE; j < k && j < (kb + 1) * QUANT_TILE; j++)
				check_elems(t, x, q, deq, (size_t)i * k + j, sc, mode);
		}
	}
	free(x), free(deq), free(s), free(q);
}

static void weight_round_trip(struct lt *t, enum quant_scale_mode mode, int n, int k)
{
	struct loom_rng r;
	int kbs = quant_blocks(k), nbs = quant_blocks(n);
	float *w = malloc(sizeof(float) * n * k), *deq = malloc(sizeof(float) * n * k);
	float *s = malloc(sizeof(float) * nbs * kbs);
	uint8_t *q = malloc((size_t)n * k);

	loom_rng_init(&r, lt_seed(t));
	fill_random(w, n, k, &r);
	LT_CHECK(t, quant_weight_128x128(q, s, w, n, k, mode) == 0, "%s", loom_err_msg());
	LT_CHECK(t, dequant_weight_128x128(deq, q, s, n, k) == 0, "%s", loom_err_msg());
	for (int nb = 0; nb < nbs; nb++) {
		for (int kb = 0; kb < kbs; kb++) {
			int r1 = n < (nb + 1) * 128 ? n : (nb + 1) * 128;
			int c1 = k < (kb + 1) * 128 ? k : (kb + 1) * 128;
			float sc = s[(size_t)nb * kbs + kb];
			double amax = 0;

			for (int i = nb * 128; i < r1; i++)
				for (int j = kb * 128; j < c1; j++)
					amax = fmax(amax, fabs(w[(size_t)i * k + j]));
			check_scale(t, sc, amax, mode, "weight", nb, kb);
			for (int i = nb * 128; i < r1; i++)
				for (int j = kb * 128; j < c1; j++)
					check_elems(t, w, q, deq, (size_t)i * k + j, sc, mode);
		}
	}
	free(w), free(deq), free(s), free(q);
}

/* k = 300 and n = 200 leave partial last tiles (44 columns, 72 rows). */
static void test_act_round_trip_f32(struct lt *t) { act_round_trip(t, QUANT_SCALE_F32, 37, 300); }
static void test_act_round_trip_pow2(struct lt *t) { act_round_trip(t, QUANT_SCALE_POW2, 37, 300); }
static void test_weight_round_trip_f32(struct lt *t) { weight_round_trip(t, QUANT_SCALE_F32, 200, 260); }
static void test_weight_round_trip_pow2(struct lt *t) { weight_round_trip(t, QUANT_SCALE_POW2, 200, 260); }

/* Hand-computed scales.  `edge` is just above 448 * 2^-127: amax / 448 is
 * subnormal and rounds down to exactly 2^-127, yet the POW2 scale must be
 * 2^-126 or the tile's largest element would overflow 448. */
static void test_scale_for_amax(struct lt *t)
{
	float above = nextafterf(448.0f, INFINITY);
	float edge = nextafterf(448.0f * 0x1p-127f, INFINITY);
	struct { float amax; enum quant_scale_mode mode; float want; } c[] = {
		{ 448.0f, QUANT_SCALE_F32, 1.0f },   { 896.0f, QUANT_SCALE_F32, 2.0f },
		{ 1.0f, QUANT_SCALE_F32, 1.0f / 448.0f }, { 448.0f, QUANT_SCALE_POW2, 1.0f },
		{ above, QUANT_SCALE_POW2, 2.0f },   { 449.0f, QUANT_SCALE_POW2, 2.0f },
		{ 447.0f, QUANT_SCALE_POW2, 1.0f },  { 224.0f, QUANT_SCALE_POW2, 0.5f },
		{ 1.0f, QUANT_SCALE_POW2, 0x1p-8f }, /* 1/448 -> 2^-8 (1/256) */
		{ 0.0f, QUANT_SCALE_F32, 1.0f },     { 0.0f, QUANT_SCALE_POW2, 1.0f },
		{ -0.0f, QUANT_SCALE_POW2, 1.0f },   { INFINITY, QUANT_SCALE_F32, INFINITY },
		{ INFINITY, QUANT_SCALE_POW2, INFINITY },
		{ 1e-38f, QUANT_SCALE_F32, 0x1p-127f }, /* tiny: POW2 fallback */
		{ FLT_MAX, QUANT_SCALE_POW2, 0x1p120f },
		{ edge, QUANT_SCALE_POW2, 0x1p-126f },
		{ edge, QUANT_SCALE_F32, 0x1p-126f },  /* edge / 448 < FLT_MIN */
	};
	for (size_t i = 0; i < LT_N(c); i++) {
		float got = quant_scale_for_amax(c[i].amax, c[i].mode);
		LT_CHECK(t, got == c[i].want, "amax %.9g mode %d: got %.9g want %.9g",
			 c[i].amax, c[i].mode, got, c[i].want);
	}
	LT_CHECK(t, isnan(quant_scale_for_amax(NAN, QUANT_SCALE_F32)), "NaN amax");
	LT_CHECK(t, isnan(quant_scale_for_amax(NAN, QUANT_SCALE_POW2)), "NaN amax");
	LT_CHECK(t, isnan(quant_scale_for_amax(-1.0f, QUANT_SCALE_F32)), "negative amax");
}

/* quant.h's e4m3(x / s) is a division.  With amax = 0x1.000006p+0, the
 * element x below has x / s = 1.0625 exactly, an E4M3 tie between 1 and
 * 1.125 (even: 1.0, code 0x38), while x * (1 / s) lands just above the tie
 * (found by a search over amax; the premise is checked first).  A
 * reciprocal multiply would pass the round-trip bounds but not this. */
static void test_division_not_reciprocal(struct lt *t)
{
	float x[2] = { 0x1.000006p+0f, 0x1.36db76p-9f }, s[1], want_s = x[0] / 448.0f;
	uint8_t q[2];

	LT_CHECK(t, x[1] / want_s == 1.0625f &&
		     fp8_e4m3_from_f32(x[1] * (1.0f / want_s), true) != 0x38,
		 "premise: x/s = %.9g", x[1] / want_s);
	LT_CHECK(t, quant_act_1x128(q, s, x, 1, 2, QUANT_SCALE_F32) == 0, "%s", loom_err_msg());
	LT_CHECK(t, s[0] == want_s && q[1] == 0x38, "scale %.9g code %#x, want 0x38 (1.0)", s[0],
		 q[1]);
}

/* Tiles of FP32-subnormal values (amax / 448 < FLT_MIN): both modes fall
 * back to the POW2 scale and the round-trip bound still holds. */
static void test_tiny_tiles(struct lt *t)
{
	enum { K = 128 };
	float x[K], s[1], deq[K];
	uint8_t q[K];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int j = 0; j < K; j++)
		x[j] = (float)(loom_rng_normal(&r) * 1e-39);
	for (int mode = 0; mode < 2; mode++) {
		double amax = 0;

		LT_CHECK(t, quant_act_1x128(q, s, x, 1, K, mode) == 0, "%s", loom_err_msg());
		dequant_act_1x128(deq, q, s, 1, K);
		for (int j = 0; j < K; j++)
			amax = fmax(amax, fabs(x[j]));
		check_scale(t, s[0], amax, mode, "tiny", 0, 0);
		for (int j = 0; j < K; j++)
			check_elems(t, x, q, deq, (size_t)j, s[0], QUANT_SCALE_POW2);
	}
}

/* A zero tile next to a non-zero one; an all-zero weight block. */
static void test_zero_tiles(struct lt *t)
{
	enum { K = 256 };
	float x[K] = { 0 }, deq[K], s[2], w[2 * K] = { 0 }, ws[2];
	uint8_t q[K], wq[2 * K];

	for (int j = 128; j < K; j++)
		x[j] = (float)(j - 200);
	for (int mode = 0; mode < 2; mode++) {
		LT_CHECK(t, quant_act_1x128(q, s, x, 1, K, mode) == 0, "%s", loom_err_msg());
		LT_CHECK(t, s[0] == 1.0f && s[1] != 1.0f, "scales %g %g", s[0], s[1]);
		dequant_act_1x128(deq, q, s, 1, K);
		for (int j = 0; j < 128; j++)
			LT_CHECK(t, q[j] == 0 && deq[j] == 0.0f, "[%d] code %#x deq %g", j, q[j], deq[j]);
		LT_CHECK(t, quant_weight_128x128(wq, ws, w, 2, K, mode) == 0, "%s", loom_err_msg());
		LT_CHECK(t, ws[0] == 1.0f && ws[1] == 1.0f, "weight scales %g %g", ws[0], ws[1]);
		for (int j = 0; j < 2 * K; j++)
			LT_CHECK(t, wq[j] == 0, "weight code [%d] %#x", j, wq[j]);
	}
}

/* The last tile's scale comes from its own elements only. */
static void test_partial_tiles(struct lt *t)
{
	enum { K = 130 };
	float x[K], s[2], deq[K], w[3 * 5], ws[1], wd[3 * 5];
	uint8_t q[K], wq[3 * 5];

	for (int j = 0; j < 128; j++)
		x[j] = 1000.0f;
	x[128] = 0.5f, x[129] = -3.5f;
	LT_CHECK(t, quant_act_1x128(q, s, x, 1, K, QUANT_SCALE_F32) == 0, "%s", loom_err_msg());
	LT_CHECK(t, s[1] == 3.5f / 448.0f, "partial tile scale %.9g", s[1]);
	dequant_act_1x128(deq, q, s, 1, K);
	LT_CHECK(t, q[129] == 0xfe && deq[129] == -3.5f, "-amax -> code %#x deq %.9g", q[129],
		 deq[129]);
	LT_CHECK(t, fabsf(deq[128] - 0.5f) <= round_trip_bound(0.5, s[1]), "deq %.9g", deq[128]);
	/* A 3 x 5 weight: one partial block in both directions; values k/4,
	 * |k| <= 7, so x / s = 64 k is exact in E4M3. */
	for (int i = 0; i < 15; i++)
		w[i] = (float)(i - 7) * 0.25f;
	LT_CHECK(t, quant_weight_128x128(wq, ws, w, 3, 5, QUANT_SCALE_POW2) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, ws[0] == 0x1p-8f, "3x5 block scale %g, want 2^-8 (amax 1.75 = 448 / 256)", ws[0]);
	dequant_weight_128x128(wd, wq, ws, 3, 5);
	for (int i = 0; i < 15; i++) /* multiples of 1/4 up to 2 are exact at 2^-8 */
		LT_CHECK(t, wd[i] == w[i], "[%d] %g -> %g", i, w[i], wd[i]);
}

/* quant.h: NaN tile -> NaN scale, all NaN; inf tile -> inf scale, finite
 * elements code 0 and inf elements NaN (so the tile dequantizes to NaN);
 * the neighbouring tile is unaffected. */
static void test_nan_inf_tiles(struct lt *t)
{
	enum { K = 384 };
	float x[K], s[3], deq[K];
	uint8_t q[K];

	for (int j = 0; j < K; j++)
		x[j] = (float)(j % 15) - 7.0f; /* amax 7: scale 2^-6, exact codes */
	x[5] = NAN;
	x[130] = -INFINITY;
	for (int mode = 0; mode < 2; mode++) {
		LT_CHECK(t, quant_act_1x128(q, s, x, 1, K, mode) == 0, "%s", loom_err_msg());
		dequant_act_1x128(deq, q, s, 1, K);
		LT_CHECK(t, isnan(s[0]) && isinf(s[1]) && isfinite(s[2]), "scales %g %g %g", s[0],
			 s[1], s[2]);
		for (int j = 0; j < 256; j++)
			LT_CHECK(t, isnan(deq[j]), "[%d] deq %g, want NaN", j, deq[j]);
		for (int j = 128; j < 256; j++)
			LT_CHECK(t, j == 130 ? q[j] == FP8_E4M3_NAN : (q[j] & 0x7f) == 0,
				 "[%d] code %#x", j, q[j]);
		for (int j = 256; j < K; j++)
			LT_CHECK(t, deq[j] == x[j], "[%d] %g -> %g", j, x[j], deq[j]);
	}
	/* Weights: a NaN in row 130 (second 128-row band), block column 1 makes
	 * that block's scale NaN and only that one. */
	enum { N = 140, KW = 256 };
	float *w = calloc(N * KW, sizeof(float)), ws[2 * 2];
	uint8_t *wq = malloc(N * KW);
	for (int i = 0; i < N * KW; i++)
		w[i] = (float)(i % 7) - 3.0f;
	w[130 * KW + 200] = NAN;
	LT_CHECK(t, quant_weight_128x128(wq, ws, w, N, KW, QUANT_SCALE_F32) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, isfinite(ws[0]) && isfinite(ws[1]) && isfinite(ws[2]) && isnan(ws[3]),
		 "weight scales %g %g %g %g", ws[0], ws[1], ws[2], ws[3]);
	free(w), free(wq);
}

/* Column-major, M padded to 4 with zeros; back again exactly. */
static void test_dg_layout(struct lt *t)
{
	int ms[] = { 5, 8, 1 }, k = 300, kbs = 3;

	for (size_t c = 0; c < LT_N(ms); c++) {
		int m = ms[c], ld = quant_dg_ld(m);
		float s[8 * 3], back[8 * 3], dg[8 * 3];

		bool ld_ok = ld == (m + 3) / 4 * 4 && ld % 4 == 0 && ld >= m;
		LT_CHECK(t, ld_ok, "ld(%d) = %d", m, ld);
		for (int i = 0; i < m * kbs; i++)
			s[i] = (float)(i + 1) * 0.5f;
		for (int i = 0; i < 8 * 3; i++)
			dg[i] = NAN;
		LT_CHECK(t, quant_act_scales_to_dg(dg, s, m, k) == 0, "%s", loom_err_msg());
		for (int kb = 0; kb < kbs; kb++)
			for (int i = 0; i < ld; i++)
				LT_CHECK(t, dg[kb * ld + i] == (i < m ? s[i * kbs + kb] : 0.0f),
					 "m=%d dg[%d][%d] = %g", m, kb, i, dg[kb * ld + i]);
		LT_CHECK(t, quant_act_scales_from_dg(back, dg, m, k) == 0, "%s", loom_err_msg());
		LT_CHECK(t, memcmp(back, s, sizeof(float) * m * kbs) == 0, "m=%d round trip", m);
	}
}

static void expect_einval(struct lt *t, int rc, const char *what)
{
	LT_CHECK(t, rc == -EINVAL && loom_err_msg()[0], "%s: rc %d msg '%s'", what, rc,
		 loom_err_msg());
}

static void test_bad_input(struct lt *t)
{
	float x[128] = { 0 }, s[4];
	uint8_t q[128];

	expect_einval(t, quant_act_1x128(NULL, s, x, 1, 128, 0), "act NULL q");
	expect_einval(t, quant_act_1x128(q, NULL, x, 1, 128, 0), "act NULL scales");
	expect_einval(t, quant_act_1x128(q, s, NULL, 1, 128, 0), "act NULL x");
	expect_einval(t, quant_act_1x128(q, s, x, 0, 128, 0), "act m=0");
	expect_einval(t, quant_act_1x128(q, s, x, 1, -128, 0), "act k<0");
	expect_einval(t, quant_act_1x128(q, s, x, 1, 128, 7), "act bad mode");
	expect_einval(t, dequant_act_1x128(x, q, NULL, 1, 128), "deq act NULL");
	expect_einval(t, dequant_act_1x128(x, q, s, -1, 128), "deq act m<0");
	expect_einval(t, quant_weight_128x128(q, s, NULL, 1, 128, 1), "weight NULL");
	expect_einval(t, quant_weight_128x128(q, s, x, 1, 0, 1), "weight k=0");
	expect_einval(t, quant_weight_128x128(q, s, x, 1, 128, -1), "weight bad mode");
	expect_einval(t, dequant_weight_128x128(NULL, q, s, 1, 128), "deq weight NULL");
	expect_einval(t, dequant_weight_128x128(x, q, s, 0, 128), "deq weight n=0");
	expect_einval(t, quant_act_scales_to_dg(NULL, s, 1, 128), "to_dg NULL");
	expect_einval(t, quant_act_scales_to_dg(x, s, 0, 128), "to_dg m=0");
	expect_einval(t, quant_act_scales_from_dg(s, NULL, 1, 128), "from_dg NULL");
	expect_einval(t, quant_act_scales_from_dg(s, x, 1, -5), "from_dg k<0");
}

/*
 * Sizes near INT_MAX (a 2^31-element row is 8 GiB of floats: large, not
 * absurd).  quant_blocks() must not overflow (len + 127 would: the row
 * would then get a negative block count and be silently left alone), and
 * DeepGEMM's padded leading dimension of m > INT_MAX - 3 is not an int,
 * so the layout transforms refuse such m before touching memory.
 * volatile keeps the compiler from folding the calls at build time.
 */
static void test_huge_sizes(struct lt *t)
{
	volatile int big = INT_MAX;
	float dst[4] = { 7, 7, 7, 7 }, s[4] = { 1, 1, 1, 1 };

	LT_CHECK(t, quant_blocks(big) == 16777216, "quant_blocks(INT_MAX) = %d", quant_blocks(big));
	/* INT_MAX - 127 = 2^31 - 128 = 16777215 * 128 exactly; one more is a new block */
	LT_CHECK(t, quant_blocks(big - 126) == 16777216 && quant_blocks(big - 127) == 16777215,
		 "quant_blocks(INT_MAX - 126 / - 127) = %d / %d", quant_blocks(big - 126),
		 quant_blocks(big - 127));
	LT_CHECK(t, quant_blocks(1) == 1 && quant_blocks(128) == 1 && quant_blocks(129) == 2 &&
		     quant_blocks(0) == 0,
		 "small sizes");
	LT_CHECK(t, quant_dg_ld(big - 3) == INT_MAX - 3, "quant_dg_ld(INT_MAX - 3)");
	expect_einval(t, quant_act_scales_to_dg(dst, s, big, 128), "to_dg m=INT_MAX");
	expect_einval(t, quant_act_scales_from_dg(dst, s, big - 2, 128), "from_dg m=INT_MAX-2");
	LT_CHECK(t, dst[0] == 7 && dst[3] == 7, "output written");
}

static const struct lt_case cases[] = {
	LT_CASE(test_scale_for_amax),
	LT_CASE(test_act_round_trip_f32),
	LT_CASE(test_act_round_trip_pow2),
	LT_CASE(test_weight_round_trip_f32),
	LT_CASE(test_weight_round_trip_pow2),
	LT_CASE(test_division_not_reciprocal),
	LT_CASE(test_tiny_tiles),
	LT_CASE(test_zero_tiles),
	LT_CASE(test_partial_tiles),
	LT_CASE(test_nan_inf_tiles),
	LT_CASE(test_dg_layout),
	LT_CASE(test_bad_input),
	LT_CASE(test_huge_sizes),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

/*
 * quant.c - fine-grained E4M3 quantization (contract in include/loom/quant.h):
 * 1x128 activation tiles, 128x128 weight blocks, their dequantization and
 * DeepGEMM's column-major activation-scale layout (REFERENCE.md §1, §6).
 *
 * A tile is quantized as q = e4m3(x / s) with saturation, s from
 * quant_scale_for_amax().  Not here: E5M2, delayed scaling, or any GEMM.
 *
 * amax is taken over the float bit patterns with the sign cleared: for
 * non-negative floats integer order is numeric order, and every NaN pattern
 * is above +inf, so a NaN anywhere in a tile makes its amax NaN (fmaxf would
 * silently drop it) and the loop vectorizes.
 */
#include "loom/quant.h"

#include "loom/err.h"
#include "loom/fp8.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

static float tile_amax(const float *x, int len)
{
	uint32_t mx = 0;

	for (int i = 0; i < len; i++) {
		uint32_t u;

		memcpy(&u, &x[i], sizeof(u));
		u &= 0x7fffffffu;
		mx = u > mx ? u : mx;
	}
	float r;
	memcpy(&r, &mx, sizeof(r));
	return r;
}

/*
 * Smallest power of two p with amax <= 448 p.  ue8m0_from_f32() rounds the
 * FP32 quotient amax / 448 up to a power of two, but that quotient was itself
 * rounded to nearest and may land on a power of two from just above: not for
 * normal quotients (the float after 448 2^j exceeds it by 2^-23 / 1.75 > 2^-24
 * relative), but for subnormal ones (amax just above 448 2^-127 gives exactly
 * 2^-127).  The exact check (448 p is exact) catches that case.
 */
static float pow2_scale(float amax)
{
	uint8_t e = ue8m0_from_f32(amax / FP8_E4M3_MAX);
	float s = ue8m0_to_f32(e);

	if ((double)amax > (double)FP8_E4M3_MAX * s && e < 254)
		s = ue8m0_to_f32((uint8_t)(e + 1));
	return s;
}

/*
 * amax == 0: 1.  NaN or amax < 0: NaN.  inf: inf.  FP32 mode gives
 * amax / 448 while that is a normal float; below FLT_MIN (amax < ~2^-117)
 * the quotient would lose bits or underflow to 0, so such tiny tiles take
 * the POW2 scale in both modes (exact, and nothing overflows).
 */
float quant_scale_for_amax(float amax, enum quant_scale_mode mode)
{
	float s;

	if (amax == 0.0f)
		return 1.0f;
	if (!(amax > 0.0f))
		return NAN;
	if (isinf(amax))
		return INFINITY;
	if (mode == QUANT_SCALE_F32) {
		s = amax / FP8_E4M3_MAX;
		if (s >= FLT_MIN)
			return s;
	}
	return pow2_scale(amax);
}

/* q[0..len) = e4m3(x[i] / s), saturating. */
static void quant_row(uint8_t *q, const float *x, int len, float s)
{
	float y[QUANT_TILE];

	for (int i = 0; i < len; i++)
		y[i] = x[i] / s;
	fp8_e4m3_from_f32_n(q, y, (size_t)len, true);
}

/* x[0..len) = e4m3_to_f32(q[i]) * s. */
static void dequant_row(float *x, const uint8_t *q, int len, float s)
{
	fp8_e4m3_to_f32_n(x, q, (size_t)len);
	for (int i = 0; i < len; i++)
		x[i] *= s;
}

static int check_args(const char *fn, const void *out, const void *scales, const void *in,
		      int rows, int k)
{
	if (!out || !scales || !in)
		return loom_err_set(EINVAL, "quant: %s: NULL pointer", fn);
	if (rows <= 0 || k <= 0)
		return loom_err_set(EINVAL, "quant: %s: sizes %d x %d must be > 0", fn, rows, k);
	return 0;
}

/* The DeepGEMM transforms' checks: quant_dg_ld(m) must be an int too. */
static int check_dg_args(const char *fn, const void *out, const void *in, int m, int k)
{
	int rc = check_args(fn, out, in, in, m, k);

	if (!rc && m > INT_MAX - 3)
		rc = loom_err_set(EINVAL, "quant: %s: m=%d too large for the padded layout", fn, m);
	return rc;
}

static int tile_len(int k, int kb)
{
	int left = k - kb * QUANT_TILE;

	return left < QUANT_TILE ? left : QUANT_TILE;
}

int quant_act_1x128(uint8_t *q, float *scales, const float *x, int m, int k,
		    enum quant_scale_mode mode)
{
	int kbs = quant_blocks(k);
	int rc = check_args("quant_act_1x128", q, scales, x, m, k);

	if (rc)
		return rc;
	if (mode != QUANT_SCALE_F32 && mode != QUANT_SCALE_POW2)
		return loom_err_set(EINVAL, "quant: quant_act_1x128: bad scale mode %d", (int)mode);
	for (int i = 0; i < m; i++) {
		for (int kb = 0; kb < kbs; kb++) {
			size_t off = (size_t)i * k + (size_t)kb * QUANT_TILE;
			int len = tile_len(k, kb);
			float s = quant_scale_for_amax(tile_amax(x + off, len), mode);

			scales[(size_t)i * kbs + kb] = s;
			quant_row(q + off, x + off, len, s);
		}
	}
	return 0;
}

int dequant_act_1x128(float *x, const uint8_t *q, const float *scales, int m, int k)
{
	int kbs = quant_blocks(k);
	int rc = check_args("dequant_act_1x128", x, scales, q, m, k);

	if (rc)
		return rc;
	for (int i = 0; i < m; i++) {
		for (int kb = 0; kb < kbs; kb++) {
			size_t off = (size_t)i * k + (size_t)kb * QUANT_TILE;

			dequant_row(x + off, q + off, tile_len(k, kb), scales[(size_t)i * kbs + kb]);
		}
	}
	return 0;
}

/*
 * One 128-row band of weights: the band's KB amaxes are gathered row by row
 * into its scale row (no scratch memory), turned into scales, then each row
 * segment is quantized.
 */
static void quant_weight_band(uint8_t *q, float *srow, const float *w, int rows, int k,
			      enum quant_scale_mode mode)
{
	int kbs = quant_blocks(k);

	for (int kb = 0; kb < kbs; kb++)
		srow[kb] = 0.0f;
	for (int r = 0; r < rows; r++) {
		for (int kb = 0; kb < kbs; kb++) {
			float a = tile_amax(w + (size_t)r * k + (size_t)kb * QUANT_TILE, tile_len(k, kb));
			float both[2] = { srow[kb], a };

			srow[kb] = tile_amax(both, 2);
		}
	}
	for (int kb = 0; kb < kbs; kb++)
		srow[kb] = quant_scale_for_amax(srow[kb], mode);
	for (int r = 0; r < rows; r++) {
		for (int kb = 0; kb < kbs; kb++) {
			size_t off = (size_t)r * k + (size_t)kb * QUANT_TILE;

			quant_row(q + off, w + off, tile_len(k, kb), srow[kb]);
		}
	}
}

int quant_weight_128x128(uint8_t *q, float *scales, const float *w, int n, int k,
			 enum quant_scale_mode mode)
{
	int kbs = quant_blocks(k);
	int rc = check_args("quant_weight_128x128", q, scales, w, n, k);

	if (rc)
		return rc;
	if (mode != QUANT_SCALE_F32 && mode != QUANT_SCALE_POW2)
		return loom_err_set(EINVAL, "quant: quant_weight_128x128: bad scale mode %d",
				    (int)mode);
	for (int nb = 0; nb < quant_blocks(n); nb++) {
		int r0 = nb * QUANT_TILE;
		size_t off = (size_t)r0 * k;

		quant_weight_band(q + off, scales + (size_t)nb * kbs, w + off, tile_len(n, nb), k,
				  mode);
	}
	return 0;
}

int dequant_weight_128x128(float *w, const uint8_t *q, const float *scales, int n, int k)
{
	int kbs = quant_blocks(k);
	int rc = check_args("dequant_weight_128x128", w, scales, q, n, k);

	if (rc)
		return rc;
	for (int r = 0; r < n; r++) {
		const float *srow = scales + (size_t)(r / QUANT_TILE) * kbs;

		for (int kb = 0; kb < kbs; kb++) {
			size_t off = (size_t)r * k + (size_t)kb * QUANT_TILE;

			dequant_row(w + off, q + off, tile_len(k, kb), srow[kb]);
		}
	}
	return 0;
}

/* (M, KB) row-major <-> KB columns of quant_dg_ld(M) floats, padding 0. */
int quant_act_scales_to_dg(float *dst, const float *scales, int m, int k)
{
	int kbs = quant_blocks(k), ld;
	int rc = check_dg_args("quant_act_scales_to_dg", dst, scales, m, k);

	if (rc)
		return rc;
	ld = quant_dg_ld(m);
	for (int kb = 0; kb < kbs; kb++) {
		float *col = dst + (size_t)kb * ld;

		for (int i = 0; i < m; i++)
			col[i] = scales[(size_t)i * kbs + kb];
		for (int i = m; i < ld; i++)
			col[i] = 0.0f;
	}
	return 0;
}

int quant_act_scales_from_dg(float *scales, const float *dst, int m, int k)
{
	int kbs = quant_blocks(k), ld;
	int rc = check_dg_args("quant_act_scales_from_dg", scales, dst, m, k);

	if (rc)
		return rc;
	ld = quant_dg_ld(m);
	for (int kb = 0; kb < kbs; kb++)
		for (int i = 0; i < m; i++)
			scales[(size_t)i * kbs + kb] = dst[(size_t)kb * ld + i];
	return 0;
}

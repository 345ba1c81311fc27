/*
 * nn_fp8_gemm.c - the FP8 GEMM of the training path: gemm_fp8_nt's model (a)
 * (GEMM_ACCUM_FP32, include/loom/gemm.h), bit for bit, register-blocked.
 *
 * Model (a), per output (i, j): for each 128-wide K block, p = the block's
 * 128 products added in k order from 0 in FP32; then acc = acc + (sa * sb)
 * * p with each operation rounded (sa * sb, the product, the sum).  The
 * reference (kernels/gemm_fp8.c) vectorizes across 16 columns with one
 * partial sum per row in flight, so it is bound by the add latency; here an
 * 8 x 32 tile of partial sums stays in registers (16 AVX-512 accumulators)
 * and the same k-ordered sums are formed for 256 outputs at once.  The
 * products of two E4M3 values are exact in FP32 (4 x 4 significant bits,
 * magnitudes 2^-18 .. 448^2), so a fused multiply-add rounds exactly as the
 * reference's separate multiply and add; the scale step is a separate
 * multiply and add, as in the reference.  Tiles and padding (zero rows and
 * columns, discarded) change no output's summation order, so results equal
 * gemm_fp8_nt's bit for bit (tests/workloads/test_nn_linear.c checks it).
 *
 * Not here: BF16 output, the Hopper model, threading.  Allocates its packed
 * (dequantized) operands per call: (N + min(M, 96)) x K floats.
 */
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/gemm.h"
#include "loom/quant.h"

#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define FG_KB QUANT_TILE /* scale block along K */
#define FG_MR 8		 /* rows of a register tile */
#define FG_NR 32	 /* columns of a register tile; divides 128 */
#define FG_MC 96	 /* rows of A dequantized at once */

/* What the tile loops share. */
struct fg_ctx {
	const struct gemm_fp8_args *g;
	int kbs;	    /* K / 128 */
	const float *pa;    /* A rows [i0, i0 + mc): FG_MR-row slivers, (K, FG_MR) each */
	const float *pb;    /* all of B: FG_NR-column slivers, (K, FG_NR) each */
	float lut[256];	    /* E4M3 code -> value */
};

/* Dequantize op rows [r0, r0 + rows) of x (ld K) into w-wide slivers, k-major,
 * zero-padded to a multiple of w rows. */
static void fg_pack(float *dst, const uint8_t *x, int r0, int rows, int k, int w,
		    const float *lut)
{
	for (int s = 0; s < rows; s += w)
		for (int p = 0; p < k; p++)
			for (int r = 0; r < w; r++)
				*dst++ = s + r < rows ? lut[x[(size_t)(r0 + s + r) * k + p]] : 0.0f;
}

#if defined(__AVX512F__)
/* p (FG_MR, FG_NR) = the k-ordered sums over one 128-deep block of a x b. */
static void fg_block(const float *a, const float *b, float p[FG_MR][FG_NR])
{
	__m512 c[FG_MR][2];

	for (int i = 0; i < FG_MR; i++)
		c[i][0] = c[i][1] = _mm512_setzero_ps();
	for (int kk = 0; kk < FG_KB; kk++, a += FG_MR, b += FG_NR) {
		__m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);

		for (int i = 0; i < FG_MR; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);

			c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]); /* exact product: = mul, add */
			c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
		}
	}
	for (int i = 0; i < FG_MR; i++) {
		_mm512_storeu_ps(p[i], c[i][0]);
		_mm512_storeu_ps(p[i] + 16, c[i][1]);
	}
}
#else
static void fg_block(const float *a, const float *b, float p[FG_MR][FG_NR])
{
	memset(p, 0, sizeof(float) * FG_MR * FG_NR);
	for (int kk = 0; kk < FG_KB; kk++, a += FG_MR, b += FG_NR)
		for (int i = 0; i < FG_MR; i++)
			for (int j = 0; j < FG_NR; j++)
				p[i][j] += a[i] * b[j];
}
#endif

/* One FG_MR x FG_NR tile at rows i (mr valid), columns j (nr valid);
 * a, b: the tile's slivers. */
static void fg_tile(const struct fg_ctx *cx, const float *a, const float *b, int i, int mr,
		    int j, int nr)
{
	const struct gemm_fp8_args *g = cx->g;
	float acc[FG_MR][FG_NR] = { { 0 } }, p[FG_MR][FG_NR];
	const float *sb = g->b_scales + (size_t)(j / FG_KB) * cx->kbs;

	for (int kb = 0; kb < cx->kbs; kb++) {
		fg_block(a + (size_t)kb * FG_KB * FG_MR, b + (size_t)kb * FG_KB * FG_NR, p);
		for (int r = 0; r < mr; r++) {
			float c = g->a_scales[(size_t)(i + r) * cx->kbs + kb] * sb[kb];

			for (int jj = 0; jj < FG_NR; jj++)
				acc[r][jj] = acc[r][jj] + c * p[r][jj];
		}
	}
	for (int r = 0; r < mr; r++)
		memcpy(g->d_f32 + (size_t)(i + r) * g->n + j, acc[r], (size_t)nr * sizeof(float));
}

/* Rows [i0, i0 + mc) of D, A's rows already packed in cx->pa. */
static void fg_rows(const struct fg_ctx *cx, int i0, int mc)
{
	const struct gemm_fp8_args *g = cx->g;
	size_t k = (size_t)g->k;

	for (int j = 0; j < g->n; j += FG_NR)
		for (int i = 0; i < mc; i += FG_MR)
			fg_tile(cx, cx->pa + (size_t)i * k, cx->pb + (size_t)j * k, i0 + i,
				mc - i < FG_MR ? mc - i : FG_MR, j,
				g->n - j < FG_NR ? g->n - j : FG_NR);
}

static size_t round_up(int x, int to) { return (size_t)(x + to - 1) / to * to; }

int nn_fp8_gemm_a(const struct gemm_fp8_args *g)
{
	struct fg_ctx cx;
	float *pa, *pb;
	int rc = gemm_fp8_args_check(g);

	if (rc)
		return rc;
	if (!g->d_f32 || g->accum.kind != GEMM_ACCUM_FP32)
		return gemm_fp8_nt(g); /* not the training path's case: the reference */
	pa = aligned_alloc(64, round_up(g->m < FG_MC ? g->m : FG_MC, FG_MR) * g->k * sizeof(float));
	pb = aligned_alloc(64, round_up(g->n, FG_NR) * g->k * sizeof(float));
	if (!pa || !pb) {
		free(pa);
		free(pb);
		return loom_err_set(ENOMEM, "nn_fp8_gemm: packing %d x %d and %d x %d", g->m, g->k,
				    g->n, g->k);
	}
	cx.g = g;
	cx.kbs = g->k / FG_KB;
	cx.pa = pa;
	cx.pb = pb;
	for (int v = 0; v < 256; v++)
		cx.lut[v] = fp8_e4m3_to_f32((uint8_t)v);
	fg_pack(pb, g->b, 0, g->n, g->k, FG_NR, cx.lut);
	for (int i0 = 0; i0 < g->m; i0 += FG_MC) {
		int mc = g->m - i0 < FG_MC ? g->m - i0 : FG_MC;

		fg_pack(pa, g->a, i0, mc, g->k, FG_MR, cx.lut);
		fg_rows(&cx, i0, mc);
	}
	free(pa);
	free(pb);
	return 0;
}

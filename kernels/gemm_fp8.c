/*
 * gemm_fp8.c - the CPU reference FP8 "NT" GEMM (contract in include/loom/gemm.h):
 *
 *   D[m, n] = sum_k (A[m, k] sa[m, k/128]) (B[n, k] sb[n/128, k/128])
 *
 * with A, B in E4M3 and one of three accumulator models.  This is the oracle
 * the CUDA kernels and RTL engines are tested against, so every model's
 * rounding is spelled out and followed exactly; speed comes from vectorizing
 * across 16 output columns at a time, which leaves each column's summation
 * order untouched.  Not here: threading, E5M2 operands, transposed layouts.
 *
 * Products of two E4M3 values are exact in FP32 (4 x 4 significant bits,
 * magnitudes in [2^-18, 448^2]), so "sum the products" never rounds them.
 *
 * (a) GEMM_ACCUM_FP32.  Per 128-wide K block: p = sum of the block's 128
 *     products, added in FP32 in k order starting from 0; then
 *     acc = acc + (sa * sb) * p, each operation rounded to FP32, acc starting
 *     at 0, blocks in k order.  (DeepGEMM's promotion step with an exact FP32
 *     adder standing in for the tensor core.)
 *
 * (b) GEMM_ACCUM_HOPPER, the Hopper FP8 tensor-core accumulator of
 *     REFERENCE.md §1 ([P]: "aligned to the largest exponent, only the highest
 *     13 fraction bits kept (truncation)", an "FP22" register; [T]: promotion
 *     to FP32 every N_C = 128 elements).  With F = frac_bits:
 *       - K is walked in groups of 32 products (one WGMMA K-step), in k order.
 *       - For a group, E = floor(log2) of the largest magnitude among its 32
 *         products and the running partial sum P (zeros ignored).  Every one
 *         of those 33 values is truncated toward zero to a multiple of
 *         2^(E - F) (F fraction bits below the leading bit at E), and the
 *         truncated values are added exactly.
 *       - The sum is stored back into the accumulator register, which holds
 *         F fraction bits: it is truncated toward zero to F bits below its own
 *         leading bit (this matters only when the add carried past 2^(E+1)).
 *       - After the group ending at element k, if k is a multiple of N_C or
 *         k = K, P is promoted: acc = acc + c * P in FP32 (acc starts at 0;
 *         P has at most F + 1 <= 24 significant bits, so it is an exact
 *         float), and P is reset to 0.  N_C = 0 or N_C >= K: only at k = K.
 *       - Scales: when 128 % N_C == 0 every promotion interval lies inside
 *         one scale block; products are unscaled and c = sa * sb (FP32) of
 *         that block, as in (a).  Otherwise each product is first multiplied
 *         in FP32 by its block's sa * sb (exact for POW2 scales) and c = 1.
 *     With F = 23, N_C = 32 this differs from (a) only by truncation instead
 *     of rounding inside each group.  Implementation: every value involved is
 *     an FP32 number (<= 24 bits) or a sum of 33 numbers of <= 24 bits on a
 *     common grid, so the model is computed exactly in double: x * 2^(F - E)
 *     is exact, trunc() drops the bits below the grid, and the integer-valued
 *     sums (< 2^30) are exact.
 *
 * Non-finite inputs: a NaN code in A or B (0x7f / 0xff), or a NaN scale,
 * gives NaN in every output element it reaches, in all three models
 * (inf scales give inf or NaN).  No model raises an error for them.
 *
 * GEMM_ACCUM_FAST dequantizes A and B to FP32 (allocating M x K + N x K
 * floats, plus M x N for BF16 output) and calls gemm_f32.
 */
#include "loom/gemm.h"

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KBLK QUANT_TILE	 /* scale block along K */
#define GROUP 32	 /* products per tensor-core K-step, model (b) */
#define JT 16		 /* output columns per tile; divides 128 */
#define IB 32		 /* output rows per band */

/* What every model needs besides the arguments. */
struct gemm_ctx {
	const struct gemm_fp8_args *g;
	int kbs;	    /* K / 128 */
	int nc;		    /* model (b): effective promotion interval, in elements */
	int scale_products; /* model (b): scales applied per product (N_C spans blocks) */
	float lut[256];	    /* E4M3 code -> value */
};

/* ---- validation ---------------------------------------------------------- */

static int check_accum(const struct gemm_accum *ac)
{
	switch (ac->kind) {
	case GEMM_ACCUM_FP32:
	case GEMM_ACCUM_FAST:
		return 0;
	case GEMM_ACCUM_HOPPER:
		if (ac->frac_bits < 1 || ac->frac_bits > 23)
			return loom_err_set(EINVAL, "gemm: frac_bits=%d must be in 1..23",
					    ac->frac_bits);
		if (ac->promote_every < 0 || ac->promote_every % GROUP)
			return loom_err_set(EINVAL,
					    "gemm: promote_every=%d must be 0 or a positive multiple of 32",
					    ac->promote_every);
		return 0;
	}
	return loom_err_set(EINVAL, "gemm: unknown accumulator model %d", (int)ac->kind);
}

int gemm_fp8_args_check(const struct gemm_fp8_args *g)
{
	if (!g)
		return loom_err_set(EINVAL, "gemm: NULL args");
	if (g->m <= 0 || g->n <= 0 || g->k <= 0)
		return loom_err_set(EINVAL, "gemm: m=%d n=%d k=%d must be > 0", g->m, g->n, g->k);
	if (g->k % KBLK)
		return loom_err_set(EINVAL, "gemm: k=%d is not a multiple of 128", g->k);
	if (!g->a || !g->a_scales || !g->b || !g->b_scales)
		return loom_err_set(EINVAL, "gemm: NULL operand or scale pointer");
	if (!g->d_f32 == !g->d_bf16)
		return loom_err_set(EINVAL, "gemm: exactly one of d_f32 / d_bf16 must be set");
	return check_accum(&g->accum);
}

/* ---- shared tile helpers ------------------------------------------------- */

/* bt[kk][jj] = B[j0 + jj, kb * 128 + kk] as floats, 0 past column jn. */
static void load_b_tile(float bt[KBLK][JT], const struct gemm_ctx *cx, int j0, int jn, int kb)
{
	const struct gemm_fp8_args *g = cx->g;

	for (int jj = 0; jj < jn; jj++) {
		const uint8_t *br = g->b + (size_t)(j0 + jj) * g->k + (size_t)kb * KBLK;

		for (int kk = 0; kk < KBLK; kk++)
			bt[kk][jj] = cx->lut[br[kk]];
	}
	for (int jj = jn; jj < JT; jj++)
		for (int kk = 0; kk < KBLK; kk++)
			bt[kk][jj] = 0.0f;
}

/* c = sa[i, kb] * sb[j0 / 128, kb] (FP32). */
static float block_scale(const struct gemm_ctx *cx, int i, int j0, int kb)
{
	const struct gemm_fp8_args *g = cx->g;

	return g->a_scales[(size_t)i * cx->kbs + kb] *
	       g->b_scales[(size_t)(j0 / KBLK) * cx->kbs + kb];
}

static void store_band(const struct gemm_ctx *cx, float acc[IB][JT], int i0, int ib, int j0,
		       int jn)
{
	const struct gemm_fp8_args *g = cx->g;

	for (int r = 0; r < ib; r++) {
		size_t off = (size_t)(i0 + r) * g->n + j0;

		if (g->d_f32)
			memcpy(g->d_f32 + off, acc[r], (size_t)jn * sizeof(float));
		else
			bf16_from_f32_n(g->d_bf16 + off, acc[r], (size_t)jn);
	}
}

/* ---- model (a): FP32 ----------------------------------------------------- */

/* p[jj] = sum over the block's 128 k of a[k] * bt[k][jj], FP32, k order. */
static void fp32_block_dot(float p[JT], const float *lut, const uint8_t *ar,
			   float bt[KBLK][JT])
{
	for (int jj = 0; jj < JT; jj++)
		p[jj] = 0.0f;
	for (int kk = 0; kk < KBLK; kk++) {
		float av = lut[ar[kk]];

		for (int jj = 0; jj < JT; jj++)
			p[jj] += av * bt[kk][jj];
	}
}

static void fp32_band(const struct gemm_ctx *cx, int i0, int ib, int j0, int jn)
{
	const struct gemm_fp8_args *g = cx->g;
	float acc[IB][JT] = { { 0 } }, bt[KBLK][JT], p[JT];

	for (int kb = 0; kb < cx->kbs; kb++) {
		load_b_tile(bt, cx, j0, jn, kb);
		for (int r = 0; r < ib; r++) {
			const uint8_t *ar = g->a + (size_t)(i0 + r) * g->k + (size_t)kb * KBLK;
			float c = block_scale(cx, i0 + r, j0, kb);

			fp32_block_dot(p, cx->lut, ar, bt);
			for (int jj = 0; jj < JT; jj++)
				acc[r][jj] += c * p[jj];
		}
	}
	store_band(cx, acc, i0, ib, j0, jn);
}

/* ---- model (b): Hopper --------------------------------------------------- */

static inline double pow2_f64(int e) /* 2^e, e in the normal double range */
{
	uint64_t u = (uint64_t)(e + 1023) << 52;
	double x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* floor(log2 x) for finite x > 0 (always a normal double here); 0 for 0,
 * inf or NaN, whose grid does not matter (the sum is 0, inf or NaN). */
static inline int exp_f64(double x)
{
	uint64_t u;

	memcpy(&u, &x, sizeof(u));
	int e = (int)((u >> 52) & 0x7ff);
	return e == 0 || e == 0x7ff ? 0 : e - 1023;
}

/* x truncated toward zero to f bits below its own leading bit. */
static inline double trunc_to_bits(double x, int f)
{
	int l = exp_f64(fabs(x));

	return trunc(x * pow2_f64(f - l)) * pow2_f64(l - f);
}

/*
 * One tensor-core K-step for JT columns: p[jj] is the FP22-like partial sum,
 * pr[kk][jj] the 32 products (exact doubles).  See the opening comment.
 */
static void hopper_group(double p[JT], double pr[GROUP][JT], int f)
{
	double mx[JT], sc[JT], s[JT];

	for (int jj = 0; jj < JT; jj++)
		mx[jj] = fabs(p[jj]);
	for (int kk = 0; kk < GROUP; kk++)
		for (int jj = 0; jj < JT; jj++) {
			double v = fabs(pr[kk][jj]);

			mx[jj] = v > mx[jj] ? v : mx[jj];
		}
	for (int jj = 0; jj < JT; jj++) {
		sc[jj] = pow2_f64(f - exp_f64(mx[jj]));
		s[jj] = trunc(p[jj] * sc[jj]);
	}
	for (int kk = 0; kk < GROUP; kk++)
		for (int jj = 0; jj < JT; jj++)
			s[jj] += trunc(pr[kk][jj] * sc[jj]);
	for (int jj = 0; jj < JT; jj++)
		p[jj] = trunc_to_bits(s[jj] / sc[jj], f);
}

/* pr[kk][jj] = a[k0 + kk] * B[j, k0 + kk], times c in FP32 when scaled. */
static void hopper_products(double pr[GROUP][JT], const struct gemm_ctx *cx, const uint8_t *ar,
			    float bt[][JT], float c)
{
	for (int kk = 0; kk < GROUP; kk++) {
		float av = cx->lut[ar[kk]];

		for (int jj = 0; jj < JT; jj++) {
			float prod = av * bt[kk][jj];

			pr[kk][jj] = cx->scale_products ? (double)(prod * c) : (double)prod;
		}
	}
}

/* Row r of a band through one 128-wide K block: 4 groups, promotions. */
static void hopper_row_block(const struct gemm_ctx *cx, double p[JT], float acc[JT],
			     const uint8_t *ar, float bt[KBLK][JT], float c, int kb)
{
	double pr[GROUP][JT];
	float cp = cx->scale_products ? 1.0f : c;

	for (int g0 = 0; g0 < KBLK; g0 += GROUP) {
		int kend = kb * KBLK + g0 + GROUP;

		hopper_products(pr, cx, ar + g0, bt + g0, c);
		hopper_group(p, pr, cx->g->accum.frac_bits);
		if (kend % cx->nc == 0 || kend == cx->g->k) {
			for (int jj = 0; jj < JT; jj++) {
				acc[jj] += cp * (float)p[jj];
				p[jj] = 0.0;
			}
		}
	}
}

static void hopper_band(const struct gemm_ctx *cx, int i0, int ib, int j0, int jn)
{
	const struct gemm_fp8_args *g = cx->g;
	float acc[IB][JT] = { { 0 } }, bt[KBLK][JT];
	double p[IB][JT] = { { 0 } };

	for (int kb = 0; kb < cx->kbs; kb++) {
		load_b_tile(bt, cx, j0, jn, kb);
		for (int r = 0; r < ib; r++) {
			const uint8_t *ar = g->a + (size_t)(i0 + r) * g->k + (size_t)kb * KBLK;

			hopper_row_block(cx, p[r], acc[r], ar, bt, block_scale(cx, i0 + r, j0, kb),
					 kb);
		}
	}
	store_band(cx, acc, i0, ib, j0, jn);
}

/* ---- model FAST: dequantize, then gemm_f32 ------------------------------- */

static int fast_gemm(const struct gemm_fp8_args *g)
{
	size_t mk = (size_t)g->m * g->k, nk = (size_t)g->n * g->k, mn = (size_t)g->m * g->n;
	float *ad = malloc(mk * sizeof(float)), *bd = malloc(nk * sizeof(float));
	float *d = g->d_f32 ? g->d_f32 : malloc(mn * sizeof(float));
	int rc = -ENOMEM;

	if (!ad || !bd || !d) {
		loom_err_set(ENOMEM, "gemm: fast: cannot allocate %zu floats", mk + nk + mn);
		goto err_free;
	}
	rc = dequant_act_1x128(ad, g->a, g->a_scales, g->m, g->k);
	if (!rc)
		rc = dequant_weight_128x128(bd, g->b, g->b_scales, g->n, g->k);
	if (!rc)
		rc = gemm_f32(0, 1, g->m, g->n, g->k, 1.0f, ad, bd, 0.0f, d);
	if (!rc && g->d_bf16)
		bf16_from_f32_n(g->d_bf16, d, mn);
err_free:
	if (d != g->d_f32)
		free(d);
	free(bd);
	free(ad);
	return rc;
}

/* ---- entry --------------------------------------------------------------- */

static void ctx_init(struct gemm_ctx *cx, const struct gemm_fp8_args *g)
{
	int nc = g->accum.promote_every;

	cx->g = g;
	cx->kbs = g->k / KBLK;
	cx->nc = nc == 0 || nc > g->k ? g->k : nc;
	cx->scale_products = KBLK % cx->nc != 0;
	for (int v = 0; v < 256; v++)
		cx->lut[v] = fp8_e4m3_to_f32((uint8_t)v);
}

int gemm_fp8_nt(const struct gemm_fp8_args *args)
{
	struct gemm_ctx cx;
	int rc = gemm_fp8_args_check(args);

	if (rc)
		return rc;
	if (args->accum.kind == GEMM_ACCUM_FAST)
		return fast_gemm(args);
	ctx_init(&cx, args);
	for (int j0 = 0; j0 < args->n; j0 += JT) {
		int jn = args->n - j0 < JT ? args->n - j0 : JT;

		for (int i0 = 0; i0 < args->m; i0 += IB) {
			int ib = args->m - i0 < IB ? args->m - i0 : IB;

			if (args->accum.kind == GEMM_ACCUM_FP32)
				fp32_band(&cx, i0, ib, j0, jn);
			else
				hopper_band(&cx, i0, ib, j0, jn);
		}
	}
	return 0;
}

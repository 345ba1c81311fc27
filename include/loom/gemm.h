/*
 * gemm.h - CPU reference GEMMs: FP8 "NT" with fine-grained scales and a
 * pluggable accumulator model, grouped (MoE) variants, and the FP32 GEMM the
 * live workload uses.
 *
 *   D[m, n] = sum_k A[m, k] * B[n, k]   ("NT": both operands K-major)
 *
 * A is e4m3 (M, K) with 1x128 scales (M, KB); B is e4m3 (N, K) with 128x128
 * scales (NB, KB) (layouts of quant.h).  D is FP32 or BF16 (M, N) row-major.
 *
 * Accumulator models (struct gemm_accum):
 *  GEMM_ACCUM_FP32 (a): for each 128-wide K block, the block's products are
 *     summed in FP32 in k order, then multiplied by sa * sb and added to an
 *     FP32 accumulator (what DeepGEMM does after promotion, with exact FP32
 *     adds standing in for the tensor core).
 *  GEMM_ACCUM_HOPPER (b): the Hopper tensor-core model of [P]/[T]: products
 *     are taken in groups of 32 (one WGMMA K-step); each group and the running
 *     partial sum are aligned to the largest exponent among them and truncated
 *     (toward zero) to `frac_bits` fraction bits below that exponent, then
 *     added exactly, and the sum is kept (truncated) to `frac_bits` bits
 *     below its own leading bit, like the FP22 register of [P] (see
 *     kernels/gemm_fp8.c); every `promote_every` (N_C) elements, and after
 *     the last, the partial sum is promoted:
 *     added to an FP32 accumulator and reset.  promote_every = K (or 0) means
 *     never.  Scales are applied at promotion when a promotion interval lies
 *     inside one 128-wide scale block (N_C <= 128, N_C | 128); when an interval
 *     spans blocks (128 % N_C != 0: N_C > 128, or 96) each product is
 *     multiplied by its block's sa * sb in FP32 first (exact for POW2 scales).
 *     frac_bits in 1..23 (13 = Hopper's "FP22"); promote_every a positive
 *     multiple of 32 (or 0 for never).
 *  GEMM_ACCUM_FAST: the training path.  Dequantize A and B tiles to FP32 and
 *     multiply with an FP32 GEMM (gemm_f32); summation order is the GEMM
 *     library's, so results agree with (a) within FP32 rounding of a K-long
 *     sum (bound stated in the tests), not bit for bit.  Allocates the
 *     dequantized A and B (and an FP32 D for BF16 output): -ENOMEM.
 *
 * Errors: -EINVAL with loom_err_msg() set for NULL pointers, sizes <= 0,
 * K not a multiple of 128 (the FP8 GEMMs require it, like DeepGEMM), or a
 * bad model.  No allocation except where noted; thread-safe.
 */
#ifndef LOOM_GEMM_H
#define LOOM_GEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gemm_accum_kind {
	GEMM_ACCUM_FP32 = 0,
	GEMM_ACCUM_HOPPER = 1,
	GEMM_ACCUM_FAST = 2,
};

struct gemm_accum {
	enum gemm_accum_kind kind;
	int frac_bits;	   /* F, Hopper model only; default 13 */
	int promote_every; /* N_C, Hopper model only; default 128; 0 = never */
};

#define GEMM_ACCUM_DEFAULT_FP32 ((struct gemm_accum){ GEMM_ACCUM_FP32, 0, 0 })
#define GEMM_ACCUM_DEFAULT_HOPPER ((struct gemm_accum){ GEMM_ACCUM_HOPPER, 13, 128 })

struct gemm_fp8_args {
	int m, n, k;
	const uint8_t *a;      /* (M, K) e4m3 */
	const float *a_scales; /* (M, KB) */
	const uint8_t *b;      /* (N, K) e4m3 */
	const float *b_scales; /* (NB, KB) */
	float *d_f32;	       /* (M, N): exactly one of d_f32 / d_bf16 is set */
	uint16_t *d_bf16;      /* (M, N), BF16 rounded to nearest even */
	struct gemm_accum accum;
};

int gemm_fp8_nt(const struct gemm_fp8_args *args);
/* 0 if gemm_fp8_nt would accept args (sizes, pointers, model), else the
 * -EINVAL it would return, with the reason set; reads no operand data. */
int gemm_fp8_args_check(const struct gemm_fp8_args *args);

/*
 * Grouped GEMM for MoE: G experts share B stacked as (G, N, K) with scales
 * (G, NB, KB).
 * Contiguous layout: A holds all experts' rows concatenated, each expert's
 *   segment padded to a multiple of 128 rows; expert_of_row[i] is the expert
 *   of row i, or -1 for padding rows (their D rows are written as 0).
 *   args->m (the total row count) must be a multiple of 128 and each 128-row
 *   block may hold one expert's rows only (besides padding), else -EINVAL.
 * Masked layout: A is (G, max_m, K), scales (G, max_m, KB), D (G, max_m, N);
 *   rows >= rows_per_group[g] of group g are left untouched.  args->m is
 *   not used; rows_per_group[g] must be in 0..max_m.
 */
int gemm_fp8_grouped_contiguous(const struct gemm_fp8_args *args, int num_groups,
				const int32_t *expert_of_row);
int gemm_fp8_grouped_masked(const struct gemm_fp8_args *args, int num_groups, int max_m,
			    const int32_t *rows_per_group);

/*
 * FP32 GEMM for the live workload: C (M, N) = alpha * op(A) op(B) + beta * C,
 * row-major, where op(A) is A (M, K) or A^T given (K, M) when trans_a, and
 * op(B) is B (K, N) or B^T given (N, K) when trans_b.  Backed by OpenBLAS
 * sgemm (kernels/gemm_f32.c; see gemm_f32_blocked below for the measured
 * alternative).
 */
int gemm_f32(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
	     const float *b, float beta, float *c);

/*
 * The blocked, vectorized FP32 GEMM measured against OpenBLAS for gemm_f32
 * (kernels/gemm_blocked.c; bench/bench_gemm.c prints the comparison).  Same
 * contract as gemm_f32, single-threaded; -ENOMEM if its packing buffers
 * cannot be allocated.
 */
int gemm_f32_blocked(int trans_a, int trans_b, int m, int n, int k, float alpha,
		     const float *a, const float *b, float beta, float *c);

#ifdef __cplusplus
}
#endif
#endif

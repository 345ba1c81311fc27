/*
 * gemm_cuda.h - FP8 GEMMs with fine-grained scales on Hopper GPUs (sm_90a,
 * kernels/cuda/gemm_fp8.cu): dense "NT" and the grouped MoE layouts.
 *
 *   D[m, n] (bf16) = sum_kb sa[m, kb] * sb[n / 128, kb] * sum_{k in kb} A[m, k] * B[n, k]
 *
 * Same semantics as gemm.h's gemm_fp8_nt / gemm_fp8_grouped_* with BF16
 * output (tests/gpu/test_gemm_fp8_gpu.cu compares against them, calc_diff <
 * 1e-3, REFERENCE.md §6); the tensor core sums each 128-wide K block and the
 * kernel promotes it to FP32 with the scales applied, as DeepGEMM does.
 * What differs from gemm.h: A's scales are in DeepGEMM's TMA-aligned
 * column-major layout (quant_act_scales_to_dg: KB columns of quant_dg_ld(M)
 * floats), and grouped metadata lives on the device.
 *
 * All pointers are device pointers, 16-byte aligned (TMA); calls are
 * asynchronous on `stream` (a cudaStream_t as void *).  Shapes:
 *   A (M, K) e4m3, a_scales KB x quant_dg_ld(M) floats, B (N, K) e4m3 (or
 *   (G, N, K) grouped), b_scales (NB, KB) (or (G, NB, KB)), D (M, N) bf16;
 *   KB = K / 128, NB = ceil(N / 128).
 * Constraints (-EINVAL with the reason, checked before any CUDA call):
 *   m, n >= 1; k >= 128 and a multiple of 128; no NULL or misaligned
 *   pointer; sizes that fit the 32-bit tile arithmetic (G * N and M
 *   below 2^31 - 512, G * max_m at most 2^30, tile count an int).  M and N need not be
 *   multiples of the tile (128 x 128): edge tiles are bounds-checked.
 * Other errors: -ENODEV (no device / driver, or not compute capability
 * 9.0), -EIO (a CUDA error, named in the reason).
 */
#ifndef LOOM_GEMM_CUDA_H
#define LOOM_GEMM_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gemm_cuda_fp8_args {
	int m, n, k;
	const uint8_t *a;	 /* (M, K) e4m3; masked: (G, max_m, K) */
	const float *a_scales;	 /* DeepGEMM layout, see above; masked: G of them for max_m rows */
	const uint8_t *b;	 /* (N, K) e4m3; grouped: (G, N, K) */
	const float *b_scales;	 /* (NB, KB); grouped: (G, NB, KB) */
	uint16_t *d;		 /* (M, N) bf16; masked: (G, max_m, N) */
};

/* Dense D = A B^T with scales. */
int gemm_cuda_fp8_nt(const struct gemm_cuda_fp8_args *args, void *stream);

/*
 * Contiguous layout: args->m rows of all experts concatenated (a multiple of
 * 128), expert_of_row (device, M int32) holds each row's expert or -1 for a
 * padding row, whose D row is written as 0 (gemm.h).  Each 128-row block
 * holds one expert's rows besides padding; the kernel takes a block's
 * expert as the largest index in it.  Indices are device data and are not
 * validated: a block whose largest index is >= num_groups is written as
 * zeros, a block mixing experts gets wrong values in its rows; neither
 * reads or writes out of bounds.
 */
int gemm_cuda_fp8_grouped_contiguous(const struct gemm_cuda_fp8_args *args, int num_groups,
				     const int32_t *expert_of_row, void *stream);

/*
 * Masked layout: A (G, max_m, K), D (G, max_m, N), a_scales G DeepGEMM
 * layouts of max_m rows each (group g's at a_scales + g * KB *
 * quant_dg_ld(max_m)); rows_per_group (device, G int32) gives the valid
 * rows of each group, clamped to 0..max_m; D rows beyond are untouched.
 * args->m is not used.
 */
int gemm_cuda_fp8_grouped_masked(const struct gemm_cuda_fp8_args *args, int num_groups,
				 int max_m, const int32_t *rows_per_group, void *stream);

#ifdef __cplusplus
}
#endif
#endif

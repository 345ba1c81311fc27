/*
 * quant_cuda.h - fused per-token 1x128 E4M3 quantization on an NVIDIA GPU
 * (kernels/cuda/quant.cu), the GPU twin of quant_act_1x128() in quant.h.
 *
 * Result: bit for bit what quant_act_1x128(q, scales, x, m, k, mode) gives
 * for the FP32 values of x (a BF16 input is widened exactly first): the same
 * scales (all-zero tile -> 1, NaN tile -> NaN, inf tile -> inf, tiny tiles
 * -> power of two; see quant.h), the same saturating E4M3 codes, partial
 * last tiles scaled over the elements they have.
 *
 * Shapes: x (M, K) row-major BF16 (raw uint16_t bits) or FP32; q (M, K)
 * e4m3 row-major.  Scales in one of two layouts:
 *   QUANT_CUDA_SCALES_ROW  (M, KB) row-major, KB = ceil(K / 128), as quant.c;
 *   QUANT_CUDA_SCALES_DG   DeepGEMM's column-major TMA-aligned layout of
 *                          quant_act_scales_to_dg(): KB columns of
 *                          quant_dg_ld(M) floats, padding rows written 0.
 * Pointers are device pointers; the call is asynchronous on `stream` (a
 * cudaStream_t as void *).  Any alignment works; 16-byte aligned x with
 * K % 8 == 0 takes the vector path.
 *
 * Errors: -EINVAL (NULL pointer, m or k <= 0, bad mode or layout, m too
 * large for the padded layout), -EIO (a CUDA launch error, named in
 * loom_err_msg()).  Thread-safe; no allocation.
 */
#ifndef LOOM_QUANT_CUDA_H
#define LOOM_QUANT_CUDA_H

#include <stdint.h>

#include "loom/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

enum quant_cuda_scale_layout {
	QUANT_CUDA_SCALES_ROW = 0, /* (M, KB) row-major */
	QUANT_CUDA_SCALES_DG = 1,  /* (KB, quant_dg_ld(M)): column-major, padded */
};

int quant_cuda_act_1x128_bf16(uint8_t *q, float *scales, const uint16_t *x, int m, int k,
			      enum quant_scale_mode mode, enum quant_cuda_scale_layout layout,
			      void *stream);
int quant_cuda_act_1x128_f32(uint8_t *q, float *scales, const float *x, int m, int k,
			     enum quant_scale_mode mode, enum quant_cuda_scale_layout layout,
			     void *stream);

#ifdef __cplusplus
}
#endif
#endif

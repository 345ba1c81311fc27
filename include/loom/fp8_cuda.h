/*
 * fp8_cuda.h - bulk FP8 / BF16 conversions on an NVIDIA GPU (kernels/cuda/).
 *
 * Same results, bit for bit, as the bulk functions of fp8.h (the C
 * reference): tests/gpu/test_fp8_convert_gpu checks every float32 input.
 * Pointers are device pointers; calls are asynchronous on `stream`
 * (a cudaStream_t passed as void * so C callers need no CUDA headers).
 * Return 0 or a negative errno with loom_err_msg() naming the CUDA error.
 */
#ifndef LOOM_FP8_CUDA_H
#define LOOM_FP8_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int fp8_cuda_e4m3_from_f32(uint8_t *dst, const float *src, size_t n, bool saturate,
			   void *stream);
int fp8_cuda_e5m2_from_f32(uint8_t *dst, const float *src, size_t n, bool saturate,
			   void *stream);
int fp8_cuda_bf16_from_f32(uint16_t *dst, const float *src, size_t n, void *stream);

#ifdef __cplusplus
}
#endif
#endif

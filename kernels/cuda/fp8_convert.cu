/*
 * fp8_convert.cu - bulk FP32 -> E4M3 / E5M2 / BF16 conversion kernels.
 *
 * What it computes: exactly kernels/fp8.c's fp8_*_from_f32_n and
 * bf16_from_f32_n, using the hardware conversions (cvt.rn.satfinite on
 * sm_89+ through cuda_fp8.h's __nv_cvt_float_to_fp8, cvt.rn.bf16.f32).
 * The CPU reference is the truth; tests/gpu/test_fp8_convert_gpu.cu compares
 * the two over every float32 bit pattern.  That test needs a GPU and has not
 * run yet (see docs/GPU_RESULTS.md); here it is only compiled.
 */
#include "loom/err.h"
#include "loom/fp8_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

/* One thread per element, grid-stride so any n fits one launch. */
__global__ static void k_to_fp8(uint8_t *dst, const float *src, size_t n,
				__nv_saturation_t sat, __nv_fp8_interpretation_t fmt)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		dst[i] = __nv_cvt_float_to_fp8(src[i], sat, fmt);
}

__global__ static void k_to_bf16(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		__nv_bfloat16 b = __float2bfloat16_rn(src[i]);
		dst[i] = *reinterpret_cast<uint16_t *>(&b);
	}
}

static unsigned grid_for(size_t n, unsigned block)
{
	size_t g = (n + block - 1) / block;
	return (unsigned)(g > 65535u * 8 ? 65535u * 8 : (g ? g : 1));
}

static int launch_check(const char *what)
{
	cudaError_t e = cudaGetLastError();

	if (e != cudaSuccess)
		return loom_err_set(EIO, "fp8_cuda: %s: %s", what, cudaGetErrorString(e));
	return 0;
}

static int to_fp8(uint8_t *dst, const float *src, size_t n, bool saturate,
		  __nv_fp8_interpretation_t fmt, void *stream, const char *what)
{
	if (!dst || !src)
		return loom_err_set(EINVAL, "fp8_cuda: %s: NULL pointer", what);
	if (n == 0)
		return 0;
	k_to_fp8<<<grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(
		dst, src, n, saturate ? __NV_SATFINITE : __NV_NOSAT, fmt);
	return launch_check(what);
}

extern "C" int fp8_cuda_e4m3_from_f32(uint8_t *dst, const float *src, size_t n,
				      bool saturate, void *stream)
{
	return to_fp8(dst, src, n, saturate, __NV_E4M3, stream, "e4m3_from_f32");
}

extern "C" int fp8_cuda_e5m2_from_f32(uint8_t *dst, const float *src, size_t n,
				      bool saturate, void *stream)
{
	return to_fp8(dst, src, n, saturate, __NV_E5M2, stream, "e5m2_from_f32");
}

extern "C" int fp8_cuda_bf16_from_f32(uint16_t *dst, const float *src, size_t n, void *stream)
{
	if (!dst || !src)
		return loom_err_set(EINVAL, "fp8_cuda: bf16_from_f32: NULL pointer");
	if (n == 0)
		return 0;
	k_to_bf16<<<grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(dst, src, n);
	return launch_check("bf16_from_f32");
}

/*
 * quant.cu - fused per-token 1x128 quantization, BF16 or FP32 -> E4M3 with
 * FP32 or power-of-two scales, for sm_90a.  Contract in
 * include/loom/quant_cuda.h; the CPU reference is quant_act_1x128()
 * (kernels/quant.c), matched bit for bit.  Not yet run on a GPU: compiled
 * and statically checked only (docs/GPU_RESULTS.md); the tile arithmetic
 * (quant.cuh) is tested on the CPU.
 *
 * One tile (one row, 128 columns) per 16 threads, 8 consecutive elements
 * each (one 16-byte BF16 load); the amax is a 16-lane butterfly max of
 * abs-bit keys, every lane then derives the same scale and converts its
 * elements with the hardware satfinite E4M3 conversion (the conversion
 * fp8_convert.cu uses, equal to fp8.c).  A power-of-two scale divides by
 * multiplying with its exact reciprocal (the same bits, no division).  A
 * warp works on two tiles; the grid strides over tile pairs so both
 * half-warps always take part in the shuffles.  Partial tiles and unaligned inputs take a scalar path with
 * bounds checks.  Not here: 128x128 weight blocks (the CPU quantizes
 * weights), fusion into the GEMM prologue.
 */
#include "loom/err.h"
#include "loom/quant_cuda.h"

#include "quant.cuh"

#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <limits.h>

#define QC_BLOCK 256

struct qc_args {
	uint8_t *q;
	float *scales;
	const void *x;
	int m, k, kbs, pow2, dg, vec;
};

/* Load the QC_VEC elements of columns c0.. of row `row` (0 beyond k). */
static __device__ __forceinline__ void qc_load(float *v, const uint16_t *x, const qc_args &a,
					       int row, int c0, bool full)
{
	const uint16_t *p = x + (size_t)row * a.k + c0;

	if (full && a.vec) {
		uint4 w = __ldg(reinterpret_cast<const uint4 *>(p));
		uint32_t u[4] = { w.x, w.y, w.z, w.w };
		for (int j = 0; j < 4; j++) {
			v[2 * j] = qc_bf16_to_f32((uint16_t)(u[j] & 0xffffu));
			v[2 * j + 1] = qc_bf16_to_f32((uint16_t)(u[j] >> 16));
		}
		return;
	}
	for (int j = 0; j < QC_VEC; j++)
		v[j] = c0 + j < a.k ? qc_bf16_to_f32(p[j]) : 0.0f;
}

static __device__ __forceinline__ void qc_load(float *v, const float *x, const qc_args &a,
					       int row, int c0, bool full)
{
	const float *p = x + (size_t)row * a.k + c0;

	if (full && a.vec) {
		float4 w0 = __ldg(reinterpret_cast<const float4 *>(p));
		float4 w1 = __ldg(reinterpret_cast<const float4 *>(p) + 1);
		v[0] = w0.x, v[1] = w0.y, v[2] = w0.z, v[3] = w0.w;
		v[4] = w1.x, v[5] = w1.y, v[6] = w1.z, v[7] = w1.w;
		return;
	}
	for (int j = 0; j < QC_VEC; j++)
		v[j] = c0 + j < a.k ? p[j] : 0.0f;
}

/* Quantize and store this thread's elements with scale s. */
static __device__ __forceinline__ void qc_store(const qc_args &a, const float *v, float s, int row,
						int c0, bool full)
{
	uint8_t b[QC_VEC];
	uint8_t *p = a.q + (size_t)row * a.k + c0;
	bool exact = qc_exact_inverse(s);
	float inv = exact ? qc_inverse_pow2(s) : 1.0f;

	for (int j = 0; j < QC_VEC; j++)
		b[j] = __nv_cvt_float_to_fp8(qc_quotient(v[j], s, inv, exact), __NV_SATFINITE,
					     __NV_E4M3);
	if (full && a.vec) {
		uint2 w;
		w.x = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
		w.y = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;
		*reinterpret_cast<uint2 *>(p) = w;
		return;
	}
	for (int j = 0; j < QC_VEC; j++)
		if (c0 + j < a.k)
			p[j] = b[j];
}

template <typename In>
__global__ static void __launch_bounds__(QC_BLOCK)
k_quant_1x128(qc_args a)
{
	const int sub = threadIdx.x % QC_LANES;
	const long long tiles = (long long)a.m * a.kbs;
	const long long warps = (long long)gridDim.x * (QC_BLOCK / 32);
	const long long warp = (long long)blockIdx.x * (QC_BLOCK / 32) + threadIdx.x / 32;

	/* Both half-warps run the same number of iterations (tile pairs). */
	for (long long g0 = 2 * warp; g0 < tiles; g0 += 2 * warps) {
		long long g = g0 + (threadIdx.x % 32) / QC_LANES;
		bool live = g < tiles;
		struct qc_tile t = qc_tile_of(live ? g : 0, a.kbs);
		int c0 = qc_col0(t.kb, sub);
		bool full = c0 + QC_VEC <= a.k;
		float v[QC_VEC];
		uint32_t key = 0;

		qc_load(v, static_cast<const In *>(a.x), a, t.row, c0 < a.k ? c0 : 0, full);
		for (int j = 0; j < QC_VEC; j++)
			key = max(key, c0 + j < a.k ? qc_abs_key(v[j]) : 0u);
		for (int off = QC_LANES / 2; off > 0; off /= 2)
			key = max(key, __shfl_xor_sync(0xffffffffu, key, off));
		if (!live)
			continue;
		float s = qc_scale_for_amax(cu_f32_from_bits(key), a.pow2);
		if (sub == 0)
			a.scales[qc_scale_index(t.row, t.kb, a.m, a.kbs, a.dg)] = s;
		if (c0 < a.k)
			qc_store(a, v, s, t.row, c0, full);
	}
	/* DeepGEMM layout: the padding rows of every column are 0. */
	if (a.dg) {
		long long pads = (long long)(qc_dg_ld(a.m) - a.m) * a.kbs;
		for (long long p = (long long)blockIdx.x * QC_BLOCK + threadIdx.x; p < pads;
		     p += (long long)gridDim.x * QC_BLOCK)
			a.scales[qc_dg_pad_index(p, a.m)] = 0.0f;
	}
}

static int qc_launch(qc_args a, bool bf16, enum quant_scale_mode mode,
		     enum quant_cuda_scale_layout layout, void *stream, const char *fn)
{
	if (!a.q || !a.scales || !a.x)
		return loom_err_set(EINVAL, "quant_cuda: %s: NULL pointer", fn);
	if (a.m <= 0 || a.k <= 0)
		return loom_err_set(EINVAL, "quant_cuda: %s: sizes %d x %d must be > 0", fn, a.m, a.k);
	if (mode != QUANT_SCALE_F32 && mode != QUANT_SCALE_POW2)
		return loom_err_set(EINVAL, "quant_cuda: %s: bad scale mode %d", fn, (int)mode);
	if (layout != QUANT_CUDA_SCALES_ROW && layout != QUANT_CUDA_SCALES_DG)
		return loom_err_set(EINVAL, "quant_cuda: %s: bad scale layout %d", fn, (int)layout);
	if (layout == QUANT_CUDA_SCALES_DG && a.m > INT_MAX - 3)
		return loom_err_set(EINVAL, "quant_cuda: %s: m=%d too large for the padded layout",
				    fn, a.m);
	a.kbs = qc_blocks(a.k);
	a.pow2 = mode == QUANT_SCALE_POW2;
	a.dg = layout == QUANT_CUDA_SCALES_DG;
	a.vec = a.k % QC_VEC == 0 && (uintptr_t)a.x % 16 == 0 && (uintptr_t)a.q % 8 == 0;
	long long pairs = ((long long)a.m * a.kbs + 1) / 2;
	long long blocks = (pairs + QC_BLOCK / 32 - 1) / (QC_BLOCK / 32);
	unsigned grid = (unsigned)(blocks < 132 * 16 ? blocks : 132 * 16);

	if (bf16)
		k_quant_1x128<uint16_t><<<grid, QC_BLOCK, 0, (cudaStream_t)stream>>>(a);
	else
		k_quant_1x128<float><<<grid, QC_BLOCK, 0, (cudaStream_t)stream>>>(a);
	cudaError_t e = cudaGetLastError();
	if (e != cudaSuccess)
		return loom_err_set(EIO, "quant_cuda: %s: launch: %s", fn, cudaGetErrorString(e));
	return 0;
}

extern "C" int quant_cuda_act_1x128_bf16(uint8_t *q, float *scales, const uint16_t *x, int m,
					 int k, enum quant_scale_mode mode,
					 enum quant_cuda_scale_layout layout, void *stream)
{
	qc_args a = { q, scales, x, m, k, 0, 0, 0, 0 };

	return qc_launch(a, true, mode, layout, stream, "act_1x128_bf16");
}

extern "C" int quant_cuda_act_1x128_f32(uint8_t *q, float *scales, const float *x, int m, int k,
					enum quant_scale_mode mode,
					enum quant_cuda_scale_layout layout, void *stream)
{
	qc_args a = { q, scales, x, m, k, 0, 0, 0, 0 };

	return qc_launch(a, false, mode, layout, stream, "act_1x128_f32");
}

/*
 * quant.cuh - the per-tile arithmetic of the fused 1x128 quantization kernel
 * (kernels/cuda/quant.cu): the scale of a tile, its element division, and
 * which thread handles which columns and where a scale is stored.
 *
 * __host__ __device__ and compiled by g++ too (tests/kernels/
 * test_moe_layout_cuda.cpp checks every function here against quant.c,
 * fp8.c and brute-force loops).  No kernels, no CUDA runtime calls.
 *
 * Rounding: quant.c computes amax / 448 and x / s as IEEE divisions rounded
 * to nearest with no contraction (-ffp-contract=off).  On the device the
 * same quotients come from __fdiv_rn (never the approximate reciprocal of
 * fast-math), or, for a power-of-two scale, from __fmul_rn by its exact
 * reciprocal, which rounds the same exact quotient once; nothing here
 * multiplies-then-adds, so nvcc has nothing to contract into an FMA.
 * Subnormals are kept (the library is built without -ftz).  The scale
 * comparison of the POW2 path is done in double as in C.
 */
#ifndef LOOM_QUANT_CUDA_CUH
#define LOOM_QUANT_CUDA_CUH

#include <stdint.h>
#include <string.h>

#include "bits.cuh"

#ifndef __CUDACC__
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

#define QC_TILE 128
#define QC_VEC 8			/* elements per thread */
#define QC_LANES (QC_TILE / QC_VEC)	/* threads per tile: 16 */
#define QC_E4M3_MAX 448.0f
#define QC_FLT_MIN 1.17549435e-38f

/* a / b, IEEE round to nearest (see the top comment). */
static __host__ __device__ inline float qc_div(float a, float b)
{
#ifdef __CUDA_ARCH__
	return __fdiv_rn(a, b);
#else
	return a / b;
#endif
}

/* Is s a positive power of two whose reciprocal is a float (2^-127 ..
 * 2^127)?  Then x * (1 / s) is exact-reciprocal scaling, correctly rounded
 * once, so it equals x / s bit for bit: the POW2 scales (and FP32-mode
 * tiles that fell back to them) skip the division. */
static __host__ __device__ inline bool qc_exact_inverse(float s)
{
	uint32_t u = cu_f32_bits(s);

	return u == 0x00400000u || ((u & 0x7fffffu) == 0 && u >= 0x00800000u && u <= 0x7f000000u);
}

/* 1 / s for such an s, exactly (bit manipulation, no rounding). */
static __host__ __device__ inline float qc_inverse_pow2(float s)
{
	uint32_t u = cu_f32_bits(s);

	if (u == 0x00400000u)			/* 2^-127 -> 2^127 */
		return cu_f32_from_bits(0x7f000000u);
	if (u == 0x7f000000u)			/* 2^127 -> 2^-127 (subnormal) */
		return cu_f32_from_bits(0x00400000u);
	return cu_f32_from_bits((254u - (u >> 23)) << 23);
}

/* x / s as quant.c rounds it; inv = qc_inverse_pow2(s) when exact. */
static __host__ __device__ inline float qc_quotient(float x, float s, float inv, bool exact)
{
#ifdef __CUDA_ARCH__
	return exact ? __fmul_rn(x, inv) : qc_div(x, s);
#else
	return exact ? x * inv : qc_div(x, s);
#endif
}

/* The abs-bits key of quant.c's tile_amax: integer max over |x| bits puts
 * every NaN above +inf, so a NaN anywhere makes the tile's amax NaN. */
static __host__ __device__ inline uint32_t qc_abs_key(float x) { return cu_f32_bits(x) & 0x7fffffffu; }

/* BF16 bits -> FP32, exact. */
static __host__ __device__ inline float qc_bf16_to_f32(uint16_t v) { return cu_f32_from_bits((uint32_t)v << 16); }

/* fp8.c's ue8m0_from_f32 / ue8m0_to_f32, bit for bit. */
static __host__ __device__ inline uint32_t qc_ue8m0_from_f32(float x)
{
	uint32_t a = cu_f32_bits(x) & 0x7fffffffu;
	uint32_t r = (a >> 23) + ((a & 0x7fffffu) != 0);

	r = a <= 0x00400000u ? 0u : r;
	r = r > 254u ? 254u : r;
	r = a > 0x7f800000u ? 0xffu : r;
	return r;
}

static __host__ __device__ inline float qc_ue8m0_to_f32(uint32_t e)
{
	uint32_t r = e << 23;

	r = e == 0 ? 0x00400000u : r;
	r = e == 0xffu ? 0x7fff0000u : r;
	return cu_f32_from_bits(r);
}

/* Smallest power of two p with amax <= 448 p (quant.c's pow2_scale). */
static __host__ __device__ inline float qc_pow2_scale(float amax)
{
	uint32_t e = qc_ue8m0_from_f32(qc_div(amax, QC_E4M3_MAX));
	float s = qc_ue8m0_to_f32(e);

	if ((double)amax > (double)QC_E4M3_MAX * (double)s && e < 254)
		s = qc_ue8m0_to_f32(e + 1);
	return s;
}

/* quant_scale_for_amax(), bit for bit: 0 -> 1, NaN -> 0x7fc00000 (C's NAN),
 * inf -> inf, FP32 mode amax / 448 while normal, else the POW2 scale. */
static __host__ __device__ inline float qc_scale_for_amax(float amax, int pow2)
{
	if (amax == 0.0f)
		return 1.0f;
	if (!(amax > 0.0f))
		return cu_f32_from_bits(0x7fc00000u);
	if (cu_f32_bits(amax) == 0x7f800000u)
		return cu_f32_from_bits(0x7f800000u);
	if (!pow2) {
		float s = qc_div(amax, QC_E4M3_MAX);

		if (s >= QC_FLT_MIN)
			return s;
	}
	return qc_pow2_scale(amax);
}

/* ceil(k / 128) for k > 0. */
static __host__ __device__ inline int qc_blocks(int k) { return (k - 1) / QC_TILE + 1; }

/* DeepGEMM's padded column length (quant_dg_ld). */
static __host__ __device__ inline int qc_dg_ld(int m) { return (m + 3) / 4 * 4; }

/* Tile g (0 <= g < m * kb) of an (M, K) matrix: row and k block. */
struct qc_tile {
	int row, kb;
};

static __host__ __device__ inline struct qc_tile qc_tile_of(long long g, int kbs)
{
	struct qc_tile t = { (int)(g / kbs), (int)(g % kbs) };
	return t;
}

/* First column of the QC_VEC columns thread `sub` (0..15) of a tile owns. */
static __host__ __device__ inline int qc_col0(int kb, int sub) { return kb * QC_TILE + sub * QC_VEC; }

/* Index of scale (row, kb) in the chosen layout (dg: 0 row-major, 1 DG). */
static __host__ __device__ inline long long qc_scale_index(int row, int kb, int m, int kbs, int dg)
{
	return dg ? (long long)kb * qc_dg_ld(m) + row : (long long)row * kbs + kb;
}

/* DG padding entry p (0 <= p < (ld - m) * kbs) -> its index. */
static __host__ __device__ inline long long qc_dg_pad_index(long long p, int m)
{
	int pad = qc_dg_ld(m) - m;

	return (p / pad) * qc_dg_ld(m) + m + p % pad;
}

#endif

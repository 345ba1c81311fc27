/*
 * router.cuh - the per-token arithmetic of the MoE router kernels
 * (kernels/cuda/router.cu): the sigmoid, exactly as kernels/router.c gets it
 * from glibc, the arg-max with router.c's tie rule, the group score, the
 * comparison the warp-wide arg-max reduces with, and the FP64 gate weights
 * in router.c's order of operations.
 *
 * __host__ __device__ and compiled by g++ too: tests/kernels/
 * test_moe_layout_cuda.cpp checks them against glibc's expf, router.c and
 * brute-force loops (including an emulation of the warp reduction).
 *
 * Why a private expf: router.c computes s = 1 / (1 + expf(-u)) with glibc's
 * expf, while CUDA's expf is a different approximation (up to 2 ulp), so
 * the affinities, and through them the selection, would differ.
 * moe_rt_expf() is glibc's algorithm (ARM's optimized-routines expf, in
 * glibc since 2.28: a 32-entry table of 2^(i/32) and a cubic in double) in
 * the form glibc's x86-64 FMA build runs: r = fma(InvLn2N, x, -kd) and the
 * three polynomial steps as fused multiply-adds.  Every double operation is
 * spelled with an explicitly rounded intrinsic on the device, so the result
 * is the same bits on both sides; it equals glibc 2.36's expf (x86-64, FMA
 * CPU) for all 2^32 inputs (checked once exhaustively; the CPU test sweeps
 * a stride of them and the two inputs where the non-FMA form differs).
 * The non-FMA form (what glibc runs on a CPU without FMA) differs from the
 * FMA form on exactly those two inputs.  A glibc with another expf would
 * show up as a failure of that CPU test on the machine in question.
 *
 * The weights (moe_rt_weights) follow router.c operation by operation in
 * FP64; on the host they are bit-exact (glibc's exp / log1p), on the device
 * CUDA's exp / log1p make them agree to one FP32 ulp (moe_cuda.h).
 */
#ifndef LOOM_ROUTER_CUDA_CUH
#define LOOM_ROUTER_CUDA_CUH

#include <math.h>
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

#define MOE_RT_EXP2F_TABLE_BITS 5

/* glibc's __exp2f_data.tab: asuint64(2^(i/32)) - (i << 52) / 32 */
#define MOE_RT_EXP2F_TAB                                                                 \
	{                                                                                \
		0x3ff0000000000000ull, 0x3fefd9b0d3158574ull, 0x3fefb5586cf9890full,       \
		0x3fef9301d0125b51ull, 0x3fef72b83c7d517bull, 0x3fef54873168b9aaull,       \
		0x3fef387a6e756238ull, 0x3fef1e9df51fdee1ull, 0x3fef06fe0a31b715ull,       \
		0x3feef1a7373aa9cbull, 0x3feedea64c123422ull, 0x3feece086061892dull,       \
		0x3feebfdad5362a27ull, 0x3feeb42b569d4f82ull, 0x3feeab07dd485429ull,       \
		0x3feea47eb03a5585ull, 0x3feea09e667f3bcdull, 0x3fee9f75e8ec5f74ull,       \
		0x3feea11473eb0187ull, 0x3feea589994cce13ull, 0x3feeace5422aa0dbull,       \
		0x3feeb737b0cdc5e5ull, 0x3feec49182a3f090ull, 0x3feed503b23e255dull,       \
		0x3feee89f995ad3adull, 0x3feeff76f2fb5e47ull, 0x3fef199bdd85529cull,       \
		0x3fef3720dcef9069ull, 0x3fef5818dcfba487ull, 0x3fef7c97337b9b5full,       \
		0x3fefa4afa2a490daull, 0x3fefd0765b6e4540ull,                              \
	}

#ifdef __CUDACC__
__device__ static const uint64_t moe_rt_exp2f_tab_dev[32] = MOE_RT_EXP2F_TAB;
#endif
static const uint64_t moe_rt_exp2f_tab_host[32] = MOE_RT_EXP2F_TAB;

/* Correctly rounded double primitives (host: -ffp-contract=off C). */
#ifdef __CUDA_ARCH__
#define MOE_RT_DMUL(a, b) __dmul_rn((a), (b))
#define MOE_RT_DADD(a, b) __dadd_rn((a), (b))
#define MOE_RT_DFMA(a, b, c) __fma_rn((a), (b), (c))
#define MOE_RT_FADD(a, b) __fadd_rn((a), (b))
#define MOE_RT_FRCP(a) __frcp_rn(a)
#define MOE_RT_DDIV(a, b) __ddiv_rn((a), (b))
#else
#define MOE_RT_DMUL(a, b) ((a) * (b))
#define MOE_RT_DADD(a, b) ((a) + (b))
#define MOE_RT_DFMA(a, b, c) fma((a), (b), (c))
#define MOE_RT_FADD(a, b) ((a) + (b))
#define MOE_RT_FRCP(a) (1.0f / (a))
#define MOE_RT_DDIV(a, b) ((a) / (b))
#endif

/* glibc's expf (see the top comment); no errno, no exceptions. */
static __host__ __device__ inline float moe_rt_expf(float x)
{
	const double n = 32.0, inv_ln2_n = 0x1.71547652b82fep+0 * n, shift = 0x1.8p+52;
	const double c0 = 0x1.c6af84b912394p-5 / n / n / n, c1 = 0x1.ebfce50fac4f3p-3 / n / n;
	const double c2 = 0x1.62e42ff0c52d6p-1 / n;
	uint32_t abstop = cu_f32_bits(x) >> 20 & 0x7ff;

	if (abstop >= (cu_f32_bits(88.0f) >> 20 & 0x7ff)) {
		if (cu_f32_bits(x) == 0xff800000u)	/* -inf */
			return 0.0f;
		if (abstop >= 0x7f8)			/* +inf or NaN */
			return MOE_RT_FADD(x, x);
		if (x > 0x1.62e42ep6f)
			return cu_f32_from_bits(0x7f800000u);
		if (x < -0x1.9fe368p6f)
			return 0.0f;
	}
	double xd = (double)x, z = MOE_RT_DMUL(inv_ln2_n, xd);
	double kd = MOE_RT_DADD(z, shift);	/* round to nearest integer */
	uint64_t ki = cu_f64_bits(kd);

	kd = MOE_RT_DADD(kd, -shift);
	double r = MOE_RT_DFMA(inv_ln2_n, xd, -kd);
#ifdef __CUDA_ARCH__
	uint64_t t = moe_rt_exp2f_tab_dev[ki % 32];
#else
	uint64_t t = moe_rt_exp2f_tab_host[ki % 32];
#endif
	t += ki << (52 - MOE_RT_EXP2F_TABLE_BITS);
	double s = cu_f64_from_bits(t);
	double zz = MOE_RT_DFMA(c0, r, c1), r2 = MOE_RT_DMUL(r, r);
	double y = MOE_RT_DFMA(c2, r, 1.0);

	y = MOE_RT_DFMA(zz, r2, y);
	y = MOE_RT_DMUL(y, s);
	return (float)y;
}

/* router.c's sigmoid_f32: 1 / (1 + expf(-u)), FP32, rounded as in C.  On
 * the device the quotient is __frcp_rn, the IEEE round-to-nearest
 * reciprocal: the same value as the division 1.0f / d, without the
 * division's slow-path call (which made the kernel spill). */
static __host__ __device__ inline float moe_rt_sigmoid(float u)
{
	return MOE_RT_FRCP(MOE_RT_FADD(1.0f, moe_rt_expf(-u)));
}

/* Selection score: affinity + bias (0 when absent), NaN -> -inf. */
static __host__ __device__ inline float moe_rt_score(float aff, float bias)
{
	float c = MOE_RT_FADD(aff, bias);

	return c != c ? cu_f32_from_bits(0xff800000u) : c;
}

/* Does candidate (v, i) beat (bv, bi)?  i < 0 is "none".  Larger value
 * wins; equal values go to the lower index (router.c's arg_best rule). */
static __host__ __device__ inline bool moe_rt_better(float v, int i, float bv, int bi)
{
	if (i < 0)
		return false;
	if (bi < 0)
		return true;
	return v > bv || (v == bv && i < bi);
}

/* router.c's arg_best: the largest v[i], lo <= i < hi, not taken; ties to
 * the lowest index; -1 if all are taken.  v holds no NaN. */
static __host__ __device__ inline int moe_rt_arg_best(const float *v, const unsigned char *taken,
						      int lo, int hi)
{
	int best = -1;

	for (int i = lo; i < hi; i++)
		if (!taken[i] && (best < 0 || v[i] > v[best]))
			best = i;
	return best;
}

/* router.c's group_score: sum of the n largest scores of lo..hi-1, largest
 * first, in FP32 from 0; NaN sum -> -inf.  taken[lo..hi) is 0 on entry and
 * on exit. */
static __host__ __device__ inline float moe_rt_group_score(const float *score,
							   unsigned char *taken, int lo, int hi,
							   int n)
{
	float sum = 0.0f;

	for (int r = 0; r < n; r++) {
		int best = moe_rt_arg_best(score, taken, lo, hi);
		taken[best] = 1;
		sum = MOE_RT_FADD(sum, score[best]);
	}
	for (int i = lo; i < hi; i++)
		taken[i] = 0;
	return sum != sum ? cu_f32_from_bits(0xff800000u) : sum;
}

/* log(sigmoid(u)) = -softplus(-u) in FP64, NaN -> -inf (router.c).  The
 * device's exp / log1p are CUDA's, not glibc's: see moe_cuda.h. */
static __host__ __device__ inline double moe_rt_log_sigmoid(double u)
{
	if (u != u)
		return -(double)cu_f32_from_bits(0x7f800000u);
	return -MOE_RT_DADD(fmax(-u, 0.0), log1p(exp(-fabs(u))));
}

/* exp(log sigmoid(u) - top), the unnormalized weight of one slot. */
static __host__ __device__ inline double moe_rt_rel_affinity(float u, double top)
{
	return exp(MOE_RT_DADD(moe_rt_log_sigmoid((double)u), -top));
}

/*
 * Step 6 of moe.h for one token, serially as router.c does it: weight (k)
 * = scale * p_j, p the selected affinities normalized in FP64 log space and
 * summed in slot order; scale / k each when every selected affinity is 0.
 * u: the token's logits (E); idx: its k experts.  Values are recomputed
 * rather than kept in a k-array, which would live in local memory.
 */
static __host__ __device__ inline void moe_rt_weights(const float *u, const int32_t *idx, int k,
						      float scale, float *weight)
{
	const double ninf = -(double)cu_f32_from_bits(0x7f800000u);
	double top = ninf, sum = 0.0;

	for (int j = 0; j < k; j++)
		top = fmax(top, moe_rt_log_sigmoid((double)u[idx[j]]));
	if (top == ninf) {
		for (int j = 0; j < k; j++)
			weight[j] = (float)MOE_RT_DMUL((double)scale, MOE_RT_DDIV(1.0, (double)k));
		return;
	}
	for (int j = 0; j < k; j++)
		sum = MOE_RT_DADD(sum, moe_rt_rel_affinity(u[idx[j]], top));
	for (int j = 0; j < k; j++) {
		double p = MOE_RT_DDIV(moe_rt_rel_affinity(u[idx[j]], top), sum);
		weight[j] = (float)MOE_RT_DMUL((double)scale, p);
	}
}

#endif

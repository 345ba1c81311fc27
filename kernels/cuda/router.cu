/*
 * router.cu - the DeepSeek-V3 MoE router for sm_90a: sigmoid affinities,
 * selection-only bias, group-limited top-k, normalized and scaled weights.
 * Contract in include/loom/moe_cuda.h; the CPU reference is
 * moe_router_forward() (kernels/router.c).  Not yet run on a GPU: compiled
 * and statically checked only (docs/GPU_RESULTS.md); the per-token
 * arithmetic (router.cuh) is tested on the CPU.
 *
 * One warp per token.  Scores and "taken" flags live in the warp's slice of
 * shared memory.  Group scores: one lane per group, running router.c's
 * serial top-n on its own group (same order of FP32 additions).  Groups:
 * lane 0 runs router.c's M arg-max scans over the G scores.  Experts: k
 * warp-wide arg-max reductions, each lane scanning its experts in
 * ascending order and the butterfly keeping the larger value, ties to the
 * lower index, which is router.c's rule, so the same experts come out in
 * the same order.  Weights: a second kernel, one thread per token running
 * router.c's FP64 loop in slot order (see moe_cuda.h for the one-ulp
 * bound).
 * Not here: the router GEMM, the backward, load counts and bias updates
 * (the CPU does them on T x k integers).
 */
#include "loom/err.h"
#include "loom/moe_cuda.h"

#include "router.cuh"

#include <cuda_runtime.h>
#include <math_constants.h>

#define RT_WARPS 4

/* The warp's shared-memory slice: score (E), group score (G), flags. */
struct rt_smem {
	float *score, *gscore;
	unsigned char *taken, *gtaken;
};

static __host__ __device__ size_t rt_smem_per_warp(int e, int g)
{
	return ((sizeof(float) * (size_t)(e + g) + (size_t)(e + g)) + 15) / 16 * 16;
}

static __device__ rt_smem rt_slice(unsigned char *base, int e, int g, int warp)
{
	unsigned char *p = base + rt_smem_per_warp(e, g) * warp;
	rt_smem s;

	s.score = reinterpret_cast<float *>(p);
	s.gscore = s.score + e;
	s.taken = reinterpret_cast<unsigned char *>(s.gscore + g);
	s.gtaken = s.taken + e;
	return s;
}

/* Steps 1-2: affinities (written when wanted) and selection scores. */
static __device__ void rt_scores(const moe_router_config &c, rt_smem s, const float *u,
				 const float *bias, float *aff, int lane)
{
	for (int i = lane; i < c.num_experts; i += 32) {
		float a = moe_rt_sigmoid(u[i]);

		if (aff)
			aff[i] = a;
		s.score[i] = moe_rt_score(a, bias ? bias[i] : 0.0f);
		s.taken[i] = 0;
	}
	for (int j = lane; j < c.num_groups; j += 32)
		s.gtaken[j] = 0;
	__syncwarp();
}

/* Steps 3-4: group scores, the M best groups, experts outside them taken. */
static __device__ void rt_groups(const moe_router_config &c, rt_smem s, int lane)
{
	const int per = c.num_experts / c.num_groups;

	for (int j = lane; j < c.num_groups; j += 32)
		s.gscore[j] = moe_rt_group_score(s.score, s.taken, j * per, (j + 1) * per,
						 c.group_score_topn);
	__syncwarp();
	if (lane == 0)
		for (int r = 0; r < c.topk_groups; r++)
			s.gtaken[moe_rt_arg_best(s.gscore, s.gtaken, 0, c.num_groups)] = 1;
	__syncwarp();
	for (int i = lane; i < c.num_experts; i += 32)
		s.taken[i] = !s.gtaken[i / per];
	__syncwarp();
}

/* Step 5, one slot: the best expert not taken, over the whole warp. */
static __device__ int rt_warp_best(const moe_router_config &c, rt_smem s, int lane)
{
	float bv = 0.0f;
	int bi = -1;

	for (int i = lane; i < c.num_experts; i += 32)
		if (moe_rt_better(s.score[i], s.taken[i] ? -1 : i, bv, bi))
			bv = s.score[i], bi = i;
	for (int off = 16; off > 0; off /= 2) {
		float v = __shfl_xor_sync(0xffffffffu, bv, off);
		int i = __shfl_xor_sync(0xffffffffu, bi, off);

		if (moe_rt_better(v, i, bv, bi))
			bv = v, bi = i;
	}
	return bi;
}

__global__ static void __launch_bounds__(RT_WARPS * 32)
k_router_select(moe_router_config c, int num_tokens, const float *logits, const float *bias,
		int32_t *topk_idx, float *affinity)
{
	extern __shared__ __align__(16) unsigned char rt_smem_base[];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
	rt_smem s = rt_slice(rt_smem_base, c.num_experts, c.num_groups, warp);

	for (long long t = (long long)blockIdx.x * RT_WARPS + warp; t < num_tokens;
	     t += (long long)gridDim.x * RT_WARPS) {
		const float *u = logits + t * c.num_experts;
		int mine = -1;

		rt_scores(c, s, u, bias, affinity ? affinity + t * c.num_experts : NULL, lane);
		rt_groups(c, s, lane);
		for (int r = 0; r < c.top_k; r++) {
			int best = rt_warp_best(c, s, lane);

			if (lane == r)
				mine = best;
			if (lane == best % 32)	/* the lane that owns taken[best] */
				s.taken[best] = 1;
			__syncwarp();
		}
		if (lane < c.top_k)
			topk_idx[t * c.top_k + lane] = mine;
		__syncwarp();
	}
}

/* Step 6: one thread per token (the FP64 divisions' slow path is a call
 * that would make the selection kernel spill). */
__global__ static void __launch_bounds__(128)
k_router_weights(int num_tokens, int e, int k, float scale, const float *logits,
		 const int32_t *topk_idx, float *topk_weight)
{
	for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < num_tokens;
	     t += (long long)gridDim.x * blockDim.x)
		moe_rt_weights(logits + t * e, topk_idx + t * k, k, scale, topk_weight + t * k);
}

extern "C" int moe_cuda_router_forward(const struct moe_router_config *cfg, int num_tokens,
				       const float *logits, const float *bias,
				       int32_t *topk_idx, float *topk_weight, float *affinity,
				       void *stream)
{
	int err = moe_router_config_check(cfg);

	if (err)
		return err;
	if (!logits || !topk_idx || !topk_weight)
		return loom_err_set(EINVAL, "moe_cuda: router_forward: NULL logits or output");
	if (num_tokens <= 0)
		return loom_err_set(EINVAL, "moe_cuda: router_forward: num_tokens=%d must be > 0",
				    num_tokens);
	if (cfg->num_experts > MOE_CUDA_MAX_EXPERTS || cfg->top_k > MOE_CUDA_MAX_TOPK)
		return loom_err_set(EINVAL, "moe_cuda: router_forward: num_experts=%d top_k=%d "
				    "exceed the GPU limits %d, %d", cfg->num_experts, cfg->top_k,
				    MOE_CUDA_MAX_EXPERTS, MOE_CUDA_MAX_TOPK);
	size_t smem = rt_smem_per_warp(cfg->num_experts, cfg->num_groups) * RT_WARPS;
	cudaError_t e = cudaFuncSetAttribute(k_router_select, cudaFuncAttributeMaxDynamicSharedMemorySize,
					     (int)smem);
	if (e != cudaSuccess)
		return loom_err_set(EIO, "moe_cuda: router_forward: %s", cudaGetErrorString(e));
	long long blocks = ((long long)num_tokens + RT_WARPS - 1) / RT_WARPS;
	unsigned grid = (unsigned)(blocks < 132 * 32 ? blocks : 132 * 32);

	k_router_select<<<grid, RT_WARPS * 32, smem, (cudaStream_t)stream>>>(
		*cfg, num_tokens, logits, bias, topk_idx, affinity);
	e = cudaGetLastError();
	if (e == cudaSuccess) {
		long long wb = ((long long)num_tokens + 127) / 128;
		k_router_weights<<<(unsigned)(wb < 132 * 16 ? wb : 132 * 16), 128, 0,
				   (cudaStream_t)stream>>>(num_tokens, cfg->num_experts, cfg->top_k,
							   cfg->routed_scaling_factor, logits,
							   topk_idx, topk_weight);
		e = cudaGetLastError();
	}
	if (e != cudaSuccess)
		return loom_err_set(EIO, "moe_cuda: router_forward: launch: %s",
				    cudaGetErrorString(e));
	return 0;
}

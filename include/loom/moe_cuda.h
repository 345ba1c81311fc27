/*
 * moe_cuda.h - the MoE router, token permutation and weighted combine on an
 * NVIDIA GPU (kernels/cuda/router.cu, kernels/cuda/permute.cu): the GPU
 * twins of moe_router_forward, moe_permute_plan_create, moe_permute,
 * moe_unpermute and moe_combine_f32 of moe.h, whose legend, tie rules and
 * layouts they follow.
 *
 * Results against the CPU reference (kernels/router.c, kernels/permute.c):
 *  - router: affinity and topk_idx bit for bit (the sigmoid uses glibc's
 *    expf algorithm, see kernels/cuda/router.cuh; a NaN logit gives a NaN
 *    affinity, the GPU's canonical one rather than the CPU's propagated
 *    payload); topk_weight within one
 *    FP32 ulp, and in practice equal: both sides compute the weight in FP64
 *    (log-sigmoid, exp, normalization) and round once to FP32, but CUDA's
 *    double exp / log1p are not glibc's (each within 1-2 double ulps), so
 *    the two FP64 values can straddle an FP32 rounding boundary only when
 *    they lie within ~2^-50 (relative) of it.
 *  - plan, permute, unpermute, combine: bit for bit (the combine sums the
 *    slots of a token in slot order, FP32, no FMA, like permute.c).
 *
 * Preconditions the GPU does not check (the CPU reference returns -EINVAL):
 * the bias must be finite.  Other argument errors are checked on the host.
 * Limits of this implementation: num_experts <= 2048, top_k <= 32.
 *
 * Pointers named d_* or documented as device memory are device pointers;
 * calls are asynchronous on `stream` (a cudaStream_t as void *) except
 * moe_cuda_plan_build / moe_cuda_plan_upload, which return with the plan
 * ready (they synchronize `stream`).  Errors: -EINVAL (bad arguments, an
 * expert index outside [-1, E) in the plan), -ENOMEM (device memory), -EIO
 * (a CUDA error, named in loom_err_msg()).
 */
#ifndef LOOM_MOE_CUDA_H
#define LOOM_MOE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "loom/moe.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOE_CUDA_MAX_EXPERTS 2048
#define MOE_CUDA_MAX_TOPK 32

/*
 * Route T tokens (moe.h steps 1-6).  logits (T, E), bias (E) or NULL,
 * topk_idx (T, k), topk_weight (T, k), affinity (T, E) or NULL: all device
 * memory.  cfg is host memory and checked with moe_router_config_check.
 */
int moe_cuda_router_forward(const struct moe_router_config *cfg, int num_tokens,
			    const float *logits, const float *bias, int32_t *topk_idx,
			    float *topk_weight, float *affinity, void *stream);

/*
 * A permutation plan in device memory: the arrays of struct moe_permute_plan
 * (same meaning, same contents), the sizes on the host.  All arrays are one
 * cudaMalloc owned by the plan; moe_cuda_plan_free releases it.
 */
struct moe_cuda_plan {
	int num_tokens, top_k, num_experts, align;
	int num_rows;		/* host copy of expert_offset[E] */
	int32_t *expert_count;	/* (E) */
	int32_t *expert_offset; /* (E + 1) */
	int32_t *expert_of_row; /* (num_rows) -1 = padding */
	int32_t *src_of_row;	/* (num_rows) token * k + slot, -1 = padding */
	int32_t *row_of_src;	/* (T * k) -1 = unused slot */
	void *mem;		/* the allocation */
};

/*
 * Build the plan on the GPU from topk_idx (T, k) in device memory: the same
 * arrays as moe_permute_plan_create (segments stable in (token, slot) order,
 * padded to multiples of align).  Synchronizes `stream` once to learn
 * num_rows and whether every index was in [-1, E).
 */
int moe_cuda_plan_build(struct moe_cuda_plan *plan, int num_tokens, int top_k, int num_experts,
			const int32_t *topk_idx, int align, void *stream);
/* Copy a CPU plan to the device (synchronous). */
int moe_cuda_plan_upload(struct moe_cuda_plan *plan, const struct moe_permute_plan *cpu,
			 void *stream);
/* Free the device arrays (NULL-safe; leaves the struct zeroed). */
void moe_cuda_plan_free(struct moe_cuda_plan *plan);

/* moe_permute: x (T, row_bytes) -> out (num_rows, row_bytes), padding zeroed. */
int moe_cuda_permute(const struct moe_cuda_plan *plan, const void *x, size_t row_bytes,
		     void *out, void *stream);
/* moe_unpermute: y (num_rows, row_bytes) -> out (T * k, row_bytes). */
int moe_cuda_unpermute(const struct moe_cuda_plan *plan, const void *y, size_t row_bytes,
		       void *out, void *stream);
/* moe_combine_f32: y (num_rows, H), topk_weight (T, k) or NULL -> out (T, H). */
int moe_cuda_combine_f32(const struct moe_cuda_plan *plan, const float *y, int hidden,
			 const float *topk_weight, float *out, void *stream);

#ifdef __cplusplus
}
#endif
#endif

/*
 * permute.cuh - index arithmetic of the GPU permutation plan and row moves
 * (kernels/cuda/permute.cu): padded segment sizes, the bound on rows, the
 * copy width for a row, and the block-wide stable rank used to fill each
 * expert's segment in (token, slot) order.
 *
 * __host__ __device__ and compiled by g++ too: tests/kernels/
 * test_moe_layout_cuda.cpp checks them against moe_permute_plan_create and
 * brute-force loops (the rank by emulating the block's ballots).
 */
#ifndef LOOM_PERMUTE_CUDA_CUH
#define LOOM_PERMUTE_CUDA_CUH

#include <stddef.h>
#include <stdint.h>

#ifndef __CUDACC__
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

#define PM_BLOCK 256	/* threads of the plan-fill and row-move blocks */

/* count rounded up to a multiple of align (int64: no overflow). */
static __host__ __device__ inline int64_t pm_padded(int64_t count, int align)
{
	return (count + align - 1) / align * align;
}

/* Largest num_rows any routing can give: T * k real rows plus at most
 * align - 1 padding rows per expert. */
static __host__ __device__ inline int64_t pm_max_rows(int t, int k, int e, int align)
{
	return (int64_t)t * k + (int64_t)e * (align - 1);
}

/* Widest unit (16, 8, 4, 2 or 1 bytes) that divides the row size and both
 * base addresses, so every row of a copy is aligned to it. */
static __host__ __device__ inline int pm_copy_unit(size_t row_bytes, uintptr_t a, uintptr_t b)
{
	uintptr_t m = (uintptr_t)row_bytes | a | b;

	for (int u = 16; u > 1; u /= 2)
		if (m % (uintptr_t)u == 0)
			return u;
	return 1;
}

#ifdef __CUDA_ARCH__
#define PM_POPC(x) __popc(x)
#else
#define PM_POPC(x) __builtin_popcount(x)
#endif

/* 32-bit lane masks: lanes below `lane`. */
static __host__ __device__ inline uint32_t pm_lanes_below(int lane)
{
	return lane == 0 ? 0u : 0xffffffffu >> (32 - lane);
}

/* Rank of thread `tid` among the threads of its chunk whose flag is set,
 * given each warp's ballot (warp_ballot[w], w < PM_BLOCK / 32): the number
 * of flagged threads before it in thread order. */
static __host__ __device__ inline int pm_chunk_rank(const uint32_t *warp_ballot, int tid)
{
	int rank = 0;

	for (int w = 0; w < tid / 32; w++)
		rank += PM_POPC(warp_ballot[w]);
	return rank + PM_POPC(warp_ballot[tid / 32] & pm_lanes_below(tid % 32));
}

#endif

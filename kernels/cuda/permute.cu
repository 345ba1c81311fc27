/*
 * permute.cu - MoE token permutation on sm_90a: the expert-contiguous plan
 * built from topk_idx on the GPU, dispatch of rows into it (padded per
 * expert for the grouped GEMM's contiguous layout), the inverse gather and
 * the weighted combine.  Contract in include/loom/moe_cuda.h; the CPU
 * reference is kernels/permute.c, matched bit for bit.
 * Not yet run on a GPU: compiled and statically checked only
 * (docs/GPU_RESULTS.md); the index arithmetic (permute.cuh) is tested on
 * the CPU.
 *
 * Plan: counts by atomics (order-free), offsets by one thread, then one
 * block per expert scans topk_idx in (token, slot) order and ranks its
 * matches with warp ballots, so each segment is stable as in permute.c
 * without any sort.  Rows: one block per row, the widest aligned unit.
 * Combine: one block per token, a thread per column, the token's slots
 * added in slot order in FP32 with separately rounded multiply and add
 * (permute.c is built with -ffp-contract=off).  Not here: the backward of
 * the combine, moving rows between ranks.
 */
#include "loom/err.h"
#include "loom/moe_cuda.h"

#include "permute.cuh"

#include <cuda_runtime.h>

/* ---- plan --------------------------------------------------------------- */

/* status[0]: smallest bad source index (UINT32_MAX if none). */
__global__ static void k_plan_count(const int32_t *idx, int n_src, int e, int32_t *count,
				    int32_t *row_of_src, uint32_t *status)
{
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_src; i += gridDim.x * blockDim.x) {
		int32_t x = idx[i];

		if (x < -1 || x >= e)
			atomicMin(&status[0], (uint32_t)i);
		else if (x < 0)
			row_of_src[i] = -1;
		else
			atomicAdd(&count[x], 1);
	}
}

/* One thread: offsets (E + 1) and status[1] = num_rows (UINT32_MAX when
 * the padded rows exceed INT32_MAX). */
__global__ static void k_plan_offsets(const int32_t *count, int e, int align, int32_t *offset,
				      uint32_t *status)
{
	int64_t rows = 0;

	for (int x = 0; x < e; x++) {
		offset[x] = (int32_t)rows;
		rows += pm_padded(count[x], align);
		if (rows > INT32_MAX) {
			status[1] = UINT32_MAX;
			return;
		}
	}
	offset[e] = (int32_t)rows;
	status[1] = (uint32_t)rows;
}

/* Block x fills expert x's segment: its rows in (token, slot) order. */
__global__ static void __launch_bounds__(PM_BLOCK)
k_plan_fill(const int32_t *idx, int n_src, const int32_t *count, const int32_t *offset,
	    int32_t *expert_of_row, int32_t *src_of_row, int32_t *row_of_src,
	    const uint32_t *status)
{
	__shared__ uint32_t ballots[PM_BLOCK / 32];
	const int x = blockIdx.x, tid = threadIdx.x;

	if (status[1] == UINT32_MAX)
		return;
	const int32_t lo = offset[x], n = count[x], hi = offset[x + 1];
	for (int32_t r = lo + tid; r < hi; r += PM_BLOCK) {
		expert_of_row[r] = r < lo + n ? x : -1;
		if (r >= lo + n)
			src_of_row[r] = -1;
	}
	int32_t done = 0;	/* rows of this expert placed so far */
	for (int base = 0; base < n_src && done < n; base += PM_BLOCK) {
		int i = base + tid;
		bool mine = i < n_src && idx[i] == x;
		uint32_t b = __ballot_sync(0xffffffffu, mine);

		if (tid % 32 == 0)
			ballots[tid / 32] = b;
		__syncthreads();
		if (mine) {
			int32_t r = lo + done + pm_chunk_rank(ballots, tid);
			row_of_src[i] = r;
			src_of_row[r] = i;
		}
		done += pm_chunk_rank(ballots, PM_BLOCK - 1) + (int)(ballots[PM_BLOCK / 32 - 1] >> 31);
		__syncthreads();
	}
}

static int pm_cuda_err(cudaError_t e, const char *what)
{
	return loom_err_set(EIO, "moe_cuda: %s: %s", what, cudaGetErrorString(e));
}

static int pm_plan_alloc(struct moe_cuda_plan *p, int64_t rows, int64_t n_src, int extra)
{
	size_t words = 2 * (size_t)p->num_experts + 1 + 2 * (size_t)rows + (size_t)n_src + extra;
	cudaError_t e = cudaMalloc(&p->mem, words * sizeof(int32_t));

	if (e != cudaSuccess) {
		p->mem = NULL;
		return loom_err_set(ENOMEM, "moe_cuda: plan: %zu bytes: %s", words * 4,
				    cudaGetErrorString(e));
	}
	p->expert_count = (int32_t *)p->mem;
	p->expert_offset = p->expert_count + p->num_experts;
	p->expert_of_row = p->expert_offset + p->num_experts + 1;
	p->src_of_row = p->expert_of_row + rows;
	p->row_of_src = p->src_of_row + rows;
	return 0;
}

static int pm_check_plan_args(int t, int k, int e, const void *idx, int align)
{
	if (!idx)
		return loom_err_set(EINVAL, "moe_cuda: plan: topk_idx is NULL");
	if (t <= 0 || k <= 0 || e <= 0 || align <= 0)
		return loom_err_set(EINVAL, "moe_cuda: plan: num_tokens=%d top_k=%d num_experts=%d "
				    "align=%d must all be > 0", t, k, e, align);
	if ((int64_t)t * k > INT32_MAX || pm_max_rows(t, k, e, align) > INT32_MAX)
		return loom_err_set(EINVAL, "moe_cuda: plan: %d tokens x %d slots (align %d, %d "
				    "experts) may exceed INT32_MAX rows", t, k, align, e);
	return 0;
}

/* Launch the three plan kernels and read back status (synchronizes). */
static int pm_plan_run(struct moe_cuda_plan *p, const int32_t *idx, int n_src, uint32_t *d_status,
		       cudaStream_t s)
{
	uint32_t st[2];
	cudaError_t e = cudaMemsetAsync(p->expert_count, 0, sizeof(int32_t) * p->num_experts, s);

	if (e == cudaSuccess)
		e = cudaMemsetAsync(d_status, 0xff, 2 * sizeof(uint32_t), s);
	if (e != cudaSuccess)
		return pm_cuda_err(e, "plan: memset");
	int grid = (n_src + PM_BLOCK - 1) / PM_BLOCK;
	k_plan_count<<<grid < 132 * 8 ? grid : 132 * 8, PM_BLOCK, 0, s>>>(
		idx, n_src, p->num_experts, p->expert_count, p->row_of_src, d_status);
	k_plan_offsets<<<1, 1, 0, s>>>(p->expert_count, p->num_experts, p->align,
					p->expert_offset, d_status);
	k_plan_fill<<<p->num_experts, PM_BLOCK, 0, s>>>(idx, n_src, p->expert_count,
							 p->expert_offset, p->expert_of_row,
							 p->src_of_row, p->row_of_src, d_status);
	if ((e = cudaGetLastError()) != cudaSuccess)
		return pm_cuda_err(e, "plan: launch");
	if ((e = cudaMemcpyAsync(st, d_status, sizeof(st), cudaMemcpyDeviceToHost, s)) !=
	    cudaSuccess || (e = cudaStreamSynchronize(s)) != cudaSuccess)
		return pm_cuda_err(e, "plan");
	if (st[0] != UINT32_MAX)
		return loom_err_set(EINVAL, "moe_cuda: plan: topk_idx[%u] outside [-1, %d)", st[0],
				    p->num_experts);
	if (st[1] == UINT32_MAX)
		return loom_err_set(EINVAL, "moe_cuda: plan: padded rows exceed INT32_MAX");
	p->num_rows = (int)st[1];
	return 0;
}

extern "C" int moe_cuda_plan_build(struct moe_cuda_plan *plan, int num_tokens, int top_k,
				   int num_experts, const int32_t *topk_idx, int align,
				   void *stream)
{
	int err = pm_check_plan_args(num_tokens, top_k, num_experts, topk_idx, align);

	if (err || !plan)
		return err ? err : loom_err_set(EINVAL, "moe_cuda: plan: plan is NULL");
	*plan = (struct moe_cuda_plan){ num_tokens, top_k, num_experts, align, 0,
					NULL, NULL, NULL, NULL, NULL, NULL };
	int64_t n_src = (int64_t)num_tokens * top_k;
	int64_t rows = pm_max_rows(num_tokens, top_k, num_experts, align);
	if ((err = pm_plan_alloc(plan, rows, n_src, 2)))
		return err;
	err = pm_plan_run(plan, topk_idx, (int)n_src, (uint32_t *)(plan->row_of_src + n_src),
			  (cudaStream_t)stream);
	if (err)
		moe_cuda_plan_free(plan);
	return err;
}

extern "C" int moe_cuda_plan_upload(struct moe_cuda_plan *plan,
				    const struct moe_permute_plan *cpu, void *stream)
{
	if (!plan || !cpu)
		return loom_err_set(EINVAL, "moe_cuda: plan_upload: NULL plan");
	*plan = (struct moe_cuda_plan){ cpu->num_tokens, cpu->top_k, cpu->num_experts,
					cpu->align, cpu->num_rows, NULL, NULL, NULL, NULL, NULL,
					NULL };
	size_t e = (size_t)cpu->num_experts, rows = (size_t)cpu->num_rows;
	size_t n_src = (size_t)cpu->num_tokens * cpu->top_k;
	int err = pm_plan_alloc(plan, (int64_t)rows, (int64_t)n_src, 0);
	if (err)
		return err;
	cudaStream_t s = (cudaStream_t)stream;
	const struct { void *dst; const void *src; size_t n; } parts[] = {
		{ plan->expert_count, cpu->expert_count, e },
		{ plan->expert_offset, cpu->expert_offset, e + 1 },
		{ plan->expert_of_row, cpu->expert_of_row, rows },
		{ plan->src_of_row, cpu->src_of_row, rows },
		{ plan->row_of_src, cpu->row_of_src, n_src },
	};
	cudaError_t ce = cudaSuccess;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && ce == cudaSuccess; i++)
		if (parts[i].n)
			ce = cudaMemcpyAsync(parts[i].dst, parts[i].src, parts[i].n * 4,
					     cudaMemcpyHostToDevice, s);
	if (ce == cudaSuccess)
		ce = cudaStreamSynchronize(s);
	if (ce != cudaSuccess) {
		moe_cuda_plan_free(plan);
		return pm_cuda_err(ce, "plan_upload");
	}
	return 0;
}

extern "C" void moe_cuda_plan_free(struct moe_cuda_plan *plan)
{
	if (!plan)
		return;
	if (plan->mem)
		cudaFree(plan->mem);
	*plan = (struct moe_cuda_plan){ 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL };
}

/* ---- moving rows -------------------------------------------------------- */

/* dst row r = src row map[r] / div, or zeros when map[r] < 0; U is the copy
 * unit, rows are `units` of it. */
template <typename U>
__global__ static void __launch_bounds__(PM_BLOCK)
k_gather_rows(U *dst, const U *src, size_t units, const int32_t *map, int rows, int div)
{
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		int32_t m = map[r];
		U *d = dst + (size_t)r * units;

		if (m < 0) {
			for (size_t c = threadIdx.x; c < units; c += PM_BLOCK)
				d[c] = U{};
			continue;
		}
		const U *s = src + (size_t)(m / div) * units;
		for (size_t c = threadIdx.x; c < units; c += PM_BLOCK)
			d[c] = s[c];
	}
}

static int pm_gather(void *dst, const void *src, size_t row_bytes, const int32_t *map, int rows,
		     int div, cudaStream_t s)
{
	int unit = pm_copy_unit(row_bytes, (uintptr_t)dst, (uintptr_t)src);
	size_t units = row_bytes / unit;
	unsigned grid = (unsigned)(rows < 132 * 16 ? rows : 132 * 16);

	if (rows == 0)
		return 0;
	if (unit == 16)
		k_gather_rows<<<grid, PM_BLOCK, 0, s>>>((uint4 *)dst, (const uint4 *)src, units, map, rows, div);
	else if (unit == 8)
		k_gather_rows<<<grid, PM_BLOCK, 0, s>>>((uint2 *)dst, (const uint2 *)src, units, map, rows, div);
	else if (unit == 4)
		k_gather_rows<<<grid, PM_BLOCK, 0, s>>>((uint32_t *)dst, (const uint32_t *)src, units, map, rows, div);
	else if (unit == 2)
		k_gather_rows<<<grid, PM_BLOCK, 0, s>>>((uint16_t *)dst, (const uint16_t *)src, units, map, rows, div);
	else
		k_gather_rows<<<grid, PM_BLOCK, 0, s>>>((uint8_t *)dst, (const uint8_t *)src, units, map, rows, div);
	cudaError_t e = cudaGetLastError();
	return e == cudaSuccess ? 0 : pm_cuda_err(e, "gather rows: launch");
}

/* permute.c's check_rows: plan, buffers, and row_bytes addressable. */
static int pm_check_rows(const char *fn, const struct moe_cuda_plan *p, size_t row_bytes,
			 const void *in, const void *out)
{
	if (!p || !p->mem || !in || !out)
		return loom_err_set(EINVAL, "moe_cuda: %s: NULL plan, input or output", fn);
	uint64_t n = (uint64_t)p->num_tokens * (uint64_t)p->top_k;
	if ((uint64_t)p->num_rows > n)
		n = (uint64_t)p->num_rows;
	if (row_bytes == 0 || (n > 0 && row_bytes > SIZE_MAX / n))
		return loom_err_set(EINVAL, "moe_cuda: %s: row_bytes=%zu invalid for %llu rows", fn,
				    row_bytes, (unsigned long long)n);
	return 0;
}

extern "C" int moe_cuda_permute(const struct moe_cuda_plan *plan, const void *x,
				size_t row_bytes, void *out, void *stream)
{
	int err = pm_check_rows("permute", plan, row_bytes, x, out);

	return err ? err : pm_gather(out, x, row_bytes, plan->src_of_row, plan->num_rows,
				     plan->top_k, (cudaStream_t)stream);
}

extern "C" int moe_cuda_unpermute(const struct moe_cuda_plan *plan, const void *y,
				  size_t row_bytes, void *out, void *stream)
{
	int err = pm_check_rows("unpermute", plan, row_bytes, y, out);

	return err ? err : pm_gather(out, y, row_bytes, plan->row_of_src,
				     plan->num_tokens * plan->top_k, 1, (cudaStream_t)stream);
}

/* ---- combine ------------------------------------------------------------ */

__global__ static void __launch_bounds__(PM_BLOCK)
k_combine(float *out, const float *y, int h, const int32_t *row_of_src, const float *w,
	  int t_count, int k)
{
	for (int t = blockIdx.x; t < t_count; t += gridDim.x) {
		for (int c = threadIdx.x; c < h; c += PM_BLOCK) {
			float o = 0.0f;

			for (int j = 0; j < k; j++) {
				int32_t r = row_of_src[(size_t)t * k + j];
				if (r < 0)
					continue;
				float wj = w ? w[(size_t)t * k + j] : 1.0f;
				o = __fadd_rn(o, __fmul_rn(wj, y[(size_t)r * h + c]));
			}
			out[(size_t)t * h + c] = o;
		}
	}
}

extern "C" int moe_cuda_combine_f32(const struct moe_cuda_plan *plan, const float *y, int hidden,
				    const float *topk_weight, float *out, void *stream)
{
	if (hidden <= 0)
		return loom_err_set(EINVAL, "moe_cuda: combine: hidden=%d must be > 0", hidden);
	int err = pm_check_rows("combine", plan, sizeof(float) * (size_t)hidden, y, out);
	if (err)
		return err;
	int t = plan->num_tokens;
	k_combine<<<(unsigned)(t < 132 * 16 ? t : 132 * 16), PM_BLOCK, 0, (cudaStream_t)stream>>>(
		out, y, hidden, plan->row_of_src, topk_weight, t, plan->top_k);
	cudaError_t e = cudaGetLastError();
	return e == cudaSuccess ? 0 : pm_cuda_err(e, "combine: launch");
}

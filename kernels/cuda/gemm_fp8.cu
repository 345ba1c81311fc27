/*
 * gemm_fp8.cu - FP8 GEMMs with fine-grained scales for Hopper (sm_90a):
 * dense NT and the grouped MoE layouts (contiguous, masked).  Contract in
 * include/loom/gemm_cuda.h; CPU reference kernels/gemm_fp8.c and
 * kernels/gemm_grouped.c.  Not yet run on a GPU: built and statically
 * checked only (ptxas report, `make check-sass`); see docs/GPU_RESULTS.md.
 *
 * What it computes: D (bf16) = per 128-wide K block kb, sum over the block
 * of A[m, k] B[n, k] on the tensor core (wgmma m64n128k32 e4m3, FP32 out),
 * promoted every block into FP32 accumulators as acc += sa[m, kb] *
 * sb[n / 128, kb] * block_sum (DeepGEMM's scheme, gemm.h's
 * GEMM_ACCUM_FP32 up to summation order), rounded to BF16 at the end.
 *
 * How: one CTA of 384 threads per SM, persistent (tiles strided by the grid,
 * order of gemm_tile_of).  Warpgroup 0 is the producer: one thread issues
 * TMA loads of A (128 x 128), B (128 x 128) and A's 128 scales per K block
 * into a GEMM_STAGES-deep ring of 128-byte-swizzled stages, each guarded by
 * a "full" mbarrier (TMA transaction bytes) and an "empty" one (one arrive
 * per consumer warp).  Warpgroups 1 and 2 are consumers, 64 rows each:
 * 4 wgmmas per K block into a temporary accumulator, then the scaled add.
 * The epilogue stores BF16 straight from registers with bounds checks
 * (M, N need not be tile multiples).  Not here: TMA stores, multicast,
 * block sizes other than 128 x 128 (small M wastes half a tile), split-K
 * (small M with small N leaves most SMs idle: m = 64, n = 2112 is 17 tiles).
 */
#include "loom/err.h"
#include "loom/gemm_cuda.h"
#include "loom/quant.h"

#include "gemm_fp8_layout.cuh"
#include "gemm_fp8_ptx.cuh"

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#define NUM_THREADS 384		/* producer warpgroup + 2 consumer warpgroups */
#define NUM_CONSUMER_WARPS 8
#define PRODUCER_REGS 40	/* setmaxnreg budgets: 128*40 + 256*232 <= 64K */
#define CONSUMER_REGS 232
#define ACC_REGS (GEMM_BLOCK_N / 2) /* f32 accumulators per consumer thread */

/* Kernel parameters besides the tensor maps. */
struct gemm_params {
	const float *b_scales; /* (G, NB, KB) */
	__nv_bfloat16 *d;      /* (rows, N) */
	const int32_t *meta;   /* expert_of_row (contiguous) / rows_per_group (masked) */
	int m, n, k_blocks;    /* m: rows of A (dense, contiguous) */
	int num_groups;	       /* experts stacked in B */
	int max_m;	       /* masked: rows per group */
	int m_blocks, n_blocks, num_tiles;
};

/* A tile as both roles see it: expert whose B it uses, rows of D it may
 * write (0: nothing to do), whether it is a padding block (contiguous:
 * written as zeros, no loads). */
struct tile_job {
	struct gemm_tile t;
	int expert, rows;
	bool zero_fill;
};

/* The expert of a 128-row block of the contiguous layout: the largest index
 * among its rows (padding is -1).  Called by a whole warp. */
__device__ static int block_expert(const int32_t *expert_of_row, int row0, int m)
{
	int lane = threadIdx.x % 32, e = -1;

	for (int r = row0 + lane; r < row0 + GEMM_BLOCK_M && r < m; r += 32)
		e = max(e, __ldg(&expert_of_row[r]));
	for (int off = 16; off; off /= 2)
		e = max(e, __shfl_xor_sync(0xffffffffu, e, off));
	return e;
}

template <int MODE>
__device__ static struct tile_job tile_job_of(const struct gemm_params &p, int tile)
{
	struct tile_job j;

	j.t = gemm_tile_of(tile, p.m_blocks, p.n_blocks);
	j.expert = MODE == GEMM_MODE_MASKED ? j.t.group : 0;
	j.zero_fill = false;
	j.rows = gemm_tile_rows((enum gemm_fp8_mode)MODE, j.t,
				MODE == GEMM_MODE_MASKED ? __ldg(&p.meta[j.t.group]) : p.m, p.max_m);
	if (MODE == GEMM_MODE_CONTIGUOUS) {
		/* an index >= G (bad device data) must not reach B or its scales */
		j.expert = block_expert(p.meta, j.t.m_block * GEMM_BLOCK_M, p.m);
		j.zero_fill = j.expert < 0 || j.expert >= p.num_groups;
	}
	return j;
}

/* Producer: one thread fills the ring; the warp runs along for the
 * warp-wide expert lookup. */
template <int MODE>
__device__ static void produce(const struct gemm_params &p, const CUtensorMap *tm_a,
			       const CUtensorMap *tm_b, const CUtensorMap *tm_sa, uint8_t *smem,
			       uint32_t bar_full, uint32_t bar_empty)
{
	bool leader = threadIdx.x == 0;
	long it = 0;

	for (int tile = blockIdx.x; tile < p.num_tiles; tile += gridDim.x) {
		struct tile_job j = tile_job_of<MODE>(p, tile);
		int a_row = gemm_a_row0((enum gemm_fp8_mode)MODE, j.t, p.max_m);
		int b_row = gemm_b_row0(j.expert, j.t.n_block, p.n);

		if (j.rows == 0 || j.zero_fill)
			continue;
		for (int kb = 0; kb < p.k_blocks && leader; kb++, it++) {
			int s = gemm_stage_of(it);
			uint32_t full = bar_full + 8 * s;

			mbar_wait(bar_empty + 8 * s, gemm_phase_of(it) ^ 1);
			mbar_arrive_expect_tx(full, GEMM_STAGE_TX_BYTES);
			tma_load_2d(smem_u32(smem + GEMM_SMEM_A_OFF + s * GEMM_SMEM_A_STAGE), tm_a,
				    full, kb * GEMM_BLOCK_K, a_row);
			tma_load_2d(smem_u32(smem + GEMM_SMEM_B_OFF + s * GEMM_SMEM_B_STAGE), tm_b,
				    full, kb * GEMM_BLOCK_K, b_row);
			tma_load_2d(smem_u32(smem + GEMM_SMEM_SA_OFF + s * GEMM_SMEM_SA_STAGE), tm_sa,
				    full, j.t.m_block * GEMM_BLOCK_M,
				    gemm_sa_col((enum gemm_fp8_mode)MODE, j.t.group, kb, p.k_blocks));
		}
		__syncwarp(); /* reconverge before the next tile's warp-wide lookup */
	}
}

/* One K block of a consumer warpgroup: 4 wgmmas (K = 32 each) into tmp. */
__device__ static void mma_block(float *tmp, uint32_t a_addr, uint32_t b_addr)
{
#pragma unroll
	for (int i = 0; i < ACC_REGS; i++)
		wgmma_fence_operand(tmp[i]);
	wgmma_fence();
#pragma unroll
	for (int k = 0; k < GEMM_BLOCK_K / GEMM_WGMMA_K; k++)
		wgmma_m64n128k32(tmp, gemm_smem_desc(a_addr + k * GEMM_WGMMA_K, 0, 1024, 1),
				 gemm_smem_desc(b_addr + k * GEMM_WGMMA_K, 0, 1024, 1), k > 0);
	wgmma_commit();
#pragma unroll
	for (int i = 0; i < ACC_REGS; i++)
		wgmma_fence_operand(tmp[i]);
	wgmma_wait_all();
}

/* Store a consumer thread's fragment of D rows [row0, row0 + rows) (local
 * 0..63 of its warpgroup offset by wg_row), zeros when zero, and rows whose
 * expert is -1 (contiguous padding) as zeros too. */
template <int MODE>
__device__ static void store_tile(const struct gemm_params &p, const struct tile_job &j,
				  const float *acc, bool zero, int wg)
{
	int t = threadIdx.x % 128;
	long drow0 = (long)gemm_a_row0((enum gemm_fp8_mode)MODE, j.t, p.max_m);
	int col0 = j.t.n_block * GEMM_BLOCK_N;
	bool pairs = p.n % 2 == 0;

#pragma unroll
	for (int h = 0; h < 2; h++) {
		int r = wg * GEMM_WGMMA_M + gemm_acc_row(t, 2 * h);
		bool pad = zero;

		if (r >= j.rows)
			continue;
		if (MODE == GEMM_MODE_CONTIGUOUS && !pad)
			pad = __ldg(&p.meta[drow0 + r]) < 0;
		__nv_bfloat16 *drow = p.d + (drow0 + r) * p.n;
#pragma unroll
		for (int q = 0; q < ACC_REGS / 4; q++) {
			int i = 4 * q + 2 * h, c = col0 + gemm_acc_col(t, i);
			float v0 = pad ? 0.0f : acc[i], v1 = pad ? 0.0f : acc[i + 1];

			if (pairs && c + 1 < p.n) {
				*reinterpret_cast<__nv_bfloat162 *>(drow + c) =
					__floats2bfloat162_rn(v0, v1);
			} else {
				if (c < p.n)
					drow[c] = __float2bfloat16_rn(v0);
				if (c + 1 < p.n)
					drow[c + 1] = __float2bfloat16_rn(v1);
			}
		}
	}
}

/* Consumer warpgroup wg (0 or 1): rows wg*64 .. wg*64+63 of each tile. */
template <int MODE>
__device__ static void consume(const struct gemm_params &p, uint8_t *smem, uint32_t bar_full,
			       uint32_t bar_empty, int wg)
{
	float acc[ACC_REGS], tmp[ACC_REGS];
	const float *sa_smem = reinterpret_cast<const float *>(smem + GEMM_SMEM_SA_OFF);
	int t = threadIdx.x % 128, lane = threadIdx.x % 32;
	int r_lo = wg * GEMM_WGMMA_M + gemm_acc_row(t, 0), r_hi = r_lo + 8;
	long it = 0;

	for (int tile = blockIdx.x; tile < p.num_tiles; tile += gridDim.x) {
		struct tile_job j = tile_job_of<MODE>(p, tile);

		if (j.rows == 0)
			continue;
		if (j.zero_fill) {
			store_tile<MODE>(p, j, acc, true, wg);
			continue;
		}
#pragma unroll
		for (int i = 0; i < ACC_REGS; i++)
			acc[i] = 0.0f;
		for (int kb = 0; kb < p.k_blocks; kb++, it++) {
			int s = gemm_stage_of(it);
			float sb = __ldg(&p.b_scales[gemm_sb_index(j.expert, j.t.n_block, kb, p.n,
								   p.k_blocks)]);
			float s_lo, s_hi;

			mbar_wait(bar_full + 8 * s, gemm_phase_of(it));
			s_lo = sa_smem[s * GEMM_BLOCK_M + r_lo] * sb;
			s_hi = sa_smem[s * GEMM_BLOCK_M + r_hi] * sb;
			mma_block(tmp,
				  smem_u32(smem + GEMM_SMEM_A_OFF + s * GEMM_SMEM_A_STAGE +
					   wg * GEMM_WGMMA_M * GEMM_BLOCK_K),
				  smem_u32(smem + GEMM_SMEM_B_OFF + s * GEMM_SMEM_B_STAGE));
			__syncwarp();
			if (lane == 0)
				mbar_arrive(bar_empty + 8 * s);
#pragma unroll
			for (int i = 0; i < ACC_REGS; i++)
				acc[i] += ((i / 2) % 2 ? s_hi : s_lo) * tmp[i];
		}
		store_tile<MODE>(p, j, acc, false, wg);
	}
}

template <int MODE>
__global__ static void __launch_bounds__(NUM_THREADS, 1)
	k_gemm_fp8(const __grid_constant__ CUtensorMap tm_a, const __grid_constant__ CUtensorMap tm_b,
		   const __grid_constant__ CUtensorMap tm_sa, const struct gemm_params p)
{
	extern __shared__ uint8_t smem_raw[];
	/* 128-byte swizzled TMA boxes need 1024-byte aligned destinations. */
	uint8_t *smem = reinterpret_cast<uint8_t *>(
		(reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~(uintptr_t)1023);
	uint32_t bar_full = smem_u32(smem + GEMM_SMEM_BAR_OFF);
	uint32_t bar_empty = bar_full + 8 * GEMM_STAGES;
	int wg = threadIdx.x / 128;

	if (threadIdx.x == 0) {
		tma_prefetch_desc(&tm_a);
		tma_prefetch_desc(&tm_b);
		tma_prefetch_desc(&tm_sa);
		for (int s = 0; s < GEMM_STAGES; s++) {
			mbar_init(bar_full + 8 * s, 1);
			mbar_init(bar_empty + 8 * s, NUM_CONSUMER_WARPS);
		}
		mbar_init_fence();
	}
	__syncthreads();
	if (wg == 0) {
		regs_dealloc<PRODUCER_REGS>();
		if (threadIdx.x < 32)
			produce<MODE>(p, &tm_a, &tm_b, &tm_sa, smem, bar_full, bar_empty);
	} else {
		regs_alloc<CONSUMER_REGS>();
		consume<MODE>(p, smem, bar_full, bar_empty, wg - 1);
	}
}

/* ---- host side ------------------------------------------------------ */

static int cuda_fail(cudaError_t e, const char *what)
{
	if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
		return loom_err_set(ENODEV, "gemm_cuda: %s: %s", what, cudaGetErrorString(e));
	return loom_err_set(EIO, "gemm_cuda: %s: %s", what, cudaGetErrorString(e));
}

static bool misaligned(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15) != 0; }

/* The launcher's checks, before any CUDA call (rows: rows of A's tensor
 * map; groups: experts stacked in B). */
static int check_args(const struct gemm_cuda_fp8_args *a, int rows, int groups, const char *fn)
{
	if (!a || !a->a || !a->a_scales || !a->b || !a->b_scales || !a->d)
		return loom_err_set(EINVAL, "gemm_cuda: %s: NULL pointer", fn);
	if (misaligned(a->a) || misaligned(a->a_scales) || misaligned(a->b) ||
	    misaligned(a->b_scales) || misaligned(a->d))
		return loom_err_set(EINVAL, "gemm_cuda: %s: pointers must be 16-byte aligned (TMA)",
				    fn);
	if (rows <= 0 || a->n <= 0 || a->k <= 0 || a->k % GEMM_BLOCK_K)
		return loom_err_set(EINVAL,
				    "gemm_cuda: %s: m=%d n=%d k=%d: need m, n >= 1 and k a positive multiple of 128",
				    fn, rows, a->n, a->k);
	if (groups <= 0 || (long)groups * a->n > 0x7fffffffL - GEMM_BLOCK_N ||
	    rows > 0x7fffffff - 4 * GEMM_BLOCK_M)
		return loom_err_set(EINVAL, "gemm_cuda: %s: %d groups x n=%d, %d rows: too large",
				    fn, groups, a->n, rows);
	return 0;
}

static PFN_cuTensorMapEncodeTiled_v12000 encode_fn(void)
{
	static PFN_cuTensorMapEncodeTiled_v12000 fn;
	cudaDriverEntryPointQueryResult q;
	void *p = NULL;

	if (!fn && cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000,
						    cudaEnableDefault, &q) == cudaSuccess &&
	    q == cudaDriverEntryPointSuccess)
		fn = (PFN_cuTensorMapEncodeTiled_v12000)p;
	return fn;
}

/* A 2-D tensor map over (outer, inner) elements with a row pitch of
 * pitch_bytes, boxes of (box_outer, box_inner). */
static int encode_2d(CUtensorMap *map, CUtensorMapDataType type, const void *base,
		     uint64_t inner, uint64_t outer, uint64_t pitch_bytes, uint32_t box_inner,
		     uint32_t box_outer, CUtensorMapSwizzle swizzle, const char *what)
{
	PFN_cuTensorMapEncodeTiled_v12000 fn = encode_fn();
	cuuint64_t dims[2] = { inner, outer }, strides[1] = { pitch_bytes };
	cuuint32_t box[2] = { box_inner, box_outer }, estr[2] = { 1, 1 };
	CUresult r;

	if (!fn)
		return loom_err_set(ENODEV, "gemm_cuda: cuTensorMapEncodeTiled not available (no driver)");
	r = fn(map, type, 2, const_cast<void *>(base), dims, strides, box, estr,
	       CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
	       CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
	if (r != CUDA_SUCCESS)
		return loom_err_set(EINVAL, "gemm_cuda: tensor map for %s: CUresult %d", what, (int)r);
	return 0;
}

/* The three tensor maps: A (a_rows, K), B (b_rows, K), A scales
 * (sa_cols columns of sa_ld floats). */
static int encode_maps(CUtensorMap maps[3], const struct gemm_cuda_fp8_args *a, int a_rows,
		       int b_rows, int sa_ld, int sa_cols)
{
	int rc = encode_2d(&maps[0], CU_TENSOR_MAP_DATA_TYPE_UINT8, a->a, a->k, a_rows, a->k,
			   GEMM_BLOCK_K, GEMM_BLOCK_M, CU_TENSOR_MAP_SWIZZLE_128B, "A");

	if (!rc)
		rc = encode_2d(&maps[1], CU_TENSOR_MAP_DATA_TYPE_UINT8, a->b, a->k, b_rows, a->k,
			       GEMM_BLOCK_K, GEMM_BLOCK_N, CU_TENSOR_MAP_SWIZZLE_128B, "B");
	if (!rc)
		rc = encode_2d(&maps[2], CU_TENSOR_MAP_DATA_TYPE_FLOAT32, a->a_scales, sa_ld, sa_cols,
			       (uint64_t)sa_ld * 4, GEMM_BLOCK_M, 1, CU_TENSOR_MAP_SWIZZLE_NONE,
			       "A scales");
	return rc;
}

/* Device checks (compute capability 9.0) and the SM count for the grid. */
static int device_sms(int *sms)
{
	int dev, major = 0, minor = 0;
	cudaError_t e = cudaGetDevice(&dev);

	if (e == cudaSuccess)
		e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
	if (e == cudaSuccess)
		e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
	if (e == cudaSuccess)
		e = cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, dev);
	if (e != cudaSuccess)
		return cuda_fail(e, "device query");
	if (major != 9 || minor != 0)
		return loom_err_set(ENODEV, "gemm_cuda: needs an sm_90 GPU (Hopper), device is sm_%d%d",
				    major, minor);
	return 0;
}

/* groups x m_blocks x n_blocks tiles into p->num_tiles; -EINVAL past an int. */
static int set_tiles(struct gemm_params *p, int groups, int n)
{
	long tiles = (long)groups * p->m_blocks * gemm_ceil_div(n, GEMM_BLOCK_N);

	if (tiles > 0x7fffffffL)
		return loom_err_set(EINVAL, "gemm_cuda: %ld tiles: too many", tiles);
	p->num_tiles = (int)tiles;
	return 0;
}

template <int MODE>
static int launch(const struct gemm_cuda_fp8_args *a, struct gemm_params p, const CUtensorMap *maps,
		  void *stream)
{
	int sms = 0, rc;
	cudaError_t e;

	rc = device_sms(&sms);
	if (rc)
		return rc;
	e = cudaFuncSetAttribute(k_gemm_fp8<MODE>, cudaFuncAttributeMaxDynamicSharedMemorySize,
				 GEMM_SMEM_BYTES);
	if (e != cudaSuccess)
		return cuda_fail(e, "cudaFuncSetAttribute");
	p.b_scales = a->b_scales;
	p.d = reinterpret_cast<__nv_bfloat16 *>(a->d);
	p.n = a->n;
	p.k_blocks = a->k / GEMM_BLOCK_K;
	p.n_blocks = gemm_ceil_div(a->n, GEMM_BLOCK_N);
	k_gemm_fp8<MODE><<<p.num_tiles < sms ? p.num_tiles : sms, NUM_THREADS, GEMM_SMEM_BYTES,
			   (cudaStream_t)stream>>>(maps[0], maps[1], maps[2], p);
	e = cudaGetLastError();
	return e == cudaSuccess ? 0 : cuda_fail(e, "kernel launch");
}

extern "C" int gemm_cuda_fp8_nt(const struct gemm_cuda_fp8_args *args, void *stream)
{
	struct gemm_params p = {};
	CUtensorMap maps[3];
	int rc = check_args(args, args ? args->m : 0, 1, "nt");

	p.num_groups = 1;
	if (!rc)
		rc = encode_maps(maps, args, args->m, args->n, quant_dg_ld(args->m),
				 args->k / GEMM_BLOCK_K);
	if (rc)
		return rc;
	p.m = args->m;
	p.m_blocks = gemm_ceil_div(args->m, GEMM_BLOCK_M);
	rc = set_tiles(&p, 1, args->n);
	return rc ? rc : launch<GEMM_MODE_DENSE>(args, p, maps, stream);
}

extern "C" int gemm_cuda_fp8_grouped_contiguous(const struct gemm_cuda_fp8_args *args,
						int num_groups, const int32_t *expert_of_row,
						void *stream)
{
	struct gemm_params p = {};
	CUtensorMap maps[3];
	int rc = check_args(args, args ? args->m : 0, num_groups, "grouped_contiguous");

	if (!rc && !expert_of_row)
		rc = loom_err_set(EINVAL, "gemm_cuda: grouped_contiguous: NULL expert_of_row");
	if (!rc && args->m % GEMM_BLOCK_M)
		rc = loom_err_set(EINVAL, "gemm_cuda: grouped_contiguous: m=%d must be a multiple of 128",
				  args->m);
	if (!rc)
		rc = encode_maps(maps, args, args->m, num_groups * args->n, quant_dg_ld(args->m),
				 args->k / GEMM_BLOCK_K);
	if (rc)
		return rc;
	p.meta = expert_of_row;
	p.num_groups = num_groups;
	p.m = args->m;
	p.m_blocks = args->m / GEMM_BLOCK_M;
	rc = set_tiles(&p, 1, args->n);
	return rc ? rc : launch<GEMM_MODE_CONTIGUOUS>(args, p, maps, stream);
}

extern "C" int gemm_cuda_fp8_grouped_masked(const struct gemm_cuda_fp8_args *args, int num_groups,
					    int max_m, const int32_t *rows_per_group, void *stream)
{
	struct gemm_params p = {};
	CUtensorMap maps[3];
	int kbs, rc;

	if (num_groups <= 0 || max_m <= 0 || (long)num_groups * max_m > 0x7fffffffL / 2)
		return loom_err_set(EINVAL, "gemm_cuda: grouped_masked: num_groups=%d max_m=%d must be > 0 (product below 2^30)",
				    num_groups, max_m);
	rc = check_args(args, num_groups * max_m, num_groups, "grouped_masked");
	if (!rc && !rows_per_group)
		rc = loom_err_set(EINVAL, "gemm_cuda: grouped_masked: NULL rows_per_group");
	if (rc)
		return rc;
	kbs = args->k / GEMM_BLOCK_K;
	if ((long)num_groups * kbs > 0x7fffffffL)
		return loom_err_set(EINVAL, "gemm_cuda: grouped_masked: too many scale columns");
	rc = encode_maps(maps, args, num_groups * max_m, num_groups * args->n, quant_dg_ld(max_m),
			 num_groups * kbs);
	if (rc)
		return rc;
	p.meta = rows_per_group;
	p.num_groups = num_groups;
	p.m = max_m;
	p.max_m = max_m;
	p.m_blocks = gemm_ceil_div(max_m, GEMM_BLOCK_M);
	rc = set_tiles(&p, num_groups, args->n);
	return rc ? rc : launch<GEMM_MODE_MASKED>(args, p, maps, stream);
}

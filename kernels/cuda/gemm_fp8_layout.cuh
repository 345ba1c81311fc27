/*
 * gemm_fp8_layout.cuh - tile, scheduler, scale-index and shared-memory
 * descriptor arithmetic of the Hopper FP8 GEMMs (kernels/cuda/gemm_fp8.cu).
 *
 * Everything here is a small __host__ __device__ function so the CPU tests
 * (tests/kernels/test_gemm_layout_cuda.cpp) check it against brute-force
 * loops and the C reference layouts (quant.h).  No CUDA runtime calls, no
 * kernels.  Compiled by g++ too: __host__/__device__ are defined away there.
 *
 * Shapes (all row-major unless stated):
 *   A (M, K) e4m3, K-major; A scales in DeepGEMM's layout: KB columns of
 *     quant_dg_ld(M) floats, element (i, kb) at [kb * ld + i] (quant.h);
 *   B (G, N, K) e4m3, K-major; B scales (G, NB, KB) row-major;
 *   D (M, N) bf16.  KB = K / 128, NB = ceil(N / 128).
 */
#ifndef LOOM_GEMM_FP8_LAYOUT_CUH
#define LOOM_GEMM_FP8_LAYOUT_CUH

#include <stdint.h>

#ifndef __CUDACC__
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

/* Tile sizes: a CTA computes a (GEMM_BLOCK_M, GEMM_BLOCK_N) tile of D; each
 * pipeline stage holds one 128-wide K block of A and B (128 bytes of e4m3
 * per row = exactly one 128-byte swizzle row). */
#define GEMM_BLOCK_M 128
#define GEMM_BLOCK_N 128
#define GEMM_BLOCK_K 128
#define GEMM_WGMMA_M 64	 /* rows per consumer warpgroup */
#define GEMM_WGMMA_K 32	 /* e4m3 K per wgmma instruction */
#define GEMM_STAGES 5
/* Scheduler swizzle: tiles walk GEMM_SWIZZLE_M m-blocks at a time, all n
 * blocks of that band before the next band, so CTAs that run together share
 * A rows and B columns in L2. */
#define GEMM_SWIZZLE_M 8

enum gemm_fp8_mode {
	GEMM_MODE_DENSE = 0,	  /* one expert, args M rows */
	GEMM_MODE_CONTIGUOUS = 1, /* expert per 128-row block (expert_of_row) */
	GEMM_MODE_MASKED = 2,	  /* G x max_m rows, rows_per_group[g] valid */
};

static __host__ __device__ inline int gemm_ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Where a persistent CTA's tile lies: group (expert) index for the masked
 * layout (0 otherwise), m block within the group, n block. */
struct gemm_tile {
	int group, m_block, n_block;
};

/*
 * Tile `tile` (0 <= tile < groups * m_blocks * n_blocks) of a grid of
 * `groups` stacked (m_blocks, n_blocks) problems: group-major, then bands of
 * GEMM_SWIZZLE_M m blocks (the last band may be narrower), and within a band
 * m fastest.  A bijection onto (group, m_block, n_block).
 */
static __host__ __device__ inline struct gemm_tile gemm_tile_of(int tile, int m_blocks,
								int n_blocks)
{
	struct gemm_tile t;
	int per_group = m_blocks * n_blocks;
	int in_group, band_first, band_rows, in_band;

	t.group = tile / per_group;
	in_group = tile - t.group * per_group;
	band_first = in_group / (GEMM_SWIZZLE_M * n_blocks) * GEMM_SWIZZLE_M;
	band_rows = m_blocks - band_first < GEMM_SWIZZLE_M ? m_blocks - band_first
							   : GEMM_SWIZZLE_M;
	in_band = in_group - band_first * n_blocks;
	t.m_block = band_first + in_band % band_rows;
	t.n_block = in_band / band_rows;
	return t;
}

/* Row of the A / A-scale tensor maps where a tile's rows start: the masked
 * layout stacks G blocks of max_m rows. */
static __host__ __device__ inline int gemm_a_row0(enum gemm_fp8_mode mode, struct gemm_tile t,
						  int max_m)
{
	return (mode == GEMM_MODE_MASKED ? t.group * max_m : 0) + t.m_block * GEMM_BLOCK_M;
}

/*
 * Rows of D a tile writes (0: none): rows_in_group is M (dense, contiguous)
 * or the masked group's valid count, clamped to 0..max_m; the tile covers
 * rows m_block * 128 ... of its group.
 */
static __host__ __device__ inline int gemm_tile_rows(enum gemm_fp8_mode mode, struct gemm_tile t,
						     int rows_in_group, int max_m)
{
	int rows;

	if (mode == GEMM_MODE_MASKED)
		rows_in_group = rows_in_group < 0 ? 0 : rows_in_group > max_m ? max_m : rows_in_group;
	rows = rows_in_group - t.m_block * GEMM_BLOCK_M;
	return rows < 0 ? 0 : rows > GEMM_BLOCK_M ? GEMM_BLOCK_M : rows;
}

/* Row of the stacked B (G * N, K) tensor map where expert e's n block starts. */
static __host__ __device__ inline int gemm_b_row0(int expert, int n_block, int n)
{
	return expert * n + n_block * GEMM_BLOCK_N;
}

/*
 * A-scale tensor map coordinates (x = row within the padded column,
 * y = column) of K block kb for a tile whose rows start at m0 within its
 * group: dense / contiguous scales are KB columns of quant_dg_ld(M); masked
 * ones are G such layouts of quant_dg_ld(max_m) one after another, i.e.
 * G * KB columns, group g's K block kb at column g * KB + kb.
 */
static __host__ __device__ inline int gemm_sa_col(enum gemm_fp8_mode mode, int group, int kb,
						  int k_blocks)
{
	return (mode == GEMM_MODE_MASKED ? group * k_blocks : 0) + kb;
}

/* Flat index of B's 128x128 scale for expert e, n block nb, K block kb in
 * (G, NB, KB) row-major.  GEMM_BLOCK_N == 128, so an n tile has one scale. */
static __host__ __device__ inline long gemm_sb_index(int expert, int n_block, int kb, int n,
						     int k_blocks)
{
	return ((long)expert * gemm_ceil_div(n, 128) + n_block) * k_blocks + kb;
}

/*
 * Where a consumer thread's accumulators lie in the (64, BLOCK_N) wgmma
 * output of its warpgroup (PTX ISA "wgmma 64xNx? D fragment"): thread
 * t = 0..127 of the warpgroup, register i = 0..BLOCK_N/2-1 holds
 * row 16 * (t / 32) + (t % 32) / 4 + 8 * ((i / 2) % 2),
 * col 8 * (i / 4) + 2 * (t % 4) + i % 2.
 */
static __host__ __device__ inline int gemm_acc_row(int thread, int reg)
{
	return 16 * (thread / 32) + (thread % 32) / 4 + 8 * ((reg / 2) % 2);
}

static __host__ __device__ inline int gemm_acc_col(int thread, int reg)
{
	return 8 * (reg / 4) + 2 * (thread % 4) + reg % 2;
}

/*
 * wgmma shared-memory matrix descriptor (PTX ISA "Matrix Descriptor
 * Format"): bits 0-13 start address >> 4, 16-29 leading byte offset >> 4,
 * 32-45 stride byte offset >> 4, 49-51 base offset, 62-63 swizzle mode
 * (1 = 128-byte swizzle).  For K-major operands in 128-byte swizzle the
 * stride byte offset is 1024 (8 rows of 128 bytes) and the leading byte
 * offset is unused (DeepGEMM / CUTLASS pass 0).
 */
static __host__ __device__ inline uint64_t gemm_smem_desc(uint32_t smem_addr, uint32_t lbo_bytes,
							  uint32_t sbo_bytes, int swizzle_mode)
{
	uint64_t d = 0;

	d |= (uint64_t)((smem_addr >> 4) & 0x3fff);
	d |= (uint64_t)((lbo_bytes >> 4) & 0x3fff) << 16;
	d |= (uint64_t)((sbo_bytes >> 4) & 0x3fff) << 32;
	d |= (uint64_t)(swizzle_mode & 3) << 62;
	return d;
}

/*
 * Byte offset of element (row, k) (k in 0..127) inside a stage tile of
 * 128-byte rows written by TMA with 128-byte swizzle: the 16-byte chunk
 * index (k / 16) is XORed with row % 8 (the CU_TENSOR_MAP_SWIZZLE_128B
 * pattern, which the wgmma descriptor's swizzle mode 1 reads back).
 */
static __host__ __device__ inline uint32_t gemm_swizzle128_offset(int row, int k)
{
	return (uint32_t)row * 128u + (uint32_t)((((k >> 4) ^ (row & 7)) << 4) | (k & 15));
}

/* Shared memory of one CTA: stage tiles (1024-byte aligned for the 128-byte
 * swizzle), A scales per stage, then full / empty mbarriers per stage. */
#define GEMM_SMEM_A_STAGE (GEMM_BLOCK_M * GEMM_BLOCK_K)
#define GEMM_SMEM_B_STAGE (GEMM_BLOCK_N * GEMM_BLOCK_K)
#define GEMM_SMEM_SA_STAGE (GEMM_BLOCK_M * 4)
#define GEMM_SMEM_A_OFF 0
#define GEMM_SMEM_B_OFF (GEMM_SMEM_A_OFF + GEMM_STAGES * GEMM_SMEM_A_STAGE)
#define GEMM_SMEM_SA_OFF (GEMM_SMEM_B_OFF + GEMM_STAGES * GEMM_SMEM_B_STAGE)
#define GEMM_SMEM_BAR_OFF (GEMM_SMEM_SA_OFF + GEMM_STAGES * GEMM_SMEM_SA_STAGE)
/* + 1024 so the kernel can round the dynamic base up to 1024 bytes. */
#define GEMM_SMEM_BYTES (GEMM_SMEM_BAR_OFF + 2 * GEMM_STAGES * 8 + 1024)

/* Bytes one stage's TMA loads deliver (full boxes, out-of-bounds parts
 * zero-filled still count): the full barrier's expected transaction count. */
#define GEMM_STAGE_TX_BYTES (GEMM_SMEM_A_STAGE + GEMM_SMEM_B_STAGE + GEMM_SMEM_SA_STAGE)

/* Pipeline position of the it-th K block a CTA handles (counted across its
 * tiles): stage and the mbarrier phase parity to wait for. */
static __host__ __device__ inline int gemm_stage_of(long it) { return (int)(it % GEMM_STAGES); }
static __host__ __device__ inline uint32_t gemm_phase_of(long it)
{
	return (uint32_t)((it / GEMM_STAGES) & 1);
}

#endif

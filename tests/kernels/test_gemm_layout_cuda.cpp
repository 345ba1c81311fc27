/*
 * test_gemm_layout_cuda.cpp - CPU checks of the Hopper FP8 GEMM's tile,
 * scheduler, scale-index, fragment and shared-memory arithmetic
 * (kernels/cuda/gemm_fp8_layout.cuh), against brute-force loops, hand-
 * computed values from the PTX ISA, and the C reference layouts of quant.h
 * (quant_act_scales_to_dg).  Needs no GPU; exact integer comparisons.
 */
#include "lt.h"
#include "loom/quant.h"

#include "../../kernels/cuda/gemm_fp8_layout.cuh"

#include <stdlib.h>
#include <string.h>
#include <vector>

/* Every tile id maps to a distinct in-range (group, m_block, n_block), all
 * of them are reached, and each band of GEMM_SWIZZLE_M m blocks is finished
 * before the next starts (brute force over many grid shapes). */
static void test_tile_of_is_a_banded_bijection(struct lt *t)
{
	for (int g = 1; g <= 3; g++)
		for (int mb = 1; mb <= 21; mb += 2)
			for (int nb = 1; nb <= 13; nb += 3) {
				std::vector<int> seen((size_t)g * mb * nb, 0);
				int prev_band = -1, prev_group = 0;

				for (int i = 0; i < g * mb * nb; i++) {
					struct gemm_tile x = gemm_tile_of(i, mb, nb);
					int band = x.m_block / GEMM_SWIZZLE_M;
					bool in = x.group >= 0 && x.group < g && x.m_block >= 0 &&
						  x.m_block < mb && x.n_block >= 0 && x.n_block < nb;

					LT_CHECK(t, in, "g=%d mb=%d nb=%d tile %d -> (%d,%d,%d)", g, mb, nb,
						 i, x.group, x.m_block, x.n_block);
					if (!in)
						continue;
					if (x.group != prev_group)
						prev_band = -1;
					LT_CHECK(t, band >= prev_band, "tile %d goes back to band %d", i, band);
					prev_band = band;
					prev_group = x.group;
					seen[((size_t)x.group * mb + x.m_block) * nb + x.n_block]++;
				}
				for (size_t i = 0; i < seen.size(); i++)
					LT_CHECK(t, seen[i] == 1, "g=%d mb=%d nb=%d: tile %zu seen %d times",
						 g, mb, nb, i, seen[i]);
			}
}

/* Within a full band, consecutive tiles walk m fastest (hand-computed). */
static void test_tile_of_hand_values(struct lt *t)
{
	struct gemm_tile x = gemm_tile_of(0, 20, 5), y = gemm_tile_of(1, 20, 5);
	struct gemm_tile z = gemm_tile_of(8, 20, 5), last = gemm_tile_of(20 * 5 - 1, 20, 5);
	struct gemm_tile g1 = gemm_tile_of(20 * 5 + 3, 20, 5);

	LT_CHECK(t, x.m_block == 0 && x.n_block == 0, "");
	LT_CHECK(t, y.m_block == 1 && y.n_block == 0, "");
	LT_CHECK(t, z.m_block == 0 && z.n_block == 1, "(%d,%d)", z.m_block, z.n_block);
	/* last band holds m blocks 16..19 (4 rows): tile 99 = band start 80 + 19 */
	LT_CHECK(t, last.m_block == 19 && last.n_block == 4, "(%d,%d)", last.m_block, last.n_block);
	LT_CHECK(t, g1.group == 1 && g1.m_block == 3 && g1.n_block == 0, "");
}

/* Scale fetches: for every tile row and K block, the DeepGEMM layout built by
 * quant_act_scales_to_dg holds at (gemm_sa_col, m_block * 128 + r) the
 * (row, kb) scale; masked: G such layouts one after another. */
static void check_sa(struct lt *t, enum gemm_fp8_mode mode, int groups, int rows, int kbs)
{
	int ld = quant_dg_ld(rows), k = kbs * 128;
	std::vector<float> s((size_t)groups * rows * kbs), dg((size_t)groups * kbs * ld);

	for (size_t i = 0; i < s.size(); i++)
		s[i] = (float)(i + 1);
	for (int g = 0; g < groups; g++)
		LT_CHECK(t, quant_act_scales_to_dg(&dg[(size_t)g * kbs * ld], &s[(size_t)g * rows * kbs],
						   rows, k) == 0, "");
	for (int g = 0; g < groups; g++)
		for (int mb = 0; mb < gemm_ceil_div(rows, 128); mb++)
			for (int kb = 0; kb < kbs; kb++)
				for (int r = 0; r < 128 && mb * 128 + r < rows; r++) {
					int row = mb * 128 + r;
					float got = dg[(size_t)gemm_sa_col(mode, g, kb, kbs) * ld + row];
					float want = s[((size_t)g * rows + row) * kbs + kb];

					LT_CHECK(t, got == want, "mode %d g=%d row=%d kb=%d: %g vs %g",
						 (int)mode, g, row, kb, got, want);
				}
}

static void test_a_scale_coordinates(struct lt *t)
{
	check_sa(t, GEMM_MODE_DENSE, 1, 200, 3);
	check_sa(t, GEMM_MODE_CONTIGUOUS, 1, 256, 2);
	check_sa(t, GEMM_MODE_MASKED, 3, 130, 2);
}

/* A / B tensor-map rows and B's scale index against the stacked layouts
 * written out element by element. */
static void test_operand_rows_and_b_scale_index(struct lt *t)
{
	int groups = 3, n = 300, kbs = 4, nbs = quant_blocks(n), max_m = 200;
	std::vector<long> sb((size_t)groups * nbs * kbs);

	for (int e = 0; e < groups; e++)
		for (int nb = 0; nb < nbs; nb++)
			for (int kb = 0; kb < kbs; kb++)
				sb[((size_t)e * nbs + nb) * kbs + kb] = e * 1000000L + nb * 1000 + kb;
	for (int e = 0; e < groups; e++)
		for (int nb = 0; nb < nbs; nb++) {
			LT_CHECK(t, gemm_b_row0(e, nb, n) == e * n + nb * 128, "");
			for (int kb = 0; kb < kbs; kb++)
				LT_CHECK(t, sb[gemm_sb_index(e, nb, kb, n, kbs)] ==
						    e * 1000000L + nb * 1000 + kb, "e=%d nb=%d kb=%d", e, nb, kb);
		}
	for (int g = 0; g < groups; g++)
		for (int mb = 0; mb < 2; mb++) {
			struct gemm_tile x = { g, mb, 0 };

			LT_CHECK(t, gemm_a_row0(GEMM_MODE_MASKED, x, max_m) == g * max_m + mb * 128, "");
			x.group = 0;
			LT_CHECK(t, gemm_a_row0(GEMM_MODE_DENSE, x, max_m) == mb * 128, "");
		}
}

/* The wgmma D fragment: 128 threads x 64 registers cover the 64 x 128 tile
 * exactly once; spot values from the PTX ISA's m64nNk32 D layout figure. */
static void test_accumulator_fragment(struct lt *t)
{
	std::vector<int> hit(64 * 128, 0);

	for (int th = 0; th < 128; th++)
		for (int i = 0; i < GEMM_BLOCK_N / 2; i++) {
			int r = gemm_acc_row(th, i), c = gemm_acc_col(th, i);

			LT_CHECK(t, r >= 0 && r < 64 && c >= 0 && c < 128, "t%d r%d -> (%d,%d)", th, i, r, c);
			if (r >= 0 && r < 64 && c >= 0 && c < 128)
				hit[r * 128 + c]++;
		}
	for (int i = 0; i < 64 * 128; i++)
		LT_CHECK(t, hit[i] == 1, "element (%d,%d) held %d times", i / 128, i % 128, hit[i]);
	/* T0: d0,d1 at row 0 cols 0,1; d2,d3 at row 8; d4 at col 8.  T5 (lane 5 of
	 * warp 0): row 1, cols 2,3.  T32 (warp 1 lane 0): row 16. */
	LT_CHECK(t, gemm_acc_row(0, 1) == 0 && gemm_acc_col(0, 1) == 1, "");
	LT_CHECK(t, gemm_acc_row(0, 2) == 8 && gemm_acc_col(0, 3) == 1, "");
	LT_CHECK(t, gemm_acc_row(0, 4) == 0 && gemm_acc_col(0, 4) == 8, "");
	LT_CHECK(t, gemm_acc_row(5, 0) == 1 && gemm_acc_col(5, 0) == 2, "");
	LT_CHECK(t, gemm_acc_row(32, 0) == 16, "");
}

/*
 * The epilogue's write pattern, replayed on the CPU: over every tile of the
 * launch (G * m_blocks * n_blocks), both consumer warpgroups, 128 threads
 * and 64 registers, the element written is (gemm_a_row0 + wg * 64 +
 * gemm_acc_row, n_block * 128 + gemm_acc_col) when the row is below
 * gemm_tile_rows and the column below N (the kernel's bounds checks).  Each
 * valid D element must be written exactly once and nothing else.
 */
static void check_writes(struct lt *t, enum gemm_fp8_mode mode, int groups, int m, int n,
			 int max_m, const int *counts)
{
	int mpg = mode == GEMM_MODE_MASKED ? max_m : m;
	int mb = gemm_ceil_div(mpg, GEMM_BLOCK_M), nb = gemm_ceil_div(n, GEMM_BLOCK_N);
	std::vector<int> hit((size_t)groups * mpg * n, 0);

	for (int tile = 0; tile < groups * mb * nb; tile++) {
		struct gemm_tile x = gemm_tile_of(tile, mb, nb);
		int rows = gemm_tile_rows(mode, x, mode == GEMM_MODE_MASKED ? counts[x.group] : m, max_m);
		long row0 = gemm_a_row0(mode, x, max_m);

		for (int wg = 0; wg < 2; wg++)
			for (int th = 0; th < 128; th++)
				for (int i = 0; i < GEMM_BLOCK_N / 2; i++) {
					int r = wg * GEMM_WGMMA_M + gemm_acc_row(th, i);
					int c = x.n_block * GEMM_BLOCK_N + gemm_acc_col(th, i);

					size_t at = (size_t)(row0 + r) * n + c;

					if (r >= rows || c >= n)
						continue;
					LT_CHECK(t, at < hit.size(), "tile %d writes past D", tile);
					if (at < hit.size())
						hit[at]++;
				}
	}
	for (int g = 0; g < groups; g++) {
		int valid = mode != GEMM_MODE_MASKED ? m
			    : counts[g] < 0	     ? 0
			    : counts[g] > max_m	     ? max_m
						     : counts[g];

		for (int r = 0; r < mpg; r++)
			for (int c = 0; c < n; c++) {
				int h = hit[((size_t)g * mpg + r) * n + c];

				LT_CHECK(t, h == (r < valid), "mode %d g=%d (%d,%d) written %d times",
					 (int)mode, g, r, c, h);
			}
	}
}

static void test_epilogue_writes_each_element_once(struct lt *t)
{
	const int counts[5] = { 0, 200, 77, 999, -5 };

	check_writes(t, GEMM_MODE_DENSE, 1, 1, 1, 0, NULL);
	check_writes(t, GEMM_MODE_DENSE, 1, 200, 300, 0, NULL);
	check_writes(t, GEMM_MODE_DENSE, 1, 129, 301, 0, NULL);
	check_writes(t, GEMM_MODE_CONTIGUOUS, 1, 384, 256, 0, NULL);
	check_writes(t, GEMM_MODE_MASKED, 5, 0, 130, 200, counts);
}

/* Descriptor bits from the PTX ISA's matrix-descriptor table, by hand. */
static void test_smem_descriptor_bits(struct lt *t)
{
	uint64_t d = gemm_smem_desc(0x400, 0, 1024, 1);

	LT_CHECK(t, d == 0x4000004000000040ull, "desc %#llx", (unsigned long long)d);
	d = gemm_smem_desc(0x3fff0, 16, 1024, 1);	/* top of 256 KiB smem */
	LT_CHECK(t, (d & 0x3fff) == 0x3fff && ((d >> 16) & 0x3fff) == 1 &&
			    ((d >> 32) & 0x3fff) == 64 && (d >> 62) == 1 &&
			    ((d >> 49) & 7) == 0,
		 "desc %#llx", (unsigned long long)d);
	/* k-step advance: +32 bytes of e4m3 moves the address field by 2 */
	LT_CHECK(t, gemm_smem_desc(0x400 + 32, 0, 1024, 1) - gemm_smem_desc(0x400, 0, 1024, 1) == 2,
		 "");
}

/* The 128-byte swizzle equals CUTLASS's Swizzle<3,4,3> on the linear byte
 * offset (bits 4..6 ^= bits 7..9) and permutes each 8 x 128-byte atom. */
static void test_swizzle128(struct lt *t)
{
	for (int atom = 0; atom < 3; atom++) {
		std::vector<int> hit(1024, 0);

		for (int r = 8 * atom; r < 8 * atom + 8; r++)
			for (int k = 0; k < 128; k++) {
				uint32_t lin = (uint32_t)(r * 128 + k);
				uint32_t want = lin ^ (((lin >> 7) & 7) << 4);
				uint32_t got = gemm_swizzle128_offset(r, k);

				LT_CHECK(t, got == want, "(%d,%d): %u vs %u", r, k, got, want);
				if (got / 1024 == (uint32_t)atom)
					hit[got % 1024]++;
			}
		for (int i = 0; i < 1024; i++)
			LT_CHECK(t, hit[i] == 1, "atom %d byte %d hit %d times", atom, i, hit[i]);
	}
}

/* Shared-memory plan: stage tiles 1024-byte aligned (128-byte swizzle),
 * TMA destinations 128-byte aligned, barriers 8-byte aligned, total within
 * sm_90's 227 KiB per block; expect_tx = the three boxes' bytes. */
static void test_smem_plan(struct lt *t)
{
	for (int s = 0; s < GEMM_STAGES; s++) {
		LT_CHECK(t, (GEMM_SMEM_A_OFF + s * GEMM_SMEM_A_STAGE) % 1024 == 0, "");
		LT_CHECK(t, (GEMM_SMEM_B_OFF + s * GEMM_SMEM_B_STAGE) % 1024 == 0, "");
		LT_CHECK(t, (GEMM_SMEM_SA_OFF + s * GEMM_SMEM_SA_STAGE) % 128 == 0, "");
	}
	LT_CHECK(t, GEMM_SMEM_BAR_OFF % 8 == 0, "");
	LT_CHECK(t, GEMM_SMEM_BYTES <= 227 * 1024, "%d bytes", GEMM_SMEM_BYTES);
	LT_CHECK(t, GEMM_STAGE_TX_BYTES == 128 * 128 + 128 * 128 + 128 * 4, "");
}

/* Ring positions: a simulated producer/consumer sequence sees stage s's
 * (it / STAGES)-th use with parity alternating 0, 1, 0, ... */
static void test_stage_and_phase(struct lt *t)
{
	int uses[GEMM_STAGES] = { 0 };

	for (long it = 0; it < 7L * GEMM_STAGES + 3; it++) {
		int s = gemm_stage_of(it);

		LT_CHECK(t, s == it % GEMM_STAGES, "");
		LT_CHECK(t, gemm_phase_of(it) == (uint32_t)(uses[s] & 1), "it=%ld", it);
		uses[s]++;
	}
}

static const struct lt_case cases[] = {
	LT_CASE(test_tile_of_is_a_banded_bijection),
	LT_CASE(test_tile_of_hand_values),
	LT_CASE(test_a_scale_coordinates),
	LT_CASE(test_operand_rows_and_b_scale_index),
	LT_CASE(test_accumulator_fragment),
	LT_CASE(test_epilogue_writes_each_element_once),
	LT_CASE(test_smem_descriptor_bits),
	LT_CASE(test_swizzle128),
	LT_CASE(test_smem_plan),
	LT_CASE(test_stage_and_phase),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

/*
 * gemm_grouped.c - grouped FP8 GEMMs for MoE experts (contract in
 * include/loom/gemm.h; layouts of DeepGEMM, REFERENCE.md §6), built on
 * gemm_fp8_nt: each expert's rows are one dense call with that expert's
 * B (N, K) and scales, so a grouped result equals the per-expert dense GEMM
 * bit for bit in every accumulator model.  Not here: scheduling or any
 * cross-expert batching.
 */
#include "loom/gemm.h"

#include "loom/err.h"
#include "loom/quant.h"

#include <string.h>

#define MBLK 128 /* contiguous layout: rows per expert-aligned block */

/* A dense call on rows [r0, r0 + rows) of args' A, A scales and D,
 * against expert e's B (N, K) and scales (NB, KB). */
static int dense_rows(const struct gemm_fp8_args *args, int e, int r0, int rows)
{
	struct gemm_fp8_args d = *args;
	int kbs = args->k / QUANT_TILE, nbs = quant_blocks(args->n);

	d.m = rows;
	d.a = args->a + (size_t)r0 * args->k;
	d.a_scales = args->a_scales + (size_t)r0 * kbs;
	d.b = args->b + (size_t)e * args->n * args->k;
	d.b_scales = args->b_scales + (size_t)e * nbs * kbs;
	if (args->d_f32)
		d.d_f32 = args->d_f32 + (size_t)r0 * args->n;
	else
		d.d_bf16 = args->d_bf16 + (size_t)r0 * args->n;
	return gemm_fp8_nt(&d);
}

static void zero_rows(const struct gemm_fp8_args *args, int r0, int rows)
{
	size_t off = (size_t)r0 * args->n, len = (size_t)rows * args->n;

	if (args->d_f32)
		memset(args->d_f32 + off, 0, len * sizeof(float));
	else
		memset(args->d_bf16 + off, 0, len * sizeof(uint16_t)); /* BF16 +0 */
}

/* Every row's expert in -1..G-1, M a multiple of 128, one expert per
 * 128-row block (padding aside), as DeepGEMM's scheduler assumes. */
static int check_contiguous(const struct gemm_fp8_args *args, int num_groups,
			    const int32_t *expert_of_row)
{
	if (!args || !expert_of_row)
		return loom_err_set(EINVAL, "gemm: grouped contiguous: NULL pointer");
	if (num_groups <= 0)
		return loom_err_set(EINVAL, "gemm: grouped contiguous: num_groups=%d must be > 0",
				    num_groups);
	if (args->m <= 0 || args->m % MBLK)
		return loom_err_set(EINVAL,
				    "gemm: grouped contiguous: m=%d must be a positive multiple of 128",
				    args->m);
	for (int b0 = 0; b0 < args->m; b0 += MBLK) {
		int32_t blk = -1;

		for (int i = b0; i < b0 + MBLK; i++) {
			int32_t e = expert_of_row[i];

			if (e < -1 || e >= num_groups)
				return loom_err_set(EINVAL, "gemm: grouped contiguous: row %d: expert %d not in -1..%d",
						    i, (int)e, num_groups - 1);
			if (e >= 0 && blk >= 0 && e != blk)
				return loom_err_set(EINVAL, "gemm: grouped contiguous: rows %d..%d mix experts %d and %d",
						    b0, b0 + MBLK - 1, (int)blk, (int)e);
			if (e >= 0)
				blk = e;
		}
	}
	return 0;
}

int gemm_fp8_grouped_contiguous(const struct gemm_fp8_args *args, int num_groups,
				const int32_t *expert_of_row)
{
	int rc = check_contiguous(args, num_groups, expert_of_row);

	if (rc)
		return rc;
	rc = gemm_fp8_args_check(args);
	if (rc)
		return rc;
	for (int r0 = 0; r0 < args->m;) {
		int32_t e = expert_of_row[r0];
		int r1 = r0 + 1;

		while (r1 < args->m && expert_of_row[r1] == e)
			r1++;
		rc = e < 0 ? (zero_rows(args, r0, r1 - r0), 0) : dense_rows(args, e, r0, r1 - r0);
		if (rc)
			return rc;
		r0 = r1;
	}
	return 0;
}

/* Counts in 0..max_m; args->m is not used (the shape is num_groups x
 * max_m), so the rest is checked on a one-row view. */
static int check_masked(const struct gemm_fp8_args *args, int num_groups, int max_m,
			const int32_t *rows_per_group)
{
	struct gemm_fp8_args view;

	if (!args || !rows_per_group)
		return loom_err_set(EINVAL, "gemm: grouped masked: NULL pointer");
	if (num_groups <= 0 || max_m <= 0 || (long)num_groups * max_m > 0x7fffffffL)
		return loom_err_set(EINVAL, "gemm: grouped masked: num_groups=%d max_m=%d must be > 0 (and their product an int)",
				    num_groups, max_m);
	for (int g = 0; g < num_groups; g++)
		if (rows_per_group[g] < 0 || rows_per_group[g] > max_m)
			return loom_err_set(EINVAL, "gemm: grouped masked: group %d has %d rows, not in 0..%d",
					    g, (int)rows_per_group[g], max_m);
	view = *args;
	view.m = 1;
	return gemm_fp8_args_check(&view);
}

int gemm_fp8_grouped_masked(const struct gemm_fp8_args *args, int num_groups, int max_m,
			    const int32_t *rows_per_group)
{
	int rc = check_masked(args, num_groups, max_m, rows_per_group);

	for (int g = 0; !rc && g < num_groups; g++)
		if (rows_per_group[g])
			rc = dense_rows(args, g, g * max_m, rows_per_group[g]);
	return rc;
}

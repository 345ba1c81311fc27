/*
 * permute.c - MoE token permutation on the CPU: the expert-contiguous row
 * order for a routing (topk_idx), dispatch of token rows into it (any row
 * type, optionally padded per expert for the grouped GEMM's contiguous
 * layout), the inverse gather, and the weighted combine with its backward.
 * Contract in include/loom/moe.h.
 *
 * Not here: routing itself (router.c) or moving rows between ranks (the EP
 * layer).  Single-threaded; every loop is over rows, so a caller may split
 * work by rows if it ever needs to.
 */
#include "loom/moe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"

/* ---- plan --------------------------------------------------------------- */

static int check_plan_args(int num_tokens, int top_k, int num_experts, const int32_t *topk_idx,
			   int align)
{
	if (!topk_idx)
		return loom_err_set(EINVAL, "moe: permute plan: topk_idx is NULL");
	if (num_tokens <= 0 || top_k <= 0 || num_experts <= 0 || align <= 0)
		return loom_err_set(EINVAL, "moe: permute plan: num_tokens=%d top_k=%d "
				    "num_experts=%d align=%d must all be > 0",
				    num_tokens, top_k, num_experts, align);
	if ((int64_t)num_tokens * top_k > INT32_MAX)
		return loom_err_set(EINVAL, "moe: permute plan: %d tokens x %d slots exceed "
				    "INT32_MAX rows", num_tokens, top_k);
	return 0;
}

/* expert_count and expert_offset from topk_idx; 0 or -EINVAL. */
static int plan_count(struct moe_permute_plan *p, const int32_t *topk_idx)
{
	const int64_t n_src = (int64_t)p->num_tokens * p->top_k;
	int64_t rows = 0;

	for (int64_t i = 0; i < n_src; i++) {
		int32_t e = topk_idx[i];
		if (e < -1 || e >= p->num_experts)
			return loom_err_set(EINVAL, "moe: permute plan: topk_idx[%lld]=%d outside "
					    "[-1, %d)", (long long)i, (int)e, p->num_experts);
		if (e >= 0)
			p->expert_count[e]++;
	}
	for (int e = 0; e < p->num_experts; e++) {
		p->expert_offset[e] = (int32_t)rows;
		rows += ((int64_t)p->expert_count[e] + p->align - 1) / p->align * p->align;
		if (rows > INT32_MAX)
			return loom_err_set(EINVAL, "moe: permute plan: padded rows exceed INT32_MAX "
					    "(align=%d)", p->align);
	}
	p->expert_offset[p->num_experts] = (int32_t)rows;
	p->num_rows = (int)rows;
	return 0;
}

/* expert_of_row, src_of_row, row_of_src; cursor (E) is scratch. */
static void plan_fill(struct moe_permute_plan *p, const int32_t *topk_idx, int32_t *cursor)
{
	const int32_t n_src = p->num_tokens * p->top_k;

	for (int e = 0; e < p->num_experts; e++) {
		int32_t lo = p->expert_offset[e], hi = p->expert_offset[e + 1];
		for (int32_t r = lo; r < hi; r++) {
			p->expert_of_row[r] = r < lo + p->expert_count[e] ? e : -1;
			p->src_of_row[r] = -1;
		}
		cursor[e] = lo;
	}
	/* Sources in (token, slot) order: each segment comes out stable. */
	for (int32_t i = 0; i < n_src; i++) {
		int32_t e = topk_idx[i];
		p->row_of_src[i] = e < 0 ? -1 : cursor[e]++;
		if (e >= 0)
			p->src_of_row[p->row_of_src[i]] = i;
	}
}

struct moe_permute_plan *moe_permute_plan_create(int num_tokens, int top_k, int num_experts,
						 const int32_t *topk_idx, int align)
{
	if (check_plan_args(num_tokens, top_k, num_experts, topk_idx, align))
		return NULL;
	struct moe_permute_plan *p = calloc(1, sizeof(*p));
	if (!p) {
		loom_err_set(ENOMEM, "moe: permute plan for %d tokens", num_tokens);
		return NULL;
	}
	*p = (struct moe_permute_plan){ .num_tokens = num_tokens, .top_k = top_k,
					.num_experts = num_experts, .align = align };
	/* One block for the per-expert arrays (+ E of cursor scratch), one for the rows. */
	p->expert_count = calloc(3 * (size_t)num_experts + 1, sizeof(int32_t));
	if (!p->expert_count) {
		loom_err_set(ENOMEM, "moe: permute plan for %d experts", num_experts);
		goto err_free_plan;
	}
	p->expert_offset = p->expert_count + num_experts;
	if (plan_count(p, topk_idx))
		goto err_free_counts;
	size_t n_src = (size_t)num_tokens * top_k, n_rows = (size_t)p->num_rows;
	p->expert_of_row = malloc(sizeof(int32_t) * (2 * n_rows + n_src));
	if (!p->expert_of_row) {
		loom_err_set(ENOMEM, "moe: permute plan: %zu rows", n_rows);
		goto err_free_counts;
	}
	p->src_of_row = p->expert_of_row + n_rows;
	p->row_of_src = p->src_of_row + n_rows;
	plan_fill(p, topk_idx, p->expert_offset + num_experts + 1);
	return p;

err_free_counts:
	free(p->expert_count);
err_free_plan:
	free(p);
	return NULL;
}

void moe_permute_plan_destroy(struct moe_permute_plan *plan)
{
	if (!plan)
		return;
	free(plan->expert_count);
	free(plan->expert_of_row);
	free(plan);
}

/* ---- moving rows -------------------------------------------------------- */

/* 0 if the plan and buffers are there and every row of row_bytes bytes of
 * the larger side (T * k or num_rows rows) is addressable in size_t. */
static int check_rows(const char *fn, const struct moe_permute_plan *p, size_t row_bytes,
		      const void *in, const void *out)
{
	if (!p || !in || !out)
		return loom_err_set(EINVAL, "moe: %s: NULL plan, input or output", fn);
	uint64_t n = (uint64_t)p->num_tokens * (uint64_t)p->top_k;
	if ((uint64_t)p->num_rows > n)
		n = (uint64_t)p->num_rows;
	if (row_bytes == 0 || (n > 0 && row_bytes > SIZE_MAX / n))
		return loom_err_set(EINVAL, "moe: %s: row_bytes=%zu invalid for %llu rows", fn,
				    row_bytes, (unsigned long long)n);
	return 0;
}

int moe_permute(const struct moe_permute_plan *plan, const void *x, size_t row_bytes, void *out)
{
	int err = check_rows("permute", plan, row_bytes, x, out);
	if (err)
		return err;
	const unsigned char *src = x;
	unsigned char *dst = out;
	for (int32_t r = 0; r < plan->num_rows; r++) {
		int32_t s = plan->src_of_row[r];
		if (s < 0)
			memset(dst + (size_t)r * row_bytes, 0, row_bytes);
		else
			memcpy(dst + (size_t)r * row_bytes,
			       src + (size_t)(s / plan->top_k) * row_bytes, row_bytes);
	}
	return 0;
}

int moe_unpermute(const struct moe_permute_plan *plan, const void *y, size_t row_bytes, void *out)
{
	int err = check_rows("unpermute", plan, row_bytes, y, out);
	if (err)
		return err;
	const unsigned char *src = y;
	unsigned char *dst = out;
	const int32_t n_src = plan->num_tokens * plan->top_k;
	for (int32_t i = 0; i < n_src; i++) {
		int32_t r = plan->row_of_src[i];
		if (r < 0)
			memset(dst + (size_t)i * row_bytes, 0, row_bytes);
		else
			memcpy(dst + (size_t)i * row_bytes, src + (size_t)r * row_bytes, row_bytes);
	}
	return 0;
}

static int check_hidden(const char *fn, int hidden)
{
	if (hidden <= 0 || (uint64_t)hidden > SIZE_MAX / sizeof(float))
		return loom_err_set(EINVAL, "moe: %s: hidden=%d must be > 0", fn, hidden);
	return 0;
}

int moe_combine_f32(const struct moe_permute_plan *plan, const float *y, int hidden,
		    const float *topk_weight, float *out)
{
	int err = check_hidden("combine", hidden);
	if (err || (err = check_rows("combine", plan, sizeof(float) * (size_t)hidden, y, out)))
		return err;
	const int k = plan->top_k;
	const size_t h = (size_t)hidden;
	for (int t = 0; t < plan->num_tokens; t++) {
		float *o = out + (size_t)t * h;
		memset(o, 0, sizeof(float) * h);
		for (int j = 0; j < k; j++) {
			int32_t r = plan->row_of_src[(size_t)t * k + j];
			if (r < 0)
				continue;
			const float w = topk_weight ? topk_weight[(size_t)t * k + j] : 1.0f;
			const float *yr = y + (size_t)r * h;
			for (size_t c = 0; c < h; c++)
				o[c] += w * yr[c];
		}
	}
	return 0;
}

/* grad_weight[i] = <grad_out row of token i / k, y row of (i)>, 0 if unused. */
static void combine_grad_weight(const struct moe_permute_plan *plan, const float *y, size_t h,
				const float *grad_out, float *grad_weight)
{
	const int32_t n_src = plan->num_tokens * plan->top_k;

	for (int32_t i = 0; i < n_src; i++) {
		int32_t r = plan->row_of_src[i];
		float dot = 0.0f;
		if (r >= 0) {
			const float *g = grad_out + (size_t)(i / plan->top_k) * h;
			const float *yr = y + (size_t)r * h;
			for (size_t c = 0; c < h; c++)
				dot += g[c] * yr[c];
		}
		grad_weight[i] = dot;
	}
}

int moe_combine_backward_f32(const struct moe_permute_plan *plan, const float *y, int hidden,
			     const float *topk_weight, const float *grad_out, float *grad_y,
			     float *grad_weight)
{
	int err = check_hidden("combine_backward", hidden);
	if (err || (err = check_rows("combine_backward", plan, sizeof(float) * (size_t)hidden,
				     grad_out, grad_y)))
		return err;
	if (grad_weight && !y)
		return loom_err_set(EINVAL, "moe: combine_backward: grad_weight needs y");
	const int k = plan->top_k;
	const size_t h = (size_t)hidden;
	for (int32_t r = 0; r < plan->num_rows; r++) {
		int32_t s = plan->src_of_row[r];
		float *gy = grad_y + (size_t)r * h;
		if (s < 0) {
			memset(gy, 0, sizeof(float) * h);
			continue;
		}
		const float w = topk_weight ? topk_weight[s] : 1.0f;
		const float *g = grad_out + (size_t)(s / k) * h;
		for (size_t c = 0; c < h; c++)
			gy[c] = w * g[c];
	}
	if (grad_weight)
		combine_grad_weight(plan, y, h, grad_out, grad_weight);
	return 0;
}

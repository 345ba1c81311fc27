/*
 * moe.h - the MoE router of DeepSeek-V3 (REFERENCE §2) and the token
 * permutation around the expert GEMMs, as a CPU reference.
 *
 * Legend: T = tokens, E = routed experts, G = expert groups (one per node),
 * M = groups a token may use, k = experts per token, H = hidden size.
 * All matrices are row-major and densely packed.
 *
 * Router (moe_router_forward), per token t, given logits u (T, E) = x W^T
 * (the GEMM is the caller's):
 *   1. affinity        s_i = sigmoid(u_i)                       FP32
 *   2. selection score c_i = s_i + b_i   (b: per-expert bias, used ONLY here)
 *   3. group score     g_j = sum of the `group_score_topn` largest c_i in
 *      group j (experts j*E/G .. (j+1)*E/G - 1), summed in FP32 from the
 *      largest down.  DeepSeek-V3's released inference code sums the top 2
 *      biased scores ("the sum of the highest affinities" of [T]), hence
 *      the default of 2; 1 gives the max-affinity group score.
 *   4. the M groups with the largest g_j are kept;
 *   5. the k experts with the largest c_i among the kept groups' experts are
 *      selected; topk_idx lists them by decreasing c_i;
 *   6. weight w_j = scale * s_j / sum over the selected s  (unbiased
 *      affinities).  Computed in FP64 from the logits in log space
 *      (log s = -softplus(-u)), so it stays exact when every selected
 *      affinity underflows FP32 (u < -88), then rounded to FP32: each weight
 *      is within half an FP32 ulp of its exact value, so the k weights of a
 *      token (summed exactly) are within k/2 ulps of routed_scaling_factor.
 * Ties (equal c_i, or equal g_j) go to the lower expert (group) index, so the
 * selection is deterministic and the same on every platform.
 *
 * NaN logits are not an error: a NaN affinity's selection score is -inf (it
 * loses to every other expert, ties among -inf broken by index as above) and
 * its weight is 0 when it is still selected (fewer than k non-NaN experts in
 * the kept groups).  When every selected expert has affinity exactly 0 (all
 * selected logits are -inf or NaN) the k weights are scale / k each.  A NaN
 * group score (only possible from overflowing sums of huge biases) counts as
 * -inf.  +-inf logits are ordinary: affinity 1 or 0.  The bias must be
 * finite (-EINVAL otherwise): it is model state, and a non-finite bias is a
 * bug to report, not to route around.
 *
 * Load balancing (aux-loss-free, [T] §2.1.2): after a step, count each
 * expert's load with moe_router_count_load and move the bias with
 * moe_router_bias_update: b_i -= gamma if load_i > mean load, b_i += gamma if
 * load_i < mean, unchanged if equal (the comparison is exact: load_i * E
 * against the total).
 *
 * Permutation (moe_permute_plan_create and friends): the k (token, slot)
 * pairs of every token are grouped by expert into an expert-contiguous row
 * order: expert 0's rows first, then expert 1's, ...; inside an expert's
 * segment rows follow token order (stable), i.e. sorted by (token, slot).
 * With align > 1 each expert's segment is padded with empty rows up to a
 * multiple of align (128 = DeepGEMM's grouped "contiguous" layout, whose
 * int32 expert id per row is the plan's expert_of_row, -1 for padding).
 * A topk_idx entry of -1 marks an unused slot (as in DeepEP); it gets no row.
 *
 * Ownership: every output buffer is the caller's and is fully written by the
 * call (no accumulation into it) unless stated.  moe_permute_plan_create
 * allocates the plan; moe_permute_plan_destroy frees it.
 *
 * Errors: action functions return 0 or a negative errno with a reason in
 * loom_err_msg(): -EINVAL for NULL required pointers, T <= 0, an invalid
 * config (see moe_router_config_check), an expert index out of range,
 * a non-finite bias, or sizes that overflow int32 row indices; -ENOMEM when a
 * scratch allocation fails.  On error the outputs are unspecified.
 *
 * Thread safety: no global state besides loom_err's thread-local message.
 * Calls on disjoint outputs may run concurrently; a plan is read-only after
 * creation and may be shared by threads.
 */
#ifndef LOOM_MOE_H
#define LOOM_MOE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct moe_router_config {
	int num_experts;	     /* E >= 1 */
	int num_groups;		     /* G >= 1, E % G == 0 */
	int topk_groups;	     /* M, 1 <= M <= G */
	int top_k;		     /* k, 1 <= k <= M * E / G */
	int group_score_topn;	     /* n, 1 <= n <= E / G; default min(2, E/G) */
	float routed_scaling_factor; /* finite, > 0; DeepSeek-V3 uses 2.5 */
	float bias_update_speed;     /* gamma, finite, >= 0; default 0.001 */
};

/*
 * A config with the defaults above (n = min(2, E/G), scale 1, gamma 0.001)
 * for the given sizes.  Not validated: pass it to moe_router_config_check.
 */
struct moe_router_config moe_router_config_default(int num_experts, int num_groups,
						   int topk_groups, int top_k);

/* 0 if cfg is usable, else -EINVAL with the violated rule in loom_err_msg(). */
int moe_router_config_check(const struct moe_router_config *cfg);

/*
 * Route T tokens.  logits (T, E); bias (E) or NULL for zero bias;
 * outputs topk_idx (T, k), topk_weight (T, k), and optionally affinity (T, E)
 * = sigmoid(logits) (NULL to skip).  Allocates O(E) scratch per call.
 */
int moe_router_forward(const struct moe_router_config *cfg, int num_tokens,
		       const float *logits, const float *bias, int32_t *topk_idx,
		       float *topk_weight, float *affinity);

/*
 * Gradient of the weights with respect to the logits, for a fixed selection
 * (selection is piecewise constant; the bias gets no gradient).  With
 * p_j = s_j / sum_sel s (unscaled weights) and g = grad_topk_weight (T, k):
 *   dL/du_i = scale * p_i * (1 - s_i) * (g_i - sum_j g_j p_j)   i selected
 *   dL/du_i = 0                                                 otherwise
 * grad_logits (T, E) is overwritten.  topk_idx must hold k distinct experts
 * per token in [0, E) (as moe_router_forward produces), else -EINVAL.
 * NaN-logit slots (weight 0) get gradient 0; a token whose selected
 * affinities are all 0 (uniform fallback weights) gets gradient 0.
 * The result is computed in FP64 and rounded to FP32.
 */
int moe_router_backward(const struct moe_router_config *cfg, int num_tokens,
			const float *logits, const int32_t *topk_idx,
			const float *grad_topk_weight, float *grad_logits);

/*
 * Count loads from topk_idx (T, k): expert_load (E) = number of (token, slot)
 * pairs routed to each expert; group_load (G, optional) = number of tokens
 * that use at least one expert of the group (the tokens a node receives under
 * node-limited routing; each is sent once per node).  Entries of -1 are
 * skipped; other indices outside [0, E) give -EINVAL.
 */
int moe_router_count_load(const struct moe_router_config *cfg, int num_tokens,
			  const int32_t *topk_idx, int64_t *expert_load, int64_t *group_load);

/* Aux-loss-free bias step from expert_load (E); bias (E) updated in place. */
int moe_router_bias_update(const struct moe_router_config *cfg, const int64_t *expert_load,
			   float *bias);

/* ---- permutation ------------------------------------------------------ */

struct moe_permute_plan {
	int num_tokens;	     /* T */
	int top_k;	     /* k */
	int num_experts;     /* E */
	int align;	     /* segment alignment in rows (1 = packed) */
	int num_rows;	     /* rows of the permuted buffer, padding included */
	int32_t *expert_count;	/* (E) real rows of each expert */
	int32_t *expert_offset; /* (E + 1) first row of each expert's segment;
				 * [E] = num_rows; segment e has
				 * expert_offset[e+1] - expert_offset[e] rows */
	int32_t *expert_of_row; /* (num_rows) expert of each row, -1 = padding */
	int32_t *src_of_row;	/* (num_rows) token * k + slot filling the row, -1 = padding */
	int32_t *row_of_src;	/* (T * k) row of (token, slot), -1 = unused slot */
};

/*
 * Build the plan for topk_idx (T, k) over E experts with segments padded to a
 * multiple of align rows (align >= 1).  NULL on failure (loom_err_msg() says
 * why: bad sizes, an index outside [-1, E), more than INT32_MAX rows, or
 * memory).  num_rows = sum over e of round_up(count_e, align), which is 0
 * when every slot is unused.
 */
struct moe_permute_plan *moe_permute_plan_create(int num_tokens, int top_k, int num_experts,
						 const int32_t *topk_idx, int align);
void moe_permute_plan_destroy(struct moe_permute_plan *plan);

/*
 * Dispatch: out row r = x row (src_of_row[r] / k); rows are row_bytes bytes
 * (any element type: FP32 rows, e4m3 rows, their 1x128 scale rows, ...).
 * x (T, row_bytes) -> out (num_rows, row_bytes); padding rows are zeroed.
 */
int moe_permute(const struct moe_permute_plan *plan, const void *x, size_t row_bytes,
		void *out);

/*
 * Inverse without the sum: y (num_rows, row_bytes) -> out (T * k, row_bytes),
 * out[t * k + j] = y[row_of_src[t * k + j]]; unused slots are zeroed.
 */
int moe_unpermute(const struct moe_permute_plan *plan, const void *y, size_t row_bytes,
		  void *out);

/*
 * Combine: out[t, :] = sum over used slots j, in slot order, of
 * topk_weight[t, j] * y[row_of_src[t * k + j], :], accumulated in FP32.
 * y (num_rows, H), topk_weight (T, k) or NULL for weights of 1, out (T, H).
 */
int moe_combine_f32(const struct moe_permute_plan *plan, const float *y, int hidden,
		    const float *topk_weight, float *out);

/*
 * Backward of moe_combine_f32 given grad_out (T, H):
 *   grad_y[r, :] = topk_weight[t, j] * grad_out[t, :]   (r = row of (t, j);
 *                  padding rows 0; weight 1 when topk_weight is NULL)
 *   grad_weight[t, j] = sum_h grad_out[t, h] * y[r, h]  (FP32, h order;
 *                  0 for unused slots); grad_weight may be NULL.
 */
int moe_combine_backward_f32(const struct moe_permute_plan *plan, const float *y, int hidden,
			     const float *topk_weight, const float *grad_out, float *grad_y,
			     float *grad_weight);

#ifdef __cplusplus
}
#endif
#endif

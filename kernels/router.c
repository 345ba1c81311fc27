/*
 * router.c - DeepSeek-V3 MoE router on the CPU: sigmoid affinities,
 * group-limited top-k selection with a selection-only bias, normalized and
 * scaled gate weights, their gradient, load counts and the aux-loss-free
 * bias step.  Contract in include/loom/moe.h.
 *
 * Not here: the router GEMM (the caller's) and token permutation (permute.c).
 *
 * Selection runs on FP32 scores as the reference PyTorch code does; the
 * weights are computed in FP64 log space so that they are right for every
 * finite logit.  Selection never compares a NaN: NaN scores become -inf
 * first, and every arg-max scans in ascending index with a strict '>', which
 * is what makes ties go to the lower index.
 */
#include "loom/moe.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"

struct moe_router_config moe_router_config_default(int num_experts, int num_groups,
						   int topk_groups, int top_k)
{
	int per_group = num_groups > 0 ? num_experts / num_groups : 0;

	return (struct moe_router_config){
		.num_experts = num_experts,
		.num_groups = num_groups,
		.topk_groups = topk_groups,
		.top_k = top_k,
		.group_score_topn = per_group < 2 ? per_group : 2,
		.routed_scaling_factor = 1.0f,
		.bias_update_speed = 0.001f,
	};
}

int moe_router_config_check(const struct moe_router_config *cfg)
{
	if (!cfg)
		return loom_err_set(EINVAL, "moe: config is NULL");
	const int e = cfg->num_experts, g = cfg->num_groups, m = cfg->topk_groups;
	if (e < 1 || g < 1)
		return loom_err_set(EINVAL, "moe: num_experts=%d and num_groups=%d must be >= 1", e, g);
	if (e % g != 0)
		return loom_err_set(EINVAL, "moe: num_experts=%d is not a multiple of num_groups=%d",
				    e, g);
	if (m < 1 || m > g)
		return loom_err_set(EINVAL, "moe: topk_groups=%d must be in 1..num_groups=%d", m, g);
	const int per_group = e / g;
	if (cfg->top_k < 1 || cfg->top_k > m * per_group)
		return loom_err_set(EINVAL,
				    "moe: top_k=%d must be in 1..%d (experts in %d groups of %d)",
				    cfg->top_k, m * per_group, m, per_group);
	if (cfg->group_score_topn < 1 || cfg->group_score_topn > per_group)
		return loom_err_set(EINVAL, "moe: group_score_topn=%d must be in 1..%d",
				    cfg->group_score_topn, per_group);
	if (!isfinite(cfg->routed_scaling_factor) || !(cfg->routed_scaling_factor > 0))
		return loom_err_set(EINVAL, "moe: routed_scaling_factor=%g must be finite and > 0",
				    (double)cfg->routed_scaling_factor);
	if (!isfinite(cfg->bias_update_speed) || cfg->bias_update_speed < 0)
		return loom_err_set(EINVAL, "moe: bias_update_speed=%g must be finite and >= 0",
				    (double)cfg->bias_update_speed);
	return 0;
}

/* ---- per-token selection ------------------------------------------------ */

/* Per-call scratch, O(E + G). */
struct router_scratch {
	float *score;	      /* (E) selection scores c_i, NaN replaced by -inf */
	float *group_score;   /* (G) */
	unsigned char *taken; /* (E) excluded from the next arg-max */
	unsigned char *gtaken;/* (G) */
};

static int scratch_alloc(struct router_scratch *s, int e, int g)
{
	s->score = malloc(sizeof(float) * (size_t)e);
	s->group_score = malloc(sizeof(float) * (size_t)g);
	s->taken = calloc((size_t)e, 1);
	s->gtaken = calloc((size_t)g, 1);
	if (s->score && s->group_score && s->taken && s->gtaken)
		return 0;
	free(s->score), free(s->group_score), free(s->taken), free(s->gtaken);
	return loom_err_set(ENOMEM, "moe: router scratch for %d experts", e);
}

static void scratch_free(struct router_scratch *s)
{
	free(s->score), free(s->group_score), free(s->taken), free(s->gtaken);
}

static inline float sigmoid_f32(float u)
{
	return 1.0f / (1.0f + expf(-u));
}

/* Index of the largest v[i], lo <= i < hi, not taken; ties: lowest index.
 * v holds no NaN.  -1 if all are taken. */
static int arg_best(const float *v, const unsigned char *taken, int lo, int hi)
{
	int best = -1;

	for (int i = lo; i < hi; i++)
		if (!taken[i] && (best < 0 || v[i] > v[best]))
			best = i;
	return best;
}

/* Sum of the n largest scores of experts lo..hi-1, largest first, in FP32.
 * taken[lo..hi) is zero on entry and on exit. */
static float group_score(const float *score, unsigned char *taken, int lo, int hi, int n)
{
	float sum = 0.0f;

	for (int r = 0; r < n; r++) {
		int best = arg_best(score, taken, lo, hi);
		taken[best] = 1;
		sum += score[best];
	}
	memset(taken + lo, 0, (size_t)(hi - lo));
	return isnan(sum) ? -INFINITY : sum;
}

/* Steps 2-5 of moe.h for one token: selection scores, groups, experts. */
static void select_token(const struct moe_router_config *cfg, struct router_scratch *s,
			 const float *aff, const float *bias, int32_t *idx)
{
	const int e = cfg->num_experts, g = cfg->num_groups, per = e / g;

	for (int i = 0; i < e; i++) {
		float c = aff[i] + (bias ? bias[i] : 0.0f);
		s->score[i] = isnan(c) ? -INFINITY : c;
	}
	for (int j = 0; j < g; j++)
		s->group_score[j] = group_score(s->score, s->taken, j * per, (j + 1) * per,
						cfg->group_score_topn);
	/* gtaken[j] = 1: group j is among the M chosen. */
	for (int r = 0; r < cfg->topk_groups; r++)
		s->gtaken[arg_best(s->group_score, s->gtaken, 0, g)] = 1;
	/* Experts of groups not chosen are excluded: taken = !chosen. */
	for (int i = 0; i < e; i++)
		s->taken[i] = !s->gtaken[i / per];
	for (int r = 0; r < cfg->top_k; r++) {
		idx[r] = arg_best(s->score, s->taken, 0, e);
		s->taken[idx[r]] = 1;
	}
	memset(s->taken, 0, (size_t)e);
	memset(s->gtaken, 0, (size_t)g);
}

/* log(sigmoid(u)) = -softplus(-u), finite for every finite u; NaN -> -inf. */
static double log_sigmoid(double u)
{
	if (isnan(u))
		return -INFINITY;
	return -(fmax(-u, 0.0) + log1p(exp(-fabs(u))));
}

/*
 * p (k) = normalized affinities s_j / sum s of the selected logits, in FP64.
 * Returns false (and p uniform 1/k) when every selected affinity is 0.
 */
static bool normalized_affinities(const float *logits, const int32_t *idx, int k, double *p)
{
	double top = -INFINITY, sum = 0.0;

	for (int j = 0; j < k; j++) {
		p[j] = log_sigmoid(logits[idx[j]]);
		top = fmax(top, p[j]);
	}
	if (top == -INFINITY) {
		for (int j = 0; j < k; j++)
			p[j] = 1.0 / k;
		return false;
	}
	for (int j = 0; j < k; j++) {
		p[j] = exp(p[j] - top);
		sum += p[j];
	}
	for (int j = 0; j < k; j++)
		p[j] /= sum;
	return true;
}

/* ---- forward / backward ------------------------------------------------- */

static int check_bias(const float *bias, int e)
{
	for (int i = 0; bias && i < e; i++)
		if (!isfinite(bias[i]))
			return loom_err_set(EINVAL, "moe: bias[%d]=%g is not finite", i,
					    (double)bias[i]);
	return 0;
}

static int check_tokens(const char *fn, int num_tokens)
{
	if (num_tokens <= 0)
		return loom_err_set(EINVAL, "moe: %s: num_tokens=%d must be > 0", fn, num_tokens);
	return 0;
}

int moe_router_forward(const struct moe_router_config *cfg, int num_tokens,
		       const float *logits, const float *bias, int32_t *topk_idx,
		       float *topk_weight, float *affinity)
{
	int err = moe_router_config_check(cfg);
	if (err)
		return err;
	if (!logits || !topk_idx || !topk_weight)
		return loom_err_set(EINVAL, "moe: router_forward: NULL logits or output");
	if ((err = check_tokens("router_forward", num_tokens)) || (err = check_bias(bias, cfg->num_experts)))
		return err;

	const int e = cfg->num_experts, k = cfg->top_k;
	struct router_scratch s;
	if ((err = scratch_alloc(&s, e, cfg->num_groups)))
		return err;
	float *aff_row = malloc(sizeof(float) * (size_t)e);
	double *p = malloc(sizeof(double) * (size_t)k);
	if (!aff_row || !p) {
		err = loom_err_set(ENOMEM, "moe: router scratch for %d experts", e);
		goto out_free;
	}
	for (int t = 0; t < num_tokens; t++) {
		const float *u = logits + (size_t)t * e;
		int32_t *idx = topk_idx + (size_t)t * k;
		for (int i = 0; i < e; i++)
			aff_row[i] = sigmoid_f32(u[i]);
		if (affinity)
			memcpy(affinity + (size_t)t * e, aff_row, sizeof(float) * (size_t)e);
		select_token(cfg, &s, aff_row, bias, idx);
		normalized_affinities(u, idx, k, p);
		for (int j = 0; j < k; j++)
			topk_weight[(size_t)t * k + j] = (float)(cfg->routed_scaling_factor * p[j]);
	}
out_free:
	scratch_free(&s);
	free(aff_row), free(p);
	return err;
}

/* k distinct experts in [0, E) per token; seen (E) is zero on entry and exit. */
static int check_topk(const int32_t *idx, int k, int e, unsigned char *seen, int t)
{
	int err = 0;

	for (int j = 0; j < k && !err; j++) {
		if (idx[j] < 0 || idx[j] >= e)
			err = loom_err_set(EINVAL, "moe: topk_idx[%d][%d]=%d outside [0, %d)", t, j,
					   (int)idx[j], e);
		else if (seen[idx[j]])
			err = loom_err_set(EINVAL, "moe: topk_idx[%d] repeats expert %d", t,
					   (int)idx[j]);
		else
			seen[idx[j]] = 1;
	}
	for (int j = 0; j < k; j++)
		if (idx[j] >= 0 && idx[j] < e)
			seen[idx[j]] = 0;
	return err;
}

/* One token's gradient row (E), already zeroed; see moe.h for the formula. */
static void backward_token(const float *u, const int32_t *idx, const float *g, int k,
			   double scale, double *p, float *grad)
{
	double dot = 0.0;

	if (!normalized_affinities(u, idx, k, p))
		return;
	for (int j = 0; j < k; j++)
		dot += (double)g[j] * p[j];
	for (int j = 0; j < k; j++) {
		double one_minus_s = exp(log_sigmoid(-(double)u[idx[j]]));
		grad[idx[j]] = (float)(scale * p[j] * one_minus_s * ((double)g[j] - dot));
	}
}

int moe_router_backward(const struct moe_router_config *cfg, int num_tokens,
			const float *logits, const int32_t *topk_idx,
			const float *grad_topk_weight, float *grad_logits)
{
	int err = moe_router_config_check(cfg);
	if (err)
		return err;
	if (!logits || !topk_idx || !grad_topk_weight || !grad_logits)
		return loom_err_set(EINVAL, "moe: router_backward: NULL input or output");
	if ((err = check_tokens("router_backward", num_tokens)))
		return err;

	const int e = cfg->num_experts, k = cfg->top_k;
	unsigned char *seen = calloc((size_t)e, 1);
	double *p = malloc(sizeof(double) * (size_t)k);
	if (!seen || !p) {
		err = loom_err_set(ENOMEM, "moe: router_backward scratch");
		goto out_free;
	}
	for (int t = 0; t < num_tokens && !err; t++)
		err = check_topk(topk_idx + (size_t)t * k, k, e, seen, t);
	for (int t = 0; t < num_tokens && !err; t++) {
		float *grad = grad_logits + (size_t)t * e;
		memset(grad, 0, sizeof(float) * (size_t)e);
		backward_token(logits + (size_t)t * e, topk_idx + (size_t)t * k,
			       grad_topk_weight + (size_t)t * k, k, cfg->routed_scaling_factor, p,
			       grad);
	}
out_free:
	free(seen), free(p);
	return err;
}

/* ---- load balancing ----------------------------------------------------- */

int moe_router_count_load(const struct moe_router_config *cfg, int num_tokens,
			  const int32_t *topk_idx, int64_t *expert_load, int64_t *group_load)
{
	int err = moe_router_config_check(cfg);
	if (err)
		return err;
	if (!topk_idx || !expert_load)
		return loom_err_set(EINVAL, "moe: count_load: NULL topk_idx or expert_load");
	if ((err = check_tokens("count_load", num_tokens)))
		return err;

	const int e = cfg->num_experts, g = cfg->num_groups, k = cfg->top_k, per = e / g;
	/* last_token[g] = 1 + the last token counted in group g (no clearing per token) */
	int *last_token = calloc((size_t)g, sizeof(int));
	if (!last_token)
		return loom_err_set(ENOMEM, "moe: count_load scratch");
	memset(expert_load, 0, sizeof(int64_t) * (size_t)e);
	if (group_load)
		memset(group_load, 0, sizeof(int64_t) * (size_t)g);
	for (int t = 0; t < num_tokens && !err; t++) {
		for (int j = 0; j < k; j++) {
			int32_t i = topk_idx[(size_t)t * k + j];
			if (i == -1)
				continue;
			if (i < -1 || i >= e) {
				err = loom_err_set(EINVAL, "moe: topk_idx[%d][%d]=%d outside [-1, %d)",
						   t, j, (int)i, e);
				break;
			}
			expert_load[i]++;
			if (group_load && last_token[i / per] != t + 1) {
				last_token[i / per] = t + 1;
				group_load[i / per]++;
			}
		}
	}
	free(last_token);
	return err;
}

int moe_router_bias_update(const struct moe_router_config *cfg, const int64_t *expert_load,
			   float *bias)
{
	int err = moe_router_config_check(cfg);
	if (err)
		return err;
	if (!expert_load || !bias)
		return loom_err_set(EINVAL, "moe: bias_update: NULL expert_load or bias");

	const int e = cfg->num_experts;
	int64_t total = 0;
	for (int i = 0; i < e; i++) {
		if (expert_load[i] < 0 || expert_load[i] > INT64_MAX / e - total)
			return loom_err_set(EINVAL, "moe: bias_update: expert_load[%d]=%lld is "
					    "negative or the total overflows", i,
					    (long long)expert_load[i]);
		total += expert_load[i];
	}
	/* load_i > total / E  <=>  load_i * E > total, exact in integers. */
	for (int i = 0; i < e; i++) {
		int64_t scaled = expert_load[i] * e;
		if (scaled > total)
			bias[i] -= cfg->bias_update_speed;
		else if (scaled < total)
			bias[i] += cfg->bias_update_speed;
	}
	return 0;
}

/*
 * test_router.c - the MoE router (kernels/router.c) against hand-computed
 * cases, a brute-force FP64 reference selection, finite differences for the
 * backward, recounts for the loads, and bad input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/moe.h"
#include "lt.h"

/* ---- utilities ------------------------------------------------------------ */

static double sigmoid_f64(double u) { return 1.0 / (1.0 + exp(-u)); }

/* Allocation that a test cannot go on without: abort loudly. */
static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static struct moe_router_config cfg_make(int e, int g, int m, int k, int n, float scale)
{
	struct moe_router_config c = moe_router_config_default(e, g, m, k);
	c.group_score_topn = n;
	c.routed_scaling_factor = scale;
	return c;
}

/* The hand cases: E = 8 in G = 4 groups of 2, logits chosen so that the
 * affinities are simple fractions: sigmoid(ln r) = r / (1 + r). */
#define LN3 1.0986122886681098
#define LN4 1.3862943611198906
#define LN9 2.1972245773362196
/* affinities 0.9 0.1 | 0.75 0.75 | 0.8 0.5 | 0.25 0.25 */
static const float hand_logits[8] = { (float)LN9, (float)-LN9, (float)LN3, (float)LN3,
				      (float)LN4, 0.0f,	       (float)-LN3, (float)-LN3 };

/*
 * Route one token and compare with hand-computed ids and weights.
 * Weights: the logits above are FP32 roundings of ln r, which moves each
 * affinity by at most |ds/du| * 2^-24 * |u| < 2^-24 * 0.6; the normalized
 * weight moves by less than 2e-7 relative, plus FP32 output rounding:
 * tolerance 1e-6 relative.
 */
static void check_hand(struct lt *t, const struct moe_router_config *cfg, const float *logits,
		       const float *bias, const int32_t *want_idx, const double *want_w)
{
	int32_t idx[8];
	float w[8];
	int rc = moe_router_forward(cfg, 1, logits, bias, idx, w, NULL);
	LT_CHECK(t, rc == 0, "rc=%d %s", rc, loom_err_msg());
	if (rc)
		return;
	for (int j = 0; j < cfg->top_k; j++) {
		LT_CHECK(t, idx[j] == want_idx[j], "slot %d: expert %d, want %d", j, (int)idx[j],
			 (int)want_idx[j]);
		LT_CHECK(t, fabs(w[j] - want_w[j]) <= 1e-6 * fabs(want_w[j]) + 1e-30,
			 "slot %d: weight %.9g, want %.9g", j, (double)w[j], want_w[j]);
	}
}

/* ---- hand-computed cases -------------------------------------------------- */

/* Group scores (top-2 sums): 1.0, 1.5, 1.3, 0.5 -> groups 1 and 2; the best
 * expert overall (0, affinity 0.9) is excluded with its weak group.  Among
 * 0.75, 0.75, 0.8, 0.5: expert 4, then 2 (ties with 3: the lower index). */
static void test_hand_group_limited(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 2.5f);
	check_hand(t, &cfg, hand_logits, NULL, (int32_t[]){ 4, 2 },
		   (double[]){ 2.5 * 0.8 / 1.55, 2.5 * 0.75 / 1.55 });
}

/* Group score = best affinity (n = 1): 0.9, 0.75, 0.8, 0.25 -> groups 0, 2;
 * experts 0 (0.9) and 4 (0.8). */
static void test_hand_topn1(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 1, 1.0f);
	check_hand(t, &cfg, hand_logits, NULL, (int32_t[]){ 0, 4 },
		   (double[]){ 0.9 / 1.7, 0.8 / 1.7 });
}

/* All groups (M = G), k = 3: the global top 3 are 0.9, 0.8, 0.75 (expert 2
 * before its tie 3). */
static void test_hand_all_groups(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 4, 3, 2, 1.0f);
	check_hand(t, &cfg, hand_logits, NULL, (int32_t[]){ 0, 4, 2 },
		   (double[]){ 0.9 / 2.45, 0.8 / 2.45, 0.75 / 2.45 });
}

/* Bias +0.1 on expert 3: its selection score 0.85 beats expert 4's 0.8 and
 * displaces expert 2; the weights stay the unbiased 0.75 and 0.8,
 * normalized. */
static void test_hand_bias_flips_expert(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 2.5f);
	const float bias[8] = { 0, 0, 0, 0.1f, 0, 0, 0, 0 };
	check_hand(t, &cfg, hand_logits, bias, (int32_t[]){ 3, 4 },
		   (double[]){ 2.5 * 0.75 / 1.55, 2.5 * 0.8 / 1.55 });
}

/* Bias +0.7 on group 3 (affinities 0.25, 0.25): group score 1.9 puts it
 * first; its experts win (0.95 each, tie -> 6 first); weights 0.25/0.5. */
static void test_hand_bias_flips_group(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 2.5f);
	const float bias[8] = { 0, 0, 0, 0, 0, 0, 0.7f, 0.7f };
	check_hand(t, &cfg, hand_logits, bias, (int32_t[]){ 6, 7 }, (double[]){ 1.25, 1.25 });
}

/* All affinities equal: every comparison ties, so groups 0 and 1 and then
 * experts 0..3 in index order win; weights 1/4 each. */
static void test_hand_ties_lowest_index(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 4, 2, 1.0f);
	const float zeros[8] = { 0 };
	check_hand(t, &cfg, zeros, NULL, (int32_t[]){ 0, 1, 2, 3 },
		   (double[]){ 0.25, 0.25, 0.25, 0.25 });
}

/* Every affinity underflows FP32 and even FP64 (logits near -800): the
 * weights are still the exact normalized affinities, ratio
 * e^-800 : e^(-800 - ln 3) = 3 : 1. */
static void test_hand_underflow_weights(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(2, 1, 1, 2, 2, 1.0f);
	const float logits[2] = { -800.0f, (float)(-800.0 - LN3) };
	/* -800 - ln 3 rounds in FP32 (ulp 2^-14): the expected ratio uses the
	 * rounded logit, exactly. */
	double r = exp((double)logits[1] + 800.0);
	check_hand(t, &cfg, logits, NULL, (int32_t[]){ 0, 1 },
		   (double[]){ 1.0 / (1.0 + r), r / (1.0 + r) });
}

/* ---- NaN logits (documented in moe.h) ------------------------------------ */

/* A NaN in group 0 makes its score -inf; the result is the NaN-free one. */
static void test_nan_loses_group(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 2.5f);
	float u[8];
	memcpy(u, hand_logits, sizeof(u));
	u[1] = NAN;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 4, 2 },
		   (double[]){ 2.5 * 0.8 / 1.55, 2.5 * 0.75 / 1.55 });
	/* NaN in group 1: groups 2 (1.3) and 0 (1.0) instead; experts 0, 4. */
	memcpy(u, hand_logits, sizeof(u));
	u[3] = NAN;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 0, 4 }, (double[]){ 2.5 * 0.9 / 1.7,
								       2.5 * 0.8 / 1.7 });
}

/* With n = 1 and M = 1 the group holding a NaN can win; k = 2 forces the
 * NaN expert in, with weight 0. */
static void test_nan_forced_weight_zero(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 1, 2, 1, 2.0f);
	float u[8];
	memcpy(u, hand_logits, sizeof(u));
	u[1] = NAN;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 0, 1 }, (double[]){ 2.0, 0.0 });
}

/* A NaN below a finite affinity in the same group must not shadow it: group
 * 0's score (n = 1) is 0.1 from expert 1, beating the zeros of the -inf
 * groups, and expert 1 (not the NaN) is chosen. */
static void test_nan_does_not_shadow(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 1, 1, 1, 1.0f);
	float u[8] = { NAN, (float)-LN9 };
	for (int i = 2; i < 8; i++)
		u[i] = -INFINITY;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 1 }, (double[]){ 1.0 });
}

/* Huge biases overflow group 0's FP32 score to inf, and its NaN expert adds
 * -inf: inf + -inf = NaN, which counts as -inf, so group 1 wins. */
static void test_nan_group_score(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(6, 2, 1, 1, 3, 1.0f);
	const float u[6] = { 0, 0, NAN, 0, 0, (float)LN3 };
	const float bias[6] = { 3e38f, 3e38f, 0, 0, 0, 0 };
	check_hand(t, &cfg, u, bias, (int32_t[]){ 5 }, (double[]){ 1.0 });
}

/* All NaN or all -inf: ties everywhere, experts 0, 1; uniform weights. */
static void test_nan_all(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 3.0f);
	float u[8];
	for (int i = 0; i < 8; i++)
		u[i] = NAN;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 0, 1 }, (double[]){ 1.5, 1.5 });
	for (int i = 0; i < 8; i++)
		u[i] = -INFINITY;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 0, 1 }, (double[]){ 1.5, 1.5 });
	/* affinity 1 puts group 2 first, then group 0 by index; expert 5, then
	 * the lowest-index zero among experts 0, 1, 4 */
	u[5] = INFINITY;
	check_hand(t, &cfg, u, NULL, (int32_t[]){ 5, 0 }, (double[]){ 3.0, 0.0 });
}

/* ---- brute-force FP64 reference ---------------------------------------- */

struct ref_item {
	double v;
	int i;
};

static int ref_cmp(const void *pa, const void *pb)
{
	const struct ref_item *a = pa, *b = pb;
	if (a->v != b->v)
		return a->v > b->v ? -1 : 1;
	return a->i - b->i;
}

/* FP32 and FP64 scores differ by < 1e-6 here; closer distinct values may be
 * ordered differently by the two, so such tokens are not compared. */
#define NEAR_TIE 4e-6

static bool near_tie(const struct ref_item *sorted, int upto, int n)
{
	for (int r = 0; r < upto && r + 1 < n; r++) {
		double gap = sorted[r].v - sorted[r + 1].v;
		if (gap > 0 && gap < NEAR_TIE)
			return true;
	}
	return false;
}

/*
 * Reference selection by sorting (not by repeated arg-max as the kernel):
 * scores in FP64, groups sorted by (score desc, index asc), experts likewise.
 * Returns false when a near-tie makes the FP32 answer legitimately differ.
 */
static bool ref_route(const struct moe_router_config *cfg, const float *u, const float *bias,
		      int32_t *idx)
{
	const int e = cfg->num_experts, g = cfg->num_groups, per = e / g;
	struct ref_item *c = xcalloc((size_t)e, sizeof(*c)), *gs = xcalloc((size_t)g, sizeof(*gs));
	struct ref_item *tmp = xcalloc((size_t)per, sizeof(*tmp)), *cand = xcalloc((size_t)e, sizeof(*cand));
	bool ok = true;

	for (int i = 0; i < e; i++) {
		double v = sigmoid_f64(u[i]) + (bias ? bias[i] : 0.0);
		c[i] = (struct ref_item){ isnan(v) ? -INFINITY : v, i };
	}
	for (int j = 0; j < g; j++) {
		memcpy(tmp, c + j * per, sizeof(*tmp) * (size_t)per);
		qsort(tmp, (size_t)per, sizeof(*tmp), ref_cmp);
		double sum = 0;
		for (int r = 0; r < cfg->group_score_topn; r++)
			sum += tmp[r].v;
		gs[j] = (struct ref_item){ sum, j };
		ok = ok && !near_tie(tmp, cfg->group_score_topn, per);
	}
	qsort(gs, (size_t)g, sizeof(*gs), ref_cmp);
	ok = ok && !near_tie(gs, cfg->topk_groups, g);
	int nc = 0;
	for (int r = 0; r < cfg->topk_groups; r++)
		for (int i = gs[r].i * per; i < (gs[r].i + 1) * per; i++)
			cand[nc++] = c[i];
	qsort(cand, (size_t)nc, sizeof(*cand), ref_cmp);
	ok = ok && !near_tie(cand, cfg->top_k, nc);
	for (int r = 0; r < cfg->top_k; r++)
		idx[r] = cand[r].i;
	free(c), free(gs), free(tmp), free(cand);
	return ok;
}

/* Exact weights for a selection: scale * s_j / sum s, FP64. */
static void ref_weights(const struct moe_router_config *cfg, const float *u, const int32_t *idx,
			double *w)
{
	double sum = 0;
	for (int j = 0; j < cfg->top_k; j++)
		sum += sigmoid_f64(u[idx[j]]);
	for (int j = 0; j < cfg->top_k; j++)
		w[j] = cfg->routed_scaling_factor * sigmoid_f64(u[idx[j]]) / sum;
}

static const struct moe_router_config *random_configs(int *n)
{
	static struct moe_router_config cfgs[6];
	cfgs[0] = cfg_make(256, 8, 4, 8, 2, 2.5f); /* DeepSeek-V3 */
	cfgs[1] = cfg_make(64, 8, 3, 6, 3, 1.0f);
	cfgs[2] = cfg_make(16, 16, 5, 5, 1, 1.0f); /* one expert per group, k = M */
	cfgs[3] = cfg_make(12, 1, 1, 3, 2, 1.0f);  /* no groups */
	cfgs[4] = cfg_make(32, 4, 4, 1, 2, 16.0f); /* k = 1, M = G */
	cfgs[5] = cfg_make(8, 4, 2, 4, 2, 2.5f);   /* k = all kept experts */
	*n = 6;
	return cfgs;
}

/*
 * Random logits N(0, 2^2) and bias N(0, 0.05^2) (when bias is not NULL).
 * discrete: logits from {0, 1, 3} and no bias, so exact ties abound while
 * sums of up to 3 affinities of different multisets stay >= 0.0095 apart
 * (checked offline); FP32 and FP64 then break every tie the same way.  (A
 * discrete bias would not do: s_a + B + s_b = s_a + (s_b + B) is a tie in
 * exact arithmetic that FP32 rounding may break either way.)
 */
static void random_inputs(struct loom_rng *r, int n_logits, int e, float *u, float *bias,
			  bool discrete)
{
	static const float levels[3] = { 0.0f, 1.0f, 3.0f };

	for (int i = 0; i < n_logits; i++)
		u[i] = discrete ? levels[loom_rng_u32(r) % 3] : (float)(2 * loom_rng_normal(r));
	for (int i = 0; bias && i < e; i++)
		bias[i] = (float)(0.05 * loom_rng_normal(r));
}

/* ---- random properties ---------------------------------------------------- */

/* k distinct experts in range, from at most M groups; weights positive and
 * in decreasing selection-score order. */
static void check_structure(struct lt *t, const struct moe_router_config *cfg, int tok,
			    const int32_t *idx, const float *aff, const float *bias, const float *w)
{
	const int per = cfg->num_experts / cfg->num_groups;
	int groups_used = 0;
	char *seen = xcalloc((size_t)cfg->num_experts, 1), *gseen = xcalloc((size_t)cfg->num_groups, 1);

	for (int j = 0; j < cfg->top_k; j++) {
		int i = idx[j];
		if (i < 0 || i >= cfg->num_experts) {
			LT_CHECK(t, false, "token %d slot %d: expert %d out of range", tok, j, i);
			break;
		}
		LT_CHECK(t, !seen[i], "token %d: expert %d twice", tok, i);
		seen[i] = 1;
		groups_used += !gseen[i / per];
		gseen[i / per] = 1;
		LT_CHECK(t, w[j] > 0, "token %d slot %d: weight %g", tok, j, (double)w[j]);
		if (j > 0 && idx[j - 1] >= 0 && idx[j - 1] < cfg->num_experts) {
			float prev = aff[idx[j - 1]] + (bias ? bias[idx[j - 1]] : 0.0f);
			float cur = aff[i] + (bias ? bias[i] : 0.0f);
			LT_CHECK(t, prev > cur || (prev == cur && idx[j - 1] < i),
				 "token %d: slots %d, %d out of order", tok, j - 1, j);
		}
	}
	LT_CHECK(t, groups_used <= cfg->topk_groups, "token %d uses %d groups > M=%d", tok,
		 groups_used, cfg->topk_groups);
	free(seen), free(gseen);
}

/*
 * Weight sum: each FP32 weight is within half an ulp of its exact value and
 * every weight is <= scale, so the exact sum of the k FP32 weights is within
 * k/2 ulp(scale) of scale (+1e-12 relative for the FP64 arithmetic).
 */
static void check_weights(struct lt *t, const struct moe_router_config *cfg, int tok,
			  const float *u, const int32_t *idx, const float *w)
{
	double want[64], sum = 0, scale = cfg->routed_scaling_factor;
	double ulp = nextafterf(cfg->routed_scaling_factor, INFINITY) - scale;

	ref_weights(cfg, u, idx, want);
	for (int j = 0; j < cfg->top_k; j++) {
		sum += w[j];
		/* half an ulp of the value: <= 2^-24 relative */
		LT_CHECK(t, fabs(w[j] - want[j]) <= 0x1p-24 * want[j] + 1e-12 * scale,
			 "token %d slot %d: weight %.9g, want %.9g", tok, j, (double)w[j], want[j]);
	}
	LT_CHECK(t, fabs(sum - scale) <= 0.5 * cfg->top_k * ulp + 1e-12 * scale,
		 "token %d: weights sum to %.9g, want %g", tok, sum, scale);
}

static void run_random(struct lt *t, bool with_bias, bool discrete)
{
	struct loom_rng r;
	int n_cfg, n_tok = 300, skipped = 0, compared = 0;
	const struct moe_router_config *cfgs = random_configs(&n_cfg);

	loom_rng_init(&r, lt_seed(t));
	for (int ci = 0; ci < n_cfg; ci++) {
		const struct moe_router_config *cfg = &cfgs[ci];
		const int e = cfg->num_experts, k = cfg->top_k;
		float *u = xcalloc((size_t)n_tok * e, sizeof(float)), *aff = xcalloc((size_t)n_tok * e, sizeof(float));
		float *bias = with_bias ? xcalloc((size_t)e, sizeof(float)) : NULL;
		float *w = xcalloc((size_t)n_tok * k, sizeof(float));
		int32_t *idx = xcalloc((size_t)n_tok * k, sizeof(int32_t)), ref[64];

		random_inputs(&r, n_tok * e, e, u, bias, discrete);
		int rc = moe_router_forward(cfg, n_tok, u, bias, idx, w, aff);
		LT_CHECK(t, rc == 0, "config %d: rc=%d %s", ci, rc, loom_err_msg());
		for (int tok = 0; rc == 0 && tok < n_tok; tok++) {
			const float *ut = u + (size_t)tok * e;
			const int32_t *it = idx + (size_t)tok * k;
			check_structure(t, cfg, tok, it, aff + (size_t)tok * e, bias, w + (size_t)tok * k);
			check_weights(t, cfg, tok, ut, it, w + (size_t)tok * k);
			if (!ref_route(cfg, ut, bias, ref)) {
				skipped++;
				continue;
			}
			compared++;
			for (int j = 0; j < k; j++)
				LT_CHECK(t, it[j] == ref[j], "config %d token %d slot %d: %d, reference %d",
					 ci, tok, j, (int)it[j], (int)ref[j]);
		}
		free(u), free(aff), free(bias), free(w), free(idx);
	}
	/* near-ties are rare in continuous data; many would make the check hollow */
	LT_CHECK(t, skipped * 20 <= compared, "%d near-tie tokens skipped, %d compared", skipped,
		 compared);
	if (discrete)
		LT_CHECK(t, skipped == 0, "discrete inputs have exact ties only, %d skipped", skipped);
}

static void test_random_vs_reference(struct lt *t) { run_random(t, false, false); }
static void test_random_vs_reference_bias(struct lt *t) { run_random(t, true, false); }
static void test_random_vs_reference_ties(struct lt *t) { run_random(t, false, true); }

/* Affinity output is sigmoid within FP32 rounding: expf's error (~1 ulp)
 * and two roundings, < 8 ulps: 1e-6 relative. */
static void test_affinity_output(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(64, 8, 2, 4, 2, 1.0f);
	struct loom_rng r;
	const int n = 64 * 50;
	float *u = xcalloc(n, sizeof(float)), *aff = xcalloc(n, sizeof(float)), w[4 * 50];
	double max_rel = 0;
	int32_t idx[4 * 50];

	loom_rng_init(&r, lt_seed(t));
	random_inputs(&r, n, 64, u, NULL, false);
	LT_CHECK(t, moe_router_forward(&cfg, 50, u, NULL, idx, w, aff) == 0, "%s", loom_err_msg());
	for (int i = 0; i < n; i++)
		max_rel = fmax(max_rel, fabs(aff[i] - sigmoid_f64(u[i])) / sigmoid_f64(u[i]));
	LT_CHECK(t, max_rel <= 1e-6, "max relative error %g", max_rel);
	free(u), free(aff);
}

/* Adding the same bias to every expert shifts every score and group score
 * equally: the selection must not change, and the weights must be bit-for-bit
 * the same (FP32 rounding of s + b can merge two close scores into a tie, so
 * a few tokens may legitimately differ; those are counted, not compared). */
static void test_bias_never_changes_weights(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(256, 8, 4, 8, 2, 2.5f);
	const int n_tok = 400, e = 256, k = 8;
	struct loom_rng r;
	float *u = xcalloc((size_t)n_tok * e, sizeof(float)), bias[256];
	float *w0 = xcalloc((size_t)n_tok * k, sizeof(float)), *w1 = xcalloc((size_t)n_tok * k, sizeof(float));
	int32_t *i0 = xcalloc((size_t)n_tok * k, sizeof(int32_t)), *i1 = xcalloc((size_t)n_tok * k, sizeof(int32_t));
	int same = 0;

	loom_rng_init(&r, lt_seed(t));
	random_inputs(&r, n_tok * e, e, u, NULL, false);
	for (int i = 0; i < e; i++)
		bias[i] = 0.375f;
	LT_CHECK(t, moe_router_forward(&cfg, n_tok, u, NULL, i0, w0, NULL) == 0, "%s", loom_err_msg());
	LT_CHECK(t, moe_router_forward(&cfg, n_tok, u, bias, i1, w1, NULL) == 0, "%s", loom_err_msg());
	for (int tok = 0; tok < n_tok; tok++) {
		size_t o = (size_t)tok * k;
		if (memcmp(i0 + o, i1 + o, sizeof(int32_t) * k) != 0)
			continue;
		same++;
		LT_CHECK(t, memcmp(w0 + o, w1 + o, sizeof(float) * k) == 0,
			 "token %d: same selection, different weights", tok);
	}
	LT_CHECK(t, same >= n_tok * 95 / 100, "only %d of %d tokens kept their selection", same,
		 n_tok);
	free(u), free(w0), free(w1), free(i0), free(i1);
}

/* ---- backward vs finite differences ------------------------------------ */

/* L(u) = sum_j g_j w_j(u) for a fixed selection, all in FP64. */
static double loss_f64(const struct moe_router_config *cfg, const double *u, const int32_t *idx,
		       const float *g)
{
	double sum = 0, l = 0;
	for (int j = 0; j < cfg->top_k; j++)
		sum += sigmoid_f64(u[idx[j]]);
	for (int j = 0; j < cfg->top_k; j++)
		l += g[j] * cfg->routed_scaling_factor * sigmoid_f64(u[idx[j]]) / sum;
	return l;
}

/*
 * Central differences with h = 1e-5 in FP64: truncation ~h^2 * |L'''| ~ 1e-10,
 * cancellation ~1e-16 / h ~ 1e-11; the kernel rounds an FP64 result to FP32
 * (2^-24 relative).  Tolerance 1e-6 * (row max) + 1e-8.
 */
static void test_backward_finite_diff(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(32, 4, 2, 4, 2, 2.5f);
	const int n_tok = 20, e = 32, k = 4;
	struct loom_rng r;
	float u[20 * 32], w[20 * 4], g[20 * 4], grad[20 * 32];
	int32_t idx[20 * 4];

	loom_rng_init(&r, lt_seed(t));
	random_inputs(&r, n_tok * e, e, u, NULL, false);
	for (int i = 0; i < n_tok * k; i++)
		g[i] = (float)loom_rng_normal(&r);
	LT_CHECK(t, moe_router_forward(&cfg, n_tok, u, NULL, idx, w, NULL) == 0, "%s", loom_err_msg());
	int rc = moe_router_backward(&cfg, n_tok, u, idx, g, grad);
	LT_CHECK(t, rc == 0, "rc=%d %s", rc, loom_err_msg());
	for (int tok = 0; rc == 0 && tok < n_tok; tok++) {
		double ud[32], fd[32], row_max = 0;
		const int32_t *it = idx + tok * k;
		for (int i = 0; i < e; i++)
			ud[i] = u[tok * e + i];
		for (int i = 0; i < e; i++) {
			double keep = ud[i];
			ud[i] = keep + 1e-5;
			double lp = loss_f64(&cfg, ud, it, g + tok * k);
			ud[i] = keep - 1e-5;
			double lm = loss_f64(&cfg, ud, it, g + tok * k);
			ud[i] = keep;
			fd[i] = (lp - lm) / 2e-5;
			row_max = fmax(row_max, fabs(fd[i]));
		}
		for (int i = 0; i < e; i++)
			LT_CHECK(t, fabs(grad[tok * e + i] - fd[i]) <= 1e-6 * row_max + 1e-8,
				 "token %d expert %d: grad %.9g, finite difference %.9g", tok, i,
				 (double)grad[tok * e + i], fd[i]);
	}
}

/* The bias does not enter the gradient, and unselected experts get exactly 0. */
static void test_backward_unselected_zero(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 2.5f);
	float grad[8], g[2] = { 1.0f, -2.0f };
	int32_t idx[2] = { 4, 2 };

	LT_CHECK(t, moe_router_backward(&cfg, 1, hand_logits, idx, g, grad) == 0, "%s",
		 loom_err_msg());
	for (int i = 0; i < 8; i++)
		if (i != 4 && i != 2)
			LT_CHECK(t, grad[i] == 0.0f, "expert %d: %g", i, (double)grad[i]);
	/* hand value: p = (0.8, 0.75)/1.55, dot = p.g; grad_4 = 2.5 p4 (1 - 0.8)(1 - dot) */
	double p4 = 0.8 / 1.55, p2 = 0.75 / 1.55, dot = p4 * 1.0 + p2 * -2.0;
	double want4 = 2.5 * p4 * 0.2 * (1.0 - dot), want2 = 2.5 * p2 * 0.25 * (-2.0 - dot);
	LT_CHECK(t, fabs(grad[4] - want4) <= 1e-6 * fabs(want4), "grad4 %.9g want %.9g",
		 (double)grad[4], want4);
	LT_CHECK(t, fabs(grad[2] - want2) <= 1e-6 * fabs(want2), "grad2 %.9g want %.9g",
		 (double)grad[2], want2);
}

/* ---- loads and the bias update ------------------------------------------ */

static void test_count_load_recount(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(64, 8, 3, 6, 2, 1.0f);
	const int n_tok = 500, e = 64, g = 8, k = 6;
	struct loom_rng r;
	float *u = xcalloc((size_t)n_tok * e, sizeof(float)), *w = xcalloc((size_t)n_tok * k, sizeof(float));
	int32_t *idx = xcalloc((size_t)n_tok * k, sizeof(int32_t));
	int64_t load[64], gload[8];

	loom_rng_init(&r, lt_seed(t));
	random_inputs(&r, n_tok * e, e, u, NULL, false);
	LT_CHECK(t, moe_router_forward(&cfg, n_tok, u, NULL, idx, w, NULL) == 0, "%s", loom_err_msg());
	idx[0] = -1; /* an unused slot is skipped */
	LT_CHECK(t, moe_router_count_load(&cfg, n_tok, idx, load, gload) == 0, "%s", loom_err_msg());
	for (int i = 0; i < e; i++) {
		int64_t n = 0;
		for (int s = 0; s < n_tok * k; s++)
			n += idx[s] == i;
		LT_CHECK(t, load[i] == n, "expert %d: %lld, recount %lld", i, (long long)load[i],
			 (long long)n);
	}
	for (int j = 0; j < g; j++) {
		int64_t n = 0;
		for (int tok = 0; tok < n_tok; tok++) {
			bool uses = false;
			for (int s = 0; s < k; s++)
				uses = uses || (idx[tok * k + s] >= 0 && idx[tok * k + s] / 8 == j);
			n += uses;
		}
		LT_CHECK(t, gload[j] == n, "group %d: %lld tokens, recount %lld", j,
			 (long long)gload[j], (long long)n);
	}
	free(u), free(w), free(idx);
}

/* Direction and size: over mean -gamma, under +gamma, at the mean unchanged;
 * the mean need not be an integer. */
static void test_bias_update_direction(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(4, 1, 1, 1, 1, 1.0f);
	int64_t load[4] = { 5, 1, 3, 3 }; /* mean 3 */
	float b[4] = { 0.5f, -0.25f, 0.125f, 0 }, b0[4];
	const double gamma = cfg.bias_update_speed;

	memcpy(b0, b, sizeof(b));
	LT_CHECK(t, moe_router_bias_update(&cfg, load, b) == 0, "%s", loom_err_msg());
	/* b -+ gamma in FP32: within half an ulp of the exact FP64 difference */
	LT_CHECK(t, fabs(b[0] - (b0[0] - gamma)) <= 0x1p-24 * fabs(b0[0] - gamma), "b0 %.9g",
		 (double)b[0]);
	LT_CHECK(t, fabs(b[1] - (b0[1] + gamma)) <= 0x1p-24 * fabs(b0[1] + gamma), "b1 %.9g",
		 (double)b[1]);
	LT_CHECK(t, b[2] == b0[2] && b[3] == b0[3], "at the mean: %g %g", (double)b[2], (double)b[3]);

	struct moe_router_config c3 = cfg_make(3, 1, 1, 1, 1, 1.0f);
	c3.bias_update_speed = 0.25f;
	int64_t l3[3] = { 1, 1, 0 }; /* mean 2/3 */
	float b3[3] = { 0, 0, 0 };
	LT_CHECK(t, moe_router_bias_update(&c3, l3, b3) == 0, "%s", loom_err_msg());
	LT_CHECK(t, b3[0] == -0.25f && b3[1] == -0.25f && b3[2] == 0.25f, "%g %g %g",
		 (double)b3[0], (double)b3[1], (double)b3[2]);
}

/*
 * Closed loop: experts get a fixed logit offset from -1.5 to +1.5, so routing
 * is badly skewed (max load / mean load ~3 at the first step); bias steps
 * (gamma 0.01) must even it out.  With 64 rows per expert, sampling noise
 * alone keeps max/mean near 1.2-1.3 even when balanced: over 200 seeds the
 * mean of the last 50 of 300 steps was 1.21-1.27, so the bound is 1.4.
 */
static void test_bias_balances_load(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(16, 4, 2, 4, 2, 1.0f);
	const int n_tok = 256, e = 16, k = 4, steps = 300;
	struct loom_rng r;
	float *u = xcalloc((size_t)n_tok * e, sizeof(float)), w[256 * 4], bias[16] = { 0 };
	int32_t idx[256 * 4];
	int64_t load[16];
	double first = 0, last = 0;

	cfg.bias_update_speed = 0.01f;
	loom_rng_init(&r, lt_seed(t));
	for (int s = 0; s < steps; s++) {
		for (int i = 0; i < n_tok * e; i++)
			u[i] = (float)(loom_rng_normal(&r) + 3.0 * ((i % e) / (double)(e - 1) - 0.5));
		if (moe_router_forward(&cfg, n_tok, u, bias, idx, w, NULL) ||
		    moe_router_count_load(&cfg, n_tok, idx, load, NULL) ||
		    moe_router_bias_update(&cfg, load, bias)) {
			LT_CHECK(t, false, "step %d: %s", s, loom_err_msg());
			break;
		}
		int64_t mx = 0;
		for (int i = 0; i < e; i++)
			mx = load[i] > mx ? load[i] : mx;
		double imb = mx / ((double)n_tok * k / e);
		if (s == 0)
			first = imb;
		if (s >= steps - 50)
			last += imb / 50;
	}
	LT_CHECK(t, first > 2.5, "setup: first-step imbalance %.2f should be large", first);
	LT_CHECK(t, last < 1.4, "imbalance %.2f at the start, still %.2f at the end", first, last);
	free(u);
}

/* ---- bad input ----------------------------------------------------------- */

static void expect_einval(struct lt *t, int rc, const char *what)
{
	LT_CHECK(t, rc == -EINVAL, "%s: rc=%d, want -EINVAL", what, rc);
	LT_CHECK(t, loom_err_msg()[0] != '\0', "%s: no message", what);
}

static void test_bad_config(struct lt *t)
{
	struct moe_router_config ok = cfg_make(8, 4, 2, 2, 2, 1.0f), c;
	float u[8] = { 0 }, w[4];
	int32_t idx[4];

	LT_CHECK(t, moe_router_config_check(&ok) == 0, "%s", loom_err_msg());
	expect_einval(t, moe_router_config_check(NULL), "NULL config");
	expect_einval(t, moe_router_forward(NULL, 1, u, NULL, idx, w, NULL), "forward NULL cfg");
#define BAD(field, val)                                                              \
	do {                                                                         \
		c = ok;                                                              \
		c.field = val;                                                       \
		expect_einval(t, moe_router_config_check(&c), #field "=" #val);      \
		expect_einval(t, moe_router_forward(&c, 1, u, NULL, idx, w, NULL),    \
			      "forward " #field "=" #val);                           \
	} while (0)
	BAD(num_experts, 0);
	BAD(num_experts, 7);	   /* E % G != 0 */
	BAD(num_groups, 0);
	BAD(num_groups, -4);
	BAD(topk_groups, 0);
	BAD(topk_groups, 5);	   /* M > G */
	BAD(top_k, 0);
	BAD(top_k, 5);		   /* k > M * E / G = 4 */
	BAD(group_score_topn, 0);
	BAD(group_score_topn, 3);  /* > E / G */
	BAD(routed_scaling_factor, 0.0f);
	BAD(routed_scaling_factor, -1.0f);
	BAD(routed_scaling_factor, NAN);
	BAD(routed_scaling_factor, INFINITY);
	BAD(bias_update_speed, -0.001f);
	BAD(bias_update_speed, NAN);
#undef BAD
	c = moe_router_config_default(8, 8, 2, 2); /* one expert per group: n defaults to 1 */
	LT_CHECK(t, c.group_score_topn == 1 && moe_router_config_check(&c) == 0, "n=%d %s",
		 c.group_score_topn, loom_err_msg());
}

static void test_bad_args(struct lt *t)
{
	struct moe_router_config cfg = cfg_make(8, 4, 2, 2, 2, 1.0f);
	float u[8] = { 0 }, w[2], bias[8] = { 0 }, grad[8], g[2] = { 1, 1 };
	int32_t idx[2];
	int64_t load[8];

	expect_einval(t, moe_router_forward(&cfg, 1, NULL, NULL, idx, w, NULL), "NULL logits");
	expect_einval(t, moe_router_forward(&cfg, 1, u, NULL, NULL, w, NULL), "NULL idx");
	expect_einval(t, moe_router_forward(&cfg, 1, u, NULL, idx, NULL, NULL), "NULL weight");
	expect_einval(t, moe_router_forward(&cfg, 0, u, NULL, idx, w, NULL), "T = 0");
	expect_einval(t, moe_router_forward(&cfg, -3, u, NULL, idx, w, NULL), "T < 0");
	bias[3] = NAN;
	expect_einval(t, moe_router_forward(&cfg, 1, u, bias, idx, w, NULL), "NaN bias");
	bias[3] = INFINITY;
	expect_einval(t, moe_router_forward(&cfg, 1, u, bias, idx, w, NULL), "inf bias");

	expect_einval(t, moe_router_backward(&cfg, 1, u, NULL, g, grad), "backward NULL idx");
	expect_einval(t, moe_router_backward(&cfg, 0, u, idx, g, grad), "backward T = 0");
	idx[0] = 3, idx[1] = 3;
	expect_einval(t, moe_router_backward(&cfg, 1, u, idx, g, grad), "backward repeated expert");
	idx[1] = 8;
	expect_einval(t, moe_router_backward(&cfg, 1, u, idx, g, grad), "backward expert 8 of 8");
	idx[1] = -1;
	expect_einval(t, moe_router_backward(&cfg, 1, u, idx, g, grad), "backward expert -1");

	idx[0] = 0, idx[1] = -2;
	expect_einval(t, moe_router_count_load(&cfg, 1, idx, load, NULL), "count_load -2");
	idx[1] = 8;
	expect_einval(t, moe_router_count_load(&cfg, 1, idx, load, NULL), "count_load 8");
	expect_einval(t, moe_router_count_load(&cfg, 1, NULL, load, NULL), "count_load NULL");
	expect_einval(t, moe_router_count_load(&cfg, -1, idx, load, NULL), "count_load T < 0");

	int64_t neg[8] = { 1, -1 }, huge[8] = { INT64_MAX, 1 };
	expect_einval(t, moe_router_bias_update(&cfg, NULL, bias), "bias_update NULL load");
	expect_einval(t, moe_router_bias_update(&cfg, load, NULL), "bias_update NULL bias");
	expect_einval(t, moe_router_bias_update(&cfg, neg, bias), "bias_update negative load");
	expect_einval(t, moe_router_bias_update(&cfg, huge, bias), "bias_update overflow");
}

static const struct lt_case cases[] = {
	LT_CASE(test_hand_group_limited),
	LT_CASE(test_hand_topn1),
	LT_CASE(test_hand_all_groups),
	LT_CASE(test_hand_bias_flips_expert),
	LT_CASE(test_hand_bias_flips_group),
	LT_CASE(test_hand_ties_lowest_index),
	LT_CASE(test_hand_underflow_weights),
	LT_CASE(test_nan_loses_group),
	LT_CASE(test_nan_forced_weight_zero),
	LT_CASE(test_nan_does_not_shadow),
	LT_CASE(test_nan_group_score),
	LT_CASE(test_nan_all),
	LT_CASE(test_random_vs_reference),
	LT_CASE(test_random_vs_reference_bias),
	LT_CASE(test_random_vs_reference_ties),
	LT_CASE(test_affinity_output),
	LT_CASE(test_bias_never_changes_weights),
	LT_CASE(test_backward_finite_diff),
	LT_CASE(test_backward_unselected_zero),
	LT_CASE(test_count_load_recount),
	LT_CASE(test_bias_update_direction),
	LT_CASE(test_bias_balances_load),
	LT_CASE(test_bad_config),
	LT_CASE(test_bad_args),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

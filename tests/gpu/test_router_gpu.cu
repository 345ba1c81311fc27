/*
 * test_router_gpu.cu - the router kernels (moe_cuda.h) against
 * moe_router_forward (kernels/router.c): affinities and topk_idx bit for
 * bit (a NaN logit's affinity only has to be a NaN: GPU arithmetic returns
 * the canonical NaN where x86 propagates the input's payload); weights bit for bit or within one FP32 ulp, the bound moe_cuda.h
 * states (CUDA's FP64 exp / log1p are not glibc's; both are within a few
 * FP64 ulps, so the FP32 roundings can only differ next to a rounding
 * boundary).  The case prints how many weights were not identical.
 * Configurations cover DeepSeek-V3's (256 experts, 8 groups, top-4 groups,
 * top-8), one group, groups of one, n = E/G, k = 32 and E = 2048; logits
 * with many ties, NaN, +-inf and underflowing affinities; bias and no bias.
 * Inputs are fresh random numbers per case (lt_seed); outputs are poisoned
 * before every launch.
 *
 * Needs a CUDA device; without one the GPU cases are skipped.  The
 * argument checks run everywhere.
 */
#include "lt.h"
#include "gpu_check.h"
#include "loom/err.h"
#include "loom/moe.h"
#include "loom/moe_cuda.h"
#include "loom/rng.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static uint32_t bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	return u;
}

/* mode 0: normal logits; 1: few distinct values (ties); 2: with NaN, inf
 * and logits whose affinity underflows. */
static void fill_logits(struct loom_rng *r, float *u, size_t n, int mode)
{
	for (size_t i = 0; i < n; i++) {
		double p = loom_rng_uniform(r);
		u[i] = mode == 1 ? (float)((int)(loom_rng_u32(r) % 5) - 2) * 0.5f
				 : (float)(loom_rng_normal(r) * 3.0);
		if (mode == 2 && p < 0.05)
			u[i] = NAN;
		else if (mode == 2 && p < 0.08)
			u[i] = (loom_rng_u32(r) & 1) ? INFINITY : -INFINITY;
		else if (mode == 2 && p < 0.12)
			u[i] = (float)(-90.0 - 30.0 * loom_rng_uniform(r));
	}
}

/* |a - b| in FP32 ulps (same sign, finite). */
static long ulp_diff(float a, float b)
{
	long d = (long)bits(a) - (long)bits(b);
	return d < 0 ? -d : d;
}

static void check_config(struct lt *t, const struct moe_router_config *c, int tokens, int mode,
			 bool with_bias, long *n_ulp)
{
	struct loom_rng r;
	const int e = c->num_experts, k = c->top_k;
	size_t nu = (size_t)tokens * e, nk = (size_t)tokens * k;
	std::vector<float> u(nu), bias(e), aff_ref(nu), w_ref(nk), aff(nu), w(nk);
	std::vector<int32_t> idx_ref(nk), idx(nk);
	float *d_u = NULL, *d_b = NULL, *d_aff = NULL, *d_w = NULL;
	int32_t *d_idx = NULL;

	loom_rng_init(&r, lt_seed(t) ^ (uint64_t)(e * 131 + k * 7 + mode));
	fill_logits(&r, u.data(), nu, mode);
	for (int i = 0; i < e; i++)
		bias[i] = (float)(loom_rng_normal(&r) * 0.01);
	const float *b = with_bias ? bias.data() : NULL;
	LT_CHECK(t, moe_router_forward(c, tokens, u.data(), b, idx_ref.data(), w_ref.data(),
				       aff_ref.data()) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaMalloc(&d_u, nu * 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_b, e * 4), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_aff, nu * 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_w, nk * 4), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_idx, nk * 4), "malloc"))
		goto out;
	if (!cuda_ok(t, cudaMemcpy(d_u, u.data(), nu * 4, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemcpy(d_b, bias.data(), e * 4, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemset(d_aff, 0xff, nu * 4), "poison") ||
	    !cuda_ok(t, cudaMemset(d_w, 0xff, nk * 4), "poison") ||
	    !cuda_ok(t, cudaMemset(d_idx, 0xff, nk * 4), "poison"))
		goto out;
	LT_CHECK(t, moe_cuda_router_forward(c, tokens, d_u, with_bias ? d_b : NULL, d_idx, d_w,
					    d_aff, NULL) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaGetLastError(), "launch") || !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(aff.data(), d_aff, nu * 4, cudaMemcpyDeviceToHost), "D2H") ||
	    !cuda_ok(t, cudaMemcpy(w.data(), d_w, nk * 4, cudaMemcpyDeviceToHost), "D2H") ||
	    !cuda_ok(t, cudaMemcpy(idx.data(), d_idx, nk * 4, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	for (size_t i = 0, bad = 0; i < nu && bad < 5; i++)
		if (bits(aff[i]) != bits(aff_ref[i]) && !(isnan(aff[i]) && isnan(aff_ref[i])) && ++bad)
			lt_fail(t, __FILE__, __LINE__, "E=%d mode %d affinity[%zu] (u=%a): %a vs %a", e, mode,
				i, (double)u[i], (double)aff[i], (double)aff_ref[i]);
	for (size_t i = 0, bad = 0; i < nk && bad < 5; i++) {
		if (idx[i] != idx_ref[i] && ++bad)
			lt_fail(t, __FILE__, __LINE__, "E=%d k=%d mode %d bias %d topk_idx[%zu]: %d vs %d",
				e, k, mode, with_bias, i, idx[i], idx_ref[i]);
		else if (bits(w[i]) != bits(w_ref[i]) && ++*n_ulp && ulp_diff(w[i], w_ref[i]) > 1 && ++bad)
			lt_fail(t, __FILE__, __LINE__, "E=%d mode %d weight[%zu]: %a vs %a (> 1 ulp)", e,
				mode, i, (double)w[i], (double)w_ref[i]);
	}
out:
	cudaFree(d_u);
	cudaFree(d_b);
	cudaFree(d_aff);
	cudaFree(d_w);
	cudaFree(d_idx);
}

static void test_matches_reference(struct lt *t)
{
	/* E, G, M, k, n, tokens */
	const int cfgs[][6] = { { 256, 8, 4, 8, 2, 4096 }, { 64, 1, 1, 6, 2, 2000 },
				{ 16, 4, 2, 3, 1, 777 }, { 72, 8, 3, 8, 9, 1000 },
				{ 33, 3, 3, 32, 11, 500 }, { 1, 1, 1, 1, 1, 9 },
				{ 2048, 16, 4, 32, 2, 300 }, { 160, 160, 10, 10, 1, 600 } };
	long n_ulp = 0, n_total = 0;

	if (!have_gpu(t))
		return;
	for (const auto &cf : cfgs) {
		struct moe_router_config c = moe_router_config_default(cf[0], cf[1], cf[2], cf[3]);
		c.group_score_topn = cf[4];
		c.routed_scaling_factor = 2.5f;
		for (int mode = 0; mode < 3; mode++)
			for (int with_bias = 0; with_bias < 2; with_bias++) {
				check_config(t, &c, cf[5], mode, with_bias, &n_ulp);
				n_total += (long)cf[5] * cf[3];
			}
	}
	printf("    router weights: %ld of %ld differ from the CPU by 1 ulp (bound: 1)\n", n_ulp,
	       n_total);
}

static void test_bad_args_rejected(struct lt *t)
{
	/* Checked on the host before any CUDA call: runs without a GPU. */
	struct moe_router_config c = moe_router_config_default(256, 8, 4, 8);
	float *p = (float *)16;
	int32_t *ip = (int32_t *)16;

	LT_CHECK(t, moe_cuda_router_forward(NULL, 4, p, NULL, ip, p, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_router_forward(&c, 0, p, NULL, ip, p, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, NULL, NULL, ip, p, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, p, NULL, NULL, p, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, p, NULL, ip, NULL, NULL, NULL) == -EINVAL, "");
	c.top_k = 33;
	c.topk_groups = 8;
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, p, NULL, ip, p, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, strstr(loom_err_msg(), "GPU limits") != NULL, "%s", loom_err_msg());
	c = moe_router_config_default(4096, 8, 4, 8);
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, p, NULL, ip, p, NULL, NULL) == -EINVAL, "");
	c = moe_router_config_default(10, 3, 1, 1);	/* E % G != 0 */
	LT_CHECK(t, moe_cuda_router_forward(&c, 4, p, NULL, ip, p, NULL, NULL) == -EINVAL, "");
}

static const struct lt_case cases[] = {
	LT_CASE(test_bad_args_rejected),
	LT_CASE(test_matches_reference),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

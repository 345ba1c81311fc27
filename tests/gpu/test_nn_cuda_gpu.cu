/*
 * test_nn_cuda_gpu.cu - the CUDA device of the training path
 * (workloads/nn_cuda.c, nn_device.h) layer by layer against the CPU code it
 * replaces: nn_linear_forward / nn_linear_backward with NN_FP8 (Fprop, Dgrad,
 * Wgrad) and moe_router_forward, on fresh random inputs with outputs
 * poisoned (all bytes 0xff, NaN floats / index -1) before each call.
 *
 * Tolerances: the GEMMs, calc_diff < 1e-3 (REFERENCE 6; the quantized
 * operands are the same bits on both sides, so what is left is the tensor
 * core's summation and the BF16 rounding of D, calc_diff ~ 1e-6, printed);
 * the router, indices and affinities bit for bit, weights within one FP32
 * ulp (moe_cuda.h).  Shapes: full and partial 128-tiles in every dimension,
 * K (in, out or tokens) not a multiple of 128 (zero-padded by the device).
 *
 * Without a usable GPU the GPU cases skip with the CUDA error; the case that
 * runs here checks that the constructor then fails naming that error.
 */
#include "loom/err.h"
#include "loom/moe.h"
#include "loom/nn.h"
#include "loom/nn_device.h"
#include "lt.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

/* The device, or NULL with the case skipped (the reason: the CUDA error). */
static struct nn_device *open_or_skip(struct lt *t)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess || n < 1) {
		lt_skip(t, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none");
		return NULL;
	}
	struct nn_device *d = nn_cuda_device_create(0);
	if (!d)
		lt_skip(t, "no usable GPU: %s", loom_err_msg());
	return d;
}

static double calc_diff(const float *x, const float *y, size_t n)
{
	double xy = 0, xx = 0;

	for (size_t i = 0; i < n; i++) {
		xy += (double)x[i] * y[i];
		xx += (double)x[i] * x[i] + (double)y[i] * y[i];
	}
	return xx > 0 ? 1 - 2 * xy / xx : 0;
}

static std::vector<float> randn(struct loom_rng *r, size_t n, double std)
{
	std::vector<float> v(n);

	for (auto &x : v)
		x = (float)(std * loom_rng_normal(r));
	return v;
}

static std::vector<float> poisoned(size_t n)
{
	std::vector<float> v(n);

	memset(v.data(), 0xff, n * sizeof(float));
	return v;
}

/* got vs want: calc_diff < 1e-3 and no NaN left from the poison. */
static void check_gemm(struct lt *t, const char *what, int T, int in, int out,
		       const std::vector<float> &got, const std::vector<float> &want)
{
	size_t nan = 0;

	for (float v : got)
		nan += v != v;
	double cd = calc_diff(got.data(), want.data(), got.size());
	LT_CHECK(t, nan == 0, "%s T=%d in=%d out=%d: %zu elements not written", what, T, in, out,
		 nan);
	LT_CHECK(t, cd < 1e-3, "%s T=%d in=%d out=%d: calc_diff %.3g", what, T, in, out, cd);
	printf("  %-6s T=%4d in=%4d out=%4d  calc_diff %.2e\n", what, T, in, out, cd);
}

static void test_create_names_the_cuda_error(struct lt *t)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	struct nn_device *d = nn_cuda_device_create(0);

	LT_CHECK(t, nn_cuda_built(), "libloom_workloads was built without HAVE_CUDA");
	if (e != cudaSuccess) {
		LT_CHECK(t, d == NULL, "created a device although cudaGetDeviceCount failed");
		LT_CHECK(t, strstr(loom_err_msg(), cudaGetErrorName(e)) != NULL,
			 "message does not name %s: %s", cudaGetErrorName(e), loom_err_msg());
		return;
	}
	LT_CHECK(t, d != NULL || strstr(loom_err_msg(), "sm_90a") != NULL,
		 "a GPU exists but: %s", loom_err_msg());
	if (d)
		LT_CHECK(t, !strncmp(d->desc, "cuda:", 5), "desc '%s'", d->desc);
	nn_device_destroy(d);
}

/* (T, in, out): the model's shapes, partial tiles, K = in, out or T not a
 * multiple of 128, one token. */
static const int linear_shapes[][3] = {
	{ 256, 128, 128 }, { 256, 128, 192 }, { 256, 192, 128 }, { 37, 128, 64 },
	{ 5, 64, 128 },	   { 300, 200, 72 },  { 1, 128, 128 },
};

static void test_linear_matches_cpu(struct lt *t)
{
	struct nn_device *d = open_or_skip(t);
	struct loom_rng r;

	if (!d)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (const auto &s : linear_shapes) {
		int T = s[0], in = s[1], out = s[2];
		auto x = randn(&r, (size_t)T * in, 1.0), w = randn(&r, (size_t)out * in, 0.05);
		auto dy = randn(&r, (size_t)T * out, 1e-3);
		auto y = poisoned((size_t)T * out), yc = poisoned((size_t)T * out);
		auto dx = poisoned((size_t)T * in), dxc = poisoned((size_t)T * in);
		auto dw = poisoned((size_t)out * in), dwc = poisoned((size_t)out * in);

		LT_CHECK(t, !nn_linear_forward(NN_FP8, T, in, out, x.data(), w.data(), yc.data()) &&
				    !nn_linear_backward(NN_FP8, T, in, out, x.data(), w.data(),
							dy.data(), dxc.data(), dwc.data()),
			 "cpu: %s", loom_err_msg());
		int rc = d->ops->linear_fp8_forward(d, T, in, out, x.data(), w.data(), y.data());
		LT_CHECK(t, rc == 0, "forward: %s", loom_err_msg());
		rc = d->ops->linear_fp8_backward(d, T, in, out, x.data(), w.data(), dy.data(),
						 dx.data(), dw.data());
		LT_CHECK(t, rc == 0, "backward: %s", loom_err_msg());
		check_gemm(t, "fprop", T, in, out, y, yc);
		check_gemm(t, "dgrad", T, in, out, dx, dxc);
		check_gemm(t, "wgrad", T, in, out, dw, dwc);
	}
	nn_device_destroy(d);
}

static void test_linear_bad_args(struct lt *t)
{
	struct nn_device *d = open_or_skip(t);
	float v[128] = { 0 };

	if (!d)
		return;
	LT_CHECK(t, d->ops->linear_fp8_forward(d, 0, 128, 128, v, v, v) == -EINVAL, "T = 0");
	LT_CHECK(t, d->ops->linear_fp8_forward(d, 1, 128, 1, NULL, v, v) == -EINVAL, "NULL x");
	LT_CHECK(t, d->ops->linear_fp8_backward(d, 1, 128, 1, NULL, v, v, NULL, v) == -EINVAL,
		 "dw without x");
	nn_device_destroy(d);
}

static bool within_ulp(float a, float b)
{
	uint32_t ua, ub;

	memcpy(&ua, &a, 4);
	memcpy(&ub, &b, 4);
	return ua == ub || ua + 1 == ub || ub + 1 == ua;
}

/* (E, groups, topk_groups, k) */
static const int router_cfgs[][4] = { { 4, 2, 1, 2 }, { 8, 4, 2, 2 }, { 64, 8, 4, 8 } };

static void test_router_matches_cpu(struct lt *t)
{
	struct nn_device *d = open_or_skip(t);
	struct loom_rng r;
	const int T = 300;

	if (!d)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (const auto &c : router_cfgs) {
		struct moe_router_config cfg = moe_router_config_default(c[0], c[1], c[2], c[3]);
		size_t E = (size_t)c[0], k = (size_t)c[3];
		auto logits = randn(&r, T * E, 1.0), bias = randn(&r, E, 0.1);
		std::vector<int32_t> idx(T * k, -1), idxc(T * k, -1);
		auto w = poisoned(T * k), wc = poisoned(T * k), aff = poisoned(T * E),
		     affc = poisoned(T * E);
		int rc = moe_router_forward(&cfg, T, logits.data(), bias.data(), idxc.data(),
					    wc.data(), affc.data());
		LT_CHECK(t, rc == 0, "cpu: %s", loom_err_msg());
		rc = d->ops->router_forward(d, &cfg, T, logits.data(), bias.data(), idx.data(),
					    w.data(), aff.data());
		LT_CHECK(t, rc == 0, "E=%zu: %s", E, loom_err_msg());
		LT_CHECK(t, idx == idxc, "E=%zu: topk_idx differs", E);
		LT_CHECK(t, !memcmp(aff.data(), affc.data(), T * E * sizeof(float)),
			 "E=%zu: affinity differs", E);
		size_t bad = 0;
		for (size_t i = 0; i < T * k; i++)
			bad += !within_ulp(w[i], wc[i]);
		LT_CHECK(t, bad == 0, "E=%zu: %zu weights beyond one ulp", E, bad);
	}
	float inf_bias[4] = { 0, INFINITY, 0, 0 }, lg[4] = { 0 };
	struct moe_router_config cfg = moe_router_config_default(4, 2, 1, 2);
	int32_t ix[2];
	float wt[2];
	LT_CHECK(t, d->ops->router_forward(d, &cfg, 1, lg, inf_bias, ix, wt, NULL) == -EINVAL,
		 "a non-finite bias is accepted");
	nn_device_destroy(d);
}

static const struct lt_case cases[] = {
	LT_CASE(test_create_names_the_cuda_error),
	LT_CASE(test_linear_matches_cpu),
	LT_CASE(test_linear_bad_args),
	LT_CASE(test_router_matches_cpu),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

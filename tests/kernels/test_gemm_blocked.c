/*
 * test_gemm_blocked.c - the blocked FP32 GEMM (kernels/gemm_blocked.c)
 * against an FP64 reference: every transpose combination, shapes that end
 * mid-tile and cross every cache block (MR 8, NR 32, KC 384, MC 192,
 * NC 2048), alpha / beta semantics, and bad input.
 *
 * Tolerance: the kernel sums K products in FP32 with FMA, in an order of its
 * own, so |C - C_ref| <= gamma_K * sum_k |alpha a b| + |beta c| * 2^-24 with
 * gamma_K ~= K 2^-24 (the classic bound for recursive summation).  We allow
 * twice that, plus 1e-30 for all-zero rows.  The bound is loose for random
 * data, but an indexing or packing bug gives O(1) errors and fails it.
 */
#include "lt.h"

#include "loom/err.h"
#include "loom/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* op(A) (M, K) element (i, p), op(B) (K, N) element (p, j), as gemm.h lays them out. */
static float op_a(const float *a, int ta, int m, int k, int i, int p)
{
	return ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
}

static float op_b(const float *b, int tb, int n, int k, int p, int j)
{
	return tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
}

static void fill(float *v, size_t len, struct loom_rng *r)
{
	for (size_t i = 0; i < len; i++)
		v[i] = (float)(2.0 * loom_rng_uniform(r) - 1.0);
}

/* One product checked element by element against FP64, with the bound above. */
static void check_one(struct lt *t, int ta, int tb, int m, int n, int k, float alpha, float beta)
{
	struct loom_rng r;
	float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
	float *c = malloc(sizeof(float) * m * n), *c0 = malloc(sizeof(float) * m * n);
	int bad = 0;

	loom_rng_init(&r, lt_seed(t) ^ ((uint64_t)m << 40 ^ (uint64_t)n << 20 ^ (uint64_t)k));
	fill(a, (size_t)m * k, &r);
	fill(b, (size_t)n * k, &r);
	fill(c0, (size_t)m * n, &r);
	memcpy(c, c0, sizeof(float) * m * n);
	LT_CHECK(t, gemm_f32_blocked(ta, tb, m, n, k, alpha, a, b, beta, c) == 0, "%s",
		 loom_err_msg());
	for (int i = 0; i < m && bad < 10; i++)
		for (int j = 0; j < n && bad < 10; j++) {
			double s = 0, sabs = 0, want, tol;

			for (int p = 0; p < k; p++) {
				double v = (double)op_a(a, ta, m, k, i, p) * op_b(b, tb, n, k, p, j);

				s += v;
				sabs += fabs(v);
			}
			want = alpha * s + (double)beta * c0[(size_t)i * n + j];
			tol = 2.0 * (k + 2) * 0x1p-24 * (fabs(alpha) * sabs +
							fabs(beta * c0[(size_t)i * n + j])) + 1e-30;
			if (fabs(c[(size_t)i * n + j] - want) > tol) {
				bad++;
				lt_fail(t, __FILE__, __LINE__,
					"ta=%d tb=%d %dx%dx%d C[%d,%d] = %.9g, want %.9g (tol %.3g)",
					ta, tb, m, n, k, i, j, c[(size_t)i * n + j], want, tol);
			}
		}
	free(a), free(b), free(c), free(c0);
}

static void test_transposes_small(struct lt *t)
{
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			check_one(t, ta, tb, 1, 1, 1, 1.0f, 0.0f);
			check_one(t, ta, tb, 7, 33, 5, 1.0f, 0.0f);
			check_one(t, ta, tb, 8, 32, 384, 1.0f, 0.0f); /* exactly one tile, one KC */
			check_one(t, ta, tb, 37, 45, 129, 1.5f, 0.5f);
		}
}

/* Past MC (192), KC (384) and NC (2048) in one call, with ragged edges. */
static void test_crosses_cache_blocks(struct lt *t)
{
	check_one(t, 0, 1, 201, 70, 800, 1.0f, 0.0f);
	check_one(t, 1, 0, 9, 2081, 385, -0.5f, 2.0f);
}

static void test_beta_zero_ignores_c(struct lt *t)
{
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 0, 0, 1 }, c[4];

	for (int i = 0; i < 4; i++)
		c[i] = NAN; /* BLAS: with beta = 0, C is written, never read */
	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, 2, 2, 1.0f, a, b, 0.0f, c) == 0, "%s",
		 loom_err_msg());
	for (int i = 0; i < 4; i++)
		LT_CHECK(t, c[i] == a[i], "c[%d] = %g, want %g", i, c[i], a[i]);
}

static void test_alpha_zero_scales_c(struct lt *t)
{
	float a[1] = { NAN }, b[1] = { 1 }, c[1] = { 3 };

	/* alpha = 0: C = beta C without touching the product (hand-computed: 3 * 2). */
	LT_CHECK(t, gemm_f32_blocked(0, 0, 1, 1, 1, 0.0f, a, b, 2.0f, c) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, c[0] == 6.0f, "c = %g, want 6", c[0]);
}

static void test_bad_input(struct lt *t)
{
	float x[4] = { 0 };

	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, 2, 1, 1, NULL, x, 0, x) == -EINVAL, "NULL a");
	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, 2, 1, 1, x, NULL, 0, x) == -EINVAL, "NULL b");
	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, 2, 1, 1, x, x, 0, NULL) == -EINVAL, "NULL c");
	LT_CHECK(t, gemm_f32_blocked(0, 0, 0, 2, 1, 1, x, x, 0, x) == -EINVAL, "m = 0");
	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, -1, 1, 1, x, x, 0, x) == -EINVAL, "n < 0");
	LT_CHECK(t, gemm_f32_blocked(0, 0, 2, 2, 0, 1, x, x, 0, x) == -EINVAL, "k = 0");
	LT_CHECK(t, strstr(loom_err_msg(), "gemm_f32_blocked") != NULL, "message: %s",
		 loom_err_msg());
}

static const struct lt_case cases[] = {
	LT_CASE(test_transposes_small),
	LT_CASE(test_crosses_cache_blocks),
	LT_CASE(test_beta_zero_ignores_c),
	LT_CASE(test_alpha_zero_scales_c),
	LT_CASE(test_bad_input),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

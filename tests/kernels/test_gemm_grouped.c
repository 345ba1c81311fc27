/*
 * test_gemm_grouped.c - grouped MoE GEMMs (kernels/gemm_grouped.c): the
 * contiguous and masked layouts must equal a dense gemm_fp8_nt per expert,
 * run here on copies of that expert's rows, bit for bit (the same model on
 * the same rows has no reason to differ); padding rows are zero, masked rows
 * past each group's count keep their poison; bad layouts are -EINVAL with
 * the output untouched.
 */
#include "lt.h"

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/gemm.h"
#include "loom/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { G = 3, N = 150, K = 256, KBS = K / 128, NBS = (N + 127) / 128 };

/* Experts' weights (G, N, K) and scales (G, NB, KB). */
struct experts {
	uint8_t b[G * N * K];
	float sb[G * NBS * KBS];
};

static void fill_normal(float *x, size_t n, struct loom_rng *r)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)loom_rng_normal(r);
}

static void experts_init(struct experts *e, struct loom_rng *r)
{
	float *w = malloc(sizeof(float) * N * K);

	for (int g = 0; g < G; g++) {
		fill_normal(w, (size_t)N * K, r);
		quant_weight_128x128(e->b + (size_t)g * N * K, e->sb + g * NBS * KBS, w, N, K,
				     QUANT_SCALE_F32);
	}
	free(w);
}

/* Quantized activations (rows, K) with scales (rows, KB). */
static void acts_init(uint8_t *a, float *sa, int rows, struct loom_rng *r)
{
	float *x = malloc(sizeof(float) * rows * K);

	fill_normal(x, (size_t)rows * K, r);
	quant_act_1x128(a, sa, x, rows, K, QUANT_SCALE_F32);
	free(x);
}

/* Dense reference for rows of A against expert g: D (rows, N) as FP32 bits
 * or BF16 (widened to uint32 so both compare the same way). */
static void dense(struct lt *t, const struct experts *e, int g, const uint8_t *a,
		  const float *sa, int rows, struct gemm_accum ac, bool bf16, uint32_t *out)
{
	float *d = malloc(sizeof(float) * rows * N);
	uint16_t *d16 = malloc(sizeof(uint16_t) * rows * N);
	struct gemm_fp8_args args = { rows, N, K, a, sa, e->b + (size_t)g * N * K,
				      e->sb + g * NBS * KBS, bf16 ? NULL : d, bf16 ? d16 : NULL, ac };

	LT_CHECK(t, gemm_fp8_nt(&args) == 0, "dense: %s", loom_err_msg());
	for (int i = 0; i < rows * N; i++) {
		if (bf16)
			out[i] = d16[i];
		else
			memcpy(&out[i], &d[i], sizeof(float));
	}
	free(d), free(d16);
}

static uint32_t out_bits(const float *d, const uint16_t *d16, size_t i)
{
	uint32_t u;

	if (d16)
		return d16[i];
	memcpy(&u, &d[i], sizeof(u));
	return u;
}

static const struct gemm_accum models[] = {
	GEMM_ACCUM_DEFAULT_FP32,
	GEMM_ACCUM_DEFAULT_HOPPER,
	{ GEMM_ACCUM_HOPPER, 13, 0 },
	{ GEMM_ACCUM_FAST, 0, 0 },
};

/*
 * Contiguous: expert 0 has 200 rows (padded to 256), expert 1 none, expert
 * 2 70 rows (padded to 128): M = 384.  Poison D with NaN first.
 */
static void contiguous_case(struct lt *t, struct gemm_accum ac, bool bf16)
{
	enum { M = 384 };
	static const int seg_start[G] = { 0, 256, 256 }, seg_rows[G] = { 200, 0, 70 };
	struct experts *e = malloc(sizeof(*e));
	uint8_t *a = malloc(M * K);
	float *sa = malloc(sizeof(float) * M * KBS), *d = malloc(sizeof(float) * M * N);
	uint16_t *d16 = malloc(sizeof(uint16_t) * M * N);
	uint32_t *want = malloc(sizeof(uint32_t) * M * N);
	int32_t expert_of_row[M];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	experts_init(e, &r);
	acts_init(a, sa, M, &r);
	for (int i = 0; i < M; i++)
		expert_of_row[i] = -1;
	for (int g = 0; g < G; g++)
		for (int i = 0; i < seg_rows[g]; i++)
			expert_of_row[seg_start[g] + i] = g;
	for (int i = 0; i < M * N; i++)
		d[i] = NAN, d16[i] = BF16_NAN;

	struct gemm_fp8_args args = { M, N, K, a, sa, e->b, e->sb, bf16 ? NULL : d,
				      bf16 ? d16 : NULL, ac };
	LT_CHECK(t, gemm_fp8_grouped_contiguous(&args, G, expert_of_row) == 0, "%s",
		 loom_err_msg());
	for (int i = 0; i < M * N; i++)
		want[i] = 0; /* padding rows: +0 in both formats */
	for (int g = 0; g < G; g++) {
		int r0 = seg_start[g];

		if (seg_rows[g])
			dense(t, e, g, a + (size_t)r0 * K, sa + r0 * KBS, seg_rows[g], ac, bf16,
			      want + (size_t)r0 * N);
	}
	for (int i = 0; i < M * N; i++)
		LT_CHECK(t, out_bits(d, bf16 ? d16 : NULL, i) == want[i],
			 "model %d bf16 %d: row %d (expert %d) col %d: %#x, dense %#x", (int)ac.kind,
			 bf16, i / N, (int)expert_of_row[i / N], i % N, out_bits(d, bf16 ? d16 : NULL, i),
			 want[i]);
	free(e), free(a), free(sa), free(d), free(d16), free(want);
}

static void test_contiguous_equals_dense(struct lt *t)
{
	for (size_t v = 0; v < LT_N(models); v++)
		contiguous_case(t, models[v], false);
	contiguous_case(t, GEMM_ACCUM_DEFAULT_FP32, true);
}

/* Masked: max_m = 40, counts {40, 0, 17}; rows past a count keep poison. */
static void masked_case(struct lt *t, struct gemm_accum ac, bool bf16)
{
	enum { MAXM = 40, M = G * MAXM };
	static const int32_t counts[G] = { 40, 0, 17 };
	static const float poison = -12345.5f;
	struct experts *e = malloc(sizeof(*e));
	uint8_t *a = malloc(M * K);
	float *sa = malloc(sizeof(float) * M * KBS), *d = malloc(sizeof(float) * M * N);
	uint16_t *d16 = malloc(sizeof(uint16_t) * M * N);
	uint32_t *want = malloc(sizeof(uint32_t) * M * N);
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	experts_init(e, &r);
	acts_init(a, sa, M, &r);
	for (int i = 0; i < M * N; i++)
		d[i] = poison, d16[i] = bf16_from_f32(poison);
	for (int i = 0; i < M * N; i++)
		want[i] = out_bits(d, bf16 ? d16 : NULL, i);

	struct gemm_fp8_args args = { 0, N, K, a, sa, e->b, e->sb, bf16 ? NULL : d,
				      bf16 ? d16 : NULL, ac }; /* m unused */
	LT_CHECK(t, gemm_fp8_grouped_masked(&args, G, MAXM, counts) == 0, "%s", loom_err_msg());
	for (int g = 0; g < G; g++) {
		int r0 = g * MAXM;

		if (counts[g])
			dense(t, e, g, a + (size_t)r0 * K, sa + r0 * KBS, counts[g], ac, bf16,
			      want + (size_t)r0 * N);
	}
	for (int i = 0; i < M * N; i++)
		LT_CHECK(t, out_bits(d, bf16 ? d16 : NULL, i) == want[i],
			 "model %d bf16 %d: group %d row %d col %d: %#x, want %#x", (int)ac.kind, bf16,
			 i / N / MAXM, i / N % MAXM, i % N, out_bits(d, bf16 ? d16 : NULL, i), want[i]);
	free(e), free(a), free(sa), free(d), free(d16), free(want);
}

static void test_masked_equals_dense(struct lt *t)
{
	for (size_t v = 0; v < LT_N(models); v++)
		masked_case(t, models[v], false);
	masked_case(t, GEMM_ACCUM_DEFAULT_HOPPER, true);
}

/* ---- bad input --------------------------------------------------------- */

static void expect_einval(struct lt *t, int rc, const float *d, size_t n, const char *what)
{
	bool untouched = true;

	for (size_t i = 0; i < n; i++)
		untouched &= d[i] == 7.0f;
	LT_CHECK(t, rc == -EINVAL && loom_err_msg()[0], "%s: rc %d msg '%s'", what, rc,
		 loom_err_msg());
	LT_CHECK(t, untouched, "%s: output written", what);
}

static void test_contiguous_bad_input(struct lt *t)
{
	enum { M = 256 };
	static struct experts e;
	static uint8_t a[M * K];
	static float sa[M * KBS], d[M * N];
	int32_t rows[M];
	struct gemm_fp8_args ok = { M, N, K, a, sa, e.b, e.sb, d, NULL, GEMM_ACCUM_DEFAULT_FP32 },
			     g;

	for (int i = 0; i < M * N; i++)
		d[i] = 7.0f;
	for (int i = 0; i < M; i++)
		rows[i] = i < 128 ? -1 : 0; /* padding first: nothing may be zeroed */
	expect_einval(t, gemm_fp8_grouped_contiguous(NULL, G, rows), d, M * N, "NULL args");
	expect_einval(t, gemm_fp8_grouped_contiguous(&ok, G, NULL), d, M * N, "NULL rows");
	expect_einval(t, gemm_fp8_grouped_contiguous(&ok, 0, rows), d, M * N, "G = 0");
	g = ok, g.m = 200;
	expect_einval(t, gemm_fp8_grouped_contiguous(&g, G, rows), d, M * N, "m = 200");
	g = ok, g.k = 100;
	expect_einval(t, gemm_fp8_grouped_contiguous(&g, G, rows), d, M * N, "k = 100");
	g = ok, g.b = NULL;
	expect_einval(t, gemm_fp8_grouped_contiguous(&g, G, rows), d, M * N, "NULL b");
	g = ok, g.accum.frac_bits = 99, g.accum.kind = GEMM_ACCUM_HOPPER;
	expect_einval(t, gemm_fp8_grouped_contiguous(&g, G, rows), d, M * N, "F = 99");
	rows[200] = G;
	expect_einval(t, gemm_fp8_grouped_contiguous(&ok, G, rows), d, M * N, "expert = G");
	rows[200] = -2;
	expect_einval(t, gemm_fp8_grouped_contiguous(&ok, G, rows), d, M * N, "expert = -2");
	rows[200] = 1; /* experts 0 and 1 in one 128-row block */
	expect_einval(t, gemm_fp8_grouped_contiguous(&ok, G, rows), d, M * N, "mixed block");
}

static void test_masked_bad_input(struct lt *t)
{
	enum { MAXM = 8, M = G * MAXM };
	static struct experts e;
	static uint8_t a[M * K];
	static float sa[M * KBS], d[M * N];
	int32_t counts[G] = { 8, 0, 3 };
	struct gemm_fp8_args ok = { 0, N, K, a, sa, e.b, e.sb, d, NULL, GEMM_ACCUM_DEFAULT_FP32 },
			     g;

	for (int i = 0; i < M * N; i++)
		d[i] = 7.0f;
	expect_einval(t, gemm_fp8_grouped_masked(NULL, G, MAXM, counts), d, M * N, "NULL args");
	expect_einval(t, gemm_fp8_grouped_masked(&ok, G, MAXM, NULL), d, M * N, "NULL counts");
	expect_einval(t, gemm_fp8_grouped_masked(&ok, 0, MAXM, counts), d, M * N, "G = 0");
	expect_einval(t, gemm_fp8_grouped_masked(&ok, G, 0, counts), d, M * N, "max_m = 0");
	g = ok, g.k = 384 + 1;
	expect_einval(t, gemm_fp8_grouped_masked(&g, G, MAXM, counts), d, M * N, "k = 385");
	g = ok, g.d_f32 = NULL;
	expect_einval(t, gemm_fp8_grouped_masked(&g, G, MAXM, counts), d, M * N, "no output");
	counts[2] = MAXM + 1;
	expect_einval(t, gemm_fp8_grouped_masked(&ok, G, MAXM, counts), d, M * N, "count > max_m");
	counts[2] = -1;
	expect_einval(t, gemm_fp8_grouped_masked(&ok, G, MAXM, counts), d, M * N, "count < 0");
}

static const struct lt_case cases[] = {
	LT_CASE(test_contiguous_equals_dense),
	LT_CASE(test_masked_equals_dense),
	LT_CASE(test_contiguous_bad_input),
	LT_CASE(test_masked_bad_input),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

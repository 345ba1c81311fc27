/*
 * test_permute.c - MoE token permutation (kernels/permute.c): the plan
 * against a brute-force expert-major listing, dispatch / gather / combine
 * against direct FP64 computations, the DeepGEMM contiguous padding, the
 * combine backward against its definition, and bad input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/moe.h"
#include "lt.h"

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

/* Random routing: k distinct experts per token; with p_unused > 0 some
 * slots are -1 (unused). */
static void random_topk(struct loom_rng *r, int n_tok, int k, int e, double p_unused, int32_t *idx)
{
	for (int t = 0; t < n_tok; t++)
		for (int j = 0; j < k; j++) {
			int32_t x;
			bool dup;
			do {
				x = (int32_t)(loom_rng_u32(r) % (uint32_t)e);
				dup = false;
				for (int q = 0; q < j; q++)
					dup = dup || idx[t * k + q] == x;
			} while (dup);
			idx[t * k + j] = x;
		}
	for (int i = 0; i < n_tok * k; i++)
		if (loom_rng_uniform(r) < p_unused)
			idx[i] = -1;
}

static void random_f32(struct loom_rng *r, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)loom_rng_normal(r);
}

/*
 * Check a plan against a brute-force listing: for each expert in order, the
 * (token, slot) sources routed to it in token order, then padding up to a
 * multiple of align.  This fixes every field of the plan.
 */
static void check_plan(struct lt *t, const struct moe_permute_plan *p, int n_tok, int k, int e,
		       const int32_t *idx, int align)
{
	int32_t row = 0;

	LT_CHECK(t, p->num_tokens == n_tok && p->top_k == k && p->num_experts == e &&
			    p->align == align, "plan header");
	for (int x = 0; x < e; x++) {
		int32_t count = 0;
		LT_CHECK(t, p->expert_offset[x] == row, "expert %d: offset %d, want %d", x,
			 (int)p->expert_offset[x], (int)row);
		bool aligned = row % align == 0;
		LT_CHECK(t, aligned, "expert %d segment starts at %d", x, (int)row);
		for (int s = 0; s < n_tok * k; s++) {
			if (idx[s] != x)
				continue;
			LT_CHECK(t, p->src_of_row[row] == s && p->expert_of_row[row] == x &&
					    p->row_of_src[s] == row,
				 "expert %d row %d: src %d (want %d), expert %d", x, (int)row,
				 (int)p->src_of_row[row], s, (int)p->expert_of_row[row]);
			row++, count++;
		}
		LT_CHECK(t, p->expert_count[x] == count, "expert %d: count %d, recount %d", x,
			 (int)p->expert_count[x], (int)count);
		for (; row % align != 0; row++)
			LT_CHECK(t, p->expert_of_row[row] == -1 && p->src_of_row[row] == -1,
				 "padding row %d: expert %d src %d", (int)row,
				 (int)p->expert_of_row[row], (int)p->src_of_row[row]);
		if (t->failures > 10)
			return;
	}
	LT_CHECK(t, p->num_rows == row && p->expert_offset[e] == row, "num_rows %d, want %d",
		 p->num_rows, (int)row);
	for (int s = 0; s < n_tok * k; s++)
		if (idx[s] < 0)
			LT_CHECK(t, p->row_of_src[s] == -1, "unused slot %d has row %d", s,
				 (int)p->row_of_src[s]);
}

static void plan_case(struct lt *t, int n_tok, int k, int e, int align, double p_unused)
{
	struct loom_rng r;
	int32_t *idx = xcalloc((size_t)n_tok * k, sizeof(int32_t));

	loom_rng_init(&r, lt_seed(t) + (uint64_t)align);
	random_topk(&r, n_tok, k, e, p_unused, idx);
	struct moe_permute_plan *p = moe_permute_plan_create(n_tok, k, e, idx, align);
	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (p)
		check_plan(t, p, n_tok, k, e, idx, align);
	moe_permute_plan_destroy(p);
	free(idx);
}

static void test_plan_packed(struct lt *t) { plan_case(t, 300, 8, 32, 1, 0.0); }
static void test_plan_aligned_128(struct lt *t) { plan_case(t, 300, 8, 32, 128, 0.0); }
static void test_plan_aligned_odd(struct lt *t) { plan_case(t, 97, 3, 7, 5, 0.0); }
static void test_plan_unused_slots(struct lt *t) { plan_case(t, 200, 4, 16, 128, 0.3); }

/* A hand case: T = 3, k = 2, E = 3.
 *   token 0 -> experts 2, 0;  token 1 -> 0, 1;  token 2 -> 2, -1 (unused)
 * Expert 0: (t0,s1)=1, (t1,s0)=2; expert 1: (t1,s1)=3; expert 2: (t0,s0)=0, (t2,s0)=4.
 * With align 4: rows 0-1 expert 0, 2-3 pad, 4 expert 1, 5-7 pad, 8-9 expert 2, 10-11 pad. */
static void test_plan_hand(struct lt *t)
{
	const int32_t idx[6] = { 2, 0, 0, 1, 2, -1 };
	const int32_t want_src[12] = { 1, 2, -1, -1, 3, -1, -1, -1, 0, 4, -1, -1 };
	const int32_t want_exp[12] = { 0, 0, -1, -1, 1, -1, -1, -1, 2, 2, -1, -1 };
	const int32_t want_row[6] = { 8, 0, 1, 4, 9, -1 };
	struct moe_permute_plan *p = moe_permute_plan_create(3, 2, 3, idx, 4);

	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (!p)
		return;
	LT_CHECK(t, p->num_rows == 12, "num_rows %d", p->num_rows);
	for (int i = 0; i < 12 && p->num_rows == 12; i++)
		LT_CHECK(t, p->src_of_row[i] == want_src[i] && p->expert_of_row[i] == want_exp[i],
			 "row %d: src %d expert %d", i, (int)p->src_of_row[i],
			 (int)p->expert_of_row[i]);
	for (int i = 0; i < 6; i++)
		LT_CHECK(t, p->row_of_src[i] == want_row[i], "src %d: row %d", i,
			 (int)p->row_of_src[i]);
	moe_permute_plan_destroy(p);
}

/* ---- moving rows ---------------------------------------------------------- */

/* k = 1, weight 1 (NULL and explicit): combine(permute(x)) == x exactly
 * (0 + 1 * x is exact). */
static void test_identity_k1(struct lt *t)
{
	const int n_tok = 257, e = 10, h = 64;
	struct loom_rng r;
	int32_t idx[257];
	float *x = xcalloc((size_t)n_tok * h, sizeof(float)), ones[257];
	float *out = xcalloc((size_t)n_tok * h, sizeof(float));

	loom_rng_init(&r, lt_seed(t));
	random_topk(&r, n_tok, 1, e, 0.0, idx);
	random_f32(&r, x, (size_t)n_tok * h);
	for (int i = 0; i < n_tok; i++)
		ones[i] = 1.0f;
	for (int align = 1; align <= 128; align *= 128) {
		struct moe_permute_plan *p = moe_permute_plan_create(n_tok, 1, e, idx, align);
		LT_CHECK(t, p != NULL, "%s", loom_err_msg());
		if (!p)
			break;
		float *y = xcalloc((size_t)p->num_rows * h, sizeof(float));
		LT_CHECK(t, moe_permute(p, x, sizeof(float) * h, y) == 0, "%s", loom_err_msg());
		for (int pass = 0; pass < 2; pass++) {
			memset(out, 0xff, sizeof(float) * (size_t)n_tok * h); /* NaN poison */
			LT_CHECK(t, moe_combine_f32(p, y, h, pass ? ones : NULL, out) == 0, "%s",
				 loom_err_msg());
			lt_close_f32(t, "combine(permute(x))", out, x, (size_t)n_tok * h, 0, 0);
		}
		moe_permute_plan_destroy(p);
		free(y);
	}
	free(x), free(out);
}

/* Byte rows: e4m3 tokens (T, 256) and their 1x128 scales (T, 2) go through
 * the same plan as two row types; an odd row size (7 bytes) too.  unpermute
 * of permute gives every token once per used slot, zeros for unused ones,
 * and padding rows are zero. */
static void test_byte_rows_round_trip(struct lt *t)
{
	const int n_tok = 150, k = 4, e = 12;
	const size_t sizes[3] = { 256, 2 * sizeof(float), 7 };
	struct loom_rng r;
	int32_t idx[150 * 4];

	loom_rng_init(&r, lt_seed(t));
	random_topk(&r, n_tok, k, e, 0.1, idx);
	struct moe_permute_plan *p = moe_permute_plan_create(n_tok, k, e, idx, 128);
	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	for (int si = 0; p && si < 3; si++) {
		size_t rb = sizes[si];
		unsigned char *x = xcalloc((size_t)n_tok, rb), *zero = xcalloc(1, rb);
		unsigned char *y = xcalloc((size_t)p->num_rows, rb), *back = xcalloc((size_t)n_tok * k, rb);
		for (size_t i = 0; i < (size_t)n_tok * rb; i++)
			x[i] = (unsigned char)loom_rng_u32(&r);
		memset(y, 0xa5, (size_t)p->num_rows * rb);
		memset(back, 0xa5, (size_t)n_tok * k * rb);
		LT_CHECK(t, moe_permute(p, x, rb, y) == 0, "%s", loom_err_msg());
		LT_CHECK(t, moe_unpermute(p, y, rb, back) == 0, "%s", loom_err_msg());
		for (int s = 0; s < n_tok * k; s++) {
			const unsigned char *want = idx[s] < 0 ? zero : x + (size_t)(s / k) * rb;
			LT_CHECK(t, memcmp(back + (size_t)s * rb, want, rb) == 0,
				 "row size %zu: slot %d of token %d", rb, s % k, s / k);
		}
		for (int row = 0; row < p->num_rows; row++) {
			const unsigned char *want = p->expert_of_row[row] < 0
				? zero : x + (size_t)(p->src_of_row[row] / k) * rb;
			LT_CHECK(t, memcmp(y + (size_t)row * rb, want, rb) == 0,
				 "row size %zu: permuted row %d", rb, row);
		}
		free(x), free(zero), free(y), free(back);
	}
	moe_permute_plan_destroy(p);
}

/*
 * End to end: each "expert" e multiplies its rows by (e + 1); padding rows
 * of its output are NaN, which combine must never read.  The result must be
 * out[t] = sum_j w_j (idx_j + 1) x[t], computed here in FP64 from topk_idx
 * alone.  FP32 combine of k products: each product and each add rounds
 * (relative 2^-24), so |err| <= (k + 1) 2^-24 sum_j |w_j y_j|; bound 2x that.
 */
static void test_combine_weighted(struct lt *t)
{
	const int n_tok = 200, k = 8, e = 64, h = 96;
	struct loom_rng r;
	int32_t *idx = xcalloc((size_t)n_tok * k, sizeof(int32_t));
	float *x = xcalloc((size_t)n_tok * h, sizeof(float)), *w = xcalloc((size_t)n_tok * k, sizeof(float));
	float *out = xcalloc((size_t)n_tok * h, sizeof(float));

	loom_rng_init(&r, lt_seed(t));
	random_topk(&r, n_tok, k, e, 0.05, idx);
	random_f32(&r, x, (size_t)n_tok * h);
	for (int i = 0; i < n_tok * k; i++)
		w[i] = (float)loom_rng_uniform(&r);
	struct moe_permute_plan *p = moe_permute_plan_create(n_tok, k, e, idx, 128);
	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (!p)
		goto out;
	float *y = xcalloc((size_t)p->num_rows * h, sizeof(float));
	LT_CHECK(t, moe_permute(p, x, sizeof(float) * h, y) == 0, "%s", loom_err_msg());
	for (int row = 0; row < p->num_rows; row++)
		for (int c = 0; c < h; c++)
			y[(size_t)row * h + c] = p->expert_of_row[row] < 0
				? NAN : (float)(p->expert_of_row[row] + 1) * y[(size_t)row * h + c];
	LT_CHECK(t, moe_combine_f32(p, y, h, w, out) == 0, "%s", loom_err_msg());
	for (int tok = 0; tok < n_tok; tok++)
		for (int c = 0; c < h; c++) {
			double want = 0, mag = 0, xv = x[(size_t)tok * h + c];
			for (int j = 0; j < k; j++) {
				int32_t ex = idx[tok * k + j];
				if (ex < 0)
					continue;
				want += (double)w[tok * k + j] * (float)((ex + 1) * xv);
				mag += fabs((double)w[tok * k + j] * (ex + 1) * xv);
			}
			double got = out[(size_t)tok * h + c];
			LT_CHECK(t, fabs(got - want) <= 2.0 * (k + 1) * 0x1p-24 * mag,
				 "token %d col %d: %.9g, want %.9g", tok, c, got, want);
			if (t->failures > 10)
				break;
		}
	free(y);
out:
	moe_permute_plan_destroy(p);
	free(idx), free(x), free(w), free(out);
}

/* Backward of combine against its definition, in FP64:
 * grad_y[row] = w * grad_out[token] is one FP32 product (exact up to its
 * rounding, 2^-24 relative); grad_weight is an FP32 dot of length H:
 * |err| <= H 2^-24 sum |g y|, bound 2x. */
static void test_combine_backward(struct lt *t)
{
	const int n_tok = 60, k = 4, e = 8, h = 40;
	struct loom_rng r;
	int32_t idx[60 * 4];
	float w[60 * 4], gw[60 * 4];
	float *g = xcalloc((size_t)n_tok * h, sizeof(float));

	loom_rng_init(&r, lt_seed(t));
	random_topk(&r, n_tok, k, e, 0.1, idx);
	random_f32(&r, g, (size_t)n_tok * h);
	for (int i = 0; i < n_tok * k; i++)
		w[i] = (float)loom_rng_uniform(&r);
	struct moe_permute_plan *p = moe_permute_plan_create(n_tok, k, e, idx, 16);
	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (!p)
		goto out;
	float *y = xcalloc((size_t)p->num_rows * h, sizeof(float));
	float *gy = xcalloc((size_t)p->num_rows * h, sizeof(float));
	random_f32(&r, y, (size_t)p->num_rows * h);
	memset(gy, 0xff, sizeof(float) * (size_t)p->num_rows * h);
	LT_CHECK(t, moe_combine_backward_f32(p, y, h, w, g, gy, gw) == 0, "%s", loom_err_msg());
	for (int row = 0; row < p->num_rows; row++) {
		int32_t s = p->src_of_row[row];
		for (int c = 0; c < h; c++) {
			double want = s < 0 ? 0.0 : (double)w[s] * g[(size_t)(s / k) * h + c];
			double got = gy[(size_t)row * h + c];
			LT_CHECK(t, fabs(got - want) <= 0x1p-24 * fabs(want), "grad_y row %d col %d: %g want %g",
				 row, c, got, want);
		}
	}
	for (int s = 0; s < n_tok * k; s++) {
		double want = 0, mag = 0;
		int32_t row = -1;
		for (int q = 0; q < p->num_rows; q++) /* find the row by search, not row_of_src */
			if (p->src_of_row[q] == s)
				row = q;
		for (int c = 0; row >= 0 && c < h; c++) {
			double v = (double)g[(size_t)(s / k) * h + c] * y[(size_t)row * h + c];
			want += v, mag += fabs(v);
		}
		LT_CHECK(t, (idx[s] < 0) == (row < 0), "slot %d: row %d for expert %d", s, (int)row,
			 (int)idx[s]);
		LT_CHECK(t, fabs(gw[s] - want) <= 2.0 * h * 0x1p-24 * mag, "grad_w %d: %g want %g", s,
			 (double)gw[s], want);
	}
	free(y), free(gy);
out:
	moe_permute_plan_destroy(p);
	free(g);
}

/* Every slot unused: a plan with no rows; combine gives zeros. */
static void test_all_unused(struct lt *t)
{
	int32_t idx[6] = { -1, -1, -1, -1, -1, -1 };
	float x[3 * 4] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, out[12], dummy[1];
	struct moe_permute_plan *p = moe_permute_plan_create(3, 2, 4, idx, 128);

	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (!p)
		return;
	LT_CHECK(t, p->num_rows == 0, "num_rows %d", p->num_rows);
	LT_CHECK(t, moe_permute(p, x, sizeof(float) * 4, dummy) == 0, "%s", loom_err_msg());
	LT_CHECK(t, moe_combine_f32(p, dummy, 4, NULL, out) == 0, "%s", loom_err_msg());
	for (int i = 0; i < 12; i++)
		LT_CHECK(t, out[i] == 0.0f, "out[%d] = %g", i, (double)out[i]);
	moe_permute_plan_destroy(p);
}

/* ---- bad input ------------------------------------------------------------ */

static void expect_null_plan(struct lt *t, struct moe_permute_plan *p, const char *what)
{
	LT_CHECK(t, p == NULL, "%s: got a plan", what);
	LT_CHECK(t, loom_err_msg()[0] != '\0', "%s: no message", what);
	moe_permute_plan_destroy(p);
}

static void expect_einval(struct lt *t, int rc, const char *what)
{
	LT_CHECK(t, rc == -EINVAL, "%s: rc=%d, want -EINVAL", what, rc);
}

static void test_bad_input(struct lt *t)
{
	int32_t idx[4] = { 0, 1, 2, 3 };
	float x[4 * 2] = { 0 }, y[4 * 2], w[4] = { 1, 1, 1, 1 }, gw[4];

	expect_null_plan(t, moe_permute_plan_create(2, 2, 4, NULL, 1), "NULL idx");
	expect_null_plan(t, moe_permute_plan_create(0, 2, 4, idx, 1), "T = 0");
	expect_null_plan(t, moe_permute_plan_create(-1, 2, 4, idx, 1), "T < 0");
	expect_null_plan(t, moe_permute_plan_create(2, 0, 4, idx, 1), "k = 0");
	expect_null_plan(t, moe_permute_plan_create(2, 2, 0, idx, 1), "E = 0");
	expect_null_plan(t, moe_permute_plan_create(2, 2, 4, idx, 0), "align = 0");
	expect_null_plan(t, moe_permute_plan_create(2, 2, 4, idx, -128), "align < 0");
	expect_null_plan(t, moe_permute_plan_create(2, 2, 3, idx, 1), "expert 3 of 3");
	idx[2] = -2;
	expect_null_plan(t, moe_permute_plan_create(2, 2, 4, idx, 1), "expert -2");
	idx[2] = 2;
	expect_null_plan(t, moe_permute_plan_create(1 << 16, 1 << 16, 4, idx, 1), "T * k > INT32_MAX");
	moe_permute_plan_destroy(NULL);

	struct moe_permute_plan *p = moe_permute_plan_create(2, 2, 4, idx, 1);
	LT_CHECK(t, p != NULL, "%s", loom_err_msg());
	if (!p)
		return;
	expect_einval(t, moe_permute(NULL, x, 8, y), "permute NULL plan");
	expect_einval(t, moe_permute(p, NULL, 8, y), "permute NULL x");
	expect_einval(t, moe_permute(p, x, 8, NULL), "permute NULL out");
	expect_einval(t, moe_permute(p, x, 0, y), "permute row_bytes 0");
	expect_einval(t, moe_permute(p, x, SIZE_MAX / 2, y), "permute row_bytes overflow");
	expect_einval(t, moe_unpermute(p, NULL, 8, y), "unpermute NULL y");
	expect_einval(t, moe_unpermute(p, y, 0, x), "unpermute row_bytes 0");
	expect_einval(t, moe_combine_f32(p, y, 0, w, x), "combine hidden 0");
	expect_einval(t, moe_combine_f32(p, y, -2, w, x), "combine hidden < 0");
	expect_einval(t, moe_combine_f32(NULL, y, 2, w, x), "combine NULL plan");
	expect_einval(t, moe_combine_f32(p, NULL, 2, w, x), "combine NULL y");
	expect_einval(t, moe_combine_f32(p, y, 2, w, NULL), "combine NULL out");
	expect_einval(t, moe_combine_backward_f32(p, y, 0, w, x, y, gw), "backward hidden 0");
	expect_einval(t, moe_combine_backward_f32(p, NULL, 2, w, x, y, gw), "backward grad_w, no y");
	expect_einval(t, moe_combine_backward_f32(p, y, 2, w, NULL, y, gw), "backward NULL grad_out");
	LT_CHECK(t, moe_combine_backward_f32(p, NULL, 2, w, x, y, NULL) == 0,
		 "backward without grad_weight needs no y: %s", loom_err_msg());
	moe_permute_plan_destroy(p);
}

static const struct lt_case cases[] = {
	LT_CASE(test_plan_hand),
	LT_CASE(test_plan_packed),
	LT_CASE(test_plan_aligned_128),
	LT_CASE(test_plan_aligned_odd),
	LT_CASE(test_plan_unused_slots),
	LT_CASE(test_identity_k1),
	LT_CASE(test_byte_rows_round_trip),
	LT_CASE(test_combine_weighted),
	LT_CASE(test_combine_backward),
	LT_CASE(test_all_unused),
	LT_CASE(test_bad_input),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

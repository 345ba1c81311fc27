/*
 * test_nn_linear.c - the linear layer of include/loom/nn.h (workloads/
 * nn_linear.c, nn_fp8_gemm.c) in FP32, BF16 and FP8, against float64
 * references computed here; the FP8 GEMMs also bit for bit against the
 * reference gemm_fp8_nt (model (a)) on operands quantized here; zero padding
 * of K; row independence, of the layer and of the GEMM under it.
 *
 * Bounds used (u = 2^-24, the FP32 unit roundoff; each check says which):
 *  FP32: a K-long FP32 sum of products errs by at most ~K u sum|a b|
 *    (recursive summation; gemm_f32_blocked adds one rounding per 384-deep
 *    panel); we allow 2 K u sum|a b|.
 *  BF16: RNE to 8 significant bits has relative error <= 2^-8, so a product
 *    of two rounded operands is within (2^-7 + 2^-16) |a b| of the exact
 *    one; against the exact product of the BF16-rounded operands (rounded
 *    here independently) only the FP32 bound remains, which is what pins
 *    the rounding down to RNE.
 *  FP8: see fp8_elem_err(): E4M3 keeps 3 fraction bits, so a normal value
 *    errs by <= 2^-4 relative; a subnormal (|x / s| < 2^-6) by <= 2^-10 s
 *    absolute, with s = amax / 448 <= A / 448 (A the operand's largest
 *    magnitude).  The GEMM's own FP32 rounding (128-product block sums,
 *    scale products, block accumulation) adds (128 + KB + 3) u sum|a^ b^|.
 */
#include "lt.h"
#include "nn_test.h"

#include "loom/err.h"
#include "loom/gemm.h"
#include "loom/nn.h"
#include "loom/quant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define U32 (1.0 / 16777216.0) /* 2^-24 */

/* A (rows, cols) view of a row-major float array: element (i, k) = p[i * rs + k * cs]. */
struct mview {
	const float *p;
	long rs, cs;
};

static double mv(const struct mview *v, int i, int k) { return v->p[i * v->rs + k * v->cs]; }

static double amax_f32(const float *x, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(x[i]));
	return m;
}

/* Independent BF16 round-to-nearest-even (finite inputs). */
static float ref_bf16(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	u += 0x7fffu + ((u >> 16) & 1u);
	u &= 0xffff0000u;
	memcpy(&x, &u, sizeof(u));
	return x;
}

static float *bf16_copy(const float *x, size_t n)
{
	float *r = malloc(n * sizeof(float));

	for (size_t i = 0; i < n; i++)
		r[i] = ref_bf16(x[i]);
	return r;
}

/* ---- exact references and their bounds ----------------------------------- */

/* want (m, n) = sum_k A(i, k) B(j, k) in float64, and sabs = sum_k |A B|. */
static void ref_nt(const struct mview *a, const struct mview *b, int m, int n, int k,
		   double *want, double *sabs)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0, sa = 0;

			for (int p = 0; p < k; p++) {
				double v = mv(a, i, p) * mv(b, j, p);

				s += v;
				sa += fabs(v);
			}
			want[(size_t)i * n + j] = s;
			sabs[(size_t)i * n + j] = sa;
		}
}

/* got within bound[i] of want[i] for all i; reports the first mismatches. */
static void check_bound(struct lt *t, const char *what, const float *got, const double *want,
			const double *bound, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n && bad < 5; i++)
		if (!(fabs(got[i] - want[i]) <= bound[i])) {
			lt_fail(t, __FILE__, __LINE__, "%s[%zu]: got %.9g want %.9g (bound %.3g)",
				what, i, (double)got[i], want[i], bound[i]);
			bad++;
		}
}

/* Plain-FP32 check: |got - want| <= 2 K u sum|a b|. */
static void check_fp32(struct lt *t, const char *what, const struct mview *a,
		       const struct mview *b, int m, int n, int k, const float *got)
{
	size_t mn = (size_t)m * n;
	double *want = malloc(mn * sizeof(double)), *sabs = malloc(mn * sizeof(double));

	ref_nt(a, b, m, n, k, want, sabs);
	for (size_t i = 0; i < mn; i++)
		sabs[i] *= 2.0 * k * U32;
	check_bound(t, what, got, want, sabs, mn);
	free(want);
	free(sabs);
}

/* |x^ - x| bound for an element of an operand with largest magnitude amax. */
static double fp8_elem_err(double x, double amax)
{
	return (0x1p-4 + 2 * U32) * fabs(x) + 0x1p-10 * amax * (1 + U32) / 448.0;
}

/*
 * FP8 check of got (m, n) against the exact A B^T: the derived bound
 * element by element, and the relative RMS error within [lo, hi] (FP8 must
 * show E4M3-sized errors: near 0 would mean it did not quantize).
 */
static void check_fp8(struct lt *t, const char *what, const struct mview *a, double amax_a,
		      const struct mview *b, double amax_b, int m, int n, int k, const float *got)
{
	double e2 = 0, r2 = 0, gemm_u = (128 + (k + 127) / 128 + 3) * U32;
	int bad = 0;

	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0, bound = 0, sq = 0;

			for (int p = 0; p < k; p++) {
				double x = mv(a, i, p), y = mv(b, j, p);
				double ex = fp8_elem_err(x, amax_a), ey = fp8_elem_err(y, amax_b);

				s += x * y;
				bound += ex * (fabs(y) + ey) + fabs(x) * ey;
				sq += (fabs(x) + ex) * (fabs(y) + ey);
			}
			bound = (bound + gemm_u * sq) * (1 + 1e-9);
			double err = got[(size_t)i * n + j] - s;
			if (!(fabs(err) <= bound) && bad++ < 5)
				lt_fail(t, __FILE__, __LINE__,
					"%s[%d,%d]: got %.9g want %.9g bound %.3g", what, i, j,
					(double)got[(size_t)i * n + j], s, bound);
			e2 += err * err;
			r2 += s * s;
		}
	/* Expected ~0.035: E4M3 rounding errs by ~0.025 rms relative per element
	 * (a uniform error of half a 2^-3 ulp over a binade), two operands. */
	double rel = sqrt(e2 / r2);
	LT_CHECK(t, rel > 0.01 && rel < 0.06, "%s: relative rms error %.4g not in (0.01, 0.06)",
		 what, rel);
}

/* ---- the GEMM under the layer -------------------------------------------- */

/*
 * gemm_f32_blocked is row-independent: C's row i for a (T, K) A equals, bit
 * for bit, the row computed from any row slice containing it.  Shapes cross
 * MR (8), MC (192) and KC (384) boundaries; both B layouts the layer uses.
 */
static void test_gemm_blocked_row_independent(struct lt *t)
{
	enum { T = 300, K = 500, N = 70 };
	static const int cuts[] = { 0, 1, 8, 45, 237, T };
	struct loom_rng r;
	float *a = malloc(sizeof(float) * T * K), *b = malloc(sizeof(float) * N * K);
	float *full = malloc(sizeof(float) * T * N), *part = malloc(sizeof(float) * T * N);

	loom_rng_init(&r, lt_seed(t));
	nt_fill(a, (size_t)T * K, &r, 1.0);
	nt_fill(b, (size_t)N * K, &r, 1.0);
	for (int tb = 0; tb <= 1; tb++) {
		LT_CHECK(t, !gemm_f32_blocked(0, tb, T, N, K, 1.0f, a, b, 0.0f, full), "%s",
			 loom_err_msg());
		nt_poison(part, (size_t)T * N);
		for (size_t c = 0; c + 1 < sizeof(cuts) / sizeof(cuts[0]); c++)
			LT_CHECK(t, !gemm_f32_blocked(0, tb, cuts[c + 1] - cuts[c], N, K, 1.0f,
						      a + (size_t)cuts[c] * K, b, 0.0f,
						      part + (size_t)cuts[c] * N), "%s",
				 loom_err_msg());
		nt_same_bits(t, tb ? "A B^T slices" : "A B slices", full, part, (size_t)T * N);
	}
	free(a);
	free(b);
	free(full);
	free(part);
}

/* ---- FP32 ---------------------------------------------------------------- */

/* Random layer operands: x (T, in), w (out, in), dy (T, out). */
struct lin {
	int T, in, out;
	float *x, *w, *dy, *y, *dx, *dw;
};

static void lin_init(struct lin *l, struct lt *t, int T, int in, int out)
{
	struct loom_rng r;

	*l = (struct lin){ .T = T, .in = in, .out = out };
	l->x = malloc(sizeof(float) * T * in);
	l->w = malloc(sizeof(float) * out * in);
	l->dy = malloc(sizeof(float) * T * out);
	l->y = malloc(sizeof(float) * T * out);
	l->dx = malloc(sizeof(float) * T * in);
	l->dw = malloc(sizeof(float) * out * in);
	loom_rng_init(&r, lt_seed(t) ^ (uint64_t)T << 32 ^ (uint64_t)in << 16 ^ (uint64_t)out);
	nt_fill(l->x, (size_t)T * in, &r, 2.0);
	nt_fill(l->w, (size_t)out * in, &r, 0.1);
	nt_fill(l->dy, (size_t)T * out, &r, 1e-3);
}

static void lin_run(struct lt *t, struct lin *l, enum nn_precision p)
{
	nt_poison(l->y, (size_t)l->T * l->out);
	nt_poison(l->dx, (size_t)l->T * l->in);
	nt_poison(l->dw, (size_t)l->out * l->in);
	LT_CHECK(t, !nn_linear_forward(p, l->T, l->in, l->out, l->x, l->w, l->y), "%s",
		 loom_err_msg());
	LT_CHECK(t, !nn_linear_backward(p, l->T, l->in, l->out, l->x, l->w, l->dy, l->dx, l->dw),
		 "%s", loom_err_msg());
}

static void lin_free(struct lin *l)
{
	free(l->x);
	free(l->w);
	free(l->dy);
	free(l->y);
	free(l->dx);
	free(l->dw);
}

/* The three products of a layer as views: y = x W^T, dx = dy W, dw = dy^T x. */
static void lin_views(const struct lin *l, struct mview v[6])
{
	v[0] = (struct mview){ l->x, l->in, 1 };   /* x (T, in) */
	v[1] = (struct mview){ l->w, l->in, 1 };   /* W (out, in) */
	v[2] = (struct mview){ l->dy, l->out, 1 }; /* dy (T, out) */
	v[3] = (struct mview){ l->w, 1, l->in };   /* W^T (in, out) */
	v[4] = (struct mview){ l->dy, 1, l->out }; /* dy^T (out, T) */
	v[5] = (struct mview){ l->x, 1, l->in };   /* x^T (in, T) */
}

static void test_linear_fp32(struct lt *t)
{
	static const int shapes[][3] = { { 1, 1, 1 }, { 37, 200, 130 }, { 130, 400, 64 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct lin l;
		struct mview v[6];

		lin_init(&l, t, shapes[s][0], shapes[s][1], shapes[s][2]);
		lin_run(t, &l, NN_FP32);
		lin_views(&l, v);
		check_fp32(t, "y", &v[0], &v[1], l.T, l.out, l.in, l.y);
		check_fp32(t, "dx", &v[2], &v[3], l.T, l.in, l.out, l.dx);
		check_fp32(t, "dw", &v[4], &v[5], l.out, l.in, l.T, l.dw);
		lin_free(&l);
	}
}

/* Finite differences of L = sum r (x W^T) in float64. */
struct lin_fd {
	int T, in, out;
	double *x, *w, *r;
};

static double lin_loss(void *ctx)
{
	struct lin_fd *f = ctx;
	double L = 0;

	for (int i = 0; i < f->T; i++)
		for (int o = 0; o < f->out; o++) {
			double y = 0;

			for (int k = 0; k < f->in; k++)
				y += f->x[i * f->in + k] * f->w[o * f->in + k];
			L += f->r[i * f->out + o] * y;
		}
	return L;
}

/* FD tolerance 1e-4 of the gradient's rms: the FP32 gradients are K <= 7
 * term sums (error ~1e-7 relative), the FD error is ~1e-10. */
static void test_linear_backward_fd(struct lt *t)
{
	struct lin l;
	struct lin_fd f;
	double *g;

	lin_init(&l, t, 5, 7, 6);
	lin_run(t, &l, NN_FP32);
	f = (struct lin_fd){ 5, 7, 6, nt_to_f64(l.x, 35), nt_to_f64(l.w, 42), nt_to_f64(l.dy, 30) };
	g = malloc(sizeof(double) * 42);
	nt_fd_grad(lin_loss, &f, f.x, 35, g);
	nt_check_grad(t, "dx", l.dx, g, 35, 1e-4);
	nt_fd_grad(lin_loss, &f, f.w, 42, g);
	nt_check_grad(t, "dw", l.dw, g, 42, 1e-4);
	free(g);
	free(f.x);
	free(f.w);
	free(f.r);
	lin_free(&l);
}

/* ---- BF16 ---------------------------------------------------------------- */

/* got against the exact product of BF16-rounded operands (FP32 bound) and of
 * the unrounded ones (plus (2^-7 + 2^-16) sum|a b|). */
static void check_bf16(struct lt *t, const char *what, const struct mview *a,
		       const struct mview *b, const struct mview *ar, const struct mview *br,
		       int m, int n, int k, const float *got)
{
	size_t mn = (size_t)m * n;
	double *want = malloc(mn * sizeof(double)), *sabs = malloc(mn * sizeof(double));

	ref_nt(ar, br, m, n, k, want, sabs);
	for (size_t i = 0; i < mn; i++)
		sabs[i] *= 2.0 * k * U32;
	check_bound(t, what, got, want, sabs, mn);
	ref_nt(a, b, m, n, k, want, sabs);
	for (size_t i = 0; i < mn; i++)
		sabs[i] *= 0x1p-7 + 0x1p-16 + 2.0 * k * U32 * (1 + 0x1p-7);
	check_bound(t, what, got, want, sabs, mn);
	free(want);
	free(sabs);
}

static void test_linear_bf16(struct lt *t)
{
	struct lin l, lr;
	struct mview v[6], vr[6];

	lin_init(&l, t, 45, 200, 70);
	lin_run(t, &l, NN_BF16);
	lr = l;
	lr.x = bf16_copy(l.x, (size_t)l.T * l.in);
	lr.w = bf16_copy(l.w, (size_t)l.out * l.in);
	lr.dy = bf16_copy(l.dy, (size_t)l.T * l.out);
	lin_views(&l, v);
	lin_views(&lr, vr);
	check_bf16(t, "y", &v[0], &v[1], &vr[0], &vr[1], l.T, l.out, l.in, l.y);
	check_bf16(t, "dx", &v[2], &v[3], &vr[2], &vr[3], l.T, l.in, l.out, l.dx);
	check_bf16(t, "dw", &v[4], &v[5], &vr[4], &vr[5], l.out, l.in, l.T, l.dw);
	free(lr.x);
	free(lr.w);
	free(lr.dy);
	lin_free(&l);
}

/* ---- FP8 ----------------------------------------------------------------- */

/* Sizes that are and are not multiples of 128 in every dimension (K = in,
 * out and T for the three GEMMs). */
static void test_linear_fp8(struct lt *t)
{
	static const int shapes[][3] = { { 64, 256, 128 }, { 50, 96, 72 }, { 130, 192, 200 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct lin l;
		struct mview v[6];
		double ax, aw, ady;

		lin_init(&l, t, shapes[s][0], shapes[s][1], shapes[s][2]);
		lin_run(t, &l, NN_FP8);
		lin_views(&l, v);
		ax = amax_f32(l.x, (size_t)l.T * l.in);
		aw = amax_f32(l.w, (size_t)l.out * l.in);
		ady = amax_f32(l.dy, (size_t)l.T * l.out);
		check_fp8(t, "y", &v[0], ax, &v[1], aw, l.T, l.out, l.in, l.y);
		check_fp8(t, "dx", &v[2], ady, &v[3], aw, l.T, l.in, l.out, l.dx);
		check_fp8(t, "dw", &v[4], ady, &v[5], ax, l.out, l.in, l.T, l.dw);
		lin_free(&l);
	}
}

/* The (rows, cols) view v materialized, quantized as nn.h says (1x128 tiles
 * for an activation operand, 128x128 blocks for a weight one, FP32 scales)
 * with quant.h and dequantized. */
static float *fp8_round_trip(const struct mview *v, int rows, int cols, int weight)
{
	size_t n = (size_t)rows * cols;
	int kb = quant_blocks(cols), sr = weight ? quant_blocks(rows) : rows;
	float *x = malloc(n * sizeof(float)), *s = malloc(sizeof(float) * sr * kb);
	uint8_t *q = malloc(n);

	for (int i = 0; i < rows; i++)
		for (int k = 0; k < cols; k++)
			x[(size_t)i * cols + k] = (float)mv(v, i, k);
	if (weight) {
		quant_weight_128x128(q, s, x, rows, cols, QUANT_SCALE_F32);
		dequant_weight_128x128(x, q, s, rows, cols);
	} else {
		quant_act_1x128(q, s, x, rows, cols, QUANT_SCALE_F32);
		dequant_act_1x128(x, q, s, rows, cols);
	}
	free(q);
	free(s);
	return x;
}

/* got (m, n) against the exact product of the recipe's dequantized operands
 * A^ (m, k), B^ (n, k): only the GEMM's FP32 rounding, (128 + KB + 3) u
 * sum|a^ b^|, remains, so the scale mode and the tiling axes of every
 * operand are pinned (a wrong axis or POW2 scales move results by ~2^-5). */
static void check_recipe(struct lt *t, const char *what, const struct mview *a,
			 const struct mview *b, int m, int n, int k, const float *got)
{
	float *ah = fp8_round_trip(a, m, k, 0), *bh = fp8_round_trip(b, n, k, 1);
	struct mview va = { ah, k, 1 }, vb = { bh, k, 1 };
	size_t mn = (size_t)m * n;
	double *want = malloc(mn * sizeof(double)), *sabs = malloc(mn * sizeof(double));

	ref_nt(&va, &vb, m, n, k, want, sabs);
	for (size_t i = 0; i < mn; i++)
		sabs[i] *= (128 + quant_blocks(k) + 3) * U32;
	check_bound(t, what, got, want, sabs, mn);
	free(want);
	free(sabs);
	free(ah);
	free(bh);
}

static void test_linear_fp8_recipe(struct lt *t)
{
	static const int shapes[][3] = { { 64, 256, 128 }, { 50, 96, 72 }, { 300, 200, 136 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct lin l;
		struct mview v[6];

		lin_init(&l, t, shapes[s][0], shapes[s][1], shapes[s][2]);
		lin_run(t, &l, NN_FP8);
		lin_views(&l, v);
		check_recipe(t, "y", &v[0], &v[1], l.T, l.out, l.in, l.y);
		check_recipe(t, "dx", &v[2], &v[3], l.T, l.in, l.out, l.dx);
		check_recipe(t, "dw", &v[4], &v[5], l.out, l.in, l.T, l.dw);
		lin_free(&l);
	}
}

/* A (rows, cols) view quantized as the layer's GEMM operand: K = cols
 * zero-padded to a multiple of 128, 1x128 tiles or 128x128 blocks. */
struct qop {
	uint8_t *q;
	float *s;
	int kp;
};

static struct qop quant_operand(const struct mview *v, int rows, int cols, int weight)
{
	struct qop o = { NULL, NULL, quant_blocks(cols) * 128 };
	int sr = weight ? quant_blocks(rows) : rows;
	float *x = calloc((size_t)rows * o.kp, sizeof(float));

	o.q = malloc((size_t)rows * o.kp);
	o.s = malloc(sizeof(float) * sr * (o.kp / 128));
	for (int i = 0; i < rows; i++)
		for (int k = 0; k < cols; k++)
			x[(size_t)i * o.kp + k] = (float)mv(v, i, k);
	if (weight)
		quant_weight_128x128(o.q, o.s, x, rows, o.kp, QUANT_SCALE_F32);
	else
		quant_act_1x128(o.q, o.s, x, rows, o.kp, QUANT_SCALE_F32);
	free(x);
	return o;
}

/* got (m, n) equals, bit for bit, gemm_fp8_nt (model (a), the CPU reference
 * of kernels/gemm_fp8.c) on the operands quantized here. */
static void check_reference_gemm(struct lt *t, const char *what, const struct mview *a,
				 const struct mview *b, int m, int n, int k, const float *got)
{
	struct qop qa = quant_operand(a, m, k, 0), qb = quant_operand(b, n, k, 1);
	float *d = malloc(sizeof(float) * m * n);
	struct gemm_fp8_args g = {
		.m = m, .n = n, .k = qa.kp, .a = qa.q, .a_scales = qa.s, .b = qb.q,
		.b_scales = qb.s, .d_f32 = d, .accum = GEMM_ACCUM_DEFAULT_FP32,
	};

	LT_CHECK(t, gemm_fp8_nt(&g) == 0, "%s", loom_err_msg());
	nt_same_bits(t, what, got, d, (size_t)m * n);
	free(d);
	free(qa.q);
	free(qa.s);
	free(qb.q);
	free(qb.s);
}

/* The layer's FP8 GEMMs equal the reference GEMM bit for bit: shapes with
 * every dimension on and off the register tile (8 x 32), the 96-row
 * packing block and the 128-wide scale blocks. */
static void test_linear_fp8_reference_gemm(struct lt *t)
{
	static const int shapes[][3] = { { 1, 1, 1 },	 { 7, 130, 33 },   { 97, 128, 256 },
					 { 200, 300, 72 }, { 33, 64, 129 }, { 256, 256, 384 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct lin l;
		struct mview v[6];

		lin_init(&l, t, shapes[s][0], shapes[s][1], shapes[s][2]);
		lin_run(t, &l, NN_FP8);
		lin_views(&l, v);
		check_reference_gemm(t, "y", &v[0], &v[1], l.T, l.out, l.in, l.y);
		check_reference_gemm(t, "dx", &v[2], &v[3], l.T, l.in, l.out, l.dx);
		check_reference_gemm(t, "dw", &v[4], &v[5], l.out, l.in, l.T, l.dw);
		lin_free(&l);
	}
}

/* Copy src (rows, cols) into the top-left of dst (prows, pcols), zeros elsewhere. */
static float *pad_copy(const float *src, int rows, int cols, int prows, int pcols)
{
	float *d = calloc((size_t)prows * pcols, sizeof(float));

	for (int i = 0; i < rows; i++)
		memcpy(d + (size_t)i * pcols, src + (size_t)i * cols, sizeof(float) * cols);
	return d;
}

/* Zero padding is invisible: T, in, out = 50, 96, 72 give, bit for bit, the
 * same y, dx, dw as the same data zero-padded to 128 in every dimension. */
static void test_linear_fp8_padding_exact(struct lt *t)
{
	enum { P = 128 };
	struct lin l, lp;

	lin_init(&l, t, 50, 96, 72);
	lin_run(t, &l, NN_FP8);
	lin_init(&lp, t, P, P, P);
	free(lp.x);
	free(lp.w);
	free(lp.dy);
	lp.x = pad_copy(l.x, l.T, l.in, P, P);
	lp.w = pad_copy(l.w, l.out, l.in, P, P);
	lp.dy = pad_copy(l.dy, l.T, l.out, P, P);
	lin_run(t, &lp, NN_FP8);
	for (int i = 0; i < l.T; i++) {
		nt_same_bits(t, "y", l.y + (size_t)i * l.out, lp.y + (size_t)i * P, l.out);
		nt_same_bits(t, "dx", l.dx + (size_t)i * l.in, lp.dx + (size_t)i * P, l.in);
	}
	for (int o = 0; o < l.out; o++)
		nt_same_bits(t, "dw", l.dw + (size_t)o * l.in, lp.dw + (size_t)o * P, l.in);
	lin_free(&l);
	lin_free(&lp);
}

/* ---- row independence ---------------------------------------------------- */

/* y and dx of T = 300 rows equal, bit for bit, those of row slices
 * 1, 37, 130, 132 (crossing 128-row tiles and the GEMM's 192-row blocks). */
static void test_linear_row_independent(struct lt *t)
{
	static const int cuts[] = { 0, 1, 38, 168, 300 };
	static const enum nn_precision ps[] = { NN_FP32, NN_BF16, NN_FP8 };
	struct lin l;
	float *y = malloc(sizeof(float) * 300 * 96), *dx = malloc(sizeof(float) * 300 * 200);

	lin_init(&l, t, 300, 200, 96);
	for (size_t pi = 0; pi < 3; pi++) {
		lin_run(t, &l, ps[pi]);
		nt_poison(y, 300 * 96);
		nt_poison(dx, 300 * 200);
		for (int c = 0; c < 4; c++) {
			int r0 = cuts[c], n = cuts[c + 1] - cuts[c];

			LT_CHECK(t, !nn_linear_forward(ps[pi], n, 200, 96, l.x + r0 * 200, l.w,
						       y + r0 * 96), "%s", loom_err_msg());
			LT_CHECK(t, !nn_linear_backward(ps[pi], n, 200, 96, NULL, l.w,
							l.dy + r0 * 96, dx + r0 * 200, NULL),
				 "%s", loom_err_msg());
		}
		nt_same_bits(t, nn_precision_name(ps[pi]), l.y, y, 300 * 96);
		nt_same_bits(t, nn_precision_name(ps[pi]), l.dx, dx, 300 * 200);
	}
	free(y);
	free(dx);
	lin_free(&l);
}

/* ---- edges --------------------------------------------------------------- */

static void test_linear_bad_args(struct lt *t)
{
	float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 0, 0, 1 }, y[4], dx[4], dw[4];

	LT_CHECK(t, nn_linear_forward(NN_FP32, 0, 2, 2, x, w, y) == -EINVAL);
	LT_CHECK(t, nn_linear_forward(NN_FP8, 2, -1, 2, x, w, y) == -EINVAL);
	LT_CHECK(t, nn_linear_forward(NN_BF16, 2, 2, 0, x, w, y) == -EINVAL);
	LT_CHECK(t, nn_linear_forward((enum nn_precision)7, 2, 2, 2, x, w, y) == -EINVAL);
	LT_CHECK(t, strstr(loom_err_msg(), "precision") != NULL, "msg: %s", loom_err_msg());
	LT_CHECK(t, nn_linear_forward(NN_FP32, 2, 2, 2, NULL, w, y) == -EINVAL);
	LT_CHECK(t, nn_linear_forward(NN_FP8, 2, 2, 2, x, NULL, y) == -EINVAL);
	LT_CHECK(t, nn_linear_forward(NN_FP32, 2, 2, 2, x, w, NULL) == -EINVAL);
	LT_CHECK(t, nn_linear_backward(NN_FP32, 2, 2, 2, x, w, NULL, dx, dw) == -EINVAL);
	LT_CHECK(t, nn_linear_backward(NN_FP32, 2, 2, 2, x, NULL, y, dx, NULL) == -EINVAL);
	LT_CHECK(t, nn_linear_backward(NN_FP8, 2, 2, 2, NULL, w, y, NULL, dw) == -EINVAL);
	LT_CHECK(t, nn_linear_backward(NN_FP32, -2, 2, 2, x, w, y, dx, dw) == -EINVAL);
	LT_CHECK(t, nn_linear_backward(NN_FP32, 2, 2, 2, NULL, NULL, y, NULL, NULL) == 0,
		 "no gradient requested is not an error");
}

static void test_precision_names(struct lt *t)
{
	enum nn_precision p = NN_FP32;

	LT_CHECK(t, !strcmp(nn_precision_name(NN_BF16), "bf16"));
	LT_CHECK(t, nn_precision_parse("fp8", &p) == 0 && p == NN_FP8);
	LT_CHECK(t, nn_precision_parse("bf16", &p) == 0 && p == NN_BF16);
	LT_CHECK(t, nn_precision_parse("fp32", &p) == 0 && p == NN_FP32);
	LT_CHECK(t, nn_precision_parse("fp16", &p) == -EINVAL && p == NN_FP32);
	LT_CHECK(t, nn_precision_parse(NULL, &p) == -EINVAL);
	LT_CHECK(t, nn_precision_parse("fp8", NULL) == -EINVAL);
}

/* Documented, not an error: an inf in x makes its FP8 tile NaN (quant.h), so
 * that row of y is NaN and the other rows are untouched by it. */
static void test_linear_fp8_nonfinite(struct lt *t)
{
	struct lin l;

	lin_init(&l, t, 4, 128, 16);
	l.x[2 * 128 + 5] = INFINITY;
	LT_CHECK(t, !nn_linear_forward(NN_FP8, 4, 128, 16, l.x, l.w, l.y), "%s", loom_err_msg());
	for (int i = 0; i < 4; i++)
		for (int o = 0; o < 16; o++)
			LT_CHECK(t, i == 2 ? isnan(l.y[i * 16 + o]) : isfinite(l.y[i * 16 + o]),
				 "y[%d,%d] = %g", i, o, (double)l.y[i * 16 + o]);
	lin_free(&l);
}

static const struct lt_case cases[] = {
	LT_CASE(test_gemm_blocked_row_independent),
	LT_CASE(test_linear_fp32),
	LT_CASE(test_linear_backward_fd),
	LT_CASE(test_linear_bf16),
	LT_CASE(test_linear_fp8),
	LT_CASE(test_linear_fp8_recipe),
	LT_CASE(test_linear_fp8_reference_gemm),
	LT_CASE(test_linear_fp8_padding_exact),
	LT_CASE(test_linear_row_independent),
	LT_CASE(test_linear_bad_args),
	LT_CASE(test_precision_names),
	LT_CASE(test_linear_fp8_nonfinite),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

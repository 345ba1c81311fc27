/*
 * test_nn.c - the FP32 layers of include/loom/nn.h other than linear
 * (workloads/nn.c, nn_attention.c): embedding, RMSNorm, RoPE, causal
 * attention, SwiGLU, cross-entropy, add.  (Linear: test_nn_linear.c.)
 *
 * Each layer has a float64 forward written here from the formula in nn.h.
 * Forwards are compared with it; backwards with central finite differences
 * of L = sum r * f(inputs) for a random r, the float64 forward evaluated at
 * the same (FP32) inputs (nt_fd_grad: FD error ~1e-10 relative).
 *
 * Gradient tolerance: 1e-4 of the gradient's rms, element by element.  The
 * analytic gradients are FP32 sums of at most a few hundred terms, so their
 * rounding is ~100 u = 6e-6 relative to the gradient's scale at worst (the
 * measured worst case is 1e-6 to 3e-6); a wrong term or index gives O(1) errors.
 * Forward tolerances are stated per check, in units of u = 2^-24.
 *
 * Also: row independence (bit-identical results when a batch is split
 * across calls), causality of attention, cross-entropy of uniform logits,
 * and bad arguments.
 */
#include "lt.h"
#include "nn_test.h"

#include "loom/err.h"
#include "loom/nn.h"

#include "../../workloads/nn_internal.h" /* white box: nn_expf */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_REL 1e-4
#define U32 (1.0 / 16777216.0)

static struct loom_rng rng_for(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	return r;
}

static double *dalloc(size_t n) { return calloc(n, sizeof(double)); }
static float *falloc(size_t n) { return calloc(n, sizeof(float)); }

/* lt_close_f64 for an FP32 result. */
static bool close_f32(struct lt *t, const char *what, const float *got, const double *want,
		      size_t n, double atol, double rtol)
{
	double *gd = nt_to_f64(got, n);
	bool ok = lt_close_f64(t, what, gd, want, n, atol, rtol);

	free(gd);
	return ok;
}

static double dot_r(const double *r, const double *y, size_t n)
{
	double L = 0;

	for (size_t i = 0; i < n; i++)
		L += r[i] * y[i];
	return L;
}

/* ---- the exp the layers use --------------------------------------------- */

static __attribute__((noinline)) float expf_scalar(float x) { return nn_expf(x); }

/*
 * nn_expf within 1 ulp of exp() (every 61st float in [-104.5, 89]: normal,
 * subnormal and zero results); exact at 0; inf, 0 and NaN at the edges; and
 * the vectorized loop gives the same bits as a scalar call.
 */
static void test_expf(struct lt *t)
{
	enum { N = 4096 };
	float x[N], y[N];
	int bad = 0, n = 0;

	for (uint64_t b = 0; b <= 0xffffffffu && bad < 5; b += 61) {
		uint32_t u = (uint32_t)b;
		float v;

		memcpy(&v, &u, sizeof(v));
		if (!(v >= -104.5f && v <= 89.0f))
			continue;
		double e = exp((double)v), y1 = nn_expf(v);
		float ef = (float)e;
		double ulp = ef == 0.0f ? 0x1p-149 : fmax(0x1p-149, ldexp(1.0, ilogbf(ef) - 23));
		if (!(isinf(ef) && isinf(y1)) && !(fabs(y1 - e) <= ulp) && bad++ < 5)
			lt_fail(t, __FILE__, __LINE__, "exp(%.9g): got %.9g want %.9g", (double)v,
				y1, e);
		x[n % N] = v;
		if (++n % N == 0) {
			for (int i = 0; i < N; i++) /* vectorized (see nn_internal.h) */
				y[i] = nn_expf(x[i]);
			for (int i = 0; i < N; i++) {
				float s = expf_scalar(x[i]);

				if (memcmp(&s, &y[i], sizeof(s)) && bad++ < 5)
					lt_fail(t, __FILE__, __LINE__,
						"x=%.9g: vector %.9g scalar %.9g", (double)x[i],
						(double)y[i], (double)s);
			}
		}
	}
	LT_CHECK(t, nn_expf(0.0f) == 1.0f && nn_expf(-0.0f) == 1.0f);
	LT_CHECK(t, isinf(nn_expf(88.73f)) && isinf(nn_expf(INFINITY)) && nn_expf(1e30f) > 0);
	LT_CHECK(t, nn_expf(-104.01f) == 0.0f && nn_expf(-INFINITY) == 0.0f);
	LT_CHECK(t, isnan(nn_expf(NAN)));
	LT_CHECK(t, nn_expf(88.72f) < INFINITY && nn_expf(-103.9f) > 0.0f, "range edges");
}

/* ---- embedding ----------------------------------------------------------- */

struct emb_fd {
	int T, V, d;
	const int32_t *tok;
	double *table, *r;
};

static double emb_loss(void *ctx)
{
	struct emb_fd *f = ctx;
	double L = 0;

	for (int t = 0; t < f->T; t++)
		for (int i = 0; i < f->d; i++)
			L += f->r[t * f->d + i] * f->table[f->tok[t] * f->d + i];
	return L;
}

/* Forward is an exact copy; the backward (repeated tokens, unused rows that
 * must come out 0) against FD of the float64 lookup. */
static void test_embedding(struct lt *t)
{
	enum { T = 9, V = 6, D = 5 };
	static const int32_t tok[T] = { 3, 0, 3, 5, 3, 1, 0, 5, 3 }; /* row 2, 4 unused */
	struct loom_rng r = rng_for(t);
	float table[V * D], y[T * D], dy[T * D], dt[V * D];
	double g[V * D];

	nt_fill(table, V * D, &r, 1.0);
	nt_fill(dy, T * D, &r, 1.0);
	nt_poison(y, T * D);
	nt_poison(dt, V * D);
	LT_CHECK(t, !nn_embedding_forward(T, V, D, tok, table, y), "%s", loom_err_msg());
	for (int i = 0; i < T; i++)
		nt_same_bits(t, "row", y + i * D, table + tok[i] * D, D);
	LT_CHECK(t, !nn_embedding_backward(T, V, D, tok, dy, dt), "%s", loom_err_msg());
	struct emb_fd f = { T, V, D, tok, nt_to_f64(table, V * D), nt_to_f64(dy, T * D) };
	nt_fd_grad(emb_loss, &f, f.table, V * D, g);
	nt_check_grad(t, "dtable", dt, g, V * D, GRAD_REL);
	for (int i = 0; i < D; i++)
		LT_CHECK(t, dt[2 * D + i] == 0.0f && dt[4 * D + i] == 0.0f, "unused rows are 0");
	free(f.table);
	free(f.r);
}

/* ---- RMSNorm ------------------------------------------------------------- */

static void ref_rmsnorm(int T, int d, double eps, const double *x, const double *w, double *y)
{
	for (int t = 0; t < T; t++) {
		double ms = 0;

		for (int i = 0; i < d; i++)
			ms += x[t * d + i] * x[t * d + i];
		double rs = 1.0 / sqrt(ms / d + eps);
		for (int i = 0; i < d; i++)
			y[t * d + i] = x[t * d + i] * rs * w[i];
	}
}

struct rms_fd {
	int T, d;
	double eps, *x, *w, *r, *y;
};

static double rms_loss(void *ctx)
{
	struct rms_fd *f = ctx;

	ref_rmsnorm(f->T, f->d, f->eps, f->x, f->w, f->y);
	return dot_r(f->r, f->y, (size_t)f->T * f->d);
}

/* d = 37 and 80 exercise the 16-lane sums' tails. */
static void rmsnorm_case(struct lt *t, int T, int d)
{
	struct loom_rng r = rng_for(t);
	size_t n = (size_t)T * d;
	float *x = falloc(n), *w = falloc(d), *y = falloc(n), *rstd = falloc(T);
	float *dy = falloc(n), *dx = falloc(n), *dw = falloc(d);
	struct rms_fd f = { T, d, (double)1e-5f, NULL, NULL, NULL, dalloc(n) };
	double *g = dalloc(n);

	nt_fill(x, n, &r, 2.0);
	nt_fill(w, d, &r, 1.5);
	nt_fill(dy, n, &r, 1.0);
	x[0] = 0.0f; /* a zero element and a near-zero row scale both fine */
	nt_poison(dx, n);
	nt_poison(dw, d);
	LT_CHECK(t, !nn_rmsnorm_forward(T, d, 1e-5f, x, w, y, rstd), "%s", loom_err_msg());
	LT_CHECK(t, !nn_rmsnorm_backward(T, d, x, w, rstd, dy, dx, dw), "%s", loom_err_msg());
	f.x = nt_to_f64(x, n);
	f.w = nt_to_f64(w, d);
	f.r = nt_to_f64(dy, n);
	ref_rmsnorm(T, d, f.eps, f.x, f.w, f.y);
	/* y: a d-term sum of squares, sqrtf, a division, two products: within
	 * (d + 8) u relative; we allow 2 (d + 8) u |y| + 1e-30. */
	close_f32(t, "y", y, f.y, n, 1e-30, 2.0 * (d + 8) * U32);
	nt_fd_grad(rms_loss, &f, f.x, n, g);
	nt_check_grad(t, "dx", dx, g, n, GRAD_REL);
	nt_fd_grad(rms_loss, &f, f.w, d, g);
	nt_check_grad(t, "dw", dw, g, d, GRAD_REL);
	free(f.x);
	free(f.w);
	free(f.r);
	free(f.y);
	free(g);
	free(x);
	free(w);
	free(y);
	free(rstd);
	free(dy);
	free(dx);
	free(dw);
}

static void test_rmsnorm(struct lt *t)
{
	rmsnorm_case(t, 4, 37);
	rmsnorm_case(t, 3, 80);
	rmsnorm_case(t, 2, 1);
}

/* ---- RoPE ---------------------------------------------------------------- */

static void ref_rope(int T, int S, int H, int Dh, double theta, double *x)
{
	for (int t = 0; t < T; t++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < Dh / 2; i++) {
				double a = (t % S) * pow(theta, -2.0 * i / Dh);
				double *p = x + (size_t)t * H * Dh + h * Dh + 2 * i;
				double x0 = p[0], x1 = p[1];

				p[0] = x0 * cos(a) - x1 * sin(a);
				p[1] = x0 * sin(a) + x1 * cos(a);
			}
}

struct rope_fd {
	int T, S, H, Dh;
	double theta, *x, *r, *y;
};

static double rope_loss(void *ctx)
{
	struct rope_fd *f = ctx;
	size_t n = (size_t)f->T * f->H * f->Dh;

	memcpy(f->y, f->x, n * sizeof(double));
	ref_rope(f->T, f->S, f->H, f->Dh, f->theta, f->y);
	return dot_r(f->r, f->y, n);
}

/*
 * Forward against float64 (sin, cos rounded to FP32 and two products and a
 * sum per element: within 4 u (|x0| + |x1|) <= 8 u max|x|; allowed 16 u
 * max|x|); the inverse undoes the forward within the same; the backward
 * (the inverse rotation) against FD.  T = 2 sequences of S = 11, so
 * positions restart at row 11; theta = 10000, angles up to 10 rad.
 */
static void test_rope(struct lt *t)
{
	enum { S = 11, T = 22, H = 3, DH = 8, N = T * H * DH };
	struct loom_rng r = rng_for(t);
	float x[N], y[N], dy[N];
	double g[N];
	struct rope_fd f = { T, S, H, DH, 10000.0, NULL, NULL, dalloc(N) };

	nt_fill(x, N, &r, 1.0);
	nt_fill(dy, N, &r, 1.0);
	memcpy(y, x, sizeof(x));
	LT_CHECK(t, !nn_rope(T, S, H, DH, 10000.0f, 0, y), "%s", loom_err_msg());
	f.x = nt_to_f64(x, N);
	f.r = nt_to_f64(dy, N);
	double *want = nt_to_f64(x, N);
	ref_rope(T, S, H, DH, 10000.0, want);
	close_f32(t, "forward", y, want, N, 16 * U32, 0);
	LT_CHECK(t, !nn_rope(T, S, H, DH, 10000.0f, 1, y), "%s", loom_err_msg());
	close_f32(t, "inverse(forward)", y, f.x, N, 16 * U32, 0);
	nt_same_bits(t, "position 0 is the identity", y, x, H * DH);
	LT_CHECK(t, !nn_rope(T, S, H, DH, 10000.0f, 1, dy), "%s", loom_err_msg());
	nt_fd_grad(rope_loss, &f, f.x, N, g);
	nt_check_grad(t, "dx", dy, g, N, GRAD_REL);
	free(want);
	free(f.x);
	free(f.r);
	free(f.y);
}

/* ---- attention ----------------------------------------------------------- */

struct attn_dims {
	int B, S, H, Dh;
};

static size_t attn_n(const struct attn_dims *a) { return (size_t)a->B * a->S * a->H * a->Dh; }

/* float64 causal attention; lse may be NULL. */
static void ref_attention(const struct attn_dims *a, const double *q, const double *k,
			  const double *v, double *o, double *lse)
{
	int S = a->S, H = a->H, Dh = a->Dh, ld = H * Dh;
	double *s = dalloc(S);

	for (int b = 0; b < a->B; b++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < S; i++) {
				const double *qi = q + (size_t)(b * S + i) * ld + h * Dh;
				double m = -INFINITY, l = 0;
				double *oi = o + (size_t)(b * S + i) * ld + h * Dh;

				for (int j = 0; j <= i; j++) {
					const double *kj = k + (size_t)(b * S + j) * ld + h * Dh;

					s[j] = 0;
					for (int d = 0; d < Dh; d++)
						s[j] += qi[d] * kj[d];
					s[j] /= sqrt((double)Dh);
					m = fmax(m, s[j]);
				}
				for (int d = 0; d < Dh; d++)
					oi[d] = 0;
				for (int j = 0; j <= i; j++) {
					const double *vj = v + (size_t)(b * S + j) * ld + h * Dh;
					double p = exp(s[j] - m);

					l += p;
					for (int d = 0; d < Dh; d++)
						oi[d] += p * vj[d];
				}
				for (int d = 0; d < Dh; d++)
					oi[d] /= l;
				if (lse)
					lse[(size_t)(b * S + i) * H + h] = m + log(l);
			}
	free(s);
}

/* FP32 tensors of one attention problem. */
struct attn_case {
	struct attn_dims a;
	float *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv;
};

static void attn_case_init(struct attn_case *c, struct lt *t, struct attn_dims a, double scale)
{
	struct loom_rng r = rng_for(t);
	size_t n = attn_n(&a);

	c->a = a;
	c->q = falloc(n), c->k = falloc(n), c->v = falloc(n), c->o = falloc(n);
	c->dout = falloc(n), c->dq = falloc(n), c->dk = falloc(n), c->dv = falloc(n);
	c->lse = falloc((size_t)a.B * a.S * a.H);
	nt_fill(c->q, n, &r, scale);
	nt_fill(c->k, n, &r, scale);
	nt_fill(c->v, n, &r, 1.0);
	nt_fill(c->dout, n, &r, 1.0);
}

/* Forward and backward on c's inputs, outputs poisoned first. */
static void attn_case_run(struct lt *t, struct attn_case *c)
{
	struct attn_dims *a = &c->a;
	size_t n = attn_n(a);

	nt_poison(c->o, n);
	nt_poison(c->dq, n);
	nt_poison(c->dk, n);
	nt_poison(c->dv, n);
	LT_CHECK(t, !nn_attention_forward(a->B, a->S, a->H, a->Dh, c->q, c->k, c->v, c->o,
					  c->lse), "%s", loom_err_msg());
	LT_CHECK(t, !nn_attention_backward(a->B, a->S, a->H, a->Dh, c->q, c->k, c->v, c->o,
					   c->lse, c->dout, c->dq, c->dk, c->dv), "%s",
		 loom_err_msg());
}

static void attn_case_free(struct attn_case *c)
{
	free(c->q), free(c->k), free(c->v), free(c->o), free(c->lse);
	free(c->dout), free(c->dq), free(c->dk), free(c->dv);
}

/*
 * Forward against float64.  Scores are Dh-term FP32 dots (error ~Dh u |q||k|),
 * the softmax an S-term sum; o is a convex combination of v rows, so its
 * error is ~(Dh + S) u max|v| times the scores' scale: we allow
 * 4 (Dh + S + 16) u (1 + |x|) for o and lse.  Sizes: Dh = 40 (lane tails),
 * S = 33, scores up to ~+-15 (q, k in [-2, 2)).
 */
static void test_attention_forward(struct lt *t)
{
	struct attn_case c;
	struct attn_dims a = { 2, 33, 3, 40 };
	size_t n = attn_n(&a), nl = (size_t)a.B * a.S * a.H;
	double tol = 4.0 * (a.Dh + a.S + 16) * U32;

	attn_case_init(&c, t, a, 2.0);
	attn_case_run(t, &c);
	double *q = nt_to_f64(c.q, n), *k = nt_to_f64(c.k, n), *v = nt_to_f64(c.v, n);
	double *o = dalloc(n), *lse = dalloc(nl);
	ref_attention(&a, q, k, v, o, lse);
	close_f32(t, "o", c.o, o, n, tol, tol);
	close_f32(t, "lse", c.lse, lse, nl, tol, tol);
	free(q), free(k), free(v), free(o), free(lse);
	attn_case_free(&c);
}

struct attn_fd {
	struct attn_dims a;
	double *q, *k, *v, *r, *o;
};

static double attn_loss(void *ctx)
{
	struct attn_fd *f = ctx;

	ref_attention(&f->a, f->q, f->k, f->v, f->o, NULL);
	return dot_r(f->r, f->o, attn_n(&f->a));
}

/* dq, dk, dv against FD; Dh = 6 (a lane tail only), B = 2 sequences. */
static void test_attention_backward_fd(struct lt *t)
{
	struct attn_case c;
	struct attn_dims a = { 2, 7, 2, 6 };
	size_t n = attn_n(&a);
	double *g = dalloc(n);

	attn_case_init(&c, t, a, 1.5);
	attn_case_run(t, &c);
	struct attn_fd f = { a, nt_to_f64(c.q, n), nt_to_f64(c.k, n), nt_to_f64(c.v, n),
			     nt_to_f64(c.dout, n), dalloc(n) };
	nt_fd_grad(attn_loss, &f, f.q, n, g);
	nt_check_grad(t, "dq", c.dq, g, n, GRAD_REL);
	nt_fd_grad(attn_loss, &f, f.k, n, g);
	nt_check_grad(t, "dk", c.dk, g, n, GRAD_REL);
	nt_fd_grad(attn_loss, &f, f.v, n, g);
	nt_check_grad(t, "dv", c.dv, g, n, GRAD_REL);
	free(f.q), free(f.k), free(f.v), free(f.r), free(f.o), free(g);
	attn_case_free(&c);
}

/* Rows [r0, r1) of x and y (ld floats each) are bit-identical. */
static bool rows_same(const float *x, const float *y, int r0, int r1, int ld)
{
	return !memcmp(x + (size_t)r0 * ld, y + (size_t)r0 * ld,
		       (size_t)(r1 - r0) * ld * sizeof(float));
}

/*
 * Causality: changing q, k or v of token j in sequence 1 leaves o of every
 * earlier token, and all of sequence 0, bit-identical (and does change o at
 * token j); changing dout of token j leaves dk, dv of later tokens and dq of
 * every other token bit-identical.
 */
static void test_attention_causal(struct lt *t)
{
	enum { J = 5 };
	struct attn_dims a = { 2, 8, 2, 8 };
	int S = a.S, ld = a.H * a.Dh, row = S + J; /* token J of sequence 1 */
	size_t n = attn_n(&a);
	struct attn_case c;
	float *o0 = falloc(n), *dq0 = falloc(n), *dk0 = falloc(n), *dv0 = falloc(n);

	attn_case_init(&c, t, a, 1.0);
	attn_case_run(t, &c);
	memcpy(o0, c.o, n * sizeof(float));
	memcpy(dq0, c.dq, n * sizeof(float));
	memcpy(dk0, c.dk, n * sizeof(float));
	memcpy(dv0, c.dv, n * sizeof(float));
	float *in[3] = { c.q, c.k, c.v };
	for (int w = 0; w < 3; w++) {
		float save = in[w][(size_t)row * ld + 3]; /* restored exactly, not by -0.5 */

		in[w][(size_t)row * ld + 3] += 0.5f;
		attn_case_run(t, &c);
		LT_CHECK(t, rows_same(c.o, o0, 0, row, ld), "input %d: earlier o changed", w);
		LT_CHECK(t, !rows_same(c.o, o0, row, row + 1, ld), "input %d: o_j unchanged", w);
		in[w][(size_t)row * ld + 3] = save;
	}
	attn_case_run(t, &c);
	c.dout[(size_t)row * ld + 3] += 0.5f;
	attn_case_run(t, &c);
	LT_CHECK(t, rows_same(c.dk, dk0, row + 1, 2 * S, ld), "later dk changed");
	LT_CHECK(t, rows_same(c.dv, dv0, row + 1, 2 * S, ld), "later dv changed");
	LT_CHECK(t, rows_same(c.dk, dk0, 0, S, ld), "sequence 0 dk changed");
	LT_CHECK(t, rows_same(c.dq, dq0, 0, row, ld) && rows_same(c.dq, dq0, row + 1, 2 * S, ld),
		 "dq of another token changed");
	LT_CHECK(t, !rows_same(c.dv, dv0, row, row + 1, ld), "dv_j unchanged");
	free(o0), free(dq0), free(dk0), free(dv0);
	attn_case_free(&c);
}

/* ---- SwiGLU -------------------------------------------------------------- */

static double ref_silu(double g) { return g / (1.0 + exp(-g)); }

struct swiglu_fd {
	size_t n;
	double *g, *u, *r;
};

static double swiglu_loss(void *ctx)
{
	struct swiglu_fd *f = ctx;
	double L = 0;

	for (size_t i = 0; i < f->n; i++)
		L += f->r[i] * ref_silu(f->g[i]) * f->u[i];
	return L;
}

/* Forward within 8 u |a| (nn_expf within 1 ulp, an add, a division, two
 * products) plus 1e-30;
 * backward against FD; |g| up to 1000 stays finite (e^-g = inf gives
 * silu = -0, not NaN). */
static void test_swiglu(struct lt *t)
{
	enum { T = 3, H = 21, N = T * H };
	struct loom_rng r = rng_for(t);
	float g[N], u[N], a[N], da[N], dg[N], du[N];
	double want[N], gr[N];

	nt_fill(g, N, &r, 6.0);
	nt_fill(u, N, &r, 2.0);
	nt_fill(da, N, &r, 1.0);
	nt_poison(dg, N);
	nt_poison(du, N);
	LT_CHECK(t, !nn_swiglu_forward(T, H, g, u, a), "%s", loom_err_msg());
	LT_CHECK(t, !nn_swiglu_backward(T, H, g, u, da, dg, du), "%s", loom_err_msg());
	for (int i = 0; i < N; i++)
		want[i] = ref_silu(g[i]) * u[i];
	close_f32(t, "a", a, want, N, 1e-30, 8 * U32);
	struct swiglu_fd f = { N, nt_to_f64(g, N), nt_to_f64(u, N), nt_to_f64(da, N) };
	nt_fd_grad(swiglu_loss, &f, f.g, N, gr);
	nt_check_grad(t, "dg", dg, gr, N, GRAD_REL);
	nt_fd_grad(swiglu_loss, &f, f.u, N, gr);
	nt_check_grad(t, "du", du, gr, N, GRAD_REL);
	free(f.g), free(f.u), free(f.r);

	float big[4] = { -1000, -100, 100, 1000 }, one[4] = { 1, 1, 1, 1 }, ab[4], dgb[4];
	LT_CHECK(t, !nn_swiglu_forward(1, 4, big, one, ab), "%s", loom_err_msg());
	LT_CHECK(t, !nn_swiglu_backward(1, 4, big, one, one, dgb, NULL), "%s", loom_err_msg());
	for (int i = 0; i < 4; i++)
		LT_CHECK(t, isfinite(ab[i]) && isfinite(dgb[i]), "g=%g: a=%g dg=%g",
			 (double)big[i], (double)ab[i], (double)dgb[i]);
	LT_CHECK(t, ab[3] == 1000.0f && dgb[3] == 1.0f && ab[0] == 0.0f && dgb[0] == 0.0f);
}

/* ---- cross-entropy ------------------------------------------------------- */

static double ref_ce_row(int V, const double *x, int target)
{
	double m = x[0], s = 0;

	for (int i = 1; i < V; i++)
		m = fmax(m, x[i]);
	for (int i = 0; i < V; i++)
		s += exp(x[i] - m);
	return m + log(s) - x[target];
}

struct ce_fd {
	int T, V;
	const int32_t *target;
	double scale, *x;
};

static double ce_loss(void *ctx)
{
	struct ce_fd *f = ctx;
	double L = 0;

	for (int t = 0; t < f->T; t++)
		L += ref_ce_row(f->V, f->x + (size_t)t * f->V, f->target[t]);
	return L * f->scale;
}

/* Forward within 2 (V + 8) u (1 + max|x|) (a V-term FP32 sum of exps, a log
 * and two subtractions of values up to max|x|); backward (with the caller's
 * scale) against FD of scale * sum of the float64 losses. */
static void test_cross_entropy(struct lt *t)
{
	enum { T = 4, V = 50, N = T * V };
	static const int32_t target[T] = { 0, 49, 17, 17 };
	struct loom_rng r = rng_for(t);
	float x[N], loss[T], dx[N];
	double want[T], g[N], scale = 1.0 / 12.0;

	nt_fill(x, N, &r, 8.0);
	nt_poison(dx, N);
	LT_CHECK(t, !nn_cross_entropy_forward(T, V, x, target, loss), "%s", loom_err_msg());
	LT_CHECK(t, !nn_cross_entropy_backward(T, V, x, target, (float)scale, dx), "%s",
		 loom_err_msg());
	struct ce_fd f = { T, V, target, (double)(float)scale, nt_to_f64(x, N) };
	for (int i = 0; i < T; i++)
		want[i] = ref_ce_row(V, f.x + i * V, target[i]);
	close_f32(t, "loss", loss, want, T, 2.0 * (V + 8) * U32 * 9.0, 0);
	nt_fd_grad(ce_loss, &f, f.x, N, g);
	nt_check_grad(t, "dlogits", dx, g, N, GRAD_REL);
	free(f.x);
}

/* Uniform logits give log V (to a few u of log V); logits 1e4 apart give 0
 * loss and exact one-hot gradients (no overflow); a NaN logit gives a NaN
 * loss (documented, not an error). */
static void test_cross_entropy_edges(struct lt *t)
{
	static const int vs[] = { 1, 2, 256, 50257 };
	float *x = falloc(50257), loss, d[3];
	int32_t tg = 0;

	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		for (int j = 0; j < vs[i]; j++)
			x[j] = 0.7f;
		tg = vs[i] - 1;
		LT_CHECK(t, !nn_cross_entropy_forward(1, vs[i], x, &tg, &loss), "%s",
			 loom_err_msg());
		LT_CHECK(t, fabs(loss - log(vs[i])) <= 8 * U32 * (log(vs[i]) + 1),
			 "V=%d: loss %.9g, log V %.9g", vs[i], (double)loss, log(vs[i]));
	}
	float far[3] = { 1e4f, -1e4f, 0.0f };
	tg = 0;
	LT_CHECK(t, !nn_cross_entropy_forward(1, 3, far, &tg, &loss));
	LT_CHECK(t, !nn_cross_entropy_backward(1, 3, far, &tg, 1.0f, d));
	LT_CHECK(t, loss == 0.0f && d[0] == 0.0f && d[1] == 0.0f && d[2] == 0.0f,
		 "loss %g d %g %g %g", (double)loss, (double)d[0], (double)d[1], (double)d[2]);
	tg = 1;
	LT_CHECK(t, !nn_cross_entropy_forward(1, 3, far, &tg, &loss));
	LT_CHECK(t, !nn_cross_entropy_backward(1, 3, far, &tg, 0.5f, d));
	LT_CHECK(t, loss == 2e4f && d[0] == 0.5f && d[1] == -0.5f && d[2] == 0.0f,
		 "loss %g d %g %g %g", (double)loss, (double)d[0], (double)d[1], (double)d[2]);
	far[2] = NAN;
	LT_CHECK(t, !nn_cross_entropy_forward(1, 3, far, &tg, &loss));
	LT_CHECK(t, isnan(loss));
	free(x);
}

/* ---- row independence ---------------------------------------------------- */

/* Every output row of the row-wise layers, for T = 10 rows, equals bit for
 * bit the row computed in calls of 3 and 7 rows. */
static void test_rowwise_split(struct lt *t)
{
	enum { T = 10, D = 19, N = T * D, C = 3 };
	static const int32_t tg[T] = { 1, 5, 18, 0, 2, 2, 7, 11, 3, 4 };
	struct loom_rng r = rng_for(t);
	float x[N], u[N], w[D], dy[N], a[2][N], b[2][N], rs[2][T], l[2][T];

	nt_fill(x, N, &r, 3.0);
	nt_fill(u, N, &r, 1.0);
	nt_fill(w, D, &r, 1.0);
	nt_fill(dy, N, &r, 1.0);
	for (int s = 0; s < 2; s++) { /* s = 0: one call; s = 1: rows [0, 3) and [3, 10) */
		for (int p = 0; p < 1 + s; p++) {
			int r0 = s ? (p ? C : 0) : 0, n = s ? (p ? T - C : C) : T;
			size_t o = (size_t)r0 * D;

			LT_CHECK(t,
				 !nn_rmsnorm_forward(n, D, 1e-6f, x + o, w, a[s] + o, rs[s] + r0));
			LT_CHECK(t, !nn_rmsnorm_backward(n, D, x + o, w, rs[s] + r0, dy + o,
							 b[s] + o, NULL));
		}
	}
	nt_same_bits(t, "rmsnorm y", a[0], a[1], N);
	nt_same_bits(t, "rmsnorm rstd", rs[0], rs[1], T);
	nt_same_bits(t, "rmsnorm dx", b[0], b[1], N);
	for (int s = 0; s < 2; s++)
		for (int p = 0; p < 1 + s; p++) {
			int r0 = s ? (p ? C : 0) : 0, n = s ? (p ? T - C : C) : T;
			size_t o = (size_t)r0 * D;

			LT_CHECK(t, !nn_swiglu_forward(n, D, x + o, u + o, a[s] + o));
			LT_CHECK(t, !nn_cross_entropy_forward(n, D, x + o, tg + r0, l[s] + r0));
			LT_CHECK(t,
				 !nn_cross_entropy_backward(n, D, x + o, tg + r0, 0.1f, b[s] + o));
		}
	nt_same_bits(t, "swiglu", a[0], a[1], N);
	nt_same_bits(t, "ce loss", l[0], l[1], T);
	nt_same_bits(t, "ce dlogits", b[0], b[1], N);
}

/* RoPE and attention split at a sequence boundary: B = 3 sequences in one
 * call equal sequence 0 alone plus sequences 1-2 in a second call. */
static void test_sequence_split(struct lt *t)
{
	struct attn_dims a = { 3, 9, 2, 20 };
	struct attn_case c, c1, c2;
	size_t n = attn_n(&a), n1 = n / 3, l1 = (size_t)a.S * a.H;

	attn_case_init(&c, t, a, 1.0);
	attn_case_run(t, &c);
	/* c1 = sequence 0, c2 = sequences 1, 2 (the same data) */
	attn_case_init(&c1, t, (struct attn_dims){ 1, 9, 2, 20 }, 1.0);
	attn_case_init(&c2, t, (struct attn_dims){ 2, 9, 2, 20 }, 1.0);
	float *src[4] = { c.q, c.k, c.v, c.dout }, *d1[4] = { c1.q, c1.k, c1.v, c1.dout },
	      *d2[4] = { c2.q, c2.k, c2.v, c2.dout };
	for (int i = 0; i < 4; i++) {
		memcpy(d1[i], src[i], n1 * sizeof(float));
		memcpy(d2[i], src[i] + n1, 2 * n1 * sizeof(float));
	}
	attn_case_run(t, &c1);
	attn_case_run(t, &c2);
	float *full[5] = { c.o, c.dq, c.dk, c.dv, c.lse };
	float *p1[5] = { c1.o, c1.dq, c1.dk, c1.dv, c1.lse };
	float *p2[5] = { c2.o, c2.dq, c2.dk, c2.dv, c2.lse };
	for (int i = 0; i < 5; i++) {
		size_t m = i == 4 ? l1 : n1;

		nt_same_bits(t, "attention seq 0", full[i], p1[i], m);
		nt_same_bits(t, "attention seq 1-2", full[i] + m, p2[i], 2 * m);
	}
	/* RoPE on q: rows 0..8 then 9..26 */
	LT_CHECK(t, !nn_rope(27, 9, 2, 20, 10000.0f, 0, c.q));
	LT_CHECK(t, !nn_rope(9, 9, 2, 20, 10000.0f, 0, c1.q));
	LT_CHECK(t, !nn_rope(18, 9, 2, 20, 10000.0f, 0, c2.q));
	nt_same_bits(t, "rope seq 0", c.q, c1.q, n1);
	nt_same_bits(t, "rope seq 1-2", c.q + n1, c2.q, 2 * n1);
	attn_case_free(&c);
	attn_case_free(&c1);
	attn_case_free(&c2);
}

/* ---- edges --------------------------------------------------------------- */

static void test_bad_args(struct lt *t)
{
	float x[16] = { 0 }, y[16], w[16] = { 0 }, rs[4];
	int32_t ok[2] = { 0, 1 }, bad[2] = { 0, 4 }, neg[2] = { -1, 0 };

	LT_CHECK(t, nn_embedding_forward(0, 4, 2, ok, x, y) == -EINVAL);
	LT_CHECK(t, nn_embedding_forward(2, 0, 2, ok, x, y) == -EINVAL);
	LT_CHECK(t, nn_embedding_forward(2, 4, -2, ok, x, y) == -EINVAL);
	LT_CHECK(t, nn_embedding_forward(2, 4, 2, bad, x, y) == -EINVAL);
	LT_CHECK(t, strstr(loom_err_msg(), "token 4") != NULL, "msg: %s", loom_err_msg());
	LT_CHECK(t, nn_embedding_backward(2, 4, 2, neg, x, y) == -EINVAL);
	LT_CHECK(t, nn_embedding_forward(2, 4, 2, NULL, x, y) == -EINVAL);
	LT_CHECK(t, nn_embedding_backward(2, 4, 2, ok, NULL, y) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_forward(2, 0, 1e-5f, x, w, y, rs) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_forward(2, 2, -1.0f, x, w, y, rs) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_forward(2, 2, NAN, x, w, y, rs) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_forward(2, 2, 1e-5f, NULL, w, y, rs) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_backward(2, 2, x, w, NULL, x, y, y) == -EINVAL);
	LT_CHECK(t, nn_rmsnorm_backward(-1, 2, x, w, rs, x, y, y) == -EINVAL);
	LT_CHECK(t, nn_rope(4, 2, 1, 3, 10000.0f, 0, x) == -EINVAL); /* odd Dh */
	LT_CHECK(t, nn_rope(4, 0, 1, 2, 10000.0f, 0, x) == -EINVAL);
	LT_CHECK(t, nn_rope(4, 2, 1, 2, 0.0f, 0, x) == -EINVAL);
	LT_CHECK(t, nn_rope(4, 2, 1, 2, INFINITY, 0, x) == -EINVAL);
	LT_CHECK(t, nn_rope(4, 2, 1, 2, 10000.0f, 0, NULL) == -EINVAL);
	LT_CHECK(t, nn_attention_forward(0, 2, 1, 2, x, x, x, y, rs) == -EINVAL);
	LT_CHECK(t, nn_attention_forward(1, 2, 1, -2, x, x, x, y, rs) == -EINVAL);
	LT_CHECK(t, nn_attention_forward(1, 2, 1, 2, x, NULL, x, y, rs) == -EINVAL);
	LT_CHECK(t, nn_attention_forward(65536, 65536, 1, 2, x, x, x, y, rs) == -EINVAL);
	LT_CHECK(t, nn_attention_backward(1, 2, 1, 2, x, x, x, x, NULL, x, y, y, y) == -EINVAL);
	LT_CHECK(t, nn_attention_backward(1, 0, 1, 2, x, x, x, x, rs, x, y, y, y) == -EINVAL);
	LT_CHECK(t, nn_swiglu_forward(1, 0, x, x, y) == -EINVAL);
	LT_CHECK(t, nn_swiglu_forward(1, 2, x, NULL, y) == -EINVAL);
	LT_CHECK(t, nn_swiglu_backward(1, 2, x, x, NULL, y, y) == -EINVAL);
	LT_CHECK(t, nn_cross_entropy_forward(2, 0, x, ok, y) == -EINVAL);
	LT_CHECK(t, nn_cross_entropy_forward(2, 4, x, bad, y) == -EINVAL);
	LT_CHECK(t, nn_cross_entropy_backward(2, 4, x, neg, 1.0f, y) == -EINVAL);
	LT_CHECK(t, nn_cross_entropy_backward(2, 4, x, ok, 1.0f, NULL) == -EINVAL);
	LT_CHECK(t, nn_cross_entropy_forward(2, 4, NULL, ok, y) == -EINVAL);
	/* Not errors: the optional outputs may be NULL. */
	LT_CHECK(t, nn_rmsnorm_forward(2, 2, 1e-5f, x, w, y, NULL) == 0);
	LT_CHECK(t, nn_attention_forward(1, 2, 1, 2, x, x, x, y, NULL) == 0);
	LT_CHECK(t, nn_swiglu_backward(1, 2, x, x, x, NULL, NULL) == 0);
}

static void test_add(struct lt *t)
{
	float a[5] = { 1, 2, 3, 4, 5 }, b[5] = { 0.5f, -2, 1e30f, -4, 0 }, y[5];

	nn_add(y, a, b, 5);
	LT_CHECK(t, y[0] == 1.5f && y[1] == 0.0f && y[2] == 1e30f && y[3] == 0.0f && y[4] == 5);
	nn_add(a, a, b, 5); /* y aliasing a */
	nt_same_bits(t, "aliased", a, y, 5);
	nn_add(NULL, NULL, NULL, 0); /* n = 0 touches nothing */
}

static const struct lt_case cases[] = {
	LT_CASE(test_expf),
	LT_CASE(test_embedding),
	LT_CASE(test_rmsnorm),
	LT_CASE(test_rope),
	LT_CASE(test_attention_forward),
	LT_CASE(test_attention_backward_fd),
	LT_CASE(test_attention_causal),
	LT_CASE(test_swiglu),
	LT_CASE(test_cross_entropy),
	LT_CASE(test_cross_entropy_edges),
	LT_CASE(test_rowwise_split),
	LT_CASE(test_sequence_split),
	LT_CASE(test_bad_args),
	LT_CASE(test_add),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

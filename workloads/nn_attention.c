/*
 * nn_attention.c - rotary position embedding and causal multi-head
 * attention of include/loom/nn.h, forward and backward, in FP32.
 *
 * Attention is the plain two-pass softmax per query row (scores, then
 * e^(s - max) and the weighted sum of V), with the log-sum-exp saved so the
 * backward recomputes the probabilities instead of storing the (S, S)
 * matrix:  p_ij = e^(s_ij - lse_i),  D_i = dout_i . o_i,
 *   ds_ij = p_ij (dout_i . v_j - D_i),  dq_i = c sum_j ds_ij k_j,
 *   dk_j = c sum_i ds_ij q_i,  dv_j = sum_i p_ij dout_i     (c = 1/sqrt(Dh)),
 * dk and dv from P and dS kept (transposed) for one (sequence, head).
 * Every sum runs in an order fixed by the sizes within one (sequence, head)
 * (scores over d in order, formed 64 keys at a time from K transposed;
 * softmax sums in nn_sum_f32's lane order; weighted sums over j or i in
 * index order), so each output depends only on its own sequence.  e^x is
 * nn_expf (nn_internal.h), which vectorizes.  Allocates per call: RoPE's
 * (min(T, S), Dh) cos/sin table and attention's per-(sequence, head)
 * scratch (-ENOMEM).  Not here: MLA's latent projections (the linear layers
 * around this core belong to the model), dropout, masks other than causal,
 * or threads.
 *
 * Layout: q, k, v, o (T, H * Dh), T = B * S, head h of row t at
 * t * H * Dh + h * Dh; lse (T, H).
 */
#include "loom/nn.h"

#include "loom/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---- RoPE ---------------------------------------------------------------- */

/* cs[pos][i] = (cos a, sin a) in FP32, a = pos * theta^(-2i/Dh) in double,
 * for pos < np positions; sin negated for the inverse. */
static void rope_table(float *cs, int np, int Dh, double theta, int inverse)
{
	for (int pos = 0; pos < np; pos++)
		for (int i = 0; i < Dh / 2; i++) {
			double a = pos * pow(theta, -2.0 * i / Dh);
			float *e = cs + ((size_t)pos * (Dh / 2) + i) * 2;

			e[0] = (float)cos(a);
			e[1] = (float)(inverse ? -sin(a) : sin(a));
		}
}

/* Rotate the Dh/2 pairs of each of the H heads of one row by cs (Dh/2 pairs). */
static void rope_row(float *x, int H, int Dh, const float *cs)
{
	for (int h = 0; h < H; h++) {
		float *p = x + (size_t)h * Dh;

		for (int i = 0; i < Dh / 2; i++) {
			float c = cs[2 * i], s = cs[2 * i + 1], x0 = p[2 * i], x1 = p[2 * i + 1];

			p[2 * i] = x0 * c - x1 * s;
			p[2 * i + 1] = x0 * s + x1 * c;
		}
	}
}

int nn_rope(int T, int S, int H, int Dh, float theta, int inverse, float *x)
{
	int np = T < S ? T : S; /* positions that occur */
	float *cs;

	if (T <= 0 || S <= 0 || H <= 0 || Dh <= 0 || Dh % 2)
		return loom_err_set(EINVAL, "nn_rope: T=%d S=%d H=%d Dh=%d: sizes must be > 0, "
					    "Dh even", T, S, H, Dh);
	if (!(theta > 0.0f) || isinf(theta))
		return loom_err_set(EINVAL, "nn_rope: theta=%g must be finite and > 0",
				    (double)theta);
	if (!x)
		return loom_err_set(EINVAL, "nn_rope: NULL x");
	cs = malloc((size_t)np * Dh * sizeof(float));
	if (!cs)
		return loom_err_set(ENOMEM, "nn_rope: table of %d x %d", np, Dh);
	rope_table(cs, np, Dh, theta, inverse);
	for (int t = 0; t < T; t++)
		rope_row(x + (size_t)t * H * Dh, H, Dh, cs + (size_t)(t % S) * Dh);
	free(cs);
	return 0;
}

/* ---- attention ----------------------------------------------------------- */

/* Row t, head h of a (T, H * Dh) tensor. */
struct attn_view {
	int S, H, Dh;
	size_t ld; /* H * Dh */
};

static inline size_t at(const struct attn_view *v, int b, int i, int h)
{
	return ((size_t)b * v->S + i) * v->ld + (size_t)h * v->Dh;
}

static int attn_check(const char *fn, int B, int S, int H, int Dh)
{
	if (B <= 0 || S <= 0 || H <= 0 || Dh <= 0)
		return loom_err_set(EINVAL, "%s: B=%d S=%d H=%d Dh=%d must be > 0", fn, B, S, H,
				    Dh);
	if ((long long)B * S > 0x7fffffff || (long long)H * Dh > 0x7fffffff)
		return loom_err_set(EINVAL, "%s: B*S or H*Dh overflows int", fn);
	return 0;
}

/*
 * Scratch for one (sequence, head): K and V of the sequence transposed to
 * (Dh, Sp), Sp = S rounded up to 64 with zero columns, so that a query's
 * scores against all keys are formed 64 keys at a time in registers (each
 * still summed over d in order 0..Dh-1, the same in forward and backward);
 * rows (Sp) for scores and probabilities; and for the backward P and dS
 * transposed, (S, Sp): pt[j][i] = p_ij, dst[j][i] = c ds_ij, so that dk_j
 * and dv_j are sums over i >= j of contiguous weights.
 */
#define ATTN_KEYS 64 /* keys per block of scores */

struct attn_scratch {
	int Sp;
	float *kt, *vt; /* (Dh, Sp) */
	float *s, *p;	/* (Sp) */
	float *pt, *dst; /* (S, Sp), backward only */
};

static int attn_scratch_alloc(struct attn_scratch *w, int S, int Dh, int backward,
			      const char *fn)
{
	size_t Sp = ((size_t)S + ATTN_KEYS - 1) / ATTN_KEYS * ATTN_KEYS, n = Sp * Dh;
	size_t nb = backward ? 2 * (size_t)S * Sp : 0;

	w->Sp = (int)Sp;
	w->kt = calloc(2 * n + 2 * Sp + nb, sizeof(float)); /* the padding columns stay 0 */
	if (!w->kt)
		return loom_err_set(ENOMEM, "%s: scratch for S=%d Dh=%d", fn, S, Dh);
	w->vt = w->kt + n;
	w->s = w->vt + n;
	w->p = w->s + Sp;
	w->pt = w->p + Sp;
	w->dst = w->pt + (size_t)S * Sp;
	return 0;
}

/* dst (Dh, Sp) = head h of sequence b of x, transposed. */
static void transpose_head(const struct attn_view *v, const float *x, int b, int h, float *dst,
			  int Sp)
{
	for (int j = 0; j < v->S; j++) {
		const float *r = x + at(v, b, j, h);

		for (int d = 0; d < v->Dh; d++)
			dst[(size_t)d * Sp + j] = r[d];
	}
}

/* s[j] = c * sum_d x[d] yt[d][j] for j < n (rounded up to 64), d in order;
 * yt is (Dh, Sp).  Four 16-key accumulators in flight hide the add latency. */
static void row_dots(const float *x, const float *yt, int Sp, int Dh, int n, float c, float *s)
{
	for (int j0 = 0; j0 < n; j0 += ATTN_KEYS) {
		float acc[ATTN_KEYS] = { 0 };

		for (int d = 0; d < Dh; d++)
			for (int l = 0; l < ATTN_KEYS; l++)
				acc[l] += x[d] * yt[(size_t)d * Sp + j0 + l];
		for (int l = 0; l < ATTN_KEYS; l++)
			s[j0 + l] = acc[l] * c;
	}
}

/* y[d] = sum_j w[j] x_j[d] for j < n in order from 0, x_j = x + j * ld,
 * d < Dh; 16 columns at a time in registers. */
static void weighted_rows(float *y, const float *w, const float *x, size_t ld, int n, int Dh)
{
	int d0 = 0;

	for (; d0 + NN_LANES <= Dh; d0 += NN_LANES) {
		float acc[NN_LANES] = { 0 };

		for (int j = 0; j < n; j++)
			for (int l = 0; l < NN_LANES; l++)
				acc[l] += w[j] * x[j * ld + d0 + l];
		memcpy(y + d0, acc, sizeof(acc));
	}
	for (int d = d0; d < Dh; d++) {
		float a = 0.0f;

		for (int j = 0; j < n; j++)
			a += w[j] * x[j * ld + d];
		y[d] = a;
	}
}

/* o row i and lse for one query row of sequence b, head h. */
static void attn_forward_row(const struct attn_view *v, const struct attn_scratch *w, int b,
			     int h, int i, const float *q, const float *vv, float *o, float *lse)
{
	float *oi = o + at(v, b, i, h), m, l;

	row_dots(q + at(v, b, i, h), w->kt, w->Sp, v->Dh, i + 1, 1.0f / sqrtf((float)v->Dh),
		 w->s);
	m = nn_max_f32(w->s, i + 1);
	for (int j = 0; j <= i; j++)
		w->p[j] = nn_expf(w->s[j] - m);
	l = nn_sum_f32(w->p, i + 1);
	weighted_rows(oi, w->p, vv + at(v, b, 0, h), v->ld, i + 1, v->Dh);
	for (int d = 0; d < v->Dh; d++)
		oi[d] /= l;
	if (lse)
		lse[((size_t)b * v->S + i) * v->H + h] = m + logf(l);
}

int nn_attention_forward(int B, int S, int H, int Dh, const float *q, const float *k,
			 const float *v, float *o, float *lse)
{
	struct attn_view av = { S, H, Dh, (size_t)H * Dh };
	struct attn_scratch w = { 0 };
	int rc = attn_check("nn_attention_forward", B, S, H, Dh);

	if (rc)
		return rc;
	if (!q || !k || !v || !o)
		return loom_err_set(EINVAL, "nn_attention_forward: NULL q, k, v or o");
	if ((rc = attn_scratch_alloc(&w, S, Dh, 0, "nn_attention_forward")))
		return rc;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++) {
			transpose_head(&av, k, b, h, w.kt, w.Sp);
			for (int i = 0; i < S; i++)
				attn_forward_row(&av, &w, b, h, i, q, v, o, lse);
		}
	free(w.kt);
	return 0;
}

/* What the backward reads and writes; any gradient may be NULL. */
struct attn_grads {
	const float *q, *k, *v, *o, *lse, *dout;
	float *dq, *dk, *dv;
};

/* One query row i of sequence b, head h: dq_i, and column i of P and dS. */
static void attn_backward_row(const struct attn_view *v, const struct attn_scratch *w,
			      const struct attn_grads *g, int b, int h, int i)
{
	int Dh = v->Dh, Sp = w->Sp;
	const float *qi = g->q + at(v, b, i, h), *doi = g->dout + at(v, b, i, h);
	float c = 1.0f / sqrtf((float)Dh);
	float lse = g->lse[((size_t)b * v->S + i) * v->H + h];
	float Di = nn_dot_f32(doi, g->o + at(v, b, i, h), Dh);

	row_dots(qi, w->kt, Sp, Dh, i + 1, c, w->s);	  /* scores, as in the forward */
	row_dots(doi, w->vt, Sp, Dh, i + 1, 1.0f, w->p); /* dout_i . v_j */
	for (int j = 0; j <= i; j++) {
		float p = nn_expf(w->s[j] - lse);

		w->p[j] = p * (w->p[j] - Di) * c; /* c ds_ij */
		w->pt[(size_t)j * Sp + i] = p;
		w->dst[(size_t)j * Sp + i] = w->p[j];
	}
	if (g->dq)
		weighted_rows(g->dq + at(v, b, i, h), w->p, g->k + at(v, b, 0, h), v->ld, i + 1,
			      Dh);
}

/* dk_j = sum_{i >= j} c ds_ij q_i and dv_j = sum_{i >= j} p_ij dout_i, i in order. */
static void attn_backward_kv(const struct attn_view *v, const struct attn_scratch *w,
			     const struct attn_grads *g, int b, int h)
{
	for (int j = 0; j < v->S; j++) {
		size_t col = (size_t)j * w->Sp + j; /* row j of P^T and dS^T, from i = j */
		const float *pw = w->pt + col, *dw = w->dst + col;

		if (g->dk)
			weighted_rows(g->dk + at(v, b, j, h), dw, g->q + at(v, b, j, h), v->ld,
				      v->S - j, v->Dh);
		if (g->dv)
			weighted_rows(g->dv + at(v, b, j, h), pw, g->dout + at(v, b, j, h), v->ld,
				      v->S - j, v->Dh);
	}
}

int nn_attention_backward(int B, int S, int H, int Dh, const float *q, const float *k,
			  const float *v, const float *o, const float *lse, const float *dout,
			  float *dq, float *dk, float *dv)
{
	struct attn_view av = { S, H, Dh, (size_t)H * Dh };
	struct attn_grads g = { q, k, v, o, lse, dout, dq, dk, dv };
	struct attn_scratch w = { 0 };
	int rc = attn_check("nn_attention_backward", B, S, H, Dh);

	if (rc)
		return rc;
	if (!q || !k || !v || !o || !lse || !dout)
		return loom_err_set(EINVAL, "nn_attention_backward: NULL q, k, v, o, lse or dout");
	if ((rc = attn_scratch_alloc(&w, S, Dh, 1, "nn_attention_backward")))
		return rc;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++) {
			transpose_head(&av, k, b, h, w.kt, w.Sp);
			transpose_head(&av, v, b, h, w.vt, w.Sp);
			for (int i = 0; i < S; i++)
				attn_backward_row(&av, &w, &g, b, h, i);
			attn_backward_kv(&av, &w, &g, b, h);
		}
	free(w.kt);
	return 0;
}

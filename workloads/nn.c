/*
 * nn.c - the row-wise layers of include/loom/nn.h: embedding, RMSNorm,
 * SwiGLU, cross-entropy and the elementwise add, forward and backward, in
 * FP32.  (Linear layers: nn_linear.c; RoPE and attention: nn_attention.c.)
 *
 * Determinism: every reduction over a row runs in an order fixed by the row
 * length (nn_internal.h's 16 lanes); reductions over rows (the weight
 * gradients of embedding and RMSNorm) run in row order 0..T-1.  e^x is
 * nn_expf (within 1 ulp, vectorizes; libm's expf does not).  No threads,
 * no allocation.
 *
 * Non-finite input is not an error: NaN and inf propagate through the
 * arithmetic like in any FP32 code (a NaN logit gives a NaN loss).
 */
#include "loom/nn.h"

#include "loom/err.h"

#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* ---- embedding ----------------------------------------------------------- */

static int embedding_check(const char *fn, int T, int V, int d, const int32_t *tok)
{
	if (T <= 0 || V <= 0 || d <= 0)
		return loom_err_set(EINVAL, "%s: T=%d V=%d d=%d must be > 0", fn, T, V, d);
	if (!tok)
		return loom_err_set(EINVAL, "%s: NULL tokens", fn);
	for (int t = 0; t < T; t++)
		if (tok[t] < 0 || tok[t] >= V)
			return loom_err_set(EINVAL, "%s: token %d at row %d is not in [0, %d)", fn,
					    tok[t], t, V);
	return 0;
}

int nn_embedding_forward(int T, int V, int d, const int32_t *tok, const float *table, float *y)
{
	int rc = embedding_check("nn_embedding_forward", T, V, d, tok);

	if (rc)
		return rc;
	if (!table || !y)
		return loom_err_set(EINVAL, "nn_embedding_forward: NULL table or y");
	for (int t = 0; t < T; t++)
		memcpy(y + (size_t)t * d, table + (size_t)tok[t] * d, (size_t)d * sizeof(float));
	return 0;
}

int nn_embedding_backward(int T, int V, int d, const int32_t *tok, const float *dy,
			  float *dtable)
{
	int rc = embedding_check("nn_embedding_backward", T, V, d, tok);

	if (rc)
		return rc;
	if (!dy || !dtable)
		return loom_err_set(EINVAL, "nn_embedding_backward: NULL dy or dtable");
	memset(dtable, 0, (size_t)V * d * sizeof(float));
	for (int t = 0; t < T; t++) /* row order: a fixed summation order per table row */
		nn_axpy_f32(dtable + (size_t)tok[t] * d, 1.0f, dy + (size_t)t * d, d);
	return 0;
}

/* ---- RMSNorm ------------------------------------------------------------- */

int nn_rmsnorm_forward(int T, int d, float eps, const float *x, const float *w, float *y,
		       float *rstd)
{
	if (T <= 0 || d <= 0 || !(eps >= 0.0f))
		return loom_err_set(EINVAL, "nn_rmsnorm_forward: T=%d d=%d eps=%g: sizes must be "
					    "> 0 and eps >= 0", T, d, (double)eps);
	if (!x || !w || !y)
		return loom_err_set(EINVAL, "nn_rmsnorm_forward: NULL x, w or y");
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * d;
		float *yr = y + (size_t)t * d;
		float r = 1.0f / sqrtf(nn_dot_f32(xr, xr, d) / (float)d + eps);

		for (int i = 0; i < d; i++)
			yr[i] = xr[i] * r * w[i];
		if (rstd)
			rstd[t] = r;
	}
	return 0;
}

/*
 * With g = w * dy and r = rstd:  dx = r g - x r^3 (x . g) / d,
 * dw[i] = sum over rows of dy[i] x[i] r.
 */
static void rmsnorm_dx_row(int d, const float *x, const float *w, float r, const float *dy,
			   float *dx)
{
	float xg = nn_dot3_f32(x, w, dy, d);
	float c = r * r * r * xg / (float)d;

	for (int i = 0; i < d; i++)
		dx[i] = r * (w[i] * dy[i]) - c * x[i];
}

int nn_rmsnorm_backward(int T, int d, const float *x, const float *w, const float *rstd,
			const float *dy, float *dx, float *dw)
{
	if (T <= 0 || d <= 0)
		return loom_err_set(EINVAL, "nn_rmsnorm_backward: T=%d d=%d must be > 0", T, d);
	if (!x || !rstd || !dy || (dx && !w))
		return loom_err_set(EINVAL, "nn_rmsnorm_backward: NULL x, w, rstd or dy");
	if (dw)
		memset(dw, 0, (size_t)d * sizeof(float));
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * d, *dyr = dy + (size_t)t * d;

		if (dx)
			rmsnorm_dx_row(d, xr, w, rstd[t], dyr, dx + (size_t)t * d);
		if (dw)
			for (int i = 0; i < d; i++)
				dw[i] += dyr[i] * (xr[i] * rstd[t]);
	}
	return 0;
}

/* ---- SwiGLU -------------------------------------------------------------- */

/* sigmoid(g) = 1 / (1 + e^-g): e^-g = inf for g < -88 gives 0, no NaN. */
static inline float sigmoidf(float g) { return 1.0f / (1.0f + nn_expf(-g)); }

static int swiglu_check(const char *fn, int T, int h, const void *g, const void *u)
{
	if (T <= 0 || h <= 0)
		return loom_err_set(EINVAL, "%s: T=%d h=%d must be > 0", fn, T, h);
	if (!g || !u)
		return loom_err_set(EINVAL, "%s: NULL g or u", fn);
	return 0;
}

int nn_swiglu_forward(int T, int h, const float *g, const float *u, float *a)
{
	int rc = swiglu_check("nn_swiglu_forward", T, h, g, u);
	size_t n = (size_t)T * h;

	if (rc)
		return rc;
	if (!a)
		return loom_err_set(EINVAL, "nn_swiglu_forward: NULL a");
	for (size_t i = 0; i < n; i++)
		a[i] = g[i] * sigmoidf(g[i]) * u[i];
	return 0;
}

/* d silu(g) / dg = s (1 + g (1 - s)), s = sigmoid(g). */
int nn_swiglu_backward(int T, int h, const float *g, const float *u, const float *da,
		       float *dg, float *du)
{
	int rc = swiglu_check("nn_swiglu_backward", T, h, g, u);
	size_t n = (size_t)T * h;

	if (rc)
		return rc;
	if (!da)
		return loom_err_set(EINVAL, "nn_swiglu_backward: NULL da");
	for (size_t i = 0; i < n; i++) {
		float s = sigmoidf(g[i]);

		if (dg)
			dg[i] = da[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
		if (du)
			du[i] = da[i] * (g[i] * s);
	}
	return 0;
}

/* ---- cross-entropy ------------------------------------------------------- */

static int ce_check(const char *fn, int T, int V, const float *logits, const int32_t *target)
{
	if (T <= 0 || V <= 0)
		return loom_err_set(EINVAL, "%s: T=%d V=%d must be > 0", fn, T, V);
	if (!logits || !target)
		return loom_err_set(EINVAL, "%s: NULL logits or target", fn);
	for (int t = 0; t < T; t++)
		if (target[t] < 0 || target[t] >= V)
			return loom_err_set(EINVAL, "%s: target %d at row %d is not in [0, %d)", fn,
					    target[t], t, V);
	return 0;
}

/* max of a row and sum of e^(x - max), FP32, nn_sum_f32's lane order. */
static void row_softmax_stats(const float *x, int V, float *mx, float *sum)
{
	float m = nn_max_f32(x, V), acc[NN_LANES] = { 0 };
	int i = 0;

	for (; i + NN_LANES <= V; i += NN_LANES)
		for (int l = 0; l < NN_LANES; l++)
			acc[l] += nn_expf(x[i + l] - m);
	for (int l = 0; i + l < V; l++)
		acc[l] += nn_expf(x[i + l] - m);
	*mx = m;
	*sum = nn_sum_f32(acc, NN_LANES);
}

int nn_cross_entropy_forward(int T, int V, const float *logits, const int32_t *target,
			     float *loss)
{
	int rc = ce_check("nn_cross_entropy_forward", T, V, logits, target);

	if (rc)
		return rc;
	if (!loss)
		return loom_err_set(EINVAL, "nn_cross_entropy_forward: NULL loss");
	for (int t = 0; t < T; t++) {
		const float *x = logits + (size_t)t * V;
		float m, s;

		row_softmax_stats(x, V, &m, &s);
		loss[t] = (m + logf(s)) - x[target[t]];
	}
	return 0;
}

/* The exps are kept in dlogits and summed in the same lane order as the
 * forward's, so both see the same sum. */
int nn_cross_entropy_backward(int T, int V, const float *logits, const int32_t *target,
			      float scale, float *dlogits)
{
	int rc = ce_check("nn_cross_entropy_backward", T, V, logits, target);

	if (rc)
		return rc;
	if (!dlogits)
		return loom_err_set(EINVAL, "nn_cross_entropy_backward: NULL dlogits");
	for (int t = 0; t < T; t++) {
		const float *x = logits + (size_t)t * V;
		float *dx = dlogits + (size_t)t * V;
		float m = nn_max_f32(x, V), s, et;

		for (int i = 0; i < V; i++)
			dx[i] = nn_expf(x[i] - m);
		s = nn_sum_f32(dx, V);
		et = dx[target[t]];
		for (int i = 0; i < V; i++)
			dx[i] = dx[i] / s * scale;
		dx[target[t]] = (et / s - 1.0f) * scale;
	}
	return 0;
}

/* ---- elementwise --------------------------------------------------------- */

void nn_add(float *y, const float *a, const float *b, long n)
{
	for (long i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

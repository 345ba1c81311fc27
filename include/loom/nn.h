/*
 * nn.h - the layers of the live workload (workloads/): forward and backward
 * of each, on row-major FP32 tensors, with the FP8 recipe of REFERENCE §1
 * for the linear layers.
 *
 * Shapes: T tokens (rows); a batch of B sequences of S tokens is T = B * S
 * rows, sequence b's tokens at rows [b*S, (b+1)*S). A linear layer's weight
 * is W (out, in), y = x W^T.
 *
 * Determinism contract (the workload's bit-identical expert and data
 * parallelism rests on it):
 *  - row independence: every forward output row, and every input-gradient
 *    row, depends only on the same row (or the same sequence, for attention)
 *    of the inputs and on the weights -- never on T or on other rows, so
 *    splitting a batch across calls gives the same bits;
 *  - weight gradients are written (not accumulated) and reduce over the
 *    rows of one call in a fixed order that depends only on T;
 *  - no threads, no data-dependent summation order.
 *
 * Backward functions write every gradient they are given (overwrite, not
 * +=); pass NULL for a gradient that is not needed.  The forwards' saved
 * statistics (rmsnorm's rstd, attention's lse) may be NULL when no backward
 * follows.
 * Errors: negative errno and loom_err_msg() on bad sizes or NULL inputs
 * (-EINVAL), or -ENOMEM where scratch is needed (BF16/FP8 linear, RoPE,
 * attention).
 */
#ifndef LOOM_NN_H
#define LOOM_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum nn_precision {
	NN_FP32 = 0, /* FP32 inputs, weights, products and sums */
	NN_BF16 = 1, /* inputs and weights rounded to BF16 (RNE), FP32 sums */
	NN_FP8 = 2,  /* [T]'s recipe: see nn_linear_forward */
};
const char *nn_precision_name(enum nn_precision p);	  /* "fp32", "bf16", "fp8" */
int nn_precision_parse(const char *s, enum nn_precision *p); /* -EINVAL if unknown */

/* ---- linear: y (T, out) = x (T, in) W^T, W (out, in) ---------------------
 * FP8: Fprop quantizes x per 1x128 tile of a row and W per 128x128 block
 * (E4M3, FP32 scales amax/448), GEMM with FP32 accumulation per 128-block of
 * K (gemm.h model (a)). Dgrad: dy per 1x128 row tile, W^T per 128x128 block.
 * Wgrad: dy^T and x^T are quantized along the token dimension (1x128 tiles
 * of dy^T's rows, 128x128 blocks of x^T), tiles starting at row 0 of the
 * call. FP32 and BF16 use the same deterministic FP32 GEMM. */
int nn_linear_forward(enum nn_precision p, int T, int in, int out, const float *x,
		      const float *w, float *y);
/* dx (T, in) = dy W; dw (out, in) = dy^T x. */
int nn_linear_backward(enum nn_precision p, int T, int in, int out, const float *x,
		       const float *w, const float *dy, float *dx, float *dw);

/* ---- embedding: y[t] = table[tok[t]], table (V, d) ------------------------ */
int nn_embedding_forward(int T, int V, int d, const int32_t *tok, const float *table, float *y);
/* dtable (V, d) = sum over t in row order of dy[t] into row tok[t]. */
int nn_embedding_backward(int T, int V, int d, const int32_t *tok, const float *dy,
			  float *dtable);

/* ---- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, w (d) --------------------
 * rstd (T) is saved by the forward for the backward. */
int nn_rmsnorm_forward(int T, int d, float eps, const float *x, const float *w, float *y,
		       float *rstd);
int nn_rmsnorm_backward(int T, int d, const float *x, const float *w, const float *rstd,
			const float *dy, float *dx, float *dw);

/* ---- rotary position embedding, in place on (T, H * Dh) -------------------
 * Position of row t is t % S; pairs (2i, 2i+1) of each head rotated by
 * pos * theta^(-2i/Dh). inverse = 1 applies the transpose (the backward). */
int nn_rope(int T, int S, int H, int Dh, float theta, int inverse, float *x);

/* ---- causal multi-head attention ------------------------------------------
 * q, k, v, o: (T, H * Dh), T = B * S. Scores scaled by 1/sqrt(Dh), causal
 * within each sequence, softmax in FP32; lse (T, H) saves the log-sum-exp
 * for the backward. */
int nn_attention_forward(int B, int S, int H, int Dh, const float *q, const float *k,
			 const float *v, float *o, float *lse);
int nn_attention_backward(int B, int S, int H, int Dh, const float *q, const float *k,
			  const float *v, const float *o, const float *lse, const float *dout,
			  float *dq, float *dk, float *dv);

/* ---- SwiGLU: a = silu(g) * u, on (T, h) ----------------------------------- */
int nn_swiglu_forward(int T, int h, const float *g, const float *u, float *a);
int nn_swiglu_backward(int T, int h, const float *g, const float *u, const float *da,
		       float *dg, float *du);

/* ---- cross-entropy over V classes ----------------------------------------
 * loss[t] = logsumexp(logits[t]) - logits[t][target[t]] (FP32, per row);
 * the forward returns the per-row losses; dlogits[t] = (softmax - onehot) *
 * scale (scale = 1 / total tokens of the global batch, given by the caller). */
int nn_cross_entropy_forward(int T, int V, const float *logits, const int32_t *target,
			     float *loss);
int nn_cross_entropy_backward(int T, int V, const float *logits, const int32_t *target,
			      float scale, float *dlogits);

/* ---- elementwise helpers used by the model -------------------------------- */
void nn_add(float *y, const float *a, const float *b, long n); /* y = a + b, y may alias */

#ifdef __cplusplus
}
#endif
#endif

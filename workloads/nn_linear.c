/*
 * nn_linear.c - the linear layer of include/loom/nn.h, y (T, out) = x W^T,
 * and its backward, in FP32, BF16 and the FP8 recipe of REFERENCE §1.
 *
 * FP32 and BF16 run on gemm_f32_blocked (kernels/gemm_blocked.c), not on
 * OpenBLAS: its summation order for an output element is fixed by K alone
 * (KC-deep panels in k order, a fixed micro-kernel), so an output row
 * depends only on its own input row (the row independence nn.h promises),
 * which OpenBLAS's threading and size-dependent kernels do not guarantee.
 * BF16 rounds the operands of each GEMM to BF16 (RNE) in a scratch copy.
 *
 * FP8 quantizes the operands of each GEMM with quant.h (FP32 scales
 * amax / 448) and computes gemm_fp8_nt's GEMM_ACCUM_FP32 (model (a)) with
 * nn_fp8_gemm_a (nn_fp8_gemm.c: the same bits, ~7x faster).  K must be a
 * multiple of 128: a K that is not is zero-padded in the scratch copy.
 * Padding changes nothing: a zero does not raise a tile's amax (an
 * all-zero tile gets scale 1 and zero codes), and the padded products are
 * zeros added to partial sums that start at +0, which leaves every FP32
 * partial sum unchanged.
 *   Fprop  y  = x W^T:    A = x (T, in) 1x128,     B = W (out, in) 128x128
 *   Dgrad  dx = dy W:     A = dy (T, out) 1x128,   B = W^T (in, out) 128x128
 *   Wgrad  dw = dy^T x:   A = dy^T (out, T) 1x128, B = x^T (in, T) 128x128
 * The wgrad tiles run along the token dimension from row 0 of the call.
 *
 * Not here: threading, caching of quantized weights across calls, or
 * accumulation into existing gradients (gradients are overwritten).
 */
#include "loom/nn.h"

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/gemm.h"
#include "loom/quant.h"

#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

const char *nn_precision_name(enum nn_precision p)
{
	switch (p) {
	case NN_FP32:
		return "fp32";
	case NN_BF16:
		return "bf16";
	case NN_FP8:
		return "fp8";
	}
	return "unknown";
}

int nn_precision_parse(const char *s, enum nn_precision *p)
{
	static const enum nn_precision all[] = { NN_FP32, NN_BF16, NN_FP8 };

	if (!s || !p)
		return loom_err_set(EINVAL, "nn: precision: NULL argument");
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, nn_precision_name(all[i]))) {
			*p = all[i];
			return 0;
		}
	return loom_err_set(EINVAL, "nn: unknown precision '%s' (fp32, bf16 or fp8)", s);
}

static int linear_check(const char *fn, enum nn_precision p, int T, int in, int out)
{
	if (p != NN_FP32 && p != NN_BF16 && p != NN_FP8)
		return loom_err_set(EINVAL, "%s: unknown precision %d", fn, (int)p);
	if (T <= 0 || in <= 0 || out <= 0)
		return loom_err_set(EINVAL, "%s: T=%d in=%d out=%d must be > 0", fn, T, in, out);
	return 0;
}

/* ---- BF16: operands rounded through BF16 --------------------------------- */

/* A malloc'd copy of src (n) rounded to BF16 and back, or NULL (-ENOMEM set). */
static float *bf16_copy(const float *src, size_t n)
{
	enum { CHUNK = 1024 };
	uint16_t h[CHUNK];
	float *dst = malloc(n * sizeof(float));

	if (!dst) {
		loom_err_set(ENOMEM, "nn_linear: bf16 copy of %zu floats", n);
		return NULL;
	}
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t len = n - i < CHUNK ? n - i : CHUNK;

		bf16_from_f32_n(h, src + i, len);
		bf16_to_f32_n(dst + i, h, len);
	}
	return dst;
}

/* c (m, n) = op(a) op(b) in FP32 after rounding a (a_len) and b (b_len) to BF16. */
static int gemm_bf16(int ta, int tb, int m, int n, int k, const float *a, size_t a_len,
		     const float *b, size_t b_len, float *c)
{
	float *ab = bf16_copy(a, a_len), *bb = ab ? bf16_copy(b, b_len) : NULL;
	int rc = -ENOMEM;

	if (ab && bb)
		rc = gemm_f32_blocked(ta, tb, m, n, k, 1.0f, ab, bb, 0.0f, c);
	free(bb);
	free(ab);
	return rc;
}

/* ---- FP8: quantized, K-padded operands ----------------------------------- */

/* One GEMM operand: rows x kp E4M3 codes (kp = cols rounded up to 128) and
 * its scales, 1x128 tiles (act) or 128x128 blocks (weight). */
struct fp8_operand {
	uint8_t *q;
	float *s;
	int rows, kp;
};

static void fp8_operand_free(struct fp8_operand *op)
{
	free(op->q);
	free(op->s);
	op->q = NULL;
	op->s = NULL;
}

/* nn_internal.h; also used by the CUDA device (nn_cuda.c). */
void nn_gather_padded(float *dst, const float *src, long rs, long cs, int rows, int cols,
		      int kp)
{
	enum { TB = 32 };

	for (int r = 0; r < rows; r++)
		memset(dst + (size_t)r * kp + cols, 0, (size_t)(kp - cols) * sizeof(float));
	if (cs == 1) {
		for (int r = 0; r < rows; r++)
			memcpy(dst + (size_t)r * kp, src + r * rs, (size_t)cols * sizeof(float));
		return;
	}
	for (int r0 = 0; r0 < rows; r0 += TB)
		for (int c0 = 0; c0 < cols; c0 += TB) {
			int r1 = r0 + TB < rows ? r0 + TB : rows;
			int c1 = c0 + TB < cols ? c0 + TB : cols;

			for (int r = r0; r < r1; r++)
				for (int c = c0; c < c1; c++)
					dst[(size_t)r * kp + c] = src[r * rs + c * cs];
		}
}

static int quantize(struct fp8_operand *op, const float *x, int weight)
{
	if (weight)
		return quant_weight_128x128(op->q, op->s, x, op->rows, op->kp, QUANT_SCALE_F32);
	return quant_act_1x128(op->q, op->s, x, op->rows, op->kp, QUANT_SCALE_F32);
}

/* Quantize the (rows, cols) view of src (strides rs, cs) as an activation
 * (weight = 0) or weight (weight = 1) operand, K padded to 128. */
static int fp8_operand_make(struct fp8_operand *op, const float *src, long rs, long cs,
			    int rows, int cols, int weight)
{
	int kb = quant_blocks(cols), srows = weight ? quant_blocks(rows) : rows;
	float *pad = NULL;
	int rc;

	op->rows = rows;
	op->kp = kb * QUANT_TILE;
	op->q = malloc((size_t)rows * op->kp);
	op->s = malloc((size_t)srows * kb * sizeof(float));
	if (!op->q || !op->s)
		goto err_nomem;
	if (cs == 1 && rs == cols && cols == op->kp)
		return quantize(op, src, weight); /* already contiguous and padded */
	pad = malloc((size_t)rows * op->kp * sizeof(float));
	if (!pad)
		goto err_nomem;
	nn_gather_padded(pad, src, rs, cs, rows, cols, op->kp);
	rc = quantize(op, pad, weight);
	free(pad);
	return rc;
err_nomem:
	fp8_operand_free(op);
	return loom_err_set(ENOMEM, "nn_linear: fp8 operand %d x %d", rows, cols);
}

/* d (a.rows, b.rows) = a b^T, model (a) accumulation. */
static int fp8_gemm(const struct fp8_operand *a, const struct fp8_operand *b, float *d)
{
	struct gemm_fp8_args g = {
		.m = a->rows, .n = b->rows, .k = a->kp,
		.a = a->q, .a_scales = a->s, .b = b->q, .b_scales = b->s,
		.d_f32 = d, .accum = GEMM_ACCUM_DEFAULT_FP32,
	};
	return nn_fp8_gemm_a(&g);
}

/* d = A B^T for two source views quantized as (act, weight). */
static int fp8_nt(const float *a, long ars, long acs, int m, const float *b, long brs,
		  long bcs, int n, int k, float *d)
{
	struct fp8_operand qa = { 0 }, qb = { 0 };
	int rc = fp8_operand_make(&qa, a, ars, acs, m, k, 0);

	if (!rc)
		rc = fp8_operand_make(&qb, b, brs, bcs, n, k, 1);
	if (!rc)
		rc = fp8_gemm(&qa, &qb, d);
	fp8_operand_free(&qb);
	fp8_operand_free(&qa);
	return rc;
}

/* ---- the layer ----------------------------------------------------------- */

int nn_linear_forward(enum nn_precision p, int T, int in, int out, const float *x,
		      const float *w, float *y)
{
	int rc = linear_check("nn_linear_forward", p, T, in, out);

	if (rc)
		return rc;
	if (!x || !w || !y)
		return loom_err_set(EINVAL, "nn_linear_forward: NULL x, w or y");
	switch (p) {
	case NN_BF16:
		return gemm_bf16(0, 1, T, out, in, x, (size_t)T * in, w, (size_t)out * in, y);
	case NN_FP8:
		return fp8_nt(x, in, 1, T, w, in, 1, out, in, y);
	default:
		return gemm_f32_blocked(0, 1, T, out, in, 1.0f, x, w, 0.0f, y);
	}
}

/* dx (T, in) = dy (T, out) W (out, in). */
static int linear_dgrad(enum nn_precision p, int T, int in, int out, const float *w,
			const float *dy, float *dx)
{
	switch (p) {
	case NN_BF16:
		return gemm_bf16(0, 0, T, in, out, dy, (size_t)T * out, w, (size_t)out * in, dx);
	case NN_FP8: /* B = W^T (in, out): element (r, c) = w[c * in + r] */
		return fp8_nt(dy, out, 1, T, w, 1, in, in, out, dx);
	default:
		return gemm_f32_blocked(0, 0, T, in, out, 1.0f, dy, w, 0.0f, dx);
	}
}

/* dw (out, in) = dy^T (out, T) x (T, in). */
static int linear_wgrad(enum nn_precision p, int T, int in, int out, const float *x,
			const float *dy, float *dw)
{
	switch (p) {
	case NN_BF16:
		return gemm_bf16(1, 0, out, in, T, dy, (size_t)T * out, x, (size_t)T * in, dw);
	case NN_FP8: /* A = dy^T (out, T), B = x^T (in, T) */
		return fp8_nt(dy, 1, out, out, x, 1, in, in, T, dw);
	default:
		return gemm_f32_blocked(1, 0, out, in, T, 1.0f, dy, x, 0.0f, dw);
	}
}

int nn_linear_backward(enum nn_precision p, int T, int in, int out, const float *x,
		       const float *w, const float *dy, float *dx, float *dw)
{
	int rc = linear_check("nn_linear_backward", p, T, in, out);

	if (rc)
		return rc;
	if (!dy || (dx && !w) || (dw && !x))
		return loom_err_set(EINVAL, "nn_linear_backward: NULL dy, or w / x for a "
					    "requested gradient");
	if (dx && (rc = linear_dgrad(p, T, in, out, w, dy, dx)))
		return rc;
	if (dw && (rc = linear_wgrad(p, T, in, out, x, dy, dw)))
		return rc;
	return 0;
}

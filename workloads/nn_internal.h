/*
 * nn_internal.h - helpers shared by the layer files (workloads/nn*.c), not
 * part of the public contract (include/loom/nn.h): the training path's FP8
 * GEMM, the fixed-order dot products and sums, and an exp that vectorizes.
 *
 * The dot product keeps 16 independent lane sums, element i going to lane
 * i % 16, and combines the lanes in a fixed tree: the summation order
 * depends only on n, never on the data, the machine's vector width or the
 * caller, so results are the same bits everywhere, and GCC vectorizes the
 * lane loop without being allowed to reassociate (no -ffast-math).
 */
#ifndef LOOM_WORKLOADS_NN_INTERNAL_H
#define LOOM_WORKLOADS_NN_INTERNAL_H

#include <stdint.h>
#include <string.h>

#define NN_LANES 16

struct gemm_fp8_args;

/* gemm_fp8_nt for GEMM_ACCUM_FP32 into FP32 output, bit for bit, faster
 * (workloads/nn_fp8_gemm.c); other cases go to gemm_fp8_nt itself. */
int nn_fp8_gemm_a(const struct gemm_fp8_args *g);

/*
 * dst (rows, kp) = element (r, c) of the source view src[r * rs + c * cs]
 * for c < cols, 0 beyond (nn_linear.c): the FP8 operands' K-padded copy.  A
 * transposed view (cs != 1) is copied in 32 x 32 blocks so neither side
 * strides through memory a float at a time.
 */
void nn_gather_padded(float *dst, const float *src, long rs, long cs, int rows, int cols,
		      int kp);

/* sum_i a[i] * b[i], i < n, in the fixed lane order above. */
static inline float nn_dot_f32(const float *a, const float *b, int n)
{
	float acc[NN_LANES] = { 0 };
	int i = 0;

	for (; i + NN_LANES <= n; i += NN_LANES)
		for (int l = 0; l < NN_LANES; l++)
			acc[l] += a[i + l] * b[i + l];
	for (int l = 0; i + l < n; l++)
		acc[l] += a[i + l] * b[i + l];
	for (int w = NN_LANES / 2; w > 0; w /= 2)
		for (int l = 0; l < w; l++)
			acc[l] += acc[l + w];
	return acc[0];
}

/* sum_i a[i] * (b[i] * c[i]), same lane order as nn_dot_f32. */
static inline float nn_dot3_f32(const float *a, const float *b, const float *c, int n)
{
	float acc[NN_LANES] = { 0 };
	int i = 0;

	for (; i + NN_LANES <= n; i += NN_LANES)
		for (int l = 0; l < NN_LANES; l++)
			acc[l] += a[i + l] * (b[i + l] * c[i + l]);
	for (int l = 0; i + l < n; l++)
		acc[l] += a[i + l] * (b[i + l] * c[i + l]);
	for (int w = NN_LANES / 2; w > 0; w /= 2)
		for (int l = 0; l < w; l++)
			acc[l] += acc[l + w];
	return acc[0];
}

/* sum_i x[i], i < n, in nn_dot_f32's lane order. */
static inline float nn_sum_f32(const float *x, int n)
{
	float acc[NN_LANES] = { 0 };
	int i = 0;

	for (; i + NN_LANES <= n; i += NN_LANES)
		for (int l = 0; l < NN_LANES; l++)
			acc[l] += x[i + l];
	for (int l = 0; i + l < n; l++)
		acc[l] += x[i + l];
	for (int w = NN_LANES / 2; w > 0; w /= 2)
		for (int l = 0; l < w; l++)
			acc[l] += acc[l + w];
	return acc[0];
}

/* max_i x[i], i < n >= 1 (NaN elements are skipped; exact, so any order). */
static inline float nn_max_f32(const float *x, int n)
{
	float acc[NN_LANES];
	int i = 0;

	for (int l = 0; l < NN_LANES; l++)
		acc[l] = x[0];
	for (; i + NN_LANES <= n; i += NN_LANES)
		for (int l = 0; l < NN_LANES; l++)
			acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
	for (int l = 0; i + l < n; l++)
		acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
	for (int l = 1; l < NN_LANES; l++)
		acc[0] = acc[l] > acc[0] ? acc[l] : acc[0];
	return acc[0];
}

/*
 * e^x in FP32 within 1 ulp (0.99 ulp worst over every float in
 * [-104.5, 89], against exp() in double; Cephes expf: x = n ln2 + r, |r| <= ln2 / 2,
 * a degree-6 polynomial for e^r, then 2^n applied as two exact power-of-two
 * factors so subnormal results round once).  Plain IEEE arithmetic and
 * selects only, so GCC vectorizes loops of it without -ffast-math (libm's
 * expf stays scalar) and every element gets the same bits, vectorized or
 * not, on every machine.  x > 88.7228 gives inf, x < -104 gives 0 (e^-104 is
 * below half the smallest subnormal), NaN gives NaN.
 */
static inline float nn_expf(float x)
{
	const float hi = 88.72283905206835f, lo = -104.0f;
	float xc = x >= lo ? x : lo; /* NaN -> lo: n below stays a valid int */
	xc = xc <= hi ? xc : hi;
	/* n = rint(x / ln 2) by the 1.5 * 2^23 trick (floorf does not vectorize) */
	float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
	float p = 1.9875691500e-4f;

	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	float y = p * (r * r) + r + 1.0f;
	int32_t n1 = (int32_t)n / 2, n2 = (int32_t)n - n1; /* each in [-76, 64] */
	uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
	float s1, s2;
	memcpy(&s1, &b1, sizeof(s1));
	memcpy(&s2, &b2, sizeof(s2));
	y = y * s1 * s2;
	y = x > hi ? __builtin_inff() : y;
	y = x < lo ? 0.0f : y;
	return x != x ? x : y;
}

/* y[i] += alpha * x[i], i < n (elementwise: no order question). */
static inline void nn_axpy_f32(float *y, float alpha, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += alpha * x[i];
}

#endif

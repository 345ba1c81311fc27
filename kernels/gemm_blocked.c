/*
 * gemm_blocked.c - a cache-blocked, vectorized FP32 GEMM written here, the
 * candidate measured against OpenBLAS sgemm for the training path's FP32
 * inner products ("use OpenBLAS ... or a blocked, vectorized kernel if it is
 * faster - measure and say which"; bench/bench_gemm.c measures, gemm.h
 * records the verdict).
 *
 * Same contract as gemm_f32 (gemm.h): C (M, N) = alpha op(A) op(B) + beta C,
 * row-major.  Structure is the classic Goto/BLIS one: op(B) is packed in
 * KC x NC panels (L3), op(A) in MC x KC blocks (L2), and an MR x NR
 * micro-kernel keeps the C tile in registers (AVX-512: 8 x 32 = 16 zmm
 * accumulators; a portable C micro-kernel elsewhere).  Edges are packed with
 * zeros and the tile is written through a scratch buffer.
 *
 * Not here: threading (single thread; the caller owns parallelism) and any
 * claim of bit-equality with sgemm (FMA and a different summation order).
 * Allocates its packing buffers per call (-ENOMEM if that fails).
 */
#include "loom/err.h"
#include "loom/gemm.h"

#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Block sizes, chosen by measurement on AMD Zen 4 (bench/bench_gemm.c):
 * 8 x 32 = 16 zmm accumulators; an A block MC x KC = 192 x 384 floats =
 * 288 KiB (L2); a B micro-panel KC x NR = 48 KiB (L1/L2); a B panel
 * KC x NC = 3 MiB (L3). */
#define GB_MR 8
#define GB_NR 32
#define GB_KC 384
#define GB_MC 192
#define GB_NC 2048

/* Operand views: element (i, p) of op(A) and (p, j) of op(B). */
struct gb_op {
	const float *p;
	long rs, cs; /* row and column strides of op(X) */
};

/* Pack op(A)[i0 .. i0+mc, p0 .. p0+kc) into MR-row slivers, k-major, zero-padded. */
static void pack_a(float *dst, const struct gb_op *a, int i0, int mc, int p0, int kc)
{
	for (int ir = 0; ir < mc; ir += GB_MR)
		for (int p = 0; p < kc; p++)
			for (int i = 0; i < GB_MR; i++)
				*dst++ = ir + i < mc ? a->p[(i0 + ir + i) * a->rs + (p0 + p) * a->cs]
						     : 0.0f;
}

/* Pack op(B)[p0 .. p0+kc, j0 .. j0+nc) into NR-column slivers, k-major, zero-padded. */
static void pack_b(float *dst, const struct gb_op *b, int p0, int kc, int j0, int nc)
{
	for (int jr = 0; jr < nc; jr += GB_NR)
		for (int p = 0; p < kc; p++)
			for (int j = 0; j < GB_NR; j++)
				*dst++ = jr + j < nc ? b->p[(p0 + p) * b->rs + (j0 + jr + j) * b->cs]
						     : 0.0f;
}

#if defined(__AVX512F__)
/* acc (MR, NR) = sum_p a[p][0..MR) x b[p][0..NR); t (MR, NR) += alpha * acc. */
static void micro_kernel(int kc, const float *a, const float *b, float alpha, float *t, long ldt)
{
	__m512 c[GB_MR][2];

	for (int i = 0; i < GB_MR; i++)
		c[i][0] = c[i][1] = _mm512_setzero_ps();
	for (int p = 0; p < kc; p++, a += GB_MR, b += GB_NR) {
		__m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);

		for (int i = 0; i < GB_MR; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);

			c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
			c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
		}
	}
	__m512 va = _mm512_set1_ps(alpha);
	for (int i = 0; i < GB_MR; i++) {
		float *r = t + i * ldt;

		_mm512_storeu_ps(r, _mm512_fmadd_ps(va, c[i][0], _mm512_loadu_ps(r)));
		_mm512_storeu_ps(r + 16, _mm512_fmadd_ps(va, c[i][1], _mm512_loadu_ps(r + 16)));
	}
}
#else
static void micro_kernel(int kc, const float *a, const float *b, float alpha, float *t, long ldt)
{
	float c[GB_MR][GB_NR] = { { 0 } };

	for (int p = 0; p < kc; p++, a += GB_MR, b += GB_NR)
		for (int i = 0; i < GB_MR; i++)
			for (int j = 0; j < GB_NR; j++)
				c[i][j] += a[i] * b[j];
	for (int i = 0; i < GB_MR; i++)
		for (int j = 0; j < GB_NR; j++)
			t[i * ldt + j] += alpha * c[i][j];
}
#endif

/* One MR x NR tile of C at (i, j) with mr x nr valid elements. */
static void tile(int kc, const float *a, const float *b, float alpha, float *c, int ldc, int mr,
		 int nr)
{
	float t[GB_MR * GB_NR];

	if (mr == GB_MR && nr == GB_NR) {
		micro_kernel(kc, a, b, alpha, c, ldc);
		return;
	}
	for (int i = 0; i < mr; i++)
		memcpy(t + i * GB_NR, c + (long)i * ldc, nr * sizeof(float));
	micro_kernel(kc, a, b, alpha, t, GB_NR);
	for (int i = 0; i < mr; i++)
		memcpy(c + (long)i * ldc, t + i * GB_NR, nr * sizeof(float));
}

/* C[i0.., j0..] (mc x nc) += alpha * packed A block x packed B panel (depth kc). */
static void macro_kernel(const float *pa, const float *pb, int mc, int nc, int kc, float alpha,
			 float *c, int ldc)
{
	for (int jr = 0; jr < nc; jr += GB_NR)
		for (int ir = 0; ir < mc; ir += GB_MR) {
			int mr = mc - ir < GB_MR ? mc - ir : GB_MR;
			int nr = nc - jr < GB_NR ? nc - jr : GB_NR;

			tile(kc, pa + (long)ir * kc, pb + (long)jr * kc, alpha,
			     c + (long)ir * ldc + jr, ldc, mr, nr);
		}
}

static void scale_c(float *c, long len, float beta)
{
	if (beta == 0.0f) /* BLAS semantics: C is not read when beta = 0 */
		memset(c, 0, len * sizeof(float));
	else if (beta != 1.0f)
		for (long i = 0; i < len; i++)
			c[i] *= beta;
}

static void gemm_loops(const struct gb_op *a, const struct gb_op *b, int m, int n, int k,
		       float alpha, float *c, float *pa, float *pb)
{
	for (int jc = 0; jc < n; jc += GB_NC) {
		int nc = n - jc < GB_NC ? n - jc : GB_NC;

		for (int pc = 0; pc < k; pc += GB_KC) {
			int kc = k - pc < GB_KC ? k - pc : GB_KC;

			pack_b(pb, b, pc, kc, jc, nc);
			for (int ic = 0; ic < m; ic += GB_MC) {
				int mc = m - ic < GB_MC ? m - ic : GB_MC;

				pack_a(pa, a, ic, mc, pc, kc);
				macro_kernel(pa, pb, mc, nc, kc, alpha, c + (long)ic * n + jc, n);
			}
		}
	}
}

static size_t round_up(int x, int to) { return (size_t)(x + to - 1) / to * to; }

int gemm_f32_blocked(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
		     const float *b, float beta, float *c)
{
	struct gb_op oa = { a, trans_a ? 1 : k, trans_a ? m : 1 };
	struct gb_op ob = { b, trans_b ? 1 : n, trans_b ? k : 1 };
	float *pa, *pb;

	if (!a || !b || !c)
		return loom_err_set(EINVAL, "gemm_f32_blocked: NULL matrix");
	if (m <= 0 || n <= 0 || k <= 0)
		return loom_err_set(EINVAL, "gemm_f32_blocked: m=%d n=%d k=%d must be > 0", m, n,
				    k);
	pa = aligned_alloc(64, sizeof(float) * round_up(m < GB_MC ? m : GB_MC, GB_MR) * GB_KC);
	pb = aligned_alloc(64, sizeof(float) * round_up(n < GB_NC ? n : GB_NC, GB_NR) * GB_KC);
	if (!pa || !pb) {
		free(pa);
		free(pb);
		return loom_err_set(ENOMEM, "gemm_f32_blocked: packing buffers");
	}
	scale_c(c, (long)m * n, beta);
	if (alpha != 0.0f)
		gemm_loops(&oa, &ob, m, n, k, alpha, c, pa, pb);
	free(pa);
	free(pb);
	return 0;
}

/*
 * gemm_f32.c - the FP32 GEMM of gemm.h, a checked wrapper around OpenBLAS
 * cblas_sgemm (row-major).  Not here: a GEMM of its own (the blocked
 * candidate measured against it lives in gemm_blocked.c) or any threading
 * control (OpenBLAS's own pool applies).
 */
#include "loom/gemm.h"

#include "loom/err.h"

#include <cblas.h>

int gemm_f32(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
	     const float *b, float beta, float *c)
{
	if (!a || !b || !c)
		return loom_err_set(EINVAL, "gemm_f32: NULL pointer");
	if (m <= 0 || n <= 0 || k <= 0)
		return loom_err_set(EINVAL, "gemm_f32: m=%d n=%d k=%d must be > 0", m, n, k);
	/* Leading dimensions of the row-major arrays as stored: A is (M, K)
	 * or (K, M), B is (K, N) or (N, K), C is (M, N). */
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
		    trans_b ? k : n, beta, c, n);
	return 0;
}

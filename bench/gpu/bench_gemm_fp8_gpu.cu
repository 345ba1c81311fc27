/*
 * bench_gemm_fp8_gpu.cu - TFLOPS of the Hopper FP8 GEMMs (gemm_cuda.h) next
 * to cuBLASLt's block-scaled FP8 matmul on the same shapes in the same run.
 *
 * Shapes: DeepGEMM's dense set (m in {64, 128, 4096} x (n, k) in
 * {(2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (4096, 7168),
 * (7168, 2048)}) and its grouped ones (contiguous 4 x 8192 and 8 x 4096
 * rows, masked 1 x 1024, 2 x 512, 4 x 256 rows with every row valid, each
 * with (n, k) in {(4096, 7168), (7168, 2048)}).  TFLOPS = 2 m n k / t (valid rows only),
 * t the median of BENCH_RUNS (10) cudaEvent-timed runs after 2 warm-ups.
 *
 * Baseline: cuBLASLt FP8 (e4m3) matmul with BF16 output and the scale
 * modes CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F (activations, 1x128) and
 * CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F (weights), the same recipe;
 * grouped shapes run as one cuBLASLt call per expert back to back on one
 * stream (cuBLASLt has no grouped block-scaled FP8 call).  Inputs are
 * random e4m3 bytes and positive scales made on the device; the benchmark
 * times, it does not check values (tests/gpu/test_gemm_fp8_gpu does).
 * Without a GPU it prints the reason and exits 0.  Not yet run on a GPU.
 */
#include "loom/err.h"
#include "loom/gemm_cuda.h"
#include "loom/quant.h"

#include <algorithm>
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#define BENCH_RUNS 10
#define WORKSPACE_BYTES (64u << 20)

#define CK(call)                                                                           \
	do {                                                                               \
		cudaError_t e_ = (call);                                                   \
		if (e_ != cudaSuccess) {                                                   \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,      \
				cudaGetErrorString(e_));                                   \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

/* Random e4m3 bytes (NaN codes 0x7f / 0xff replaced) and scales in [0.5, 1). */
__global__ static void k_fill_e4m3(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		uint32_t h = (uint32_t)i * 2654435761u ^ seed;

		h ^= h >> 15;
		h *= 2246822519u;
		h ^= h >> 13;
		p[i] = (h & 0x7f) == 0x7f ? (uint8_t)(h & 0x80) : (uint8_t)h;
	}
}

__global__ static void k_fill_scales(float *p, size_t n, uint32_t seed)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = 0.5f + (float)(((uint32_t)i * 2654435761u ^ seed) >> 8) * (0.5f / 16777216.0f);
}

static void *dev_alloc(size_t bytes) { void *p; CK(cudaMalloc(&p, bytes + 256)); return p; }

static uint8_t *rand_e4m3(size_t n)
{
	uint8_t *p = (uint8_t *)dev_alloc(n);

	k_fill_e4m3<<<1024, 256>>>(p, n, (uint32_t)n);
	CK(cudaGetLastError());
	return p;
}

static float *rand_scales(size_t n)
{
	float *p = (float *)dev_alloc(n * 4);

	k_fill_scales<<<256, 256>>>(p, n, (uint32_t)n);
	CK(cudaGetLastError());
	return p;
}

/* One problem: groups experts, rows[g] valid rows each (dense: 1 group). */
struct problem {
	const char *kind;
	int groups, rows_per_group, n, k;
	struct gemm_cuda_fp8_args args;
	int32_t *meta; /* device: expert_of_row or rows_per_group */
};

/* ---- cuBLASLt baseline ------------------------------------------------ */
struct lt_gemm {
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t a, b, c;
	cublasLtMatmulAlgo_t algo;
	bool ok;
};

/* Row-major D (m, n) = A (m, K) B (n, K)^T is column-major D^T (n, m) =
 * B^T-as-stored (op T, K x n) times A (K x m): cuBLASLt's FP8 "TN" form,
 * with our weights as its A (128x128 blocks) and activations as its B. */
static bool lt_setup(struct lt_gemm *g, cublasLtHandle_t h, int m, int n, int k,
		     const float *sa, const float *sb)
{
	cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
	cublasLtMatmulMatrixScale_t blk = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
	cublasLtMatmulMatrixScale_t vec = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
	cublasLtMatmulPreference_t pref;
	cublasLtMatmulHeuristicResult_t res;
	size_t wsb = WORKSPACE_BYTES;
	int found = 0;

	g->ok = false;
	if (cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn)) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &blk, sizeof(blk)) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &vec, sizeof(vec)) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sb, sizeof(sb)) ||
	    cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sa, sizeof(sa)) ||
	    cublasLtMatrixLayoutCreate(&g->a, CUDA_R_8F_E4M3, k, n, k) ||
	    cublasLtMatrixLayoutCreate(&g->b, CUDA_R_8F_E4M3, k, m, k) ||
	    cublasLtMatrixLayoutCreate(&g->c, CUDA_R_16BF, n, m, n))
		return false;
	if (cublasLtMatmulPreferenceCreate(&pref) ||
	    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
						 sizeof(wsb)) ||
	    cublasLtMatmulAlgoGetHeuristic(h, g->op, g->a, g->b, g->c, g->c, pref, 1, &res, &found) ||
	    found == 0)
		return false;
	cublasLtMatmulPreferenceDestroy(pref);
	g->algo = res.algo;
	g->ok = true;
	return true;
}

static void lt_destroy(struct lt_gemm *g)
{
	cublasLtMatrixLayoutDestroy(g->a);
	cublasLtMatrixLayoutDestroy(g->b);
	cublasLtMatrixLayoutDestroy(g->c);
	cublasLtMatmulDescDestroy(g->op);
}

/* ---- timing ----------------------------------------------------------- */
/* Median milliseconds of BENCH_RUNS runs of fn (after 2 warm-ups); < 0 if
 * fn fails. */
template <class F> static double median_ms(F fn)
{
	std::vector<double> ms;
	cudaEvent_t e0, e1;

	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int i = 0; i < 2 + BENCH_RUNS; i++) {
		float t;

		CK(cudaEventRecord(e0));
		if (!fn())
			return -1;
		CK(cudaEventRecord(e1));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&t, e0, e1));
		if (i >= 2)
			ms.push_back(t);
	}
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	std::sort(ms.begin(), ms.end());
	return ms[ms.size() / 2];
}

/* Device operands for `groups` experts of rows_per_group rows (A scales in
 * DeepGEMM's layout, one per group for the masked kind). */
static void make_operands(struct problem *p)
{
	int rows = p->groups * p->rows_per_group, kb = p->k / 128;
	int sa_rows = p->kind[0] == 'm' ? p->rows_per_group : rows;
	size_t sa_n = (size_t)(rows / sa_rows) * kb * quant_dg_ld(sa_rows);

	p->args.m = rows;
	p->args.n = p->n;
	p->args.k = p->k;
	p->args.a = rand_e4m3((size_t)rows * p->k);
	p->args.a_scales = rand_scales(sa_n + (size_t)rows * kb); /* also fits cuBLASLt's */
	p->args.b = rand_e4m3((size_t)p->groups * p->n * p->k);
	p->args.b_scales = rand_scales((size_t)p->groups * quant_blocks(p->n) * kb);
	p->args.d = (uint16_t *)dev_alloc((size_t)rows * p->n * 2);
	p->meta = NULL;
	if (p->kind[0] == 'c') {
		std::vector<int32_t> eor(rows);

		for (int i = 0; i < rows; i++)
			eor[i] = i / p->rows_per_group;
		p->meta = (int32_t *)dev_alloc((size_t)rows * 4);
		CK(cudaMemcpy(p->meta, eor.data(), (size_t)rows * 4, cudaMemcpyHostToDevice));
	} else if (p->kind[0] == 'm') {
		std::vector<int32_t> cnt(p->groups, p->rows_per_group);

		p->meta = (int32_t *)dev_alloc((size_t)p->groups * 4);
		CK(cudaMemcpy(p->meta, cnt.data(), (size_t)p->groups * 4, cudaMemcpyHostToDevice));
	}
}

static void free_operands(struct problem *p)
{
	cudaFree((void *)p->args.a);
	cudaFree((void *)p->args.a_scales);
	cudaFree((void *)p->args.b);
	cudaFree((void *)p->args.b_scales);
	cudaFree(p->args.d);
	cudaFree(p->meta);
}

static bool run_ours(const struct problem *p)
{
	int rc;

	if (p->kind[0] == 'd')
		rc = gemm_cuda_fp8_nt(&p->args, NULL);
	else if (p->kind[0] == 'c')
		rc = gemm_cuda_fp8_grouped_contiguous(&p->args, p->groups, p->meta, NULL);
	else
		rc = gemm_cuda_fp8_grouped_masked(&p->args, p->groups, p->rows_per_group, p->meta,
						  NULL);
	if (rc)
		fprintf(stderr, "loom: %s\n", loom_err_msg());
	return rc == 0;
}

/* One cuBLASLt call per expert (one call for dense); every call uses the
 * first expert's scale arrays (the descriptor's pointers): same work, and
 * values are not checked here. */
static bool run_cublas(const struct problem *p, cublasLtHandle_t h, struct lt_gemm *g,
		       void *ws)
{
	float one = 1.0f, zero = 0.0f;

	for (int e = 0; e < p->groups; e++) {
		size_t r0 = (size_t)e * p->rows_per_group;

		if (cublasLtMatmul(h, g->op, &one, p->args.b + (size_t)e * p->n * p->k, g->a,
				   p->args.a + r0 * p->k, g->b, &zero, p->args.d + r0 * p->n, g->c,
				   p->args.d + r0 * p->n, g->c, &g->algo, ws, WORKSPACE_BYTES, 0))
			return false;
	}
	return true;
}

static void bench_one(struct problem *p, cublasLtHandle_t h, void *ws)
{
	double flops = 2.0 * p->groups * p->rows_per_group * (double)p->n * p->k;
	double ours, base = -1;
	struct lt_gemm g = {};

	make_operands(p);
	CK(cudaDeviceSynchronize());
	ours = median_ms([&] { return run_ours(p); });
	if (lt_setup(&g, h, p->rows_per_group, p->n, p->k, p->args.a_scales, p->args.b_scales))
		base = median_ms([&] { return run_cublas(p, h, &g, ws); });
	lt_destroy(&g);
	printf("%-10s %3d x %5d %6d %6d  %9.1f  ", p->kind, p->groups, p->rows_per_group, p->n, p->k,
	       ours > 0 ? flops / ours / 1e9 : 0.0);
	if (base > 0 && ours > 0)
		printf("%9.1f  %6.2f\n", flops / base / 1e9, base / ours);
	else
		printf("%9s  %6s\n", "n/a", "n/a");
	fflush(stdout);
	free_operands(p);
}

int main(void)
{
	static const int dense_m[] = { 64, 128, 4096 };
	static const int nk[][2] = { { 2112, 7168 }, { 24576, 1536 }, { 32768, 512 },
				     { 7168, 16384 }, { 4096, 7168 }, { 7168, 2048 } };
	static const int contig[][2] = { { 4, 8192 }, { 8, 4096 } };
	static const int masked[][2] = { { 1, 1024 }, { 2, 512 }, { 4, 256 } };
	struct cudaDeviceProp prop;
	cublasLtHandle_t h;
	int ndev = 0;
	void *ws;

	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
		printf("bench_gemm_fp8_gpu: no CUDA device (%s); nothing measured\n",
		       cudaGetErrorString(cudaGetDeviceCount(&ndev)));
		return 0;
	}
	CK(cudaGetDeviceProperties(&prop, 0));
	printf("card: %s (sm_%d%d, %d SMs); median of %d runs; cuBLASLt: FP8 with VEC128_32F x BLK128x128_32F scales\n",
	       prop.name, prop.major, prop.minor, prop.multiProcessorCount, BENCH_RUNS);
	if (cublasLtCreate(&h)) {
		printf("cublasLtCreate failed\n");
		return 1;
	}
	ws = dev_alloc(WORKSPACE_BYTES);
	printf("%-10s %-13s %6s %6s  %9s  %9s  %6s\n", "kind", "G x m", "n", "k", "TFLOPS",
	       "cuBLASLt", "ratio");
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 6; j++) {
			struct problem p = { "dense", 1, dense_m[i], nk[j][0], nk[j][1], {}, NULL };
			bench_one(&p, h, ws);
		}
	for (int i = 0; i < 2; i++)
		for (int j = 4; j < 6; j++) {
			struct problem p = { "contig", contig[i][0], contig[i][1], nk[j][0], nk[j][1],
					     {}, NULL };
			bench_one(&p, h, ws);
		}
	for (int i = 0; i < 3; i++)
		for (int j = 4; j < 6; j++) {
			struct problem p = { "masked", masked[i][0], masked[i][1], nk[j][0], nk[j][1],
					     {}, NULL };
			bench_one(&p, h, ws);
		}
	cudaFree(ws);
	cublasLtDestroy(h);
	return 0;
}

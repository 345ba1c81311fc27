/*
 * bench_quant_gpu.cu - throughput of the non-GEMM MoE kernels on the GPU:
 * fused 1x128 quantization (BF16 -> E4M3 + scales) next to a device-to-
 * device cudaMemcpy moving the same number of bytes (the ratio is the
 * figure of merit: 1.0 = as fast as a copy), then the router, the
 * permutation plan, permute / combine and LogFMT encode / decode.
 *
 * Each row is the median of RUNS timed runs (cudaEvent around one launch
 * after warm-up).  Bytes are counted once per read and once per write.
 * Without a GPU it prints why and exits 0.  The card's name heads the
 * table; copy the table into docs/GPU_RESULTS.md with it.
 */
#include "loom/moe.h"
#include "loom/moe_cuda.h"
#include "loom/logfmt.h"
#include "loom/logfmt_cuda.h"
#include "loom/quant.h"
#include "loom/quant_cuda.h"

#include <algorithm>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#define RUNS 21

/* A benchmark cannot go on after a CUDA error: say which call, exit 1. */
static void check(cudaError_t e, const char *what, int line)
{
	if (e != cudaSuccess) {
		fprintf(stderr, "bench_quant_gpu.cu:%d: %s: %s\n", line, what, cudaGetErrorString(e));
		exit(1);
	}
}
#define CHECK(call) check((call), #call, __LINE__)

struct bench_fn {
	virtual int run() = 0;	/* one launch (or launch sequence); 0 on success */
	virtual ~bench_fn() {}
};

/* Median milliseconds of RUNS timed runs after two warm-ups. */
static double median_ms(bench_fn &f)
{
	cudaEvent_t a, b;
	std::vector<float> ms(RUNS);

	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	for (int i = 0; i < 2; i++)
		if (f.run()) {
			fprintf(stderr, "bench: launch failed\n");
			exit(1);
		}
	CHECK(cudaDeviceSynchronize());
	for (int i = 0; i < RUNS; i++) {
		CHECK(cudaEventRecord(a));
		if (f.run())
			exit(1);
		CHECK(cudaEventRecord(b));
		CHECK(cudaEventSynchronize(b));
		CHECK(cudaGetLastError());
		CHECK(cudaEventElapsedTime(&ms[i], a, b));
	}
	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	std::sort(ms.begin(), ms.end());
	return ms[RUNS / 2];
}

static void *dalloc(size_t n)
{
	void *p = NULL;
	CHECK(cudaMalloc(&p, n ? n : 1));
	CHECK(cudaMemset(p, 0, n ? n : 1));
	return p;
}

/* Fill n floats with a cheap deterministic pattern on the host, upload. */
static float *dfloats(size_t n, float scale)
{
	std::vector<float> h(n);
	uint32_t s = 12345;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		h[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * scale;
	}
	float *d = (float *)dalloc(n * 4);
	CHECK(cudaMemcpy(d, h.data(), n * 4, cudaMemcpyHostToDevice));
	return d;
}

struct copy_fn : bench_fn {
	void *dst, *src;
	size_t n;
	int run() override { return cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice) != cudaSuccess; }
};

struct quant_fn : bench_fn {
	uint8_t *q;
	float *s;
	const uint16_t *x;
	int m, k;
	enum quant_scale_mode mode;
	enum quant_cuda_scale_layout lay;
	int run() override { return quant_cuda_act_1x128_bf16(q, s, x, m, k, mode, lay, NULL); }
};

static void bench_quant(int m, int k, enum quant_scale_mode mode, enum quant_cuda_scale_layout lay)
{
	size_t n = (size_t)m * k, ns = (size_t)quant_blocks(k) * quant_dg_ld(m);
	quant_fn f;
	f.x = (const uint16_t *)dalloc(n * 2);
	f.q = (uint8_t *)dalloc(n);
	f.s = (float *)dalloc(ns * 4);
	f.m = m, f.k = k, f.mode = mode, f.lay = lay;
	/* Read 2n (BF16), write n (e4m3) + the scales. */
	double bytes = 3.0 * n + 4.0 * ns, t = median_ms(f);
	copy_fn c;
	c.n = (size_t)(bytes / 2);	/* a copy reads and writes: same traffic */
	c.src = dalloc(c.n);
	c.dst = dalloc(c.n);
	double tc = median_ms(c), gbs = bytes / t / 1e6, gbc = bytes / tc / 1e6;
	printf("quant bf16 %-5s %-3s m=%-6d k=%-6d %9.1f us %8.1f GB/s | memcpy %9.1f us %8.1f GB/s | ratio %.2f\n",
	       mode == QUANT_SCALE_POW2 ? "pow2" : "fp32", lay == QUANT_CUDA_SCALES_DG ? "dg" : "row", m,
	       k, t * 1e3, gbs, tc * 1e3, gbc, gbs / gbc);
	cudaFree((void *)f.x), cudaFree(f.q), cudaFree(f.s), cudaFree(c.src), cudaFree(c.dst);
}

struct router_fn : bench_fn {
	struct moe_router_config c;
	int t;
	float *u, *w;
	int32_t *idx;
	int run() override { return moe_cuda_router_forward(&c, t, u, NULL, idx, w, NULL, NULL); }
};

static void bench_router(int tokens)
{
	router_fn f;
	f.c = moe_router_config_default(256, 8, 4, 8);
	f.c.routed_scaling_factor = 2.5f;
	f.t = tokens;
	f.u = dfloats((size_t)tokens * 256, 6.0f);
	f.w = (float *)dalloc((size_t)tokens * 8 * 4);
	f.idx = (int32_t *)dalloc((size_t)tokens * 8 * 4);
	double t = median_ms(f);
	printf("router E=256 G=8 M=4 k=8  T=%-6d          %9.1f us %8.2f Mtokens/s\n", tokens, t * 1e3,
	       tokens / t / 1e3);
	cudaFree(f.u), cudaFree(f.w), cudaFree(f.idx);
}

struct plan_fn : bench_fn {
	struct moe_cuda_plan p;
	int t;
	const int32_t *idx;
	int run() override
	{
		moe_cuda_plan_free(&p);
		return moe_cuda_plan_build(&p, t, 8, 256, idx, 128, NULL);
	}
};

struct permute_fn : bench_fn {
	const struct moe_cuda_plan *p;
	const void *x;
	void *out;
	size_t rb;
	int run() override { return moe_cuda_permute(p, x, rb, out, NULL); }
};

struct combine_fn : bench_fn {
	const struct moe_cuda_plan *p;
	const float *y, *w;
	float *out;
	int h;
	int run() override { return moe_cuda_combine_f32(p, y, h, w, out, NULL); }
};

static void bench_permute(int tokens, int h)
{
	std::vector<int32_t> idx((size_t)tokens * 8);
	for (size_t i = 0; i < idx.size(); i++)	/* 8 distinct experts per token */
		idx[i] = (int32_t)((i / 8 * 37 + (i % 8) * 32) % 256);
	int32_t *d_idx = (int32_t *)dalloc(idx.size() * 4);
	CHECK(cudaMemcpy(d_idx, idx.data(), idx.size() * 4, cudaMemcpyHostToDevice));
	plan_fn pf;
	pf.p = {};
	pf.t = tokens, pf.idx = d_idx;
	double tp = median_ms(pf);
	printf("plan build T=%-6d k=8 E=256 align=128   %9.1f us (includes one stream sync)\n", tokens,
	       tp * 1e3);
	permute_fn f;
	f.p = &pf.p, f.rb = (size_t)h;	/* e4m3 rows */
	f.x = dalloc((size_t)tokens * h);
	f.out = dalloc((size_t)pf.p.num_rows * h);
	double t = median_ms(f), bytes = 2.0 * pf.p.num_rows * h;
	printf("permute e4m3 rows T=%-6d h=%-6d        %9.1f us %8.1f GB/s\n", tokens, h, t * 1e3,
	       bytes / t / 1e6);
	combine_fn c;
	c.p = &pf.p, c.h = h;
	c.y = dfloats((size_t)pf.p.num_rows * h, 1.0f);
	c.w = dfloats((size_t)tokens * 8, 1.0f);
	c.out = (float *)dalloc((size_t)tokens * h * 4);
	double tc = median_ms(c), cb = 4.0 * ((double)tokens * 8 * h + (double)tokens * h);
	printf("combine f32 T=%-6d h=%-6d k=8           %9.1f us %8.1f GB/s\n", tokens, h, tc * 1e3,
	       cb / tc / 1e6);
	cudaFree((void *)f.x), cudaFree(f.out), cudaFree((void *)c.y), cudaFree((void *)c.w);
	cudaFree(c.out), cudaFree(d_idx);
	moe_cuda_plan_free(&pf.p);
}

struct lf_fn : bench_fn {
	bool enc;
	uint8_t *p;
	float *x;
	int t, h, n;
	int run() override
	{
		return enc ? logfmt_cuda_encode(p, x, t, h, n, NULL, NULL)
			   : logfmt_cuda_decode(x, p, t, h, n, NULL, NULL);
	}
};

static void bench_logfmt(int t, int h, int nbits)
{
	lf_fn f;
	f.t = t, f.h = h, f.n = nbits;
	f.x = dfloats((size_t)t * h, 4.0f);
	int64_t nb = logfmt_packed_bytes(t, h, nbits);
	f.p = (uint8_t *)dalloc((size_t)nb);
	double bytes = 4.0 * t * h + (double)nb;
	for (int e = 1; e >= 0; e--) {
		f.enc = e;
		double ms = median_ms(f);
		printf("logfmt-%-2d %-6s T=%-6d h=%-6d          %9.1f us %8.1f GB/s\n", nbits,
		       e ? "encode" : "decode", t, h, ms * 1e3, bytes / ms / 1e6);
	}
	cudaFree(f.x), cudaFree(f.p);
}

int main(void)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess || n == 0) {
		printf("bench_quant_gpu: no CUDA device (%s); nothing measured\n",
		       e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		return 0;
	}
	cudaDeviceProp prop;
	CHECK(cudaGetDeviceProperties(&prop, 0));
	printf("bench_quant_gpu on %s (%d SMs), median of %d runs\n", prop.name,
	       prop.multiProcessorCount, RUNS);
	const int ms[] = { 128, 4096, 16384 };
	for (int m : ms)
		bench_quant(m, 7168, QUANT_SCALE_F32, QUANT_CUDA_SCALES_DG);
	bench_quant(4096, 7168, QUANT_SCALE_POW2, QUANT_CUDA_SCALES_DG);
	bench_quant(4096, 7168, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW);
	bench_quant(4096, 2048, QUANT_SCALE_F32, QUANT_CUDA_SCALES_DG);
	bench_router(4096);
	bench_router(16384);
	bench_permute(4096, 7168);
	bench_logfmt(4096, 7168, 8);
	bench_logfmt(4096, 7168, 10);
	bench_logfmt(4096, 7168, 16);
	return 0;
}

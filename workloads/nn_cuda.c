/*
 * nn_cuda.c - the CUDA device of the training path (nn_device.h): the FP8
 * linear layers and the router of `loom train --device cuda` on the kernels
 * of kernels/cuda/ (gemm_cuda.h, quant_cuda.h, moe_cuda.h).  Not yet run on
 * a GPU: built and checked here without one (docs/GPU_RESULTS.md).
 *
 * Each FP8 GEMM of nn_linear.c (Fprop, Dgrad, Wgrad) runs as:
 *   A (m, k) view -> K-padded FP32 copy (CPU, only when the view is
 *     transposed or k % 128 != 0) -> GPU -> 1x128 quantization on the GPU
 *     (FP32 scales, DeepGEMM's column-major scale layout);
 *   B (n, k) view -> K-padded copy -> 128x128 quantization on the CPU
 *     (quant.h; there is no GPU kernel for weight blocks) -> GPU;
 *   gemm_cuda_fp8_nt -> D (m, n) BF16 -> host, widened to FP32.
 * The quantized operands are the same bits as the CPU path's; the GEMM
 * differs by summation order inside each 128-wide K block (the tensor
 * core's) and by rounding D to BF16.  Operands are copied to and from the
 * GPU on every call (pageable memory, one stream, synchronized at the end
 * of each call): a first version that is simple to check, not a fast one.
 * Device buffers grow on demand and are kept for the next call.
 *
 * The router: logits (T, E) and bias (E) to the GPU, moe_cuda_router_forward,
 * topk_idx, topk_weight and affinity back.  The GPU does not check the bias;
 * this file does, as the CPU router does (-EINVAL for a non-finite one).
 *
 * Built with HAVE_CUDA (mk/cuda.mk, when nvcc exists); without it only the
 * constructor exists and says "built without CUDA".
 */
#include "loom/nn_device.h"

#include "loom/err.h"

#ifndef HAVE_CUDA

struct nn_device *nn_cuda_device_create(int ordinal)
{
	(void)ordinal;
	loom_err_set(ENOTSUP, "nn_cuda: this build has no CUDA (built without nvcc, or with "
			      "NO_CUDA=1)");
	return NULL;
}

bool nn_cuda_built(void) { return false; }

#else

#include <cuda_runtime_api.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/fp8.h"
#include "loom/gemm_cuda.h"
#include "loom/moe_cuda.h"
#include "loom/quant.h"
#include "loom/quant_cuda.h"

#include "nn_internal.h"

/* A device (or host) buffer that only grows. */
struct nn_cuda_buf {
	void *p;
	size_t bytes;
};

struct nn_cuda {
	struct nn_device base;
	cudaStream_t stream;
	/* GEMM: A source (m, kp) f32, A codes, A scales (KB, dg_ld(m)), B codes,
	 * B scales (NB, KB), D (m, n) bf16 */
	struct nn_cuda_buf x, qa, sa, qb, sb, d;
	/* router: logits (T, E), bias (E), topk_idx, topk_weight (T, k), affinity (T, E) */
	struct nn_cuda_buf logits, bias, idx, w, aff;
	/* host staging: padded f32 operand, B codes, B scales, D bf16 */
	struct nn_cuda_buf h_pad, h_qb, h_sb, h_d;
};

static struct nn_cuda *to_cuda(struct nn_device *dev)
{
	return (struct nn_cuda *)((char *)dev - offsetof(struct nn_cuda, base));
}

static int cu_fail(cudaError_t e, const char *what)
{
	return loom_err_set(e == cudaErrorMemoryAllocation ? ENOMEM : EIO, "nn_cuda: %s: %s (%s)",
			    what, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Device buffer of at least `bytes` (contents not kept). */
static int dev_reserve(struct nn_cuda_buf *b, size_t bytes)
{
	cudaError_t e;

	if (b->bytes >= bytes)
		return 0;
	if (b->p)
		cudaFree(b->p);
	b->p = NULL;
	b->bytes = 0;
	e = cudaMalloc(&b->p, bytes);
	if (e != cudaSuccess)
		return cu_fail(e, "cudaMalloc");
	b->bytes = bytes;
	return 0;
}

/* Host buffer of at least `bytes` (contents not kept). */
static int host_reserve(struct nn_cuda_buf *b, size_t bytes)
{
	if (b->bytes >= bytes)
		return 0;
	free(b->p);
	b->bytes = 0;
	if (!(b->p = malloc(bytes)))
		return loom_err_set(ENOMEM, "nn_cuda: %zu bytes of staging memory", bytes);
	b->bytes = bytes;
	return 0;
}

static int upload(struct nn_cuda *c, void *dst, const void *src, size_t bytes)
{
	cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);

	return e == cudaSuccess ? 0 : cu_fail(e, "cudaMemcpyAsync to the GPU");
}

static int download(struct nn_cuda *c, void *dst, const void *src, size_t bytes)
{
	cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream);

	return e == cudaSuccess ? 0 : cu_fail(e, "cudaMemcpyAsync from the GPU");
}

/* Wait for the stream; a kernel's execution error surfaces here. */
static int finish(struct nn_cuda *c, const char *what)
{
	cudaError_t e = cudaStreamSynchronize(c->stream);

	return e == cudaSuccess ? 0 : cu_fail(e, what);
}

/* ---- FP8 GEMM ------------------------------------------------------------ */

/* One GEMM's source views: A (m, k) element (r, c) at a[r * ars + c * acs],
 * B (n, k) likewise; kp = k rounded up to 128. */
struct nn_cuda_nt {
	const float *a, *b;
	long ars, acs, brs, bcs;
	int m, n, k, kp;
};

/* src itself when the view is contiguous with k == kp, else the K-padded
 * copy in c->h_pad; NULL with the error set. */
static const float *padded(struct nn_cuda *c, const float *src, long rs, long cs, int rows,
			   int k, int kp)
{
	if (cs == 1 && rs == k && k == kp)
		return src;
	if (host_reserve(&c->h_pad, (size_t)rows * kp * sizeof(float)))
		return NULL;
	nn_gather_padded(c->h_pad.p, src, rs, cs, rows, k, kp);
	return c->h_pad.p;
}

/* A to the GPU and quantized there: codes in c->qa, scales in c->sa. */
static int stage_a(struct nn_cuda *c, const struct nn_cuda_nt *g)
{
	size_t elems = (size_t)g->m * g->kp;
	size_t sbytes = (size_t)(g->kp / QUANT_TILE) * quant_dg_ld(g->m) * sizeof(float);
	const float *src = padded(c, g->a, g->ars, g->acs, g->m, g->k, g->kp);
	int rc;

	if (!src)
		return -ENOMEM;
	if ((rc = dev_reserve(&c->x, elems * sizeof(float))) || (rc = dev_reserve(&c->qa, elems)) ||
	    (rc = dev_reserve(&c->sa, sbytes)) ||
	    (rc = upload(c, c->x.p, src, elems * sizeof(float))))
		return rc;
	return quant_cuda_act_1x128_f32(c->qa.p, c->sa.p, c->x.p, g->m, g->kp, QUANT_SCALE_F32,
					QUANT_CUDA_SCALES_DG, c->stream);
}

/* B quantized per 128x128 block on the CPU, then to the GPU (c->qb, c->sb). */
static int stage_b(struct nn_cuda *c, const struct nn_cuda_nt *g)
{
	size_t elems = (size_t)g->n * g->kp;
	size_t sbytes = (size_t)quant_blocks(g->n) * (g->kp / QUANT_TILE) * sizeof(float);
	const float *src = padded(c, g->b, g->brs, g->bcs, g->n, g->k, g->kp);
	int rc;

	if (!src)
		return -ENOMEM;
	if ((rc = host_reserve(&c->h_qb, elems)) || (rc = host_reserve(&c->h_sb, sbytes)) ||
	    (rc = dev_reserve(&c->qb, elems)) || (rc = dev_reserve(&c->sb, sbytes)))
		return rc;
	rc = quant_weight_128x128(c->h_qb.p, c->h_sb.p, src, g->n, g->kp, QUANT_SCALE_F32);
	if (!rc)
		rc = upload(c, c->qb.p, c->h_qb.p, elems);
	if (!rc)
		rc = upload(c, c->sb.p, c->h_sb.p, sbytes);
	return rc;
}

/* d (m, n) FP32 = A B^T through the GPU (see the top of the file). */
static int cuda_fp8_nt(struct nn_cuda *c, const struct nn_cuda_nt *g, float *d)
{
	size_t out = (size_t)g->m * g->n;
	struct gemm_cuda_fp8_args args = {
		.m = g->m, .n = g->n, .k = g->kp,
	};
	int rc = stage_a(c, g);

	if (!rc)
		rc = stage_b(c, g);
	if (!rc)
		rc = dev_reserve(&c->d, out * sizeof(uint16_t));
	if (!rc)
		rc = host_reserve(&c->h_d, out * sizeof(uint16_t));
	if (rc)
		return rc;
	args.a = c->qa.p, args.a_scales = c->sa.p, args.b = c->qb.p, args.b_scales = c->sb.p;
	args.d = c->d.p;
	if ((rc = gemm_cuda_fp8_nt(&args, c->stream)) ||
	    (rc = download(c, c->h_d.p, c->d.p, out * sizeof(uint16_t))) ||
	    (rc = finish(c, "FP8 GEMM")))
		return rc;
	bf16_to_f32_n(d, c->h_d.p, out);
	return 0;
}

static struct nn_cuda_nt nt_view(const float *a, long ars, long acs, int m, const float *b,
				 long brs, long bcs, int n, int k)
{
	return (struct nn_cuda_nt){ .a = a, .ars = ars, .acs = acs, .m = m, .b = b, .brs = brs,
				    .bcs = bcs, .n = n, .k = k,
				    .kp = quant_blocks(k) * QUANT_TILE };
}

/* ---- the ops --------------------------------------------------------------- */

static int linear_check(const char *fn, int T, int in, int out)
{
	if (T <= 0 || in <= 0 || out <= 0)
		return loom_err_set(EINVAL, "%s: T=%d in=%d out=%d must be > 0", fn, T, in, out);
	return 0;
}

/* Fprop y = x W^T: A = x (T, in), B = W (out, in). */
static int cuda_linear_forward(struct nn_device *dev, int T, int in, int out, const float *x,
			       const float *w, float *y)
{
	struct nn_cuda_nt g = nt_view(x, in, 1, T, w, in, 1, out, in);
	int rc = linear_check("nn_cuda: linear_forward", T, in, out);

	if (rc)
		return rc;
	if (!x || !w || !y)
		return loom_err_set(EINVAL, "nn_cuda: linear_forward: NULL x, w or y");
	return cuda_fp8_nt(to_cuda(dev), &g, y);
}

/* Dgrad dx = dy W: A = dy (T, out), B = W^T (in, out).  Wgrad dw = dy^T x:
 * A = dy^T (out, T), B = x^T (in, T), tiles along the tokens from row 0. */
static int cuda_linear_backward(struct nn_device *dev, int T, int in, int out, const float *x,
				const float *w, const float *dy, float *dx, float *dw)
{
	struct nn_cuda_nt dgrad = nt_view(dy, out, 1, T, w, 1, in, in, out);
	struct nn_cuda_nt wgrad = nt_view(dy, 1, out, out, x, 1, in, in, T);
	int rc = linear_check("nn_cuda: linear_backward", T, in, out);

	if (rc)
		return rc;
	if (!dy || (dx && !w) || (dw && !x))
		return loom_err_set(EINVAL, "nn_cuda: linear_backward: NULL dy, or w / x for a "
					    "requested gradient");
	if (dx && (rc = cuda_fp8_nt(to_cuda(dev), &dgrad, dx)))
		return rc;
	if (dw && (rc = cuda_fp8_nt(to_cuda(dev), &wgrad, dw)))
		return rc;
	return 0;
}

/* Device buffers for T tokens of the router. */
static int router_reserve(struct nn_cuda *c, size_t T, size_t E, size_t k)
{
	int rc;

	if ((rc = dev_reserve(&c->logits, T * E * sizeof(float))) ||
	    (rc = dev_reserve(&c->bias, E * sizeof(float))) ||
	    (rc = dev_reserve(&c->idx, T * k * sizeof(int32_t))) ||
	    (rc = dev_reserve(&c->w, T * k * sizeof(float))))
		return rc;
	return dev_reserve(&c->aff, T * E * sizeof(float));
}

static int cuda_router_forward(struct nn_device *dev, const struct moe_router_config *cfg, int T,
			       const float *logits, const float *bias, int32_t *topk_idx,
			       float *topk_weight, float *affinity)
{
	struct nn_cuda *c = to_cuda(dev);
	int rc = moe_router_config_check(cfg);

	if (rc)
		return rc;
	if (!logits || !topk_idx || !topk_weight || T <= 0)
		return loom_err_set(EINVAL, "nn_cuda: router_forward: NULL logits or output, or "
					    "T=%d <= 0", T);
	for (int i = 0; bias && i < cfg->num_experts; i++)
		if (!isfinite(bias[i]))
			return loom_err_set(EINVAL, "nn_cuda: router_forward: bias[%d]=%g is not "
					    "finite", i, (double)bias[i]);
	size_t E = (size_t)cfg->num_experts, k = (size_t)cfg->top_k, n = (size_t)T;
	if ((rc = router_reserve(c, n, E, k)) ||
	    (rc = upload(c, c->logits.p, logits, n * E * sizeof(float))) ||
	    (bias && (rc = upload(c, c->bias.p, bias, E * sizeof(float)))))
		return rc;
	rc = moe_cuda_router_forward(cfg, T, c->logits.p, bias ? c->bias.p : NULL, c->idx.p,
				     c->w.p, affinity ? c->aff.p : NULL, c->stream);
	if (!rc)
		rc = download(c, topk_idx, c->idx.p, n * k * sizeof(int32_t));
	if (!rc)
		rc = download(c, topk_weight, c->w.p, n * k * sizeof(float));
	if (!rc && affinity)
		rc = download(c, affinity, c->aff.p, n * E * sizeof(float));
	return rc ? rc : finish(c, "router");
}

static void cuda_destroy(struct nn_device *dev)
{
	struct nn_cuda *c = to_cuda(dev);
	struct nn_cuda_buf *dbufs[] = { &c->x, &c->qa, &c->sa, &c->qb, &c->sb, &c->d,
					&c->logits, &c->bias, &c->idx, &c->w, &c->aff };
	struct nn_cuda_buf *hbufs[] = { &c->h_pad, &c->h_qb, &c->h_sb, &c->h_d };

	for (size_t i = 0; i < sizeof(dbufs) / sizeof(dbufs[0]); i++)
		if (dbufs[i]->p)
			cudaFree(dbufs[i]->p);
	for (size_t i = 0; i < sizeof(hbufs) / sizeof(hbufs[0]); i++)
		free(hbufs[i]->p);
	if (c->stream)
		cudaStreamDestroy(c->stream);
	free(c);
}

static const struct nn_device_ops nn_cuda_ops = {
	.name = "cuda",
	.linear_fp8_forward = cuda_linear_forward,
	.linear_fp8_backward = cuda_linear_backward,
	.router_forward = cuda_router_forward,
	.destroy = cuda_destroy,
};

/* The GPU this rank uses: ordinal modulo the count, compute capability 9.0. */
static int pick_gpu(int ordinal, int *gpu, struct cudaDeviceProp *prop)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);

	if (e != cudaSuccess)
		return loom_err_set(ENODEV, "nn_cuda: no usable GPU: cudaGetDeviceCount: %s (%s)",
				    cudaGetErrorString(e), cudaGetErrorName(e));
	if (count < 1)
		return loom_err_set(ENODEV, "nn_cuda: no usable GPU: cudaGetDeviceCount found none");
	*gpu = (ordinal < 0 ? 0 : ordinal) % count;
	e = cudaSetDevice(*gpu);
	if (e == cudaSuccess)
		e = cudaGetDeviceProperties(prop, *gpu);
	if (e != cudaSuccess)
		return loom_err_set(ENODEV, "nn_cuda: GPU %d: %s (%s)", *gpu, cudaGetErrorString(e),
				    cudaGetErrorName(e));
	if (prop->major != 9 || prop->minor != 0)
		return loom_err_set(ENODEV, "nn_cuda: GPU %d (%s) has compute capability %d.%d; the "
				    "kernels are built for sm_90a (Hopper) only", *gpu, prop->name,
				    prop->major, prop->minor);
	return 0;
}

struct nn_device *nn_cuda_device_create(int ordinal)
{
	struct cudaDeviceProp prop;
	struct nn_cuda *c;
	cudaError_t e;
	int gpu = 0;

	if (pick_gpu(ordinal, &gpu, &prop))
		return NULL;
	if (!(c = calloc(1, sizeof(*c)))) {
		loom_err_set(ENOMEM, "nn_cuda: out of memory");
		return NULL;
	}
	c->base.ops = &nn_cuda_ops;
	snprintf(c->base.desc, sizeof(c->base.desc), "cuda:%d %.96s (sm_%d%d)", gpu, prop.name,
		 prop.major % 100, prop.minor % 100);
	e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
	if (e != cudaSuccess) {
		cu_fail(e, "cudaStreamCreate");
		free(c);
		return NULL;
	}
	return &c->base;
}

bool nn_cuda_built(void) { return true; }

#endif

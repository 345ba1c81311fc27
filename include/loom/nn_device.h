/*
 * nn_device.h - a compute device for the training path: the calls of the
 * live workload (model.c) that can run somewhere other than the CPU code of
 * nn.h and moe.h, as an ops table, and its one back-end so far, CUDA
 * (workloads/nn_cuda.c, `loom train --device cuda`).
 *
 * What a device takes over (everything else stays on the CPU):
 *  - the FP8 linear layers (nn_linear_forward / nn_linear_backward with
 *    NN_FP8): Fprop, Dgrad and Wgrad, each as quantize + FP8 GEMM with the
 *    operands of nn.h's recipe (1x128 activation tiles, 128x128 weight
 *    blocks, FP32 scales amax / 448, K zero-padded to a multiple of 128);
 *  - the router's selection (moe_router_forward: sigmoid, bias,
 *    group-limited top-k, normalization).
 * Same shapes, same NULL rules and the same overwrite semantics as the CPU
 * calls they replace; results differ from them as each back-end states.
 *
 * A device object belongs to one thread (the rank's); it is not
 * thread-safe.  Errors: the CPU call's argument errors (-EINVAL), -ENOMEM,
 * -EIO for a device failure (the device's error named in loom_err_msg()).
 * There is no fallback to the CPU: a device that fails fails the call.
 */
#ifndef LOOM_NN_DEVICE_H
#define LOOM_NN_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "loom/moe.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nn_device;

struct nn_device_ops {
	const char *name; /* "cuda" */
	/* nn_linear_forward(NN_FP8, ...): y (T, out) = x (T, in) W^T. */
	int (*linear_fp8_forward)(struct nn_device *dev, int T, int in, int out, const float *x,
				  const float *w, float *y);
	/* nn_linear_backward(NN_FP8, ...): dx (T, in) = dy W, dw (out, in) = dy^T x
	 * (either may be NULL). */
	int (*linear_fp8_backward)(struct nn_device *dev, int T, int in, int out, const float *x,
				   const float *w, const float *dy, float *dx, float *dw);
	/* moe_router_forward (affinity may be NULL). */
	int (*router_forward)(struct nn_device *dev, const struct moe_router_config *cfg, int T,
			      const float *logits, const float *bias, int32_t *topk_idx,
			      float *topk_weight, float *affinity);
	void (*destroy)(struct nn_device *dev);
};

/* The generic part, embedded first in each back-end's object. */
struct nn_device {
	const struct nn_device_ops *ops;
	char desc[128]; /* what it runs on, for logs: "cuda:0 NVIDIA H100 ... (sm_90)" */
};

/* "cpu" for NULL (the CPU code of nn.h), else the back-end's name. */
static inline const char *nn_device_name(const struct nn_device *dev)
{
	return dev ? dev->ops->name : "cpu";
}

/* NULL-safe. */
static inline void nn_device_destroy(struct nn_device *dev)
{
	if (dev)
		dev->ops->destroy(dev);
}

/*
 * The CUDA back-end (workloads/nn_cuda.c) on GPU `ordinal` modulo the number
 * of GPUs (a rank passes its rank).  Per call it copies the FP32 operands to
 * the GPU, quantizes activation operands there (quant_cuda.h), quantizes
 * weight operands (128x128) on the CPU with quant.h, runs the FP8 GEMM
 * (gemm_cuda.h, BF16 output) and copies the result back widened to FP32;
 * the router copies logits and bias over and the selection back
 * (moe_cuda.h).  Differences from the CPU path: GEMM outputs are rounded to
 * BF16 and summed in the tensor core's order (calc_diff < 1e-3 against
 * gemm_fp8_nt, REFERENCE §6); quantization codes and scales are the same
 * bits; router indices the same, weights within one FP32 ulp (moe_cuda.h).
 *
 * NULL with loom_err_msg() naming the CUDA error when there is no usable
 * GPU (none, no driver, not compute capability 9.0: the kernels are
 * sm_90a only), or "built without CUDA" when this build has no CUDA
 * (then nn_cuda_built() is false).  Create it in the process that uses
 * it (after any fork).
 */
struct nn_device *nn_cuda_device_create(int ordinal);
bool nn_cuda_built(void);

#ifdef __cplusplus
}
#endif
#endif

/*
 * gpu_check.h - what every GPU suite needs: whether a device is there (a
 * case without one is skipped with the CUDA error as the reason, never
 * passed) and a check of a CUDA call that fails the case at the caller's
 * line.
 */
#ifndef LOOM_TESTS_GPU_CHECK_H
#define LOOM_TESTS_GPU_CHECK_H

#include <cuda_runtime.h>

#include "lt.h"

static inline bool have_gpu(struct lt *t)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess || n == 0) {
		lt_skip(t, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		return false;
	}
	return true;
}

static inline bool gpu_cuda_ok(struct lt *t, cudaError_t e, const char *what, const char *file,
			       int line)
{
	if (e != cudaSuccess)
		lt_fail(t, file, line, "%s: %s", what, cudaGetErrorString(e));
	return e == cudaSuccess;
}

/* cuda_ok(t, cudaMemcpy(...), "what"): false (and the case failed) on an error. */
#define cuda_ok(t, e, what) gpu_cuda_ok((t), (e), (what), __FILE__, __LINE__)

#endif

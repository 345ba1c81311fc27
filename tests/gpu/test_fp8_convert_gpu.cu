/*
 * test_fp8_convert_gpu.cu - GPU conversion kernels vs the C reference, over
 * every float32 bit pattern (2^32 inputs per format and saturation mode).
 *
 * Needs a CUDA device; without one every case is skipped with the reason.
 * The output buffer is poisoned before each launch so a kernel that skips
 * elements cannot pass on stale data.
 */
#include "lt.h"
#include "gpu_check.h"
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/fp8_cuda.h"

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 26)

enum which { E4M3, E5M2, BF16 };

/* Compare one format/mode over all 2^32 inputs; elem = output bytes. */
static void sweep(struct lt *t, enum which w, bool sat)
{
	size_t elem = w == BF16 ? 2 : 1;
	float *h_in = (float *)malloc(CHUNK * sizeof(float)), *d_in = NULL;
	unsigned char *h_got = (unsigned char *)malloc(CHUNK * elem);
	unsigned char *h_want = (unsigned char *)malloc(CHUNK * elem), *d_out = NULL;
	int bad = 0;

	if (!h_in || !h_got || !h_want) {
		lt_fail(t, __FILE__, __LINE__, "out of host memory");
		goto out;
	}
	if (!cuda_ok(t, cudaMalloc(&d_in, CHUNK * sizeof(float)), "cudaMalloc") ||
	    !cuda_ok(t, cudaMalloc(&d_out, CHUNK * elem), "cudaMalloc"))
		goto out;
	for (uint64_t base = 0; base < (1ull << 32) && bad < 10; base += CHUNK) {
		int rc;

		for (uint32_t i = 0; i < CHUNK; i++) {
			uint32_t u = (uint32_t)(base + i);
			memcpy(&h_in[i], &u, 4);
		}
		if (!cuda_ok(t, cudaMemcpy(d_in, h_in, CHUNK * 4, cudaMemcpyHostToDevice), "H2D") ||
		    !cuda_ok(t, cudaMemset(d_out, 0x5a, CHUNK * elem), "poison"))
			goto out;
		if (w == E4M3) {
			rc = fp8_cuda_e4m3_from_f32(d_out, d_in, CHUNK, sat, NULL);
			fp8_e4m3_from_f32_n(h_want, h_in, CHUNK, sat);
		} else if (w == E5M2) {
			rc = fp8_cuda_e5m2_from_f32(d_out, d_in, CHUNK, sat, NULL);
			fp8_e5m2_from_f32_n(h_want, h_in, CHUNK, sat);
		} else {
			rc = fp8_cuda_bf16_from_f32((uint16_t *)d_out, d_in, CHUNK, NULL);
			bf16_from_f32_n((uint16_t *)h_want, h_in, CHUNK);
		}
		LT_CHECK(t, rc == 0, "launch: %s", loom_err_msg());
		if (!cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
		    !cuda_ok(t, cudaMemcpy(h_got, d_out, CHUNK * elem, cudaMemcpyDeviceToHost), "D2H"))
			goto out;
		for (uint32_t i = 0; i < CHUNK && bad < 10; i++) {
			unsigned g = elem == 2 ? ((uint16_t *)h_got)[i] : h_got[i];
			unsigned x = elem == 2 ? ((uint16_t *)h_want)[i] : h_want[i];

			if (g != x && ++bad)
				lt_fail(t, __FILE__, __LINE__, "input bits %#010x: gpu %#x, cpu %#x",
					(uint32_t)(base + i), g, x);
		}
	}
out:
	cudaFree(d_in);
	cudaFree(d_out);
	free(h_in);
	free(h_got);
	free(h_want);
}

static void test_e4m3_satfinite_all_inputs(struct lt *t) { if (have_gpu(t)) sweep(t, E4M3, true); }
static void test_e4m3_nosat_all_inputs(struct lt *t) { if (have_gpu(t)) sweep(t, E4M3, false); }
static void test_e5m2_satfinite_all_inputs(struct lt *t) { if (have_gpu(t)) sweep(t, E5M2, true); }
static void test_e5m2_nosat_all_inputs(struct lt *t) { if (have_gpu(t)) sweep(t, E5M2, false); }
static void test_bf16_all_inputs(struct lt *t) { if (have_gpu(t)) sweep(t, BF16, false); }

static void test_null_pointer_rejected(struct lt *t)
{
	/* Argument checks happen before any CUDA call: runs without a GPU. */
	LT_CHECK(t, fp8_cuda_e4m3_from_f32(NULL, NULL, 4, true, NULL) == -EINVAL, "");
	LT_CHECK(t, fp8_cuda_bf16_from_f32(NULL, NULL, 4, NULL) == -EINVAL, "");
}

static const struct lt_case cases[] = {
	LT_CASE(test_null_pointer_rejected),
	LT_CASE(test_e4m3_satfinite_all_inputs),
	LT_CASE(test_e4m3_nosat_all_inputs),
	LT_CASE(test_e5m2_satfinite_all_inputs),
	LT_CASE(test_e5m2_nosat_all_inputs),
	LT_CASE(test_bf16_all_inputs),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

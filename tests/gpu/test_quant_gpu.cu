/*
 * test_quant_gpu.cu - the fused 1x128 quantization kernel (quant_cuda.h)
 * against quant_act_1x128 (kernels/quant.c), bit for bit: every e4m3 byte
 * and every scale's bits, in both scale modes and both scale layouts, for
 * BF16 and FP32 inputs, aligned (vector path) and misaligned (scalar path),
 * full and partial tiles.  Inputs are fresh random numbers per case
 * (lt_seed; LT_SEED varies them) with zeros, maxima, subnormals, huge
 * values, NaN and inf; outputs are poisoned (0xff) before every launch.
 *
 * Needs a CUDA device; without one the GPU cases are skipped with the
 * reason.  The argument checks run everywhere.
 */
#include "lt.h"
#include "gpu_check.h"
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/quant.h"
#include "loom/quant_cuda.h"
#include "loom/rng.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static float f32_of_bits(uint32_t u)
{
	float x;
	memcpy(&x, &u, 4);
	return x;
}

/* Random values over a wide range with zeros, maxima, subnormals, huge
 * values and (when specials) NaN and inf. */
static float random_value(struct loom_rng *r, bool specials)
{
	double pick = loom_rng_uniform(r);

	if (pick < 0.05)
		return 0.0f;
	if (pick < 0.07)
		return f32_of_bits(loom_rng_u32(r) & 0x807fffffu);
	if (pick < 0.08)
		return (loom_rng_u32(r) & 1) ? 3.3895314e38f : -448.0f;
	if (specials && pick < 0.082)
		return (loom_rng_u32(r) & 1) ? NAN : -INFINITY;
	return (float)(loom_rng_normal(r) * ldexp(1.0, (int)(loom_rng_u32(r) % 60) - 30));
}

/* One shape, one input type: GPU vs CPU for both modes and layouts.
 * offset_elems shifts x off its 16-byte alignment (scalar path). */
static void check_shape(struct lt *t, int m, int k, bool bf16, bool specials, int offset_elems)
{
	struct loom_rng r;
	size_t n = (size_t)m * k, esz = bf16 ? 2 : 4;
	int kbs = quant_blocks(k), ld = quant_dg_ld(m);
	std::vector<float> x(n), s_ref((size_t)m * kbs), s_dg((size_t)kbs * ld);
	std::vector<float> s_got((size_t)kbs * ld);
	std::vector<uint16_t> xb(n);
	std::vector<uint8_t> q_ref(n), q_got(n);
	unsigned char *d_x = NULL;
	uint8_t *d_q = NULL;
	float *d_s = NULL;

	loom_rng_init(&r, lt_seed(t) ^ ((uint64_t)m << 32 | (uint64_t)k));
	for (size_t i = 0; i < n; i++) {
		float v = random_value(&r, specials);
		xb[i] = bf16_from_f32(v);
		x[i] = bf16 ? bf16_to_f32(xb[i]) : v;
	}
	if (!cuda_ok(t, cudaMalloc(&d_x, n * esz + 64), "cudaMalloc x") ||
	    !cuda_ok(t, cudaMalloc(&d_q, n), "cudaMalloc q") ||
	    !cuda_ok(t, cudaMalloc(&d_s, s_got.size() * 4), "cudaMalloc s"))
		goto out;
	{
		unsigned char *xin = d_x + offset_elems * esz;
		if (!cuda_ok(t, cudaMemcpy(xin, bf16 ? (void *)xb.data() : (void *)x.data(), n * esz,
					   cudaMemcpyHostToDevice), "H2D"))
			goto out;
		for (int pow2 = 0; pow2 < 2; pow2++) {
			enum quant_scale_mode mode = pow2 ? QUANT_SCALE_POW2 : QUANT_SCALE_F32;
			LT_CHECK(t, quant_act_1x128(q_ref.data(), s_ref.data(), x.data(), m, k, mode) == 0,
				 "%s", loom_err_msg());
			LT_CHECK(t, quant_act_scales_to_dg(s_dg.data(), s_ref.data(), m, k) == 0, "");
			for (int dg = 0; dg < 2; dg++) {
				enum quant_cuda_scale_layout lay = dg ? QUANT_CUDA_SCALES_DG : QUANT_CUDA_SCALES_ROW;
				size_t ns = dg ? s_dg.size() : s_ref.size();
				int rc;
				if (!cuda_ok(t, cudaMemset(d_q, 0xff, n), "poison q") ||
				    !cuda_ok(t, cudaMemset(d_s, 0xff, s_got.size() * 4), "poison s"))
					goto out;
				rc = bf16 ? quant_cuda_act_1x128_bf16(d_q, d_s, (const uint16_t *)xin, m, k, mode, lay, NULL)
					  : quant_cuda_act_1x128_f32(d_q, d_s, (const float *)xin, m, k, mode, lay, NULL);
				LT_CHECK(t, rc == 0, "launch: %s", loom_err_msg());
				if (!cuda_ok(t, cudaGetLastError(), "launch") ||
				    !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
				    !cuda_ok(t, cudaMemcpy(q_got.data(), d_q, n, cudaMemcpyDeviceToHost), "D2H q") ||
				    !cuda_ok(t, cudaMemcpy(s_got.data(), d_s, ns * 4, cudaMemcpyDeviceToHost), "D2H s"))
					goto out;
				const float *want = dg ? s_dg.data() : s_ref.data();
				for (size_t i = 0, bad = 0; i < ns && bad < 5; i++)
					if (memcmp(&s_got[i], &want[i], 4) && ++bad)
						lt_fail(t, __FILE__, __LINE__, "m=%d k=%d %s pow2=%d dg=%d scale[%zu]: %a vs %a",
							m, k, bf16 ? "bf16" : "f32", pow2, dg, i, (double)s_got[i], (double)want[i]);
				for (size_t i = 0, bad = 0; i < n && bad < 5; i++)
					if (q_got[i] != q_ref[i] && ++bad)
						lt_fail(t, __FILE__, __LINE__, "m=%d k=%d %s pow2=%d q[%zu]: %#x vs %#x (x=%a)",
							m, k, bf16 ? "bf16" : "f32", pow2, i, q_got[i], q_ref[i], (double)x[i]);
			}
		}
	}
out:
	cudaFree(d_x);
	cudaFree(d_q);
	cudaFree(d_s);
}

static const int shapes[][2] = { { 1, 128 }, { 3, 1 }, { 7, 200 }, { 33, 1000 }, { 128, 7168 },
				 { 513, 2048 }, { 5, 129 }, { 4096, 512 } };

static void test_bf16_matches_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	for (const auto &s : shapes)
		check_shape(t, s[0], s[1], true, true, 0);
}

static void test_bf16_finite_matches_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	for (const auto &s : shapes)
		check_shape(t, s[0], s[1], true, false, 0);
}

static void test_f32_matches_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	for (const auto &s : shapes)
		check_shape(t, s[0], s[1], false, true, 0);
}

static void test_misaligned_input_scalar_path(struct lt *t)
{
	if (!have_gpu(t))
		return;
	check_shape(t, 9, 1024, true, true, 1);
	check_shape(t, 9, 1024, false, true, 3);
}

static void test_bad_args_rejected(struct lt *t)
{
	/* Checked before any CUDA call: runs without a GPU. */
	uint8_t *q = (uint8_t *)16;
	float *s = (float *)16;
	const uint16_t *x = (const uint16_t *)16;

	LT_CHECK(t, quant_cuda_act_1x128_bf16(NULL, s, x, 1, 128, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, NULL, x, 1, 128, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_f32(q, s, NULL, 1, 128, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, s, x, 0, 128, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, s, x, 4, -1, QUANT_SCALE_F32, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, s, x, 4, 128, (enum quant_scale_mode)7, QUANT_CUDA_SCALES_ROW, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, s, x, 4, 128, QUANT_SCALE_F32, (enum quant_cuda_scale_layout)9, NULL) == -EINVAL, "");
	LT_CHECK(t, quant_cuda_act_1x128_bf16(q, s, x, 2147483647, 128, QUANT_SCALE_F32, QUANT_CUDA_SCALES_DG, NULL) == -EINVAL, "");
	LT_CHECK(t, strstr(loom_err_msg(), "padded") != NULL, "%s", loom_err_msg());
}

static const struct lt_case cases[] = {
	LT_CASE(test_bad_args_rejected),
	LT_CASE(test_bf16_matches_reference),
	LT_CASE(test_bf16_finite_matches_reference),
	LT_CASE(test_f32_matches_reference),
	LT_CASE(test_misaligned_input_scalar_path),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

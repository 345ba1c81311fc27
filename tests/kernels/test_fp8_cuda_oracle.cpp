/*
 * test_fp8_cuda_oracle.cpp - loom/fp8.h against NVIDIA's conversions, bit
 * for bit.
 *
 * The oracle is the host-side code of the CUDA toolkit's cuda_fp8.h and
 * cuda_bf16.h, compiled here by the host C++ compiler (no GPU, no nvcc):
 * __nv_cvt_float_to_fp8(x, __NV_SATFINITE / __NV_NOSAT, __NV_E4M3 /
 * __NV_E5M2), the __nv_fp8_e4m3 / __nv_fp8_e5m2 float operators (fp8 ->
 * half -> float), __float2bfloat16_rn, __bfloat162float,
 * __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf) and the
 * __nv_fp8_e8m0 float operator.  Every comparison is exact on the bits,
 * NaN included: NVIDIA's NaN encodings are fixed and fp8.h promises them.
 * Both our scalar functions and the bulk *_n versions are compared.
 *
 * Inputs: all 2^16 BF16 patterns; every FP8 code of both formats; every
 * rounding boundary (midpoints of consecutive FP8 / BF16 values, the
 * overflow point) exactly and +-1 float ulp; specials (+-0, +-inf, NaNs
 * with payloads and signs, powers of two for UE8M0); 10^7 random inputs;
 * a strided sweep of all float32 patterns (all of them with
 * LOOM_FP8_EXHAUSTIVE=1).
 *
 * Without cuda_fp8.h (the Makefile then defines LOOM_NO_CUDA_FP8) the suite
 * fails and says so: a missing oracle is not a pass.
 */
#include "lt.h"
#include "loom/fp8.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef LOOM_NO_CUDA_FP8

static void test_cuda_fp8_header_present(struct lt *t)
{
	lt_fail(t, __FILE__, __LINE__,
		"cuda_fp8.h was not found under $(CUDA_HOME)/include when this test was "
		"built, so NVIDIA's conversions (the oracle) are missing; install the "
		"CUDA toolkit (its headers suffice, no GPU needed) or set CUDA_HOME, "
		"then rebuild");
}

static const struct lt_case cases[] = {
	LT_CASE(test_cuda_fp8_header_present),
};

#else

#include <cuda_bf16.h>
#include <cuda_fp8.h>

static uint32_t bits_of(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof(u));
	return u;
}

static float float_of(uint32_t u)
{
	float x;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/* ---- the oracle ----------------------------------------------------------- */

static uint32_t nv_e4m3_sat(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }
static uint32_t nv_e4m3_nosat(float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3); }
static uint32_t nv_e5m2_sat(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2); }
static uint32_t nv_e5m2_nosat(float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2); }

static uint32_t nv_bf16(float x)
{
	__nv_bfloat16_raw r = __float2bfloat16_rn(x);
	return r.x;
}

static uint32_t nv_ue8m0(float x)
{
	return __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf);
}

static float nv_e4m3_to_f32(uint8_t c)
{
	__nv_fp8_e4m3 v;
	v.__x = c;
	return float(v);
}

static float nv_e5m2_to_f32(uint8_t c)
{
	__nv_fp8_e5m2 v;
	v.__x = c;
	return float(v);
}

static float nv_bf16_to_f32(uint16_t b)
{
	__nv_bfloat16_raw r;
	r.x = b;
	return __bfloat162float(__nv_bfloat16(r));
}

static float nv_ue8m0_to_f32(uint8_t e)
{
	__nv_fp8_e8m0 v;
	v.__x = e;
	return float(v);
}

/* ---- ours, scalar and bulk, widened to a common shape ---------------------- */

static uint32_t our_e4m3_sat(float x) { return fp8_e4m3_from_f32(x, true); }
static uint32_t our_e4m3_nosat(float x) { return fp8_e4m3_from_f32(x, false); }
static uint32_t our_e5m2_sat(float x) { return fp8_e5m2_from_f32(x, true); }
static uint32_t our_e5m2_nosat(float x) { return fp8_e5m2_from_f32(x, false); }
static uint32_t our_bf16(float x) { return bf16_from_f32(x); }
static uint32_t our_ue8m0(float x) { return ue8m0_from_f32(x); }

static void widen8(std::vector<uint32_t> &out, const std::vector<uint8_t> &v)
{
	out.assign(v.begin(), v.end());
}

static void bulk_e4m3_sat(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint8_t> v(x.size());
	fp8_e4m3_from_f32_n(v.data(), x.data(), x.size(), true);
	widen8(out, v);
}

static void bulk_e4m3_nosat(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint8_t> v(x.size());
	fp8_e4m3_from_f32_n(v.data(), x.data(), x.size(), false);
	widen8(out, v);
}

static void bulk_e5m2_sat(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint8_t> v(x.size());
	fp8_e5m2_from_f32_n(v.data(), x.data(), x.size(), true);
	widen8(out, v);
}

static void bulk_e5m2_nosat(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint8_t> v(x.size());
	fp8_e5m2_from_f32_n(v.data(), x.data(), x.size(), false);
	widen8(out, v);
}

static void bulk_bf16(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint16_t> v(x.size());
	bf16_from_f32_n(v.data(), x.data(), x.size());
	out.assign(v.begin(), v.end());
}

static void bulk_ue8m0(std::vector<uint32_t> &out, const std::vector<float> &x)
{
	std::vector<uint8_t> v(x.size());
	ue8m0_from_f32_n(v.data(), x.data(), x.size());
	widen8(out, v);
}

struct encoder {
	const char *name;
	uint32_t (*nv)(float x);
	uint32_t (*ours)(float x);
	void (*ours_n)(std::vector<uint32_t> &out, const std::vector<float> &x);
};

static const struct encoder encoders[] = {
	{ "e4m3 satfinite", nv_e4m3_sat, our_e4m3_sat, bulk_e4m3_sat },
	{ "e4m3 nosat", nv_e4m3_nosat, our_e4m3_nosat, bulk_e4m3_nosat },
	{ "e5m2 satfinite", nv_e5m2_sat, our_e5m2_sat, bulk_e5m2_sat },
	{ "e5m2 nosat", nv_e5m2_nosat, our_e5m2_nosat, bulk_e5m2_nosat },
	{ "bf16 rn", nv_bf16, our_bf16, bulk_bf16 },
	{ "ue8m0 rp satfinite", nv_ue8m0, our_ue8m0, bulk_ue8m0 },
};

/*
 * Run every input through every encoder: ours (scalar and bulk) must equal
 * NVIDIA's bits.  Reports the first mismatches of each encoder and a count.
 */
static void check_encoders(struct lt *t, const char *set, const std::vector<float> &x)
{
	std::vector<uint32_t> bulk;

	for (const struct encoder &e : encoders) {
		size_t bad = 0;

		e.ours_n(bulk, x);
		for (size_t i = 0; i < x.size(); i++) {
			uint32_t want = e.nv(x[i]), got = e.ours(x[i]);

			if (got == want && bulk[i] == want)
				continue;
			if (bad++ < 4)
				lt_fail(t, __FILE__, __LINE__,
					"%s, %s: x = %a (bits 0x%08x): nvidia 0x%02x, ours 0x%02x, "
					"ours bulk 0x%02x", set, e.name, (double)x[i], bits_of(x[i]),
					want, got, bulk[i]);
		}
		if (bad)
			lt_fail(t, __FILE__, __LINE__, "%s, %s: %zu of %zu inputs differ", set,
				e.name, bad, x.size());
	}
}

/* ---- input sets ------------------------------------------------------------- */

static void push_signed(std::vector<float> &v, float x)
{
	v.push_back(x);
	v.push_back(-x);
}

/* x, and the float on either side of it. */
static void push_neighbourhood(std::vector<float> &v, float x)
{
	push_signed(v, x);
	push_signed(v, std::nextafter(x, 0.0f));
	push_signed(v, std::nextafter(x, INFINITY));
}

/*
 * Every rounding boundary of an FP8 format: the midpoints between
 * consecutive non-negative finite values (0 and the smallest subnormal, the
 * largest subnormal and the smallest normal, ..., the largest finite value
 * and the overflow point max + ulp/2), each exactly and +-1 ulp, both
 * signs; also every representable value +-1 ulp.  The values come from
 * NVIDIA's decoder, not ours.  `top` is the largest finite code.
 */
static std::vector<float> fp8_boundaries(float (*decode)(uint8_t), uint8_t top)
{
	std::vector<float> v;

	for (unsigned c = 0; c <= top; c++) {
		float lo = decode((uint8_t)c);
		float hi = c < top ? decode((uint8_t)(c + 1))
				   : lo + (lo - decode((uint8_t)(c - 1)));

		push_neighbourhood(v, lo);
		push_neighbourhood(v, (lo + hi) / 2); /* exact: few mantissa bits */
		if (c == top)
			push_neighbourhood(v, hi);
	}
	return v;
}

/* Midpoints between consecutive finite BF16 values, exactly and +-1 ulp. */
static std::vector<float> bf16_boundaries(void)
{
	std::vector<float> v;

	for (uint32_t b = 0; b < 0x7f80u; b++) {
		uint32_t mid = (b << 16) | 0x8000u;

		for (uint32_t m = mid - 1; m <= mid + 1; m++)
			push_signed(v, float_of(m));
	}
	return v;
}

static std::vector<float> specials(void)
{
	static const uint32_t nan_bits[] = {
		0x7f800001u, 0x7f800100u, 0x7fa00000u, 0x7fbfffffu, 0x7fc00000u,
		0x7fc00001u, 0x7fe00000u, 0x7fffe000u, 0x7fffffffu,
	};
	static const float finite[] = {
		0.0f, 1.0f, 448.0f, 464.0f, 480.0f, 57344.0f, 61440.0f, 65536.0f,
		0x1p-6f, 0x1p-9f, 0x1p-10f, 0x1p-14f, 0x1p-16f, 0x1p-17f, FLT_MIN,
		FLT_MAX, FLT_TRUE_MIN, 0x1p-127f, 0x1p127f, 0x1.8p-127f,
	};
	std::vector<float> v;

	for (uint32_t b : nan_bits) {
		v.push_back(float_of(b));
		v.push_back(float_of(b | 0x80000000u));
	}
	push_signed(v, INFINITY);
	for (float x : finite)
		push_neighbourhood(v, x);
	/* UE8M0: every power of two a float holds (2^-149 .. 2^127) +-1 ulp. */
	for (int e = -149; e <= 127; e++)
		push_neighbourhood(v, std::ldexp(1.0f, e));
	return v;
}

/*
 * 10^7 random inputs, three kinds (seeded per case, see lt_seed):
 *  - uniformly random float32 bit patterns (every class: NaN, inf,
 *    subnormal, huge);
 *  - random values in the FP8 ranges: exponent uniform in [-20, 17], which
 *    spans E4M3's and E5M2's subnormals up past their overflow points;
 *  - the same with the mantissa cut to a random 1..10 bits, so exact ties
 *    and near-ties of FP8 / BF16 rounding come up often.
 */
static float random_fp8_range(struct loom_rng *r, int keep_bits)
{
	uint32_t u = loom_rng_u32(r);
	uint32_t sign = u & 0x80000000u;
	uint32_t e = (uint32_t)(127 - 20 + (int)(loom_rng_u32(r) % 38));
	uint32_t m = u & 0x7fffffu;

	if (keep_bits)
		m &= ~((1u << (23 - keep_bits)) - 1u);
	return float_of(sign | e << 23 | m);
}

enum { N_RANDOM_BITS = 4000000, N_RANDOM_RANGE = 4000000, N_RANDOM_SHORT = 2000000 };

/* ---- cases ------------------------------------------------------------------ */

static void check_decode(struct lt *t, const char *what, float (*ours)(uint8_t),
			 void (*ours_n)(float *, const uint8_t *, size_t),
			 float (*nv)(uint8_t))
{
	uint8_t codes[256];
	float bulk[256];

	for (unsigned c = 0; c < 256; c++)
		codes[c] = (uint8_t)c;
	ours_n(bulk, codes, 256);
	for (unsigned c = 0; c < 256; c++) {
		uint32_t want = bits_of(nv((uint8_t)c));

		LT_CHECK(t, bits_of(ours((uint8_t)c)) == want && bits_of(bulk[c]) == want,
			 "%s 0x%02x: nvidia 0x%08x, ours 0x%08x, bulk 0x%08x", what, c, want,
			 bits_of(ours((uint8_t)c)), bits_of(bulk[c]));
	}
}

static void test_e4m3_decode_every_code(struct lt *t)
{
	check_decode(t, "e4m3", fp8_e4m3_to_f32, fp8_e4m3_to_f32_n, nv_e4m3_to_f32);
}

static void test_e5m2_decode_every_code(struct lt *t)
{
	check_decode(t, "e5m2", fp8_e5m2_to_f32, fp8_e5m2_to_f32_n, nv_e5m2_to_f32);
}

static void test_ue8m0_decode_every_code(struct lt *t)
{
	check_decode(t, "ue8m0", ue8m0_to_f32, ue8m0_to_f32_n, nv_ue8m0_to_f32);
}

/*
 * Every FP8 code decoded (by NVIDIA) and encoded again, both formats, both
 * modes: ours equals NVIDIA, and for finite codes the round trip is the
 * identity (and so is inf in E5M2 without saturation).
 */
static void test_fp8_every_code_round_trip(struct lt *t)
{
	std::vector<float> x;

	for (unsigned c = 0; c < 256; c++) {
		float e4 = nv_e4m3_to_f32((uint8_t)c), e5 = nv_e5m2_to_f32((uint8_t)c);

		x.push_back(e4);
		x.push_back(e5);
		if (!std::isnan(e4)) {
			LT_CHECK(t, fp8_e4m3_from_f32(e4, true) == c, "e4m3 0x%02x", c);
			LT_CHECK(t, fp8_e4m3_from_f32(e4, false) == c, "e4m3 0x%02x", c);
		}
		if (std::isfinite(e5))
			LT_CHECK(t, fp8_e5m2_from_f32(e5, true) == c, "e5m2 0x%02x", c);
		if (!std::isnan(e5))
			LT_CHECK(t, fp8_e5m2_from_f32(e5, false) == c, "e5m2 0x%02x", c);
	}
	check_encoders(t, "fp8 codes", x);
}

/* All 2^16 BF16 patterns: decode, re-encode (identity unless NaN), and run
 * the decoded values through every other encoder too. */
static void test_bf16_every_pattern(struct lt *t)
{
	std::vector<float> x(65536);
	std::vector<float> bulk(65536);
	std::vector<uint16_t> b(65536);

	for (uint32_t v = 0; v < 65536; v++)
		b[v] = (uint16_t)v;
	bf16_to_f32_n(bulk.data(), b.data(), b.size());
	for (uint32_t v = 0; v < 65536; v++) {
		uint32_t want = bits_of(nv_bf16_to_f32((uint16_t)v));

		x[v] = nv_bf16_to_f32((uint16_t)v);
		LT_CHECK(t, bits_of(bf16_to_f32((uint16_t)v)) == want && bits_of(bulk[v]) == want,
			 "bf16 0x%04x: nvidia 0x%08x, ours 0x%08x", v, want,
			 bits_of(bf16_to_f32((uint16_t)v)));
		if (!std::isnan(x[v]))
			LT_CHECK(t, bf16_from_f32(x[v]) == v, "bf16 0x%04x round trip", v);
	}
	check_encoders(t, "bf16 patterns", x);
}

static void test_e4m3_rounding_boundaries(struct lt *t)
{
	check_encoders(t, "e4m3 boundaries", fp8_boundaries(nv_e4m3_to_f32, 0x7e));
}

static void test_e5m2_rounding_boundaries(struct lt *t)
{
	check_encoders(t, "e5m2 boundaries", fp8_boundaries(nv_e5m2_to_f32, 0x7b));
}

static void test_bf16_rounding_boundaries(struct lt *t)
{
	check_encoders(t, "bf16 boundaries", bf16_boundaries());
}

static void test_specials(struct lt *t)
{
	check_encoders(t, "specials", specials());
}

static void test_random_bit_patterns(struct lt *t)
{
	struct loom_rng r;
	std::vector<float> x(N_RANDOM_BITS);

	loom_rng_init(&r, lt_seed(t));
	for (float &v : x)
		v = float_of(loom_rng_u32(&r));
	check_encoders(t, "random bits", x);
}

static void test_random_fp8_range(struct lt *t)
{
	struct loom_rng r;
	std::vector<float> x(N_RANDOM_RANGE);

	loom_rng_init(&r, lt_seed(t));
	for (float &v : x)
		v = random_fp8_range(&r, 0);
	check_encoders(t, "random fp8 range", x);
}

static void test_random_short_mantissa(struct lt *t)
{
	struct loom_rng r;
	std::vector<float> x(N_RANDOM_SHORT);

	loom_rng_init(&r, lt_seed(t));
	for (float &v : x)
		v = random_fp8_range(&r, 1 + (int)(loom_rng_u32(&r) % 10));
	check_encoders(t, "random short mantissa", x);
}

/*
 * A sweep of the whole float32 space: every 509th bit pattern (8.4M
 * inputs, all classes and exponents), or every pattern (2^32, a few
 * minutes on one core) with LOOM_FP8_EXHAUSTIVE=1 in the environment.
 */
static void test_float32_sweep(struct lt *t)
{
	const char *all = getenv("LOOM_FP8_EXHAUSTIVE");
	const uint64_t stride = all && !strcmp(all, "1") ? 1 : 509;
	const size_t chunk = 1u << 20;
	std::vector<float> x;
	uint64_t b = 0;

	x.reserve(chunk);
	while (b < (1ull << 32)) {
		x.clear();
		for (; b < (1ull << 32) && x.size() < chunk; b += stride)
			x.push_back(float_of((uint32_t)b));
		check_encoders(t, "float32 sweep", x);
	}
}

static const struct lt_case cases[] = {
	LT_CASE(test_e4m3_decode_every_code),
	LT_CASE(test_e5m2_decode_every_code),
	LT_CASE(test_ue8m0_decode_every_code),
	LT_CASE(test_fp8_every_code_round_trip),
	LT_CASE(test_bf16_every_pattern),
	LT_CASE(test_e4m3_rounding_boundaries),
	LT_CASE(test_e5m2_rounding_boundaries),
	LT_CASE(test_bf16_rounding_boundaries),
	LT_CASE(test_specials),
	LT_CASE(test_random_bit_patterns),
	LT_CASE(test_random_fp8_range),
	LT_CASE(test_random_short_mantissa),
	LT_CASE(test_float32_sweep),
};

#endif /* LOOM_NO_CUDA_FP8 */

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_fp8.c - properties of the FP8 / BF16 / UE8M0 conversions of
 * loom/fp8.h, checked without any external oracle (the two bit-exact oracle
 * suites are test_fp8_cuda_oracle.cpp and test_fp8_mldtypes.py):
 *
 *  - every code decodes to the value of its bit fields, computed here in
 *    double from the format's definition;
 *  - from_f32(to_f32(c)) == c for every code, both modes;
 *  - encoding is monotone, odd (sign-symmetric), and gives the nearest
 *    representable value, ties to the even code (brute force over every
 *    code, in double);
 *  - saturation and overflow follow fp8.h's contract;
 *  - UE8M0 rounds up to the smallest power of two >= |x|;
 *  - the bulk *_n versions equal the scalar ones on every input, for any
 *    length and alignment (vector bodies and tails), and n = 0 is a no-op.
 */
#include "lt.h"
#include "loom/fp8.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

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

/* One FP8 format: its field widths and our functions. */
struct fmt {
	const char *name;
	int ebits, mbits, bias;
	uint8_t max_code;	/* largest finite code */
	double max;
	uint8_t (*enc)(float x, bool saturate);
	float (*dec)(uint8_t v);
	void (*enc_n)(uint8_t *dst, const float *src, size_t n, bool saturate);
	void (*dec_n)(float *dst, const uint8_t *src, size_t n);
};

static const struct fmt fmts[] = {
	{ "e4m3", 4, 3, 7, 0x7e, 448.0, fp8_e4m3_from_f32, fp8_e4m3_to_f32,
	  fp8_e4m3_from_f32_n, fp8_e4m3_to_f32_n },
	{ "e5m2", 5, 2, 15, 0x7b, 57344.0, fp8_e5m2_from_f32, fp8_e5m2_to_f32,
	  fp8_e5m2_from_f32_n, fp8_e5m2_to_f32_n },
};

/* Value of a finite code from its fields, in double (the definition). */
static double fmt_value(const struct fmt *f, unsigned c)
{
	unsigned e = (c >> f->mbits) & ((1u << f->ebits) - 1u);
	unsigned m = c & ((1u << f->mbits) - 1u);
	double frac = (double)m / (double)(1u << f->mbits);
	double v = e ? ldexp(1.0 + frac, (int)e - f->bias) : ldexp(frac, 1 - f->bias);

	return c & 0x80u ? -v : v;
}

static bool fmt_is_nan(const struct fmt *f, unsigned c)
{
	return f->ebits == 4 ? (c & 0x7fu) == 0x7fu : (c & 0x7fu) > 0x7cu;
}

/* ---- decoding ----------------------------------------------------------- */

static void test_decode_matches_bit_fields(struct lt *t)
{
	for (size_t k = 0; k < LT_N(fmts); k++) {
		const struct fmt *f = &fmts[k];

		for (unsigned c = 0; c < 256; c++) {
			float got = f->dec((uint8_t)c);

			if (fmt_is_nan(f, c))
				LT_CHECK(t, bits_of(got) == 0x7fffffffu, "%s 0x%02x", f->name, c);
			else if ((c & 0x7fu) > f->max_code) /* E5M2 infinities */
				LT_CHECK(t, got == (c & 0x80u ? -INFINITY : INFINITY),
					 "%s 0x%02x", f->name, c);
			else
				LT_CHECK(t, (double)got == fmt_value(f, c) &&
					 !!signbit(got) == !!(c & 0x80u),
					 "%s 0x%02x: got %a want %a", f->name, c, (double)got,
					 fmt_value(f, c));
		}
	}
	LT_CHECK(t, fp8_e4m3_to_f32(0x7e) == 448.0f && fp8_e5m2_to_f32(0x7b) == 57344.0f);
	LT_CHECK(t, fp8_e4m3_to_f32(0x01) == 0x1p-9f && fp8_e5m2_to_f32(0x01) == 0x1p-16f);
}

static void test_every_code_round_trip(struct lt *t)
{
	for (size_t k = 0; k < LT_N(fmts); k++) {
		const struct fmt *f = &fmts[k];

		for (unsigned c = 0; c < 256; c++) {
			float v = f->dec((uint8_t)c);

			if (fmt_is_nan(f, c))
				continue;
			if (isinf(v)) { /* E5M2 inf: kept without saturation, max with */
				LT_CHECK(t, f->enc(v, false) == c, "%s 0x%02x", f->name, c);
				LT_CHECK(t, f->enc(v, true) == (c & 0x80u) + f->max_code,
					 "%s 0x%02x", f->name, c);
				continue;
			}
			LT_CHECK(t, f->enc(v, false) == c && f->enc(v, true) == c,
				 "%s 0x%02x: %a -> 0x%02x / 0x%02x", f->name, c, (double)v,
				 f->enc(v, false), f->enc(v, true));
		}
	}
	for (uint32_t b = 0; b < 65536; b++) {
		float v = bf16_to_f32((uint16_t)b);

		LT_CHECK(t, bits_of(v) == b << 16, "bf16 0x%04x", b);
		if (!isnan(v))
			LT_CHECK(t, bf16_from_f32(v) == b, "bf16 0x%04x", b);
	}
	for (unsigned e = 0; e < 255; e++) {
		float v = ue8m0_to_f32((uint8_t)e);

		LT_CHECK(t, (double)v == ldexp(1.0, (int)e - 127) && ue8m0_from_f32(v) == e,
			 "ue8m0 %u", e);
	}
	LT_CHECK(t, bits_of(ue8m0_to_f32(UE8M0_NAN)) == 0x7fff0000u); /* fp8.h */
}

/* ---- encoding: nearest, monotone, symmetric -------------------------------- */

/* Nearest finite code to x (|x| < max + ulp/2), ties to the even code, by
 * brute force over every non-negative finite code; vals[c] = its value. */
static unsigned nearest_code(const struct fmt *f, const double *vals, double x)
{
	double a = fabs(x), best_d = INFINITY;
	unsigned best = 0;

	for (unsigned c = 0; c <= f->max_code; c++) {
		double d = fabs(vals[c] - a);

		if (d < best_d || (d == best_d && !(c & 1u))) {
			best_d = d;
			best = c;
		}
	}
	return best | (signbit(x) ? 0x80u : 0u);
}

/* A random float in f's range, from its smallest subnormal / 4 to max + ulp. */
static float random_in_range(struct loom_rng *r, const struct fmt *f)
{
	int emin = 1 - f->bias - f->mbits - 2, emax = (int)log2(f->max);
	double m = 1.0 + loom_rng_uniform(r);
	int e = emin + (int)(loom_rng_u32(r) % (uint32_t)(emax - emin + 1));
	float x = (float)ldexp(m, e);

	/* short mantissas make exact ties common */
	if (loom_rng_u32(r) & 1)
		x = float_of(bits_of(x) & ~((1u << (20 - loom_rng_u32(r) % 8)) - 1u));
	return loom_rng_u32(r) & 1 ? -x : x;
}

static void test_encode_is_nearest_ties_to_even(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t k = 0; k < LT_N(fmts); k++) {
		const struct fmt *f = &fmts[k];
		double over = f->max + (f->max - fmt_value(f, f->max_code - 1u)) / 2;
		double vals[128];

		for (unsigned c = 0; c <= f->max_code; c++)
			vals[c] = fmt_value(f, c);
		for (int i = 0; i < 300000; i++) {
			float x = random_in_range(&r, f);
			unsigned want;

			if (fabs((double)x) >= over) /* overflow point: other test */
				continue;
			want = nearest_code(f, vals, x);
			LT_CHECK(t, f->enc(x, true) == want && f->enc(x, false) == want,
				 "%s x = %a: got 0x%02x, nearest 0x%02x", f->name, (double)x,
				 f->enc(x, true), want);
		}
	}
}

/* BF16 rounding is nearest-even: check against a double computation. */
static void test_bf16_is_nearest_ties_to_even(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = loom_rng_u32(&r);
		float x = float_of(i & 1 ? u & 0xffff8000u : u); /* half the draws: ties */
		uint32_t lo = bits_of(x) >> 16, hi = lo + 1;
		double dlo, dhi, vhi, want;

		if (isnan(x) || isinf(x))
			continue;
		dlo = fabs((double)float_of(lo << 16) - x);
		/* above the largest finite BF16, the next value up is 2^128 as if
		 * the exponent were unbounded (IEEE 754 overflow rule): inf */
		vhi = (hi & 0x7fffu) == 0x7f80u ? copysign(0x1p128, x)
						: (double)float_of(hi << 16);
		dhi = fabs(vhi - x);
		want = dlo < dhi || (dlo == dhi && !(lo & 1u)) ? lo : hi;
		LT_CHECK(t, bf16_from_f32(x) == (uint16_t)want, "x = %a (0x%08x)", (double)x,
			 bits_of(x));
	}
}

/*
 * Monotone and odd: over every 61st positive float below inf (3.5e7
 * points, a prime stride so every mantissa pattern class is hit), the
 * decoded result never decreases, and encode(-x) is encode(x) with the sign.
 */
static void test_encode_monotone_and_odd(struct lt *t)
{
	enum { CHUNK = 1 << 16, STRIDE = 61 };
	float *x = malloc(CHUNK * sizeof(*x)), *y = malloc(CHUNK * sizeof(*y));
	uint8_t *p = malloc(CHUNK), *q = malloc(CHUNK);

	LT_CHECK(t, x && y && p && q, "out of memory");
	for (size_t k = 0; x && y && p && q && k < LT_N(fmts); k++) {
		const struct fmt *f = &fmts[k];
		float prev = 0.0f;

		for (uint32_t base = 0; base < 0x7f800000u; base += CHUNK * STRIDE) {
			size_t n = 0;

			for (; n < CHUNK && base + n * STRIDE < 0x7f800000u; n++) {
				x[n] = float_of(base + (uint32_t)n * STRIDE);
				y[n] = -x[n];
			}
			f->enc_n(p, x, n, true);
			f->enc_n(q, y, n, true);
			for (size_t i = 0; i < n; i++) {
				float v = f->dec(p[i]);

				LT_CHECK(t, v >= prev, "%s: %a -> %a after %a", f->name,
					 (double)x[i], (double)v, (double)prev);
				LT_CHECK(t, q[i] == (p[i] | 0x80u), "%s: -%a", f->name,
					 (double)x[i]);
				prev = v;
			}
		}
	}
	free(q);
	free(p);
	free(y);
	free(x);
}

/* ---- overflow, saturation, NaN ---------------------------------------------- */

static void test_overflow_and_saturation(struct lt *t)
{
	/* E4M3: 464 (max + ulp/2) is a tie to the even max 448; above it overflows. */
	LT_CHECK(t, fp8_e4m3_from_f32(464.0f, false) == 0x7e);
	LT_CHECK(t, fp8_e4m3_from_f32(nextafterf(464.0f, INFINITY), false) == 0x7f);
	LT_CHECK(t, fp8_e4m3_from_f32(-1e30f, false) == 0xff);
	LT_CHECK(t, fp8_e4m3_from_f32(-1e30f, true) == 0xfe);
	LT_CHECK(t, fp8_e4m3_from_f32(INFINITY, false) == 0x7f);
	LT_CHECK(t, fp8_e4m3_from_f32(-INFINITY, false) == 0xff);
	LT_CHECK(t, fp8_e4m3_from_f32(INFINITY, true) == 0x7e);
	LT_CHECK(t, fp8_e4m3_from_f32(-INFINITY, true) == 0xfe);
	/* E5M2: 61440 is a tie with an odd max (0x7b), so it rounds up: overflow. */
	LT_CHECK(t, fp8_e5m2_from_f32(nextafterf(61440.0f, 0.0f), false) == 0x7b);
	LT_CHECK(t, fp8_e5m2_from_f32(61440.0f, false) == 0x7c);
	LT_CHECK(t, fp8_e5m2_from_f32(61440.0f, true) == 0x7b);
	LT_CHECK(t, fp8_e5m2_from_f32(-INFINITY, false) == 0xfc);
	LT_CHECK(t, fp8_e5m2_from_f32(-INFINITY, true) == 0xfb);
	LT_CHECK(t, fp8_e5m2_from_f32(FLT_MAX, true) == 0x7b);
	/* BF16 overflow goes to inf (round to nearest). */
	LT_CHECK(t, bf16_from_f32(FLT_MAX) == 0x7f80 && bf16_from_f32(-FLT_MAX) == 0xff80);
	LT_CHECK(t, bf16_from_f32(float_of(0x7f7f7fffu)) == 0x7f7f);
	/* Underflow: half the smallest subnormal is a tie to (signed) zero. */
	LT_CHECK(t, fp8_e4m3_from_f32(0x1p-10f, true) == 0x00);
	LT_CHECK(t, fp8_e4m3_from_f32(-0x1p-10f, true) == 0x80);
	LT_CHECK(t, fp8_e4m3_from_f32(nextafterf(0x1p-10f, 1.0f), true) == 0x01);
	LT_CHECK(t, fp8_e5m2_from_f32(0x1p-17f, true) == 0x00);
	LT_CHECK(t, fp8_e5m2_from_f32(0x3p-17f, true) == 0x02); /* 1.5 ulp: tie to even */
}

static void test_nan_in_gives_canonical_nan(struct lt *t)
{
	static const uint32_t nans[] = { 0x7f800001u, 0x7fc00000u, 0x7fffffffu, 0xffc00000u,
					 0xff800001u, 0xffffffffu, 0x7fa5a5a5u };

	for (size_t i = 0; i < LT_N(nans); i++) {
		float x = float_of(nans[i]);

		for (int s = 0; s < 2; s++) {
			LT_CHECK(t, fp8_e4m3_from_f32(x, s) == FP8_E4M3_NAN, "0x%08x", nans[i]);
			LT_CHECK(t, fp8_e5m2_from_f32(x, s) == FP8_E5M2_NAN, "0x%08x", nans[i]);
		}
		LT_CHECK(t, bf16_from_f32(x) == BF16_NAN, "0x%08x", nans[i]);
		LT_CHECK(t, ue8m0_from_f32(x) == UE8M0_NAN, "0x%08x", nans[i]);
	}
}

/* ---- UE8M0 ------------------------------------------------------------------- */

/* ue8m0_to_f32(ue8m0_from_f32(x)) is the smallest power of two >= |x|,
 * within [2^-127, 2^127]: s >= |x| and s / 2 < |x|. */
static void test_ue8m0_rounds_up(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int i = 0; i < 2000000; i++) {
		float x = float_of(loom_rng_u32(&r));
		double a = fabs((double)x), s;

		if (isnan(x))
			continue;
		s = ue8m0_to_f32(ue8m0_from_f32(x));
		if (a <= 0x1p-127)
			LT_CHECK(t, s == 0x1p-127, "x = %a", (double)x);
		else if (a > 0x1p127)
			LT_CHECK(t, s == 0x1p127, "x = %a", (double)x);
		else
			LT_CHECK(t, s >= a && s / 2 < a, "x = %a: scale %a", (double)x, s);
	}
	for (int e = -149; e <= 127; e++) { /* exact powers and their neighbours */
		float p = ldexpf(1.0f, e);
		int want = e < -127 ? 0 : e + 127;

		LT_CHECK(t, ue8m0_from_f32(p) == want, "2^%d", e);
		LT_CHECK(t, ue8m0_from_f32(-p) == want, "-2^%d", e);
		LT_CHECK(t, ue8m0_from_f32(nextafterf(p, 0.0f)) == (e <= -127 ? 0 : want),
			 "2^%d - ulp", e);
		if (e < 127)
			LT_CHECK(t, ue8m0_from_f32(nextafterf(p, INFINITY)) ==
				 (e < -127 ? 0 : want + 1), "2^%d + ulp", e);
	}
	LT_CHECK(t, ue8m0_from_f32(nextafterf(0x1p127f, INFINITY)) == 254);
	LT_CHECK(t, ue8m0_from_f32(0.0f) == 0 && ue8m0_from_f32(-0.0f) == 0);
	LT_CHECK(t, ue8m0_from_f32(INFINITY) == 254 && ue8m0_from_f32(FLT_MAX) == 254);
	LT_CHECK(t, ue8m0_from_f32(448.0f) == 127 + 9 && ue8m0_from_f32(-3.0f) == 129);
}

/* ---- bulk == scalar ---------------------------------------------------------- */

/* Inputs covering every class: specials, both signs, subnormals, ties. */
static void fill_inputs(float *x, size_t n, uint64_t seed)
{
	struct loom_rng r;

	loom_rng_init(&r, seed);
	for (size_t i = 0; i < n; i++) {
		uint32_t u = loom_rng_u32(&r);

		switch (i % 4) {
		case 0: x[i] = float_of(u); break;			    /* any bits */
		case 1: x[i] = float_of(u & 0xfff80000u); break;	    /* short mantissa */
		case 2: x[i] = (float)ldexp(loom_rng_normal(&r), (int)(u % 40) - 20); break;
		default: x[i] = float_of((u & 0x80000000u) | (0x7f800000u + (u & 3u)));
		}
	}
}

static void check_bulk_range(struct lt *t, const float *x, size_t n)
{
	uint8_t p[80];
	uint16_t b[80];
	float y[80];
	uint8_t codes[80];

	for (size_t k = 0; k < LT_N(fmts); k++)
		for (int s = 0; s < 2; s++) {
			fmts[k].enc_n(p, x, n, s);
			for (size_t i = 0; i < n; i++)
				LT_CHECK(t, p[i] == fmts[k].enc(x[i], s), "%s n=%zu i=%zu",
					 fmts[k].name, n, i);
		}
	bf16_from_f32_n(b, x, n);
	ue8m0_from_f32_n(p, x, n);
	for (size_t i = 0; i < n; i++) {
		LT_CHECK(t, b[i] == bf16_from_f32(x[i]), "bf16 n=%zu i=%zu", n, i);
		LT_CHECK(t, p[i] == ue8m0_from_f32(x[i]), "ue8m0 n=%zu i=%zu", n, i);
		codes[i] = (uint8_t)bits_of(x[i]);
	}
	for (size_t k = 0; k < LT_N(fmts); k++) {
		fmts[k].dec_n(y, codes, n);
		for (size_t i = 0; i < n; i++)
			LT_CHECK(t, bits_of(y[i]) == bits_of(fmts[k].dec(codes[i])), "%s dec",
				 fmts[k].name);
	}
	ue8m0_to_f32_n(y, codes, n);
	for (size_t i = 0; i < n; i++)
		LT_CHECK(t, bits_of(y[i]) == bits_of(ue8m0_to_f32(codes[i])), "ue8m0 dec");
}

/* Every length 0..79 at every start offset 0..15: vector bodies and tails. */
static void test_bulk_equals_scalar_any_length(struct lt *t)
{
	float x[96];

	fill_inputs(x, LT_N(x), lt_seed(t));
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n < 80; n++)
			check_bulk_range(t, x + off, n);
}

/* One large array: bulk against scalar on 2^22 inputs of every class, and
 * on all 2^16 BF16 decodings. */
static void test_bulk_equals_scalar_large(struct lt *t)
{
	enum { N = 1 << 22 };
	float *x = malloc(N * sizeof(*x)), *y = malloc(N * sizeof(*y));
	uint8_t *p = malloc(N);
	uint16_t *b = malloc(N * sizeof(*b));
	size_t bad = 0;

	LT_CHECK(t, x && y && p && b, "out of memory");
	if (!(x && y && p && b))
		goto out;
	fill_inputs(x, N, lt_seed(t));
	for (size_t k = 0; k < LT_N(fmts); k++)
		for (int s = 0; s < 2; s++) {
			fmts[k].enc_n(p, x, N, s);
			for (size_t i = 0; i < N; i++)
				bad += p[i] != fmts[k].enc(x[i], s);
		}
	bf16_from_f32_n(b, x, N);
	for (size_t i = 0; i < N; i++)
		bad += b[i] != bf16_from_f32(x[i]);
	ue8m0_from_f32_n(p, x, N);
	for (size_t i = 0; i < N; i++)
		bad += p[i] != ue8m0_from_f32(x[i]);
	for (size_t i = 0; i < 65536; i++)
		b[i] = (uint16_t)i;
	bf16_to_f32_n(y, b, 65536);
	for (size_t i = 0; i < 65536; i++)
		bad += bits_of(y[i]) != bits_of(bf16_to_f32(b[i]));
	LT_CHECK(t, bad == 0, "%zu bulk results differ from scalar", bad);
out:
	free(b);
	free(p);
	free(y);
	free(x);
}

/* n = 0 touches nothing, so NULL pointers are fine then (documented). */
static void test_bulk_zero_length_is_noop(struct lt *t)
{
	fp8_e4m3_from_f32_n(NULL, NULL, 0, true);
	fp8_e4m3_to_f32_n(NULL, NULL, 0);
	fp8_e5m2_from_f32_n(NULL, NULL, 0, false);
	fp8_e5m2_to_f32_n(NULL, NULL, 0);
	bf16_from_f32_n(NULL, NULL, 0);
	bf16_to_f32_n(NULL, NULL, 0);
	ue8m0_from_f32_n(NULL, NULL, 0);
	ue8m0_to_f32_n(NULL, NULL, 0);
	LT_CHECK(t, true);
}

/* Decoding must not depend on float subnormal arithmetic: a process running
 * with flush-to-zero / denormals-are-zero (e.g. linked with -Ofast code) must
 * still decode the subnormal FP8 codes exactly. */
static void test_decode_under_ftz_daz(struct lt *t)
{
#if defined(__x86_64__) || defined(__i386__)
	float want4[256], want5[256];
	unsigned csr = _mm_getcsr();

	for (int v = 0; v < 256; v++) {
		want4[v] = fp8_e4m3_to_f32((uint8_t)v);
		want5[v] = fp8_e5m2_to_f32((uint8_t)v);
	}
	_mm_setcsr(csr | 0x8040); /* FTZ (bit 15) + DAZ (bit 6) */
	for (int v = 0; v < 256; v++) {
		float g4 = fp8_e4m3_to_f32((uint8_t)v), g5 = fp8_e5m2_to_f32((uint8_t)v);

		LT_CHECK(t, !memcmp(&g4, &want4[v], 4), "e4m3 %#x: %a under FTZ/DAZ, %a without",
			 v, g4, want4[v]);
		LT_CHECK(t, !memcmp(&g5, &want5[v], 4), "e5m2 %#x: %a under FTZ/DAZ, %a without",
			 v, g5, want5[v]);
	}
	_mm_setcsr(csr);
	LT_CHECK(t, want4[1] == 0x1p-9f && want5[1] == 0x1p-16f, "smallest subnormals");
#else
	lt_skip(t, "FTZ/DAZ control is x86-only");
#endif
}

static const struct lt_case cases[] = {
	LT_CASE(test_decode_under_ftz_daz),
	LT_CASE(test_decode_matches_bit_fields),
	LT_CASE(test_every_code_round_trip),
	LT_CASE(test_encode_is_nearest_ties_to_even),
	LT_CASE(test_bf16_is_nearest_ties_to_even),
	LT_CASE(test_encode_monotone_and_odd),
	LT_CASE(test_overflow_and_saturation),
	LT_CASE(test_nan_in_gives_canonical_nan),
	LT_CASE(test_ue8m0_rounds_up),
	LT_CASE(test_bulk_equals_scalar_any_length),
	LT_CASE(test_bulk_equals_scalar_large),
	LT_CASE(test_bulk_zero_length_is_noop),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

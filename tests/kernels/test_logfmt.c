/*
 * test_logfmt.c - the LogFMT-nBit codec (kernels/logfmt.c, contract in
 * include/loom/logfmt.h) against independent computations:
 *  - the exp2 ROMs and logfmt_exp2_fx() against exp2l (x87 long double,
 *    64-bit significand: its error, ~2^-63 relative, is far below every
 *    bound used here), exhaustively over all 2^24 fractions;
 *  - every representable magnitude against [P]'s formula
 *    exp(min + step * (K - 1)) in natural logs, in long double;
 *  - the encoder against a brute-force linear scan of the codebook (the
 *    count rule of logfmt.h), including midpoints and geometric midpoints;
 *  - the bit packing against a bit-by-bit reference and hand-made bytes;
 *  - statistical properties (unbiased, monotone, per-n error bounds) with
 *    the bounds derived next to each case.
 * White box: the .c is included to reach its ROMs (the archive's copy is
 * then not linked).
 */
#include "lt.h"

#include "../../kernels/logfmt.c"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define SIGN(v) (signbit(v) != 0)
#define TOP(n) ((1u << ((n) - 1)) - 1)

/*
 * Codebook accuracy.  m(K) against the exact 2^(lmin + (lmax - lmin)(K-1)/Q)
 * from the header floats: lmin, lmax are put on the 2^-24 grid with error
 * <= 2^-25 each (exact when |l| >= 0.5), the rounded division adds <= 2^-25,
 * so the log2 is off by <= 3 * 2^-25 (relative 6.2e-8 after exp2); exp2_fx
 * is within 0.52 ulp <= 6.2e-8 relative (test_exp2_all_fractions).  Total
 * 1.24e-7 for normal results; 1.3e-7 leaves room for the long double.
 */
#define CODEBOOK_RTOL 1.3e-7

static float ulpf(float v) { return nextafterf(fabsf(v), INFINITY) - fabsf(v); }

/*
 * The header stores log2 a rounded to FP32, half an ulp of log2 a: 2^that
 * is off from a by up to ln2 * ulp(l) / 2 relative (3.3e-7 for 2^-16 < a <
 * 2^16, 5.2e-6 at the ends of FP32); plus the codebook's own error.  This
 * is how close m(1) and m(TOP) come to amin and amax.
 */
static double header_rtol(float l) { return 0.6931471805599453 * 0.5 * ulpf(l) + CODEBOOK_RTOL; }

/* ---- helpers ------------------------------------------------------------ */

static void codebook_of(float *m, const struct logfmt_header *hd, int n)
{
	for (uint32_t k = 0; k <= TOP(n); k++)
		m[k] = logfmt_code_to_f32(hd, n, k);
}

/* The encoder's rule, by definition: K = #{k < top : 2|x| >= m(k)+m(k+1)}. */
static uint32_t brute_code(const float *m, uint32_t top, float x)
{
	double x2 = 2.0 * fabs((double)x);
	uint32_t k = 0;

	for (uint32_t j = 0; j < top; j++)
		k += x2 >= (double)m[j] + (double)m[j + 1];
	return k;
}

/* Code i of a packed stream, bit by bit (independent of logfmt_codes_*). */
static uint32_t ref_get_code(const uint8_t *s, int i, int n)
{
	uint32_t c = 0;

	for (int b = 0; b < n; b++) {
		long bit = (long)i * n + b;

		c |= (uint32_t)((s[bit / 8] >> (bit % 8)) & 1) << b;
	}
	return c;
}

static void ref_put_code(uint8_t *s, int i, int n, uint32_t c)
{
	for (int b = 0; b < n; b++) {
		long bit = (long)i * n + b;

		if ((c >> b) & 1)
			s[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static double rsign(struct loom_rng *r) { return loom_rng_u32(r) & 1 ? -1.0 : 1.0; }

/* Tile generators: each fills len elements. */
enum dist { D_GAUSS, D_HEAVY, D_WIDE, D_CONST, D_TWO, D_COUNT };
static const char *const dist_name[] = { "gauss", "heavy", "wide", "const", "two" };

static void fill_tile(float *x, int len, enum dist d, struct loom_rng *r)
{
	double scale = ldexp(1.0, (int)(loom_rng_u32(r) % 41) - 20);
	double c = scale * (1 + loom_rng_uniform(r));

	for (int i = 0; i < len; i++) {
		double v = loom_rng_normal(r);

		switch (d) {
		case D_GAUSS: break;
		case D_HEAVY: v *= exp(loom_rng_normal(r)); break;	/* log-normal scale mix */
		case D_WIDE: v = rsign(r) * exp2(-45.0 * loom_rng_uniform(r)); break; /* clamped */
		case D_CONST: v = rsign(r); break;
		default: v = rsign(r) * (loom_rng_u32(r) & 2 ? 1.0 : 0.3); break;
		}
		x[i] = (float)(v * (d == D_CONST ? c : scale));
	}
}

/* Encode one tile, return its header and unpacked codes (bit-by-bit). */
static int encode_tile(uint16_t *codes, struct logfmt_header *hd, const float *x, int len,
		       int n)
{
	uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];
	int err = logfmt_tile_encode(buf, x, len, n);

	if (err)
		return err;
	logfmt_header_load(hd, buf);
	for (int i = 0; i < len; i++)
		codes[i] = (uint16_t)ref_get_code(buf + LOGFMT_HEADER_BYTES, i, n);
	return 0;
}

/* ---- exp2 ---------------------------------------------------------------- */

static void check_rom(struct lt *t, const char *name, const uint32_t *rom, long double div)
{
	for (int k = 0; k < 256; k++) {
		long double v = exp2l((long double)k / div) * 0x1p31L;

		/* correctly rounded: the generator found no entry within 2^-20 of a tie */
		LT_CHECK(t, fabsl((long double)rom[k] - v) < 0.5L, "%s[%d]=%#x, exact %.6Lf", name,
			 k, rom[k], v);
	}
}

static void test_exp2_roms(struct lt *t)
{
	check_rom(t, "T0", exp2_t0, 0x1p8L);
	check_rom(t, "T1", exp2_t1, 0x1p16L);
	check_rom(t, "T2", exp2_t2, 0x1p24L);
}

/*
 * All 2^24 fractions at exponent 0: q carries at most ~3 units of 2^-31
 * (three table roundings of <= 1/2, two product roundings of <= 1/2), i.e.
 * 2^-31 * 3 / 2^-23 = 0.012 FP32 ulp, so after the final rounding the result
 * is within 0.5 + 0.012 < 0.52 ulp of 2^f, and non-decreasing in f.
 */
static void test_exp2_all_fractions(struct lt *t)
{
	float prev = 0.0f;
	long not_cr = 0;

	for (int64_t f = 0; f < FX_ONE; f++) {
		float got = logfmt_exp2_fx(f);
		long double exact = exp2l((long double)f * 0x1p-24L);
		long double err = fabsl((long double)got - exact) * 0x1p23L;

		LT_CHECK(t, err <= 0.52L, "f=%ld: got %.9g, exact %.12Lg (%.3Lf ulp)", (long)f,
			 (double)got, exact, err);
		LT_CHECK(t, got >= prev, "f=%ld: %.9g < previous %.9g", (long)f, (double)got,
			 (double)prev);
		not_cr += err > 0.5L;
		prev = got;
	}
	printf("    exp2_fx: %ld of 2^24 fractions not correctly rounded (all <= 0.52 ulp)\n",
	       not_cr);
}

/* Exponent path: normal, subnormal, underflow, saturation, exact powers. */
static void test_exp2_exponents(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int i = -175; i <= 140; i++) {
		for (int rep = 0; rep < 200; rep++) {
			int64_t f = rep == 0 ? 0 : (int64_t)(loom_rng_u32(&r) & 0xffffff);
			float got = logfmt_exp2_fx((int64_t)i * FX_ONE + f);
			long double exact = ldexpl(exp2l((long double)f * 0x1p-24L), i);

			if (i >= 128) {
				LT_CHECK(t, got == FLT_MAX, "i=%d f=%ld: got %g, want FLT_MAX", i,
					 (long)f, (double)got);
				continue;
			}
			int e = exact >= 0x1p-126L ? i : -126;	/* ulp = 2^(e - 23) */
			long double err = fabsl((long double)got - exact) / ldexpl(1.0L, e - 23);
			/* 2^128 (1 - 2^-25) and above round to 2^128: saturated */
			bool sat = i == 127 && exact >= 0x1p128L - 0x1p103L;

			LT_CHECK(t, sat ? got == FLT_MAX : err <= 0.52L,
				 "i=%d f=%ld: got %a, exact %La (%.3Lf ulp)", i, (long)f,
				 (double)got, exact, err);
			if (f == 0 && i >= -149)
				LT_CHECK(t, got == ldexpf(1.0f, i), "2^%d: got %a", i, (double)got);
		}
	}
	LT_CHECK(t, logfmt_exp2_fx(INT64_MAX) == FLT_MAX, "clamp high");
	LT_CHECK(t, logfmt_exp2_fx(INT64_MIN) == 0.0f, "clamp low");
}

/*
 * Golden vectors for a CUDA or RTL decoder: produced by a separate Python
 * implementation of the integer spec in logfmt.h (ROMs from 200-bit
 * arithmetic, Python's exact integers and ties-to-even round()), not by
 * this library.  They pin every rounding step the tolerance-based cases
 * cannot see (the RNE header conversion, the rounded division, the ROM
 * products, the final FP32 rounding, subnormals and saturation).
 */
static const struct { int64_t e; uint32_t bits; } golden_exp2[] = {
	{ 0LL, 0x3f800000 },
	{ 1LL, 0x3f800000 },
	{ 16777215LL, 0x3fffffff },
	{ 8388608LL, 0x3fb504f3 },
	{ -1LL, 0x3f7fffff },
	{ -16777216LL, 0x3f000000 },
	{ 2147483647LL, 0x7f7fffff },
	{ 2147483648LL, 0x7f7fffff },
	{ -2499805184LL, 0x00000001 },
	{ -2516582400LL, 0x00000000 },
	{ -2516582399LL, 0x00000001 },
	{ -2129513386LL, 0x00433bcf },
	{ 95145455LL, 0x424bd072 },
	{ 19088743LL, 0x400cd3a7 },
	{ -2309737967LL, 0x00000a0c },
	{ -1099511627776LL, 0x00000000 },
	/* Fractions where truncating instead of rounding q (first two, and the
	 * negative e) or p (last two) changes the FP32 result: about 0.2% of all
	 * fractions, so the cases above and the 0.52-ulp bound cannot see it. */
	{ 8597735LL, 0x3fb69713 },
	{ 1698LL, 0x3f80024d },
	{ -50328017LL, 0x3e0004eb },
	{ 11267402LL, 0x3fcbe1c1 },
	{ 67017LL, 0x3f805adb },
};

static const struct {
	float lmin, lmax;
	int n;
	uint32_t code, bits;
} golden_decode[] = {
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 8, 0x1, 0x3d000000 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 8, 0xab, 0xbe4b2ff5 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 8, 0x7f, 0x41000000 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 11, 0x1, 0x3d000000 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 11, 0x44c, 0xbd404856 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 11, 0x3ff, 0x41000000 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 16, 0x1, 0x3d000000 },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 16, 0x7473, 0x409b3b3b },
	{ -0x1.4000000000000p+2f, 0x1.8000000000000p+1f, 16, 0x7fff, 0x41000000 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 8, 0x81, 0xb7d8d3d4 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 8, 0x39, 0x3b586794 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 8, 0x7f, 0x3fb587c6 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 11, 0x401, 0xb7d8d3d4 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 11, 0x5e, 0x3892538f },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 11, 0x3ff, 0x3fb587c6 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 16, 0x1, 0x37d8d3d4 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 16, 0x7948, 0x3f4cce21 },
	{ -0x1.e7aac60000000p+3f, 0x1.0215140000000p-1f, 16, 0xffff, 0xbfb587c6 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 8, 0x1, 0x3f6edb40 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 8, 0x8, 0x3f70b401 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 8, 0x7f, 0x3f892fe0 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 11, 0x401, 0xbf6edb40 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 11, 0x12a, 0x3f78acf6 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 11, 0x3ff, 0x3f892fe0 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 16, 0x8001, 0xbf6edb40 },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 16, 0x4915, 0x3f8143ed },
	{ -0x1.99999a0000000p-4f, 0x1.99999a0000000p-4f, 16, 0x7fff, 0x3f892fe0 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 8, 0x1, 0x000001a0 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 8, 0xcc, 0x82d6e9ff },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 8, 0x7f, 0x094fefa9 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 11, 0x1, 0x000001a0 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 11, 0x232, 0x0219de5a },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 11, 0x3ff, 0x094fefa9 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 16, 0x8001, 0x800001a0 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 16, 0xbf8c, 0x81403b88 },
	{ -0x1.18999a0000000p+7f, -0x1.b133340000000p+6f, 16, 0xffff, 0x894fefa9 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 8, 0x81, 0xefcfefa9 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 8, 0xcc, 0xf920573d },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 8, 0xff, 0xff7e3b37 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 11, 0x1, 0x6fcfefa9 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 11, 0x100, 0x73b5ec72 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 11, 0x3ff, 0x7f7e3b37 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 16, 0x8001, 0xefcfefa9 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 16, 0xc988, 0xf8cc6050 },
	{ 0x1.82cccc0000000p+6f, 0x1.fff5c20000000p+6f, 16, 0xffff, 0xff7e3b37 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 8, 0x81, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 8, 0xdf, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 8, 0x7f, 0x3f800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 11, 0x401, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 11, 0x7a, 0x3f800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 11, 0x7ff, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 16, 0x8001, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 16, 0x9376, 0xbf800000 },
	{ 0x1.12e0be0000000p-30f, 0x1.12e0be0000000p-29f, 16, 0x7fff, 0x3f800000 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 8, 0x1, 0x3f800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 8, 0xfd, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 8, 0xff, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 11, 0x401, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 11, 0x6c9, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 11, 0x7ff, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 16, 0x1, 0x3f800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 16, 0x88cf, 0xbf800001 },
	{ 0x1.8000000000000p-24f, 0x1.c000000000000p-23f, 16, 0xffff, 0xbf800001 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 8, 0x1, 0x3f4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 8, 0x5b, 0x3f4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 8, 0xff, 0xbf4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 11, 0x401, 0xbf4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 11, 0x698, 0xbf4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 11, 0x7ff, 0xbf4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 16, 0x8001, 0xbf4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 16, 0x718c, 0x3f4fefc6 },
	{ -0x1.3333340000000p-2f, -0x1.3333340000000p-2f, 16, 0xffff, 0xbf4fefc6 },
};

static uint32_t bits_of(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static void test_golden_vectors(struct lt *t)
{
	for (size_t i = 0; i < LT_N(golden_exp2); i++) {
		uint32_t got = bits_of(logfmt_exp2_fx(golden_exp2[i].e));

		LT_CHECK(t, got == golden_exp2[i].bits, "exp2_fx(%lld) = %#010x, want %#010x",
			 (long long)golden_exp2[i].e, got, golden_exp2[i].bits);
	}
	for (size_t i = 0; i < LT_N(golden_decode); i++) {
		struct logfmt_header hd = { golden_decode[i].lmin, golden_decode[i].lmax };
		int n = golden_decode[i].n;
		uint32_t code = golden_decode[i].code, want = golden_decode[i].bits;
		uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE] = { 0 };
		float y = 0.0f;

		LT_CHECK(t, bits_of(logfmt_code_to_f32(&hd, n, code)) == want,
			 "(%a, %a) n=%d code %#x: %#010x, want %#010x", (double)hd.log2_min,
			 (double)hd.log2_max, n, code, bits_of(logfmt_code_to_f32(&hd, n, code)), want);
		logfmt_header_store(buf, &hd);
		ref_put_code(buf + 8, 0, n, code);
		LT_CHECK(t, logfmt_tile_decode(&y, buf, 1, n) == 0 && bits_of(y) == want,
			 "tile decoder: %#010x, want %#010x", bits_of(y), want);
	}
}

/* ---- sizes and packing -------------------------------------------------- */

static void test_sizes(struct lt *t)
{
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		LT_CHECK(t, logfmt_tile_bytes(n) == 8 + 16 * n, "n=%d: %d", n, logfmt_tile_bytes(n));
		LT_CHECK(t, logfmt_packed_bytes(3, 200, n) == 3 * 2 * (8 + 16 * n), "n=%d", n);
		LT_CHECK(t, logfmt_packed_bytes(1, 128, n) == 8 + 16 * n, "n=%d", n);
	}
	const int bad_n[] = { -1, 0, 7, 17, 32 };
	for (size_t i = 0; i < LT_N(bad_n); i++) {
		LT_CHECK(t, logfmt_tile_bytes(bad_n[i]) == -EINVAL, "n=%d", bad_n[i]);
		LT_CHECK(t, logfmt_packed_bytes(1, 128, bad_n[i]) == -EINVAL, "n=%d", bad_n[i]);
	}
	/* the largest sizes: ceil(H / 128) must not overflow int on the way */
	LT_CHECK(t, logfmt_packed_bytes(1, INT_MAX, 8) == (int64_t)(INT_MAX / 128 + 1) * 136,
		 "h=INT_MAX: %lld", (long long)logfmt_packed_bytes(1, INT_MAX, 8));
	LT_CHECK(t, logfmt_packed_bytes(INT_MAX, INT_MAX, 15) ==
			    (int64_t)INT_MAX * (INT_MAX / 128 + 1) * 248,
		 "t=h=INT_MAX n=15: %lld", (long long)logfmt_packed_bytes(INT_MAX, INT_MAX, 15));
	/* n = 16: 2^31 x 2^24 tiles of 264 bytes exceed INT64_MAX */
	LT_CHECK(t, logfmt_packed_bytes(INT_MAX, INT_MAX, 16) == -EINVAL, "t=h=INT_MAX n=16: %lld",
		 (long long)logfmt_packed_bytes(INT_MAX, INT_MAX, 16));
	LT_CHECK(t, logfmt_packed_bytes(0, 128, 8) == -EINVAL, "t=0");
	LT_CHECK(t, logfmt_packed_bytes(1, -5, 8) == -EINVAL, "h<0");
	LT_CHECK(t, strstr(loom_err_msg(), "h=-5") != NULL, "message: %s", loom_err_msg());
}

/* Every width 1..16 (8..16 are LogFMT's), odd counts too: pack equals the
 * bit-by-bit reference, unpack inverts it, bits above n are ignored. */
static void test_pack_round_trip(struct lt *t)
{
	const int counts[] = { 0, 1, 7, 128, 129, 1000 };
	struct loom_rng r;
	uint16_t codes[1000], back[1000];
	uint8_t got[2000 + 1], want[2000 + 1];

	loom_rng_init(&r, lt_seed(t));
	for (int n = 1; n <= 16; n++) {
		for (size_t ci = 0; ci < LT_N(counts); ci++) {
			int cnt = counts[ci];
			size_t nbytes = ((size_t)cnt * n + 7) / 8;

			for (int i = 0; i < cnt; i++)
				codes[i] = (uint16_t)loom_rng_u32(&r);	/* high bits set too */
			memset(want, 0, sizeof(want));
			for (int i = 0; i < cnt; i++)
				ref_put_code(want, i, n, codes[i] & ((1u << n) - 1));
			memset(got, 0xa5, sizeof(got));
			logfmt_codes_pack(got, codes, cnt, n);
			LT_CHECK(t, memcmp(got, want, nbytes) == 0, "n=%d count=%d: bytes differ", n,
				 cnt);
			LT_CHECK(t, got[nbytes] == 0xa5, "n=%d count=%d: wrote past the end", n, cnt);
			logfmt_codes_unpack(back, got, cnt, n);
			for (int i = 0; i < cnt; i++)
				if (back[i] != (codes[i] & ((1u << n) - 1))) {
					LT_CHECK(t, false, "n=%d count=%d code %d: %#x != %#x", n, cnt,
						 i, back[i], codes[i] & ((1u << n) - 1));
					break;
				}
		}
	}
}

static void test_pack_hand_cases(struct lt *t)
{
	uint8_t b[4] = { 0 };
	uint16_t c9[2] = { 0x1ff, 0x001 }, c12[2] = { 0xabc, 0x123 }, c8[3] = { 0x12, 0x34, 0x56 };

	/* n = 9: bits 0..8 ones, bit 9 one -> ff 03 00 */
	logfmt_codes_pack(b, c9, 2, 9);
	LT_CHECK(t, b[0] == 0xff && b[1] == 0x03 && b[2] == 0x00, "%02x %02x %02x", b[0], b[1],
		 b[2]);
	/* n = 12: 0x123abc little-endian -> bc 3a 12 */
	logfmt_codes_pack(b, c12, 2, 12);
	LT_CHECK(t, b[0] == 0xbc && b[1] == 0x3a && b[2] == 0x12, "%02x %02x %02x", b[0], b[1],
		 b[2]);
	/* n = 8: one code per byte, in order */
	logfmt_codes_pack(b, c8, 3, 8);
	LT_CHECK(t, b[0] == 0x12 && b[1] == 0x34 && b[2] == 0x56, "%02x %02x %02x", b[0], b[1],
		 b[2]);
	/* header bytes: binary32 little-endian, log2_min first */
	struct logfmt_header hd = { -3.0f, 1.5f }, back;
	uint8_t h[8];
	logfmt_header_store(h, &hd);
	LT_CHECK(t, h[0] == 0x00 && h[1] == 0x00 && h[2] == 0x40 && h[3] == 0xc0 && h[4] == 0x00 &&
			    h[5] == 0x00 && h[6] == 0xc0 && h[7] == 0x3f,
		 "header bytes %02x%02x%02x%02x %02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
		 h[5], h[6], h[7]);
	logfmt_header_load(&back, h);
	LT_CHECK(t, back.log2_min == -3.0f && back.log2_max == 1.5f, "load");
}

/* ---- header and codebook ------------------------------------------------ */

/* log2_max = RN(log2 amax), log2_min = RN(log2 amin) unless clamped to
 * log2_max - 32; checked against log2l (half an ulp plus 1e-12 slack). */
static void test_header_rules(struct lt *t)
{
	struct loom_rng r;
	float x[LOGFMT_TILE];
	struct logfmt_header hd = { 0 };

	loom_rng_init(&r, lt_seed(t));
	for (int tile = 0; tile < 2000; tile++) {
		enum dist d = (enum dist)(tile % D_COUNT);
		long double amax = 0, amin = INFINITY;

		fill_tile(x, LOGFMT_TILE, d, &r);
		if (tile % 7 == 0)
			x[5] = 0.0f;
		for (int i = 0; i < LOGFMT_TILE; i++) {
			long double a = fabsl((long double)x[i]);
			amax = a > amax ? a : amax;
			amin = a != 0 && a < amin ? a : amin;
		}
		LT_CHECK(t, logfmt_tile_header(&hd, x, LOGFMT_TILE) == 0, "%s", loom_err_msg());
		long double lmax = log2l(amax), lmin = log2l(amin);
		float m1 = logfmt_code_to_f32(&hd, 8, 1), mt = logfmt_code_to_f32(&hd, 8, TOP(8));

		/* code 1 = amin (unless clamped) and TOP = amax, to header rounding */
		LT_CHECK(t, fabsl(mt - amax) <= header_rtol(hd.log2_max) * amax,
			 "%s: m(top)=%.9g amax=%.9Lg", dist_name[d], (double)mt, amax);
		if (lmin > (long double)hd.log2_max - 31.99L)
			LT_CHECK(t, fabsl(m1 - amin) <= header_rtol(hd.log2_min) * amin,
				 "%s: m(1)=%.9g amin=%.9Lg", dist_name[d], (double)m1, amin);
		LT_CHECK(t, fabsl(hd.log2_max - lmax) <= 0.5L * ulpf(hd.log2_max) + 1e-12L,
			 "%s: log2_max %.9g vs %.12Lg", dist_name[d], (double)hd.log2_max, lmax);
		if (lmin < (long double)hd.log2_max - 32) {
			LT_CHECK(t, hd.log2_min == hd.log2_max - 32.0f, "%s: clamp %.9g %.9g",
				 dist_name[d], (double)hd.log2_min, (double)hd.log2_max);
		} else {
			LT_CHECK(t, fabsl(hd.log2_min - lmin) <= 0.5L * ulpf(hd.log2_min) + 1e-12L ||
					    hd.log2_min == hd.log2_max - 32.0f,
				 "%s: log2_min %.9g vs %.12Lg", dist_name[d], (double)hd.log2_min,
				 lmin);
		}
	}
	memset(x, 0, sizeof(x));
	LT_CHECK(t, logfmt_tile_header(&hd, x, LOGFMT_TILE) == 0 && hd.log2_min == 0.0f &&
			    hd.log2_max == 0.0f,
		 "all-zero header (%g, %g)", (double)hd.log2_min, (double)hd.log2_max);
}

/* One header: all codes (or a sample for n > 12) against [P]'s formula. */
static void check_codebook(struct lt *t, const struct logfmt_header *hd, int n,
			   struct loom_rng *r)
{
	uint32_t top = TOP(n), q = top - 1;
	long double ln2 = 0.693147180559945309417232121458176568L;
	long double lmin = hd->log2_min * ln2;
	long double lstep = ((long double)hd->log2_max - hd->log2_min) * ln2 / q;
	float prev = 0.0f;

	for (uint32_t k = 1; k <= top; k++) {
		float m = logfmt_code_to_f32(hd, n, k);

		LT_CHECK(t, m >= prev, "n=%d: m(%u)=%.9g < m(%u)=%.9g", n, k, (double)m, k - 1,
			 (double)prev);
		prev = m;
		if (n > 12 && k != 1 && k != top && loom_rng_u32(r) % 64)
			continue;
		long double want = expl(lmin + lstep * (k - 1));
		LT_CHECK(t, fabsl(m - want) <= CODEBOOK_RTOL * want,
			 "n=%d lmin=%.9g lmax=%.9g: m(%u)=%.9g, exp(min+step(K-1))=%.12Lg", n,
			 (double)hd->log2_min, (double)hd->log2_max, k, (double)m, want);
	}
	LT_CHECK(t, logfmt_code_to_f32(hd, n, 0) == 0.0f && !SIGN(logfmt_code_to_f32(hd, n, 0)),
		 "code 0");
	LT_CHECK(t, logfmt_code_to_f32(hd, n, 1u << (n - 1)) == 0.0f &&
			    SIGN(logfmt_code_to_f32(hd, n, 1u << (n - 1))),
		 "code 0 with sign: -0");
	LT_CHECK(t, logfmt_code_to_f32(hd, n, (1u << (n - 1)) | 1) == -logfmt_code_to_f32(hd, n, 1),
		 "sign bit");
}

/* Code 1 = 2^log2_min = exp(min), top = exp(max), all codes in between
 * follow exp(min + step (K - 1)); the tile decoder agrees with code_to_f32. */
static void test_codebook_formula(struct lt *t)
{
	struct loom_rng r;
	float x[LOGFMT_TILE], y[LOGFMT_TILE];
	struct logfmt_header hd;
	uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];
	uint16_t codes[LOGFMT_TILE];

	loom_rng_init(&r, lt_seed(t));
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		for (int rep = 0; rep < 12; rep++) {
			fill_tile(x, LOGFMT_TILE, (enum dist)(rep % D_COUNT), &r);
			logfmt_tile_header(&hd, x, LOGFMT_TILE);
			check_codebook(t, &hd, n, &r);
			/* the tile decoder on hand-packed random codes */
			for (int i = 0; i < LOGFMT_TILE; i++)
				codes[i] = (uint16_t)(loom_rng_u32(&r) & ((1u << n) - 1));
			logfmt_header_store(buf, &hd);
			memset(buf + 8, 0, sizeof(buf) - 8);
			for (int i = 0; i < LOGFMT_TILE; i++)
				ref_put_code(buf + 8, i, n, codes[i]);
			LT_CHECK(t, logfmt_tile_decode(y, buf, LOGFMT_TILE, n) == 0, "%s",
				 loom_err_msg());
			for (int i = 0; i < LOGFMT_TILE; i++) {
				float want = logfmt_code_to_f32(&hd, n, codes[i]);
				LT_CHECK(t, memcmp(&y[i], &want, 4) == 0, "n=%d code %#x: %g vs %g", n,
					 codes[i], (double)y[i], (double)want);
			}
		}
		/* hand headers: integers give exact powers of two at both ends */
		struct logfmt_header h2 = { -5.0f, 3.0f };
		LT_CHECK(t, logfmt_code_to_f32(&h2, n, 1) == 0x1p-5f, "n=%d m(1)", n);
		LT_CHECK(t, logfmt_code_to_f32(&h2, n, TOP(n)) == 8.0f, "n=%d m(top)", n);
	}
}

/* ---- encoder ------------------------------------------------------------- */

/* Codes of x under one tile against the brute-force rule. */
static void check_codes(struct lt *t, const float *x, int len, int n, const char *what)
{
	static float m[1u << 15];
	uint16_t codes[LOGFMT_TILE];
	struct logfmt_header hd;

	LT_CHECK(t, encode_tile(codes, &hd, x, len, n) == 0, "%s", loom_err_msg());
	codebook_of(m, &hd, n);
	for (int i = 0; i < len; i++) {
		uint32_t want = brute_code(m, TOP(n), x[i]) | (SIGN(x[i]) ? 1u << (n - 1) : 0);

		LT_CHECK(t, codes[i] == want, "%s n=%d x[%d]=%a: code %#x, brute force %#x", what, n,
			 i, (double)x[i], codes[i], want);
	}
}

/* Elements at and around linear midpoints (+-1 ulp), at geometric midpoints,
 * on codebook values, and (clamped tiles) below m(1). */
static void adversarial_tile(float *x, int n, float amax, float amin, struct loom_rng *r)
{
	static float m[1u << 15];
	struct logfmt_header hd;

	x[0] = amax;
	x[1] = -amin;
	for (int i = 2; i < LOGFMT_TILE; i++)
		x[i] = amax;
	logfmt_tile_header(&hd, x, 2);
	codebook_of(m, &hd, n);
	for (int i = 2; i < LOGFMT_TILE; i++) {
		uint32_t k = loom_rng_u32(r) % TOP(n);
		double lin = 0.5 * ((double)m[k] + m[k + 1]);
		float v;

		switch (i % 6) {
		case 0: v = (float)lin; break;
		case 1: v = nextafterf((float)lin, 0.0f); break;
		case 2: v = nextafterf((float)lin, INFINITY); break;
		case 3: v = (float)sqrt((double)m[k] * m[k + 1]); break;
		case 4: v = m[k]; break;
		default: v = (float)(m[1] * loom_rng_uniform(r)); break;
		}
		v = v > amax ? amax : v < amin ? amin : v;	/* keep the header */
		x[i] = (float)rsign(r) * v;
	}
}

static void test_encoder_nearest(struct lt *t)
{
	const int ns[] = { 8, 9, 10, 12, 16 };
	struct loom_rng r;
	float x[LOGFMT_TILE];

	loom_rng_init(&r, lt_seed(t));
	for (size_t ni = 0; ni < LT_N(ns); ni++) {
		int n = ns[ni], reps = n == 16 ? 2 : 20;

		for (int rep = 0; rep < reps; rep++) {
			for (int d = 0; d < D_COUNT; d++) {
				fill_tile(x, LOGFMT_TILE, (enum dist)d, &r);
				check_codes(t, x, LOGFMT_TILE, n, dist_name[d]);
			}
			adversarial_tile(x, n, 3.0f, 3.0f * 0x1p-20f, &r);
			check_codes(t, x, LOGFMT_TILE, n, "adversarial");
			adversarial_tile(x, n, 1.0f, 0x1p-45f, &r);	/* clamped */
			check_codes(t, x, LOGFMT_TILE, n, "adversarial clamped");
		}
	}
}

/* Linear, not log, space: the geometric midpoint of two neighbours lies
 * below their linear midpoint and must round down. */
static void test_linear_not_log(struct lt *t)
{
	const int n = 8;
	float m[128], x[2] = { 1.0f, 0x1p-8f }, y;
	struct logfmt_header hd;
	uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];

	logfmt_tile_header(&hd, x, 2);
	codebook_of(m, &hd, n);
	for (uint32_t k = 1; k < TOP(n); k++) {
		float geo = (float)sqrt((double)m[k] * m[k + 1]);
		float mid = (float)(0.5 * ((double)m[k] + m[k + 1]));
		float probes[3] = { geo, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY) };
		float want[3] = { m[k], m[k], m[k + 1] };

		for (int p = 0; p < 3; p++) {
			float in[3] = { 1.0f, 0x1p-8f, probes[p] };

			logfmt_tile_encode(buf, in, 3, n);
			logfmt_tile_decode(in, buf, 3, n);
			y = in[2];
			LT_CHECK(t, y == want[p], "k=%u probe %d (%.9g): got %.9g, want %.9g", k, p,
				 (double)probes[p], (double)y, (double)want[p]);
		}
	}
}

static int float_cmp(const void *a, const void *b)
{
	float fa = *(const float *)a, fb = *(const float *)b;

	return (fa > fb) - (fa < fb);
}

/*
 * Monotone: with the header fixed (every tile holds the same amax and amin
 * elements), decoded |value| is non-decreasing in |x| over a sorted sweep
 * that includes consecutive floats around every threshold.
 */
static void test_monotone(struct lt *t)
{
	const int ns[] = { 8, 10, 16 };
	const float amins[] = { 0x1p-20f, 0x1p-40f };	/* unclamped, clamped */
	enum { PER = LOGFMT_TILE - 2, TILES = 400, N = PER * TILES };
	static float v[N], x[TILES * LOGFMT_TILE], y[TILES * LOGFMT_TILE];
	static float m[1u << 15];

	for (size_t ni = 0; ni < LT_N(ns); ni++) {
		for (size_t ai = 0; ai < LT_N(amins); ai++) {
			int n = ns[ni];
			float amax = 5.0f, amin = 5.0f * amins[ai], pair[2] = { amax, amin };
			struct logfmt_header hd;

			logfmt_tile_header(&hd, pair, 2);
			codebook_of(m, &hd, n);
			/* log-uniform sweep, and a few floats either side of thresholds */
			for (int i = 0; i < N / 2; i++)
				v[i] = amin * powf(amax / amin, (float)i / (N / 2));
			for (int i = N / 2; i < N; i++) {
				uint32_t k = (uint32_t)(i - N / 2) / 5 * 7 % TOP(n);
				float mid = (float)(0.5 * ((double)m[k] + m[k + 1]));

				v[i] = mid;
				for (int s = 0; s < (i % 5); s++)
					v[i] = nextafterf(v[i], i & 1 ? 0.0f : INFINITY);
				v[i] = v[i] < amin ? amin : v[i] > amax ? amax : v[i];
			}
			qsort(v, N, sizeof(float), float_cmp);
			for (int tl = 0; tl < TILES; tl++) {
				float *xt = x + tl * LOGFMT_TILE;
				xt[0] = amax;
				xt[1] = amin;
				for (int i = 0; i < PER; i++)
					xt[2 + i] = (i & 1 ? -1 : 1) * v[tl * PER + i];
			}
			LT_CHECK(t, logfmt_fake_quant(y, x, TILES, LOGFMT_TILE, n) == 0, "%s",
				 loom_err_msg());
			float prev = 0.0f;
			for (int i = 0; i < N; i++) {
				int idx = i / PER * LOGFMT_TILE + 2 + i % PER;
				float a = fabsf(y[idx]);

				LT_CHECK(t, a >= prev, "n=%d: |x|=%.9g -> %.9g after %.9g", n,
					 (double)v[i], (double)a, (double)prev);
				LT_CHECK(t, SIGN(y[idx]) == SIGN(x[idx]) , "sign at %d", i);
				prev = a;
			}
		}
	}
}

/*
 * Round-trip bound per n.  For m(K) <= |x| <= m(K+1) the nearer neighbour is
 * off by at most (m(K+1) - m(K)) / 2, relative to |x| >= m(K):
 *   rel <= (m(K+1)/m(K) - 1) / 2,  m(K+1)/m(K) <= 2^step (1 + 3e-7)
 * (step = (log2_max - log2_min) / Q from the header; the fixed-point step
 * is off by <= 2^-24 + 2^-23/Q and each m by <= 0.52 ulp, together < 3e-7).
 * Values above m(top) (header rounding) are off by < CODEBOOK_RTOL.  The
 * worst case over all tiles is the clamped range: (2^(32/Q) - 1) / 2.
 * The bound is also checked to be tight (a coarser codebook fails it; a
 * finer one would not reach 80% of it).
 */
static void test_round_trip_bounds(struct lt *t)
{
	struct loom_rng r;
	float x[LOGFMT_TILE], y[LOGFMT_TILE];

	loom_rng_init(&r, lt_seed(t));
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		double worst_ratio = 0, q = TOP(n) - 1;

		for (int tile = 0; tile < 600; tile++) {
			struct logfmt_header hd;
			uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];

			fill_tile(x, LOGFMT_TILE, (enum dist)(tile % 3), &r);
			logfmt_tile_encode(buf, x, LOGFMT_TILE, n);
			logfmt_tile_decode(y, buf, LOGFMT_TILE, n);
			logfmt_header_load(&hd, buf);
			double step = ((double)hd.log2_max - hd.log2_min) / q;
			double bound = (exp2(step) * (1 + 3e-7) - 1) / 2;
			float m1 = logfmt_code_to_f32(&hd, n, 1), mt = logfmt_code_to_f32(&hd, n, TOP(n));

			for (int i = 0; i < LOGFMT_TILE; i++) {
				float a = fabsf(x[i]);
				double rel = fabs((double)y[i] - x[i]) / a;

				if (a < m1)	/* only in clamped tiles: 0 or m(1), brute-forced above */
					continue;
				double b = a > mt ? header_rtol(hd.log2_max) : bound;
				LT_CHECK(t, rel <= b, "n=%d x=%.9g y=%.9g rel %.3g > %.3g", n,
					 (double)x[i], (double)y[i], rel, b);
				if (a <= mt)
					worst_ratio = fmax(worst_ratio, rel / bound);
			}
		}
		LT_CHECK(t, worst_ratio > 0.8, "n=%d: bound not approached (%.2f)", n, worst_ratio);
		printf("    n=%2d: worst rel error over a 2^32 range (2^(32/%d)-1)/2 = %.3g\n", n,
		       (int)q, (exp2(32.0 / q) - 1) / 2);
	}
}

/* ---- unbiased ------------------------------------------------------------ */

struct mean_acc { double s, s2; long n; };

static void acc_add(struct mean_acc *a, double e) { a->s += e; a->s2 += e * e; a->n++; }
static double acc_mean(const struct mean_acc *a) { return a->s / a->n; }
/* Standard error of the mean of the per-element error. */
static double acc_se(const struct mean_acc *a)
{
	double m = acc_mean(a);
	return sqrt((a->s2 / a->n - m * m) / a->n);
}

/* Smallest k with !pred(k), pred true-then-false on [0, top). */
static uint32_t log_round(const float *m, uint32_t top, double ax)
{
	uint32_t lo = 0, hi = top;

	while (lo < hi) {
		uint32_t k = lo + (hi - lo) / 2;
		bool up = k == 0 ? 2 * ax >= m[1] : log(ax) >= 0.5 * (log(m[k]) + log(m[k + 1]));

		if (up)
			lo = k + 1;
		else
			hi = k;
	}
	return lo;
}

static uint32_t trunc_round(const float *m, uint32_t top, double ax)
{
	uint32_t lo = 0, hi = top;

	while (lo < hi) {
		uint32_t k = lo + (hi - lo + 1) / 2;
		if (ax >= m[k])
			lo = k;
		else
			hi = k - 1;
	}
	return lo;
}

enum { UNBIASED_TILES = 7813 };	/* 7813 * 128 = 1.0e6 values */

/*
 * (a) [P]'s claim as stated: mean signed error q - x over 10^6 values of
 * N(0,1) and heavy-tailed tiles is within 4 standard errors of 0 (a false
 * alarm has probability 6e-5; a sign-dependent rounding fails it).
 */
static void test_unbiased_signed(struct lt *t)
{
	struct loom_rng r;
	float x[LOGFMT_TILE], y[LOGFMT_TILE];

	loom_rng_init(&r, lt_seed(t));
	for (int n = 8; n <= 10; n += 2) {
		for (int d = D_GAUSS; d <= D_HEAVY; d++) {
			struct mean_acc a = { 0 };

			for (int tile = 0; tile < UNBIASED_TILES; tile++) {
				for (int i = 0; i < LOGFMT_TILE; i++) {
					double v = loom_rng_normal(&r);
					x[i] = (float)(d == D_HEAVY ? v * exp(loom_rng_normal(&r)) : v);
				}
				logfmt_fake_quant(y, x, 1, LOGFMT_TILE, n);
				for (int i = 0; i < LOGFMT_TILE; i++)
					acc_add(&a, (double)y[i] - x[i]);
			}
			double m = acc_mean(&a), se = acc_se(&a);
			LT_CHECK(t, fabs(m) <= 4 * se, "n=%d %s: mean error %.3g, se %.3g", n,
				 dist_name[d], m, se);
			printf("    n=%d %-5s: mean signed error %+.2e (%+.2f se), 10^6 values\n", n,
			       dist_name[d], m, m / se);
		}
	}
}

/*
 * (b) The rounding rule itself.  Symmetric data cancels any magnitude bias
 * in (a), so here the statistic is |q| - |x|, on data where linear-space
 * rounding is exactly unbiased: magnitudes uniform in linear space (flat
 * density inside every code interval), ±U(0, A) per tile with one element
 * at A 2^-R fixing the range (R = 8 for n = 8, 32 for n = 10, both giving
 * codes 4.5% apart).  The mean must be within 4 se of 0; the same data
 * rounded in log space (geometric midpoints) and by truncation, computed
 * here from the decoded codebook, must be more than 8 se off, which shows
 * the check can tell them apart.  (On N(0,1) data no deterministic rounding
 * is unbiased in magnitude: the density slope inside a code interval of
 * width w gives a mean error of about -w^2 |x| / 24.  bench_logfmt prints
 * this "mag bias": -1.8e-4 relative for LogFMT-8, -6.2e-4 for E4M3.)
 */
static void test_unbiased_rounding_rule(struct lt *t)
{
	static float m[512];
	struct loom_rng r;
	float x[LOGFMT_TILE], y[LOGFMT_TILE];
	uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];

	loom_rng_init(&r, lt_seed(t));
	for (int n = 8; n <= 10; n += 2) {
		struct mean_acc lin = { 0 }, lg = { 0 }, tr = { 0 };
		int range = n == 8 ? 8 : 32;

		for (int tile = 0; tile < UNBIASED_TILES; tile++) {
			double amp = exp2(20.0 * loom_rng_uniform(&r) - 10);
			struct logfmt_header hd;

			for (int i = 0; i < LOGFMT_TILE; i++)
				x[i] = (float)(rsign(&r) * amp * loom_rng_uniform(&r));
			x[0] = (float)amp;
			x[1] = (float)(amp * exp2(-range));
			logfmt_tile_encode(buf, x, LOGFMT_TILE, n);
			logfmt_tile_decode(y, buf, LOGFMT_TILE, n);
			logfmt_header_load(&hd, buf);
			codebook_of(m, &hd, n);
			for (int i = 2; i < LOGFMT_TILE; i++) {
				double ax = fabs((double)x[i]);

				if (ax == 0)
					continue;
				acc_add(&lin, (fabs((double)y[i]) - ax) / amp);
				acc_add(&lg, (m[log_round(m, TOP(n), ax)] - ax) / amp);
				acc_add(&tr, (m[trunc_round(m, TOP(n), ax)] - ax) / amp);
			}
		}
		double zl = acc_mean(&lin) / acc_se(&lin), zg = acc_mean(&lg) / acc_se(&lg);
		double zt = acc_mean(&tr) / acc_se(&tr);
		LT_CHECK(t, fabs(zl) <= 4, "n=%d: linear rounding biased, %.2f se", n, zl);
		LT_CHECK(t, fabs(zg) > 8, "n=%d: log rounding not detected (%.2f se)", n, zg);
		LT_CHECK(t, fabs(zt) > 8, "n=%d: truncation not detected (%.2f se)", n, zt);
		printf("    n=%d: mean (|q|-|x|)/A linear %+.2e (%+.1f se), log-space %+.2e "
		       "(%+.1f se), truncation %+.2e (%+.0f se)\n",
		       n, acc_mean(&lin), zl, acc_mean(&lg), zg, acc_mean(&tr), zt);
	}
}

/* ---- special inputs ------------------------------------------------------ */

static void test_zero_and_signs(struct lt *t)
{
	float x[LOGFMT_TILE], y[LOGFMT_TILE];
	uint16_t codes[LOGFMT_TILE];
	struct logfmt_header hd;
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		fill_tile(x, LOGFMT_TILE, D_HEAVY, &r);
		for (int i = 0; i < LOGFMT_TILE; i += 9)
			x[i] = i % 2 ? -0.0f : 0.0f;
		encode_tile(codes, &hd, x, LOGFMT_TILE, n);
		logfmt_fake_quant(y, x, 1, LOGFMT_TILE, n);
		for (int i = 0; i < LOGFMT_TILE; i++) {
			LT_CHECK(t, SIGN(y[i]) == SIGN(x[i]), "n=%d x=%g y=%g", n, (double)x[i],
				 (double)y[i]);
			LT_CHECK(t, (codes[i] >> (n - 1)) == (SIGN(x[i]) ? 1 : 0), "sign bit");
			if (x[i] == 0.0f)
				LT_CHECK(t, (codes[i] & TOP(n)) == 0 && y[i] == 0.0f,
					 "n=%d zero -> code %#x", n, codes[i]);
		}
	}
	/* all-zero tile, both zeros: header (0, 0), codes 0 (+ sign), zeros back */
	for (int i = 0; i < LOGFMT_TILE; i++)
		x[i] = i % 3 ? 0.0f : -0.0f;
	LT_CHECK(t, encode_tile(codes, &hd, x, LOGFMT_TILE, 8) == 0, "%s", loom_err_msg());
	LT_CHECK(t, hd.log2_min == 0.0f && hd.log2_max == 0.0f, "all-zero header");
	logfmt_fake_quant(y, x, 1, LOGFMT_TILE, 8);
	for (int i = 0; i < LOGFMT_TILE; i++) {
		int want = i % 3 ? 0 : 0x80;

		LT_CHECK(t, codes[i] == want, "code %#x at %d", codes[i], i);
		LT_CHECK(t, y[i] == 0.0f && SIGN(y[i]) == SIGN(x[i]), "zero %d", i);
	}
}

/* One distinct magnitude: log2_min == log2_max (step 0); every non-zero
 * element decodes to ±m(1) = 2^log2_max, within CODEBOOK_RTOL of v and
 * exact for powers of two, for ordinary, subnormal and FLT_MAX values. */
static void test_one_magnitude(struct lt *t)
{
	const float vs[] = { 1.0f, 3.0f, 0.1f, 1e-30f, 7e22f, 0x1p-149f, 0x1.8p-140f, FLT_MAX,
			     0x1p-126f };
	float x[LOGFMT_TILE], y[LOGFMT_TILE];
	uint16_t codes[LOGFMT_TILE];
	struct logfmt_header hd;

	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		for (size_t vi = 0; vi < LT_N(vs); vi++) {
			float v = vs[vi];
			int e;
			bool pow2 = frexpf(v, &e) == 0.5f;
			for (int i = 0; i < LOGFMT_TILE; i++)
				x[i] = i % 4 == 1 ? -v : (i % 17 == 5 ? 0.0f : v);
			LT_CHECK(t, encode_tile(codes, &hd, x, LOGFMT_TILE, n) == 0, "%s",
				 loom_err_msg());
			/* below FLT_MIN the result lands on the 2^-149 grid: + half a step */
			double tol = header_rtol(hd.log2_max) * v + (v < FLT_MIN ? 0x1p-150 : 0);

			LT_CHECK(t, hd.log2_min == hd.log2_max, "n=%d v=%g: (%g, %g)", n, (double)v,
				 (double)hd.log2_min, (double)hd.log2_max);
			logfmt_fake_quant(y, x, 1, LOGFMT_TILE, n);
			for (int i = 0; i < LOGFMT_TILE; i++) {
				double want = x[i];
				bool ok = pow2 ? y[i] == x[i] : fabs(y[i] - want) <= tol;
				LT_CHECK(t, ok && SIGN(y[i]) == SIGN(x[i]),
					 "n=%d v=%a: x=%a y=%a", n, (double)v, (double)x[i],
					 (double)y[i]);
			}
		}
	}
}

/* Tiles at the ends of FP32: subnormals, FLT_MAX, clamped 2^32 ranges. */
static void test_extremes(struct lt *t)
{
	float x[3 * LOGFMT_TILE], y[3 * LOGFMT_TILE];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int i = 0; i < LOGFMT_TILE; i++) {
		x[i] = (float)rsign(&r) * ldexpf((float)(1 + loom_rng_u32(&r) % 1000), -149);
		x[LOGFMT_TILE + i] = (float)rsign(&r) * FLT_MAX * (float)loom_rng_uniform(&r);
		x[2 * LOGFMT_TILE + i] = (float)rsign(&r) * ldexpf(1.0f, -(int)(loom_rng_u32(&r) % 40));
	}
	x[LOGFMT_TILE] = FLT_MAX;
	x[2 * LOGFMT_TILE] = 1.0f;
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		LT_CHECK(t, logfmt_fake_quant(y, x, 3, LOGFMT_TILE, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, y[LOGFMT_TILE] == FLT_MAX, "n=%d FLT_MAX -> %g", n,
			 (double)y[LOGFMT_TILE]);
		for (int i = 0; i < 3 * LOGFMT_TILE; i++) {
			LT_CHECK(t, isfinite(y[i]) && SIGN(y[i]) == SIGN(x[i]), "n=%d i=%d %a",
				 n, i, (double)y[i]);
			/* subnormal tile: codes spaced < 1.2x apart, grid 2^-149 */
			if (i < LOGFMT_TILE)
				LT_CHECK(t, fabsf(y[i] - x[i]) <= 0.1f * fabsf(x[i]) + 0x1p-149f,
					 "n=%d subnormal %a -> %a", n, (double)x[i], (double)y[i]);
			/* powers of two below 2^-32 of the max are 0 or 2^-32 (clamp) */
			if (i >= 2 * LOGFMT_TILE && fabsf(x[i]) < 0x1p-33f)
				LT_CHECK(t, y[i] == 0.0f, "n=%d %a below half of 2^-32 -> %a", n,
					 (double)x[i], (double)y[i]);
		}
	}
}

/* Partial last tile: same as encoding the pieces alone; sizes; unused code
 * slots are zero; the decoder writes exactly T * H floats. */
static void test_partial_tiles(struct lt *t)
{
	const int hs[] = { 1, 7, 127, 129, 200, 385 };
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t hi = 0; hi < LT_N(hs); hi++) {
		int h = hs[hi], rows = 3, n = 8 + (int)hi, tb = logfmt_tile_bytes(n);
		int hb = (h + 127) / 128;
		int64_t nbytes = logfmt_packed_bytes(rows, h, n);
		float *x = malloc(sizeof(float) * rows * h), *y = malloc(sizeof(float) * (rows * h + 1));
		uint8_t *p = malloc((size_t)nbytes), one[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];

		LT_CHECK(t, nbytes == (int64_t)rows * hb * tb, "h=%d bytes %ld", h, (long)nbytes);
		for (int i = 0; i < rows * h; i++)
			x[i] = (float)(loom_rng_normal(&r) * (1 + i % 5));
		LT_CHECK(t, logfmt_encode(p, x, rows, h, n) == 0, "%s", loom_err_msg());
		for (int rr = 0; rr < rows; rr++)
			for (int b = 0; b < hb; b++) {
				int len = h - b * 128 < 128 ? h - b * 128 : 128;
				const uint8_t *tile = p + ((size_t)rr * hb + b) * tb;

				logfmt_tile_encode(one, x + (size_t)rr * h + b * 128, len, n);
				LT_CHECK(t, memcmp(one, tile, (size_t)tb) == 0, "h=%d row %d tile %d",
					 h, rr, b);
				for (int i = len; i < 128; i++)
					LT_CHECK(t, ref_get_code(tile + 8, i, n) == 0, "slot %d", i);
			}
		y[rows * h] = 12345.0f;
		LT_CHECK(t, logfmt_decode(y, p, rows, h, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, y[rows * h] == 12345.0f, "decoder wrote past T*H");
		free(x);
		free(y);
		free(p);
	}
}

/* fake_quant == decode(encode(x)), also in place. */
static void test_fake_quant(struct lt *t)
{
	enum { T = 5, H = 300 };
	static float x[T * H], y[T * H], z[T * H];
	static uint8_t p[T * 3 * (8 + 16 * 16)];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		for (int i = 0; i < T * H; i++)
			x[i] = (float)(loom_rng_normal(&r) * exp(2 * loom_rng_normal(&r)));
		LT_CHECK(t, logfmt_encode(p, x, T, H, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, logfmt_decode(y, p, T, H, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, logfmt_fake_quant(z, x, T, H, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, memcmp(y, z, sizeof(y)) == 0, "n=%d fake_quant != decode(encode)", n);
		LT_CHECK(t, logfmt_fake_quant(x, x, T, H, n) == 0, "%s", loom_err_msg());
		LT_CHECK(t, memcmp(x, z, sizeof(x)) == 0, "n=%d in place differs", n);
	}
}

/* logfmt_code_from_f32 / _to_f32 against the tile encoder; their guards. */
static void test_code_api(struct lt *t)
{
	struct loom_rng r;
	float x[LOGFMT_TILE];
	uint16_t codes[LOGFMT_TILE];
	struct logfmt_header hd;

	loom_rng_init(&r, lt_seed(t));
	for (int n = LOGFMT_MIN_BITS; n <= LOGFMT_MAX_BITS; n++) {
		fill_tile(x, LOGFMT_TILE, D_HEAVY, &r);
		encode_tile(codes, &hd, x, LOGFMT_TILE, n);
		for (int i = 0; i < LOGFMT_TILE; i++)
			LT_CHECK(t, logfmt_code_from_f32(&hd, n, x[i]) == codes[i], "n=%d i=%d", n, i);
		LT_CHECK(t, isnan(logfmt_code_to_f32(&hd, n, 1u << n)), "code out of range");
	}
	struct logfmt_header bad[] = { { NAN, 0 }, { 0, INFINITY }, { 2, 1 }, { -300, 0 },
				       { 0, 300 } };
	for (size_t i = 0; i < LT_N(bad); i++) {
		LT_CHECK(t, !logfmt_header_valid(&bad[i]), "header %zu valid", i);
		LT_CHECK(t, isnan(logfmt_code_to_f32(&bad[i], 8, 1)), "header %zu", i);
		LT_CHECK(t, logfmt_code_from_f32(&bad[i], 8, 1.0f) == -EINVAL, "header %zu", i);
	}
	LT_CHECK(t, !logfmt_header_valid(NULL), "NULL header");
	LT_CHECK(t, isnan(logfmt_code_to_f32(&hd, 7, 1)), "n=7");
	LT_CHECK(t, logfmt_code_from_f32(&hd, 17, 1.0f) == -EINVAL, "n=17");
	LT_CHECK(t, logfmt_code_from_f32(&hd, 8, NAN) == -EINVAL, "NaN");
}

/* NULL, sizes <= 0, n outside 8..16, NaN / inf, corrupt headers. */
static void test_bad_input(struct lt *t)
{
	float x[2 * 200], y[2 * 200];
	uint8_t p[2 * 2 * (8 + 16 * 16)];

	for (int i = 0; i < 400; i++)
		x[i] = (float)i - 100;
	LT_CHECK(t, logfmt_encode(NULL, x, 2, 200, 8) == -EINVAL, "NULL dst");
	LT_CHECK(t, logfmt_encode(p, NULL, 2, 200, 8) == -EINVAL, "NULL x");
	LT_CHECK(t, logfmt_decode(NULL, p, 2, 200, 8) == -EINVAL, "NULL x");
	LT_CHECK(t, logfmt_decode(y, NULL, 2, 200, 8) == -EINVAL, "NULL src");
	LT_CHECK(t, logfmt_fake_quant(NULL, x, 2, 200, 8) == -EINVAL, "NULL y");
	LT_CHECK(t, logfmt_fake_quant(y, NULL, 2, 200, 8) == -EINVAL, "NULL x");
	const int dims[][2] = { { 0, 200 }, { 2, 0 }, { -1, 200 }, { 2, -128 } };
	for (size_t i = 0; i < LT_N(dims); i++) {
		int tt = dims[i][0], h = dims[i][1];
		LT_CHECK(t, logfmt_encode(p, x, tt, h, 8) == -EINVAL, "t=%d h=%d", tt, h);
		LT_CHECK(t, logfmt_decode(y, p, tt, h, 8) == -EINVAL, "t=%d h=%d", tt, h);
		LT_CHECK(t, logfmt_fake_quant(y, x, tt, h, 8) == -EINVAL, "t=%d h=%d", tt, h);
	}
	for (int n = -1; n <= 20; n += 1) {
		if (n >= 8 && n <= 16)
			continue;
		LT_CHECK(t, logfmt_encode(p, x, 2, 200, n) == -EINVAL, "n=%d", n);
		LT_CHECK(t, logfmt_decode(y, p, 2, 200, n) == -EINVAL, "n=%d", n);
		LT_CHECK(t, logfmt_fake_quant(y, x, 2, 200, n) == -EINVAL, "n=%d", n);
		LT_CHECK(t, logfmt_tile_encode(p, x, 128, n) == -EINVAL, "n=%d", n);
		LT_CHECK(t, logfmt_tile_decode(y, p, 128, n) == -EINVAL, "n=%d", n);
	}
	LT_CHECK(t, logfmt_tile_encode(p, x, 0, 8) == -EINVAL, "len 0");
	LT_CHECK(t, logfmt_tile_encode(p, x, 129, 8) == -EINVAL, "len 129");
	LT_CHECK(t, logfmt_tile_decode(y, p, 0, 8) == -EINVAL, "len 0");
	LT_CHECK(t, logfmt_tile_header(NULL, x, 4) == -EINVAL, "NULL header");

	const float specials[] = { NAN, -NAN, INFINITY, -INFINITY };
	const char *const words[] = { "NaN", "NaN", "inf", "inf" };
	for (size_t s = 0; s < LT_N(specials); s++) {
		x[257] = specials[s];	/* row 1, column 57 */
		LT_CHECK(t, logfmt_encode(p, x, 2, 200, 8) == -EINVAL, "%s", words[s]);
		LT_CHECK(t, strstr(loom_err_msg(), words[s]) && strstr(loom_err_msg(), "x[1][57]"),
			 "message: %s", loom_err_msg());
		LT_CHECK(t, logfmt_fake_quant(y, x, 2, 200, 10) == -EINVAL, "%s", words[s]);
		LT_CHECK(t, logfmt_tile_encode(p, x + 200, 128, 8) == -EINVAL, "%s", words[s]);
		LT_CHECK(t, strstr(loom_err_msg(), "x[57]") != NULL, "message: %s", loom_err_msg());
		x[257] = 0.0f;
	}
	/* corrupt headers are rejected, naming the tile */
	LT_CHECK(t, logfmt_encode(p, x, 2, 200, 8) == 0, "%s", loom_err_msg());
	struct logfmt_header bad[] = { { NAN, 0 }, { 1, -1 }, { 0, INFINITY }, { -500, 0 } };
	for (size_t i = 0; i < LT_N(bad); i++) {
		uint8_t q[sizeof(p)];
		memcpy(q, p, sizeof(p));
		logfmt_header_store(q + 3 * logfmt_tile_bytes(8), &bad[i]);	/* row 1 tile 1 */
		LT_CHECK(t, logfmt_decode(y, q, 2, 200, 8) == -EINVAL, "bad header %zu", i);
		LT_CHECK(t, strstr(loom_err_msg(), "corrupt header") &&
				    strstr(loom_err_msg(), "row 1 col 128"),
			 "message: %s", loom_err_msg());
	}
}

static const struct lt_case cases[] = {
	LT_CASE(test_exp2_roms),
	LT_CASE(test_exp2_all_fractions),
	LT_CASE(test_exp2_exponents),
	LT_CASE(test_golden_vectors),
	LT_CASE(test_sizes),
	LT_CASE(test_pack_round_trip),
	LT_CASE(test_pack_hand_cases),
	LT_CASE(test_header_rules),
	LT_CASE(test_codebook_formula),
	LT_CASE(test_encoder_nearest),
	LT_CASE(test_linear_not_log),
	LT_CASE(test_monotone),
	LT_CASE(test_round_trip_bounds),
	LT_CASE(test_unbiased_signed),
	LT_CASE(test_unbiased_rounding_rule),
	LT_CASE(test_zero_and_signs),
	LT_CASE(test_one_magnitude),
	LT_CASE(test_extremes),
	LT_CASE(test_partial_tiles),
	LT_CASE(test_fake_quant),
	LT_CASE(test_code_api),
	LT_CASE(test_bad_input),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

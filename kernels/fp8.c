/*
 * fp8.c - FP8 / BF16 / UE8M0 conversions (contract in include/loom/fp8.h).
 *
 * The encoders work on the float's bit pattern:
 *  - normal results: add the rounding bias (half an ulp of the target minus
 *    one, plus the kept lsb for ties-to-even) and shift; a mantissa carry
 *    ripples into the exponent by itself;
 *  - subnormal results: add a "magic" float whose ulp equals the target's
 *    smallest subnormal, so the FPU's own round-to-nearest-even does the
 *    rounding (needs the default rounding mode and no flush-to-zero, which
 *    holds for any build without -ffast-math);
 *  - overflow, inf and NaN are selected afterwards.
 * Every step is a select, not a branch, so the _n loops vectorize.
 */
#include "loom/fp8.h"

#include <string.h>

static inline uint32_t f32_bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof(u));
	return u;
}

static inline float f32_from_bits(uint32_t u)
{
	float x;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/*
 * Generic small-float encoder for a format with `mbits` mantissa bits and
 * exponent bias `bias`.  `a` is |x| as bits (sign stripped).
 *  min_normal_bits: bits of the smallest normal of the target, as a float
 *  magic_bits:      float whose ulp is the target's smallest subnormal
 */
static inline uint32_t enc_mag(uint32_t a, unsigned mbits, unsigned bias,
			       uint32_t min_normal_bits, uint32_t magic_bits)
{
	const unsigned shift = 23 - mbits;
	uint32_t odd = (a >> shift) & 1u;
	uint32_t normal = (a + ((1u << (shift - 1)) - 1u) + odd -
			   ((127u - bias) << 23)) >> shift;
	float sub_f = f32_from_bits(a) + f32_from_bits(magic_bits);
	uint32_t sub = f32_bits(sub_f) - magic_bits;

	return a < min_normal_bits ? sub : normal;
}

uint8_t fp8_e4m3_from_f32(float x, bool saturate)
{
	uint32_t u = f32_bits(x);
	uint32_t sign = (u >> 24) & 0x80u;
	uint32_t a = u & 0x7fffffffu;
	/* 2^-6 is the smallest normal; magic 2^14 has ulp 2^-9. */
	uint32_t r = enc_mag(a, 3, 7, 0x3c800000u, 141u << 23);

	r = a > 0x43e80000u ? (saturate ? 0x7eu : 0x7fu) : r; /* > 464 */
	r |= sign;
	r = a > 0x7f800000u ? 0x7fu : r;			/* NaN */
	return (uint8_t)r;
}

uint8_t fp8_e5m2_from_f32(float x, bool saturate)
{
	uint32_t u = f32_bits(x);
	uint32_t sign = (u >> 24) & 0x80u;
	uint32_t a = u & 0x7fffffffu;
	/* 2^-14 is the smallest normal; magic 2^7 has ulp 2^-16. */
	uint32_t r = enc_mag(a, 2, 15, 0x38800000u, 134u << 23);

	r = a >= 0x47700000u ? (saturate ? 0x7bu : 0x7cu) : r; /* >= 61440 */
	r |= sign;
	r = a > 0x7f800000u ? 0x7fu : r;			  /* NaN */
	return (uint8_t)r;
}

/* Decode: place exponent and mantissa into a float and rescale by the bias
 * difference with an exact multiply (handles subnormals for free). */
float fp8_e4m3_to_f32(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80u) << 24;
	uint32_t mag = v & 0x7fu;
	/* mag << 20 puts E4M3's 4+3 bits into float's exponent/mantissa with
	 * bias 0; multiplying by 2^(127-7) restores the bias. */
	float f = f32_from_bits(mag << 20) * f32_from_bits((127u + 120u) << 23);
	uint32_t r = f32_bits(f) | sign;

	r = mag == 0x7fu ? 0x7fffffffu : r;
	return f32_from_bits(r);
}

float fp8_e5m2_to_f32(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80u) << 24;
	uint32_t mag = v & 0x7fu;
	float f = f32_from_bits(mag << 21) * f32_from_bits((127u + 112u) << 23);
	uint32_t r = f32_bits(f) | sign;

	r = mag == 0x7cu ? (0x7f800000u | sign) : r; /* inf */
	r = mag > 0x7cu ? 0x7fffffffu : r;	     /* NaN */
	return f32_from_bits(r);
}

uint16_t bf16_from_f32(float x)
{
	uint32_t u = f32_bits(x);
	uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;

	r = (u & 0x7fffffffu) > 0x7f800000u ? 0x7fffu : r;
	return (uint16_t)r;
}

float bf16_to_f32(uint16_t v)
{
	return f32_from_bits((uint32_t)v << 16);
}

uint8_t ue8m0_from_f32(float x)
{
	uint32_t u = f32_bits(x);
	uint32_t e, m;

	if (x != x || (u >> 31 && (u & 0x7fffffffu)))
		return UE8M0_NAN;
	if (x <= 0x1p-127f)
		return 0;
	if (x > 0x1p127f)
		return 254;
	if (u < 0x00800000u) { /* subnormal above 2^-127: 2^-126 covers it */
		return 1;
	}
	e = u >> 23;
	m = u & 0x7fffffu;
	return (uint8_t)(e + (m != 0));
}

float ue8m0_to_f32(uint8_t e)
{
	if (e == UE8M0_NAN)
		return f32_from_bits(0x7fc00000u);
	if (e == 0)
		return 0x1p-127f;
	return f32_from_bits((uint32_t)e << 23);
}

void fp8_e4m3_from_f32_n(uint8_t *restrict dst, const float *restrict src,
			 size_t n, bool saturate)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = fp8_e4m3_from_f32(src[i], saturate);
}

void fp8_e4m3_to_f32_n(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = fp8_e4m3_to_f32(src[i]);
}

void fp8_e5m2_from_f32_n(uint8_t *restrict dst, const float *restrict src,
			 size_t n, bool saturate)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = fp8_e5m2_from_f32(src[i], saturate);
}

void fp8_e5m2_to_f32_n(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = fp8_e5m2_to_f32(src[i]);
}

void bf16_from_f32_n(uint16_t *restrict dst, const float *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = bf16_from_f32(src[i]);
}

void bf16_to_f32_n(float *restrict dst, const uint16_t *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = bf16_to_f32(src[i]);
}

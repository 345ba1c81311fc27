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
 *  - both run on every input (clamped to their range) and are added, and
 *    overflow, inf and NaN are then folded in with min and bit operations.
 * Nothing branches, so the _n loops vectorize (checked with -fopt-info-vec
 * for -march=x86-64, x86-64-v3 and native, GCC 12 and clang 14).
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
 * cond ? x : y, as bit masks, for the decoders: GCC turns a `?:` next to
 * a float operation into a branch, and (the operation may trap under the
 * default -ftrapping-math) then vectorizes the loop only with AVX-512
 * masking; with masks every step runs unconditionally.
 */
static inline uint32_t sel(bool cond, uint32_t x, uint32_t y)
{
	uint32_t m = 0u - (uint32_t)cond;

	return (x & m) | (y & ~m);
}

/*
 * |x| (bits a, sign stripped) to a small float with `mbits` mantissa bits
 * and exponent bias `bias`, without a select: the normal path runs on
 * max(a, min normal) and the subnormal path on min(a, min normal); at the
 * min normal both give its code 1 << mbits, so their sum less that code is
 * whichever path applies.  Results past the largest finite code come out
 * larger than it (the callers clamp them); NaN and inf come out huge.
 *  min_normal_bits: bits of the smallest normal of the target, as a float
 *  magic_bits:      float whose ulp is the target's smallest subnormal
 */
static inline uint32_t enc_mag(uint32_t a, unsigned mbits, unsigned bias,
			       uint32_t min_normal_bits, uint32_t magic_bits)
{
	const unsigned shift = 23 - mbits;
	uint32_t hi = a > min_normal_bits ? a : min_normal_bits;
	uint32_t lo = a < min_normal_bits ? a : min_normal_bits;
	uint32_t odd = (hi >> shift) & 1u;
	uint32_t normal = (hi + ((1u << (shift - 1)) - 1u) + odd -
			   ((127u - bias) << 23)) >> shift;
	float sub_f = f32_from_bits(lo) + f32_from_bits(magic_bits);
	uint32_t sub = f32_bits(sub_f) - magic_bits;

	return normal + sub - (1u << mbits);
}

/*
 * Clamp the rounded magnitude r to `limit` (the largest finite code when
 * saturating, else the overflow code), add the sign, and make a NaN input
 * (nan: all ones) the canonical 0x7f whatever its sign.  Arithmetic only:
 * a `?:` here becomes a branch in GCC that keeps the *_n loops from
 * vectorizing (the float add in enc_mag may trap, so GCC will not run it
 * on both arms) unless AVX-512 masking is available.
 */
static inline uint8_t enc_finish(uint32_t r, uint32_t limit, uint32_t sign, uint32_t nan)
{
	r = r < limit ? r : limit;
	return (uint8_t)((r | sign | nan) ^ (nan & 0x80u));
}

uint8_t fp8_e4m3_from_f32(float x, bool saturate)
{
	uint32_t u = f32_bits(x);
	uint32_t a = u & 0x7fffffffu;
	/* 2^-6 is the smallest normal; magic 2^14 has ulp 2^-9.  Above 464
	 * (max + ulp/2; a tie at it goes to the even 448) the rounded code
	 * exceeds 0x7e: clamp to it, or to 0x7f (NaN: E4M3 has no inf). */
	uint32_t r = enc_mag(a, 3, 7, 0x3c800000u, 141u << 23);

	return enc_finish(r, saturate ? 0x7eu : 0x7fu, (u >> 24) & 0x80u,
			  0u - (uint32_t)(a > 0x7f800000u));
}

uint8_t fp8_e5m2_from_f32(float x, bool saturate)
{
	uint32_t u = f32_bits(x);
	uint32_t a = u & 0x7fffffffu;
	/* 2^-14 is the smallest normal; magic 2^7 has ulp 2^-16.  From 61440
	 * (max + ulp/2; the tie goes up, 57344 being odd) the rounded code
	 * exceeds 0x7b: clamp to it, or to 0x7c (inf). */
	uint32_t r = enc_mag(a, 2, 15, 0x38800000u, 134u << 23);

	return enc_finish(r, saturate ? 0x7bu : 0x7cu, (u >> 24) & 0x80u,
			  0u - (uint32_t)(a > 0x7f800000u));
}

/* Decode: a normal code is its exponent/mantissa bits moved into a float
 * with the bias difference added to the exponent field (integer add); a
 * subnormal code (exponent field 0) is its mantissa times the smallest
 * subnormal, an int-to-float conversion and an exact multiply.  No step
 * touches a float subnormal, so the result is right under flush-to-zero /
 * denormals-are-zero too (every E4M3/E5M2 value is a normal float). */
float fp8_e4m3_to_f32(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80u) << 24;
	uint32_t mag = v & 0x7fu;
	uint32_t normal = (mag << 20) + (120u << 23);		   /* bias 7 -> 127 */
	uint32_t sub = f32_bits((float)(int32_t)(mag & 7u) * 0x1p-9f); /* m 2^-9 */
	uint32_t r = sel(mag < 8u, sub, normal) | sign;

	r = sel(mag == 0x7fu, 0x7fffffffu, r); /* NaN */
	return f32_from_bits(r);
}

float fp8_e5m2_to_f32(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80u) << 24;
	uint32_t mag = v & 0x7fu;
	uint32_t normal = (mag << 21) + (112u << 23);		    /* bias 15 -> 127 */
	uint32_t sub = f32_bits((float)(int32_t)(mag & 3u) * 0x1p-16f); /* m 2^-16 */
	uint32_t r = sel(mag < 4u, sub, normal) | sign;

	r = sel(mag == 0x7cu, 0x7f800000u | sign, r); /* inf */
	r = sel(mag > 0x7cu, 0x7fffffffu, r);	      /* NaN */
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

/* Round |x| up to a power of two: the biased exponent, plus one when any
 * mantissa bit is set.  Written as selects so the _n loop vectorizes. */
uint8_t ue8m0_from_f32(float x)
{
	uint32_t a = f32_bits(x) & 0x7fffffffu;
	uint32_t r = (a >> 23) + ((a & 0x7fffffu) != 0);

	r = a <= 0x00400000u ? 0u : r;	       /* |x| <= 2^-127 (float subnormal) */
	r = r > 254u ? 254u : r;	       /* > 2^127 and inf: clamp */
	r = a > 0x7f800000u ? UE8M0_NAN : r;   /* NaN */
	return (uint8_t)r;
}

float ue8m0_to_f32(uint8_t e)
{
	uint32_t r = (uint32_t)e << 23;

	r = e == 0 ? 0x00400000u : r;		/* 2^-127, a float subnormal */
	r = e == UE8M0_NAN ? 0x7fff0000u : r;	/* NVIDIA's canonical NaN via BF16 */
	return f32_from_bits(r);
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

void ue8m0_from_f32_n(uint8_t *restrict dst, const float *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ue8m0_from_f32(src[i]);
}

void ue8m0_to_f32_n(float *restrict dst, const uint8_t *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ue8m0_to_f32(src[i]);
}

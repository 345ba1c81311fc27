/*
 * fp8.h - FP8 (E4M3, E5M2), BF16 and UE8M0 conversions.
 *
 * Semantics are those of NVIDIA's host-side __nv_cvt_float_to_fp8() with
 * __NV_SATFINITE (saturate = true) / __NV_NOSAT (saturate = false) and of
 * __float2bfloat16_rn(), bit for bit (tests/kernels check both against
 * cuda_fp8.h / cuda_bf16.h and ml_dtypes):
 *
 *  - round to nearest, ties to even; subnormals are produced and consumed;
 *    results below half the smallest subnormal become a signed zero.
 *  - NaN in -> canonical NaN out, sign dropped: 0x7f (E4M3 and E5M2),
 *    0x7fff (BF16).
 *  - finite overflow and +-inf: saturate -> +-max finite (448, 57344);
 *    otherwise E4M3 gives NaN with the input's sign (0x7f / 0xff, E4M3 has
 *    no infinity) and E5M2 gives +-inf (0x7c / 0xfc).  The overflow point is
 *    max + half an ulp (464 for E4M3, 61440 for E5M2; a tie at it rounds
 *    away from max since max has an odd mantissa in E5M2 and even in E4M3:
 *    464 -> 448, 61440 -> overflow).
 *  - fp8_*_to_f32 is exact; NaN codes give the float 0x7fffffff, like
 *    NVIDIA's fp8 -> half -> float path.
 *  - BF16 overflow rounds to +-inf (as __float2bfloat16_rn).
 *
 * UE8M0 is the 8-bit power-of-two scale of the OCP MX formats and
 * DeepGEMM: value 2^(e - 127), e in 0..254, e = 255 is NaN.
 *
 * All functions are pure and thread-safe.  The *_n bulk versions take
 * non-overlapping arrays and are written branch-free so GCC vectorizes them.
 */
#ifndef LOOM_FP8_H
#define LOOM_FP8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP8_E4M3_MAX 448.0f
#define FP8_E5M2_MAX 57344.0f
#define FP8_E4M3_NAN 0x7f
#define FP8_E5M2_NAN 0x7f
#define BF16_NAN 0x7fff
#define UE8M0_NAN 0xff

uint8_t fp8_e4m3_from_f32(float x, bool saturate);
float fp8_e4m3_to_f32(uint8_t v);
uint8_t fp8_e5m2_from_f32(float x, bool saturate);
float fp8_e5m2_to_f32(uint8_t v);
uint16_t bf16_from_f32(float x);
float bf16_to_f32(uint16_t v);

/* Smallest power of two >= |x|, as UE8M0 (round the scale *up* so that no
 * element overflows after division by it); bit for bit NVIDIA's
 * __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf):
 *  - the sign is ignored (a scale is an amax; -s gives the code of s);
 *  - |x| <= 2^-127 (including +-0) gives 0 (2^-127, the smallest);
 *  - |x| > 2^127 and +-inf give 254 (2^127, the largest: saturation);
 *  - NaN gives UE8M0_NAN. */
uint8_t ue8m0_from_f32(float x);
/* 2^(e - 127) exactly (the float subnormal 2^-127 for e = 0); for
 * e = UE8M0_NAN the NaN 0x7fff0000 (NVIDIA's e8m0 -> bf16 -> float). */
float ue8m0_to_f32(uint8_t e);

/* Bulk conversions of n elements (n = 0 touches nothing; NULL is fine then). */
void fp8_e4m3_from_f32_n(uint8_t *dst, const float *src, size_t n, bool saturate);
void fp8_e4m3_to_f32_n(float *dst, const uint8_t *src, size_t n);
void fp8_e5m2_from_f32_n(uint8_t *dst, const float *src, size_t n, bool saturate);
void fp8_e5m2_to_f32_n(float *dst, const uint8_t *src, size_t n);
void bf16_from_f32_n(uint16_t *dst, const float *src, size_t n);
void bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void ue8m0_from_f32_n(uint8_t *dst, const float *src, size_t n);
void ue8m0_to_f32_n(float *dst, const uint8_t *src, size_t n);

/* Round x through BF16 and back (what storing an FP32 value in BF16 does). */
static inline float bf16_round(float x) { return bf16_to_f32(bf16_from_f32(x)); }

#ifdef __cplusplus
}
#endif
#endif

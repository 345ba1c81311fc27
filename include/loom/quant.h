/*
 * quant.h - fine-grained FP8 (E4M3) quantization, as in DeepSeek-V3 / DeepGEMM.
 *
 * Activations are quantized per 1x128 tile (one row, 128 consecutive columns),
 * weights per 128x128 block.  A tile's scale is s = amax / 448 (FP32 mode) or
 * the smallest power of two >= amax / 448 (POW2 mode, representable as UE8M0),
 * and each element is stored as e4m3(x / s) with saturation; x ~= q * s.
 *
 * Shapes and layouts (all row-major unless stated):
 *   x, q          (M, K)                       activations
 *   w, q          (N, K)                       weights
 *   act scales    (M, KB)      KB = ceil(K / 128)
 *   weight scales (NB, KB)     NB = ceil(N / 128)
 * A partial last tile / block (K or N not a multiple of 128) is allowed and
 * scaled over the elements it has.
 *
 * All-zero tile: scale 1.0 in both modes (so dequantization gives exact zeros
 * and no division by zero).  NaN in a tile: the amax is NaN, the scale is NaN
 * and every element of the tile dequantizes to NaN (documented, not an error).
 * +-inf in a tile: amax is inf, so the scale is inf; finite elements become
 * 0 and the inf elements NaN (inf/inf), so the whole tile dequantizes to NaN
 * (0 * inf).  Callers that need finite results must feed finite data;
 * quant_* never crash on such input.
 * Tiny tiles: when amax / 448 is below FLT_MIN (amax < ~2^-117) the FP32
 * quotient would lose bits or underflow to 0, so both modes use the POW2
 * scale.  quant_scale_for_amax(amax < 0) is NaN.
 *
 * Errors: -EINVAL (NULL pointer, m/n/k <= 0, unknown scale mode) with a
 * reason in loom_err_msg().
 * Thread-safe; no allocation.
 */
#ifndef LOOM_QUANT_H
#define LOOM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QUANT_TILE 128

enum quant_scale_mode {
	QUANT_SCALE_F32 = 0,  /* s = amax / 448 */
	QUANT_SCALE_POW2 = 1, /* s = 2^ceil(log2(amax / 448)), UE8M0-representable */
};

/* ceil(len / 128), 0 for len <= 0; written so len near INT_MAX cannot overflow. */
static inline int quant_blocks(int len) { return len > 0 ? (len - 1) / QUANT_TILE + 1 : 0; }

/* The scale for a tile with the given amax (see above for 0 / NaN / inf). */
float quant_scale_for_amax(float amax, enum quant_scale_mode mode);

/* Activations: x (M, K) -> q (M, K) e4m3 and scales (M, KB). */
int quant_act_1x128(uint8_t *q, float *scales, const float *x, int m, int k,
		    enum quant_scale_mode mode);
/* q (M, K) with scales (M, KB) -> x (M, K). */
int dequant_act_1x128(float *x, const uint8_t *q, const float *scales, int m, int k);

/* Weights: w (N, K) -> q (N, K) e4m3 and scales (NB, KB). */
int quant_weight_128x128(uint8_t *q, float *scales, const float *w, int n, int k,
			 enum quant_scale_mode mode);
int dequant_weight_128x128(float *w, const uint8_t *q, const float *scales, int n, int k);

/*
 * DeepGEMM's scale layouts.  DeepGEMM takes activation scales column-major
 * ("MN-major") with the M dimension padded to a multiple of 4 floats (16 bytes,
 * TMA alignment): element (i, kb) at dst[kb * quant_dg_ld(m) + i].  Padding
 * entries are written as 0.  Weight scales (NB, KB) are already row-major in
 * DeepGEMM and need no transform.  m must be <= INT_MAX - 3 (else the padded
 * length is not an int: -EINVAL).
 */
static inline int quant_dg_ld(int m) { return (m + 3) / 4 * 4; }
int quant_act_scales_to_dg(float *dst, const float *scales, int m, int k);
int quant_act_scales_from_dg(float *scales, const float *dst, int m, int k);

#ifdef __cplusplus
}
#endif
#endif

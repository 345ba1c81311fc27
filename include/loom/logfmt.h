/*
 * logfmt.h - LogFMT-nBit, the logarithmic per-tile format of DeepSeek-V3's
 * communication path (REFERENCE.md §3), n = 8..16, on 1x128 tiles.
 *
 * This is the bit-exact CPU reference that CUDA and RTL codecs are tested
 * against.  It is not a GPU kernel and not fused into any transport.
 *
 * ---- The format --------------------------------------------------------
 * Per tile of up to 128 consecutive elements of one row:
 *   amax = max |x|, amin = min |x| over the non-zero elements;
 *   log2_max = RN_f32(log2(amax)),  lmin0 = RN_f32(log2(amin))
 *       (log2 evaluated in double, then rounded to float, nearest-even);
 *   log2_min = max(lmin0, log2_max - 32.0f)     (FP32 subtraction; the
 *       clamp "min >= max - log(2^32)" of [P] in base 2).
 * Base 2 instead of e changes nothing in the set of representable values
 * (log2 = ln / ln 2, the step scales with it); it makes exp a shift plus a
 * fraction, which is what hardware can do.  Only the encoder takes logs,
 * two per tile; a decoder never does.  (glibc's double log2 is within an
 * ulp of double, so the FP32 header is the correctly rounded log2 unless
 * log2(a) lies within ~2^-29 of a float rounding boundary; an encoder that
 * lands on the other side there produces a different but equally valid
 * tile.)  Storing log2 in FP32 puts m(1) and m(TOP) within ln2 * ulp(log2
 * a) / 2 of amin and amax (relative: 4e-8 for 0.5 < a < 2, 3.3e-7 for
 * 2^-16 < a < 2^16, 5.2e-6 at the ends of FP32), plus the 1.3e-7 of the
 * fixed-point decode below.
 *
 * A code is n bits: bit n-1 is the sign (1 = negative), bits n-2..0 the
 * magnitude code K, 0 <= K <= TOP = 2^(n-1) - 1:
 *   K = 0      -> 0 (a signed zero)
 *   K = 1      -> 2^log2_min
 *   K = TOP    -> 2^log2_max
 *   K          -> m(K) = 2^(log2_min + (K - 1) * step),
 *                 step = (log2_max - log2_min) / (TOP - 1).
 *
 * ---- Decoding, bit for bit (what a CUDA or RTL decoder must do) --------
 * All in integers; log2 values are fixed point with 24 fraction bits:
 *   lo = RNE(log2_min * 2^24), hi = RNE(log2_max * 2^24)   (int64; the
 *        product is exact, RNE = round to nearest, ties to even)
 *   Q  = TOP - 1 = 2^(n-1) - 2,   D = hi - lo >= 0
 *   E(K) = lo + floor((D * (K - 1) + Q/2) / Q)             (K >= 1)
 *   m(K) = logfmt_exp2_fx(E(K))
 * logfmt_exp2_fx(E) = 2^(E / 2^24) rounded to FP32 as follows:
 *   I = floor(E / 2^24) and f = E - I * 2^24 (24 bits: a = f >> 16,
 *   b = (f >> 8) & 255, c = f & 255);
 *   T0[a] = RN(2^(a/2^8) 2^31), T1[b] = RN(2^(b/2^16) 2^31),
 *   T2[c] = RN(2^(c/2^24) 2^31)   (three ROMs of 256 x 32 bits, listed in
 *   logfmt.c and checked against exp2l by the tests);
 *   p = (T0[a] * T1[b] + 2^30) >> 31,  q = (p * T2[c] + 2^30) >> 31
 *   (unsigned 64-bit products, round half up; q ~ 2^(f/2^24) in Q1.31,
 *   2^31 <= q < 2^32); the result is q * 2^(I - 31) rounded once to FP32,
 *   nearest-even, subnormals included; results at or above 2^128 saturate
 *   to FLT_MAX.
 * The result is within 0.52 ulp of the exact 2^(E/2^24) (tests check all
 * 2^24 fractions) and non-decreasing in E, so m(K) is non-decreasing in K.
 * tests/kernels/test_logfmt.c holds golden vectors (exp2 and whole-code
 * decodes, bit patterns from a separate implementation) for other decoders.
 *
 * ---- Encoding: nearest in linear space ---------------------------------
 * With m(0) = 0, an element x gets
 *   K = #{ k in 0..TOP-1 : 2|x| >= m(k) + m(k+1) }       (sums in double,
 *       exact), sign bit = signbit(x).
 * That is: between two neighbouring representable magnitudes the nearer
 * one in linear distance, a tie going to the larger; |x| < m(1)/2 gives 0
 * (only possible when log2_min was clamped or rounded), |x| above m(TOP)
 * gives TOP.  Rounding in linear (not log) space is what keeps the error
 * mean zero for values spread evenly inside a code interval [P].
 * Zero stays zero; -0.0 keeps its sign bit.  For |x| in [m(1), m(TOP)] the
 * relative error is at most (2^step - 1) / 2: over the full clamped 2^32
 * range 9.6% (n = 8), 2.2% (n = 10), 0.034% (n = 16).  The codes depend
 * only on the header and exact comparisons, so any encoder that computes
 * the same header gives the same bytes.
 *
 * ---- Packed layout -----------------------------------------------------
 * A tile is LOGFMT_HEADER_BYTES + 16 * n bytes (logfmt_tile_bytes()):
 *   bytes 0..3  log2_min, IEEE-754 binary32, little-endian
 *   bytes 4..7  log2_max, IEEE-754 binary32, little-endian
 *   bytes 8..   128 codes of n bits, little-endian bit stream: code i holds
 *               bits [i*n, i*n + n) of the stream, stream bit s is bit
 *               (s % 8) of byte 8 + s / 8; bit 0 of a code is its LSB.
 * A decoder needs only the tile's 8 header bytes, n, and the codes.
 * Rows (T, H): each row is HB = ceil(H / 128) tiles; tile (r, b) starts at
 * byte (r * HB + b) * logfmt_tile_bytes(n).  A partial last tile (H not a
 * multiple of 128) is supported: its header covers the elements it has and
 * its unused code slots are written as 0 and ignored by the decoder.
 *
 * ---- Special inputs ----------------------------------------------------
 * All-zero tile: header (0.0f, 0.0f), every code 0 (signed zeros kept).
 * One distinct magnitude v: log2_min = log2_max, every m(K) (K >= 1) is
 * the same value, within the rounding stated above of v (exactly v for
 * powers of two).  NaN or +-inf anywhere in the input: -EINVAL naming the
 * row and column (a log format has no code for them); output contents are
 * then unspecified.  The decoder rejects a header that is not finite, has
 * log2_min > log2_max or |log2| > 192 with -EINVAL ("corrupt header").
 *
 * All functions are thread-safe and allocate nothing.  Errors: negative
 * errno with a reason in loom_err_msg().
 */
#ifndef LOOM_LOGFMT_H
#define LOOM_LOGFMT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOGFMT_TILE 128
#define LOGFMT_HEADER_BYTES 8
#define LOGFMT_MIN_BITS 8
#define LOGFMT_MAX_BITS 16
#define LOGFMT_FRAC_BITS 24	  /* fixed-point fraction bits of log2 values */
#define LOGFMT_CLAMP_LOG2 32.0f	  /* log2_max - log2_min <= 32 (a 2^32 range) */
#define LOGFMT_HEADER_LOG2_LIMIT 192.0f

/* The header as stored (bytes 0..7 of a packed tile). */
struct logfmt_header {
	float log2_min;
	float log2_max;
};

/* Bytes of one packed tile: 8 + 16 * nbits; -EINVAL if nbits is not 8..16. */
int logfmt_tile_bytes(int nbits);
/* Bytes of a packed (T, H) matrix: T * ceil(H / 128) * logfmt_tile_bytes;
 * -EINVAL for t <= 0, h <= 0, a bad nbits, or more than INT64_MAX bytes. */
int64_t logfmt_packed_bytes(int t, int h, int nbits);

/* x (T, H) row-major -> dst (logfmt_packed_bytes(t, h, nbits) bytes). */
int logfmt_encode(uint8_t *dst, const float *x, int t, int h, int nbits);
/* src packed (T, H) -> x (T, H).  Writes exactly T * H floats. */
int logfmt_decode(float *x, const uint8_t *src, int t, int h, int nbits);
/* y = decode(encode(x)), (T, H); y == x (in place) is allowed, a partial
 * overlap is not.  For training code that simulates LogFMT communication
 * ("fake quantization"). */
int logfmt_fake_quant(float *y, const float *x, int t, int h, int nbits);

/* One tile of len (1..128) elements: dst gets logfmt_tile_bytes(nbits). */
int logfmt_tile_encode(uint8_t *dst, const float *x, int len, int nbits);
int logfmt_tile_decode(float *x, const uint8_t *src, int len, int nbits);

/* The header the encoder stores for x[0..len) (rules above). */
int logfmt_tile_header(struct logfmt_header *hd, const float *x, int len);
/* Read / write the 8 header bytes (little-endian binary32 pair). */
void logfmt_header_load(struct logfmt_header *hd, const uint8_t *src);
void logfmt_header_store(uint8_t *dst, const struct logfmt_header *hd);
/* True when a decoder accepts hd (finite, ordered, |log2| <= 192). */
bool logfmt_header_valid(const struct logfmt_header *hd);

/* The value of one n-bit code (sign bit included) under hd; NaN when hd is
 * not valid, nbits is not 8..16 or code >= 2^nbits. */
float logfmt_code_to_f32(const struct logfmt_header *hd, int nbits, uint32_t code);
/* The n-bit code of x under hd (x finite); a code >= 0, or -EINVAL. */
int logfmt_code_from_f32(const struct logfmt_header *hd, int nbits, float x);

/* 2^(e / 2^24) by the fixed-point table method above; e in [-2^32, 2^32]
 * (larger magnitudes are clamped there: 0 or FLT_MAX). */
float logfmt_exp2_fx(int64_t e);

/* Pack / unpack count n-bit codes (bits above n are ignored) as the
 * little-endian bit stream above; dst gets ceil(count * n / 8) bytes, the
 * unused high bits of the last byte are 0.  nbits in 1..16, count >= 0
 * (other values: nothing is written). */
void logfmt_codes_pack(uint8_t *dst, const uint16_t *codes, int count, int nbits);
void logfmt_codes_unpack(uint16_t *codes, const uint8_t *src, int count, int nbits);

#ifdef __cplusplus
}
#endif
#endif

/*
 * logfmt_cuda.h - LogFMT-nBit encode / decode (n = 8..16) of (T, H) rows on
 * an NVIDIA GPU (kernels/cuda/logfmt.cu), the GPU twin of logfmt_encode /
 * logfmt_decode in logfmt.h, whose format, packed layout and rounding rules
 * it follows bit for bit.
 *
 * Decode: bit for bit logfmt_decode.  Encode: bit for bit logfmt_encode,
 * with one stated exception: a tile header's log2 comes from CUDA's double
 * log2 instead of glibc's, so a header can differ by one FP32 ulp when
 * log2(amax) or log2(amin) lies within ~2^-50 (relative) of an FP32
 * rounding boundary; logfmt.h calls such a tile "different but equally
 * valid", and its codes are still exactly the ones logfmt_code_from_f32
 * gives under the header that was stored.
 *
 * Errors found on the device (the CPU reference returns -EINVAL for them):
 * a NaN or inf input element (encode) or a corrupt tile header (decode).
 * The launcher cannot return those without synchronizing, so when
 * `first_bad` (device memory, may be NULL) is given it receives the
 * smallest flat index of a bad element (encode: row * H + col) or bad tile
 * (decode: row * ceil(H / 128) + tile), or UINT64_MAX when there is none;
 * such tiles' outputs are unspecified, the others are exact.
 *
 * Pointers are device pointers; calls are asynchronous on `stream`.
 * Returns 0, -EINVAL (NULL pointer, t or h <= 0, nbits not 8..16) or -EIO
 * (a CUDA launch error, named in loom_err_msg()).
 */
#ifndef LOOM_LOGFMT_CUDA_H
#define LOOM_LOGFMT_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x (T, H) float -> dst (logfmt_packed_bytes(t, h, nbits) bytes). */
int logfmt_cuda_encode(uint8_t *dst, const float *x, int t, int h, int nbits,
		       unsigned long long *first_bad, void *stream);
/* src packed (T, H) -> x (T, H) float. */
int logfmt_cuda_decode(float *x, const uint8_t *src, int t, int h, int nbits,
		       unsigned long long *first_bad, void *stream);

#ifdef __cplusplus
}
#endif
#endif

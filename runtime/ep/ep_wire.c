/*
 * ep_wire.c - the byte formats of expert-parallel traffic: one row of
 * hidden elements in each wire (FP8, BF16, FP32, LogFMT) and the header of
 * a dispatch record.  Encoding is per row, so a row's bytes depend only on
 * the row: the same token gives the same bytes whatever the rank layout.
 *
 * Row layouts (all padded with zero bytes to a multiple of 4):
 *   FP8     ceil(H / 128) FP32 scales (quant.h, QUANT_SCALE_F32: amax / 448,
 *           a partial last tile scaled over what it has), then H E4M3 bytes
 *   BF16    H little-endian bf16 (round to nearest even)
 *   F32     H floats, exact
 *   LOGFMT  logfmt_packed_bytes(1, H, n) (logfmt.h)
 * Record header: int32 src_rank, int32 src_token, int32 ids[k], f32 w[k].
 * Not here: which rows go where (ep_plan.c), moving them (ep.c).
 */
#include <math.h>
#include <string.h>

#include "ep_impl.h"
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/logfmt.h"
#include "loom/quant.h"

static size_t pad4(size_t n)
{
	return (n + 3) / 4 * 4;
}

size_t ep_wire_row_bytes(enum ep_wire w, int hidden, int logfmt_bits)
{
	size_t h = (size_t)hidden;
	int64_t lb;

	if (hidden <= 0)
		return 0;
	switch (w) {
	case EP_WIRE_FP8:
		return pad4((size_t)quant_blocks(hidden) * sizeof(float) + h);
	case EP_WIRE_BF16:
		return pad4(2 * h);
	case EP_WIRE_F32:
		return 4 * h;
	case EP_WIRE_LOGFMT:
		lb = logfmt_packed_bytes(1, hidden, logfmt_bits);
		return lb > 0 ? pad4((size_t)lb) : 0;
	}
	return 0;
}

/* A LogFMT row whose first tile header is NaN: logfmt_decode refuses it. */
static void logfmt_poison(uint8_t *dst, size_t row_bytes)
{
	struct logfmt_header hd = { .log2_min = NAN, .log2_max = NAN };

	memset(dst, 0, row_bytes);
	logfmt_header_store(dst, &hd);
}

int ep_wire_encode(enum ep_wire w, int logfmt_bits, void *dst, const float *x, int hidden)
{
	size_t bytes = ep_wire_row_bytes(w, hidden, logfmt_bits);
	size_t kb = (size_t)quant_blocks(hidden);
	uint8_t *d = dst;
	int rc = 0;

	memset(d + bytes - 4, 0, 4); /* the padding, before the payload covers the rest */
	switch (w) {
	case EP_WIRE_FP8:
		rc = quant_act_1x128(d + kb * sizeof(float), (float *)(void *)d, x, 1, hidden,
				     QUANT_SCALE_F32);
		break;
	case EP_WIRE_BF16:
		bf16_from_f32_n((uint16_t *)(void *)d, x, (size_t)hidden);
		break;
	case EP_WIRE_F32:
		memcpy(d, x, (size_t)hidden * sizeof(float));
		break;
	case EP_WIRE_LOGFMT:
		rc = logfmt_encode(d, x, 1, hidden, logfmt_bits);
		if (rc) {
			logfmt_poison(d, bytes);
			rc = loom_err_set(EINVAL, "ep: a row is not finite and LogFMT has no "
					  "code for NaN/inf");
		}
		break;
	}
	return rc;
}

int ep_wire_decode(enum ep_wire w, int logfmt_bits, float *x, const void *src, int hidden)
{
	size_t kb = (size_t)quant_blocks(hidden);
	const uint8_t *s = src;
	int rc = 0;

	switch (w) {
	case EP_WIRE_FP8:
		rc = dequant_act_1x128(x, s + kb * sizeof(float), (const float *)src, 1, hidden);
		break;
	case EP_WIRE_BF16:
		bf16_to_f32_n(x, (const uint16_t *)src, (size_t)hidden);
		break;
	case EP_WIRE_F32:
		memcpy(x, src, (size_t)hidden * sizeof(float));
		break;
	case EP_WIRE_LOGFMT:
		rc = logfmt_decode(x, s, 1, hidden, logfmt_bits);
		if (rc) {
			for (int j = 0; j < hidden; j++)
				x[j] = NAN;
			rc = loom_err_set(EINVAL, "ep: a LogFMT row came with a poisoned "
					  "header: the expert output it came from was not finite");
		}
		break;
	}
	return rc;
}

void ep_meta_store(void *dst, int32_t src_rank, int32_t src_token, const int32_t *ids,
		   const float *w, int k)
{
	uint8_t *d = dst;

	memcpy(d, &src_rank, 4);
	memcpy(d + 4, &src_token, 4);
	memcpy(d + 8, ids, 4 * (size_t)k);
	memcpy(d + 8 + 4 * (size_t)k, w, 4 * (size_t)k);
}

void ep_meta_load(const void *src, int32_t *src_rank, int32_t *src_token, int32_t *ids,
		  float *w, int k)
{
	const uint8_t *s = src;

	memcpy(src_rank, s, 4);
	memcpy(src_token, s + 4, 4);
	if (ids)
		memcpy(ids, s + 8, 4 * (size_t)k);
	if (w)
		memcpy(w, s + 8 + 4 * (size_t)k, 4 * (size_t)k);
}

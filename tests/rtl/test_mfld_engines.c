/*
 * test_mfld_engines.c - the logic die's engines (rtl-models/mfld) against
 * kernels/, bit for bit, through include/loom/rtl_mfld.h.
 *
 * Each engine gets 10^4 random units (one unit = one vector: a 1x128 tile,
 * or one combined row chunk; QUANT 10^4 in each scale mode, FP32 and POW2,
 * with elements at the POW2 scale's edges 448 * 2^j, and each POW2 scale
 * also checked to be the smallest power of two p with amax <= 448 p, an
 * independent rule) drawn from a mix of classes: ordinary values
 * over a wide exponent range, signed zeros, the format's maxima,
 * subnormals, and NaN / inf where the format defines them.  References:
 * quant_act_1x128 / dequant_act_1x128 (kernels/quant.c), logfmt_tile_encode
 * / logfmt_tile_decode (kernels/logfmt.c), and for COMBINE the C loop the
 * engine documents (FP32 products and sums in order, built with
 * -ffp-contract=off, then fp8.h's bf16_from_f32).  Tolerance: none (bits
 * equal); the one exception, stated in rtl_mfld.h, is the payload of a NaN
 * from DEQUANT (compared as "both NaN").
 */
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/logfmt.h"
#include "loom/quant.h"
#include "loom/rng.h"
#include "loom/rtl_mfld.h"
#include "lt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNITS 10000

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float f32_of(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static struct rtl_mfld *open_model(struct lt *t, enum rtl_mfld_flavour fl)
{
	struct rtl_mfld_params p = { .flavour = fl, .trace_path = NULL };
	struct rtl_mfld *m = rtl_mfld_create(&p);

	LT_CHECK(t, m != NULL, "rtl_mfld_create: %s", loom_err_msg());
	return m;
}

/* A binary32 value of one of the classes (nan_ok: NaN and inf allowed). */
static uint32_t rand_f32(struct loom_rng *r, bool nan_ok)
{
	uint32_t u = loom_rng_u32(r), s = u & 0x80000000u;

	switch (loom_rng_u32(r) % 16) {
	case 0: return s;				/* signed zero */
	case 1: return s | 0x7f7fffffu;			/* FLT_MAX */
	case 2: return s | (u & 0x007fffffu);		/* subnormal (or zero) */
	case 3: return nan_ok ? 0x7fc00000u | (u & 0x3fffff) : s | 0x3f800000u;
	case 4: return nan_ok ? s | 0x7f800000u : s | 0x00800000u;
	case 5: return s | (u & 0x7f7fffffu);		/* any finite */
	default: {					/* ordinary: 2^-40 .. 2^40 */
		int e = 127 + (int)(loom_rng_u32(r) % 81) - 40;
		return s | (uint32_t)e << 23 | (u & 0x7fffff);
	}
	}
}

static uint16_t rand_bf16(struct loom_rng *r, bool nan_ok)
{
	uint32_t u = rand_f32(r, nan_ok);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return 0x7fc0;
	return (uint16_t)(u >> 16) == 0x7f80 && !nan_ok ? 0x7f7f : (uint16_t)(u >> 16);
}

/* A tile length: mostly full tiles, sometimes a partial last one. */
static int rand_len(struct loom_rng *r)
{
	return loom_rng_u32(r) % 4 ? 128 : 1 + (int)(loom_rng_u32(r) % 128);
}

/* Per-unit flavour of the data: mixed classes, NaN allowed, tiny, or zero. */
enum unit_kind { UNIT_MIXED, UNIT_FINITE, UNIT_TINY, UNIT_ZERO };

static enum unit_kind rand_kind(struct loom_rng *r)
{
	uint32_t v = loom_rng_u32(r) % 16;

	return v == 0 ? UNIT_ZERO : v == 1 ? UNIT_TINY : v < 6 ? UNIT_MIXED : UNIT_FINITE;
}

static uint32_t unit_f32(struct loom_rng *r, enum unit_kind k)
{
	uint32_t u = loom_rng_u32(r);

	switch (k) {
	case UNIT_ZERO: return u & 0x80000000u;
	case UNIT_TINY: return (u & 0x8000ffffu) | (loom_rng_u32(r) % 4 ? 0 : 0x00ff0000u);
	case UNIT_MIXED: return rand_f32(r, true);
	default: return rand_f32(r, false);
	}
}

/* ---- COMBINE ------------------------------------------------------------ */

static uint16_t combine_ref(const float *w, const uint16_t *rows, int k, int e)
{
	float acc = 0.0f;

	for (int i = 0; i < k; i++)
		acc += w[i] * bf16_to_f32(rows[i * 128 + e]);
	return bf16_from_f32(acc);
}

static void test_combine_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	uint8_t in[64 + 256 * RTL_MFLD_MAX_K];
	uint16_t out[128], rows[RTL_MFLD_MAX_K * 128];
	float w[RTL_MFLD_MAX_K];
	long bad = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < UNITS && bad < 10; u++) {
		int k = 1 + (int)(loom_rng_u32(&r) % (u % 8 ? 4 : RTL_MFLD_MAX_K));
		int len = 1 + (int)(loom_rng_u32(&r) % 32);
		enum unit_kind kind = rand_kind(&r);

		for (int i = 0; i < k; i++) {
			uint32_t wb = loom_rng_u32(&r) % 8 ? rand_f32(&r, false) & 0xbfffffffu
							    : unit_f32(&r, kind);
			w[i] = f32_of(wb);
			memcpy(in + 4 * i, &wb, 4);
			for (int e = 0; e < len; e++) {
				rows[i * 128 + e] = kind == UNIT_FINITE || kind == UNIT_MIXED
					? rand_bf16(&r, kind == UNIT_MIXED)
					: (uint16_t)(unit_f32(&r, kind) >> 16);
				memcpy(in + 64 + 256 * i + 2 * e, &rows[i * 128 + e], 2);
			}
		}
		size_t in_bytes = 64 + 256 * (size_t)(k - 1) + 2 * (size_t)len;
		int rc = rtl_mfld_engine_run(m, RTL_MFLD_ENG_COMBINE, k, len, 0, in, in_bytes, out,
					     2 * (size_t)len, NULL);
		LT_CHECK(t, rc == 0, "unit %d k=%d len=%d: %s", u, k, len, loom_err_msg());
		for (int e = 0; e < len && rc == 0; e++) {
			uint16_t want = combine_ref(w, rows, k, e);
			if (out[e] != want && bad++ < 10)
				lt_fail(t, __FILE__, __LINE__, "unit %d k=%d e=%d: rtl %04x want %04x",
					u, k, e, out[e], want);
		}
	}
	LT_CHECK(t, bad == 0, "%ld mismatches", bad);
	rtl_mfld_destroy(m);
}

/* ---- QUANT / DEQUANT ---------------------------------------------------- */

/*
 * One tile for QUANT: the unit's classes, and in one tile of eight an
 * element at a scale edge, +-448 * 2^j or its BF16 neighbours (j over the
 * whole range, subnormal quotients included), where POW2's power doubles.
 */
static void quant_tile(struct loom_rng *r, uint16_t *x, int len)
{
	enum unit_kind kind = rand_kind(r);

	for (int e = 0; e < len; e++)
		x[e] = kind == UNIT_MIXED ? rand_bf16(r, true)
		     : kind == UNIT_FINITE ? rand_bf16(r, false)
					   : (uint16_t)(unit_f32(r, kind) >> 16);
	if (loom_rng_u32(r) % 8 == 0) {
		int j = (int)(loom_rng_u32(r) % 255) - 127 - 8; /* 448 2^j: exponent j + 8 */
		uint32_t b = (uint32_t)(j + 8 + 127) << 23 | 0x600000u; /* 1.75 * 2^(j + 8) */
		uint16_t h = (uint16_t)(b >> 16);
		if (j + 8 + 127 <= 0)	/* below FLT_MIN: a subnormal BF16 */
			h = (uint16_t)(loom_rng_u32(r) % 0x80);
		h = (uint16_t)(h + (int)(loom_rng_u32(r) % 3) - 1);
		x[loom_rng_u32(r) % (uint32_t)len] = (uint16_t)(h | (loom_rng_u32(r) & 0x8000u));
	}
}

/* Bit-exact with quant_act_1x128 in both scale modes, UNITS tiles each. */
static void test_quant_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	uint16_t x[128];
	float xf[128], s_ref;
	uint8_t out[260], q_ref[128];
	long bad = 0, tiny = 0, nan_tiles = 0, not_pow2 = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int mode = RTL_MFLD_QUANT_F32; mode <= RTL_MFLD_QUANT_POW2; mode++) {
		enum quant_scale_mode qm = mode == RTL_MFLD_QUANT_POW2 ? QUANT_SCALE_POW2
								   : QUANT_SCALE_F32;
		for (int u = 0; u < UNITS && bad < 10; u++) {
			int len = rand_len(&r);

			quant_tile(&r, x, len);
			for (int e = 0; e < len; e++)
				xf[e] = bf16_to_f32(x[e]);
			LT_CHECK(t, quant_act_1x128(q_ref, &s_ref, xf, 1, len, qm) == 0, "ref");
			int rc = rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, mode, len, 0, x,
						     2 * (size_t)len, out, 260, NULL);
			LT_CHECK(t, rc == 0, "mode %d unit %d: %s", mode, u, loom_err_msg());
			uint32_t s_got;
			memcpy(&s_got, out + 256, 4);
			tiny += s_ref > 0.0f && s_ref < 1.1754944e-38f;
			nan_tiles += isnan(s_ref);
			if (s_got != f32_bits(s_ref) && bad++ < 10)
				lt_fail(t, __FILE__, __LINE__, "mode %d unit %d: scale %08x want %08x",
					mode, u, s_got, f32_bits(s_ref));
			for (int e = 0; e < len; e++)
				if (out[e] != q_ref[e] && bad++ < 10)
					lt_fail(t, __FILE__, __LINE__,
						"mode %d unit %d e=%d x=%04x: q %02x want %02x", mode,
						u, e, x[e], out[e], q_ref[e]);
			if (mode != RTL_MFLD_QUANT_POW2 || !isfinite(s_ref))
				continue;
			/* independent of quant.c: a power of two p, the smallest with
			 * amax <= 448 p (doubles are exact here) */
			float amax = 0.0f;
			for (int e = 0; e < len; e++)
				amax = fabsf(xf[e]) > amax ? fabsf(xf[e]) : amax;
			double p = f32_of(s_got);
			int ex;
			bool smallest = (double)amax > 448.0 * (p / 2) || p == 0x1p-127;
			not_pow2 += frexp(p, &ex) != 0.5 ||
				    (amax > 0.0f && !((double)amax <= 448.0 * p && smallest));
		}
	}
	LT_CHECK(t, bad == 0, "%ld mismatches", bad);
	LT_CHECK(t, not_pow2 == 0, "%ld POW2 scales not the smallest power of two", not_pow2);
	/* the classes must reach the tiny-tile and NaN paths */
	LT_CHECK(t, tiny > 0 && nan_tiles > 0, "tiny tiles %ld, NaN tiles %ld", tiny, nan_tiles);
	rtl_mfld_destroy(m);
}

static void test_dequant_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	uint8_t in[260];
	float out[128], ref[128];
	long bad = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < UNITS && bad < 10; u++) {
		int len = rand_len(&r);
		uint32_t sb = loom_rng_u32(&r) % 4 ? rand_f32(&r, false) & 0x7fffffffu
						   : rand_f32(&r, true);
		float s = f32_of(sb);

		for (int e = 0; e < len; e++)
			in[e] = (uint8_t)loom_rng_u32(&r);
		memcpy(in + 256, &sb, 4);
		LT_CHECK(t, dequant_act_1x128(ref, in, &s, 1, len) == 0, "ref");
		int rc = rtl_mfld_engine_run(m, RTL_MFLD_ENG_DEQUANT, 0, len, 0, in, 260, out,
					     4 * (size_t)len, NULL);
		LT_CHECK(t, rc == 0, "unit %d: %s", u, loom_err_msg());
		for (int e = 0; e < len; e++) {
			bool same = f32_bits(out[e]) == f32_bits(ref[e]) ||
				    (isnan(out[e]) && isnan(ref[e]));
			if (!same && bad++ < 10)
				lt_fail(t, __FILE__, __LINE__, "unit %d e=%d q=%02x s=%08x: %08x want "
					"%08x", u, e, in[e], sb, f32_bits(out[e]), f32_bits(ref[e]));
		}
	}
	LT_CHECK(t, bad == 0, "%ld mismatches", bad);
	rtl_mfld_destroy(m);
}

/* ---- LOGFMT ------------------------------------------------------------- */

/* A tile for LogFMT: the unit kinds plus wide ranges (the clamp) and a
 * single repeated magnitude. */
static void logfmt_tile_data(struct loom_rng *r, float *x, int len, int variant)
{
	uint32_t one = rand_f32(r, false) & 0x7fffffffu;

	for (int e = 0; e < len; e++) {
		uint32_t u;
		switch (variant) {
		case 0: u = 0; break;						/* all zero */
		case 1: u = one | (loom_rng_u32(r) & 0x80000000u); break;	/* one magnitude */
		case 2: u = unit_f32(r, UNIT_TINY); break;			/* subnormals */
		case 3: u = rand_f32(r, false); break;				/* any class */
		default: {
			float v = (float)loom_rng_normal(r) * ldexpf(1.0f, (int)(loom_rng_u32(r) % 9) - 4);
			u = loom_rng_u32(r) % 32 ? f32_bits(v) : (loom_rng_u32(r) & 0x80000000u);
		}
		}
		x[e] = f32_of(u);
	}
}

static void test_logfmt_encode_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	float x[128];
	uint8_t got[8 + 16 * 10], want[8 + 16 * 10];
	long bad = 0, rejected = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < UNITS && bad < 10; u++) {
		int n = 8 + u % 3, len = rand_len(&r), tb = logfmt_tile_bytes(n);
		int variant = u % 50 == 0 ? 0 : u % 50 == 1 ? 1 : u % 10 == 2 ? 2 : u % 10 == 3 ? 3 : 4;

		logfmt_tile_data(&r, x, len, variant);
		if (u % 97 == 5)
			x[loom_rng_u32(&r) % len] = u % 2 ? NAN : -INFINITY;
		int ref = logfmt_tile_encode(want, x, len, n);
		int rc = rtl_mfld_engine_run(m, RTL_MFLD_ENG_LOGFMT_ENC, 0, len, n, x, 4 * (size_t)len,
					     got, (size_t)tb, NULL);
		if (ref != 0) {
			rejected++;
			LT_CHECK(t, rc == -EIO, "unit %d: non-finite tile gave %d", u, rc);
			continue;
		}
		LT_CHECK(t, rc == 0, "unit %d: %s", u, loom_err_msg());
		for (int b = 0; b < tb && rc == 0; b++) {
			if (got[b] != want[b]) {
				if (bad++ < 10)
					lt_fail(t, __FILE__, __LINE__, "unit %d n=%d len=%d variant %d: "
						"byte %d %02x want %02x", u, n, len, variant, b,
						got[b], want[b]);
				break;
			}
		}
	}
	LT_CHECK(t, bad == 0, "%ld tiles differ", bad);
	LT_CHECK(t, rejected > 0, "no non-finite tile was tried");
	rtl_mfld_destroy(m);
}

static void test_logfmt_decode_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	float x[128], got[128], want[128];
	uint8_t tile[8 + 16 * 10];
	long bad = 0, corrupt = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < UNITS && bad < 10; u++) {
		int n = 8 + u % 3, len = rand_len(&r), tb = logfmt_tile_bytes(n);

		if (u % 2) {	/* a tile the reference encoder wrote */
			logfmt_tile_data(&r, x, len, u % 20 == 1 ? 0 : 4);
			LT_CHECK(t, logfmt_tile_encode(tile, x, len, n) == 0, "ref encode");
		} else {	/* random codes under a random (mostly valid) header */
			struct logfmt_header hd;
			hd.log2_max = (float)(loom_rng_uniform(&r) * 384.0 - 192.0);
			hd.log2_min = hd.log2_max - (float)(loom_rng_uniform(&r) * 40.0);
			if (u % 16 == 0)
				hd.log2_min = f32_of(rand_f32(&r, true));
			logfmt_header_store(tile, &hd);
			for (int b = 8; b < tb; b++)
				tile[b] = (uint8_t)loom_rng_u32(&r);
		}
		int ref = logfmt_tile_decode(want, tile, len, n);
		int rc = rtl_mfld_engine_run(m, RTL_MFLD_ENG_LOGFMT_DEC, 0, len, n, tile, (size_t)tb,
					     got, 4 * (size_t)len, NULL);
		if (ref != 0) {
			corrupt++;
			LT_CHECK(t, rc == -EIO, "unit %d: corrupt header gave %d", u, rc);
			continue;
		}
		LT_CHECK(t, rc == 0, "unit %d: %s", u, loom_err_msg());
		for (int e = 0; e < len && rc == 0; e++)
			if (f32_bits(got[e]) != f32_bits(want[e]) && bad++ < 10)
				lt_fail(t, __FILE__, __LINE__, "unit %d n=%d e=%d: %08x want %08x", u,
					n, e, f32_bits(got[e]), f32_bits(want[e]));
	}
	LT_CHECK(t, bad == 0, "%ld mismatches", bad);
	LT_CHECK(t, corrupt > 0, "no corrupt header was tried");
	rtl_mfld_destroy(m);
}

/* ---- API ---------------------------------------------------------------- */

/* Both flavours, two instances interleaved: same bytes as the reference. */
static void test_flavours_and_instances(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *a = open_model(t, RTL_MFLD_CHECKED), *b = open_model(t, RTL_MFLD_FAST);
	float x[128];
	uint8_t ga[8 + 16 * 9], gb[8 + 16 * 9], want[8 + 16 * 9];

	if (!a || !b)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < 200; u++) {
		logfmt_tile_data(&r, x, 128, 4);
		LT_CHECK(t, logfmt_tile_encode(want, x, 128, 9) == 0, "ref");
		LT_CHECK(t, rtl_mfld_engine_run(a, RTL_MFLD_ENG_LOGFMT_ENC, 0, 128, 9, x, 512, ga,
						sizeof(ga), NULL) == 0, "%s", loom_err_msg());
		LT_CHECK(t, rtl_mfld_engine_run(b, RTL_MFLD_ENG_LOGFMT_ENC, 0, 128, 9, x, 512, gb,
						sizeof(gb), NULL) == 0, "%s", loom_err_msg());
		LT_CHECK(t, !memcmp(ga, want, sizeof(ga)) && !memcmp(gb, want, sizeof(gb)), "unit %d",
			 u);
	}
	struct rtl_mfld_counters c;
	LT_CHECK(t, rtl_mfld_counters(b, &c) == 0 && c.units == 200 && c.units_failed == 0,
		 "units %llu", (unsigned long long)c.units);
out:
	rtl_mfld_destroy(a);
	rtl_mfld_destroy(b);
}

static void test_bad_arguments(struct lt *t)
{
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	uint8_t buf[RTL_MFLD_IB_BYTES + 4] = { 0 };
	struct rtl_mfld_params bad_fl = { .flavour = (enum rtl_mfld_flavour)7 };

	if (!m)
		return;
	LT_CHECK(t, rtl_mfld_create(&bad_fl) == NULL, "unknown flavour accepted");
	LT_CHECK(t, rtl_mfld_engine_run(NULL, RTL_MFLD_ENG_QUANT, 0, 1, 0, buf, 2, buf, 1, NULL) ==
		 -EINVAL, "NULL model");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 0, 1, 0, NULL, 2, buf, 1, NULL) ==
		 -EINVAL, "NULL input");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 0, 0, 0, buf, 2, buf, 1, NULL) ==
		 -EINVAL, "len 0");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 0, 129, 0, buf, 2, buf, 1, NULL) ==
		 -EINVAL, "len 129");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_COMBINE, 17, 8, 0, buf, 64, buf, 16, NULL) ==
		 -EINVAL, "k 17");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 2, 8, 0, buf, 16, buf, 260, NULL) ==
		 -EINVAL, "QUANT scale mode 2");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_LOGFMT_ENC, 0, 8, 11, buf, 32, buf, 8,
					NULL) == -EINVAL, "nbits 11");
	LT_CHECK(t, rtl_mfld_engine_run(m, (enum rtl_mfld_engine)9, 0, 8, 8, buf, 32, buf, 8, NULL) ==
		 -EINVAL, "unknown engine");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 0, 8, 0, buf, sizeof(buf), buf, 8,
					NULL) == -EINVAL, "input larger than the buffer");
	/* the model still works after the rejected calls */
	uint8_t out[260];
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_QUANT, 0, 8, 0, buf, 16, out, 260, NULL) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(t, rtl_mfld_step(m, 10) == 0 && rtl_mfld_reset(m) == 0, "step / reset");
	rtl_mfld_destroy(m);
	rtl_mfld_destroy(NULL);
}

static void test_trace(struct lt *t)
{
	char path[] = "/tmp/loom-mfld-trace-XXXXXX";
	int fd = mkstemp(path);
	struct stat st;
	uint8_t in[260] = { 0 }, out[512];

	LT_CHECK(t, fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	struct rtl_mfld_params p = { .flavour = RTL_MFLD_CHECKED, .trace_path = path };
	struct rtl_mfld *m = rtl_mfld_create(&p);
	LT_CHECK(t, m != NULL, "%s", loom_err_msg());
	if (m) {
		LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_DEQUANT, 0, 128, 0, in, 260, out, 512,
						NULL) == 0, "%s", loom_err_msg());
		rtl_mfld_destroy(m);
		LT_CHECK(t, stat(path, &st) == 0 && st.st_size > 100, "trace file is empty");
	}
	unlink(path);
}

static const struct lt_case cases[] = {
	LT_CASE(test_combine_random),
	LT_CASE(test_quant_random),
	LT_CASE(test_dequant_random),
	LT_CASE(test_logfmt_encode_random),
	LT_CASE(test_logfmt_decode_random),
	LT_CASE(test_flavours_and_instances),
	LT_CASE(test_bad_arguments),
	LT_CASE(test_trace),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_moe_layout_cuda.cpp - the __host__ __device__ arithmetic of the GPU
 * quantization, router, permutation and LogFMT kernels (kernels/cuda/
 * {quant,router,permute,logfmt}.cuh), run on the CPU against the C
 * reference (kernels/quant.c, router.c, permute.c, logfmt.c, fp8.c), glibc
 * and brute-force loops.  No GPU needed.
 *
 * Where a kernel composes these functions across lanes (warp butterflies,
 * block ballots) the case emulates that composition in plain loops, the
 * way the kernel does it, and compares the end result with the reference.
 * Every comparison is exact on the bits unless a case says otherwise.
 */
#include "lt.h"
#include "loom/fp8.h"
#include "loom/logfmt.h"
#include "loom/moe.h"
#include "loom/quant.h"
#include "loom/rng.h"

#include "../../kernels/cuda/logfmt.cuh"
#include "../../kernels/cuda/permute.cuh"
#include "../../kernels/cuda/quant.cuh"
#include "../../kernels/cuda/router.cuh"

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

static uint32_t bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	return u;
}

static float from_bits(uint32_t u)
{
	float x;
	memcpy(&x, &u, 4);
	return x;
}

/* ---- quantization --------------------------------------------------------- */

/* Inputs for scale checks: a stride over all patterns plus every boundary. */
static std::vector<float> scale_inputs()
{
	std::vector<float> v;

	for (uint64_t u = 0; u < (1ull << 32); u += 4099)
		v.push_back(from_bits((uint32_t)u));
	for (int j = -160; j <= 130; j++) {	/* 448 * 2^j and neighbours */
		float c = ldexpf(448.0f, j);
		for (int d = -3; d <= 3; d++)
			v.push_back(from_bits(bits(c) + d));
	}
	for (int d = -4; d <= 4; d++)	/* the FP32 / POW2 switch: 448 * FLT_MIN */
		v.push_back(from_bits(bits(448.0f * FLT_MIN) + d));
	const uint32_t special[] = { 0, 1, 0x00400000u, 0x7f7fffffu, 0x7f800000u, 0x7fc00000u,
				     0x7fffffffu, 0x7f800001u, 0x80000000u, 0xbf800000u };
	for (uint32_t s : special)
		v.push_back(from_bits(s));
	return v;
}

static void test_quant_scale_matches_reference(struct lt *t)
{
	int bad = 0;

	for (float a : scale_inputs()) {
		for (int pow2 = 0; pow2 < 2 && bad < 10; pow2++) {
			float want = quant_scale_for_amax(a, pow2 ? QUANT_SCALE_POW2 : QUANT_SCALE_F32);
			float got = qc_scale_for_amax(a, pow2);
			if (bits(got) != bits(want) && ++bad)
				lt_fail(t, __FILE__, __LINE__, "amax %#010x pow2=%d: got %#010x want %#010x",
					bits(a), pow2, bits(got), bits(want));
		}
	}
}

static void test_quant_ue8m0_matches_fp8(struct lt *t)
{
	int bad = 0;

	for (uint64_t u = 0; u < (1ull << 32) && bad < 10; u += 997) {
		float x = from_bits((uint32_t)u);
		if (qc_ue8m0_from_f32(x) != ue8m0_from_f32(x) && ++bad)
			lt_fail(t, __FILE__, __LINE__, "ue8m0_from %#010x", (uint32_t)u);
	}
	for (uint32_t e = 0; e < 256; e++)
		LT_CHECK(t, bits(qc_ue8m0_to_f32(e)) == bits(ue8m0_to_f32((uint8_t)e)), "e=%u", e);
}

/* BF16 test data with zeros, maxima, subnormals, huge values, NaN, inf. */
static void fill_bf16(struct loom_rng *r, uint16_t *x, size_t n, bool specials)
{
	for (size_t i = 0; i < n; i++) {
		double pick = loom_rng_uniform(r);
		float v = (float)(loom_rng_normal(r) * ldexp(1.0, (int)(loom_rng_u32(r) % 40) - 20));
		if (pick < 0.05)
			v = 0.0f;
		else if (pick < 0.07)
			v = from_bits(loom_rng_u32(r) & 0x807fffffu);	/* subnormal */
		else if (pick < 0.08)
			v = (loom_rng_u32(r) & 1) ? 3.3895314e38f : -448.0f;
		else if (specials && pick < 0.082)
			v = (loom_rng_u32(r) & 1) ? NAN : -INFINITY;
		x[i] = bf16_from_f32(v);
	}
}

/* The kernel's tile walk on the CPU: tile g, 16 threads x 8 columns. */
static void emulate_quant(uint8_t *q, float *scales, const float *x, int m, int k, int pow2,
			  int dg)
{
	int kbs = qc_blocks(k);

	for (long long g = 0; g < (long long)m * kbs; g++) {
		struct qc_tile tl = qc_tile_of(g, kbs);
		uint32_t key = 0;
		for (int sub = 0; sub < QC_LANES; sub++)
			for (int j = 0, c = qc_col0(tl.kb, sub); j < QC_VEC; j++)
				if (c + j < k)
					key = std::max(key, qc_abs_key(x[(size_t)tl.row * k + c + j]));
		float s = qc_scale_for_amax(cu_f32_from_bits(key), pow2);
		scales[qc_scale_index(tl.row, tl.kb, m, kbs, dg)] = s;
		for (int sub = 0; sub < QC_LANES; sub++)
			for (int j = 0, c = qc_col0(tl.kb, sub); j < QC_VEC; j++)
				if (c + j < k) {
					size_t o = (size_t)tl.row * k + c + j;
					bool ex = qc_exact_inverse(s);
					float inv = ex ? qc_inverse_pow2(s) : 1.0f;
					q[o] = fp8_e4m3_from_f32(qc_quotient(x[o], s, inv, ex), true);
				}
	}
	for (long long p = 0; dg && p < (long long)(qc_dg_ld(m) - m) * kbs; p++)
		scales[qc_dg_pad_index(p, m)] = 0.0f;
}

static void test_quant_tile_walk_matches_reference(struct lt *t)
{
	struct loom_rng r;
	const int shapes[][2] = { { 1, 1 }, { 3, 128 }, { 5, 200 }, { 7, 7168 }, { 2, 129 }, { 6, 1000 } };

	loom_rng_init(&r, lt_seed(t));
	for (const auto &sh : shapes) {
		int m = sh[0], k = sh[1], kbs = qc_blocks(k), ld = qc_dg_ld(m);
		size_t n = (size_t)m * k;
		std::vector<uint16_t> xb(n);
		std::vector<float> x(n), s_ref((size_t)m * kbs), s_dg_ref((size_t)kbs * ld);
		std::vector<uint8_t> q_ref(n), q(n, 0xa5);

		fill_bf16(&r, xb.data(), n, m % 2 == 1);
		for (size_t i = 0; i < n; i++)
			x[i] = qc_bf16_to_f32(xb[i]);
		for (int pow2 = 0; pow2 < 2; pow2++) {
			for (int dg = 0; dg < 2; dg++) {
				std::vector<float> s(dg ? (size_t)kbs * ld : (size_t)m * kbs, -7.0f);
				LT_CHECK(t, quant_act_1x128(q_ref.data(), s_ref.data(), x.data(), m, k,
							    pow2 ? QUANT_SCALE_POW2 : QUANT_SCALE_F32) == 0, "");
				LT_CHECK(t, quant_act_scales_to_dg(s_dg_ref.data(), s_ref.data(), m, k) == 0, "");
				emulate_quant(q.data(), s.data(), x.data(), m, k, pow2, dg);
				const std::vector<float> &want = dg ? s_dg_ref : s_ref;
				LT_CHECK(t, memcmp(s.data(), want.data(), 4 * want.size()) == 0,
					 "scales m=%d k=%d pow2=%d dg=%d", m, k, pow2, dg);
				LT_CHECK(t, memcmp(q.data(), q_ref.data(), n) == 0, "q m=%d k=%d pow2=%d", m,
					 k, pow2);
			}
		}
	}
}

/* Power-of-two scales: x * (1 / s) == x / s for every such s and x. */
static void test_quant_pow2_inverse_is_division(struct lt *t)
{
	struct loom_rng r;
	int bad = 0, n_pow2 = 0;

	loom_rng_init(&r, lt_seed(t));
	for (uint32_t e = 0; e < 256; e++) {
		float s = qc_ue8m0_to_f32(e);
		bool exact = qc_exact_inverse(s);
		n_pow2 += exact;
		LT_CHECK(t, exact == (e < 255), "e=%u", e);
		if (!exact)
			continue;
		LT_CHECK(t, (double)qc_inverse_pow2(s) * (double)s == 1.0, "e=%u", e);
		for (int i = 0; i < 20000 && bad < 10; i++) {
			float x = from_bits(loom_rng_u32(&r));
			float q = qc_quotient(x, s, qc_inverse_pow2(s), true), want = x / s;
			if (bits(q) != bits(want) && !(q != q && want != want) && ++bad)
				lt_fail(t, __FILE__, __LINE__, "x=%#010x s=2^%d", bits(x), (int)e - 127);
		}
	}
	LT_CHECK(t, n_pow2 == 255, "%d", n_pow2);
	const float not_pow2[] = { 3.0f, 1.5f, 0.0f, INFINITY, NAN, -2.0f, 1e-40f };
	for (float s : not_pow2)
		LT_CHECK(t, !qc_exact_inverse(s), "%g", (double)s);
}

/* Every (tile, thread, element) names a distinct in-range column. */
static void test_quant_columns_covered_once(struct lt *t)
{
	for (int k = 1; k <= 700; k += 13) {
		std::vector<int> hits(k, 0);
		for (int kb = 0; kb < qc_blocks(k); kb++)
			for (int sub = 0; sub < QC_LANES; sub++)
				for (int j = 0; j < QC_VEC; j++)
					if (qc_col0(kb, sub) + j < k)
						hits[qc_col0(kb, sub) + j]++;
		for (int c = 0; c < k; c++)
			LT_CHECK(t, hits[c] == 1, "k=%d col %d hit %d times", k, c, hits[c]);
	}
}

/* ---- router ---------------------------------------------------------------- */

static void test_router_expf_matches_glibc(struct lt *t)
{
	int bad = 0;
	/* 0x4202422f and 0xc27c65d9: the inputs where glibc's non-FMA form
	 * differs; the FMA form (ours) must match there too. */
	const uint32_t hard[] = { 0x4202422fu, 0xc27c65d9u, 0x42b17218u, 0x42b17217u, 0xc2cff1b4u,
				  0xc2cff1b5u, 0xc2ce8ed0u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
				  0, 0x80000000u, 1, 0x3f800000u };

	for (uint32_t u : hard) {
		float x = from_bits(u), got = moe_rt_expf(x), want = expf(x);
		LT_CHECK(t, bits(got) == bits(want) || (got != got && want != want),
			 "expf(%#010x): %#010x vs glibc %#010x", u, bits(got), bits(want));
	}
	for (uint64_t u = 0; u < (1ull << 32) && bad < 10; u += 251) {
		float x = from_bits((uint32_t)u), got = moe_rt_expf(x), want = expf(x);
		if (bits(got) != bits(want) && !(got != got && want != want) && ++bad)
			lt_fail(t, __FILE__, __LINE__, "expf(%#010x): %#010x vs glibc %#010x",
				(uint32_t)u, bits(got), bits(want));
	}
}

/* The kernel's warp arg-max: each lane scans its experts in order, then the
 * xor butterfly (offsets 16..1) combines with moe_rt_better. */
static int emulate_warp_best(const float *score, const unsigned char *taken, int e)
{
	float bv[32];
	int bi[32];

	for (int lane = 0; lane < 32; lane++) {
		bv[lane] = 0.0f, bi[lane] = -1;
		for (int i = lane; i < e; i += 32)
			if (moe_rt_better(score[i], taken[i] ? -1 : i, bv[lane], bi[lane]))
				bv[lane] = score[i], bi[lane] = i;
	}
	for (int off = 16; off > 0; off /= 2) {
		float nv[32];
		int ni[32];
		for (int lane = 0; lane < 32; lane++) {
			nv[lane] = bv[lane], ni[lane] = bi[lane];
			if (moe_rt_better(bv[lane ^ off], bi[lane ^ off], bv[lane], bi[lane]))
				nv[lane] = bv[lane ^ off], ni[lane] = bi[lane ^ off];
		}
		memcpy(bv, nv, sizeof(bv));
		memcpy(bi, ni, sizeof(bi));
	}
	for (int lane = 1; lane < 32; lane++)
		if (bi[lane] != bi[0])
			return -2;	/* lanes disagree: a broken reduction */
	return bi[0];
}

/* The two router kernels composed on the CPU for one token. */
static void emulate_router_token(const struct moe_router_config &c, const float *u,
				 const float *bias, int32_t *idx, float *w, float *aff)
{
	const int e = c.num_experts, g = c.num_groups, per = e / g;
	std::vector<float> score(e), gscore(g);
	std::vector<unsigned char> taken(e, 0), gtaken(g, 0);

	for (int i = 0; i < e; i++) {
		aff[i] = moe_rt_sigmoid(u[i]);
		score[i] = moe_rt_score(aff[i], bias ? bias[i] : 0.0f);
	}
	for (int j = 0; j < g; j++)
		gscore[j] = moe_rt_group_score(score.data(), taken.data(), j * per, (j + 1) * per,
					       c.group_score_topn);
	for (int r = 0; r < c.topk_groups; r++)
		gtaken[moe_rt_arg_best(gscore.data(), gtaken.data(), 0, g)] = 1;
	for (int i = 0; i < e; i++)
		taken[i] = !gtaken[i / per];
	for (int r = 0; r < c.top_k; r++) {
		idx[r] = emulate_warp_best(score.data(), taken.data(), e);
		if (idx[r] >= 0)
			taken[idx[r]] = 1;
	}
	moe_rt_weights(u, idx, c.top_k, c.routed_scaling_factor, w);
}

/* Logits with ties (a few distinct values), NaN, +-inf and large values. */
static void fill_logits(struct loom_rng *r, float *u, size_t n, int mode)
{
	for (size_t i = 0; i < n; i++) {
		double p = loom_rng_uniform(r);
		u[i] = mode == 0 ? (float)(loom_rng_normal(r) * 3.0)
				 : (float)((int)(loom_rng_u32(r) % 5) - 2) * 0.5f;
		if (mode == 2 && p < 0.05)
			u[i] = NAN;
		else if (mode == 2 && p < 0.08)
			u[i] = (loom_rng_u32(r) & 1) ? INFINITY : -INFINITY;
		else if (mode == 2 && p < 0.12)
			u[i] = (float)(-90.0 - 30.0 * loom_rng_uniform(r));
	}
}

static void test_router_emulated_matches_reference(struct lt *t)
{
	struct loom_rng r;
	const int cfgs[][6] = { { 256, 8, 4, 8, 2, 0 }, { 64, 1, 1, 6, 2, 0 }, { 16, 4, 2, 3, 1, 0 },
				{ 72, 8, 3, 8, 9, 0 }, { 33, 3, 3, 32, 11, 0 }, { 1, 1, 1, 1, 1, 0 } };
	const int tokens = 64;

	loom_rng_init(&r, lt_seed(t));
	for (const auto &cf : cfgs) {
		struct moe_router_config c = moe_router_config_default(cf[0], cf[1], cf[2], cf[3]);
		c.group_score_topn = cf[4];
		c.routed_scaling_factor = 2.5f;
		LT_CHECK(t, moe_router_config_check(&c) == 0, "cfg E=%d", cf[0]);
		const int e = c.num_experts, k = c.top_k;
		std::vector<float> u((size_t)tokens * e), bias(e), aff_ref(u.size()), w_ref(tokens * k);
		std::vector<float> aff(e), w(k);
		std::vector<int32_t> idx_ref(tokens * k), idx(k);
		for (int mode = 0; mode < 3; mode++) {
			fill_logits(&r, u.data(), u.size(), mode);
			for (int i = 0; i < e; i++)
				bias[i] = mode == 1 ? 0.0f : (float)(loom_rng_normal(&r) * 0.01);
			const float *b = mode == 1 ? NULL : bias.data();
			LT_CHECK(t, moe_router_forward(&c, tokens, u.data(), b, idx_ref.data(),
						       w_ref.data(), aff_ref.data()) == 0, "");
			for (int tk = 0; tk < tokens; tk++) {
				emulate_router_token(c, &u[(size_t)tk * e], b, idx.data(), w.data(),
						     aff.data());
				LT_CHECK(t, memcmp(aff.data(), &aff_ref[(size_t)tk * e], 4 * e) == 0,
					 "affinity E=%d mode %d token %d", e, mode, tk);
				LT_CHECK(t, memcmp(idx.data(), &idx_ref[(size_t)tk * k], 4 * k) == 0,
					 "topk_idx E=%d mode %d token %d: first %d vs %d", e, mode, tk,
					 idx[0], idx_ref[(size_t)tk * k]);
				LT_CHECK(t, memcmp(w.data(), &w_ref[(size_t)tk * k], 4 * k) == 0,
					 "weights E=%d mode %d token %d", e, mode, tk);
			}
		}
	}
}

/* ---- permutation ----------------------------------------------------------- */

/* The plan kernels on the CPU: counts, offsets, then per expert the chunked
 * ballot ranks of k_plan_fill. */
static void emulate_plan(const int32_t *idx, int n_src, int e, int align, std::vector<int32_t> &off,
			 std::vector<int32_t> &src_of_row, std::vector<int32_t> &row_of_src,
			 std::vector<int32_t> &expert_of_row)
{
	std::vector<int32_t> count(e, 0);
	int64_t rows = 0;

	for (int i = 0; i < n_src; i++)
		if (idx[i] >= 0)
			count[idx[i]]++;
		else
			row_of_src[i] = -1;
	off.assign(e + 1, 0);
	for (int x = 0; x < e; x++) {
		off[x] = (int32_t)rows;
		rows += pm_padded(count[x], align);
	}
	off[e] = (int32_t)rows;
	src_of_row.assign(rows, -7);
	expert_of_row.assign(rows, -7);
	for (int x = 0; x < e; x++) {
		for (int32_t r = off[x]; r < off[x + 1]; r++) {
			expert_of_row[r] = r < off[x] + count[x] ? x : -1;
			if (r >= off[x] + count[x])
				src_of_row[r] = -1;
		}
		int32_t done = 0;
		for (int base = 0; base < n_src && done < count[x]; base += PM_BLOCK) {
			uint32_t ballots[PM_BLOCK / 32] = { 0 };
			for (int tid = 0; tid < PM_BLOCK; tid++)
				if (base + tid < n_src && idx[base + tid] == x)
					ballots[tid / 32] |= 1u << (tid % 32);
			for (int tid = 0; tid < PM_BLOCK; tid++) {
				if (!(ballots[tid / 32] >> (tid % 32) & 1))
					continue;
				int32_t r = off[x] + done + pm_chunk_rank(ballots, tid);
				row_of_src[base + tid] = r;
				src_of_row[r] = base + tid;
			}
			done += pm_chunk_rank(ballots, PM_BLOCK - 1) + (int)(ballots[PM_BLOCK / 32 - 1] >> 31);
		}
	}
}

static void test_permute_plan_emulated_matches_reference(struct lt *t)
{
	struct loom_rng r;
	const int cases[][4] = { { 100, 8, 16, 1 }, { 700, 6, 64, 128 }, { 37, 3, 5, 3 },
				 { 1, 1, 1, 1 }, { 300, 4, 2, 7 } };

	loom_rng_init(&r, lt_seed(t));
	for (const auto &cs : cases) {
		int tk = cs[0], k = cs[1], e = cs[2], align = cs[3], n = tk * k;
		std::vector<int32_t> idx(n);
		for (int i = 0; i < n; i++)	/* skewed, with unused slots */
			idx[i] = loom_rng_uniform(&r) < 0.1 ? -1
				 : (int32_t)(loom_rng_u32(&r) % (uint32_t)(loom_rng_u32(&r) % 2 ? e : (e + 1) / 2));
		struct moe_permute_plan *p = moe_permute_plan_create(tk, k, e, idx.data(), align);
		LT_CHECK(t, p != NULL, "plan");
		if (!p)
			continue;
		std::vector<int32_t> off, sor, ros(n, -7), eor;
		emulate_plan(idx.data(), n, e, align, off, sor, ros, eor);
		LT_CHECK(t, (int)sor.size() == p->num_rows, "rows %zu vs %d", sor.size(), p->num_rows);
		LT_CHECK(t, p->num_rows <= pm_max_rows(tk, k, e, align), "bound");
		if ((int)sor.size() != p->num_rows)
			continue;
		LT_CHECK(t, memcmp(off.data(), p->expert_offset, 4 * (e + 1)) == 0, "offsets");
		LT_CHECK(t, memcmp(sor.data(), p->src_of_row, 4 * sor.size()) == 0, "src_of_row");
		LT_CHECK(t, memcmp(eor.data(), p->expert_of_row, 4 * eor.size()) == 0, "expert_of_row");
		LT_CHECK(t, memcmp(ros.data(), p->row_of_src, 4 * (size_t)n) == 0, "row_of_src");
		moe_permute_plan_destroy(p);
	}
}

static void test_permute_copy_unit(struct lt *t)
{
	for (size_t rb = 1; rb <= 64; rb++)
		for (uintptr_t a = 0; a < 32; a++)
			for (uintptr_t b = 0; b < 32; b += 3) {
				int u = pm_copy_unit(rb, 4096 + a, 8192 + b), best = 1;
				for (int c = 2; c <= 16; c *= 2)
					if (rb % c == 0 && a % c == 0 && b % c == 0)
						best = c;
				LT_CHECK(t, u == best, "rb=%zu a=%zu b=%zu: %d vs %d", rb, (size_t)a,
					 (size_t)b, u, best);
			}
	for (int lane = 0; lane < 32; lane++)
		LT_CHECK(t, pm_lanes_below(lane) == (uint32_t)((1ull << lane) - 1), "lane %d", lane);
}

/* ---- LogFMT ---------------------------------------------------------------- */

static void test_logfmt_exp2_every_fraction(struct lt *t)
{
	struct loom_rng r;
	const int ints[] = { 0, -1, -127, -140, 127 };
	int bad = 0;

	for (int i : ints)
		for (int64_t f = 0; f < LF_FX_ONE && bad < 10; f++) {
			int64_t e = (int64_t)i * LF_FX_ONE + f;
			if (bits(lf_exp2_fx(e)) != bits(logfmt_exp2_fx(e)) && ++bad)
				lt_fail(t, __FILE__, __LINE__, "e=%lld", (long long)e);
		}
	loom_rng_init(&r, lt_seed(t));
	for (int n = 0; n < 1000000 && bad < 10; n++) {
		int64_t e = (int64_t)(loom_rng_u64(&r) % (1ull << 34)) - ((int64_t)1 << 33);
		if (bits(lf_exp2_fx(e)) != bits(logfmt_exp2_fx(e)) && ++bad)
			lt_fail(t, __FILE__, __LINE__, "e=%lld", (long long)e);
	}
}

/* The ROM words: round(2^(x / 2^s) 2^31), from exp2l (64-bit mantissa; no
 * entry lies within 2^-20 of a tie, far above exp2l's error). */
static void test_logfmt_roms_vs_exp2l(struct lt *t)
{
	const uint32_t *roms[] = { lf_t0_host, lf_t1_host, lf_t2_host };
	const int shift[] = { 8, 16, 24 };

	for (int r = 0; r < 3; r++)
		for (int x = 0; x < 256; x++) {
			long double v = exp2l((long double)x / ldexpl(1.0L, shift[r])) * ldexpl(1.0L, 31);
			LT_CHECK(t, roms[r][x] == (uint32_t)llroundl(v), "rom %d [%d]", r, x);
		}
}

/* Random valid headers of all shapes: equal ends, tiny spans, m(1) that
 * underflows to 0, clamped spans, the edges of the range. */
static void random_header(struct loom_rng *r, float *lmin, float *lmax)
{
	double p = loom_rng_uniform(r);
	*lmax = (float)(loom_rng_uniform(r) * 300.0 - 150.0);
	*lmin = p < 0.1 ? *lmax : p < 0.2 ? nextafterf(*lmax, -1e9f)
			 : (float)(*lmax - loom_rng_uniform(r) * (p < 0.9 ? 32.0 : 0.01));
	if (p > 0.95)
		*lmin = -150.0f, *lmax = -120.0f;
	if (*lmin < -192.0f)
		*lmin = -192.0f;
}

static void test_logfmt_codes_match_reference(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int nbits = 8; nbits <= 16; nbits++) {
		for (int h = 0; h < 40; h++) {
			struct logfmt_header hd;
			random_header(&r, &hd.log2_min, &hd.log2_max);
			struct lf_codebook c = lf_codebook_init(hd.log2_min, hd.log2_max, nbits);
			uint32_t ncodes = 1u << nbits;
			for (uint32_t n = 0; n < 300; n++) {	/* decode: codes */
				uint32_t code = nbits <= 10 && n < ncodes ? n : loom_rng_u32(&r) % ncodes;
				float want = logfmt_code_to_f32(&hd, nbits, code);
				LT_CHECK(t, bits(lf_decode_one(c, code, nbits)) == bits(want),
					 "decode n=%d code %u", nbits, code);
			}
			for (int n = 0; n < 300; n++) {	/* encode: midpoints, neighbours, random */
				uint32_t k = loom_rng_u32(&r) % c.top;
				double mid = ((double)lf_mag(c, k) + lf_mag(c, k + 1)) / 2;
				float x = (float)mid;
				int kind = n % 4;
				if (kind == 1)
					x = nextafterf(x, 0.0f);
				else if (kind == 2)
					x = (float)(exp2((double)hd.log2_min - 2 + loom_rng_uniform(&r) *
							 ((double)hd.log2_max - hd.log2_min + 4)));
				else if (kind == 3)
					x = n % 8 == 3 ? -0.0f : 0.0f;
				if (!std::isfinite(x))	/* m saturated at FLT_MAX */
					x = FLT_MAX;
				if (loom_rng_u32(&r) & 1)
					x = -x;
				int want = logfmt_code_from_f32(&hd, nbits, x);
				LT_CHECK(t, (int)lf_encode_one(c, x, nbits) == want,
					 "encode n=%d x=%a: %u vs %d", nbits, (double)x,
					 lf_encode_one(c, x, nbits), want);
			}
		}
	}
}

static void test_logfmt_pack_unpack(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int nbits = 8; nbits <= 16; nbits++) {
		for (int len = 1; len <= LF_TILE; len += 9) {
			uint16_t codes[LF_TILE] = { 0 }, back[LF_TILE];
			uint8_t want[16 * 16] = { 0 }, got[16 * 16];
			for (int i = 0; i < len; i++)
				codes[i] = (uint16_t)(loom_rng_u32(&r) & ((1u << nbits) - 1));
			logfmt_codes_pack(want, codes, LF_TILE, nbits);
			for (int b = 0; b < 16 * nbits; b++)
				got[b] = lf_pack_byte(codes, b, nbits);
			LT_CHECK(t, memcmp(got, want, 16 * nbits) == 0, "pack n=%d len=%d", nbits, len);
			logfmt_codes_unpack(back, want, LF_TILE, nbits);
			for (int i = 0; i < LF_TILE; i++)
				LT_CHECK(t, lf_unpack_code(want, i, nbits) == back[i], "unpack n=%d i=%d",
					 nbits, i);
		}
	}
}

/* One tile as the encode kernel builds it, against logfmt_tile_encode. */
static void test_logfmt_tile_encode_emulated(struct lt *t)
{
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (int n = 0; n < 400; n++) {
		int nbits = 8 + n % 9, len = n % 5 == 0 ? 1 + (int)(loom_rng_u32(&r) % LF_TILE) : LF_TILE;
		float x[LF_TILE], amax = 0.0f, amin = INFINITY, lmin, lmax;
		uint16_t codes[LF_TILE] = { 0 };
		uint8_t want[8 + 16 * 16], got[8 + 16 * 16];
		double span = n % 3 == 0 ? 80.0 : 6.0;
		for (int i = 0; i < len; i++) {
			x[i] = (float)(loom_rng_normal(&r) * exp2(loom_rng_uniform(&r) * span - span / 2));
			x[i] = n % 7 == 0 || loom_rng_uniform(&r) < 0.05 ? 0.0f * x[i] : x[i];
			amax = fmaxf(amax, fabsf(x[i]));
			amin = x[i] != 0.0f ? fminf(amin, fabsf(x[i])) : amin;
		}
		LT_CHECK(t, logfmt_tile_encode(want, x, len, nbits) == 0, "");
		lf_header(amax, amin, &lmin, &lmax);
		struct lf_codebook c = lf_codebook_init(lmin, lmax, nbits);
		for (int i = 0; i < len; i++)
			codes[i] = (uint16_t)lf_encode_one(c, x[i], nbits);
		for (int b = 0; b < 4; b++) {
			got[b] = (uint8_t)(cu_f32_bits(lmin) >> (8 * b));
			got[4 + b] = (uint8_t)(cu_f32_bits(lmax) >> (8 * b));
		}
		for (int b = 0; b < 16 * nbits; b++)
			got[8 + b] = lf_pack_byte(codes, b, nbits);
		LT_CHECK(t, memcmp(got, want, 8 + 16 * nbits) == 0, "tile %d n=%d len=%d", n, nbits,
			 len);
		uint8_t nan_hdr[8];	/* the decoder's header check */
		struct logfmt_header hd = { lmin, lmax };
		logfmt_header_store(nan_hdr, &hd);
		LT_CHECK(t, lf_header_valid(lmin, lmax) == logfmt_header_valid(&hd), "valid");
	}
	const float bad[][2] = { { NAN, 0 }, { 1, 0 }, { -193, 0 }, { 0, 193 }, { 0, INFINITY } };
	for (const auto &b : bad) {
		struct logfmt_header hd = { b[0], b[1] };
		LT_CHECK(t, lf_header_valid(b[0], b[1]) == logfmt_header_valid(&hd), "%g %g",
			 (double)b[0], (double)b[1]);
	}
}

static const struct lt_case cases[] = {
	LT_CASE(test_quant_scale_matches_reference),
	LT_CASE(test_quant_ue8m0_matches_fp8),
	LT_CASE(test_quant_tile_walk_matches_reference),
	LT_CASE(test_quant_columns_covered_once),
	LT_CASE(test_quant_pow2_inverse_is_division),
	LT_CASE(test_router_expf_matches_glibc),
	LT_CASE(test_router_emulated_matches_reference),
	LT_CASE(test_permute_plan_emulated_matches_reference),
	LT_CASE(test_permute_copy_unit),
	LT_CASE(test_logfmt_exp2_every_fraction),
	LT_CASE(test_logfmt_roms_vs_exp2l),
	LT_CASE(test_logfmt_codes_match_reference),
	LT_CASE(test_logfmt_pack_unpack),
	LT_CASE(test_logfmt_tile_encode_emulated),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

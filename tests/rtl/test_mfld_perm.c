/*
 * test_mfld_perm.c - the logic die's GATHER / SCATTER engine against
 * kernels/permute.c (moe_permute / moe_unpermute), byte for byte, through
 * rtl_mfld_perm_run.
 *
 * Each round draws a routing (T tokens, top-k, E experts, segment
 * alignment, unused slots), builds kernels' plan and random rows, and runs
 * three units: permute as a GATHER (idx = src_of_row / k), permute as a
 * SCATTER (rows = each token k times, idx = row_of_src) and unpermute as a
 * GATHER (idx = row_of_src).  Tolerance: none (bytes equal; rows are
 * opaque bytes).  Then indices out of range and sizes that do not fit.
 */
#include "loom/err.h"
#include "loom/moe.h"
#include "loom/rng.h"
#include "loom/rtl_mfld.h"
#include "lt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 3400 /* x 3 units: > 10^4 */

struct routing {
	int t, k, e, align;
	size_t row_bytes;
	int32_t topk[32];
	struct moe_permute_plan *plan;
};

/* A routing whose rows fit the buffers of all three units (NULL on failure). */
static struct moe_permute_plan *draw_routing(struct loom_rng *r, struct routing *g)
{
	g->t = 1 + (int)(loom_rng_u32(r) % 8);
	g->k = 1 + (int)(loom_rng_u32(r) % 4);
	g->e = 1 + (int)(loom_rng_u32(r) % 8);
	g->align = 1 << (loom_rng_u32(r) % 3);
	for (int i = 0; i < g->t * g->k; i++)
		g->topk[i] = loom_rng_u32(r) % 8 == 0 ? -1 : (int32_t)(loom_rng_u32(r) % (uint32_t)g->e);
	g->plan = moe_permute_plan_create(g->t, g->k, g->e, g->topk, g->align);
	if (!g->plan)
		return NULL;
	/* the largest side: num_rows (<= T k + E (align - 1) = 60) or T k */
	int rows = g->plan->num_rows > g->t * g->k ? g->plan->num_rows : g->t * g->k;
	int max_words = RTL_MFLD_OB_BYTES / 4 / (rows ? rows : 1);
	if (max_words > 16)
		max_words = 16;
	g->row_bytes = 4 * (size_t)(1 + loom_rng_u32(r) % (uint32_t)max_words);
	return g->plan;
}

static struct rtl_mfld *open_model(struct lt *t)
{
	struct rtl_mfld *m = rtl_mfld_create(NULL);

	LT_CHECK(t, m != NULL, "rtl_mfld_create: %s", loom_err_msg());
	return m;
}

/* One unit: the RTL's output against want (out_rows rows). */
static int check_unit(struct lt *t, struct rtl_mfld *m, const char *what, int round, int scatter,
		      int n, const int32_t *idx, size_t rb, int nrows, const uint8_t *rows,
		      const uint8_t *want, size_t out_bytes)
{
	uint8_t got[RTL_MFLD_OB_BYTES];

	memset(got, 0xa5, sizeof(got));
	int rc = rtl_mfld_perm_run(m, scatter, n, idx, rb, nrows, rows, got, NULL);
	if (rc) {
		lt_fail(t, __FILE__, __LINE__, "round %d %s: %s", round, what, loom_err_msg());
		return 1;
	}
	for (size_t b = 0; b < out_bytes; b++)
		if (got[b] != want[b]) {
			lt_fail(t, __FILE__, __LINE__, "round %d %s (n=%d nrows=%d row %zu B): byte "
				"%zu %02x want %02x", round, what, n, nrows, rb, b, got[b], want[b]);
			return 1;
		}
	return 0;
}

static void test_permute_unpermute_random(struct lt *t)
{
	struct loom_rng r;
	struct rtl_mfld *m = open_model(t);
	static uint8_t x[8 * 64], xk[32 * 64], want[RTL_MFLD_OB_BYTES], y[RTL_MFLD_OB_BYTES];
	int32_t idx[64];
	long bad = 0, units = 0;

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; u < ROUNDS && bad < 10; u++) {
		struct routing g;
		if (!draw_routing(&r, &g)) {
			lt_fail(t, __FILE__, __LINE__, "plan: %s", loom_err_msg());
			break;
		}
		struct moe_permute_plan *p = g.plan;
		size_t rb = g.row_bytes;
		int tk = g.t * g.k;
		for (size_t b = 0; b < (size_t)g.t * rb; b++)
			x[b] = (uint8_t)loom_rng_u32(&r);
		LT_CHECK(t, moe_permute(p, x, rb, want) == 0, "moe_permute: %s", loom_err_msg());
		if (p->num_rows > 0) {
			/* permute as a GATHER: out row r = x row src_of_row[r] / k */
			for (int i = 0; i < p->num_rows; i++)
				idx[i] = p->src_of_row[i] < 0 ? -1 : p->src_of_row[i] / g.k;
			bad += check_unit(t, m, "permute-gather", u, 0, p->num_rows, idx, rb, g.t, x,
					  want, (size_t)p->num_rows * rb);
			/* permute as a SCATTER of each token's row repeated k times */
			for (int i = 0; i < tk; i++)
				memcpy(xk + (size_t)i * rb, x + (size_t)(i / g.k) * rb, rb);
			bad += check_unit(t, m, "permute-scatter", u, 1, tk, p->row_of_src, rb,
					  p->num_rows, xk, want, (size_t)p->num_rows * rb);
			units += 2;
			/* unpermute the permuted rows (now in want) as a GATHER */
			memcpy(y, want, (size_t)p->num_rows * rb);
			LT_CHECK(t, moe_unpermute(p, y, rb, want) == 0, "moe_unpermute: %s",
				 loom_err_msg());
			bad += check_unit(t, m, "unpermute-gather", u, 0, tk, p->row_of_src, rb,
					  p->num_rows, y, want, (size_t)tk * rb);
			units++;
		}
		moe_permute_plan_destroy(p);
	}
	LT_CHECK(t, bad == 0, "%ld units differ", bad);
	LT_CHECK(t, bad || units >= 10000, "only %ld units ran", units);
	rtl_mfld_destroy(m);
}

/* A hand-made case: the bytes are known without kernels/. */
static void test_gather_by_hand(struct lt *t)
{
	struct rtl_mfld *m = open_model(t);
	const int32_t idx[4] = { 2, -1, 0, 2 };
	const uint32_t rows[3] = { 0x11111111u, 0x22222222u, 0x33333333u };
	const uint32_t want_g[4] = { 0x33333333u, 0, 0x11111111u, 0x33333333u };
	const int32_t sidx[3] = { 2, -1, 0 };
	const uint32_t want_s[4] = { 0x33333333u, 0, 0x11111111u, 0 };
	uint32_t got[4];
	uint64_t cyc = 0;

	if (!m)
		return;
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 4, 3, rows, got, &cyc) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, !memcmp(got, want_g, sizeof(got)), "gather %08x %08x %08x %08x", got[0], got[1],
		 got[2], got[3]);
	/* one cycle per index read and one per word moved */
	LT_CHECK(t, cyc == 8, "gather took %llu cycles, want 8", (unsigned long long)cyc);
	LT_CHECK(t, rtl_mfld_perm_run(m, 1, 3, sidx, 4, 4, rows, got, NULL) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, !memcmp(got, want_s, sizeof(got)), "scatter %08x %08x %08x %08x", got[0],
		 got[1], got[2], got[3]);
	rtl_mfld_destroy(m);
}

static void test_bad_indices_and_sizes(struct lt *t)
{
	struct rtl_mfld *m = open_model(t);
	static uint8_t rows[RTL_MFLD_IB_BYTES], out[RTL_MFLD_OB_BYTES];
	int32_t idx[4] = { 0, 1, 3, 0 }; /* 3 is out of range for nrows = 3 */
	struct rtl_mfld_counters c;

	if (!m)
		return;
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 4, 3, rows, out, NULL) == -EIO,
		 "gather index = nrows accepted");
	LT_CHECK(t, rtl_mfld_perm_run(m, 1, 4, idx, 4, 3, rows, out, NULL) == -EIO,
		 "scatter index = nrows accepted");
	idx[2] = -2;
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 4, 3, rows, out, NULL) == -EIO,
		 "index -2 accepted");
	LT_CHECK(t, rtl_mfld_counters(m, &c) == 0 && c.units_failed == 3, "units_failed %llu",
		 (unsigned long long)c.units_failed);
	idx[2] = 2;
	LT_CHECK(t, rtl_mfld_perm_run(NULL, 0, 4, idx, 4, 3, rows, out, NULL) == -EINVAL, "NULL");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, NULL, 4, 3, rows, out, NULL) == -EINVAL, "NULL idx");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 0, idx, 4, 3, rows, out, NULL) == -EINVAL, "n 0");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 129, idx, 4, 3, rows, out, NULL) == -EINVAL, "n 129");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 6, 3, rows, out, NULL) == -EINVAL,
		 "row_bytes 6");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 0, 3, rows, out, NULL) == -EINVAL,
		 "row_bytes 0");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 512, 3, rows, out, NULL) == -EINVAL,
		 "4 x 512 B out");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 1, idx, 1024, 8, rows, out, NULL) == -EINVAL,
		 "8 KiB of input rows");
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 4, 256, rows, out, NULL) == -EINVAL,
		 "nrows 256");
	LT_CHECK(t, rtl_mfld_engine_run(m, RTL_MFLD_ENG_GATHER, 0, 4, 0, rows, 16, out, 16, NULL) ==
		 -EINVAL, "GATHER through rtl_mfld_engine_run");
	/* the engine still serves */
	uint32_t src[3] = { 7, 8, 9 }, got[4];
	LT_CHECK(t, rtl_mfld_perm_run(m, 0, 4, idx, 4, 3, src, got, NULL) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, got[0] == 7 && got[1] == 8 && got[2] == 9 && got[3] == 7, "after errors");
	rtl_mfld_destroy(m);
}

static const struct lt_case cases[] = {
	LT_CASE(test_gather_by_hand),
	LT_CASE(test_permute_unpermute_random),
	LT_CASE(test_bad_indices_and_sizes),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

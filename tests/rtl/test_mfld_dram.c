/*
 * test_mfld_dram.c - the logic die's DRAM timing model (mfld_dram*.sv)
 * through rtl_mfld_dram_*: data kept, latencies cycle-exact against the
 * timing formulas, streaming bandwidth against the analytic peak, refresh
 * in the timeline.
 *
 * References are independent of the RTL: a C shadow copy of the memory for
 * the data, the header's formulas evaluated from the timings for the
 * latencies (exact, no tolerance), and the peak
 *   channels * 32 B / tBurst * (1 - tRFC / tREFI)  bytes per cycle
 * for bandwidth (within 5%, the bound: the stream also pays a
 * precharge and activate per row and the ramp after each refresh).
 */
#include "loom/err.h"
#include "loom/rng.h"
#include "loom/rtl_mfld.h"
#include "lt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BURST RTL_MFLD_DRAM_BURST_BYTES

/* byte address of (channel, bank, column, row) under the header's map */
static uint64_t dram_addr(unsigned ch, unsigned bank, unsigned col, unsigned row)
{
	uint64_t b = ch | bank << 1 | col << 5 | (uint64_t)row << 10;
	return b * BURST;
}

static struct rtl_mfld *open_model(struct lt *t, enum rtl_mfld_flavour fl)
{
	struct rtl_mfld_params p = { .flavour = fl, .trace_path = NULL };
	struct rtl_mfld *m = rtl_mfld_create(&p);

	LT_CHECK(t, m != NULL, "rtl_mfld_create: %s", loom_err_msg());
	return m;
}

/* Random writes, then reads of every written burst: the bytes of a C copy. */
static void test_data_kept(struct lt *t)
{
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	const size_t nb = RTL_MFLD_DRAM_BYTES / BURST, n = 4096;
	uint8_t *shadow = calloc(RTL_MFLD_DRAM_BYTES, 1);
	struct rtl_mfld_dram_op *ops = calloc(n, sizeof(*ops));
	struct loom_rng r;
	long bad = 0;

	if (!m || !shadow || !ops)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	/* reads of never-written DRAM are left out: their contents are undefined */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++) {
			ops[i].addr = (loom_rng_u64(&r) % nb) * BURST;
			ops[i].write = 1;
			for (int b = 0; b < BURST; b++)
				ops[i].data[b] = (uint8_t)loom_rng_u32(&r);
		}
		LT_CHECK(t, rtl_mfld_dram_run(m, ops, n) == 0, "writes: %s", loom_err_msg());
		for (size_t i = 0; i < n; i++) /* in issue order: a later write to a burst wins */
			memcpy(shadow + ops[i].addr, ops[i].data, BURST);
		for (size_t i = 0; i < n; i++) {
			ops[i].write = 0;
			memset(ops[i].data, 0, BURST);
		}
		LT_CHECK(t, rtl_mfld_dram_run(m, ops, n) == 0, "reads: %s", loom_err_msg());
		for (size_t i = 0; i < n && bad < 10; i++)
			if (memcmp(ops[i].data, shadow + ops[i].addr, BURST)) {
				bad++;
				lt_fail(t, __FILE__, __LINE__, "pass %d: burst at 0x%llx differs", pass,
					(unsigned long long)ops[i].addr);
			}
	}
out:
	free(ops);
	free(shadow);
	rtl_mfld_destroy(m);
}

/* One op alone; its latency (t_resp - t_req). */
static uint64_t lat1(struct lt *t, struct rtl_mfld *m, uint64_t addr)
{
	struct rtl_mfld_dram_op op = { .addr = addr };

	LT_CHECK(t, rtl_mfld_dram_run(m, &op, 1) == 0, "%s", loom_err_msg());
	LT_CHECK(t, rtl_mfld_step(m, 300) == 0, "step"); /* every wait (tRAS, ...) over */
	return op.t_resp - op.t_req;
}

static void check_latencies(struct lt *t, struct rtl_mfld *m, const struct rtl_mfld_dram_timing *tm)
{
	unsigned rcd = tm->t_rcd, cl = tm->t_cl, rp = tm->t_rp, ras = tm->t_ras;

	LT_CHECK(t, rtl_mfld_dram_set_timing(m, tm) == 0, "%s", loom_err_msg());
	LT_CHECK(t, rtl_mfld_reset(m) == 0, "reset"); /* every bank closed */
	for (unsigned ch = 0; ch < 2; ch++) {
		uint64_t closed = lat1(t, m, dram_addr(ch, 5, 0, 3));
		uint64_t hit = lat1(t, m, dram_addr(ch, 5, 7, 3));
		uint64_t miss = lat1(t, m, dram_addr(ch, 5, 7, 4));
		LT_CHECK(t, closed == rcd + cl + 1, "ch %u closed bank: %llu, want tRCD+tCL+1 = %u",
			 ch, (unsigned long long)closed, rcd + cl + 1);
		LT_CHECK(t, hit == cl + 1, "ch %u row hit: %llu, want tCL+1 = %u", ch,
			 (unsigned long long)hit, cl + 1);
		LT_CHECK(t, miss == rp + rcd + cl + 1, "ch %u row miss: %llu, want tRP+tRCD+tCL+1 = %u",
			 ch, (unsigned long long)miss, rp + rcd + cl + 1);
		LT_CHECK(t, miss - hit == rp + rcd, "ch %u: a miss costs %llu more than a hit, want "
			 "tRP+tRCD = %u", ch, (unsigned long long)(miss - hit), rp + rcd);
	}
	/* a miss right behind the activate of its bank waits for tRAS first */
	struct rtl_mfld_dram_op two[2] = { { .addr = dram_addr(0, 9, 0, 1) },
					   { .addr = dram_addr(0, 9, 0, 2) } };
	LT_CHECK(t, rtl_mfld_dram_run(m, two, 2) == 0, "%s", loom_err_msg());
	unsigned want = (ras > rcd ? ras : rcd + 1) + rp + rcd + cl + 1;
	LT_CHECK(t, two[1].t_resp - two[0].t_req == want, "ACT then miss: %llu, want "
		 "tRAS+tRP+tRCD+tCL+1 = %u", (unsigned long long)(two[1].t_resp - two[0].t_req),
		 want);
}

static void test_latency_exact(struct lt *t)
{
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	struct rtl_mfld_dram_timing def = RTL_MFLD_DRAM_TIMING_DEFAULT;
	struct rtl_mfld_dram_timing odd = { 5, 11, 7, 40, 3, 100, 5000, 0 };

	if (!m)
		return;
	def.refresh = 0; /* a refresh would add its tRFC to some op */
	check_latencies(t, m, &def);
	check_latencies(t, m, &odd);
	rtl_mfld_destroy(m);
}

/* A sequential read stream of n bursts from 0 (wrapping): bytes per cycle. */
static double stream(struct lt *t, struct rtl_mfld *m, size_t n, struct rtl_mfld_dram_op *ops)
{
	for (size_t i = 0; i < n; i++) {
		ops[i].addr = (i * BURST) % RTL_MFLD_DRAM_BYTES;
		ops[i].write = 0;
	}
	if (rtl_mfld_dram_run(m, ops, n)) {
		lt_fail(t, __FILE__, __LINE__, "stream: %s", loom_err_msg());
		return 0;
	}
	uint64_t last = 0;
	for (size_t i = 0; i < n; i++)
		last = ops[i].t_resp > last ? ops[i].t_resp : last;
	return (double)n * BURST / (double)(last + 1 - ops[0].t_req);
}

static void test_stream_bandwidth(struct lt *t)
{
	const size_t n = 1 << 16; /* 2 MiB, about 11 refresh intervals */
	struct rtl_mfld_dram_op *ops = calloc(n, sizeof(*ops));
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	struct rtl_mfld_dram_timing tm = RTL_MFLD_DRAM_TIMING_DEFAULT;

	if (!m || !ops)
		goto out;
	double raw = 2.0 * BURST / tm.t_burst;
	double peak = raw * (1.0 - (double)tm.t_rfc / tm.t_refi);
	double bw = stream(t, m, n, ops);
	printf("  stream, refresh on:  %.2f B/cycle = %.1f%% of the analytic peak %.2f "
	       "(%.1f%% of the raw %.0f)\n", bw, 100 * bw / peak, peak, 100 * bw / raw, raw);
	LT_CHECK(t, bw >= 0.95 * peak && bw <= peak * 1.0001, "%.3f B/cycle, peak %.3f", bw, peak);
	tm.refresh = 0;
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, &tm) == 0, "%s", loom_err_msg());
	bw = stream(t, m, n, ops);
	printf("  stream, refresh off: %.2f B/cycle = %.1f%% of the raw peak %.0f\n", bw,
	       100 * bw / raw, raw);
	LT_CHECK(t, bw >= 0.95 * raw && bw <= raw * 1.0001, "%.3f B/cycle, peak %.3f", bw, raw);
out:
	free(ops);
	rtl_mfld_destroy(m);
}

static void test_refresh_timeline(struct lt *t)
{
	const size_t n = 1 << 14;
	struct rtl_mfld_dram_op *ops = calloc(n, sizeof(*ops));
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	struct rtl_mfld_dram_timing tm = RTL_MFLD_DRAM_TIMING_DEFAULT;
	struct rtl_mfld_counters c0, c1;
	uint64_t log[64];

	if (!m || !ops)
		goto out;
	/* idle: every tREFI exactly one REF per channel, nothing delays it */
	LT_CHECK(t, rtl_mfld_counters(m, &c0) == 0, "counters");
	LT_CHECK(t, rtl_mfld_step(m, 5 * (uint64_t)tm.t_refi + 10) == 0, "step");
	LT_CHECK(t, rtl_mfld_counters(m, &c1) == 0, "counters");
	LT_CHECK(t, c1.dram_ref - c0.dram_ref == 5 * RTL_MFLD_DRAM_CHANNELS, "%llu REFs in 5 tREFI",
		 (unsigned long long)(c1.dram_ref - c0.dram_ref));
	size_t k = rtl_mfld_dram_refresh_log(m, log, 64);
	LT_CHECK(t, k == 5, "%zu REFs logged", k);
	for (size_t i = 1; i < k; i++)
		LT_CHECK(t, log[i] - log[i - 1] == tm.t_refi, "REF %zu after %llu cycles, want %u", i,
			 (unsigned long long)(log[i] - log[i - 1]), tm.t_refi);
	/* streaming: each REF opens a gap of at least tRFC in the answers */
	LT_CHECK(t, rtl_mfld_reset(m) == 0, "reset");
	stream(t, m, n, ops);
	k = rtl_mfld_dram_refresh_log(m, log, 64);
	LT_CHECK(t, k >= 2, "%zu REFs during the stream", k);
	for (size_t i = 0; i < k; i++) {
		uint64_t before = 0, after = UINT64_MAX;
		for (size_t j = 0; j < n; j++) {
			if (ops[j].t_resp <= log[i] && ops[j].t_resp > before)
				before = ops[j].t_resp;
			if (ops[j].t_resp > log[i] && ops[j].t_resp < after)
				after = ops[j].t_resp;
		}
		if (after == UINT64_MAX)
			continue; /* the stream ended during this REF */
		/* reopen needs tRFC + tRCD, the data tCL more */
		LT_CHECK(t, after - log[i] == tm.t_rfc + tm.t_rcd + tm.t_cl, "REF at %llu: next answer "
			 "%llu later, want tRFC+tRCD+tCL = %u", (unsigned long long)log[i],
			 (unsigned long long)(after - log[i]), tm.t_rfc + tm.t_rcd + tm.t_cl);
		LT_CHECK(t, after - before > tm.t_rfc, "gap %llu around REF %zu",
			 (unsigned long long)(after - before), i);
	}
out:
	free(ops);
	rtl_mfld_destroy(m);
}

/* Fast and checked flavours, two instances: the same cycles and bytes. */
static void test_flavours_agree(struct lt *t)
{
	const size_t n = 3000;
	struct rtl_mfld_dram_op *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b));
	struct rtl_mfld *ma = open_model(t, RTL_MFLD_CHECKED), *mb = open_model(t, RTL_MFLD_FAST);
	struct loom_rng r;

	if (!a || !b || !ma || !mb)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	for (size_t i = 0; i < n; i++) {
		a[i].addr = (loom_rng_u64(&r) % 2048) * BURST; /* 64 KiB: hits and misses */
		a[i].write = i < n / 2;
		for (int j = 0; j < BURST; j++)
			a[i].data[j] = (uint8_t)loom_rng_u32(&r);
	}
	memcpy(b, a, n * sizeof(*a));
	LT_CHECK(t, rtl_mfld_dram_run(ma, a, n / 2) == 0 && rtl_mfld_dram_run(mb, b, n / 2) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(t, rtl_mfld_dram_run(ma, a + n / 2, n - n / 2) == 0 &&
		    rtl_mfld_dram_run(mb, b + n / 2, n - n / 2) == 0, "%s", loom_err_msg());
	LT_CHECK(t, !memcmp(a, b, n * sizeof(*a)), "flavours differ");
out:
	free(a);
	free(b);
	rtl_mfld_destroy(ma);
	rtl_mfld_destroy(mb);
}

static void test_bad_arguments(struct lt *t)
{
	struct rtl_mfld *m = open_model(t, RTL_MFLD_CHECKED);
	struct rtl_mfld_dram_op op = { .addr = 16 };
	struct rtl_mfld_dram_timing tm = RTL_MFLD_DRAM_TIMING_DEFAULT, got;

	if (!m)
		return;
	LT_CHECK(t, rtl_mfld_dram_run(m, &op, 1) == -EINVAL, "unaligned address accepted");
	op.addr = RTL_MFLD_DRAM_BYTES;
	LT_CHECK(t, rtl_mfld_dram_run(m, &op, 1) == -EINVAL, "address past the end accepted");
	LT_CHECK(t, rtl_mfld_dram_run(m, NULL, 1) == -EINVAL, "NULL ops");
	LT_CHECK(t, rtl_mfld_dram_run(NULL, &op, 1) == -EINVAL, "NULL model");
	LT_CHECK(t, rtl_mfld_dram_run(m, NULL, 0) == 0, "no ops");
	tm.t_rcd = 0;
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, &tm) == -EINVAL, "tRCD 0");
	tm.t_rcd = 256;
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, &tm) == -EINVAL, "tRCD 256");
	tm.t_rcd = 26;
	tm.t_refi = tm.t_rfc;
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, &tm) == -EINVAL, "tREFI = tRFC");
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, NULL) == -EINVAL, "NULL timing");
	struct rtl_mfld_dram_timing def = RTL_MFLD_DRAM_TIMING_DEFAULT;
	LT_CHECK(t, rtl_mfld_dram_get_timing(m, &got) == 0 && !memcmp(&got, &def, sizeof(got)),
		 "a rejected timing changed the model");
	op.addr = 64;
	LT_CHECK(t, rtl_mfld_dram_run(m, &op, 1) == 0, "%s", loom_err_msg());
	rtl_mfld_destroy(m);
}

static const struct lt_case cases[] = {
	LT_CASE(test_data_kept),
	LT_CASE(test_latency_exact),
	LT_CASE(test_stream_bandwidth),
	LT_CASE(test_refresh_timeline),
	LT_CASE(test_flavours_agree),
	LT_CASE(test_bad_arguments),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_mesh.c - the System-on-Wafer mesh RTL through its C API
 * (include/loom/rtl_mesh.h).
 *
 * Zero-load latency against the documented formula for every source and
 * destination of a 4x4; uniform, transpose, bit-complement, hotspot and
 * all-to-all traffic at full offered load with both routing algorithms, then
 * a drain: every message delivered exactly once with its bytes intact (the
 * payload is regenerated from (source, sequence number) and compared), no
 * deadlock, the RTL's packet and flit counters agreeing with the host's
 * count; saturation throughput under uniform random traffic with XY as a
 * fraction of the bisection bound 4b/k; west-first routing directed: a
 * packet detours around a congested east port where XY cannot, and under
 * westward load no router turns a packet before its last west hop; the
 * checked and the fast model run side by side in one process and must agree
 * cycle for cycle; bad input.
 *
 * Cycles per pattern: LOOM_MESH_CYCLES (default 20000, so `make test` stays
 * fast; `LOOM_MESH_CYCLES=1000000` is the 10^6-cycle run).
 */
#include "lt.h"

#include "loom/err.h"
#include "loom/rng.h"
#include "loom/rtl_mesh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static struct rtl_mesh *mesh_new(struct lt *t, int k, enum rtl_mesh_flavour f, enum rtl_mesh_routing r)
{
	struct rtl_mesh_params p = { .k = k, .l = k, .flavour = f, .routing = r };
	struct rtl_mesh *m = rtl_mesh_create(&p);
	LT_CHECK(t, m, "create %dx%d: %s", k, k, loom_err_msg());
	return m;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Message seq of node src: bytes 0..3 seq, 4..7 src, then a keyed stream. */
static void payload_fill(uint8_t *b, size_t len, int src, uint32_t seq)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t w = mix64(((uint64_t)(uint32_t)src << 40) ^ ((uint64_t)seq << 8) ^ (i / 8));
		b[i] = (uint8_t)(w >> (8 * (i % 8)));
	}
	if (len >= 8) {
		memcpy(b, &seq, 4);
		memcpy(b + 4, &src, 4);
	}
}

static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 10) : dflt;
}

/* ---- traffic driver -------------------------------------------------------- */

struct src_log {
	uint32_t n, cap;
	int16_t *dst;		/* destination of each message sent */
	uint8_t *got;		/* times each was delivered */
};

struct traffic {
	struct rtl_mesh *m;
	int n, k, l;
	enum rtl_mesh_pattern pat;
	size_t len_min, len_max;	/* payload bytes, inclusive */
	unsigned depth;			/* source-queue messages kept while injecting */
	struct loom_rng rng;
	struct src_log *log;
	uint64_t delivered, flits, errors;
	uint64_t win_start, win_flits;	/* measurement window (cycles from win_start) */
	int first_errors;
	uint64_t digest;		/* hash of every (cycle, node, src, seq) delivered, in order */
};

static size_t msg_len(const struct traffic *tr, int src, uint32_t seq)
{
	size_t span = tr->len_max - tr->len_min + 1;
	return tr->len_min + (size_t)(mix64((uint64_t)src * 7919 + seq) % span);
}

static void traffic_init(struct traffic *tr, struct rtl_mesh *m, enum rtl_mesh_pattern pat,
			 size_t len_min, size_t len_max, uint64_t seed)
{
	struct rtl_mesh_info info;
	rtl_mesh_get_info(m, &info);
	memset(tr, 0, sizeof(*tr));
	tr->m = m;
	tr->n = info.nodes;
	tr->k = info.k;
	tr->l = info.l;
	tr->pat = pat;
	tr->len_min = len_min;
	tr->len_max = len_max;
	tr->depth = 4;
	loom_rng_init(&tr->rng, seed);
	tr->log = calloc((size_t)tr->n, sizeof(*tr->log));
}

static void traffic_free(struct traffic *tr)
{
	for (int i = 0; tr->log && i < tr->n; i++) {
		free(tr->log[i].dst);
		free(tr->log[i].got);
	}
	free(tr->log);
}

static void traffic_error(struct lt *t, struct traffic *tr, const char *what, int node, uint32_t seq)
{
	tr->errors++;
	if (tr->first_errors++ < 5)
		LT_CHECK(t, 0, "%s: %s at node %d (message %u of its source)", rtl_mesh_pattern_name(tr->pat),
			 what, node, seq);
}

/* Keep every source queue `depth` messages deep. */
static int traffic_top_up(struct traffic *tr)
{
	static uint8_t buf[65536];
	for (int s = 0; s < tr->n; s++) {
		struct src_log *lg = &tr->log[s];
		while (rtl_mesh_queued(tr->m, s) < tr->depth) {
			uint32_t seq = lg->n;
			int d = rtl_mesh_pattern_dst(tr->pat, tr->k, tr->l, s, seq, loom_rng_u64(&tr->rng));
			size_t len = msg_len(tr, s, seq);
			if (d < 0)
				return d;
			if (lg->n == lg->cap) {
				lg->cap = lg->cap ? 2 * lg->cap : 1024;
				lg->dst = realloc(lg->dst, lg->cap * sizeof(*lg->dst));
				lg->got = realloc(lg->got, lg->cap);
				if (!lg->dst || !lg->got)
					return -ENOMEM;
			}
			lg->dst[seq] = (int16_t)d;
			lg->got[seq] = 0;
			lg->n++;
			payload_fill(buf, len, s, seq);
			int rc = rtl_mesh_inject(tr->m, s, d, (uint16_t)seq, buf, len);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Take and check every delivered message. */
static void traffic_drain_polls(struct lt *t, struct traffic *tr)
{
	static uint8_t want[65536];
	struct rtl_mesh_msg msg;
	for (int node = 0; node < tr->n; node++) {
		while (rtl_mesh_poll(tr->m, node, &msg) == 1) {
			uint32_t seq = 0;
			int src = -1;
			if (msg.len_bytes >= 8) {
				memcpy(&seq, msg.payload, 4);
				memcpy(&src, msg.payload + 4, 4);
			}
			if (src != msg.src || src < 0 || src >= tr->n || seq >= tr->log[src].n) {
				traffic_error(t, tr, "unknown message (bad header or payload)", node, seq);
				continue;
			}
			struct src_log *lg = &tr->log[src];
			payload_fill(want, msg_len(tr, src, seq), src, seq);
			if (lg->dst[seq] != node || msg.dst != node)
				traffic_error(t, tr, "delivered at the wrong node", node, seq);
			else if (msg.len_bytes != msg_len(tr, src, seq) ||
				 (msg.len_bytes && memcmp(msg.payload, want, msg.len_bytes)))
				traffic_error(t, tr, "payload corrupted", node, seq);
			else if (lg->got[seq]++)
				traffic_error(t, tr, "delivered twice", node, seq);
			if (msg.unmatched)
				traffic_error(t, tr, "not in flight (API lost track)", node, seq);
			uint64_t f = 1 + (msg.len_bytes + 7) / 8;
			tr->delivered++;
			tr->flits += f;
			if (msg.deliver_cycle >= tr->win_start)
				tr->win_flits += f;
			tr->digest = mix64(tr->digest ^ mix64(msg.deliver_cycle * 131 + (uint64_t)node) ^
					   ((uint64_t)src << 32 | seq));
		}
	}
}

/* Run `cycles` at full offered load (queues never empty), measuring flits
 * delivered in the last `window` cycles.  Returns 0 or an API error. */
static int traffic_run(struct lt *t, struct traffic *tr, uint64_t cycles, uint64_t window)
{
	const uint64_t chunk = 4;	/* < depth x 2 beats: a queue cannot run dry inside a chunk */
	uint64_t start = rtl_mesh_cycles(tr->m);
	tr->win_start = start + cycles - (window < cycles ? window : cycles);
	for (uint64_t c = 0; c < cycles; c += chunk) {
		int rc = traffic_top_up(tr);
		if (!rc)
			rc = rtl_mesh_step(tr->m, chunk);
		if (rc)
			return rc;
		traffic_drain_polls(t, tr);
	}
	return 0;
}

/* Stop injecting and step until nothing is queued or in flight; -ETIMEDOUT
 * after max_cycles (a deadlock, or a lost flit that leaves a packet open). */
static int traffic_drain(struct lt *t, struct traffic *tr, uint64_t max_cycles)
{
	struct rtl_mesh_stats st;
	for (uint64_t c = 0; c < max_cycles; c += 16) {
		rtl_mesh_get_stats(tr->m, &st);
		size_t queued = 0;
		for (int i = 0; i < tr->n; i++)
			queued += rtl_mesh_queued(tr->m, i);
		if (!queued && !st.in_flight)
			return 0;
		int rc = rtl_mesh_step(tr->m, 16);
		if (rc)
			return rc;
		traffic_drain_polls(t, tr);
	}
	return -ETIMEDOUT;
}

/* After a drain: every message sent was delivered once; RTL counters agree. */
static void traffic_verify(struct lt *t, struct traffic *tr)
{
	uint64_t sent = 0;
	for (int s = 0; s < tr->n; s++) {
		const struct src_log *lg = &tr->log[s];
		sent += lg->n;
		for (uint32_t q = 0; q < lg->n; q++)
			if (lg->got[q] != 1)
				traffic_error(t, tr, lg->got[q] ? "duplicated" : "lost", s, q);
	}
	LT_CHECK(t, tr->delivered == sent, "%s: %llu sent, %llu delivered", rtl_mesh_pattern_name(tr->pat),
		 (unsigned long long)sent, (unsigned long long)tr->delivered);
	struct rtl_mesh_stats st;
	rtl_mesh_get_stats(tr->m, &st);
	LT_CHECK(t, !st.unmatched && !st.misrouted && !st.bad_length,
		 "API saw %llu unmatched, %llu misrouted, %llu bad-length messages",
		 (unsigned long long)st.unmatched, (unsigned long long)st.misrouted,
		 (unsigned long long)st.bad_length);
	/* The NIs' own counters (32-bit: fine below 4e9 flits). */
	uint64_t pin = 0, pout = 0, fin = 0, fout = 0, rlocal = 0;
	for (int i = 0; i < tr->n; i++) {
		uint32_t v[4], r;
		for (int c = 0; c < 4; c++)
			rtl_mesh_counter(tr->m, i, c, &v[c]);
		rtl_mesh_counter(tr->m, i, RTL_MESH_CNT_ROUTER_FLITS + RTL_MESH_PORT_LOCAL, &r);
		pin += v[0], fin += v[1], pout += v[2], fout += v[3], rlocal += r;
	}
	LT_CHECK(t, pin == sent && pout == sent, "NI packets in %llu, out %llu, host sent %llu",
		 (unsigned long long)pin, (unsigned long long)pout, (unsigned long long)sent);
	LT_CHECK(t, fin == tr->flits && fout == tr->flits && rlocal == tr->flits,
		 "NI flits in %llu, out %llu, routers to NIs %llu, host counted %llu", (unsigned long long)fin,
		 (unsigned long long)fout, (unsigned long long)rlocal, (unsigned long long)tr->flits);
}

/* ---- cases ------------------------------------------------------------------ */

/* h hops, F flits: the formula stated in rtl_mesh.h, written out here again. */
static uint64_t zero_load_formula(const struct rtl_mesh_info *in, int hops, size_t len)
{
	uint64_t flits = 1 + (len + (size_t)in->flit_bits / 8 - 1) / ((size_t)in->flit_bits / 8);
	return 3 + (uint64_t)(hops + 1) * (uint64_t)in->router_stages +
	       (uint64_t)hops * (uint64_t)in->link_stages + (flits - 1);
}

static void zero_load_all_pairs(struct lt *t, enum rtl_mesh_routing r, const size_t *lens, int nlens)
{
	struct rtl_mesh *m = mesh_new(t, 4, RTL_MESH_CHECKED, r);
	if (!m)
		return;
	struct rtl_mesh_info in;
	rtl_mesh_get_info(m, &in);
	uint8_t buf[256];
	int bad = 0;
	for (int li = 0; li < nlens; li++)
		for (int s = 0; s < in.nodes; s++)
			for (int d = 0; d < in.nodes; d++) {
				size_t len = lens[li];
				struct rtl_mesh_msg msg;
				payload_fill(buf, len, s, (uint32_t)d);
				LT_CHECK(t, !rtl_mesh_inject(m, s, d, (uint16_t)(s * 16 + d), buf, len), "%s",
					 loom_err_msg());
				int got = 0;
				for (int c = 0; c < 200 && !got; c++) {
					LT_CHECK(t, !rtl_mesh_step(m, 1), "%s", loom_err_msg());
					got = rtl_mesh_poll(m, d, &msg);
				}
				int hops = abs(s % 4 - d % 4) + abs(s / 4 - d / 4);
				uint64_t want = zero_load_formula(&in, hops, len);
				if (!got || msg.deliver_cycle - msg.accept_cycle != want ||
				    msg.accept_cycle != msg.inject_cycle || msg.src != s ||
				    msg.len_bytes != len || (len && memcmp(msg.payload, buf, len))) {
					if (bad++ < 5)
						LT_CHECK(t, 0,
							 "%d -> %d, %zu bytes: %s latency %llu, formula %llu (accepted %llu cycles after inject)",
							 s, d, len, got ? "delivered," : "NOT delivered;",
							 got ? (unsigned long long)(msg.deliver_cycle - msg.accept_cycle) : 0ull,
							 (unsigned long long)want,
							 got ? (unsigned long long)(msg.accept_cycle - msg.inject_cycle) : 0ull);
				}
				rtl_mesh_step(m, 8);	/* credits home before the next one */
			}
	LT_CHECK(t, bad == 0, "%d of %d messages off the formula", bad, nlens * in.nodes * in.nodes);
	rtl_mesh_destroy(m);
}

static void test_zero_load_latency_xy(struct lt *t)
{
	/* 1, 2, 2, 3, 9 and 26 flits: head only, partial and full beats, longer
	 * than a VC buffer (8 flits) so credits must come back in time. */
	static const size_t lens[] = { 0, 1, 8, 9, 64, 200 };
	zero_load_all_pairs(t, RTL_MESH_XY, lens, (int)LT_N(lens));
}

static void test_zero_load_latency_west_first(struct lt *t)
{
	static const size_t lens[] = { 24 };
	zero_load_all_pairs(t, RTL_MESH_WEST_FIRST, lens, (int)LT_N(lens));
}

static void pattern_case(struct lt *t, enum rtl_mesh_pattern pat, enum rtl_mesh_routing r)
{
	uint64_t cycles = (uint64_t)env_long("LOOM_MESH_CYCLES", 20000);
	struct rtl_mesh *m = mesh_new(t, 4, RTL_MESH_CHECKED, r);
	if (!m)
		return;
	struct traffic tr;
	traffic_init(&tr, m, pat, 8, 64, lt_seed(t));
	int rc = traffic_run(t, &tr, cycles, cycles);
	LT_CHECK(t, !rc, "run: %s", loom_err_msg());
	uint64_t delivered_by_end = tr.delivered;
	rc = traffic_drain(t, &tr, 200000);
	LT_CHECK(t, !rc, "drain (%s): %s", rtl_mesh_pattern_name(pat),
		 rc == -ETIMEDOUT ? "messages still in flight 200000 cycles after injection stopped" : loom_err_msg());
	traffic_verify(t, &tr);
	LT_CHECK(t, delivered_by_end > cycles / 100, "only %llu messages delivered in %llu cycles",
		 (unsigned long long)delivered_by_end, (unsigned long long)cycles);
	printf("    %s %-9s %llu cycles: %llu messages, %.3f flits/node/cycle accepted\n",
	       r == RTL_MESH_XY ? "xy" : "west-first", rtl_mesh_pattern_name(pat), (unsigned long long)cycles,
	       (unsigned long long)tr.delivered, (double)tr.win_flits / ((double)cycles * tr.n));
	traffic_free(&tr);
	rtl_mesh_destroy(m);
}

static void test_traffic_xy(struct lt *t)
{
	for (int p = 0; p < RTL_MESH_PATTERN_NUM; p++)
		pattern_case(t, (enum rtl_mesh_pattern)p, RTL_MESH_XY);
}

static void test_traffic_west_first(struct lt *t)
{
	for (int p = 0; p < RTL_MESH_PATTERN_NUM; p++)
		pattern_case(t, (enum rtl_mesh_pattern)p, RTL_MESH_WEST_FIRST);
}

/* Uniform random at full offered load, fast model: accepted throughput as a
 * fraction of the bisection bound 4b/k flits per node per cycle (b = 1
 * flit/cycle per channel).  Measured after a warm-up of a quarter of the run. */
static double saturation(struct lt *t, int k, uint64_t cycles)
{
	struct rtl_mesh *m = mesh_new(t, k, RTL_MESH_FAST, RTL_MESH_XY);
	if (!m)
		return 0;
	struct traffic tr;
	traffic_init(&tr, m, RTL_MESH_UNIFORM, 64, 64, lt_seed(t));	/* 9-flit packets */
	LT_CHECK(t, !traffic_run(t, &tr, cycles, cycles * 3 / 4), "run: %s", loom_err_msg());
	double thr = (double)tr.win_flits / ((double)(cycles * 3 / 4) * tr.n);
	LT_CHECK(t, !traffic_drain(t, &tr, 200000), "drain: %s", loom_err_msg());
	traffic_verify(t, &tr);
	traffic_free(&tr);
	rtl_mesh_destroy(m);
	return thr / (4.0 / k);
}

/* ---- west-first: adaptive where it may be, never west after a turn ------- */

/* Step until every message is delivered (consumed by polling); 0 or -1. */
static int drain_all(struct rtl_mesh *m, int n, uint64_t limit)
{
	struct rtl_mesh_stats st;
	struct rtl_mesh_msg msg;

	for (uint64_t c = 0; c < limit; c += 50) {
		if (rtl_mesh_step(m, 50))
			return -1;
		for (int i = 0; i < n; i++)
			while (rtl_mesh_poll(m, i, &msg) == 1)
				;
		rtl_mesh_get_stats(m, &st);
		size_t queued = 0;
		for (int i = 0; i < n; i++)
			queued += rtl_mesh_queued(m, i);
		if (!queued && st.in_flight == 0)
			return st.misrouted || st.unmatched || st.bad_length ? -1 : 0;
	}
	return -1;
}

static uint32_t port_flits(struct rtl_mesh *m, int node, int port)
{
	uint32_t v = 0;

	rtl_mesh_counter(m, node, RTL_MESH_CNT_ROUTER_FLITS + port, &v);
	return v;
}

/*
 * A probe from (0,1) to (2,3) reaches router (1,1) while a stream from
 * (1,1) to (3,1) holds (1,1)'s east output: west-first may go south there
 * and must (the south port has more free VCs); XY must go east.  Without
 * the stream west-first goes east too (a tie keeps the x direction).  The
 * probe's path is read from router (1,1)'s south-port flit counter, which
 * nothing else uses.
 */
static uint32_t probe_south_flits(struct lt *t, enum rtl_mesh_routing r, int stream)
{
	struct rtl_mesh *m = mesh_new(t, 4, RTL_MESH_CHECKED, r);
	static uint8_t big[2048], small[64];
	uint32_t south = UINT32_MAX;

	if (!m)
		return south;
	if (stream) {
		for (int i = 0; i < 6; i++)
			LT_CHECK(t, rtl_mesh_inject(m, 5, 7, (uint16_t)i, big, sizeof(big)) == 0, "%s",
				 loom_err_msg());
		LT_CHECK(t, rtl_mesh_step(m, 100) == 0, "%s", loom_err_msg());
	}
	LT_CHECK(t, rtl_mesh_inject(m, 4, 14, 99, small, sizeof(small)) == 0, "%s", loom_err_msg());
	LT_CHECK(t, drain_all(m, 16, 100000) == 0, "not every message delivered intact");
	south = port_flits(m, 5, RTL_MESH_PORT_SOUTH);
	LT_CHECK(t, port_flits(m, 5, RTL_MESH_PORT_EAST) >= (stream ? 6 * 2048 / 8 : 0),
		 "the stream did not leave east");
	rtl_mesh_destroy(m);
	return south;
}

static void test_west_first_adapts(struct lt *t)
{
	uint32_t xy = probe_south_flits(t, RTL_MESH_XY, 1);
	uint32_t wf = probe_south_flits(t, RTL_MESH_WEST_FIRST, 1);
	uint32_t wf_idle = probe_south_flits(t, RTL_MESH_WEST_FIRST, 0);

	/* 64 bytes = 8 payload flits + the head */
	LT_CHECK(t, xy == 0, "XY: %u flits left (1,1) southward", xy);
	LT_CHECK(t, wf == 9, "west-first, east congested: %u flits south at (1,1), want the "
		 "probe's 9", wf);
	LT_CHECK(t, wf_idle == 0, "west-first, idle mesh: %u flits south at (1,1), want 0", wf_idle);
}

/*
 * Every node of columns 1..3 sends to random nodes of column 0 at full
 * load, so the west links are congested and the north / south ports idle:
 * a packet with a west hop left must still take west (the turn rule that
 * keeps west-first deadlock-free), so routers outside column 0 send nothing
 * north, south or east; column 0 sends nothing west.
 */
static void test_west_first_never_turns_west(struct lt *t)
{
	struct rtl_mesh *m = mesh_new(t, 4, RTL_MESH_CHECKED, RTL_MESH_WEST_FIRST);
	struct loom_rng r;
	static uint8_t buf[256];

	if (!m)
		return;
	loom_rng_init(&r, lt_seed(t));
	for (int round = 0; round < 40; round++)
		for (int node = 0; node < 16; node++) {
			if (node % 4 == 0)
				continue;
			int dst = 4 * (int)(loom_rng_u32(&r) % 4);
			size_t len = 8 + loom_rng_u32(&r) % 248;
			LT_CHECK(t, rtl_mesh_inject(m, node, dst, (uint16_t)round, buf, len) == 0, "%s",
				 loom_err_msg());
		}
	LT_CHECK(t, drain_all(m, 16, 1000000) == 0, "not every message delivered intact");
	uint32_t west = 0;
	for (int node = 0; node < 16; node++) {
		int x = node % 4;
		for (int port = RTL_MESH_PORT_NORTH; port <= RTL_MESH_PORT_WEST; port++) {
			uint32_t f = port_flits(m, node, port);
			bool allowed = x == 0 ? port != RTL_MESH_PORT_WEST
					      : port == RTL_MESH_PORT_WEST;
			if (port == RTL_MESH_PORT_WEST)
				west += f;
			LT_CHECK(t, allowed || f == 0, "router (%d,%d) sent %u flits on port %d", x,
				 node / 4, f, port);
		}
	}
	LT_CHECK(t, west > 0, "no westward flits at all");
	rtl_mesh_destroy(m);
}

static void test_saturation_uniform_xy(struct lt *t)
{
	uint64_t cycles = (uint64_t)env_long("LOOM_MESH_CYCLES", 20000);
	double f4 = saturation(t, 4, cycles);
	printf("    4x4 uniform, XY: %.3f of the 4b/k bound\n", f4);
	/* The floor: 60% of the bisection bound with XY. */
	LT_CHECK(t, f4 >= 0.60, "4x4 saturation %.3f of 4b/k < 0.60", f4);
	if (strstr(rtl_mesh_built_configs(), "8x8")) {
		double f8 = saturation(t, 8, cycles / 2);
		printf("    8x8 uniform, XY: %.3f of the 4b/k bound\n", f8);
		LT_CHECK(t, f8 >= 0.60, "8x8 saturation %.3f of 4b/k < 0.60", f8);
	}
}

/* The checked and the fast model, two instances in one process, fed the same
 * traffic, deliver the same messages in the same cycles. */
static void test_checked_equals_fast(struct lt *t)
{
	struct rtl_mesh *a = mesh_new(t, 4, RTL_MESH_CHECKED, RTL_MESH_WEST_FIRST);
	struct rtl_mesh *b = mesh_new(t, 4, RTL_MESH_FAST, RTL_MESH_WEST_FIRST);
	if (!a || !b)
		goto out;
	struct traffic ta, tb;
	traffic_init(&ta, a, RTL_MESH_UNIFORM, 8, 100, 42);
	traffic_init(&tb, b, RTL_MESH_UNIFORM, 8, 100, 42);
	/* Interleaved chunks: both instances live at once. */
	for (int i = 0; i < 10; i++) {
		LT_CHECK(t, !traffic_run(t, &ta, 500, 0), "checked: %s", loom_err_msg());
		LT_CHECK(t, !traffic_run(t, &tb, 500, 0), "fast: %s", loom_err_msg());
	}
	LT_CHECK(t, !traffic_drain(t, &ta, 100000) && !traffic_drain(t, &tb, 100000), "drain: %s",
		 loom_err_msg());
	traffic_verify(t, &ta);
	traffic_verify(t, &tb);
	LT_CHECK(t, ta.delivered == tb.delivered && ta.digest == tb.digest,
		 "checked delivered %llu (digest %016llx), fast %llu (%016llx)", (unsigned long long)ta.delivered,
		 (unsigned long long)ta.digest, (unsigned long long)tb.delivered, (unsigned long long)tb.digest);
	traffic_free(&ta);
	traffic_free(&tb);
out:
	rtl_mesh_destroy(a);
	rtl_mesh_destroy(b);
}

/* Patterns against hand-computed destinations. */
static void test_patterns(struct lt *t)
{
	/* 4x4: node 6 = (2, 1). */
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_TRANSPOSE, 4, 4, 6, 0, 0) == 9, "transpose (2,1) -> (1,2) = 9");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_BITCOMP, 4, 4, 6, 0, 0) == 9, "bitcomp 0110 -> 1001");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_BITCOMP, 4, 4, 0, 0, 0) == 15, "bitcomp 0 -> 15");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_HOTSPOT, 4, 4, 3, 0, 8) == 10, "hotspot (2,2) = 10");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_ALLTOALL, 4, 4, 15, 0, 0) == 0, "alltoall 15 first -> 0");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_ALLTOALL, 4, 4, 15, 14, 0) == 14, "alltoall 15 last -> 14");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_ALLTOALL, 4, 4, 15, 15, 0) == 0, "alltoall wraps");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_UNIFORM, 4, 4, 1, 0, 37) == 5, "uniform 37 %% 16");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_TRANSPOSE, 4, 2, 1, 0, 0) == -EINVAL, "transpose 4x2");
	LT_CHECK(t, rtl_mesh_pattern_dst(RTL_MESH_UNIFORM, 4, 4, 16, 0, 0) == -EINVAL, "node 16 of 4x4");
	LT_CHECK(t, rtl_mesh_pattern_parse("bitcomp") == RTL_MESH_BITCOMP, "parse bitcomp");
	LT_CHECK(t, rtl_mesh_pattern_parse("nope") == -EINVAL, "parse nope");
	LT_CHECK(t, rtl_mesh_pattern_parse(NULL) == -EINVAL, "parse NULL");
}

static void test_bad_input(struct lt *t)
{
	struct rtl_mesh_params p = { .k = 3, .l = 3 };
	LT_CHECK(t, !rtl_mesh_create(&p), "3x3 is not built");
	LT_CHECK(t, strstr(loom_err_msg(), "RTL_MESH_CONFIGS"), "reason names the make variable: %s",
		 loom_err_msg());
	p = (struct rtl_mesh_params){ .k = 4, .l = 0 };
	LT_CHECK(t, !rtl_mesh_create(&p), "4x0");
	p = (struct rtl_mesh_params){ .k = 4, .l = 4, .flavour = 7 };
	LT_CHECK(t, !rtl_mesh_create(&p), "flavour 7");
	p = (struct rtl_mesh_params){ .trace_path = "/nonexistent-dir/x.fst" };
	LT_CHECK(t, !rtl_mesh_create(&p), "trace into a missing directory");

	struct rtl_mesh *m = rtl_mesh_create(NULL);	/* defaults: 4x4 checked */
	LT_CHECK(t, m, "create(NULL): %s", loom_err_msg());
	if (!m)
		return;
	uint8_t b[8] = { 0 };
	struct rtl_mesh_msg msg;
	uint32_t v;
	LT_CHECK(t, rtl_mesh_inject(m, -1, 0, 0, b, 8) == -EINVAL, "src -1");
	LT_CHECK(t, rtl_mesh_inject(m, 0, 16, 0, b, 8) == -EINVAL, "dst 16");
	LT_CHECK(t, rtl_mesh_inject(m, 0, 1, 0, NULL, 8) == -EINVAL, "NULL payload");
	LT_CHECK(t, rtl_mesh_inject(m, 0, 1, 0, b, 65536) == -EINVAL, "65536 bytes");
	LT_CHECK(t, rtl_mesh_inject(m, 0, 1, 0, NULL, 0) == 0, "empty message with NULL payload");
	LT_CHECK(t, rtl_mesh_poll(m, 16, &msg) == -EINVAL, "poll node 16");
	LT_CHECK(t, rtl_mesh_poll(m, 0, NULL) == -EINVAL, "poll NULL");
	LT_CHECK(t, rtl_mesh_counter(m, 0, RTL_MESH_CNT_NUM, &v) == -EINVAL, "counter 15");
	LT_CHECK(t, rtl_mesh_set_routing(m, 9) == -EINVAL, "routing 9");
	LT_CHECK(t, rtl_mesh_step(NULL, 1) == -EINVAL, "step NULL");
	/* A full source queue says so. */
	struct rtl_mesh_params q = { .max_queued = 2 };
	struct rtl_mesh *m2 = rtl_mesh_create(&q);
	LT_CHECK(t, m2 && !rtl_mesh_inject(m2, 0, 1, 0, b, 8) && !rtl_mesh_inject(m2, 0, 1, 1, b, 8) &&
			    rtl_mesh_inject(m2, 0, 1, 2, b, 8) == -EAGAIN,
		 "third message into a 2-deep queue: -EAGAIN");
	rtl_mesh_destroy(m2);
	/* The zero-length message arrives; reset drops everything. */
	LT_CHECK(t, !rtl_mesh_step(m, 40) && rtl_mesh_poll(m, 1, &msg) == 1 && msg.len_bytes == 0, "empty message");
	LT_CHECK(t, !rtl_mesh_inject(m, 0, 15, 0, b, 8) && !rtl_mesh_reset(m) && !rtl_mesh_step(m, 100) &&
			    rtl_mesh_poll(m, 15, &msg) == 0 && rtl_mesh_cycles(m) == 100,
		 "reset drops a queued message and restarts the cycle count");
	rtl_mesh_destroy(m);
	rtl_mesh_destroy(NULL);
}

/* An FST trace is written when asked for. */
static void test_trace(struct lt *t)
{
	char path[] = "/tmp/loom_mesh_trace_XXXXXX";
	int fd = mkstemp(path);
	LT_CHECK(t, fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	struct rtl_mesh_params p = { .trace_path = path };
	struct rtl_mesh *m = rtl_mesh_create(&p);
	LT_CHECK(t, m, "create with trace: %s", loom_err_msg());
	uint8_t b[16] = { 1, 2, 3 };
	if (m) {
		LT_CHECK(t, !rtl_mesh_inject(m, 0, 5, 7, b, sizeof(b)) && !rtl_mesh_step(m, 50), "run");
		rtl_mesh_destroy(m);
	}
	FILE *f = fopen(path, "rb");
	long size = 0;
	if (f) {
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fclose(f);
	}
	LT_CHECK(t, size > 100, "trace file %s has %ld bytes", path, size);
	close(fd);
	unlink(path);
}

static const struct lt_case cases[] = {
	LT_CASE(test_bad_input),
	LT_CASE(test_patterns),
	LT_CASE(test_zero_load_latency_xy),
	LT_CASE(test_zero_load_latency_west_first),
	LT_CASE(test_traffic_xy),
	LT_CASE(test_traffic_west_first),
	LT_CASE(test_west_first_adapts),
	LT_CASE(test_west_first_never_turns_west),
	LT_CASE(test_saturation_uniform_xy),
	LT_CASE(test_checked_equals_fast),
	LT_CASE(test_trace),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_fabric.c - the fabric timing models (runtime/fabric/fabric.c)
 * against REFERENCE.md §4's published figures and hand-computed cases:
 *  - the EP decoding bound: 120.96 us, 241.92 us per layer, 14.76 ms per
 *    token over 61 layers (~67 tokens/s); GB200 NVL72 at 900 GB/s: 6.72 us,
 *    0.82 ms, ~1200 tokens/s;
 *  - the all-to-all model reproduces 120.96 us for the equivalent traffic
 *    matrix (one GPU per node, ib_efficiency 1, latency 0);
 *  - intra-only, inter-only, mixed and incast matrices, worked by hand in
 *    the comments from the default parameters (NVLink 160 GB/s, IB 50 GB/s
 *    x 0.8 = 40 GB/s, 2 us latency);
 *  - the ring all-reduce formula; a model plugged in through the ops table;
 *  - bad parameters and arguments: NULL / a negative errno with a message.
 * Tolerance: 1e-9 relative everywhere; the figures are a few double
 * operations on exact decimal inputs, so only rounding of the last bits
 * can differ from the hand-computed value.
 */
#include "lt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/fabric.h"

#define REL 1e-9

static bool near(double got, double want) { return fabs(got - want) <= REL * fabs(want) + 1e-12; }

#define CHECK_US(t, got, want)                                                               \
	LT_CHECK(t, near(got, want), "%s = %.9f us, want %.9f", #got, (double)(got), (double)(want))

static void test_ep_bound_h800(struct lt *t)
{
	/* (1 + 2) bytes * 32 tokens * 9 experts * 7000 hidden / 50 GB/s. */
	double us = fabric_ep_decode_bound_us(3, 32, 9, 7000, 50);
	double layer_us = 2 * us;		   /* two micro-batches per layer */
	double token_ms = 61 * layer_us / 1e3;	   /* 61 layers */

	CHECK_US(t, us, 120.96);
	CHECK_US(t, layer_us, 241.92);
	LT_CHECK(t, fabs(token_ms - 14.76) < 0.005, "%.5f ms per token, REFERENCE says 14.76",
		 token_ms);
	LT_CHECK(t, (int)(1e3 / token_ms) == 67, "%.2f tokens/s, REFERENCE says ~67",
		 1e3 / token_ms);
	/* 1 byte dispatch and 2 bytes combine given separately add up. */
	CHECK_US(t, fabric_ep_decode_bound_us(1, 32, 9, 7000, 50) +
			    fabric_ep_decode_bound_us(2, 32, 9, 7000, 50),
		 120.96);
}

static void test_ep_bound_gb200(struct lt *t)
{
	double us = fabric_ep_decode_bound_us(3, 32, 9, 7000, 900);
	double token_ms = 61 * 2 * us / 1e3;

	CHECK_US(t, us, 6.72);
	LT_CHECK(t, fabs(token_ms - 0.82) < 0.005, "%.5f ms per token, REFERENCE says 0.82",
		 token_ms);
	/* "~1200 tokens/s": 1219.7, within 2%. */
	LT_CHECK(t, fabs(1e3 / token_ms - 1200) < 24, "%.1f tokens/s", 1e3 / token_ms);
}

/* Every rank sends per_rank bytes spread evenly over the ranks - 1 others. */
static uint64_t *spread_matrix(int ranks, uint64_t per_rank)
{
	uint64_t *b = calloc((size_t)ranks * ranks, sizeof(*b));

	for (int s = 0; s < ranks; s++)
		for (int d = 0; d < ranks; d++)
			b[s * ranks + d] = s == d ? 0 : per_rank / (ranks - 1);
	return b;
}

static void test_alltoall_reproduces_ep_bound(struct lt *t)
{
	struct fabric_h800_params p = fabric_h800_defaults();
	uint64_t per_rank = 3ull * 32 * 9 * 7000; /* 6,048,000, divisible by 8 and 4 */
	const int ranks[] = { 9, 5 };
	struct fabric *f;

	p.ib_efficiency = 1;
	p.latency_us = 0;
	f = fabric_h800_create(&p);
	LT_CHECK(t, f, "%s", loom_err_msg());
	if (!f)
		return;
	for (int i = 0; i < 2; i++) {
		uint64_t *b = spread_matrix(ranks[i], per_rank);

		CHECK_US(t, fabric_alltoall_us(f, ranks[i], 1, b), 120.96);
		free(b);
	}
	fabric_destroy(f);

	/* The defaults: 6,048,000 B / 40 GB/s effective = 151.2 us, + 2 us. */
	f = fabric_create("h800");
	uint64_t *b = spread_matrix(9, per_rank);
	CHECK_US(t, fabric_alltoall_us(f, 9, 1, b), 153.2);
	free(b);
	fabric_destroy(f);
}

static void test_alltoall_intra_only(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[16] = { 0 };

	/* One node of 4.  Rank 0 sends 160 kB to 1 and 320 kB to 2 (480 kB:
	 * 3 us); rank 3 sends 800 kB to 2 (5 us); rank 2 receives 320 + 800 =
	 * 1120 kB (7 us, the worst); rank 1 sends 1 TB to itself (free).
	 * 7 + 2 us latency = 9 us. */
	b[0 * 4 + 1] = 160000;
	b[0 * 4 + 2] = 320000;
	b[3 * 4 + 2] = 800000;
	b[1 * 4 + 1] = 1000000000000ull;
	CHECK_US(t, fabric_alltoall_us(f, 4, 4, b), 9.0);
	fabric_destroy(f);
}

static void test_alltoall_inter_only(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[4] = { 0, 400000, 0, 0 };

	/* Two nodes of one rank: 400 kB / 40 GB/s = 10 us, + 2 us. */
	CHECK_US(t, fabric_alltoall_us(f, 2, 1, b), 12.0);
	/* The same pair on one node: 400 kB / 160 GB/s = 2.5 us, + 2 us. */
	CHECK_US(t, fabric_alltoall_us(f, 2, 2, b), 4.5);
	fabric_destroy(f);
}

static void test_alltoall_mixed(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[16] = { 0 };

	/* Nodes {0,1} and {2,3}.  0->1 1.6 MB NVLink (10 us) with 0->2 200 kB
	 * IB (5 us) in parallel: rank 0 sends for max(10, 5) = 10 us, not 15:
	 * the step is 12 us. */
	b[0 * 4 + 1] = 1600000;
	b[0 * 4 + 2] = 200000;
	CHECK_US(t, fabric_alltoall_us(f, 4, 2, b), 12.0);
	/* Add 1->3 600 kB IB (15 us) and 2->3 320 kB NVLink (2 us): rank 1
	 * sends and rank 3 receives for 15 us: 17 us. */
	b[1 * 4 + 3] = 600000;
	b[2 * 4 + 3] = 320000;
	CHECK_US(t, fabric_alltoall_us(f, 4, 2, b), 17.0);
	fabric_destroy(f);
}

static void test_alltoall_incast_receive_side(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[16] = { 0 };

	/* Four nodes of one rank; 1, 2, 3 each send 400 kB to 0 (10 us each
	 * sending) and rank 0 receives 1.2 MB: 30 us + 2 us. */
	for (int s = 1; s < 4; s++)
		b[s * 4 + 0] = 400000;
	CHECK_US(t, fabric_alltoall_us(f, 4, 1, b), 32.0);
	fabric_destroy(f);
}

static void test_alltoall_empty_step_is_free(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[9] = { 0 };

	LT_CHECK(t, fabric_alltoall_us(f, 3, 3, b) == 0, "no traffic: %g",
		 fabric_alltoall_us(f, 3, 3, b));
	b[0] = b[4] = b[8] = 12345; /* only to themselves */
	LT_CHECK(t, fabric_alltoall_us(f, 3, 1, b) == 0, "self traffic: %g",
		 fabric_alltoall_us(f, 3, 1, b));
	fabric_destroy(f);
}

static void test_allreduce_ring(struct lt *t)
{
	struct fabric *f = fabric_create("h800");

	/* P = 4 on one node: 2 * 3 / 4 * 1.28 MB = 1.92 MB over NVLink =
	 * 12 us, + 2 * 3 steps * 2 us = 24 us. */
	CHECK_US(t, fabric_allreduce_us(f, 4, 4, 1280000), 24.0);
	/* P = 4 on two nodes: the ring crosses IB: 1.92 MB / 40 GB/s = 48 us,
	 * + 12 us = 60 us. */
	CHECK_US(t, fabric_allreduce_us(f, 4, 2, 1280000), 60.0);
	/* P = 2 on two nodes: 2 * 1 / 2 * 1 MB / 40 GB/s = 25 us + 2 * 2 us. */
	CHECK_US(t, fabric_allreduce_us(f, 2, 1, 1000000), 29.0);
	LT_CHECK(t, fabric_allreduce_us(f, 1, 1, 1000000) == 0, "one rank reduces nothing");
	LT_CHECK(t, fabric_allreduce_us(f, 4, 4, 0) == 0, "zero bytes cost nothing");
	fabric_destroy(f);
}

/* A model plugged in through the ops table: a flat 1 us per rank. */
static double flat_alltoall(const struct fabric *f, int ranks, int rpn, const uint64_t *b)
{
	(void)f, (void)rpn, (void)b;
	return ranks;
}
static double flat_allreduce(const struct fabric *f, int ranks, int rpn, uint64_t bytes)
{
	(void)f, (void)rpn;
	return ranks + (double)bytes;
}
static int flat_destroyed;
static void flat_destroy(struct fabric *f) { (void)f, flat_destroyed++; }

static void test_ops_table_dispatch(struct lt *t)
{
	static const struct fabric_ops flat = {
		.name = "flat",
		.alltoall_us = flat_alltoall,
		.allreduce_us = flat_allreduce,
		.destroy = flat_destroy,
	};
	struct fabric f = { .ops = &flat, .priv = NULL };
	uint64_t b[4] = { 0 };

	LT_CHECK(t, fabric_alltoall_us(&f, 2, 2, b) == 2, "dispatch to the model's alltoall");
	LT_CHECK(t, fabric_allreduce_us(&f, 3, 1, 10) == 13, "dispatch to the model's allreduce");
	/* Generic argument checks run before any model. */
	LT_CHECK(t, fabric_alltoall_us(&f, 0, 1, b) < 0, "ranks 0 refused");
	fabric_destroy(&f);
	LT_CHECK(t, flat_destroyed == 1, "destroy called %d times", flat_destroyed);

	struct fabric *h = fabric_create("h800");
	LT_CHECK(t, h && strcmp(h->ops->name, "h800") == 0, "by name");
	fabric_destroy(h);
}

#define CHECK_BAD_PARAMS(t, field, value, word)                                             \
	do {                                                                                \
		struct fabric_h800_params p_ = fabric_h800_defaults();                      \
		p_.field = value;                                                           \
		struct fabric *f_ = fabric_h800_create(&p_);                                \
		LT_CHECK(t, !f_ && strstr(loom_err_msg(), word), #field "=" #value ": '%s'", \
			 loom_err_msg());                                                   \
		fabric_destroy(f_);                                                         \
	} while (0)

static void test_bad_params(struct lt *t)
{
	CHECK_BAD_PARAMS(t, gpus_per_node, 0, "gpus_per_node");
	CHECK_BAD_PARAMS(t, nvlink_gbps, 0, "nvlink_gbps");
	CHECK_BAD_PARAMS(t, nvlink_gbps, NAN, "nvlink_gbps");
	CHECK_BAD_PARAMS(t, ib_gbps, -50, "ib_gbps");
	CHECK_BAD_PARAMS(t, ib_gbps, INFINITY, "ib_gbps");
	CHECK_BAD_PARAMS(t, ib_efficiency, 0, "ib_efficiency");
	CHECK_BAD_PARAMS(t, ib_efficiency, 1.5, "ib_efficiency");
	CHECK_BAD_PARAMS(t, latency_us, -1, "latency_us");
	CHECK_BAD_PARAMS(t, latency_us, NAN, "latency_us");

	LT_CHECK(t, !fabric_h800_create(NULL) && strstr(loom_err_msg(), "NULL"), "NULL params");
	LT_CHECK(t, !fabric_create("sow9000") && strstr(loom_err_msg(), "sow9000"), "'%s'",
		 loom_err_msg());
	LT_CHECK(t, !fabric_create(NULL), "NULL name");
	fabric_destroy(NULL);
}

static void test_bad_arguments(struct lt *t)
{
	struct fabric *f = fabric_create("h800");
	uint64_t b[81] = { 0 };

	LT_CHECK(t, fabric_alltoall_us(NULL, 2, 1, b) == -EINVAL, "NULL fabric");
	LT_CHECK(t, fabric_alltoall_us(f, 0, 1, b) == -EINVAL, "ranks 0");
	LT_CHECK(t, fabric_alltoall_us(f, 2, 0, b) == -EINVAL, "ranks_per_node 0");
	LT_CHECK(t, fabric_alltoall_us(f, 2, 1, NULL) == -EINVAL, "NULL matrix");
	LT_CHECK(t, fabric_alltoall_us(f, 9, 9, b) == -EINVAL && strstr(loom_err_msg(), "8 GPUs"),
		 "9 ranks on an 8-GPU node: '%s'", loom_err_msg());
	LT_CHECK(t, fabric_allreduce_us(f, -1, 1, 10) == -EINVAL, "allreduce ranks -1");
	LT_CHECK(t, fabric_allreduce_us(f, 16, 16, 10) == -EINVAL, "allreduce 16 per node");
	LT_CHECK(t, fabric_ep_decode_bound_us(3, 32, 9, 7000, 0) == -EINVAL, "0 GB/s");
	LT_CHECK(t, fabric_ep_decode_bound_us(NAN, 32, 9, 7000, 50) == -EINVAL, "NaN bytes");
	LT_CHECK(t, fabric_ep_decode_bound_us(3, 0, 9, 7000, 50) == -EINVAL &&
			    strstr(loom_err_msg(), "tokens=0"),
		 "'%s'", loom_err_msg());
	fabric_destroy(f);
}

static const struct lt_case cases[] = {
	LT_CASE(test_ep_bound_h800),
	LT_CASE(test_ep_bound_gb200),
	LT_CASE(test_alltoall_reproduces_ep_bound),
	LT_CASE(test_alltoall_intra_only),
	LT_CASE(test_alltoall_inter_only),
	LT_CASE(test_alltoall_mixed),
	LT_CASE(test_alltoall_incast_receive_side),
	LT_CASE(test_alltoall_empty_step_is_free),
	LT_CASE(test_allreduce_ring),
	LT_CASE(test_ops_table_dispatch),
	LT_CASE(test_bad_params),
	LT_CASE(test_bad_arguments),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

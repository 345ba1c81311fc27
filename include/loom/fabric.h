/*
 * fabric.h - analytical timing models of the fabric between ranks: what a
 * transfer of the live workload would cost on real hardware, charged next
 * to the measured wall time.
 *
 * A fabric is an ops table (STYLE.md): today the reference H800 cluster of
 * REFERENCE.md §4 ("h800"); the emulated SoW mesh and cluster-scale
 * topologies plug in as further models with the same two questions:
 * how long does this all-to-all take, and this all-reduce.
 *
 * Traffic is given as the full byte matrix of one collective step:
 * bytes[src * ranks + dst] that src sends to dst on one hop (a two-hop
 * dispatch is charged as two steps, inter-node then intra-node). The time of
 * a step is the slowest rank's: per-message latency plus, for each rank, the
 * larger of its NVLink time (intra-node bytes / nvlink_gbps) and its
 * scale-out time (inter-node bytes / (ib_gbps * ib_efficiency)), each
 * direction (send, receive) checked and the worse taken. Bytes a rank
 * sends itself cost nothing.
 */
#ifndef LOOM_FABRIC_H
#define LOOM_FABRIC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* REFERENCE §4 numbers; GB/s are 10^9 bytes per second. */
struct fabric_h800_params {
	int gpus_per_node;     /* 8 */
	double nvlink_gbps;    /* achieved per GPU: 160 */
	double ib_gbps;	       /* per GPU NIC, line rate: 50 (400 Gbps) */
	double ib_efficiency;  /* effective / line: 0.8 (40 GB/s effective) */
	double latency_us;     /* added once per step (message start-up): 2.0 */
};
struct fabric_h800_params fabric_h800_defaults(void);

struct fabric;

struct fabric_ops {
	const char *name;
	/* One all-to-all step: ranks, ranks_per_node, bytes (ranks x ranks). */
	double (*alltoall_us)(const struct fabric *f, int ranks, int ranks_per_node,
			      const uint64_t *bytes);
	/* Ring all-reduce of bytes per rank over ranks (2 (P-1)/P bytes per link). */
	double (*allreduce_us)(const struct fabric *f, int ranks, int ranks_per_node,
			       uint64_t bytes);
	void (*destroy)(struct fabric *f);
};

struct fabric {
	const struct fabric_ops *ops;
	void *priv;
};

/* NULL with loom_err_msg() on bad parameters. */
struct fabric *fabric_h800_create(const struct fabric_h800_params *p);
/* By name ("h800") with that model's defaults; NULL + message if unknown. */
struct fabric *fabric_create(const char *name);
double fabric_alltoall_us(const struct fabric *f, int ranks, int ranks_per_node,
			  const uint64_t *bytes);
double fabric_allreduce_us(const struct fabric *f, int ranks, int ranks_per_node,
			   uint64_t bytes);
void fabric_destroy(struct fabric *f);

/* [P]'s expert-parallel communication bound for decoding, the model's
 * closed form: (dispatch_bytes + combine_bytes per element) * tokens *
 * experts_per_token * hidden / bandwidth. With 1 + 2 bytes, 32 tokens,
 * 9 experts, hidden 7000 and 50 GB/s: 120.96 us. */
double fabric_ep_decode_bound_us(double bytes_per_elem, int tokens, int experts_per_token,
				 int hidden, double gbps);

#ifdef __cplusplus
}
#endif
#endif

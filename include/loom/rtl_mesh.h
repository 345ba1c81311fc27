/*
 * rtl_mesh.h - the System-on-Wafer mesh RTL (rtl-models/mesh), simulated
 * cycle by cycle by Verilator, behind a C API.
 *
 * A K x L mesh of 5-port virtual-channel wormhole routers with credit-based
 * flow control, one network interface (NI) per node.  Node n sits at column
 * x = n % K, row y = n / K.  Software hands messages (destination, 16-bit id,
 * 0..65535 payload bytes) to a node's source queue; each cycle the model's
 * NI takes the next beat of the oldest one when it has room, cuts the
 * message into a head flit and ceil(len / (flit_bits/8)) body flits, and the
 * destination's NI reassembles it; rtl_mesh_poll() returns it with its bytes
 * and cycle stamps.
 *
 * Zero-load latency.  From the cycle a message's header is accepted by the
 * source NI (accept_cycle) to the cycle its last beat leaves the destination
 * NI (deliver_cycle), with h = |dx| + |dy| router-to-router hops and
 * F = 1 + ceil(len / (flit_bits/8)) flits:
 *
 *     deliver - accept = 3 + (h + 1) * router_stages + h * link_stages + (F - 1)
 *
 * 3 cycles in the two NIs (injection queue, NI output register, ejection
 * buffer), router_stages per router (buffer write, allocation + switch into
 * the output register, further pipeline registers), link_stages per link,
 * and F - 1 cycles of serialization behind the head flit.
 *
 * Compile-time parameters (mesh size, VCs, flit width, buffer depths,
 * pipeline and link stages) are fixed per built model: sizes come from the
 * make variable RTL_MESH_CONFIGS (default "4x4 8x8"), the rest from
 * RTL_MESH_VCS etc. in mk/rtl.mk; rtl_mesh_get_info() reports them.  The
 * routing algorithm is chosen at run time.  Two flavours of every size:
 * checked (assertions on; a failed one makes rtl_mesh_step return -EIO) and
 * fast.
 *
 * Threads: an instance is used by one thread at a time; separate instances
 * (each with its own Verilator context) may run in parallel.  Errors:
 * negative errno with a reason in loom_err (include/loom/err.h).
 */
#ifndef LOOM_RTL_MESH_H
#define LOOM_RTL_MESH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rtl_mesh_flavour {
	RTL_MESH_CHECKED = 0,	/* --assert: protocol assertions checked every cycle */
	RTL_MESH_FAST = 1,	/* -O3 --x-assign fast --no-assert */
};

enum rtl_mesh_routing {
	RTL_MESH_XY = 0,		/* dimension order: x first, then y */
	RTL_MESH_WEST_FIRST = 1,	/* adaptive: west first, then the freer of east/north/south */
};

/* Counters of one node (32-bit, wrapping).  Router counters are per output
 * port: add the port (RTL_MESH_PORT_*) to RTL_MESH_CNT_ROUTER_FLITS or
 * RTL_MESH_CNT_ROUTER_STALLS. */
enum rtl_mesh_counter {
	RTL_MESH_CNT_NI_PKTS_IN = 0,	/* packets the NI injected */
	RTL_MESH_CNT_NI_FLITS_IN = 1,
	RTL_MESH_CNT_NI_PKTS_OUT = 2,	/* packets the NI delivered */
	RTL_MESH_CNT_NI_FLITS_OUT = 3,
	RTL_MESH_CNT_NI_STALLS = 4,	/* cycles a queued flit had no credit / VC */
	RTL_MESH_CNT_ROUTER_FLITS = 5,	/* + port: flits sent on that output */
	RTL_MESH_CNT_ROUTER_STALLS = 10,	/* + port: cycles a flit wanted it, none went */
	RTL_MESH_CNT_NUM = 15,
};

enum rtl_mesh_port {
	RTL_MESH_PORT_LOCAL = 0,
	RTL_MESH_PORT_NORTH = 1,	/* y - 1 */
	RTL_MESH_PORT_EAST = 2,		/* x + 1 */
	RTL_MESH_PORT_SOUTH = 3,	/* y + 1 */
	RTL_MESH_PORT_WEST = 4,		/* x - 1 */
};

struct rtl_mesh_params {
	int k, l;			/* columns x rows; 0, 0 = 4 x 4 */
	enum rtl_mesh_flavour flavour;
	enum rtl_mesh_routing routing;
	const char *trace_path;		/* FST waveform file, or NULL (default: off) */
	unsigned max_queued;		/* source-queue messages per node; 0 = 4096 */
};

struct rtl_mesh_info {
	int k, l, nodes;
	int vcs;			/* virtual channels per port */
	int flit_bits;			/* payload bits per flit */
	int buf_depth;			/* flits per input VC buffer */
	int inj_depth;			/* flits in each NI injection queue */
	int router_stages;		/* cycles through a router at zero load */
	int link_stages;		/* cycles on a router-to-router link */
	const char *flavour;		/* "checked" or "fast" */
};

/* One delivered message.  payload is owned by the mesh and valid until the
 * next rtl_mesh_poll() on the same node, rtl_mesh_reset() or destroy. */
struct rtl_mesh_msg {
	int src, dst;
	uint16_t id;
	size_t len_bytes;
	const uint8_t *payload;
	uint64_t inject_cycle;		/* cycle rtl_mesh_inject() was called in */
	uint64_t accept_cycle;		/* cycle the source NI took the header */
	uint64_t deliver_cycle;		/* cycle the last beat left the destination NI */
	int unmatched;			/* 1: no such message was in flight (corrupt or duplicate) */
};

/* Totals since reset, kept by the API (not the RTL). */
struct rtl_mesh_stats {
	uint64_t injected;		/* rtl_mesh_inject() calls that queued a message */
	uint64_t accepted;		/* headers taken by a source NI */
	uint64_t delivered;		/* messages reassembled at their destination */
	uint64_t in_flight;		/* accepted - delivered */
	uint64_t unmatched;		/* delivered messages that were not in flight */
	uint64_t misrouted;		/* delivered at a node that is not their destination */
	uint64_t bad_length;		/* payload beats disagreeing with the header length */
};

/* Create a mesh, out of reset, cycle 0.  params NULL = defaults.  NULL on
 * error: EINVAL for bad params, ENOENT for a size or flavour that is not
 * built (the reason names the make variable), EIO if the trace file cannot
 * be opened, ENOMEM. */
struct rtl_mesh *rtl_mesh_create(const struct rtl_mesh_params *params);
void rtl_mesh_destroy(struct rtl_mesh *m);

/* Sizes built into this program, e.g. "4x4 8x8". */
const char *rtl_mesh_built_configs(void);

int rtl_mesh_get_info(const struct rtl_mesh *m, struct rtl_mesh_info *out);

/* Reset the RTL, drop every queued, in-flight and undelivered message, zero
 * the statistics and the cycle count.  The routing choice is kept. */
int rtl_mesh_reset(struct rtl_mesh *m);

/* Choose the routing algorithm from the next cycle on (packets already
 * routed keep their path). */
int rtl_mesh_set_routing(struct rtl_mesh *m, enum rtl_mesh_routing routing);

/* Advance `cycles` clock cycles.  -EIO if the checked model's assertions
 * failed (the reason names it); the mesh is then unusable until reset. */
int rtl_mesh_step(struct rtl_mesh *m, uint64_t cycles);
uint64_t rtl_mesh_cycles(const struct rtl_mesh *m);

/* Queue a message of len_bytes (0..65535) from node src to node dst
 * (src == dst is allowed: it loops through the local router).  The bytes are
 * copied.  -EINVAL bad node, length or NULL payload with len > 0; -EAGAIN
 * the source queue holds max_queued messages. */
int rtl_mesh_inject(struct rtl_mesh *m, int src, int dst, uint16_t id, const void *payload,
		    size_t len_bytes);

/* Messages waiting in node's source queue (not yet fully taken by the NI). */
size_t rtl_mesh_queued(const struct rtl_mesh *m, int node);

/* Take the oldest message delivered at node: 1 and *out filled, 0 when
 * there is none, -EINVAL for a bad node. */
int rtl_mesh_poll(struct rtl_mesh *m, int node, struct rtl_mesh_msg *out);

int rtl_mesh_get_stats(const struct rtl_mesh *m, struct rtl_mesh_stats *out);

/* Read an RTL counter (enum rtl_mesh_counter, router ones + port). */
int rtl_mesh_counter(struct rtl_mesh *m, int node, int counter, uint32_t *out);

/* ---- synthetic traffic patterns (for `loom noc`, tests, benchmarks) ------- */

enum rtl_mesh_pattern {
	RTL_MESH_UNIFORM = 0,	/* destination uniform over all nodes (self included) */
	RTL_MESH_TRANSPOSE = 1,	/* (x, y) -> (y, x); square meshes only */
	RTL_MESH_BITCOMP = 2,	/* (x, y) -> (K-1-x, L-1-y): node n -> N-1-n */
	RTL_MESH_HOTSPOT = 3,	/* 1/4 of messages to node (K/2, L/2), the rest uniform */
	RTL_MESH_ALLTOALL = 4,	/* message s of node n -> (n + 1 + s mod (N-1)) mod N */
	RTL_MESH_PATTERN_NUM = 5,
};

/* Destination of message number seq from node src of a k x l mesh under
 * pattern p; rnd is a fresh uniform random 64-bit value (used by the random
 * patterns).  -EINVAL for a bad pattern, size or node (transpose: k != l). */
int rtl_mesh_pattern_dst(enum rtl_mesh_pattern p, int k, int l, int src, uint64_t seq, uint64_t rnd);
/* "uniform", "transpose", "bitcomp", "hotspot", "alltoall"; parse returns
 * the enum or -EINVAL. */
const char *rtl_mesh_pattern_name(enum rtl_mesh_pattern p);
int rtl_mesh_pattern_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif

/*
 * fabric.c - analytical fabric timing models behind include/loom/fabric.h:
 * the model table (fabric_create by name), the generic entry points, and the
 * reference H800 cluster of REFERENCE.md §4.
 *
 * The H800 model.  Ranks are grouped into nodes of ranks_per_node (rank r
 * lives on node r / ranks_per_node; a node holds at most gpus_per_node
 * ranks).  One all-to-all step moves bytes[src * ranks + dst]; for each rank
 * and each direction (what it sends, what it receives):
 *   nvlink_us = intra-node bytes / nvlink_gbps            (~160 GB/s achieved)
 *   ib_us     = inter-node bytes / (ib_gbps * ib_efficiency) (50 * 0.8 = 40)
 *   rank_us   = max(nvlink_us, ib_us)   (the two links run in parallel)
 * and the step costs latency_us + the largest rank_us of any rank in either
 * direction.  A rank that moves no bytes to or from another rank pays no
 * latency; a step in which nobody moves anything costs 0.  Bytes a rank
 * sends to itself cost nothing.
 *
 * Two-hop traffic (node-limited dispatch: across the scale-out network once
 * per destination node, then forwarded inside the node) is charged by the
 * caller as two steps, each with its own byte matrix: the inter-node hop,
 * then the intra-node hop; this model does not pipeline the two.
 *
 * All-reduce is a ring over the ranks in rank order: 2 (P - 1) steps, each
 * moving bytes / P per rank to its ring neighbour, so 2 (P - 1) / P * bytes
 * per link; the slowest link (InfiniBand once the ring leaves a node,
 * NVLink otherwise) sets the time, plus latency_us per step.
 *
 * What the model leaves out: congestion and incast in the fat tree, plane
 * imbalance of the multi-plane network (and the intra-node forwarding of
 * cross-plane traffic), the SM budget spent on communication (up to 20 of
 * 132 SMs), overlap with compute, PCIe limits and NIC message-rate limits.
 * It is a bound from bandwidths, not a simulation.
 *
 * Errors: the double-valued entry points return a negative errno (as a
 * double) and set loom_err_msg() on bad arguments; constructors return NULL.
 * Fabrics are immutable after creation and safe to share between threads.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/fabric.h"

/* GB/s are 10^9 bytes/s: bytes / (gbps * 1e3) is microseconds. */
static double bytes_us(double bytes, double gbps) { return bytes / (gbps * 1e3); }

/* ---- the H800 model ------------------------------------------------------- */

struct fabric_h800_params fabric_h800_defaults(void)
{
	return (struct fabric_h800_params){
		.gpus_per_node = 8,
		.nvlink_gbps = 160.0,
		.ib_gbps = 50.0,
		.ib_efficiency = 0.8,
		.latency_us = 2.0,
	};
}

static bool positive_finite(double x) { return isfinite(x) && x > 0; }

static int h800_params_check(const struct fabric_h800_params *p)
{
	if (!p)
		return loom_err_set(EINVAL, "fabric: h800 parameters are NULL");
	if (p->gpus_per_node < 1)
		return loom_err_set(EINVAL, "fabric: h800 gpus_per_node=%d must be >= 1",
				    p->gpus_per_node);
	if (!positive_finite(p->nvlink_gbps))
		return loom_err_set(EINVAL, "fabric: h800 nvlink_gbps=%g must be finite and > 0",
				    p->nvlink_gbps);
	if (!positive_finite(p->ib_gbps))
		return loom_err_set(EINVAL, "fabric: h800 ib_gbps=%g must be finite and > 0",
				    p->ib_gbps);
	if (!positive_finite(p->ib_efficiency) || p->ib_efficiency > 1)
		return loom_err_set(EINVAL, "fabric: h800 ib_efficiency=%g must be in (0, 1]",
				    p->ib_efficiency);
	if (!isfinite(p->latency_us) || p->latency_us < 0)
		return loom_err_set(EINVAL, "fabric: h800 latency_us=%g must be finite and >= 0",
				    p->latency_us);
	return 0;
}

static const struct fabric_h800_params *h800_of(const struct fabric *f)
{
	return (const struct fabric_h800_params *)f->priv;
}

/* Per-rank traffic of one step, one direction, split by link. */
struct h800_load {
	double intra_bytes, inter_bytes;
};

static double h800_load_us(const struct fabric_h800_params *p, const struct h800_load *l)
{
	double nv = bytes_us(l->intra_bytes, p->nvlink_gbps);
	double ib = bytes_us(l->inter_bytes, p->ib_gbps * p->ib_efficiency);

	if (l->intra_bytes == 0 && l->inter_bytes == 0)
		return 0;
	return p->latency_us + (nv > ib ? nv : ib);
}

/* Rank r's send (row) or receive (column) load. */
static struct h800_load h800_rank_load(int r, bool recv, int ranks, int rpn,
				       const uint64_t *bytes)
{
	struct h800_load l = { 0, 0 };

	for (int o = 0; o < ranks; o++) {
		uint64_t b = recv ? bytes[(size_t)o * ranks + r] : bytes[(size_t)r * ranks + o];

		if (o == r)
			continue;
		if (o / rpn == r / rpn)
			l.intra_bytes += (double)b;
		else
			l.inter_bytes += (double)b;
	}
	return l;
}

/* A node holds at most gpus_per_node ranks: 0 or a negative errno. */
static int h800_rpn_check(const struct fabric_h800_params *p, const char *what, int rpn)
{
	if (rpn > p->gpus_per_node)
		return loom_err_set(EINVAL, "fabric: %s: ranks_per_node=%d exceeds the %d GPUs "
				    "of an h800 node", what, rpn, p->gpus_per_node);
	return 0;
}

static double h800_alltoall_us(const struct fabric *f, int ranks, int rpn, const uint64_t *bytes)
{
	const struct fabric_h800_params *p = h800_of(f);
	double worst = 0;
	int err = h800_rpn_check(p, "alltoall", rpn);

	if (err < 0)
		return err;
	for (int r = 0; r < ranks; r++)
		for (int dir = 0; dir < 2; dir++) {
			struct h800_load l = h800_rank_load(r, dir == 1, ranks, rpn, bytes);
			double us = h800_load_us(p, &l);

			if (us > worst)
				worst = us;
		}
	return worst;
}

static double h800_allreduce_us(const struct fabric *f, int ranks, int rpn, uint64_t bytes)
{
	const struct fabric_h800_params *p = h800_of(f);
	double link_gbps = ranks > rpn ? p->ib_gbps * p->ib_efficiency : p->nvlink_gbps;
	double steps = 2.0 * (ranks - 1);
	int err = h800_rpn_check(p, "allreduce", rpn);

	if (err < 0)
		return err;
	if (ranks == 1 || bytes == 0)
		return 0;
	return steps * p->latency_us + bytes_us(steps / ranks * (double)bytes, link_gbps);
}

static void h800_destroy(struct fabric *f)
{
	free(f->priv);
	free(f);
}

static const struct fabric_ops h800_ops = {
	.name = "h800",
	.alltoall_us = h800_alltoall_us,
	.allreduce_us = h800_allreduce_us,
	.destroy = h800_destroy,
};

struct fabric *fabric_h800_create(const struct fabric_h800_params *p)
{
	struct fabric *f;
	struct fabric_h800_params *copy;

	if (h800_params_check(p) < 0)
		return NULL;
	f = malloc(sizeof(*f));
	if (!f)
		goto err_nomem;
	copy = malloc(sizeof(*copy));
	if (!copy)
		goto err_free_fabric;
	*copy = *p;
	f->ops = &h800_ops;
	f->priv = copy;
	return f;

err_free_fabric:
	free(f);
err_nomem:
	loom_err_set(ENOMEM, "fabric: out of memory creating the h800 model");
	return NULL;
}

static struct fabric *h800_create_default(void)
{
	struct fabric_h800_params p = fabric_h800_defaults();

	return fabric_h800_create(&p);
}

/* ---- the model table and generic entry points ----------------------------- */

static const struct fabric_model {
	const char *name;
	struct fabric *(*create_default)(void);
} fabric_models[] = {
	{ "h800", h800_create_default },
};

#define FABRIC_N_MODELS (sizeof(fabric_models) / sizeof(fabric_models[0]))

struct fabric *fabric_create(const char *name)
{
	if (!name) {
		loom_err_set(EINVAL, "fabric: model name is NULL");
		return NULL;
	}
	for (size_t i = 0; i < FABRIC_N_MODELS; i++)
		if (strcmp(fabric_models[i].name, name) == 0)
			return fabric_models[i].create_default();
	loom_err_set(EINVAL, "fabric: unknown model '%s' (known: h800)", name);
	return NULL;
}

/* Shared argument checks of the collectives: 0 or a negative errno. */
static int collective_check(const struct fabric *f, const char *what, int ranks,
			    int ranks_per_node)
{
	if (!f || !f->ops)
		return loom_err_set(EINVAL, "fabric: %s on a NULL fabric", what);
	if (ranks < 1)
		return loom_err_set(EINVAL, "fabric: %s: ranks=%d must be >= 1", what, ranks);
	if (ranks_per_node < 1)
		return loom_err_set(EINVAL, "fabric: %s: ranks_per_node=%d must be >= 1", what,
				    ranks_per_node);
	return 0;
}

double fabric_alltoall_us(const struct fabric *f, int ranks, int ranks_per_node,
			  const uint64_t *bytes)
{
	int err = collective_check(f, "alltoall", ranks, ranks_per_node);

	if (err < 0)
		return err;
	if (!bytes)
		return loom_err_set(EINVAL, "fabric: alltoall: byte matrix is NULL");
	return f->ops->alltoall_us(f, ranks, ranks_per_node, bytes);
}

double fabric_allreduce_us(const struct fabric *f, int ranks, int ranks_per_node, uint64_t bytes)
{
	int err = collective_check(f, "allreduce", ranks, ranks_per_node);

	if (err < 0)
		return err;
	return f->ops->allreduce_us(f, ranks, ranks_per_node, bytes);
}

void fabric_destroy(struct fabric *f)
{
	if (f && f->ops)
		f->ops->destroy(f);
}

double fabric_ep_decode_bound_us(double bytes_per_elem, int tokens, int experts_per_token,
				 int hidden, double gbps)
{
	if (!positive_finite(bytes_per_elem) || tokens < 1 || experts_per_token < 1 ||
	    hidden < 1 || !positive_finite(gbps))
		return loom_err_set(EINVAL, "fabric: ep bound: bytes_per_elem=%g tokens=%d "
				    "experts_per_token=%d hidden=%d gbps=%g must all be > 0",
				    bytes_per_elem, tokens, experts_per_token, hidden, gbps);
	return bytes_us(bytes_per_elem * tokens * (double)experts_per_token * hidden, gbps);
}

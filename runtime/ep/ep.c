/*
 * ep.c - the expert-parallel context: configuration and its checks, the
 * dispatch layout (DeepEP's get_dispatch_layout), the two routing groups,
 * the traffic counters, and the hop mover every collective of ep_xfer.c is
 * built on (two alltoallvs of comm.h, forward or reverse).
 *
 * Traffic counters: every byte this rank hands to comm_alltoallv for
 * another rank (records, rows, and the 8-byte record counts of a
 * dispatch) is charged to that rank, as intra-node when it is on this
 * rank's node (ranks_per_node) and inter-node otherwise; bytes a rank
 * passes to itself are total_local.  Not here: the plans (ep_plan.c), the
 * wire formats (ep_wire.c).
 */
#include <stdlib.h>
#include <string.h>

#include "ep_impl.h"
#include "loom/comm.h"
#include "loom/err.h"
#include "loom/logfmt.h"

/* Rows are indexed with int and (rows * hidden) must fit size_t with room. */
#define EP_HIDDEN_MAX (1 << 24)

void *ep_alloc(size_t n, const char *what)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		loom_err_set(ENOMEM, "ep: %s: out of memory (%zu bytes)", what, n);
	return p;
}

void *ep_scratch(struct ep *ep, enum ep_buf b, size_t n)
{
	if (n > ep->buf_bytes[b] || !ep->buf[b]) {
		free(ep->buf[b]);
		ep->buf_bytes[b] = 0;
		ep->buf[b] = ep_alloc(n, "staging buffer");
		if (!ep->buf[b])
			return NULL;
		ep->buf_bytes[b] = n;
	}
	return ep->buf[b];
}

struct ep_config ep_config_default(int num_experts, int top_k, int hidden)
{
	return (struct ep_config){ .num_experts = num_experts, .top_k = top_k,
				   .hidden = hidden, .ranks_per_node = 0, .two_hop = 0,
				   .dispatch_wire = EP_WIRE_FP8, .combine_wire = EP_WIRE_BF16,
				   .logfmt_bits = 10, .grad_wire = EP_WIRE_BF16 };
}

static int check_wires(const struct ep_config *c)
{
	if (c->dispatch_wire != EP_WIRE_FP8 && c->dispatch_wire != EP_WIRE_BF16 &&
	    c->dispatch_wire != EP_WIRE_F32)
		return loom_err_set(EINVAL, "ep: dispatch_wire %d is not FP8, BF16 or F32",
				    (int)c->dispatch_wire);
	if (c->combine_wire != EP_WIRE_BF16 && c->combine_wire != EP_WIRE_F32 &&
	    c->combine_wire != EP_WIRE_LOGFMT)
		return loom_err_set(EINVAL, "ep: combine_wire %d is not BF16, F32 or LOGFMT",
				    (int)c->combine_wire);
	if (c->combine_wire == EP_WIRE_LOGFMT &&
	    (c->logfmt_bits < LOGFMT_MIN_BITS || c->logfmt_bits > LOGFMT_MAX_BITS))
		return loom_err_set(EINVAL, "ep: logfmt_bits %d is not in %d..%d", c->logfmt_bits,
				    LOGFMT_MIN_BITS, LOGFMT_MAX_BITS);
	if (c->grad_wire != EP_WIRE_BF16 && c->grad_wire != EP_WIRE_F32)
		return loom_err_set(EINVAL, "ep: grad_wire %d is not BF16 or F32",
				    (int)c->grad_wire);
	return 0;
}

int ep_config_check(const struct ep_config *c, int world)
{
	if (!c)
		return loom_err_set(EINVAL, "ep: NULL config");
	if (world < 1)
		return loom_err_set(EINVAL, "ep: world size %d < 1", world);
	if (c->num_experts < 1 || c->num_experts % world != 0)
		return loom_err_set(EINVAL, "ep: num_experts %d is not a positive multiple of "
				    "the world size %d", c->num_experts, world);
	if (c->top_k < 1 || c->top_k > c->num_experts)
		return loom_err_set(EINVAL, "ep: top_k %d is not in 1..num_experts (%d)", c->top_k,
				    c->num_experts);
	if (c->hidden < 1 || c->hidden > EP_HIDDEN_MAX)
		return loom_err_set(EINVAL, "ep: hidden %d is not in 1..%d", c->hidden,
				    EP_HIDDEN_MAX);
	if (c->ranks_per_node < 0 || (c->ranks_per_node > 0 && world % c->ranks_per_node))
		return loom_err_set(EINVAL, "ep: ranks_per_node %d does not divide the world "
				    "size %d", c->ranks_per_node, world);
	if (c->two_hop != 0 && c->two_hop != 1)
		return loom_err_set(EINVAL, "ep: two_hop must be 0 or 1, not %d", c->two_hop);
	if (c->two_hop && (c->ranks_per_node == 0 || c->ranks_per_node >= world))
		return loom_err_set(EINVAL, "ep: two_hop needs 0 < ranks_per_node (%d) < world "
				    "size (%d): one node has no second hop", c->ranks_per_node,
				    world);
	return check_wires(c);
}

/* ---- layout ---------------------------------------------------------------- */

static void layout_zero(int64_t *a, size_t n)
{
	if (a)
		memset(a, 0, n * sizeof(*a));
}

/* One token's counts; in_row (P) is its is_token_in_rank row or NULL.  Ids
 * are distinct but not sorted: a rank or node is new for this token when
 * no earlier slot went there. */
static void layout_token(const int32_t *ids, int k_top, int epr, int rpn, int64_t *per_rank,
			 int64_t *per_node, int64_t *per_expert, uint8_t *in_row)
{
	for (int k = 0; k < k_top; k++) {
		int r, seen_r = 0, seen_n = 0;

		if (ids[k] < 0)
			continue;
		r = ids[k] / epr;
		for (int j = 0; j < k; j++)
			if (ids[j] >= 0) {
				seen_r |= ids[j] / epr == r;
				seen_n |= ids[j] / epr / rpn == r / rpn;
			}
		if (per_expert)
			per_expert[ids[k]]++;
		if (!seen_r && per_rank)
			per_rank[r]++;
		if (!seen_n && per_node)
			per_node[r / rpn]++;
		if (in_row)
			in_row[r] = 1;
	}
}

int ep_layout(const struct ep_config *cfg, int world, int num_tokens, const int32_t *topk_idx,
	      int64_t *per_rank, int64_t *per_node, int64_t *per_expert, uint8_t *in_rank)
{
	int rc = ep_config_check(cfg, world), rpn, k_top;

	if (rc)
		return rc;
	if (num_tokens < 0 || (num_tokens > 0 && !topk_idx))
		return loom_err_set(EINVAL, "ep: layout of %d tokens with topk_idx %p", num_tokens,
				    (const void *)topk_idx);
	rpn = cfg->ranks_per_node ? cfg->ranks_per_node : world;
	k_top = cfg->top_k;
	for (int t = 0; t < num_tokens; t++)
		if ((rc = ep_ids_check(cfg, topk_idx + (size_t)t * k_top, t)))
			return rc;
	layout_zero(per_rank, (size_t)world);
	layout_zero(per_node, (size_t)(world / rpn));
	layout_zero(per_expert, (size_t)cfg->num_experts);
	if (in_rank)
		memset(in_rank, 0, (size_t)num_tokens * (size_t)world);
	for (int t = 0; t < num_tokens; t++)
		layout_token(topk_idx + (size_t)t * k_top, k_top, cfg->num_experts / world, rpn,
			     per_rank, per_node, per_expert,
			     in_rank ? in_rank + (size_t)t * world : NULL);
	return 0;
}

/* ---- context ----------------------------------------------------------------- */

static int ep_groups(struct ep *ep)
{
	int local = ep->rank % ep->rr, q0 = ep->rank / ep->rr;

	ep->plane = ep_alloc((size_t)ep->nn * sizeof(int), "groups");
	ep->node = ep_alloc((size_t)ep->rr * sizeof(int), "groups");
	ep->last_intra = ep_alloc((size_t)ep->world * sizeof(uint64_t), "counters");
	ep->last_inter = ep_alloc((size_t)ep->world * sizeof(uint64_t), "counters");
	if (!ep->plane || !ep->node || !ep->last_intra || !ep->last_inter)
		return -ENOMEM;
	for (int q = 0; q < ep->nn; q++)
		ep->plane[q] = q * ep->rr + local;
	for (int m = 0; m < ep->rr; m++)
		ep->node[m] = q0 * ep->rr + m;
	memset(ep->last_intra, 0, (size_t)ep->world * sizeof(uint64_t));
	memset(ep->last_inter, 0, (size_t)ep->world * sizeof(uint64_t));
	return 0;
}

struct ep *ep_create(struct comm *c, const struct ep_config *cfg)
{
	struct ep *ep;

	if (!c) {
		loom_err_set(EINVAL, "ep: NULL communicator");
		return NULL;
	}
	if (ep_config_check(cfg, comm_size(c)))
		return NULL;
	ep = ep_alloc(sizeof(*ep), "context");
	if (!ep)
		return NULL;
	memset(ep, 0, sizeof(*ep));
	ep->comm = c;
	ep->cfg = *cfg;
	ep->rank = comm_rank(c);
	ep->world = comm_size(c);
	ep->rpn = cfg->ranks_per_node ? cfg->ranks_per_node : ep->world;
	ep->rr = cfg->two_hop ? ep->rpn : 1;
	ep->nn = ep->world / ep->rr;
	ep->experts_per_rank = cfg->num_experts / ep->world;
	ep->meta_bytes = 8 + 8 * (size_t)cfg->top_k;
	ep->disp_bytes = ep_wire_row_bytes(cfg->dispatch_wire, cfg->hidden, cfg->logfmt_bits);
	ep->comb_bytes = ep_wire_row_bytes(cfg->combine_wire, cfg->hidden, cfg->logfmt_bits);
	ep->grad_bytes = ep_wire_row_bytes(cfg->grad_wire, cfg->hidden, cfg->logfmt_bits);
	if (ep_groups(ep)) {
		ep_destroy(ep);
		return NULL;
	}
	return ep;
}

void ep_destroy(struct ep *ep)
{
	if (!ep)
		return;
	free(ep->plane);
	free(ep->node);
	free(ep->last_intra);
	free(ep->last_inter);
	for (int b = 0; b < EP_NBUF; b++)
		free(ep->buf[b]);
	free(ep);
}

int ep_traffic(const struct ep *ep, struct ep_traffic *t)
{
	if (!ep || !t)
		return loom_err_set(EINVAL, "ep: traffic of %p into %p", (const void *)ep,
				    (void *)t);
	t->last_intra = ep->last_intra;
	t->last_inter = ep->last_inter;
	t->total_intra = ep->total_intra;
	t->total_inter = ep->total_inter;
	t->total_local = ep->total_local;
	return 0;
}

/* ---- moving bytes ------------------------------------------------------------- */

static void charge(struct ep *ep, int dst, size_t bytes)
{
	if (dst == ep->rank) {
		ep->total_local += bytes;
	} else if (dst / ep->rpn == ep->rank / ep->rpn) {
		ep->last_intra[dst] += bytes;
		ep->total_intra += bytes;
	} else {
		ep->last_inter[dst] += bytes;
		ep->total_inter += bytes;
	}
}

int ep_a2av(struct ep *ep, const int *ranks, int n, const void *send, const size_t *scount,
	    const size_t *soff, void *recv, const size_t *rcount, const size_t *roff)
{
	struct comm_group g = { .n = n, .ranks = ranks };
	int rc;

	if (n == 1) {
		if (scount[0] != rcount[0])
			return loom_err_set(EPROTO, "ep: rank %d: %zu bytes to itself, %zu expected",
					    ep->rank, scount[0], rcount[0]);
		if (scount[0])
			memmove((uint8_t *)recv + roff[0], (const uint8_t *)send + soff[0],
				scount[0]);
	} else {
		rc = comm_alltoallv(ep->comm, &g, send, scount, soff, recv, rcount, roff);
		if (rc)
			return rc;
	}
	for (int j = 0; j < n; j++)
		charge(ep, ranks[j], scount[j]);
	return 0;
}

/* counts (n), sizes in units of unit bytes -> byte counts and offsets. */
static void to_bytes(const int64_t *off, int n, size_t unit, size_t *count, size_t *boff)
{
	for (int j = 0; j < n; j++) {
		count[j] = (size_t)(off[j + 1] - off[j]) * unit;
		boff[j] = (size_t)off[j] * unit;
	}
}

/* Scratch for the byte counts of one alltoallv over up to n positions. */
static size_t *counts_alloc(int n)
{
	return ep_alloc((size_t)n * 4 * sizeof(size_t), "counts");
}

/* One hop of a move: the group, and the per-position row offsets (n + 1
 * each) of what this rank sends and receives. */
struct hop {
	const int *ranks;
	int n;
	const int64_t *send_off, *recv_off;
};

/* Two hops with a row shuffle between them: hop 1 sends in and receives
 * into scratch; rows go out again in the order pick (npick row indices of
 * what came in); hop 2 sends them and receives into out.  rb bytes per row. */
static int move_two_hops(struct ep *ep, size_t rb, const struct hop *h1, const uint8_t *in,
			 const int32_t *pick, int64_t npick, const struct hop *h2, uint8_t *out)
{
	int n = h1->n > h2->n ? h1->n : h2->n, rc = -ENOMEM;
	size_t *sc = counts_alloc(n), *so, *rcn, *ro;
	uint8_t *mid = ep_scratch(ep, EP_BUF_FWD_IN, (size_t)h1->recv_off[h1->n] * rb);
	uint8_t *next = ep_scratch(ep, EP_BUF_FWD_OUT, (size_t)npick * rb);

	if (!sc || !mid || !next)
		goto out;
	so = sc + n;
	rcn = so + n;
	ro = rcn + n;
	to_bytes(h1->send_off, h1->n, rb, sc, so);
	to_bytes(h1->recv_off, h1->n, rb, rcn, ro);
	rc = ep_a2av(ep, h1->ranks, h1->n, in, sc, so, mid, rcn, ro);
	if (rc)
		goto out;
	for (int64_t i = 0; i < npick; i++)
		memcpy(next + (size_t)i * rb, mid + (size_t)pick[i] * rb, rb);
	to_bytes(h2->send_off, h2->n, rb, sc, so);
	to_bytes(h2->recv_off, h2->n, rb, rcn, ro);
	rc = ep_a2av(ep, h2->ranks, h2->n, next, sc, so, out, rcn, ro);
out:
	free(sc);
	return rc;
}

int ep_move_forward(struct ep *ep, const struct ep_handle *h, size_t rb, const uint8_t *hop1,
		    uint8_t *out)
{
	/* hop 1 across the plane, forwarders pick rows, hop 2 inside the node */
	struct hop plane = { ep->plane, ep->nn, h->a_tok_off, h->b_rec_off };
	struct hop node = { ep->node, ep->rr, h->b_fwd_off, h->c_rec_off };

	return move_two_hops(ep, rb, &plane, hop1, h->b_fwd, h->b_fwd_off[ep->rr], &node, out);
}

int ep_move_reverse(struct ep *ep, const struct ep_handle *h, size_t rb, const uint8_t *in,
		    uint8_t *out)
{
	/* back inside the node, forwarders gather rows, back across the plane */
	struct hop node = { ep->node, ep->rr, h->c_ret_off, h->b_in_off };
	struct hop plane = { ep->plane, ep->nn, h->b_out_off, h->a_ret_off };

	return move_two_hops(ep, rb, &node, in, h->b_gather, h->b_out_off[ep->nn], &plane, out);
}

/*
 * ep.h - expert-parallel dispatch and combine over a communicator
 * (comm.h): DeepEP's role in Loom's live workload.
 *
 * Experts are sharded in contiguous blocks: with P ranks and E experts
 * (E % P == 0) rank r owns experts [r*E/P, (r+1)*E/P). Every rank routes its
 * own T tokens (router in moe.h gives top-k expert ids and gate weights);
 * dispatch sends each token once to every rank that owns one of its
 * experts, in the wire format of the config (FP8 E4M3 with 1x128 FP32
 * scales, BF16 or FP32); the receiving rank expands it to one row per
 * (token, local expert) and hands the rows to the expert computation grouped
 * by local expert. Combine sends every (token, expert) output row back to the
 * token's home rank in BF16 (or LogFMT-n) -- one row per pair, never a
 * partial sum -- and the home rank adds them with the gate weights in slot
 * order k = 0 .. top_k-1 in FP32.
 *
 * Determinism (the contract the workload's tests rely on): the rows a rank
 * receives are ordered by local expert, then by global token id (source
 * rank, then token index); every arithmetic step is per row or per token in
 * a fixed order. With each rank's tokens a contiguous slice of a global
 * batch, every result is bit-identical for any rank count, any
 * ranks_per_node, hop mode and provider, equal to a run with one rank.
 *
 * Node-limited two-hop mode (ranks_per_node = R < P, two_hop = 1): ranks
 * r = node * R + local. A token bound for ranks of another node crosses the
 * scale-out network once per destination node, to the rank of that node
 * with the sender's local index (its "plane"), which forwards it inside the
 * node to the ranks that need it (DeepSeek-V3's pattern). Combine takes the
 * reverse path. Byte counters separate the intra-node and inter-node hops.
 *
 * Backward: dispatch's backward is a combine of gradients
 * (ep_dispatch_backward) and combine's backward a dispatch
 * (ep_combine_backward); both use the handle of the forward dispatch.
 *
 * Not here: the expert computation, the router, overlap with compute.
 * Errors: negative errno with loom_err_msg(); comm failures pass through.
 * Bad arguments are refused before any byte moves (the other ranks then
 * fail at comm's timeout). A non-finite row on a LogFMT combine does not
 * stop the collective: that rank and the token's home rank return -EINVAL
 * and the token's out row is NaN.
 * Concurrency: a context is used by one thread at a time (as its
 * communicator); it keeps staging buffers of the largest call between calls.
 */
#ifndef LOOM_EP_H
#define LOOM_EP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct comm;

enum ep_wire {
	EP_WIRE_FP8 = 0,  /* E4M3 + one FP32 scale per 1x128 tile (quant.h) */
	EP_WIRE_BF16 = 1, /* round to nearest even */
	EP_WIRE_F32 = 2,  /* exact */
	EP_WIRE_LOGFMT = 3, /* LogFMT-n per 1x128 tile (logfmt.h); combine only */
};

struct ep_config {
	int num_experts;     /* E, E % world size == 0 */
	int top_k;	     /* k, 1 <= k <= E; ids in a token's row are distinct */
	int hidden;	     /* d >= 1 */
	int ranks_per_node;  /* R; 0 = all ranks on one node; world % R == 0 */
	int two_hop;	     /* 1: node-limited two-hop routing (needs R < world) */
	enum ep_wire dispatch_wire; /* FP8 (default), BF16 or F32 */
	enum ep_wire combine_wire;  /* BF16 (default), F32 or LOGFMT */
	int logfmt_bits;	    /* n for EP_WIRE_LOGFMT, 8..16 */
	enum ep_wire grad_wire;	    /* gradients in both backward passes: BF16 or F32 */
};

/* Defaults: FP8 dispatch, BF16 combine and gradients, one node, one hop. */
struct ep_config ep_config_default(int num_experts, int top_k, int hidden);
/* 0 if cfg fits a world of world_size ranks, else -EINVAL with the reason. */
int ep_config_check(const struct ep_config *cfg, int world_size);

/* DeepEP's get_dispatch_layout, computed locally from this rank's top-k:
 * tokens_per_rank (P), tokens_per_node (P / R), tokens_per_expert (E) count
 * tokens (a token counts once per rank / node it goes to), is_token_in_rank
 * (T, P) is 0/1. Any output may be NULL. */
int ep_layout(const struct ep_config *cfg, int world_size, int num_tokens,
	      const int32_t *topk_idx, int64_t *tokens_per_rank, int64_t *tokens_per_node,
	      int64_t *tokens_per_expert, uint8_t *is_token_in_rank);

struct ep;
struct ep_handle;

/* NULL on failure (bad config, no memory) with loom_err_msg(). The
 * communicator must outlive the context. */
struct ep *ep_create(struct comm *c, const struct ep_config *cfg);
void ep_destroy(struct ep *ep);

/* What a dispatch delivered to this rank; memory owned by the handle. */
struct ep_recv {
	int num_rows;		      /* (token, local expert) pairs received */
	int num_local_experts;	      /* E / P */
	const int32_t *expert_offset; /* (num_local_experts + 1): rows of local
				       * expert j are [off[j], off[j+1]) */
	const float *x;		      /* (num_rows, hidden): the wire rows, decoded */
	const float *weight;	      /* (num_rows) gate weight of the pair */
	const int32_t *src_rank;      /* (num_rows) home rank of the token */
	const int32_t *src_token;     /* (num_rows) index of the token there */
	const int32_t *src_slot;      /* (num_rows) k slot of the pair */
};

/* Collective. x (T, hidden), topk_idx / topk_weight (T, top_k) of this
 * rank's tokens (T >= 0; an id of -1 marks an unused slot, as in moe.h: no
 * row, its weight ignored). On success *handle holds the routing and recv
 * is filled. */
int ep_dispatch(struct ep *ep, int num_tokens, const float *x, const int32_t *topk_idx,
		const float *topk_weight, struct ep_handle **handle, struct ep_recv *recv);

/* Collective. y (num_rows, hidden): expert outputs in recv's row order.
 * out (T, hidden) = sum over k in slot order of weight[t,k] * wire(y of
 * (t, k)), FP32. The handle keeps the decoded wire rows for the backward. */
int ep_combine(struct ep *ep, struct ep_handle *h, const float *y, float *out);

/* Collective. grad_out (T, hidden) -> grad_y (num_rows, hidden) =
 * weight * wire(grad_out row) on the expert's rank, and grad_weight (T, k)
 * [t, k] = dot(grad_out[t], wire(y of (t, k))) on the home rank (FP32, in
 * element order). grad_weight may be NULL. */
int ep_combine_backward(struct ep *ep, struct ep_handle *h, const float *grad_out,
			float *grad_y, float *grad_weight);

/* Collective. grad_rows (num_rows, hidden): gradients of recv.x. grad_x
 * (T, hidden) = sum over k in slot order of wire(grad row of (t, k)); rows
 * of tokens with no expert anywhere stay 0. */
int ep_dispatch_backward(struct ep *ep, struct ep_handle *h, const float *grad_rows,
			 float *grad_x);

void ep_handle_free(struct ep_handle *h);

/* Bytes this rank sent in the last collective call (dispatch, combine or
 * a backward), to each rank (P entries each), split by hop: intra-node and
 * inter-node. With one hop every byte is on one of the two by the
 * destination's node. Also cumulative totals since ep_create. */
struct ep_traffic {
	const uint64_t *last_intra; /* (P) */
	const uint64_t *last_inter; /* (P) */
	uint64_t total_intra, total_inter;
	uint64_t total_local; /* bytes a rank passed to itself (not on any link) */
};
int ep_traffic(const struct ep *ep, struct ep_traffic *t);

#ifdef __cplusplus
}
#endif
#endif

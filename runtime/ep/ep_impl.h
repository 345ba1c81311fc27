/*
 * ep_impl.h - what the files of runtime/ep share: the context, the routing
 * plan a dispatch leaves in its handle, the wire formats and the hop
 * mover.  Not a public header (include/loom/ep.h is the contract).
 *
 * Routing model.  Every transfer is two hops over two groups of ranks:
 *   hop 1 ("plane"): ranks with this rank's local index on every routing
 *          node, positions = routing node index q;
 *   hop 2 ("node"):  the ranks of this rank's routing node, positions =
 *          local index m.
 * Two-hop mode routes with rr = ranks_per_node; one-hop mode with rr = 1,
 * where every rank is its own routing node: hop 1 reaches the destination
 * rank directly and hop 2 is a copy to itself.  One code path serves both,
 * so their rows meet in the same order and bits.
 *
 * Three roles of every rank (names used in every file):
 *   A  home: sends its tokens (once per destination routing node) and sums
 *      the rows that come back;
 *   B  forwarder: receives hop-1 records and forwards each to the ranks of
 *      its node that own one of the token's experts; on the way back it
 *      gathers rows per source in record order;
 *   C  expert rank: receives hop-2 records, expands them into rows by local
 *      expert, then (src rank, token), and sends rows back per record.
 * Reverse traffic has no metadata: every side derives the order from the
 * forward plan (per record in forward order, the slots served, in slot
 * order).
 */
#ifndef LOOM_RUNTIME_EP_IMPL_H
#define LOOM_RUNTIME_EP_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "loom/ep.h"

/* Staging buffers a context keeps between calls (grow-only), one per role,
 * so a training step does not map and fault in fresh memory every call. */
enum ep_buf {
	EP_BUF_HOME,	 /* home rank: hop-1 send, or rows coming home */
	EP_BUF_FWD_IN,	 /* forwarder: what hop 1 (or hop 2, going back) delivered */
	EP_BUF_FWD_OUT,	 /* forwarder: what it sends on */
	EP_BUF_EXPERT,	 /* expert rank: hop-2 records, or rows going home */
	EP_BUF_ROWS,	 /* decoded rows of a dispatch backward */
	EP_NBUF,
};

struct ep {
	struct comm *comm;
	struct ep_config cfg;
	int rank, world;
	int rpn;	     /* physical ranks per node (cfg, 0 -> world) */
	int rr;		     /* routing ranks per node: rpn (two-hop) or 1 */
	int nn;		     /* routing nodes: world / rr */
	int experts_per_rank; /* E / P */
	int *plane;	     /* (nn) hop-1 group, rank of node q at my local index */
	int *node;	     /* (rr) hop-2 group, ranks of my routing node */
	size_t meta_bytes;   /* dispatch record header: 8 + 8 k */
	size_t disp_bytes;   /* one x row in the dispatch wire */
	size_t comb_bytes;   /* one y row in the combine wire */
	size_t grad_bytes;   /* one gradient row in the grad wire */
	uint64_t *last_intra, *last_inter; /* (P) bytes of the last call */
	uint64_t total_intra, total_inter, total_local;
	void *buf[EP_NBUF];
	size_t buf_bytes[EP_NBUF];
};

/* The plan of one dispatch; offsets are prefix sums over group positions. */
struct ep_handle {
	const struct ep *owner; /* the context that dispatched */
	int num_tokens, top_k, hidden;
	/* A: tokens sent to routing node q: a_tok[a_tok_off[q] .. a_tok_off[q+1]) */
	int64_t *a_tok_off;  /* (nn + 1) */
	int32_t *a_tok;
	int64_t *a_ret_off;  /* (nn + 1) rows coming back from node q */
	int32_t *a_pair_row; /* (T, k) index of the pair's row among them, or -1 */
	float *a_weight;     /* (T, k) copy of topk_weight */
	/* B: hop-1 records received from plane position p */
	int64_t *b_rec_off;  /* (nn + 1) */
	int64_t *b_fwd_off;  /* (rr + 1) records forwarded to node position m */
	int32_t *b_fwd;	     /* hop-1 record index of each forwarded record */
	int64_t *b_in_off;   /* (rr + 1) rows coming back from node position m */
	int64_t *b_out_off;  /* (nn + 1) rows going back to plane position p */
	int32_t *b_gather;   /* row going back -> index among the rows that came in */
	/* C: hop-2 records received from node position m */
	int64_t *c_rec_off;  /* (rr + 1) */
	int64_t *c_ret_off;  /* (rr + 1) rows going back to node position m */
	int32_t *c_gather;   /* row going back -> expert row */
	int32_t *c_row_rec;  /* (num_rows) hop-2 record each expert row came from */
	/* What ep_dispatch returned (ep_recv points here). */
	int num_rows, num_local_experts;
	int32_t *expert_offset; /* (num_local_experts + 1) */
	float *x;		/* (num_rows, hidden) */
	float *weight;
	int32_t *src_rank, *src_token, *src_slot;
	/* The decoded combine rows of this rank's pairs, by a_pair_row, kept for
	 * ep_combine_backward's grad_weight; NULL until ep_combine. */
	float *comb_rows;    /* (a_ret_off[nn], hidden) */
};

/* ---- wire formats (ep_wire.c) ---- */
/* Bytes of one row of hidden elements in wire w, padded to 4 so that rows
 * and records stay 4-byte aligned; 0 for an unknown wire. */
size_t ep_wire_row_bytes(enum ep_wire w, int hidden, int logfmt_bits);
/* x (hidden) -> dst (ep_wire_row_bytes).  Only LogFMT can fail (-EINVAL on
 * NaN/inf): dst then holds a poisoned tile that every decoder rejects. */
int ep_wire_encode(enum ep_wire w, int logfmt_bits, void *dst, const float *x, int hidden);
/* src -> x (hidden); -EINVAL for a rejected LogFMT tile (x is then NaN). */
int ep_wire_decode(enum ep_wire w, int logfmt_bits, float *x, const void *src, int hidden);

/* Dispatch record header: src_rank, src_token, ids (k), weights (k). */
void ep_meta_store(void *dst, int32_t src_rank, int32_t src_token, const int32_t *ids,
		   const float *w, int k);
void ep_meta_load(const void *src, int32_t *src_rank, int32_t *src_token, int32_t *ids,
		  float *w, int k);

/* ---- plans (ep_plan.c) ---- */
int ep_owner(const struct ep *ep, int32_t id);	      /* rank owning expert id */
int ep_route_node(const struct ep *ep, int32_t id); /* its routing node */
/* Checks a token's ids: each in [-1, E), no id twice.  0 or -EINVAL. */
int ep_ids_check(const struct ep_config *cfg, const int32_t *ids, int token);
int ep_plan_home(const struct ep *ep, struct ep_handle *h, const int32_t *topk_idx);
int ep_plan_forward(const struct ep *ep, struct ep_handle *h, const uint8_t *recs);
int ep_plan_expert(const struct ep *ep, struct ep_handle *h, const uint8_t *recs);
void ep_handle_release(struct ep_handle *h);

/* ---- moving bytes (ep.c) ---- */
/* One alltoallv over a group (hop-1 or hop-2, n ranks), counts and
 * offsets in bytes by position; charges the traffic counters.  A group of
 * one is a local copy. */
int ep_a2av(struct ep *ep, const int *ranks, int n, const void *send, const size_t *scount,
	    const size_t *soff, void *recv, const size_t *rcount, const size_t *roff);
/* Records (rec_bytes each) along hop 1 then hop 2, with counts known from
 * the plan: hop1_send holds one record per a_tok entry, in a_tok order;
 * out gets the c_rec_off[rr] records in dispatch's arrival order.  Uses
 * EP_BUF_FWD_IN and EP_BUF_FWD_OUT.  Used by the combine backward. */
int ep_move_forward(struct ep *ep, const struct ep_handle *h, size_t rec_bytes,
		    const uint8_t *hop1_send, uint8_t *out);
/* Rows (row_bytes each) back along hop 2 then hop 1: in holds the
 * c_gather rows in order; out gets a_ret_off[nn] rows, indexed by
 * a_pair_row.  Uses EP_BUF_FWD_IN and EP_BUF_FWD_OUT. */
int ep_move_reverse(struct ep *ep, const struct ep_handle *h, size_t row_bytes,
		    const uint8_t *in, uint8_t *out);
/* malloc of n bytes, never NULL for n == 0; NULL with -ENOMEM's message. */
void *ep_alloc(size_t n, const char *what);
/* The context's buffer b with room for n bytes (contents not kept); NULL
 * with -ENOMEM's message.  Owned by the context: never freed by callers. */
void *ep_scratch(struct ep *ep, enum ep_buf b, size_t n);

#endif

/*
 * ep_plan.c - the routing plan of a dispatch, one function per role (see
 * ep_impl.h): the home rank's (which tokens go to which routing node, where
 * each (token, slot) row comes back), the forwarder's (which hop-1 record
 * goes to which rank of its node, how rows are gathered on the way back)
 * and the expert rank's (the canonical row order: local expert, then
 * source rank, then token index).
 *
 * Records that arrive are checked before they are used as indices (ids in
 * range, a slot served here, no token twice): a bad one is -EPROTO, never
 * an out-of-bounds write.  Not here: bytes on the wire, the transfers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ep_impl.h"
#include "loom/err.h"

int ep_owner(const struct ep *ep, int32_t id)
{
	return id / ep->experts_per_rank;
}

int ep_route_node(const struct ep *ep, int32_t id)
{
	return ep_owner(ep, id) / ep->rr;
}

int ep_ids_check(const struct ep_config *cfg, const int32_t *ids, int token)
{
	for (int k = 0; k < cfg->top_k; k++) {
		if (ids[k] < -1 || ids[k] >= cfg->num_experts)
			return loom_err_set(EINVAL, "ep: token %d slot %d: expert id %d is not in "
					    "[-1, %d)", token, k, ids[k], cfg->num_experts);
		for (int j = 0; j < k; j++)
			if (ids[k] >= 0 && ids[j] == ids[k])
				return loom_err_set(EINVAL, "ep: token %d: expert %d in slots %d "
						    "and %d (ids must be distinct)", token, ids[k],
						    j, k);
	}
	return 0;
}

/* A record's header as it arrived: 0, or -EPROTO naming what is wrong. */
static int record_check(const struct ep *ep, int32_t sr, int32_t st, const int32_t *ids,
			const char *where)
{
	if (sr < 0 || sr >= ep->world || st < 0)
		return loom_err_set(EPROTO, "ep: rank %d: a %s record names src rank %d token "
				    "%d", ep->rank, where, sr, st);
	for (int k = 0; k < ep->cfg.top_k; k++) {
		int dup = 0;

		for (int j = 0; j < k; j++)
			dup |= ids[k] >= 0 && ids[j] == ids[k];
		if (ids[k] < -1 || ids[k] >= ep->cfg.num_experts || dup)
			return loom_err_set(EPROTO, "ep: rank %d: a %s record (token %d of rank "
					    "%d) has expert %d in slot %d%s", ep->rank, where, st,
					    sr, ids[k], k, dup ? " twice" : ", out of range");
	}
	return 0;
}

static int64_t *prefix_alloc(int n, const char *what)
{
	int64_t *off = ep_alloc((size_t)(n + 1) * sizeof(*off), what);

	if (off)
		memset(off, 0, (size_t)(n + 1) * sizeof(*off));
	return off;
}

/* counts in off[1..n] -> offsets off[0..n]. */
static void prefix_sum(int64_t *off, int n)
{
	off[0] = 0;
	for (int i = 0; i < n; i++)
		off[i + 1] += off[i];
}

/* ---- A: home ---------------------------------------------------------------- */

/* Tokens and rows per routing node; a token counts once per node. */
static void home_count(const struct ep *ep, struct ep_handle *h, const int32_t *topk_idx,
		       int32_t *stamp)
{
	int k_top = h->top_k;

	for (int q = 0; q < ep->nn; q++)
		stamp[q] = -1;
	for (int t = 0; t < h->num_tokens; t++)
		for (int k = 0; k < k_top; k++) {
			int32_t id = topk_idx[(size_t)t * k_top + k];
			int q;

			if (id < 0)
				continue;
			q = ep_route_node(ep, id);
			h->a_ret_off[q + 1]++;
			if (stamp[q] != t) {
				stamp[q] = t;
				h->a_tok_off[q + 1]++;
			}
		}
}

int ep_plan_home(const struct ep *ep, struct ep_handle *h, const int32_t *topk_idx)
{
	int k_top = h->top_k, nn = ep->nn, rc = -ENOMEM;
	size_t npairs = (size_t)h->num_tokens * (size_t)k_top;
	int64_t *tcur = ep_alloc((size_t)nn * 2 * sizeof(int64_t), "home plan");
	int32_t *stamp = ep_alloc((size_t)nn * sizeof(int32_t), "home plan");
	int64_t *rcur;

	h->a_tok_off = prefix_alloc(nn, "home plan");
	h->a_ret_off = prefix_alloc(nn, "home plan");
	h->a_pair_row = ep_alloc(npairs * sizeof(int32_t), "home plan");
	if (!h->a_tok_off || !h->a_ret_off || !h->a_pair_row || !stamp || !tcur)
		goto out;
	rcur = tcur + nn;
	home_count(ep, h, topk_idx, stamp);
	prefix_sum(h->a_tok_off, nn);
	prefix_sum(h->a_ret_off, nn);
	if (h->a_ret_off[nn] > INT32_MAX) {
		rc = loom_err_set(EINVAL, "ep: %lld pairs do not fit int32 row indices",
				  (long long)h->a_ret_off[nn]);
		goto out;
	}
	h->a_tok = ep_alloc((size_t)h->a_tok_off[nn] * sizeof(int32_t), "home plan");
	if (!h->a_tok)
		goto out;
	for (int q = 0; q < nn; q++) {
		stamp[q] = -1;
		tcur[q] = h->a_tok_off[q];
		rcur[q] = h->a_ret_off[q];
	}
	/* Rows from node q come back per token (in token order), slots in slot
	 * order: the order the forwarder sends them in (ep_plan_forward). */
	for (int t = 0; t < h->num_tokens; t++)
		for (int k = 0; k < k_top; k++) {
			size_t pk = (size_t)t * k_top + k;
			int32_t id = topk_idx[pk];
			int q;

			h->a_pair_row[pk] = -1;
			if (id < 0)
				continue;
			q = ep_route_node(ep, id);
			h->a_pair_row[pk] = (int32_t)rcur[q]++;
			if (stamp[q] != t) {
				stamp[q] = t;
				h->a_tok[tcur[q]++] = t;
			}
		}
	rc = 0;
out:
	free(stamp);
	free(tcur);
	return rc;
}

/* ---- B: forwarder ------------------------------------------------------------- */

/* The node position of the rank owning id, or -1 when it is another node's. */
static int node_pos(const struct ep *ep, int32_t id)
{
	int o = ep_owner(ep, id);

	return o / ep->rr == ep->rank / ep->rr ? o - ep->node[0] : -1;
}

/* Records and rows per node position; -EPROTO for a record routed here
 * wrongly (ids out of range, or no expert on this routing node). */
static int forward_count(const struct ep *ep, struct ep_handle *h, const uint8_t *recs,
			 int32_t *ids, int32_t *stamp)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	int64_t nrec = h->b_rec_off[ep->nn];

	for (int m = 0; m < ep->rr; m++)
		stamp[m] = -1;
	for (int64_t i = 0; i < nrec; i++) {
		int32_t sr, st;
		int served = 0;

		ep_meta_load(recs + (size_t)i * rb, &sr, &st, ids, NULL, h->top_k);
		if (record_check(ep, sr, st, ids, "hop-1"))
			return -EPROTO;
		for (int k = 0; k < h->top_k; k++) {
			int m = ids[k] >= 0 ? node_pos(ep, ids[k]) : -1;

			if (m < 0)
				continue;
			served++;
			h->b_in_off[m + 1]++;
			if (stamp[m] != (int32_t)i) {
				stamp[m] = (int32_t)i;
				h->b_fwd_off[m + 1]++;
			}
		}
		if (!served)
			return loom_err_set(EPROTO, "ep: rank %d: token %d of rank %d was routed "
					    "to a node that owns none of its experts", ep->rank,
					    st, sr);
	}
	return 0;
}

/* Fill b_fwd and b_gather: rows go back per record (in arrival order), slots
 * in slot order, each found among the rows that came in from its rank. */
static void forward_fill(const struct ep *ep, struct ep_handle *h, const uint8_t *recs,
			 int32_t *ids, int32_t *stamp, int64_t *fcur, int64_t *rcur)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	int64_t nrec = h->b_rec_off[ep->nn], out = 0;
	int p = 0;

	for (int m = 0; m < ep->rr; m++) {
		stamp[m] = -1;
		fcur[m] = h->b_fwd_off[m];
		rcur[m] = h->b_in_off[m];
	}
	h->b_out_off[0] = 0;
	for (int64_t i = 0; i < nrec; i++) {
		int32_t sr, st;

		while (i >= h->b_rec_off[p + 1])
			h->b_out_off[++p] = out;
		ep_meta_load(recs + (size_t)i * rb, &sr, &st, ids, NULL, h->top_k);
		for (int k = 0; k < h->top_k; k++) {
			int m = ids[k] >= 0 ? node_pos(ep, ids[k]) : -1;

			if (m < 0)
				continue;
			h->b_gather[out++] = (int32_t)rcur[m]++;
			if (stamp[m] != (int32_t)i) {
				stamp[m] = (int32_t)i;
				h->b_fwd[fcur[m]++] = (int32_t)i;
			}
		}
	}
	while (p < ep->nn)
		h->b_out_off[++p] = out;
}

int ep_plan_forward(const struct ep *ep, struct ep_handle *h, const uint8_t *recs)
{
	int rr = ep->rr, k_top = h->top_k, rc;
	int32_t *ids, *stamp;
	int64_t *fcur, *rcur;
	void *scratch;

	if (h->b_rec_off[ep->nn] > INT32_MAX)
		return loom_err_set(EINVAL, "ep: %lld records do not fit int32 indices",
				    (long long)h->b_rec_off[ep->nn]);
	h->b_fwd_off = prefix_alloc(rr, "forward plan");
	h->b_in_off = prefix_alloc(rr, "forward plan");
	h->b_out_off = prefix_alloc(ep->nn, "forward plan");
	scratch = ep_alloc((size_t)rr * 2 * sizeof(int64_t) + (size_t)(rr + k_top) * 4,
			   "forward plan");
	if (!h->b_fwd_off || !h->b_in_off || !h->b_out_off || !scratch) {
		free(scratch);
		return -ENOMEM;
	}
	fcur = scratch;
	rcur = fcur + rr;
	stamp = (int32_t *)(void *)(rcur + rr);
	ids = stamp + rr;
	rc = forward_count(ep, h, recs, ids, stamp);
	if (rc)
		goto out;
	prefix_sum(h->b_fwd_off, rr);
	prefix_sum(h->b_in_off, rr);
	rc = h->b_in_off[rr] > INT32_MAX ? loom_err_set(EINVAL, "ep: too many rows") : 0;
	if (rc)
		goto out;
	h->b_fwd = ep_alloc((size_t)h->b_fwd_off[rr] * sizeof(int32_t), "forward plan");
	h->b_gather = ep_alloc((size_t)h->b_in_off[rr] * sizeof(int32_t), "forward plan");
	if (!h->b_fwd || !h->b_gather) {
		rc = -ENOMEM;
		goto out;
	}
	forward_fill(ep, h, recs, ids, stamp, fcur, rcur);
out:
	free(scratch);
	return rc;
}

/* ---- C: expert rank ------------------------------------------------------------- */

struct rec_key {
	int32_t src_rank, src_token, idx;
};

static int rec_key_cmp(const void *a, const void *b)
{
	const struct rec_key *x = a, *y = b;

	if (x->src_rank != y->src_rank)
		return x->src_rank < y->src_rank ? -1 : 1;
	if (x->src_token != y->src_token)
		return x->src_token < y->src_token ? -1 : 1;
	return 0;
}

/* Load and check every hop-2 record's header; rows per local expert go to
 * h->expert_offset[1..]. */
static int expert_scan(const struct ep *ep, struct ep_handle *h, const uint8_t *recs,
		       struct rec_key *keys, int32_t *ids)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	int64_t nrec = h->c_rec_off[ep->rr], rows = 0;
	int base = ep->rank * ep->experts_per_rank;

	for (int64_t i = 0; i < nrec; i++) {
		int32_t sr, st, served = 0;

		ep_meta_load(recs + (size_t)i * rb, &sr, &st, ids, NULL, h->top_k);
		if (record_check(ep, sr, st, ids, "hop-2"))
			return -EPROTO;
		for (int k = 0; k < h->top_k; k++)
			if (ids[k] >= 0 && ep_owner(ep, ids[k]) == ep->rank) {
				h->expert_offset[ids[k] - base + 1]++;
				served++;
			}
		if (!served)
			return loom_err_set(EPROTO, "ep: rank %d: token %d of rank %d arrived but "
					    "none of its experts is here", ep->rank, st, sr);
		rows += served;
		keys[i] = (struct rec_key){ sr, st, (int32_t)i };
	}
	if (rows > INT_MAX)
		return loom_err_set(EINVAL, "ep: %lld rows do not fit an int", (long long)rows);
	h->num_rows = (int)rows;
	return 0;
}

/* Rows in canonical order; row_of (nrec, k) gets each served pair's row. */
static void expert_fill(const struct ep *ep, struct ep_handle *h, const uint8_t *recs,
			const struct rec_key *keys, int32_t *ids, float *w, int32_t *row_of)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	int64_t nrec = h->c_rec_off[ep->rr];
	int base = ep->rank * ep->experts_per_rank, k_top = h->top_k;
	for (int64_t s = 0; s < nrec; s++) {
		int32_t i = keys[s].idx, sr, st;

		ep_meta_load(recs + (size_t)i * rb, &sr, &st, ids, w, k_top);
		for (int k = 0; k < k_top; k++) {
			int32_t row;

			row_of[(size_t)i * k_top + k] = -1;
			if (ids[k] < 0 || ep_owner(ep, ids[k]) != ep->rank)
				continue;
			row = h->expert_offset[ids[k] - base]++; /* advanced; restored below */
			row_of[(size_t)i * k_top + k] = row;
			h->c_row_rec[row] = i;
			h->weight[row] = w[k];
			h->src_rank[row] = sr;
			h->src_token[row] = st;
			h->src_slot[row] = k;
		}
	}
	/* Each offset was advanced to the next expert's start: shift back. */
	for (int j = h->num_local_experts; j > 0; j--)
		h->expert_offset[j] = h->expert_offset[j - 1];
	h->expert_offset[0] = 0;
}

/* c_gather: rows go back per record in arrival order, slots in slot order. */
static void expert_gather(const struct ep *ep, struct ep_handle *h, const int32_t *row_of)
{
	int64_t out = 0, i = 0;

	for (int m = 0; m < ep->rr; m++) {
		h->c_ret_off[m] = out;
		for (; i < h->c_rec_off[m + 1]; i++)
			for (int k = 0; k < h->top_k; k++)
				if (row_of[(size_t)i * h->top_k + k] >= 0)
					h->c_gather[out++] = row_of[(size_t)i * h->top_k + k];
	}
	h->c_ret_off[ep->rr] = out;
}

static int expert_alloc(struct ep_handle *h, int rr)
{
	size_t nr = (size_t)h->num_rows;

	h->c_ret_off = prefix_alloc(rr, "expert plan");
	h->c_gather = ep_alloc(nr * sizeof(int32_t), "expert plan");
	h->c_row_rec = ep_alloc(nr * sizeof(int32_t), "expert plan");
	h->x = ep_alloc(nr * (size_t)h->hidden * sizeof(float), "expert plan");
	h->weight = ep_alloc(nr * sizeof(float), "expert plan");
	h->src_rank = ep_alloc(nr * sizeof(int32_t), "expert plan");
	h->src_token = ep_alloc(nr * sizeof(int32_t), "expert plan");
	h->src_slot = ep_alloc(nr * sizeof(int32_t), "expert plan");
	if (!h->c_ret_off || !h->c_gather || !h->c_row_rec || !h->x || !h->weight ||
	    !h->src_rank || !h->src_token || !h->src_slot)
		return -ENOMEM;
	return 0;
}

int ep_plan_expert(const struct ep *ep, struct ep_handle *h, const uint8_t *recs)
{
	int64_t nrec = h->c_rec_off[ep->rr];
	int k_top = h->top_k, rc;
	struct rec_key *keys;
	int32_t *ids, *row_of = NULL;

	h->num_local_experts = ep->experts_per_rank;
	h->expert_offset = ep_alloc((size_t)(h->num_local_experts + 1) * sizeof(int32_t),
				    "expert plan");
	keys = ep_alloc((size_t)nrec * sizeof(*keys) + (size_t)k_top * 8, "expert plan");
	if (!h->expert_offset || !keys) {
		rc = -ENOMEM;
		goto out;
	}
	memset(h->expert_offset, 0, (size_t)(h->num_local_experts + 1) * sizeof(int32_t));
	ids = (int32_t *)(void *)(keys + nrec);
	rc = expert_scan(ep, h, recs, keys, ids);
	if (rc)
		goto out;
	qsort(keys, (size_t)nrec, sizeof(*keys), rec_key_cmp);
	for (int64_t s = 1; s < nrec; s++)
		if (rec_key_cmp(&keys[s - 1], &keys[s]) == 0) {
			rc = loom_err_set(EPROTO, "ep: rank %d: token %d of rank %d arrived twice",
					  ep->rank, keys[s].src_token, keys[s].src_rank);
			goto out;
		}
	for (int j = 0; j < h->num_local_experts; j++)
		h->expert_offset[j + 1] += h->expert_offset[j];
	row_of = ep_alloc((size_t)nrec * (size_t)k_top * sizeof(int32_t), "expert plan");
	rc = row_of ? expert_alloc(h, ep->rr) : -ENOMEM;
	if (rc)
		goto out;
	expert_fill(ep, h, recs, keys, ids, (float *)(void *)(ids + k_top), row_of);
	expert_gather(ep, h, row_of);
out:
	free(row_of);
	free(keys);
	return rc;
}

void ep_handle_release(struct ep_handle *h)
{
	void *bufs[] = { h->a_tok_off, h->a_tok, h->a_ret_off, h->a_pair_row, h->a_weight,
			 h->b_rec_off, h->b_fwd_off, h->b_fwd, h->b_in_off, h->b_out_off,
			 h->b_gather, h->c_rec_off, h->c_ret_off, h->c_gather, h->c_row_rec,
			 h->expert_offset, h->x, h->weight, h->src_rank, h->src_token,
			 h->src_slot, h->comb_rows };

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		free(bufs[i]);
	free(h);
}

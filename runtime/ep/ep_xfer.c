/*
 * ep_xfer.c - the four collectives of ep.h: dispatch (tokens out, with
 * their metadata, building the plan), combine (rows home, summed in slot
 * order), and their backward passes, which reuse the plan and carry no
 * metadata.  Every sum is per token, over k = 0 .. top_k - 1 in slot
 * order, in FP32 from +0: the bits depend only on the token's own rows.
 *
 * Errors: argument errors are found before any byte moves and return at
 * once (the other ranks then wait until comm's timeout; the arguments are
 * the caller's bug).  A row LogFMT cannot encode (NaN/inf) does not stop
 * the collective: its tile is poisoned, the transfer completes, and both
 * the expert rank and the token's home rank return -EINVAL (the home
 * rank's out row is NaN).  Not here: the plan (ep_plan.c), bytes of a row
 * (ep_wire.c), the hop mover (ep.c).
 */
#include <stdlib.h>
#include <string.h>

#include "ep_impl.h"
#include "loom/err.h"

static void traffic_begin(struct ep *ep)
{
	memset(ep->last_intra, 0, (size_t)ep->world * sizeof(uint64_t));
	memset(ep->last_inter, 0, (size_t)ep->world * sizeof(uint64_t));
}

static int dispatch_args(const struct ep *ep, int T, const float *x, const int32_t *idx,
			 const float *w, struct ep_handle **handle, const struct ep_recv *recv)
{
	if (!ep || !handle || !recv)
		return loom_err_set(EINVAL, "ep: dispatch: NULL context, handle or recv");
	if (T < 0 || (T > 0 && (!x || !idx || !w)))
		return loom_err_set(EINVAL, "ep: dispatch: %d tokens with x %p topk_idx %p "
				    "topk_weight %p", T, (const void *)x, (const void *)idx,
				    (const void *)w);
	for (int t = 0; t < T; t++) {
		int rc = ep_ids_check(&ep->cfg, idx + (size_t)t * ep->cfg.top_k, t);

		if (rc)
			return rc;
	}
	return 0;
}

/* Received record counts (8 bytes per position) -> prefix offsets. */
static int exchange_counts(struct ep *ep, const int *ranks, int n, const int64_t *send_off,
			   int64_t *recv_off)
{
	int64_t *buf = ep_alloc((size_t)n * 2 * sizeof(int64_t), "counts");
	size_t *c = ep_alloc((size_t)n * 2 * sizeof(size_t), "counts");
	int rc = -ENOMEM;

	if (!buf || !c)
		goto out;
	for (int j = 0; j < n; j++) {
		buf[j] = send_off[j + 1] - send_off[j];
		c[j] = sizeof(int64_t);
		c[n + j] = (size_t)j * sizeof(int64_t);
	}
	rc = ep_a2av(ep, ranks, n, buf, c, c + n, buf + n, c, c + n);
	recv_off[0] = 0;
	for (int j = 0; !rc && j < n; j++) {
		if (buf[n + j] < 0 || buf[n + j] > INT32_MAX - recv_off[j])
			rc = loom_err_set(EPROTO, "ep: rank %d: rank %d announced %lld records",
					  ep->rank, ranks[j], (long long)buf[n + j]);
		else
			recv_off[j + 1] = recv_off[j] + buf[n + j];
	}
out:
	free(c);
	free(buf);
	return rc;
}

/* Hop 1 of a dispatch: one record per (token, destination routing node). */
static int dispatch_hop1(struct ep *ep, struct ep_handle *h, const float *x,
			 const int32_t *idx, const float *w, uint8_t **recs)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes, hid = (size_t)h->hidden;
	int k_top = h->top_k, nn = ep->nn, rc = -ENOMEM;
	uint8_t *send = ep_scratch(ep, EP_BUF_HOME, (size_t)h->a_tok_off[nn] * rb);
	size_t *c = ep_alloc((size_t)nn * 4 * sizeof(size_t), "dispatch");

	h->b_rec_off = ep_alloc((size_t)(nn + 1) * sizeof(int64_t), "dispatch");
	if (!send || !c || !h->b_rec_off)
		goto out;
	for (int64_t i = 0; i < h->a_tok_off[nn]; i++) {
		int t = h->a_tok[i];
		uint8_t *d = send + (size_t)i * rb;

		ep_meta_store(d, ep->rank, t, idx + (size_t)t * k_top, w + (size_t)t * k_top, k_top);
		ep_wire_encode(ep->cfg.dispatch_wire, ep->cfg.logfmt_bits, d + ep->meta_bytes,
			       x + (size_t)t * hid, h->hidden);
	}
	rc = exchange_counts(ep, ep->plane, nn, h->a_tok_off, h->b_rec_off);
	if (rc)
		goto out;
	*recs = ep_scratch(ep, EP_BUF_FWD_IN, (size_t)h->b_rec_off[nn] * rb);
	if (!*recs) {
		rc = -ENOMEM;
		goto out;
	}
	for (int q = 0; q < nn; q++) {
		c[q] = (size_t)(h->a_tok_off[q + 1] - h->a_tok_off[q]) * rb;
		c[nn + q] = (size_t)h->a_tok_off[q] * rb;
		c[2 * nn + q] = (size_t)(h->b_rec_off[q + 1] - h->b_rec_off[q]) * rb;
		c[3 * nn + q] = (size_t)h->b_rec_off[q] * rb;
	}
	rc = ep_a2av(ep, ep->plane, nn, send, c, c + nn, *recs, c + 2 * nn, c + 3 * nn);
out:
	free(c);
	return rc;
}

/* Hop 2 of a dispatch: the forwarder's records to the ranks of its node. */
static int dispatch_hop2(struct ep *ep, struct ep_handle *h, const uint8_t *b_recs,
			 uint8_t **recs)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	int rr = ep->rr, rc = -ENOMEM;
	uint8_t *send = ep_scratch(ep, EP_BUF_FWD_OUT, (size_t)h->b_fwd_off[rr] * rb);
	size_t *c = ep_alloc((size_t)rr * 4 * sizeof(size_t), "dispatch");

	h->c_rec_off = ep_alloc((size_t)(rr + 1) * sizeof(int64_t), "dispatch");
	if (!send || !c || !h->c_rec_off)
		goto out;
	for (int64_t i = 0; i < h->b_fwd_off[rr]; i++)
		memcpy(send + (size_t)i * rb, b_recs + (size_t)h->b_fwd[i] * rb, rb);
	rc = exchange_counts(ep, ep->node, rr, h->b_fwd_off, h->c_rec_off);
	if (rc)
		goto out;
	*recs = ep_scratch(ep, EP_BUF_EXPERT, (size_t)h->c_rec_off[rr] * rb);
	if (!*recs) {
		rc = -ENOMEM;
		goto out;
	}
	for (int m = 0; m < rr; m++) {
		c[m] = (size_t)(h->b_fwd_off[m + 1] - h->b_fwd_off[m]) * rb;
		c[rr + m] = (size_t)h->b_fwd_off[m] * rb;
		c[2 * rr + m] = (size_t)(h->c_rec_off[m + 1] - h->c_rec_off[m]) * rb;
		c[3 * rr + m] = (size_t)h->c_rec_off[m] * rb;
	}
	rc = ep_a2av(ep, ep->node, rr, send, c, c + rr, *recs, c + 2 * rr, c + 3 * rr);
out:
	free(c);
	return rc;
}

static void recv_fill(const struct ep_handle *h, struct ep_recv *recv)
{
	recv->num_rows = h->num_rows;
	recv->num_local_experts = h->num_local_experts;
	recv->expert_offset = h->expert_offset;
	recv->x = h->x;
	recv->weight = h->weight;
	recv->src_rank = h->src_rank;
	recv->src_token = h->src_token;
	recv->src_slot = h->src_slot;
}

static struct ep_handle *handle_new(const struct ep *ep, int T, const float *w)
{
	size_t np = (size_t)T * (size_t)ep->cfg.top_k;
	struct ep_handle *h = ep_alloc(sizeof(*h), "handle");

	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->owner = ep;
	h->num_tokens = T;
	h->top_k = ep->cfg.top_k;
	h->hidden = ep->cfg.hidden;
	h->a_weight = ep_alloc(np * sizeof(float), "handle");
	if (!h->a_weight) {
		ep_handle_release(h);
		return NULL;
	}
	if (np)
		memcpy(h->a_weight, w, np * sizeof(float));
	return h;
}

int ep_dispatch(struct ep *ep, int T, const float *x, const int32_t *topk_idx,
		const float *topk_weight, struct ep_handle **handle, struct ep_recv *recv)
{
	int rc = dispatch_args(ep, T, x, topk_idx, topk_weight, handle, recv);
	uint8_t *b_recs = NULL, *c_recs = NULL;
	struct ep_handle *h;
	size_t rb, hid;

	if (rc)
		return rc;
	*handle = NULL;
	traffic_begin(ep);
	h = handle_new(ep, T, topk_weight);
	if (!h)
		return -ENOMEM;
	rc = ep_plan_home(ep, h, topk_idx);
	rc = rc ? rc : dispatch_hop1(ep, h, x, topk_idx, topk_weight, &b_recs);
	rc = rc ? rc : ep_plan_forward(ep, h, b_recs);
	rc = rc ? rc : dispatch_hop2(ep, h, b_recs, &c_recs);
	rc = rc ? rc : ep_plan_expert(ep, h, c_recs);
	if (rc)
		goto err;
	rb = ep->meta_bytes + ep->disp_bytes;
	hid = (size_t)h->hidden;
	for (int r = 0; r < h->num_rows; r++)
		ep_wire_decode(ep->cfg.dispatch_wire, ep->cfg.logfmt_bits, h->x + (size_t)r * hid,
			       c_recs + (size_t)h->c_row_rec[r] * rb + ep->meta_bytes, h->hidden);
	recv_fill(h, recv);
	*handle = h;
	return 0;
err:
	ep_handle_release(h);
	return rc;
}

/* ---- combine ------------------------------------------------------------------ */

static int handle_check(const struct ep *ep, const struct ep_handle *h, const char *op)
{
	if (!ep || !h)
		return loom_err_set(EINVAL, "ep: %s: NULL context or handle", op);
	if (h->owner != ep)
		return loom_err_set(EINVAL, "ep: %s: the handle belongs to another context", op);
	return 0;
}

/* out (T, hidden) = sum over slots of weight * row, rows (pairs, hidden). */
static void home_sum(const struct ep_handle *h, const float *rows, int weighted, float *out)
{
	size_t hid = (size_t)h->hidden;

	for (int t = 0; t < h->num_tokens; t++) {
		float *o = out + (size_t)t * hid;

		memset(o, 0, hid * sizeof(float));
		for (int k = 0; k < h->top_k; k++) {
			size_t pk = (size_t)t * h->top_k + k;
			const float *v;
			float wk = h->a_weight[pk];

			if (h->a_pair_row[pk] < 0)
				continue;
			v = rows + (size_t)h->a_pair_row[pk] * hid;
			if (weighted)
				for (size_t j = 0; j < hid; j++)
					o[j] = o[j] + wk * v[j];
			else
				for (size_t j = 0; j < hid; j++)
					o[j] = o[j] + v[j];
		}
	}
}

/* Expert rows (num_rows, hidden) -> wire rows in c_gather order, then home;
 * rows (a_ret_off[nn], hidden) get them decoded.  0 or the error that
 * stopped the transfer; *row_err gets a row's encode or decode error. */
static int rows_home(struct ep *ep, const struct ep_handle *h, const float *src,
		     enum ep_wire wire, size_t wb, float *rows, int *row_err)
{
	size_t hid = (size_t)h->hidden, nback = (size_t)h->a_ret_off[ep->nn];
	uint8_t *send = ep_scratch(ep, EP_BUF_EXPERT, (size_t)h->num_rows * wb);
	uint8_t *back = ep_scratch(ep, EP_BUF_HOME, nback * wb);
	int rc = -ENOMEM, bad = 0;

	if (!send || !back)
		goto out;
	for (int i = 0; i < h->num_rows; i++) {
		int e = ep_wire_encode(wire, ep->cfg.logfmt_bits, send + (size_t)i * wb,
				       src + (size_t)h->c_gather[i] * hid, h->hidden);
		bad = bad ? bad : e;
	}
	rc = ep_move_reverse(ep, h, wb, send, back);
	if (rc)
		goto out;
	for (size_t i = 0; i < nback; i++) {
		int e = ep_wire_decode(wire, ep->cfg.logfmt_bits, rows + i * hid, back + i * wb,
				       h->hidden);
		bad = bad ? bad : e;
	}
out:
	*row_err = bad;
	return rc;
}

int ep_combine(struct ep *ep, struct ep_handle *h, const float *y, float *out)
{
	int rc = handle_check(ep, h, "combine"), row_err;

	if (rc)
		return rc;
	if ((h->num_rows > 0 && !y) || (h->num_tokens > 0 && !out))
		return loom_err_set(EINVAL, "ep: combine: y %p (%d rows), out %p (%d tokens)",
				    (const void *)y, h->num_rows, (void *)out, h->num_tokens);
	traffic_begin(ep);
	if (!h->comb_rows) {
		h->comb_rows = ep_alloc((size_t)h->a_ret_off[ep->nn] * (size_t)h->hidden *
					sizeof(float), "combine");
		if (!h->comb_rows)
			return -ENOMEM;
	}
	rc = rows_home(ep, h, y, ep->cfg.combine_wire, ep->comb_bytes, h->comb_rows, &row_err);
	if (rc) {
		/* The rows are incomplete: no grad_weight from them. */
		free(h->comb_rows);
		h->comb_rows = NULL;
		return rc;
	}
	home_sum(h, h->comb_rows, 1, out); /* poisoned rows sum to NaN */
	return row_err;
}

int ep_dispatch_backward(struct ep *ep, struct ep_handle *h, const float *grad_rows,
			 float *grad_x)
{
	int rc = handle_check(ep, h, "dispatch backward"), row_err;
	float *rows;

	if (rc)
		return rc;
	if ((h->num_rows > 0 && !grad_rows) || (h->num_tokens > 0 && !grad_x))
		return loom_err_set(EINVAL, "ep: dispatch backward: grad_rows %p (%d rows), "
				    "grad_x %p (%d tokens)", (const void *)grad_rows,
				    h->num_rows, (void *)grad_x, h->num_tokens);
	traffic_begin(ep);
	rows = ep_scratch(ep, EP_BUF_ROWS,
			  (size_t)h->a_ret_off[ep->nn] * (size_t)h->hidden * sizeof(float));
	if (!rows)
		return -ENOMEM;
	rc = rows_home(ep, h, grad_rows, ep->cfg.grad_wire, ep->grad_bytes, rows, &row_err);
	rc = rc ? rc : row_err; /* BF16 and F32 rows cannot fail */
	if (!rc)
		home_sum(h, rows, 0, grad_x);
	return rc;
}

/* ---- combine backward ---------------------------------------------------------- */

/* grad_weight (T, k) [t, k] = dot(grad_out[t], combine row of (t, k)). */
static void grad_weight_compute(const struct ep_handle *h, const float *g, float *gw)
{
	size_t hid = (size_t)h->hidden;

	for (int t = 0; t < h->num_tokens; t++)
		for (int k = 0; k < h->top_k; k++) {
			size_t pk = (size_t)t * h->top_k + k;
			const float *v, *gt = g + (size_t)t * hid;
			float acc = 0.0f;

			if (h->a_pair_row[pk] >= 0) {
				v = h->comb_rows + (size_t)h->a_pair_row[pk] * hid;
				for (size_t j = 0; j < hid; j++)
					acc = acc + gt[j] * v[j];
			}
			gw[pk] = acc;
		}
}

int ep_combine_backward(struct ep *ep, struct ep_handle *h, const float *grad_out,
			float *grad_y, float *grad_weight)
{
	int rc = handle_check(ep, h, "combine backward");
	size_t gb, hid;
	uint8_t *send = NULL, *recs = NULL;

	if (rc)
		return rc;
	if ((h->num_rows > 0 && !grad_y) || (h->num_tokens > 0 && !grad_out))
		return loom_err_set(EINVAL, "ep: combine backward: grad_out %p (%d tokens), "
				    "grad_y %p (%d rows)", (const void *)grad_out,
				    h->num_tokens, (void *)grad_y, h->num_rows);
	if (grad_weight && !h->comb_rows)
		return loom_err_set(EINVAL, "ep: combine backward: grad_weight needs the rows of "
				    "an ep_combine on this handle");
	traffic_begin(ep);
	gb = ep->grad_bytes;
	hid = (size_t)h->hidden;
	send = ep_scratch(ep, EP_BUF_HOME, (size_t)h->a_tok_off[ep->nn] * gb);
	recs = ep_scratch(ep, EP_BUF_EXPERT, (size_t)h->c_rec_off[ep->rr] * gb);
	rc = send && recs ? 0 : -ENOMEM;
	for (int64_t i = 0; !rc && i < h->a_tok_off[ep->nn]; i++)
		ep_wire_encode(ep->cfg.grad_wire, 0, send + (size_t)i * gb,
			       grad_out + (size_t)h->a_tok[i] * hid, h->hidden);
	rc = rc ? rc : ep_move_forward(ep, h, gb, send, recs);
	for (int r = 0; !rc && r < h->num_rows; r++) {
		float *gy = grad_y + (size_t)r * hid, w = h->weight[r];

		ep_wire_decode(ep->cfg.grad_wire, 0, gy, recs + (size_t)h->c_row_rec[r] * gb,
			       h->hidden);
		for (size_t j = 0; j < hid; j++)
			gy[j] = w * gy[j];
	}
	if (!rc && grad_weight)
		grad_weight_compute(h, grad_out, grad_weight);
	return rc;
}

void ep_handle_free(struct ep_handle *h)
{
	if (h)
		ep_handle_release(h);
}

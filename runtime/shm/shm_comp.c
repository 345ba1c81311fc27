/*
 * shm_comp.c - the shm completer: consumes the peer responder's records
 * (ACK, READ data, atomic result, NAK, RNR NAK) and completes send WQEs in
 * order, and runs the requester's timers: the ACK timeout with retry_cnt,
 * the RNR wait with rnr_retry, and the peer liveness check.
 *
 * As IBA 9.7.5.1 (completer), with these choices:
 *   - A response for PSN p implicitly acknowledges every SEND/WRITE before
 *     p (IBA 9.7.5.1.3: an ACK, READ response or atomic ACK covers earlier
 *     requests); ACKs are cumulative.
 *   - ACK timeout: nothing is ever lost here, so an expiry retransmits
 *     nothing; it spends one retry.  "Progress" that restarts the timer is a
 *     response or the peer consuming our request ring.  After retry_cnt + 1
 *     expiries without progress: RETRY_EXC_ERR (7 is 7, never infinite).
 *   - A dead peer process (robust lock, shm_seg.c) or a destroyed or reset
 *     peer QP ends the outstanding WQE at once with RETRY_EXC_ERR
 *     (vendor_err SHM_VERR_PEER_GONE), whatever the timeout, even 0.
 *   - RNR NAK: wait the responder's RNR timer, resend from that WQE;
 *     rnr_retry 7 = infinite (IBA).  PSN sequence NAK: resend from the PSN
 *     the responder expects, spending one retry.
 * Every error completion moves the QP to ERR, flushing the rest.
 *
 * Concurrency: under the QP's tp_qp.lock; the only consumer of rx_resp.
 */
#include "shm.h"

#define SHM_LIVE_US 1000 /* peer liveness check period */

enum comp_state {
	COMP_GET,	/* next response record */
	COMP_ACK,
	COMP_READ,
	COMP_ATOMIC,
	COMP_NAK,
	COMP_RNR,
	COMP_BAD,	/* a response that matches no outstanding WQE */
	COMP_CONSUME,
	COMP_DONE,
};

static const char *const comp_state_names[] = {
	[COMP_GET] = "GET", [COMP_ACK] = "ACK", [COMP_READ] = "READ", [COMP_ATOMIC] = "ATOMIC",
	[COMP_NAK] = "NAK", [COMP_RNR] = "RNR", [COMP_BAD] = "BAD", [COMP_CONSUME] = "CONSUME",
	[COMP_DONE] = "DONE",
};

struct comp_ctx {
	struct shm_qp *q;
	struct shm_rec rec;
	uint64_t at; /* ring position of rec */
	uint64_t now;
	bool consumed;
	uint64_t budget; /* ring bytes this run may still consume */
};

/* ---- helpers ------------------------------------------------------------------ */

static bool is_rd_atomic(const struct tp_send_wqe *w)
{
	return w->wr.opcode >= TP_WR_RDMA_READ;
}

/* Complete the SQ head with an error and move the QP to ERR. */
static void comp_fail(struct shm_qp *q, enum tp_wc_status s, uint32_t vendor_err)
{
	tp_sq_complete(&q->qp, s, vendor_err);
	tp_qp_to_err(&q->qp);
}

static void comp_ok(struct shm_qp *q)
{
	tp_sq_complete(&q->qp, TP_WC_SUCCESS, 0);
	q->req.retry_left = q->qp.attr.retry_cnt;
	q->req.rnr_left = q->qp.attr.rnr_retry;
}

/* Complete sent SEND/WRITE WQEs with PSN < psn (or <= psn when inclusive).
 * False when a READ/atomic stands in the way: the responder skipped it. */
static bool ack_through(struct shm_qp *q, uint32_t psn, bool inclusive)
{
	struct tp_qp *qp = &q->qp;

	while (qp->sq.head != q->req.next && qp->state != TP_QPS_ERR) {
		struct tp_send_wqe *w = tp_sq_wqe(qp, qp->sq.head);
		int d = tp_psn_cmp(shm_psn(q, qp->sq.head), psn);

		if (d > 0 || (d == 0 && !inclusive) || w->status != TP_WC_SUCCESS)
			return true;
		if (is_rd_atomic(w))
			return false;
		comp_ok(q);
	}
	return true;
}

/* Whether the requester has sent (part of) WQE i. */
static bool sent(const struct shm_qp *q, uint64_t i)
{
	return i < q->req.next || (i == q->req.next && q->req.next_off);
}

/* The SQ head, when it is (partly) sent and has PSN psn, after the
 * implicit ACK of what precedes psn.  A NAK may come for a message still
 * being streamed. */
static struct tp_send_wqe *head_for(struct shm_qp *q, uint32_t psn)
{
	struct tp_qp *qp = &q->qp;

	if (!ack_through(q, psn, false) || qp->state == TP_QPS_ERR ||
	    !sent(q, qp->sq.head) || shm_psn(q, qp->sq.head) != psn)
		return NULL;
	return tp_sq_wqe(qp, qp->sq.head);
}

/* Go back to the SQ head under a new epoch (after an RNR or PSN NAK). */
static void rewind(struct shm_qp *q)
{
	q->req.epoch++;
	q->req.next = q->qp.sq.head;
	q->req.next_off = 0;
	q->req.rd_atomic = 0;
	q->req.rd_ref_head = q->req.rd_ref_tail = 0;
	q->req.read_off = 0;
	q->req.halted = false;
}

/* Whether the oldest outstanding READ/atomic went by reference (shm_req.c);
 * pop removes it. */
static bool rd_ref_front(const struct shm_qp *q)
{
	return q->req.rd_ref_head != q->req.rd_ref_tail && q->req.rd_ref[q->req.rd_ref_head];
}

static void rd_ref_pop(struct shm_qp *q)
{
	if (q->req.rd_ref_head != q->req.rd_ref_tail)
		q->req.rd_ref_head++;
}

/* ---- states ------------------------------------------------------------------- */

static enum comp_state comp_get(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;

	if (q->qp.state == TP_QPS_ERR || c->budget == 0 || !shm_rx_peek(&q->rx_resp, &c->rec))
		return COMP_DONE;
	c->at = q->rx_resp.cons;
	q->req.last_progress_us = c->now;
	if (!shm_rx_valid(&q->rx_resp, &c->rec)) {
		tp_count(q->qp.dev, TP_CNT(malformed), 1);
		return COMP_BAD;
	}
	tp_count(q->qp.dev, TP_CNT(rx_packets), 1);
	switch (c->rec.kind) {
	case SHM_RESP_ACK:
		return COMP_ACK;
	case SHM_RESP_READ:
		return COMP_READ;
	case SHM_RESP_ATOMIC:
		return COMP_ATOMIC;
	case SHM_RESP_NAK:
		return COMP_NAK;
	case SHM_RESP_RNR:
		return COMP_RNR;
	}
	tp_count(q->qp.dev, TP_CNT(malformed), 1);
	return COMP_BAD;
}

static enum comp_state comp_ack(struct comp_ctx *c)
{
	return ack_through(c->q, c->rec.psn, true) ? COMP_CONSUME : COMP_BAD;
}

/* READ response data: copied out of the ring, or (SHM_F_REF) already
 * written into our shared block by the responder, which only a READ sent
 * by reference may receive.  The lkeys are checked either way, so a
 * deregistered target fails alike. */
static enum comp_state comp_read(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_send_wqe *w = head_for(q, c->rec.psn);
	bool ref = c->rec.flags & SHM_F_REF;
	uint64_t n = shm_rec_span(&c->rec);
	enum tp_wc_status s;

	if (!w || w->wr.opcode != TP_WR_RDMA_READ || c->rec.offset != q->req.read_off ||
	    c->rec.offset + n > w->length || ref != rd_ref_front(q))
		return COMP_BAD;
	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check_range(q->qp.pd, w->sge, w->wr.num_sge, c->rec.offset, n,
			       TP_ACCESS_LOCAL_WRITE);
	if (s == TP_WC_SUCCESS && !ref)
		shm_rx_get_sge(&q->rx_resp, c->at + SHM_REC, w->sge, w->wr.num_sge, c->rec.offset,
			       n);
	tp_mr_read_unlock(q->qp.dev);
	tp_count(q->qp.dev, TP_CNT(rx_bytes), n);
	if (s != TP_WC_SUCCESS) {
		comp_fail(q, TP_WC_LOC_PROT_ERR, 0);
		return COMP_CONSUME;
	}
	q->req.read_off += n;
	if (c->rec.flags & SHM_F_LAST) {
		if (q->req.read_off != w->length)
			return COMP_BAD;
		q->req.read_off = 0;
		q->req.rd_atomic--;
		rd_ref_pop(q);
		comp_ok(q);
	}
	return COMP_CONSUME;
}

static enum comp_state comp_atomic(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_send_wqe *w = head_for(q, c->rec.psn);
	enum tp_wc_status s;

	if (!w || w->wr.opcode < TP_WR_ATOMIC_CMP_SWP)
		return COMP_BAD;
	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check(q->qp.pd, w->sge, 1, TP_ACCESS_LOCAL_WRITE);
	if (s == TP_WC_SUCCESS)
		tp_sge_copy_in(w->sge, 1, 0, &c->rec.a, sizeof(c->rec.a));
	tp_mr_read_unlock(q->qp.dev);
	q->req.rd_atomic--;
	rd_ref_pop(q);
	if (s != TP_WC_SUCCESS)
		comp_fail(q, TP_WC_LOC_PROT_ERR, 0);
	else
		comp_ok(q);
	return COMP_CONSUME;
}

static enum tp_wc_status nak_status(uint8_t syndrome)
{
	switch (syndrome) {
	case SHM_AETH_INV_REQ:
		return TP_WC_REM_INV_REQ_ERR;
	case SHM_AETH_REM_ACCESS:
		return TP_WC_REM_ACCESS_ERR;
	case SHM_AETH_REM_OP:
		return TP_WC_REM_OP_ERR;
	}
	return TP_WC_BAD_RESP_ERR;
}

/* Whether psn is past every PSN we have sent: a PSN sequence NAK naming it
 * means the two ends disagree on the start PSNs, and acknowledges nothing. */
static bool psn_unsent(const struct shm_qp *q, uint32_t psn)
{
	uint64_t end = q->req.next + (q->req.next_off ? 1 : 0);

	return tp_psn_cmp(psn, shm_psn(q, end)) > 0;
}

static enum comp_state comp_nak(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;
	bool match = false;

	if (c->rec.syndrome != SHM_AETH_PSN_SEQ || !psn_unsent(q, c->rec.psn))
		match = head_for(q, c->rec.psn) != NULL;

	if (q->qp.state == TP_QPS_ERR)
		return COMP_CONSUME;
	if (c->rec.syndrome != SHM_AETH_PSN_SEQ) {
		if (!match)
			return COMP_BAD;
		comp_fail(q, nak_status(c->rec.syndrome), c->rec.syndrome);
		return COMP_CONSUME;
	}
	/* A PSN sequence NAK may name a PSN we never sent (the two ends
	 * disagree on sq_psn/rq_psn): resend from the head all the same. */
	if (!sent(q, q->qp.sq.head))
		return COMP_CONSUME;
	tp_count(q->qp.dev, TP_CNT(naks_received), 1);
	if (q->req.retry_left-- <= 0) {
		comp_fail(q, TP_WC_RETRY_EXC_ERR, SHM_AETH_PSN_SEQ);
		return COMP_CONSUME;
	}
	tp_count(q->qp.dev, TP_CNT(retransmits), 1);
	rewind(q);
	return COMP_CONSUME;
}

static enum comp_state comp_rnr(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;

	if (!head_for(q, c->rec.psn))
		return COMP_BAD;
	tp_count(q->qp.dev, TP_CNT(rnr_naks_received), 1);
	/* IBA 9.7.5.2.8: rnr_retry 7 means retry forever. */
	if (q->qp.attr.rnr_retry != 7 && q->req.rnr_left-- <= 0) {
		comp_fail(q, TP_WC_RNR_RETRY_EXC_ERR, c->rec.syndrome);
		return COMP_CONSUME;
	}
	rewind(q);
	q->req.rnr_until_us = c->now + tp_rnr_timer_us(c->rec.syndrome & 31);
	return COMP_CONSUME;
}

/* A response the protocol does not allow here: IBA's "bad response". */
static enum comp_state comp_bad(struct comp_ctx *c)
{
	struct shm_qp *q = c->q;

	if (q->qp.sq.head != q->qp.sq.tail)
		tp_sq_complete(&q->qp, TP_WC_BAD_RESP_ERR, c->rec.kind);
	tp_qp_to_err(&q->qp);
	return COMP_DONE; /* the record may be garbage: leave it */
}

static enum comp_state comp_consume(struct comp_ctx *c)
{
	uint64_t bytes = shm_rec_bytes(c->rec.len);

	c->budget = bytes < c->budget ? c->budget - bytes : 0;
	shm_rx_consume(&c->q->rx_resp, bytes);
	c->consumed = true;
	return COMP_GET;
}

/* ---- timers ------------------------------------------------------------------------ */

static void lower(uint64_t *deadline, uint64_t t)
{
	if (t < *deadline)
		*deadline = t;
}

static void comp_timers(struct shm_qp *q, uint64_t now, uint64_t *deadline)
{
	struct shm_requester *r = &q->req;
	uint64_t t, cons;

	if (q->qp.sq.head == q->qp.sq.tail || now < r->rnr_until_us) {
		r->last_progress_us = now; /* idle or waiting on purpose */
		if (now < r->rnr_until_us)
			lower(deadline, r->rnr_until_us);
		return;
	}
	if (q->peer_conn) {
		cons = atomic_load_explicit(&q->tx_req.ctl->cons, memory_order_relaxed);
		if (cons != r->seen_cons) {
			r->seen_cons = cons;
			r->last_progress_us = now;
		}
	}
	if (now >= r->next_live_us) {
		r->next_live_us = now + SHM_LIVE_US;
		if (!shm_peer_alive(q->peer)) {
			comp_fail(q, TP_WC_RETRY_EXC_ERR, SHM_VERR_PEER_GONE);
			return;
		}
	}
	lower(deadline, r->next_live_us);
	t = tp_ack_timeout_us(q->qp.attr.timeout);
	if (!t)
		return;
	if (now - r->last_progress_us >= t) {
		tp_count(q->qp.dev, TP_CNT(timeouts), 1);
		if (r->retry_left-- <= 0) {
			comp_fail(q, TP_WC_RETRY_EXC_ERR, 0);
			return;
		}
		r->last_progress_us = now;
	}
	lower(deadline, r->last_progress_us + t);
}

/* ---- entry points ------------------------------------------------------------------- */

bool shm_comp_run(struct shm_qp *q, uint64_t now, uint64_t *deadline)
{
	struct comp_ctx c = { .q = q, .now = now, .budget = q->rx_resp.size };
	enum comp_state s = COMP_GET;

	while (s != COMP_DONE) {
		SHM_TRACE("qp %u comp %s", q->qp.qp_num, comp_state_names[s]);
		switch (s) {
		case COMP_GET: s = comp_get(&c); break;
		case COMP_ACK: s = comp_ack(&c); break;
		case COMP_READ: s = comp_read(&c); break;
		case COMP_ATOMIC: s = comp_atomic(&c); break;
		case COMP_NAK: s = comp_nak(&c); break;
		case COMP_RNR: s = comp_rnr(&c); break;
		case COMP_BAD: s = comp_bad(&c); break;
		case COMP_CONSUME: s = comp_consume(&c); break;
		case COMP_DONE: break;
		}
	}
	if (c.consumed)
		shm_rx_done(&q->rx_resp, q->peer->hdr);
	if (q->qp.state != TP_QPS_ERR)
		comp_timers(q, now, deadline);
	return c.consumed;
}

/* Report a WQE that failed its local checks once it reaches the SQ head
 * (every WQE before it has completed). */
bool shm_comp_local_errors(struct shm_qp *q)
{
	struct tp_qp *qp = &q->qp;
	struct tp_send_wqe *w;

	if (qp->state == TP_QPS_ERR || qp->sq.head == q->req.next)
		return false;
	w = tp_sq_wqe(qp, qp->sq.head);
	if (w->status == TP_WC_SUCCESS)
		return false;
	comp_fail(q, w->status, w->vendor_err);
	return true;
}

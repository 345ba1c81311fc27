/*
 * udp_comp.c - the udp completer (IBA 9.7.5.1, as Linux rxe_comp.c): takes
 * the responses (ACK, NAKs, READ responses, atomic ACKs) and completes send
 * WQEs in order; runs the retransmission timer and the RNR wait.
 *
 *   - Acknowledgement is cumulative (9.7.5.1.3): a response for PSN p also
 *     acknowledges every SEND/WRITE packet before p; ACKs of part of a long
 *     message move the oldest unacknowledged PSN (comp_psn) inside it.
 *   - READ responses are placed in PSN order into the WQE's local SGEs
 *     (LOCAL_WRITE checked again at placement); a response past the one
 *     expected, or any response past an outstanding READ/atomic's range,
 *     means responses were lost: an implied NAK (9.7.5.1.5), answered by
 *     going back and asking again for what is missing.
 *   - PSN sequence error NAK (9.7.5.1.4): go back to the PSN the responder
 *     expects (go-back-N); it spends one retry.  RNR NAK: wait the timer the
 *     responder named (IBA table 45), then resend; rnr_retry 7 is infinite
 *     (9.7.5.2.8).  Invalid request / remote access / remote operational NAK
 *     -> REM_INV_REQ_ERR / REM_ACCESS_ERR / REM_OP_ERR on the WQE, QP to ERR.
 *   - Retransmission timer (9.7.6.1.3): while anything is unacknowledged,
 *     4.096 us * 2^timeout after the last progress; each expiry spends one
 *     retry and goes back.  retry_cnt is finite: 7 means 7 retries (the 8th
 *     expiry ends in RETRY_EXC_ERR, the QP in ERR and the rest flushed);
 *     Linux rxe's "7 = infinite" is the RNR rule, not this one.
 *   - After a timeout the requester resends one packet and lets cwnd grow
 *     by what each ACK acknowledges, back to `window` (TCP's slow start).
 *     IBA leaves the pacing of retries to the requester; without it a
 *     late peer (a software NIC on a loaded host) gets a full window of
 *     duplicates per expiry, falls further behind, and a healthy
 *     connection dies of congestion collapse.
 *   - The retry budget is restored whenever comp_psn moves forward (IBA
 *     speaks of consecutive retries without progress), the RNR budget when
 *     a WQE completes.  A NAK or implied NAK naming the PSN the requester
 *     went back to less than renak_us / 2 ago is old news (the other late
 *     responses of one gap, a duplicated NAK): it spends nothing.
 * A response that names a PSN outside anything outstanding is a stale
 * duplicate and dropped; one whose opcode does not fit the WQE it names
 * ends the QP with BAD_RESP_ERR.
 *
 * Concurrency: progress thread only, under the QP's tp_qp.lock.
 */
#include "udp.h"

enum comp_state {
	COMP_GET_WQE,	/* the oldest outstanding WQE */
	COMP_CHECK_PSN,
	COMP_CHECK_ACK,	/* which response, for which WQE */
	COMP_READ,
	COMP_ATOMIC,
	COMP_ACK,	/* ACK of SEND/WRITE packets */
	COMP_COMPLETE,
	COMP_RETRY,	/* implied NAK */
	COMP_RNR,
	COMP_NAK_SEQ,
	COMP_NAK,	/* fatal NAK */
	COMP_BAD_RESP,
	COMP_DONE,
};

static const char *const comp_state_names[] = {
	[COMP_GET_WQE] = "GET_WQE", [COMP_CHECK_PSN] = "CHECK_PSN",
	[COMP_CHECK_ACK] = "CHECK_ACK", [COMP_READ] = "READ", [COMP_ATOMIC] = "ATOMIC",
	[COMP_ACK] = "ACK", [COMP_COMPLETE] = "COMPLETE", [COMP_RETRY] = "RETRY",
	[COMP_RNR] = "RNR", [COMP_NAK_SEQ] = "NAK_SEQ", [COMP_NAK] = "NAK",
	[COMP_BAD_RESP] = "BAD_RESP", [COMP_DONE] = "DONE",
};

struct comp_ctx {
	struct udp_qp *q;
	const struct roce_pkt *pkt;
	uint64_t now;
	struct tp_send_wqe *w;
	const struct udp_wqe_ext *x;
	uint32_t last_psn; /* of w */
};

static bool is_rd_atomic(const struct tp_send_wqe *w)
{
	return w->wr.opcode >= TP_WR_RDMA_READ;
}

/* ---- helpers --------------------------------------------------------------------- */

static bool outstanding(const struct udp_qp *q)
{
	return q->sq.comp_psn != q->sq.psn || q->sq.rd_atomic;
}

/* comp_psn moves to psn (forward only): progress restarts the timer and
 * restores the retry budget. */
static void comp_advance(struct udp_qp *q, uint32_t psn, uint64_t now)
{
	uint64_t to = tp_ack_timeout_us(q->qp.attr.timeout);
	int32_t acked = roce_psn_diff(psn, q->sq.comp_psn);

	if (acked <= 0)
		return;
	q->sq.comp_psn = psn;
	q->sq.cwnd = q->sq.cwnd + (uint32_t)acked < q->ud->window ? q->sq.cwnd + (uint32_t)acked
								   : q->ud->window;
	q->sq.retry_left = q->qp.attr.retry_cnt;
	q->sq.rexmit_at_us = outstanding(q) && to ? now + to : UDP_NO_DEADLINE;
}

/* Whether psn was ever sent (it precedes psn_max). */
static bool was_sent(const struct udp_qp *q, uint32_t psn)
{
	return roce_psn_diff(psn, q->sq.psn_max) < 0;
}

/* Whether the WQE at the SQ head was ever (at least partly) sent: its PSNs
 * are assigned and the first went out.  A go-back does not undo that: the
 * responses to what was sent before it still count. */
static bool head_sent(const struct udp_qp *q)
{
	uint64_t head = q->qp.sq.head;
	const struct udp_wqe_ext *x = &q->ext[head % q->qp.sq.size];

	return head != q->qp.sq.tail && x->sq_index == head && was_sent(q, x->first_psn);
}

/* Whether the requester went back to comp_psn less than renak_us / 2 ago:
 * a NAK or an implied NAK naming it again is old news (the other late
 * responses of the same gap, a duplicated NAK) and must not spend another
 * retry.  Half the responder's repeat interval, so its timed repeat of a
 * NAK always gets through. */
static bool recently_back(const struct udp_qp *q, uint64_t now)
{
	return q->sq.back_at_us && q->sq.back_psn == q->sq.comp_psn &&
	       now - q->sq.back_at_us < q->ud->renak_us / 2;
}

/* Spend one retry and go back; false when none was left (QP in ERR). */
static bool comp_retry_spend(struct udp_qp *q, uint32_t vendor_err, uint64_t now)
{
	if (q->sq.retry_left <= 0) {
		udp_qp_fail(q, TP_WC_RETRY_EXC_ERR, vendor_err);
		return false;
	}
	q->sq.retry_left--;
	udp_req_go_back(q, now);
	q->sq.kick = true;
	return true;
}

static enum tp_wc_status nak_status(unsigned code)
{
	switch (code) {
	case ROCE_NAK_INVALID_REQ:
		return TP_WC_REM_INV_REQ_ERR;
	case ROCE_NAK_REMOTE_ACCESS:
		return TP_WC_REM_ACCESS_ERR;
	case ROCE_NAK_REMOTE_OP:
		return TP_WC_REM_OP_ERR;
	}
	return TP_WC_BAD_RESP_ERR;
}

/* ---- states ------------------------------------------------------------------------ */

static enum comp_state comp_get_wqe(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct tp_qp *qp = &q->qp;

	if (qp->state == TP_QPS_ERR || !head_sent(q))
		return COMP_DONE; /* nothing outstanding: a stale response */
	c->w = tp_sq_wqe(qp, qp->sq.head);
	c->x = udp_ext(q, qp->sq.head);
	c->last_psn = udp_psn_add(c->x->first_psn, c->x->npsn - 1);
	return COMP_CHECK_PSN;
}

static enum comp_state comp_check_psn(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	uint32_t p = c->pkt->bth.psn;

	if (roce_psn_diff(p, c->last_psn) > 0) {
		/* A response to a later request: this WQE is acknowledged if
		 * it is a SEND/WRITE sent whole, else its response was lost. */
		if (is_rd_atomic(c->w))
			return COMP_RETRY;
		return was_sent(q, c->last_psn) ? COMP_COMPLETE : COMP_DONE;
	}
	if (roce_psn_diff(p, q->sq.comp_psn) < 0)
		return COMP_DONE; /* duplicate or stale */
	return COMP_CHECK_ACK;
}

static enum comp_state comp_check_ack(struct comp_ctx *c)
{
	const struct roce_pkt *pkt = c->pkt;
	enum tp_wr_opcode op = c->w->wr.opcode;
	uint8_t syn = pkt->aeth.syndrome;

	switch (pkt->op->kind) {
	case ROCE_KIND_READ_RESP:
		if (op != TP_WR_RDMA_READ)
			return COMP_BAD_RESP;
		return pkt->bth.psn == c->q->sq.comp_psn ? COMP_READ : COMP_RETRY;
	case ROCE_KIND_ATOMIC_ACK:
		return op >= TP_WR_ATOMIC_CMP_SWP ? COMP_ATOMIC : COMP_BAD_RESP;
	case ROCE_KIND_ACK:
		break;
	default:
		return COMP_BAD_RESP;
	}
	switch (roce_aeth_syn_type(syn)) {
	case ROCE_AETH_ACK:
		/* An ACK inside a READ/atomic's range says nothing about it. */
		return is_rd_atomic(c->w) ? COMP_DONE : COMP_ACK;
	case ROCE_AETH_RNR_NAK:
		return COMP_RNR;
	case ROCE_AETH_NAK:
		return roce_aeth_syn_value(syn) == ROCE_NAK_PSN_SEQ ? COMP_NAK_SEQ : COMP_NAK;
	default:
		return COMP_BAD_RESP;
	}
}

/* Place one READ response (its PSN is comp_psn). */
static enum comp_state comp_read(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	uint32_t idx = (uint32_t)roce_psn_diff(pkt->bth.psn, c->x->first_psn);
	uint64_t off = (uint64_t)idx * q->mtu;
	bool last = pkt->bth.psn == c->last_psn, ends = pkt->op->flags & ROCE_OPF_END;
	enum tp_wc_status s;

	if (last != ends || off + pkt->payload_bytes != (last ? c->w->length : off + q->mtu))
		return COMP_BAD_RESP;
	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check_range(q->qp.pd, c->w->sge, c->w->wr.num_sge, off, pkt->payload_bytes,
			       TP_ACCESS_LOCAL_WRITE);
	if (s == TP_WC_SUCCESS)
		tp_sge_copy_in(c->w->sge, c->w->wr.num_sge, off, pkt->payload, pkt->payload_bytes);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS) {
		udp_qp_fail(q, TP_WC_LOC_PROT_ERR, 0);
		return COMP_DONE;
	}
	comp_advance(q, udp_psn_add(pkt->bth.psn, 1), c->now);
	return last ? COMP_COMPLETE : COMP_DONE;
}

static enum comp_state comp_atomic(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	uint64_t orig = c->pkt->atomic_ack.orig;
	enum tp_wc_status s;

	if (c->pkt->bth.psn != c->x->first_psn)
		return COMP_BAD_RESP;
	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check(q->qp.pd, c->w->sge, 1, TP_ACCESS_LOCAL_WRITE);
	if (s == TP_WC_SUCCESS)
		tp_sge_copy_in(c->w->sge, 1, 0, &orig, sizeof(orig));
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS) {
		udp_qp_fail(q, TP_WC_LOC_PROT_ERR, 0);
		return COMP_DONE;
	}
	comp_advance(q, udp_psn_add(c->pkt->bth.psn, 1), c->now);
	return COMP_COMPLETE;
}

/* ACK of SEND/WRITE packets up to and including psn. */
static enum comp_state comp_ack(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	uint32_t p = c->pkt->bth.psn;

	comp_advance(q, udp_psn_add(p, 1), c->now);
	/* The last packet acknowledged: the message arrived whole, even when
	 * the requester went back and has not resent it yet. */
	return p == c->last_psn && was_sent(q, p) ? COMP_COMPLETE : COMP_DONE;
}

/* Complete the head WQE; look at the next one for a cumulative ACK. */
static enum comp_state comp_complete(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;

	if (is_rd_atomic(c->w) && q->sq.next > q->qp.sq.head && q->sq.rd_atomic)
		q->sq.rd_atomic--; /* counted only while sent since the last go-back */
	comp_advance(q, udp_psn_add(c->last_psn, 1), c->now);
	q->sq.rnr_left = q->qp.attr.rnr_retry;
	tp_sq_complete(&q->qp, TP_WC_SUCCESS, 0);
	q->sq.kick = true; /* room in the window, or a FENCE may pass */
	if (!outstanding(q))
		q->sq.rexmit_at_us = UDP_NO_DEADLINE;
	return COMP_GET_WQE;
}

/* Responses were lost (a later one came): ask again for what is missing. */
static enum comp_state comp_retry(struct comp_ctx *c)
{
	if (!recently_back(c->q, c->now))
		comp_retry_spend(c->q, 0, c->now);
	return COMP_DONE;
}

static enum comp_state comp_rnr(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;
	uint8_t syn = c->pkt->aeth.syndrome;

	tp_count(q->qp.dev, TP_CNT(rnr_naks_received), 1);
	comp_advance(q, c->pkt->bth.psn, c->now); /* the NAK acknowledges what precedes it */
	if (q->qp.attr.rnr_retry != 7) {
		if (q->sq.rnr_left <= 0) {
			udp_qp_fail(q, TP_WC_RNR_RETRY_EXC_ERR, syn);
			return COMP_DONE;
		}
		q->sq.rnr_left--;
	}
	udp_req_go_back(q, c->now);
	q->sq.rexmit_at_us = UDP_NO_DEADLINE; /* waiting on purpose */
	q->sq.rnr_until_us = c->now + roce_rnr_timer_usec(roce_aeth_syn_value(syn));
	return COMP_DONE;
}

static enum comp_state comp_nak_seq(struct comp_ctx *c)
{
	struct udp_qp *q = c->q;

	tp_count(q->qp.dev, TP_CNT(naks_received), 1);
	comp_advance(q, c->pkt->bth.psn, c->now);
	if (!recently_back(q, c->now))
		comp_retry_spend(q, c->pkt->aeth.syndrome, c->now);
	return COMP_DONE;
}

static enum comp_state comp_nak(struct comp_ctx *c)
{
	uint8_t syn = c->pkt->aeth.syndrome;

	udp_qp_fail(c->q, nak_status(roce_aeth_syn_value(syn)), syn);
	return COMP_DONE;
}

static enum comp_state comp_bad_resp(struct comp_ctx *c)
{
	udp_qp_fail(c->q, TP_WC_BAD_RESP_ERR, c->pkt->bth.opcode);
	return COMP_DONE;
}

/* ---- entry points ------------------------------------------------------------------------ */

/* Late responses to what was sent before a go-back may acknowledge past
 * where the requester now stands: move it up to comp_psn (never resend
 * what is acknowledged, never restart a WQE at a PSN inside it). */
static void comp_sync_requester(struct udp_qp *q)
{
	struct tp_qp *qp = &q->qp;

	if (q->sq.next < qp->sq.head ||
	    (q->sq.next == qp->sq.head && q->sq.next_off &&
	     roce_psn_diff(q->sq.comp_psn, q->sq.psn) > 0)) {
		udp_req_reposition(q);
		q->sq.kick = true;
	}
}

static enum comp_state comp_step(struct comp_ctx *c, enum comp_state s)
{
	switch (s) {
	case COMP_GET_WQE: return comp_get_wqe(c);
	case COMP_CHECK_PSN: return comp_check_psn(c);
	case COMP_CHECK_ACK: return comp_check_ack(c);
	case COMP_READ: return comp_read(c);
	case COMP_ATOMIC: return comp_atomic(c);
	case COMP_ACK: return comp_ack(c);
	case COMP_COMPLETE: return comp_complete(c);
	case COMP_RETRY: return comp_retry(c);
	case COMP_RNR: return comp_rnr(c);
	case COMP_NAK_SEQ: return comp_nak_seq(c);
	case COMP_NAK: return comp_nak(c);
	case COMP_BAD_RESP: return comp_bad_resp(c);
	case COMP_DONE: break;
	}
	return COMP_DONE;
}

void udp_comp_rx(struct udp_qp *q, const struct roce_pkt *pkt, uint64_t now)
{
	struct comp_ctx c = { .q = q, .pkt = pkt, .now = now };
	enum comp_state s = COMP_GET_WQE;

	while (s != COMP_DONE) {
		UDP_TRACE(q->ud, "qp %u comp %s %s psn %u comp_psn %u", q->qp.qp_num,
			  comp_state_names[s], pkt->op->name, pkt->bth.psn, q->sq.comp_psn);
		s = comp_step(&c, s);
	}
	if (q->qp.state != TP_QPS_ERR)
		comp_sync_requester(q);
}

void udp_comp_timer(struct udp_qp *q, uint64_t now)
{
	if (q->sq.rnr_until_us && now >= q->sq.rnr_until_us) {
		q->sq.rnr_until_us = 0; /* the requester resends from where it went back */
		q->sq.kick = true;
	}
	if (q->sq.rexmit_at_us > now)
		return;
	if (!outstanding(q)) {
		q->sq.rexmit_at_us = UDP_NO_DEADLINE;
		return;
	}
	tp_count(q->qp.dev, TP_CNT(timeouts), 1);
	UDP_TRACE(q->ud, "qp %u retransmission timeout at psn %u, %d retries left", q->qp.qp_num,
		  q->sq.comp_psn, q->sq.retry_left);
	q->sq.cwnd = 1; /* the peer is late or the path lossy: probe, then grow */
	comp_retry_spend(q, 0, now);
}

bool udp_comp_local_errors(struct udp_qp *q)
{
	struct tp_qp *qp = &q->qp;
	struct tp_send_wqe *w;

	if (qp->state == TP_QPS_ERR || qp->sq.head == qp->sq.tail || qp->sq.head != q->sq.next)
		return false;
	w = tp_sq_wqe(qp, qp->sq.head);
	if (w->status == TP_WC_SUCCESS || q->sq.next_off)
		return false;
	udp_qp_fail(q, w->status, w->vendor_err);
	return true;
}

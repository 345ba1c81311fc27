/*
 * udp_req.c - the udp requester (IBA 9.7.4, as Linux rxe_req.c): turns the
 * SQ's WQEs, in order, into request packets.
 *
 *   - Segmentation (9.7.4.1.1): SEND and RDMA WRITE messages are cut into
 *     path-MTU packets, FIRST / MIDDLE / LAST or ONLY; the RETH rides on a
 *     WRITE's first packet, ImmDt on the last; an empty message is one ONLY
 *     packet with no payload.  Each packet takes the next 24-bit PSN.
 *   - RDMA READ (9.7.4.1.4): one request that reserves one PSN per response
 *     packet (ceil(len / MTU), at least 1); the next request's PSN follows
 *     that range.  A READ retried from the middle asks for the rest only: its
 *     RETH names the first missing byte, its PSN the first missing response.
 *   - Atomics (9.7.4.1.5): one CMP_SWAP or FETCH_ADD packet, one PSN.
 *   - AckReq (9.7.4.1.2) on the last packet of every message and on every
 *     ackreq_every-th packet, so long messages are acknowledged as they go.
 *   - Limits: at most `window` PSNs unacknowledged (as rxe's
 *     RXE_MAX_UNACKED_PSNS: a UDP socket has no link-level flow control, so
 *     an unbounded burst would overflow the receiver's socket buffer), and
 *     after a retransmission timeout fewer (cwnd, see udp_comp.c); the
 *     packet that fills the window asks for an ACK;
 *     max_rd_atomic READ/atomics outstanding (9.7.4.1.4.1); FENCE waits for
 *     earlier READ/atomics; nothing is sent during an RNR wait; a QP whose
 *     rate is limited (DCQCN, udp_cc.c) sends a packet only when its
 *     pacing allows.
 *   - Local checks (lkeys and, for READ and atomics, LOCAL_WRITE, IBA
 *     10.6.3.1) when a WQE starts; a failure halts the requester at that WQE
 *     and it completes with LOC_PROT_ERR once the WQEs before it are done.
 * Going back (udp_req_go_back, on a PSN sequence NAK, an RNR NAK, an implied
 * NAK or a timeout, 9.7.5.1.3-4) restarts from the oldest unacknowledged
 * PSN, inside its WQE: go-back-N.
 *
 * SQD (IBA 10.3.1 / 11.2.5): the requester finishes the message in
 * progress, resends what a go-back asks for among the WQEs already
 * started, and starts no new one; udp_qp_sq_draining says whether anything
 * sent is still unacknowledged (tp_qp_query's sq_draining; there is no
 * asynchronous "SQ drained" event in this API).
 *
 * Concurrency: runs under the QP's tp_qp.lock, from tp_post_send (the
 * kick) or from the progress thread; the MR table's read lock is held from
 * a key check to the end of the sendmsg (sendmmsg of a batch of a
 * message's packets) that reads the memory.
 */
#include "udp.h"

enum req_state {
	REQ_NEXT_WQE,	 /* pick the WQE at sq.next */
	REQ_CHECK_LIMITS,
	REQ_START_WQE,	 /* PSN range, local checks */
	REQ_SEND_DATA,	 /* one SEND/WRITE packet */
	REQ_SEND_READ,
	REQ_SEND_ATOMIC,
	REQ_HALT,	 /* a local error: stop before this WQE */
	REQ_DONE,
};

static const char *const req_state_names[] = {
	[REQ_NEXT_WQE] = "NEXT_WQE", [REQ_CHECK_LIMITS] = "CHECK_LIMITS",
	[REQ_START_WQE] = "START_WQE", [REQ_SEND_DATA] = "SEND_DATA",
	[REQ_SEND_READ] = "SEND_READ", [REQ_SEND_ATOMIC] = "SEND_ATOMIC", [REQ_HALT] = "HALT",
	[REQ_DONE] = "DONE",
};

struct req_ctx {
	struct udp_qp *q;
	struct tp_send_wqe *w;
	struct udp_wqe_ext *x;
	uint64_t now;
};

static bool is_rd_atomic(enum tp_wr_opcode op)
{
	return op >= TP_WR_RDMA_READ;
}

/* ---- packet helpers ------------------------------------------------------------- */

/* The BTH every request of q carries. */
static struct roce_pkt req_pkt(struct udp_qp *q, uint8_t opcode, bool ack_req)
{
	struct roce_pkt p = { 0 };

	p.bth.opcode = opcode;
	p.bth.pkey = q->ud->pkey;
	p.bth.dqpn = q->qp.attr.dest_qp_num;
	p.bth.psn = q->sq.psn;
	p.bth.ack_req = ack_req;
	return p;
}

/* Bookkeeping after sending PSNs [psn, psn + n): retransmission count,
 * the highest PSN sent, the retransmission timer. */
static void req_sent(struct udp_qp *q, uint32_t n, uint64_t now)
{
	uint32_t end = udp_psn_add(q->sq.psn, n);
	uint64_t to = tp_ack_timeout_us(q->qp.attr.timeout);

	if (roce_psn_diff(q->sq.psn, q->sq.psn_max) < 0)
		tp_count(q->qp.dev, TP_CNT(retransmits), 1);
	if (roce_psn_diff(end, q->sq.psn_max) > 0)
		q->sq.psn_max = end;
	q->sq.psn = end;
	if (q->sq.rexmit_at_us == UDP_NO_DEADLINE && to)
		q->sq.rexmit_at_us = now + to;
}

static uint8_t data_opcode(enum tp_wr_opcode op, bool first, bool last)
{
	bool send = op == TP_WR_SEND || op == TP_WR_SEND_WITH_IMM;
	bool imm = op == TP_WR_SEND_WITH_IMM || op == TP_WR_RDMA_WRITE_WITH_IMM;
	uint8_t base = send ? ROCE_OP_SEND_FIRST : ROCE_OP_WRITE_FIRST;

	if (first && last)
		return base + (imm ? 5 : 4); /* ONLY / ONLY_IMM */
	if (first)
		return base;
	return last ? base + (imm ? 3 : 2) : base + 1; /* LAST(_IMM) / MIDDLE */
}

/* The iovec of message bytes [off, off + len) of w; the count. */
static int data_iov(const struct tp_send_wqe *w, uint32_t off, uint32_t len, struct iovec *iov)
{
	int n = 0;

	if (w->wr.flags & TP_SEND_INLINE) {
		iov[0] = (struct iovec){ .iov_base = w->inl + off, .iov_len = len };
		return len ? 1 : 0;
	}
	for (int i = 0; i < w->wr.num_sge && len; i++) {
		uint32_t take;

		if (off >= w->sge[i].length) {
			off -= w->sge[i].length;
			continue;
		}
		take = w->sge[i].length - off < len ? w->sge[i].length - off : len;
		iov[n++] = (struct iovec){ .iov_base = (void *)(uintptr_t)(w->sge[i].addr + off),
					   .iov_len = take };
		len -= take;
		off = 0;
	}
	return n;
}

/* ---- states ------------------------------------------------------------------------ */

static enum req_state req_next_wqe(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	struct tp_qp *qp = &q->qp;
	/* SQD: finish what was started (the message in progress, and any
	 * already-sent WQE being sent again after a go-back), start nothing */
	bool draining = qp->state == TP_QPS_SQD &&
			(q->sq.next_off || roce_psn_diff(q->sq.psn, q->sq.psn_max) < 0);

	if ((qp->state != TP_QPS_RTS && !draining) || q->sq.halted ||
	    q->sq.next == qp->sq.tail || q->sq.rnr_until_us)
		return REQ_DONE;
	c->w = tp_sq_wqe(qp, q->sq.next);
	c->x = udp_ext(q, q->sq.next);
	return REQ_CHECK_LIMITS;
}

static enum req_state req_check_limits(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	enum tp_wr_opcode op = c->w->wr.opcode;
	bool continuing = q->sq.next_off && !is_rd_atomic(op);

	if (roce_psn_diff(q->sq.psn, q->sq.comp_psn) >= (int32_t)q->sq.cwnd)
		return REQ_DONE;
	if (!udp_cc_may_send(q, c->now))
		return REQ_DONE; /* paced: the progress thread resumes at cc.wait_us */
	if (continuing)
		return REQ_SEND_DATA;
	if ((c->w->wr.flags & TP_SEND_FENCE) && q->sq.rd_atomic)
		return REQ_DONE;
	if (is_rd_atomic(op) && q->sq.rd_atomic >= q->qp.attr.max_rd_atomic)
		return REQ_DONE;
	return REQ_START_WQE;
}

/* Local checks of a WQE about to be sent for the first time. */
static enum tp_wc_status req_local_check(struct udp_qp *q, const struct tp_send_wqe *w)
{
	enum tp_wc_status s;

	if (w->wr.flags & TP_SEND_INLINE)
		return TP_WC_SUCCESS;
	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check(q->qp.pd, w->sge, w->wr.num_sge,
			 is_rd_atomic(w->wr.opcode) ? TP_ACCESS_LOCAL_WRITE : 0);
	tp_mr_read_unlock(q->qp.dev);
	return s;
}

static enum req_state req_start_wqe(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	struct tp_send_wqe *w = c->w;
	enum tp_wr_opcode op = w->wr.opcode;

	if (w->status != TP_WC_SUCCESS)
		return REQ_HALT;
	if (q->sq.next_off == 0) {
		c->x->sq_index = q->sq.next;
		c->x->first_psn = q->sq.psn;
		c->x->npsn = op >= TP_WR_ATOMIC_CMP_SWP ? 1 : udp_npkts(w->length, q->mtu);
		w->status = req_local_check(q, w);
		if (w->status != TP_WC_SUCCESS)
			return REQ_HALT;
	}
	if (op == TP_WR_RDMA_READ)
		return REQ_SEND_READ;
	return is_rd_atomic(op) ? REQ_SEND_ATOMIC : REQ_SEND_DATA;
}

/* Build one SEND/WRITE packet of c->w (at sq.next_off) into b; whether it
 * was the message's last. */
static bool req_data_pkt(struct req_ctx *c, struct udp_tx_batch *b)
{
	struct udp_qp *q = c->q;
	struct tp_send_wqe *w = c->w;
	uint32_t off = q->sq.next_off;
	uint32_t len = w->length - off < q->mtu ? w->length - off : q->mtu;
	bool first = off == 0, last = off + len == w->length;
	/* AckReq: a message's last packet, every ackreq_every-th, and the one
	 * that fills the window (nothing more goes out until it is ACKed) */
	bool ack_req = last || ++q->sq.since_ackreq >= q->ud->ackreq_every ||
		       roce_psn_diff(udp_psn_add(q->sq.psn, 1), q->sq.comp_psn) >=
			       (int32_t)q->sq.cwnd;
	struct roce_pkt p = req_pkt(q, data_opcode(w->wr.opcode, first, last), ack_req);
	struct iovec iov[32];
	int n = data_iov(w, off, len, iov);

	p.bth.se = last && (w->wr.flags & TP_SEND_SOLICITED);
	p.reth = (struct roce_reth){ .va = w->wr.remote_addr, .rkey = w->wr.rkey,
				     .dma_len = w->length };
	p.imm = w->wr.imm_data;
	if (ack_req)
		q->sq.since_ackreq = 0;
	udp_tx_add(q, b, &p, iov, n);
	udp_cc_sent(q, len, c->now);
	req_sent(q, 1, c->now);
	q->sq.next_off = last ? 0 : off + len;
	return last;
}

/* The packets of the current SEND/WRITE the window allows, up to one
 * sendmmsg batch (one syscall instead of one per packet). */
static enum req_state req_send_data(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_tx_batch b;
	bool last;

	udp_tx_batch_init(&b);
	tp_mr_read_lock(q->qp.dev); /* keeps the memory registered until it is sent */
	do
		last = req_data_pkt(c, &b);
	while (!last && b.n < UDP_TX_BATCH &&
	       roce_psn_diff(q->sq.psn, q->sq.comp_psn) < (int32_t)q->sq.cwnd &&
	       udp_cc_may_send(q, c->now));
	udp_tx_flush(q, &b);
	tp_mr_read_unlock(q->qp.dev);
	if (!last)
		return REQ_CHECK_LIMITS;
	q->sq.next++;
	return REQ_NEXT_WQE;
}

static enum req_state req_send_read(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	struct tp_send_wqe *w = c->w;
	uint32_t off = q->sq.next_off;
	struct roce_pkt p = req_pkt(q, ROCE_OP_READ_REQ, true);
	uint32_t skipped = off / q->mtu; /* responses already placed */

	p.reth = (struct roce_reth){ .va = w->wr.remote_addr + off, .rkey = w->wr.rkey,
				     .dma_len = w->length - off };
	udp_tx(q, &p, NULL, 0);
	udp_cc_sent(q, ROCE_RETH_BYTES, c->now);
	req_sent(q, c->x->npsn - skipped, c->now);
	q->sq.rd_atomic++;
	q->sq.next++;
	q->sq.next_off = 0;
	q->sq.since_ackreq = 0;
	return REQ_NEXT_WQE;
}

static enum req_state req_send_atomic(struct req_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct tp_send_wr *wr = &c->w->wr;
	bool cas = wr->opcode == TP_WR_ATOMIC_CMP_SWP;
	struct roce_pkt p = req_pkt(q, cas ? ROCE_OP_CMP_SWAP : ROCE_OP_FETCH_ADD, true);

	p.atomic = (struct roce_atomic_eth){ .va = wr->remote_addr, .rkey = wr->rkey,
					     .swap_add = cas ? wr->swap : wr->compare_add,
					     .compare = cas ? wr->compare_add : 0 };
	udp_tx(q, &p, NULL, 0);
	udp_cc_sent(q, ROCE_ATOMIC_ETH_BYTES, c->now);
	req_sent(q, 1, c->now);
	q->sq.rd_atomic++;
	q->sq.next++;
	q->sq.next_off = 0;
	q->sq.since_ackreq = 0;
	return REQ_NEXT_WQE;
}

static enum req_state req_halt(struct req_ctx *c)
{
	c->q->sq.halted = true;
	return REQ_DONE;
}

/* ---- entry points -------------------------------------------------------------------- */

static enum req_state req_step(struct req_ctx *c, enum req_state s)
{
	switch (s) {
	case REQ_NEXT_WQE: return req_next_wqe(c);
	case REQ_CHECK_LIMITS: return req_check_limits(c);
	case REQ_START_WQE: return req_start_wqe(c);
	case REQ_SEND_DATA: return req_send_data(c);
	case REQ_SEND_READ: return req_send_read(c);
	case REQ_SEND_ATOMIC: return req_send_atomic(c);
	case REQ_HALT: return req_halt(c);
	case REQ_DONE: break;
	}
	return REQ_DONE;
}

void udp_req_run(struct udp_qp *q, uint64_t now)
{
	struct req_ctx c = { .q = q, .now = now };
	enum req_state s = REQ_NEXT_WQE;

	while (s != REQ_DONE) {
		UDP_TRACE(q->ud, "qp %u req %s next %llu psn %u", q->qp.qp_num,
			  req_state_names[s], (unsigned long long)q->sq.next, q->sq.psn);
		s = req_step(&c, s);
	}
	udp_comp_local_errors(q);
}

/* Put the requester at comp_psn, inside the SQ head when part of it was
 * sent before (its PSNs are fixed then: a retry reuses them). */
void udp_req_reposition(struct udp_qp *q)
{
	struct tp_qp *qp = &q->qp;
	uint64_t head = qp->sq.head;
	const struct udp_wqe_ext *x = udp_ext(q, head);

	q->sq.next = head;
	q->sq.next_off = 0;
	q->sq.psn = q->sq.comp_psn;
	q->sq.rd_atomic = 0;
	q->sq.halted = false;
	q->sq.since_ackreq = 0;
	if (head != qp->sq.tail && x->sq_index == head) {
		int32_t d = roce_psn_diff(q->sq.comp_psn, x->first_psn);

		if (d > 0 && (uint32_t)d < x->npsn &&
		    tp_sq_wqe(qp, head)->wr.opcode < TP_WR_ATOMIC_CMP_SWP)
			q->sq.next_off = (uint32_t)d * q->mtu;
		q->sq.psn = udp_psn_add(x->first_psn, q->sq.next_off / q->mtu);
	}
}

void udp_req_go_back(struct udp_qp *q, uint64_t now)
{
	uint64_t to = tp_ack_timeout_us(q->qp.attr.timeout);

	udp_req_reposition(q);
	q->sq.back_psn = q->sq.comp_psn;
	q->sq.back_at_us = now;
	q->sq.rexmit_at_us = to && q->qp.sq.head != q->qp.sq.tail ? now + to : UDP_NO_DEADLINE;
	UDP_TRACE(q->ud, "qp %u go back to psn %u (wqe %llu + %u bytes)", q->qp.qp_num,
		  q->sq.psn, (unsigned long long)q->sq.next, q->sq.next_off);
}

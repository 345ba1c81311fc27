/*
 * udp_resp.c - the udp responder (IBA 9.7.5.2, as Linux rxe_resp.c):
 * executes the peer requester's packets on this process's registered
 * memory and answers them.
 *
 *   - PSN check (9.7.5.2.1): a packet with the expected PSN (epsn) is
 *     executed; an earlier one is a duplicate (9.7.5.2.2); a later one means
 *     packets were lost: one PSN sequence error NAK carrying epsn (9.7.5.2.2
 *     "out of sequence"), then silence while the gap lasts, except that the
 *     NAK is repeated renak_us later, on a timer (UDP_NAK_REPEATS times) or
 *     on the next out-of-sequence packet: the NAK, or the packet the
 *     requester resent, was lost.  Linux rxe sends one NAK per gap and
 *     leaves every later loss to the requester's retransmission timer
 *     (67 ms at the usual timeout 14).
 *   - Duplicates: SEND/WRITE packets are acknowledged again (ACK epsn - 1)
 *     and dropped; a duplicate READ is executed again with the RETH it
 *     carries (a retry may ask for the tail only); a duplicate atomic is
 *     answered with the result saved when it ran, never executed twice
 *     (9.7.5.2.4: exactly-once atomics).  UDP_RES_N results are kept, more
 *     than the 16 READ/atomics a requester may have outstanding.
 *   - Opcode sequence (9.7.5.2.3): inside a SEND or WRITE message only its
 *     MIDDLE/LAST may come; outside, only FIRST/ONLY, READ or atomics;
 *     anything else is an invalid request.
 *   - Resources (9.7.5.2.8): a SEND, or the last packet of a WRITE with
 *     immediate, needs a posted receive; without one the answer is an RNR
 *     NAK with this QP's min_rnr_timer and the packet is not executed.
 *     A READ holds a responder resource from its arrival until its last
 *     response is sent, an atomic while it executes: a READ/atomic that
 *     arrives while max_dest_rd_atomic are held is an invalid request
 *     (NAK, after the responses of the READ before it, in PSN order).
 *     READ responses stream one READ at a time, so at most two are ever
 *     held and only max_dest_rd_atomic 0 or 1 can be exceeded; a requester
 *     that keeps more in flight is served in order (UDP_RES_N results are
 *     kept for its duplicates).
 *   - Checks: length errors the parser found and WRITE payload beyond the
 *     RETH's DMA length -> NAK invalid request; bad rkey, bounds or rights
 *     (MR and QP access flags) -> NAK remote access error; misaligned
 *     atomic or READ/atomic with max_dest_rd_atomic 0 -> invalid request;
 *     a SEND longer than the receive -> the receive completes LOC_LEN_ERR
 *     and the NAK says invalid request; a receive SGE whose lkey fails ->
 *     LOC_PROT_ERR and NAK remote operational error.  Each of these NAKs
 *     ends this QP in ERR (9.9.3.1.3: responder class B/C errors of RC).
 *   - ACKs: a packet with AckReq asks for one; they are coalesced, one ACK
 *     (the latest PSN, cumulative) per QP per receive batch, sent by
 *     udp_resp_flush_ack; a NAK, or the response to the latest request
 *     (READ, atomic) sent meanwhile covers it (9.7.5.2.6), an answer to a
 *     duplicate of an older one does not.
 *   - READ responses (9.7.5.2.5) take the PSNs the request reserved; they
 *     stream UDP_READ_BURST packets per pass so one long READ does not stall
 *     the device, and a new request waits for the stream to end.
 * Deviation from IBA: the ACK's credit field is always "invalid" (0x1f: no
 * end-to-end flow control); SEND data is placed as it arrives, so a
 * message that fails halfway leaves its first bytes in the receive buffer
 * (IBA allows this: the receive completes in error).
 *
 * Concurrency: progress thread only, under the QP's tp_qp.lock; the MR
 * table's read lock is held from a key check to the end of the copy (or the
 * sendmsg) it allows.
 */
#include <string.h>

#include "udp.h"

enum resp_state {
	RESP_CHECK_PSN,
	RESP_DUPLICATE,
	RESP_OUT_OF_SEQ,
	RESP_CHECK_OP,
	RESP_CHECK_LENGTH,
	RESP_CHECK_RESOURCE,
	RESP_CHECK_RKEY,
	RESP_EXEC_SEND,
	RESP_EXEC_WRITE,
	RESP_EXEC_READ,
	RESP_EXEC_ATOMIC,
	RESP_COMPLETE,	/* a SEND/WRITE packet executed */
	RESP_RNR,
	RESP_NAK,	/* fatal: the QP goes to ERR */
	RESP_DONE,
};

static const char *const resp_state_names[] = {
	[RESP_CHECK_PSN] = "CHECK_PSN", [RESP_DUPLICATE] = "DUPLICATE",
	[RESP_OUT_OF_SEQ] = "OUT_OF_SEQ", [RESP_CHECK_OP] = "CHECK_OP",
	[RESP_CHECK_LENGTH] = "CHECK_LENGTH", [RESP_CHECK_RESOURCE] = "CHECK_RESOURCE",
	[RESP_CHECK_RKEY] = "CHECK_RKEY", [RESP_EXEC_SEND] = "EXEC_SEND",
	[RESP_EXEC_WRITE] = "EXEC_WRITE", [RESP_EXEC_READ] = "EXEC_READ",
	[RESP_EXEC_ATOMIC] = "EXEC_ATOMIC", [RESP_COMPLETE] = "COMPLETE", [RESP_RNR] = "RNR",
	[RESP_NAK] = "NAK", [RESP_DONE] = "DONE",
};

struct resp_ctx {
	struct udp_qp *q;
	const struct roce_pkt *pkt;
	enum roce_perr perr;
	uint64_t now;
	uint8_t kind;			/* enum roce_op_kind of pkt */
	uint8_t syndrome;		/* of the fatal NAK */
	enum tp_wc_status recv_status;	/* for the receive a fatal NAK ends */
	unsigned res_busy;		/* responder resources held when pkt arrived */
};

/* ---- sending responses ----------------------------------------------------------- */

static struct roce_pkt resp_pkt(struct udp_qp *q, uint8_t opcode, uint32_t psn, uint8_t syn,
				uint32_t msn)
{
	struct roce_pkt p = { 0 };

	p.bth.opcode = opcode;
	p.bth.pkey = q->ud->pkey;
	p.bth.dqpn = q->qp.attr.dest_qp_num;
	p.bth.psn = psn;
	p.aeth.syndrome = syn;
	p.aeth.msn = msn & ROCE_MSN_MASK;
	return p;
}

/* ACK, RNR NAK or NAK (an RC_ACKNOWLEDGE packet); it covers a pending ACK. */
static void resp_send_ack(struct udp_qp *q, uint32_t psn, uint8_t syn)
{
	struct roce_pkt p = resp_pkt(q, ROCE_OP_ACK, psn, syn, q->resp.msn);

	udp_tx(q, &p, NULL, 0);
	q->resp.ack_pending = false;
}

/* Whether a response for psn covers the pending ACK (epsn - 1): an answer
 * to a duplicate of an older request does not. */
static bool covers_ack(const struct udp_qp *q, uint32_t psn)
{
	return udp_psn_add(psn, 1) == q->resp.epsn;
}

static void resp_send_atomic_ack(struct udp_qp *q, uint32_t psn, uint64_t orig, uint32_t msn)
{
	struct roce_pkt p = resp_pkt(q, ROCE_OP_ATOMIC_ACK, psn,
				     roce_aeth_syn_ack(ROCE_AETH_CREDIT_INVALID), msn);

	p.atomic_ack.orig = orig;
	udp_tx(q, &p, NULL, 0);
	if (covers_ack(q, psn))
		q->resp.ack_pending = false;
}

void udp_resp_flush_ack(struct udp_qp *q)
{
	if (q->resp.ack_pending)
		resp_send_ack(q, udp_psn_add(q->resp.epsn, ROCE_PSN_MASK), /* epsn - 1 */
			      roce_aeth_syn_ack(ROCE_AETH_CREDIT_INVALID));
}

static uint8_t read_opcode(bool first, bool last)
{
	if (first)
		return last ? ROCE_OP_READ_RESP_ONLY : ROCE_OP_READ_RESP_FIRST;
	return last ? ROCE_OP_READ_RESP_LAST : ROCE_OP_READ_RESP_MIDDLE;
}

/* Build one READ response into b; false when the memory is no longer
 * readable.  Caller holds the MR read lock until b is flushed. */
static bool read_one(struct udp_qp *q, struct udp_tx_batch *b, uint64_t now)
{
	struct udp_read_stream *rd = &q->resp.rd;
	uint32_t len = rd->left < q->mtu ? rd->left : q->mtu;
	bool last = rd->psn == rd->last_psn;
	struct roce_pkt p = resp_pkt(q, read_opcode(rd->first, last), rd->psn,
				     roce_aeth_syn_ack(ROCE_AETH_CREDIT_INVALID), rd->msn);
	struct iovec iov = { .iov_base = (void *)(uintptr_t)rd->va, .iov_len = len };

	if (tp_mr_check(q->qp.pd, rd->rkey, rd->va, len, TP_ACCESS_REMOTE_READ, true) !=
	    TP_WC_SUCCESS)
		return false;
	udp_tx_add(q, b, &p, &iov, len ? 1 : 0);
	udp_cc_sent(q, len, now);
	rd->va += len;
	rd->left -= len;
	rd->first = false;
	rd->active = !last;
	rd->psn = udp_psn_add(rd->psn, 1);
	return true;
}

/* Send up to budget READ responses, a sendmmsg batch at a time (the MR
 * read lock is held per batch, from the key check until it is sent), as
 * fast as the QP's congestion control lets its data leave (READ responses
 * and requests share the QP's rate: udp_cc.c); a paced stream resumes on
 * the QP's timer. */
void udp_resp_read_pump(struct udp_qp *q, unsigned budget)
{
	struct udp_read_stream *rd = &q->resp.rd;
	struct udp_tx_batch b;
	uint64_t now = tp_now_us();
	bool ok = true;

	udp_tx_batch_init(&b);
	tp_mr_read_lock(q->qp.dev);
	while (rd->active && budget-- && udp_cc_may_send(q, now) && (ok = read_one(q, &b, now))) {
		if (b.n == UDP_TX_BATCH) {
			udp_tx_flush(q, &b);
			tp_mr_read_unlock(q->qp.dev);
			tp_mr_read_lock(q->qp.dev);
		}
	}
	udp_tx_flush(q, &b);
	tp_mr_read_unlock(q->qp.dev);
	if (!ok) { /* deregistered mid-READ */
		rd->active = false;
		resp_send_ack(q, rd->psn, roce_aeth_syn_nak(ROCE_NAK_REMOTE_ACCESS));
		tp_qp_to_err(&q->qp);
		return;
	}
	if (!rd->active && covers_ack(q, rd->last_psn))
		q->resp.ack_pending = false; /* the last response covers it */
}

/* ---- helpers ----------------------------------------------------------------------- */

static enum resp_state nak(struct resp_ctx *c, enum roce_nak_code code,
			   enum tp_wc_status recv_status)
{
	c->syndrome = roce_aeth_syn_nak(code);
	c->recv_status = recv_status;
	return RESP_NAK;
}

static struct udp_res *res_find(struct udp_resp_state *r, uint8_t kind, uint32_t psn)
{
	for (unsigned i = 0; i < UDP_RES_N; i++) {
		struct udp_res *x = &r->res[i];

		if (x->kind == kind && roce_psn_diff(psn, x->first_psn) >= 0 &&
		    roce_psn_diff(psn, x->last_psn) <= 0)
			return x;
	}
	return NULL;
}

static struct udp_res *res_new(struct udp_resp_state *r)
{
	struct udp_res *x = &r->res[r->res_next];

	r->res_next = (r->res_next + 1) % UDP_RES_N;
	return x;
}

/* ---- states ---------------------------------------------------------------------------- */

static enum resp_state resp_check_psn(struct resp_ctx *c)
{
	struct udp_resp_state *r = &c->q->resp;
	int32_t d = roce_psn_diff(c->pkt->bth.psn, r->epsn);

	if (d < 0)
		return RESP_DUPLICATE;
	if (d > 0)
		return RESP_OUT_OF_SEQ;
	r->nak_sent = false;
	c->res_busy = r->rd.active; /* the READ still being answered holds one */
	if (r->rd.active) /* responses go out in PSN order */
		udp_resp_read_pump(c->q, UINT32_MAX);
	return c->q->qp.state == TP_QPS_ERR ? RESP_DONE : RESP_CHECK_OP;
}

static void send_seq_nak(struct udp_qp *q, uint64_t now)
{
	struct udp_resp_state *r = &q->resp;

	r->nak_sent = true;
	r->nak_syndrome = roce_aeth_syn_nak(ROCE_NAK_PSN_SEQ);
	r->nak_at_us = now;
	tp_count(q->qp.dev, TP_CNT(naks_sent), 1);
	resp_send_ack(q, r->epsn, r->nak_syndrome);
}

static enum resp_state resp_out_of_seq(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;
	bool rnr = roce_aeth_syn_type(r->nak_syndrome) == ROCE_AETH_RNR_NAK;

	/* After an RNR NAK the requester waits on purpose: no sequence NAK
	 * may cut that wait short. */
	if (r->nak_sent && (rnr || c->now - r->nak_at_us < q->ud->renak_us))
		return RESP_DONE;
	if (!r->nak_sent)
		r->nak_repeats = 0;
	send_seq_nak(q, c->now);
	return RESP_DONE;
}

uint64_t udp_resp_nak_due(const struct udp_qp *q)
{
	const struct udp_resp_state *r = &q->resp;

	if (!r->nak_sent || r->nak_repeats >= UDP_NAK_REPEATS ||
	    roce_aeth_syn_type(r->nak_syndrome) != ROCE_AETH_NAK)
		return UDP_NO_DEADLINE;
	return r->nak_at_us + q->ud->renak_us;
}

/* The gap is still open renak_us after its NAK: the NAK, or the packet
 * the requester resent, was lost.  Say it again (a few times; after that
 * the requester's own timer is the remedy). */
void udp_resp_timer(struct udp_qp *q, uint64_t now)
{
	if (udp_resp_nak_due(q) > now)
		return;
	q->resp.nak_repeats++;
	send_seq_nak(q, now);
}

/* A duplicate READ is executed again (9.7.5.2.3) from its own RETH: a
 * retry may ask for the tail only.  Its PSN range follows from its length;
 * the resource, when still kept, gives the MSN it was answered with. */
static void dup_read(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	struct udp_res *x = res_find(&q->resp, ROCE_KIND_READ_REQ, pkt->bth.psn);
	uint32_t n = udp_npkts(pkt->reth.dma_len, q->mtu);
	uint32_t last = udp_psn_add(pkt->bth.psn, n - 1);

	if (pkt->reth.dma_len > (1u << 31) || roce_psn_diff(last, q->resp.epsn) >= 0)
		return; /* would answer PSNs not yet reserved: not a retry, drop */
	q->resp.rd = (struct udp_read_stream){ .active = true, .psn = pkt->bth.psn,
					       .last_psn = last, .va = pkt->reth.va,
					       .rkey = pkt->reth.rkey, .left = pkt->reth.dma_len,
					       .first = true, .msn = x ? x->msn : q->resp.msn };
	udp_resp_read_pump(q, UDP_READ_BURST);
}

static enum resp_state resp_duplicate(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_res *x;

	tp_count(q->qp.dev, TP_CNT(duplicates), 1);
	if (c->perr)
		return RESP_DONE;
	switch (c->kind) {
	case ROCE_KIND_READ_REQ:
		dup_read(c);
		break;
	case ROCE_KIND_ATOMIC:
		x = res_find(&q->resp, ROCE_KIND_ATOMIC, c->pkt->bth.psn);
		if (x)
			resp_send_atomic_ack(q, x->first_psn, x->orig, x->msn);
		break;
	default: /* SEND/WRITE: acknowledge again (coalesced) */
		q->resp.ack_pending = true;
		break;
	}
	return RESP_DONE;
}

static enum resp_state resp_check_op(struct resp_ctx *c)
{
	struct udp_resp_state *r = &c->q->resp;
	bool start = c->pkt->op->flags & ROCE_OPF_START;

	if (r->in_msg)
		return c->kind + 1 == r->in_msg && !start ? RESP_CHECK_LENGTH
						      : nak(c, ROCE_NAK_INVALID_REQ, TP_WC_LOC_QP_OP_ERR);
	if (!start)
		return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_SUCCESS);
	return RESP_CHECK_LENGTH;
}

static enum resp_state resp_check_length(struct resp_ctx *c)
{
	struct udp_resp_state *r = &c->q->resp;
	const struct roce_pkt *pkt = c->pkt;
	bool end = pkt->op->flags & ROCE_OPF_END;

	if (c->perr)
		return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_LOC_QP_OP_ERR);
	if (c->kind == ROCE_KIND_WRITE && r->in_msg) {
		uint64_t upto = (uint64_t)r->off + pkt->payload_bytes;

		if (upto > r->dma_len || (end && upto != r->dma_len))
			return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_SUCCESS);
	}
	if ((pkt->op->hdrs & ROCE_HDR_RETH) && pkt->reth.dma_len > (1u << 31))
		return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_SUCCESS);
	return RESP_CHECK_RESOURCE;
}

static enum resp_state resp_check_resource(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	bool needs_recv = c->kind == ROCE_KIND_SEND ||
			  (pkt->op->hdrs & ROCE_HDR_IMMDT); /* SEND, WRITE LAST/ONLY_IMM */

	if (c->kind == ROCE_KIND_READ_REQ || c->kind == ROCE_KIND_ATOMIC) {
		/* 9.7.5.2.8: more outstanding than max_dest_rd_atomic is an
		 * invalid request (the earlier READ's responses went first) */
		if (c->res_busy + 1 > q->qp.attr.max_dest_rd_atomic)
			return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_SUCCESS);
		return RESP_CHECK_RKEY;
	}
	if (needs_recv && !q->resp.has_recv) {
		if (q->qp.rq.head == q->qp.rq.tail)
			return RESP_RNR;
		q->resp.has_recv = true;
	}
	if (c->kind == ROCE_KIND_SEND)
		return RESP_EXEC_SEND;
	return q->resp.in_msg ? RESP_EXEC_WRITE : RESP_CHECK_RKEY;
}

/* The QP access flag and MR check of a WRITE (first packet), READ or atomic. */
static enum resp_state resp_check_rkey(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	bool atomic = c->kind == ROCE_KIND_ATOMIC;
	unsigned access = c->kind == ROCE_KIND_WRITE ? TP_ACCESS_REMOTE_WRITE
			  : atomic		    ? TP_ACCESS_REMOTE_ATOMIC
						    : TP_ACCESS_REMOTE_READ;
	uint64_t va = atomic ? pkt->atomic.va : pkt->reth.va;
	uint32_t rkey = atomic ? pkt->atomic.rkey : pkt->reth.rkey;
	uint64_t len = atomic ? 8 : pkt->reth.dma_len;
	enum tp_wc_status s;

	if (atomic && (va & 7))
		return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_SUCCESS);
	if (!(q->qp.attr.access & access))
		return nak(c, ROCE_NAK_REMOTE_ACCESS, TP_WC_SUCCESS);
	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, rkey, va, len, access, true);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS)
		return nak(c, ROCE_NAK_REMOTE_ACCESS, TP_WC_SUCCESS);
	if (c->kind == ROCE_KIND_WRITE) {
		q->resp.va = va;
		q->resp.rkey = rkey;
		q->resp.dma_len = pkt->reth.dma_len;
		return RESP_EXEC_WRITE;
	}
	return atomic ? RESP_EXEC_ATOMIC : RESP_EXEC_READ;
}

static enum resp_state resp_exec_send(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	struct tp_recv_wqe *rw = tp_rq_wqe(&q->qp, q->qp.rq.head);
	enum tp_wc_status s;

	tp_mr_read_lock(q->qp.dev);
	s = tp_sge_check_range(q->qp.pd, rw->sge, rw->num_sge, q->resp.off, pkt->payload_bytes,
			       TP_ACCESS_LOCAL_WRITE);
	if (s == TP_WC_SUCCESS)
		tp_sge_copy_in(rw->sge, rw->num_sge, q->resp.off, pkt->payload, pkt->payload_bytes);
	tp_mr_read_unlock(q->qp.dev);
	if (s == TP_WC_LOC_LEN_ERR)
		return nak(c, ROCE_NAK_INVALID_REQ, TP_WC_LOC_LEN_ERR);
	if (s != TP_WC_SUCCESS)
		return nak(c, ROCE_NAK_REMOTE_OP, TP_WC_LOC_PROT_ERR);
	q->resp.off += pkt->payload_bytes;
	q->resp.in_msg = 1 + ROCE_KIND_SEND;
	return RESP_COMPLETE;
}

static enum resp_state resp_exec_write(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	const struct roce_pkt *pkt = c->pkt;
	uint64_t va = q->resp.va + q->resp.off;
	enum tp_wc_status s;

	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, q->resp.rkey, va, pkt->payload_bytes, TP_ACCESS_REMOTE_WRITE,
			true);
	if (s == TP_WC_SUCCESS && pkt->payload_bytes)
		memcpy((void *)(uintptr_t)va, pkt->payload, pkt->payload_bytes);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS) /* deregistered mid-message */
		return nak(c, ROCE_NAK_REMOTE_ACCESS, TP_WC_LOC_ACCESS_ERR);
	q->resp.off += pkt->payload_bytes;
	q->resp.in_msg = 1 + ROCE_KIND_WRITE;
	return RESP_COMPLETE;
}

static enum resp_state resp_exec_read(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;
	const struct roce_pkt *pkt = c->pkt;
	uint32_t n = udp_npkts(pkt->reth.dma_len, q->mtu);
	struct udp_res *x = res_new(r);

	*x = (struct udp_res){ .kind = ROCE_KIND_READ_REQ, .first_psn = pkt->bth.psn,
			       .last_psn = udp_psn_add(pkt->bth.psn, n - 1), .msn = r->msn };
	r->rd = (struct udp_read_stream){ .active = true, .psn = pkt->bth.psn,
					  .last_psn = x->last_psn, .va = pkt->reth.va,
					  .rkey = pkt->reth.rkey, .left = pkt->reth.dma_len,
					  .first = true, .msn = r->msn };
	r->epsn = udp_psn_add(pkt->bth.psn, n);
	r->msn = (r->msn + 1) & ROCE_MSN_MASK;
	udp_resp_read_pump(q, UDP_READ_BURST);
	return RESP_DONE;
}

static uint64_t atomic_run(const struct roce_pkt *pkt)
{
	uint64_t *p = (uint64_t *)(uintptr_t)pkt->atomic.va, orig;

	if (pkt->bth.opcode == ROCE_OP_CMP_SWAP) {
		orig = pkt->atomic.compare; /* becomes the value found on a mismatch */
		__atomic_compare_exchange_n(p, &orig, pkt->atomic.swap_add, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		return orig;
	}
	return __atomic_fetch_add(p, pkt->atomic.swap_add, __ATOMIC_SEQ_CST);
}

static enum resp_state resp_exec_atomic(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;
	const struct roce_pkt *pkt = c->pkt;
	struct udp_res *x;
	enum tp_wc_status s;
	uint64_t orig = 0;

	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, pkt->atomic.rkey, pkt->atomic.va, 8, TP_ACCESS_REMOTE_ATOMIC,
			true);
	if (s == TP_WC_SUCCESS)
		orig = atomic_run(pkt);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS)
		return nak(c, ROCE_NAK_REMOTE_ACCESS, TP_WC_SUCCESS);
	x = res_new(r);
	*x = (struct udp_res){ .kind = ROCE_KIND_ATOMIC, .first_psn = pkt->bth.psn,
			       .last_psn = pkt->bth.psn, .msn = r->msn, .orig = orig };
	r->epsn = udp_psn_add(pkt->bth.psn, 1);
	r->msn = (r->msn + 1) & ROCE_MSN_MASK;
	resp_send_atomic_ack(q, x->first_psn, orig, x->msn);
	return RESP_DONE;
}

/* A SEND/WRITE packet was executed: advance, end the message, ACK. */
static enum resp_state resp_complete(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;
	const struct roce_pkt *pkt = c->pkt;

	r->epsn = udp_psn_add(pkt->bth.psn, 1);
	if (pkt->bth.ack_req)
		r->ack_pending = true;
	if (!(pkt->op->flags & ROCE_OPF_END))
		return RESP_DONE;
	if (r->has_recv) {
		bool imm = pkt->op->hdrs & ROCE_HDR_IMMDT;

		tp_rq_complete(&q->qp, TP_WC_SUCCESS,
			       c->kind == ROCE_KIND_SEND ? TP_WC_RECV : TP_WC_RECV_RDMA_WITH_IMM,
			       c->kind == ROCE_KIND_SEND ? r->off : r->dma_len,
			       imm ? &pkt->imm : NULL, 0);
	}
	r->msn = (r->msn + 1) & ROCE_MSN_MASK;
	r->in_msg = 0;
	r->has_recv = false;
	r->off = 0;
	return RESP_DONE;
}

static enum resp_state resp_rnr(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;

	tp_count(q->qp.dev, TP_CNT(rnr_naks_sent), 1);
	r->nak_sent = true;
	r->nak_syndrome = roce_aeth_syn_rnr_nak(q->qp.attr.min_rnr_timer);
	r->nak_at_us = c->now;
	resp_send_ack(q, c->pkt->bth.psn, r->nak_syndrome);
	return RESP_DONE;
}

/* Fatal NAK: end the receive in progress, answer, go to ERR. */
static enum resp_state resp_nak(struct resp_ctx *c)
{
	struct udp_qp *q = c->q;
	struct udp_resp_state *r = &q->resp;

	UDP_TRACE(q->ud, "qp %u resp: NAK %s at psn %u", q->qp.qp_num,
		  roce_aeth_syn_name(c->syndrome), c->pkt->bth.psn);
	if (r->has_recv && c->recv_status != TP_WC_SUCCESS && q->qp.rq.head != q->qp.rq.tail)
		tp_rq_complete(&q->qp, c->recv_status,
			       c->kind == ROCE_KIND_SEND ? TP_WC_RECV : TP_WC_RECV_RDMA_WITH_IMM,
			       0, NULL, c->syndrome);
	r->has_recv = false;
	resp_send_ack(q, c->pkt->bth.psn, c->syndrome);
	tp_qp_to_err(&q->qp);
	return RESP_DONE;
}

/* ---- entry point ------------------------------------------------------------------------- */

static enum resp_state resp_step(struct resp_ctx *c, enum resp_state s)
{
	switch (s) {
	case RESP_CHECK_PSN: return resp_check_psn(c);
	case RESP_DUPLICATE: return resp_duplicate(c);
	case RESP_OUT_OF_SEQ: return resp_out_of_seq(c);
	case RESP_CHECK_OP: return resp_check_op(c);
	case RESP_CHECK_LENGTH: return resp_check_length(c);
	case RESP_CHECK_RESOURCE: return resp_check_resource(c);
	case RESP_CHECK_RKEY: return resp_check_rkey(c);
	case RESP_EXEC_SEND: return resp_exec_send(c);
	case RESP_EXEC_WRITE: return resp_exec_write(c);
	case RESP_EXEC_READ: return resp_exec_read(c);
	case RESP_EXEC_ATOMIC: return resp_exec_atomic(c);
	case RESP_COMPLETE: return resp_complete(c);
	case RESP_RNR: return resp_rnr(c);
	case RESP_NAK: return resp_nak(c);
	case RESP_DONE: break;
	}
	return RESP_DONE;
}

void udp_resp_rx(struct udp_qp *q, const struct roce_pkt *pkt, enum roce_perr perr,
		 uint64_t now)
{
	struct resp_ctx c = { .q = q, .pkt = pkt, .perr = perr, .now = now,
			      .kind = pkt->op->kind };
	enum resp_state s = RESP_CHECK_PSN;

	while (s != RESP_DONE) {
		UDP_TRACE(q->ud, "qp %u resp %s %s psn %u epsn %u", q->qp.qp_num,
			  resp_state_names[s], pkt->op->name, pkt->bth.psn, q->resp.epsn);
		s = resp_step(&c, s);
	}
}

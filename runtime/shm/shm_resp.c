/*
 * shm_resp.c - the shm responder: executes the peer requester's records on
 * this process's registered memory and answers through the peer's
 * response ring.  SEND data lands in the posted receive, WRITE data in the
 * MR named by the rkey, READ data streams back in records, atomics run
 * once on 8-byte aligned targets with the CPU's atomic instructions.
 *
 * As IBA 9.7.5 (responder), over a lossless ordered ring:
 *   - Sequence: a request must carry the expected PSN (one per message);
 *     otherwise one PSN sequence error NAK per epoch, and everything of that
 *     epoch is dropped until the requester goes back (9.7.5.1.1).  Since no
 *     request is ever duplicated, an atomic executes exactly once.
 *   - A SEND (or WRITE with immediate) with no receive posted: RNR NAK with
 *     this QP's min_rnr_timer (9.7.5.2.8); the message is dropped, the
 *     requester resends it after the timer.
 *   - Errors (9.7.5.2.x, class C for RC): bad rkey, bounds or rights ->
 *     NAK remote access error; receive too small -> the receive completes
 *     with LOC_LEN_ERR and the NAK says invalid request; a receive whose
 *     lkey fails -> LOC_PROT_ERR and remote operational error; malformed or
 *     misaligned atomic -> invalid request.  Then this QP goes to ERR.
 *   - All checks of a message are made on its first record, before any
 *     byte is placed (IBA allows partial placement; this is stricter), and
 *     the bounds of each record are checked again as it is copied.
 *   - ACKs are coalesced: one per SHM_ACK_EVERY messages or when the ring
 *     runs dry, always after the receive completion is queued.
 *   - By-reference records (SHM_F_REF, shm_mem.c) pass the same checks of
 *     our memory; only the other end of the copy differs (the requester's
 *     shared block, bounded by its size).  A block outside its size is an
 *     invalid request, one that cannot be mapped (freed) a remote
 *     operational error.
 *
 * Concurrency: under the QP's tp_qp.lock; the only consumer of rx_req and
 * the only producer of tx_resp.  The MR table's read lock is held from a
 * key check to the end of the copy it allows.
 */
#include <errno.h>
#include <string.h>

#include "shm.h"

#define SHM_ACK_EVERY 16

enum resp_state {
	RESP_GET,	/* next request record */
	RESP_CHECK_PSN,
	RESP_CHECK_RKEY,
	RESP_CHECK_RECV,
	RESP_PLACE,	/* copy a SEND/WRITE record's payload */
	RESP_COMPLETE,	/* message end: receive completion, ACK accounting */
	RESP_READ_START,
	RESP_READ,	/* stream READ response records */
	RESP_ATOMIC,
	RESP_ACK,
	RESP_RNR,
	RESP_SEQ_NAK,
	RESP_NAK,	/* fatal NAK; the QP goes to ERR */
	RESP_DISCARD,
	RESP_DONE,
};

static const char *const resp_state_names[] = {
	[RESP_GET] = "GET", [RESP_CHECK_PSN] = "CHECK_PSN", [RESP_CHECK_RKEY] = "CHECK_RKEY",
	[RESP_CHECK_RECV] = "CHECK_RECV", [RESP_PLACE] = "PLACE", [RESP_COMPLETE] = "COMPLETE",
	[RESP_READ_START] = "READ_START", [RESP_READ] = "READ", [RESP_ATOMIC] = "ATOMIC",
	[RESP_ACK] = "ACK", [RESP_RNR] = "RNR", [RESP_SEQ_NAK] = "SEQ_NAK", [RESP_NAK] = "NAK",
	[RESP_DISCARD] = "DISCARD", [RESP_DONE] = "DONE",
};

struct resp_ctx {
	struct shm_qp *q;
	struct shm_rec rec;
	uint64_t at;	  /* ring position of rec */
	bool have;	  /* rec peeked, not consumed */
	uint8_t syndrome; /* of the NAK to send */
	uint32_t nak_psn;
	enum tp_wc_status recv_status; /* for a receive the NAK ends */
	bool consumed, produced;
	uint64_t budget; /* ring bytes this run may still consume or produce */
};

/* ---- helpers ---------------------------------------------------------------- */

static bool is_request(uint8_t kind)
{
	return kind >= SHM_REQ_SEND && kind <= SHM_REQ_FETCH_ADD;
}

/* Write a bodiless response record; the caller made sure it fits. */
static void resp_put(struct resp_ctx *c, uint8_t kind, uint32_t psn, uint8_t syndrome,
		     uint32_t epoch, uint64_t a)
{
	struct shm_rec r = { .kind = kind, .flags = SHM_F_FIRST | SHM_F_LAST, .psn = psn,
			     .syndrome = syndrome, .epoch = epoch, .a = a };
	struct shm_tx *tx = &c->q->tx_resp;

	shm_tx_put(tx, tx->prod, &r, sizeof(r));
	shm_tx_publish(tx, SHM_REC);
	c->produced = true;
	tp_count(c->q->qp.dev, TP_CNT(tx_packets), 1);
}

static void spend(struct resp_ctx *c, uint64_t bytes)
{
	c->budget = bytes < c->budget ? c->budget - bytes : 0;
}

static void resp_consume(struct resp_ctx *c)
{
	/* A by-reference record costs the bytes it moves, not its 64. */
	spend(c, shm_rec_bytes(c->rec.len) + ((c->rec.flags & SHM_F_REF) ? c->rec.ref_len : 0));
	shm_rx_consume(&c->q->rx_req, shm_rec_bytes(c->rec.len));
	c->have = false;
	c->consumed = true;
	tp_count(c->q->qp.dev, TP_CNT(rx_packets), 1);
}

static enum resp_state nak(struct resp_ctx *c, uint8_t syndrome, enum tp_wc_status recv_status)
{
	c->syndrome = syndrome;
	c->recv_status = recv_status;
	c->nak_psn = c->rec.psn;
	return RESP_NAK;
}

/* A response ends any pending ACK: it acknowledges what came before. */
static void ack_covered(struct shm_responder *r)
{
	r->ack_pending = false;
	r->unacked = 0;
}

/* ---- states ---------------------------------------------------------------------- */

static enum resp_state resp_get(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;

	if (c->budget == 0) /* a ring's worth this run: let others run */
		return q->resp.ack_pending ? RESP_ACK : RESP_DONE;
	if (q->resp.reading)
		return RESP_READ;
	if (!shm_rx_peek(&q->rx_req, &c->rec))
		return q->resp.ack_pending ? RESP_ACK : RESP_DONE;
	c->at = q->rx_req.cons;
	if (!shm_rx_valid(&q->rx_req, &c->rec) || !is_request(c->rec.kind)) {
		tp_count(q->qp.dev, TP_CNT(malformed), 1);
		c->have = false; /* garbage: never consume by its length */
		return nak(c, SHM_AETH_INV_REQ, TP_WC_LOC_QP_OP_ERR);
	}
	c->have = true;
	/* Any request may need one response record: wait until it fits. */
	if (!shm_tx_room(&q->tx_resp, SHM_REC))
		return RESP_DONE;
	return RESP_CHECK_PSN;
}

static enum resp_state resp_check_psn(struct resp_ctx *c)
{
	struct shm_responder *r = &c->q->resp;
	bool first = c->rec.flags & SHM_F_FIRST;

	if ((int32_t)(c->rec.epoch - r->min_epoch) < 0)
		return RESP_DISCARD; /* sent before the requester went back */
	if (c->rec.psn != r->epsn)
		return RESP_SEQ_NAK;
	if (r->in_msg == first)
		return nak(c, SHM_AETH_INV_REQ, TP_WC_LOC_QP_OP_ERR);
	if (r->in_msg)
		return RESP_PLACE;
	return c->rec.kind == SHM_REQ_SEND ? RESP_CHECK_RECV : RESP_CHECK_RKEY;
}

static unsigned kind_access(uint8_t kind)
{
	switch (kind) {
	case SHM_REQ_WRITE:
		return TP_ACCESS_REMOTE_WRITE;
	case SHM_REQ_READ:
		return TP_ACCESS_REMOTE_READ;
	default:
		return TP_ACCESS_REMOTE_ATOMIC;
	}
}

static enum resp_state resp_check_rkey(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	const struct shm_rec *r = &c->rec;
	bool atomic = r->kind == SHM_REQ_CMP_SWP || r->kind == SHM_REQ_FETCH_ADD;
	unsigned access = kind_access(r->kind);
	enum tp_wc_status s;

	if (r->kind != SHM_REQ_WRITE && q->qp.attr.max_dest_rd_atomic == 0)
		return nak(c, SHM_AETH_INV_REQ, TP_WC_SUCCESS);
	if (atomic && (r->raddr & 7))
		return nak(c, SHM_AETH_INV_REQ, TP_WC_SUCCESS);
	if (!(q->qp.attr.access & access))
		return nak(c, SHM_AETH_REM_ACCESS, TP_WC_SUCCESS);
	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, r->rkey, r->raddr, atomic ? 8 : r->msg_len, access, true);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS)
		return nak(c, SHM_AETH_REM_ACCESS, TP_WC_SUCCESS);
	if (r->kind == SHM_REQ_READ)
		return RESP_READ_START;
	if (atomic)
		return RESP_ATOMIC;
	return (r->flags & SHM_F_IMM) ? RESP_CHECK_RECV : RESP_PLACE;
}

static enum resp_state resp_check_recv(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_qp *qp = &q->qp;

	if (qp->rq.head == qp->rq.tail)
		return RESP_RNR;
	q->resp.has_recv = true;
	if (c->rec.kind == SHM_REQ_SEND && c->rec.msg_len > tp_rq_wqe(qp, qp->rq.head)->length)
		return nak(c, SHM_AETH_INV_REQ, TP_WC_LOC_LEN_ERR);
	return RESP_PLACE;
}

/* The NAK for a by-reference copy that failed (shm_rmap_copy's error): a
 * range outside the block is a malformed request; a block that cannot be
 * mapped (freed, or the requester's segment gone) an operational error. */
static enum resp_state ref_nak(struct resp_ctx *c, int err)
{
	return nak(c, err == -ERANGE ? SHM_AETH_INV_REQ : SHM_AETH_REM_OP, TP_WC_LOC_QP_OP_ERR);
}

/* Copy n message bytes of record r (at its offset) into the receive's
 * scatter list or the WRITE target, already checked: from the ring, or
 * (SHM_F_REF) from the requester's block.  0 or shm_rmap_copy's error. */
static int place_bytes(struct resp_ctx *c, const struct tp_recv_wqe *rw, uint64_t n)
{
	struct shm_qp *q = c->q;
	const struct shm_rec *r = &c->rec;
	void *dst = (void *)(uintptr_t)(r->raddr + r->offset);

	if (r->flags & SHM_F_REF)
		return rw ? shm_rmap_copy_sge(q->peer, r->a, r->b, rw->sge, rw->num_sge, r->offset,
					      n)
			  : shm_rmap_copy(q->peer, r->a, r->b, dst, n, false);
	if (rw)
		shm_rx_get_sge(&q->rx_req, c->at + SHM_REC, rw->sge, rw->num_sge, r->offset, n);
	else if (n)
		shm_rx_get(&q->rx_req, c->at + SHM_REC, dst, n);
	return 0;
}

/* Place one SEND/WRITE record, re-checking the bytes it covers. */
static enum resp_state resp_place(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	const struct shm_rec *r = &c->rec;
	const struct tp_recv_wqe *rw = NULL;
	uint64_t n = shm_rec_span(r);
	enum tp_wc_status s;
	int err = 0;

	if (r->offset + n > r->msg_len)
		return nak(c, SHM_AETH_INV_REQ, TP_WC_LOC_QP_OP_ERR);
	tp_mr_read_lock(q->qp.dev);
	if (r->kind == SHM_REQ_SEND) {
		rw = tp_rq_wqe(&q->qp, q->qp.rq.head);
		s = tp_sge_check_range(q->qp.pd, rw->sge, rw->num_sge, r->offset, n,
				       TP_ACCESS_LOCAL_WRITE);
	} else {
		s = tp_mr_check(q->qp.pd, r->rkey, r->raddr + r->offset, n,
				TP_ACCESS_REMOTE_WRITE, true);
	}
	if (s == TP_WC_SUCCESS)
		err = place_bytes(c, rw, n);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS)
		return r->kind == SHM_REQ_SEND ? nak(c, SHM_AETH_REM_OP, TP_WC_LOC_PROT_ERR)
					       : nak(c, SHM_AETH_REM_ACCESS, TP_WC_LOC_ACCESS_ERR);
	if (err)
		return ref_nak(c, err);
	tp_count(q->qp.dev, TP_CNT(rx_bytes), n);
	q->resp.in_msg = true;
	resp_consume(c);
	return (r->flags & SHM_F_LAST) ? RESP_COMPLETE : RESP_GET;
}

static enum resp_state resp_complete(struct resp_ctx *c)
{
	struct shm_responder *rs = &c->q->resp;
	const struct shm_rec *r = &c->rec;

	if (rs->has_recv) {
		bool imm = r->flags & SHM_F_IMM;

		tp_rq_complete(&c->q->qp, TP_WC_SUCCESS,
			       r->kind == SHM_REQ_SEND ? TP_WC_RECV : TP_WC_RECV_RDMA_WITH_IMM,
			       r->msg_len, imm ? &r->imm : NULL, 0);
		rs->has_recv = false;
	}
	rs->in_msg = false;
	rs->epsn = (rs->epsn + 1) & 0xffffff;
	rs->ack_pending = true;
	rs->ack_psn = r->psn;
	return ++rs->unacked >= SHM_ACK_EVERY ? RESP_ACK : RESP_GET;
}

static enum resp_state resp_read_start(struct resp_ctx *c)
{
	struct shm_responder *rs = &c->q->resp;

	rs->reading = true;
	rs->rd_ref = c->rec.flags & SHM_F_REF;
	rs->rd_ref_id = c->rec.a;
	rs->rd_ref_off = c->rec.b;
	rs->rd_psn = c->rec.psn;
	rs->rd_rkey = c->rec.rkey;
	rs->rd_addr = c->rec.raddr;
	rs->rd_len = c->rec.msg_len;
	rs->rd_off = 0;
	rs->epsn = (rs->epsn + 1) & 0xffffff;
	ack_covered(rs);
	resp_consume(c);
	return RESP_READ;
}

/* Copy READ response bytes [rd_off, + chunk) of our (checked) memory into
 * the response record at ring position at, or (rd_ref) straight into the
 * requester's block.  0 or shm_rmap_copy's error. */
static int read_bytes(struct resp_ctx *c, uint64_t at, uint64_t chunk)
{
	struct shm_qp *q = c->q;
	struct shm_responder *rs = &q->resp;
	const void *src = (const void *)(uintptr_t)(rs->rd_addr + rs->rd_off);

	if (rs->rd_ref)
		return chunk ? shm_rmap_copy(q->peer, rs->rd_ref_id, rs->rd_ref_off + rs->rd_off,
					     (void *)src, chunk, true)
			     : 0;
	shm_tx_put(&q->tx_resp, at + SHM_REC, src, chunk);
	return 0;
}

/* A READ that cannot go on: answer its PSN with a fatal NAK. */
static enum resp_state read_nak(struct resp_ctx *c, uint8_t syndrome)
{
	c->q->resp.reading = false;
	c->syndrome = syndrome;
	c->recv_status = TP_WC_SUCCESS;
	c->nak_psn = c->q->resp.rd_psn;
	return RESP_NAK;
}

/* One READ response record (a zero-length READ is one empty record). */
static enum resp_state resp_read(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	struct shm_responder *rs = &q->resp;
	uint64_t chunk = rs->rd_len - rs->rd_off < q->tx_chunk ? rs->rd_len - rs->rd_off
							       : q->tx_chunk;
	uint64_t bytes = shm_rec_bytes(rs->rd_ref ? 0 : (uint32_t)chunk), at = q->tx_resp.prod;
	struct shm_rec rec = { .kind = SHM_RESP_READ, .psn = rs->rd_psn,
			       .len = rs->rd_ref ? 0 : (uint32_t)chunk,
			       .ref_len = rs->rd_ref ? (uint32_t)chunk : 0,
			       .msg_len = rs->rd_len, .offset = rs->rd_off };
	enum tp_wc_status s;
	int err = 0;

	if (!shm_tx_room(&q->tx_resp, bytes))
		return RESP_DONE;
	rec.flags = (rs->rd_off == 0 ? SHM_F_FIRST : 0) |
		    (rs->rd_off + chunk == rs->rd_len ? SHM_F_LAST : 0) |
		    (rs->rd_ref ? SHM_F_REF : 0);
	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, rs->rd_rkey, rs->rd_addr + rs->rd_off, chunk,
			TP_ACCESS_REMOTE_READ, true);
	if (s == TP_WC_SUCCESS)
		err = read_bytes(c, at, chunk);
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS) /* deregistered mid-READ */
		return read_nak(c, SHM_AETH_REM_ACCESS);
	if (err)
		return read_nak(c, err == -ERANGE ? SHM_AETH_INV_REQ : SHM_AETH_REM_OP);
	shm_tx_put(&q->tx_resp, at, &rec, sizeof(rec));
	shm_tx_publish(&q->tx_resp, bytes);
	c->produced = true;
	spend(c, bytes + (rs->rd_ref ? chunk : 0));
	tp_count(q->qp.dev, TP_CNT(tx_packets), 1);
	tp_count(q->qp.dev, TP_CNT(tx_bytes), chunk);
	rs->rd_off += chunk;
	if (rs->rd_off < rs->rd_len)
		return c->budget ? RESP_READ : RESP_DONE;
	rs->reading = false;
	return RESP_GET;
}

static enum resp_state resp_atomic(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	const struct shm_rec *r = &c->rec;
	uint64_t *p = (uint64_t *)(uintptr_t)r->raddr, orig;
	enum tp_wc_status s;

	tp_mr_read_lock(q->qp.dev);
	s = tp_mr_check(q->qp.pd, r->rkey, r->raddr, 8, TP_ACCESS_REMOTE_ATOMIC, true);
	if (s == TP_WC_SUCCESS) {
		if (r->kind == SHM_REQ_CMP_SWP) {
			orig = r->a; /* becomes the value found, on failure */
			__atomic_compare_exchange_n(p, &orig, r->b, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
		} else {
			orig = __atomic_fetch_add(p, r->a, __ATOMIC_SEQ_CST);
		}
	}
	tp_mr_read_unlock(q->qp.dev);
	if (s != TP_WC_SUCCESS)
		return nak(c, SHM_AETH_REM_ACCESS, TP_WC_SUCCESS);
	resp_put(c, SHM_RESP_ATOMIC, r->psn, 0, r->epoch, orig);
	q->resp.epsn = (q->resp.epsn + 1) & 0xffffff;
	ack_covered(&q->resp);
	resp_consume(c);
	return RESP_GET;
}

static enum resp_state resp_ack(struct resp_ctx *c)
{
	struct shm_responder *rs = &c->q->resp;

	if (!shm_tx_room(&c->q->tx_resp, SHM_REC))
		return RESP_DONE;
	resp_put(c, SHM_RESP_ACK, rs->ack_psn, 0, 0, 0);
	ack_covered(rs);
	return RESP_GET;
}

static enum resp_state resp_rnr(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;

	resp_put(c, SHM_RESP_RNR, c->rec.psn, SHM_AETH_RNR | q->qp.attr.min_rnr_timer,
		 c->rec.epoch, 0);
	q->resp.min_epoch = c->rec.epoch + 1;
	ack_covered(&q->resp);
	tp_count(q->qp.dev, TP_CNT(rnr_naks_sent), 1);
	return RESP_DISCARD;
}

static enum resp_state resp_seq_nak(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;

	resp_put(c, SHM_RESP_NAK, q->resp.epsn, SHM_AETH_PSN_SEQ, c->rec.epoch, 0);
	q->resp.min_epoch = c->rec.epoch + 1;
	ack_covered(&q->resp);
	tp_count(q->qp.dev, TP_CNT(naks_sent), 1);
	return RESP_DISCARD;
}

/* Fatal NAK: end the receive in progress, answer, go to ERR (IBA 9.9.3.1:
 * a responder class C error puts an RC QP in the error state). */
static enum resp_state resp_nak(struct resp_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_qp *qp = &q->qp;

	if (!shm_tx_room(&q->tx_resp, SHM_REC))
		return RESP_DONE; /* retried from the same record next time */
	if (q->resp.has_recv && c->recv_status != TP_WC_SUCCESS)
		tp_rq_complete(qp, c->recv_status,
			       c->rec.kind == SHM_REQ_SEND ? TP_WC_RECV : TP_WC_RECV_RDMA_WITH_IMM,
			       0, NULL, c->syndrome);
	q->resp.has_recv = false;
	resp_put(c, SHM_RESP_NAK, c->nak_psn, c->syndrome, c->rec.epoch, 0);
	if (c->have)
		resp_consume(c);
	tp_qp_to_err(qp);
	return RESP_DONE;
}

static enum resp_state resp_discard(struct resp_ctx *c)
{
	resp_consume(c);
	return RESP_GET;
}

/* ---- entry point -------------------------------------------------------------------- */

static enum resp_state resp_step(struct resp_ctx *c, enum resp_state s)
{
	switch (s) {
	case RESP_GET: return resp_get(c);
	case RESP_CHECK_PSN: return resp_check_psn(c);
	case RESP_CHECK_RKEY: return resp_check_rkey(c);
	case RESP_CHECK_RECV: return resp_check_recv(c);
	case RESP_PLACE: return resp_place(c);
	case RESP_COMPLETE: return resp_complete(c);
	case RESP_READ_START: return resp_read_start(c);
	case RESP_READ: return resp_read(c);
	case RESP_ATOMIC: return resp_atomic(c);
	case RESP_ACK: return resp_ack(c);
	case RESP_RNR: return resp_rnr(c);
	case RESP_SEQ_NAK: return resp_seq_nak(c);
	case RESP_NAK: return resp_nak(c);
	case RESP_DISCARD: return resp_discard(c);
	case RESP_DONE: break;
	}
	return RESP_DONE;
}

/* Execute what the request ring holds and the response ring has room for,
 * up to a ring's worth of bytes; whether anything was consumed or sent.
 * Runs in RTR, RTS and SQD. */
bool shm_resp_run(struct shm_qp *q)
{
	struct resp_ctx c = { .q = q, .budget = q->rx_req.size };
	enum resp_state s = RESP_GET;

	while (s != RESP_DONE && q->qp.state != TP_QPS_ERR) {
		SHM_TRACE("qp %u resp %s epsn %u", q->qp.qp_num, resp_state_names[s],
			  q->resp.epsn);
		s = resp_step(&c, s);
	}
	if (c.consumed)
		shm_rx_done(&q->rx_req, q->peer->hdr);
	if (c.produced)
		shm_bell(q->peer->hdr);
	return c.consumed || c.produced;
}

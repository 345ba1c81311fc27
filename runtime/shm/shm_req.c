/*
 * shm_req.c - the shm requester: sends the SQ's WQEs, in order, as request
 * records into the peer QP's request ring.  SEND and WRITE payloads are
 * streamed in records of at most tx_chunk bytes as the ring drains; runs of
 * them that lie in this device's shared blocks go by reference instead (a
 * record naming the bytes, shm_mem.c), as does a READ's target when it is
 * one such run; READ and atomics are one record each.  Completion is the
 * completer's business (shm_comp.c).
 *
 * As IBA 9.7 but for a lossless, ordered medium: one PSN per message (not
 * per packet), no segmentation to the path MTU, nothing retransmitted on a
 * timer.  The requester goes back (epoch + 1, from the NAKed WQE) only when
 * the completer received an RNR NAK or a PSN sequence error NAK.  Local
 * checks (lkeys, IBA 10.6.3: LOCAL_WRITE for READ and atomic results) are
 * made when a WQE starts; a failure halts the requester and the completer
 * reports it as LOC_PROT_ERR once the WQEs before it are done.
 *
 * Concurrency: runs under the QP's tp_qp.lock, from tp_post_send (the
 * kick) or the progress thread; it is the only producer of tx_req.
 */
#include "shm.h"

enum req_state {
	REQ_NEXT,	/* pick the WQE at req.next */
	REQ_START,	/* ordering rules and local checks */
	REQ_DATA,	/* SEND/WRITE payload records */
	REQ_RD_ATOMIC,	/* one READ or atomic request record */
	REQ_DONE,
};

static const char *const req_state_names[] = {
	[REQ_NEXT] = "NEXT", [REQ_START] = "START", [REQ_DATA] = "DATA",
	[REQ_RD_ATOMIC] = "RD_ATOMIC", [REQ_DONE] = "DONE",
};

struct req_ctx {
	struct shm_qp *q;
	struct tp_send_wqe *w;
	uint64_t now;
	uint64_t published; /* records written this run (bytes); at most a ring's worth */
	bool failed;	    /* a WQE failed its local checks this run */
};

static uint8_t req_kind(enum tp_wr_opcode op)
{
	switch (op) {
	case TP_WR_SEND:
	case TP_WR_SEND_WITH_IMM:
		return SHM_REQ_SEND;
	case TP_WR_RDMA_WRITE:
	case TP_WR_RDMA_WRITE_WITH_IMM:
		return SHM_REQ_WRITE;
	case TP_WR_RDMA_READ:
		return SHM_REQ_READ;
	case TP_WR_ATOMIC_CMP_SWP:
		return SHM_REQ_CMP_SWP;
	case TP_WR_ATOMIC_FETCH_ADD:
		return SHM_REQ_FETCH_ADD;
	}
	return 0;
}

static bool has_imm(enum tp_wr_opcode op)
{
	return op == TP_WR_SEND_WITH_IMM || op == TP_WR_RDMA_WRITE_WITH_IMM;
}

/* The record header for the current WQE (payload fields filled by the
 * caller). */
static struct shm_rec req_rec(const struct req_ctx *c)
{
	const struct tp_send_wr *wr = &c->w->wr;

	return (struct shm_rec){
		.kind = req_kind(wr->opcode),
		.flags = (has_imm(wr->opcode) ? SHM_F_IMM : 0) |
			 ((wr->flags & TP_SEND_SOLICITED) ? SHM_F_SOLICITED : 0),
		.psn = shm_psn(c->q, c->q->req.next),
		.epoch = c->q->req.epoch,
		.msg_len = c->w->length,
		.rkey = wr->rkey,
		.imm = wr->imm_data,
		.raddr = wr->remote_addr,
		.a = wr->compare_add,
		.b = wr->swap,
	};
}

static enum req_state req_next(struct req_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_qp *qp = &q->qp;

	/* SQD (IBA 10.3.1: drain) finishes the message being sent, starts no
	 * other. */
	bool may_send = qp->state == TP_QPS_RTS || (qp->state == TP_QPS_SQD && q->req.next_off);

	if (q->req.halted || q->req.next == qp->sq.tail || !may_send ||
	    c->now < q->req.rnr_until_us || c->published >= q->tx_req.size)
		return REQ_DONE;
	c->w = tp_sq_wqe(qp, q->req.next);
	return q->req.next_off ? REQ_DATA : REQ_START;
}

static enum req_state req_start(struct req_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_send_wqe *w = c->w;
	bool rd_atomic = w->wr.opcode >= TP_WR_RDMA_READ;
	enum tp_wc_status s = TP_WC_SUCCESS;

	/* Fence: wait until every earlier READ/atomic has its response. */
	if ((w->wr.flags & TP_SEND_FENCE) && q->req.rd_atomic)
		return REQ_DONE;
	if (rd_atomic && q->req.rd_atomic >= q->qp.attr.max_rd_atomic)
		return REQ_DONE;
	if (!(w->wr.flags & TP_SEND_INLINE)) {
		tp_mr_read_lock(q->qp.dev);
		s = tp_sge_check(q->qp.pd, w->sge, w->wr.num_sge,
				 rd_atomic ? TP_ACCESS_LOCAL_WRITE : 0);
		tp_mr_read_unlock(q->qp.dev);
	}
	if (s != TP_WC_SUCCESS) {
		w->status = s;
		q->req.halted = true;
		c->failed = true;
		q->req.next++;
		return REQ_DONE;
	}
	return rd_atomic ? REQ_RD_ATOMIC : REQ_DATA;
}

/*
 * Bytes [off, off + n) of the message's SGE list that one record carries,
 * at most max: a run of at least ref_min bytes in one of this device's
 * shared blocks goes by reference (*id, *boff set: shm_mem.c); anything else
 * is copied, up to the start of such a run.  Returns n.
 */
static uint64_t req_plan(struct shm_qp *q, const struct tp_send_wqe *w, uint64_t off,
			 uint64_t max, uint64_t *id, uint64_t *boff)
{
	struct shm_device *sd = q->sdev;
	uint64_t done = 0, skip = off;

	*id = 0;
	if ((w->wr.flags & TP_SEND_INLINE) || max < sd->ref_min ||
	    !atomic_load_explicit(&sd->n_mems_hint, memory_order_relaxed))
		return max;
	pthread_rwlock_rdlock(&sd->mem_lock);
	for (int i = 0; i < w->wr.num_sge && done < max; i++) {
		uint64_t a, left, bid, bo, run;

		if (skip >= w->sge[i].length) {
			skip -= w->sge[i].length;
			continue;
		}
		left = w->sge[i].length - skip < max - done ? w->sge[i].length - skip : max - done;
		a = w->sge[i].addr + skip;
		skip = 0;
		for (; left; a += run, left -= run, done += run) {
			run = shm_mem_run(sd, a, left, &bid, &bo);
			if (bid && run >= sd->ref_min) {
				if (done == 0) {
					*id = bid;
					*boff = bo;
					done = run;
				}
				goto out;
			}
		}
	}
out:
	pthread_rwlock_unlock(&sd->mem_lock);
	return done;
}

/* One payload record of at most tx_chunk bytes, copied or by reference; a
 * zero-length message is one empty record. */
static enum req_state req_data(struct req_ctx *c)
{
	struct shm_qp *q = c->q;
	struct tp_send_wqe *w = c->w;
	uint64_t off = q->req.next_off, id, boff = 0;
	uint64_t chunk = req_plan(q, w, off, w->length - off < q->tx_chunk ? w->length - off
									  : q->tx_chunk,
				  &id, &boff);
	uint64_t bytes = shm_rec_bytes(id ? 0 : (uint32_t)chunk);
	struct shm_rec rec;
	uint64_t at = q->tx_req.prod;

	if (!shm_tx_room(&q->tx_req, bytes))
		return REQ_DONE;
	rec = req_rec(c);
	rec.flags |= (off == 0 ? SHM_F_FIRST : 0) | (off + chunk == w->length ? SHM_F_LAST : 0);
	rec.len = id ? 0 : (uint32_t)chunk;
	rec.offset = off;
	if (id) {
		rec.flags |= SHM_F_REF;
		rec.ref_len = (uint32_t)chunk;
		rec.a = id;
		rec.b = boff;
	}
	shm_tx_put(&q->tx_req, at, &rec, sizeof(rec));
	if (id) {
		/* the bytes stay where they are; the responder copies them */
	} else if (w->wr.flags & TP_SEND_INLINE) {
		shm_tx_put(&q->tx_req, at + SHM_REC, w->inl + off, chunk);
	} else {
		/* lkeys were checked at the start; the read lock keeps a
		 * concurrent tp_mr_dereg from freeing the memory mid-copy. */
		tp_mr_read_lock(q->qp.dev);
		shm_tx_put_sge(&q->tx_req, at + SHM_REC, w->sge, w->wr.num_sge, off, chunk);
		tp_mr_read_unlock(q->qp.dev);
	}
	shm_tx_publish(&q->tx_req, bytes);
	c->published += bytes;
	tp_count(q->qp.dev, TP_CNT(tx_packets), 1);
	tp_count(q->qp.dev, TP_CNT(tx_bytes), chunk);
	if (off + chunk < w->length) {
		q->req.next_off = off + chunk;
		/* A ring's worth per run: the caller (tp_post_send, or a pass
		 * over all QPs) gets the lock back in bounded time. */
		return c->published < q->tx_req.size ? REQ_DATA : REQ_DONE;
	}
	q->req.next++;
	q->req.next_off = 0;
	return REQ_NEXT;
}

/* Whether a READ's local target is one run of a shared block (its SGEs
 * contiguous in memory), so the response can be written straight into it;
 * *id, *boff as req_plan. */
static bool req_read_ref(struct shm_qp *q, const struct tp_send_wqe *w, uint64_t *id,
			 uint64_t *boff)
{
	struct shm_device *sd = q->sdev;
	uint64_t start = 0, end = 0, run = 0;
	bool first = true;

	if (w->wr.opcode != TP_WR_RDMA_READ || w->length < sd->ref_min ||
	    !atomic_load_explicit(&sd->n_mems_hint, memory_order_relaxed))
		return false;
	for (int i = 0; i < w->wr.num_sge; i++) {
		if (!w->sge[i].length)
			continue;
		if (!first && w->sge[i].addr != end)
			return false;
		if (first)
			start = w->sge[i].addr;
		first = false;
		end = w->sge[i].addr + w->sge[i].length;
	}
	pthread_rwlock_rdlock(&sd->mem_lock);
	run = shm_mem_run(sd, start, w->length, id, boff);
	pthread_rwlock_unlock(&sd->mem_lock);
	return *id && run == w->length;
}

static enum req_state req_rd_atomic(struct req_ctx *c)
{
	struct shm_qp *q = c->q;
	struct shm_rec rec;
	uint64_t id, boff;
	bool ref;

	if (!shm_tx_room(&q->tx_req, SHM_REC))
		return REQ_DONE;
	rec = req_rec(c);
	rec.flags |= SHM_F_FIRST | SHM_F_LAST;
	ref = req_read_ref(q, c->w, &id, &boff);
	if (ref) {
		rec.flags |= SHM_F_REF;
		rec.ref_len = c->w->length;
		rec.a = id;
		rec.b = boff;
	}
	q->req.rd_ref[q->req.rd_ref_tail++] = ref; /* uint8_t index: a 256-entry FIFO */
	shm_tx_put(&q->tx_req, q->tx_req.prod, &rec, sizeof(rec));
	shm_tx_publish(&q->tx_req, SHM_REC);
	c->published += SHM_REC;
	tp_count(q->qp.dev, TP_CNT(tx_packets), 1);
	q->req.rd_atomic++;
	q->req.next++;
	return REQ_NEXT;
}

/* Send what the ring, the ordering rules and the RNR timer allow, up to a
 * ring's worth; whether anything was sent.  The peer's doorbell rings once
 * at the end. */
bool shm_req_run(struct shm_qp *q, uint64_t now)
{
	struct req_ctx c = { .q = q, .now = now };
	enum req_state s = REQ_NEXT;

	while (s != REQ_DONE) {
		SHM_TRACE("qp %u req %s next %llu", q->qp.qp_num, req_state_names[s],
			  (unsigned long long)q->req.next);
		switch (s) {
		case REQ_NEXT:
			s = req_next(&c);
			break;
		case REQ_START:
			s = req_start(&c);
			break;
		case REQ_DATA:
			s = req_data(&c);
			break;
		case REQ_RD_ATOMIC:
			s = req_rd_atomic(&c);
			break;
		case REQ_DONE:
			break;
		}
	}
	if (c.published)
		shm_bell(q->peer->hdr);
	return c.published != 0 || c.failed;
}

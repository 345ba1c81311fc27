/*
 * ibvp_qp.c - RC queue pairs of the ibverbs provider: creation on the NIC,
 * transitions (the core checks them, ibvp_qp_attr_to_ibv translates them),
 * posting of send and receive WRs, and the translation of their work
 * completions back.
 *
 * Each WR posted gets a slot in a per-QP ring (struct ibvp_ring) holding
 * what the completion needs and verbs does not return: the caller's wr_id,
 * and for sends the message length and opcode (ibv_wc.byte_len is defined
 * for receives only, and ibv_wc.opcode only on success).  The NIC's wr_id
 * names the slot (ibvp.h, IBVP_WRID_*).  A ring holds max_send_wr /
 * max_recv_wr slots as the caller created the QP, which is also Loom's
 * queue-full limit (-ENOMEM), checked here before the NIC sees the WR;
 * unsignaled WRs leave the ring when a later completion is polled, as they
 * leave a verbs send queue.  The other checks of tp_post_send's contract
 * are made here as well, so every provider refuses the same WRs.
 *
 * Not here: CQ polling (ibvp_cq.c).  Concurrency: ibvp.h.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "ibvp.h"

#define POST_CHUNK 16
#define MSG_MAX_BYTES (1ull << 31)

/* ---- the lookup table ------------------------------------------------------ */

struct ibvp_qp *ibvp_qp_lookup(struct ibvp_device *d, uint32_t qp_num)
{
	struct ibvp_qp *q = d->qps[qp_num % IBVP_QP_BUCKETS];

	while (q && q->base.qp_num != qp_num)
		q = q->next;
	return q;
}

static void table_add(struct ibvp_device *d, struct ibvp_qp *q)
{
	struct ibvp_qp **b = &d->qps[q->base.qp_num % IBVP_QP_BUCKETS];

	pthread_rwlock_wrlock(&d->qps_lock);
	q->next = *b;
	*b = q;
	pthread_rwlock_unlock(&d->qps_lock);
}

static void table_del(struct ibvp_device *d, struct ibvp_qp *q)
{
	struct ibvp_qp **p = &d->qps[q->base.qp_num % IBVP_QP_BUCKETS];

	pthread_rwlock_wrlock(&d->qps_lock);
	while (*p && *p != q)
		p = &(*p)->next;
	if (*p)
		*p = q->next;
	pthread_rwlock_unlock(&d->qps_lock);
}

/* ---- rings ---------------------------------------------------------------------- */

static int ring_alloc(struct ibvp_ring *r, int size)
{
	r->size = (uint32_t)size;
	r->slot = calloc(size ? (size_t)size : 1, sizeof(*r->slot));
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r->slot ? 0 : -ENOMEM;
}

/* Empty the rings for a new epoch (RESET: the NIC discarded every WR). */
static void rings_reset(struct ibvp_device *d, struct ibvp_qp *q)
{
	atomic_store(&q->epoch, atomic_fetch_add(&d->next_epoch, 1) & IBVP_WRID_EPOCH_MASK);
	atomic_store(&q->sq.head, 0);
	atomic_store(&q->sq.tail, 0);
	atomic_store(&q->rq.head, 0);
	atomic_store(&q->rq.tail, 0);
}

/* ---- create / destroy ------------------------------------------------------------ */

static int qp_create_nic(struct ibvp_device *d, struct tp_qp *qp, struct ibvp_qp *q)
{
	struct ibv_qp_init_attr ia = {
		.qp_context = qp,
		.send_cq = to_ibvp_cq(qp->send_cq)->cq,
		.recv_cq = to_ibvp_cq(qp->recv_cq)->cq,
		.cap = { .max_send_wr = (uint32_t)qp->init.max_send_wr,
			 .max_recv_wr = (uint32_t)qp->init.max_recv_wr,
			 .max_send_sge = (uint32_t)qp->init.max_send_sge,
			 .max_recv_sge = (uint32_t)qp->init.max_recv_sge,
			 .max_inline_data = (uint32_t)qp->init.max_inline_data },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = qp->init.sq_sig_all,
	};
	int e;

	q->qp = d->lib->create_qp(to_ibvp_pd(qp->pd)->pd, &ia);
	if (q->qp)
		return 0;
	e = errno ? errno : ENOMEM;
	return loom_err_set(e, "ibverbs: %s: ibv_create_qp(max_send_wr=%d max_recv_wr=%d "
			    "max_send_sge=%d max_recv_sge=%d max_inline_data=%d; the NIC allows "
			    "%d WRs, %d SGEs): %s", d->base.name, qp->init.max_send_wr,
			    qp->init.max_recv_wr, qp->init.max_send_sge, qp->init.max_recv_sge,
			    qp->init.max_inline_data, d->attr.max_qp_wr, d->attr.max_sge,
			    strerror(e));
}

int ibvp_qp_init(struct tp_qp *qp)
{
	struct ibvp_device *d = to_ibvp_dev(qp->dev);
	struct ibvp_qp *q = to_ibvp_qp(qp);
	int err;

	if (ring_alloc(&q->sq, qp->init.max_send_wr) < 0 ||
	    ring_alloc(&q->rq, qp->init.max_recv_wr) < 0) {
		err = loom_err_set(ENOMEM, "ibverbs: qp_create: out of memory");
		goto err_free_rings;
	}
	err = qp_create_nic(d, qp, q);
	if (err)
		goto err_free_rings;
	qp->qp_num = q->qp->qp_num;
	rings_reset(d, q);
	table_add(d, q);
	return 0;

err_free_rings:
	free(q->sq.slot);
	free(q->rq.slot);
	return err;
}

void ibvp_qp_fini(struct tp_qp *qp)
{
	struct ibvp_device *d = to_ibvp_dev(qp->dev);
	struct ibvp_qp *q = to_ibvp_qp(qp);
	int rc;

	table_del(d, q); /* completions still in a CQ are dropped from now on */
	rc = d->lib->destroy_qp(q->qp);
	if (rc)
		loom_err_set(rc, "ibverbs: qp %u: ibv_destroy_qp: %s", qp->qp_num, strerror(rc));
	free(q->sq.slot);
	free(q->rq.slot);
}

/* ---- modify -------------------------------------------------------------------------- */

/* The NIC's idea of the QP's state, for an error message. */
static const char *nic_state(struct ibvp_device *d, struct ibvp_qp *q)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	int s;

	if (d->lib->query_qp(q->qp, &a, IBV_QP_STATE, &ia))
		return "unknown";
	s = ibvp_qp_state_from_ibv(a.qp_state);
	return s < 0 ? "unknown" : tp_qp_state_str((enum tp_qp_state)s);
}

int ibvp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask)
{
	struct ibvp_device *d = to_ibvp_dev(qp->dev);
	struct ibvp_qp *q = to_ibvp_qp(qp);
	struct ibv_qp_attr ia;
	int im, rc;

	if (ibvp_qp_attr_to_ibv(&d->port, qp->state, na, mask, &ia, &im) < 0)
		return -EINVAL;
	rc = d->lib->modify_qp(q->qp, &ia, im);
	if (rc)
		return loom_err_set(rc, "ibverbs: qp %u: ibv_modify_qp %s -> %s (verbs mask 0x%x): "
				    "%s (the NIC has it in %s; it allows max_rd_atomic %d, "
				    "max_dest_rd_atomic %d)", qp->qp_num,
				    tp_qp_state_str(qp->state), tp_qp_state_str(na->state), im,
				    strerror(rc), nic_state(d, q), d->attr.max_qp_init_rd_atom,
				    d->attr.max_qp_rd_atom);
	if (na->state == TP_QPS_RESET)
		rings_reset(d, q);
	return 0;
}

void ibvp_post_send_kick(struct tp_qp *qp)
{
	/* Never called: WRs go to the NIC in ibvp_post_send, and the core's
	 * work queues, whose arrivals this announces, stay empty. */
	(void)qp;
}

void ibvp_qp_mark_err(struct ibvp_qp *q)
{
	pthread_mutex_lock(&q->base.lock);
	if (q->base.state != TP_QPS_RESET) {
		q->base.state = TP_QPS_ERR;
		q->base.attr.state = TP_QPS_ERR;
	}
	pthread_mutex_unlock(&q->base.lock);
}

/* ---- posting ---------------------------------------------------------------------------- */

static bool is_atomic(enum tp_wr_opcode op)
{
	return op == TP_WR_ATOMIC_CMP_SWP || op == TP_WR_ATOMIC_FETCH_ADD;
}

/* tp_post_send's per-WR contract (transport.h); sets *len.  0 or -EINVAL. */
static int send_wr_check(struct tp_qp *qp, const struct tp_send_wr *wr, uint64_t *len)
{
	bool rd_atomic = wr->opcode == TP_WR_RDMA_READ || wr->opcode == TP_WR_ATOMIC_CMP_SWP ||
			 wr->opcode == TP_WR_ATOMIC_FETCH_ADD;

	if (ibvp_wr_opcode_to_ibv(wr->opcode) < 0 || ibvp_send_flags_to_ibv(wr->flags) < 0)
		return loom_err_set(EINVAL, "ibverbs: qp %u: opcode %d / flags 0x%x unknown",
				    qp->qp_num, (int)wr->opcode, wr->flags);
	if (wr->num_sge < 0 || wr->num_sge > qp->init.max_send_sge ||
	    (wr->num_sge && !wr->sg_list))
		return loom_err_set(EINVAL, "ibverbs: qp %u: num_sge %d (max_send_sge %d) or NULL "
				    "sg_list", qp->qp_num, wr->num_sge, qp->init.max_send_sge);
	*len = 0;
	for (int i = 0; i < wr->num_sge; i++)
		*len += wr->sg_list[i].length;
	if (*len > MSG_MAX_BYTES)
		return loom_err_set(EINVAL, "ibverbs: qp %u: message of %llu bytes exceeds 2^31",
				    qp->qp_num, (unsigned long long)*len);
	if ((wr->flags & TP_SEND_INLINE) &&
	    (rd_atomic || *len > (uint64_t)qp->init.max_inline_data))
		return loom_err_set(EINVAL, "ibverbs: qp %u: inline %llu bytes (max_inline_data "
				    "%d; not for READ or atomics)", qp->qp_num,
				    (unsigned long long)*len, qp->init.max_inline_data);
	if (is_atomic(wr->opcode) && (wr->num_sge != 1 || *len != 8))
		return loom_err_set(EINVAL, "ibverbs: qp %u: an atomic needs one SGE of 8 bytes",
				    qp->qp_num);
	if (rd_atomic && qp->attr.max_rd_atomic == 0)
		return loom_err_set(EINVAL, "ibverbs: qp %u: READ/atomic with max_rd_atomic 0",
				    qp->qp_num);
	return 0;
}

/* Fill the verbs WR for wr, posted as ring index idx. */
static void send_wr_fill(struct ibvp_qp *q, const struct tp_send_wr *wr, uint64_t idx,
			 struct ibv_send_wr *iw)
{
	memset(iw, 0, sizeof(*iw));
	iw->wr_id = (uint64_t)atomic_load_explicit(&q->epoch, memory_order_relaxed)
			    << IBVP_WRID_EPOCH_SHIFT |
		    (idx & IBVP_WRID_INDEX_MASK);
	/* struct tp_sge has struct ibv_sge's layout (ibvp_xlate.c); verbs
	 * only reads the list. */
	iw->sg_list = (struct ibv_sge *)(uintptr_t)wr->sg_list;
	iw->num_sge = wr->num_sge;
	iw->opcode = (enum ibv_wr_opcode)ibvp_wr_opcode_to_ibv(wr->opcode);
	iw->send_flags = (unsigned)ibvp_send_flags_to_ibv(wr->flags);
	if (wr->opcode == TP_WR_SEND_WITH_IMM || wr->opcode == TP_WR_RDMA_WRITE_WITH_IMM)
		iw->imm_data = htobe32(wr->imm_data); /* Loom: host order; verbs: network */
	if (is_atomic(wr->opcode)) {
		iw->wr.atomic.remote_addr = wr->remote_addr;
		iw->wr.atomic.compare_add = wr->compare_add;
		iw->wr.atomic.swap = wr->swap;
		iw->wr.atomic.rkey = wr->rkey;
	} else if (wr->opcode != TP_WR_SEND && wr->opcode != TP_WR_SEND_WITH_IMM) {
		iw->wr.rdma.remote_addr = wr->remote_addr;
		iw->wr.rdma.rkey = wr->rkey;
	}
}

/* Hand k chained WRs of a chunk to the NIC; their slots [tail, tail + k)
 * are filled.  The tail moves first (a completion may be polled before
 * ibv_post_send returns) and back over what the NIC refused.  The number
 * accepted, *err set when fewer than k. */
static int post_chunk_send(struct ibvp_qp *q, struct ibv_send_wr *iw, int k, int *err)
{
	uint64_t tail = atomic_load_explicit(&q->sq.tail, memory_order_relaxed);
	struct ibv_send_wr *bad = NULL;
	int rc, ok;

	iw[k - 1].next = NULL;
	atomic_store_explicit(&q->sq.tail, tail + (uint64_t)k, memory_order_release);
	rc = ibv_post_send(q->qp, iw, &bad);
	if (!rc)
		return k;
	ok = bad ? (int)(bad - iw) : 0;
	atomic_store_explicit(&q->sq.tail, tail + (uint64_t)ok, memory_order_release);
	*err = loom_err_set(rc, "ibverbs: qp %u: ibv_post_send: %s", q->base.qp_num,
			    strerror(rc));
	return ok;
}

static bool ring_full(struct ibvp_ring *r, uint64_t extra)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	return tail + extra - atomic_load_explicit(&r->head, memory_order_acquire) >= r->size;
}

/* Check, translate and post wr[0..n); *done counts the WRs the NIC took. */
static int post_send_locked(struct ibvp_qp *q, const struct tp_send_wr *wr, int n, int *done)
{
	struct ibv_send_wr iw[POST_CHUNK];
	int err = 0;

	*done = 0;
	while (*done < n && !err) {
		uint64_t tail = atomic_load_explicit(&q->sq.tail, memory_order_relaxed);
		int k = 0;

		for (; k < POST_CHUNK && *done + k < n; k++) {
			const struct tp_send_wr *w = &wr[*done + k];
			uint64_t len = 0;

			if ((err = send_wr_check(&q->base, w, &len)) != 0)
				break;
			if (ring_full(&q->sq, (uint64_t)k)) {
				err = loom_err_set(ENOMEM, "ibverbs: qp %u: send queue full "
						   "(max_send_wr %u)", q->base.qp_num, q->sq.size);
				break;
			}
			q->sq.slot[(tail + k) % q->sq.size] = (struct ibvp_slot){
				.wr_id = w->wr_id, .length = (uint32_t)len,
				.opcode = (uint8_t)tp_wc_opcode_of_wr(w->opcode),
				.result_addr = is_atomic(w->opcode) ? w->sg_list[0].addr : 0 };
			send_wr_fill(q, w, tail + k, &iw[k]);
			if (k)
				iw[k - 1].next = &iw[k];
		}
		if (k)
			*done += post_chunk_send(q, iw, k, &err);
	}
	return err;
}

int ibvp_post_send(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad)
{
	struct ibvp_qp *q = to_ibvp_qp(qp);
	int done = 0, err;

	pthread_mutex_lock(&qp->lock);
	if (qp->state != TP_QPS_RTS && qp->state != TP_QPS_SQD && qp->state != TP_QPS_ERR)
		err = loom_err_set(EINVAL, "ibverbs: qp %u: post_send in state %s (needs RTS)",
				   qp->qp_num, tp_qp_state_str(qp->state));
	else
		err = post_send_locked(q, wr, n, &done);
	pthread_mutex_unlock(&qp->lock);
	if (err)
		*bad = done;
	return err;
}

static int recv_wr_check(struct tp_qp *qp, const struct tp_recv_wr *wr)
{
	if (wr->num_sge < 0 || wr->num_sge > qp->init.max_recv_sge ||
	    (wr->num_sge && !wr->sg_list))
		return loom_err_set(EINVAL, "ibverbs: qp %u: recv num_sge %d (max_recv_sge %d) or "
				    "NULL sg_list", qp->qp_num, wr->num_sge,
				    qp->init.max_recv_sge);
	return 0;
}

/* Post one receive WR as ring index tail (see post_chunk_send). */
static int post_one_recv(struct ibvp_qp *q, const struct tp_recv_wr *wr, uint64_t tail)
{
	struct ibv_recv_wr iw = {
		.wr_id = IBVP_WRID_RECV |
			 (uint64_t)atomic_load_explicit(&q->epoch, memory_order_relaxed)
				 << IBVP_WRID_EPOCH_SHIFT |
			 (tail & IBVP_WRID_INDEX_MASK),
		.sg_list = (struct ibv_sge *)(uintptr_t)wr->sg_list,
		.num_sge = wr->num_sge,
	};
	struct ibv_recv_wr *bad = NULL;
	int rc;

	q->rq.slot[tail % q->rq.size] = (struct ibvp_slot){ .wr_id = wr->wr_id,
							     .opcode = TP_WC_RECV };
	atomic_store_explicit(&q->rq.tail, tail + 1, memory_order_release);
	rc = ibv_post_recv(q->qp, &iw, &bad);
	if (!rc)
		return 0;
	atomic_store_explicit(&q->rq.tail, tail, memory_order_release);
	return loom_err_set(rc, "ibverbs: qp %u: ibv_post_recv: %s", q->base.qp_num,
			    strerror(rc));
}

int ibvp_post_recv(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad)
{
	struct ibvp_qp *q = to_ibvp_qp(qp);
	int i = 0, err = 0;

	pthread_mutex_lock(&qp->lock);
	if (qp->state == TP_QPS_RESET)
		err = loom_err_set(EINVAL, "ibverbs: qp %u: post_recv in state RESET", qp->qp_num);
	for (; !err && i < n; i++) {
		uint64_t tail = atomic_load_explicit(&q->rq.tail, memory_order_relaxed);

		if ((err = recv_wr_check(qp, &wr[i])) != 0)
			break;
		if (ring_full(&q->rq, 0)) {
			err = loom_err_set(ENOMEM, "ibverbs: qp %u: receive queue full (max_recv_wr "
					   "%u)", qp->qp_num, q->rq.size);
			break;
		}
		if ((err = post_one_recv(q, &wr[i], tail)) != 0)
			break;
	}
	pthread_mutex_unlock(&qp->lock);
	if (err)
		*bad = i;
	return err;
}

/* ---- completions ------------------------------------------------------------------------ */

/* A successful atomic's fetched value, big-endian from such a NIC, into
 * host order in the caller's buffer (atomic_reply_be; the caller reads it
 * only after the completion, as with any NIC). */
static void atomic_fix(struct ibvp_device *d, const struct ibvp_slot *s)
{
	uint64_t v;

	if (!d->atomic_reply_be || !s->result_addr)
		return;
	memcpy(&v, (void *)(uintptr_t)s->result_addr, 8);
	v = be64toh(v);
	memcpy((void *)(uintptr_t)s->result_addr, &v, 8);
}

/* Copy out the slot a completion's wr_id names and retire it with every
 * WR before it in the ring (those completed unsignaled, hence
 * successfully).  The copy is made before the head moves on: from then on
 * the poster may reuse the slot.  false when no such WR is outstanding. */
static bool slot_retire(struct ibvp_device *d, struct ibvp_qp *q, uint64_t nic_wr_id,
			bool *recv, struct ibvp_slot *out)
{
	struct ibvp_ring *r;
	uint64_t head, idx;

	*recv = nic_wr_id & IBVP_WRID_RECV;
	if (((nic_wr_id >> IBVP_WRID_EPOCH_SHIFT) & IBVP_WRID_EPOCH_MASK) !=
	    atomic_load_explicit(&q->epoch, memory_order_relaxed))
		return false;
	r = *recv ? &q->rq : &q->sq;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	idx = head + ((nic_wr_id - head) & IBVP_WRID_INDEX_MASK);
	if (idx >= atomic_load_explicit(&r->tail, memory_order_acquire))
		return false;
	for (uint64_t i = head; !*recv && i < idx; i++)
		atomic_fix(d, &r->slot[i % r->size]);
	*out = r->slot[idx % r->size];
	atomic_store_explicit(&r->head, idx + 1, memory_order_release);
	return true;
}

bool ibvp_wc_translate(struct ibvp_device *d, const struct ibv_wc *iw, struct tp_wc *wc)
{
	struct ibvp_qp *q = ibvp_qp_lookup(d, iw->qp_num);
	struct ibvp_slot s;
	int op;
	bool recv;

	if (!q || !slot_retire(d, q, iw->wr_id, &recv, &s))
		return false;
	*wc = (struct tp_wc){
		.wr_id = s.wr_id,
		.status = ibvp_wc_status_from_ibv(iw->status),
		.opcode = (enum tp_wc_opcode)s.opcode,
		.byte_len = recv ? iw->byte_len : s.length,
		.qp_num = iw->qp_num,
		.vendor_err = iw->vendor_err,
	};
	/* verbs defines opcode, byte_len and the flags on success only. */
	if (iw->status == IBV_WC_SUCCESS) {
		op = ibvp_wc_opcode_from_ibv(iw->opcode);
		if (op >= 0)
			wc->opcode = (enum tp_wc_opcode)op;
		if (recv && (iw->wc_flags & IBV_WC_WITH_IMM)) {
			wc->has_imm = true;
			wc->imm_data = be32toh(iw->imm_data);
		}
		if (!recv)
			atomic_fix(d, &s);
	} else {
		if (recv)
			wc->byte_len = 0;
		ibvp_qp_mark_err(q); /* IBA 10.3.1: an error completion means ERR */
	}
	return true;
}

/*
 * qp.c - queue pairs for every provider: creation with capacity checks,
 * tp_qp_modify (the state machine of qp_state.c, then the provider, then the
 * commit), the generic send and receive work queues with the checks every
 * work request passes before a provider sees it, and completion and
 * flushing of WQEs.
 *
 * Not here: moving data (the providers).  Concurrency: every function that
 * touches a QP's state or queues holds qp->lock (provider.h); posting is
 * thus safe against the provider's progress thread.
 */
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "provider.h"

#define QP_MAX_WR 16384
#define QP_MAX_SGE 32
#define QP_MAX_INLINE 4096
#define MSG_MAX_BYTES (1ull << 31)

/* ---- work queues ----------------------------------------------------------- */

static int sq_alloc(struct tp_wq *q, const struct tp_qp_init_attr *init)
{
	size_t sge_bytes = (size_t)init->max_send_sge * sizeof(struct tp_sge);
	size_t stride = sge_bytes + (size_t)init->max_inline_data;
	struct tp_send_wqe *w;
	uint8_t *st;

	q->size = (uint32_t)init->max_send_wr;
	w = q->wqe = calloc(q->size ? q->size : 1, sizeof(*w));
	st = q->storage = calloc(q->size ? q->size : 1, stride ? stride : 1);
	if (!w || !st)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->size; i++) {
		w[i].sge = (struct tp_sge *)(void *)(st + i * stride);
		w[i].inl = st + i * stride + sge_bytes;
	}
	return 0;
}

static int rq_alloc(struct tp_wq *q, const struct tp_qp_init_attr *init)
{
	size_t stride = (size_t)init->max_recv_sge * sizeof(struct tp_sge);
	struct tp_recv_wqe *w;
	uint8_t *st;

	q->size = (uint32_t)init->max_recv_wr;
	w = q->wqe = calloc(q->size ? q->size : 1, sizeof(*w));
	st = q->storage = calloc(q->size ? q->size : 1, stride ? stride : 1);
	if (!w || !st)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->size; i++)
		w[i].sge = (struct tp_sge *)(void *)(st + i * stride);
	return 0;
}

static void wq_free(struct tp_wq *q)
{
	free(q->wqe);
	free(q->storage);
}

/* ---- create / destroy ---------------------------------------------------------- */

static int qp_check_init(struct tp_pd *pd, const struct tp_qp_init_attr *in)
{
	if (!pd || !in)
		return loom_err_set(EINVAL, "transport: qp_create: pd=%p init=%p", (void *)pd,
				    (void *)in);
	if (!in->send_cq || !in->recv_cq || in->send_cq->dev != pd->dev ||
	    in->recv_cq->dev != pd->dev)
		return loom_err_set(EINVAL, "%s: qp_create: send_cq and recv_cq must be CQs of the "
				    "PD's device", pd->dev->ops->name);
	if (in->max_send_wr < 0 || in->max_send_wr > QP_MAX_WR || in->max_recv_wr < 0 ||
	    in->max_recv_wr > QP_MAX_WR || in->max_send_sge < 0 ||
	    in->max_send_sge > QP_MAX_SGE || in->max_recv_sge < 0 ||
	    in->max_recv_sge > QP_MAX_SGE || in->max_inline_data < 0 ||
	    in->max_inline_data > QP_MAX_INLINE)
		return loom_err_set(EINVAL, "%s: qp_create: max_send_wr=%d max_recv_wr=%d (0..%d), "
				    "max_send_sge=%d max_recv_sge=%d (0..%d), max_inline_data=%d "
				    "(0..%d)", pd->dev->ops->name, in->max_send_wr,
				    in->max_recv_wr, QP_MAX_WR, in->max_send_sge,
				    in->max_recv_sge, QP_MAX_SGE, in->max_inline_data,
				    QP_MAX_INLINE);
	return 0;
}

static void qp_count(struct tp_qp *qp, int d)
{
	pthread_mutex_lock(&qp->dev->lock);
	qp->pd->n_qp += d;
	qp->send_cq->n_qp += d;
	qp->recv_cq->n_qp += d;
	pthread_mutex_unlock(&qp->dev->lock);
}

struct tp_qp *tp_qp_create(struct tp_pd *pd, const struct tp_qp_init_attr *init)
{
	const struct tp_provider_ops *ops;
	struct tp_qp *qp;

	if (qp_check_init(pd, init) < 0)
		return NULL;
	ops = pd->dev->ops;
	qp = calloc(1, ops->qp_size);
	if (!qp)
		goto err_nomem;
	*qp = (struct tp_qp){ .pd = pd, .dev = pd->dev, .send_cq = init->send_cq,
			      .recv_cq = init->recv_cq, .init = *init, .state = TP_QPS_RESET };
	pthread_mutex_init(&qp->lock, NULL);
	/* A provider that posts itself (ops->post_send) keeps its own queues. */
	if (!ops->post_send && (sq_alloc(&qp->sq, init) < 0 || rq_alloc(&qp->rq, init) < 0))
		goto err_free_wq;
	if (ops->qp_init(qp) < 0)
		goto err_free_wq_quiet;
	qp_count(qp, +1);
	return qp;

err_free_wq:
	loom_err_set(ENOMEM, "%s: qp_create: out of memory for the work queues", ops->name);
err_free_wq_quiet:
	wq_free(&qp->sq);
	wq_free(&qp->rq);
	pthread_mutex_destroy(&qp->lock);
	free(qp);
	return NULL;
err_nomem:
	loom_err_set(ENOMEM, "%s: qp_create: out of memory", ops->name);
	return NULL;
}

int tp_qp_destroy(struct tp_qp *qp)
{
	if (!qp)
		return loom_err_set(EINVAL, "transport: qp_destroy: qp is NULL");
	/* ibv_destroy_qp: outstanding WQEs vanish without completions. */
	qp->dev->ops->qp_fini(qp);
	qp_count(qp, -1);
	wq_free(&qp->sq);
	wq_free(&qp->rq);
	pthread_mutex_destroy(&qp->lock);
	free(qp);
	return 0;
}

uint32_t tp_qp_num(const struct tp_qp *qp)
{
	return qp ? qp->qp_num : 0;
}

/* ---- modify / query ------------------------------------------------------------- */

int tp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *attr, unsigned mask)
{
	enum tp_qp_state cur, next;
	struct tp_qp_attr na;
	int err;

	if (!qp || !attr)
		return loom_err_set(EINVAL, "transport: qp_modify: qp=%p attr=%p", (void *)qp,
				    (void *)attr);
	pthread_mutex_lock(&qp->lock);
	cur = qp->state;
	next = (mask & TP_QP_STATE) ? attr->state : cur;
	err = tp_qp_check_modify(qp->qp_num, cur, next, attr, mask);
	if (err)
		goto out;
	na = qp->attr;
	tp_qp_attr_merge(&na, attr, mask);
	na.state = next;
	if (next == TP_QPS_RESET)
		na = (struct tp_qp_attr){ .state = TP_QPS_RESET };
	err = qp->dev->ops->qp_modify(qp, &na, mask);
	if (err)
		goto out;
	qp->attr = na;
	qp->state = next;
	if (next == TP_QPS_ERR)
		tp_qp_to_err(qp);
	if (next == TP_QPS_RESET) /* IBA 10.3.1: WQs emptied, no completions */
		qp->sq.head = qp->sq.tail = qp->rq.head = qp->rq.tail = 0;
	if (next == TP_QPS_RTS && cur == TP_QPS_SQD && qp->sq.head != qp->sq.tail)
		qp->dev->ops->post_send_kick(qp); /* WRs held back in SQD go now */
out:
	pthread_mutex_unlock(&qp->lock);
	return err;
}

int tp_qp_query(struct tp_qp *qp, struct tp_qp_attr *attr)
{
	if (!qp || !attr)
		return loom_err_set(EINVAL, "transport: qp_query: qp=%p attr=%p", (void *)qp,
				    (void *)attr);
	pthread_mutex_lock(&qp->lock);
	*attr = qp->attr;
	attr->state = qp->state;
	attr->sq_draining = qp->state == TP_QPS_SQD && qp->dev->ops->qp_sq_draining &&
			    qp->dev->ops->qp_sq_draining(qp);
	pthread_mutex_unlock(&qp->lock);
	return 0;
}

/* ---- completions and flushing ------------------------------------------------------- */

enum tp_wc_opcode tp_wc_opcode_of_wr(enum tp_wr_opcode op)
{
	switch (op) {
	case TP_WR_SEND:
	case TP_WR_SEND_WITH_IMM:
		return TP_WC_SEND;
	case TP_WR_RDMA_WRITE:
	case TP_WR_RDMA_WRITE_WITH_IMM:
		return TP_WC_RDMA_WRITE;
	case TP_WR_RDMA_READ:
		return TP_WC_RDMA_READ;
	case TP_WR_ATOMIC_CMP_SWP:
		return TP_WC_COMP_SWAP;
	case TP_WR_ATOMIC_FETCH_ADD:
		return TP_WC_FETCH_ADD;
	}
	return TP_WC_SEND;
}

/* Push wc; a full CQ moves the QP to ERR (the CQ is then in error). */
static void qp_push(struct tp_qp *qp, struct tp_cq *cq, const struct tp_wc *wc)
{
	if (tp_cq_push(cq, wc) < 0 && qp->state != TP_QPS_ERR)
		tp_qp_to_err(qp);
}

void tp_sq_complete(struct tp_qp *qp, enum tp_wc_status status, uint32_t vendor_err)
{
	struct tp_send_wqe *w = tp_sq_wqe(qp, qp->sq.head);
	struct tp_wc wc = {
		.wr_id = w->wr.wr_id,
		.status = status,
		.opcode = tp_wc_opcode_of_wr(w->wr.opcode),
		.byte_len = w->length,
		.qp_num = qp->qp_num,
		.vendor_err = vendor_err,
	};

	qp->sq.head++;
	if (w->signaled || status != TP_WC_SUCCESS)
		qp_push(qp, qp->send_cq, &wc);
}

void tp_rq_complete(struct tp_qp *qp, enum tp_wc_status status, enum tp_wc_opcode op,
		    uint32_t byte_len, const uint32_t *imm, uint32_t vendor_err)
{
	struct tp_recv_wqe *w = tp_rq_wqe(qp, qp->rq.head);
	struct tp_wc wc = {
		.wr_id = w->wr_id,
		.status = status,
		.opcode = op,
		.byte_len = byte_len,
		.imm_data = imm ? *imm : 0,
		.has_imm = imm != NULL,
		.qp_num = qp->qp_num,
		.vendor_err = vendor_err,
	};

	qp->rq.head++;
	qp_push(qp, qp->recv_cq, &wc);
}

void tp_qp_to_err(struct tp_qp *qp)
{
	qp->state = TP_QPS_ERR;
	qp->attr.state = TP_QPS_ERR;
	while (qp->sq.head != qp->sq.tail)
		tp_sq_complete(qp, TP_WC_WR_FLUSH_ERR, 0);
	while (qp->rq.head != qp->rq.tail)
		tp_rq_complete(qp, TP_WC_WR_FLUSH_ERR, TP_WC_RECV, 0, NULL, 0);
}

/* ---- posting ------------------------------------------------------------------------ */

/* Checks every provider needs before accepting a send WR; sets *len to the
 * message length.  0 or -EINVAL. */
static int check_send_wr(struct tp_qp *qp, const struct tp_send_wr *wr, uint64_t *len)
{
	const unsigned flags_all = TP_SEND_SIGNALED | TP_SEND_INLINE | TP_SEND_FENCE |
				   TP_SEND_SOLICITED;
	const char *prov = qp->dev->ops->name;
	bool rd_atomic = wr->opcode >= TP_WR_RDMA_READ;

	if ((unsigned)wr->opcode > TP_WR_ATOMIC_FETCH_ADD || (wr->flags & ~flags_all))
		return loom_err_set(EINVAL, "%s: qp %u: opcode %d / flags 0x%x unknown", prov,
				    qp->qp_num, (int)wr->opcode, wr->flags);
	if (wr->num_sge < 0 || wr->num_sge > qp->init.max_send_sge ||
	    (wr->num_sge && !wr->sg_list))
		return loom_err_set(EINVAL, "%s: qp %u: num_sge %d (max_send_sge %d) or NULL "
				    "sg_list", prov, qp->qp_num, wr->num_sge,
				    qp->init.max_send_sge);
	*len = 0;
	for (int i = 0; i < wr->num_sge; i++)
		*len += wr->sg_list[i].length;
	if (*len > MSG_MAX_BYTES)
		return loom_err_set(EINVAL, "%s: qp %u: message of %llu bytes exceeds 2^31", prov,
				    qp->qp_num, (unsigned long long)*len);
	if ((wr->flags & TP_SEND_INLINE) && (rd_atomic || *len > (uint64_t)qp->init.max_inline_data))
		return loom_err_set(EINVAL, "%s: qp %u: inline %llu bytes (max_inline_data %d; "
				    "not for READ or atomics)", prov, qp->qp_num,
				    (unsigned long long)*len, qp->init.max_inline_data);
	if (wr->opcode >= TP_WR_ATOMIC_CMP_SWP && (wr->num_sge != 1 || *len != 8))
		return loom_err_set(EINVAL, "%s: qp %u: an atomic needs one SGE of 8 bytes", prov,
				    qp->qp_num);
	if (rd_atomic && qp->attr.max_rd_atomic == 0)
		return loom_err_set(EINVAL, "%s: qp %u: READ/atomic with max_rd_atomic 0", prov,
				    qp->qp_num);
	return 0;
}

static void sq_enqueue(struct tp_qp *qp, const struct tp_send_wr *wr, uint64_t len)
{
	struct tp_send_wqe *w = tp_sq_wqe(qp, qp->sq.tail++);

	w->wr = *wr;
	if (wr->num_sge)
		memcpy(w->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(*w->sge));
	w->wr.sg_list = w->sge;
	w->length = (uint32_t)len;
	w->signaled = qp->init.sq_sig_all || (wr->flags & TP_SEND_SIGNALED);
	w->status = TP_WC_SUCCESS;
	w->vendor_err = 0;
	if (wr->flags & TP_SEND_INLINE)
		tp_sge_copy_out(wr->sg_list, wr->num_sge, 0, w->inl, len);
}

/* A WR posted to a QP in ERR completes at once with WR_FLUSH_ERR. */
static void flush_posted(struct tp_qp *qp, struct tp_cq *cq, uint64_t wr_id, enum tp_wc_opcode op)
{
	struct tp_wc wc = { .wr_id = wr_id, .status = TP_WC_WR_FLUSH_ERR, .opcode = op,
			    .qp_num = qp->qp_num };

	tp_cq_push(cq, &wc);
}

static int post_send_locked(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad)
{
	uint64_t len = 0;
	int i, err = 0;

	if (qp->state != TP_QPS_RTS && qp->state != TP_QPS_SQD && qp->state != TP_QPS_ERR) {
		*bad = 0;
		return loom_err_set(EINVAL, "%s: qp %u: post_send in state %s (needs RTS)",
				    qp->dev->ops->name, qp->qp_num, tp_qp_state_str(qp->state));
	}
	for (i = 0; i < n; i++) {
		err = check_send_wr(qp, &wr[i], &len);
		if (err)
			break;
		if (qp->state == TP_QPS_ERR) {
			flush_posted(qp, qp->send_cq, wr[i].wr_id, tp_wc_opcode_of_wr(wr[i].opcode));
			continue;
		}
		if (qp->sq.tail - qp->sq.head == qp->sq.size) {
			err = loom_err_set(ENOMEM, "%s: qp %u: send queue full (max_send_wr %u)",
					   qp->dev->ops->name, qp->qp_num, qp->sq.size);
			break;
		}
		sq_enqueue(qp, &wr[i], len);
	}
	if (i > 0 && qp->state != TP_QPS_ERR)
		qp->dev->ops->post_send_kick(qp);
	if (err)
		*bad = i;
	return err;
}

int tp_post_send(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad)
{
	int bad_local, err;

	if (!bad)
		bad = &bad_local;
	if (!qp || n < 0 || (n > 0 && !wr)) {
		*bad = 0;
		return loom_err_set(EINVAL, "transport: post_send: qp=%p wr=%p n=%d", (void *)qp,
				    (const void *)wr, n);
	}
	if (qp->dev->ops->post_send)
		return qp->dev->ops->post_send(qp, wr, n, bad);
	pthread_mutex_lock(&qp->lock);
	err = post_send_locked(qp, wr, n, bad);
	pthread_mutex_unlock(&qp->lock);
	return err;
}

static int post_recv_locked(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad)
{
	int i, err = 0;

	if (qp->state == TP_QPS_RESET) {
		*bad = 0;
		return loom_err_set(EINVAL, "%s: qp %u: post_recv in state RESET",
				    qp->dev->ops->name, qp->qp_num);
	}
	for (i = 0; i < n; i++) {
		struct tp_recv_wqe *w;
		uint64_t len = 0;

		if (wr[i].num_sge < 0 || wr[i].num_sge > qp->init.max_recv_sge ||
		    (wr[i].num_sge && !wr[i].sg_list)) {
			err = loom_err_set(EINVAL, "%s: qp %u: recv num_sge %d (max_recv_sge %d) "
					   "or NULL sg_list", qp->dev->ops->name, qp->qp_num,
					   wr[i].num_sge, qp->init.max_recv_sge);
			break;
		}
		if (qp->state == TP_QPS_ERR) {
			flush_posted(qp, qp->recv_cq, wr[i].wr_id, TP_WC_RECV);
			continue;
		}
		if (qp->rq.tail - qp->rq.head == qp->rq.size) {
			err = loom_err_set(ENOMEM, "%s: qp %u: receive queue full (max_recv_wr %u)",
					   qp->dev->ops->name, qp->qp_num, qp->rq.size);
			break;
		}
		w = tp_rq_wqe(qp, qp->rq.tail++);
		w->wr_id = wr[i].wr_id;
		w->num_sge = wr[i].num_sge;
		if (w->num_sge)
			memcpy(w->sge, wr[i].sg_list, (size_t)w->num_sge * sizeof(*w->sge));
		for (int k = 0; k < w->num_sge; k++)
			len += w->sge[k].length;
		w->length = len > MSG_MAX_BYTES ? (uint32_t)MSG_MAX_BYTES : (uint32_t)len;
	}
	if (err)
		*bad = i;
	return err;
}

int tp_post_recv(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad)
{
	int bad_local, err;

	if (!bad)
		bad = &bad_local;
	if (!qp || n < 0 || (n > 0 && !wr)) {
		*bad = 0;
		return loom_err_set(EINVAL, "transport: post_recv: qp=%p wr=%p n=%d", (void *)qp,
				    (const void *)wr, n);
	}
	if (qp->dev->ops->post_recv)
		return qp->dev->ops->post_recv(qp, wr, n, bad);
	pthread_mutex_lock(&qp->lock);
	err = post_recv_locked(qp, wr, n, bad);
	pthread_mutex_unlock(&qp->lock);
	return err;
}

/*
 * shm_qp.c - shm QPs: slots and QP numbers, what each state transition
 * does to the shared rings, linking to the peer QP, and one progress step
 * of a QP (responder, completer, requester, in that order).
 *
 * Connection (no handshake beyond tp_addr + QP number): at INIT -> RTR a QP
 * maps the peer's segment, resets its own two incoming rings, records the
 * peer it accepts (peer_uid, peer_qpn) and publishes a fresh nonce in
 * slot.conn.  The peer QP *links* once it sees a nonce naming it, and only
 * then produces into those rings; a changed nonce, or a slot no longer
 * holding the expected QP, means the peer QP was reset, reconnected or
 * destroyed.  RESET and destroy clear conn first, so a peer stops producing.
 * Limitation: moving a QP to RESET and straight back to RTR while its old
 * peer is still sending to it can interleave that sender's last records with
 * the new connection's; reset both ends, as with any RC connection.
 *
 * Concurrency: every function runs with the QP's tp_qp.lock held, except
 * init/fini, which take shm_device.qps_lock for writing so the progress
 * thread never sees a half-made or freed QP.
 */
#include <string.h>
#include <sys/random.h>

#include "loom/err.h"
#include "shm.h"

/* ---- slots ------------------------------------------------------------------ */

static void rx_init(struct shm_rx *rx, struct shm_seg_hdr *h, struct shm_slot *s, int which)
{
	struct shm_ring_ctl *ctl = which ? &s->resp : &s->req;

	*rx = (struct shm_rx){ .ctl = ctl, .data = shm_slot_ring(h, s, which),
			       .size = h->ring_bytes };
}

int shm_qp_init(struct tp_qp *qp)
{
	struct shm_qp *q = to_shm_qp(qp);
	struct shm_device *sd = to_shm_dev(qp->dev);
	unsigned i;

	pthread_rwlock_wrlock(&sd->qps_lock);
	for (i = 0; i < sd->max_qp && sd->qps[i]; i++)
		;
	if (i == sd->max_qp) {
		pthread_rwlock_unlock(&sd->qps_lock);
		return loom_err_set(ENOMEM, "shm: all %u QP slots in use (option max_qp)",
				    sd->max_qp);
	}
	if (shm_seg_reserve(sd, i, false) < 0) {
		pthread_rwlock_unlock(&sd->qps_lock);
		return -ENOSPC;
	}
	if (++sd->gen[i] == 0)
		sd->gen[i] = 1;
	/* QP number: generation << 8 | slot, so a stale number misses. */
	qp->qp_num = (uint32_t)sd->gen[i] << 8 | i;
	q->sdev = sd;
	q->slot = i;
	q->my = shm_slot_at(sd->hdr, i);
	atomic_store_explicit(&q->my->conn, 0, memory_order_relaxed);
	atomic_store_explicit(&q->my->qpn, qp->qp_num, memory_order_release);
	rx_init(&q->rx_req, sd->hdr, q->my, 0);
	rx_init(&q->rx_resp, sd->hdr, q->my, 1);
	sd->qps[i] = q;
	pthread_rwlock_unlock(&sd->qps_lock);
	return 0;
}

/* Stop accepting from the peer and drop the link (RESET, destroy). */
static void qp_unlink(struct shm_qp *q)
{
	atomic_store_explicit(&q->my->conn, 0, memory_order_release);
	if (q->peer)
		shm_peer_put(q->sdev, q->peer);
	q->peer = NULL;
	q->peer_slot = NULL;
	q->peer_conn = 0;
}

void shm_qp_fini(struct tp_qp *qp)
{
	struct shm_qp *q = to_shm_qp(qp);
	struct shm_device *sd = q->sdev;

	pthread_rwlock_wrlock(&sd->qps_lock);
	sd->qps[q->slot] = NULL;
	pthread_rwlock_unlock(&sd->qps_lock);
	qp_unlink(q);
	atomic_store_explicit(&q->my->qpn, 0, memory_order_release);
	shm_seg_reserve(sd, q->slot, true); /* the slot reads as zeros again */
}

/* ---- transitions ------------------------------------------------------------- */

static uint32_t new_nonce(void)
{
	uint32_t n = 0;

	if (getrandom(&n, sizeof(n), 0) != sizeof(n))
		n = (uint32_t)tp_now_us();
	return n ? n : 1;
}

static void ring_ctl_reset(struct shm_ring_ctl *c)
{
	atomic_store_explicit(&c->prod, 0, memory_order_relaxed);
	atomic_store_explicit(&c->cons, 0, memory_order_relaxed);
	atomic_store_explicit(&c->want_space, 0, memory_order_relaxed);
}

/* INIT -> RTR: map the peer, check its QP exists, open our rings to it. */
static int qp_connect(struct shm_qp *q, const struct tp_qp_attr *na)
{
	unsigned idx = na->dest_qp_num & 0xff;
	struct shm_peer *p;
	struct shm_slot *ps;
	int err;

	err = shm_peer_get(q->sdev, &na->dest, &p);
	if (err)
		return err;
	ps = idx < p->hdr->max_qp ? shm_slot_at(p->hdr, idx) : NULL;
	if (!ps || atomic_load_explicit(&ps->qpn, memory_order_acquire) != na->dest_qp_num) {
		err = loom_err_set(EINVAL, "shm: qp %u: peer QP %u does not exist in %s",
				   q->qp.qp_num, na->dest_qp_num, p->name);
		shm_peer_put(q->sdev, p);
		return err;
	}
	ring_ctl_reset(&q->my->req);
	ring_ctl_reset(&q->my->resp);
	q->rx_req.cons = q->rx_req.prod_cache = 0;
	q->rx_resp.cons = q->rx_resp.prod_cache = 0;
	atomic_store_explicit(&q->my->peer_uid, p->hdr->uid, memory_order_relaxed);
	atomic_store_explicit(&q->my->peer_qpn, na->dest_qp_num, memory_order_relaxed);
	q->my_conn = new_nonce();
	atomic_store_explicit(&q->my->conn, q->my_conn, memory_order_release);
	q->peer = p;
	q->peer_slot = ps;
	q->peer_conn = 0;
	q->tx_chunk = q->sdev->chunk_bytes < p->hdr->ring_bytes / 4 ? q->sdev->chunk_bytes
								       : p->hdr->ring_bytes / 4;
	memset(&q->resp, 0, sizeof(q->resp));
	q->resp.epsn = na->rq_psn;
	return 0;
}

/* RTR -> RTS: the requester starts at sq_psn with full retry budgets. */
static void req_start(struct shm_qp *q, const struct tp_qp_attr *na)
{
	memset(&q->req, 0, sizeof(q->req));
	q->req.next = q->req.psn_base = q->req.known_tail = q->qp.sq.tail;
	q->req.retry_left = na->retry_cnt;
	q->req.rnr_left = na->rnr_retry;
	q->req.last_progress_us = tp_now_us();
}

int shm_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask)
{
	struct shm_qp *q = to_shm_qp(qp);

	(void)mask;
	switch (na->state) {
	case TP_QPS_RESET:
		qp_unlink(q);
		memset(&q->req, 0, sizeof(q->req));
		memset(&q->resp, 0, sizeof(q->resp));
		return 0;
	case TP_QPS_RTR:
		return qp->state == TP_QPS_INIT ? qp_connect(q, na) : 0;
	case TP_QPS_RTS:
		if (qp->state == TP_QPS_RTR)
			req_start(q, na);
		return 0;
	case TP_QPS_INIT:
	case TP_QPS_SQD:
	case TP_QPS_ERR:
		/* ERR: the core flushes; progress skips a QP in ERR. */
		return 0;
	}
	return 0;
}

/* ---- link ------------------------------------------------------------------------ */

static void tx_init(struct shm_tx *tx, struct shm_seg_hdr *h, struct shm_slot *s, int which)
{
	tx->ctl = which ? &s->resp : &s->req;
	tx->data = shm_slot_ring(h, s, which);
	tx->size = h->ring_bytes;
	tx->prod = atomic_load_explicit(&tx->ctl->prod, memory_order_relaxed);
	tx->cons_cache = atomic_load_explicit(&tx->ctl->cons, memory_order_acquire);
}

/*
 * Whether we may produce into the peer QP's rings: adopt its nonce when it
 * names us (re-reading conn after the fields, seqlock style); report a link
 * that was up and is gone.  Returns 1 linked, 0 not (yet), -1 lost.
 */
static int qp_link(struct shm_qp *q)
{
	struct shm_slot *ps = q->peer_slot;
	uint32_t c;

	if (!ps)
		return 0;
	c = atomic_load_explicit(&ps->conn, memory_order_acquire);
	if (q->peer_conn) {
		if (c == q->peer_conn)
			return 1;
		q->peer_conn = 0;
		return -1;
	}
	/* Never linked, and the QP we were told about is gone. */
	if (atomic_load_explicit(&ps->qpn, memory_order_relaxed) != q->qp.attr.dest_qp_num)
		return -1;
	if (c == 0 || atomic_load_explicit(&ps->peer_uid, memory_order_relaxed) != q->sdev->hdr->uid ||
	    atomic_load_explicit(&ps->peer_qpn, memory_order_relaxed) != q->qp.qp_num ||
	    atomic_load_explicit(&ps->conn, memory_order_acquire) != c)
		return 0;
	q->peer_conn = c;
	tx_init(&q->tx_req, q->peer->hdr, ps, 0);
	tx_init(&q->tx_resp, q->peer->hdr, ps, 1);
	q->req.seen_cons = q->tx_req.cons_cache;
	return 1;
}

/* The peer QP went away under outstanding work: IBA would let the ACK
 * timer run out; the loss is certain here, so say it now. */
static bool qp_link_lost(struct shm_qp *q)
{
	if (q->qp.sq.head == q->qp.sq.tail)
		return false;
	tp_sq_complete(&q->qp, TP_WC_RETRY_EXC_ERR, SHM_VERR_PEER_GONE);
	tp_qp_to_err(&q->qp);
	return true;
}

/* ---- one step ------------------------------------------------------------------------- */

/* Run the QP's engines once; whether anything happened.  *deadline is
 * lowered to the next time a timer of this QP needs a look. */
bool shm_qp_progress(struct shm_qp *q, uint64_t now, uint64_t *deadline)
{
	struct tp_qp *qp = &q->qp;
	bool did = false;
	int link;

	if (qp->state == TP_QPS_RESET || qp->state == TP_QPS_INIT || qp->state == TP_QPS_ERR)
		return false;
	link = qp_link(q);
	if (link > 0)
		did |= shm_resp_run(q);
	/* Responses already in our ring count even when the peer QP is gone
	 * (it may have been destroyed right after answering). */
	if (qp->state == TP_QPS_RTS || qp->state == TP_QPS_SQD)
		did |= shm_comp_run(q, now, deadline);
	if (link < 0)
		return qp_link_lost(q) || did;
	if (link > 0 && (qp->state == TP_QPS_RTS || qp->state == TP_QPS_SQD))
		did |= shm_req_run(q, now);
	if (qp->state == TP_QPS_RTS || qp->state == TP_QPS_SQD)
		did |= shm_comp_local_errors(q);
	return did;
}

void shm_post_send_kick(struct tp_qp *qp)
{
	struct shm_qp *q = to_shm_qp(qp);
	uint64_t now = tp_now_us();
	int link;

	/* The ACK timer runs from when the SQ stopped being empty. */
	if (q->req.known_tail == qp->sq.head)
		q->req.last_progress_us = now;
	q->req.known_tail = qp->sq.tail;
	if (qp->state != TP_QPS_RTS)
		return;
	link = qp_link(q);
	if (link > 0) {
		shm_req_run(q, now);
		shm_comp_local_errors(q);
	}
	/* Left over for a reason no peer doorbell will announce (not linked
	 * yet, link lost, RNR wait, READ/atomic limit): the thread takes it. */
	if (link <= 0 || (q->req.next != qp->sq.tail &&
			  !atomic_load_explicit(&q->tx_req.ctl->want_space, memory_order_relaxed)))
		shm_bell(q->sdev->hdr);
}

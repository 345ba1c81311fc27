/*
 * udp_qp.c - udp QPs: QP numbers and the device's QP table, each QP's
 * socket (its UDP source port), what each state transition does to the
 * engines' state, the per-QP timers the progress thread runs, and the kick
 * of tp_post_send.
 *
 * QP numbers are generation << 10 | slot (generation 1..16383, starting at
 * a random value per device and slot), so a stale number misses after a QP
 * is destroyed and its slot reused, two devices (or processes) hardly ever
 * hand out the same numbers, so a stray packet from an old connection to a
 * reused UDP port finds no QP, and no QP is numbered 0 or 1 (QP0 and QP1
 * are special in IBA).
 *
 * Timer hand-off to the progress thread (the Dekker pair of udp.h): the
 * thread stores armed_us = 0, scans every QP's deadline_us, then stores the
 * earliest as armed_us and sleeps until then; a QP publishes a new deadline
 * (seq_cst) and then reads armed_us (seq_cst), and writes the kick eventfd
 * when armed_us is 0 (a scan is in progress and may have missed it) or
 * later than the new deadline.  Either the scan sees the new deadline, or
 * the publisher sees the thread's value and wakes it: no deadline is lost.
 *
 * Concurrency: init/fini take qps_lock for writing (the progress thread
 * holds it for reading across a pass, so it never sees a half-made or freed
 * QP); everything else runs under the QP's tp_qp.lock.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "loom/err.h"
#include "udp.h"

/* ---- the QP table ------------------------------------------------------------- */

/* The next generation of slot i: 1..16383, from a random start. */
static uint16_t gen_next(struct udp_device *ud, unsigned i)
{
	const unsigned gens = 1u << (24 - UDP_QPN_SLOT_BITS);

	if (ud->gen[i] == 0) { /* first use of the slot */
		uint16_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint16_t)tp_now_us();
		ud->gen[i] = (uint16_t)(r % (gens - 1));
	}
	if (++ud->gen[i] >= gens)
		ud->gen[i] = 1;
	return ud->gen[i];
}

static int slot_take(struct udp_device *ud, struct udp_qp *q)
{
	unsigned i;

	for (i = 0; i < ud->max_qp && ud->qps[i]; i++)
		;
	if (i == ud->max_qp)
		return loom_err_set(ENOMEM, "udp: all %u QPs of the device in use (option max_qp)",
				    ud->max_qp);
	q->slot = i;
	q->qp.qp_num = (uint32_t)gen_next(ud, i) << UDP_QPN_SLOT_BITS | i;
	return 0;
}

struct udp_qp *udp_qp_lookup(struct udp_device *ud, uint32_t qpn)
{
	unsigned slot = qpn & (UDP_MAX_QP - 1);
	struct udp_qp *q;

	if (slot >= ud->max_qp)
		return NULL;
	q = ud->qps[slot];
	return q && q->qp.qp_num == qpn ? q : NULL;
}

int udp_qp_init(struct tp_qp *qp)
{
	struct udp_qp *q = to_udp_qp(qp);
	struct udp_device *ud = to_udp_dev(qp->dev);
	struct sockaddr_in at = ud->local, bound;
	int err;

	q->ud = ud;
	atomic_store(&q->deadline_us, UDP_NO_DEADLINE);
	q->ext = calloc(qp->sq.size ? qp->sq.size : 1, sizeof(*q->ext));
	if (!q->ext)
		return loom_err_set(ENOMEM, "udp: out of memory for a QP");
	at.sin_port = 0; /* an ephemeral port: this QP's UDP source port */
	err = udp_socket_open(&at, false, 0, ud->sndbuf_bytes, ud->cc.tos, ud->gso, &bound);
	if (err < 0)
		goto err_free;
	q->fd = err;
	q->sport = ntohs(bound.sin_port);
	pthread_rwlock_wrlock(&ud->qps_lock);
	err = slot_take(ud, q);
	if (!err)
		ud->qps[q->slot] = q;
	/* by creation order, not QP number: the same run meets the same faults */
	loom_rng_init(&q->tx_rng, ud->fault.seed ^ (++ud->n_qp_made * 0x9e3779b97f4a7c15ull));
	pthread_rwlock_unlock(&ud->qps_lock);
	if (err)
		goto err_close;
	return 0;

err_close:
	close(q->fd);
err_free:
	free(q->ext);
	return err;
}

void udp_qp_fini(struct tp_qp *qp)
{
	struct udp_qp *q = to_udp_qp(qp);
	struct udp_device *ud = q->ud;

	pthread_rwlock_wrlock(&ud->qps_lock);
	ud->qps[q->slot] = NULL;
	pthread_rwlock_unlock(&ud->qps_lock);
	if (q->cc.limited) /* its rate is no longer anyone's */
		atomic_store_explicit(&qp->dev->counters[TP_CNT(cc_rate_mbps)], 0,
				      memory_order_relaxed);
	udp_fault_purge_qp(ud, qp->qp_num);
	close(q->fd);
	free(q->ext);
}

/* ---- transitions ---------------------------------------------------------------- */

/* INIT -> RTR: where to send, the path MTU, the responder's start. */
static int qp_connect(struct udp_qp *q, const struct tp_qp_attr *na)
{
	struct udp_device *ud = q->ud;

	if (na->dest.len != 6)
		return loom_err_set(EINVAL, "udp: qp %u: dest address of %u bytes is not a udp "
				    "address (6 bytes: IPv4 + port, from tp_device_addr)",
				    q->qp.qp_num, na->dest.len);
	memset(&q->dest, 0, sizeof(q->dest));
	q->dest.sin_family = AF_INET;
	memcpy(&q->dest.sin_addr.s_addr, na->dest.bytes, 4);
	memcpy(&q->dest.sin_port, na->dest.bytes + 4, 2);
	q->mtu = na->path_mtu;
	roce_ipv4_udp_socket(&q->ip_tx, ntohl(ud->local.sin_addr.s_addr), q->sport,
			     ntohl(q->dest.sin_addr.s_addr), ntohs(q->dest.sin_port));
	memset(&q->resp, 0, sizeof(q->resp));
	q->resp.epsn = na->rq_psn;
	return 0;
}

/* No WQE has PSNs (sq_index matches no SQ index). */
static void ext_clear(struct udp_qp *q)
{
	memset(q->ext, 0xff, (q->qp.sq.size ? q->qp.sq.size : 1) * sizeof(*q->ext));
}

/* RTR -> RTS: the requester starts at sq_psn with full retry budgets. */
static void req_start(struct udp_qp *q, const struct tp_qp_attr *na)
{
	ext_clear(q);
	memset(&q->sq, 0, sizeof(q->sq));
	q->sq.next = q->qp.sq.tail;
	q->sq.psn = q->sq.psn_max = q->sq.comp_psn = na->sq_psn;
	q->sq.retry_left = na->retry_cnt;
	q->sq.rnr_left = na->rnr_retry;
	q->sq.rexmit_at_us = UDP_NO_DEADLINE;
	q->sq.cwnd = q->ud->window;
	udp_cc_start(q, tp_now_us());
}

int udp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask)
{
	struct udp_qp *q = to_udp_qp(qp);
	int err = 0;

	(void)mask;
	switch (na->state) {
	case TP_QPS_RESET:
		ext_clear(q);
		memset(&q->sq, 0, sizeof(q->sq));
		memset(&q->resp, 0, sizeof(q->resp));
		q->sq.rexmit_at_us = UDP_NO_DEADLINE;
		udp_cc_start(q, tp_now_us());
		udp_fault_purge_qp(q->ud, qp->qp_num);
		break;
	case TP_QPS_RTR:
		if (qp->state == TP_QPS_INIT)
			err = qp_connect(q, na);
		break;
	case TP_QPS_RTS:
		if (qp->state == TP_QPS_RTR)
			req_start(q, na);
		if (qp->state == TP_QPS_SQD)
			q->sq.kick = true; /* resume sending at the thread's next pass */
		break;
	case TP_QPS_INIT:
	case TP_QPS_SQD:
	case TP_QPS_ERR: /* the core flushes; the engines skip a QP in ERR */
		break;
	}
	if (!err)
		udp_qp_deadline(q);
	return err;
}

/* ---- timers and deferred work ------------------------------------------------------ */

void udp_wake(struct udp_device *ud, uint64_t t)
{
	uint64_t armed = atomic_load_explicit(&ud->armed_us, memory_order_seq_cst);
	uint64_t one = 1;

	if (armed == 0 || t < armed) {
		if (write(ud->evfd, &one, sizeof(one)) < 0) {
			/* saturated counter: a wake-up is pending anyway */
		}
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void udp_qp_deadline(struct udp_qp *q)
{
	enum tp_qp_state st = q->qp.state;
	uint64_t d = UDP_NO_DEADLINE, old;

	if (st == TP_QPS_RTR || st == TP_QPS_RTS || st == TP_QPS_SQD) {
		/* a READ stream paced by congestion control waits for its
		 * departure time (udp_cc_deadline), not a busy loop */
		if (q->sq.kick || q->resp.ack_pending || (q->resp.rd.active && !q->cc.wait_us))
			d = 0;
		d = min_u64(d, q->sq.rexmit_at_us);
		d = min_u64(d, udp_resp_nak_due(q));
		if (q->sq.rnr_until_us)
			d = min_u64(d, q->sq.rnr_until_us);
		if (st != TP_QPS_RTR || q->resp.rd.active)
			d = min_u64(d, udp_cc_deadline(q));
	}
	old = atomic_load_explicit(&q->deadline_us, memory_order_relaxed);
	atomic_store_explicit(&q->deadline_us, d, memory_order_seq_cst);
	if (d < old)
		udp_wake(q->ud, d);
}

void udp_qp_mark_dirty(struct udp_qp *q)
{
	struct udp_device *ud = q->ud;

	if (!q->dirty) {
		q->dirty = true;
		ud->dirty[ud->n_dirty++] = q;
	}
}

void udp_qp_service(struct udp_qp *q, uint64_t now)
{
	enum tp_qp_state st = q->qp.state;

	q->sq.kick = false; /* served now; left set, it would keep the thread busy */
	if (st == TP_QPS_RTR || st == TP_QPS_RTS || st == TP_QPS_SQD) {
		udp_resp_timer(q, now);
		udp_resp_flush_ack(q);
		if (q->resp.rd.active)
			udp_resp_read_pump(q, UDP_READ_BURST);
	}
	st = q->qp.state;
	if (st == TP_QPS_RTS || st == TP_QPS_SQD) {
		udp_comp_timer(q, now);
		udp_cc_timer(q, now);
		udp_req_run(q, now);
	}
	udp_qp_deadline(q);
}

void udp_qp_fail(struct udp_qp *q, enum tp_wc_status s, uint32_t vendor_err)
{
	struct tp_qp *qp = &q->qp;

	UDP_TRACE(q->ud, "qp %u: %s (vendor_err 0x%x): QP to ERR", qp->qp_num,
		  tp_wc_status_str(s), vendor_err);
	if (qp->sq.head != qp->sq.tail)
		tp_sq_complete(qp, s, vendor_err);
	tp_qp_to_err(qp);
	q->sq.rexmit_at_us = UDP_NO_DEADLINE;
	q->sq.rnr_until_us = 0;
	q->resp.rd.active = false;
	q->resp.ack_pending = false;
}

bool udp_qp_sq_draining(struct tp_qp *qp)
{
	struct udp_qp *q = to_udp_qp(qp);

	return q->sq.next_off || q->sq.comp_psn != q->sq.psn_max || q->sq.rd_atomic;
}

void udp_post_send_kick(struct tp_qp *qp)
{
	struct udp_qp *q = to_udp_qp(qp);

	if (qp->state == TP_QPS_RTS)
		udp_req_run(q, tp_now_us());
	udp_qp_deadline(q);
}

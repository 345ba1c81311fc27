/*
 * ibvp_cq.c - completion queues of the ibverbs provider: a NIC CQ with its
 * own completion channel (whose fd is tp_cq_fd), polling with translation
 * of every work completion, the blocking wait, notification, and the
 * device's asynchronous events.
 *
 * Not here: what a completion means for its WR (ibvp_wc_translate in
 * ibvp_qp.c).  Concurrency: tp_cq_poll and tp_cq_wait of one CQ are its
 * consumer and are called by one thread at a time (transport.h); the wait
 * may take one completion off the NIC into the CQ's stash, which the next
 * poll returns first.  Async events may be drained from any thread: each
 * read of the async fd returns a distinct event.
 *
 * Overflow: the NIC reports a CQ overrun as the async event IBV_EVENT_CQ_ERR,
 * which is read in tp_cq_wait, when ibv_poll_cq fails, and every
 * ASYNC_EVERY_EMPTY empty polls (a read syscall; too dear for each one);
 * from then on poll and wait return -EOVERFLOW, as the core's CQ does.
 */
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "loom/err.h"
#include "ibvp.h"

#define POLL_BATCH 32
#define ASYNC_EVERY_EMPTY 1024

int ibvp_cq_init(struct tp_cq *cq, int cqe)
{
	struct ibvp_device *d = to_ibvp_dev(cq->dev);
	struct ibvp_cq *c = to_ibvp_cq(cq);
	int fl, e;

	c->channel = d->lib->create_comp_channel(d->ctx);
	if (!c->channel) {
		e = errno ? errno : ENOMEM;
		return loom_err_set(e, "ibverbs: %s: ibv_create_comp_channel: %s", d->base.name,
				    strerror(e));
	}
	fl = fcntl(c->channel->fd, F_GETFL);
	if (fl < 0 || fcntl(c->channel->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		e = loom_err_set(errno, "ibverbs: completion channel fd: %s", strerror(errno));
		goto err_destroy_channel;
	}
	c->cq = d->lib->create_cq(d->ctx, cqe, cq, c->channel, 0);
	if (!c->cq) {
		e = errno ? errno : ENOMEM;
		e = loom_err_set(e, "ibverbs: %s: ibv_create_cq(cqe=%d; the NIC allows %d): %s",
				 d->base.name, cqe, d->attr.max_cqe, strerror(e));
		goto err_destroy_channel;
	}
	cq->efd = c->channel->fd;
	return 0;

err_destroy_channel:
	d->lib->destroy_comp_channel(c->channel);
	return e;
}

void ibvp_cq_fini(struct tp_cq *cq)
{
	struct ibvp_device *d = to_ibvp_dev(cq->dev);
	struct ibvp_cq *c = to_ibvp_cq(cq);
	int rc;

	/* Every event got was acknowledged at once, so destroy cannot block. */
	rc = d->lib->destroy_cq(c->cq);
	if (rc)
		loom_err_set(rc, "ibverbs: ibv_destroy_cq: %s", strerror(rc));
	rc = d->lib->destroy_comp_channel(c->channel);
	if (rc)
		loom_err_set(rc, "ibverbs: ibv_destroy_comp_channel: %s", strerror(rc));
}

/* ---- async events ----------------------------------------------------------- */

void ibvp_async_drain(struct ibvp_device *d)
{
	struct ibv_async_event ev;

	while (d->lib->get_async_event(d->ctx, &ev) == 0) {
		switch (ev.event_type) {
		case IBV_EVENT_CQ_ERR:
			atomic_store(&to_ibvp_cq(ev.element.cq->cq_context)->overflow, true);
			break;
		case IBV_EVENT_QP_FATAL:
		case IBV_EVENT_QP_REQ_ERR:
		case IBV_EVENT_QP_ACCESS_ERR:
			/* Safe: ibv_destroy_qp waits for this event's ack. */
			ibvp_qp_mark_err(to_ibvp_qp(ev.element.qp->qp_context));
			break;
		default:
			break;
		}
		d->lib->ack_async_event(&ev);
	}
}

static int overflow_err(struct ibvp_cq *c)
{
	return loom_err_set(EOVERFLOW, "ibverbs: CQ overflow (cqe=%u): the NIC reported a CQ "
			    "error; completions were lost and the CQ's QPs are in error",
			    c->base.size);
}

/* ---- polling ------------------------------------------------------------------ */

/* Up to n translated completions from the NIC (fewer when it is empty);
 * the count or -errno. */
static int poll_nic(struct ibvp_cq *c, int n, struct tp_wc *wc)
{
	struct ibvp_device *d = to_ibvp_dev(c->base.dev);
	struct ibv_wc iw[POLL_BATCH];
	int got = 0;

	while (got < n) {
		int want = n - got < POLL_BATCH ? n - got : POLL_BATCH;
		int k = ibv_poll_cq(c->cq, want, iw);

		if (k < 0 && got > 0)
			break; /* hand over what was taken; the error comes next time */
		if (k < 0) {
			ibvp_async_drain(d);
			if (atomic_load(&c->overflow))
				return overflow_err(c);
			return loom_err_set(EIO, "ibverbs: %s: ibv_poll_cq failed (%d)",
					    d->base.name, k);
		}
		pthread_rwlock_rdlock(&d->qps_lock);
		for (int i = 0; i < k; i++)
			got += ibvp_wc_translate(d, &iw[i], &wc[got]);
		pthread_rwlock_unlock(&d->qps_lock);
		if (k < want)
			break;
	}
	return got;
}

int ibvp_cq_poll(struct tp_cq *cq, int n, struct tp_wc *wc)
{
	struct ibvp_cq *c = to_ibvp_cq(cq);
	int got = 0, k;

	if (atomic_load_explicit(&c->overflow, memory_order_relaxed))
		return overflow_err(c);
	if (n > 0 && c->stashed) {
		wc[got++] = c->stash;
		c->stashed = false;
	}
	k = poll_nic(c, n - got, wc + got);
	if (k < 0)
		return k;
	got += k;
	if (got == 0 && n > 0 && ++c->empty_polls % ASYNC_EVERY_EMPTY == 0) {
		ibvp_async_drain(to_ibvp_dev(cq->dev));
		if (atomic_load(&c->overflow))
			return overflow_err(c);
	}
	return got;
}

/* ---- notification and waiting ---------------------------------------------------- */

/* Acknowledge every event waiting on the channel (nonblocking fd). */
static void channel_drain(struct ibvp_cq *c)
{
	const struct ibvp_lib *lib = to_ibvp_dev(c->base.dev)->lib;
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	unsigned n = 0;

	while (lib->get_cq_event(c->channel, &ev_cq, &ev_ctx) == 0)
		n++;
	if (n)
		lib->ack_cq_events(c->cq, n);
}

int ibvp_cq_req_notify(struct tp_cq *cq)
{
	int rc = ibv_req_notify_cq(to_ibvp_cq(cq)->cq, 0);

	if (rc)
		return loom_err_set(rc, "ibverbs: ibv_req_notify_cq: %s", strerror(rc));
	return 0;
}

int ibvp_cq_ack_notify(struct tp_cq *cq)
{
	channel_drain(to_ibvp_cq(cq));
	return 0;
}

/* Whether a completion is ready: in the stash, or taken off the NIC into
 * it.  -errno on a CQ error. */
static int stash_fill(struct ibvp_cq *c)
{
	int k;

	if (c->stashed)
		return 1;
	k = poll_nic(c, 1, &c->stash);
	if (k > 0)
		c->stashed = true;
	return k;
}

/* One round of waiting: ready (1), not yet (0) or -errno. */
static int wait_round(struct ibvp_cq *c, int ms)
{
	struct pollfd pfd = { .fd = c->channel->fd, .events = POLLIN };
	int k, rc;

	ibvp_async_drain(to_ibvp_dev(c->base.dev));
	if (atomic_load(&c->overflow))
		return overflow_err(c);
	if ((k = stash_fill(c)) != 0)
		return k;
	rc = ibv_req_notify_cq(c->cq, 0);
	if (rc)
		return loom_err_set(rc, "ibverbs: ibv_req_notify_cq: %s", strerror(rc));
	/* A completion that came between the poll and the arming raises no
	 * event: look once more before sleeping. */
	if ((k = stash_fill(c)) != 0)
		return k;
	if (ms != 0 && poll(&pfd, 1, ms) > 0)
		channel_drain(c);
	return 0;
}

int ibvp_cq_wait(struct tp_cq *cq, int timeout_ms)
{
	struct ibvp_cq *c = to_ibvp_cq(cq);
	uint64_t deadline = tp_now_us() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000;

	for (;;) {
		uint64_t now = tp_now_us();
		int ms = timeout_ms < 0 ? -1 : now >= deadline ? 0 :
			 (int)((deadline - now + 999) / 1000);
		int k = wait_round(c, ms);

		if (k != 0)
			return k < 0 ? k : 0;
		if (timeout_ms >= 0 && tp_now_us() >= deadline)
			return loom_err_set(ETIMEDOUT, "ibverbs: cq_wait: no completion in %d ms",
					    timeout_ms);
	}
}

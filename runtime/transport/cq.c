/*
 * cq.c - the generic completion queue every provider can reuse: a ring of
 * struct tp_wc with overflow detection, and an eventfd for tp_cq_fd /
 * tp_cq_req_notify / tp_cq_wait.
 *
 * Overflow is an error of the CQ, as in IBA (11.4.2.1: a CQ overrun is a CQ
 * error, fatal for its QPs): the completion that did not fit is lost, the
 * pushing provider moves its QP to ERR, and every later poll or wait returns
 * -EOVERFLOW.  Concurrency: producers (provider progress, any thread) and
 * the consumer (tp_cq_poll, single caller at a time) serialize on cq->lock;
 * tp_cq_wait sleeps on the eventfd without it.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loom/err.h"
#include "provider.h"

#define CQ_MAX_CQE (1 << 22)

/* A CQ the provider owns (ops->cq_init): the core keeps the generic fields
 * (dev, size, n_qp) and the fd the provider sets. */
static struct tp_cq *cq_create_provider(struct tp_device *dev, int cqe)
{
	struct tp_cq *cq = calloc(1, dev->ops->cq_size);

	if (!cq) {
		loom_err_set(ENOMEM, "%s: cq_create: out of memory", dev->ops->name);
		return NULL;
	}
	cq->dev = dev;
	cq->size = (uint32_t)cqe;
	cq->efd = -1;
	if (dev->ops->cq_init(cq, cqe) < 0) {
		free(cq);
		return NULL;
	}
	pthread_mutex_lock(&dev->lock);
	dev->n_cq++;
	pthread_mutex_unlock(&dev->lock);
	return cq;
}

struct tp_cq *tp_cq_create(struct tp_device *dev, int cqe)
{
	struct tp_cq *cq;

	if (!dev || cqe < 1 || cqe > CQ_MAX_CQE) {
		loom_err_set(EINVAL, "transport: cq_create: dev=%p cqe=%d: need a device and "
			     "1 <= cqe <= %d", (void *)dev, cqe, CQ_MAX_CQE);
		return NULL;
	}
	if (dev->ops->cq_init)
		return cq_create_provider(dev, cqe);
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		goto err_nomem;
	cq->ring = calloc((size_t)cqe, sizeof(*cq->ring));
	if (!cq->ring)
		goto err_free_cq;
	cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cq->efd < 0) {
		loom_err_set(errno, "%s: cq_create: eventfd: %s", dev->ops->name, strerror(errno));
		goto err_free_ring;
	}
	pthread_mutex_init(&cq->lock, NULL);
	cq->dev = dev;
	cq->size = (uint32_t)cqe;
	pthread_mutex_lock(&dev->lock);
	dev->n_cq++;
	pthread_mutex_unlock(&dev->lock);
	return cq;

err_free_ring:
	free(cq->ring);
err_free_cq:
	free(cq);
	return NULL;
err_nomem:
	loom_err_set(ENOMEM, "%s: cq_create: out of memory", dev->ops->name);
	return NULL;
}

int tp_cq_destroy(struct tp_cq *cq)
{
	struct tp_device *dev;
	int n_qp;

	if (!cq)
		return loom_err_set(EINVAL, "transport: cq_destroy: cq is NULL");
	dev = cq->dev;
	pthread_mutex_lock(&dev->lock);
	n_qp = cq->n_qp;
	if (!n_qp)
		dev->n_cq--;
	pthread_mutex_unlock(&dev->lock);
	if (n_qp)
		return loom_err_set(EBUSY, "%s: cq_destroy: %d QP(s) still use the CQ",
				    dev->ops->name, n_qp);
	if (dev->ops->cq_fini) {
		dev->ops->cq_fini(cq);
		free(cq);
		return 0;
	}
	close(cq->efd);
	pthread_mutex_destroy(&cq->lock);
	free(cq->ring);
	free(cq);
	return 0;
}

/* Signal the eventfd (cq->lock held). */
static void cq_signal(struct tp_cq *cq)
{
	uint64_t one = 1;

	cq->armed = false;
	if (write(cq->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wakeup is pending anyway */
	}
}

int tp_cq_push(struct tp_cq *cq, const struct tp_wc *wc)
{
	int ret = 0;

	pthread_mutex_lock(&cq->lock);
	if (cq->overflow) {
		ret = -EOVERFLOW;
	} else if (cq->tail - cq->head == cq->size) {
		cq->overflow = true;
		cq_signal(cq); /* wake a waiter so it sees the error */
		ret = -EOVERFLOW;
	} else {
		cq->ring[cq->tail++ % cq->size] = *wc;
		if (cq->armed)
			cq_signal(cq);
	}
	pthread_mutex_unlock(&cq->lock);
	return ret;
}

static int cq_overflow_err(struct tp_cq *cq)
{
	return loom_err_set(EOVERFLOW, "%s: CQ overflow (cqe=%u): completions were lost and "
			    "the CQ's QPs are in the error state", cq->dev->ops->name, cq->size);
}

/* Take up to n completions; the count or -EOVERFLOW. */
static int cq_take(struct tp_cq *cq, int n, struct tp_wc *wc)
{
	int got = 0;

	pthread_mutex_lock(&cq->lock);
	if (cq->overflow) {
		pthread_mutex_unlock(&cq->lock);
		return cq_overflow_err(cq);
	}
	while (got < n && cq->head != cq->tail)
		wc[got++] = cq->ring[cq->head++ % cq->size];
	pthread_mutex_unlock(&cq->lock);
	return got;
}

int tp_cq_poll(struct tp_cq *cq, int n, struct tp_wc *wc)
{
	int got;

	if (!cq || n < 0 || (n > 0 && !wc))
		return loom_err_set(EINVAL, "transport: cq_poll: cq=%p n=%d wc=%p", (void *)cq, n,
				    (void *)wc);
	if (cq->dev->ops->cq_poll)
		return cq->dev->ops->cq_poll(cq, n, wc);
	got = cq_take(cq, n, wc);
	if (got == 0 && n > 0 && cq->dev->ops->progress) {
		cq->dev->ops->progress(cq->dev);
		got = cq_take(cq, n, wc);
	}
	return got;
}

/* Whether a completion (or the overflow error) is ready; arms the
 * notification when not. */
static bool cq_ready_or_arm(struct tp_cq *cq, bool *overflow)
{
	bool ready;

	pthread_mutex_lock(&cq->lock);
	*overflow = cq->overflow;
	ready = cq->overflow || cq->head != cq->tail;
	if (!ready)
		cq->armed = true;
	pthread_mutex_unlock(&cq->lock);
	return ready;
}

int tp_cq_wait(struct tp_cq *cq, int timeout_ms)
{
	uint64_t deadline, now;
	bool overflow, ready = false;

	if (!cq)
		return loom_err_set(EINVAL, "transport: cq_wait: cq is NULL");
	if (cq->dev->ops->cq_wait)
		return cq->dev->ops->cq_wait(cq, timeout_ms);
	deadline = tp_now_us() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000;
	for (;;) {
		struct pollfd pfd = { .fd = cq->efd, .events = POLLIN };
		int ms;

		if ((ready = cq_ready_or_arm(cq, &overflow)))
			break;
		now = tp_now_us();
		if (timeout_ms >= 0 && now >= deadline)
			break;
		ms = timeout_ms < 0 ? -1 : (int)((deadline - now + 999) / 1000);
		poll(&pfd, 1, ms);
	}
	/* Leave no notification behind: the next wait starts clean. */
	pthread_mutex_lock(&cq->lock);
	cq->armed = false;
	pthread_mutex_unlock(&cq->lock);
	tp_cq_ack_notify(cq);
	if (overflow)
		return cq_overflow_err(cq);
	if (!ready)
		return loom_err_set(ETIMEDOUT, "%s: cq_wait: no completion in %d ms",
				    cq->dev->ops->name, timeout_ms);
	return 0;
}

int tp_cq_fd(struct tp_cq *cq)
{
	if (!cq)
		return loom_err_set(EINVAL, "transport: cq_fd: cq is NULL");
	return cq->efd;
}

int tp_cq_req_notify(struct tp_cq *cq)
{
	if (!cq)
		return loom_err_set(EINVAL, "transport: cq_req_notify: cq is NULL");
	if (cq->dev->ops->cq_req_notify)
		return cq->dev->ops->cq_req_notify(cq);
	pthread_mutex_lock(&cq->lock);
	cq->armed = true;
	pthread_mutex_unlock(&cq->lock);
	return 0;
}

int tp_cq_ack_notify(struct tp_cq *cq)
{
	uint64_t v;

	if (!cq)
		return loom_err_set(EINVAL, "transport: cq_ack_notify: cq is NULL");
	if (cq->dev->ops->cq_ack_notify)
		return cq->dev->ops->cq_ack_notify(cq);
	if (read(cq->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return loom_err_set(errno, "%s: cq_ack_notify: read: %s", cq->dev->ops->name,
				    strerror(errno));
	return 0;
}

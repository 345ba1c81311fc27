/*
 * test_udp_pair.h - harness shared by the udp suites: two udp devices in one
 * process (127.0.0.1 and 127.0.0.2, each on a free port, so suites may run
 * side by side), one "end" on each (PD, CQs, QP, a registered buffer), the
 * QPs connected to each other exactly as a bootstrap would (address, QP
 * number), and helpers to post work requests and wait for completions.
 *
 * Header-only (static functions): each suite includes it once.
 */
#ifndef LOOM_TESTS_RUNTIME_TEST_UDP_PAIR_H
#define LOOM_TESTS_RUNTIME_TEST_UDP_PAIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom/err.h"
#include "loom/rng.h"
#include "loom/transport.h"
#include "lt.h"
#include "tp_test.h"

#define OPTS_MAX 16

/* Connection settings; cfg_default() gives sane values. */
struct cfg {
	const char *opts_a[OPTS_MAX], *opts_b[OPTS_MAX]; /* device options (NULL-ended) */
	size_t buf_len;
	unsigned mr_access, qp_access;
	int cqe, max_wr;
	uint32_t mtu;
	uint8_t timeout, retry_cnt, rnr_retry, min_rnr_timer;
	uint8_t max_rd_atomic, max_dest_rd_atomic;
	uint32_t sq_psn, rq_psn; /* both directions */
	bool sig_all;
};

static inline struct cfg cfg_default(void)
{
	return (struct cfg){ .opts_a = { "addr=127.0.0.1", "port=0" },
			     .opts_b = { "addr=127.0.0.2", "port=0" },
			     .buf_len = 1 << 20, .mr_access = ACCESS_ALL,
			     .qp_access = QP_ACCESS_ALL, .cqe = 1024, .max_wr = 256, .mtu = 1024,
			     /* 4.096 us * 2^14 = 67 ms: never fires on a loaded machine by
			      * accident in a loss-free test, yet a lost packet costs little. */
			     .timeout = 14, .retry_cnt = 7, .rnr_retry = 7, .min_rnr_timer = 1,
			     .max_rd_atomic = 16, .max_dest_rd_atomic = 16,
			     /* near the 24-bit wrap, so PSN arithmetic wraps in every test */
			     .sq_psn = 0xffff00, .rq_psn = 0xffff00 };
}

/* Append an option to a NULL-ended list. */
static inline void opt_add(const char **list, const char *o)
{
	int i = 0;

	while (i < OPTS_MAX - 1 && list[i])
		i++;
	if (i < OPTS_MAX - 1)
		list[i] = o, list[i + 1] = NULL;
}

struct end {
	struct tp_device *dev;
	struct tp_pd *pd;
	struct tp_cq *scq, *rcq;
	struct tp_qp *qp;
	uint8_t *buf;
	size_t len;
	struct tp_mr *mr;
};

static inline bool end_open(struct lt *t, struct end *e, const struct cfg *c, const char **opts)
{
	struct tp_qp_init_attr init;
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = c->qp_access };

	memset(e, 0, sizeof(*e));
	e->dev = tp_device_open("udp", NULL, opts);
	LT_CHECK(t, e->dev, "open: %s", loom_err_msg());
	if (!e->dev)
		return false;
	e->pd = tp_pd_alloc(e->dev);
	e->scq = tp_cq_create(e->dev, c->cqe);
	e->rcq = tp_cq_create(e->dev, c->cqe);
	init = (struct tp_qp_init_attr){ .send_cq = e->scq, .recv_cq = e->rcq,
					 .max_send_wr = c->max_wr, .max_recv_wr = c->max_wr,
					 .max_send_sge = 8, .max_recv_sge = 8,
					 .max_inline_data = 512, .sq_sig_all = c->sig_all };
	e->qp = e->pd && e->scq && e->rcq ? tp_qp_create(e->pd, &init) : NULL;
	e->len = c->buf_len;
	e->buf = aligned_alloc(4096, (e->len + 4095) & ~(size_t)4095);
	if (e->buf)
		memset(e->buf, 0, e->len);
	e->mr = e->buf && e->pd ? tp_mr_reg(e->pd, e->buf, e->len, c->mr_access) : NULL;
	LT_CHECK(t, e->qp && e->mr, "setup: %s", loom_err_msg());
	if (!e->qp || !e->mr)
		return false;
	LT_CHECK(t, tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS) == 0, "INIT: %s",
		 loom_err_msg());
	return true;
}

/* INIT -> RTR -> RTS towards peer. */
static inline bool end_connect(struct lt *t, struct end *e, const struct end *peer,
			       const struct cfg *c)
{
	struct tp_qp_attr a = { .state = TP_QPS_RTR, .path_mtu = c->mtu,
				.dest_qp_num = tp_qp_num(peer->qp), .rq_psn = c->rq_psn,
				.max_dest_rd_atomic = c->max_dest_rd_atomic,
				.min_rnr_timer = c->min_rnr_timer };
	int err;

	tp_device_addr(peer->dev, &a.dest);
	err = tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN |
					  TP_QP_MAX_DEST_RD_ATOMIC | TP_QP_MIN_RNR_TIMER);
	LT_CHECK(t, err == 0, "RTR: %s", loom_err_msg());
	a = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = c->sq_psn, .timeout = c->timeout,
				 .retry_cnt = c->retry_cnt, .rnr_retry = c->rnr_retry,
				 .max_rd_atomic = c->max_rd_atomic };
	err = err ? err
		  : tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
						TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
						TP_QP_MAX_QP_RD_ATOMIC);
	LT_CHECK(t, err == 0, "RTS: %s", loom_err_msg());
	return err == 0;
}

static inline void end_close(struct lt *t, struct end *e)
{
	if (e->qp)
		LT_CHECK(t, tp_qp_destroy(e->qp) == 0, "%s", loom_err_msg());
	if (e->mr)
		LT_CHECK(t, tp_mr_dereg(e->mr) == 0, "%s", loom_err_msg());
	if (e->scq)
		LT_CHECK(t, tp_cq_destroy(e->scq) == 0, "%s", loom_err_msg());
	if (e->rcq)
		LT_CHECK(t, tp_cq_destroy(e->rcq) == 0, "%s", loom_err_msg());
	if (e->pd)
		LT_CHECK(t, tp_pd_free(e->pd) == 0, "%s", loom_err_msg());
	if (e->dev)
		LT_CHECK(t, tp_device_close(e->dev) == 0, "%s", loom_err_msg());
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* Two ends a (127.0.0.1) and b (127.0.0.2), connected. */
static inline bool pair_open(struct lt *t, const struct cfg *c, struct end *a, struct end *b)
{
	memset(b, 0, sizeof(*b));
	if (!end_open(t, a, c, (const char **)c->opts_a) ||
	    !end_open(t, b, c, (const char **)c->opts_b))
		return false;
	return end_connect(t, a, b, c) && end_connect(t, b, a, c);
}

static inline void pair_close(struct lt *t, struct end *a, struct end *b)
{
	end_close(t, a);
	end_close(t, b);
}

/* ---- work requests ---------------------------------------------------------------- */

static inline struct tp_sge sge_of(const struct end *e, size_t off, uint32_t len)
{
	return (struct tp_sge){ .addr = (uintptr_t)e->buf + off, .length = len,
				.lkey = e->mr->lkey };
}

/* Post one send WR with one SGE of e's buffer; the post's return value. */
static inline int post1(struct end *e, enum tp_wr_opcode op, uint64_t wr_id, size_t off,
			uint32_t len, uint64_t raddr, uint32_t rkey, unsigned flags)
{
	struct tp_sge s = sge_of(e, off, len);
	struct tp_send_wr wr = { .wr_id = wr_id, .opcode = op, .flags = flags, .sg_list = &s,
				 .num_sge = 1, .remote_addr = raddr, .rkey = rkey,
				 .imm_data = (uint32_t)wr_id * 2654435761u };

	return tp_post_send(e->qp, &wr, 1, NULL);
}

/* FETCH_ADD of add to the 8 bytes at raddr; the old value lands at off. */
static inline int post_fetch_add(struct end *e, uint64_t wr_id, size_t off, uint64_t raddr,
				 uint32_t rkey, uint64_t add)
{
	struct tp_sge s = sge_of(e, off, 8);
	struct tp_send_wr wr = { .wr_id = wr_id, .opcode = TP_WR_ATOMIC_FETCH_ADD,
				 .flags = TP_SEND_SIGNALED, .sg_list = &s, .num_sge = 1,
				 .remote_addr = raddr, .rkey = rkey, .compare_add = add };

	return tp_post_send(e->qp, &wr, 1, NULL);
}

static inline int post_recv1(struct end *e, uint64_t wr_id, size_t off, uint32_t len)
{
	struct tp_sge s = sge_of(e, off, len);
	struct tp_recv_wr wr = { .wr_id = wr_id, .sg_list = &s, .num_sge = 1 };

	return tp_post_recv(e->qp, &wr, 1, NULL);
}

static inline uint64_t raddr(const struct end *e, size_t off)
{
	return (uintptr_t)e->buf + off;
}

/* Expect one completion with status st and wr_id; returns it in *out. */
static inline bool expect_wc(struct lt *t, struct tp_cq *cq, uint64_t wr_id,
			     enum tp_wc_status st, struct tp_wc *out)
{
	struct tp_wc wc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!wait_wc(t, cq, &wc, 20000))
		return false;
	LT_CHECK(t, wc.status == st && wc.wr_id == wr_id, "got %s wr_id %llu (vendor_err 0x%x), "
		 "want %s wr_id %llu", tp_wc_status_str(wc.status), (unsigned long long)wc.wr_id,
		 wc.vendor_err, tp_wc_status_str(st), (unsigned long long)wr_id);
	if (out)
		*out = wc;
	return wc.status == st && wc.wr_id == wr_id;
}

/* No completion arrives on cq within ms. */
static inline void expect_none(struct lt *t, struct tp_cq *cq, int ms)
{
	struct tp_wc wc;
	uint64_t end_us = now_us() + (uint64_t)ms * 1000;

	while (now_us() < end_us) {
		int n = tp_cq_poll(cq, 1, &wc);

		LT_CHECK(t, n == 0, "unexpected completion %s wr_id %llu",
			 n == 1 ? tp_wc_status_str(wc.status) : "(error)",
			 (unsigned long long)wc.wr_id);
		if (n)
			return;
		tp_cq_wait(cq, 5);
	}
}

/* ---- data --------------------------------------------------------------------------- */

static inline void fill(uint8_t *p, size_t n, uint64_t seed)
{
	struct loom_rng r;

	loom_rng_init(&r, seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(loom_rng_u32(&r) >> 24);
}

/* got[0, n) == want[0, n), reporting the first differing byte. */
static inline bool same_bytes(struct lt *t, const char *what, const uint8_t *got,
			      const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			LT_CHECK(t, false, "%s: byte %zu of %zu is 0x%02x, want 0x%02x", what, i, n,
				 got[i], want[i]);
			return false;
		}
	return true;
}

static inline struct tp_counters counters(struct tp_device *d)
{
	struct tp_counters c;

	memset(&c, 0, sizeof(c));
	tp_device_counters(d, &c);
	return c;
}

#endif

/*
 * test_shm_pair.h - harness shared by the shm suites: one "end" (device,
 * PD, CQs, QP, a registered buffer from the heap or tp_mem_alloc), and
 * run_pair(), which forks, lets the
 * two processes swap their address, QP number, buffer address and rkey
 * through pipes (exactly what a bootstrap would exchange), connects them
 * and runs one function on each side.
 *
 * The child checks with its own struct lt and reports through its exit
 * status; a child that hangs is killed by alarm() and counted as a failure.
 * Header-only (static functions): each suite includes it once.
 */
#ifndef LOOM_TESTS_RUNTIME_TEST_SHM_PAIR_H
#define LOOM_TESTS_RUNTIME_TEST_SHM_PAIR_H

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "loom/transport.h"
#include "lt.h"
#include "tp_test.h"

#define PAIR_TIMEOUT_S 25 /* a side that takes longer has hung */


/* Connection settings; zero fields take the defaults of cfg_default(). */
struct cfg {
	const char *opts[4];
	size_t buf_len;
	unsigned mr_access, qp_access;
	int cqe;
	uint8_t timeout, retry_cnt, rnr_retry, min_rnr_timer;
	uint32_t sq_psn, rq_psn;
	bool sig_all;
	bool no_dest_rd_atomic; /* max_dest_rd_atomic 0: no READ/atomic served */
	bool mem; /* the buffer from tp_mem_alloc: payloads in it go by reference */
};

static inline struct cfg cfg_default(void)
{
	return (struct cfg){ .buf_len = 1 << 16, .mr_access = ACCESS_ALL,
			     .qp_access = QP_ACCESS_ALL, .cqe = 256,
			     /* 4.096 us * 2^18 ~ 1.07 s per expiry: never fires by accident
			      * on a loaded machine, yet a dead peer is detected at once. */
			     .timeout = 18, .retry_cnt = 7, .rnr_retry = 7, .min_rnr_timer = 1,
			     .sq_psn = 100, .rq_psn = 100 };
}

/* cfg_default() with the buffer from tp_mem_alloc and every run of it, down
 * to one byte, passed by reference (ref_min=0): the by-reference variant of
 * a data-path case. */
static inline struct cfg cfg_ref(void)
{
	struct cfg c = cfg_default();

	c.mem = true;
	c.opts[0] = "ref_min=0";
	return c;
}

struct end {
	struct tp_device *dev;
	bool shared_dev; /* dev belongs to another end */
	struct tp_pd *pd;
	struct tp_cq *scq, *rcq;
	struct tp_qp *qp;
	uint8_t *buf;
	size_t len;
	bool mem; /* buf is from tp_mem_alloc */
	struct tp_mr *mr;
};

/* What the two ends swap. */
struct card {
	struct tp_addr addr;
	uint32_t qpn;
	uint64_t buf;
	uint32_t rkey;
	uint64_t len;
};

/* Open an end on dev, or on a new device when dev is NULL. */
static inline bool end_open_on(struct lt *t, struct end *e, const struct cfg *c,
			       struct tp_device *dev)
{
	struct tp_qp_init_attr init;
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = c->qp_access };

	memset(e, 0, sizeof(*e));
	e->shared_dev = dev != NULL;
	e->dev = dev ? dev : tp_device_open("shm", NULL, c->opts[0] ? c->opts : NULL);
	LT_CHECK(t, e->dev, "open: %s", loom_err_msg());
	if (!e->dev)
		return false;
	e->pd = tp_pd_alloc(e->dev);
	e->scq = tp_cq_create(e->dev, c->cqe);
	e->rcq = tp_cq_create(e->dev, c->cqe);
	init = (struct tp_qp_init_attr){ .send_cq = e->scq, .recv_cq = e->rcq,
					 .max_send_wr = 128, .max_recv_wr = 128,
					 .max_send_sge = 8, .max_recv_sge = 8,
					 .max_inline_data = 256, .sq_sig_all = c->sig_all };
	e->qp = e->pd && e->scq && e->rcq ? tp_qp_create(e->pd, &init) : NULL;
	e->len = c->buf_len;
	e->mem = c->mem;
	e->buf = c->mem ? tp_mem_alloc(e->dev, e->len)
			: aligned_alloc(4096, (e->len + 4095) & ~(size_t)4095);
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

static inline bool end_open(struct lt *t, struct end *e, const struct cfg *c)
{
	return end_open_on(t, e, c, NULL);
}

static inline struct card end_card(const struct end *e)
{
	struct card k = { .qpn = tp_qp_num(e->qp), .buf = (uintptr_t)e->buf,
			  .rkey = e->mr->rkey, .len = e->len };

	tp_device_addr(e->dev, &k.addr);
	return k;
}

static inline bool end_connect(struct lt *t, struct end *e, const struct card *peer, const struct cfg *c)
{
	struct tp_qp_attr a = { .state = TP_QPS_RTR, .path_mtu = 4096, .dest = peer->addr,
				.dest_qp_num = peer->qpn, .rq_psn = c->rq_psn,
				.max_dest_rd_atomic = c->no_dest_rd_atomic ? 0 : 16,
				.min_rnr_timer = c->min_rnr_timer };
	int err;

	err = tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN |
					  TP_QP_MAX_DEST_RD_ATOMIC | TP_QP_MIN_RNR_TIMER);
	LT_CHECK(t, err == 0, "RTR: %s", loom_err_msg());
	a = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = c->sq_psn, .timeout = c->timeout,
				 .retry_cnt = c->retry_cnt, .rnr_retry = c->rnr_retry,
				 .max_rd_atomic = 16 };
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
	if (e->buf && e->mem)
		LT_CHECK(t, tp_mem_free(e->dev, e->buf) == 0, "%s", loom_err_msg());
	else
		free(e->buf);
	if (e->dev && !e->shared_dev)
		LT_CHECK(t, tp_device_close(e->dev) == 0, "%s", loom_err_msg());
	memset(e, 0, sizeof(*e));
}

/* ---- waiting for completions ------------------------------------------------ */

/* Expect exactly one completion with status and wr_id. */
static inline void expect_wc(struct lt *t, struct tp_cq *cq, uint64_t wr_id, enum tp_wc_status st)
{
	struct tp_wc wc;

	if (!wait_wc(t, cq, &wc, 10000))
		return;
	LT_CHECK(t, wc.status == st && wc.wr_id == wr_id, "got %s wr_id %llu, want %s wr_id %llu",
		 tp_wc_status_str(wc.status), (unsigned long long)wc.wr_id,
		 tp_wc_status_str(st), (unsigned long long)wr_id);
}

/* ---- the two processes -------------------------------------------------------- */

struct pair {
	struct lt *t;
	const struct cfg *cfg;
	struct end e;
	struct card peer;
	int rd, wr;   /* pipe ends towards the other side */
	bool child;
	pid_t pid;    /* parent: the child's pid */
	bool killed;  /* parent: the test killed the child on purpose */
};

typedef void (*side_fn)(struct pair *p);

static inline void pair_send(struct pair *p, const void *v, size_t n)
{
	LT_CHECK(p->t, write(p->wr, v, n) == (ssize_t)n, "pipe write");
}

/* Read n bytes from the other side within PAIR_TIMEOUT_S. */
static inline bool pair_recv(struct pair *p, void *v, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = p->rd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, PAIR_TIMEOUT_S * 1000) <= 0)
			break;
		r = read(p->rd, (char *)v + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	LT_CHECK(p->t, got == n, "pipe read: %zu of %zu bytes", got, n);
	return got == n;
}

/* A barrier: both sides call it. */
static inline void pair_sync(struct pair *p)
{
	uint64_t v = 0x5ca1ab1e;

	pair_send(p, &v, sizeof(v));
	pair_recv(p, &v, sizeof(v));
}

/* Set up this side, swap cards, connect, sync, run fn. */
static inline void pair_side(struct pair *p, side_fn fn)
{
	struct card mine;

	if (!end_open(p->t, &p->e, p->cfg))
		return;
	mine = end_card(&p->e);
	pair_send(p, &mine, sizeof(mine));
	if (!pair_recv(p, &p->peer, sizeof(p->peer)))
		return;
	if (!end_connect(p->t, &p->e, &p->peer, p->cfg))
		return;
	pair_sync(p);
	fn(p);
}

static inline void pair_reap(struct pair *p)
{
	int status = 0;
	pid_t r = 0;

	for (int i = 0; i < PAIR_TIMEOUT_S * 100 && r == 0; i++) {
		r = waitpid(p->pid, &status, WNOHANG);
		if (r == 0)
			usleep(10000);
	}
	if (r == 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &status, 0);
		LT_CHECK(p->t, false, "child hung: killed");
		return;
	}
	if (p->killed)
		LT_CHECK(p->t, WIFSIGNALED(status), "child should have been killed");
	else
		LT_CHECK(p->t, WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "child failed (status 0x%x)", status);
}

static inline void run_pair(struct lt *t, const struct cfg *cfg, side_fn parent, side_fn child)
{
	int p2c[2], c2p[2];
	struct pair p = { .t = t, .cfg = cfg };

	if (pipe(p2c) || pipe(c2p)) {
		LT_CHECK(t, false, "pipe");
		return;
	}
	fflush(stdout);
	p.pid = fork();
	if (p.pid == 0) {
		struct lt ct = { .name = "child" };

		alarm(PAIR_TIMEOUT_S + 5);
		p = (struct pair){ .t = &ct, .cfg = cfg, .rd = p2c[0], .wr = c2p[1], .child = true };
		close(p2c[1]);
		close(c2p[0]);
		pair_side(&p, child);
		end_close(&ct, &p.e);
		fflush(stdout);
		_exit(ct.failures ? 1 : 0);
	}
	close(p2c[0]);
	close(c2p[1]);
	p.rd = c2p[0];
	p.wr = p2c[1];
	pair_side(&p, parent);
	end_close(t, &p.e);
	close(p.rd);
	close(p.wr);
	pair_reap(&p);
}

/* ---- two ends in one process ------------------------------------------------------ */

/* Ends a and b connected to each other, on two devices or (same_dev) on
 * one; cb configures b (NULL: as a). */
static inline bool duo_open(struct lt *t, struct end *a, struct end *b, const struct cfg *ca,
			    const struct cfg *cb, bool same_dev)
{
	struct card ka, kb;

	cb = cb ? cb : ca;
	if (!end_open(t, a, ca))
		return false;
	if (!end_open_on(t, b, cb, same_dev ? a->dev : NULL))
		return false;
	ka = end_card(a);
	kb = end_card(b);
	return end_connect(t, a, &kb, ca) && end_connect(t, b, &ka, cb);
}

/* Close b first: it may share a's device. */
static inline void duo_close(struct lt *t, struct end *a, struct end *b)
{
	end_close(t, b);
	end_close(t, a);
}

/* ---- posting helpers ------------------------------------------------------------ */

static inline int post1(struct tp_qp *qp, uint64_t wr_id, enum tp_wr_opcode op, unsigned flags,
		 const struct tp_sge *sge, int n, uint64_t raddr, uint32_t rkey)
{
	struct tp_send_wr wr = { .wr_id = wr_id, .opcode = op, .flags = flags, .sg_list = sge,
				 .num_sge = n, .remote_addr = raddr, .rkey = rkey };

	return tp_post_send(qp, &wr, 1, NULL);
}

static inline int recv1(struct tp_qp *qp, uint64_t wr_id, const struct tp_sge *sge, int n)
{
	struct tp_recv_wr wr = { .wr_id = wr_id, .sg_list = sge, .num_sge = n };

	return tp_post_recv(qp, &wr, 1, NULL);
}

static inline struct tp_sge sge_of(const struct end *e, size_t off, uint32_t len)
{
	return (struct tp_sge){ .addr = (uintptr_t)e->buf + off, .length = len,
				.lkey = e->mr->lkey };
}

static inline void fill_random(struct loom_rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)loom_rng_u32(r);
}

/* First differing byte of a and b (n bytes), or -1. */
static inline long first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

static inline enum tp_qp_state qp_state(struct tp_qp *qp)
{
	struct tp_qp_attr a;

	tp_qp_query(qp, &a);
	return a.state;
}

/* ---- data patterns ------------------------------------------------------------- */

#define SEED 0x5eed

/* The sender's pattern for message m: both sides generate it. */
static inline void pattern(uint8_t *p, size_t n, uint64_t m)
{
	struct loom_rng r;

	loom_rng_init(&r, SEED + m);
	fill_random(&r, p, n);
}

/* Concatenate the bytes an SGE list names (the message it describes). */
static inline void gather(uint8_t *dst, const struct tp_sge *sge, int n)
{
	for (int i = 0; i < n; i++) {
		memcpy(dst, (const void *)(uintptr_t)sge[i].addr, sge[i].length);
		dst += sge[i].length;
	}
}

#endif

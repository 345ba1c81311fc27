/*
 * test_ibverbs.c - the ibverbs provider's functional set.
 *
 *   fake_*    the functional set (every opcode with its data checked, the
 *             error statuses, flushing, reset, CQ waiting) and the provider's
 *             own failure paths, against the software NIC of
 *             test_ibverbs_fake.h slid in through the provider's library
 *             seam (ibvp_lib_override): it checks what the provider hands to
 *             verbs and how it reads back what verbs returns;
 *   nic_*     the same functional set on the first real RDMA device
 *             (loopback between two QPs of it, each with its own PD); where
 *             there is none each prints "skip nic_x: no RDMA device" and
 *             counts as skipped, never passed.
 *
 * The translation tables and the loader are tested in test_ibverbs_xlate.c.
 * LOOM_TP_OPTS="ibverbs:port=2,ibverbs:gid_index=3" picks the port and GID
 * of the nic_* run.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/ibverbs/ibvp.h"
#include "loom/err.h"
#include "loom/transport.h"
#include "lt.h"

static bool msg_has(const char *s)
{
	return strstr(loom_err_msg(), s) != NULL;
}

#include "test_ibverbs_fake.h"

/* ==== the functional set ======================================================= */

#define BUF_LEN (64 * 1024)
#define ACCESS_ALL (TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ | \
		    TP_ACCESS_REMOTE_ATOMIC)

struct pcfg {
	int max_send_wr, max_recv_wr, cqe;
	uint8_t timeout, retry_cnt, rnr_retry;
};

struct side {
	struct tp_pd *pd;
	struct tp_cq *scq, *rcq;
	struct tp_qp *qp;
	uint8_t *buf;
	struct tp_mr *mr;
};

struct pair {
	bool fake;
	struct pcfg cfg;
	struct tp_device *dev;
	struct tp_addr addr;
	struct side a, b;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One completion of cq within 5 s (a NIC's retries take milliseconds). */
static bool wc_get(struct lt *t, struct tp_cq *cq, struct tp_wc *wc, const char *what)
{
	double end = now_ms() + 5000;

	do {
		int n = tp_cq_poll(cq, 1, wc);

		if (n == 1)
			return true;
		if (n < 0) {
			lt_fail(t, __FILE__, __LINE__, "%s: poll: %s", what, loom_err_msg());
			return false;
		}
	} while (now_ms() < end);
	lt_fail(t, __FILE__, __LINE__, "%s: no completion in 5 s", what);
	return false;
}

/* No completion on cq for ms milliseconds. */
static bool wc_none(struct tp_cq *cq, double ms)
{
	double end = now_ms() + ms;
	struct tp_wc wc;

	do {
		if (tp_cq_poll(cq, 1, &wc) != 0)
			return false;
	} while (now_ms() < end);
	return true;
}

#define WC_IS(t, wc, id, st, op)                                                           \
	LT_CHECK(t, (wc).wr_id == (id) && (wc).status == (st) &&                           \
			    ((st) != TP_WC_SUCCESS || (wc).opcode == (op)),                \
		 "wc wr_id 0x%llx %s %s, want 0x%llx %s %s", (unsigned long long)(wc).wr_id, \
		 tp_wc_status_str((wc).status), tp_wc_opcode_str((wc).opcode),             \
		 (unsigned long long)(id), tp_wc_status_str(st), tp_wc_opcode_str(op))

static bool side_open(struct lt *t, struct pair *p, struct side *s)
{
	struct tp_qp_init_attr init;

	s->pd = tp_pd_alloc(p->dev);
	s->scq = tp_cq_create(p->dev, p->cfg.cqe);
	s->rcq = tp_cq_create(p->dev, p->cfg.cqe);
	init = (struct tp_qp_init_attr){ .send_cq = s->scq, .recv_cq = s->rcq,
					 .max_send_wr = p->cfg.max_send_wr,
					 .max_recv_wr = p->cfg.max_recv_wr, .max_send_sge = 4,
					 .max_recv_sge = 4, .max_inline_data = 128 };
	s->qp = s->pd && s->scq && s->rcq ? tp_qp_create(s->pd, &init) : NULL;
	s->buf = aligned_alloc(4096, BUF_LEN);
	if (s->buf)
		memset(s->buf, 0, BUF_LEN);
	s->mr = s->buf && s->pd ? tp_mr_reg(s->pd, s->buf, BUF_LEN, ACCESS_ALL) : NULL;
	LT_CHECK(t, s->qp && s->mr, "side: %s", loom_err_msg());
	return s->qp && s->mr;
}

/* RESET -> INIT -> RTR -> RTS towards peer (on the same device). */
static bool side_connect(struct lt *t, struct pair *p, struct side *s, struct side *peer)
{
	struct tp_qp_attr a = { .state = TP_QPS_INIT,
				.access = TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ |
					  TP_ACCESS_REMOTE_ATOMIC };
	int rc;

	rc = tp_qp_modify(s->qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS);
	a = (struct tp_qp_attr){ .state = TP_QPS_RTR, .path_mtu = 1024, .dest = p->addr,
				 .dest_qp_num = tp_qp_num(peer->qp), .rq_psn = 0x100,
				 .max_dest_rd_atomic = 4, .min_rnr_timer = 1 };
	if (!rc)
		rc = tp_qp_modify(s->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST |
						  TP_QP_RQ_PSN | TP_QP_MAX_DEST_RD_ATOMIC |
						  TP_QP_MIN_RNR_TIMER);
	a = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = 0x100, .timeout = p->cfg.timeout,
				 .retry_cnt = p->cfg.retry_cnt, .rnr_retry = p->cfg.rnr_retry,
				 .max_rd_atomic = 4 };
	if (!rc)
		rc = tp_qp_modify(s->qp, &a, TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
						  TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
						  TP_QP_MAX_QP_RD_ATOMIC);
	LT_CHECK(t, rc == 0, "connect: %s", loom_err_msg());
	return rc == 0;
}

static void side_close(struct lt *t, struct side *s)
{
	if (s->qp)
		LT_CHECK(t, tp_qp_destroy(s->qp) == 0, "qp: %s", loom_err_msg());
	if (s->mr)
		LT_CHECK(t, tp_mr_dereg(s->mr) == 0, "mr: %s", loom_err_msg());
	if (s->scq)
		LT_CHECK(t, tp_cq_destroy(s->scq) == 0, "scq: %s", loom_err_msg());
	if (s->rcq)
		LT_CHECK(t, tp_cq_destroy(s->rcq) == 0, "rcq: %s", loom_err_msg());
	if (s->pd)
		LT_CHECK(t, tp_pd_free(s->pd) == 0, "pd: %s", loom_err_msg());
	free(s->buf);
}

static bool pair_open(struct lt *t, struct pair *p)
{
	char txt[128];

	p->dev = tp_device_open("ibverbs", NULL, NULL);
	LT_CHECK(t, p->dev, "open: %s", loom_err_msg());
	if (!p->dev)
		return false;
	LT_CHECK(t, tp_device_addr(p->dev, &p->addr) == 0 &&
			    tp_addr_format(p->dev, &p->addr, txt, sizeof(txt)) == 0,
		 "address: %s", loom_err_msg());
	return side_open(t, p, &p->a) && side_open(t, p, &p->b) &&
	       side_connect(t, p, &p->a, &p->b) && side_connect(t, p, &p->b, &p->a);
}

static void pair_close(struct lt *t, struct pair *p)
{
	side_close(t, &p->a);
	side_close(t, &p->b);
	if (p->dev)
		LT_CHECK(t, tp_device_close(p->dev) == 0, "close: %s", loom_err_msg());
}

static struct tp_sge sge_of(struct side *s, size_t off, uint32_t len)
{
	return (struct tp_sge){ .addr = (uintptr_t)s->buf + off, .length = len,
				.lkey = s->mr->lkey };
}

static bool post_recv1(struct lt *t, struct side *s, uint64_t id, size_t off, uint32_t len)
{
	struct tp_sge g = sge_of(s, off, len);
	struct tp_recv_wr r = { .wr_id = id, .sg_list = &g, .num_sge = 1 };
	int rc = tp_post_recv(s->qp, &r, 1, NULL);

	LT_CHECK(t, rc == 0, "post_recv: %s", loom_err_msg());
	return rc == 0;
}

static bool post1(struct lt *t, struct side *s, const struct tp_send_wr *w)
{
	int rc = tp_post_send(s->qp, w, 1, NULL);

	LT_CHECK(t, rc == 0, "post_send: %s", loom_err_msg());
	return rc == 0;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static enum tp_qp_state qp_state(struct tp_qp *qp)
{
	struct tp_qp_attr a;

	tp_qp_query(qp, &a);
	return a.state;
}

/* SEND of three SGEs (400 bytes) into a receive of two (500 bytes). */
static void fn_send(struct lt *t, struct pair *p)
{
	struct tp_sge rs[2] = { sge_of(&p->b, 0, 100), sge_of(&p->b, 1000, 400) };
	struct tp_sge ss[3] = { sge_of(&p->a, 0, 50), sge_of(&p->a, 200, 150),
				sge_of(&p->a, 4000, 200) };
	struct tp_recv_wr r = { .wr_id = 0xb1, .sg_list = rs, .num_sge = 2 };
	struct tp_send_wr s = { .wr_id = 0xa1, .opcode = TP_WR_SEND, .flags = TP_SEND_SIGNALED,
				.sg_list = ss, .num_sge = 3 };
	uint8_t want[400];
	struct tp_wc wc;

	fill(p->a.buf, BUF_LEN, 3);
	memcpy(want, p->a.buf, 50);
	memcpy(want + 50, p->a.buf + 200, 150);
	memcpy(want + 200, p->a.buf + 4000, 200);
	LT_CHECK(t, tp_post_recv(p->b.qp, &r, 1, NULL) == 0, "%s", loom_err_msg());
	if (!post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->b.rcq, &wc, "recv")) {
		WC_IS(t, wc, 0xb1, TP_WC_SUCCESS, TP_WC_RECV);
		LT_CHECK(t, wc.byte_len == 400 && !wc.has_imm && wc.qp_num == tp_qp_num(p->b.qp),
			 "recv byte_len %u qp %u", wc.byte_len, wc.qp_num);
	}
	if (wc_get(t, p->a.scq, &wc, "send")) {
		WC_IS(t, wc, 0xa1, TP_WC_SUCCESS, TP_WC_SEND);
		LT_CHECK(t, wc.byte_len == 400 && wc.qp_num == tp_qp_num(p->a.qp),
			 "send byte_len %u (message bytes)", wc.byte_len);
	}
	LT_CHECK(t, !memcmp(p->b.buf, want, 100) && !memcmp(p->b.buf + 1000, want + 100, 300),
		 "data scattered");
	LT_CHECK(t, zero(p->b.buf + 100, 900) && zero(p->b.buf + 1300, 200), "nothing else");
}

static void fn_send_imm(struct lt *t, struct pair *p)
{
	struct tp_sge ss = sge_of(&p->a, 0, 32);
	struct tp_send_wr s = { .wr_id = 7, .opcode = TP_WR_SEND_WITH_IMM,
				.flags = TP_SEND_SIGNALED, .sg_list = &ss, .num_sge = 1,
				.imm_data = 0x12345678 };
	struct tp_wc wc;

	fill(p->a.buf, 32, 9);
	if (!post_recv1(t, &p->b, 8, 0, 64) || !post1(t, &p->a, &s))
		return;
	if (p->fake) /* verbs carries the immediate in network order */
		LT_CHECK(t, fk.last_send.imm_data == htobe32(0x12345678) &&
				    fk.last_send.opcode == IBV_WR_SEND_WITH_IMM,
			 "posted imm 0x%x", fk.last_send.imm_data);
	if (wc_get(t, p->b.rcq, &wc, "recv")) {
		WC_IS(t, wc, 8, TP_WC_SUCCESS, TP_WC_RECV);
		LT_CHECK(t, wc.has_imm && wc.imm_data == 0x12345678 && wc.byte_len == 32,
			 "imm %d 0x%x len %u", wc.has_imm, wc.imm_data, wc.byte_len);
	}
	if (wc_get(t, p->a.scq, &wc, "send"))
		WC_IS(t, wc, 7, TP_WC_SUCCESS, TP_WC_SEND);
	LT_CHECK(t, !memcmp(p->b.buf, p->a.buf, 32), "data");
}

static void fn_write(struct lt *t, struct pair *p)
{
	struct tp_sge ss[2] = { sge_of(&p->a, 100, 1000), sge_of(&p->a, 9000, 2000) };
	struct tp_send_wr s = { .wr_id = 0x77, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = ss, .num_sge = 2,
				.remote_addr = (uintptr_t)p->b.buf + 5000, .rkey = p->b.mr->rkey };
	struct tp_wc wc;

	fill(p->a.buf, BUF_LEN, 11);
	if (!post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->a.scq, &wc, "write")) {
		WC_IS(t, wc, 0x77, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
		LT_CHECK(t, wc.byte_len == 3000, "byte_len %u", wc.byte_len);
	}
	LT_CHECK(t, !memcmp(p->b.buf + 5000, p->a.buf + 100, 1000) &&
			    !memcmp(p->b.buf + 6000, p->a.buf + 9000, 2000), "data");
	LT_CHECK(t, zero(p->b.buf, 5000) && zero(p->b.buf + 8000, BUF_LEN - 8000), "bounds");
	LT_CHECK(t, wc_none(p->b.rcq, 20), "a WRITE consumes no receive");
}

static void fn_write_imm(struct lt *t, struct pair *p)
{
	struct tp_sge ss = sge_of(&p->a, 0, 777);
	struct tp_send_wr s = { .wr_id = 5, .opcode = TP_WR_RDMA_WRITE_WITH_IMM,
				.flags = TP_SEND_SIGNALED, .sg_list = &ss, .num_sge = 1,
				.imm_data = 0xcafef00d, .remote_addr = (uintptr_t)p->b.buf + 64,
				.rkey = p->b.mr->rkey };
	struct tp_wc wc;

	fill(p->a.buf, 777, 21);
	if (!post_recv1(t, &p->b, 6, 32768, 16) || !post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->b.rcq, &wc, "recv")) {
		WC_IS(t, wc, 6, TP_WC_SUCCESS, TP_WC_RECV_RDMA_WITH_IMM);
		LT_CHECK(t, wc.has_imm && wc.imm_data == 0xcafef00d && wc.byte_len == 777,
			 "imm 0x%x len %u", wc.imm_data, wc.byte_len);
	}
	if (wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 5, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	LT_CHECK(t, !memcmp(p->b.buf + 64, p->a.buf, 777) && zero(p->b.buf + 32768, 16),
		 "data at remote_addr, none in the receive buffer");
}

static void fn_read(struct lt *t, struct pair *p)
{
	struct tp_sge ss[2] = { sge_of(&p->a, 8192, 1000), sge_of(&p->a, 20000, 1048) };
	struct tp_send_wr s = { .wr_id = 0x88, .opcode = TP_WR_RDMA_READ,
				.flags = TP_SEND_SIGNALED, .sg_list = ss, .num_sge = 2,
				.remote_addr = (uintptr_t)p->b.buf + 64, .rkey = p->b.mr->rkey };
	struct tp_wc wc;

	fill(p->b.buf, BUF_LEN, 33);
	if (!post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->a.scq, &wc, "read")) {
		WC_IS(t, wc, 0x88, TP_WC_SUCCESS, TP_WC_RDMA_READ);
		LT_CHECK(t, wc.byte_len == 2048, "byte_len %u", wc.byte_len);
	}
	LT_CHECK(t, !memcmp(p->a.buf + 8192, p->b.buf + 64, 1000) &&
			    !memcmp(p->a.buf + 20000, p->b.buf + 1064, 1048), "data");
	LT_CHECK(t, zero(p->a.buf, 8192) && zero(p->a.buf + 9192, 20000 - 9192), "bounds");
}

/* One atomic on the u64 at b.buf + 4096; returns the old value seen. */
static uint64_t atomic1(struct lt *t, struct pair *p, enum tp_wr_opcode op, uint64_t cmp_add,
			uint64_t swap, uint64_t id)
{
	struct tp_sge g = sge_of(&p->a, 512, 8);
	struct tp_send_wr s = { .wr_id = id, .opcode = op, .flags = TP_SEND_SIGNALED,
				.sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf + 4096,
				.rkey = p->b.mr->rkey, .compare_add = cmp_add, .swap = swap };
	struct tp_wc wc;
	uint64_t old = ~0ull;

	memset(p->a.buf + 512, 0xee, 8);
	if (!post1(t, &p->a, &s) || !wc_get(t, p->a.scq, &wc, "atomic"))
		return old;
	WC_IS(t, wc, id, TP_WC_SUCCESS,
	      op == TP_WR_ATOMIC_FETCH_ADD ? TP_WC_FETCH_ADD : TP_WC_COMP_SWAP);
	LT_CHECK(t, wc.byte_len == 8, "atomic byte_len %u", wc.byte_len);
	memcpy(&old, p->a.buf + 512, 8);
	return old;
}

static void fn_atomics(struct lt *t, struct pair *p)
{
	uint64_t v = 100, old;

	memcpy(p->b.buf + 4096, &v, 8);
	old = atomic1(t, p, TP_WR_ATOMIC_FETCH_ADD, 23, 0, 1);
	memcpy(&v, p->b.buf + 4096, 8);
	LT_CHECK(t, old == 100 && v == 123, "FETCH_ADD: old %llu now %llu",
		 (unsigned long long)old, (unsigned long long)v);
	old = atomic1(t, p, TP_WR_ATOMIC_CMP_SWP, 123, 7, 2);
	memcpy(&v, p->b.buf + 4096, 8);
	LT_CHECK(t, old == 123 && v == 7, "CMP_SWP equal: old %llu now %llu",
		 (unsigned long long)old, (unsigned long long)v);
	old = atomic1(t, p, TP_WR_ATOMIC_CMP_SWP, 999, 1, 3);
	memcpy(&v, p->b.buf + 4096, 8);
	LT_CHECK(t, old == 7 && v == 7, "CMP_SWP unequal: old %llu now %llu",
		 (unsigned long long)old, (unsigned long long)v);
	old = atomic1(t, p, TP_WR_ATOMIC_FETCH_ADD, ~0ull, 0, 4); /* wraps: 7 - 1 */
	memcpy(&v, p->b.buf + 4096, 8);
	LT_CHECK(t, old == 7 && v == 6, "FETCH_ADD of 2^64-1: now %llu", (unsigned long long)v);
}

/* INLINE copies the data at post time and ignores the lkey. */
static void fn_inline(struct lt *t, struct pair *p)
{
	struct tp_sge ss = { .addr = (uintptr_t)p->a.buf, .length = 100, .lkey = 0 };
	struct tp_send_wr s = { .wr_id = 9, .opcode = TP_WR_SEND,
				.flags = TP_SEND_SIGNALED | TP_SEND_INLINE, .sg_list = &ss,
				.num_sge = 1 };
	uint8_t want[100];
	struct tp_wc wc;

	fill(p->a.buf, 100, 44);
	memcpy(want, p->a.buf, 100);
	if (!post_recv1(t, &p->b, 10, 0, 128) || !post1(t, &p->a, &s))
		return;
	memset(p->a.buf, 0, 100);
	if (wc_get(t, p->b.rcq, &wc, "recv"))
		WC_IS(t, wc, 10, TP_WC_SUCCESS, TP_WC_RECV);
	if (wc_get(t, p->a.scq, &wc, "send"))
		WC_IS(t, wc, 9, TP_WC_SUCCESS, TP_WC_SEND);
	LT_CHECK(t, !memcmp(p->b.buf, want, 100), "the data as posted");
}

/* Rounds of 3 unsignaled WRITEs and a signaled one, 5x the send queue:
 * one completion per round, and slots are reused. */
static void fn_unsignaled(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 64);
	struct tp_send_wr w[4];
	struct tp_wc wc;
	int rounds = 5 * p->cfg.max_send_wr / 4;

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 4; i++)
			w[i] = (struct tp_send_wr){ .wr_id = (uint64_t)r * 4 + i,
						    .opcode = TP_WR_RDMA_WRITE,
						    .flags = i == 3 ? TP_SEND_SIGNALED : 0,
						    .sg_list = &g, .num_sge = 1,
						    .remote_addr = (uintptr_t)p->b.buf + 64 * i,
						    .rkey = p->b.mr->rkey };
		LT_CHECK(t, tp_post_send(p->a.qp, w, 4, NULL) == 0, "round %d: %s", r,
			 loom_err_msg());
		if (!wc_get(t, p->a.scq, &wc, "round"))
			return;
		WC_IS(t, wc, (uint64_t)r * 4 + 3, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
		LT_CHECK(t, wc.byte_len == 64, "byte_len %u", wc.byte_len);
	}
	LT_CHECK(t, wc_none(p->a.scq, 20), "no completion for unsignaled WRs");
}

static void fn_queue_full(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_send_wr w[5];
	struct tp_recv_wr r[5];
	struct tp_wc wc;
	int bad = -1;

	for (int i = 0; i < 5; i++) {
		w[i] = (struct tp_send_wr){ .wr_id = 100 + i, .opcode = TP_WR_RDMA_WRITE,
					    .flags = i == 3 ? TP_SEND_SIGNALED : 0, .sg_list = &g,
					    .num_sge = 1, .remote_addr = (uintptr_t)p->b.buf,
					    .rkey = p->b.mr->rkey };
		r[i] = (struct tp_recv_wr){ .wr_id = 200 + i, .sg_list = &g, .num_sge = 1 };
	}
	/* max_send_wr 4: the 5th is refused until the signaled 4th is polled */
	LT_CHECK(t, tp_post_send(p->a.qp, w, 5, &bad) == -ENOMEM && bad == 4 &&
			    msg_has("send queue full"), "bad %d: %s", bad, loom_err_msg());
	if (wc_get(t, p->a.scq, &wc, "signaled"))
		WC_IS(t, wc, 103, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	w[4].flags = TP_SEND_SIGNALED;
	LT_CHECK(t, tp_post_send(p->a.qp, &w[4], 1, NULL) == 0, "after the poll: %s",
		 loom_err_msg());
	if (wc_get(t, p->a.scq, &wc, "5th"))
		WC_IS(t, wc, 104, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	LT_CHECK(t, tp_post_recv(p->b.qp, r, 5, &bad) == -ENOMEM && bad == 4 &&
			    msg_has("receive queue full"), "recv bad %d: %s", bad, loom_err_msg());
}

static void fn_bad_wr(struct lt *t, struct pair *p)
{
	struct tp_sge g[5] = { sge_of(&p->a, 0, 8), sge_of(&p->a, 8, 8), sge_of(&p->a, 16, 8),
			       sge_of(&p->a, 24, 8), sge_of(&p->a, 32, 4) };
	struct tp_send_wr ok = { .wr_id = 1, .opcode = TP_WR_RDMA_WRITE, .flags = TP_SEND_SIGNALED,
				 .sg_list = g, .num_sge = 1, .remote_addr = (uintptr_t)p->b.buf,
				 .rkey = p->b.mr->rkey };
	struct tp_send_wr two[2] = { ok, ok }, w = ok;
	struct tp_recv_wr r = { .wr_id = 3, .sg_list = g, .num_sge = 5 };
	struct tp_wc wc;
	int bad = -1;

	w.opcode = (enum tp_wr_opcode)99;
	LT_CHECK(t, tp_post_send(p->a.qp, &w, 1, &bad) == -EINVAL && bad == 0 &&
			    msg_has("unknown"), "opcode 99: %s", loom_err_msg());
	w = ok;
	w.flags |= 1u << 9;
	LT_CHECK(t, tp_post_send(p->a.qp, &w, 1, &bad) == -EINVAL, "unknown flag");
	two[1].flags |= TP_SEND_INLINE;
	g[1].length = 200; /* over max_inline_data 128 */
	two[1].sg_list = &g[1];
	LT_CHECK(t, tp_post_send(p->a.qp, two, 2, &bad) == -EINVAL && bad == 1 &&
			    msg_has("inline"), "bad %d: %s", bad, loom_err_msg());
	if (wc_get(t, p->a.scq, &wc, "the WR before the bad one"))
		WC_IS(t, wc, 1, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	w = ok;
	w.opcode = TP_WR_ATOMIC_FETCH_ADD;
	w.sg_list = &g[4]; /* 4 bytes */
	LT_CHECK(t, tp_post_send(p->a.qp, &w, 1, NULL) == -EINVAL && msg_has("8 bytes"), "%s",
		 loom_err_msg());
	w = ok;
	w.num_sge = 5;
	LT_CHECK(t, tp_post_send(p->a.qp, &w, 1, NULL) == -EINVAL && msg_has("max_send_sge"),
		 "%s", loom_err_msg());
	w = ok;
	w.opcode = TP_WR_RDMA_READ;
	w.flags |= TP_SEND_INLINE;
	LT_CHECK(t, tp_post_send(p->a.qp, &w, 1, NULL) == -EINVAL, "inline READ");
	LT_CHECK(t, tp_post_recv(p->b.qp, &r, 1, &bad) == -EINVAL && bad == 0 &&
			    msg_has("max_recv_sge"), "%s", loom_err_msg());
	LT_CHECK(t, wc_none(p->a.scq, 10), "refused WRs make no completion");
}

static void fn_wrong_state(struct lt *t, struct pair *p)
{
	struct tp_qp_init_attr init = { .send_cq = p->a.scq, .recv_cq = p->a.rcq,
					.max_send_wr = 2, .max_recv_wr = 2, .max_send_sge = 1,
					.max_recv_sge = 1 };
	struct tp_qp *qp = tp_qp_create(p->a.pd, &init);
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = TP_ACCESS_REMOTE_WRITE };
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_recv_wr r = { .wr_id = 1, .sg_list = &g, .num_sge = 1 };
	struct tp_send_wr s = { .wr_id = 2, .opcode = TP_WR_SEND, .sg_list = &g, .num_sge = 1 };

	LT_CHECK(t, qp, "create: %s", loom_err_msg());
	if (!qp)
		return;
	LT_CHECK(t, tp_post_recv(qp, &r, 1, NULL) == -EINVAL && msg_has("RESET"), "%s",
		 loom_err_msg());
	LT_CHECK(t, tp_qp_modify(qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS) == 0, "INIT: %s",
		 loom_err_msg());
	LT_CHECK(t, p->fake == false || (fk.last_init_mask & (IBV_QP_PKEY_INDEX | IBV_QP_PORT)),
		 "RESET->INIT carried the P_Key index and port");
	LT_CHECK(t, tp_post_send(qp, &s, 1, NULL) == -EINVAL && msg_has("needs RTS"), "%s",
		 loom_err_msg());
	LT_CHECK(t, tp_post_recv(qp, &r, 1, NULL) == 0, "recv in INIT: %s", loom_err_msg());
	a.state = TP_QPS_RTS; /* INIT -> RTS is no transition */
	LT_CHECK(t, tp_qp_modify(qp, &a, TP_QP_STATE) == -EINVAL, "INIT->RTS");
	LT_CHECK(t, tp_cq_destroy(p->a.scq) == -EBUSY, "a CQ in use");
	LT_CHECK(t, tp_pd_free(p->a.pd) == -EBUSY, "a PD in use");
	LT_CHECK(t, tp_qp_destroy(qp) == 0, "destroy: %s", loom_err_msg());
	LT_CHECK(t, wc_none(p->a.rcq, 10), "destroy makes no completion");
}

/* An rkey without REMOTE_WRITE, then bounds: REM_ACCESS_ERR, QP in ERR,
 * later WRs flushed. */
static void fn_rem_access(struct lt *t, struct pair *p)
{
	struct tp_mr *ro = tp_mr_reg(p->b.pd, p->b.buf + 32768, 4096,
				     TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_READ);
	struct tp_sge g = sge_of(&p->a, 0, 64);
	struct tp_send_wr s = { .wr_id = 0xe1, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1 };
	struct tp_wc wc;

	LT_CHECK(t, ro, "reg: %s", loom_err_msg());
	if (!ro)
		return;
	s.remote_addr = (uintptr_t)p->b.buf + 32768;
	s.rkey = ro->rkey;
	fill(p->a.buf, 64, 1);
	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 0xe1, TP_WC_REM_ACCESS_ERR, TP_WC_RDMA_WRITE);
	LT_CHECK(t, zero(p->b.buf + 32768, 64), "nothing written");
	LT_CHECK(t, qp_state(p->a.qp) == TP_QPS_ERR, "requester in ERR: %s",
		 tp_qp_state_str(qp_state(p->a.qp)));
	s.wr_id = 0xe2;
	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "after"))
		WC_IS(t, wc, 0xe2, TP_WC_WR_FLUSH_ERR, TP_WC_RDMA_WRITE);
	LT_CHECK(t, tp_mr_dereg(ro) == 0, "dereg: %s", loom_err_msg());
}

static void fn_rem_bounds(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 100);
	struct tp_send_wr s = { .wr_id = 0xe3, .opcode = TP_WR_RDMA_READ,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf + BUF_LEN - 10,
				.rkey = p->b.mr->rkey };
	struct tp_wc wc;

	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "read past the end"))
		WC_IS(t, wc, 0xe3, TP_WC_REM_ACCESS_ERR, TP_WC_RDMA_READ);
}

/* An lkey of another PD's region. */
static void fn_loc_prot(struct lt *t, struct pair *p)
{
	struct tp_sge g = { .addr = (uintptr_t)p->b.buf, .length = 64, .lkey = p->b.mr->lkey };
	struct tp_send_wr s = { .wr_id = 0xe4, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf + 1024, .rkey = p->b.mr->rkey };
	struct tp_wc wc;

	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 0xe4, TP_WC_LOC_PROT_ERR, TP_WC_RDMA_WRITE);
	LT_CHECK(t, qp_state(p->a.qp) == TP_QPS_ERR, "QP in ERR");
}

/* 256 bytes into a 64-byte receive. */
static void fn_loc_len(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 256);
	struct tp_send_wr s = { .wr_id = 0xe5, .opcode = TP_WR_SEND, .flags = TP_SEND_SIGNALED,
				.sg_list = &g, .num_sge = 1 };
	struct tp_wc wc;

	if (!post_recv1(t, &p->b, 0xe6, 0, 64) || !post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->b.rcq, &wc, "recv"))
		WC_IS(t, wc, 0xe6, TP_WC_LOC_LEN_ERR, TP_WC_RECV);
	if (wc_get(t, p->a.scq, &wc, "send"))
		WC_IS(t, wc, 0xe5, TP_WC_REM_INV_REQ_ERR, TP_WC_SEND);
}

/* No receive posted, rnr_retry 0. */
static void fn_rnr(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 16);
	struct tp_send_wr s = { .wr_id = 0xe7, .opcode = TP_WR_SEND, .flags = TP_SEND_SIGNALED,
				.sg_list = &g, .num_sge = 1 };
	struct tp_wc wc;

	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "send"))
		WC_IS(t, wc, 0xe7, TP_WC_RNR_RETRY_EXC_ERR, TP_WC_SEND);
	LT_CHECK(t, qp_state(p->a.qp) == TP_QPS_ERR, "QP in ERR");
}

/* The peer QP is gone: nothing answers, retry_cnt 1 runs out. */
static void fn_retry_exc(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 16);
	struct tp_send_wr s = { .wr_id = 0xe8, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf, .rkey = p->b.mr->rkey };
	struct tp_wc wc;

	LT_CHECK(t, tp_qp_destroy(p->b.qp) == 0, "%s", loom_err_msg());
	p->b.qp = NULL;
	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 0xe8, TP_WC_RETRY_EXC_ERR, TP_WC_RDMA_WRITE);
}

/* Entering ERR flushes the receives in order; later ones flush at once. */
static void fn_flush(struct lt *t, struct pair *p)
{
	struct tp_qp_attr a = { .state = TP_QPS_ERR };
	struct tp_wc wc;

	for (int i = 1; i <= 3; i++)
		post_recv1(t, &p->b, (uint64_t)i, (size_t)i * 64, 64);
	LT_CHECK(t, tp_qp_modify(p->b.qp, &a, TP_QP_STATE) == 0, "ERR: %s", loom_err_msg());
	for (int i = 1; i <= 3; i++)
		if (wc_get(t, p->b.rcq, &wc, "flushed")) {
			WC_IS(t, wc, (uint64_t)i, TP_WC_WR_FLUSH_ERR, TP_WC_RECV);
			LT_CHECK(t, wc.opcode == TP_WC_RECV && wc.byte_len == 0,
				 "flushed receive: %s len %u", tp_wc_opcode_str(wc.opcode),
				 wc.byte_len);
		}
	post_recv1(t, &p->b, 4, 0, 64);
	if (wc_get(t, p->b.rcq, &wc, "posted in ERR"))
		WC_IS(t, wc, 4, TP_WC_WR_FLUSH_ERR, TP_WC_RECV);
	LT_CHECK(t, qp_state(p->b.qp) == TP_QPS_ERR, "ERR");
}

/* ERR then RESET before the flushes are polled: RESET empties the queues
 * without completions (as mlx5 cleans the CQ), so the flushes left in the
 * CQ are dropped; reconnected, the QP works and its completions name the
 * new WRs, not the old ones in the same ring slots. */
static void fn_reset(struct lt *t, struct pair *p)
{
	struct tp_qp_attr a = { .state = TP_QPS_ERR };
	struct tp_sge g = sge_of(&p->a, 0, 40);
	struct tp_send_wr s = { .wr_id = 0x51, .opcode = TP_WR_SEND, .flags = TP_SEND_SIGNALED,
				.sg_list = &g, .num_sge = 1 };
	struct tp_wc wc;

	post_recv1(t, &p->b, 0x41, 0, 64);
	post_recv1(t, &p->b, 0x42, 64, 64);
	LT_CHECK(t, tp_qp_modify(p->b.qp, &a, TP_QP_STATE) == 0, "ERR: %s", loom_err_msg());
	a.state = TP_QPS_RESET;
	LT_CHECK(t, tp_qp_modify(p->b.qp, &a, TP_QP_STATE) == 0, "RESET: %s", loom_err_msg());
	/* not polled here: the stale flushes must stay in the CQ until the new
	 * receive occupies their ring slot */
	if (!side_connect(t, p, &p->b, &p->a))
		return;
	fill(p->a.buf, 40, 5);
	if (!post_recv1(t, &p->b, 0x43, 1024, 64) || !post1(t, &p->a, &s))
		return;
	if (wc_get(t, p->b.rcq, &wc, "recv after reset")) {
		WC_IS(t, wc, 0x43, TP_WC_SUCCESS, TP_WC_RECV);
		LT_CHECK(t, wc.byte_len == 40, "len %u", wc.byte_len);
	}
	if (wc_get(t, p->a.scq, &wc, "send"))
		WC_IS(t, wc, 0x51, TP_WC_SUCCESS, TP_WC_SEND);
	LT_CHECK(t, !memcmp(p->b.buf + 1024, p->a.buf, 40), "data");
	LT_CHECK(t, wc_none(p->b.rcq, 20), "no completion of the reset receives");
}

static void fn_cq_wait(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_send_wr s = { .wr_id = 0x61, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf, .rkey = p->b.mr->rkey };
	struct tp_wc wc;
	struct pollfd pfd;
	int fd;

	LT_CHECK(t, tp_cq_wait(p->a.scq, 0) == -ETIMEDOUT, "empty: %s", loom_err_msg());
	LT_CHECK(t, tp_cq_wait(p->a.scq, 30) == -ETIMEDOUT, "empty, 30 ms");
	if (!post1(t, &p->a, &s))
		return;
	LT_CHECK(t, tp_cq_wait(p->a.scq, 5000) == 0, "wait: %s", loom_err_msg());
	LT_CHECK(t, tp_cq_wait(p->a.scq, 0) == 0, "a wait consumes nothing");
	LT_CHECK(t, tp_cq_poll(p->a.scq, 1, &wc) == 1 && wc.wr_id == 0x61, "poll after wait");
	LT_CHECK(t, tp_cq_poll(p->a.scq, 1, &wc) == 0, "then empty");
	/* the fd of a poll/epoll loop */
	fd = tp_cq_fd(p->a.scq);
	LT_CHECK(t, fd >= 0, "fd");
	/* the waits above armed the CQ: drop the event that left */
	LT_CHECK(t, tp_cq_ack_notify(p->a.scq) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_cq_req_notify(p->a.scq) == 0, "%s", loom_err_msg());
	s.wr_id = 0x62;
	if (!post1(t, &p->a, &s))
		return;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	LT_CHECK(t, poll(&pfd, 1, 5000) == 1, "fd readable after a completion");
	LT_CHECK(t, tp_cq_ack_notify(p->a.scq) == 0, "%s", loom_err_msg());
	if (wc_get(t, p->a.scq, &wc, "after the fd"))
		WC_IS(t, wc, 0x62, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	/* A NIC may deliver an event late (interrupt path), so only the
	 * software NIC's fd is certain to be quiet now. */
	LT_CHECK(t, !p->fake || poll(&pfd, 1, 0) == 0, "acknowledged");
}

/* Completions of a destroyed QP still in its CQ are dropped, not
 * misattributed. */
static void fn_stale(struct lt *t, struct pair *p)
{
	struct tp_qp_attr a = { .state = TP_QPS_ERR };

	post_recv1(t, &p->b, 0x71, 0, 64);
	post_recv1(t, &p->b, 0x72, 64, 64);
	LT_CHECK(t, tp_qp_modify(p->b.qp, &a, TP_QP_STATE) == 0, "ERR: %s", loom_err_msg());
	LT_CHECK(t, tp_qp_destroy(p->b.qp) == 0, "destroy: %s", loom_err_msg());
	p->b.qp = NULL;
	LT_CHECK(t, wc_none(p->b.rcq, 20), "stale completions dropped");
}

/* ---- the two backends ---------------------------------------------------------------- */

static const struct pcfg cfg_default = { .max_send_wr = 16, .max_recv_wr = 16, .cqe = 64,
					 /* 4.096 us * 2^14 = 67 ms per expiry */
					 .timeout = 14, .retry_cnt = 7, .rnr_retry = 7 };
static const struct pcfg cfg_small = { .max_send_wr = 4, .max_recv_wr = 4, .cqe = 64,
				       .timeout = 14, .retry_cnt = 7, .rnr_retry = 7 };
static const struct pcfg cfg_rnr0 = { .max_send_wr = 16, .max_recv_wr = 16, .cqe = 64,
				      .timeout = 14, .retry_cnt = 7, .rnr_retry = 0 };
/* 4.096 us * 2^12 = 16.8 ms per expiry, one retry: RETRY_EXC in ~50 ms */
static const struct pcfg cfg_retry1 = { .max_send_wr = 16, .max_recv_wr = 16, .cqe = 64,
					.timeout = 12, .retry_cnt = 1, .rnr_retry = 7 };

/* A device whose port is down or has no address is no device to test on;
 * any other failure to open it is the provider's and fails the case. */
static bool nic_usable(struct lt *t)
{
	struct tp_device *d = tp_device_open("ibverbs", NULL, NULL);

	if (d)
		return tp_device_close(d) == 0;
	if (msg_has("is not ACTIVE") || msg_has("has no GID"))
		lt_skip(t, "no RDMA device with an active port (%s)", loom_err_msg());
	else
		lt_fail(t, __FILE__, __LINE__, "open: %s", loom_err_msg());
	return false;
}

static void run_pair(struct lt *t, bool fake, const struct pcfg *c,
		     void (*fn)(struct lt *t, struct pair *p))
{
	struct pair p = { .fake = fake, .cfg = *c };

	if (fake) {
		fk_install();
	} else if (tp_get_devices("ibverbs", NULL, 0) <= 0) {
		lt_skip(t, "no RDMA device");
		return;
	} else if (!nic_usable(t)) {
		return;
	}
	if (pair_open(t, &p))
		fn(t, &p);
	pair_close(t, &p);
	if (fake)
		fk_remove(t);
}

#define BOTH(fn, cfg)                                                   \
	static void fake_##fn(struct lt *t) { run_pair(t, true, &cfg, fn_##fn); } \
	static void nic_##fn(struct lt *t) { run_pair(t, false, &cfg, fn_##fn); }

BOTH(send, cfg_default)
BOTH(send_imm, cfg_default)
BOTH(write, cfg_default)
BOTH(write_imm, cfg_default)
BOTH(read, cfg_default)
BOTH(atomics, cfg_default)
BOTH(inline, cfg_default)
BOTH(unsignaled, cfg_default)
BOTH(queue_full, cfg_small)
BOTH(bad_wr, cfg_default)
BOTH(wrong_state, cfg_default)
BOTH(rem_access, cfg_default)
BOTH(rem_bounds, cfg_default)
BOTH(loc_prot, cfg_default)
BOTH(loc_len, cfg_default)
BOTH(rnr, cfg_rnr0)
BOTH(retry_exc, cfg_retry1)
BOTH(flush, cfg_default)
BOTH(reset, cfg_default)
BOTH(cq_wait, cfg_default)
BOTH(stale, cfg_default)

/* ==== the provider on the software NIC only ==================================== */

static void test_fake_devices(struct lt *t)
{
	struct tp_device_info info[4];
	struct tp_device *d;
	struct tp_addr a;
	char txt[96];

	fk_install();
	LT_CHECK(t, tp_get_devices("ibverbs", info, 4) == 1 && !strcmp(info[0].name, "fake_roce0")
			    && !strcmp(info[0].provider, "ibverbs"), "iWARP is not listed");
	fk.first = 1;
	fk.n_devices = 1;
	LT_CHECK(t, tp_get_devices("ibverbs", info, 4) == 0 &&
			    msg_has("no RDMA devices (libibverbs found 1 devices, none InfiniBand "
				    "or RoCE"), "%s", loom_err_msg());
	fk.n_devices = 0;
	LT_CHECK(t, tp_get_devices("ibverbs", info, 4) == 0 &&
			    msg_has("ibverbs: no RDMA devices (libibverbs found 0 devices; is a NIC "
				    "or rxe configured?)"), "%s", loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, NULL) &&
			    msg_has("ibverbs: no device (ibverbs: no RDMA devices (libibverbs found "
				    "0 devices"), "%s", loom_err_msg());
	fk.first = 0;
	fk.n_devices = 2;
	LT_CHECK(t, !tp_device_open("ibverbs", "mlx9", NULL) && msg_has("no device 'mlx9'"), "%s",
		 loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", "fake_iwarp0", NULL) && msg_has("iWARP"), "%s",
		 loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, (const char *[]){ "port=2", NULL }) &&
			    msg_has("1 port"), "%s", loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, (const char *[]){ "gid_index=1", NULL }) &&
			    msg_has("GID index 1 is empty"), "%s", loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, (const char *[]){ "bogus=1", NULL }),
		 "unknown option");
	/* by default the IPv4 GID (index 2) */
	d = tp_device_open("ibverbs", NULL, (const char *[]){ "sl=3", "tclass=104", NULL });
	LT_CHECK(t, d, "open: %s", loom_err_msg());
	if (d) {
		LT_CHECK(t, tp_device_addr(d, &a) == 0 && a.len == 21 && a.bytes[19] == 2 &&
				    !memcmp(a.bytes, fk.gids[2].raw, 16), "address");
		LT_CHECK(t, tp_addr_format(d, &a, txt, sizeof(txt)) == 0 &&
				    !strcmp(txt, "::ffff:10.0.0.1 port 1 gid_index 2 (RoCE)"),
			 "%s", txt);
		LT_CHECK(t, tp_device_close(d) == 0, "close");
	}
	d = tp_device_open("ibverbs", "fake_roce0", (const char *[]){ "gid_index=0", NULL });
	LT_CHECK(t, d && tp_device_addr(d, &a) == 0 && a.bytes[19] == 0, "gid_index=0");
	if (d)
		tp_device_close(d);
	fk_remove(t);
}

/* What the provider gave verbs for RTR, on the software NIC's record. */
static void fn_rtr_record(struct lt *t, struct pair *p)
{
	struct tp_qp_attr a = { .state = TP_QPS_RTS, .min_rnr_timer = 5 };

	(void)p;
	LT_CHECK(t, fk.last_init_attr.port_num == 1 && fk.last_init_attr.pkey_index == 0 &&
			    fk.last_init_attr.qp_access_flags == (2 | 4 | 8),
		 "INIT: port %d access 0x%x", fk.last_init_attr.port_num,
		 fk.last_init_attr.qp_access_flags);
	LT_CHECK(t, tp_qp_modify(p->a.qp, &a, TP_QP_MIN_RNR_TIMER) == 0, "RTS->RTS: %s",
		 loom_err_msg());
	LT_CHECK(t, fk.last_mask == IBV_QP_MIN_RNR_TIMER && fk.last_attr.min_rnr_timer == 5,
		 "mask 0x%x", fk.last_mask);
	/* a change the NIC refuses: the reason names it and the NIC's state,
	 * and the QP keeps its attributes */
	fk.fail_modify = EINVAL;
	a.min_rnr_timer = 9;
	LT_CHECK(t, tp_qp_modify(p->a.qp, &a, TP_QP_MIN_RNR_TIMER) == -EINVAL, "refused");
	LT_CHECK(t, msg_has("ibv_modify_qp RTS -> RTS") && msg_has("the NIC has it in RTS"),
		 "%s", loom_err_msg());
	LT_CHECK(t, tp_qp_query(p->a.qp, &a) == 0 && a.state == TP_QPS_RTS &&
			    a.min_rnr_timer == 5, "unchanged: %s %u", tp_qp_state_str(a.state),
		 a.min_rnr_timer);
}

static void test_fake_attrs(struct lt *t)
{
	run_pair(t, true, &cfg_default, fn_rtr_record);
}

/* The NIC refuses the 2nd WR of 3: the 1st is posted, bad = 1, and the
 * send ring takes the refused ones back. */
static void fn_post_refused(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_send_wr w[4];
	struct tp_wc wc;
	int bad = -1;

	for (int i = 0; i < 3; i++)
		w[i] = (struct tp_send_wr){ .wr_id = 10 + i, .opcode = TP_WR_RDMA_WRITE,
					    .flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
					    .remote_addr = (uintptr_t)p->b.buf,
					    .rkey = p->b.mr->rkey };
	fk.fail_post_at = 2;
	LT_CHECK(t, tp_post_send(p->a.qp, w, 3, &bad) == -ENOMEM && bad == 1 &&
			    msg_has("ibv_post_send"), "bad %d: %s", bad, loom_err_msg());
	fk.fail_post_at = 0;
	if (wc_get(t, p->a.scq, &wc, "first"))
		WC_IS(t, wc, 10, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	/* max_send_wr 4, and all 4 are free again */
	w[3] = w[0];
	w[3].wr_id = 13;
	w[0].wr_id = 14;
	LT_CHECK(t, tp_post_send(p->a.qp, w, 4, &bad) == 0, "again: %s", loom_err_msg());
	for (int i = 0; i < 4; i++) {
		static const uint64_t order[4] = { 14, 11, 12, 13 };

		if (wc_get(t, p->a.scq, &wc, "again"))
			WC_IS(t, wc, order[i], TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	}
}

static void test_fake_post_refused(struct lt *t)
{
	run_pair(t, true, &cfg_small, fn_post_refused);
}

/* A completion the NIC reports twice is taken once. */
static void fn_dup_cqe(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_send_wr s = { .wr_id = 0x99, .opcode = TP_WR_RDMA_WRITE,
				.flags = TP_SEND_SIGNALED, .sg_list = &g, .num_sge = 1,
				.remote_addr = (uintptr_t)p->b.buf, .rkey = p->b.mr->rkey };
	struct tp_wc wc;

	fk.dup_cqe = true;
	if (post1(t, &p->a, &s) && wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 0x99, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	LT_CHECK(t, wc_none(p->a.scq, 10), "the duplicate is dropped");
}

static void test_fake_dup_cqe(struct lt *t)
{
	run_pair(t, true, &cfg_default, fn_dup_cqe);
}

/* The NIC reports a CQ overrun as an async event; the CQ then fails. */
static void fn_overflow(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 0, 8);
	struct tp_send_wr s = { .opcode = TP_WR_RDMA_WRITE, .flags = TP_SEND_SIGNALED,
				.sg_list = &g, .num_sge = 1, .remote_addr = (uintptr_t)p->b.buf,
				.rkey = p->b.mr->rkey };
	struct tp_wc wc[4];

	for (int i = 0; i < 3; i++) {
		s.wr_id = (uint64_t)i;
		post1(t, &p->a, &s);
	}
	LT_CHECK(t, tp_cq_wait(p->a.scq, 100) == -EOVERFLOW && msg_has("overflow"), "wait: %s",
		 loom_err_msg());
	LT_CHECK(t, tp_cq_poll(p->a.scq, 4, wc) == -EOVERFLOW, "poll");
	LT_CHECK(t, qp_state(p->b.qp) != TP_QPS_ERR, "other QPs untouched");
}

static void test_fake_cq_overflow(struct lt *t)
{
	static const struct pcfg c = { .max_send_wr = 16, .max_recv_wr = 16, .cqe = 2,
				       .timeout = 14, .retry_cnt = 7, .rnr_retry = 7 };

	run_pair(t, true, &c, fn_overflow);
}

/* An async QP error moves the QP to ERR. */
static void fn_async_qp(struct lt *t, struct pair *p)
{
	struct ibvp_qp *q = to_ibvp_qp(p->b.qp);

	fk_async(IBV_EVENT_QP_FATAL, NULL, q->qp);
	LT_CHECK(t, tp_cq_wait(p->b.rcq, 0) == -ETIMEDOUT, "no completion");
	LT_CHECK(t, qp_state(p->b.qp) == TP_QPS_ERR, "ERR after IBV_EVENT_QP_FATAL: %s",
		 tp_qp_state_str(qp_state(p->b.qp)));
}

static void test_fake_async_qp(struct lt *t)
{
	run_pair(t, true, &cfg_default, fn_async_qp);
}

static void test_fake_mr(struct lt *t)
{
	struct tp_device *d;
	struct tp_pd *pd;
	struct tp_mr *mr;
	static uint8_t buf[4096];

	fk_install();
	d = tp_device_open("ibverbs", NULL, NULL);
	pd = d ? tp_pd_alloc(d) : NULL;
	LT_CHECK(t, pd, "%s", loom_err_msg());
	if (pd) {
		mr = tp_mr_reg(pd, buf, sizeof(buf), TP_ACCESS_LOCAL_WRITE);
		LT_CHECK(t, mr && mr->lkey == 0x100 && mr->rkey == 0x80000 && mr->pd == pd,
			 "the NIC's keys");
		LT_CHECK(t, tp_pd_free(pd) == -EBUSY, "PD with an MR");
		if (mr)
			tp_mr_dereg(mr);
		fk.fail_reg_mr = ENOMEM;
		LT_CHECK(t, !tp_mr_reg(pd, buf, sizeof(buf), TP_ACCESS_LOCAL_WRITE) &&
				    msg_has("ibv_reg_mr") && msg_has("ulimit -l"), "%s",
			 loom_err_msg());
		LT_CHECK(t, !tp_mr_reg(pd, buf, sizeof(buf), TP_ACCESS_REMOTE_WRITE),
			 "REMOTE_WRITE without LOCAL_WRITE");
		LT_CHECK(t, !tp_cq_create(d, 5000) && msg_has("ibv_create_cq"), "%s",
			 loom_err_msg());
		tp_pd_free(pd);
	}
	if (d)
		tp_device_close(d);
	fk_remove(t);
}

/* A NIC that fetches atomic values big-endian (Mellanox): the caller still
 * sees host order, also for an unsignaled atomic retired by a later
 * completion. */
static void fn_atomic_be(struct lt *t, struct pair *p)
{
	struct tp_sge g = sge_of(&p->a, 600, 8), w8 = sge_of(&p->a, 0, 8);
	struct tp_send_wr s[2] = {
		{ .wr_id = 1, .opcode = TP_WR_ATOMIC_FETCH_ADD, .sg_list = &g, .num_sge = 1,
		  .remote_addr = (uintptr_t)p->b.buf + 4096, .rkey = p->b.mr->rkey,
		  .compare_add = 1 },
		{ .wr_id = 2, .opcode = TP_WR_RDMA_WRITE, .flags = TP_SEND_SIGNALED,
		  .sg_list = &w8, .num_sge = 1, .remote_addr = (uintptr_t)p->b.buf,
		  .rkey = p->b.mr->rkey },
	};
	struct tp_wc wc;
	uint64_t old;

	fn_atomics(t, p); /* leaves 6 at b.buf + 4096 */
	LT_CHECK(t, tp_post_send(p->a.qp, s, 2, NULL) == 0, "%s", loom_err_msg());
	if (wc_get(t, p->a.scq, &wc, "write"))
		WC_IS(t, wc, 2, TP_WC_SUCCESS, TP_WC_RDMA_WRITE);
	memcpy(&old, p->a.buf + 600, 8);
	LT_CHECK(t, old == 6, "unsignaled FETCH_ADD fetched %llu", (unsigned long long)old);
}

static void test_fake_atomic_be(struct lt *t)
{
	fk_next_mellanox = true;
	run_pair(t, true, &cfg_default, fn_atomic_be);
}

static const struct lt_case cases[] = {
	LT_CASE(test_fake_devices),
	LT_CASE(test_fake_attrs),
	LT_CASE(test_fake_post_refused),
	LT_CASE(test_fake_dup_cqe),
	LT_CASE(test_fake_atomic_be),
	LT_CASE(test_fake_cq_overflow),
	LT_CASE(test_fake_async_qp),
	LT_CASE(test_fake_mr),
#define PAIR(fn) LT_CASE(fake_##fn), LT_CASE(nic_##fn)
	PAIR(send),
	PAIR(send_imm),
	PAIR(write),
	PAIR(write_imm),
	PAIR(read),
	PAIR(atomics),
	PAIR(inline),
	PAIR(unsignaled),
	PAIR(queue_full),
	PAIR(bad_wr),
	PAIR(wrong_state),
	PAIR(rem_access),
	PAIR(rem_bounds),
	PAIR(loc_prot),
	PAIR(loc_len),
	PAIR(rnr),
	PAIR(retry_exc),
	PAIR(flush),
	PAIR(reset),
	PAIR(cq_wait),
	PAIR(stale),
#undef PAIR
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_udp_errors.c - every completion status of the udp provider provoked
 * on purpose, with the QP states IBA prescribes afterwards: remote access
 * errors (bad rkey, out of bounds, missing MR or QP permission, an MR of
 * another PD), invalid requests (receive too small, misaligned atomic,
 * READ to a QP serving none, a packet of the wrong length injected on the
 * wire), remote operational error (bad lkey in the receive), local
 * protection error, RNR NAK retries exhausted and RNR with rnr_retry 7,
 * the retransmission timer running out against a closed peer (finite even
 * at retry_cnt 7), a destroyed peer QP, and posts in the wrong state.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loom/roce.h"
#include "test_udp_pair.h"

static enum tp_qp_state qp_state(struct tp_qp *qp)
{
	struct tp_qp_attr a;

	tp_qp_query(qp, &a);
	return a.state;
}

/* Both QPs ended in ERR and a later post on a is flushed. */
static void expect_both_err(struct lt *t, struct end *a, struct end *b)
{
	uint64_t end = now_us() + 2000000;

	while ((qp_state(a->qp) != TP_QPS_ERR || qp_state(b->qp) != TP_QPS_ERR) &&
	       now_us() < end)
		usleep(1000);
	LT_CHECK(t, qp_state(a->qp) == TP_QPS_ERR, "requester QP in %s",
		 tp_qp_state_str(qp_state(a->qp)));
	LT_CHECK(t, qp_state(b->qp) == TP_QPS_ERR, "responder QP in %s",
		 tp_qp_state_str(qp_state(b->qp)));
	LT_CHECK(t, post1(a, TP_WR_RDMA_WRITE, 999, 0, 8, raddr(b, 0), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0, "post in ERR: %s", loom_err_msg());
	expect_wc(t, a->scq, 999, TP_WC_WR_FLUSH_ERR, NULL);
}

/* One WR that must fail with st on the requester; then both QPs in ERR,
 * the WR queued behind it flushed. */
static void one_remote_error(struct lt *t, struct cfg *c, enum tp_wr_opcode op, size_t loff,
			     uint32_t len, int64_t roff, int rkey_delta, enum tp_wc_status st)
{
	struct end a, b;
	struct tp_wc wc;

	if (!pair_open(t, c, &a, &b))
		goto out;
	LT_CHECK(t, post1(&a, op, 1, loff, len, raddr(&b, 0) + (uint64_t)roff,
			  b.mr->rkey + (uint32_t)rkey_delta, TP_SEND_SIGNALED) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 2, 0, 8, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	if (expect_wc(t, a.scq, 1, st, &wc))
		LT_CHECK(t, wc.vendor_err >= 0x61 && wc.vendor_err <= 0x63,
			 "vendor_err (AETH syndrome) 0x%x", wc.vendor_err);
	expect_wc(t, a.scq, 2, TP_WC_WR_FLUSH_ERR, NULL);
	expect_both_err(t, &a, &b);
out:
	pair_close(t, &a, &b);
}

static void test_bad_rkey(struct lt *t)
{
	struct cfg c = cfg_default();

	one_remote_error(t, &c, TP_WR_RDMA_WRITE, 0, 100, 0, 1, TP_WC_REM_ACCESS_ERR);
	one_remote_error(t, &c, TP_WR_RDMA_READ, 0, 100, 0, 0x100, TP_WC_REM_ACCESS_ERR);
	one_remote_error(t, &c, TP_WR_ATOMIC_FETCH_ADD, 0, 8, 0, 3, TP_WC_REM_ACCESS_ERR);
}

static void test_out_of_bounds(struct lt *t)
{
	struct cfg c = cfg_default();

	/* 100 bytes, the last 4 past the end; then wholly before the start. */
	one_remote_error(t, &c, TP_WR_RDMA_WRITE, 0, 100, (int64_t)c.buf_len - 96, 0,
			 TP_WC_REM_ACCESS_ERR);
	one_remote_error(t, &c, TP_WR_RDMA_READ, 0, 5000, -4096, 0, TP_WC_REM_ACCESS_ERR);
	one_remote_error(t, &c, TP_WR_ATOMIC_CMP_SWP, 0, 8, (int64_t)c.buf_len, 0,
			 TP_WC_REM_ACCESS_ERR);
}

static void test_missing_permission(struct lt *t)
{
	struct cfg c = cfg_default();

	c.mr_access = TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_READ; /* MR: no remote write */
	one_remote_error(t, &c, TP_WR_RDMA_WRITE, 0, 64, 0, 0, TP_WC_REM_ACCESS_ERR);
	one_remote_error(t, &c, TP_WR_ATOMIC_FETCH_ADD, 0, 8, 0, 0, TP_WC_REM_ACCESS_ERR);
	c = cfg_default();
	c.qp_access = TP_ACCESS_REMOTE_WRITE; /* QP: no remote read */
	one_remote_error(t, &c, TP_WR_RDMA_READ, 0, 64, 0, 0, TP_WC_REM_ACCESS_ERR);
}

static void test_invalid_requests(struct lt *t)
{
	struct cfg c = cfg_default();

	one_remote_error(t, &c, TP_WR_ATOMIC_FETCH_ADD, 0, 8, 4, 0, TP_WC_REM_INV_REQ_ERR);
	c.max_dest_rd_atomic = 0; /* the responder serves no READ/atomic */
	one_remote_error(t, &c, TP_WR_RDMA_READ, 0, 64, 0, 0, TP_WC_REM_INV_REQ_ERR);
}

/* An MR of another PD of the same device: refused remotely and locally. */
static void test_pd_isolation(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_pd *pd2 = NULL;
	struct tp_mr *mr2 = NULL;
	uint8_t *mem = calloc(1, 4096);

	if (!pair_open(t, &c, &a, &b))
		goto out;
	pd2 = tp_pd_alloc(b.dev);
	mr2 = pd2 ? tp_mr_reg(pd2, mem, 4096, ACCESS_ALL) : NULL;
	LT_CHECK(t, mr2 != NULL, "%s", loom_err_msg());
	if (!mr2)
		goto out;
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 64, (uintptr_t)mem, mr2->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_REM_ACCESS_ERR, NULL);
	LT_CHECK(t, mem[0] == 0, "the other PD's memory was written");
	{ /* locally: b's QP with an lkey of pd2 */
		struct tp_sge s = { .addr = (uintptr_t)mem, .length = 64, .lkey = mr2->lkey };
		struct tp_recv_wr rw = { .wr_id = 5, .sg_list = &s, .num_sge = 1 };

		tp_post_recv(b.qp, &rw, 1, NULL); /* b is in ERR by now: flushed */
		expect_wc(t, b.rcq, 5, TP_WC_WR_FLUSH_ERR, NULL);
	}
out:
	if (mr2)
		tp_mr_dereg(mr2);
	if (pd2)
		tp_pd_free(pd2);
	pair_close(t, &a, &b);
	free(mem);
}

/* A SEND longer than the receive: LOC_LEN_ERR there, REM_INV_REQ_ERR here.
 * A receive with a bad lkey: LOC_PROT_ERR there, REM_OP_ERR here. */
static void test_receive_errors(struct lt *t)
{
	for (int k = 0; k < 2; k++) {
		struct cfg c = cfg_default();
		struct end a, b;
		struct tp_sge s;
		struct tp_recv_wr rw = { .wr_id = 10, .sg_list = &s, .num_sge = 1 };

		if (!pair_open(t, &c, &a, &b))
			goto out;
		s = sge_of(&b, 0, k == 0 ? 3000 : 8000);
		if (k == 1)
			s.lkey ^= 0x100;
		LT_CHECK(t, tp_post_recv(b.qp, &rw, 1, NULL) == 0, "%s", loom_err_msg());
		LT_CHECK(t, post_recv1(&b, 11, 0, 100) == 0, "%s", loom_err_msg());
		LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 5000, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
			 loom_err_msg());
		expect_wc(t, a.scq, 1, k == 0 ? TP_WC_REM_INV_REQ_ERR : TP_WC_REM_OP_ERR, NULL);
		expect_wc(t, b.rcq, 10, k == 0 ? TP_WC_LOC_LEN_ERR : TP_WC_LOC_PROT_ERR, NULL);
		expect_wc(t, b.rcq, 11, TP_WC_WR_FLUSH_ERR, NULL);
		expect_both_err(t, &a, &b);
out:
		pair_close(t, &a, &b);
	}
}

/* A local lkey that fails: LOC_PROT_ERR, nothing sent for it, the WRs
 * before it completed, the ones after it flushed. */
static void test_local_protection(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_sge s;
	struct tp_send_wr wr = { .wr_id = 2, .opcode = TP_WR_RDMA_WRITE, .sg_list = &s,
				 .num_sge = 1, .flags = TP_SEND_SIGNALED };
	uint64_t tx_before;

	if (!pair_open(t, &c, &a, &b))
		goto out;
	s = sge_of(&a, a.len - 10, 20); /* runs past the MR */
	wr.remote_addr = raddr(&b, 0);
	wr.rkey = b.mr->rkey;
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 4000, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
	tx_before = counters(a.dev).tx_packets;
	LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 3, 0, 8, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_LOC_PROT_ERR, NULL);
	expect_wc(t, a.scq, 3, TP_WC_WR_FLUSH_ERR, NULL);
	LT_CHECK(t, counters(a.dev).tx_packets == tx_before, "a packet was sent");
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "QP in %s", tp_qp_state_str(qp_state(a.qp)));
out:
	pair_close(t, &a, &b);
}

/* No receive posted: RNR NAKs; rnr_retry 2 -> 3 NAKs then RNR_RETRY_EXC_ERR. */
static void test_rnr_retry_exceeded(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_wc wc;

	c.rnr_retry = 2;
	c.min_rnr_timer = 1; /* 10 us */
	if (!pair_open(t, &c, &a, &b))
		goto out;
	LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 3000, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	if (expect_wc(t, a.scq, 1, TP_WC_RNR_RETRY_EXC_ERR, &wc))
		LT_CHECK(t, wc.vendor_err == 0x21, "vendor_err 0x%x (RNR NAK, timer 1)",
			 wc.vendor_err);
	LT_CHECK(t, counters(b.dev).rnr_naks_sent == 3 && counters(a.dev).rnr_naks_received == 3,
		 "RNR NAKs sent %llu received %llu (want 1 + rnr_retry = 3)",
		 (unsigned long long)counters(b.dev).rnr_naks_sent,
		 (unsigned long long)counters(a.dev).rnr_naks_received);
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "requester in %s",
		 tp_qp_state_str(qp_state(a.qp)));
	/* IBA: an RNR NAK is not an error of the responder */
	LT_CHECK(t, qp_state(b.qp) == TP_QPS_RTS, "responder in %s",
		 tp_qp_state_str(qp_state(b.qp)));
out:
	pair_close(t, &a, &b);
}

/* rnr_retry 7 retries forever: the SEND lands once a receive is posted,
 * after waiting at least the RNR timer (min_rnr_timer 14 = 1.28 ms). */
static void test_rnr_infinite(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_wc wc;
	uint64_t t0;

	c.rnr_retry = 7;
	c.min_rnr_timer = 14;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	fill(a.buf, 2500, 3);
	t0 = now_us();
	LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 2500, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	usleep(50000); /* ~40 RNR rounds */
	LT_CHECK(t, counters(b.dev).rnr_naks_sent >= 10, "only %llu RNR NAKs in 50 ms",
		 (unsigned long long)counters(b.dev).rnr_naks_sent);
	expect_none(t, a.scq, 1);
	LT_CHECK(t, post_recv1(&b, 7, 100, 4096) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
	if (expect_wc(t, b.rcq, 7, TP_WC_SUCCESS, &wc))
		LT_CHECK(t, wc.byte_len == 2500, "len %u", wc.byte_len);
	same_bytes(t, "after RNR", b.buf + 100, a.buf, 2500);
	LT_CHECK(t, now_us() - t0 >= 50000, "too fast");
	LT_CHECK(t, counters(b.dev).duplicates == 0, "a SEND placed twice?");
out:
	pair_close(t, &a, &b);
}

/* The peer device closed: no ACK ever comes; after retry_cnt retries
 * (timeout each) RETRY_EXC_ERR, and the rest is flushed.  retry_cnt 7 is 7
 * retries, i.e. 8 timeouts, never infinite. */
static void peer_gone(struct lt *t, uint8_t timeout, uint8_t retry_cnt)
{
	struct cfg c = cfg_default();
	struct end a, b;
	double to_us = 4.096 * (double)(1u << timeout), took;
	uint64_t t0;
	struct tp_counters ca;

	c.timeout = timeout;
	c.retry_cnt = retry_cnt;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	end_close(t, &b); /* QP, MR, CQs, PD, device: the peer is gone */
	t0 = now_us();
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 3000, 0x1000, 0x100, TP_SEND_SIGNALED) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_SEND, 2, 0, 10, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_RETRY_EXC_ERR, NULL);
	took = (double)(now_us() - t0);
	expect_wc(t, a.scq, 2, TP_WC_WR_FLUSH_ERR, NULL);
	ca = counters(a.dev);
	/* (retry_cnt + 1) expiries; the timer is exact to the microsecond,
	 * the upper bound leaves room for a loaded machine (+200 ms). */
	LT_CHECK(t, took >= (retry_cnt + 1) * to_us && took < (retry_cnt + 1) * to_us + 200000,
		 "RETRY_EXC_ERR after %.0f us, want %d x %.0f us", took, retry_cnt + 1, to_us);
	LT_CHECK(t, ca.timeouts == (uint64_t)retry_cnt + 1, "timeouts %llu",
		 (unsigned long long)ca.timeouts);
	/* 4 packets (3-packet WRITE, SEND), then each retry resends the oldest
	 * unacknowledged packet alone (after a timeout the window is 1) */
	LT_CHECK(t, ca.tx_packets == 4 + (uint64_t)retry_cnt &&
			    ca.retransmits == (uint64_t)retry_cnt,
		 "tx %llu retransmits %llu", (unsigned long long)ca.tx_packets,
		 (unsigned long long)ca.retransmits);
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "QP in %s", tp_qp_state_str(qp_state(a.qp)));
out:
	pair_close(t, &a, &b);
}

static void test_peer_gone_retry_exceeded(struct lt *t)
{
	peer_gone(t, 10, 3); /* 4 x 4.19 ms */
	peer_gone(t, 8, 7);  /* retry_cnt 7: 8 x 1.05 ms, finite */
	peer_gone(t, 12, 0); /* no retry: one timeout of 16.8 ms */
}

/* A destroyed peer QP (device still up): its packets are dropped as for no
 * QP, and the requester ends with RETRY_EXC_ERR. */
static void test_peer_qp_destroyed(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;

	c.timeout = 9;
	c.retry_cnt = 2;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	LT_CHECK(t, tp_qp_destroy(b.qp) == 0, "%s", loom_err_msg());
	b.qp = NULL;
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 100, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_RETRY_EXC_ERR, NULL);
	LT_CHECK(t, counters(b.dev).malformed == 3, "dropped for no QP: %llu",
		 (unsigned long long)counters(b.dev).malformed);
out:
	pair_close(t, &a, &b);
}

/* A new device takes the UDP port of a closed one while an old requester
 * still retransmits to it: the stray packets find no QP (QP numbers start
 * at random per device) and the new connection works undisturbed. */
static void test_port_reuse_stray_packets(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b, a2, b2;
	struct tp_addr ad;
	uint32_t old_qpn;
	uint16_t port;
	char opt[32];
	const char *opts[] = { "addr=127.0.0.2", opt, NULL };

	c.timeout = 12; /* 16.8 ms x 8: the old requester keeps sending ~134 ms */
	memset(&a2, 0, sizeof(a2));
	memset(&b2, 0, sizeof(b2));
	if (!pair_open(t, &c, &a, &b))
		goto out;
	tp_device_addr(b.dev, &ad);
	memcpy(&port, ad.bytes + 4, 2);
	old_qpn = tp_qp_num(b.qp);
	end_close(t, &b);
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 3000, 0x1000, 0x100, TP_SEND_SIGNALED) == 0,
		 "%s", loom_err_msg());
	snprintf(opt, sizeof(opt), "port=%u", ntohs(port));
	if (!end_open(t, &b2, &c, opts) || !end_open(t, &a2, &c, (const char **)c.opts_a) ||
	    !end_connect(t, &a2, &b2, &c) || !end_connect(t, &b2, &a2, &c))
		goto out;
	if (tp_qp_num(b2.qp) == old_qpn) { /* 1 in 16383 */
		lt_skip(t, "the new QP drew the old QP number");
		goto out;
	}
	for (int i = 0; i < 40; i++) {
		fill(a2.buf, 20000, (uint64_t)i);
		LT_CHECK(t, post1(&a2, TP_WR_RDMA_WRITE, 10, 0, 20000, raddr(&b2, 0), b2.mr->rkey,
				  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
		if (!expect_wc(t, a2.scq, 10, TP_WC_SUCCESS, NULL))
			break;
		same_bytes(t, "new connection", b2.buf, a2.buf, 20000);
		usleep(2000);
	}
	expect_wc(t, a.scq, 1, TP_WC_RETRY_EXC_ERR, NULL);
	LT_CHECK(t, counters(b2.dev).malformed > 0 && qp_state(b2.qp) == TP_QPS_RTS &&
			    counters(a2.dev).retransmits == 0,
		 "stray packets dropped: %llu, new QP %s",
		 (unsigned long long)counters(b2.dev).malformed, tp_qp_state_str(qp_state(b2.qp)));
out:
	pair_close(t, &a, &b);
	pair_close(t, &a2, &b2);
}

/* Posting in the wrong state: send before RTS and receive in RESET are
 * refused with -EINVAL and a reason; a send in ERR completes flushed. */
static void test_wrong_state(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_qp_attr at = { .state = TP_QPS_ERR };
	struct tp_qp_attr ar = { .state = TP_QPS_RESET };
	int bad = -1;

	if (!end_open(t, &a, &c, (const char **)c.opts_a) ||
	    !end_open(t, &b, &c, (const char **)c.opts_b))
		goto out;
	LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 8, 0, 0, 0) == -EINVAL &&
			    strstr(loom_err_msg(), "INIT"),
		 "send in INIT: %s", loom_err_msg());
	LT_CHECK(t, tp_qp_modify(b.qp, &ar, TP_QP_STATE) == 0, "%s", loom_err_msg());
	{
		struct tp_sge s = sge_of(&b, 0, 8);
		struct tp_recv_wr rw = { .wr_id = 1, .sg_list = &s, .num_sge = 1 };

		LT_CHECK(t, tp_post_recv(b.qp, &rw, 1, &bad) == -EINVAL && bad == 0,
			 "recv in RESET: bad %d %s", bad, loom_err_msg());
	}
	LT_CHECK(t, tp_qp_modify(a.qp, &at, TP_QP_STATE) == 0, "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_SEND, 5, 0, 8, 0, 0, 0) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 5, TP_WC_WR_FLUSH_ERR, NULL);
	/* a QP in ERR goes back through RESET and works again */
	LT_CHECK(t, tp_qp_modify(a.qp, &ar, TP_QP_STATE) == 0, "%s", loom_err_msg());
	{
		struct tp_qp_attr ai = { .state = TP_QPS_INIT, .access = QP_ACCESS_ALL };

		LT_CHECK(t, tp_qp_modify(a.qp, &ai, TP_QP_STATE | TP_QP_ACCESS_FLAGS) == 0 &&
				    tp_qp_modify(b.qp, &ai, TP_QP_STATE | TP_QP_ACCESS_FLAGS) == 0,
			 "%s", loom_err_msg());
	}
	if (!end_connect(t, &a, &b, &c) || !end_connect(t, &b, &a, &c))
		goto out;
	fill(a.buf, 100, 1);
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 6, 0, 100, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 6, TP_WC_SUCCESS, NULL);
	same_bytes(t, "after reset", b.buf, a.buf, 100);
out:
	pair_close(t, &a, &b);
}

/* ---- packets injected on the wire --------------------------------------------------- */

/* A UDP socket on the peer's address (so the device takes its packets as
 * the peer's), DF and ID 0 like the provider's. */
static int injector(struct lt *t, uint32_t ip, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(ip) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), v = IP_PMTUDISC_DO;

	LT_CHECK(t, fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) == 0 &&
			    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0,
		 "injector socket");
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Build pkt (from 127.0.0.2:sport to a's device) and send it. */
static void inject(struct lt *t, int fd, uint16_t sport, const struct end *to,
		   struct roce_pkt *pkt, bool break_icrc)
{
	struct tp_addr ad;
	struct roce_ipv4_udp ip;
	uint8_t buf[ROCE_PKT_MAX_BYTES];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint16_t dport;
	int n;

	tp_device_addr(to->dev, &ad);
	memcpy(&sa.sin_addr.s_addr, ad.bytes, 4);
	memcpy(&dport, ad.bytes + 4, 2);
	sa.sin_port = dport;
	roce_ipv4_udp_socket(&ip, 0x7f000002, sport, ntohl(sa.sin_addr.s_addr), ntohs(dport));
	n = roce_pkt_build(buf, sizeof(buf), pkt, 0, &ip);
	LT_CHECK(t, n > 0, "build: %s", loom_err_msg());
	if (n <= 0)
		return;
	if (break_icrc)
		buf[n - 1] ^= 0x10;
	LT_CHECK(t, sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)) == n,
		 "sendto");
}

/* A packet with a broken ICRC is dropped and counted; one with the wrong
 * payload length at the expected PSN is NAKed as an invalid request and
 * puts the responder QP in ERR (IBA 9.7.4.1.6 / 9.9.3). */
static void test_injected_packets(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	uint16_t sport;
	int fd;
	uint8_t payload[300] = { 0 };
	struct roce_pkt p = { 0 };
	struct tp_counters ca;

	if (!pair_open(t, &c, &a, &b))
		goto out;
	fd = injector(t, 0x7f000002, &sport);
	p.bth = (struct roce_bth){ .opcode = ROCE_OP_SEND_ONLY, .pkey = 0xffff,
				   .dqpn = tp_qp_num(a.qp), .psn = c.rq_psn, .ack_req = true };
	p.payload = payload;
	p.payload_bytes = 16;
	LT_CHECK(t, post_recv1(&a, 1, 0, 4096) == 0, "%s", loom_err_msg());
	inject(t, fd, sport, &a, &p, true);
	usleep(20000);
	ca = counters(a.dev);
	LT_CHECK(t, ca.icrc_errors == 1 && qp_state(a.qp) == TP_QPS_RTS,
		 "icrc_errors %llu, QP %s", (unsigned long long)ca.icrc_errors,
		 tp_qp_state_str(qp_state(a.qp)));
	expect_none(t, a.rcq, 10);
	/* A SEND FIRST must carry exactly the path MTU (1024): 300 is a
	 * length error with valid headers. */
	p.bth.opcode = ROCE_OP_SEND_FIRST;
	p.payload_bytes = 300;
	{
		struct roce_ipv4_udp ip;
		uint8_t buf[2048];
		struct iovec iov = { .iov_base = payload, .iov_len = 300 };
		struct tp_addr ad;
		struct sockaddr_in sa = { .sin_family = AF_INET };
		int n;

		/* the builder refuses length errors, so build as ONLY and patch
		 * the opcode, then recompute the ICRC */
		tp_device_addr(a.dev, &ad);
		memcpy(&sa.sin_addr.s_addr, ad.bytes, 4);
		memcpy(&sa.sin_port, ad.bytes + 4, 2);
		roce_ipv4_udp_socket(&ip, 0x7f000002, sport, ntohl(sa.sin_addr.s_addr),
				     ntohs(sa.sin_port));
		p.bth.opcode = ROCE_OP_SEND_ONLY;
		n = roce_pkt_build_iov(buf, sizeof(buf), &p, &iov, 1, 0, &ip);
		LT_CHECK(t, n > 0, "%s", loom_err_msg());
		buf[0] = ROCE_OP_SEND_FIRST;
		{
			uint32_t crc = roce_icrc_udp(&ip, buf, (size_t)n);

			for (int i = 0; i < 4; i++)
				buf[n - 4 + i] = (uint8_t)(crc >> (8 * i));
		}
		LT_CHECK(t, sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)) == n,
			 "sendto");
	}
	expect_wc(t, a.rcq, 1, TP_WC_WR_FLUSH_ERR, NULL);
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "QP %s after a length error",
		 tp_qp_state_str(qp_state(a.qp)));
	close(fd);
out:
	pair_close(t, &a, &b);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_bad_rkey),
		LT_CASE(test_out_of_bounds),
		LT_CASE(test_missing_permission),
		LT_CASE(test_invalid_requests),
		LT_CASE(test_pd_isolation),
		LT_CASE(test_receive_errors),
		LT_CASE(test_local_protection),
		LT_CASE(test_rnr_retry_exceeded),
		LT_CASE(test_rnr_infinite),
		LT_CASE(test_peer_gone_retry_exceeded),
		LT_CASE(test_peer_qp_destroyed),
		LT_CASE(test_port_reuse_stray_packets),
		LT_CASE(test_wrong_state),
		LT_CASE(test_injected_packets),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

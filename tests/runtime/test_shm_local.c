/*
 * test_shm_local.c - shm behaviour that needs no second process: every
 * opcode between two QPs of one device, counters (what one device sends
 * the other receives, record for record), CQ notification through the fd
 * and tp_cq_wait (timeout and a wakeup from another thread), CQ overflow,
 * and SQD holding WRs back.  Two devices in one process map each other's
 * segments exactly as two processes do.
 */
#include <pthread.h>

#include "test_shm_pair.h"

/* Every opcode between two QPs of one device; b signals every WR. */
static void test_loopback_one_device(struct lt *t)
{
	struct cfg ca = cfg_default(), cb = cfg_default();
	struct end a, b;
	struct tp_sge s, r;
	uint64_t v = 7;

	cb.sig_all = true;
	if (!duo_open(t, &a, &b, &ca, &cb, true))
		goto out;
	pattern(a.buf, 4096, 8);
	r = sge_of(&b, 0, 4096);
	s = sge_of(&a, 0, 4096);
	LT_CHECK(t, recv1(b.qp, 1, &r, 1) == 0 && post1(a.qp, 2, TP_WR_SEND, TP_SEND_SIGNALED,
							 &s, 1, 0, 0) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_SUCCESS);
	expect_wc(t, b.rcq, 1, TP_WC_SUCCESS);
	LT_CHECK(t, memcmp(a.buf, b.buf, 4096) == 0, "SEND data");
	/* b WRITEs it back at 8192 and READs it again at 16384, unsignaled:
	 * sq_sig_all makes both complete. */
	s = sge_of(&b, 0, 4096);
	r = sge_of(&b, 16384, 4096);
	LT_CHECK(t, post1(b.qp, 3, TP_WR_RDMA_WRITE, 0, &s, 1, (uintptr_t)a.buf + 8192,
			  a.mr->rkey) == 0 &&
			    post1(b.qp, 4, TP_WR_RDMA_READ, 0, &r, 1, (uintptr_t)a.buf + 8192,
				  a.mr->rkey) == 0,
		 "%s", loom_err_msg());
	expect_wc(t, b.scq, 3, TP_WC_SUCCESS);
	expect_wc(t, b.scq, 4, TP_WC_SUCCESS);
	LT_CHECK(t, memcmp(a.buf + 8192, a.buf, 4096) == 0 && memcmp(b.buf + 16384, a.buf, 4096) == 0,
		 "WRITE/READ data");
	memcpy(a.buf + 64, &v, 8);
	{
		struct tp_sge res = sge_of(&b, 0, 8);
		struct tp_send_wr wr = { .wr_id = 5, .opcode = TP_WR_ATOMIC_CMP_SWP,
					 .sg_list = &res, .num_sge = 1,
					 .remote_addr = (uintptr_t)a.buf + 64, .rkey = a.mr->rkey,
					 .compare_add = 7, .swap = 9 };
		LT_CHECK(t, tp_post_send(b.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
	}
	expect_wc(t, b.scq, 5, TP_WC_SUCCESS);
	memcpy(&v, a.buf + 64, 8);
	LT_CHECK(t, v == 9 && b.buf[0] == 7, "CMP_SWP: memory %llu, original %u",
		 (unsigned long long)v, b.buf[0]);
out:
	duo_close(t, &a, &b);
}

/* Counters: what a sends, b receives, record for record and byte for byte. */
static void test_counters(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_counters ca, cb;
	struct tp_sge s;

	c.buf_len = 2u << 20;
	c.opts[0] = "chunk_kib=32";
	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	pattern(a.buf, 1u << 20, 9);
	s = sge_of(&a, 0, 1u << 20);
	LT_CHECK(t, post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &s, 1, (uintptr_t)b.buf,
			  b.mr->rkey) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS);
	LT_CHECK(t, memcmp(a.buf, b.buf, 1u << 20) == 0, "WRITE data");
	tp_device_counters(a.dev, &ca);
	tp_device_counters(b.dev, &cb);
	/* 1 MiB in 32 KiB records = 32 request records. */
	LT_CHECK(t, ca.tx_bytes == 1u << 20 && cb.rx_bytes == 1u << 20, "bytes %llu / %llu",
		 (unsigned long long)ca.tx_bytes, (unsigned long long)cb.rx_bytes);
	LT_CHECK(t, ca.tx_packets == 32 && cb.rx_packets == 32, "records %llu / %llu",
		 (unsigned long long)ca.tx_packets, (unsigned long long)cb.rx_packets);
	LT_CHECK(t, cb.tx_packets == ca.rx_packets && ca.rx_packets >= 1,
		 "responses %llu sent, %llu received", (unsigned long long)cb.tx_packets,
		 (unsigned long long)ca.rx_packets);
	LT_CHECK(t, ca.timeouts == 0 && ca.rnr_naks_received == 0 && ca.malformed == 0,
		 "no error events");
out:
	duo_close(t, &a, &b);
}

struct delayed_send {
	struct end *from;
	int delay_ms;
};

static void *send_later(void *arg)
{
	struct delayed_send *d = arg;
	struct tp_sge s = sge_of(d->from, 0, 16);

	usleep((useconds_t)d->delay_ms * 1000);
	post1(d->from->qp, 99, TP_WR_SEND, 0, &s, 1, 0, 0);
	return NULL;
}

/* tp_cq_fd + req_notify for an event loop, and tp_cq_wait: a timeout, and
 * a wakeup by a completion from another thread. */
static void test_cq_notify_and_wait(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_sge r;
	struct pollfd pfd;
	struct tp_wc wc;
	pthread_t th;
	struct delayed_send d;
	uint64_t t0;
	int err;

	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	r = sge_of(&b, 0, 64);
	recv1(b.qp, 1, &r, 1);
	recv1(b.qp, 2, &r, 1);
	pfd = (struct pollfd){ .fd = tp_cq_fd(b.rcq), .events = POLLIN };
	LT_CHECK(t, pfd.fd >= 0 && tp_cq_req_notify(b.rcq) == 0, "%s", loom_err_msg());
	LT_CHECK(t, poll(&pfd, 1, 0) == 0, "fd readable before any completion");
	d = (struct delayed_send){ .from = &a, .delay_ms = 30 };
	send_later(&d);
	LT_CHECK(t, poll(&pfd, 1, 5000) == 1, "fd not readable after a completion");
	LT_CHECK(t, tp_cq_ack_notify(b.rcq) == 0 && poll(&pfd, 1, 0) == 0, "ack did not consume");
	LT_CHECK(t, tp_cq_poll(b.rcq, 1, &wc) == 1 && wc.wr_id == 1, "the completion");
	/* Nothing pending: the wait times out, after about the time asked. */
	t0 = now_us();
	err = tp_cq_wait(b.rcq, 100);
	LT_CHECK(t, err == -ETIMEDOUT && now_us() - t0 >= 90000, "wait: %d after %llu us", err,
		 (unsigned long long)(now_us() - t0));
	/* A completion made by another thread 50 ms later wakes the waiter. */
	d.delay_ms = 50;
	t0 = now_us();
	pthread_create(&th, NULL, send_later, &d);
	err = tp_cq_wait(b.rcq, 5000);
	LT_CHECK(t, err == 0 && now_us() - t0 >= 40000 && now_us() - t0 < 4000000,
		 "wait: %d after %llu us", err, (unsigned long long)(now_us() - t0));
	pthread_join(th, NULL);
	LT_CHECK(t, tp_cq_poll(b.rcq, 1, &wc) == 1 && wc.wr_id == 2, "the second completion");
out:
	duo_close(t, &a, &b);
}

/* A CQ of 4 entries gets 8 completions: -EOVERFLOW and the QP in ERR. */
static void test_cq_overflow(struct lt *t)
{
	struct cfg ca = cfg_default(), cb = cfg_default();
	struct end a, b;
	struct tp_wc wc[8];
	int n = 0;
	uint64_t end;

	ca.cqe = 4;
	if (!duo_open(t, &a, &b, &ca, &cb, false))
		goto out;
	for (int i = 0; i < 8; i++)
		post1(a.qp, (uint64_t)i, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0,
		      (uintptr_t)b.buf, b.mr->rkey);
	end = now_us() + 5000000;
	while (n >= 0 && now_us() < end && qp_state(a.qp) != TP_QPS_ERR)
		usleep(1000);
	n = tp_cq_poll(a.scq, 8, wc);
	LT_CHECK(t, n == -EOVERFLOW, "poll: %d (%s)", n, loom_err_msg());
	LT_CHECK(t, tp_cq_wait(a.scq, 0) == -EOVERFLOW, "wait after overflow");
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "QP state %s", tp_qp_state_str(qp_state(a.qp)));
out:
	duo_close(t, &a, &b);
}

/* SQD drains (IBA 10.3.1): a 4 MiB WRITE already being streamed through a
 * 64 KiB ring finishes, a WR posted after the transition waits until the
 * QP is back in RTS. */
static void test_sqd(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_qp_attr at = { .state = TP_QPS_SQD };
	struct tp_sge big, small;
	struct tp_wc wc;
	const uint32_t len = 4u << 20;

	c.opts[0] = "ring_kib=64";
	c.opts[1] = "chunk_kib=16";
	c.buf_len = 2 * (size_t)len;
	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	pattern(a.buf, len, 11);
	memset(a.buf + len, 0xab, 256);
	big = sge_of(&a, 0, len);
	small = sge_of(&a, len, 256);
	LT_CHECK(t, post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &big, 1, (uintptr_t)b.buf,
			  b.mr->rkey) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_qp_modify(a.qp, &at, TP_QP_STATE) == 0, "%s", loom_err_msg());
	LT_CHECK(t, post1(a.qp, 2, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &small, 1,
			  (uintptr_t)b.buf + len, b.mr->rkey) == 0, "post in SQD: %s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS);
	LT_CHECK(t, memcmp(a.buf, b.buf, len) == 0, "the drained WRITE's data");
	usleep(30000);
	LT_CHECK(t, tp_cq_poll(a.scq, 1, &wc) == 0 && b.buf[len] == 0, "SQD let a new WR through");
	at.state = TP_QPS_RTS;
	LT_CHECK(t, tp_qp_modify(a.qp, &at, TP_QP_STATE) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_SUCCESS);
	LT_CHECK(t, b.buf[len] == 0xab && b.buf[len + 255] == 0xab, "data after SQD -> RTS");
out:
	duo_close(t, &a, &b);
}

static const struct lt_case cases[] = {
	LT_CASE(test_loopback_one_device),
	LT_CASE(test_counters),
	LT_CASE(test_cq_notify_and_wait),
	LT_CASE(test_cq_overflow),
	LT_CASE(test_sqd),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_shm_errors.c - every completion status of transport.h that applies
 * to shm, provoked on purpose: remote access errors (bad rkey, an lkey used
 * as rkey, out of bounds, missing rights on the MR or the QP, an MR of
 * another PD), local protection errors, misaligned atomics, a responder
 * without READ/atomic resources, RNR retries exhausted and recovered, a
 * receive too small, a receive with a bad lkey, a PSN mismatch, a
 * responder in ERR, a destroyed peer QP, a killed and a stopped peer
 * process; and what follows each error (QP states, flushed WRs).
 *
 * Each expected status comes from IBA's rules as transport.h states them,
 * not from the provider's code.  Timing bounds are loose (seconds) where
 * the machine's load could matter, and only lower bounds are tight.
 */
#include <pthread.h>

#include "test_shm_pair.h"

#define VERR_PEER_GONE 0x100 /* shm's vendor_err for "peer process or QP gone" */

/* ---- one faulty WR on a fresh connection ------------------------------------ */

enum lkey_kind { LK_OK, LK_BAD, LK_OTHER_PD, LK_NO_LOCAL_WRITE, LK_BEYOND };
enum rkey_kind { RK_OK, RK_BAD, RK_LKEY, RK_READ_ONLY, RK_WRITE_ONLY, RK_OTHER_PD };

struct err_case {
	const char *what;
	enum tp_wr_opcode op;
	enum lkey_kind lkey;
	enum rkey_kind rkey;
	uint64_t roff;	     /* remote offset */
	uint32_t len;	     /* bytes (8 for atomics) */
	unsigned b_access;   /* responder QP access; 0 = all */
	enum tp_wc_status want;
	uint32_t verr;	     /* expected vendor_err (the AETH syndrome); ~0 = any */
	bool b_err;	     /* the responder QP ends in ERR */
};

static const struct err_case err_cases[] = {
	{ "WRITE, bad rkey", TP_WR_RDMA_WRITE, LK_OK, RK_BAD, 0, 64, 0, TP_WC_REM_ACCESS_ERR, 0x62,
	  true },
	{ "WRITE, lkey as rkey", TP_WR_RDMA_WRITE, LK_OK, RK_LKEY, 0, 64, 0, TP_WC_REM_ACCESS_ERR,
	  0x62, true },
	{ "WRITE out of bounds", TP_WR_RDMA_WRITE, LK_OK, RK_OK, 65536 - 4, 8, 0,
	  TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "READ out of bounds", TP_WR_RDMA_READ, LK_OK, RK_OK, 65536 - 100, 101, 0,
	  TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "WRITE to an MR without REMOTE_WRITE", TP_WR_RDMA_WRITE, LK_OK, RK_READ_ONLY, 0, 64, 0,
	  TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "READ of an MR without REMOTE_READ", TP_WR_RDMA_READ, LK_OK, RK_WRITE_ONLY, 0, 64, 0,
	  TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "atomic, QP without REMOTE_ATOMIC", TP_WR_ATOMIC_FETCH_ADD, LK_OK, RK_OK, 0, 8,
	  TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ, TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "WRITE, QP without REMOTE_WRITE", TP_WR_RDMA_WRITE, LK_OK, RK_OK, 0, 8,
	  TP_ACCESS_REMOTE_READ, TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "WRITE to an MR of another PD", TP_WR_RDMA_WRITE, LK_OK, RK_OTHER_PD, 0, 64, 0,
	  TP_WC_REM_ACCESS_ERR, 0x62, true },
	{ "misaligned atomic", TP_WR_ATOMIC_CMP_SWP, LK_OK, RK_OK, 4, 8, 0, TP_WC_REM_INV_REQ_ERR,
	  0x61, true },
	{ "SEND, bad lkey", TP_WR_SEND, LK_BAD, RK_OK, 0, 64, 0, TP_WC_LOC_PROT_ERR, ~0u, false },
	{ "SEND, lkey of another PD", TP_WR_SEND, LK_OTHER_PD, RK_OK, 0, 64, 0, TP_WC_LOC_PROT_ERR,
	  ~0u, false },
	{ "SEND beyond the local MR", TP_WR_SEND, LK_BEYOND, RK_OK, 0, 64, 0, TP_WC_LOC_PROT_ERR,
	  ~0u, false },
	{ "READ into an MR without LOCAL_WRITE", TP_WR_RDMA_READ, LK_NO_LOCAL_WRITE, RK_OK, 0, 64,
	  0, TP_WC_LOC_PROT_ERR, ~0u, false },
	{ "atomic into an MR without LOCAL_WRITE", TP_WR_ATOMIC_FETCH_ADD, LK_NO_LOCAL_WRITE, RK_OK,
	  0, 8, 0, TP_WC_LOC_PROT_ERR, ~0u, false },
};

/* Extra registrations over the same buffers, for the key kinds above. */
struct extra_mrs {
	struct tp_pd *a_pdx, *b_pdx;
	struct tp_mr *a_ro, *a_pd2, *b_ro, *b_wo, *b_pd2;
};

static void extras_reg(struct end *a, struct end *b, struct extra_mrs *x)
{
	x->a_pdx = tp_pd_alloc(a->dev);
	x->b_pdx = tp_pd_alloc(b->dev);
	x->a_ro = tp_mr_reg(a->pd, a->buf, a->len, 0);
	x->a_pd2 = tp_mr_reg(x->a_pdx, a->buf, a->len, ACCESS_ALL);
	x->b_ro = tp_mr_reg(b->pd, b->buf, b->len, TP_ACCESS_REMOTE_READ);
	x->b_wo = tp_mr_reg(b->pd, b->buf, b->len, TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE);
	x->b_pd2 = tp_mr_reg(x->b_pdx, b->buf, b->len, ACCESS_ALL);
}

static void extras_free(struct lt *t, struct extra_mrs *x)
{
	struct tp_mr *m[5] = { x->a_ro, x->a_pd2, x->b_ro, x->b_wo, x->b_pd2 };

	for (int i = 0; i < 5; i++)
		LT_CHECK(t, m[i] && tp_mr_dereg(m[i]) == 0, "extra MR %d", i);
	LT_CHECK(t, tp_pd_free(x->a_pdx) == 0 && tp_pd_free(x->b_pdx) == 0, "%s", loom_err_msg());
}

static struct tp_sge local_sge(const struct err_case *k, struct end *a, struct extra_mrs *x)
{
	struct tp_sge s = sge_of(a, 0, k->len);

	switch (k->lkey) {
	case LK_OK: break;
	case LK_BAD: s.lkey ^= 0x100; break;
	case LK_OTHER_PD: s.lkey = x->a_pd2->lkey; break;
	case LK_NO_LOCAL_WRITE: s.lkey = x->a_ro->lkey; break;
	case LK_BEYOND: s.addr = (uintptr_t)a->buf + a->len - k->len / 2; break;
	}
	return s;
}

static uint32_t remote_key(const struct err_case *k, struct end *b, struct extra_mrs *x)
{
	switch (k->rkey) {
	case RK_OK: return b->mr->rkey;
	case RK_BAD: return b->mr->rkey ^ 0x100;
	case RK_LKEY: return b->mr->lkey;
	case RK_READ_ONLY: return x->b_ro->rkey;
	case RK_WRITE_ONLY: return x->b_wo->rkey;
	case RK_OTHER_PD: return x->b_pd2->rkey;
	}
	return 0;
}

static void run_err_case(struct lt *t, const struct err_case *k, bool ref)
{
	struct cfg ca = ref ? cfg_ref() : cfg_default(), cb = ref ? cfg_ref() : cfg_default();
	struct end a, b;
	struct extra_mrs x;
	struct tp_sge s, none = { 0 };
	struct tp_send_wr wr;
	struct tp_wc wc;

	cb.qp_access = k->b_access ? k->b_access : QP_ACCESS_ALL;
	if (!duo_open(t, &a, &b, &ca, &cb, false))
		goto out;
	extras_reg(&a, &b, &x);
	s = local_sge(k, &a, &x);
	wr = (struct tp_send_wr){ .wr_id = 1, .opcode = k->op, .sg_list = &s, .num_sge = 1,
				  .remote_addr = (uintptr_t)b.buf + k->roff,
				  .rkey = remote_key(k, &b, &x), .compare_add = 1 };
	recv1(b.qp, 50, &none, 0); /* flushed if b goes to ERR */
	/* Unsignaled: an error completes anyway.  The next WR is flushed. */
	LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s: %s", k->what, loom_err_msg());
	LT_CHECK(t, post1(a.qp, 2, TP_WR_SEND, TP_SEND_SIGNALED, NULL, 0, 0, 0) == 0, "%s",
		 loom_err_msg());
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == k->want && wc.wr_id == 1 &&
				    (k->verr == ~0u || wc.vendor_err == k->verr),
			 "%s: got %s (vendor_err 0x%x), want %s", k->what,
			 tp_wc_status_str(wc.status), wc.vendor_err, tp_wc_status_str(k->want));
	expect_wc(t, a.scq, 2, TP_WC_WR_FLUSH_ERR);
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR, "%s: requester in %s", k->what,
		 tp_qp_state_str(qp_state(a.qp)));
	if (k->b_err) {
		expect_wc(t, b.rcq, 50, TP_WC_WR_FLUSH_ERR);
		LT_CHECK(t, qp_state(b.qp) == TP_QPS_ERR, "%s: responder in %s", k->what,
			 tp_qp_state_str(qp_state(b.qp)));
	} else {
		LT_CHECK(t, qp_state(b.qp) == TP_QPS_RTS, "%s: responder in %s", k->what,
			 tp_qp_state_str(qp_state(b.qp)));
	}
	/* A QP in ERR accepts WRs and flushes them at once. */
	LT_CHECK(t, post1(a.qp, 3, TP_WR_SEND, 0, NULL, 0, 0, 0) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 3, TP_WC_WR_FLUSH_ERR);
	extras_free(t, &x);
out:
	duo_close(t, &a, &b);
}

static void test_access_and_protection(struct lt *t)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
		run_err_case(t, &err_cases[i], false);
}

/* The same with both buffers from tp_mem_alloc, passed by reference: the
 * responder's checks of its own memory are the same, so are the statuses. */
static void test_access_and_protection_ref(struct lt *t)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
		run_err_case(t, &err_cases[i], true);
}

/* ---- receive side ------------------------------------------------------------ */

/* No receive posted, rnr_retry 2: three RNR NAKs (the first try and two
 * retries), then RNR_RETRY_EXC_ERR; the responder is fine (RNR is flow
 * control, not an error), and a WRITE_WITH_IMM placed nothing. */
static void test_rnr_exhausted(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_counters ca, cb;
	struct tp_sge s;
	struct tp_wc wc;

	c.rnr_retry = 2;
	c.min_rnr_timer = 1; /* 10 us */
	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	memset(a.buf, 0x5a, 64);
	s = sge_of(&a, 0, 64);
	post1(a.qp, 1, TP_WR_RDMA_WRITE_WITH_IMM, TP_SEND_SIGNALED, &s, 1, (uintptr_t)b.buf,
	      b.mr->rkey);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_RNR_RETRY_EXC_ERR && wc.vendor_err == (0x20 | 1),
			 "got %s vendor_err 0x%x", tp_wc_status_str(wc.status), wc.vendor_err);
	tp_device_counters(a.dev, &ca);
	tp_device_counters(b.dev, &cb);
	LT_CHECK(t, ca.rnr_naks_received == 3 && cb.rnr_naks_sent == 3, "RNR NAKs %llu / %llu",
		 (unsigned long long)ca.rnr_naks_received, (unsigned long long)cb.rnr_naks_sent);
	LT_CHECK(t, b.buf[0] == 0, "an RNR-NAKed WRITE_WITH_IMM placed data");
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR && qp_state(b.qp) == TP_QPS_RTS,
		 "states %s / %s", tp_qp_state_str(qp_state(a.qp)),
		 tp_qp_state_str(qp_state(b.qp)));
out:
	duo_close(t, &a, &b);
}

struct later_recv {
	struct end *e;
	int delay_ms;
};

static void *post_recv_later(void *arg)
{
	struct later_recv *l = arg;
	struct tp_sge r = sge_of(l->e, 0, 64);

	usleep((useconds_t)l->delay_ms * 1000);
	recv1(l->e->qp, 7, &r, 1);
	return NULL;
}

/* rnr_retry 7 retries forever: a receive posted 30 ms late is used. */
static void test_rnr_recovers(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct later_recv l;
	struct tp_counters ca;
	struct tp_sge s;
	pthread_t th;

	c.rnr_retry = 7;
	c.min_rnr_timer = 14; /* 1.28 ms */
	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	memset(a.buf, 0x77, 64);
	s = sge_of(&a, 0, 64);
	l = (struct later_recv){ .e = &b, .delay_ms = 30 };
	pthread_create(&th, NULL, post_recv_later, &l);
	post1(a.qp, 1, TP_WR_SEND, TP_SEND_SIGNALED, &s, 1, 0, 0);
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS);
	expect_wc(t, b.rcq, 7, TP_WC_SUCCESS);
	pthread_join(th, NULL);
	tp_device_counters(a.dev, &ca);
	LT_CHECK(t, ca.rnr_naks_received >= 1 && b.buf[0] == 0x77 && b.buf[63] == 0x77,
		 "RNR NAKs %llu, data %x", (unsigned long long)ca.rnr_naks_received, b.buf[0]);
out:
	duo_close(t, &a, &b);
}

/* A 100-byte SEND into a 16-byte receive: LOC_LEN_ERR on the receive,
 * REM_INV_REQ_ERR on the send, both QPs in ERR. */
static void test_recv_too_small(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_sge s, r;
	struct tp_wc wc;

	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	s = sge_of(&a, 0, 100);
	r = sge_of(&b, 0, 16);
	recv1(b.qp, 1, &r, 1);
	recv1(b.qp, 2, &r, 1);
	post1(a.qp, 3, TP_WR_SEND, TP_SEND_SIGNALED, &s, 1, 0, 0);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_REM_INV_REQ_ERR && wc.vendor_err == 0x61,
			 "sender got %s 0x%x", tp_wc_status_str(wc.status), wc.vendor_err);
	expect_wc(t, b.rcq, 1, TP_WC_LOC_LEN_ERR);
	expect_wc(t, b.rcq, 2, TP_WC_WR_FLUSH_ERR);
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR && qp_state(b.qp) == TP_QPS_ERR,
		 "states %s / %s", tp_qp_state_str(qp_state(a.qp)),
		 tp_qp_state_str(qp_state(b.qp)));
out:
	duo_close(t, &a, &b);
}

/* A receive whose lkey is bad: LOC_PROT_ERR there, REM_OP_ERR on the send. */
static void test_recv_bad_lkey(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_sge s, r;
	struct tp_wc wc;

	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	s = sge_of(&a, 0, 100);
	r = sge_of(&b, 0, 128);
	r.lkey ^= 0x100;
	recv1(b.qp, 1, &r, 1);
	post1(a.qp, 3, TP_WR_SEND, TP_SEND_SIGNALED, &s, 1, 0, 0);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_REM_OP_ERR && wc.vendor_err == 0x63,
			 "sender got %s 0x%x", tp_wc_status_str(wc.status), wc.vendor_err);
	expect_wc(t, b.rcq, 1, TP_WC_LOC_PROT_ERR);
out:
	duo_close(t, &a, &b);
}

/* max_dest_rd_atomic 0: the responder has no READ resources -> invalid
 * request (IBA 9.7.5.2.2). */
static void test_no_read_resources(struct lt *t)
{
	struct cfg ca = cfg_default(), cb = cfg_default();
	struct end a, b;
	struct tp_sge s;
	struct tp_wc wc;

	cb.no_dest_rd_atomic = true;
	if (!duo_open(t, &a, &b, &ca, &cb, false))
		goto out;
	s = sge_of(&a, 0, 64);
	post1(a.qp, 1, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &s, 1, (uintptr_t)b.buf, b.mr->rkey);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_REM_INV_REQ_ERR, "got %s",
			 tp_wc_status_str(wc.status));
out:
	duo_close(t, &a, &b);
}

/* ---- transport failures ---------------------------------------------------------- */

/* The requester's sq_psn is not the responder's rq_psn (behind it, then
 * ahead of it): one PSN sequence NAK per try, retry_cnt 2 -> 3 NAKs,
 * RETRY_EXC_ERR, and nothing written. */
static void psn_mismatch(struct lt *t, uint32_t sq_psn, uint32_t rq_psn)
{
	struct cfg ca = cfg_default(), cb = cfg_default();
	struct end a, b;
	struct tp_counters c1, c2;
	struct tp_sge s;
	struct tp_wc wc;

	ca.retry_cnt = 2;
	ca.sq_psn = sq_psn;
	cb.rq_psn = rq_psn;
	if (!duo_open(t, &a, &b, &ca, &cb, false))
		goto out;
	memset(a.buf, 1, 64);
	s = sge_of(&a, 0, 64);
	post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &s, 1, (uintptr_t)b.buf, b.mr->rkey);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == 0x60,
			 "psn %u vs %u: got %s 0x%x", sq_psn, rq_psn, tp_wc_status_str(wc.status),
			 wc.vendor_err);
	tp_device_counters(a.dev, &c1);
	tp_device_counters(b.dev, &c2);
	LT_CHECK(t, c1.naks_received == 3 && c2.naks_sent == 3 && b.buf[0] == 0,
		 "NAKs %llu / %llu, data %u", (unsigned long long)c1.naks_received,
		 (unsigned long long)c2.naks_sent, b.buf[0]);
out:
	duo_close(t, &a, &b);
}

static void test_psn_mismatch(struct lt *t)
{
	psn_mismatch(t, 100, 5000);
	psn_mismatch(t, 5000, 100);
	psn_mismatch(t, 0xfffff0, 0x10); /* across the 24-bit wrap */
}

/* The responder QP is in ERR (its process alive): no answer ever, so the
 * ACK timer runs out: timeout 10 (4.19 ms) x (retry_cnt 3 + 1). */
static void test_responder_in_err(struct lt *t)
{
	struct cfg ca = cfg_default(), cb = cfg_default();
	struct end a, b;
	struct tp_qp_attr at = { .state = TP_QPS_ERR };
	struct tp_counters c1;
	struct tp_wc wc;
	uint64_t t0, dt;

	ca.timeout = 10;
	ca.retry_cnt = 3;
	if (!duo_open(t, &a, &b, &ca, &cb, false))
		goto out;
	tp_qp_modify(b.qp, &at, TP_QP_STATE);
	t0 = now_us();
	post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0, (uintptr_t)b.buf, b.mr->rkey);
	if (wait_wc(t, a.scq, &wc, 10000)) {
		dt = now_us() - t0;
		LT_CHECK(t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == 0, "got %s 0x%x",
			 tp_wc_status_str(wc.status), wc.vendor_err);
		/* 4 x 4194 us; the upper bound only catches a hang. */
		LT_CHECK(t, dt >= 4 * 4194 && dt < 5000000, "after %llu us",
			 (unsigned long long)dt);
	}
	tp_device_counters(a.dev, &c1);
	LT_CHECK(t, c1.timeouts == 4, "timeouts %llu", (unsigned long long)c1.timeouts);
out:
	duo_close(t, &a, &b);
}

/* The peer QP is destroyed: the link is gone for sure, so the WR fails at
 * once even with timeout 0 (infinite). */
static void test_peer_qp_destroyed(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_wc wc;

	c.timeout = 0;
	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	LT_CHECK(t, tp_qp_destroy(b.qp) == 0, "%s", loom_err_msg());
	b.qp = NULL;
	post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0, (uintptr_t)b.buf, b.mr->rkey);
	if (wait_wc(t, a.scq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == VERR_PEER_GONE,
			 "got %s 0x%x", tp_wc_status_str(wc.status), wc.vendor_err);
out:
	duo_close(t, &a, &b);
}

/* Posting in a state that does not take WRs is refused at post time. */
static void test_post_wrong_state(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a;
	struct tp_qp_attr at = { .state = TP_QPS_RESET };
	int bad = -1;
	struct tp_send_wr wr = { .wr_id = 1, .opcode = TP_WR_SEND };
	struct tp_recv_wr rw = { .wr_id = 2 };

	if (!end_open(t, &a, &c))
		goto out;
	LT_CHECK(t, tp_post_send(a.qp, &wr, 1, &bad) == -EINVAL && bad == 0,
		 "post_send in INIT: bad %d", bad);
	LT_CHECK(t, strstr(loom_err_msg(), "INIT") != NULL, "message: %s", loom_err_msg());
	tp_qp_modify(a.qp, &at, TP_QP_STATE);
	LT_CHECK(t, tp_post_recv(a.qp, &rw, 1, &bad) == -EINVAL, "post_recv in RESET");
out:
	end_close(t, &a);
}

/* ---- the peer process ------------------------------------------------------------- */

static void idle_child(struct pair *p)
{
	pair_sync(p); /* connected; the parent now kills or stops us */
	for (;;)
		pause();
}

/* Killed peer, timeout 0 (infinite): the robust life lock reports the death
 * within milliseconds; RETRY_EXC_ERR with vendor_err PEER_GONE, no hang. */
static void killed_parent(struct pair *p)
{
	struct tp_wc wc;
	uint64_t t0;

	pair_sync(p);
	kill(p->pid, SIGKILL);
	p->killed = true;
	usleep(20000); /* the child is dead (a zombie: nobody reaped it yet) */
	t0 = now_us();
	post1(p->e.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0, p->peer.buf, p->peer.rkey);
	if (wait_wc(p->t, p->e.scq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == VERR_PEER_GONE &&
				       now_us() - t0 < 2000000,
			 "got %s 0x%x after %llu us", tp_wc_status_str(wc.status), wc.vendor_err,
			 (unsigned long long)(now_us() - t0));
}

static void test_peer_killed(struct lt *t)
{
	struct cfg c = cfg_default();

	c.timeout = 0;
	run_pair(t, &c, killed_parent, idle_child);
}

/* Stopped peer (alive, holding its lock, answering nothing): the ACK timer
 * decides, timeout 12 (16.8 ms) x (retry_cnt 2 + 1). */
static void stopped_parent(struct pair *p)
{
	struct tp_wc wc;
	uint64_t t0;

	pair_sync(p);
	kill(p->pid, SIGSTOP);
	usleep(20000);
	t0 = now_us();
	post1(p->e.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0, p->peer.buf, p->peer.rkey);
	if (wait_wc(p->t, p->e.scq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == 0 &&
				       now_us() - t0 >= 3 * 16777,
			 "got %s 0x%x after %llu us", tp_wc_status_str(wc.status), wc.vendor_err,
			 (unsigned long long)(now_us() - t0));
	kill(p->pid, SIGKILL);
	p->killed = true;
}

static void test_peer_stopped(struct lt *t)
{
	struct cfg c = cfg_default();

	c.timeout = 12;
	c.retry_cnt = 2;
	run_pair(t, &c, stopped_parent, idle_child);
}

static const struct lt_case cases[] = {
	LT_CASE(test_access_and_protection),
	LT_CASE(test_access_and_protection_ref),
	LT_CASE(test_rnr_exhausted),
	LT_CASE(test_rnr_recovers),
	LT_CASE(test_recv_too_small),
	LT_CASE(test_recv_bad_lkey),
	LT_CASE(test_no_read_resources),
	LT_CASE(test_psn_mismatch),
	LT_CASE(test_responder_in_err),
	LT_CASE(test_peer_qp_destroyed),
	LT_CASE(test_post_wrong_state),
	LT_CASE(test_peer_killed),
	LT_CASE(test_peer_stopped),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

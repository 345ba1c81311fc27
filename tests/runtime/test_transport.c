/*
 * test_transport.c - the transport core (runtime/transport/), independent
 * of how a provider moves bytes: the provider table, options, name tables,
 * IBA timer encodings, the QP state machine against a transition table
 * written out here from ibv_modify_qp(3), attribute checks, MR
 * registration rules and the key check (bounds, rights, PD isolation), the
 * generic CQ, object lifetimes, checks at post time and flushing.
 *
 * The shm provider serves as the device (the only one built); nothing here
 * moves data between QPs.  White-box parts call the core's internal
 * helpers through runtime/transport/provider.h.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../runtime/transport/provider.h"
#include "loom/err.h"
#include "loom/transport.h"
#include "lt.h"

static bool msg_has(const char *s)
{
	return strstr(loom_err_msg(), s) != NULL;
}

/* ---- providers, options, names, encodings ---------------------------------- */

/* Every known provider either lists its devices or says it is not built
 * (never pretends); unknown names are refused. */
static void test_provider_table(struct lt *t)
{
	static const char *const known[] = { "udp", "shm", "ibverbs" };
	struct tp_device_info info[8];
	int n, total = 0;

	for (size_t i = 0; i < 3; i++) {
		n = tp_get_devices(known[i], info, 8);
		LT_CHECK(t, n >= 0 || (n == -ENODEV && msg_has("not built")), "%s: %d %s",
			 known[i], n, loom_err_msg());
		if (n == -ENODEV)
			LT_CHECK(t, !tp_device_open(known[i], NULL, NULL) && msg_has("not built"),
				 "open %s", known[i]);
		total += n > 0 ? n : 0;
	}
	LT_CHECK(t, tp_get_devices("nope", info, 4) == -EINVAL && msg_has("unknown provider"),
		 "%s", loom_err_msg());
	n = tp_get_devices("shm", info, 4);
	LT_CHECK(t, n == 1 && strcmp(info[0].name, "shm0") == 0 &&
			    strcmp(info[0].provider, "shm") == 0, "shm: %d", n);
	LT_CHECK(t, tp_get_devices(NULL, info, 8) == total, "all providers");
	LT_CHECK(t, tp_get_devices(NULL, NULL, 0) == total, "count only");
	LT_CHECK(t, tp_get_devices("shm", NULL, 4) == -EINVAL, "NULL list with max 4");
	LT_CHECK(t, !tp_device_open("shm", "shm1", NULL) && msg_has("shm1"), "open shm1: %s",
		 loom_err_msg());
	LT_CHECK(t, !tp_device_open(NULL, NULL, NULL), "NULL provider");
}

static void test_options(struct lt *t)
{
	const char *bad[][2] = {
		{ "bogus=1", "unknown option" },     { "max_qp", "not key=value" },
		{ "max_qp=0", "[1, 256]" },	     { "max_qp=abc", "integer" },
		{ "max_qp=-3", "integer" },	     { "ring_kib=100", "power of two" },
		{ "chunk_kib=1025", "ring_kib/4" },    { "poll_progress=maybe", "0/1" },
		{ "shm:bogus=2", "unknown option" },
	};
	struct tp_opts o;
	struct tp_device *d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *opts[] = { bad[i][0], NULL };

		d = tp_device_open("shm", NULL, opts);
		LT_CHECK(t, !d && msg_has(bad[i][1]), "'%s': %s", bad[i][0], loom_err_msg());
		if (d)
			tp_device_close(d);
	}
	/* Another provider's scoped key is skipped; the later value wins. */
	LT_CHECK(t, tp_opts_parse(&shm_provider_ops,
				  (const char *const[]){ "udp:fault.drop=0.5", "max_qp=4",
							 "shm:max_qp=9", NULL },
				  " spin_us=7 ,max_qp=3", &o) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_opts_u64(&o, "max_qp", 0) == 3 && tp_opts_u64(&o, "spin_us", 0) == 7 &&
			    tp_opts_u64(&o, "ring_kib", 99) == 99,
		 "parsed max_qp %llu spin_us %llu", (unsigned long long)tp_opts_u64(&o, "max_qp", 0),
		 (unsigned long long)tp_opts_u64(&o, "spin_us", 0));
	/* LOOM_TP_OPTS applies to every open. */
	setenv("LOOM_TP_OPTS", "bogus=1", 1);
	d = tp_device_open("shm", NULL, NULL);
	LT_CHECK(t, !d && msg_has("LOOM_TP_OPTS"), "env: %s", loom_err_msg());
	setenv("LOOM_TP_OPTS", "udp:port=5000,shm:max_qp=2", 1);
	d = tp_device_open("shm", NULL, NULL);
	unsetenv("LOOM_TP_OPTS");
	LT_CHECK(t, d, "env with scoped keys: %s", loom_err_msg());
	if (d) {
		struct tp_pd *pd = tp_pd_alloc(d);
		struct tp_cq *cq = tp_cq_create(d, 4);
		struct tp_qp_init_attr in = { .send_cq = cq, .recv_cq = cq, .max_send_wr = 1 };
		struct tp_qp *q[3];

		for (int i = 0; i < 3; i++)
			q[i] = tp_qp_create(pd, &in);
		LT_CHECK(t, q[0] && q[1] && !q[2] && msg_has("max_qp"),
			 "max_qp=2 from the environment: %s", loom_err_msg());
		for (int i = 0; i < 2; i++)
			tp_qp_destroy(q[i]);
		tp_cq_destroy(cq);
		tp_pd_free(pd);
		tp_device_close(d);
	}
}

static void test_name_tables(struct lt *t)
{
	LT_CHECK(t, strcmp(tp_wc_status_str(TP_WC_REM_ACCESS_ERR), "REM_ACCESS_ERR") == 0 &&
			    strcmp(tp_wc_status_str(TP_WC_RNR_RETRY_EXC_ERR), "RNR_RETRY_EXC_ERR") == 0 &&
			    strcmp(tp_wc_status_str(TP_WC_GENERAL_ERR), "GENERAL_ERR") == 0,
		 "status names");
	LT_CHECK(t, strcmp(tp_wc_status_str((enum tp_wc_status)99), "UNKNOWN_STATUS") == 0, "99");
	LT_CHECK(t, strcmp(tp_wc_opcode_str(TP_WC_RECV_RDMA_WITH_IMM), "RECV_RDMA_WITH_IMM") == 0 &&
			    strcmp(tp_wc_opcode_str((enum tp_wc_opcode)-1), "UNKNOWN_OPCODE") == 0,
		 "opcode names");
	LT_CHECK(t, strcmp(tp_qp_state_str(TP_QPS_SQD), "SQD") == 0 &&
			    strcmp(tp_qp_state_str((enum tp_qp_state)6), "UNKNOWN_STATE") == 0,
		 "state names");
}

static void test_iba_encodings(struct lt *t)
{
	/* 4.096 us * 2^t, truncated to us: t=1 -> 8, t=14 -> 67108, t=31 ->
	 * 8796093022 (hand-computed). */
	LT_CHECK(t, tp_ack_timeout_us(0) == 0 && tp_ack_timeout_us(1) == 8 &&
			    tp_ack_timeout_us(14) == 67108 && tp_ack_timeout_us(31) == 8796093022ull,
		 "ack timeout %llu", (unsigned long long)tp_ack_timeout_us(14));
	/* IBA table 45: 0 -> 655.36 ms, 1 -> 0.01 ms, 14 -> 1.28 ms, 31 -> 491.52 ms. */
	LT_CHECK(t, tp_rnr_timer_us(0) == 655360 && tp_rnr_timer_us(1) == 10 &&
			    tp_rnr_timer_us(14) == 1280 && tp_rnr_timer_us(31) == 491520,
		 "rnr timer");
	LT_CHECK(t, tp_psn_cmp(5, 3) > 0 && tp_psn_cmp(3, 5) < 0 && tp_psn_cmp(7, 7) == 0 &&
			    tp_psn_cmp(0, 0xffffff) > 0 && tp_psn_cmp(0xfffffe, 1) < 0,
		 "24-bit PSN order across the wrap");
}

/* ---- a device to test on ---------------------------------------------------------- */

struct rig {
	struct tp_device *dev;
	struct tp_pd *pd;
	struct tp_cq *cq;
	struct tp_qp *qp, *peer;
	struct tp_addr addr;
};

static struct tp_qp *rig_qp(struct rig *r, int wr)
{
	struct tp_qp_init_attr in = { .send_cq = r->cq, .recv_cq = r->cq, .max_send_wr = wr,
				      .max_recv_wr = wr, .max_send_sge = 2, .max_recv_sge = 2,
				      .max_inline_data = 32 };

	return tp_qp_create(r->pd, &in);
}

static bool rig_open(struct lt *t, struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->dev = tp_device_open("shm", NULL, NULL);
	r->pd = r->dev ? tp_pd_alloc(r->dev) : NULL;
	r->cq = r->dev ? tp_cq_create(r->dev, 64) : NULL;
	r->qp = r->pd && r->cq ? rig_qp(r, 4) : NULL;
	r->peer = r->qp ? rig_qp(r, 4) : NULL;
	LT_CHECK(t, r->peer, "rig: %s", loom_err_msg());
	if (r->dev)
		tp_device_addr(r->dev, &r->addr);
	return r->peer != NULL;
}

static void rig_close(struct lt *t, struct rig *r)
{
	if (r->qp)
		LT_CHECK(t, tp_qp_destroy(r->qp) == 0, "%s", loom_err_msg());
	if (r->peer)
		LT_CHECK(t, tp_qp_destroy(r->peer) == 0, "%s", loom_err_msg());
	if (r->cq)
		LT_CHECK(t, tp_cq_destroy(r->cq) == 0, "%s", loom_err_msg());
	if (r->pd)
		LT_CHECK(t, tp_pd_free(r->pd) == 0, "%s", loom_err_msg());
	if (r->dev)
		LT_CHECK(t, tp_device_close(r->dev) == 0, "%s", loom_err_msg());
}

/* Full attributes; a transition takes the bits its mask names. */
static struct tp_qp_attr full_attr(const struct rig *r, enum tp_qp_state s)
{
	return (struct tp_qp_attr){ .state = s, .access = TP_ACCESS_REMOTE_WRITE,
				    .path_mtu = 1024, .dest = r->addr,
				    .dest_qp_num = tp_qp_num(r->peer), .rq_psn = 1, .sq_psn = 2,
				    /* timeout 0: a send that never goes out never times out */
				    .timeout = 0, .retry_cnt = 7, .rnr_retry = 7,
				    .min_rnr_timer = 12, .max_rd_atomic = 4,
				    .max_dest_rd_atomic = 4 };
}

/* ---- the state machine ------------------------------------------------------------ */

#define ST_N 6
#define REQ_RTR (TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN | TP_QP_MAX_DEST_RD_ATOMIC | \
		 TP_QP_MIN_RNR_TIMER)
#define REQ_RTS (TP_QP_SQ_PSN | TP_QP_TIMEOUT | TP_QP_RETRY_CNT | TP_QP_RNR_RETRY | \
		 TP_QP_MAX_QP_RD_ATOMIC)

/* ibv_modify_qp(3), RC, written out independently of qp_state.c:
 * legal[cur][next] and the attributes required on the way. */
static const bool legal[ST_N][ST_N] = {
	/*            RESET  INIT   RTR    RTS    SQD    ERR */
	/* RESET */ { true,  true,  false, false, false, true },
	/* INIT  */ { true,  true,  true,  false, false, true },
	/* RTR   */ { true,  false, false, true,  false, true },
	/* RTS   */ { true,  false, false, true,  true,  true },
	/* SQD   */ { true,  false, false, true,  true,  true },
	/* ERR   */ { true,  false, false, false, false, true },
};

static unsigned required(int cur, int next)
{
	if (cur == TP_QPS_RESET && next == TP_QPS_INIT)
		return TP_QP_ACCESS_FLAGS;
	if (cur == TP_QPS_INIT && next == TP_QPS_RTR)
		return REQ_RTR;
	if (cur == TP_QPS_RTR && next == TP_QPS_RTS)
		return REQ_RTS;
	return 0;
}

/* Walk a fresh QP to state s along the legal path. */
static bool drive_to(struct rig *r, struct tp_qp *qp, int s)
{
	static const int path[] = { TP_QPS_INIT, TP_QPS_RTR, TP_QPS_RTS, TP_QPS_SQD };
	int cur = TP_QPS_RESET;

	if (s == TP_QPS_ERR) {
		struct tp_qp_attr a = full_attr(r, TP_QPS_ERR);
		return tp_qp_modify(qp, &a, TP_QP_STATE) == 0;
	}
	for (size_t i = 0; i < 4 && cur != s; i++) {
		struct tp_qp_attr a = full_attr(r, path[i]);

		if (tp_qp_modify(qp, &a, TP_QP_STATE | required(cur, path[i])) != 0)
			return false;
		cur = path[i];
	}
	return cur == s;
}

static void test_state_machine_table(struct lt *t)
{
	struct rig r;

	if (!rig_open(t, &r))
		goto out;
	for (int cur = 0; cur < ST_N; cur++)
		for (int next = 0; next < ST_N; next++) {
			struct tp_qp *qp = rig_qp(&r, 4);
			struct tp_qp_attr a = full_attr(&r, (enum tp_qp_state)next), q;
			unsigned req = required(cur, next);
			int err;

			if (!qp || !drive_to(&r, qp, cur)) {
				LT_CHECK(t, false, "drive to %s: %s", tp_qp_state_str(cur),
					 loom_err_msg());
				if (qp)
					tp_qp_destroy(qp);
				continue;
			}
			/* Each required attribute missing alone is refused. */
			for (unsigned bit = 1; bit <= req; bit <<= 1)
				if (req & bit)
					LT_CHECK(t, tp_qp_modify(qp, &a, TP_QP_STATE | (req & ~bit)) ==
							    -EINVAL,
						 "%s -> %s without 0x%x accepted",
						 tp_qp_state_str(cur), tp_qp_state_str(next), bit);
			err = tp_qp_modify(qp, &a, TP_QP_STATE | req);
			LT_CHECK(t, (err == 0) == legal[cur][next], "%s -> %s: %d (%s)",
				 tp_qp_state_str(cur), tp_qp_state_str(next), err, loom_err_msg());
			tp_qp_query(qp, &q);
			LT_CHECK(t, q.state == (enum tp_qp_state)(err ? cur : next),
				 "%s -> %s: state now %s", tp_qp_state_str(cur),
				 tp_qp_state_str(next), tp_qp_state_str(q.state));
			tp_qp_destroy(qp);
		}
out:
	rig_close(t, &r);
}

/* Bad values and attribute sets are refused with a reason, and leave the
 * QP as it was. */
static void expect_modify_fail(struct lt *t, struct tp_qp *qp, struct tp_qp_attr a, unsigned mask,
			       const char *why)
{
	struct tp_qp_attr before, after;

	tp_qp_query(qp, &before);
	LT_CHECK(t, tp_qp_modify(qp, &a, mask) < 0 && msg_has(why), "want '%s', got '%s'", why,
		 loom_err_msg());
	tp_qp_query(qp, &after);
	LT_CHECK(t, memcmp(&before, &after, sizeof(before)) == 0, "'%s' changed the QP", why);
}

static void test_modify_checks(struct lt *t)
{
	struct rig r;
	struct tp_qp_attr a, q;
	const unsigned rtr = TP_QP_STATE | REQ_RTR, rts = TP_QP_STATE | REQ_RTS;

	if (!rig_open(t, &r))
		goto out;
	a = full_attr(&r, TP_QPS_INIT);
	expect_modify_fail(t, r.qp, a, TP_QP_STATE | TP_QP_ACCESS_FLAGS | TP_QP_SQ_PSN,
			   "does not take SQ_PSN");
	expect_modify_fail(t, r.qp, a, TP_QP_STATE, "needs ACCESS_FLAGS");
	expect_modify_fail(t, r.qp, a, TP_QP_STATE | TP_QP_ACCESS_FLAGS | (1u << 20),
			   "unknown attribute mask");
	a.access = 0x100;
	expect_modify_fail(t, r.qp, a, TP_QP_STATE | TP_QP_ACCESS_FLAGS, "unknown bits");
	a = full_attr(&r, TP_QPS_RTR);
	expect_modify_fail(t, r.qp, a, rtr, "illegal transition RESET -> RTR");
	a.state = (enum tp_qp_state)9;
	expect_modify_fail(t, r.qp, a, TP_QP_STATE, "unknown target state");
	a = full_attr(&r, TP_QPS_INIT);
	LT_CHECK(t, tp_qp_modify(r.qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS) == 0, "INIT");
	a = full_attr(&r, TP_QPS_RTR);
	expect_modify_fail(t, r.qp, a, rtr & ~(TP_QP_PATH_MTU | TP_QP_DEST), "needs PATH_MTU|DEST");
	a.path_mtu = 300;
	expect_modify_fail(t, r.qp, a, rtr, "path_mtu 300");
	a = full_attr(&r, TP_QPS_RTR);
	a.rq_psn = 1u << 24;
	expect_modify_fail(t, r.qp, a, rtr, "24 bits");
	a = full_attr(&r, TP_QPS_RTR);
	a.min_rnr_timer = 32;
	expect_modify_fail(t, r.qp, a, rtr, "exceed 31");
	a = full_attr(&r, TP_QPS_RTR);
	a.max_dest_rd_atomic = 17;
	expect_modify_fail(t, r.qp, a, rtr, "exceed 16");
	a = full_attr(&r, TP_QPS_RTR);
	a.dest_qp_num ^= 0x100; /* another generation of the slot: no such QP */
	expect_modify_fail(t, r.qp, a, rtr, "does not exist");
	a = full_attr(&r, TP_QPS_RTR);
	a.dest.len = (uint16_t)snprintf((char *)a.dest.bytes, TP_ADDR_MAX, "/loom-shm.1.2.3");
	expect_modify_fail(t, r.qp, a, rtr, "peer segment");
	a.dest.len = (uint16_t)snprintf((char *)a.dest.bytes, TP_ADDR_MAX, "hello");
	expect_modify_fail(t, r.qp, a, rtr, "not a shm segment");
	a = full_attr(&r, TP_QPS_RTR);
	LT_CHECK(t, tp_qp_modify(r.qp, &a, rtr) == 0, "RTR: %s", loom_err_msg());
	a = full_attr(&r, TP_QPS_RTS);
	a.retry_cnt = 8;
	expect_modify_fail(t, r.qp, a, rts, "exceed 7");
	a = full_attr(&r, TP_QPS_RTS);
	a.timeout = 32;
	expect_modify_fail(t, r.qp, a, rts, "exceed 31");
	a = full_attr(&r, TP_QPS_RTS);
	LT_CHECK(t, tp_qp_modify(r.qp, &a, rts) == 0, "RTS: %s", loom_err_msg());
	/* Without STATE: attributes of the current state (RTS -> RTS). */
	a.min_rnr_timer = 20;
	LT_CHECK(t, tp_qp_modify(r.qp, &a, TP_QP_MIN_RNR_TIMER) == 0, "%s", loom_err_msg());
	expect_modify_fail(t, r.qp, a, TP_QP_RETRY_CNT, "RTS -> RTS does not take RETRY_CNT");
	tp_qp_query(r.qp, &q);
	LT_CHECK(t, q.state == TP_QPS_RTS && q.path_mtu == 1024 && q.rq_psn == 1 && q.sq_psn == 2 &&
			    q.retry_cnt == 7 && q.min_rnr_timer == 20 && q.max_rd_atomic == 4 &&
			    q.dest_qp_num == tp_qp_num(r.peer) && q.access == TP_ACCESS_REMOTE_WRITE,
		 "query after RTS");
	a.state = TP_QPS_RESET;
	LT_CHECK(t, tp_qp_modify(r.qp, &a, TP_QP_STATE) == 0, "RESET");
	tp_qp_query(r.qp, &q);
	LT_CHECK(t, q.state == TP_QPS_RESET && q.path_mtu == 0 && q.dest_qp_num == 0,
		 "RESET clears the attributes");
	LT_CHECK(t, tp_qp_modify(NULL, &a, 0) == -EINVAL && tp_qp_modify(r.qp, NULL, 0) == -EINVAL &&
			    tp_qp_query(r.qp, NULL) == -EINVAL,
		 "NULL arguments");
out:
	rig_close(t, &r);
}

/* ---- memory regions ------------------------------------------------------------------ */

static void test_mr_rules(struct lt *t)
{
	struct rig r;
	uint8_t *buf = aligned_alloc(4096, 65536);
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *hole = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tp_mr *m1, *m2, *m;

	if (!rig_open(t, &r))
		goto out;
	munmap(hole + pg, (size_t)pg); /* [hole, hole + 2 pg) now has a hole */
	LT_CHECK(t, !tp_mr_reg(NULL, buf, 64, 0), "NULL pd");
	LT_CHECK(t, !tp_mr_reg(r.pd, NULL, 64, 0) && !tp_mr_reg(r.pd, buf, 0, 0), "no memory");
	LT_CHECK(t, !tp_mr_reg(r.pd, buf, 64, 0x10) && msg_has("unknown access"), "bits");
	LT_CHECK(t, !tp_mr_reg(r.pd, buf, 64, TP_ACCESS_REMOTE_WRITE) && msg_has("LOCAL_WRITE"),
		 "REMOTE_WRITE alone");
	LT_CHECK(t, !tp_mr_reg(r.pd, buf, 64, TP_ACCESS_REMOTE_ATOMIC) && msg_has("LOCAL_WRITE"),
		 "REMOTE_ATOMIC alone");
	LT_CHECK(t, !tp_mr_reg(r.pd, (void *)(UINTPTR_MAX - 10), 64, 0), "wraps around");
	LT_CHECK(t, !tp_mr_reg(r.pd, hole, (size_t)pg * 2, 0) && msg_has("not mapped"),
		 "unmapped: %s", loom_err_msg());
	LT_CHECK(t, !tp_mr_reg(r.pd, ro, (size_t)pg, TP_ACCESS_LOCAL_WRITE) &&
			    msg_has("read-write"), "read-only memory with LOCAL_WRITE");
	m = tp_mr_reg(r.pd, ro, (size_t)pg, TP_ACCESS_REMOTE_READ);
	LT_CHECK(t, m && tp_mr_dereg(m) == 0, "read-only memory for REMOTE_READ: %s",
		 loom_err_msg());
	m1 = tp_mr_reg(r.pd, buf, 65536, TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE);
	m2 = tp_mr_reg(r.pd, buf + 100, 200, 0);
	LT_CHECK(t, m1 && m2, "%s", loom_err_msg());
	if (m1 && m2) {
		LT_CHECK(t, m1->lkey != m1->rkey && m1->lkey != m2->lkey && m1->rkey != m2->rkey,
			 "keys %x/%x %x/%x", m1->lkey, m1->rkey, m2->lkey, m2->rkey);
		LT_CHECK(t, m2->pd == r.pd && m2->addr == buf + 100 && m2->length == 200 &&
				    m2->access == 0, "public fields");
		LT_CHECK(t, tp_pd_free(r.pd) == -EBUSY && msg_has("MR"), "PD with MRs freed");
		tp_mr_dereg(m1);
		tp_mr_dereg(m2);
	}
	LT_CHECK(t, tp_mr_dereg(NULL) == -EINVAL, "dereg NULL");
out:
	rig_close(t, &r);
	munmap(hole, (size_t)pg);
	munmap(ro, (size_t)pg);
	free(buf);
}

/* Three registrations of one buffer: m1 (local write, remote write and
 * read) and m3 (remote read) in the rig's PD, m2 in another PD. */
struct mr_fix {
	struct rig r;
	uint8_t *buf;
	uint64_t b, len;
	struct tp_pd *pd2;
	struct tp_mr *m1, *m2, *m3;
};

static bool mr_fix_open(struct lt *t, struct mr_fix *f)
{
	memset(f, 0, sizeof(*f));
	f->len = 65536;
	f->buf = aligned_alloc(4096, f->len);
	f->b = (uintptr_t)f->buf;
	if (!rig_open(t, &f->r))
		return false;
	f->pd2 = tp_pd_alloc(f->r.dev);
	f->m1 = tp_mr_reg(f->r.pd, f->buf, f->len, TP_ACCESS_LOCAL_WRITE |
						     TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ);
	f->m2 = tp_mr_reg(f->pd2, f->buf, f->len, TP_ACCESS_LOCAL_WRITE);
	f->m3 = tp_mr_reg(f->r.pd, f->buf, f->len, TP_ACCESS_REMOTE_READ);
	LT_CHECK(t, f->m1 && f->m2 && f->m3, "%s", loom_err_msg());
	return f->m1 && f->m2 && f->m3;
}

static void mr_fix_close(struct lt *t, struct mr_fix *f)
{
	struct tp_mr *m[3] = { f->m1, f->m2, f->m3 };

	for (int i = 0; i < 3; i++)
		if (m[i])
			tp_mr_dereg(m[i]);
	if (f->pd2)
		tp_pd_free(f->pd2);
	rig_close(t, &f->r);
	free(f->buf);
}

/* tp_mr_check, the helper every provider's responder and requester use:
 * bounds, key kinds, PD isolation, rights. */
static void test_mr_check(struct lt *t)
{
	struct mr_fix f;
	struct tp_pd *pd;
	uint64_t b, L;

	if (!mr_fix_open(t, &f))
		goto out;
	pd = f.r.pd, b = f.b, L = f.len;
	tp_mr_read_lock(f.r.dev);
	LT_CHECK(t, tp_mr_check(pd, f.m1->lkey, b, L, TP_ACCESS_LOCAL_WRITE, false) == TP_WC_SUCCESS &&
			    tp_mr_check(pd, f.m1->rkey, b + L - 1, 1, TP_ACCESS_REMOTE_WRITE, true) ==
				    TP_WC_SUCCESS, "in bounds");
	LT_CHECK(t, tp_mr_check(pd, f.m1->lkey, b - 1, 1, 0, false) == TP_WC_LOC_PROT_ERR &&
			    tp_mr_check(pd, f.m1->lkey, b + L - 1, 2, 0, false) == TP_WC_LOC_PROT_ERR &&
			    tp_mr_check(pd, f.m1->lkey, b + L, 1, 0, false) == TP_WC_LOC_PROT_ERR &&
			    tp_mr_check(pd, f.m1->lkey, b + 8, UINT64_MAX - 4, 0, false) ==
				    TP_WC_LOC_PROT_ERR, "out of bounds (local)");
	LT_CHECK(t, tp_mr_check(pd, f.m1->rkey, b + L, 1, TP_ACCESS_REMOTE_READ, true) ==
			    TP_WC_REM_ACCESS_ERR, "out of bounds (remote)");
	LT_CHECK(t, tp_mr_check(pd, f.m1->lkey, b, 8, TP_ACCESS_REMOTE_READ, true) ==
			    TP_WC_REM_ACCESS_ERR &&
			    tp_mr_check(pd, f.m1->rkey, b, 8, 0, false) == TP_WC_LOC_PROT_ERR,
		 "an lkey is no rkey and back");
	LT_CHECK(t, tp_mr_check(f.pd2, f.m1->rkey, b, 8, TP_ACCESS_REMOTE_READ, true) ==
			    TP_WC_REM_ACCESS_ERR &&
			    tp_mr_check(pd, f.m2->lkey, b, 8, 0, false) == TP_WC_LOC_PROT_ERR,
		 "PD isolation");
	LT_CHECK(t, tp_mr_check(pd, f.m3->rkey, b, 8, TP_ACCESS_REMOTE_WRITE, true) ==
			    TP_WC_REM_ACCESS_ERR &&
			    tp_mr_check(pd, f.m3->rkey, b, 8, TP_ACCESS_REMOTE_READ, true) ==
				    TP_WC_SUCCESS &&
			    tp_mr_check(pd, f.m3->lkey, b, 8, TP_ACCESS_LOCAL_WRITE, false) ==
				    TP_WC_LOC_PROT_ERR, "rights");
	LT_CHECK(t, tp_mr_check(pd, 0xdead, b, 0, TP_ACCESS_REMOTE_WRITE, true) == TP_WC_SUCCESS,
		 "zero length checks no key");
	tp_mr_read_unlock(f.r.dev);
out:
	mr_fix_close(t, &f);
}

/* SGE lists are checked over the bytes touched only; a key of a
 * deregistered MR misses even when its table slot is reused. */
static void test_mr_sge_and_stale_keys(struct lt *t)
{
	struct mr_fix f;
	struct tp_sge sg[2];
	struct tp_mr *m4;
	uint32_t old_rkey;

	if (!mr_fix_open(t, &f))
		goto out;
	sg[0] = (struct tp_sge){ f.b, 100, f.m1->lkey };
	sg[1] = (struct tp_sge){ f.b + 1000, 100, f.m1->lkey ^ 0x100 };
	tp_mr_read_lock(f.r.dev);
	LT_CHECK(t, tp_sge_check_range(f.r.pd, sg, 2, 50, 50, 0) == TP_WC_SUCCESS &&
			    tp_sge_check_range(f.r.pd, sg, 2, 50, 60, 0) == TP_WC_LOC_PROT_ERR &&
			    tp_sge_check(f.r.pd, sg, 1, 0) == TP_WC_SUCCESS &&
			    tp_sge_check(f.r.pd, sg, 2, 0) == TP_WC_LOC_PROT_ERR,
		 "only the bytes touched are checked");
	sg[1].lkey = f.m1->lkey;
	LT_CHECK(t, tp_sge_check_range(f.r.pd, sg, 2, 150, 51, 0) == TP_WC_LOC_LEN_ERR,
		 "a range past the list");
	tp_mr_read_unlock(f.r.dev);
	old_rkey = f.m3->rkey;
	tp_mr_dereg(f.m3);
	f.m3 = m4 = tp_mr_reg(f.r.pd, f.buf, f.len, TP_ACCESS_REMOTE_READ);
	tp_mr_read_lock(f.r.dev);
	LT_CHECK(t, m4 && m4->rkey != old_rkey &&
			    tp_mr_check(f.r.pd, old_rkey, f.b, 8, TP_ACCESS_REMOTE_READ, true) ==
				    TP_WC_REM_ACCESS_ERR &&
			    tp_mr_check(f.r.pd, m4->rkey, f.b, 8, TP_ACCESS_REMOTE_READ, true) ==
				    TP_WC_SUCCESS, "stale key");
	tp_mr_read_unlock(f.r.dev);
out:
	mr_fix_close(t, &f);
}

/* ---- the generic CQ ------------------------------------------------------------------ */

static void test_cq_generic(struct lt *t)
{
	struct tp_device *d = tp_device_open("shm", NULL, NULL);
	struct tp_cq *cq = d ? tp_cq_create(d, 3) : NULL;
	struct tp_wc w[8];
	struct pollfd pfd;
	int n;

	LT_CHECK(t, cq, "%s", loom_err_msg());
	if (!cq)
		goto out;
	LT_CHECK(t, !tp_cq_create(d, 0) && !tp_cq_create(d, 1 << 30) && !tp_cq_create(NULL, 4),
		 "bad cqe");
	LT_CHECK(t, tp_cq_poll(cq, -1, w) == -EINVAL && tp_cq_poll(cq, 1, NULL) == -EINVAL &&
			    tp_cq_poll(NULL, 1, w) == -EINVAL && tp_cq_destroy(NULL) == -EINVAL,
		 "bad poll arguments");
	LT_CHECK(t, tp_cq_wait(cq, 0) == -ETIMEDOUT, "empty wait(0)");
	/* FIFO across the wrap of a 3-entry ring. */
	for (uint64_t i = 1; i <= 3; i++)
		LT_CHECK(t, tp_cq_push(cq, &(struct tp_wc){ .wr_id = i }) == 0, "push %llu",
			 (unsigned long long)i);
	n = tp_cq_poll(cq, 2, w);
	LT_CHECK(t, n == 2 && w[0].wr_id == 1 && w[1].wr_id == 2, "first two");
	tp_cq_push(cq, &(struct tp_wc){ .wr_id = 4 });
	tp_cq_push(cq, &(struct tp_wc){ .wr_id = 5 });
	n = tp_cq_poll(cq, 8, w);
	LT_CHECK(t, n == 3 && w[0].wr_id == 3 && w[1].wr_id == 4 && w[2].wr_id == 5,
		 "across the wrap: %d", n);
	/* Notification: only after req_notify, consumed by ack_notify. */
	pfd = (struct pollfd){ .fd = tp_cq_fd(cq), .events = POLLIN };
	tp_cq_push(cq, &(struct tp_wc){ .wr_id = 6 });
	LT_CHECK(t, poll(&pfd, 1, 0) == 0, "event without req_notify");
	tp_cq_req_notify(cq);
	tp_cq_push(cq, &(struct tp_wc){ .wr_id = 7 });
	LT_CHECK(t, poll(&pfd, 1, 0) == 1, "no event after req_notify");
	tp_cq_ack_notify(cq);
	tp_cq_push(cq, &(struct tp_wc){ .wr_id = 8 });
	LT_CHECK(t, poll(&pfd, 1, 0) == 0, "one req_notify gave two events");
	LT_CHECK(t, tp_cq_wait(cq, 0) == 0, "wait with completions ready");
	/* A fourth entry overflows: the CQ is in error from then on. */
	LT_CHECK(t, tp_cq_push(cq, &(struct tp_wc){ .wr_id = 9 }) == -EOVERFLOW, "overflow push");
	LT_CHECK(t, tp_cq_poll(cq, 8, w) == -EOVERFLOW && msg_has("overflow"), "poll: %s",
		 loom_err_msg());
	LT_CHECK(t, tp_cq_wait(cq, 1000) == -EOVERFLOW, "wait after overflow");
	LT_CHECK(t, tp_cq_push(cq, &(struct tp_wc){ .wr_id = 10 }) == -EOVERFLOW, "still in error");
out:
	if (cq)
		LT_CHECK(t, tp_cq_destroy(cq) == 0, "%s", loom_err_msg());
	if (d)
		LT_CHECK(t, tp_device_close(d) == 0, "%s", loom_err_msg());
}

/* ---- object lifetimes ------------------------------------------------------------------ */

static void test_object_lifetimes(struct lt *t)
{
	struct rig r;
	struct tp_device *d2 = NULL;
	struct tp_cq *cq2 = NULL;
	struct tp_qp_init_attr in;

	LT_CHECK(t, !tp_pd_alloc(NULL) && tp_pd_free(NULL) == -EINVAL &&
			    tp_device_close(NULL) == -EINVAL && tp_device_addr(NULL, NULL) == -EINVAL &&
			    tp_qp_destroy(NULL) == -EINVAL && tp_qp_num(NULL) == 0 &&
			    tp_device_counters(NULL, NULL) == -EINVAL,
		 "NULL arguments");
	if (!rig_open(t, &r))
		goto out;
	LT_CHECK(t, tp_device_close(r.dev) == -EBUSY && msg_has("PD"), "device with a PD closed");
	LT_CHECK(t, tp_pd_free(r.pd) == -EBUSY && msg_has("QP"), "PD with QPs freed");
	LT_CHECK(t, tp_cq_destroy(r.cq) == -EBUSY && msg_has("QP"), "CQ with QPs destroyed");
	in = (struct tp_qp_init_attr){ .send_cq = r.cq, .recv_cq = r.cq, .max_send_wr = 1 };
	LT_CHECK(t, !tp_qp_create(NULL, &in) && !tp_qp_create(r.pd, NULL), "NULL create args");
	in.max_send_wr = 20000;
	LT_CHECK(t, !tp_qp_create(r.pd, &in) && msg_has("max_send_wr"), "max_send_wr too big");
	in.max_send_wr = 1;
	in.max_send_sge = 33;
	LT_CHECK(t, !tp_qp_create(r.pd, &in), "max_send_sge too big");
	in.max_send_sge = 1;
	in.max_inline_data = -1;
	LT_CHECK(t, !tp_qp_create(r.pd, &in), "negative inline");
	in.max_inline_data = 0;
	d2 = tp_device_open("shm", NULL, NULL);
	cq2 = d2 ? tp_cq_create(d2, 4) : NULL;
	in.send_cq = cq2;
	LT_CHECK(t, cq2 && !tp_qp_create(r.pd, &in) && msg_has("device"),
		 "a CQ of another device: %s", loom_err_msg());
	{
		struct tp_addr a1, a2;
		char buf[80];

		tp_device_addr(r.dev, &a1);
		tp_device_addr(d2, &a2);
		LT_CHECK(t, a1.len > 0 && (a1.len != a2.len || memcmp(a1.bytes, a2.bytes, a1.len)),
			 "two devices, two addresses");
		LT_CHECK(t, tp_addr_format(r.dev, &a1, buf, sizeof(buf)) == 0 &&
				    strncmp(buf, "shm:/loom-shm.", 14) == 0, "format: %s", buf);
		LT_CHECK(t, tp_addr_format(r.dev, &a1, buf, 5) == -ENOSPC, "short buffer");
	}
out:
	if (cq2)
		tp_cq_destroy(cq2);
	if (d2)
		tp_device_close(d2);
	rig_close(t, &r);
}

/* ---- posting and flushing ---------------------------------------------------------------- */

static bool to_rts(struct rig *r, struct tp_qp *qp, uint8_t max_rd_atomic)
{
	static const int path[] = { TP_QPS_INIT, TP_QPS_RTR, TP_QPS_RTS };
	int cur = TP_QPS_RESET;

	for (int i = 0; i < 3; i++) {
		struct tp_qp_attr a = full_attr(r, path[i]);

		a.max_rd_atomic = max_rd_atomic;
		if (tp_qp_modify(qp, &a, TP_QP_STATE | required(cur, path[i])))
			return false;
		cur = path[i];
	}
	return true;
}

/* Checks made before a WR is queued, with *bad naming the refused WR and
 * the ones before it posted.  The peer QP stays in RESET, so nothing is
 * ever sent and the queues only fill. */
static void test_post_checks(struct lt *t)
{
	struct rig r;
	uint8_t buf[64];
	struct tp_sge s3[3] = { { (uintptr_t)buf, 8, 1 }, { (uintptr_t)buf, 8, 1 },
				{ (uintptr_t)buf, 8, 1 } };
	struct tp_sge huge[2] = { { 0x1000, 1u << 31, 1 }, { 0x1000, 1u << 31, 1 } };
	struct tp_send_wr w[3] = { { .wr_id = 1, .opcode = TP_WR_SEND, .sg_list = s3, .num_sge = 1 },
				   { .wr_id = 2, .opcode = TP_WR_SEND, .sg_list = s3, .num_sge = 3 },
				   { .wr_id = 3, .opcode = TP_WR_SEND } };
	struct tp_send_wr x;
	struct tp_qp *q0 = NULL;
	int bad = -1;

	if (!rig_open(t, &r) || !to_rts(&r, r.qp, 4))
		goto out;
	LT_CHECK(t, tp_post_send(r.qp, w, 0, &bad) == 0, "n = 0");
	LT_CHECK(t, tp_post_send(r.qp, w, -1, &bad) == -EINVAL && tp_post_send(r.qp, NULL, 1, &bad) ==
			    -EINVAL, "n < 0 / NULL");
	LT_CHECK(t, tp_post_send(r.qp, w, 3, &bad) == -EINVAL && bad == 1 && msg_has("num_sge"),
		 "bad %d: %s", bad, loom_err_msg());
#define REFUSED(what, ...)                                                               \
	do {                                                                             \
		x = (struct tp_send_wr){ .wr_id = 9, __VA_ARGS__ };                        \
		LT_CHECK(t, tp_post_send(r.qp, &x, 1, &bad) == -EINVAL && bad == 0 &&      \
				    msg_has(what), "want '%s': %s", what, loom_err_msg()); \
	} while (0)
	REFUSED("opcode", .opcode = (enum tp_wr_opcode)99);
	REFUSED("flags", .opcode = TP_WR_SEND, .flags = 1u << 7);
	REFUSED("inline 40", .opcode = TP_WR_SEND, .flags = TP_SEND_INLINE,
		.num_sge = 2, .sg_list = (struct tp_sge[]){ { (uintptr_t)buf, 32, 0 },
							    { (uintptr_t)buf, 8, 0 } });
	REFUSED("not for READ", .opcode = TP_WR_RDMA_READ, .flags = TP_SEND_INLINE,
		.sg_list = s3, .num_sge = 1);
	REFUSED("8 bytes", .opcode = TP_WR_ATOMIC_FETCH_ADD, .sg_list = s3, .num_sge = 2);
	REFUSED("8 bytes", .opcode = TP_WR_ATOMIC_CMP_SWP,
		.sg_list = (struct tp_sge[]){ { (uintptr_t)buf, 4, 1 } }, .num_sge = 1);
	REFUSED("2^31", .opcode = TP_WR_RDMA_WRITE, .sg_list = huge, .num_sge = 2);
	/* Queue full: 1 queued above + 3 = max_send_wr 4; the fifth is refused. */
	x = w[0];
	for (int i = 0; i < 3; i++)
		LT_CHECK(t, tp_post_send(r.qp, &x, 1, NULL) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_post_send(r.qp, &x, 1, &bad) == -ENOMEM && msg_has("send queue full"),
		 "%s", loom_err_msg());
	/* A QP with max_rd_atomic 0 cannot post a READ. */
	q0 = rig_qp(&r, 4);
	if (q0 && to_rts(&r, q0, 0)) {
		x = (struct tp_send_wr){ .opcode = TP_WR_RDMA_READ, .sg_list = s3, .num_sge = 1 };
		LT_CHECK(t, tp_post_send(q0, &x, 1, &bad) == -EINVAL && msg_has("max_rd_atomic"),
			 "%s", loom_err_msg());
	}
	{
		struct tp_recv_wr rw = { .wr_id = 1, .sg_list = s3, .num_sge = 3 };

		LT_CHECK(t, tp_post_recv(r.qp, &rw, 1, &bad) == -EINVAL && msg_has("max_recv_sge"),
			 "recv num_sge");
		rw.num_sge = 1;
		for (int i = 0; i < 4; i++)
			tp_post_recv(r.qp, &rw, 1, NULL);
		LT_CHECK(t, tp_post_recv(r.qp, &rw, 1, &bad) == -ENOMEM, "receive queue full");
	}
out:
	if (q0)
		tp_qp_destroy(q0);
	rig_close(t, &r);
}

/* Entering ERR flushes every outstanding WR in order; WRs posted in ERR are
 * flushed at once; RESET empties the queues without completions. */
static void test_flush(struct lt *t)
{
	struct rig r;
	struct tp_qp_attr a;
	struct tp_wc wc[16];
	struct tp_send_wr sw = { .opcode = TP_WR_RDMA_WRITE };
	struct tp_recv_wr rw = { 0 };
	int n, sends = 0, recvs = 0;

	if (!rig_open(t, &r) || !to_rts(&r, r.qp, 4))
		goto out;
	for (int i = 0; i < 3; i++) {
		sw.wr_id = 100 + (uint64_t)i; /* unsignaled: flushed all the same */
		rw.wr_id = 200 + (uint64_t)i;
		tp_post_send(r.qp, &sw, 1, NULL);
		tp_post_recv(r.qp, &rw, 1, NULL);
	}
	LT_CHECK(t, tp_cq_poll(r.cq, 16, wc) == 0, "completions before ERR");
	a = full_attr(&r, TP_QPS_ERR);
	LT_CHECK(t, tp_qp_modify(r.qp, &a, TP_QP_STATE) == 0, "ERR: %s", loom_err_msg());
	n = tp_cq_poll(r.cq, 16, wc);
	for (int i = 0; i < n; i++) {
		LT_CHECK(t, wc[i].status == TP_WC_WR_FLUSH_ERR && wc[i].qp_num == tp_qp_num(r.qp),
			 "wc %d: %s", i, tp_wc_status_str(wc[i].status));
		if (wc[i].wr_id >= 200)
			LT_CHECK(t, wc[i].wr_id == 200 + (uint64_t)recvs++ &&
					    wc[i].opcode == TP_WC_RECV, "recv order");
		else
			LT_CHECK(t, wc[i].wr_id == 100 + (uint64_t)sends++ &&
					    wc[i].opcode == TP_WC_RDMA_WRITE, "send order");
	}
	LT_CHECK(t, n == 6 && sends == 3 && recvs == 3, "%d flushed", n);
	sw.wr_id = 7;
	LT_CHECK(t, tp_post_send(r.qp, &sw, 1, NULL) == 0 && tp_cq_poll(r.cq, 1, wc) == 1 &&
			    wc[0].wr_id == 7 && wc[0].status == TP_WC_WR_FLUSH_ERR,
		 "post in ERR");
	a.state = TP_QPS_RESET;
	tp_qp_modify(r.qp, &a, TP_QP_STATE);
	a = full_attr(&r, TP_QPS_INIT);
	tp_qp_modify(r.qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS);
	tp_post_recv(r.qp, &rw, 1, NULL);
	a.state = TP_QPS_RESET;
	tp_qp_modify(r.qp, &a, TP_QP_STATE);
	LT_CHECK(t, tp_cq_poll(r.cq, 16, wc) == 0, "RESET made completions");
out:
	rig_close(t, &r);
}

static const struct lt_case cases[] = {
	LT_CASE(test_provider_table),
	LT_CASE(test_options),
	LT_CASE(test_name_tables),
	LT_CASE(test_iba_encodings),
	LT_CASE(test_state_machine_table),
	LT_CASE(test_modify_checks),
	LT_CASE(test_mr_rules),
	LT_CASE(test_mr_check),
	LT_CASE(test_mr_sge_and_stale_keys),
	LT_CASE(test_cq_generic),
	LT_CASE(test_object_lifetimes),
	LT_CASE(test_post_checks),
	LT_CASE(test_flush),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_ibverbs_xlate.c - the ibverbs provider's translation tables and
 * loader, which need no RDMA device.
 *
 *   xlate_*   every translation table, value by value, against the numbers
 *             of <infiniband/verbs.h> written out here by hand (so a
 *             renumbered header, or a wrong table, fails);
 *   lib_*     the loader: a missing library and one that is not libibverbs
 *             give a clear message, 0 devices, and no crash;
 *   nodev_*   the no-device path, on this machine's real libibverbs.
 *
 * The functional set (software NIC and real NIC) is in test_ibverbs.c.
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

/* ==== translation tables ================================================= */

/* enum ibv_wc_status as numbered in verbs.h, and the Loom status of each. */
static const struct {
	int num, name;
	int tp;
	bool exact; /* Loom -> ibv gives num back */
} wc_status_tab[] = {
	{ 0, IBV_WC_SUCCESS, TP_WC_SUCCESS, true },
	{ 1, IBV_WC_LOC_LEN_ERR, TP_WC_LOC_LEN_ERR, true },
	{ 2, IBV_WC_LOC_QP_OP_ERR, TP_WC_LOC_QP_OP_ERR, true },
	{ 3, IBV_WC_LOC_EEC_OP_ERR, TP_WC_GENERAL_ERR, false },
	{ 4, IBV_WC_LOC_PROT_ERR, TP_WC_LOC_PROT_ERR, true },
	{ 5, IBV_WC_WR_FLUSH_ERR, TP_WC_WR_FLUSH_ERR, true },
	{ 6, IBV_WC_MW_BIND_ERR, TP_WC_MW_BIND_ERR, true },
	{ 7, IBV_WC_BAD_RESP_ERR, TP_WC_BAD_RESP_ERR, true },
	{ 8, IBV_WC_LOC_ACCESS_ERR, TP_WC_LOC_ACCESS_ERR, true },
	{ 9, IBV_WC_REM_INV_REQ_ERR, TP_WC_REM_INV_REQ_ERR, true },
	{ 10, IBV_WC_REM_ACCESS_ERR, TP_WC_REM_ACCESS_ERR, true },
	{ 11, IBV_WC_REM_OP_ERR, TP_WC_REM_OP_ERR, true },
	{ 12, IBV_WC_RETRY_EXC_ERR, TP_WC_RETRY_EXC_ERR, true },
	{ 13, IBV_WC_RNR_RETRY_EXC_ERR, TP_WC_RNR_RETRY_EXC_ERR, true },
	{ 14, IBV_WC_LOC_RDD_VIOL_ERR, TP_WC_GENERAL_ERR, false },
	{ 15, IBV_WC_REM_INV_RD_REQ_ERR, TP_WC_GENERAL_ERR, false },
	{ 16, IBV_WC_REM_ABORT_ERR, TP_WC_REM_OP_ERR, false },
	{ 17, IBV_WC_INV_EECN_ERR, TP_WC_GENERAL_ERR, false },
	{ 18, IBV_WC_INV_EEC_STATE_ERR, TP_WC_GENERAL_ERR, false },
	{ 19, IBV_WC_FATAL_ERR, TP_WC_FATAL_ERR, true },
	{ 20, IBV_WC_RESP_TIMEOUT_ERR, TP_WC_GENERAL_ERR, false },
	{ 21, IBV_WC_GENERAL_ERR, TP_WC_GENERAL_ERR, true },
	{ 22, IBV_WC_TM_ERR, TP_WC_GENERAL_ERR, false },
	{ 23, IBV_WC_TM_RNDV_INCOMPLETE, TP_WC_GENERAL_ERR, false },
};

static void test_xlate_wc_status(struct lt *t)
{
	int n_tp = 0;

	for (size_t i = 0; i < LT_N(wc_status_tab); i++) {
		int num = wc_status_tab[i].num, tp = wc_status_tab[i].tp;

		LT_CHECK(t, wc_status_tab[i].name == num, "verbs.h numbers status %d as %d", num,
			 wc_status_tab[i].name);
		LT_CHECK(t, (int)ibvp_wc_status_from_ibv(num) == tp, "ibv %d -> %d, want %d", num,
			 (int)ibvp_wc_status_from_ibv(num), tp);
		if (wc_status_tab[i].exact) {
			LT_CHECK(t, ibvp_wc_status_to_ibv(tp) == num, "tp %s -> %d, want %d",
				 tp_wc_status_str(tp), ibvp_wc_status_to_ibv(tp), num);
			n_tp++;
		}
	}
	/* every Loom status has exactly one verbs status */
	LT_CHECK(t, n_tp == TP_WC_GENERAL_ERR + 1, "%d Loom statuses mapped", n_tp);
	for (int s = 0; s <= TP_WC_GENERAL_ERR; s++)
		LT_CHECK(t, (int)ibvp_wc_status_from_ibv(ibvp_wc_status_to_ibv(s)) == s,
			 "round trip %s", tp_wc_status_str(s));
	LT_CHECK(t, ibvp_wc_status_to_ibv(TP_WC_GENERAL_ERR + 1) == -1, "beyond the enum");
	LT_CHECK(t, ibvp_wc_status_to_ibv(-1) == -1, "negative");
	LT_CHECK(t, ibvp_wc_status_from_ibv(24) == TP_WC_GENERAL_ERR &&
			    ibvp_wc_status_from_ibv(-1) == TP_WC_GENERAL_ERR &&
			    ibvp_wc_status_from_ibv(1000) == TP_WC_GENERAL_ERR,
		 "unknown verbs statuses read as GENERAL_ERR");
}

static void test_xlate_wc_opcode(struct lt *t)
{
	static const struct {
		int num, name, tp; /* tp -1: no Loom opcode */
	} tab[] = {
		{ 0, IBV_WC_SEND, TP_WC_SEND },
		{ 1, IBV_WC_RDMA_WRITE, TP_WC_RDMA_WRITE },
		{ 2, IBV_WC_RDMA_READ, TP_WC_RDMA_READ },
		{ 3, IBV_WC_COMP_SWAP, TP_WC_COMP_SWAP },
		{ 4, IBV_WC_FETCH_ADD, TP_WC_FETCH_ADD },
		{ 5, IBV_WC_BIND_MW, -1 },
		{ 6, IBV_WC_LOCAL_INV, -1 },
		{ 7, IBV_WC_TSO, -1 },
		{ 9, 9 /* IBV_WC_ATOMIC_WRITE, rdma-core >= 42 */, -1 },
		{ 128, IBV_WC_RECV, TP_WC_RECV },
		{ 129, IBV_WC_RECV_RDMA_WITH_IMM, TP_WC_RECV_RDMA_WITH_IMM },
		{ 130, IBV_WC_TM_ADD, -1 },
		{ 131, IBV_WC_TM_DEL, -1 },
		{ 132, IBV_WC_TM_SYNC, -1 },
		{ 133, IBV_WC_TM_RECV, -1 },
		{ 134, IBV_WC_TM_NO_TAG, -1 },
		{ 135, IBV_WC_DRIVER1, -1 },
	};
	int mapped = 0;

	for (size_t i = 0; i < LT_N(tab); i++) {
		LT_CHECK(t, tab[i].name == tab[i].num, "verbs.h: wc opcode %d is %d", tab[i].num,
			 tab[i].name);
		LT_CHECK(t, ibvp_wc_opcode_from_ibv(tab[i].num) == tab[i].tp, "ibv %d -> %d",
			 tab[i].num, ibvp_wc_opcode_from_ibv(tab[i].num));
		if (tab[i].tp >= 0) {
			LT_CHECK(t, ibvp_wc_opcode_to_ibv(tab[i].tp) == tab[i].num, "tp %s -> %d",
				 tp_wc_opcode_str(tab[i].tp), ibvp_wc_opcode_to_ibv(tab[i].tp));
			mapped++;
		}
	}
	LT_CHECK(t, mapped == TP_WC_RECV_RDMA_WITH_IMM + 1, "every Loom opcode: %d", mapped);
	LT_CHECK(t, ibvp_wc_opcode_to_ibv(TP_WC_RECV_RDMA_WITH_IMM + 1) == -1, "beyond");
}

static void test_xlate_wr_opcode(struct lt *t)
{
	static const struct {
		int num, name, tp;
	} tab[] = {
		{ 0, IBV_WR_RDMA_WRITE, TP_WR_RDMA_WRITE },
		{ 1, IBV_WR_RDMA_WRITE_WITH_IMM, TP_WR_RDMA_WRITE_WITH_IMM },
		{ 2, IBV_WR_SEND, TP_WR_SEND },
		{ 3, IBV_WR_SEND_WITH_IMM, TP_WR_SEND_WITH_IMM },
		{ 4, IBV_WR_RDMA_READ, TP_WR_RDMA_READ },
		{ 5, IBV_WR_ATOMIC_CMP_AND_SWP, TP_WR_ATOMIC_CMP_SWP },
		{ 6, IBV_WR_ATOMIC_FETCH_AND_ADD, TP_WR_ATOMIC_FETCH_ADD },
		{ 7, IBV_WR_LOCAL_INV, -1 },
		{ 8, IBV_WR_BIND_MW, -1 },
		{ 9, IBV_WR_SEND_WITH_INV, -1 },
		{ 10, IBV_WR_TSO, -1 },
		{ 11, IBV_WR_DRIVER1, -1 },
		{ 15, 15 /* IBV_WR_ATOMIC_WRITE, rdma-core >= 42 */, -1 },
	};
	int mapped = 0;

	for (size_t i = 0; i < LT_N(tab); i++) {
		LT_CHECK(t, tab[i].name == tab[i].num, "verbs.h: wr opcode %d is %d", tab[i].num,
			 tab[i].name);
		LT_CHECK(t, ibvp_wr_opcode_from_ibv(tab[i].num) == tab[i].tp, "ibv %d", tab[i].num);
		if (tab[i].tp >= 0) {
			LT_CHECK(t, ibvp_wr_opcode_to_ibv(tab[i].tp) == tab[i].num, "tp %d -> %d",
				 tab[i].tp, ibvp_wr_opcode_to_ibv(tab[i].tp));
			mapped++;
		}
	}
	LT_CHECK(t, mapped == TP_WR_ATOMIC_FETCH_ADD + 1, "every Loom opcode: %d", mapped);
	LT_CHECK(t, ibvp_wr_opcode_to_ibv(TP_WR_ATOMIC_FETCH_ADD + 1) == -1 &&
			    ibvp_wr_opcode_to_ibv(-1) == -1, "out of range");
}

/* A bit-set translation over every combination of the four Loom bits,
 * against the expectation computed bit by bit. */
static void check_bits(struct lt *t, const char *what, int (*to)(unsigned),
		       int (*from)(unsigned), const unsigned tp_bit[4], const unsigned ibv_bit[4],
		       const unsigned *foreign, int n_foreign)
{
	for (unsigned m = 0; m < 16; m++) {
		unsigned tp = 0, want = 0;

		for (int b = 0; b < 4; b++)
			if (m & (1u << b)) {
				tp |= tp_bit[b];
				want |= ibv_bit[b];
			}
		LT_CHECK(t, to(tp) == (int)want, "%s: tp 0x%x -> 0x%x, want 0x%x", what, tp,
			 to(tp), want);
		LT_CHECK(t, from(want) == (int)tp, "%s: ibv 0x%x -> 0x%x, want 0x%x", what, want,
			 from(want), tp);
	}
	LT_CHECK(t, to(1u << 20) == -1, "%s: unknown Loom bit", what);
	for (int i = 0; i < n_foreign; i++)
		LT_CHECK(t, from(foreign[i]) == -1 && from(foreign[i] | ibv_bit[0]) == -1,
			 "%s: verbs bit 0x%x has no Loom bit", what, foreign[i]);
}

static void test_xlate_access(struct lt *t)
{
	static const unsigned tp[4] = { TP_ACCESS_LOCAL_WRITE, TP_ACCESS_REMOTE_WRITE,
					TP_ACCESS_REMOTE_READ, TP_ACCESS_REMOTE_ATOMIC };
	static const unsigned ibv[4] = { 1, 2, 4, 8 };
	static const unsigned foreign[] = { 16, 32, 64, 128, 1u << 20 }; /* MW_BIND.. RELAXED */

	LT_CHECK(t, IBV_ACCESS_LOCAL_WRITE == 1 && IBV_ACCESS_REMOTE_WRITE == 2 &&
			    IBV_ACCESS_REMOTE_READ == 4 && IBV_ACCESS_REMOTE_ATOMIC == 8 &&
			    IBV_ACCESS_MW_BIND == 16 && IBV_ACCESS_ZERO_BASED == 32 &&
			    IBV_ACCESS_ON_DEMAND == 64 && IBV_ACCESS_HUGETLB == 128 &&
			    IBV_ACCESS_RELAXED_ORDERING == (1 << 20), "verbs.h access numbers");
	check_bits(t, "access", ibvp_access_to_ibv, ibvp_access_from_ibv, tp, ibv, foreign,
		   (int)LT_N(foreign));
}

static void test_xlate_send_flags(struct lt *t)
{
	static const unsigned tp[4] = { TP_SEND_SIGNALED, TP_SEND_INLINE, TP_SEND_FENCE,
					TP_SEND_SOLICITED };
	static const unsigned ibv[4] = { 2, 8, 1, 4 };
	static const unsigned foreign[] = { 16 }; /* IP_CSUM */

	LT_CHECK(t, IBV_SEND_FENCE == 1 && IBV_SEND_SIGNALED == 2 && IBV_SEND_SOLICITED == 4 &&
			    IBV_SEND_INLINE == 8 && IBV_SEND_IP_CSUM == 16, "verbs.h flag numbers");
	check_bits(t, "send flags", ibvp_send_flags_to_ibv, ibvp_send_flags_from_ibv, tp, ibv,
		   foreign, 1);
}

static void test_xlate_qp_state(struct lt *t)
{
	static const struct {
		int num, name, tp;
		bool exact;
	} tab[] = {
		{ 0, IBV_QPS_RESET, TP_QPS_RESET, true }, { 1, IBV_QPS_INIT, TP_QPS_INIT, true },
		{ 2, IBV_QPS_RTR, TP_QPS_RTR, true },	  { 3, IBV_QPS_RTS, TP_QPS_RTS, true },
		{ 4, IBV_QPS_SQD, TP_QPS_SQD, true },	  { 5, IBV_QPS_SQE, TP_QPS_ERR, false },
		{ 6, IBV_QPS_ERR, TP_QPS_ERR, true },	  { 7, IBV_QPS_UNKNOWN, -1, false },
	};

	for (size_t i = 0; i < LT_N(tab); i++) {
		LT_CHECK(t, tab[i].name == tab[i].num, "verbs.h: state %d", tab[i].num);
		LT_CHECK(t, ibvp_qp_state_from_ibv(tab[i].num) == tab[i].tp, "ibv %d", tab[i].num);
		if (tab[i].exact)
			LT_CHECK(t, ibvp_qp_state_to_ibv(tab[i].tp) == tab[i].num, "tp %s",
				 tp_qp_state_str(tab[i].tp));
	}
	LT_CHECK(t, ibvp_qp_state_to_ibv(TP_QPS_ERR + 1) == -1, "beyond");
}

static void test_xlate_mtu(struct lt *t)
{
	static const uint32_t bad[] = { 0, 128, 255, 300, 1500, 4095, 8192, 65536, UINT32_MAX };

	LT_CHECK(t, IBV_MTU_256 == 1 && IBV_MTU_512 == 2 && IBV_MTU_1024 == 3 &&
			    IBV_MTU_2048 == 4 && IBV_MTU_4096 == 5, "verbs.h MTU numbers");
	for (int e = 1; e <= 5; e++) {
		uint32_t bytes = 128u << e; /* IBA: MTU code e is 2^(7+e) bytes */

		LT_CHECK(t, ibvp_mtu_to_ibv(bytes) == e, "%u -> %d", bytes, ibvp_mtu_to_ibv(bytes));
		LT_CHECK(t, ibvp_mtu_from_ibv(e) == bytes, "%d -> %u", e, ibvp_mtu_from_ibv(e));
	}
	for (size_t i = 0; i < LT_N(bad); i++)
		LT_CHECK(t, ibvp_mtu_to_ibv(bad[i]) == -1, "%u is no MTU", bad[i]);
	LT_CHECK(t, ibvp_mtu_from_ibv(0) == 0 && ibvp_mtu_from_ibv(6) == 0, "unknown codes");
}

static void test_xlate_sge_layout(struct lt *t)
{
	struct tp_sge s = { .addr = 0x1122334455667788ull, .length = 0x99aabbcc,
			    .lkey = 0xddeeff00 };
	struct ibv_sge v;

	/* the provider hands Loom's SGE lists to verbs as they are */
	memcpy(&v, &s, sizeof(v));
	LT_CHECK(t, v.addr == s.addr && v.length == s.length && v.lkey == s.lkey,
		 "tp_sge read as ibv_sge");
}

static struct ibvp_port port_roce(void)
{
	struct ibvp_port p = { .port_num = 1, .gid_index = 3,
			       .link_layer = IBV_LINK_LAYER_ETHERNET,
			       .active_mtu = IBV_MTU_1024, .sl = 2, .tclass = 0x68 };

	inet_pton(AF_INET6, "::ffff:10.1.2.3", p.gid.raw);
	return p;
}

static struct ibvp_port port_ib(uint16_t lid)
{
	struct ibvp_port p = { .port_num = 2, .link_layer = IBV_LINK_LAYER_INFINIBAND,
			       .lid = lid, .active_mtu = IBV_MTU_4096 };

	inet_pton(AF_INET6, "fe80::2:c903:a:b", p.gid.raw);
	return p;
}

static void test_xlate_addr(struct lt *t)
{
	struct ibvp_port r = port_roce(), ib = port_ib(0x2a), back;
	struct tp_addr a;
	char buf[128];

	ibvp_addr_encode(&r, &a);
	LT_CHECK(t, a.len == 21 && a.bytes[10] == 0xff && a.bytes[15] == 3 && a.bytes[18] == 1 &&
			    a.bytes[19] == 3 && a.bytes[20] == IBV_LINK_LAYER_ETHERNET, "layout");
	LT_CHECK(t, ibvp_addr_decode(&a, &back) == 0 && !memcmp(back.gid.raw, r.gid.raw, 16) &&
			    back.gid_index == 3 && back.port_num == 1, "round trip");
	LT_CHECK(t, ibvp_addr_format(&a, buf, sizeof(buf)) == 0 &&
			    !strcmp(buf, "::ffff:10.1.2.3 port 1 gid_index 3 (RoCE)"), "%s", buf);
	LT_CHECK(t, ibvp_addr_format(&a, buf, 10) == -ENOSPC, "short buffer");
	ibvp_addr_encode(&ib, &a);
	LT_CHECK(t, a.bytes[16] == 0 && a.bytes[17] == 0x2a, "LID big-endian");
	LT_CHECK(t, ibvp_addr_format(&a, buf, sizeof(buf)) == 0 &&
			    !strcmp(buf, "lid 0x2a gid fe80::2:c903:a:b port 2 (InfiniBand)"),
		 "%s", buf);
	a.len = 20;
	LT_CHECK(t, ibvp_addr_decode(&a, &back) == -EINVAL && msg_has("21"), "short address");
	ibvp_addr_encode(&r, &a);
	memset(a.bytes, 0, 16);
	LT_CHECK(t, ibvp_addr_decode(&a, &back) == -EINVAL && msg_has("zero GID"), "zero GID");
	ib.lid = 0;
	ibvp_addr_encode(&ib, &a);
	LT_CHECK(t, ibvp_addr_decode(&a, &back) == -EINVAL && msg_has("LID 0"), "LID 0");
}

static void test_xlate_qp_attr_roce(struct lt *t)
{
	struct ibvp_port p = port_roce(), peer = port_roce();
	struct tp_qp_attr na = { .state = TP_QPS_INIT,
				 .access = TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE |
					   TP_ACCESS_REMOTE_READ };
	struct ibv_qp_attr ia;
	int m = 0;

	/* RESET -> INIT: verbs also wants the P_Key index and the port. */
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_RESET, &na, TP_QP_STATE | TP_QP_ACCESS_FLAGS,
					&ia, &m) == 0, "INIT: %s", loom_err_msg());
	LT_CHECK(t, m == (1 | 8 | 16 | 32) && ia.qp_state == 1 && ia.pkey_index == 0 &&
			    ia.port_num == 1 && ia.qp_access_flags == (2 | 4),
		 "INIT mask 0x%x state %d port %d access 0x%x", m, ia.qp_state, ia.port_num,
		 ia.qp_access_flags);
	/* INIT -> RTR over RoCE: GRH to the peer's GID from our GID index. */
	inet_pton(AF_INET6, "::ffff:10.9.8.7", peer.gid.raw);
	na = (struct tp_qp_attr){ .state = TP_QPS_RTR, .path_mtu = 4096, .dest_qp_num = 0x1234,
				  .rq_psn = 0x1abcdef, .max_dest_rd_atomic = 4,
				  .min_rnr_timer = 12 };
	ibvp_addr_encode(&peer, &na.dest);
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_INIT, &na,
					TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN |
						TP_QP_MAX_DEST_RD_ATOMIC | TP_QP_MIN_RNR_TIMER,
					&ia, &m) == 0, "RTR: %s", loom_err_msg());
	/* STATE 0x1 | AV 0x80 | PATH_MTU 0x100 | RQ_PSN 0x1000 | MIN_RNR 0x8000 |
	 * MAX_DEST_RD_ATOMIC 0x20000 | DEST_QPN 0x100000 */
	LT_CHECK(t, m == 0x129181, "RTR mask 0x%x", m);
	LT_CHECK(t, ia.qp_state == 2 && ia.path_mtu == 3 /* lowered to the port's 1024 */ &&
			    ia.dest_qp_num == 0x1234 && ia.rq_psn == 0xabcdef &&
			    ia.max_dest_rd_atomic == 4 && ia.min_rnr_timer == 12,
		 "RTR values: mtu %d psn 0x%x", ia.path_mtu, ia.rq_psn);
	LT_CHECK(t, ia.ah_attr.is_global == 1 && !memcmp(ia.ah_attr.grh.dgid.raw, peer.gid.raw, 16) &&
			    ia.ah_attr.grh.sgid_index == 3 && ia.ah_attr.grh.hop_limit == 64 &&
			    ia.ah_attr.grh.traffic_class == 0x68 && ia.ah_attr.sl == 2 &&
			    ia.ah_attr.port_num == 1 && ia.ah_attr.dlid == 0,
		 "RoCE address vector");
	/* RTR -> RTS */
	na = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = 77, .timeout = 14,
				  .retry_cnt = 7, .rnr_retry = 6, .max_rd_atomic = 8 };
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_RTR, &na,
					TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
						TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
						TP_QP_MAX_QP_RD_ATOMIC,
					&ia, &m) == 0, "RTS");
	/* STATE 0x1 | TIMEOUT 0x200 | RETRY 0x400 | RNR 0x800 | MAX_QP_RD 0x2000 |
	 * SQ_PSN 0x10000 */
	LT_CHECK(t, m == 0x12e01 && ia.qp_state == 3 && ia.sq_psn == 77 && ia.timeout == 14 &&
			    ia.retry_cnt == 7 && ia.rnr_retry == 6 && ia.max_rd_atomic == 8,
		 "RTS mask 0x%x", m);
	/* ERR and RESET carry the state only (no port when leaving RTS). */
	na = (struct tp_qp_attr){ .state = TP_QPS_ERR };
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_RTS, &na, TP_QP_STATE, &ia, &m) == 0 &&
			    m == 1 && ia.qp_state == 6, "ERR");
	na.state = TP_QPS_RESET;
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_RTS, &na, TP_QP_STATE, &ia, &m) == 0 &&
			    m == 1 && ia.qp_state == 0, "RESET");
	/* RTS -> RTS: attributes without a state */
	na = (struct tp_qp_attr){ .state = TP_QPS_RTS, .min_rnr_timer = 3 };
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_RTS, &na, TP_QP_MIN_RNR_TIMER, &ia, &m) == 0 &&
			    m == 0x8000 && ia.min_rnr_timer == 3, "RTS->RTS mask 0x%x", m);
}

static void test_xlate_qp_attr_ib(struct lt *t)
{
	struct ibvp_port p = port_ib(0x17), peer = port_ib(0x2a), roce = port_roce();
	struct tp_qp_attr na = { .state = TP_QPS_RTR, .path_mtu = 4096, .dest_qp_num = 9 };
	struct ibv_qp_attr ia;
	int m;

	ibvp_addr_encode(&peer, &na.dest);
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_INIT, &na,
					TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST, &ia, &m) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(t, ia.ah_attr.is_global == 0 && ia.ah_attr.dlid == 0x2a &&
			    ia.ah_attr.port_num == 2 && ia.path_mtu == 5, "IB address vector");
	/* a RoCE peer from an InfiniBand port, an MTU that is none */
	ibvp_addr_encode(&roce, &na.dest);
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_INIT, &na, TP_QP_STATE | TP_QP_DEST, &ia,
					&m) == -EINVAL && msg_has("RoCE"), "%s", loom_err_msg());
	na.path_mtu = 3000;
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_INIT, &na, TP_QP_STATE | TP_QP_PATH_MTU, &ia,
					&m) == -EINVAL && msg_has("3000"), "%s", loom_err_msg());
	/* an unknown active MTU lowers nothing */
	p.active_mtu = 0;
	na.path_mtu = 4096;
	LT_CHECK(t, ibvp_qp_attr_to_ibv(&p, TP_QPS_INIT, &na, TP_QP_PATH_MTU, &ia, &m) == 0 &&
			    ia.path_mtu == 5, "no clamp");
}

/* ==== the loader and the no-device path ==================================== */

/* Restores LOOM_IBVERBS_LIB on the way out of a case. */
static void lib_env(const char *v)
{
	if (v)
		setenv("LOOM_IBVERBS_LIB", v, 1);
	else
		unsetenv("LOOM_IBVERBS_LIB");
}

static void test_lib_missing(struct lt *t)
{
	struct tp_device_info info[4];
	const char *saved = getenv("LOOM_IBVERBS_LIB");
	char keep[512] = "";

	if (saved)
		snprintf(keep, sizeof(keep), "%s", saved);
	lib_env("/nonexistent/libibverbs.so.1");
	LT_CHECK(t, tp_get_devices("ibverbs", info, 4) == 0, "no library: 0 devices");
	LT_CHECK(t, msg_has("ibverbs: libibverbs.so.1 not found") && msg_has("/nonexistent"),
		 "%s", loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", "mlx5_0", NULL) && msg_has("not found"), "open: %s",
		 loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, NULL), "open the first of none");
	LT_CHECK(t, tp_get_devices(NULL, NULL, 0) >= 0, "all providers still list");
	/* a library that is not libibverbs */
	lib_env("libc.so.6");
	LT_CHECK(t, tp_get_devices("ibverbs", info, 4) == 0 && msg_has("has no ibv_"), "%s",
		 loom_err_msg());
	lib_env(saved ? keep : NULL);
}

static void test_nodev_real(struct lt *t)
{
	struct tp_device_info info[4];
	int n = tp_get_devices("ibverbs", info, 4);

	if (n > 0) {
		lt_skip(t, "an RDMA device is present (%s)", info[0].name);
		return;
	}
	LT_CHECK(t, n == 0, "get_devices: %d", n);
	LT_CHECK(t, msg_has("ibverbs: no RDMA devices (libibverbs found") ||
			    msg_has("libibverbs.so.1 not found"), "%s", loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", NULL, NULL) && msg_has("ibverbs"), "%s",
		 loom_err_msg());
	LT_CHECK(t, !tp_device_open("ibverbs", "mlx5_0", NULL), "a named device that is not");
}

static const struct lt_case cases[] = {
	LT_CASE(test_xlate_wc_status),
	LT_CASE(test_xlate_wc_opcode),
	LT_CASE(test_xlate_wr_opcode),
	LT_CASE(test_xlate_access),
	LT_CASE(test_xlate_send_flags),
	LT_CASE(test_xlate_qp_state),
	LT_CASE(test_xlate_mtu),
	LT_CASE(test_xlate_sge_layout),
	LT_CASE(test_xlate_addr),
	LT_CASE(test_xlate_qp_attr_roce),
	LT_CASE(test_xlate_qp_attr_ib),
	LT_CASE(test_lib_missing),
	LT_CASE(test_nodev_real),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

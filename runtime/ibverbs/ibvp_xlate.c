/*
 * ibvp_xlate.c - translation between Loom's transport API and
 * <infiniband/verbs.h>: access flags, work request opcodes and flags,
 * completion statuses and opcodes, QP states, path MTUs, device addresses
 * and the ibv_modify_qp attributes of a QP transition.
 *
 * Not here: anything that touches a device.  Pure functions over tables;
 * no state, no locking.  Each table is written out in full so that a test
 * can check every value against the numbers in verbs.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "loom/err.h"
#include "ibvp.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The scatter/gather element is passed to the NIC as is. */
_Static_assert(sizeof(struct tp_sge) == sizeof(struct ibv_sge), "sge size");
_Static_assert(offsetof(struct tp_sge, addr) == offsetof(struct ibv_sge, addr), "sge addr");
_Static_assert(offsetof(struct tp_sge, length) == offsetof(struct ibv_sge, length), "sge len");
_Static_assert(offsetof(struct tp_sge, lkey) == offsetof(struct ibv_sge, lkey), "sge lkey");

/* ---- bit sets ----------------------------------------------------------- */

struct bit_pair {
	unsigned tp, ibv;
};

static const struct bit_pair access_bits[] = {
	{ TP_ACCESS_LOCAL_WRITE, IBV_ACCESS_LOCAL_WRITE },
	{ TP_ACCESS_REMOTE_WRITE, IBV_ACCESS_REMOTE_WRITE },
	{ TP_ACCESS_REMOTE_READ, IBV_ACCESS_REMOTE_READ },
	{ TP_ACCESS_REMOTE_ATOMIC, IBV_ACCESS_REMOTE_ATOMIC },
};

static const struct bit_pair send_flag_bits[] = {
	{ TP_SEND_SIGNALED, IBV_SEND_SIGNALED },
	{ TP_SEND_INLINE, IBV_SEND_INLINE },
	{ TP_SEND_FENCE, IBV_SEND_FENCE },
	{ TP_SEND_SOLICITED, IBV_SEND_SOLICITED },
};

/* Map every set bit of v from one side to the other; -1 when a bit of v
 * has no counterpart. */
static int bits_map(const struct bit_pair *t, int n, unsigned v, bool to_ibv)
{
	unsigned out = 0;

	for (int i = 0; i < n; i++) {
		unsigned from = to_ibv ? t[i].tp : t[i].ibv;

		if (v & from) {
			out |= to_ibv ? t[i].ibv : t[i].tp;
			v &= ~from;
		}
	}
	return v ? -1 : (int)out;
}

int ibvp_access_to_ibv(unsigned tp_access)
{
	return bits_map(access_bits, N_OF(access_bits), tp_access, true);
}

int ibvp_access_from_ibv(unsigned ibv_access)
{
	return bits_map(access_bits, N_OF(access_bits), ibv_access, false);
}

int ibvp_send_flags_to_ibv(unsigned tp_flags)
{
	return bits_map(send_flag_bits, N_OF(send_flag_bits), tp_flags, true);
}

int ibvp_send_flags_from_ibv(unsigned ibv_flags)
{
	return bits_map(send_flag_bits, N_OF(send_flag_bits), ibv_flags, false);
}

/* ---- enumerations ---------------------------------------------------------- */

struct enum_pair {
	int tp, ibv;
};

static int enum_map(const struct enum_pair *t, int n, int v, bool to_ibv)
{
	for (int i = 0; i < n; i++)
		if ((to_ibv ? t[i].tp : t[i].ibv) == v)
			return to_ibv ? t[i].ibv : t[i].tp;
	return -1;
}

static const struct enum_pair wr_opcodes[] = {
	{ TP_WR_SEND, IBV_WR_SEND },
	{ TP_WR_SEND_WITH_IMM, IBV_WR_SEND_WITH_IMM },
	{ TP_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE },
	{ TP_WR_RDMA_WRITE_WITH_IMM, IBV_WR_RDMA_WRITE_WITH_IMM },
	{ TP_WR_RDMA_READ, IBV_WR_RDMA_READ },
	{ TP_WR_ATOMIC_CMP_SWP, IBV_WR_ATOMIC_CMP_AND_SWP },
	{ TP_WR_ATOMIC_FETCH_ADD, IBV_WR_ATOMIC_FETCH_AND_ADD },
};

int ibvp_wr_opcode_to_ibv(int tp_op)
{
	return enum_map(wr_opcodes, N_OF(wr_opcodes), tp_op, true);
}

int ibvp_wr_opcode_from_ibv(int ibv_op)
{
	return enum_map(wr_opcodes, N_OF(wr_opcodes), ibv_op, false);
}

static const struct enum_pair wc_opcodes[] = {
	{ TP_WC_SEND, IBV_WC_SEND },
	{ TP_WC_RDMA_WRITE, IBV_WC_RDMA_WRITE },
	{ TP_WC_RDMA_READ, IBV_WC_RDMA_READ },
	{ TP_WC_COMP_SWAP, IBV_WC_COMP_SWAP },
	{ TP_WC_FETCH_ADD, IBV_WC_FETCH_ADD },
	{ TP_WC_RECV, IBV_WC_RECV },
	{ TP_WC_RECV_RDMA_WITH_IMM, IBV_WC_RECV_RDMA_WITH_IMM },
};

int ibvp_wc_opcode_to_ibv(int tp_op)
{
	return enum_map(wc_opcodes, N_OF(wc_opcodes), tp_op, true);
}

int ibvp_wc_opcode_from_ibv(int ibv_op)
{
	return enum_map(wc_opcodes, N_OF(wc_opcodes), ibv_op, false);
}

/* Loom's statuses are ibv's names; the ibv statuses Loom lacks are of
 * Reliable Datagram (EEC, RDD), tag matching, or responder timeouts of RD,
 * none of which an RC QP without SRQ produces: they read as GENERAL_ERR,
 * except REM_ABORT_ERR (the responder aborted the operation), which is a
 * remote operation error. */
static const struct enum_pair wc_statuses[] = {
	{ TP_WC_SUCCESS, IBV_WC_SUCCESS },
	{ TP_WC_LOC_LEN_ERR, IBV_WC_LOC_LEN_ERR },
	{ TP_WC_LOC_QP_OP_ERR, IBV_WC_LOC_QP_OP_ERR },
	{ TP_WC_LOC_PROT_ERR, IBV_WC_LOC_PROT_ERR },
	{ TP_WC_WR_FLUSH_ERR, IBV_WC_WR_FLUSH_ERR },
	{ TP_WC_MW_BIND_ERR, IBV_WC_MW_BIND_ERR },
	{ TP_WC_BAD_RESP_ERR, IBV_WC_BAD_RESP_ERR },
	{ TP_WC_LOC_ACCESS_ERR, IBV_WC_LOC_ACCESS_ERR },
	{ TP_WC_REM_INV_REQ_ERR, IBV_WC_REM_INV_REQ_ERR },
	{ TP_WC_REM_ACCESS_ERR, IBV_WC_REM_ACCESS_ERR },
	{ TP_WC_REM_OP_ERR, IBV_WC_REM_OP_ERR },
	{ TP_WC_RETRY_EXC_ERR, IBV_WC_RETRY_EXC_ERR },
	{ TP_WC_RNR_RETRY_EXC_ERR, IBV_WC_RNR_RETRY_EXC_ERR },
	{ TP_WC_FATAL_ERR, IBV_WC_FATAL_ERR },
	{ TP_WC_GENERAL_ERR, IBV_WC_GENERAL_ERR },
	/* one way only (ibv -> Loom); the entries above win for Loom -> ibv */
	{ TP_WC_REM_OP_ERR, IBV_WC_REM_ABORT_ERR },
};

int ibvp_wc_status_to_ibv(int tp_status)
{
	return enum_map(wc_statuses, N_OF(wc_statuses), tp_status, true);
}

enum tp_wc_status ibvp_wc_status_from_ibv(int ibv_status)
{
	int s = enum_map(wc_statuses, N_OF(wc_statuses), ibv_status, false);

	return s < 0 ? TP_WC_GENERAL_ERR : (enum tp_wc_status)s;
}

static const struct enum_pair qp_states[] = {
	{ TP_QPS_RESET, IBV_QPS_RESET },
	{ TP_QPS_INIT, IBV_QPS_INIT },
	{ TP_QPS_RTR, IBV_QPS_RTR },
	{ TP_QPS_RTS, IBV_QPS_RTS },
	{ TP_QPS_SQD, IBV_QPS_SQD },
	{ TP_QPS_ERR, IBV_QPS_ERR },
	{ TP_QPS_ERR, IBV_QPS_SQE }, /* one way: ibv -> Loom */
};

int ibvp_qp_state_to_ibv(int tp_state)
{
	return enum_map(qp_states, N_OF(qp_states), tp_state, true);
}

int ibvp_qp_state_from_ibv(int ibv_state)
{
	return enum_map(qp_states, N_OF(qp_states), ibv_state, false);
}

static const struct enum_pair mtus[] = {
	{ 256, IBV_MTU_256 }, { 512, IBV_MTU_512 }, { 1024, IBV_MTU_1024 },
	{ 2048, IBV_MTU_2048 }, { 4096, IBV_MTU_4096 },
};

int ibvp_mtu_to_ibv(uint32_t bytes)
{
	return bytes > 4096 ? -1 : enum_map(mtus, N_OF(mtus), (int)bytes, true);
}

uint32_t ibvp_mtu_from_ibv(int ibv_mtu)
{
	int b = enum_map(mtus, N_OF(mtus), ibv_mtu, false);

	return b < 0 ? 0 : (uint32_t)b;
}

/* ---- addresses ---------------------------------------------------------------- */

void ibvp_addr_encode(const struct ibvp_port *p, struct tp_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->len = IBVP_ADDR_LEN;
	memcpy(a->bytes, p->gid.raw, 16);
	a->bytes[16] = (uint8_t)(p->lid >> 8);
	a->bytes[17] = (uint8_t)p->lid;
	a->bytes[18] = p->port_num;
	a->bytes[19] = p->gid_index;
	a->bytes[20] = p->link_layer;
}

static bool is_roce(uint8_t link_layer)
{
	return link_layer == IBV_LINK_LAYER_ETHERNET;
}

int ibvp_addr_decode(const struct tp_addr *a, struct ibvp_port *p)
{
	static const uint8_t zero[16];

	if (a->len != IBVP_ADDR_LEN)
		return loom_err_set(EINVAL, "ibverbs: address of %u bytes (an ibverbs address "
				    "has %d)", a->len, IBVP_ADDR_LEN);
	memset(p, 0, sizeof(*p));
	memcpy(p->gid.raw, a->bytes, 16);
	p->lid = (uint16_t)(a->bytes[16] << 8 | a->bytes[17]);
	p->port_num = a->bytes[18];
	p->gid_index = a->bytes[19];
	p->link_layer = a->bytes[20];
	if (p->link_layer > IBV_LINK_LAYER_ETHERNET)
		return loom_err_set(EINVAL, "ibverbs: address with link layer %u", p->link_layer);
	if (is_roce(p->link_layer) && memcmp(p->gid.raw, zero, 16) == 0)
		return loom_err_set(EINVAL, "ibverbs: RoCE address with a zero GID");
	if (!is_roce(p->link_layer) && p->lid == 0)
		return loom_err_set(EINVAL, "ibverbs: InfiniBand address with LID 0");
	return 0;
}

int ibvp_addr_format(const struct tp_addr *a, char *buf, size_t len)
{
	struct ibvp_port p;
	char gid[INET6_ADDRSTRLEN];
	int n;

	if (ibvp_addr_decode(a, &p) < 0)
		return -EINVAL;
	inet_ntop(AF_INET6, p.gid.raw, gid, sizeof(gid));
	if (is_roce(p.link_layer))
		n = snprintf(buf, len, "%s port %u gid_index %u (RoCE)", gid, p.port_num,
			     p.gid_index);
	else
		n = snprintf(buf, len, "lid 0x%x gid %s port %u (InfiniBand)", p.lid, gid,
			     p.port_num);
	if (n < 0 || (size_t)n >= len)
		return loom_err_set(ENOSPC, "ibverbs: addr_format: %zu bytes are too few", len);
	return 0;
}

/* ---- QP attributes -------------------------------------------------------------- */

/* The address vector to the peer at dest, from the local port p. */
static int ah_build(const struct ibvp_port *p, const struct tp_addr *dest,
		    struct ibv_ah_attr *ah)
{
	struct ibvp_port peer;
	bool local_roce = is_roce(p->link_layer);

	if (ibvp_addr_decode(dest, &peer) < 0)
		return -EINVAL;
	if (is_roce(peer.link_layer) != local_roce)
		return loom_err_set(EINVAL, "ibverbs: peer is on %s, this port on %s",
				    is_roce(peer.link_layer) ? "RoCE" : "InfiniBand",
				    local_roce ? "RoCE" : "InfiniBand");
	memset(ah, 0, sizeof(*ah));
	ah->sl = p->sl;
	ah->port_num = p->port_num;
	if (!local_roce) {
		ah->dlid = peer.lid;
		return 0;
	}
	/* RoCE has no LIDs: every packet carries a GRH (RoCEv2: an IP header)
	 * addressed by GID.  hop_limit 64 lets RoCEv2 cross routers. */
	ah->is_global = 1;
	ah->grh.dgid = peer.gid;
	ah->grh.sgid_index = p->gid_index;
	ah->grh.hop_limit = 64;
	ah->grh.traffic_class = p->tclass;
	return 0;
}

/* The state part: the new state, and for RESET->INIT what verbs requires
 * and Loom leaves implicit. */
static int attr_state(const struct ibvp_port *p, int cur, const struct tp_qp_attr *na,
		      struct ibv_qp_attr *ia, int *m)
{
	int s = ibvp_qp_state_to_ibv(na->state);

	if (s < 0)
		return loom_err_set(EINVAL, "ibverbs: QP state %d has no verbs state", na->state);
	ia->qp_state = (enum ibv_qp_state)s;
	*m |= IBV_QP_STATE;
	if (cur == TP_QPS_RESET && na->state == TP_QPS_INIT) {
		ia->pkey_index = 0;
		ia->port_num = p->port_num;
		*m |= IBV_QP_PKEY_INDEX | IBV_QP_PORT;
	}
	return 0;
}

/* The path part: MTU (lowered to the port's active MTU) and destination. */
static int attr_path(const struct ibvp_port *p, const struct tp_qp_attr *na, unsigned mask,
		     struct ibv_qp_attr *ia, int *m)
{
	if (mask & TP_QP_PATH_MTU) {
		int mtu = ibvp_mtu_to_ibv(na->path_mtu);

		if (mtu < 0)
			return loom_err_set(EINVAL, "ibverbs: path_mtu %u is not 256..4096",
					    na->path_mtu);
		ia->path_mtu = (enum ibv_mtu)(p->active_mtu && mtu > p->active_mtu ?
					      p->active_mtu : mtu);
		*m |= IBV_QP_PATH_MTU;
	}
	if (mask & TP_QP_DEST) {
		if (ah_build(p, &na->dest, &ia->ah_attr) < 0)
			return -EINVAL;
		ia->dest_qp_num = na->dest_qp_num;
		*m |= IBV_QP_AV | IBV_QP_DEST_QPN;
	}
	return 0;
}

int ibvp_qp_attr_to_ibv(const struct ibvp_port *p, int cur, const struct tp_qp_attr *na,
			unsigned mask, struct ibv_qp_attr *ia, int *ibv_mask)
{
	int m = 0, acc;

	memset(ia, 0, sizeof(*ia));
	if ((mask & TP_QP_STATE) && attr_state(p, cur, na, ia, &m) < 0)
		return -EINVAL;
	if (mask & TP_QP_ACCESS_FLAGS) {
		/* A QP grants remote rights only; local write is an MR's. */
		acc = ibvp_access_to_ibv(na->access & ~(unsigned)TP_ACCESS_LOCAL_WRITE);
		if (acc < 0)
			return loom_err_set(EINVAL, "ibverbs: QP access 0x%x has unknown bits",
					    na->access);
		ia->qp_access_flags = (unsigned)acc;
		m |= IBV_QP_ACCESS_FLAGS;
	}
	if (attr_path(p, na, mask, ia, &m) < 0)
		return -EINVAL;
#define PLAIN(bit, ibv_bit, field, value)    \
	if (mask & (bit)) {		     \
		ia->field = (value);	     \
		m |= (ibv_bit);		     \
	}
	PLAIN(TP_QP_RQ_PSN, IBV_QP_RQ_PSN, rq_psn, na->rq_psn & 0xffffff)
	PLAIN(TP_QP_SQ_PSN, IBV_QP_SQ_PSN, sq_psn, na->sq_psn & 0xffffff)
	PLAIN(TP_QP_TIMEOUT, IBV_QP_TIMEOUT, timeout, na->timeout)
	PLAIN(TP_QP_RETRY_CNT, IBV_QP_RETRY_CNT, retry_cnt, na->retry_cnt)
	PLAIN(TP_QP_RNR_RETRY, IBV_QP_RNR_RETRY, rnr_retry, na->rnr_retry)
	PLAIN(TP_QP_MIN_RNR_TIMER, IBV_QP_MIN_RNR_TIMER, min_rnr_timer, na->min_rnr_timer)
	PLAIN(TP_QP_MAX_QP_RD_ATOMIC, IBV_QP_MAX_QP_RD_ATOMIC, max_rd_atomic, na->max_rd_atomic)
	PLAIN(TP_QP_MAX_DEST_RD_ATOMIC, IBV_QP_MAX_DEST_RD_ATOMIC, max_dest_rd_atomic,
	      na->max_dest_rd_atomic)
#undef PLAIN
	*ibv_mask = m;
	return 0;
}

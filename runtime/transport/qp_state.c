/*
 * qp_state.c - the RC QP state machine as the core checks it for every
 * provider: which transitions are legal, which attributes each requires and
 * allows (IBA 10.3.1 and 11.2.5.2 table 91 / ibv_modify_qp, as Linux's
 * ib_modify_qp_is_ok encodes them, less the attributes Loom does not model:
 * P_Key, port, alternate path, SQ error and SQ-drained events), and the
 * range of each value.
 *
 * Not here: what a provider does on a transition (ops->qp_modify) or the
 * flushing of WQEs on entering ERR (qp.c).  Pure functions; no locking.
 */
#include <stdio.h>
#include <string.h>

#include "loom/err.h"
#include "provider.h"

#define TP_MAX_RD_ATOMIC 16
#define QPS_N (TP_QPS_ERR + 1)

static const char *const qp_state_names[QPS_N] = {
	[TP_QPS_RESET] = "RESET", [TP_QPS_INIT] = "INIT", [TP_QPS_RTR] = "RTR",
	[TP_QPS_RTS] = "RTS",	  [TP_QPS_SQD] = "SQD",	  [TP_QPS_ERR] = "ERR",
};

const char *tp_qp_state_str(enum tp_qp_state s)
{
	return (unsigned)s < QPS_N ? qp_state_names[s] : "UNKNOWN_STATE";
}

/* Attribute mask bit names, in bit order. */
static const char *const attr_names[] = {
	"STATE", "ACCESS_FLAGS", "PATH_MTU", "DEST", "RQ_PSN", "SQ_PSN", "TIMEOUT",
	"RETRY_CNT", "RNR_RETRY", "MIN_RNR_TIMER", "MAX_QP_RD_ATOMIC", "MAX_DEST_RD_ATOMIC",
};

#define ATTR_N (sizeof(attr_names) / sizeof(attr_names[0]))
#define ATTR_ALL ((1u << ATTR_N) - 1)
_Static_assert(1u << (ATTR_N - 1) == TP_QP_MAX_DEST_RD_ATOMIC, "attr_names matches the mask");

struct qp_transition {
	bool valid;
	unsigned req; /* required besides TP_QP_STATE */
	unsigned opt; /* allowed besides req */
};

#define RTR_REQ (TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN | TP_QP_MAX_DEST_RD_ATOMIC | \
		 TP_QP_MIN_RNR_TIMER)
#define RTS_REQ (TP_QP_SQ_PSN | TP_QP_TIMEOUT | TP_QP_RETRY_CNT | TP_QP_RNR_RETRY | \
		 TP_QP_MAX_QP_RD_ATOMIC)
#define RTS_OPT (TP_QP_ACCESS_FLAGS | TP_QP_MIN_RNR_TIMER)
#define SQD_OPT (RTS_OPT | TP_QP_TIMEOUT | TP_QP_RETRY_CNT | TP_QP_RNR_RETRY | \
		 TP_QP_MAX_QP_RD_ATOMIC | TP_QP_MAX_DEST_RD_ATOMIC)

/* qp_table[cur][next]; any state may go to RESET or ERR with no attribute. */
static const struct qp_transition qp_table[QPS_N][QPS_N] = {
	[TP_QPS_RESET] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_INIT] = { true, TP_QP_ACCESS_FLAGS, 0 },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
	[TP_QPS_INIT] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_INIT] = { true, 0, TP_QP_ACCESS_FLAGS },
		[TP_QPS_RTR] = { true, RTR_REQ, TP_QP_ACCESS_FLAGS },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
	[TP_QPS_RTR] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_RTS] = { true, RTS_REQ, RTS_OPT },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
	[TP_QPS_RTS] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_RTS] = { true, 0, RTS_OPT },
		[TP_QPS_SQD] = { true, 0, 0 },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
	[TP_QPS_SQD] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_RTS] = { true, 0, RTS_OPT },
		[TP_QPS_SQD] = { true, 0, SQD_OPT },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
	[TP_QPS_ERR] = {
		[TP_QPS_RESET] = { true, 0, 0 },
		[TP_QPS_ERR] = { true, 0, 0 },
	},
};

/* "A|B|C" for the bits of mask. */
static const char *mask_str(unsigned mask, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < ATTR_N && at < len; i++)
		if (mask & (1u << i))
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? "|" : "",
					       attr_names[i]);
	return buf;
}

static bool mtu_valid(uint32_t mtu)
{
	return mtu == 256 || mtu == 512 || mtu == 1024 || mtu == 2048 || mtu == 4096;
}

/* Ranges of the attributes present in mask; 0 or -EINVAL. */
static int check_values(uint32_t qpn, const struct tp_qp_attr *a, unsigned mask)
{
	const unsigned access_all = TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE |
				    TP_ACCESS_REMOTE_READ | TP_ACCESS_REMOTE_ATOMIC;

	if ((mask & TP_QP_ACCESS_FLAGS) && (a->access & ~access_all))
		return loom_err_set(EINVAL, "qp %u: access 0x%x has unknown bits", qpn, a->access);
	if ((mask & TP_QP_PATH_MTU) && !mtu_valid(a->path_mtu))
		return loom_err_set(EINVAL, "qp %u: path_mtu %u is not 256, 512, 1024, 2048 or "
				    "4096", qpn, a->path_mtu);
	if ((mask & TP_QP_DEST) && (a->dest.len == 0 || a->dest.len > TP_ADDR_MAX ||
				    a->dest_qp_num > 0xffffff))
		return loom_err_set(EINVAL, "qp %u: dest address length %u (1..%d) or "
				    "dest_qp_num 0x%x (24 bits) out of range", qpn, a->dest.len,
				    TP_ADDR_MAX, a->dest_qp_num);
	if (((mask & TP_QP_RQ_PSN) && a->rq_psn > 0xffffff) ||
	    ((mask & TP_QP_SQ_PSN) && a->sq_psn > 0xffffff))
		return loom_err_set(EINVAL, "qp %u: rq_psn 0x%x / sq_psn 0x%x exceed 24 bits", qpn,
				    a->rq_psn, a->sq_psn);
	if (((mask & TP_QP_TIMEOUT) && a->timeout > 31) ||
	    ((mask & TP_QP_MIN_RNR_TIMER) && a->min_rnr_timer > 31))
		return loom_err_set(EINVAL, "qp %u: timeout %u / min_rnr_timer %u exceed 31", qpn,
				    a->timeout, a->min_rnr_timer);
	if (((mask & TP_QP_RETRY_CNT) && a->retry_cnt > 7) ||
	    ((mask & TP_QP_RNR_RETRY) && a->rnr_retry > 7))
		return loom_err_set(EINVAL, "qp %u: retry_cnt %u / rnr_retry %u exceed 7", qpn,
				    a->retry_cnt, a->rnr_retry);
	if (((mask & TP_QP_MAX_QP_RD_ATOMIC) && a->max_rd_atomic > TP_MAX_RD_ATOMIC) ||
	    ((mask & TP_QP_MAX_DEST_RD_ATOMIC) && a->max_dest_rd_atomic > TP_MAX_RD_ATOMIC))
		return loom_err_set(EINVAL, "qp %u: max_rd_atomic %u / max_dest_rd_atomic %u "
				    "exceed %d", qpn, a->max_rd_atomic, a->max_dest_rd_atomic,
				    TP_MAX_RD_ATOMIC);
	return 0;
}

int tp_qp_check_modify(uint32_t qpn, enum tp_qp_state cur, enum tp_qp_state next,
		       const struct tp_qp_attr *attr, unsigned mask)
{
	const struct qp_transition *t;
	unsigned given = mask & ~TP_QP_STATE;
	char buf[256];

	if (mask & ~ATTR_ALL)
		return loom_err_set(EINVAL, "qp %u: unknown attribute mask bits 0x%x", qpn,
				    mask & ~ATTR_ALL);
	if ((unsigned)next >= QPS_N)
		return loom_err_set(EINVAL, "qp %u: unknown target state %d", qpn, (int)next);
	t = &qp_table[cur][next];
	if (!t->valid)
		return loom_err_set(EINVAL, "qp %u: illegal transition %s -> %s", qpn,
				    tp_qp_state_str(cur), tp_qp_state_str(next));
	if ((given & t->req) != t->req)
		return loom_err_set(EINVAL, "qp %u: %s -> %s needs %s", qpn, tp_qp_state_str(cur),
				    tp_qp_state_str(next),
				    mask_str(t->req & ~given, buf, sizeof(buf)));
	if (given & ~(t->req | t->opt))
		return loom_err_set(EINVAL, "qp %u: %s -> %s does not take %s", qpn,
				    tp_qp_state_str(cur), tp_qp_state_str(next),
				    mask_str(given & ~(t->req | t->opt), buf, sizeof(buf)));
	return check_values(qpn, attr, mask);
}

void tp_qp_attr_merge(struct tp_qp_attr *cur, const struct tp_qp_attr *a, unsigned mask)
{
	if (mask & TP_QP_STATE)
		cur->state = a->state;
	if (mask & TP_QP_ACCESS_FLAGS)
		cur->access = a->access;
	if (mask & TP_QP_PATH_MTU)
		cur->path_mtu = a->path_mtu;
	if (mask & TP_QP_DEST) {
		cur->dest = a->dest;
		cur->dest_qp_num = a->dest_qp_num;
	}
	if (mask & TP_QP_RQ_PSN)
		cur->rq_psn = a->rq_psn;
	if (mask & TP_QP_SQ_PSN)
		cur->sq_psn = a->sq_psn;
	if (mask & TP_QP_TIMEOUT)
		cur->timeout = a->timeout;
	if (mask & TP_QP_RETRY_CNT)
		cur->retry_cnt = a->retry_cnt;
	if (mask & TP_QP_RNR_RETRY)
		cur->rnr_retry = a->rnr_retry;
	if (mask & TP_QP_MIN_RNR_TIMER)
		cur->min_rnr_timer = a->min_rnr_timer;
	if (mask & TP_QP_MAX_QP_RD_ATOMIC)
		cur->max_rd_atomic = a->max_rd_atomic;
	if (mask & TP_QP_MAX_DEST_RD_ATOMIC)
		cur->max_dest_rd_atomic = a->max_dest_rd_atomic;
}

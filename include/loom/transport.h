/*
 * transport.h - Loom's verbs-shaped RDMA transport API.
 *
 * The shape is libibverbs' (devices, protection domains, memory regions,
 * completion queues, RC queue pairs, work requests and completions), so code
 * written against it maps one to one onto rdma-core, and the `ibverbs`
 * provider is a thin translation.  Providers:
 *   udp      a userspace RoCEv2 RNIC: real RoCEv2 packets over UDP sockets
 *   shm      processes on one host through shared memory (the fast path)
 *   ibverbs  rdma-core's libibverbs, loaded at run time
 * Each provider is an ops table (struct tp_provider_ops) registered by name.
 *
 * Objects and ownership.  Every object is created by the library and freed by
 * its destroy call; destroying a parent with live children fails with -EBUSY
 * (as ibv_dealloc_pd does).  Memory registered in an MR stays owned by the
 * caller and must outlive the MR.
 *
 * Addressing.  A device has an opaque local address (struct tp_addr: an IP
 * and UDP port for udp, a segment name for shm, a GID for ibverbs).  Ranks
 * exchange addresses and QP numbers out of band (runtime/bootstrap) and pass
 * the peer's into tp_qp_modify(..., TP_QP_RTR).
 *
 * Threads.  A device, its PDs, MRs, CQs and QPs may be used from several
 * threads, but each QP's send side (post_send) and receive side (post_recv)
 * and each CQ's poll are single-consumer: callers serialize calls on the same
 * QP side or CQ (as rdma-core's providers allow by default).  How a provider
 * makes progress (a thread per device, or polling from the CQ) is documented
 * in its own file.
 *
 * Errors.  Action functions return 0 or a negative errno, constructors return
 * NULL; both record a reason for loom_err_msg() ("udp: bind 127.0.0.1:4791:
 * Address already in use").  Errors of work requests after they were accepted
 * arrive as completions with a status (enum tp_wc_status, modelled on
 * ibv_wc_status), and move the QP to the error state as IBA 10.3.1 says.
 */
#ifndef LOOM_TRANSPORT_H
#define LOOM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices ------------------------------------------------------------ */

#define TP_NAME_MAX 64
#define TP_ADDR_MAX 40

/* An opaque, provider-defined device address (what a peer needs to reach
 * this device); compare and copy it as bytes. */
struct tp_addr {
	uint16_t len;
	uint8_t bytes[TP_ADDR_MAX];
};

struct tp_device_info {
	char provider[TP_NAME_MAX]; /* "udp", "shm", "ibverbs" */
	char name[TP_NAME_MAX];	    /* e.g. "udp0", "mlx5_0" */
};

/* Provider options, as "key=value" pairs (NULL-terminated array), e.g.
 * { "addr=127.0.0.2", "port=4791", "fault.drop=0.01", NULL }.  Each provider
 * documents its keys; an unknown key, or a value of the wrong type or out
 * of range, is -EINVAL, not ignored.  The environment variable LOOM_TP_OPTS
 * ("k=v,k=v") adds options after these (a later value wins).  In both, a
 * key written "prov:key=value" applies to provider prov only and is
 * skipped by the others, so one LOOM_TP_OPTS can serve several providers. */
struct tp_device;

/* List up to max devices of one provider (NULL = all providers) into list;
 * returns the number found (may exceed max) or a negative errno.  A provider
 * that has no device (ibverbs without an RDMA NIC) contributes 0 and records
 * why in loom_err_msg().  A provider Loom knows but this build lacks is
 * -ENODEV ("not built"); a name Loom does not know is -EINVAL. */
int tp_get_devices(const char *provider, struct tp_device_info *list, int max);

/* Open device name (NULL: the provider's first device) of provider. */
struct tp_device *tp_device_open(const char *provider, const char *name,
				 const char *const *opts);
/* -EBUSY while the device has PDs or CQs. */
int tp_device_close(struct tp_device *dev);
int tp_device_addr(struct tp_device *dev, struct tp_addr *addr);
/* Human-readable form of an address of this device's provider; -ENOSPC
 * when buf is too small. */
int tp_addr_format(struct tp_device *dev, const struct tp_addr *addr, char *buf, size_t len);

/* ---- protection domains and memory regions ------------------------------ */

struct tp_pd;

enum tp_access {
	TP_ACCESS_LOCAL_WRITE = 1 << 0,
	TP_ACCESS_REMOTE_WRITE = 1 << 1, /* requires LOCAL_WRITE, as in IBA */
	TP_ACCESS_REMOTE_READ = 1 << 2,
	TP_ACCESS_REMOTE_ATOMIC = 1 << 3, /* requires LOCAL_WRITE */
};

/* Public fields of a memory region; read-only for the caller.  lkey and
 * rkey differ: an lkey is never accepted where an rkey is expected, nor the
 * reverse, and a key of a deregistered region never matches again. */
struct tp_mr {
	struct tp_pd *pd;
	void *addr;
	size_t length;
	uint32_t lkey;
	uint32_t rkey;
	unsigned access; /* enum tp_access bits */
};

struct tp_pd *tp_pd_alloc(struct tp_device *dev);
/* -EBUSY while the PD has MRs or QPs. */
int tp_pd_free(struct tp_pd *pd);
/* NULL addr, length 0, unknown access bits, or REMOTE_WRITE/REMOTE_ATOMIC
 * without LOCAL_WRITE: EINVAL; memory not mapped readable (writable, with
 * any write right): EFAULT, as ibv_reg_mr.  A region is only usable by QPs
 * of its own PD. */
struct tp_mr *tp_mr_reg(struct tp_pd *pd, void *addr, size_t length, unsigned access);
/* Returns once no transfer into or out of the region is in progress. */
int tp_mr_dereg(struct tp_mr *mr);

/* ---- memory for transfers ------------------------------------------------- */

/* Page-aligned, zeroed memory of at least len bytes for buffers that move
 * through dev's QPs: ordinary memory to the caller, registered with
 * tp_mr_reg like any other.  A provider may pass a local SGE that lies in
 * such memory to the peer *by reference* instead of copying it, saving a
 * copy (the role of MPI_Alloc_mem).  shm: a shared-memory file per block; the peer's provider
 * copies straight out of it for SEND/WRITE, and writes READ responses
 * straight into it; the target's memory is never exposed (its provider
 * still checks rkey, bounds and rights against its own MRs).  Other
 * providers: plain memory.
 * Exposure: the bytes of such a block can be read and written by the peer
 * processes of dev's QPs and by other processes of the same user; keep
 * only transfer data in it.  As with any registered memory, the caller
 * must not change a buffer a posted WR reads, nor free one, before the WR
 * completes.
 * NULL dev, len 0 or over 2^40: EINVAL; ENOMEM or the provider's reason
 * (shm: /dev/shm full) otherwise.  tp_device_close is -EBUSY while blocks
 * of the device are live. */
void *tp_mem_alloc(struct tp_device *dev, size_t len);
/* addr as tp_mem_alloc(dev, ...) returned it, else -EINVAL; -EBUSY while an
 * MR of dev covers part of it (deregister first).  A peer that still maps
 * the block keeps its pages until it drops the mapping; the block is never
 * handed to anyone again. */
int tp_mem_free(struct tp_device *dev, void *addr);

/* ---- completion queues -------------------------------------------------- */

struct tp_cq;

enum tp_wc_status {
	TP_WC_SUCCESS = 0,
	TP_WC_LOC_LEN_ERR,	  /* receive buffer too small */
	TP_WC_LOC_QP_OP_ERR,	  /* internal QP consistency error */
	TP_WC_LOC_PROT_ERR,	  /* local lkey invalid, out of bounds or wrong access */
	TP_WC_WR_FLUSH_ERR,	  /* WR flushed because the QP is in the error state */
	TP_WC_MW_BIND_ERR,	  /* (unused: no memory windows) */
	TP_WC_BAD_RESP_ERR,	  /* unexpected response from the responder */
	TP_WC_LOC_ACCESS_ERR,	  /* local access violation on an incoming request */
	TP_WC_REM_INV_REQ_ERR,	  /* responder: invalid request (NAK 0x61) */
	TP_WC_REM_ACCESS_ERR,	  /* responder: bad rkey, bounds or permission (NAK 0x62) */
	TP_WC_REM_OP_ERR,	  /* responder could not complete (NAK 0x63) */
	TP_WC_RETRY_EXC_ERR,	  /* transport retry counter exceeded */
	TP_WC_RNR_RETRY_EXC_ERR,  /* RNR retry counter exceeded */
	TP_WC_FATAL_ERR,
	TP_WC_GENERAL_ERR,
};

enum tp_wc_opcode {
	TP_WC_SEND,
	TP_WC_RDMA_WRITE,
	TP_WC_RDMA_READ,
	TP_WC_COMP_SWAP,
	TP_WC_FETCH_ADD,
	TP_WC_RECV,		  /* an incoming SEND (or SEND_WITH_IMM) */
	TP_WC_RECV_RDMA_WITH_IMM, /* an incoming RDMA_WRITE_WITH_IMM */
};

struct tp_wc {
	uint64_t wr_id;
	enum tp_wc_status status;
	enum tp_wc_opcode opcode; /* valid when status == TP_WC_SUCCESS */
	uint32_t byte_len;	  /* receives: bytes placed; sends: message bytes */
	uint32_t imm_data;	  /* host byte order; valid when has_imm */
	bool has_imm;
	uint32_t qp_num;	  /* the local QP */
	uint32_t vendor_err;	  /* provider detail (e.g. the AETH syndrome) */
};

/* Completions are made for signaled WRs; a WR that fails, or is flushed,
 * always completes, signaled or not.  Send completions come in posting
 * order, and so do receive completions. */

const char *tp_wc_status_str(enum tp_wc_status s);
const char *tp_wc_opcode_str(enum tp_wc_opcode op);

/* A CQ holds at least cqe completions; overflowing it is a fatal error of
 * the CQ's QPs (as in IBA): the QP goes to ERR, and from then on every poll
 * and wait of the CQ returns -EOVERFLOW (destroy it).  Destroying a CQ that
 * QPs use is -EBUSY. */
struct tp_cq *tp_cq_create(struct tp_device *dev, int cqe);
int tp_cq_destroy(struct tp_cq *cq);
/* Up to n completions into wc; returns how many (0 = none) or -errno.  A
 * provider may make progress in the caller's thread when the CQ is empty
 * (its file says so). */
int tp_cq_poll(struct tp_cq *cq, int n, struct tp_wc *wc);
/* Block until the CQ has a completion or timeout_ms passes (-1 = forever,
 * 0 = just look): 0 when one is ready (it is not consumed), -ETIMEDOUT
 * otherwise.  It uses the CQ's notification itself: do not mix it with
 * tp_cq_req_notify/tp_cq_fd on the same CQ. */
int tp_cq_wait(struct tp_cq *cq, int timeout_ms);
/* A file descriptor that becomes readable when a completion is added after
 * tp_cq_req_notify() (for poll/epoll loops); owned by the CQ. */
int tp_cq_fd(struct tp_cq *cq);
int tp_cq_req_notify(struct tp_cq *cq);
/* Consume the notification on the fd (after it became readable). */
int tp_cq_ack_notify(struct tp_cq *cq);

/* ---- queue pairs (RC) ----------------------------------------------------- */

struct tp_qp;

enum tp_qp_state {
	TP_QPS_RESET,
	TP_QPS_INIT,
	TP_QPS_RTR,
	TP_QPS_RTS,
	TP_QPS_SQD,
	TP_QPS_ERR,
};

const char *tp_qp_state_str(enum tp_qp_state s);

struct tp_qp_init_attr {
	struct tp_cq *send_cq;
	struct tp_cq *recv_cq;
	int max_send_wr;
	int max_recv_wr;
	int max_send_sge;
	int max_recv_sge;
	int max_inline_data; /* bytes */
	bool sq_sig_all;     /* every send WR generates a completion */
};

/* Attribute mask bits for tp_qp_modify (IBA 11.2.5.2 / ibv_modify_qp). */
enum tp_qp_attr_mask {
	TP_QP_STATE = 1 << 0,
	TP_QP_ACCESS_FLAGS = 1 << 1,
	TP_QP_PATH_MTU = 1 << 2,
	TP_QP_DEST = 1 << 3,	     /* dest address + dest_qp_num */
	TP_QP_RQ_PSN = 1 << 4,
	TP_QP_SQ_PSN = 1 << 5,
	TP_QP_TIMEOUT = 1 << 6,
	TP_QP_RETRY_CNT = 1 << 7,
	TP_QP_RNR_RETRY = 1 << 8,
	TP_QP_MIN_RNR_TIMER = 1 << 9,
	TP_QP_MAX_QP_RD_ATOMIC = 1 << 10,
	TP_QP_MAX_DEST_RD_ATOMIC = 1 << 11,
};

struct tp_qp_attr {
	enum tp_qp_state state;
	unsigned access;	  /* remote access the QP allows (enum tp_access) */
	uint32_t path_mtu;	  /* bytes: 256, 512, 1024, 2048 or 4096 */
	struct tp_addr dest;	  /* the peer device's address */
	uint32_t dest_qp_num;
	uint32_t rq_psn;	  /* 24 bits: first PSN expected from the peer */
	uint32_t sq_psn;	  /* 24 bits: first PSN this QP sends */
	uint8_t timeout;	  /* local ACK timeout 4.096 us * 2^timeout; 0 = none */
	uint8_t retry_cnt;	  /* 0..7; 7 is 7 retries, never infinite */
	uint8_t rnr_retry;	  /* 0..7; 7 = infinite, as in IBA */
	uint8_t min_rnr_timer;	  /* 0..31, IBA table 45 encoding */
	uint8_t max_rd_atomic;	  /* outstanding READ/atomic as requester */
	uint8_t max_dest_rd_atomic; /* ... as responder */
	/* Output of tp_qp_query only (ignored by tp_qp_modify), as
	 * ibv_qp_attr.sq_draining: in SQD, true while messages already started
	 * are still being sent or acknowledged; false once the SQ is drained
	 * (providers that cannot tell report false). */
	bool sq_draining;
};

struct tp_qp *tp_qp_create(struct tp_pd *pd, const struct tp_qp_init_attr *init);
int tp_qp_destroy(struct tp_qp *qp);
uint32_t tp_qp_num(const struct tp_qp *qp);
/* Transitions and the attributes each requires follow IBA 10.3.1 / table 91
 * (RESET->INIT: access; INIT->RTR: path_mtu, dest, rq_psn,
 * max_dest_rd_atomic, min_rnr_timer; RTR->RTS: sq_psn, timeout, retry_cnt,
 * rnr_retry, max_rd_atomic; any->ERR; any->RESET); an illegal transition, a
 * missing attribute, one the transition does not take, or a value out of
 * range is -EINVAL with the reason, and leaves the QP unchanged.  Without
 * TP_QP_STATE in mask, the attributes of the current state change (e.g.
 * RTS->RTS: access, min_rnr_timer).  Entering ERR flushes every
 * outstanding WR; RESET empties both queues without completions and clears
 * the attributes. */
int tp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *attr, unsigned mask);
int tp_qp_query(struct tp_qp *qp, struct tp_qp_attr *attr);

/* ---- work requests -------------------------------------------------------- */

struct tp_sge {
	uint64_t addr; /* virtual address inside the MR of lkey */
	uint32_t length;
	uint32_t lkey;
};

enum tp_wr_opcode {
	TP_WR_SEND,
	TP_WR_SEND_WITH_IMM,
	TP_WR_RDMA_WRITE,
	TP_WR_RDMA_WRITE_WITH_IMM,
	TP_WR_RDMA_READ,
	TP_WR_ATOMIC_CMP_SWP,	/* 8 bytes at remote_addr, 8-byte aligned */
	TP_WR_ATOMIC_FETCH_ADD,
};

enum tp_send_flags {
	TP_SEND_SIGNALED = 1 << 0, /* generate a completion (unless sq_sig_all) */
	TP_SEND_INLINE = 1 << 1,   /* copy the data at post time; lkeys ignored */
	TP_SEND_FENCE = 1 << 2,	   /* wait for prior READ/atomic to complete */
	TP_SEND_SOLICITED = 1 << 3,
};

struct tp_send_wr {
	uint64_t wr_id;
	enum tp_wr_opcode opcode;
	unsigned flags;		 /* enum tp_send_flags */
	const struct tp_sge *sg_list;
	int num_sge;
	uint32_t imm_data;	 /* host byte order */
	uint64_t remote_addr;	 /* RDMA and atomics */
	uint32_t rkey;
	uint64_t compare_add;	 /* CMP_SWP: compare; FETCH_ADD: add */
	uint64_t swap;		 /* CMP_SWP */
};

struct tp_recv_wr {
	uint64_t wr_id;
	const struct tp_sge *sg_list;
	int num_sge;
};

/* Post n work requests in order.  On a request that cannot be accepted
 * (bad argument, queue full, QP in the wrong state) returns a negative errno
 * and sets *bad (if not NULL) to its index; the ones before it were posted.
 *   -EINVAL: post_send outside RTS/SQD/ERR (SQD queues without sending);
 *            post_recv in RESET; num_sge over the QP's max; a message over
 *            2^31 bytes; INLINE over max_inline_data or on a READ/atomic; an
 *            atomic without exactly one SGE of 8 bytes; a READ/atomic on a
 *            QP whose max_rd_atomic is 0.
 *   -ENOMEM: the queue is full.
 * On a QP in ERR, WRs are accepted and complete at once with WR_FLUSH_ERR.
 * Local keys are checked when a WR executes (TP_WC_LOC_PROT_ERR), remote
 * keys by the responder (TP_WC_REM_ACCESS_ERR); an atomic's remote_addr
 * must be 8-byte aligned (TP_WC_REM_INV_REQ_ERR otherwise). */
int tp_post_send(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad);
int tp_post_recv(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad);

/* ---- counters ------------------------------------------------------------- */

/* Transport events since the device was opened (all QPs), for `loom perf`
 * and tests.  Providers fill what applies and leave the rest 0. */
struct tp_counters {
	uint64_t tx_packets, rx_packets;
	uint64_t tx_bytes, rx_bytes;
	uint64_t retransmits;	   /* packets sent again */
	uint64_t timeouts;	   /* retransmission timer expiries */
	uint64_t naks_sent, naks_received;	/* PSN sequence error NAKs */
	uint64_t rnr_naks_sent, rnr_naks_received;
	uint64_t duplicates;	   /* duplicate requests received */
	uint64_t icrc_errors;	   /* packets dropped on a bad ICRC */
	uint64_t malformed;	   /* packets dropped as malformed */
	uint64_t pkey_violations;  /* packets dropped for a P_Key mismatch */
	uint64_t fault_dropped, fault_duplicated, fault_reordered, fault_delayed,
		fault_corrupted;   /* what fault injection did */
	uint64_t fault_marked;	   /* packets fault injection marked ECN CE */
	uint64_t ecn_marked;	   /* requests received with ECN CE */
	uint64_t cnps_sent, cnps_received; /* congestion notifications (RoCEv2 CNP) */
	uint64_t cc_rate_cuts;	   /* requester rate cuts on a CNP */
	uint64_t cc_rate_mbps;	   /* a gauge, not a count: the current rate limit
				    * (Mbit/s) of the QP whose rate changed last,
				    * 0 while it is unlimited */
};

int tp_device_counters(struct tp_device *dev, struct tp_counters *c);

#ifdef __cplusplus
}
#endif
#endif

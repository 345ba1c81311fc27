/*
 * ibvp.h - the ibverbs provider's private interface: the libibverbs entry
 * points it resolves at run time, its objects (each embedding the core's
 * generic one), and the translation between Loom's transport API and
 * <infiniband/verbs.h>.
 *
 * Not the public contract (include/loom/transport.h); not installed.  The
 * verbs header is used for struct layouts, enum values and the static inline
 * data-path calls (ibv_post_send, ibv_post_recv, ibv_poll_cq,
 * ibv_req_notify_cq call through the context's ops table); every exported
 * libibverbs function is called through struct ibvp_lib, so Loom links
 * without -libverbs and runs where libibverbs.so.1 is absent.
 *
 * Concurrency contract:
 *   - struct ibvp_device.qps_lock (rwlock) guards the QP lookup table:
 *     qp_init/qp_fini take the write side, completion translation the read
 *     side across a whole poll batch (so a QP cannot be freed under it).
 *   - A QP's send and receive rings (struct ibvp_ring): tail is written by
 *     the poster under tp_qp.lock and published with release before the WR
 *     reaches the NIC; head is written only by the CQ's consumer (poll) with
 *     release and read by the poster with acquire to test for a full queue.
 *   - tp_qp.state is written under tp_qp.lock, by the core (modify) and by
 *     this provider when a completion or async event reports the QP in
 *     error.  Lock order: qps_lock (read), then tp_qp.lock.
 */
#ifndef LOOM_RUNTIME_IBVERBS_IBVP_H
#define LOOM_RUNTIME_IBVERBS_IBVP_H

#include <infiniband/verbs.h>
#include <stdatomic.h>

#include "../transport/provider.h"

/* ---- libibverbs, resolved with dlsym ------------------------------------ */

struct ibvp_lib {
	struct ibv_device **(*get_device_list)(int *num_devices);
	void (*free_device_list)(struct ibv_device **list);
	const char *(*get_device_name)(struct ibv_device *device);
	struct ibv_context *(*open_device)(struct ibv_device *device);
	int (*close_device)(struct ibv_context *context);
	int (*query_device)(struct ibv_context *context, struct ibv_device_attr *attr);
	/* The exported entry point fills the fields of struct ibv_port_attr up
	 * to and including link_layer and flags (its "compat" prefix). */
	int (*query_port)(struct ibv_context *context, uint8_t port_num,
			  struct ibv_port_attr *attr);
	int (*query_gid)(struct ibv_context *context, uint8_t port_num, int index,
			 union ibv_gid *gid);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *context);
	int (*destroy_comp_channel)(struct ibv_comp_channel *channel);
	struct ibv_cq *(*create_cq)(struct ibv_context *context, int cqe, void *cq_context,
				    struct ibv_comp_channel *channel, int comp_vector);
	int (*destroy_cq)(struct ibv_cq *cq);
	int (*get_cq_event)(struct ibv_comp_channel *channel, struct ibv_cq **cq,
			    void **cq_context);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned int nevents);
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask);
	int (*query_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask,
			struct ibv_qp_init_attr *init_attr);
	int (*destroy_qp)(struct ibv_qp *qp);
	int (*get_async_event)(struct ibv_context *context, struct ibv_async_event *event);
	void (*ack_async_event)(struct ibv_async_event *event);
};

/* The library named by $LOOM_IBVERBS_LIB (default "libibverbs.so.1"),
 * loaded on first use of that name and never unloaded; NULL with the reason
 * in loom_err_msg() when it cannot be loaded or lacks an entry point.  A
 * failed load is retried by the next call. */
const struct ibvp_lib *ibvp_lib_get(void);
/* Use lib instead of the loaded library from now on (NULL: back to the
 * loaded one): the seam through which tests drive the provider with a
 * software NIC.  Objects made with one library must be freed with it. */
void ibvp_lib_override(const struct ibvp_lib *lib);

/* ---- objects -------------------------------------------------------------- */

/* The local port a device was opened on: what an address and an address
 * vector are built from. */
struct ibvp_port {
	uint8_t port_num;
	uint8_t gid_index;
	uint8_t link_layer; /* IBV_LINK_LAYER_*; UNSPECIFIED counts as InfiniBand */
	uint16_t lid;
	union ibv_gid gid;
	int active_mtu;	    /* enum ibv_mtu */
	uint8_t sl;	    /* service level of every address vector */
	uint8_t tclass;	    /* GRH traffic class (RoCE: DSCP << 2 | ECN) */
};

#define IBVP_QP_BUCKETS 256

struct ibvp_qp;

struct ibvp_device {
	struct tp_device base;
	const struct ibvp_lib *lib;
	struct ibv_context *ctx;
	struct ibvp_port port;
	struct ibv_device_attr attr; /* the NIC's limits, for error messages */
	bool atomic_reply_be;	     /* the NIC writes fetched atomic values big-endian */
	pthread_rwlock_t qps_lock;
	struct ibvp_qp *qps[IBVP_QP_BUCKETS]; /* by qp_num, chained on ibvp_qp.next */
	_Atomic uint32_t next_epoch;
};

struct ibvp_pd {
	struct tp_pd base;
	struct ibv_pd *pd;
};

struct ibvp_mr {
	struct tp_mr_obj base;
	struct ibv_mr *mr;
};

struct ibvp_cq {
	struct tp_cq base;
	struct ibv_cq *cq;
	struct ibv_comp_channel *channel; /* its fd (nonblocking) is base.efd */
	_Atomic bool overflow;		  /* the NIC reported IBV_EVENT_CQ_ERR */
	bool stashed;			  /* tp_cq_wait took stash off the NIC */
	struct tp_wc stash;
	unsigned empty_polls;		  /* paces the async-event check */
};

/* What a WR was when posted, for its completion: the NIC's wr_id is an
 * index into these (see IBVP_WRID_*). */
struct ibvp_slot {
	uint64_t wr_id;	      /* the caller's */
	uint64_t result_addr; /* an atomic's 8-byte result, 0 for other WRs */
	uint32_t length;      /* message bytes (send) */
	uint8_t opcode;	      /* enum tp_wc_opcode (send) */
};

/* Outstanding WRs [head, tail) of one work queue; indices free-run. */
struct ibvp_ring {
	struct ibvp_slot *slot;
	uint32_t size; /* max_send_wr / max_recv_wr as created */
	_Atomic uint64_t head, tail;
};

struct ibvp_qp {
	struct tp_qp base;
	struct ibv_qp *qp;
	struct ibvp_ring sq, rq;
	_Atomic uint32_t epoch; /* changes at creation and every RESET */
	struct ibvp_qp *next;	/* lookup table chain, under qps_lock */
};

/*
 * The wr_id handed to the NIC: bit 63 set for a receive, bits 40..62 the
 * QP's epoch, bits 0..39 the WR's index in its ring.  A completion whose
 * epoch or index is not outstanding (left over from before a RESET, or of a
 * destroyed QP whose number was reused) is dropped.
 */
#define IBVP_WRID_RECV (1ull << 63)
#define IBVP_WRID_EPOCH_SHIFT 40
#define IBVP_WRID_EPOCH_MASK 0x7fffffu
#define IBVP_WRID_INDEX_MASK ((1ull << IBVP_WRID_EPOCH_SHIFT) - 1)

static inline struct ibvp_device *to_ibvp_dev(struct tp_device *d)
{
	return tp_container_of(d, struct ibvp_device, base);
}

static inline struct ibvp_pd *to_ibvp_pd(struct tp_pd *p)
{
	return tp_container_of(p, struct ibvp_pd, base);
}

static inline struct ibvp_mr *to_ibvp_mr(struct tp_mr_obj *m)
{
	return tp_container_of(m, struct ibvp_mr, base);
}

static inline struct ibvp_cq *to_ibvp_cq(struct tp_cq *c)
{
	return tp_container_of(c, struct ibvp_cq, base);
}

static inline struct ibvp_qp *to_ibvp_qp(struct tp_qp *q)
{
	return tp_container_of(q, struct ibvp_qp, base);
}

/* ---- CQs (ibvp_cq.c) -------------------------------------------------------- */

int ibvp_cq_init(struct tp_cq *cq, int cqe);
void ibvp_cq_fini(struct tp_cq *cq);
int ibvp_cq_poll(struct tp_cq *cq, int n, struct tp_wc *wc);
int ibvp_cq_wait(struct tp_cq *cq, int timeout_ms);
int ibvp_cq_req_notify(struct tp_cq *cq);
int ibvp_cq_ack_notify(struct tp_cq *cq);
/* Handle every pending async event of the device (nonblocking): a CQ error
 * marks the CQ overflowed, a QP error moves the QP to ERR. */
void ibvp_async_drain(struct ibvp_device *d);

/* ---- QPs (ibvp_qp.c) ---------------------------------------------------------- */

int ibvp_qp_init(struct tp_qp *qp);
void ibvp_qp_fini(struct tp_qp *qp);
int ibvp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask);
void ibvp_post_send_kick(struct tp_qp *qp);
int ibvp_post_send(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad);
int ibvp_post_recv(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad);
/* The QP numbered qp_num, or NULL; caller holds d->qps_lock. */
struct ibvp_qp *ibvp_qp_lookup(struct ibvp_device *d, uint32_t qp_num);
/* Record that the NIC put the QP in error (not RESET: a reset QP stays). */
void ibvp_qp_mark_err(struct ibvp_qp *q);
/* Translate a completion of one of d's QPs into wc and retire its WR;
 * false when it belongs to no outstanding WR (dropped).  Caller holds
 * d->qps_lock (read). */
bool ibvp_wc_translate(struct ibvp_device *d, const struct ibv_wc *iw, struct tp_wc *wc);

/* ---- translation (ibvp_xlate.c; pure functions) ----------------------------------- */

/* enum tp_access bits <-> IBV_ACCESS_* bits; -1 when a bit has no
 * counterpart. */
int ibvp_access_to_ibv(unsigned tp_access);
int ibvp_access_from_ibv(unsigned ibv_access);
/* enum tp_wr_opcode <-> enum ibv_wr_opcode; -1 when there is none. */
int ibvp_wr_opcode_to_ibv(int tp_op);
int ibvp_wr_opcode_from_ibv(int ibv_op);
/* enum tp_send_flags bits <-> IBV_SEND_* bits; -1 for an unknown bit. */
int ibvp_send_flags_to_ibv(unsigned tp_flags);
int ibvp_send_flags_from_ibv(unsigned ibv_flags);
/* enum tp_wc_status -> enum ibv_wc_status (-1 when out of range), and
 * back: every ibv status has a Loom status (those Loom does not model,
 * of RD/EEC, tag matching or unknown, become TP_WC_GENERAL_ERR). */
int ibvp_wc_status_to_ibv(int tp_status);
enum tp_wc_status ibvp_wc_status_from_ibv(int ibv_status);
/* enum tp_wc_opcode <-> enum ibv_wc_opcode; -1 when there is none. */
int ibvp_wc_opcode_to_ibv(int tp_op);
int ibvp_wc_opcode_from_ibv(int ibv_op);
/* enum tp_qp_state <-> enum ibv_qp_state (SQE, an RC QP's send queue in
 * error, reads as ERR); -1 when there is none. */
int ibvp_qp_state_to_ibv(int tp_state);
int ibvp_qp_state_from_ibv(int ibv_state);
/* Path MTU bytes <-> enum ibv_mtu; -1 / 0 when not a valid MTU. */
int ibvp_mtu_to_ibv(uint32_t bytes);
uint32_t ibvp_mtu_from_ibv(int ibv_mtu);

/* A device address (struct tp_addr of provider ibverbs), IBVP_ADDR_LEN bytes:
 *   [0, 16)  GID, as in union ibv_gid (network order)
 *   [16, 18) LID, big-endian (0 on RoCE)
 *   [18]     port number   [19] GID index   [20] link layer (IBV_LINK_LAYER_*) */
#define IBVP_ADDR_LEN 21
void ibvp_addr_encode(const struct ibvp_port *p, struct tp_addr *a);
/* 0, or -EINVAL with the reason for an address that is not one. */
int ibvp_addr_decode(const struct tp_addr *a, struct ibvp_port *p);
int ibvp_addr_format(const struct tp_addr *a, char *buf, size_t len);

/* The ibv_modify_qp arguments for a checked Loom transition: na holds the
 * attributes after it (na->state the new state), mask the attributes the
 * caller set, cur the state before.  Adds what verbs needs and Loom does
 * not model (RESET->INIT: pkey_index 0 and the port), builds the address
 * vector from na->dest (RoCE: a GRH with is_global = 1 to the peer's GID
 * from the local GID index; InfiniBand: the peer's LID), and lowers a path
 * MTU above the port's active MTU to it.  0 or -EINVAL with the reason. */
int ibvp_qp_attr_to_ibv(const struct ibvp_port *p, int cur, const struct tp_qp_attr *na,
			unsigned mask, struct ibv_qp_attr *ia, int *ibv_mask);

#endif

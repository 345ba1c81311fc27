/*
 * provider.h - the transport core's internal interface: the generic objects
 * every provider embeds, the provider ops table, and the helpers providers
 * share (options, MR key checks, the generic CQ, work queues, QP error
 * handling, counters, IBA timer encodings).
 *
 * Not the public contract (include/loom/transport.h is); nothing here is
 * installed.  Who allocates: the core allocates each device and QP with the
 * provider's size (ops->device_size, ops->qp_size), so the generic object is
 * embedded in the provider's struct and recovered with container_of
 * (to_shm_qp() in runtime/shm/shm.h), as rdma-core's providers do; PDs, MRs
 * and CQs are generic.  A provider whose objects live elsewhere (ibverbs: in
 * the NIC, through rdma-core) sets the optional PD/MR/CQ/post hooks at the
 * end of struct tp_provider_ops: the core then allocates those objects with
 * the provider's size and calls the hooks instead of its generic code (key
 * table, CQ ring, work queues), keeping only argument checks, child counts
 * and the QP state machine.
 *
 * Concurrency contract (what the core guarantees and expects):
 *   - tp_device.lock guards the child counts of the device and its PDs and
 *     CQs (creation and destruction only; never on a data path).
 *   - tp_qp.lock guards the QP's state, attributes, both work queues and the
 *     provider's protocol state of that QP.  The core holds it around
 *     ops->qp_modify and ops->post_send_kick; providers hold it while they
 *     run the QP's protocol.  Lock order: tp_qp.lock, then a CQ's lock, then
 *     the MR table's read lock.
 *   - The MR table is a writer-preferring rwlock: providers hold the read
 *     side (tp_mr_read_lock) across a key check *and* the copy into or out of
 *     the region, so tp_mr_dereg (write side) returns only once no copy into
 *     that memory is in flight.
 */
#ifndef LOOM_RUNTIME_TRANSPORT_PROVIDER_H
#define LOOM_RUNTIME_TRANSPORT_PROVIDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/transport.h"

#define tp_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tp_provider_ops;

/* ---- options ------------------------------------------------------------ */

enum tp_opt_type {
	TP_OPT_U64,  /* unsigned integer in [min, max] */
	TP_OPT_F64,  /* real number in [min, max] */
	TP_OPT_BOOL, /* 0/1/true/false/yes/no/on/off */
	TP_OPT_STR,  /* any string up to TP_OPT_VAL_MAX - 1 bytes */
};

/* One key a provider accepts; a provider's table ends with { .key = NULL }. */
struct tp_opt_spec {
	const char *key;
	enum tp_opt_type type;
	double min, max; /* U64 and F64 only */
	const char *help;
};

#define TP_OPTS_MAX 32
#define TP_OPT_KEY_MAX 48
#define TP_OPT_VAL_MAX 80

/* Parsed, validated options for one provider; a later key overrides an
 * earlier one. */
struct tp_opts {
	int n;
	struct {
		char key[TP_OPT_KEY_MAX];
		char val[TP_OPT_VAL_MAX];
	} kv[TP_OPTS_MAX];
};

/* Parse list ("key=value", NULL-terminated; may be NULL) then env ("k=v,k=v";
 * may be NULL) for provider ops.  "prov:key=value" applies only to provider
 * prov and is skipped for the others; an unprefixed key must be in
 * ops->opts.  0 or -EINVAL with the reason. */
int tp_opts_parse(const struct tp_provider_ops *ops, const char *const *list, const char *env,
		  struct tp_opts *out);
/* Value of key, or def when absent (values were range-checked by parse). */
uint64_t tp_opts_u64(const struct tp_opts *o, const char *key, uint64_t def);
double tp_opts_f64(const struct tp_opts *o, const char *key, double def);
bool tp_opts_bool(const struct tp_opts *o, const char *key, bool def);
const char *tp_opts_str(const struct tp_opts *o, const char *key, const char *def);

/* ---- devices, PDs, MRs ---------------------------------------------------- */

/* Counter slot i mirrors the i-th uint64_t field of struct tp_counters. */
#define TP_CNT(field) (offsetof(struct tp_counters, field) / sizeof(uint64_t))
#define TP_CNT_N (sizeof(struct tp_counters) / sizeof(uint64_t))

struct tp_mr_obj;

/* Device-wide MR key table.  A key is (index << 8) | tag: index 1.. names a
 * slot, the tag changes with every registration so a stale key misses; an
 * rkey has tag bit 7 set and an lkey has it clear, so neither works as the
 * other. */
struct tp_mr_table {
	pthread_rwlock_t lock;
	struct tp_mr_obj **slot; /* slot[index], NULL when free; slot[0] unused */
	uint32_t cap;
	uint32_t next_tag;
};

struct tp_mem_obj;

struct tp_device {
	const struct tp_provider_ops *ops;
	char name[TP_NAME_MAX];
	pthread_mutex_t lock; /* n_pd, n_cq, mems, n_mem, and every PD's counts */
	int n_pd, n_cq;
	struct tp_mem_obj *mems; /* tp_mem_alloc blocks (mem.c) */
	int n_mem;
	struct tp_mr_table mrs;
	_Atomic uint64_t counters[TP_CNT_N];
};

struct tp_pd {
	struct tp_device *dev;
	int n_mr, n_qp; /* under dev->lock */
};

struct tp_mr_obj {
	struct tp_mr mr; /* the public part handed to the caller */
	struct tp_device *dev;
	uint32_t index;
};

static inline struct tp_mr_obj *to_mr_obj(struct tp_mr *mr)
{
	return tp_container_of(mr, struct tp_mr_obj, mr);
}

static inline void tp_count(struct tp_device *dev, size_t slot, uint64_t n)
{
	atomic_fetch_add_explicit(&dev->counters[slot], n, memory_order_relaxed);
}

int tp_mr_table_init(struct tp_mr_table *t);
void tp_mr_table_fini(struct tp_mr_table *t);
void tp_mr_read_lock(struct tp_device *dev);
void tp_mr_read_unlock(struct tp_device *dev);

/*
 * Check that [addr, addr + len) lies inside the MR named by key, that the MR
 * belongs to pd and grants every bit of access.  remote selects the key kind
 * and the failure status: an rkey fails with TP_WC_REM_ACCESS_ERR, an lkey
 * with TP_WC_LOC_PROT_ERR.  len 0 always passes (IBA: a zero-length access
 * checks no key).  Caller holds tp_mr_read_lock(pd->dev).
 */
enum tp_wc_status tp_mr_check(struct tp_pd *pd, uint32_t key, uint64_t addr, uint64_t len,
			      unsigned access, bool remote);
/* tp_mr_check over a local gather/scatter list. */
enum tp_wc_status tp_sge_check(struct tp_pd *pd, const struct tp_sge *sge, int n,
			       unsigned access);
/* tp_mr_check over the bytes [off, off + len) of the message an SGE list
 * describes (only the SGEs those bytes touch); TP_WC_LOC_LEN_ERR when the
 * list is shorter than off + len. */
enum tp_wc_status tp_sge_check_range(struct tp_pd *pd, const struct tp_sge *sge, int n,
				     uint64_t off, uint64_t len, unsigned access);
/* Copy len bytes between a linear buffer and the bytes [off, off + len) of
 * the message an SGE list describes (already checked). */
void tp_sge_copy_in(const struct tp_sge *sge, int n, uint64_t off, const void *src, size_t len);
void tp_sge_copy_out(const struct tp_sge *sge, int n, uint64_t off, void *dst, size_t len);

/* One tp_mem_alloc block (mem.c); len is a whole number of pages. */
struct tp_mem_obj {
	struct tp_mem_obj *next;
	void *addr;
	size_t len;
};

/* ---- completion queues ------------------------------------------------------ */

/* The generic CQ: a ring of tp_wc under a mutex, an eventfd for
 * notification.  Producers: provider progress (tp_cq_push); consumer: the
 * caller of tp_cq_poll. */
struct tp_cq {
	struct tp_device *dev;
	pthread_mutex_t lock;
	struct tp_wc *ring;
	uint32_t size;		/* entries */
	uint64_t head, tail;	/* consumed / produced, free-running */
	bool overflow;		/* a push found it full: the CQ is in error */
	bool armed;		/* tp_cq_req_notify() and no event since */
	int efd;		/* eventfd, nonblocking */
	int n_qp;		/* QPs using it, under dev->lock */
};

/* Add a completion; -EOVERFLOW when the CQ is full (it is then in error and
 * the caller moves its QP to ERR). */
int tp_cq_push(struct tp_cq *cq, const struct tp_wc *wc);

/* ---- queue pairs -------------------------------------------------------------- */

/* The completion opcode of a send WR's opcode (what its requester completion
 * reports). */
enum tp_wc_opcode tp_wc_opcode_of_wr(enum tp_wr_opcode op);

/* A send WR as the core queued it: the caller's WR with its SGE list (and
 * inline bytes) copied into storage owned by the queue. */
struct tp_send_wqe {
	struct tp_send_wr wr; /* wr.sg_list points at sge */
	struct tp_sge *sge;   /* max_send_sge entries */
	uint8_t *inl;	      /* max_inline_data bytes; holds the data when INLINE */
	uint32_t length;      /* message bytes (sum of the SGE lengths) */
	bool signaled;	      /* SIGNALED or sq_sig_all */
	enum tp_wc_status status; /* set by the provider on a local error */
	uint32_t vendor_err;
};

struct tp_recv_wqe {
	uint64_t wr_id;
	int num_sge;
	struct tp_sge *sge; /* max_recv_sge entries */
	uint32_t length;    /* capacity in bytes */
};

/* A work queue: entries [head, tail) are outstanding; indices free-run and
 * entry i lives at slot i % size. */
struct tp_wq {
	uint32_t size;
	uint64_t head, tail;
	void *wqe;	   /* struct tp_send_wqe[size] or struct tp_recv_wqe[size] */
	void *storage; /* the SGE and inline bytes the entries point into */
};

struct tp_qp {
	struct tp_pd *pd;
	struct tp_device *dev;
	struct tp_cq *send_cq, *recv_cq;
	struct tp_qp_init_attr init; /* capacities as created */
	uint32_t qp_num;	     /* set by ops->qp_init */
	pthread_mutex_t lock;	     /* see the contract above */
	enum tp_qp_state state;
	struct tp_qp_attr attr; /* attributes as last set */
	struct tp_wq sq, rq;
};

static inline struct tp_send_wqe *tp_sq_wqe(struct tp_qp *qp, uint64_t i)
{
	return &((struct tp_send_wqe *)qp->sq.wqe)[i % qp->sq.size];
}

static inline struct tp_recv_wqe *tp_rq_wqe(struct tp_qp *qp, uint64_t i)
{
	return &((struct tp_recv_wqe *)qp->rq.wqe)[i % qp->rq.size];
}

/* Complete the send WQE at the SQ head with status (a completion is made
 * when it is signaled or failed) and pop it.  A CQ overflow moves the QP to
 * ERR.  Caller holds qp->lock; the SQ is not empty. */
void tp_sq_complete(struct tp_qp *qp, enum tp_wc_status status, uint32_t vendor_err);
/* Complete the receive WQE at the RQ head and pop it. */
void tp_rq_complete(struct tp_qp *qp, enum tp_wc_status status, enum tp_wc_opcode op,
		    uint32_t byte_len, const uint32_t *imm, uint32_t vendor_err);
/* Move the QP to ERR (IBA 10.3.1: from any state) and flush every
 * outstanding WQE of both queues with TP_WC_WR_FLUSH_ERR.  Caller holds
 * qp->lock.  For errors the provider detects: it does not call back into
 * the provider, which stops running the QP's protocol once state is ERR. */
void tp_qp_to_err(struct tp_qp *qp);

/* ---- QP state machine (qp_state.c) ---------------------------------------------- */

/* 0 when cur -> next with mask is a legal transition of an RC QP carrying
 * every required attribute and no forbidden one, with values in range;
 * -EINVAL with the reason otherwise. */
int tp_qp_check_modify(uint32_t qp_num, enum tp_qp_state cur, enum tp_qp_state next,
		       const struct tp_qp_attr *attr, unsigned mask);
/* The attributes after applying the masked fields of attr to cur. */
void tp_qp_attr_merge(struct tp_qp_attr *cur, const struct tp_qp_attr *attr, unsigned mask);

/* ---- IBA encodings ------------------------------------------------------------- */

/* Local ACK timeout in microseconds: 4.096 us * 2^timeout; 0 = infinite
 * (returned as 0). */
uint64_t tp_ack_timeout_us(uint8_t timeout);
/* RNR NAK timer in microseconds for the 5-bit encoding (IBA table 45). */
uint64_t tp_rnr_timer_us(uint8_t enc);
/* 24-bit PSN order: < 0, 0, > 0 as a precedes, equals, follows b
 * (REFERENCE 7: the sign of (a - b) << 8). */
static inline int tp_psn_cmp(uint32_t a, uint32_t b)
{
	return (int32_t)((a - b) << 8);
}

/* ---- the provider ops table ------------------------------------------------------ */

struct tp_provider_ops {
	const char *name;
	const struct tp_opt_spec *opts; /* keys accepted by device_open */
	size_t device_size;		/* >= sizeof(struct tp_device) */
	size_t qp_size;			/* >= sizeof(struct tp_qp) */

	/* Devices this provider can open (at most max into list); the count
	 * found or -errno. */
	int (*get_devices)(struct tp_device_info *list, int max);
	/* Open name into dev (zeroed, generic part initialized); 0 or -errno. */
	int (*device_open)(struct tp_device *dev, const char *name, const struct tp_opts *opts);
	/* Release everything device_open acquired (no children are left). */
	void (*device_close)(struct tp_device *dev);
	int (*device_addr)(struct tp_device *dev, struct tp_addr *addr);
	int (*addr_format)(const struct tp_addr *addr, char *buf, size_t len);

	/* Provider part of a new QP (generic part ready, state RESET): assign
	 * qp->qp_num.  qp_fini undoes it; the QP is in RESET or ERR and no
	 * longer reachable by the provider's progress when it returns. */
	int (*qp_init)(struct tp_qp *qp);
	void (*qp_fini)(struct tp_qp *qp);
	/* Apply a checked transition: na holds every attribute after the
	 * change, na->state the new state.  Called with qp->lock held, before
	 * the core commits na; a failure leaves the QP as it was. */
	int (*qp_modify)(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask);
	/* Send WQEs are waiting: new ones were queued (state RTS or SQD), or
	 * the QP went from SQD back to RTS.  qp->lock held. */
	void (*post_send_kick)(struct tp_qp *qp);
	/* Optional: in SQD, whether started messages are still in flight
	 * (tp_qp_attr.sq_draining); qp->lock held.  NULL: never draining. */
	bool (*qp_sq_draining)(struct tp_qp *qp);
	/* Optional: make progress without blocking (tp_cq_poll calls it when
	 * the CQ is empty); NULL when the provider's own thread does it all. */
	void (*progress)(struct tp_device *dev);

	/* Optional hooks for a provider that owns its PDs, MRs, CQs and work
	 * queues (ibverbs); NULL (and size 0) = the core's generic code, as for
	 * shm and udp.  Sizes are the provider's structs embedding struct
	 * tp_pd, struct tp_mr_obj, struct tp_cq.  The core checks arguments
	 * and keeps the child counts; the hooks do the rest. */
	size_t pd_size, mr_size, cq_size;
	/* pd->dev is set; 0 or -errno with the reason. */
	int (*pd_init)(struct tp_pd *pd);
	void (*pd_fini)(struct tp_pd *pd);
	/* m->mr holds the checked pd, addr, length and access: register it and
	 * set m->mr.lkey/rkey (the core's key table is not used). */
	int (*mr_init)(struct tp_mr_obj *m);
	void (*mr_fini)(struct tp_mr_obj *m);
	/* All six or none.  cq_init gets cq->dev and cq->size set and sets
	 * cq->efd (what tp_cq_fd returns; the provider closes it in cq_fini);
	 * the core's ring, lock and eventfd are not used.  The others implement
	 * tp_cq_poll/wait/req_notify/ack_notify after the core's NULL checks. */
	int (*cq_init)(struct tp_cq *cq, int cqe);
	void (*cq_fini)(struct tp_cq *cq);
	int (*cq_poll)(struct tp_cq *cq, int n, struct tp_wc *wc);
	int (*cq_wait)(struct tp_cq *cq, int timeout_ms);
	int (*cq_req_notify)(struct tp_cq *cq);
	int (*cq_ack_notify)(struct tp_cq *cq);
	/* Both or none: tp_post_send/tp_post_recv go straight here (qp, wr and
	 * bad non-NULL, n >= 0; no lock held) and the generic work queues are
	 * not allocated, so post_send_kick is never called. */
	int (*post_send)(struct tp_qp *qp, const struct tp_send_wr *wr, int n, int *bad);
	int (*post_recv)(struct tp_qp *qp, const struct tp_recv_wr *wr, int n, int *bad);

	/* Optional, both or none: memory the provider can pass to peers by
	 * reference (tp_mem_alloc).  mem_alloc maps len bytes (whole pages)
	 * of zeroed memory at *addr, 0 or -errno with the reason; mem_free
	 * unmaps it.  NULL: the core's page-aligned heap memory. */
	int (*mem_alloc)(struct tp_device *dev, size_t len, void **addr);
	void (*mem_free)(struct tp_device *dev, void *addr, size_t len);
};

/* Providers the core knows (core.c's table); NULL ops = not built yet. */
extern const struct tp_provider_ops shm_provider_ops;
extern const struct tp_provider_ops udp_provider_ops;
extern const struct tp_provider_ops ibverbs_provider_ops;

/* Monotonic time in microseconds. */
uint64_t tp_now_us(void);

#endif

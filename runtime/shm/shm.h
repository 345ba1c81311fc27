/*
 * shm.h - the shm provider's internal structures: the layout of a device's
 * shared-memory segment (shared by every process that maps it, so checked at
 * compile time), the request/response record, and the per-process device
 * and QP state.  Design notes are in shm.c.
 *
 * Concurrency contract:
 *   - Each ring is single-producer/single-consumer across processes.  The
 *     producer writes records, then publishes `prod` with release; the
 *     consumer reads `prod` with acquire, reads the records, then publishes
 *     `cons` with release.  Who may produce is fixed by the connection: only
 *     the QP named by slot.peer_uid/peer_qpn while slot.conn holds the nonce
 *     it adopted (shm_qp.c).
 *   - Sleep/wake (Dekker pairs, both sides seq_cst): the progress thread
 *     stores sleeping = 1, re-checks its rings, then futex-waits on
 *     doorbell; a producer publishes, fences, and wakes it when sleeping is
 *     set.  A producer that finds a ring full stores want_space = 1 and
 *     re-reads cons; the consumer publishes cons, fences, and rings the
 *     producer's doorbell when want_space is set.
 *   - Everything in struct shm_qp is guarded by its tp_qp.lock;
 *     shm_device.qps by qps_lock (read: progress, write: QP create/destroy);
 *     the peer list by peers_lock.
 */
#ifndef LOOM_RUNTIME_SHM_SHM_H
#define LOOM_RUNTIME_SHM_SHM_H

#include <stdalign.h>

#include "../transport/provider.h"

#define SHM_MAGIC 0x314d48534d4f4f4cull /* "LOOMSHM1" */
#define SHM_VERSION 2		/* 2: by-reference records (SHM_F_REF) */
#define SHM_REC 64			/* record alignment and header size */
#define SHM_SLOT_HDR 4096		/* a slot's control page before its rings */
#define SHM_NAME_PREFIX "loom-shm."

/* ---- the shared segment --------------------------------------------------- */

/* Page 0 of a device's segment. */
struct shm_seg_hdr {
	_Atomic uint64_t magic; /* SHM_MAGIC, stored last (release) */
	uint32_t version;
	uint32_t max_qp;
	uint64_t uid;	     /* random; names this device instance */
	uint64_t ring_bytes; /* data bytes per ring, a power of two */
	uint64_t slot_bytes; /* stride of the slot table */
	uint64_t slots_off;  /* offset of slot 0 */
	int32_t pid;	     /* owner, for humans; liveness uses `life` */
	_Atomic uint32_t closed; /* closed, or found dead (shm_seg.c) */
	/* Robust, process-shared; held by the owner's progress thread for the
	 * device's lifetime, so a dead owner reads as EOWNERDEAD. */
	pthread_mutex_t life;
	alignas(64) _Atomic uint32_t doorbell; /* futex word */
	_Atomic uint32_t sleeping;
};

/* The indices of one ring: the producer's line and the consumer's line. */
struct shm_ring_ctl {
	alignas(64) _Atomic uint64_t prod; /* bytes produced, free-running */
	_Atomic uint32_t want_space;	   /* producer waits for room */
	alignas(64) _Atomic uint64_t cons; /* bytes consumed */
};

/* One QP's slot: who may write to it, and its two incoming rings (data
 * follows at SHM_SLOT_HDR: request ring, then response ring). */
struct shm_slot {
	alignas(64) _Atomic uint32_t qpn; /* the QP living here; 0 = free */
	_Atomic uint32_t conn;		  /* connection nonce; 0 = not receiving */
	_Atomic uint32_t peer_qpn;
	_Atomic uint64_t peer_uid;
	struct shm_ring_ctl req;  /* requests from the peer's requester */
	struct shm_ring_ctl resp; /* responses from the peer's responder */
};

_Static_assert(sizeof(struct shm_seg_hdr) <= 4096, "segment header fits page 0");
_Static_assert(sizeof(struct shm_slot) <= SHM_SLOT_HDR, "slot control fits its page");
_Static_assert(offsetof(struct shm_ring_ctl, cons) == 64, "prod and cons on separate lines");

/* ---- records ------------------------------------------------------------------ */

enum shm_rec_kind {
	SHM_REQ_SEND = 1,
	SHM_REQ_WRITE,
	SHM_REQ_READ,
	SHM_REQ_CMP_SWP,
	SHM_REQ_FETCH_ADD,
	SHM_RESP_ACK,	 /* cumulative: every SEND/WRITE up to psn is placed */
	SHM_RESP_READ,	 /* READ response data */
	SHM_RESP_ATOMIC, /* a = the original value */
	SHM_RESP_NAK,	 /* syndrome = AETH code (0x60..0x63) */
	SHM_RESP_RNR,	 /* syndrome = 0x20 | RNR timer code */
};

enum shm_rec_flags {
	SHM_F_FIRST = 1 << 0,
	SHM_F_LAST = 1 << 1,
	SHM_F_IMM = 1 << 2,
	SHM_F_SOLICITED = 1 << 3,
	/* By reference: the record has no payload; its bytes lie in the
	 * requester's shared block a at offset b (shm_mem.c), ref_len of them.
	 * On a READ request: the response goes straight into that block. */
	SHM_F_REF = 1 << 4,
};

/* AETH syndromes (REFERENCE 7), reused as NAK codes and vendor_err. */
#define SHM_AETH_RNR 0x20
#define SHM_AETH_PSN_SEQ 0x60
#define SHM_AETH_INV_REQ 0x61
#define SHM_AETH_REM_ACCESS 0x62
#define SHM_AETH_REM_OP 0x63
/* vendor_err of a RETRY_EXC_ERR the provider decided without a timeout. */
#define SHM_VERR_PEER_GONE 0x100

/* A record header; payload (len bytes) follows, padded to SHM_REC. */
struct shm_rec {
	uint8_t kind;	  /* enum shm_rec_kind */
	uint8_t flags;	  /* enum shm_rec_flags */
	uint8_t syndrome; /* NAK/RNR */
	uint8_t rsvd;
	uint32_t len;	  /* payload bytes */
	uint32_t psn;	  /* message sequence number, 24 bits */
	uint32_t epoch;	  /* requester's go-back count */
	uint32_t msg_len; /* whole message bytes */
	uint32_t rkey;
	uint32_t imm;
	uint32_t ref_len; /* SHM_F_REF: message bytes the record stands for */
	uint64_t offset; /* of this chunk in the message */
	uint64_t raddr;	 /* message start in the responder's memory */
	uint64_t a, b;	 /* atomics: compare/add, swap; responses: original;
			  * SHM_F_REF: block id, offset in the block */
};

_Static_assert(sizeof(struct shm_rec) == SHM_REC, "a record header is one cache line");
_Static_assert(offsetof(struct shm_rec, offset) == 32, "record layout");

static inline uint64_t shm_rec_bytes(uint32_t payload)
{
	return SHM_REC + (((uint64_t)payload + SHM_REC - 1) & ~(uint64_t)(SHM_REC - 1));
}

/* Message bytes a SEND/WRITE/READ-response record stands for. */
static inline uint32_t shm_rec_span(const struct shm_rec *r)
{
	return (r->flags & SHM_F_REF) ? r->ref_len : r->len;
}

/* ---- process-local state --------------------------------------------------------- */

/* A peer's shared block (tp_mem_alloc in the peer) mapped here. */
struct shm_rmap {
	uint64_t id; /* 0 = empty */
	uint8_t *base;
	size_t len;
};

#define SHM_RMAP_N 32 /* blocks of one peer kept mapped (direct-mapped by id) */

/* A mapped peer segment (or our own, for a loopback connection). */
struct shm_peer {
	struct shm_peer *next;
	char name[TP_ADDR_MAX + 1];
	struct shm_seg_hdr *hdr;
	size_t map_len;
	int refs;
	bool self;
	_Atomic bool dead; /* liveness check failed once: stays dead */
	/* Blocks of the peer mapped here: read side while copying through one,
	 * write side to map or evict (shm_mem.c). */
	pthread_rwlock_t rmap_lock;
	struct shm_rmap rmap[SHM_RMAP_N];
};

/* One of this device's shared blocks (tp_mem_alloc). */
struct shm_mem {
	uintptr_t start;
	size_t len;
	uint64_t id;
};

/* Producer end of a ring in a peer's segment. */
struct shm_tx {
	struct shm_ring_ctl *ctl;
	uint8_t *data;
	uint64_t size;	     /* ring bytes */
	uint64_t prod;	     /* our copy of ctl->prod */
	uint64_t cons_cache; /* last ctl->cons read */
};

/* Consumer end of a ring in our segment. */
struct shm_rx {
	struct shm_ring_ctl *ctl;
	uint8_t *data;
	uint64_t size;
	uint64_t cons;
	uint64_t prod_cache;
};

struct shm_requester {
	uint64_t next;	     /* SQ index of the next WQE to send */
	uint64_t next_off;   /* bytes of it already sent */
	uint64_t psn_base;   /* SQ index whose PSN is attr.sq_psn */
	uint64_t known_tail; /* SQ tail at the last kick */
	uint32_t epoch;
	unsigned rd_atomic; /* READ/atomic requests without a response */
	bool halted;	    /* a WQE failed locally: send nothing after it */
	int retry_left, rnr_left;
	uint64_t rnr_until_us; /* no sending before (RNR wait) */
	uint64_t last_progress_us;
	uint64_t next_live_us;
	uint64_t seen_cons; /* peer's cons of our request ring at the last look */
	uint64_t read_off;  /* READ response bytes placed for the SQ head */
	/* Whether each outstanding READ/atomic was sent by reference, in
	 * sending order (a FIFO of max_rd_atomic <= 255 entries). */
	uint8_t rd_ref[256];
	uint8_t rd_ref_head, rd_ref_tail;
};

struct shm_responder {
	uint32_t epsn;	    /* expected PSN */
	uint32_t min_epoch; /* requests of older epochs are discarded */
	bool in_msg;	    /* inside a multi-chunk SEND/WRITE */
	bool has_recv;	    /* the message consumes the RQ head */
	bool ack_pending;
	uint32_t ack_psn;
	unsigned unacked;
	bool reading; /* streaming a READ response */
	bool rd_ref;  /* ... straight into the requester's block */
	uint32_t rd_psn, rd_rkey, rd_len;
	uint64_t rd_addr, rd_off;
	uint64_t rd_ref_id, rd_ref_off;
};

struct shm_device;

struct shm_qp {
	struct tp_qp qp;
	struct shm_device *sdev;
	unsigned slot;
	struct shm_slot *my;
	uint32_t my_conn;	 /* nonce we published in my->conn */
	struct shm_peer *peer;	 /* from RTR to RESET */
	struct shm_slot *peer_slot;
	uint32_t peer_conn;	 /* peer's nonce we adopted; 0 = not linked */
	uint64_t tx_chunk;	 /* payload bytes per request record */
	struct shm_tx tx_req, tx_resp;
	struct shm_rx rx_req, rx_resp;
	struct shm_requester req;
	struct shm_responder resp;
};

struct shm_device {
	struct tp_device dev;
	char seg_name[TP_ADDR_MAX + 1];
	struct shm_seg_hdr *hdr;
	size_t map_len;
	int seg_fd; /* kept to reserve and release QP slots */
	unsigned max_qp;
	uint64_t ring_bytes, chunk_bytes, spin_us;
	uint64_t ref_min; /* smallest run of a shared block sent by reference */
	bool poll_progress;
	_Atomic uint64_t app_poll_us; /* the application's last progress pass */
	pthread_rwlock_t qps_lock;
	struct shm_qp **qps; /* [max_qp] by slot */
	uint16_t *gen;	     /* [max_qp] QP number generation per slot */
	pthread_mutex_t peers_lock;
	struct shm_peer *peers;
	pthread_t thread;
	_Atomic bool stop;
	/* This device's shared blocks, sorted by start; mem_lock's read side
	 * for lookups (requester, completer), write side to add or remove. */
	pthread_rwlock_t mem_lock;
	struct shm_mem *mems;
	unsigned n_mems, cap_mems;
	_Atomic unsigned n_mems_hint; /* n_mems, read without the lock */
	uint64_t mem_next_id;
};

static inline struct shm_device *to_shm_dev(struct tp_device *dev)
{
	return tp_container_of(dev, struct shm_device, dev);
}

static inline struct shm_qp *to_shm_qp(struct tp_qp *qp)
{
	return tp_container_of(qp, struct shm_qp, qp);
}

static inline struct shm_slot *shm_slot_at(struct shm_seg_hdr *h, unsigned i)
{
	return (struct shm_slot *)(void *)((uint8_t *)h + h->slots_off + i * h->slot_bytes);
}

static inline uint8_t *shm_slot_ring(struct shm_seg_hdr *h, struct shm_slot *s, int which)
{
	return (uint8_t *)s + SHM_SLOT_HDR + (uint64_t)which * h->ring_bytes;
}

static inline uint32_t shm_psn(const struct shm_qp *q, uint64_t sq_index)
{
	return (q->qp.attr.sq_psn + (uint32_t)(sq_index - q->req.psn_base)) & 0xffffff;
}

/* LOOM_SHM_TRACE=1: every protocol engine state to stderr (debugging). */
extern bool shm_trace_on;
#define SHM_TRACE(...)                                                       \
	do {                                                                 \
		if (shm_trace_on)                                            \
			shm_trace(__VA_ARGS__);                              \
	} while (0)
void shm_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- shm_seg.c: segments, peers, liveness, doorbells ---- */
int shm_seg_create(struct shm_device *sd);
void shm_seg_destroy(struct shm_device *sd);
int shm_seg_reserve(struct shm_device *sd, unsigned slot, bool release);
int shm_peer_get(struct shm_device *sd, const struct tp_addr *addr, struct shm_peer **out);
void shm_peer_put(struct shm_device *sd, struct shm_peer *p);
bool shm_peer_alive(struct shm_peer *p);
void shm_bell(struct shm_seg_hdr *h);
int shm_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_us);
void shm_sweep_stale(void);

/* ---- shm_mem.c: shared blocks, by-reference transfers ---- */
int shm_mem_alloc(struct tp_device *dev, size_t len, void **out);
void shm_mem_free(struct tp_device *dev, void *addr, size_t len);
void shm_mem_fini(struct shm_device *sd);
/* The run of [addr, addr + len) that starts at addr and lies wholly in one
 * of sd's blocks (*id, *off set; returns its length) or wholly outside
 * them (returns its length, *id = 0).  Caller holds mem_lock (read). */
uint64_t shm_mem_run(struct shm_device *sd, uint64_t addr, uint64_t len, uint64_t *id,
		     uint64_t *off);
void shm_rmap_fini(struct shm_peer *p);
/* Copy n bytes between local memory and bytes [off, off + n) of the peer's
 * block id (to_peer: into it); 0, or -ENOENT (block gone) / -ERANGE
 * (outside it) / -errno of the mapping. */
int shm_rmap_copy(struct shm_peer *p, uint64_t id, uint64_t off, void *local, uint64_t n,
		  bool to_peer);
/* The same, scattering the block's bytes into bytes [msg_off, + n) of an
 * SGE list (checked by the caller). */
int shm_rmap_copy_sge(struct shm_peer *p, uint64_t id, uint64_t off, const struct tp_sge *sge,
		      int n_sge, uint64_t msg_off, uint64_t n);

/* ---- shm_ring.c: SPSC ring ends ---- */
bool shm_tx_room(struct shm_tx *tx, uint64_t bytes);
void shm_tx_put(struct shm_tx *tx, uint64_t at, const void *src, uint64_t len);
uint64_t shm_tx_put_sge(struct shm_tx *tx, uint64_t at, const struct tp_sge *sge, int n,
			uint64_t off, uint64_t len);
void shm_tx_publish(struct shm_tx *tx, uint64_t bytes);
bool shm_rx_peek(struct shm_rx *rx, struct shm_rec *rec);
bool shm_rx_valid(const struct shm_rx *rx, const struct shm_rec *rec);
void shm_rx_get(const struct shm_rx *rx, uint64_t at, void *dst, uint64_t len);
void shm_rx_get_sge(const struct shm_rx *rx, uint64_t at, const struct tp_sge *sge, int n,
		    uint64_t off, uint64_t len);
void shm_rx_consume(struct shm_rx *rx, uint64_t bytes);
void shm_rx_done(struct shm_rx *rx, struct shm_seg_hdr *producer);

/* ---- shm_qp.c ---- */
int shm_qp_init(struct tp_qp *qp);
void shm_qp_fini(struct tp_qp *qp);
int shm_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask);
bool shm_qp_progress(struct shm_qp *q, uint64_t now, uint64_t *deadline);
void shm_post_send_kick(struct tp_qp *qp);

/* ---- shm_req.c / shm_comp.c / shm_resp.c: the three protocol engines ---- */
bool shm_req_run(struct shm_qp *q, uint64_t now);
bool shm_comp_run(struct shm_qp *q, uint64_t now, uint64_t *deadline);
bool shm_comp_local_errors(struct shm_qp *q);
bool shm_resp_run(struct shm_qp *q);

#endif

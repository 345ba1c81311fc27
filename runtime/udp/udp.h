/*
 * udp.h - the udp provider's internal structures: the device (sockets,
 * progress thread, QP table, fault injection), the QP with the state of its
 * three protocol engines (requester, completer, responder: IBA 9.7), and
 * the functions the files of runtime/udp/ offer each other.  Design notes
 * are in udp.c; each engine's rules are at the top of its file.
 *
 * Concurrency contract:
 *   - Everything in struct udp_qp below `qp` is guarded by its tp_qp.lock:
 *     the requester runs under it from tp_post_send (the core holds the lock
 *     around ops->post_send_kick) and from the progress thread; the
 *     completer and responder run in whichever thread holds rx_lock (the
 *     progress thread, or a thread polling a CQ: udp_progress), under it.
 *     A QP's socket is written only under that lock.
 *   - udp_device.qps (the QP table) is read by the progress thread under
 *     qps_lock held for reading across a whole pass, so a QP it looked up
 *     stays alive until the pass ends; qp_init/qp_fini take it for writing
 *     (never while holding a QP lock).  Lock order: qps_lock, then a
 *     tp_qp.lock, then a CQ's lock or the MR table's read lock, then
 *     tx_hold_lock.  rx_lock is only
 *     tried (never waited for), with qps_lock held.
 *   - rx_lock (a mutex; CQ pollers only try it) guards the device socket's
 *     receive side, rx buffers, the rx fault RNG and hold queue, the dirty
 *     list, and each QP's `dirty` flag.
 *   - Cross-thread timer hand-off: a QP's deadline_us is written under its
 *     lock and read by the thread without it (relaxed: a hint, re-read under
 *     the lock before acting).  udp_qp_deadline() publishes a new deadline
 *     and wakes the thread when it is earlier than what the thread armed
 *     (armed_us, both seq_cst: see udp_qp.c).
 */
#ifndef LOOM_RUNTIME_UDP_UDP_H
#define LOOM_RUNTIME_UDP_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "loom/rng.h"
#include "loom/roce.h"
#include "../transport/provider.h"

#define UDP_RES_N 64		/* responder READ/atomic results kept (> 16 outstanding) */
#define UDP_RX_BATCH 32		/* datagrams per recvmmsg */
#define UDP_RX_BUF 65536	/* bytes per receive buffer: a whole GRO batch */
#define UDP_GSO_BYTES 65000	/* UDP payload of one GSO send (< 65507) */
#define UDP_GSO_SEGS 64		/* packets per GSO send (the kernel's UDP_MAX_SEGMENTS) */
#define UDP_READ_BURST 64	/* READ response packets per pass before yielding */
#define UDP_NAK_REPEATS 3	/* timed repeats of a sequence NAK per gap */
#define UDP_NO_DEADLINE UINT64_MAX
#define UDP_QPN_SLOT_BITS 10	/* QP number = generation << 10 | slot */
#define UDP_MAX_QP (1u << UDP_QPN_SLOT_BITS)
/* The ECN field, the IP TOS's low 2 bits (RFC 3168). */
#define UDP_ECN_MASK 0x03
#define UDP_ECN_ECT0 0x02
#define UDP_ECN_CE 0x03

/* ---- fault injection (udp_fault.c) ---------------------------------------- */

/* Rates in [0, 1] of one direction. */
struct udp_fault_dir {
	double drop, dup, reorder, delay, corrupt;
	double ecn;	   /* rate of packets marked CE (not dropped) */
	uint64_t ecn_packets; /* only the first N packets may be marked; 0: all */
	uint64_t delay_us; /* how long a delayed packet is held */
};

struct udp_fault_cfg {
	bool on; /* any rate > 0 */
	uint64_t seed;
	struct udp_fault_dir tx, rx;
};

/* A datagram held back by a delay or reorder fault. */
struct udp_held {
	struct udp_held *next;
	uint64_t due_us;	  /* release time */
	unsigned after;		  /* reorder: release once this many later packets passed */
	int fd;			  /* tx: the sending QP's socket */
	uint32_t qpn;		  /* tx: the sending QP (purged when it is destroyed) */
	struct sockaddr_in to;	  /* tx: destination */
	uint8_t tos;		  /* tx: IP TOS to send it with */
	struct roce_ipv4_udp ip;  /* rx: what recvmsg reported */
	size_t len;
	uint8_t data[];
};

/* A hold queue, unsorted (few entries; scanned on release). */
struct udp_hold {
	struct udp_held *head;
	unsigned n;
};

/* ---- congestion control (udp_cc.c) ----------------------------------------- */

/* DCQCN parameters of a device (options cc.*, cnp_interval_us, line_rate_mbps). */
struct udp_cc_cfg {
	bool on;		/* the requester reacts to CNPs */
	uint8_t tos;		/* IP TOS of every packet sent: ECT(0) unless ecn=0 */
	uint64_t cnp_interval_us; /* responder: at most one CNP per QP this often */
	double line_mbps;	/* 0: unlimited until the first CNP */
	double min_mbps, g, ai_mbps, hai_mbps;
	uint64_t alpha_us, timer_us, byte_reset, burst_bytes;
	unsigned fast_steps;	/* F: fast-recovery steps before additive increase */
};

/* A QP's reaction point (requester side; rates in Mbit/s = bits/us). */
struct udp_cc {
	bool limited;		/* pacing at rc (else unlimited) */
	double rc, rt, alpha, line; /* current, target, alpha, the cap */
	uint64_t alpha_t_us;	/* alpha decayed up to here */
	uint64_t inc_at_us;	/* next rate-increase timer expiry */
	unsigned t_stage, bc_stage; /* timer and byte-counter stages since the cut */
	uint64_t bc_bytes;	/* bytes sent in this byte-counter stage */
	uint64_t next_ns;	/* pacing: the next packet may leave then */
	uint64_t wait_us;	/* the requester waits for pacing until (0: not) */
	/* the sending rate, measured while unlimited (line rate at the first CNP) */
	uint64_t win_t0_us, win_bytes, last_tx_us;
	double meas_mbps;
};

/* ---- per-QP protocol state ------------------------------------------------- */

/* The requester's view of a send WQE, parallel to the SQ (same index). */
struct udp_wqe_ext {
	uint64_t sq_index;  /* the WQE these PSNs belong to (slots are reused) */
	uint32_t first_psn; /* PSN of its first packet (set when first sent) */
	uint32_t npsn;	    /* PSNs it spans: packets, READ responses, 1 for an atomic */
};

/* Requester + completer (IBA 9.7.4 / 9.7.5.1): both walk the SQ. */
struct udp_sq_state {
	uint64_t next;	    /* SQ index of the WQE being sent */
	uint32_t next_off;  /* bytes of it already sent */
	uint32_t psn;	    /* PSN of the next packet to send */
	uint32_t psn_max;   /* first PSN never sent: below it, a send is a retransmission */
	uint32_t comp_psn;  /* oldest PSN not yet acknowledged */
	unsigned rd_atomic; /* READ/atomic requests sent without their response */
	unsigned cwnd;	    /* PSNs that may be unacknowledged now (<= window) */
	unsigned since_ackreq; /* packets since the last one with AckReq */
	bool halted;	    /* a WQE failed its local checks: send nothing after it */
	bool kick;	    /* run the requester at the next flush */
	int retry_left, rnr_left;
	uint64_t rnr_until_us;	/* RNR wait: send nothing before */
	uint32_t back_psn;	/* where the requester last went back to ... */
	uint64_t back_at_us;	/* ... and when (0: never) */
	uint64_t rexmit_at_us;	/* retransmission deadline, UDP_NO_DEADLINE when idle */
};

/* A READ or atomic the responder executed, kept for duplicates (IBA
 * 9.7.5.2.3-4: duplicate READs are re-executed, duplicate atomics answered
 * with the saved result). */
struct udp_res {
	uint8_t kind;	     /* 0 free, ROCE_KIND_READ_REQ, ROCE_KIND_ATOMIC */
	uint32_t first_psn;  /* READ: its response PSN range; atomic: its PSN */
	uint32_t last_psn;
	uint32_t msn;	     /* AETH MSN of the response */
	uint64_t orig;	     /* atomic: the value returned */
};

/* The READ response stream in progress. */
struct udp_read_stream {
	bool active;
	uint32_t psn, last_psn; /* next response PSN, last one */
	uint64_t va;		/* next byte to send */
	uint32_t rkey, left;	/* bytes left */
	bool first;		/* the next response is the stream's first */
	uint32_t msn;
};

struct udp_resp_state {
	uint32_t epsn;	   /* expected PSN (IBA 9.7.5.1.1) */
	uint32_t msn;	   /* messages completed, 24 bits (AETH) */
	/* the SEND or WRITE message being received */
	uint8_t in_msg;	   /* 0 none, else 1 + ROCE_KIND_SEND or ROCE_KIND_WRITE */
	bool has_recv;	   /* it consumes the RQ head */
	uint32_t off;	   /* bytes of it placed */
	uint64_t va;	   /* WRITE: target of the message's first byte */
	uint32_t rkey, dma_len;
	/* ACK coalescing: one ACK (epsn - 1) at the end of a receive batch */
	bool ack_pending;
	/* NAK state of a PSN gap: one NAK, repeated after renak_us */
	bool nak_sent;
	uint8_t nak_syndrome;
	uint64_t nak_at_us;
	unsigned nak_repeats; /* timed repeats of this gap's NAK */
	uint64_t cnp_at_us;   /* when the last CNP was sent (0: never) */
	struct udp_read_stream rd;
	struct udp_res res[UDP_RES_N];
	unsigned res_next;
};

struct udp_device;

struct udp_qp {
	struct tp_qp qp;
	struct udp_device *ud;
	unsigned slot;
	int fd;			     /* this QP's socket: its UDP source port */
	uint16_t sport;		     /* host order */
	struct sockaddr_in dest;     /* the peer device (from RTR) */
	struct roce_ipv4_udp ip_tx;  /* ICRC context of what we send */
	uint32_t mtu;		     /* path MTU, bytes */
	struct udp_wqe_ext *ext;     /* [sq.size] */
	struct udp_sq_state sq;
	struct udp_resp_state resp;
	struct udp_cc cc;
	struct loom_rng tx_rng;	     /* tx faults of this QP */
	uint64_t tx_seen;	     /* packets through its tx faults (ecn_packets) */
	_Atomic uint64_t deadline_us; /* earliest timer; 0 = needs a pass now */
	bool dirty;		     /* on the device's dirty list (thread only) */
};

/* ---- the device -------------------------------------------------------------- */

struct udp_rx_ring; /* udp_net.c: recvmmsg buffers */

struct udp_device {
	struct tp_device dev;
	struct sockaddr_in local;    /* bound address, port resolved */
	int fd;			     /* the device socket: receives everything */
	int epfd, evfd, tfd;	     /* epoll, kick eventfd, timerfd */
	unsigned max_qp, window, ackreq_every;
	uint16_t pkey;		     /* P_Key of every QP (option pkey) */
	uint64_t renak_us, rcvbuf_bytes, sndbuf_bytes;
	struct udp_fault_cfg fault;
	struct udp_cc_cfg cc;
	bool trace;
	bool gso;		     /* option gso: UDP GSO sends (cleared if the kernel refuses) */
	pthread_rwlock_t qps_lock;
	struct udp_qp **qps;	     /* [max_qp] by slot */
	uint16_t *gen;		     /* [max_qp] QP number generation (random start) */
	uint64_t n_qp_made;	     /* QPs created so far (seeds their fault streams) */
	pthread_t thread;
	_Atomic bool stop;
	_Atomic uint64_t armed_us;   /* the thread's next wake-up; 0 while it scans */
	/* thread only */
	struct udp_rx_ring *rx;
	struct udp_qp **dirty;
	unsigned n_dirty;
	struct loom_rng rx_rng;
	uint64_t rx_seen;	     /* packets through the rx faults (ecn_packets) */
	struct udp_hold rx_hold;
	/* tx hold queue: any thread that sends, under tx_hold_lock */
	pthread_mutex_t tx_hold_lock;
	pthread_mutex_t rx_lock;     /* the receive side (above) */
	struct udp_hold tx_hold;
	_Atomic uint64_t tx_hold_due; /* earliest due time in tx_hold */
};

static inline struct udp_device *to_udp_dev(struct tp_device *dev)
{
	return tp_container_of(dev, struct udp_device, dev);
}

static inline struct udp_qp *to_udp_qp(struct tp_qp *qp)
{
	return tp_container_of(qp, struct udp_qp, qp);
}

static inline struct udp_wqe_ext *udp_ext(struct udp_qp *q, uint64_t i)
{
	return &q->ext[i % q->qp.sq.size];
}

static inline uint32_t udp_psn_add(uint32_t psn, uint32_t n)
{
	return (psn + n) & ROCE_PSN_MASK;
}

/* PSNs a message of len bytes spans at this MTU (at least 1). */
static inline uint32_t udp_npkts(uint32_t len, uint32_t mtu)
{
	return len ? (len + mtu - 1) / mtu : 1;
}

/* LOOM_UDP_TRACE=1 (or option trace=1): protocol steps to stderr. */
#define UDP_TRACE(ud, ...)                                                   \
	do {                                                                 \
		if ((ud)->trace)                                             \
			udp_trace(__VA_ARGS__);                              \
	} while (0)
void udp_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* IBA 10.9.3: P_Keys match when their low 15 bits agree and at least one
 * is a full member (bit 15); 0x0000 and 0x8000 are invalid and match
 * nothing. */
static inline bool udp_pkey_match(uint16_t a, uint16_t b)
{
	return (a & 0x7fff) && (a & 0x7fff) == (b & 0x7fff) && ((a | b) & 0x8000);
}

/* ---- udp_net.c: sockets and packets ---- */
/* tos: the IP TOS the socket sends with (ECN field in its low 2 bits). */
int udp_socket_open(const struct sockaddr_in *at, bool rx, uint64_t rcvbuf, uint64_t sndbuf,
		    uint8_t tos, bool csum, struct sockaddr_in *bound);
int udp_rx_ring_alloc(struct udp_device *ud);
void udp_rx_ring_free(struct udp_device *ud);
/* Drain the device socket (bounded); whether anything was received. */
bool udp_rx_drain(struct udp_device *ud, uint64_t now);
/* Run the deferred work (ACKs, requester) of every QP marked dirty. */
void udp_rx_flush(struct udp_device *ud);
/* Hand one datagram (after rx faults) to the engines; ip->tos carries the
 * ECN field it arrived with (CE: 3). */
void udp_rx_deliver(struct udp_device *ud, uint8_t *buf, size_t len,
		    const struct roce_ipv4_udp *ip, uint64_t now);
/* Build and send one packet of q (payload iov, at most 32 entries); the
 * caller holds the MR read lock when iov points into registered memory.
 * Counts tx_packets and tx_bytes (payload). */
void udp_tx(struct udp_qp *q, struct roce_pkt *pkt, const struct iovec *iov, int iovcnt);
/* Packets built now and sent later with one sendmmsg (no faults on; with
 * faults udp_tx_add sends at once).  The payload is read by the flush: the
 * caller holds the MR read lock from the first udp_tx_add to the flush. */
#define UDP_TX_BATCH 32	/* packets per flush (one sendmmsg) */
#define UDP_TX_IOV (2 + 32) /* header, payload pieces, trailer */
#define UDP_TX_IOV_ALL 1024 /* iovecs of a batch (the kernel's UIO_MAXIOV per send) */
/* Packets in order; with GSO on, a run of consecutive packets of equal size
 * (the last may be shorter) forms a group sent as one datagram with
 * UDP_SEGMENT, which the kernel splits at seg bytes (udp_net.c). */
struct udp_tx_batch {
	unsigned n;		/* packets */
	unsigned nv;		/* iovecs used in v */
	unsigned ng;		/* groups (sendmmsg messages) */
	unsigned g_pkts;	/* packets in the open group (0: none open) */
	size_t g_seg, g_bytes;	/* its segment size and bytes so far */
	bool g_closed;		/* its last packet was shorter: nothing may join */
	struct mmsghdr msg[UDP_TX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[UDP_TX_BATCH];
	struct iovec v[UDP_TX_IOV_ALL];
	uint8_t hdr[UDP_TX_BATCH][ROCE_HDR_MAX_BYTES];
	uint8_t trl[UDP_TX_BATCH][ROCE_TRAILER_MAX_BYTES];
};
void udp_tx_batch_init(struct udp_tx_batch *b);
void udp_tx_add(struct udp_qp *q, struct udp_tx_batch *b, struct roce_pkt *pkt,
		const struct iovec *iov, int iovcnt);
void udp_tx_flush(struct udp_qp *q, struct udp_tx_batch *b);
/* sendmsg one datagram (iovcnt pieces) from fd to to with IP TOS tos
 * (ud->cc.tos is the socket's own, sent without a cmsg); a failure is a
 * lost packet, as on a congested link. */
void udp_send_iov(struct udp_device *ud, int fd, const struct sockaddr_in *to,
		  const struct iovec *iov, int iovcnt, uint8_t tos);

/* ---- udp_fault.c ---- */
int udp_fault_read_opts(struct udp_fault_cfg *f, const struct tp_opts *o);
/* tx: send a built datagram of q (len bytes in iovcnt pieces) through the
 * faults: dropped, duplicated, corrupted, held or sent as is. */
void udp_fault_tx(struct udp_qp *q, const struct iovec *iov, int iovcnt, size_t len);
/* rx: apply faults to a received datagram and deliver what passes. */
void udp_fault_rx(struct udp_device *ud, uint8_t *buf, size_t len,
		  const struct roce_ipv4_udp *ip, uint64_t now);
/* Release held datagrams that are due; returns the earliest due time left. */
uint64_t udp_fault_release(struct udp_device *ud, uint64_t now);
void udp_fault_purge_qp(struct udp_device *ud, uint32_t qpn);
void udp_fault_free(struct udp_device *ud);

/* ---- udp_cc.c: DCQCN (notification point in the responder, reaction
 * point in the requester); all under the QP lock ---- */
int udp_cc_read_opts(struct udp_cc_cfg *c, const struct tp_opts *o);
void udp_cc_start(struct udp_qp *q, uint64_t now);
/* A request arrived with CE: send a CNP unless one went out lately. */
void udp_cc_ce(struct udp_qp *q, uint64_t now);
void udp_cc_cnp_rx(struct udp_qp *q, uint64_t now);
/* May the requester send a packet now?  If not, it waits (wait_us set). */
bool udp_cc_may_send(struct udp_qp *q, uint64_t now);
/* The requester sent a packet with payload_bytes of payload. */
void udp_cc_sent(struct udp_qp *q, uint32_t payload_bytes, uint64_t now);
void udp_cc_timer(struct udp_qp *q, uint64_t now);
/* The earliest cc timer of q (UDP_NO_DEADLINE: none). */
uint64_t udp_cc_deadline(const struct udp_qp *q);

/* ---- udp_qp.c ---- */
int udp_qp_init(struct tp_qp *qp);
void udp_qp_fini(struct tp_qp *qp);
int udp_qp_modify(struct tp_qp *qp, const struct tp_qp_attr *na, unsigned mask);
void udp_post_send_kick(struct tp_qp *qp);
/* In SQD: a message started, or a sent PSN not yet acknowledged. */
bool udp_qp_sq_draining(struct tp_qp *qp);
struct udp_qp *udp_qp_lookup(struct udp_device *ud, uint32_t qpn);
void udp_qp_mark_dirty(struct udp_qp *q);
/* Wake the progress thread when t is earlier than its next wake-up. */
void udp_wake(struct udp_device *ud, uint64_t t);
/* Recompute q's earliest timer and publish it (qp lock held). */
void udp_qp_deadline(struct udp_qp *q);
/* Timers and deferred work of q (qp lock held, progress thread). */
void udp_qp_service(struct udp_qp *q, uint64_t now);
/* Complete the SQ head with an error status and move the QP to ERR. */
void udp_qp_fail(struct udp_qp *q, enum tp_wc_status s, uint32_t vendor_err);

/* ---- udp_req.c / udp_comp.c / udp_resp.c: the engines ---- */
void udp_req_run(struct udp_qp *q, uint64_t now);
void udp_req_go_back(struct udp_qp *q, uint64_t now);
void udp_req_reposition(struct udp_qp *q);
void udp_comp_rx(struct udp_qp *q, const struct roce_pkt *pkt, uint64_t now);
void udp_comp_timer(struct udp_qp *q, uint64_t now);
bool udp_comp_local_errors(struct udp_qp *q);
void udp_resp_rx(struct udp_qp *q, const struct roce_pkt *pkt, enum roce_perr perr,
		 uint64_t now);
void udp_resp_flush_ack(struct udp_qp *q);
/* When a gap's NAK is due again (UDP_NO_DEADLINE: none); send it when due. */
uint64_t udp_resp_nak_due(const struct udp_qp *q);
void udp_resp_timer(struct udp_qp *q, uint64_t now);
void udp_resp_read_pump(struct udp_qp *q, unsigned budget);

#endif

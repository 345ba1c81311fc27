/*
 * simlink_int.h - private to runtime/simlink: the link object, the ring
 * state of each end, the handshake's wire layout and the functions the
 * files share.  The public contract is include/loom/simlink.h.
 *
 * Files: simlink_hs.c (handshake, sockets, memory), simlink_ring.c (the
 * SPSC rings: produce, scan, take), simlink_time.c (departure times,
 * credits, horizon, sync), simlink.c (simlink_next and the operations).
 */
#ifndef LOOM_SIMLINK_INT_H
#define LOOM_SIMLINK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "loom/simlink.h"

#define SIMLINK_MAGIC 0x4b4e494c4d4f4f4cull /* "LOOMLINK" little-endian */

enum simlink_side { SIMLINK_HOST, SIMLINK_DEV };
enum simlink_q { SIMLINK_Q_REQ, SIMLINK_Q_CMP, SIMLINK_NQ };

/* Handshake messages (SOCK_SEQPACKET, one datagram each). */
enum simlink_hs_kind { SIMLINK_HS_HOST = 1, SIMLINK_HS_DEV = 2, SIMLINK_HS_ACK = 3 };

struct simlink_hs_host {	/* host -> device, with the DMA memfd */
	uint64_t magic;
	uint32_t version;
	uint32_t kind;		/* SIMLINK_HS_HOST */
	uint64_t dma_bytes;
};
_Static_assert(sizeof(struct simlink_hs_host) == 24, "hs_host layout");

struct simlink_hs_dev {		/* device -> host, with the queue memfd when status == 0 */
	uint64_t magic;
	uint32_t version;
	uint32_t kind;		/* SIMLINK_HS_DEV */
	int32_t status;		/* 0, or -EPROTO and reason: the device refused */
	uint32_t rsvd;
	char reason[112];
	struct simlink_params params;
	struct simlink_info info;
};
_Static_assert(sizeof(struct simlink_hs_dev) == 136 + sizeof(struct simlink_params) +
					       sizeof(struct simlink_info),
	       "hs_dev layout");

struct simlink_hs_ack {		/* host -> device: accepted (0) or refused */
	uint64_t magic;
	uint32_t version;
	uint32_t kind;		/* SIMLINK_HS_ACK */
	int32_t status;
	uint32_t rsvd;
	char reason[112];
};
_Static_assert(sizeof(struct simlink_hs_ack) == 136, "hs_ack layout");

/* Queue memory: one page of doorbells (struct simlink_bell, one per side,
 * indexed by enum simlink_side), then four rings of queue_msgs slots in
 * this order. */
enum simlink_ring_idx { SIMLINK_H2D_REQ, SIMLINK_H2D_CMP, SIMLINK_D2H_REQ, SIMLINK_D2H_CMP };
#define SIMLINK_QHDR_BYTES 4096

/* A side about to block sets sleeping and waits (futex) on seq; its peer,
 * after putting or taking a message, bumps seq and wakes it if sleeping.
 * Both sides order their store before the other's load with a seq_cst
 * fence (the Dekker pattern), so no wakeup is lost. */
struct simlink_bell {
	uint32_t seq;		   /* accessed as _Atomic uint32_t */
	uint32_t sleeping;	   /* accessed as _Atomic uint32_t */
	uint8_t pad[56];
};
_Static_assert(sizeof(struct simlink_bell) == 64, "one bell per cache line");

static inline uint64_t simlink_qmem_bytes(uint32_t queue_msgs)
{
	return SIMLINK_QHDR_BYTES + (uint64_t)4 * queue_msgs * SIMLINK_MSG_BYTES;
}

/* One end of one ring.  Counters run free; slot = counter & (n - 1). */
struct simlink_ring {
	struct simlink_msg *slots; /* (n) in the shared queue memory */
	uint32_t n;
	uint64_t head;		   /* consumer: next slot to take */
	uint64_t scan;		   /* consumer: slots [head, scan) seen owned */
	uint64_t tail;		   /* producer: next slot to fill */
	uint64_t last_ts;	   /* consumer: ts of the last scanned message */
};

/* Credits in flight on the transmit link: FIFO of (return time, bytes). */
struct simlink_credit {
	uint64_t back_ps;
	uint32_t bytes;
};

struct simlink {
	enum simlink_side side;
	const char *peer;	   /* "device" or "host", for messages */
	int sock;		   /* connected socket: EOF = peer gone */
	int timeout_ms;
	struct simlink_info info;
	struct simlink_params p;

	void *qmem;		   /* queue memory mapping */
	uint64_t qmem_bytes;
	struct simlink_bell *bell_self, *bell_peer; /* in qmem */
	uint8_t *dma;		   /* host DMA memory mapping */
	uint64_t dma_bytes;
	struct simlink_ring tx[SIMLINK_NQ], rx[SIMLINK_NQ];

	/* Time (synchronized mode only). */
	uint64_t now_ps;
	uint64_t last_tx_ps;	   /* largest ts sent: our promise to the peer */
	uint64_t link_free_ps;	   /* transmit link busy until */
	uint64_t safe_ps;	   /* peer promise usable: all older messages scanned */
	uint64_t cand_ps;	   /* largest ts seen up to the previous scan round */
	uint64_t seen_ps;	   /* largest ts seen so far */
	struct simlink_credit *cred; /* (cred_cap) FIFO */
	uint32_t cred_cap, cred_head, cred_count;
	uint64_t cred_used;	   /* bytes in flight */

	uint32_t next_id;
	uint32_t reads_out;	   /* non-posted requests awaiting completion */
	uint32_t irq_pending[SIMLINK_MAX_IRQS]; /* host: interrupts not yet returned */
	uint64_t alive_check_ns;   /* next peer liveness check (monotonic) */
	uint32_t poll_calls;	   /* calls that did not wait: liveness every 64 */
	bool peer_gone;
	struct simlink_stats st;
};

/* simlink_hs.c */
int simlink_params_check(const struct simlink_params *p);
int simlink_info_check(const struct simlink_info *info);
struct simlink *simlink_alloc(enum simlink_side side, const struct simlink_params *p);
int simlink_map_queues(struct simlink *l, int fd, uint64_t bytes);

/* simlink_ring.c */
bool simlink_tx_room(const struct simlink_ring *r);
void simlink_tx_put(struct simlink_ring *r, const struct simlink_msg *m);
bool simlink_rx_scan(struct simlink *l, struct simlink_ring *r);
bool simlink_rx_ready(const struct simlink_ring *r);
const struct simlink_msg *simlink_rx_head(const struct simlink_ring *r);
void simlink_rx_take(struct simlink_ring *r, struct simlink_msg *out);
int simlink_msg_check(const struct simlink *l, enum simlink_q q, const struct simlink_msg *m);

/* simlink_time.c */
uint64_t simlink_depart(struct simlink *l, uint32_t wire_bytes);
bool simlink_poll(struct simlink *l);
uint64_t simlink_horizon(const struct simlink *l);
void simlink_advance(struct simlink *l, uint64_t t_ps);
void simlink_sync_send(struct simlink *l, bool force);
int simlink_wait(struct simlink *l, uint64_t start_ns, unsigned *spins, bool want_room);
void simlink_bell_ring(struct simlink *l);
int simlink_peer_check(struct simlink *l);
uint64_t simlink_mono_ns(void);

/* simlink.c */
int simlink_send(struct simlink *l, enum simlink_q q, struct simlink_msg *m, uint32_t wire);

#endif

/*
 * comm_int.h - what the files of runtime/comm share: the communicator
 * object, the per-peer byte streams and the exchange engine
 * (comm_xchg.c) that the collectives (comm_coll.c) are built on.
 * Not a public header: include/loom/comm.h is the contract.
 *
 * Wire format (see comm.c for the design):
 *   Every transport message is an RDMA WRITE_WITH_IMM, zero-length or into
 *   one staging slot of the peer.  The immediate says what it is:
 *     bits 31..30  COMM_IMM_DATA   a piece in the next slot; bits 23..0 are
 *                                  the piece's index (mod 2^24), checked
 *                  COMM_IMM_CREDIT bits 23..0 slots the peer has emptied
 *                  COMM_IMM_ABORT  the peer broke its communicator; bits
 *                                  23..0: 1 + the rank its error names, or 0
 *   A message (one operation's bytes from one rank to another) is a 16-byte
 *   header (struct comm_msg_hdr) followed by its payload, cut into pieces of
 *   at most slot_bytes; a piece never holds bytes of two messages.
 */
#ifndef LOOM_RUNTIME_COMM_INT_H
#define LOOM_RUNTIME_COMM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/comm.h"
#include "loom/transport.h"

#define COMM_SLOTS 4			      /* staging slots per peer and direction */
#define COMM_SQ_DEPTH (2 * COMM_SLOTS + 4)    /* data <= SLOTS, credits, one abort */
#define COMM_RQ_DEPTH (2 * COMM_SLOTS + 4)    /* the same, seen from the peer */
#define COMM_CHUNK_DEFAULT (4u << 20)
#define COMM_CHUNK_MIN 1024u		      /* 4 slots of 256 bytes */
#define COMM_CHUNK_MAX (1u << 30)
#define COMM_TIMEOUT_DEFAULT_MS 60000
#define COMM_MSG_MAGIC 0x4c4d0000u	      /* "LM" in the header's high half */

#define COMM_IMM_KIND_SHIFT 30
#define COMM_IMM_DATA 0u
#define COMM_IMM_CREDIT 1u
#define COMM_IMM_ABORT 2u
#define COMM_IMM_VAL_MASK 0xffffffu

/* What a message belongs to; a receiver in another operation sees the
 * difference (-EPROTO). */
enum comm_op {
	COMM_OP_ALLTOALLV = 1,
	COMM_OP_ALLREDUCE_F32,
	COMM_OP_ALLREDUCE_I64,
	COMM_OP_ALLGATHER,
	COMM_OP_BARRIER,
	COMM_OP_DESTROY,
};

const char *comm_op_name(enum comm_op op);

/* The first 16 bytes of a message (host byte order: ranks share a host or
 * an architecture). */
struct comm_msg_hdr {
	uint32_t magic_op;    /* COMM_MSG_MAGIC | op */
	uint32_t seq;	      /* messages before this one on the stream */
	uint64_t total_bytes; /* payload bytes that follow */
};
_Static_assert(sizeof(struct comm_msg_hdr) == 16, "message header is 16 bytes on the wire");

/* One remote rank: its QP and both directions of the byte stream.
 * Counters count pieces since creation and never wrap in practice. */
struct comm_peer {
	int rank;
	struct tp_qp *qp;
	uint8_t *tx, *rx;	   /* COMM_SLOTS * slot_bytes each, in the comm's MRs */
	uint64_t remote_rx_addr;   /* our block in the peer's receive region */
	uint32_t remote_rkey;
	/* send side */
	uint64_t tx_posted;	   /* data pieces posted */
	uint64_t tx_done;	   /* ... whose send completed (local slot free) */
	uint64_t tx_credit;	   /* ... the peer has emptied (remote slot free) */
	int sq_out;		   /* WRs on the send queue, not yet completed */
	uint32_t tx_seq;	   /* messages sent */
	uint32_t credit_owed;	   /* slots we emptied and have not reported */
	/* receive side */
	uint64_t rx_arrived;	   /* data pieces whose completion we saw */
	uint64_t rx_used;	   /* ... copied out (slot free again) */
	uint32_t rx_len[COMM_SLOTS]; /* byte length of the piece in each slot */
	uint32_t rx_seq;	   /* messages received */
};

/* One message each way with one peer during one operation. */
struct comm_xfer {
	struct comm_peer *p;
	const uint8_t *src;
	size_t send_bytes, sent;
	bool send_started, send_done;
	uint8_t *dst;
	size_t recv_bytes, got;
	bool recv_started, recv_done;
};

struct comm {
	struct boot *boot;
	int rank, size;
	char provider[TP_NAME_MAX];  /* "local" for a world of one */
	size_t chunk_bytes, slot_bytes;
	int timeout_ms;
	struct tp_device *dev;
	struct tp_pd *pd;
	struct tp_cq *cq;	     /* every QP's send and receive completions */
	uint8_t *tx_buf, *rx_buf;    /* (size - 1) * chunk_bytes each */
	struct tp_mr *tx_mr, *rx_mr;
	struct comm_peer *peers;     /* [size]; peers[rank] is unused */
	struct comm_xfer *xf;	     /* [size] scratch for one operation */
	int broken;		     /* 0, or the negative errno that broke it */
	char broken_msg[384];
	int blame;		     /* the rank an error names (sent with the abort), or -1 */
	enum comm_op op;	     /* the operation in progress (for messages) */
	struct comm_stats st;
};

/* Monotonic time in microseconds. */
double comm_now_us(void);

/* Run the transfers xf[0 .. n-1] of operation op until every message is
 * sent and received (entries with p == NULL are skipped).  0, or the error
 * that broke the communicator. */
int comm_xchg_run(struct comm *c, struct comm_xfer *xf, int n);
/* Wait until no WR of ours is outstanding (comm_destroy). */
int comm_xchg_drain(struct comm *c);
/* Broken: wait (at most limit_ms) until our last WRs (the aborts) left. */
void comm_xchg_flush_aborts(struct comm *c, int limit_ms);
/* Post the initial receive WRs of one peer. */
int comm_xchg_post_recvs(struct comm *c, struct comm_peer *p, int n);
/* Break the communicator: record err and the message (both returned by
 * every later call as -EPIPE), tell the peers (best effort) which rank
 * the error names (c->blame, set just before, or none).  Returns err
 * with the message set in loom_err_msg(). */
int comm_break(struct comm *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* -EPIPE with the reason when broken, else 0. */
int comm_check_usable(const struct comm *c);

#endif

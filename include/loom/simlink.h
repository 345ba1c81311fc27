/*
 * simlink.h - the device link: a PCIe-like channel between a host process
 * (driver side) and an emulator process (device side: RTL models and
 * firmware), in the manner of SimBricks, with link bandwidth modelled too.
 * It is not a driver (no rings, no register semantics) and not a device:
 * it carries MMIO, DMA and interrupt messages and keeps emulated time.
 *
 * Who calls what
 *   Device: simlink_dev_listen, then simlink_dev_accept (one host per
 *   link), then a loop of simlink_next (MMIO requests and DMA read
 *   completions) answered with simlink_mmio_complete, plus
 *   simlink_dma_read / simlink_dma_write / simlink_irq as the device runs.
 *   A device stepping a clock calls simlink_next(l, time of its next edge)
 *   until it returns 0, then steps; an idle one passes SIMLINK_FOREVER.
 *   Host: simlink_host_connect (creates the host DMA memory), then
 *   simlink_mmio_read / simlink_mmio_write (blocking, the CPU stalls as on
 *   an uncached access), simlink_mmio_write_posted (not blocking), and
 *   simlink_next to take interrupts.  The host side serves the device's
 *   DMA by itself inside every call that waits or advances time.
 *
 * Handshake (Unix SOCK_SEQPACKET socket): the host sends magic, protocol
 * version and the host DMA memory (a memfd, SCM_RIGHTS); the device
 * checks them and answers with its description (struct simlink_info),
 * the link parameters (struct simlink_params) and the queue memory (a
 * memfd); the host checks and acknowledges.  A version or magic mismatch
 * fails on both sides with -EPROTO and a reason naming both versions.
 * After the handshake the socket carries nothing; its EOF tells a side
 * that its peer has gone.
 *
 * Queues: two single-producer/single-consumer rings per direction of
 * 64-byte messages (struct simlink_msg) in the shared queue memory.  The
 * request ring carries requests, posted writes, DMA writes, interrupts and
 * sync messages; the completion ring carries only completions (MMIO read
 * and write completions, DMA read completions).  As PCIe's separate
 * completion credits, this keeps a completion from ever waiting behind
 * requests: a requester limits its outstanding non-posted requests to the
 * completion ring's size, so a completion always finds room and the two
 * sides cannot deadlock on full rings.  Each slot's last byte is an
 * ownership flag: the producer fills the slot and stores own = 1 with
 * release; the consumer reads own with acquire, takes the message and
 * stores own = 0 with release.  Waiting: a side spins for 20 us, then
 * blocks on a futex doorbell in the queue memory that the peer rings after
 * putting or taking a message, so an idle or waiting side costs no CPU on
 * a machine shared with the other processes of a run.
 *
 * DMA data moves by reference: host DMA memory is a memfd both sides map
 * and a DMA address is an offset in it (bounds-checked by the issuing
 * device side, and checked again by the host side on receipt).  A DMA
 * write's bytes are copied into host memory when the device issues it;
 * a DMA read completion says "the bytes at addr are yours now" and the
 * device copies them (simlink_dma_ptr) when it takes the completion.  As
 * with a real device, the host must not touch a buffer it has handed to
 * the device until the device reports completion.  The data still costs
 * link time: a DMA message counts 64 + len bytes on the wire.
 *
 * Time (synchronized mode).  Link time is in picoseconds; both sides start
 * at 0.  Every message carries the time its last byte left the sender
 * (ts_ps) and is delivered to the receiver at ts_ps + latency_ps.  A
 * message's departure accounts for serialization, ceil(wire_bytes /
 * bytes_per_cycle) cycles of ps_per_cycle after the link is free, and for
 * credits: at most credit_bytes may be in flight, and a message's credits
 * return latency_ps after its delivery.  Conservative synchronization:
 * every message (and a sync message, sent every sync_interval_ps and
 * whenever a side must wait) promises that the sender sends nothing older,
 * so a side may advance its time only up to the peer's last promise +
 * latency_ps (its horizon).  The library never runs past the horizon; it
 * counts any overrun or any message that arrives in the receiver's past in
 * stats.violations, which must stay 0.  Sync messages are free (no wire
 * bytes, no credits) and are skipped when the request ring is full (the
 * messages in it already carry promises).
 * Unsynchronized mode (params.synchronized = 0): functional only; ts_ps is
 * 0, time stays 0, nothing waits for the peer's promise, and
 * simlink_synchronized() says so: callers must print no timing.
 *
 * Threads: a struct simlink belongs to one thread at a time (one thread per
 * side); nothing here takes a lock.  Different links are independent.
 *
 * Errors: negative errno with a reason in loom_err_msg().  -EPIPE: the peer
 * has gone (socket EOF, seen within a few milliseconds of waiting);
 * -ETIMEDOUT: a wait ran past timeout_ms of wall time (a stuck peer);
 * -EAGAIN: the request ring is full (call simlink_next, then retry);
 * -EFAULT: an address out of bounds; -EPROTO: a handshake mismatch or a
 * malformed message from the peer; -EINVAL: bad arguments.
 */
#ifndef LOOM_SIMLINK_H
#define LOOM_SIMLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIMLINK_VERSION 1
#define SIMLINK_MAX_BARS 6
#define SIMLINK_MAX_BLOCKS 32
#define SIMLINK_MAX_IRQS 64
#define SIMLINK_MSG_BYTES 64
#define SIMLINK_FOREVER UINT64_MAX /* simlink_next: until a message comes */

/* Message types.  h2d = host to device, d2h = device to host. */
enum simlink_type {
	SIMLINK_MMIO_READ = 1,	   /* h2d req: read len bytes at (bar, addr) */
	SIMLINK_MMIO_READ_CMPL,	   /* d2h cmp: data, status */
	SIMLINK_MMIO_WRITE,	   /* h2d req: non-posted write, completed */
	SIMLINK_MMIO_WRITE_CMPL,   /* d2h cmp: status */
	SIMLINK_POSTED_WRITE,	   /* h2d req: write, no completion; in order */
	SIMLINK_DMA_READ,	   /* d2h req: read len bytes of host memory at addr */
	SIMLINK_DMA_READ_CMPL,	   /* h2d cmp: bytes at addr readable now; status */
	SIMLINK_DMA_WRITE,	   /* d2h req: len bytes written at addr */
	SIMLINK_IRQ,		   /* d2h req: interrupt, vector in addr */
	SIMLINK_SYNC,		   /* both, req ring: promise only, never returned */
	SIMLINK_TYPE_END
};

/* One message: exactly 64 bytes, shared by both processes. */
struct simlink_msg {
	uint64_t ts_ps;	   /* departure of its last byte (from simlink_next: delivery
			    * time); 0 unsynchronized */
	uint64_t addr;	   /* MMIO: offset in the BAR; DMA: offset in host memory; IRQ: vector */
	uint64_t data;	   /* MMIO write value, MMIO read completion value */
	uint32_t id;	   /* request id, echoed by its completion */
	uint32_t len;	   /* MMIO: 1, 2, 4 or 8; DMA: bytes (1..max_payload) */
	int32_t status;	   /* completions: 0 or a negative errno */
	uint8_t bar;	   /* MMIO: BAR index */
	uint8_t rsvd[25];  /* zero */
	uint8_t type;	   /* enum simlink_type */
	uint8_t own;	   /* ownership flag, written last (release) */
};
_Static_assert(sizeof(struct simlink_msg) == SIMLINK_MSG_BYTES, "simlink_msg is 64 bytes");
_Static_assert(offsetof(struct simlink_msg, own) == SIMLINK_MSG_BYTES - 1, "own is the last byte");

/* One register block of the device map: opaque to the link. */
struct simlink_block {
	uint32_t type;	   /* device-defined block type */
	uint32_t version;  /* device-defined block version */
	uint32_t bar;	   /* BAR holding the block */
	uint32_t rsvd;
	uint64_t offset;   /* bytes from the BAR's start */
	uint64_t bytes;	   /* size of the block */
};
_Static_assert(sizeof(struct simlink_block) == 32, "simlink_block layout");

/* What the device says about itself in the handshake. */
struct simlink_info {
	uint32_t n_bars;			 /* 1..SIMLINK_MAX_BARS */
	uint32_t n_irqs;			 /* 0..SIMLINK_MAX_IRQS interrupt vectors */
	uint64_t bar_bytes[SIMLINK_MAX_BARS];	 /* sizes; 0 for unused BARs */
	uint32_t n_blocks;			 /* 0..SIMLINK_MAX_BLOCKS */
	uint32_t rsvd;
	struct simlink_block blocks[SIMLINK_MAX_BLOCKS];
};
_Static_assert(sizeof(struct simlink_info) == 16 + 8 * SIMLINK_MAX_BARS + 32 * SIMLINK_MAX_BLOCKS,
	       "simlink_info layout");

/* Link parameters: chosen by the device, sent to the host. */
struct simlink_params {
	uint64_t ps_per_cycle;	   /* link clock (1000 = 1 GHz) */
	uint64_t latency_ps;	   /* one-way latency; > 0 when synchronized */
	uint64_t sync_interval_ps; /* promise at least this often; > 0 */
	uint32_t bytes_per_cycle;  /* link bandwidth; > 0 */
	uint32_t credit_bytes;	   /* receive buffer; >= 64 + max_payload */
	uint32_t queue_msgs;	   /* slots per ring, power of two in 4..65536 */
	uint32_t max_payload;	   /* largest DMA message in bytes, 64..1 MiB */
	uint32_t synchronized;	   /* 1: conservative sync; 0: functional only */
	uint32_t timeout_ms;	   /* device side: wall-time limit of any wait */
};
_Static_assert(sizeof(struct simlink_params) == 48, "simlink_params layout");

/* Counters of one side.  violations must stay 0 (see Time above). */
struct simlink_stats {
	uint64_t tx_msgs, rx_msgs;   /* messages other than sync */
	uint64_t tx_syncs, rx_syncs;
	uint64_t tx_wire_bytes;	     /* 64 per message + DMA payload; syncs are free */
	uint64_t violations;	     /* horizon overruns, messages arriving in the past */
	uint64_t bad_msgs;	     /* malformed or out-of-bounds messages from the peer */
	uint64_t waits;		     /* times a call had to wait for the peer */
	uint64_t horizon_ps;	     /* current horizon (peer promise + latency) */
};

struct simlink;
struct simlink_server;

/* Defaults: 1 GHz, 500 ns latency, 32 B/cycle, 64 KiB credits, sync every
 * 500 ns, 1024-slot rings, 4 KiB max payload, synchronized, 10 s timeout. */
void simlink_params_default(struct simlink_params *p);

/* ---- device side ---------------------------------------------------- */

/* Listen on a Unix socket at path (a stale socket file there is removed).
 * NULL on failure. */
struct simlink_server *simlink_dev_listen(const char *path);
/* Close the listening socket and remove its file.  NULL is a no-op. */
void simlink_server_close(struct simlink_server *s);
/* Wait up to timeout_ms for one host and run the handshake; the link uses
 * info and p (validated).  NULL on failure (-ETIMEDOUT, -EPROTO, ...). */
struct simlink *simlink_dev_accept(struct simlink_server *s, const struct simlink_info *info,
				   const struct simlink_params *p, int timeout_ms);

/* Answer an MMIO_READ (data) or MMIO_WRITE (data ignored) that simlink_next
 * returned, at the current time.  status: 0 or a negative errno. */
int simlink_mmio_complete(struct simlink *l, const struct simlink_msg *req, uint64_t data,
			  int status);
/* Start a DMA read of len bytes (1..max_payload) at host address addr;
 * *id is echoed by its DMA_READ_CMPL.  -EFAULT out of bounds, -EBUSY when
 * queue_msgs reads are outstanding, -EAGAIN when the ring is full. */
int simlink_dma_read(struct simlink *l, uint64_t addr, uint32_t len, uint32_t *id);
/* Copy len bytes (1..max_payload) from src to host address addr and send
 * the DMA_WRITE.  -EFAULT out of bounds (nothing written), -EAGAIN full. */
int simlink_dma_write(struct simlink *l, uint64_t addr, const void *src, uint32_t len);
/* Raise interrupt vector (< n_irqs).  -EAGAIN when the ring is full. */
int simlink_irq(struct simlink *l, uint32_t vector);

/* ---- host side ------------------------------------------------------ */

/* Connect to the device at path (retrying while it is not up yet, up to
 * timeout_ms), with dma_bytes (> 0) of host DMA memory, zeroed.
 * timeout_ms also bounds every later wait.  NULL on failure. */
struct simlink *simlink_host_connect(const char *path, uint64_t dma_bytes, int timeout_ms);

/* Blocking MMIO: send, then wait for the completion while serving DMA;
 * interrupts arriving meanwhile are kept for simlink_next (which returns
 * kept ones first, lowest vector first).  len: 1, 2, 4, 8.  A full request
 * ring is waited out (serving the device), not refused.
 * Returns 0, the device's negative status, or an error. */
int simlink_mmio_read(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len, uint64_t *val);
int simlink_mmio_write(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len, uint64_t val);
/* Posted write: returns once queued (-EAGAIN when the ring is full).
 * Posted writes reach the device in the order they were sent. */
int simlink_mmio_write_posted(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len,
			      uint64_t val);

/* ---- both sides ----------------------------------------------------- */

/*
 * Advance time toward until_ps and return the next message for the caller:
 * 1 with *out (time is then its delivery time), 0 when until_ps was reached
 * with none, or a negative error.  Waits for the peer's promises (wall
 * time bounded by the timeout: -ETIMEDOUT when the peer promised nothing
 * new for timeout_ms, as an idle peer may; the link stays usable, call
 * again).  Device: MMIO_READ, MMIO_WRITE,
 * POSTED_WRITE, DMA_READ_CMPL.  Host: IRQ (addr = vector).  Sync messages
 * and the host's DMA service are handled inside.  Unsynchronized: time
 * does not exist; returns a queued message, else 0 at once (or -EPIPE
 * once the peer has gone, checked every few milliseconds), except with
 * until_ps = SIMLINK_FOREVER, which waits for a message (bounded by the
 * timeout) in both modes.
 */
int simlink_next(struct simlink *l, uint64_t until_ps, struct simlink_msg *out);

/* Host DMA memory: a pointer to [addr, addr + len) or NULL out of bounds. */
void *simlink_dma_ptr(struct simlink *l, uint64_t addr, uint64_t len);
uint64_t simlink_dma_bytes(const struct simlink *l);

uint64_t simlink_now(const struct simlink *l);	/* local time, ps */
bool simlink_synchronized(const struct simlink *l);
const struct simlink_info *simlink_info(const struct simlink *l);
const struct simlink_params *simlink_params(const struct simlink *l);
void simlink_stats(const struct simlink *l, struct simlink_stats *out);
/* Serialization time of wire_bytes on this link: ceil(wire_bytes /
 * bytes_per_cycle) * ps_per_cycle. */
uint64_t simlink_wire_ps(const struct simlink *l, uint64_t wire_bytes);

/* Close the link (the peer sees -EPIPE) and free it.  NULL is a no-op. */
void simlink_close(struct simlink *l);

#ifdef __cplusplus
}
#endif
#endif

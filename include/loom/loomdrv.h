/*
 * loomdrv.h - libloomdrv, the host-side userspace driver of an emulated
 * Loom device (driver/).  It reaches the device only through the device link
 * (simlink.h): it maps BAR0 by MMIO, walks the device's self-describing
 * register blocks (devif.h), owns the host DMA memory (a bump-and-free-list
 * allocator handing out buffers with their device addresses), runs the
 * submission and completion rings with doorbells, takes completions by
 * polling or by interrupt, times out with a clear error, reports a dead
 * emulator (-EPIPE within a second) and resets and re-enables the rings.
 * The same code runs in tests and in the runtime's `dev` provider.
 *
 * Not here: what descriptors mean (devif.h, firmware/), the link's timing
 * (simlink.h).  Threads: a struct loomdrv belongs to one thread at a time.
 *
 * Time.  Every call that waits advances link time (simlink_next): in a
 * synchronized link the host's clock only moves as far as the device has
 * promised, so completions are observed at their emulated time, and
 * loomdrv_now_ps() is the host's emulated time.  Unsynchronized links are
 * functional only (loomdrv_synchronized() is false; print no timing).
 *
 * Errors: negative errno with a reason in loom_err_msg(): -EPIPE the
 * emulator has gone (the driver is then dead: every later call fails the
 * same way), -ETIMEDOUT nothing completed within the timeout, -EAGAIN the
 * submission ring is full, -ENOMEM out of DMA memory, -EPROTO the device is
 * not a Loom device of a compatible interface version, -EINVAL bad
 * arguments.
 */
#ifndef LOOM_LOOMDRV_H
#define LOOM_LOOMDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/devif.h"

#ifdef __cplusplus
extern "C" {
#endif

struct loomdrv;

struct loomdrv_opts {
	const char *path;	/* the emulator's Unix socket */
	uint64_t dma_bytes;	/* host DMA memory (default 16 MiB) */
	unsigned ring_log2;	/* entries of each ring = 2^ring_log2, 1..12 (default 8) */
	int timeout_ms;		/* connect and every wait (default 10000) */
	bool use_irq;		/* wait for interrupts (default) or poll */
	uint32_t coal_count;	/* interrupt coalescing: records per interrupt (default 1) */
	uint32_t coal_cycles;	/* ... or at most this many device cycles (default 0) */
	uint64_t poll_ps;	/* polling: link time advanced per poll (default 1 us) */
};

/* A buffer of host DMA memory: host pointer and device (DMA) address. */
struct loomdrv_buf {
	void *host;
	uint64_t dma;
	size_t bytes;
};

/* What the device said about itself. */
struct loomdrv_info {
	uint32_t version;	/* DEVIF_VERSION of the device */
	uint32_t opcodes;	/* bit i: opcode i served */
	uint32_t rank, ranks;	/* its place on the mesh */
	uint64_t dram_bytes;	/* device DRAM */
	unsigned ring_entries;
	uint32_t blocks;	/* register blocks found */
};

/* Counters of this driver. */
struct loomdrv_stats {
	uint64_t submitted, completed, errors; /* descriptors; error records */
	uint64_t releases;	/* MESH_RELEASE records */
	uint64_t irqs;		/* interrupts taken */
	uint64_t doorbells;	/* doorbell writes */
	uint64_t resets;
};

void loomdrv_opts_default(struct loomdrv_opts *o);

/* Connect, check the device, set up and enable the rings. */
int loomdrv_open(const struct loomdrv_opts *o, struct loomdrv **out);
/* Disable the rings (best effort) and close the link.  NULL is a no-op. */
void loomdrv_close(struct loomdrv *d);

int loomdrv_info(const struct loomdrv *d, struct loomdrv_info *out);
void loomdrv_stats(const struct loomdrv *d, struct loomdrv_stats *out);
bool loomdrv_synchronized(const struct loomdrv *d);
uint64_t loomdrv_now_ps(const struct loomdrv *d);

/* DMA memory: bytes (> 0) aligned to align (a power of two, >= 64 used
 * when smaller), zeroed. */
int loomdrv_dma_alloc(struct loomdrv *d, size_t bytes, size_t align, struct loomdrv_buf *b);
void loomdrv_dma_free(struct loomdrv *d, struct loomdrv_buf *b);

/* Post n descriptors (index = the free-running count at posting) and ring
 * the doorbell once: the number posted (n or fewer when the ring fills),
 * -EAGAIN when none fit. */
int loomdrv_submit(struct loomdrv *d, const struct devif_desc *desc, int n);
/* Take up to max completion records without waiting for one: the count
 * or an error.  In a synchronized link a poll advances the host's clock by
 * poll_ps (the device cannot run ahead of its hosts' clocks, so a host
 * spinning on poll must let time pass). */
int loomdrv_poll(struct loomdrv *d, struct devif_comp *out, int max);
/* Take at least one record, waiting up to timeout_ms of wall time
 * (< 0: the open timeout): the count, -ETIMEDOUT or an error. */
int loomdrv_wait(struct loomdrv *d, struct devif_comp *out, int max, int timeout_ms);
/* Descriptors posted and not yet completed. */
uint32_t loomdrv_outstanding(const struct loomdrv *d);

/* Disable the rings, wait for the device to stop, forget what was in
 * flight (its records are lost), and enable fresh rings. */
int loomdrv_reset(struct loomdrv *d);

/* A register of BAR0 (32-bit), for tools and tests. */
int loomdrv_reg_read(struct loomdrv *d, uint32_t off, uint32_t *val);
int loomdrv_reg_write(struct loomdrv *d, uint32_t off, uint32_t val);
/* The BAR0 offset of the first register block of type (DEVIF_BLK_*), or
 * -ENOENT. */
int loomdrv_block(const struct loomdrv *d, uint32_t type);

#ifdef __cplusplus
}
#endif
#endif

/*
 * fw.h - the emulated device's firmware: its control program, in
 * freestanding C11 (only <stdint.h>, <stddef.h>, <stdbool.h>), reaching
 * hardware only through fw_hal.h.  What it is not: a driver (driver/ is the
 * host side), a model of hardware timing (the RTL keeps time), a link
 * (runtime/simlink).
 *
 * What it does (the host's view is include/loom/devif.h):
 *   - holds the device's BAR0 register file (fw_bar_read / fw_bar_write,
 *     called by the emulator on the host's MMIO);
 *   - when the doorbell moves, fetches descriptors from the host's
 *     submission ring by DMA, validates every field (a malformed one gets
 *     an error record and the next one is served), dispatches:
 *       engine ops -> the logic die's own descriptor ring (the firmware is
 *         the die's host: the die's rings are in firmware memory), its
 *         registers found by walking the die's self-describing blocks
 *         (fw_die.c);
 *       DMA_TO_DEV / DMA_FROM_DEV -> the DMA engine;
 *       MESH_SEND -> the mesh NI, with the region epoch protocol
 *         (fw_mesh.c); REGION_MAP -> the receive-side region table;
 *   - tracks outstanding work (FW_MAX_JOBS jobs), writes completion
 *     records by DMA in the order work finishes, raises interrupts with
 *     coalescing (fw_queue.c);
 *   - on the receive side, lands mesh writes in host memory and releases a
 *     region epoch to its reader only after all its writes have landed.
 * Files: fw_regs.c (BAR0, init), fw_queue.c (rings, validation, dispatch,
 * records, interrupts), fw_die.c (die discovery and ring), fw_mesh.c
 * (mesh send/receive, regions), fw_util.c (memory helpers).
 *
 * Use: the emulator owns a struct fw (zeroed or not), calls fw_init once,
 * then fw_step once per firmware clock, and fw_bar_* on host MMIO, all
 * from one thread.  fw_step never blocks: each call does a bounded amount
 * of work and returns.  Errors: negative FW_E* values; fw_why() names the
 * reason of the last one (a constant string; no formatting in firmware).
 * Build: on the host into the emulator and tests; `make firmware`
 * cross-compiles it for rv32imc (mk/firmware.mk) and prints its size.
 */
#ifndef LOOM_FW_H
#define LOOM_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_hal.h"
#include "loom/devif.h"
#include "loom/rtl_mfld.h"

#define FW_MAX_JOBS 16	 /* descriptors in flight */
#define FW_STAGE 24	 /* records waiting for the CQ (>= FW_MAX_JOBS) */
#define FW_FETCH_BATCH 8 /* descriptors fetched per DMA */
#define FW_DIE_LOG2 3	 /* the die's rings: 8 entries */
#define FW_DIE_ENTRIES (1u << FW_DIE_LOG2)
#define FW_RX_PER_STEP 4 /* mesh messages taken per step */
#define FW_DIE_MAX_BLOCKS 32

/* Firmware-to-firmware message header on the mesh (32 bytes, then the
 * payload).  Not seen by the host. */
struct fw_msg_hdr {
	uint8_t magic;	   /* FW_MSG_MAGIC */
	uint8_t flags;	   /* DEVIF_F_* | FW_MSG_VOID */
	uint8_t region;
	uint8_t rsvd;
	uint16_t epoch;	   /* the sender's epoch number of (dst, region) */
	uint16_t rsvd1;
	uint32_t offset;   /* byte offset in the region (remote_va == 0) */
	uint32_t count;	   /* RELEASE: writes in the epoch, this one included */
	uint32_t imm;	   /* RELEASE: the send's imm (0 otherwise) */
	uint32_t rsvd2;
	uint64_t remote_va; /* nonzero: the write's address in the reader's space */
};
DEVIF_ASSERT(sizeof(struct fw_msg_hdr) == 32, "fw_msg_hdr is 32 bytes");
DEVIF_ASSERT(offsetof(struct fw_msg_hdr, remote_va) == 24, "fw_msg_hdr.remote_va");
#define FW_MSG_MAGIC 0xa5
#define FW_MSG_VOID 0x80 /* the write failed at the sender: count it, store nothing */

/* the die's blocks as discovered (offsets of each block; 0 = none found) */
struct fw_die_map {
	uint32_t device, queue, dram, engines;
	uint32_t nblocks;
	uint32_t opcodes;		 /* engines block: bit mask of enum rtl_mfld_engine */
	uint32_t ib_bytes, ob_bytes;	 /* engine buffers */
	uint32_t dram_log2;		 /* log2 of DRAM bytes */
};

enum fw_job_state {
	FW_JOB_FREE = 0,
	FW_JOB_DIE,	   /* posted to the die's ring */
	FW_JOB_DMA,	   /* a DMA_TO_DEV / DMA_FROM_DEV transfer in flight */
	FW_JOB_MESH_READ,  /* MESH_SEND: reading the host buffer */
	FW_JOB_MESH_SEND,  /* MESH_SEND: waiting for the NI to take it */
};

struct fw_job {
	uint8_t state;	   /* enum fw_job_state */
	uint8_t opcode;
	uint16_t status;   /* for MESH_SEND: the status to report once sent */
	uint32_t index;	   /* descriptor index */
	uint64_t tag;
	uint64_t t_fetch;  /* cycle the descriptor was fetched */
	uint32_t pending;  /* DMA_*: transfers in flight */
};

/* Send side of one (destination, region): epochs this device opened. */
struct fw_tx_region {
	uint16_t epoch;	 /* current (open) or next epoch number */
	uint8_t open;	 /* an epoch is open (ACQUIRE seen, no RELEASE yet) */
	uint8_t rsvd;
	uint32_t writes; /* sends in the open epoch */
};

/*
 * Receive side of one (sender, region): the epoch window.
 * Invariant (devif.h): epoch e is released (a MESH_RELEASE record staged)
 * iff its RELEASE message has arrived (need[e] != 0), landed[e] ==
 * need[e] (every write of e, the release included, has landed), and
 * every epoch before e has been released; `next` is the oldest
 * unreleased epoch, slot = epoch % DEVIF_EPOCH_WINDOW.  The record then
 * carries imm[e] (set with need[e] by the RELEASE message) and bytes[e]
 * (payload bytes whose landing DMA completed without error; final because
 * landed[e] == need[e]); all of a slot's fields are zeroed on release.
 */
/* The state of one epoch slot at the receiver, derived from its counts
 * (fw_mesh.c fw_epoch_state); a slot is reused once released.  Transitions:
 * IDLE -write lands-> FILLING -RELEASE arrives-> DRAINING -last write lands->
 * COMPLETE -all earlier epochs released-> (record staged) IDLE; a RELEASE
 * may also come first (IDLE -> DRAINING) or last (FILLING -> COMPLETE). */
enum fw_epoch_state {
	FW_EPOCH_IDLE = 0,     /* nothing seen */
	FW_EPOCH_FILLING = 1,  /* writes landing, RELEASE not seen */
	FW_EPOCH_DRAINING = 2, /* RELEASE seen, writes still in flight */
	FW_EPOCH_COMPLETE = 3, /* every write landed: released in epoch order */
};

struct fw_rx_region {
	uint16_t next;
	uint8_t bad[DEVIF_EPOCH_WINDOW]; /* enum devif_status of a failed write, 0 = none */
	uint32_t landed[DEVIF_EPOCH_WINDOW];
	uint32_t need[DEVIF_EPOCH_WINDOW]; /* 0: release not seen yet */
	uint32_t imm[DEVIF_EPOCH_WINDOW];  /* the RELEASE message's imm */
	uint32_t bytes[DEVIF_EPOCH_WINDOW]; /* payload bytes landed */
};

struct fw_region {
	uint64_t host_addr;
	uint64_t tag;
	uint64_t va;	/* REGION_MAP remote_va: the base remote_va writes are relative to */
	uint32_t bytes; /* 0: not mapped */
};

struct fw_stats {
	uint32_t descs, errors;	   /* descriptors served, error records */
	uint32_t irqs;		   /* interrupt messages */
	uint32_t rx_msgs, rx_bad;  /* mesh messages landed / dropped as malformed */
	uint32_t releases;	   /* region epochs released */
	uint32_t comp_dma_errors;  /* record writes that failed (the record is lost) */
};

struct fw {
	struct fw_hal hal;
	const char *why;	   /* reason of the last error */
	uint32_t rank, ranks;
	struct fw_die_map die;
	/* BAR0 register file */
	uint64_t sq_base, cq_base;
	uint32_t log2, ctrl, dev_status;
	uint32_t doorbell;	   /* last accepted */
	uint32_t sq_head, cq_tail, cq_head;
	uint32_t irq_status, irq_enable, coal_count, coal_cycles;
	bool overrun_pending;
	uint32_t overrun_value;
	/* fetch */
	uint32_t fetch_next;	   /* index of the next descriptor to fetch */
	bool fetch_busy;
	uint32_t batch_n, batch_i, batch_first;
	uint64_t batch_t;	   /* cycle the batch arrived */
	bool batch_err;	   /* its fetch failed: every descriptor gets DMA_ERR */
	struct devif_desc batch[FW_FETCH_BATCH];
	/* work and records */
	struct fw_job jobs[FW_MAX_JOBS];
	uint32_t jobs_used;
	struct devif_comp stage[FW_STAGE];
	uint32_t stage_head, stage_count;
	/* interrupts: records since the last interrupt, and when the first came */
	uint32_t unsignalled;
	bool err_unsignalled;
	uint64_t t_unsignalled;
	/* the logic die's rings (the die reads and writes them by DMA) */
	struct rtl_mfld_desc die_ring[FW_DIE_ENTRIES];
	struct rtl_mfld_comp die_comp[FW_DIE_ENTRIES];
	uint32_t die_posted, die_seen;
	/* mesh */
	struct fw_tx_region tx[DEVIF_MAX_RANKS][DEVIF_REGIONS];
	struct fw_rx_region rx[DEVIF_MAX_RANKS][DEVIF_REGIONS];
	struct fw_region regions[DEVIF_REGIONS];
	int tx_job;		   /* job owning tx_buf, -1 none */
	uint32_t tx_len, tx_dst;
	uint8_t tx_buf[sizeof(struct fw_msg_hdr) + DEVIF_MESH_MAX_BYTES];
	uint32_t rx_len;	   /* a received message waiting for the DMA engine */
	unsigned rx_src;
	uint8_t rx_buf[sizeof(struct fw_msg_hdr) + DEVIF_MESH_MAX_BYTES];
	bool release_scan;	   /* a release waits for room in the stage */
	struct fw_stats stats;
};

struct fw_config {
	uint32_t rank, ranks; /* this device on the mesh; ranks in 1..DEVIF_MAX_RANKS */
};

/* Reset f, walk the die's register chain (fw_die.c), program the die's
 * rings.  -FW_EINVAL bad config or HAL; -FW_EPROTO / -FW_ELOOP malformed
 * chain; -FW_ENODEV a required block missing or wrong magic. */
int fw_init(struct fw *f, const struct fw_hal *hal, const struct fw_config *cfg);
/* One bounded slice of work; 0, or a negative errno when the HAL failed
 * in a way the firmware cannot serve through (the die vanished). */
int fw_step(struct fw *f);
/* Host MMIO on BAR0: off a multiple of 4 below DEVIF_BAR0_BYTES
 * (-FW_EFAULT otherwise); unknown offsets read 0 and ignore writes. */
int fw_bar_read(struct fw *f, uint32_t off, uint32_t *val);
int fw_bar_write(struct fw *f, uint32_t off, uint32_t val);
const char *fw_why(const struct fw *f);

/* ---- shared between the firmware's files (not for the emulator) ---- */
int fw_fail(struct fw *f, int err, const char *why);
void fw_memcpy(void *dst, const void *src, size_t n);
void fw_memset(void *dst, int c, size_t n);
int fw_die_discover(struct fw *f);
int fw_die_start(struct fw *f);
bool fw_die_has_room(const struct fw *f);
void fw_die_post(struct fw *f, int job, const struct devif_desc *d);
int fw_die_poll(struct fw *f);
int fw_job_alloc(struct fw *f, const struct devif_desc *d, uint32_t index);
void fw_job_finish(struct fw *f, int job, uint16_t status);
bool fw_stage_push(struct fw *f, const struct devif_comp *c);
bool fw_stage_has_room(const struct fw *f);
uint16_t fw_mesh_check(struct fw *f, const struct devif_desc *d);
bool fw_mesh_send_start(struct fw *f, int job, const struct devif_desc *d);
void fw_mesh_map(struct fw *f, const struct devif_desc *d);
void fw_mesh_dma_done(struct fw *f, uint32_t cookie, int status);
void fw_mesh_step(struct fw *f);

/* DMA cookies: kind in the top 4 bits */
#define FW_CK_FETCH 0x1u
#define FW_CK_COMP 0x2u
#define FW_CK_JOB 0x3u	   /* low bits: job */
#define FW_CK_MESH_TX 0x4u /* low bits: job */
#define FW_CK_LAND 0x5u	   /* low bits: bytes << 12 | src << 8 | region << 4 | slot */
#define FW_CK(kind, low) (((uint32_t)(kind) << 28) | (uint32_t)(low))
#define FW_CK_KIND(c) ((c) >> 28)
#define FW_CK_LOW(c) ((c) & 0x0fffffffu)

#endif

/*
 * devif.h - the emulated device's host interface: what the host driver and
 * the device firmware (firmware/) agree on.  BAR0 registers, the 64-byte
 * submission descriptor, the 32-byte completion record, opcodes and status
 * codes.  Little-endian throughout.  It is not the logic die's own
 * interface (rtl_mfld.h): the firmware translates engine descriptors into
 * the die's, and it is not the link (simlink.h), which only carries MMIO,
 * DMA and interrupts.
 *
 * Registers (BAR0, 32-bit, byte offsets) form a chain of self-describing
 * blocks, as the logic die's do: word 0 = type << 16 | version, word 1 =
 * offset of the next block (0 ends the chain).  A driver finds blocks by
 * walking the chain from offset 0; the offsets below are where this version
 * puts them.  Reads have no side effects.
 *
 * Queues.  The submission ring (SQ) and the completion ring (CQ) live in
 * host DMA memory, 2^log2 entries each (1..4096).  The host writes
 * descriptor i into SQ slot i mod entries and then writes the doorbell with
 * the free-running count of descriptors posted.  The device fetches by DMA,
 * consumes in order (SQ_HEAD, free-running) and writes a completion record
 * per descriptor into CQ slot (CQ_TAIL mod entries), not necessarily in
 * submission order: records carry the tag and the index.  The host reports
 * the records it has consumed in CQ_HEAD; the device never has more than
 * entries records unread (it holds the rest).  Each record's phase bit is 1
 * on the first pass through the CQ, 0 on the second, and so on, so the host
 * may poll the ring without reading CQ_TAIL.  A doorbell more than entries
 * ahead of SQ_HEAD (or behind it) is ignored and answered with a
 * RING_OVERRUN record whose index is the doorbell value.
 *
 * Descriptors are started in ring order but run concurrently (DMA, engine
 * and mesh work overlap) and may finish in any order: a descriptor that
 * reads what an earlier one writes (an engine op on the bytes of a
 * DMA_TO_DEV) is posted only after the earlier one's record.
 *
 * Every malformed descriptor gets a record with the status naming the
 * field class it broke; the device goes on with the next one.
 *
 * Interrupts: vector 0.  IRQ_STATUS bit 0 = completions written, bit 1 = an
 * error record written; write 1 to clear.  A message is sent when an
 * enabled bit is set and either IRQ_COAL_COUNT records have been written
 * since the last interrupt, or the oldest unsignalled record is
 * IRQ_COAL_CYCLES device cycles old, or an error record was written (never
 * delayed).  The record writes precede the interrupt on the link (posted
 * write ordering).
 *
 * Mesh regions (MESH_SEND, REGION_MAP): a receiver maps region r to a host
 * buffer, optionally known by a base address of its own choosing (the
 * region's VA, REGION_MAP remote_va); senders write (offset, bytes) of it,
 * the offset given either directly (dev_addr) or as an address in the
 * reader's space (remote_va; offset = remote_va - VA).  A write that does
 * not fit the region lands nothing and fails its epoch (BAD_ADDR in the
 * release record).  Writes of a region from one
 * sender form epochs: the send with flag ACQUIRE opens an epoch, the send
 * with RELEASE closes it (one send may carry both).  The receiving device
 * writes a MESH_RELEASE record (tag = the REGION_MAP tag, index = epoch,
 * result = sender rank, imm = the RELEASE send's imm, bytes = payload bytes
 * the epoch landed) only after every write of that epoch has landed in
 * its host memory, and releases the epochs of one (sender, region) in
 * order; the sender waits for nothing (no fence round trip).  At most
 * DEVIF_EPOCH_WINDOW epochs of one (sender, region) may be unreleased at a
 * receiver; the reader's own flow control keeps it so.
 */
#ifndef LOOM_DEVIF_H
#define LOOM_DEVIF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define DEVIF_ASSERT static_assert /* C++ spells C11's _Static_assert so */
#else
#define DEVIF_ASSERT _Static_assert
#endif

/* Interface version: major changes break drivers; minor ones add.
 * 1.1: MESH_SEND imm and remote_va, REGION_MAP remote_va, and imm / bytes
 * in MESH_RELEASE records (all were reserved zeros in 1.0). */
#define DEVIF_VERSION_MAJOR 1
#define DEVIF_VERSION_MINOR 1
#define DEVIF_VERSION ((DEVIF_VERSION_MAJOR << 16) | DEVIF_VERSION_MINOR)
#define DEVIF_MAGIC 0x4c4d4456u /* "LMDV" */
#define DEVIF_BAR0_BYTES 4096

/* ---- register blocks ---- */
#define DEVIF_BLK_DEVICE 0x10 /* magic, version, opcode mask, rank, ranks */
#define DEVIF_BLK_QUEUE 0x11  /* rings, doorbell, heads */
#define DEVIF_BLK_IRQ 0x12    /* interrupt status, enable, coalescing */
#define DEVIF_BLK_VERSION 1   /* version field of each block (low 16 bits of word 0) */

#define DEVIF_REG_DEVICE 0x000
#define DEVIF_DEV_MAGIC 0x08	/* DEVIF_MAGIC */
#define DEVIF_DEV_VERSION 0x0c	/* DEVIF_VERSION */
#define DEVIF_DEV_OPCODES 0x10	/* bit i: opcode i served */
#define DEVIF_DEV_RANK 0x14	/* this device's rank on the mesh */
#define DEVIF_DEV_RANKS 0x18	/* ranks on the mesh */
#define DEVIF_DEV_STATUS 0x1c	/* DEVIF_STS_* */
#define DEVIF_DEV_ERRORS 0x20	/* error records written (free-running) */
#define DEVIF_DEV_DRAM_LOG2 0x24 /* log2 of device DRAM bytes */

#define DEVIF_REG_QUEUE 0x040
#define DEVIF_Q_SQ_LO 0x08	/* SQ base, host DMA address, 64-byte aligned */
#define DEVIF_Q_SQ_HI 0x0c
#define DEVIF_Q_CQ_LO 0x10	/* CQ base, 32-byte aligned */
#define DEVIF_Q_CQ_HI 0x14
#define DEVIF_Q_LOG2 0x18	/* log2 entries of both rings, 0..12 */
#define DEVIF_Q_CTRL 0x1c	/* DEVIF_CTRL_*; ring bases and log2 are checked when ENABLE is
				 * set and ignored when written while enabled */
#define DEVIF_Q_DOORBELL 0x20	/* write: descriptors posted (free-running); read: last accepted */
#define DEVIF_Q_SQ_HEAD 0x24	/* descriptors consumed (free-running), read only */
#define DEVIF_Q_CQ_TAIL 0x28	/* records written (free-running), read only */
#define DEVIF_Q_CQ_HEAD 0x2c	/* records the host has consumed (free-running) */

#define DEVIF_REG_IRQ 0x080
#define DEVIF_IRQ_STATUS 0x08	 /* DEVIF_IRQ_*; write 1 to clear */
#define DEVIF_IRQ_ENABLE 0x0c	 /* DEVIF_IRQ_* */
#define DEVIF_IRQ_COAL_COUNT 0x10 /* records per interrupt, 1..65535 (reset 1) */
#define DEVIF_IRQ_COAL_CYCLES 0x14 /* longest delay in device cycles (reset 0 = none) */
#define DEVIF_IRQ_RAISED 0x18	 /* interrupt messages sent (free-running) */

#define DEVIF_CTRL_ENABLE 1u	/* serve the rings */
#define DEVIF_STS_RUNNING 1u	/* serving */
#define DEVIF_STS_BAD_CONFIG 2u /* ENABLE refused: ring base unaligned or log2 > 12 */
#define DEVIF_IRQ_COMP 1u
#define DEVIF_IRQ_ERR 2u
#define DEVIF_MAX_LOG2 12

/* ---- opcodes ---- */
enum devif_opcode {
	DEVIF_OP_NOP = 0,
	/* engine ops on the logic die; operands in device DRAM (eng_*) */
	DEVIF_OP_COMBINE = 1,
	DEVIF_OP_QUANT = 2,
	DEVIF_OP_DEQUANT = 3,
	DEVIF_OP_LOGFMT_ENC = 4,
	DEVIF_OP_LOGFMT_DEC = 5,
	DEVIF_OP_GATHER = 6,
	DEVIF_OP_SCATTER = 7,
	DEVIF_OP_DMA_TO_DEV = 8,   /* host_addr -> DRAM dev_addr, len_bytes */
	DEVIF_OP_DMA_FROM_DEV = 9, /* DRAM dev_addr -> host_addr, len_bytes */
	DEVIF_OP_MESH_SEND = 10,   /* host_addr, len_bytes -> rank dst_rank's region at dev_addr */
	DEVIF_OP_REGION_MAP = 11,  /* region -> host_addr, len_bytes (0: unmap) on this device */
	DEVIF_OP_COUNT = 12,
	DEVIF_OP_MESH_RELEASE = 0x80, /* in records only: a region epoch released */
};
/* engine opcodes map to the logic die's: enum rtl_mfld_engine = op - 1 */
#define DEVIF_OP_ENGINE_FIRST DEVIF_OP_COMBINE
#define DEVIF_OP_ENGINE_LAST DEVIF_OP_SCATTER

/* descriptor flags (MESH_SEND only; any other bit or opcode: BAD_FLAGS) */
#define DEVIF_F_ACQUIRE 1u /* opens an epoch of (dst_rank, region) */
#define DEVIF_F_RELEASE 2u /* closes it */

#define DEVIF_REGIONS 16	    /* region ids 0..15 */
#define DEVIF_MAX_RANKS 16	    /* ranks on one mesh */
#define DEVIF_EPOCH_WINDOW 4	    /* unreleased epochs per (sender, region) */
#define DEVIF_DMA_MAX_BYTES (1u << 20) /* DMA_TO_DEV / DMA_FROM_DEV */
#define DEVIF_MESH_MAX_BYTES 4096u   /* one MESH_SEND's payload */

/*
 * Submission descriptor: 64 bytes.  Fields an opcode does not use, and
 * every rsvd field, must be zero (else BAD_PARAM), so they can gain a
 * meaning later without breaking old drivers.  Bytes 32..55 are the engine
 * fields for engine ops and (imm, mesh_rsvd) for MESH_SEND (a C11
 * anonymous union: both sets of names stay valid).
 */
struct devif_desc {
	uint8_t opcode;	     /* enum devif_opcode */
	uint8_t flags;	     /* DEVIF_F_* */
	uint16_t region;     /* MESH_SEND, REGION_MAP: region id */
	uint32_t len_bytes;  /* DMA_*: 1..DEVIF_DMA_MAX_BYTES, a multiple of 32;
			      * MESH_SEND: 0..DEVIF_MESH_MAX_BYTES; REGION_MAP: size */
	uint64_t tag;	     /* echoed in the record */
	uint64_t host_addr;  /* DMA_*, MESH_SEND source, REGION_MAP buffer */
	uint32_t dev_addr;   /* DMA_*: DRAM byte address (32-aligned);
			      * MESH_SEND: byte offset in the destination's region
			      * (0 when remote_va addresses the write) */
	uint16_t dst_rank;   /* MESH_SEND */
	uint16_t rsvd0;
	union {
		/* engine ops: the logic die's work unit (rtl_mfld.h) */
		struct {
			uint8_t eng_k;	     /* COMBINE rows 1..16; QUANT scale mode 0/1 */
			uint8_t eng_nbits;   /* LOGFMT 8..10 */
			uint8_t eng_len;     /* elements / index entries, 1..128 */
			uint8_t eng_nrows;   /* GATHER / SCATTER rows, 1..255 */
			uint16_t eng_row_words; /* GATHER / SCATTER row size in 32-bit words */
			uint16_t rsvd1;
			uint32_t eng_src;    /* DRAM address of the input buffer image, 32-aligned */
			uint32_t eng_in_bytes; /* multiple of 32, 32..input buffer bytes */
			uint32_t eng_dst;    /* DRAM address for the output buffer image */
			uint32_t eng_out_bytes; /* multiple of 32, 32..output buffer bytes */
		};
		/* MESH_SEND */
		struct {
			uint32_t imm;	     /* immediate for the reader's MESH_RELEASE record;
					      * nonzero only with DEVIF_F_RELEASE (1.1) */
			uint32_t mesh_rsvd[5];
		};
	};
	/* (1.1) MESH_SEND: the destination address in the reader's address
	 * space, landing at region offset remote_va - the region's VA; 0 =
	 * dev_addr is the offset.  REGION_MAP: the region's VA, the address
	 * senders know it by (0 allowed).  Others: 0. */
	uint64_t remote_va;
};
DEVIF_ASSERT(sizeof(struct devif_desc) == 64, "devif_desc is 64 bytes");
DEVIF_ASSERT(offsetof(struct devif_desc, tag) == 8, "devif_desc.tag");
DEVIF_ASSERT(offsetof(struct devif_desc, host_addr) == 16, "devif_desc.host_addr");
DEVIF_ASSERT(offsetof(struct devif_desc, dev_addr) == 24, "devif_desc.dev_addr");
DEVIF_ASSERT(offsetof(struct devif_desc, dst_rank) == 28, "devif_desc.dst_rank");
DEVIF_ASSERT(offsetof(struct devif_desc, eng_k) == 32, "devif_desc.eng_k");
DEVIF_ASSERT(offsetof(struct devif_desc, eng_row_words) == 36, "devif_desc.eng_row_words");
DEVIF_ASSERT(offsetof(struct devif_desc, eng_src) == 40, "devif_desc.eng_src");
DEVIF_ASSERT(offsetof(struct devif_desc, eng_out_bytes) == 52, "devif_desc.eng_out_bytes");
DEVIF_ASSERT(offsetof(struct devif_desc, imm) == 32, "devif_desc.imm");
DEVIF_ASSERT(offsetof(struct devif_desc, mesh_rsvd) == 36, "devif_desc.mesh_rsvd");
DEVIF_ASSERT(offsetof(struct devif_desc, remote_va) == 56, "devif_desc.remote_va");

enum devif_status {
	DEVIF_ST_OK = 0,
	DEVIF_ST_BAD_OPCODE = 1,   /* unknown or not served (DEV_OPCODES) */
	DEVIF_ST_BAD_ADDR = 2,	   /* DRAM address unaligned or past the DRAM; region bounds */
	DEVIF_ST_BAD_LEN = 3,	   /* a length 0 where not allowed, too long or misaligned */
	DEVIF_ST_BAD_PARAM = 4,	   /* engine parameter, rank, region out of range; rsvd nonzero */
	DEVIF_ST_BAD_FLAGS = 5,	   /* unknown flag, flag on another opcode, epoch misuse */
	DEVIF_ST_RING_OVERRUN = 6, /* doorbell beyond the ring (or backwards): ignored */
	DEVIF_ST_ENGINE_ERR = 7,   /* the logic die rejected the unit (nothing stored) */
	DEVIF_ST_DMA_ERR = 8,	   /* a host or DRAM transfer failed */
	DEVIF_ST_MESH_ERR = 9,	   /* the network interface refused the message */
};

/* Completion record: 32 bytes. */
struct devif_comp {
	uint64_t tag;	   /* the descriptor's; MESH_RELEASE: the REGION_MAP tag */
	uint32_t index;	   /* descriptor index (free-running); RING_OVERRUN: the
			    * doorbell value; MESH_RELEASE: the epoch */
	uint16_t status;   /* enum devif_status */
	uint8_t opcode;	   /* the descriptor's, or DEVIF_OP_MESH_RELEASE */
	uint8_t phase;	   /* 1 on the first pass through the CQ, then 0, 1, ... */
	uint32_t result;   /* MESH_RELEASE: sender rank; others 0 */
	uint32_t cycles;   /* device cycles from fetch to record (saturating) */
	uint32_t imm;	   /* (1.1) MESH_RELEASE: the imm of the epoch's RELEASE send; others 0 */
	uint32_t bytes;	   /* (1.1) MESH_RELEASE: payload bytes of the epoch landed in
			    * the region (failed writes not counted); others 0 */
};
DEVIF_ASSERT(sizeof(struct devif_comp) == 32, "devif_comp is 32 bytes");
DEVIF_ASSERT(offsetof(struct devif_comp, index) == 8, "devif_comp.index");
DEVIF_ASSERT(offsetof(struct devif_comp, status) == 12, "devif_comp.status");
DEVIF_ASSERT(offsetof(struct devif_comp, opcode) == 14, "devif_comp.opcode");
DEVIF_ASSERT(offsetof(struct devif_comp, phase) == 15, "devif_comp.phase");
DEVIF_ASSERT(offsetof(struct devif_comp, result) == 16, "devif_comp.result");
DEVIF_ASSERT(offsetof(struct devif_comp, cycles) == 20, "devif_comp.cycles");
DEVIF_ASSERT(offsetof(struct devif_comp, imm) == 24, "devif_comp.imm");
DEVIF_ASSERT(offsetof(struct devif_comp, bytes) == 28, "devif_comp.bytes");

#ifdef __cplusplus
}
#endif
#endif

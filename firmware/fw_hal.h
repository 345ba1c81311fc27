/*
 * fw_hal.h - everything the firmware may touch outside its own memory.
 * The firmware reaches hardware only through these calls; loom-emud
 * implements them on the RTL models and the device link, the host tests
 * implement them on a software model.  It is not a driver API: nothing
 * here is seen by the host.
 *
 * Contract (every call is non-blocking; the firmware is single-threaded
 * and the HAL is called only from inside fw_init / fw_step):
 *   mmio_read / mmio_write   32-bit control registers of a device-side
 *       unit (FW_SPACE_*), byte offset; 0 or a negative errno (an
 *       offset outside the space: -FW_EFAULT).
 *   dma_submit   start a transfer (struct fw_dma); 0 when accepted,
 *       -FW_EAGAIN when the engine's queue is full (retry later),
 *       -FW_EINVAL for a request it cannot express.  A LOCAL_TO_HOST
 *       transfer copies its source bytes at submit (posted, as a PCIe
 *       write), so the firmware may reuse the buffer at once; a
 *       HOST_TO_LOCAL one fills local only by the time it is reaped.
 *       Transfers may finish in any order; each is reaped exactly once.
 *       One transfer may be up to DEVIF_DMA_MAX_BYTES long: the DMA engine
 *       cuts it into link-sized pieces itself.
 *       Writes to the host that were submitted before an irq() reach the
 *       host before that interrupt (posted-write ordering).
 *   dma_reap    1 with *cookie and *status (0 or a negative errno) of one
 *       finished transfer, 0 when none has finished.
 *   ni_send     queue one message (a header and a payload, either may be
 *       empty) to rank dst's network interface; 0, -FW_EAGAIN when the
 *       NI has no room (retry), another negative errno for a bad rank.
 *       The bytes are copied.  Messages may arrive out of order.
 *   ni_recv     take one delivered message into buf (at most max bytes):
 *       its length, 0 when none waits, -FW_EMSGSIZE when it was longer
 *       than max (it is dropped); *src = the sender's rank.
 *   cycles      the device clock, cycles since reset (monotonic).
 *   irq         send interrupt message `vector` to the host.
 *   local_addr  the address under which the logic die's DMA reaches a
 *       byte of firmware memory (its descriptor and completion rings live
 *       there: the firmware is the die's host).
 * The host's BAR0 accesses are not HAL calls: the emulator hands them to
 * fw_bar_read / fw_bar_write (fw.h), the device's register file; the
 * doorbell is such a register, and fw_step notices when it has moved.
 */
#ifndef LOOM_FW_HAL_H
#define LOOM_FW_HAL_H

#include <stdint.h>

/* errno values (Linux numbering) for a freestanding build without errno.h */
#define FW_EIO 5
#define FW_EAGAIN 11
#define FW_ENOMEM 12
#define FW_EFAULT 14
#define FW_ENODEV 19
#define FW_EINVAL 22
#define FW_EMSGSIZE 90
#define FW_EPROTO 71
#define FW_ELOOP 40

enum fw_space {
	FW_SPACE_DIE = 0, /* the logic die's register chain (rtl_mfld.h) */
	FW_SPACE_NI = 1,  /* the mesh NI's registers (none in the current NI model) */
};

enum fw_dma_kind {
	FW_DMA_HOST_TO_LOCAL = 0, /* host memory -> firmware memory */
	FW_DMA_LOCAL_TO_HOST = 1, /* firmware memory -> host memory (copied at submit) */
	FW_DMA_HOST_TO_DRAM = 2,  /* host memory -> device DRAM */
	FW_DMA_DRAM_TO_HOST = 3,  /* device DRAM -> host memory */
};

struct fw_dma {
	uint32_t kind;	    /* enum fw_dma_kind */
	uint32_t len_bytes; /* > 0 */
	uint64_t host_addr;
	uint32_t dram_addr; /* *_DRAM kinds */
	uint32_t cookie;    /* returned by dma_reap */
	void *local;	    /* *_LOCAL kinds */
};

struct fw_hal {
	int (*mmio_read)(void *ctx, unsigned space, uint32_t off, uint32_t *val);
	int (*mmio_write)(void *ctx, unsigned space, uint32_t off, uint32_t val);
	int (*dma_submit)(void *ctx, const struct fw_dma *d);
	int (*dma_reap)(void *ctx, uint32_t *cookie, int *status);
	int (*ni_send)(void *ctx, unsigned dst, const void *hdr, uint32_t hdr_bytes,
		       const void *payload, uint32_t payload_bytes);
	int (*ni_recv)(void *ctx, void *buf, uint32_t max, unsigned *src);
	uint64_t (*cycles)(void *ctx);
	void (*irq)(void *ctx, unsigned vector);
	uint64_t (*local_addr)(void *ctx, const void *p);
	void *ctx;
};

#endif

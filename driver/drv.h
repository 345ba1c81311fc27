/*
 * drv.h - libloomdrv internals: the driver object and the DMA allocator.
 */
#ifndef LOOM_DRIVER_DRV_H
#define LOOM_DRIVER_DRV_H

#include <stdint.h>

#include "loom/loomdrv.h"
#include "loom/simlink.h"

#define DRV_DMA_EXTENTS 1024
#define DRV_MAX_BLOCKS 32

struct drv_extent {
	uint64_t start, bytes;
};

struct drv_dma {
	unsigned n;
	struct drv_extent ext[DRV_DMA_EXTENTS];
};

void drv_dma_init(struct drv_dma *m, uint64_t bytes);
int drv_dma_take(struct drv_dma *m, uint64_t bytes, uint64_t align, uint64_t *addr);
void drv_dma_give(struct drv_dma *m, uint64_t addr, uint64_t bytes);

struct loomdrv {
	struct simlink *link;
	struct loomdrv_opts o;
	struct loomdrv_info info;
	struct loomdrv_stats st;
	int dead;			 /* the error every call returns once the link broke */
	uint32_t blk_type[DRV_MAX_BLOCKS], blk_off[DRV_MAX_BLOCKS];
	uint32_t reg_q, reg_irq;	 /* block offsets */
	struct loomdrv_buf sq, cq;
	uint32_t entries;
	uint32_t sq_tail;		 /* descriptors posted (free-running) */
	uint32_t fetched;		 /* lower bound of the device's SQ_HEAD */
	uint32_t cq_head, cq_head_told;	 /* records taken; last told to the device */
	uint32_t outstanding;
	struct drv_dma dma;
};

#endif

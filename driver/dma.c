/*
 * dma.c - libloomdrv's host DMA memory allocator: first fit over a sorted
 * list of free extents of the link's DMA memory (device address = offset
 * in it), coalescing on free.  Not thread-safe (the driver's single-owner
 * rule covers it).  Not a general malloc: a few hundred buffers at most.
 */
#include <errno.h>
#include <string.h>

#include "loom/err.h"
#include "drv.h"

void drv_dma_init(struct drv_dma *m, uint64_t bytes)
{
	m->n = 1;
	m->ext[0].start = 0;
	m->ext[0].bytes = bytes;
}

int drv_dma_take(struct drv_dma *m, uint64_t bytes, uint64_t align, uint64_t *addr)
{
	for (unsigned i = 0; i < m->n; i++) {
		struct drv_extent *e = &m->ext[i];
		uint64_t a = (e->start + align - 1) & ~(align - 1), pad = a - e->start;

		if (e->bytes < pad || e->bytes - pad < bytes)
			continue;
		if (pad && m->n == DRV_DMA_EXTENTS)
			return loom_err_set(ENOMEM, "loomdrv: DMA memory too fragmented");
		if (pad) { /* keep [start, a) free, before this extent */
			memmove(m->ext + i + 1, m->ext + i, (m->n - i) * sizeof(*e));
			m->n++;
			m->ext[i].bytes = pad;
			e = &m->ext[++i];
			e->start = a;
			e->bytes -= pad;
		}
		e->start += bytes;
		e->bytes -= bytes;
		if (!e->bytes) {
			memmove(e, e + 1, (m->n - i - 1) * sizeof(*e));
			m->n--;
		}
		*addr = a;
		return 0;
	}
	return loom_err_set(ENOMEM, "loomdrv: no %llu bytes of DMA memory left (aligned %llu)",
			    (unsigned long long)bytes, (unsigned long long)align);
}

void drv_dma_give(struct drv_dma *m, uint64_t addr, uint64_t bytes)
{
	unsigned i = 0;

	while (i < m->n && m->ext[i].start < addr)
		i++;
	/* merge with the neighbours where they touch */
	if (i > 0 && m->ext[i - 1].start + m->ext[i - 1].bytes == addr) {
		m->ext[i - 1].bytes += bytes;
		if (i < m->n && addr + bytes == m->ext[i].start) {
			m->ext[i - 1].bytes += m->ext[i].bytes;
			memmove(m->ext + i, m->ext + i + 1, (m->n - i - 1) * sizeof(m->ext[0]));
			m->n--;
		}
		return;
	}
	if (i < m->n && addr + bytes == m->ext[i].start) {
		m->ext[i].start = addr;
		m->ext[i].bytes += bytes;
		return;
	}
	if (m->n == DRV_DMA_EXTENTS)
		return; /* leaked rather than corrupt the list: cannot happen with
			 * DRV_DMA_EXTENTS > live buffers + 1 */
	memmove(m->ext + i + 1, m->ext + i, (m->n - i) * sizeof(m->ext[0]));
	m->ext[i].start = addr;
	m->ext[i].bytes = bytes;
	m->n++;
}

/*
 * mem.c - tp_mem_alloc / tp_mem_free: page-aligned blocks for transfer
 * buffers, from the provider when it can pass them to peers by reference
 * (shm: shared-memory files, shm_mem.c), else from the heap.  The core keeps
 * every live block in a list on its device, so a pointer it did not hand out
 * is refused rather than freed, and a device with live blocks stays open.
 *
 * Not here: what a provider does with the blocks (by-reference transfers).
 * Concurrency: the list and its count are guarded by tp_device.lock; the
 * MR-overlap check takes the MR table's read lock.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loom/err.h"
#include "provider.h"

#define MEM_LEN_MAX ((size_t)1 << 40)

/* Whether an MR of dev's key table overlaps [addr, addr + len). */
static bool mem_registered(struct tp_device *dev, uintptr_t addr, size_t len)
{
	struct tp_mr_table *t = &dev->mrs;
	bool hit = false;

	pthread_rwlock_rdlock(&t->lock);
	for (uint32_t i = 1; i < t->cap && !hit; i++) {
		const struct tp_mr_obj *m = t->slot[i];
		uintptr_t lo = m ? (uintptr_t)m->mr.addr : 0;

		hit = m && lo < addr + len && addr < lo + m->mr.length;
	}
	pthread_rwlock_unlock(&t->lock);
	return hit;
}

static int mem_map(struct tp_device *dev, struct tp_mem_obj *m)
{
	if (dev->ops->mem_alloc)
		return dev->ops->mem_alloc(dev, m->len, &m->addr);
	m->addr = aligned_alloc((size_t)sysconf(_SC_PAGESIZE), m->len);
	if (!m->addr)
		return loom_err_set(ENOMEM, "%s: mem_alloc: out of memory for %zu bytes",
				    dev->ops->name, m->len);
	memset(m->addr, 0, m->len);
	return 0;
}

void *tp_mem_alloc(struct tp_device *dev, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct tp_mem_obj *m;

	if (!dev || len == 0 || len > MEM_LEN_MAX) {
		loom_err_set(EINVAL, "transport: mem_alloc: dev %p, len %zu (need a device and "
			     "1 .. 2^40 bytes)", (void *)dev, len);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		loom_err_set(ENOMEM, "%s: mem_alloc: out of memory", dev->ops->name);
		return NULL;
	}
	m->len = (len + page - 1) & ~(page - 1);
	if (mem_map(dev, m) < 0) {
		free(m);
		return NULL;
	}
	pthread_mutex_lock(&dev->lock);
	m->next = dev->mems;
	dev->mems = m;
	dev->n_mem++;
	pthread_mutex_unlock(&dev->lock);
	return m->addr;
}

int tp_mem_free(struct tp_device *dev, void *addr)
{
	struct tp_mem_obj **pp, *m = NULL;
	bool busy = false;

	if (!dev || !addr)
		return loom_err_set(EINVAL, "transport: mem_free: NULL argument");
	pthread_mutex_lock(&dev->lock);
	for (pp = &dev->mems; *pp; pp = &(*pp)->next)
		if ((*pp)->addr == addr)
			break;
	busy = *pp && mem_registered(dev, (uintptr_t)addr, (*pp)->len);
	if (*pp && !busy) {
		m = *pp;
		*pp = m->next;
		dev->n_mem--;
	}
	pthread_mutex_unlock(&dev->lock);
	if (busy)
		return loom_err_set(EBUSY, "%s: mem_free: %p is still registered in an MR",
				    dev->ops->name, addr);
	if (!m)
		return loom_err_set(EINVAL, "%s: mem_free: %p is not a block of tp_mem_alloc on "
				    "this device", dev->ops->name, addr);
	if (dev->ops->mem_free)
		dev->ops->mem_free(dev, m->addr, m->len);
	else
		free(m->addr);
	free(m);
	return 0;
}

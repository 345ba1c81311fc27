/*
 * loomdrv.c - libloomdrv: the host driver of an emulated Loom device over
 * the device link (contract in include/loom/loomdrv.h, device interface in
 * include/loom/devif.h).
 *
 * Rings.  The submission ring (SQ, 64-byte descriptors) and completion ring
 * (CQ, 32-byte records) live in host DMA memory.  Posting writes the
 * descriptors into their slots and then one posted MMIO write of the
 * doorbell (posted writes and DMA are ordered on the link, and the device
 * reads the slots by DMA after it sees the doorbell).  A slot is free again
 * once the device has fetched it: the device fetches in order, so a record
 * for descriptor index i proves every index <= i fetched (records may come
 * out of order).  Records are taken by their phase bit (1 on the first pass
 * through the CQ, then alternating), so polling reads no register; CQ_HEAD
 * is written back every half ring and when nothing is outstanding, so the
 * device never runs out of record slots while the host keeps taking.
 *
 * Interrupts clear by writing IRQ_STATUS back (write 1 to clear).
 *
 * Known limit: the link copies a DMA write's bytes into host memory when
 * the device issues it, so a record can be visible up to one link latency
 * before its delivery time; callers time transfers by the device's cycle
 * count in the record (devif_comp.cycles), not by when the host saw it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "drv.h"

#define WAIT_SLICE_PS 10000000ull /* link time per wait step when polling: 10 us */

void loomdrv_opts_default(struct loomdrv_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->dma_bytes = 16u << 20;
	o->ring_log2 = 8;
	o->timeout_ms = 10000;
	o->use_irq = true;
	o->coal_count = 1;
	o->poll_ps = 1000000; /* 1 us */
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A link error: -EPIPE (or any failure of the link itself) kills the
 * driver, with a message naming the emulator. */
static int link_err(struct loomdrv *d, int err)
{
	if (err == -EPIPE && !d->dead) {
		d->dead = loom_err_set(EPIPE, "loomdrv: the emulator at %s has gone (%s)", d->o.path,
				       loom_err_msg());
		return d->dead;
	}
	return err;
}

static int dead_err(const struct loomdrv *d)
{
	return loom_err_set(-d->dead, "loomdrv: the emulator at %s has gone", d->o.path);
}

int loomdrv_reg_read(struct loomdrv *d, uint32_t off, uint32_t *val)
{
	uint64_t v = 0;
	int err;

	if (d->dead)
		return dead_err(d);
	err = simlink_mmio_read(d->link, 0, off, 4, &v);
	*val = (uint32_t)v;
	return err < 0 ? link_err(d, err) : 0;
}

int loomdrv_reg_write(struct loomdrv *d, uint32_t off, uint32_t val)
{
	int err;

	if (d->dead)
		return dead_err(d);
	err = simlink_mmio_write(d->link, 0, off, 4, val);
	return err < 0 ? link_err(d, err) : 0;
}

int loomdrv_block(const struct loomdrv *d, uint32_t type)
{
	for (uint32_t i = 0; i < d->info.blocks; i++)
		if (d->blk_type[i] == type)
			return (int)d->blk_off[i];
	return -ENOENT;
}

/* Walk BAR0's chain of self-describing blocks from offset 0. */
static int walk_blocks(struct loomdrv *d)
{
	uint32_t off = 0, w0, next;
	int err;

	for (d->info.blocks = 0;; off = next) {
		if (d->info.blocks == DRV_MAX_BLOCKS)
			return loom_err_set(EPROTO, "loomdrv: more than %d register blocks (a loop?)",
					    DRV_MAX_BLOCKS);
		if ((err = loomdrv_reg_read(d, off, &w0)) < 0 ||
		    (err = loomdrv_reg_read(d, off + 4, &next)) < 0)
			return err;
		d->blk_type[d->info.blocks] = w0 >> 16;
		d->blk_off[d->info.blocks++] = off;
		if (!next)
			return 0;
		if (next <= off || next % 4 || next + 8 > DEVIF_BAR0_BYTES)
			return loom_err_set(EPROTO, "loomdrv: register block at 0x%x points to 0x%x "
					    "(not forward inside BAR0)", off, next);
	}
}

/* Find and check the device block; read what the device says. */
static int read_device(struct loomdrv *d)
{
	int dev = loomdrv_block(d, DEVIF_BLK_DEVICE);
	uint32_t magic, dram_log2;
	int err;

	d->reg_q = (uint32_t)loomdrv_block(d, DEVIF_BLK_QUEUE);
	d->reg_irq = (uint32_t)loomdrv_block(d, DEVIF_BLK_IRQ);
	if (dev < 0 || (int)d->reg_q < 0 || (int)d->reg_irq < 0)
		return loom_err_set(EPROTO, "loomdrv: %s: device, queue or interrupt block missing "
				    "(%u blocks): not a Loom device", d->o.path, d->info.blocks);
	if ((err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_MAGIC, &magic)) < 0 ||
	    (err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_VERSION, &d->info.version)) < 0 ||
	    (err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_OPCODES, &d->info.opcodes)) < 0 ||
	    (err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_RANK, &d->info.rank)) < 0 ||
	    (err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_RANKS, &d->info.ranks)) < 0 ||
	    (err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_DRAM_LOG2, &dram_log2)) < 0)
		return err;
	if (magic != DEVIF_MAGIC)
		return loom_err_set(EPROTO, "loomdrv: %s: magic 0x%08x, want 0x%08x", d->o.path,
				    magic, DEVIF_MAGIC);
	if (d->info.version >> 16 != DEVIF_VERSION_MAJOR)
		return loom_err_set(EPROTO, "loomdrv: %s: interface version %u.%u, this driver "
				    "speaks %u.x", d->o.path, d->info.version >> 16,
				    d->info.version & 0xffff, DEVIF_VERSION_MAJOR);
	d->info.dram_bytes = dram_log2 < 64 ? 1ull << dram_log2 : 0;
	return 0;
}

/* Program both rings and the interrupt block, then enable. */
static int rings_enable(struct loomdrv *d)
{
	uint32_t q = d->reg_q, irq = d->reg_irq, sts = 0;
	int err;

	memset(d->cq.host, 0, d->cq.bytes);
	d->sq_tail = d->fetched = d->cq_head = d->cq_head_told = d->outstanding = 0;
	if ((err = loomdrv_reg_write(d, q + DEVIF_Q_SQ_LO, (uint32_t)d->sq.dma)) < 0 ||
	    (err = loomdrv_reg_write(d, q + DEVIF_Q_SQ_HI, (uint32_t)(d->sq.dma >> 32))) < 0 ||
	    (err = loomdrv_reg_write(d, q + DEVIF_Q_CQ_LO, (uint32_t)d->cq.dma)) < 0 ||
	    (err = loomdrv_reg_write(d, q + DEVIF_Q_CQ_HI, (uint32_t)(d->cq.dma >> 32))) < 0 ||
	    (err = loomdrv_reg_write(d, q + DEVIF_Q_LOG2, d->o.ring_log2)) < 0 ||
	    (err = loomdrv_reg_write(d, irq + DEVIF_IRQ_COAL_COUNT, d->o.coal_count)) < 0 ||
	    (err = loomdrv_reg_write(d, irq + DEVIF_IRQ_COAL_CYCLES, d->o.coal_cycles)) < 0 ||
	    (err = loomdrv_reg_write(d, irq + DEVIF_IRQ_STATUS, DEVIF_IRQ_COMP | DEVIF_IRQ_ERR)) < 0 ||
	    (err = loomdrv_reg_write(d, irq + DEVIF_IRQ_ENABLE,
				     d->o.use_irq ? DEVIF_IRQ_COMP | DEVIF_IRQ_ERR : 0)) < 0 ||
	    (err = loomdrv_reg_write(d, q + DEVIF_Q_CTRL, DEVIF_CTRL_ENABLE)) < 0 ||
	    (err = loomdrv_reg_read(d, loomdrv_block(d, DEVIF_BLK_DEVICE) + DEVIF_DEV_STATUS,
				    &sts)) < 0)
		return err;
	if (!(sts & DEVIF_STS_RUNNING))
		return loom_err_set(EPROTO, "loomdrv: %s refused the rings (status 0x%x%s)",
				    d->o.path, sts, sts & DEVIF_STS_BAD_CONFIG ? ": bad config" : "");
	return 0;
}

int loomdrv_open(const struct loomdrv_opts *o, struct loomdrv **out)
{
	struct loomdrv *d;
	int err;

	*out = NULL;
	if (!o || !o->path || !o->dma_bytes || o->ring_log2 < 1 ||
	    o->ring_log2 > DEVIF_MAX_LOG2 || o->timeout_ms <= 0 || !o->coal_count ||
	    o->coal_count > 65535)
		return loom_err_set(EINVAL, "loomdrv: open: bad options (path, dma_bytes > 0, "
				    "ring_log2 1..%d, timeout_ms > 0, coal_count 1..65535)",
				    DEVIF_MAX_LOG2);
	d = calloc(1, sizeof(*d));
	if (!d)
		return loom_err_set(ENOMEM, "loomdrv: out of memory");
	d->o = *o;
	if (!d->o.poll_ps)
		d->o.poll_ps = 1000000;
	d->entries = 1u << o->ring_log2;
	d->info.ring_entries = d->entries;
	d->link = simlink_host_connect(o->path, o->dma_bytes, o->timeout_ms);
	if (!d->link) {
		err = loom_err_set(errno ? errno : ECONNREFUSED, "loomdrv: %s", loom_err_msg());
		free(d);
		return err < 0 ? err : -ECONNREFUSED;
	}
	drv_dma_init(&d->dma, simlink_dma_bytes(d->link));
	if ((err = walk_blocks(d)) < 0 || (err = read_device(d)) < 0 ||
	    (err = loomdrv_dma_alloc(d, (size_t)d->entries * sizeof(struct devif_desc), 64,
				     &d->sq)) < 0 ||
	    (err = loomdrv_dma_alloc(d, (size_t)d->entries * sizeof(struct devif_comp), 64,
				     &d->cq)) < 0 ||
	    (err = rings_enable(d)) < 0) {
		simlink_close(d->link);
		free(d);
		return err;
	}
	*out = d;
	return 0;
}

void loomdrv_close(struct loomdrv *d)
{
	if (!d)
		return;
	if (!d->dead)
		loomdrv_reg_write(d, d->reg_q + DEVIF_Q_CTRL, 0);
	simlink_close(d->link);
	free(d);
}

int loomdrv_info(const struct loomdrv *d, struct loomdrv_info *out)
{
	*out = d->info;
	return 0;
}

void loomdrv_stats(const struct loomdrv *d, struct loomdrv_stats *out)
{
	*out = d->st;
}

bool loomdrv_synchronized(const struct loomdrv *d)
{
	return simlink_synchronized(d->link);
}

uint64_t loomdrv_now_ps(const struct loomdrv *d)
{
	return simlink_now(d->link);
}

uint32_t loomdrv_outstanding(const struct loomdrv *d)
{
	return d->outstanding;
}

/* ---- DMA memory ---------------------------------------------------------------- */

int loomdrv_dma_alloc(struct loomdrv *d, size_t bytes, size_t align, struct loomdrv_buf *b)
{
	uint64_t addr;
	int err;

	memset(b, 0, sizeof(*b));
	if (!bytes || (align & (align - 1)))
		return loom_err_set(EINVAL, "loomdrv: dma_alloc: %zu bytes, align %zu", bytes,
				    align);
	if (align < 64)
		align = 64;
	bytes = (bytes + 63) & ~(size_t)63;
	if ((err = drv_dma_take(&d->dma, bytes, align, &addr)) < 0)
		return err;
	b->host = simlink_dma_ptr(d->link, addr, bytes);
	b->dma = addr;
	b->bytes = bytes;
	memset(b->host, 0, bytes);
	return 0;
}

void loomdrv_dma_free(struct loomdrv *d, struct loomdrv_buf *b)
{
	if (!b || !b->bytes)
		return;
	drv_dma_give(&d->dma, b->dma, b->bytes);
	memset(b, 0, sizeof(*b));
}

/* ---- rings ------------------------------------------------------------------------ */

/* Take interrupts (and let the link deliver) up to link time until_ps. */
static int pump(struct loomdrv *d, uint64_t until_ps)
{
	struct simlink_msg m;
	int r;

	while ((r = simlink_next(d->link, until_ps, &m)) == 1) {
		uint32_t sts = 0;
		int err;

		if (m.type != SIMLINK_IRQ)
			continue;
		d->st.irqs++;
		if ((err = loomdrv_reg_read(d, d->reg_irq + DEVIF_IRQ_STATUS, &sts)) < 0 ||
		    (sts && (err = loomdrv_reg_write(d, d->reg_irq + DEVIF_IRQ_STATUS, sts)) < 0))
			return err;
		if (until_ps == SIMLINK_FOREVER)
			return 1; /* woken: go look at the ring */
	}
	return r < 0 ? link_err(d, r) : 0;
}

int loomdrv_submit(struct loomdrv *d, const struct devif_desc *desc, int n)
{
	struct devif_desc *sq = d->sq.host;
	int posted = 0, err;

	if (d->dead)
		return dead_err(d);
	if (!desc || n < 0)
		return loom_err_set(EINVAL, "loomdrv: submit: desc=%p n=%d", (const void *)desc, n);
	while (posted < n && d->sq_tail - d->fetched < d->entries &&
	       d->outstanding < d->entries) {
		sq[d->sq_tail & (d->entries - 1)] = desc[posted++];
		d->sq_tail++;
		d->outstanding++;
	}
	if (!posted)
		return n ? loom_err_set(EAGAIN, "loomdrv: submission ring full (%u outstanding)",
					d->outstanding) : 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	while ((err = simlink_mmio_write_posted(d->link, 0, d->reg_q + DEVIF_Q_DOORBELL, 4,
						d->sq_tail)) == -EAGAIN)
		if ((err = pump(d, simlink_now(d->link))) < 0)
			return err;
	if (err < 0)
		return link_err(d, err);
	d->st.doorbells++;
	d->st.submitted += (uint64_t)posted;
	return posted;
}

/* Account one record taken from the CQ. */
static void took(struct loomdrv *d, const struct devif_comp *c)
{
	if (c->opcode == DEVIF_OP_MESH_RELEASE) {
		d->st.releases++;
		return;
	}
	if (c->status != DEVIF_ST_OK)
		d->st.errors++;
	if (c->status == DEVIF_ST_RING_OVERRUN)
		return; /* about a doorbell, not a descriptor */
	d->st.completed++;
	if (d->outstanding)
		d->outstanding--;
	if ((int32_t)(c->index + 1 - d->fetched) > 0)
		d->fetched = c->index + 1;
}

static int take(struct loomdrv *d, struct devif_comp *out, int max)
{
	struct devif_comp *cq = d->cq.host;
	int n = 0, err;

	while (n < max) {
		struct devif_comp *c = &cq[d->cq_head & (d->entries - 1)];
		uint8_t want = ((d->cq_head >> d->o.ring_log2) & 1) ? 0 : 1;

		if (__atomic_load_n(&c->phase, __ATOMIC_ACQUIRE) != want)
			break;
		out[n] = *c;
		took(d, &out[n++]);
		d->cq_head++;
	}
	if (n && (d->cq_head - d->cq_head_told >= d->entries / 2 || !d->outstanding)) {
		err = simlink_mmio_write_posted(d->link, 0, d->reg_q + DEVIF_Q_CQ_HEAD, 4, d->cq_head);
		if (err == 0)
			d->cq_head_told = d->cq_head;
		else if (err != -EAGAIN) /* full: told next time */
			return link_err(d, err);
	}
	return n;
}

int loomdrv_poll(struct loomdrv *d, struct devif_comp *out, int max)
{
	int err;

	if (d->dead)
		return dead_err(d);
	if (!out || max <= 0)
		return loom_err_set(EINVAL, "loomdrv: poll: out=%p max=%d", (void *)out, max);
	/* a poll takes poll_ps of host time: a synchronized device advances
	 * only as far as its hosts' clocks */
	if ((err = pump(d, simlink_now(d->link) +
				   (simlink_synchronized(d->link) ? d->o.poll_ps : 0))) < 0)
		return err;
	return take(d, out, max);
}

int loomdrv_wait(struct loomdrv *d, struct devif_comp *out, int max, int timeout_ms)
{
	uint64_t t0 = wall_ms(), limit = (uint64_t)(timeout_ms < 0 ? d->o.timeout_ms : timeout_ms);

	for (;;) {
		int n = loomdrv_poll(d, out, max), err;

		if (n)
			return n;
		if (wall_ms() - t0 >= limit)
			return loom_err_set(ETIMEDOUT, "loomdrv: no completion from %s within %llu ms "
					    "(%u descriptors outstanding)", d->o.path,
					    (unsigned long long)limit, d->outstanding);
		if (d->o.use_irq && d->outstanding)
			err = pump(d, SIMLINK_FOREVER);
		else if (simlink_synchronized(d->link))
			err = pump(d, simlink_now(d->link) + (d->o.use_irq ? WAIT_SLICE_PS : d->o.poll_ps));
		else
			err = (usleep(20), 0);
		if (err == -ETIMEDOUT)
			continue; /* the link's wait ran out: check ours */
		if (err < 0)
			return err;
	}
}

int loomdrv_reset(struct loomdrv *d)
{
	int dev = loomdrv_block(d, DEVIF_BLK_DEVICE), err;
	uint64_t t0 = wall_ms();
	uint32_t sts = 0;

	if (d->dead)
		return dead_err(d);
	if ((err = loomdrv_reg_write(d, d->reg_q + DEVIF_Q_CTRL, 0)) < 0)
		return err;
	for (;;) {
		if ((err = loomdrv_reg_read(d, (uint32_t)dev + DEVIF_DEV_STATUS, &sts)) < 0)
			return err;
		if (!(sts & DEVIF_STS_RUNNING))
			break;
		if (wall_ms() - t0 >= (uint64_t)d->o.timeout_ms)
			return loom_err_set(ETIMEDOUT, "loomdrv: %s did not stop within %d ms",
					    d->o.path, d->o.timeout_ms);
		if ((err = pump(d, simlink_now(d->link) + d->o.poll_ps)) < 0)
			return err;
	}
	d->st.resets++;
	return rings_enable(d);
}

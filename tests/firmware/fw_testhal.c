/*
 * fw_testhal.c - the test double of fw_testhal.h (included by each
 * firmware test program, so it is compiled into it; not a library).
 */
#include "fw_testhal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the die: a register chain and a ring served at the doorbell ---- */

static void th_blk(struct th_die *die, uint32_t off, uint32_t type, uint32_t next)
{
	die->regs[off / 4] = type << 16 | 1;
	die->regs[off / 4 + 1] = next;
}

void th_die_default(struct th_die *die)
{
	memset(die->regs, 0, sizeof(die->regs));
	th_blk(die, 0x000, RTL_MFLD_BLK_DEVICE, 0x040);
	die->regs[0x008 / 4] = RTL_MFLD_MAGIC;
	die->regs[0x00c / 4] = 0x7f;
	th_blk(die, 0x040, RTL_MFLD_BLK_QUEUE, 0x080);
	th_blk(die, 0x080, RTL_MFLD_BLK_DRAM, 0x0c0);
	die->regs[(0x080 + RTL_MFLD_DRAM_GEOMETRY) / 4] = TH_DRAM_LOG2 << 16 | 16 << 8 | 2;
	th_blk(die, 0x0c0, RTL_MFLD_BLK_ENGINES, 0);
	die->regs[(0x0c0 + 8) / 4] = 0x7f;
	die->regs[(0x0c0 + 12) / 4] = RTL_MFLD_IB_BYTES;
	die->regs[(0x0c0 + 16) / 4] = RTL_MFLD_OB_BYTES;
	die->q = 0x040;
	die->reject_op = -1;
}

static uint64_t th_reg64(const struct th_die *die, uint32_t lo)
{
	return (uint64_t)die->regs[(die->q + lo) / 4] | (uint64_t)die->regs[(die->q + lo + 4) / 4] << 32;
}

/* Serve descriptors up to the doorbell: read from the ring in firmware
 * memory (local_addr is the pointer), record, write the completion. */
static void th_die_doorbell(struct th_die *die, uint32_t db)
{
	uint32_t *head = &die->regs[(die->q + RTL_MFLD_Q_HEAD) / 4];
	uint32_t *ncomp = &die->regs[(die->q + RTL_MFLD_Q_NCOMP) / 4];
	uint32_t entries = 1u << die->regs[(die->q + RTL_MFLD_Q_LOG2) / 4];
	struct rtl_mfld_desc *ring = (void *)(uintptr_t)th_reg64(die, RTL_MFLD_Q_RING_LO);
	struct rtl_mfld_comp *comp = (void *)(uintptr_t)th_reg64(die, RTL_MFLD_Q_COMP_LO);

	while (*head != db) {
		struct rtl_mfld_desc x = ring[*head % entries];
		struct rtl_mfld_comp c = { .tag = x.tag, .index = *head };
		c.status = x.op == die->reject_op ? RTL_MFLD_ST_ENGINE : RTL_MFLD_ST_OK;
		die->last = x;
		die->served++;
		comp[*ncomp % entries] = c;
		(*head)++;
		(*ncomp)++;
	}
}

static int th_mmio_read(void *ctx, unsigned space, uint32_t off, uint32_t *val)
{
	struct th_dev *d = ctx;

	if (space != FW_SPACE_DIE || off >= RTL_MFLD_MMIO_BYTES || (off & 3))
		return -FW_EFAULT;
	*val = d->die.regs[off / 4];
	return 0;
}

static int th_mmio_write(void *ctx, unsigned space, uint32_t off, uint32_t val)
{
	struct th_dev *d = ctx;

	if (space != FW_SPACE_DIE || off >= RTL_MFLD_MMIO_BYTES || (off & 3))
		return -FW_EFAULT;
	d->die.regs[off / 4] = val;
	if (off == d->die.q + RTL_MFLD_Q_DOORBELL)
		th_die_doorbell(&d->die, val);
	return 0;
}

/* ---- DMA engine ---- */

static bool th_host_ok(uint64_t addr, uint32_t len)
{
	return addr <= TH_HOST_BYTES && len <= TH_HOST_BYTES - addr;
}

static int th_dma_submit(void *ctx, const struct fw_dma *x)
{
	struct th_dev *d = ctx;

	if (!x->len_bytes || x->kind > FW_DMA_DRAM_TO_HOST)
		return -FW_EINVAL;
	if (d->nq >= d->cap)
		return -FW_EAGAIN;
	struct th_dma *q = &d->q[d->nq++];
	q->d = *x;
	q->copy = NULL;
	if (x->kind == FW_DMA_LOCAL_TO_HOST) { /* posted: bytes taken now */
		q->copy = malloc(x->len_bytes);
		memcpy(q->copy, x->local, x->len_bytes);
	}
	return 0;
}

static int th_dma_do(struct th_dev *d, const struct th_dma *q)
{
	const struct fw_dma *x = &q->d;
	uint64_t dram = 1ull << TH_DRAM_LOG2;

	if (!th_host_ok(x->host_addr, x->len_bytes))
		return -FW_EFAULT;
	if ((x->kind == FW_DMA_HOST_TO_DRAM || x->kind == FW_DMA_DRAM_TO_HOST) &&
	    (uint64_t)x->dram_addr + x->len_bytes > dram)
		return -FW_EFAULT;
	switch (x->kind) {
	case FW_DMA_HOST_TO_LOCAL: memcpy(x->local, d->host + x->host_addr, x->len_bytes); break;
	case FW_DMA_LOCAL_TO_HOST: memcpy(d->host + x->host_addr, q->copy, x->len_bytes); break;
	case FW_DMA_HOST_TO_DRAM: memcpy(d->dram + x->dram_addr, d->host + x->host_addr, x->len_bytes); break;
	default: memcpy(d->host + x->host_addr, d->dram + x->dram_addr, x->len_bytes); break;
	}
	return 0;
}

static int th_dma_reap(void *ctx, uint32_t *cookie, int *status)
{
	struct th_dev *d = ctx;

	if (!d->nq || (d->random && loom_rng_uniform(&d->rng) < 0.3))
		return 0;
	int i = d->random ? (int)(loom_rng_u32(&d->rng) % (uint32_t)d->nq) : 0;
	struct th_dma q = d->q[i];
	memmove(&d->q[i], &d->q[i + 1], (size_t)(d->nq - i - 1) * sizeof(q));
	d->nq--;
	*status = th_dma_do(d, &q);
	*cookie = q.d.cookie;
	if (q.d.kind == FW_DMA_LOCAL_TO_HOST && d->on_land)
		d->on_land(d, q.d.host_addr, q.d.len_bytes, *status);
	free(q.copy);
	return 1;
}

/* ---- mesh ---- */

void th_mesh_init(struct th_mesh *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->cap = TH_MAX_MSGS;
	loom_rng_init(&m->rng, seed);
}

void th_mesh_free(struct th_mesh *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->m[i].bytes);
	m->n = 0;
}

static int th_ni_send(void *ctx, unsigned dst, const void *hdr, uint32_t hdr_bytes,
		      const void *payload, uint32_t payload_bytes)
{
	struct th_dev *d = ctx;
	struct th_mesh *m = d->mesh;

	if (!m || dst >= DEVIF_MAX_RANKS)
		return -FW_EINVAL;
	if (m->n >= m->cap)
		return -FW_EAGAIN;
	struct th_msg *x = &m->m[m->n++];
	x->src = d->rank;
	x->dst = dst;
	x->len = hdr_bytes + payload_bytes;
	x->bytes = malloc(x->len + 1);
	memcpy(x->bytes, hdr, hdr_bytes);
	if (payload_bytes)
		memcpy(x->bytes + hdr_bytes, payload, payload_bytes);
	return 0;
}

static int th_ni_recv(void *ctx, void *buf, uint32_t max, unsigned *src)
{
	struct th_dev *d = ctx;
	struct th_mesh *m = d->mesh;
	int pick[TH_MAX_MSGS], n = 0;

	if (!m)
		return 0;
	for (int i = 0; i < m->n; i++)
		if (m->m[i].dst == d->rank)
			pick[n++] = i;
	if (!n || (m->random && loom_rng_uniform(&m->rng) < 0.3))
		return 0;
	int i = pick[m->random ? loom_rng_u32(&m->rng) % (uint32_t)n : 0];
	struct th_msg x = m->m[i];
	memmove(&m->m[i], &m->m[i + 1], (size_t)(m->n - i - 1) * sizeof(x));
	m->n--;
	*src = x.src;
	if (d->on_recv)
		d->on_recv(d, x.src, x.bytes, x.len);
	int len = (int)x.len;
	if (x.len > max)
		len = -FW_EMSGSIZE;
	else
		memcpy(buf, x.bytes, x.len);
	free(x.bytes);
	return len;
}

/* ---- the rest ---- */

static uint64_t th_cycles(void *ctx)
{
	return ((struct th_dev *)ctx)->cycle;
}

static void th_irq(void *ctx, unsigned vector)
{
	(void)vector;
	((struct th_dev *)ctx)->irqs++;
}

static uint64_t th_local_addr(void *ctx, const void *p)
{
	(void)ctx;
	return (uint64_t)(uintptr_t)p;
}

struct fw_hal th_hal(struct th_dev *d)
{
	struct fw_hal h = {
		.mmio_read = th_mmio_read,
		.mmio_write = th_mmio_write,
		.dma_submit = th_dma_submit,
		.dma_reap = th_dma_reap,
		.ni_send = th_ni_send,
		.ni_recv = th_ni_recv,
		.cycles = th_cycles,
		.irq = th_irq,
		.local_addr = th_local_addr,
		.ctx = d,
	};
	return h;
}

struct th_dev *th_dev_new(unsigned rank, struct th_mesh *mesh, uint64_t seed)
{
	struct th_dev *d = calloc(1, sizeof(*d));

	d->host = calloc(1, TH_HOST_BYTES);
	d->dram = calloc(1, 1u << TH_DRAM_LOG2);
	d->cap = TH_MAX_DMA;
	d->rank = rank;
	d->mesh = mesh;
	loom_rng_init(&d->rng, seed);
	th_die_default(&d->die);
	return d;
}

void th_dev_free(struct th_dev *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nq; i++)
		free(d->q[i].copy);
	free(d->host);
	free(d->dram);
	free(d);
}

int th_init(struct th_dev *d, unsigned ranks)
{
	struct fw_hal h = th_hal(d);
	struct fw_config c = { .rank = d->rank, .ranks = ranks };

	return fw_init(&d->fw, &h, &c);
}

uint32_t th_reg(struct th_dev *d, uint32_t off)
{
	uint32_t v = 0;

	fw_bar_read(&d->fw, off, &v);
	return v;
}

void th_rings(struct th_dev *d, uint32_t log2)
{
	struct fw *f = &d->fw;

	d->log2 = log2;
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_SQ_LO, TH_SQ_AT);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_SQ_HI, 0);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_CQ_LO, TH_CQ_AT);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_CQ_HI, 0);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_LOG2, log2);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, DEVIF_CTRL_ENABLE);
	fw_bar_write(f, DEVIF_REG_IRQ + DEVIF_IRQ_ENABLE, DEVIF_IRQ_COMP | DEVIF_IRQ_ERR);
}

int th_step(struct th_dev *d)
{
	int rc = fw_step(&d->fw);

	d->cycle++;
	return rc;
}

bool th_post(struct th_dev *d, const struct devif_desc *x)
{
	uint32_t entries = 1u << d->log2;
	uint32_t head = th_reg(d, DEVIF_REG_QUEUE + DEVIF_Q_SQ_HEAD);

	if (d->posted - head >= entries)
		return false;
	memcpy(d->host + TH_SQ_AT + (d->posted % entries) * sizeof(*x), x, sizeof(*x));
	d->posted++;
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL, d->posted);
	return true;
}

int th_poll(struct th_dev *d, struct devif_comp *out, int max)
{
	uint32_t entries = 1u << d->log2;
	int n = 0;

	while (n < max) {
		struct devif_comp c;
		memcpy(&c, d->host + TH_CQ_AT + (d->cq_seen % entries) * sizeof(c), sizeof(c));
		if (c.phase != (((d->cq_seen >> d->log2) & 1) ^ 1))
			break;
		out[n++] = c;
		d->cq_seen++;
	}
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CQ_HEAD, d->cq_seen);
	return n;
}

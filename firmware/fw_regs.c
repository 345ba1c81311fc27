/*
 * fw_regs.c - the device's BAR0 register file (devif.h's map) and the
 * firmware's reset.  Register accesses only record state; every action
 * they ask for (fetching after a doorbell, an overrun record, an interrupt
 * after its status is enabled) happens in the next fw_step, so a host
 * access never calls the HAL.
 */
#include "fw.h"

/* every opcode served (DEVIF_DEV_OPCODES); engine ops the die lacks are
 * dropped at init */
#define FW_OPCODES ((1u << DEVIF_OP_COUNT) - 1)

static const uint32_t fw_block_next[3] = { DEVIF_REG_QUEUE, DEVIF_REG_IRQ, 0 };

static bool fw_hal_complete(const struct fw_hal *h)
{
	return h && h->mmio_read && h->mmio_write && h->dma_submit && h->dma_reap && h->ni_send &&
	       h->ni_recv && h->cycles && h->irq && h->local_addr;
}

int fw_init(struct fw *f, const struct fw_hal *hal, const struct fw_config *cfg)
{
	if (!f)
		return -FW_EINVAL;
	fw_memset(f, 0, sizeof(*f));
	if (!fw_hal_complete(hal))
		return fw_fail(f, -FW_EINVAL, "fw: init: HAL missing or incomplete");
	if (!cfg || cfg->ranks < 1 || cfg->ranks > DEVIF_MAX_RANKS || cfg->rank >= cfg->ranks)
		return fw_fail(f, -FW_EINVAL, "fw: init: rank out of range (ranks 1..16)");
	f->hal = *hal;
	f->rank = cfg->rank;
	f->ranks = cfg->ranks;
	f->coal_count = 1;
	f->tx_job = -1;
	int rc = fw_die_discover(f);
	if (rc)
		return rc;
	return fw_die_start(f);
}

static uint32_t fw_opcodes(const struct fw *f)
{
	uint32_t m = FW_OPCODES;

	for (unsigned op = DEVIF_OP_ENGINE_FIRST; op <= DEVIF_OP_ENGINE_LAST; op++)
		if (!(f->die.opcodes & (1u << (op - 1))))
			m &= ~(1u << op);
	return m;
}

static uint32_t fw_read_device(const struct fw *f, uint32_t r)
{
	switch (r) {
	case DEVIF_DEV_MAGIC: return DEVIF_MAGIC;
	case DEVIF_DEV_VERSION: return DEVIF_VERSION;
	case DEVIF_DEV_OPCODES: return fw_opcodes(f);
	case DEVIF_DEV_RANK: return f->rank;
	case DEVIF_DEV_RANKS: return f->ranks;
	case DEVIF_DEV_STATUS: return f->dev_status;
	case DEVIF_DEV_ERRORS: return f->stats.errors;
	case DEVIF_DEV_DRAM_LOG2: return f->die.dram_log2;
	default: return 0;
	}
}

static uint32_t fw_read_queue(const struct fw *f, uint32_t r)
{
	switch (r) {
	case DEVIF_Q_SQ_LO: return (uint32_t)f->sq_base;
	case DEVIF_Q_SQ_HI: return (uint32_t)(f->sq_base >> 32);
	case DEVIF_Q_CQ_LO: return (uint32_t)f->cq_base;
	case DEVIF_Q_CQ_HI: return (uint32_t)(f->cq_base >> 32);
	case DEVIF_Q_LOG2: return f->log2;
	case DEVIF_Q_CTRL: return f->ctrl;
	case DEVIF_Q_DOORBELL: return f->doorbell;
	case DEVIF_Q_SQ_HEAD: return f->sq_head;
	case DEVIF_Q_CQ_TAIL: return f->cq_tail;
	case DEVIF_Q_CQ_HEAD: return f->cq_head;
	default: return 0;
	}
}

static uint32_t fw_read_irq(const struct fw *f, uint32_t r)
{
	switch (r) {
	case DEVIF_IRQ_STATUS: return f->irq_status;
	case DEVIF_IRQ_ENABLE: return f->irq_enable;
	case DEVIF_IRQ_COAL_COUNT: return f->coal_count;
	case DEVIF_IRQ_COAL_CYCLES: return f->coal_cycles;
	case DEVIF_IRQ_RAISED: return f->stats.irqs;
	default: return 0;
	}
}

int fw_bar_read(struct fw *f, uint32_t off, uint32_t *val)
{
	if (!f || !val || off >= DEVIF_BAR0_BYTES || (off & 3))
		return -FW_EFAULT;
	unsigned blk = off / 0x40, r = off % 0x40;
	static const uint32_t types[3] = { DEVIF_BLK_DEVICE, DEVIF_BLK_QUEUE, DEVIF_BLK_IRQ };

	*val = 0;
	if (blk > 2)
		return 0;
	if (r == 0)
		*val = types[blk] << 16 | DEVIF_BLK_VERSION;
	else if (r == 4)
		*val = fw_block_next[blk];
	else if (blk == 0)
		*val = fw_read_device(f, r);
	else if (blk == 1)
		*val = fw_read_queue(f, r);
	else
		*val = fw_read_irq(f, r);
	return 0;
}

/* ENABLE: check the ring configuration, start from the current counts. */
static void fw_write_ctrl(struct fw *f, uint32_t val)
{
	f->ctrl = val & DEVIF_CTRL_ENABLE;
	f->dev_status &= ~(DEVIF_STS_RUNNING | DEVIF_STS_BAD_CONFIG);
	if (!f->ctrl)
		return;
	if (f->log2 > DEVIF_MAX_LOG2 || (f->sq_base & 63) || (f->cq_base & 31)) {
		f->ctrl = 0;
		f->dev_status |= DEVIF_STS_BAD_CONFIG;
		return;
	}
	f->dev_status |= DEVIF_STS_RUNNING;
}

/* The doorbell may move forward by at most the ring's free space; anything
 * else is an overrun, ignored and reported by a record (devif.h). */
static void fw_write_doorbell(struct fw *f, uint32_t val)
{
	uint32_t entries = 1u << (f->log2 > DEVIF_MAX_LOG2 ? 0 : f->log2);
	uint32_t ahead = val - f->sq_head, moved = val - f->doorbell;

	if (ahead <= entries && moved <= ahead) {
		f->doorbell = val;
		return;
	}
	f->overrun_pending = true;
	f->overrun_value = val;
}

static void fw_write_queue(struct fw *f, uint32_t r, uint32_t val)
{
	bool running = f->ctrl & DEVIF_CTRL_ENABLE;

	switch (r) {
	case DEVIF_Q_SQ_LO: if (!running) f->sq_base = (f->sq_base & ~0xffffffffull) | val; break;
	case DEVIF_Q_SQ_HI: if (!running) f->sq_base = (f->sq_base & 0xffffffffull) | (uint64_t)val << 32; break;
	case DEVIF_Q_CQ_LO: if (!running) f->cq_base = (f->cq_base & ~0xffffffffull) | val; break;
	case DEVIF_Q_CQ_HI: if (!running) f->cq_base = (f->cq_base & 0xffffffffull) | (uint64_t)val << 32; break;
	case DEVIF_Q_LOG2: if (!running) f->log2 = val; break;
	case DEVIF_Q_CTRL: fw_write_ctrl(f, val); break;
	case DEVIF_Q_DOORBELL: fw_write_doorbell(f, val); break;
	case DEVIF_Q_CQ_HEAD:
		/* the host cannot consume records not yet written */
		if (val - f->cq_head <= f->cq_tail - f->cq_head)
			f->cq_head = val;
		break;
	default: break;
	}
}

static void fw_write_irq(struct fw *f, uint32_t r, uint32_t val)
{
	switch (r) {
	case DEVIF_IRQ_STATUS: f->irq_status &= ~val; break;
	case DEVIF_IRQ_ENABLE: f->irq_enable = val & (DEVIF_IRQ_COMP | DEVIF_IRQ_ERR); break;
	case DEVIF_IRQ_COAL_COUNT: f->coal_count = (val < 1 ? 1 : val > 65535 ? 65535 : val); break;
	case DEVIF_IRQ_COAL_CYCLES: f->coal_cycles = val; break;
	default: break;
	}
}

int fw_bar_write(struct fw *f, uint32_t off, uint32_t val)
{
	if (!f || off >= DEVIF_BAR0_BYTES || (off & 3))
		return -FW_EFAULT;
	unsigned blk = off / 0x40, r = off % 0x40;

	if (blk == 1)
		fw_write_queue(f, r, val);
	else if (blk == 2)
		fw_write_irq(f, r, val);
	return 0;
}

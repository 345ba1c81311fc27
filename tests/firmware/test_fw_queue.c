/*
 * test_fw_queue.c - the firmware's host interface on a test HAL
 * (fw_testhal.c, a software model of host memory, the die's registers,
 * DMA and the mesh; not the RTL): the die's register chain discovered
 * wherever its blocks sit, malformed chains refused with the right error;
 * BAR0's own block chain; the submission ring across many wraps with the
 * phase bit and a full completion ring held back; every class of bad
 * descriptor answered by its status while the next descriptor is still
 * served; engine descriptors translated field by field for the die;
 * host <-> DRAM DMA moving the bytes; interrupt coalescing by count, by
 * time, and at once for errors.  Expected values are written out by hand
 * from devif.h, not computed by firmware code.
 */
#include "fw_testhal.c"
#include "lt.h"

#include <stdio.h>
#include <string.h>

static struct th_dev *dev_up(struct lt *t, uint32_t log2)
{
	struct th_dev *d = th_dev_new(0, NULL, lt_seed(t));
	int rc = th_init(d, 1);

	LT_CHECK(t, rc == 0, "fw_init: %d (%s)", rc, fw_why(&d->fw));
	th_rings(d, log2);
	return d;
}

static void run(struct th_dev *d, int steps)
{
	for (int i = 0; i < steps; i++)
		th_step(d);
}

static struct devif_desc nop(uint64_t tag)
{
	struct devif_desc x = { .opcode = DEVIF_OP_NOP, .tag = tag };
	return x;
}

/* post x, run, return its record (exactly one expected) */
static struct devif_comp one(struct lt *t, struct th_dev *d, const struct devif_desc *x)
{
	struct devif_comp c[4];
	memset(c, 0xee, sizeof(c));
	LT_CHECK(t, th_post(d, x), "ring full");
	run(d, 8);
	int n = th_poll(d, c, 4);
	LT_CHECK(t, n == 1, "records: %d, want 1", n);
	return c[0];
}

/* ---- register chains ---- */

static void test_discover_default(struct lt *t)
{
	struct th_dev *d = dev_up(t, 4);
	struct fw_die_map *m = &d->fw.die;

	LT_CHECK(t, m->device == 0 && m->queue == 0x40 && m->dram == 0x80 && m->engines == 0xc0,
		 "blocks %x %x %x %x", m->device, m->queue, m->dram, m->engines);
	LT_CHECK(t, m->dram_log2 == TH_DRAM_LOG2 && m->ib_bytes == 8192 && m->ob_bytes == 1024,
		 "dram 2^%u ib %u ob %u", m->dram_log2, m->ib_bytes, m->ob_bytes);
	/* the die's rings point at firmware memory and it runs */
	LT_CHECK(t, d->die.regs[(0x40 + RTL_MFLD_Q_CTRL) / 4] == 1, "die not started");
	LT_CHECK(t, d->die.regs[(0x40 + RTL_MFLD_Q_LOG2) / 4] == FW_DIE_LOG2, "die log2");
	th_dev_free(d);
}

/* blocks in another order, at other offsets, with an unknown one between */
static void test_discover_moved(struct lt *t)
{
	struct th_dev *d = th_dev_new(0, NULL, 1);
	struct th_die *die = &d->die;

	memset(die->regs, 0, sizeof(die->regs));
	th_blk(die, 0x000, RTL_MFLD_BLK_DEVICE, 0x100);
	die->regs[2] = RTL_MFLD_MAGIC;
	th_blk(die, 0x100, RTL_MFLD_BLK_ENGINES, 0x180);
	die->regs[(0x100 + 8) / 4] = 0x03; /* COMBINE and QUANT only */
	die->regs[(0x100 + 12) / 4] = 4096;
	die->regs[(0x100 + 16) / 4] = 512;
	th_blk(die, 0x180, 9, 0x200); /* unknown type: skipped */
	th_blk(die, 0x200, RTL_MFLD_BLK_DRAM, 0x3c0);
	die->regs[(0x200 + RTL_MFLD_DRAM_GEOMETRY) / 4] = 20u << 16;
	th_blk(die, 0x3c0, RTL_MFLD_BLK_QUEUE, 0);
	die->q = 0x3c0;
	int rc = th_init(d, 1);
	LT_CHECK(t, rc == 0, "init %d %s", rc, fw_why(&d->fw));
	LT_CHECK(t, d->fw.die.queue == 0x3c0 && d->fw.die.engines == 0x100 && d->fw.die.dram == 0x200,
		 "found %x %x %x", d->fw.die.queue, d->fw.die.engines, d->fw.die.dram);
	th_rings(d, 3);
	/* BAR0 advertises only the engines the die has */
	uint32_t ops = th_reg(d, DEVIF_REG_DEVICE + DEVIF_DEV_OPCODES);
	LT_CHECK(t, ops == ((1u << DEVIF_OP_COUNT) - 1 - (0x1fu << 3)), "opcodes %#x", ops);
	/* an engine op reaches the die through the moved queue block */
	struct devif_desc x = { .opcode = DEVIF_OP_QUANT, .tag = 5, .eng_k = 1, .eng_len = 128,
				.eng_src = 0x1000, .eng_in_bytes = 256, .eng_dst = 0x2000,
				.eng_out_bytes = 288 };
	struct devif_comp c = one(t, d, &x);
	LT_CHECK(t, c.status == DEVIF_ST_OK && c.tag == 5 && d->die.served == 1, "st %u served %u",
		 c.status, d->die.served);
	x.opcode = DEVIF_OP_DEQUANT; /* not served by this die */
	x.eng_k = 0;
	c = one(t, d, &x);
	LT_CHECK(t, c.status == DEVIF_ST_BAD_OPCODE, "dequant on a die without it: %u", c.status);
	th_dev_free(d);
}

static void test_discover_malformed(struct lt *t)
{
	static const struct {
		const char *what;
		int err;
	} cases[] = {
		{ "next goes backwards", -FW_EPROTO }, { "next unaligned", -FW_EPROTO },
		{ "next past the space", -FW_EPROTO }, { "no engines block", -FW_ENODEV },
		{ "bad magic", -FW_ENODEV },	       { "longer than 32", -FW_ELOOP },
	};
	for (unsigned i = 0; i < LT_N(cases); i++) {
		struct th_dev *d = th_dev_new(0, NULL, 1);
		struct th_die *die = &d->die;
		switch (i) {
		case 0: die->regs[(0x80 + 4) / 4] = 0x40; break;
		case 1: die->regs[(0x80 + 4) / 4] = 0xc2; break;
		case 2: die->regs[(0xc0 + 4) / 4] = RTL_MFLD_MMIO_BYTES; break;
		case 3: die->regs[(0x80 + 4) / 4] = 0; break;
		case 4: die->regs[2] = 0x12345678; break;
		default: /* 40 unknown blocks before the engines block */
			die->regs[(0x80 + 4) / 4] = 0x100;
			for (uint32_t b = 0; b < 40; b++)
				th_blk(die, 0x100 + 8 * b, 9, b == 39 ? 0xc0 + 0x400 : 0x108 + 8 * b);
			th_blk(die, 0x4c0, RTL_MFLD_BLK_ENGINES, 0);
			break;
		}
		int rc = th_init(d, 1);
		LT_CHECK(t, rc == cases[i].err, "%s: rc %d, want %d (%s)", cases[i].what, rc,
			 cases[i].err, fw_why(&d->fw));
		LT_CHECK(t, strncmp(fw_why(&d->fw), "die: ", 5) == 0, "%s: reason '%s'",
			 cases[i].what, fw_why(&d->fw));
		th_dev_free(d);
	}
}

static void test_bar0_chain(struct lt *t)
{
	struct th_dev *d = dev_up(t, 2);
	uint32_t off = 0, types[8], n = 0, v;

	for (;;) {
		LT_CHECK(t, fw_bar_read(&d->fw, off, &v) == 0, "read %x", off);
		types[n++] = v >> 16;
		LT_CHECK(t, (v & 0xffff) == DEVIF_BLK_VERSION, "block version %x", v);
		fw_bar_read(&d->fw, off + 4, &off);
		if (!off || n == 8)
			break;
	}
	LT_CHECK(t, n == 3 && types[0] == DEVIF_BLK_DEVICE && types[1] == DEVIF_BLK_QUEUE &&
			    types[2] == DEVIF_BLK_IRQ, "blocks %u", n);
	LT_CHECK(t, th_reg(d, DEVIF_DEV_MAGIC) == DEVIF_MAGIC, "magic");
	LT_CHECK(t, th_reg(d, DEVIF_DEV_VERSION) == DEVIF_VERSION, "version");
	LT_CHECK(t, fw_bar_read(&d->fw, 2, &v) == -FW_EFAULT, "unaligned read");
	LT_CHECK(t, fw_bar_read(&d->fw, DEVIF_BAR0_BYTES, &v) == -FW_EFAULT, "read past BAR0");
	LT_CHECK(t, fw_bar_write(&d->fw, 4097, 1) == -FW_EFAULT, "write past BAR0");
	LT_CHECK(t, fw_bar_read(NULL, 0, &v) == -FW_EFAULT, "NULL fw");
	/* bad configurations are refused at ENABLE */
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 0);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_LOG2, 13);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 1);
	LT_CHECK(t, th_reg(d, DEVIF_DEV_STATUS) == DEVIF_STS_BAD_CONFIG, "log2 13 accepted");
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_LOG2, 2);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_SQ_LO, 0x20);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 1);
	LT_CHECK(t, th_reg(d, DEVIF_DEV_STATUS) == DEVIF_STS_BAD_CONFIG, "unaligned SQ accepted");
	th_dev_free(d);
}

static void test_init_bad_args(struct lt *t)
{
	struct th_dev *d = th_dev_new(0, NULL, 1);
	struct fw_hal h = th_hal(d);
	struct fw_config c = { .rank = 0, .ranks = 1 };

	LT_CHECK(t, fw_init(NULL, &h, &c) == -FW_EINVAL, "NULL fw");
	LT_CHECK(t, fw_init(&d->fw, NULL, &c) == -FW_EINVAL, "NULL hal");
	LT_CHECK(t, fw_init(&d->fw, &h, NULL) == -FW_EINVAL, "NULL config");
	h.irq = NULL;
	LT_CHECK(t, fw_init(&d->fw, &h, &c) == -FW_EINVAL, "HAL without irq");
	h = th_hal(d);
	c.ranks = 17;
	LT_CHECK(t, fw_init(&d->fw, &h, &c) == -FW_EINVAL, "17 ranks");
	c.ranks = 2;
	c.rank = 2;
	LT_CHECK(t, fw_init(&d->fw, &h, &c) == -FW_EINVAL, "rank 2 of 2");
	LT_CHECK(t, fw_step(NULL) == -FW_EINVAL, "step NULL");
	th_dev_free(d);
}

/* ---- rings ---- */

/* 4-entry rings, 203 NOPs posted in bursts of 1..4 while the host consumes
 * records at random moments: every tag comes back once, in order (NOPs
 * finish in order), with the phase bit of its pass; the device never
 * writes a fifth unread record. */
static void test_ring_wrap(struct lt *t)
{
	struct th_dev *d = dev_up(t, 2);
	struct loom_rng r;
	uint32_t next_tag = 0, want = 0;
	const uint32_t total = 203;

	loom_rng_init(&r, lt_seed(t));
	for (int it = 0; it < 20000 && want < total; it++) {
		for (uint32_t k = loom_rng_u32(&r) % 5; k && next_tag < total; k--) {
			struct devif_desc x = nop(1000 + next_tag);
			if (!th_post(d, &x))
				break;
			next_tag++;
		}
		th_step(d);
		uint32_t unread = th_reg(d, DEVIF_REG_QUEUE + DEVIF_Q_CQ_TAIL) - d->cq_seen;
		LT_CHECK(t, unread <= 4, "%u unread records in a 4-entry ring", unread);
		if (loom_rng_u32(&r) % 3)
			continue;
		struct devif_comp c[4];
		int n = th_poll(d, c, 4);
		for (int i = 0; i < n; i++, want++)
			LT_CHECK(t, c[i].tag == 1000 + want && c[i].index == want &&
					    c[i].status == DEVIF_ST_OK && c[i].opcode == DEVIF_OP_NOP,
				 "record %u: tag %llu index %u st %u", want,
				 (unsigned long long)c[i].tag, c[i].index, c[i].status);
	}
	LT_CHECK(t, want == total, "records %u of %u", want, total);
	LT_CHECK(t, th_reg(d, DEVIF_REG_QUEUE + DEVIF_Q_SQ_HEAD) == total, "SQ_HEAD");
	LT_CHECK(t, d->fw.stats.errors == 0, "errors %u", d->fw.stats.errors);
	th_dev_free(d);
}

static void test_overrun(struct lt *t)
{
	struct th_dev *d = dev_up(t, 2);
	struct devif_comp c[8];

	/* 5 posted into 4 entries: ignored, one overrun record */
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL, 5);
	run(d, 4);
	int n = th_poll(d, c, 8);
	LT_CHECK(t, n == 1 && c[0].status == DEVIF_ST_RING_OVERRUN && c[0].index == 5,
		 "n %d st %u index %u", n, c[0].status, c[0].index);
	LT_CHECK(t, th_reg(d, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL) == 0, "doorbell moved");
	/* the ring still works, and a doorbell moving backwards is an overrun too */
	struct devif_desc x = nop(7);
	LT_CHECK(t, th_post(d, &x) && th_post(d, &x), "post");
	run(d, 6);
	n = th_poll(d, c, 8);
	LT_CHECK(t, n == 2 && c[0].status == 0 && c[1].status == 0, "after overrun: %d", n);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL, 1);
	run(d, 4);
	n = th_poll(d, c, 8);
	LT_CHECK(t, n == 1 && c[0].status == DEVIF_ST_RING_OVERRUN && c[0].index == 1,
		 "backwards: n %d st %u", n, c[0].status);
	th_dev_free(d);
}

/* The SQ points outside host memory: each descriptor gets DMA_ERR; after
 * the host fixes it the device serves again. */
static void test_fetch_fault(struct lt *t)
{
	struct th_dev *d = dev_up(t, 2);
	struct devif_comp c[8];

	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 0);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_SQ_HI, 1); /* 4 GiB: no such memory */
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 1);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL, 2);
	run(d, 6);
	int n = th_poll(d, c, 8);
	LT_CHECK(t, n == 2 && c[0].status == DEVIF_ST_DMA_ERR && c[1].status == DEVIF_ST_DMA_ERR &&
			    c[0].index == 0 && c[1].index == 1, "n %d", n);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 0);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_SQ_HI, 0);
	fw_bar_write(&d->fw, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, 1);
	d->posted = 2;
	struct devif_desc x = nop(9);
	struct devif_comp r = one(t, d, &x);
	LT_CHECK(t, r.status == 0 && r.tag == 9 && r.index == 2, "after the fault: st %u", r.status);
	th_dev_free(d);
}

/* ---- bad descriptors ---- */

static struct devif_desc eng(uint8_t op)
{
	struct devif_desc x = { .opcode = op, .tag = 77, .eng_len = 128, .eng_src = 0x1000,
				.eng_in_bytes = 256, .eng_dst = 0x3000, .eng_out_bytes = 256 };
	if (op == DEVIF_OP_COMBINE)
		x.eng_k = 4;
	if (op == DEVIF_OP_LOGFMT_ENC || op == DEVIF_OP_LOGFMT_DEC)
		x.eng_nbits = 8;
	if (op == DEVIF_OP_GATHER || op == DEVIF_OP_SCATTER) {
		x.eng_nrows = 4;
		x.eng_row_words = 8;
	}
	return x;
}

static struct devif_desc dma(uint8_t op, uint64_t host, uint32_t dev, uint32_t len)
{
	struct devif_desc x = { .opcode = op, .tag = 78, .host_addr = host, .dev_addr = dev,
				.len_bytes = len };
	return x;
}

static struct devif_desc send(uint8_t flags, uint16_t rank, uint16_t region, uint32_t len)
{
	struct devif_desc x = { .opcode = DEVIF_OP_MESH_SEND, .flags = flags, .tag = 79,
				.dst_rank = rank, .region = region, .len_bytes = len,
				.host_addr = 0x80000 };
	return x;
}

struct bad_case {
	const char *what;
	struct devif_desc x;
	uint16_t status;
};

static int bad_cases(struct bad_case *b)
{
	int n = 0;
	uint32_t dram = 1u << TH_DRAM_LOG2;
#define BAD(w, d, s) (b[n].what = (w), b[n].x = (d), b[n].status = (s), n++)
	struct devif_desc x;
	BAD("opcode 12", ((struct devif_desc){ .opcode = 12 }), DEVIF_ST_BAD_OPCODE);
	BAD("opcode 0x80", ((struct devif_desc){ .opcode = 0x80 }), DEVIF_ST_BAD_OPCODE);
	BAD("opcode 255", ((struct devif_desc){ .opcode = 255 }), DEVIF_ST_BAD_OPCODE);
	BAD("flag on NOP", ((struct devif_desc){ .flags = DEVIF_F_RELEASE }), DEVIF_ST_BAD_FLAGS);
	x = eng(DEVIF_OP_COMBINE); x.flags = DEVIF_F_ACQUIRE;
	BAD("flag on COMBINE", x, DEVIF_ST_BAD_FLAGS);
	BAD("unknown flag on MESH_SEND", send(4, 0, 0, 8), DEVIF_ST_BAD_FLAGS);
	BAD("send with no open epoch", send(0, 0, 0, 8), DEVIF_ST_BAD_FLAGS);
	BAD("release with no open epoch", send(DEVIF_F_RELEASE, 0, 1, 8), DEVIF_ST_BAD_FLAGS);
	BAD("rsvd0", ((struct devif_desc){ .rsvd0 = 1 }), DEVIF_ST_BAD_PARAM);
	BAD("rsvd1", ((struct devif_desc){ .rsvd1 = 1 }), DEVIF_ST_BAD_PARAM);
	BAD("remote_va on NOP", ((struct devif_desc){ .remote_va = 1 }), DEVIF_ST_BAD_PARAM);
	x = dma(DEVIF_OP_DMA_TO_DEV, 0x80000, 0, 64); x.remote_va = 0x1000;
	BAD("remote_va on DMA", x, DEVIF_ST_BAD_PARAM);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 8); x.imm = 7; BAD("imm without RELEASE", x, DEVIF_ST_BAD_PARAM);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 8); x.mesh_rsvd[4] = 1; BAD("mesh_rsvd", x, DEVIF_ST_BAD_PARAM);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 8); x.remote_va = 0x1000; x.dev_addr = 64;
	BAD("remote_va and dev_addr", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_QUANT); x.remote_va = 32; BAD("remote_va on QUANT", x, DEVIF_ST_BAD_PARAM);
	BAD("host_addr on NOP", ((struct devif_desc){ .host_addr = 64 }), DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_COMBINE); x.eng_k = 0; BAD("COMBINE k 0", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_COMBINE); x.eng_k = 17; BAD("COMBINE k 17", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_QUANT); x.eng_k = 2; BAD("QUANT mode 2", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_DEQUANT); x.eng_len = 0; BAD("len 0", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_DEQUANT); x.eng_len = 129; BAD("len 129", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_LOGFMT_ENC); x.eng_nbits = 7; BAD("nbits 7", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_LOGFMT_DEC); x.eng_nbits = 11; BAD("nbits 11", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_COMBINE); x.eng_nbits = 8; BAD("nbits on COMBINE", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_GATHER); x.eng_nrows = 0; BAD("GATHER rows 0", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_QUANT); x.eng_row_words = 1; BAD("row words on QUANT", x, DEVIF_ST_BAD_PARAM);
	x = eng(DEVIF_OP_QUANT); x.dev_addr = 32; BAD("dev_addr on QUANT", x, DEVIF_ST_BAD_PARAM);
	BAD("rank 1 of 1", send(DEVIF_F_ACQUIRE, 1, 0, 8), DEVIF_ST_BAD_PARAM);
	BAD("region 16", send(DEVIF_F_ACQUIRE, 0, 16, 8), DEVIF_ST_BAD_PARAM);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 8); x.eng_len = 1; BAD("eng field on send", x, DEVIF_ST_BAD_PARAM);
	BAD("map region 16", ((struct devif_desc){ .opcode = DEVIF_OP_REGION_MAP, .region = 16 }),
	    DEVIF_ST_BAD_PARAM);
	BAD("DMA len 0", dma(DEVIF_OP_DMA_TO_DEV, 0x80000, 0, 0), DEVIF_ST_BAD_LEN);
	BAD("DMA len 33", dma(DEVIF_OP_DMA_TO_DEV, 0x80000, 0, 33), DEVIF_ST_BAD_LEN);
	BAD("DMA len 1 MiB + 32", dma(DEVIF_OP_DMA_FROM_DEV, 0, 0, (1u << 20) + 32), DEVIF_ST_BAD_LEN);
	x = eng(DEVIF_OP_QUANT); x.eng_in_bytes = 8192 + 32; BAD("input 8224", x, DEVIF_ST_BAD_LEN);
	x = eng(DEVIF_OP_QUANT); x.eng_in_bytes = 100; BAD("input 100", x, DEVIF_ST_BAD_LEN);
	x = eng(DEVIF_OP_QUANT); x.eng_out_bytes = 0; BAD("output 0", x, DEVIF_ST_BAD_LEN);
	x = eng(DEVIF_OP_QUANT); x.eng_out_bytes = 1056; BAD("output 1056", x, DEVIF_ST_BAD_LEN);
	BAD("send 4097", send(DEVIF_F_ACQUIRE, 0, 0, 4097), DEVIF_ST_BAD_LEN);
	BAD("DMA dev unaligned", dma(DEVIF_OP_DMA_TO_DEV, 0x80000, 16, 32), DEVIF_ST_BAD_ADDR);
	BAD("DMA past DRAM", dma(DEVIF_OP_DMA_TO_DEV, 0x80000, dram - 32, 64), DEVIF_ST_BAD_ADDR);
	BAD("DMA at 4 GiB - 32", dma(DEVIF_OP_DMA_FROM_DEV, 0, 0xffffffe0u, 64), DEVIF_ST_BAD_ADDR);
	x = eng(DEVIF_OP_QUANT); x.eng_src = dram; BAD("engine src past DRAM", x, DEVIF_ST_BAD_ADDR);
	x = eng(DEVIF_OP_QUANT); x.eng_dst = 8; BAD("engine dst unaligned", x, DEVIF_ST_BAD_ADDR);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 64); x.dev_addr = 0xfffffff0u;
	BAD("send offset wraps", x, DEVIF_ST_BAD_ADDR);
	x = send(DEVIF_F_ACQUIRE, 0, 0, 64); x.remote_va = ~0ull - 8;
	BAD("send remote_va wraps", x, DEVIF_ST_BAD_ADDR);
	BAD("DMA host outside memory", dma(DEVIF_OP_DMA_TO_DEV, TH_HOST_BYTES, 0, 64),
	    DEVIF_ST_DMA_ERR);
	BAD("send from outside memory: goes void", send(DEVIF_F_ACQUIRE | DEVIF_F_RELEASE, 0, 2, 64),
	    DEVIF_ST_DMA_ERR);
	x = eng(DEVIF_OP_LOGFMT_DEC); BAD("die rejects the unit", x, DEVIF_ST_ENGINE_ERR);
#undef BAD
	return n;
}

/* Each bad descriptor, then a NOP: the bad one gets its status (and the
 * error interrupt), the NOP is still served. */
static void test_bad_descriptors(struct lt *t)
{
	struct th_mesh mesh;
	th_mesh_init(&mesh, 1);
	struct th_dev *d = th_dev_new(0, &mesh, 3);
	struct bad_case b[64];
	int n = bad_cases(b);

	LT_CHECK(t, th_init(d, 1) == 0, "init");
	th_rings(d, 3);
	d->die.reject_op = RTL_MFLD_ENG_LOGFMT_DEC;
	for (int i = 0; i < n; i++) {
		if (strstr(b[i].what, "void"))
			b[i].x.host_addr = TH_HOST_BYTES;
		if (!b[i].x.tag)
			b[i].x.tag = 100 + (uint64_t)i;
		struct devif_desc good = nop(500 + (uint64_t)i);
		struct devif_comp c[4];
		memset(c, 0xee, sizeof(c));
		uint32_t irqs = d->irqs;
		LT_CHECK(t, th_post(d, &b[i].x) && th_post(d, &good), "post %s", b[i].what);
		run(d, 10);
		int got = 0, rel = 0;
		struct devif_comp all[4];
		int m = th_poll(d, all, 4);
		for (int k = 0; k < m; k++) { /* the void send loops back: its epoch's release
					       * (region 2 is unmapped: tag 0) */
			if (all[k].opcode == DEVIF_OP_MESH_RELEASE && all[k].tag == 0)
				rel += all[k].status == DEVIF_ST_DMA_ERR;
			else
				c[got++] = all[k];
		}
		LT_CHECK(t, rel == (strstr(b[i].what, "void") ? 1 : 0), "%s: %d releases", b[i].what,
			 rel);
		if (got == 2 && c[0].tag == good.tag) { /* records may finish out of order */
			struct devif_comp s = c[0];
			c[0] = c[1];
			c[1] = s;
		}
		LT_CHECK(t, got == 2 && c[0].status == b[i].status && c[0].tag == b[i].x.tag &&
				    c[1].status == DEVIF_ST_OK && c[1].tag == good.tag,
			 "%s: %d records, status %u want %u, next %u", b[i].what, got, c[0].status,
			 b[i].status, c[1].status);
		LT_CHECK(t, d->irqs > irqs, "%s: no interrupt", b[i].what);
		LT_CHECK(t, th_reg(d, DEVIF_REG_IRQ + DEVIF_IRQ_STATUS) & DEVIF_IRQ_ERR, "%s: ERR bit",
			 b[i].what);
		fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_STATUS, DEVIF_IRQ_COMP | DEVIF_IRQ_ERR);
	}
	LT_CHECK(t, th_reg(d, DEVIF_REG_IRQ + DEVIF_IRQ_STATUS) == 0, "write 1 to clear");
	/* one error record per case, and the void send's DMA_ERR release */
	LT_CHECK(t, th_reg(d, DEVIF_REG_DEVICE + DEVIF_DEV_ERRORS) == (uint32_t)n + 1, "errors %u",
		 th_reg(d, DEVIF_REG_DEVICE + DEVIF_DEV_ERRORS));
	th_dev_free(d);
	th_mesh_free(&mesh);
}

/* ---- work ---- */

static void test_engine_translation(struct lt *t)
{
	struct th_dev *d = dev_up(t, 3);
	struct devif_desc x = eng(DEVIF_OP_GATHER);

	x.eng_len = 17;
	x.eng_nrows = 9;
	x.eng_row_words = 33;
	x.eng_src = 0x4000;
	x.eng_in_bytes = 2048;
	x.eng_dst = 0x8000;
	x.eng_out_bytes = 1024;
	struct devif_comp c = one(t, d, &x);
	const struct rtl_mfld_desc *y = &d->die.last;
	LT_CHECK(t, c.status == 0 && c.opcode == DEVIF_OP_GATHER && c.tag == 77, "st %u", c.status);
	LT_CHECK(t, y->op == RTL_MFLD_ENG_GATHER && y->len == 17 && y->nrows == 9 &&
			    y->row_words == 33 && y->src == 0x4000 && y->in_bytes == 2048 &&
			    y->dst == 0x8000 && y->out_bytes == 1024 && y->k == 0 && y->nbits == 0 &&
			    y->flags == 0,
		 "die descriptor op %u len %u rows %u words %u", y->op, y->len, y->nrows,
		 y->row_words);
	/* 20 engine ops at once: more than the die's ring holds; all served */
	for (int i = 0; i < 20; i++) {
		struct devif_desc q = eng(DEVIF_OP_COMBINE);
		q.tag = 900 + (uint64_t)i;
		LT_CHECK(t, th_post(d, &q) || (run(d, 4), th_post(d, &q)), "post %d", i);
	}
	run(d, 40);
	struct devif_comp cs[32];
	int n = 0;
	for (int k = 0; k < 10; k++, run(d, 4))
		n += th_poll(d, cs + n, 32 - n);
	LT_CHECK(t, n == 20 && d->die.served == 21, "records %d served %u", n, d->die.served);
	th_dev_free(d);
}

static void test_dma_round_trip(struct lt *t)
{
	struct th_dev *d = dev_up(t, 3);
	struct loom_rng r;
	const uint32_t len = 4096 + 64;

	loom_rng_init(&r, lt_seed(t));
	for (uint32_t i = 0; i < len; i++)
		d->host[0x80000 + i] = (uint8_t)loom_rng_u32(&r);
	struct devif_desc x = dma(DEVIF_OP_DMA_TO_DEV, 0x80000, 0x2000, len);
	struct devif_comp c = one(t, d, &x);
	LT_CHECK(t, c.status == 0, "to dev %u", c.status);
	LT_CHECK(t, memcmp(d->dram + 0x2000, d->host + 0x80000, len) == 0, "DRAM bytes");
	x = dma(DEVIF_OP_DMA_FROM_DEV, 0x90000, 0x2000, len);
	c = one(t, d, &x);
	LT_CHECK(t, c.status == 0 && c.opcode == DEVIF_OP_DMA_FROM_DEV, "from dev %u", c.status);
	LT_CHECK(t, memcmp(d->host + 0x90000, d->host + 0x80000, len) == 0, "host bytes back");
	/* a full DMA engine only delays work */
	d->cap = 1;
	for (int i = 0; i < 6; i++) {
		x = dma(DEVIF_OP_DMA_FROM_DEV, 0xa0000 + 0x2000 * (uint64_t)i, 0x2000, len);
		LT_CHECK(t, th_post(d, &x), "post");
	}
	run(d, 100);
	struct devif_comp cs[8];
	int n = th_poll(d, cs, 8);
	LT_CHECK(t, n == 6, "records %d of 6 with one DMA slot", n);
	for (int i = 0; i < n; i++)
		LT_CHECK(t, cs[i].status == 0, "record %d status %u", i, cs[i].status);
	th_dev_free(d);
}

/* ---- interrupts ---- */

static void test_irq_coalescing(struct lt *t)
{
	struct th_dev *d = dev_up(t, 5);
	struct devif_comp c[32];
	struct devif_desc x = nop(1);

	fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_COAL_COUNT, 4);
	for (int i = 0; i < 3; i++)
		th_post(d, &x);
	run(d, 50);
	LT_CHECK(t, d->irqs == 0, "3 records under count 4: %u interrupts", d->irqs);
	th_post(d, &x);
	run(d, 10);
	LT_CHECK(t, d->irqs == 1, "4th record: %u interrupts", d->irqs);
	th_poll(d, c, 32);
	/* the time bound: one record, 100 cycles */
	fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_COAL_CYCLES, 100);
	th_post(d, &x);
	run(d, 3);
	uint64_t t0 = d->cycle;
	LT_CHECK(t, th_poll(d, c, 32) == 1, "record written");
	while (d->irqs == 1 && d->cycle < t0 + 500)
		th_step(d);
	LT_CHECK(t, d->irqs == 2 && d->cycle >= t0 + 96 && d->cycle <= t0 + 101,
		 "time bound: irq at +%llu cycles, want ~100", (unsigned long long)(d->cycle - t0));
	/* an error record is never delayed */
	struct devif_desc bad = { .opcode = 99 };
	th_post(d, &bad);
	run(d, 4);
	LT_CHECK(t, d->irqs == 3, "error record: %u interrupts", d->irqs);
	/* masked: nothing, then enabling sends the one that is due */
	fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_ENABLE, 0);
	for (int i = 0; i < 8; i++)
		th_post(d, &x);
	run(d, 50);
	LT_CHECK(t, d->irqs == 3, "masked: %u interrupts", d->irqs);
	fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_ENABLE, DEVIF_IRQ_COMP);
	run(d, 2);
	LT_CHECK(t, d->irqs == 4, "unmasked: %u interrupts", d->irqs);
	LT_CHECK(t, th_reg(d, DEVIF_REG_IRQ + DEVIF_IRQ_RAISED) == 4, "IRQ_RAISED");
	/* count 1 (reset value): one interrupt per step that wrote records */
	fw_bar_write(&d->fw, DEVIF_REG_IRQ + DEVIF_IRQ_COAL_COUNT, 0); /* clamps to 1 */
	LT_CHECK(t, th_reg(d, DEVIF_REG_IRQ + DEVIF_IRQ_COAL_COUNT) == 1, "count clamp");
	th_poll(d, c, 32);
	th_post(d, &x);
	run(d, 6);
	LT_CHECK(t, d->irqs == 5, "count 1: %u interrupts", d->irqs);
	th_dev_free(d);
}

static const struct lt_case cases[] = {
	LT_CASE(test_discover_default),
	LT_CASE(test_discover_moved),
	LT_CASE(test_discover_malformed),
	LT_CASE(test_bar0_chain),
	LT_CASE(test_init_bad_args),
	LT_CASE(test_ring_wrap),
	LT_CASE(test_overrun),
	LT_CASE(test_fetch_fault),
	LT_CASE(test_bad_descriptors),
	LT_CASE(test_engine_translation),
	LT_CASE(test_dma_round_trip),
	LT_CASE(test_irq_coalescing),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

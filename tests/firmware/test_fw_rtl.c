/*
 * test_fw_rtl.c - the firmware driving the logic die's RTL (rtl_mfld.h,
 * checked flavour): it finds the die's register blocks by walking the real
 * chain, points the die's rings at its own memory, and serves host
 * descriptors end to end: DMA_TO_DEV of an engine's input image, the
 * engine op (COMBINE or QUANT), DMA_FROM_DEV of its output, compared bit
 * for bit with kernels/ (the COMBINE loop of rtl_mfld.h in FP32, and
 * quant_act_1x128).  A unit the die rejects (LOGFMT_ENC of a NaN) comes
 * back as ENGINE_ERR and the next unit is still served.
 *
 * The HAL here is a thin adapter, not a model: MMIO goes to the RTL's
 * registers, the die's DMA reaches firmware memory, host <-> DRAM transfers
 * go through the DRAM's test port (32-byte bursts, only while the die is
 * idle).  loom-emud will put the device link and the mesh behind the same
 * calls.
 */
#include "firmware/fw.h"
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/quant.h"
#include "loom/rng.h"
#include "loom/rtl_mfld.h"
#include "lt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOST_BYTES (1u << 20)
#define SQ_AT 0x0u
#define CQ_AT 0x10000u
#define IN_AT 0x20000u
#define OUT_AT 0x40000u
#define LOG2 3

struct rh {
	struct fw fw;
	struct rtl_mfld *m;
	uint8_t *host;
	struct { uint32_t cookie; int status; } done[64];
	int nd;
	uint32_t posted, seen;
	unsigned irqs;
};

/* ---- the die's DMA: firmware memory only ---- */

static bool in_fw(struct rh *h, uint64_t addr, size_t n)
{
	uintptr_t lo = (uintptr_t)&h->fw, hi = lo + sizeof(h->fw);
	return addr >= lo && addr <= hi && n <= hi - addr;
}

static int die_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	if (!in_fw(ctx, addr, n))
		return -1;
	memcpy(dst, (const void *)(uintptr_t)addr, n);
	return 0;
}

static int die_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
	if (!in_fw(ctx, addr, n))
		return -1;
	memcpy((void *)(uintptr_t)addr, src, n);
	return 0;
}

/* ---- HAL ---- */

static int h_mmio_read(void *ctx, unsigned space, uint32_t off, uint32_t *val)
{
	struct rh *h = ctx;
	return space == FW_SPACE_DIE ? rtl_mfld_mmio_read(h->m, off, val) : -FW_EFAULT;
}

static int h_mmio_write(void *ctx, unsigned space, uint32_t off, uint32_t val)
{
	struct rh *h = ctx;
	return space == FW_SPACE_DIE ? rtl_mfld_mmio_write(h->m, off, val) : -FW_EFAULT;
}

/* host <-> DRAM through the test port, one burst per op */
static int h_dram(struct rh *h, const struct fw_dma *x)
{
	uint32_t n = x->len_bytes / 32;
	struct rtl_mfld_dram_op *ops = calloc(n, sizeof(*ops));
	bool write = x->kind == FW_DMA_HOST_TO_DRAM;

	if ((x->len_bytes & 31) || x->host_addr + x->len_bytes > HOST_BYTES) {
		free(ops);
		return -FW_EFAULT;
	}
	for (uint32_t i = 0; i < n; i++) {
		ops[i].addr = x->dram_addr + 32ull * i;
		ops[i].write = write;
		if (write)
			memcpy(ops[i].data, h->host + x->host_addr + 32ull * i, 32);
	}
	int rc = rtl_mfld_dram_run(h->m, ops, n);
	for (uint32_t i = 0; !rc && !write && i < n; i++)
		memcpy(h->host + x->host_addr + 32ull * i, ops[i].data, 32);
	free(ops);
	return rc ? -FW_EIO : 0;
}

static int h_dma_submit(void *ctx, const struct fw_dma *x)
{
	struct rh *h = ctx;
	int st = 0;

	if (h->nd == 64)
		return -FW_EAGAIN;
	if (x->kind == FW_DMA_HOST_TO_DRAM || x->kind == FW_DMA_DRAM_TO_HOST) {
		if (rtl_mfld_busy(h->m))
			return -FW_EAGAIN;
		st = h_dram(h, x);
	} else if (x->host_addr + x->len_bytes > HOST_BYTES) {
		st = -FW_EFAULT;
	} else if (x->kind == FW_DMA_HOST_TO_LOCAL) {
		memcpy(x->local, h->host + x->host_addr, x->len_bytes);
	} else {
		memcpy(h->host + x->host_addr, x->local, x->len_bytes);
	}
	h->done[h->nd].cookie = x->cookie;
	h->done[h->nd].status = st;
	h->nd++;
	return 0;
}

static int h_dma_reap(void *ctx, uint32_t *cookie, int *status)
{
	struct rh *h = ctx;

	if (!h->nd)
		return 0;
	*cookie = h->done[0].cookie;
	*status = h->done[0].status;
	memmove(&h->done[0], &h->done[1], (size_t)(--h->nd) * sizeof(h->done[0]));
	return 1;
}

static int h_ni_send(void *ctx, unsigned dst, const void *a, uint32_t an, const void *b, uint32_t bn)
{
	(void)ctx, (void)dst, (void)a, (void)an, (void)b, (void)bn;
	return -FW_EINVAL; /* no mesh in this test */
}

static int h_ni_recv(void *ctx, void *buf, uint32_t max, unsigned *src)
{
	(void)ctx, (void)buf, (void)max, (void)src;
	return 0;
}

static uint64_t h_cycles(void *ctx)
{
	struct rtl_mfld_counters c = { 0 };
	rtl_mfld_counters(((struct rh *)ctx)->m, &c);
	return c.cycles;
}

static void h_irq(void *ctx, unsigned vector)
{
	(void)vector;
	((struct rh *)ctx)->irqs++;
}

static uint64_t h_local_addr(void *ctx, const void *p)
{
	(void)ctx;
	return (uint64_t)(uintptr_t)p;
}

static struct rh *rh_up(struct lt *t)
{
	struct rh *h = calloc(1, sizeof(*h));
	h->host = calloc(1, HOST_BYTES);
	h->m = rtl_mfld_create(NULL);
	LT_CHECK(t, h->m != NULL, "rtl_mfld_create: %s", loom_err_msg());
	if (!h->m)
		return h;
	struct rtl_mfld_dma dma = { .read = die_read, .write = die_write, .ctx = h };
	LT_CHECK(t, rtl_mfld_set_dma(h->m, &dma) == 0, "set_dma");
	struct fw_hal hal = {
		.mmio_read = h_mmio_read, .mmio_write = h_mmio_write, .dma_submit = h_dma_submit,
		.dma_reap = h_dma_reap, .ni_send = h_ni_send, .ni_recv = h_ni_recv,
		.cycles = h_cycles, .irq = h_irq, .local_addr = h_local_addr, .ctx = h,
	};
	struct fw_config cfg = { .rank = 0, .ranks = 1 };
	int rc = fw_init(&h->fw, &hal, &cfg);
	LT_CHECK(t, rc == 0, "fw_init on the RTL: %d (%s)", rc, fw_why(&h->fw));
	struct fw *f = &h->fw;
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_SQ_LO, SQ_AT);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_CQ_LO, CQ_AT);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_LOG2, LOG2);
	fw_bar_write(f, DEVIF_REG_QUEUE + DEVIF_Q_CTRL, DEVIF_CTRL_ENABLE);
	fw_bar_write(f, DEVIF_REG_IRQ + DEVIF_IRQ_ENABLE, DEVIF_IRQ_COMP | DEVIF_IRQ_ERR);
	return h;
}

static void rh_down(struct rh *h)
{
	rtl_mfld_destroy(h->m);
	free(h->host);
	free(h);
}

/* Post one descriptor, step firmware and RTL until its record comes. */
static struct devif_comp rh_do(struct lt *t, struct rh *h, const struct devif_desc *x)
{
	uint32_t entries = 1u << LOG2;
	struct devif_comp c = { .status = 0xffff };

	memcpy(h->host + SQ_AT + (h->posted % entries) * sizeof(*x), x, sizeof(*x));
	h->posted++;
	fw_bar_write(&h->fw, DEVIF_REG_QUEUE + DEVIF_Q_DOORBELL, h->posted);
	for (int i = 0; i < 200000; i++) {
		LT_CHECK(t, fw_step(&h->fw) == 0, "fw_step");
		rtl_mfld_step(h->m, 1);
		memcpy(&c, h->host + CQ_AT + (h->seen % entries) * sizeof(c), sizeof(c));
		if (c.phase == (((h->seen >> LOG2) & 1) ^ 1)) {
			h->seen++;
			fw_bar_write(&h->fw, DEVIF_REG_QUEUE + DEVIF_Q_CQ_HEAD, h->seen);
			return c;
		}
	}
	LT_CHECK(t, false, "no record for opcode %u", x->opcode);
	c.status = 0xffff;
	return c;
}

static uint16_t finite_bf16(struct loom_rng *r)
{
	int e = 127 + (int)(loom_rng_u32(r) % 41) - 20;
	return (uint16_t)((loom_rng_u32(r) & 0x8000u) | (uint32_t)e << 7 | (loom_rng_u32(r) & 0x7f));
}

static uint32_t round32(uint32_t n)
{
	return (n + 31) & ~31u;
}

/* A COMBINE or QUANT unit: input image at host IN_AT, expected output. */
static struct devif_desc make_unit(struct loom_rng *r, struct rh *h, uint8_t *want, uint32_t *out_bytes)
{
	struct devif_desc x = { .eng_src = 0x0, .eng_dst = 0x4000, .tag = loom_rng_u32(r) };
	uint8_t *in = h->host + IN_AT;
	int len = 1 + (int)(loom_rng_u32(r) % 128);

	memset(in, 0, 8192);
	memset(want, 0, 1024);
	x.eng_len = (uint8_t)len;
	if (loom_rng_u32(r) % 2) {
		float w[16];
		uint16_t rows[16][128];
		int k = 1 + (int)(loom_rng_u32(r) % 16);
		for (int i = 0; i < k; i++) {
			w[i] = (float)(loom_rng_uniform(r) * 4.0 - 2.0);
			for (int e = 0; e < len; e++)
				rows[i][e] = finite_bf16(r);
			memcpy(in + 64 + 256 * i, rows[i], 2 * (size_t)len);
		}
		memcpy(in, w, 4 * (size_t)k);
		for (int e = 0; e < len; e++) { /* rtl_mfld.h: FP32 sum in order of RN(w_i x_i) */
			float acc = 0.0f;
			for (int i = 0; i < k; i++)
				acc += w[i] * bf16_to_f32(rows[i][e]);
			uint16_t o = bf16_from_f32(acc);
			memcpy(want + 2 * e, &o, 2);
		}
		x.opcode = DEVIF_OP_COMBINE;
		x.eng_k = (uint8_t)k;
		x.eng_in_bytes = round32(64 + 256 * (uint32_t)(k - 1) + 2 * (uint32_t)len);
		x.eng_out_bytes = round32(2 * (uint32_t)len);
	} else {
		float xf[128], s;
		for (int e = 0; e < len; e++) {
			uint16_t b = finite_bf16(r);
			memcpy(in + 2 * e, &b, 2);
			xf[e] = bf16_to_f32(b);
		}
		x.opcode = DEVIF_OP_QUANT;
		x.eng_k = (uint8_t)(loom_rng_u32(r) % 2);
		quant_act_1x128(want, &s, xf, 1, len, x.eng_k ? QUANT_SCALE_POW2 : QUANT_SCALE_F32);
		memcpy(want + 256, &s, 4);
		x.eng_in_bytes = round32(2 * (uint32_t)len);
		x.eng_out_bytes = 288;
	}
	*out_bytes = x.eng_out_bytes;
	return x;
}

static void test_rtl_discovery(struct lt *t)
{
	struct rh *h = rh_up(t);
	struct rtl_mfld_dram_geometry g;

	if (h->m) {
		rtl_mfld_dram_geometry(h->m, &g);
		const struct fw_die_map *d = &h->fw.die;
		LT_CHECK(t, d->queue == RTL_MFLD_REG_QUEUE && d->engines == RTL_MFLD_REG_ENGINES &&
				    d->dram == RTL_MFLD_REG_DRAM && d->device == RTL_MFLD_REG_DEVICE,
			 "blocks %x %x %x", d->queue, d->engines, d->dram);
		LT_CHECK(t, (1ull << d->dram_log2) == g.bytes, "DRAM 2^%u vs %llu bytes", d->dram_log2,
			 (unsigned long long)g.bytes);
		LT_CHECK(t, d->ib_bytes == RTL_MFLD_IB_BYTES && d->ob_bytes == RTL_MFLD_OB_BYTES,
			 "buffers %u %u", d->ib_bytes, d->ob_bytes);
	}
	rh_down(h);
}

static void test_rtl_units(struct lt *t)
{
	struct rh *h = rh_up(t);
	struct loom_rng r;
	uint8_t want[1024];
	uint32_t out_bytes;

	loom_rng_init(&r, lt_seed(t));
	for (int u = 0; h->m && u < 8; u++) {
		struct devif_desc x = make_unit(&r, h, want, &out_bytes);
		struct devif_desc to = { .opcode = DEVIF_OP_DMA_TO_DEV, .host_addr = IN_AT,
					 .dev_addr = x.eng_src, .len_bytes = x.eng_in_bytes };
		struct devif_desc from = { .opcode = DEVIF_OP_DMA_FROM_DEV, .host_addr = OUT_AT,
					   .dev_addr = x.eng_dst, .len_bytes = out_bytes };
		struct devif_comp c1 = rh_do(t, h, &to), c2 = rh_do(t, h, &x), c3 = rh_do(t, h, &from);
		LT_CHECK(t, c1.status == 0 && c2.status == 0 && c3.status == 0,
			 "unit %d (op %u): statuses %u %u %u", u, x.opcode, c1.status, c2.status,
			 c3.status);
		LT_CHECK(t, c2.tag == x.tag && c2.opcode == x.opcode, "unit %d record", u);
		/* the bytes the engine defines (as tests/rtl/test_mfld_dev.c): COMBINE
		 * 2 len; QUANT len codes and the scale at 256, bytes len..255 unwritten */
		uint8_t *got = h->host + OUT_AT;
		size_t cmp = x.opcode == DEVIF_OP_QUANT ? 260 : 2 * (size_t)x.eng_len;
		if (x.opcode == DEVIF_OP_QUANT)
			memset(got + x.eng_len, 0, 256 - (size_t)x.eng_len);
		LT_CHECK(t, memcmp(got, want, cmp) == 0,
			 "unit %d (op %u, len %u): output differs from kernels/", u, x.opcode, x.eng_len);
	}
	LT_CHECK(t, h->irqs >= 24, "interrupts %u for 24 records", h->irqs);
	rh_down(h);
}

static void test_rtl_engine_error(struct lt *t)
{
	struct rh *h = rh_up(t);
	float xs[128];

	for (int i = 0; i < 128; i++)
		xs[i] = (float)i;
	xs[5] = NAN;
	memcpy(h->host + IN_AT, xs, sizeof(xs));
	struct devif_desc to = { .opcode = DEVIF_OP_DMA_TO_DEV, .host_addr = IN_AT, .dev_addr = 0,
				 .len_bytes = 512 };
	struct devif_desc enc = { .opcode = DEVIF_OP_LOGFMT_ENC, .tag = 3, .eng_len = 128,
				  .eng_nbits = 8, .eng_src = 0, .eng_in_bytes = 512,
				  .eng_dst = 0x4000, .eng_out_bytes = 256 };
	struct devif_desc nop = { .opcode = DEVIF_OP_NOP, .tag = 4 };
	if (h->m) {
		LT_CHECK(t, rh_do(t, h, &to).status == 0, "DMA");
		struct devif_comp c = rh_do(t, h, &enc);
		LT_CHECK(t, c.status == DEVIF_ST_ENGINE_ERR && c.tag == 3, "NaN to LOGFMT_ENC: status %u",
			 c.status);
		c = rh_do(t, h, &nop);
		LT_CHECK(t, c.status == 0 && c.tag == 4, "next descriptor: status %u", c.status);
		xs[5] = 5.0f;
		memcpy(h->host + IN_AT, xs, sizeof(xs));
		LT_CHECK(t, rh_do(t, h, &to).status == 0, "DMA");
		c = rh_do(t, h, &enc);
		LT_CHECK(t, c.status == 0, "finite LOGFMT_ENC: status %u", c.status);
	}
	rh_down(h);
}

static const struct lt_case cases[] = {
	LT_CASE(test_rtl_discovery),
	LT_CASE(test_rtl_units),
	LT_CASE(test_rtl_engine_error),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

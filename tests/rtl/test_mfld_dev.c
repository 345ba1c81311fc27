/*
 * test_mfld_dev.c - the logic die as a device: register chain, descriptor
 * ring fetched by DMA from host memory, data mover between DRAM and the
 * engines, completions written by DMA, interrupt, and bad descriptors.
 *
 * Host memory is a C array behind the DMA callbacks.  Engine results that
 * went DRAM -> engine -> DRAM are compared, bit for bit, with kernels/
 * (quant_act_1x128, the COMBINE loop of rtl_mfld.h, the GATHER row copy);
 * every bad descriptor must give its error completion and the next good
 * descriptor must still be served; a unit of exactly the buffers' sizes
 * runs, one burst more is refused; the host-link latency register adds
 * exactly its value to each DMA access (fetch, completion write).
 */
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/quant.h"
#include "loom/rng.h"
#include "loom/rtl_mfld.h"
#include "lt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_BYTES 65536
#define RING_AT 0x1000
#define COMP_AT 0x4000
#define LOG2 4
#define ENTRIES (1u << LOG2)
#define Q RTL_MFLD_REG_QUEUE

struct host {
	uint8_t mem[HOST_BYTES];
	uint32_t posted, seen; /* descriptors posted, completions consumed */
};

static int host_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	struct host *h = ctx;

	if (addr > HOST_BYTES || n > HOST_BYTES - addr)
		return -1;
	memcpy(dst, h->mem + addr, n);
	return 0;
}

static int host_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
	struct host *h = ctx;

	if (addr > HOST_BYTES || n > HOST_BYTES - addr)
		return -1;
	memcpy(h->mem + addr, src, n);
	return 0;
}

static size_t round32(size_t n)
{
	return (n + 31) & ~(size_t)31;
}

/* bytes [addr, addr + n) of the DRAM through the test port (n a multiple of 32) */
static int dram_io(struct rtl_mfld *m, uint64_t addr, void *buf, size_t n, int write)
{
	struct rtl_mfld_dram_op ops[256];
	size_t nb = n / 32;

	if (nb > 256)
		return -EINVAL;
	for (size_t i = 0; i < nb; i++) {
		ops[i].addr = addr + 32 * i;
		ops[i].write = write;
		if (write)
			memcpy(ops[i].data, (uint8_t *)buf + 32 * i, 32);
	}
	int rc = rtl_mfld_dram_run(m, ops, nb);
	for (size_t i = 0; i < nb && !rc && !write; i++)
		memcpy((uint8_t *)buf + 32 * i, ops[i].data, 32);
	return rc;
}

static struct rtl_mfld *open_dev(struct lt *t, struct host *h)
{
	struct rtl_mfld *m = rtl_mfld_create(NULL);
	struct rtl_mfld_dma dma = { host_read, host_write, h };

	struct rtl_mfld_dram_geometry g;

	LT_CHECK(t, m != NULL, "rtl_mfld_create: %s", loom_err_msg());
	if (!m)
		return NULL;
	/* the cases assume the default DRAM (mk/rtl.mk's RTL_MFLD_DRAM) */
	if (rtl_mfld_dram_geometry(m, &g) || g.bytes != RTL_MFLD_DRAM_BYTES ||
	    g.channels != RTL_MFLD_DRAM_CHANNELS || g.banks != RTL_MFLD_DRAM_BANKS) {
		lt_skip(t, "built with another DRAM geometry (%u channels, %u banks)", g.channels,
			g.banks);
		rtl_mfld_destroy(m);
		return NULL;
	}
	memset(h, 0, sizeof(*h));
	int rc = rtl_mfld_set_dma(m, &dma);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_LO, RING_AT);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_HI, 0);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_LOG2, LOG2);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_COMP_LO, COMP_AT);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_COMP_HI, 0);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_IRQ_ENABLE, 3);
	rc |= rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_CTRL, 1);
	LT_CHECK(t, rc == 0, "setup: %s", loom_err_msg());
	return m;
}

static void post(struct rtl_mfld *m, struct host *h, const struct rtl_mfld_desc *d)
{
	memcpy(h->mem + RING_AT + 64 * (h->posted % ENTRIES), d, 64);
	h->posted++;
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, h->posted);
}

/* Run until ncomp completions exist; 0 or -ETIMEDOUT. */
static int wait_comps(struct rtl_mfld *m, uint32_t ncomp)
{
	uint32_t v = 0;

	for (int i = 0; i < 20000; i++) {
		rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_NCOMP, &v);
		if (v >= ncomp && !rtl_mfld_busy(m))
			return 0;
		rtl_mfld_step(m, 50);
	}
	return -ETIMEDOUT;
}

/* The next completion (after waiting for it). */
static struct rtl_mfld_comp next_comp(struct lt *t, struct rtl_mfld *m, struct host *h)
{
	struct rtl_mfld_comp c;

	LT_CHECK(t, wait_comps(m, h->seen + 1) == 0, "completion %u never came", h->seen);
	memcpy(&c, h->mem + COMP_AT + 32 * (h->seen % ENTRIES), 32);
	h->seen++;
	return c;
}

static void test_register_chain(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	struct rtl_mfld *m = h ? open_dev(t, h) : NULL;
	const uint32_t want_type[] = { RTL_MFLD_BLK_DEVICE, RTL_MFLD_BLK_QUEUE, RTL_MFLD_BLK_DRAM,
				       RTL_MFLD_BLK_ENGINES, RTL_MFLD_BLK_DRAM2 };
	uint32_t off = 0, v, hdr;
	int n = 0;

	if (!m)
		goto out;
	do {
		LT_CHECK(t, rtl_mfld_mmio_read(m, off, &hdr) == 0, "%s", loom_err_msg());
		LT_CHECK(t, n < 5 && hdr >> 16 == want_type[n] && (hdr & 0xffff) == 1,
			 "block %d at 0x%x: header %08x", n, off, hdr);
		if (hdr >> 16 == RTL_MFLD_BLK_DEVICE) {
			rtl_mfld_mmio_read(m, off + 8, &v);
			LT_CHECK(t, v == RTL_MFLD_MAGIC, "magic %08x", v);
		}
		if (hdr >> 16 == RTL_MFLD_BLK_DRAM) {
			rtl_mfld_mmio_read(m, off + RTL_MFLD_DRAM_GEOMETRY, &v);
			LT_CHECK(t, (v & 0xff) == RTL_MFLD_DRAM_CHANNELS &&
				    (v >> 8 & 0xff) == RTL_MFLD_DRAM_BANKS &&
				    1ull << (v >> 16 & 0xff) == RTL_MFLD_DRAM_BYTES, "geometry %08x", v);
			/* the timing registers reset to the header's defaults */
			struct rtl_mfld_dram_timing def = RTL_MFLD_DRAM_TIMING_DEFAULT;
			const unsigned want[8] = { def.t_rcd, def.t_cl, def.t_rp, def.t_ras,
						   def.t_burst, def.t_rfc, def.t_refi,
						   (unsigned)def.refresh };
			for (uint32_t i = 0; i < 8; i++) {
				rtl_mfld_mmio_read(m, off + RTL_MFLD_DRAM_T_RCD + 4 * i, &v);
				LT_CHECK(t, v == want[i], "timing register %u: %u, want %u", i, v,
					 want[i]);
			}
		}
		if (hdr >> 16 == RTL_MFLD_BLK_DRAM2) {
			struct rtl_mfld_dram_timing def = RTL_MFLD_DRAM_TIMING_DEFAULT;
			const unsigned want[11] = { def.t_rrd, def.t_faw, def.t_wr, def.t_rtp,
						    def.t_wtr, def.t_rtw, 0, def.t_rfcpb,
						    def.t_refipb, RTL_MFLD_DRAM_ROW_BYTES,
						    RTL_MFLD_DRAM_ROWS };
			for (uint32_t i = 0; i < 11; i++) {
				rtl_mfld_mmio_read(m, off + RTL_MFLD_DRAM2_T_RRD + 4 * i, &v);
				LT_CHECK(t, v == want[i], "dram2 register %u: %u, want %u", i, v,
					 want[i]);
			}
		}
		LT_CHECK(t, rtl_mfld_mmio_read(m, off + 4, &off) == 0, "next");
		n++;
	} while (off != 0 && n < 8);
	LT_CHECK(t, n == 5, "%d blocks in the chain", n);
	LT_CHECK(t, rtl_mfld_mmio_read(m, 2, &v) == -EINVAL, "unaligned offset");
	LT_CHECK(t, rtl_mfld_mmio_write(m, RTL_MFLD_MMIO_BYTES, 0) == -EINVAL, "offset past the end");
out:
	rtl_mfld_destroy(m);
	free(h);
}

/* ---- good descriptors: engines on DRAM data ------------------------------ */

enum { K_QUANT, K_COMBINE, K_GATHER, K_KINDS };

struct unit {
	int kind, len, k, n, nrows;
	size_t row_bytes, in_bytes, out_bytes;
	uint8_t in[8192], want[1024];
};

static uint16_t finite_bf16(struct loom_rng *r)
{
	int e = 127 + (int)(loom_rng_u32(r) % 41) - 20;
	return (uint16_t)((loom_rng_u32(r) & 0x8000u) | (uint32_t)e << 7 | (loom_rng_u32(r) & 0x7f));
}

/* A random unit, its input image and its expected output from kernels/. */
static void make_unit(struct loom_rng *r, struct unit *u)
{
	memset(u->in, 0, sizeof(u->in));
	memset(u->want, 0, sizeof(u->want));
	u->kind = (int)(loom_rng_u32(r) % K_KINDS);
	u->len = 1 + (int)(loom_rng_u32(r) % 128);
	if (u->kind == K_QUANT) {
		uint16_t x[128];
		float xf[128], s;
		for (int e = 0; e < u->len; e++) {
			x[e] = (uint16_t)loom_rng_u32(r); /* any bits: NaN, inf, subnormals */
			xf[e] = bf16_to_f32(x[e]);
		}
		memcpy(u->in, x, 2 * (size_t)u->len);
		u->k = (int)(loom_rng_u32(r) % 2); /* the scale mode */
		quant_act_1x128(u->want, &s, xf, 1, u->len,
				u->k == RTL_MFLD_QUANT_POW2 ? QUANT_SCALE_POW2 : QUANT_SCALE_F32);
		memcpy(u->want + 256, &s, 4);
		u->in_bytes = round32(2 * (size_t)u->len);
		u->out_bytes = 288;
	} else if (u->kind == K_COMBINE) {
		float w[16];
		uint16_t rows[16][128];
		u->k = 1 + (int)(loom_rng_u32(r) % 16);
		for (int i = 0; i < u->k; i++) {
			w[i] = (float)(loom_rng_uniform(r) * 4.0 - 2.0);
			for (int e = 0; e < u->len; e++)
				rows[i][e] = finite_bf16(r);
			memcpy(u->in + 64 + 256 * i, rows[i], 2 * (size_t)u->len);
		}
		memcpy(u->in, w, 4 * (size_t)u->k);
		for (int e = 0; e < u->len; e++) {
			float acc = 0.0f;
			for (int i = 0; i < u->k; i++)
				acc += w[i] * bf16_to_f32(rows[i][e]);
			uint16_t o = bf16_from_f32(acc);
			memcpy(u->want + 2 * e, &o, 2);
		}
		u->in_bytes = round32(64 + 256 * (size_t)(u->k - 1) + 2 * (size_t)u->len);
		u->out_bytes = round32(2 * (size_t)u->len);
	} else {
		u->nrows = 1 + (int)(loom_rng_u32(r) % 32);
		u->n = u->len > 32 ? 32 : u->len;
		u->len = u->n;
		u->row_bytes = 4 * (1 + loom_rng_u32(r) % 8);
		int32_t idx[32];
		for (int i = 0; i < u->n; i++)
			idx[i] = loom_rng_u32(r) % 5 == 0 ? -1 : (int32_t)(loom_rng_u32(r) % (uint32_t)u->nrows);
		memcpy(u->in, idx, 4 * (size_t)u->n);
		for (size_t b = 0; b < (size_t)u->nrows * u->row_bytes; b++)
			u->in[512 + b] = (uint8_t)loom_rng_u32(r);
		for (int i = 0; i < u->n; i++)
			if (idx[i] >= 0)
				memcpy(u->want + i * u->row_bytes, u->in + 512 + idx[i] * u->row_bytes,
				       u->row_bytes);
		u->in_bytes = round32(512 + (size_t)u->nrows * u->row_bytes);
		u->out_bytes = round32((size_t)u->n * u->row_bytes);
	}
}

static struct rtl_mfld_desc unit_desc(const struct unit *u, uint32_t src, uint32_t dst, uint64_t tag)
{
	struct rtl_mfld_desc d = { 0 };
	const int op[] = { RTL_MFLD_ENG_QUANT, RTL_MFLD_ENG_COMBINE, RTL_MFLD_ENG_GATHER };

	d.op = (uint8_t)op[u->kind];
	d.k = (uint8_t)u->k;
	d.len = (uint8_t)u->len;
	d.nrows = (uint8_t)u->nrows;
	d.row_words = (uint16_t)(u->row_bytes / 4);
	d.src = src;
	d.in_bytes = (uint32_t)u->in_bytes;
	d.dst = dst;
	d.out_bytes = (uint32_t)u->out_bytes;
	d.tag = tag;
	return d;
}

static void test_engines_through_descriptors(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	struct unit *u = malloc(ENTRIES * sizeof(*u));
	struct rtl_mfld *m = h && u ? open_dev(t, h) : NULL;
	struct loom_rng r;
	uint8_t got[1024];
	long bad = 0;
	uint64_t cyc[K_KINDS] = { 0 }, cnt[K_KINDS] = { 0 };

	if (!m)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	for (int round = 0; round < 6 && bad < 5; round++) {
		/* ENTRIES units: images in DRAM at 8 KiB slots, outputs from 768 KiB */
		for (uint32_t i = 0; i < ENTRIES; i++) {
			make_unit(&r, &u[i]);
			LT_CHECK(t, dram_io(m, 8192 * i, u[i].in, u[i].in_bytes, 1) == 0, "%s",
				 loom_err_msg());
		}
		for (uint32_t i = 0; i < ENTRIES; i++) {
			struct rtl_mfld_desc d = unit_desc(&u[i], 8192 * i, 0xc0000 + 1024 * i,
							   0xabc0000000ull + h->posted);
			memcpy(h->mem + RING_AT + 64 * (h->posted % ENTRIES), &d, 64);
			h->posted++;
		}
		/* one doorbell for the whole batch */
		rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, h->posted);
		for (uint32_t i = 0; i < ENTRIES; i++) {
			uint32_t idx = h->seen;
			struct rtl_mfld_comp c = next_comp(t, m, h);
			LT_CHECK(t, c.status == RTL_MFLD_ST_OK && c.index == idx &&
				    c.tag == 0xabc0000000ull + idx && c.cycles > 0,
				 "unit %u: status %u index %u tag %llx", i, c.status, c.index,
				 (unsigned long long)c.tag);
			cyc[u[i].kind] += c.cycles;
			cnt[u[i].kind]++;
		}
		for (uint32_t i = 0; i < ENTRIES && bad < 5; i++) {
			LT_CHECK(t, dram_io(m, 0xc0000 + 1024 * i, got, u[i].out_bytes, 0) == 0, "%s",
				 loom_err_msg());
			size_t cmp = u[i].kind == K_QUANT ? 260 : u[i].out_bytes;
			if (u[i].kind == K_QUANT) /* bytes len..255 of the output are not written */
				memset(got + u[i].len, 0, 256 - (size_t)u[i].len);
			if (u[i].kind == K_GATHER)
				cmp = (size_t)u[i].n * u[i].row_bytes;
			if (u[i].kind == K_COMBINE)
				cmp = 2 * (size_t)u[i].len;
			if (memcmp(got, u[i].want, cmp)) {
				bad++;
				lt_fail(t, __FILE__, __LINE__, "round %d unit %u (kind %d len %d): output "
					"differs from kernels/", round, i, u[i].kind, u[i].len);
			}
		}
	}
	for (int k = 0; k < K_KINDS; k++)
		printf("  %-8s %3llu descriptors, %.0f cycles each (fetch to completion)\n",
		       k == K_QUANT ? "QUANT" : k == K_COMBINE ? "COMBINE" : "GATHER",
		       (unsigned long long)cnt[k], cnt[k] ? (double)cyc[k] / (double)cnt[k] : 0.0);
	LT_CHECK(t, rtl_mfld_irq(m) == 1, "no interrupt after completions");
	uint32_t st;
	rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_IRQ_STATUS, &st);
	LT_CHECK(t, st == 1, "irq status %x (no error completion expected)", st);
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_IRQ_STATUS, st);
	LT_CHECK(t, rtl_mfld_irq(m) == 0, "interrupt stays after clearing");
out:
	rtl_mfld_destroy(m);
	free(u);
	free(h);
}

/* ---- bad descriptors ------------------------------------------------------ */

/* A good QUANT descriptor whose input is already in DRAM at 0. */
static struct rtl_mfld_desc good_desc(uint64_t tag)
{
	struct rtl_mfld_desc d = { .op = RTL_MFLD_ENG_QUANT, .len = 128, .src = 0, .in_bytes = 256,
				   .dst = 0x10000, .out_bytes = 288, .tag = tag };
	return d;
}

static void expect(struct lt *t, struct rtl_mfld *m, struct host *h, const char *what,
		   uint32_t status)
{
	struct rtl_mfld_comp c = next_comp(t, m, h);
	LT_CHECK(t, c.status == status, "%s: status %u, want %u", what, c.status, status);
	/* the device keeps serving: a good descriptor right after */
	struct rtl_mfld_desc g = good_desc(77);
	post(m, h, &g);
	c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OK && c.tag == 77, "after %s: status %u", what,
		 c.status);
}

static void test_bad_descriptors(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	struct rtl_mfld *m = h ? open_dev(t, h) : NULL;
	uint8_t zero[256] = { 0 };
	struct rtl_mfld_desc d;
	uint32_t v;

	if (!m)
		goto out;
	LT_CHECK(t, dram_io(m, 0, zero, sizeof(zero), 1) == 0, "%s", loom_err_msg());
	d = good_desc(1);
	d.op = 9;
	post(m, h, &d);
	expect(t, m, h, "unknown opcode", RTL_MFLD_ST_BAD_OPCODE);
	d = good_desc(2);
	d.src = (uint32_t)RTL_MFLD_DRAM_BYTES - 32;
	post(m, h, &d);
	expect(t, m, h, "source past the DRAM", RTL_MFLD_ST_BAD_ADDR);
	d = good_desc(3);
	d.dst = 16;
	post(m, h, &d);
	expect(t, m, h, "unaligned destination", RTL_MFLD_ST_BAD_ADDR);
	d = good_desc(4);
	d.in_bytes = 0;
	post(m, h, &d);
	expect(t, m, h, "length 0", RTL_MFLD_ST_BAD_LEN);
	d = good_desc(5);
	d.in_bytes = RTL_MFLD_IB_BYTES + 32;
	post(m, h, &d);
	expect(t, m, h, "input too large", RTL_MFLD_ST_BAD_LEN);
	d = good_desc(6);
	d.out_bytes = 2048;
	post(m, h, &d);
	expect(t, m, h, "output too large", RTL_MFLD_ST_BAD_LEN);
	d = good_desc(7);
	d.op = RTL_MFLD_ENG_COMBINE;
	d.k = 0;
	post(m, h, &d);
	expect(t, m, h, "COMBINE k = 0", RTL_MFLD_ST_BAD_PARAM);
	d = good_desc(11);
	d.k = 2; /* QUANT: not a scale mode */
	post(m, h, &d);
	expect(t, m, h, "QUANT scale mode 2", RTL_MFLD_ST_BAD_PARAM);
	/* an engine that rejects its unit: LOGFMT of a NaN tile */
	float nan_tile[8] = { 1, 2, NAN, 4, 5, 6, 7, 8 };
	LT_CHECK(t, dram_io(m, 4096, nan_tile, 32, 1) == 0, "%s", loom_err_msg());
	d = good_desc(8);
	d.op = RTL_MFLD_ENG_LOGFMT_ENC;
	d.nbits = 8;
	d.len = 8;
	d.src = 4096;
	d.in_bytes = 32;
	d.out_bytes = 32;
	post(m, h, &d);
	expect(t, m, h, "NaN to LOGFMT", RTL_MFLD_ST_ENGINE);
	/* ring overrun: a doorbell past the free space is refused */
	uint32_t bad_bell = h->posted + ENTRIES + 1;
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, bad_bell);
	struct rtl_mfld_comp c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OVERRUN && c.index == bad_bell, "overrun: status %u "
		 "index %u", c.status, c.index);
	rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_DOORBELL, &v);
	LT_CHECK(t, v == h->posted, "the refused doorbell moved the tail to %u", v);
	d = good_desc(9);
	post(m, h, &d);
	c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OK && c.tag == 9, "after overrun: %u", c.status);
	/* the descriptor fetch fails (ring outside host memory), then the ring works again */
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_LO, 0x7fff0000u);
	d = good_desc(10);
	h->posted++;
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, h->posted);
	c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_DMA, "fetch from nowhere: status %u", c.status);
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_LO, RING_AT);
	post(m, h, &d);
	c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OK && c.tag == 10, "after a DMA error: %u", c.status);
	/* the error bit of the interrupt status, the error counter */
	rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_IRQ_STATUS, &v);
	LT_CHECK(t, v == 3 && rtl_mfld_irq(m), "irq status %x", v);
	rtl_mfld_mmio_read(m, RTL_MFLD_REG_ENGINES + 24, &v);
	LT_CHECK(t, v == 11, "%u error completions counted, want 11", v);
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_IRQ_ENABLE, 0);
	LT_CHECK(t, rtl_mfld_irq(m) == 0, "masked interrupt still raised");
out:
	rtl_mfld_destroy(m);
	free(h);
}

/*
 * One descriptor is one engine unit: its input image fills at most the
 * input buffer (8 KiB), its output at most the output buffer (1 KiB).  A
 * unit of exactly those sizes runs (a GATHER of 240 rows of 32 bytes into
 * 32 rows, checked against a C gather); anything larger, by one burst or by
 * 2^31, gets an error completion and the device serves the next descriptor.
 */
static void test_descriptor_sizing(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	uint8_t *in = malloc(RTL_MFLD_IB_BYTES);
	struct rtl_mfld *m = h && in ? open_dev(t, h) : NULL;
	uint8_t zero[256] = { 0 }, got[RTL_MFLD_OB_BYTES], want[RTL_MFLD_OB_BYTES];
	struct loom_rng r;
	int32_t idx[32];

	if (!m)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	LT_CHECK(t, dram_io(m, 0, zero, sizeof(zero), 1) == 0, "%s", loom_err_msg());
	for (int i = 0; i < 32; i++)
		idx[i] = loom_rng_u32(&r) % 7 == 0 ? -1 : (int32_t)(loom_rng_u32(&r) % 240);
	memset(in, 0, RTL_MFLD_IB_BYTES);
	memcpy(in, idx, sizeof(idx));
	for (size_t b = 512; b < RTL_MFLD_IB_BYTES; b++)
		in[b] = (uint8_t)loom_rng_u32(&r);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < 32; i++)
		if (idx[i] >= 0)
			memcpy(want + 32 * i, in + 512 + 32 * idx[i], 32);
	LT_CHECK(t, dram_io(m, 0x20000, in, RTL_MFLD_IB_BYTES, 1) == 0, "%s", loom_err_msg());
	struct rtl_mfld_desc full = { .op = RTL_MFLD_ENG_GATHER, .len = 32, .nrows = 240,
				      .row_words = 8, .src = 0x20000,
				      .in_bytes = RTL_MFLD_IB_BYTES, .dst = 0x30000,
				      .out_bytes = RTL_MFLD_OB_BYTES, .tag = 1 };
	post(m, h, &full);
	struct rtl_mfld_comp c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OK && c.tag == 1, "full-size unit: status %u",
		 c.status);
	LT_CHECK(t, dram_io(m, 0x30000, got, sizeof(got), 0) == 0, "%s", loom_err_msg());
	LT_CHECK(t, !memcmp(got, want, sizeof(got)), "full-size GATHER output differs");

	struct rtl_mfld_desc d = full;
	d.in_bytes += 32;
	post(m, h, &d);
	expect(t, m, h, "input one burst past 8 KiB", RTL_MFLD_ST_BAD_LEN);
	d = full;
	d.out_bytes += 32;
	post(m, h, &d);
	expect(t, m, h, "output one burst past 1 KiB", RTL_MFLD_ST_BAD_LEN);
	d = full;
	d.in_bytes = 0xffffffe0u;
	post(m, h, &d);
	expect(t, m, h, "input of 4 GiB", RTL_MFLD_ST_BAD_LEN);
	d = full;
	d.out_bytes = 0x80000000u;
	post(m, h, &d);
	expect(t, m, h, "output of 2 GiB", RTL_MFLD_ST_BAD_LEN);
	d = good_desc(2);
	d.len = 129;
	post(m, h, &d);
	expect(t, m, h, "129 elements", RTL_MFLD_ST_BAD_PARAM);
	d.len = 255;
	post(m, h, &d);
	expect(t, m, h, "255 elements", RTL_MFLD_ST_BAD_PARAM);
	/* and the full-size unit still runs */
	post(m, h, &full);
	c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_OK, "full-size unit after the errors: status %u",
		 c.status);
out:
	rtl_mfld_destroy(m);
	free(in);
	free(h);
}

/*
 * The host-link latency register (queue block +0x34): each DMA access, the
 * descriptor fetch and the completion write, is answered L cycles later, so
 * a descriptor takes 2 L cycles more from doorbell to completion, L of them
 * before the completion record's cycle count is taken.  Exact, against
 * L = 0 in the same run.
 */
static void doorbell_to_completion(struct lt *t, struct rtl_mfld *m, struct host *h,
				   uint32_t lat, uint64_t *n, uint64_t *rec, uint32_t *status)
{
	struct rtl_mfld_desc d = good_desc(100 + lat);
	uint32_t v = 0, before = 0;

	LT_CHECK(t, rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_LINK_LAT, lat) == 0 &&
		    rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_LINK_LAT, &v) == 0 && v == lat,
		 "latency register %u, want %u", v, lat);
	rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_NCOMP, &before);
	post(m, h, &d);
	*n = 0;
	do {
		rtl_mfld_step(m, 1);
		rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_NCOMP, &v);
		++*n;
	} while (v == before && *n < 100000);
	struct rtl_mfld_comp c = next_comp(t, m, h);
	*rec = c.cycles;
	*status = c.status;
}

static void test_link_latency(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	struct rtl_mfld *m = h ? open_dev(t, h) : NULL;
	uint8_t zero[256] = { 0 };
	const uint32_t lats[] = { 0, 5, 300, 4095 };
	uint64_t n[4], rec[4];
	uint32_t st[4];
	struct rtl_mfld_counters c0, c1;

	struct rtl_mfld_dram_timing tm = RTL_MFLD_DRAM_TIMING_DEFAULT;

	if (!m)
		goto out;
	/* the same DRAM timeline every time: no refresh, the rows the unit
	 * touches open after a first run */
	tm.refresh = RTL_MFLD_REFRESH_OFF;
	LT_CHECK(t, rtl_mfld_dram_set_timing(m, &tm) == 0, "%s", loom_err_msg());
	LT_CHECK(t, dram_io(m, 0, zero, sizeof(zero), 1) == 0, "%s", loom_err_msg());
	doorbell_to_completion(t, m, h, 0, &n[0], &rec[0], &st[0]);
	for (int i = 0; i < 4; i++) {
		rtl_mfld_counters(m, &c0);
		doorbell_to_completion(t, m, h, lats[i], &n[i], &rec[i], &st[i]);
		rtl_mfld_counters(m, &c1);
		LT_CHECK(t, st[i] == RTL_MFLD_ST_OK, "latency %u: status %u", lats[i], st[i]);
		LT_CHECK(t, c1.dma_reads - c0.dma_reads == 1 && c1.dma_writes - c0.dma_writes == 1,
			 "latency %u: %llu reads, %llu writes", lats[i],
			 (unsigned long long)(c1.dma_reads - c0.dma_reads),
			 (unsigned long long)(c1.dma_writes - c0.dma_writes));
		printf("  host-link latency %4u: doorbell to completion %llu cycles, record %llu\n",
		       lats[i], (unsigned long long)n[i], (unsigned long long)rec[i]);
		LT_CHECK(t, n[i] - n[0] == 2ull * lats[i], "latency %u: %llu cycles more, want 2 L",
			 lats[i], (unsigned long long)(n[i] - n[0]));
		LT_CHECK(t, rec[i] - rec[0] == lats[i], "latency %u: record %llu cycles more, want L",
			 lats[i], (unsigned long long)(rec[i] - rec[0]));
	}
	/* a failed fetch comes back late too; the device goes on */
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_LINK_LAT, 50);
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_LO, 0x7fff0000u);
	h->posted++;
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, h->posted);
	struct rtl_mfld_comp c = next_comp(t, m, h);
	LT_CHECK(t, c.status == RTL_MFLD_ST_DMA && c.cycles >= 50, "fetch from nowhere: status %u "
		 "after %llu cycles", c.status, (unsigned long long)c.cycles);
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_RING_LO, RING_AT);
	doorbell_to_completion(t, m, h, 0, &n[1], &rec[1], &st[1]);
	LT_CHECK(t, st[1] == RTL_MFLD_ST_OK && n[1] == n[0], "after the error: status %u, %llu "
		 "cycles", st[1], (unsigned long long)n[1]);
out:
	rtl_mfld_destroy(m);
	free(h);
}

static void test_no_dma_callbacks(struct lt *t)
{
	struct host *h = malloc(sizeof(*h));
	struct rtl_mfld *m = h ? open_dev(t, h) : NULL;
	uint32_t v = 0;

	if (!m)
		goto out;
	LT_CHECK(t, rtl_mfld_set_dma(m, NULL) == 0, "set_dma NULL");
	h->posted = 1;
	rtl_mfld_mmio_write(m, Q + RTL_MFLD_Q_DOORBELL, 1);
	LT_CHECK(t, rtl_mfld_step(m, 100) == 0, "step");
	rtl_mfld_mmio_read(m, Q + RTL_MFLD_Q_HEAD, &v);
	/* the fetch fails and so does the completion write; the descriptor is consumed */
	LT_CHECK(t, v == 1 && !rtl_mfld_busy(m), "head %u", v);
	LT_CHECK(t, rtl_mfld_mmio_write(NULL, 0, 0) == -EINVAL, "NULL model");
	LT_CHECK(t, rtl_mfld_mmio_read(m, 0, NULL) == -EINVAL, "NULL value");
out:
	rtl_mfld_destroy(m);
	free(h);
}

static const struct lt_case cases[] = {
	LT_CASE(test_register_chain),
	LT_CASE(test_engines_through_descriptors),
	LT_CASE(test_bad_descriptors),
	LT_CASE(test_descriptor_sizing),
	LT_CASE(test_link_latency),
	LT_CASE(test_no_dma_callbacks),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

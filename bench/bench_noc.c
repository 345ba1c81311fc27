/*
 * bench_noc.c - simulation speed of the RTL models, the fast build against
 * the checked build measured in the same run (ratio = fast / checked):
 *   - the mesh: cycles per second of the 4x4 and 8x8 meshes under uniform
 *     random traffic at a fixed offered load (0.3 flits/node/cycle, 64-byte
 *     messages); median of BENCH_NOC_RUNS (3) runs of BENCH_NOC_CYCLES
 *     (20000) cycles each, after a warm-up of 2000 cycles;
 *   - the logic die under load: descriptors streaming through the ring
 *     (QUANT, COMBINE k = 4 and GATHER units in turn, 64 per batch, one
 *     doorbell per batch), cycles per second and descriptors per second of
 *     wall time; median of BENCH_NOC_RUNS runs of BENCH_NOC_BATCHES (4)
 *     batches after one warm-up batch.
 * The host-side work (messages, DMA callbacks) is included: it is what a
 * user of the API pays.  Mesh sizes that are not built are reported as such
 * (`make bench` builds 8x8 as well, mk/rtl.mk).
 */
#include "loom/err.h"
#include "loom/rng.h"
#include "loom/rtl_mesh.h"
#include "loom/rtl_mfld.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Run `cycles` with Bernoulli uniform traffic; returns cycles/s or < 0. */
static double run_once(struct rtl_mesh *m, struct loom_rng *rng, long cycles)
{
	struct rtl_mesh_info in;
	struct rtl_mesh_msg msg;
	static uint8_t payload[64];
	rtl_mesh_get_info(m, &in);
	double p_msg = 0.3 / (1.0 + 64.0 / (in.flit_bits / 8));
	double t0 = now_s();
	for (long c = 0; c < cycles; c++) {
		for (int s = 0; s < in.nodes; s++)
			if (loom_rng_uniform(rng) < p_msg &&
			    rtl_mesh_inject(m, s, (int)(loom_rng_u64(rng) % (uint64_t)in.nodes), (uint16_t)c, payload,
					    sizeof(payload)))
				return -1;
		if (rtl_mesh_step(m, 1))
			return -1;
		for (int d = 0; d < in.nodes; d++)
			while (rtl_mesh_poll(m, d, &msg) == 1)
				;
	}
	return (double)cycles / (now_s() - t0);
}

/* Median cycles/s of one size and flavour; 0 when not built, < 0 on error. */
static double measure(int k, enum rtl_mesh_flavour f, int runs, long cycles)
{
	struct rtl_mesh_params p = { .k = k, .l = k, .flavour = f };
	struct rtl_mesh *m = rtl_mesh_create(&p);
	double r[16];
	struct loom_rng rng;
	if (!m)
		return 0;
	loom_rng_init(&rng, 1);
	run_once(m, &rng, 2000);
	for (int i = 0; i < runs; i++)
		r[i] = run_once(m, &rng, cycles);
	rtl_mesh_destroy(m);
	qsort(r, (size_t)runs, sizeof(r[0]), cmp_double);
	return r[runs / 2];
}

/* ---- the logic die: a descriptor stream ---------------------------------- */

#define DEV_RING 64		/* descriptors per batch, ring entries */
#define DEV_HOST (64 * DEV_RING + 32 * DEV_RING)

struct dev_host {
	uint8_t mem[DEV_HOST]; /* ring at 0, completions after it */
	uint32_t posted;
};

static int dev_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	struct dev_host *h = ctx;

	if (addr > DEV_HOST || n > DEV_HOST - addr)
		return -1;
	memcpy(dst, h->mem + addr, n);
	return 0;
}

static int dev_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
	struct dev_host *h = ctx;

	if (addr > DEV_HOST || n > DEV_HOST - addr)
		return -1;
	memcpy(h->mem + addr, src, n);
	return 0;
}

/* Unit i of a batch: QUANT / COMBINE / GATHER over images at 8 KiB slots. */
static struct rtl_mfld_desc dev_desc(uint32_t i)
{
	struct rtl_mfld_desc d = { .len = 128, .src = 8192 * (i % 3), .dst = 0x40000 + 1024 * (i % 64),
				   .tag = i };
	switch (i % 3) {
	case 0: d.op = RTL_MFLD_ENG_QUANT; d.in_bytes = 256; d.out_bytes = 288; break;
	case 1: d.op = RTL_MFLD_ENG_COMBINE; d.k = 4; d.in_bytes = 64 + 256 * 4; d.out_bytes = 256; break;
	default:
		d.op = RTL_MFLD_ENG_GATHER; d.len = 32; d.nrows = 64; d.row_words = 8;
		d.in_bytes = 512 + 64 * 32; d.out_bytes = 1024;
		break;
	}
	return d;
}

/* Post one batch and run until its completions are written; the cycles it
 * took, or 0 on error. */
static uint64_t dev_batch(struct rtl_mfld *m, struct dev_host *h)
{
	uint32_t want, n = 0;
	uint64_t steps = 0;

	for (uint32_t i = 0; i < DEV_RING; i++) {
		struct rtl_mfld_desc d = dev_desc(h->posted + i);
		memcpy(h->mem + 64 * ((h->posted + i) % DEV_RING), &d, 64);
	}
	rtl_mfld_mmio_read(m, RTL_MFLD_REG_QUEUE + RTL_MFLD_Q_NCOMP, &want);
	want += DEV_RING;
	h->posted += DEV_RING;
	rtl_mfld_mmio_write(m, RTL_MFLD_REG_QUEUE + RTL_MFLD_Q_DOORBELL, h->posted);
	while (n != want && steps < 10000000) {
		rtl_mfld_step(m, 64);
		steps += 64;
		rtl_mfld_mmio_read(m, RTL_MFLD_REG_QUEUE + RTL_MFLD_Q_NCOMP, &n);
	}
	return n == want ? steps : 0;
}

/* Median cycles/s and descriptors/s of one flavour; < 0 on error. */
static int dev_measure(enum rtl_mfld_flavour f, int runs, int batches, double *cyc_s, double *desc_s)
{
	struct rtl_mfld_params p = { .flavour = f, .trace_path = NULL };
	struct rtl_mfld *m = rtl_mfld_create(&p);
	struct dev_host *h = calloc(1, sizeof(*h));
	struct rtl_mfld_dma dma = { dev_read, dev_write, NULL };
	struct rtl_mfld_dram_op ops[256];
	double c[16], d[16];
	int rc = -1;

	if (!m || !h)
		goto out;
	dma.ctx = h;
	rtl_mfld_set_dma(m, &dma);
	/* the three input images: arbitrary finite bits */
	for (int img = 0; img < 3; img++) {
		memset(ops, 0, sizeof(ops));
		for (int b = 0; b < 256; b++) {
			ops[b].addr = 8192 * (uint64_t)img + 32 * (uint64_t)b;
			ops[b].write = 1;
			for (int j = 0; j < 32; j++)
				ops[b].data[j] = (uint8_t)(j % 2 ? 0x3f : b + j);
		}
		if (img == 2) /* GATHER indices: rows 0..31 */
			for (int b = 0; b < 4; b++)
				for (int j = 0; j < 8; j++) {
					int32_t v = 8 * b + j;
					memcpy(ops[b].data + 4 * j, &v, 4);
				}
		if (rtl_mfld_dram_run(m, ops, 256))
			goto out;
	}
	const uint32_t q = RTL_MFLD_REG_QUEUE;
	rtl_mfld_mmio_write(m, q + RTL_MFLD_Q_RING_LO, 0);
	rtl_mfld_mmio_write(m, q + RTL_MFLD_Q_LOG2, 6); /* 64 entries */
	rtl_mfld_mmio_write(m, q + RTL_MFLD_Q_COMP_LO, 64 * DEV_RING);
	rtl_mfld_mmio_write(m, q + RTL_MFLD_Q_CTRL, 1);
	if (!dev_batch(m, h))
		goto out;
	for (int r = 0; r < runs; r++) {
		uint64_t cycles = 0;
		double t0 = now_s();
		for (int b = 0; b < batches; b++) {
			uint64_t k = dev_batch(m, h);
			if (!k)
				goto out;
			cycles += k;
		}
		double dt = now_s() - t0;
		c[r] = (double)cycles / dt;
		d[r] = (double)batches * DEV_RING / dt;
	}
	/* every completion of the last batch must be OK */
	for (uint32_t i = 0; i < DEV_RING; i++) {
		struct rtl_mfld_comp cp;
		memcpy(&cp, h->mem + 64 * DEV_RING + 32 * i, 32);
		if (cp.status != RTL_MFLD_ST_OK) {
			fprintf(stderr, "bench_noc: descriptor %llu: status %u\n",
				(unsigned long long)cp.tag, cp.status);
			goto out;
		}
	}
	qsort(c, (size_t)runs, sizeof(c[0]), cmp_double);
	qsort(d, (size_t)runs, sizeof(d[0]), cmp_double);
	*cyc_s = c[runs / 2];
	*desc_s = d[runs / 2];
	rc = 0;
out:
	rtl_mfld_destroy(m);
	free(h);
	return rc;
}

static int bench_dev(int runs)
{
	const char *e = getenv("BENCH_NOC_BATCHES");
	int batches = e ? atoi(e) : 4;
	double cc, cd, fc, fd;

	if (batches < 1) {
		fprintf(stderr, "bench_noc: BENCH_NOC_BATCHES must be > 0\n");
		return 2;
	}
	printf("\nlogic die RTL simulation speed (descriptors streaming: QUANT, COMBINE k=4, GATHER; "
	       "median of %d x %d batches of %d)\n", runs, batches, DEV_RING);
	if (dev_measure(RTL_MFLD_CHECKED, runs, batches, &cc, &cd) ||
	    dev_measure(RTL_MFLD_FAST, runs, batches, &fc, &fd)) {
		fprintf(stderr, "bench_noc: logic die: %s\n", loom_err_msg());
		return 1;
	}
	printf("%-12s %16s %16s %8s\n", "", "checked", "fast", "ratio");
	printf("%-12s %16.0f %16.0f %8.2f\n", "cycles/s", cc, fc, fc / cc);
	printf("%-12s %16.0f %16.0f %8.2f\n", "descs/s", cd, fd, fd / cd);
	return 0;
}

int main(void)
{
	const char *e = getenv("BENCH_NOC_RUNS");
	int runs = e ? atoi(e) : 3;
	e = getenv("BENCH_NOC_CYCLES");
	long cycles = e ? atol(e) : 20000;
	if (runs < 1 || runs > 16 || cycles < 1) {
		fprintf(stderr, "bench_noc: BENCH_NOC_RUNS must be 1..16 and BENCH_NOC_CYCLES > 0\n");
		return 2;
	}
	printf("mesh RTL simulation speed (uniform traffic, 0.3 flits/node/cycle, median of %d x %ld cycles)\n",
	       runs, cycles);
	printf("%-6s %16s %16s %8s\n", "mesh", "checked cyc/s", "fast cyc/s", "ratio");
	static const int sizes[] = { 4, 8 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int k = sizes[i];
		double c = measure(k, RTL_MESH_CHECKED, runs, cycles);
		double f = measure(k, RTL_MESH_FAST, runs, cycles);
		if (c < 0 || f < 0) {
			fprintf(stderr, "bench_noc: %dx%d: %s\n", k, k, loom_err_msg());
			return 1;
		}
		if (c == 0 || f == 0) {
			printf("%dx%-4d %16s %16s %8s  (not built: make RTL_MESH_CONFIGS='... %dx%d')\n", k, k,
			       c ? "" : "-", f ? "" : "-", "-", k, k);
			continue;
		}
		printf("%dx%-4d %16.0f %16.0f %8.2f\n", k, k, c, f, f / c);
	}
	return bench_dev(runs);
}

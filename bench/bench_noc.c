/*
 * bench_noc.c - simulation speed of the mesh RTL: cycles per second of the
 * 4x4 and 8x8 meshes under uniform random traffic at a fixed offered load
 * (0.3 flits/node/cycle, 64-byte messages), the fast build against the
 * checked build measured in the same run (ratio = fast / checked).  Median
 * of BENCH_NOC_RUNS (3) runs of BENCH_NOC_CYCLES (20000) cycles each, after
 * a warm-up of 2000 cycles; the host-side message handling is included
 * (it is what a user of the API pays).  Sizes that are not built are
 * reported as such.
 */
#include "loom/err.h"
#include "loom/rng.h"
#include "loom/rtl_mesh.h"

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
	return 0;
}

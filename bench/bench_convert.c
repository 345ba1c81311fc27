/*
 * bench_convert.c - throughput of loom/fp8.h's bulk conversions, each next
 * to memcpy of the same input bytes measured in the same run.
 *
 *   bench_convert [--n ELEMENTS] [--runs R]     (defaults 16M elements, 7 runs)
 *
 * For each conversion: the median time of R runs over n elements, as
 * elements/s and GB/s (bytes read + bytes written), then the median time of
 * R memcpy's of the conversion's input buffer (n * input bytes), as GB/s of
 * its traffic (read + write), and the ratio convert GB/s / memcpy GB/s.
 * Runs of the two alternate so both see the same machine state.  Inputs:
 * floats from N(0, 1) scaled by 2^[-12, 12) (the FP8 ranges, with
 * subnormals and overflow), and uniformly random codes for the decoders.
 * Not a test: it checks nothing and always prints the table.
 */
#include "loom/fp8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bufs {
	size_t n;
	float *f32_in, *f32_out;
	uint8_t *u8_in, *u8_out;
	uint16_t *u16_in, *u16_out;
	void *copy_dst;		/* memcpy target, as large as the largest input */
};

struct conv {
	const char *name;
	size_t in_bytes, out_bytes;	/* per element */
	void (*run)(struct bufs *b);
};

static void run_e4m3_sat(struct bufs *b) { fp8_e4m3_from_f32_n(b->u8_out, b->f32_in, b->n, true); }
static void run_e4m3_nosat(struct bufs *b) { fp8_e4m3_from_f32_n(b->u8_out, b->f32_in, b->n, false); }
static void run_e4m3_dec(struct bufs *b) { fp8_e4m3_to_f32_n(b->f32_out, b->u8_in, b->n); }
static void run_e5m2_sat(struct bufs *b) { fp8_e5m2_from_f32_n(b->u8_out, b->f32_in, b->n, true); }
static void run_e5m2_nosat(struct bufs *b) { fp8_e5m2_from_f32_n(b->u8_out, b->f32_in, b->n, false); }
static void run_e5m2_dec(struct bufs *b) { fp8_e5m2_to_f32_n(b->f32_out, b->u8_in, b->n); }
static void run_bf16_enc(struct bufs *b) { bf16_from_f32_n(b->u16_out, b->f32_in, b->n); }
static void run_bf16_dec(struct bufs *b) { bf16_to_f32_n(b->f32_out, b->u16_in, b->n); }
static void run_ue8m0_enc(struct bufs *b) { ue8m0_from_f32_n(b->u8_out, b->f32_in, b->n); }
static void run_ue8m0_dec(struct bufs *b) { ue8m0_to_f32_n(b->f32_out, b->u8_in, b->n); }

static const struct conv convs[] = {
	{ "f32 -> e4m3 satfinite", 4, 1, run_e4m3_sat },
	{ "f32 -> e4m3 nosat", 4, 1, run_e4m3_nosat },
	{ "e4m3 -> f32", 1, 4, run_e4m3_dec },
	{ "f32 -> e5m2 satfinite", 4, 1, run_e5m2_sat },
	{ "f32 -> e5m2 nosat", 4, 1, run_e5m2_nosat },
	{ "e5m2 -> f32", 1, 4, run_e5m2_dec },
	{ "f32 -> bf16", 4, 2, run_bf16_enc },
	{ "bf16 -> f32", 2, 4, run_bf16_dec },
	{ "f32 -> ue8m0", 4, 1, run_ue8m0_enc },
	{ "ue8m0 -> f32", 1, 4, run_ue8m0_dec },
};

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

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *input_of(struct bufs *b, const struct conv *c)
{
	return c->in_bytes == 4 ? (void *)b->f32_in
	       : c->in_bytes == 2 ? (void *)b->u16_in : (void *)b->u8_in;
}

/* Median seconds of `runs` conversions and of `runs` memcpy's of its input. */
static void time_conv(struct bufs *b, const struct conv *c, int runs, double *conv_s,
		      double *copy_s)
{
	double tc[64], tm[64];
	size_t copy_bytes = b->n * c->in_bytes;

	c->run(b); /* warm-up: page in the output, settle the clocks */
	memcpy(b->copy_dst, input_of(b, c), copy_bytes);
	for (int r = 0; r < runs; r++) {
		double t0 = now_s();

		c->run(b);
		tc[r] = now_s() - t0;
		t0 = now_s();
		memcpy(b->copy_dst, input_of(b, c), copy_bytes);
		tm[r] = now_s() - t0;
	}
	*conv_s = median(tc, runs);
	*copy_s = median(tm, runs);
}

/* Normal(0, 1) by Box-Muller from a small LCG: reproducible inputs. */
static uint64_t lcg = 0x2545f4914f6cdd1dull;

static uint32_t rand_u32(void)
{
	lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(lcg >> 32);
}

static void fill_inputs(struct bufs *b)
{
	for (size_t i = 0; i < b->n; i++) {
		double u1 = (rand_u32() + 1.0) / 4294967297.0, u2 = rand_u32() / 4294967296.0;
		double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
		uint32_t r = rand_u32();

		b->f32_in[i] = (float)ldexp(g, (int)(r % 24) - 12);
		b->u8_in[i] = (uint8_t)(r >> 8);
		b->u16_in[i] = (uint16_t)(r >> 16);
	}
	memset(b->f32_out, 0, b->n * sizeof(float));
	memset(b->u8_out, 0, b->n);
	memset(b->u16_out, 0, b->n * sizeof(uint16_t));
	memset(b->copy_dst, 0, b->n * sizeof(float));
}

static int bufs_alloc(struct bufs *b, size_t n)
{
	b->n = n;
	b->f32_in = malloc(n * sizeof(float));
	b->f32_out = malloc(n * sizeof(float));
	b->u8_in = malloc(n);
	b->u8_out = malloc(n);
	b->u16_in = malloc(n * sizeof(uint16_t));
	b->u16_out = malloc(n * sizeof(uint16_t));
	b->copy_dst = malloc(n * sizeof(float));
	return b->f32_in && b->f32_out && b->u8_in && b->u8_out && b->u16_in && b->u16_out &&
	       b->copy_dst ? 0 : -1;
}

static void bufs_free(struct bufs *b)
{
	free(b->f32_in);
	free(b->f32_out);
	free(b->u8_in);
	free(b->u8_out);
	free(b->u16_in);
	free(b->u16_out);
	free(b->copy_dst);
}

static int parse_args(int argc, char **argv, size_t *n, int *runs)
{
	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			unsigned long long v = strtoull(argv[++i], &end, 10);

			if (*end || v == 0 || v > (1ull << 30))
				return -1;
			*n = (size_t)v;
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 1 || v > 64)
				return -1;
			*runs = (int)v;
		} else {
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 16u << 20;
	int runs = 7;
	struct bufs b;

	if (parse_args(argc, argv, &n, &runs)) {
		fprintf(stderr, "usage: bench_convert [--n ELEMENTS (1..2^30)] [--runs 1..64]\n");
		return 2;
	}
	if (bufs_alloc(&b, n)) {
		fprintf(stderr, "bench_convert: cannot allocate buffers for %zu elements\n", n);
		bufs_free(&b);
		return 1;
	}
	fill_inputs(&b);
	printf("bulk conversions, n = %zu elements, median of %d runs; memcpy copies the\n"
	       "conversion's input bytes in the same run; GB/s counts bytes read + written\n\n",
	       n, runs);
	printf("%-22s %9s %9s %10s %10s %8s\n", "conversion", "Melem/s", "GB/s", "ns/elem",
	       "memcpy", "ratio");
	printf("%-22s %9s %9s %10s %10s %8s\n", "", "", "", "", "GB/s", "");
	for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
		const struct conv *c = &convs[i];
		double tc, tm, conv_gbs, copy_gbs;

		time_conv(&b, c, runs, &tc, &tm);
		conv_gbs = (double)n * (double)(c->in_bytes + c->out_bytes) / tc / 1e9;
		copy_gbs = 2.0 * (double)n * (double)c->in_bytes / tm / 1e9;
		printf("%-22s %9.0f %9.2f %10.3f %10.2f %8.2f\n", c->name, n / tc / 1e6,
		       conv_gbs, tc / (double)n * 1e9, copy_gbs, conv_gbs / copy_gbs);
	}
	bufs_free(&b);
	return 0;
}

/*
 * bench_gemm.c - speed of the CPU GEMMs and quantizers, and the accumulation
 * error of the Hopper accumulator model, each against a baseline measured in
 * the same run:
 *
 *  1. FP32 GEMM (NT) GFLOP/s: OpenBLAS sgemm vs the blocked kernel of
 *     kernels/gemm_blocked.c, both on one thread (kernel against kernel),
 *     plus sgemm on all threads; prints the verdict for the training path.
 *  2. FP8 GEMM GFLOP/s: GEMM_ACCUM_FAST on training-like shapes and models
 *     (a) and (b) on a small one, against sgemm on the same shape.
 *  3. Quantization GB/s against memcpy of the same FP32 bytes.
 *  4. Accumulation error: N_C in {32, 64, 128, 256, 512, K} x K in {512,
 *     4096, 16384}, F = 13, max and mean relative error, model (a) beside it
 *     (same operands and metric as `loom accum`: uniform [0, 1) entries,
 *     FP32 scales, err = |D - D_ref| / sum |a b| with D_ref in FP64).
 *
 * Times are medians of BENCH_RUNS runs; each run repeats the call until it
 * lasts >= 50 ms.  Not a test: nothing here decides pass or fail.
 */
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/gemm.h"
#include "loom/quant.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RUNS 7
#define BENCH_MIN_RUN_S 0.05

/* ---- timing ------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Repetitions of fn(ctx) that last >= BENCH_MIN_RUN_S (after one warm-up call). */
static long calibrate(void (*fn)(void *), void *ctx)
{
	double t0 = now_s(), one;

	fn(ctx);
	one = now_s() - t0;
	return one >= BENCH_MIN_RUN_S ? 1 : one > 0 ? (long)(BENCH_MIN_RUN_S / one) + 1 : 1000;
}

static double run_once(void (*fn)(void *), void *ctx, long reps)
{
	double t0 = now_s();

	for (long i = 0; i < reps; i++)
		fn(ctx);
	return (now_s() - t0) / reps;
}

static double median(double *t)
{
	qsort(t, BENCH_RUNS, sizeof(double), cmp_double);
	return t[BENCH_RUNS / 2];
}

/*
 * Median seconds per call of a candidate and of its baseline.  Their runs
 * alternate, so a change in machine load (this is a shared 2-core box) hits
 * both alike and their ratio stays meaningful.
 */
static void time_pair(void (*fa)(void *), void *ca, double *ta, void (*fb)(void *), void *cb,
		      double *tb)
{
	double a[BENCH_RUNS], b[BENCH_RUNS];
	long ra = calibrate(fa, ca), rb = calibrate(fb, cb);

	for (int r = 0; r < BENCH_RUNS; r++) {
		a[r] = run_once(fa, ca, ra);
		b[r] = run_once(fb, cb, rb);
	}
	*ta = median(a);
	*tb = median(b);
}

static double time_median(void (*fn)(void *), void *ctx)
{
	double t[BENCH_RUNS];
	long reps = calibrate(fn, ctx);

	for (int r = 0; r < BENCH_RUNS; r++)
		t[r] = run_once(fn, ctx, reps);
	return median(t);
}

static void *xmalloc(size_t len)
{
	void *p = malloc(len);

	if (!p) {
		fprintf(stderr, "bench_gemm: out of memory (%zu bytes)\n", len);
		exit(1);
	}
	memset(p, 0, len); /* fault the pages in before timing */
	return p;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: uniform [0, 1); good enough for benchmark data. */
static double rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static void fill_signed(float *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		v[i] = (float)(2.0 * rnd() - 1.0);
}

static void check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "bench_gemm: %s: %s\n", what, loom_err_msg());
		exit(1);
	}
}

/* ---- 1. FP32 GEMM: sgemm vs the blocked kernel -------------------------- */

struct shape {
	int m, n, k;
	const char *what;
};

static const struct shape f32_shapes[] = {
	{ 256, 512, 512, "training-like" },
	{ 1024, 1024, 1024, "training-like" },
	{ 64, 2112, 7168, "DeepGEMM-like (m=64 n=2112 k=7168)" },
};
#define N_SHAPES (sizeof(f32_shapes) / sizeof(f32_shapes[0]))

struct f32_ctx {
	int m, n, k;
	float *a, *b, *c; /* A (M, K), B (N, K), C (M, N) */
};

static void run_sgemm(void *p)
{
	struct f32_ctx *c = p;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->m, c->n, c->k, 1.0f, c->a, c->k,
		    c->b, c->k, 0.0f, c->c, c->n);
}

static void run_blocked(void *p)
{
	struct f32_ctx *c = p;

	check(gemm_f32_blocked(0, 1, c->m, c->n, c->k, 1.0f, c->a, c->b, 0.0f, c->c),
	      "gemm_f32_blocked");
}

static double gflops(const struct shape *s, double t) { return 2.0 * s->m * s->n * s->k / t * 1e-9; }

static void f32_ctx_init(struct f32_ctx *c, const struct shape *s)
{
	*c = (struct f32_ctx){ s->m, s->n, s->k, xmalloc(sizeof(float) * s->m * s->k),
			       xmalloc(sizeof(float) * s->n * s->k),
			       xmalloc(sizeof(float) * s->m * s->n) };
	fill_signed(c->a, (size_t)s->m * s->k);
	fill_signed(c->b, (size_t)s->n * s->k);
}

static void f32_ctx_free(struct f32_ctx *c) { free(c->a), free(c->b), free(c->c); }

static void bench_f32(int nthreads)
{
	double lo = INFINITY, hi = 0;

	printf("\n1. FP32 GEMM, NT (C = A B^T), GFLOP/s, median of %d\n", BENCH_RUNS);
	printf("%-18s %12s %12s %9s %14s   %s\n", "M x N x K", "sgemm 1T", "blocked 1T",
	       "blk/sgemm", "sgemm threads", "shape");
	for (size_t i = 0; i < N_SHAPES; i++) {
		const struct shape *s = &f32_shapes[i];
		struct f32_ctx c;
		double tb, tblk, tbt;
		char dims[32];

		f32_ctx_init(&c, s);
		openblas_set_num_threads(1);
		time_pair(run_blocked, &c, &tblk, run_sgemm, &c, &tb);
		openblas_set_num_threads(nthreads);
		tbt = time_median(run_sgemm, &c);
		snprintf(dims, sizeof(dims), "%dx%dx%d", s->m, s->n, s->k);
		printf("%-18s %12.1f %12.1f %9.2f %11.1f %dT   %s\n", dims, gflops(s, tb),
		       gflops(s, tblk), tb / tblk, gflops(s, tbt), nthreads, s->what);
		lo = fmin(lo, tb / tblk);
		hi = fmax(hi, tb / tblk);
		f32_ctx_free(&c);
	}
	if (hi < 1.0)
		printf("verdict: OpenBLAS sgemm is faster on every shape (blocked kernel at "
		       "%.2f-%.2f of it, one thread each): gemm_f32 uses OpenBLAS\n", lo, hi);
	else if (lo > 1.0)
		printf("verdict: the blocked kernel is faster on every shape (%.2f-%.2f x "
		       "sgemm): gemm_f32 should use it\n", lo, hi);
	else
		printf("verdict: mixed (blocked/sgemm %.2f-%.2f); gemm_f32 uses OpenBLAS, "
		       "faster on the large shapes and multi-threaded\n", lo, hi);
}

/* ---- 2. FP8 GEMM -------------------------------------------------------- */

struct fp8_ctx {
	struct gemm_fp8_args args;
	uint8_t *qa, *qb;
	float *sa, *sb, *d;
};

static void run_fp8(void *p)
{
	struct fp8_ctx *c = p;

	check(gemm_fp8_nt(&c->args), "gemm_fp8_nt");
}

/* Quantize f's A and B (FP32 scales) into an FP8 GEMM of the same shape. */
static void fp8_ctx_init(struct fp8_ctx *c, const struct f32_ctx *f, struct gemm_accum acc)
{
	int kb = quant_blocks(f->k), nb = quant_blocks(f->n);

	c->qa = xmalloc((size_t)f->m * f->k);
	c->qb = xmalloc((size_t)f->n * f->k);
	c->sa = xmalloc(sizeof(float) * f->m * kb);
	c->sb = xmalloc(sizeof(float) * nb * kb);
	c->d = xmalloc(sizeof(float) * f->m * f->n);
	check(quant_act_1x128(c->qa, c->sa, f->a, f->m, f->k, QUANT_SCALE_F32), "quant_act");
	check(quant_weight_128x128(c->qb, c->sb, f->b, f->n, f->k, QUANT_SCALE_F32),
	      "quant_weight");
	c->args = (struct gemm_fp8_args){ .m = f->m, .n = f->n, .k = f->k, .a = c->qa,
					  .a_scales = c->sa, .b = c->qb, .b_scales = c->sb,
					  .d_f32 = c->d, .accum = acc };
}

static void fp8_ctx_free(struct fp8_ctx *c) { free(c->qa), free(c->qb), free(c->sa), free(c->sb), free(c->d); }

static void fp8_row(const struct shape *s, const char *model, struct gemm_accum acc)
{
	struct f32_ctx f;
	struct fp8_ctx c;
	double tb, t;
	char dims[32];

	f32_ctx_init(&f, s);
	fp8_ctx_init(&c, &f, acc);
	time_pair(run_fp8, &c, &t, run_sgemm, &f, &tb);
	snprintf(dims, sizeof(dims), "%dx%dx%d", s->m, s->n, s->k);
	printf("%-18s %-26s %10.2f %10.1f %10.3f\n", dims, model, gflops(s, t), gflops(s, tb),
	       tb / t);
	fp8_ctx_free(&c);
	f32_ctx_free(&f);
}

static void bench_fp8(int nthreads)
{
	static const struct shape small = { 128, 128, 1024, "small" };

	openblas_set_num_threads(nthreads);
	printf("\n2. FP8 GEMM (E4M3, FP32 scales, FP32 out) vs sgemm (%d threads) on the "
	       "same shape, GFLOP/s, median of %d\n", nthreads, BENCH_RUNS);
	printf("%-18s %-26s %10s %10s %10s\n", "M x N x K", "model", "FP8", "sgemm",
	       "FP8/sgemm");
	for (size_t i = 0; i < N_SHAPES; i++)
		fp8_row(&f32_shapes[i], "FAST (dequant + gemm_f32)",
			(struct gemm_accum){ GEMM_ACCUM_FAST, 0, 0 });
	fp8_row(&small, "FAST (dequant + gemm_f32)", (struct gemm_accum){ GEMM_ACCUM_FAST, 0, 0 });
	fp8_row(&small, "(a) FP32 per 128-block", GEMM_ACCUM_DEFAULT_FP32);
	fp8_row(&small, "(b) Hopper F=13 N_C=128", GEMM_ACCUM_DEFAULT_HOPPER);
	fp8_row(&small, "(b) Hopper F=13 never", (struct gemm_accum){ GEMM_ACCUM_HOPPER, 13, 0 });
}

/* ---- 3. quantization vs memcpy ------------------------------------------ */

struct q_ctx {
	int rows, k;
	float *x, *y;	/* (rows, K) source, and dequantized / memcpy target */
	uint8_t *q;	/* (rows, K) */
	float *s;	/* scales */
	enum quant_scale_mode mode;
};

static void run_memcpy(void *p)
{
	struct q_ctx *c = p;

	memcpy(c->y, c->x, sizeof(float) * c->rows * c->k);
}

static void run_qact(void *p)
{
	struct q_ctx *c = p;

	check(quant_act_1x128(c->q, c->s, c->x, c->rows, c->k, c->mode), "quant_act_1x128");
}

static void run_qweight(void *p)
{
	struct q_ctx *c = p;

	check(quant_weight_128x128(c->q, c->s, c->x, c->rows, c->k, c->mode),
	      "quant_weight_128x128");
}

static void run_dqact(void *p)
{
	struct q_ctx *c = p;

	check(dequant_act_1x128(c->y, c->q, c->s, c->rows, c->k), "dequant_act_1x128");
}

static void run_dqweight(void *p)
{
	struct q_ctx *c = p;

	check(dequant_weight_128x128(c->y, c->q, c->s, c->rows, c->k), "dequant_weight_128x128");
}

static void q_row(struct q_ctx *c, const char *name, void (*fn)(void *))
{
	double bytes = 4.0 * c->rows * c->k, t, t_memcpy;

	time_pair(fn, c, &t, run_memcpy, c, &t_memcpy);
	printf("%-32s %10.2f %10.2f %10.3f\n", name, bytes / t * 1e-9, bytes / t_memcpy * 1e-9,
	       t_memcpy / t);
}

static void bench_quant(void)
{
	struct q_ctx c = { .rows = 2048, .k = 4096 };
	size_t len = (size_t)c.rows * c.k;
	c.x = xmalloc(len * sizeof(float));
	c.y = xmalloc(len * sizeof(float));
	c.q = xmalloc(len);
	c.s = xmalloc(sizeof(float) * c.rows * quant_blocks(c.k));
	fill_signed(c.x, len);
	printf("\n3. Quantization, (%d, %d) FP32 = %.0f MiB, GB/s of FP32 data, median of %d\n",
	       c.rows, c.k, len * 4.0 / (1 << 20), BENCH_RUNS);
	printf("%-32s %10s %10s %10s\n", "operation", "GB/s", "memcpy", "op/memcpy");
	for (int mode = 0; mode < 2; mode++) {
		char name[64];

		c.mode = mode ? QUANT_SCALE_POW2 : QUANT_SCALE_F32;
		snprintf(name, sizeof(name), "quant_act_1x128 (%s)", mode ? "pow2" : "f32");
		q_row(&c, name, run_qact);
		q_row(&c, "dequant_act_1x128", run_dqact);
		snprintf(name, sizeof(name), "quant_weight_128x128 (%s)", mode ? "pow2" : "f32");
		q_row(&c, name, run_qweight);
		q_row(&c, "dequant_weight_128x128", run_dqweight);
	}
	free(c.x), free(c.y), free(c.q), free(c.s);
}

/* ---- 4. accumulation error table ---------------------------------------- */

#define ERR_M 32
#define ERR_N 32

struct err_stats {
	double max, sum;
	long count;
};

/* One random uniform [0, 1) pair, quantized, with FP64 reference and sum |a b|. */
struct err_trial {
	int k;
	uint8_t qa[ERR_M * 16384], qb[ERR_N * 16384];
	float sa[ERR_M * 128], sb[128];
	double ref[ERR_M * ERR_N], den[ERR_M * ERR_N];
};

static void err_trial_make(struct err_trial *t, int k, float *x, float *w, double *ad, double *bd)
{
	int kb = quant_blocks(k);

	t->k = k;
	for (long i = 0; i < (long)ERR_M * k; i++)
		x[i] = (float)rnd();
	for (long i = 0; i < (long)ERR_N * k; i++)
		w[i] = (float)rnd();
	check(quant_act_1x128(t->qa, t->sa, x, ERR_M, k, QUANT_SCALE_F32), "quant_act");
	check(quant_weight_128x128(t->qb, t->sb, w, ERR_N, k, QUANT_SCALE_F32), "quant_weight");
	for (long i = 0; i < (long)ERR_M * k; i++) /* FP64 dequantization (exact) */
		ad[i] = (double)fp8_e4m3_to_f32(t->qa[i]) * t->sa[(i / k) * kb + (i % k) / 128];
	for (long i = 0; i < (long)ERR_N * k; i++) /* ERR_N <= 128: one row of blocks */
		bd[i] = (double)fp8_e4m3_to_f32(t->qb[i]) * t->sb[(i % k) / 128];
	for (int i = 0; i < ERR_M; i++)
		for (int j = 0; j < ERR_N; j++) {
			double s = 0, sa = 0;

			for (int p = 0; p < k; p++) {
				double v = ad[(long)i * k + p] * bd[(long)j * k + p];

				s += v;
				sa += fabs(v);
			}
			t->ref[i * ERR_N + j] = s;
			t->den[i * ERR_N + j] = sa;
		}
}

static void err_measure(const struct err_trial *t, struct gemm_accum acc, struct err_stats *st)
{
	float d[ERR_M * ERR_N];
	struct gemm_fp8_args args = { .m = ERR_M, .n = ERR_N, .k = t->k, .a = t->qa,
				      .a_scales = t->sa, .b = t->qb, .b_scales = t->sb,
				      .d_f32 = d, .accum = acc };

	check(gemm_fp8_nt(&args), "gemm_fp8_nt");
	for (int i = 0; i < ERR_M * ERR_N; i++) {
		double e = fabs(d[i] - t->ref[i]) / t->den[i];

		st->max = fmax(st->max, e);
		st->sum += e;
		st->count++;
	}
}

static void bench_accum_error(void)
{
	static const int ks[] = { 512, 4096, 16384 }, trials[] = { 64, 16, 4 };
	static const int ncs[] = { 32, 64, 128, 256, 512, 0 };
	struct err_trial *t = xmalloc(sizeof(*t));
	float *x = xmalloc(sizeof(float) * ERR_M * 16384), *w = xmalloc(sizeof(float) * ERR_N * 16384);
	double *ad = xmalloc(sizeof(double) * ERR_M * 16384);
	double *bd = xmalloc(sizeof(double) * ERR_N * 16384);

	printf("\n4. Accumulation error, model (b) F = 13 vs (a) FP32; D (%d, %d), uniform [0, 1) "
	       "entries, FP32 scales;\n   err = |D - D_ref| / sum_k |a b| (= relative error for "
	       "these nonnegative entries), D_ref FP64\n", ERR_M, ERR_N);
	printf("%6s %6s %7s %12s %12s %12s %12s %10s\n", "K", "N_C", "outputs", "(b) max",
	       "(b) mean", "(a) max", "(a) mean", "(b)/(a) max");
	for (size_t ki = 0; ki < 3; ki++) {
		struct err_stats hop[6] = { { 0 } }, f32 = { 0 };

		for (int tr = 0; tr < trials[ki]; tr++) {
			err_trial_make(t, ks[ki], x, w, ad, bd);
			err_measure(t, GEMM_ACCUM_DEFAULT_FP32, &f32);
			for (int j = 0; j < 6; j++)
				err_measure(t, (struct gemm_accum){ GEMM_ACCUM_HOPPER, 13,
								    ncs[j] >= ks[ki] ? 0 : ncs[j] },
					    &hop[j]);
		}
		for (int j = 0; j < 6; j++) {
			char nc[16];

			snprintf(nc, sizeof(nc), ncs[j] ? "%d" : "K", ncs[j]);
			printf("%6d %6s %7ld %12.3e %12.3e %12.3e %12.3e %10.3g\n", ks[ki], nc,
			       hop[j].count, hop[j].max, hop[j].sum / hop[j].count, f32.max,
			       f32.sum / f32.count, hop[j].max / f32.max);
		}
	}
	free(t), free(x), free(w), free(ad), free(bd);
}

int main(void)
{
	int nthreads = openblas_get_num_threads();
	double t0 = now_s();

	printf("bench_gemm: OpenBLAS %s, %d threads available\n", openblas_get_config(), nthreads);
	bench_f32(nthreads);
	bench_fp8(nthreads);
	bench_quant();
	bench_accum_error();
	printf("\nbench_gemm: %.0f s\n", now_s() - t0);
	return 0;
}

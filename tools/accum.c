/*
 * accum.c - `loom accum`: how much error the Hopper FP8 tensor-core
 * accumulator (model (b) of gemm.h) adds to a GEMM, against an FP64
 * reference and against FP32 accumulation (model (a)).
 *
 * This reproduces the experiment of [T] (DeepSeek-V3 report, REFERENCE §1):
 * two random matrices, FP8-quantized like DeepSeek-V3 trains (E4M3, 1x128
 * activation tiles for A, 128x128 weight blocks for B, FP32 amax/448 scales
 * by default), multiplied with K = 4096.  [T] reports a maximum relative
 * error of "nearly 2%" without promotion.  With the defaults (F = 13) the
 * model gives 8.4e-2 without promotion (F = 15 gives 2.2e-2: the model's
 * truncation loss grows as K 2^-F) and 6.6e-4 with N_C = 128, against
 * 3.4e-7 for FP32 accumulation (model (a)); N_C = 128 with F = 23 matches
 * model (a).  tests/tools/test_accum.py pins these down.
 *
 * Operands: A (M, K), B (N, K), entries uniform in [0, 1) (default) or
 * N(0, 1), drawn from one xoshiro256** stream seeded with --seed (splitmix64
 * seeding), A then B for each trial in turn; trial t continues the stream of
 * trial t-1, so a run is a pure function of its options.
 *
 * Error metric, per output element (m, n):
 *     err = |D - D_ref| / sum_k |A[m,k] B[n,k]|
 * where D_ref = sum_k A[m,k] B[n,k] is computed in FP64 from the same
 * dequantized FP8 operands (so quantization error is excluded: only the
 * accumulation is measured).  For the default nonnegative entries the
 * denominator equals |D_ref|, so err is exactly the relative error
 * |D - D_ref| / |D_ref| that [T] reports.  For signed entries (--dist
 * normal) |D_ref| comes arbitrarily close to 0 and |D - D_ref| / |D_ref| has
 * no finite mean; dividing by sum |a b| keeps the metric well-defined (it is
 * the quantity floating-point summation bounds are stated in) and equal to
 * the relative error wherever there is no cancellation.  We print the
 * maximum and the mean of err over all M * N * trials outputs.
 *
 * Not here: the GEMM models themselves (kernels/gemm_fp8.c) and the
 * quantizers (kernels/quant.c); this file only drives and measures them.
 */
#include "cli.h"

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/gemm.h"
#include "loom/quant.h"
#include "loom/rng.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ACCUM_MAX_MN 1024
#define ACCUM_MAX_K (1 << 16)
#define ACCUM_MAX_TRIALS 100000

enum accum_dist { ACCUM_UNIFORM, ACCUM_NORMAL };

struct accum_opts {
	long m, n, k;
	long nc;   /* N_C; 0 = never promote */
	long bits; /* F */
	long trials;
	unsigned long seed;
	enum accum_dist dist;
	enum quant_scale_mode scales;
	bool json;
};

/* Error statistics of one accumulator model over all outputs so far. */
struct accum_stats {
	double max;
	double sum;
	double max_rms; /* max of |D - D_ref| / rms(D_ref), rms over the trial */
	double sum_rms;
	long count;
};

/* One trial's buffers: FP8 operands, their scales, FP64 dequantized copies. */
struct accum_bufs {
	float *x, *w;		/* (M, K), (N, K) source values */
	uint8_t *qa, *qb;	/* (M, K), (N, K) e4m3 */
	float *sa, *sb;		/* (M, KB), (NB, KB) */
	double *ad, *bd;	/* (M, K), (N, K) dequantized in FP64 */
	double *ref, *den;	/* (M, N) D_ref and sum_k |a b| */
	float *d;		/* (M, N) GEMM output */
};

static const char accum_metric[] = "|D - D_ref| / sum_k |A[m,k] B[n,k]|";

static void fill(float *v, long len, enum accum_dist dist, struct loom_rng *r)
{
	for (long i = 0; i < len; i++)
		v[i] = (float)(dist == ACCUM_NORMAL ? loom_rng_normal(r) : loom_rng_uniform(r));
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loom accum [--k K] [--nc NC|never] [--bits F] [--trials T] [--m M] [--n N]\n"
		"                  [--seed S] [--dist uniform|normal] [--scales f32|pow2] [--json]\n"
		"\n"
		"Multiply random FP8-quantized matrices D (M, N) = A (M, K) B (N, K)^T with the\n"
		"Hopper tensor-core accumulator model (b) and with FP32 accumulation (a), and\n"
		"print how far each is from an FP64 reference computed from the same FP8\n"
		"operands (so only accumulation error is measured).\n"
		"\n"
		"options (default in brackets):\n"
		"  --k K        inner dimension, a positive multiple of 128, <= %d [4096]\n"
		"  --nc NC      model (b): promote the partial sum to FP32 every NC products;\n"
		"               a multiple of 32 <= K; 0, K or 'never' = never promote [128]\n"
		"  --bits F     model (b): fraction bits kept after aligning each group of 32\n"
		"               products to the largest exponent, 1..23 (13 = Hopper) [13]\n"
		"  --trials T   independent random matrix pairs, 1..%d [10]\n"
		"  --m M        rows of A and D, 1..%d [64]\n"
		"  --n N        rows of B, columns of D, 1..%d [64]\n"
		"  --seed S     PRNG seed (xoshiro256**); same options, same numbers [1]\n"
		"  --dist D     entries of A and B: 'uniform' in [0, 1) or 'normal' N(0, 1)\n"
		"               [uniform]\n"
		"  --scales S   quantization scales: 'f32' (amax / 448, as DeepSeek-V3 trains)\n"
		"               or 'pow2' (rounded up to a power of two, UE8M0) [f32]\n"
		"  --json       print one JSON object instead of the table\n"
		"  -h, --help   this text\n"
		"\n"
		"Quantization: E4M3, A in 1x128 tiles (activations), B in 128x128 blocks\n"
		"(weights).  Trials draw A then B from one PRNG stream.\n"
		"\n"
		"Metric, per output: err = %s,\n"
		"D_ref in FP64.  For nonnegative entries (uniform) this is exactly the relative\n"
		"error |D - D_ref| / |D_ref|; for signed entries it stays finite where D_ref\n"
		"cancels to ~0.  'max' and 'mean' are over all M * N * T outputs.\n"
		"Second metric, err/rms = |D - D_ref| / rms(D_ref), rms over one trial's outputs:\n"
		"the error against the typical output size, meaningful for signed entries too.\n"
		"\n"
		"[T] (DeepSeek-V3) reports a maximum relative error of nearly 2%% at K = 4096\n"
		"without promotion: compare `loom accum --nc never` with `loom accum --nc 128`.\n"
		"Expect about 8e-2 and 7e-4 for model (b), 3e-7 for model (a).  With nonnegative\n"
		"entries truncation loses ~0.72 K 2^-(F+2) of each output without promotion, so\n"
		"[T]'s 2%% at K = 4096 matches --bits 15 in this model.  For N(0, 1) entries\n"
		"(`--dist normal --nc never`) max err/rms is about 2e-2 at F = 13, [T]'s figure.\n"
		"Exit status: 0 ok, 1 failed run, 2 bad arguments.\n",
		ACCUM_MAX_K, ACCUM_MAX_TRIALS, ACCUM_MAX_MN, ACCUM_MAX_MN, accum_metric);
}

static bool parse_nc(const char *s, long *out)
{
	if (!strcmp(s, "never")) {
		*out = 0;
		return true;
	}
	return cli_long("accum", "--nc", s, 0, ACCUM_MAX_K, out);
}

static bool parse_enum(const char *opt, const char *s, const char *a, const char *b, int *out)
{
	if (!strcmp(s, a) || !strcmp(s, b)) {
		*out = !strcmp(s, b);
		return true;
	}
	fprintf(stderr, "loom accum: %s: '%s' is not '%s' or '%s'\n", opt, s, a, b);
	return false;
}

/* Set one option from its value; false (message printed) on a bad value. */
static bool set_opt(struct accum_opts *o, const char *opt, const char *v)
{
	long l;
	int e;

	if (!strcmp(opt, "--k"))
		return cli_long("accum", opt, v, 1, ACCUM_MAX_K, &o->k);
	if (!strcmp(opt, "--nc"))
		return parse_nc(v, &o->nc);
	if (!strcmp(opt, "--bits"))
		return cli_long("accum", opt, v, 1, 23, &o->bits);
	if (!strcmp(opt, "--trials"))
		return cli_long("accum", opt, v, 1, ACCUM_MAX_TRIALS, &o->trials);
	if (!strcmp(opt, "--m"))
		return cli_long("accum", opt, v, 1, ACCUM_MAX_MN, &o->m);
	if (!strcmp(opt, "--n"))
		return cli_long("accum", opt, v, 1, ACCUM_MAX_MN, &o->n);
	if (!strcmp(opt, "--seed")) {
		if (!cli_long("accum", opt, v, 0, LONG_MAX, &l))
			return false;
		o->seed = (unsigned long)l;
		return true;
	}
	if (!strcmp(opt, "--dist")) {
		if (!parse_enum(opt, v, "uniform", "normal", &e))
			return false;
		o->dist = e ? ACCUM_NORMAL : ACCUM_UNIFORM;
		return true;
	}
	if (!strcmp(opt, "--scales")) {
		if (!parse_enum(opt, v, "f32", "pow2", &e))
			return false;
		o->scales = e ? QUANT_SCALE_POW2 : QUANT_SCALE_F32;
		return true;
	}
	fprintf(stderr, "loom accum: unknown option '%s' (try --help)\n", opt);
	return false;
}

/* Cross-option checks, and N_C = K folded into 0 (never). */
static bool check_opts(struct accum_opts *o)
{
	if (o->k % QUANT_TILE) {
		fprintf(stderr, "loom accum: --k: %ld is not a multiple of %d (the FP8 GEMM "
				"scales K in 128-wide blocks)\n", o->k, QUANT_TILE);
		return false;
	}
	if (o->nc % 32) {
		fprintf(stderr, "loom accum: --nc: %ld is not a multiple of 32 (one WGMMA "
				"group of products)\n", o->nc);
		return false;
	}
	if (o->nc > o->k) {
		fprintf(stderr, "loom accum: --nc: %ld is larger than --k %ld (use --nc never)\n",
			o->nc, o->k);
		return false;
	}
	if (o->nc == o->k)
		o->nc = 0;
	return true;
}

/* 0 ok, 1 after printing help, 2 after printing a usage error. */
static int parse_args(int argc, char **argv, struct accum_opts *o)
{
	*o = (struct accum_opts){ .m = 64, .n = 64, .k = 4096, .nc = 128, .bits = 13,
				  .trials = 10, .seed = 1, .dist = ACCUM_UNIFORM,
				  .scales = QUANT_SCALE_F32 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		char opt[32];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (eq && (size_t)(eq - a) < sizeof(opt)) { /* --opt=value */
			snprintf(opt, sizeof(opt), "%.*s", (int)(eq - a), a);
			if (!set_opt(o, opt, eq + 1))
				return 2;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "loom accum: %s '%s' (try --help)\n",
				strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
			return 2;
		}
		if (!set_opt(o, a, argv[++i]))
			return 2;
	}
	return check_opts(o) ? 0 : 2;
}

/* ---- one trial ---------------------------------------------------------- */

static void bufs_free(struct accum_bufs *b)
{
	free(b->x), free(b->w), free(b->qa), free(b->qb), free(b->sa), free(b->sb);
	free(b->ad), free(b->bd), free(b->ref), free(b->den), free(b->d);
}

static int bufs_alloc(struct accum_bufs *b, const struct accum_opts *o)
{
	size_t m = o->m, n = o->n, k = o->k, kb = quant_blocks(o->k);
	size_t nb = quant_blocks(o->n);

	*b = (struct accum_bufs){
		.x = malloc(m * k * sizeof(float)), .w = malloc(n * k * sizeof(float)),
		.qa = malloc(m * k), .qb = malloc(n * k),
		.sa = malloc(m * kb * sizeof(float)), .sb = malloc(nb * kb * sizeof(float)),
		.ad = malloc(m * k * sizeof(double)), .bd = malloc(n * k * sizeof(double)),
		.ref = malloc(m * n * sizeof(double)), .den = malloc(m * n * sizeof(double)),
		.d = malloc(m * n * sizeof(float)),
	};
	if (b->x && b->w && b->qa && b->qb && b->sa && b->sb && b->ad && b->bd && b->ref &&
	    b->den && b->d)
		return 0;
	bufs_free(b);
	return -ENOMEM;
}

/* Dequantize in FP64 (q * s exactly), independent of quant.c's FP32 dequant:
 * element (r, c) of a (rows, K) operand has scale scales[(r / rdiv) * KB + c / 128]. */
static void dequant_f64(double *dst, const uint8_t *q, const float *scales, long rows, long k,
			long rdiv)
{
	long kb = quant_blocks(k);

	for (long r = 0; r < rows; r++)
		for (long c = 0; c < k; c++)
			dst[r * k + c] = (double)fp8_e4m3_to_f32(q[r * k + c]) *
					 scales[(r / rdiv) * kb + c / QUANT_TILE];
}

/* D_ref (M, N) = A B^T and den = |A| |B|^T, both in FP64. */
static void reference(struct accum_bufs *b, const struct accum_opts *o)
{
	for (long i = 0; i < o->m; i++)
		for (long j = 0; j < o->n; j++) {
			const double *a = b->ad + i * o->k, *bb = b->bd + j * o->k;
			double s = 0, sabs = 0;

			for (long k = 0; k < o->k; k++) {
				double p = a[k] * bb[k];

				s += p;
				sabs += fabs(p);
			}
			b->ref[i * o->n + j] = s;
			b->den[i * o->n + j] = sabs;
		}
}

static int quantize(struct accum_bufs *b, const struct accum_opts *o, struct loom_rng *r)
{
	int err;

	fill(b->x, o->m * o->k, o->dist, r);
	fill(b->w, o->n * o->k, o->dist, r);
	err = quant_act_1x128(b->qa, b->sa, b->x, o->m, o->k, o->scales);
	if (!err)
		err = quant_weight_128x128(b->qb, b->sb, b->w, o->n, o->k, o->scales);
	if (err)
		return err;
	dequant_f64(b->ad, b->qa, b->sa, o->m, o->k, 1);
	dequant_f64(b->bd, b->qb, b->sb, o->n, o->k, QUANT_TILE);
	reference(b, o);
	return 0;
}

/* Run one accumulator model on the trial's operands and fold its errors in. */
static int measure(struct accum_bufs *b, const struct accum_opts *o, struct gemm_accum acc,
		   struct accum_stats *st)
{
	struct gemm_fp8_args args = {
		.m = o->m, .n = o->n, .k = o->k, .a = b->qa, .a_scales = b->sa,
		.b = b->qb, .b_scales = b->sb, .d_f32 = b->d, .accum = acc,
	};
	int err = gemm_fp8_nt(&args);
	double rms = 0;

	if (err)
		return err;
	for (long i = 0; i < o->m * o->n; i++)
		rms += b->ref[i] * b->ref[i];
	rms = sqrt(rms / (o->m * o->n));
	for (long i = 0; i < o->m * o->n; i++) {
		double diff = fabs((double)b->d[i] - b->ref[i]);
		/* den = 0 only when every product is 0: then any nonzero D is infinitely off. */
		double e = b->den[i] > 0 ? diff / b->den[i] : (diff > 0 ? INFINITY : 0.0);

		if (e > st->max || isnan(e))
			st->max = isnan(e) ? INFINITY : e;
		st->sum += e;
		st->count++;
		e = rms > 0 ? diff / rms : (diff > 0 ? INFINITY : 0.0);
		if (e > st->max_rms || isnan(e))
			st->max_rms = isnan(e) ? INFINITY : e;
		st->sum_rms += e;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

static const char *dist_name(enum accum_dist d) { return d == ACCUM_NORMAL ? "normal" : "uniform"; }
static const char *scales_name(enum quant_scale_mode s) { return s == QUANT_SCALE_POW2 ? "pow2" : "f32"; }

static void print_table(const struct accum_opts *o, const struct accum_stats *hop,
			const struct accum_stats *f32)
{
	char nc[32];

	if (o->nc)
		snprintf(nc, sizeof(nc), "%ld", o->nc);
	else
		snprintf(nc, sizeof(nc), "never");
	printf("loom accum: D (%ld, %ld) = A (%ld, %ld) B (%ld, %ld)^T, %ld trials, seed %lu\n",
	       o->m, o->n, o->m, o->k, o->n, o->k, o->trials, o->seed);
	printf("operands: %s entries, E4M3 with %s scales (A 1x128 tiles, B 128x128 blocks)\n",
	       o->dist == ACCUM_NORMAL ? "N(0, 1)" : "uniform [0, 1)", scales_name(o->scales));
	printf("metric: rel err = %s,\n"
	       "        err/rms = |D - D_ref| / rms(D_ref) over a trial;\n"
	       "        per output, D_ref in FP64; max and mean over %ld outputs\n\n", accum_metric,
	       hop->count);
	printf("%-40s %12s %12s %12s %12s\n", "accumulator model", "max rel err", "mean rel err",
	       "max err/rms", "mean err/rms");
	printf("(b) Hopper: F = %-2ld bits, N_C = %-13s %12.4e %12.4e %12.4e %12.4e\n", o->bits,
	       nc, hop->max, hop->sum / hop->count, hop->max_rms, hop->sum_rms / hop->count);
	printf("%-40s %12.4e %12.4e %12.4e %12.4e\n", "(a) FP32, scales per 128-wide K block",
	       f32->max, f32->sum / f32->count, f32->max_rms, f32->sum_rms / f32->count);

	if (f32->max > 0)
		printf("\n(b) / (a), max: %.3g\n", hop->max / f32->max);
}

static void json_stats(const char *name, const struct accum_stats *s)
{
	printf("\"%s\": {\"max_rel\": ", name);
	cli_json_num(stdout, s->max);
	printf(", \"mean_rel\": ");
	cli_json_num(stdout, s->sum / s->count);
	printf(", \"max_rms\": ");
	cli_json_num(stdout, s->max_rms);
	printf(", \"mean_rms\": ");
	cli_json_num(stdout, s->sum_rms / s->count);
	printf("}");
}

static void print_json(const struct accum_opts *o, const struct accum_stats *hop,
		       const struct accum_stats *f32)
{
	printf("{\"command\": \"accum\", \"m\": %ld, \"n\": %ld, \"k\": %ld, \"nc\": %ld, "
	       "\"promote\": ", o->m, o->n, o->k, o->nc);
	cli_json_str(stdout, o->nc ? "every nc" : "never");
	printf(", \"bits\": %ld, \"trials\": %ld, \"seed\": %lu, \"dist\": ", o->bits, o->trials,
	       o->seed);
	cli_json_str(stdout, dist_name(o->dist));
	printf(", \"scales\": ");
	cli_json_str(stdout, scales_name(o->scales));
	printf(", \"metric\": ");
	cli_json_str(stdout, accum_metric);
	printf(", \"outputs\": %ld, ", hop->count);
	json_stats("hopper", hop);
	printf(", ");
	json_stats("fp32", f32);
	printf("}\n");
}

/* ---- main --------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A run over ~2 s shows "trial t/T" on stderr when that is a terminal. */
static void progress(long t, long trials, double start)
{
	if (isatty(STDERR_FILENO) && now_s() - start > 2.0)
		fprintf(stderr, "\rloom accum: trial %ld/%ld%s", t, trials, t == trials ? "\n" : "");
}

static int run_trials(const struct accum_opts *o, struct accum_stats *hop,
		      struct accum_stats *f32)
{
	struct gemm_accum hacc = { GEMM_ACCUM_HOPPER, (int)o->bits, (int)o->nc };
	struct accum_bufs b;
	struct loom_rng rng;
	double start = now_s();
	int err;

	if (bufs_alloc(&b, o)) {
		fprintf(stderr, "loom accum: out of memory for M=%ld N=%ld K=%ld\n", o->m, o->n,
			o->k);
		return 1;
	}
	loom_rng_init(&rng, o->seed);
	for (long t = 1; t <= o->trials; t++) {
		err = quantize(&b, o, &rng);
		if (!err)
			err = measure(&b, o, hacc, hop);
		if (!err)
			err = measure(&b, o, GEMM_ACCUM_DEFAULT_FP32, f32);
		if (err) {
			fprintf(stderr, "loom accum: %s\n", loom_err_msg());
			bufs_free(&b);
			return 1;
		}
		progress(t, o->trials, start);
	}
	bufs_free(&b);
	return 0;
}

static int accum_main(int argc, char **argv)
{
	struct accum_opts o;
	struct accum_stats hop = { 0 }, f32 = { 0 };
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	if (run_trials(&o, &hop, &f32))
		return 1;
	if (o.json)
		print_json(&o, &hop, &f32);
	else
		print_table(&o, &hop, &f32);
	return 0;
}

const struct loom_cmd loom_cmd_accum = {
	.name = "accum",
	.summary = "FP8 GEMM accumulation error: Hopper accumulator model vs FP64",
	.main = accum_main,
};

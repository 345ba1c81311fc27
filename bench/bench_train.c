/*
 * bench_train.c - throughput of the live workload (`loom train`, default
 * model) at 1, 2 and 4 ranks over shm, FP32 against FP8, with a per-step
 * breakdown (linear layers, dispatch/combine, all-reduce, waiting, the
 * rest) and the share of step time in the linear layers, next to the
 * linear layer's own throughput alone (nn_linear_forward on the model's
 * shapes, measured in the same run: what the layers reach with no training
 * overhead around them; the training figure also includes the backward).
 *
 * Each configuration runs `loom train` (the binary beside this one) for
 * BENCH_TRAIN_STEPS steps (default 24) and reports the median step time;
 * each configuration is run BENCH_TRAIN_REPS times (default 3), and the
 * medians of those are printed. Ranks share this machine's cores: 4 ranks on
 * 2 cores measure the runtime's overhead, not a speed-up.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loom/gemm.h"
#include "loom/nn.h"
#include "loom/quant.h"
#include "loom/rng.h"

struct row {
	double tps, step_ms, gemm_ms, ep_ms, red_ms, wait_ms, gflops, comm_model_us;
};

static double json_num(const char *s, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static int run_train(const char *loom, int ranks, const char *prec, int steps, struct row *r)
{
	char cmd[PATH_MAX + 256], line[8192] = "";
	snprintf(cmd, sizeof(cmd),
		 "%s train --ranks %d --precision %s --steps %d --eval-every 0 --eval-windows 16 "
		 "--quiet --json", loom, ranks, prec, steps);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	char buf[8192];
	while (fgets(buf, sizeof(buf), p))
		if (buf[0] == '{')
			snprintf(line, sizeof(line), "%s", buf);
	if (pclose(p) != 0 || !line[0]) {
		fprintf(stderr, "bench_train: '%s' failed\n", cmd);
		return -1;
	}
	r->tps = json_num(line, "tokens_per_s");
	r->step_ms = json_num(line, "step_ms");
	r->gemm_ms = json_num(line, "gemm_ms_per_step");
	r->ep_ms = json_num(line, "ep_ms_per_step");
	r->red_ms = json_num(line, "reduce_ms_per_step");
	r->wait_ms = json_num(line, "wait_ms_per_step");
	r->gflops = json_num(line, "gemm_gflops");
	r->comm_model_us = json_num(line, "comm_us_per_step");
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GFLOP/s of one (m, n, k) product: the workload's linear layer alone
 * (nn_linear_forward, quantization included for FP8) or, with ref = 1, the
 * FP8 reference GEMM of kernels/ (gemm_fp8_nt model (a), operands
 * quantized beforehand). Median of 5. */
static double gemm_rate(enum nn_precision p, int ref, int m, int n, int k)
{
	float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k);
	float *c = malloc(sizeof(float) * (size_t)m * n);
	uint8_t *qa = malloc((size_t)m * k), *qb = malloc((size_t)n * k);
	float *sa = malloc(sizeof(float) * (size_t)m * ((k + 127) / 128));
	float *sb = malloc(sizeof(float) * (size_t)((n + 127) / 128) * ((k + 127) / 128));
	struct loom_rng r;
	loom_rng_init(&r, 7);
	for (long i = 0; i < (long)m * k; i++)
		a[i] = (float)loom_rng_normal(&r);
	for (long i = 0; i < (long)n * k; i++)
		b[i] = (float)loom_rng_normal(&r);
	quant_act_1x128(qa, sa, a, m, k, QUANT_SCALE_F32);
	quant_weight_128x128(qb, sb, b, n, k, QUANT_SCALE_F32);
	struct gemm_fp8_args g = { m, n, k, qa, sa, qb, sb, c, NULL, GEMM_ACCUM_DEFAULT_FP32 };
	double t[5];
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now_s();
		if (ref)
			gemm_fp8_nt(&g);
		else
			nn_linear_forward(p, m, k, n, a, b, c);
		t[rep] = now_s() - t0;
	}
	free(a), free(b), free(c), free(qa), free(qb), free(sa), free(sb);
	return 2.0 * m * n * k / median(t, 5) * 1e-9;
}

int main(void)
{
	char self[PATH_MAX], loom[PATH_MAX + 8];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(loom, sizeof(loom), "%s/loom", self);
	int steps = getenv("BENCH_TRAIN_STEPS") ? atoi(getenv("BENCH_TRAIN_STEPS")) : 24;
	int reps = getenv("BENCH_TRAIN_REPS") ? atoi(getenv("BENCH_TRAIN_REPS")) : 3;
	if (steps < 2 || reps < 1 || reps > 15)
		return fprintf(stderr, "bench_train: bad BENCH_TRAIN_STEPS/REPS\n"), 1;

	/* Baseline: the linear layer alone on the default model's shapes
	 * (1024 tokens of one rank's step x d 128 -> 256 and 128 -> 128). */
	double f8 = 0.5 * (gemm_rate(NN_FP8, 0, 1024, 256, 128) + gemm_rate(NN_FP8, 0, 1024, 128, 128));
	double f32 = 0.5 * (gemm_rate(NN_FP32, 0, 1024, 256, 128) +
			    gemm_rate(NN_FP32, 0, 1024, 128, 128));
	double ref = 0.5 * (gemm_rate(NN_FP8, 1, 1024, 256, 128) + gemm_rate(NN_FP8, 1, 1024, 128, 128));
	printf("linear layer alone (nn_linear_forward), 1024 x {256,128} x 128, median of 5:\n"
	       "  fp8 %.2f GFLOP/s (quantization included), fp32 %.2f GFLOP/s; kernels/ reference "
	       "gemm_fp8_nt model (a): %.2f GFLOP/s\n\n", f8, f32, ref);
	printf("live workload, default model, %d steps x %d runs (medians), shm:\n", steps, reps);
	printf("%-6s %5s %10s %9s %9s %8s %8s %8s %8s %9s %10s %11s\n", "prec", "ranks",
	       "tokens/s", "step_ms", "gemm_ms", "ep_ms", "ared_ms", "wait_ms", "rest_ms",
	       "gemm_share", "gemm_GF/s", "vs_alone");
	const char *precs[] = { "fp32", "fp8" };
	int rks[] = { 1, 2, 4 };
	for (int pi = 0; pi < 2; pi++)
		for (int ri = 0; ri < 3; ri++) {
			double v[8][15];
			for (int k = 0; k < reps; k++) {
				struct row r;
				if (run_train(loom, rks[ri], precs[pi], steps, &r))
					return 1;
				double a[8] = { r.tps, r.step_ms, r.gemm_ms, r.ep_ms, r.red_ms,
						r.wait_ms, r.gflops, r.comm_model_us };
				for (int j = 0; j < 8; j++)
					v[j][k] = a[j];
			}
			double m[8];
			for (int j = 0; j < 8; j++)
				m[j] = median(v[j], reps);
			double rest = m[1] - m[2] - m[3] - m[4];
			double alone = pi ? f8 : f32;
			printf("%-6s %5d %10.0f %9.1f %9.1f %8.1f %8.1f %8.1f %8.1f %8.0f%% %10.2f %10.2fx\n",
			       precs[pi], rks[ri], m[0], m[1], m[2], m[3], m[4], m[5], rest,
			       100 * m[2] / m[1], m[6], m[6] / alone);
			fflush(stdout);
		}
	printf("\nstep_ms: wall per step on rank 0; gemm/ep/ared/wait: rank 0's time in linear "
	       "layers, dispatch+combine, all-reduce, and (within the last two) blocked on "
	       "peers;\nvs_alone: the layers' GFLOP/s inside training (forward + backward) over the forward layer alone.\n");
	return 0;
}

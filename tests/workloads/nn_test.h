/*
 * nn_test.h - helpers shared by the layer suites (test_nn.c,
 * test_nn_linear.c): random fills, NaN poisoning of outputs (so a gradient
 * that is not written, or accumulated into instead of overwritten, shows),
 * central finite differences of a float64 loss, and the gradient comparison.
 */
#ifndef LOOM_TESTS_NN_TEST_H
#define LOOM_TESTS_NN_TEST_H

#include "lt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Uniform in [-a, a). */
static inline void nt_fill(float *x, size_t n, struct loom_rng *r, double a)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(a * (2.0 * loom_rng_uniform(r) - 1.0));
}

static inline void nt_poison(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = NAN;
}

static inline double *nt_to_f64(const float *x, size_t n)
{
	double *d = malloc(n * sizeof(double));

	for (size_t i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

static inline double nt_rms(const double *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return sqrt(s / (double)n);
}

/*
 * Central differences of loss(ctx) with respect to each element of p (n),
 * which loss reads through ctx: g[i] = (L(p + h e_i) - L(p - h e_i)) / 2h,
 * h = 1e-6 max(1, |p_i|), the divisor being the difference actually
 * represented.  Error: truncation h^2 |L'''| / 6 ~ 1e-12 and rounding
 * ~ 2^-53 |L| / h ~ 1e-10 |L|, both far below the FP32 effects checked.
 */
static inline void nt_fd_grad(double (*loss)(void *ctx), void *ctx, double *p, size_t n,
			      double *g)
{
	for (size_t i = 0; i < n; i++) {
		double save = p[i], h = 1e-6 * fmax(1.0, fabs(save));
		double xp = save + h, xm = save - h, lp, lm;

		p[i] = xp;
		lp = loss(ctx);
		p[i] = xm;
		lm = loss(ctx);
		p[i] = save;
		g[i] = (lp - lm) / (xp - xm);
	}
}

/*
 * An FP32 analytic gradient against a float64 finite-difference one:
 * |got - want| <= rel * rms(want) element by element (rel stated by the
 * caller, with its reason).
 */
static inline bool nt_check_grad(struct lt *t, const char *what, const float *got,
				 const double *want, size_t n, double rel)
{
	double *gd = nt_to_f64(got, n);
	bool ok = lt_close_f64(t, what, gd, want, n, rel * nt_rms(want, n), 0.0);

	free(gd);
	return ok;
}

/* Bit equality of two float arrays (row-independence checks), first index reported. */
static inline bool nt_same_bits(struct lt *t, const char *what, const float *a, const float *b,
				size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof(float))) {
			lt_fail(t, __FILE__, __LINE__, "%s: index %zu differs: %.9g vs %.9g", what,
				i, (double)a[i], (double)b[i]);
			return false;
		}
	return true;
}

#endif

/*
 * lt.h - Loom's test runner, shared by every C test program.
 *
 * A test program is a table of cases and a one-line main:
 *
 *     static void test_round_trip(struct lt *t) { LT_CHECK(t, x == y, "x=%d", x); }
 *     static const struct lt_case cases[] = { LT_CASE(test_round_trip), ... };
 *     int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }
 *
 * Output: one line per case ("ok", "FAIL" with its first messages, or
 * "skip" with the reason), then exactly "N passed, N failed" (plus
 * ", N skipped" when any were skipped); exit status 1 on any failure.
 * Arguments select cases whose name contains any of them
 * (./test_fp8 round_trip).  LT_SEED=n in the environment changes the seed
 * each case gets from lt_seed() (default fixed, so runs repeat).
 */
#ifndef LOOM_TESTS_LT_H
#define LOOM_TESTS_LT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lt {
	const char *name;
	int failures;	  /* LT_CHECK failures in this case */
	bool skipped;
	char skip_reason[256];
};

struct lt_case {
	const char *name;
	void (*fn)(struct lt *t);
};

#define LT_CASE(fn) { #fn, fn }
#define LT_N(a) (sizeof(a) / sizeof((a)[0]))

int lt_main(int argc, char **argv, const struct lt_case *cases, size_t n);

/* Record a failure with a message (printed for the first 10 per case). */
void lt_fail(struct lt *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* LT_CHECK's failure path: "check 'cond' failed: message". */
void lt_check_fail(struct lt *t, const char *file, int line, const char *cond, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
/* Mark the case skipped; the reason is printed.  Call, then return. */
void lt_skip(struct lt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LT_CHECK(t, cond, ...)                                               \
	do {                                                                 \
		if (!(cond))                                                 \
			lt_check_fail((t), __FILE__, __LINE__, #cond, ":" __VA_ARGS__); \
	} while (0)

/*
 * Compare got[i] with want[i] (i < n): |got - want| <= atol + rtol*|want|.
 * NaN matches NaN only.  Prints the first few mismatches with their index,
 * stops after 10; returns true when all match.  (llm.c's validate_result.)
 */
bool lt_close_f32(struct lt *t, const char *what, const float *got, const float *want,
		  size_t n, double atol, double rtol);
bool lt_close_f64(struct lt *t, const char *what, const double *got, const double *want,
		  size_t n, double atol, double rtol);

/* Deterministic per-case seed (from the case name and LT_SEED). */
uint64_t lt_seed(const struct lt *t);

/* Random numbers: struct loom_rng from loom/rng.h, seeded with lt_seed(). */

#ifdef __cplusplus
}
#endif
#endif

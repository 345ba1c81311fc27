/* lt.c - Loom's test runner; see lt.h. */
#include "lt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_MAX_MSGS 10

void lt_fail(struct lt *t, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (t->failures++ >= LT_MAX_MSGS) {
		if (t->failures == LT_MAX_MSGS + 1)
			printf("    ... (further messages suppressed)\n");
		return;
	}
	printf("    %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void lt_check_fail(struct lt *t, const char *file, int line, const char *cond, const char *fmt,
		   ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lt_fail(t, file, line, "check '%s' failed%s", cond, msg);
}

void lt_skip(struct lt *t, const char *fmt, ...)
{
	va_list ap;

	t->skipped = true;
	va_start(ap, fmt);
	vsnprintf(t->skip_reason, sizeof(t->skip_reason), fmt, ap);
	va_end(ap);
}

static bool close_one(double g, double w, double atol, double rtol)
{
	if (isnan(w) || isnan(g))
		return isnan(w) && isnan(g);
	if (isinf(w) || isinf(g))
		return g == w;
	return fabs(g - w) <= atol + rtol * fabs(w);
}

static void close_report(struct lt *t, const char *what, size_t i, double g, double w,
			 int *bad)
{
	if (++*bad <= LT_MAX_MSGS)
		lt_fail(t, __FILE__, __LINE__, "%s[%zu]: got %.9g, want %.9g (diff %.3g)",
			what, i, g, w, g - w);
}

bool lt_close_f32(struct lt *t, const char *what, const float *got, const float *want,
		  size_t n, double atol, double rtol)
{
	int bad = 0;

	for (size_t i = 0; i < n && bad < LT_MAX_MSGS; i++)
		if (!close_one(got[i], want[i], atol, rtol))
			close_report(t, what, i, got[i], want[i], &bad);
	return bad == 0;
}

bool lt_close_f64(struct lt *t, const char *what, const double *got, const double *want,
		  size_t n, double atol, double rtol)
{
	int bad = 0;

	for (size_t i = 0; i < n && bad < LT_MAX_MSGS; i++)
		if (!close_one(got[i], want[i], atol, rtol))
			close_report(t, what, i, got[i], want[i], &bad);
	return bad == 0;
}

uint64_t lt_seed(const struct lt *t)
{
	const char *env = getenv("LT_SEED");
	uint64_t h = 1469598103934665603ull; /* FNV-1a of the case name */

	for (const char *p = t->name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h ^ (env ? strtoull(env, NULL, 0) : 0);
}

static bool selected(int argc, char **argv, const char *name)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int lt_main(int argc, char **argv, const struct lt_case *cases, size_t n)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		struct lt t = { .name = cases[i].name };

		if (!selected(argc, argv, cases[i].name))
			continue;
		cases[i].fn(&t);
		if (t.failures) {
			printf("FAIL %s (%d check%s failed)\n", t.name, t.failures,
			       t.failures == 1 ? "" : "s");
			failed++;
		} else if (t.skipped) {
			printf("skip %s: %s\n", t.name, t.skip_reason);
			skipped++;
		} else {
			printf("ok   %s\n", t.name);
			passed++;
		}
	}
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

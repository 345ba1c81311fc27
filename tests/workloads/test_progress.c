/*
 * test_progress.c - progress display and metrics (workloads/progress.c):
 *  - the plain (non-terminal) line format, parsed field by field, into a
 *    pipe with terminal detection on (a pipe is not a terminal);
 *  - rate limiting: with a huge interval only the first and the final
 *    update print; with 50 ms, never more lines than the wall time allows;
 *    an interval of 0 prints every update;
 *  - terminal mode (forced): carriage return + clear-line redraws, a bar
 *    filled in proportion, log lines above the bar, a newline at the end;
 *  - time formatting and the ETA arithmetic (white box: the .c is
 *    included, so its static helpers are reachable);
 *  - the JSON-lines writer: one object per line, flushed per line (visible
 *    before close), appends, "-" writes nothing, bad objects refused.
 */
#include "lt.h"

#include "../../workloads/progress.c"

#include <math.h>
#include <unistd.h>

/* Everything written to f so far, as a string (caller frees). */
static char *slurp(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	s = calloc(1, (size_t)n + 1);
	rewind(f);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = 0;
	fseek(f, 0, SEEK_END); /* writes may follow the read */
	return s;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_plain_format_into_pipe(struct lt *t)
{
	int fds[2];
	char buf[4096] = { 0 }, eta[16], extra[32];
	FILE *w;
	struct progress *p;
	long step, total;
	double pc, loss, rate;
	int n;

	LT_CHECK(t, pipe(fds) == 0, "pipe");
	w = fdopen(fds[1], "w");
	p = progress_create(w, "train", 100, -1, 0); /* detect: a pipe is not a tty */
	progress_update(p, 10, 2.5, 1234.4, NULL);
	progress_update(p, 20, 2.25, 2000, "val 2.13");
	progress_finish(p);
	fclose(w);
	n = (int)read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	LT_CHECK(t, n > 0 && !strchr(buf, '\r') && !strchr(buf, '\033'), "plain text only: '%s'",
		 buf);
	LT_CHECK(t, count_lines(buf) == 2, "2 lines, got '%s'", buf);

	n = sscanf(buf, "train: step %ld/%ld (%lf%%) loss %lf | %lf tok/s | elapsed 0:00 | eta %15s",
		   &step, &total, &pc, &loss, &rate, eta);
	LT_CHECK(t, n == 6 && step == 10 && total == 100 && pc == 10.0 && loss == 2.5 &&
			    rate == 1234 && strcmp(eta, "?") == 0,
		 "first line '%.*s' (%d fields)", (int)strcspn(buf, "\n"), buf, n);
	const char *l2 = strchr(buf, '\n') + 1;
	n = sscanf(l2, "train: step %ld/%ld (%lf%%) loss %lf | %lf tok/s | elapsed 0:00 | eta %15s | %31[^\n]",
		   &step, &total, &pc, &loss, &rate, eta, extra);
	LT_CHECK(t, n == 7 && step == 20 && pc == 20.0 && loss == 2.25 && rate == 2000 &&
			    strcmp(eta, "0:00") == 0 && strcmp(extra, "val 2.13") == 0,
		 "second line '%s' (%d fields)", l2, n);
}

static void test_plain_rate_limit_extremes(struct lt *t)
{
	FILE *f = tmpfile();
	struct progress *p = progress_create(f, "x", 100, 0, 1e6);
	char *s;

	for (long i = 1; i <= 50; i++)
		progress_update(p, i, 1.0, 1.0, NULL);
	progress_finish(p);
	s = slurp(f);
	/* Only the first update and, at finish, the last one. */
	LT_CHECK(t, count_lines(s) == 2 && strstr(s, "step 1/100") && strstr(s, "step 50/100"),
		 "'%s'", s);
	free(s);
	fclose(f);

	/* Reaching the total prints at once; finish adds nothing. */
	f = tmpfile();
	p = progress_create(f, "x", 50, 0, 1e6);
	for (long i = 1; i <= 50; i++)
		progress_update(p, i, 1.0, 1.0, NULL);
	progress_finish(p);
	s = slurp(f);
	LT_CHECK(t, count_lines(s) == 2 && strstr(s, "step 50/50 (100.0%)"), "'%s'", s);
	free(s);
	fclose(f);

	/* Interval 0: every update. */
	f = tmpfile();
	p = progress_create(f, "x", 100, 0, 0);
	for (long i = 1; i <= 7; i++)
		progress_update(p, i, 1.0, 1.0, NULL);
	progress_finish(p);
	s = slurp(f);
	LT_CHECK(t, count_lines(s) == 7, "'%s'", s);
	free(s);
	fclose(f);
}

static void test_plain_rate_limit_timed(struct lt *t)
{
	FILE *f = tmpfile();
	struct progress *p = progress_create(f, "x", 1000, 0, 0.05);
	double t0 = now_s(), wall;
	char *s;
	int lines;

	for (long i = 1; i <= 60; i++) {
		progress_update(p, i, 1.0, 1.0, NULL);
		usleep(3000);
	}
	progress_finish(p);
	wall = now_s() - t0;
	s = slurp(f);
	lines = count_lines(s);
	/* At most one line per 50 ms after the first, plus the final one. */
	LT_CHECK(t, lines >= 2 && lines <= (int)(wall / 0.05) + 2, "%d lines in %.3f s", lines,
		 wall);
	LT_CHECK(t, strstr(s, "step 1/1000") && strstr(s, "step 60/1000"), "first and last");
	free(s);
	fclose(f);
}

static void test_tty_bar_and_log(struct lt *t)
{
	FILE *f = tmpfile();
	struct progress *p = progress_create(f, "ep", 10, 1, 0);
	char *s;

	progress_update(p, 5, 3.0, 100, NULL);
	s = slurp(f);
	LT_CHECK(t, strncmp(s, "\r\033[Kep [############------------] 5/10  50.0% loss 3.0000",
			    55) == 0 && !strchr(s, '\n'),
		 "bar '%s'", s + 1);
	free(s);
	progress_log(p, "checkpoint %d written", 5);
	s = slurp(f);
	LT_CHECK(t, strstr(s, "\r\033[Kcheckpoint 5 written\n\r\033[Kep ["), "log above the bar: '%s'",
		 s);
	free(s);
	progress_update(p, 10, 2.0, 100, "done");
	progress_finish(p);
	s = slurp(f);
	size_t n = strlen(s);
	LT_CHECK(t, n > 0 && s[n - 1] == '\n' && strstr(s, "[########################] 10/10") &&
			    strstr(s, " done\n"),
		 "final bar: '%s'", s);
	free(s);
	fclose(f);

	/* Non-tty log lines are plain, with a newline added once. */
	f = tmpfile();
	p = progress_create(f, "x", 10, 0, 0);
	progress_log(p, "a");
	progress_log(p, "b\n");
	progress_finish(p);
	s = slurp(f);
	LT_CHECK(t, strcmp(s, "a\nb\n") == 0, "'%s'", s);
	free(s);
	fclose(f);
	/* An overlong label and extra text are cut, never overflow. */
	char longtext[600];
	memset(longtext, 'z', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = 0;
	f = tmpfile();
	p = progress_create(f, longtext, 10, 1, 0);
	progress_update(p, 1, 1.0, 1.0, longtext);
	progress_finish(p);
	s = slurp(f);
	/* Two draws (update, finish) of at most 63 + 95 + ~90 bytes each. */
	LT_CHECK(t, strlen(s) < 2 * 250, "%zu bytes", strlen(s));
	free(s);
	fclose(f);
	/* NULL objects are ignored. */
	progress_update(NULL, 1, 0, 0, NULL);
	progress_log(NULL, "x");
	progress_finish(NULL);
}

static void test_time_and_eta(struct lt *t)
{
	char b[32];
	struct progress p = { .total = 110, .first_step = 10, .step = 20, .t_first = 100 };

	static const struct {
		double s;
		const char *want;
	} cases[] = { { 0, "0:00" },	    { 59.6, "1:00" }, { 3599.4, "59:59" }, { 3661, "1:01:01" },
		      { -1, "?" },	    { NAN, "?" },     { INFINITY, "?" } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt_time(b, sizeof(b), cases[i].s);
		LT_CHECK(t, !strcmp(b, cases[i].want), "%g s: '%s', want '%s'", cases[i].s, b,
			 cases[i].want);
	}
	/* 10 steps in 5 s since the first update; 90 to go: 45 s. */
	LT_CHECK(t, fabs(eta_s(&p, 105) - 45) < 1e-9, "eta %g", eta_s(&p, 105));
	p.step = 10;
	LT_CHECK(t, eta_s(&p, 105) < 0, "no rate yet");
	p.step = 20, p.total = 0;
	LT_CHECK(t, eta_s(&p, 105) < 0, "unknown total");
}

static void test_metrics_lines(struct lt *t)
{
	char path[64], line[128];
	struct metrics *m;
	FILE *f;
	char *s;

	snprintf(path, sizeof(path), "/tmp/loom_metrics_%d.jsonl", (int)getpid());
	unlink(path);
	m = metrics_open(path);
	LT_CHECK(t, m, "%s", loom_err_msg());
	if (!m)
		return;
	LT_CHECK(t, metrics_write(m, "{\"step\":1,\"loss\":2.5}") == 0, "write 1");
	/* Flushed per line: another reader sees it before close. */
	f = fopen(path, "r");
	LT_CHECK(t, f && fgets(line, sizeof(line), f) && !strcmp(line, "{\"step\":1,\"loss\":2.5}\n"),
		 "visible before close");
	if (f)
		fclose(f);
	LT_CHECK(t, metrics_write(m, "{\"step\":2}") == 0, "write 2");
	LT_CHECK(t, metrics_write(m, "{\"a\":1}\n{\"b\":2}") == -EINVAL, "two lines");
	LT_CHECK(t, metrics_write(m, "step=3") == -EINVAL, "not an object");
	LT_CHECK(t, metrics_write(m, "") == -EINVAL, "empty");
	LT_CHECK(t, metrics_write(m, NULL) == -EINVAL, "NULL object");
	LT_CHECK(t, metrics_write(NULL, "{}") == -EINVAL, "NULL writer");
	LT_CHECK(t, metrics_close(m) == 0, "close");
	m = metrics_open(path); /* appends */
	LT_CHECK(t, m && metrics_write(m, "{\"step\":3}") == 0 && metrics_close(m) == 0, "append");
	f = fopen(path, "r");
	s = f ? slurp(f) : NULL;
	LT_CHECK(t, s && !strcmp(s, "{\"step\":1,\"loss\":2.5}\n{\"step\":2}\n{\"step\":3}\n"), "'%s'",
		 s ? s : "(unreadable)");
	free(s);
	if (f)
		fclose(f);
	unlink(path);
}

static void test_metrics_none_and_errors(struct lt *t)
{
	struct metrics *m = metrics_open("-");

	LT_CHECK(t, m && metrics_write(m, "{\"x\":1}") == 0 && metrics_close(m) == 0, "no-op");
	LT_CHECK(t, access("-", F_OK) != 0, "'-' must not create a file");
	LT_CHECK(t, !metrics_open("/nonexistent_loom_dir/m.jsonl") &&
			    strstr(loom_err_msg(), "/nonexistent_loom_dir/m.jsonl"),
		 "'%s'", loom_err_msg());
	LT_CHECK(t, !metrics_open(NULL) && !metrics_open(""), "NULL/empty path");
	LT_CHECK(t, metrics_close(NULL) == 0, "close NULL");
}

static const struct lt_case cases[] = {
	LT_CASE(test_plain_format_into_pipe),
	LT_CASE(test_plain_rate_limit_extremes),
	LT_CASE(test_plain_rate_limit_timed),
	LT_CASE(test_tty_bar_and_log),
	LT_CASE(test_time_and_eta),
	LT_CASE(test_metrics_lines),
	LT_CASE(test_metrics_none_and_errors),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

/*
 * progress.c - progress display and the JSON-lines metrics writer
 * (include/loom/progress.h).
 *
 * On a terminal, each update redraws one line in place ("\r", the line
 * cleared with ESC [K, then the bar); progress_log clears the bar, prints
 * its line and redraws the bar below it.  Elsewhere (a pipe, a log file),
 * an update prints one plain line, at most one per plain_every_s seconds;
 * the first update and the final one always print.  Plain line format:
 *
 *   <label>: step <s>/<total> (<pct>%) loss <l> | <r> tok/s | elapsed <t> | eta <t>[ | extra]
 *
 * times as m:ss or h:mm:ss; eta "?" until two updates give a rate (measured
 * from the first update, so a resumed run's earlier steps do not count).
 *
 * Not here: colour, multiple bars, terminal width detection (the bar has a
 * fixed width).  Neither object is thread-safe: one owner each.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "loom/progress.h"

#define BAR_WIDTH 24

struct progress {
	FILE *out;
	char label[64];
	long total;
	bool tty;
	double plain_every_s;
	double t_start, t_first, t_last_plain; /* seconds, monotonic */
	long first_step;
	bool have_update, last_printed, plain_printed;
	/* The latest update, redrawn after a log line and at the end. */
	long step;
	double loss, tokens_per_s;
	char extra[96];
};

/* Copy src into dst[cap], cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct progress *progress_create(FILE *out, const char *label, long total_steps, int tty,
				 double plain_every_s)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p) {
		loom_err_set(ENOMEM, "progress: out of memory");
		return NULL;
	}
	p->out = out ? out : stderr;
	copy_cut(p->label, sizeof(p->label), label);
	p->total = total_steps;
	p->tty = tty < 0 ? isatty(fileno(p->out)) == 1 : tty != 0;
	p->plain_every_s = plain_every_s > 0 ? plain_every_s : 0;
	p->t_start = now_s();
	return p;
}

/* "m:ss" or "h:mm:ss"; "?" for negative or non-finite seconds. */
static void fmt_time(char *buf, size_t cap, double s)
{
	long v;

	if (!(s >= 0 && s < 1e9)) {
		snprintf(buf, cap, "?");
		return;
	}
	v = (long)(s + 0.5);
	if (v >= 3600)
		snprintf(buf, cap, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
	else
		snprintf(buf, cap, "%ld:%02ld", v / 60, v % 60);
}

static double eta_s(const struct progress *p, double now)
{
	long done = p->step - p->first_step;

	if (p->total <= 0 || done <= 0 || p->step > p->total)
		return -1;
	return (now - p->t_first) / done * (double)(p->total - p->step);
}

static double pct(const struct progress *p)
{
	return p->total > 0 ? 100.0 * (double)p->step / (double)p->total : 0;
}

static void print_plain(struct progress *p, double now)
{
	char el[32], eta[32];

	fmt_time(el, sizeof(el), now - p->t_start);
	fmt_time(eta, sizeof(eta), eta_s(p, now));
	fprintf(p->out, "%s: step %ld/%ld (%.1f%%) loss %.4f | %.0f tok/s | elapsed %s | eta %s%s%s\n",
		p->label, p->step, p->total, pct(p), p->loss, p->tokens_per_s, el, eta,
		p->extra[0] ? " | " : "", p->extra);
	fflush(p->out);
	p->t_last_plain = now;
	p->plain_printed = true;
	p->last_printed = true;
}

static void draw_bar(struct progress *p, double now)
{
	char bar[BAR_WIDTH + 1], el[32], eta[32];
	int fill = p->total > 0 ? (int)(BAR_WIDTH * pct(p) / 100.0) : 0;

	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[BAR_WIDTH] = 0;
	fmt_time(el, sizeof(el), now - p->t_start);
	fmt_time(eta, sizeof(eta), eta_s(p, now));
	fprintf(p->out, "\r\033[K%s [%s] %ld/%ld %5.1f%% loss %.4f %.0f tok/s %s<%s%s%s",
		p->label, bar, p->step, p->total, pct(p), p->loss, p->tokens_per_s, el, eta,
		p->extra[0] ? " " : "", p->extra);
	fflush(p->out);
	p->last_printed = true;
}

void progress_update(struct progress *p, long step, double loss, double tokens_per_s,
		     const char *extra)
{
	double now = now_s();

	if (!p)
		return;
	if (!p->have_update) {
		p->have_update = true;
		p->first_step = step;
		p->t_first = now;
	}
	p->step = step;
	p->loss = loss;
	p->tokens_per_s = tokens_per_s;
	copy_cut(p->extra, sizeof(p->extra), extra);
	p->last_printed = false;
	if (p->tty)
		draw_bar(p, now);
	else if (!p->plain_printed || now - p->t_last_plain >= p->plain_every_s ||
		 (p->total > 0 && step >= p->total))
		print_plain(p, now);
}

void progress_log(struct progress *p, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!p || !fmt)
		return;
	n = strlen(fmt);
	if (p->tty)
		fputs("\r\033[K", p->out);
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	if (n == 0 || fmt[n - 1] != '\n')
		fputc('\n', p->out);
	if (p->tty && p->have_update)
		draw_bar(p, now_s());
	fflush(p->out);
}

void progress_finish(struct progress *p)
{
	if (!p)
		return;
	if (p->tty) {
		if (p->have_update)
			draw_bar(p, now_s());
		fputc('\n', p->out);
	} else if (p->have_update && !p->last_printed) {
		print_plain(p, now_s());
	}
	fflush(p->out);
	free(p);
}

/* ---- JSON-lines metrics -------------------------------------------------- */

struct metrics {
	FILE *f; /* NULL: the "-" writer that writes nothing */
	char path[256];
};

struct metrics *metrics_open(const char *path)
{
	struct metrics *m;

	if (!path || !*path) {
		loom_err_set(EINVAL, "metrics: path is NULL or empty (use \"-\" for none)");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		loom_err_set(ENOMEM, "metrics: out of memory");
		return NULL;
	}
	copy_cut(m->path, sizeof(m->path), path);
	if (strcmp(path, "-") == 0)
		return m;
	m->f = fopen(path, "a");
	if (!m->f) {
		loom_err_set(errno, "metrics: open %s: %s", path, strerror(errno));
		free(m);
		return NULL;
	}
	return m;
}

int metrics_write(struct metrics *m, const char *json_object)
{
	size_t n;

	if (!m || !json_object)
		return loom_err_set(EINVAL, "metrics: write: %s is NULL", m ? "object" : "writer");
	n = strlen(json_object);
	/* One object per line: a newline inside would split the record. */
	if (n < 2 || json_object[0] != '{' || json_object[n - 1] != '}' ||
	    strpbrk(json_object, "\r\n"))
		return loom_err_set(EINVAL, "metrics: '%.60s' is not one JSON object on one line",
				    json_object);
	if (!m->f)
		return 0;
	if (fprintf(m->f, "%s\n", json_object) < 0 || fflush(m->f) != 0)
		return loom_err_set(errno ? errno : EIO, "metrics: write %s: %s", m->path,
				    strerror(errno ? errno : EIO));
	return 0;
}

int metrics_close(struct metrics *m)
{
	int err = 0;

	if (!m)
		return 0;
	if (m->f && fclose(m->f) != 0)
		err = loom_err_set(errno, "metrics: close %s: %s", m->path, strerror(errno));
	free(m);
	return err;
}

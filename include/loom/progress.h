/*
 * progress.h - progress display for long runs: a redrawn bar on a terminal
 * (step/total, percentage, loss, tokens/s, elapsed, ETA), one plain line
 * per update (at most every `plain_every_s` seconds, and at the end) when
 * the stream is not a terminal; and a JSON-lines metrics file (one object
 * per line, flushed per line, so a crash loses at most the line in flight).
 */
#ifndef LOOM_PROGRESS_H
#define LOOM_PROGRESS_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct progress;

/* out: usually stderr. tty < 0 = detect with isatty, 0/1 = force.
 * NULL only when out of memory. */
struct progress *progress_create(FILE *out, const char *label, long total_steps, int tty,
				 double plain_every_s);
/* extra: optional short text after the figures ("val 2.13"), may be NULL. */
void progress_update(struct progress *p, long step, double loss, double tokens_per_s,
		     const char *extra);
/* Print a line above the bar (keeps the bar intact on a terminal). */
void progress_log(struct progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Final update and newline; frees p. */
void progress_finish(struct progress *p);

struct metrics;
/* Append to path (created if missing; "-" = none, returns a no-op writer). */
struct metrics *metrics_open(const char *path);
/* Write one JSON object line: the caller gives the object text without the
 * newline ("{\"step\":1,...}"). 0 or -errno. */
int metrics_write(struct metrics *m, const char *json_object);
int metrics_close(struct metrics *m);

#ifdef __cplusplus
}
#endif
#endif

/*
 * cli.h - what every `loom` subcommand shares: its table entry and small
 * helpers for argument parsing and JSON output.
 *
 * A subcommand is `int main(int argc, char **argv)`-shaped (argv[0] is the
 * subcommand's name), returns 0 on success, 1 on a failed run and 2 on a
 * usage error, prints `--help` text to stdout and errors to stderr as
 * "loom NAME: reason".  Results print as a human table by default and as
 * one JSON object with --json.
 */
#ifndef LOOM_TOOLS_CLI_H
#define LOOM_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

struct loom_cmd {
	const char *name;
	const char *summary;	/* one line for `loom help` */
	int (*main)(int argc, char **argv);
};

/* Subcommands (one file each in tools/). */
extern const struct loom_cmd loom_cmd_accum;
extern const struct loom_cmd loom_cmd_emud;
extern const struct loom_cmd loom_cmd_noc;
extern const struct loom_cmd loom_cmd_perf;
extern const struct loom_cmd loom_cmd_train;

/* Parse an integer / float option value within [min, max]; on error print
 * "loom CMD: --OPT: reason" to stderr and return false. */
bool cli_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
bool cli_double(const char *cmd, const char *opt, const char *s, double min, double max,
		double *out);

/* Print s as a JSON string literal (quoted, escaped). */
void cli_json_str(FILE *f, const char *s);
/* Print a double as JSON (NaN and inf become null, which JSON lacks). */
void cli_json_num(FILE *f, double v);

#endif

/* cli.c - argument and JSON helpers shared by loom subcommands (cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool cli_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "loom %s: %s: '%s' is not an integer\n", cmd, opt, s);
		return false;
	}
	if (v < min || v > max) {
		fprintf(stderr, "loom %s: %s: %ld is out of range [%ld, %ld]\n", cmd, opt, v,
			min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cli_double(const char *cmd, const char *opt, const char *s, double min, double max,
		double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || isnan(v)) {
		fprintf(stderr, "loom %s: %s: '%s' is not a number\n", cmd, opt, s);
		return false;
	}
	if (v < min || v > max) {
		fprintf(stderr, "loom %s: %s: %g is out of range [%g, %g]\n", cmd, opt, v, min,
			max);
		return false;
	}
	*out = v;
	return true;
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void cli_json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

/* accum.c - `loom accum` (placeholder entry until the accumulation study lands). */
#include "cli.h"

#include <stdio.h>

static int accum_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "loom %s: not built yet\n", argv[0]);
	return 1;
}

const struct loom_cmd loom_cmd_accum = {
	.name = "accum",
	.summary = "FP8 GEMM accumulation error: Hopper accumulator model vs FP64",
	.main = accum_main,
};

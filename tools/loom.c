/*
 * loom.c - the `loom` command line: one program, one subcommand per task.
 *
 *     loom help            lists the subcommands
 *     loom CMD --help      explains one
 *     loom CMD ... --json  prints results as one JSON object
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct loom_cmd *const cmds[] = {
	&loom_cmd_accum,
	&loom_cmd_emud,
	&loom_cmd_noc,
	&loom_cmd_perf,
	&loom_cmd_train,
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: loom COMMAND [OPTIONS]\n\n"
		   "Loom: put proposed hardware in the loop of a live FP8 MoE training run.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(f, "  %-10s %s\n", cmds[i]->name, cmds[i]->summary);
	fprintf(f, "  %-10s %s\n", "help", "this list (`loom help CMD` = `loom CMD --help`)");
	fprintf(f, "\nEvery command takes --help; commands that print results take --json.\n");
}

static const struct loom_cmd *find(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i]->name, name))
			return cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct loom_cmd *cmd;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2 && (cmd = find(argv[2]))) {
			char *hargv[] = { argv[2], "--help", NULL };
			return cmd->main(2, hargv);
		}
		if (argc > 2) {
			fprintf(stderr, "loom: unknown command '%s' (try `loom help`)\n", argv[2]);
			return 2;
		}
		usage(stdout);
		return 0;
	}
	cmd = find(argv[1]);
	if (!cmd) {
		fprintf(stderr, "loom: unknown command '%s' (try `loom help`)\n", argv[1]);
		return 2;
	}
	return cmd->main(argc - 1, argv + 1);
}

/*
 * helper_boot_rank.c - one rank of a bootstrap job, started by a launcher
 * (mpirun in test_bootstrap_mpi.c): boot_init_env(), all-gathers whose
 * slots it checks against a formula of the sender's rank, barriers,
 * boot_finalize().  Prints one "boot-rank:" line per step and exits 0 only
 * when every check passed.
 *
 * Usage: helper_boot_rank [--backend NAME] [--die RANK] [--stall RANK]
 *   --backend NAME  fail unless boot_init_env() picked this back-end
 *   --die RANK      that rank SIGKILLs itself after the first barrier
 *   --stall RANK    that rank sleeps 60 s instead of the second barrier
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loom/bootstrap.h"
#include "loom/err.h"

static int fail(int rank, const char *what)
{
	printf("boot-rank: rank %d FAILED: %s: %s\n", rank, what, loom_err_msg());
	return 1;
}

/* Byte i of rank r's blob (the formula test_bootstrap.c uses). */
static unsigned char blob_byte(int r, size_t i, int salt)
{
	return (unsigned char)(r * 131 + (int)(i % 251) * 7 + salt * 29 + (int)(i >> 8));
}

static int gather(struct boot *b, size_t len, int salt)
{
	int r = boot_rank(b), w = boot_world_size(b), bad = 0;
	unsigned char *mine = malloc(len), *all = malloc(len * (size_t)w);

	if (!mine || !all)
		return fail(r, "out of memory");
	for (size_t i = 0; i < len; i++)
		mine[i] = blob_byte(r, i, salt);
	memset(all, 0xee, len * (size_t)w);
	if (boot_allgather(b, mine, all, len)) {
		free(mine);
		free(all);
		return fail(r, "allgather");
	}
	for (int j = 0; j < w; j++)
		for (size_t i = 0; i < len; i++)
			bad += all[(size_t)j * len + i] != blob_byte(j, i, salt);
	free(mine);
	free(all);
	if (bad) {
		printf("boot-rank: rank %d FAILED: allgather of %zu bytes: %d wrong bytes\n", r, len,
		       bad);
		return 1;
	}
	return 0;
}

/* Under mpirun, the launcher's own variables say who we are. */
static int check_identity(struct boot *b, const char *want_backend)
{
	const char *er = getenv("OMPI_COMM_WORLD_RANK"), *ew = getenv("OMPI_COMM_WORLD_SIZE");
	int r = boot_rank(b);

	if (want_backend && strcmp(boot_backend_name(b), want_backend) != 0) {
		printf("boot-rank: rank %d FAILED: backend %s, want %s\n", r, boot_backend_name(b),
		       want_backend);
		return 1;
	}
	if (strcmp(boot_backend_name(b), "mpi") == 0 && er && ew &&
	    (atoi(er) != r || atoi(ew) != boot_world_size(b))) {
		printf("boot-rank: rank %d FAILED: MPI says %d of %d, mpirun says %s of %s\n", r, r,
		       boot_world_size(b), er, ew);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *want_backend = NULL;
	int die = -1, stall = -1, r;
	struct boot *b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--backend") == 0)
			want_backend = argv[i + 1];
		else if (strcmp(argv[i], "--die") == 0)
			die = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--stall") == 0)
			stall = atoi(argv[i + 1]);
	}
	printf("boot-rank: started pid %d\n", (int)getpid());
	b = boot_init_env();
	if (!b)
		return fail(-1, "boot_init_env");
	r = boot_rank(b);
	printf("boot-rank: rank %d of %d, backend %s\n", r, boot_world_size(b),
	       boot_backend_name(b));
	if (check_identity(b, want_backend) || gather(b, 24, 1))
		return 1;
	if (boot_barrier(b))
		return fail(r, "barrier 1");
	if (r == die) {
		printf("boot-rank: rank %d dies now\n", r);
		raise(SIGKILL);
	}
	if (r == stall) {
		printf("boot-rank: rank %d stalls\n", r);
		sleep(60);
		return 1;
	}
	if (boot_barrier(b))
		return fail(r, "barrier 2");
	if (gather(b, 4096, 2) || gather(b, 1, 3))
		return 1;
	if (boot_barrier(b))
		return fail(r, "barrier 3");
	if (boot_finalize(b))
		return fail(r, "finalize");
	printf("boot-rank: rank %d ok\n", r);
	return 0;
}

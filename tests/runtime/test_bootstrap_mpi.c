/*
 * test_bootstrap_mpi.c - the "mpi" bootstrap back-end under Open MPI's
 * mpirun: 4 processes of helper_boot_rank (next to this binary) pick the
 * back-end from mpirun's environment and check their all-gathers against
 * a formula of each sender's rank; a rank that dies and a rank that never
 * arrives end the job within seconds, not never.
 *
 * mpirun is a declared dependency (openmpi-bin, make deps): missing, the
 * suite fails.  If mpirun is there but cannot start processes on this
 * machine (no rank ever printed its first line), the case is skipped with
 * mpirun's own words, never passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loom/bootstrap.h"
#include "loom/err.h"
#include "lt.h"

#define RUN_LIMIT_MS 60000    /* a whole mpirun; killed after this */
#define DETECT_LIMIT_MS 10000 /* the bound on noticing a dead rank */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* An executable named name on PATH, or false. */
static bool find_on_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, name);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* helper_boot_rank in the directory of this test binary. */
static bool helper_path(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	if ((size_t)snprintf(out, cap, "%.*s/helper_boot_rank", PATH_MAX - 32, self) >= cap)
		return false;
	return access(out, X_OK) == 0;
}

struct run {
	int status;
	bool killed; /* ran past RUN_LIMIT_MS */
	double ms;
	char out[65536];
	size_t len;
};

static void child_exec(char *const argv[], int fd, const char *timeout_s)
{
	setpgid(0, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	unsetenv("LOOM_BOOTSTRAP"); /* auto: mpirun's variables choose mpi */
	unsetenv("LOOM_RANK");
	unsetenv("LOOM_WORLD_SIZE");
	unsetenv("LOOM_MPI_LIB");
	setenv("LOOM_BOOTSTRAP_TIMEOUT", timeout_s, 1);
	setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1); /* containers run as root */
	setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
	/* libmpi keeps allocations until exit; our own leaks are checked by
	 * test_bootstrap under the same sanitizer. */
	setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	execv(argv[0], argv);
	dprintf(fd, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Run argv with output captured; kill its process group past the limit. */
static void run_cmd(char *const argv[], const char *timeout_s, struct run *r)
{
	int p[2];
	double t0 = now_ms(), end = t0 + RUN_LIMIT_MS;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(p) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_exec(argv, p[1], timeout_s);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		double left = end - now_ms();
		ssize_t n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			r->killed = true;
			break;
		}
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		n = read(p[0], r->out + r->len, sizeof(r->out) - 1 - r->len);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	close(p[0]);
	waitpid(pid, &r->status, 0);
	kill(-pid, SIGKILL); /* anything mpirun left behind */
	r->out[r->len] = '\0';
	r->ms = now_ms() - t0;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static bool exited_ok(const struct run *r)
{
	return !r->killed && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* The last lines of the output, for a message. */
static const char *tail(const struct run *r, size_t n)
{
	return r->len > n ? r->out + r->len - n : r->out;
}

/* mpirun -np 4 helper extra...; false (case marked failed or skipped) if
 * mpirun is missing or could not start the processes. */
static bool mpirun4(struct lt *t, const char *extra1, const char *extra2, const char *timeout_s,
		    struct run *r)
{
	char mpirun[PATH_MAX], helper[PATH_MAX + 32];
	char *argv[20] = { mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "4",
			   /* one host: shared memory between the ranks, loopback only */
			   "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include", "lo",
			   helper, "--backend", "mpi" };
	int argc = 14;

	if (!find_on_path("mpirun", mpirun, sizeof(mpirun))) {
		LT_CHECK(t, false, "mpirun not found on PATH: install openmpi-bin (make deps)");
		return false;
	}
	if (!helper_path(helper, sizeof(helper))) {
		LT_CHECK(t, false, "helper_boot_rank not found next to this test (make all)");
		return false;
	}
	if (extra1) {
		argv[argc++] = (char *)extra1;
		argv[argc++] = (char *)extra2;
	}
	argv[argc] = NULL;
	run_cmd(argv, timeout_s, r);
	if (count(r->out, "boot-rank: started") == 0 && !exited_ok(r)) {
		lt_skip(t, "mpirun could not start processes here (status 0x%x): %.200s", r->status,
			tail(r, 200));
		return false;
	}
	return true;
}

static void test_mpirun_allgather_barrier(struct lt *t)
{
	struct run *r = malloc(sizeof(*r));
	char line[64];

	if (!r)
		abort();
	if (mpirun4(t, NULL, NULL, "20", r)) {
		LT_CHECK(t, exited_ok(r), "mpirun status 0x%x:\n%s", r->status, tail(r, 1500));
		for (int rank = 0; rank < 4; rank++) {
			snprintf(line, sizeof(line), "boot-rank: rank %d of 4, backend mpi", rank);
			LT_CHECK(t, count(r->out, line) == 1, "no '%s' line", line);
			snprintf(line, sizeof(line), "boot-rank: rank %d ok", rank);
			LT_CHECK(t, count(r->out, line) == 1, "no '%s' line", line);
		}
		LT_CHECK(t, count(r->out, "FAILED") == 0, "%s", tail(r, 1500));
		printf("    mpirun -np 4: 3 all-gathers + 3 barriers in %.0f ms (mpirun included)\n",
		       r->ms);
	}
	free(r);
}

/* Rank 2 SIGKILLs itself after the first barrier: mpirun ends the job. */
static void test_mpirun_rank_dies(struct lt *t)
{
	struct run *r = malloc(sizeof(*r));

	if (!r)
		abort();
	if (mpirun4(t, "--die", "2", "20", r)) {
		LT_CHECK(t, count(r->out, "boot-rank: rank 2 dies now") == 1, "%s", tail(r, 1500));
		LT_CHECK(t, !r->killed && !exited_ok(r), "mpirun status 0x%x killed %d", r->status,
			 r->killed);
		LT_CHECK(t, count(r->out, " ok\n") == 0, "a rank finished despite the death");
		LT_CHECK(t, r->ms < DETECT_LIMIT_MS, "the job took %.0f ms to end", r->ms);
		printf("    rank 2 killed: mpirun ended the job %.0f ms after start\n", r->ms);
	}
	free(r);
}

/* Rank 3 never reaches barrier 2: the others time out (1.5 s), say so, and
 * exit; mpirun ends the job. */
static void test_mpirun_rank_stalls(struct lt *t)
{
	struct run *r = malloc(sizeof(*r));

	if (!r)
		abort();
	if (mpirun4(t, "--stall", "3", "1.5", r)) {
		LT_CHECK(t, count(r->out, "barrier 2: bootstrap: rank") >= 1 &&
				    count(r->out, "(mpi): barrier #3 timed out after 1.5 s") >= 1,
			 "no timeout message:\n%s", tail(r, 1500));
		LT_CHECK(t, !r->killed && !exited_ok(r), "mpirun status 0x%x killed %d", r->status,
			 r->killed);
		LT_CHECK(t, r->ms < DETECT_LIMIT_MS, "the job took %.0f ms to end", r->ms);
		printf("    rank 3 stalled: the job ended after %.0f ms (timeout 1.5 s)\n", r->ms);
	}
	free(r);
}

/* Without a usable libmpi the back-end says why (no MPI_Init is reached). */
static void test_mpi_library_errors(struct lt *t)
{
	struct boot *b;

	setenv("LOOM_MPI_LIB", "/nonexistent/libmpi.so.40", 1);
	b = boot_init_mpi(1000);
	LT_CHECK(t, !b && strstr(loom_err_msg(), "cannot load libmpi"), "%s", loom_err_msg());
	boot_finalize(b);
	setenv("LOOM_MPI_LIB", "libc.so.6", 1);
	b = boot_init_mpi(1000);
	LT_CHECK(t, !b && strstr(loom_err_msg(), "only Open MPI's ABI is supported"), "%s",
		 loom_err_msg());
	boot_finalize(b);
	unsetenv("LOOM_MPI_LIB");
}

static const struct lt_case cases[] = {
	LT_CASE(test_mpi_library_errors),
	LT_CASE(test_mpirun_allgather_barrier),
	LT_CASE(test_mpirun_rank_dies),
	LT_CASE(test_mpirun_rank_stalls),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

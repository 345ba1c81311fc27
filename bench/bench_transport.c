/*
 * bench_transport.c - Loom's transport as `loom perf` measures it, next to
 * baselines measured in the same run.
 *
 *   bench_transport [--runs R] [--loom PATH] [--providers shm,udp]
 *     (defaults: 5 runs; the loom next to this program; shm and udp)
 *
 * For each provider (shm; udp over 127.0.0.1): `loom perf write_bw` (64 KiB,
 * 5000 messages), `write_lat` and `read_lat` (2 bytes, 1000 messages), each
 * run R times as a server and a client process on this host; the table shows
 * the median over runs of each figure.  Baselines:
 *   - memcpy: one core copying the same 64 KiB message from one buffer to
 *     another over and over (as write_bw writes the same buffers), in MiB/s
 *     of message bytes; median of R runs interleaved with the transport's.
 *     The target: shm write bandwidth >= half of it.
 *   - libfabric's tcp provider (bench/fabric_tcp.h): fi_write of the same
 *     sizes between two processes over 127.0.0.1, when this build found
 *     libfabric's headers (Debian's libfabric-dev); otherwise the table says
 *     it was not measured.  The target: udp faster than it.
 * Latency columns are perftest's (half the round trip for write_lat, the
 * whole for read_lat).  Not a test: a failed run is reported in its row and
 * makes the exit status 1, the figures are never compared to fixed numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS_MAX 31
#define RUN_TIMEOUT_S 120
#define MEMCPY_BYTES 65536
#define MEMCPY_SECONDS 0.3

struct figures {
	bool ok;
	double bw_avg, bw_peak; /* MiB/s */
	double t_min, t_typical, t_avg, t_p99, t_p999; /* us */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- baseline: memcpy ---------------------------------------------------------- */

/* MiB/s of one core copying a bytes-sized message src -> dst repeatedly. */
static double memcpy_mib_s(size_t bytes)
{
	char *src = aligned_alloc(4096, bytes), *dst = aligned_alloc(4096, bytes);
	double t0, t, copies = 0;

	if (!src || !dst)
		return 0;
	memset(src, 0x5a, bytes);
	memset(dst, 0, bytes);
	t0 = now_s();
	do {
		for (int i = 0; i < 64; i++) {
			memcpy(dst, src, bytes);
			__asm__ volatile("" : : "r"(dst) : "memory"); /* keep every copy */
		}
		copies += 64;
		t = now_s() - t0;
	} while (t < MEMCPY_SECONDS);
	free(src);
	free(dst);
	return copies * (double)bytes / t / (1 << 20);
}

/* ---- running loom perf ------------------------------------------------------------ */

/* Start argv with stdout and/or stderr on pipes (fd -1 when not wanted). */
static pid_t spawn(char *const argv[], int *out_fd, int *err_fd)
{
	int o[2] = { -1, -1 }, e[2] = { -1, -1 };
	pid_t pid;

	if ((out_fd && pipe(o)) || (err_fd && pipe(e)))
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(out_fd ? o[1] : null, 1);
		dup2(err_fd ? e[1] : null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (out_fd) {
		close(o[1]);
		*out_fd = o[0];
	}
	if (err_fd) {
		close(e[1]);
		*err_fd = e[0];
	}
	return pid;
}

/* Read fd into buf until EOF or the deadline; false on timeout. */
static bool read_all(int fd, char *buf, size_t cap, double deadline)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			return false;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	buf[len] = 0;
	return true;
}

/* The server's port from its "waiting for a client on port N" line. */
static int server_port(int err_fd, double deadline)
{
	char line[512];
	size_t len = 0;

	while (len < sizeof(line) - 1) {
		struct pollfd p = { .fd = err_fd, .events = POLLIN };
		char *at;

		if (poll(&p, 1, 100) > 0 && read(err_fd, line + len, 1) == 1)
			len++;
		else if (now_s() > deadline)
			return -1;
		line[len] = 0;
		if ((at = strstr(line, "on port ")) && line[len - 1] == '\n')
			return atoi(at + 8);
	}
	return -1;
}

static double json_num(const char *json, const char *key)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	at = strstr(json, pat);
	return at ? strtod(at + strlen(pat), NULL) : 0;
}

static bool reap(pid_t pid)
{
	int st;

	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* One server + client run of `loom perf test --json`; the client's figures. */
static struct figures perf_once(const char *loom, const char *provider, const char *test,
				const char *size, const char *iters)
{
	char *sargv[] = { (char *)loom, "perf", (char *)test, "--provider", (char *)provider,
			  "--port", "0", "-s", (char *)size, "-n", (char *)iters, "--json", NULL };
	char port[16], json[8192];
	char *cargv[] = { (char *)loom, "perf", (char *)test, "--provider", (char *)provider,
			  "-p", port, "-s", (char *)size, "-n", (char *)iters, "--json",
			  "127.0.0.1", NULL };
	double deadline = now_s() + RUN_TIMEOUT_S;
	struct figures f = { 0 };
	int err_fd, out_fd = -1, p;
	pid_t s, c;

	if ((s = spawn(sargv, NULL, &err_fd)) < 0)
		return f;
	if ((p = server_port(err_fd, now_s() + 10)) < 0) {
		kill(s, SIGKILL);
		reap(s);
		close(err_fd);
		return f;
	}
	snprintf(port, sizeof(port), "%d", p);
	c = spawn(cargv, &out_fd, NULL);
	f.ok = c > 0 && read_all(out_fd, json, sizeof(json), deadline);
	if (!f.ok) {
		kill(s, SIGKILL);
		if (c > 0)
			kill(c, SIGKILL);
	}
	f.ok = reap(c) & reap(s) & f.ok && strstr(json, "\"data_check\": \"ok\"");
	if (out_fd >= 0)
		close(out_fd);
	close(err_fd);
	f.bw_avg = json_num(json, "bw_avg_mib_s");
	f.bw_peak = json_num(json, "bw_peak_mib_s");
	f.t_min = json_num(json, "t_min_us");
	f.t_typical = json_num(json, "t_typical_us");
	f.t_avg = json_num(json, "t_avg_us");
	f.t_p99 = json_num(json, "t_p99_us");
	f.t_p999 = json_num(json, "t_p999_us");
	return f;
}

/* Median of each figure over the successful runs; ok only if all were. */
static struct figures figures_median(const struct figures *v, int n)
{
	double a[7][RUNS_MAX];
	struct figures m = { .ok = true };
	int k = 0;

	for (int i = 0; i < n; i++) {
		m.ok = m.ok && v[i].ok;
		if (!v[i].ok)
			continue;
		a[0][k] = v[i].bw_avg, a[1][k] = v[i].bw_peak, a[2][k] = v[i].t_min;
		a[3][k] = v[i].t_typical, a[4][k] = v[i].t_avg, a[5][k] = v[i].t_p99;
		a[6][k++] = v[i].t_p999;
	}
	m.bw_avg = median(a[0], k), m.bw_peak = median(a[1], k), m.t_min = median(a[2], k);
	m.t_typical = median(a[3], k), m.t_avg = median(a[4], k), m.t_p99 = median(a[5], k);
	m.t_p999 = median(a[6], k);
	return m;
}

/* ---- the table ----------------------------------------------------------------- */

struct row {
	const char *provider, *test, *size, *iters;
	struct figures runs[RUNS_MAX], med;
};

static void print_bw(const struct row *r, double memcpy_med, double fabric_bw)
{
	printf("  %-14s %-9s %7s %6s %12.0f", r->provider, r->test, r->size, r->iters,
	       r->med.bw_avg);
	if (r->med.bw_peak > 0)
		printf(" %12.0f", r->med.bw_peak);
	else
		printf(" %12s", "-"); /* the libfabric harness measures no peak */
	printf(" %10.2f", r->med.bw_avg / memcpy_med);
	if (fabric_bw > 0)
		printf(" %11.2f", r->med.bw_avg / fabric_bw);
	else
		printf(" %11s", "-");
	printf("%s\n", r->med.ok ? "" : "  (a run FAILED)");
}

static void print_lat(const struct row *r, double fabric_typical)
{
	printf("  %-14s %-9s %7s %6s %8.2f %10.2f %8.2f %8.2f %9.2f", r->provider, r->test, r->size,
	       r->iters, r->med.t_min, r->med.t_typical, r->med.t_avg, r->med.t_p99,
	       r->med.t_p999);
	if (fabric_typical > 0)
		printf(" %11.2f", fabric_typical / r->med.t_typical);
	else
		printf(" %11s", "-");
	printf("%s\n", r->med.ok ? "" : "  (a run FAILED)");
}

#include "fabric_tcp.h"

/* ---- main ------------------------------------------------------------------------ */

struct opts {
	int runs;
	char loom[PATH_MAX];
	bool shm, udp;
};

static bool parse(int argc, char **argv, struct opts *o)
{
	const char *slash = strrchr(argv[0], '/');

	*o = (struct opts){ .runs = 5, .shm = true, .udp = true };
	snprintf(o->loom, sizeof(o->loom), "%.*sloom", slash ? (int)(slash - argv[0] + 1) : 0,
		 argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--runs") && v && (o->runs = atoi(v)) >= 1 &&
		    o->runs <= RUNS_MAX)
			i++;
		else if (!strcmp(argv[i], "--loom") && v)
			snprintf(o->loom, sizeof(o->loom), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--providers") && v) {
			o->shm = strstr(v, "shm") != NULL;
			o->udp = strstr(v, "udp") != NULL;
			i++;
		} else {
			fprintf(stderr, "usage: bench_transport [--runs 1..%d] [--loom PATH] "
					"[--providers shm,udp]\n", RUNS_MAX);
			return false;
		}
	}
	return true;
}

static const char *const tests[][3] = {
	/* test, size, iterations (perftest's defaults) */
	{ "write_bw", "65536", "5000" },
	{ "write_lat", "2", "1000" },
	{ "read_lat", "2", "1000" },
};
#define N_TESTS (sizeof(tests) / sizeof(tests[0]))

static enum fabric_test fabric_test_of(const char *test)
{
	return !strcmp(test, "write_bw") ? FABRIC_WRITE_BW
	       : !strcmp(test, "write_lat") ? FABRIC_WRITE_LAT : FABRIC_READ_LAT;
}

/* Measure everything: the runs of each row interleave with memcpy runs. */
static int measure(const struct opts *o, struct row *rows, int n_rows, double *memcpy_med)
{
	double mc[RUNS_MAX];
	int failed = 0;

	for (int run = 0; run < o->runs; run++) {
		mc[run] = memcpy_mib_s(MEMCPY_BYTES);
		for (int i = 0; i < n_rows; i++) {
			struct row *r = &rows[i];

			if (!strcmp(r->provider, "libfabric tcp"))
				r->runs[run] = fabric_run(fabric_test_of(r->test),
							  (size_t)atoi(r->size), atoi(r->iters));
			else
				r->runs[run] = perf_once(o->loom, r->provider, r->test, r->size,
							 r->iters);
		}
	}
	*memcpy_med = median(mc, o->runs);
	for (int i = 0; i < n_rows; i++) {
		rows[i].med = figures_median(rows[i].runs, o->runs);
		failed += !rows[i].med.ok;
	}
	return failed;
}

static void report(const struct opts *o, struct row *rows, int n_rows, double memcpy_med,
		   const char *fabric_why)
{
	const struct row *fab = fabric_why[0] ? NULL : &rows[n_rows - (int)N_TESTS];

	printf("loom perf over 127.0.0.1 (server and client processes), medians of %d runs\n",
	       o->runs);
	printf("baseline: memcpy of a %d-byte message, one core: %.0f MiB/s\n", MEMCPY_BYTES,
	       memcpy_med);
	if (fabric_why[0])
		printf("baseline: libfabric tcp not measured: %s\n", fabric_why);
	printf("\n  %-14s %-9s %7s %6s %12s %12s %10s %11s\n", "provider", "test", "bytes",
	       "iters", "BW avg MiB/s", "BW peak", "/ memcpy", "/ libfabric");
	for (int i = 0; i < n_rows; i++)
		if (!strcmp(rows[i].test, "write_bw"))
			print_bw(&rows[i], memcpy_med, fab && fab->med.ok ? fab[0].med.bw_avg : 0);
	printf("\n  %-14s %-9s %7s %6s %8s %10s %8s %8s %9s %11s\n", "provider", "test", "bytes",
	       "iters", "t_min", "t_typical", "t_avg", "99%", "99.9%", "libfabric/");
	printf("  %-14s %-9s %7s %6s %8s %10s %8s %8s %9s %11s\n", "", "", "", "", "[usec]", "",
	       "", "", "", "this");
	for (int i = 0; i < n_rows; i++) {
		const struct row *f = fab ? &fab[i % N_TESTS] : NULL;

		if (strcmp(rows[i].test, "write_bw"))
			print_lat(&rows[i], f && f->med.ok ? f->med.t_typical : 0);
	}
	printf("\nwrite_lat: half the round trip; read_lat: the whole (perftest).  Targets: shm\n"
	       "write_bw >= 0.5 x memcpy; udp faster than libfabric tcp (ratios > 1).\n");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct row rows[3 * N_TESTS];
	const char *providers[3];
	char fabric_why[200] = "";
	int n_prov = 0, n_rows = 0;
	double memcpy_med;

	if (!parse(argc, argv, &o))
		return 2;
	if (access(o.loom, X_OK)) {
		fprintf(stderr, "bench_transport: %s: %s (build it: make all)\n", o.loom,
			strerror(errno));
		return 1;
	}
	if (o.shm)
		providers[n_prov++] = "shm";
	if (o.udp)
		providers[n_prov++] = "udp";
	if (fabric_available(fabric_why, sizeof(fabric_why)))
		providers[n_prov++] = "libfabric tcp";
	for (int p = 0; p < n_prov; p++)
		for (size_t t = 0; t < N_TESTS; t++)
			rows[n_rows++] = (struct row){ .provider = providers[p], .test = tests[t][0],
						       .size = tests[t][1], .iters = tests[t][2] };
	int failed = measure(&o, rows, n_rows, &memcpy_med);

	report(&o, rows, n_rows, memcpy_med, fabric_why);
	if (failed)
		printf("\n%d row(s) had a failed run (see above)\n", failed);
	return failed ? 1 : 0;
}

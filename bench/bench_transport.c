/*
 * bench_transport.c - Loom's transport as `loom perf` measures it, next to
 * baselines measured in the same run.
 *
 *   bench_transport [--runs R] [--loom PATH] [--providers shm,udp]
 *                   [--paths lo,veth]
 *     (defaults: 5 runs; the loom next to this program; shm and udp; both
 *     paths)
 *
 * For each provider and path: `loom perf write_bw` (64 KiB, 5000
 * messages), `write_lat` and `read_lat` (2 bytes, 1000 messages), each run R
 * times as a server and a client process; the table shows the median over
 * runs of each figure.  Paths:
 *   - lo: both processes in this network namespace over 127.0.0.1 (shm
 *     and udp);
 *   - veth: two hosts on one machine, as the udp tests make them: two
 *     network namespaces joined by a veth pair (MTU 9000, for the 4096-byte
 *     path MTU `loom perf` uses), addresses 10.x.y.1 and 10.x.y.2; the
 *     server runs in one, the client in the other (udp only: shm needs one
 *     host).  Set up with iproute2's `ip` (root needed) and always deleted:
 *     when the bench ends, fails or dies of any signal, SIGKILL included (a
 *     janitor child waits for that on a pipe); the processes it started die
 *     with it (SIGKILL from its SIGINT/SIGTERM/SIGHUP/SIGQUIT handler, and
 *     PR_SET_PDEATHSIG).  When the path cannot be set up its rows say "not
 *     measured: <reason>".
 * Baselines:
 *   - memcpy: one core copying the same 64 KiB message from one buffer to
 *     another over and over (as write_bw writes the same buffers), in MiB/s
 *     of message bytes; median of R runs interleaved with the transport's.
 *     The target: shm write bandwidth >= half of it.
 *   - libfabric's tcp provider (bench/fabric_tcp.h): fi_write/fi_read of
 *     the same sizes between two processes on the same path (127.0.0.1, or
 *     the veth pair, one process in each namespace), when this build found
 *     libfabric's headers (Debian's libfabric-dev); otherwise the table
 *     says it was not measured.  The target: udp faster than it on the same
 *     path; each row's ratio is against the libfabric row of its own path.
 *   - with udp rows: the ICRC's CRC-32 (roce_crc32) of a 4 KiB packet next
 *     to memcpy of it (the udp provider computes it on both sides).
 * Latency columns are perftest's (half the round trip for write_lat, the
 * whole for read_lat).  Not a test: a failed run is reported in its row and
 * makes the exit status 1, the figures are never compared to fixed numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loom/roce.h"

#define RUNS_MAX 31
#define RUN_TIMEOUT_S 120
#define MEMCPY_BYTES 65536
#define MEMCPY_SECONDS 0.3
#define KIDS_MAX 4

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

/* MiB/s of one core computing the RoCE ICRC's CRC-32 (roce_crc32, the
 * fastest path this CPU has) over a bytes-sized packet, repeatedly: the
 * udp provider runs it twice per packet (sender and receiver). */
static double crc_mib_s(size_t bytes)
{
	uint8_t *buf = aligned_alloc(4096, bytes);
	double t0, t, n = 0;
	uint32_t c = 0;

	if (!buf)
		return 0;
	for (size_t i = 0; i < bytes; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	t0 = now_s();
	do {
		for (int i = 0; i < 64; i++)
			c = roce_crc32(c, buf, bytes);
		n += 64;
		t = now_s() - t0;
	} while (t < MEMCPY_SECONDS);
	__asm__ volatile("" : : "r"(c));
	free(buf);
	return n * (double)bytes / t / (1 << 20);
}

/* Medians of runs of the ICRC's CRC-32 and of memcpy on one 4 KiB packet. */
static void crc_report(int runs)
{
	double crc[RUNS_MAX], mc[RUNS_MAX];

	for (int r = 0; r < runs; r++) {
		crc[r] = crc_mib_s(4096);
		mc[r] = memcpy_mib_s(4096);
	}
	printf("baseline: ICRC CRC-32 of a 4096-byte packet, one core: %.0f MiB/s (memcpy of "
	       "it: %.0f MiB/s, ratio %.2f)\n", median(crc, runs), median(mc, runs),
	       median(crc, runs) / median(mc, runs));
}

/* ---- the veth path: two namespaces joined by a veth pair ------------------------ */

/* A path between the two processes of a run: [0] the server's (or the
 * libfabric target's) side, [1] the client's. */
struct path {
	const char *name;	/* "lo" or "veth" */
	bool up;		/* usable; else why says why not */
	char why[200];
	int ns_fd[2];		/* namespace to run in (/var/run/netns/NAME), -1: this one */
	char ip[2][48];		/* IPv4 address of each side */
};

/* The veth path's names, and the janitor process that deletes them. */
static struct {
	char ip_cmd[32];	/* the ip binary */
	char ns[2][32];
	char veth[2][16];
	int janitor_fd;		/* write end of the janitor's pipe; -1: no janitor */
	pid_t janitor;
} vnet = { .janitor_fd = -1 };

/* Processes this bench started and has not reaped (for the handler). */
static volatile pid_t kids[KIDS_MAX];

static void kid_add(pid_t pid)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (!kids[i]) {
			kids[i] = pid;
			return;
		}
}

static void kid_del(pid_t pid)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/* Run `ip argv...` quietly and wait; whether it exited 0. */
static bool run_ip(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execv(vnet.ip_cmd, argv);
		_exit(127);
	}
	if (pid < 0)
		return false;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* `ip` with a command line of space-separated words (at most 15). */
static bool ipf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool ipf(const char *fmt, ...)
{
	char line[256], *argv[16] = { "ip" }, *save = NULL;
	int n = 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *w = strtok_r(line, " ", &save); w && n < 15; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	return run_ip(argv);
}

/* Delete the namespaces (which takes the veth ends moved into them along)
 * and a veth end still outside. */
static void veth_delete(void)
{
	for (int i = 0; i < 2; i++) {
		char *del_ns[] = { "ip", "netns", "del", vnet.ns[i], NULL };

		run_ip(del_ns);
	}
	char *del_link[] = { "ip", "link", "del", vnet.veth[0], NULL };

	run_ip(del_link);
}

static void janitor_wake(int sig)
{
	(void)sig; /* only interrupts the janitor's read */
}

/* The janitor: a child that deletes the namespaces when the bench is done
 * with them: woken by SIGUSR1, sent by veth_down or by the kernel when the
 * bench dies in any way (PR_SET_PDEATHSIG; SIGKILL included), or by the
 * end of its pipe once every process holding the write end is gone.  It
 * ignores the terminal's signals so that a Ctrl-C to the process group
 * does not stop it before it has cleaned up.  Cleaning up in the bench's
 * signal handler instead would mean fork() there, which deadlocks when
 * libfabric's threads hold a lock its atfork handlers take; and libfabric
 * (its psm provider) installs its own SIGTERM handler that calls exit(). */
static bool janitor_start(void)
{
	struct sigaction wake = { .sa_handler = janitor_wake }; /* no SA_RESTART */
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return false;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		char c;

		sigaction(SIGUSR1, &wake, NULL);
		prctl(PR_SET_PDEATHSIG, SIGUSR1);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		dup2(null, 0);
		dup2(null, 1); /* do not hold a pipe the bench's output goes to */
		dup2(null, 2);
		close(p[1]);
		if (getppid() == parent) /* else the bench is gone already */
			(void)!read(p[0], &c, 1); /* EOF, or EINTR by SIGUSR1 */
		veth_delete();
		_exit(0);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return false;
	}
	vnet.janitor = pid;
	vnet.janitor_fd = p[1];
	return true;
}

static pid_t main_pid; /* the bench's own process (forked copies clean nothing) */

/* Have the janitor delete the veth path now, and wait until it has. */
static void veth_down(void)
{
	if (vnet.janitor_fd < 0 || getpid() != main_pid)
		return;
	close(vnet.janitor_fd);
	vnet.janitor_fd = -1;
	kill(vnet.janitor, SIGUSR1);
	while (waitpid(vnet.janitor, NULL, 0) < 0 && errno == EINTR)
		continue;
}

/* Kill what this bench started and die of sig; the janitor (see above)
 * deletes the namespaces once we are gone.  A forked copy (libfabric's
 * target) inherits the handler: it just dies. */
static void on_signal(int sig)
{
	if (getpid() == main_pid)
		for (int i = 0; i < KIDS_MAX; i++)
			if (kids[i] > 0)
				kill(kids[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void signals_catch(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = on_signal };

	main_pid = getpid();
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a dead peer is a failed run, not our death */
}

/* Why this host cannot make the veth path, or NULL (ip_cmd set). */
static const char *veth_unavailable(void)
{
	static const char *const where[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };

	if (geteuid() != 0)
		return "not root: network namespaces need CAP_SYS_ADMIN";
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (!access(where[i], X_OK)) {
			snprintf(vnet.ip_cmd, sizeof(vnet.ip_cmd), "%s", where[i]);
			return NULL;
		}
	return "no `ip` command (iproute2)";
}

/* One side: its veth end into namespace i, MTU 9000, address, up. */
static bool veth_side(struct path *p, int i)
{
	return ipf("link set %s netns %s", vnet.veth[i], vnet.ns[i]) &&
	       ipf("-n %s link set %s mtu 9000 up", vnet.ns[i], vnet.veth[i]) &&
	       ipf("-n %s addr add %s/24 dev %s", vnet.ns[i], p->ip[i], vnet.veth[i]) &&
	       ipf("-n %s link set lo up", vnet.ns[i]);
}

/* Make the veth path (p->up), or say why not (p->why). */
static void veth_up(struct path *p)
{
	unsigned id = (unsigned)getpid() % 50000;
	const char *why = veth_unavailable();
	char file[64];
	bool ok;

	if (why) {
		snprintf(p->why, sizeof(p->why), "%s", why);
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(vnet.ns[i], sizeof(vnet.ns[i]), "loom-bench-%u-%c", id, 'a' + i);
		snprintf(vnet.veth[i], sizeof(vnet.veth[i]), "lb%u%c", id, 'a' + i);
		snprintf(p->ip[i], sizeof(p->ip[i]), "10.%u.%u.%d", 100 + id / 256 % 100, id % 256,
			 i + 1);
	}
	if (!janitor_start()) { /* from here on, whatever exists is deleted at the end */
		snprintf(p->why, sizeof(p->why), "fork: %s", strerror(errno));
		return;
	}
	ok = ipf("netns add %s", vnet.ns[0]) && ipf("netns add %s", vnet.ns[1]) &&
	     ipf("link add %s type veth peer name %s", vnet.veth[0], vnet.veth[1]) &&
	     veth_side(p, 0) && veth_side(p, 1);
	for (int i = 0; ok && i < 2; i++) {
		snprintf(file, sizeof(file), "/var/run/netns/%s", vnet.ns[i]);
		p->ns_fd[i] = open(file, O_RDONLY | O_CLOEXEC);
		ok = p->ns_fd[i] >= 0;
	}
	if (!ok) {
		snprintf(p->why, sizeof(p->why), "cannot set up namespaces and a veth pair "
						 "(ip netns/ip link failed)");
		veth_down();
		return;
	}
	p->up = true;
}

static void path_close(struct path *p)
{
	for (int i = 0; i < 2; i++)
		if (p->ns_fd[i] >= 0)
			close(p->ns_fd[i]);
	if (!strcmp(p->name, "veth"))
		veth_down();
}

/* ---- running loom perf ------------------------------------------------------------ */

/* Start argv in namespace ns_fd (-1: this one) with stdout and/or stderr on
 * pipes (fd -1 when not wanted); it dies with this process. */
static pid_t spawn(char *const argv[], int ns_fd, int *out_fd, int *err_fd)
{
	int o[2] = { -1, -1 }, e[2] = { -1, -1 };
	pid_t pid;

	if ((out_fd && pipe(o)) || (err_fd && pipe(e)))
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out_fd ? o[1] : null, 1);
		dup2(err_fd ? e[1] : null, 2);
		if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		kid_add(pid);
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
	bool ok = waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;

	kid_del(pid);
	return ok;
}

/* One server + client run of `loom perf test --json` over path; the
 * client's figures. */
static struct figures perf_once(const char *loom, const char *provider, const struct path *path,
				const char *test, const char *size, const char *iters)
{
	char *sargv[] = { (char *)loom, "perf", (char *)test, "--provider", (char *)provider,
			  "--port", "0", "-s", (char *)size, "-n", (char *)iters, "--json", NULL };
	char port[16], json[8192];
	char *cargv[] = { (char *)loom, "perf", (char *)test, "--provider", (char *)provider,
			  "-p", port, "-s", (char *)size, "-n", (char *)iters, "--json",
			  (char *)path->ip[0], NULL };
	double deadline = now_s() + RUN_TIMEOUT_S;
	struct figures f = { 0 };
	int err_fd, out_fd = -1, p;
	pid_t s, c;

	if ((s = spawn(sargv, path->ns_fd[0], NULL, &err_fd)) < 0)
		return f;
	if ((p = server_port(err_fd, now_s() + 10)) < 0) {
		kill(s, SIGKILL);
		reap(s);
		close(err_fd);
		return f;
	}
	snprintf(port, sizeof(port), "%d", p);
	c = spawn(cargv, path->ns_fd[1], &out_fd, NULL);
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
	const struct path *path;
	struct figures runs[RUNS_MAX], med;
};

#define FABRIC "libfabric tcp"

/* The libfabric row of r's path and test, when it was measured. */
static const struct row *fabric_row(const struct row *rows, int n, const struct row *r)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].provider, FABRIC) && rows[i].path == r->path &&
		    !strcmp(rows[i].test, r->test))
			return rows[i].path->up && rows[i].med.ok ? &rows[i] : NULL;
	return NULL;
}

static void print_key(const struct row *r)
{
	printf("  %-14s %-5s %-9s %7s %6s", r->provider, r->path->name, r->test, r->size, r->iters);
}

static void print_bw(const struct row *r, double memcpy_med, const struct row *fab)
{
	print_key(r);
	if (!r->path->up) {
		printf(" not measured: %s\n", r->path->why);
		return;
	}
	printf(" %12.0f", r->med.bw_avg);
	if (r->med.bw_peak > 0)
		printf(" %12.0f", r->med.bw_peak);
	else
		printf(" %12s", "-"); /* the libfabric harness measures no peak */
	printf(" %10.2f", r->med.bw_avg / memcpy_med);
	if (fab)
		printf(" %11.2f", r->med.bw_avg / fab->med.bw_avg);
	else
		printf(" %11s", "-");
	printf("%s\n", r->med.ok ? "" : "  (a run FAILED)");
}

static void print_lat(const struct row *r, const struct row *fab)
{
	print_key(r);
	if (!r->path->up) {
		printf(" not measured: %s\n", r->path->why);
		return;
	}
	printf(" %8.2f %10.2f %8.2f %8.2f %9.2f", r->med.t_min, r->med.t_typical, r->med.t_avg,
	       r->med.t_p99, r->med.t_p999);
	if (fab)
		printf(" %11.2f", fab->med.t_typical / r->med.t_typical);
	else
		printf(" %11s", "-");
	printf("%s\n", r->med.ok ? "" : "  (a run FAILED)");
}

#include "fabric_tcp.h"

/* ---- main ------------------------------------------------------------------------ */

struct opts {
	int runs;
	char loom[PATH_MAX];
	bool shm, udp, lo, veth;
};

static bool parse(int argc, char **argv, struct opts *o)
{
	const char *slash = strrchr(argv[0], '/');

	*o = (struct opts){ .runs = 5, .shm = true, .udp = true, .lo = true, .veth = true };
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
		} else if (!strcmp(argv[i], "--paths") && v) {
			o->lo = strstr(v, "lo") != NULL;
			o->veth = strstr(v, "veth") != NULL;
			i++;
		} else {
			fprintf(stderr, "usage: bench_transport [--runs 1..%d] [--loom PATH] "
					"[--providers shm,udp] [--paths lo,veth]\n", RUNS_MAX);
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
#define ROWS_MAX (5 * N_TESTS) /* lo: shm, udp, libfabric; veth: udp, libfabric */

static enum fabric_test fabric_test_of(const char *test)
{
	return !strcmp(test, "write_bw") ? FABRIC_WRITE_BW
	       : !strcmp(test, "write_lat") ? FABRIC_WRITE_LAT : FABRIC_READ_LAT;
}

/* One libfabric run over r's path (fab_path points at its two sides). */
static struct figures fabric_on(const struct row *r)
{
#if FABRIC_HAVE_HEADERS
	for (int i = 0; i < 2; i++) {
		fab_path.node[i] = r->path->ip[i];
		fab_path.ns_fd[i] = r->path->ns_fd[i];
	}
#endif
	return fabric_run(fabric_test_of(r->test), (size_t)atoi(r->size), atoi(r->iters));
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

			if (!r->path->up)
				continue;
			if (!strcmp(r->provider, FABRIC))
				r->runs[run] = fabric_on(r);
			else
				r->runs[run] = perf_once(o->loom, r->provider, r->path, r->test,
							 r->size, r->iters);
		}
	}
	*memcpy_med = median(mc, o->runs);
	for (int i = 0; i < n_rows; i++) {
		if (!rows[i].path->up)
			continue;
		rows[i].med = figures_median(rows[i].runs, o->runs);
		failed += !rows[i].med.ok;
	}
	return failed;
}

static void report(const struct opts *o, struct row *rows, int n_rows, double memcpy_med,
		   const char *fabric_why)
{
	printf("loom perf, server and client processes; lo: both over 127.0.0.1; veth: one\n"
	       "network namespace each, joined by a veth pair (MTU 9000); medians of %d runs\n",
	       o->runs);
	printf("baseline: memcpy of a %d-byte message, one core: %.0f MiB/s\n", MEMCPY_BYTES,
	       memcpy_med);
	if (fabric_why[0])
		printf("baseline: libfabric tcp not measured: %s\n", fabric_why);
	printf("\n  %-14s %-5s %-9s %7s %6s %12s %12s %10s %11s\n", "provider", "path", "test",
	       "bytes", "iters", "BW avg MiB/s", "BW peak", "/ memcpy", "/ libfabric");
	for (int i = 0; i < n_rows; i++)
		if (!strcmp(rows[i].test, "write_bw"))
			print_bw(&rows[i], memcpy_med, fabric_row(rows, n_rows, &rows[i]));
	printf("\n  %-14s %-5s %-9s %7s %6s %8s %10s %8s %8s %9s %11s\n", "provider", "path",
	       "test", "bytes", "iters", "t_min", "t_typical", "t_avg", "99%", "99.9%",
	       "libfabric/");
	printf("  %-14s %-5s %-9s %7s %6s %8s %10s %8s %8s %9s %11s\n", "", "", "", "", "",
	       "[usec]", "", "", "", "", "this");
	for (int i = 0; i < n_rows; i++)
		if (strcmp(rows[i].test, "write_bw"))
			print_lat(&rows[i], fabric_row(rows, n_rows, &rows[i]));
	printf("\nwrite_lat: half the round trip; read_lat: the whole (perftest).  Targets: shm\n"
	       "write_bw >= 0.5 x memcpy; udp faster than libfabric tcp on the same path\n"
	       "(ratios > 1).\n");
}

/* The rows of one path: its providers (shm only on lo) and libfabric. */
static int rows_of(const struct opts *o, const struct path *p, bool fabric, struct row *rows)
{
	const char *prov[3];
	int n_prov = 0, n = 0;

	if (o->shm && !strcmp(p->name, "lo"))
		prov[n_prov++] = "shm";
	if (o->udp)
		prov[n_prov++] = "udp";
	if (fabric && n_prov)
		prov[n_prov++] = FABRIC;
	for (int i = 0; i < n_prov; i++)
		for (size_t t = 0; t < N_TESTS; t++)
			rows[n++] = (struct row){ .provider = prov[i], .path = p,
						  .test = tests[t][0], .size = tests[t][1],
						  .iters = tests[t][2] };
	return n;
}

int main(int argc, char **argv)
{
	struct opts o;
	static struct row rows[ROWS_MAX];
	struct path lo = { .name = "lo", .up = true, .ns_fd = { -1, -1 },
			   .ip = { "127.0.0.1", "127.0.0.1" } };
	struct path veth = { .name = "veth", .ns_fd = { -1, -1 } };
	char fabric_why[200] = "";
	int n_rows = 0, failed;
	double memcpy_med;
	bool fabric;

	if (!parse(argc, argv, &o))
		return 2;
	if (access(o.loom, X_OK)) {
		fprintf(stderr, "bench_transport: %s: %s (build it: make all)\n", o.loom,
			strerror(errno));
		return 1;
	}
	signals_catch();
	atexit(veth_down);
	fabric = fabric_available(fabric_why, sizeof(fabric_why));
	if (o.veth && o.udp)
		veth_up(&veth);
	if (o.lo)
		n_rows += rows_of(&o, &lo, fabric, rows + n_rows);
	if (o.veth)
		n_rows += rows_of(&o, &veth, fabric, rows + n_rows);
	failed = measure(&o, rows, n_rows, &memcpy_med);
	path_close(&veth);
	report(&o, rows, n_rows, memcpy_med, fabric_why);
	if (o.udp)
		crc_report(o.runs);
	if (failed)
		printf("\n%d row(s) had a failed run (see above)\n", failed);
	return failed ? 1 : 0;
}

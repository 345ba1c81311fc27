/*
 * test_bootstrap.c - the bootstrap (runtime/bootstrap): the wire header
 * codec against hand-written bytes, the world-of-one and local back-ends,
 * bad arguments and environment, then jobs of real processes forked on
 * this machine talking over 127.0.0.1: all-gather / barrier / get results
 * against values each rank computes independently, a rank 0 that comes up
 * late, malformed and hostile clients, a rank killed with SIGKILL, rank 0
 * killed, a rank that never arrives, and mismatched collectives.
 *
 * Children record what happened in a shared anonymous mapping and exit;
 * the parent decides (a child's exit status must be 0, so a sanitizer
 * report in a child fails the case).  Every child has an alarm() and the
 * parent kills whatever outlives its deadline, so a hang is a failure,
 * never a stuck test.  The MPI back-end is in test_bootstrap_mpi.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/bootstrap/boot_wire.h"
#include "loom/bootstrap.h"
#include "loom/err.h"
#include "lt.h"

#define MAX_RANKS 8
#define CHECK_FAILED (-100000) /* a child's own expectation failed (see check[]) */
#define JOB_DEADLINE_MS 15000  /* the parent kills children after this */
#define DETECT_LIMIT_MS 10000  /* the bound on detecting a dead rank */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- forked jobs ------------------------------------------------------------- */

struct rank_res {
	_Atomic int joined; /* boot_init returned a handle */
	int finished;	   /* the child got to the end of child_run */
	int rc;		   /* the first failing call's return, or CHECK_FAILED, or 0 */
	char msg[512];	   /* loom_err_msg() of that call */
	char check[256];   /* a failed expectation inside the child */
	double t_start_ms; /* when the body started */
	double t_fail_ms;  /* when rc was returned */
	int finalize_rc;
};

struct shm {
	_Atomic int port; /* rank 0's port once listening; -1: rank 0 failed */
	double t_kill_ms; /* when a rank killed itself */
	struct rank_res res[MAX_RANKS];
};

struct scen {
	int world;
	int timeout_ms;	 /* every rank ... */
	int timeout0_ms; /* ... except rank 0 when > 0 */
	int port;	 /* fixed port, or 0: rank 0 picks one and publishes it */
	bool odd_via_env; /* odd ranks start through boot_init_env() */
	bool has_victim;  /* rank `victim` SIGKILLs itself; every other child */
	int victim;	  /* must exit 0 (a sanitizer report would not) */
	int (*body)(struct shm *sh, struct boot *b, struct rank_res *res);
};

static struct shm *shm_new(void)
{
	struct shm *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0);

	if (sh == MAP_FAILED)
		abort();
	memset(sh, 0, sizeof(*sh));
	atomic_store(&sh->port, 0);
	return sh;
}

static void shm_free(struct shm *sh)
{
	munmap(sh, sizeof(*sh));
}

/* Record a failing call (or a failed expectation) in the child. */
static int child_fail(struct rank_res *res, int rc)
{
	res->rc = rc;
	res->t_fail_ms = now_ms();
	snprintf(res->msg, sizeof(res->msg), "%s", loom_err_msg());
	return rc;
}

static int child_check(struct rank_res *res, const char *what)
{
	snprintf(res->check, sizeof(res->check), "%s", what);
	return child_fail(res, CHECK_FAILED);
}

static struct boot *child_init(struct shm *sh, const struct scen *sc, int rank, int port)
{
	int tmo = rank == 0 && sc->timeout0_ms > 0 ? sc->timeout0_ms : sc->timeout_ms;
	struct boot_config cfg = { .rank = rank, .world_size = sc->world,
				   .master_addr = "127.0.0.1", .master_port = port,
				   .timeout_ms = tmo };
	char v[32];

	(void)sh;
	if (!sc->odd_via_env || rank % 2 == 0)
		return boot_init_tcp(&cfg);
	setenv("LOOM_BOOTSTRAP", "auto", 1);
	snprintf(v, sizeof(v), "%d", rank);
	setenv("LOOM_RANK", v, 1);
	snprintf(v, sizeof(v), "%d", sc->world);
	setenv("LOOM_WORLD_SIZE", v, 1);
	setenv("LOOM_MASTER_ADDR", "127.0.0.1", 1);
	snprintf(v, sizeof(v), "%d", port);
	setenv("LOOM_MASTER_PORT", v, 1);
	snprintf(v, sizeof(v), "%.3f", tmo / 1e3);
	setenv("LOOM_BOOTSTRAP_TIMEOUT", v, 1);
	return boot_init_env();
}

static void child_run(struct shm *sh, const struct scen *sc, int rank)
{
	struct rank_res *res = &sh->res[rank];
	int port = sc->port ? sc->port : rank == 0 ? 0 : atomic_load(&sh->port);
	struct boot *b;

	alarm(JOB_DEADLINE_MS / 1000 + 5); /* never outlive a broken parent */
	res->t_start_ms = now_ms();
	b = child_init(sh, sc, rank, port);
	if (rank == 0 && !sc->port)
		atomic_store(&sh->port, b ? boot_master_port(b) : -1);
	if (!b) {
		child_fail(res, -1);
		res->finished = 1;
		_exit(0);
	}
	atomic_store(&res->joined, 1);
	res->t_start_ms = now_ms();
	if (sc->body(sh, b, res) == 0)
		res->finalize_rc = boot_finalize(b);
	else
		boot_finalize(b); /* dead handle: frees, the error is already recorded */
	if (res->finalize_rc)
		child_fail(res, res->finalize_rc);
	res->finished = 1;
	exit(0); /* not _exit: LeakSanitizer checks the child (stdout was flushed before fork) */
}

static pid_t spawn_rank(struct shm *sh, const struct scen *sc, int rank)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0)
		child_run(sh, sc, rank);
	return pid;
}

static bool wait_port(struct shm *sh)
{
	double end = now_ms() + 5000;

	while (atomic_load(&sh->port) == 0 && now_ms() < end)
		sleep_ms(1);
	return atomic_load(&sh->port) > 0;
}

/* Wait for n children until the deadline, then kill the rest (a failure). */
static void reap(struct lt *t, pid_t *pids, int n, int *status, double deadline_ms)
{
	int left = n;

	for (int i = 0; i < n; i++)
		status[i] = -1;
	while (left > 0 && now_ms() < deadline_ms) {
		for (int i = 0; i < n; i++)
			if (status[i] == -1 && pids[i] > 0 &&
			    waitpid(pids[i], &status[i], WNOHANG) == pids[i])
				left--;
		if (left)
			sleep_ms(2);
	}
	for (int i = 0; i < n; i++)
		if (status[i] == -1 && pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status[i], 0);
			LT_CHECK(t, false, "rank %d still running after %d ms: killed (a hang)", i,
				 JOB_DEADLINE_MS);
		}
}

/* Start ranks 0..nrun-1 (rank 0 first; it publishes its port) and reap. */
static void run_job(struct lt *t, struct shm *sh, const struct scen *sc, int nrun, int *status)
{
	pid_t pids[MAX_RANKS] = { 0 };
	double deadline = now_ms() + JOB_DEADLINE_MS;

	pids[0] = spawn_rank(sh, sc, 0);
	if (!wait_port(sh)) {
		LT_CHECK(t, false, "rank 0 did not start listening: %s", sh->res[0].msg);
		nrun = 1;
	}
	for (int r = 1; r < nrun; r++)
		pids[r] = spawn_rank(sh, sc, r);
	reap(t, pids, nrun, status, deadline);
	for (int r = 0; r < nrun; r++)
		if (!(sc->has_victim && r == sc->victim))
			LT_CHECK(t, WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0 &&
					    sh->res[r].finished, "rank %d ended with status 0x%x", r,
				 status[r]);
}

/* Every rank of a job that should succeed did. */
static void expect_all_ok(struct lt *t, struct shm *sh, int n, const int *status)
{
	for (int r = 0; r < n; r++) {
		const struct rank_res *res = &sh->res[r];

		LT_CHECK(t, res->finished && WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0,
			 "rank %d did not finish (status 0x%x)", r, status[r]);
		LT_CHECK(t, res->rc == 0, "rank %d: rc %d: %s %s", r, res->rc, res->check,
			 res->msg);
	}
}

/* ---- job bodies (run in each child) --------------------------------------------- */

/* Byte i of rank r's blob in exchange number salt: a formula every rank
 * evaluates on its own, so a gathered slot is checked without trusting
 * the bootstrap. */
static uint8_t blob_byte(int r, size_t i, int salt)
{
	return (uint8_t)(r * 131 + (int)(i % 251) * 7 + salt * 29 + (int)(i >> 8));
}

static int check_gathered(struct rank_res *res, const uint8_t *all, int world, size_t len,
			  int salt)
{
	char what[160];

	for (int j = 0; j < world; j++)
		for (size_t i = 0; i < len; i++)
			if (all[(size_t)j * len + i] != blob_byte(j, i, salt)) {
				snprintf(what, sizeof(what), "allgather salt %d: rank %d's slot, byte "
					 "%zu is %u, want %u", salt, j, i, all[(size_t)j * len + i],
					 blob_byte(j, i, salt));
				return child_check(res, what);
			}
	return 0;
}

static int gather_and_check(struct boot *b, struct rank_res *res, size_t len, int salt)
{
	int w = boot_world_size(b), rc;
	uint8_t *mine = malloc(len), *all = malloc(len * (size_t)w);

	if (!mine || !all)
		abort();
	for (size_t i = 0; i < len; i++)
		mine[i] = blob_byte(boot_rank(b), i, salt);
	memset(all, 0xee, len * (size_t)w); /* poison */
	rc = boot_allgather(b, mine, all, len);
	rc = rc ? child_fail(res, rc) : check_gathered(res, all, w, len, salt);
	free(mine);
	free(all);
	return rc;
}

/* Every rank publishes "addr/<r>" and reads everyone's. */
static int exchange_keys(struct boot *b, struct rank_res *res)
{
	int r = boot_rank(b), w = boot_world_size(b), rc;
	char key[32], val[64], want[64], got[64], what[200];
	size_t len = 0;

	snprintf(key, sizeof(key), "addr/%d", r);
	snprintf(val, sizeof(val), "qpn=%d;gid=fe80::%x", r * 1000 + 7, r + 1);
	rc = boot_set(b, key, val, strlen(val));
	if (rc)
		return child_fail(res, rc);
	for (int j = w - 1; j >= 0; j--) {
		snprintf(key, sizeof(key), "addr/%d", j);
		snprintf(want, sizeof(want), "qpn=%d;gid=fe80::%x", j * 1000 + 7, j + 1);
		memset(got, 0, sizeof(got));
		rc = boot_get(b, key, got, sizeof(got) - 1, &len);
		if (rc)
			return child_fail(res, rc);
		if (len != strlen(want) || strcmp(got, want) != 0) {
			snprintf(what, sizeof(what), "get %s: '%s' (%zu bytes), want '%s'", key, got,
				 len, want);
			return child_check(res, what);
		}
	}
	/* Too small a buffer: -EMSGSIZE with the real length; handle usable. */
	snprintf(key, sizeof(key), "addr/%d", (r + 1) % w);
	rc = boot_get(b, key, got, 2, &len);
	if (rc != -EMSGSIZE || len < 10 || boot_check(b) != 0)
		return child_check(res, "get into a 2-byte buffer: want -EMSGSIZE and the length");
	return 0;
}

/* A key rank 0 overwrites between barriers: readers see each version. */
static int overwrite_key(struct boot *b, struct rank_res *res)
{
	static const char *versions[] = { "one", "second" };
	char got[16];
	size_t len;
	int rc;

	for (int v = 0; v < 2; v++) {
		if (boot_rank(b) == 0 && (rc = boot_set(b, "epoch", versions[v], strlen(versions[v]))))
			return child_fail(res, rc);
		if ((rc = boot_barrier(b)))
			return child_fail(res, rc);
		memset(got, 0, sizeof(got));
		if ((rc = boot_get(b, "epoch", got, sizeof(got) - 1, &len)))
			return child_fail(res, rc);
		if (strcmp(got, versions[v]) != 0 || len != strlen(versions[v]))
			return child_check(res, "epoch key: a reader saw the wrong version");
		if ((rc = boot_barrier(b)))
			return child_fail(res, rc);
	}
	return 0;
}

/* The largest value (1 MiB), set by the last rank, read by every rank. */
static int big_value(struct boot *b, struct rank_res *res)
{
	uint8_t *v = malloc(BOOT_VALUE_MAX);
	size_t len = 0;
	int rc = 0;

	if (!v)
		abort();
	for (size_t i = 0; i < BOOT_VALUE_MAX; i++)
		v[i] = blob_byte(0, i, 5);
	if (boot_rank(b) == boot_world_size(b) - 1)
		rc = boot_set(b, "big", v, BOOT_VALUE_MAX);
	memset(v, 0, BOOT_VALUE_MAX);
	if (!rc)
		rc = boot_get(b, "big", v, BOOT_VALUE_MAX, &len);
	if (rc)
		rc = child_fail(res, rc);
	else if (len != BOOT_VALUE_MAX)
		rc = child_check(res, "1 MiB value: wrong length");
	else
		rc = check_gathered(res, v, 1, BOOT_VALUE_MAX, 5);
	free(v);
	return rc;
}

static int body_basic(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int rc;

	(void)sh;
	if (strcmp(boot_backend_name(b), "tcp") != 0)
		return child_check(res, "backend is not tcp");
	if ((rc = gather_and_check(b, res, 24, 1)))
		return rc;
	if ((rc = boot_barrier(b)))
		return child_fail(res, rc);
	if ((rc = exchange_keys(b, res)) || (rc = overwrite_key(b, res)))
		return rc;
	/* 256 KiB per rank: the server's replies go out in many partial writes. */
	if ((rc = gather_and_check(b, res, 256 << 10, 2)) || (rc = big_value(b, res)))
		return rc;
	if ((rc = gather_and_check(b, res, 1, 3)))
		return rc;
	return (rc = boot_barrier(b)) ? child_fail(res, rc) : 0;
}

/* All-gather + barrier only (short jobs). */
static int body_gather(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int rc;

	(void)sh;
	if ((rc = gather_and_check(b, res, 40, 4)))
		return rc;
	return (rc = boot_barrier(b)) ? child_fail(res, rc) : 0;
}

/* A barrier that must fail: another rank breaks the job. */
static int body_barrier_fails(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int rc = boot_barrier(b);

	(void)sh;
	return rc ? child_fail(res, rc) : child_check(res, "barrier succeeded in a broken job");
}

/* Poll boot_check() outside any call until it reports the job dead. */
static int wait_check(struct boot *b, struct rank_res *res)
{
	double end = now_ms() + 12000;
	int rc;

	while ((rc = boot_check(b)) == 0 && now_ms() < end)
		sleep_ms(5);
	return rc ? child_fail(res, rc) : child_check(res, "boot_check never saw the death");
}

static int kill_victim; /* set by the parent before forking */

/* After one barrier the victim kills itself; the survivors are caught in
 * three different states: in a barrier, in a get of a key nobody will set,
 * and between calls (polling boot_check). */
static int body_kill(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int r = boot_rank(b), role = r - (r > kill_victim), rc;
	char buf[8];

	if ((rc = boot_barrier(b)))
		return child_fail(res, rc);
	if (r == kill_victim) {
		sleep_ms(100); /* let the others reach their waiting states */
		sh->t_kill_ms = now_ms();
		raise(SIGKILL);
	}
	if (role == 2)
		return wait_check(b, res);
	rc = role == 1 ? boot_get(b, "never-set", buf, sizeof(buf), NULL) : boot_barrier(b);
	return rc ? child_fail(res, rc) : child_check(res, "survived a dead rank");
}

/* Rank 1 waits for a key nobody sets; rank 0 waits in a barrier. */
static int body_get_timeout(struct shm *sh, struct boot *b, struct rank_res *res)
{
	char buf[8];
	int rc;

	if (boot_rank(b) == 0)
		return body_barrier_fails(sh, b, res);
	rc = boot_get(b, "never-set", buf, sizeof(buf), NULL);
	return rc ? child_fail(res, rc) : child_check(res, "get of a missing key succeeded");
}

/* Rank 0 enters a barrier, rank 1 an all-gather. */
static int body_mismatch(struct shm *sh, struct boot *b, struct rank_res *res)
{
	uint8_t mine[8] = { 0 }, all[16];
	int rc;

	if (boot_rank(b) == 0)
		return body_barrier_fails(sh, b, res);
	rc = boot_allgather(b, mine, all, sizeof(mine));
	return rc ? child_fail(res, rc) : child_check(res, "mismatched allgather succeeded");
}

/* After a first barrier the last rank finalizes, cleanly; the others
 * wait for it in a second one. */
static int body_finalize_early(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int rc = boot_barrier(b);

	if (rc)
		return child_fail(res, rc);
	if (boot_rank(b) == boot_world_size(b) - 1)
		return 0;
	return body_barrier_fails(sh, b, res);
}

/* Once all have joined (a barrier), rank 1 aborts on purpose. */
static int body_abort(struct shm *sh, struct boot *b, struct rank_res *res)
{
	int rc = boot_barrier(b);

	if (rc)
		return child_fail(res, rc);
	if (boot_rank(b) != 1)
		return body_barrier_fails(sh, b, res);
	if ((rc = boot_abort(b, "disk on fire")))
		return child_fail(res, rc);
	rc = boot_barrier(b); /* dead handle: replays the abort */
	if (rc != -ECONNABORTED || !strstr(loom_err_msg(), "disk on fire"))
		return child_check(res, "a call after boot_abort did not replay the abort");
	return child_fail(res, rc);
}

/* ---- raw sockets: a client that does not follow the protocol ---------------------- */

/* A port nobody listens on right now (bind 0, read it back, close). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &sl) < 0)
		abort();
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 3, 0 }; /* no reply within 3 s: a failure, not a hang */
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A header laid out by hand (big-endian), independently of wire.c. */
static void raw_hdr(uint8_t h[16], uint32_t magic, unsigned version, unsigned type, uint32_t arg,
		    uint32_t len)
{
	const uint32_t words[4] = { magic, (uint32_t)version << 16 | type, arg, len };

	for (int w = 0; w < 4; w++)
		for (int i = 0; i < 4; i++)
			h[4 * w + i] = (uint8_t)(words[w] >> (24 - 8 * i));
}

static void raw_send(int fd, const void *p, size_t n)
{
	send(fd, p, n, MSG_NOSIGNAL); /* the server may have closed already */
}

static size_t raw_recv(int fd, void *buf, size_t n)
{
	size_t have = 0;

	while (have < n) {
		ssize_t r = recv(fd, (char *)buf + have, n - have, 0);

		if (r <= 0)
			break;
		have += (size_t)r;
	}
	return have;
}

/* Read one message: its type and (text) payload.  false: nothing came. */
static bool raw_reply(int fd, unsigned *type, char *text, size_t cap)
{
	uint8_t h[16];
	uint32_t len;

	if (raw_recv(fd, h, 16) != 16 || memcmp(h, "LMBS", 4) != 0)
		return false;
	*type = (unsigned)h[6] << 8 | h[7];
	len = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
	if (len >= cap)
		return false;
	text[raw_recv(fd, text, len)] = '\0';
	return true;
}

/* After refusing us the server closes: EOF (or a reset), not silence. */
static bool raw_closed(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, 0);

	return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* Send bytes as a stranger; expect ERROR containing want, then close. */
static void expect_rejected(struct lt *t, int port, const char *label, const void *msg,
			    size_t n, const char *want)
{
	char text[1100];
	unsigned type = 0;
	int fd = raw_connect(port);

	LT_CHECK(t, fd >= 0, "%s: connect failed", label);
	if (fd < 0)
		return;
	raw_send(fd, msg, n);
	if (!raw_reply(fd, &type, text, sizeof(text))) {
		LT_CHECK(t, false, "%s: no reply", label);
	} else {
		LT_CHECK(t, type == 0x86 && strstr(text, want), "%s: got type 0x%x '%s', want ERROR "
			 "with '%s'", label, type, text, want);
		LT_CHECK(t, raw_closed(fd), "%s: the server did not close the connection", label);
	}
	close(fd);
}

/* A HELLO by hand: rank in arg, payload world and pid. */
static size_t raw_hello(uint8_t *m, unsigned rank, uint32_t world, uint32_t len)
{
	raw_hdr(m, 0x4C4D4253u, 1, 1, rank, len);
	for (int i = 0; i < 4; i++) {
		m[16 + i] = (uint8_t)(world >> (24 - 8 * i));
		m[20 + i] = (uint8_t)(4242 >> (24 - 8 * i));
	}
	return 16 + len;
}

/* ---- cases: wire format and single process -------------------------------------- */

static void test_wire_header(struct lt *t)
{
	static const uint8_t want[16] = { 'L', 'M', 'B', 'S', 0, 1, 0, 5, 1, 2, 3, 4, 0, 0, 0x0a,
					  0x0b };
	struct {
		unsigned type;
		uint32_t len;
		bool to_server;
		int err;
	} cases[] = {
		{ BOOT_MSG_HELLO, 8, true, 0 },
		{ BOOT_MSG_HELLO, 7, true, -EPROTO },
		{ BOOT_MSG_HELLO, 9, true, -EMSGSIZE },
		{ BOOT_MSG_SET, 2 + BOOT_KEY_MAX + BOOT_VALUE_MAX, true, 0 },
		{ BOOT_MSG_SET, 3 + BOOT_KEY_MAX + BOOT_VALUE_MAX, true, -EMSGSIZE },
		{ BOOT_MSG_GET, 0, true, -EPROTO },
		{ BOOT_MSG_GATHER, BOOT_VALUE_MAX + 1, true, -EMSGSIZE },
		{ BOOT_MSG_GATHERED, BOOT_GATHER_MAX, false, 0 },
		{ BOOT_MSG_GATHERED, BOOT_GATHER_MAX + 1, false, -EMSGSIZE },
		{ BOOT_MSG_GATHERED, 0, true, -EPROTO }, /* a reply sent to the server */
		{ BOOT_MSG_GET, 3, false, -EPROTO },	 /* a request sent to a client */
		{ 0, 0, true, -EPROTO },
		{ 0x55, 0, false, -EPROTO },
		{ 0xffff, 0xffffffffu, true, -EPROTO },
	};
	struct boot_wire_hdr h;
	uint8_t buf[16];

	boot_wire_hdr_encode(buf, BOOT_MSG_GATHER, 0x01020304, 0x0a0b);
	LT_CHECK(t, memcmp(buf, want, 16) == 0, "encoded header differs from the layout");
	LT_CHECK(t, boot_wire_hdr_decode(want, true, &h) == 0 && h.type == BOOT_MSG_GATHER &&
			    h.arg == 0x01020304 && h.len_bytes == 0x0a0b, "decode: %s", loom_err_msg());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		raw_hdr(buf, 0x4C4D4253u, 1, cases[i].type, 0, cases[i].len);
		rc = boot_wire_hdr_decode(buf, cases[i].to_server, &h);
		LT_CHECK(t, rc == cases[i].err, "case %zu (%s, %u bytes): rc %d, want %d (%s)", i,
			 boot_msg_name(cases[i].type), cases[i].len, rc, cases[i].err, loom_err_msg());
	}
	raw_hdr(buf, 0x4C4D4254u, 1, BOOT_MSG_BYE, 0, 0);
	LT_CHECK(t, boot_wire_hdr_decode(buf, true, &h) == -EPROTO &&
			    strstr(loom_err_msg(), "bad magic"), "magic: %s", loom_err_msg());
	raw_hdr(buf, 0x4C4D4253u, 2, BOOT_MSG_BYE, 0, 0);
	LT_CHECK(t, boot_wire_hdr_decode(buf, true, &h) == -EPROTO &&
			    strstr(loom_err_msg(), "version 2"), "version: %s", loom_err_msg());
	LT_CHECK(t, strcmp(boot_msg_name(0x42), "type 0x42") == 0, "unknown type name");
}

static void test_wire_keys(struct lt *t)
{
	char k[BOOT_KEY_MAX + 2];

	memset(k, 'k', sizeof(k));
	LT_CHECK(t, boot_wire_key_valid("a", 1) && boot_wire_key_valid(" ~", 2), "short keys");
	LT_CHECK(t, boot_wire_key_valid(k, BOOT_KEY_MAX), "a %d-byte key", BOOT_KEY_MAX);
	LT_CHECK(t, !boot_wire_key_valid(k, BOOT_KEY_MAX + 1), "a key over the limit");
	LT_CHECK(t, !boot_wire_key_valid("", 0), "the empty key");
	LT_CHECK(t, !boot_wire_key_valid("a\nb", 3) && !boot_wire_key_valid("\x7f", 1) &&
			    !boot_wire_key_valid("\xc3\xa9", 2), "non-printable keys");
}

/* Calls every back-end must answer the same way on a world of one. */
static void check_world1(struct lt *t, struct boot *b)
{
	uint8_t mine[16], all[16];
	char got[16];
	size_t len = 0;

	for (int i = 0; i < 16; i++)
		mine[i] = (uint8_t)(3 * i + 1);
	LT_CHECK(t, boot_rank(b) == 0 && boot_world_size(b) == 1, "rank/world");
	LT_CHECK(t, boot_allgather(b, mine, all, 16) == 0 && memcmp(all, mine, 16) == 0,
		 "allgather of one: %s", loom_err_msg());
	LT_CHECK(t, boot_barrier(b) == 0, "barrier: %s", loom_err_msg());
	LT_CHECK(t, boot_set(b, "k", "v1", 2) == 0 && boot_set(b, "k", "value2", 6) == 0,
		 "set: %s", loom_err_msg());
	memset(got, 0, sizeof(got));
	LT_CHECK(t, boot_get(b, "k", got, sizeof(got), &len) == 0 && len == 6 &&
			    memcmp(got, "value2", 6) == 0, "get after overwrite: '%s' (%zu)", got, len);
	LT_CHECK(t, boot_get(b, "k", got, 3, &len) == -EMSGSIZE && len == 6,
		 "small buffer: %s", loom_err_msg());
	LT_CHECK(t, boot_set(b, "empty", NULL, 0) == 0 && boot_get(b, "empty", NULL, 0, &len) == 0 &&
			    len == 0, "empty value: %s", loom_err_msg());
	LT_CHECK(t, boot_check(b) == 0, "check: %s", loom_err_msg());
}

static void test_world1_tcp(struct lt *t)
{
	struct boot_config cfg = { .rank = 0, .world_size = 1, .master_addr = "127.0.0.1",
				   .master_port = 0, .timeout_ms = 400 };
	struct boot *b = boot_init_tcp(&cfg);
	double t0;
	char buf[4];
	int rc;

	LT_CHECK(t, b != NULL, "init: %s", loom_err_msg());
	if (!b)
		return;
	LT_CHECK(t, strcmp(boot_backend_name(b), "tcp") == 0 && boot_master_port(b) > 0,
		 "backend %s port %d", boot_backend_name(b), boot_master_port(b));
	check_world1(t, b);
	LT_CHECK(t, boot_finalize(b) == 0, "finalize: %s", loom_err_msg());

	/* A get nobody answers times out, names the key, and kills the handle. */
	b = boot_init_tcp(&cfg);
	LT_CHECK(t, b != NULL, "init: %s", loom_err_msg());
	if (!b)
		return;
	t0 = now_ms();
	rc = boot_get(b, "missing", buf, sizeof(buf), NULL);
	LT_CHECK(t, rc == -ETIMEDOUT && strstr(loom_err_msg(), "get 'missing' timed out"),
		 "rc %d: %s", rc, loom_err_msg());
	LT_CHECK(t, now_ms() - t0 >= 380 && now_ms() - t0 < 3000, "timed out after %.0f ms",
		 now_ms() - t0);
	LT_CHECK(t, boot_barrier(b) == -ETIMEDOUT && strstr(loom_err_msg(), "get 'missing'"),
		 "a dead handle replays its error: %s", loom_err_msg());
	LT_CHECK(t, boot_finalize(b) == -ETIMEDOUT, "finalize of a dead handle");
}

static void clear_env(void)
{
	static const char *vars[] = { "LOOM_BOOTSTRAP", "LOOM_RANK", "LOOM_WORLD_SIZE",
				      "LOOM_MASTER_ADDR", "LOOM_MASTER_PORT",
				      "LOOM_BOOTSTRAP_TIMEOUT", "OMPI_COMM_WORLD_SIZE",
				      "OMPI_COMM_WORLD_RANK", "PMIX_RANK" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void test_world1_local(struct lt *t)
{
	struct boot *b;
	char buf[4];

	clear_env();
	b = boot_init_env(); /* nothing set: a world of one */
	LT_CHECK(t, b && strcmp(boot_backend_name(b), "local") == 0, "init_env: %s",
		 b ? boot_backend_name(b) : loom_err_msg());
	if (!b)
		return;
	check_world1(t, b);
	LT_CHECK(t, boot_get(b, "missing", buf, sizeof(buf), NULL) == -ENOENT &&
			    boot_check(b) == 0, "missing key in a world of one: %s", loom_err_msg());
	LT_CHECK(t, boot_finalize(b) == 0, "finalize: %s", loom_err_msg());
}

static void test_bad_args(struct lt *t)
{
	struct boot *b = boot_init_local();
	char longkey[BOOT_KEY_MAX + 2], buf[8];
	uint8_t x[64];

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	LT_CHECK(t, boot_barrier(NULL) == -EINVAL && boot_check(NULL) == -EINVAL &&
			    boot_finalize(NULL) == 0 && boot_rank(NULL) == -1, "NULL handle");
	if (!b)
		return;
	LT_CHECK(t, boot_set(b, NULL, "v", 1) == -EINVAL, "NULL key");
	LT_CHECK(t, boot_set(b, "", "v", 1) == -EINVAL, "empty key");
	LT_CHECK(t, boot_set(b, "a\tb", "v", 1) == -EINVAL, "control character in a key");
	LT_CHECK(t, boot_set(b, longkey, "v", 1) == -EINVAL, "key over %d bytes", BOOT_KEY_MAX);
	LT_CHECK(t, boot_set(b, "k", NULL, 4) == -EINVAL, "NULL value");
	LT_CHECK(t, boot_set(b, "k", x, BOOT_VALUE_MAX + 1) == -EMSGSIZE, "value over the limit");
	LT_CHECK(t, boot_get(b, "k", NULL, 4, NULL) == -EINVAL, "NULL get buffer");
	LT_CHECK(t, boot_get(b, "", buf, 4, NULL) == -EINVAL, "get of the empty key");
	LT_CHECK(t, boot_allgather(b, x, x + 32, 0) == -EINVAL, "allgather of 0 bytes");
	LT_CHECK(t, boot_allgather(b, NULL, x, 4) == -EINVAL, "allgather of NULL");
	LT_CHECK(t, boot_allgather(b, x, x + 2, 4) == -EINVAL, "overlapping allgather buffers");
	LT_CHECK(t, boot_allgather(b, x, x + 32, BOOT_VALUE_MAX + 1) == -EMSGSIZE,
		 "allgather over the per-rank limit");
	LT_CHECK(t, boot_barrier(b) == 0 && boot_check(b) == 0,
		 "bad arguments must leave the handle usable: %s", loom_err_msg());
	LT_CHECK(t, boot_finalize(b) == 0, "finalize");
}

static void expect_init_fails(struct lt *t, const struct boot_config *cfg, const char *want)
{
	struct boot *b = boot_init_tcp(cfg);

	LT_CHECK(t, !b && strstr(loom_err_msg(), want), "want an error with '%s', got %s", want,
		 b ? "a handle" : loom_err_msg());
	boot_finalize(b);
}

static void test_bad_config(struct lt *t)
{
	struct boot_config ok = { .rank = 1, .world_size = 4, .master_addr = "127.0.0.1",
				  .master_port = 29500, .timeout_ms = 100 };
	struct boot_config c;

	LT_CHECK(t, boot_init_tcp(NULL) == NULL, "NULL config");
	c = ok, c.rank = 4;
	expect_init_fails(t, &c, "need 0 <= rank < world size");
	c = ok, c.rank = -1;
	expect_init_fails(t, &c, "need 0 <= rank < world size");
	c = ok, c.world_size = BOOT_WORLD_MAX + 1;
	expect_init_fails(t, &c, "world size");
	c = ok, c.master_port = 0;
	expect_init_fails(t, &c, "only on rank 0");
	c = ok, c.master_port = 70000;
	expect_init_fails(t, &c, "master_port 70000");
	c = ok, c.master_addr = NULL;
	expect_init_fails(t, &c, "master_addr");
	c = ok, c.master_addr = "";
	expect_init_fails(t, &c, "master_addr");
}

static void expect_env_fails(struct lt *t, const char *want)
{
	struct boot *b = boot_init_env();

	LT_CHECK(t, !b && strstr(loom_err_msg(), want), "want an error with '%s', got %s", want,
		 b ? boot_backend_name(b) : loom_err_msg());
	boot_finalize(b);
}

static void test_bad_env(struct lt *t)
{
	clear_env();
	setenv("LOOM_BOOTSTRAP", "bogus", 1);
	expect_env_fails(t, "LOOM_BOOTSTRAP='bogus'");
	setenv("LOOM_BOOTSTRAP", "tcp", 1);
	expect_env_fails(t, "LOOM_RANK is not set");
	setenv("LOOM_RANK", "1", 1);
	setenv("LOOM_WORLD_SIZE", "4", 1);
	setenv("LOOM_MASTER_ADDR", "127.0.0.1", 1);
	expect_env_fails(t, "LOOM_MASTER_PORT is not set");
	setenv("LOOM_MASTER_PORT", "99999", 1);
	expect_env_fails(t, "LOOM_MASTER_PORT='99999'");
	setenv("LOOM_MASTER_PORT", "29500", 1);
	setenv("LOOM_RANK", "4", 1);
	expect_env_fails(t, "LOOM_RANK='4'");
	setenv("LOOM_RANK", "1x", 1);
	expect_env_fails(t, "LOOM_RANK='1x'");
	setenv("LOOM_RANK", "1", 1);
	setenv("LOOM_WORLD_SIZE", "0", 1);
	expect_env_fails(t, "LOOM_WORLD_SIZE='0'");
	setenv("LOOM_WORLD_SIZE", "4", 1);
	setenv("LOOM_BOOTSTRAP_TIMEOUT", "abc", 1);
	expect_env_fails(t, "LOOM_BOOTSTRAP_TIMEOUT='abc'");
	setenv("LOOM_BOOTSTRAP_TIMEOUT", "-1", 1);
	expect_env_fails(t, "LOOM_BOOTSTRAP_TIMEOUT='-1'");
	clear_env();
}

/* Rank 0's port is taken: the bind error names the address. */
static void test_bind_conflict(struct lt *t)
{
	struct boot_config cfg = { .rank = 0, .world_size = 1, .master_addr = "127.0.0.1",
				   .master_port = 0, .timeout_ms = 2000 };
	struct boot *a = boot_init_tcp(&cfg);
	char want[64];

	LT_CHECK(t, a != NULL, "init: %s", loom_err_msg());
	if (!a)
		return;
	cfg.master_port = boot_master_port(a);
	snprintf(want, sizeof(want), "bind 127.0.0.1:%d: Address already in use", cfg.master_port);
	expect_init_fails(t, &cfg, want);
	LT_CHECK(t, boot_finalize(a) == 0, "finalize: %s", loom_err_msg());
}

/* Nobody listens: retries with backoff until the timeout, then says so. */
static void test_connect_refused(struct lt *t)
{
	int port = free_port();
	struct boot_config cfg = { .rank = 1, .world_size = 2, .master_addr = "127.0.0.1",
				   .master_port = port, .timeout_ms = 800 };
	char want[64];
	double t0 = now_ms(), dt;

	snprintf(want, sizeof(want), "connect 127.0.0.1:%d: Connection refused (tried ", port);
	expect_init_fails(t, &cfg, want);
	dt = now_ms() - t0;
	LT_CHECK(t, dt >= 700 && dt < 3000, "gave up after %.0f ms, want ~800", dt);
	printf("    %s\n", loom_err_msg());
}

/* World 100 but alone: an all-gather too large for the store is refused
 * before any traffic, and rank 0's finalize times out naming the ranks it
 * waited for. */
static void test_limits_and_finalize_timeout(struct lt *t)
{
	struct boot_config cfg = { .rank = 0, .world_size = 100, .master_addr = "127.0.0.1",
				   .master_port = 0, .timeout_ms = 300 };
	struct boot *b = boot_init_tcp(&cfg);
	uint8_t *x = calloc(BOOT_VALUE_MAX, 1), *all = calloc(BOOT_VALUE_MAX, 1);
	int rc;

	LT_CHECK(t, b != NULL, "init: %s", loom_err_msg());
	if (b && x && all) {
		rc = boot_allgather(b, x, all, BOOT_VALUE_MAX);
		LT_CHECK(t, rc == -EMSGSIZE, "1 MiB x 100 ranks: rc %d %s", rc, loom_err_msg());
		rc = boot_finalize(b);
		LT_CHECK(t, rc == -ETIMEDOUT && strstr(loom_err_msg(), "waits for ranks 1-99 (never "
							"connected: 1-99)"), "rc %d: %s", rc,
			 loom_err_msg());
	}
	free(x);
	free(all);
}

/* A stranger that connects and says nothing is refused after rank 0's
 * timeout, so silent connections cannot use up the server's slots. */
static void test_silent_stranger(struct lt *t)
{
	struct boot_config cfg = { .rank = 0, .world_size = 1, .master_addr = "127.0.0.1",
				   .master_port = 0, .timeout_ms = 500 };
	struct boot *b = boot_init_tcp(&cfg);
	char text[256];
	unsigned type = 0;
	double t0 = now_ms(), dt;
	int fd;

	LT_CHECK(t, b != NULL, "init: %s", loom_err_msg());
	if (!b)
		return;
	fd = raw_connect(boot_master_port(b));
	LT_CHECK(t, fd >= 0 && raw_reply(fd, &type, text, sizeof(text)) && type == 0x86 &&
			    strstr(text, "no HELLO within 0.5 s"), "type 0x%x: %s", type, text);
	dt = now_ms() - t0;
	LT_CHECK(t, dt >= 450 && dt < 3000, "refused after %.0f ms, want ~500", dt);
	LT_CHECK(t, raw_closed(fd), "the silent connection was not closed");
	LT_CHECK(t, boot_barrier(b) == 0 && boot_finalize(b) == 0, "the job goes on: %s",
		 loom_err_msg());
	if (fd >= 0)
		close(fd);
}

/* ---- cases: jobs of 4 processes over 127.0.0.1 ------------------------------------ */

static void test_four_ranks(struct lt *t)
{
	struct scen sc = { .world = 4, .timeout_ms = 10000, .odd_via_env = true,
			   .body = body_basic };
	struct shm *sh = shm_new();
	int status[MAX_RANKS];
	double t0 = now_ms();

	run_job(t, sh, &sc, 4, status);
	expect_all_ok(t, sh, 4, status);
	printf("    4 ranks: join, 3 all-gathers, key exchange, 1 MiB value, finalize: %.0f ms\n",
	       now_ms() - t0);
	shm_free(sh);
}

/* Ranks 1-3 start 400 ms before rank 0 listens: they retry, then join. */
static void test_rank0_late(struct lt *t)
{
	struct scen sc = { .world = 4, .timeout_ms = 10000, .port = free_port(),
			   .body = body_gather };
	struct shm *sh = shm_new();
	pid_t pids[4];
	int status[4];
	double deadline = now_ms() + JOB_DEADLINE_MS;

	for (int r = 1; r < 4; r++)
		pids[r] = spawn_rank(sh, &sc, r);
	sleep_ms(400);
	pids[0] = spawn_rank(sh, &sc, 0);
	reap(t, pids, 4, status, deadline);
	expect_all_ok(t, sh, 4, status);
	shm_free(sh);
}

/* Strangers that break the protocol in every way are refused with ERROR
 * and disconnected; rank 0 keeps serving and the real job then runs. */
static void test_malformed_clients(struct lt *t)
{
	struct scen sc = { .world = 4, .timeout_ms = 10000, .body = body_gather };
	struct shm *sh = shm_new();
	pid_t pids[4] = { 0 };
	int status[4], port, idle;
	double deadline = now_ms() + JOB_DEADLINE_MS;
	uint8_t m[64 + 16];
	struct loom_rng rng;

	pids[0] = spawn_rank(sh, &sc, 0);
	LT_CHECK(t, wait_port(sh), "rank 0 did not start: %s", sh->res[0].msg);
	port = atomic_load(&sh->port);
	idle = raw_connect(port); /* connects, never speaks, stays open */
	expect_rejected(t, port, "http", "GET / HTTP/1.1\r\n\r\n", 18, "bad magic");
	raw_hdr(m, 0x4C4D4253u, 1, 2, 0, 0xffffffffu);
	expect_rejected(t, port, "4 GiB length", m, 16, "exceeds its");
	raw_hdr(m, 0x4C4D4253u, 1, 5, 1, BOOT_VALUE_MAX + 1);
	expect_rejected(t, port, "oversized gather", m, 16, "exceeds its");
	raw_hdr(m, 0x4C4D4253u, 7, 1, 0, 8);
	expect_rejected(t, port, "version", m, 16, "version 7");
	raw_hdr(m, 0x4C4D4253u, 1, 0x55, 0, 0);
	expect_rejected(t, port, "unknown type", m, 16, "unexpected message type 0x55");
	raw_hdr(m, 0x4C4D4253u, 1, 0x81, 0, 0);
	expect_rejected(t, port, "reply type", m, 16, "unexpected message HELLO_OK");
	raw_hdr(m, 0x4C4D4253u, 1, 3, 0, 3);
	memcpy(m + 16, "abc", 3);
	expect_rejected(t, port, "GET first", m, 19, "expected HELLO");
	expect_rejected(t, port, "rank 9", m, raw_hello(m, 9, 4, 8), "out of range");
	expect_rejected(t, port, "world 8", m, raw_hello(m, 1, 8, 8), "does not match");
	expect_rejected(t, port, "rank 0 again", m, raw_hello(m, 0, 4, 8), "already connected");
	expect_rejected(t, port, "short HELLO", m, raw_hello(m, 1, 4, 4), "shorter");
	/* Random headers with the right magic: every one refused, none joins
	 * (a HELLO carries world 5, never this job's 4). */
	loom_rng_init(&rng, lt_seed(t));
	for (int i = 0; i < 40; i++) {
		unsigned type = loom_rng_u32(&rng) % 0x90;
		uint32_t len = loom_rng_u32(&rng) % 65;

		raw_hdr(m, 0x4C4D4253u, 1, type, loom_rng_u32(&rng), len);
		for (uint32_t j = 0; j < len; j++)
			m[16 + j] = (uint8_t)loom_rng_u32(&rng);
		if (type == 1 && len >= 4)
			memcpy(m + 16, "\0\0\0\5", 4);
		expect_rejected(t, port, "random", m, 16 + len, "");
	}
	{ /* half a header, then gone */
		int fd = raw_connect(port);

		raw_send(fd, m, 7);
		close(fd);
	}
	for (int r = 1; r < 4; r++)
		pids[r] = spawn_rank(sh, &sc, r);
	reap(t, pids, 4, status, deadline);
	expect_all_ok(t, sh, 4, status);
	if (idle >= 0)
		close(idle);
	shm_free(sh);
}

/* A rank that joined and then sends garbage is a broken rank: the job is
 * aborted with its number. */
static void test_rank_protocol_error(struct lt *t)
{
	struct scen sc = { .world = 3, .timeout_ms = 10000, .body = body_barrier_fails };
	struct shm *sh = shm_new();
	pid_t pids[2] = { 0 };
	int status[2], fd;
	uint8_t m[32];
	char text[1100];
	unsigned type = 0;
	double deadline = now_ms() + JOB_DEADLINE_MS;

	pids[0] = spawn_rank(sh, &sc, 0);
	LT_CHECK(t, wait_port(sh), "rank 0 did not start");
	pids[1] = spawn_rank(sh, &sc, 1);
	while (!atomic_load(&sh->res[1].joined) && now_ms() < deadline)
		sleep_ms(1); /* break the job only once rank 1 is in it */
	fd = raw_connect(atomic_load(&sh->port));
	raw_send(fd, m, raw_hello(m, 2, 3, 8));
	LT_CHECK(t, raw_reply(fd, &type, text, sizeof(text)) && type == 0x81, "HELLO as rank 2: "
		 "type 0x%x", type);
	raw_send(fd, "not a header!!!!", 16);
	LT_CHECK(t, raw_reply(fd, &type, text, sizeof(text)) && type == 0x87,
		 "the broken rank is told: type 0x%x", type);
	reap(t, pids, 2, status, deadline);
	for (int r = 0; r < 2; r++)
		LT_CHECK(t, WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0 &&
				    sh->res[r].finished, "rank %d ended with status 0x%x", r, status[r]);
	for (int r = 0; r < 2; r++)
		LT_CHECK(t, sh->res[r].rc == -ECONNABORTED &&
				    strstr(sh->res[r].msg, "rank 2 (pid 4242) sent a malformed message"),
			 "rank %d: rc %d: %s", r, sh->res[r].rc, sh->res[r].msg);
	close(fd);
	shm_free(sh);
}

/* SIGKILL one rank mid-job; the others must fail, fast, naming it. */
static void run_kill(struct lt *t, int victim, int want_err, const char *want_msg)
{
	struct scen sc = { .world = 4, .timeout_ms = 15000, .body = body_kill,
			   .has_victim = true, .victim = victim };
	struct shm *sh = shm_new();
	static const char *roles[] = { "in a barrier", "in a get", "between calls" };
	int status[MAX_RANKS];

	kill_victim = victim;
	run_job(t, sh, &sc, 4, status);
	LT_CHECK(t, WIFSIGNALED(status[victim]) && WTERMSIG(status[victim]) == SIGKILL,
		 "rank %d was not killed (status 0x%x): %s", victim, status[victim],
		 sh->res[victim].msg);
	for (int r = 0; r < 4; r++) {
		const struct rank_res *res = &sh->res[r];
		double dt = res->t_fail_ms - sh->t_kill_ms;

		if (r == victim)
			continue;
		LT_CHECK(t, res->rc == want_err && strstr(res->msg, want_msg),
			 "rank %d: rc %d, want %d with '%s': %s %s", r, res->rc, want_err, want_msg,
			 res->check, res->msg);
		LT_CHECK(t, sh->t_kill_ms > 0 && dt >= 0 && dt < DETECT_LIMIT_MS,
			 "rank %d noticed after %.1f ms (limit %d)", r, dt, DETECT_LIMIT_MS);
		printf("    rank %d (role: %s) failed %.1f ms after rank %d died: %s\n", r,
		       roles[r - (r > victim)], dt, victim, res->msg);
	}
	shm_free(sh);
}

static void test_kill_rank(struct lt *t)
{
	run_kill(t, 2, -ECONNABORTED, "rank 2 (pid");
}

static void test_kill_rank0(struct lt *t)
{
	run_kill(t, 0, -ECONNRESET, "lost connection to rank 0 at 127.0.0.1:");
}

/* World 4, rank 3 never starts: a bounded wait that names it. */
static void test_rank_never_arrives(struct lt *t)
{
	struct scen sc = { .world = 4, .timeout_ms = 1500, .odd_via_env = true,
			   .body = body_barrier_fails };
	struct shm *sh = shm_new();
	int status[MAX_RANKS], timed_out = 0;

	run_job(t, sh, &sc, 3, status);
	for (int r = 0; r < 3; r++) {
		const struct rank_res *res = &sh->res[r];
		double dt = res->t_fail_ms - res->t_start_ms;

		timed_out += res->rc == -ETIMEDOUT;
		LT_CHECK(t, (res->rc == -ETIMEDOUT || res->rc == -ECONNABORTED) &&
				    strstr(res->msg, "barrier #1 timed out after") &&
				    strstr(res->msg, "waits for ranks 3 (never connected: 3)"),
			 "rank %d: rc %d: %s %s", r, res->rc, res->check, res->msg);
		if (res->rc == -ETIMEDOUT)
			LT_CHECK(t, dt >= 1400 && dt < 6000, "rank %d timed out after %.0f ms, want "
				 "~1500", r, dt);
	}
	LT_CHECK(t, timed_out >= 1, "no rank reported the timeout itself");
	printf("    %s\n", sh->res[0].msg);
	shm_free(sh);
}

static void test_get_timeout(struct lt *t)
{
	struct scen sc = { .world = 2, .timeout_ms = 1000, .timeout0_ms = 10000,
			   .body = body_get_timeout };
	struct shm *sh = shm_new();
	int status[2];

	run_job(t, sh, &sc, 2, status);
	LT_CHECK(t, sh->res[1].rc == -ETIMEDOUT &&
			    strstr(sh->res[1].msg, "rank 1: get 'never-set' timed out after 1.0 s "
					     "(no rank has set it)"), "rank 1: rc %d: %s", sh->res[1].rc,
		 sh->res[1].msg);
	LT_CHECK(t, sh->res[0].rc == -ECONNABORTED && strstr(sh->res[0].msg, "get 'never-set'"),
		 "rank 0: rc %d: %s", sh->res[0].rc, sh->res[0].msg);
	shm_free(sh);
}

/* Jobs the server must end with a message that every rank receives. */
static void run_abort_job(struct lt *t, int world, int (*body)(struct shm *, struct boot *,
							      struct rank_res *),
			  int ok_rank, const char *want)
{
	struct scen sc = { .world = world, .timeout_ms = 10000, .body = body };
	struct shm *sh = shm_new();
	int status[MAX_RANKS];

	run_job(t, sh, &sc, world, status);
	for (int r = 0; r < world; r++) {
		const struct rank_res *res = &sh->res[r];

		if (r == ok_rank)
			LT_CHECK(t, res->rc == 0 && res->finalize_rc == 0, "rank %d: rc %d: %s", r,
				 res->rc, res->msg);
		else
			LT_CHECK(t, res->rc == -ECONNABORTED && strstr(res->msg, want),
				 "rank %d: rc %d, want -ECONNABORTED with '%s': %s %s", r, res->rc,
				 want, res->check, res->msg);
	}
	shm_free(sh);
}

static void test_collective_mismatch(struct lt *t)
{
	run_abort_job(t, 2, body_mismatch, -1, "every rank must make the same collective calls");
}

static void test_finalize_while_others_wait(struct lt *t)
{
	run_abort_job(t, 3, body_finalize_early, 2, "rank 2 finalized while rank");
}

static void test_abort(struct lt *t)
{
	run_abort_job(t, 3, body_abort, -1, "rank 1 aborted the job: disk on fire");
}

static const struct lt_case cases[] = {
	LT_CASE(test_wire_header),
	LT_CASE(test_wire_keys),
	LT_CASE(test_world1_local),
	LT_CASE(test_world1_tcp),
	LT_CASE(test_bad_args),
	LT_CASE(test_bad_config),
	LT_CASE(test_bad_env),
	LT_CASE(test_bind_conflict),
	LT_CASE(test_connect_refused),
	LT_CASE(test_limits_and_finalize_timeout),
	LT_CASE(test_silent_stranger),
	LT_CASE(test_four_ranks),
	LT_CASE(test_rank0_late),
	LT_CASE(test_malformed_clients),
	LT_CASE(test_rank_protocol_error),
	LT_CASE(test_kill_rank),
	LT_CASE(test_kill_rank0),
	LT_CASE(test_rank_never_arrives),
	LT_CASE(test_get_timeout),
	LT_CASE(test_collective_mismatch),
	LT_CASE(test_finalize_while_others_wait),
	LT_CASE(test_abort),
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return lt_main(argc, argv, cases, LT_N(cases));
}

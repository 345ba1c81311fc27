/*
 * test_comm.c - the communicator (runtime/comm): the balanced-tree sum
 * against a literal level-by-level sum and a hand-computed case, the world
 * of one, bad arguments, then jobs of 2 and 4 real processes forked on this
 * machine (TCP bootstrap on 127.0.0.1) over the shm and udp providers:
 * alltoallv with random sizes (0 and several chunks included) checked byte
 * for byte against what each sender generated, disjoint groups at once,
 * allreduce f32 bit-equal to a tree sum each rank computes itself from
 * every rank's known input, the power-of-two consistency property across
 * 4, 2 and 1 ranks, exact i64 sums, allgather, barrier ordering,
 * mismatched counts and operations (-EPROTO), and a rank SIGKILLed in the
 * middle of a stream of alltoallv (the others fail within 5 s, naming it).
 *
 * Children check with their own struct lt (failures are printed by the
 * child) and report through their exit status and a shared mapping; every
 * child has an alarm() and the parent kills whatever outlives the job
 * deadline, so a hang is a failure, never a stuck suite.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loom/bootstrap.h"
#include "loom/comm.h"
#include "loom/err.h"
#include "lt.h"

#define MAX_RANKS 4
#define JOB_DEADLINE_MS 40000 /* the parent kills children after this */
#define DETECT_LIMIT_MS 5000  /* a killed rank must be noticed within this */
#define SMALL_CHUNK 4096      /* forces messages into many pieces */
#define RESULT_FLOATS 1024

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

/* ---- reference sums (independent of runtime/comm) ------------------------------ */

/* The tree of comm.h written out literally: pair adjacent values level by
 * level, an odd last one passes up unchanged. */
static float ref_tree(const float *v, int n)
{
	float lvl[64] = { 0 };

	memcpy(lvl, v, sizeof(float) * (size_t)n);
	while (n > 1) {
		int m = 0;

		for (int i = 0; i + 1 < n; i += 2)
			lvl[m++] = lvl[i] + lvl[i + 1];
		if (n % 2)
			lvl[m++] = lvl[n - 1];
		n = m;
	}
	return lvl[0];
}

/* Floats whose sum depends on the order: wide exponents, both signs. */
static float wild_float(struct loom_rng *r)
{
	double m = loom_rng_uniform(r) * 2 - 1;
	int e = (int)(loom_rng_u32(r) % 40) - 20;

	return (float)ldexp(m, e);
}

/* Rank r's allreduce input element i (seeded by salt). */
static float input_f32(int r, size_t i, int salt)
{
	struct loom_rng g;

	loom_rng_init(&g, (uint64_t)salt * 1000003u + (uint64_t)r * 7919u + i * 104729u);
	return wild_float(&g);
}

static bool same_bits(const float *a, const float *b, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
			*at = i;
			return false;
		}
	return true;
}

/* ---- tree sum ----------------------------------------------------------------- */

static void test_tree_sum_matches_levels(struct lt *t)
{
	struct loom_rng g;
	enum { N = 700, MAXP = 40 }; /* N crosses the sum's internal blocks */
	static float parts[MAXP][N], out[N], want[N];
	const float *pp[MAXP];

	loom_rng_init(&g, lt_seed(t));
	for (int p = 0; p < MAXP; p++) {
		for (int i = 0; i < N; i++)
			parts[p][i] = wild_float(&g);
		pp[p] = parts[p];
	}
	for (int np = 1; np <= MAXP; np++) {
		size_t at = 0;

		for (int i = 0; i < N; i++) {
			float col[MAXP];

			for (int p = 0; p < np; p++)
				col[p] = parts[p][i];
			want[i] = ref_tree(col, np);
		}
		comm_tree_sum_f32(out, pp, np, N);
		LT_CHECK(t, same_bits(out, want, N, &at), "nparts %d: element %zu: %a, want %a", np,
			 at, out[at], want[at]);
	}
	/* out aliasing parts[0] (allowed by the contract). */
	memcpy(out, parts[0], sizeof(out));
	for (int i = 0; i < N; i++) {
		float col[5] = { parts[0][i], parts[1][i], parts[2][i], parts[3][i], parts[4][i] };

		want[i] = ref_tree(col, 5);
	}
	pp[0] = out;
	comm_tree_sum_f32(out, pp, 5, N);
	size_t at = 0;
	LT_CHECK(t, same_bits(out, want, N, &at), "aliased: element %zu", at);
}

/* Hand-computed: 1e8 + 1 rounds to 1e8 in float (spacing 8 there), so the
 * balanced tree (1e8 + 1) + (-1e8 + 1) gives 0 while left to right would
 * give 1; with 3 parts the odd last passes up: (1e8 + 1) + -1e8 = 0. */
static void test_tree_sum_hand_case(struct lt *t)
{
	float a = 1e8f, b = 1.0f, c = -1e8f, d = 1.0f, out;
	const float *p4[] = { &a, &b, &c, &d };

	comm_tree_sum_f32(&out, p4, 4, 1);
	LT_CHECK(t, out == 0.0f, "4 parts: %g, want 0", out);
	comm_tree_sum_f32(&out, p4, 3, 1);
	LT_CHECK(t, out == 0.0f, "3 parts: %g, want 0", out);
	comm_tree_sum_f32(&out, p4 + 1, 3, 1);
	LT_CHECK(t, out == -1e8f, "parts 1..3: %g, want -1e8 ((1 + -1e8) + 1)", out);
	comm_tree_sum_f32(&out, p4, 1, 1);
	LT_CHECK(t, out == 1e8f, "1 part: %g", out);
	out = 7;
	comm_tree_sum_f32(&out, p4, 0, 1); /* nothing to sum: out untouched */
	LT_CHECK(t, out == 7, "0 parts wrote %g", out);
}

/* ---- a world of one -------------------------------------------------------------- */

static void test_world_of_one_local(struct lt *t)
{
	struct boot *b = boot_init_local();
	struct comm *c = b ? comm_create(b, NULL) : NULL;
	uint8_t send[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, recv[10] = { 0 };
	size_t cnt = 6, soff = 2, roff = 4;
	float f[3] = { 1.5f, -2.0f, 3.25f };
	int64_t v[2] = { INT64_MAX, -5 };
	struct comm_stats st;

	LT_CHECK(t, c, "create: %s", loom_err_msg());
	if (!c) {
		boot_finalize(b);
		return;
	}
	LT_CHECK(t, strcmp(comm_provider(c), "local") == 0 && comm_size(c) == 1 && comm_rank(c) == 0,
		 "provider %s size %d", comm_provider(c), comm_size(c));
	LT_CHECK(t, comm_alltoallv(c, NULL, send, &cnt, &soff, recv, &cnt, &roff) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, memcmp(recv + 4, send + 2, 6) == 0 && recv[3] == 0, "local copy wrong");
	LT_CHECK(t, comm_allreduce_sum_f32(c, f, 3) == 0 && f[0] == 1.5f && f[2] == 3.25f, "f32");
	LT_CHECK(t, comm_allreduce_sum_i64(c, v, 2) == 0 && v[0] == INT64_MAX && v[1] == -5, "i64");
	LT_CHECK(t, comm_allgather(c, send, recv, 10) == 0 && memcmp(recv, send, 10) == 0, "gather");
	LT_CHECK(t, comm_barrier(c) == 0, "barrier: %s", loom_err_msg());
	LT_CHECK(t, comm_stats_get(c, &st) == 0 && st.ops == 5 && st.bytes_sent == 0 &&
			    st.bytes_local == 6 + 2 * 12 + 2 * 16 + 10, /* allreduce: 2 phases */
		 "stats: ops %llu sent %llu local %llu", (unsigned long long)st.ops,
		 (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_local);
	comm_stats_reset(c);
	LT_CHECK(t, comm_stats_get(c, &st) == 0 && st.ops == 0, "reset");
	LT_CHECK(t, comm_destroy(c) == 0, "destroy: %s", loom_err_msg());
	boot_finalize(b);
}

static void test_bad_arguments(struct lt *t)
{
	struct boot *b = boot_init_local();
	struct comm_opts o = { .chunk_bytes = 100 };
	struct comm *c;
	size_t cnt = 1, off = 0;
	uint8_t x = 1, y = 0;
	int bad_inc[] = { 0, 0 }, other[] = { 1 };
	struct comm_group g0 = { 0, bad_inc }, g_dup = { 2, bad_inc }, g_out = { 1, other };
	struct comm_stats st;

	LT_CHECK(t, comm_create(NULL, NULL) == NULL, "NULL boot accepted");
	LT_CHECK(t, comm_create(b, &o) == NULL && strstr(loom_err_msg(), "chunk_bytes"),
		 "chunk 100: %s", loom_err_msg());
	c = comm_create(b, NULL);
	LT_CHECK(t, c, "create: %s", loom_err_msg());
	if (!c) {
		boot_finalize(b);
		return;
	}
	LT_CHECK(t, comm_alltoallv(NULL, NULL, &x, &cnt, &off, &y, &cnt, &off) == -EINVAL, "NULL c");
	LT_CHECK(t, comm_alltoallv(c, NULL, &x, NULL, &off, &y, &cnt, &off) == -EINVAL, "NULL count");
	LT_CHECK(t, comm_alltoallv(c, NULL, NULL, &cnt, &off, &y, &cnt, &off) == -EINVAL,
		 "NULL send with 1 byte");
	LT_CHECK(t, comm_alltoallv(c, &g0, &x, &cnt, &off, &y, &cnt, &off) == -EINVAL, "empty group");
	LT_CHECK(t, comm_alltoallv(c, &g_dup, &x, &cnt, &off, &y, &cnt, &off) == -EINVAL,
		 "group too large / repeated");
	LT_CHECK(t, comm_alltoallv(c, &g_out, &x, &cnt, &off, &y, &cnt, &off) == -EINVAL,
		 "group without us");
	off = SIZE_MAX;
	LT_CHECK(t, comm_alltoallv(c, NULL, &x, &cnt, &off, &y, &cnt, &off) == -EINVAL,
		 "offset overflow");
	LT_CHECK(t, comm_allreduce_sum_f32(c, NULL, 4) == -EINVAL, "NULL f32 buffer");
	LT_CHECK(t, comm_allreduce_sum_i64(c, NULL, 4) == -EINVAL, "NULL i64 buffer");
	LT_CHECK(t, comm_allgather(c, NULL, &y, 1) == -EINVAL, "NULL allgather");
	LT_CHECK(t, comm_stats_get(c, NULL) == -EINVAL && comm_stats_get(NULL, &st) == -EINVAL,
		 "stats NULL");
	LT_CHECK(t, comm_barrier(NULL) == -EINVAL, "NULL barrier");
	/* Rejected arguments left it usable. */
	LT_CHECK(t, comm_barrier(c) == 0, "usable after -EINVAL: %s", loom_err_msg());
	/* A mismatch with ourselves is -EPROTO and breaks it. */
	off = 0;
	size_t two = 2;
	LT_CHECK(t, comm_alltoallv(c, NULL, &x, &cnt, &off, &y, &two, &off) == -EPROTO,
		 "self mismatch: %s", loom_err_msg());
	LT_CHECK(t, comm_barrier(c) == -EPIPE && strstr(loom_err_msg(), "broken"),
		 "broken: %s", loom_err_msg());
	LT_CHECK(t, comm_destroy(c) == 0, "destroy");
	LT_CHECK(t, comm_destroy(NULL) == 0, "destroy NULL");
	LT_CHECK(t, comm_rank(NULL) == -1 && comm_size(NULL) == 0, "NULL accessors");
	boot_finalize(b);
}

static void test_unknown_provider(struct lt *t)
{
	struct boot_config cfg = { .rank = 0, .world_size = 1, .master_addr = "127.0.0.1",
				   .master_port = 0, .timeout_ms = 2000 };
	struct boot *b = boot_init_tcp(&cfg);
	struct comm_opts o = { .provider = "carrier-pigeon" };

	LT_CHECK(t, b, "boot: %s", loom_err_msg());
	if (!b)
		return;
	/* World of one: no transport is used, whatever the provider. */
	struct comm *c = comm_create(b, &o);
	LT_CHECK(t, c && strcmp(comm_provider(c), "local") == 0, "world of 1: %s", loom_err_msg());
	comm_destroy(c);
	boot_finalize(b);
}

/* ---- forked jobs ------------------------------------------------------------------ */

struct rank_out {
	int finished;
	int rc;			   /* the error of interest (body-defined) */
	char msg[512];
	double t_fail_ms;
	float res[RESULT_FLOATS];  /* a result the parent compares across jobs */
	double t_mark_ms[2];	   /* body-defined times */
};

struct job {
	_Atomic int port;
	double t_kill_ms;
	struct rank_out out[MAX_RANKS];
};

struct ctx;
typedef void (*body_fn)(struct ctx *x);

struct spec {
	int world;
	const char *provider;
	size_t chunk;
	int timeout_ms;
	body_fn body;
	int victim;		   /* rank the parent kills, or -1 */
	int kill_after_ms;
	bool expect_broken;	   /* the body ends with a broken communicator */
	int salt;
};

struct ctx {
	struct lt *t;
	struct comm *c;
	struct boot *b;
	int rank, world;
	const struct spec *sp;
	struct job *job;
	struct rank_out *out;
};

static void child_main(struct job *job, const struct spec *sp, int rank)
{
	struct lt ct = { .name = "child" };
	struct boot_config cfg = { .rank = rank, .world_size = sp->world,
				   .master_addr = "127.0.0.1", .timeout_ms = 20000 };
	struct comm_opts o = { .provider = sp->provider, .chunk_bytes = sp->chunk,
			       .timeout_ms = sp->timeout_ms };
	struct ctx x = { .t = &ct, .rank = rank, .world = sp->world, .sp = sp, .job = job,
			 .out = &job->out[rank] };
	double end = now_ms() + 5000;

	alarm(JOB_DEADLINE_MS / 1000 + 5);
	while (rank > 0 && atomic_load(&job->port) == 0 && now_ms() < end)
		sleep_ms(1);
	cfg.master_port = rank == 0 ? 0 : atomic_load(&job->port);
	x.b = boot_init_tcp(&cfg);
	if (rank == 0)
		atomic_store(&job->port, x.b ? boot_master_port(x.b) : -1);
	LT_CHECK(&ct, x.b, "rank %d: boot: %s", rank, loom_err_msg());
	x.c = x.b ? comm_create(x.b, &o) : NULL;
	LT_CHECK(&ct, x.c, "rank %d: comm_create: %s", rank, loom_err_msg());
	if (x.c) {
		LT_CHECK(&ct, comm_rank(x.c) == rank && comm_size(x.c) == sp->world &&
				      strcmp(comm_provider(x.c), sp->world > 1 ? sp->provider : "local") == 0,
			 "identity %d/%d %s", comm_rank(x.c), comm_size(x.c), comm_provider(x.c));
		sp->body(&x);
		int rc = comm_destroy(x.c);
		LT_CHECK(&ct, sp->expect_broken || rc == 0, "rank %d: destroy: %d %s", rank, rc,
			 loom_err_msg());
	}
	if (x.b) {
		int rc = boot_finalize(x.b);
		LT_CHECK(&ct, sp->expect_broken || rc == 0, "rank %d: finalize: %s", rank,
			 loom_err_msg());
	}
	x.out->finished = 1;
	fflush(stdout);
	exit(ct.failures ? 1 : 0); /* exit, not _exit: LeakSanitizer checks the child */
}

/* Run one job; false if any rank failed.  The job mapping stays for the
 * caller to read (free with munmap). */
static struct job *run_job(struct lt *t, const struct spec *sp)
{
	struct job *job = mmap(NULL, sizeof(*job), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[MAX_RANKS] = { 0 };
	int status[MAX_RANKS];
	double deadline = now_ms() + JOB_DEADLINE_MS;
	int left = sp->world;

	if (job == MAP_FAILED)
		return NULL;
	memset(job, 0, sizeof(*job));
	for (int r = 0; r < sp->world; r++) {
		fflush(stdout);
		fflush(stderr);
		pids[r] = fork();
		if (pids[r] == 0)
			child_main(job, sp, r);
		status[r] = -1;
	}
	if (sp->victim >= 0) {
		/* Kill once every rank is inside its loop of collectives. */
		for (int r = 0; r < sp->world; r++)
			while (job->out[r].t_mark_ms[0] == 0 && now_ms() < deadline - 20000)
				sleep_ms(1);
		sleep_ms(sp->kill_after_ms);
		job->t_kill_ms = now_ms();
		kill(pids[sp->victim], SIGKILL);
	}
	while (left > 0 && now_ms() < deadline) {
		for (int r = 0; r < sp->world; r++)
			if (status[r] == -1 && waitpid(pids[r], &status[r], WNOHANG) == pids[r])
				left--;
		if (left)
			sleep_ms(2);
	}
	for (int r = 0; r < sp->world; r++) {
		if (status[r] == -1) {
			kill(pids[r], SIGKILL);
			waitpid(pids[r], &status[r], 0);
			LT_CHECK(t, false, "%s: rank %d hung: killed", sp->provider, r);
		} else if (r != sp->victim) {
			LT_CHECK(t, WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0 &&
					    job->out[r].finished,
				 "%s x%d: rank %d failed (status 0x%x)", sp->provider, sp->world, r,
				 status[r]);
		}
	}
	return job;
}

static void run_simple(struct lt *t, const char *prov, int world, size_t chunk, body_fn body,
		       int salt)
{
	struct spec sp = { .world = world, .provider = prov, .chunk = chunk, .timeout_ms = 20000,
			   .body = body, .victim = -1, .salt = salt };
	struct job *job = run_job(t, &sp);

	if (job)
		munmap(job, sizeof(*job));
}

/* ---- alltoallv ----------------------------------------------------------------------- */

/* Bytes rank s sends rank d in round it: 0, small, around a piece, or
 * several chunks; a function of (s, d, it) every rank evaluates. */
static size_t a2a_size(int s, int d, int it, int salt)
{
	struct loom_rng g;
	static const size_t menu[] = { 0, 1, 7, 1000, 1008, 1009, 4096, 4097, 20000, 70001 };

	loom_rng_init(&g, (uint64_t)(salt * 131 + it) * 1000003u + (uint64_t)s * 101u + (uint64_t)d);
	return menu[loom_rng_u32(&g) % (sizeof(menu) / sizeof(menu[0]))];
}

static uint8_t a2a_byte(int s, int d, int it, size_t i)
{
	return (uint8_t)((size_t)s * 71 + (size_t)d * 13 + (size_t)it * 29 + i * 7 + (i >> 9));
}

/* One alltoallv of group ranks[0..n-1] (NULL = world), checked byte for byte. */
static void a2a_round(struct ctx *x, const int *ranks, int n, int it)
{
	size_t sc[MAX_RANKS], so[MAX_RANKS], rc[MAX_RANKS], ro[MAX_RANKS], st = 0, rt = 0;

	/* Gaps between parts (17 bytes) catch writes outside a part. */
	for (int j = 0; j < n; j++) {
		int r = ranks ? ranks[j] : j;

		sc[j] = a2a_size(x->rank, r, it, x->sp->salt);
		so[j] = st;
		st += sc[j] + 17;
		rc[j] = a2a_size(r, x->rank, it, x->sp->salt);
		ro[j] = rt;
		rt += rc[j] + 17;
	}
	uint8_t *send = malloc(st + 1), *recv = malloc(rt + 1);
	for (int j = 0; j < n; j++)
		for (size_t i = 0; i < sc[j]; i++)
			send[so[j] + i] = a2a_byte(x->rank, ranks ? ranks[j] : j, it, i);
	memset(recv, 0xa5, rt + 1);
	struct comm_group g = { n, ranks };
	int err = comm_alltoallv(x->c, ranks ? &g : NULL, send, sc, so, recv, rc, ro);

	LT_CHECK(x->t, err == 0, "rank %d round %d: %s", x->rank, it, loom_err_msg());
	for (int j = 0; j < n && !err; j++) {
		int r = ranks ? ranks[j] : j, bad = 0;

		for (size_t i = 0; i < rc[j] && bad < 3; i++)
			if (recv[ro[j] + i] != a2a_byte(r, x->rank, it, i)) {
				LT_CHECK(x->t, false, "rank %d round %d: byte %zu of %zu from rank %d: "
					 "0x%02x", x->rank, it, i, rc[j], r, recv[ro[j] + i]);
				bad++;
			}
		for (size_t i = rc[j]; i < rc[j] + 17; i++)
			LT_CHECK(x->t, recv[ro[j] + i] == 0xa5, "rank %d: gap byte %zu after rank "
				 "%d's part written", x->rank, i, r);
	}
	free(send);
	free(recv);
}

static void body_alltoallv(struct ctx *x)
{
	struct comm_stats st;

	for (int it = 0; it < 12; it++)
		a2a_round(x, NULL, x->world, it);
	LT_CHECK(x->t, comm_stats_get(x->c, &st) == 0 && st.ops == 12 && st.busy_us > 0 &&
			       (x->world == 1 || st.messages_sent > 0),
		 "stats: ops %llu msgs %llu", (unsigned long long)st.ops,
		 (unsigned long long)st.messages_sent);
}

static void body_groups(struct ctx *x)
{
	static const int odd[] = { 1, 3 }, even[] = { 0, 2 }, three[] = { 0, 1, 3 };

	/* Two disjoint groups at once, then a world barrier, then a group of 3. */
	for (int it = 0; it < 4; it++)
		a2a_round(x, x->rank % 2 ? odd : even, 2, 100 + it);
	LT_CHECK(x->t, comm_barrier(x->c) == 0, "barrier: %s", loom_err_msg());
	if (x->rank != 2)
		a2a_round(x, three, 3, 200);
	/* A one-member group is a local copy. */
	int solo = x->rank;
	a2a_round(x, &solo, 1, 300);
	LT_CHECK(x->t, comm_barrier(x->c) == 0, "barrier: %s", loom_err_msg());
}

static void test_alltoallv_shm(struct lt *t)
{
	for (int w = 1; w <= 4; w *= 2)
		run_simple(t, "shm", w, SMALL_CHUNK, body_alltoallv, 1);
}

static void test_alltoallv_udp(struct lt *t)
{
	for (int w = 2; w <= 4; w *= 2)
		run_simple(t, "udp", w, SMALL_CHUNK, body_alltoallv, 2);
}

static void test_alltoallv_default_chunk(struct lt *t)
{
	run_simple(t, "shm", 4, 0, body_alltoallv, 3);
}

static void test_group_alltoallv(struct lt *t)
{
	run_simple(t, "shm", 4, SMALL_CHUNK, body_groups, 4);
	run_simple(t, "udp", 4, SMALL_CHUNK, body_groups, 5);
}

/* ---- allreduce, allgather, barrier ------------------------------------------------ */

static void allreduce_check(struct ctx *x, size_t n, int salt)
{
	float *buf = malloc(sizeof(float) * (n + 1)), *want = malloc(sizeof(float) * (n + 1));
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		float col[MAX_RANKS];

		buf[i] = input_f32(x->rank, i, salt);
		for (int r = 0; r < x->world; r++)
			col[r] = input_f32(r, i, salt);
		want[i] = ref_tree(col, x->world);
	}
	int err = comm_allreduce_sum_f32(x->c, buf, n);
	LT_CHECK(x->t, err == 0, "rank %d n %zu: %s", x->rank, n, loom_err_msg());
	LT_CHECK(x->t, err || same_bits(buf, want, n, &at), "rank %d n %zu: element %zu: %a, want "
		 "%a", x->rank, n, at, buf[at], want[at]);
	/* Identical on every rank: gather everyone's result and compare. */
	if (n && n <= 4096) {
		float *all = malloc(sizeof(float) * n * (size_t)x->world);

		LT_CHECK(x->t, comm_allgather(x->c, buf, all, n * sizeof(float)) == 0, "%s",
			 loom_err_msg());
		for (int r = 0; r < x->world; r++)
			LT_CHECK(x->t, memcmp(all + (size_t)r * n, buf, n * sizeof(float)) == 0,
				 "rank %d's result differs from rank %d's", r, x->rank);
		free(all);
	}
	free(buf);
	free(want);
}

static void body_allreduce(struct ctx *x)
{
	static const size_t sizes[] = { 0, 1, 3, 5, 1000, 4099, 50001 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		allreduce_check(x, sizes[k], (int)k + 1);
}

static void test_allreduce_f32_bits(struct lt *t)
{
	for (int w = 1; w <= 4; w *= 2)
		run_simple(t, "shm", w, SMALL_CHUNK, body_allreduce, 0);
	run_simple(t, "udp", 4, SMALL_CHUNK, body_allreduce, 0);
}

static void body_allreduce_w3(struct ctx *x)
{
	allreduce_check(x, 1001, 9);
	allreduce_check(x, 2, 10);
}

static void test_allreduce_three_ranks(struct lt *t)
{
	run_simple(t, "shm", 3, SMALL_CHUNK, body_allreduce_w3, 0);
}

/* Power-of-two consistency: 4 parts per element; with W ranks each rank
 * pre-sums its 4 / W consecutive parts as a tree. */
static float pow2_part(int p, size_t i)
{
	return input_f32(p, i, 77);
}

static void body_pow2(struct ctx *x)
{
	int per = 4 / x->world;
	float buf[RESULT_FLOATS];

	for (size_t i = 0; i < RESULT_FLOATS; i++) {
		float col[4];

		for (int k = 0; k < per; k++)
			col[k] = pow2_part(x->rank * per + k, i);
		buf[i] = ref_tree(col, per);
	}
	LT_CHECK(x->t, comm_allreduce_sum_f32(x->c, buf, RESULT_FLOATS) == 0, "%s",
		 loom_err_msg());
	memcpy(x->out->res, buf, sizeof(buf));
}

static void test_allreduce_pow2_consistency(struct lt *t)
{
	static float res[3][RESULT_FLOATS];
	float want[RESULT_FLOATS];
	int k = 0;
	size_t at = 0;

	for (int w = 4; w >= 1; w /= 2, k++) {
		struct spec sp = { .world = w, .provider = "shm", .chunk = SMALL_CHUNK,
				   .timeout_ms = 20000, .body = body_pow2, .victim = -1 };
		struct job *job = run_job(t, &sp);

		if (!job)
			return;
		memcpy(res[k], job->out[0].res, sizeof(res[k]));
		for (int r = 1; r < w; r++)
			LT_CHECK(t, memcmp(job->out[r].res, res[k], sizeof(res[k])) == 0,
				 "world %d: rank %d differs from rank 0", w, r);
		munmap(job, sizeof(*job));
	}
	for (size_t i = 0; i < RESULT_FLOATS; i++) {
		float col[4] = { pow2_part(0, i), pow2_part(1, i), pow2_part(2, i), pow2_part(3, i) };

		want[i] = ref_tree(col, 4);
	}
	LT_CHECK(t, same_bits(res[0], want, RESULT_FLOATS, &at), "4 ranks: element %zu", at);
	LT_CHECK(t, same_bits(res[1], want, RESULT_FLOATS, &at), "2 ranks: element %zu", at);
	LT_CHECK(t, same_bits(res[2], want, RESULT_FLOATS, &at), "1 rank: element %zu", at);
	/* The property has teeth only if the order matters for these inputs. */
	int differs = 0;
	for (size_t i = 0; i < RESULT_FLOATS; i++) {
		float l2r = ((pow2_part(0, i) + pow2_part(1, i)) + pow2_part(2, i)) + pow2_part(3, i);

		differs += memcmp(&l2r, &want[i], sizeof(float)) != 0;
	}
	LT_CHECK(t, differs > 10, "only %d elements depend on the order", differs);
}

static void body_i64(struct ctx *x)
{
	enum { N = 777 };
	int64_t buf[N], want[N];

	for (int i = 0; i < N; i++) {
		/* Big values of both signs whose exact sum still fits: |v| < 2^60. */
		buf[i] = ((int64_t)(x->rank + 1) << 58) * (i % 2 ? -1 : 1) + i * 1000003 + x->rank;
		want[i] = 0;
		for (int r = 0; r < x->world; r++)
			want[i] += ((int64_t)(r + 1) << 58) * (i % 2 ? -1 : 1) + i * 1000003 + r;
	}
	LT_CHECK(x->t, comm_allreduce_sum_i64(x->c, buf, N) == 0, "%s", loom_err_msg());
	for (int i = 0; i < N; i++)
		if (buf[i] != want[i]) {
			LT_CHECK(x->t, false, "element %d: %lld, want %lld", i, (long long)buf[i],
				 (long long)want[i]);
			break;
		}
}

static void test_allreduce_i64_exact(struct lt *t)
{
	run_simple(t, "shm", 4, SMALL_CHUNK, body_i64, 0);
	run_simple(t, "udp", 2, SMALL_CHUNK, body_i64, 0);
}

static void body_allgather(struct ctx *x)
{
	static const size_t lens[] = { 0, 1, 13, 5000, 40000 };

	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t len = lens[k];
		uint8_t *mine = malloc(len + 1), *all = malloc(len * (size_t)x->world + 1);

		for (size_t i = 0; i < len; i++)
			mine[i] = a2a_byte(x->rank, 0, (int)k, i);
		LT_CHECK(x->t, comm_allgather(x->c, mine, all, len) == 0, "%s", loom_err_msg());
		for (int r = 0; r < x->world; r++)
			for (size_t i = 0; i < len; i++)
				if (all[(size_t)r * len + i] != a2a_byte(r, 0, (int)k, i)) {
					LT_CHECK(x->t, false, "len %zu: rank %d's byte %zu", len, r, i);
					break;
				}
		free(mine);
		free(all);
	}
}

static void test_allgather(struct lt *t)
{
	run_simple(t, "shm", 4, SMALL_CHUNK, body_allgather, 0);
	run_simple(t, "udp", 4, SMALL_CHUNK, body_allgather, 0);
}

/* Rank 0 arrives 300 ms late; nobody may leave the barrier before it came. */
static void body_barrier(struct ctx *x)
{
	LT_CHECK(x->t, comm_barrier(x->c) == 0, "%s", loom_err_msg());
	if (x->rank == 0) {
		sleep_ms(300);
		x->job->out[0].t_mark_ms[0] = now_ms();
	}
	LT_CHECK(x->t, comm_barrier(x->c) == 0, "%s", loom_err_msg());
	x->out->t_mark_ms[1] = now_ms();
	LT_CHECK(x->t, x->out->t_mark_ms[1] >= x->job->out[0].t_mark_ms[0] &&
			       x->job->out[0].t_mark_ms[0] > 0,
		 "rank %d left the barrier before rank 0 entered it", x->rank);
}

static void test_barrier(struct lt *t)
{
	run_simple(t, "shm", 4, SMALL_CHUNK, body_barrier, 0);
	run_simple(t, "udp", 2, SMALL_CHUNK, body_barrier, 0);
}

/* ---- errors ---------------------------------------------------------------------- */

/* Rank 0 sends 100 bytes to rank 1, which expects 50. */
static void body_mismatch(struct ctx *x)
{
	uint8_t send[200] = { 0 }, recv[200];
	size_t sc[2] = { 0, 0 }, so[2] = { 0, 0 }, rc[2] = { 0, 0 }, ro[2] = { 0, 0 };

	if (x->rank == 0)
		sc[1] = 100;
	else
		rc[0] = 50;
	int err = comm_alltoallv(x->c, NULL, send, sc, so, recv, rc, ro);
	if (x->rank == 1)
		LT_CHECK(x->t, err == -EPROTO && strstr(loom_err_msg(), "rank 0 sends 100 bytes"),
			 "receiver: %d %s", err, loom_err_msg());
	/* Later calls fail on both sides, quickly (the receiver tells rank 0). */
	double t0 = now_ms();
	err = comm_barrier(x->c);
	LT_CHECK(x->t, err < 0 && now_ms() - t0 < DETECT_LIMIT_MS, "rank %d: next call: %d in %.0f ms",
		 x->rank, err, now_ms() - t0);
	if (x->rank == 1)
		LT_CHECK(x->t, err == -EPIPE, "receiver: %d", err);
}

/* Rank 0 calls barrier while rank 1 calls allgather. */
static void body_wrong_op(struct ctx *x)
{
	uint8_t v = 1, all[2];
	int err = x->rank == 0 ? comm_barrier(x->c) : comm_allgather(x->c, &v, all, 1);

	x->out->rc = err;
	snprintf(x->out->msg, sizeof(x->out->msg), "%s", loom_err_msg());
	LT_CHECK(x->t, err == -EPROTO || err == -ECONNABORTED, "rank %d: %d %s", x->rank, err,
		 loom_err_msg());
}

static void test_mismatch_is_eproto(struct lt *t)
{
	struct spec sp = { .world = 2, .provider = "shm", .chunk = SMALL_CHUNK, .timeout_ms = 20000,
			   .body = body_mismatch, .victim = -1, .expect_broken = true };
	struct job *job = run_job(t, &sp);

	if (job)
		munmap(job, sizeof(*job));
	sp.body = body_wrong_op;
	job = run_job(t, &sp);
	if (!job)
		return;
	LT_CHECK(t, job->out[0].rc == -EPROTO || job->out[1].rc == -EPROTO, "no -EPROTO: %s / %s",
		 job->out[0].msg, job->out[1].msg);
	LT_CHECK(t, strstr(job->out[0].msg, "allgather") || strstr(job->out[1].msg, "barrier") ||
			    strstr(job->out[0].msg, "broke"),
		 "messages: %s / %s", job->out[0].msg, job->out[1].msg);
	munmap(job, sizeof(*job));
}

/* Alltoallv of 64 KiB per pair in a loop until something fails. */
static void body_until_killed(struct ctx *x)
{
	size_t sc[MAX_RANKS], so[MAX_RANKS];
	size_t len = 64 << 10;
	uint8_t *send = calloc((size_t)x->world, len), *recv = calloc((size_t)x->world, len);
	double end = now_ms() + 15000;
	int err = 0;

	for (int j = 0; j < x->world; j++) {
		sc[j] = len;
		so[j] = (size_t)j * len;
	}
	while (!err && now_ms() < end) {
		err = comm_alltoallv(x->c, NULL, send, sc, so, recv, sc, so);
		if (x->out->t_mark_ms[0] == 0)
			x->out->t_mark_ms[0] = now_ms();
	}
	x->out->rc = err;
	x->out->t_fail_ms = now_ms();
	snprintf(x->out->msg, sizeof(x->out->msg), "%s", loom_err_msg());
	free(send);
	free(recv);
}

static void kill_case(struct lt *t, const char *prov, int victim)
{
	struct spec sp = { .world = 4, .provider = prov, .chunk = 16384, .timeout_ms = 20000,
			   .body = body_until_killed, .victim = victim, .kill_after_ms = 300,
			   .expect_broken = true };
	struct job *job = run_job(t, &sp);
	char want[32];
	double t_kill;

	if (!job)
		return;
	t_kill = job->t_kill_ms;
	snprintf(want, sizeof(want), "rank %d", victim);
	for (int r = 0; r < sp.world; r++) {
		struct rank_out *o = &job->out[r];

		if (r == victim)
			continue;
		LT_CHECK(t, o->rc < 0, "%s: rank %d saw no error (killed too late?)", prov, r);
		LT_CHECK(t, o->t_fail_ms - t_kill < DETECT_LIMIT_MS, "%s: rank %d failed %.0f ms after "
			 "the kill", prov, r, o->t_fail_ms - t_kill);
		LT_CHECK(t, strstr(o->msg, want) != NULL, "%s: rank %d: message does not name %s: %s",
			 prov, r, want, o->msg);
	}
	munmap(job, sizeof(*job));
}

/* Rank 1 comes 2 s late to a barrier; rank 0's 400 ms timeout fires. */
static void body_stall(struct ctx *x)
{
	double t0;
	int err;

	if (x->rank == 1)
		sleep_ms(2000);
	t0 = now_ms();
	err = comm_barrier(x->c);
	x->out->rc = err;
	x->out->t_fail_ms = now_ms() - t0;
	snprintf(x->out->msg, sizeof(x->out->msg), "%s", loom_err_msg());
}

static void test_timeout_names_rank(struct lt *t)
{
	struct spec sp = { .world = 2, .provider = "shm", .chunk = SMALL_CHUNK, .timeout_ms = 400,
			   .body = body_stall, .victim = -1, .expect_broken = true };
	struct job *job = run_job(t, &sp);

	if (!job)
		return;
	/* 400 ms without progress, checked every few ms: well under 1.5 s
	 * even on a loaded machine, never before 400 ms. */
	LT_CHECK(t, job->out[0].rc == -ETIMEDOUT && job->out[0].t_fail_ms >= 400 &&
			    job->out[0].t_fail_ms < 1500 && strstr(job->out[0].msg, "rank 1"),
		 "rank 0: %d after %.0f ms: %s", job->out[0].rc, job->out[0].t_fail_ms,
		 job->out[0].msg);
	/* The late rank learns at once that rank 0 gave up. */
	LT_CHECK(t, job->out[1].rc == -ECONNABORTED && job->out[1].t_fail_ms < 1000 &&
			    strstr(job->out[1].msg, "rank 0"),
		 "rank 1: %d after %.0f ms: %s", job->out[1].rc, job->out[1].t_fail_ms,
		 job->out[1].msg);
	munmap(job, sizeof(*job));
}

static void test_killed_rank_shm(struct lt *t)
{
	kill_case(t, "shm", 2);
}

static void test_killed_rank_udp(struct lt *t)
{
	kill_case(t, "udp", 2);
}

static void test_killed_rank_zero(struct lt *t)
{
	kill_case(t, "shm", 0);
}

static const struct lt_case cases[] = {
	LT_CASE(test_tree_sum_matches_levels),
	LT_CASE(test_tree_sum_hand_case),
	LT_CASE(test_world_of_one_local),
	LT_CASE(test_bad_arguments),
	LT_CASE(test_unknown_provider),
	LT_CASE(test_alltoallv_shm),
	LT_CASE(test_alltoallv_udp),
	LT_CASE(test_alltoallv_default_chunk),
	LT_CASE(test_group_alltoallv),
	LT_CASE(test_allreduce_f32_bits),
	LT_CASE(test_allreduce_three_ranks),
	LT_CASE(test_allreduce_pow2_consistency),
	LT_CASE(test_allreduce_i64_exact),
	LT_CASE(test_allgather),
	LT_CASE(test_barrier),
	LT_CASE(test_mismatch_is_eproto),
	LT_CASE(test_timeout_names_rank),
	LT_CASE(test_killed_rank_shm),
	LT_CASE(test_killed_rank_udp),
	LT_CASE(test_killed_rank_zero),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

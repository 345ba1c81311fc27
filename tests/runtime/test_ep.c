/*
 * test_ep.c - runtime/ep: the dispatch layout against a brute-force count,
 * the wire formats, bad configurations and arguments, and end-to-end jobs
 * of 1, 2 and 4 ranks (forked processes) over shm and udp, one-hop and
 * two-hop.
 *
 * End to end: every rank's tokens are a slice of one global random batch
 * (random x, random distinct top-k with some unused -1 slots, random
 * weights).  A toy expert y = f_e(x) = x * (1 + e) + 0.5 e runs on the rows
 * a rank receives, its "gradient" is grad_rows = grad_y * (1 + e).  out,
 * the received rows, grad_y, grad_weight and grad_x are compared bit for
 * bit with a reference computed here in one process straight from the
 * global batch: each row rounded to the wire with quant.h / fp8.h /
 * logfmt.h, f_e applied, rounded again, summed in slot order from +0
 * (tolerance 0: the contract is bit-identity).  Jobs of one case are also
 * compared with each other byte for byte.  The traffic counters are
 * compared with a count made here from the batch (records and rows per
 * (sender, receiver), by hop).
 */
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

#include "../../runtime/ep/ep_impl.h"
#include "loom/bootstrap.h"
#include "loom/comm.h"
#include "loom/ep.h"
#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/logfmt.h"
#include "loom/quant.h"
#include "loom/rng.h"
#include "lt.h"

#define MAX_P 4
#define MAX_T 64
#define MAX_K 8
#define MAX_H 200
#define JOB_DEADLINE_MS 60000
#define NCALLS 4 /* dispatch, combine, combine backward, dispatch backward */
#define STEPS 2	/* each job runs its steps on one context */

static const char *const call_name[NCALLS] = { "dispatch", "combine", "combine_backward",
					       "dispatch_backward" };

/* ---- the global batch ---------------------------------------------------------- */

struct batch {
	int T, E, K, H;
	float x[MAX_T * MAX_H];
	int32_t idx[MAX_T * MAX_K];
	float w[MAX_T * MAX_K];
	float gout[MAX_T * MAX_H];
};

/* K distinct experts per token; slot K-1 unused for t % 5 == 3, every slot
 * for t % 11 == 7 (a token no rank gets).  Rows span 2^-6 .. 2^6 so the FP8
 * scales differ per token. */
static void batch_make(struct batch *b, uint64_t seed, int T, int E, int K, int H)
{
	struct loom_rng g;

	loom_rng_init(&g, seed);
	*b = (struct batch){ .T = T, .E = E, .K = K, .H = H };
	for (int t = 0; t < T; t++) {
		float mag = ldexpf(1.0f, (int)(loom_rng_u32(&g) % 13) - 6);

		for (int j = 0; j < H; j++) {
			b->x[t * H + j] = mag * (float)loom_rng_normal(&g);
			b->gout[t * H + j] = (float)loom_rng_normal(&g);
		}
		for (int k = 0; k < K; k++) {
			int32_t e;
			int dup;

			do {
				e = (int32_t)(loom_rng_u32(&g) % (uint32_t)E);
				dup = 0;
				for (int j = 0; j < k; j++)
					dup |= b->idx[t * K + j] == e;
			} while (dup);
			b->idx[t * K + k] = e;
			b->w[t * K + k] = (float)loom_rng_uniform(&g);
		}
		if (t % 5 == 3)
			b->idx[t * K + K - 1] = -1;
		if (t % 11 == 7)
			for (int k = 0; k < K; k++)
				b->idx[t * K + k] = -1;
	}
}

/* ---- results: written by the ranks into shared memory ---------------------------- */

struct res {
	float out[MAX_T * MAX_H], gx[MAX_T * MAX_H], gw[MAX_T * MAX_K];
	float rx[MAX_T * MAX_K * MAX_H], gy[MAX_T * MAX_K * MAX_H];
	int seen[MAX_T * MAX_K];
	uint64_t intra[NCALLS][MAX_P][MAX_P], inter[NCALLS][MAX_P][MAX_P];
	uint64_t tot_inter[MAX_P];
	int rc[MAX_P], done[MAX_P];
	char msg[MAX_P][320];
	_Atomic int port;
	int poison_token;	   /* global token whose expert row was made inf */
	int combine_rc[MAX_P];	   /* poison jobs: each rank's ep_combine */
};

static float f_expert(float v, int e)
{
	return v * (1.0f + (float)e) + 0.5f * (float)e;
}

/* One row rounded through a wire, computed without ep.c. */
static void wire_round(enum ep_wire w, int bits, float *dst, const float *src, int h)
{
	uint8_t q[1024];
	float s[8];

	if (h > 1024) /* the wire cases use H <= 300 */
		abort();
	switch (w) {
	case EP_WIRE_FP8:
		quant_act_1x128(q, s, src, 1, h, QUANT_SCALE_F32);
		dequant_act_1x128(dst, q, s, 1, h);
		break;
	case EP_WIRE_BF16:
		for (int j = 0; j < h; j++)
			dst[j] = bf16_round(src[j]);
		break;
	case EP_WIRE_F32:
		memcpy(dst, src, (size_t)h * sizeof(float));
		break;
	case EP_WIRE_LOGFMT:
		logfmt_fake_quant(dst, src, 1, h, bits);
		break;
	}
}

static void reference(const struct batch *b, const struct ep_config *c, struct res *ref)
{
	int H = b->H, K = b->K;
	float xw[MAX_H], gw_t[MAX_H], y[MAX_H], yw[MAX_H], gr[MAX_H], gro[MAX_H];

	memset(ref, 0, sizeof(*ref));
	for (int t = 0; t < b->T; t++) {
		float *out = ref->out + t * H, *gx = ref->gx + t * H;
		const float *go = b->gout + t * H;

		wire_round(c->dispatch_wire, c->logfmt_bits, xw, b->x + t * H, H);
		wire_round(c->grad_wire, 0, gw_t, go, H);
		for (int k = 0; k < K; k++) {
			int e = b->idx[t * K + k], pk = t * K + k;
			float w = b->w[pk], dot = 0.0f, *gy = ref->gy + (size_t)pk * H;

			if (e < 0)
				continue;
			ref->seen[pk] = 1;
			memcpy(ref->rx + (size_t)pk * H, xw, sizeof(float) * (size_t)H);
			for (int j = 0; j < H; j++)
				y[j] = f_expert(xw[j], e);
			wire_round(c->combine_wire, c->logfmt_bits, yw, y, H);
			for (int j = 0; j < H; j++) {
				out[j] = out[j] + w * yw[j];
				dot = dot + go[j] * yw[j];
				gy[j] = w * gw_t[j];
				gro[j] = gy[j] * (1.0f + (float)e);
			}
			ref->gw[pk] = dot;
			wire_round(c->grad_wire, 0, gr, gro, H);
			for (int j = 0; j < H; j++)
				gx[j] = gx[j] + gr[j];
		}
	}
}

/* ---- one job ----------------------------------------------------------------------- */

struct job {
	const char *provider; /* NULL: one rank in this process ("local") */
	int P, R, two_hop;
	const int *lo;	      /* (P + 1) slice bounds, or NULL: lo(r) = T r^2 / P^2 */
	size_t chunk_bytes;   /* comm's staging pieces; 0 = its default */
	int victim;	      /* rank victim - 1 SIGKILLs itself before its dispatch */
	int poison;	      /* LogFMT combine with one inf expert row on rank 1 */
};

static int slice_lo(const struct job *j, int T, int r)
{
	return j->lo ? j->lo[r] : (int)((long)T * r * r / ((long)j->P * j->P));
}

static void rank_fail(struct res *res, int r, int rc, const char *what)
{
	if (res->rc[r])
		return;
	res->rc[r] = rc ? rc : -1;
	snprintf(res->msg[r], sizeof(res->msg[r]), "%s: %s", what, rc ? loom_err_msg() : "");
}

static void traffic_save(struct ep *ep, struct res *res, int call, int r, int P)
{
	struct ep_traffic tr;

	if (ep_traffic(ep, &tr))
		return;
	for (int d = 0; d < P; d++) {
		res->intra[call][r][d] = tr.last_intra[d];
		res->inter[call][r][d] = tr.last_inter[d];
	}
	res->tot_inter[r] = tr.total_inter;
}

/* The rows a rank received: canonical order and metadata; copies them out. */
static void recv_check(const struct ep_recv *rv, const struct batch *b, const struct job *j,
		       int r, struct res *res)
{
	int El = b->E / j->P, K = b->K, H = b->H;
	long prev = -1;

	if (rv->num_local_experts != El || rv->expert_offset[0] != 0 ||
	    rv->expert_offset[El] != rv->num_rows)
		rank_fail(res, r, 0, "expert_offset does not cover the rows");
	for (int le = 0; le < El; le++)
		for (int i = rv->expert_offset[le]; i < rv->expert_offset[le + 1]; i++) {
			int sr = rv->src_rank[i], gt = slice_lo(j, b->T, sr) + rv->src_token[i];
			int k = rv->src_slot[i], pk = gt * K + k;
			long key = ((long)le * MAX_P + sr) * MAX_T + rv->src_token[i];

			if (key <= prev)
				rank_fail(res, r, 0, "rows not ordered by (expert, rank, token)");
			prev = key;
			if (sr < 0 || sr >= j->P || k < 0 || k >= K || gt >= b->T ||
			    b->idx[pk] != r * El + le || b->w[pk] != rv->weight[i]) {
				rank_fail(res, r, 0, "a row's src_rank/src_token/src_slot/weight "
					  "is wrong");
				return;
			}
			__atomic_fetch_add(&res->seen[pk], 1, __ATOMIC_RELAXED);
			memcpy(res->rx + (size_t)pk * H, rv->x + (size_t)i * H, 4 * (size_t)H);
		}
}

/* Expert rank side of one step: y = f_e(x) per row. */
static float *expert_apply(const struct ep_recv *rv, int r, int H)
{
	float *y = malloc(((size_t)rv->num_rows + 1) * H * sizeof(float));

	for (int le = 0; y && le < rv->num_local_experts; le++)
		for (int i = rv->expert_offset[le]; i < rv->expert_offset[le + 1]; i++)
			for (int c = 0; c < H; c++)
				y[(size_t)i * H + c] = f_expert(rv->x[(size_t)i * H + c],
								r * rv->num_local_experts + le);
	return y;
}

/* Copy grad_y rows home to the shared result and make grad_rows. */
static void grad_rows_make(const struct ep_recv *rv, const struct batch *b,
			   const struct job *j, int r, const float *gy, float *grows,
			   struct res *res)
{
	int H = b->H;

	for (int i = 0; i < rv->num_rows; i++) {
		int gt = slice_lo(j, b->T, rv->src_rank[i]) + rv->src_token[i];
		int pk = gt * b->K + rv->src_slot[i];
		float e1 = 1.0f + (float)(r * rv->num_local_experts);

		for (int le = 0; le < rv->num_local_experts; le++)
			if (i >= rv->expert_offset[le] && i < rv->expert_offset[le + 1])
				e1 = 1.0f + (float)(r * rv->num_local_experts + le);
		memcpy(res->gy + (size_t)pk * H, gy + (size_t)i * H, 4 * (size_t)H);
		for (int c = 0; c < H; c++)
			grows[(size_t)i * H + c] = gy[(size_t)i * H + c] * e1;
	}
}

/* One step (the four collectives) of one rank; failures go to res->rc[r]. */
static void rank_step(struct ep *ep, const struct job *j, const struct batch *b,
		      struct res *res, int r)
{
	int H = b->H, K = b->K, lo = slice_lo(j, b->T, r), rc;
	int T = slice_lo(j, b->T, r + 1) - lo;
	float *out = malloc(((size_t)T + 1) * H * 4), *gw = malloc(((size_t)T + 1) * K * 4);
	float *gx = malloc(((size_t)T + 1) * H * 4), *y = NULL, *gy = NULL, *grows = NULL;
	struct ep_handle *h = NULL;
	struct ep_recv rv;

	rc = ep_dispatch(ep, T, b->x + lo * H, b->idx + lo * K, b->w + lo * K, &h, &rv);
	if (rc) {
		rank_fail(res, r, rc, "ep_dispatch");
		goto out;
	}
	traffic_save(ep, res, 0, r, j->P);
	recv_check(&rv, b, j, r, res);
	y = expert_apply(&rv, r, H);
	gy = malloc(((size_t)rv.num_rows + 1) * H * 4);
	grows = malloc(((size_t)rv.num_rows + 1) * H * 4);
	if ((rc = ep_combine(ep, h, y, out))) {
		rank_fail(res, r, rc, "ep_combine");
		goto out;
	}
	traffic_save(ep, res, 1, r, j->P);
	if ((rc = ep_combine_backward(ep, h, b->gout + lo * H, gy, gw))) {
		rank_fail(res, r, rc, "ep_combine_backward");
		goto out;
	}
	traffic_save(ep, res, 2, r, j->P);
	grad_rows_make(&rv, b, j, r, gy, grows, res);
	if ((rc = ep_dispatch_backward(ep, h, grows, gx))) {
		rank_fail(res, r, rc, "ep_dispatch_backward");
		goto out;
	}
	traffic_save(ep, res, 3, r, j->P);
	memcpy(res->out + lo * H, out, (size_t)T * H * 4);
	memcpy(res->gx + lo * H, gx, (size_t)T * H * 4);
	memcpy(res->gw + lo * K, gw, (size_t)T * K * 4);
out:
	ep_handle_free(h);
	free(out);
	free(gw);
	free(gx);
	free(y);
	free(gy);
	free(grows);
}

/* Rank 1 makes its first expert row inf; with a LogFMT combine that rank
 * and the token's home rank get -EINVAL, everyone else 0. */
static void rank_poison_step(struct ep *ep, const struct job *j, const struct batch *b,
			     struct res *res, int r)
{
	int H = b->H, lo = slice_lo(j, b->T, r), T = slice_lo(j, b->T, r + 1) - lo;
	float *out = calloc((size_t)T + 1, (size_t)H * 4), *y = NULL;
	struct ep_handle *h = NULL;
	struct ep_recv rv;
	int rc = ep_dispatch(ep, T, b->x + lo * H, b->idx + lo * b->K, b->w + lo * b->K, &h, &rv);

	if (rc) {
		rank_fail(res, r, rc, "ep_dispatch");
		goto out;
	}
	y = expert_apply(&rv, r, H);
	if (r == 1 && rv.num_rows > 0) {
		y[0] = INFINITY;
		res->poison_token = slice_lo(j, b->T, rv.src_rank[0]) + rv.src_token[0];
	}
	res->combine_rc[r] = ep_combine(ep, h, y, out);
	memcpy(res->out + lo * H, out, (size_t)T * H * 4);
out:
	ep_handle_free(h);
	free(out);
	free(y);
}

/* Every step of one rank on one context. */
static void rank_body(struct comm *cm, const struct job *j, const struct ep_config *cfg0,
		      const struct batch *b, struct res *res)
{
	int r = comm_rank(cm);
	struct ep_config cfg = *cfg0;
	struct ep *ep;

	if (strcmp(comm_provider(cm), j->provider ? j->provider : "local") != 0) {
		rank_fail(res, r, 0, "the communicator's provider is not the job's");
		return;
	}
	cfg.ranks_per_node = j->R;
	cfg.two_hop = j->two_hop;
	ep = ep_create(cm, &cfg);
	if (!ep) {
		rank_fail(res, r, -1, "ep_create");
		return;
	}
	if (r == j->victim - 1)
		raise(SIGKILL);
	for (int s = 0; s < (j->poison ? 1 : STEPS) && !res->rc[r]; s++)
		if (j->poison)
			rank_poison_step(ep, j, b, res, r);
		else
			rank_step(ep, j, b, res, r);
	res->done[r] = !res->rc[r];
	ep_destroy(ep);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void child_run(const struct job *j, const struct ep_config *cfg, const struct batch *b,
		      struct res *res, int r)
{
	struct boot_config bc = { .rank = r, .world_size = j->P, .master_addr = "127.0.0.1",
				  .timeout_ms = 20000 };
	struct comm_opts co = { .provider = j->provider, .timeout_ms = 20000,
				.chunk_bytes = j->chunk_bytes };
	struct boot *bt;
	struct comm *cm;

	alarm(JOB_DEADLINE_MS / 1000 + 5); /* never outlive a broken parent */
	if (r > 0) {
		double end = now_ms() + 10000;

		while (atomic_load(&res->port) == 0 && now_ms() < end)
			usleep(1000);
	}
	bc.master_port = r == 0 ? 0 : atomic_load(&res->port);
	bt = bc.master_port >= 0 ? boot_init_tcp(&bc) : NULL;
	if (r == 0)
		atomic_store(&res->port, bt ? boot_master_port(bt) : -1);
	cm = bt ? comm_create(bt, &co) : NULL;
	if (!cm)
		rank_fail(res, r, -1, bt ? "comm_create" : "boot_init_tcp");
	else
		rank_body(cm, j, cfg, b, res);
	if (cm && comm_destroy(cm))
		rank_fail(res, r, -1, "comm_destroy");
	boot_finalize(bt);
	exit(0); /* not _exit: LeakSanitizer checks the child */
}

static void reap(struct lt *t, pid_t *pids, int n, int victim)
{
	double end = now_ms() + JOB_DEADLINE_MS;
	int status[MAX_P], left = n;

	for (int i = 0; i < n; i++)
		status[i] = -1;
	while (left > 0 && now_ms() < end) {
		for (int i = 0; i < n; i++)
			if (status[i] == -1 && waitpid(pids[i], &status[i], WNOHANG) == pids[i])
				left--;
		if (left)
			usleep(2000);
	}
	for (int i = 0; i < n; i++) {
		if (status[i] == -1) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status[i], 0);
			LT_CHECK(t, false, "rank %d still running after %d ms: killed", i,
				 JOB_DEADLINE_MS);
		}
		LT_CHECK(t, i == victim || (WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0),
			 "rank %d ended with status 0x%x", i, status[i]);
	}
}

/* Run the job; false (with failures recorded) when a rank failed. */
static bool job_run(struct lt *t, const struct job *j, const struct ep_config *cfg,
		    const struct batch *b, struct res *res)
{
	pid_t pids[MAX_P];
	bool ok = true;

	memset(res, 0, sizeof(*res));
	if (!j->provider) {
		struct boot *bt = boot_init_local();
		struct comm *cm = bt ? comm_create(bt, NULL) : NULL;

		if (!cm)
			rank_fail(res, 0, -1, "comm_create (local)");
		else
			rank_body(cm, j, cfg, b, res);
		comm_destroy(cm);
		boot_finalize(bt);
	} else {
		fflush(stdout);
		fflush(stderr);
		for (int r = 0; r < j->P; r++) {
			pids[r] = fork();
			if (pids[r] < 0)
				abort();
			if (pids[r] == 0)
				child_run(j, cfg, b, res, r);
		}
		reap(t, pids, j->P, j->victim - 1);
	}
	for (int r = 0; r < j->P && !j->victim; r++) {
		LT_CHECK(t, res->rc[r] == 0 && res->done[r], "%s P=%d R=%d two_hop=%d rank %d: "
			 "rc %d %s", j->provider ? j->provider : "local", j->P, j->R, j->two_hop, r,
			 res->rc[r], res->msg[r]);
		ok &= res->rc[r] == 0 && res->done[r];
	}
	return ok;
}

/* ---- comparisons -------------------------------------------------------------------- */

/* Bit-exact comparison of n floats; prints the first mismatch. */
static void same_bits(struct lt *t, const char *what, const float *got, const float *want,
		      size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&got[i], &want[i], 4) != 0) {
			LT_CHECK(t, false, "%s[%zu]: got %.9g, want %.9g", what, i, got[i],
				 want[i]);
			return;
		}
}

static void res_compare(struct lt *t, const char *tag, const struct res *got,
			const struct res *want, const struct batch *b)
{
	size_t th = (size_t)b->T * b->H, tk = (size_t)b->T * b->K;
	char what[160];

	snprintf(what, sizeof(what), "%s out", tag);
	same_bits(t, what, got->out, want->out, th);
	snprintf(what, sizeof(what), "%s grad_x", tag);
	same_bits(t, what, got->gx, want->gx, th);
	snprintf(what, sizeof(what), "%s grad_weight", tag);
	same_bits(t, what, got->gw, want->gw, tk);
	for (size_t pk = 0; pk < tk; pk++) {
		LT_CHECK(t, got->seen[pk] == STEPS * want->seen[pk], "%s pair %zu received %d "
			 "times in %d steps, want %d", tag, pk, got->seen[pk], STEPS,
			 STEPS * want->seen[pk]);
		if (!want->seen[pk])
			continue;
		snprintf(what, sizeof(what), "%s recv.x of pair %zu", tag, pk);
		same_bits(t, what, got->rx + pk * b->H, want->rx + pk * b->H, (size_t)b->H);
		snprintf(what, sizeof(what), "%s grad_y of pair %zu", tag, pk);
		same_bits(t, what, got->gy + pk * b->H, want->gy + pk * b->H, (size_t)b->H);
	}
}

/* ---- the traffic count made here -------------------------------------------------- */

static size_t pad4(size_t n)
{
	return (n + 3) / 4 * 4;
}

/* Row bytes of each wire, from the layouts ep.h / ep_wire.c document. */
static size_t wire_bytes(enum ep_wire w, int h, int bits)
{
	size_t kb = (size_t)(h + 127) / 128;

	switch (w) {
	case EP_WIRE_FP8:
		return pad4(4 * kb + (size_t)h);
	case EP_WIRE_BF16:
		return pad4(2 * (size_t)h);
	case EP_WIRE_F32:
		return 4 * (size_t)h;
	case EP_WIRE_LOGFMT:
		return pad4(kb * (8 + 16 * (size_t)bits));
	}
	return 0;
}

struct model {
	uint64_t m[NCALLS][MAX_P][MAX_P]; /* bytes from rank s to rank d */
};

/* Token t (home s) on the forward path: hop 1 to the forwarder of each
 * destination node, hop 2 to each destination rank; pair rows come back
 * the reverse way. */
static void model_token(struct model *md, const struct batch *b, const struct job *j,
			const struct ep_config *c, int t, int s)
{
	int rr = j->two_hop ? j->R : 1, epr = b->E / j->P, pairs[MAX_P] = { 0 };
	size_t rb = 8 + 8 * (size_t)b->K + wire_bytes(c->dispatch_wire, b->H, c->logfmt_bits);
	size_t cb = wire_bytes(c->combine_wire, b->H, c->logfmt_bits);
	size_t gb = wire_bytes(c->grad_wire, b->H, 0);

	for (int k = 0; k < b->K; k++)
		if (b->idx[t * b->K + k] >= 0)
			pairs[b->idx[t * b->K + k] / epr]++;
	for (int n = 0; n < j->P / rr; n++) {
		int f = n * rr + s % rr, any = 0;

		for (int d = n * rr; d < (n + 1) * rr; d++) {
			if (!pairs[d])
				continue;
			any = 1;
			if (d != f) {
				md->m[0][f][d] += rb;
				md->m[2][f][d] += gb;
				md->m[1][d][f] += cb * pairs[d];
				md->m[3][d][f] += gb * pairs[d];
			}
			if (f != s) {
				md->m[1][f][s] += cb * pairs[d];
				md->m[3][f][s] += gb * pairs[d];
			}
		}
		if (any && f != s) {
			md->m[0][s][f] += rb;
			md->m[2][s][f] += gb;
		}
	}
}

static void model_make(struct model *md, const struct batch *b, const struct job *j,
		       const struct ep_config *c)
{
	int rr = j->two_hop ? j->R : 1;

	memset(md, 0, sizeof(*md));
	for (int s = 0; s < j->P; s++) {
		/* dispatch's record counts: 8 bytes to every other member of both groups */
		for (int n = 0; n < j->P / rr; n++)
			if (n * rr + s % rr != s)
				md->m[0][s][n * rr + s % rr] += 8;
		for (int d = s / rr * rr; rr > 1 && d < (s / rr + 1) * rr; d++)
			if (d != s)
				md->m[0][s][d] += 8;
		for (int t = slice_lo(j, b->T, s); t < slice_lo(j, b->T, s + 1); t++)
			model_token(md, b, j, c, t, s);
	}
}

static void traffic_compare(struct lt *t, const struct res *res, const struct batch *b,
			    const struct job *j, const struct ep_config *c)
{
	int rpn = j->R ? j->R : j->P;
	struct model md;

	model_make(&md, b, j, c);
	for (int s = 0; s < j->P; s++) {
		uint64_t inter = 0;

		for (int call = 0; call < NCALLS; call++)
			for (int d = 0; d < j->P; d++)
				inter += s / rpn != d / rpn ? md.m[call][s][d] : 0;
		LT_CHECK(t, res->tot_inter[s] == STEPS * inter, "rank %d: total_inter %llu after "
			 "%d steps, want %llu", s, (unsigned long long)res->tot_inter[s], STEPS,
			 (unsigned long long)(STEPS * inter));
	}
	for (int call = 0; call < NCALLS; call++)
		for (int s = 0; s < j->P; s++)
			for (int d = 0; d < j->P; d++) {
				int same = s / rpn == d / rpn;
				uint64_t want = s == d ? 0 : md.m[call][s][d];

				LT_CHECK(t, res->intra[call][s][d] == (same ? want : 0) &&
						    res->inter[call][s][d] == (same ? 0 : want),
					 "%s %d -> %d: intra %llu inter %llu, want %llu %s", call_name[call],
					 s, d, (unsigned long long)res->intra[call][s][d],
					 (unsigned long long)res->inter[call][s][d],
					 (unsigned long long)want, same ? "intra" : "inter");
			}
}

static uint64_t inter_total(const struct res *res, int P)
{
	uint64_t sum = 0;

	for (int r = 0; r < P; r++)
		sum += res->tot_inter[r];
	return sum;
}

/* ---- cases: layout --------------------------------------------------------------- */

static void random_topk(struct loom_rng *g, int32_t *idx, int T, int E, int K)
{
	for (int t = 0; t < T; t++)
		for (int k = 0; k < K; k++) {
			int dup;

			do {
				idx[t * K + k] = (int32_t)(loom_rng_u32(g) % (uint32_t)(E + 1)) - 1;
				dup = 0;
				for (int j = 0; j < k; j++)
					dup |= idx[t * K + k] >= 0 && idx[t * K + j] == idx[t * K + k];
			} while (dup);
		}
}

static void layout_one(struct lt *t, struct loom_rng *g, int P, int R, int E, int K)
{
	enum { T = 40 };
	int32_t idx[T * 8];
	int64_t pr[8], pn[8], pe[64];
	uint8_t in[T * 8];
	int rpn = R ? R : P, epr = E / P;
	struct ep_config c = ep_config_default(E, K, 16);
	int rc;

	c.ranks_per_node = R;
	random_topk(g, idx, T, E, K);
	rc = ep_layout(&c, P, T, idx, pr, pn, pe, in);
	LT_CHECK(t, rc == 0, "P=%d R=%d: %d %s", P, R, rc, loom_err_msg());
	/* Brute force: for each rank / node / expert, scan every token's slots. */
	for (int r = 0; r < P; r++) {
		int64_t n = 0;

		for (int tk = 0; tk < T; tk++) {
			int hit = 0;

			for (int k = 0; k < K; k++)
				hit |= idx[tk * K + k] >= 0 && idx[tk * K + k] / epr == r;
			n += hit;
			LT_CHECK(t, in[tk * P + r] == hit, "P=%d R=%d token %d rank %d: in %d", P, R,
				 tk, r, in[tk * P + r]);
		}
		LT_CHECK(t, pr[r] == n, "P=%d rank %d: %lld tokens, want %lld", P, r,
			 (long long)pr[r], (long long)n);
	}
	for (int nd = 0; nd < P / rpn; nd++) {
		int64_t n = 0;

		for (int tk = 0; tk < T; tk++) {
			int hit = 0;

			for (int k = 0; k < K; k++)
				hit |= idx[tk * K + k] >= 0 && idx[tk * K + k] / epr / rpn == nd;
			n += hit;
		}
		LT_CHECK(t, pn[nd] == n, "P=%d R=%d node %d: %lld, want %lld", P, R, nd,
			 (long long)pn[nd], (long long)n);
	}
	for (int e = 0; e < E; e++) {
		int64_t n = 0;

		for (int i = 0; i < T * K; i++)
			n += idx[i] == e;
		LT_CHECK(t, pe[e] == n, "expert %d: %lld, want %lld", e, (long long)pe[e],
			 (long long)n);
	}
}

static void test_layout_brute_force(struct lt *t)
{
	static const int cfgs[][4] = { { 1, 0, 8, 3 }, { 2, 0, 8, 4 }, { 2, 1, 6, 2 },
				       { 4, 2, 16, 8 }, { 8, 2, 64, 8 }, { 8, 4, 8, 8 },
				       { 8, 8, 32, 1 } };
	struct loom_rng g;

	loom_rng_init(&g, lt_seed(t));
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		layout_one(t, &g, cfgs[i][0], cfgs[i][1], cfgs[i][2], cfgs[i][3]);
}

static void test_layout_bad_input(struct lt *t)
{
	struct ep_config c = ep_config_default(8, 2, 16);
	int32_t dup[4] = { 1, 2, 3, 3 }, range[4] = { 1, 2, 8, 0 }, neg[4] = { 1, -2, 0, 3 };
	int32_t unused[4] = { -1, -1, 5, -1 };
	int64_t pr[2];

	LT_CHECK(t, ep_layout(&c, 2, 2, dup, pr, NULL, NULL, NULL) == -EINVAL, "duplicate id");
	LT_CHECK(t, strstr(loom_err_msg(), "distinct") != NULL, "%s", loom_err_msg());
	LT_CHECK(t, ep_layout(&c, 2, 2, range, pr, NULL, NULL, NULL) == -EINVAL, "id 8 of 8");
	LT_CHECK(t, ep_layout(&c, 2, 2, neg, pr, NULL, NULL, NULL) == -EINVAL, "id -2");
	LT_CHECK(t, ep_layout(&c, 2, 1, NULL, pr, NULL, NULL, NULL) == -EINVAL, "NULL topk");
	LT_CHECK(t, ep_layout(&c, 2, -1, dup, pr, NULL, NULL, NULL) == -EINVAL, "T < 0");
	LT_CHECK(t, ep_layout(&c, 3, 2, unused, pr, NULL, NULL, NULL) == -EINVAL, "E %% P");
	LT_CHECK(t, ep_layout(NULL, 2, 2, unused, pr, NULL, NULL, NULL) == -EINVAL, "NULL cfg");
	LT_CHECK(t, ep_layout(&c, 2, 0, NULL, pr, NULL, NULL, NULL) == 0 && pr[0] == 0 &&
			    pr[1] == 0, "zero tokens: %s", loom_err_msg());
	LT_CHECK(t, ep_layout(&c, 2, 2, unused, pr, NULL, NULL, NULL) == 0 && pr[0] == 0 &&
			    pr[1] == 1, "-1 slots are unused: %lld %lld", (long long)pr[0],
		 (long long)pr[1]);
}

/* ---- cases: configuration --------------------------------------------------------------- */

static void test_config_check(struct lt *t)
{
	struct ep_config d = ep_config_default(8, 2, 64), c;

	LT_CHECK(t, d.dispatch_wire == EP_WIRE_FP8 && d.combine_wire == EP_WIRE_BF16 &&
			    d.grad_wire == EP_WIRE_BF16 && d.ranks_per_node == 0 && !d.two_hop,
		 "defaults");
	LT_CHECK(t, ep_config_check(&d, 1) == 0 && ep_config_check(&d, 8) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, ep_config_check(&d, 3) == -EINVAL && strstr(loom_err_msg(), "multiple"),
		 "E %% P: %s", loom_err_msg());
	LT_CHECK(t, ep_config_check(&d, 0) == -EINVAL && strstr(loom_err_msg(), "world"),
		 "world 0: %s", loom_err_msg());
#define BAD(field, value, world, word)                                                    \
	do {                                                                              \
		c = d;                                                                    \
		c.field = value;                                                          \
		LT_CHECK(t, ep_config_check(&c, world) == -EINVAL, #field " = " #value);  \
		LT_CHECK(t, strstr(loom_err_msg(), word) != NULL, #field ": %s",            \
			 loom_err_msg());                                                 \
	} while (0)
	BAD(num_experts, 0, 1, "num_experts");
	BAD(top_k, 0, 1, "top_k");
	BAD(top_k, 9, 1, "top_k");
	BAD(hidden, 0, 1, "hidden");
	BAD(hidden, -5, 1, "hidden");
	BAD(ranks_per_node, 3, 4, "ranks_per_node");
	BAD(ranks_per_node, -1, 4, "ranks_per_node");
	BAD(two_hop, 1, 4, "two_hop");	  /* needs ranks_per_node */
	BAD(two_hop, 2, 4, "two_hop");
	BAD(dispatch_wire, EP_WIRE_LOGFMT, 1, "dispatch_wire");
	BAD(dispatch_wire, 7, 1, "dispatch_wire");
	BAD(combine_wire, EP_WIRE_FP8, 1, "combine_wire");
	BAD(grad_wire, EP_WIRE_FP8, 1, "grad_wire");
	BAD(grad_wire, EP_WIRE_LOGFMT, 1, "grad_wire");
	c = d;
	c.combine_wire = EP_WIRE_LOGFMT;
	c.logfmt_bits = 7;
	LT_CHECK(t, ep_config_check(&c, 1) == -EINVAL, "logfmt_bits 7");
	c.logfmt_bits = 16;
	LT_CHECK(t, ep_config_check(&c, 1) == 0, "logfmt_bits 16: %s", loom_err_msg());
	c = d;
	c.ranks_per_node = 4;
	c.two_hop = 1;
	LT_CHECK(t, ep_config_check(&c, 4) == -EINVAL, "two_hop on one node");
	LT_CHECK(t, ep_config_check(&c, 8) == 0, "two nodes of 4: %s", loom_err_msg());
	LT_CHECK(t, ep_config_check(NULL, 1) == -EINVAL, "NULL");
	LT_CHECK(t, ep_create(NULL, &d) == NULL, "NULL comm");
#undef BAD
}

/* ---- cases: wire formats ------------------------------------------------------------- */

static void test_wire_row_bytes(struct lt *t)
{
	/* By hand: FP8 H=200 is 2 scales (8 bytes) + 200; H=1 is 4 + 1 -> 8. */
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_FP8, 200, 0) == 208, "fp8 200");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_FP8, 1, 0) == 8, "fp8 1");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_FP8, 128, 0) == 132, "fp8 128");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_FP8, 7168, 0) == 7168 + 56 * 4, "fp8 7168");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_BF16, 3, 0) == 8, "bf16 3");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_BF16, 7168, 0) == 14336, "bf16 7168");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_F32, 3, 0) == 12, "f32 3");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_LOGFMT, 200, 10) == 2 * (8 + 160), "logfmt 10");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_LOGFMT, 5, 8) == 8 + 128, "logfmt 8");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_LOGFMT, 5, 7) == 0, "logfmt 7");
	LT_CHECK(t, ep_wire_row_bytes(EP_WIRE_F32, 0, 0) == 0, "hidden 0");
	LT_CHECK(t, ep_wire_row_bytes((enum ep_wire)9, 4, 0) == 0, "unknown wire");
}

static void wire_one(struct lt *t, struct loom_rng *g, enum ep_wire w, int bits, int h)
{
	size_t rb = ep_wire_row_bytes(w, h, bits);
	uint8_t *buf = malloc(rb + 8);
	float *x = malloc(4 * (size_t)h), *want = malloc(4 * (size_t)h), *got = malloc(4 * (size_t)h);
	char what[64];

	for (int j = 0; j < h; j++)
		x[j] = (float)loom_rng_normal(g) * ldexpf(1.0f, j % 9 - 4);
	x[h / 2] = 0.0f;
	memset(buf, 0xa5, rb + 8);
	LT_CHECK(t, ep_wire_encode(w, bits, buf, x, h) == 0, "encode: %s", loom_err_msg());
	LT_CHECK(t, ep_wire_decode(w, bits, got, buf, h) == 0, "decode: %s", loom_err_msg());
	for (size_t i = rb; i < rb + 8; i++)
		LT_CHECK(t, buf[i] == 0xa5, "wire %d H %d: byte %zu past the row written", w, h, i);
	wire_round(w, bits, want, x, h);
	snprintf(what, sizeof(what), "wire %d bits %d H %d", (int)w, bits, h);
	same_bits(t, what, got, want, (size_t)h);
	if (w == EP_WIRE_F32)
		same_bits(t, "f32 exact", got, x, (size_t)h);
	free(buf);
	free(x);
	free(want);
	free(got);
}

static void test_wire_round_trip(struct lt *t)
{
	static const int hs[] = { 1, 3, 127, 128, 200, 300 };
	struct loom_rng g;

	loom_rng_init(&g, lt_seed(t));
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		wire_one(t, &g, EP_WIRE_FP8, 0, hs[i]);
		wire_one(t, &g, EP_WIRE_BF16, 0, hs[i]);
		wire_one(t, &g, EP_WIRE_F32, 0, hs[i]);
		wire_one(t, &g, EP_WIRE_LOGFMT, 8, hs[i]);
		wire_one(t, &g, EP_WIRE_LOGFMT, 10, hs[i]);
		wire_one(t, &g, EP_WIRE_LOGFMT, 16, hs[i]);
	}
}

static void test_wire_logfmt_nonfinite(struct lt *t)
{
	float x[200], y[200];
	uint8_t buf[400];

	for (int j = 0; j < 200; j++)
		x[j] = (float)j - 100.0f;
	x[150] = INFINITY;
	LT_CHECK(t, ep_wire_encode(EP_WIRE_LOGFMT, 10, buf, x, 200) == -EINVAL, "inf encodes");
	LT_CHECK(t, ep_wire_decode(EP_WIRE_LOGFMT, 10, y, buf, 200) == -EINVAL, "poison decodes");
	LT_CHECK(t, isnan(y[0]) && isnan(y[199]), "rejected row is NaN: %g %g", y[0], y[199]);
	x[150] = NAN;
	LT_CHECK(t, ep_wire_encode(EP_WIRE_LOGFMT, 10, buf, x, 200) == -EINVAL, "NaN encodes");
	/* FP8 and BF16 carry NaN (quant.h: the tile dequantizes to NaN). */
	LT_CHECK(t, ep_wire_encode(EP_WIRE_FP8, 0, buf, x, 200) == 0, "fp8 NaN");
	LT_CHECK(t, ep_wire_decode(EP_WIRE_FP8, 0, y, buf, 200) == 0 && isnan(y[150]) &&
			    !isnan(y[0]), "fp8 NaN stays in its tile");
}

static void test_meta_round_trip(struct lt *t)
{
	int32_t ids[3] = { 7, -1, 0 }, ids2[3], sr, st;
	float w[3] = { 0.25f, -1.5f, 3e-38f }, w2[3];
	uint8_t buf[8 + 24];

	ep_meta_store(buf, 3, 1234567, ids, w, 3);
	ep_meta_load(buf, &sr, &st, ids2, w2, 3);
	LT_CHECK(t, sr == 3 && st == 1234567, "%d %d", sr, st);
	LT_CHECK(t, memcmp(ids, ids2, sizeof(ids)) == 0 && memcmp(w, w2, sizeof(w)) == 0,
		 "ids / weights");
	/* Layout by hand: src_rank little-endian at byte 0, the ids from byte 8. */
	LT_CHECK(t, buf[0] == 3 && buf[8] == 7 && buf[12] == 0xff, "layout");
}

/* ---- cases: end to end ---------------------------------------------------------------- */

static struct res *res_map(void)
{
	struct res *r = mmap(NULL, sizeof(struct res), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (r == MAP_FAILED)
		abort();
	return r;
}

/* Run every job on one batch and config; compare each with the reference,
 * with the first job, and its traffic with the count made here.  With
 * two_hop_vs the index of a one-hop job with the same R, also check that
 * two-hop sends no more inter-node bytes. */
static void jobs_check(struct lt *t, const struct ep_config *c, int T, const struct job *jobs,
		       int njobs)
{
	struct batch *b = malloc(sizeof(*b));
	struct res *ref = malloc(sizeof(*ref)), *first = malloc(sizeof(*first));
	struct res *res = res_map();
	uint64_t inter[2][MAX_P + 1] = { { 0 } }; /* [two_hop][R] of a P = 4 job */
	int have_first = 0;

	batch_make(b, lt_seed(t), T, c->num_experts, c->top_k, c->hidden);
	reference(b, c, ref);
	for (int i = 0; i < njobs; i++) {
		const struct job *j = &jobs[i];
		char tag[96];

		snprintf(tag, sizeof(tag), "[%s P=%d R=%d%s]", j->provider ? j->provider : "local",
			 j->P, j->R, j->two_hop ? " two-hop" : "");
		if (!job_run(t, j, c, b, res))
			continue;
		res_compare(t, tag, res, ref, b);
		traffic_compare(t, res, b, j, c);
		if (have_first)
			LT_CHECK(t, memcmp(res->out, first->out, sizeof(res->out)) == 0 &&
					    memcmp(res->gx, first->gx, sizeof(res->gx)) == 0 &&
					    memcmp(res->gw, first->gw, sizeof(res->gw)) == 0 &&
					    memcmp(res->gy, first->gy, sizeof(res->gy)) == 0,
				 "%s differs from the first job", tag);
		else
			memcpy(first, res, sizeof(*res));
		have_first = 1;
		if (j->P == 4)
			inter[j->two_hop][j->R] = inter_total(res, j->P);
	}
	for (int r = 1; r < MAX_P; r++) {
		if (!inter[0][r] || !inter[1][r])
			continue;
		LT_CHECK(t, inter[1][r] <= inter[0][r], "inter-node bytes, R=%d: two-hop %llu > "
			 "one-hop %llu", r, (unsigned long long)inter[1][r],
			 (unsigned long long)inter[0][r]);
		printf("  inter-node bytes of %d steps, P=4 R=%d: one-hop %llu, two-hop %llu\n",
		       STEPS, r, (unsigned long long)inter[0][r], (unsigned long long)inter[1][r]);
	}
	munmap(res, sizeof(*res));
	free(first);
	free(ref);
	free(b);
}

static struct ep_config cfg_make(int E, int K, int H, enum ep_wire dw, enum ep_wire cw,
				 int bits, enum ep_wire gw)
{
	struct ep_config c = ep_config_default(E, K, H);

	c.dispatch_wire = dw;
	c.combine_wire = cw;
	c.logfmt_bits = bits;
	c.grad_wire = gw;
	return c;
}

static void test_world1(struct lt *t)
{
	static const struct job jobs[] = { { .P = 1 } };
	struct ep_config cs[] = {
		ep_config_default(8, 4, 200),
		cfg_make(8, 4, 200, EP_WIRE_F32, EP_WIRE_F32, 0, EP_WIRE_F32),
		cfg_make(8, 3, 130, EP_WIRE_BF16, EP_WIRE_LOGFMT, 10, EP_WIRE_F32),
		cfg_make(4, 4, 64, EP_WIRE_FP8, EP_WIRE_LOGFMT, 8, EP_WIRE_BF16),
		cfg_make(1, 1, 1, EP_WIRE_FP8, EP_WIRE_BF16, 0, EP_WIRE_BF16),
	};

	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		jobs_check(t, &cs[i], 48, jobs, 1);
}

#define LOCAL1 { .P = 1 }
#define SHM(p, r, hop) { .provider = "shm", .P = (p), .R = (r), .two_hop = (hop) }
#define UDP(p, r, hop) { .provider = "udp", .P = (p), .R = (r), .two_hop = (hop) }

static void test_shm_one_hop(struct lt *t)
{
	static const struct job jobs[] = { LOCAL1, SHM(2, 0, 0), SHM(4, 0, 0), SHM(4, 1, 0) };
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 48, jobs, 4);
}

static void test_udp_one_hop(struct lt *t)
{
	static const struct job jobs[] = { UDP(2, 0, 0), UDP(4, 2, 0) };
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 48, jobs, 2);
}

static void test_two_hop_shm(struct lt *t)
{
	static const struct job jobs[] = { SHM(4, 2, 0), SHM(4, 2, 1), SHM(2, 1, 1),
					   SHM(4, 1, 1) };
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 48, jobs, 4);
}

static void test_two_hop_udp(struct lt *t)
{
	static const struct job jobs[] = { UDP(4, 2, 1) };
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 48, jobs, 1);
}

static void test_two_hop_wires(struct lt *t)
{
	static const struct job jobs[] = { LOCAL1, SHM(4, 2, 1) };
	struct ep_config c1 = cfg_make(8, 3, 130, EP_WIRE_BF16, EP_WIRE_LOGFMT, 10, EP_WIRE_F32);
	struct ep_config c2 = cfg_make(16, 4, 64, EP_WIRE_F32, EP_WIRE_F32, 0, EP_WIRE_BF16);

	jobs_check(t, &c1, 40, jobs, 2);
	jobs_check(t, &c2, 40, jobs, 2);
}

/* Routing extremes: one expert per rank with every token on every rank
 * (k = E), top-1, and top-8 of 32. */
static void test_routing_shapes(struct lt *t)
{
	static const struct job jobs[] = { LOCAL1, SHM(4, 2, 1), SHM(4, 2, 0) };
	struct ep_config all = ep_config_default(4, 4, 96), one = ep_config_default(8, 1, 96);
	struct ep_config wide = ep_config_default(32, 8, 160);

	jobs_check(t, &all, 32, jobs, 3);
	jobs_check(t, &one, 32, jobs, 3);
	jobs_check(t, &wide, 64, jobs, 3);
}

/* Messages larger than comm's staging pieces (1 KiB here) go in pieces. */
static void test_small_comm_pieces(struct lt *t)
{
	static const struct job jobs[] = {
		{ .provider = "shm", .P = 4, .R = 2, .two_hop = 1, .chunk_bytes = 1024 },
		{ .provider = "udp", .P = 2, .chunk_bytes = 1024 },
	};
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 64, jobs, 2);
}

/* Ranks with no tokens at all still take part. */
static void test_empty_ranks(struct lt *t)
{
	static const int lo[] = { 0, 0, 20, 20, 48 };
	static const struct job jobs[] = { LOCAL1,
					   { .provider = "shm", .P = 4, .R = 2, .two_hop = 1,
					     .lo = lo },
					   { .provider = "shm", .P = 4, .lo = lo } };
	struct ep_config c = ep_config_default(8, 4, 200);

	jobs_check(t, &c, 48, jobs, 3);
}

/* A rank killed before its dispatch: every other rank's collective fails
 * with a message (comm's dead-peer detection passes through), no hang. */
static void test_dead_rank(struct lt *t)
{
	static const struct job jobs[] = {
		{ .provider = "shm", .P = 4, .R = 2, .two_hop = 1, .victim = 4 },
		{ .provider = "udp", .P = 2, .victim = 1 },
	};
	struct ep_config c = ep_config_default(8, 4, 200);
	struct batch *b = malloc(sizeof(*b));
	struct res *res = res_map();

	batch_make(b, lt_seed(t), 48, 8, 4, 200);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		const struct job *j = &jobs[i];
		double t0 = now_ms();

		job_run(t, j, &c, b, res);
		for (int r = 0; r < j->P; r++) {
			if (r == j->victim - 1)
				continue;
			LT_CHECK(t, res->rc[r] != 0 && res->msg[r][0], "%s rank %d: no error after "
				 "a peer died", j->provider, r);
			printf("  %s P=%d, rank %d died: rank %d: %s\n", j->provider, j->P,
			       j->victim - 1, r, res->msg[r]);
		}
		printf("  %s: every rank returned within %.0f ms\n", j->provider, now_ms() - t0);
	}
	munmap(res, sizeof(*res));
	free(b);
}

/* ---- cases: errors on one rank ------------------------------------------------------ */

struct one {
	struct boot *bt;
	struct comm *cm;
	struct ep *ep;
};

static bool one_open(struct lt *t, struct one *o, const struct ep_config *c)
{
	o->bt = boot_init_local();
	o->cm = o->bt ? comm_create(o->bt, NULL) : NULL;
	o->ep = o->cm ? ep_create(o->cm, c) : NULL;
	LT_CHECK(t, o->ep != NULL, "open: %s", loom_err_msg());
	return o->ep != NULL;
}

static void one_close(struct one *o)
{
	ep_destroy(o->ep);
	comm_destroy(o->cm);
	boot_finalize(o->bt);
}

static void test_bad_arguments(struct lt *t)
{
	struct ep_config c = ep_config_default(4, 2, 8), c3 = c;
	float x[3 * 8] = { 0 }, w[6] = { 1, 1, 1, 1, 1, 1 }, out[3 * 8], y[8 * 8], gw[6];
	int32_t idx[6] = { 0, 1, 2, 3, 1, 0 }, dup[6] = { 0, 1, 2, 2, 1, 0 };
	int32_t range[6] = { 0, 1, 2, 4, 1, 0 };
	struct ep_handle *h = NULL, *h2 = NULL;
	struct ep_recv rv;
	struct one o, o2;

	c3.num_experts = 3;
	LT_CHECK(t, ep_create(NULL, &c) == NULL, "NULL comm");
	if (!one_open(t, &o, &c))
		return;
	o2.bt = boot_init_local();
	o2.cm = comm_create(o2.bt, NULL);
	LT_CHECK(t, ep_create(o2.cm, NULL) == NULL, "NULL config");
	c3.top_k = 4;
	c3.num_experts = 2;
	LT_CHECK(t, ep_create(o2.cm, &c3) == NULL && strstr(loom_err_msg(), "top_k"),
		 "bad config: %s", loom_err_msg());
	o2.ep = ep_create(o2.cm, &c);
	LT_CHECK(t, ep_dispatch(o.ep, 3, x, dup, w, &h, &rv) == -EINVAL, "duplicate ids");
	LT_CHECK(t, ep_dispatch(o.ep, 3, x, range, w, &h, &rv) == -EINVAL, "id 4 of 4");
	LT_CHECK(t, ep_dispatch(o.ep, -1, x, idx, w, &h, &rv) == -EINVAL, "T < 0");
	LT_CHECK(t, ep_dispatch(o.ep, 3, NULL, idx, w, &h, &rv) == -EINVAL, "NULL x");
	LT_CHECK(t, ep_dispatch(o.ep, 3, x, idx, NULL, &h, &rv) == -EINVAL, "NULL weights");
	LT_CHECK(t, ep_dispatch(o.ep, 3, x, idx, w, NULL, &rv) == -EINVAL, "NULL handle");
	LT_CHECK(t, ep_dispatch(NULL, 3, x, idx, w, &h, &rv) == -EINVAL, "NULL ep");
	LT_CHECK(t, h == NULL, "no handle after failures");
	LT_CHECK(t, ep_dispatch(o.ep, 3, x, idx, w, &h, &rv) == 0 && rv.num_rows == 6, "%s",
		 loom_err_msg());
	LT_CHECK(t, ep_combine_backward(o.ep, h, x, y, gw) == -EINVAL &&
			    strstr(loom_err_msg(), "ep_combine"), "grad_weight before combine");
	LT_CHECK(t, ep_combine(o.ep, h, NULL, out) == -EINVAL, "NULL y");
	LT_CHECK(t, ep_combine(o.ep, h, y, NULL) == -EINVAL, "NULL out");
	LT_CHECK(t, ep_combine(o.ep, NULL, y, out) == -EINVAL, "NULL handle");
	LT_CHECK(t, !o2.ep || ep_combine(o2.ep, h, y, out) == -EINVAL, "foreign handle");
	LT_CHECK(t, ep_dispatch_backward(o.ep, h, NULL, out) == -EINVAL, "NULL grad_rows");
	LT_CHECK(t, ep_combine_backward(o.ep, h, NULL, y, NULL) == -EINVAL, "NULL grad_out");
	LT_CHECK(t, ep_traffic(o.ep, NULL) == -EINVAL && ep_traffic(NULL, NULL) == -EINVAL,
		 "traffic NULL");
	/* Zero tokens is a valid dispatch: no rows, nothing to sum. */
	LT_CHECK(t, ep_dispatch(o.ep, 0, NULL, NULL, NULL, &h2, &rv) == 0 && rv.num_rows == 0 &&
			    rv.expert_offset[2] == 0, "zero tokens: %s", loom_err_msg());
	LT_CHECK(t, ep_combine(o.ep, h2, NULL, NULL) == 0, "empty combine: %s", loom_err_msg());
	LT_CHECK(t, ep_combine_backward(o.ep, h2, NULL, NULL, NULL) == 0, "%s", loom_err_msg());
	LT_CHECK(t, ep_dispatch_backward(o.ep, h2, NULL, NULL) == 0, "%s", loom_err_msg());
	ep_handle_free(h2);
	ep_handle_free(h);
	ep_handle_free(NULL);
	ep_destroy(NULL);
	ep_destroy(o2.ep);
	comm_destroy(o2.cm);
	boot_finalize(o2.bt);
	one_close(&o);
}

/* A LogFMT combine of a non-finite expert row: -EINVAL, that token's out row
 * NaN, every other token exact. */
static void test_logfmt_nonfinite_row(struct lt *t)
{
	struct ep_config c = cfg_make(4, 2, 8, EP_WIRE_F32, EP_WIRE_LOGFMT, 10, EP_WIRE_F32);
	float x[2 * 8], w[4] = { 0.5f, 0.25f, 1.0f, 2.0f }, y[4 * 8], out[2 * 8], want[8];
	float yq[8];
	int32_t idx[4] = { 0, 1, 2, 3 };
	struct ep_handle *h = NULL;
	struct ep_recv rv;
	struct one o;

	if (!one_open(t, &o, &c))
		return;
	for (int j = 0; j < 16; j++)
		x[j] = (float)j + 1.0f;
	LT_CHECK(t, ep_dispatch(o.ep, 2, x, idx, w, &h, &rv) == 0, "%s", loom_err_msg());
	memcpy(y, rv.x, sizeof(y));
	y[0] = INFINITY; /* row 0 = (token 0, expert 0) */
	LT_CHECK(t, rv.src_token[0] == 0 && rv.src_slot[0] == 0, "row 0 is token 0 slot 0");
	LT_CHECK(t, ep_combine(o.ep, h, y, out) == -EINVAL, "non-finite row: -EINVAL");
	LT_CHECK(t, isnan(out[0]) && isnan(out[7]), "token 0 out is NaN");
	logfmt_fake_quant(yq, x + 8, 1, 8, 10); /* experts 2 and 3 both return x */
	for (int j = 0; j < 8; j++)
		want[j] = (0.0f + 1.0f * yq[j]) + 2.0f * yq[j];
	same_bits(t, "token 1 out", out + 8, want, 8);
	ep_handle_free(h);
	one_close(&o);
}

/* Records that arrive corrupt (white box: the plan functions on crafted
 * bytes) are -EPROTO, never an out-of-bounds index. */
static int plan_crafted(struct ep *ep, int expert_side, const int32_t (*meta)[4], int n)
{
	size_t rb = ep->meta_bytes + ep->disp_bytes;
	struct ep_handle *h = calloc(1, sizeof(*h));
	int64_t *off = malloc(2 * sizeof(int64_t));
	uint8_t *recs = calloc((size_t)n, rb);
	float w[2] = { 0.5f, 0.5f };
	int rc;

	h->owner = ep;
	h->top_k = 2;
	h->hidden = ep->cfg.hidden;
	off[0] = 0;
	off[1] = n;
	for (int i = 0; i < n; i++)
		ep_meta_store(recs + (size_t)i * rb, meta[i][0], meta[i][1], &meta[i][2], w, 2);
	if (expert_side)
		h->c_rec_off = off;
	else
		h->b_rec_off = off;
	rc = expert_side ? ep_plan_expert(ep, h, recs) : ep_plan_forward(ep, h, recs);
	ep_handle_release(h);
	free(recs);
	return rc;
}

static void test_corrupt_records(struct lt *t)
{
	struct ep_config c = ep_config_default(4, 2, 8);
	static const int32_t good[2][4] = { { 0, 0, 1, 2 }, { 0, 1, 3, -1 } };
	static const int32_t bad[][2][4] = {
		{ { 0, 0, 1, 2 }, { 0, 1, 4, -1 } },  /* expert 4 of 4 */
		{ { 0, 0, 1, 1 }, { 0, 1, 3, -1 } },  /* expert twice */
		{ { 1, 0, 1, 2 }, { 0, 1, 3, -1 } },  /* src rank 1 of 1 */
		{ { 0, -3, 1, 2 }, { 0, 1, 3, -1 } }, /* token -3 */
		{ { 0, 0, -1, -1 }, { 0, 1, 3, -1 } }, /* no expert here */
	};
	static const int32_t twice[2][4] = { { 0, 5, 1, 2 }, { 0, 5, 3, -1 } };
	struct one o;

	if (!one_open(t, &o, &c))
		return;
	LT_CHECK(t, plan_crafted(o.ep, 1, good, 2) == 0, "good records: %s", loom_err_msg());
	LT_CHECK(t, plan_crafted(o.ep, 0, good, 2) == 0, "good records: %s", loom_err_msg());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int side = 0; side < 2; side++)
			LT_CHECK(t, plan_crafted(o.ep, side, bad[i], 2) == -EPROTO,
				 "bad record set %zu side %d", i, side);
	LT_CHECK(t, plan_crafted(o.ep, 1, twice, 2) == -EPROTO &&
			    strstr(loom_err_msg(), "twice"), "token twice: %s", loom_err_msg());
	one_close(&o);
}

static void test_logfmt_poison_multirank(struct lt *t)
{
	static const struct job jobs[] = { { .provider = "shm", .P = 4, .R = 2, .two_hop = 1,
					     .poison = 1 },
					   { .provider = "shm", .P = 2, .poison = 1 } };
	struct ep_config c = cfg_make(8, 4, 200, EP_WIRE_FP8, EP_WIRE_LOGFMT, 10, EP_WIRE_BF16);
	struct batch *b = malloc(sizeof(*b));
	struct res *res = res_map();

	batch_make(b, lt_seed(t), 48, 8, 4, 200);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		const struct job *j = &jobs[i];
		int pt, home = 0;

		if (!job_run(t, j, &c, b, res))
			continue;
		pt = res->poison_token;
		while (home + 1 < j->P && slice_lo(j, b->T, home + 1) <= pt)
			home++;
		for (int r = 0; r < j->P; r++)
			LT_CHECK(t, res->combine_rc[r] == (r == 1 || r == home ? -EINVAL : 0),
				 "P=%d rank %d: combine %d (poisoned token %d of rank %d)", j->P, r,
				 res->combine_rc[r], pt, home);
		for (int k = 0; k < b->H; k++)
			LT_CHECK(t, isnan(res->out[pt * b->H + k]), "token %d out[%d] = %g", pt, k,
				 res->out[pt * b->H + k]);
		for (int tk = 0; tk < b->T; tk++)
			LT_CHECK(t, tk == pt || !isnan(res->out[tk * b->H]), "token %d is NaN", tk);
	}
	munmap(res, sizeof(*res));
	free(b);
}

static const struct lt_case cases[] = {
	LT_CASE(test_config_check),
	LT_CASE(test_layout_brute_force),
	LT_CASE(test_layout_bad_input),
	LT_CASE(test_wire_row_bytes),
	LT_CASE(test_wire_round_trip),
	LT_CASE(test_wire_logfmt_nonfinite),
	LT_CASE(test_meta_round_trip),
	LT_CASE(test_bad_arguments),
	LT_CASE(test_logfmt_nonfinite_row),
	LT_CASE(test_corrupt_records),
	LT_CASE(test_world1),
	LT_CASE(test_shm_one_hop),
	LT_CASE(test_udp_one_hop),
	LT_CASE(test_two_hop_shm),
	LT_CASE(test_two_hop_udp),
	LT_CASE(test_two_hop_wires),
	LT_CASE(test_routing_shapes),
	LT_CASE(test_small_comm_pieces),
	LT_CASE(test_empty_ranks),
	LT_CASE(test_dead_rank),
	LT_CASE(test_logfmt_poison_multirank),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}

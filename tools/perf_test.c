/*
 * perf_test.c - the measurement loops of `loom perf` and the checks of the
 * bytes they moved.
 *
 * Bandwidth (client): keep tx_depth WRs in flight, every cq_mod-th (100, or
 * tx_depth when smaller) and the last one signaled, as perftest; time each
 * post and each signaled completion.  The server of write/read/atomic is
 * passive (its provider serves the requests, as a NIC would); send_bw's
 * server keeps its receive queue full and checks every receive's length.
 * Latency (client): one WR at a time; write_lat and send_lat are ping-pongs
 * (the server answers each message; latency = half the round trip), read
 * and atomic are round trips to a passive server (latency = all of it).
 * write_lat detects arrival by polling the last byte of the message, which
 * carries a marker that changes every iteration (1..255, never the 0 left
 * there before the step), as perftest does.
 *
 * Checks: every completion's status (and a receive's length); then the
 * bytes: a side sends a pattern (splitmix64 of seed + word index; the
 * client's seed is the step's, the server's seed ^ 1) into a buffer the
 * receiver poisoned first (seed ^ 2), and the receiver compares what
 * arrived with the pattern it computes itself.  Atomics add 1 to a 64-bit
 * word: the server checks it grew by exactly the number of iterations (each
 * atomic executed exactly once), the client checks every fetched value.
 *
 * Waiting: every wait loop calls tp_cq_poll (the shm provider makes
 * progress in the polling thread), yields the CPU after --yield empty
 * polls (so a provider thread on the same core runs: see perf.c for the
 * defaults), and every millisecond
 * checks the side channel (the peer died or gave up) and the progress
 * timeout (--timeout: no completion that long ends the run).
 */
#include "perf.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom/err.h"

#define PERF_CQ_MOD 100		/* signal every 100th WR, as perftest */
#define PERF_POLL_BATCH 16
#define PERF_CHECK_NS 1000000u	/* side channel and timeout check period */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- patterns ------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Byte i of pattern seed: byte i % 8 (little-endian) of mix64(seed + i / 8). */
static uint8_t pattern_byte(uint64_t seed, size_t i)
{
	return (uint8_t)(mix64(seed + i / 8) >> (8 * (i % 8)));
}

static void pattern_fill(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = mix64(seed + i / 8);

		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = pattern_byte(seed, i);
}

/* First byte of p[0, n) that is not the pattern, or -1. */
static long pattern_diff(const uint8_t *p, size_t n, uint64_t seed)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = mix64(seed + i / 8);

		if (memcmp(p + i, &v, 8))
			break;
	}
	for (; i < n; i++)
		if (p[i] != pattern_byte(seed, i))
			return (long)i;
	return -1;
}

static int pattern_check(const uint8_t *p, size_t n, uint64_t seed, const char *whose)
{
	long at = pattern_diff(p, n, seed);

	if (at < 0)
		return 0;
	return loom_err_set(EIO, "data check failed: %s differs at byte %ld of %zu "
			    "(got 0x%02x, want 0x%02x)", whose, at, n, p[at],
			    pattern_byte(seed, (size_t)at));
}

static uint64_t seed_client(const struct perf_step *s) { return s->seed; }
static uint64_t seed_server(const struct perf_step *s) { return s->seed ^ 1; }
static uint64_t seed_poison(const struct perf_step *s) { return s->seed ^ 2; }
static uint64_t atomic_base(const struct perf_step *s) { return mix64(s->seed ^ 3); }
static uint8_t marker(uint64_t i) { return (uint8_t)(i % 255 + 1); }

static uint8_t *send_half(const struct perf_step *s) { return s->ep->buf; }
static uint8_t *recv_half(const struct perf_step *s) { return s->ep->buf + s->ep->half; }
static uint64_t peer_send_half(const struct perf_step *s) { return s->peer->vaddr; }
static uint64_t peer_recv_half(const struct perf_step *s)
{
	return s->peer->vaddr + s->peer->len / 2;
}

/* ---- waiting --------------------------------------------------------------------- */

struct waiter {
	struct perf_step *s;
	const char *what;	/* for the timeout message */
	uint64_t last_ns;	/* last progress */
	uint64_t check_ns;	/* next side channel check */
	unsigned idle;
};

static void waiter_start(struct waiter *w, struct perf_step *s, const char *what)
{
	*w = (struct waiter){ .s = s, .what = what, .last_ns = now_ns() };
	w->check_ns = w->last_ns + PERF_CHECK_NS;
}

static void waiter_progress(struct waiter *w)
{
	if (w->idle) {
		w->idle = 0;
		w->last_ns = now_ns();
	}
}

/* Nothing happened: back off a little, and now and then see whether the
 * peer is still there and whether we waited too long. */
static int waiter_idle(struct waiter *w, struct tp_cq *cq)
{
	uint64_t t;
	int err;

	w->idle++;
	if (w->s->o->events && cq)
		tp_cq_wait(cq, 1); /* -e: sleep until a completion (or 1 ms) */
	else if (w->idle % (unsigned long)w->s->o->yield_every)
		return 0;
	else
		sched_yield();
	t = now_ns();
	if (t < w->check_ns)
		return 0;
	w->check_ns = t + PERF_CHECK_NS;
	if ((err = perf_conn_check(w->s->conn)))
		return err;
	if (t - w->last_ns > (uint64_t)(w->s->o->timeout_s * 1e9))
		return loom_err_set(ETIMEDOUT, "no progress for %g s while waiting for %s",
				    w->s->o->timeout_s, w->what);
	return 0;
}

/* ---- completions ---------------------------------------------------------------- */

static int wc_failed(const struct tp_wc *wc, const char *what)
{
	const char *hint = "";

	if (wc->status == TP_WC_RETRY_EXC_ERR)
		hint = " (the peer stopped answering: it died, or its QP is in error)";
	else if (wc->status == TP_WC_WR_FLUSH_ERR)
		hint = " (flushed: the QP is in error after an earlier failure)";
	return loom_err_set(EIO, "%s completion %llu failed: %s, vendor_err 0x%x%s", what,
			    (unsigned long long)wc->wr_id, tp_wc_status_str(wc->status),
			    wc->vendor_err, hint);
}

/* Poll up to max completions; an unsuccessful one is an error. */
static int poll_cq(struct tp_cq *cq, struct tp_wc *wc, int max, const char *what)
{
	int n = tp_cq_poll(cq, max, wc);

	if (n < 0)
		return perf_err_wrap(-n, "poll the %s CQ", what);
	for (int i = 0; i < n; i++)
		if (wc[i].status != TP_WC_SUCCESS)
			return wc_failed(&wc[i], what);
	return n;
}

/* ---- work requests -------------------------------------------------------------- */

/* The WR of the test's verb, with its one SGE, size bytes. */
static void wr_build(const struct perf_step *s, struct tp_send_wr *wr, struct tp_sge *sge)
{
	static const enum tp_wr_opcode ops[] = { [PERF_WRITE] = TP_WR_RDMA_WRITE,
						 [PERF_READ] = TP_WR_RDMA_READ,
						 [PERF_SEND] = TP_WR_SEND,
						 [PERF_ATOMIC] = TP_WR_ATOMIC_FETCH_ADD };
	enum perf_verb v = s->o->verb;

	*sge = (struct tp_sge){ .addr = (uintptr_t)send_half(s), .length = (uint32_t)s->size,
				.lkey = s->ep->mr->lkey };
	if (v == PERF_READ || v == PERF_ATOMIC)
		sge->addr = (uintptr_t)recv_half(s);
	*wr = (struct tp_send_wr){ .opcode = ops[v], .sg_list = sge, .num_sge = 1,
				   .rkey = s->peer->rkey, .compare_add = 1 };
	wr->remote_addr = v == PERF_READ ? peer_send_half(s) : peer_recv_half(s);
	if ((v == PERF_WRITE || v == PERF_SEND) && s->size <= (uint64_t)s->ep->max_inline)
		wr->flags |= TP_SEND_INLINE;
}

static int post(struct perf_step *s, struct tp_send_wr *wr)
{
	int err = tp_post_send(s->ep->qp, wr, 1, NULL);

	return err ? perf_err_wrap(-err, "post %s", perf_test_name(s->o->verb, s->o->lat)) : 0;
}

/* Keep the receive queue full: receives of a whole half, so one posted for
 * an earlier (smaller) step still fits this step's messages. */
static int recv_fill(struct perf_step *s, int *posted)
{
	struct tp_sge sge = { .addr = (uintptr_t)recv_half(s), .length = (uint32_t)s->ep->half,
			      .lkey = s->ep->mr->lkey };
	struct tp_recv_wr wr = { .sg_list = &sge, .num_sge = 1 };

	while (*posted < s->ep->max_recv_wr) {
		int err = tp_post_recv(s->ep->qp, &wr, 1, NULL);

		if (err)
			return perf_err_wrap(-err, "post receive");
		++*posted;
	}
	return 0;
}

/* ---- bandwidth -------------------------------------------------------------------- */

struct bw_times {
	uint64_t *t_post, *t_done;
	bool *signaled;
};

static int bw_alloc(struct bw_times *t, uint64_t n)
{
	t->t_post = malloc(n * sizeof(*t->t_post));
	t->t_done = malloc(n * sizeof(*t->t_done));
	t->signaled = calloc(n, sizeof(*t->signaled));
	if (t->t_post && t->t_done && t->signaled)
		return 0;
	return loom_err_set(ENOMEM, "out of memory for %llu timestamps", (unsigned long long)n);
}

static void bw_free(struct bw_times *t)
{
	free(t->t_post);
	free(t->t_done);
	free(t->signaled);
}

/* Completions of signaled WRs: each completes itself and the unsignaled
 * WRs before it.  *done: WRs known complete. */
static int bw_reap(struct perf_step *s, struct bw_times *t, uint64_t *done, struct waiter *w)
{
	struct tp_wc wc[PERF_POLL_BATCH];
	int n = poll_cq(s->ep->scq, wc, PERF_POLL_BATCH, "send");
	uint64_t now;

	if (n <= 0)
		return n < 0 ? n : waiter_idle(w, s->ep->scq);
	now = now_ns();
	for (int i = 0; i < n; i++) {
		t->t_done[wc[i].wr_id] = now;
		t->signaled[wc[i].wr_id] = true;
		*done = wc[i].wr_id + 1;
	}
	waiter_progress(w);
	return 0;
}

static void bw_result(struct perf_step *s, const struct bw_times *t)
{
	uint64_t n = s->iters;
	double sec = (double)(t->t_done[n - 1] - t->t_post[0]) * 1e-9;

	s->res.bw_avg_mib = (double)s->size * (double)n / sec / (1 << 20);
	s->res.msg_rate_mpps = (double)n / sec * 1e-6;
	s->res.bw_peak_mib = perf_bw_peak(t->t_post, t->t_done, t->signaled, n, s->size);
}

static int bw_client(struct perf_step *s)
{
	uint64_t n = s->iters, posted = 0, done = 0;
	uint64_t depth = (uint64_t)s->o->tx_depth;
	uint64_t cq_mod = depth < PERF_CQ_MOD ? depth : PERF_CQ_MOD;
	struct tp_send_wr wr;
	struct tp_sge sge;
	struct bw_times t;
	struct waiter w;
	int err = bw_alloc(&t, n);

	wr_build(s, &wr, &sge);
	waiter_start(&w, s, "send completions");
	while (!err && done < n) {
		while (!err && posted < n && posted - done < depth) {
			wr.wr_id = posted;
			wr.flags = (posted + 1) % cq_mod == 0 || posted + 1 == n ? TP_SEND_SIGNALED
										  : 0;
			t.t_post[posted++] = now_ns();
			err = post(s, &wr);
		}
		if (!err)
			err = bw_reap(s, &t, &done, &w);
	}
	if (!err)
		bw_result(s, &t);
	bw_free(&t);
	return err;
}

/* send_bw's server: take iters receives, each exactly size bytes. */
static int bw_server_recv(struct perf_step *s)
{
	struct tp_wc wc[PERF_POLL_BATCH];
	uint64_t got = 0;
	struct waiter w;
	int err = 0;

	waiter_start(&w, s, "the client's SENDs");
	while (!err && got < s->iters) {
		int n = poll_cq(s->ep->rcq, wc, PERF_POLL_BATCH, "receive");

		if (n <= 0) {
			err = n < 0 ? n : waiter_idle(&w, s->ep->rcq);
			continue;
		}
		waiter_progress(&w);
		s->ep->recv_posted -= n;
		got += (uint64_t)n;
		for (int i = 0; i < n && !err; i++)
			if (wc[i].byte_len != s->size)
				err = loom_err_set(EIO, "data check failed: a receive of %u bytes, "
						   "want %llu", wc[i].byte_len,
						   (unsigned long long)s->size);
		if (!err)
			err = recv_fill(s, &s->ep->recv_posted);
	}
	return err;
}

/* ---- latency ---------------------------------------------------------------------- */

/* Send completions of the latency loops (every WR signaled): reap what is
 * there; *outstanding counts WRs posted and not completed. */
static int lat_reap_sends(struct perf_step *s, int *outstanding)
{
	struct tp_wc wc[PERF_POLL_BATCH];
	int n = poll_cq(s->ep->scq, wc, PERF_POLL_BATCH, "send");

	if (n > 0)
		*outstanding -= n;
	return n;
}

static int lat_post(struct perf_step *s, struct tp_send_wr *wr, int *outstanding)
{
	struct waiter w;
	int err = 0;

	waiter_start(&w, s, "a send queue slot");
	while (!err && *outstanding >= s->ep->max_send_wr) {
		int n = lat_reap_sends(s, outstanding);

		err = n < 0 ? n : n ? 0 : waiter_idle(&w, s->ep->scq);
	}
	if (err)
		return err;
	wr->flags |= TP_SEND_SIGNALED;
	err = post(s, wr);
	if (!err)
		++*outstanding;
	return err;
}

/* Wait for the peer's WRITE: the last byte of the message becomes want. */
static int lat_wait_marker(struct perf_step *s, uint8_t want, int *outstanding)
{
	const _Atomic uint8_t *p = (const _Atomic uint8_t *)(recv_half(s) + s->size - 1);
	struct waiter w;
	int err = 0;

	waiter_start(&w, s, "the peer's RDMA WRITE");
	while (!err && atomic_load_explicit(p, memory_order_acquire) != want) {
		int n = lat_reap_sends(s, outstanding); /* also gives shm its progress pass */

		err = n < 0 ? n : waiter_idle(&w, NULL);
	}
	return err;
}

/* Wait for one receive (send_lat) or one send completion (read/atomic). */
static int lat_wait_wc(struct perf_step *s, struct tp_cq *cq, struct tp_wc *wc, int *outstanding,
		       const char *what)
{
	struct waiter w;
	int err = 0, n = 0;

	waiter_start(&w, s, what);
	while (!err && n == 0) {
		n = poll_cq(cq, wc, 1, cq == s->ep->scq ? "send" : "receive");
		if (n < 0)
			return n;
		if (n == 0 && cq != s->ep->scq) {
			int k = lat_reap_sends(s, outstanding); /* our answers' completions */

			if (k < 0)
				return k;
		}
		if (n == 0)
			err = waiter_idle(&w, cq);
	}
	return err;
}

static int lat_recv(struct perf_step *s, int *outstanding)
{
	struct tp_wc wc;
	int err = lat_wait_wc(s, s->ep->rcq, &wc, outstanding, "the peer's SEND");

	if (err)
		return err;
	s->ep->recv_posted--;
	if (wc.byte_len != s->size)
		return loom_err_set(EIO, "data check failed: a receive of %u bytes, want %llu",
				    wc.byte_len, (unsigned long long)s->size);
	return recv_fill(s, &s->ep->recv_posted);
}

/* Drain the send completions still due (before the step ends). */
static int lat_drain(struct perf_step *s, int *outstanding)
{
	struct waiter w;
	int err = 0;

	waiter_start(&w, s, "the last send completions");
	while (!err && *outstanding > 0) {
		int n = lat_reap_sends(s, outstanding);

		err = n < 0 ? n : n ? 0 : waiter_idle(&w, s->ep->scq);
	}
	return err;
}

/* One round trip of the client: post, wait for the answer. */
static int lat_round(struct perf_step *s, struct tp_send_wr *wr, uint64_t i, int *outstanding)
{
	struct tp_wc wc;
	int err;

	if (s->o->verb == PERF_WRITE)
		send_half(s)[s->size - 1] = marker(i);
	if ((err = lat_post(s, wr, outstanding)))
		return err;
	switch (s->o->verb) {
	case PERF_WRITE:
		return lat_wait_marker(s, marker(i), outstanding);
	case PERF_SEND:
		return lat_recv(s, outstanding);
	default:
		err = lat_wait_wc(s, s->ep->scq, &wc, outstanding, "the response");
		if (err)
			return err;
		--*outstanding;
		if (s->o->verb == PERF_ATOMIC) {
			uint64_t got, want = atomic_base(s) + i;

			memcpy(&got, recv_half(s), 8);
			if (got != want)
				return loom_err_set(EIO, "data check failed: FETCH_ADD %llu returned "
						    "0x%llx, want 0x%llx", (unsigned long long)i,
						    (unsigned long long)got,
						    (unsigned long long)want);
		}
		return 0;
	}
}

static int lat_client(struct perf_step *s)
{
	double *us = malloc(s->iters * sizeof(*us));
	double scale = s->o->verb == PERF_WRITE || s->o->verb == PERF_SEND ? 0.5e-3 : 1e-3;
	int outstanding = 0, err = 0;
	struct tp_send_wr wr;
	struct tp_sge sge;

	if (!us)
		return loom_err_set(ENOMEM, "out of memory for %llu samples",
				    (unsigned long long)s->iters);
	wr_build(s, &wr, &sge);
	for (uint64_t i = 0; i < s->iters && !err; i++) {
		uint64_t t0 = now_ns();

		wr.wr_id = i;
		wr.flags &= ~(unsigned)TP_SEND_SIGNALED;
		err = lat_round(s, &wr, i, &outstanding);
		us[i] = (double)(now_ns() - t0) * scale;
	}
	if (!err)
		err = lat_drain(s, &outstanding);
	if (!err)
		perf_lat_stats(us, s->iters, &s->res);
	free(us);
	return err;
}

/* The server's half of a ping-pong: answer each message with one. */
static int lat_server(struct perf_step *s)
{
	int outstanding = 0, err = 0;
	struct tp_send_wr wr;
	struct tp_sge sge;

	wr_build(s, &wr, &sge);
	for (uint64_t i = 0; i < s->iters && !err; i++) {
		if (s->o->verb == PERF_WRITE) {
			err = lat_wait_marker(s, marker(i), &outstanding);
			send_half(s)[s->size - 1] = marker(i);
		} else {
			err = lat_recv(s, &outstanding);
		}
		wr.wr_id = i;
		wr.flags &= ~(unsigned)TP_SEND_SIGNALED;
		if (!err)
			err = lat_post(s, &wr, &outstanding);
	}
	return err ? err : lat_drain(s, &outstanding);
}

/* ---- the step's phases ------------------------------------------------------------ */

/* What lands in this side's receive half: poisoned, and for write_lat the
 * marker byte cleared so no stale value can pass for the first marker. */
static void poison_recv(struct perf_step *s)
{
	pattern_fill(recv_half(s), s->size, seed_poison(s));
	if (s->o->lat && s->o->verb == PERF_WRITE)
		recv_half(s)[s->size - 1] = 0;
}

int perf_step_prepare_server(struct perf_step *s)
{
	uint64_t base = atomic_base(s);

	poison_recv(s);
	pattern_fill(send_half(s), s->size, seed_server(s));
	if (s->o->verb == PERF_ATOMIC)
		memcpy(recv_half(s), &base, 8);
	return s->o->verb == PERF_SEND ? recv_fill(s, &s->ep->recv_posted) : 0;
}

int perf_step_prepare_client(struct perf_step *s)
{
	memset(&s->res, 0, sizeof(s->res));
	s->res.size = s->size;
	s->res.iters = s->iters;
	poison_recv(s);
	pattern_fill(send_half(s), s->size, seed_client(s));
	return s->o->verb == PERF_SEND && s->o->lat ? recv_fill(s, &s->ep->recv_posted) : 0;
}

int perf_step_run_client(struct perf_step *s)
{
	return s->o->lat ? lat_client(s) : bw_client(s);
}

int perf_step_run_server(struct perf_step *s)
{
	if (s->o->lat && (s->o->verb == PERF_WRITE || s->o->verb == PERF_SEND))
		return lat_server(s);
	if (!s->o->lat && s->o->verb == PERF_SEND)
		return bw_server_recv(s);
	return 0; /* passive: the provider serves the client's READs, WRITEs, atomics */
}

/* The peer's message with its last byte replaced by the last marker. */
static int check_marked(struct perf_step *s, uint64_t seed, const char *whose)
{
	uint8_t last = recv_half(s)[s->size - 1];

	if (last != marker(s->iters - 1))
		return loom_err_set(EIO, "data check failed: %s: last byte 0x%02x, want the last "
				    "marker 0x%02x", whose, last, marker(s->iters - 1));
	return pattern_check(recv_half(s), s->size - 1, seed, whose);
}

/* Test hook: LOOM_PERF_CORRUPT=client|server flips one received byte of
 * that side before its check, so tests can see a check fail (there is no
 * other way to make a correct provider deliver wrong bytes). */
static void corrupt_for_test(struct perf_step *s, const char *role)
{
	const char *e = getenv("LOOM_PERF_CORRUPT");

	if (e && !strcmp(e, role))
		recv_half(s)[s->size / 2] ^= 0x40;
}

int perf_step_check_client(struct perf_step *s)
{
	uint64_t got;

	corrupt_for_test(s, "client");

	switch (s->o->verb) {
	case PERF_WRITE:
		return s->o->lat ? check_marked(s, seed_server(s), "the server's WRITE") : 0;
	case PERF_SEND:
		return s->o->lat ? pattern_check(recv_half(s), s->size, seed_server(s),
						 "the server's SEND") : 0;
	case PERF_READ:
		return pattern_check(recv_half(s), s->size, seed_server(s), "the READ data");
	case PERF_ATOMIC:
		memcpy(&got, recv_half(s), 8);
		if (got != atomic_base(s) + s->iters - 1)
			return loom_err_set(EIO, "data check failed: the last FETCH_ADD returned "
					    "0x%llx, want 0x%llx", (unsigned long long)got,
					    (unsigned long long)(atomic_base(s) + s->iters - 1));
		return 0;
	}
	return 0;
}

int perf_step_check_server(struct perf_step *s)
{
	uint64_t got;

	corrupt_for_test(s, "server");

	switch (s->o->verb) {
	case PERF_WRITE:
		return s->o->lat ? check_marked(s, seed_client(s), "the client's WRITE")
				 : pattern_check(recv_half(s), s->size, seed_client(s),
						 "the server's buffer after the WRITEs");
	case PERF_SEND:
		return pattern_check(recv_half(s), s->size, seed_client(s),
				     "the client's last SEND");
	case PERF_ATOMIC:
		memcpy(&got, recv_half(s), 8);
		if (got != atomic_base(s) + s->iters)
			return loom_err_set(EIO, "data check failed: the target word is 0x%llx "
					    "after %llu FETCH_ADDs of 1, want 0x%llx",
					    (unsigned long long)got, (unsigned long long)s->iters,
					    (unsigned long long)(atomic_base(s) + s->iters));
		return 0;
	case PERF_READ:
		return 0; /* the client checks what it read */
	}
	return 0;
}

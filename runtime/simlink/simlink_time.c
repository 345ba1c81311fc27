/*
 * simlink_time.c - emulated time on the link: when a message leaves
 * (serialization and credits), what the peer has promised (the horizon),
 * moving local time, sync messages, and the wall-clock side of waiting
 * (backoff, peer liveness, timeouts).  Not here: what a message means.
 *
 * Model (simlink.h, "Time"): per direction one serial link of
 * bytes_per_cycle; a message of w wire bytes occupies it for
 * ceil(w / bytes_per_cycle) cycles from max(now, link free, credits
 * available); ts = the end of that; delivery at ts + latency; its credits
 * come back at delivery + latency (the receiver frees its buffer on
 * arrival and the credit update takes one latency back).  Everything is
 * computed by the sender from its own state, so both processes agree on
 * every time without exchanging credit messages.
 *
 * Promise bookkeeping: the receiver sees the two rings of a direction
 * separately, so a timestamp seen in one ring is used as a promise only
 * after one more scan round of both rings: the sender wrote every older
 * message before it (release), so that round has seen them all (acquire).
 *
 * All functions: the link's one thread.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "simlink_int.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

uint64_t simlink_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t simlink_wire_ps(const struct simlink *l, uint64_t wire_bytes)
{
	if (!l)
		return 0;
	uint64_t cycles = (wire_bytes + l->p.bytes_per_cycle - 1) / l->p.bytes_per_cycle;

	return cycles * l->p.ps_per_cycle;
}

static void credit_pop(struct simlink *l)
{
	l->cred_used -= l->cred[l->cred_head].bytes;
	l->cred_head = (l->cred_head + 1) % l->cred_cap;
	l->cred_count--;
}

/* Departure time (ts) of a message of wire bytes sent now; books the link
 * and the credits.  Synchronized mode only. */
uint64_t simlink_depart(struct simlink *l, uint32_t wire)
{
	uint64_t start = l->now_ps > l->link_free_ps ? l->now_ps : l->link_free_ps;
	uint64_t ts, lat = l->p.latency_ps;
	uint32_t slot;

	while (l->cred_count && l->cred[l->cred_head].back_ps <= start)
		credit_pop(l);
	/* credit_bytes >= 64 + max_payload (checked), so this ends. */
	while (l->cred_count && l->cred_used + wire > l->p.credit_bytes) {
		uint64_t back = l->cred[l->cred_head].back_ps;

		if (back > start)
			start = back; /* wait for the oldest credits to come back */
		credit_pop(l);
	}
	ts = start + simlink_wire_ps(l, wire);
	l->link_free_ps = ts;
	slot = (l->cred_head + l->cred_count) % l->cred_cap;
	l->cred[slot].back_ps = ts + 2 * lat;
	l->cred[slot].bytes = wire;
	l->cred_count++;
	l->cred_used += wire;
	return ts;
}

/* One scan round of both receive rings; the promise seen before this round
 * becomes usable.  Returns whether anything new was seen. */
bool simlink_poll(struct simlink *l)
{
	bool got = simlink_rx_scan(l, &l->rx[SIMLINK_Q_REQ]);

	got |= simlink_rx_scan(l, &l->rx[SIMLINK_Q_CMP]);
	if (l->cand_ps > l->safe_ps)
		l->safe_ps = l->cand_ps;
	l->cand_ps = l->seen_ps;
	l->st.horizon_ps = simlink_horizon(l);
	return got;
}

/* The latest time this side may reach now. */
uint64_t simlink_horizon(const struct simlink *l)
{
	return l->p.synchronized ? l->safe_ps + l->p.latency_ps : 0;
}

/* Move local time to t_ps (never back); past the horizon is a violation
 * (the library never asks for it: this is its assertion). */
void simlink_advance(struct simlink *l, uint64_t t_ps)
{
	if (!l->p.synchronized || t_ps <= l->now_ps)
		return;
	if (t_ps > simlink_horizon(l))
		l->st.violations++;
	l->now_ps = t_ps;
	if (l->now_ps >= l->last_tx_ps + l->p.sync_interval_ps)
		simlink_sync_send(l, false);
}

/* Promise the current time with a sync message if it is news to the peer
 * (force: even when the last promise is recent).  Skipped when the request
 * ring is full: its messages carry promises already. */
void simlink_sync_send(struct simlink *l, bool force)
{
	struct simlink_msg m;

	if (!l->p.synchronized || l->now_ps <= l->last_tx_ps)
		return;
	if (!force && l->now_ps < l->last_tx_ps + l->p.sync_interval_ps)
		return;
	if (!simlink_tx_room(&l->tx[SIMLINK_Q_REQ]))
		return;
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_SYNC;
	m.ts_ps = l->now_ps;
	simlink_tx_put(&l->tx[SIMLINK_Q_REQ], &m);
	simlink_bell_ring(l);
	l->last_tx_ps = l->now_ps;
	l->st.tx_syncs++;
}

/* -EPIPE once the peer's end of the socket is closed (process gone). */
int simlink_peer_check(struct simlink *l)
{
	char c;
	ssize_t n;

	if (!l->peer_gone) {
		n = recv(l->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			l->peer_gone = true;
	}
	if (l->peer_gone)
		return loom_err_set(EPIPE, "simlink: the %s has gone (link closed)", l->peer);
	return 0;
}

/* After putting or taking a message: wake the peer if it sleeps.
 * The seq_cst fence orders our ring store before the load of sleeping. */
void simlink_bell_ring(struct simlink *l)
{
	_Atomic uint32_t *seq = (_Atomic uint32_t *)&l->bell_peer->seq;

	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit((_Atomic uint32_t *)&l->bell_peer->sleeping,
				  memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(seq, 1, memory_order_release);
	syscall(SYS_futex, seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Block until the peer rings (or 2 ms pass: the liveness cadence), unless
 * what we wait for has come meanwhile: a message to scan, or with
 * want_room a free slot in our request ring. */
static void bell_sleep(struct simlink *l, bool want_room)
{
	_Atomic uint32_t *seq = (_Atomic uint32_t *)&l->bell_self->seq;
	_Atomic uint32_t *sleeping = (_Atomic uint32_t *)&l->bell_self->sleeping;
	uint32_t seq0 = atomic_load_explicit(seq, memory_order_acquire);
	struct timespec ts = { .tv_nsec = 2000000 };

	atomic_store_explicit(sleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!simlink_rx_ready(&l->rx[SIMLINK_Q_REQ]) && !simlink_rx_ready(&l->rx[SIMLINK_Q_CMP]) &&
	    !(want_room && simlink_tx_room(&l->tx[SIMLINK_Q_REQ])))
		syscall(SYS_futex, seq, FUTEX_WAIT, seq0, &ts, NULL, 0);
	atomic_store_explicit(sleeping, 0, memory_order_relaxed);
}

/*
 * One step of waiting for the peer: spin for 20 us, then block
 * on the doorbell (a waiting side costs no CPU and wakes when the peer
 * puts or takes a message); checks liveness every 2 ms and the wall-clock
 * timeout.  start_ns: when the caller began waiting; *spins: the caller's
 * counter (0 at the start and after any progress).  want_room: the caller
 * also waits for room in its request ring.  0 to go on, -EPIPE or
 * -ETIMEDOUT.
 */
int simlink_wait(struct simlink *l, uint64_t start_ns, unsigned *spins, bool want_room)
{
	uint64_t t;

	if (*spins == 0)
		l->st.waits++;
	if ((*spins)++ < 256) {
		cpu_relax();
		return 0;
	}
	t = simlink_mono_ns();
	if (t >= l->alive_check_ns) {
		int rc = simlink_peer_check(l);

		if (rc < 0)
			return rc;
		l->alive_check_ns = t + 2000000;
	}
	if (t - start_ns > (uint64_t)l->timeout_ms * 1000000u)
		return loom_err_set(ETIMEDOUT, "simlink: the %s made no progress for %d ms", l->peer,
				    l->timeout_ms);
	if (t - start_ns < 20000) {
		*spins = 1; /* spin on: a peer that answers within 20 us is served at once */
		return 0;
	}
	/* No sched_yield phase: beside busy processes it gives the core away
	 * for a whole time slice, while a futex wakeup preempts promptly. */
	bell_sleep(l, want_room);
	return 0;
}

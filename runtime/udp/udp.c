/*
 * udp.c - the `udp` provider: a userspace RoCEv2 RNIC.  RC queue pairs
 * exchange real RoCEv2 packets (BTH, RETH, AETH, ImmDt, AtomicETH,
 * AtomicAckETH, ICRC; include/loom/roce.h) in UDP datagrams, so tcpdump and
 * tshark read them and fault injection can drop, duplicate, reorder, delay
 * and corrupt them.  Same-host peers go through UDP too (unlike Linux rxe,
 * which bypasses it and hides them from capture and faults).
 *
 * This file: the device (options, sockets, the progress thread) and the ops
 * table.  The engines are udp_req.c (requester), udp_comp.c (completer),
 * udp_resp.c (responder), as Linux's rxe_req.c / rxe_comp.c / rxe_resp.c;
 * QPs and timers in udp_qp.c; sockets and packet I/O in udp_net.c; fault
 * injection in udp_fault.c; congestion control (DCQCN: ECN, CNPs, rate
 * limiting) in udp_cc.c.
 *
 * Addressing.  A device binds one UDP socket to addr:port (default
 * 127.0.0.1:4791, the RoCEv2 port); every packet for any of its QPs arrives
 * there and is dispatched by the BTH's destination QP.  Each QP sends from
 * its own socket bound to an ephemeral port of the same address, so a QP's
 * packets have their own UDP source port (RoCEv2's flow entropy).  The
 * device's tp_addr is its IPv4 address and port (6 bytes, network order);
 * packets go to the peer device's port, which is 4791 unless configured.
 *
 * Progress.  One thread per device does the receiving, the completer
 * and responder work, ACK coalescing, timers and held (delayed) packets;
 * a thread polling an empty CQ of the device also receives (if the
 * progress thread is not receiving at that moment), so a busy-polling
 * application's round trips need no thread hand-off (udp_progress).
 * Why a thread and not polling from tp_cq_poll: an RNIC serves RDMA WRITE,
 * READ and atomics on memory whose owner never polls (a passive target),
 * and retransmission timers must fire while the application sleeps in
 * tp_cq_wait or computes.  The thread sleeps in epoll_wait on the device
 * socket, an eventfd (kicks) and a timerfd armed at the earliest deadline
 * with an absolute CLOCK_MONOTONIC time: nanosecond arming, so timers keep
 * microsecond resolution (epoll_wait's own timeout counts milliseconds; a
 * timer wheel would need a fixed tick, i.e. wake-ups when nothing is due).
 * Deadlines are kept per QP and scanned each pass (max_qp <= 1024 slots, a
 * few hundred nanoseconds), which needs no timer data structure at all.
 * tp_post_send runs the requester in the caller's thread (under the QP
 * lock), as a doorbell would start the NIC's send engine, so a post costs
 * no thread hand-off; the thread sends what the window or the RNR timer
 * held back.
 *
 * Deviations from IBA (and why), gathered here; each engine's file has the
 * details:
 *   - Flow control: at most `window` request PSNs unacknowledged (rxe does
 *     the same), and after a retransmission timeout a window of one packet
 *     that grows with each ACK (TCP's slow start): a UDP socket has no
 *     link-level flow control and a software NIC on a loaded host can fall
 *     behind; IBA leaves such pacing to the requester.  (udp_req.c,
 *     udp_comp.c)
 *   - The retry budget counts retries without progress: it is restored
 *     whenever the oldest unacknowledged PSN moves.  A NAK or implied NAK
 *     repeating news the requester already acted on (within renak_us / 2)
 *     spends nothing.  retry_cnt 7 is 7 retries, never infinite (rxe's bug).
 *   - The responder repeats a PSN sequence NAK renak_us later while the gap
 *     lasts (on a timer, 3 times at most, or on a later out-of-sequence
 *     packet); rxe sends one per gap and leaves the rest to the requester's
 *     retransmission timer.
 *   - No end-to-end credits (AETH credit field 0x1f); the source of a
 *     packet is checked by IPv4 address only (the UDP source port varies
 *     per QP).
 *   - P_Key: one per device (option pkey, default 0xffff) for all its QPs,
 *     as the API has no P_Key attribute or table; a packet whose P_Key does
 *     not match (IBA 10.9.3 rules) is dropped silently and counted under
 *     `pkey_violations`.
 *   - Responder resources: a READ holds one until its last response is
 *     sent, an atomic while it executes; READ responses stream one READ at
 *     a time, so at most two are held and exceeding max_dest_rd_atomic
 *     (NAK invalid request) is only possible when it is 0 or 1.  A peer
 *     that keeps more in flight than a larger max_dest_rd_atomic is served
 *     in order; exactly-once atomics hold while it keeps <= 64 (UDP_RES_N
 *     results kept).  (udp_resp.c)
 *   - Congestion control is DCQCN (udp_cc.c): packets leave ECT(0); a
 *     request received with CE makes the responder send a CNP (at most one
 *     per cnp_interval_us per QP) and the requester cuts and paces its
 *     rate.  Only requests are controlled: CE on a READ response or an ACK
 *     is ignored and READ responses are not paced.  Before the first CNP
 *     (and after full recovery) a QP is unlimited unless line_rate_mbps is
 *     set; the line rate it recovers to is its measured sending rate.
 *   - SQD: drained is a query flag (tp_qp_query's sq_draining, as
 *     ibv_qp_attr's), not an asynchronous event: the API has no event
 *     channel.  (udp_req.c)
 *   - The path MTU must fit the link's MTU (veth: set mtu 9000 for 4096):
 *     IP fragmentation is off (DF), so a datagram too large for the link is
 *     lost at sendmsg (EMSGSIZE) and the QP ends with RETRY_EXC_ERR.
 *   - The ICRC on a socket relies on IP ID 0 (include/loom/roce.h); it is
 *     computed over registered memory before the kernel copies it, so data
 *     changed under a packet being sent fails the receiver's check.
 *
 * Options (tp_device_open / LOOM_TP_OPTS, "udp:key=value" to scope): the
 * udp_opts table below.  Fault options are documented in udp_fault.c.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "udp.h"

#define UDP_RATE(k, h) { k, TP_OPT_F64, 0, 1, h }

static const struct tp_opt_spec udp_opts[] = {
	{ "addr", TP_OPT_STR, 0, 0, "IPv4 address to bind (default 127.0.0.1)" },
	{ "port", TP_OPT_U64, 0, 65535, "UDP port of the device (default 4791; 0 = any free)" },
	{ "max_qp", TP_OPT_U64, 1, UDP_MAX_QP, "QPs per device (default 64)" },
	{ "window", TP_OPT_U64, 1, 4096,
	  "request PSNs a QP may have unacknowledged (default 128, as rxe)" },
	{ "ackreq_every", TP_OPT_U64, 1, 4096,
	  "AckReq on every Nth packet besides each message's last (default 32)" },
	{ "renak_us", TP_OPT_U64, 1, 10000000,
	  "a PSN sequence NAK is repeated after this long if the gap persists (default 1000)" },
	{ "rcvbuf_kib", TP_OPT_U64, 64, 1 << 20, "device socket receive buffer (default 8192)" },
	{ "sndbuf_kib", TP_OPT_U64, 64, 1 << 20, "QP socket send buffer (default 2048)" },
	{ "pkey", TP_OPT_U64, 1, 0xffff,
	  "P_Key of every QP (default 0xffff); a packet whose BTH P_Key does not match "
	  "is dropped and counted as a P_Key violation (IBA 10.9.3)" },
	{ "trace", TP_OPT_BOOL, 0, 1, "log protocol steps to stderr (or LOOM_UDP_TRACE=1)" },
	{ "gso", TP_OPT_BOOL, 0, 1,
	  "send runs of equal-size packets as one UDP GSO datagram (default 1; 0 for "
	  "captures with one frame per packet; see udp_net.c)" },
	{ "ecn", TP_OPT_BOOL, 0, 1, "send packets ECN-capable, ECT(0) (default 1)" },
	{ "cnp_interval_us", TP_OPT_U64, 0, 10000000,
	  "a QP sends at most one CNP per this long for CE-marked requests (default 50)" },
	{ "cc", TP_OPT_BOOL, 0, 1, "the requester slows down on CNPs, DCQCN (default 1)" },
	{ "line_rate_mbps", TP_OPT_F64, 0, 1e7,
	  "pace each QP at most at this rate, Mbit/s (default 0: unlimited until the first "
	  "CNP, which starts from the measured sending rate)" },
	{ "cc.min_rate_mbps", TP_OPT_F64, 0.001, 1e7, "lowest rate a CNP cuts to (default 10)" },
	{ "cc.g", TP_OPT_F64, 0, 1, "DCQCN alpha gain g (default 1/256)" },
	{ "cc.alpha_us", TP_OPT_U64, 1, 10000000, "alpha decays once per this long (default 55)" },
	{ "cc.timer_us", TP_OPT_U64, 1, 10000000, "rate-increase timer (default 300)" },
	{ "cc.byte_reset", TP_OPT_U64, 0, 1e12,
	  "bytes per rate-increase byte-counter stage (default 32767; 0: timer only)" },
	{ "cc.fast_steps", TP_OPT_U64, 0, 1000, "fast-recovery steps F (default 5)" },
	{ "cc.ai_mbps", TP_OPT_F64, 0, 1e7, "additive increase step, Mbit/s (default 5)" },
	{ "cc.hai_mbps", TP_OPT_F64, 0, 1e7, "hyper increase step, Mbit/s (default 50)" },
	{ "cc.burst_kib", TP_OPT_U64, 1, 1 << 20,
	  "bytes a paced QP may send at once after a pause (default 16)" },
	{ "fault.seed", TP_OPT_U64, 0, 1.8e19, "fault injection seed (default 1)" },
	UDP_RATE("fault.tx.drop", "rate of sent packets dropped"),
	UDP_RATE("fault.tx.dup", "rate of sent packets sent twice"),
	UDP_RATE("fault.tx.reorder", "rate of sent packets held until 1-3 later ones passed"),
	UDP_RATE("fault.tx.delay", "rate of sent packets held fault.tx.delay_us"),
	UDP_RATE("fault.tx.corrupt", "rate of sent packets with 1-3 bits flipped"),
	UDP_RATE("fault.tx.ecn", "rate of sent packets marked ECN CE (sent, not dropped)"),
	{ "fault.tx.ecn_packets", TP_OPT_U64, 0, 1e15,
	  "only a QP's first N sent packets may be marked (default 0: all)" },
	{ "fault.tx.delay_us", TP_OPT_U64, 0, 10000000, "hold of a delayed packet (default 500)" },
	UDP_RATE("fault.rx.drop", "rate of received packets dropped"),
	UDP_RATE("fault.rx.dup", "rate of received packets handled twice"),
	UDP_RATE("fault.rx.reorder", "rate of received packets held until 1-3 later ones"),
	UDP_RATE("fault.rx.delay", "rate of received packets held fault.rx.delay_us"),
	UDP_RATE("fault.rx.corrupt", "rate of received packets with 1-3 bits flipped"),
	UDP_RATE("fault.rx.ecn", "rate of received packets seen as ECN CE"),
	{ "fault.rx.ecn_packets", TP_OPT_U64, 0, 1e15,
	  "only the device's first N received packets may be marked (default 0: all)" },
	{ "fault.rx.delay_us", TP_OPT_U64, 0, 10000000, "hold of a delayed packet (default 500)" },
	UDP_RATE("fault.drop", "shorthand for fault.tx.drop"),
	UDP_RATE("fault.dup", "shorthand for fault.tx.dup"),
	UDP_RATE("fault.reorder", "shorthand for fault.tx.reorder"),
	UDP_RATE("fault.delay", "shorthand for fault.tx.delay"),
	UDP_RATE("fault.corrupt", "shorthand for fault.tx.corrupt"),
	UDP_RATE("fault.ecn", "shorthand for fault.tx.ecn"),
	{ "fault.delay_us", TP_OPT_U64, 0, 10000000, "shorthand for fault.tx.delay_us" },
	{ NULL },
};

void udp_trace(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "udp[%d] %llu: ", (int)getpid(), (unsigned long long)tp_now_us());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the progress thread ------------------------------------------------- */

/* Timers and deferred work of every QP that is due; the earliest deadline
 * left.  qps_lock held (read). */
static uint64_t service_qps(struct udp_device *ud, uint64_t now)
{
	uint64_t next = UDP_NO_DEADLINE;

	for (unsigned i = 0; i < ud->max_qp; i++) {
		struct udp_qp *q = ud->qps[i];
		uint64_t d;

		if (!q)
			continue;
		d = atomic_load_explicit(&q->deadline_us, memory_order_seq_cst);
		if (d <= now) {
			pthread_mutex_lock(&q->qp.lock);
			udp_qp_service(q, now);
			pthread_mutex_unlock(&q->qp.lock);
			d = atomic_load_explicit(&q->deadline_us, memory_order_relaxed);
		}
		if (d < next)
			next = d;
	}
	return next;
}

/* Arm the timerfd at absolute time t (us, CLOCK_MONOTONIC), or disarm. */
static void timer_arm(struct udp_device *ud, uint64_t t)
{
	struct itimerspec its = { 0 };

	if (t != UDP_NO_DEADLINE) {
		its.it_value.tv_sec = (time_t)(t / 1000000u);
		its.it_value.tv_nsec = (long)(t % 1000000u) * 1000;
		if (t == 0)
			its.it_value.tv_nsec = 1; /* 0 would disarm */
	}
	timerfd_settime(ud->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void drain_fd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
}

/* One pass: receive, release held packets, run due timers; returns the
 * next deadline. */
static uint64_t progress_pass(struct udp_device *ud)
{
	uint64_t now = tp_now_us(), next, t;

	atomic_store_explicit(&ud->armed_us, 0, memory_order_seq_cst);
	pthread_rwlock_rdlock(&ud->qps_lock);
	if (pthread_mutex_trylock(&ud->rx_lock) == 0) {
		udp_rx_drain(ud, now);
		now = tp_now_us();
		next = udp_fault_release(ud, now);
		pthread_mutex_unlock(&ud->rx_lock);
	} else {
		/* a CQ poller is receiving: let it finish, come back at once
		 * (blocking on the mutex would queue this thread behind it) */
		sched_yield();
		next = 0;
	}
	t = service_qps(ud, now);
	pthread_rwlock_unlock(&ud->qps_lock);
	return t < next ? t : next;
}

/* ops->progress, from tp_cq_poll finding a CQ empty: receive what is
 * waiting in the polling thread, unless the progress thread is at it.
 * A busy-polling application thus takes its own ACKs and incoming data
 * without waiting for the progress thread to be woken and scheduled (two
 * thread hand-offs per round trip otherwise); timers stay the thread's. */
static void udp_progress(struct tp_device *dev)
{
	struct udp_device *ud = to_udp_dev(dev);

	pthread_rwlock_rdlock(&ud->qps_lock);
	if (pthread_mutex_trylock(&ud->rx_lock) == 0) {
		udp_rx_drain(ud, tp_now_us());
		pthread_mutex_unlock(&ud->rx_lock);
	}
	pthread_rwlock_unlock(&ud->qps_lock);
}

static void *progress_thread(void *arg)
{
	struct udp_device *ud = arg;
	uint64_t armed = UDP_NO_DEADLINE;
	bool busy = false;

	while (!atomic_load_explicit(&ud->stop, memory_order_acquire)) {
		struct epoll_event ev[4];
		int n = epoll_wait(ud->epfd, ev, 4, busy ? 0 : -1);
		uint64_t next;

		for (int i = 0; i < n; i++)
			if (ev[i].data.fd != ud->fd)
				drain_fd(ev[i].data.fd);
		next = progress_pass(ud);
		busy = next <= tp_now_us();
		if (!busy && next != armed) {
			timer_arm(ud, next);
			armed = next;
		}
		atomic_store_explicit(&ud->armed_us, busy ? 0 : next, memory_order_seq_cst);
	}
	return NULL;
}

static int thread_start(struct udp_device *ud)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&ud->thread, NULL, progress_thread, ud);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return loom_err_set(err, "udp: progress thread: %s", strerror(err));
	pthread_setname_np(ud->thread, "loom-udp");
	return 0;
}

/* ---- devices ------------------------------------------------------------------ */

static int udp_get_devices(struct tp_device_info *list, int max)
{
	if (list && max >= 1) {
		memset(list, 0, sizeof(*list));
		strcpy(list->provider, "udp");
		strcpy(list->name, "udp0");
	}
	return 1;
}

/* "udp" followed by digits: devices are told apart by addr/port, the name
 * is a label. */
static bool name_ok(const char *name)
{
	if (strncmp(name, "udp", 3) != 0 || !name[3])
		return false;
	for (const char *p = name + 3; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int read_opts(struct udp_device *ud, const struct tp_opts *o)
{
	const char *addr = tp_opts_str(o, "addr", "127.0.0.1");

	memset(&ud->local, 0, sizeof(ud->local));
	ud->local.sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &ud->local.sin_addr) != 1 ||
	    ud->local.sin_addr.s_addr == htonl(INADDR_ANY))
		return loom_err_set(EINVAL, "udp: addr=%s is not an IPv4 address of this host "
				    "(dotted quad, not 0.0.0.0)", addr);
	ud->local.sin_port = htons((uint16_t)tp_opts_u64(o, "port", ROCE_UDP_PORT));
	ud->max_qp = (unsigned)tp_opts_u64(o, "max_qp", 64);
	ud->window = (unsigned)tp_opts_u64(o, "window", 128);
	ud->ackreq_every = (unsigned)tp_opts_u64(o, "ackreq_every", 32);
	ud->renak_us = tp_opts_u64(o, "renak_us", 1000);
	ud->pkey = (uint16_t)tp_opts_u64(o, "pkey", 0xffff);
	if (!(ud->pkey & 0x7fff))
		return loom_err_set(EINVAL, "udp: pkey=0x%04x is invalid (0x0000 and 0x8000 are "
				    "reserved, IBA 10.9.1.2)", ud->pkey);
	ud->rcvbuf_bytes = tp_opts_u64(o, "rcvbuf_kib", 8192) * 1024;
	ud->sndbuf_bytes = tp_opts_u64(o, "sndbuf_kib", 2048) * 1024;
	ud->trace = tp_opts_bool(o, "trace", getenv("LOOM_UDP_TRACE") != NULL);
	ud->gso = tp_opts_bool(o, "gso", true);
	udp_cc_read_opts(&ud->cc, o);
	return udp_fault_read_opts(&ud->fault, o);
}

static int epoll_add(struct udp_device *ud, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(ud->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return loom_err_set(errno, "udp: epoll_ctl: %s", strerror(errno));
	return 0;
}

/* epoll + eventfd + timerfd, each watched. */
static int poll_fds_open(struct udp_device *ud)
{
	ud->epfd = epoll_create1(EPOLL_CLOEXEC);
	ud->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ud->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ud->epfd < 0 || ud->evfd < 0 || ud->tfd < 0)
		return loom_err_set(errno, "udp: epoll/eventfd/timerfd: %s", strerror(errno));
	if (epoll_add(ud, ud->fd) < 0 || epoll_add(ud, ud->evfd) < 0 || epoll_add(ud, ud->tfd) < 0)
		return -errno;
	return 0;
}

static void poll_fds_close(struct udp_device *ud)
{
	if (ud->epfd >= 0)
		close(ud->epfd);
	if (ud->evfd >= 0)
		close(ud->evfd);
	if (ud->tfd >= 0)
		close(ud->tfd);
}

static int tables_alloc(struct udp_device *ud)
{
	ud->qps = calloc(ud->max_qp, sizeof(*ud->qps));
	ud->gen = calloc(ud->max_qp, sizeof(*ud->gen));
	ud->dirty = calloc(ud->max_qp, sizeof(*ud->dirty));
	if (!ud->qps || !ud->gen || !ud->dirty)
		return loom_err_set(ENOMEM, "udp: out of memory for the QP table");
	return udp_rx_ring_alloc(ud);
}

static void tables_free(struct udp_device *ud)
{
	udp_rx_ring_free(ud);
	free(ud->dirty);
	free(ud->gen);
	free(ud->qps);
}

static int udp_device_open(struct tp_device *dev, const char *name, const struct tp_opts *o)
{
	struct udp_device *ud = to_udp_dev(dev);
	int err;

	ud->fd = ud->epfd = ud->evfd = ud->tfd = -1;
	if (!name_ok(name))
		return loom_err_set(ENODEV, "udp: no device '%s' (names are udp0, udp1, ...; "
				    "the address comes from option addr=)", name);
	if ((err = read_opts(ud, o)) < 0)
		return err;
	if ((err = tables_alloc(ud)) < 0)
		goto err_tables;
	err = udp_socket_open(&ud->local, true, ud->rcvbuf_bytes, 0, 0, false, &ud->local);
	if (err < 0)
		goto err_tables;
	ud->fd = err;
	if ((err = poll_fds_open(ud)) < 0)
		goto err_fds;
	loom_rng_init(&ud->rx_rng, ud->fault.seed ^ 0x7278u /* "rx" */);
	pthread_rwlock_init(&ud->qps_lock, NULL);
	pthread_mutex_init(&ud->tx_hold_lock, NULL);
	pthread_mutex_init(&ud->rx_lock, NULL);
	atomic_store(&ud->tx_hold_due, UDP_NO_DEADLINE);
	atomic_store(&ud->armed_us, UDP_NO_DEADLINE);
	if ((err = thread_start(ud)) < 0)
		goto err_locks;
	return 0;

err_locks:
	pthread_mutex_destroy(&ud->rx_lock);
	pthread_mutex_destroy(&ud->tx_hold_lock);
	pthread_rwlock_destroy(&ud->qps_lock);
err_fds:
	poll_fds_close(ud);
	close(ud->fd);
err_tables:
	tables_free(ud);
	return err;
}

static void udp_device_close(struct tp_device *dev)
{
	struct udp_device *ud = to_udp_dev(dev);
	uint64_t one = 1;

	atomic_store_explicit(&ud->stop, true, memory_order_release);
	if (write(ud->evfd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: a wake-up is pending anyway */
	}
	pthread_join(ud->thread, NULL);
	udp_fault_free(ud);
	poll_fds_close(ud);
	close(ud->fd);
	pthread_mutex_destroy(&ud->rx_lock);
	pthread_mutex_destroy(&ud->tx_hold_lock);
	pthread_rwlock_destroy(&ud->qps_lock);
	tables_free(ud);
}

static int udp_device_addr(struct tp_device *dev, struct tp_addr *addr)
{
	struct udp_device *ud = to_udp_dev(dev);

	addr->len = 6;
	memcpy(addr->bytes, &ud->local.sin_addr.s_addr, 4);
	memcpy(addr->bytes + 4, &ud->local.sin_port, 2);
	return 0;
}

static int udp_addr_format(const struct tp_addr *addr, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	uint16_t port;
	int n;

	if (addr->len != 6)
		return loom_err_set(EINVAL, "udp: address of %u bytes (want 6: IPv4 + port)",
				    addr->len);
	inet_ntop(AF_INET, addr->bytes, ip, sizeof(ip));
	memcpy(&port, addr->bytes + 4, 2);
	n = snprintf(buf, len, "udp:%s:%u", ip, ntohs(port));
	return n < 0 || (size_t)n >= len ? loom_err_set(ENOSPC, "udp: addr_format: buffer of "
							"%zu bytes too small", len)
					 : 0;
}

const struct tp_provider_ops udp_provider_ops = {
	.name = "udp",
	.opts = udp_opts,
	.device_size = sizeof(struct udp_device),
	.qp_size = sizeof(struct udp_qp),
	.get_devices = udp_get_devices,
	.device_open = udp_device_open,
	.device_close = udp_device_close,
	.device_addr = udp_device_addr,
	.addr_format = udp_addr_format,
	.qp_init = udp_qp_init,
	.qp_fini = udp_qp_fini,
	.qp_modify = udp_qp_modify,
	.post_send_kick = udp_post_send_kick,
	.qp_sq_draining = udp_qp_sq_draining,
	.progress = udp_progress, /* receiving also in CQ pollers (above) */
};

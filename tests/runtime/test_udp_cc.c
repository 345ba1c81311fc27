/*
 * test_udp_cc.c - the udp provider's congestion control (DCQCN, udp_cc.c).
 *   - An ECN congestion episode: the responder's device sees 10% of the
 *     first packets it receives marked CE (fault.rx.ecn, ecn_packets); CNPs
 *     flow back (each one counted on both sides, never more often than
 *     cnp_interval_us), every CNP cuts the requester's rate, the rate
 *     climbs back to unlimited once marking stops, the test's own
 *     throughput is lower while marked than after recovery, and every
 *     WRITE and SEND arrives byte for byte, in order, exactly once.
 *   - Without ECN marks no CNP is sent, nothing is cut, the QP stays
 *     unlimited.
 *   - The CNP on the wire, read by a plain socket playing the requester:
 *     its ICRC checks with Loom's parser over the IPv4/UDP header it came
 *     with, and its 12 BTH bytes are those of REFERENCE 7's golden CNP
 *     (0x81, P_Key 0xffff, BECN, PSN 0) with our QP number; one CNP per
 *     cnp_interval_us, one per marked request with interval 0; packets
 *     leave ECT(0), and CE (fault.tx.ecn) shows in the received TOS.
 *   - A real congestion point (root only, skipped otherwise): two network
 *     namespaces joined by a veth pair whose sending end has a 200 Mbit/s
 *     token bucket feeding fq_codel with ECN; the kernel marks CE, CNPs
 *     flow, the requester's rate is cut, data arrives intact.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loom/roce.h"
#include "test_udp_pair.h"

#define KB 1024u
#define MB (1024u * 1024u)
#define WRITE_LEN (64 * KB)
#define SEND_LEN 2000u /* a multiple of 8 (fill64) */
#define RECV_OFF (512 * KB) /* b: receive buffers, 4 KiB each, 64 of them */

/* ---- a WRITE + SEND stream with its checks ---------------------------------------------- */

/* Cheap data (the test thread must not be what limits the rate): 8-byte
 * words of a splitmix64 sequence from seed; n a multiple of 8. */
static void fill64(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(p + i, &z, 8);
	}
}

struct stream {
	struct end *a, *b;
	int posted, done; /* rounds */
};

/* Round r: WRITE of 64 KiB to a rotating offset of b, then a SEND whose
 * first 4 bytes are r (receives are consumed in order, so the SEND
 * sequence shows loss, duplication and reordering). */
static bool round_post(struct lt *t, struct stream *s, int r)
{
	struct end *a = s->a, *b = s->b;
	size_t wo = (size_t)(r % 6) * WRITE_LEN, so = 6 * WRITE_LEN + (size_t)(r % 8) * 4096;
	bool ok;

	fill64(a->buf + wo, WRITE_LEN, 100 + (uint64_t)r);
	fill64(a->buf + so, SEND_LEN, 200 + (uint64_t)r);
	memcpy(a->buf + so, &r, sizeof(r));
	ok = post_recv1(b, (uint64_t)r, RECV_OFF + (size_t)(r % 64) * 4096, 4096) == 0 &&
	     post1(a, TP_WR_RDMA_WRITE, (uint64_t)r * 2, wo, WRITE_LEN, raddr(b, wo), b->mr->rkey,
		   TP_SEND_SIGNALED) == 0 &&
	     post1(a, TP_WR_SEND, (uint64_t)r * 2 + 1, so, SEND_LEN, 0, 0, TP_SEND_SIGNALED) == 0;
	LT_CHECK(t, ok, "post round %d: %s", r, loom_err_msg());
	return ok;
}

/* Wait for round r and check its bytes against a fresh fill (the source
 * of a later round at the same offset may already be rewritten). */
static bool round_check(struct lt *t, struct stream *s, int r)
{
	struct end *a = s->a, *b = s->b;
	size_t wo = (size_t)(r % 6) * WRITE_LEN;
	static uint8_t want[WRITE_LEN];
	struct tp_wc wc;
	bool ok = expect_wc(t, a->scq, (uint64_t)r * 2, TP_WC_SUCCESS, NULL) &&
		  expect_wc(t, a->scq, (uint64_t)r * 2 + 1, TP_WC_SUCCESS, NULL) &&
		  expect_wc(t, b->rcq, (uint64_t)r, TP_WC_SUCCESS, &wc);
	int seq;

	if (!ok)
		return false;
	fill64(want, WRITE_LEN, 100 + (uint64_t)r);
	ok &= memcmp(b->buf + wo, want, WRITE_LEN) == 0 ||
	      same_bytes(t, "write", b->buf + wo, want, WRITE_LEN);
	fill64(want, SEND_LEN, 200 + (uint64_t)r);
	memcpy(want, &r, sizeof(r));
	ok &= wc.byte_len == SEND_LEN &&
	      same_bytes(t, "send", b->buf + RECV_OFF + (size_t)(r % 64) * 4096, want, SEND_LEN);
	memcpy(&seq, b->buf + RECV_OFF + (size_t)(r % 64) * 4096, sizeof(seq));
	LT_CHECK(t, seq == r && wc.byte_len == SEND_LEN, "receive %d holds SEND %d (%u bytes)", r,
		 seq, wc.byte_len);
	return ok && seq == r;
}

/* Run rounds until n more are done, 4 in flight; false on a failure.
 * Writes to b's first 6 * 64 KiB are only rewritten after their round is
 * checked (6 offsets, at most 5 rounds unchecked). */
static bool stream_run(struct lt *t, struct stream *s, int n)
{
	int end = s->done + n;

	while (s->done < end) {
		while (s->posted < end && s->posted - s->done < 4)
			if (!round_post(t, s, s->posted++))
				return false;
		if (!round_check(t, s, s->done++))
			return false;
	}
	return true;
}

static struct cfg cc_cfg(void)
{
	struct cfg c = cfg_default();

	c.buf_len = 1 * MB;
	c.mtu = 4096;
	c.max_wr = 64;
	return c;
}

/* ---- an ECN congestion episode -------------------------------------------------------------- */

struct phase {
	double mib_s;		/* the test's goodput (WRITE + SEND bytes) */
	uint64_t rate_min, rate_max; /* the requester's rate gauge, nonzero samples */
	bool saw_unlimited;
};

/* Rounds in chunks of 8 while more() says so (or up to max_ms), sampling
 * the requester's rate after each chunk. */
static bool phase_run(struct lt *t, struct stream *s, struct phase *p, bool marking,
		      uint64_t mark_until_pkts, int max_ms)
{
	uint64_t t0 = now_us();
	int r0 = s->done;

	memset(p, 0, sizeof(*p));
	p->rate_min = UINT64_MAX;
	while (now_us() - t0 < (uint64_t)max_ms * 1000) {
		uint64_t g;

		if (!stream_run(t, s, 8))
			return false;
		g = counters(s->a->dev).cc_rate_mbps;
		if (g) {
			p->rate_min = g < p->rate_min ? g : p->rate_min;
			p->rate_max = g > p->rate_max ? g : p->rate_max;
		}
		if (marking && counters(s->b->dev).rx_packets >= mark_until_pkts)
			break;
		if (!marking && !g) {
			p->saw_unlimited = true;
			break;
		}
	}
	p->mib_s = (double)(s->done - r0) * (WRITE_LEN + SEND_LEN) / MB /
		   ((double)(now_us() - t0) / 1e6);
	return true;
}

static void test_ecn_episode(struct lt *t)
{
	const uint64_t mark_pkts = 6000; /* b's first received packets, 10% marked */
	struct cfg c = cc_cfg();
	static char seed[48];
	struct end a, b;
	struct stream s = { &a, &b, 0, 0 };
	struct phase marked, after, settled;
	struct tp_counters ca, cb;
	uint64_t t0;

	snprintf(seed, sizeof(seed), "fault.seed=%llu", (unsigned long long)lt_seed(t));
	opt_add(c.opts_b, "fault.rx.ecn=0.1");
	opt_add(c.opts_b, "fault.rx.ecn_packets=6000");
	opt_add(c.opts_b, seed);
	if (!pair_open(t, &c, &a, &b))
		goto out;
	t0 = now_us();
	if (!phase_run(t, &s, &marked, true, mark_pkts, 15000))
		goto out;
	/* marking is over: back to unlimited within a few seconds (timer
	 * stages alone: 300 us each) */
	if (!phase_run(t, &s, &after, false, 0, 8000) ||
	    !phase_run(t, &s, &settled, false, 0, 300)) /* goodput once unlimited */
		goto out;
	usleep(20000); /* CNPs in flight land */
	ca = counters(a.dev);
	cb = counters(b.dev);
	printf("     marked %llu of %llu packets: %llu CNPs sent, %llu received, %llu rate cuts; "
	       "rate %llu..%llu Mbit/s while marked; goodput %.0f MiB/s marked, %.0f MiB/s "
	       "after recovery; %.2f s\n", (unsigned long long)cb.fault_marked,
	       (unsigned long long)cb.rx_packets, (unsigned long long)cb.cnps_sent,
	       (unsigned long long)ca.cnps_received, (unsigned long long)ca.cc_rate_cuts,
	       (unsigned long long)(marked.rate_min == UINT64_MAX ? 0 : marked.rate_min),
	       (unsigned long long)marked.rate_max, marked.mib_s, settled.mib_s,
	       (double)(now_us() - t0) / 1e6);
	/* b receives only requests, so every injected mark is a CE request */
	LT_CHECK(t, cb.fault_marked > 100 && cb.ecn_marked == cb.fault_marked,
		 "marks injected %llu, CE requests seen %llu", (unsigned long long)cb.fault_marked,
		 (unsigned long long)cb.ecn_marked);
	/* at most one CNP per 50 us per QP, and never more than marks */
	LT_CHECK(t, cb.cnps_sent > 0 && cb.cnps_sent <= cb.ecn_marked &&
			    cb.cnps_sent <= (now_us() - t0) / 50 + 1,
		 "CNPs sent %llu for %llu marks", (unsigned long long)cb.cnps_sent,
		 (unsigned long long)cb.ecn_marked);
	/* loopback without faults on CNPs: each arrives, each cuts the rate */
	LT_CHECK(t, ca.cnps_received == cb.cnps_sent && ca.cc_rate_cuts == ca.cnps_received &&
			    ca.cnps_sent == 0 && cb.cnps_received == 0,
		 "CNPs sent %llu, received %llu, cuts %llu", (unsigned long long)cb.cnps_sent,
		 (unsigned long long)ca.cnps_received, (unsigned long long)ca.cc_rate_cuts);
	/* the rate was cut (a first cut halves, alpha starting at 1) and
	 * recovered: unlimited again, and the goodput higher than while
	 * marked */
	LT_CHECK(t, marked.rate_max > 0 && marked.rate_min < marked.rate_max,
		 "rate while marked: %llu..%llu Mbit/s", (unsigned long long)marked.rate_min,
		 (unsigned long long)marked.rate_max);
	LT_CHECK(t, after.saw_unlimited && ca.cc_rate_mbps == 0,
		 "not unlimited again after marking stopped (rate %llu Mbit/s)",
		 (unsigned long long)ca.cc_rate_mbps);
	/* pacing held: the goodput (headers not counted) stayed below the
	 * highest rate allowed while marked (10% slack: bursts after pauses) */
	LT_CHECK(t, marked.mib_s * 8 * 1.048576 <= (double)marked.rate_max * 1.1,
		 "goodput %.0f Mbit/s while marked, rate at most %llu Mbit/s",
		 marked.mib_s * 8 * 1.048576, (unsigned long long)marked.rate_max);
	LT_CHECK(t, settled.mib_s > marked.mib_s, "goodput %.0f MiB/s after recovery, %.0f while "
		 "marked", settled.mib_s, marked.mib_s);
out:
	pair_close(t, &a, &b);
}

/* READ responses are controlled data too.  a READs 256 KiB blocks of b's
 * buffer: (1) with the first 1000 packets a receives marked CE at 10%, a
 * (the notification point for READ responses) sends CNPs and b (their
 * sender) cuts its rate on each; (2) with line_rate_mbps=200 on b, 8 MiB
 * of READ responses take at least 8 MiB * 8 / 200 Mbit/s = 0.34 s (the
 * first burst aside), where loopback runs them several times faster. */
static bool read_blocks(struct lt *t, struct end *a, struct end *b, int n)
{
	const size_t blk = 256 * 1024;

	for (int i = 0; i < n; i++) {
		size_t off = (size_t)(i % 4) * blk;

		memset(a->buf + off, 0, blk);
		if (post1(a, TP_WR_RDMA_READ, (uint64_t)i, off, blk, raddr(b, off), b->mr->rkey,
			  TP_SEND_SIGNALED) != 0 ||
		    !expect_wc(t, a->scq, (uint64_t)i, TP_WC_SUCCESS, NULL) ||
		    !same_bytes(t, "READ block", a->buf + off, b->buf + off, blk))
			return false;
	}
	return true;
}

static void test_read_responses_controlled(struct lt *t)
{
	struct cfg c = cc_cfg();
	struct end a, b;
	struct tp_counters ca, cb;
	uint64_t t0;
	double s;

	opt_add(c.opts_a, "fault.rx.ecn=0.1");
	opt_add(c.opts_a, "fault.rx.ecn_packets=1000");
	if (pair_open(t, &c, &a, &b)) {
		fill(b.buf, c.buf_len, 11);
		if (read_blocks(t, &a, &b, 40)) {
			usleep(20000); /* CNPs in flight land */
			ca = counters(a.dev);
			cb = counters(b.dev);
			printf("     READ responses: %llu marked, %llu CNPs sent by the reader, %llu "
			       "received, %llu rate cuts at the responder\n",
			       (unsigned long long)ca.ecn_marked, (unsigned long long)ca.cnps_sent,
			       (unsigned long long)cb.cnps_received,
			       (unsigned long long)cb.cc_rate_cuts);
			LT_CHECK(t, ca.fault_marked > 20 && ca.ecn_marked == ca.fault_marked &&
					    ca.cnps_sent > 0 && ca.cnps_sent <= ca.ecn_marked,
				 "marks %llu, CE READ responses %llu, CNPs %llu",
				 (unsigned long long)ca.fault_marked,
				 (unsigned long long)ca.ecn_marked, (unsigned long long)ca.cnps_sent);
			LT_CHECK(t, cb.cnps_received == ca.cnps_sent &&
					    cb.cc_rate_cuts == cb.cnps_received && cb.cnps_sent == 0,
				 "CNPs sent %llu, received %llu, cuts %llu",
				 (unsigned long long)ca.cnps_sent,
				 (unsigned long long)cb.cnps_received,
				 (unsigned long long)cb.cc_rate_cuts);
		}
	}
	pair_close(t, &a, &b);

	c = cc_cfg();
	opt_add(c.opts_b, "line_rate_mbps=200");
	if (pair_open(t, &c, &a, &b)) {
		fill(b.buf, c.buf_len, 12);
		t0 = now_us();
		if (read_blocks(t, &a, &b, 32)) {
			s = (double)(now_us() - t0) / 1e6;
			printf("     8 MiB of READ responses paced at 200 Mbit/s: %.2f s\n", s);
			LT_CHECK(t, s >= 0.30, "8 MiB READ in %.2f s at 200 Mbit/s (>= 0.30 s)", s);
		}
	}
	pair_close(t, &a, &b);
}

/* No marks: no CNP, no cut, unlimited throughout. */
static void test_no_ecn_no_cnp(struct lt *t)
{
	struct cfg c = cc_cfg();
	struct end a, b;
	struct stream s = { &a, &b, 0, 0 };
	struct tp_counters ca, cb;

	if (!pair_open(t, &c, &a, &b) || !stream_run(t, &s, 200))
		goto out;
	ca = counters(a.dev);
	cb = counters(b.dev);
	LT_CHECK(t, ca.cnps_sent + cb.cnps_sent + ca.cnps_received + cb.cnps_received == 0 &&
			    ca.ecn_marked + cb.ecn_marked + ca.fault_marked + cb.fault_marked == 0 &&
			    ca.cc_rate_cuts == 0 && ca.cc_rate_mbps == 0,
		 "CNPs sent %llu/%llu received %llu/%llu, marks %llu/%llu, cuts %llu, rate %llu",
		 (unsigned long long)ca.cnps_sent, (unsigned long long)cb.cnps_sent,
		 (unsigned long long)ca.cnps_received, (unsigned long long)cb.cnps_received,
		 (unsigned long long)ca.ecn_marked, (unsigned long long)cb.ecn_marked,
		 (unsigned long long)ca.cc_rate_cuts, (unsigned long long)ca.cc_rate_mbps);
out:
	pair_close(t, &a, &b);
}

/* A configured line rate paces from the start: 200 rounds (13.5 MB) at
 * 400 Mbit/s take at least ~0.27 s (the first 16 KiB burst aside), where
 * loopback alone runs several times faster. */
static void test_line_rate_paces(struct lt *t)
{
	struct cfg c = cc_cfg();
	struct end a, b;
	struct stream s = { &a, &b, 0, 0 };
	uint64_t t0;
	double secs, mbit;

	opt_add(c.opts_a, "line_rate_mbps=400");
	if (!pair_open(t, &c, &a, &b))
		goto out;
	t0 = now_us();
	if (!stream_run(t, &s, 200))
		goto out;
	secs = (double)(now_us() - t0) / 1e6;
	mbit = 200.0 * (WRITE_LEN + SEND_LEN) * 8 / 1e6 / secs;
	printf("     line_rate_mbps=400: goodput %.0f Mbit/s\n", mbit);
	/* goodput excludes headers (~1%), so it stays below the line rate;
	 * 5% slack for the first burst and timer granularity */
	LT_CHECK(t, mbit < 400 * 1.05 && mbit > 400 * 0.5, "goodput %.0f Mbit/s at a 400 Mbit/s "
		 "line rate", mbit);
	LT_CHECK(t, counters(a.dev).cc_rate_mbps == 400, "gauge %llu",
		 (unsigned long long)counters(a.dev).cc_rate_mbps);
out:
	pair_close(t, &a, &b);
}

/* ---- the CNP on the wire --------------------------------------------------------------------- */

struct wire {
	struct tp_device *dev;
	struct tp_pd *pd;
	struct tp_cq *cq;
	struct tp_qp *qp;
	struct tp_mr *mr;
	uint8_t buf[4096];
	int fd;			 /* the plain socket playing the requester */
	struct sockaddr_in me, to; /* its address, the device's */
};

#define WIRE_QPN 0x123 /* the requester QP the socket plays */

static bool wire_open(struct lt *t, struct wire *w, const char *const *opts)
{
	struct tp_qp_init_attr init;
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = QP_ACCESS_ALL };
	socklen_t sl = sizeof(w->me);
	struct tp_addr ad;
	int one = 1;

	memset(w, 0, sizeof(*w));
	w->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	w->me = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	LT_CHECK(t, w->fd >= 0 && setsockopt(w->fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one)) == 0 &&
			    bind(w->fd, (struct sockaddr *)&w->me, sizeof(w->me)) == 0 &&
			    getsockname(w->fd, (struct sockaddr *)&w->me, &sl) == 0,
		 "socket: %s", strerror(errno));
	w->dev = tp_device_open("udp", NULL, opts);
	LT_CHECK(t, w->dev, "open: %s", loom_err_msg());
	if (w->fd < 0 || !w->dev)
		return false;
	w->pd = tp_pd_alloc(w->dev);
	w->cq = tp_cq_create(w->dev, 64);
	init = (struct tp_qp_init_attr){ .send_cq = w->cq, .recv_cq = w->cq, .max_send_wr = 8,
					 .max_recv_wr = 8, .max_send_sge = 1, .max_recv_sge = 1 };
	w->qp = w->pd && w->cq ? tp_qp_create(w->pd, &init) : NULL;
	w->mr = w->pd ? tp_mr_reg(w->pd, w->buf, sizeof(w->buf), ACCESS_ALL) : NULL;
	LT_CHECK(t, w->qp && w->mr, "setup: %s", loom_err_msg());
	if (!w->qp || !w->mr || tp_qp_modify(w->qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS))
		return false;
	a = (struct tp_qp_attr){ .state = TP_QPS_RTR, .path_mtu = 1024, .dest_qp_num = WIRE_QPN,
				 .rq_psn = 0, .max_dest_rd_atomic = 1, .min_rnr_timer = 1 };
	a.dest.len = 6;
	memcpy(a.dest.bytes, &w->me.sin_addr.s_addr, 4);
	memcpy(a.dest.bytes + 4, &w->me.sin_port, 2);
	LT_CHECK(t, tp_qp_modify(w->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST |
					      TP_QP_RQ_PSN | TP_QP_MAX_DEST_RD_ATOMIC |
					      TP_QP_MIN_RNR_TIMER) == 0,
		 "RTR: %s", loom_err_msg());
	tp_device_addr(w->dev, &ad);
	w->to = (struct sockaddr_in){ .sin_family = AF_INET };
	memcpy(&w->to.sin_addr.s_addr, ad.bytes, 4);
	memcpy(&w->to.sin_port, ad.bytes + 4, 2);
	return true;
}

static void wire_close(struct lt *t, struct wire *w)
{
	if (w->qp)
		LT_CHECK(t, tp_qp_destroy(w->qp) == 0, "%s", loom_err_msg());
	if (w->mr)
		tp_mr_dereg(w->mr);
	if (w->cq)
		tp_cq_destroy(w->cq);
	if (w->pd)
		tp_pd_free(w->pd);
	if (w->dev)
		tp_device_close(w->dev);
	if (w->fd >= 0)
		close(w->fd);
}

/* n RDMA WRITE ONLY requests of 8 bytes (PSN 0..n-1, AckReq), back to back. */
static void wire_send_writes(struct wire *w, int n)
{
	struct roce_ipv4_udp ip;
	uint64_t v = 0x1122334455667788ull;
	struct roce_pkt p = { 0 };
	uint8_t buf[128];

	roce_ipv4_udp_socket(&ip, ntohl(w->me.sin_addr.s_addr), ntohs(w->me.sin_port),
			     ntohl(w->to.sin_addr.s_addr), ntohs(w->to.sin_port));
	p.bth = (struct roce_bth){ .opcode = ROCE_OP_WRITE_ONLY, .pkey = 0xffff,
				   .dqpn = tp_qp_num(w->qp), .ack_req = true };
	p.reth = (struct roce_reth){ .va = (uintptr_t)w->buf, .rkey = w->mr->rkey, .dma_len = 8 };
	p.payload = (const uint8_t *)&v;
	p.payload_bytes = 8;
	for (int i = 0; i < n; i++) {
		int len;

		p.bth.psn = (uint32_t)i;
		len = roce_pkt_build(buf, sizeof(buf), &p, 1024, &ip);
		sendto(w->fd, buf, (size_t)len, 0, (struct sockaddr *)&w->to, sizeof(w->to));
	}
}

struct wire_seen {
	int cnps, acks, bad;
	uint8_t tos_or, tos_and; /* of every datagram */
};

/* Read what the device sent for ms; check every CNP byte for byte. */
static struct wire_seen wire_read(struct lt *t, struct wire *w, int ms)
{
	/* REFERENCE 7's golden CNP BTH with the destination QP WIRE_QPN */
	static const uint8_t bth[12] = { 0x81, 0x00, 0xff, 0xff, 0x40, 0x00, 0x01, 0x23, 0, 0, 0, 0 };
	struct wire_seen s = { .tos_and = 0xff };
	uint64_t end = now_us() + (uint64_t)ms * 1000;

	while (now_us() < end) {
		struct pollfd pf = { .fd = w->fd, .events = POLLIN };
		uint8_t buf[2048];
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct sockaddr_in from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				    .msg_iovlen = 1, .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct roce_ipv4_udp ip;
		struct roce_pkt p;
		uint8_t tos = 0;
		ssize_t n;

		if (poll(&pf, 1, 5) <= 0 || (n = recvmsg(w->fd, &m, 0)) <= 0)
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS)
				tos = *(uint8_t *)CMSG_DATA(cm);
		s.tos_or |= tos;
		s.tos_and &= tos;
		roce_ipv4_udp_socket(&ip, ntohl(from.sin_addr.s_addr), ntohs(from.sin_port),
				     ntohl(w->me.sin_addr.s_addr), ntohs(w->me.sin_port));
		/* the ICRC over the header the packet came with, then the parser */
		if (roce_pkt_parse(&p, buf, (size_t)n, 1024, &ip) != 0) {
			LT_CHECK(t, false, "a packet from the device fails the parser: %s",
				 loom_err_msg());
			s.bad++;
			continue;
		}
		if (p.bth.opcode == ROCE_OP_ACK) {
			s.acks++;
			continue;
		}
		s.cnps += p.bth.opcode == ROCE_OP_CNP;
		if (p.bth.opcode != ROCE_OP_CNP || n != 32 || memcmp(buf, bth, 12) != 0 ||
		    p.payload_bytes != 16) {
			LT_CHECK(t, false, "unexpected packet %s of %zd bytes, BTH %02x %02x %02x %02x "
				 "%02x %02x %02x %02x", roce_opcode_name(p.bth.opcode), n, buf[0],
				 buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]);
			s.bad++;
			continue;
		}
		for (int i = 12; i < 28; i++) /* reserved bytes */
			s.bad += buf[i] != 0;
	}
	return s;
}

static void test_cnp_on_the_wire(struct lt *t)
{
	const char *slow[] = { "addr=127.0.0.1", "port=0", "fault.rx.ecn=1",
			       "cnp_interval_us=10000000", NULL };
	const char *every[] = { "addr=127.0.0.1", "port=0", "fault.rx.ecn=1", "cnp_interval_us=0",
				NULL };
	const char *ce_tx[] = { "addr=127.0.0.1", "port=0", "fault.tx.ecn=1", NULL };
	struct wire w;
	struct wire_seen s;

	/* 10 marked requests within a 10 s interval: one CNP; ACKs ECT(0) */
	if (wire_open(t, &w, slow)) {
		wire_send_writes(&w, 10);
		s = wire_read(t, &w, 50);
		LT_CHECK(t, s.cnps == 1 && s.bad == 0 && s.acks > 0, "%d CNPs, %d ACKs, %d bad",
			 s.cnps, s.acks, s.bad);
		LT_CHECK(t, s.tos_or == 0x02 && s.tos_and == 0x02, "TOS 0x%02x/0x%02x, want ECT(0)",
			 s.tos_or, s.tos_and);
		LT_CHECK(t, counters(w.dev).cnps_sent == 1 && counters(w.dev).ecn_marked == 10,
			 "counted %llu CNPs, %llu CE requests",
			 (unsigned long long)counters(w.dev).cnps_sent,
			 (unsigned long long)counters(w.dev).ecn_marked);
	}
	wire_close(t, &w);
	/* interval 0: one CNP per marked request */
	if (wire_open(t, &w, every)) {
		wire_send_writes(&w, 10);
		s = wire_read(t, &w, 50);
		LT_CHECK(t, s.cnps == 10 && s.bad == 0, "%d CNPs, %d bad", s.cnps, s.bad);
	}
	wire_close(t, &w);
	/* CE set on the way out: the socket sees it; nothing marked inbound */
	if (wire_open(t, &w, ce_tx)) {
		wire_send_writes(&w, 4);
		s = wire_read(t, &w, 50);
		LT_CHECK(t, s.cnps == 0 && s.acks > 0 && s.tos_and == 0x03,
			 "%d CNPs, %d ACKs, TOS 0x%02x (want CE 0x03 on every packet)", s.cnps,
			 s.acks, s.tos_and);
		LT_CHECK(t, counters(w.dev).fault_marked == (uint64_t)s.acks,
			 "marked %llu, %d ACKs", (unsigned long long)counters(w.dev).fault_marked,
			 s.acks);
	}
	wire_close(t, &w);
}

/* ---- a real congestion point: veth + tbf + fq_codel ecn ---------------------------------- */

/* Run a shell command quietly; whether it exited 0. */
static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	return system(cmd) == 0;
}

/* Open an end inside namespace ns (setns of this thread, and back): its
 * sockets stay in ns. */
static bool end_open_in(struct lt *t, struct end *e, const struct cfg *c, const char **opts,
			const char *ns)
{
	char path[96];
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd;
	bool ok;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ok = orig >= 0 && fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
	LT_CHECK(t, ok, "setns %s: %s", ns, strerror(errno));
	ok = ok && end_open(t, e, c, opts);
	if (orig >= 0) {
		LT_CHECK(t, setns(orig, CLONE_NEWNET) == 0, "setns back: %s", strerror(errno));
		close(orig);
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_real_ecn_veth(struct lt *t)
{
	unsigned id = (unsigned)getpid() % 50000;
	char ns[2][32], veth[2][16], ip[2][32], opt_a[48], opt_b[48];
	struct cfg c = cc_cfg();
	struct end a, b;
	struct stream s = { &a, &b, 0, 0 };
	struct tp_counters ca, cb;
	bool ok;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (geteuid() != 0 || !sh("(command -v ip && command -v tc)")) {
		lt_skip(t, "needs root and iproute2 (ip, tc) for namespaces and qdiscs");
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(ns[i], sizeof(ns[i]), "loom-cc-%u-%c", id, 'a' + i);
		snprintf(veth[i], sizeof(veth[i]), "lc%u%c", id, 'a' + i);
		snprintf(ip[i], sizeof(ip[i]), "10.%u.%u.%d", 150 + id / 256 % 100, id % 256, i + 1);
	}
	ok = sh("ip netns add %s", ns[0]) && sh("ip netns add %s", ns[1]) &&
	     sh("ip link add %s type veth peer name %s", veth[0], veth[1]);
	for (int i = 0; ok && i < 2; i++)
		ok = sh("ip link set %s netns %s", veth[i], ns[i]) &&
		     sh("ip -n %s link set %s mtu 9000 up", ns[i], veth[i]) &&
		     sh("ip -n %s addr add %s/24 dev %s", ns[i], ip[i], veth[i]) &&
		     sh("ip -n %s link set lo up", ns[i]);
	if (!ok) {
		lt_skip(t, "cannot set up namespaces and a veth pair here");
		goto out;
	}
	/* the congestion point: a's egress drains at 200 Mbit/s through
	 * fq_codel, which marks ECT packets CE once they queue > 500 us */
	if (!sh("tc -n %s qdisc add dev %s root handle 1: tbf rate 200mbit burst 64kb "
		"latency 100ms", ns[0], veth[0]) ||
	    !sh("tc -n %s qdisc add dev %s parent 1:1 handle 10: fq_codel ecn target 500us "
		"interval 5ms", ns[0], veth[0])) {
		lt_skip(t, "no tbf + fq_codel qdisc in this kernel (an ECN-marking queue)");
		goto out;
	}
	snprintf(opt_a, sizeof(opt_a), "addr=%s", ip[0]);
	snprintf(opt_b, sizeof(opt_b), "addr=%s", ip[1]);
	c.opts_a[0] = opt_a;
	c.opts_b[0] = opt_b;
	c.timeout = 16; /* 268 ms: a standing queue is not a lost packet */
	if (!end_open_in(t, &a, &c, c.opts_a, ns[0]) || !end_open_in(t, &b, &c, c.opts_b, ns[1]) ||
	    !end_connect(t, &a, &b, &c) || !end_connect(t, &b, &a, &c))
		goto out;
	if (!stream_run(t, &s, 300)) /* 20 MB: ~0.8 s at 200 Mbit/s */
		goto out;
	ca = counters(a.dev);
	cb = counters(b.dev);
	printf("     veth at 200 Mbit/s, fq_codel ecn: %llu CE requests, %llu CNPs, %llu cuts, "
	       "%llu retransmits, rate now %llu Mbit/s\n", (unsigned long long)cb.ecn_marked,
	       (unsigned long long)cb.cnps_sent, (unsigned long long)ca.cc_rate_cuts,
	       (unsigned long long)ca.retransmits, (unsigned long long)ca.cc_rate_mbps);
	LT_CHECK(t, cb.ecn_marked > 0 && cb.cnps_sent > 0 && ca.cnps_received > 0 &&
			    ca.cc_rate_cuts == ca.cnps_received && cb.fault_marked == 0,
		 "CE requests %llu, CNPs sent %llu, received %llu, cuts %llu",
		 (unsigned long long)cb.ecn_marked, (unsigned long long)cb.cnps_sent,
		 (unsigned long long)ca.cnps_received, (unsigned long long)ca.cc_rate_cuts);
out:
	pair_close(t, &a, &b);
	for (int i = 0; i < 2; i++)
		sh("ip netns del %s", ns[i]); /* takes its veth end along */
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_cnp_on_the_wire),
		LT_CASE(test_no_ecn_no_cnp),
		LT_CASE(test_read_responses_controlled),
		LT_CASE(test_line_rate_paces),
		LT_CASE(test_ecn_episode),
		LT_CASE(test_real_ecn_veth),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_udp_limits.c - the udp provider's partition and resource limits,
 * checked against a hand-driven peer: a plain UDP socket that plays the
 * other RNIC, reads the packets the provider sends and writes ones built
 * here (so what is counted on the wire is independent of the engines
 * under test).
 *   - P_Key (IBA 10.9.3): a packet whose BTH P_Key does not match the
 *     QP's is dropped silently and counted; a limited member matches a
 *     full one; devices with different P_Keys cannot talk; invalid keys
 *     are refused.
 *   - max_rd_atomic: the requester never has more READ/atomic requests
 *     outstanding, and sends the next one only when a response arrives.
 *   - max_dest_rd_atomic: a READ/atomic arriving while the responder's
 *     resources are held is NAKed invalid request after the responses in
 *     progress, and the QP goes to ERR; with one more resource it is
 *     served.
 *   - SQD: tp_qp_query's sq_draining is true while a started message is
 *     unacknowledged (held by RNR NAKs here), false once it completes; a
 *     WR posted in SQD waits for RTS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loom/roce.h"
#include "test_udp_pair.h"

#define PEER_IP 0x7f000002u /* 127.0.0.2: where the hand-driven peer lives */

static enum tp_qp_state qp_state(struct tp_qp *qp)
{
	struct tp_qp_attr a;

	tp_qp_query(qp, &a);
	return a.state;
}

/* ---- the hand-driven peer ----------------------------------------------------------- */

struct peer {
	int fd;
	uint16_t port;		/* host order */
	struct sockaddr_in dev; /* the device under test */
	uint32_t dev_qpn;
};

/* A UDP socket on 127.0.0.2 (DF, ID 0 like the provider's), with a large
 * receive buffer so a burst of responses is not lost in the socket. */
static bool peer_open(struct lt *t, struct peer *p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(PEER_IP) };
	socklen_t sl = sizeof(sa);
	int v = IP_PMTUDISC_DO, buf = 8 << 20;

	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)); /* not root */
	LT_CHECK(t, p->fd >= 0 &&
			    setsockopt(p->fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) == 0 &&
			    bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    getsockname(p->fd, (struct sockaddr *)&sa, &sl) == 0,
		 "peer socket: %s", strerror(errno));
	p->port = ntohs(sa.sin_port);
	return p->fd >= 0;
}

/* Connect e's QP to the peer socket (INIT -> RTR -> RTS) as QP dqpn. */
static bool connect_to_peer(struct lt *t, struct end *e, struct peer *p, const struct cfg *c)
{
	struct tp_qp_attr a = { .state = TP_QPS_RTR, .path_mtu = c->mtu, .dest_qp_num = 0x123,
				.rq_psn = c->rq_psn, .max_dest_rd_atomic = c->max_dest_rd_atomic,
				.min_rnr_timer = c->min_rnr_timer };
	uint32_t ip = htonl(PEER_IP);
	uint16_t port = htons(p->port);
	struct tp_addr ad;
	int err;

	a.dest.len = 6;
	memcpy(a.dest.bytes, &ip, 4);
	memcpy(a.dest.bytes + 4, &port, 2);
	err = tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN |
					      TP_QP_MAX_DEST_RD_ATOMIC | TP_QP_MIN_RNR_TIMER);
	a = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = c->sq_psn, .timeout = c->timeout,
				 .retry_cnt = c->retry_cnt, .rnr_retry = c->rnr_retry,
				 .max_rd_atomic = c->max_rd_atomic };
	err = err ? err
		  : tp_qp_modify(e->qp, &a, TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
						TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
						TP_QP_MAX_QP_RD_ATOMIC);
	LT_CHECK(t, err == 0, "connect to the peer socket: %s", loom_err_msg());
	tp_device_addr(e->dev, &ad);
	p->dev = (struct sockaddr_in){ .sin_family = AF_INET };
	memcpy(&p->dev.sin_addr.s_addr, ad.bytes, 4);
	memcpy(&p->dev.sin_port, ad.bytes + 4, 2);
	p->dev_qpn = tp_qp_num(e->qp);
	return err == 0;
}

/* Build pkt (payload pkt->payload) as sent from the peer socket to the
 * device: bytes in buf, the length returned (<= 0 on failure). */
static int peer_build(struct lt *t, const struct peer *p, struct roce_pkt *pkt, uint8_t *buf,
		      size_t cap)
{
	struct roce_ipv4_udp ip;
	int n;

	roce_ipv4_udp_socket(&ip, PEER_IP, p->port, ntohl(p->dev.sin_addr.s_addr),
			     ntohs(p->dev.sin_port));
	n = roce_pkt_build(buf, cap, pkt, 0, &ip);
	LT_CHECK(t, n > 0, "build %s: %s", roce_opcode_name(pkt->bth.opcode), loom_err_msg());
	return n;
}

static void peer_send(struct lt *t, const struct peer *p, struct roce_pkt *pkt)
{
	uint8_t buf[ROCE_PKT_MAX_BYTES];
	int n = peer_build(t, p, pkt, buf, sizeof(buf));

	if (n > 0)
		LT_CHECK(t, sendto(p->fd, buf, (size_t)n, 0, (const struct sockaddr *)&p->dev,
				   sizeof(p->dev)) == n, "sendto: %s", strerror(errno));
}

/* The next packet from the device within ms, parsed at path MTU mtu
 * (payload in buf); false on timeout or a packet that does not parse. */
static bool peer_recv(const struct peer *p, struct roce_pkt *pkt, uint8_t *buf, size_t cap,
		      unsigned mtu, int ms)
{
	struct pollfd pf = { .fd = p->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pf, 1, ms) != 1)
		return false;
	n = recv(p->fd, buf, cap, 0);
	return n > 0 && roce_pkt_parse(pkt, buf, (size_t)n, mtu, NULL) == 0;
}

static bool is_rd_atomic_req(uint8_t op)
{
	return op == ROCE_OP_READ_REQ || op == ROCE_OP_FETCH_ADD || op == ROCE_OP_CMP_SWAP;
}

/* ---- P_Key ------------------------------------------------------------------------- */

/* A SEND with a foreign P_Key is dropped and counted, the same SEND with a
 * limited member's key of the default partition (0x7fff) is taken. */
static void test_pkey_crafted(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a;
	struct peer p;
	uint8_t payload[64];
	struct roce_pkt pkt = { 0 };
	struct tp_counters before, after;

	fill(payload, sizeof(payload), 7);
	if (!end_open(t, &a, &c, (const char **)c.opts_a) || !peer_open(t, &p) ||
	    !connect_to_peer(t, &a, &p, &c))
		goto out;
	LT_CHECK(t, post_recv1(&a, 1, 0, 4096) == 0, "%s", loom_err_msg());
	pkt.bth = (struct roce_bth){ .opcode = ROCE_OP_SEND_ONLY, .pkey = 0x1234,
				     .dqpn = p.dev_qpn, .psn = c.rq_psn, .ack_req = true };
	pkt.payload = payload;
	pkt.payload_bytes = sizeof(payload);
	before = counters(a.dev);
	peer_send(t, &p, &pkt);
	pkt.bth.pkey = 0x8000; /* invalid: matches nothing, not even 0xffff's low bits */
	peer_send(t, &p, &pkt);
	expect_none(t, a.rcq, 50);
	after = counters(a.dev);
	LT_CHECK(t, after.pkey_violations - before.pkey_violations == 2 &&
			    after.malformed == before.malformed &&
			    after.rx_packets - before.rx_packets == 2,
		 "pkey_violations +%llu, malformed +%llu, rx_packets +%llu (want 2, 0, 2)",
		 (unsigned long long)(after.pkey_violations - before.pkey_violations),
		 (unsigned long long)(after.malformed - before.malformed),
		 (unsigned long long)(after.rx_packets - before.rx_packets));
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_RTS, "QP %s after dropped packets",
		 tp_qp_state_str(qp_state(a.qp)));
	/* silently: no ACK or NAK came back for either */
	{
		uint8_t buf[ROCE_PKT_MAX_BYTES];
		struct roce_pkt r;

		LT_CHECK(t, !peer_recv(&p, &r, buf, sizeof(buf), c.mtu, 20), "a response to a dropped "
		         "packet: %s", roce_opcode_name(r.bth.opcode));
	}
	pkt.bth.pkey = 0x7fff; /* limited member, default partition: matches 0xffff */
	peer_send(t, &p, &pkt);
	{
		struct tp_wc wc;

		if (expect_wc(t, a.rcq, 1, TP_WC_SUCCESS, &wc))
			LT_CHECK(t, wc.byte_len == sizeof(payload), "byte_len %u", wc.byte_len);
		same_bytes(t, "SEND with P_Key 0x7fff", a.buf, payload, sizeof(payload));
	}
	close(p.fd);
out:
	end_close(t, &a);
}

/* Two devices with P_Keys of different partitions cannot talk: the WRITE
 * is dropped at the responder until the requester's retries run out; with
 * equal keys the same WRITE goes through.  Invalid keys are refused. */
static void test_pkey_devices(struct lt *t)
{
	static const char *const bad[] = { "pkey=0x8000", "pkey=0", "pkey=0x10000" };
	struct cfg c = cfg_default();
	struct end a, b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *opts[] = { "addr=127.0.0.1", "port=0", bad[i], NULL };
		struct tp_device *d = tp_device_open("udp", NULL, opts);

		LT_CHECK(t, d == NULL, "%s accepted", bad[i]);
		if (d)
			tp_device_close(d);
	}
	opt_add(c.opts_a, "pkey=0x8001");
	opt_add(c.opts_b, "pkey=0x8001");
	if (pair_open(t, &c, &a, &b)) {
		fill(a.buf, 4096, 11);
		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 4096, raddr(&b, 0), b.mr->rkey,
				  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
		expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
		same_bytes(t, "WRITE in partition 0x0001", b.buf, a.buf, 4096);
	}
	pair_close(t, &a, &b);

	c = cfg_default();
	c.timeout = 8; /* 1 ms */
	c.retry_cnt = 2;
	opt_add(c.opts_a, "pkey=0x8001");
	opt_add(c.opts_b, "pkey=0x8002");
	if (pair_open(t, &c, &a, &b)) {
		struct tp_counters cb;

		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 2, 0, 512, raddr(&b, 0), b.mr->rkey,
				  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
		expect_wc(t, a.scq, 2, TP_WC_RETRY_EXC_ERR, NULL);
		cb = counters(b.dev);
		/* the first send and 2 retries, each dropped at b */
		LT_CHECK(t, cb.pkey_violations >= 3 && cb.malformed == 0,
			 "b dropped %llu packets for the P_Key (want >= 3), %llu as malformed",
			 (unsigned long long)cb.pkey_violations, (unsigned long long)cb.malformed);
		for (int i = 0; i < 512; i++)
			if (b.buf[i]) {
				LT_CHECK(t, false, "byte %d of b written across partitions", i);
				break;
			}
	}
	pair_close(t, &a, &b);
}

/* ---- READ/atomic limits ------------------------------------------------------------ */

/* With max_rd_atomic 3, 8 READ/atomic WRs put exactly 3 requests on the
 * wire; answering the first lets exactly one more go. */
static void test_requester_max_rd_atomic(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a;
	struct peer p;
	uint8_t buf[ROCE_PKT_MAX_BYTES];
	struct roce_pkt r, first = { 0 };
	unsigned n = 0;

	c.max_rd_atomic = 3;
	c.timeout = 18; /* 1.07 s: no retransmission while the wire is counted */
	if (!end_open(t, &a, &c, (const char **)c.opts_a) || !peer_open(t, &p) ||
	    !connect_to_peer(t, &a, &p, &c))
		goto out;
	for (int i = 0; i < 8; i++) {
		int err = i % 3 == 0 ? post1(&a, TP_WR_RDMA_READ, (uint64_t)i, 8 * (size_t)i, 8,
					     0x10000 + 8 * (uint64_t)i, 0x77, TP_SEND_SIGNALED)
				     : post_fetch_add(&a, (uint64_t)i, 8 * (size_t)i,
						      0x10000 + 8 * (uint64_t)i, 0x77, 1);

		LT_CHECK(t, err == 0, "post %d: %s", i, loom_err_msg());
	}
	while (peer_recv(&p, &r, buf, sizeof(buf), c.mtu, 100)) {
		LT_CHECK(t, is_rd_atomic_req(r.bth.opcode) &&
				    r.bth.psn == roce_psn_add(c.sq_psn, n),
			 "request %u: %s psn %u", n, roce_opcode_name(r.bth.opcode), r.bth.psn);
		if (n++ == 0)
			first = r;
	}
	LT_CHECK(t, n == 3, "%u READ/atomic requests outstanding, max_rd_atomic 3", n);
	if (n == 0)
		goto out;
	/* answer the first (a READ of 8 bytes) */
	{
		uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		struct roce_pkt resp = { 0 };

		resp.bth = (struct roce_bth){ .opcode = ROCE_OP_READ_RESP_ONLY, .pkey = 0xffff,
					      .dqpn = p.dev_qpn, .psn = first.bth.psn };
		resp.aeth = (struct roce_aeth){ .syndrome = roce_aeth_syn_ack(
							ROCE_AETH_CREDIT_INVALID), .msn = 1 };
		resp.payload = data;
		resp.payload_bytes = sizeof(data);
		peer_send(t, &p, &resp);
		expect_wc(t, a.scq, 0, TP_WC_SUCCESS, NULL);
		same_bytes(t, "READ answered by hand", a.buf, data, sizeof(data));
	}
	n = 0;
	while (peer_recv(&p, &r, buf, sizeof(buf), c.mtu, 100)) {
		LT_CHECK(t, is_rd_atomic_req(r.bth.opcode) && r.bth.psn == roce_psn_add(c.sq_psn, 3),
			 "after one response: %s psn %u", roce_opcode_name(r.bth.opcode), r.bth.psn);
		n++;
	}
	LT_CHECK(t, n == 1, "%u more requests after one response, want 1", n);
	close(p.fd);
out:
	end_close(t, &a);
}

/* Two READs sent back to back to a responder with max_dest_rd_atomic res:
 * the first (1024 responses at MTU 256: several passes of the responder)
 * still holds its resource when the second arrives.  Returns the packets
 * seen: responses (*n_resp, last PSN *last) and whether a NAK invalid
 * request came at the second READ's PSN. */
static void two_reads(struct lt *t, uint8_t res, unsigned *n_resp, uint32_t *last, bool *nak,
		      enum tp_qp_state *st)
{
	struct cfg c = cfg_default();
	struct end b;
	struct peer p;
	uint8_t bufs[2][ROCE_PKT_MAX_BYTES], rx[ROCE_PKT_MAX_BYTES];
	struct iovec iov[2];
	struct mmsghdr m[2];
	struct roce_pkt r;

	*n_resp = 0, *nak = false, *st = TP_QPS_RESET;
	c.mtu = 256;
	c.max_dest_rd_atomic = res;
	if (!end_open(t, &b, &c, (const char **)c.opts_b) || !peer_open(t, &p) ||
	    !connect_to_peer(t, &b, &p, &c))
		goto out;
	for (int i = 0; i < 2; i++) {
		struct roce_pkt q = { 0 };
		int n;

		q.bth = (struct roce_bth){ .opcode = ROCE_OP_READ_REQ, .pkey = 0xffff,
					   .dqpn = p.dev_qpn, .ack_req = true,
					   .psn = roce_psn_add(c.rq_psn, i ? 1024 : 0) };
		q.reth = (struct roce_reth){ .va = raddr(&b, 0), .rkey = b.mr->rkey,
					     .dma_len = i ? 8 : 1024 * 256 };
		n = peer_build(t, &p, &q, bufs[i], sizeof(bufs[i]));
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = n > 0 ? (size_t)n : 0 };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &p.dev,
						      .msg_namelen = sizeof(p.dev),
						      .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	/* one call: the second is queued microseconds after the first */
	LT_CHECK(t, sendmmsg(p.fd, m, 2, 0) == 2, "sendmmsg: %s", strerror(errno));
	while (peer_recv(&p, &r, rx, sizeof(rx), c.mtu, 300)) {
		if (r.bth.opcode >= ROCE_OP_READ_RESP_FIRST && r.bth.opcode <= ROCE_OP_READ_RESP_ONLY) {
			LT_CHECK(t, r.bth.psn == roce_psn_add(c.rq_psn, *n_resp),
				 "response %u has psn %u", *n_resp, r.bth.psn);
			*last = r.bth.psn;
			++*n_resp;
		} else if (r.bth.opcode == ROCE_OP_ACK &&
			   r.aeth.syndrome == roce_aeth_syn_nak(ROCE_NAK_INVALID_REQ)) {
			LT_CHECK(t, r.bth.psn == roce_psn_add(c.rq_psn, 1024) && *n_resp == 1024,
				 "NAK at psn %u after %u responses", r.bth.psn, *n_resp);
			*nak = true;
		}
	}
	*st = qp_state(b.qp);
	close(p.fd);
out:
	end_close(t, &b);
}

static void test_responder_max_dest_rd_atomic(struct lt *t)
{
	uint32_t rq_psn = cfg_default().rq_psn, last = 0;
	unsigned n;
	bool nak;
	enum tp_qp_state st;

	two_reads(t, 1, &n, &last, &nak, &st);
	LT_CHECK(t, n == 1024 && nak && st == TP_QPS_ERR,
		 "max_dest_rd_atomic 1: %u responses (want 1024), NAK %d, QP %s (want ERR)", n,
		 nak, tp_qp_state_str(st));
	two_reads(t, 2, &n, &last, &nak, &st);
	LT_CHECK(t, n == 1025 && last == roce_psn_add(rq_psn, 1024) && !nak && st == TP_QPS_RTS,
		 "max_dest_rd_atomic 2: %u responses (want 1025), NAK %d, QP %s", n, nak,
		 tp_qp_state_str(st));
}

/* Requester and responder both real: a responder with max_dest_rd_atomic 1
 * and a requester with 16 make REM_INV_REQ_ERR at the requester. */
static void test_rd_atomic_mismatch_pair(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_wc wc;
	bool inv = false;

	c.max_dest_rd_atomic = 1;
	c.mtu = 256;
	/* the READ's 1024 PSNs must not close the requester's window: the
	 * atomics go right behind it */
	opt_add(c.opts_a, "window=2048");
	if (!pair_open(t, &c, &a, &b))
		goto out;
	/* a long READ, then atomics behind it while its responses stream */
	LT_CHECK(t, post1(&a, TP_WR_RDMA_READ, 0, 0, 256 * 1024, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	for (int i = 1; i <= 4; i++)
		LT_CHECK(t, post_fetch_add(&a, (uint64_t)i, 512 * 1024 + 8 * (size_t)i,
					   raddr(&b, 512 * 1024), b.mr->rkey, 1) == 0, "%s",
			 loom_err_msg());
	for (int i = 0; i <= 4 && wait_wc(t, a.scq, &wc, 20000); i++)
		inv |= wc.status == TP_WC_REM_INV_REQ_ERR;
	LT_CHECK(t, inv, "no REM_INV_REQ_ERR with max_rd_atomic 16 against max_dest_rd_atomic 1");
	LT_CHECK(t, qp_state(a.qp) == TP_QPS_ERR && qp_state(b.qp) == TP_QPS_ERR, "QPs %s / %s",
		 tp_qp_state_str(qp_state(a.qp)), tp_qp_state_str(qp_state(b.qp)));
out:
	pair_close(t, &a, &b);
}

/* ---- SQD ------------------------------------------------------------------------------ */

static bool sq_draining(struct tp_qp *qp)
{
	struct tp_qp_attr at;

	tp_qp_query(qp, &at);
	return at.sq_draining;
}

static void test_sqd_drained(struct lt *t)
{
	struct cfg c = cfg_default();
	struct tp_qp_attr sqd = { .state = TP_QPS_SQD }, rts = { .state = TP_QPS_RTS };
	struct end a, b;
	uint64_t end;

	c.min_rnr_timer = 1; /* RNR NAKs every 10 us-ish: infinite retries (rnr_retry 7) */
	if (!pair_open(t, &c, &a, &b))
		goto out;
	LT_CHECK(t, !sq_draining(a.qp), "RTS reports draining");
	fill(a.buf, 8192, 3);
	/* no receive at b: the SEND is held by RNR NAKs, started but unacked */
	LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 3000, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	usleep(10000);
	LT_CHECK(t, tp_qp_modify(a.qp, &sqd, TP_QP_STATE) == 0, "RTS->SQD: %s", loom_err_msg());
	LT_CHECK(t, sq_draining(a.qp), "SQD with an unacknowledged SEND: not draining");
	usleep(20000);
	LT_CHECK(t, sq_draining(a.qp), "still held by RNR: not draining");
	/* posted in SQD: queued, not started */
	LT_CHECK(t, post1(&a, TP_WR_SEND, 2, 4096, 100, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, post_recv1(&b, 10, 0, 4096) == 0 && post_recv1(&b, 11, 4096, 4096) == 0, "%s",
		 loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
	end = now_us() + 2000000;
	while (sq_draining(a.qp) && now_us() < end)
		usleep(1000);
	LT_CHECK(t, !sq_draining(a.qp) && qp_state(a.qp) == TP_QPS_SQD, "drained %d, QP %s",
		 !sq_draining(a.qp), tp_qp_state_str(qp_state(a.qp)));
	expect_wc(t, b.rcq, 10, TP_WC_SUCCESS, NULL);
	same_bytes(t, "SEND drained in SQD", b.buf, a.buf, 3000);
	expect_none(t, a.scq, 30); /* WR 2 waits for RTS */
	expect_none(t, b.rcq, 1);
	LT_CHECK(t, tp_qp_modify(a.qp, &rts, TP_QP_STATE) == 0, "SQD->RTS: %s", loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_SUCCESS, NULL);
	expect_wc(t, b.rcq, 11, TP_WC_SUCCESS, NULL);
	same_bytes(t, "SEND after RTS", b.buf + 4096, a.buf + 4096, 100);
out:
	pair_close(t, &a, &b);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_pkey_crafted),
		LT_CASE(test_pkey_devices),
		LT_CASE(test_requester_max_rd_atomic),
		LT_CASE(test_responder_max_dest_rd_atomic),
		LT_CASE(test_rd_atomic_mismatch_pair),
		LT_CASE(test_sqd_drained),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

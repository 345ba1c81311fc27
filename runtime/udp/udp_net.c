/*
 * udp_net.c - the udp provider's wire: sockets, receiving a batch of
 * datagrams and handing each to its QP's engine after the checks a RoCEv2
 * NIC makes on ingress, and sending packets (headers and ICRC built
 * around the payload without copying it: sendmsg of [headers, payload
 * pieces..., pad + ICRC]; the packets of a SEND/WRITE burst or a READ
 * response burst go out UDP_TX_BATCH at a time with one sendmmsg, which
 * saves a syscall per packet when the requester streams).
 *
 * Ingress checks, in order (IBA 9.6 packet checks; a failure is a silent
 * drop, counted):
 *   1. length >= BTH + ICRC, not truncated (malformed);
 *   2. ICRC over the IPv4/UDP header as the kernel wrote it (see roce.h on
 *      the socket case) and the packet (icrc_errors);
 *   3. destination QP exists and is past INIT, packet from the QP's peer
 *      IPv4 address (the source port varies per QP; rxe checks the same);
 *   4. the strict parser with the QP's path MTU (roce_pkt_parse): a length
 *      error in a request goes to the responder, which NAKs it as an
 *      invalid request (IBA 9.7.4.1.6); anything else is dropped.
 * The IP TOS of each datagram comes with it (IP_RECVTOS): a request
 * marked ECN CE makes the QP send a CNP, and a CNP slows the QP's
 * requester (udp_cc.c).
 *
 * GSO and GRO (option gso, default on).  A requester streaming a message
 * (or a responder streaming READ responses) builds packets of equal size
 * back to back; a run of them (at most UDP_GSO_BYTES, the last may be
 * shorter) goes to the kernel as one datagram with UDP_SEGMENT, which
 * splits it into one datagram per packet after a single pass through the
 * stack (or hands it whole to the receiving socket on loopback and veth).
 * The device socket has UDP_GRO on, so it receives such a batch whole,
 * with the segment size in a cmsg, and splits it here.  The ICRC covers
 * the IP identification, and the kernel numbers the segments of a GSO
 * send 0, 1, 2, ... (an unconnected DF socket's datagrams carry 0), so
 * packet i of a group is built with IP ID i and segment i of a received
 * batch is checked with IP ID i; a batch that GRO coalesced from separate
 * datagrams (all IP ID 0, as a NIC's GRO may do) fails that check and is
 * checked again with ID 0.  Costs: a capture on lo or veth shows a group
 * as one frame holding several RoCE packets, which tshark cannot split
 * (gso=0 for per-packet captures); across real NICs a receiver must run
 * GRO (or the segments' IDs are unknown to it).  Without kernel support
 * (EIO/EINVAL on the first GSO send) the device turns gso off and the
 * protocol resends what was lost.
 *
 * Egress: the ICRC is computed over the payload where it lies (registered
 * memory), then sendmsg copies it.  Memory the application changes while a
 * packet of it is being sent (undefined data in IBA) can thus go out with
 * an ICRC that no longer matches; the receiver drops it as corrupt and the
 * protocol retransmits, where a NIC would have sent the mixed bytes.
 *
 * Concurrency: the receive side is the progress thread's alone; udp_tx runs
 * under the sending QP's lock (requester in any thread, responder in the
 * progress thread).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loom/err.h"
#include "udp.h"

#define UDP_RX_BATCHES 8 /* recvmmsg calls per pass before timers get a turn */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h, Linux 4.18 */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h, Linux 5.0 */
#endif

struct udp_rx_ring {
	struct mmsghdr msg[UDP_RX_BATCH];
	struct iovec iov[UDP_RX_BATCH];
	struct sockaddr_in from[UDP_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 2 * CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[UDP_RX_BATCH];
	uint8_t data[UDP_RX_BATCH][UDP_RX_BUF];
};

/* ---- sockets --------------------------------------------------------------- */

static int sockopt(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val));
}

/* A buffer size: the FORCE variant (root) ignores rmem_max/wmem_max. */
static void sockbuf(int fd, bool rcv, uint64_t bytes)
{
	int v = bytes > (1u << 30) ? 1 << 30 : (int)bytes;

	if (!bytes)
		return;
	if (sockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, v) < 0)
		sockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, v);
}

int udp_socket_open(const struct sockaddr_in *at, bool rx, uint64_t rcvbuf, uint64_t sndbuf,
		    uint8_t tos, bool csum, struct sockaddr_in *bound)
{
	char ip[INET_ADDRSTRLEN];
	socklen_t blen = sizeof(*bound);
	int fd, err;

	inet_ntop(AF_INET, &at->sin_addr, ip, sizeof(ip));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return loom_err_set(errno, "udp: socket: %s", strerror(errno));
	/* DF and IP ID 0 on an unconnected socket (the ICRC depends on it),
	 * UDP checksum 0 as RoCEv2 recommends, unless csum: the kernel's GSO
	 * needs checksums (offloaded on lo and veth; the ICRC masks the
	 * field, so packets are the same for RoCE either way). */
	if (sockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO) < 0 ||
	    (!csum && sockopt(fd, SOL_SOCKET, SO_NO_CHECK, 1) < 0) ||
	    (tos && sockopt(fd, IPPROTO_IP, IP_TOS, tos) < 0) ||
	    (rx && sockopt(fd, IPPROTO_IP, IP_PKTINFO, 1) < 0) ||
	    (rx && sockopt(fd, IPPROTO_IP, IP_RECVTOS, 1) < 0)) {
		err = loom_err_set(errno, "udp: setsockopt: %s", strerror(errno));
		goto err_close;
	}
	/* GRO batches arrive whole (best effort: without it, GSO senders'
	 * segments arrive one by one and the ones after the first fail the
	 * ICRC check, so such a device must not be sent to with gso on). */
	if (rx)
		sockopt(fd, SOL_UDP, UDP_GRO, 1);
	sockbuf(fd, true, rcvbuf);
	sockbuf(fd, false, sndbuf);
	if (bind(fd, (const struct sockaddr *)at, sizeof(*at)) < 0) {
		err = loom_err_set(errno, "udp: bind %s:%u: %s", ip, ntohs(at->sin_port),
				   strerror(errno));
		goto err_close;
	}
	if (getsockname(fd, (struct sockaddr *)bound, &blen) < 0) {
		err = loom_err_set(errno, "udp: getsockname: %s", strerror(errno));
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return err;
}

int udp_rx_ring_alloc(struct udp_device *ud)
{
	struct udp_rx_ring *r = calloc(1, sizeof(*r));

	if (!r)
		return loom_err_set(ENOMEM, "udp: out of memory for receive buffers");
	for (int i = 0; i < UDP_RX_BATCH; i++) {
		r->iov[i] = (struct iovec){ .iov_base = r->data[i], .iov_len = UDP_RX_BUF };
		r->msg[i].msg_hdr = (struct msghdr){ .msg_name = &r->from[i],
						     .msg_iov = &r->iov[i], .msg_iovlen = 1 };
	}
	ud->rx = r;
	return 0;
}

void udp_rx_ring_free(struct udp_device *ud)
{
	free(ud->rx);
	ud->rx = NULL;
}

/* ---- receiving --------------------------------------------------------------- */

/* The IPv4/UDP context of datagram i as the kernel delivered it, its TOS
 * (ECN) included; the segment size when it is a GRO batch, else 0. */
static size_t rx_context(struct udp_device *ud, int i, struct roce_ipv4_udp *ip)
{
	struct msghdr *h = &ud->rx->msg[i].msg_hdr;
	uint32_t daddr = ud->local.sin_addr.s_addr;
	uint8_t tos = 0;
	int seg = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			daddr = pi.ipi_addr.s_addr;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
			tos = *(const uint8_t *)CMSG_DATA(c); /* one byte */
		} else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
		}
	}
	roce_ipv4_udp_socket(ip, ntohl(ud->rx->from[i].sin_addr.s_addr),
			     ntohs(ud->rx->from[i].sin_port), ntohl(daddr),
			     ntohs(ud->local.sin_port));
	ip->tos = tos;
	return seg > 0 ? (size_t)seg : 0;
}

void udp_rx_flush(struct udp_device *ud)
{
	uint64_t now = tp_now_us();

	for (unsigned i = 0; i < ud->n_dirty; i++) {
		struct udp_qp *q = ud->dirty[i];

		pthread_mutex_lock(&q->qp.lock);
		q->dirty = false;
		udp_qp_service(q, now);
		pthread_mutex_unlock(&q->qp.lock);
	}
	ud->n_dirty = 0;
}

static int rx_batch(struct udp_device *ud)
{
	struct udp_rx_ring *r = ud->rx;
	int n;

	for (int i = 0; i < UDP_RX_BATCH; i++) {
		r->msg[i].msg_hdr.msg_namelen = sizeof(r->from[i]);
		r->msg[i].msg_hdr.msg_control = r->ctl[i].buf;
		r->msg[i].msg_hdr.msg_controllen = sizeof(r->ctl[i].buf);
		r->msg[i].msg_hdr.msg_flags = 0;
	}
	n = recvmmsg(ud->fd, r->msg, UDP_RX_BATCH, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

static void rx_one(struct udp_device *ud, uint8_t *buf, size_t len, struct roce_ipv4_udp *ip,
		   uint64_t now)
{
	tp_count(&ud->dev, TP_CNT(rx_packets), 1);
	if (ud->fault.on)
		udp_fault_rx(ud, buf, len, ip, now);
	else
		udp_rx_deliver(ud, buf, len, ip, now);
}

bool udp_rx_drain(struct udp_device *ud, uint64_t now)
{
	bool any = false;

	for (int b = 0; b < UDP_RX_BATCHES; b++) {
		int n = rx_batch(ud);

		for (int i = 0; i < n; i++) {
			struct roce_ipv4_udp ip;
			size_t len = ud->rx->msg[i].msg_len;

			if (ud->rx->msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				tp_count(&ud->dev, TP_CNT(rx_packets), 1);
				tp_count(&ud->dev, TP_CNT(malformed), 1);
				continue;
			}
			size_t seg = rx_context(ud, i, &ip);

			if (!seg || seg >= len) {
				rx_one(ud, ud->rx->data[i], len, &ip, now);
				continue;
			}
			/* a GRO batch: segment k carries IP ID k (above) */
			for (size_t off = 0; off < len; off += seg, ip.ip_id++)
				rx_one(ud, ud->rx->data[i] + off, len - off < seg ? len - off : seg,
				       &ip, now);
		}
		udp_rx_flush(ud);
		any |= n > 0;
		if (n < UDP_RX_BATCH)
			break;
	}
	return any;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t icrc_id0(const struct roce_ipv4_udp *ip, const uint8_t *buf, size_t len)
{
	struct roce_ipv4_udp ip0 = *ip;

	ip0.ip_id = 0;
	return roce_icrc_udp(&ip0, buf, len);
}

/* Checks 1-2: length and ICRC. */
static bool rx_icrc_ok(struct udp_device *ud, const uint8_t *buf, size_t len,
		       const struct roce_ipv4_udp *ip)
{
	if (len < ROCE_BTH_BYTES + ROCE_ICRC_BYTES) {
		tp_count(&ud->dev, TP_CNT(malformed), 1);
		return false;
	}
	uint32_t want = get_le32(buf + len - ROCE_ICRC_BYTES);

	/* segment k > 0 of a GRO batch coalesced from separate datagrams
	 * carries IP ID 0, not k (see GSO and GRO above) */
	if (roce_icrc_udp(ip, buf, len) != want &&
	    (!ip->ip_id || icrc_id0(ip, buf, len) != want)) {
		tp_count(&ud->dev, TP_CNT(icrc_errors), 1);
		UDP_TRACE(ud, "rx: ICRC mismatch, %zu bytes from port %u dropped", len, ip->sport);
		return false;
	}
	return true;
}

/* Check 4 and dispatch (q locked, in RTR, RTS or SQD). */
static void rx_dispatch(struct udp_qp *q, const uint8_t *buf, size_t len, uint8_t tos,
			uint64_t now)
{
	struct roce_pkt pkt;
	int err = roce_pkt_parse(&pkt, buf, len, q->mtu, NULL);
	bool request = pkt.op && (pkt.op->flags & ROCE_OPF_REQUEST);

	if (err && !(request && roce_perr_is_length(pkt.err))) {
		tp_count(q->qp.dev, TP_CNT(malformed), 1);
		UDP_TRACE(q->ud, "qp %u rx: dropped: %s", q->qp.qp_num, loom_err_msg());
		return;
	}
	tp_count(q->qp.dev, TP_CNT(rx_bytes), pkt.payload_bytes);
	if (request) {
		if ((tos & UDP_ECN_MASK) == UDP_ECN_CE)
			udp_cc_ce(q, now);
		udp_resp_rx(q, &pkt, err ? pkt.err : ROCE_PERR_NONE, now);
	} else if (q->qp.state == TP_QPS_RTS || q->qp.state == TP_QPS_SQD) {
		/* a READ response is data too: CE on it asks its sender (the
		 * responder) to slow down; CE on an ACK is ignored (DCQCN) */
		if (pkt.op->kind == ROCE_KIND_READ_RESP && (tos & UDP_ECN_MASK) == UDP_ECN_CE)
			udp_cc_ce(q, now);
		if (pkt.op->flags & ROCE_OPF_RESPONSE)
			udp_comp_rx(q, &pkt, now);
		else if (pkt.op->kind == ROCE_KIND_CNP)
			udp_cc_cnp_rx(q, now);
	}
}

void udp_rx_deliver(struct udp_device *ud, uint8_t *buf, size_t len,
		    const struct roce_ipv4_udp *ip, uint64_t now)
{
	uint32_t dqpn;
	uint16_t pkey;
	struct udp_qp *q;
	enum tp_qp_state st;

	if (!rx_icrc_ok(ud, buf, len, ip))
		return;
	dqpn = (uint32_t)buf[ROCE_BTH_DQPN] << 16 | (uint32_t)buf[ROCE_BTH_DQPN + 1] << 8 |
	       buf[ROCE_BTH_DQPN + 2];
	q = udp_qp_lookup(ud, dqpn);
	if (!q) {
		tp_count(&ud->dev, TP_CNT(malformed), 1);
		UDP_TRACE(ud, "rx: no QP %u, dropped", dqpn);
		return;
	}
	pkey = (uint16_t)(buf[ROCE_BTH_PKEY] << 8 | buf[ROCE_BTH_PKEY + 1]);
	if (!udp_pkey_match(pkey, ud->pkey)) {
		/* IBA 10.9.3: silently dropped (a P_Key violation) */
		tp_count(&ud->dev, TP_CNT(pkey_violations), 1);
		UDP_TRACE(ud, "rx: P_Key 0x%04x for QP %u (its P_Key 0x%04x), dropped", pkey, dqpn,
			  ud->pkey);
		return;
	}
	pthread_mutex_lock(&q->qp.lock);
	st = q->qp.state;
	if ((st == TP_QPS_RTR || st == TP_QPS_RTS || st == TP_QPS_SQD) &&
	    htonl(ip->saddr) == q->dest.sin_addr.s_addr) {
		rx_dispatch(q, buf, len, ip->tos, now);
		udp_qp_mark_dirty(q);
	} else {
		tp_count(&ud->dev, TP_CNT(malformed), 1);
	}
	pthread_mutex_unlock(&q->qp.lock);
}

/* ---- sending ------------------------------------------------------------------- */

void udp_send_iov(struct udp_device *ud, int fd, const struct sockaddr_in *to,
		  const struct iovec *iov, int iovcnt, uint8_t tos)
{
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = sizeof(*to),
			    .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;

	if (tos != ud->cc.tos) { /* this datagram only (fault injection's CE mark) */
		struct cmsghdr *c;
		int v = tos;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_TOS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &v, sizeof(v));
	}

	if (sendmsg(fd, &m, MSG_DONTWAIT) < 0)
		UDP_TRACE(ud, "tx: sendmsg: %s (packet lost)", strerror(errno));
}

/* Build one packet of q into v (header, payload pieces, trailer; hdr and
 * trl hold the built bytes), its ICRC over IP identification ip_id; the
 * iovec count, 0 when it cannot be built.  Counts tx_packets and tx_bytes. */
static int tx_build(struct udp_qp *q, struct roce_pkt *pkt, const struct iovec *iov, int iovcnt,
		    uint16_t ip_id, uint8_t hdr[ROCE_HDR_MAX_BYTES],
		    uint8_t trl[ROCE_TRAILER_MAX_BYTES], struct iovec *v, size_t *lenp)
{
	struct roce_ipv4_udp ip = q->ip_tx;
	size_t nh, nt, len;
	int n = 0;

	ip.ip_id = ip_id;
	if (iovcnt > UDP_TX_IOV - 2 ||
	    roce_pkt_encode_iov(hdr, &nh, trl, &nt, pkt, iov, iovcnt, q->mtu, &ip) < 0) {
		UDP_TRACE(q->ud, "qp %u tx: cannot build %s: %s", q->qp.qp_num,
			  roce_opcode_name(pkt->bth.opcode), loom_err_msg());
		return 0;
	}
	v[n++] = (struct iovec){ .iov_base = hdr, .iov_len = nh };
	len = nh + nt;
	for (int i = 0; i < iovcnt; i++) {
		v[n++] = iov[i];
		len += iov[i].iov_len;
	}
	v[n++] = (struct iovec){ .iov_base = trl, .iov_len = nt };
	tp_count(q->qp.dev, TP_CNT(tx_packets), 1);
	tp_count(q->qp.dev, TP_CNT(tx_bytes), len - nh - nt);
	UDP_TRACE(q->ud, "qp %u tx %s psn %u%s len %zu%s%s", q->qp.qp_num,
		  roce_opcode_name(pkt->bth.opcode), pkt->bth.psn, pkt->bth.ack_req ? " ackreq" : "",
		  len, pkt->bth.opcode == ROCE_OP_ACK ? " " : "",
		  pkt->bth.opcode == ROCE_OP_ACK ? roce_aeth_syn_name(pkt->aeth.syndrome) : "");
	*lenp = len;
	return n;
}

void udp_tx(struct udp_qp *q, struct roce_pkt *pkt, const struct iovec *iov, int iovcnt)
{
	uint8_t hdr[ROCE_HDR_MAX_BYTES], trl[ROCE_TRAILER_MAX_BYTES];
	struct iovec v[UDP_TX_IOV];
	size_t len;
	int n = tx_build(q, pkt, iov, iovcnt, 0, hdr, trl, v, &len);

	if (!n)
		return;
	if (q->ud->fault.on)
		udp_fault_tx(q, v, n, len);
	else
		udp_send_iov(q->ud, q->fd, &q->dest, v, n, q->ud->cc.tos);
}

void udp_tx_batch_init(struct udp_tx_batch *b)
{
	b->n = b->nv = b->ng = b->g_pkts = 0;
	b->g_seg = b->g_bytes = 0;
	b->g_closed = false;
}

/* The UDP payload bytes packet pkt with these payload pieces will have. */
static size_t tx_len(const struct roce_pkt *pkt, const struct iovec *iov, int iovcnt)
{
	const struct roce_opcode_info *op = roce_opcode_info(pkt->bth.opcode);
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return (op ? op->hdr_bytes : ROCE_BTH_BYTES) + ((len + 3) & ~(size_t)3) + ROCE_ICRC_BYTES;
}

/* Whether a packet of len bytes with iovcnt pieces may join b's open group. */
static bool tx_joins(const struct udp_tx_batch *b, size_t len, int iovcnt)
{
	return b->g_pkts && !b->g_closed && len <= b->g_seg && b->g_pkts < UDP_GSO_SEGS &&
	       b->g_bytes + len <= UDP_GSO_BYTES &&
	       b->msg[b->ng - 1].msg_hdr.msg_iovlen + (size_t)iovcnt + 2 <= UDP_TX_IOV_ALL;
}

/* Give group g of b its UDP_SEGMENT cmsg when it holds several packets. */
static void tx_group_finish(struct udp_tx_batch *b, unsigned g, size_t seg)
{
	struct msghdr *h = &b->msg[g].msg_hdr;
	struct cmsghdr *c;
	uint16_t v = (uint16_t)seg;

	memset(&b->ctl[g], 0, sizeof(b->ctl[g]));
	h->msg_control = b->ctl[g].buf;
	h->msg_controllen = sizeof(b->ctl[g].buf);
	c = CMSG_FIRSTHDR(h);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(v));
	memcpy(CMSG_DATA(c), &v, sizeof(v));
}

void udp_tx_add(struct udp_qp *q, struct udp_tx_batch *b, struct roce_pkt *pkt,
		const struct iovec *iov, int iovcnt)
{
	bool gso = __atomic_load_n(&q->ud->gso, __ATOMIC_RELAXED);
	size_t len = tx_len(pkt, iov, iovcnt), built;
	bool join;
	unsigned i;
	int n;

	/* Faults act per packet on the way out (drop, hold, ...): no batch. */
	if (q->ud->fault.on) {
		udp_tx(q, pkt, iov, iovcnt);
		return;
	}
	if (b->n == UDP_TX_BATCH || b->nv + UDP_TX_IOV > UDP_TX_IOV_ALL)
		udp_tx_flush(q, b);
	join = gso && tx_joins(b, len, iovcnt);
	i = b->n;
	n = tx_build(q, pkt, iov, iovcnt, join ? (uint16_t)b->g_pkts : 0, b->hdr[i], b->trl[i],
		     b->v + b->nv, &built);
	if (!n)
		return;
	assert(built == len); /* tx_len predicts what tx_build builds */
	if (join) {
		b->msg[b->ng - 1].msg_hdr.msg_iovlen += (size_t)n;
		if (b->g_pkts == 1)
			tx_group_finish(b, b->ng - 1, b->g_seg);
	} else {
		b->msg[b->ng].msg_hdr = (struct msghdr){ .msg_name = &q->dest,
							 .msg_namelen = sizeof(q->dest),
							 .msg_iov = b->v + b->nv,
							 .msg_iovlen = (size_t)n };
		b->ng++;
		b->g_pkts = 0;
		b->g_seg = built;
		b->g_bytes = 0;
		b->g_closed = !gso;
	}
	b->g_pkts++;
	b->g_bytes += built;
	b->g_closed |= built < b->g_seg;
	b->nv += (unsigned)n;
	b->n++;
}

void udp_tx_flush(struct udp_qp *q, struct udp_tx_batch *b)
{
	unsigned i = 0;

	/* A datagram sendmmsg cannot send is lost, as with sendmsg; the
	 * ones after it are still tried.  A GSO send the kernel refuses
	 * (no UDP_SEGMENT, or no checksum offload on the route: EIO) turns
	 * GSO off for the device; the protocol resends what was lost. */
	while (i < b->ng) {
		int r = sendmmsg(q->fd, b->msg + i, b->ng - i, MSG_DONTWAIT);

		if (r > 0) {
			i += (unsigned)r;
			continue;
		}
		if ((errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) &&
		    b->msg[i].msg_hdr.msg_control &&
		    __atomic_exchange_n(&q->ud->gso, false, __ATOMIC_RELAXED))
			UDP_TRACE(q->ud, "tx: the kernel refuses UDP GSO (%s): gso off",
				  strerror(errno));
		UDP_TRACE(q->ud, "tx: sendmmsg: %s (packet lost)", strerror(errno));
		i++;
	}
	udp_tx_batch_init(b);
}

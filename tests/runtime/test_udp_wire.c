/*
 * test_udp_wire.c - the udp provider on real wires: two network namespaces
 * joined by a veth pair (two hosts on one machine, iproute2's `ip netns`),
 * and a capture of a test run taken by tshark, in which every frame must
 * pass Loom's own frame parser with its ICRC checked over the real IPv4 and
 * UDP headers, carry the opcodes, PSNs and QP numbers the run sent, and be
 * dissected by tshark as InfiniBand with the same fields.
 *
 * Both cases need root (namespaces, capture) and skip with the reason when
 * they cannot run.  Namespaces are named after this process and always
 * deleted, which also removes the veth pair; the only addresses used live
 * inside them.  The test thread enters a namespace (setns) to open a device
 * there: sockets stay in the namespace they were created in, so both ends
 * run in this one process.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loom/roce.h"
#include "test_udp_pair.h"

/* ---- namespaces ---------------------------------------------------------------- */

/* Run a shell command quietly; whether it exited 0. */
static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rc = system(cmd);
	return rc == 0;
}

/* Why namespaces cannot be used here, or NULL. */
static const char *netns_unavailable(void)
{
	if (geteuid() != 0)
		return "not root: network namespaces need CAP_SYS_ADMIN";
	if (!sh("command -v ip"))
		return "no `ip` command (iproute2)";
	return NULL;
}

/* Enter the named namespace (name NULL: the one saved in *orig). */
static bool netns_enter(struct lt *t, const char *name, int orig)
{
	char path[128];
	int fd = orig, ok;

	if (name) {
		snprintf(path, sizeof(path), "/var/run/netns/%s", name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	ok = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
	LT_CHECK(t, ok, "setns %s: %s", name ? name : "(back)", strerror(errno));
	if (name && fd >= 0)
		close(fd);
	return ok;
}

/* Open an end inside namespace ns (and come back). */
static bool end_open_in(struct lt *t, struct end *e, const struct cfg *c, const char **opts,
			const char *ns)
{
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	bool ok = orig >= 0 && netns_enter(t, ns, -1);

	ok = ok && end_open(t, e, c, opts);
	if (orig >= 0) {
		netns_enter(t, NULL, orig);
		close(orig);
	}
	return ok;
}

/* ---- two hosts: namespaces and a veth pair ------------------------------------------ */

struct hosts {
	char ns[2][32], veth[2][16], ip[2][48];
};

static void hosts_down(struct hosts *h)
{
	for (int i = 0; i < 2; i++)
		sh("ip netns del %s", h->ns[i]); /* takes its veth end along */
}

static bool hosts_up(struct lt *t, struct hosts *h)
{
	unsigned id = (unsigned)getpid() % 50000;
	bool ok;

	for (int i = 0; i < 2; i++) {
		snprintf(h->ns[i], sizeof(h->ns[i]), "loom-udp-%u-%c", id, 'a' + i);
		snprintf(h->veth[i], sizeof(h->veth[i]), "lu%u%c", id, 'a' + i);
		snprintf(h->ip[i], sizeof(h->ip[i]), "10.%u.%u.%d", 100 + id / 256 % 100, id % 256,
			 i + 1);
	}
	ok = sh("ip netns add %s", h->ns[0]) && sh("ip netns add %s", h->ns[1]) &&
	     sh("ip link add %s type veth peer name %s", h->veth[0], h->veth[1]);
	for (int i = 0; ok && i < 2; i++)
		/* MTU 9000: a 4096-byte path MTU needs jumbo frames, as RoCE does */
		ok = sh("ip link set %s netns %s", h->veth[i], h->ns[i]) &&
		     sh("ip -n %s link set %s mtu 9000 up", h->ns[i], h->veth[i]) &&
		     sh("ip -n %s addr add %s/24 dev %s", h->ns[i], h->ip[i], h->veth[i]) &&
		     sh("ip -n %s link set lo up", h->ns[i]);
	if (!ok) {
		sh("ip link del %s", h->veth[0]);
		hosts_down(h);
		lt_skip(t, "cannot set up namespaces and a veth pair here (ip netns/ip link failed)");
	}
	return ok;
}

/* Every opcode across the veth pair at MTU 4096 and 1024, data checked. */
static void test_netns_veth(struct lt *t)
{
	static const uint32_t mtus[] = { 4096, 1024 };
	const char *why = netns_unavailable();
	struct hosts h;

	if (why) {
		lt_skip(t, "%s", why);
		return;
	}
	if (!hosts_up(t, &h))
		return;
	for (int m = 0; m < 2; m++) {
		struct cfg c = cfg_default();
		char oa[64], ob[64];
		struct end a, b;
		uint64_t *res;

		snprintf(oa, sizeof(oa), "addr=%s", h.ip[0]);
		snprintf(ob, sizeof(ob), "addr=%s", h.ip[1]);
		c.opts_a[0] = oa, c.opts_a[1] = NULL; /* port 4791: each host has its own */
		c.opts_b[0] = ob, c.opts_b[1] = NULL;
		c.mtu = mtus[m];
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		if (!end_open_in(t, &a, &c, (const char **)c.opts_a, h.ns[0]) ||
		    !end_open_in(t, &b, &c, (const char **)c.opts_b, h.ns[1]) ||
		    !end_connect(t, &a, &b, &c) || !end_connect(t, &b, &a, &c))
			goto next;
		fill(a.buf, 300000, 1 + (uint64_t)m);
		fill(b.buf + 500000, 200000, 9);
		LT_CHECK(t, post_recv1(&b, 1, 900000, 65536) == 0, "%s", loom_err_msg());
		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 300000, raddr(&b, 0), b.mr->rkey,
				  TP_SEND_SIGNALED) == 0 &&
				    post1(&a, TP_WR_SEND_WITH_IMM, 2, 1000, 50000, 0, 0,
					  TP_SEND_SIGNALED) == 0 &&
				    post1(&a, TP_WR_RDMA_READ, 3, 600000, 200000, raddr(&b, 500000),
					  b.mr->rkey, TP_SEND_SIGNALED) == 0 &&
				    post_fetch_add(&a, 4, 999992, raddr(&b, 999992), b.mr->rkey, 4) == 0,
			 "post: %s", loom_err_msg());
		for (uint64_t i = 1; i <= 4; i++)
			expect_wc(t, a.scq, i, TP_WC_SUCCESS, NULL);
		expect_wc(t, b.rcq, 1, TP_WC_SUCCESS, NULL);
		same_bytes(t, "veth write", b.buf, a.buf, 300000);
		same_bytes(t, "veth send", b.buf + 900000, a.buf + 1000, 50000);
		same_bytes(t, "veth read", a.buf + 600000, b.buf + 500000, 200000);
		res = (uint64_t *)(void *)(a.buf + 999992);
		LT_CHECK(t, *res == 0 && *(uint64_t *)(void *)(b.buf + 999992) == 4,
			 "fetch_add: returned %llu", (unsigned long long)*res);
		LT_CHECK(t, counters(a.dev).retransmits == 0, "retransmits on a clean veth");
next:
		pair_close(t, &a, &b);
	}
	hosts_down(&h);
}

/* ---- a capture, checked by Loom's parser and by tshark -------------------------------------- */

#define CAP_MTU 1024

/* What the capture run sends, in order, from a's QP (first PSN 0xfffffe:
 * the run crosses the 24-bit wrap). */
struct sent {
	uint8_t opcode;
	uint32_t psn;
};

static const struct sent cap_requests[] = {
	{ ROCE_OP_SEND_FIRST, 0xfffffe },  { ROCE_OP_SEND_MIDDLE, 0xffffff },
	{ ROCE_OP_SEND_LAST, 0 },	   { ROCE_OP_WRITE_FIRST, 1 },
	{ ROCE_OP_WRITE_LAST_IMM, 2 },	   { ROCE_OP_READ_REQ, 3 }, /* 3 responses: 3..5 */
	{ ROCE_OP_FETCH_ADD, 6 },	   { ROCE_OP_CMP_SWAP, 7 },
	{ ROCE_OP_WRITE_ONLY, 8 },
};

static const struct sent cap_responses[] = {
	/* one coalesced ACK per message (AckReq on each last packet) */
	{ ROCE_OP_ACK, 0 },		     { ROCE_OP_ACK, 2 },
	{ ROCE_OP_READ_RESP_FIRST, 3 },	     { ROCE_OP_READ_RESP_MIDDLE, 4 },
	{ ROCE_OP_READ_RESP_LAST, 5 },	     { ROCE_OP_ATOMIC_ACK, 6 },
	{ ROCE_OP_ATOMIC_ACK, 7 },	     { ROCE_OP_ACK, 8 },
};

#define N_REQ (sizeof(cap_requests) / sizeof(cap_requests[0]))
#define N_RESP (sizeof(cap_responses) / sizeof(cap_responses[0]))

/* The traffic: one WR at a time, each waited for, so the order on the
 * wire is fixed. */
static void cap_traffic(struct lt *t, struct end *a, struct end *b)
{
	LT_CHECK(t, post_recv1(b, 1, 0, 4096) == 0 && post_recv1(b, 2, 0, 4096) == 0, "%s",
		 loom_err_msg());
	fill(a->buf, 8192, 3);
	LT_CHECK(t, post1(a, TP_WR_SEND, 1, 0, 2500, 0, 0, TP_SEND_SIGNALED) == 0, "%s",
		 loom_err_msg());
	expect_wc(t, a->scq, 1, TP_WC_SUCCESS, NULL);
	LT_CHECK(t, post1(a, TP_WR_RDMA_WRITE_WITH_IMM, 2, 0, 1500, raddr(b, 8192), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a->scq, 2, TP_WC_SUCCESS, NULL);
	LT_CHECK(t, post1(a, TP_WR_RDMA_READ, 3, 16384, 2100, raddr(b, 0), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a->scq, 3, TP_WC_SUCCESS, NULL);
	LT_CHECK(t, post_fetch_add(a, 4, 32768, raddr(b, 40960), b->mr->rkey, 5) == 0, "%s",
		 loom_err_msg());
	expect_wc(t, a->scq, 4, TP_WC_SUCCESS, NULL);
	LT_CHECK(t, post1(a, TP_WR_ATOMIC_CMP_SWP, 5, 32768, 8, raddr(b, 40960), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a->scq, 5, TP_WC_SUCCESS, NULL);
	LT_CHECK(t, post1(a, TP_WR_RDMA_WRITE, 6, 0, 100, raddr(b, 50000), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a->scq, 6, TP_WC_SUCCESS, NULL);
	expect_wc(t, b->rcq, 1, TP_WC_SUCCESS, NULL);
	expect_wc(t, b->rcq, 2, TP_WC_SUCCESS, NULL);
}

/* Start tshark in ns writing pcap to path; its pid once it captures. */
static pid_t tshark_start(struct lt *t, const char *ns, const char *path, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("ip", "ip", "netns", "exec", ns, "tshark", "-i", "lo", "-F", "pcap", "-w",
		       path, "-f", "udp port 4791", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 200; i++) { /* its "Capture started." */
		char buf[4096] = "";
		int fd = open(log, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

		if (fd >= 0)
			close(fd);
		if (n > 0 && strstr(buf, "Capture started")) {
			usleep(300000); /* the filter is attached a little later */
			return pid;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		usleep(50000);
	}
	LT_CHECK(t, false, "tshark did not start capturing (log %s)", log);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static void tshark_stop(pid_t pid)
{
	usleep(300000); /* let the last frames reach the file */
	kill(pid, SIGINT);
	waitpid(pid, NULL, 0);
}

struct frame_fields {
	uint32_t opcode, psn, dqpn;
	uint32_t daddr; /* IPv4, host order: which device it went to */
};

/* Parse every frame of the capture with Loom's parser (ICRC over the real
 * headers); fill f (up to max); the frame count or -1. */
static int loom_frames(struct lt *t, const char *path, struct frame_fields *f, int max)
{
	struct roce_pcap *p = roce_pcap_open(path);
	struct roce_pcap_rec rec;
	int n = 0, r;

	LT_CHECK(t, p != NULL, "pcap: %s", loom_err_msg());
	if (!p)
		return -1;
	while ((r = roce_pcap_next(p, &rec)) == 1) {
		struct roce_frame fr;
		int err = roce_frame_parse(&fr, rec.data, rec.caplen, roce_pcap_link(p), CAP_MTU,
					   ROCE_UDP_PORT);

		LT_CHECK(t, err == 0 && fr.icrc_calc == fr.pkt.icrc, "frame %d: %s", n,
			 err ? loom_err_msg() : "ICRC mismatch");
		if (n < max)
			f[n] = (struct frame_fields){ fr.pkt.bth.opcode, fr.pkt.bth.psn,
						      fr.pkt.bth.dqpn, fr.ip.daddr };
		n++;
	}
	LT_CHECK(t, r == 0, "pcap read: %s", loom_err_msg());
	roce_pcap_close(p);
	return n;
}

/* The frames Loom saw, against what the run sent: requests to b's QP (at
 * 127.0.0.2) and responses to a's QP (at 127.0.0.1), each in order. */
static void check_expected(struct lt *t, const struct frame_fields *f, int n, uint32_t qpn_a,
			   uint32_t qpn_b)
{
	size_t nreq = 0, nresp = 0;

	for (int i = 0; i < n; i++) {
		bool to_b = f[i].daddr == 0x7f000002;
		const struct sent *want = to_b ? (nreq < N_REQ ? &cap_requests[nreq] : NULL)
					       : (nresp < N_RESP ? &cap_responses[nresp] : NULL);

		LT_CHECK(t, f[i].dqpn == (to_b ? qpn_b : qpn_a) &&
				    (to_b || f[i].daddr == 0x7f000001),
			 "frame %d to QP %u at 0x%08x", i, f[i].dqpn, f[i].daddr);
		LT_CHECK(t, want && want->opcode == f[i].opcode && want->psn == f[i].psn,
			 "frame %d: %s psn %u to QP %u, want %s psn %u", i,
			 roce_opcode_name(f[i].opcode), f[i].psn, f[i].dqpn,
			 want ? roce_opcode_name(want->opcode) : "nothing", want ? want->psn : 0);
		*(to_b ? &nreq : &nresp) += 1;
	}
	LT_CHECK(t, nreq == N_REQ && nresp == N_RESP, "%zu requests, %zu responses captured", nreq,
		 nresp);
}

/* tshark's own dissection of every frame: InfiniBand, same fields. */
static void check_tshark(struct lt *t, const char *path, const struct frame_fields *f, int n)
{
	char cmd[512], line[256];
	FILE *p;
	int i = 0;

	snprintf(cmd, sizeof(cmd), "tshark -r %s -T fields -E separator=, -e frame.protocols "
		 "-e infiniband.bth.opcode -e infiniband.bth.psn -e infiniband.bth.destqp 2>/dev/null",
		 path);
	p = popen(cmd, "r");
	LT_CHECK(t, p != NULL, "popen tshark");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		char *proto = strtok(line, ","), *op = strtok(NULL, ","), *psn = strtok(NULL, ","),
		     *qp = strtok(NULL, ",\n");

		LT_CHECK(t, proto && strstr(proto, "infiniband") && op && psn && qp,
			 "frame %d not dissected as InfiniBand: %s", i, proto ? proto : "");
		if (op && psn && qp && i < n)
			LT_CHECK(t, strtoul(op, NULL, 0) == f[i].opcode &&
					    strtoul(psn, NULL, 0) == f[i].psn &&
					    strtoul(qp, NULL, 0) == f[i].dqpn,
				 "frame %d: tshark says opcode %s psn %s qp %s, Loom %u %u %u", i, op,
				 psn, qp, f[i].opcode, f[i].psn, f[i].dqpn);
		i++;
	}
	pclose(p);
	LT_CHECK(t, i == n, "tshark read %d frames, Loom %d", i, n);
}

/* The gso=1 capture: a frame may hold a GSO group (several RoCE packets of
 * one size, the last maybe shorter) as the kernel took it before splitting.
 * Split each frame the way the receiver does (the first packet's size:
 * a FIRST or MIDDLE packet carries exactly the path MTU) and check packet
 * k's ICRC with IP identification k, independently of the provider's
 * code; fill f with every packet; the packet count (or -1), *frames the
 * frame count. */
static int loom_gso_frames(struct lt *t, const char *path, struct frame_fields *f, int max,
			   int *frames)
{
	struct roce_pcap *p = roce_pcap_open(path);
	struct roce_pcap_rec rec;
	int n = 0, r;

	LT_CHECK(t, p != NULL, "pcap: %s", loom_err_msg());
	if (!p)
		return -1;
	for (*frames = 0; (r = roce_pcap_next(p, &rec)) == 1; ++*frames) {
		const uint8_t *ip = rec.data + 14; /* Ethernet on lo */
		size_t ihl = (size_t)(ip[0] & 15) * 4, len, seg;
		const uint8_t *udp = ip + ihl, *pl = udp + 8;
		const struct roce_opcode_info *op;
		struct roce_ipv4_udp ctx;

		if (rec.caplen < 14 + 20 + 8 + ROCE_BTH_BYTES || ip[9] != 17) {
			LT_CHECK(t, false, "frame %d: not IPv4/UDP", *frames);
			break;
		}
		len = (size_t)(ip[2] << 8 | ip[3]) - ihl - 8;
		if (14 + ihl + 8 + len > rec.caplen) {
			LT_CHECK(t, false, "frame %d truncated", *frames);
			break;
		}
		roce_ipv4_udp_socket(&ctx, (uint32_t)ip[12] << 24 | ip[13] << 16 | ip[14] << 8 | ip[15],
				     (uint16_t)(udp[0] << 8 | udp[1]),
				     (uint32_t)ip[16] << 24 | ip[17] << 16 | ip[18] << 8 | ip[19],
				     (uint16_t)(udp[2] << 8 | udp[3]));
		op = roce_opcode_info(pl[0]);
		seg = op ? (size_t)op->hdr_bytes + CAP_MTU + ROCE_ICRC_BYTES : len;
		for (size_t off = 0; off < len; off += seg, ctx.ip_id++) {
			size_t l = len - off < seg ? len - off : seg;
			struct roce_pkt pkt;
			int err = roce_pkt_parse(&pkt, pl + off, l, CAP_MTU, NULL);
			uint32_t want = (uint32_t)pl[off + l - 4] | (uint32_t)pl[off + l - 3] << 8 |
					(uint32_t)pl[off + l - 2] << 16 |
					(uint32_t)pl[off + l - 1] << 24;

			LT_CHECK(t, err == 0 && roce_icrc_udp(&ctx, pl + off, l) == want,
				 "frame %d packet at %zu (IP ID %u): %s", *frames, off, ctx.ip_id,
				 err ? loom_err_msg() : "ICRC mismatch");
			if (!err && n < max)
				f[n] = (struct frame_fields){ pkt.bth.opcode, pkt.bth.psn, pkt.bth.dqpn,
							      ctx.daddr };
			n++;
		}
	}
	LT_CHECK(t, r == 0 || r == 1, "pcap read: %s", loom_err_msg());
	roce_pcap_close(p);
	return n;
}

/* One capture run on lo of a private namespace: with gso=0 one frame per
 * packet, checked by Loom's parser and by tshark; with gso=1 (the
 * default) fewer frames than packets, split and checked as above. */
static void capture(struct lt *t, bool gso)
{
	const char *why = netns_unavailable();
	char ns[32], path[96], log[96];
	struct frame_fields f[64];
	struct cfg c = cfg_default();
	struct end a, b;
	pid_t ts;
	int n;

	if (!why && !sh("command -v tshark"))
		why = "no tshark (apt-get install tshark)";
	if (why) {
		lt_skip(t, "%s", why);
		return;
	}
	snprintf(ns, sizeof(ns), "loom-cap-%d", (int)getpid());
	snprintf(path, sizeof(path), "/tmp/loom-udp-cap-%d.pcap", (int)getpid());
	snprintf(log, sizeof(log), "/tmp/loom-udp-cap-%d.log", (int)getpid());
	if (!sh("ip netns add %s", ns) || !sh("ip -n %s link set lo up", ns)) {
		sh("ip netns del %s", ns);
		lt_skip(t, "cannot create a network namespace here");
		return;
	}
	/* In the private namespace: only this run's packets on its lo, port 4791. */
	c.opts_a[0] = "addr=127.0.0.1", c.opts_a[1] = gso ? "gso=1" : "gso=0", c.opts_a[2] = NULL;
	c.opts_b[0] = "addr=127.0.0.2", c.opts_b[1] = gso ? "gso=1" : "gso=0", c.opts_b[2] = NULL;
	c.mtu = CAP_MTU;
	c.sq_psn = c.rq_psn = 0xfffffe;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ts = tshark_start(t, ns, path, log);
	if (ts < 0)
		goto out;
	if (end_open_in(t, &a, &c, (const char **)c.opts_a, ns) &&
	    end_open_in(t, &b, &c, (const char **)c.opts_b, ns) && end_connect(t, &a, &b, &c) &&
	    end_connect(t, &b, &a, &c))
		cap_traffic(t, &a, &b);
	tshark_stop(ts);
	if (gso) {
		int frames = 0;

		n = loom_gso_frames(t, path, f, 64, &frames);
		LT_CHECK(t, n == (int)(N_REQ + N_RESP) && frames < n,
			 "captured %d packets in %d frames, the run sent %zu (in fewer frames)", n,
			 frames, N_REQ + N_RESP);
		if (n > 0 && a.qp && b.qp)
			check_expected(t, f, n, tp_qp_num(a.qp), tp_qp_num(b.qp));
		printf("     gso: %d packets in %d frames, each packet's ICRC checked with IP ID = "
		       "its index in its frame\n", n, frames);
		goto out;
	}
	n = loom_frames(t, path, f, 64);
	LT_CHECK(t, n == (int)(N_REQ + N_RESP), "captured %d frames, the run sent %zu", n,
		 N_REQ + N_RESP);
	if (n > 0 && a.qp && b.qp) {
		check_expected(t, f, n, tp_qp_num(a.qp), tp_qp_num(b.qp));
		check_tshark(t, path, f, n);
	}
	printf("     captured %d frames, every ICRC checked by roce_frame_parse, dissected by "
	       "tshark\n", n);
out:
	pair_close(t, &a, &b);
	sh("ip netns del %s", ns);
	unlink(path);
	unlink(log);
}

static void test_tshark_capture(struct lt *t)
{
	capture(t, false);
}

static void test_gso_capture(struct lt *t)
{
	capture(t, true);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_netns_veth),
		LT_CASE(test_tshark_capture),
		LT_CASE(test_gso_capture),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

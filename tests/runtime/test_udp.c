/*
 * test_udp.c - the udp provider (userspace RoCEv2 RNIC) over loopback:
 * device options and addresses, then every opcode with its data checked
 * byte for byte against the pattern written (an independent copy), at
 * every path MTU, across the 24-bit PSN wrap, with scatter/gather lists,
 * inline data, immediate data, unsignaled WRs and zero-length messages.
 *
 * Errors are in test_udp_errors.c, faults in test_udp_fault.c, the wire
 * (capture, tshark, network namespaces) in test_udp_wire.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_udp_pair.h"

/* ---- devices ------------------------------------------------------------------ */

static void test_device_open_and_addr(struct lt *t)
{
	const char *opts[] = { "addr=127.0.0.2", "port=0", NULL };
	struct tp_device_info info[4];
	struct tp_device *d;
	struct tp_addr a;
	char buf[64];
	int n = tp_get_devices("udp", info, 4);

	LT_CHECK(t, n == 1 && strcmp(info[0].name, "udp0") == 0 &&
			    strcmp(info[0].provider, "udp") == 0,
		 "get_devices: %d %s", n, n > 0 ? info[0].name : "");
	d = tp_device_open("udp", NULL, opts);
	LT_CHECK(t, d, "open: %s", loom_err_msg());
	if (!d)
		return;
	LT_CHECK(t, tp_device_addr(d, &a) == 0 && a.len == 6, "addr len %u", a.len);
	LT_CHECK(t, a.bytes[0] == 127 && a.bytes[1] == 0 && a.bytes[2] == 0 && a.bytes[3] == 2,
		 "addr %u.%u.%u.%u", a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]);
	LT_CHECK(t, tp_addr_format(d, &a, buf, sizeof(buf)) == 0 &&
			    strncmp(buf, "udp:127.0.0.2:", 14) == 0 && atoi(buf + 14) > 0,
		 "format: %s", buf);
	LT_CHECK(t, tp_addr_format(d, &a, buf, 8) == -ENOSPC, "small buffer");
	LT_CHECK(t, tp_device_close(d) == 0, "%s", loom_err_msg());
}

static void test_device_bad_options(struct lt *t)
{
	const char *bad[][3] = {
		{ "addr=not-an-ip", NULL },   { "addr=0.0.0.0", NULL },
		{ "port=70000", NULL },	      { "fault.drop=1.5", NULL },
		{ "window=0", NULL },	      { "no_such_key=1", NULL },
		{ "fault.tx.dup=-0.1", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tp_device *d = tp_device_open("udp", NULL, bad[i]);

		LT_CHECK(t, !d, "%s accepted", bad[i][0]);
		LT_CHECK(t, strstr(loom_err_msg(), "udp") != NULL, "%s: reason '%s'", bad[i][0],
			 loom_err_msg());
		if (d)
			tp_device_close(d);
	}
	LT_CHECK(t, !tp_device_open("udp", "eth0", NULL), "device name eth0 accepted");
}

/* Binding a port in use fails with the address in the reason. */
static void test_device_port_in_use(struct lt *t)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char opt[32];
	const char *opts[] = { "addr=127.0.0.1", opt, NULL };
	struct tp_device *d;

	LT_CHECK(t, fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0,
		 "socket");
	snprintf(opt, sizeof(opt), "port=%u", ntohs(sa.sin_port));
	d = tp_device_open("udp", NULL, opts);
	LT_CHECK(t, !d && strstr(loom_err_msg(), "bind 127.0.0.1:") &&
			    strstr(loom_err_msg(), "in use"),
		 "second bind: %s", d ? "accepted" : loom_err_msg());
	if (d)
		tp_device_close(d);
	close(fd);
}

/* ---- every opcode --------------------------------------------------------------------- */

/* WRITE sizes around MTU multiples, at every MTU; data checked. */
static void test_write_every_mtu(struct lt *t)
{
	static const uint32_t mtus[] = { 256, 512, 1024, 2048, 4096 };
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t m = 0; m < 5; m++) {
		struct cfg c = cfg_default();
		struct end a, b;
		uint32_t sizes[] = { 1, mtus[m] - 1, mtus[m], mtus[m] + 1, 3 * mtus[m],
				     7 * mtus[m] + 5, 100000 };

		c.mtu = mtus[m];
		if (!pair_open(t, &c, &a, &b))
			goto out;
		for (size_t i = 0; i < 7; i++) {
			size_t soff = loom_rng_u32(&r) % 4096, doff = loom_rng_u32(&r) % 4096;

			fill(a.buf + soff, sizes[i], lt_seed(t) + i + m * 100);
			memset(b.buf, 0, b.len);
			LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, i, soff, sizes[i], raddr(&b, doff),
					  b.mr->rkey, TP_SEND_SIGNALED) == 0,
				 "post: %s", loom_err_msg());
			if (!expect_wc(t, a.scq, i, TP_WC_SUCCESS, NULL))
				break;
			same_bytes(t, "write", b.buf + doff, a.buf + soff, sizes[i]);
			LT_CHECK(t, b.buf[doff + sizes[i]] == 0 && (doff == 0 || b.buf[doff - 1] == 0),
				 "mtu %u size %u: bytes outside the target written", mtus[m],
				 sizes[i]);
		}
out:
		pair_close(t, &a, &b);
	}
}

/* SEND and SEND_WITH_IMM with gather and scatter lists whose boundaries
 * differ, several packets long; every receive completion checked. */
static void test_send_recv_sg(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	static const uint32_t lens[] = { 0, 1, 700, 1024, 1025, 5000, 65536 + 3 };

	c.mtu = 1024;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t len = lens[i], g1 = len / 3, g2 = len / 2 - len / 3;
		struct tp_sge gs[3] = { sge_of(&a, 100, g1), sge_of(&a, 300000, g2),
					sge_of(&a, 600000, len - g1 - g2) };
		uint32_t s1 = len / 5 + 7, s2 = 13;
		struct tp_sge ss[3] = { sge_of(&b, 10, s1), sge_of(&b, 200000, s2),
					sge_of(&b, 400000, len + 64) };
		struct tp_send_wr wr = { .wr_id = 50 + i, .sg_list = gs, .num_sge = 3,
					 .opcode = i % 2 ? TP_WR_SEND_WITH_IMM : TP_WR_SEND,
					 .imm_data = 0xabc00000u + (uint32_t)i,
					 .flags = TP_SEND_SIGNALED };
		struct tp_recv_wr rw = { .wr_id = 900 + i, .sg_list = ss, .num_sge = 3 };
		uint8_t *want = malloc(len + 1), *got = malloc(len + 1);
		struct tp_wc wc;

		fill(a.buf + 100, g1, i * 3 + 1);
		fill(a.buf + 300000, g2, i * 3 + 2);
		fill(a.buf + 600000, len - g1 - g2, i * 3 + 3);
		memcpy(want, a.buf + 100, g1);
		memcpy(want + g1, a.buf + 300000, g2);
		memcpy(want + g1 + g2, a.buf + 600000, len - g1 - g2);
		LT_CHECK(t, tp_post_recv(b.qp, &rw, 1, NULL) == 0, "%s", loom_err_msg());
		LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
		expect_wc(t, a.scq, 50 + i, TP_WC_SUCCESS, &wc);
		LT_CHECK(t, wc.opcode == TP_WC_SEND && wc.qp_num == tp_qp_num(a.qp), "send wc");
		if (expect_wc(t, b.rcq, 900 + i, TP_WC_SUCCESS, &wc)) {
			LT_CHECK(t, wc.opcode == TP_WC_RECV && wc.byte_len == len &&
					    wc.has_imm == (i % 2 == 1) &&
					    (!wc.has_imm || wc.imm_data == 0xabc00000u + i) &&
					    wc.qp_num == tp_qp_num(b.qp),
				 "recv wc: op %d len %u imm %d 0x%x", wc.opcode, wc.byte_len,
				 wc.has_imm, wc.imm_data);
			/* gather the receive's scatter list back into one buffer */
			size_t k = 0;
			for (int j = 0; j < 3 && k < len; j++) {
				size_t take = ss[j].length < len - k ? ss[j].length : len - k;
				memcpy(got + k, (void *)(uintptr_t)ss[j].addr, take);
				k += take;
			}
			same_bytes(t, "send", got, want, len);
		}
		free(want);
		free(got);
	}
out:
	pair_close(t, &a, &b);
}

/* RDMA WRITE with immediate consumes a receive: RECV_RDMA_WITH_IMM with
 * the write's length and the immediate; the data lands at the RETH. */
static void test_write_with_imm(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	static const uint32_t lens[] = { 0, 8, 4096, 10000 };

	if (!pair_open(t, &c, &a, &b))
		goto out;
	for (size_t i = 0; i < 4; i++) {
		struct tp_wc wc;

		fill(a.buf, lens[i], 77 + i);
		LT_CHECK(t, post_recv1(&b, 70 + i, 0, 0) == 0, "%s", loom_err_msg());
		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE_WITH_IMM, 7 + i, 0, lens[i],
				  raddr(&b, 8192), b.mr->rkey, TP_SEND_SIGNALED) == 0,
			 "%s", loom_err_msg());
		expect_wc(t, a.scq, 7 + i, TP_WC_SUCCESS, &wc);
		LT_CHECK(t, wc.opcode == TP_WC_RDMA_WRITE, "opcode %d", wc.opcode);
		if (expect_wc(t, b.rcq, 70 + i, TP_WC_SUCCESS, &wc))
			LT_CHECK(t, wc.opcode == TP_WC_RECV_RDMA_WITH_IMM && wc.has_imm &&
					    wc.imm_data == (uint32_t)(7 + i) * 2654435761u &&
					    wc.byte_len == lens[i],
				 "wc op %d imm %d 0x%x len %u", wc.opcode, wc.has_imm, wc.imm_data,
				 wc.byte_len);
		same_bytes(t, "write imm", b.buf + 8192, a.buf, lens[i]);
	}
out:
	pair_close(t, &a, &b);
}

/* RDMA READ at every MTU into a two-entry scatter list. */
static void test_read(struct lt *t)
{
	static const uint32_t mtus[] = { 256, 1024, 4096 };

	for (size_t m = 0; m < 3; m++) {
		struct cfg c = cfg_default();
		struct end a, b;
		uint32_t sizes[] = { 0, 1, mtus[m], mtus[m] + 1, 5 * mtus[m] - 3, 300000 };

		c.mtu = mtus[m];
		if (!pair_open(t, &c, &a, &b))
			goto out;
		for (size_t i = 0; i < 6; i++) {
			uint32_t n = sizes[i], h = n / 2;
			struct tp_sge sg[2] = { sge_of(&a, 16, h), sge_of(&a, 500000, n - h) };
			struct tp_send_wr wr = { .wr_id = 33, .opcode = TP_WR_RDMA_READ,
						 .flags = TP_SEND_SIGNALED, .sg_list = sg,
						 .num_sge = 2, .remote_addr = raddr(&b, 4000),
						 .rkey = b.mr->rkey };
			struct tp_wc wc;

			memset(a.buf, 0, a.len);
			fill(b.buf + 4000, n, m * 10 + i);
			LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
			if (!expect_wc(t, a.scq, 33, TP_WC_SUCCESS, &wc))
				break;
			LT_CHECK(t, wc.opcode == TP_WC_RDMA_READ && wc.byte_len == n, "wc");
			same_bytes(t, "read 1st sge", a.buf + 16, b.buf + 4000, h);
			same_bytes(t, "read 2nd sge", a.buf + 500000, b.buf + 4000 + h, n - h);
		}
out:
		pair_close(t, &a, &b);
	}
}

/* FETCH_ADD and CMP_SWAP (hit and miss): the original value comes back,
 * memory holds the computed one. */
static void test_atomics(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	uint64_t *target, *res;

	if (!pair_open(t, &c, &a, &b))
		goto out;
	target = (uint64_t *)(void *)(b.buf + 64);
	res = (uint64_t *)(void *)(a.buf + 128);
	*target = 1000;
	for (int i = 0; i < 10; i++) {
		struct tp_sge s = sge_of(&a, 128, 8);
		struct tp_send_wr wr = { .wr_id = (uint64_t)i, .opcode = TP_WR_ATOMIC_FETCH_ADD,
					 .flags = TP_SEND_SIGNALED, .sg_list = &s, .num_sge = 1,
					 .remote_addr = raddr(&b, 64), .rkey = b.mr->rkey,
					 .compare_add = (uint64_t)i + 1 };
		struct tp_wc wc;

		LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
		expect_wc(t, a.scq, (uint64_t)i, TP_WC_SUCCESS, &wc);
		LT_CHECK(t, wc.opcode == TP_WC_FETCH_ADD, "opcode");
		LT_CHECK(t, *res == 1000 + (uint64_t)i * (i + 1) / 2, "fetch_add %d returned %llu", i,
			 (unsigned long long)*res);
	}
	LT_CHECK(t, *target == 1055, "target %llu", (unsigned long long)*target);
	for (int i = 0; i < 2; i++) { /* a hit (1055 -> 7), then a miss */
		struct tp_sge s = sge_of(&a, 128, 8);
		struct tp_send_wr wr = { .wr_id = 20, .opcode = TP_WR_ATOMIC_CMP_SWP,
					 .flags = TP_SEND_SIGNALED, .sg_list = &s, .num_sge = 1,
					 .remote_addr = raddr(&b, 64), .rkey = b.mr->rkey,
					 .compare_add = 1055, .swap = 7 };
		struct tp_wc wc;

		LT_CHECK(t, tp_post_send(a.qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
		expect_wc(t, a.scq, 20, TP_WC_SUCCESS, &wc);
		LT_CHECK(t, wc.opcode == TP_WC_COMP_SWAP && *res == (i == 0 ? 1055u : 7u) &&
				    *target == 7,
			 "cmp_swp %d: returned %llu, target %llu", i, (unsigned long long)*res,
			 (unsigned long long)*target);
	}
out:
	pair_close(t, &a, &b);
}

/* Inline data is copied at post time; unsignaled WRs make no completion
 * but complete in order before the signaled one after them. */
static void test_inline_unsignaled(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_wc wc;

	if (!pair_open(t, &c, &a, &b))
		goto out;
	fill(a.buf, 512, 5);
	memcpy(a.buf + 4096, a.buf, 512);
	LT_CHECK(t, post_recv1(&b, 1, 0, 512) == 0, "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_SEND, 1, 0, 512, 0, 0, TP_SEND_INLINE) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 2, 0, 300, raddr(&b, 9000), b.mr->rkey,
			  TP_SEND_INLINE) == 0,
		 "%s", loom_err_msg());
	memset(a.buf, 0xee, 512); /* after the post: must not reach the peer */
	for (int i = 3; i < 40; i++)
		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, (uint64_t)i, 4096, 8,
				  raddr(&b, 20000 + 8 * (size_t)i), b.mr->rkey, 0) == 0,
			 "%s", loom_err_msg());
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 40, 4096, 4, raddr(&b, 30000), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0,
		 "%s", loom_err_msg());
	expect_wc(t, a.scq, 40, TP_WC_SUCCESS, NULL);
	expect_wc(t, b.rcq, 1, TP_WC_SUCCESS, &wc);
	LT_CHECK(t, wc.byte_len == 512, "len %u", wc.byte_len);
	same_bytes(t, "inline send", b.buf, a.buf + 4096, 512);
	same_bytes(t, "inline write", b.buf + 9000, a.buf + 4096, 300);
	for (int i = 3; i < 40; i++)
		same_bytes(t, "unsignaled write", b.buf + 20000 + 8 * (size_t)i, a.buf + 4096, 8);
	expect_none(t, a.scq, 50);
	/* Inline is refused for READ and beyond max_inline_data. */
	LT_CHECK(t, post1(&a, TP_WR_RDMA_READ, 41, 0, 8, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_INLINE) == -EINVAL,
		 "inline READ accepted");
	LT_CHECK(t, post1(&a, TP_WR_SEND, 42, 0, 513, 0, 0, TP_SEND_INLINE) == -EINVAL,
		 "inline of 513 bytes accepted");
out:
	pair_close(t, &a, &b);
}

/* A burst of mixed WRs, far more PSNs than the window: all complete in
 * order, all data in place. */
static void test_burst_in_order(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	const int n = 200;

	c.mtu = 512;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	fill(a.buf, 512 * 1024, 99);
	fill(b.buf + 600000, 200000, 98);
	for (int i = 0; i < n; i++)
		LT_CHECK(t, post_recv1(&b, (uint64_t)i, 800000 + 1000 * (size_t)(i % 100), 1000) == 0,
			 "%s", loom_err_msg());
	for (int i = 0; i < n; i++) {
		size_t off = (size_t)i * 2000;
		int r = i % 4;
		int err = r == 0   ? post1(&a, TP_WR_RDMA_WRITE, (uint64_t)i, off, 2000,
					   raddr(&b, off), b.mr->rkey, TP_SEND_SIGNALED)
			  : r == 1 ? post1(&a, TP_WR_SEND, (uint64_t)i, off, 1000, 0, 0,
					   TP_SEND_SIGNALED)
			  : r == 2 ? post1(&a, TP_WR_RDMA_READ, (uint64_t)i, 600000 + off / 2, 900,
					   raddr(&b, 600000 + off / 2), b.mr->rkey, TP_SEND_SIGNALED)
				   : post1(&a, TP_WR_RDMA_WRITE, (uint64_t)i, off, 1500,
					   raddr(&b, off), b.mr->rkey, TP_SEND_SIGNALED);

		LT_CHECK(t, err == 0, "post %d: %s", i, loom_err_msg());
	}
	for (int i = 0; i < n; i++)
		if (!expect_wc(t, a.scq, (uint64_t)i, TP_WC_SUCCESS, NULL))
			break;
	for (int i = 0; i < n; i++) {
		size_t off = (size_t)i * 2000;

		if (i % 4 == 0 || i % 4 == 3)
			same_bytes(t, "burst write", b.buf + off, a.buf + off, i % 4 ? 1500 : 2000);
		if (i % 4 == 2)
			same_bytes(t, "burst read", a.buf + 600000 + off / 2,
				   b.buf + 600000 + off / 2, 900);
	}
	for (int i = 0; i < n / 4; i++)
		expect_wc(t, b.rcq, (uint64_t)i, TP_WC_SUCCESS, NULL);
out:
	pair_close(t, &a, &b);
}

/* Two QPs of one device connected to each other: still through UDP. */
static void test_loopback_one_device(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_qp_init_attr init;

	if (!end_open(t, &a, &c, (const char **)c.opts_a))
		goto out;
	memset(&b, 0, sizeof(b));
	b = a; /* shares a's device, PD and MR; gets its own QP */
	init = (struct tp_qp_init_attr){ .send_cq = a.scq, .recv_cq = a.rcq, .max_send_wr = 16,
					 .max_recv_wr = 16, .max_send_sge = 1, .max_recv_sge = 1 };
	b.qp = tp_qp_create(a.pd, &init);
	LT_CHECK(t, b.qp != NULL, "%s", loom_err_msg());
	if (!b.qp)
		goto out;
	{
		struct tp_qp_attr ia = { .state = TP_QPS_INIT, .access = QP_ACCESS_ALL };
		uint64_t before = counters(a.dev).tx_packets;

		tp_qp_modify(b.qp, &ia, TP_QP_STATE | TP_QP_ACCESS_FLAGS);
		if (!end_connect(t, &a, &b, &c) || !end_connect(t, &b, &a, &c))
			goto out_qp;
		fill(a.buf, 10000, 4);
		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 10000, raddr(&a, 200000),
				  a.mr->rkey, TP_SEND_SIGNALED) == 0,
			 "%s", loom_err_msg());
		expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
		same_bytes(t, "self write", a.buf + 200000, a.buf, 10000);
		/* 10 request packets + 1 ACK went through the device's socket */
		LT_CHECK(t, counters(a.dev).tx_packets - before == 11, "packets %llu",
			 (unsigned long long)(counters(a.dev).tx_packets - before));
	}
out_qp:
	LT_CHECK(t, tp_qp_destroy(b.qp) == 0, "%s", loom_err_msg());
out:
	end_close(t, &a);
}

/* Exact packet counts: a 10-packet WRITE is 10 requests (AckReq on the
 * last only) and one coalesced ACK; a 3-packet READ is one request and 3
 * responses. */
static void test_packet_counts(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct tp_counters ca, cb;

	c.mtu = 1024;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 1, 0, 10240, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS, NULL);
	ca = counters(a.dev);
	cb = counters(b.dev);
	LT_CHECK(t, ca.tx_packets == 10 && cb.rx_packets == 10 && cb.tx_packets == 1 &&
			    ca.rx_packets == 1 && ca.tx_bytes == 10240 && cb.rx_bytes == 10240,
		 "write: a tx %llu rx %llu, b tx %llu rx %llu", (unsigned long long)ca.tx_packets,
		 (unsigned long long)ca.rx_packets, (unsigned long long)cb.tx_packets,
		 (unsigned long long)cb.rx_packets);
	LT_CHECK(t, post1(&a, TP_WR_RDMA_READ, 2, 0, 3000, raddr(&b, 0), b.mr->rkey,
			  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_SUCCESS, NULL);
	ca = counters(a.dev);
	cb = counters(b.dev);
	LT_CHECK(t, ca.tx_packets == 11 && cb.tx_packets == 4 && ca.retransmits == 0 &&
			    ca.timeouts == 0 && cb.duplicates == 0 && ca.icrc_errors == 0 &&
			    cb.icrc_errors == 0 && ca.malformed == 0 && cb.malformed == 0,
		 "read: a tx %llu, b tx %llu", (unsigned long long)ca.tx_packets,
		 (unsigned long long)cb.tx_packets);
out:
	pair_close(t, &a, &b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Loopback figures for the report (printed, not asserted: a shared 2-core
 * machine gives no stable timing): 64 KiB WRITE bandwidth with 16 in
 * flight at MTU 4096, and the median and 99th percentile of a WRITE's
 * completion time at 8 bytes (posted, ACKed, polled).  Data is checked. */
static void test_loopback_figures(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	const int n = 2000, lat_n = 2000;
	static uint64_t lat[2000];
	uint64_t t0, us;
	int posted = 0, done = 0;

	c.mtu = 4096;
	c.buf_len = 4u << 20;
	if (!pair_open(t, &c, &a, &b))
		goto out;
	fill(a.buf, 2u << 20, 11);
	t0 = now_us();
	while (done < n) {
		while (posted < n && posted - done < 16) {
			size_t off = (size_t)(posted % 32) * 65536;

			LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, (uint64_t)posted, off, 65536,
					  raddr(&b, off), b.mr->rkey, TP_SEND_SIGNALED) == 0,
				 "%s", loom_err_msg());
			posted++;
		}
		if (!expect_wc(t, a.scq, (uint64_t)done, TP_WC_SUCCESS, NULL))
			goto out;
		done++;
	}
	us = now_us() - t0;
	same_bytes(t, "bandwidth run", b.buf, a.buf, 2u << 20);
	for (int i = 0; i < lat_n; i++) {
		uint64_t s = now_us();
		struct tp_wc wc;
		int got;

		LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, 7, 0, 8, raddr(&b, 0), b.mr->rkey,
				  TP_SEND_SIGNALED) == 0, "%s", loom_err_msg());
		while ((got = tp_cq_poll(a.scq, 1, &wc)) == 0)
			;
		LT_CHECK(t, got == 1 && wc.status == TP_WC_SUCCESS, "latency WRITE %d", i);
		lat[i] = now_us() - s;
	}
	qsort(lat, lat_n, sizeof(lat[0]), cmp_u64);
	printf("     loopback WRITE 64 KiB x %d: %.0f MiB/s; 8-byte WRITE completion: median %llu us, "
	       "p99 %llu us (%llu retransmits)\n", n, (double)n * 65536 / (double)us * 1e6 / 1048576,
	       (unsigned long long)lat[lat_n / 2], (unsigned long long)lat[lat_n * 99 / 100],
	       (unsigned long long)counters(a.dev).retransmits);
out:
	pair_close(t, &a, &b);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_device_open_and_addr),
		LT_CASE(test_device_bad_options),
		LT_CASE(test_device_port_in_use),
		LT_CASE(test_write_every_mtu),
		LT_CASE(test_send_recv_sg),
		LT_CASE(test_write_with_imm),
		LT_CASE(test_read),
		LT_CASE(test_atomics),
		LT_CASE(test_inline_unsignaled),
		LT_CASE(test_burst_in_order),
		LT_CASE(test_loopback_one_device),
		LT_CASE(test_packet_counts),
		LT_CASE(test_loopback_figures),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

/*
 * test_udp_fault.c - the udp provider under injected faults: the matrix of
 * drop, duplicate, reorder, delay and corrupt at 1% and 10% on both
 * directions delivers every byte exactly once and in order (WRITE, SEND
 * with sequence-numbered receives, READ) and runs every atomic exactly once
 * (FETCH_ADD returns 0, 1, 2, ... in order and the target ends at the
 * count); every corrupted packet is caught by the receiver's ICRC check;
 * fault decisions repeat with the seed; and 1 GiB of WRITEs completes,
 * byte-exact, under 5% loss (~15 s here; LOOM_UDP_BIG_MIB sets the size).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loom/roce.h"
#include "test_udp_pair.h"

#define MB (1u << 20)

/* ---- the workload ----------------------------------------------------------------- */

/* Layout of each end's 4 MiB buffer. */
#define W_SRC 0		      /* a: WRITE sources; b: WRITE targets (same offsets) */
#define S_SRC (1 * MB)	      /* a: SEND sources */
#define R_DST (2 * MB)	      /* a: READ targets; b: READ sources (same offsets) */
/* READ slots rotate over 64 rounds: a stale duplicate READ is executed
 * again by the responder long after its WQE completed, and must not read a
 * slot the test is rewriting (data changed under a packet being built
 * fails its ICRC: see udp_net.c). */
#define R_SLOT(r) (R_DST + (size_t)((r) % 64) * 16384)
#define ATOM (3 * MB)	      /* b: the atomic counter */
#define ATOM_RES (3 * MB + 64) /* a: fetched values, 8 bytes per op */
#define RECV (3 * MB + 65536) /* b: receive buffers, 4 KiB each */

struct load {
	int rounds;
	uint32_t write_len, send_len, read_len;
};

/* One round: WRITE, SEND (seq in its first 4 bytes), READ, FETCH_ADD +1.
 * Offsets rotate so a misplaced byte shows. */
static void post_round(struct lt *t, struct end *a, struct end *b, int r, const struct load *l)
{
	size_t wo = W_SRC + (size_t)(r % 8) * 100000, ro = R_SLOT(r);
	size_t so = S_SRC + (size_t)(r % 64) * 8192;
	uint64_t id = (uint64_t)r * 4;

	fill(a->buf + wo, l->write_len, 1000 + (uint64_t)r);
	fill(a->buf + so, l->send_len, 2000 + (uint64_t)r);
	memcpy(a->buf + so, &r, sizeof(r));
	fill(b->buf + ro, l->read_len, 3000 + (uint64_t)r);
	LT_CHECK(t, post_recv1(b, (uint64_t)r, RECV + (size_t)(r % 64) * 4096, 4096) == 0, "%s",
		 loom_err_msg());
	LT_CHECK(t, post1(a, TP_WR_RDMA_WRITE, id, wo, l->write_len, raddr(b, wo), b->mr->rkey,
			  TP_SEND_SIGNALED) == 0 &&
			    post1(a, TP_WR_SEND, id + 1, so, l->send_len, 0, 0, TP_SEND_SIGNALED) == 0 &&
			    post1(a, TP_WR_RDMA_READ, id + 2, ro, l->read_len, raddr(b, ro),
				  b->mr->rkey, TP_SEND_SIGNALED) == 0,
		 "post: %s", loom_err_msg());
	{
		struct tp_sge s = sge_of(a, ATOM_RES + (size_t)(r % 512) * 8, 8);
		struct tp_send_wr wr = { .wr_id = id + 3, .opcode = TP_WR_ATOMIC_FETCH_ADD,
					 .flags = TP_SEND_SIGNALED, .sg_list = &s, .num_sge = 1,
					 .remote_addr = raddr(b, ATOM), .rkey = b->mr->rkey,
					 .compare_add = 1 };

		LT_CHECK(t, tp_post_send(a->qp, &wr, 1, NULL) == 0, "post: %s", loom_err_msg());
	}
}

/* Wait for round r's four completions and its receive; check its data. */
static bool check_round(struct lt *t, struct end *a, struct end *b, int r, const struct load *l)
{
	size_t wo = W_SRC + (size_t)(r % 8) * 100000, ro = R_SLOT(r);
	size_t so = S_SRC + (size_t)(r % 64) * 8192;
	uint64_t fetched;
	struct tp_wc wc;
	bool ok = true;

	for (int k = 0; k < 4; k++)
		ok &= expect_wc(t, a->scq, (uint64_t)r * 4 + (uint64_t)k, TP_WC_SUCCESS, NULL);
	ok &= expect_wc(t, b->rcq, (uint64_t)r, TP_WC_SUCCESS, &wc);
	if (!ok)
		return false;
	LT_CHECK(t, wc.byte_len == l->send_len, "round %d: receive of %u bytes", r, wc.byte_len);
	ok &= same_bytes(t, "write", b->buf + wo, a->buf + wo, l->write_len);
	ok &= same_bytes(t, "send", b->buf + RECV + (size_t)(r % 64) * 4096, a->buf + so,
			 l->send_len);
	ok &= same_bytes(t, "read", a->buf + ro, b->buf + ro, l->read_len);
	memcpy(&fetched, a->buf + ATOM_RES + (size_t)(r % 512) * 8, 8);
	LT_CHECK(t, fetched == (uint64_t)r, "round %d: FETCH_ADD returned %llu (an atomic ran "
		 "twice or not at all)", r, (unsigned long long)fetched);
	return ok && fetched == (uint64_t)r;
}

/* Run the workload, DEPTH rounds in flight; the rounds are posted in
 * order and checked in order. */
static void run_load(struct lt *t, struct end *a, struct end *b, const struct load *l)
{
	const int depth = 8;
	uint64_t counter;

	for (int r = 0; r < l->rounds + depth; r++) {
		if (r >= depth && !check_round(t, a, b, r - depth, l))
			return;
		if (r < l->rounds)
			post_round(t, a, b, r, l);
	}
	memcpy(&counter, b->buf + ATOM, 8);
	LT_CHECK(t, counter == (uint64_t)l->rounds, "counter %llu after %d FETCH_ADDs",
		 (unsigned long long)counter, l->rounds);
	expect_none(t, b->rcq, 5); /* no SEND delivered twice */
}

static struct cfg fault_cfg(void)
{
	struct cfg c = cfg_default();

	c.buf_len = 4 * MB;
	c.mtu = 1024;
	/* 16.8 ms: losses are repaired by NAKs (the responder repeats them), so
	 * the timer rarely fires; 8 expiries (134 ms) ride out a progress thread
	 * starved of CPU on a loaded 2-core machine, where 4.2 ms did not */
	c.timeout = 12;
	c.max_wr = 64;
	c.cqe = 4096;
	return c;
}

/* ---- the matrix ------------------------------------------------------------------ */

static void matrix_cell(struct lt *t, const char *fault, double rate)
{
	static char opt[4][64];
	struct cfg c = fault_cfg();
	struct load l = { .rounds = 48, .write_len = 20000, .send_len = 3000, .read_len = 9000 };
	struct end a, b;
	struct tp_counters ca, cb;
	uint64_t t0 = now_us();

	/* both devices, tx and rx: requests and responses both suffer.
	 * corrupt: tx only, so no packet is corrupted twice and every
	 * corruption is exactly one ICRC drop (rx: test_rx_corrupt_counted). */
	bool tx_only = strcmp(fault, "corrupt") == 0;

	snprintf(opt[0], sizeof(opt[0]), "fault.tx.%s=%g", fault, tx_only ? rate : rate / 2);
	snprintf(opt[1], sizeof(opt[1]), "fault.rx.%s=%g", fault, tx_only ? 0 : rate / 2);
	snprintf(opt[2], sizeof(opt[2]), "fault.seed=%llu", (unsigned long long)lt_seed(t));
	for (int i = 0; i < 3; i++) {
		opt_add(c.opts_a, opt[i]);
		opt_add(c.opts_b, opt[i]);
	}
	if (pair_open(t, &c, &a, &b))
		run_load(t, &a, &b, &l);
	/* let packets still on the wire (held, or ACKs in flight) land */
	for (int i = 0; i < 100; i++) {
		ca = counters(a.dev);
		cb = counters(b.dev);
		if (ca.icrc_errors + cb.icrc_errors == ca.fault_corrupted + cb.fault_corrupted &&
		    i >= 5)
			break;
		usleep(2000);
	}
	printf("     %-8s %4.0f%%: %5.0f ms, injected %llu, retransmits %llu, timeouts %llu, "
	       "seq NAKs %llu, duplicates %llu, ICRC drops %llu, malformed %llu\n", fault, rate * 100,
	       (double)(now_us() - t0) / 1000,
	       (unsigned long long)(ca.fault_dropped + cb.fault_dropped + ca.fault_duplicated +
				    cb.fault_duplicated + ca.fault_reordered + cb.fault_reordered +
				    ca.fault_delayed + cb.fault_delayed + ca.fault_corrupted +
				    cb.fault_corrupted),
	       (unsigned long long)(ca.retransmits + cb.retransmits),
	       (unsigned long long)(ca.timeouts + cb.timeouts),
	       (unsigned long long)(ca.naks_sent + cb.naks_sent),
	       (unsigned long long)(ca.duplicates + cb.duplicates),
	       (unsigned long long)(ca.icrc_errors + cb.icrc_errors),
	       (unsigned long long)(ca.malformed + cb.malformed));
	if (strcmp(fault, "corrupt") == 0) /* every corrupted packet fails its ICRC check */
		LT_CHECK(t, ca.icrc_errors + cb.icrc_errors ==
				    ca.fault_corrupted + cb.fault_corrupted &&
				    ca.fault_corrupted + cb.fault_corrupted > 0,
			 "corrupted %llu, ICRC drops %llu",
			 (unsigned long long)(ca.fault_corrupted + cb.fault_corrupted),
			 (unsigned long long)(ca.icrc_errors + cb.icrc_errors));
	if (strcmp(fault, "drop") == 0)
		LT_CHECK(t, ca.fault_dropped + cb.fault_dropped > 0 && ca.retransmits > 0,
			 "drops %llu, retransmits %llu",
			 (unsigned long long)(ca.fault_dropped + cb.fault_dropped),
			 (unsigned long long)ca.retransmits);
	pair_close(t, &a, &b);
}

static void test_matrix_drop(struct lt *t)
{
	matrix_cell(t, "drop", 0.01);
	matrix_cell(t, "drop", 0.10);
}

static void test_matrix_dup(struct lt *t)
{
	matrix_cell(t, "dup", 0.01);
	matrix_cell(t, "dup", 0.10);
}

static void test_matrix_reorder(struct lt *t)
{
	matrix_cell(t, "reorder", 0.01);
	matrix_cell(t, "reorder", 0.10);
}

static void test_matrix_delay(struct lt *t)
{
	matrix_cell(t, "delay", 0.01);
	matrix_cell(t, "delay", 0.10);
}

static void test_matrix_corrupt(struct lt *t)
{
	matrix_cell(t, "corrupt", 0.01);
	matrix_cell(t, "corrupt", 0.10);
}

/* Everything at once: 2.5% of each fault at each of the four points, about
 * 10% of packets lost each way plus duplicates, reordering and delays.
 * (At 5% each, ~19% loss, seven retries without progress become a real
 * chance: 0.35^8 per stall; retry_cnt is then the limit, not a bug.) */
static void test_matrix_all(struct lt *t)
{
	struct cfg c = fault_cfg();
	struct load l = { .rounds = 40, .write_len = 30000, .send_len = 4000, .read_len = 12000 };
	static const char *faults[] = {
		"fault.tx.drop=0.025", "fault.tx.dup=0.025", "fault.tx.reorder=0.025",
		"fault.tx.corrupt=0.025", "fault.rx.drop=0.025", "fault.rx.dup=0.025",
		"fault.rx.delay=0.025", "fault.rx.corrupt=0.025",
	};
	struct end a, b;

	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		opt_add(c.opts_a, faults[i]);
		opt_add(c.opts_b, faults[i]);
	}
	if (pair_open(t, &c, &a, &b))
		run_load(t, &a, &b, &l);
	pair_close(t, &a, &b);
}

/* ---- determinism and rx corruption ---------------------------------------------------- */

/* 400 valid RoCE packets (to a QP that does not exist) from a plain socket
 * to a device opened with opt (a fixed sequence, no protocol timing
 * involved); its counters afterwards. */
static struct tp_counters rx_injected(struct lt *t, const char *opt, const char *seed)
{
	const char *opts[] = { "addr=127.0.0.1", "port=0", opt, seed, NULL };
	struct tp_device *d = tp_device_open("udp", NULL, opts);
	struct sockaddr_in sa = { .sin_family = AF_INET },
			   me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(me);
	struct tp_counters c = { 0 };
	struct roce_ipv4_udp ip;
	struct roce_pkt p = { 0 };
	uint8_t pay[1024] = { 0 }, buf[2048];
	struct tp_addr ad;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), v = IP_PMTUDISC_DO;

	LT_CHECK(t, d && fd >= 0, "%s", loom_err_msg());
	if (!d || fd < 0)
		goto out;
	tp_device_addr(d, &ad);
	memcpy(&sa.sin_addr.s_addr, ad.bytes, 4);
	memcpy(&sa.sin_port, ad.bytes + 4, 2);
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	bind(fd, (struct sockaddr *)&me, sizeof(me));
	getsockname(fd, (struct sockaddr *)&me, &sl);
	roce_ipv4_udp_socket(&ip, 0x7f000001, ntohs(me.sin_port), 0x7f000001, ntohs(sa.sin_port));
	p.bth = (struct roce_bth){ .opcode = ROCE_OP_SEND_ONLY, .pkey = 0xffff, .dqpn = 5 };
	p.payload = pay;
	for (int i = 0; i < 400; i++) {
		int n;

		p.bth.psn = (uint32_t)i;
		p.payload_bytes = (uint32_t)(i * 37) % 1024; /* 20-byte packets too */
		n = roce_pkt_build(buf, sizeof(buf), &p, 0, &ip);
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa));
		if (i % 50 == 49)
			usleep(2000); /* stay within the socket buffer */
	}
	for (int i = 0; i < 200 && counters(d).rx_packets < 400; i++)
		usleep(1000);
	usleep(2000);
	c = counters(d);
	LT_CHECK(t, c.rx_packets == 400, "received %llu of 400", (unsigned long long)c.rx_packets);
out:
	if (fd >= 0)
		close(fd);
	if (d)
		tp_device_close(d);
	return c;
}

/* Every packet corrupted on receive fails the ICRC check: none reaches
 * the QP lookup (which would count it malformed: QP 5 does not exist). */
static void test_rx_corrupt_counted(struct lt *t)
{
	struct tp_counters c = rx_injected(t, "fault.rx.corrupt=1", "fault.seed=7");

	LT_CHECK(t, c.fault_corrupted == 400 && c.icrc_errors == 400 && c.malformed == 0,
		 "corrupted %llu, ICRC drops %llu, passed the ICRC %llu",
		 (unsigned long long)c.fault_corrupted, (unsigned long long)c.icrc_errors,
		 (unsigned long long)c.malformed);
	c = rx_injected(t, "fault.rx.corrupt=0", "fault.seed=7");
	LT_CHECK(t, c.icrc_errors == 0 && c.malformed == 400, "clean: ICRC drops %llu",
		 (unsigned long long)c.icrc_errors);
}

static uint64_t rx_drops(struct lt *t, const char *seed)
{
	return rx_injected(t, "fault.rx.drop=0.5", seed).fault_dropped;
}

static void test_fault_seed_repeats(struct lt *t)
{
	uint64_t a = rx_drops(t, "fault.seed=42"), b = rx_drops(t, "fault.seed=42");
	uint64_t c = rx_drops(t, "fault.seed=43");

	LT_CHECK(t, a == b && a != c, "drops: seed 42 %llu and %llu, seed 43 %llu",
		 (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
	/* 400 trials at p = 0.5: within 5 sigma (50) of 200 */
	LT_CHECK(t, a > 150 && a < 250, "%llu drops of 400 at rate 0.5", (unsigned long long)a);
}

/* ---- a large transfer under loss ------------------------------------------------------- */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* WRITE LOOM_UDP_BIG_MIB MiB (default 1024) in 1 MiB messages under 5% loss
 * of every packet (2.5% at each end's tx, 2.5% at its rx), MTU 4096. */
static void test_large_transfer_5pct_loss(struct lt *t)
{
	const char *env = getenv("LOOM_UDP_BIG_MIB");
	size_t mib = env ? strtoull(env, NULL, 0) : 1024, chunk = MB, total = mib * MB;
	struct cfg c = cfg_default();
	struct end a, b;
	uint64_t t0, want, got = 0;
	struct tp_counters ca, cb;
	size_t posted = 0, done = 0;

	c.buf_len = 16 * MB;
	c.mtu = 4096;
	c.timeout = 12; /* as fault_cfg() */
	opt_add(c.opts_a, "fault.tx.drop=0.025");
	opt_add(c.opts_a, "fault.rx.drop=0.025");
	opt_add(c.opts_b, "fault.tx.drop=0.025");
	opt_add(c.opts_b, "fault.rx.drop=0.025");
	if (!pair_open(t, &c, &a, &b))
		goto out;
	fill(a.buf, 16 * MB, 77);
	want = 0;
	t0 = now_us();
	/* message i goes to b's offset (i % 16) MiB: 4 in flight */
	while (done < total / chunk) {
		while (posted < total / chunk && posted - done < 4) {
			size_t off = (posted % 16) * chunk;

			LT_CHECK(t, post1(&a, TP_WR_RDMA_WRITE, posted, off, (uint32_t)chunk,
					  raddr(&b, off), b.mr->rkey, TP_SEND_SIGNALED) == 0,
				 "%s", loom_err_msg());
			posted++;
		}
		if (!expect_wc(t, a.scq, done, TP_WC_SUCCESS, NULL))
			goto out;
		done++;
	}
	want = fnv1a(a.buf, 16 * MB);
	got = fnv1a(b.buf, 16 * MB);
	LT_CHECK(t, got == want, "the target's 16 MiB differ from the source");
	ca = counters(a.dev);
	cb = counters(b.dev);
	printf("     %zu MiB under 5%% loss: %.2f s, %.0f MiB/s, %llu packets dropped, "
	       "%llu retransmitted (%.1f%%), %llu timeouts, %llu seq NAKs\n", mib,
	       (double)(now_us() - t0) / 1e6, (double)mib / ((double)(now_us() - t0) / 1e6),
	       (unsigned long long)(ca.fault_dropped + cb.fault_dropped),
	       (unsigned long long)ca.retransmits, 100.0 * (double)ca.retransmits /
	       (double)(ca.tx_packets ? ca.tx_packets : 1), (unsigned long long)ca.timeouts,
	       (unsigned long long)cb.naks_sent);
out:
	pair_close(t, &a, &b);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_matrix_drop),
		LT_CASE(test_matrix_dup),
		LT_CASE(test_matrix_reorder),
		LT_CASE(test_matrix_delay),
		LT_CASE(test_matrix_corrupt),
		LT_CASE(test_matrix_all),
		LT_CASE(test_fault_seed_repeats),
		LT_CASE(test_rx_corrupt_counted),
		LT_CASE(test_large_transfer_5pct_loss),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}

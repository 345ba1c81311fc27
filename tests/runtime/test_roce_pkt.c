/*
 * test_roce_pkt.c - building and parsing RoCEv2 packets (UDP payloads;
 * runtime/roce/roce_pkt.c, contract in include/loom/roce.h):
 *  - every opcode at every path MTU, random fields and payload lengths:
 *    the layout checked at offsets computed here, the ICRC against a
 *    bit-at-a-time CRC over a pseudo header assembled here, and parse(build)
 *    giving back every field and payload byte;
 *  - the golden CNP of REFERENCE §7 rebuilt byte for byte;
 *  - scatter lists and the zero-copy form give the same bytes;
 *  - one case per malformation: the parser's error kind, -EBADMSG and a
 *    reason naming the opcode; the builder refusing the same description;
 *  - random mutations and random bytes in exactly-sized heap buffers (so
 *    ASan sees any over-read): never a crash, and any accepted mutation
 *    round-trips.
 */
#include "lt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/roce.h"

static const unsigned mtus[] = { 256, 512, 1024, 2048, 4096 };

/* ---- Independent reference pieces ------------------------------------- */

static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* REFERENCE §7 ICRC with the masked IPv4/UDP header written out here. */
static uint32_t ref_icrc(const struct roce_ipv4_udp *ip, const uint8_t *pkt, size_t len)
{
	uint8_t *b = malloc(36 + len);
	memset(b, 0xff, 8);
	uint8_t *h = b + 8;
	h[0] = 0x45, h[1] = 0xff, be(h + 2, 28 + len, 2), be(h + 4, ip->ip_id, 2);
	be(h + 6, ip->ip_frag, 2), h[8] = 0xff, h[9] = 17, h[10] = h[11] = 0xff;
	be(h + 12, ip->saddr, 4), be(h + 16, ip->daddr, 4);
	be(h + 20, ip->sport, 2), be(h + 22, ip->dport, 2), be(h + 24, 8 + len, 2);
	h[26] = h[27] = 0xff;
	memcpy(b + 36, pkt, len);
	b[36 + 4] = 0xff;
	uint32_t c = crc32_bitwise(0, b, 36 + len - 4);
	free(b);
	return c;
}

/* Offsets of each extension header in wire order, sizes from REFERENCE. */
struct layout {
	int reth, atomic, aeth, atomic_ack, imm, ieth, payload;
};

static struct layout layout_of(unsigned hdrs)
{
	struct layout l = { -1, -1, -1, -1, -1, -1, 12 };
#define TAKE(bit, field, n) if (hdrs & (bit)) l.field = l.payload, l.payload += (n)
	TAKE(ROCE_HDR_RETH, reth, 16);
	TAKE(ROCE_HDR_ATOMIC_ETH, atomic, 28);
	TAKE(ROCE_HDR_AETH, aeth, 4);
	TAKE(ROCE_HDR_ATOMIC_ACK_ETH, atomic_ack, 8);
	TAKE(ROCE_HDR_IMMDT, imm, 4);
	TAKE(ROCE_HDR_IETH, ieth, 4);
#undef TAKE
	return l;
}

static uint64_t rd_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- A valid random packet for any opcode ------------------------------ */

static uint32_t payload_len_for(const struct roce_opcode_info *op, unsigned pmtu, struct loom_rng *r)
{
	if (op->kind == ROCE_KIND_CNP)
		return 16;
	if (!(op->flags & ROCE_OPF_PAYLOAD))
		return 0;
	if (!(op->flags & ROCE_OPF_END))
		return pmtu;	/* FIRST, MIDDLE */
	if (op->flags & ROCE_OPF_START)
		return loom_rng_u32(r) % (pmtu + 1);	/* ONLY */
	return 1 + loom_rng_u32(r) % pmtu;	/* LAST */
}

static void random_pkt(struct roce_pkt *p, unsigned opcode, unsigned pmtu, struct loom_rng *r,
		       uint8_t *payload)
{
	const struct roce_opcode_info *op = roce_opcode_info(opcode);
	uint64_t x = loom_rng_u64(r);

	memset(p, 0, sizeof(*p));
	p->bth = (struct roce_bth){
		.opcode = (uint8_t)opcode, .se = x & 1, .mig = x & 2, .pkey = (uint16_t)(x >> 8),
		.fecn = x & 4, .becn = x & 8, .dqpn = loom_rng_u32(r) & ROCE_QPN_MASK,
		.ack_req = x & 16, .psn = loom_rng_u32(r) & ROCE_PSN_MASK,
	};
	p->payload_bytes = payload_len_for(op, pmtu, r);
	for (uint32_t i = 0; i < p->payload_bytes; i++)
		payload[i] = (uint8_t)loom_rng_u32(r);
	p->payload = payload;
	p->reth = (struct roce_reth){ loom_rng_u64(r), loom_rng_u32(r), loom_rng_u32(r) >> 1 };
	if (op->kind == ROCE_KIND_WRITE && (op->flags & ROCE_OPF_END))
		p->reth.dma_len = p->payload_bytes;
	else if (op->kind == ROCE_KIND_WRITE)
		p->reth.dma_len = pmtu + 1 + loom_rng_u32(r) % 100000;
	p->atomic = (struct roce_atomic_eth){ loom_rng_u64(r) & ~7ull, loom_rng_u32(r),
					      loom_rng_u64(r), loom_rng_u64(r) };
	static const uint8_t nak_syn[] = { 0x60, 0x61, 0x62, 0x63 };
	uint8_t syn = roce_aeth_syn_ack(loom_rng_u32(r));
	if (op->kind == ROCE_KIND_ACK && x & 32)
		syn = x & 64 ? roce_aeth_syn_rnr_nak(loom_rng_u32(r)) : nak_syn[(x >> 7) & 3];
	p->aeth = (struct roce_aeth){ syn, loom_rng_u32(r) & ROCE_MSN_MASK };
	p->atomic_ack.orig = loom_rng_u64(r);
	p->imm = loom_rng_u32(r);
	p->ieth_rkey = loom_rng_u32(r);
}

static struct roce_ipv4_udp test_ip(void)
{
	struct roce_ipv4_udp ip;
	roce_ipv4_udp_socket(&ip, 0xc0a80001, 49152, 0xc0a80002, ROCE_UDP_PORT);
	return ip;
}

/* ---- Checks ------------------------------------------------------------ */

/* The built bytes against the description, read at offsets computed here. */
static void check_layout(struct lt *t, const struct roce_pkt *p, const uint8_t *b, int len,
			 const struct roce_ipv4_udp *ip)
{
	const struct roce_opcode_info *op = roce_opcode_info(p->bth.opcode);
	struct layout l = layout_of(op->hdrs);
	unsigned pad = (4 - p->payload_bytes % 4) % 4;

	LT_CHECK(t, len == l.payload + (int)p->payload_bytes + (int)pad + 4, "%s: length %d",
		 op->name, len);
	LT_CHECK(t, b[0] == p->bth.opcode && (b[1] >> 4 & 3) == pad && (b[1] & 0xf) == 0 &&
		     rd_be(b + 5, 3) == p->bth.dqpn && rd_be(b + 9, 3) == p->bth.psn,
		 "%s: BTH", op->name);
	if (l.reth >= 0)
		LT_CHECK(t, rd_be(b + l.reth, 8) == p->reth.va && rd_be(b + l.reth + 12, 4) ==
			     p->reth.dma_len, "%s: RETH", op->name);
	if (l.atomic >= 0)
		LT_CHECK(t, rd_be(b + l.atomic + 20, 8) == p->atomic.compare, "%s: AtomicETH", op->name);
	if (l.aeth >= 0)
		LT_CHECK(t, b[l.aeth] == p->aeth.syndrome, "%s: AETH", op->name);
	if (l.atomic_ack >= 0)
		LT_CHECK(t, rd_be(b + l.atomic_ack, 8) == p->atomic_ack.orig, "%s: AtomicAckETH", op->name);
	if (l.imm >= 0)
		LT_CHECK(t, rd_be(b + l.imm, 4) == p->imm, "%s: ImmDt", op->name);
	if (l.ieth >= 0)
		LT_CHECK(t, rd_be(b + l.ieth, 4) == p->ieth_rkey, "%s: IETH", op->name);
	LT_CHECK(t, memcmp(b + l.payload, p->payload, p->payload_bytes) == 0, "%s: payload", op->name);
	for (unsigned i = 0; i < pad; i++)
		LT_CHECK(t, b[l.payload + p->payload_bytes + i] == 0, "%s: pad byte", op->name);
	uint32_t icrc = (uint32_t)rd_be(b + len - 4, 4);
	icrc = __builtin_bswap32(icrc);	/* stored little-endian */
	LT_CHECK(t, icrc == ref_icrc(ip, b, (size_t)len), "%s: ICRC 0x%08x, reference 0x%08x",
		 op->name, icrc, ref_icrc(ip, b, (size_t)len));
}

static void check_same(struct lt *t, const struct roce_pkt *a, const struct roce_pkt *b)
{
	const struct roce_opcode_info *op = roce_opcode_info(a->bth.opcode);
	const struct roce_bth *x = &a->bth, *y = &b->bth;

	LT_CHECK(t, x->opcode == y->opcode && x->se == y->se && x->mig == y->mig && x->tver == y->tver &&
		     x->pkey == y->pkey && x->fecn == y->fecn && x->becn == y->becn &&
		     x->dqpn == y->dqpn && x->ack_req == y->ack_req && x->psn == y->psn,
		 "%s: BTH differs", op->name);
	LT_CHECK(t, b->op == op, "%s: op entry", op->name);
	if (op->hdrs & ROCE_HDR_RETH)
		LT_CHECK(t, memcmp(&a->reth, &b->reth, sizeof(a->reth)) == 0, "%s: RETH", op->name);
	if (op->hdrs & ROCE_HDR_ATOMIC_ETH)
		LT_CHECK(t, a->atomic.va == b->atomic.va && a->atomic.rkey == b->atomic.rkey &&
			     a->atomic.swap_add == b->atomic.swap_add &&
			     a->atomic.compare == b->atomic.compare, "%s: AtomicETH", op->name);
	if (op->hdrs & ROCE_HDR_AETH)
		LT_CHECK(t, a->aeth.syndrome == b->aeth.syndrome && a->aeth.msn == b->aeth.msn,
			 "%s: AETH", op->name);
	if (op->hdrs & ROCE_HDR_ATOMIC_ACK_ETH)
		LT_CHECK(t, a->atomic_ack.orig == b->atomic_ack.orig, "%s: AtomicAckETH", op->name);
	if (op->hdrs & ROCE_HDR_IMMDT)
		LT_CHECK(t, a->imm == b->imm, "%s: ImmDt", op->name);
	if (op->hdrs & ROCE_HDR_IETH)
		LT_CHECK(t, a->ieth_rkey == b->ieth_rkey, "%s: IETH", op->name);
	LT_CHECK(t, a->payload_bytes == b->payload_bytes &&
		     memcmp(a->payload, b->payload, a->payload_bytes) == 0, "%s: payload", op->name);
}

/* ---- Cases ------------------------------------------------------------- */

static void test_every_opcode_round_trip(struct lt *t)
{
	static uint8_t payload[4096], buf[ROCE_PKT_MAX_BYTES];
	struct roce_ipv4_udp ip = test_ip();
	struct loom_rng r;
	int n_ok = 0;

	loom_rng_init(&r, lt_seed(t));
	for (unsigned c = 0; c < 256; c++) {
		if (!roce_opcode_info(c))
			continue;
		for (size_t m = 0; m < LT_N(mtus); m++)
			for (int rep = 0; rep < 20; rep++) {
				struct roce_pkt p, q;
				random_pkt(&p, c, mtus[m], &r, payload);
				int len = roce_pkt_build(buf, sizeof(buf), &p, mtus[m], &ip);
				if (len < 0) {
					lt_fail(t, __FILE__, __LINE__, "build %s: %s", roce_opcode_name(c),
						loom_err_msg());
					return;
				}
				check_layout(t, &p, buf, len, &ip);
				int err = roce_pkt_parse(&q, buf, (size_t)len, mtus[m], &ip);
				LT_CHECK(t, err == 0 && q.err == ROCE_PERR_NONE, "parse %s: %d %s",
					 roce_opcode_name(c), err, loom_err_msg());
				if (!err)
					check_same(t, &p, &q), n_ok++;
				/* Unknown MTU (captures) accepts it too. */
				LT_CHECK(t, roce_pkt_parse(&q, buf, (size_t)len, 0, NULL) == 0, "pmtu 0");
				if (t->failures)
					return;
			}
	}
	LT_CHECK(t, n_ok == 24 * 5 * 20, "%d round trips", n_ok);
}

/* The golden CNP's UDP payload, rebuilt from its fields. */
static void test_golden_cnp_rebuilt(struct lt *t)
{
	static const uint8_t want[32] = {
		0x81, 0x00, 0xff, 0xff, 0x40, 0x00, 0x01, 0x18, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x82, 0xfd, 0x00, 0x2a,
	};
	static const uint8_t zeros[16];
	struct roce_ipv4_udp ip = {
		.saddr = 0x0a001101, .daddr = 0x0a001201, .sport = 0, .dport = 4791,
		.ip_id = 0x718c, .ip_frag = ROCE_IP_DF, .tos = 0xc2, .ttl = 0x40,
	};
	struct roce_pkt p = { .bth = { .opcode = ROCE_OP_CNP, .pkey = 0xffff, .becn = true,
				       .dqpn = 0x118 }, .payload = zeros, .payload_bytes = 16 };
	uint8_t buf[64];

	int len = roce_pkt_build(buf, sizeof(buf), &p, 1024, &ip);
	LT_CHECK(t, len == 32, "length %d (%s)", len, loom_err_msg());
	for (int i = 0; len == 32 && i < 32; i++)
		LT_CHECK(t, buf[i] == want[i], "byte %d: 0x%02x, want 0x%02x", i, buf[i], want[i]);
	struct roce_pkt q;
	LT_CHECK(t, roce_pkt_parse(&q, want, 32, 0, &ip) == 0 && q.icrc == 0x2a00fd82 &&
		     q.bth.dqpn == 0x118 && q.bth.becn, "parse: %s", loom_err_msg());
}

static void test_iov_and_zero_copy(struct lt *t)
{
	static uint8_t payload[1024], a[2048], b[2048], c[2048];
	struct roce_ipv4_udp ip = test_ip();
	struct loom_rng r;
	struct roce_pkt p;

	loom_rng_init(&r, lt_seed(t));
	for (int rep = 0; rep < 200; rep++) {
		random_pkt(&p, rep % 2 ? ROCE_OP_WRITE_ONLY_IMM : ROCE_OP_SEND_LAST, 1024, &r, payload);
		/* Split the payload into up to 4 pieces, some empty. */
		struct iovec iov[4];
		uint32_t cut[5] = { 0, 0, 0, 0, p.payload_bytes };
		for (int i = 1; i < 4; i++)
			cut[i] = p.payload_bytes ? loom_rng_u32(&r) % (p.payload_bytes + 1) : 0;
		for (int i = 1; i < 4; i++)	/* sort the 3 cuts */
			for (int j = i; j > 1 && cut[j] < cut[j - 1]; j--) {
				uint32_t x = cut[j]; cut[j] = cut[j - 1]; cut[j - 1] = x;
			}
		for (int i = 0; i < 4; i++)
			iov[i] = (struct iovec){ payload + cut[i], cut[i + 1] - cut[i] };
		int la = roce_pkt_build(a, sizeof(a), &p, 1024, &ip);
		int lb = roce_pkt_build_iov(b, sizeof(b), &p, iov, 4, 1024, &ip);
		uint8_t hdr[ROCE_HDR_MAX_BYTES], trl[ROCE_TRAILER_MAX_BYTES];
		size_t nh = 0, nt = 0, lc = 0;
		int err = roce_pkt_encode_iov(hdr, &nh, trl, &nt, &p, iov, 4, 1024, &ip);
		memcpy(c, hdr, nh), lc = nh;
		for (int i = 0; i < 4; i++)
			memcpy(c + lc, iov[i].iov_base, iov[i].iov_len), lc += iov[i].iov_len;
		memcpy(c + lc, trl, nt), lc += nt;
		LT_CHECK(t, la > 0 && la == lb && err == 0 && (size_t)la == lc, "%d %d %d %zu", la, lb,
			 err, lc);
		LT_CHECK(t, la > 0 && memcmp(a, b, (size_t)la) == 0 && memcmp(a, c, (size_t)la) == 0,
			 "bytes differ");
		if (t->failures)
			return;
	}
}

/* Build p (valid) into a heap buffer of exactly its length. */
static uint8_t *built(struct roce_pkt *p, unsigned pmtu, int *len)
{
	static uint8_t tmp[ROCE_PKT_MAX_BYTES];
	struct roce_ipv4_udp ip = test_ip();

	*len = roce_pkt_build(tmp, sizeof(tmp), p, pmtu, &ip);
	if (*len < 0)
		return NULL;
	uint8_t *b = malloc((size_t)*len);
	memcpy(b, tmp, (size_t)*len);
	return b;
}

/* Parse len bytes of b in an exactly-sized copy; returns the error kind. */
static enum roce_perr parse_kind(struct lt *t, const uint8_t *b, size_t len, unsigned pmtu,
				 const struct roce_ipv4_udp *ip, const char *what)
{
	uint8_t *c = malloc(len ? len : 1);
	struct roce_pkt q;

	memcpy(c, b, len);
	int err = roce_pkt_parse(&q, c, len, pmtu, ip);
	free(c);
	LT_CHECK(t, (err == 0) == (q.err == ROCE_PERR_NONE) && (err == 0 || err == -EBADMSG),
		 "%s: err %d kind %s", what, err, roce_perr_name(q.err));
	if (err)
		LT_CHECK(t, strncmp(loom_err_msg(), "roce: ", 6) == 0, "%s: reason '%s'", what,
			 loom_err_msg());
	return q.err;
}

/* One valid packet of opcode at pmtu with payload_bytes, built to memory. */
static uint8_t *valid(unsigned opcode, uint32_t payload_bytes, unsigned pmtu, int *len,
		      struct roce_pkt *p)
{
	static uint8_t payload[4096];
	memset(p, 0, sizeof(*p));
	p->bth = (struct roce_bth){ .opcode = (uint8_t)opcode, .pkey = 0xffff, .dqpn = 17, .psn = 5 };
	p->payload = payload;
	p->payload_bytes = payload_bytes;
	p->reth.dma_len = opcode == ROCE_OP_WRITE_FIRST ? 100000 : payload_bytes;
	return built(p, pmtu, len);
}

#define EXPECT(t, kind, got, what) \
	LT_CHECK(t, (got) == (kind), "%s: got %s, want %s", what, roce_perr_name(got), roce_perr_name(kind))

static void test_malformed_headers(struct lt *t)
{
	struct roce_ipv4_udp ip = test_ip();
	struct roce_pkt p;
	int len;
	uint8_t *b = valid(ROCE_OP_SEND_ONLY, 100, 256, &len, &p);	/* 12 + 100 + 4 = 116 */

	if (!b) {
		lt_fail(t, __FILE__, __LINE__, "build: %s", loom_err_msg());
		return;
	}
	EXPECT(t, ROCE_PERR_NONE, parse_kind(t, b, (size_t)len, 256, &ip, "valid"), "valid");
	for (size_t n = 0; n < 16; n++)
		EXPECT(t, ROCE_PERR_SHORT, parse_kind(t, b, n, 256, &ip, "short"), "short");
	b[20] ^= 1;
	EXPECT(t, ROCE_PERR_ICRC, parse_kind(t, b, (size_t)len, 256, &ip, "payload bit"), "icrc");
	b[20] ^= 1;
	struct roce_ipv4_udp other = ip;
	other.ip_id = 1;	/* a sender whose kernel wrote another IP ID */
	EXPECT(t, ROCE_PERR_ICRC, parse_kind(t, b, (size_t)len, 256, &other, "ip id"), "icrc id");
	static const uint8_t bad_ops[] = { 0x15, 0x18, 0x1f, 0x20, 0x64, 0x80, 0x82, 0xff };
	for (size_t i = 0; i < LT_N(bad_ops); i++) {
		uint8_t o = b[0];
		b[0] = bad_ops[i];
		EXPECT(t, ROCE_PERR_OPCODE, parse_kind(t, b, (size_t)len, 256, NULL, "opcode"), "opcode");
		b[0] = o;
	}
	b[1] |= 1;
	EXPECT(t, ROCE_PERR_TVER, parse_kind(t, b, (size_t)len, 256, NULL, "tver"), "tver");
	b[1] &= 0xf0;
	EXPECT(t, ROCE_PERR_ALIGN, parse_kind(t, b, (size_t)len - 1, 256, NULL, "align"), "align");
	free(b);

	b = valid(ROCE_OP_WRITE_ONLY, 0, 256, &len, &p);	/* 12 + 16 + 4 = 32 */
	for (size_t n = 16; n < 32; n++)
		EXPECT(t, ROCE_PERR_HDR_SHORT, parse_kind(t, b, n, 256, NULL, "hdr"), "hdr_short");
	free(b);

	b = valid(ROCE_OP_SEND_ONLY, 0, 256, &len, &p);	/* 16 bytes, no payload */
	b[1] |= 0x30;	/* pad count 3 with nothing to pad */
	EXPECT(t, ROCE_PERR_PAD, parse_kind(t, b, (size_t)len, 256, NULL, "pad"), "pad");
	free(b);
}

static void test_malformed_aeth(struct lt *t)
{
	struct roce_pkt p;
	int len;
	uint8_t *b = valid(ROCE_OP_ACK, 0, 256, &len, &p);
	static const uint8_t bad[] = { 0x40, 0x5f, 0x64, 0x7f, 0x80, 0xe0 };

	for (size_t i = 0; i < LT_N(bad); i++) {
		b[12] = bad[i];
		EXPECT(t, ROCE_PERR_AETH, parse_kind(t, b, (size_t)len, 256, NULL, "aeth"), "aeth");
	}
	free(b);
	b = valid(ROCE_OP_READ_RESP_FIRST, 256, 256, &len, &p);
	b[12] = 0x61;	/* a NAK outside RC_ACKNOWLEDGE */
	EXPECT(t, ROCE_PERR_AETH, parse_kind(t, b, (size_t)len, 256, NULL, "nak"), "nak in read resp");
	free(b);
	/* The builder refuses them too. */
	uint8_t buf[64];
	struct roce_ipv4_udp ip = test_ip();
	p = (struct roce_pkt){ .bth = { .opcode = ROCE_OP_ACK }, .aeth = { .syndrome = 0x45 } };
	LT_CHECK(t, roce_pkt_build(buf, sizeof(buf), &p, 256, &ip) == -EINVAL, "builder aeth");
}

/* Length errors: headers intact, so a responder can NAK (IBA 9.7.4.1.6). */
static void test_length_errors(struct lt *t)
{
	static const struct {
		unsigned opcode, pmtu;
		uint32_t bytes;		/* payload actually carried */
		enum roce_perr want;
	} cases[] = {
		{ ROCE_OP_SEND_MIDDLE, 256, 252, ROCE_PERR_LEN_NOT_MTU },
		{ ROCE_OP_SEND_FIRST, 1024, 4096, ROCE_PERR_LEN_NOT_MTU },
		{ ROCE_OP_READ_RESP_MIDDLE, 0, 300, ROCE_PERR_LEN_NOT_MTU },	/* not any MTU */
		{ ROCE_OP_SEND_ONLY, 256, 260, ROCE_PERR_LEN_OVER_MTU },
		{ ROCE_OP_READ_RESP_LAST, 0, 4100, ROCE_PERR_LEN_OVER_MTU },
		{ ROCE_OP_SEND_LAST, 256, 0, ROCE_PERR_LEN_EMPTY_LAST },
		{ ROCE_OP_WRITE_LAST_IMM, 256, 0, ROCE_PERR_LEN_EMPTY_LAST },
		{ ROCE_OP_READ_REQ, 256, 4, ROCE_PERR_LEN_UNEXPECTED },
		{ ROCE_OP_ACK, 256, 8, ROCE_PERR_LEN_UNEXPECTED },
		{ ROCE_OP_FETCH_ADD, 256, 8, ROCE_PERR_LEN_UNEXPECTED },
		{ ROCE_OP_ATOMIC_ACK, 256, 4, ROCE_PERR_LEN_UNEXPECTED },
		{ ROCE_OP_CNP, 256, 12, ROCE_PERR_LEN_CNP },
	};
	static uint8_t buf[8192];

	for (size_t i = 0; i < LT_N(cases); i++) {
		const struct roce_opcode_info *op = roce_opcode_info(cases[i].opcode);
		/* Write it by hand: BTH, zeroed extension headers, payload, ICRC. */
		size_t len = op->hdr_bytes + cases[i].bytes + 4;
		memset(buf, 0, len);
		buf[0] = (uint8_t)cases[i].opcode, buf[2] = buf[3] = 0xff;
		enum roce_perr got = parse_kind(t, buf, len, cases[i].pmtu, NULL, op->name);
		EXPECT(t, cases[i].want, got, op->name);
		LT_CHECK(t, roce_perr_is_length(got), "%s: %s is a length error", op->name,
			 roce_perr_name(got));
		LT_CHECK(t, strstr(loom_err_msg(), op->name) != NULL, "reason '%s'", loom_err_msg());
		/* The builder refuses the same payload length. */
		struct roce_pkt p = { .bth = { .opcode = (uint8_t)cases[i].opcode }, .payload = buf,
				      .payload_bytes = cases[i].bytes };
		struct roce_ipv4_udp ip = test_ip();
		int err = roce_pkt_build(buf + 4096, 4096, &p, cases[i].pmtu, &ip);
		LT_CHECK(t, err == -EINVAL, "%s: builder gave %d", op->name, err);
	}
}

static void test_dma_length_rules(struct lt *t)
{
	struct roce_pkt p, q;
	int len;
	uint8_t *b = valid(ROCE_OP_WRITE_ONLY, 96, 256, &len, &p);

	/* RETH DMA length 100 but 96 bytes carried. */
	b[12 + 12 + 3] = 100;
	EXPECT(t, ROCE_PERR_LEN_DMA, parse_kind(t, b, (size_t)len, 256, NULL, "write only"), "dma");
	/* On a length error the headers were decoded: a responder can NAK. */
	LT_CHECK(t, roce_pkt_parse(&q, b, (size_t)len, 256, NULL) == -EBADMSG && q.bth.psn == 5 &&
		     q.bth.dqpn == 17 && q.reth.dma_len == 100 && q.payload_bytes == 96,
		 "fields on a length error");
	free(b);
	b = valid(ROCE_OP_WRITE_FIRST, 256, 256, &len, &p);
	b[12 + 12] = 0, b[12 + 13] = 0, b[12 + 14] = 1, b[12 + 15] = 0;	/* DMA length 256 */
	EXPECT(t, ROCE_PERR_LEN_DMA, parse_kind(t, b, (size_t)len, 256, NULL, "write first"), "dma");
	free(b);
}

static void test_builder_refusals(struct lt *t)
{
	struct roce_ipv4_udp ip = test_ip();
	uint8_t buf[256], payload[8] = { 0 };
	struct roce_pkt p = { .bth = { .opcode = ROCE_OP_SEND_ONLY, .psn = 1 }, .payload = payload,
			      .payload_bytes = 8 };

	LT_CHECK(t, roce_pkt_build(buf, sizeof(buf), &p, 256, &ip) == 24, "valid: %s", loom_err_msg());
	LT_CHECK(t, roce_pkt_build(buf, 23, &p, 256, &ip) == -ENOSPC, "cap 23");
	LT_CHECK(t, roce_pkt_build(NULL, 64, &p, 256, &ip) == -EINVAL, "NULL buf");
	LT_CHECK(t, roce_pkt_build(buf, 64, NULL, 256, &ip) == -EINVAL, "NULL pkt");
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 256, NULL) == -EINVAL, "NULL ip");
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 300, &ip) == -EINVAL, "pmtu 300");
	p.bth.psn = 0x1000000;
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 256, &ip) == -EINVAL, "psn 25 bits");
	p.bth.psn = 0, p.bth.dqpn = 0x1000000;
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 256, &ip) == -EINVAL, "dqpn 25 bits");
	p.bth.dqpn = 0, p.bth.tver = 1;
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 256, &ip) == -EINVAL, "tver 1");
	p.bth.tver = 0, p.bth.opcode = 0x15;
	LT_CHECK(t, roce_pkt_build(buf, 64, &p, 256, &ip) == -EINVAL, "opcode 0x15");
	p.bth.opcode = ROCE_OP_SEND_ONLY;
	struct iovec iov[2] = { { NULL, 4 }, { payload, 4 } };
	LT_CHECK(t, roce_pkt_build_iov(buf, 64, &p, iov, 2, 256, &ip) == -EINVAL, "NULL iov base");
	LT_CHECK(t, roce_pkt_build_iov(buf, 64, &p, iov, -1, 256, &ip) == -EINVAL, "iovcnt -1");
	static uint8_t big[4096];
	struct iovec two[2] = { { big, 4096 }, { big, 4 } };	/* 4100 bytes > any MTU */
	LT_CHECK(t, roce_pkt_build_iov(buf, 64, &p, two, 2, 0, &ip) == -EINVAL, "4100 bytes");
	struct roce_pkt q;
	LT_CHECK(t, roce_pkt_parse(NULL, buf, 24, 256, NULL) == -EINVAL &&
		     roce_pkt_parse(&q, NULL, 24, 256, NULL) == -EINVAL &&
		     roce_pkt_parse(&q, buf, 24, 100, NULL) == -EINVAL, "parse arguments");
}

static void test_perr_names(struct lt *t)
{
	for (int a = 0; a < ROCE_PERR_COUNT; a++) {
		LT_CHECK(t, strcmp(roce_perr_name((enum roce_perr)a), "unknown") != 0, "kind %d unnamed", a);
		for (int b = 0; b < a; b++)
			LT_CHECK(t, strcmp(roce_perr_name((enum roce_perr)a),
					   roce_perr_name((enum roce_perr)b)) != 0, "kinds %d, %d", a, b);
	}
	LT_CHECK(t, strcmp(roce_perr_name(ROCE_PERR_COUNT), "unknown") == 0, "out of range");
	LT_CHECK(t, !roce_perr_is_length(ROCE_PERR_ICRC) && !roce_perr_is_length(ROCE_PERR_PAD) &&
		     roce_perr_is_length(ROCE_PERR_LEN_DMA), "classification");
}

/*
 * Mutations of valid packets (bit flips, byte writes, truncation, growth)
 * and plain random bytes, each parsed from an exactly-sized heap copy:
 * the parser must return 0 or -EBADMSG, and anything it accepts must
 * rebuild to a packet that parses to the same fields.
 */
static void test_random_mutations(struct lt *t)
{
	static uint8_t payload[4096], buf[ROCE_PKT_MAX_BYTES + 64], again[ROCE_PKT_MAX_BYTES];
	struct roce_ipv4_udp ip = test_ip();
	struct loom_rng r;
	long accepted = 0, total = 0;

	loom_rng_init(&r, lt_seed(t));
	for (int rep = 0; rep < 60000; rep++) {
		struct roce_pkt p, q, w;
		unsigned opcode;
		do
			opcode = loom_rng_u32(&r) % 0x18;
		while (!roce_opcode_info(opcode));
		unsigned pmtu = mtus[loom_rng_u32(&r) % LT_N(mtus)];
		random_pkt(&p, opcode, pmtu, &r, payload);
		int len = roce_pkt_build(buf, sizeof(buf), &p, pmtu, &ip);
		if (len < 0) {
			lt_fail(t, __FILE__, __LINE__, "build: %s", loom_err_msg());
			return;
		}
		for (int k = 0, n = 1 + (int)(loom_rng_u32(&r) % 4); k < n; k++) {
			uint32_t x = loom_rng_u32(&r);
			if (x % 4 == 0)
				len = (int)(loom_rng_u32(&r) % (uint32_t)(len + 1));
			else if (x % 4 == 1 && len < (int)sizeof(buf) - 8)
				len += 4;
			else if (len > 0)
				buf[loom_rng_u32(&r) % (uint32_t)len] ^= (uint8_t)(1u << (x >> 29));
		}
		if (rep % 8 == 0)	/* plain random bytes */
			for (int i = 0; i < len; i++)
				buf[i] = (uint8_t)loom_rng_u32(&r);
		uint8_t *c = malloc(len ? (size_t)len : 1);
		memcpy(c, buf, (size_t)len);
		int err = roce_pkt_parse(&q, c, (size_t)len, rep % 3 ? pmtu : 0, NULL);
		total++;
		LT_CHECK(t, err == 0 || err == -EBADMSG, "parse returned %d", err);
		if (err == 0) {
			accepted++;
			int l2 = roce_pkt_build(again, sizeof(again), &q, rep % 3 ? pmtu : 0, &ip);
			LT_CHECK(t, l2 > 0 && roce_pkt_parse(&w, again, (size_t)l2, 0, &ip) == 0,
				 "accepted %s does not rebuild: %s", roce_opcode_name(q.bth.opcode),
				 loom_err_msg());
			if (l2 > 0)
				check_same(t, &q, &w);
		}
		free(c);
		if (t->failures)
			return;
	}
	LT_CHECK(t, accepted > 0 && accepted < total, "%ld of %ld accepted", accepted, total);
}

static const struct lt_case cases[] = {
	LT_CASE(test_every_opcode_round_trip),
	LT_CASE(test_golden_cnp_rebuilt),
	LT_CASE(test_iov_and_zero_copy),
	LT_CASE(test_malformed_headers),
	LT_CASE(test_malformed_aeth),
	LT_CASE(test_length_errors),
	LT_CASE(test_dma_length_rules),
	LT_CASE(test_builder_refusals),
	LT_CASE(test_perr_names),
	LT_CASE(test_random_mutations),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

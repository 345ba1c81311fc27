/*
 * test_roce_hdr.c - RoCEv2 transport headers (runtime/roce/roce_hdr.c,
 * contract in include/loom/roce.h) against hand-made bytes and tables
 * transcribed here from REFERENCE.md §7 and the IBA:
 *  - every BTH/RETH/AETH/AtomicETH/AtomicAckETH field at its bit position,
 *    one field at a time, and reserved bits ignored on decode;
 *  - the opcode table (which headers, payload, request/response, position)
 *    for all 256 opcodes;
 *  - AETH syndromes over all 256 values, the credit and RNR timer tables
 *    against their closed-form patterns;
 *  - 24-bit PSN arithmetic against REFERENCE's (a - b) << 8 rule.
 */
#include "lt.h"

#include <string.h>

#include "loom/roce.h"

static bool bytes_eq(struct lt *t, const char *what, const uint8_t *got, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (got[i] != want[i]) {
			lt_fail(t, __FILE__, __LINE__, "%s: byte %zu is 0x%02x, want 0x%02x", what, i,
				got[i], want[i]);
			return false;
		}
	}
	return true;
}

/* ---- BTH --------------------------------------------------------------- */

/* The golden CNP's BTH (REFERENCE §7): opcode 0x81, P_Key 0xffff, BECN,
 * destination QP 0x118, PSN 0. */
static void test_bth_golden_cnp(struct lt *t)
{
	static const uint8_t b[12] = { 0x81, 0x00, 0xff, 0xff, 0x40, 0x00, 0x01, 0x18, 0, 0, 0, 0 };
	struct roce_bth h;
	uint8_t out[12];

	roce_bth_decode(&h, b);
	LT_CHECK(t, h.opcode == 0x81 && h.pkey == 0xffff && h.becn && !h.fecn, "op %x", h.opcode);
	LT_CHECK(t, h.dqpn == 0x118 && h.psn == 0 && !h.se && !h.mig && !h.ack_req && h.pad == 0 &&
		     h.tver == 0, "dqpn %x psn %x", h.dqpn, h.psn);
	roce_bth_encode(out, &h);
	bytes_eq(t, "re-encoded", out, b, 12);
}

static bool bth_eq(const struct roce_bth *a, const struct roce_bth *b)
{
	return a->opcode == b->opcode && a->se == b->se && a->mig == b->mig && a->pad == b->pad &&
	       a->tver == b->tver && a->pkey == b->pkey && a->fecn == b->fecn && a->becn == b->becn &&
	       a->dqpn == b->dqpn && a->ack_req == b->ack_req && a->psn == b->psn;
}

/* Every field alone at its maximum lands on exactly its bits (IBA 9.2). */
static void test_bth_fields(struct lt *t)
{
	static const struct {
		const char *name;
		uint8_t bytes[12];
	} want[] = {
		{ "opcode", { 0xff } },
		{ "se", { 0, 0x80 } },
		{ "mig", { 0, 0x40 } },
		{ "pad", { 0, 0x30 } },
		{ "tver", { 0, 0x0f } },
		{ "pkey", { 0, 0, 0xff, 0xff } },
		{ "fecn", { 0, 0, 0, 0, 0x80 } },
		{ "becn", { 0, 0, 0, 0, 0x40 } },
		{ "dqpn", { 0, 0, 0, 0, 0, 0xff, 0xff, 0xff } },
		{ "ack_req", { 0, 0, 0, 0, 0, 0, 0, 0, 0x80 } },
		{ "psn", { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff } },
	};

	for (size_t i = 0; i < LT_N(want); i++) {
		struct roce_bth h = { 0 }, back;
		uint8_t out[12];

		switch (i) {
		case 0: h.opcode = 0xff; break;
		case 1: h.se = true; break;
		case 2: h.mig = true; break;
		case 3: h.pad = 3; break;
		case 4: h.tver = 15; break;
		case 5: h.pkey = 0xffff; break;
		case 6: h.fecn = true; break;
		case 7: h.becn = true; break;
		case 8: h.dqpn = 0xffffff; break;
		case 9: h.ack_req = true; break;
		case 10: h.psn = 0xffffff; break;
		}
		roce_bth_encode(out, &h);
		if (!bytes_eq(t, want[i].name, out, want[i].bytes, 12))
			continue;
		roce_bth_decode(&back, out);
		LT_CHECK(t, bth_eq(&back, &h), "%s does not decode back", want[i].name);
	}
}

/* A BTH with everything set, bytes written by hand. */
static void test_bth_all_fields(struct lt *t)
{
	struct roce_bth h = {
		.opcode = 0x0a, .se = true, .mig = true, .pad = 3, .tver = 0, .pkey = 0x8001,
		.fecn = true, .becn = false, .dqpn = 0xabcdef, .ack_req = true, .psn = 0x123456,
	};
	static const uint8_t want[12] = { 0x0a, 0xf0, 0x80, 0x01, 0x80, 0xab, 0xcd, 0xef,
					  0x80, 0x12, 0x34, 0x56 };
	uint8_t out[12];

	roce_bth_encode(out, &h);
	bytes_eq(t, "bth", out, want, 12);
	/* Out-of-range values are masked to their widths, reserved bits stay 0. */
	h.dqpn = 0x1abcdef;
	h.psn = 0xf123456;
	roce_bth_encode(out, &h);
	bytes_eq(t, "masked", out, want, 12);
}

static void test_bth_reserved_ignored(struct lt *t)
{
	/* Reserved bits: byte 4 bits 5:0, byte 8 bits 6:0 (IBA 9.2). */
	static const uint8_t b[12] = { 0x04, 0x00, 0xff, 0xff, 0x3f, 0, 0, 1, 0x7f, 0, 0, 7 };
	struct roce_bth h;

	roce_bth_decode(&h, b);
	LT_CHECK(t, !h.fecn && !h.becn && !h.ack_req && h.dqpn == 1 && h.psn == 7,
		 "fecn %d becn %d ack_req %d", h.fecn, h.becn, h.ack_req);
}

/* ---- Extension headers ------------------------------------------------- */

static void test_reth(struct lt *t)
{
	struct roce_reth h = { .va = 0x0102030405060708ull, .rkey = 0x11223344, .dma_len = 0x80000000 };
	static const uint8_t want[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0x80, 0, 0, 0 };
	uint8_t out[16];
	struct roce_reth back;

	roce_reth_encode(out, &h);
	bytes_eq(t, "reth", out, want, 16);
	roce_reth_decode(&back, want);
	LT_CHECK(t, back.va == h.va && back.rkey == h.rkey && back.dma_len == h.dma_len, "decode");
}

static void test_aeth(struct lt *t)
{
	struct roce_aeth h = { .syndrome = 0x61, .msn = 0xfedcba }, back;
	static const uint8_t want[4] = { 0x61, 0xfe, 0xdc, 0xba };
	uint8_t out[4];

	roce_aeth_encode(out, &h);
	bytes_eq(t, "aeth", out, want, 4);
	roce_aeth_decode(&back, want);
	LT_CHECK(t, back.syndrome == 0x61 && back.msn == 0xfedcba, "decode");
	h.msn = 0x1000005;	/* masked to 24 bits */
	roce_aeth_encode(out, &h);
	LT_CHECK(t, out[1] == 0 && out[2] == 0 && out[3] == 5, "msn masked");
}

static void test_atomic_eth(struct lt *t)
{
	struct roce_atomic_eth h = {
		.va = 0xa0a1a2a3a4a5a6a8ull, .rkey = 0xdeadbeef,
		.swap_add = 0x1112131415161718ull, .compare = 0x2122232425262728ull,
	}, back;
	static const uint8_t want[28] = {
		0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa8, 0xde, 0xad, 0xbe, 0xef,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	};
	uint8_t out[28];

	roce_atomic_eth_encode(out, &h);
	bytes_eq(t, "atomic eth", out, want, 28);
	roce_atomic_eth_decode(&back, want);
	LT_CHECK(t, back.va == h.va && back.rkey == h.rkey && back.swap_add == h.swap_add &&
		     back.compare == h.compare, "decode");
}

static void test_atomic_ack_imm_ieth(struct lt *t)
{
	struct roce_atomic_ack_eth h = { .orig = 0x8877665544332211ull }, back;
	static const uint8_t want[8] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	uint8_t out[8];

	roce_atomic_ack_eth_encode(out, &h);
	bytes_eq(t, "atomic ack", out, want, 8);
	roce_atomic_ack_eth_decode(&back, want);
	LT_CHECK(t, back.orig == h.orig, "decode");
	roce_u32_encode(out, 0xcafef00d);
	static const uint8_t w32[4] = { 0xca, 0xfe, 0xf0, 0x0d };
	bytes_eq(t, "immdt", out, w32, 4);
	LT_CHECK(t, roce_u32_decode(w32) == 0xcafef00d, "decode");
}

/* ---- Opcode table ------------------------------------------------------ */

enum { R = ROCE_HDR_RETH, A = ROCE_HDR_AETH, X = ROCE_HDR_ATOMIC_ETH, K = ROCE_HDR_ATOMIC_ACK_ETH,
       I = ROCE_HDR_IMMDT, V = ROCE_HDR_IETH };

/* REFERENCE §7 / IBA, transcribed: headers, payload, request, first, last. */
static const struct {
	uint8_t code;
	unsigned hdrs, bytes;	/* bytes: BTH + extension headers, summed by hand */
	bool payload, request, first, last;
} expect_ops[] = {
	{ 0x00, 0, 12, 1, 1, 1, 0 }, { 0x01, 0, 12, 1, 1, 0, 0 }, { 0x02, 0, 12, 1, 1, 0, 1 },
	{ 0x03, I, 16, 1, 1, 0, 1 }, { 0x04, 0, 12, 1, 1, 1, 1 }, { 0x05, I, 16, 1, 1, 1, 1 },
	{ 0x06, R, 28, 1, 1, 1, 0 }, { 0x07, 0, 12, 1, 1, 0, 0 }, { 0x08, 0, 12, 1, 1, 0, 1 },
	{ 0x09, I, 16, 1, 1, 0, 1 }, { 0x0a, R, 28, 1, 1, 1, 1 }, { 0x0b, R | I, 32, 1, 1, 1, 1 },
	{ 0x0c, R, 28, 0, 1, 1, 1 },
	{ 0x0d, A, 16, 1, 0, 1, 0 }, { 0x0e, 0, 12, 1, 0, 0, 0 }, { 0x0f, A, 16, 1, 0, 0, 1 },
	{ 0x10, A, 16, 1, 0, 1, 1 },
	{ 0x11, A, 16, 0, 0, 1, 1 }, { 0x12, A | K, 24, 0, 0, 1, 1 },
	{ 0x13, X, 40, 0, 1, 1, 1 }, { 0x14, X, 40, 0, 1, 1, 1 },
	{ 0x16, V, 16, 1, 1, 0, 1 }, { 0x17, V, 16, 1, 1, 1, 1 },
};

static void test_opcode_table(struct lt *t)
{
	size_t known = 0;

	for (size_t i = 0; i < LT_N(expect_ops); i++) {
		const struct roce_opcode_info *op = roce_opcode_info(expect_ops[i].code);
		if (!op) {
			lt_fail(t, __FILE__, __LINE__, "opcode 0x%02x missing", expect_ops[i].code);
			continue;
		}
		LT_CHECK(t, op->hdrs == expect_ops[i].hdrs && op->hdr_bytes == expect_ops[i].bytes,
			 "%s: hdrs 0x%x bytes %u", op->name, op->hdrs, op->hdr_bytes);
		LT_CHECK(t, !!(op->flags & ROCE_OPF_PAYLOAD) == expect_ops[i].payload &&
			     !!(op->flags & ROCE_OPF_REQUEST) == expect_ops[i].request &&
			     !!(op->flags & ROCE_OPF_RESPONSE) == !expect_ops[i].request &&
			     !!(op->flags & ROCE_OPF_START) == expect_ops[i].first &&
			     !!(op->flags & ROCE_OPF_END) == expect_ops[i].last,
			 "%s: flags 0x%x", op->name, op->flags);
		LT_CHECK(t, strncmp(op->name, "RC_", 3) == 0, "%s", op->name);
	}
	for (unsigned c = 0; c < 256; c++) {
		const struct roce_opcode_info *op = roce_opcode_info(c);
		known += op != NULL;
		if (op)
			/* A padded payload is at most 4096 bytes (a multiple of 4). */
			LT_CHECK(t, op->hdr_bytes <= ROCE_HDR_MAX_BYTES && ROCE_PKT_MAX_BYTES >=
				     op->hdr_bytes + (op->flags & ROCE_OPF_PAYLOAD ? 4096 : 0) + 4,
				 "%s: %u header bytes exceed the documented maximum", op->name,
				 op->hdr_bytes);
	}
	LT_CHECK(t, known == LT_N(expect_ops) + 1, "%zu opcodes known, want %zu + CNP", known,
		 LT_N(expect_ops));
	const struct roce_opcode_info *cnp = roce_opcode_info(0x81);
	LT_CHECK(t, cnp && cnp->kind == ROCE_KIND_CNP && cnp->hdr_bytes == 12 &&
		     strcmp(roce_opcode_name(0x81), "CNP") == 0, "CNP entry");
	LT_CHECK(t, roce_opcode_info(0x15) == NULL && roce_opcode_info(0x20) == NULL &&
		     roce_opcode_info(0x64) == NULL && strcmp(roce_opcode_name(0x15), "UNKNOWN") == 0,
		 "0x15, UC, UD are not known");
	LT_CHECK(t, strcmp(roce_opcode_name(ROCE_OP_WRITE_ONLY_IMM),
			   "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE") == 0, "name");
}

static void test_opcode_names_unique(struct lt *t)
{
	const char *seen[256];
	size_t n = 0;

	for (unsigned c = 0; c < 256; c++) {
		const struct roce_opcode_info *op = roce_opcode_info(c);
		if (!op)
			continue;
		for (size_t j = 0; j < n; j++)
			LT_CHECK(t, strcmp(seen[j], op->name) != 0, "name %s twice", op->name);
		seen[n++] = op->name;
	}
}

/* ---- AETH syndromes, credits, RNR timers -------------------------------- */

static void test_aeth_syndromes(struct lt *t)
{
	for (unsigned s = 0; s < 256; s++) {
		/* REFERENCE §7: 0x00-0x1f ACK, 0x20-0x3f RNR NAK, 0x60-0x63 NAK. */
		bool want = s <= 0x3f || (s >= 0x60 && s <= 0x63);
		LT_CHECK(t, roce_aeth_syn_valid((uint8_t)s) == want, "syndrome 0x%02x", s);
		if (!want)
			LT_CHECK(t, strcmp(roce_aeth_syn_name((uint8_t)s), "reserved") == 0, "0x%02x", s);
	}
	LT_CHECK(t, roce_aeth_syn_ack(31) == 0x1f && roce_aeth_syn_rnr_nak(14) == 0x2e &&
		     roce_aeth_syn_nak(ROCE_NAK_PSN_SEQ) == 0x60 &&
		     roce_aeth_syn_nak(ROCE_NAK_REMOTE_OP) == 0x63, "constructors");
	LT_CHECK(t, roce_aeth_syn_type(0x2e) == ROCE_AETH_RNR_NAK && roce_aeth_syn_value(0x2e) == 14 &&
		     roce_aeth_syn_type(0x61) == ROCE_AETH_NAK && roce_aeth_syn_type(0x05) == ROCE_AETH_ACK,
		 "type/value");
	LT_CHECK(t, strcmp(roce_aeth_syn_name(0x00), "ACK") == 0 &&
		     strcmp(roce_aeth_syn_name(0x3f), "RNR NAK") == 0 &&
		     strcmp(roce_aeth_syn_name(0x60), "NAK PSN sequence error") == 0 &&
		     strcmp(roce_aeth_syn_name(0x61), "NAK invalid request") == 0 &&
		     strcmp(roce_aeth_syn_name(0x62), "NAK remote access error") == 0 &&
		     strcmp(roce_aeth_syn_name(0x63), "NAK remote operational error") == 0, "names");
}

/* The IBA doubling pattern of both tables: exact up to 4, then 2^(c/2) for
 * even codes and 3 * 2^((c-3)/2) for odd ones. */
static uint32_t pattern(unsigned c)
{
	if (c <= 4)
		return c;
	return c % 2 == 0 ? 1u << (c / 2) : 3u << ((c - 3) / 2);
}

static void test_credits_and_rnr_timer(struct lt *t)
{
	for (unsigned c = 0; c < 31; c++)
		LT_CHECK(t, roce_aeth_credits(c) == (int32_t)pattern(c), "credit code %u: %d", c,
			 roce_aeth_credits(c));
	LT_CHECK(t, roce_aeth_credits(31) == -1 && roce_aeth_credits(200) == -1, "invalid code");
	/* RNR timer: code c means 0.01 ms * pattern(c); code 0 is 655.36 ms (c = 32). */
	for (unsigned c = 1; c < 32; c++)
		LT_CHECK(t, roce_rnr_timer_usec(c) == 10 * pattern(c), "rnr code %u: %u", c,
			 roce_rnr_timer_usec(c));
	LT_CHECK(t, roce_rnr_timer_usec(0) == 655360 && roce_rnr_timer_usec(14) == 1280 &&
		     roce_rnr_timer_usec(31) == 491520, "rnr spot values");
}

/* ---- PSN --------------------------------------------------------------- */

/* REFERENCE §7, literally: the sign of ((a - b) << 8) as a 32-bit int. */
static int ref_cmp(uint32_t a, uint32_t b)
{
	uint32_t s = (a - b) << 8;
	int32_t v;
	memcpy(&v, &s, sizeof(v));
	return (v > 0) - (v < 0);
}

static void test_psn(struct lt *t)
{
	struct loom_rng r;
	static const uint32_t edge[] = { 0, 1, 2, 0x7ffffe, 0x7fffff, 0x800000, 0x800001,
					 0xfffffe, 0xffffff };

	loom_rng_init(&r, lt_seed(t));
	LT_CHECK(t, roce_psn_add(0xffffff, 1) == 0 && roce_psn_add(0xfffff0, 0x20) == 0x10 &&
		     roce_psn_add(5, 0xffffff) == 4, "add wraps at 2^24");
	for (int i = 0; i < 200000; i++) {
		uint32_t a, b;
		if (i < (int)(LT_N(edge) * LT_N(edge))) {
			a = edge[i / LT_N(edge)], b = edge[i % LT_N(edge)];
		} else {
			a = loom_rng_u32(&r) & ROCE_PSN_MASK;
			b = i % 2 ? roce_psn_add(a, loom_rng_u32(&r) % 64) : loom_rng_u32(&r) & ROCE_PSN_MASK;
		}
		int32_t d = roce_psn_diff(a, b);
		LT_CHECK(t, roce_psn_cmp(a, b) == ref_cmp(a, b), "cmp(%06x, %06x) = %d, ref %d", a, b,
			 roce_psn_cmp(a, b), ref_cmp(a, b));
		LT_CHECK(t, d >= -0x800000 && d < 0x800000 && roce_psn_add(b, (uint32_t)d) == a,
			 "diff(%06x, %06x) = %d", a, b, d);
		if (t->failures)
			return;
	}
	LT_CHECK(t, roce_psn_diff(0, 0xffffff) == 1 && roce_psn_diff(0xffffff, 0) == -1 &&
		     roce_psn_cmp(0x000005, 0xfffffa) > 0, "across the wrap");
}

static const struct lt_case cases[] = {
	LT_CASE(test_bth_golden_cnp),
	LT_CASE(test_bth_fields),
	LT_CASE(test_bth_all_fields),
	LT_CASE(test_bth_reserved_ignored),
	LT_CASE(test_reth),
	LT_CASE(test_aeth),
	LT_CASE(test_atomic_eth),
	LT_CASE(test_atomic_ack_imm_ieth),
	LT_CASE(test_opcode_table),
	LT_CASE(test_opcode_names_unique),
	LT_CASE(test_aeth_syndromes),
	LT_CASE(test_credits_and_rnr_timer),
	LT_CASE(test_psn),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

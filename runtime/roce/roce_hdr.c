/*
 * roce_hdr.c - RoCEv2 transport headers: byte packing of BTH, RETH, AETH,
 * AtomicETH, AtomicAckETH, ImmDt/IETH (IBA 9.2, 9.3), the RC opcode table,
 * and the AETH syndrome, credit and RNR timer encodings.
 *
 * Not here: whole packets and their validation (roce_pkt.c), the ICRC
 * (roce_icrc.c), anything below the UDP payload (roce_frame.c).
 */
#include "loom/roce.h"

#include "roce_bytes.h"

/* ---- BTH (IBA 9.2) ----------------------------------------------------- */

void roce_bth_encode(uint8_t *out, const struct roce_bth *h)
{
	out[ROCE_BTH_OPCODE] = h->opcode;
	out[ROCE_BTH_FLAGS] = (uint8_t)((h->se ? 0x80 : 0) | (h->mig ? 0x40 : 0) |
					(h->pad & 3) << 4 | (h->tver & 0xf));
	put_be16(out + ROCE_BTH_PKEY, h->pkey);
	out[ROCE_BTH_CN] = (uint8_t)((h->fecn ? 0x80 : 0) | (h->becn ? 0x40 : 0));
	put_be24(out + ROCE_BTH_DQPN, h->dqpn & ROCE_QPN_MASK);
	out[ROCE_BTH_ACKREQ] = h->ack_req ? 0x80 : 0;
	put_be24(out + ROCE_BTH_PSN, h->psn & ROCE_PSN_MASK);
}

void roce_bth_decode(struct roce_bth *h, const uint8_t *in)
{
	uint8_t f = in[ROCE_BTH_FLAGS];

	h->opcode = in[ROCE_BTH_OPCODE];
	h->se = f & 0x80;
	h->mig = f & 0x40;
	h->pad = (f >> 4) & 3;
	h->tver = f & 0xf;
	h->pkey = get_be16(in + ROCE_BTH_PKEY);
	h->fecn = in[ROCE_BTH_CN] & 0x80;
	h->becn = in[ROCE_BTH_CN] & 0x40;
	h->dqpn = get_be24(in + ROCE_BTH_DQPN);
	h->ack_req = in[ROCE_BTH_ACKREQ] & 0x80;
	h->psn = get_be24(in + ROCE_BTH_PSN);
}

/* ---- Extension headers (IBA 9.3) --------------------------------------- */

void roce_reth_encode(uint8_t *out, const struct roce_reth *h)
{
	put_be64(out + ROCE_RETH_VA, h->va);
	put_be32(out + ROCE_RETH_RKEY, h->rkey);
	put_be32(out + ROCE_RETH_DMA_LEN, h->dma_len);
}

void roce_reth_decode(struct roce_reth *h, const uint8_t *in)
{
	h->va = get_be64(in + ROCE_RETH_VA);
	h->rkey = get_be32(in + ROCE_RETH_RKEY);
	h->dma_len = get_be32(in + ROCE_RETH_DMA_LEN);
}

void roce_aeth_encode(uint8_t *out, const struct roce_aeth *h)
{
	out[ROCE_AETH_SYNDROME] = h->syndrome;
	put_be24(out + ROCE_AETH_MSN, h->msn & ROCE_MSN_MASK);
}

void roce_aeth_decode(struct roce_aeth *h, const uint8_t *in)
{
	h->syndrome = in[ROCE_AETH_SYNDROME];
	h->msn = get_be24(in + ROCE_AETH_MSN);
}

void roce_atomic_eth_encode(uint8_t *out, const struct roce_atomic_eth *h)
{
	put_be64(out + ROCE_ATOMIC_ETH_VA, h->va);
	put_be32(out + ROCE_ATOMIC_ETH_RKEY, h->rkey);
	put_be64(out + ROCE_ATOMIC_ETH_SWAP_ADD, h->swap_add);
	put_be64(out + ROCE_ATOMIC_ETH_COMPARE, h->compare);
}

void roce_atomic_eth_decode(struct roce_atomic_eth *h, const uint8_t *in)
{
	h->va = get_be64(in + ROCE_ATOMIC_ETH_VA);
	h->rkey = get_be32(in + ROCE_ATOMIC_ETH_RKEY);
	h->swap_add = get_be64(in + ROCE_ATOMIC_ETH_SWAP_ADD);
	h->compare = get_be64(in + ROCE_ATOMIC_ETH_COMPARE);
}

void roce_atomic_ack_eth_encode(uint8_t *out, const struct roce_atomic_ack_eth *h)
{
	put_be64(out, h->orig);
}

void roce_atomic_ack_eth_decode(struct roce_atomic_ack_eth *h, const uint8_t *in)
{
	h->orig = get_be64(in);
}

void roce_u32_encode(uint8_t *out, uint32_t v) { put_be32(out, v); }
uint32_t roce_u32_decode(const uint8_t *in) { return get_be32(in); }

/* ---- Opcode table (IBA 9.2 OpCode field; rxe_opcode.c) ----------------- */

#define REQ ROCE_OPF_REQUEST
#define RSP ROCE_OPF_RESPONSE
#define PAY ROCE_OPF_PAYLOAD
#define FIRST ROCE_OPF_START
#define LAST ROCE_OPF_END
#define ONLY (ROCE_OPF_START | ROCE_OPF_END)
#define MIDDLE 0

#define RETH ROCE_HDR_RETH
#define ATOM ROCE_HDR_ATOMIC_ETH
#define AETH ROCE_HDR_AETH
#define AACK ROCE_HDR_ATOMIC_ACK_ETH
#define IMM ROCE_HDR_IMMDT
#define IETH ROCE_HDR_IETH

#define HDR_BYTES(h)                                                               \
	(ROCE_BTH_BYTES + ((h) & RETH ? ROCE_RETH_BYTES : 0) +                       \
	 ((h) & ATOM ? ROCE_ATOMIC_ETH_BYTES : 0) + ((h) & AETH ? ROCE_AETH_BYTES : 0) + \
	 ((h) & AACK ? ROCE_ATOMIC_ACK_ETH_BYTES : 0) + ((h) & IMM ? ROCE_IMMDT_BYTES : 0) + \
	 ((h) & IETH ? ROCE_IETH_BYTES : 0))

#define OP(code, nm, k, f, h) \
	[code] = { .name = nm, .kind = ROCE_KIND_##k, .flags = (f), .hdrs = (h), .hdr_bytes = HDR_BYTES(h) }

static const struct roce_opcode_info rc_ops[0x18] = {
	OP(0x00, "RC_SEND_FIRST", SEND, REQ | PAY | FIRST, 0),
	OP(0x01, "RC_SEND_MIDDLE", SEND, REQ | PAY | MIDDLE, 0),
	OP(0x02, "RC_SEND_LAST", SEND, REQ | PAY | LAST, 0),
	OP(0x03, "RC_SEND_LAST_WITH_IMMEDIATE", SEND, REQ | PAY | LAST, IMM),
	OP(0x04, "RC_SEND_ONLY", SEND, REQ | PAY | ONLY, 0),
	OP(0x05, "RC_SEND_ONLY_WITH_IMMEDIATE", SEND, REQ | PAY | ONLY, IMM),
	OP(0x06, "RC_RDMA_WRITE_FIRST", WRITE, REQ | PAY | FIRST, RETH),
	OP(0x07, "RC_RDMA_WRITE_MIDDLE", WRITE, REQ | PAY | MIDDLE, 0),
	OP(0x08, "RC_RDMA_WRITE_LAST", WRITE, REQ | PAY | LAST, 0),
	OP(0x09, "RC_RDMA_WRITE_LAST_WITH_IMMEDIATE", WRITE, REQ | PAY | LAST, IMM),
	OP(0x0a, "RC_RDMA_WRITE_ONLY", WRITE, REQ | PAY | ONLY, RETH),
	OP(0x0b, "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE", WRITE, REQ | PAY | ONLY, RETH | IMM),
	OP(0x0c, "RC_RDMA_READ_REQUEST", READ_REQ, REQ | ONLY, RETH),
	OP(0x0d, "RC_RDMA_READ_RESPONSE_FIRST", READ_RESP, RSP | PAY | FIRST, AETH),
	OP(0x0e, "RC_RDMA_READ_RESPONSE_MIDDLE", READ_RESP, RSP | PAY | MIDDLE, 0),
	OP(0x0f, "RC_RDMA_READ_RESPONSE_LAST", READ_RESP, RSP | PAY | LAST, AETH),
	OP(0x10, "RC_RDMA_READ_RESPONSE_ONLY", READ_RESP, RSP | PAY | ONLY, AETH),
	OP(0x11, "RC_ACKNOWLEDGE", ACK, RSP | ONLY, AETH),
	OP(0x12, "RC_ATOMIC_ACKNOWLEDGE", ATOMIC_ACK, RSP | ONLY, AETH | AACK),
	OP(0x13, "RC_COMPARE_SWAP", ATOMIC, REQ | ONLY, ATOM),
	OP(0x14, "RC_FETCH_ADD", ATOMIC, REQ | ONLY, ATOM),
	OP(0x16, "RC_SEND_LAST_WITH_INVALIDATE", SEND, REQ | PAY | LAST, IETH),
	OP(0x17, "RC_SEND_ONLY_WITH_INVALIDATE", SEND, REQ | PAY | ONLY, IETH),
};

/* The CNP: a BTH and 16 reserved bytes (RoCEv2 annex); not part of RC. */
static const struct roce_opcode_info cnp_op = {
	.name = "CNP", .kind = ROCE_KIND_CNP, .flags = PAY | ONLY, .hdrs = 0,
	.hdr_bytes = ROCE_BTH_BYTES,
};

_Static_assert(HDR_BYTES(ATOM) == ROCE_HDR_MAX_BYTES, "the longest headers");

const struct roce_opcode_info *roce_opcode_info(unsigned opcode)
{
	if (opcode == ROCE_OP_CNP)
		return &cnp_op;
	if (opcode < sizeof(rc_ops) / sizeof(rc_ops[0]) && rc_ops[opcode].name)
		return &rc_ops[opcode];
	return NULL;
}

const char *roce_opcode_name(unsigned opcode)
{
	const struct roce_opcode_info *op = roce_opcode_info(opcode);

	return op ? op->name : "UNKNOWN";
}

/* ---- AETH syndrome (IBA 9.3.5) ----------------------------------------- */

bool roce_aeth_syn_valid(uint8_t s)
{
	if (s & 0x80)
		return false;
	switch (roce_aeth_syn_type(s)) {
	case ROCE_AETH_ACK:
	case ROCE_AETH_RNR_NAK:
		return true;
	case ROCE_AETH_NAK:
		return roce_aeth_syn_value(s) <= ROCE_NAK_REMOTE_OP;
	default:
		return false;
	}
}

const char *roce_aeth_syn_name(uint8_t s)
{
	static const char *const nak[] = {
		[ROCE_NAK_PSN_SEQ] = "NAK PSN sequence error",
		[ROCE_NAK_INVALID_REQ] = "NAK invalid request",
		[ROCE_NAK_REMOTE_ACCESS] = "NAK remote access error",
		[ROCE_NAK_REMOTE_OP] = "NAK remote operational error",
	};

	if (!roce_aeth_syn_valid(s))
		return "reserved";
	switch (roce_aeth_syn_type(s)) {
	case ROCE_AETH_ACK:
		return "ACK";
	case ROCE_AETH_RNR_NAK:
		return "RNR NAK";
	default:
		return nak[roce_aeth_syn_value(s)];
	}
}

int32_t roce_aeth_credits(unsigned code)
{
	/* IBA credit count encoding: exact to 4, then 1.5x and 4/3x steps. */
	static const uint16_t credits[ROCE_AETH_CREDIT_INVALID] = {
		0,    1,    2,    3,    4,    6,    8,     12,    16,    24,    32,
		48,   64,   96,   128,  192,  256,  384,   512,   768,   1024,  1536,
		2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768,
	};

	return code < ROCE_AETH_CREDIT_INVALID ? credits[code] : -1;
}

uint32_t roce_rnr_timer_usec(unsigned code)
{
	/* IBA RNR NAK timer field encoding, in microseconds (rxe_comp.c). */
	static const uint32_t usec[32] = {
		655360, 10,    20,    30,    40,    60,    80,    120,
		160,    240,   320,   480,   640,   960,   1280,  1920,
		2560,   3840,  5120,  7680,  10240, 15360, 20480, 30720,
		40960,  61440, 81920, 122880, 163840, 245760, 327680, 491520,
	};

	return usec[code & 31];
}

/*
 * roce.h - the RoCEv2 wire format (REFERENCE.md §7): transport headers,
 * the RC opcode table, 24-bit PSN arithmetic, the ICRC, a packet builder
 * and a validating parser for UDP payloads, and Ethernet/IPv4/UDP frame and
 * pcap parsing for captures.
 *
 * This is the layer every part of the `udp` provider (requester, responder,
 * completer) and every capture check builds on.  It keeps no state: no
 * queue pairs, no sockets, no timers.  All functions are thread-safe and
 * reentrant (the CRC tables are built once, under pthread_once); a struct
 * roce_pcap belongs to one thread at a time.
 *
 * ---- Byte order --------------------------------------------------------
 * Wire headers are big-endian and are packed and unpacked byte by byte
 * (never by casting a packed struct).  The structs below hold fields in
 * host order and are NOT wire layouts.  The one little-endian field is the
 * ICRC (stored least significant byte first, as a reflected CRC-32 is).
 *
 * ---- The ICRC on a UDP socket (a documented deviation) -----------------
 * The ICRC covers the IPv4 and UDP headers (REFERENCE §7; IBA 7.8.1 with
 * the RoCEv2 annex): TOS, TTL, the IP header checksum and the UDP checksum
 * are masked, but the IP identification and flags/fragment offset are not.
 * The udp provider sends through an ordinary UDP socket, so it never sees
 * the IPv4 header the kernel writes.  It relies on this Linux behaviour
 * (ip_select_ident_segs in include/net/ip.h): a datagram sent on an
 * *unconnected* socket with IP_MTU_DISCOVER = IP_PMTUDISC_DO has DF set and
 * IP identification 0 (a connected socket would get the socket's counting
 * inet_id instead; tests/runtime/test_roce_frame.c checks this kernel on
 * loopback).  So:
 *   - the sender computes the ICRC over the header it knows the kernel will
 *     write: version 4, IHL 5, total length 28 + payload, ID 0, DF, protocol
 *     17, its own addresses and ports (roce_ipv4_udp_socket());
 *   - the receiver reconstructs the same header from what recvmsg reports
 *     (source from msg_name, destination from IP_PKTINFO's ipi_addr, the
 *     ports) with ID 0 and DF, and checks the ICRC against it.
 * Hardware RNICs set nonzero IP IDs, so a packet from a real RNIC received
 * on a UDP socket fails Loom's ICRC check: the udp provider talks to itself
 * (and captures of it verify with the frame parser below, which uses the
 * real header bytes).  Senders should also set SO_NO_CHECK so the UDP
 * checksum is 0 as RoCEv2 prescribes (the ICRC masks it either way).
 * With UDP GSO (the udp provider's default, runtime/udp/udp_net.c) the
 * kernel numbers the segments of one send 0, 1, 2, ...: packet k of a GSO
 * group is built with IP ID k and segment k of a received GRO batch is
 * checked with IP ID k (tests/runtime/test_udp_wire.c checks this kernel
 * on a capture); GSO needs the UDP checksum, so those sockets compute one.
 *
 * ---- Errors ------------------------------------------------------------
 * Action functions return 0 (or a length) or a negative errno and set a
 * reason with loom_err_set() (loom/err.h).  The parsers also say *what* was
 * wrong as an enum roce_perr, for counters and for the responder's choice
 * between a silent drop and a NAK (see roce_perr_is_length()).  The parsers
 * never read outside [buf, buf + len): they are fuzzed
 * (tests/fuzz/fuzz_roce_parse.c).
 */
#ifndef LOOM_ROCE_H
#define LOOM_ROCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ROCE_UDP_PORT 4791	/* IANA "roce" (RoCEv2 annex A17) */

/* ---- Header sizes in bytes (REFERENCE §7) ------------------------------ */
enum {
	ROCE_BTH_BYTES = 12,
	ROCE_RETH_BYTES = 16,
	ROCE_AETH_BYTES = 4,
	ROCE_ATOMIC_ETH_BYTES = 28,
	ROCE_ATOMIC_ACK_ETH_BYTES = 8,
	ROCE_IMMDT_BYTES = 4,
	ROCE_IETH_BYTES = 4,
	ROCE_ICRC_BYTES = 4,
	ROCE_CNP_PAYLOAD_BYTES = 16,	/* a CNP's reserved bytes after its BTH */
	/* The longest BTH + extension headers of any opcode (atomic request). */
	ROCE_HDR_MAX_BYTES = ROCE_BTH_BYTES + ROCE_ATOMIC_ETH_BYTES,
	/* Pad (0..3) plus ICRC: what follows the payload. */
	ROCE_TRAILER_MAX_BYTES = 3 + ROCE_ICRC_BYTES,
	ROCE_MTU_MIN = 256,
	ROCE_MTU_MAX = 4096,
	/* Enough for any valid RC packet at any path MTU (a UDP payload). */
	ROCE_PKT_MAX_BYTES = ROCE_HDR_MAX_BYTES + ROCE_MTU_MAX + ROCE_ICRC_BYTES,
	ROCE_IPV4_UDP_BYTES = 20 + 8,	/* IPv4 without options, then UDP */
};

/*
 * Byte offsets of the wire fields (IBA 9.2, 9.3).  Each header's last field
 * ends exactly at its size (checked below), so the layout and the sizes
 * cannot drift apart.
 */
enum roce_bth_off {		/* IBA 9.2 */
	ROCE_BTH_OPCODE = 0,	/* 8 bits */
	ROCE_BTH_FLAGS = 1,	/* SE(7) MigReq(6) PadCnt(5:4) TVer(3:0) */
	ROCE_BTH_PKEY = 2,	/* 16 bits */
	ROCE_BTH_CN = 4,	/* FECN(7) BECN(6) reserved(5:0): masked by the ICRC */
	ROCE_BTH_DQPN = 5,	/* 24 bits */
	ROCE_BTH_ACKREQ = 8,	/* AckReq(7) reserved(6:0) */
	ROCE_BTH_PSN = 9,	/* 24 bits */
};
enum roce_reth_off { ROCE_RETH_VA = 0, ROCE_RETH_RKEY = 8, ROCE_RETH_DMA_LEN = 12 };
enum roce_aeth_off { ROCE_AETH_SYNDROME = 0, ROCE_AETH_MSN = 1 };
enum roce_atomic_eth_off {
	ROCE_ATOMIC_ETH_VA = 0, ROCE_ATOMIC_ETH_RKEY = 8,
	ROCE_ATOMIC_ETH_SWAP_ADD = 12, ROCE_ATOMIC_ETH_COMPARE = 20,
};
#ifdef __cplusplus
#define ROCE_STATIC_ASSERT static_assert
#else
#define ROCE_STATIC_ASSERT _Static_assert
#endif
ROCE_STATIC_ASSERT(ROCE_BTH_PSN + 3 == ROCE_BTH_BYTES, "BTH layout");
ROCE_STATIC_ASSERT(ROCE_RETH_DMA_LEN + 4 == ROCE_RETH_BYTES, "RETH layout");
ROCE_STATIC_ASSERT(ROCE_AETH_MSN + 3 == ROCE_AETH_BYTES, "AETH layout");
ROCE_STATIC_ASSERT(ROCE_ATOMIC_ETH_COMPARE + 8 == ROCE_ATOMIC_ETH_BYTES, "AtomicETH layout");
ROCE_STATIC_ASSERT(ROCE_ATOMIC_ACK_ETH_BYTES == 8 && ROCE_IMMDT_BYTES == 4 &&
		   ROCE_IETH_BYTES == 4 && ROCE_ICRC_BYTES == 4, "one-field headers");

#define ROCE_PSN_MASK 0xffffffu
#define ROCE_QPN_MASK 0xffffffu
#define ROCE_MSN_MASK 0xffffffu

/* ---- Headers in host order --------------------------------------------- */

struct roce_bth {		/* Base Transport Header, IBA 9.2 */
	uint8_t opcode;		/* enum roce_opcode */
	bool se;		/* solicited event */
	bool mig;		/* MigReq */
	uint8_t pad;		/* pad count 0..3 (the builder sets it) */
	uint8_t tver;		/* transport header version: 0 */
	uint16_t pkey;		/* partition key (0xffff: default, full member) */
	bool fecn, becn;	/* RoCEv2 congestion bits */
	uint32_t dqpn;		/* destination QP, 24 bits */
	bool ack_req;		/* AckReq */
	uint32_t psn;		/* packet sequence number, 24 bits */
};

struct roce_reth {		/* RDMA Extended Transport Header, IBA 9.3.3 */
	uint64_t va;
	uint32_t rkey;
	uint32_t dma_len;	/* bytes of the whole message */
};

struct roce_aeth {		/* ACK Extended Transport Header, IBA 9.3.5 */
	uint8_t syndrome;	/* see roce_aeth_syn_* below */
	uint32_t msn;		/* message sequence number, 24 bits */
};

struct roce_atomic_eth {	/* Atomic Extended Transport Header, IBA 9.3.4 */
	uint64_t va;		/* 8-byte aligned (the responder checks) */
	uint32_t rkey;
	uint64_t swap_add;	/* swap value (CMP_SWAP) or addend (FETCH_ADD) */
	uint64_t compare;	/* compare value (CMP_SWAP only) */
};

struct roce_atomic_ack_eth {	/* Atomic ACK ETH, IBA 9.3.6 */
	uint64_t orig;		/* the remote value before the atomic */
};

/* Pack into / unpack from at least the header's size in bytes.  Encoders
 * mask fields to their widths (dqpn, psn, msn: 24 bits; pad: 2; tver: 4)
 * and write reserved bits as 0; decoders ignore reserved bits (IBA 9.2). */
void roce_bth_encode(uint8_t *out, const struct roce_bth *h);
void roce_bth_decode(struct roce_bth *h, const uint8_t *in);
void roce_reth_encode(uint8_t *out, const struct roce_reth *h);
void roce_reth_decode(struct roce_reth *h, const uint8_t *in);
void roce_aeth_encode(uint8_t *out, const struct roce_aeth *h);
void roce_aeth_decode(struct roce_aeth *h, const uint8_t *in);
void roce_atomic_eth_encode(uint8_t *out, const struct roce_atomic_eth *h);
void roce_atomic_eth_decode(struct roce_atomic_eth *h, const uint8_t *in);
void roce_atomic_ack_eth_encode(uint8_t *out, const struct roce_atomic_ack_eth *h);
void roce_atomic_ack_eth_decode(struct roce_atomic_ack_eth *h, const uint8_t *in);
/* ImmDt (IBA 9.3.7) and IETH (IBA 9.3.8) are one 32-bit big-endian field:
 * the immediate value is handled as the number read big-endian. */
void roce_u32_encode(uint8_t *out, uint32_t v);
uint32_t roce_u32_decode(const uint8_t *in);

/* ---- Opcodes (IBA 9.2, OpCode field; RC is transport 000) -------------- */
enum roce_opcode {
	ROCE_OP_SEND_FIRST = 0x00,
	ROCE_OP_SEND_MIDDLE = 0x01,
	ROCE_OP_SEND_LAST = 0x02,
	ROCE_OP_SEND_LAST_IMM = 0x03,
	ROCE_OP_SEND_ONLY = 0x04,
	ROCE_OP_SEND_ONLY_IMM = 0x05,
	ROCE_OP_WRITE_FIRST = 0x06,
	ROCE_OP_WRITE_MIDDLE = 0x07,
	ROCE_OP_WRITE_LAST = 0x08,
	ROCE_OP_WRITE_LAST_IMM = 0x09,
	ROCE_OP_WRITE_ONLY = 0x0a,
	ROCE_OP_WRITE_ONLY_IMM = 0x0b,
	ROCE_OP_READ_REQ = 0x0c,
	ROCE_OP_READ_RESP_FIRST = 0x0d,
	ROCE_OP_READ_RESP_MIDDLE = 0x0e,
	ROCE_OP_READ_RESP_LAST = 0x0f,
	ROCE_OP_READ_RESP_ONLY = 0x10,
	ROCE_OP_ACK = 0x11,
	ROCE_OP_ATOMIC_ACK = 0x12,
	ROCE_OP_CMP_SWAP = 0x13,
	ROCE_OP_FETCH_ADD = 0x14,
	/* 0x15 reserved.  SEND with invalidate (IBA 1.2): parsed so captures
	 * of other RNICs read, never generated by Loom. */
	ROCE_OP_SEND_LAST_INV = 0x16,
	ROCE_OP_SEND_ONLY_INV = 0x17,
	ROCE_OP_CNP = 0x81,	/* congestion notification (RoCEv2 annex) */
};

/* Extension headers an opcode carries; the bit order is the wire order. */
enum roce_hdr {
	ROCE_HDR_RETH = 1u << 0,
	ROCE_HDR_ATOMIC_ETH = 1u << 1,
	ROCE_HDR_AETH = 1u << 2,
	ROCE_HDR_ATOMIC_ACK_ETH = 1u << 3,
	ROCE_HDR_IMMDT = 1u << 4,
	ROCE_HDR_IETH = 1u << 5,
};

enum roce_opf {
	ROCE_OPF_REQUEST = 1u << 0,	/* requester -> responder */
	ROCE_OPF_RESPONSE = 1u << 1,	/* responder -> requester */
	ROCE_OPF_PAYLOAD = 1u << 2,	/* may carry payload */
	ROCE_OPF_START = 1u << 3,	/* first packet of a message (FIRST/ONLY) */
	ROCE_OPF_END = 1u << 4,		/* last packet of a message (LAST/ONLY) */
};	/* Neither START nor END: a MIDDLE packet.  A CNP is neither request
	 * nor response: it tells the sender's QP to slow down. */

enum roce_op_kind {
	ROCE_KIND_SEND, ROCE_KIND_WRITE, ROCE_KIND_READ_REQ, ROCE_KIND_READ_RESP,
	ROCE_KIND_ACK, ROCE_KIND_ATOMIC_ACK, ROCE_KIND_ATOMIC, ROCE_KIND_CNP,
};

struct roce_opcode_info {
	const char *name;	/* "RC_SEND_FIRST", ... (for logs) */
	uint8_t kind;		/* enum roce_op_kind */
	uint8_t flags;		/* enum roce_opf */
	uint8_t hdrs;		/* enum roce_hdr */
	uint8_t hdr_bytes;	/* BTH + extension headers */
};

/* The entry for an opcode, or NULL when it is not RC (nor CNP). */
const struct roce_opcode_info *roce_opcode_info(unsigned opcode);
/* Its name, or "UNKNOWN" (for logs). */
const char *roce_opcode_name(unsigned opcode);

/* ---- AETH syndrome (IBA 9.3.5) ----------------------------------------
 * bit 7 reserved (0); bits 6:5 type; bits 4:0 credit count, RNR timer or
 * NAK code.  ACK 0x00-0x1f, RNR NAK 0x20-0x3f, NAK 0x60-0x63 on RC. */
enum roce_aeth_type {
	ROCE_AETH_ACK = 0, ROCE_AETH_RNR_NAK = 1, ROCE_AETH_RESERVED = 2, ROCE_AETH_NAK = 3,
};
enum roce_nak_code {
	ROCE_NAK_PSN_SEQ = 0,		/* PSN sequence error; the BTH PSN is the expected one */
	ROCE_NAK_INVALID_REQ = 1,	/* invalid request */
	ROCE_NAK_REMOTE_ACCESS = 2,	/* remote access error */
	ROCE_NAK_REMOTE_OP = 3,		/* remote operational error */
};
#define ROCE_AETH_CREDIT_INVALID 0x1f	/* "no credit count": end-to-end flow control off */

static inline uint8_t roce_aeth_syn_ack(unsigned credit) { return (uint8_t)(credit & 0x1f); }
static inline uint8_t roce_aeth_syn_rnr_nak(unsigned timer) { return (uint8_t)(0x20 | (timer & 0x1f)); }
static inline uint8_t roce_aeth_syn_nak(enum roce_nak_code code)
{
	return (uint8_t)(0x60 | ((unsigned)code & 0x1f));
}
static inline enum roce_aeth_type roce_aeth_syn_type(uint8_t s)
{
	return (enum roce_aeth_type)((s >> 5) & 3);
}
/* The low 5 bits: credit code (ACK), timer code (RNR NAK), NAK code (NAK). */
static inline unsigned roce_aeth_syn_value(uint8_t s) { return s & 0x1fu; }
/* True for the syndromes an RC responder may send (ACK, RNR NAK, NAK 0-3). */
bool roce_aeth_syn_valid(uint8_t s);
/* "ACK", "RNR NAK", "NAK PSN sequence error", ..., "reserved" (for logs). */
const char *roce_aeth_syn_name(uint8_t s);
/* Credits an ACK's credit code grants (the IBA end-to-end flow control
 * credit table: 0..4 -> 0..4, then 6, 8, 12, ... 32768), -1 for 31. */
int32_t roce_aeth_credits(unsigned code);
/* An RNR NAK timer code (or a QP's min_rnr_timer) in microseconds: 1 ->
 * 10, ..., 31 -> 491520, 0 -> 655360 (the IBA RNR timer table, as rxe). */
uint32_t roce_rnr_timer_usec(unsigned code);

/* ---- PSN arithmetic (24 bits, REFERENCE §7) ---------------------------- */
static inline uint32_t roce_psn_add(uint32_t psn, uint32_t n) { return (psn + n) & ROCE_PSN_MASK; }
/* a - b as a signed distance in [-2^23, 2^23): sign((a - b) << 8 as int32),
 * magnitude mod 2^24.  Written without implementation-defined shifts. */
static inline int32_t roce_psn_diff(uint32_t a, uint32_t b)
{
	uint32_t d = (a - b) & ROCE_PSN_MASK;
	return d & 0x800000u ? (int32_t)d - 0x1000000 : (int32_t)d;
}
/* <0, 0, >0 as a is before, equal to, after b in the 24-bit window. */
static inline int roce_psn_cmp(uint32_t a, uint32_t b)
{
	int32_t d = roce_psn_diff(a, b);
	return (d > 0) - (d < 0);
}

/* ---- IPv4 + UDP context of a packet (what the ICRC covers) ------------- */
#define ROCE_IP_DF 0x4000	/* IPv4 "don't fragment" in flags/fragment offset */

struct roce_ipv4_udp {
	uint32_t saddr, daddr;	/* IPv4 addresses, host order */
	uint16_t sport, dport;	/* UDP ports, host order */
	uint16_t ip_id;		/* identification (covered by the ICRC) */
	uint16_t ip_frag;	/* flags + fragment offset (covered) */
	uint8_t tos, ttl;	/* masked by the ICRC; used when writing a header */
};

/* The context of a datagram sent on an unconnected UDP socket with
 * IP_PMTUDISC_DO (ID 0, DF; see the top of this file); tos 0, ttl 64. */
void roce_ipv4_udp_socket(struct roce_ipv4_udp *ip, uint32_t saddr, uint16_t sport,
			  uint32_t daddr, uint16_t dport);
/* Write the 28-byte IPv4 (IHL 5, protocol 17, correct header checksum) and
 * UDP (checksum 0) headers for a UDP payload of udp_payload_bytes. */
void roce_ipv4_udp_encode(uint8_t out[ROCE_IPV4_UDP_BYTES], const struct roce_ipv4_udp *ip,
			  size_t udp_payload_bytes);

/* ---- CRC-32 and ICRC (roce_icrc.c) ------------------------------------- */
/* zlib's crc32(): reflected CRC-32, polynomial 0xedb88320, initial and final
 * xor included; chain by passing the previous result (start with 0).
 * roce_crc32(0, "123456789", 9) == 0xcbf43926.  Carry-less multiply
 * (PCLMULQDQ) where the CPU has it, slicing-by-8 tables otherwise. */
uint32_t roce_crc32(uint32_t crc, const void *buf, size_t len);
/* The ICRC of a packet: ip_udp is its 28 IPv4 + UDP header bytes as on the
 * wire, pkt its UDP payload of len bytes (len >= BTH + ICRC; the last 4
 * bytes, the ICRC itself, are not covered).  Masks TOS, TTL, IP checksum,
 * UDP checksum and BTH byte 4 on copies; returns the value stored
 * little-endian in the last 4 bytes.  0 when len < BTH + ICRC. */
uint32_t roce_icrc_calc(const uint8_t ip_udp[ROCE_IPV4_UDP_BYTES], const uint8_t *pkt, size_t len);
/* The same for a UDP payload received from (or sent to) a socket: the IPv4
 * and UDP headers are rebuilt from ip (roce_ipv4_udp_encode). */
uint32_t roce_icrc_udp(const struct roce_ipv4_udp *ip, const uint8_t *pkt, size_t len);
/* Incremental form for scatter lists: start over the header bytes (BTH and
 * extension headers, hdr_bytes >= BTH) of a packet whose whole UDP payload
 * is udp_payload_bytes long, feed payload and pad with roce_crc32(), and
 * the final CRC is the ICRC. */
uint32_t roce_icrc_begin(const struct roce_ipv4_udp *ip, const uint8_t *hdr, size_t hdr_bytes,
			 size_t udp_payload_bytes);

/* ---- Parse errors ------------------------------------------------------ */
enum roce_perr {
	ROCE_PERR_NONE = 0,
	/* UDP payload (roce_pkt_parse); headers untrusted: drop silently (IBA 9.6) */
	ROCE_PERR_SHORT,	/* shorter than BTH + ICRC */
	ROCE_PERR_ICRC,		/* ICRC mismatch */
	ROCE_PERR_OPCODE,	/* not an RC opcode nor CNP */
	ROCE_PERR_TVER,		/* transport header version not 0 */
	ROCE_PERR_HDR_SHORT,	/* shorter than the opcode's headers + ICRC */
	ROCE_PERR_ALIGN,	/* length not a multiple of 4 */
	ROCE_PERR_PAD,		/* pad count larger than the padded payload */
	ROCE_PERR_AETH,		/* reserved AETH syndrome, or a NAK outside an ACK */
	/* Length errors (IBA 9.7.4.1.6): headers decoded and valid */
	ROCE_PERR_LEN_UNEXPECTED,	/* payload on an opcode that has none */
	ROCE_PERR_LEN_NOT_MTU,		/* FIRST/MIDDLE payload != path MTU */
	ROCE_PERR_LEN_OVER_MTU,		/* ONLY/LAST payload > path MTU */
	ROCE_PERR_LEN_EMPTY_LAST,	/* LAST packet without payload */
	ROCE_PERR_LEN_DMA,		/* WRITE ONLY payload != DMA length, FIRST >= it */
	ROCE_PERR_LEN_CNP,		/* CNP without exactly its 16 reserved bytes */
	/* Frames (roce_frame_parse) */
	ROCE_PERR_TRUNCATED,	/* frame shorter than its headers say (snap length?) */
	ROCE_PERR_NOT_IPV4,	/* not IPv4 (-ENOENT: not RoCEv2 over IPv4) */
	ROCE_PERR_NOT_UDP,	/* not UDP (-ENOENT) */
	ROCE_PERR_NOT_PORT,	/* UDP, other destination port (-ENOENT) */
	ROCE_PERR_IP_HDR,	/* IHL < 5, or IPv4 options (not supported) */
	ROCE_PERR_IP_LEN,	/* total length < headers */
	ROCE_PERR_IP_CSUM,	/* IPv4 header checksum wrong */
	ROCE_PERR_IP_FRAG,	/* a fragment (RoCEv2 is never fragmented) */
	ROCE_PERR_UDP_LEN,	/* UDP length != IP total length - 20 */
	ROCE_PERR_COUNT
};

const char *roce_perr_name(enum roce_perr e);	/* "icrc", "len_not_mtu", ... */
/* Length errors: the packet's headers were decoded and are valid, only its
 * payload length breaks a rule; an RC responder answers NAK invalid request
 * (IBA 9.7.4.1.6) where every other error is dropped silently (IBA 9.6). */
bool roce_perr_is_length(enum roce_perr e);

/* ---- Packets (UDP payloads): build and parse (roce_pkt.c) -------------- */
struct roce_pkt {
	struct roce_bth bth;
	const struct roce_opcode_info *op;	/* parse: the opcode's entry */
	/* Extension headers: those in op->hdrs are meaningful. */
	struct roce_reth reth;
	struct roce_atomic_eth atomic;
	struct roce_aeth aeth;
	struct roce_atomic_ack_eth atomic_ack;
	uint32_t imm;		/* ImmDt */
	uint32_t ieth_rkey;	/* IETH */
	const uint8_t *payload;	/* build: the payload; parse: into the buffer */
	uint32_t payload_bytes;	/* without pad */
	uint32_t icrc;		/* parse: the ICRC stored in the packet */
	enum roce_perr err;	/* parse: why it was rejected (NONE if not) */
};

/*
 * Encode a packet without copying its payload (for sendmsg with iovecs):
 * BTH and extension headers into hdr (*hdr_bytes set), pad bytes (zero) and
 * ICRC into trl (*trl_bytes set); the datagram is hdr | iov... | trl.  The
 * payload is iov (iovcnt entries, total <= ROCE_MTU_MAX); pkt->payload is
 * not used.  The pad count in the BTH is derived from the payload length;
 * pkt->bth.pad, pkt->icrc and pkt->err are ignored.  pmtu: the path MTU
 * (256..4096, a power of 2) the payload rules are checked against, or 0 to
 * check only against 4096.  ip: for the ICRC (required).
 * Returns 0, or -EINVAL (unknown opcode, tver != 0, a field out of range, a
 * payload rule broken: the same rules as the parser) with a reason.
 */
int roce_pkt_encode_iov(uint8_t hdr[ROCE_HDR_MAX_BYTES], size_t *hdr_bytes,
			uint8_t trl[ROCE_TRAILER_MAX_BYTES], size_t *trl_bytes,
			const struct roce_pkt *pkt, const struct iovec *iov, int iovcnt,
			unsigned pmtu, const struct roce_ipv4_udp *ip);
/* The same written contiguously into buf (cap bytes): returns the UDP
 * payload's length, or -EINVAL as above, -ENOSPC when cap is too small. */
int roce_pkt_build_iov(void *buf, size_t cap, const struct roce_pkt *pkt,
		       const struct iovec *iov, int iovcnt, unsigned pmtu,
		       const struct roce_ipv4_udp *ip);
/* The same with the payload pkt->payload / pkt->payload_bytes. */
int roce_pkt_build(void *buf, size_t cap, const struct roce_pkt *pkt, unsigned pmtu,
		   const struct roce_ipv4_udp *ip);

/*
 * Parse and validate one UDP payload of len bytes.  pmtu: the QP's path MTU
 * (256..4096, power of 2), or 0 when unknown (captures: FIRST/MIDDLE
 * payloads must then be one of the five MTUs, ONLY/LAST <= 4096).  ip: when
 * non-NULL the ICRC is checked first against the header it describes
 * (roce_icrc_udp); NULL skips the ICRC check (pkt->icrc is still read).
 * Returns 0, -EBADMSG with pkt->err and a reason naming the opcode and the
 * numbers, or -EINVAL for bad arguments (NULL, pmtu not a valid MTU).  On a
 * length error (roce_perr_is_length) everything but the payload rule is
 * valid, so a responder can NAK it; payload then points at the payload.
 * Payload rules (IBA 9.7.4.1.6): FIRST and MIDDLE carry exactly pmtu bytes,
 * LAST 1..pmtu, ONLY 0..pmtu; READ request, ACK, atomic and atomic ACK
 * none; WRITE ONLY carries its DMA length, WRITE FIRST less than it; a CNP
 * its 16 reserved bytes.  Not checked here (the responder's job): P_Key,
 * QPN, PSN window, atomic VA alignment, rkeys.
 */
int roce_pkt_parse(struct roce_pkt *pkt, const void *buf, size_t len, unsigned pmtu,
		   const struct roce_ipv4_udp *ip);

/* True when pmtu is 256, 512, 1024, 2048 or 4096. */
bool roce_mtu_valid(unsigned pmtu);

/* ---- Frames: captures (roce_frame.c) ----------------------------------- */
/* Link layers, numbered as pcap LINKTYPE_* values. */
enum roce_link {
	ROCE_LINK_ETHERNET = 1,		/* optionally one 802.1Q / 802.1ad tag */
	ROCE_LINK_RAW = 101,		/* raw IP, no link header */
	ROCE_LINK_LINUX_SLL = 113,	/* "cooked" capture on "any", v1 */
	ROCE_LINK_IPV4 = 228,		/* raw IPv4 */
	ROCE_LINK_LINUX_SLL2 = 276,	/* "cooked" capture on "any", v2 */
};

struct roce_frame {
	bool vlan;			/* carried an 802.1Q/802.1ad tag */
	uint16_t vlan_tci;		/* its tag control (PCP, DEI, VID) */
	struct roce_ipv4_udp ip;	/* as found in the frame */
	const uint8_t *udp_payload;	/* into the frame */
	uint32_t udp_payload_bytes;
	uint32_t icrc_calc;		/* computed over the frame's real headers */
	struct roce_pkt pkt;		/* the parsed RoCE packet */
	enum roce_perr err;		/* why it was rejected (NONE if not) */
};

/*
 * Parse one captured frame (caplen bytes) of the given link type: link
 * header, IPv4 (no options, not fragmented, header checksum correct), UDP to
 * udp_port (ROCE_UDP_PORT normally), then the ICRC over the real IPv4/UDP
 * header bytes, then roce_pkt_parse(pmtu, no ip: the ICRC is already
 * checked).  Bytes after the IPv4 total length (Ethernet padding, FCS) are
 * ignored.  Returns 0; -ENOENT with f->err NOT_IPV4/NOT_UDP/NOT_PORT for a
 * frame that is not RoCEv2 over IPv4 (other traffic in a capture); -EBADMSG
 * for a malformed one (f->err, and f->pkt.err for errors in the RoCE
 * packet); -EINVAL for bad arguments.  Always with a reason.
 */
int roce_frame_parse(struct roce_frame *f, const void *frame, size_t caplen, enum roce_link link,
		     unsigned pmtu, uint16_t udp_port);
/* The ICRC over a whole frame's real headers (the capture entry point):
 * locate IPv4/UDP as roce_frame_parse does, compute, store in *icrc.
 * Returns 0 or the negative errno roce_frame_parse would. */
int roce_icrc_frame(uint32_t *icrc, const void *frame, size_t caplen, enum roce_link link,
		    uint16_t udp_port);

/* ---- pcap files (roce_pcap.c) -----------------------------------------
 * Classic libpcap files, either byte order, microsecond or nanosecond
 * time stamps, link types above.  pcapng (dumpcap's default) is refused
 * with a message: capture with `-F pcap`.  Records are read one at a time;
 * a record's data stays valid until the next roce_pcap_next() or close. */
struct roce_pcap;

struct roce_pcap_rec {
	uint64_t ts_ns;		/* time stamp, ns since the epoch */
	uint32_t caplen;	/* bytes captured (data) */
	uint32_t origlen;	/* bytes on the wire */
	const uint8_t *data;
};

/* NULL (with a reason) on failure: cannot open, not pcap, unsupported link. */
struct roce_pcap *roce_pcap_open(const char *path);
/* The same over a file already open, read from its current position;
 * roce_pcap_close closes it when owned (on failure it is never closed).
 * For in-memory files (fmemopen) and pipes. */
struct roce_pcap *roce_pcap_open_file(FILE *fp, bool owned, const char *name);
enum roce_link roce_pcap_link(const struct roce_pcap *p);
/* 1 and *rec filled; 0 at the end of the file; -EBADMSG (truncated or
 * oversized record, with the record's index) or -EIO. */
int roce_pcap_next(struct roce_pcap *p, struct roce_pcap_rec *rec);
void roce_pcap_close(struct roce_pcap *p);

#ifdef __cplusplus
}
#endif
#endif

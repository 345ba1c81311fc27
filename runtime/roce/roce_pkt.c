/*
 * roce_pkt.c - RoCEv2 packets as UDP payloads: the builder (BTH | extension
 * headers | payload | pad | ICRC) and the validating parser.
 *
 * Both apply the same rules (IBA 9.6 header validation, IBA 9.7.4.1.6
 * payload lengths), so a packet the builder writes always parses, and the
 * builder refuses what the parser would reject.  The parser reads only
 * inside [buf, buf + len) whatever the bytes say; it is the fuzz target.
 *
 * Not here: QP state (PSN windows, P_Key and QPN checks, rkeys) - that is
 * the responder's and completer's; frames below UDP (roce_frame.c).
 */
#include "loom/roce.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loom/err.h"
#include "roce_bytes.h"

static const char *const perr_names[ROCE_PERR_COUNT] = {
	[ROCE_PERR_NONE] = "none",
	[ROCE_PERR_SHORT] = "short",
	[ROCE_PERR_ICRC] = "icrc",
	[ROCE_PERR_OPCODE] = "opcode",
	[ROCE_PERR_TVER] = "tver",
	[ROCE_PERR_HDR_SHORT] = "hdr_short",
	[ROCE_PERR_ALIGN] = "align",
	[ROCE_PERR_PAD] = "pad",
	[ROCE_PERR_AETH] = "aeth",
	[ROCE_PERR_LEN_UNEXPECTED] = "len_unexpected",
	[ROCE_PERR_LEN_NOT_MTU] = "len_not_mtu",
	[ROCE_PERR_LEN_OVER_MTU] = "len_over_mtu",
	[ROCE_PERR_LEN_EMPTY_LAST] = "len_empty_last",
	[ROCE_PERR_LEN_DMA] = "len_dma",
	[ROCE_PERR_LEN_CNP] = "len_cnp",
	[ROCE_PERR_TRUNCATED] = "truncated",
	[ROCE_PERR_NOT_IPV4] = "not_ipv4",
	[ROCE_PERR_NOT_UDP] = "not_udp",
	[ROCE_PERR_NOT_PORT] = "not_port",
	[ROCE_PERR_IP_HDR] = "ip_hdr",
	[ROCE_PERR_IP_LEN] = "ip_len",
	[ROCE_PERR_IP_CSUM] = "ip_csum",
	[ROCE_PERR_IP_FRAG] = "ip_frag",
	[ROCE_PERR_UDP_LEN] = "udp_len",
};

const char *roce_perr_name(enum roce_perr e)
{
	return (unsigned)e < ROCE_PERR_COUNT && perr_names[e] ? perr_names[e] : "unknown";
}

bool roce_perr_is_length(enum roce_perr e)
{
	return e >= ROCE_PERR_LEN_UNEXPECTED && e <= ROCE_PERR_LEN_CNP;
}

bool roce_mtu_valid(unsigned pmtu)
{
	return pmtu >= ROCE_MTU_MIN && pmtu <= ROCE_MTU_MAX && (pmtu & (pmtu - 1)) == 0;
}

/* ---- Rules shared by the builder and the parser ------------------------ */

static void payload_reason(const struct roce_opcode_info *op, enum roce_perr e, uint32_t bytes,
			   unsigned pmtu, const struct roce_reth *reth)
{
	static const char *const rule[ROCE_PERR_COUNT] = {
		[ROCE_PERR_LEN_UNEXPECTED] = "it carries no payload",
		[ROCE_PERR_LEN_NOT_MTU] = "FIRST and MIDDLE packets carry exactly the path MTU",
		[ROCE_PERR_LEN_OVER_MTU] = "more than the path MTU",
		[ROCE_PERR_LEN_EMPTY_LAST] = "a LAST packet carries at least 1 byte",
		[ROCE_PERR_LEN_DMA] = "WRITE ONLY carries its DMA length, WRITE FIRST less",
		[ROCE_PERR_LEN_CNP] = "a CNP carries 16 reserved bytes",
	};
	char dma[32] = "";

	if (op->hdrs & ROCE_HDR_RETH)
		snprintf(dma, sizeof(dma), ", DMA length %u", reth->dma_len);
	loom_err_set(EBADMSG, "roce: %s: %u payload bytes (path MTU %u%s%s): %s", op->name, bytes,
		     pmtu ? pmtu : ROCE_MTU_MAX, pmtu ? "" : " or less", dma, rule[e]);
}

/*
 * Payload length rules (IBA 9.7.4.1.6).  Returns ROCE_PERR_NONE or the
 * length error, with a reason set.  pmtu 0: unknown (any valid MTU).
 */
static enum roce_perr payload_rule(const struct roce_opcode_info *op, const struct roce_reth *reth,
				   uint32_t bytes, unsigned pmtu)
{
	bool start = op->flags & ROCE_OPF_START, end = op->flags & ROCE_OPF_END;
	unsigned max = pmtu ? pmtu : ROCE_MTU_MAX;
	enum roce_perr e = ROCE_PERR_NONE;

	if (op->kind == ROCE_KIND_CNP) {
		if (bytes != ROCE_CNP_PAYLOAD_BYTES)
			e = ROCE_PERR_LEN_CNP;
	} else if (!(op->flags & ROCE_OPF_PAYLOAD)) {
		if (bytes)
			e = ROCE_PERR_LEN_UNEXPECTED;
	} else if (!end) {
		if (pmtu ? bytes != pmtu : !roce_mtu_valid(bytes))
			e = ROCE_PERR_LEN_NOT_MTU;
	} else if (bytes > max) {
		e = ROCE_PERR_LEN_OVER_MTU;
	} else if (!start && bytes == 0) {
		e = ROCE_PERR_LEN_EMPTY_LAST;
	}
	if (e == ROCE_PERR_NONE && op->kind == ROCE_KIND_WRITE && (op->hdrs & ROCE_HDR_RETH) &&
	    (end ? bytes != reth->dma_len : bytes >= reth->dma_len))
		e = ROCE_PERR_LEN_DMA;
	if (e != ROCE_PERR_NONE)
		payload_reason(op, e, bytes, pmtu, reth);
	return e;
}

/* AETH: a syndrome an RC responder may send; NAKs only in ACKNOWLEDGE. */
static bool aeth_ok(const struct roce_opcode_info *op, uint8_t syndrome)
{
	if (!(op->hdrs & ROCE_HDR_AETH))
		return true;
	if (!roce_aeth_syn_valid(syndrome)) {
		loom_err_set(EBADMSG, "roce: %s: reserved AETH syndrome 0x%02x", op->name, syndrome);
		return false;
	}
	if (op->kind != ROCE_KIND_ACK && roce_aeth_syn_type(syndrome) != ROCE_AETH_ACK) {
		loom_err_set(EBADMSG, "roce: %s carries AETH %s (0x%02x): NAKs travel in RC_ACKNOWLEDGE",
			     op->name, roce_aeth_syn_name(syndrome), syndrome);
		return false;
	}
	return true;
}

/* ---- Builder ----------------------------------------------------------- */

/* BTH then the extension headers in wire order; returns the bytes written. */
static size_t hdrs_encode(uint8_t *out, const struct roce_pkt *pkt,
			  const struct roce_opcode_info *op, unsigned pad)
{
	struct roce_bth bth = pkt->bth;
	size_t n = ROCE_BTH_BYTES;

	bth.pad = (uint8_t)pad;
	roce_bth_encode(out, &bth);
	if (op->hdrs & ROCE_HDR_RETH)
		roce_reth_encode(out + n, &pkt->reth), n += ROCE_RETH_BYTES;
	if (op->hdrs & ROCE_HDR_ATOMIC_ETH)
		roce_atomic_eth_encode(out + n, &pkt->atomic), n += ROCE_ATOMIC_ETH_BYTES;
	if (op->hdrs & ROCE_HDR_AETH)
		roce_aeth_encode(out + n, &pkt->aeth), n += ROCE_AETH_BYTES;
	if (op->hdrs & ROCE_HDR_ATOMIC_ACK_ETH)
		roce_atomic_ack_eth_encode(out + n, &pkt->atomic_ack), n += ROCE_ATOMIC_ACK_ETH_BYTES;
	if (op->hdrs & ROCE_HDR_IMMDT)
		roce_u32_encode(out + n, pkt->imm), n += ROCE_IMMDT_BYTES;
	if (op->hdrs & ROCE_HDR_IETH)
		roce_u32_encode(out + n, pkt->ieth_rkey), n += ROCE_IETH_BYTES;
	return n;
}

/* The total length of iov, or -EINVAL past ROCE_MTU_MAX or on a NULL base. */
static long iov_bytes(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return loom_err_set(EINVAL, "roce: build: iov[%d] has %zu bytes at NULL", i,
					    iov[i].iov_len);
		if (iov[i].iov_len > ROCE_MTU_MAX - total)
			return loom_err_set(EINVAL, "roce: build: payload longer than %d bytes",
					    ROCE_MTU_MAX);
		total += iov[i].iov_len;
	}
	return (long)total;
}

/* Everything the builder refuses before it writes a byte. */
static int build_check(const struct roce_pkt *pkt, const struct roce_opcode_info *op,
		       uint32_t bytes, unsigned pmtu)
{
	const struct roce_bth *b = &pkt->bth;

	if (!op)
		return loom_err_set(EINVAL, "roce: build: opcode 0x%02x is not RC nor CNP", b->opcode);
	if (b->tver || b->dqpn > ROCE_QPN_MASK || b->psn > ROCE_PSN_MASK)
		return loom_err_set(EINVAL, "roce: build: %s: tver %u (must be 0), dqpn 0x%x, psn 0x%x "
				    "(24 bits)", op->name, b->tver, b->dqpn, b->psn);
	if ((op->hdrs & ROCE_HDR_AETH) && pkt->aeth.msn > ROCE_MSN_MASK)
		return loom_err_set(EINVAL, "roce: build: %s: msn 0x%x exceeds 24 bits", op->name,
				    pkt->aeth.msn);
	/* Both set the reason; the builder answers -EINVAL, not -EBADMSG. */
	if (!aeth_ok(op, pkt->aeth.syndrome) || payload_rule(op, &pkt->reth, bytes, pmtu))
		return -EINVAL;
	return 0;
}

int roce_pkt_encode_iov(uint8_t hdr[ROCE_HDR_MAX_BYTES], size_t *hdr_bytes,
			uint8_t trl[ROCE_TRAILER_MAX_BYTES], size_t *trl_bytes,
			const struct roce_pkt *pkt, const struct iovec *iov, int iovcnt,
			unsigned pmtu, const struct roce_ipv4_udp *ip)
{
	if (!hdr || !hdr_bytes || !trl || !trl_bytes || !pkt || !ip || iovcnt < 0 ||
	    (iovcnt && !iov))
		return loom_err_set(EINVAL, "roce: build: NULL argument or iovcnt %d < 0", iovcnt);
	if (pmtu && !roce_mtu_valid(pmtu))
		return loom_err_set(EINVAL, "roce: build: path MTU %u is not 256..4096, a power of 2",
				    pmtu);
	long bytes = iov_bytes(iov, iovcnt);
	if (bytes < 0)
		return (int)bytes;
	const struct roce_opcode_info *op = roce_opcode_info(pkt->bth.opcode);
	int err = build_check(pkt, op, (uint32_t)bytes, pmtu);
	if (err)
		return err;

	unsigned pad = (4 - (unsigned)bytes % 4) % 4;
	size_t n = hdrs_encode(hdr, pkt, op, pad);
	uint32_t crc = roce_icrc_begin(ip, hdr, n, n + (size_t)bytes + pad + ROCE_ICRC_BYTES);
	for (int i = 0; i < iovcnt; i++)
		crc = roce_crc32(crc, iov[i].iov_base, iov[i].iov_len);
	memset(trl, 0, pad);
	crc = roce_crc32(crc, trl, pad);
	put_le32(trl + pad, crc);
	*hdr_bytes = n;
	*trl_bytes = pad + ROCE_ICRC_BYTES;
	return 0;
}

int roce_pkt_build_iov(void *buf, size_t cap, const struct roce_pkt *pkt,
		       const struct iovec *iov, int iovcnt, unsigned pmtu,
		       const struct roce_ipv4_udp *ip)
{
	uint8_t hdr[ROCE_HDR_MAX_BYTES], trl[ROCE_TRAILER_MAX_BYTES];
	size_t nh, nt;

	if (!buf)
		return loom_err_set(EINVAL, "roce: build: NULL buffer");
	int err = roce_pkt_encode_iov(hdr, &nh, trl, &nt, pkt, iov, iovcnt, pmtu, ip);
	if (err)
		return err;
	size_t bytes = (size_t)iov_bytes(iov, iovcnt), total = nh + bytes + nt;
	if (total > cap)
		return loom_err_set(ENOSPC, "roce: build: %s needs %zu bytes, buffer has %zu",
				    roce_opcode_name(pkt->bth.opcode), total, cap);

	uint8_t *p = buf;
	memcpy(p, hdr, nh);
	p += nh;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			memcpy(p, iov[i].iov_base, iov[i].iov_len), p += iov[i].iov_len;
	memcpy(p, trl, nt);
	return (int)total;
}

int roce_pkt_build(void *buf, size_t cap, const struct roce_pkt *pkt, unsigned pmtu,
		   const struct roce_ipv4_udp *ip)
{
	if (!pkt)
		return loom_err_set(EINVAL, "roce: build: NULL packet");
	struct iovec iov = { .iov_base = (void *)pkt->payload, .iov_len = pkt->payload_bytes };
	return roce_pkt_build_iov(buf, cap, pkt, &iov, 1, pmtu, ip);
}

/* ---- Parser ------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static int reject(struct roce_pkt *pkt, enum roce_perr e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pkt->err = e;
	return loom_err_set(EBADMSG, "%s", msg);
}

/* The extension headers of op, in wire order, from p (already bounded). */
static void ext_decode(struct roce_pkt *pkt, const struct roce_opcode_info *op, const uint8_t *p)
{
	size_t n = ROCE_BTH_BYTES;

	if (op->hdrs & ROCE_HDR_RETH)
		roce_reth_decode(&pkt->reth, p + n), n += ROCE_RETH_BYTES;
	if (op->hdrs & ROCE_HDR_ATOMIC_ETH)
		roce_atomic_eth_decode(&pkt->atomic, p + n), n += ROCE_ATOMIC_ETH_BYTES;
	if (op->hdrs & ROCE_HDR_AETH)
		roce_aeth_decode(&pkt->aeth, p + n), n += ROCE_AETH_BYTES;
	if (op->hdrs & ROCE_HDR_ATOMIC_ACK_ETH)
		roce_atomic_ack_eth_decode(&pkt->atomic_ack, p + n), n += ROCE_ATOMIC_ACK_ETH_BYTES;
	if (op->hdrs & ROCE_HDR_IMMDT)
		pkt->imm = roce_u32_decode(p + n), n += ROCE_IMMDT_BYTES;
	if (op->hdrs & ROCE_HDR_IETH)
		pkt->ieth_rkey = roce_u32_decode(p + n);
}

/* Steps 1-2: length, ICRC (when the IP context is known), BTH. */
static int parse_bth(struct roce_pkt *pkt, const uint8_t *p, size_t len,
		     const struct roce_ipv4_udp *ip)
{
	if (len < ROCE_BTH_BYTES + ROCE_ICRC_BYTES)
		return reject(pkt, ROCE_PERR_SHORT, "roce: %zu-byte packet is shorter than BTH + ICRC "
			      "(16 bytes)", len);
	pkt->icrc = get_le32(p + len - ROCE_ICRC_BYTES);
	if (ip) {
		uint32_t calc = roce_icrc_udp(ip, p, len);
		if (calc != pkt->icrc)
			return reject(pkt, ROCE_PERR_ICRC, "roce: ICRC 0x%08x, computed 0x%08x (%zu bytes "
				      "from port %u to %u)", pkt->icrc, calc, len, ip->sport, ip->dport);
	}
	roce_bth_decode(&pkt->bth, p);
	pkt->op = roce_opcode_info(pkt->bth.opcode);
	if (!pkt->op)
		return reject(pkt, ROCE_PERR_OPCODE, "roce: opcode 0x%02x is not RC nor CNP",
			      pkt->bth.opcode);
	if (pkt->bth.tver)
		return reject(pkt, ROCE_PERR_TVER, "roce: %s: TVer %u, not 0", pkt->op->name,
			      pkt->bth.tver);
	return 0;
}

int roce_pkt_parse(struct roce_pkt *pkt, const void *buf, size_t len, unsigned pmtu,
		   const struct roce_ipv4_udp *ip)
{
	if (!pkt || (!buf && len))
		return loom_err_set(EINVAL, "roce: parse: NULL argument");
	memset(pkt, 0, sizeof(*pkt));
	if (pmtu && !roce_mtu_valid(pmtu))
		return loom_err_set(EINVAL, "roce: parse: path MTU %u is not 256..4096, a power of 2",
				    pmtu);
	const uint8_t *p = buf;
	int err = parse_bth(pkt, p, len, ip);
	if (err)
		return err;

	const struct roce_opcode_info *op = pkt->op;
	if (len < (size_t)op->hdr_bytes + ROCE_ICRC_BYTES)
		return reject(pkt, ROCE_PERR_HDR_SHORT, "roce: %s: %zu bytes, its headers and ICRC "
			      "need %u", op->name, len, op->hdr_bytes + ROCE_ICRC_BYTES);
	ext_decode(pkt, op, p);
	if (len % 4)
		return reject(pkt, ROCE_PERR_ALIGN, "roce: %s: %zu bytes, not a multiple of 4",
			      op->name, len);
	size_t padded = len - op->hdr_bytes - ROCE_ICRC_BYTES;
	if (pkt->bth.pad > padded)
		return reject(pkt, ROCE_PERR_PAD, "roce: %s: pad count %u > %zu payload bytes",
			      op->name, pkt->bth.pad, padded);
	pkt->payload = p + op->hdr_bytes;
	/* Saturated: a longer one is over any MTU (only len > 4 GiB gets here). */
	size_t bytes = padded - pkt->bth.pad;
	pkt->payload_bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
	if (!aeth_ok(op, pkt->aeth.syndrome)) {
		pkt->err = ROCE_PERR_AETH;
		return -EBADMSG;
	}
	enum roce_perr e = payload_rule(op, &pkt->reth, pkt->payload_bytes, pmtu);
	if (e) {
		pkt->err = e;
		return -EBADMSG;
	}
	return 0;
}

/*
 * roce_frame.c - what lies under a RoCEv2 packet: writing the IPv4 + UDP
 * headers a UDP socket will send (for the ICRC), and parsing captured
 * frames (Ethernet with an optional VLAN tag, Linux cooked SLL/SLL2, raw
 * IPv4) down to the UDP payload, with the ICRC checked over the frame's own
 * header bytes.
 *
 * IPv4 only, without options (Linux never adds options to UDP datagrams;
 * rxe assumes the same).  Not here: the RoCE packet itself (roce_pkt.c),
 * reading pcap files (roce_pcap.c).  Never reads outside [frame, frame +
 * caplen).
 */
#include "loom/roce.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loom/err.h"
#include "roce_bytes.h"

enum {
	ETH_P_IPV4 = 0x0800,
	ETH_P_8021Q = 0x8100,
	ETH_P_8021AD = 0x88a8,
	IP_PROTO_UDP = 17,
	IPV4_BYTES = 20,
	UDP_BYTES = 8,
};

/* ---- IPv4 + UDP headers as a Linux UDP socket sends them --------------- */

void roce_ipv4_udp_socket(struct roce_ipv4_udp *ip, uint32_t saddr, uint16_t sport,
			  uint32_t daddr, uint16_t dport)
{
	*ip = (struct roce_ipv4_udp){
		.saddr = saddr, .daddr = daddr, .sport = sport, .dport = dport,
		.ip_id = 0, .ip_frag = ROCE_IP_DF, .tos = 0, .ttl = 64,
	};
}

/* RFC 791 header checksum: ones' complement of the ones' complement sum. */
static uint16_t ipv4_csum(const uint8_t *h, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get_be16(h + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void roce_ipv4_udp_encode(uint8_t out[ROCE_IPV4_UDP_BYTES], const struct roce_ipv4_udp *ip,
			  size_t udp_payload_bytes)
{
	uint8_t *udp = out + IPV4_BYTES;

	out[0] = 0x45;	/* version 4, IHL 5 */
	out[1] = ip->tos;
	put_be16(out + 2, (uint16_t)(ROCE_IPV4_UDP_BYTES + udp_payload_bytes));
	put_be16(out + 4, ip->ip_id);
	put_be16(out + 6, ip->ip_frag);
	out[8] = ip->ttl;
	out[9] = IP_PROTO_UDP;
	put_be16(out + 10, 0);
	put_be32(out + 12, ip->saddr);
	put_be32(out + 16, ip->daddr);
	put_be16(out + 10, ipv4_csum(out, IPV4_BYTES));
	put_be16(udp + 0, ip->sport);
	put_be16(udp + 2, ip->dport);
	put_be16(udp + 4, (uint16_t)(UDP_BYTES + udp_payload_bytes));
	put_be16(udp + 6, 0);	/* no UDP checksum (RoCEv2) */
}

/* ---- Frame parsing ----------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static int reject(struct roce_frame *f, int err, enum roce_perr e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->err = e;
	return loom_err_set(err, "%s", msg);
}

#define TRUNC(f, what, need, have)                                                         \
	reject(f, EBADMSG, ROCE_PERR_TRUNCATED, "roce: frame: %s needs %zu bytes, %zu captured", \
	       what, (size_t)(need), (size_t)(have))

/* Step 1: skip the link header; *off is where IPv4 starts. */
static int link_skip(struct roce_frame *f, const uint8_t *p, size_t caplen, enum roce_link link,
		     size_t *off)
{
	uint16_t proto = ETH_P_IPV4;

	switch (link) {
	case ROCE_LINK_ETHERNET:
		if (caplen < 14)
			return TRUNC(f, "Ethernet header", 14, caplen);
		proto = get_be16(p + 12), *off = 14;
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			if (caplen < 18)
				return TRUNC(f, "VLAN tag", 18, caplen);
			f->vlan = true;
			f->vlan_tci = get_be16(p + 14);
			proto = get_be16(p + 16), *off = 18;
		}
		break;
	case ROCE_LINK_LINUX_SLL:	/* type, ARPHRD, addr len, addr[8], protocol */
		if (caplen < 16)
			return TRUNC(f, "Linux SLL header", 16, caplen);
		proto = get_be16(p + 14), *off = 16;
		break;
	case ROCE_LINK_LINUX_SLL2:	/* protocol, reserved, ifindex, ARPHRD, ... */
		if (caplen < 20)
			return TRUNC(f, "Linux SLL2 header", 20, caplen);
		proto = get_be16(p), *off = 20;
		break;
	case ROCE_LINK_RAW:
	case ROCE_LINK_IPV4:
		*off = 0;
		break;
	default:
		return loom_err_set(EINVAL, "roce: frame: link type %d not supported", (int)link);
	}
	if (proto != ETH_P_IPV4)
		return reject(f, ENOENT, ROCE_PERR_NOT_IPV4, "roce: frame: protocol 0x%04x is not "
			      "IPv4%s", proto, proto == ETH_P_8021Q ? " (stacked VLAN tags)" : "");
	return 0;
}

/* Step 2a: the IPv4 header fields that decide whether this is RoCEv2. */
static int ipv4_check(struct roce_frame *f, const uint8_t *ip, size_t avail, uint16_t udp_port)
{
	if (avail < 1)
		return TRUNC(f, "IPv4 header", IPV4_BYTES, avail);
	if (ip[0] >> 4 != 4)
		return reject(f, ENOENT, ROCE_PERR_NOT_IPV4, "roce: frame: IP version %d, not 4",
			      ip[0] >> 4);
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < IPV4_BYTES)
		return reject(f, EBADMSG, ROCE_PERR_IP_HDR, "roce: frame: IPv4 IHL %zu < 20 bytes", ihl);
	if (avail < ihl + UDP_BYTES)
		return TRUNC(f, "IPv4 + UDP headers", ihl + UDP_BYTES, avail);
	if (ip[9] != IP_PROTO_UDP)
		return reject(f, ENOENT, ROCE_PERR_NOT_UDP, "roce: frame: IP protocol %u, not UDP", ip[9]);
	uint16_t frag = get_be16(ip + 6);
	if (frag & 0x3fff)
		return reject(f, EBADMSG, ROCE_PERR_IP_FRAG, "roce: frame: IPv4 fragment (offset %u, "
			      "MF %u): RoCEv2 is never fragmented", (frag & 0x1fff) * 8, frag >> 13 & 1);
	uint16_t dport = get_be16(ip + ihl + 2);
	if (dport != udp_port)
		return reject(f, ENOENT, ROCE_PERR_NOT_PORT, "roce: frame: UDP port %u, not %u", dport,
			      udp_port);
	if (ihl != IPV4_BYTES)
		return reject(f, EBADMSG, ROCE_PERR_IP_HDR, "roce: frame: IPv4 options (IHL %zu bytes) "
			      "not supported", ihl);
	return 0;
}

/* Step 2b: lengths and checksum of IPv4 + UDP; fills f->ip, f->udp_payload. */
static int ipv4_udp_parse(struct roce_frame *f, const uint8_t *ip, size_t avail)
{
	size_t total = get_be16(ip + 2), ulen = get_be16(ip + IPV4_BYTES + 4);

	if (total < ROCE_IPV4_UDP_BYTES)
		return reject(f, EBADMSG, ROCE_PERR_IP_LEN, "roce: frame: IPv4 total length %zu < 28",
			      total);
	if (total > avail)
		return TRUNC(f, "IPv4 total length", total, avail);
	if (ipv4_csum(ip, IPV4_BYTES) != 0)
		return reject(f, EBADMSG, ROCE_PERR_IP_CSUM, "roce: frame: IPv4 header checksum "
			      "0x%04x is wrong", get_be16(ip + 10));
	if (ulen != total - IPV4_BYTES)
		return reject(f, EBADMSG, ROCE_PERR_UDP_LEN, "roce: frame: UDP length %zu, IPv4 says "
			      "%zu", ulen, total - IPV4_BYTES);
	f->ip = (struct roce_ipv4_udp){
		.saddr = get_be32(ip + 12), .daddr = get_be32(ip + 16),
		.sport = get_be16(ip + IPV4_BYTES), .dport = get_be16(ip + IPV4_BYTES + 2),
		.ip_id = get_be16(ip + 4), .ip_frag = get_be16(ip + 6), .tos = ip[1], .ttl = ip[8],
	};
	f->udp_payload = ip + ROCE_IPV4_UDP_BYTES;
	f->udp_payload_bytes = (uint32_t)(ulen - UDP_BYTES);
	return 0;
}

/* Steps 1-2: from the frame to its UDP payload; *ip_hdr set. */
static int frame_locate(struct roce_frame *f, const void *frame, size_t caplen,
			enum roce_link link, uint16_t udp_port, const uint8_t **ip_hdr)
{
	const uint8_t *p = frame;
	size_t off = 0;

	memset(f, 0, sizeof(*f));
	if (!frame && caplen)
		return loom_err_set(EINVAL, "roce: frame: NULL frame");
	int err = link_skip(f, p, caplen, link, &off);
	if (!err)
		err = ipv4_check(f, p + off, caplen - off, udp_port);
	if (!err)
		err = ipv4_udp_parse(f, p + off, caplen - off);
	*ip_hdr = p + off;
	return err;
}

int roce_frame_parse(struct roce_frame *f, const void *frame, size_t caplen, enum roce_link link,
		     unsigned pmtu, uint16_t udp_port)
{
	const uint8_t *ip;

	if (!f)
		return loom_err_set(EINVAL, "roce: frame: NULL result");
	int err = frame_locate(f, frame, caplen, link, udp_port, &ip);
	if (err)
		return err;
	/* Step 3: the packet's structure (for diagnostics even if corrupt),
	 * then the ICRC over the real headers, which takes precedence. */
	int perr = roce_pkt_parse(&f->pkt, f->udp_payload, f->udp_payload_bytes, pmtu, NULL);
	if (perr == -EINVAL)
		return perr;
	if (f->udp_payload_bytes >= ROCE_BTH_BYTES + ROCE_ICRC_BYTES) {
		f->icrc_calc = roce_icrc_calc(ip, f->udp_payload, f->udp_payload_bytes);
		uint32_t stored = get_le32(f->udp_payload + f->udp_payload_bytes - ROCE_ICRC_BYTES);
		if (f->icrc_calc != stored) {
			f->pkt.err = ROCE_PERR_ICRC;
			return reject(f, EBADMSG, ROCE_PERR_ICRC, "roce: frame: %s: ICRC 0x%08x, "
				      "computed 0x%08x", roce_opcode_name(f->pkt.bth.opcode), stored,
				      f->icrc_calc);
		}
	}
	f->err = f->pkt.err;
	return perr;
}

int roce_icrc_frame(uint32_t *icrc, const void *frame, size_t caplen, enum roce_link link,
		    uint16_t udp_port)
{
	struct roce_frame f;
	const uint8_t *ip;

	if (!icrc)
		return loom_err_set(EINVAL, "roce: icrc: NULL result");
	int err = frame_locate(&f, frame, caplen, link, udp_port, &ip);
	if (err)
		return err;
	if (f.udp_payload_bytes < ROCE_BTH_BYTES + ROCE_ICRC_BYTES)
		return loom_err_set(EBADMSG, "roce: icrc: %u-byte UDP payload is shorter than BTH + "
				    "ICRC", f.udp_payload_bytes);
	*icrc = roce_icrc_calc(ip, f.udp_payload, f.udp_payload_bytes);
	return 0;
}

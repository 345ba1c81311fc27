/*
 * test_roce_frame.c - captured frames and pcap files (runtime/roce/
 * roce_frame.c, roce_pcap.c; contract in include/loom/roce.h):
 *  - the golden CNP frame of REFERENCE §7 as Ethernet, with a VLAN tag,
 *    with Ethernet padding, and rewrapped as Linux SLL, SLL2 and raw IPv4;
 *  - one case per malformation or foreign frame (truncation at every
 *    length, not IPv4, not UDP, other port, bad checksum, fragments, IP
 *    options, inconsistent lengths, ICRC), with the errno and kind;
 *  - pcap files written byte by byte here (both byte orders, us and ns
 *    time stamps, SLL2), truncated files, pcapng and unknown link types;
 *  - on this kernel: a packet sent through an unconnected UDP socket with
 *    IP_PMTUDISC_DO, captured on loopback with an AF_PACKET socket, has IP
 *    ID 0 and DF and its ICRC (computed by the sender from addresses only)
 *    matches the real headers; the receiver's recvmsg + IP_PKTINFO view
 *    verifies too.  Skipped without CAP_NET_RAW.
 */
#include "lt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loom/err.h"
#include "loom/roce.h"

static const char golden_hex[] =
	"e41d2dab2bc27cfe90643b32080045c2003c718c4000401191610a0011010a001201000012b700280000"
	"8100ffff40000118000000000000000000000000000000000000000082fd002a";
enum { GOLDEN_BYTES = 74, IP = 14, UDP = 34, BTH = 42 };

static void golden(uint8_t f[GOLDEN_BYTES])
{
	for (int i = 0; i < GOLDEN_BYTES; i++) {
		unsigned v;
		sscanf(golden_hex + 2 * i, "%2x", &v);
		f[i] = (uint8_t)v;
	}
}

/* Parse n bytes of f from an exactly-sized heap copy (ASan sees over-reads). */
static int parse_copy(struct roce_frame *out, const uint8_t *f, size_t n, enum roce_link link,
		      uint16_t port)
{
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, f, n);
	int err = roce_frame_parse(out, c, n, link, 0, port);
	out->udp_payload = NULL;	/* it pointed into c */
	out->pkt.payload = NULL;
	free(c);
	return err;
}

/* RFC 791 checksum, written here to repair headers after edits. */
static void fix_ip_csum(uint8_t *ip)
{
	uint32_t s = 0;
	ip[10] = ip[11] = 0;
	for (int i = 0; i < 20; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	ip[10] = (uint8_t)(~s >> 8), ip[11] = (uint8_t)~s;
}

static void check_golden_fields(struct lt *t, const struct roce_frame *f, const char *what)
{
	LT_CHECK(t, f->pkt.bth.opcode == ROCE_OP_CNP && f->pkt.bth.dqpn == 0x118 && f->pkt.bth.becn &&
		     f->pkt.payload_bytes == 16, "%s: packet", what);
	LT_CHECK(t, f->ip.saddr == 0x0a001101 && f->ip.daddr == 0x0a001201 && f->ip.sport == 0 &&
		     f->ip.dport == 4791 && f->ip.ip_id == 0x718c && f->ip.ip_frag == 0x4000 &&
		     f->ip.tos == 0xc2 && f->ip.ttl == 0x40, "%s: IPv4/UDP fields", what);
	LT_CHECK(t, f->icrc_calc == 0x2a00fd82 && f->pkt.icrc == 0x2a00fd82 &&
		     f->udp_payload_bytes == 32 && f->err == ROCE_PERR_NONE, "%s: ICRC", what);
}

static void test_golden_ethernet(struct lt *t)
{
	uint8_t g[GOLDEN_BYTES + 8];
	struct roce_frame f;

	golden(g);
	int err = roce_frame_parse(&f, g, GOLDEN_BYTES, ROCE_LINK_ETHERNET, 0, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "parse: %d %s", err, loom_err_msg());
	check_golden_fields(t, &f, "ethernet");
	LT_CHECK(t, !f.vlan, "no VLAN");
	/* Trailing Ethernet padding / FCS is ignored. */
	memset(g + GOLDEN_BYTES, 0xaa, 8);
	err = roce_frame_parse(&f, g, GOLDEN_BYTES + 8, ROCE_LINK_ETHERNET, 1024, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "padded: %d %s", err, loom_err_msg());
	check_golden_fields(t, &f, "padded");
}

static void test_vlan_sll_sll2_raw(struct lt *t)
{
	uint8_t g[GOLDEN_BYTES], b[128];
	struct roce_frame f;

	golden(g);
	/* 802.1Q: MACs, 0x8100, TCI (PCP 3, VID 5), then the original ethertype. */
	memcpy(b, g, 12);
	b[12] = 0x81, b[13] = 0x00, b[14] = 0x60, b[15] = 0x05;
	memcpy(b + 16, g + 12, GOLDEN_BYTES - 12);
	int err = parse_copy(&f, b, GOLDEN_BYTES + 4, ROCE_LINK_ETHERNET, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0 && f.vlan && f.vlan_tci == 0x6005, "vlan: %d %s", err, loom_err_msg());
	if (!err)
		check_golden_fields(t, &f, "vlan");

	/* SLL: packet type 0 (host), ARPHRD_ETHER 1, address length 6, address, protocol. */
	static const uint8_t sll[16] = { 0, 0, 0, 1, 0, 6, 0xe4, 0x1d, 0x2d, 0xab, 0x2b, 0xc2, 0, 0,
					 0x08, 0x00 };
	memcpy(b, sll, 16), memcpy(b + 16, g + IP, GOLDEN_BYTES - IP);
	err = parse_copy(&f, b, 16 + GOLDEN_BYTES - IP, ROCE_LINK_LINUX_SLL, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "sll: %d %s", err, loom_err_msg());

	/* SLL2: protocol, reserved, ifindex 2, ARPHRD_ETHER, type, addr len, address. */
	static const uint8_t sll2[20] = { 0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6,
					  0xe4, 0x1d, 0x2d, 0xab, 0x2b, 0xc2, 0, 0 };
	memcpy(b, sll2, 20), memcpy(b + 20, g + IP, GOLDEN_BYTES - IP);
	err = parse_copy(&f, b, 20 + GOLDEN_BYTES - IP, ROCE_LINK_LINUX_SLL2, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "sll2: %d %s", err, loom_err_msg());

	err = parse_copy(&f, g + IP, GOLDEN_BYTES - IP, ROCE_LINK_RAW, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "raw: %d %s", err, loom_err_msg());
	err = parse_copy(&f, g + IP, GOLDEN_BYTES - IP, ROCE_LINK_IPV4, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0, "ipv4: %d %s", err, loom_err_msg());
	err = roce_frame_parse(&f, g, GOLDEN_BYTES, (enum roce_link)147, 0, ROCE_UDP_PORT);
	LT_CHECK(t, err == -EINVAL, "link 147: %d", err);
}

static void test_truncated_everywhere(struct lt *t)
{
	uint8_t g[GOLDEN_BYTES];
	struct roce_frame f;

	golden(g);
	for (size_t n = 0; n < GOLDEN_BYTES; n++) {
		int err = parse_copy(&f, g, n, ROCE_LINK_ETHERNET, ROCE_UDP_PORT);
		LT_CHECK(t, err == -EBADMSG && f.err == ROCE_PERR_TRUNCATED, "%zu bytes: %d %s", n, err,
			 roce_perr_name(f.err));
	}
}

#define EXPECT(t, errno_, kind, g, n, what)                                                  \
	do {                                                                                 \
		struct roce_frame f_;                                                        \
		int e_ = parse_copy(&f_, g, n, ROCE_LINK_ETHERNET, ROCE_UDP_PORT);            \
		LT_CHECK(t, e_ == (errno_) && f_.err == (kind), "%s: %d %s (%s)", what, e_,   \
			 roce_perr_name(f_.err), loom_err_msg());                             \
	} while (0)

static void w32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_foreign_and_malformed(struct lt *t)
{
	uint8_t g[GOLDEN_BYTES], b[GOLDEN_BYTES + 8];

	golden(g);
	memcpy(b, g, GOLDEN_BYTES), b[12] = 0x86, b[13] = 0xdd;
	EXPECT(t, -ENOENT, ROCE_PERR_NOT_IPV4, b, GOLDEN_BYTES, "IPv6 ethertype");
	memcpy(b, g, GOLDEN_BYTES), b[12] = 0x08, b[13] = 0x06;
	EXPECT(t, -ENOENT, ROCE_PERR_NOT_IPV4, b, GOLDEN_BYTES, "ARP");
	memcpy(b, g, GOLDEN_BYTES), b[IP] = 0x65;
	EXPECT(t, -ENOENT, ROCE_PERR_NOT_IPV4, b, GOLDEN_BYTES, "IP version 6");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 9] = 6, fix_ip_csum(b + IP);
	EXPECT(t, -ENOENT, ROCE_PERR_NOT_UDP, b, GOLDEN_BYTES, "TCP");
	memcpy(b, g, GOLDEN_BYTES), b[UDP + 3] = 0xb8;
	EXPECT(t, -ENOENT, ROCE_PERR_NOT_PORT, b, GOLDEN_BYTES, "port 4792");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 4] ^= 1;	/* ID changed, checksum not */
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_CSUM, b, GOLDEN_BYTES, "IP checksum");
	memcpy(b, g, GOLDEN_BYTES), b[IP] = 0x44;
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_HDR, b, GOLDEN_BYTES, "IHL 4");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 6] = 0x20, fix_ip_csum(b + IP);	/* MF */
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_FRAG, b, GOLDEN_BYTES, "more fragments");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 7] = 0x10, fix_ip_csum(b + IP);	/* offset */
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_FRAG, b, GOLDEN_BYTES, "fragment offset");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 3] = 0x1b, fix_ip_csum(b + IP);	/* total 27 */
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_LEN, b, GOLDEN_BYTES, "total length 27");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 3] = 0x40, fix_ip_csum(b + IP);	/* total 64 > 60 */
	EXPECT(t, -EBADMSG, ROCE_PERR_TRUNCATED, b, GOLDEN_BYTES, "total length 64");
	memcpy(b, g, GOLDEN_BYTES), b[UDP + 5] = 0x24;
	EXPECT(t, -EBADMSG, ROCE_PERR_UDP_LEN, b, GOLDEN_BYTES, "UDP length 36");
	memcpy(b, g, GOLDEN_BYTES), b[BTH + 14] ^= 0x10;
	EXPECT(t, -EBADMSG, ROCE_PERR_ICRC, b, GOLDEN_BYTES, "payload bit");
	memcpy(b, g, GOLDEN_BYTES), b[IP + 8] = 1, fix_ip_csum(b + IP);	/* TTL: masked */
	EXPECT(t, 0, ROCE_PERR_NONE, b, GOLDEN_BYTES, "TTL 1");

	/* IPv4 options (IHL 6): header 24 bytes, a NOP option word. */
	memcpy(b, g, IP + 20), b[IP] = 0x46, b[IP + 3] = 0x40;
	memset(b + IP + 20, 1, 4);
	memcpy(b + IP + 24, g + UDP, GOLDEN_BYTES - UDP);
	fix_ip_csum(b + IP);	/* (checksums the first 20 bytes only; options rejected first) */
	EXPECT(t, -EBADMSG, ROCE_PERR_IP_HDR, b, GOLDEN_BYTES + 4, "IP options");

	/* A RoCE packet error surfaces with its kind in f.err and f.pkt.err:
	 * the CNP cut to 20 bytes, its ICRC made right again. */
	uint32_t icrc = 0;
	memcpy(b, g, GOLDEN_BYTES), b[UDP + 5] = 0x1c, b[IP + 3] = 0x30, fix_ip_csum(b + IP);
	LT_CHECK(t, roce_icrc_frame(&icrc, b, BTH + 20, ROCE_LINK_ETHERNET, 4791) == 0, "icrc");
	w32le(b + BTH + 16, icrc);
	EXPECT(t, -EBADMSG, ROCE_PERR_LEN_CNP, b, BTH + 20, "CNP cut to 20 bytes");
	memcpy(b + BTH + 16, "\0\0\0\0", 4);
	EXPECT(t, -EBADMSG, ROCE_PERR_ICRC, b, BTH + 20, "ICRC first");
	LT_CHECK(t, roce_frame_parse(NULL, g, GOLDEN_BYTES, ROCE_LINK_ETHERNET, 0, 4791) == -EINVAL,
		 "NULL result");
}

/* ---- pcap -------------------------------------------------------------- */

static void w32(uint8_t *p, uint32_t v, bool big)
{
	for (int i = 0; i < 4; i++)
		p[big ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

static void w16(uint8_t *p, uint16_t v, bool big)
{
	p[big ? 1 : 0] = (uint8_t)v, p[big ? 0 : 1] = (uint8_t)(v >> 8);
}

/* A pcap file header, written per the libpcap file format. */
static size_t pcap_hdr(uint8_t *p, bool big, bool nsec, uint32_t link)
{
	w32(p, nsec ? 0xa1b23c4d : 0xa1b2c3d4, big);
	w16(p + 4, 2, big), w16(p + 6, 4, big);
	w32(p + 8, 0, big), w32(p + 12, 0, big), w32(p + 16, 262144, big), w32(p + 20, link, big);
	return 24;
}

static size_t pcap_rec(uint8_t *p, bool big, uint32_t sec, uint32_t frac, const uint8_t *d,
		       uint32_t n)
{
	w32(p, sec, big), w32(p + 4, frac, big), w32(p + 8, n, big), w32(p + 12, n, big);
	memcpy(p + 16, d, n);
	return 16 + n;
}

static struct roce_pcap *open_mem(const uint8_t *b, size_t n, FILE **fp)
{
	*fp = fmemopen((void *)b, n, "rb");
	return *fp ? roce_pcap_open_file(*fp, true, "mem") : NULL;
}

/* Three records (golden CNP, ARP, golden CNP) in either byte order. */
static void test_pcap_read(struct lt *t)
{
	static uint8_t file[1024];
	uint8_t g[GOLDEN_BYTES], arp[42] = { 0 };

	golden(g);
	arp[12] = 0x08, arp[13] = 0x06;
	for (int variant = 0; variant < 2; variant++) {
		bool big = variant == 1;
		size_t n = pcap_hdr(file, big, big, ROCE_LINK_ETHERNET);
		n += pcap_rec(file + n, big, 1700000000, big ? 123456789 : 123456, g, GOLDEN_BYTES);
		n += pcap_rec(file + n, big, 1700000001, 0, arp, sizeof(arp));
		n += pcap_rec(file + n, big, 1700000002, 5, g, GOLDEN_BYTES);
		FILE *fp;
		struct roce_pcap *p = open_mem(file, n, &fp);
		if (!p) {
			lt_fail(t, __FILE__, __LINE__, "open: %s", loom_err_msg());
			return;
		}
		LT_CHECK(t, roce_pcap_link(p) == ROCE_LINK_ETHERNET, "link");
		struct roce_pcap_rec rec;
		int roce = 0, other = 0, k = 0, rc;
		while ((rc = roce_pcap_next(p, &rec)) == 1) {
			struct roce_frame f;
			int err = roce_frame_parse(&f, rec.data, rec.caplen, roce_pcap_link(p), 0,
						   ROCE_UDP_PORT);
			roce += err == 0, other += err == -ENOENT;
			if (k == 0)
				LT_CHECK(t, rec.ts_ns == 1700000000ull * 1000000000ull + 123456789ull -
						     (big ? 0 : 789),
					 "time stamp %llu", (unsigned long long)rec.ts_ns);
			k++;
		}
		LT_CHECK(t, rc == 0 && k == 3 && roce == 2 && other == 1, "%s: rc %d, %d records, %d "
			 "RoCE, %d other", big ? "big-endian ns" : "little-endian us", rc, k, roce, other);
		roce_pcap_close(p);
	}
}

static void test_pcap_sll2_file(struct lt *t)
{
	static uint8_t file[512], frame[128];
	static const uint8_t sll2[20] = { 0x08, 0x00, 0, 0, 0, 0, 0, 1, 3, 4, 0, 6 };
	uint8_t g[GOLDEN_BYTES];
	char path[] = "/tmp/test_roce_frame_XXXXXX";

	golden(g);
	memcpy(frame, sll2, 20), memcpy(frame + 20, g + IP, GOLDEN_BYTES - IP);
	size_t n = pcap_hdr(file, false, false, ROCE_LINK_LINUX_SLL2);
	n += pcap_rec(file + n, false, 1, 2, frame, 20 + GOLDEN_BYTES - IP);
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, file, n) != (ssize_t)n) {
		lt_fail(t, __FILE__, __LINE__, "temp file: %s", strerror(errno));
		return;
	}
	close(fd);
	struct roce_pcap *p = roce_pcap_open(path);
	struct roce_pcap_rec rec;
	struct roce_frame f;
	LT_CHECK(t, p && roce_pcap_link(p) == ROCE_LINK_LINUX_SLL2, "open: %s", loom_err_msg());
	if (p) {
		LT_CHECK(t, roce_pcap_next(p, &rec) == 1 &&
			     roce_frame_parse(&f, rec.data, rec.caplen, ROCE_LINK_LINUX_SLL2, 0, 4791) == 0 &&
			     f.icrc_calc == 0x2a00fd82, "record: %s", loom_err_msg());
		LT_CHECK(t, roce_pcap_next(p, &rec) == 0, "end");
		roce_pcap_close(p);
	}
	unlink(path);
	LT_CHECK(t, roce_pcap_open(path) == NULL && strstr(loom_err_msg(), "No such file"),
		 "missing file: %s", loom_err_msg());
}

static void test_pcap_bad_files(struct lt *t)
{
	static uint8_t file[512];
	uint8_t g[GOLDEN_BYTES];
	struct roce_pcap_rec rec;
	FILE *fp;

	golden(g);
	size_t n = pcap_hdr(file, false, false, ROCE_LINK_ETHERNET);
	n += pcap_rec(file + n, false, 1, 2, g, GOLDEN_BYTES);
	/* Cut inside the data and inside the record header: one -EBADMSG each. */
	for (size_t cut = 24 + 1; cut < n; cut += 7) {
		struct roce_pcap *p = open_mem(file, cut, &fp);
		int rc = p ? roce_pcap_next(p, &rec) : 99;
		LT_CHECK(t, rc == -EBADMSG, "cut at %zu: %d", cut, rc);
		roce_pcap_close(p);
	}
	for (size_t cut = 0; cut < 24; cut += 5) {
		struct roce_pcap *p = open_mem(file, cut ? cut : 1, &fp);
		LT_CHECK(t, p == NULL, "header cut at %zu opened", cut);
		if (!p && fp)
			fclose(fp);
	}
	/* pcapng, an unknown link type, version 3, a huge record. */
	static const uint8_t ng[24] = { 0x0a, 0x0d, 0x0d, 0x0a };
	struct roce_pcap *p = open_mem(ng, 24, &fp);
	LT_CHECK(t, !p && strstr(loom_err_msg(), "pcapng") && strstr(loom_err_msg(), "-F pcap"),
		 "pcapng: %s", loom_err_msg());
	if (!p)
		fclose(fp);
	pcap_hdr(file, false, false, 127);
	p = open_mem(file, 24, &fp);
	LT_CHECK(t, !p && strstr(loom_err_msg(), "link type 127"), "link: %s", loom_err_msg());
	if (!p)
		fclose(fp);
	pcap_hdr(file, true, false, 1), w16(file + 4, 3, true);
	p = open_mem(file, 24, &fp);
	LT_CHECK(t, !p && strstr(loom_err_msg(), "version 3"), "version: %s", loom_err_msg());
	if (!p)
		fclose(fp);
	n = pcap_hdr(file, false, false, 1);
	w32(file + n, 0, false), w32(file + n + 4, 0, false), w32(file + n + 8, 0x7fffffff, false);
	p = open_mem(file, n + 16, &fp);
	LT_CHECK(t, p && roce_pcap_next(p, &rec) == -EBADMSG, "huge record: %s", loom_err_msg());
	roce_pcap_close(p);
	LT_CHECK(t, roce_pcap_open(NULL) == NULL && roce_pcap_next(NULL, &rec) == -EINVAL, "NULLs");
	roce_pcap_close(NULL);
}

/* ---- The kernel's IPv4 header on an unconnected IP_PMTUDISC_DO socket ---- */

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(s, (struct sockaddr *)&a, &al))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

/* Wait (up to 2 s) for our datagram on the packet socket; returns its length. */
static ssize_t capture(int ps, uint8_t *buf, size_t cap, uint16_t dport, struct roce_frame *f)
{
	for (int tries = 0; tries < 1000; tries++) {
		ssize_t n = recv(ps, buf, cap, 0);
		if (n < 0)
			return -1;
		int err = roce_frame_parse(f, buf, (size_t)n, ROCE_LINK_ETHERNET, 1024, dport);
		if (err != -ENOENT)
			return err ? -2 : n;
	}
	return -1;
}

static void test_kernel_header_on_loopback(struct lt *t)
{
	int ps = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
	if (ps < 0) {
		lt_skip(t, "no AF_PACKET socket (%s): needs CAP_NET_RAW", strerror(errno));
		return;
	}
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				  .sll_ifindex = (int)if_nametoindex("lo") };
	struct timeval tv = { .tv_sec = 2 };
	uint16_t sport = 0, dport = 0;
	int tx = udp_socket(&sport), rx = udp_socket(&dport), on = 1, pmtu = IP_PMTUDISC_DO;
	bool setup = ll.sll_ifindex > 0 && tx >= 0 && rx >= 0 &&
		     !bind(ps, (struct sockaddr *)&ll, sizeof(ll)) &&
		     !setsockopt(ps, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) &&
		     !setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) &&
		     !setsockopt(rx, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) &&
		     !setsockopt(tx, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) &&
		     !setsockopt(tx, SOL_SOCKET, SO_NO_CHECK, &on, sizeof(on));
	LT_CHECK(t, setup, "socket setup: %s", strerror(errno));

	/* The sender knows only addresses and ports (roce.h: ID 0, DF). */
	static uint8_t payload[200], pkt[512], frame[2048];
	struct roce_ipv4_udp ip;
	roce_ipv4_udp_socket(&ip, INADDR_LOOPBACK, sport, INADDR_LOOPBACK, dport);
	for (int i = 0; i < 200; i++)
		payload[i] = (uint8_t)i;
	struct roce_pkt p = { .bth = { .opcode = ROCE_OP_WRITE_ONLY, .pkey = 0xffff, .dqpn = 0x42,
				       .psn = 9 }, .reth = { 0x1000, 7, 199 }, .payload = payload,
			      .payload_bytes = 199 };
	int len = roce_pkt_build(pkt, sizeof(pkt), &p, 1024, &ip);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(dport),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	LT_CHECK(t, setup && len > 0 && sendto(tx, pkt, (size_t)len, 0, (struct sockaddr *)&to,
					       sizeof(to)) == len, "send: %s", strerror(errno));

	struct roce_frame f;
	ssize_t n = t->failures ? -1 : capture(ps, frame, sizeof(frame), dport, &f);
	LT_CHECK(t, n > 0, "captured frame verifies (%zd): %s", n, loom_err_msg());
	if (n > 0)
		LT_CHECK(t, f.ip.ip_id == 0 && f.ip.ip_frag == ROCE_IP_DF && frame[IP + 26] == 0 &&
			     frame[IP + 27] == 0, "kernel wrote ID 0x%04x frag 0x%04x UDP csum %02x%02x",
			 f.ip.ip_id, f.ip.ip_frag, frame[IP + 26], frame[IP + 27]);

	/* The receiver: recvmsg + IP_PKTINFO gives what it needs to check. */
	uint8_t rbuf[512], cbuf[256];
	struct sockaddr_in from;
	struct iovec iov = { rbuf, sizeof(rbuf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t got = t->failures ? -1 : recvmsg(rx, &mh, 0);
	struct in_pktinfo *pi = NULL;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); got > 0 && c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			pi = (struct in_pktinfo *)CMSG_DATA(c);
	LT_CHECK(t, got == len && pi, "recvmsg: %zd, pktinfo %p", got, (void *)pi);
	if (got == len && pi) {
		struct roce_ipv4_udp seen;
		struct roce_pkt q;
		roce_ipv4_udp_socket(&seen, ntohl(from.sin_addr.s_addr), ntohs(from.sin_port),
				     ntohl(pi->ipi_addr.s_addr), dport);
		LT_CHECK(t, roce_pkt_parse(&q, rbuf, (size_t)got, 1024, &seen) == 0 &&
			     q.payload_bytes == 199 && memcmp(q.payload, payload, 199) == 0,
			 "receiver: %s", loom_err_msg());
	}
	close(ps), close(tx), close(rx);
}

static const struct lt_case cases[] = {
	LT_CASE(test_golden_ethernet),
	LT_CASE(test_vlan_sll_sll2_raw),
	LT_CASE(test_truncated_everywhere),
	LT_CASE(test_foreign_and_malformed),
	LT_CASE(test_pcap_read),
	LT_CASE(test_pcap_sll2_file),
	LT_CASE(test_pcap_bad_files),
	LT_CASE(test_kernel_header_on_loopback),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

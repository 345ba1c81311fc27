/*
 * gen_roce_seeds.c - writes the seed corpus of fuzz_roce_parse into a
 * directory (generated at build time, never committed): a valid packet of
 * every opcode at two path MTUs for each packet mode, the same packets as
 * Ethernet (with and without a VLAN tag), SLL, SLL2 and raw IPv4 frames,
 * the golden CNP frame of REFERENCE §7, and a small pcap file.  Each seed
 * starts with the mode byte that fuzz_roce_parse.c reads.
 *
 * Usage: gen_roce_seeds DIR   (prints the number of seeds written)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "loom/roce.h"

/* Modes and MTU indexes as in fuzz_roce_parse.c. */
enum { MODE_PKT, MODE_PKT_ICRC, MODE_ETH, MODE_SLL, MODE_SLL2, MODE_RAW, MODE_PCAP,
       MODE_PKT_FIXED_ICRC };

static const char *dir;
static int n_seeds;

static void seed(unsigned mode, unsigned mtu_idx, const uint8_t *b, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%04d", dir, n_seeds++);
	FILE *fp = fopen(path, "wb");
	uint8_t m = (uint8_t)(mode | mtu_idx << 3);
	if (!fp || fwrite(&m, 1, 1, fp) != 1 || fwrite(b, 1, n, fp) != n || fclose(fp)) {
		perror(path);
		exit(1);
	}
}

/* A valid packet of opcode at pmtu (fields fixed but not trivial). */
static int make_pkt(uint8_t *out, unsigned opcode, unsigned pmtu)
{
	static uint8_t payload[4096];
	const struct roce_opcode_info *op = roce_opcode_info(opcode);
	struct roce_ipv4_udp ip = {
		.saddr = 0x0a000001, .daddr = 0x0a000002, .sport = 49152, .dport = ROCE_UDP_PORT,
		.ip_frag = ROCE_IP_DF, .ttl = 64,
	};
	struct roce_pkt p = {
		.bth = { .opcode = (uint8_t)opcode, .pkey = 0xffff, .dqpn = 0x11, .psn = 0xfffffe,
			 .ack_req = true },
		.reth = { .va = 0x7f0000001000ull, .rkey = 0x1234, .dma_len = 3 },
		.atomic = { .va = 0x7f0000002000ull, .rkey = 0x99, .swap_add = 1, .compare = 2 },
		.aeth = { .syndrome = opcode == ROCE_OP_ACK ? 0x60 : 0x1f, .msn = 5 },
		.imm = 0xabcd, .ieth_rkey = 0x77, .payload = payload,
	};

	for (int i = 0; i < 4096; i++)
		payload[i] = (uint8_t)(i * 7);
	if (op->kind == ROCE_KIND_CNP)
		p.payload_bytes = 16;
	else if (op->flags & ROCE_OPF_PAYLOAD)
		p.payload_bytes = (op->flags & ROCE_OPF_END) ? 3 : pmtu;
	if (opcode == ROCE_OP_WRITE_FIRST)
		p.reth.dma_len = pmtu + 3;
	int n = roce_pkt_build(out, ROCE_PKT_MAX_BYTES, &p, pmtu, &ip);
	if (n < 0) {
		fprintf(stderr, "gen_roce_seeds: %s\n", loom_err_msg());
		exit(1);
	}
	return n;
}

/* Frames around a packet: IPv4 + UDP, then each link header. */
static void frame_seeds(const uint8_t *pkt, int n, unsigned mtu_idx)
{
	static uint8_t f[ROCE_PKT_MAX_BYTES + 64];
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
	static const uint8_t vlan[18] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0x60, 5, 8, 0 };
	static const uint8_t sll[16] = { 0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00 };
	static const uint8_t sll2[20] = { 0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2 };
	struct roce_ipv4_udp ip;
	uint8_t l3[ROCE_IPV4_UDP_BYTES];
	const struct { unsigned mode; const uint8_t *hdr; size_t len; } links[] = {
		{ MODE_ETH, eth, 14 }, { MODE_ETH, vlan, 18 }, { MODE_SLL, sll, 16 },
		{ MODE_SLL2, sll2, 20 }, { MODE_RAW, NULL, 0 },
	};

	roce_ipv4_udp_socket(&ip, 0x0a000001, 49152, 0x0a000002, ROCE_UDP_PORT);
	roce_ipv4_udp_encode(l3, &ip, (size_t)n);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (links[i].len)
			memcpy(f, links[i].hdr, links[i].len);
		memcpy(f + links[i].len, l3, sizeof(l3));
		memcpy(f + links[i].len + sizeof(l3), pkt, (size_t)n);
		seed(links[i].mode, mtu_idx, f, links[i].len + sizeof(l3) + (size_t)n);
	}
}

static size_t put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return 4;
}

/* A little-endian pcap of the golden frame and an ACK as Ethernet. */
static void pcap_seed(const uint8_t *golden, size_t gn, const uint8_t *pkt, int n)
{
	static uint8_t file[2048];
	uint8_t frame[512];
	struct roce_ipv4_udp ip;
	size_t k = 0;

	k += put_le32(file + k, 0xa1b2c3d4);
	k += put_le32(file + k, 2 | 4u << 16);
	k += put_le32(file + k, 0), k += put_le32(file + k, 0);
	k += put_le32(file + k, 262144), k += put_le32(file + k, ROCE_LINK_ETHERNET);
	k += put_le32(file + k, 1), k += put_le32(file + k, 0);
	k += put_le32(file + k, (uint32_t)gn), k += put_le32(file + k, (uint32_t)gn);
	memcpy(file + k, golden, gn), k += gn;
	memset(frame, 0, 12), frame[12] = 8, frame[13] = 0;
	roce_ipv4_udp_socket(&ip, 0x0a000001, 49152, 0x0a000002, ROCE_UDP_PORT);
	roce_ipv4_udp_encode(frame + 14, &ip, (size_t)n);
	memcpy(frame + 14 + ROCE_IPV4_UDP_BYTES, pkt, (size_t)n);
	size_t fn = 14 + ROCE_IPV4_UDP_BYTES + (size_t)n;
	k += put_le32(file + k, 2), k += put_le32(file + k, 0);
	k += put_le32(file + k, (uint32_t)fn), k += put_le32(file + k, (uint32_t)fn);
	memcpy(file + k, frame, fn), k += fn;
	seed(MODE_PCAP, 0, file, k);
}

int main(int argc, char **argv)
{
	static const char golden_hex[] =
		"e41d2dab2bc27cfe90643b32080045c2003c718c4000401191610a0011010a001201000012b700280000"
		"8100ffff40000118000000000000000000000000000000000000000082fd002a";
	static uint8_t pkt[ROCE_PKT_MAX_BYTES], golden[74], ack[64];
	int ack_n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_roce_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	for (int i = 0; i < 74; i++) {
		unsigned v;
		sscanf(golden_hex + 2 * i, "%2x", &v);
		golden[i] = (uint8_t)v;
	}
	seed(MODE_ETH, 0, golden, sizeof(golden));
	for (unsigned c = 0; c < 256; c++) {
		if (!roce_opcode_info(c))
			continue;
		const unsigned mtu_idx[2] = { 1, 3 }, mtu[2] = { 256, 1024 };
		for (int m = 0; m < 2; m++) {
			int n = make_pkt(pkt, c, mtu[m]);
			seed(MODE_PKT, mtu_idx[m], pkt, (size_t)n);
			seed(MODE_PKT_ICRC, mtu_idx[m], pkt, (size_t)n);
			seed(MODE_PKT_FIXED_ICRC, mtu_idx[m], pkt, (size_t)n);
			if (m == 0)
				frame_seeds(pkt, n, 0);
			if (c == ROCE_OP_ACK)
				memcpy(ack, pkt, (size_t)n), ack_n = n;
		}
	}
	pcap_seed(golden, sizeof(golden), ack, ack_n);
	printf("%d seeds\n", n_seeds);
	return 0;
}

/*
 * fuzz_roce_parse.c - libFuzzer target for the RoCEv2 parsers
 * (runtime/roce/): UDP payloads (roce_pkt_parse), captured frames of every
 * link type (roce_frame_parse) and pcap files (roce_pcap_*).
 *
 * Input: one mode byte, then the bytes to parse.  Mode bits 2:0 pick the
 * parser, bits 7:3 (mod 6) the path MTU (0 = unknown, 256 .. 4096).
 * Besides "no crash, no sanitizer report", each accepted input must obey
 * the parser's contract, or the target aborts:
 *  - a packet: its pieces add up to its length, its payload lies inside
 *    the input, and rebuilding it gives a packet that parses to the same
 *    fields (so builder and parser agree on every rule);
 *  - a frame: the ICRC computed over its headers equals the stored one.
 * Built with clang -fsanitize=fuzzer,address,undefined (make fuzz); run
 * for a bounded time by tests/fuzz/run-fuzz.sh in make test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/roce.h"

enum { MODE_PKT, MODE_PKT_ICRC, MODE_ETH, MODE_SLL, MODE_SLL2, MODE_RAW, MODE_PCAP,
       MODE_PKT_FIXED_ICRC };

static const unsigned pmtus[6] = { 0, 256, 512, 1024, 2048, 4096 };

static const struct roce_ipv4_udp fuzz_ip = {
	.saddr = 0x0a000001, .daddr = 0x0a000002, .sport = 49152, .dport = ROCE_UDP_PORT,
	.ip_id = 0, .ip_frag = ROCE_IP_DF, .tos = 0, .ttl = 64,
};

#define REQUIRE(cond)                                                                  \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_roce_parse: contract broken: %s\n", #cond); \
			abort();                                                       \
		}                                                                      \
	} while (0)

static bool same_fields(const struct roce_pkt *a, const struct roce_pkt *b)
{
	const struct roce_bth *x = &a->bth, *y = &b->bth;
	unsigned h = a->op->hdrs;

	return x->opcode == y->opcode && x->se == y->se && x->mig == y->mig && x->pad == y->pad &&
	       x->pkey == y->pkey && x->fecn == y->fecn && x->becn == y->becn && x->dqpn == y->dqpn &&
	       x->ack_req == y->ack_req && x->psn == y->psn && a->op == b->op &&
	       (!(h & ROCE_HDR_RETH) || !memcmp(&a->reth, &b->reth, sizeof(a->reth))) &&
	       (!(h & ROCE_HDR_ATOMIC_ETH) || (a->atomic.va == b->atomic.va &&
		a->atomic.rkey == b->atomic.rkey && a->atomic.swap_add == b->atomic.swap_add &&
		a->atomic.compare == b->atomic.compare)) &&
	       (!(h & ROCE_HDR_AETH) || (a->aeth.syndrome == b->aeth.syndrome &&
					 a->aeth.msn == b->aeth.msn)) &&
	       (!(h & ROCE_HDR_ATOMIC_ACK_ETH) || a->atomic_ack.orig == b->atomic_ack.orig) &&
	       (!(h & ROCE_HDR_IMMDT) || a->imm == b->imm) &&
	       (!(h & ROCE_HDR_IETH) || a->ieth_rkey == b->ieth_rkey) &&
	       a->payload_bytes == b->payload_bytes &&
	       !memcmp(a->payload, b->payload, a->payload_bytes);
}

static void check_pkt(const struct roce_pkt *p, const uint8_t *buf, size_t len, unsigned pmtu)
{
	static uint8_t again[ROCE_PKT_MAX_BYTES];
	struct roce_pkt q;

	REQUIRE(p->op && p->err == ROCE_PERR_NONE);
	REQUIRE(p->op->hdr_bytes + p->payload_bytes + p->bth.pad + ROCE_ICRC_BYTES == len);
	REQUIRE(p->payload >= buf && p->payload + p->payload_bytes <= buf + len);
	int n = roce_pkt_build(again, sizeof(again), p, pmtu, &fuzz_ip);
	REQUIRE(n == (int)len);
	REQUIRE(roce_pkt_parse(&q, again, (size_t)n, pmtu, &fuzz_ip) == 0);
	REQUIRE(same_fields(p, &q));
}

static void fuzz_pkt(const uint8_t *d, size_t n, unsigned pmtu, const struct roce_ipv4_udp *ip)
{
	struct roce_pkt p;

	if (roce_pkt_parse(&p, d, n, pmtu, ip) == 0)
		check_pkt(&p, d, n, pmtu);
	else
		REQUIRE(p.err != ROCE_PERR_NONE);
}

/* Give the input a right ICRC so the checks after it are reached. */
static void fuzz_pkt_fixed_icrc(const uint8_t *d, size_t n, unsigned pmtu)
{
	if (n < ROCE_BTH_BYTES + ROCE_ICRC_BYTES)
		return fuzz_pkt(d, n, pmtu, &fuzz_ip);
	uint8_t *c = malloc(n);
	memcpy(c, d, n);
	uint32_t icrc = roce_icrc_udp(&fuzz_ip, c, n);
	for (int i = 0; i < 4; i++)
		c[n - 4 + i] = (uint8_t)(icrc >> (8 * i));
	fuzz_pkt(c, n, pmtu, &fuzz_ip);
	free(c);
}

static void fuzz_frame(const uint8_t *d, size_t n, enum roce_link link, unsigned pmtu)
{
	struct roce_frame f;
	uint32_t icrc;

	int err = roce_frame_parse(&f, d, n, link, pmtu, ROCE_UDP_PORT);
	if (err == 0) {
		REQUIRE(f.udp_payload >= d && f.udp_payload + f.udp_payload_bytes <= d + n);
		REQUIRE(f.icrc_calc == f.pkt.icrc);
		REQUIRE(roce_icrc_frame(&icrc, d, n, link, ROCE_UDP_PORT) == 0 && icrc == f.icrc_calc);
	} else {
		REQUIRE(f.err != ROCE_PERR_NONE);
	}
}

static void fuzz_pcap(const uint8_t *d, size_t n, unsigned pmtu)
{
	FILE *fp = fmemopen((void *)d, n, "rb");
	if (!fp)
		return;
	struct roce_pcap *p = roce_pcap_open_file(fp, true, "fuzz");
	if (!p) {
		fclose(fp);
		return;
	}
	struct roce_pcap_rec rec;
	for (int k = 0; k < 64 && roce_pcap_next(p, &rec) == 1; k++)
		fuzz_frame(rec.data, rec.caplen, roce_pcap_link(p), pmtu);
	roce_pcap_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] & 7, pmtu = pmtus[(data[0] >> 3) % 6];
	const uint8_t *d = data + 1;
	size_t n = size - 1;

	switch (mode) {
	case MODE_PKT: fuzz_pkt(d, n, pmtu, NULL); break;
	case MODE_PKT_ICRC: fuzz_pkt(d, n, pmtu, &fuzz_ip); break;
	case MODE_ETH: fuzz_frame(d, n, ROCE_LINK_ETHERNET, pmtu); break;
	case MODE_SLL: fuzz_frame(d, n, ROCE_LINK_LINUX_SLL, pmtu); break;
	case MODE_SLL2: fuzz_frame(d, n, ROCE_LINK_LINUX_SLL2, pmtu); break;
	case MODE_RAW: fuzz_frame(d, n, ROCE_LINK_RAW, pmtu); break;
	case MODE_PCAP: fuzz_pcap(d, n, pmtu); break;
	default: fuzz_pkt_fixed_icrc(d, n, pmtu); break;
	}
	return 0;
}

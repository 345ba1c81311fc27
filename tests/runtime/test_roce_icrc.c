/*
 * test_roce_icrc.c - CRC-32 and the RoCEv2 ICRC (runtime/roce/roce_icrc.c)
 * against independent computations:
 *  - roce_crc32 against a bit-at-a-time CRC-32 written here, at every
 *    length 0..300 and start offset 0..7, split anywhere, and at lengths up
 *    to 9000; both of its paths (carry-less multiply where the CPU has it,
 *    slicing-by-8 tables) separately;
 *  - the golden ConnectX-4 Lx CNP frame of REFERENCE §7 (ICRC 0x2a00fd82);
 *  - single-bit flips of the golden frame: exactly the bits REFERENCE §7
 *    masks (TOS, TTL, IP checksum, UDP checksum, BTH byte 4) leave the ICRC
 *    unchanged, every other covered bit changes it;
 *  - the IPv4/UDP header writer against the golden frame's own bytes, so
 *    the socket-side entry point (roce_icrc_udp) and the frame-side one
 *    (roce_icrc_frame) agree.
 * White box: the .c is included to reach both CRC paths (the archive's copy
 * is then not linked).
 */
#include "lt.h"

#include "../../runtime/roce/roce_icrc.c"

#include <string.h>

/* REFERENCE §7: Ethernet 0-13, IPv4 14-33, UDP 34-41, BTH 42-53, 16 bytes
 * of CNP payload 54-69, ICRC 70-73. */
static const char golden_hex[] =
	"e41d2dab2bc27cfe90643b32080045c2003c718c4000401191610a0011010a001201000012b700280000"
	"8100ffff40000118000000000000000000000000000000000000000082fd002a";
enum { GOLDEN_BYTES = 74, ETH = 0, IP = 14, UDP = 34, BTH = 42, ICRC = 70 };
#define GOLDEN_ICRC 0x2a00fd82u

static void golden(uint8_t f[GOLDEN_BYTES])
{
	for (int i = 0; i < GOLDEN_BYTES; i++) {
		unsigned v;
		sscanf(golden_hex + 2 * i, "%2x", &v);
		f[i] = (uint8_t)v;
	}
}

/* Bit-at-a-time reflected CRC-32 (poly 0xedb88320), zlib's conventions. */
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

static void test_crc32_check_value(struct lt *t)
{
	LT_CHECK(t, roce_crc32(0, "123456789", 9) == 0xcbf43926u, "got 0x%08x",
		 roce_crc32(0, "123456789", 9));
	LT_CHECK(t, roce_crc32(0, NULL, 0) == 0 && roce_crc32(0x12345678, "", 0) == 0x12345678,
		 "empty input keeps the CRC");
}

static void test_crc32_vs_bitwise(struct lt *t)
{
	uint8_t buf[320];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)loom_rng_u32(&r);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 300; n++) {
			uint32_t want = crc32_bitwise(0, buf + off, n);
			uint32_t got = roce_crc32(0, buf + off, n);
			LT_CHECK(t, got == want, "offset %zu length %zu: 0x%08x, want 0x%08x", off, n, got,
				 want);
			/* Chained at an arbitrary split, as the ICRC code chains. */
			size_t k = n ? loom_rng_u32(&r) % (n + 1) : 0;
			got = roce_crc32(roce_crc32(0, buf + off, k), buf + off + k, n - k);
			LT_CHECK(t, got == want, "split %zu/%zu: 0x%08x", k, n, got);
			if (t->failures)
				return;
		}
}

/* Long buffers through each path: carry-less 512-bit and 128-bit (when
 * present) and tables. */
static void test_crc32_paths_long(struct lt *t)
{
	static uint8_t buf[9000 + 16];
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)loom_rng_u32(&r);
	pthread_once(&crc_once, crc_init);
	for (int rep = 0; rep < 300; rep++) {
		size_t off = loom_rng_u32(&r) % 16, n = loom_rng_u32(&r) % 9001;
		uint32_t want = crc32_bitwise(0, buf + off, n);
		LT_CHECK(t, roce_crc32(0, buf + off, n) == want, "roce_crc32 length %zu", n);
		LT_CHECK(t, ~crc_slice8(~0u, buf + off, n) == want, "slicing-by-8 length %zu", n);
#if defined(__x86_64__) && defined(__GNUC__)
		if (crc_have_clmul && n >= 64)
			LT_CHECK(t, ~crc_slice8(crc_clmul(~0u, buf + off, n & ~(size_t)15),
						buf + off + (n & ~(size_t)15), n & 15) == want,
				 "carry-less length %zu", n);
		if (crc_have_vclmul && n >= 256)
			LT_CHECK(t, ~crc_slice8(crc_vclmul(~0u, buf + off, n & ~(size_t)15),
						buf + off + (n & ~(size_t)15), n & 15) == want,
				 "512-bit carry-less length %zu", n);
#endif
		if (t->failures)
			return;
	}
}

static void test_golden_cnp(struct lt *t)
{
	uint8_t f[GOLDEN_BYTES];
	uint32_t icrc = 0;

	golden(f);
	LT_CHECK(t, roce_icrc_calc(f + IP, f + BTH, GOLDEN_BYTES - BTH) == GOLDEN_ICRC,
		 "roce_icrc_calc: 0x%08x", roce_icrc_calc(f + IP, f + BTH, GOLDEN_BYTES - BTH));
	int err = roce_icrc_frame(&icrc, f, GOLDEN_BYTES, ROCE_LINK_ETHERNET, ROCE_UDP_PORT);
	LT_CHECK(t, err == 0 && icrc == GOLDEN_ICRC, "roce_icrc_frame: %d 0x%08x", err, icrc);
	/* Stored little-endian: 82 fd 00 2a. */
	LT_CHECK(t, f[ICRC] == 0x82 && f[ICRC + 1] == 0xfd && f[ICRC + 2] == 0x00 &&
		     f[ICRC + 3] == 0x2a, "stored bytes");
}

/* REFERENCE §7's masked bytes, as offsets into the golden frame. */
static bool masked_byte(int i)
{
	return i == IP + 1 || i == IP + 8 || i == IP + 10 || i == IP + 11 || i == UDP + 6 ||
	       i == UDP + 7 || i == BTH + 4;
}

static void test_bit_flips(struct lt *t)
{
	uint8_t f[GOLDEN_BYTES];

	golden(f);
	for (int i = IP; i < ICRC; i++)
		for (int b = 0; b < 8; b++) {
			f[i] ^= (uint8_t)(1u << b);
			uint32_t c = roce_icrc_calc(f + IP, f + BTH, GOLDEN_BYTES - BTH);
			f[i] ^= (uint8_t)(1u << b);
			if (masked_byte(i))
				LT_CHECK(t, c == GOLDEN_ICRC, "masked byte %d bit %d changed the ICRC", i, b);
			else
				LT_CHECK(t, c != GOLDEN_ICRC, "byte %d bit %d left the ICRC unchanged", i, b);
		}
	/* The Ethernet addresses are not covered at all. */
	for (int i = ETH; i < ETH + 12; i++)
		for (int b = 0; b < 8; b++) {
			uint32_t c = 0;
			f[i] ^= (uint8_t)(1u << b);
			int err = roce_icrc_frame(&c, f, GOLDEN_BYTES, ROCE_LINK_ETHERNET, ROCE_UDP_PORT);
			f[i] ^= (uint8_t)(1u << b);
			LT_CHECK(t, err == 0 && c == GOLDEN_ICRC, "MAC byte %d bit %d", i, b);
		}
}

/* The golden frame's IPv4/UDP context (what recvmsg would report). */
static struct roce_ipv4_udp golden_ip(void)
{
	return (struct roce_ipv4_udp){
		.saddr = 0x0a001101, .daddr = 0x0a001201, .sport = 0, .dport = 4791,
		.ip_id = 0x718c, .ip_frag = ROCE_IP_DF, .tos = 0xc2, .ttl = 0x40,
	};
}

static void test_ipv4_udp_encode_matches_golden(struct lt *t)
{
	uint8_t f[GOLDEN_BYTES], h[ROCE_IPV4_UDP_BYTES];
	struct roce_ipv4_udp ip = golden_ip();

	golden(f);
	roce_ipv4_udp_encode(h, &ip, GOLDEN_BYTES - BTH);
	for (int i = 0; i < ROCE_IPV4_UDP_BYTES; i++)
		LT_CHECK(t, h[i] == f[IP + i], "header byte %d: 0x%02x, frame has 0x%02x", i, h[i],
			 f[IP + i]);
	LT_CHECK(t, roce_icrc_udp(&ip, f + BTH, GOLDEN_BYTES - BTH) == GOLDEN_ICRC, "udp entry");
	/* The masked fields do not matter to the socket-side entry point. */
	ip.tos = 0, ip.ttl = 1;
	LT_CHECK(t, roce_icrc_udp(&ip, f + BTH, GOLDEN_BYTES - BTH) == GOLDEN_ICRC, "tos/ttl masked");
	ip.ip_id = 0;	/* ...but the IP identification does */
	LT_CHECK(t, roce_icrc_udp(&ip, f + BTH, GOLDEN_BYTES - BTH) != GOLDEN_ICRC, "ip_id covered");
}

static void test_socket_context(struct lt *t)
{
	struct roce_ipv4_udp ip;
	uint8_t h[ROCE_IPV4_UDP_BYTES];

	roce_ipv4_udp_socket(&ip, 0x7f000001, 1234, 0x7f000002, 4791);
	roce_ipv4_udp_encode(h, &ip, 100);
	/* ID 0 and DF, as Linux writes for an unconnected IP_PMTUDISC_DO socket. */
	LT_CHECK(t, h[4] == 0 && h[5] == 0 && h[6] == 0x40 && h[7] == 0, "id/frag %02x%02x %02x%02x",
		 h[4], h[5], h[6], h[7]);
	LT_CHECK(t, h[2] == 0 && h[3] == 128 && h[24] == 0 && h[25] == 108, "lengths");
	LT_CHECK(t, h[26] == 0 && h[27] == 0, "UDP checksum 0");
	uint32_t sum = 0;	/* the IPv4 header sums to 0xffff */
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	LT_CHECK(t, sum == 0xffff, "IPv4 checksum: sum 0x%x", sum);
}

/* roce_icrc_begin + roce_crc32 over the rest == roce_icrc_udp, any split. */
static void test_incremental(struct lt *t)
{
	uint8_t pkt[12 + 16 + 1024 + 4];
	struct loom_rng r;
	struct roce_ipv4_udp ip;

	loom_rng_init(&r, lt_seed(t));
	roce_ipv4_udp_socket(&ip, 0x0a000001, 50000, 0x0a000002, 4791);
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)loom_rng_u32(&r);
	uint32_t want = roce_icrc_udp(&ip, pkt, sizeof(pkt));
	for (size_t hdr = 12; hdr <= 28; hdr += 4) {
		uint32_t c = roce_icrc_begin(&ip, pkt, hdr, sizeof(pkt));
		c = roce_crc32(c, pkt + hdr, sizeof(pkt) - hdr - 4);
		LT_CHECK(t, c == want, "hdr %zu: 0x%08x, want 0x%08x", hdr, c, want);
	}
	LT_CHECK(t, roce_icrc_calc(pkt, pkt, 15) == 0, "too short gives 0");
}

static const struct lt_case cases[] = {
	LT_CASE(test_crc32_check_value),
	LT_CASE(test_crc32_vs_bitwise),
	LT_CASE(test_crc32_paths_long),
	LT_CASE(test_golden_cnp),
	LT_CASE(test_bit_flips),
	LT_CASE(test_ipv4_udp_encode_matches_golden),
	LT_CASE(test_socket_context),
	LT_CASE(test_incremental),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }

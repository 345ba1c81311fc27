/*
 * roce_icrc.c - CRC-32 (zlib's, slicing-by-8) and the RoCEv2 invariant CRC
 * (IBA 7.8.1 with the RoCEv2 annex; REFERENCE.md §7; Linux rxe_icrc.c).
 *
 * The ICRC is CRC-32 over: 8 bytes of 0xff (the masked LRH of InfiniBand),
 * the IPv4 header with TOS, TTL and header checksum set to ones, the UDP
 * header with its checksum set to ones, the BTH with byte 4 (FECN, BECN,
 * reserved) set to ones, then the extension headers, payload and pad.  It
 * is stored little-endian after the pad.  Masked fields are the ones a
 * router may rewrite.
 *
 * CRC-32 runs by carry-less multiplication where the CPU has PCLMULQDQ
 * (checked at run time; four 512-bit lanes of VPCLMULQDQ folding 256
 * bytes a step where it has AVX-512 with VPCLMULQDQ, about 3x the 128-bit
 * version on a 4 KiB packet), slicing-by-8 tables otherwise and for the
 * tails.
 *
 * Not here: locating headers in a frame (roce_frame.c), checking a packet
 * (roce_pkt.c).  Thread-safe: the tables are built once under pthread_once.
 */
#include "loom/roce.h"

#include <pthread.h>
#include <string.h>

#include "roce_bytes.h"

#define CRC32_POLY 0xedb88320u	/* 0x04c11db7 reflected */

/* tab[0] is the byte-at-a-time table; tab[k][b] is the CRC of byte b
 * followed by k zero bytes, so eight table look-ups consume 8 bytes. */
static uint32_t crc_tab[8][256];
static bool crc_have_clmul, crc_have_vclmul;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32_POLY : c >> 1;
		crc_tab[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][b] = (crc_tab[t - 1][b] >> 8) ^ crc_tab[0][crc_tab[t - 1][b] & 0xff];
#if defined(__x86_64__) && defined(__GNUC__)
	crc_have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
	crc_have_vclmul = crc_have_clmul && __builtin_cpu_supports("avx512f") &&
			  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq");
#endif
}

/* Slicing-by-8 on the CRC register c (not inverted here); any length. */
static uint32_t crc_slice8(uint32_t c, const uint8_t *p, size_t len)
{
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo = c ^ get_le32(p), hi = get_le32(p + 4);
		c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		    crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		    crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		    crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
	}
	for (; len; p++, len--)
		c = crc_tab[0][(c ^ *p) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CLMUL __attribute__((target("pclmul,sse4.1")))

/* Fold a (x1..x4, 64 bytes) by 64 bytes: x = hi(x) * k2 ^ lo(x) * k1 ^ next. */
CLMUL static inline __m128i fold16(__m128i x, __m128i k, __m128i next)
{
	__m128i lo = _mm_clmulepi64_si128(x, k, 0x00), hi = _mm_clmulepi64_si128(x, k, 0x11);
	return _mm_xor_si128(_mm_xor_si128(hi, lo), next);
}

/*
 * CRC register over len bytes (len >= 64, a multiple of 16) by carry-less
 * multiplication (Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", Intel 2009; the reflected constants and
 * Barrett step as in Chromium's zlib and Linux crc32-pclmul).  Four
 * 128-bit lanes fold 64 bytes per step, then 128 -> 64 -> 32 bits.
 */
/* The end of the 128-bit CRC: four lanes x1..x4 holding the last 64 bytes
 * folded so far, then len more bytes at p (a multiple of 16). */
CLMUL static uint32_t crc_clmul_end(__m128i x1, __m128i x2, __m128i x3, __m128i x4,
				    const uint8_t *p, size_t len)
{
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);

	x1 = fold16(fold16(fold16(x1, k3k4, x2), k3k4, x3), k3k4, x4);
	for (; len >= 16; p += 16, len -= 16)
		x1 = fold16(x1, k3k4, _mm_loadu_si128((const __m128i *)p));
	/* 128 -> 64 bits. */
	x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5k0, 0x00), x2);
	/* Barrett reduction to 32 bits. */
	x2 = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10), mask32);
	x1 = _mm_xor_si128(x1, _mm_clmulepi64_si128(x2, poly, 0x00));
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

/*
 * CRC register over len bytes (len >= 64, a multiple of 16) by carry-less
 * multiplication (Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", Intel 2009; the reflected constants and
 * Barrett step as in Chromium's zlib and Linux crc32-pclmul).  Four
 * 128-bit lanes fold 64 bytes per step, then 128 -> 64 -> 32 bits.
 */
CLMUL static uint32_t crc_clmul(uint32_t c, const uint8_t *p, size_t len)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	__m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
	__m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
	__m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
	__m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));

	for (p += 64, len -= 64; len >= 64; p += 64, len -= 64) {
		x1 = fold16(x1, k1k2, _mm_loadu_si128((const __m128i *)p));
		x2 = fold16(x2, k1k2, _mm_loadu_si128((const __m128i *)(p + 16)));
		x3 = fold16(x3, k1k2, _mm_loadu_si128((const __m128i *)(p + 32)));
		x4 = fold16(x4, k1k2, _mm_loadu_si128((const __m128i *)(p + 48)));
	}
	return crc_clmul_end(x1, x2, x3, x4, p, len);
}

#define VCLMUL __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.1")))

/* Four 128-bit lanes at once: x = hi(x) * k_hi ^ lo(x) * k_lo ^ next. */
VCLMUL static inline __m512i fold64z(__m512i x, __m512i k, __m512i next)
{
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
					 _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

/*
 * The same with VPCLMULQDQ (len >= 256, a multiple of 16): four 512-bit
 * accumulators fold 256 bytes per step (constants x^(8*256 +- 32) mod P,
 * reflected, as the 64-byte ones above are x^(8*64 +- 32)), are folded
 * into one by 64 bytes each, and the 128-bit code finishes.
 */
VCLMUL static uint32_t crc_vclmul(uint32_t c, const uint8_t *p, size_t len)
{
	const __m512i k256 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01322d1430, 0x011542778a));
	const __m512i k64 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01c6e41596, 0x0154442bd4));
	__m512i a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
				      _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
	__m512i a1 = _mm512_loadu_si512(p + 64), a2 = _mm512_loadu_si512(p + 128),
		a3 = _mm512_loadu_si512(p + 192);

	for (p += 256, len -= 256; len >= 256; p += 256, len -= 256) {
		a0 = fold64z(a0, k256, _mm512_loadu_si512(p));
		a1 = fold64z(a1, k256, _mm512_loadu_si512(p + 64));
		a2 = fold64z(a2, k256, _mm512_loadu_si512(p + 128));
		a3 = fold64z(a3, k256, _mm512_loadu_si512(p + 192));
	}
	a3 = fold64z(fold64z(fold64z(a0, k64, a1), k64, a2), k64, a3);
	for (; len >= 64; p += 64, len -= 64)
		a3 = fold64z(a3, k64, _mm512_loadu_si512(p));
	return crc_clmul_end(_mm512_extracti32x4_epi32(a3, 0), _mm512_extracti32x4_epi32(a3, 1),
			     _mm512_extracti32x4_epi32(a3, 2), _mm512_extracti32x4_epi32(a3, 3), p,
			     len);
}
#endif

uint32_t roce_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__) && defined(__GNUC__)
	if (crc_have_clmul && len >= 64) {
		size_t n = len & ~(size_t)15;
		c = crc_have_vclmul && n >= 256 ? crc_vclmul(c, p, n) : crc_clmul(c, p, n);
		p += n, len -= n;
	}
#endif
	return ~crc_slice8(c, p, len);
}

/*
 * The CRC over the masked pseudo header: 8 x 0xff | IPv4 | UDP | BTH, with
 * the masked fields set to ones on a copy.  Offsets within the IPv4 header:
 * 1 TOS, 8 TTL, 10-11 checksum; within UDP: 6-7 checksum.
 */
static uint32_t icrc_pseudo_hdr(const uint8_t ip_udp[ROCE_IPV4_UDP_BYTES], const uint8_t *bth)
{
	enum { LRH = 8, IP = LRH, UDP = IP + 20, BTH = IP + ROCE_IPV4_UDP_BYTES };
	uint8_t ph[BTH + ROCE_BTH_BYTES];

	memset(ph, 0xff, LRH);
	memcpy(ph + IP, ip_udp, ROCE_IPV4_UDP_BYTES);
	memcpy(ph + BTH, bth, ROCE_BTH_BYTES);
	ph[IP + 1] = 0xff;
	ph[IP + 8] = 0xff;
	ph[IP + 10] = ph[IP + 11] = 0xff;
	ph[UDP + 6] = ph[UDP + 7] = 0xff;
	ph[BTH + ROCE_BTH_CN] = 0xff;
	return roce_crc32(0, ph, sizeof(ph));
}

uint32_t roce_icrc_calc(const uint8_t ip_udp[ROCE_IPV4_UDP_BYTES], const uint8_t *pkt, size_t len)
{
	if (len < ROCE_BTH_BYTES + ROCE_ICRC_BYTES)
		return 0;
	uint32_t crc = icrc_pseudo_hdr(ip_udp, pkt);
	return roce_crc32(crc, pkt + ROCE_BTH_BYTES, len - ROCE_BTH_BYTES - ROCE_ICRC_BYTES);
}

uint32_t roce_icrc_udp(const struct roce_ipv4_udp *ip, const uint8_t *pkt, size_t len)
{
	uint8_t ip_udp[ROCE_IPV4_UDP_BYTES];

	roce_ipv4_udp_encode(ip_udp, ip, len);
	return roce_icrc_calc(ip_udp, pkt, len);
}

uint32_t roce_icrc_begin(const struct roce_ipv4_udp *ip, const uint8_t *hdr, size_t hdr_bytes,
			 size_t udp_payload_bytes)
{
	uint8_t ip_udp[ROCE_IPV4_UDP_BYTES];

	roce_ipv4_udp_encode(ip_udp, ip, udp_payload_bytes);
	uint32_t crc = icrc_pseudo_hdr(ip_udp, hdr);
	return roce_crc32(crc, hdr + ROCE_BTH_BYTES, hdr_bytes - ROCE_BTH_BYTES);
}

/*
 * logfmt.c - LogFMT-nBit codec, n = 8..16, on 1x128 tiles (contract and bit
 * layout in include/loom/logfmt.h; REFERENCE.md §3).
 *
 * The decoder is integer-only (fixed-point log2, three 256-entry ROMs, two
 * 32x32 multiplies, one rounding) so CUDA and RTL can match it bit for bit.
 * The encoder picks each code by exact linear-space comparisons against the
 * decoder's own magnitudes; a float log2 only supplies the first guess.
 * Not here: fusing into a transport, GPU code, stochastic rounding.
 */
#include "loom/logfmt.h"

#include "loom/err.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define FX_ONE ((int64_t)1 << LOGFMT_FRAC_BITS)
#define EXP2_E_LIMIT ((int64_t)1 << 32)

/*
 * The exp2 ROMs (logfmt.h, "Decoding"): entries rounded to nearest from
 * 200-bit arithmetic; none lies within 2^-20 of a rounding tie, so any
 * correct generator gives these words.  tests/kernels/test_logfmt.c checks
 * each against exp2l.
 */
/* round(2^(a / 2^8) * 2^31), a = bits 23..16 of the fraction */
static const uint32_t exp2_t0[256] = {
	0x80000000, 0x8058d7d3, 0x80b1ed50, 0x810b40a2, 0x8164d1f4, 0x81bea171,
	0x8218af43, 0x8272fb98, 0x82cd8699, 0x83285072, 0x8383594f, 0x83dea15c,
	0x843a28c4, 0x8495efb3, 0x84f1f656, 0x854e3cd9, 0x85aac368, 0x86078a2f,
	0x8664915c, 0x86c1d91a, 0x871f6197, 0x877d2aff, 0x87db3580, 0x88398147,
	0x88980e81, 0x88f6dd5b, 0x8955ee03, 0x89b540a8, 0x8a14d575, 0x8a74ac9a,
	0x8ad4c645, 0x8b3522a4, 0x8b95c1e4, 0x8bf6a435, 0x8c57c9c4, 0x8cb932c2,
	0x8d1adf5b, 0x8d7ccfc1, 0x8ddf0420, 0x8e417ca9, 0x8ea4398b, 0x8f073af6,
	0x8f6a8118, 0x8fce0c22, 0x9031dc43, 0x9095f1ac, 0x90fa4c8c, 0x915eed14,
	0x91c3d374, 0x9228ffdc, 0x928e727e, 0x92f42b89, 0x935a2b2f, 0x93c071a1,
	0x9426ff10, 0x948dd3ad, 0x94f4efa9, 0x955c5337, 0x95c3fe87, 0x962bf1cc,
	0x96942d37, 0x96fcb0fb, 0x97657d4a, 0x97ce9256, 0x9837f052, 0x98a1976f,
	0x990b87e2, 0x9975c1dd, 0x99e04593, 0x9a4b1337, 0x9ab62afd, 0x9b218d17,
	0x9b8d39ba, 0x9bf93119, 0x9c657368, 0x9cd200dc, 0x9d3ed9a7, 0x9dabfdff,
	0x9e196e19, 0x9e872a27, 0x9ef53261, 0x9f6386f9, 0x9fd22825, 0xa041161b,
	0xa0b05110, 0xa11fd938, 0xa18faecb, 0xa1ffd1fc, 0xa2704303, 0xa2e10215,
	0xa3520f69, 0xa3c36b34, 0xa43515ae, 0xa4a70f0d, 0xa5195787, 0xa58bef53,
	0xa5fed6aa, 0xa6720dc1, 0xa6e594d0, 0xa7596c0f, 0xa7cd93b5, 0xa8420bfa,
	0xa8b6d516, 0xa92bef42, 0xa9a15ab5, 0xaa1717a8, 0xaa8d2653, 0xab0386ef,
	0xab7a39b6, 0xabf13edf, 0xac6896a5, 0xace04140, 0xad583eea, 0xadd08fdd,
	0xae493453, 0xaec22c85, 0xaf3b78ad, 0xafb51907, 0xb02f0dcc, 0xb0a95736,
	0xb123f582, 0xb19ee8e9, 0xb21a31a6, 0xb295cff6, 0xb311c413, 0xb38e0e38,
	0xb40aaea2, 0xb487a58d, 0xb504f334, 0xb58297d4, 0xb60093a8, 0xb67ee6ef,
	0xb6fd91e3, 0xb77c94c3, 0xb7fbefcb, 0xb87ba338, 0xb8fbaf47, 0xb97c1437,
	0xb9fcd245, 0xba7de9af, 0xbaff5ab2, 0xbb81258d, 0xbc034a7f, 0xbc85c9c5,
	0xbd08a39f, 0xbd8bd84c, 0xbe0f680a, 0xbe935318, 0xbf1799b6, 0xbf9c3c25,
	0xc0213aa2, 0xc0a6956f, 0xc12c4cca, 0xc1b260f6, 0xc238d231, 0xc2bfa0bd,
	0xc346ccda, 0xc3ce56ca, 0xc4563ecc, 0xc4de8524, 0xc5672a11, 0xc5f02dd7,
	0xc67990b6, 0xc70352f0, 0xc78d74c9, 0xc817f681, 0xc8a2d85d, 0xc92e1a9d,
	0xc9b9bd86, 0xca45c15b, 0xcad2265e, 0xcb5eecd4, 0xcbec14ff, 0xcc799f24,
	0xcd078b86, 0xcd95da6b, 0xce248c15, 0xceb3a0ca, 0xcf4318cf, 0xcfd2f468,
	0xd06333db, 0xd0f3d76c, 0xd184df62, 0xd2164c02, 0xd2a81d92, 0xd33a5458,
	0xd3ccf09a, 0xd45ff29e, 0xd4f35aac, 0xd587290a, 0xd61b5dff, 0xd6aff9d2,
	0xd744fccb, 0xd7da6731, 0xd870394c, 0xd9067365, 0xd99d15c2, 0xda3420ae,
	0xdacb946f, 0xdb637150, 0xdbfbb798, 0xdc946791, 0xdd2d8185, 0xddc705bd,
	0xde60f482, 0xdefb4e20, 0xdf9612df, 0xe031430a, 0xe0ccdeec, 0xe168e6d0,
	0xe2055b00, 0xe2a23bc8, 0xe33f8973, 0xe3dd444c, 0xe47b6ca0, 0xe51a02bb,
	0xe5b906e7, 0xe6587973, 0xe6f85aab, 0xe798aadb, 0xe8396a50, 0xe8da9958,
	0xe97c3840, 0xea1e4756, 0xeac0c6e8, 0xeb63b743, 0xec0718b6, 0xecaaeb90,
	0xed4f301f, 0xedf3e6b2, 0xee990f98, 0xef3eab21, 0xefe4b99c, 0xf08b3b59,
	0xf13230a8, 0xf1d999d9, 0xf281773c, 0xf329c923, 0xf3d28fde, 0xf47bcbbe,
	0xf5257d15, 0xf5cfa434, 0xf67a416c, 0xf7255511, 0xf7d0df73, 0xf87ce0e6,
	0xf92959bb, 0xf9d64a47, 0xfa83b2db, 0xfb3193cc, 0xfbdfed6d, 0xfc8ec011,
	0xfd3e0c0d, 0xfdedd1b5, 0xfe9e115c, 0xff4ecb59,
};
/* round(2^(b / 2^16) * 2^31), b = bits 15..8 */
static const uint32_t exp2_t1[256] = {
	0x80000000, 0x800058b9, 0x8000b173, 0x80010a2c, 0x800162e6, 0x8001bba0,
	0x8002145b, 0x80026d15, 0x8002c5d0, 0x80031e8b, 0x80037746, 0x8003d002,
	0x800428be, 0x8004817a, 0x8004da36, 0x800532f3, 0x80058baf, 0x8005e46d,
	0x80063d2a, 0x800695e7, 0x8006eea5, 0x80074763, 0x8007a021, 0x8007f8e0,
	0x8008519e, 0x8008aa5d, 0x8009031c, 0x80095bdc, 0x8009b49b, 0x800a0d5b,
	0x800a661c, 0x800abedc, 0x800b179d, 0x800b705d, 0x800bc91e, 0x800c21e0,
	0x800c7aa1, 0x800cd363, 0x800d2c25, 0x800d84e8, 0x800dddaa, 0x800e366d,
	0x800e8f30, 0x800ee7f3, 0x800f40b7, 0x800f997a, 0x800ff23e, 0x80104b03,
	0x8010a3c7, 0x8010fc8c, 0x80115551, 0x8011ae16, 0x801206db, 0x80125fa1,
	0x8012b867, 0x8013112d, 0x801369f3, 0x8013c2ba, 0x80141b81, 0x80147448,
	0x8014cd0f, 0x801525d7, 0x80157e9f, 0x8015d767, 0x8016302f, 0x801688f8,
	0x8016e1c0, 0x80173a89, 0x80179353, 0x8017ec1c, 0x801844e6, 0x80189db0,
	0x8018f67a, 0x80194f45, 0x8019a80f, 0x801a00da, 0x801a59a6, 0x801ab271,
	0x801b0b3d, 0x801b6409, 0x801bbcd5, 0x801c15a1, 0x801c6e6e, 0x801cc73b,
	0x801d2008, 0x801d78d5, 0x801dd1a3, 0x801e2a70, 0x801e833f, 0x801edc0d,
	0x801f34db, 0x801f8daa, 0x801fe679, 0x80203f49, 0x80209818, 0x8020f0e8,
	0x802149b8, 0x8021a288, 0x8021fb59, 0x80225429, 0x8022acfa, 0x802305cb,
	0x80235e9d, 0x8023b76f, 0x80241040, 0x80246913, 0x8024c1e5, 0x80251ab8,
	0x8025738b, 0x8025cc5e, 0x80262531, 0x80267e05, 0x8026d6d9, 0x80272fad,
	0x80278881, 0x8027e156, 0x80283a2a, 0x802892ff, 0x8028ebd5, 0x802944aa,
	0x80299d80, 0x8029f656, 0x802a4f2c, 0x802aa803, 0x802b00d9, 0x802b59b0,
	0x802bb288, 0x802c0b5f, 0x802c6437, 0x802cbd0f, 0x802d15e7, 0x802d6ebf,
	0x802dc798, 0x802e2071, 0x802e794a, 0x802ed223, 0x802f2afd, 0x802f83d7,
	0x802fdcb1, 0x8030358b, 0x80308e66, 0x8030e741, 0x8031401c, 0x803198f7,
	0x8031f1d3, 0x80324aae, 0x8032a38a, 0x8032fc67, 0x80335543, 0x8033ae20,
	0x803406fd, 0x80345fda, 0x8034b8b8, 0x80351195, 0x80356a73, 0x8035c352,
	0x80361c30, 0x8036750f, 0x8036cdee, 0x803726cd, 0x80377fac, 0x8037d88c,
	0x8038316c, 0x80388a4c, 0x8038e32c, 0x80393c0d, 0x803994ee, 0x8039edcf,
	0x803a46b0, 0x803a9f92, 0x803af873, 0x803b5155, 0x803baa38, 0x803c031a,
	0x803c5bfd, 0x803cb4e0, 0x803d0dc3, 0x803d66a7, 0x803dbf8a, 0x803e186e,
	0x803e7153, 0x803eca37, 0x803f231c, 0x803f7c01, 0x803fd4e6, 0x80402dcb,
	0x804086b1, 0x8040df97, 0x8041387d, 0x80419163, 0x8041ea4a, 0x80424331,
	0x80429c18, 0x8042f4ff, 0x80434de7, 0x8043a6cf, 0x8043ffb7, 0x8044589f,
	0x8044b187, 0x80450a70, 0x80456359, 0x8045bc43, 0x8046152c, 0x80466e16,
	0x8046c700, 0x80471fea, 0x804778d4, 0x8047d1bf, 0x80482aaa, 0x80488395,
	0x8048dc81, 0x8049356c, 0x80498e58, 0x8049e744, 0x804a4031, 0x804a991e,
	0x804af20a, 0x804b4af8, 0x804ba3e5, 0x804bfcd2, 0x804c55c0, 0x804caeae,
	0x804d079d, 0x804d608b, 0x804db97a, 0x804e1269, 0x804e6b58, 0x804ec448,
	0x804f1d38, 0x804f7628, 0x804fcf18, 0x80502808, 0x805080f9, 0x8050d9ea,
	0x805132db, 0x80518bcd, 0x8051e4be, 0x80523db0, 0x805296a3, 0x8052ef95,
	0x80534888, 0x8053a17b, 0x8053fa6e, 0x80545361, 0x8054ac55, 0x80550548,
	0x80555e3d, 0x8055b731, 0x80561026, 0x8056691a, 0x8056c20f, 0x80571b05,
	0x805773fa, 0x8057ccf0, 0x805825e6, 0x80587edc,
};
/* round(2^(c / 2^24) * 2^31), c = bits 7..0 */
static const uint32_t exp2_t2[256] = {
	0x80000000, 0x80000059, 0x800000b1, 0x8000010a, 0x80000163, 0x800001bc,
	0x80000214, 0x8000026d, 0x800002c6, 0x8000031f, 0x80000377, 0x800003d0,
	0x80000429, 0x80000481, 0x800004da, 0x80000533, 0x8000058c, 0x800005e4,
	0x8000063d, 0x80000696, 0x800006ee, 0x80000747, 0x800007a0, 0x800007f9,
	0x80000851, 0x800008aa, 0x80000903, 0x8000095c, 0x800009b4, 0x80000a0d,
	0x80000a66, 0x80000abe, 0x80000b17, 0x80000b70, 0x80000bc9, 0x80000c21,
	0x80000c7a, 0x80000cd3, 0x80000d2b, 0x80000d84, 0x80000ddd, 0x80000e36,
	0x80000e8e, 0x80000ee7, 0x80000f40, 0x80000f99, 0x80000ff1, 0x8000104a,
	0x800010a3, 0x800010fb, 0x80001154, 0x800011ad, 0x80001206, 0x8000125e,
	0x800012b7, 0x80001310, 0x80001368, 0x800013c1, 0x8000141a, 0x80001473,
	0x800014cb, 0x80001524, 0x8000157d, 0x800015d6, 0x8000162e, 0x80001687,
	0x800016e0, 0x80001738, 0x80001791, 0x800017ea, 0x80001843, 0x8000189b,
	0x800018f4, 0x8000194d, 0x800019a6, 0x800019fe, 0x80001a57, 0x80001ab0,
	0x80001b08, 0x80001b61, 0x80001bba, 0x80001c13, 0x80001c6b, 0x80001cc4,
	0x80001d1d, 0x80001d75, 0x80001dce, 0x80001e27, 0x80001e80, 0x80001ed8,
	0x80001f31, 0x80001f8a, 0x80001fe3, 0x8000203b, 0x80002094, 0x800020ed,
	0x80002145, 0x8000219e, 0x800021f7, 0x80002250, 0x800022a8, 0x80002301,
	0x8000235a, 0x800023b2, 0x8000240b, 0x80002464, 0x800024bd, 0x80002515,
	0x8000256e, 0x800025c7, 0x80002620, 0x80002678, 0x800026d1, 0x8000272a,
	0x80002782, 0x800027db, 0x80002834, 0x8000288d, 0x800028e5, 0x8000293e,
	0x80002997, 0x800029ef, 0x80002a48, 0x80002aa1, 0x80002afa, 0x80002b52,
	0x80002bab, 0x80002c04, 0x80002c5d, 0x80002cb5, 0x80002d0e, 0x80002d67,
	0x80002dbf, 0x80002e18, 0x80002e71, 0x80002eca, 0x80002f22, 0x80002f7b,
	0x80002fd4, 0x8000302d, 0x80003085, 0x800030de, 0x80003137, 0x8000318f,
	0x800031e8, 0x80003241, 0x8000329a, 0x800032f2, 0x8000334b, 0x800033a4,
	0x800033fc, 0x80003455, 0x800034ae, 0x80003507, 0x8000355f, 0x800035b8,
	0x80003611, 0x8000366a, 0x800036c2, 0x8000371b, 0x80003774, 0x800037cc,
	0x80003825, 0x8000387e, 0x800038d7, 0x8000392f, 0x80003988, 0x800039e1,
	0x80003a39, 0x80003a92, 0x80003aeb, 0x80003b44, 0x80003b9c, 0x80003bf5,
	0x80003c4e, 0x80003ca7, 0x80003cff, 0x80003d58, 0x80003db1, 0x80003e09,
	0x80003e62, 0x80003ebb, 0x80003f14, 0x80003f6c, 0x80003fc5, 0x8000401e,
	0x80004077, 0x800040cf, 0x80004128, 0x80004181, 0x800041d9, 0x80004232,
	0x8000428b, 0x800042e4, 0x8000433c, 0x80004395, 0x800043ee, 0x80004446,
	0x8000449f, 0x800044f8, 0x80004551, 0x800045a9, 0x80004602, 0x8000465b,
	0x800046b4, 0x8000470c, 0x80004765, 0x800047be, 0x80004816, 0x8000486f,
	0x800048c8, 0x80004921, 0x80004979, 0x800049d2, 0x80004a2b, 0x80004a83,
	0x80004adc, 0x80004b35, 0x80004b8e, 0x80004be6, 0x80004c3f, 0x80004c98,
	0x80004cf1, 0x80004d49, 0x80004da2, 0x80004dfb, 0x80004e53, 0x80004eac,
	0x80004f05, 0x80004f5e, 0x80004fb6, 0x8000500f, 0x80005068, 0x800050c1,
	0x80005119, 0x80005172, 0x800051cb, 0x80005223, 0x8000527c, 0x800052d5,
	0x8000532e, 0x80005386, 0x800053df, 0x80005438, 0x80005490, 0x800054e9,
	0x80005542, 0x8000559b, 0x800055f3, 0x8000564c, 0x800056a5, 0x800056fe,
	0x80005756, 0x800057af, 0x80005808, 0x80005860,
};

/* ---- exp2 in fixed point -------------------------------------------- */

/* v / 2^s rounded to nearest, ties to even (0 < s < 64); branch-free, as
 * the round-up bit is data-dependent and would mispredict half the time. */
static uint64_t shr_rne(uint64_t v, int s)
{
	uint64_t r = v >> s, rem = v & (((uint64_t)1 << s) - 1), half = (uint64_t)1 << (s - 1);

	return r + ((rem > half) | ((rem == half) & (r & 1)));
}

static float f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* q * 2^(i - 31) rounded once to FP32 (2^31 <= q < 2^32). */
static float q131_to_f32(uint64_t q, int i)
{
	if (i >= -126) {			/* normal: keep 24 bits */
		uint64_t r = shr_rne(q, 8);

		if (r == ((uint64_t)1 << 24)) {	/* rounded up to 2.0 */
			r >>= 1;
			i++;
		}
		if (i > 127)
			return FLT_MAX;
		return f32_from_bits((uint32_t)(i + 127) << 23 | ((uint32_t)r & 0x7fffffu));
	}
	int s = -118 - i;			/* subnormal grid is 2^-149 */
	if (s >= 40)
		return 0.0f;
	return f32_from_bits((uint32_t)shr_rne(q, s)); /* 2^23 is FLT_MIN: still right */
}

float logfmt_exp2_fx(int64_t e)
{
	if (e > EXP2_E_LIMIT)
		e = EXP2_E_LIMIT;
	if (e < -EXP2_E_LIMIT)
		e = -EXP2_E_LIMIT;
	/* floor division by 2^24 without shifting a negative number */
	uint64_t u = (uint64_t)(e + ((int64_t)512 << LOGFMT_FRAC_BITS));
	int i = (int)(u >> LOGFMT_FRAC_BITS) - 512;
	uint32_t f = (uint32_t)(u & (uint64_t)(FX_ONE - 1));
	uint64_t p = ((uint64_t)exp2_t0[f >> 16] * exp2_t1[(f >> 8) & 255] + (1u << 30)) >> 31;
	uint64_t q = (p * exp2_t2[f & 255] + (1u << 30)) >> 31;

	return q131_to_f32(q, i);
}

/* ---- the codebook of one tile ---------------------------------------- */

struct codebook {
	int64_t lo;	/* log2_min in fixed point */
	int64_t d;	/* hi - lo >= 0 */
	int64_t q;	/* TOP - 1 */
	uint64_t qinv;	/* floor(2^64 / q) + 1: a / q = (a * qinv) >> 64 */
	uint32_t top;	/* largest magnitude code, 2^(n-1) - 1 */
	double lmin;	/* log2_min, for the first guess only */
	double gscale;	/* codes per unit of log2 (0 when d == 0) */
};

static int64_t fx_from_log2(float l)
{
	return (int64_t)llrint((double)l * (double)FX_ONE); /* exact product; RNE */
}

bool logfmt_header_valid(const struct logfmt_header *hd)
{
	const float lim = LOGFMT_HEADER_LOG2_LIMIT;

	return hd && isfinite(hd->log2_min) && isfinite(hd->log2_max) &&
	       hd->log2_min <= hd->log2_max && hd->log2_min >= -lim && hd->log2_max <= lim;
}

/* hd must be valid and nbits in range. */
static void codebook_init(struct codebook *c, const struct logfmt_header *hd, int nbits)
{
	c->lo = fx_from_log2(hd->log2_min);
	c->d = fx_from_log2(hd->log2_max) - c->lo;
	c->top = (1u << (nbits - 1)) - 1;
	c->q = (int64_t)c->top - 1;
	c->qinv = UINT64_MAX / (uint64_t)c->q + 1;	/* q is not a power of two */
	c->lmin = (double)c->lo / (double)FX_ONE;
	c->gscale = c->d > 0 ? (double)c->q * (double)FX_ONE / (double)c->d : 0.0;
}

/*
 * m(k), k in 0..top.  The exact quotient floor(a / q) as a multiply: with
 * qinv = floor(2^64 / q) + 1 the product overshoots a / q by less than
 * a / 2^64 < 2^-16 (a < 2^48: d <= 384 * 2^24, k < 2^15), while a / q is
 * at least 1/q > 2^-15 below the next integer, so the floor is exact.
 */
static float codebook_mag(const struct codebook *c, uint32_t k)
{
	if (k == 0)
		return 0.0f;
	uint64_t a = (uint64_t)(c->d * (int64_t)(k - 1) + c->q / 2);
	uint64_t quot = (uint64_t)(((unsigned __int128)a * c->qinv) >> 64);

	return logfmt_exp2_fx(c->lo + (int64_t)quot);
}

/* Does 2|x| reach the midpoint of m(k) and m(k+1)?  (sums exact in double) */
static bool passed(const struct codebook *c, double x2, uint32_t k)
{
	return x2 >= (double)codebook_mag(c, k) + (double)codebook_mag(c, k + 1);
}

/* First guess at K from log2|x|; any guess gives the same answer. */
static uint32_t guess_code(const struct codebook *c, float ax)
{
	if (ax == 0.0f)
		return 0;
	if (c->d == 0)
		return 1;
	double g = floor(((double)log2f(ax) - c->lmin) * c->gscale + 1.5);
	if (g < 0.0)
		return 0;
	return g > (double)c->top ? c->top : (uint32_t)g;
}

/* K in [lo, hi] with passed(k) for k < K and not for k >= K: bisect. */
static uint32_t bisect(const struct codebook *c, double x2, uint32_t lo, uint32_t hi)
{
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (passed(c, x2, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * K = #{k < top : passed(k)} (logfmt.h, "Encoding"), searched from guess g.
 * Usually passed(g - 1) and not passed(g): K = g from three magnitudes that
 * the CPU computes in parallel.  Otherwise m(g) settles one side (m is
 * non-decreasing: |x| >= m(g) means passed(g - 1)); gallop away from g on
 * the other, then bisect.
 */
static uint32_t find_code(const struct codebook *c, float ax, uint32_t g)
{
	double x2 = 2.0 * (double)ax, mg = codebook_mag(c, g);
	uint32_t lo, hi, step = 1;	/* K in [lo, hi] */

	if (g >= 1 && g < c->top) {	/* usual case, without data-dependent branches */
		double mlo = codebook_mag(c, g - 1), mhi = codebook_mag(c, g + 1);

		if ((x2 >= mlo + mg) & (x2 < mg + mhi))
			return g;
	}
	if ((double)ax >= mg) {				/* K >= g */
		if (g == c->top || x2 < mg + (double)codebook_mag(c, g + 1))
			return g;
		lo = g + 1;
		hi = c->top;
		while (lo < hi) {
			uint32_t p = lo + step - 1 < hi ? lo + step - 1 : hi - 1;

			if (!passed(c, x2, p)) {
				hi = p;
				break;
			}
			lo = p + 1;
			step *= 2;
		}
	} else {					/* K < g, as g >= 1 */
		if (x2 >= (double)codebook_mag(c, g - 1) + mg)
			return g;
		lo = 0;
		hi = g - 1;
		while (lo < hi) {
			uint32_t p = hi >= step ? hi - step : 0;

			if (passed(c, x2, p)) {
				lo = p + 1;
				break;
			}
			hi = p;
			step *= 2;
		}
	}
	return bisect(c, x2, lo, hi);
}

static uint32_t encode_one(const struct codebook *c, float x, int nbits)
{
	float ax = fabsf(x);
	uint32_t k = find_code(c, ax, guess_code(c, ax));

	return (signbit(x) ? 1u << (nbits - 1) : 0u) | k;
}

/* The sign goes in as a bit (a branch on it would mispredict). */
static float decode_one(const struct codebook *c, uint32_t code, int nbits)
{
	float m = codebook_mag(c, code & c->top);
	uint32_t u;

	memcpy(&u, &m, sizeof(u));
	u |= (code >> (nbits - 1) & 1u) << 31;
	return f32_from_bits(u);
}

/*
 * n <= 9: the whole codebook (<= 256 magnitudes, two per element at most)
 * costs less than three magnitudes per element, so compute it once per
 * tile and search it.  Same rule, same codes as encode_one().
 */
#define SMALL_TOP 255u

static uint32_t find_code_small(const float *m, uint32_t top, float ax, uint32_t g)
{
	double x2 = 2.0 * (double)ax;
	uint32_t lo = 0, hi = top;

	if (g >= 1 && g < top &&
	    (x2 >= (double)m[g - 1] + m[g]) & (x2 < (double)m[g] + m[g + 1]))
		return g;
	while (lo < hi) {	/* K = #{k < top : 2|x| >= m(k) + m(k+1)} */
		uint32_t mid = lo + (hi - lo) / 2;

		if (x2 >= (double)m[mid] + m[mid + 1])
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void encode_small(uint16_t *codes, const struct codebook *c, const float *x, int len,
			 int nbits)
{
	float m[SMALL_TOP + 1];

	for (uint32_t k = 0; k <= c->top; k++)
		m[k] = codebook_mag(c, k);
	for (int i = 0; i < len; i++) {
		float ax = fabsf(x[i]);
		uint32_t k = find_code_small(m, c->top, ax, guess_code(c, ax));

		codes[i] = (uint16_t)((signbit(x[i]) ? 1u << (nbits - 1) : 0u) | k);
	}
}

/* ---- packing ----------------------------------------------------------- */

/* The bit stream of logfmt.h: code i at bits [i n, i n + n), LSB first. */
static void codes_pack(uint8_t *dst, const uint16_t *codes, int count, int nbits)
{
	uint32_t mask = (1u << nbits) - 1, acc = 0;
	int have = 0;	/* bits waiting in acc (< 8 between codes) */

	for (int i = 0; i < count; i++) {
		acc |= (codes[i] & mask) << have;
		for (have += nbits; have >= 8; have -= 8, acc >>= 8)
			*dst++ = (uint8_t)acc;
	}
	if (have > 0)
		*dst = (uint8_t)acc;
}

static void codes_unpack(uint16_t *codes, const uint8_t *src, int count, int nbits)
{
	uint32_t mask = (1u << nbits) - 1, acc = 0;
	int have = 0;

	for (int i = 0; i < count; i++) {
		for (; have < nbits; have += 8)
			acc |= (uint32_t)*src++ << have;
		codes[i] = (uint16_t)(acc & mask);
		acc >>= nbits;
		have -= nbits;
	}
}

void logfmt_codes_pack(uint8_t *dst, const uint16_t *codes, int count, int nbits)
{
	if (dst && codes && count >= 0 && nbits >= 1 && nbits <= 16)
		codes_pack(dst, codes, count, nbits);
}

void logfmt_codes_unpack(uint16_t *codes, const uint8_t *src, int count, int nbits)
{
	if (codes && src && count >= 0 && nbits >= 1 && nbits <= 16)
		codes_unpack(codes, src, count, nbits);
}

/* ---- header ------------------------------------------------------------ */

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void logfmt_header_load(struct logfmt_header *hd, const uint8_t *src)
{
	hd->log2_min = f32_from_bits(load_le32(src));
	hd->log2_max = f32_from_bits(load_le32(src + 4));
}

void logfmt_header_store(uint8_t *dst, const struct logfmt_header *hd)
{
	uint32_t u;

	memcpy(&u, &hd->log2_min, sizeof(u));
	store_le32(dst, u);
	memcpy(&u, &hd->log2_max, sizeof(u));
	store_le32(dst + 4, u);
}

/* Index of the first NaN or inf in x[0..len), or -1. */
static int first_nonfinite(const float *x, int len)
{
	for (int i = 0; i < len; i++)
		if (!isfinite(x[i]))
			return i;
	return -1;
}

/* The header of a finite tile (rules in logfmt.h). */
static void header_of(struct logfmt_header *hd, const float *x, int len)
{
	float amax = 0.0f, amin = INFINITY;

	for (int i = 0; i < len; i++) {
		float a = fabsf(x[i]);

		amax = a > amax ? a : amax;
		if (a != 0.0f && a < amin)
			amin = a;
	}
	if (amax == 0.0f) {
		hd->log2_min = hd->log2_max = 0.0f;
		return;
	}
	hd->log2_max = (float)log2((double)amax);
	hd->log2_min = (float)log2((double)amin);
	float floor_min = hd->log2_max - LOGFMT_CLAMP_LOG2;
	if (hd->log2_min < floor_min)
		hd->log2_min = floor_min;
}

static int check_bits(const char *fn, int nbits)
{
	if (nbits < LOGFMT_MIN_BITS || nbits > LOGFMT_MAX_BITS)
		return loom_err_set(EINVAL, "%s: nbits=%d must be in %d..%d", fn, nbits,
				    LOGFMT_MIN_BITS, LOGFMT_MAX_BITS);
	return 0;
}

int logfmt_tile_header(struct logfmt_header *hd, const float *x, int len)
{
	if (!hd || !x)
		return loom_err_set(EINVAL, "logfmt_tile_header: NULL pointer");
	if (len < 1 || len > LOGFMT_TILE)
		return loom_err_set(EINVAL, "logfmt_tile_header: len=%d must be in 1..%d", len,
				    LOGFMT_TILE);
	int bad = first_nonfinite(x, len);
	if (bad >= 0)
		return loom_err_set(EINVAL, "logfmt_tile_header: x[%d] is %s", bad,
				    isnan(x[bad]) ? "NaN" : "inf");
	header_of(hd, x, len);
	return 0;
}

/* ---- one tile ---------------------------------------------------------- */

/* Encode a finite tile (arguments checked by the caller). */
static void tile_encode(uint8_t *dst, const float *x, int len, int nbits)
{
	struct logfmt_header hd;
	struct codebook c;
	uint16_t codes[LOGFMT_TILE] = { 0 };	/* unused slots stay 0 */

	header_of(&hd, x, len);
	codebook_init(&c, &hd, nbits);
	if (c.top <= SMALL_TOP)
		encode_small(codes, &c, x, len, nbits);
	else
		for (int i = 0; i < len; i++)
			codes[i] = (uint16_t)encode_one(&c, x[i], nbits);
	logfmt_header_store(dst, &hd);
	codes_pack(dst + LOGFMT_HEADER_BYTES, codes, LOGFMT_TILE, nbits);
}

/* Decode one tile; -EINVAL on a corrupt header.  fn names the caller. */
static int tile_decode(float *x, const uint8_t *src, int len, int nbits, const char *fn,
		       long row, long col)
{
	struct logfmt_header hd;
	struct codebook c;
	uint16_t codes[LOGFMT_TILE];

	logfmt_header_load(&hd, src);
	if (!logfmt_header_valid(&hd))
		return loom_err_set(EINVAL,
				    "%s: corrupt header (log2_min=%g log2_max=%g) at row %ld col %ld",
				    fn, (double)hd.log2_min, (double)hd.log2_max, row, col);
	codebook_init(&c, &hd, nbits);
	codes_unpack(codes, src + LOGFMT_HEADER_BYTES, len, nbits);
	for (int i = 0; i < len; i++)
		x[i] = decode_one(&c, codes[i], nbits);
	return 0;
}

static int check_tile_args(const char *fn, const void *dst, const void *src, int nbits)
{
	if (!dst || !src)
		return loom_err_set(EINVAL, "%s: NULL pointer", fn);
	return check_bits(fn, nbits);
}

/* (Checked here, not in the helper, so the compiler sees len <= 128 after.) */
#define CHECK_TILE_LEN(fn, len)                                                           \
	if ((len) < 1 || (len) > LOGFMT_TILE)                                             \
		return loom_err_set(EINVAL, "%s: len=%d must be in 1..%d", fn, len, LOGFMT_TILE)

int logfmt_tile_encode(uint8_t *dst, const float *x, int len, int nbits)
{
	int err = check_tile_args("logfmt_tile_encode", dst, x, nbits);

	if (err)
		return err;
	CHECK_TILE_LEN("logfmt_tile_encode", len);
	int bad = first_nonfinite(x, len);
	if (bad >= 0)
		return loom_err_set(EINVAL, "logfmt_tile_encode: x[%d] is %s (no LogFMT code)",
				    bad, isnan(x[bad]) ? "NaN" : "inf");
	tile_encode(dst, x, len, nbits);
	return 0;
}

int logfmt_tile_decode(float *x, const uint8_t *src, int len, int nbits)
{
	int err = check_tile_args("logfmt_tile_decode", x, src, nbits);

	if (err)
		return err;
	CHECK_TILE_LEN("logfmt_tile_decode", len);
	return tile_decode(x, src, len, nbits, "logfmt_tile_decode", 0, 0);
}

/* ---- single codes ------------------------------------------------------ */

float logfmt_code_to_f32(const struct logfmt_header *hd, int nbits, uint32_t code)
{
	struct codebook c;

	if (!logfmt_header_valid(hd) || nbits < LOGFMT_MIN_BITS || nbits > LOGFMT_MAX_BITS ||
	    code >= (1u << nbits))
		return NAN;
	codebook_init(&c, hd, nbits);
	return decode_one(&c, code, nbits);
}

int logfmt_code_from_f32(const struct logfmt_header *hd, int nbits, float x)
{
	struct codebook c;
	int err = check_bits("logfmt_code_from_f32", nbits);

	if (err)
		return err;
	if (!logfmt_header_valid(hd))
		return loom_err_set(EINVAL, "logfmt_code_from_f32: invalid header");
	if (!isfinite(x))
		return loom_err_set(EINVAL, "logfmt_code_from_f32: x is %s",
				    isnan(x) ? "NaN" : "inf");
	codebook_init(&c, hd, nbits);
	return (int)encode_one(&c, x, nbits);
}

/* ---- rows (T, H) ------------------------------------------------------- */

int logfmt_tile_bytes(int nbits)
{
	int err = check_bits("logfmt_tile_bytes", nbits);

	return err ? err : LOGFMT_HEADER_BYTES + LOGFMT_TILE / 8 * nbits;
}

static int check_rows(const char *fn, const void *dst, const void *src, int t, int h,
		      int nbits)
{
	if (!dst || !src)
		return loom_err_set(EINVAL, "%s: NULL pointer", fn);
	if (t <= 0 || h <= 0)
		return loom_err_set(EINVAL, "%s: t=%d h=%d must be > 0", fn, t, h);
	return check_bits(fn, nbits);
}

/* -EINVAL naming the first NaN / inf of tile (r, c0..c0+len). */
static int check_finite(const char *fn, const float *xt, int len, int r, int c0)
{
	int bad = first_nonfinite(xt, len);

	if (bad < 0)
		return 0;
	return loom_err_set(EINVAL, "%s: x[%d][%d] is %s (no LogFMT code)", fn, r, c0 + bad,
			    isnan(xt[bad]) ? "NaN" : "inf");
}

/* ceil(h / 128) without overflowing h + 127 */
static int tiles_per_row(int h) { return h / LOGFMT_TILE + (h % LOGFMT_TILE != 0); }

int64_t logfmt_packed_bytes(int t, int h, int nbits)
{
	int err = check_rows("logfmt_packed_bytes", "", "", t, h, nbits);

	if (err)
		return err;
	int64_t tiles = (int64_t)t * tiles_per_row(h), tb = logfmt_tile_bytes(nbits);
	if (tiles > INT64_MAX / tb)
		return loom_err_set(EINVAL, "logfmt_packed_bytes: t=%d h=%d n=%d exceeds INT64_MAX "
				    "bytes", t, h, nbits);
	return tiles * tb;
}

int logfmt_encode(uint8_t *dst, const float *x, int t, int h, int nbits)
{
	int err = check_rows("logfmt_encode", dst, x, t, h, nbits);

	if (err)
		return err;
	size_t tb = (size_t)logfmt_tile_bytes(nbits);
	for (int r = 0; r < t; r++) {
		/* int64_t c0: the step past the last tile may pass INT_MAX */
		for (int64_t c0 = 0; c0 < h; c0 += LOGFMT_TILE) {
			const float *xt = x + (size_t)r * h + c0;
			int len = h - c0 < LOGFMT_TILE ? h - c0 : LOGFMT_TILE;

			err = check_finite("logfmt_encode", xt, len, r, c0);
			if (err)
				return err;
			tile_encode(dst, xt, len, nbits);
			dst += tb;
		}
	}
	return 0;
}

int logfmt_decode(float *x, const uint8_t *src, int t, int h, int nbits)
{
	int err = check_rows("logfmt_decode", x, src, t, h, nbits);

	if (err)
		return err;
	size_t tb = (size_t)logfmt_tile_bytes(nbits);
	for (int r = 0; r < t; r++) {
		for (int64_t c0 = 0; c0 < h; c0 += LOGFMT_TILE) {
			int len = h - c0 < LOGFMT_TILE ? h - c0 : LOGFMT_TILE;

			err = tile_decode(x + (size_t)r * h + c0, src, len, nbits, "logfmt_decode",
					  r, c0);
			if (err)
				return err;
			src += tb;
		}
	}
	return 0;
}

int logfmt_fake_quant(float *y, const float *x, int t, int h, int nbits)
{
	uint8_t buf[LOGFMT_HEADER_BYTES + 2 * LOGFMT_TILE];
	int err = check_rows("logfmt_fake_quant", y, x, t, h, nbits);

	if (err)
		return err;
	for (int r = 0; r < t; r++) {
		for (int64_t c0 = 0; c0 < h; c0 += LOGFMT_TILE) {
			size_t off = (size_t)r * h + c0;
			int len = h - c0 < LOGFMT_TILE ? h - c0 : LOGFMT_TILE;

			err = check_finite("logfmt_fake_quant", x + off, len, r, c0);
			if (err)
				return err;
			tile_encode(buf, x + off, len, nbits);
			/* our own header is always valid: this cannot fail */
			tile_decode(y + off, buf, len, nbits, "logfmt_fake_quant", r, c0);
		}
	}
	return 0;
}

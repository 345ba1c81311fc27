/*
 * logfmt.cuh - the LogFMT-nBit arithmetic of kernels/cuda/logfmt.cu: the
 * fixed-point exp2 with its three ROMs, a tile's codebook, the exact
 * nearest-in-linear-space code search, the tile header, and the bit
 * positions of the packed code stream.  Format and rounding rules are
 * those of include/loom/logfmt.h, bit for bit.
 *
 * __host__ __device__ and compiled by g++ too: tests/kernels/
 * test_moe_layout_cuda.cpp checks exp2 against logfmt_exp2_fx for every
 * fraction, the ROM words against exp2l, the codes against
 * logfmt_code_from_f32 / logfmt_code_to_f32 and the packing against
 * logfmt_codes_pack / unpack.
 *
 * The only step that is not integer or exact arithmetic is the header's
 * log2 (logfmt.h: "log2 evaluated in double, then rounded to float").  The
 * device uses CUDA's double log2 (1 ulp), the reference glibc's; the FP32
 * headers differ only when log2 lies within ~2^-50 (relative) of an FP32
 * rounding boundary, where logfmt.h says either header is valid.  Given the
 * header, every code is decided by exact comparisons, so the codes match.
 */
#ifndef LOOM_LOGFMT_CUDA_CUH
#define LOOM_LOGFMT_CUDA_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bits.cuh"

#ifndef __CUDACC__
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

#define LF_TILE 128
#define LF_HEADER_BYTES 8
#define LF_FRAC_BITS 24
#define LF_FX_ONE ((int64_t)1 << LF_FRAC_BITS)
#define LF_E_LIMIT ((int64_t)1 << 32)
#define LF_CLAMP_LOG2 32.0f
#define LF_HEADER_LIMIT 192.0f

/* The ROMs of logfmt.h ("Decoding"), the words of kernels/logfmt.c:
 * T0[a] = RN(2^(a/2^8) 2^31), T1[b] = RN(2^(b/2^16) 2^31),
 * T2[c] = RN(2^(c/2^24) 2^31). */
#define LF_T0 { \
	0x80000000u, 0x8058d7d3u, 0x80b1ed50u, 0x810b40a2u, 0x8164d1f4u, 0x81bea171u,   \
	0x8218af43u, 0x8272fb98u, 0x82cd8699u, 0x83285072u, 0x8383594fu, 0x83dea15cu,   \
	0x843a28c4u, 0x8495efb3u, 0x84f1f656u, 0x854e3cd9u, 0x85aac368u, 0x86078a2fu,   \
	0x8664915cu, 0x86c1d91au, 0x871f6197u, 0x877d2affu, 0x87db3580u, 0x88398147u,   \
	0x88980e81u, 0x88f6dd5bu, 0x8955ee03u, 0x89b540a8u, 0x8a14d575u, 0x8a74ac9au,   \
	0x8ad4c645u, 0x8b3522a4u, 0x8b95c1e4u, 0x8bf6a435u, 0x8c57c9c4u, 0x8cb932c2u,   \
	0x8d1adf5bu, 0x8d7ccfc1u, 0x8ddf0420u, 0x8e417ca9u, 0x8ea4398bu, 0x8f073af6u,   \
	0x8f6a8118u, 0x8fce0c22u, 0x9031dc43u, 0x9095f1acu, 0x90fa4c8cu, 0x915eed14u,   \
	0x91c3d374u, 0x9228ffdcu, 0x928e727eu, 0x92f42b89u, 0x935a2b2fu, 0x93c071a1u,   \
	0x9426ff10u, 0x948dd3adu, 0x94f4efa9u, 0x955c5337u, 0x95c3fe87u, 0x962bf1ccu,   \
	0x96942d37u, 0x96fcb0fbu, 0x97657d4au, 0x97ce9256u, 0x9837f052u, 0x98a1976fu,   \
	0x990b87e2u, 0x9975c1ddu, 0x99e04593u, 0x9a4b1337u, 0x9ab62afdu, 0x9b218d17u,   \
	0x9b8d39bau, 0x9bf93119u, 0x9c657368u, 0x9cd200dcu, 0x9d3ed9a7u, 0x9dabfdffu,   \
	0x9e196e19u, 0x9e872a27u, 0x9ef53261u, 0x9f6386f9u, 0x9fd22825u, 0xa041161bu,   \
	0xa0b05110u, 0xa11fd938u, 0xa18faecbu, 0xa1ffd1fcu, 0xa2704303u, 0xa2e10215u,   \
	0xa3520f69u, 0xa3c36b34u, 0xa43515aeu, 0xa4a70f0du, 0xa5195787u, 0xa58bef53u,   \
	0xa5fed6aau, 0xa6720dc1u, 0xa6e594d0u, 0xa7596c0fu, 0xa7cd93b5u, 0xa8420bfau,   \
	0xa8b6d516u, 0xa92bef42u, 0xa9a15ab5u, 0xaa1717a8u, 0xaa8d2653u, 0xab0386efu,   \
	0xab7a39b6u, 0xabf13edfu, 0xac6896a5u, 0xace04140u, 0xad583eeau, 0xadd08fddu,   \
	0xae493453u, 0xaec22c85u, 0xaf3b78adu, 0xafb51907u, 0xb02f0dccu, 0xb0a95736u,   \
	0xb123f582u, 0xb19ee8e9u, 0xb21a31a6u, 0xb295cff6u, 0xb311c413u, 0xb38e0e38u,   \
	0xb40aaea2u, 0xb487a58du, 0xb504f334u, 0xb58297d4u, 0xb60093a8u, 0xb67ee6efu,   \
	0xb6fd91e3u, 0xb77c94c3u, 0xb7fbefcbu, 0xb87ba338u, 0xb8fbaf47u, 0xb97c1437u,   \
	0xb9fcd245u, 0xba7de9afu, 0xbaff5ab2u, 0xbb81258du, 0xbc034a7fu, 0xbc85c9c5u,   \
	0xbd08a39fu, 0xbd8bd84cu, 0xbe0f680au, 0xbe935318u, 0xbf1799b6u, 0xbf9c3c25u,   \
	0xc0213aa2u, 0xc0a6956fu, 0xc12c4ccau, 0xc1b260f6u, 0xc238d231u, 0xc2bfa0bdu,   \
	0xc346ccdau, 0xc3ce56cau, 0xc4563eccu, 0xc4de8524u, 0xc5672a11u, 0xc5f02dd7u,   \
	0xc67990b6u, 0xc70352f0u, 0xc78d74c9u, 0xc817f681u, 0xc8a2d85du, 0xc92e1a9du,   \
	0xc9b9bd86u, 0xca45c15bu, 0xcad2265eu, 0xcb5eecd4u, 0xcbec14ffu, 0xcc799f24u,   \
	0xcd078b86u, 0xcd95da6bu, 0xce248c15u, 0xceb3a0cau, 0xcf4318cfu, 0xcfd2f468u,   \
	0xd06333dbu, 0xd0f3d76cu, 0xd184df62u, 0xd2164c02u, 0xd2a81d92u, 0xd33a5458u,   \
	0xd3ccf09au, 0xd45ff29eu, 0xd4f35aacu, 0xd587290au, 0xd61b5dffu, 0xd6aff9d2u,   \
	0xd744fccbu, 0xd7da6731u, 0xd870394cu, 0xd9067365u, 0xd99d15c2u, 0xda3420aeu,   \
	0xdacb946fu, 0xdb637150u, 0xdbfbb798u, 0xdc946791u, 0xdd2d8185u, 0xddc705bdu,   \
	0xde60f482u, 0xdefb4e20u, 0xdf9612dfu, 0xe031430au, 0xe0ccdeecu, 0xe168e6d0u,   \
	0xe2055b00u, 0xe2a23bc8u, 0xe33f8973u, 0xe3dd444cu, 0xe47b6ca0u, 0xe51a02bbu,   \
	0xe5b906e7u, 0xe6587973u, 0xe6f85aabu, 0xe798aadbu, 0xe8396a50u, 0xe8da9958u,   \
	0xe97c3840u, 0xea1e4756u, 0xeac0c6e8u, 0xeb63b743u, 0xec0718b6u, 0xecaaeb90u,   \
	0xed4f301fu, 0xedf3e6b2u, 0xee990f98u, 0xef3eab21u, 0xefe4b99cu, 0xf08b3b59u,   \
	0xf13230a8u, 0xf1d999d9u, 0xf281773cu, 0xf329c923u, 0xf3d28fdeu, 0xf47bcbbeu,   \
	0xf5257d15u, 0xf5cfa434u, 0xf67a416cu, 0xf7255511u, 0xf7d0df73u, 0xf87ce0e6u,   \
	0xf92959bbu, 0xf9d64a47u, 0xfa83b2dbu, 0xfb3193ccu, 0xfbdfed6du, 0xfc8ec011u,   \
	0xfd3e0c0du, 0xfdedd1b5u, 0xfe9e115cu, 0xff4ecb59u,                             \
}

#define LF_T1 { \
	0x80000000u, 0x800058b9u, 0x8000b173u, 0x80010a2cu, 0x800162e6u, 0x8001bba0u,   \
	0x8002145bu, 0x80026d15u, 0x8002c5d0u, 0x80031e8bu, 0x80037746u, 0x8003d002u,   \
	0x800428beu, 0x8004817au, 0x8004da36u, 0x800532f3u, 0x80058bafu, 0x8005e46du,   \
	0x80063d2au, 0x800695e7u, 0x8006eea5u, 0x80074763u, 0x8007a021u, 0x8007f8e0u,   \
	0x8008519eu, 0x8008aa5du, 0x8009031cu, 0x80095bdcu, 0x8009b49bu, 0x800a0d5bu,   \
	0x800a661cu, 0x800abedcu, 0x800b179du, 0x800b705du, 0x800bc91eu, 0x800c21e0u,   \
	0x800c7aa1u, 0x800cd363u, 0x800d2c25u, 0x800d84e8u, 0x800dddaau, 0x800e366du,   \
	0x800e8f30u, 0x800ee7f3u, 0x800f40b7u, 0x800f997au, 0x800ff23eu, 0x80104b03u,   \
	0x8010a3c7u, 0x8010fc8cu, 0x80115551u, 0x8011ae16u, 0x801206dbu, 0x80125fa1u,   \
	0x8012b867u, 0x8013112du, 0x801369f3u, 0x8013c2bau, 0x80141b81u, 0x80147448u,   \
	0x8014cd0fu, 0x801525d7u, 0x80157e9fu, 0x8015d767u, 0x8016302fu, 0x801688f8u,   \
	0x8016e1c0u, 0x80173a89u, 0x80179353u, 0x8017ec1cu, 0x801844e6u, 0x80189db0u,   \
	0x8018f67au, 0x80194f45u, 0x8019a80fu, 0x801a00dau, 0x801a59a6u, 0x801ab271u,   \
	0x801b0b3du, 0x801b6409u, 0x801bbcd5u, 0x801c15a1u, 0x801c6e6eu, 0x801cc73bu,   \
	0x801d2008u, 0x801d78d5u, 0x801dd1a3u, 0x801e2a70u, 0x801e833fu, 0x801edc0du,   \
	0x801f34dbu, 0x801f8daau, 0x801fe679u, 0x80203f49u, 0x80209818u, 0x8020f0e8u,   \
	0x802149b8u, 0x8021a288u, 0x8021fb59u, 0x80225429u, 0x8022acfau, 0x802305cbu,   \
	0x80235e9du, 0x8023b76fu, 0x80241040u, 0x80246913u, 0x8024c1e5u, 0x80251ab8u,   \
	0x8025738bu, 0x8025cc5eu, 0x80262531u, 0x80267e05u, 0x8026d6d9u, 0x80272fadu,   \
	0x80278881u, 0x8027e156u, 0x80283a2au, 0x802892ffu, 0x8028ebd5u, 0x802944aau,   \
	0x80299d80u, 0x8029f656u, 0x802a4f2cu, 0x802aa803u, 0x802b00d9u, 0x802b59b0u,   \
	0x802bb288u, 0x802c0b5fu, 0x802c6437u, 0x802cbd0fu, 0x802d15e7u, 0x802d6ebfu,   \
	0x802dc798u, 0x802e2071u, 0x802e794au, 0x802ed223u, 0x802f2afdu, 0x802f83d7u,   \
	0x802fdcb1u, 0x8030358bu, 0x80308e66u, 0x8030e741u, 0x8031401cu, 0x803198f7u,   \
	0x8031f1d3u, 0x80324aaeu, 0x8032a38au, 0x8032fc67u, 0x80335543u, 0x8033ae20u,   \
	0x803406fdu, 0x80345fdau, 0x8034b8b8u, 0x80351195u, 0x80356a73u, 0x8035c352u,   \
	0x80361c30u, 0x8036750fu, 0x8036cdeeu, 0x803726cdu, 0x80377facu, 0x8037d88cu,   \
	0x8038316cu, 0x80388a4cu, 0x8038e32cu, 0x80393c0du, 0x803994eeu, 0x8039edcfu,   \
	0x803a46b0u, 0x803a9f92u, 0x803af873u, 0x803b5155u, 0x803baa38u, 0x803c031au,   \
	0x803c5bfdu, 0x803cb4e0u, 0x803d0dc3u, 0x803d66a7u, 0x803dbf8au, 0x803e186eu,   \
	0x803e7153u, 0x803eca37u, 0x803f231cu, 0x803f7c01u, 0x803fd4e6u, 0x80402dcbu,   \
	0x804086b1u, 0x8040df97u, 0x8041387du, 0x80419163u, 0x8041ea4au, 0x80424331u,   \
	0x80429c18u, 0x8042f4ffu, 0x80434de7u, 0x8043a6cfu, 0x8043ffb7u, 0x8044589fu,   \
	0x8044b187u, 0x80450a70u, 0x80456359u, 0x8045bc43u, 0x8046152cu, 0x80466e16u,   \
	0x8046c700u, 0x80471feau, 0x804778d4u, 0x8047d1bfu, 0x80482aaau, 0x80488395u,   \
	0x8048dc81u, 0x8049356cu, 0x80498e58u, 0x8049e744u, 0x804a4031u, 0x804a991eu,   \
	0x804af20au, 0x804b4af8u, 0x804ba3e5u, 0x804bfcd2u, 0x804c55c0u, 0x804caeaeu,   \
	0x804d079du, 0x804d608bu, 0x804db97au, 0x804e1269u, 0x804e6b58u, 0x804ec448u,   \
	0x804f1d38u, 0x804f7628u, 0x804fcf18u, 0x80502808u, 0x805080f9u, 0x8050d9eau,   \
	0x805132dbu, 0x80518bcdu, 0x8051e4beu, 0x80523db0u, 0x805296a3u, 0x8052ef95u,   \
	0x80534888u, 0x8053a17bu, 0x8053fa6eu, 0x80545361u, 0x8054ac55u, 0x80550548u,   \
	0x80555e3du, 0x8055b731u, 0x80561026u, 0x8056691au, 0x8056c20fu, 0x80571b05u,   \
	0x805773fau, 0x8057ccf0u, 0x805825e6u, 0x80587edcu,                             \
}

#define LF_T2 { \
	0x80000000u, 0x80000059u, 0x800000b1u, 0x8000010au, 0x80000163u, 0x800001bcu,   \
	0x80000214u, 0x8000026du, 0x800002c6u, 0x8000031fu, 0x80000377u, 0x800003d0u,   \
	0x80000429u, 0x80000481u, 0x800004dau, 0x80000533u, 0x8000058cu, 0x800005e4u,   \
	0x8000063du, 0x80000696u, 0x800006eeu, 0x80000747u, 0x800007a0u, 0x800007f9u,   \
	0x80000851u, 0x800008aau, 0x80000903u, 0x8000095cu, 0x800009b4u, 0x80000a0du,   \
	0x80000a66u, 0x80000abeu, 0x80000b17u, 0x80000b70u, 0x80000bc9u, 0x80000c21u,   \
	0x80000c7au, 0x80000cd3u, 0x80000d2bu, 0x80000d84u, 0x80000dddu, 0x80000e36u,   \
	0x80000e8eu, 0x80000ee7u, 0x80000f40u, 0x80000f99u, 0x80000ff1u, 0x8000104au,   \
	0x800010a3u, 0x800010fbu, 0x80001154u, 0x800011adu, 0x80001206u, 0x8000125eu,   \
	0x800012b7u, 0x80001310u, 0x80001368u, 0x800013c1u, 0x8000141au, 0x80001473u,   \
	0x800014cbu, 0x80001524u, 0x8000157du, 0x800015d6u, 0x8000162eu, 0x80001687u,   \
	0x800016e0u, 0x80001738u, 0x80001791u, 0x800017eau, 0x80001843u, 0x8000189bu,   \
	0x800018f4u, 0x8000194du, 0x800019a6u, 0x800019feu, 0x80001a57u, 0x80001ab0u,   \
	0x80001b08u, 0x80001b61u, 0x80001bbau, 0x80001c13u, 0x80001c6bu, 0x80001cc4u,   \
	0x80001d1du, 0x80001d75u, 0x80001dceu, 0x80001e27u, 0x80001e80u, 0x80001ed8u,   \
	0x80001f31u, 0x80001f8au, 0x80001fe3u, 0x8000203bu, 0x80002094u, 0x800020edu,   \
	0x80002145u, 0x8000219eu, 0x800021f7u, 0x80002250u, 0x800022a8u, 0x80002301u,   \
	0x8000235au, 0x800023b2u, 0x8000240bu, 0x80002464u, 0x800024bdu, 0x80002515u,   \
	0x8000256eu, 0x800025c7u, 0x80002620u, 0x80002678u, 0x800026d1u, 0x8000272au,   \
	0x80002782u, 0x800027dbu, 0x80002834u, 0x8000288du, 0x800028e5u, 0x8000293eu,   \
	0x80002997u, 0x800029efu, 0x80002a48u, 0x80002aa1u, 0x80002afau, 0x80002b52u,   \
	0x80002babu, 0x80002c04u, 0x80002c5du, 0x80002cb5u, 0x80002d0eu, 0x80002d67u,   \
	0x80002dbfu, 0x80002e18u, 0x80002e71u, 0x80002ecau, 0x80002f22u, 0x80002f7bu,   \
	0x80002fd4u, 0x8000302du, 0x80003085u, 0x800030deu, 0x80003137u, 0x8000318fu,   \
	0x800031e8u, 0x80003241u, 0x8000329au, 0x800032f2u, 0x8000334bu, 0x800033a4u,   \
	0x800033fcu, 0x80003455u, 0x800034aeu, 0x80003507u, 0x8000355fu, 0x800035b8u,   \
	0x80003611u, 0x8000366au, 0x800036c2u, 0x8000371bu, 0x80003774u, 0x800037ccu,   \
	0x80003825u, 0x8000387eu, 0x800038d7u, 0x8000392fu, 0x80003988u, 0x800039e1u,   \
	0x80003a39u, 0x80003a92u, 0x80003aebu, 0x80003b44u, 0x80003b9cu, 0x80003bf5u,   \
	0x80003c4eu, 0x80003ca7u, 0x80003cffu, 0x80003d58u, 0x80003db1u, 0x80003e09u,   \
	0x80003e62u, 0x80003ebbu, 0x80003f14u, 0x80003f6cu, 0x80003fc5u, 0x8000401eu,   \
	0x80004077u, 0x800040cfu, 0x80004128u, 0x80004181u, 0x800041d9u, 0x80004232u,   \
	0x8000428bu, 0x800042e4u, 0x8000433cu, 0x80004395u, 0x800043eeu, 0x80004446u,   \
	0x8000449fu, 0x800044f8u, 0x80004551u, 0x800045a9u, 0x80004602u, 0x8000465bu,   \
	0x800046b4u, 0x8000470cu, 0x80004765u, 0x800047beu, 0x80004816u, 0x8000486fu,   \
	0x800048c8u, 0x80004921u, 0x80004979u, 0x800049d2u, 0x80004a2bu, 0x80004a83u,   \
	0x80004adcu, 0x80004b35u, 0x80004b8eu, 0x80004be6u, 0x80004c3fu, 0x80004c98u,   \
	0x80004cf1u, 0x80004d49u, 0x80004da2u, 0x80004dfbu, 0x80004e53u, 0x80004eacu,   \
	0x80004f05u, 0x80004f5eu, 0x80004fb6u, 0x8000500fu, 0x80005068u, 0x800050c1u,   \
	0x80005119u, 0x80005172u, 0x800051cbu, 0x80005223u, 0x8000527cu, 0x800052d5u,   \
	0x8000532eu, 0x80005386u, 0x800053dfu, 0x80005438u, 0x80005490u, 0x800054e9u,   \
	0x80005542u, 0x8000559bu, 0x800055f3u, 0x8000564cu, 0x800056a5u, 0x800056feu,   \
	0x80005756u, 0x800057afu, 0x80005808u, 0x80005860u,                             \
}

#ifdef __CUDACC__
__device__ static const uint32_t lf_t0_dev[256] = LF_T0;
__device__ static const uint32_t lf_t1_dev[256] = LF_T1;
__device__ static const uint32_t lf_t2_dev[256] = LF_T2;
#endif
static const uint32_t lf_t0_host[256] = LF_T0;
static const uint32_t lf_t1_host[256] = LF_T1;
static const uint32_t lf_t2_host[256] = LF_T2;

/* v / 2^s rounded to nearest, ties to even (0 < s < 64). */
static __host__ __device__ inline uint64_t lf_shr_rne(uint64_t v, int s)
{
	uint64_t r = v >> s, rem = v & (((uint64_t)1 << s) - 1), half = (uint64_t)1 << (s - 1);

	return r + ((rem > half) | ((rem == half) & (r & 1)));
}

/* q * 2^(i - 31) rounded once to FP32 (2^31 <= q < 2^32), saturating at
 * FLT_MAX, subnormals included (logfmt.c's q131_to_f32). */
static __host__ __device__ inline float lf_q131_to_f32(uint64_t q, int i)
{
	if (i >= -126) {
		uint64_t r = lf_shr_rne(q, 8);

		if (r == ((uint64_t)1 << 24)) {
			r >>= 1;
			i++;
		}
		if (i > 127)
			return cu_f32_from_bits(0x7f7fffffu);
		return cu_f32_from_bits((uint32_t)(i + 127) << 23 | ((uint32_t)r & 0x7fffffu));
	}
	int s = -118 - i;
	if (s >= 40)
		return 0.0f;
	return cu_f32_from_bits((uint32_t)lf_shr_rne(q, s));
}

/* 2^(e / 2^24) by the ROM method, = logfmt_exp2_fx(e). */
static __host__ __device__ inline float lf_exp2_fx(int64_t e)
{
	e = e > LF_E_LIMIT ? LF_E_LIMIT : e < -LF_E_LIMIT ? -LF_E_LIMIT : e;
	uint64_t u = (uint64_t)(e + ((int64_t)512 << LF_FRAC_BITS));
	int i = (int)(u >> LF_FRAC_BITS) - 512;
	uint32_t f = (uint32_t)(u & (uint64_t)(LF_FX_ONE - 1));
#ifdef __CUDA_ARCH__
	uint64_t t0 = __ldg(&lf_t0_dev[f >> 16]), t1 = __ldg(&lf_t1_dev[(f >> 8) & 255]);
	uint64_t t2 = __ldg(&lf_t2_dev[f & 255]);
#else
	uint64_t t0 = lf_t0_host[f >> 16], t1 = lf_t1_host[(f >> 8) & 255], t2 = lf_t2_host[f & 255];
#endif
	uint64_t p = (t0 * t1 + (1u << 30)) >> 31;
	uint64_t q = (p * t2 + (1u << 30)) >> 31;

	return lf_q131_to_f32(q, i);
}

/* A tile's codebook (logfmt.c's struct codebook). */
struct lf_codebook {
	int64_t lo;	/* log2_min, fixed point */
	int64_t d;	/* hi - lo >= 0 */
	int64_t q;	/* TOP - 1 */
	uint64_t qinv;	/* floor(2^64 / q) + 1 */
	uint32_t top;	/* 2^(n-1) - 1 */
	float lmin;	/* log2_min, for the first guess only */
	float gscale;	/* codes per unit of log2, first guess only */
};

/* RNE(l * 2^24): the product is exact in double. */
static __host__ __device__ inline int64_t lf_fx_from_log2(float l)
{
#ifdef __CUDA_ARCH__
	return (int64_t)__double2ll_rn((double)l * (double)LF_FX_ONE);
#else
	return (int64_t)llrint((double)l * (double)LF_FX_ONE);
#endif
}

/* logfmt_header_valid for (lmin, lmax). */
static __host__ __device__ inline bool lf_header_valid(float lmin, float lmax)
{
	return lmin == lmin && lmax == lmax && lmin <= lmax && lmin >= -LF_HEADER_LIMIT &&
	       lmax <= LF_HEADER_LIMIT;
}

static __host__ __device__ inline struct lf_codebook lf_codebook_init(float lmin, float lmax,
								      int nbits)
{
	struct lf_codebook c;

	c.lo = lf_fx_from_log2(lmin);
	c.d = lf_fx_from_log2(lmax) - c.lo;
	c.top = (1u << (nbits - 1)) - 1;
	c.q = (int64_t)c.top - 1;
	c.qinv = UINT64_MAX / (uint64_t)c.q + 1;
	c.lmin = lmin;
	c.gscale = c.d > 0 ? (float)((double)c.q * (double)LF_FX_ONE / (double)c.d) : 0.0f;
	return c;
}

/* m(k), k in 0..top: 2^(E(k) / 2^24), E(k) = lo + floor((d (k-1) + q/2) / q);
 * the quotient by the exact multiply of logfmt.c. */
static __host__ __device__ inline float lf_mag(const struct lf_codebook &c, uint32_t k)
{
	if (k == 0)
		return 0.0f;
	uint64_t a = (uint64_t)(c.d * (int64_t)(k - 1) + c.q / 2);
#ifdef __CUDA_ARCH__
	uint64_t quot = __umul64hi(a, c.qinv);
#else
	uint64_t quot = (uint64_t)(((unsigned __int128)a * c.qinv) >> 64);
#endif
	return lf_exp2_fx(c.lo + (int64_t)quot);
}

/* Is k < top and 2|x| >= m(k) + m(k+1)?  (double sums are exact) */
static __host__ __device__ inline bool lf_passed(const struct lf_codebook &c, double x2, uint32_t k)
{
	return k < c.top && x2 >= (double)lf_mag(c, k) + (double)lf_mag(c, k + 1);
}

/* A first guess at the code of |x| = ax; any guess in 0..top gives the
 * same final code, so the device's log2f may differ from the host's. */
static __host__ __device__ inline uint32_t lf_guess(const struct lf_codebook &c, float ax)
{
	if (ax == 0.0f)
		return 0;
	if (c.d == 0)
		return 1;
	float g = floorf((log2f(ax) - c.lmin) * c.gscale + 1.5f);
	if (!(g >= 0.0f))
		return 0;
	return g > (float)c.top ? c.top : (uint32_t)g;
}

/*
 * The magnitude code K = #{k < top : 2|x| >= m(k) + m(k+1)} (logfmt.h,
 * "Encoding").  lf_passed is true then false in k (m is non-decreasing),
 * so K is the first k without it: check the guess, else bisect on the
 * side it points to.
 */
static __host__ __device__ inline uint32_t lf_find_code(const struct lf_codebook &c, float ax)
{
	double x2 = 2.0 * (double)ax;
	uint32_t g = lf_guess(c, ax), lo, hi;

	if (g > 0 && !lf_passed(c, x2, g - 1)) {
		lo = 0;
		hi = g - 1;
	} else if (lf_passed(c, x2, g)) {
		lo = g + 1;
		hi = c.top;
	} else {
		return g;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (lf_passed(c, x2, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The n-bit code of a finite x: sign bit n-1, magnitude code below. */
static __host__ __device__ inline uint32_t lf_encode_one(const struct lf_codebook &c, float x,
							 int nbits)
{
	return (cu_f32_bits(x) >> 31) << (nbits - 1) | lf_find_code(c, fabsf(x));
}

/* The float of code `code` (sign kept on zero too). */
static __host__ __device__ inline float lf_decode_one(const struct lf_codebook &c, uint32_t code,
						      int nbits)
{
	uint32_t u = cu_f32_bits(lf_mag(c, code & c.top));

	return cu_f32_from_bits(u | (code >> (nbits - 1) & 1u) << 31);
}

/* The header from a finite tile's amax and smallest non-zero |x| (amin is
 * +inf when the tile has no non-zero element): (0, 0) for an all-zero
 * tile, else the FP32-rounded double log2 of each, min clamped to
 * max - 32. */
static __host__ __device__ inline void lf_header(float amax, float amin, float *lmin, float *lmax)
{
	if (amax == 0.0f) {
		*lmin = *lmax = 0.0f;
		return;
	}
	*lmax = (float)log2((double)amax);
	*lmin = (float)log2((double)amin);
#ifdef __CUDA_ARCH__
	float floor_min = __fsub_rn(*lmax, LF_CLAMP_LOG2);
#else
	float floor_min = *lmax - LF_CLAMP_LOG2;
#endif
	if (*lmin < floor_min)
		*lmin = floor_min;
}

/* Byte b (0 <= b < 16 n) of a tile's packed code stream: bits [8b, 8b + 8)
 * where code i holds bits [i n, i n + n), LSB first; codes (128) beyond a
 * partial tile are 0.  n >= 8, so a byte spans at most two codes. */
static __host__ __device__ inline uint8_t lf_pack_byte(const uint16_t *codes, int b, int nbits)
{
	int s = 8 * b, i = s / nbits, o = s % nbits;
	uint32_t mask = (1u << nbits) - 1;
	uint32_t v = (codes[i] & mask) >> o;

	if (nbits - o < 8 && i + 1 < LF_TILE)
		v |= (codes[i + 1] & mask) << (nbits - o);
	return (uint8_t)v;
}

/* Code i (0 <= i < 128) from a tile's packed stream (16 n bytes). */
static __host__ __device__ inline uint32_t lf_unpack_code(const uint8_t *stream, int i, int nbits)
{
	int s = i * nbits, b = s / 8, o = s % 8, end = 16 * nbits;
	uint32_t v = stream[b];

	if (b + 1 < end)
		v |= (uint32_t)stream[b + 1] << 8;
	if (b + 2 < end)
		v |= (uint32_t)stream[b + 2] << 16;
	return (v >> o) & ((1u << nbits) - 1);
}

#endif

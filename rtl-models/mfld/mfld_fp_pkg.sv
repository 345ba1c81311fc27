// mfld_fp_pkg - the arithmetic of the logic die's engines, as functions.
//
// IEEE-754 binary32 multiply, add and divide rounded to nearest-even with
// subnormals in and out (no flush to zero), the BF16 / E4M3 conversions of
// include/loom/fp8.h, and the LogFMT fixed-point exp2 of kernels/logfmt.c
// with its three ROMs (copied word for word from logfmt.c).  Everything here
// is bit-exact with the C reference built with -ffp-contract=off, except
// NaN payloads: every NaN produced here is the quiet NaN 32'h7fc00000 (x86
// propagates an operand's payload; tests compare NaN as a class there).
// Not here: state, clocks, handshakes (the engines hold those).
// Functions take whole words and use only the bits they need.
/* verilator lint_off UNUSEDSIGNAL */
`ifndef MFLD_FP_PKG_SV
`define MFLD_FP_PKG_SV

package mfld_fp_pkg;

  localparam logic [31:0] F32QNaN = 32'h7fc00000;
  localparam logic [31:0] F32Inf  = 32'h7f800000;

  // logfmt.c's exp2 ROMs: round(2^(x / 2^8), 2^(x / 2^16), 2^(x / 2^24) * 2^31).
  localparam logic [31:0] Exp2T0 [256] = '{
    32'h80000000, 32'h8058d7d3, 32'h80b1ed50, 32'h810b40a2, 32'h8164d1f4, 32'h81bea171,
    32'h8218af43, 32'h8272fb98, 32'h82cd8699, 32'h83285072, 32'h8383594f, 32'h83dea15c,
    32'h843a28c4, 32'h8495efb3, 32'h84f1f656, 32'h854e3cd9, 32'h85aac368, 32'h86078a2f,
    32'h8664915c, 32'h86c1d91a, 32'h871f6197, 32'h877d2aff, 32'h87db3580, 32'h88398147,
    32'h88980e81, 32'h88f6dd5b, 32'h8955ee03, 32'h89b540a8, 32'h8a14d575, 32'h8a74ac9a,
    32'h8ad4c645, 32'h8b3522a4, 32'h8b95c1e4, 32'h8bf6a435, 32'h8c57c9c4, 32'h8cb932c2,
    32'h8d1adf5b, 32'h8d7ccfc1, 32'h8ddf0420, 32'h8e417ca9, 32'h8ea4398b, 32'h8f073af6,
    32'h8f6a8118, 32'h8fce0c22, 32'h9031dc43, 32'h9095f1ac, 32'h90fa4c8c, 32'h915eed14,
    32'h91c3d374, 32'h9228ffdc, 32'h928e727e, 32'h92f42b89, 32'h935a2b2f, 32'h93c071a1,
    32'h9426ff10, 32'h948dd3ad, 32'h94f4efa9, 32'h955c5337, 32'h95c3fe87, 32'h962bf1cc,
    32'h96942d37, 32'h96fcb0fb, 32'h97657d4a, 32'h97ce9256, 32'h9837f052, 32'h98a1976f,
    32'h990b87e2, 32'h9975c1dd, 32'h99e04593, 32'h9a4b1337, 32'h9ab62afd, 32'h9b218d17,
    32'h9b8d39ba, 32'h9bf93119, 32'h9c657368, 32'h9cd200dc, 32'h9d3ed9a7, 32'h9dabfdff,
    32'h9e196e19, 32'h9e872a27, 32'h9ef53261, 32'h9f6386f9, 32'h9fd22825, 32'ha041161b,
    32'ha0b05110, 32'ha11fd938, 32'ha18faecb, 32'ha1ffd1fc, 32'ha2704303, 32'ha2e10215,
    32'ha3520f69, 32'ha3c36b34, 32'ha43515ae, 32'ha4a70f0d, 32'ha5195787, 32'ha58bef53,
    32'ha5fed6aa, 32'ha6720dc1, 32'ha6e594d0, 32'ha7596c0f, 32'ha7cd93b5, 32'ha8420bfa,
    32'ha8b6d516, 32'ha92bef42, 32'ha9a15ab5, 32'haa1717a8, 32'haa8d2653, 32'hab0386ef,
    32'hab7a39b6, 32'habf13edf, 32'hac6896a5, 32'hace04140, 32'had583eea, 32'hadd08fdd,
    32'hae493453, 32'haec22c85, 32'haf3b78ad, 32'hafb51907, 32'hb02f0dcc, 32'hb0a95736,
    32'hb123f582, 32'hb19ee8e9, 32'hb21a31a6, 32'hb295cff6, 32'hb311c413, 32'hb38e0e38,
    32'hb40aaea2, 32'hb487a58d, 32'hb504f334, 32'hb58297d4, 32'hb60093a8, 32'hb67ee6ef,
    32'hb6fd91e3, 32'hb77c94c3, 32'hb7fbefcb, 32'hb87ba338, 32'hb8fbaf47, 32'hb97c1437,
    32'hb9fcd245, 32'hba7de9af, 32'hbaff5ab2, 32'hbb81258d, 32'hbc034a7f, 32'hbc85c9c5,
    32'hbd08a39f, 32'hbd8bd84c, 32'hbe0f680a, 32'hbe935318, 32'hbf1799b6, 32'hbf9c3c25,
    32'hc0213aa2, 32'hc0a6956f, 32'hc12c4cca, 32'hc1b260f6, 32'hc238d231, 32'hc2bfa0bd,
    32'hc346ccda, 32'hc3ce56ca, 32'hc4563ecc, 32'hc4de8524, 32'hc5672a11, 32'hc5f02dd7,
    32'hc67990b6, 32'hc70352f0, 32'hc78d74c9, 32'hc817f681, 32'hc8a2d85d, 32'hc92e1a9d,
    32'hc9b9bd86, 32'hca45c15b, 32'hcad2265e, 32'hcb5eecd4, 32'hcbec14ff, 32'hcc799f24,
    32'hcd078b86, 32'hcd95da6b, 32'hce248c15, 32'hceb3a0ca, 32'hcf4318cf, 32'hcfd2f468,
    32'hd06333db, 32'hd0f3d76c, 32'hd184df62, 32'hd2164c02, 32'hd2a81d92, 32'hd33a5458,
    32'hd3ccf09a, 32'hd45ff29e, 32'hd4f35aac, 32'hd587290a, 32'hd61b5dff, 32'hd6aff9d2,
    32'hd744fccb, 32'hd7da6731, 32'hd870394c, 32'hd9067365, 32'hd99d15c2, 32'hda3420ae,
    32'hdacb946f, 32'hdb637150, 32'hdbfbb798, 32'hdc946791, 32'hdd2d8185, 32'hddc705bd,
    32'hde60f482, 32'hdefb4e20, 32'hdf9612df, 32'he031430a, 32'he0ccdeec, 32'he168e6d0,
    32'he2055b00, 32'he2a23bc8, 32'he33f8973, 32'he3dd444c, 32'he47b6ca0, 32'he51a02bb,
    32'he5b906e7, 32'he6587973, 32'he6f85aab, 32'he798aadb, 32'he8396a50, 32'he8da9958,
    32'he97c3840, 32'hea1e4756, 32'heac0c6e8, 32'heb63b743, 32'hec0718b6, 32'hecaaeb90,
    32'hed4f301f, 32'hedf3e6b2, 32'hee990f98, 32'hef3eab21, 32'hefe4b99c, 32'hf08b3b59,
    32'hf13230a8, 32'hf1d999d9, 32'hf281773c, 32'hf329c923, 32'hf3d28fde, 32'hf47bcbbe,
    32'hf5257d15, 32'hf5cfa434, 32'hf67a416c, 32'hf7255511, 32'hf7d0df73, 32'hf87ce0e6,
    32'hf92959bb, 32'hf9d64a47, 32'hfa83b2db, 32'hfb3193cc, 32'hfbdfed6d, 32'hfc8ec011,
    32'hfd3e0c0d, 32'hfdedd1b5, 32'hfe9e115c, 32'hff4ecb59
  };

  localparam logic [31:0] Exp2T1 [256] = '{
    32'h80000000, 32'h800058b9, 32'h8000b173, 32'h80010a2c, 32'h800162e6, 32'h8001bba0,
    32'h8002145b, 32'h80026d15, 32'h8002c5d0, 32'h80031e8b, 32'h80037746, 32'h8003d002,
    32'h800428be, 32'h8004817a, 32'h8004da36, 32'h800532f3, 32'h80058baf, 32'h8005e46d,
    32'h80063d2a, 32'h800695e7, 32'h8006eea5, 32'h80074763, 32'h8007a021, 32'h8007f8e0,
    32'h8008519e, 32'h8008aa5d, 32'h8009031c, 32'h80095bdc, 32'h8009b49b, 32'h800a0d5b,
    32'h800a661c, 32'h800abedc, 32'h800b179d, 32'h800b705d, 32'h800bc91e, 32'h800c21e0,
    32'h800c7aa1, 32'h800cd363, 32'h800d2c25, 32'h800d84e8, 32'h800dddaa, 32'h800e366d,
    32'h800e8f30, 32'h800ee7f3, 32'h800f40b7, 32'h800f997a, 32'h800ff23e, 32'h80104b03,
    32'h8010a3c7, 32'h8010fc8c, 32'h80115551, 32'h8011ae16, 32'h801206db, 32'h80125fa1,
    32'h8012b867, 32'h8013112d, 32'h801369f3, 32'h8013c2ba, 32'h80141b81, 32'h80147448,
    32'h8014cd0f, 32'h801525d7, 32'h80157e9f, 32'h8015d767, 32'h8016302f, 32'h801688f8,
    32'h8016e1c0, 32'h80173a89, 32'h80179353, 32'h8017ec1c, 32'h801844e6, 32'h80189db0,
    32'h8018f67a, 32'h80194f45, 32'h8019a80f, 32'h801a00da, 32'h801a59a6, 32'h801ab271,
    32'h801b0b3d, 32'h801b6409, 32'h801bbcd5, 32'h801c15a1, 32'h801c6e6e, 32'h801cc73b,
    32'h801d2008, 32'h801d78d5, 32'h801dd1a3, 32'h801e2a70, 32'h801e833f, 32'h801edc0d,
    32'h801f34db, 32'h801f8daa, 32'h801fe679, 32'h80203f49, 32'h80209818, 32'h8020f0e8,
    32'h802149b8, 32'h8021a288, 32'h8021fb59, 32'h80225429, 32'h8022acfa, 32'h802305cb,
    32'h80235e9d, 32'h8023b76f, 32'h80241040, 32'h80246913, 32'h8024c1e5, 32'h80251ab8,
    32'h8025738b, 32'h8025cc5e, 32'h80262531, 32'h80267e05, 32'h8026d6d9, 32'h80272fad,
    32'h80278881, 32'h8027e156, 32'h80283a2a, 32'h802892ff, 32'h8028ebd5, 32'h802944aa,
    32'h80299d80, 32'h8029f656, 32'h802a4f2c, 32'h802aa803, 32'h802b00d9, 32'h802b59b0,
    32'h802bb288, 32'h802c0b5f, 32'h802c6437, 32'h802cbd0f, 32'h802d15e7, 32'h802d6ebf,
    32'h802dc798, 32'h802e2071, 32'h802e794a, 32'h802ed223, 32'h802f2afd, 32'h802f83d7,
    32'h802fdcb1, 32'h8030358b, 32'h80308e66, 32'h8030e741, 32'h8031401c, 32'h803198f7,
    32'h8031f1d3, 32'h80324aae, 32'h8032a38a, 32'h8032fc67, 32'h80335543, 32'h8033ae20,
    32'h803406fd, 32'h80345fda, 32'h8034b8b8, 32'h80351195, 32'h80356a73, 32'h8035c352,
    32'h80361c30, 32'h8036750f, 32'h8036cdee, 32'h803726cd, 32'h80377fac, 32'h8037d88c,
    32'h8038316c, 32'h80388a4c, 32'h8038e32c, 32'h80393c0d, 32'h803994ee, 32'h8039edcf,
    32'h803a46b0, 32'h803a9f92, 32'h803af873, 32'h803b5155, 32'h803baa38, 32'h803c031a,
    32'h803c5bfd, 32'h803cb4e0, 32'h803d0dc3, 32'h803d66a7, 32'h803dbf8a, 32'h803e186e,
    32'h803e7153, 32'h803eca37, 32'h803f231c, 32'h803f7c01, 32'h803fd4e6, 32'h80402dcb,
    32'h804086b1, 32'h8040df97, 32'h8041387d, 32'h80419163, 32'h8041ea4a, 32'h80424331,
    32'h80429c18, 32'h8042f4ff, 32'h80434de7, 32'h8043a6cf, 32'h8043ffb7, 32'h8044589f,
    32'h8044b187, 32'h80450a70, 32'h80456359, 32'h8045bc43, 32'h8046152c, 32'h80466e16,
    32'h8046c700, 32'h80471fea, 32'h804778d4, 32'h8047d1bf, 32'h80482aaa, 32'h80488395,
    32'h8048dc81, 32'h8049356c, 32'h80498e58, 32'h8049e744, 32'h804a4031, 32'h804a991e,
    32'h804af20a, 32'h804b4af8, 32'h804ba3e5, 32'h804bfcd2, 32'h804c55c0, 32'h804caeae,
    32'h804d079d, 32'h804d608b, 32'h804db97a, 32'h804e1269, 32'h804e6b58, 32'h804ec448,
    32'h804f1d38, 32'h804f7628, 32'h804fcf18, 32'h80502808, 32'h805080f9, 32'h8050d9ea,
    32'h805132db, 32'h80518bcd, 32'h8051e4be, 32'h80523db0, 32'h805296a3, 32'h8052ef95,
    32'h80534888, 32'h8053a17b, 32'h8053fa6e, 32'h80545361, 32'h8054ac55, 32'h80550548,
    32'h80555e3d, 32'h8055b731, 32'h80561026, 32'h8056691a, 32'h8056c20f, 32'h80571b05,
    32'h805773fa, 32'h8057ccf0, 32'h805825e6, 32'h80587edc
  };

  localparam logic [31:0] Exp2T2 [256] = '{
    32'h80000000, 32'h80000059, 32'h800000b1, 32'h8000010a, 32'h80000163, 32'h800001bc,
    32'h80000214, 32'h8000026d, 32'h800002c6, 32'h8000031f, 32'h80000377, 32'h800003d0,
    32'h80000429, 32'h80000481, 32'h800004da, 32'h80000533, 32'h8000058c, 32'h800005e4,
    32'h8000063d, 32'h80000696, 32'h800006ee, 32'h80000747, 32'h800007a0, 32'h800007f9,
    32'h80000851, 32'h800008aa, 32'h80000903, 32'h8000095c, 32'h800009b4, 32'h80000a0d,
    32'h80000a66, 32'h80000abe, 32'h80000b17, 32'h80000b70, 32'h80000bc9, 32'h80000c21,
    32'h80000c7a, 32'h80000cd3, 32'h80000d2b, 32'h80000d84, 32'h80000ddd, 32'h80000e36,
    32'h80000e8e, 32'h80000ee7, 32'h80000f40, 32'h80000f99, 32'h80000ff1, 32'h8000104a,
    32'h800010a3, 32'h800010fb, 32'h80001154, 32'h800011ad, 32'h80001206, 32'h8000125e,
    32'h800012b7, 32'h80001310, 32'h80001368, 32'h800013c1, 32'h8000141a, 32'h80001473,
    32'h800014cb, 32'h80001524, 32'h8000157d, 32'h800015d6, 32'h8000162e, 32'h80001687,
    32'h800016e0, 32'h80001738, 32'h80001791, 32'h800017ea, 32'h80001843, 32'h8000189b,
    32'h800018f4, 32'h8000194d, 32'h800019a6, 32'h800019fe, 32'h80001a57, 32'h80001ab0,
    32'h80001b08, 32'h80001b61, 32'h80001bba, 32'h80001c13, 32'h80001c6b, 32'h80001cc4,
    32'h80001d1d, 32'h80001d75, 32'h80001dce, 32'h80001e27, 32'h80001e80, 32'h80001ed8,
    32'h80001f31, 32'h80001f8a, 32'h80001fe3, 32'h8000203b, 32'h80002094, 32'h800020ed,
    32'h80002145, 32'h8000219e, 32'h800021f7, 32'h80002250, 32'h800022a8, 32'h80002301,
    32'h8000235a, 32'h800023b2, 32'h8000240b, 32'h80002464, 32'h800024bd, 32'h80002515,
    32'h8000256e, 32'h800025c7, 32'h80002620, 32'h80002678, 32'h800026d1, 32'h8000272a,
    32'h80002782, 32'h800027db, 32'h80002834, 32'h8000288d, 32'h800028e5, 32'h8000293e,
    32'h80002997, 32'h800029ef, 32'h80002a48, 32'h80002aa1, 32'h80002afa, 32'h80002b52,
    32'h80002bab, 32'h80002c04, 32'h80002c5d, 32'h80002cb5, 32'h80002d0e, 32'h80002d67,
    32'h80002dbf, 32'h80002e18, 32'h80002e71, 32'h80002eca, 32'h80002f22, 32'h80002f7b,
    32'h80002fd4, 32'h8000302d, 32'h80003085, 32'h800030de, 32'h80003137, 32'h8000318f,
    32'h800031e8, 32'h80003241, 32'h8000329a, 32'h800032f2, 32'h8000334b, 32'h800033a4,
    32'h800033fc, 32'h80003455, 32'h800034ae, 32'h80003507, 32'h8000355f, 32'h800035b8,
    32'h80003611, 32'h8000366a, 32'h800036c2, 32'h8000371b, 32'h80003774, 32'h800037cc,
    32'h80003825, 32'h8000387e, 32'h800038d7, 32'h8000392f, 32'h80003988, 32'h800039e1,
    32'h80003a39, 32'h80003a92, 32'h80003aeb, 32'h80003b44, 32'h80003b9c, 32'h80003bf5,
    32'h80003c4e, 32'h80003ca7, 32'h80003cff, 32'h80003d58, 32'h80003db1, 32'h80003e09,
    32'h80003e62, 32'h80003ebb, 32'h80003f14, 32'h80003f6c, 32'h80003fc5, 32'h8000401e,
    32'h80004077, 32'h800040cf, 32'h80004128, 32'h80004181, 32'h800041d9, 32'h80004232,
    32'h8000428b, 32'h800042e4, 32'h8000433c, 32'h80004395, 32'h800043ee, 32'h80004446,
    32'h8000449f, 32'h800044f8, 32'h80004551, 32'h800045a9, 32'h80004602, 32'h8000465b,
    32'h800046b4, 32'h8000470c, 32'h80004765, 32'h800047be, 32'h80004816, 32'h8000486f,
    32'h800048c8, 32'h80004921, 32'h80004979, 32'h800049d2, 32'h80004a2b, 32'h80004a83,
    32'h80004adc, 32'h80004b35, 32'h80004b8e, 32'h80004be6, 32'h80004c3f, 32'h80004c98,
    32'h80004cf1, 32'h80004d49, 32'h80004da2, 32'h80004dfb, 32'h80004e53, 32'h80004eac,
    32'h80004f05, 32'h80004f5e, 32'h80004fb6, 32'h8000500f, 32'h80005068, 32'h800050c1,
    32'h80005119, 32'h80005172, 32'h800051cb, 32'h80005223, 32'h8000527c, 32'h800052d5,
    32'h8000532e, 32'h80005386, 32'h800053df, 32'h80005438, 32'h80005490, 32'h800054e9,
    32'h80005542, 32'h8000559b, 32'h800055f3, 32'h8000564c, 32'h800056a5, 32'h800056fe,
    32'h80005756, 32'h800057af, 32'h80005808, 32'h80005860
  };

  function automatic logic f32_is_nan(logic [31:0] a);
    return a[30:23] == 8'hff && a[22:0] != 23'd0;
  endfunction

  function automatic logic f32_is_inf(logic [31:0] a);
    return a[30:0] == 31'h7f800000;
  endfunction

  // Leading zeros of a 64-bit word (64 for zero).
  function automatic logic [6:0] clz64(logic [63:0] v);
    logic [6:0] n;
    n = 7'd64;
    for (int i = 0; i < 64; i++) begin
      if (v[i]) n = 7'(63 - i);
    end
    return n;
  endfunction

  // sign * m * 2^e (m != 0) rounded once to binary32, nearest-even:
  // subnormal results are rounded on the 2^-149 grid, overflow gives inf.
  function automatic logic [31:0] f32_round_pack(logic s, int e, logic [63:0] m);
    logic [63:0] mn, keep;
    logic [127:0] y;
    logic [6:0] lz;
    int be, sh;
    logic guard, sticky;
    lz = clz64(m);
    mn = m << lz;
    be = e - int'(lz) + 63 + 127;  // biased exponent of the leading one
    sh = (be >= 1) ? 40 : 40 + 1 - be;
    if (sh > 127) sh = 127;
    y = {mn, 64'd0} >> sh;
    keep = y[127:64];
    guard = y[63];
    sticky = |y[62:0];
    if (guard && (sticky || keep[0])) keep = keep + 64'd1;
    if (be >= 1) begin
      if (keep[24]) begin  // rounded up to 2.0
        keep = keep >> 1;
        be = be + 1;
      end
      if (be >= 255) return {s, F32Inf[30:0]};
      return {s, 8'(be), keep[22:0]};
    end
    // subnormal (keep <= 2^23; 2^23 is the smallest normal, encoded alike)
    return {s, 31'(keep)};
  endfunction

  // Unpack a finite non-zero binary32: |a| = m * 2^e, m < 2^24.
  function automatic void f32_unpack(logic [31:0] a, output logic [63:0] m, output int e);
    if (a[30:23] == 8'd0) begin
      m = {41'd0, a[22:0]};
      e = -149;
    end else begin
      m = {40'd0, 1'b1, a[22:0]};
      e = int'({24'd0, a[30:23]}) - 150;
    end
  endfunction

  function automatic logic [31:0] f32_mul(logic [31:0] a, logic [31:0] b);
    logic s;
    logic [63:0] ma, mb;
    int ea, eb;
    s = a[31] ^ b[31];
    if (f32_is_nan(a) || f32_is_nan(b)) return F32QNaN;
    if (f32_is_inf(a) || f32_is_inf(b)) begin
      if (a[30:0] == 31'd0 || b[30:0] == 31'd0) return F32QNaN;
      return {s, F32Inf[30:0]};
    end
    if (a[30:0] == 31'd0 || b[30:0] == 31'd0) return {s, 31'd0};
    f32_unpack(a, ma, ea);
    f32_unpack(b, mb, eb);
    return f32_round_pack(s, ea + eb, ma * mb);
  endfunction

  // a + b.  The smaller operand is aligned with 34 guard bits and a sticky
  // LSB: cancellation only happens when nothing was shifted out, and an odd
  // sticky LSB can never sit on a rounding boundary, so one rounding of the
  // computed sum equals one rounding of the exact sum.
  function automatic logic [31:0] f32_add(logic [31:0] a, logic [31:0] b);
    logic [63:0] ma, mb, xa, xb, sum, lost;
    int ea, eb, d;
    logic sa, sb, sticky, swap;
    if (f32_is_nan(a) || f32_is_nan(b)) return F32QNaN;
    if (f32_is_inf(a) && f32_is_inf(b) && a[31] != b[31]) return F32QNaN;
    if (f32_is_inf(a)) return a;
    if (f32_is_inf(b)) return b;
    if (a[30:0] == 31'd0 && b[30:0] == 31'd0) return {a[31] & b[31], 31'd0};
    if (a[30:0] == 31'd0) return b;
    if (b[30:0] == 31'd0) return a;
    swap = b[30:0] > a[30:0];
    f32_unpack(swap ? b : a, ma, ea);
    f32_unpack(swap ? a : b, mb, eb);
    sa = swap ? b[31] : a[31];
    sb = swap ? a[31] : b[31];
    d = ea - eb;
    xa = ma << 35;
    if (d >= 59) begin
      xb = 64'd0;
      sticky = 1'b1;
    end else begin
      xb = (mb << 35) >> d;
      lost = (mb << 35) & ((64'd1 << d) - 64'd1);
      sticky = lost != 64'd0;
    end
    xb = xb | {63'd0, sticky};
    if (sa == sb) sum = xa + xb;
    else sum = xa - xb;
    if (sum == 64'd0) return 32'd0;
    return f32_round_pack(sa, ea - 35, sum);
  endfunction

  function automatic logic [31:0] f32_div(logic [31:0] a, logic [31:0] b);
    logic s;
    logic [63:0] ma, mb, q, r;
    logic [6:0] la, lb;
    int ea, eb;
    s = a[31] ^ b[31];
    if (f32_is_nan(a) || f32_is_nan(b)) return F32QNaN;
    if (f32_is_inf(a)) return f32_is_inf(b) ? F32QNaN : {s, F32Inf[30:0]};
    if (f32_is_inf(b)) return {s, 31'd0};
    if (b[30:0] == 31'd0) return a[30:0] == 31'd0 ? F32QNaN : {s, F32Inf[30:0]};
    if (a[30:0] == 31'd0) return {s, 31'd0};
    f32_unpack(a, ma, ea);
    f32_unpack(b, mb, eb);
    la = clz64(ma) - 7'd40;  // normalize both to [2^23, 2^24)
    lb = clz64(mb) - 7'd40;
    ma = ma << la;
    mb = mb << lb;
    ea = ea - int'(la);
    eb = eb - int'(lb);
    q = (ma << 40) / mb;
    r = (ma << 40) % mb;
    return f32_round_pack(s, ea - eb - 41, {q[62:0], r != 64'd0});
  endfunction

  // fp8.h: bf16_from_f32 (RNE, NaN -> 0x7fff, overflow -> inf).
  function automatic logic [15:0] bf16_from_f32(logic [31:0] a);
    logic [31:0] r;
    if (f32_is_nan(a)) return 16'h7fff;
    r = a + 32'h7fff + {31'd0, a[16]};
    return r[31:16];
  endfunction

  // fp8.h: fp8_e4m3_from_f32(x, saturate = true).
  function automatic logic [7:0] e4m3_from_f32_sat(logic [31:0] a);
    logic [63:0] m, keep;
    logic [6:0] lz;
    logic [63:0] y;
    int e, be, sh;
    logic guard, sticky;
    logic [7:0] code;
    if (f32_is_nan(a)) return 8'h7f;
    if (f32_is_inf(a)) return {a[31], 7'h7e};
    if (a[30:0] == 31'd0) return {a[31], 7'd0};
    f32_unpack(a, m, e);
    lz = clz64(m);
    m = m << lz;  // leading one at bit 63: |a| = 1.f * 2^(e - lz + 63)
    be = e - int'(lz) + 63 + 7;
    if (be > 15) return {a[31], 7'h7e};
    sh = (be >= 1) ? 0 : 1 - be;
    if (sh > 63) sh = 63;
    y = m >> sh;
    keep = {60'd0, y[63:60]};
    guard = y[59];
    sticky = |y[58:0];
    if (guard && (sticky || keep[0])) keep = keep + 64'd1;
    if (be >= 1) begin
      if (keep[4]) begin
        keep = 64'd8;
        be = be + 1;
      end
      code = (be > 15) ? 8'h7f : {1'b0, 4'(be), keep[2:0]};
    end else begin
      code = {3'd0, keep[4:0]};  // 8 is the smallest normal, encoded alike
    end
    if (code > 8'h7e) code = 8'h7e;
    return {a[31], code[6:0]};
  endfunction

  // fp8.h: fp8_e4m3_to_f32 (exact; NaN codes give 0x7fffffff).
  function automatic logic [31:0] e4m3_to_f32(logic [7:0] c);
    if (c[6:0] == 7'h7f) return 32'h7fffffff;
    if (c[6:0] == 7'd0) return {c[7], 31'd0};
    if (c[6:3] == 4'd0) return f32_round_pack(c[7], -9, {61'd0, c[2:0]});
    return f32_round_pack(c[7], int'({28'd0, c[6:3]}) - 10, {60'd0, 1'b1, c[2:0]});
  endfunction

  // Unsigned compare of two finite binary32 values as numbers (a < b).
  function automatic logic f32_lt(logic [31:0] a, logic [31:0] b);
    if (a[30:0] == 31'd0 && b[30:0] == 31'd0) return 1'b0;
    if (a[31] != b[31]) return a[31];
    if (a[31]) return a[30:0] > b[30:0];
    return a[30:0] < b[30:0];
  endfunction

  // ---- LogFMT (kernels/logfmt.c) ------------------------------------------

  // v / 2^s rounded to nearest-even, 0 < s < 64.
  function automatic logic [63:0] shr_rne(logic [63:0] v, int s);
    logic [63:0] r, rem, half;
    r = v >> s;
    rem = v & ((64'd1 << s) - 64'd1);
    half = 64'd1 << (s - 1);
    return r + {63'd0, (rem > half) || (rem == half && r[0])};
  endfunction

  // q * 2^(i - 31) rounded once to binary32 (2^31 <= q < 2^32).
  function automatic logic [31:0] q131_to_f32(logic [63:0] q, int i);
    logic [63:0] r;
    int ii, s;
    ii = i;
    if (ii >= -126) begin
      r = shr_rne(q, 8);
      if (r == 64'd16777216) begin
        r = r >> 1;
        ii = ii + 1;
      end
      if (ii > 127) return 32'h7f7fffff;
      return {1'b0, 8'(ii + 127), r[22:0]};
    end
    s = -118 - ii;
    if (s >= 40) return 32'd0;
    r = shr_rne(q, s);
    return r[31:0];
  endfunction

  // logfmt_exp2_fx: 2^(e / 2^24) by the three-ROM method.
  function automatic logic [31:0] exp2_fx(logic signed [63:0] e_in);
    logic signed [63:0] e;
    logic [63:0] u, p, q;
    logic [23:0] f;
    int i;
    e = e_in;
    if (e > 64'sd4294967296) e = 64'sd4294967296;
    if (e < -64'sd4294967296) e = -64'sd4294967296;
    u = 64'(e + (64'sd512 <<< 24));
    i = int'(u >> 24) - 512;
    f = u[23:0];
    p = ({32'd0, Exp2T0[f[23:16]]} * {32'd0, Exp2T1[f[15:8]]} + 64'h40000000) >> 31;
    q = (p * {32'd0, Exp2T2[f[7:0]]} + 64'h40000000) >> 31;
    return q131_to_f32(q, i);
  endfunction

  // llrint(l * 2^24): a finite binary32 log2 value in 24-bit fixed point, RNE.
  function automatic logic signed [63:0] fx_from_log2(logic [31:0] l);
    logic [63:0] m, mag;
    int e, sh;
    if (l[30:0] == 31'd0) return 64'sd0;
    f32_unpack(l, m, e);
    sh = e + 24;
    if (sh >= 0) mag = m << sh;
    else if (sh <= -64) mag = 64'd0;
    else mag = shr_rne(m, -sh);
    return l[31] ? -$signed(mag) : $signed(mag);
  endfunction

endpackage
/* verilator lint_on UNUSEDSIGNAL */
`endif  // MFLD_FP_PKG_SV

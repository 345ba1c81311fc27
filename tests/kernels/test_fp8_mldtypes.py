"""test_fp8_mldtypes.py - loom/fp8.h against ml_dtypes, the second oracle.

Our outputs come from our C library itself: the program
$LOOM_BUILD/tests/kernels/helper_fp8_dump runs the bulk conversions
(fp8_*_from_f32_n, bf16_from_f32_n, ue8m0_from_f32_n and the *_to_f32_n
decoders) on the inputs this suite writes to a file.  (No ctypes: the
library may be built with AddressSanitizer.)

Oracles:
  - E4M3 / E5M2 / BF16 encoding: ml_dtypes' float32 -> float8_e4m3fn,
    float8_e5m2, bfloat16 casts (round to nearest even, subnormals, overflow
    to NaN for E4M3 and to inf for E5M2 and BF16: NVIDIA's __NV_NOSAT).
    ml_dtypes has no saturating mode, so the oracle for saturate = true is
    ml_dtypes applied to the input clipped to [-max, +max] (np.clip keeps
    NaN a NaN and sends +-inf to +-max, which is __NV_SATFINITE).
  - Decoding: ml_dtypes' casts to float32 (float8_e8m0fnu for UE8M0).
  - UE8M0 encoding (round |x| *up* to a power of two, clamp to
    [2^-127, 2^127], NaN -> 0xff): computed here exactly from np.frexp on
    the float64 value; ml_dtypes' float8_e8m0fnu cast rounds to nearest and
    is not the contract.

Comparisons are on the bits, except where a NaN is involved and ml_dtypes'
NaN encoding differs from NVIDIA's (which fp8.h follows): ml_dtypes keeps a
NaN's sign and makes it the quiet NaN (E4M3 0x7f/0xff, E5M2 0x7e/0xfe, BF16
0x7fc0/0xffc0; decoded NaN 0x7fc00000 / 0xffc00000) where NVIDIA drops the
sign (0x7f, 0x7f, 0x7fff; decoded 0x7fffffff, UE8M0 0x7fff0000).  So for NaN
inputs and NaN codes the oracle comparison is on NaN-ness, and NVIDIA's exact
NaN codes are checked against the values fp8.h documents.  E4M3 overflow
without saturation (sign | 0x7f) is the same in both and compared on bits.

A missing oracle (numpy or ml_dtypes not importable) or a missing helper
fails the suite; it never skips.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lt import Runner  # noqa: E402

try:
    import numpy as np
    import ml_dtypes
    MISSING = None
except ImportError as e:  # the oracle is missing: fail below, never skip
    MISSING = f"{e}; install it (make deps installs ml_dtypes and numpy)"

r = Runner()

BUILD = os.environ.get("LOOM_BUILD", "build")
HELPER = os.path.join(BUILD, "tests", "kernels", "helper_fp8_dump")
SEED = int(os.environ.get("LT_SEED", "20250101"))

E4M3_MAX, E5M2_MAX = 448.0, 57344.0
N_RANDOM_BITS, N_RANDOM_RANGE, N_RANDOM_SHORT = 4_000_000, 4_000_000, 2_000_000
ENC_NAMES = ("e4m3 satfinite", "e4m3 nosat", "e5m2 satfinite", "e5m2 nosat", "ue8m0", "bf16")


# ---- our library, through the helper ---------------------------------------

def run_helper(*args):
    if not os.access(HELPER, os.X_OK):
        raise RuntimeError(f"{HELPER} not found: build it (make BUILD={BUILD} all)")
    subprocess.run([HELPER, *args], check=True)


def ours_encode(x):
    """Our six encodings of float32 array x, as a dict name -> uint array."""
    n = x.size
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.f32"), os.path.join(d, "out.bin")
        x.astype(np.float32).tofile(src)
        run_helper("encode", src, dst)
        raw = np.fromfile(dst, dtype=np.uint8)
    assert raw.size == 7 * n, f"helper wrote {raw.size} bytes for {n} inputs"
    out = {name: raw[i * n:(i + 1) * n] for i, name in enumerate(ENC_NAMES[:5])}
    out["bf16"] = raw[5 * n:].view(np.uint16)
    return out


def ours_decode():
    with tempfile.TemporaryDirectory() as d:
        dst = os.path.join(d, "out.f32")
        run_helper("decode", dst)
        y = np.fromfile(dst, dtype=np.float32)
    assert y.size == 3 * 256 + 65536
    return {"e4m3": y[:256], "e5m2": y[256:512], "ue8m0": y[512:768], "bf16": y[768:]}


# ---- the oracle -------------------------------------------------------------

def ue8m0_oracle(x):
    """Smallest power of two >= |x| as a biased exponent, clamped to 0..254."""
    a = np.abs(x.astype(np.float64))
    with np.errstate(invalid="ignore"):
        m, e = np.frexp(a)  # a = m * 2^e, 0.5 <= m < 1 (exact)
        p = np.where(m == 0.5, e - 1, e)  # exact powers need no round-up
        code = np.clip(p + 127, 0, 254)
    code = np.where(a == 0, 0, code)
    code = np.where(np.isinf(a), 254, code)
    code = np.where(np.isnan(a), 0xFF, code)
    return code.astype(np.uint8)


def oracle_encode(x):
    with np.errstate(invalid="ignore", over="ignore"):
        def cast(v, dt, bits):
            return v.astype(dt).view(bits)
        x4 = np.clip(x, -E4M3_MAX, E4M3_MAX)  # saturate: clip, then convert
        x5 = np.clip(x, -E5M2_MAX, E5M2_MAX)
        return {
            "e4m3 satfinite": cast(x4, ml_dtypes.float8_e4m3fn, np.uint8),
            "e4m3 nosat": cast(x, ml_dtypes.float8_e4m3fn, np.uint8),
            "e5m2 satfinite": cast(x5, ml_dtypes.float8_e5m2, np.uint8),
            "e5m2 nosat": cast(x, ml_dtypes.float8_e5m2, np.uint8),
            "ue8m0": ue8m0_oracle(x),
            "bf16": cast(x, ml_dtypes.bfloat16, np.uint16),
        }


def is_nan_code(name, c):
    c = c.astype(np.uint32)
    if name.startswith("e4m3"):
        return (c & 0x7F) == 0x7F
    if name.startswith("e5m2"):
        return (c & 0x7F) > 0x7C
    if name == "ue8m0":
        return c == 0xFF
    return (c & 0x7FFF) > 0x7F80


# NVIDIA's NaN code for a NaN input, as fp8.h documents it.
NAN_CODE = {"e4m3 satfinite": 0x7F, "e4m3 nosat": 0x7F, "e5m2 satfinite": 0x7F,
            "e5m2 nosat": 0x7F, "ue8m0": 0xFF, "bf16": 0x7FFF}


# ---- comparison ---------------------------------------------------------------

def report(t, what, x, got, want, bad):
    idx = np.flatnonzero(bad)
    for i in idx[:4]:
        t.check(False, f"{what}: x = {float(x[i])!r} (bits 0x{int(x.view(np.uint32)[i]):08x}): "
                       f"oracle 0x{int(want[i]):x}, ours 0x{int(got[i]):x}")
    if idx.size:
        t.check(False, f"{what}: {idx.size} of {x.size} inputs differ")


def check_encoders(t, what, x):
    """Every encoder on x: exact bits vs the oracle except NaN inputs (NaN-ness),
    and NaN inputs give exactly NVIDIA's NaN code."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    got, want = ours_encode(x), oracle_encode(x)
    x_nan = np.isnan(x)
    for name in ENC_NAMES:
        g, w = got[name], want[name]
        bad = np.where(x_nan, ~is_nan_code(name, g), g != w)
        report(t, f"{what}, {name}", x, g, w, bad)
        wrong_nan = x_nan & (g != NAN_CODE[name])
        report(t, f"{what}, {name} NaN code", x, g, np.full_like(g, NAN_CODE[name]), wrong_nan)


# ---- input sets (built here with numpy, independently of the C tests) -----------

def f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def with_neighbours(v):
    """v, the float32 on either side of each, both signs."""
    v = np.asarray(v, dtype=np.float32)
    with np.errstate(over="ignore"):  # FLT_MAX's upper neighbour is inf
        lo = np.nextafter(v, np.float32(0))
        hi = np.nextafter(v, np.float32(np.inf))
    s = np.concatenate([v, lo, hi])
    return np.concatenate([s, -s])


def fp8_boundaries(dt, top):
    """Every representable non-negative finite value (ml_dtypes' decoding),
    every midpoint between consecutive ones (including the one between
    the largest subnormal and the smallest normal), the overflow point
    max + ulp/2 and max + ulp; each exactly and +-1 ulp, both signs."""
    v = np.arange(top + 1, dtype=np.uint8).view(dt).astype(np.float32)
    ulp_top = v[-1] - v[-2]
    ext = np.append(v, v[-1] + ulp_top)
    mids = (ext[:-1] + ext[1:]) / np.float32(2)  # exact: few mantissa bits
    return with_neighbours(np.concatenate([ext, mids]))


def bf16_boundaries():
    b = np.arange(0x7F80, dtype=np.uint32)
    mid = (b << 16) | 0x8000
    m = np.concatenate([mid - 1, mid, mid + 1])
    return np.concatenate([f32(m), -f32(m)])


def specials():
    nans = np.array([0x7F800001, 0x7F800100, 0x7FA00000, 0x7FBFFFFF, 0x7FC00000,
                     0x7FC00001, 0x7FE00000, 0x7FFFE000, 0x7FFFFFFF], dtype=np.uint32)
    finite = [0.0, 1.0, 448.0, 464.0, 480.0, 57344.0, 61440.0, 65536.0, 2.0**-6, 2.0**-9,
              2.0**-10, 2.0**-14, 2.0**-16, 2.0**-17, 2.0**-126, 2.0**-127, 2.0**127,
              1.5 * 2.0**-127, float(np.finfo(np.float32).max),
              float(np.finfo(np.float32).smallest_subnormal)]
    # UE8M0: every power of two a float holds, 2^-149 .. 2^127, +-1 ulp.
    pows = [2.0**e for e in range(-149, 128)]
    return np.concatenate([f32(nans), f32(nans | 0x80000000),
                           np.array([np.inf, -np.inf], dtype=np.float32),
                           with_neighbours(finite), with_neighbours(pows)])


def random_fp8_range(rng, n, short):
    """Exponent uniform in [-20, 17] (both FP8 formats' subnormals to past
    their overflow), random sign and mantissa; `short`: mantissa cut to a
    random 1..10 bits so exact ties come up often."""
    u = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    e = rng.integers(127 - 20, 127 + 18, n, dtype=np.uint32)
    m = u & 0x7FFFFF
    if short:
        keep = rng.integers(1, 11, n, dtype=np.uint32)
        m &= ~((np.uint32(1) << (23 - keep)) - 1)
    return f32((u & 0x80000000) | (e << 23) | m)


# ---- cases ----------------------------------------------------------------------

def check_decode(t, name, got, want):
    got_b, want_b = got.view(np.uint32), want.view(np.uint32)
    bad = np.where(np.isnan(want), ~np.isnan(got), got_b != want_b)
    for c in np.flatnonzero(bad)[:10]:
        t.check(False, f"{name} code 0x{c:x}: oracle 0x{int(want_b[c]):08x}, "
                       f"ours 0x{int(got_b[c]):08x}")


def test_decode_every_code(t):
    ours = ours_decode()
    codes = np.arange(256, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        check_decode(t, "e4m3", ours["e4m3"], codes.view(ml_dtypes.float8_e4m3fn).astype(np.float32))
        check_decode(t, "e5m2", ours["e5m2"], codes.view(ml_dtypes.float8_e5m2).astype(np.float32))
        check_decode(t, "ue8m0", ours["ue8m0"], codes.view(ml_dtypes.float8_e8m0fnu).astype(np.float32))
    pats = np.arange(65536, dtype=np.uint16)
    check_decode(t, "bf16", ours["bf16"], pats.view(ml_dtypes.bfloat16).astype(np.float32))
    # NVIDIA's decoded NaNs, as fp8.h documents them.
    nan_bits = {"e4m3": (0x7F, 0xFF), "e5m2": (0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF)}
    for name, cs in nan_bits.items():
        for c in cs:
            t.check(ours[name].view(np.uint32)[c] == 0x7FFFFFFF, f"{name} 0x{c:x} NaN bits")
    t.check(ours["ue8m0"].view(np.uint32)[255] == 0x7FFF0000, "ue8m0 0xff NaN bits")


def test_fp8_every_code_round_trip(t):
    """Every FP8 code, decoded by ml_dtypes, then encoded by us in both modes:
    the oracle's answer, and the code itself for finite codes (inf too for
    E5M2 without saturation)."""
    codes = np.arange(256, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        v4 = codes.view(ml_dtypes.float8_e4m3fn).astype(np.float32)
        v5 = codes.view(ml_dtypes.float8_e5m2).astype(np.float32)
    g4, g5 = ours_encode(v4), ours_encode(v5)
    fin4, fin5, inf5 = ~np.isnan(v4), np.isfinite(v5), np.isinf(v5)
    for mode in ("satfinite", "nosat"):
        t.check(np.array_equal(g4[f"e4m3 {mode}"][fin4], codes[fin4]), f"e4m3 {mode} identity")
        t.check(np.array_equal(g5[f"e5m2 {mode}"][fin5], codes[fin5]), f"e5m2 {mode} identity")
    t.check(np.array_equal(g5["e5m2 nosat"][inf5], codes[inf5]), "e5m2 inf identity")
    check_encoders(t, "e4m3 codes", v4)
    check_encoders(t, "e5m2 codes", v5)


def test_bf16_every_pattern(t):
    """All 2^16 BF16 patterns as float32: our encoding gives the pattern back
    (NaNs excepted) and every encoder agrees with the oracle on them."""
    pats = np.arange(65536, dtype=np.uint32)
    x = f32(pats << 16)
    got = ours_encode(x)["bf16"]
    keep = ~np.isnan(x)
    t.check(np.array_equal(got[keep], pats[keep].astype(np.uint16)), "bf16 round trip")
    check_encoders(t, "bf16 patterns", x)


def test_e4m3_rounding_boundaries(t):
    check_encoders(t, "e4m3 boundaries", fp8_boundaries(ml_dtypes.float8_e4m3fn, 0x7E))


def test_e5m2_rounding_boundaries(t):
    check_encoders(t, "e5m2 boundaries", fp8_boundaries(ml_dtypes.float8_e5m2, 0x7B))


def test_bf16_rounding_boundaries(t):
    check_encoders(t, "bf16 boundaries", bf16_boundaries())


def test_specials(t):
    check_encoders(t, "specials", specials())


def test_ue8m0_hand_cases(t):
    """A few UE8M0 results worked out by hand (fp8.h's contract)."""
    cases = [(1.0, 127), (1.0000001, 128), (0.99999994, 127), (0.5, 126), (3.0, 129),
             (2.0**-127, 0), (2.0**-126, 1), (1.5 * 2.0**-127, 1), (0.0, 0), (-0.0, 0),
             (2.0**127, 254), (3.0e38, 254), (np.inf, 254), (-4.0, 129), (np.nan, 255)]
    x = np.array([c[0] for c in cases], dtype=np.float32)
    got = ours_encode(x)["ue8m0"]
    for (v, want), g in zip(cases, got):
        t.check(g == want, f"ue8m0({v!r}) = {int(g)}, want {want}")


def test_random_float32(t):
    """10^7 random inputs: random bit patterns, random values over the FP8
    ranges, and the same with short mantissas (ties)."""
    rng = np.random.default_rng(SEED)
    bits = f32(rng.integers(0, 2**32, N_RANDOM_BITS, dtype=np.uint64).astype(np.uint32))
    check_encoders(t, "random bits", bits)
    check_encoders(t, "random fp8 range", random_fp8_range(rng, N_RANDOM_RANGE, False))
    check_encoders(t, "random short mantissa", random_fp8_range(rng, N_RANDOM_SHORT, True))


if MISSING:
    def test_oracle_importable(t):
        t.check(False, f"the ml_dtypes oracle is missing: {MISSING}")
    r.case(test_oracle_importable)
else:
    for fn in (test_decode_every_code, test_fp8_every_code_round_trip, test_bf16_every_pattern,
               test_e4m3_rounding_boundaries, test_e5m2_rounding_boundaries,
               test_bf16_rounding_boundaries, test_specials, test_ue8m0_hand_cases,
               test_random_float32):
        r.case(fn)

raise SystemExit(r.main())

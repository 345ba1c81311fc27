"""test_check_sass.py - `make check-sass` as a test suite (scripts/check-sass.sh).

The real check runs on $LOOM_BUILD/lib/libloom_cuda.a (skipped, saying so,
when that library was not built: no nvcc, or NO_CUDA=1).  The other cases feed
the script hand-written SASS and ptxas logs to show it fails on each defect it
exists to catch (a GEMM without QGMMA or UTMALDG, local memory, serialized
wgmma, no GEMM kernel at all) and passes a clean dump.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "check-sass.sh")
r = Runner()

GOOD_GEMM = """
\t\tFunction : _Z10k_gemm_fp8ILi0EEv14CUtensorMap_st
        /*0100*/                   UTMALDG.2D [UR8], [UR4] ;
        /*1180*/                   QGMMA.64x128x32.F32.E4M3.E4M3 R24, gdesc[UR20], RZ, !UPT ;
        /*1200*/                   EXIT ;
"""
GOOD_OTHER = """
\t\tFunction : _Z9k_to_bf16PtPKfm
        /*0100*/                   STG.E.U16 desc[UR4][R2.64], R5 ;
        /*0110*/                   EXIT ;
"""


def run(sass, log_text=None, env_extra=None):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dump.sass")
        with open(path, "w") as f:
            f.write(sass)
        args = [SCRIPT, "--sass", path]
        if log_text is not None:
            with open(os.path.join(d, "x.o.ptxas.log"), "w") as f:
                f.write(log_text)
            args += ["--logs", d]
        env = dict(os.environ, **(env_extra or {}))
        p = subprocess.run(args, capture_output=True, text=True, env=env)
        return p.returncode, p.stdout + p.stderr


@r.case
def test_real_library(t):
    build = os.environ.get("LOOM_BUILD", "build")
    if not os.path.exists(os.path.join(build, "lib", "libloom_cuda.a")):
        t.skip(f"{build}/lib/libloom_cuda.a not built (no nvcc, or NO_CUDA=1)")
    p = subprocess.run([SCRIPT, build], capture_output=True, text=True)
    t.check(p.returncode == 0, f"check-sass failed:\n{p.stdout}{p.stderr}")
    t.check("k_gemm_fp8" in p.stdout, "no GEMM kernel listed:\n" + p.stdout)


@r.case
def test_clean_dump_passes(t):
    rc, out = run(GOOD_GEMM + GOOD_OTHER, "ptxas info    : Used 168 registers\n")
    t.check(rc == 0, out)


@r.case
def test_gemm_without_qgmma_fails(t):
    rc, out = run(GOOD_GEMM.replace("QGMMA.64x128x32", "HMMA.16816"))
    t.check(rc != 0 and "no QGMMA" in out, out)


@r.case
def test_gemm_without_tma_fails(t):
    rc, out = run(GOOD_GEMM.replace("UTMALDG.2D", "LDG.E.128"))
    t.check(rc != 0 and "no UTMALDG" in out, out)


@r.case
def test_local_memory_fails_unless_allowed(t):
    spill = GOOD_OTHER.replace("EXIT ;", "STL [R1+0x4], R2 ;\n        /*0120*/ EXIT ;")
    rc, out = run(GOOD_GEMM + spill)
    t.check(rc != 0 and "local-memory" in out, out)
    rc, out = run(GOOD_GEMM + spill, env_extra={"LMEM_ALLOWED": "k_to_bf16"})
    t.check(rc == 0, "allowed kernel still failed: " + out)
    rc, out = run(GOOD_GEMM.replace("EXIT ;", "LDL.64 R4, [R1] ;"))
    t.check(rc != 0 and "local-memory" in out, out)


@r.case
def test_serialized_wgmma_log_fails(t):
    log = ("ptxas info    : (C7515) Potential Performance Loss: wgmma.mma_async "
           "instructions are serialized due to the presence of Extern calls\n")
    rc, out = run(GOOD_GEMM, log)
    t.check(rc != 0 and "serialized" in out, out)


@r.case
def test_no_gemm_kernel_fails(t):
    rc, out = run(GOOD_OTHER)
    t.check(rc != 0 and "no GEMM kernel" in out, out)


raise SystemExit(r.main())

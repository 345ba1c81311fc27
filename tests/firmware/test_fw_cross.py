#!/usr/bin/env python3
"""test_fw_cross.py - the firmware cross-compiles for the control core.

Runs `make firmware` (mk/firmware.mk: rv32imc, ilp32, -Os, freestanding,
picolibc, -Werror, a link without start files so an undefined symbol fails)
and checks that it built and printed a plausible size table.  Skips, with
the reason, where riscv64-unknown-elf-gcc is missing.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("LOOM_BUILD", "build")
r = Runner()


@r.case
def test_cross_build_size(t):
    if not shutil.which("riscv64-unknown-elf-gcc"):
        t.skip("riscv64-unknown-elf-gcc not found (make deps installs gcc-riscv64-unknown-elf)")
    # a make of its own, not a sub-make of `make test` (whose jobserver
    # flags would make it print a warning of its own)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "-s", "--no-print-directory", f"BUILD={BUILD}", "firmware"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    out = p.stdout + p.stderr
    print("    " + out.strip().replace("\n", "\n    "))
    t.check(p.returncode == 0, f"make firmware exited {p.returncode}")
    t.check("warning" not in out.lower(), "the cross build printed a warning")
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+\S*loom-fw\.elf", out, re.M)
    if not t.check(m is not None, "no size line for loom-fw.elf"):
        return
    text, data, bss = (int(x) for x in m.groups())
    # the control program is a few KiB of code: far more means something
    # unintended (a libc printf) was pulled in; 0 means nothing was linked
    t.check(1000 < text < 64 * 1024, f".text {text} bytes")
    t.check(data < 4096, f".data {data} bytes")


raise SystemExit(r.main())

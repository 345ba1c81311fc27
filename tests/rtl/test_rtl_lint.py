"""test_rtl_lint.py - every RTL file under rtl-models/ is clean under
`verilator --lint-only -Wall FILE` typed from the repository root with no
search path or other flag (each file includes what it uses), and again with
--assert (the assertions of the checked build), each as its own top with its
default parameters; the mesh top also at other sizes and settings.  One case per module: a new .sv file is
picked up without editing this file.  A deliberately bad module must fail,
so a lint that passes everything cannot go unnoticed.
"""
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RTL = os.path.join(ROOT, "rtl-models")
VERILATOR = os.environ.get("VERILATOR", "verilator")

r = Runner()


def lint(path, flags=()):
    """(ok, output) of `verilator --lint-only -Wall [flags] path`, run from the
    repository root with no search path: every file includes what it uses
    (by its path from the root, under an include guard), so each one lints
    on its own exactly as a user or a pre-commit hook types it."""
    rel = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
    cmd = [VERILATOR, "--lint-only", "-Wall"] + list(flags) + [rel]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return p.returncode == 0 and not p.stderr.strip(), (p.stdout + p.stderr).strip()


# The lints run in parallel (one verilator per CPU), each case waits for its own.
POOL = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)


def add_case(name, path, flags=()):
    job = POOL.submit(lint, path, flags) if shutil.which(VERILATOR) else None

    def case(t):
        if job is None:
            t.skip("verilator not installed (make deps)")
        ok, out = job.result()
        t.check(ok, "%s%s:\n%s" % (os.path.relpath(path, ROOT),
                                   " " + " ".join(flags) if flags else "", out[:3000]))
    case.__name__ = name
    r.case(case)


for f in sorted(glob.glob(os.path.join(RTL, "*", "*.sv"))):
    rel = os.path.relpath(f, RTL)
    add_case("lint_" + rel.replace("/", "_")[:-3], f)
    # the assertions of the checked build, linted too
    add_case("lint_assert_" + rel.replace("/", "_")[:-3], f, ("--assert",))

MESH_TOP = os.path.join(RTL, "mesh", "mesh_top.sv")
for params in (("K=8", "L=8"), ("K=3", "L=2", "LinkStages=0"), ("K=2", "L=5", "NumVcs=4", "RouterStages=4", "FlitW=128"),
               ("NumVcs=1", "BufDepth=2", "InjDepth=1")):
    add_case("lint_mesh_top_" + "_".join(params).replace("=", ""), MESH_TOP,
             ["--assert"] + ["-G" + p for p in params])


@r.case
def lint_catches_a_bad_module(t):
    if not shutil.which(VERILATOR):
        t.skip("verilator not installed (make deps)")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad_mod.sv")
        with open(path, "w") as f:
            f.write("module bad_mod (input logic a_i, input logic b_i, output logic y_o);\n"
                    "  assign y_o = a_i;\nendmodule\n")
        ok, out = lint(path)
        t.check(not ok and "UNUSED" in out, "an unused input passed the lint: %s" % out)


rc = r.main()
POOL.shutdown()
raise SystemExit(rc)

"""test_rtl_lint.py - every RTL module under rtl-models/ is clean under
`verilator --lint-only -Wall` (with --assert, so the assertions are linted
too), each linted as its own top with its default parameters; the mesh top
also at other sizes and settings.  One case per module: a new .sv file is
picked up without editing this file.  A deliberately bad module must fail,
so a lint that passes everything cannot go unnoticed.
"""
import glob
import os
import re
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


def packages(dirs):
    """The *_pkg.sv files of dirs, each after the packages it imports."""
    pkgs = {}
    for d in dirs:
        for f in glob.glob(os.path.join(d, "*_pkg.sv")):
            pkgs[os.path.basename(f)[:-3]] = f
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        with open(pkgs[name]) as fh:
            for dep in sorted(set(re.findall(r"\b(\w+_pkg)::", fh.read()))):
                if dep in pkgs and dep != name:
                    visit(dep)
        order.append(pkgs[name])
    for name in sorted(pkgs):
        visit(name)
    return order


def lint(path, params=()):
    """(ok, output) of linting the module in `path` (named after the file).
    A package (*_pkg.sv) is linted alone, its unused constants allowed: they
    are there for its users."""
    top = os.path.splitext(os.path.basename(path))[0]
    dirs = sorted({os.path.dirname(path), os.path.join(RTL, "common")})
    cmd = [VERILATOR, "--lint-only", "-Wall", "--assert"]
    if top.endswith("_pkg"):
        cmd += ["-Wno-UNUSEDPARAM"] + [f for f in packages(dirs) if f != path] + [path]
    else:
        cmd += ["--top-module", top]
        for d in dirs:
            cmd += ["-y", d, "-I" + d]
        cmd += ["-G%s" % p for p in params] + [f for f in packages(dirs) if f != path] + [path]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return p.returncode == 0 and not p.stderr.strip(), (p.stdout + p.stderr).strip()


def add_case(name, path, params=()):
    def case(t):
        if not shutil.which(VERILATOR):
            t.skip("verilator not installed (make deps)")
        ok, out = lint(path, params)
        t.check(ok, "%s%s:\n%s" % (os.path.relpath(path, ROOT),
                                   " " + " ".join(params) if params else "", out[:3000]))
    case.__name__ = name
    r.case(case)


for f in sorted(glob.glob(os.path.join(RTL, "*", "*.sv"))):
    rel = os.path.relpath(f, RTL)
    add_case("lint_" + rel.replace("/", "_")[:-3], f)

MESH_TOP = os.path.join(RTL, "mesh", "mesh_top.sv")
for params in (("K=8", "L=8"), ("K=3", "L=2", "LinkStages=0"), ("K=2", "L=5", "NumVcs=4", "RouterStages=4", "FlitW=128"),
               ("NumVcs=1", "BufDepth=2", "InjDepth=1")):
    add_case("lint_mesh_top_" + "_".join(params).replace("=", ""), MESH_TOP, params)


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


raise SystemExit(r.main())

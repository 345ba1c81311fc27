"""test_cli.py - the `loom` command line: help, subcommand discovery, errors."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

LOOM = os.path.join(os.environ.get("LOOM_BUILD", "build"), "bin", "loom")
r = Runner()


def run(*args):
    return subprocess.run([LOOM, *args], capture_output=True, text=True, timeout=60)


def subcommands():
    out = run("help").stdout
    names = []
    in_list = False
    for line in out.splitlines():
        if line.startswith("commands:"):
            in_list = True
            continue
        if in_list and line.startswith("  "):
            names.append(line.split()[0])
        elif in_list and line.strip() == "":
            break
    return [n for n in names if n != "help"]


@r.case
def test_help_lists_commands(t):
    p = run("help")
    t.check(p.returncode == 0, f"loom help exit {p.returncode}")
    t.check("accum" in subcommands(), f"accum not listed in: {p.stdout!r}")


@r.case
def test_every_command_has_help(t):
    cmds = subcommands()
    t.check(len(cmds) > 0, "no subcommands listed")
    for c in cmds:
        p = run(c, "--help")
        t.check(p.returncode == 0, f"loom {c} --help exit {p.returncode}")
        t.check("usage" in p.stdout.lower(), f"loom {c} --help prints no usage: {p.stdout[:200]!r}")
        q = run("help", c)
        t.check(q.stdout == p.stdout, f"loom help {c} differs from loom {c} --help")


@r.case
def test_no_args_is_usage_error(t):
    p = run()
    t.check(p.returncode == 2, f"exit {p.returncode}")
    t.check("usage" in p.stderr.lower(), f"stderr: {p.stderr!r}")


@r.case
def test_unknown_command(t):
    p = run("no-such-command")
    t.check(p.returncode == 2, f"exit {p.returncode}")
    t.check("unknown command" in p.stderr, f"stderr: {p.stderr!r}")


@r.case
def test_help_unknown_command(t):
    p = run("help", "no-such-command")
    t.check(p.returncode == 2, f"exit {p.returncode}")
    t.check("unknown command" in p.stderr, f"stderr: {p.stderr!r}")


raise SystemExit(r.main())

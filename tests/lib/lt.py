"""lt.py - the Python side of Loom's test runner (same output as tests/lib/lt.c).

Usage:
    from lt import Runner
    r = Runner()
    @r.case
    def test_x(t): t.check(cond, "message")
    raise SystemExit(r.main())
"""
import sys
import traceback


class Skip(Exception):
    pass


class Case:
    def __init__(self, name):
        self.name = name
        self.failures = 0

    def check(self, cond, msg=""):
        if not cond:
            self.failures += 1
            if self.failures <= 10:
                print(f"    check failed: {msg}", flush=True)
        return bool(cond)

    def skip(self, reason):
        raise Skip(reason)


class Runner:
    def __init__(self):
        self.cases = []

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def main(self, argv=None):
        argv = sys.argv[1:] if argv is None else argv
        passed = failed = skipped = 0
        for fn in self.cases:
            name = fn.__name__
            if argv and not any(a in name for a in argv):
                continue
            t = Case(name)
            try:
                fn(t)
            except Skip as e:
                if not t.failures:  # a failed check is not undone by skipping (as in lt.c)
                    print(f"skip {name}: {e}", flush=True)
                    skipped += 1
                    continue
            except Exception:  # an exception is a failure, with its trace
                t.failures += 1
                print("    " + traceback.format_exc().replace("\n", "\n    "))
            if t.failures:
                print(f"FAIL {name} ({t.failures} checks failed)", flush=True)
                failed += 1
            else:
                print(f"ok   {name}", flush=True)
                passed += 1
        tail = f", {skipped} skipped" if skipped else ""
        print(f"{passed} passed, {failed} failed{tail}", flush=True)
        return 1 if failed else 0

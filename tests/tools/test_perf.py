"""test_perf.py - `loom perf`, perftest for Loom's transport: server and client
processes over shm and udp (127.0.0.1), every test kind, the perftest table
columns, JSON, -a, argument errors, and failures that must end the run (no
server, a peer that dies, a parameter mismatch, wrong bytes).

Numbers are only checked for sanity (they parse, are positive and ordered):
speed depends on the machine.  What is checked exactly is what the tool
promises: the header strings of perftest (REFERENCE §8), the parameters
echoed in JSON, the set of sizes -a sweeps, exit statuses and messages.
udp cases skip with the reason when the udp provider is not in this build
(a skip is never counted as passed).
"""
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

LOOM = os.path.join(os.environ.get("LOOM_BUILD", "build"), "bin", "loom")
r = Runner()

TESTS = ["write_bw", "read_bw", "send_bw", "atomic_bw",
         "write_lat", "read_lat", "send_lat", "atomic_lat"]
BW_HEAD = " #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]"
LAT_HEAD = (" #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    "
            "t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ")
BW_KEYS = ["bw_peak_mib_s", "bw_avg_mib_s", "msg_rate_mpps"]
LAT_KEYS = ["t_min_us", "t_max_us", "t_typical_us", "t_avg_us", "t_stdev_us", "t_p99_us",
            "t_p999_us"]
COUNTER_KEYS = ["retransmits", "timeouts", "naks_sent", "naks_received", "rnr_naks_sent",
                "rnr_naks_received", "duplicates", "tx_packets", "rx_packets", "ecn_marked", "cnps_sent",
                "cnps_received", "cc_rate_cuts", "cc_rate_mbps"]
OPTIONS = ["--provider", "-d", "-s", "-n", "-a", "--tx-depth", "--mtu", "--qp-timeout",
           "--port", "--events", "--yield", "--json", "--opt", "--drop", "--dup", "--reorder", "--delay",
           "--corrupt", "--fault-seed", "--timeout", "--wait", "--help"]


def run(*args, timeout=30, env=None):
    return subprocess.run([LOOM, "perf", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


class Server:
    """A `loom perf` server on a free port (--port 0), started and waited for."""

    def __init__(self, test, provider, *args, env=None):
        self.p = subprocess.Popen([LOOM, "perf", test, "--provider", provider, "--port", "0",
                                   *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        self.port, self.early = None, ""
        end = time.monotonic() + 10
        while time.monotonic() < end and self.port is None:
            ready, _, _ = select.select([self.p.stderr], [], [], 0.2)
            if ready:
                line = self.p.stderr.readline()
                if not line:
                    break
                m = re.search(r"waiting for a client on port (\d+)", line)
                if m:
                    self.port = int(m.group(1))
                else:
                    self.early += line

    def finish(self, timeout=30):
        """(exit status, stdout, stderr); a server still running then is killed."""
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            return None, out, self.early + err
        return self.p.returncode, out, self.early + err


def pair(t, test, provider, *args, client_args=(), env=None, timeout=60):
    """Run server and client; (client, (server rc, out, err)), or None after a failed check."""
    s = Server(test, provider, *args, env=env)
    if not t.check(s.port is not None, f"{test}: server did not start: {s.early!r}"):
        s.finish(1)
        return None
    c = run(test, "--provider", provider, "-p", str(s.port), *args, *client_args, "127.0.0.1",
            timeout=timeout, env=env)
    return c, s.finish()


_udp_reason = None


def need_udp(t):
    """Skip when this build has no usable udp provider (with its reason)."""
    global _udp_reason
    if _udp_reason is None:
        got = pair_quiet("write_bw", "udp", "-n", "2", "-s", "64")
        _udp_reason = got
    if _udp_reason:
        t.skip(f"udp provider unavailable: {_udp_reason}")


def pair_quiet(test, provider, *args):
    """'' when a tiny run works, else the error text (e.g. provider not built)."""
    s = Server(test, provider, *args)
    if s.port is None:
        s.finish(1)
        return s.early.strip() or "server did not start"
    c = run(test, "--provider", provider, "-p", str(s.port), *args, "127.0.0.1")
    src, _, serr = s.finish()
    if c.returncode == 0 and src == 0:
        return ""
    text = c.stderr + serr
    if "not built" in text or "no device" in text:
        return text.strip().splitlines()[0]
    return ""  # some other failure: let the case run and fail loudly


def table_row(t, out, head):
    """The numbers of the first row under head, as floats."""
    lines = out.splitlines()
    if not t.check(head in lines, f"header {head!r} not in output:\n{out}"):
        return None
    row = lines[lines.index(head) + 1].split()
    try:
        return [float(x) for x in row]
    except ValueError:
        t.check(False, f"row does not parse: {row}")
        return None


def check_table(t, test, out, size, iters):
    lat = test.endswith("_lat")
    nums = table_row(t, out, LAT_HEAD if lat else BW_HEAD)
    if nums is None:
        return
    want = 9 if lat else 5
    if not t.check(len(nums) == want, f"{test}: {len(nums)} columns, want {want}: {nums}"):
        return
    t.check(nums[0] == size and nums[1] == iters, f"{test}: bytes/iterations {nums[:2]}")
    figures = nums[2:6] + nums[7:] if lat else nums[2:]  # t_stdev may be 0
    t.check(all(x > 0 for x in figures), f"{test}: non-positive figure {nums}")
    if lat:  # min <= typical <= max, p99 <= p99.9 <= max
        mn, mx, typ, avg, _, p99, p999 = nums[2:]
        t.check(mn <= typ <= mx and mn <= avg <= mx and p99 <= p999 <= mx,
                f"{test}: latency figures out of order {nums}")
    t.check("Counters (this side): retransmits" in out, f"{test}: no counters line")


def check_json(t, test, text, provider, size, iters, role):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not t.check(len(lines) == 1, f"{test} {role}: {len(lines)} JSON lines, want 1"):
        return None
    j = json.loads(lines[0])
    want = {"command": "perf", "test": test, "role": role, "provider": provider,
            "bytes": size, "iterations": iters, "connection": "RC", "qps": 1,
            "data_check": "ok"}
    for k, v in want.items():
        t.check(j.get(k) == v, f"{test} {role}: {k} = {j.get(k)!r}, want {v!r}")
    for k in ["port", "mtu", "tx_depth", "qp_timeout", "device", "opts", "server", "yield_every"]:
        t.check(k in j, f"{test} {role}: no key {k}")
    for k in LAT_KEYS if test.endswith("_lat") else BW_KEYS:
        t.check(isinstance(j.get(k), (int, float)) and j[k] > 0,
                f"{test} {role}: {k} = {j.get(k)!r}")
    for k in COUNTER_KEYS:
        t.check(isinstance(j.get("counters", {}).get(k), int), f"{test} {role}: counter {k}")
    return j


def default_size(test):
    return 8 if test.startswith("atomic") else 2 if test.endswith("_lat") else 65536


def every_test(t, provider, iters):
    for test in TESTS:
        got = pair(t, test, provider, "-n", str(iters))
        if got is None:
            continue
        c, (src, sout, serr) = got
        if not t.check(c.returncode == 0 and src == 0,
                       f"{provider} {test}: client {c.returncode} {c.stderr!r}, "
                       f"server {src} {serr!r}"):
            continue
        check_table(t, test, c.stdout, default_size(test), iters)
        check_table(t, test, sout, default_size(test), iters)  # the server prints them too
        got = pair(t, test, provider, "-n", str(iters), "--json")
        if got is None:
            continue
        c, (src, sout, serr) = got
        if t.check(c.returncode == 0 and src == 0, f"{provider} {test} --json: client "
                   f"{c.returncode} {c.stderr!r}, server {src} {serr!r}"):
            cj = check_json(t, test, c.stdout, provider, default_size(test), iters, "client")
            sj = check_json(t, test, sout, provider, default_size(test), iters, "server")
            if cj and sj:
                k = LAT_KEYS[2] if test.endswith("_lat") else BW_KEYS[1]
                t.check(cj[k] == sj[k], f"{test}: server reports the client's {k}")
                t.check(cj["server"] == "127.0.0.1" and sj["server"] is None,
                        f"{test}: server fields {cj['server']!r} {sj['server']!r}")


# ---- the cases -------------------------------------------------------------------------

@r.case
def test_help_mentions_every_option(t):
    p = run("--help")
    t.check(p.returncode == 0 and p.stderr == "", f"exit {p.returncode}, {p.stderr!r}")
    t.check(p.stdout.startswith("usage: loom perf"), p.stdout[:60])
    for opt in OPTIONS + TESTS:
        t.check(opt in p.stdout, f"--help does not mention {opt}")


@r.case
def test_bad_arguments_exit_2(t):
    bad = [[], ["write_xx"], ["write_bw", "-s", "0"], ["write_bw", "-s", "abc"],
           ["write_bw", "--mtu", "1000"], ["write_bw", "--mtu", "8192"],
           ["write_bw", "--port", "70000"], ["atomic_bw", "-s", "16"],
           ["write_bw", "--provider", "shm", "--drop", "0.1"],
           ["write_bw", "--drop", "1.5"], ["write_bw", "--opt", "noequals"],
           ["write_bw", "host", "extra"], ["write_bw", "-n"], ["write_bw", "--bogus"],
           ["write_bw", "-p", "0", "127.0.0.1"], ["write_bw", "--json=1"],
           ["write_bw", "--tx-depth", "0"], ["read_lat", "-n", "-5"]]
    for args in bad:
        p = run(*args, timeout=10)
        t.check(p.returncode == 2, f"{args}: exit {p.returncode}, want 2")
        t.check(p.stderr.startswith("loom perf: ") and p.stdout == "",
                f"{args}: stderr {p.stderr!r}, stdout {p.stdout[:80]!r}")


@r.case
def test_shm_every_test(t):
    every_test(t, "shm", 200)


@r.case
def test_udp_every_test(t):
    need_udp(t)
    every_test(t, "udp", 50)


@r.case
def test_sweep_sizes(t):
    got = pair(t, "write_bw", "shm", "-a", "-n", "4", "--json")
    if got is None:
        return
    c, (src, sout, serr) = got
    if not t.check(c.returncode == 0 and src == 0, f"-a: {c.stderr!r} {serr!r}"):
        return
    sizes = [json.loads(ln)["bytes"] for ln in c.stdout.splitlines()]
    t.check(sizes == [2 ** k for k in range(1, 24)], f"-a sizes {sizes}")
    t.check(len(sout.splitlines()) == 23, "server: one JSON line per size")
    # Table form, a latency test: one row per size under one header.
    got = pair(t, "read_lat", "shm", "-a", "-n", "3")
    if got is None:
        return
    c, (src, _, serr) = got
    if t.check(c.returncode == 0 and src == 0, f"read_lat -a: {c.stderr!r} {serr!r}"):
        lines = c.stdout.splitlines()
        rows = lines[lines.index(LAT_HEAD) + 1:lines.index(LAT_HEAD) + 24]
        t.check([int(x.split()[0]) for x in rows] == [2 ** k for k in range(1, 24)],
                f"read_lat -a rows: {rows[:3]}...")
    # Atomics: -a is the one size 8.
    got = pair(t, "atomic_bw", "shm", "-a", "-n", "10", "--json")
    if got is not None:
        c, (src, _, _) = got
        t.check(c.returncode == 0 and [json.loads(ln)["bytes"] for ln in
                                       c.stdout.splitlines()] == [8], c.stdout)


@r.case
def test_explicit_parameters_reach_both_sides(t):
    got = pair(t, "send_bw", "shm", "--json", client_args=("-s", "1000", "-n", "37",
                                                            "--tx-depth", "5", "--mtu", "1024"))
    if got is None:
        return
    c, (src, sout, serr) = got
    if t.check(c.returncode == 0 and src == 0, f"{c.stderr!r} {serr!r}"):
        for role, out in (("client", c.stdout), ("server", sout)):
            j = json.loads(out)
            t.check((j["bytes"], j["iterations"], j["tx_depth"], j["mtu"], j["cq_mod"]) ==
                    (1000, 37, 5, 1024, 5), f"{role}: {j}")


@r.case
def test_parameter_mismatch_fails_both(t):
    for sargs, cargs, what in [(("-s", "4096"), ("-s", "8192"), "-s"),
                               ((), ("--provider", "udp"), "shm")]:
        s = Server("write_bw", "shm", *sargs)
        if not t.check(s.port is not None, "server start"):
            s.finish(1)
            continue
        c = run("write_bw", "--provider", "shm", "-p", str(s.port), *cargs, "127.0.0.1")
        src, _, serr = s.finish(10)
        t.check(c.returncode == 1 and src == 1, f"{cargs}: exits {c.returncode} {src}")
        t.check(what in c.stderr and what in serr, f"{cargs}: {c.stderr!r} / {serr!r}")
    s = Server("write_bw", "shm")
    c = run("read_bw", "--provider", "shm", "-p", str(s.port), "127.0.0.1")
    src, _, serr = s.finish(10)
    t.check(c.returncode == 1 and src == 1 and "read_bw" in c.stderr and "write_bw" in serr,
            f"test mismatch: {c.stderr!r} {serr!r}")


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


@r.case
def test_client_without_server(t):
    port = free_port()
    t0 = time.monotonic()
    p = run("write_bw", "--provider", "shm", "-p", str(port), "127.0.0.1", timeout=10)
    dt = time.monotonic() - t0
    t.check(p.returncode == 1, f"exit {p.returncode}")
    want = f"loom perf: connect 127.0.0.1:{port}: Connection refused"
    t.check(p.stderr.strip() == want, f"stderr {p.stderr!r}, want {want!r}")
    t.check(dt < 3, f"took {dt:.1f} s")
    # --wait retries for that long, then says the same.
    t0 = time.monotonic()
    p = run("write_bw", "--provider", "shm", "-p", str(port), "--wait", "0.5", "127.0.0.1")
    dt = time.monotonic() - t0
    t.check(p.returncode == 1 and 0.4 < dt < 3, f"--wait 0.5: exit {p.returncode}, {dt:.1f} s")
    p = run("write_bw", "-p", "1", "no-such-host.invalid", timeout=20)
    t.check(p.returncode == 1 and "resolve no-such-host.invalid" in p.stderr, p.stderr)


def kill_mid_run(t, test, victim, provider="shm"):
    """Start a long run, SIGKILL one side; the other must exit 1 within seconds."""
    s = Server(test, provider, "-n", "100000000")
    if not t.check(s.port is not None, "server start"):
        s.finish(1)
        return
    c = subprocess.Popen([LOOM, "perf", test, "--provider", provider, "-p", str(s.port),
                          "-n", "100000000", "127.0.0.1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # well into the loop
    dead, other = (c, s.p) if victim == "client" else (s.p, c)
    t.check(dead.poll() is None and other.poll() is None, f"{test}: a side ended early")
    dead.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    try:
        _, err = other.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        other.kill()
        _, err = other.communicate()
        t.check(False, f"{test}: the {victim}'s peer hung after the {victim} died")
        dead.communicate()
        return
    dt = time.monotonic() - t0
    dead.communicate()
    t.check(other.returncode == 1, f"{test}: exit {other.returncode} after the {victim} died")
    t.check(dt < 10, f"{test}: took {dt:.1f} s to notice")
    t.check("loom perf: " in err and ("peer" in err or "died" in err), f"{test}: {err!r}")


@r.case
def test_server_whose_client_dies(t):
    kill_mid_run(t, "write_bw", "client")   # passive server: waits on the side channel
    kill_mid_run(t, "write_lat", "client")  # active server: spins on its buffer


@r.case
def test_client_whose_server_dies(t):
    kill_mid_run(t, "send_bw", "server")


@r.case
def test_wrong_bytes_fail_the_run(t):
    env = dict(os.environ)
    for side, test in (("server", "write_bw"), ("client", "read_bw"), ("server", "atomic_bw"),
                       ("client", "write_lat")):
        env["LOOM_PERF_CORRUPT"] = side
        got = pair(t, test, "shm", "-n", "20", env=env)
        if got is None:
            continue
        c, (src, _, serr) = got
        t.check(c.returncode == 1 and src == 1, f"{test}: exits {c.returncode} {src}")
        t.check("data check failed" in c.stderr and "data check failed" in serr,
                f"{test}: {c.stderr!r} / {serr!r}")


@r.case
def test_udp_faults_and_counters(t):
    """Loss, duplication, reordering and corruption on both sides' packets: every
    byte checked, every FETCH_ADD executed exactly once (the server's word grows by
    exactly -n), and the counters show the recovery."""
    need_udp(t)
    faults = ("--drop", "0.05", "--dup", "0.02", "--reorder", "0.02", "--corrupt", "0.01")
    for test, size in (("write_bw", "16384"), ("atomic_bw", "8"), ("read_lat", "4096")):
        got = pair(t, test, "udp", "-n", "300", "-s", size, "--json", *faults,
                   client_args=("--fault-seed", "7"))
        if got is None:
            continue
        c, (src, sout, serr) = got
        if not t.check(c.returncode == 0 and src == 0, f"{test}: {c.stderr!r} {serr!r}"):
            continue
        j, sj = json.loads(c.stdout), json.loads(sout)
        k = j["counters"]
        t.check(j["data_check"] == "ok" and "fault.tx.drop=0.05" in j["opts"], j)
        t.check("fault.seed=7" in j["opts"] and "fault.seed=7" not in sj["opts"], j["opts"])
        t.check(k["fault_dropped"] > 0 and k["retransmits"] > 0,
                f"{test}: 5% drop, yet counters {k}")
        t.check(sj["counters"]["fault_dropped"] > 0, f"{test}: server {sj['counters']}")


@r.case
def test_provider_without_devices(t):
    # The server opens its device only once a client came: start one.
    s = Server("write_bw", "ibverbs")
    if not t.check(s.port is not None, "server start"):
        s.finish(1)
        return
    c = run("write_bw", "--provider", "ibverbs", "-p", str(s.port), "127.0.0.1")
    src, _, serr = s.finish(10)
    if c.returncode == 0:
        t.skip("an RDMA device exists here: nothing to refuse")
    t.check(c.returncode == 1 and src == 1, f"exits {c.returncode} {src}")
    t.check("ibverbs" in serr and "ibverbs" in c.stderr, f"{serr!r} / {c.stderr!r}")


raise SystemExit(r.main())

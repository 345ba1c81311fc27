"""test_train.py - `loom train`, the live workload, end to end.

What is checked (issue: EP runtime + live workload):
  - expert parallelism with 1, 2 and 4 ranks over shm and udp, and 4 ranks in
    node-limited two-hop mode, gives bit-identical parameters (a digest of every
    parameter's bits, gathered in global expert order), losses and validation
    loss after several steps, equal to the single-process run;
  - fp32, bf16 and fp8 runs are each deterministic; FP8's loss after a fixed
    number of steps is within a measured relative gap of FP32's (bound below);
  - resume from a checkpoint equals the uninterrupted run, bit for bit;
  - a killed rank makes the others exit with a clear error within seconds;
  - a truncated or corrupted checkpoint, and an altered dataset, are refused;
  - --json's last line is one object with the promised keys; usage errors exit 2.
The single-process run is the same program with --ranks 1 (no transport): the
comparison is between independent processes that only share the model code.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from lt import Runner  # noqa: E402

LOOM = os.path.join(os.environ.get("LOOM_BUILD", "build"), "bin", "loom")
r = Runner()

# A small model that still has every part: 2 blocks (dense + MoE), 4 experts
# in 2 groups, top-2, shared expert; d = 32 so FP8 tiles are partial.
TINY = ["--d-model", "32", "--layers", "2", "--heads", "2", "--seq-len", "16",
        "--dense-hidden", "48", "--experts", "4", "--expert-hidden", "32",
        "--shared-hidden", "32", "--top-k", "2", "--groups", "2", "--topk-groups", "1",
        "--batch", "8", "--chunks", "4", "--eval-windows", "8", "--eval-every", "2",
        "--quiet", "--json"]
KEYS = ["steps", "train_loss", "val_loss", "tokens_per_s", "ranks", "precision", "provider",
        "comm_us_per_step"]


def train(args, timeout=300, check=True):
    p = subprocess.run([LOOM, "train"] + args, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"loom train {' '.join(args)} failed ({p.returncode}):\n"
                             f"{p.stderr}\n{p.stdout}")
    return p


def result(p):
    return json.loads(p.stdout.strip().splitlines()[-1])


def same(t, a, b, what):
    for k in ("param_digest", "train_loss", "val_loss", "steps"):
        t.check(a[k] == b[k], f"{what}: {k} {a[k]} != {b[k]}")


@r.case
def test_json_summary_keys(t):
    res = result(train(TINY + ["--steps", "2", "--precision", "fp8"]))
    for k in KEYS:
        t.check(k in res, f"missing key {k}")
    t.check(res["steps"] == 2 and res["ranks"] == 1, str(res))
    t.check(5.0 < res["train_loss"] < 6.0, f"initial loss {res['train_loss']} not ~log 256")


@r.case
def test_ep_ranks_and_providers_bit_identical(t):
    base = result(train(TINY + ["--steps", "4"]))
    runs = [("2 shm", ["--ranks", "2"]), ("4 shm", ["--ranks", "4"]),
            ("4 shm two-hop", ["--ranks", "4", "--ranks-per-node", "2", "--two-hop"]),
            ("2 udp", ["--ranks", "2", "--provider", "udp"]),
            ("4 udp", ["--ranks", "4", "--provider", "udp"])]
    for what, extra in runs:
        res = result(train(TINY + ["--steps", "4"] + extra))
        same(t, base, res, what)
        t.check(res["comm_us_per_step"] > 0, f"{what}: no modelled communication time")
    t.check(base["comm_us_per_step"] == 0, "one rank has no fabric traffic")


@r.case
def test_precisions_deterministic_and_distinct(t):
    seen = {}
    for prec in ("fp32", "bf16", "fp8"):
        a = result(train(TINY + ["--steps", "3", "--precision", prec]))
        b = result(train(TINY + ["--steps", "3", "--precision", prec, "--ranks", "2"]))
        same(t, a, b, prec)
        seen[prec] = a["param_digest"]
    t.check(len(set(seen.values())) == 3, f"precisions give identical parameters: {seen}")
    # LogFMT-10 combine ([P]): deterministic across ranks, and not the BF16 result
    a = result(train(TINY + ["--steps", "3", "--combine-logfmt", "10"]))
    b = result(train(TINY + ["--steps", "3", "--combine-logfmt", "10", "--ranks", "4"]))
    same(t, a, b, "logfmt-10 combine")
    t.check(a["param_digest"] != seen["fp8"], "LogFMT combine changed nothing")


# FP8 vs FP32: relative gap of the validation loss after the same steps. The
# paper reports < 0.25% at scale and over long runs. Measured here: this tiny
# model after 60 steps, 0.007% (fp32 3.52191, fp8 3.52214); the default model
# after its 600 steps (`loom train --precision fp32|fp8`), 0.09% (1.92654 vs
# 1.92483). The bound is 0.5%: a broken FP8 path (wrong scales, a missing
# promotion, a transposed tile axis) exceeds it by far (a wrong scale shows as
# a loss > 5 at once), while the tiny run's noise stays well below it.
FP8_GAP = 0.005


@r.case
def test_fp8_vs_fp32_loss_gap(t):
    args = TINY + ["--steps", "60", "--eval-every", "0", "--eval-windows", "32", "--lr", "3e-3"]
    f32 = result(train(args + ["--precision", "fp32"]))
    f8 = result(train(args + ["--precision", "fp8"]))
    gap = abs(f8["val_loss"] - f32["val_loss"]) / f32["val_loss"]
    print(f"    fp32 val {f32['val_loss']:.5f}, fp8 val {f8['val_loss']:.5f}, gap {gap:.4%}")
    t.check(f32["val_loss"] < 4.0, f"fp32 did not learn: {f32['val_loss']}")
    t.check(gap < FP8_GAP, f"fp8 vs fp32 relative gap {gap:.4%} >= {FP8_GAP:.1%}")


@r.case
def test_resume_equals_uninterrupted(t):
    d = tempfile.mkdtemp(prefix="loom-ckpt-")
    try:
        full = result(train(TINY + ["--steps", "6", "--ranks", "2"]))
        part = train(TINY + ["--steps", "6", "--ranks", "2", "--ckpt-dir", d,
                             "--ckpt-every", "3", "--stop-after", "3"])
        t.check(result(part)["steps"] == 3, "stop-after did not stop at 3")
        t.check(os.path.exists(os.path.join(d, "latest")), "no 'latest' record")
        res = result(train(TINY + ["--steps", "6", "--ranks", "2", "--ckpt-dir", d,
                                   "--resume"]))
        same(t, full, res, "resumed")
        # resume with another rank count is refused with a reason
        p = train(TINY + ["--steps", "6", "--ranks", "4", "--ckpt-dir", d, "--resume"],
                  check=False)
        t.check(p.returncode != 0 and "ranks" in p.stderr, p.stderr[-500:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


@r.case
def test_bad_checkpoint_refused(t):
    d = tempfile.mkdtemp(prefix="loom-ckpt-")
    try:
        train(TINY + ["--steps", "2", "--ckpt-dir", d, "--ckpt-every", "2"])
        files = [f for f in os.listdir(d) if f.endswith(".ckpt")]
        t.check(len(files) == 1, f"checkpoint files: {files}")
        path = os.path.join(d, files[0])
        good = open(path, "rb").read()
        for what, data in (("truncated", good[: len(good) // 2]),
                           ("corrupted", good[:100] + bytes([good[100] ^ 1]) + good[101:])):
            open(path, "wb").write(data)
            p = train(TINY + ["--steps", "4", "--ckpt-dir", d, "--resume"], check=False)
            t.check(p.returncode == 1, f"{what}: exit {p.returncode}")
            t.check(files[0] in p.stderr, f"{what}: message does not name the file: "
                    f"{p.stderr[-300:]}")
        open(path, "wb").write(good)
        res = result(train(TINY + ["--steps", "3", "--ckpt-dir", d, "--resume"]))
        t.check(res["steps"] == 3, "intact checkpoint not accepted after restore")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@r.case
def test_bad_dataset_refused(t):
    src = os.environ.get("LOOM_DATA") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data",
        "tinyshakespeare.txt")
    if not os.path.exists(src):
        t.skip(f"corpus not found at {src}")
    d = tempfile.mkdtemp(prefix="loom-data-")
    try:
        good = open(src, "rb").read()
        for what, data in (("truncated", good[:-10]),
                           ("altered", good[:500] + b"X" + good[501:])):
            bad = os.path.join(d, what + ".txt")
            open(bad, "wb").write(data)
            p = train(TINY + ["--steps", "1", "--data", bad], check=False)
            t.check(p.returncode == 1 and bad in p.stderr,
                    f"{what}: exit {p.returncode}: {p.stderr[-300:]}")
        p = train(TINY + ["--steps", "1", "--data", os.path.join(d, "missing.txt")],
                  check=False)
        t.check(p.returncode == 1 and "missing.txt" in p.stderr, p.stderr[-300:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


@r.case
def test_killed_rank_fails_fast(t):
    t0 = time.monotonic()
    p = train(TINY + ["--steps", "50", "--ranks", "4", "--kill-rank", "2:2"], check=False,
              timeout=120)
    dt = time.monotonic() - t0
    t.check(p.returncode != 0, "job succeeded although a rank was killed")
    t.check("rank 2 was killed by signal 9" in p.stderr, p.stderr[-800:])
    # the survivors end on their own with an error naming what happened
    # (not the launcher's grace-period kill)
    t.check("still running" not in p.stderr, p.stderr[-800:])
    t.check(dt < 30, f"took {dt:.1f} s")


@r.case
def test_mpirun_launch_bit_identical(t):
    """Under mpirun each process is one rank (bootstrap through MPI)."""
    mpirun = shutil.which("mpirun")
    t.check(mpirun is not None, "mpirun missing (openmpi-bin is installed by make deps)")
    if mpirun is None:
        return
    base = result(train(TINY + ["--steps", "3"]))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl="self,vader", OMPI_MCA_plm_rsh_agent="")
    for k in ("LOOM_BOOTSTRAP", "LOOM_RANK", "LOOM_WORLD_SIZE"):
        env.pop(k, None)
    p = subprocess.run([mpirun, "-np", "2", "--oversubscribe", LOOM, "train"] + TINY +
                       ["--steps", "3"], capture_output=True, text=True, timeout=180, env=env)
    if p.returncode != 0 and "loom train" not in p.stderr:
        t.skip("mpirun cannot start processes here: " + p.stderr.strip()[-300:])
    t.check(p.returncode == 0, f"mpirun: exit {p.returncode}: {p.stderr[-800:]}")
    res = result(p)
    t.check(res["ranks"] == 2, str(res))
    same(t, base, res, "mpirun -np 2")


@r.case
def test_usage_errors(t):
    for args in (["--precision", "fp16"], ["--ranks", "3"], ["--bogus"],
                 ["--batch", "6", "--chunks", "4"]):
        p = train(args + ["--steps", "1", "--quiet"], check=False)
        t.check(p.returncode in (1, 2) and "loom train" in p.stderr,
                f"{args}: exit {p.returncode}: {p.stderr[-300:]}")
    p = subprocess.run([LOOM, "train", "--help"], capture_output=True, text=True)
    t.check(p.returncode == 0 and "--ranks-per-node" in p.stdout, "help")


raise SystemExit(r.main())

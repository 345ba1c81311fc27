#!/usr/bin/env bash
# run-fuzz.sh - a bounded libFuzzer run of fuzz_roce_parse (the RoCEv2 packet,
# frame and pcap parsers), as a test suite: prints the run's figures and
# "1 passed, 0 failed", or the reason and "0 passed, 1 failed".
#
# Environment: LOOM_BUILD (build dir, set by scripts/run-tests.sh), FUZZ_SECONDS
# (default 20), FUZZ_CORPUS (a directory kept across runs; default: a fresh
# temporary one, so every `make test` starts from the same generated seeds).
# Crash inputs are saved as $LOOM_BUILD/fuzz/crash-*; rerun one with
#   $LOOM_BUILD/fuzz/fuzz_roce_parse $LOOM_BUILD/fuzz/crash-<hash>
set -u
build=${LOOM_BUILD:-build}
secs=${FUZZ_SECONDS:-20}
fz=$build/fuzz/fuzz_roce_parse
gen=$build/fuzz/gen_roce_seeds

fail() { echo "fuzz_roce_parse: $*"; echo "0 passed, 1 failed"; exit 1; }

cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null || fail "$cc not found: libFuzzer needs clang (make deps installs it)"
[ -x "$fz" ] && [ -x "$gen" ] || fail "$fz or $gen not built (make BUILD=$build fuzz builds them)"

seeds=$build/fuzz/seeds
rm -rf "$seeds" && mkdir -p "$seeds" || fail "cannot create $seeds"
nseeds=$("$gen" "$seeds") || fail "seed generator failed: $nseeds"

tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
corpus=${FUZZ_CORPUS:-$tmp/corpus}
mkdir -p "$corpus"
log=$tmp/log

"$fz" -max_total_time="$secs" -seed=1 -timeout=10 -rss_limit_mb=2048 -max_len=9000 \
  -print_final_stats=1 -artifact_prefix="$build/fuzz/" "$corpus" "$seeds" >"$log" 2>&1
rc=$?

stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")

if [ "$rc" -ne 0 ]; then
  grep -E 'ERROR|contract broken|SUMMARY|Test unit written' "$log" | head -n 20
  tail -n 30 "$log"
  fail "libFuzzer exit status $rc after $(stat number_of_executed_units) runs (crash input above)"
fi
echo "fuzz_roce_parse: ${secs} s, $(stat number_of_executed_units) runs," \
  "$(stat average_exec_per_sec) exec/s, cov ${cov:-?} edges, ft ${ft:-?}," \
  "corpus ${corp:-?} inputs from $nseeds"
echo "1 passed, 0 failed"

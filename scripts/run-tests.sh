#!/usr/bin/env bash
# run-tests.sh BUILD SUITE... - run every test suite and print the grand total.
#
# A suite is a test binary or a Python test script.  Each prints one line per
# case and ends with "N passed, N failed[, N skipped]".  A suite that exits
# non-zero or never prints that line counts as one failure, so a crash cannot
# hide.  Exit status: 0 only when nothing failed.
set -u
build=$1; shift
export LOOM_BUILD=$build
limit=${LOOM_TEST_TIMEOUT:-900}   # seconds per suite: a hung suite fails, never hangs CI
tp=0 tf=0 ts=0
failed_suites=()
log=$(mktemp); trap 'rm -f "$log"' EXIT

for suite in "$@"; do
  echo "== $suite"
  start=$EPOCHREALTIME
  case "$suite" in
    *.py) timeout -k 10 "$limit" ${PYTHON:-python3} "$suite" >"$log" 2>&1 ;;
    *) timeout -k 10 "$limit" "$suite" >"$log" 2>&1 ;;
  esac
  rc=$?
  [ "$rc" -eq 124 ] && echo "   $suite: killed after $limit s (LOOM_TEST_TIMEOUT)" >>"$log"
  cat "$log"
  line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "   $suite: no summary line (exit status $rc): counted as 1 failure"
    tf=$((tf + 1)); failed_suites+=("$suite"); continue
  fi
  p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  s=0; [[ $line == *skipped* ]] && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "   $suite: exit status $rc with no failed case: counted as 1 failure"
    f=1
  fi
  tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
  [ "$f" -ne 0 ] && failed_suites+=("$suite")
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "   (%.1f s)\n", b - a }'
done

echo
[ ${#failed_suites[@]} -gt 0 ] && echo "failed suites: ${failed_suites[*]}"
if [ "$ts" -gt 0 ]; then
  echo "$tp passed, $tf failed, $ts skipped"
else
  echo "$tp passed, $tf failed"
fi
[ "$tf" -eq 0 ]

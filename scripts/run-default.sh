#!/bin/sh
# run-default.sh BUILD - `make run`: the default experiment. Trains the live
# workload with 4 ranks over shm (2 modelled nodes of 2, two-hop EP), shows the
# progress bar, then writes a report to BUILD/run/: summary.txt (readable
# summary + the JSON line), metrics.jsonl (one line per step) and loss.txt (the
# loss curve drawn by gnuplot as text; loss.png too where gnuplot has png).
# Extra arguments go to `loom train` (e.g. `make run RUN_ARGS="--precision fp32"`).
set -eu
build=${1:-build}
shift || true
out="$build/run"
mkdir -p "$out"
rm -f "$out/metrics.jsonl"
"$build/bin/loom" train --ranks 4 --ranks-per-node 2 --metrics "$out/metrics.jsonl" --json "$@" \
	| tee "$out/summary.txt.tmp"
mv "$out/summary.txt.tmp" "$out/summary.txt"
if command -v gnuplot >/dev/null 2>&1; then
	# step, loss and (where present) val_loss columns from the JSON lines
	sed -n 's/.*"step":\([0-9]*\),"loss":\([0-9.eE+-]*\).*/\1 \2/p' "$out/metrics.jsonl" >"$out/train.dat"
	sed -n 's/.*"step":\([0-9]*\),.*"val_loss":\([0-9.eE+-]*\).*/\1 \2/p' "$out/metrics.jsonl" >"$out/val.dat"
	plot="set xlabel 'step'; set ylabel 'nats/byte'; set key top right;
	      plot '$out/train.dat' with lines title 'train', '$out/val.dat' with linespoints title 'validation'"
	gnuplot -e "set terminal dumb 100 28; set output '$out/loss.txt'; $plot" 2>/dev/null && cat "$out/loss.txt"
	gnuplot -e "set terminal png size 900,500; set output '$out/loss.png'; $plot" 2>/dev/null || rm -f "$out/loss.png"
fi
echo "report: $out/summary.txt, $out/metrics.jsonl${out:+, $out/loss.txt}"

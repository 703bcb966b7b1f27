#!/usr/bin/env bash
# Throughput of `fastnn sweep` against the same runs one after another.
#
#   benches/sweep.sh [RUNS] [REPEATS] [THREADS] [EPOCHS]
#
# Defaults: 8 `fashion` runs (seeds 1-8) of 3 epochs, 5 repeats, 2 threads.
# Each repeat times, as whole processes (wall clock):
#   sweep:      fastnn sweep --seeds 1-RUNS --threads THREADS   (THREADS runs at
#               once, one thread each)
#   one by one: fastnn train --seed S --threads THREADS, RUNS times in a row
# alternating which goes first, so both see the same background load. Prints
# each repeat, then the medians, the speed-up, models per hour and the share
# of the measured FMA peak (from the sweep's own report). The machine is
# shared: read medians, and rerun when the spread is wide.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-8}
repeats=${2:-5}
threads=${3:-2}
epochs=${4:-3}

cargo build --release --quiet
bin=target/release/fastnn
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }

time_sweep() {
  local out="$tmp/runs-$1.jsonl" t0 t1
  t0=$(now)
  "$bin" sweep --dataset fashion --epochs "$epochs" --seeds "1-$runs" \
    --threads "$threads" --out "$out" > "$tmp/sweep-$1.log"
  t1=$(now)
  calc "$t1 - $t0"
}

time_one_by_one() {
  local t0 t1 s
  t0=$(now)
  for s in $(seq 1 "$runs"); do
    "$bin" train --dataset fashion --epochs "$epochs" --seed "$s" \
      --threads "$threads" --quiet > /dev/null
  done
  t1=$(now)
  calc "$t1 - $t0"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"$bin" --version | sed -n 2p
grep -m1 'model name' /proc/cpuinfo || true
echo "$runs fashion runs of $epochs epochs on $threads threads, $repeats repeats"
printf '%-8s %12s %12s %8s\n' repeat sweep_s one_by_one_s ratio
: > "$tmp/sweep.txt"
: > "$tmp/seq.txt"
for r in $(seq 1 "$repeats"); do
  if (( r % 2 )); then
    s=$(time_sweep "$r"); q=$(time_one_by_one)
  else
    q=$(time_one_by_one); s=$(time_sweep "$r")
  fi
  echo "$s" >> "$tmp/sweep.txt"
  echo "$q" >> "$tmp/seq.txt"
  printf '%-8s %12.2f %12.2f %7.2fx\n' "$r" "$s" "$q" "$(calc "$q / $s")"
done
ms=$(median < "$tmp/sweep.txt")
mq=$(median < "$tmp/seq.txt")
# The sweep's own report: training GFLOP and the measured FMA peak.
report=$(grep 'models/hour' "$tmp"/sweep-*.log | tail -1)
gflop=$(sed -E 's/.*training ([0-9.]+) GFLOP at.*/\1/' <<< "$report")
peak=$(sed -E 's/.*FMA peak \(([0-9.]+) GFLOP\/s\).*/\1/' <<< "$report")
echo
printf 'median    sweep %.2f s, one by one %.2f s: sweep %.2fx sooner\n' "$ms" "$mq" \
  "$(calc "$mq / $ms")"
printf 'models/hour   sweep %.0f, one by one %.0f\n' "$(calc "$runs * 3600 / $ms")" \
  "$(calc "$runs * 3600 / $mq")"
printf 'share of the %s-thread FMA peak (%s GFLOP/s; %s GFLOP of training): sweep %.1f%%, one by one %.1f%%\n' \
  "$threads" "$peak" "$gflop" "$(calc "100 * $gflop / $ms / $peak")" \
  "$(calc "100 * $gflop / $mq / $peak")"

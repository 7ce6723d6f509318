#!/usr/bin/env bash
# Like-for-like step time: Burn (bsq-train/examples/step_bench.rs) vs PyTorch (bench/torch_step.py).
#
# Usage: bsq-train/bench/compare.sh [STEPS [MODEL...]]
#   STEPS   timed steps per side (default 30; the first 3 are left out of median and min)
#   MODEL   lenet and/or resnet20 (default: both)
# Environment: PYTHON (default python3), THREADS (default 2: RAYON_NUM_THREADS for Burn,
#   torch.set_num_threads for PyTorch), ROUNDS (default 1: alternating Burn/PyTorch runs per model; the
#   table then gives the medians over the rounds and the median of the rounds' ratios).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
threads="${THREADS:-2}"
steps="${1:-30}"
rounds="${ROUNDS:-1}"
if [ "$#" -gt 0 ]; then shift; fi
models=("$@")
if [ "${#models[@]}" -eq 0 ]; then models=(lenet resnet20); fi

case "$steps" in
  '' | *[!0-9]*) echo "compare.sh: STEPS must be a number, got '$steps'" >&2; exit 2 ;;
esac
case "$rounds" in
  '' | 0 | *[!0-9]*) echo "compare.sh: ROUNDS must be a number ≥ 1, got '$rounds'" >&2; exit 2 ;;
esac
for m in "${models[@]}"; do
  case "$m" in
    lenet | resnet20) ;;
    *) echo "compare.sh: unknown model '$m' (expected lenet or resnet20)" >&2; exit 2 ;;
  esac
done

if ! command -v "$py" > /dev/null 2>&1; then
  echo "compare.sh: '$py' not found (set PYTHON=/path/to/python3)" >&2
  exit 1
fi
if ! "$py" -c 'import torch' > /dev/null 2>&1; then
  echo "compare.sh: PyTorch is not installed for $py: pip install torch" >&2
  exit 1
fi

field() { # field NAME LINE -> value of NAME=... in LINE
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"
}

cd "$root"
echo "# $steps steps per side, batch 64, $threads threads, median of the steps after the first 3; $rounds round(s)" >&2
# Build once, so that no round pays for compiling.
if ! cargo build --release -q -p bsq-train --example step_bench; then
  echo "compare.sh: could not build the Burn side (cargo build --release -p bsq-train --example step_bench)" >&2
  exit 1
fi
rows=()
for m in "${models[@]}"; do
  bs=()
  ts=()
  for ((round = 1; round <= rounds; round++)); do
    echo "# $m: burn (round $round) ..." >&2
    if ! burn_out="$(RAYON_NUM_THREADS="$threads" cargo run --release -q -p bsq-train --example step_bench -- "$m" "$steps")"; then
      echo "compare.sh: the Burn side failed (cargo run --release -p bsq-train --example step_bench -- $m $steps)" >&2
      exit 1
    fi
    burn_line="$(grep '^burn-flex ' <<< "$burn_out" | tail -1 || true)"
    echo "$burn_line" >&2
    echo "# $m: torch (round $round) ..." >&2
    if ! torch_out="$("$py" "$here/torch_step.py" "$m" "$steps" "$threads")"; then
      echo "compare.sh: the PyTorch side failed ($py bsq-train/bench/torch_step.py $m $steps $threads)" >&2
      exit 1
    fi
    torch_line="$(grep '^torch ' <<< "$torch_out" | tail -1 || true)"
    echo "$torch_line" >&2
    b="$(field median_ms "$burn_line")"
    t="$(field median_ms "$torch_line")"
    if [ -z "$b" ] || [ -z "$t" ]; then
      echo "compare.sh: could not read median_ms for $m (burn: '$burn_line', torch: '$torch_line')" >&2
      exit 1
    fi
    bs+=("$b")
    ts+=("$t")
  done
  rows+=("$m ${bs[*]} / ${ts[*]}")
done

# Per model: the median over the rounds of each side's median step, and the median of the rounds' ratios
# (each round runs the two sides back to back, so a ratio is less exposed to a busy machine than either time).
printf '\n%-10s %16s %18s %17s\n' model "Burn median ms" "PyTorch median ms" "Burn/PyTorch"
for r in "${rows[@]}"; do
  awk -v row="$r" 'function median(a, n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    BEGIN {
      split(row, half, " / "); split(half[1], bw, " "); split(half[2], t, " ");
      m = bw[1]; n = length(bw) - 1;
      for (i = 1; i <= n; i++) { b[i] = bw[i + 1]; ok = (t[i] + 0 > 0); q[i] = ok ? b[i] / t[i] : 0 }
      if (n > 1) {
        line = "";
        for (i = 1; i <= n; i++) line = line sprintf(" %.2fx", q[i]);
        printf "# %s rounds:%s\n", m, line
      }
      mb = median(b, n); mt = median(t, n); mq = median(q, n);
      printf "%-10s %16.2f %18.2f %17s\n", m, mb, mt, (mt > 0) ? sprintf("%.2fx", mq) : "n/a" }'
done

#!/usr/bin/env bash
# GPU figures for the trainer: the BSQ step on Burn's GPU backend beside PyTorch on CUDA (the like-for-like step
# of compare.sh), then one CIFAR-10 epoch of each phase of `bsq train` for ResNet-20 and ResNet-8.
#
# Usage: bsq-train/bench/gpu.sh DATA_DIR [OUT_DIR]
#   DATA_DIR  holds cifar10/cifar-10-batches-bin/data_batch_{1..5}.bin (docs/datasets.md)
#   OUT_DIR   run directories and gpu.log (default bsq-gpu)
# Environment:
#   DEVICE      wgpu (default) or cuda: Burn's backend, as in `bsq train --device`
#   BSQ         the bsq binary (default target/release/bsq), built with `--features $DEVICE`
#   STEP_BENCH  the step_bench example (default target/release/examples/step_bench), built with
#               `cargo build --release -p bsq-train --example step_bench --features $DEVICE`
#   PYTHON      python3 with a CUDA build of torch (default python3); skipped when torch sees no GPU
#   STEPS       timed steps per side (default 40)
# Each part has a timeout (STEP_TIMEOUT, default 120 s; EPOCH_TIMEOUT, default 600 s per training run) so a
# hung driver stops the script instead of the machine's lease. The epoch times are the `seconds` of each line
# of the runs' metrics.jsonl (training, calibration and both evaluations of that epoch).
set -uo pipefail

data="${1:?usage: gpu.sh DATA_DIR [OUT_DIR]}"
out="${2:-bsq-gpu}"
device="${DEVICE:-wgpu}"
bsq="${BSQ:-target/release/bsq}"
step_bench="${STEP_BENCH:-target/release/examples/step_bench}"
py="${PYTHON:-python3}"
steps="${STEPS:-40}"
st="${STEP_TIMEOUT:-120}"
et="${EPOCH_TIMEOUT:-600}"

for f in "$bsq" "$step_bench"; do
  [ -x "$f" ] || { echo "gpu.sh: $f is not an executable (build it with --features $device)" >&2; exit 1; }
done
[ -f "$data/cifar10/cifar-10-batches-bin/data_batch_5.bin" ] ||
  { echo "gpu.sh: no CIFAR-10 batches under $data/cifar10/cifar-10-batches-bin" >&2; exit 1; }
mkdir -p "$out"
log="$out/gpu.log"
say() { echo "== $(date +%T) $*" | tee -a "$log"; }
failed() { say "exit status $1$([ "$1" = 124 ] && echo ': timed out')"; }

command -v nvidia-smi > /dev/null && nvidia-smi -L 2>&1 | tee -a "$log"
for m in resnet20 lenet; do
  say "step_bench $device $m ($steps steps)"
  BSQ_PROFILE=1 BSQ_DEVICE="$device" timeout "$st" "$step_bench" "$m" "$steps" 2>&1 | tee -a "$log" || failed $?
  if "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null; then
    say "torch_step cuda $m ($steps steps)"
    BSQ_PROFILE=1 BSQ_DEVICE=cuda timeout "$st" "$py" "$(dirname "$0")/torch_step.py" "$m" "$steps" 1 2>&1 |
      tee -a "$log" || failed $?
  fi
done
for m in resnet20 resnet8; do
  say "bsq train $m cifar10 --device $device: one float, one BSQ and one finetune epoch"
  rm -rf "${out:?}/$m" "$out/$m.log"
  timeout "$et" "$bsq" train --model "$m" --dataset cifar10 --data-dir "$data" --device "$device" \
    --epochs-float 1 --epochs-bsq 1 --epochs-finetune 1 --out "$out/$m" > "$out/$m.log" 2>&1
  rc=$?
  tr '\r' '\n' < "$out/$m.log" | grep -v '^\s*$' | tail -4 | tee -a "$log"
  [ "$rc" = 0 ] || failed "$rc"
  [ -f "$out/$m/metrics.jsonl" ] && "$py" -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("%s %s epoch %s: %.1f s" % (sys.argv[2], r.get("phase"), r.get("epoch"), r.get("seconds", float("nan"))))
' "$out/$m/metrics.jsonl" "$m" | tee -a "$log"
done
say done

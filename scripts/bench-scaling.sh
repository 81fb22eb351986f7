#!/usr/bin/env bash
# Data-parallel scaling on this machine: training images/s of MobileNetV1 alpha 1.0 at 224 px,
# batch 32, with the network of PyTorch's anchors (all 13 blocks, pooled Dense(1024) -> Dense(8)
# head, 4.26 M parameters; not the heatmap head of train's defaults), for 1 worker x 2 threads,
# 2 workers x 1 thread and one process x 2 threads; 2 workers x 1 thread with --in-memory-inputs
# (the random-tensor work of PyTorch's DDP benchmark), also with bf16 convolutions (--precision
# bf16; every other row passes --precision f32, the precision of PyTorch's f32 anchors, whatever the
# tool's default), with bf16 and fp16 frames on the wire, and
# over TCP with CURVE as workers on other hosts connect (local workers use a private Unix socket);
# and the coordinator's cost per step (reduce + optimizer + broadcast) with 8 workers. Prints
# medians over the timed steps (the first 2 steps are warm-up), then the PyTorch DDP commands to
# run beside it on the same work (random tensors, and the same image files through a DataLoader).
# Needs a dataset:
#   scripts/bench-scaling.sh [LABELS]   (default: runs/demo/cards/labels.csv, made by the demo)
set -euo pipefail
cd "$(dirname "$0")/.."
labels=${1:-runs/demo/cards/labels.csv}
bin=.build/release/keypoints
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -f "$labels" ] || "$bin" synth --out "$(dirname "$labels")" --count 512 --size 256
steps=${STEPS:-12}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { # median of a JSON field over steps > 2 of a run's metrics log
  python3 - "$1" "$2" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{statistics.median(r[sys.argv[2]] for r in rows if sys.argv[2] in r and r['step'] > 2):.3f}")
PY
}

run() { # name, extra flags...
  local name=$1; shift
  "$bin" train --data "$labels" --val-fraction 0.02 --alpha 1.0 --input-size 224 --batch-size 32 \
    --head regression --hidden 1024 --steps "$steps" --log-every 0 --out "$tmp/$name" --precision "${PRECISION:-f32}" "$@" \
    > "$tmp/$name.log" 2>&1
  local log="$tmp/$name/metrics.jsonl"
  echo "$name: $(median "$log" images_per_s) images/s (median step $(median "$log" step_s) s;" \
       "compute $(median "$log" compute_s) s, transfer $(median "$log" transfer_s) s," \
       "coordinator update $(median "$log" update_s) s)"
}

run "1 worker x 2 threads" --workers 1 --threads 2 --micro-batch 32
run "2 workers x 1 thread" --workers 2 --threads 1 --micro-batch 16
run "1 process x 2 threads (no workers)" --threads 2 --micro-batch 32
run "2 workers x 1 thread, --in-memory-inputs (tensors from memory, as ddp_bench.py)" --workers 2 --threads 1 --micro-batch 16 --in-memory-inputs
PRECISION=bf16 run "2 workers x 1 thread, --precision bf16 (bf16 convolutions where the CPU has AVX512-BF16), --in-memory-inputs" --workers 2 --threads 1 --micro-batch 16 --in-memory-inputs
run "2 workers x 1 thread, bf16 on the wire" --workers 2 --threads 1 --micro-batch 16 --wire-precision bf16
run "2 workers x 1 thread, fp16 on the wire" --workers 2 --threads 1 --micro-batch 16 --wire-precision fp16
# The same over TCP with CURVE, as workers on other hosts connect (train --workers uses a Unix
# socket in a private folder, unencrypted): what authentication and encryption cost on loopback.
curve_run() { # name, extra flags...
  local name=$1; shift
  for k in coordinator w1 w2; do "$bin" keygen --out "$tmp/keys" --name "$k" > /dev/null; done
  mkdir -p "$tmp/keys/workers" && mv "$tmp"/keys/w?.pub "$tmp/keys/workers/"
  local endpoint="tcp://127.0.0.1:$((20000 + RANDOM % 20000))"
  "$bin" coordinator --bind "$endpoint" --curve-secret "$tmp/keys/coordinator.key" --authorized-keys "$tmp/keys/workers" \
    --min-workers 2 --data "$labels" --val-fraction 0.02 --alpha 1.0 --input-size 224 --batch-size 32 --head regression \
    --hidden 1024 --steps "$steps" --log-every 0 --micro-batch 16 --precision f32 --out "$tmp/$name" > "$tmp/$name.log" 2>&1 &
  local coordinator=$!
  for w in w1 w2; do
    "$bin" worker --connect "$endpoint" --threads 1 --name "$w" --curve-secret "$tmp/keys/$w.key" \
      --server-key "$tmp/keys/coordinator.pub" "$@" >> "$tmp/$name.log" 2>&1 &
  done
  wait "$coordinator"; wait
  local log="$tmp/$name/metrics.jsonl"
  echo "$name: $(median "$log" images_per_s) images/s (median step $(median "$log" step_s) s;" \
       "compute $(median "$log" compute_s) s, transfer $(median "$log" transfer_s) s," \
       "coordinator update $(median "$log" update_s) s)"
}
curve_run "2 workers x 1 thread over TCP with CURVE, --in-memory-inputs" --in-memory-inputs
STEPS=4 run "8 workers x 1 thread (coordinator cost)" --workers 8 --threads 1 --micro-batch 4
anchors=${ANCHORS:-../shared/anchors}
echo "beside it, in the same sitting (PyTorch in the anchors' venv; see README, Benchmarks):"
echo "  OMP_WAIT_POLICY=passive python $anchors/ddp_bench.py --procs 2 --threads 1 --batch 16 --channels-last"
echo "  OMP_WAIT_POLICY=passive python scripts/bench-torch-bf16.py --anchors $anchors --procs 2 --threads 1 --batch 16   (beside the --precision bf16 row)"
echo "  OMP_WAIT_POLICY=passive python scripts/bench-ddp-jpeg.py --anchors $anchors --labels $labels --procs 2 --threads 1 --batch 16 --channels-last"
echo "  OMP_WAIT_POLICY=passive python scripts/bench-ddp-jpeg.py --anchors $anchors --labels $labels --procs 2 --threads 1 --batch 16 --channels-last --bf16   (JPEGs under bf16 autocast)"

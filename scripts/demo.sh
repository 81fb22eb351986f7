#!/usr/bin/env bash
# The main job end to end on a built-in default: generate a keypoint dataset (cards in perspective
# on cluttered backgrounds, 4 corners each), then train MobileNetV1 on it through a coordinator and
# one worker process per core into the run folder runs/demo/run (models, checkpoints, metrics,
# curves, split), and print the validation metrics. Run again, it continues that run (--auto-resume).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# OpenMP threads sleep instead of spinning when idle: much better on shared or busy machines.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bin=.build/release/keypoints
data=runs/demo/cards
workers=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$data/labels.csv" ]; then
  "$bin" synth --out "$data" --count 2000 --size 256 --seed 1
fi
exec "$bin" train --data "$data/labels.csv" --workers "$workers" \
  --alpha 0.25 --input-size 128 --epochs 15 --batch-size 32 --micro-batch 16 \
  --out runs/demo/run --auto-resume "$@"

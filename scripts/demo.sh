#!/usr/bin/env bash
# The main job end to end on a built-in default: train a small MobileNetV1 keypoint regressor on a
# generated dataset (cards on textured backgrounds, 4 corners) in one process, then print metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# OpenMP threads sleep instead of spinning when idle: much better on shared or busy machines.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
threads=$(nproc 2>/dev/null || echo 1)
exec .build/release/keypoints train --alpha 0.25 --input-size 96 --hidden 256 \
  --synthetic 4096 --validation 256 --epochs 8 --batch-size 32 --lr 4e-3 --threads "$threads" \
  --out runs/demo "$@"

#!/usr/bin/env bash
# The accuracy benchmark (not part of scripts/test.sh): trains each recipe on each dataset for at
# most MINUTES of wall time (SIGTERM at the budget: the run stops at a step boundary and keeps its
# best model), then measures the run's best model on its held-out split with `keypoints evaluate`
# and prints one table: dataset, recipe, NME, PCK@0.1, mean px (original pixels), the mean shape's
# NME, wall time, training images/s.
#   scripts/bench-accuracy.sh                       # every dataset found, every recipe, 15 min each
#   MINUTES=5 DATASETS="lfw-mtfl-5pt-crops" RECIPES="heatmap small" EXTRA_FLAGS="--lr 3e-3" scripts/bench-accuracy.sh
# Real faces come from ../shared/datasets (KEYPOINTS_DATASETS), NME by the inter-ocular distance
# (pair:1,2); a missing set is said and skipped. Generated cards (2,000 at 256 px, seed 1) are always
# there, NME by the image diagonal. Runs go to runs/bench-accuracy/ (removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh > /dev/null
bin=.build/release/keypoints
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
root=${KEYPOINTS_DATASETS:-../shared/datasets}
minutes=${MINUTES:-15}
workers=${WORKERS:-2}
datasets=${DATASETS:-lfw-mtfl-5pt lfw-mtfl-5pt-crops cards}
recipes=${RECIPES:-defaults regression heatmap simcc}
extra=${EXTRA_FLAGS:-}   # flags added to every recipe (a study's one change)
out=runs/bench-accuracy
rm -rf "$out"
mkdir -p "$out"

recipe_flags() { # the flags a recipe adds to the defaults
  case "$1" in
    defaults) echo "" ;;
    regression|heatmap|simcc) echo "--head $1" ;;   # the defaults with this head
    keras) echo "--head regression --alpha 1.0 --input-size 224 --hidden 1024 --lr 1e-3 --loss mse" ;;   # the classic recipe, from scratch
    small) echo "--alpha 0.25 --input-size 128 --head regression --hidden 256 --lr 4e-3" ;;   # the demo's recipe before the heatmap head
    small-heatmap) echo "--alpha 0.25 --input-size 128" ;;   # the defaults at the demo's size and width
    *) echo "bench-accuracy: unknown recipe $1 (defaults, regression, heatmap, simcc, keras, small, small-heatmap)" >&2; exit 2 ;;
  esac
}

rows=()
for dataset in $datasets; do
  if [ "$dataset" = cards ]; then
    [ -f "$out/cards/labels.csv" ] || "$bin" synth --out "$out/cards" --count 2000 --size 256 --seed 1 > /dev/null
    data=(--data "$out/cards/labels.csv" --val-fraction 0.2); normalize=diagonal
  else
    if [ ! -f "$root/$dataset/train.csv" ]; then
      echo "bench-accuracy: $root/$dataset not found: skipped (set KEYPOINTS_DATASETS to the folder holding it)"
      continue
    fi
    data=(--data "$root/$dataset/train.csv" --val "$root/$dataset/val.csv"); normalize=pair:1,2
  fi
  for recipe in $recipes; do
    run="$out/$dataset-$recipe"
    echo "bench-accuracy: $dataset, recipe $recipe ($(recipe_flags "$recipe")), at most $minutes min, $workers workers"
    status=0
    # shellcheck disable=SC2046
    timeout --signal=TERM --kill-after=120 "${minutes}m" "$bin" train "${data[@]}" --workers "$workers" \
      --normalize "$normalize" --log-every 0 --out "$run" $(recipe_flags "$recipe") $extra > "$run.log" 2>&1 || status=$?
    if [ "$status" != 0 ] && [ "$status" != 130 ] && [ "$status" != 124 ]; then
      echo "bench-accuracy: training failed (exit $status); its log ends with:"; tail -5 "$run.log"; exit 1
    fi
    "$bin" evaluate --model "$run" --normalize "$normalize" --json > "$run.eval.json"
    rows+=("$(python3 - "$run" "$dataset" "$recipe" <<'PY'
import json, statistics, sys
run, dataset, recipe = sys.argv[1:]
overall = json.load(open(run + ".eval.json"))["overall"]
lines = [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()]
steps = [l for l in lines if "epoch_end" not in l]
epochs = [l for l in lines if "epoch_end" in l]
rate = statistics.median(l["images_per_s"] for l in steps) if steps else 0
seconds = sum(l["step_s"] for l in steps)
mean_shape = epochs[-1]["val_nme_mean_shape"] if epochs else float("nan")
print(f"| {dataset} | {recipe} | {len(epochs)} | {overall['nme']:.4f} | {overall['pck10']:.3f} | {overall['meanError']:.2f} "
      f"| {mean_shape:.4f} | {seconds / 60:.1f} | {rate:.1f} |")
PY
)")
  done
done
echo
echo "| data | recipe | epochs | NME | PCK@0.1 | mean px | mean-shape NME | train min | img/s |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do echo "$row"; done
echo "(NME/PCK: inter-ocular on faces, image diagonal on cards; the best model of each run on its held-out split; $(lscpu | sed -n 's/^Model name: *//p'))"

#!/usr/bin/env bash
# Soak test: a coordinator and 3 workers on loopback train a tiny model while a chaos loop kills
# random workers (SIGKILL; they are restarted) and, once, the coordinator (restarted with --resume).
# At the end the weights must equal those of a fault-free run and every checkpoint must verify.
#   scripts/soak.sh            # several hundred steps (a few minutes)
#   scripts/soak.sh --short    # about a minute (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KEYPOINTS_BIN:-.build/release/keypoints}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
epochs=250; [ "${1:-}" = "--short" ] && epochs=75
work=$(mktemp -d)
pids=()
cleanup() { touch "$work/stop"; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" synth --out "$work/cards" --count 24 --size 64 --seed 2 > /dev/null
flags=(--data "$work/cards/labels.csv" --val-fraction 0.2 --alpha 0.25 --input-size 96 --hidden 8
       --batch-size 6 --micro-batch 2 --epochs "$epochs" --lr 0.01 --seed 7 --log-every 20 --step-deadline 10)
"$bin" train "${flags[@]}" --out "$work/reference" > "$work/reference.log" 2>&1 || { tail -20 "$work/reference.log"; exit 1; }
steps=$(grep -o "trained [0-9]* steps" "$work/reference.log" | grep -o "[0-9]*")

# CURVE keys, as every coordinator requires: one for the coordinator, one per worker.
"$bin" keygen --out "$work/keys" --name coordinator > /dev/null
for i in 1 2 3; do "$bin" keygen --out "$work/keys/workers" --name "w$i" > /dev/null; done
port=$((20000 + RANDOM % 30000))
endpoint=tcp://127.0.0.1:$port
coordinator() { # the same command every time: --auto-resume continues the run folder once it exists
  "$bin" coordinator --bind "$endpoint" --min-workers 1 --checkpoint-every 1 --keep 5 \
    --curve-secret "$work/keys/coordinator.key" --authorized-keys "$work/keys/workers" \
    "${flags[@]}" --out "$work/soaked" --auto-resume >> "$work/coordinator.log" 2>&1 &
  cpid=$!
}
worker_loop() { # restarts its worker until the coordinator says training is over (exit 0)
  while [ ! -f "$work/stop" ]; do
    if "$bin" worker --connect "$endpoint" --name "w$1" --curve-secret "$work/keys/workers/w$1.key" \
      --server-key "$work/keys/coordinator.pub" >> "$work/w$1.log" 2>&1; then break; fi
    sleep 0.5
  done
}
coordinator
for i in 1 2 3; do worker_loop "$i" 2> /dev/null & pids+=($!); done

kills=0; crashed=0; start=$(date +%s)
while kill -0 "$cpid" 2>/dev/null; do
  sleep "$((2 + RANDOM % 3))"
  kill -0 "$cpid" 2>/dev/null || break
  victim=$(pgrep -f -- "--name w$((1 + RANDOM % 3)) --curve-secret" | head -n 1 || true)
  if [ -n "$victim" ]; then kill -9 "$victim" 2>/dev/null && kills=$((kills + 1)); fi
  if [ "$crashed" = 0 ] && [ $(( $(date +%s) - start )) -gt 8 ]; then
    kill -9 "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    crashed=1
    coordinator
  fi
done
wait "$cpid" && status=0 || status=$?
touch "$work/stop"
echo "soak: $steps steps, $kills worker kill(s), $crashed coordinator crash(es); coordinator exit $status"
[ "$status" = 0 ] || { tail -20 "$work/coordinator.log"; exit 1; }
grep -q "resumed from" "$work/coordinator.log" || [ "$crashed" = 0 ] || { echo "soak: the restarted coordinator did not resume"; exit 1; }
"$bin" checkpoints "$work/soaked" | sed 's/^/soak: /'
if cmp -s "$work/reference/last/model.safetensors" "$work/soaked/last/model.safetensors"; then
  echo "soak: final weights equal the fault-free run's"
else
  echo "soak: FINAL WEIGHTS DIFFER from the fault-free run"; exit 1
fi

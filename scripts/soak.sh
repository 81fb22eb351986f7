#!/usr/bin/env bash
# Soak test: a coordinator and 3 workers on loopback train a tiny model while a chaos loop kills
# random workers (SIGKILL; they are restarted) and, once, the coordinator (restarted with --resume),
# and rogue peers (scripts/rogue-peer.py) send garbage, flood hellos, connect with a key that is not
# authorized, and join without ever reading. At the end the weights must equal those of a fault-free
# run, every checkpoint must verify, and the faults and rogues must have happened and been handled
# (counted from the logs); the peak RSS of the coordinator is reported.
#   scripts/soak.sh            # several hundred steps (a few minutes)
#   scripts/soak.sh --short    # about a minute (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KEYPOINTS_BIN:-.build/release/keypoints}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
epochs=250; [ "${1:-}" = "--short" ] && epochs=75
work=$(mktemp -d)
pids=()
endpoint=
# The worker loops are killed, and so are this run's worker processes (children of those loops).
cleanup() {
  touch "$work/stop"; kill "${pids[@]}" 2>/dev/null || true
  if [ -n "$endpoint" ]; then pkill -9 -f -- "--connect $endpoint " 2>/dev/null || true; fi
  wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT

"$bin" synth --out "$work/cards" --count 24 --size 64 --seed 2 > /dev/null
flags=(--data "$work/cards/labels.csv" --val-fraction 0.2 --alpha 0.25 --input-size 96 --hidden 8
       --batch-size 6 --micro-batch 2 --epochs "$epochs" --lr 0.01 --seed 7 --log-every 20 --step-deadline 10)
"$bin" train "${flags[@]}" --out "$work/reference" > "$work/reference.log" 2>&1 || { tail -20 "$work/reference.log"; exit 1; }
steps=$(grep -o "trained [0-9]* steps" "$work/reference.log" | grep -o "[0-9]*")

# CURVE keys, as every coordinator requires: one for the coordinator, one per worker, one for the
# rogues that hold an authorized key (a compromised worker), one that is not authorized.
"$bin" keygen --out "$work/keys" --name coordinator > /dev/null
for i in 1 2 3 rogue; do "$bin" keygen --out "$work/keys/workers" --name "w$i" > /dev/null; done
"$bin" keygen --out "$work/keys" --name stranger > /dev/null
python=$(./scripts/python-env.sh)
if [ -z "$python" ]; then
  [ "${CI:-}" = true ] && { echo "soak: CI=true but there is no Python venv for the rogue peers" >&2; exit 1; }
  echo "soak: no Python venv (scripts/python-env.sh): running without rogue peers"
fi
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
    echo "w$1" >> "$work/starts"
    if "$bin" worker --connect "$endpoint" --name "w$1" --curve-secret "$work/keys/workers/w$1.key" \
      --server-key "$work/keys/coordinator.pub" >> "$work/w$1.log" 2>&1; then break; fi
    sleep 0.5
  done
}
coordinator
for i in 1 2 3; do worker_loop "$i" 2> /dev/null & pids+=($!); done

rogues() { # each misbehaves for 20 s beside the chaos, from the coordinator's restart on
  for mode in stranger garbage hellos slow; do
    key="$work/keys/workers/wrogue.key"; [ "$mode" = stranger ] && key="$work/keys/stranger.key"
    "$python" scripts/rogue-peer.py "$mode" "$endpoint" "$work/keys/coordinator.pub" "$key" 20 >> "$work/rogues.log" 2>&1 &
    pids+=($!)
  done
}

kills=0; crashed=0; peak=0
while kill -0 "$cpid" 2>/dev/null; do
  # Every second until the coordinator's crash, so that it lands mid-run however fast this machine
  # trains; then every 2 to 4 s.
  if [ "$crashed" = 0 ]; then sleep 1; else sleep "$((2 + RANDOM % 3))"; fi
  kill -0 "$cpid" 2>/dev/null || break
  rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$cpid/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  victim=$(pgrep -f -- "--connect $endpoint --name w$((1 + RANDOM % 3)) --curve-secret" | head -n 1 || true)
  if [ -n "$victim" ]; then kill -9 "$victim" 2>/dev/null && kills=$((kills + 1)); fi
  # The coordinator is killed once, after 40 of its steps (a count, not a time: a faster machine
  # once finished the run before a fixed 8 s had passed), when checkpoints exist and most of the
  # run is still ahead.
  if [ "$crashed" = 0 ] && grep -qE "step ([4-9][0-9]|[1-9][0-9]{2,})/" "$work/coordinator.log"; then
    kill -9 "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    crashed=1
    coordinator
    if [ -n "$python" ]; then rogues; fi
  fi
done
wait "$cpid" && status=0 || status=$?
touch "$work/stop"
starts=$(wc -l < "$work/starts")
echo "soak: $steps steps, $kills worker kill(s), $((starts - 3)) worker restart(s), $crashed coordinator crash(es); coordinator exit $status"
[ "$status" = 0 ] || { tail -20 "$work/coordinator.log"; exit 1; }
# The chaos must have happened: a soak whose kills silently missed proves nothing.
[ "$kills" -ge 2 ] || { echo "soak: only $kills worker kill(s) happened; the chaos loop did not work"; exit 1; }
[ "$crashed" = 1 ] || { echo "soak: the coordinator was never killed"; exit 1; }
[ "$starts" -ge $((3 + kills - 1)) ] || { echo "soak: $kills kill(s) but only $((starts - 3)) restart(s)"; exit 1; }
removed=$(grep -c "worker w[0-9] removed" "$work/coordinator.log" || true)
[ "$removed" -ge 1 ] || { echo "soak: no killed worker was ever removed by the coordinator"; exit 1; }
if [ -n "$python" ]; then
  wait "${pids[@]: -4}" 2>/dev/null || true
  sed 's/^/soak: /' "$work/rogues.log"
  dropped=$(grep -o "([0-9]* so far)" "$work/coordinator.log" | tr -dc '0-9\n' | sort -n | tail -1)
  discarded=$(grep -o "discarded [0-9]* message(s) of muted peers" "$work/coordinator.log" | awk '{s += $2} END {print s + 0}')
  for expect in "muted rogue-garbage" "muted rogue-hellos" "refused a connection" "worker rogue-slow removed"; do
    grep -q "$expect" "$work/coordinator.log" || { echo "soak: the coordinator log lacks '$expect'"; tail -30 "$work/coordinator.log"; exit 1; }
  done
  echo "soak: rogue peers handled: ${dropped:-0} malformed message(s) dropped and counted, then $discarded of muted" \
    "peers discarded unread; garbage and hello floods muted, the unauthorized key refused, the peer that never reads removed"
fi
echo "soak: peak coordinator RSS $((peak / 1024)) MiB"
grep -q "resumed from" "$work/coordinator.log" || [ "$crashed" = 0 ] || { echo "soak: the restarted coordinator did not resume"; exit 1; }
"$bin" checkpoints "$work/soaked" | sed 's/^/soak: /'
if cmp -s "$work/reference/last/model.safetensors" "$work/soaked/last/model.safetensors"; then
  echo "soak: final weights equal the fault-free run's"
else
  echo "soak: FINAL WEIGHTS DIFFER from the fault-free run"; exit 1
fi

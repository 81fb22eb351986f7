#!/usr/bin/env bash
# Multi-host scaling on emulated networks: the coordinator and each worker in a network namespace
# of its own ("hosts"), joined through a bridge, each host's link held by tc to a rate (tbf) with a
# one-way delay (netem) in both directions. For every rate x delay x wire precision x worker count
# it trains a few steps (weak scaling: each worker gets one micro-batch of MICRO per step, so the
# global batch is workers x MICRO) on a set of MICRO x (most workers) cards, and prints, over the
# steps after the first epoch at one worker (when every worker holds its images, so no image moves):
# images/s and the step split (compute, transfer, coordinator update; medians), the bytes the
# coordinator's link carried per step each way (its interface counters: ZeroMQ, CURVE and TCP
# included), and two efficiencies:
#   linear    images/s / (workers x the 1-worker images/s), the usual figure;
#   network   (compute / step) at N workers over the same at 1 worker: the share of the step the
#             workers compute, so CPU sharing cancels out. This machine has 2 cores: with more
#             workers than cores each one computes slower, which the linear figure counts and the
#             network figure does not. Quote the network figure for N > cores, and say so.
# Traffic is CURVE-encrypted, as it must be off loopback. Needs root (ip netns, tc) and a release
# build. The delay is netem's where the kernel has sch_netem; where it does not (the Firecracker
# kernels of this workplace have tbf and htb only), each worker reaches the coordinator through
# scripts/delay-link.py in its own namespace, a TCP relay that forwards every byte DELAY later in
# each direction (on this machine it adds about 0.3 ms of round trip of its own and carries about
# 2.6 Gb/s, so 10gbit rows with the relay are bounded by it; the header line says which was used). Settings through the environment, with their defaults:
#   RATES="1gbit 10gbit" DELAYS="0.2ms 2ms" WIRES="f32 bf16" WORKERS="1 2 4"
#   ALPHA=0.25 SIZE=128 MICRO=16 MEASURED=8 THREADS=1 (MEASURED: steps timed after the first epoch)
#   PRECISION=auto (the workers' --precision: auto, the tool's default, is bf16 where the CPU has it)
#   BUCKETS=1 (the --bucket-mb values to run: 1, the default, sends a micro-batch's gradient in 1 MiB
#   buckets while backward runs; 1024 sends it whole after the backward, as before protocol v6)
# e.g. RATES=1gbit DELAYS=0.2ms WIRES=bf16 ALPHA=1.0 SIZE=224 scripts/bench-hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-hosts: needs root (ip netns and tc)" >&2; exit 1; }
bin=$PWD/.build/release/keypoints
[ -x "$bin" ] || { echo "bench-hosts: build first: swift build -c release --product keypoints" >&2; exit 1; }
RATES=${RATES:-1gbit 10gbit} DELAYS=${DELAYS:-0.2ms 2ms} WIRES=${WIRES:-f32 bf16} WORKERS=${WORKERS:-1 2 4}
ALPHA=${ALPHA:-0.25} SIZE=${SIZE:-128} MICRO=${MICRO:-16} MEASURED=${MEASURED:-8} THREADS=${THREADS:-1}
PRECISION=${PRECISION:-auto} BUCKETS=${BUCKETS:-1}
export OMP_WAIT_POLICY=passive
most=0; for n in $WORKERS; do [ "$n" -gt "$most" ] && most=$n; done
samples=$((MICRO * most)) skip=$most steps=$((most + MEASURED))

tmp=$(mktemp -d)
tag=kpb$$
hosts="c $(seq -s ' ' 1 "$most")"
cleanup() {
  pkill -f "$tmp/" 2>/dev/null || true  # a run cut short leaves its processes (they name files under $tmp)
  for h in $hosts; do ip netns del "$tag-$h" 2>/dev/null || true; done
  ip link del "$tag-br" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Hosts: namespace $tag-c (coordinator, 10.79.0.1) and $tag-1.. (workers, 10.79.0.11..), each with
# a veth whose other end is on the bridge.
ip link add "$tag-br" type bridge
ip link set "$tag-br" up
address() { [ "$1" = c ] && echo 10.79.0.1 || echo "10.79.0.$((10 + $1))"; }
for h in $hosts; do
  ns=$tag-$h
  ip netns add "$ns"
  ip link add "$tag-$h-h" type veth peer name "$tag-$h-b"
  ip link set "$tag-$h-h" netns "$ns"
  ip link set "$tag-$h-b" master "$tag-br" up
  ip -n "$ns" addr add "$(address "$h")/24" dev "$tag-$h-h"
  ip -n "$ns" link set "$tag-$h-h" up
  ip -n "$ns" link set lo up
done

# Delay by netem if this kernel has it, else by a relay per worker (see the header).
if ip netns exec "$tag-c" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
  ip netns exec "$tag-c" tc qdisc del dev lo root
  delay_by=netem
else
  delay_by=relay
fi

# One link's shape: on both ends of a host's veth (its sending side in the namespace, its receiving
# side on the bridge), netem's delay if used, then tbf's rate. tbf's bucket holds 1 ms at the rate
# (at least 128 KiB, two GSO segments), so a message after an idle spell does not leave at once.
shape() { # rate delay
  local burst
  burst=$(python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)([kmg]?)bit', '$1'.lower()) or sys.exit('bench-hosts: a rate like 1gbit, not $1')
bits = float(m[1]) * {'': 1, 'k': 1e3, 'm': 1e6, 'g': 1e9}[m[2]]
print(max(131072, int(bits / 8 / 1000)))")
  for h in $hosts; do
    for end in "ip netns exec $tag-$h tc qdisc" "tc qdisc"; do
      local dev=$tag-$h-h; [ "$end" = "tc qdisc" ] && dev=$tag-$h-b
      $end del dev "$dev" root 2>/dev/null || true
      if [ "$delay_by" = netem ]; then
        $end add dev "$dev" root handle 1: netem delay "$2" limit 100000
        $end add dev "$dev" parent 1: handle 2: tbf rate "$1" burst "$burst" latency 50ms
      else
        $end add dev "$dev" root handle 1: tbf rate "$1" burst "$burst" latency 50ms
      fi
    done
  done
}
seconds() { python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)(us|ms|s)', '$1') or sys.exit('bench-hosts: a delay like 2ms, not $1')
print(float(m[1]) * {'us': 1e-6, 'ms': 1e-3, 's': 1}[m[2]])"; }

"$bin" synth --out "$tmp/cards" --count $((samples + 2)) --size 192 > /dev/null  # 2 for validation
keys=$tmp/keys
mkdir -p "$keys/admitted"
"$bin" keygen --out "$keys" --name coordinator > /dev/null
for h in $(seq 1 "$most"); do
  "$bin" keygen --out "$keys" --name "w$h" > /dev/null
  cp "$keys/w$h.pub" "$keys/admitted/"
done

median() { # field of metrics.jsonl, over the steps after the first `skip`
  python3 - "$1" "$2" "$skip" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
values = [r[sys.argv[2]] for r in rows if "step_s" in r and r["step"] > int(sys.argv[3])]
print(f"{statistics.median(values):.4f}")
PY
}
counter() { ip netns exec "$tag-c" cat "/sys/class/net/$tag-c-h/statistics/$1_bytes"; }

echo "bench-hosts: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; MobileNetV1 alpha $ALPHA ${SIZE}px," \
     "micro-batch $MICRO per worker, $THREADS thread(s) each, --precision $PRECISION, $MEASURED steps measured after $skip, CURVE on," \
     "delay by $delay_by"
printf '%-7s %-6s %-5s %6s %3s %9s %8s %8s %8s %8s %10s %10s %7s %7s\n' rate delay wire bucket n images/s step_s compute transfer \
  update MB_in/step MB_out/step linear network
port=5700
for rate in $RATES; do
  for delay in $DELAYS; do
    shape "$rate" "$delay"
    for wire in $WIRES; do
     for bucket in $BUCKETS; do
      base_ips="" base_share=""
      for n in $WORKERS; do
        port=$((port + 1))
        run=$tmp/run-$rate-$delay-$wire-$bucket-$n
        pids=() relays=() endpoint=tcp://10.79.0.1:$port
        if [ "$delay_by" = relay ]; then
          endpoint=tcp://127.0.0.1:$port
          for h in $(seq 1 "$n"); do
            ip netns exec "$tag-$h" python3 scripts/delay-link.py "127.0.0.1:$port" "10.79.0.1:$port" "$(seconds "$delay")" \
              > "$run.relay$h.log" 2>&1 &
            relays+=($!)
          done
          for h in $(seq 1 "$n"); do
            until grep -q ready "$run.relay$h.log" 2>/dev/null; do sleep 0.05; done
          done
        fi
        for h in $(seq 1 "$n"); do
          ip netns exec "$tag-$h" "$bin" worker --connect "$endpoint" --name "w$h" --threads "$THREADS" \
            --curve-secret "$keys/w$h.key" --server-key "$keys/coordinator.pub" --give-up-after 120 > "$run.w$h.log" 2>&1 &
          pids+=($!)
        done
        # The link's counters once `skip` steps are done (every image has moved), read by a watcher.
        ( until [ "$( (grep -c step_s "$run/metrics.jsonl" 2>/dev/null || true) | head -1)" -ge "$skip" ] 2>/dev/null; do sleep 0.02; done
          echo "$(counter rx) $(counter tx)" > "$run.mark" ) &
        watcher=$!
        ip netns exec "$tag-c" "$bin" coordinator --bind "tcp://10.79.0.1:$port" --curve-secret "$keys/coordinator.key" \
          --authorized-keys "$keys/admitted" --data "$tmp/cards/labels.csv" --val-fraction 0.03 --val-every 1000 --out "$run" \
          --alpha "$ALPHA" --input-size "$SIZE" --batch-size $((n * MICRO)) --micro-batch "$MICRO" --min-workers "$n" \
          --steps "$steps" --wire-precision "$wire" --bucket-mb "$bucket" --precision "$PRECISION" --threads "$THREADS" --log-every 0 \
          > "$run.log" 2>&1 \
          || { echo "bench-hosts: the coordinator failed; its log:" >&2; cat "$run.log" >&2; exit 1; }
        rx1=$(counter rx) tx1=$(counter tx)
        wait "$watcher"
        read -r rx0 tx0 < "$run.mark"
        wait "${pids[@]}" || true  # workers end on the coordinator's bye; one that failed shows in its log
        [ ${#relays[@]} = 0 ] || { kill "${relays[@]}" 2>/dev/null; wait "${relays[@]}" 2>/dev/null || true; }
        log=$run/metrics.jsonl
        ips=$(median "$log" images_per_s) step=$(median "$log" step_s) compute=$(median "$log" compute_s)
        read -r linear network mbin mbout < <(python3 - "$ips" "$step" "$compute" "$n" "${base_ips:-}" "${base_share:-}" \
          "$((rx1 - rx0))" "$((tx1 - tx0))" "$MEASURED" <<'PY'
import sys
ips, step, compute, n = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
base_ips = float(sys.argv[5]) if sys.argv[5] else ips / n
base_share = float(sys.argv[6]) if sys.argv[6] else compute / step
steps = int(sys.argv[9])
print(f"{ips / (n * base_ips):.2f} {(compute / step) / base_share:.2f} "
      f"{int(sys.argv[7]) / steps / 1e6:.2f} {int(sys.argv[8]) / steps / 1e6:.2f}")
PY
        )
        if [ -z "$base_ips" ]; then
          base_ips=$(python3 -c "print($ips / $n)")
          base_share=$(python3 -c "print($compute / $step)")
        fi
        printf '%-7s %-6s %-5s %6s %3d %9.2f %8.3f %8.3f %8.3f %8.3f %10s %10s %7s %7s\n' "$rate" "$delay" "$wire" "$bucket" "$n" "$ips" \
          "$step" "$compute" "$(median "$log" transfer_s)" "$(median "$log" update_s)" "$mbin" "$mbout" "$linear" "$network"
      done
     done
    done
  done
done

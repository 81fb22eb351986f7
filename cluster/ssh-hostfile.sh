#!/usr/bin/env bash
# Start a coordinator here and workers on the hosts of a hostfile over ssh (one line per host:
# "HOST [WORKERS]", default one worker per core of that host). Every host needs the keypoints binary
# at the same path (build it with scripts/setup.sh); workers need no copy of the dataset.
#
#   cluster/ssh-hostfile.sh HOSTFILE --data labels.csv --out RUN [other train options]
# Run the same command again after a stop: add --auto-resume (or use --resume RUN) to continue.
set -euo pipefail
hostfile=${1:?usage: ssh-hostfile.sh HOSTFILE [coordinator options]}
shift
bin=${KEYPOINTS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/keypoints}
port=${KEYPOINTS_PORT:-5555}
me=${KEYPOINTS_ADDRESS:-$(hostname -I | awk '{print $1}')}
total=0
pids=()
while read -r host count; do
  [ -z "$host" ] || [ "${host:0:1}" = "#" ] && continue
  count=${count:-$(ssh "$host" nproc)}
  for i in $(seq 1 "$count"); do
    ssh "$host" "OMP_WAIT_POLICY=passive $bin worker --connect tcp://$me:$port --threads 1 --name $host-$i ${KEYPOINTS_WORKER_FLAGS:-}" &
    pids+=($!)
  done
  total=$((total + count))
done < "$hostfile"
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
OMP_WAIT_POLICY=passive "$bin" coordinator --bind "tcp://*:$port" --min-workers "$total" "$@"

#!/usr/bin/env bash
# The ssh launcher: a coordinator on this host and workers on the hosts of a hostfile, over ssh,
# with CURVE keys. Workers need the keypoints binary at the same path, no dataset and no key files:
# each one gets the workers' secret key on its standard input through ssh (`--curve-secret -`),
# never on a command line or a remote disk. On exit, Ctrl-C or an error, the remote workers are
# stopped and the keys made for the run are removed.
#
#   cluster/ssh-hostfile.sh HOSTFILE --data labels.csv --out RUN --auto-resume [coordinator options]
#
# HOSTFILE: one "HOST [WORKERS]" per line (WORKERS: default the host's core count; # comments).
# Environment (all optional):
#   KEYPOINTS_BIN           the binary, same path on every host (default: this checkout's .build/release/keypoints)
#   KEYPOINTS_PORT          the coordinator's port (default 5555)
#   KEYPOINTS_ADDRESS       the address workers connect to (default: this host's first, from hostname -I)
#   KEYPOINTS_TUNNEL=1      workers connect through an ssh reverse tunnel (ssh -R) to 127.0.0.1 on their
#                           own host; the coordinator then listens on 127.0.0.1 only
#   KEYPOINTS_KEYS          a folder with coordinator.key, worker.key and worker.pub (keypoints keygen
#                           --name coordinator, --name worker); default: fresh keys for this run in a
#                           private temporary folder, removed at exit
#   KEYPOINTS_WORKER_FLAGS  more worker options (shell words)
#   KEYPOINTS_SSH_OPTIONS   more ssh options (shell words), e.g. "-F ~/.ssh/cluster.conf"
# See cluster/README.md. Run the same command again after a stop: --auto-resume continues RUN.
# shellcheck disable=SC2029
set -euo pipefail

me_name=ssh-hostfile.sh
die() { echo "$me_name: $*" >&2; exit 2; }
usage="usage: cluster/ssh-hostfile.sh HOSTFILE [coordinator options], e.g. hosts.txt --data labels.csv --out runs/hosts --auto-resume"
[ $# -ge 1 ] || die "$usage"
hostfile=$1
shift
if ! [ -f "$hostfile" ] || ! [ -r "$hostfile" ]; then die "cannot read the hostfile $hostfile ($usage)"; fi

for a in "$@"; do
  case $a in
    --bind|--bind=*) die "do not pass --bind: the coordinator's port is KEYPOINTS_PORT (default 5555)" ;;
    --curve-secret*|--authorized-keys*) die "do not pass $a: set KEYPOINTS_KEYS to a folder of keys (cluster/README.md, Keys)" ;;
    --insecure) die "this launcher always uses CURVE keys (it makes them when KEYPOINTS_KEYS is not set)" ;;
  esac
done

bin=${KEYPOINTS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/keypoints}
[ -x "$bin" ] || die "no executable keypoints at $bin: build it (scripts/setup.sh) or set KEYPOINTS_BIN"
port=${KEYPOINTS_PORT:-5555}
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then die "KEYPOINTS_PORT=$port is not a TCP port"; fi
tunnel=${KEYPOINTS_TUNNEL:-0}
if [ "$tunnel" = 1 ]; then
  me=127.0.0.1
  bind="tcp://127.0.0.1:$port"
else
  me=${KEYPOINTS_ADDRESS:-$(hostname -I 2>/dev/null | awk '{print $1}')}
  [ -n "$me" ] || die "cannot tell this host's address (hostname -I printed none): set KEYPOINTS_ADDRESS"
  bind="tcp://*:$port"
fi
endpoint="tcp://$me:$port"
read -r -a ssh_extra <<< "${KEYPOINTS_SSH_OPTIONS:-}"
# BatchMode: fail at once instead of asking for a password; ServerAlive: notice a vanished host.
ssh_opts=(-o BatchMode=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=4 "${ssh_extra[@]}")
# Remote command lines are built here on purpose (SC2029, off for the file): values go through q.
q() { printf '%q' "$1"; }

# The hostfile, read whole before any ssh runs (and ssh never reads it: see -n and the key below).
hosts=() counts=() lines=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line=${line%%#*}
  read -r -a fields <<< "$line" || true
  [ ${#fields[@]} -eq 0 ] && continue
  [ ${#fields[@]} -le 2 ] || die "$hostfile:$n: expected \"HOST [WORKERS]\", got \"$line\""
  if [ ${#fields[@]} -eq 2 ] && ! [[ ${fields[1]} =~ ^[1-9][0-9]*$ ]]; then
    die "$hostfile:$n: WORKERS must be a positive whole number, got \"${fields[1]}\""
  fi
  hosts+=("${fields[0]}") counts+=("${fields[1]:-}") lines+=("$n")
done < "$hostfile"
[ ${#hosts[@]} -gt 0 ] || die "$hostfile lists no host (one \"HOST [WORKERS]\" per line)"

# Keys: the coordinator's pair, and one pair that every worker of this run uses.
made_keys=""
if [ -n "${KEYPOINTS_KEYS:-}" ]; then
  keys=$KEYPOINTS_KEYS
  for f in coordinator.key worker.key worker.pub; do
    [ -r "$keys/$f" ] || die "KEYPOINTS_KEYS=$keys has no readable $f: make it with $bin keygen --out $keys --name ${f%.*}"
  done
else
  keys=$(mktemp -d "${TMPDIR:-/tmp}/keypoints-keys.XXXXXX")
  made_keys=$keys
  "$bin" keygen --out "$keys" --name coordinator >/dev/null
  "$bin" keygen --out "$keys" --name worker >/dev/null
fi
server_key=$(awk '/^public-key *=/ { sub(/^public-key *= */, ""); print; exit }' "$keys/coordinator.key")
[ -n "$server_key" ] || die "$keys/coordinator.key has no public-key line: pass a file made by keypoints keygen"

coordinator="" worker_pids=() worker_names=() tunnel_pids=() tunnel_hosts=() remote_dirs=()
cleanup() {
  local rc=$? i
  trap - EXIT
  trap '' INT TERM
  if [ -n "$coordinator" ] && kill -0 "$coordinator" 2>/dev/null; then
    echo "$me_name: stopping the coordinator (pid $coordinator); it writes a checkpoint first" >&2
    kill -TERM "$coordinator" 2>/dev/null || true
    wait "$coordinator" 2>/dev/null || true
  fi
  # Stop this run's workers on each host (by the pids they recorded, if still this run's
  # workers), then remove the host's folder of pid files. In the background: immune to Ctrl-C.
  local cleaners=()
  for i in "${!remote_dirs[@]}"; do
    [ -n "${remote_dirs[i]}" ] || continue
    ssh -n "${ssh_opts[@]}" "${hosts[i]}" "for f in $(q "${remote_dirs[i]}")/*.pid; do
        [ -f \"\$f\" ] || continue; p=\$(cat \"\$f\")
        if tr '\\0' ' ' 2>/dev/null < /proc/\$p/cmdline | grep -qF -- $(q "--connect $endpoint"); then kill \$p 2>/dev/null && echo \"$me_name: stopped worker pid \$p on ${hosts[i]}\" >&2; fi
      done; rm -rf $(q "${remote_dirs[i]}")" </dev/null &
    cleaners+=($!)
  done
  for i in "${cleaners[@]}"; do wait "$i" 2>/dev/null || true; done
  # The local ssh clients end with their remote commands; give them 10 s, then end them.
  local clients=()
  for i in "${worker_pids[@]}"; do [ "$i" = ended ] || clients+=("$i"); done
  for _ in $(seq 1 100); do
    local alive=0
    for i in "${clients[@]}"; do kill -0 "$i" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for i in "${clients[@]}" "${tunnel_pids[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in "${clients[@]}" "${tunnel_pids[@]}"; do wait "$i" 2>/dev/null || true; done
  [ -z "$made_keys" ] || rm -rf "$made_keys"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each host: reachable without a password, the binary there, a private folder for pid files,
# and its core count when the hostfile gives no number.
total=0
err=$(mktemp)
for i in "${!hosts[@]}"; do
  host=${hosts[i]}
  if ! out=$(ssh -n "${ssh_opts[@]}" "$host" "test -x $(q "$bin") || { echo \"no executable $(q "$bin") on \$(hostname) (set KEYPOINTS_BIN to its path there)\" >&2; exit 3; }
      d=\$(mktemp -d \"\${TMPDIR:-/tmp}/keypoints-worker.XXXXXX\") && echo \"\$d \$(nproc)\"" 2>"$err"); then
    msg=$(tr '\n' ' ' < "$err"); rm -f "$err"
    die "${host} ($hostfile:${lines[i]}): ${msg:-ssh failed} -- check that 'ssh $host' works without a password and that the binary is there"
  fi
  out=${out##*$'\n'}  # the last line: a chatty login script may print before it
  read -r "remote_dirs[i]" cores <<< "$out"
  counts[i]=${counts[i]:-$cores}
  total=$((total + counts[i]))
done
rm -f "$err"

if [ "$tunnel" = 1 ]; then
  for i in "${!hosts[@]}"; do
    [[ " ${tunnel_hosts[*]} " != *" ${hosts[i]} "* ]] || continue  # one tunnel per host
    # The workers' 127.0.0.1:PORT on that host leads to the coordinator's 127.0.0.1:PORT here.
    ssh -n -N -o ExitOnForwardFailure=yes "${ssh_opts[@]}" -R "$port:127.0.0.1:$port" "${hosts[i]}" &
    tunnel_pids+=($!) tunnel_hosts+=("${hosts[i]}")
  done
fi

echo "$me_name: coordinator on $bind, $total worker(s) on ${#hosts[@]} host(s) connecting to $endpoint (CURVE)"
OMP_WAIT_POLICY=passive "$bin" coordinator --bind "$bind" --curve-secret "$keys/coordinator.key" \
  --authorized-keys "$keys/worker.pub" --min-workers "$total" "$@" &
coordinator=$!

declare -A per_host=()
for i in "${!hosts[@]}"; do
  host=${hosts[i]}
  for w in $(seq 1 "${counts[i]}"); do
    # Names are unique per run (HOST-1, HOST-2, ... across the host's lines): a second worker
    # with a name in use would never be admitted.
    per_host[$host]=$((${per_host[$host]:-0} + 1))
    name="$host-${per_host[$host]}"
    # The worker's secret key is this ssh's standard input (not the hostfile's), read by
    # `--curve-secret -`; the pid file lets cleanup stop exactly this worker.
    ssh "${ssh_opts[@]}" "$host" "echo \$\$ > $(q "${remote_dirs[i]}/$w.pid") && exec env OMP_WAIT_POLICY=passive $(q "$bin") worker \
      --connect $(q "$endpoint") --threads 1 --name $(q "$name") --curve-secret - --server-key=$(q "$server_key") \
      ${KEYPOINTS_WORKER_FLAGS:-}" < "$keys/worker.key" &
    worker_pids+=($!) worker_names+=("$name")
  done
done

# Wait for the coordinator. If every worker ends before any was told training is over (exit 0),
# or a tunnel breaks, training cannot go on: say why and stop the coordinator (checkpoint).
said_bye=0 failed=""
while kill -0 "$coordinator" 2>/dev/null; do
  for i in "${!worker_pids[@]}"; do
    pid=${worker_pids[i]}
    [ "$pid" != ended ] || continue
    kill -0 "$pid" 2>/dev/null && continue
    if wait "$pid"; then said_bye=1; else failed="${worker_names[i]} (status $?)"; fi
    worker_pids[i]=ended
  done
  live=0
  for pid in "${worker_pids[@]}"; do [ "$pid" = ended ] || live=$((live + 1)); done
  if [ $live = 0 ] && [ $said_bye = 0 ]; then
    echo "$me_name: every worker exited, the last $failed, before training ended (their output is above); stopping the coordinator" >&2
    kill -TERM "$coordinator" 2>/dev/null || true
    break
  fi
  for i in "${!tunnel_pids[@]}"; do
    if ! kill -0 "${tunnel_pids[i]}" 2>/dev/null; then
      echo "$me_name: the ssh tunnel to ${tunnel_hosts[i]} ended (port $port taken there? see ssh's message above); stopping the coordinator" >&2
      kill -TERM "$coordinator" 2>/dev/null || true
      break 2
    fi
  done
  sleep 1
done
status=0
wait "$coordinator" || status=$?
coordinator=""
if [ $status -ne 0 ]; then
  echo "$me_name: the coordinator exited with status $status" >&2
  exit "$status"
fi
if [ "$live" = 0 ] && [ "$said_bye" = 0 ]; then exit 1; fi
echo "$me_name: training finished"

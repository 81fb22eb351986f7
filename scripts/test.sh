#!/usr/bin/env bash
# The whole test suite: unit tests of every layer (against finite differences and plain-Swift
# references), the model and training maths, and end-to-end tests of the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The CLI tests run the release binary that setup.sh just built.
export KEYPOINTS_BIN="$PWD/.build/release/keypoints"
# Python tools (onnx, onnxruntime, safetensors) for the export cross-checks; without them those
# tests fail in CI (CI=true) and are skipped elsewhere, with the reason python-env.sh prints.
python=$(./scripts/python-env.sh)
if [ -n "$python" ]; then
  export KEYPOINTS_PYTHON="$python"
elif [ "${CI:-}" = true ]; then
  echo "test: CI=true but the Python venv could not be made (reason above): the export checks cannot run" >&2
  exit 1
fi
echo "test: cluster launchers (ssh in network namespaces, SLURM with stand-ins, Kubernetes manifest and pods, Dockerfile)"
./scripts/test-launchers.sh
# A failed build of the tests stops the suite with its errors (never a stale test bundle).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build --build-tests > "$log" 2>&1; then
  sed -n '/error:/p' "$log" | head -40 >&2
  echo "test: building the tests failed (errors above); run 'swift build --build-tests' to see the whole output" >&2
  exit 1
fi
sed -n '/Build complete/p' "$log"
# The XCTest output goes to the terminal and to a file, so that skipped tests are listed at the end.
tests_log=$(mktemp)
trap 'rm -f "$log" "$tests_log"' EXIT
swift test --skip-build "$@" 2>&1 | tee "$tests_log"
skipped=$(sed -nE "s/^Test Case '(.*)' skipped.*/\1/p" "$tests_log" | sort -u)
if [ -n "$skipped" ]; then
  echo "test: these tests were skipped (their checks did not run; in CI they fail instead):"
  echo "$skipped" | sed 's/^/test:   /'
fi
echo "test: soak (short): workers and the coordinator killed during training"
./scripts/soak.sh --short
echo "test: every command block of the README, as written"
./scripts/check-readme.sh

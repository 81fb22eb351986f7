#!/usr/bin/env bash
# Runs every ```sh block of README.md as written, in order, from the repository root, with the
# release binary on PATH as `keypoints` (the README says so), and every ```python block, in the same
# order, with the venv Python of scripts/python-env.sh (when there is none: a failure in CI,
# skipped with a note elsewhere).
# `./scripts/test.sh` itself is skipped (it is what runs this script). The run folders the blocks
# train into (`--out runs/...`) are removed first, so the check can run again. Fails on the first
# block that fails, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.build/release:$PATH"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
python3 - "$blocks" <<'PY'
import re, sys, pathlib
text = pathlib.Path("README.md").read_text()
for i, (kind, block) in enumerate(re.findall(r"```(sh|python)\n(.*?)```", text, re.S)):
    if kind == "python":
        pathlib.Path(sys.argv[1], f"{i:02d}.py").write_text(block)
        continue
    lines = [l for l in block.splitlines() if l.strip() != "./scripts/test.sh" and not l.strip().startswith("./scripts/test.sh ")]
    pathlib.Path(sys.argv[1], f"{i:02d}.sh").write_text("set -euo pipefail\n" + "\n".join(lines) + "\nwait\n")
    # Run folders the blocks start afresh (a new run refuses a folder that holds one), so that an
    # earlier check's runs can be cleared first. The demo's own run continues (--auto-resume).
    with open(pathlib.Path(sys.argv[1], "runs.txt"), "a") as f:
        for folder in re.findall(r"keypoints (?:train|coordinator)\b[^\n]*?--out (runs/\S+)", block.replace("\\\n", " ")):
            f.write(folder + "\n")
PY
while read -r folder; do rm -rf "$folder"; done < "$blocks/runs.txt"
rm "$blocks/runs.txt"
python=$(./scripts/python-env.sh)
for block in $(ls "$blocks" | sort); do
  block="$blocks/$block"
  if [[ "$block" == *.py ]]; then
    echo "readme: python block $(basename "$block" .py):"
    if [ -z "$python" ]; then
      # In CI a block that cannot run is a failure, never a silent pass.
      if [ "${CI:-}" = true ]; then echo "readme: CI=true but there is no Python venv to run this block (see scripts/python-env.sh)" >&2; exit 1; fi
      echo "readme:   skipped: no Python venv (see scripts/python-env.sh)"; continue
    fi
    if ! timeout 300 "$python" "$block" > "$block.log" 2>&1; then
      echo "readme: this python block failed; its output ends with:"
      tail -20 "$block.log"
      exit 1
    fi
    sed 's/^/readme:   -> /' "$block.log" | tail -5
    continue
  fi
  echo "readme: block $(basename "$block" .sh):"
  sed -n '2,$p' "$block" | grep -v '^wait$' | sed 's/^/readme:   /'
  if ! timeout 900 bash "$block" > "$block.log" 2>&1; then
    echo "readme: this block failed; its output ends with:"
    tail -20 "$block.log"
    exit 1
  fi
done
echo "readme: every sh and python block ran"

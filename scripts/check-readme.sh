#!/usr/bin/env bash
# Runs every ```sh block of README.md as written, in order, from the repository root, with the
# release binary on PATH as `keypoints` (the README says so). `./scripts/test.sh` itself is skipped
# (it is what runs this script). Fails on the first command that fails, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.build/release:$PATH"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
python3 - "$blocks" <<'PY'
import re, sys, pathlib
text = pathlib.Path("README.md").read_text()
for i, block in enumerate(re.findall(r"```sh\n(.*?)```", text, re.S)):
    lines = [l for l in block.splitlines() if l.strip() != "./scripts/test.sh" and not l.strip().startswith("./scripts/test.sh ")]
    pathlib.Path(sys.argv[1], f"{i:02d}.sh").write_text("set -euo pipefail\n" + "\n".join(lines) + "\nwait\n")
PY
for block in "$blocks"/*.sh; do
  echo "readme: block $(basename "$block" .sh):"
  sed -n '2,$p' "$block" | grep -v '^wait$' | sed 's/^/readme:   /'
  if ! timeout 900 bash "$block" > "$block.log" 2>&1; then
    echo "readme: this block failed; its output ends with:"
    tail -20 "$block.log"
    exit 1
  fi
done
echo "readme: every sh block ran"

#!/usr/bin/env python3
"""Checks that a saved model's weights read correctly with the reference safetensors library.

Usage: check-safetensors.py MODEL_DIR EXPECTED.json

MODEL_DIR is a folder written by `keypoints train --out` (or SavedModel.save); EXPECTED.json is what
the Swift side says it wrote:
  {"metadata": {"format": "keypoints-model", ...},
   "tensors": {"backbone.conv1.weight": {"shape": [8, 3, 3, 3], "sum": -1.25,
                                         "first_bits": [1040187392, ...], "last_bits": [...]}, ...}}
with float32 values given as their IEEE 754 bit patterns (exact) and sums in float64.
Loads MODEL_DIR/model.safetensors with safetensors.numpy.load_file and checks: the same tensor names,
float32, the shapes, the first and last values bit for bit, the sums (relative 1e-9), all values
finite, and the header metadata. Prints a summary; exits 1 naming what differs, 2 on bad usage.
Needs numpy and safetensors: scripts/python-env.sh makes a venv with them.
"""
import json
import math
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    model_dir, expected_path = sys.argv[1], sys.argv[2]
    path = os.path.join(model_dir, "model.safetensors")
    try:
        with open(expected_path) as f:
            expected = json.load(f)
        expected["tensors"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"check-safetensors: cannot use {expected_path} as expectations ({e}); it must be a JSON object "
              "with \"tensors\" as described in this script's header", file=sys.stderr)
        sys.exit(2)

    problems = []
    try:
        tensors = load_file(path)
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - a file the library refuses is the finding
        print(f"check-safetensors: FAILED: the safetensors library cannot read {path}: {e}", file=sys.stderr)
        sys.exit(1)

    for key, value in expected.get("metadata", {}).items():
        if metadata.get(key) != value:
            problems.append(f"metadata {key!r} is {metadata.get(key)!r}, expected {value!r}")

    want = expected["tensors"]
    missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    if missing:
        problems.append(f"missing tensors: {missing}")
    if extra:
        problems.append(f"unexpected tensors: {extra}")

    values = 0
    for name in sorted(set(want) & set(tensors)):
        t, w = tensors[name], want[name]
        values += t.size
        if t.dtype != np.float32:
            problems.append(f"{name}: dtype {t.dtype}, expected float32")
            continue
        if list(t.shape) != w["shape"]:
            problems.append(f"{name}: shape {list(t.shape)}, expected {w['shape']}")
            continue
        flat = t.reshape(-1)
        bits = flat.view(np.uint32)
        first, last = w["first_bits"], w["last_bits"]
        if bits[:len(first)].tolist() != first:
            problems.append(f"{name}: first values {flat[:len(first)].tolist()} differ from "
                            f"{np.array(first, dtype=np.uint32).view(np.float32).tolist()}")
        if last and bits[-len(last):].tolist() != last:
            problems.append(f"{name}: last values {flat[-len(last):].tolist()} differ from "
                            f"{np.array(last, dtype=np.uint32).view(np.float32).tolist()}")
        if not np.all(np.isfinite(flat)):
            problems.append(f"{name}: has non-finite values")
        total = float(flat.astype(np.float64).sum())
        if not math.isclose(total, w["sum"], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"{name}: sum {total!r}, expected {w['sum']!r}")

    if problems:
        print(f"check-safetensors: FAILED: {path} does not hold what the Swift side wrote:", file=sys.stderr)
        for p in problems[:20]:
            print(f"  {p}", file=sys.stderr)
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
        sys.exit(1)
    print(f"check-safetensors: {path}: {len(tensors)} tensors, {values} float32 values, metadata {metadata}")
    print("check-safetensors: OK")


if __name__ == "__main__":
    main()

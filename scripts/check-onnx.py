#!/usr/bin/env python3
"""Checks a model written by `keypoints export --format onnx --samples N` with the reference tools.

Usage: check-onnx.py MODEL.onnx SAMPLES.safetensors [--tolerance 1e-4]

1. onnx.checker.check_model(full_check=True): the file is valid ONNX and its shapes infer.
2. The interface: one input `image` float32 [N, 3, S, S] with a symbolic N, one output `keypoints`
   float32 [N, 2K], and metadata (keypoint names and count, input size, resize, normalisation, output
   meaning, architecture, producer) consistent with those shapes.
3. ONNX Runtime (CPUExecutionProvider) on the samples' `input`, all at once and one image at a time
   (the symbolic batch), must reproduce the samples' `output` (keypoints' own predictions) within
   the tolerance (max absolute difference). With --min-spread, the samples' outputs must also differ
   across images by at least that much, so that they can tell a wrong graph from a right one.
Prints the figures; exits 1 with a message saying what differs on failure, 2 on bad usage.
Needs numpy, onnx, onnxruntime and safetensors: scripts/python-env.sh makes a venv with them.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime
from safetensors.numpy import load_file

REQUIRED_METADATA = ["producer", "architecture", "alpha", "keypoint_count", "keypoint_names", "input_size",
                     "resize", "input", "input_normalization", "output", "to_original"]


def fail(message):
    print(f"check-onnx: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def dims(value_info):
    """A value's shape as a list of ints (fixed) and strings (symbolic)."""
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("samples")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed absolute difference")
    parser.add_argument("--min-spread", type=float, default=0,
                        help="require the samples' outputs to differ across images by at least this much "
                             "(so that a wrong graph could not pass for a right one)")
    args = parser.parse_args()

    try:
        model = onnx.load(args.model)
    except Exception as e:  # noqa: BLE001 - any failure to parse is the finding
        fail(f"{args.model} does not load as ONNX: {e}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        fail(f"{args.model}: onnx.checker rejects it: {e}")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    print(f"check-onnx: {args.model}: valid ONNX (IR {model.ir_version}, opsets {opsets}, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers, producer {model.producer_name})")

    meta = {p.key: p.value for p in model.metadata_props}
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        fail(f"metadata lacks {missing}; it has {sorted(meta)}")
    if meta["producer"] != "keypoints":
        fail(f"metadata producer is {meta['producer']!r}, expected 'keypoints'")
    k, s = int(meta["keypoint_count"]), int(meta["input_size"])
    names = json.loads(meta["keypoint_names"])
    if not isinstance(names, list) or len(names) != k:
        fail(f"metadata keypoint_names {meta['keypoint_names']} is not a JSON list of {k} names")

    if [i.name for i in model.graph.input] != ["image"] or [o.name for o in model.graph.output] != ["keypoints"]:
        fail(f"inputs {[i.name for i in model.graph.input]} / outputs {[o.name for o in model.graph.output]}; "
             "expected ['image'] / ['keypoints']")
    image, keypoints = model.graph.input[0], model.graph.output[0]
    for v in (image, keypoints):
        if v.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            fail(f"{v.name} is not float32")
    image_dims, keypoint_dims = dims(image), dims(keypoints)
    if not (isinstance(image_dims[0], str) and image_dims[0] and image_dims[1:] == [3, s, s]):
        fail(f"image has shape {image_dims}, expected [N (symbolic), 3, {s}, {s}]")
    if not (isinstance(keypoint_dims[0], str) and keypoint_dims[1:] == [2 * k]):
        fail(f"keypoints has shape {keypoint_dims}, expected [N (symbolic), {2 * k}]")
    print(f"check-onnx: image {image_dims}, keypoints {keypoint_dims}, {k} keypoints {names}, resize {meta['resize']}")

    try:
        samples = load_file(args.samples)
        x, expected = samples["input"], samples["output"]
    except Exception as e:  # noqa: BLE001
        fail(f"{args.samples} is not a samples file with 'input' and 'output' ({e}); "
             "write one with keypoints export --samples N")
    if x.shape[1:] != (3, s, s) or expected.shape != (x.shape[0], 2 * k):
        fail(f"{args.samples}: input {x.shape} / output {expected.shape} do not fit the model")
    if x.min() < 0 or x.max() > 255:
        fail(f"{args.samples}: input values {x.min()}..{x.max()} are not pixel values in [0, 255]")

    spread = float((expected.max(axis=0) - expected.min(axis=0)).max()) if expected.shape[0] > 1 else 0.0
    print(f"check-onnx: the samples' outputs differ across images by up to {spread:.3g}")
    if spread < args.min_spread:
        fail(f"the samples' outputs differ across images by only {spread:.3g} (< --min-spread {args.min_spread:g}): "
             "too little to tell a wrong graph from a right one; use a trained model and several samples")

    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    batched = session.run(["keypoints"], {"image": x})[0]
    single = np.concatenate([session.run(["keypoints"], {"image": x[i:i + 1]})[0] for i in range(x.shape[0])])
    ok = True
    for label, got in (("batch of %d" % x.shape[0], batched), ("one at a time", single)):
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        worst = np.unravel_index(int(diff.argmax()), diff.shape)
        print(f"check-onnx: onnxruntime {onnxruntime.__version__} ({label}) vs keypoints: max abs difference "
              f"{diff.max():.3g}, mean {diff.mean():.3g} over {diff.size} values (tolerance {args.tolerance:g})")
        if not diff.max() <= args.tolerance:
            print(f"check-onnx: worst at sample {worst[0]}, value {worst[1]}: onnxruntime {got[worst]:.7f}, "
                  f"keypoints {expected[worst]:.7f}", file=sys.stderr)
            ok = False
    if not ok:
        fail("ONNX Runtime does not reproduce keypoints' predictions within the tolerance")
    print("check-onnx: OK")


if __name__ == "__main__":
    main()

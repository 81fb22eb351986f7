#!/usr/bin/env python3
"""Checks the keypoints-onnx Python package (python/) against `keypoints predict`.

Usage: check-python-inference.py SITE MODEL.onnx PREDICTIONS.json
       check-python-inference.py --make-images DIR

--make-images writes the images whose decoding could differ between the two (made with Pillow): a
half-transparent RGBA PNG, a palette PNG with a transparent colour, a 16-bit gray PNG and a JPEG
whose EXIF orientation (6) rotates it; run `keypoints predict` on DIR after it.

SITE is a folder the package was pip-installed into (`pip install --target SITE ./python`);
PREDICTIONS.json is `keypoints predict --model RUN IMAGES --format json` for the model that
MODEL.onnx exports. For every image there, the three lines a user writes,

    from keypoints_onnx import load
    model = load(MODEL.onnx)
    points = model(image_path)

must give the same keypoints, in pixels of the original image, to 0.01 px, or, for images whose
longer side is over 640 px, to 1.6e-5 of that side: ONNX Runtime and oneDNN agree to about 1e-5 of
the network frame in float32 (scripts/check-onnx.py measures it), and mapping back to a large
image scales that up (1200 px wide: 0.0108 px, measured). Also: an HxWx3 uint8
array gives what its file gives, gray (HxW) equals its RGB stack, opaque RGBA equals RGB,
predict_batch equals one call per image, and float pixels are refused with a clear error.
Prints the worst difference; exits 1 naming what differs, 2 on bad usage.
"""
import json
import os
import sys

import numpy as np


def make_images(folder):
    from PIL import Image
    rng = np.random.default_rng(7)
    h, w = 60, 90
    ys, xs = np.mgrid[0:h, 0:w]
    rgb = np.stack([xs * 255 // w, ys * 255 // h, (xs + ys) % 256], axis=2).astype(np.uint8)
    rgba = np.concatenate([rgb, (rng.random((h, w, 1)) * 255).astype(np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(f"{folder}/rgba.png")
    palette = Image.fromarray(rgb).quantize(16)
    palette.info["transparency"] = 3
    palette.save(f"{folder}/palette.png", transparency=3)
    Image.fromarray((ys * 65535 // h).astype(np.uint16)).save(f"{folder}/gray16.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(f"{folder}/rotated.jpg", exif=exif, quality=95)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--make-images":
        make_images(sys.argv[2])
        return
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    site, model_path, predictions_path = sys.argv[1:]
    sys.path.insert(0, site)
    from keypoints_onnx import load  # noqa: E402 - the installed package, from SITE
    from PIL import Image

    model = load(model_path)
    expected = json.load(open(predictions_path))
    problems, worst, worst_small = [], 0.0, 0.0
    for entry in expected:
        points = model(entry["image"])
        want = np.array([entry["keypoints"][name] for name in model.names], dtype=np.float64)
        difference = float(np.abs(points - want).max())
        side = max(Image.open(entry["image"]).size)
        tolerance = max(0.01, 1.6e-5 * side)
        worst = max(worst, difference)
        if side <= 640:
            worst_small = max(worst_small, difference)
        if points.shape != want.shape or difference > tolerance:
            problems.append(f"{entry['image']} ({side} px): {difference:.4f} px from keypoints predict, more than {tolerance:.4f} "
                            f"({points.tolist()} vs {want.tolist()})")

    first = next(e["image"] for e in expected if os.path.basename(e["image"]).startswith("image"))
    rgb = np.asarray(Image.open(first).convert("RGB"))
    if np.abs(model(rgb) - model(first)).max() != 0:
        problems.append("an RGB array gives other keypoints than its file")
    gray = rgb[:, :, 1]
    if np.abs(model(gray) - model(np.stack([gray] * 3, axis=2))).max() != 0:
        problems.append("a gray image gives other keypoints than its RGB stack")
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    if np.abs(model(rgba) - model(rgb)).max() != 0:
        problems.append("an opaque RGBA image gives other keypoints than RGB")
    images = [e["image"] for e in expected[:3]]
    for one, batched in zip([model(i) for i in images], model.predict_batch(images)):
        if np.abs(one - batched).max() > 1e-4:
            problems.append("predict_batch differs from one call per image")
    try:
        model(rgb.astype(np.float32))
        problems.append("float pixels were accepted")
    except ValueError as e:
        if "uint8" not in str(e):
            problems.append(f"float pixels: unclear error {e}")

    if problems:
        print("check-python-inference: FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"check-python-inference: OK: {len(expected)} images, worst difference from keypoints predict {worst_small:.5f} px "
          f"up to 640 px, {worst:.5f} px over all; keypoints {model.names}")


if __name__ == "__main__":
    main()

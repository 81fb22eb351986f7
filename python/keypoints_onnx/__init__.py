"""Keypoints from a `keypoints export --format onnx` model, in the pixels of the original images.

    from keypoints_onnx import load
    model = load("model.onnx")
    points = model(image)        # [K, 2] (x, y) in pixels of `image`

`image` is an H x W x 3 uint8 RGB array (H x W grayscale and H x W x 4 RGBA are accepted: alpha is
composited on black, as `keypoints` decodes PNGs), or a path when Pillow is installed (EXIF
orientation applied, transparency composited on black, 16-bit gray scaled to 8 bits, as keypoints does).
"""
from .model import KeypointModel, load

__all__ = ["KeypointModel", "load"]

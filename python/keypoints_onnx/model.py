"""The model: fits an image to the network's square input as training did (the export's metadata
says letterbox or stretch), runs ONNX Runtime, and maps the keypoints back to original pixels.

Frame conventions (the same as keypoints' FrameMapping and SampleRenderer): pixel (i, j) covers
[i, i+1) x [j, j+1) and is sampled at its centre, bilinearly, clamped at the edges; a letterbox
scales by S / max(w, h), centres the image and fills the rest with mid-grey (127.5).
"""
import json

import numpy as np
import onnxruntime as ort


class KeypointModel:
    """An exported keypoint model. Call it on one image; `predict_batch` on several."""

    def __init__(self, path, threads=None):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("producer") != "keypoints":
            raise ValueError(f"{path} is not a keypoints export (its metadata has no producer=keypoints); "
                             "make one with `keypoints export --model RUN --format onnx`")
        self.size = int(meta["input_size"])
        self.resize = meta.get("resize", "letterbox")
        #: The keypoint names, in output order.
        self.names = json.loads(meta["keypoint_names"])
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def __call__(self, image):
        """[K, 2] float64 (x, y) in pixels of `image`."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images):
        """One [K, 2] array per image, computed in one ONNX Runtime call."""
        pixels = [_rgb(image) for image in images]
        fitted = [self._fit(p) for p in pixels]
        batch = np.stack([frame for frame, _ in fitted]).transpose(0, 3, 1, 2)   # [N, 3, S, S]
        (out,) = self.session.run([self.output], {self.input: np.ascontiguousarray(batch, dtype=np.float32)})
        results = []
        for row, (_, (sx, sy, ox, oy)) in zip(out, fitted):
            frame = row.reshape(-1, 2).astype(np.float64) * self.size            # pixels of the S x S frame
            results.append(np.stack([(frame[:, 0] - ox) / sx, (frame[:, 1] - oy) / sy], axis=1))
        return results

    def _fit(self, image):
        """The S x S x 3 float32 frame (pixel values 0..255) and its mapping (sx, sy, ox, oy)."""
        h, w = image.shape[:2]
        size = self.size
        if self.resize == "stretch":
            sx, sy, ox, oy = size / w, size / h, 0.0, 0.0
        else:
            sx = sy = size / max(w, h)
            ox, oy = (size - w * sx) / 2, (size - h * sy) / 2
        xa, xb, tx, x_in = _taps(ox, sx, w, size)
        ya, yb, ty, y_in = _taps(oy, sy, h, size)
        image = image.astype(np.float32)
        cols = image[:, xa] + (image[:, xb] - image[:, xa]) * tx[None, :, None]   # [h, S, 3]
        frame = cols[ya] + (cols[yb] - cols[ya]) * ty[:, None, None]              # [S, S, 3]
        frame[~(y_in[:, None] & x_in[None, :])] = 127.5
        return frame, (sx, sy, ox, oy)


def _taps(offset, scale, n, size):
    """Bilinear taps along one axis for the frame's pixel centres: two source indices, the weight
    of the second, and whether the centre falls inside the image."""
    f = (np.arange(size, dtype=np.float64) + 0.5 - offset) / scale - 0.5
    i = np.floor(f).astype(np.int64)
    inside = (f > -1) & (f < n)
    return np.clip(i, 0, n - 1), np.clip(i + 1, 0, n - 1), (f - i).astype(np.float32), inside


def _rgb(image):
    """`image` as an H x W x 3 uint8 array."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        try:
            from PIL import Image, ImageOps
        except ImportError as e:
            raise ImportError("opening image files needs Pillow (pip install pillow); or pass an HxWx3 uint8 array") from e
        with Image.open(image) as opened:
            opened = ImageOps.exif_transpose(opened)
            if opened.mode in ("I;16", "I;16B", "I;16L", "I"):   # 16-bit gray: 65535 -> 255, as keypoints scales
                image = np.round(np.asarray(opened, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
            elif "A" in opened.getbands() or "transparency" in opened.info:
                image = np.asarray(opened.convert("RGBA"))       # composited on black below
            else:
                image = np.asarray(opened.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB image (or H x W gray, H x W x 4 RGBA), got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels 0..255, got {array.dtype}; convert with .astype(np.uint8) if they are")
    if array.shape[2] == 4:   # alpha on black, as keypoints decodes PNGs
        rgb = array[:, :, :3].astype(np.float32) * (array[:, :, 3:4].astype(np.float32) / 255)
        array = np.round(rgb).astype(np.uint8)
    return array


def load(path, threads=None):
    """The exported model at `path` (a `.onnx` file from `keypoints export --format onnx`);
    `threads` caps ONNX Runtime's threads (default: its own choice)."""
    return KeypointModel(path, threads=threads)

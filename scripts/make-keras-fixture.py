#!/usr/bin/env python3
"""Makes the Keras parity fixture in Tests/InteropTests/Fixtures (not run in CI; the files are committed).

A keras.applications.MobileNet (alpha 0.25, 96x96, include_top=False, the layout of Keras' ImageNet
"_tf_no_top.h5" files) with seeded random weights and non-trivial BN statistics, saved:
  mobilenet_0_25_96_keras2.h5      by tf-keras (Keras 2) model.save_weights, the ImageNet files' layout;
  mobilenet_0_25_96.weights.h5     by Keras 3 model.save_weights, the same weights;
  mobilenet_0_25_96_io.h5          datasets `input` [2, 96, 96, 3] (NHWC, in [-1, 1]) and `output`
                                   [2, 3, 3, 256] (NHWC): Keras' backbone output in inference mode;
  truncated.h5, bad_shape.h5       damaged files for the error tests (conv1 only; a BN of the wrong width).

Needs TensorFlow with tf-keras and h5py (python3 -m venv v && v/bin/pip install tensorflow-cpu tf-keras h5py):
  v/bin/python scripts/make-keras-fixture.py
"""
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py
import numpy as np
import tf_keras
import keras

ALPHA, SIZE, SEED = 0.25, 96, 7
out = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "InteropTests" / "Fixtures"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(SEED)


def random_weights(layer):
    """He-scaled kernels; gamma, beta, moving mean and variance away from their defaults."""
    values = []
    for w in layer.weights:
        name, shape = w.name.split("/")[-1].split(":")[0], tuple(w.shape)
        if name in ("kernel", "depthwise_kernel"):
            fan_in = shape[0] * shape[1] * (1 if name == "depthwise_kernel" else shape[2])
            values.append(rng.normal(0, np.sqrt(2.0 / fan_in), shape))
        elif name == "gamma":
            values.append(rng.uniform(0.6, 1.4, shape))
        elif name == "beta":
            values.append(rng.uniform(-0.3, 0.5, shape))
        elif name == "moving_mean":
            values.append(rng.normal(0, 0.3, shape))
        elif name == "moving_variance":
            values.append(rng.uniform(0.5, 2.0, shape))
        else:
            raise SystemExit(f"unexpected weight {w.name}")
    return [v.astype(np.float32) for v in values]


legacy = tf_keras.applications.MobileNet(input_shape=(SIZE, SIZE, 3), alpha=ALPHA, include_top=False, weights=None)
for layer in legacy.layers:
    if layer.weights:
        layer.set_weights(random_weights(layer))
legacy.save_weights(str(out / "mobilenet_0_25_96_keras2.h5"))

modern = keras.applications.MobileNet(input_shape=(SIZE, SIZE, 3), alpha=ALPHA, include_top=False, weights=None)
for layer in modern.layers:
    if layer.weights:
        layer.set_weights(legacy.get_layer(layer.name).get_weights())
modern.save_weights(str(out / "mobilenet_0_25_96.weights.h5"))

x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
y = legacy(x, training=False).numpy()
y3 = np.asarray(modern(x, training=False))
assert np.abs(y - y3).max() < 1e-5, "Keras 2 and Keras 3 disagree"
saturated = float(np.mean((y <= 0) | (y >= 6)))
print(f"output {y.shape}: mean {y.mean():.3f}, std {y.std():.3f}, at 0 or 6: {saturated:.0%}")
assert y.std() > 0.1 and saturated < 0.9, "output is degenerate: change the weight scales"
with h5py.File(out / "mobilenet_0_25_96_io.h5", "w") as f:
    f["input"] = x
    f["output"] = y
    f.attrs["keras"] = f"tf-keras {tf_keras.__version__}, keras {keras.__version__}"

with h5py.File(out / "mobilenet_0_25_96_keras2.h5", "r") as src:
    with h5py.File(out / "truncated.h5", "w") as dst:
        for name in ("conv1", "conv1_bn"):
            src.copy(src[name], dst, name)
    with h5py.File(out / "bad_shape.h5", "w") as dst:
        for name in ("conv1", "conv1_bn", "conv_dw_1"):
            src.copy(src[name], dst, name)
        bn = dst.create_group("conv_dw_1_bn").create_group("conv_dw_1_bn")
        for part in ("gamma", "beta", "moving_mean", "moving_variance"):
            bn[f"{part}:0"] = np.ones(9, np.float32)
for p in sorted(out.iterdir()):
    print(f"{p.name}: {p.stat().st_size} bytes")

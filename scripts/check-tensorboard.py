#!/usr/bin/env python3
"""Reads a run folder's TensorBoard log with the tensorboard package and checks its values.

Usage: check-tensorboard.py RUN_DIR

RUN_DIR is a folder written by `keypoints train --out`. Checks, with tensorboard's own readers:
  - every record of every RUN_DIR/events.out.tfevents.* file passes the reader's masked CRC-32C
    checks of its length and its data (tensorboard's PyRecordReader raises DataLossError if not),
    and each file starts with the file_version event "brain.Event:2";
  - EventAccumulator (which honours the SessionLog START a resumed run writes, dropping the steps
    that ran again) gives, for every step line of RUN_DIR/metrics.jsonl, train/loss,
    train/learning_rate and train/gradient_norm equal to its loss, lr and grad_norm (as float32),
    with no step missing and none extra;
  - for every epoch line: val/nme, val/loss, val/rmse_px, val/pck@0.05, val/pck@0.1 and
    val/nme_mean_shape at its step, equal to the line's values;
  - one val/predictions image per epoch at its step, a PNG that decodes (Pillow) to the width and
    height the summary states.
Prints a summary; exits 1 naming what differs, 2 on bad usage.
"""
import glob
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow


def f32(x):
    return float(np.float32(x))


def read_records(path):
    """Every record of one event file, through tensorboard's CRC-checking reader."""
    reader = pywrap_tensorflow.PyRecordReader_New(path.encode())
    events = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return events
        events.append(event_pb2.Event.FromString(reader.record()))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run = sys.argv[1]
    files = sorted(glob.glob(os.path.join(run, "events.out.tfevents.*")))
    if not files:
        print(f"check-tensorboard: FAILED: no events.out.tfevents.* in {run}", file=sys.stderr)
        sys.exit(1)
    problems = []
    records = 0
    for path in files:
        try:
            events = read_records(path)
        except errors.DataLossError as e:
            print(f"check-tensorboard: FAILED: {path}: {e}", file=sys.stderr)
            sys.exit(1)
        records += len(events)
        if not events or events[0].file_version != "brain.Event:2":
            problems.append(f"{path} does not start with the file_version event brain.Event:2")

    steps, epochs = [], []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            (epochs if "epoch_end" in entry else steps).append(entry)

    acc = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])

    def series(tag):
        if tag not in tags:
            problems.append(f"no scalar {tag!r} (tags: {sorted(tags)})")
            return {}
        values = {}
        for e in acc.Scalars(tag):
            if e.step in values:
                problems.append(f"{tag} has step {e.step} twice")
            values[e.step] = e.value
        return values

    for tag, key in [("train/loss", "loss"), ("train/learning_rate", "lr"), ("train/gradient_norm", "grad_norm")]:
        got = series(tag)
        want = {s["step"]: f32(s[key]) for s in steps}
        if set(got) != set(want):
            problems.append(f"{tag}: steps {sorted(set(got) ^ set(want))[:10]} are in one of the log and metrics.jsonl only")
        for step, value in want.items():
            if step in got and got[step] != value:
                problems.append(f"{tag} at step {step} is {got[step]!r}, metrics.jsonl says {value!r}")

    for tag, key in [("val/nme", "val_nme"), ("val/loss", "val_loss"), ("val/rmse_px", "val_rmse_px"),
                     ("val/pck@0.05", "val_pck05"), ("val/pck@0.1", "val_pck10"), ("val/nme_mean_shape", "val_nme_mean_shape")]:
        got = series(tag)
        for e in epochs:
            if got.get(e["step"]) != f32(e[key]):
                problems.append(f"{tag} at step {e['step']} is {got.get(e['step'])!r}, metrics.jsonl says {f32(e[key])!r}")

    images = acc.Images("val/predictions") if "val/predictions" in acc.Tags()["images"] else []
    if sorted(i.step for i in images) != sorted(e["step"] for e in epochs):
        problems.append(f"val/predictions images at steps {[i.step for i in images]}, epochs end at {[e['step'] for e in epochs]}")
    for i in images:
        picture = Image.open(io.BytesIO(i.encoded_image_string))
        if picture.format != "PNG" or picture.size != (i.width, i.height):
            problems.append(f"val/predictions at step {i.step}: a {picture.format} of {picture.size}, the summary says {(i.width, i.height)}")

    if problems:
        print("check-tensorboard: FAILED:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)
        sys.exit(1)
    print(f"check-tensorboard: OK: {len(files)} file(s), {records} records with valid CRC-32C, {len(steps)} steps and "
          f"{len(epochs)} epochs equal to metrics.jsonl, {len(images)} images")


if __name__ == "__main__":
    main()

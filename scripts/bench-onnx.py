#!/usr/bin/env python3
"""Times an exported model in ONNX Runtime, to set beside `keypoints bench --mode infer` (same
model size, batch and threads, same sitting). Prints one JSON line per batch size, like bench does.

Usage: bench-onnx.py MODEL.onnx [--threads 2] [--batches 1,32] [--warmup 5] [--runs 20]
Needs numpy and onnxruntime (scripts/python-env.sh makes a venv with them).
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (keypoints bench --threads)")
    parser.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    size = int(session.get_modelmeta().custom_metadata_map["input_size"])
    rng = np.random.default_rng(0)
    for batch in (int(b) for b in args.batches.split(",")):
        x = rng.integers(0, 256, (batch, 3, size, size)).astype(np.float32)
        for _ in range(args.warmup):
            session.run(None, {"image": x})
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            session.run(None, {"image": x})
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        print(json.dumps({"bench": "onnxruntime_infer", "onnxruntime": onnxruntime.__version__, "batch": batch,
                          "threads": args.threads, "input": size, "ms_median": round(median * 1e3, 2),
                          "img_s_median": round(batch / median, 1), "runs": args.runs}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The cost model of docs/SCALING.md: one synchronous step with n workers on separate hosts of one
kind, each computing one micro-batch, all behind one coordinator link, with the gradient sent whole
after the backward or in buckets while backward runs. Prints the predicted step and weak-scaling
efficiency E(n) = T(1) / T(n) for each n, both ways.

    T(n) = F(n) + 2 d + n W / B + U0 + n r

F(n) is when the coordinator has every byte of every worker's gradient, counted from the start of
the workers' compute. Sent whole, F = C + n G / B. In buckets, bucket k of every worker is ready
tau_k into the compute and the link sends FIFO, so F = max over k of (tau_k + n S_k / B), with S_k
the bytes of the buckets ready at tau_k or later (the last, bucket 0, at tau = C).

Inputs: the JSON line `keypoints bench --profile` prints as "keypoints_buckets" (bucket sizes and
ready times for one worker's micro-batch), and what scripts/bench-hosts.sh measured at 1 worker:
compute C, bytes in and out of the coordinator's link per step (these include ZeroMQ, CURVE and TCP;
the bucket sizes are scaled to them), the update's U0 and per-worker r.

    scripts/scaling-model.py --buckets '{"bench": "keypoints_buckets", ...}' --compute 0.68 \
        --mb-in 3.30 --mb-out 2.97 --rate 1 --delay-ms 0.2 --update 0.015 --per-worker 0.001
"""
import argparse
import json


def arrival(n, compute, sizes, ready, rate_bytes, buckets):
    """F(n): seconds from the compute's start until the coordinator has all n gradients."""
    if not buckets:
        return compute + n * sum(sizes) / rate_bytes
    order = sorted(range(len(sizes)), key=lambda b: ready[b])
    return max(ready[b] + n * sum(sizes[c] for c in order[i:]) / rate_bytes for i, b in enumerate(order))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--buckets", required=True, help="the keypoints_buckets JSON line of `keypoints bench --profile`")
    p.add_argument("--compute", type=float, help="C, seconds (default: the bench line's compute_s)")
    p.add_argument("--mb-in", type=float, required=True, help="MB into the coordinator per step per worker (G, measured)")
    p.add_argument("--mb-out", type=float, required=True, help="MB out of the coordinator per step per worker (W, measured)")
    p.add_argument("--rate", type=float, default=1.0, help="B, Gb/s")
    p.add_argument("--delay-ms", type=float, default=0.2, help="d, one-way latency, ms")
    p.add_argument("--update", type=float, required=True, help="U0, the coordinator's update at 1 worker, seconds")
    p.add_argument("--per-worker", type=float, default=0.001, help="r, reduce cost per worker, seconds")
    p.add_argument("--workers", default="1,2,4,8,32,128")
    a = p.parse_args()

    line = json.loads(a.buckets)
    compute = a.compute or line["compute_s"]
    scale = compute / line["compute_s"]  # ready times move with the compute
    frame = sum(line["bucket_bytes"])
    sizes = [b / frame * a.mb_in * 1e6 for b in line["bucket_bytes"]]  # framing overheads in proportion
    ready = [t * scale for t in line["ready_s"]]
    ready[0] = compute
    rate = a.rate * 1e9 / 8
    d = a.delay_ms / 1000
    out = a.mb_out * 1e6

    def step(n, buckets):
        return arrival(n, compute, sizes, ready, rate, buckets) + 2 * d + n * out / rate + a.update + n * a.per_worker

    ns = [int(x) for x in a.workers.split(",")]
    print(f"C {compute:.3f} s, G {a.mb_in:.2f} MB in {len(sizes)} bucket(s), W {a.mb_out:.2f} MB, B {a.rate:g} Gb/s, "
          f"d {a.delay_ms:g} ms, U0 {a.update:.3f} s, r {a.per_worker * 1000:.1f} ms")
    print(f"{'workers':>24} " + " ".join(f"{n:>6}" for n in ns))
    for buckets in (False, True):
        name = "in buckets" if buckets else "whole"
        steps = [step(n, buckets) for n in ns]
        print(f"{'step, s, ' + name:>24} " + " ".join(f"{t:6.3f}" for t in steps))
        print(f"{'E(n), ' + name:>24} " + " ".join(f"{step(1, buckets) / t:6.2f}" for t in steps))


if __name__ == "__main__":
    main()

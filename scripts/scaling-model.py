#!/usr/bin/env python3
"""The cost model of docs/SCALING.md: one synchronous step with n workers on separate hosts of one
kind, each computing one micro-batch, all behind one coordinator link, with weights and gradients
sent whole (before and after the compute) or in buckets while the compute runs. Prints the
predicted step and weak-scaling efficiency E(n) = T(1) / T(n) for each n, both ways.

    T(n) = U0 + n r + S(n) + F(n) + d

U0 + n r is the coordinator's update (the reduction of n gradients, then Adam). S(n) is how long
a worker waits for weights before its compute ends up where it would with all of them at once:
sent whole, every worker has them d + n W / B after the update; in buckets, bucket k arrives
a_k = d + n (w_0 + ... + w_k) / B after the update (bucket 0 first, each bucket to every worker
before the next) and the forward first needs it nu_k into the compute, so S = max(0, max_k a_k - nu_k).
F(n) is when the coordinator has every byte of every worker's gradient, counted from the start of
the workers' compute: sent whole, C + n G / B; in buckets, bucket k of every worker is final tau_k
into the compute and the link sends FIFO, so F = max over k of (tau_k + n S_k / B), with S_k the
bytes of the buckets final at tau_k or later (the last, bucket 0, at tau = C). d: the last byte's
latency.

Inputs: the JSON line `keypoints bench --profile` prints as "keypoints_buckets" (bucket sizes,
when the forward needs each and when backward makes each final, for one worker's micro-batch), and
what scripts/bench-hosts.sh measured at 1 worker: compute C, bytes in and out of the coordinator's
link per step (these include ZeroMQ, CURVE and TCP; the bucket sizes are scaled to them), the
update's U0 and per-worker r.

    scripts/scaling-model.py --buckets '{"bench": "keypoints_buckets", ...}' --compute 0.68 \\
        --mb-in 3.30 --mb-out 2.97 --rate 1 --delay-ms 0.2 --update 0.015 --per-worker 0.001
"""
import argparse
import json


def gradients_in(n, compute, sizes, ready, rate, buckets):
    """F(n): seconds from the compute's start until the coordinator has all n gradients."""
    if not buckets:
        return compute + n * sum(sizes) / rate
    order = sorted(range(len(sizes)), key=lambda b: ready[b])
    return max(ready[b] + n * sum(sizes[c] for c in order[i:]) / rate for i, b in enumerate(order))


def weights_wait(n, sizes, needed, rate, delay, buckets):
    """S(n): seconds from the update's end until the workers' compute can run without waiting."""
    if not buckets:
        return delay + n * sum(sizes) / rate
    arrived = [delay + n * sum(sizes[:k + 1]) / rate for k in range(len(sizes))]
    return max(0.0, max(a - nu for a, nu in zip(arrived, needed)))


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
    scale = compute / line["compute_s"]  # the times within the compute move with it
    frame = sum(line["bucket_bytes"])
    grads = [b / frame * a.mb_in * 1e6 for b in line["bucket_bytes"]]  # framing overheads in proportion
    weights = [b / frame * a.mb_out * 1e6 for b in line["bucket_bytes"]]
    ready = [t * scale for t in line["ready_s"]]
    ready[0] = compute
    needed = [t * scale for t in line["needed_s"]]
    rate = a.rate * 1e9 / 8
    d = a.delay_ms / 1000

    def step(n, buckets):
        return (a.update + n * a.per_worker + weights_wait(n, weights, needed, rate, d, buckets)
                + gradients_in(n, compute, grads, ready, rate, buckets) + d)

    ns = [int(x) for x in a.workers.split(",")]
    print(f"C {compute:.3f} s, G {a.mb_in:.2f} MB and W {a.mb_out:.2f} MB in {len(grads)} bucket(s), B {a.rate:g} Gb/s, "
          f"d {a.delay_ms:g} ms, U0 {a.update:.3f} s, r {a.per_worker * 1000:.1f} ms")
    print(f"{'workers':>24} " + " ".join(f"{n:>6}" for n in ns))
    for buckets in (False, True):
        name = "in buckets" if buckets else "whole"
        steps = [step(n, buckets) for n in ns]
        print(f"{'step, s, ' + name:>24} " + " ".join(f"{t:6.3f}" for t in steps))
        print(f"{'E(n), ' + name:>24} " + " ".join(f"{step(1, buckets) / t:6.2f}" for t in steps))


if __name__ == "__main__":
    main()

"""PyTorch's training step under bf16 autocast, beside the anchor's f32 one: the anchor's
MobileNetV1 regressor (../shared/anchors/mobilenet_torch.py), channels-last, MSE, Adam lr 1e-4,
random inputs, with the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16)
(f32 master weights and optimizer; convolutions and matrix products in bf16 where the CPU has
AVX512-BF16 or AMX, emulated elsewhere). The "best PyTorch configuration" the README compares our
step against is the faster of this and torch_mobilenet_bench.py --channels-last.

    bench-torch-bf16.py --anchors ../shared/anchors --threads 2 --batch 32

Prints one JSON line: the median step and images/s over the timed steps.
"""
import argparse, json, statistics, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchors", default="../shared/anchors", help="folder of mobilenet_torch.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    sys.path.insert(0, a.anchors)
    import torch
    import torch.nn as nn
    from mobilenet_torch import mobilenet_v1_regressor

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = mobilenet_v1_regressor().to(memory_format=torch.channels_last).train()
    x = torch.randn(a.batch, 3, 224, 224).to(memory_format=torch.channels_last)
    y = torch.randn(a.batch, 8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.MSELoss()

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"bench": "torch_train_bf16_autocast", "threads": a.threads, "batch": a.batch, "steps": a.steps,
                      "step_ms_median": round(med * 1e3, 2), "img_s_median": round(a.batch / med, 2),
                      "bf16_supported": torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()

"""PyTorch DDP with bf16 autocast: the anchor's DDP step (../shared/anchors/ddp_bench.py: gloo on
CPU, the anchors' MobileNetV1 regressor, channels-last, MSE, Adam lr 1e-4, random tensors) with the
forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16), as `keypoints train
--workers N --precision bf16 --in-memory-inputs` computes: f32 master weights and optimizer, f32
gradients all-reduced. The same-precision partner of our bf16 distributed figure.

    bench-ddp-bf16.py --anchors ../shared/anchors --procs 2 --threads 1 --batch 16

Prints one JSON line from rank 0. Step time = max over ranks of that step's wall time.
"""
import argparse, json, os, statistics, sys, time


def worker(rank, a):
    sys.path.insert(0, a.anchors)
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP
    from mobilenet_torch import mobilenet_v1_regressor

    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.procs)
    torch.manual_seed(0)
    model = DDP(mobilenet_v1_regressor().to(memory_format=torch.channels_last))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.MSELoss()
    torch.manual_seed(rank + 1)
    x = torch.randn(a.batch, 3, 224, 224).to(memory_format=torch.channels_last)
    y = torch.randn(a.batch, 8)
    times = []
    dist.barrier()
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y)
        loss.backward()  # gradients all-reduced here, in f32
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    t = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if rank == 0:
        med, gb = statistics.median(t.tolist()), a.batch * a.procs
        print(json.dumps({"bench": "torch_ddp_bf16_autocast", "procs": a.procs, "threads": a.threads,
                          "batch_per_proc": a.batch, "global_batch": gb, "steps": a.steps,
                          "step_ms_median": round(med * 1e3, 2), "img_s_median": round(gb / med, 2),
                          "torch": torch.__version__}), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchors", default="../shared/anchors", help="folder of mobilenet_torch.py")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--port", default="29533")
    a = ap.parse_args()
    a.anchors = os.path.abspath(a.anchors)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", a.port)
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(a,), nprocs=a.procs, join=True)


if __name__ == "__main__":
    main()

"""PyTorch's training step under bf16 autocast, in one process or under DDP: the anchors'
MobileNetV1 regressor (../shared/anchors/mobilenet_torch.py), channels-last, MSE, Adam lr 1e-4,
random inputs, with the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16)
(f32 master weights and optimizer; convolutions and matrix products in bf16 where the CPU has
AVX512-BF16 or AMX, emulated elsewhere).

  --procs 1 (default): one process, the partner of `keypoints bench --precision bf16`; the
                       "best PyTorch configuration" of the README is the faster of this and
                       torch_mobilenet_bench.py --channels-last.
  --procs N:           DDP over gloo, as ../shared/anchors/ddp_bench.py but under autocast (f32
                       gradients all-reduced), the partner of `keypoints train --workers N
                       --precision bf16 --in-memory-inputs`.

    bench-torch-bf16.py --anchors ../shared/anchors --threads 2 --batch 32
    bench-torch-bf16.py --anchors ../shared/anchors --procs 2 --threads 1 --batch 16

Prints one JSON line (rank 0's): the median step, over ranks the slowest, and images/s.
"""
import argparse, json, os, statistics, sys, time


def run(rank, a):
    sys.path.insert(0, a.anchors)
    import torch
    import torch.nn as nn
    from mobilenet_torch import mobilenet_v1_regressor

    torch.set_num_threads(a.threads)
    distributed = a.procs > 1
    if distributed:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
        dist.init_process_group("gloo", rank=rank, world_size=a.procs)
    torch.manual_seed(0)
    model = mobilenet_v1_regressor().to(memory_format=torch.channels_last).train()
    if distributed:
        model = DDP(model)
    torch.manual_seed(rank + 1)
    x = torch.randn(a.batch, 3, 224, 224).to(memory_format=torch.channels_last)
    y = torch.randn(a.batch, 8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.MSELoss()
    if distributed:
        dist.barrier()
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y)
        loss.backward()  # under DDP, gradients are all-reduced here, in f32
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    if distributed:
        t = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        times = t.tolist()
    if rank == 0:
        med, images = statistics.median(times), a.batch * a.procs
        print(json.dumps({"bench": "torch_ddp_bf16_autocast" if distributed else "torch_train_bf16_autocast",
                          "procs": a.procs, "threads": a.threads, "batch_per_proc": a.batch, "steps": a.steps,
                          "step_ms_median": round(med * 1e3, 2), "img_s_median": round(images / med, 2),
                          "bf16_supported": torch.ops.mkldnn._is_mkldnn_bf16_supported(), "torch": torch.__version__}),
              flush=True)
    if distributed:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchors", default="../shared/anchors", help="folder of mobilenet_torch.py")
    ap.add_argument("--procs", type=int, default=1, help="1: one process; N: DDP over N processes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="per process")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--port", default="29533")
    a = ap.parse_args()
    a.anchors = os.path.abspath(a.anchors)
    if a.procs == 1:
        return run(0, a)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", a.port)
    import torch.multiprocessing as mp
    mp.spawn(run, args=(a,), nprocs=a.procs, join=True)


if __name__ == "__main__":
    main()

"""PyTorch DDP on the same JPEG/PNG work as `keypoints train --workers N`: the anchor's DDP step
(../shared/anchors/ddp_bench.py: gloo on CPU, the same MobileNetV1 regressor, Adam, MSE) fed by a
DataLoader that reads one of our label CSVs, decodes each image with Pillow, letterboxes it to the
input size and augments it as our defaults do (rotation 15 deg, scale 0.85-1.15, shift 8%,
brightness/contrast/saturation 0.2, blur with probability 0.1 at sigma 1.2, noise of sigma 3 grey
levels), one loader process per rank decoding ahead, as each of our workers has one decode thread.

    bench-ddp-jpeg.py --anchors ../shared/anchors --labels runs/demo/cards/labels.csv --procs 2 --threads 1 --batch 16 [--bf16]

Prints one JSON line from rank 0 (the anchor's fields; `img_s_median` is the figure to quote).
Step time = max over ranks of that step's wall time, data waits included.
"""
import argparse, csv, json, math, os, random, statistics, sys, time

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


class KeypointImages:
    """Rows of a keypoints CSV (image, then x/y columns), rendered and augmented on the fly."""

    def __init__(self, labels, size, seed):
        with open(labels, newline="") as f:
            rows = list(csv.reader(row for row in f if not row.startswith("#")))
        header, self.rows = rows[0], [r for r in rows[1:] if r]
        self.xy = [i for i, name in enumerate(header) if name.endswith("_x") or (name.startswith("x") and name[1:].isdigit())]
        self.folder, self.size, self.seed = os.path.dirname(os.path.abspath(labels)), size, seed

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        import torch
        rng = random.Random(self.seed * 1_000_003 + i)
        row = self.rows[i]
        image = Image.open(os.path.join(self.folder, row[0])).convert("RGB")
        points = np.array([[float(row[c]), float(row[c + 1])] for c in self.xy], dtype=np.float64)
        s = self.size
        # Letterbox, then rotation, scale and shift about the centre: one affine map, output -> input.
        fit = s / max(image.width, image.height)
        angle = math.radians(rng.uniform(-15, 15))
        scale = fit * rng.uniform(0.85, 1.15)
        tx, ty = rng.uniform(-0.08, 0.08) * s, rng.uniform(-0.08, 0.08) * s
        c, si = math.cos(angle) * scale, math.sin(angle) * scale
        forward = np.array([[c, -si, s / 2 + tx - (c * image.width / 2 - si * image.height / 2)],
                            [si, c, s / 2 + ty - (si * image.width / 2 + c * image.height / 2)], [0, 0, 1]])
        inverse = np.linalg.inv(forward)
        image = image.transform((s, s), Image.AFFINE, tuple(inverse[:2].ravel()), resample=Image.BILINEAR)
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
        image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
        if rng.random() < 0.1:
            image = image.filter(ImageFilter.GaussianBlur(1.2))
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + np.random.default_rng(rng.getrandbits(32)).normal(0, 3, pixels.shape).astype(np.float32)
        x = torch.from_numpy(np.clip(pixels, 0, 255).transpose(2, 0, 1) / 127.5 - 1).float()
        moved = (forward[:2, :2] @ points.T).T + forward[:2, 2]
        return x, torch.from_numpy((moved / s).ravel()).float()


def worker(rank, a):
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, DistributedSampler
    sys.path.insert(0, a.anchors)
    from mobilenet_torch import mobilenet_v1_regressor

    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.procs)
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    data = KeypointImages(a.labels, 224, seed=rank)
    model = DDP(mobilenet_v1_regressor(num_outputs=2 * len(data.xy)).to(memory_format=fmt))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.MSELoss()
    sampler = DistributedSampler(data, num_replicas=a.procs, rank=rank, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(data, batch_size=a.batch, sampler=sampler, num_workers=1, prefetch_factor=2,
                        persistent_workers=True, drop_last=True)
    times, epoch = [], 0
    dist.barrier()
    batches = iter(loader)
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        try:
            x, y = next(batches)
        except StopIteration:
            epoch += 1
            sampler.set_epoch(epoch)
            batches = iter(loader)
            x, y = next(batches)
        x = x.to(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    t = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if rank == 0:
        st, gb = t.tolist(), a.batch * a.procs
        med = statistics.median(st)
        print(json.dumps({"bench": "torch_ddp_jpeg", "procs": a.procs, "threads": a.threads, "batch_per_proc": a.batch,
                          "global_batch": gb, "channels_last": a.channels_last, "bf16_autocast": a.bf16, "steps": a.steps,
                          "step_ms_median": round(med * 1e3, 2), "img_s_median": round(gb / med, 2),
                          "labels": a.labels, "torch": torch.__version__}), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchors", required=True, help="the folder of mobilenet_torch.py (../shared/anchors)")
    ap.add_argument("--labels", required=True)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--bf16", action="store_true",
                    help="forward and loss under torch.autocast('cpu', bfloat16), as scripts/bench-torch-bf16.py (f32 all-reduce)")
    ap.add_argument("--port", default="29541")
    a = ap.parse_args()
    import torch.multiprocessing as mp
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", a.port)
    mp.spawn(worker, args=(a,), nprocs=a.procs, join=True)


if __name__ == "__main__":
    main()

"""Training throughput: hwnas's trainer against a hand-written torch loop, loader workers, bf16.

    python benchmarks/train_throughput.py                 # the figures (minutes; run it on a quiet machine)
    python benchmarks/train_throughput.py --quick         # a smoke run (seconds)

Prints one JSON object:
- ``trainer_vs_plain``: images/s of ``hwnas.train.train_model`` and of a plain loop (same model,
  initial weights, batch, threads, in-memory data, SGD + cosine schedule), rounds interleaved so
  load drifts hit both; ``ratio`` = hwnas / plain (median of the rounds' ratios, with min and max).
- ``imagefolder_workers``: images/s of the training loader (decode + augmentation) over
  ``--data imagefolder:PATH`` (default: the CIFAR-10 subset in ../shared/data when present)
  with 0 and with 2 worker processes.
- ``precision``: hwnas's images/s in fp32 and in bf16 on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from hwnas.data import load_data
from hwnas.nn import build_model
from hwnas.space import get_space
from hwnas.train import TrainConfig, seeded, train_model

ROOT = Path(__file__).resolve().parents[1]
SUBSET = next((p for p in (ROOT.parent / "shared/data/cifar10-subset",
                           ROOT.parents[1] / "shared/data/cifar10-subset",
                           Path("/work/shared/data/cifar10-subset")) if p.is_dir()), None)


def plain_loop_images_per_s(model: nn.Module, data, cfg: TrainConfig) -> float:
    """What a user writes by hand: DataLoader, SGD + Nesterov, cosine schedule, one epoch."""
    loader = data.loader("train", cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(loader))
    model.train()
    n, start = 0, time.perf_counter()
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        n += len(y)
    return n / (time.perf_counter() - start)


def hwnas_images_per_s(model: nn.Module, data, cfg: TrainConfig) -> float:
    result = train_model(model, data, cfg, progress=False)
    return result.history[-1]["images_per_s"]  # the training part of the epoch, like the plain loop


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def trainer_vs_plain(space, arch, data, cfg: TrainConfig, rounds: int) -> dict:
    plain, ours = [], []
    for r in range(rounds):  # alternate which goes first, so neither always gets the warmer caches
        order = (("plain", "hwnas") if r % 2 == 0 else ("hwnas", "plain"))
        for which in order:
            model = seeded(cfg.seed, lambda: build_model(space, arch))
            if which == "plain":
                plain.append(plain_loop_images_per_s(model, data, cfg))
            else:
                ours.append(hwnas_images_per_s(model, data, cfg))
    ratios = [a / b for a, b in zip(ours, plain)]
    return {"hwnas_images_per_s": _spread(ours), "plain_images_per_s": _spread(plain),
            "ratio": _spread(ratios)}


def loader_images_per_s(data, batch: int, workers: int, max_batches: int) -> float:
    loader = data.loader("train", batch, torch.Generator().manual_seed(0), workers=workers)
    n, start = 0, time.perf_counter()
    for i, (x, _) in enumerate(loader):
        n += len(x)
        if i + 1 >= max_batches:
            break
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mbconv-small")
    parser.add_argument("--arch", default="-".join(["k3e3"] * 13))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=3000, help="in-memory synthetic images")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=f"imagefolder:{SUBSET}" if SUBSET else None,
                        help="imagefolder:PATH for the workers figure")
    parser.add_argument("--loader-batches", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.rounds, args.loader_batches = 200, 1, 3
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    arch = space.parse(args.arch)
    data = load_data(f"synthetic:{args.images}", space.resolution)
    cfg = TrainConfig(epochs=1, batch_size=args.batch, threads=args.threads)
    out: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                             "load_avg_1m": os.getloadavg()[0], "torch": torch.__version__,
                             "threads": args.threads},
                 "space": space.name, "arch": str(arch), "batch": args.batch,
                 "train_images": len(data.train)}
    out["trainer_vs_plain"] = trainer_vs_plain(space, arch, data, cfg, args.rounds)
    if args.data:
        folder = load_data(args.data, space.resolution, augment="cifar")
        out["imagefolder_workers"] = {"data": args.data, "augment": "cifar", **{
            f"workers_{w}_images_per_s": loader_images_per_s(folder, args.batch, w, args.loader_batches)
            for w in (0, 2)}}
    precision = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for name in precision:
            model = seeded(0, lambda: build_model(space, arch))
            precision[name].append(hwnas_images_per_s(model, data, TrainConfig(
                epochs=1, batch_size=args.batch, threads=args.threads, precision=name)))
    out["precision"] = {name: _spread(values) for name, values in precision.items()}
    out["precision"]["bf16_over_fp32"] = (statistics.median(precision["bf16"])
                                          / statistics.median(precision["fp32"]))
    out["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

"""Train a mid-sized mbconv-small arch on digits from scratch; print test accuracy and wall time.

    python benchmarks/train_digits.py [--epochs 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from hwnas.data import load_data
from hwnas.nn import build_model, count_macs, count_params
from hwnas.space import get_space
from hwnas.train import TrainConfig, seeded, train_model

# Mid-sized: kernel 5, expand 3 everywhere, no zero layers (between the smallest and largest).
MID_ARCH = "-".join(["k5e3"] * 13)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space = get_space("mbconv-small")
    arch = space.parse(MID_ARCH)
    data = load_data("digits", space.resolution)
    model = seeded(args.seed, lambda: build_model(space, arch))
    result = train_model(model, data, TrainConfig(epochs=args.epochs, seed=args.seed), progress=False)
    print(json.dumps({
        "benchmark": "train_digits", "space": space.name, "arch": str(arch),
        "params": count_params(model), "macs": count_macs(model, (3, 32, 32)),
        "epochs": args.epochs, "split_sizes": data.sizes(), "test_acc": round(result.test_acc, 4),
        "val_acc": round(result.val_acc, 4), "wall_s": round(result.wall_s, 1),
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()

"""Datasets: ``digits``, ``synthetic[:N]``, ``cifar10:PATH``, ``cifar100:PATH``, ``imagefolder:PATH``."""

from hwnas.data.datasets import DataBundle, load_data, load_for_space, seed_worker

__all__ = ["DataBundle", "load_data", "load_for_space", "seed_worker"]

"""Dataset loading with deterministic train / validation / test splits and loaders.

Validation is the split for architecture decisions (search, model selection): it is never
augmented and never overlaps test. Nothing is ever downloaded: folders must already hold the data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from hwnas.data.transforms import NORMALISATION, Split, pil_transforms, resolve_preset, tensor_transforms
from hwnas.errors import DataError


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a loader worker from the seed torch gave that worker.

    torch seeds each worker's own RNG from the loader's generator (base seed + worker id); user
    transforms that draw from numpy or ``random`` get the same guarantee through this hook.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


@dataclass(frozen=True)
class DataBundle:
    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    resolution: int
    augment: str = "none"

    def loader(self, split: str, batch_size: int, generator: torch.Generator | None = None,
               shuffle: bool | None = None, workers: int = 0, pin_memory: bool = False,
               sampler: Sampler | None = None) -> DataLoader:
        """A loader over one split; ``workers`` processes seeded from ``generator``.

        Workers are not kept between epochs: each epoch's workers are seeded from the generator
        as that epoch starts, so a run resumed from an epoch checkpoint draws the same
        augmentation as the uninterrupted run.
        """
        if workers < 0:
            raise DataError(f"workers must be >= 0, not {workers}", "pass --workers 0 or more")
        dataset = {"train": self.train, "val": self.val, "test": self.test}[split]
        shuffle = (split == "train" if shuffle is None else shuffle) and sampler is None
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          sampler=sampler, drop_last=False, num_workers=workers,
                          pin_memory=pin_memory, worker_init_fn=seed_worker if workers else None)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, ...]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(n * fractions[0])), int(round(n * fractions[1]))
    return perm[n_val + n_test:], perm[:n_val], perm[n_val:n_val + n_test]


def _tensor_bundle(name: str, x: torch.Tensor, y: torch.Tensor, classes: int, resolution: int,
                   seed: int, preset: str, cutout: int) -> DataBundle:
    """Digits / synthetic: already-normalised tensors; only the training split is augmented."""
    train, val, test = _split_indices(len(y), (0.2, 0.2), seed)
    train_set: Dataset = TensorDataset(x[train], y[train])
    if preset != "none":
        train_tf, _ = tensor_transforms(preset, resolution, None, None, cutout)
        train_set = Split(train_set, None, train_tf)
    return DataBundle(name, train_set, TensorDataset(x[val], y[val]), TensorDataset(x[test], y[test]),
                      classes, resolution, preset)


def _digits(resolution: int, seed: int, preset: str, cutout: int) -> DataBundle:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(resolution, resolution), mode="bilinear",
                                        align_corners=False)
    x = ((x - 0.5) / 0.25).repeat(1, 3, 1, 1)
    y = torch.tensor(raw.target, dtype=torch.long)
    return _tensor_bundle("digits", x, y, 10, resolution, seed, preset, cutout)


def _synthetic(resolution: int, seed: int, preset: str, cutout: int, n: int = 600,
               classes: int = 10) -> DataBundle:
    """Learnable random data: each class is a fixed random pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(classes, 3, resolution, resolution, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    x = patterns[y] + 0.8 * torch.randn(n, 3, resolution, resolution, generator=g)
    return _tensor_bundle("synthetic", x, y, classes, resolution, seed, preset, cutout)


def _cifar(name: str, path: Path, resolution: int, seed: int, preset: str, cutout: int) -> DataBundle:
    from hwnas.data.cifar import LAYOUTS, CifarArrays, read_cifar

    layout = LAYOUTS[name]
    if not path.is_dir():
        raise DataError(f"dataset folder {path} does not exist",
                        f"pass {name}:PATH where PATH holds {layout.python_dir}/ or {layout.binary_dir}/")
    train_x, train_y, test_x, test_y = read_cifar(path, name)
    full = CifarArrays(train_x, train_y, resolution)
    mean, std = NORMALISATION[name]
    train_tf, eval_tf = tensor_transforms(preset, resolution, mean, std, cutout)
    # validation (architecture decisions) is carved from the training images, never from test
    train_idx, val_idx, _ = _split_indices(len(full), (0.1, 0.0), seed)
    return DataBundle(name, Split(full, train_idx, train_tf), Split(full, val_idx, eval_tf),
                      Split(CifarArrays(test_x, test_y, resolution), None, eval_tf),
                      layout.classes, resolution, preset)


def _imagefolder(path: Path, resolution: int, seed: int, preset: str, cutout: int) -> DataBundle:
    from hwnas.data.images import ImageFiles, find_layout

    if cutout:
        raise DataError("cutout applies to tensor images (cifar, digits, synthetic)",
                        "drop --cutout for imagefolder data")
    parts = find_layout(path)
    train_tf, eval_tf = pil_transforms(preset, resolution, *NORMALISATION["imagefolder"])
    if parts["train"] is None:
        full = ImageFiles(path)
        train_idx, val_idx, test_idx = _split_indices(len(full), (0.15, 0.15), seed)
        return DataBundle("imagefolder", Split(full, train_idx, train_tf), Split(full, val_idx, eval_tf),
                          Split(full, test_idx, eval_tf), len(full.classes), resolution, preset)
    train = ImageFiles(parts["train"])
    held_dir = parts["val"] or parts["test"]
    held = ImageFiles(held_dir)
    if held.classes != train.classes:
        raise DataError(f"{held_dir} has classes {held.classes[:5]} but {parts['train']} has "
                        f"{train.classes[:5]}", "give every split the same class folders")
    if parts["val"] is not None and parts["test"] is not None:
        test = ImageFiles(parts["test"])
        return DataBundle("imagefolder", Split(train, None, train_tf), Split(held, None, eval_tf),
                          Split(test, None, eval_tf), len(train.classes), resolution, preset)
    val_idx, _, test_idx = _split_indices(len(held), (0.0, 0.5), seed)
    return DataBundle("imagefolder", Split(train, None, train_tf), Split(held, val_idx, eval_tf),
                      Split(held, test_idx, eval_tf), len(train.classes), resolution, preset)


def load_data(spec: str, resolution: int, seed: int = 0, augment: str = "none",
              cutout: int = 0) -> DataBundle:
    """Load ``digits``, ``synthetic[:N]``, ``cifar10:PATH``, ``cifar100:PATH`` or ``imagefolder:PATH``.

    ``seed`` fixes the split; the same seed always gives the same split. ``augment`` (none,
    cifar, imagenet, auto) applies to the training split only; ``cutout`` > 0 adds a cutout
    square of that many pixels to it.
    """
    name, _, arg = spec.partition(":")
    preset = resolve_preset(augment, name)
    if cutout < 0:
        raise DataError(f"cutout must be >= 0 pixels, not {cutout}", "pass --cutout 0 or more")
    if cutout and preset == "none":
        raise DataError("cutout needs an augmentation preset", "pass --augment cifar with --cutout")
    if name == "digits":
        return _digits(resolution, seed, preset, cutout)
    if name == "synthetic":
        if arg and not (arg.isdigit() and int(arg) >= 10):
            raise DataError(f"synthetic:{arg} is not an image count",
                            "pass synthetic or synthetic:N, N >= 10")
        return _synthetic(resolution, seed, preset, cutout, n=int(arg) if arg else 600)
    if name in ("cifar10", "cifar100", "imagefolder"):
        if not arg:
            raise DataError(f"dataset {name!r} needs a folder", f"pass {name}:PATH")
        if name == "imagefolder":
            return _imagefolder(Path(arg).expanduser(), resolution, seed, preset, cutout)
        return _cifar(name, Path(arg).expanduser(), resolution, seed, preset, cutout)
    raise DataError(
        f"unknown dataset {spec!r}",
        "pass digits, synthetic, cifar10:PATH, cifar100:PATH or imagefolder:PATH",
    )


def load_for_space(spec: str, space, seed: int = 0, augment: str = "none",
                   cutout: int = 0) -> DataBundle:
    """``load_data`` at the space's resolution, refusing more classes than the space outputs."""
    data = load_data(spec, space.resolution, seed, augment, cutout)
    if data.num_classes > space.num_classes:
        raise DataError(f"dataset {data.name} has {data.num_classes} classes but space "
                        f"{space.name} has {space.num_classes} outputs",
                        "use a space spec with enough num_classes")
    return data

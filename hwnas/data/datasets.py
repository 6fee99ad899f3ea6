"""Dataset loading with deterministic train / validation / test splits.

Validation is the split for architecture decisions (search, model selection) and never
overlaps test. Nothing is ever downloaded: folders must already hold the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from hwnas.errors import DataError

_MEAN, _STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class DataBundle:
    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    resolution: int

    def loader(self, split: str, batch_size: int, generator: torch.Generator | None = None,
               shuffle: bool | None = None) -> DataLoader:
        dataset = {"train": self.train, "val": self.val, "test": self.test}[split]
        shuffle = split == "train" if shuffle is None else shuffle
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          drop_last=False)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, ...]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(n * fractions[0])), int(round(n * fractions[1]))
    return perm[n_val + n_test:], perm[:n_val], perm[n_val:n_val + n_test]


def _digits(resolution: int, seed: int) -> DataBundle:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(resolution, resolution), mode="bilinear",
                                        align_corners=False)
    x = ((x - 0.5) / 0.25).repeat(1, 3, 1, 1)
    y = torch.tensor(raw.target, dtype=torch.long)
    train, val, test = _split_indices(len(y), (0.2, 0.2), seed)
    return DataBundle(
        "digits", TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val]),
        TensorDataset(x[test], y[test]), 10, resolution,
    )


def _synthetic(resolution: int, seed: int, n: int = 600, classes: int = 10) -> DataBundle:
    """Learnable random data: each class is a fixed random pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(classes, 3, resolution, resolution, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    x = patterns[y] + 0.8 * torch.randn(n, 3, resolution, resolution, generator=g)
    train, val, test = _split_indices(n, (0.2, 0.2), seed)
    return DataBundle(
        "synthetic", TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val]),
        TensorDataset(x[test], y[test]), classes, resolution,
    )


def _transform(resolution: int):
    from torchvision import transforms

    return transforms.Compose([
        transforms.Resize((resolution, resolution)), transforms.ToTensor(),
        transforms.Normalize(_MEAN, _STD),
    ])


def _require_dir(path: Path, kind: str, what: str) -> None:
    if not path.is_dir():
        raise DataError(f"dataset folder {path} does not exist", f"pass {kind}:PATH where PATH {what}")


def _cifar(name: str, path: Path, resolution: int, seed: int) -> DataBundle:
    from hwnas.data.cifar import LAYOUTS, CifarArrays, read_cifar

    layout = LAYOUTS[name]
    _require_dir(path, name, f"holds {layout.python_dir}/ or {layout.binary_dir}/")
    train_x, train_y, test_x, test_y = read_cifar(path, name)
    full = CifarArrays(train_x, train_y, resolution, _MEAN, _STD)
    test = CifarArrays(test_x, test_y, resolution, _MEAN, _STD)
    # validation (architecture decisions) is carved from the training images, never from test
    train_idx, val_idx, _ = _split_indices(len(full), (0.1, 0.0), seed)
    return DataBundle(name, Subset(full, train_idx.tolist()), Subset(full, val_idx.tolist()),
                      test, layout.classes, resolution)


def _imagefolder(path: Path, resolution: int, seed: int) -> DataBundle:
    from torchvision.datasets import ImageFolder

    _require_dir(path, "imagefolder", "holds one sub-folder per class (or train/ val/ test/)")
    tf = _transform(resolution)
    try:
        if (path / "train").is_dir() and ((path / "val").is_dir() or (path / "test").is_dir()):
            train = ImageFolder(str(path / "train"), transform=tf)
            held = ImageFolder(str(path / ("val" if (path / "val").is_dir() else "test")), transform=tf)
            if (path / "val").is_dir() and (path / "test").is_dir():
                test: Dataset = ImageFolder(str(path / "test"), transform=tf)
                return DataBundle("imagefolder", train, held, test, len(train.classes), resolution)
            val_idx, _, test_idx = _split_indices(len(held), (0.0, 0.5), seed)
            return DataBundle("imagefolder", train, Subset(held, val_idx.tolist()),
                              Subset(held, test_idx.tolist()), len(train.classes), resolution)
        full = ImageFolder(str(path), transform=tf)
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"no images found under {path}: {exc}".replace("\n", " "),
                        "pass a folder with one sub-folder of images per class") from None
    train_idx, val_idx, test_idx = _split_indices(len(full), (0.15, 0.15), seed)
    return DataBundle("imagefolder", Subset(full, train_idx.tolist()), Subset(full, val_idx.tolist()),
                      Subset(full, test_idx.tolist()), len(full.classes), resolution)


def load_data(spec: str, resolution: int, seed: int = 0) -> DataBundle:
    """Load ``digits``, ``synthetic``, ``cifar10:PATH``, ``cifar100:PATH`` or ``imagefolder:PATH``.

    ``seed`` fixes the split; the same seed always gives the same split.
    """
    name, _, arg = spec.partition(":")
    if name == "digits":
        return _digits(resolution, seed)
    if name == "synthetic":
        return _synthetic(resolution, seed)
    if name in ("cifar10", "cifar100", "imagefolder"):
        if not arg:
            raise DataError(f"dataset {name!r} needs a folder", f"pass {name}:PATH")
        if name == "imagefolder":
            return _imagefolder(Path(arg).expanduser(), resolution, seed)
        return _cifar(name, Path(arg).expanduser(), resolution, seed)
    raise DataError(
        f"unknown dataset {spec!r}",
        "pass digits, synthetic, cifar10:PATH, cifar100:PATH or imagefolder:PATH",
    )


def load_for_space(spec: str, space, seed: int = 0) -> DataBundle:
    """``load_data`` at the space's resolution, refusing more classes than the space outputs."""
    data = load_data(spec, space.resolution, seed)
    if data.num_classes > space.num_classes:
        raise DataError(f"dataset {data.name} has {data.num_classes} classes but space "
                        f"{space.name} has {space.num_classes} outputs",
                        "use a space spec with enough num_classes")
    return data

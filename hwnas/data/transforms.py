"""Augmentation presets and per-dataset normalisation.

Each split gets its own transform, so augmentation reaches the training split only, even when
train and validation are index subsets of one underlying dataset. Validation (architecture
decisions) and test are never augmented.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from hwnas.errors import DataError

# "shift": cifar's pad-and-crop without its flip, for images a mirror changes (digits, text)
PRESETS = ("none", "cifar", "shift", "imagenet", "auto")

# Channel statistics of the training images each family is usually normalised with.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALISATION = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
                 "imagefolder": (IMAGENET_MEAN, IMAGENET_STD)}

# ImageNet's evaluation habit: resize the short side to resolution / 0.875, then centre-crop.
_EVAL_CROP = 0.875


def resolve_preset(preset: str, dataset: str) -> str:
    """``auto`` -> the preset that fits the dataset family (none for digits / synthetic)."""
    if preset not in PRESETS:
        raise DataError(f"unknown augmentation {preset!r}", f"pass one of {', '.join(PRESETS)}")
    if preset != "auto":
        return preset
    return {"cifar10": "cifar", "cifar100": "cifar", "imagefolder": "imagenet"}.get(dataset, "none")


class Cutout:
    """Zero one random ``size`` x ``size`` square of a CHW tensor (DeVries & Taylor, 2017)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        y0, y1 = max(cy - self.size // 2, 0), min(cy + self.size // 2, h)
        x0, x1 = max(cx - self.size // 2, 0), min(cx + self.size // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = 0.0
        return x


def tensor_transforms(preset: str, resolution: int, mean, std, cutout: int = 0
                      ) -> tuple[Callable | None, Callable | None]:
    """(train, eval) transforms for CHW float images in [0, 1] (CIFAR arrays).

    ``mean`` / ``std`` None: the tensors are already normalised (digits, synthetic); the
    augmentation then runs on them directly (padding fills with 0, the normalised mean).
    """
    from torchvision import transforms as T

    norm = [T.Normalize(mean, std)] if mean is not None else []
    evaluate = T.Compose(norm) if norm else None
    if preset == "none":
        return evaluate, evaluate
    if preset in ("cifar", "shift"):
        aug = [T.RandomCrop(resolution, padding=max(1, resolution // 8))]
        aug += [T.RandomHorizontalFlip()] if preset == "cifar" else []
    else:
        aug = [T.RandomResizedCrop(resolution, antialias=True), T.RandomHorizontalFlip()]
    train = [*aug, *norm]
    if cutout:
        train.append(Cutout(cutout))  # after normalisation: the cut square is the mean colour
    return T.Compose(train), evaluate


def pil_transforms(preset: str, resolution: int, mean, std) -> tuple[Callable, Callable]:
    """(train, eval) transforms for PIL images (imagefolder).

    Evaluation is the same for every preset - resize the short side to resolution / 0.875,
    centre-crop - so runs with and without augmentation are scored on identical tensors.
    """
    from torchvision import transforms as T

    tail = [T.ToTensor(), T.Normalize(mean, std)]
    view = [T.Resize(int(round(resolution / _EVAL_CROP))), T.CenterCrop(resolution)]
    evaluate = T.Compose([*view, *tail])
    if preset == "imagenet":
        return T.Compose([T.RandomResizedCrop(resolution), T.RandomHorizontalFlip(), *tail]), evaluate
    if preset in ("cifar", "shift"):
        flip = [T.RandomHorizontalFlip()] if preset == "cifar" else []
        return T.Compose([*view, T.RandomCrop(resolution, padding=max(1, resolution // 8)),
                          *flip, *tail]), evaluate
    return evaluate, evaluate


class Split(Dataset):
    """Items ``indices`` of ``base`` (all when None) with this split's own ``transform``.

    ``base`` returns untransformed (image, label) pairs; two splits over one base can then
    differ in augmentation without sharing state.
    """

    def __init__(self, base: Dataset, indices, transform: Callable | None):
        self.base = base
        self.indices = None if indices is None else [int(i) for i in indices]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base) if self.indices is None else len(self.indices)

    def __getitem__(self, i: int):
        x, y = self.base[i if self.indices is None else self.indices[i]]
        return (self.transform(x) if self.transform is not None else x), y

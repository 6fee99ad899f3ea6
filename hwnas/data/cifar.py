"""CIFAR-10 / CIFAR-100 from the folders their publishers distribute, read without unsafe pickles.

Two layouts are read, never downloaded:

- the *binary* version (``cifar-10-batches-bin/``, ``cifar-100-binary/``): fixed-size records of
  label byte(s) + 3,072 pixel bytes, read with numpy alone;
- the *python* version (``cifar-10-batches-py/``, ``cifar-100-python/``): pickles. They are read
  by an unpickler that admits numpy's array reconstruction and plain containers only; any other
  global (a function, a class) is refused before it is looked up, so a crafted batch file cannot
  run code. This is the one place hwnas reads a pickle format.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hwnas.errors import DataError

PIXELS = 3 * 32 * 32

# Exactly what numpy needs to rebuild an ndarray from a pickle (numpy 1.x and 2.x module names);
# ``_codecs.encode`` turns text back into bytes in protocol-2 pickles written by Python 3 (it
# runs a text codec, nothing else; torch's weights-only loader admits it for the same reason).
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


@dataclass(frozen=True)
class CifarLayout:
    name: str
    classes: int
    python_dir: str
    python_train: tuple[str, ...]
    python_test: str
    label_key: bytes
    binary_dir: str
    binary_train: tuple[str, ...]
    binary_test: str
    label_bytes: int  # CIFAR-100 records carry (coarse, fine); the fine label is the last byte


LAYOUTS = {
    "cifar10": CifarLayout("cifar10", 10, "cifar-10-batches-py",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels",
                           "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                           "test_batch.bin", 1),
    "cifar100": CifarLayout("cifar100", 100, "cifar-100-python", ("train",), "test", b"fine_labels",
                            "cifar-100-binary", ("train.bin",), "test.bin", 2),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _read_python_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnly(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:
        raise DataError(f"CIFAR batch {path} cannot be read safely: {str(exc).splitlines()[0]}",
                        "replace it with the file as distributed (hwnas reads only arrays and "
                        "labels from it)") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataError(f"CIFAR batch {path} lacks {label_key.decode()!r} or 'data'",
                        "replace it with the file as distributed")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS or len(labels) != len(data):
        raise DataError(f"CIFAR batch {path} holds data of shape {data.shape} / {data.dtype} with "
                        f"{len(labels)} labels, not N x {PIXELS} uint8 with N labels",
                        "replace it with the file as distributed")
    return data, labels.astype(np.int64)


def _read_binary_batch(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + PIXELS
    if raw.size == 0 or raw.size % record:
        raise DataError(f"CIFAR binary batch {path} has {raw.size} bytes, not a multiple of the "
                        f"{record}-byte record", "replace it with the file as distributed")
    rows = raw.reshape(-1, record)
    return rows[:, label_bytes:].copy(), rows[:, label_bytes - 1].astype(np.int64)


def read_cifar(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels); images are N x 3,072 uint8."""
    layout = LAYOUTS[name]
    py_dir, bin_dir = root / layout.python_dir, root / layout.binary_dir
    if (py_dir).is_dir():
        folder, files, test, read = py_dir, layout.python_train, layout.python_test, (
            lambda p: _read_python_batch(p, layout.label_key))
    elif (bin_dir).is_dir():
        folder, files, test, read = bin_dir, layout.binary_train, layout.binary_test, (
            lambda p: _read_binary_batch(p, layout.label_bytes))
    else:
        raise DataError(f"no {name} data in {root}: neither {layout.python_dir}/ nor "
                        f"{layout.binary_dir}/ is there",
                        f"pass the folder that holds {layout.python_dir}/ (hwnas never downloads)")
    missing = [f for f in (*files, test) if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}",
                        "restore the complete folder as distributed")
    parts = [read(folder / f) for f in files]
    test_x, test_y = read(folder / test)
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    for labels, what in ((train_y, "training"), (test_y, "test")):
        if labels.size and (labels.min() < 0 or labels.max() >= layout.classes):
            raise DataError(f"{folder}: {what} labels outside 0..{layout.classes - 1}",
                            "replace the files with those distributed")
    return train_x, train_y, test_x, test_y


class CifarArrays(Dataset):
    """Images kept as uint8 (a quarter of the float memory); items are CHW floats in [0, 1].

    Normalisation and augmentation are the split's transform (``hwnas.data.transforms.Split``),
    so a training and a validation split over the same arrays can differ.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, resolution: int):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).view(-1, 3, 32, 32)
        self.labels = torch.from_numpy(labels)
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float() / 255.0
        if self.resolution != 32:
            x = torch.nn.functional.interpolate(x[None], size=(self.resolution, self.resolution),
                                                mode="bilinear", antialias=True,
                                                align_corners=False)[0]
        return x, self.labels[i]

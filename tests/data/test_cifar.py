"""CIFAR folders (python and binary versions) read without running code from the files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.data import load_data
from hwnas.data.transforms import CIFAR10_MEAN, CIFAR10_STD
from hwnas.errors import DataError


def _images(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, n)]


def _python_cifar10(root: Path, per_batch: int = 6) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    made = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data, labels = _images(per_batch, i)
        made[name] = (data, labels)
        with open(folder / name, "wb") as fh:  # the publisher's shape: bytes keys, protocol 2
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data,
                         b"filenames": [b"f"] * per_batch}, fh, protocol=2)
    return made


def test_python_cifar10_reads_pixels_and_labels_exactly(tmp_path):
    made = _python_cifar10(tmp_path)
    data = load_data(f"cifar10:{tmp_path}", 32, seed=0)
    assert data.num_classes == 10 and data.sizes() == {"train": 27, "val": 3, "test": 6}
    x, y = data.test[2]
    img, label = made["test_batch"][0][2], made["test_batch"][1][2]
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    expected = (torch.tensor(img, dtype=torch.float32).view(3, 32, 32) / 255 - mean) / std
    assert torch.allclose(x, expected) and int(y) == label
    # train and validation come from the training batches only, disjoint
    train_idx = set(data.train.indices)
    assert not train_idx & set(data.val.indices) and len(train_idx | set(data.val.indices)) == 30


def test_resolution_is_applied(tmp_path):
    _python_cifar10(tmp_path)
    x, _ = load_data(f"cifar10:{tmp_path}", 16).train[0]
    assert tuple(x.shape) == (3, 16, 16)


def test_binary_cifar100_uses_the_fine_label(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, n in (("train.bin", 20), ("test.bin", 4)):
        rows = np.zeros((n, 2 + 3072), dtype=np.uint8)
        rows[:, 0] = 3                      # coarse label
        rows[:, 1] = np.arange(n) % 100     # fine label
        rows[:, 2:] = 7
        rows.tofile(folder / name)
    data = load_data(f"cifar100:{tmp_path}", 32)
    assert data.num_classes == 100
    labels = sorted(int(data.test[i][1]) for i in range(4))
    assert labels == [0, 1, 2, 3]


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_batch_cannot_run_code(tmp_path):
    _python_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as fh:
        pickle.dump({b"labels": [1], b"data": _Evil(marker)}, fh, protocol=2)
    with pytest.raises(DataError) as err:
        load_data(f"cifar10:{tmp_path}", 32)
    assert "data_batch_3" in str(err.value) and "refused global" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("layout, says", [
    ("none", "neither cifar-10-batches-py/"),
    ("missing", "lacks test_batch"),
    ("shape", "not N x 3072 uint8"),
])
def test_broken_folders_get_one_line(tmp_path, layout, says):
    if layout != "none":
        _python_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    if layout == "missing":
        (folder / "test_batch").unlink()
    if layout == "shape":
        with open(folder / "data_batch_1", "wb") as fh:
            pickle.dump({b"labels": [1, 2], b"data": np.zeros((2, 100), np.uint8)}, fh)
    with pytest.raises(DataError, match=says):
        load_data(f"cifar10:{tmp_path}", 32)

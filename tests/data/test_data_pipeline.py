"""Data pipelines: augmentation on the training split only, seeded workers, imagefolder errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.data import load_data
from hwnas.errors import DataError
from hwnas.nn import build_model


def _cifar10(root: Path, per_batch: int = 8) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"labels": [int(v) for v in rng.integers(0, 10, per_batch)], b"data": data},
                        fh, protocol=2)


def _all(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def _images(root: Path, classes: int = 2, per_class: int = 6, size: int = 20) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"img{i}.png")


@pytest.mark.parametrize("kind", ["cifar10", "digits", "imagefolder"])
def test_augmentation_reaches_the_training_split_only(tmp_path, kind):
    if kind == "cifar10":
        _cifar10(tmp_path)
        spec, preset = f"cifar10:{tmp_path}", "cifar"
    elif kind == "imagefolder":
        _images(tmp_path)
        spec, preset = f"imagefolder:{tmp_path}", "imagenet"
    else:
        spec, preset = "digits", "cifar"
    plain = load_data(spec, 16, seed=0, augment="none")
    augmented = load_data(spec, 16, seed=0, augment=preset)
    assert augmented.augment == preset and plain.augment == "none"
    for split in ("val", "test"):  # architecture decisions and the final score: never augmented
        assert torch.equal(_all(getattr(plain, split)), _all(getattr(augmented, split)))
    torch.manual_seed(0)
    assert not torch.equal(_all(plain.train), _all(augmented.train))
    assert _all(augmented.train).shape == _all(plain.train).shape


def _ramp_views(kind: str, preset: str, count: int = 40) -> list[torch.Tensor]:
    """``count`` training views of a left-to-right ramp through ``preset``."""
    from hwnas.data.transforms import pil_transforms, tensor_transforms

    ramp = torch.linspace(0.1, 1, 16).repeat(3, 16, 1)
    torch.manual_seed(0)
    if kind == "digits":
        train, _ = tensor_transforms(preset, 16, None, None)
        return [train(ramp) for _ in range(count)]
    from PIL import Image

    image = Image.fromarray((ramp.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    train, _ = pil_transforms(preset, 16, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return [train(image) for _ in range(count)]


def _increasing(view: torch.Tensor) -> bool:
    row = view[0, 8]
    inside = row[row > 0]  # padding is 0 (the normalised mean for tensors, black for images)
    return bool(torch.all(inside[1:] >= inside[:-1]))


@pytest.mark.parametrize("kind", ["digits", "imagefolder"])
def test_shift_crops_like_cifar_but_never_mirrors(kind):
    shift = _ramp_views(kind, "shift")
    assert all(_increasing(v) for v in shift)  # a mirror would reverse the ramp
    assert any(not torch.allclose(v, shift[0]) for v in shift)  # it does crop at random
    assert not all(_increasing(v) for v in _ramp_views(kind, "cifar"))  # cifar does mirror


def test_auto_picks_the_preset_of_the_dataset(tmp_path):
    _cifar10(tmp_path)
    assert load_data(f"cifar10:{tmp_path}", 32, augment="auto").augment == "cifar"
    assert load_data("synthetic", 8, augment="auto").augment == "none"


def test_cutout_zeroes_a_square_of_the_training_images(tmp_path):
    _cifar10(tmp_path)
    data = load_data(f"cifar10:{tmp_path}", 32, augment="cifar", cutout=8)
    torch.manual_seed(0)
    x = _all(data.train)
    # a cut square is exactly 0 on all three channels; real (normalised) pixels almost never are
    zero = (x == 0).all(dim=1).flatten(1).sum(1)
    assert (zero >= 16).float().mean() > 0.9


def test_cifar_uses_cifar_statistics(tmp_path):
    _cifar10(tmp_path)
    data = load_data(f"cifar10:{tmp_path}", 32)
    raw = data.test.base[0][0]
    assert torch.allclose(data.test[0][0][0], (raw[0] - 0.4914) / 0.2470)


def _batches(data, seed: int, workers: int) -> list[torch.Tensor]:
    loader = data.loader("train", 8, torch.Generator().manual_seed(seed), workers=workers)
    return [x for x, _ in loader]


@pytest.mark.integration
def test_seeded_workers_give_identical_batches(tmp_path):
    data = load_data("digits", 16, seed=0, augment="cifar", cutout=4)
    first, second = _batches(data, 3, 2), _batches(data, 3, 2)
    assert len(first) == len(second) > 10
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    other = _batches(data, 4, 2)
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_negative_workers_are_refused():
    with pytest.raises(DataError, match="workers must be >= 0"):
        load_data("synthetic", 8).loader("train", 4, workers=-1)


def test_imagefolder_layouts(tmp_path):
    for split in ("train", "test"):
        _images(tmp_path / "two" / split, per_class=4)
    data = load_data(f"imagefolder:{tmp_path / 'two'}", 16)
    assert data.sizes() == {"train": 8, "val": 4, "test": 4}
    assert data.num_classes == 2 and tuple(data.val[0][0].shape) == (3, 16, 16)
    _images(tmp_path / "flat", per_class=10)
    flat = load_data(f"imagefolder:{tmp_path / 'flat'}", 16)
    assert sum(flat.sizes().values()) == 20 and flat.sizes()["val"] == 3


@pytest.mark.parametrize("make, says", [
    (lambda root: (root / "train").mkdir(parents=True), "holds train/ but not"),
    (lambda root: root.mkdir(), "no class folders with images"),
    (lambda root: None, "does not exist"),
])
def test_imagefolder_without_the_layout_is_refused(tmp_path, make, says):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(DataError, match=says) as err:
        load_data(f"imagefolder:{root}", 16)
    assert "\n" not in str(err.value)


def test_a_corrupt_image_is_named(tmp_path):
    _images(tmp_path, per_class=10)
    bad = tmp_path / "class1" / "img3.png"
    bad.write_bytes(b"not a png at all")
    data = load_data(f"imagefolder:{tmp_path}", 16)
    with pytest.raises(DataError, match="img3.png cannot be decoded"):
        for split in ("train", "val", "test"):
            for _ in data.loader(split, 4, workers=0):
                pass


@pytest.mark.integration
def test_a_corrupt_image_in_a_loader_worker_is_one_line(tmp_path):
    from hwnas.testing.fixtures import tiny_space
    from hwnas.train import TrainConfig, seeded, train_model

    _images(tmp_path, per_class=10)
    for name in ("img0", "img1", "img2", "img4", "img5", "img6", "img7", "img8", "img9"):
        (tmp_path / "class1" / f"{name}.png").write_bytes(b"\x89PNG truncated")  # hit in any split
    space = tiny_space()
    model = seeded(0, lambda: build_model(space, space.sample(np.random.default_rng(0))))
    data = load_data(f"imagefolder:{tmp_path}", space.resolution)
    with pytest.raises(DataError) as err:
        train_model(model, data, TrainConfig(epochs=1, batch_size=4, workers=2, threads=1), progress=False)
    assert "cannot be decoded" in str(err.value) and "class1" in str(err.value)
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)

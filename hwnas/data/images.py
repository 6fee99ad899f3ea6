"""``imagefolder:PATH``: flat (one sub-folder per class), ``train/ val/ test/`` or ``train/ test/``.

Images are decoded lazily, one per item; a file that cannot be decoded raises a DataError that
names it instead of a PIL traceback from inside a loader worker.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from hwnas.errors import DataError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT_HINT = ("PATH must hold one sub-folder of images per class, or train/ and test/ "
               "(optionally val/) folders that each hold one sub-folder per class")


def _load_rgb(path: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as fh:
            img = Image.open(fh)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"image {path} cannot be decoded ({type(exc).__name__})",
                        "remove or replace the corrupt file") from None


class ImageFiles(Dataset):
    """(PIL image, class index) pairs of a class-per-folder tree; no transform of its own."""

    def __init__(self, root: Path):
        from torchvision.datasets import ImageFolder

        try:
            folder = ImageFolder(str(root), loader=_load_rgb,
                                 is_valid_file=lambda p: p.lower().endswith(_IMAGE_SUFFIXES))
        except (FileNotFoundError, RuntimeError) as exc:
            raise DataError(f"no class folders with images under {root} "
                            f"({str(exc).splitlines()[0]})", LAYOUT_HINT) from None
        self.samples = folder.samples
        self.classes = folder.classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        return _load_rgb(path), label


def find_layout(path: Path) -> dict[str, Path | None]:
    """{"train", "val", "test"} folders of an imagefolder root (None where absent; flat: all None)."""
    if not path.is_dir():
        raise DataError(f"dataset folder {path} does not exist", f"pass imagefolder:PATH where {LAYOUT_HINT}")
    parts = {name: (path / name if (path / name).is_dir() else None) for name in ("train", "val", "test")}
    if parts["train"] is not None and (parts["val"] or parts["test"]):
        return parts
    if parts["train"] is not None or parts["test"] is not None or parts["val"] is not None:
        present = "/ ".join(n for n, p in parts.items() if p) + "/"
        raise DataError(f"{path} holds {present} but not a train/ with a test/ or val/ next to it",
                        LAYOUT_HINT)
    return parts

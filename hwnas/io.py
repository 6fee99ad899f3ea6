"""Atomic file writes and safe loads: JSON for tables and results, weights-only torch files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _jsonable(obj.item())
    return obj


def write_json(path: Path | str, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically (temp file + rename): a crash never leaves half a file."""
    text = json.dumps(_jsonable(obj), indent=indent, sort_keys=False)
    _atomic_write_bytes(Path(path), (text + "\n").encode())


def write_text(path: Path | str, text: str) -> None:
    _atomic_write_bytes(Path(path), text.encode())


def write_bytes(path: Path | str, data: bytes) -> None:
    _atomic_write_bytes(Path(path), data)


def read_json(path: Path | str, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"{what} {path} does not exist", "check the path")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HwnasError(f"{what} {path} is not valid JSON: {exc}", "regenerate it") from None


def append_jsonl(path: Path | str, record: dict) -> None:
    """Append one JSON line and fsync; a torn last line is skipped by :func:`read_jsonl`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(_jsonable(record)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path | str) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a kill mid-write
    return records


def save_weights(path: Path | str, state: dict) -> None:
    import io as _io

    import torch

    buffer = _io.BytesIO()
    torch.save(state, buffer)
    _atomic_write_bytes(Path(path), buffer.getvalue())


def load_weights(path: Path | str) -> dict:
    """Load a state dict without unpickling arbitrary objects (``weights_only=True``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"weights file {path} does not exist", "check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise HwnasError(f"weights file {path} cannot be loaded safely: {exc}".splitlines()[0]) from None

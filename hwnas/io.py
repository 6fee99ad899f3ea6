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
    """The process's umask now. Linux reports it in /proc/self/status; setting and restoring it
    (the portable way) would briefly give other threads' new files the wrong mode."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Nesting deeper than this is refused before parsing: hwnas's own files nest a few levels, and a
# hostile file of 100,000 brackets would otherwise end in a RecursionError deep inside ``json``.
MAX_JSON_DEPTH = 64


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.hwnas-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files a killed writer of ``path`` left behind (their writer's PID is dead).

    Temp names carry the writer's PID, so a temp file of a writer that is still running is kept.
    """
    removed = []
    prefix = _temp_prefix(path)
    try:
        siblings = list(path.parent.glob(f"{glob_escape(prefix)}*.tmp"))
    except OSError:
        return removed
    for tmp in siblings:
        pid_text = tmp.name[len(prefix):].split(".", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600: give the usual mode
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


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a linear scan; no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def loads_json(text: str, where: str, error: type[HwnasError] = HwnasError) -> Any:
    """Parse JSON text strictly: finite numbers only, bounded nesting; ``error`` otherwise."""
    fix = "regenerate it, or fix the file by hand"
    if _nesting_depth(text) > MAX_JSON_DEPTH:
        raise error(f"{where} nests deeper than {MAX_JSON_DEPTH} levels", fix)
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise error(f"{where} nests too deeply", fix) from None
    except ValueError as exc:
        raise error(f"{where} is not valid JSON: {exc}", fix) from None


def read_json(path: Path | str, what: str = "file", error: type[HwnasError] = HwnasError) -> Any:
    """Read a JSON file strictly (see :func:`loads_json`); problems raise ``error``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist", "check the path")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text", "regenerate it") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}", "check the path") from None
    return loads_json(text, f"{what} {path}", error)


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
    fix = "pass a weights.pt written by hwnas (or torch.save of a state dict of tensors)"
    if path.stat().st_size == 0:
        raise HwnasError(f"weights file {path} is empty", fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise HwnasError(f"weights file {path} cannot be loaded safely: {_weights_reason(exc)}",
                         fix) from None


def _weights_reason(exc: Exception) -> str:
    """One line on why, without torch's advice to turn the safety check off."""
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "Unpickler" in text:
        return ("it holds Python objects other than tensors, which hwnas refuses to unpickle "
                "(weights_only=True)")
    if "zip archive" in text or "miniz" in text or "central directory" in text:
        # torch's own text for this case runs to five sentences of advice
        return "it is not a complete torch file (truncated or not written by torch.save)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first or f"{type(exc).__name__} while reading it (not a torch file?)"

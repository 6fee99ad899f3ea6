"""Tables shipped inside the wheel (package ``latency_tables``), found via importlib.resources.

A shipped name is ``<device>/<file stem>``, e.g. ``pixel3/latency-fbnet-cifar100``. ``--lut``
accepts either a file path or such a name (:func:`resolve_table`). Shipped tables are read-only:
commands that change a table (``lut validate --calibrate``) write a copy (:func:`is_shipped`).
Every ``.json`` directly in a device folder is listed (``hwnas lut list``); int8 tables are named
``<runtime>-int8-<space>`` (their ``meta.dtype`` is what counts), validation figures live in the
device's ``validation/`` folder, which is not listed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hwnas.errors import TableError
from hwnas.latency.table import LatencyTable


def _root():
    return resources.files("latency_tables")


def shipped_names() -> list[str]:
    names = []
    for device in sorted(_root().iterdir(), key=lambda p: p.name):
        if device.is_dir() and not device.name.startswith(("_", ".")):
            files = sorted(device.iterdir(), key=lambda p: p.name)
            names.extend(f"{device.name}/{f.name[:-5]}" for f in files if f.name.endswith(".json"))
    return names


def table_path(name: str) -> Path:
    """Filesystem path of shipped table ``name`` (``device/stem``, ``.json`` optional)."""
    stem = name[:-5] if name.endswith(".json") else name
    parts = stem.split("/")
    if len(parts) != 2 or not all(parts):
        raise TableError(f"{name!r} is not a shipped table name (device/table)",
                         f"use a file path or one of: {', '.join(shipped_names())}")
    ref = _root().joinpath(parts[0], parts[1] + ".json")
    if not ref.is_file():
        raise TableError(f"no shipped table named {name!r}",
                         f"use a file path or one of: {', '.join(shipped_names())}")
    return Path(str(ref))


def resolve_table(spec: str | Path) -> Path:
    """``--lut`` value -> a table file: an existing path wins, else a shipped name."""
    path = Path(spec)
    if path.is_file():
        return path
    try:
        return table_path(str(spec))
    except TableError:
        raise TableError(f"latency table {str(spec)!r} does not exist as a file nor as a shipped table name",
                         f"pass an existing file or one of: {', '.join(shipped_names())}") from None


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is (or would be) a file inside the shipped tables: those are read-only."""
    root = Path(str(_root())).resolve()
    return Path(path).resolve().is_relative_to(root)


def load_table(spec: str | Path) -> LatencyTable:
    """Load a table given a path or a shipped name."""
    return LatencyTable.load(resolve_table(spec))

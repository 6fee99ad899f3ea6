"""``LatencyTable``: per-op statistics plus the metadata that says what they were measured on.

On disk a table is JSON (never a pickle) with a schema version::

    {"schema_version": 1,
     "meta": {device_name, device_detail, runtime, runtime_version, torch_version, threads,
              batch, dtype, resolution, space, space_fingerprint, created, hwnas_version,
              metric, unit, protocol{...}, source},
     "entries": {"<op key>": {"p50": ms, "p10": ms, "p90": ms, "mean": ms, "std": ms, "n": runs}},
     "calibration": null | {...}}

Op keys are :attr:`hwnas.space.OpSpec.key` (HW-NAS-Bench style, shapes in the key). The fixed
parts (stem, head, pooling, classifier) are entries like any other. A prediction is the sum of
the p50 of every op the arch runs, then the calibration (a typed
:class:`~hwnas.latency.calibration.Calibration`) if the table carries one; it is priced by the
table's :class:`~hwnas.latency.cost.CostModel` (:meth:`LatencyTable.cost_model`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hwnas.errors import TableError
from hwnas.io import read_json, write_json
from hwnas.latency.calibration import Calibration
from hwnas.latency.cost import CostModel, priced_costs
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.base import SearchSpace

SCHEMA_VERSION = 1
_STAT_FIELDS = ("p50", "p10", "p90", "mean", "std")


@dataclass(frozen=True)
class OpStats:
    """Statistics of one op's timed runs, in the table's unit (ms, or mJ for energy)."""

    p50: float
    p10: float
    p90: float
    mean: float
    std: float
    n: int

    @classmethod
    def single(cls, value: float) -> OpStats:
        """A published value with no spread (n = 0 marks it as not measured here)."""
        return cls(value, value, value, value, 0.0, 0)


@dataclass(frozen=True)
class TableMeta:
    device_name: str
    runtime: str
    space: str
    space_fingerprint: str
    resolution: int
    device_detail: str = ""
    runtime_version: str = ""
    torch_version: str = ""
    threads: int = 1
    batch: int = 1
    dtype: str = "float32"
    created: str = ""
    hwnas_version: str = ""
    metric: str = "latency"
    unit: str = "ms"
    protocol: dict = field(default_factory=dict)
    source: str = "measured"


@dataclass(frozen=True)
class LatencyTable:
    meta: TableMeta
    entries: dict[str, OpStats]
    calibration: Calibration | None = None
    # cost models already built, per space object (not an init field: ``replace`` starts afresh)
    _cost_models: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # --- lookup ----------------------------------------------------------------------------
    def value(self, op: OpSpec | str) -> float:
        key = op if isinstance(op, str) else op.key
        return self.entries[key].p50

    def missing(self, ops: list[OpSpec]) -> list[str]:
        return sorted({op.key for op in ops if op.key not in self.entries})

    def require(self, space: SearchSpace, ops: list[OpSpec] | None = None) -> None:
        """Raise ``TableError`` listing every missing op and the command that fills them."""
        self.check_space(space)
        missing = self.missing(space.all_ops() if ops is None else ops)
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise TableError(
                f"table lacks {len(missing)} op(s) of space {space.name}: {shown}",
                f"fill them with `hwnas profile --space {space.name} --runtime {self.meta.runtime} "
                f"--out TABLE.json` (it resumes an existing table)",
            )

    def check_space(self, space: SearchSpace) -> None:
        if self.meta.space != space.name:
            raise TableError(f"table was made for space {self.meta.space!r}, not {space.name!r}",
                             f"use a table for {space.name} or pass --space {self.meta.space}")
        have = self.meta.resolution
        if have != space.resolution:
            if not isinstance(have, int) or isinstance(have, bool):  # "32" would print as 32
                raise TableError(f"table meta.resolution is {have!r} ({type(have).__name__}), not a "
                                 f"whole number of pixels like space {space.name}'s {space.resolution}",
                                 "write it as a number without quotes, or profile the space again")
            raise TableError(f"table was made at resolution {have}, space {space.name} is at "
                             f"{space.resolution}", "profile the space again")

    def raw_sum(self, space: SearchSpace, arch: Arch) -> float:
        """The uncalibrated sum of p50s (what fidelity checks and calibration fits compare)."""
        ops = space.ops(arch)
        self.require(space, ops)
        return float(sum(self.entries[op.key].p50 for op in ops))

    def predict(self, space: SearchSpace, arch: Arch) -> float:
        """Predicted whole-network latency (or energy) of ``arch``: sum of p50s, calibrated."""
        return self.cost_model(space).price(arch)

    def cost_model(self, space: SearchSpace) -> CostModel:
        """Per-choice costs and fixed part of this table's prediction over ``space`` (cached).

        Raises ``TableError`` when the table was made for another space or lacks one of its ops.
        """
        model = self._cost_models.get(space)
        if model is None:
            self.require(space)
            model = priced_costs(space, {k: v.p50 for k, v in self.entries.items()},
                                 self.calibration, self.meta.unit)
            if len(self._cost_models) >= 8:  # a process sees a handful of spaces: stay bounded
                self._cost_models.clear()
            self._cost_models[space] = model
        return model

    # --- I/O --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": asdict(self.meta),
            "entries": {k: asdict(v) for k, v in sorted(self.entries.items())},
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    def save(self, path: Path | str) -> None:
        write_json(path, self.to_dict(), indent=1)

    def with_entries(self, entries: dict[str, OpStats]) -> LatencyTable:
        return replace(self, entries=dict(entries))

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "table") -> LatencyTable:
        return _validate(raw, origin)

    @classmethod
    def load(cls, path: Path | str) -> LatencyTable:
        raw = read_json(path, "latency table", TableError)
        return _validate(raw, str(path))


def _validate(raw: object, origin: str) -> LatencyTable:
    def bad(what: str) -> TableError:
        return TableError(f"latency table {origin}: {what}", "regenerate it with `hwnas profile`")

    if not isinstance(raw, dict):
        raise bad("top level is not a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise bad(f"schema_version {version!r} is not {SCHEMA_VERSION}")
    for part in ("meta", "entries"):
        if not isinstance(raw.get(part), dict):
            raise bad(f"missing or malformed {part!r}")
    meta_raw = dict(raw["meta"])
    required = ("device_name", "runtime", "space", "space_fingerprint", "resolution")
    absent = [k for k in required if k not in meta_raw]
    if absent:
        raise bad(f"meta lacks {', '.join(absent)}")
    known = set(TableMeta.__dataclass_fields__)
    try:
        meta = TableMeta(**{k: v for k, v in meta_raw.items() if k in known})
    except TypeError as exc:
        raise bad(f"malformed meta: {exc}") from None
    entries: dict[str, OpStats] = {}
    for key, stats in raw["entries"].items():
        if not isinstance(stats, dict) or any(f not in stats for f in (*_STAT_FIELDS, "n")):
            raise bad(f"entry {key!r} lacks one of {', '.join((*_STAT_FIELDS, 'n'))}")
        values = [stats[f] for f in _STAT_FIELDS]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0
               for v in values):
            raise bad(f"entry {key!r} has a negative, NaN or non-numeric value: {values}")
        try:
            OpSpec.from_key(key)
        except ValueError as exc:
            raise bad(str(exc)) from None
        entries[key] = OpStats(*(float(v) for v in values), int(stats["n"]))
    calibration = raw.get("calibration")
    if calibration is not None:
        try:
            calibration = Calibration.from_dict(calibration)
        except TableError as exc:
            raise TableError(f"latency table {origin}: {exc.message}", exc.fix) from None
    return LatencyTable(meta, entries, calibration)

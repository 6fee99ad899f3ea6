"""``LatencyTable``: per-op statistics plus the metadata that says what they were measured on.

On disk a table is JSON (never a pickle) with a schema version::

    {"schema_version": 1,
     "meta": {device_name, device_detail, runtime, runtime_version, torch_version, threads,
              batch, dtype, resolution, space, space_fingerprint, created, hwnas_version,
              metric, unit, protocol{...}, source},
     "entries": {"<op key>": {"p50": ms, "p10": ms, "p90": ms, "mean": ms, "std": ms, "n": runs}},
     "calibration": null | {...}}

Reading a table validates it against a pydantic schema (``_TableModel`` below, helpers in
:mod:`hwnas.schema`): strict types, finite non-negative statistics, typed protocol fields; any
violation is one ``TableError`` line naming the file and the field path. The validated model is
converted into the frozen dataclasses below, which are what the rest of hwnas uses.

Op keys are :attr:`hwnas.space.OpSpec.key` (HW-NAS-Bench style, shapes in the key). The fixed
parts (stem, head, pooling, classifier) are entries like any other. A prediction is the sum of
the p50 of every op the arch runs, then the calibration (a typed
:class:`~hwnas.latency.calibration.Calibration`) if the table carries one; it is priced by the
table's :class:`~hwnas.latency.cost.CostModel` (:meth:`LatencyTable.cost_model`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from hwnas.errors import TableError
from hwnas.io import read_json, write_json
from hwnas.latency.calibration import Calibration
from hwnas.latency.cost import CostModel, priced_costs
from hwnas.latency.machine import Provenance, compare_machine
from hwnas.schema import NonNegativeFloat, NonNegativeInt, PositiveInt, Strict, validate
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.base import SearchSpace

SCHEMA_VERSION = 1
_STAT_FIELDS = ("p50", "p10", "p90", "mean", "std")
#: number types a table's ops can be timed in (``meta.dtype``); tables older than int8 are float32
DTYPES = ("float32", "int8")
_DTYPE_ALIASES = {"fp32": "float32", "float32": "float32", "float": "float32", "int8": "int8"}


class DtypeMismatchError(TableError):
    """A table timed in one number type was asked to price another (fp32 table for an int8 net)."""


def normalize_dtype(name: str) -> str:
    """``fp32``/``float32`` -> ``float32``, ``int8`` -> ``int8``; anything else is one-line refused."""
    dtype = _DTYPE_ALIASES.get(str(name).lower())
    if dtype is None:
        raise TableError(f"unknown dtype {name!r}", f"use one of: {', '.join(DTYPES)} (fp32 = float32)")
    return dtype


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
    # the measuring host (hwnas.latency.machine.this_machine): kind, cpu, cores, host_id, gpu;
    # empty in tables made before it was recorded (and in published ones)
    host: dict = field(default_factory=dict)


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

    def require_dtype(self, dtype: str, name: str = "table") -> None:
        """Raise :class:`DtypeMismatchError` unless this table's ops were timed in ``dtype``:
        int8 and float32 kernels differ too much for one to price the other."""
        want, have = normalize_dtype(dtype), self.meta.dtype
        if have != want:
            raise DtypeMismatchError(
                f"{name} was timed in {have}, but a {want} model is being priced",
                f"use a {want} table (`hwnas profile --runtime onnxruntime --dtype {want}`)"
                + (" or drop --quantize" if want == "int8" else ""))

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

    def provenance(self, name: str, runtime_here: str | None = None) -> Provenance:
        """This table's recorded machine against this one (``name``: how to call the table in
        messages; ``runtime_here``: the runtime's version here, see
        :func:`~hwnas.latency.machine.compare_machine`). ``.warning()`` is the one line to show."""
        return compare_machine(self.meta, name, runtime_here)

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


# --- the on-disk schema (validated with pydantic, converted to the frozen types above) -------------
_REGENERATE = "regenerate it with `hwnas profile` (or fix the named field by hand)"


class _ProtocolModel(Strict):
    """How the entries were measured; the fields hwnas reads back are typed, the rest kept as is."""

    model_config = ConfigDict(extra="allow")
    # absent is fine (default None, left out of the dump); an explicit null is refused
    profile_seconds: NonNegativeFloat = None  # type: ignore[assignment]  # a resumed profile adds to it
    call_overhead_ms: NonNegativeFloat = None  # type: ignore[assignment]  # subtracted again on resume


class _HostModel(Strict):
    """Where the entries were measured (compared with this machine by hwnas.latency.machine)."""

    kind: Literal["cpu", "gpu", "remote"] = "cpu"
    cpu: str = ""
    cores: NonNegativeInt = 0
    host_id: str = ""
    gpu: str = ""


class _MetaModel(Strict):
    device_name: str
    runtime: str
    space: str
    space_fingerprint: str
    resolution: PositiveInt
    device_detail: str = ""
    runtime_version: str = ""
    torch_version: str = ""
    threads: PositiveInt = 1
    batch: PositiveInt = 1
    dtype: str = "float32"
    created: str = ""
    hwnas_version: str = ""
    metric: str = "latency"
    unit: str = "ms"
    protocol: _ProtocolModel = _ProtocolModel()  # a profile resume compares and extends it
    source: str = "measured"
    host: _HostModel = _HostModel()


class _EntryModel(Strict):
    p50: NonNegativeFloat
    p10: NonNegativeFloat
    p90: NonNegativeFloat
    mean: NonNegativeFloat
    std: NonNegativeFloat
    n: NonNegativeInt


class _TableModel(Strict):
    schema_version: Literal[1]
    meta: _MetaModel
    entries: dict[str, _EntryModel]
    calibration: Any = None  # Calibration.from_dict owns its rules (and its fix)


def _validate(raw: object, origin: str) -> LatencyTable:
    where = f"latency table {origin}"
    model = validate(_TableModel, raw, TableError, where, _REGENERATE)
    entries: dict[str, OpStats] = {}
    for key, stats in model.entries.items():
        try:
            OpSpec.from_key(key)
        except ValueError as exc:
            raise TableError(f"{where}: entries: {exc}", _REGENERATE) from None
        entries[key] = OpStats(*(float(getattr(stats, f)) for f in _STAT_FIELDS), stats.n)
    calibration = None
    if model.calibration is not None:
        try:
            calibration = Calibration.from_dict(model.calibration)
        except TableError as exc:
            raise TableError(f"{where}: {exc.message}", exc.fix) from None
    protocol = model.meta.protocol.model_dump(exclude_unset=True)
    host = model.meta.host.model_dump(exclude_unset=True)
    try:  # keys carry no dtype: the table's one dtype, checked wherever a model is priced, says it
        dtype = normalize_dtype(model.meta.dtype)
    except TableError as exc:
        raise TableError(f"{where}: meta.dtype: {exc.message}", exc.fix) from None
    meta = TableMeta(**{**model.meta.model_dump(exclude={"protocol", "host"}), "protocol": protocol,
                        "host": host, "dtype": dtype})
    return LatencyTable(meta, entries, calibration)

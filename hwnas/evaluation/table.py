"""Tabular evaluation: accuracy and latency/energy looked up in a CSV (a published benchmark).

The user names the columns: ``--arch-column arch --accuracy-column acc
--latency-column latency_ms``. Accuracy given in percent (any value above 1) is divided by 100;
values outside 0..100, negative latency or energy and conflicting duplicate rows are refused.
Without a latency column, latency comes from the latency table (``--lut``).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

from hwnas.errors import HwnasError, SpaceError
from hwnas.evaluation.base import Evaluator, arch_costs, load_lut
from hwnas.latency.cost import CostModel, LookupPrice
from hwnas.runs import Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class TableEvaluator(Evaluator):
    name = "table"

    def __init__(self, space: SearchSpace, path: str, arch_column: str = "arch",
                 accuracy_column: str = "accuracy", latency_column: str | None = "latency_ms",
                 energy_column: str | None = None, lut: str | None = None, costs: bool = True):
        super().__init__(space)
        self.path, self.arch_column, self.accuracy_column = path, arch_column, accuracy_column
        self.latency_column, self.energy_column, self.lut_path = latency_column, energy_column, lut
        self.costs = costs
        self.rows: dict[str, tuple[float, float | None, float | None]] | None = None
        self._lut = None

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        if self.rows is not None:
            return
        self._lut = load_lut(self.lut_path, self.space)
        if self.latency_column is None and self._lut is None:
            raise HwnasError("no latency source for the table evaluator",
                             "pass --latency-column NAME or --lut TABLE.json")
        self.rows = read_table(self.space, Path(self.path), self.arch_column, self.accuracy_column,
                               self.latency_column, self.energy_column)

    def evaluate(self, arch: Arch) -> Candidate:
        self.prepare()
        self.space.validate(arch)  # an arch of another space may spell the same tokens
        start = time.perf_counter()
        key = str(arch)
        if key not in self.rows:
            raise HwnasError(f"arch {key} is not in {self.path} ({len(self.rows)} rows)",
                             "tabular search needs a CSV that covers the space")
        acc, lat, energy = self.rows[key]
        if lat is None:
            lat = self._lut.predict(self.space, arch)
        params, macs = arch_costs(self.space, arch) if self.costs else (0, 0)
        return Candidate(arch, acc, float(lat), params, macs, energy, time.perf_counter() - start,
                         accuracy_kind="table", evaluator=self.name)

    def cost_model(self) -> CostModel | LookupPrice:
        """The table's cost model when latency comes from ``--lut``; the CSV's own latencies
        (looked up per arch, not additive) when it has a latency column."""
        if self.rows is None:
            self.prepare()
        if self.latency_column is None:
            return self._lut.cost_model(self.space)
        return LookupPrice(self.space, {self.space.parse(k): lat for k, (_a, lat, _e) in self.rows.items()})

    def describe(self) -> dict:
        return {"evaluator": f"table:{self.path}", "arch_column": self.arch_column,
                "accuracy_column": self.accuracy_column, "latency_column": self.latency_column,
                "energy_column": self.energy_column, "lut": self.lut_path}


def read_table(space: SearchSpace, path: Path, arch_column: str, accuracy_column: str,
               latency_column: str | None, energy_column: str | None
               ) -> dict[str, tuple[float, float | None, float | None]]:
    """{canonical arch string: (accuracy 0..1, latency_ms or None, energy_mj or None)}."""
    if not path.is_file():
        raise HwnasError(f"table {path} does not exist", "check the path after table:")
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a byte-order mark is no header
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        wanted = [c for c in (arch_column, accuracy_column, latency_column, energy_column) if c]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise HwnasError(f"{path}: no column {', '.join(map(repr, missing))}; it has "
                             f"{', '.join(header) or 'no header'}",
                             "name the right columns with --arch-column/--accuracy-column/"
                             "--latency-column")
        rows: dict[str, tuple[float, float | None, float | None]] = {}
        first_line: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            try:
                arch = space.parse(row[arch_column])
            except SpaceError as exc:
                raise HwnasError(f"{path} line {line}: arch {row[arch_column]!r} is not in space "
                                 f"{space.name}: {exc.message}",
                                 "fix the row or pass the right --space") from None
            acc = _number(row, accuracy_column, path, line, 0.0, 100.0)
            lat = _number(row, latency_column, path, line, 0.0) if latency_column else None
            energy = _number(row, energy_column, path, line, 0.0) if energy_column else None
            key = str(arch)
            if key in rows and rows[key] != (acc, lat, energy):
                columns = (accuracy_column, latency_column, energy_column)
                differ = ", ".join(f"{c} {a:g} vs {b:g}" for c, a, b in zip(columns, rows[key],
                                                                             (acc, lat, energy))
                                   if c and a != b)
                raise HwnasError(f"{path} lines {first_line[key]} and {line} give arch {key} "
                                 f"different values ({differ})",
                                 "keep one row per arch")
            first_line.setdefault(key, line)
            rows[key] = (acc, lat, energy)
    if not rows:
        raise HwnasError(f"{path} has no rows", "pass a CSV with one row per arch")
    if max(a for a, _l, _e in rows.values()) > 1.0:  # percent (a value above 100 was refused)
        rows = {k: (a / 100.0, lat, e) for k, (a, lat, e) in rows.items()}
    return rows


def _number(row: dict, column: str, path: Path, line: int, low: float,
            high: float = math.inf) -> float:
    """The finite number in ``column``, within [low, high] (accuracy: 0..1 or percent 0..100)."""
    text = row.get(column)
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise HwnasError(f"{path} line {line}: column {column!r} holds {text!r}, not a number",
                         "fix the row")
    if not low <= value <= high:
        span = f"between {low:g} and {high:g} (a fraction or a percent)" if math.isfinite(high) \
            else f"at least {low:g}"
        raise HwnasError(f"{path} line {line}: column {column!r} holds {text!r}, out of range",
                         f"fix the row: it must be {span}")
    return value

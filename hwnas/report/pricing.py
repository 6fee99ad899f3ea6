"""Re-price the same candidates per device with latency (and energy) tables.

A *view* is one device's picture of every run: the candidates as recorded (``recorded``) or
with ``latency_ms`` / ``energy_mj`` predicted by ``--lut`` tables. Tables are grouped by device
name: a latency table sets ``latency_ms``, an energy table (``meta.metric == "energy"``, mJ) sets
``energy_mj``. A device without an energy table has no ``energy_mj`` (the recorded energy was
measured elsewhere); a device with only an energy table keeps the recorded latency (``sources``
says so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hwnas.latency.table import LatencyTable
from hwnas.report.runs import Candidate, ReportError, Run


@dataclass(frozen=True)
class View:
    name: str
    sources: dict  # field -> where its values come from ("recorded by the run", a table path, None)
    candidates: dict  # run label -> tuple[Candidate, ...]


def load_table(path: str) -> LatencyTable:
    """A table file, or a shipped table name."""
    from hwnas.latency import load_table as load

    return load(path)


def _field(table: LatencyTable, path: str) -> str:
    metric, unit = table.meta.metric, table.meta.unit
    if metric == "latency":
        if unit != "ms":
            raise ReportError(f"latency table {path} is in {unit!r}, not ms", "pass a table in ms")
        return "latency_ms"
    if metric == "energy":
        if unit != "mJ":
            raise ReportError(f"energy table {path} is in {unit!r}, not mJ", "pass a table in mJ")
        return "energy_mj"
    raise ReportError(f"table {path} measures {metric!r}; the report reads latency and energy",
                      "pass latency (ms) or energy (mJ) tables")


def _device_views(tables: list[tuple[str, LatencyTable]]) -> list[tuple[str, dict]]:
    groups: dict[str, dict] = {}
    for path, table in tables:
        name = table.meta.device_name or Path(path).stem
        field = _field(table, path)
        group = groups.setdefault(name, {})
        if field in group:
            raise ReportError(f"two {field} tables for device {name!r}: {group[field][0]} and {path}",
                              "pass one table per device and metric")
        group[field] = (path, table)
    return list(groups.items())


def _reprice(run: Run, tables: dict, spaces: dict) -> tuple[Candidate, ...]:
    from hwnas.space import get_space

    if run.space is None:
        raise ReportError(f"run {run.path} does not say which space it searched",
                          "rerun the search with this version, or drop --lut")
    space = spaces.get(run.space)
    if space is None:
        space = spaces[run.space] = get_space(run.space)
    costs = {field: table.cost_model(space) for field, (_p, table) in tables.items()}
    out = []
    for c in run.candidates:
        try:
            arch = space.parse(c.arch)
        except Exception as exc:  # SpaceError or a parse ValueError: name the line
            raise ReportError(f"run {run.path}: candidate {c.index} arch {c.arch!r} is not in space "
                              f"{space.name}: {exc}", "check that the run and the space match") from None
        changes = {field: cost.price(arch) for field, cost in costs.items()}
        changes.setdefault("energy_mj", None)
        out.append(replace(c, **changes))
    return tuple(out)


RECORDED = "recorded by the run"


def build_views(runs: tuple[Run, ...], lut_paths: list[str]) -> list[View]:
    """``recorded`` first, then one view per device named by the tables."""
    has_energy = any(c.energy_mj is not None for r in runs for c in r.candidates)
    views = [View("recorded", {"latency_ms": RECORDED, "energy_mj": RECORDED if has_energy else None},
                  {r.label: r.candidates for r in runs})]
    if not lut_paths:
        return views
    tables = [(str(p), load_table(str(p))) for p in lut_paths]
    spaces: dict = {}
    for device, group in _device_views(tables):
        priced = {r.label: _reprice(r, group, spaces) for r in runs}
        sources = {"latency_ms": RECORDED, "energy_mj": None}
        sources.update({field: path for field, (path, _t) in group.items()})
        runtime = next(iter(group.values()))[1].meta.runtime
        views.append(View(f"{device} ({runtime})", sources, priced))
    return views

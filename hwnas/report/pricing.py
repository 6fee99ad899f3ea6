"""Re-price the same candidates per device with latency (and energy) tables.

A *view* is one device's picture of every run: the candidates as recorded (``recorded``) or
with ``latency_ms`` / ``energy_mj`` predicted by ``--lut`` tables. Tables are grouped by device
name: a latency table sets ``latency_ms``, an energy table (``meta.metric == "energy"``, mJ) sets
``energy_mj``. A device view holds only that device's figures: without a latency table it has no
``latency_ms`` (the recorded latency was measured on another device), without an energy table
no ``energy_mj``. ``sources`` names where each metric that has values comes from, and only those.

When a device's table prices every candidate exactly as the runs recorded it (the runs searched
with that table), the ``recorded`` view would be the same picture twice: it is dropped and the
device view says that its values match the recorded ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from hwnas.latency.table import LatencyTable
from hwnas.report.runs import Candidate, ReportError, Run

UNITS = {"latency_ms": "ms", "energy_mj": "mJ"}
METRICS = tuple(UNITS)
RECORDED = "recorded by the run"


@dataclass(frozen=True)
class View:
    name: str
    sources: dict  # metric -> where its values come from; only metrics some candidate has
    candidates: dict  # run label -> tuple[Candidate, ...]
    device: str | None = None  # the device the figures belong to, when known
    runtime: str | None = None  # the table's runtime (picks the export format)


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
    return sorted(groups.items())  # by device name: the order of --lut options does not matter


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
        # every metric this device has no table for is unknown here, not the recorded device's
        changes = {field: None for field in METRICS}
        changes.update({field: cost.price(arch) for field, cost in costs.items()})
        out.append(replace(c, **changes))
    return tuple(out)


def _present(candidates: dict, field: str) -> bool:
    return any(c.get(field) is not None for cands in candidates.values() for c in cands)


def _same_values(a: dict, b: dict, fields: tuple[str, ...]) -> bool:
    """True when every candidate of every run has the same value of each field in both views."""
    for label, cands in a.items():
        for x, y in zip(cands, b[label]):
            for f in fields:
                u, v = x.get(f), y.get(f)
                if (u is None) != (v is None) or (u is not None and not math.isclose(u, v, rel_tol=1e-9,
                                                                                   abs_tol=1e-12)):
                    return False
    return True


def _recorded_device(runs: tuple[Run, ...]) -> str | None:
    """The device of the table every run priced with, when they share one that still loads."""
    luts = {r.lut for r in runs}
    if len(luts) != 1 or None in luts:
        return None
    try:
        return load_table(str(next(iter(luts)))).meta.device_name or None
    except Exception:  # a table moved or deleted since the search: the view is just "recorded"
        return None


def build_views(runs: tuple[Run, ...], lut_paths: list[str]) -> list[View]:
    """``recorded`` first (unless a device view repeats it), then one view per device."""
    recorded = {r.label: r.candidates for r in runs}
    views = [View("recorded", {f: RECORDED for f in METRICS if _present(recorded, f)}, recorded,
                  device=_recorded_device(runs))]
    if not lut_paths:
        return views
    tables = [(str(p), load_table(str(p))) for p in lut_paths]
    spaces: dict = {}
    for device, group in _device_views(tables):
        priced = {r.label: _reprice(r, group, spaces) for r in runs}
        sources = {field: path for field, (path, _t) in sorted(group.items())}
        runtime = group.get("latency_ms", next(iter(group.values())))[1].meta.runtime
        view = View(f"{device} ({runtime})", sources, priced, device=device, runtime=runtime)
        if views[0].name == "recorded" and _duplicates(views[0], view):
            view = replace(view, sources={f: f"{s} (= {RECORDED})" for f, s in sources.items()})
            views[0] = view
        else:
            views.append(view)
    return views


def _duplicates(recorded: View, device: View) -> bool:
    """The device view shows everything the recorded one does, with the same values."""
    shown = tuple(f for f in METRICS if f in recorded.sources)
    return (bool(shown) and all(f in device.sources for f in shown)
            and _same_values(recorded.candidates, device.candidates, shown))

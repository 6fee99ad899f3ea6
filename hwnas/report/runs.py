"""Runs as the report sees them, read through :class:`hwnas.runs.RunFolder`.

A run folder is what ``hwnas search --out RUN`` writes; the report only reads it. A folder that
is still being written (no result yet) is readable as long as its config says what space it
searched. Candidates and objectives are the run contract's (:mod:`hwnas.runs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from hwnas.runs import Candidate, Objective, RunError, RunFolder, parse_objectives

__all__ = ["Candidate", "Objective", "ReportError", "Run", "load_run", "load_runs",
           "parse_objectives", "parse_reference"]

# Reading runs and objectives fails the way the run contract does.
ReportError = RunError


def parse_reference(text: str, objectives: tuple[Objective, ...]) -> dict[str, float]:
    """``"accuracy=0,latency_ms=20"`` -> a fixed reference value per named objective."""
    fix = "write it like accuracy=0,latency_ms=20 (names from --objectives)"
    out: dict[str, float] = {}
    names = {o.name for o in objectives}
    for part in (p.strip() for p in text.split(",")):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not math.isfinite(number):
            raise ReportError(f"malformed --reference item {part!r}", fix)
        if name not in names:
            raise ReportError(f"--reference names {name!r}, which is not in --objectives", fix)
        out[name] = number
    return out


@dataclass(frozen=True)
class Run:
    path: Path
    label: str
    strategy: str
    space: str | None  # a preset name or a spec file path, as get_space takes it
    budget_ms: float | None
    lut: str | None
    candidates: tuple[Candidate, ...]
    best_arch: str | None = None  # what `hwnas export RUN` exports (the run's best within budget)
    has_weights: bool = False  # the run trained its best arch (weights.pt): export takes them
    data: str | None = None  # the data the run scored on, for a `hwnas train` of another arch


def load_run(path: Path | str) -> Run:
    """Read one run folder; ``ReportError`` names what is missing or malformed."""
    folder = RunFolder(path)
    folder.check_readable()
    settings = folder.settings()
    best = None
    if folder.has_result():
        try:
            found = folder.best_candidate()
        except RunError:  # a result the export would refuse too: offer the arch string instead
            found = None
        best = None if found is None else str(found.arch)
    config = folder.config()
    evaluator = config.get("evaluator")
    data = config.get("data") or (evaluator.get("data") if isinstance(evaluator, dict) else None)
    return Run(path=folder.path, label=f"{settings.strategy}:{folder.path.name}",
               strategy=settings.strategy, space=_space_ref(folder.path, settings.spaces),
               budget_ms=settings.budget_ms, lut=settings.lut, candidates=folder.candidates(),
               best_arch=best, has_weights=best is not None and folder.artifact("weights.pt").is_file(),
               data=data if isinstance(data, str) else None)


def _space_ref(path: Path, spaces: tuple[str, ...]) -> str | None:
    """The space as ``get_space`` takes it: config's (may be a spec path) before result's name."""
    if not spaces:
        return None
    raw = spaces[0]
    if raw.endswith((".json", ".toml")) and not Path(raw).is_absolute() and (path / raw).is_file():
        return str(path / raw)
    return raw


def load_runs(paths: list[Path] | list[str]) -> tuple[Run, ...]:
    """Read several runs, in a fixed order; labels stay unique (``strategy:folder``, numbered on a
    clash).

    Runs are sorted by label, then path, so ``report A B`` and ``report B A`` write the same
    report: colours, markers, tables and every tie-break follow that order, not the arguments'.
    """
    if not paths:
        raise ReportError("no run folder given", "pass one or more --out folders of `hwnas search`")
    loaded = sorted((load_run(p) for p in paths), key=lambda r: (r.label, str(r.path.resolve())))
    runs, seen = [], {}
    for run in loaded:
        count = seen.get(run.label, 0)
        seen[run.label] = count + 1
        if count:
            run = replace(run, label=f"{run.label}#{count + 1}")
        runs.append(run)
    return tuple(runs)

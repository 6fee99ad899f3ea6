"""Read run folders (``candidates.jsonl`` + ``result.json`` + ``config.json``) and objectives.

A run folder is what ``hwnas search --out RUN`` writes; the report only reads it. A folder that
is still being written (no ``result.json`` yet) is readable as long as ``config.json`` says what
space it searched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.io import read_json

SENSE_BY_DEFAULT = {"accuracy": "max"}  # every other objective is a cost


class ReportError(HwnasError):
    """A run folder, objective list or option the report cannot use."""


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture, as recorded (or re-priced for another device)."""

    index: int
    arch: str
    accuracy: float | None
    latency_ms: float | None
    params: int | None = None
    macs: int | None = None
    energy_mj: float | None = None
    wall_s: float | None = None
    strategy: str = ""

    def value(self, name: str) -> float | None:
        v = getattr(self, name)
        return None if v is None else float(v)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


OBJECTIVE_NAMES = ("accuracy", "latency_ms", "energy_mj", "params", "macs", "wall_s")


@dataclass(frozen=True)
class Objective:
    name: str
    sense: str  # "max" or "min"

    def __str__(self) -> str:
        return f"{self.name}:{self.sense}"


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """``"accuracy:max,latency_ms:min"`` -> objectives; a bare name takes its usual sense."""
    fix = "write it like accuracy:max,latency_ms:min (names: " + ", ".join(OBJECTIVE_NAMES) + ")"
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ReportError(f"malformed --objectives {text!r}: empty item", fix)
    out: list[Objective] = []
    for part in parts:
        name, sep, sense = part.partition(":")
        name, sense = name.strip(), sense.strip()
        if not sep:
            sense = SENSE_BY_DEFAULT.get(name, "min")
        if sense not in ("max", "min") or ":" in sense:
            raise ReportError(f"malformed --objectives item {part!r}: sense must be max or min", fix)
        if name not in OBJECTIVE_NAMES:
            raise ReportError(f"unknown objective {name!r}", fix)
        if any(o.name == name for o in out):
            raise ReportError(f"objective {name!r} given twice in --objectives", fix)
        out.append(Objective(name, sense))
    if len(out) < 2:
        raise ReportError(f"--objectives {text!r} names {len(out)} objective; a trade-off needs two",
                          fix)
    return tuple(out)


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


def _number(raw: dict, key: str, where: str, integer: bool = False) -> float | int | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ReportError(f"{where}: {key} is {v!r}, not a finite number", "fix or drop that line")
    return int(v) if integer else float(v)


def _candidate(raw: object, where: str, default_strategy: str, line_no: int) -> Candidate:
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: not a JSON object", "fix or drop that line")
    arch = raw.get("arch")
    if not isinstance(arch, str) or not arch:
        raise ReportError(f"{where}: lacks an arch string", "fix or drop that line")
    index = raw.get("index", line_no)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ReportError(f"{where}: index is {index!r}, not an integer", "fix or drop that line")
    return Candidate(
        index=index, arch=arch,
        accuracy=_number(raw, "accuracy", where), latency_ms=_number(raw, "latency_ms", where),
        params=_number(raw, "params", where, integer=True), macs=_number(raw, "macs", where, integer=True),
        energy_mj=_number(raw, "energy_mj", where), wall_s=_number(raw, "wall_s", where),
        strategy=str(raw.get("strategy") or default_strategy),
    )


def _read_candidates(path: Path, strategy: str) -> tuple[Candidate, ...]:
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:
                continue  # a last line torn by a kill mid-write
            raise ReportError(f"{path} line {i + 1} is not valid JSON", "fix or drop that line") from None
        out.append(_candidate(raw, f"{path} line {i + 1}", strategy, i))
    return tuple(sorted(out, key=lambda c: c.index))


def load_run(path: Path | str) -> Run:
    """Read one run folder; ``ReportError`` names what is missing or malformed."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"run folder {path} does not exist" if not path.exists()
                          else f"{path} is a file, not a run folder",
                          "pass the --out folder of `hwnas search`")
    cand_path, result_path, config_path = (path / n for n in ("candidates.jsonl", "result.json",
                                                              "config.json"))
    missing = [p.name for p in (cand_path, result_path, config_path) if not p.is_file()]
    if cand_path.name in missing or (result_path.name in missing and config_path.name in missing):
        raise ReportError(f"{path} is not a run folder: it lacks {', '.join(missing)}",
                          "pass the --out folder of `hwnas search` (candidates.jsonl plus "
                          "result.json or config.json)")
    result = read_json(result_path, "run result") if result_path.is_file() else {}
    config = read_json(config_path, "run config") if config_path.is_file() else {}
    for name, obj in (("result.json", result), ("config.json", config)):
        if not isinstance(obj, dict):
            raise ReportError(f"{path / name} is not a JSON object", "regenerate the run")
    strategy = str(result.get("strategy") or config.get("strategy") or "unknown")
    space = _space_ref(path, config, result)
    budget = result.get("budget_ms", config.get("budget_ms"))
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))):
        raise ReportError(f"{result_path}: budget_ms is {budget!r}, not a number", "regenerate the run")
    lut = result.get("lut", config.get("lut"))
    candidates = _read_candidates(cand_path, strategy)
    return Run(path=path, label=f"{strategy}:{path.name}", strategy=strategy, space=space,
               budget_ms=None if budget is None else float(budget),
               lut=None if lut is None else str(lut), candidates=candidates)


def _space_ref(path: Path, config: dict, result: dict) -> str | None:
    """The space as ``get_space`` takes it: config's (may be a spec path) before result's name."""
    for raw in (config.get("space"), result.get("space")):
        if isinstance(raw, str) and raw:
            if raw.endswith((".json", ".toml")) and not Path(raw).is_absolute() and (path / raw).is_file():
                return str(path / raw)
            return raw
    return None


def load_runs(paths: list[Path] | list[str]) -> tuple[Run, ...]:
    """Read several runs; labels stay unique (``strategy:folder``, numbered on a clash)."""
    if not paths:
        raise ReportError("no run folder given", "pass one or more --out folders of `hwnas search`")
    runs, seen = [], {}
    for p in paths:
        run = load_run(p)
        count = seen.get(run.label, 0)
        seen[run.label] = count + 1
        if count:
            run = replace(run, label=f"{run.label}#{count + 1}")
        runs.append(run)
    return tuple(runs)

"""One evaluated architecture (``Candidate``), what kind of accuracy it carries, and the one
objective vocabulary that searches and reports share."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal, get_args

from hwnas.errors import HwnasError
from hwnas.space.arch import Arch

# What a candidate's ``accuracy`` measures: validation accuracy with one-shot (shared supernet)
# weights, validation or test accuracy after training from scratch, or a published table's value.
# "-int8": the same, scored on the post-training-quantized net (``hwnas search --accuracy-of int8``);
# "predicted-oneshot-val": a supernet's accuracy predictor's estimate of "oneshot-val" (never a score)
AccuracyKind = Literal["oneshot-val", "scratch-val", "scratch-test", "table", "oneshot-val-int8",
                       "scratch-val-int8", "predicted-oneshot-val"]
ACCURACY_KINDS: tuple[str, ...] = get_args(AccuracyKind)

# Objective name -> sense. Names are Candidate fields; units are in the names.
OBJECTIVES = {"accuracy": "max", "latency_ms": "min", "energy_mj": "min", "params": "min",
              "macs": "min", "wall_s": "min"}


class RunError(HwnasError):
    """A run folder, candidate record or objective list that cannot be used."""


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture and its measured objectives.

    ``arch`` is an :class:`Arch` wherever the space is known (inside searches, on resume); a
    report reading runs of any space keeps the recorded string. ``accuracy_kind`` says what
    ``accuracy`` is (:data:`AccuracyKind`); ``evaluator`` names what measured it.

    Example:
        >>> from hwnas.space.arch import Arch
        >>> c = Candidate(Arch("s", ("a", "b")), 0.9, 1.5, accuracy_kind="table")
        >>> c.to_dict()["arch"], c.value("latency_ms")
        ('a-b', 1.5)
    """

    arch: Arch | str
    accuracy: float | None
    latency_ms: float | None
    params: int | None = None
    macs: int | None = None
    energy_mj: float | None = None
    wall_s: float | None = None
    accuracy_kind: AccuracyKind | None = None
    evaluator: str = ""
    strategy: str = ""
    index: int = 0

    def get(self, name: str) -> float | None:
        """The value of objective ``name``, None when it was not measured."""
        if name not in OBJECTIVES:
            raise RunError(f"unknown objective {name!r}", _objective_fix())
        v = getattr(self, name)
        return None if v is None else float(v)

    def value(self, name: str) -> float:
        """The value of objective ``name``; a typed error when it was not measured."""
        v = self.get(name)
        if v is None:
            raise RunError(f"objective {name!r} was not measured for {self.arch}",
                           "drop it from --objectives or use an evaluator that reports it")
        return v

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["arch"] = str(self.arch)
        return out

    @classmethod
    def from_dict(cls, space, raw: object, where: str = "candidate",
                  default_kind: str | None = None, default_strategy: str = "",
                  default_index: int = 0) -> Candidate:
        """Read a record (``to_dict`` of this or the previous format); errors name ``where``.

        With a ``space`` the arch is parsed into an :class:`Arch`; with None it stays a string.
        Records of the previous format have no ``accuracy_kind``: ``default_kind`` fills it.
        """
        if not isinstance(raw, dict):
            raise RunError(f"{where}: not a JSON object", "fix or drop that line")
        arch = raw.get("arch")
        if not isinstance(arch, str) or not arch:
            raise RunError(f"{where}: lacks an arch string", "fix or drop that line")
        index = raw.get("index", default_index)
        if isinstance(index, bool) or not isinstance(index, int):
            raise RunError(f"{where}: index is {index!r}, not an integer", "fix or drop that line")
        kind = raw.get("accuracy_kind", default_kind)
        if kind is not None and kind not in ACCURACY_KINDS:
            raise RunError(f"{where}: accuracy_kind is {kind!r}",
                           f"use one of {', '.join(ACCURACY_KINDS)}")
        return cls(
            arch=space.parse(arch) if space is not None else arch,
            accuracy=_number(raw, "accuracy", where), latency_ms=_number(raw, "latency_ms", where),
            params=_number(raw, "params", where, integer=True),
            macs=_number(raw, "macs", where, integer=True),
            energy_mj=_number(raw, "energy_mj", where), wall_s=_number(raw, "wall_s", where),
            accuracy_kind=kind, evaluator=str(raw.get("evaluator") or ""),
            strategy=str(raw.get("strategy") or default_strategy), index=index)


def _number(raw: dict, key: str, where: str, integer: bool = False) -> float | int | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise RunError(f"{where}: {key} is {v!r}, not a finite number", "fix or drop that line")
    return int(v) if integer else float(v)


@dataclass(frozen=True)
class Objective:
    name: str
    sense: str  # "max" or "min"

    def __str__(self) -> str:
        return f"{self.name}:{self.sense}"


def _objective_fix() -> str:
    return "write it like accuracy:max,latency_ms:min (names: " + ", ".join(OBJECTIVES) + ")"


def parse_objectives(text: str, min_count: int = 2) -> tuple[Objective, ...]:
    """``"accuracy:max,latency_ms:min"`` -> objectives; a bare name takes its usual sense.

    Example:
        >>> [str(o) for o in parse_objectives("accuracy,energy_mj")]
        ['accuracy:max', 'energy_mj:min']
    """
    fix = _objective_fix()
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise RunError(f"malformed --objectives {text!r}: empty item", fix)
    out: list[Objective] = []
    for part in parts:
        name, sep, sense = part.partition(":")
        name, sense = name.strip(), sense.strip()
        if not sep:
            sense = OBJECTIVES.get(name, "min")
        if sense not in ("max", "min") or ":" in sense:
            raise RunError(f"malformed --objectives item {part!r}: sense must be max or min", fix)
        if name not in OBJECTIVES:
            raise RunError(f"unknown objective {name!r}", fix)
        if any(o.name == name for o in out):
            raise RunError(f"objective {name!r} given twice in --objectives", fix)
        out.append(Objective(name, sense))
    if len(out) < min_count:
        raise RunError(f"--objectives {text!r} names {len(out)} objective; a trade-off needs two",
                       fix)
    return tuple(out)

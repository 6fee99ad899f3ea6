"""``RunResult``: what a finished (or interrupted) search found, as ``result.json`` holds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.pareto import knee_point, pareto_front
from hwnas.runs.candidate import OBJECTIVES, Candidate, RunError

FORMAT_VERSION = 2  # 1: hwnas before the run contract (no version field, no accuracy kinds)

_FIELDS = ("format_version", "strategy", "space", "objectives", "budget_ms", "lut", "run_dir",
           "evaluations", "asks", "complete", "best", "knee", "pareto", "details")


@dataclass(frozen=True)
class RunResult:
    """The Pareto set, the best candidate under the budget, the knee and the counts of a run.

    ``details`` holds what one kind of search adds (the gradient search: the derived arch's
    prediction and band, the Lagrange multiplier, the scratch training figures...).
    ``candidates`` (every evaluated candidate) is in memory only; the folder keeps them in its
    candidate log.
    """

    strategy: str
    space: str
    objectives: tuple[str, ...]
    budget_ms: float | None
    pareto: tuple[Candidate, ...]
    best: Candidate | None
    knee: Candidate | None
    evaluations: int
    asks: int
    complete: bool
    lut: str | None = None
    run_dir: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    candidates: tuple[Candidate, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        def one(c):
            return None if c is None else c.to_dict()

        return {"format_version": FORMAT_VERSION, "strategy": self.strategy, "space": self.space,
                "objectives": list(self.objectives), "budget_ms": self.budget_ms, "lut": self.lut,
                "run_dir": self.run_dir, "evaluations": self.evaluations, "asks": self.asks,
                "complete": self.complete, "best": one(self.best), "knee": one(self.knee),
                "pareto": [c.to_dict() for c in self.pareto], "details": dict(self.details)}

    @classmethod
    def from_dict(cls, space, raw: object, where: str = "result.json",
                  default_kind: str | None = None,
                  candidates: tuple[Candidate, ...] = ()) -> RunResult:
        """Read ``to_dict`` output, or a ``result.json`` of the previous format (version 1):
        its search-specific keys become ``details``."""
        if not isinstance(raw, dict):
            raise RunError(f"{where} is not a JSON object", "regenerate the run")
        version = raw.get("format_version", 1)
        if version not in (1, FORMAT_VERSION):
            raise RunError(f"{where} has run-folder format {version!r}; this hwnas reads formats 1 "
                           f"and {FORMAT_VERSION}", "read it with the hwnas that wrote it")

        def one(item, name):
            return None if item is None else Candidate.from_dict(
                space, item, f"{where} {name}", default_kind, str(raw.get("strategy") or ""))

        pareto = tuple(one(c, "pareto") for c in raw.get("pareto") or [])
        details = raw.get("details") if version > 1 else {k: v for k, v in raw.items()
                                                          if k not in _FIELDS}
        return cls(
            strategy=str(raw.get("strategy") or ""), space=str(raw.get("space") or ""),
            objectives=tuple(raw.get("objectives") or ("accuracy", "latency_ms")),
            budget_ms=raw.get("budget_ms"), pareto=pareto, best=one(raw.get("best"), "best"),
            knee=one(raw.get("knee"), "knee"),
            evaluations=int(raw.get("evaluations", len(candidates) or len(pareto))),
            asks=int(raw.get("asks", raw.get("evaluations", len(candidates) or len(pareto)))),
            complete=bool(raw.get("complete", True)), lut=raw.get("lut"),
            run_dir=str(raw.get("run_dir") or ""), details=dict(details or {}),
            candidates=candidates)


def front_and_best(candidates: list[Candidate], objectives: tuple[str, ...],
                   budget_ms: float | None
                   ) -> tuple[tuple[Candidate, ...], Candidate | None, Candidate | None]:
    """(Pareto set sorted by latency, knee, most accurate within ``budget_ms``) of the scored
    candidates (those with an accuracy)."""
    scored = [c for c in candidates if c.accuracy is not None]
    if not scored:
        return (), None, None
    senses = [OBJECTIVES[o] for o in objectives]
    points = np.array([[c.get(o) or 0.0 for o in objectives] for c in scored], dtype=float)
    front = pareto_front(points, senses)
    pareto = tuple(sorted((scored[int(i)] for i in front), key=lambda c: c.latency_ms))
    knee = scored[knee_point(points, senses)]
    ok = [c for c in scored if budget_ms is None or c.latency_ms <= budget_ms]
    best = max(ok, key=lambda c: (c.accuracy, -c.latency_ms)) if ok else None
    return pareto, knee, best

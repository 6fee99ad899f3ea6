"""The ``Evaluator`` protocol: arch in, measured objectives out.

An evaluator is built without I/O, ``prepare(run_dir)`` does its one-time work (load a CSV, train
the supernet, load data) and ``evaluate(arch)`` scores one candidate. Evaluators are pickled to
Ray workers, so they hold plain data; loaded datasets are dropped when pickled and reloaded.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class EvalResult:
    """Measured objectives of one candidate (accuracy in 0..1, or None if it could not be had)."""

    accuracy: float | None
    latency_ms: float
    params: int
    macs: int
    wall_s: float
    energy_mj: float | None = None

    def to_dict(self) -> dict:
        out = {"accuracy": self.accuracy, "latency_ms": self.latency_ms, "params": self.params,
               "macs": self.macs, "wall_s": self.wall_s}
        if self.energy_mj is not None:
            out["energy_mj"] = self.energy_mj
        return out


class Evaluator(ABC):
    name = "evaluator"

    def __init__(self, space: SearchSpace):
        self.space = space

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:  # noqa: B027
        """One-time work before the first ``evaluate`` (idempotent)."""

    @abstractmethod
    def evaluate(self, arch: Arch) -> EvalResult:
        """Score one architecture."""

    def latency_fn(self):
        """A cheap latency prediction strategies may use to skip over-budget archs, or None."""
        return None

    def describe(self) -> dict:
        return {"evaluator": self.name}


class LutPricedEvaluator(Evaluator):
    """An evaluator whose latency always comes from a latency table (``lut_path``)."""

    def __init__(self, space: SearchSpace, lut: str | None):
        super().__init__(space)
        self.lut_path = lut
        self._lut = None

    def _require_lut(self) -> None:
        if self._lut is None:
            self._lut = load_lut(self.lut_path, self.space)
            require_latency(self._lut, self.name)

    def latency_fn(self):
        self._lut = self._lut or load_lut(self.lut_path, self.space)
        lut, space = self._lut, self.space
        return lambda a: lut.predict(space, a)


def load_lut(path: str | None, space: SearchSpace):
    """A latency table by path (or a shipped table name when the latency package can resolve it)."""
    if path is None:
        return None
    from hwnas.latency import load_table

    table = load_table(path)
    table.require(space)
    return table


@functools.lru_cache(maxsize=4096)
def _costs(space: SearchSpace, arch: Arch) -> tuple[int, int]:
    import torch

    from hwnas.nn import build_model, count_macs, count_params

    with torch.random.fork_rng(devices=[]):
        model = build_model(space, arch)
    return count_params(model), count_macs(model, (space.in_channels, space.resolution, space.resolution))


def arch_costs(space: SearchSpace, arch: Arch) -> tuple[int, int]:
    """(params, MACs) of the standalone network of ``arch`` (cached)."""
    return _costs(space, arch)


def require_latency(lut, what: str) -> None:
    if lut is None:
        raise HwnasError(f"the {what} evaluator needs a latency table",
                         "pass --lut TABLE.json (make one with `hwnas profile`)")

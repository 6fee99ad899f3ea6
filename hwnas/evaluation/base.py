"""The ``Evaluator`` protocol: arch in, a :class:`hwnas.runs.Candidate` out.

An evaluator is built without I/O, ``prepare(run_dir)`` does its one-time work (load a CSV, train
the supernet, load data) and ``evaluate(arch)`` scores one candidate. Evaluators are pickled to
Ray workers, so they hold plain data; loaded datasets are dropped when pickled and reloaded.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.latency.cost import CostModel
from hwnas.runs import Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class Evaluator(ABC):
    name = "evaluator"

    def __init__(self, space: SearchSpace):
        self.space = space

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:  # noqa: B027
        """One-time work before the first ``evaluate`` (idempotent)."""

    @abstractmethod
    def evaluate(self, arch: Arch) -> Candidate:
        """Score one architecture: its candidate record (the search loop sets index and
        strategy; ``accuracy`` is None if it could not be had)."""

    def cost_model(self) -> CostModel | None:
        """The cost model pricing this evaluator's latency before evaluation (strategies use it to
        skip over-budget archs), or None when latency is only known once evaluated."""
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

    def cost_model(self) -> CostModel | None:
        self._lut = self._lut or load_lut(self.lut_path, self.space)
        return None if self._lut is None else self._lut.cost_model(self.space)


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
    return count_params(model), count_macs(model, space.input_shape)


def arch_costs(space: SearchSpace, arch: Arch) -> tuple[int, int]:
    """(params, MACs) of the standalone network of ``arch`` (cached)."""
    return _costs(space, arch)


def require_latency(lut, what: str) -> None:
    if lut is None:
        raise HwnasError(f"the {what} evaluator needs a latency table",
                         "pass --lut TABLE.json (make one with `hwnas profile`)")

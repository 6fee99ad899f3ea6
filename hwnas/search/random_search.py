"""Uniform random search: the baseline every other strategy must beat."""

from __future__ import annotations

from hwnas.search.base import Strategy
from hwnas.space.arch import Arch


class RandomSearch(Strategy):
    """Uniform samples of the space (re-sampled, boundedly, when predicted over the budget)."""

    name = "random"

    def _propose(self) -> Arch:
        return self.draw(lambda: self.space.sample(self.rng))

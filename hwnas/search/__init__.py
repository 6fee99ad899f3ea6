"""Search strategies: one ask/tell interface (``Strategy``) for random, evolution, nsga2, rl and
predictor search; the gradient (ProxylessNAS) search lives in ``hwnas.search.gradient``."""

from hwnas.search.base import (
    MAX_RESAMPLES,
    OBJECTIVE_SENSES,
    Observation,
    Problem,
    SearchError,
    Strategy,
)
from hwnas.search.registry import make_strategy, strategy_names

__all__ = ["MAX_RESAMPLES", "OBJECTIVE_SENSES", "Observation", "Problem", "SearchError", "Strategy",
           "make_strategy", "strategy_names"]

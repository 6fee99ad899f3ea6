"""Searches: one ask/tell interface (``Strategy``) for random, evolution, nsga2, rl and predictor
search, the gradient (ProxylessNAS) search in ``hwnas.search.gradient``, and one registry that
runs any of them from a ``SearchRequest`` (``run``)."""

from hwnas.search.base import (
    MAX_RESAMPLES,
    OBJECTIVE_SENSES,
    Observation,
    Problem,
    SearchError,
    Strategy,
)
from hwnas.search.registry import SearchRequest, run, search_names
from hwnas.search.strategies import make_strategy, strategy_names

__all__ = ["MAX_RESAMPLES", "OBJECTIVE_SENSES", "Observation", "Problem", "SearchError",
           "SearchRequest", "Strategy", "make_strategy", "run", "search_names", "strategy_names"]

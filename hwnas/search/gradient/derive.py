"""Exact derivation under a hard budget: a multiple-choice knapsack over the searchable layers.

Given per-layer choice costs ``c[p][j]`` (a table's cost model) and scores ``v[p][j] = log p_j``, pick one
choice per layer maximizing ``sum v`` subject to ``fixed + sum c <= T``; when the budget allows,
also ``fixed + sum c >= lower`` (hwnas aims at ``lower = 0.9 T`` so the budget is used well).

The upper-bound problem is solved exactly by a Pareto-frontier dynamic programme: a partial
solution is dropped only when another one costs no more and scores no less, which can never lose
the optimum. The band ``[lower, T]`` breaks that dominance, so the band problem keeps the best
partial solution per cost bucket (fine buckets; exact costs are carried along and every final
candidate is checked with its exact cost). Either way the returned choice satisfies the budget
by its exact sum: feasibility never depends on the discretisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_FRONTIER_CAP = 200_000  # thin a frontier beyond this many partial solutions (bucketing)


@dataclass(frozen=True)
class KnapsackResult:
    indices: tuple[int, ...]
    cost: float          # fixed + sum of the chosen costs, exact
    score: float         # sum of the chosen scores
    in_band: bool        # cost >= lower as well


def _total(costs: Sequence[np.ndarray], fixed: float, indices: Sequence[int]) -> float:
    # added in position order, as the dynamic programme and ``CostModel.price_indices`` add:
    # the exact cost a choice is checked with is bit for bit the price the table predicts
    total = float(fixed)
    for p, j in enumerate(indices):
        total += float(costs[p][j])
    return total


def _frontier_dp(costs, scores, fixed, upper, lower, buckets: int | None):
    """States are (cost, score, choices); returns the surviving final states."""
    n = len(costs)
    min_rest = np.zeros(n + 1)
    max_rest = np.zeros(n + 1)
    for p in range(n - 1, -1, -1):
        min_rest[p] = min_rest[p + 1] + float(np.min(costs[p]))
        max_rest[p] = max_rest[p + 1] + float(np.max(costs[p]))
    states: list[tuple[float, float, tuple[int, ...]]] = [(float(fixed), 0.0, ())]
    for p in range(n):
        grown = []
        for cost, score, picks in states:
            for j, (c, v) in enumerate(zip(costs[p], scores[p])):
                new_cost = cost + float(c)
                # prune what can no longer meet the budget (or, in the band problem, the floor)
                if new_cost + min_rest[p + 1] > upper:
                    continue
                if lower is not None and new_cost + max_rest[p + 1] < lower:
                    continue
                grown.append((new_cost, score + float(v), (*picks, j)))
        if buckets is None:
            states = _pareto(grown)
            if len(states) > _FRONTIER_CAP:
                states = _bucketed(states, upper, _FRONTIER_CAP)
        else:
            states = _bucketed(grown, upper, buckets)
    return states


def _pareto(states):
    """Keep states not dominated by a cheaper-or-equal, better-or-equal one."""
    states.sort(key=lambda s: (s[0], -s[1]))
    kept, best = [], -np.inf
    for state in states:
        if state[1] > best:
            kept.append(state)
            best = state[1]
    return kept


def _bucketed(states, upper, buckets):
    width = max(upper, 1e-12) / buckets
    best: dict[int, tuple[float, float, tuple[int, ...]]] = {}
    for state in states:
        b = int(state[0] / width)
        if b not in best or state[1] > best[b][1]:
            best[b] = state
    return sorted(best.values())


def solve_budget(costs: Sequence[np.ndarray], scores: Sequence[np.ndarray], fixed: float,
                 upper: float, lower: float | None = None, buckets: int = 4000) -> KnapsackResult:
    """Most probable arch whose exact cost is ``<= upper`` (and ``>= lower`` when reachable).

    Raises ``ValueError`` when even the cheapest arch exceeds ``upper`` (callers refuse such a
    budget up front with a typed error).
    """
    if len(costs) != len(scores):
        raise ValueError("costs and scores need one entry per layer")
    fastest = _total(costs, fixed, [int(np.argmin(c)) for c in costs])
    if fastest > upper:
        raise ValueError(f"cheapest arch costs {fastest:g} > budget {upper:g}")
    final = _frontier_dp(costs, scores, fixed, upper, None, None)
    feasible = [s for s in final if _total(costs, fixed, s[2]) <= upper]
    best = max(feasible, key=lambda s: s[1])
    best_cost = _total(costs, fixed, best[2])
    if lower is None or best_cost >= lower:
        return KnapsackResult(best[2], best_cost, best[1], lower is None or best_cost >= lower)
    band = _frontier_dp(costs, scores, fixed, upper, lower, buckets)
    in_band = [s for s in band if lower <= _total(costs, fixed, s[2]) <= upper]
    if not in_band:  # the band is empty for this space: the best under the budget is the answer
        return KnapsackResult(best[2], best_cost, best[1], False)
    pick = max(in_band, key=lambda s: s[1])
    return KnapsackResult(pick[2], _total(costs, fixed, pick[2]), pick[1], True)


def brute_force(costs, scores, fixed, upper, lower=None) -> KnapsackResult | None:
    """Reference solution by enumeration (tests only: exponential)."""
    import itertools

    best = None
    for picks in itertools.product(*(range(len(c)) for c in costs)):
        cost = _total(costs, fixed, picks)
        if cost > upper or (lower is not None and cost < lower):
            continue
        score = float(sum(float(scores[p][j]) for p, j in enumerate(picks)))
        if best is None or score > best.score:
            best = KnapsackResult(tuple(picks), cost, score, True)
    return best

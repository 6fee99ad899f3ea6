"""The priced cost model: what every arch of a space costs, as a fixed part plus per-choice costs.

``price(arch) = fixed + sum_p costs[p][j_p]``, where ``costs[p][j]`` is what choice ``j`` at
position ``p`` adds (the p50s of the ops it runs; a zero op adds nothing) and ``fixed`` is what
every arch pays (stem, head, classifier). :meth:`LatencyTable.cost_model` builds it from a table
(:func:`priced_costs`), the only place a table and its calibration become a price: table
predictions, the gradient search (expected latency, budget derivation), black-box problems,
the predictor's additive front and reports all read it, so they can never disagree.

A calibration folds in exactly: ``a * sum(m(op) * p50(op)) + b * n_ops + c`` is additive over
positions, since the scaled sum and ``n_ops`` both sum over the ops each choice adds (``overhead``
is ``a = 1, b = 0``; ``m(op)`` is 1 except in a per_kind calibration, which scales each op by its
kind and kernel group): a choice's cost is its corrected cost, so the gradient search's expected
latency is the corrected one too.

Example:
    >>> from hwnas.testing import synthetic_table, tiny_space
    >>> space = tiny_space()
    >>> cost = synthetic_table(space).cost_model(space)
    >>> cost.price(cost.fastest_arch()) == cost.price_range()[0]
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.errors import TableError
from hwnas.latency.calibration import RECALIBRATE, Calibration
from hwnas.space.arch import Arch, OpSpec
from hwnas.space.base import SearchSpace


@dataclass(frozen=True, eq=False)
class CostModel:
    """Per-position choice costs and the fixed part of ``space``, in ``unit`` (ms, or mJ).

    Any additive cost can be one (a toy problem's latency, a benchmark's), not only a table's.
    """

    space: SearchSpace
    costs: tuple[np.ndarray, ...]
    fixed: float
    unit: str = "ms"

    def __post_init__(self) -> None:
        sizes = [len(c) for c in self.space.choices()]
        costs = tuple(np.array(c, dtype=np.float64).reshape(-1) for c in self.costs)
        if [len(c) for c in costs] != sizes:
            raise TableError(f"cost model has {[len(c) for c in costs]} choice costs per position, "
                             f"space {self.space.name} has {sizes} choices", "price this space's choices")
        if not math.isfinite(self.fixed) or not all(np.all(np.isfinite(c)) for c in costs):
            raise TableError(f"cost model of space {self.space.name} has a non-finite cost",
                             "check the table's entries and calibration")
        for c in costs:
            c.flags.writeable = False  # frozen: a price never changes under its users
        object.__setattr__(self, "costs", costs)
        object.__setattr__(self, "fixed", float(self.fixed))
        # python floats, summed in position order: price_indices adds in the same order as the
        # derivation's knapsack, so a derived arch meets its budget by this very price
        object.__setattr__(self, "_lists", tuple(c.tolist() for c in costs))

    # --- prices -----------------------------------------------------------------------------
    def price_indices(self, indices: Sequence[int]) -> float:
        """Price of the arch with choice ``indices[p]`` at each position ``p``."""
        total = self.fixed
        for p, j in enumerate(indices):
            total += self._lists[p][int(j)]
        return float(total)

    def price(self, arch: Arch) -> float:
        return self.price_indices(self.space.indices(arch))

    def price_rows(self, rows: np.ndarray) -> np.ndarray:
        """Prices of many archs at once: ``rows`` is (n, positions) choice indices."""
        rows = np.asarray(rows, dtype=int).reshape(-1, len(self.costs))
        total = np.full(len(rows), self.fixed)
        for p, c in enumerate(self.costs):
            total = total + c[rows[:, p]]  # same order of additions as price_indices
        return total

    # --- extremes ----------------------------------------------------------------------------
    def extreme_indices(self, slowest: bool = False) -> tuple[int, ...]:
        """Choice indices of the cheapest (or dearest) arch: the best choice at every position
        (exact, since the price is additive); ties go to the first choice."""
        pick = np.argmax if slowest else np.argmin
        return tuple(int(pick(c)) for c in self.costs)

    def fastest_arch(self) -> Arch:
        return self.space.arch_from_indices(self.extreme_indices())

    def slowest_arch(self) -> Arch:
        return self.space.arch_from_indices(self.extreme_indices(slowest=True))

    def price_range(self) -> tuple[float, float]:
        """(price of the fastest arch, price of the slowest arch)."""
        return (self.price_indices(self.extreme_indices()),
                self.price_indices(self.extreme_indices(slowest=True)))


def priced_costs(space: SearchSpace, p50_ms: Mapping[str, float], calibration: Calibration | None,
                 unit: str = "ms") -> CostModel:
    """The cost model of a table's prediction over ``space``: ``p50_ms`` maps every op key of the
    space to its p50 and ``calibration`` is folded in (use :meth:`LatencyTable.cost_model`, which
    checks the table covers the space and caches the result)."""

    def raw(ops: Sequence[OpSpec]) -> float:
        return float(sum(p50_ms[op.key] for op in ops))

    def scaled(ops: Sequence[OpSpec]) -> float:  # each op's p50 times its calibration multiplier
        return float(sum(p50_ms[op.key] * calibration.multiplier(op) for op in ops))

    candidates = [space.candidate_ops(p) for p in range(space.num_positions)]
    costs = [np.array([raw(ops) for ops in choice], dtype=np.float64) for choice in candidates]
    fixed_ops = [*space.prefix_ops(), *space.suffix_ops()]
    fixed = raw(fixed_ops)
    cal = calibration
    raw_costs, fixed_raw = costs, fixed
    if cal is not None:
        n_ops = [np.array([len(ops) for ops in choice], dtype=np.float64) for choice in candidates]
        if cal.multipliers:
            costs = [np.array([scaled(ops) for ops in choice], dtype=np.float64) for choice in candidates]
            fixed = scaled(fixed_ops)
        costs = [cal.coef_sum * c + cal.coef_ops * n for c, n in zip(costs, n_ops)]
        fixed = cal.coef_sum * fixed + cal.coef_ops * len(fixed_ops) + cal.intercept_ms
    model = CostModel(space, tuple(costs), fixed, unit)
    if cal is None:
        return model  # p50s are >= 0 (the table's schema): some published tables price 0 exactly
    # the price is additive, so the fastest arch's price is the least of all: if it stays above 0
    # (or at 0 where the raw sum is 0 already), every arch's does. A negative overhead offset is
    # fine within that: it is a fitted correction, not a price.
    fastest = model.price_range()[0]
    raw_fastest = fixed_raw + sum(float(min(c)) for c in raw_costs)
    if fastest < 0 or (fastest == 0 and raw_fastest > 0):
        raise TableError(f"the table's {cal.method} calibration {json.dumps(cal.to_dict())} prices "
                         f"the fastest arch of space {space.name} at {fastest:.6g} {unit} "
                         f"(uncalibrated {raw_fastest:.6g} {unit})",
                         RECALIBRATE)
    return model


class LookupPrice:
    """Prices known per arch (a tabular benchmark's measured latencies): not additive, so it has
    no per-choice costs; an arch it does not list costs ``inf`` (never within a budget).

    Strategies screen candidates with it exactly as with a :class:`CostModel`; only the
    predictor's exact knapsack front needs the additive kind.
    """

    def __init__(self, space: SearchSpace, prices: Mapping[Arch, float], unit: str = "ms"):
        self.space, self.unit = space, unit
        self._by_indices = {tuple(space.indices(a)): float(v) for a, v in prices.items()}

    def price_indices(self, indices: Sequence[int]) -> float:
        return self._by_indices.get(tuple(int(j) for j in indices), math.inf)

    def price(self, arch: Arch) -> float:
        return self.price_indices(self.space.indices(arch))

    def min_price(self) -> float:
        """The fastest listed arch's price (inf when nothing is listed)."""
        return min(self._by_indices.values(), default=math.inf)

    def price_rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=int).reshape(-1, self.space.num_positions)
        return np.array([self.price_indices(r) for r in rows.tolist()], dtype=np.float64)


Pricing = CostModel | LookupPrice  # what a black-box problem screens candidates with

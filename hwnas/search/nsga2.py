"""NSGA-II (Deb et al., 2002) in ask/tell form, over discrete architectures.

Why not pymoo: its ask/tell state is a graph of Python objects (saved by pickle only), and
resuming must be exact and JSON; the algorithm itself is a page, so it lives here.

Generation loop: the first ``population`` asks are random; then each ask breeds one child from
the current population (binary tournaments on (rank, crowding), uniform crossover, per-position
mutation with probability 1/L, at least one change, bounded de-duplication / budget re-sampling).
When ``population`` children have been told, parents and children are merged and the best
``population`` survive (non-dominated sorting, crowding distance on the last front). With a
latency budget, Deb's constrained domination applies: feasible beats infeasible, infeasible
ones rank by how far they are over.
"""

from __future__ import annotations

import numpy as np

from hwnas.pareto import crowding_distance, to_minimization
from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch


def dominance_ranks(points_min: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Non-dominated-sorting rank of each row (0 = front) of a minimization matrix, vectorized.

    With ``violation`` (>= 0, 0 = feasible), Deb's rule: feasible rows rank first; infeasible
    ones after, ordered by how far over they are.
    """
    p = np.asarray(points_min, dtype=float)
    n = p.shape[0]
    rank = np.full(n, -1)
    viol = np.zeros(n) if violation is None else np.asarray(violation, dtype=float)
    feasible = viol == 0
    sub = p[feasible]
    dom = np.all(sub[:, None] <= sub[None, :], -1) & np.any(sub[:, None] < sub[None, :], -1)
    count, left = dom.sum(0), np.ones(len(sub), bool)
    r, sub_rank = 0, np.full(len(sub), -1)
    while left.any():
        current = left & (count == 0)
        sub_rank[current] = r
        count = count - dom[current].sum(0)
        left &= ~current
        r += 1
    rank[feasible] = sub_rank
    bad = np.flatnonzero(~feasible)
    rank[bad[np.argsort(viol[bad], kind="stable")]] = r + np.arange(bad.size)
    return rank


def ranks_and_crowding(points: np.ndarray, senses, violation: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(rank, crowding distance within the rank) of each row under constrained domination.

    Crowding is measured on ``points`` as given; infeasible rows, ranked by violation alone,
    get 0.
    """
    rank = dominance_ranks(to_minimization(points, senses), violation)
    crowd = np.zeros(len(rank))
    feasible = np.ones(len(rank), bool) if violation is None else np.asarray(violation) == 0
    for r in np.unique(rank[feasible]):
        idx = np.flatnonzero(rank == r)
        crowd[idx] = crowding_distance(points[idx])
    return rank, crowd


def survivors(points: np.ndarray, senses, k: int, violation: np.ndarray | None = None
              ) -> np.ndarray:
    """Indices (ascending) of the ``k`` best rows by (rank, larger crowding, earlier row)."""
    rank, crowd = ranks_and_crowding(points, senses, violation)
    order = np.lexsort((np.arange(len(rank)), -crowd, rank))
    return np.sort(order[:k])


def rank_and_crowd(problem: Problem, obs: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
    """(rank, crowding) per observation under constrained domination."""
    return ranks_and_crowding(problem.points(obs), problem.senses, _violations(problem, obs))


def _violations(problem: Problem, obs: list[Observation]) -> np.ndarray:
    return np.array([problem.violation(o) for o in obs])


class NSGA2(Strategy):
    name = "nsga2"

    def __init__(self, problem: Problem, seed: int = 0, population: int = 20,
                 crossover_prob: float = 0.9):
        super().__init__(problem, seed)
        if population < 2:
            raise SearchError(f"NSGA-II population {population} is below 2", "raise --population")
        self.population_size = population
        self.crossover_prob = crossover_prob
        self.population: list[Observation] = []
        self.offspring: list[Observation] = []
        self._ranks: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def min_evals(self) -> int:
        return self.population_size

    def _propose(self) -> Arch:
        if self.asked < self.population_size or len(self.population) < 2:
            return self.draw(lambda: self.space.sample(self.rng))
        return self.draw(self._child)

    def _tournament(self) -> Observation:
        if self._ranks is None:
            self._ranks = rank_and_crowd(self.problem, self.population)
        rank, crowd = self._ranks
        a, b = (int(i) for i in self.rng.choice(len(self.population), size=2, replace=False))
        better_b = (rank[b], -crowd[b]) < (rank[a], -crowd[a])
        return self.population[b if better_b else a]

    def _child(self) -> Arch:
        p1, p2 = self._tournament().arch, self._tournament().arch
        i1, i2 = np.array(self.space.indices(p1)), np.array(self.space.indices(p2))
        child = np.where(self.rng.random(i1.size) < 0.5, i1, i2) if (
            self.rng.random() < self.crossover_prob) else i1.copy()
        sizes = np.array([len(c) for c in self.space.choices()])
        mutate = (self.rng.random(child.size) < 1.0 / child.size) & (sizes > 1)
        for p in np.flatnonzero(mutate):
            child[p] = (child[p] + 1 + self.rng.integers(sizes[p] - 1)) % sizes[p]
        arch = self.space.arch_from_indices(child)
        if arch == p1 or arch == p2:
            arch = self.space.mutate(arch, self.rng)
        return arch

    def _learn(self, obs: Observation) -> None:
        if len(self.population) < self.population_size and not self.offspring:
            self.population.append(obs)
            self._ranks = None
            return
        self.offspring.append(obs)
        if len(self.offspring) >= self.population_size:
            self._select()

    def _select(self) -> None:
        merged = self.population + self.offspring
        # by rank, then crowding (larger first), then age: deterministic
        keep = survivors(self.problem.points(merged), self.problem.senses, self.population_size,
                         _violations(self.problem, merged))
        self.population = [merged[int(i)] for i in keep]
        self.offspring = []
        self._ranks = None

    def _extra_state(self) -> dict:
        return {"population": [o.to_dict() for o in self.population],
                "offspring": [o.to_dict() for o in self.offspring]}

    def _load_extra(self, extra: dict) -> None:
        self.population = [Observation.from_dict(self.space, r) for r in extra["population"]]
        self.offspring = [Observation.from_dict(self.space, r) for r in extra["offspring"]]
        self._ranks = None

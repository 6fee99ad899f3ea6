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

from hwnas.pareto import crowding_distance, non_dominated_sort
from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch


def rank_and_crowd(problem: Problem, obs: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
    """(rank, crowding) per observation under constrained domination."""
    n = len(obs)
    rank, crowd = np.zeros(n, dtype=int), np.zeros(n)
    viol = np.array([problem.violation(o) for o in obs])
    feasible = np.flatnonzero(viol == 0)
    points = problem.points(obs)
    next_rank = 0
    if feasible.size:
        for front in non_dominated_sort(points[feasible], problem.senses):
            idx = feasible[front]
            rank[idx] = next_rank
            crowd[idx] = crowding_distance(points[idx])
            next_rank += 1
    infeasible = np.flatnonzero(viol > 0)
    for i in infeasible[np.argsort(viol[infeasible], kind="stable")]:
        rank[i] = next_rank
        crowd[i] = 0.0
        next_rank += 1
    return rank, crowd


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
        rank, crowd = rank_and_crowd(self.problem, merged)
        # sort by rank, then crowding (larger first), then age (stable) for determinism
        order = np.lexsort((np.arange(len(merged)), -crowd, rank))
        survivors = sorted(int(i) for i in order[: self.population_size])
        self.population = [merged[i] for i in survivors]
        self.offspring = []
        self._ranks = None

    def front(self) -> list[Observation]:
        """The current population's first front."""
        if not self.population:
            return []
        rank, _ = rank_and_crowd(self.problem, self.population)
        return [o for o, r in zip(self.population, rank) if r == 0]

    def _extra_state(self) -> dict:
        return {"population": [o.to_dict() for o in self.population],
                "offspring": [o.to_dict() for o in self.offspring]}

    def _load_extra(self, extra: dict) -> None:
        self.population = [Observation.from_dict(self.space, r) for r in extra["population"]]
        self.offspring = [Observation.from_dict(self.space, r) for r in extra["offspring"]]
        self._ranks = None

"""Regularized (aging) evolution (Real et al., 2019).

A population of the ``population`` most recent members; each step samples ``sample_size`` of
them, takes the best as parent, mutates one choice, adds the child and removes the *oldest*
member. With a latency budget, "best" is the highest accuracy among feasible members (infeasible
ones rank below, by how far they are over) and a child predicted over the budget is re-sampled
at most ``MAX_RESAMPLES`` times. Without a budget the parent is drawn from the sample's Pareto
front (accuracy against the other objectives), so the population spreads along the front.
"""

from __future__ import annotations

from hwnas.pareto import pareto_front
from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch


class RegularizedEvolution(Strategy):
    name = "evolution"

    def __init__(self, problem: Problem, seed: int = 0, population: int = 20, sample_size: int = 5):
        super().__init__(problem, seed)
        if not 1 <= sample_size <= population:
            raise SearchError(f"sample size {sample_size} must be in 1..population ({population})",
                              "lower --sample-size")
        self.population_size = population
        self.sample_size = sample_size
        self.population: list[Observation] = []

    @property
    def min_evals(self) -> int:
        return self.population_size

    def _propose(self) -> Arch:
        if self.asked < self.population_size or not self.population:
            return self.draw(lambda: self.space.sample(self.rng))
        picks = self.rng.choice(len(self.population), size=min(self.sample_size, len(self.population)),
                                replace=False)
        parent = self._best([self.population[int(i)] for i in sorted(picks)])
        return self.draw(lambda: self.space.mutate(parent.arch, self.rng))

    def _best(self, sample: list[Observation]) -> Observation:
        if self.problem.budget_ms is not None or len(self.problem.objectives) == 1:
            return max(sample, key=self.problem.fitness)  # ties: the earliest in the sample
        front = pareto_front(self.problem.points(sample), self.problem.senses)
        return sample[int(front[int(self.rng.integers(len(front)))])]

    def _learn(self, obs: Observation) -> None:
        self.population.append(obs)
        if len(self.population) > self.population_size:
            self.population.pop(0)  # aging: the oldest goes, not the worst

    def _extra_state(self) -> dict:
        return {"population": [o.to_dict() for o in self.population]}

    def _load_extra(self, extra: dict) -> None:
        self.population = [Observation.from_dict(self.space, r) for r in extra["population"]]

"""Regularized (aging) evolution (Real et al., 2019).

A population of the ``population`` most recent members; each step samples ``sample_size`` of
them, takes the best as parent, mutates one choice, adds the child and removes the *oldest*
member. With a latency budget, "best" is the highest accuracy among feasible members (infeasible
ones rank below, by how far they are over) and a child predicted over the budget is re-sampled
at most ``MAX_RESAMPLES`` times.

Without a budget there is no single "best". Each step then draws one of ``targets`` latency
levels spread from the fastest to the slowest latency seen (as the RL strategy does) and treats
it as that step's budget: the parent is the most accurate sampled member within it (else the
fastest) and the child is re-sampled to be predicted within it. The fastest level keeps pushing
below the fastest arch seen, the slowest one maximizes accuracy, so the population spreads
along the whole front. Objectives without latency fall back to a parent drawn from the
sample's Pareto front.
"""

from __future__ import annotations

from hwnas.pareto import pareto_front
from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch


class RegularizedEvolution(Strategy):
    name = "evolution"

    def __init__(self, problem: Problem, seed: int = 0, population: int = 20, sample_size: int = 5,
                 targets: int = 3, level_share: float = 0.5):
        super().__init__(problem, seed)
        if not 1 <= sample_size <= population:
            raise SearchError(f"sample size {sample_size} must be in 1..population ({population})",
                              "lower --sample-size")
        self.population_size = population
        self.sample_size = sample_size
        if targets < 1 or not 0.0 <= level_share <= 1.0:
            raise SearchError(f"targets {targets} / level share {level_share} out of range",
                              "use targets >= 1 and a level share in [0, 1]")
        self.levels = targets
        self.level_share = level_share
        self.population: list[Observation] = []

    @property
    def min_evals(self) -> int:
        return self.population_size

    def _propose(self) -> Arch:
        if self.asked < self.population_size or not self.population:
            return self.draw(lambda: self.space.sample(self.rng))
        picks = self.rng.choice(len(self.population), size=min(self.sample_size, len(self.population)),
                                replace=False)
        sample = [self.population[int(i)] for i in sorted(picks)]
        if self.problem.budget_ms is not None or len(self.problem.objectives) == 1:
            parent = max(sample, key=self.problem.fitness)  # ties: the earliest in the sample
            return self.draw(lambda: self.space.mutate(parent.arch, self.rng))
        if "latency_ms" in self.problem.objectives and self.rng.random() < self.level_share:
            target = self.level_target_ms(int(self.rng.integers(self.levels)), self.levels)
            within = [o for o in sample if o.latency_ms <= target]
            parent = (max(within, key=lambda o: o.accuracy) if within
                      else min(sample, key=lambda o: o.latency_ms))
            return self.draw(lambda: self.space.mutate(parent.arch, self.rng), target)
        front = pareto_front(self.problem.points(sample), self.problem.senses)
        parent = sample[int(front[int(self.rng.integers(len(front)))])]
        return self.draw(lambda: self.space.mutate(parent.arch, self.rng))

    def _learn(self, obs: Observation) -> None:
        self.population.append(obs)
        if len(self.population) > self.population_size:
            self.population.pop(0)  # aging: the oldest goes, not the worst

    def _extra_state(self) -> dict:
        return {"population": [o.to_dict() for o in self.population]}

    def _load_extra(self, extra: dict) -> None:
        self.population = [Observation.from_dict(self.space, r) for r in extra["population"]]

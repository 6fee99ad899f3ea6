"""Local search (White et al. 2020, "Local search is state of the art for NAS benchmarks"),
multi-objective: a Pareto archive whose members' one-edit neighbourhoods are explored.

After ``initial`` random archs, the archive is the evaluated Pareto front (with a latency budget:
the most accurate feasible arch, i.e. plain hill climbing). A *centre* is an archive member; its
one-edit neighbours (every position changed to every other choice) are asked in a seeded random
order, skipping archs already asked and, with a budget, archs priced over it. The centre stays
while it is on the archive and has neighbours left; otherwise the next centre is drawn among the
archive members with unexplored neighbours. When none is left (a local optimum of the whole
front), a random arch restarts the search.
"""

from __future__ import annotations

from hwnas.pareto import pareto_front
from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.search.encodings import neighbours
from hwnas.space.arch import Arch


class LocalSearch(Strategy):
    name = "local"

    def __init__(self, problem: Problem, seed: int = 0, initial: int = 10):
        super().__init__(problem, seed)
        if initial < 1:
            raise SearchError(f"local search needs at least 1 initial sample, got {initial}",
                              "raise --population")
        self.initial = initial
        self.centre: str | None = None
        self.queue: list[str] = []     # the centre's neighbours still to ask, in order
        self.exhausted: list[str] = []  # centres whose neighbourhood was fully asked

    @property
    def min_evals(self) -> int:
        return self.initial

    def _archive(self) -> list[Observation]:
        obs = self.history
        if self.problem.budget_ms is not None or len(self.problem.objectives) == 1:
            return [max(obs, key=self.problem.fitness)]
        return [obs[int(i)] for i in pareto_front(self.problem.points(obs), self.problem.senses)]

    def _open(self, text: str) -> list[str]:
        row = self.space.indices(self.space.parse(text))
        out = []
        for n in neighbours(self.space, row):
            arch = self.space.arch_from_indices(n)
            if str(arch) not in self._seen and self.problem.predicted_ok(arch):
                out.append(str(arch))
        return out

    def _propose(self) -> Arch:
        if len(self.history) < self.initial:
            return self.draw(lambda: self.space.sample(self.rng))
        archive = [str(o.arch) for o in self._archive()]
        self.queue = [s for s in self.queue if s not in self._seen]
        if self.centre not in archive or not self.queue:
            if self.centre is not None and not self.queue and self.centre not in self.exhausted:
                self.exhausted.append(self.centre)
            self.centre, self.queue = None, []
            done = set(self.exhausted)
            for k in self.rng.permutation(len(archive)):
                text = archive[int(k)]
                if text in done:
                    continue
                todo = self._open(text)
                if todo:
                    self.centre = text
                    self.queue = [todo[int(i)] for i in self.rng.permutation(len(todo))]
                    break
                self.exhausted.append(text)
        if not self.queue:  # the whole archive is a local optimum: restart from a random arch
            return self.draw(lambda: self.space.sample(self.rng))
        return self.space.parse(self.queue.pop(0))

    def _extra_state(self) -> dict:
        return {"centre": self.centre, "queue": list(self.queue), "exhausted": list(self.exhausted)}

    def _load_extra(self, extra: dict) -> None:
        self.centre = extra["centre"]
        self.queue = list(extra["queue"])
        self.exhausted = list(extra["exhausted"])

"""The one interface every black-box strategy implements: ``ask`` / ``tell`` plus JSON state.

A strategy proposes architectures (``ask``) and learns from their measured objectives (``tell``).
Several asks may be outstanding at once (parallel workers); tells arrive in ask order. Its whole
state, random generator included, is a JSON-able dict (``state_dict`` / ``load_state_dict``), so a
run resumes to exactly the result of an uninterrupted one.

Example:
    >>> import numpy as np
    >>> from hwnas.testing import tiny_space
    >>> from hwnas.search import Observation, Problem, make_strategy
    >>> s = make_strategy("random", Problem(tiny_space()), seed=0)
    >>> arch = s.ask()
    >>> s.tell(Observation(arch, accuracy=0.5, latency_ms=1.0))  # a runs.Candidate
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency.cost import LookupPrice, Pricing
from hwnas.runs import OBJECTIVES, Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

# Objectives a search can optimize: the run contract's vocabulary less wall time (not reproducible).
OBJECTIVE_SENSES = {name: sense for name, sense in OBJECTIVES.items() if name != "wall_s"}
MAX_RESAMPLES = 20  # bounded constraint re-sampling: never an unbounded rejection loop


class SearchError(HwnasError):
    """A strategy or search configuration that cannot work."""


# The strategies still name a told candidate an Observation; it is the run contract's Candidate.
Observation = Candidate


@dataclass(frozen=True)
class Problem:
    """What is searched: the space, the objectives and an optional hard latency budget.

    ``cost`` prices any arch of the space (the latency table's cost model) before it is
    evaluated: strategies use it to re-sample candidates predicted over the budget, and the
    predictor reads its per-choice costs. None when latency is only known once measured.
    """

    space: SearchSpace
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")
    budget_ms: float | None = None
    cost: Pricing | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        unknown = [o for o in self.objectives if o not in OBJECTIVE_SENSES]
        if unknown or "accuracy" not in self.objectives:
            raise SearchError(f"bad objectives {list(self.objectives)}",
                              f"use accuracy plus any of {', '.join(list(OBJECTIVE_SENSES)[1:])}")
        check_budget(self.budget_ms)
        if self.cost is not None and self.cost.space.fingerprint() != self.space.fingerprint():
            raise SearchError(f"the cost model prices space {self.cost.space.name}, not the searched "
                              f"space {self.space.name}", "build the cost model for the searched space")

    def check_reachable(self) -> None:
        """Refuse a budget below the fastest priced arch: every candidate would miss it."""
        if self.budget_ms is None or self.cost is None:
            return
        fastest = fastest_price(self.cost)
        if self.budget_ms < fastest:
            raise SearchError(f"budget {self.budget_ms:g} {self.cost.unit} is below the fastest arch "
                              f"of space {self.space.name} ({fastest:.4g} {self.cost.unit}); no arch "
                              "can meet it", f"raise --budget-ms to at least {fastest:.4g}")

    @property
    def senses(self) -> tuple[str, ...]:
        return tuple(OBJECTIVE_SENSES[o] for o in self.objectives)

    def points(self, observations: list[Observation]) -> np.ndarray:
        return np.array([[o.value(n) for n in self.objectives] for o in observations],
                        dtype=float).reshape(len(observations), len(self.objectives))

    def violation(self, obs: Observation) -> float:
        """How far over the budget (relative), 0 when feasible or without a budget."""
        if self.budget_ms is None:
            return 0.0
        return max(0.0, obs.latency_ms / self.budget_ms - 1.0)

    def fitness(self, obs: Observation) -> float:
        """Scalar for single-objective ranking: accuracy when feasible, below 0 when over budget."""
        v = self.violation(obs)
        return obs.accuracy if v == 0.0 else -v

    def predicted_ok(self, arch: Arch, budget_ms: float | None = None) -> bool:
        """Predicted within ``budget_ms`` (default: the problem's budget); True if unknown."""
        budget = self.budget_ms if budget_ms is None else budget_ms
        if budget is None or self.cost is None:
            return True
        return self.cost.price(arch) <= budget


def check_budget(budget_ms: float | None) -> None:
    """A budget is a positive finite number (or None): 0 would divide, inf would mean none."""
    if budget_ms is None:
        return
    if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float)) \
            or not math.isfinite(budget_ms) or budget_ms <= 0:
        raise SearchError(f"--budget-ms must be a positive number, got {budget_ms}",
                          "pass a budget above 0 ms, or drop --budget-ms to search without one")


def fastest_price(cost: Pricing) -> float:
    """The lowest price any arch of the space has (a CSV's fastest listed arch)."""
    if isinstance(cost, LookupPrice):
        return cost.min_price()
    return float(cost.price_range()[0])


class Strategy(ABC):
    """Base class: a seeded generator, the history of observations, JSON state."""

    name = "strategy"

    def __init__(self, problem: Problem, seed: int = 0):
        self.problem = problem
        self.space = problem.space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history: list[Observation] = []
        self.asked = 0
        self.proposed: list[str] = []  # every asked arch, in order (for de-duplication)
        self._seen: set[str] = set()

    @property
    def min_evals(self) -> int:
        """The fewest evaluations with which the strategy is meaningful (its population)."""
        return 1

    @abstractmethod
    def _propose(self) -> Arch:
        """The next architecture to evaluate."""

    def _learn(self, obs: Observation) -> None:  # noqa: B027 (optional hook)
        """Update internal state from one observation (history is already appended)."""

    def ask(self) -> Arch:
        arch = self._propose()
        self.asked += 1
        self.proposed.append(str(arch))
        self._seen.add(str(arch))
        return arch

    def tell(self, obs: Observation) -> None:
        self.history.append(obs)
        self._learn(obs)

    # --- helpers for subclasses ---------------------------------------------------------------
    def draw(self, propose: Callable[[], Arch], budget_ms: float | None = None) -> Arch:
        """Call ``propose`` until it gives an arch not yet asked and predicted within budget.

        At most ``MAX_RESAMPLES`` tries, never an unbounded loop (see ``pick``).
        """
        return self.pick((propose() for _ in range(MAX_RESAMPLES)), budget_ms)

    def level_target_ms(self, level: int, levels: int) -> float:
        """Latency target of ``level`` of ``levels``: geometric from the fastest to the slowest
        latency observed so far (for single-objective strategies run without a budget); a
        single level is the slowest, i.e. no latency pressure."""
        lats = [max(o.latency_ms, 1e-9) for o in self.history]
        lo, hi = min(lats), max(lats)
        if levels <= 1:
            return float(hi)
        return float(lo * (hi / lo) ** (level / (levels - 1)))

    def pick(self, archs: Iterable[Arch], budget_ms: float | None = None) -> Arch:
        """The first of ``archs`` not yet asked and predicted within budget (consumed lazily).

        If none qualifies, a try predicted within budget wins even if already asked (re-telling
        it costs no evaluation), then the predicted-fastest new one; the search goes on.
        """
        fallback, fallback_key = None, (True, True, np.inf)
        for arch in archs:
            seen = str(arch) in self._seen
            ok = self.problem.predicted_ok(arch, budget_ms)
            if ok and not seen:
                return arch
            lat = self.problem.cost.price(arch) if self.problem.cost else 0.0
            if (not ok, seen, lat) < fallback_key:
                fallback, fallback_key = arch, (not ok, seen, lat)
        return fallback

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed, "rng": self.rng.bit_generator.state,
                "asked": self.asked, "proposed": list(self.proposed),
                "history": [o.to_dict() for o in self.history],
                "extra": self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise SearchError(f"saved state belongs to strategy {state.get('name')!r}, not {self.name!r}",
                              f"resume with --strategy {state.get('name')}")
        self.seed = state["seed"]
        self.rng.bit_generator.state = state["rng"]
        self.asked = state["asked"]
        self.proposed = list(state["proposed"])
        self._seen = set(self.proposed)
        self.history = [Candidate.from_dict(self.space, r, "saved strategy history")
                        for r in state["history"]]
        try:
            self._load_extra(state["extra"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SearchError(f"saved {self.name} state lacks or garbles {exc}: written by "
                              "another hwnas version", "start a new run with another --out") from None

    def _extra_state(self) -> dict:
        return {}

    def _load_extra(self, extra: dict) -> None:  # noqa: B027 (optional hook)
        pass

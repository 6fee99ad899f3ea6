"""A conformance suite every search strategy passes (like Optuna's shipped sampler tests).

Subclass :class:`StrategyConformance` in a test module, set ``strategy`` (and ``options``),
and pytest collects the checks: same seed same result, a resumed run equals an uninterrupted
one (also with several asks outstanding), JSON state, a hard latency budget respected, the
evaluation budget respected, and the known optimum of a toy problem found.

Also here: :class:`ToyEvaluator` (an exact, additive toy problem) and
:class:`CrashOnceEvaluator` (kills its worker process on the first attempt; for Ray retry tests).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import numpy as np

from hwnas.evaluation.base import Evaluator
from hwnas.latency.cost import CostModel
from hwnas.runs import Candidate
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.space.mbconv import MBConvConfig, MBConvSpace, Stage

TOY = MBConvConfig(name="toy", resolution=8, num_classes=10, stem_channels=4, stem_stride=1,
                   first_block_channels=0, stages=(Stage(8, 2, 1), Stage(8, 2, 2)), head_channels=8,
                   kernels=(3, 5), expands=(2, 4))


def toy_space() -> MBConvSpace:
    """4 positions with 4, 5, 4, 5 choices: 400 archs, small enough to enumerate."""
    return MBConvSpace(TOY)


class ToyEvaluator(Evaluator):
    """Accuracy and latency additive over positions from seeded per-choice values.

    Bigger choices cost more latency and tend to give more accuracy, with noise, so the
    trade-off is real. Everything can be enumerated: :meth:`optimum` and :meth:`true_front`.
    """

    name = "toy"

    def __init__(self, space: SearchSpace, seed: int = 0):
        super().__init__(space)
        rng = np.random.default_rng(seed)
        self.lat = [np.sort(rng.uniform(0.2, 1.0, len(c))) for c in space.choices()]
        self.acc = [np.sort(rng.uniform(0.0, 0.2, len(c))) + rng.normal(0, 0.03, len(c))
                    for c in space.choices()]

    def values(self, arch: Arch) -> tuple[float, float]:
        idx = self.space.indices(arch)
        acc = 0.1 + sum(a[j] for a, j in zip(self.acc, idx))
        return float(acc), float(sum(t[j] for t, j in zip(self.lat, idx)))

    def evaluate(self, arch: Arch) -> Candidate:
        acc, lat = self.values(arch)
        return Candidate(arch, acc, lat, 0, 0, wall_s=0.0, accuracy_kind="table", evaluator=self.name)

    def cost_model(self) -> CostModel:
        return CostModel(self.space, tuple(self.lat), 0.0)

    def all_points(self) -> tuple[list[Arch], np.ndarray]:
        archs = [self.space.arch_from_indices(i)
                 for i in itertools.product(*(range(len(c)) for c in self.space.choices()))]
        return archs, np.array([self.values(a) for a in archs])

    def optimum(self, budget_ms: float) -> tuple[Arch, float]:
        archs, pts = self.all_points()
        ok = np.flatnonzero(pts[:, 1] <= budget_ms)
        best = ok[np.argmax(pts[ok, 0])]
        return archs[best], float(pts[best, 0])


class CrashOnceEvaluator(Evaluator):
    """Wraps an evaluator; the first attempt on ``crash_arch`` hard-kills its worker process.

    The marker file records that the attempt happened, so the retry (a new worker) proceeds.
    """

    name = "crash-once"

    def __init__(self, inner: Evaluator, marker: Path, crash_arch: str, delay_s: float = 0.0):
        super().__init__(inner.space)
        self.inner, self.marker, self.crash_arch, self.delay_s = inner, Path(marker), crash_arch, delay_s

    def evaluate(self, arch: Arch) -> Candidate:
        if str(arch) == self.crash_arch and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            time.sleep(self.delay_s)
            os._exit(1)  # a worker killed mid-evaluation
        return self.inner.evaluate(arch)


def drive(strategy, evaluator: ToyEvaluator, n: int, batch: int = 1) -> list[str]:
    """Ask/tell ``n`` times (``batch`` asks outstanding at once); the asked arch strings."""
    from hwnas.search.base import Observation

    out = []
    while len(out) < n:
        archs = [strategy.ask() for _ in range(min(batch, n - len(out)))]
        for a in archs:
            acc, lat = evaluator.values(a)
            strategy.tell(Observation(a, acc, lat))
            out.append(str(a))
    return out


class StrategyConformance:
    """Checks every strategy must pass; subclass and set ``strategy`` / ``options``."""

    strategy: str = ""
    options: dict = {}
    toy_evals: int = 120       # evaluations allowed to find the toy optimum
    toy_budget_ms: float = 2.3  # about a third of the 400 toy archs fit

    def problem(self, budget_ms: float | None = None, objectives=("accuracy", "latency_ms")):
        from hwnas.search.base import Problem

        ev = ToyEvaluator(toy_space())
        return Problem(ev.space, tuple(objectives), budget_ms, ev.cost_model()), ev

    def make(self, problem, seed: int = 0):
        from hwnas.search import make_strategy

        return make_strategy(self.strategy, problem, seed, **self.options)

    def test_same_seed_same_result(self) -> None:
        problem, ev = self.problem()
        a = drive(self.make(problem, 3), ev, 40)
        b = drive(self.make(problem, 3), ev, 40)
        c = drive(self.make(problem, 4), ev, 40)
        assert a == b
        assert a != c

    def test_state_is_json(self) -> None:
        problem, ev = self.problem()
        s = self.make(problem, 0)
        drive(s, ev, 25)
        # strict JSON (numpy scalars, arrays and NaN raise here) that loses nothing: a strategy
        # built with another seed, loaded from the text, saves the same state and proposes the same
        text = json.dumps(s.state_dict(), allow_nan=False)
        restored = self.make(problem, 7)
        restored.load_state_dict(json.loads(text))
        assert json.loads(json.dumps(restored.state_dict(), allow_nan=False)) == json.loads(text)
        assert drive(restored, ev, 10) == drive(s, ev, 10)

    def _resume(self, batch: int) -> None:
        problem, ev = self.problem()
        full = drive(self.make(problem, 1), ev, 45, batch)
        first = self.make(problem, 1)
        head = drive(first, ev, 18 if batch == 1 else 18 // batch * batch, batch)
        state = json.loads(json.dumps(first.state_dict()))
        second = self.make(problem, 1)
        second.load_state_dict(state)
        tail = drive(second, ev, 45 - len(head), batch)
        assert head + tail == full

    def test_resume_equals_uninterrupted(self) -> None:
        self._resume(batch=1)

    def test_resume_equals_uninterrupted_with_parallel_asks(self) -> None:
        self._resume(batch=3)

    def test_latency_budget_respected(self) -> None:
        problem, ev = self.problem(budget_ms=self.toy_budget_ms)
        s = self.make(problem, 0)
        asked = drive(s, ev, 60)
        lats = [ev.values(s.space.parse(a))[1] for a in asked]
        # proposals are re-sampled (boundedly) until predicted within budget
        assert sum(lat <= self.toy_budget_ms for lat in lats) >= 0.95 * len(lats)

    def test_evaluation_budget_respected(self, tmp_path: Path) -> None:
        from hwnas.runs import RunFolder
        from hwnas.search.runner import run_search

        problem, ev = self.problem(budget_ms=self.toy_budget_ms)
        s = self.make(problem, 0)
        run = RunFolder(tmp_path / "run")
        run.create({"strategy": self.strategy}, resume=False)
        result = run_search(s, ev, max_evals=max(30, s.min_evals), run=run, batch=2)
        assert result.evaluations == max(30, s.min_evals) == len(run.candidates())
        assert len({c.arch for c in run.candidates()}) == result.evaluations
        within = [c for c in run.candidates() if c.latency_ms <= self.toy_budget_ms]
        assert within, "no proposal within the budget: the best-under-budget check would be vacuous"
        assert result.best is not None and result.best.latency_ms <= self.toy_budget_ms
        assert result.best.accuracy == max(c.accuracy for c in within)

    def test_toy_optimum_found(self) -> None:
        problem, ev = self.problem(budget_ms=self.toy_budget_ms)
        _, best_acc = ev.optimum(self.toy_budget_ms)
        s = self.make(problem, 0)
        drive(s, ev, self.toy_evals)
        found = max(o.accuracy for o in s.history if o.latency_ms <= self.toy_budget_ms)
        assert found == best_acc

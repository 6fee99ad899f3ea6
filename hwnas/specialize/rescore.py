"""A device's search on predicted accuracy, then supernet scores of the few archs that matter.

With ``--accuracy-from predictor`` a device's black-box search evaluates its candidates with the
supernet's fitted predictor (:mod:`hwnas.specialize.predictor`): latency from the device's table,
accuracy predicted, recorded as kind ``predicted-oneshot-val``. The top ``K`` archs under the
budget (the predicted front's first, then the best predicted) are then scored with the supernet
(through ``scores.jsonl``) into a second run folder, ``DEVICE/rescored``, of kind
``oneshot-val``; the chosen arch is the best *supernet-scored* arch under the budget. Reports
group the two kinds apart: a prediction is never plotted, ranked or chosen beside a score.
"""

from __future__ import annotations

import time
from pathlib import Path

from hwnas.errors import HwnasError
from hwnas.evaluation.base import LutPricedEvaluator, arch_costs
from hwnas.runs import Candidate, RunFolder, RunResult
from hwnas.specialize.predictor import PREDICTED_KIND, Predictor

RESCORED = "rescored"  # the run folder (inside a device's) of the supernet-scored archs


class PredictedEvaluator(LutPricedEvaluator):
    """Latency from the table, accuracy from the supernet's predictor: no network is built, so
    ``params`` and ``macs`` stay unknown (building one costs ~30 ms, 100 times the prediction;
    the rescored archs get theirs)."""

    name = "supernet-predictor"

    def __init__(self, space, lut: str, predictor: Predictor, supernet: str):
        super().__init__(space, lut)
        self.predictor = predictor
        self.supernet = supernet

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        self._require_lut()

    def evaluate(self, arch) -> Candidate:
        started = time.perf_counter()
        acc = float(self.predictor.predict(self.space, [arch])[0])
        return Candidate(arch, acc, self._lut.predict(self.space, arch), None, None,
                         wall_s=time.perf_counter() - started, accuracy_kind=PREDICTED_KIND,
                         evaluator=self.name)

    def describe(self) -> dict:
        meta = self.predictor.meta
        return {"evaluator": self.name, "lut": self.lut_path, "supernet": self.supernet,
                "predictor": {"weights_sha256": meta.get("weights_sha256"),
                              "encoding": self.predictor.encoding, "samples": meta.get("samples"),
                              "seed": meta.get("seed")}}


def predicted_search(plan, target, predictor: Predictor, space) -> RunResult:
    """The device's search, every evaluation a prediction; its run folder is ``OUT/DEVICE``.

    The search runs in memory and its folder is written once at the end: checkpointing after
    every evaluation (an fsync'd candidate line and a state file that grows with the history)
    cost 5 s of a 6 s search of 300 predictions, while redoing a killed search costs seconds
    and gives the same candidates (seeded)."""
    from dataclasses import replace

    from hwnas.execution import make_executor
    from hwnas.search.base import Problem
    from hwnas.search.blackbox import BlackboxConfig, strategy_options
    from hwnas.search.runner import run_search
    from hwnas.search.strategies import make_strategy

    run_dir = Path(plan.out) / target.folder
    evaluator = PredictedEvaluator(space, target.lut, predictor, plan.supernet)
    problem = Problem(space, ("accuracy", "latency_ms"), target.budget_ms, evaluator.cost_model())
    problem.check_reachable()
    cfg = BlackboxConfig(plan.strategy, "supernet-predictor", plan.space, target.lut, target.budget_ms,
                         plan.evaluations, str(run_dir), seed=plan.seed, population=plan.population,
                         sample_size=min(5, plan.population))
    options = strategy_options(cfg)
    strategy = make_strategy(plan.strategy, problem, plan.seed, **options)
    max_evals = min(plan.evaluations, space.size())
    result = run_search(strategy, evaluator, max_evals, make_executor("local"), None, lut=target.lut)
    run_config = {"strategy": plan.strategy, "evaluator": evaluator.describe(), "space": plan.space,
                  "space_fingerprint": space.fingerprint(), "lut": target.lut,
                  "budget_ms": target.budget_ms, "max_evals": max_evals,
                  "objectives": list(problem.objectives), "seed": plan.seed, "workers": 1,
                  "executor": "local", "ray_address": None, "options": options, "threads": 0}
    run = RunFolder(run_dir)
    run.create(run_config, resume=False, force=True)  # a killed device's search is redone whole
    run.write_candidates(result.candidates)
    result = replace(result, run_dir=str(run_dir))
    run.save_result(result)
    return result


def rescore_picks(candidates, budget_ms: float, k: int) -> list:
    """Up to ``k`` distinct archs under the budget: the predicted front first (most accurate
    first), then the remaining candidates by predicted accuracy."""
    from hwnas.runs.result import front_and_best

    inside = [c for c in candidates if c.accuracy is not None and c.latency_ms is not None
              and c.latency_ms <= budget_ms]
    front, _knee, _best = front_and_best(inside, ("accuracy", "latency_ms"), budget_ms)
    key = lambda c: (-c.accuracy, c.latency_ms, str(c.arch))  # noqa: E731
    picks = {}
    for c in [*sorted(front, key=key), *sorted(inside, key=key)]:
        picks.setdefault(str(c.arch), c)
    return list(picks.values())[:k]


def rescore(plan, target, supernet, predicted: RunResult, k: int, score) -> RunResult:
    """Score the picks with ``score`` (a :func:`~hwnas.specialize.predictor.supernet_scorer`)
    into ``OUT/DEVICE/rescored``; its best is the choice."""
    from dataclasses import replace

    from hwnas.runs.result import front_and_best

    picks = rescore_picks(predicted.candidates, target.budget_ms, k)
    if not picks:
        raise HwnasError(f"the search for {target.device} found no arch under {target.budget_ms:g} ms",
                         "raise --budget-ms or --evaluations for this table")
    scored = []
    for i, c in enumerate(picks):
        started = time.perf_counter()
        arch = supernet.space.parse(str(c.arch))
        acc = score(arch)
        params, macs = arch_costs(supernet.space, arch)
        scored.append(replace(c, accuracy=acc, params=params, macs=macs, accuracy_kind="oneshot-val",
                              evaluator="supernet", strategy="rescore", index=i,
                              wall_s=time.perf_counter() - started))
    objectives = ("accuracy", "latency_ms")
    pareto, knee, best = front_and_best(scored, objectives, target.budget_ms)
    run = RunFolder(Path(plan.out) / target.folder / RESCORED)
    run.create({"strategy": "rescore", "evaluator": {"evaluator": "oneshot", "supernet": plan.supernet,
                                                     "lut": target.lut},
                "space": plan.space, "lut": target.lut, "budget_ms": target.budget_ms,
                "rescore": k, "of": str(Path(plan.out) / target.folder)}, resume=False, force=True)
    run.write_candidates(scored)
    result = RunResult("rescore", supernet.space.name, objectives, target.budget_ms, pareto, best, knee,
                       len(scored), len(scored), True, lut=target.lut, run_dir=str(run.path),
                       candidates=tuple(scored))
    run.save_result(result)
    return result

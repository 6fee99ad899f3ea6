"""The search loop: ask a batch, evaluate it (locally or on Ray), record, tell, checkpoint.

Every evaluated candidate is appended to ``candidates.jsonl`` before the strategy hears of it,
and the strategy's state is checkpointed after each batch. On resume the strategy state is
restored and replays the same asks; any candidate already in the history (a batch cut short
after its evaluations were written) is taken from there instead of being evaluated again, so a
resumed run ends exactly where an uninterrupted one does.

An arch the strategy proposes twice is told its recorded result again without a new
evaluation; it does not count against ``max_evals`` (asks are bounded at ``10 * max_evals``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hwnas.evaluation.base import Evaluator
from hwnas.execution import Executor, LocalExecutor
from hwnas.pareto import knee_point, pareto_front
from hwnas.runs import RunFolder
from hwnas.search.base import Observation, SearchError, Strategy

ASK_FACTOR = 10


@dataclass(frozen=True)
class SearchResult:
    strategy: str
    space: str
    objectives: tuple[str, ...]
    budget_ms: float | None
    candidates: tuple[dict, ...]
    pareto: tuple[dict, ...]
    best: dict | None
    knee: dict | None
    evaluations: int
    asks: int
    complete: bool

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "space": self.space, "objectives": list(self.objectives),
                "budget_ms": self.budget_ms, "evaluations": self.evaluations, "asks": self.asks,
                "complete": self.complete, "best": self.best, "knee": self.knee,
                "pareto": list(self.pareto)}


def summarize(strategy: Strategy, records: list[dict], asks: int, max_evals: int) -> SearchResult:
    problem = strategy.problem
    scored = [r for r in records if r.get("accuracy") is not None]
    pareto, knee, best = [], None, None
    if scored:
        points = np.array([[float(r.get(o) or 0.0) for o in problem.objectives] for r in scored])
        front = pareto_front(points, problem.senses)
        pareto = sorted((scored[int(i)] for i in front), key=lambda r: r["latency_ms"])
        knee = scored[knee_point(points, problem.senses)]
        ok = [r for r in scored if problem.budget_ms is None or r["latency_ms"] <= problem.budget_ms]
        best = max(ok, key=lambda r: (r["accuracy"], -r["latency_ms"])) if ok else None
    return SearchResult(strategy.name, problem.space.name, problem.objectives, problem.budget_ms,
                        tuple(records), tuple(pareto), best, knee, len(records), asks,
                        len(records) >= max_evals)


def run_search(strategy: Strategy, evaluator: Evaluator, max_evals: int,
               executor: Executor | None = None, run: RunFolder | None = None, batch: int = 1,
               progress: bool = False, stop_after: int | None = None) -> SearchResult:
    """Search until ``max_evals`` distinct candidates are evaluated.

    ``batch`` archs are asked and evaluated together (one per worker). ``stop_after`` ends the
    loop early after that many evaluations (as an interruption would; used to test resume).
    """
    if max_evals < strategy.min_evals:
        raise SearchError(f"--max-evals {max_evals} is below the {strategy.name} strategy's "
                          f"population / initial sample of {strategy.min_evals}",
                          f"raise --max-evals to at least {strategy.min_evals} or shrink the population")
    if batch < 1:
        raise SearchError(f"batch / workers must be >= 1, got {batch}", "pass --workers 1 or more")
    executor = executor or LocalExecutor()
    evaluator.prepare(run.path if run else None, progress)
    records = run.candidates() if run else []
    cache = {r["arch"]: r for r in records}
    state = run.load_state() if run else None
    done, asks = 0, 0
    if state is not None:
        strategy.load_state_dict(state["strategy"])
        done, asks = state["done"], state["asks"]
    told = {r["arch"] for r in records[:done]}
    space = strategy.space
    executor.start()
    from rich.progress import Progress

    try:
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(f"{strategy.name} search", total=max_evals, completed=done)
            while done < max_evals and asks < ASK_FACTOR * max_evals:
                if stop_after is not None and done >= stop_after:
                    break
                archs = [strategy.ask() for _ in range(min(batch, max_evals - done))]
                asks += len(archs)
                need = list({str(a): a for a in archs if str(a) not in cache}.values())
                start = time.perf_counter()
                results = executor.map(evaluator, need) if need else []
                for arch, res in zip(need, results):
                    record = {"index": len(records), "arch": str(arch), **res.to_dict(),
                              "strategy": strategy.name}
                    records.append(record)
                    cache[str(arch)] = record
                    if run:
                        run.append(record)
                for arch in archs:
                    key = str(arch)
                    if key not in told:
                        told.add(key)
                        done += 1
                    strategy.tell(Observation.from_dict(space, cache[key]))
                if run:
                    run.save_state({"strategy": strategy.state_dict(), "done": done, "asks": asks,
                                    "batch_wall_s": time.perf_counter() - start})
                bar.update(task, completed=done)
    finally:
        executor.shutdown()
    result = summarize(strategy, records[:done], asks, max_evals)
    if run:
        run.save_result({**result.to_dict(), "candidates_file": "candidates.jsonl"})
    return result

"""The search loop: ask a batch, evaluate it (locally or on Ray), record, tell, checkpoint.

Every evaluated candidate is appended to the run folder before the strategy hears of it, and
the strategy's state is checkpointed after each batch. On resume the strategy state is
restored and replays the same asks; any candidate already recorded (a batch cut short after
its evaluations were written) is taken from there instead of being evaluated again, so a
resumed run ends exactly where an uninterrupted one does.

An arch the strategy proposes twice is told its recorded result again without a new
evaluation; it does not count against ``max_evals`` (asks are bounded at ``10 * max_evals``).
"""

from __future__ import annotations

import time
from dataclasses import replace

from hwnas.evaluation.base import Evaluator
from hwnas.execution import Executor, LocalExecutor
from hwnas.runs import Candidate, RunFolder, RunResult, front_and_best
from hwnas.search.base import SearchError, Strategy
from hwnas.space.arch import Arch

ASK_FACTOR = 10


def summarize(strategy: Strategy, candidates: list[Candidate], asks: int, max_evals: int,
              lut: str | None = None, run_dir: str = "") -> RunResult:
    problem = strategy.problem
    pareto, knee, best = front_and_best(candidates, problem.objectives, problem.budget_ms)
    return RunResult(strategy.name, problem.space.name, problem.objectives, problem.budget_ms,
                     pareto, best, knee, len(candidates), asks, len(candidates) >= max_evals,
                     lut=lut, run_dir=run_dir, candidates=tuple(candidates))


def _told(candidate: Candidate) -> Candidate:
    # strategies rank by accuracy: an evaluation that could not score counts as 0
    return candidate if candidate.accuracy is not None else replace(candidate, accuracy=0.0)


def run_search(strategy: Strategy, evaluator: Evaluator, max_evals: int,
               executor: Executor | None = None, run: RunFolder | None = None, batch: int = 1,
               progress: bool = False, stop_after: int | None = None,
               lut: str | None = None) -> RunResult:
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
    records: list[Candidate] = list(run.candidates(strategy.space)) if run else []
    cache: dict[Arch, Candidate] = {c.arch: c for c in records}
    state = run.load_state() if run else None
    done, asks = 0, 0
    if state is not None:
        strategy.load_state_dict(state["strategy"])
        done, asks = state["done"], state["asks"]
    told = {c.arch for c in records[:done]}
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
                need = list(dict.fromkeys(a for a in archs if a not in cache))
                start = time.perf_counter()
                results = executor.map(evaluator, need) if need else []
                for arch, res in zip(need, results):
                    cand = replace(res, arch=arch, index=len(records), strategy=strategy.name)
                    records.append(cand)
                    cache[arch] = cand
                    if run:
                        run.append(cand)
                for arch in archs:
                    if arch not in told:
                        told.add(arch)
                        done += 1
                    strategy.tell(_told(cache[arch]))
                if run:
                    run.save_state({"strategy": strategy.state_dict(), "done": done, "asks": asks,
                                    "batch_wall_s": time.perf_counter() - start})
                bar.update(task, completed=done)
    finally:
        executor.shutdown()
    result = summarize(strategy, records[:done], asks, max_evals, lut, str(run.path) if run else "")
    if run:
        run.save_result(result)
    return result

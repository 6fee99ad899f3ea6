"""The library call behind ``hwnas search`` for the black-box strategies: build the evaluator,
the problem and the strategy, open the run folder (or resume it) and run the ask/tell loop."""

from __future__ import annotations

from pathlib import Path

from hwnas.errors import HwnasError


def make_evaluator(spec: str, space, lut: str | None, data: str, epochs: int, seed: int,
                   arch_column: str, accuracy_column: str, latency_column: str | None,
                   energy_column: str | None):
    from hwnas.evaluation import (
        OneShotConfig,
        OneShotEvaluator,
        ScratchConfig,
        ScratchEvaluator,
        TableEvaluator,
    )

    if spec == "oneshot":
        return OneShotEvaluator(space, lut, OneShotConfig(data=data, epochs=epochs, seed=seed))
    if spec == "scratch":
        return ScratchEvaluator(space, lut, ScratchConfig(data=data, epochs=epochs, seed=seed))
    if spec.startswith("table:") and len(spec) > len("table:"):
        latency = None if latency_column in (None, "", "none") else latency_column
        return TableEvaluator(space, spec[len("table:"):], arch_column, accuracy_column, latency,
                              energy_column, lut)
    raise HwnasError(f"unknown evaluator {spec!r}", "choose oneshot, scratch or table:FILE.csv")


def _strategy_options(strategy: str, population: int, sample_size: int, reward: str,
                      surrogate: str = "ridge") -> dict:
    return {"evolution": {"population": population, "sample_size": sample_size},
            "nsga2": {"population": population}, "rl": {"reward": reward},
            "predictor": {"initial": min(population, 10), "surrogate": surrogate},
            "random": {}}[strategy]


def run_blackbox(strategy: str, evaluator_spec: str, space_name: str, lut: str | None,
                 budget_ms: float | None, max_evals: int, out: Path, executor: str = "local",
                 ray_address: str | None = None, workers: int = 1, resume: bool = False,
                 seed: int = 0, objectives: tuple[str, ...] = ("accuracy", "latency_ms"),
                 population: int = 20, sample_size: int = 5, reward: str = "soft",
                 data: str = "digits", epochs: int = 2, arch_column: str = "arch",
                 accuracy_column: str = "accuracy", latency_column: str | None = "latency_ms",
                 energy_column: str | None = None, progress: bool = True,
                 surrogate: str = "ridge") -> dict:
    """The library call behind ``hwnas search`` for the black-box strategies."""
    from hwnas.execution import make_executor
    from hwnas.runs import RunFolder
    from hwnas.search import Problem, make_strategy
    from hwnas.search.runner import run_search
    from hwnas.space import get_space

    space = get_space(space_name)
    evaluator = make_evaluator(evaluator_spec, space, lut, data, epochs, seed, arch_column,
                               accuracy_column, latency_column, energy_column)
    if evaluator.name == "table":
        evaluator.prepare()  # bad CSV -> error before anything is written
    problem = Problem(space, tuple(objectives), budget_ms, evaluator.cost_model())
    strat = make_strategy(strategy, problem, seed,
                          **_strategy_options(strategy, population, sample_size, reward, surrogate))
    if max_evals < strat.min_evals:
        raise HwnasError(f"--max-evals {max_evals} is below the {strategy} population / initial "
                         f"sample of {strat.min_evals}",
                         f"raise --max-evals to at least {strat.min_evals} or lower --population")
    exe = make_executor(executor, workers, ray_address)
    config = {"strategy": strategy, "evaluator": evaluator.describe(), "space": space.name,
              "space_fingerprint": space.fingerprint(), "lut": lut, "budget_ms": budget_ms,
              "max_evals": max_evals, "objectives": list(objectives), "seed": seed,
              "workers": workers, "executor": executor, "ray_address": ray_address,
              "options": _strategy_options(strategy, population, sample_size, reward, surrogate)}
    if executor == "ray":
        exe.start()  # an unreachable address fails here, before the run folder is touched
    run = RunFolder(out)
    run.create(config, resume)
    result = run_search(strat, evaluator, max_evals, exe, run, batch=workers, progress=progress)
    return {**result.to_dict(), "out": str(out), "lut": lut}

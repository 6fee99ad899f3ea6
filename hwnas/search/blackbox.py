"""The library call behind ``hwnas search`` for the black-box strategies: build the evaluator,
the problem and the strategy, open the run folder (or resume it) and run the ask/tell loop."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from hwnas.errors import HwnasError
from hwnas.runs import RunResult


@dataclass(frozen=True)
class BlackboxConfig:
    """One black-box search (``random``, ``evolution``, ``nsga2``, ``rl``, ``predictor``).

    Example:
        >>> cfg = BlackboxConfig("evolution", "oneshot", "mbconv-small", "table.json", 0.4, 60,
        ...                      "runs/evo", population=12)
    """

    strategy: str
    evaluator: str                  # oneshot | scratch | table:FILE.csv
    space: str
    lut: str | None
    budget_ms: float | None
    max_evals: int
    out: str
    executor: str = "local"
    ray_address: str | None = None
    workers: int = 1
    resume: bool = False
    seed: int = 0
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")
    population: int = 20
    sample_size: int = 5
    reward: str = "soft"
    data: str = "digits"
    epochs: int | None = None       # None: the evaluator's own default (OneShotConfig, ScratchConfig)
    arch_column: str = "arch"
    accuracy_column: str = "accuracy"
    latency_column: str | None = "latency_ms"
    energy_column: str | None = None
    surrogate: str = "ridge"
    force: bool = False             # start over a run already in ``out``
    threads: int = 0                # recorded, not set: the caller sets torch's thread count
    device: str = "cpu"             # where the oneshot / scratch evaluators train and score
    accuracy_of: str = "fp32"       # int8: evaluators score the quantized net (hwnas.evaluation.quantized)
    options: tuple[tuple[str, object], ...] = ()  # --option: the strategy's own, over the flags'

    @classmethod
    def from_request(cls, req) -> BlackboxConfig:
        """From a :class:`hwnas.search.registry.SearchRequest` (no ``--epochs``: the evaluator's default)."""
        from hwnas.runs import parse_objectives
        from hwnas.search.base import OBJECTIVE_SENSES, SearchError

        objectives = parse_objectives(req.objectives, min_count=1)
        for o in objectives:
            usual = OBJECTIVE_SENSES.get(o.name, o.sense)
            if o.sense != usual:  # strategies rank by the usual sense of each objective
                raise SearchError(f"a search takes {o.name}:{usual}, not {o.name}:{o.sense}",
                                  f"drop :{o.sense} from --objectives")
        return cls(req.strategy, req.evaluator, req.space, req.lut, req.budget_ms, req.max_evals,
                   str(req.out), req.executor, req.ray_address, req.workers, req.resume, req.seed,
                   tuple(o.name for o in objectives), req.population, req.sample_size, req.reward,
                   req.data, req.epochs, req.arch_column, req.accuracy_column,
                   req.latency_column, req.energy_column, req.surrogate,
                   accuracy_of=req.accuracy_of, device=req.device, options=tuple(req.options))


def make_evaluator(spec: str, space, lut: str | None, data: str, epochs: int | None, seed: int,
                   arch_column: str, accuracy_column: str, latency_column: str | None,
                   energy_column: str | None, accuracy_of: str = "fp32", device: str = "cpu"):
    from hwnas.evaluation import (
        OneShotConfig,
        OneShotEvaluator,
        ScratchConfig,
        ScratchEvaluator,
        TableEvaluator,
    )
    from hwnas.evaluation.base import load_lut
    from hwnas.evaluation.quantized import check_accuracy_of, require_int8_pricing

    given = {"device": device} if epochs is None else {"epochs": epochs, "device": device}
    given["accuracy_of"] = accuracy_of = check_accuracy_of(accuracy_of)
    if accuracy_of != "fp32":  # refused here, before the run folder is written
        if not spec.startswith("supernet:") and spec not in ("oneshot", "scratch"):
            raise HwnasError(f"--accuracy-of {accuracy_of} needs trained weights to quantize; the "
                             f"{spec} evaluator has none",
                             "pass --evaluator oneshot or scratch, or drop --accuracy-of")
        require_int8_pricing(load_lut(lut, space), accuracy_of, f"--lut {lut}")
    if spec.startswith("supernet:"):  # `hwnas search --supernet DIR`: a trained artifact, no training
        from hwnas.evaluation.supernet_artifact import SupernetEvaluator

        return SupernetEvaluator(space, lut, spec[len("supernet:"):], given["accuracy_of"])
    if spec == "oneshot":
        return OneShotEvaluator(space, lut, OneShotConfig(data=data, seed=seed, **given))
    if spec == "scratch":
        return ScratchEvaluator(space, lut, ScratchConfig(data=data, seed=seed, **given))
    if spec.startswith("table:") and len(spec) > len("table:"):
        latency = None if latency_column in (None, "", "none") else latency_column
        return TableEvaluator(space, spec[len("table:"):], arch_column, accuracy_column, latency,
                              energy_column, lut)
    raise HwnasError(f"unknown evaluator {spec!r}", "choose oneshot, scratch or table:FILE.csv")


def strategy_options(config: BlackboxConfig) -> dict:
    """The strategy's constructor options: from the shared flags, then ``--option`` over them."""
    from hwnas.search.base import SearchError

    keys = [key for key, _ in config.options]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise SearchError(f"--option {', '.join(twice)} given more than once", "pass each option once")
    return {**_flag_options(config), **dict(config.options)}


def _flag_options(config: BlackboxConfig) -> dict:
    return {"evolution": {"population": config.population, "sample_size": config.sample_size},
            "nsga2": {"population": config.population}, "rl": {"reward": config.reward},
            "predictor": {"initial": min(config.population, 10), "surrogate": config.surrogate},
            # only when not the default: runs from before --surrogate reached structured
            # recorded no options, and resuming one must still match
            "structured": {} if config.surrogate == "ridge" else {"model": config.surrogate},
            "random": {}, "auto": {"max_evals": config.max_evals},
            }.get(config.strategy, {})  # an unknown name fails in make_strategy


def run_blackbox(config: BlackboxConfig, progress: bool = True) -> RunResult:
    """The library call behind ``hwnas search`` for the black-box strategies."""
    from hwnas.execution import make_executor
    from hwnas.runs import RunFolder
    from hwnas.search.base import Problem
    from hwnas.search.runner import run_search
    from hwnas.search.strategies import defaults_in_force, make_strategy
    from hwnas.space import get_space

    if config.reward not in ("soft", "hard"):
        raise HwnasError(f"unknown reward {config.reward!r}", "use --reward soft or hard")
    strategy, objectives, budget_ms, lut = (config.strategy, config.objectives, config.budget_ms,
                                            config.lut)
    space = get_space(config.space)
    evaluator = make_evaluator(config.evaluator, space, lut, config.data, config.epochs, config.seed,
                               config.arch_column, config.accuracy_column, config.latency_column,
                               config.energy_column, config.accuracy_of, config.device)
    if evaluator.name == "table":
        evaluator.prepare()  # bad CSV -> error before anything is written
    problem = Problem(space, tuple(objectives), budget_ms, evaluator.cost_model())
    problem.check_reachable()
    given = options = strategy_options(config)
    strat = make_strategy(strategy, problem, config.seed, **options)
    began = defaults_in_force(strat, given)
    if strategy == "auto":  # the run config records what auto picked
        options = {**options, "picked": strat.picked, "picked_options": strat.picked_options}
    max_evals = _clamped_evals(config.max_evals, space, evaluator)
    if max_evals < strat.min_evals:
        if max_evals < config.max_evals:
            raise HwnasError(f"the space holds only {max_evals} archs to evaluate, fewer than the "
                             f"{strategy} population / initial sample of {strat.min_evals}",
                             f"pass --population {max(2, max_evals)} or less")
        raise HwnasError(f"--max-evals {config.max_evals} is below the {strategy} population / "
                         f"initial sample of {strat.min_evals}",
                         f"raise --max-evals to at least {strat.min_evals} or lower --population")
    exe = make_executor(config.executor, config.workers, config.ray_address)
    run_config = {"strategy": strategy, "evaluator": evaluator.describe(), "space": space.name,
                  "space_fingerprint": space.fingerprint(), "lut": lut, "budget_ms": budget_ms,
                  "max_evals": max_evals, "objectives": list(objectives), "seed": config.seed,
                  "workers": config.workers, "executor": config.executor,
                  "ray_address": config.ray_address, "options": options, "threads": config.threads,
                  "strategy_defaults": began}
    if config.executor == "ray":
        exe.start()  # an unreachable address fails here, before the run folder is touched
    run = RunFolder(config.out)
    resumed = run.create(run_config, config.resume, config.force)
    if resumed:  # only once the resume is accepted: a refused one says only why
        strat = _as_it_began(run, strat, given, began, problem, config)
    try:
        return run_search(strat, evaluator, max_evals, exe, run, batch=config.workers,
                          progress=progress, lut=lut)
    except HwnasError:
        if not resumed:  # a start that failed before any evaluation leaves no run behind
            run.abandon()
        raise


def _as_it_began(run, strat, given: dict, today: dict, problem, config: BlackboxConfig):
    """The strategy of a resumed run, built with the defaults the run began with where an
    upgrade changed them from ``today``'s (noted on stderr)."""
    from hwnas.search.strategies import make_strategy, resumed_defaults

    began = run.config().get("strategy_defaults")
    if not isinstance(began, dict):  # written before defaults were recorded
        if today:
            print(f"note: {config.out} did not record its strategy's defaults (written before "
                  "hwnas recorded them); it resumes under today's", file=sys.stderr)
        return strat
    kept = resumed_defaults(strat, today, began)
    if not kept:
        return strat
    print("note: resuming with the defaults this run began with: "
          + ", ".join(f"{k}={v!r} (today {today[k]!r})" for k, v in sorted(kept.items())),
          file=sys.stderr)
    quiet = {"quiet": True} if config.strategy == "auto" else {}  # it said what it picked
    return make_strategy(config.strategy, problem, config.seed, kept_defaults=kept,
                         **{**given, **quiet})


def _clamped_evals(max_evals: int, space, evaluator) -> int:
    """``max_evals`` capped at the distinct archs there are (the CSV's rows for a table
    evaluator): asking for more would only re-ask known archs until the ask bound."""
    limit = space.size()
    if evaluator.name == "table":
        limit = min(limit, len(evaluator.rows))
    if max_evals <= limit:
        return max_evals
    where = f"the {len(evaluator.rows)} rows of {evaluator.path}" if limit < space.size() \
        else f"space {space.name}"
    print(f"note: --max-evals {max_evals} is more than the {limit} archs of {where}; "
          f"evaluating at most {limit}", file=sys.stderr)
    return limit

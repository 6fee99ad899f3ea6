"""``hwnas search``: black-box strategies (evolution, nsga2, rl, random, predictor) and the
gradient ``proxyless`` search, writing a run folder that ``--resume`` continues."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, guarded, print_json
from hwnas.errors import HwnasError

STRATEGIES = ("evolution", "nsga2", "rl", "random", "predictor", "proxyless")


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


def _strategy_options(strategy: str, population: int, sample_size: int, reward: str) -> dict:
    return {"evolution": {"population": population, "sample_size": sample_size},
            "nsga2": {"population": population}, "rl": {"reward": reward},
            "predictor": {"initial": min(population, 10)}, "random": {}}[strategy]


def run_blackbox(strategy: str, evaluator_spec: str, space_name: str, lut: str | None,
                 budget_ms: float | None, max_evals: int, out: Path, executor: str = "local",
                 ray_address: str | None = None, workers: int = 1, resume: bool = False,
                 seed: int = 0, objectives: tuple[str, ...] = ("accuracy", "latency_ms"),
                 population: int = 20, sample_size: int = 5, reward: str = "soft",
                 data: str = "digits", epochs: int = 2, arch_column: str = "arch",
                 accuracy_column: str = "accuracy", latency_column: str | None = "latency_ms",
                 energy_column: str | None = None, progress: bool = True) -> dict:
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
    problem = Problem(space, tuple(objectives), budget_ms,
                      evaluator.latency_fn() if evaluator.name != "oneshot" or lut else None)
    strat = make_strategy(strategy, problem, seed,
                          **_strategy_options(strategy, population, sample_size, reward))
    if max_evals < strat.min_evals:
        raise HwnasError(f"--max-evals {max_evals} is below the {strategy} population / initial "
                         f"sample of {strat.min_evals}",
                         f"raise --max-evals to at least {strat.min_evals} or lower --population")
    exe = make_executor(executor, workers, ray_address)
    config = {"strategy": strategy, "evaluator": evaluator.describe(), "space": space.name,
              "space_fingerprint": space.fingerprint(), "lut": lut, "budget_ms": budget_ms,
              "max_evals": max_evals, "objectives": list(objectives), "seed": seed,
              "workers": workers, "executor": executor, "ray_address": ray_address,
              "options": _strategy_options(strategy, population, sample_size, reward)}
    if executor == "ray":
        exe.start()  # an unreachable address fails here, before the run folder is touched
    run = RunFolder(out)
    run.create(config, resume)
    result = run_search(strat, evaluator, max_evals, exe, run, batch=workers, progress=progress)
    return {**result.to_dict(), "out": str(out), "lut": lut}


def _print_result(res: dict) -> None:
    console.print(f"{res['strategy']} search on {res['space']}: {res['evaluations']} candidates "
                  f"evaluated ({res['asks']} asks); run folder {res['out']}", highlight=False)
    table = Table("arch", "accuracy", "latency ms", "params", title="Pareto set")
    for r in res["pareto"][:20]:
        table.add_row(r["arch"], f"{r['accuracy']:.4f}", f"{r['latency_ms']:.3f}", f"{r['params']:,}")
    console.print(table)
    best = res["best"]
    if best is None:
        console.print(f"no candidate within the budget of {res['budget_ms']} ms", highlight=False)
    else:
        console.print(f"best{' under the budget' if res['budget_ms'] else ''}: {best['arch']} "
                      f"(accuracy {best['accuracy']:.4f}, {best['latency_ms']:.3f} ms)", highlight=False)


@app.command("search")
@guarded
def search(
    strategy: str = typer.Option("evolution", help=" | ".join(STRATEGIES)),
    evaluator: str = typer.Option("oneshot", help="oneshot | scratch | table:FILE.csv"),
    space: str = typer.Option("mbconv-small", "--space", "-s", help="Space preset or spec file."),
    lut: str = typer.Option(None, help="Latency table (JSON) pricing the space."),
    budget_ms: float = typer.Option(None, min=0.0, help="Hard latency budget T in ms."),
    max_evals: int = typer.Option(100, min=1, help="Distinct candidates to evaluate."),
    out: Path = typer.Option(..., help="Run folder."),
    executor: str = typer.Option("local", help="local | ray"),
    ray_address: str = typer.Option(None, help="Existing Ray cluster (host:port); default: local."),
    workers: int = typer.Option(1, min=1, help="Candidates evaluated in parallel."),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
    seed: int = typer.Option(0),
    objectives: str = typer.Option("accuracy,latency_ms",
                                   help="Comma list: accuracy plus latency_ms/params/macs/energy_mj."),
    population: int = typer.Option(20, min=2, help="Evolution / NSGA-II population."),
    sample_size: int = typer.Option(5, min=1, help="Evolution tournament sample size."),
    reward: str = typer.Option("soft", help="RL reward: soft | hard."),
    arch_column: str = typer.Option("arch", help="table: CSV column holding arch strings."),
    accuracy_column: str = typer.Option("accuracy", help="table: accuracy column."),
    latency_column: str = typer.Option("latency_ms", help="table: latency column ('none': use --lut)."),
    energy_column: str = typer.Option(None, help="table: energy column (mJ)."),
    loss: str = typer.Option("budget", help="proxyless: budget | mul-log | add-linear"),
    relaxation: str = typer.Option("binary", help="proxyless: binary | softmax | gumbel"),
    data: str = typer.Option("digits", help="Dataset for oneshot / scratch / proxyless."),
    epochs: int = typer.Option(None, min=1, help="Training epochs (supernet, scratch, proxyless)."),
    no_train_derived: bool = typer.Option(False, "--no-train-derived",
                                          help="proxyless: skip training the derived arch."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Search a space for accurate architectures under a latency budget; write a run folder."""
    if strategy not in STRATEGIES:
        raise HwnasError(f"unknown strategy {strategy!r}", f"choose one of {', '.join(STRATEGIES)}")
    if strategy == "proxyless":
        if lut is None or budget_ms is None:
            raise HwnasError("--strategy proxyless needs --lut and --budget-ms",
                             "pass the latency table and the budget T")
        from hwnas.search.gradient import GradientSearchConfig, run_gradient_search

        config = GradientSearchConfig(space, lut, budget_ms, str(out), loss=loss,
                                      relaxation=relaxation, data=data, epochs=epochs or 10,
                                      seed=seed, train_derived=not no_train_derived, resume=resume)
        res = run_gradient_search(config, progress=not json_out).to_dict()
        if json_out:
            print_json(res)
        else:
            console.print(res, highlight=False)
        return
    if reward not in ("soft", "hard"):
        raise HwnasError(f"unknown reward {reward!r}", "use --reward soft or hard")
    res = run_blackbox(strategy, evaluator, space, lut, budget_ms, max_evals, out, executor,
                       ray_address, workers, resume, seed,
                       tuple(o.strip() for o in objectives.split(",") if o.strip()), population,
                       sample_size, reward, data, epochs or 2, arch_column, accuracy_column,
                       latency_column, energy_column, progress=not json_out)
    if json_out:
        print_json(res)
    else:
        _print_result(res)

"""``hwnas search``: any registered search (``hwnas.search.search_names``: the black-box
strategies, ``auto`` and ``proxyless``), writing a run folder that ``--resume`` continues."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, guarded, print_json, rerun_with
from hwnas.runs import RunResult
from hwnas.search.registry import search_names

STRATEGIES = tuple(search_names())  # the registry's, so a new strategy shows up in --help


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_result(res: RunResult) -> None:
    console.print(f"{res.strategy} search on {res.space}: {res.evaluations} candidates "
                  f"evaluated ({res.asks} asks); run folder {res.run_dir}", highlight=False)
    cost = "energy_mj" if "energy_mj" in res.objectives and "latency_ms" not in res.objectives \
        else "latency_ms"
    unit = "mJ" if cost == "energy_mj" else "ms"
    table = Table("arch", "accuracy", f"{cost.split('_')[0]} {unit}", "params", title="Pareto set")
    for c in res.pareto[:20]:
        table.add_row(str(c.arch), _fmt(c.accuracy, ".4f"), _fmt(c.get(cost), ".3f"),
                      _fmt(c.params, ","))
    console.print(table)
    details = res.details
    if "predicted" in details:  # the gradient search: the derived arch against the budget
        console.print(f"derived arch predicted {details['predicted']:.4g} {details['unit']} "
                      f"(budget {res.budget_ms:g}, in band: {details['in_band']}, "
                      f"method: {details['method']}); test accuracy "
                      f"{_fmt(details['test_acc'], '.4f')}", highlight=False)
    best = res.best
    if best is None:
        console.print(f"no candidate within the budget of {res.budget_ms} {unit}", highlight=False)
    else:
        console.print(f"best{' under the budget' if res.budget_ms else ''}: {best.arch} "
                      f"(accuracy {_fmt(best.accuracy, '.4f')}, {_fmt(best.get(cost), '.3f')} {unit})",
                      highlight=False)


@app.command("search")
@guarded(resume_hint=lambda: rerun_with("--resume"))
def search(
    strategy: str = typer.Option("evolution", help=" | ".join(STRATEGIES)),
    evaluator: str = typer.Option("oneshot", help="oneshot | scratch | table:FILE.csv"),
    space: str = typer.Option("mbconv-small", "--space", "-s", help="Space preset or spec file."),
    lut: str = typer.Option(None, help="Latency table (JSON) pricing the space."),
    budget_ms: float = typer.Option(None, help="Hard latency budget T in ms (above 0)."),
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
    surrogate: str = typer.Option("ridge", help="predictor: ridge | ridge-pairs | forest."),
    arch_column: str = typer.Option("arch", help="table: CSV column holding arch strings."),
    accuracy_column: str = typer.Option("accuracy", help="table: accuracy column."),
    latency_column: str = typer.Option("latency_ms", help="table: latency column ('none': use --lut)."),
    energy_column: str = typer.Option(None, help="table: energy column (mJ)."),
    loss: str = typer.Option("budget", help="proxyless: budget | mul-log | add-linear"),
    relaxation: str = typer.Option("binary", help="proxyless: binary | softmax | gumbel"),
    data: str = typer.Option("digits", help="Dataset for oneshot / scratch / proxyless."),
    epochs: int = typer.Option(None, min=1, help="Training epochs (supernet, scratch, proxyless; "
                                                 "default 10 for proxyless, else 2)."),
    no_train_derived: bool = typer.Option(False, "--no-train-derived",
                                          help="proxyless: skip training the derived arch."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Search a space for accurate architectures under a latency budget; write a run folder."""
    from hwnas.search import SearchRequest, run

    request = SearchRequest(
        strategy, space, str(out), evaluator=evaluator, lut=lut, budget_ms=budget_ms,
        max_evals=max_evals, executor=executor, ray_address=ray_address, workers=workers,
        resume=resume, seed=seed, objectives=objectives, population=population,
        sample_size=sample_size, reward=reward, surrogate=surrogate, arch_column=arch_column,
        accuracy_column=accuracy_column, latency_column=latency_column,
        energy_column=energy_column, loss=loss, relaxation=relaxation, data=data, epochs=epochs,
        train_derived=not no_train_derived)
    res = run(request, progress=not json_out)
    if json_out:
        print_json({**res.to_dict(), "out": str(out)})
    else:
        _print_result(res)

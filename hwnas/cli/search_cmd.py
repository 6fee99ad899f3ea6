"""``hwnas search``: black-box strategies (evolution, nsga2, rl, random, predictor) and the
gradient ``proxyless`` search, writing a run folder that ``--resume`` continues."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, guarded, print_json
from hwnas.errors import HwnasError
from hwnas.search.blackbox import run_blackbox

STRATEGIES = ("evolution", "nsga2", "rl", "random", "predictor", "proxyless")


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
    surrogate: str = typer.Option("ridge", help="predictor: ridge | ridge-pairs | forest."),
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
                       latency_column, energy_column, progress=not json_out,
                       surrogate=surrogate)
    if json_out:
        print_json(res)
    else:
        _print_result(res)

"""``hwnas search``: any registered search (``hwnas.search.search_names``: the black-box
strategies, ``auto`` and ``proxyless``), writing a run folder that ``--resume`` continues."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import (
    JSON_OPTION,
    check_out_dir,
    console,
    force_option,
    guarded,
    out_option,
    print_json,
    resume_option,
    threads_option,
)
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
    if details.get("learned") is False:  # a stuck search must not read as a found arch
        from hwnas.search.gradient.verdict import LearnedVerdict

        console.print(f"[bold yellow]warning:[/] {LearnedVerdict.from_dict(details).message()}",
                      highlight=False)
        return
    best = res.best
    if best is None:
        console.print(f"no candidate within the budget of {res.budget_ms} {unit}", highlight=False)
    else:
        console.print(f"best{' under the budget' if res.budget_ms else ''}: {best.arch} "
                      f"(accuracy {_fmt(best.accuracy, '.4f')}, {_fmt(best.get(cost), '.3f')} {unit})",
                      highlight=False)


def epochs_defaults() -> dict[str, int]:
    """What each search trains for without ``--epochs``, read from the configs themselves (so
    that ``--help`` cannot drift from them): {"oneshot": n, "scratch": n, "proxyless": n}."""
    from hwnas.evaluation import OneShotConfig, ScratchConfig
    from hwnas.search.blackbox import BlackboxConfig
    from hwnas.search.gradient import GradientSearchConfig
    from hwnas.search.registry import SearchRequest

    req = SearchRequest("evolution", "mbconv-small", "-", lut="-", budget_ms=1.0)
    blackbox = BlackboxConfig.from_request(req).epochs  # None: each evaluator's own default
    return {"oneshot": blackbox or OneShotConfig().epochs, "scratch": blackbox or ScratchConfig().epochs,
            "proxyless": GradientSearchConfig.from_request(req).epochs}


def _epochs_default_text() -> str:
    d = epochs_defaults()
    if d["oneshot"] == d["scratch"]:
        return f"{d['oneshot']}; {d['proxyless']} for proxyless"
    return f"oneshot {d['oneshot']}, scratch {d['scratch']}, proxyless {d['proxyless']}"


EPOCHS_DEFAULT = _epochs_default_text()
OBJECTIVES_HELP = ("Comma list of objectives, each NAME or NAME:max|min (the same syntax as "
                   "`hwnas report --objectives`): accuracy plus latency_ms, energy_mj, params, macs.")


def _supernet_spec(folder: Path, evaluator: str, strategy: str, space: str) -> str:
    """``--supernet DIR`` as the evaluator spec ``supernet:DIR``, refused before anything is written."""
    from hwnas.errors import HwnasError
    from hwnas.evaluation.supernet_artifact import check_artifact_for
    from hwnas.space import get_space

    if evaluator != "oneshot" or strategy == "proxyless":
        raise HwnasError("--supernet scores with the one-shot evaluator of a black-box strategy",
                         "drop --supernet, or pass --evaluator oneshot and a black-box --strategy")
    check_artifact_for(folder, get_space(space))
    return f"supernet:{folder}"


@app.command("search")
@guarded(resume="--resume")
def search(
    strategy: str = typer.Option("evolution", help=" | ".join(STRATEGIES)),
    evaluator: str = typer.Option("oneshot", help="oneshot (weight-sharing supernet) | scratch "
                                                  "(train each candidate) | table:FILE.csv."),
    space: str = typer.Option("mbconv-small", "--space", "-s", help="Space preset or spec file "
                                                                    "(`hwnas spaces` lists them)."),
    lut: str = typer.Option(None, help="Latency table pricing the space: a JSON file or a shipped "
                                       "name like pixel3/latency-fbnet-cifar100 (`hwnas lut list` "
                                       "shows them)."),
    budget_ms: float = typer.Option(None, help="Hard latency budget T in ms (above 0)."),
    max_evals: int = typer.Option(100, min=1, help="Distinct candidates to evaluate."),
    out: Path = out_option("Run folder (`hwnas report` and `hwnas export` read it)."),
    force: bool = force_option("the run there (config, candidates, state, result, checkpoints)"),
    resume: bool = resume_option("Continue the run in --out (the options must match)."),
    executor: str = typer.Option("local", help="local | ray"),
    ray_address: str = typer.Option(None, help="Existing Ray cluster (host:port); default: local."),
    workers: int = typer.Option(1, min=1, help="Candidates evaluated in parallel."),
    threads: int = threads_option(),
    seed: int = typer.Option(0, help="Seeds the strategy, the data split and the weights."),
    objectives: str = typer.Option("accuracy,latency_ms", help=OBJECTIVES_HELP),
    population: int = typer.Option(20, min=2, help="Evolution / NSGA-II population."),
    sample_size: int = typer.Option(5, min=1, help="Evolution tournament sample size."),
    reward: str = typer.Option("soft", help="RL reward: soft | hard."),
    surrogate: str = typer.Option("ridge", help="predictor: ridge | ridge-pairs | forest; structured: "
                                                   "ridge | forest | extra-trees."),
    option: list[str] = typer.Option(None, "--option", help="A strategy's own option KEY=VALUE, "
                                     "repeatable (VALUE read as JSON when it parses: 1, 0.5, null), "
                                     "e.g. --option kappa=1 --option balance=0; "
                                     "an unknown KEY is refused with the strategy's options."),
    arch_column: str = typer.Option("arch", help="table: CSV column holding arch strings."),
    accuracy_column: str = typer.Option("accuracy", help="table: accuracy column."),
    latency_column: str = typer.Option("latency_ms", help="table: latency column ('none': use --lut)."),
    energy_column: str = typer.Option(None, help="table: energy column (mJ)."),
    loss: str = typer.Option("budget", help="proxyless: budget | mul-log | add-linear"),
    relaxation: str = typer.Option("binary", help="proxyless: binary | softmax | gumbel"),
    data: str = typer.Option("digits", help="Dataset for oneshot / scratch / proxyless."),
    epochs: int = typer.Option(None, min=1, show_default=EPOCHS_DEFAULT,
                               help="Training epochs (supernet, scratch, proxyless)."),
    no_train_derived: bool = typer.Option(False, "--no-train-derived",
                                          help="proxyless: skip training the derived arch."),
    supernet: Path = typer.Option(None, help="oneshot: score with this `hwnas supernet train` "
                                             "folder instead of training a supernet (scores are "
                                             "kept in its scores.jsonl for every later search)."),
    device: str = typer.Option("auto", help="Where networks train and are scored (the gradient "
                                            "search, oneshot, scratch): auto (CUDA when present) | "
                                            "cpu | cuda | cuda:N."),
    precision: str = typer.Option("fp32", help="proxyless: fp32 | bf16 (CPU and GPU) | fp16 (GPU, "
                                               "loss-scaled)."),
    nproc: int = typer.Option(1, help="proxyless: local ranks on torch.distributed (gloo on CPU, "
                                      "NCCL on CUDA), --batch-size split over them; under torchrun "
                                      "leave it at 1."),
    accuracy_of: str = typer.Option("fp32", "--accuracy-of",
                                    help="fp32 | int8: score each candidate as trained, or after "
                                         "post-training int8 quantization (calibrated on the training "
                                         "split) in the --lut table's runtime; int8 needs an int8 "
                                         "table and --evaluator oneshot or scratch."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Search a space for accurate architectures under a latency budget; write a run folder."""
    from hwnas.errors import HwnasError
    from hwnas.evaluation.quantized import check_accuracy_of
    from hwnas.search import SearchRequest, run
    from hwnas.search.registry import strategy_option
    from hwnas.train.runtime import apply_threads

    accuracy_of = check_accuracy_of(accuracy_of)
    if supernet is not None:
        evaluator = _supernet_spec(supernet, evaluator, strategy, space)
    if force and resume:
        raise HwnasError("--force starts the run in --out over and --resume continues it",
                         "pass one of them")
    ranks = check_placement(strategy, device, precision, nproc)
    check_search_out(out, force, resume)
    threads_used = apply_threads(threads, ranks.local_world_size if ranks.distributed else nproc)
    cached_before = _cached(supernet, accuracy_of, lut)
    request = SearchRequest(
        strategy, space, str(out), evaluator=evaluator, lut=lut, budget_ms=budget_ms,
        max_evals=max_evals, executor=executor, ray_address=ray_address, workers=workers,
        resume=resume, seed=seed, objectives=objectives, population=population,
        sample_size=sample_size, reward=reward, surrogate=surrogate, arch_column=arch_column,
        accuracy_column=accuracy_column, latency_column=latency_column,
        energy_column=energy_column, loss=loss, relaxation=relaxation, data=data, epochs=epochs,
        train_derived=not no_train_derived, force=force, threads=threads_used, device=device,
        precision=precision, nproc=nproc, accuracy_of=accuracy_of,
        options=tuple(strategy_option(o) for o in option or ()))
    try:
        res = run(request, progress=not json_out)
    finally:
        if ranks.distributed:  # a torchrun rank: leave the process group as train does
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    if not ranks.is_main:
        return
    if lut:  # once, after the run (a refused request stays one line): its prices may be off here
        from hwnas.cli.lut_cmd import warn_if_foreign

        warn_if_foreign(lut)
    reuse = None if supernet is None else _reuse(res, cached_before, supernet)
    if json_out:
        print_json({**res.to_dict(), "out": str(out), "threads": threads_used,
                    **({} if reuse is None else {"supernet_scores": reuse})})
    else:
        _print_result(res)
        if reuse is not None:
            console.print(f"supernet scores: {reuse['reused']} reused from {reuse['cache']}, "
                          f"{reuse['scored']} scored and added", highlight=False)


def _cached(supernet: Path | None, accuracy_of: str, lut: str | None) -> set[str]:
    from hwnas.evaluation.supernet_artifact import cached_archs

    if supernet is None or lut is None:
        return set()
    runtime = ""
    if accuracy_of != "fp32":  # int8 scores are kept per quantizing runtime
        from hwnas.latency import load_table

        runtime = load_table(lut).meta.runtime
    return cached_archs(supernet, accuracy_of, runtime)


def _reuse(res: RunResult, before: set[str], supernet: Path) -> dict:
    """How many of the run's candidates took their score from the supernet's cache."""
    from hwnas.evaluation.score_cache import SCORES

    archs = {str(c.arch) for c in res.candidates}
    reused = len(archs & before)
    return {"reused": reused, "scored": len(archs) - reused, "cache": str(supernet / SCORES)}


def check_placement(strategy: str, device: str, precision: str, nproc: int):
    """Refuse a missing GPU, fp16 on the CPU and --nproc beyond the cores / GPUs (or outside the
    gradient search) before anything is written; return this process's ranks."""
    from hwnas.errors import HwnasError
    from hwnas.train import check_nproc, ranks_from_env, resolve_device
    from hwnas.train.runtime import check_precision

    ranks = ranks_from_env()
    resolved = resolve_device(device, ranks.local_rank)
    check_precision(precision, resolved)
    if strategy != "proxyless":
        if nproc != 1 or ranks.distributed:
            raise HwnasError(f"--nproc and torchrun run the gradient search (--strategy proxyless) on "
                             f"several ranks, not {strategy}",
                             "drop --nproc; black-box strategies evaluate in parallel with --workers")
        if precision != "fp32":
            raise HwnasError(f"--precision {precision} applies to --strategy proxyless only",
                             "drop --precision")
        return ranks
    if nproc > 1 and ranks.distributed:
        raise HwnasError("--nproc inside a torchrun launch", "drop --nproc; torchrun starts the ranks")
    check_nproc(nproc, device)
    return ranks


def check_search_out(out: Path, force: bool, resume: bool) -> None:
    """Refuse a non-empty --out that holds no search run unless --force (nothing is written)."""
    from hwnas.runs import RunFolder

    # A run there: the run folder refuses a new run without --resume or --force. --resume with no
    # run yet starts one (adding only its own files): the command printed after a Ctrl-C that
    # came before the run folder was written (even one started with --force) still works.
    if resume or RunFolder(out).started():
        return
    check_out_dir(out, ("the run's files",), force, create=False)

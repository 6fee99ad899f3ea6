"""``hwnas specialize``: one trained supernet, one searched and exported arch per device."""

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


@app.command("specialize")
@guarded(resume="--resume")
def specialize(
    supernet: Path = typer.Option(..., help="A folder written by `hwnas supernet train`."),
    lut: list[str] = typer.Option(..., help="A device's latency table (file or shipped name); "
                                            "once per device."),
    budget_ms: list[float] = typer.Option(..., help="The latency budget of each --lut, same order."),
    strategy: str = typer.Option("evolution", help="Black-box strategy: random | evolution | nsga2 | "
                                                   "rl | predictor."),
    evaluations: int = typer.Option(300, help="Archs each device's search evaluates."),
    population: int = typer.Option(20, min=2, help="Evolution / NSGA-II population."),
    seed: int = typer.Option(0, help="Seeds every search and the fine-tuning."),
    finetune_epochs: int = typer.Option(0, help="Fine-tune each chosen arch from its inherited "
                                                "weights for this many epochs (0: export as inherited)."),
    accuracy_from: str = typer.Option(None, help="predictor (search on the supernet's fitted "
                                                 "predictor, then score the top --rescore archs) | "
                                                 "supernet (score every evaluation). Default: "
                                                 "predictor when DIR/predictor.json exists."),
    rescore: int = typer.Option(10, help="With the predictor: archs under each budget scored with "
                                         "the supernet; the best of them is chosen."),
    no_executorch: bool = typer.Option(False, "--no-executorch",
                                       help="Skip the ExecuTorch (.pte) export for phone tables."),
    out: Path = out_option("Folder for one run folder per device and the report."),
    force: bool = force_option("the device run folders, the plan and the report"),
    resume: bool = resume_option("Continue --out: finished devices are skipped."),
    threads: int = threads_option(),
    json_out: bool = JSON_OPTION,
) -> None:
    """Specialize a trained supernet for several devices: a search each, no retraining."""
    from hwnas.errors import HwnasError
    from hwnas.specialize import check_resume, plan_specialize, run_specialize
    from hwnas.train.runtime import apply_threads

    if force and resume:
        raise HwnasError("--force starts --out over and --resume continues it", "pass one of them")
    plan = plan_specialize(str(supernet), list(lut), list(budget_ms), str(out), strategy, evaluations,
                           population, seed, finetune_epochs, not no_executorch, accuracy_from, rescore)
    if resume:
        check_resume(plan)
    else:
        check_out_dir(out, ("the device run folders", "the report"), force, create=False)
    apply_threads(threads)
    say = (lambda _m: None) if json_out else (lambda m: console.print(m, highlight=False))
    summary = run_specialize(plan, resume=resume, force=force, say=say)
    if json_out:
        print_json(summary)
        return
    table = Table("device", "chosen arch", "predicted ms", "measured ms", "test acc", "exported",
                  title="specialized")
    for r in summary["report"]["devices"]:
        acc = r["finetuned_test_acc"] if r["finetuned_test_acc"] is not None else r["inherited_test_acc"]
        measured = f"{r['measured_ms']:.4g}" if r["measured_ms"] is not None else r["latency_check"]
        table.add_row(r["device"], r["arch"], f"{r['predicted_ms']:.4g}", measured, f"{acc:.4f}",
                      r["exports"])
    console.print(table)
    console.print(f"report: {Path(summary['report']['folder']) / 'index.html'}", highlight=False)

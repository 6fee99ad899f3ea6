"""``hwnas report RUN... --out DIR``: Pareto fronts, hypervolume and knee across runs and devices."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, check_out_dir, console, guarded, print_json

REPORT_FILES = ("report.json", "pareto.png", "index.html", "compare.json", "compare.png")


@app.command("report")
@guarded
def report(
    runs: list[Path] = typer.Argument(..., help="Run folders written by `hwnas search --out`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.json, pareto.png, index.html."),
    objectives: str = typer.Option("accuracy:max,latency_ms:min", "--objectives",
                                   help="Comma list, each NAME or NAME:max|min (the same syntax as "
                                        "`hwnas search --objectives`); the first two are plotted "
                                        "(y, x). Names: accuracy, latency_ms, energy_mj, params, "
                                        "macs, wall_s."),
    lut: list[str] = typer.Option([], "--lut",
                                  help="Latency or energy table: re-prices every candidate for that "
                                       "device (repeat for several devices)."),
    budget_ms: float | None = typer.Option(None, "--budget-ms",
                                           help="Latency budget in ms: the budget line and the most accurate "
                                                "arch to deploy (default: the runs' own, the "
                                                "strictest when they differ)."),
    compare: bool = typer.Option(False, "--compare",
                                 help="Also plot hypervolume against evaluations per run "
                                      "(compare.png, compare.json)."),
    reference: str | None = typer.Option(None, "--reference",
                                         help="Fixed hypervolume reference, e.g. accuracy=0,latency_ms=20 "
                                              "(default: worst value + 10% of range; accuracy 0)."),
    force: bool = typer.Option(False, "--force", "-f", help="Write into a non-empty --out, "
                                                            "replacing only the report's own files there."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Pareto report: fronts per run and device, hypervolume, knee, a self-contained index.html."""
    from hwnas.report import build_report
    from hwnas.report.deploy import describe

    check_out_dir(out, REPORT_FILES, force, create=False)  # build_report creates it after the checks

    result = build_report(runs, out, objectives=objectives, lut_paths=lut, budget_ms=budget_ms,
                          compare=compare, reference=reference)
    from hwnas.cli.lut_cmd import warn_if_foreign

    for path in lut:  # once per table measured on another machine (stderr: --json stays clean)
        warn_if_foreign(path)
    doc = result.report
    if json_out:
        print_json({"out": str(result.out_dir), "files": list(result.files), **doc})
        return
    for view in doc["views"]:
        cost = next(iter(view["units"].items()), None)
        for group in view["groups"]:
            ref = ", ".join(f"{v:.4g}" for v in group["reference"])
            table = Table("run", "evals", "front", "hypervolume", "best within budget",
                          title=f"{view['title']}: {group['label']} (reference {ref})")
            for r in group["runs"]:
                best = r["stats"]["best_within_budget"]
                best_txt = f"{best['accuracy']:.4f} @ {best['latency_ms']:.4g} ms" if best else "-"
                table.add_row(r["run"], str(r["stats"]["evaluations"]), str(len(r["front"])),
                              f"{r['hypervolume']:.5g}", best_txt)
            console.print(table)
            console.print(f"what to deploy on {group['deploy']['device']} ({group['label']}"
                          + (f", ranked by {cost[0]} in {cost[1]}" if cost else "") + "):",
                          highlight=False, soft_wrap=True)
            for line in describe(group["deploy"], view["units"]):
                console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    for skipped in doc["skipped_views"]:
        console.print(f"skipped {skipped['name']}: {skipped['reason']}", highlight=False)
    for view in doc.get("compare", []):
        for r in view["runs"]:
            reach = r["evaluations_to_95pct_of_best"]
            reach_txt = f"95% of the best after {reach} evals" if reach else "never within 95% of the best"
            console.print(f"{view['view']}: {r['run']} final hypervolume {r['final_hypervolume']:.5g} "
                          f"after {r['evaluations']} evals, {reach_txt}", highlight=False)
    console.print(f"wrote {', '.join(str(result.out_dir / f) for f in result.files)}", highlight=False)

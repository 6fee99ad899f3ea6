"""Pareto reports from run folders: ``report.json``, ``pareto.png``, ``index.html`` (+ compare).

Example:
    >>> from hwnas.report import build_report                       # doctest: +SKIP
    >>> build_report(["runs/evo", "runs/random"], out_dir="report", compare=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwnas.io import write_bytes, write_json, write_text
from hwnas.report.analysis import analyze
from hwnas.report.html import render_html
from hwnas.report.plots import compare_png, pareto_png
from hwnas.report.pricing import View, build_views
from hwnas.report.runs import (
    Candidate,
    Objective,
    ReportError,
    Run,
    load_run,
    load_runs,
    parse_objectives,
    parse_reference,
)

DEFAULT_OBJECTIVES = "accuracy:max,latency_ms:min"


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    files: tuple[str, ...]
    report: dict


def build_report(run_paths: list[Path] | list[str], out_dir: Path | str,
                 objectives: str = DEFAULT_OBJECTIVES, lut_paths: list[str] | None = None,
                 budget_ms: float | None = None, compare: bool = False,
                 reference: str | None = None) -> ReportResult:
    """Read runs, re-price per ``lut_paths`` device, analyse, then write the files.

    Everything is read and computed before the first file is written, so bad input leaves an
    earlier report in ``out_dir`` as it was.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is a file, not a folder", "pass a folder path")
    if budget_ms is not None and not budget_ms > 0:
        raise ReportError(f"--budget-ms {budget_ms} is not positive", "pass a latency budget in ms > 0")
    objs = parse_objectives(objectives)
    fixed = parse_reference(reference, objs) if reference else None
    runs = load_runs(list(run_paths))
    views = build_views(runs, list(lut_paths or []))
    report = analyze(runs, views, objs, budget_ms=budget_ms, compare=compare, reference=fixed)
    kept = {v["name"] for v in report["views"]}
    views = [v for v in views if v.name in kept]
    front_png = pareto_png(views, runs, report)
    curves_png = compare_png(report["compare"], [r.label for r in runs]) if compare else None
    page = render_html(report, front_png, curves_png)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create output folder {out_dir}: {exc.strerror}",
                          "pass a writable --out") from None
    files = ["report.json", "pareto.png", "index.html"]
    write_json(out_dir / "report.json", report)
    write_bytes(out_dir / "pareto.png", front_png)
    if compare:
        write_json(out_dir / "compare.json", {"objectives": report["objectives"],
                                              "views": report["compare"]})
        write_bytes(out_dir / "compare.png", curves_png)
        files += ["compare.json", "compare.png"]
    write_text(out_dir / "index.html", page)
    return ReportResult(out_dir, tuple(files), report)


__all__ = [
    "DEFAULT_OBJECTIVES", "Candidate", "Objective", "ReportError", "ReportResult", "Run", "View",
    "build_report", "build_views", "load_run", "load_runs", "parse_objectives",
    "parse_reference",
]

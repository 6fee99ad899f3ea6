"""Fronts, hypervolume, knee and per-run statistics for every view; hypervolume curves.

Reference point (one per view, shared by every run in it so their hypervolumes compare):
:func:`hwnas.pareto.default_reference` over all runs' scored candidates (worst value of each
objective plus 10 % of its range), except that a maximized ``accuracy`` uses its natural bound 0.
It is written into ``report.json``; hypervolumes from reports with other run sets are not
comparable unless the reference is the same, so ``--reference accuracy=0,latency_ms=20`` fixes
it (a point no better than the reference in every objective adds no volume).
"""

from __future__ import annotations

import numpy as np

from hwnas.pareto import default_reference, dominates, hypervolume, knee_point, pareto_front
from hwnas.report.pricing import View
from hwnas.report.runs import Candidate, Objective, ReportError, Run

SCHEMA_VERSION = 1


def scored(cands: tuple[Candidate, ...], objectives: tuple[Objective, ...]) -> list[Candidate]:
    """Candidates with a value for every objective (an unscored candidate is on no front)."""
    return [c for c in cands if all(c.get(o.name) is not None for o in objectives)]


def matrix(cands: list[Candidate], objectives: tuple[Objective, ...]) -> np.ndarray:
    return np.array([[c.get(o.name) for o in objectives] for c in cands], dtype=float).reshape(
        len(cands), len(objectives))


def senses(objectives: tuple[Objective, ...]) -> list[str]:
    return [o.sense for o in objectives]


def view_reference(points: np.ndarray, objectives: tuple[Objective, ...]) -> np.ndarray:
    ref = default_reference(points, senses(objectives))
    for j, o in enumerate(objectives):
        if o.name == "accuracy" and o.sense == "max" and points[:, j].min() > 0:
            ref[j] = 0.0
    return ref


def _row(c: Candidate, label: str) -> dict:
    return {"run": label, **c.to_dict()}


def _front_summary(cands: list[Candidate], labels: list[str], objectives, ref) -> dict:
    if not cands:
        return {"front": [], "hypervolume": 0.0, "knee": None}
    pts = matrix(cands, objectives)
    front = pareto_front(pts, senses(objectives))
    knee = knee_point(pts, senses(objectives))
    order = sorted(front.tolist(), key=lambda i: tuple(pts[i]))
    return {"front": [_row(cands[i], labels[i]) for i in order],
            "hypervolume": hypervolume(pts, senses(objectives), ref),
            "knee": _row(cands[knee], labels[knee])}


def _run_stats(run: Run, cands: tuple[Candidate, ...], good: list[Candidate], budget_ms) -> dict:
    with_acc = [c for c in cands if c.accuracy is not None]
    with_lat = [c for c in cands if c.latency_ms is not None]
    inside = [c for c in with_acc if c.latency_ms is not None and budget_ms is not None
              and c.latency_ms <= budget_ms]
    best_in = max(inside, key=lambda c: (c.accuracy, -c.latency_ms)) if inside else None
    walls = [c.wall_s for c in cands if c.wall_s is not None]
    return {
        "strategy": run.strategy, "space": run.space, "evaluations": len(cands), "scored": len(good),
        "budget_ms": budget_ms,
        "within_budget": len(inside) if budget_ms is not None else None,
        "best_within_budget": best_in.to_dict() if best_in else None,
        "best_accuracy": max((c.accuracy for c in with_acc), default=None),
        "min_latency_ms": min((c.latency_ms for c in with_lat), default=None),
        "total_wall_s": float(sum(walls)) if walls else None,
    }


def analyze_view(view: View, runs: tuple[Run, ...], objectives: tuple[Objective, ...],
                 budget_ms: float | None, reference: dict[str, float] | None = None) -> dict:
    good = {r.label: scored(view.candidates[r.label], objectives) for r in runs}
    all_cands = [c for r in runs for c in good[r.label]]
    if not all_cands:
        missing = [o.name for o in objectives
                   if not any(c.get(o.name) is not None for r in runs for c in view.candidates[r.label])]
        hint = (f"no candidate has {', '.join(missing)}" if missing
                else "no candidate has every objective")
        raise ReportError(f"view {view.name!r}: {hint}",
                          "drop that objective from --objectives (energy_mj needs an energy --lut table)"
                          if missing else "check the runs' candidates")
    all_labels = [r.label for r in runs for _ in good[r.label]]
    ref = view_reference(matrix(all_cands, objectives), objectives)
    for j, o in enumerate(objectives):
        if reference and o.name in reference:
            ref[j] = reference[o.name]
    per_run = []
    for r in runs:
        summary = _front_summary(good[r.label], [r.label] * len(good[r.label]), objectives, ref)
        stats = _run_stats(r, view.candidates[r.label], good[r.label],
                           budget_ms if budget_ms is not None else r.budget_ms)
        per_run.append({"run": r.label, "path": str(r.path), **summary, "stats": stats})
    combined = _front_summary(all_cands, all_labels, objectives, ref)
    share = {r.label: sum(1 for row in combined["front"] if row["run"] == r.label) for r in runs}
    for entry in per_run:
        entry["stats"]["share_of_combined_front"] = share[entry["run"]]
    return {"name": view.name, "sources": view.sources, "reference": ref.tolist(),
            "runs": per_run, "combined": combined}


def hypervolume_curve(cands: tuple[Candidate, ...], objectives: tuple[Objective, ...],
                      ref: np.ndarray) -> dict:
    """Hypervolume after each evaluation (in ``index`` order), kept at the points it changes.

    A candidate dominated by the current front (or unscored) leaves the volume as it was, so
    only front-changing evaluations recompute it.
    """
    sense = senses(objectives)
    front: list[np.ndarray] = []
    evals, volumes, current = [0], [0.0], 0.0
    for k, c in enumerate(cands, start=1):
        vals = [c.get(o.name) for o in objectives]
        if any(v is None for v in vals):
            continue
        p = np.array(vals, dtype=float)
        if any(dominates(q, p, sense) or np.array_equal(q, p) for q in front):
            continue
        front = [q for q in front if not dominates(p, q, sense)] + [p]
        new = hypervolume(np.array(front), sense, ref)
        if new != current:
            current = new
            evals.append(k)
            volumes.append(new)
    if evals[-1] != len(cands):
        evals.append(len(cands))
        volumes.append(current)
    return {"evaluations": evals, "hypervolume": volumes}


def compare_runs(view: View, runs: tuple[Run, ...], objectives: tuple[Objective, ...],
                 ref: np.ndarray) -> dict:
    """Hypervolume against evaluations per run, with the view's common reference point."""
    curves = {r.label: hypervolume_curve(view.candidates[r.label], objectives, ref) for r in runs}
    best = max((c["hypervolume"][-1] for c in curves.values()), default=0.0)
    rows = []
    for r in runs:
        curve = curves[r.label]
        reach = next((e for e, v in zip(curve["evaluations"], curve["hypervolume"])
                      if best > 0 and v >= 0.95 * best), None)
        rows.append({"run": r.label, "strategy": r.strategy, "evaluations": len(view.candidates[r.label]),
                     "final_hypervolume": curve["hypervolume"][-1],
                     "evaluations_to_95pct_of_best": reach, "curve": curve})
    return {"view": view.name, "reference": ref.tolist(), "runs": rows}


def analyze(runs: tuple[Run, ...], views: list[View], objectives: tuple[Objective, ...],
            budget_ms: float | None = None, compare: bool = False,
            reference: dict[str, float] | None = None) -> dict:
    """The whole ``report.json`` document."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "objectives": [{"name": o.name, "sense": o.sense} for o in objectives],
        "reference_rule": "worst value + 10% of range per objective over all runs (accuracy: 0)",
        "reference_fixed": reference or {},
        "budget_ms": budget_ms,
        "runs": [{"run": r.label, "path": str(r.path), "strategy": r.strategy, "space": r.space,
                  "budget_ms": r.budget_ms, "lut": r.lut, "evaluations": len(r.candidates)}
                 for r in runs],
        "views": [],
        "skipped_views": [],
    }
    kept = []
    for v in views:
        try:
            out["views"].append(analyze_view(v, runs, objectives, budget_ms, reference))
            kept.append(v)
        except ReportError as exc:  # e.g. energy_mj asked for, and only one device has energy
            out["skipped_views"].append({"name": v.name, "reason": exc.message})
    if not kept:
        first = out["skipped_views"][0]["reason"]
        raise ReportError(f"no view can be reported: {first}",
                          "drop that objective from --objectives (energy_mj needs an energy --lut table)")
    if compare:
        out["compare"] = [compare_runs(v, runs, objectives, np.array(a["reference"]))
                          for v, a in zip(kept, out["views"])]
    return out

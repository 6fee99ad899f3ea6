"""Fronts, hypervolume, knee and per-run statistics for every view; hypervolume curves.

Like with like: when ``accuracy`` is an objective, candidates are grouped by the kind of their
accuracy (``Candidate.accuracy_kind``: one-shot validation, scratch validation, scratch test,
published table). Every front, hypervolume, knee and deploy choice is computed inside one group;
a view with two kinds has two groups and says which is which. A *series* is one run's
candidates of one kind.

Per view, ``latency_ms`` is replaced by ``energy_mj`` on a device that has only an energy table,
so each device is ranked by its own metric in its own unit (never by another device's latency).

Reference point (one per group, shared by every series in it so their hypervolumes compare):
:func:`hwnas.pareto.default_reference` over the group's scored candidates (worst value of each
objective plus 10 % of its range), except that a maximized ``accuracy`` uses its natural bound 0.
``--reference accuracy=0,latency_ms=20`` fixes it (a point no better than the reference in every
objective adds no volume).

Nothing depends on the order the runs were given: runs are sorted (:func:`load_runs`), kinds
follow :data:`ACCURACY_KINDS`, and ties are broken by values, arch string and run label.
"""

from __future__ import annotations

import numpy as np

from hwnas.pareto import default_reference, dominates, hypervolume, knee_point, pareto_front
from hwnas.report.deploy import choose
from hwnas.report.pricing import METRICS, UNITS, View
from hwnas.report.runs import Candidate, Objective, ReportError, Run
from hwnas.runs import ACCURACY_KINDS

SCHEMA_VERSION = 2
KIND_LABELS = {"oneshot-val": "one-shot validation", "scratch-val": "scratch validation",
               "scratch-test": "scratch test", "table": "tabular", None: "unrecorded kind",
               "oneshot-val-int8": "one-shot validation, int8",
               "scratch-val-int8": "scratch validation, int8",
               "predicted-oneshot-val": "predicted one-shot validation (supernet's predictor)"}


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind, str(kind))


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


def view_objectives(objectives: tuple[Objective, ...], view: View) -> tuple[Objective, ...]:
    """The objectives of one view: ``latency_ms`` (the default cost) becomes ``energy_mj`` on a
    device known only by an energy table. Energy asked for by name is never swapped for latency:
    a view without energy is skipped, saying so."""
    names = {o.name for o in objectives}
    if ("latency_ms" in names and "latency_ms" not in view.sources and "energy_mj" in view.sources
            and "energy_mj" not in names):
        return tuple(Objective("energy_mj", "min") if o.name == "latency_ms" else o for o in objectives)
    return objectives


def kinds_of(runs: tuple[Run, ...], view: View, objectives: tuple[Objective, ...]) -> list:
    """The accuracy kinds in the view, in :data:`ACCURACY_KINDS` order; ``["any"]`` when accuracy
    is no objective (then nothing is compared on it and every candidate is one group)."""
    if not any(o.name == "accuracy" for o in objectives):
        return ["any"]
    present = {c.accuracy_kind for r in runs for c in view.candidates[r.label]}
    return [k for k in (*ACCURACY_KINDS, None) if k in present]


def members(cands: tuple[Candidate, ...], kind) -> tuple[Candidate, ...]:
    return cands if kind == "any" else tuple(c for c in cands if c.accuracy_kind == kind)


def _row(c: Candidate, label: str) -> dict:
    return {"run": label, **c.to_dict()}


def _front_summary(cands: list[Candidate], labels: list[str], objectives, ref) -> dict:
    if not cands:
        return {"front": [], "hypervolume": 0.0, "knee": None}
    pts = matrix(cands, objectives)
    keys = [f"{c.arch}\t{label}" for c, label in zip(cands, labels)]
    front = pareto_front(pts, senses(objectives))
    knee = knee_point(pts, senses(objectives), keys=keys)
    order = sorted(front.tolist(), key=lambda i: (tuple(pts[i]), keys[i]))
    return {"front": [_row(cands[i], labels[i]) for i in order],
            "hypervolume": hypervolume(pts, senses(objectives), ref),
            "knee": _row(cands[knee], labels[knee])}


def _run_stats(run: Run, cands: tuple[Candidate, ...], good: list[Candidate], budget_ms,
               metrics: tuple[str, ...]) -> dict:
    with_acc = [c for c in cands if c.accuracy is not None]
    inside = [c for c in with_acc if c.latency_ms is not None and budget_ms is not None
              and c.latency_ms <= budget_ms]
    best_in = min(inside, key=lambda c: (-c.accuracy, c.latency_ms, str(c.arch))) if inside else None
    walls = [c.wall_s for c in cands if c.wall_s is not None]
    out = {
        "strategy": run.strategy, "space": run.space, "evaluations": len(cands), "scored": len(good),
        "budget_ms": budget_ms,
        "within_budget": len(inside) if budget_ms is not None else None,
        "best_within_budget": best_in.to_dict() if best_in else None,
        "best_accuracy": max((c.accuracy for c in with_acc), default=None),
        "total_wall_s": float(sum(walls)) if walls else None,
    }
    for f in metrics:
        out[f"min_{f}"] = min((c.get(f) for c in cands if c.get(f) is not None), default=None)
    return out


def _missing(view: View, runs: tuple[Run, ...], objectives) -> ReportError:
    missing = [o.name for o in objectives
               if not any(c.get(o.name) is not None for r in runs for c in view.candidates[r.label])]
    hint = f"no candidate has {', '.join(missing)}" if missing else "no candidate has every objective"
    return ReportError(f"view {view.name!r}: {hint}",
                       "drop that objective from --objectives (energy_mj needs an energy --lut table)"
                       if missing else "check the runs' candidates")


def _budget(runs: list[Run], budget_ms: float | None) -> tuple[float | None, str | None]:
    if budget_ms is not None:
        return budget_ms, "--budget-ms"
    own = sorted({r.budget_ms for r in runs if r.budget_ms is not None})
    if not own:
        return None, None
    return own[0], "the runs' budget" if len(own) == 1 else "the strictest of the runs' budgets"


def analyze_group(view: View, runs: tuple[Run, ...], objectives: tuple[Objective, ...], kind,
                  budget_ms: float | None, reference: dict[str, float] | None) -> dict | None:
    """Fronts, hypervolumes and the deploy choice of one accuracy kind in one view."""
    series = {r.label: members(view.candidates[r.label], kind) for r in runs}
    taking = [r for r in runs if series[r.label]]
    good = {r.label: scored(series[r.label], objectives) for r in taking}
    everything = [c for r in taking for c in good[r.label]]
    if not everything:
        return None
    labels = [r.label for r in taking for _ in good[r.label]]
    ref = view_reference(matrix(everything, objectives), objectives)
    for j, o in enumerate(objectives):
        if reference and o.name in reference:
            ref[j] = reference[o.name]
    metrics = tuple(f for f in METRICS if f in view.sources)
    has_latency = "latency_ms" in view.sources
    entries = []
    for r in taking:
        summary = _front_summary(good[r.label], [r.label] * len(good[r.label]), objectives, ref)
        own = budget_ms if budget_ms is not None else r.budget_ms
        stats = _run_stats(r, series[r.label], good[r.label], own if has_latency else None, metrics)
        entries.append({"run": r.label, "path": str(r.path), "accuracy_kind": None if kind == "any" else kind,
                        **summary, "stats": stats})
    combined = _front_summary(everything, labels, objectives, ref)
    for entry in entries:
        entry["stats"]["share_of_combined_front"] = sum(1 for row in combined["front"]
                                                        if row["run"] == entry["run"])
    budget, budget_from = _budget(taking, budget_ms)
    rows = [_row(c, label) for c, label in zip(everything, labels)]
    deploy = choose(rows, combined["knee"], {r.label: r for r in taking}, view.device or view.name,
                    None if kind == "any" else kind, view.runtime, budget, budget_from)
    return {"accuracy_kind": None if kind == "any" else kind,
            "label": "all candidates" if kind == "any" else f"{kind_label(kind)} accuracy",
            "reference": ref.tolist(), "runs": entries, "combined": combined, "deploy": deploy}


def analyze_view(view: View, runs: tuple[Run, ...], objectives: tuple[Objective, ...],
                 budget_ms: float | None, reference: dict[str, float] | None = None) -> dict:
    objs = view_objectives(objectives, view)
    groups = [g for kind in kinds_of(runs, view, objs)
              if (g := analyze_group(view, runs, objs, kind, budget_ms, reference)) is not None]
    if not groups:
        raise _missing(view, runs, objs)
    kinds = sorted({kind_label(c.accuracy_kind) for r in runs for c in view.candidates[r.label]
                    if c.accuracy is not None})
    sources = {"accuracy": f"recorded by the run ({', '.join(kinds)})"} if kinds else {}
    sources.update(view.sources)
    title = f"recorded ({view.device} table)" if view.name == "recorded" and view.device else view.name
    return {"name": view.name, "title": title, "device": view.device, "runtime": view.runtime,
            "objectives": [{"name": o.name, "sense": o.sense} for o in objs],
            "units": {f: UNITS[f] for f in METRICS if f in view.sources}, "sources": sources,
            "groups": groups, "runs": [e for g in groups for e in g["runs"]]}


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


def compare_runs(view: View, runs: tuple[Run, ...], analysis: dict) -> list[dict]:
    """Hypervolume against evaluations per series, one entry per group, with its reference."""
    objs = tuple(Objective(o["name"], o["sense"]) for o in analysis["objectives"])
    out = []
    for group in analysis["groups"]:
        kind = group["accuracy_kind"] if any(o.name == "accuracy" for o in objs) else "any"
        ref = np.array(group["reference"])
        by_label = {r.label: r for r in runs}
        curves = {e["run"]: hypervolume_curve(members(view.candidates[e["run"]], kind), objs, ref)
                  for e in group["runs"]}
        best = max((c["hypervolume"][-1] for c in curves.values()), default=0.0)
        rows = []
        for e in group["runs"]:
            curve = curves[e["run"]]
            reach = next((k for k, v in zip(curve["evaluations"], curve["hypervolume"])
                          if best > 0 and v >= 0.95 * best), None)
            rows.append({"run": e["run"], "strategy": by_label[e["run"]].strategy,
                         "evaluations": curve["evaluations"][-1],
                         "final_hypervolume": curve["hypervolume"][-1],
                         "evaluations_to_95pct_of_best": reach, "curve": curve})
        out.append({"view": analysis["name"], "accuracy_kind": group["accuracy_kind"],
                    "label": group["label"], "reference": group["reference"], "runs": rows})
    return out


def analyze(runs: tuple[Run, ...], views: list[View], objectives: tuple[Objective, ...],
            budget_ms: float | None = None, compare: bool = False,
            reference: dict[str, float] | None = None) -> dict:
    """The whole ``report.json`` document."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "objectives": [{"name": o.name, "sense": o.sense} for o in objectives],
        "reference_rule": "worst value + 10% of range per objective over one accuracy kind's "
                          "candidates (accuracy: 0)",
        "reference_fixed": reference or {},
        "budget_ms": budget_ms,
        "runs": [{"run": r.label, "path": str(r.path), "strategy": r.strategy, "space": r.space,
                  "budget_ms": r.budget_ms, "lut": r.lut, "evaluations": len(r.candidates),
                  "accuracy_kinds": [k for k in (*ACCURACY_KINDS, None)
                                     if any(c.accuracy_kind == k for c in r.candidates)]}
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
        out["compare"] = [entry for v, a in zip(kept, out["views"]) for entry in compare_runs(v, runs, a)]
    return out

"""What to deploy per device: the most accurate arch within the budget, and the knee, each with
the exact commands that turn it into a model file.

A choice is only made among candidates whose accuracy is of one kind (one group of a view), so
a one-shot validation score never competes with a scratch test accuracy. Ties are broken by
values, then arch string, then run label: the answer never depends on the order of the runs.
"""

from __future__ import annotations

import re
import shlex

from hwnas.report.runs import Run

# Which exporter suits a table's runtime; a table of another runtime gets the portable ONNX.
_FORMATS = (("executorch", "executorch", "pte"), ("tensorrt", "tensorrt", "engine"))


def export_format(runtime: str | None) -> tuple[str, str]:
    """``(--format, file suffix)`` for a device whose table was measured with ``runtime``."""
    for key, fmt, suffix in _FORMATS:
        if runtime and key in runtime.lower():
            return fmt, suffix
    return "onnx", "onnx"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def commands(row: dict, run: Run, fmt: str, stem: str) -> list[str]:
    """Shell commands (quoted) that produce a deployable file for ``row``'s arch.

    The run's own best arch with its trained ``weights.pt``: export the run folder. Any other
    arch has no trained weights in the run: train it from scratch, then export with them.
    """
    q = shlex.quote
    out = f"deploy/{_slug(stem)}.{export_format_suffix(fmt)}"
    if run.has_weights and row["arch"] == run.best_arch:
        return [f"hwnas export {q(str(run.path))} --format {fmt} --out {q(out)}"]
    space = q(run.space or "mbconv-small")
    train_dir = f"deploy/{_slug(stem)}-train"
    data = f" --data {q(run.data)}" if run.data else ""
    return [f"hwnas train {q(row['arch'])} --space {space}{data} --out {q(train_dir)}",
            f"hwnas export {q(row['arch'])} --space {space} --weights {q(train_dir + '/weights.pt')} "
            f"--format {fmt} --out {q(out)}"]


def export_format_suffix(fmt: str) -> str:
    return next((suffix for _k, f, suffix in _FORMATS if f == fmt), "onnx")


def _rank(row: dict, cost: str | None) -> tuple:
    return (-row["accuracy"], row[cost] if cost else 0.0, row["arch"], row["run"])


def choose(rows: list[dict], knee: dict | None, runs: dict[str, Run], device: str, kind: str | None,
           runtime: str | None, budget_ms: float | None, budget_from: str | None) -> dict:
    """The deploy advice of one group: ``rows`` are its scored candidates (``to_dict`` + run)."""
    cost = "latency_ms" if any(r.get("latency_ms") is not None for r in rows) else (
        "energy_mj" if any(r.get("energy_mj") is not None for r in rows) else None)
    with_acc = [r for r in rows
                if r.get("accuracy") is not None and (cost is None or r.get(cost) is not None)]
    if cost != "latency_ms":
        budget_ms = budget_from = None  # a latency budget says nothing about energy
    mixed = len({r.get("accuracy_kind") for r in with_acc}) > 1  # accuracy is no objective here
    inside = [] if mixed else [r for r in with_acc if budget_ms is None or r["latency_ms"] <= budget_ms]
    best = min(inside, key=lambda r: _rank(r, cost)) if inside else None
    fmt, _suffix = export_format(runtime)
    stem = device + (f"-{kind}" if kind else "")
    out = {"device": device, "accuracy_kind": kind, "budget_ms": budget_ms, "budget_from": budget_from,
           "format": fmt, "best": None, "knee": None, "same": False,
           "why_no_best": ("the accuracies are of several kinds and are not compared; put accuracy "
                           "in --objectives" if mixed else "no candidate is within the budget")}
    if best is not None:
        out["best"] = {**best, "commands": commands(best, runs[best["run"]], fmt, f"{stem}-best")}
    if knee is not None:
        out["knee"] = {**knee, "commands": commands(knee, runs[knee["run"]], fmt, f"{stem}-knee")}
    out["same"] = best is not None and knee is not None and (best["arch"], best["run"]) == (
        knee["arch"], knee["run"])
    return out


def describe(choice: dict, units: dict[str, str]) -> list[str]:
    """Plain-text lines of one group's advice (the CLI and the page both show them)."""
    def fig(row: dict) -> str:
        parts = [f"accuracy {row['accuracy']:.4g}"] if row.get("accuracy") is not None else []
        parts += [f"{row[f]:.4g} {u}" for f, u in units.items() if row.get(f) is not None]
        return f"{row['arch']} from {row['run']} ({', '.join(parts)})"

    budget = (f"within {choice['budget_ms']:g} ms ({choice['budget_from']})"
              if choice["budget_ms"] is not None else "with no latency budget")
    lines = []
    if choice["best"] is not None:
        lines.append(f"most accurate {budget}: {fig(choice['best'])}")
        lines += [f"  $ {c}" for c in choice["best"]["commands"]]
    else:
        lines.append(f"most accurate {budget}: none - {choice['why_no_best']}")
    if choice["knee"] is not None:
        if choice["same"]:
            lines.append("knee: the same arch")
        else:
            lines.append(f"knee: {fig(choice['knee'])}")
            lines += [f"  $ {c}" for c in choice["knee"]["commands"]]
    return lines

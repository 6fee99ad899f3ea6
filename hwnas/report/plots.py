"""PNG figures (matplotlib's Agg canvas, no pyplot state): fronts per view, hypervolume curves."""

from __future__ import annotations

import io

import numpy as np

from hwnas.report.analysis import matrix, scored
from hwnas.report.pricing import View
from hwnas.report.runs import Objective, Run

LABELS = {"accuracy": "accuracy", "latency_ms": "latency (ms)", "energy_mj": "energy (mJ)",
          "params": "parameters", "macs": "MACs", "wall_s": "wall time (s)"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _axis_label(obj: Objective) -> str:
    return f"{LABELS[obj.name]}, {'higher' if obj.sense == 'max' else 'lower'} is better"


def _budget_lines(ax, analysis: dict, x_name: str, y_name: str) -> None:
    budgets = sorted({r["stats"]["budget_ms"] for r in analysis["runs"]
                      if r["stats"]["budget_ms"] is not None})
    for b in budgets:
        if x_name == "latency_ms":
            ax.axvline(b, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {b:g} ms")
        elif y_name == "latency_ms":
            ax.axhline(b, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {b:g} ms")


def pareto_png(views: list[View], runs: tuple[Run, ...], objectives: tuple[Objective, ...],
               report: dict) -> bytes:
    """One panel per view: all candidates grey, each run's front in colour, budget, knee."""
    y_obj, x_obj = objectives[0], objectives[1]
    n = len(views)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = _figure(5.2 * cols, 4.2 * rows)
    colors = _colors(len(runs))
    projected = len(objectives) > 2
    for k, (view, analysis) in enumerate(zip(views, report["views"])):
        ax = fig.add_subplot(rows, cols, k + 1)
        everything = [c for r in runs for c in scored(view.candidates[r.label], objectives)]
        pts = matrix(everything, (y_obj, x_obj))
        ax.scatter(pts[:, 1], pts[:, 0], s=10, color="0.75", label="all candidates", zorder=1)
        for color, entry in zip(colors, analysis["runs"]):
            front = entry["front"]
            if not front:
                continue
            fx = np.array([row[x_obj.name] for row in front])
            fy = np.array([row[y_obj.name] for row in front])
            order = np.argsort(fx)
            style = dict(color=color, marker="o", markersize=5, linewidth=1.4, zorder=3,
                         label=f"{entry['run']} front ({len(front)})")
            if projected:
                ax.plot(fx[order], fy[order], linestyle="none", **style)
            else:
                ax.plot(fx[order], fy[order], drawstyle="steps-post", **style)
        knee = analysis["combined"]["knee"]
        if knee is not None:
            ax.scatter([knee[x_obj.name]], [knee[y_obj.name]], s=220, marker="*", color="gold",
                       edgecolor="black", linewidth=1.0, zorder=5, label="knee (all runs)")
        _budget_lines(ax, analysis, x_obj.name, y_obj.name)
        title = view.name + (f"  ({len(objectives)}-D fronts, projected)" if projected else "")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(_axis_label(x_obj))
        ax.set_ylabel(_axis_label(y_obj))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return _png(fig)


def compare_png(compare: list[dict]) -> bytes:
    """Hypervolume against evaluations, one line per run, one panel per view."""
    n = len(compare)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = _figure(5.2 * cols, 3.8 * rows)
    for k, view in enumerate(compare):
        ax = fig.add_subplot(rows, cols, k + 1)
        for color, row in zip(_colors(len(view["runs"])), view["runs"]):
            curve = row["curve"]
            ax.plot(curve["evaluations"], curve["hypervolume"], drawstyle="steps-post", color=color,
                    linewidth=1.6, label=f"{row['run']} (final {row['final_hypervolume']:.4g})")
        ref = ", ".join(f"{v:.4g}" for v in view["reference"])
        ax.set_title(f"{view['view']}: hypervolume (reference {ref})", fontsize=9)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _png(fig)

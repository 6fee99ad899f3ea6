"""PNG figures (matplotlib's Agg canvas, no pyplot state): fronts per view and accuracy kind,
hypervolume curves.

One panel per (view, accuracy kind): accuracies of different kinds never share an axis. Every
run keeps its colour and marker in every panel and is drawn above the knee star, so a run whose
single point is the knee stays visible. Artists carry a ``gid`` (``run:LABEL``, ``cands:LABEL``,
``knee``, ``budget``) so tests can find them.
"""

from __future__ import annotations

import io

import numpy as np

from hwnas.report.analysis import matrix, members, scored
from hwnas.report.pricing import View
from hwnas.report.runs import Objective, Run

LABELS = {"accuracy": "accuracy", "latency_ms": "latency (ms)", "energy_mj": "energy (mJ)",
          "params": "parameters", "macs": "MACs", "wall_s": "wall time (s)"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
Z_CANDIDATES, Z_KNEE, Z_FRONT = 1, 2, 4


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


def _axis_label(obj: Objective, kind_label: str | None = None) -> str:
    name = f"{kind_label} accuracy" if obj.name == "accuracy" and kind_label else LABELS[obj.name]
    return f"{name}, {'higher' if obj.sense == 'max' else 'lower'} is better"


def _budget_lines(ax, group: dict, x_name: str, y_name: str) -> None:
    budgets = sorted({r["stats"]["budget_ms"] for r in group["runs"]
                      if r["stats"]["budget_ms"] is not None})
    for b in budgets:
        if x_name == "latency_ms":
            ax.axvline(b, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {b:g} ms",
                       gid="budget")
        elif y_name == "latency_ms":
            ax.axhline(b, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {b:g} ms",
                       gid="budget")


def panels(report: dict) -> list[tuple[int, int, str]]:
    """``(view index, group index, title)`` of every panel, in drawing order (the page lists them)."""
    out = []
    for i, view in enumerate(report["views"]):
        for j, group in enumerate(view["groups"]):
            out.append((i, j, f"{view['title']}: {group['label']}"))
    return out


def pareto_figure(views: list[View], runs: tuple[Run, ...], report: dict):
    """The front figure: one panel per view and accuracy kind (see the module docstring)."""
    layout = panels(report)
    n = len(layout)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = _figure(5.2 * cols, 4.4 * rows)
    style = {r.label: (c, MARKERS[k % len(MARKERS)])
             for k, (r, c) in enumerate(zip(runs, _colors(len(runs))))}
    for k, (i, j, title) in enumerate(layout):
        view, analysis = views[i], report["views"][i]
        group = analysis["groups"][j]
        objs = tuple(Objective(o["name"], o["sense"]) for o in analysis["objectives"])
        y_obj, x_obj = objs[0], objs[1]
        kind = group["accuracy_kind"] if any(o.name == "accuracy" for o in objs) else "any"
        ax = fig.add_subplot(rows, cols, k + 1)
        for entry in group["runs"]:
            color, marker = style[entry["run"]]
            pts = matrix(scored(members(view.candidates[entry["run"]], kind), objs), (y_obj, x_obj))
            ax.scatter(pts[:, 1], pts[:, 0], s=12, marker=marker, color=color, alpha=0.3, linewidths=0,
                       zorder=Z_CANDIDATES, gid=f"cands:{entry['run']}")
        knee = group["combined"]["knee"]
        if knee is not None:  # under the runs' markers: the knee's own point shows through
            ax.scatter([knee[x_obj.name]], [knee[y_obj.name]], s=320, marker="*", color="gold",
                       edgecolor="black", linewidth=0.8, zorder=Z_KNEE, label="knee", gid="knee")
        projected = len(objs) > 2
        for entry in group["runs"]:
            front = entry["front"]
            color, marker = style[entry["run"]]
            fx = np.array([row[x_obj.name] for row in front])
            fy = np.array([row[y_obj.name] for row in front])
            order = np.argsort(fx, kind="stable")
            ax.plot(fx[order], fy[order], color=color, marker=marker, markersize=6,
                    markeredgecolor="black", markeredgewidth=0.6, linewidth=1.4, zorder=Z_FRONT,
                    linestyle="none" if projected else "-",
                    drawstyle="default" if projected else "steps-post",
                    label=f"{entry['run']} front ({len(front)})", gid=f"run:{entry['run']}")
        _budget_lines(ax, group, x_obj.name, y_obj.name)
        ax.set_title(title + (f"  ({len(objs)}-D fronts, projected)" if projected else ""), fontsize=9)
        ax.set_xlabel(_axis_label(x_obj))
        ax.set_ylabel(_axis_label(y_obj, None if kind == "any" else group["label"].removesuffix(" accuracy")))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return fig


def pareto_png(views: list[View], runs: tuple[Run, ...], report: dict) -> bytes:
    return _png(pareto_figure(views, runs, report))


def compare_png(compare: list[dict], labels: list[str]) -> bytes:
    """Hypervolume against evaluations, one line per run, one panel per view and accuracy kind;
    ``labels`` (every run, in report order) fixes each run's colour across panels."""
    n = len(compare)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = _figure(5.2 * cols, 3.8 * rows)
    for k, view in enumerate(compare):
        ax = fig.add_subplot(rows, cols, k + 1)
        colors = dict(zip(labels, _colors(len(labels))))
        for row in view["runs"]:
            color = colors[row["run"]]
            curve = row["curve"]
            ax.plot(curve["evaluations"], curve["hypervolume"], drawstyle="steps-post", color=color,
                    linewidth=1.6, label=f"{row['run']} (final {row['final_hypervolume']:.4g})")
        ref = ", ".join(f"{v:.4g}" for v in view["reference"])
        ax.set_title(f"{view['view']}: {view['label']}\nhypervolume (reference {ref})", fontsize=9)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _png(fig)

"""``index.html``: one self-contained page (inline CSS and JS, images as data: URIs, no links).

Nothing in the page points outside it (no http(s) URL, no CDN, no relative file), so it can be
mailed or archived alone.
"""

from __future__ import annotations

import base64
from html import escape

from hwnas.report.deploy import describe
from hwnas.report.plots import panels

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
td.s{text-align:left;font-family:monospace;font-size:12px}
th{background:#eee;cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
tr.knee{background:#fff6cc} img{max-width:100%;border:1px solid #ddd}
.note{color:#666;font-size:12px}
.deploy{background:#eef6ee;border:1px solid #9c9;padding:.4em .8em;margin:.5em 0;font-size:13px}
"""

# Click a header to sort by it (numbers numerically, text alphabetically; click again reverses).
_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th").forEach(function(th,col){
    th.addEventListener("click",function(){
      var asc=!th.classList.contains("asc");
      t.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc");});
      th.classList.add(asc?"asc":"desc");
      var body=t.tBodies[0], rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[col].getAttribute("data-v"), y=b.cells[col].getAttribute("data-v");
        var nx=parseFloat(x), ny=parseFloat(y), r;
        if(!isNaN(nx)&&!isNaN(ny)){r=nx-ny;}else{r=x<y?-1:(x>y?1:0);}
        return asc?r:-r;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


def _fmt(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, float):
        return escape(f"{v:.4g}")
    if isinstance(v, int):
        return f"{v:,}"
    return escape(str(v))


def _cell(v, text: bool = False) -> str:
    raw = "" if v is None else str(v)
    cls = ' class="s"' if text else ""
    return f'<td{cls} data-v="{escape(raw, quote=True)}">{_fmt(v)}</td>'


def _table(headers: list[str], rows: list[list], text_cols: set[int], row_classes=None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(v, j in text_cols) for j, v in enumerate(row)) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt, quote=True)}" src="data:image/png;base64,{data}">'


_NAMES = {"latency_ms": "latency", "energy_mj": "energy"}


def _metric_cols(view: dict) -> list[tuple[str, str]]:
    """``(field, header)`` of each cost metric the view has values for, in its unit."""
    return [(f, f"{_NAMES[f]} {u}") for f, u in view["units"].items()]


def _deploy(group: dict, view: dict) -> str:
    lines = describe(group["deploy"], view["units"])
    items = "".join(f"<li><code>{escape(line[4:])}</code></li>" if line.startswith("  $ ")
                    else f"<li>{escape(line)}</li>" for line in lines)
    return f'<div class="deploy"><b>What to deploy</b> ({escape(group["label"])}):<ul>{items}</ul></div>'


def _group_section(group: dict, view: dict) -> str:
    metrics = _metric_cols(view)
    stats_rows = [[r["run"], r["stats"]["strategy"], r["stats"]["evaluations"], r["stats"]["scored"],
                   len(r["front"]), r["hypervolume"], r["stats"]["best_accuracy"],
                   *[r["stats"].get(f"min_{f}") for f, _h in metrics], r["stats"]["budget_ms"],
                   r["stats"]["within_budget"], r["stats"]["share_of_combined_front"]]
                  for r in group["runs"]]
    stats = _table(["run", "strategy", "evaluations", "scored", "front", "hypervolume",
                    "best accuracy", *[f"min {h}" for _f, h in metrics], "budget ms", "within budget",
                    "on combined front"], stats_rows, {0, 1})
    fronts = [row for r in group["runs"] for row in r["front"]]
    knee = group["combined"]["knee"]
    combined = {(row["run"], row["index"]) for row in group["combined"]["front"]}
    headers = ["run", "arch", "accuracy", *[h for _f, h in metrics], "params", "MACs",
               "combined front", "knee"]
    rows, classes = [], []
    for row in fronts:
        is_knee = knee is not None and (row["run"], row["index"]) == (knee["run"], knee["index"])
        rows.append([row["run"], row["arch"], row["accuracy"], *[row.get(f) for f, _h in metrics],
                     row["params"], row["macs"],
                     "yes" if (row["run"], row["index"]) in combined else "no", "knee" if is_knee else ""])
        classes.append("knee" if is_knee else "")
    ref = ", ".join(f"{v:.4g}" for v in group["reference"])
    return (f"<h3>{escape(group['label'])}</h3>{_deploy(group, view)}"
            f'<p class="note">hypervolume reference ({escape(ref)}); hypervolume of all runs '
            f'together {_fmt(group["combined"]["hypervolume"])}</p>'
            f"<h4>Runs</h4>{stats}<h4>Front architectures</h4>{_table(headers, rows, {0, 1}, classes)}")


def _view_section(view: dict) -> str:
    sources = ", ".join(f"{k}: {v}" for k, v in view["sources"].items())
    objectives = ", ".join(f"{o['name']} ({o['sense']})" for o in view["objectives"])
    kinds = [g["label"] for g in view["groups"]]
    note = (f"accuracies of different kinds ({', '.join(kinds)}) are ranked apart: each has its own "
            "front, hypervolume and knee" if len(kinds) > 1 else f"ranked on {kinds[0]}")
    return (f"<h2>{escape(view['title'])}</h2>"
            f'<p class="note">objectives: {escape(objectives)}; values from {escape(sources)}; '
            f"{escape(note)}</p>" + "".join(_group_section(g, view) for g in view["groups"]))


def render_html(report: dict, pareto_png: bytes, compare_png: bytes | None = None) -> str:
    objectives = ", ".join(f"{o['name']} ({o['sense']})" for o in report["objectives"])
    captions = "".join(f"<li>{escape(title)}</li>" for _i, _j, title in panels(report))
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>hwnas Pareto report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>hwnas Pareto report</h1>",
        f"<p>objectives: {escape(objectives)}; runs: "
        f"{escape(', '.join(r['run'] for r in report['runs']))}</p>",
        _img(pareto_png, "Pareto fronts per device and accuracy kind"),
        f'<p class="note">Panels, left to right and top to bottom (the knee star sits under the '
        f"runs' markers):</p><ol class=\"note\">{captions}</ol>",
    ]
    if compare_png is not None:
        parts += ["<h2>Hypervolume against evaluations</h2>", _img(compare_png, "hypervolume curves")]
    parts += [_view_section(v) for v in report["views"]]
    for skipped in report["skipped_views"]:
        parts.append(f'<p class="note">not shown: {escape(skipped["name"])}: {escape(skipped["reason"])}</p>')
    parts += [f"<script>{_JS}</script></body></html>"]
    return "\n".join(parts) + "\n"

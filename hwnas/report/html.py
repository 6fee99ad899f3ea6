"""``index.html``: one self-contained page (inline CSS and JS, images as data: URIs, no links).

Nothing in the page points outside it (no http(s) URL, no CDN, no relative file), so it can be
mailed or archived alone.
"""

from __future__ import annotations

import base64
from html import escape

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
td.s{text-align:left;font-family:monospace;font-size:12px}
th{background:#eee;cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
tr.knee{background:#fff6cc} img{max-width:100%;border:1px solid #ddd}
.note{color:#666;font-size:12px}
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


def _view_section(view: dict) -> str:
    stats_rows = [[r["run"], r["stats"]["strategy"], r["stats"]["evaluations"], r["stats"]["scored"],
                   len(r["front"]), r["hypervolume"], r["stats"]["best_accuracy"],
                   r["stats"]["min_latency_ms"], r["stats"]["budget_ms"], r["stats"]["within_budget"],
                   r["stats"]["share_of_combined_front"]] for r in view["runs"]]
    stats = _table(["run", "strategy", "evaluations", "scored", "front", "hypervolume",
                    "best accuracy", "min latency ms", "budget ms", "within budget",
                    "on combined front"], stats_rows, {0, 1})
    fronts = [row for r in view["runs"] for row in r["front"]]
    has_energy = any(row.get("energy_mj") is not None for row in fronts)
    knee = view["combined"]["knee"]
    combined = {(row["run"], row["index"]) for row in view["combined"]["front"]}
    headers = ["run", "arch", "accuracy", "latency ms", "params", "MACs"]
    headers += ["energy mJ"] if has_energy else []
    headers += ["combined front", "knee"]
    rows, classes = [], []
    for row in fronts:
        is_knee = knee is not None and (row["run"], row["index"]) == (knee["run"], knee["index"])
        cells = [row["run"], row["arch"], row["accuracy"], row["latency_ms"], row["params"], row["macs"]]
        cells += [row.get("energy_mj")] if has_energy else []
        cells += ["yes" if (row["run"], row["index"]) in combined else "no", "knee" if is_knee else ""]
        rows.append(cells)
        classes.append("knee" if is_knee else "")
    ref = ", ".join(f"{v:.4g}" for v in view["reference"])
    sources = ", ".join(f"{k}: {v}" for k, v in view["sources"].items() if v)
    return (f"<h2>{escape(view['name'])}</h2>"
            f'<p class="note">values from {escape(sources)}; hypervolume reference ({escape(ref)}); '
            f'combined hypervolume {_fmt(view["combined"]["hypervolume"])}</p>'
            f"<h3>Runs</h3>{stats}<h3>Front architectures</h3>"
            f"{_table(headers, rows, {0, 1}, classes)}")


def render_html(report: dict, pareto_png: bytes, compare_png: bytes | None = None) -> str:
    objectives = ", ".join(f"{o['name']} ({o['sense']})" for o in report["objectives"])
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>hwnas Pareto report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>hwnas Pareto report</h1>",
        f"<p>objectives: {escape(objectives)}; runs: "
        f"{escape(', '.join(r['run'] for r in report['runs']))}</p>",
        _img(pareto_png, "Pareto fronts per device"),
    ]
    if compare_png is not None:
        parts += ["<h2>Hypervolume against evaluations</h2>", _img(compare_png, "hypervolume curves")]
    parts += [_view_section(v) for v in report["views"]]
    parts += [f"<script>{_JS}</script></body></html>"]
    return "\n".join(parts) + "\n"

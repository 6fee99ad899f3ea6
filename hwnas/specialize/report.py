"""One report across the specialized devices: the Pareto report of their run folders (each
device's front, every run re-priced with every device's table) with a section on top naming
each device's chosen arch, its exports and its predicted against measured latency."""

from __future__ import annotations

from html import escape
from pathlib import Path

from hwnas.io import write_json, write_text


def _fmt(v, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def device_rows(devices: list[dict]) -> list[dict]:
    """One plain row per device: what the section shows and ``specialize.json`` keeps."""
    rows = []
    for d in devices:
        m = d["measured"]
        rows.append({
            "device": d["device"], "runtime": d["runtime"], "budget_ms": d["budget_ms"],
            "arch": d["arch"], "supernet_val_acc": d["supernet_val_acc"],
            "inherited_test_acc": d["inherited_test_acc"], "finetuned_test_acc": d["finetuned_test_acc"],
            "predicted_ms": m["predicted_ms"], "measured_ms": m.get("measured_ms"),
            "error_pct": m.get("error_pct"),
            "latency_check": "measured here" if m["measurable"] else m["note"],
            "exports": ", ".join(e["artifact"] or f"{e['format']}: {e['skipped']}" for e in d["exports"]),
            "scores_reused": d["scores_reused"], "evaluations": d["evaluations"],
            "accuracy_from": d.get("accuracy_from", "supernet"),
            "supernet_scored": d.get("supernet_scored", d["evaluations"]),
            "predicted_val_acc": d.get("predicted_val_acc")})
    return rows


def _source(row: dict) -> str:
    if row["accuracy_from"] == "predictor":
        return f"predictor ({row['evaluations']} predicted, {row['supernet_scored']} scored)"
    return f"supernet ({row['evaluations']} scored)"


def _section(rows: list[dict]) -> str:
    head = ("device", "budget ms", "chosen arch", "search accuracy from", "supernet val acc",
            "predicted val acc", "test acc (inherited)",
            "test acc (fine-tuned)", "predicted ms", "measured ms", "error %", "latency check",
            "exported", "scores reused")
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in (
            r["device"], _fmt(r["budget_ms"], "g"), r["arch"], _source(r), _fmt(r["supernet_val_acc"]),
            _fmt(r["predicted_val_acc"]),
            _fmt(r["inherited_test_acc"]), _fmt(r["finetuned_test_acc"]), _fmt(r["predicted_ms"]),
            _fmt(r["measured_ms"]), _fmt(r["error_pct"], "+.1f"), r["latency_check"], r["exports"],
            f"{r['scores_reused']}/{r['supernet_scored']}")) + "</tr>" for r in rows)
    return ("<h1>hwnas specialize: one supernet, one arch per device</h1>"
            "<p>The chosen arch is the best supernet-scored arch under the budget (inherited weights, "
            "validation split); a search on predicted accuracy had its top archs scored with the "
            "supernet, and the fronts below keep predicted and scored accuracies in separate groups. "
            "The test accuracies are of the exported weights. Latency is the table's prediction; "
            "measured only where the table's runtime runs on this machine.</p>"
            "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" + body
            + "</table>")


def write_report(plan, devices: list[dict], out_dir: Path) -> dict:
    """The Pareto report of every device's run (priced by every device's table) plus the
    per-device section; returns where it is and the rows."""
    from hwnas.report import build_report
    from hwnas.specialize.rescore import RESCORED

    runs = [d["run_dir"] for d in devices]  # a predicted search's supernet scores: their own run
    runs += [str(Path(d["run_dir"]) / RESCORED) for d in devices if d.get("accuracy_from") == "predictor"]
    luts = [t.lut for t in plan.targets]
    from hwnas.errors import SpaceError

    note = ""
    try:
        result = build_report(runs, out_dir, lut_paths=luts)
    except SpaceError as exc:  # a spec-file space: run folders record its name, not its file
        note = f"each run is shown as priced by its own table only ({exc.message})"
        result = build_report(runs, out_dir)
    rows = device_rows(devices)
    page = (out_dir / "index.html").read_text()
    marker = "<h1>hwnas Pareto report</h1>"
    section = _section(rows) + (f'<p class="note">{escape(note)}</p>' if note else "")
    write_text(out_dir / "index.html", page.replace(marker, section + marker, 1))
    write_json(out_dir / "specialize.json", {"devices": rows, "note": note})
    return {"folder": str(out_dir), "files": [*result.files, "specialize.json"], "devices": rows,
            "note": note}

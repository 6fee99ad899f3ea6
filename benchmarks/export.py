"""Export benchmark: per format, export seconds, parity, and measured vs predicted latency.

For ``--archs`` random archs of ``--space`` (seeded), every available format is exported through
:func:`hwnas.export.pipeline.export_arch` (BN recalibrated on digits, on-device check on), and the
artifact's measured p50 is compared with a latency table's prediction: a second check of table
fidelity, through the deployable artifact. For onnx it also times the torch.export-based exporter
(``dynamo=True``) against the TorchScript one on the first archs.

Usage::

    python benchmarks/export.py [--archs 10] [--space mbconv-small] [--formats onnx,executorch]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from exporters.onnx_exporter import lower
from hwnas.export.base import ExportOptions
from hwnas.export.pipeline import ExportRequest, ExportSource, export_arch, prepare_model
from hwnas.latency.table import LatencyTable
from hwnas.plugins import exporter_names, get_exporter
from hwnas.space import get_space
from hwnas.testing import synthetic_table

ROOT = Path(__file__).resolve().parent.parent


def pick_table(space, runtime: str) -> tuple[LatencyTable, str]:
    """The shipped table for (runtime, space) if any, else the best available, else synthetic."""
    found = sorted((ROOT / "latency_tables").glob(f"**/*-{space.name}.json"))
    for preferred in (runtime, "onnxruntime"):
        for path in found:
            if path.name == f"{preferred}-{space.name}.json":
                return LatencyTable.load(path), str(path.relative_to(ROOT))
    for path in found:
        try:
            return LatencyTable.load(path), str(path.relative_to(ROOT))
        except Exception:  # a table this version cannot read: try the next one
            continue
    return synthetic_table(space), "synthetic (MAC-proportional; no measured table shipped yet)"


def exporter_timing(space, archs, count: int) -> dict:
    """Seconds of torch.onnx.export with dynamo=False vs dynamo=True (same archs, opset 18)."""
    import torch

    out = {"torchscript_s": [], "dynamo_s": []}
    for arch in archs[:count]:
        model, _ = prepare_model(ExportSource(space, arch), "digits")
        sample = torch.zeros(1, 3, space.resolution, space.resolution)
        for key, dynamo in (("torchscript_s", False), ("dynamo_s", True)):
            start = time.perf_counter()
            lower(model, sample, ExportOptions(opset=18, dynamo=dynamo))
            out[key].append(round(time.perf_counter() - start, 3))
    return {**out, "median_torchscript_s": float(np.median(out["torchscript_s"])),
            "median_dynamo_s": float(np.median(out["dynamo_s"]))}


def bench_format(fmt: str, space, archs, workdir: Path) -> dict:
    exporter = get_exporter(fmt)
    reason = exporter.unavailable_reason()
    if reason:
        return {"skipped": reason}
    table, table_name = pick_table(space, exporter.runtime)
    rows = []
    for i, arch in enumerate(archs):
        rec = export_arch(ExportRequest(ExportSource(space, arch), fmt,
                                        workdir / fmt / f"{i}{exporter.suffix}", ExportOptions(),
                                        table, table_name, force=True))
        chk = rec["check"]
        rows.append({"arch": str(arch), "export_s": round(rec["export_s"], 3),
                     "max_abs_diff": chk["parity"]["max_abs_diff"],
                     "max_rel_diff": chk["parity"]["max_rel_diff"],
                     "measured_p50_ms": round(chk["latency_ms"]["p50"], 4),
                     "predicted_ms": round(chk["table"]["predicted_ms"], 4),
                     "error_pct": round(chk["table"]["error_pct"], 2)})
    err = np.array([r["error_pct"] for r in rows])
    return {
        "runtime": exporter.runtime, "runtime_version": exporter.runtime_version(),
        "table": table_name, "table_runtime": table.meta.runtime,
        "table_note": rows and export_note(table, exporter.runtime),
        "archs": len(rows),
        "export_s_median": float(np.median([r["export_s"] for r in rows])),
        "export_s_max": float(max(r["export_s"] for r in rows)),
        "parity_max_abs_diff": float(max(r["max_abs_diff"] for r in rows)),
        "parity_max_rel_diff": float(max(r["max_rel_diff"] for r in rows)),
        "within_10pct": float(np.mean(np.abs(err) <= 10.0)),
        "mape_pct": float(np.mean(np.abs(err))),
        "mean_error_pct": float(np.mean(err)),
        "rows": rows,
    }


def export_note(table: LatencyTable, runtime: str) -> str:
    if table.meta.runtime == runtime:
        return ""
    return f"runtime mismatch: table from {table.meta.runtime}, artifact runs on {runtime}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mbconv-small")
    parser.add_argument("--archs", type=int, default=10)
    # seed 1: the shipped tables were validated and calibrated on seed-0 samples, so these archs
    # are held out from that fit
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", default=",".join(exporter_names()))
    parser.add_argument("--exporter-timing-archs", type=int, default=3)
    args = parser.parse_args(argv)
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs)]
    result: dict = {"space": space.name, "archs": args.archs, "seed": args.seed, "formats": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            result["formats"][fmt] = bench_format(fmt, space, archs, Path(tmp))
    if "onnx" in args.formats.split(",") and args.exporter_timing_archs > 0:
        result["onnx_exporter_timing"] = exporter_timing(space, archs, args.exporter_timing_archs)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

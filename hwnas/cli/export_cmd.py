"""``hwnas export``: a run's best arch (or any arch) -> ONNX / ExecuTorch / TensorRT, checked."""

from __future__ import annotations

from pathlib import Path

import typer

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, force_option, guarded, out_option, print_json
from hwnas.latency.shipped import load_table


def _resolve(source: str, space: str | None, weights: Path | None):
    """The export source; a missing run folder is named as such, not parsed as a one-layer arch."""
    from hwnas.errors import SpaceError
    from hwnas.export.base import ExportError
    from hwnas.export.pipeline import resolve_source

    fix = ("pass the --out folder of a finished `hwnas search`, or an arch string like those "
           "`hwnas arch sample` prints")
    if not Path(source).exists() and ("/" in source or "\\" in source or source.startswith((".", "~"))):
        raise ExportError(f"{source} does not exist", fix)
    try:
        return resolve_source(source, space, weights)
    except SpaceError as exc:
        if Path(source).exists() or any(sep in source for sep in "-|+ "):
            raise  # it reads as an arch string: the space says what is wrong with it
        raise ExportError(f"{source} is neither an existing folder nor an arch string "
                          f"({exc.message})", fix) from None


@app.command("export")
@guarded
def export(source: str = typer.Argument(..., help="A run folder (exports its best arch and "
                                        "weights.pt) or a canonical arch string."),
           space: str = typer.Option(None, "--space", "-s", help="Space of an arch string "
                                     "(default mbconv-small; a run folder names its own)."),
           weights: Path = typer.Option(None, help="State dict (weights_only) for the arch."),
           fmt: str = typer.Option(..., "--format", help="onnx | executorch | tensorrt"),
           out: Path = out_option("Artifact path (its record ARTIFACT.export.json is written beside "
                                  "it)."),
           lut: str = typer.Option(None, "--lut", help="Latency table (file or shipped name "
                                   "device/stem; `hwnas lut list`) to compare the measured latency "
                                   "with."),
           opset: int = typer.Option(17, min=7, help="ONNX opset (onnx, tensorrt)."),
           dynamo: bool = typer.Option(False, help="Use the torch.export-based ONNX exporter."),
           simplify: bool = typer.Option(True, help="onnxruntime's basic offline graph "
                                         "optimization of the ONNX graph (portable ops only)."),
           fp16: bool = typer.Option(False, help="Half-precision TensorRT engine."),
           workspace_mb: int = typer.Option(1024, min=1, help="TensorRT builder workspace (MiB)."),
           max_batch: int = typer.Option(64, min=1, help="Largest batch of the dynamic batch."),
           threads: int = typer.Option(1, min=1, help="Runtime threads for the check."),
           data: str = typer.Option("digits", help="Data for BN statistics (untrained weights) "
                                    "and the parity inputs."),
           no_check: bool = typer.Option(False, "--no-check", help="Skip the on-device check."),
           device: str = typer.Option("cpu", help="Where the check runs: cpu | cuda | cuda:N | auto "
                                      "(the PyTorch reference there; ONNX Runtime's CUDA provider "
                                      "on a GPU when installed). cpu by default: the latency it "
                                      "measures is compared with CPU tables."),
           # int8 hunk: post-training quantization of the artifact
           quantize: str = typer.Option(None, "--quantize", help="int8: post-training static "
                                        "quantization (onnx, executorch), calibrated on --calib-data's "
                                        "training split; the record gains test accuracy and size "
                                        "before and after."),
           calib_data: str = typer.Option(None, "--calib-data", help="Data whose training split "
                                          "calibrates --quantize and whose test split scores it "
                                          "(default: --data)."),
           force: bool = force_option("the artifact and its record"),
           json_out: bool = JSON_OPTION) -> None:
    """Export an arch, run it in its runtime against PyTorch, time it, write ARTIFACT.export.json."""
    from hwnas.export.base import ExportOptions
    from hwnas.export.pipeline import ExportRequest, check_out_path, export_arch, record_path
    from hwnas.latency.table import normalize_dtype
    from hwnas.plugins import get_exporter

    exporter = get_exporter(fmt)
    dtype = normalize_dtype(quantize) if quantize else None  # int8 hunk
    if dtype == "float32":
        dtype = None  # --quantize fp32 is the default float32 artifact
    if dtype:  # before availability: installing the runtime would not make it quantize
        exporter.require_quantize(dtype)
    exporter.require()  # unknown or unavailable format: fail before any other work
    from hwnas.train import resolve_device

    resolve_device(device)  # a missing GPU: one line, before anything is written
    check_out_path(out, force)
    src = _resolve(source, space, weights)
    table = load_table(lut) if lut else None
    if table is not None:
        table.require_dtype(dtype or "float32", lut)
        from hwnas.cli.lut_cmd import warn_if_uncalibrated

        warn_if_uncalibrated(lut, table)  # its comparison with the measured latency reads raw sums
    options = ExportOptions(opset=opset, dynamo=dynamo, simplify=simplify, fp16=fp16,
                            workspace_mb=workspace_mb, max_batch=max_batch, threads=threads,
                            quantize=dtype, device=device)
    record = export_arch(ExportRequest(src, fmt, out, options, table, lut, check=not no_check,
                                       force=force, calibration_data=data, calib_data=calib_data))
    if json_out:
        print_json(record)
        return
    console.print(f"exported {record['space']} {record['arch']} to {out} ({record['bytes']:,} bytes) "
                  f"in {record['export_s']:.2f} s", highlight=False, soft_wrap=True)
    check = record["check"]
    if check is None:
        console.print("on-device check skipped (--no-check)")
    else:
        p, lat = check["parity"], check["latency_ms"]
        console.print(f"{check['runtime']} {check['runtime_version']}: max abs diff "
                      f"{p['max_abs_diff']:.2e}, max rel diff {p['max_rel_diff']:.2e} (limit "
                      f"{p['limit']:.1e}), top-1 agreement {p['top1_agreement']:.0%}; latency p50 "
                      f"{lat['p50']:.3f} ms (p10 {lat['p10']:.3f}, p90 {lat['p90']:.3f}, n={lat['n']})"
                      + (f"; {record['dtype']} artifact: differences recorded, not enforced (its "
                         "float32 graph passed the strict check)" if record.get("quantization") else ""),
                      highlight=False, soft_wrap=True)
        if check["table"]:
            t = check["table"]
            console.print(f"table {t['table']}: predicted {t['predicted_ms']:.3f} ms, measured "
                          f"{t['measured_p50_ms']:.3f} ms ({t['error_pct']:+.1f} %)"
                          + (f"; {t['note']}" if t["note"] else ""), highlight=False, soft_wrap=True)
    q = record.get("quantization")
    if q:
        console.print(f"{q['dtype']}: test accuracy {q['accuracy_fp32']:.2%} (float32) -> "
                      f"{q['accuracy_quantized']:.2%} ({q['test_images']} images of "
                      f"{q['calibration_data']}); size {q['bytes_fp32']:,} -> {q['bytes_quantized']:,} "
                      f"bytes ({q['size_ratio']:.2f}x)", highlight=False, soft_wrap=True)
    console.print(f"wrote {record_path(out)}", highlight=False, soft_wrap=True)

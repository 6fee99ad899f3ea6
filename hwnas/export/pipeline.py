"""The export job end to end: arch (+ weights) -> artifact -> on-device check -> its record.

Nothing the user already has is lost on bad input: every check (format, weights, output path,
record path, table) runs before anything is written, the artifact is written to a temporary file
beside the target and moved into place only after its check passed, and the record
``<artifact name>.export.json`` (:func:`record_path`) is written atomically beside it. The record
is named after the artifact so that it can never be the artifact itself, and two exports into one
folder keep one record each.

Example::

    from hwnas.export.pipeline import ExportRequest, export_arch, resolve_source
    src = resolve_source("runs/evo1")                     # or an arch string + space name
    report = export_arch(ExportRequest(src, "onnx", Path("model.onnx")))
    report["check"]["parity"]["max_abs_diff"]
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from hwnas import __version__
from hwnas.export.base import ExportError, ExportMetadata, ExportOptions
from hwnas.export.check import compare_with_table, measure_latency, parity
from hwnas.export.quantize import quantize_artifact, strict_parity_or_raise
from hwnas.io import load_weights, write_bytes, write_json
from hwnas.latency.measure import MeasureProtocol
from hwnas.latency.table import LatencyTable
from hwnas.plugins import get_exporter
from hwnas.runs import RunFolder
from hwnas.space import get_space
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

DEFAULT_SPACE = "mbconv-small"


@dataclass(frozen=True)
class ExportSource:
    """What to export: the arch of a space and, when trained, its weights."""

    space: SearchSpace
    arch: Arch
    weights: dict | None = None
    weights_path: str | None = None
    run_dir: str | None = None


@dataclass(frozen=True)
class ExportRequest:
    source: ExportSource
    format: str
    out: Path
    options: ExportOptions = field(default_factory=ExportOptions)
    table: LatencyTable | None = None
    table_name: str | None = None
    check: bool = True
    force: bool = False
    calibration_data: str = "digits"  # BN statistics for untrained weights, and check inputs
    check_batch: int = 8
    protocol: MeasureProtocol | None = None  # None: the profilers' default at options.threads
    calib_data: str | None = None  # quantization: calibration (train) and accuracy (test) data;
    #                                None: calibration_data


def resolve_source(source: str, space: str | None = None, weights: Path | None = None) -> ExportSource:
    """A run folder (its best arch + ``weights.pt``) or an arch string of ``space``."""
    path = Path(source)
    run_dir = None
    if path.is_dir():
        run = RunFolder(path)
        if not run.has_result():
            raise ExportError(f"{path} is not a finished run folder (no search result in it)",
                              "pass the --out folder of a finished `hwnas search`, or an arch string")
        spaces = run.settings().spaces
        run_space = spaces[0] if spaces else None
        if space and run_space and space not in spaces:
            raise ExportError(f"run {path} searched space {run_space!r}, not {space!r}",
                              "drop --space or pass the run's space")
        sp = get_space(space or run_space or DEFAULT_SPACE)
        best = run.best_candidate(sp)
        if best is None:
            raise ExportError(f"run {path} has no candidate within its budget",
                              "export an arch string instead, or finish the search")
        arch, run_dir = sp.parse(str(best.arch)), str(path)
        if weights is None and run.artifact("weights.pt").is_file():
            weights = run.artifact("weights.pt")
    else:
        sp = get_space(space or DEFAULT_SPACE)
        arch = sp.parse(source)
    state = load_weights(weights) if weights is not None else None
    if state is not None and not isinstance(state, dict):
        raise ExportError(f"weights file {weights} does not hold a state dict", "save model.state_dict()")
    return ExportSource(sp, arch, state, str(weights) if weights is not None else None, run_dir)


def check_weights(model: nn.Module, state: dict, origin: str) -> None:
    """Raise naming the first tensor (in the model's order) where ``state`` does not fit ``model``."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise ExportError(f"weights {origin} do not match the arch: tensor {name!r} is missing",
                              "pass the weights trained for this arch (and --space)")
        got = state[name]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(tensor.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ExportError(f"weights {origin} do not match the arch: tensor {name!r} has shape "
                              f"{shape}, the arch needs {tuple(tensor.shape)}",
                              "pass the weights trained for this arch (and --space)")
    extra = [k for k in state if k not in expected]
    if extra:
        raise ExportError(f"weights {origin} do not match the arch: tensor {extra[0]!r} is not in it",
                          "pass the weights trained for this arch (and --space)")


def record_path(out: Path) -> Path:
    """Where the record of artifact ``out`` goes: ``net.onnx`` -> ``net.onnx.export.json``."""
    return out.with_name(out.name + ".export.json")


def check_out_path(out: Path, force: bool) -> None:
    """Refuse a folder, an existing artifact or record (unless ``force``) or an unwritable place."""
    record = record_path(out)
    if out.is_dir():
        raise ExportError(f"--out {out} is a folder", "pass a file path such as model.onnx")
    if record.is_dir():
        raise ExportError(f"the export record {record} would replace a folder", "choose another --out")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists", "pass --force to overwrite it or choose another --out")
    if record.exists() and not force:
        raise ExportError(f"the export record {record} already exists",
                          "pass --force to overwrite it or choose another --out")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    try:  # os.access says yes to root even on read-only mounts: try a real file instead
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".hwnas-write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {existing} is not writable ({exc.strerror})",
                          "pass a writable --out") from None
    for path in (out, record):
        if path.exists() and not os.access(path, os.W_OK):
            raise ExportError(f"cannot overwrite {path}: it is read-only", "pass a writable --out")


def prepare_model(source: ExportSource, calibration_data: str) -> tuple[nn.Module, str]:
    """The eval-mode network with trained weights, or BN statistics from real data batches."""
    from hwnas.data import load_data
    from hwnas.nn import build_model, input_batches, recalibrate_bn

    model = build_model(source.space, source.arch)
    if source.weights is not None:
        check_weights(model, source.weights, source.weights_path or "given")
        model.load_state_dict(source.weights)
        return model.eval(), f"trained: {source.weights_path}"
    data = load_data(calibration_data, source.space.resolution, seed=0)
    recalibrate_bn(model, input_batches(data, 4))
    return model.eval(), f"untrained (seed-0 init), BatchNorm recalibrated on 4 batches of {calibration_data}"


def check_inputs(calibration_data: str, resolution: int, batch: int) -> torch.Tensor:
    """Fixed inputs for the parity check: the first ``batch`` validation images."""
    from hwnas.data import load_data
    from hwnas.nn import input_batches

    return input_batches(load_data(calibration_data, resolution, seed=0), 1, batch, split="val")[0]


def export_arch(request: ExportRequest) -> dict:
    """Export, check and time one arch; returns its record (also written to :func:`record_path`)."""
    exporter = get_exporter(request.format)
    out, src, options = Path(request.out), request.source, request.options
    if options.quantize:  # a format that cannot be quantized fails before any work
        exporter.require_quantize(options.quantize)
    exporter.require()
    check_out_path(out, request.force)
    if request.table is not None:
        request.table.require_dtype(options.quantize or "float32", request.table_name or "table")
        request.table.check_space(src.space)
        request.table.require(src.space, src.space.ops(src.arch))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # untrained weights are the same on every call
        model, weights_note = prepare_model(src, request.calibration_data)
    batch = max(1, min(request.check_batch, options.max_batch))  # within the batch profile
    inputs = check_inputs(request.calibration_data, src.space.resolution, batch)
    metadata = ExportMetadata(str(src.arch), src.space.name, src.space.fingerprint(),
                              request.table_name, __version__)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The PID in the name lets the next atomic write of ``out`` remove this file if we are killed.
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.hwnas-{os.getpid()}.",
                                    suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        info = exporter.export(model, inputs[:1].clone(), tmp, options, metadata)
        quant = None
        if options.quantize:
            if request.check:
                strict_parity_or_raise(exporter, tmp, model, inputs, options)
            quant = quantize_artifact(exporter, model, inputs[:1].clone(), tmp, options.quantize,
                                      request.calib_data or request.calibration_data,
                                      src.space.resolution, metadata, options).to_dict()
        check = _check(exporter, request, model, inputs, tmp) if request.check else None
        # Not a rename: mkstemp made the file 0600, the atomic writer gives it the user's umask.
        write_bytes(out, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)
    record = {
        "format": exporter.name, "artifact": str(out), "bytes": out.stat().st_size,
        "arch": str(src.arch), "space": src.space.name, "space_fingerprint": metadata.space_fingerprint,
        "run_dir": src.run_dir, "weights": weights_note, "hwnas_version": __version__,
        "options": asdict(options), "export_s": info.export_s, "details": info.details,
        "check": check, "dtype": options.quantize or "float32", "quantization": quant,
    }
    write_json(record_path(out), record)
    return record


def _check(exporter, request: ExportRequest, model: nn.Module, inputs: torch.Tensor, path: Path) -> dict:
    options = request.options
    runner = exporter.load(path, options)
    atol, rtol = exporter.tolerance(options)
    report = parity(runner, model, inputs, atol, rtol, options.device)
    # a quantized artifact is not float32-exact by design: its parity is recorded, not enforced
    # (the float32 graph passed the strict check before quantization)
    if not report.passed and not options.quantize:
        raise ExportError(f"{exporter.name} artifact disagrees with PyTorch: max abs diff "
                          f"{report.max_abs_diff:.3g} > {report.limit:.3g} (atol {atol:g} + rtol {rtol:g} "
                          f"x max|out| {report.reference_max_abs:.3g}); nothing was written",
                          "report this arch, or try another --opset")
    protocol = request.protocol or MeasureProtocol(threads=options.threads, runs=50, max_runs=200)
    shape = (3, request.source.space.resolution, request.source.space.resolution)
    stats = measure_latency(runner, shape, protocol)
    result = {"runtime": runner.runtime, "runtime_version": runner.runtime_version,
              "parity": report.to_dict(), "latency_ms": asdict(stats),
              "latency_batch": runner.fixed_batch or protocol.batch, "protocol": protocol.to_dict(),
              "table": None}
    if request.table is not None:
        cmp = compare_with_table(request.table, request.table_name or "table", request.source.space,
                                 request.source.arch, stats, runner, options.threads)
        result["table"] = cmp.to_dict()
    return result

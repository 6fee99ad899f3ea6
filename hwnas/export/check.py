"""The on-device check: parity of an artifact with PyTorch, its latency, and a table's prediction.

Parity: the artifact runs in its own runtime on fixed inputs; the reported ``max_rel_diff`` is
``max|artifact - torch| / max|torch|`` (relative to the output's scale, so near-zero logits do not
inflate it), and the check fails when ``max_abs_diff > atol + rtol * max|torch|``.
Latency: the runtime's runner timed with the profilers' protocol
(:func:`hwnas.latency.measure.time_callable`), next to a table's prediction; a table measured on
another machine (:func:`hwnas.latency.machine.compare_machine`) is named in the comparison's note,
with how far the measurement here is from its prediction.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from hwnas.export.base import ExportError, Runner
from hwnas.latency.measure import MeasureProtocol, pin_to_core, process_settings_restored, time_callable
from hwnas.latency.table import LatencyTable, OpStats
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class ParityReport:
    max_abs_diff: float
    max_rel_diff: float
    reference_max_abs: float
    limit: float  # atol + rtol * reference_max_abs
    atol: float
    rtol: float
    batch: int
    top1_agreement: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TableComparison:
    table: str
    table_runtime: str
    artifact_runtime: str
    predicted_ms: float
    measured_p50_ms: float
    error_pct: float  # (measured - predicted) / predicted * 100
    note: str  # mismatches that make the comparison approximate ("" when none)
    machine: dict | None = None  # the table's machine against this one (Provenance.to_dict())

    def to_dict(self) -> dict:
        return asdict(self)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def ort_providers(device: str, say: Callable[[str], None] = _say) -> tuple[str, ...]:
    """ONNX Runtime providers for a check on ``device``: CUDA first for a GPU when onnxruntime
    has the CUDA provider; otherwise the CPU, with one line saying so."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cuda"):
        return ("CPUExecutionProvider",)
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        _, _, index = device.partition(":")
        return (("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider")
    say(f"onnxruntime {ort.__version__} has no CUDA provider (install onnxruntime-gpu); the ONNX "
        f"artifact is checked and timed on the CPU, the PyTorch reference on {device}")
    return ("CPUExecutionProvider",)


@torch.no_grad()
def parity(runner: Runner, model: nn.Module, inputs: torch.Tensor, atol: float, rtol: float,
           device: str = "cpu") -> ParityReport:
    """Compare the artifact's outputs with eval-mode ``model`` on ``inputs`` (NCHW float32).

    The PyTorch reference runs on ``device`` (``cpu``, ``cuda``, ``cuda:N``); the model is put
    back where it was.
    """
    from hwnas.train.runtime import resolve_device

    model.eval()
    target = resolve_device(device)
    param = next(model.parameters(), None)
    home = param.device if param is not None else torch.device("cpu")
    reference = model.to(target)(inputs.to(target)).float().cpu().numpy()
    model.to(home)
    got = runner.run_any(inputs.numpy())
    if got.shape != reference.shape:
        raise ExportError(f"artifact output shape {got.shape} differs from PyTorch's {reference.shape}")
    diff = np.abs(got.astype(np.float64) - reference)
    scale = float(np.abs(reference).max())
    max_abs = float(diff.max())
    limit = atol + rtol * scale
    finite = bool(np.isfinite(got).all())
    return ParityReport(
        max_abs_diff=max_abs if finite else float("inf"), max_rel_diff=max_abs / max(scale, 1e-12),
        reference_max_abs=scale, limit=limit, atol=atol, rtol=rtol, batch=int(inputs.shape[0]),
        top1_agreement=float((got.argmax(1) == reference.argmax(1)).mean()),
        passed=finite and max_abs <= limit)


def measure_latency(runner: Runner, input_shape: tuple[int, int, int], protocol: MeasureProtocol,
                    seed: int = 0) -> OpStats:
    """Time one inference of the artifact at ``(protocol.batch, *input_shape)`` (ms)."""
    batch = runner.fixed_batch or protocol.batch
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *input_shape), generator=gen).numpy()
    with process_settings_restored():
        pin_to_core(protocol)
        return time_callable(lambda: runner.run(x), protocol)


def compare_with_table(table: LatencyTable, table_name: str, space: SearchSpace, arch: Arch,
                       measured: OpStats, runner: Runner, threads: int) -> TableComparison:
    """The table's prediction for ``arch`` next to the artifact's measured p50."""
    table.check_space(space)
    predicted = table.predict(space, arch)
    notes = []
    if table.meta.runtime != runner.runtime:
        notes.append(f"runtime mismatch: table measured on {table.meta.runtime}, artifact runs on "
                     f"{runner.runtime}")
    if table.meta.threads != threads:
        notes.append(f"threads mismatch: table {table.meta.threads}, check {threads}")
    if table.meta.batch != (runner.fixed_batch or 1):
        notes.append(f"batch mismatch: table {table.meta.batch}, check {runner.fixed_batch or 1}")
    # the artifact's runtime version is this machine's only when it is the table's runtime
    same_runtime = table.meta.runtime == runner.runtime
    machine = table.provenance(table_name, runner.runtime_version if same_runtime else None)
    foreign = machine.warning()  # the printed comparison already says by how much they disagree
    if foreign:
        notes.append(foreign)
    return TableComparison(table_name, table.meta.runtime, runner.runtime, predicted, measured.p50,
                           (measured.p50 - predicted) / predicted * 100.0 if predicted else float("nan"),
                           "; ".join(notes), machine.to_dict())

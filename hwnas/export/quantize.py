"""Post-training quantization inside an export: calibrate, quantize, and say what it cost.

The float32 artifact is checked against PyTorch first (the usual strict parity: the lowering is
right), its test-split accuracy is measured in its runtime, then it is rewritten quantized
(:meth:`hwnas.export.base.Exporter.quantize`), calibrated on training-split images of the
calibration data, and measured again. The record's ``quantization`` block holds both accuracies,
both artifact sizes and the calibration used; latency is timed on the quantized artifact by the
usual check. Training split for calibration, test split for accuracy: the quantization never sees
the images it is scored on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.export.base import Exporter, ExportError, ExportMetadata, ExportOptions, Runner

CALIBRATION_BATCHES = 8
CALIBRATION_BATCH = 32


@dataclass(frozen=True)
class QuantizationReport:
    dtype: str
    calibration_data: str
    calibration_images: int  # training-split images the ranges were calibrated on
    test_images: int
    accuracy_fp32: float  # test split, float32 artifact in its runtime
    accuracy_quantized: float  # test split, quantized artifact in its runtime
    accuracy_drop_pts: float  # (fp32 - quantized) * 100, percentage points
    bytes_fp32: int
    bytes_quantized: int
    size_ratio: float  # bytes_quantized / bytes_fp32
    details: dict

    def to_dict(self) -> dict:
        return asdict(self)


def runner_accuracy(runner: Runner, data, split: str = "test", batch: int = 64) -> tuple[float, int]:
    """Top-1 accuracy of an artifact over a whole split (and how many images it had)."""
    correct = total = 0
    for x, y in data.loader(split, batch, shuffle=False):
        logits = runner.run_any(x.numpy())
        correct += int((logits.argmax(1) == y.numpy()).sum())
        total += int(y.numel())
    if total == 0:
        raise ExportError(f"the {split} split of the calibration data is empty",
                          "pass --calib-data with a test split")
    return correct / total, total


def calibration_batches(data, count: int = CALIBRATION_BATCHES,
                        batch: int = CALIBRATION_BATCH) -> list[np.ndarray]:
    """The first ``count`` training-split batches, in a fixed order (no shuffling)."""
    from hwnas.nn import input_batches

    return [x.numpy() for x in input_batches(data, count, batch, split="train")]


def quantize_artifact(exporter: Exporter, model: nn.Module, sample: torch.Tensor, path: Path, dtype: str,
                      calib_data: str, resolution: int, metadata: ExportMetadata,
                      options: ExportOptions) -> QuantizationReport:
    """Quantize the checked float32 artifact at ``path`` in place; measure what it cost."""
    from hwnas.data import load_data

    data = load_data(calib_data, resolution, seed=0)
    batches = calibration_batches(data)
    fp32_bytes = path.stat().st_size
    acc_fp32, n_test = runner_accuracy(exporter.load(path, options), data)
    details = exporter.quantize(model, sample, path, batches, dtype, metadata, options)
    acc_q, _ = runner_accuracy(exporter.load(path, options), data)
    q_bytes = path.stat().st_size
    return QuantizationReport(dtype, calib_data, int(sum(len(b) for b in batches)), n_test, acc_fp32,
                              acc_q, round((acc_fp32 - acc_q) * 100.0, 4), fp32_bytes, q_bytes,
                              round(q_bytes / fp32_bytes, 4), details)


@torch.no_grad()
def strict_parity_or_raise(exporter: Exporter, path: Path, model: nn.Module, inputs: torch.Tensor,
                           options: ExportOptions) -> None:
    """The float32 artifact must match PyTorch before it is quantized (else the lowering is wrong)."""
    from hwnas.export.check import parity

    atol, rtol = exporter.tolerance(options)
    report = parity(exporter.load(path, options), model, inputs, atol, rtol)
    if not report.passed:
        raise ExportError(f"the float32 {exporter.name} artifact disagrees with PyTorch before "
                          f"quantization: max abs diff {report.max_abs_diff:.3g} > {report.limit:.3g}; "
                          "nothing was written", "report this arch, or try another --opset")

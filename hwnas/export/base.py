"""The ``Exporter`` interface every deployment format implements, and what crosses it.

An exporter does two things: turn an eval-mode ``nn.Module`` into a deployable artifact
(:meth:`Exporter.export`) and load that artifact back into its own runtime as a
:class:`Runner` (:meth:`Exporter.load`), so the on-device check in :mod:`hwnas.export.check`
can compare it with PyTorch and time it the same way for every format.

A new format is one module in ``exporters/`` with one subclass, registered in
:data:`hwnas.plugins.EXPORTERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from hwnas.errors import HwnasError


class ExportError(HwnasError):
    """An export, its load into the runtime or its parity check failed."""


@dataclass(frozen=True)
class ExportOptions:
    """Format options; each exporter reads the ones that apply to it.

    Attributes:
        opset: ONNX opset (onnx, and the ONNX step of tensorrt).
        dynamo: use the ``torch.export``-based ONNX exporter instead of the TorchScript one.
        simplify: run onnxruntime's offline basic graph optimization (portable ONNX ops only).
        fp16: build a half-precision TensorRT engine.
        workspace_mb: TensorRT builder workspace limit.
        max_batch: the largest batch of the dynamic batch dimension (onnx profile, tensorrt).
        opt_batch: the batch TensorRT tunes its kernels for.
        threads: intra-op threads of the runtime that checks and times the artifact.
        quantize: ``None`` (ship float32) or ``"int8"``: post-training static quantization of
            the artifact (:meth:`Exporter.quantize`), for the formats that offer it.
        device: where the check runs: the PyTorch reference, and ONNX Runtime's CUDA provider
            for ``cuda`` / ``cuda:N`` when onnxruntime has it (``cpu``: as before).
    """

    opset: int = 17
    dynamo: bool = False
    simplify: bool = True
    fp16: bool = False
    workspace_mb: int = 1024
    max_batch: int = 64
    opt_batch: int = 1
    threads: int = 1
    quantize: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class ExportMetadata:
    """What the artifact is: stored inside it where the format allows (ONNX metadata_props)."""

    arch: str
    space: str
    space_fingerprint: str
    table: str | None
    hwnas_version: str

    def as_props(self) -> dict[str, str]:
        return {
            "hwnas.arch": self.arch, "hwnas.space": self.space,
            "hwnas.space_fingerprint": self.space_fingerprint, "hwnas.table": self.table or "",
            "hwnas.version": self.hwnas_version,
        }


@dataclass(frozen=True)
class ExportInfo:
    """What :meth:`Exporter.export` did: the file, how long it took and format details."""

    format: str
    path: Path
    export_s: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Runner:
    """An artifact loaded in its runtime: ``run(x)`` maps an NCHW float32 batch to logits.

    ``fixed_batch`` is the one batch size the artifact accepts (``None`` = dynamic batch);
    :meth:`run_any` splits a larger batch into calls of that size.
    """

    run: Callable[[np.ndarray], np.ndarray]
    runtime: str
    runtime_version: str
    fixed_batch: int | None = None

    def run_any(self, x: np.ndarray) -> np.ndarray:
        if self.fixed_batch is None or x.shape[0] == self.fixed_batch:
            return self.run(x)
        b = self.fixed_batch
        if x.shape[0] % b:
            raise ExportError(f"batch {x.shape[0]} is not a multiple of the artifact's fixed batch {b}")
        return np.concatenate([self.run(x[i:i + b]) for i in range(0, x.shape[0], b)])


class Exporter(ABC):
    """One deployment format. Subclasses set the class attributes and three methods."""

    name: ClassVar[str]
    suffix: ClassVar[str]  # file suffix of the artifact, e.g. ".onnx"
    runtime: ClassVar[str]  # runtime name as latency tables spell it
    extra: ClassVar[str | None] = None  # pip extra that provides the runtime
    #: max |diff| allowed is atol + rtol * max|reference| (fp32 unless the options ask for fp16)
    atol: ClassVar[float] = 1e-4
    rtol: ClassVar[float] = 1e-3

    def unavailable_reason(self) -> str | None:
        """``None`` if this format can export and run here, else one line saying why not."""
        return None

    def require(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise ExportError(f"{self.name} export is not available here: {reason}",
                              f"pip install 'hwnas[{self.extra}]'" if self.extra else "")

    def tolerance(self, options: ExportOptions) -> tuple[float, float]:
        return self.atol, self.rtol

    #: dtypes :meth:`quantize` can produce (none by default)
    quantizes: ClassVar[tuple[str, ...]] = ()

    def require_quantize(self, dtype: str) -> None:
        """Refuse, in one line, a dtype this format cannot be quantized to here."""
        if dtype not in self.quantizes:
            can = [n for n in ("onnx",) if n != self.name]
            raise ExportError(f"--format {self.name} cannot be quantized to {dtype} here",
                              f"use --format {can[0]} with --quantize {dtype}, or drop --quantize"
                              if can else "drop --quantize")

    def quantize(self, model: nn.Module, sample: torch.Tensor, path: Path, batches: list[np.ndarray],
                 dtype: str, metadata: ExportMetadata, options: ExportOptions) -> dict:
        """Rewrite the float32 artifact at ``path`` (exported from eval-mode ``model`` at
        ``sample``) quantized to ``dtype``, calibrated on ``batches`` (NCHW float32); return
        format details for the record. Formats that quantize the graph (onnx) read ``path``,
        formats that quantize before lowering (executorch) re-lower ``model``."""
        self.require_quantize(dtype)
        raise NotImplementedError  # a format listing a dtype in ``quantizes`` overrides this

    @abstractmethod
    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        """Write the artifact of eval-mode ``model`` (``sample`` is one batch-1 input) to ``path``."""

    @abstractmethod
    def load(self, path: Path, options: ExportOptions) -> Runner:
        """Load the artifact at ``path`` into its runtime."""

    def runtime_version(self) -> str:
        return ""

"""ExecuTorch: a ``.pte`` program lowered through the XNNPACK partitioner (batch 1, float32).

The lowering, the process-wide threadpool guard and program loading are :mod:`runtimes.executorch`'s
(shared with the executorch and adb profilers). The program is checked and timed with the
runtime's Python bindings (``executorch.runtime.Runtime``), which run the same XNNPACK kernels a
phone does. ``--quantize int8`` re-lowers the network after post-training quantization through
the PT2E flow with XNNPACK's quantizer (:mod:`runtimes.executorch_int8`), the same quantization
the int8 executorch tables are measured with.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.errors import HwnasError
from hwnas.export.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner
from runtimes import executorch as et


class ExecuTorchExporter(Exporter):
    name = "executorch"
    suffix = ".pte"
    runtime = "executorch"
    extra = "mobile"
    atol = 1e-4
    rtol = 1e-3
    quantizes = ("int8",)

    def unavailable_reason(self) -> str | None:
        return et.unavailable_reason()

    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        self.require()
        start = time.perf_counter()
        try:
            program = et.lower_to_xnnpack(model, sample[:1])
        except Exception as exc:  # torch.export / exir raise many types; name the first line
            raise ExportError(f"ExecuTorch lowering failed: {str(exc).splitlines()[0]}") from None
        path.write_bytes(program.buffer)
        return ExportInfo(self.name, path, time.perf_counter() - start, {
            "torch_export_s": round(program.torch_export_s, 4),
            "lower_s": round(program.lower_s, 4),
            "to_executorch_s": round(program.to_executorch_s, 4),
            "partitioner": "XnnpackPartitioner", "delegate_calls": program.delegate_calls,
            "undelegated_ops": list(program.undelegated_ops),
            "batch": 1, "bytes": len(program.buffer), "executorch_version": et.version(),
        })

    def quantize(self, model: nn.Module, sample: torch.Tensor, path: Path, batches: list[np.ndarray],
                 dtype: str, metadata: ExportMetadata, options: ExportOptions) -> dict:
        self.require_quantize(dtype)
        from runtimes.executorch_int8 import quantize_pt2e_int8

        start = time.perf_counter()
        # the program has a static batch of 1: calibrate image by image
        images = [torch.from_numpy(b[i:i + 1]) for b in batches for i in range(len(b))]
        quantized = quantize_pt2e_int8(model, sample[:1], images)
        try:
            program = et.lower_to_xnnpack(quantized, sample[:1])
        except Exception as exc:  # torch.export / exir raise many types; name the first line
            raise ExportError(f"ExecuTorch lowering of the int8 network failed: "
                              f"{str(exc).splitlines()[0]}") from None
        path.write_bytes(program.buffer)
        return {"method": "torchao PT2E (prepare_pt2e / convert_pt2e)", "quantizer": "XNNPACKQuantizer",
                "weights": "int8 symmetric per-channel", "activations": "int8",
                "quantize_s": round(time.perf_counter() - start, 3),
                "delegate_calls": program.delegate_calls, "undelegated_ops": list(program.undelegated_ops)}

    def load(self, path: Path, options: ExportOptions) -> Runner:
        self.require()
        try:
            forward = et.load_forward(path, options.threads)
        except HwnasError:  # a threadpool of another size: already one line naming the fix
            raise
        except Exception as exc:  # the bindings raise RuntimeError with a status code
            raise ExportError(f"ExecuTorch cannot load {path}: {str(exc).splitlines()[0]}") from None

        def run(x: np.ndarray) -> np.ndarray:
            out = forward([torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))])
            return out[0].numpy()

        return Runner(run, self.runtime, et.version(), fixed_batch=1)

    def runtime_version(self) -> str:
        return et.version()
